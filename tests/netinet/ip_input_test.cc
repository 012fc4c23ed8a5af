// IPv4 input validation: each malformed header is dropped with its own
// counter, and the stack keeps working (ROBUSTNESS.md §3, IPv4 header rows).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/scenario.hh"
#include "kern/byteorder.hh"

namespace iopkt::test {
namespace {

struct Case {
  const char* name;
  void (*mutate)(std::vector<std::byte>&);
  uint64_t IpStat::*counter;
};

void fix_checksum(std::vector<std::byte>& p) {
  size_t hlen = (std::to_integer<size_t>(p[0]) & 0xf) * 4;
  store_be16(p, 10, 0);
  if (hlen <= p.size()) {
    store_be16(p, 10, in_cksum_finish(in_cksum_add(0, std::span(p).first(hlen))));
  }
}

const Case kCases[] = {
    {"truncated", [](auto& p) { p.resize(12); }, &IpStat::tooshort},
    {"version6",
     [](auto& p) {
       p[0] = std::byte{0x65};
       fix_checksum(p);
     },
     &IpStat::badvers},
    {"ihl4", [](auto& p) { p[0] = std::byte{0x44}; }, &IpStat::badhlen},
    {"ihl15_past_end",
     [](auto& p) {
       p.resize(40);
       p[0] = std::byte{0x4f};
       store_be16(p, 2, 40);
     },
     &IpStat::badhlen},
    {"total_len_beyond_frame",
     [](auto& p) {
       store_be16(p, 2, 1400);
       fix_checksum(p);
     },
     &IpStat::badlen},
    {"total_len_below_header",
     [](auto& p) {
       store_be16(p, 2, 10);
       fix_checksum(p);
     },
     &IpStat::badlen},
    {"bad_checksum", [](auto& p) { p[10] ^= std::byte{0xff}; }, &IpStat::badsum},
    {"fragment",
     [](auto& p) {
       store_be16(p, 6, 0x2000);
       fix_checksum(p);
     },
     &IpStat::fragments},
    {"loopback_source_on_wire",
     [](auto& p) {
       store_be32(p, 12, 0x7f000001);
       fix_checksum(p);
     },
     &IpStat::badaddr},
    {"multicast_source",
     [](auto& p) {
       store_be32(p, 12, 0xe0000001);
       fix_checksum(p);
     },
     &IpStat::badaddr},
    {"not_for_us",
     [](auto& p) {
       store_be32(p, 16, 0xc6336407);
       fix_checksum(p);
     },
     &IpStat::cantforward},
    {"unknown_protocol",
     [](auto& p) {
       p[9] = std::byte{253};
       fix_checksum(p);
     },
     &IpStat::noproto},
};

TEST(IpInput, EachMalformedHeaderHasItsCounter) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Scenario sc;
    Stack& s = sc.stack();
    SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
    ASSERT_TRUE(s.so_bind(so, SockAddr::inet(InAddr::any(), 9)).ok());
    auto pkt = build_ipv4_udp(UdpSpec{sc.peer(), sc.local(), 1, 9, bytes_of("data")});
    c.mutate(pkt);
    sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, pkt));
    EXPECT_EQ(s.ip.stat.*c.counter, 1u);
    EXPECT_FALSE(s.so_recv_dgram(so).has_value());
    // Still alive: a good packet gets through afterwards.
    auto good = build_ipv4_udp(UdpSpec{sc.peer(), sc.local(), 1, 9, bytes_of("ok")});
    sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, good));
    EXPECT_TRUE(s.so_recv_dgram(so).has_value());
  }
}

TEST(EtherInput, RuntsAndForeignUnicastAreDropped) {
  Scenario sc;
  Stack& s = sc.stack();
  sc.inject(std::vector<std::byte>(10));
  EXPECT_EQ(sc.link().stats.ierrors, 1u);
  std::array<uint8_t, 6> other{0x02, 9, 9, 9, 9, 9};
  auto pkt = build_ipv4_udp(UdpSpec{sc.peer(), sc.local(), 1, 9, bytes_of("x")});
  sc.inject(build_ether(other, Scenario::kPeerMac, 0x0800, pkt));
  EXPECT_EQ(s.ip.stat.total, 0u);
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x88b5, pkt));
  EXPECT_EQ(sc.link().stats.noproto, 1u);
  EXPECT_EQ(sc.link().stats.ipackets, 3u);
}

}  // namespace
}  // namespace iopkt::test
