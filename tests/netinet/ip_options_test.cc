// IPv4 option validation on input, RFC 791 §3.1 and RFC 1122 §3.2.1.8:
// parameter problems with their pointer, source routes, harmless options.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "harness/ip4_frames.hh"
#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"
#include "netinet/udp.hh"

namespace iopkt::test {
namespace {

std::vector<std::byte> B(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) {
    out.push_back(std::byte(static_cast<uint8_t>(x)));
  }
  return out;
}

enum class Outcome { kDelivered, kParamProblem, kSourceRouteFailed };
struct OptCase {
  const char* name;
  std::vector<std::byte> options;  // padded to a multiple of 4 by the test
  Outcome outcome;
  uint8_t pointer = 0;  // for kParamProblem: octet of the IP header
};

// ROBUSTNESS §3 "IPv4 options" (URGENT/11 CVE-2019-12256): lengths 0, 1 and
// past the header, pointers out of range, 40 bytes of options.
const std::vector<OptCase>& cases() {
  static const std::vector<OptCase> k{
      {"forty_nops", std::vector<std::byte>(40, std::byte{1}), Outcome::kDelivered},
      {"eol_then_garbage", B({0, 0xff, 0x00, 0x33}), Outcome::kDelivered},
      {"unknown_option", B({0x99, 4, 1, 2}), Outcome::kDelivered},
      {"length_0", B({0x99, 0, 0, 0}), Outcome::kParamProblem, 21},
      {"length_1", B({1, 0x99, 1, 0}), Outcome::kParamProblem, 22},
      {"length_past_header", B({0x99, 10, 0, 0}), Outcome::kParamProblem, 21},
      {"no_room_for_length", B({1, 1, 1, 0x99}), Outcome::kParamProblem, 23},
      {"rr_length_2", B({7, 2, 0, 0}), Outcome::kParamProblem, 21},
      {"rr_pointer_3", B({7, 7, 3, 0, 0, 0, 0, 0}), Outcome::kParamProblem, 22},
      {"rr_pointer_mid_address", B({7, 7, 5, 0, 0, 0, 0, 0}), Outcome::kParamProblem, 22},
      {"rr_full", B({7, 7, 8, 0, 0, 0, 0, 0}), Outcome::kDelivered},
      {"rr_with_room", B({7, 7, 4, 0, 0, 0, 0, 0}), Outcome::kDelivered},
      {"ts_length_3", B({68, 3, 5, 0}), Outcome::kParamProblem, 21},
      {"ts_pointer_4", B({68, 4, 4, 0}), Outcome::kParamProblem, 22},
      {"lsrr_exhausted", B({131, 7, 8, 198, 51, 100, 1, 0}), Outcome::kDelivered},
      {"lsrr_pointer_0", B({131, 7, 0, 198, 51, 100, 1, 0}), Outcome::kParamProblem, 22},
      {"lsrr_more_hops", B({131, 7, 4, 198, 51, 100, 1, 0}), Outcome::kSourceRouteFailed},
      {"ssrr_more_hops", B({137, 7, 4, 198, 51, 100, 1, 0}), Outcome::kSourceRouteFailed},
      {"two_source_routes", B({131, 3, 4, 137, 3, 4, 0, 0}), Outcome::kParamProblem, 23},
  };
  return k;
}

TEST(IpOptions, EachCaseHasItsOutcome) {
  for (const OptCase& c : cases()) {
    SCOPED_TRACE(c.name);
    Scenario sc;
    Stack& s = sc.stack();
    learn_peer(sc);
    SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
    ASSERT_TRUE(s.so_bind(so, SockAddr::inet(InAddr::any(), 9)).ok());
    Ip4 p;
    p.src = sc.peer();
    p.dst = sc.local();
    p.options = c.options;
    p.options.resize((p.options.size() + 3) & ~size_t{3}, std::byte{0});
    p.payload = udp_seg(sc.peer(), sc.local(), 1, 9, bytes_of("opt"));
    auto pkt = p.build();
    inject_ip(sc, pkt);
    bool got = s.so_recv_dgram(so).has_value();
    switch (c.outcome) {
      case Outcome::kDelivered:
        EXPECT_TRUE(got);
        EXPECT_TRUE(sc.take_frames().empty());
        EXPECT_EQ(s.ip.stat.badoptions + s.ip.stat.srcroute, 0u);
        break;
      case Outcome::kParamProblem: {
        EXPECT_FALSE(got);
        EXPECT_EQ(s.ip.stat.badoptions, 1u);
        auto icmp = expect_icmp_to_peer(sc);
        ASSERT_GE(icmp.size(), 8 + pkt.size());
        EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpParamProblem);
        EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), 0);
        EXPECT_EQ(std::to_integer<uint8_t>(icmp[4]), c.pointer);
        EXPECT_TRUE(std::equal(pkt.begin(), pkt.end(), icmp.begin() + 8));
        break;
      }
      case Outcome::kSourceRouteFailed: {
        // RFC 1122 §3.3.5: this host is no intermediate hop.
        EXPECT_FALSE(got);
        EXPECT_EQ(s.ip.stat.srcroute, 1u);
        auto icmp = expect_icmp_to_peer(sc);
        ASSERT_GE(icmp.size(), 8u);
        EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpUnreach);
        EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), kIcmpUnreachSrcFail);
        break;
      }
    }
    // Still alive.
    Ip4 good;
    good.src = sc.peer();
    good.dst = sc.local();
    good.payload = udp_seg(sc.peer(), sc.local(), 1, 9, bytes_of("ok"));
    inject_ip(sc, good.build());
    EXPECT_TRUE(s.so_recv_dgram(so).has_value());
  }
}

// The checker on its own, as the fuzz target and raw sockets use it.
TEST(IpOptions, CopiedOptionsForLaterFragments) {
  auto opts = B({1, 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 131, 3, 4, 0});
  ASSERT_TRUE(ip_options_check(opts).ok());
  auto later = ip_options_copied(opts);
  EXPECT_EQ(later, B({148, 4, 0, 0, 131, 3, 4, 0}));
  EXPECT_TRUE(ip_options_copied(B({7, 3, 4, 0})).empty());
}

}  // namespace
}  // namespace iopkt::test
