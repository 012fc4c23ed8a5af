// IPv6 addresses: text forms (RFC 4291 §2.2, RFC 5952), classification,
// and the pseudo-header checksum (RFC 8200 §8.1).
#include "netinet6/in6.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "kern/random.hh"
#include "netinet6/ip6.hh"

namespace iopkt::test {
namespace {

std::string canon(const char* text) {
  auto a = in6_parse(text);
  return a ? in6_str(*a) : std::string("<invalid>");
}

// RFC 5952 §4 and its examples.
TEST(In6Text, CanonicalFormRfc5952) {
  EXPECT_EQ(canon("2001:0db8::0001"), "2001:db8::1");                // §4.1 leading zeros
  EXPECT_EQ(canon("2001:db8:0:0:0:0:2:1"), "2001:db8::2:1");         // §4.2.1 longest
  EXPECT_EQ(canon("2001:db8::0:1"), "2001:db8::1");                  // §4.2.1 as much as possible
  EXPECT_EQ(canon("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");  // §4.2.2 not one group
  EXPECT_EQ(canon("2001:db8::1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");   // §4.2.2
  EXPECT_EQ(canon("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");           // §4.2.3 longest run
  EXPECT_EQ(canon("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");     // §4.2.3 first of equal
  EXPECT_EQ(canon("2001:DB8::AAAA:BbBb"), "2001:db8::aaaa:bbbb");    // §4.3 lowercase
  EXPECT_EQ(canon("0:0:0:0:0:0:0:0"), "::");
  EXPECT_EQ(canon("0:0:0:0:0:0:0:1"), "::1");
  EXPECT_EQ(canon("1:0:0:0:0:0:0:0"), "1::");
  EXPECT_EQ(canon("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(canon("fe80:0:0:0:0:0:0:0"), "fe80::");
  EXPECT_EQ(canon("ff02::1:ff00:1"), "ff02::1:ff00:1");
  EXPECT_EQ(canon("1:0:2:0:0:3:0:0"), "1:0:2::3:0:0");
  EXPECT_EQ(canon("0:1:0:1:0:1:0:0"), "0:1:0:1:0:1::");
  EXPECT_EQ(canon("0:0:1:0:0:1:0:0"), "::1:0:0:1:0:0");
  // §5: IPv4-mapped addresses in mixed notation.
  EXPECT_EQ(canon("0:0:0:0:0:ffff:c000:0201"), "::ffff:192.0.2.1");
  EXPECT_EQ(canon("::FFFF:192.0.2.1"), "::ffff:192.0.2.1");
  EXPECT_EQ(canon("::ffff:0:0"), "::ffff:0.0.0.0");
  // Not mapped: plain hex (the deprecated compatible form is not special).
  EXPECT_EQ(canon("::192.0.2.1"), "::c000:201");
  EXPECT_EQ(canon("64:ff9b::192.0.2.33"), "64:ff9b::c000:221");
}

// RFC 4291 §2.2: every valid form parses.
TEST(In6Text, ParsesEveryValidForm) {
  for (const char* s :
       {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::8", "1:2:3:4:5:6::8",
        "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "1::1.2.3.4", "::ffff:255.255.255.255",
        "0001::", "ABCD:ef01::", "::", "::0", "0::0", "1:2:3:4:5::7.8.9.10"}) {
    EXPECT_TRUE(in6_parse(s).has_value()) << s;
  }
  auto a = in6_parse("1:2:3:4:5:6:1.2.3.4");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->b[12], 1);
  EXPECT_EQ(a->b[15], 4);
  EXPECT_EQ(a->b[11], 6);
}

TEST(In6Text, RefusesInvalidForms) {
  for (const char* s : {"",
                        ":",
                        ":::",
                        "1:::2",
                        "1::2::3",
                        "12345::",
                        "1:2:3:4:5:6:7:8:9",
                        "1:2:3:4:5:6:7",
                        "1:2:3:4:5:6:7:8::",
                        "::1:2:3:4:5:6:7:8",
                        "1:",
                        ":1",
                        "1::2:",
                        "::ffff:1.2.3",
                        "::ffff:1.2.3.256",
                        "::ffff:01.2.3.4",
                        "::ffff:1.2.3.4.5",
                        "::ffff:1..3.4",
                        "1.2.3.4",
                        "g::",
                        "::1%vw0",
                        "2001:db8::/32",
                        "1:2:3:4:5:6:7:1.2.3.4",
                        "::1.2.3.4:1",
                        " ::1",
                        "::1 ",
                        "1:2:3:4:5:6:7:8:1.2.3.4",
                        "::1234.1.1.1",
                        "1::2:3:4:5:6:7:8"}) {
    EXPECT_FALSE(in6_parse(s).has_value()) << s;
  }
}

// libc agrees on every string above (differential check).
TEST(In6Text, AgreesWithInetPton) {
  for (const char* s : {"1:2:3:4:5:6:7:8",
                        "1:2:3:4:5:6:7::",
                        "::2:3:4:5:6:7:8",
                        "1::8",
                        "::1.2.3.4",
                        "::",
                        "",
                        ":::",
                        "1::2::3",
                        "12345::",
                        "1:2:3:4:5:6:7",
                        "1:2:3:4:5:6:7:8::",
                        "::ffff:01.2.3.4",
                        "1.2.3.4",
                        "1:2:3:4:5:6:7:1.2.3.4",
                        "::1.2.3.4:1",
                        "1::2:3:4:5:6:7:8",
                        "1:2:3:4:5:6::8",
                        "0001::",
                        "::ffff:1.2.3.256"}) {
    std::array<uint8_t, 16> want{};
    bool ok = inet_pton(AF_INET6, s, want.data()) == 1;
    auto got = in6_parse(s);
    ASSERT_EQ(got.has_value(), ok) << s;
    if (ok) {
      EXPECT_EQ(got->b, want) << s;
    }
  }
}

// Random addresses rich in zero groups: in6_str parses back, and matches
// glibc's inet_ntop (which also follows RFC 5952) except where glibc
// prints the deprecated IPv4-compatible form (first 96 bits zero).
TEST(In6Text, RoundTripsAndMatchesInetNtop) {
  Random rnd(7);
  for (int i = 0; i < 20000; ++i) {
    In6Addr a;
    for (int k = 0; k < 8; ++k) {
      uint32_t r = rnd.u32();
      uint16_t w = (r & 3) != 0 ? 0 : static_cast<uint16_t>(r >> 16);
      if ((r & 0xc) == 0xc && w != 0) {
        w &= 0xf;  // short groups too
      }
      a.b[2 * k] = static_cast<uint8_t>(w >> 8);
      a.b[2 * k + 1] = static_cast<uint8_t>(w);
    }
    if (i % 50 == 0) {
      a = in6_v4mapped(InAddr{rnd.u32()});
    }
    std::string s = in6_str(a);
    auto back = in6_parse(s);
    ASSERT_TRUE(back.has_value()) << s;
    EXPECT_EQ(*back, a) << s;
    bool first96_zero = true;
    for (int k = 0; k < 12; ++k) {
      first96_zero = first96_zero && a.b[k] == 0;
    }
    if (!first96_zero) {
      char buf[INET6_ADDRSTRLEN];
      ASSERT_NE(inet_ntop(AF_INET6, a.b.data(), buf, sizeof buf), nullptr);
      EXPECT_EQ(s, buf);
    }
  }
}

TEST(In6Addr, Classification) {
  EXPECT_TRUE(in6_is_unspecified(*in6_parse("::")));
  EXPECT_FALSE(in6_is_unspecified(*in6_parse("::1")));
  EXPECT_TRUE(in6_is_loopback(*in6_parse("::1")));
  EXPECT_FALSE(in6_is_loopback(*in6_parse("::2")));
  EXPECT_FALSE(in6_is_loopback(*in6_parse("1::1")));
  EXPECT_TRUE(in6_is_linklocal(*in6_parse("fe80::1")));
  EXPECT_TRUE(in6_is_linklocal(*in6_parse("febf:ffff::")));
  EXPECT_FALSE(in6_is_linklocal(*in6_parse("fec0::1")));  // old site-local
  EXPECT_FALSE(in6_is_linklocal(*in6_parse("ff02::1")));
  EXPECT_TRUE(in6_is_multicast(*in6_parse("ff02::1")));
  EXPECT_FALSE(in6_is_multicast(*in6_parse("fe80::1")));
  EXPECT_TRUE(in6_is_v4mapped(*in6_parse("::ffff:192.0.2.1")));
  EXPECT_FALSE(in6_is_v4mapped(*in6_parse("::192.0.2.1")));
  EXPECT_FALSE(in6_is_v4mapped(*in6_parse("1::ffff:192.0.2.1")));
  EXPECT_TRUE(in6_is_documentation(*in6_parse("2001:db8::1")));
  EXPECT_TRUE(in6_is_documentation(*in6_parse("2001:db8:ffff::")));
  EXPECT_FALSE(in6_is_documentation(*in6_parse("2001:db9::1")));
  EXPECT_FALSE(in6_is_documentation(*in6_parse("2001:d00::")));
}

// RFC 4291 §2.7 and RFC 7346 §2: scope in the low nibble of byte 1.
TEST(In6Addr, MulticastScope) {
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff01::1")), In6Scope::kInterfaceLocal);
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff02::1")), In6Scope::kLinkLocal);
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff03::1")), In6Scope::kRealmLocal);
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff04::1")), In6Scope::kAdminLocal);
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff05::2")), In6Scope::kSiteLocal);
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff08::1")), In6Scope::kOrganizationLocal);
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff1e::1")), In6Scope::kGlobal);  // transient flag
  EXPECT_EQ(in6_mcast_scope(*in6_parse("ff00::1")), In6Scope::kReserved0);
  EXPECT_FALSE(in6_mcast_scope(*in6_parse("2001:db8::1")).has_value());
}

// RFC 4291 §2.7.1: ff02:0:0:0:0:1:ffXX:XXXX with the low 24 bits.
TEST(In6Addr, SolicitedNode) {
  In6Addr a = *in6_parse("2001:db8::1:2345:6789");
  EXPECT_EQ(in6_str(in6_solicited_node(a)), "ff02::1:ff45:6789");
  EXPECT_EQ(in6_str(in6_solicited_node(*in6_parse("fe80::21b:21ff:fe3c:4d5e"))),
            "ff02::1:ff3c:4d5e");
  EXPECT_TRUE(in6_is_solicited_node(*in6_parse("ff02::1:ff45:6789")));
  EXPECT_FALSE(in6_is_solicited_node(*in6_parse("ff02::1:fe45:6789")));
  EXPECT_FALSE(in6_is_solicited_node(*in6_parse("ff02::1")));
}

TEST(In6Addr, V4Mapped) {
  In6Addr a = in6_v4mapped(InAddr::from_octets(192, 0, 2, 1));
  EXPECT_EQ(in6_str(a), "::ffff:192.0.2.1");
  EXPECT_EQ(in6_v4mapped_addr(a), InAddr::from_octets(192, 0, 2, 1));
  EXPECT_FALSE(in6_v4mapped_addr(*in6_parse("2001:db8::1")).has_value());
}

// RFC 8200 §8.1. Expected sums computed independently in Python over the
// same bytes (the pseudo-header laid out as the RFC draws it).
TEST(In6Cksum, PseudoHeaderMatchesKnownPackets) {
  // ICMPv6 echo request 2001:db8::1 -> 2001:db8::2, id 0x1234 seq 1, "abcd".
  auto icmp =
      std::vector<std::byte>{std::byte{128},  std::byte{0},    std::byte{0},   std::byte{0},
                             std::byte{0x12}, std::byte{0x34}, std::byte{0},   std::byte{1},
                             std::byte{'a'},  std::byte{'b'},  std::byte{'c'}, std::byte{'d'}};
  uint32_t sum = in6_pseudo_sum(*in6_parse("2001:db8::1"), *in6_parse("2001:db8::2"),
                                static_cast<uint32_t>(icmp.size()), kIp6NxtIcmp6);
  EXPECT_EQ(in_cksum_finish(in_cksum_add(sum, icmp)), 0x4d48);
  // With the checksum in place the whole sums to zero.
  icmp[2] = std::byte{0x4d};
  icmp[3] = std::byte{0x48};
  EXPECT_EQ(in_cksum_finish(in_cksum_add(sum, icmp)), 0);

  // UDP fe80::1 -> ff02::1, 5353 -> 5353, "hello" (odd length).
  std::vector<std::byte> udp(13);
  store_be16(udp, 0, 5353);
  store_be16(udp, 2, 5353);
  store_be16(udp, 4, 13);
  for (int k = 0; k < 5; ++k) {
    udp[8 + k] = std::byte("hello"[k]);
  }
  sum = in6_pseudo_sum(*in6_parse("fe80::1"), *in6_parse("ff02::1"), 13, kIp6NxtUdp);
  EXPECT_EQ(in_cksum_finish(in_cksum_add(sum, udp)), 0x94aa);
}

}  // namespace
}  // namespace iopkt::test
