// ARP scenarios, RFC 826 and RFC 1122 §2.3.2: resolution with a held
// packet, answering requests, retries and give-up, the hold bound,
// announcements, expiry, and malformed packets dropped by reason.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "netinet/ip.hh"

namespace iopkt::test {
namespace {

constexpr std::array<uint8_t, 6> kBcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

std::vector<std::byte> arp_packet(uint16_t op, const std::array<uint8_t, 6>& sha, InAddr spa,
                                  const std::array<uint8_t, 6>& tha, InAddr tpa) {
  std::vector<std::byte> p(28);
  store_be16(p, 0, 1);
  store_be16(p, 2, 0x0800);
  p[4] = std::byte{6};
  p[5] = std::byte{4};
  store_be16(p, 6, op);
  for (int i = 0; i < 6; ++i) {
    p[8 + i] = std::byte{sha[i]};
    p[18 + i] = std::byte{tha[i]};
  }
  store_be32(p, 14, spa.v);
  store_be32(p, 24, tpa.v);
  return p;
}

struct ParsedArp {
  uint16_t op;
  InAddr spa, tpa;
  std::array<uint8_t, 6> eth_dst;
};
std::optional<ParsedArp> parse_arp_frame(const std::vector<std::byte>& f) {
  if (f.size() < 42 || load_be16(f, 12) != 0x0806) {
    return std::nullopt;
  }
  ParsedArp a{};
  std::span<const std::byte> p(f.data() + 14, 28);
  a.op = load_be16(p, 6);
  a.spa = InAddr{load_be32(p, 14)};
  a.tpa = InAddr{load_be32(p, 24)};
  for (int i = 0; i < 6; ++i) {
    a.eth_dst[i] = std::to_integer<uint8_t>(f[i]);
  }
  return a;
}

void send_udp(Scenario& sc, InAddr dst, std::string_view text) {
  Stack& s = sc.stack();
  SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  auto to = SockAddr::inet(dst, 9);
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of(text), 64), &to).ok());
}

TEST(Arp, ResolvesThenSendsTheHeldPacket) {
  Scenario sc;
  send_udp(sc, sc.peer(), "hello");
  auto req = sc.next_frame();
  ASSERT_TRUE(req.has_value());
  auto a = parse_arp_frame(*req);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->op, 1);
  EXPECT_EQ(a->eth_dst, kBcast);
  EXPECT_EQ(a->spa, sc.local());
  EXPECT_EQ(a->tpa, sc.peer());
  EXPECT_FALSE(sc.next_frame().has_value());  // the UDP datagram waits
  sc.inject(
      build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0806,
                  arp_packet(2, Scenario::kPeerMac, sc.peer(), Scenario::kLocalMac, sc.local())));
  auto udp = sc.next_frame();
  ASSERT_TRUE(udp.has_value());
  EXPECT_EQ(load_be16(*udp, 12), 0x0800);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(std::to_integer<uint8_t>((*udp)[i]), Scenario::kPeerMac[i]);
  }
  std::vector<std::byte> ip(udp->begin() + 14, udp->end());
  auto h = IpHeader::parse(ip, ip.size());
  ASSERT_TRUE(h.ok());  // checksum valid
  EXPECT_EQ(h->dst(), sc.peer());
  EXPECT_EQ(h->src(), sc.local());
  // Resolved now: the next datagram goes at once.
  send_udp(sc, sc.peer(), "again");
  auto second = sc.next_frame();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(load_be16(*second, 12), 0x0800);
}

TEST(Arp, AnswersRequestsForOurAddress) {
  Scenario sc;
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806,
                        arp_packet(1, Scenario::kPeerMac, sc.peer(), {}, sc.local())));
  auto rep = sc.next_frame();
  ASSERT_TRUE(rep.has_value());
  auto a = parse_arp_frame(*rep);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->op, 2);
  EXPECT_EQ(a->eth_dst, Scenario::kPeerMac);
  EXPECT_EQ(a->spa, sc.local());
  EXPECT_EQ(a->tpa, sc.peer());
  // The requester was learnt (RFC 826 merge): no request needed to reply.
  send_udp(sc, sc.peer(), "x");
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(load_be16(*f, 12), 0x0800);
  // A request for another host is not answered and teaches nothing new.
  sc.inject(build_ether(
      kBcast, Scenario::kPeerMac, 0x0806,
      arp_packet(1, Scenario::kPeerMac, sc.peer(), {}, InAddr::from_octets(192, 0, 2, 77))));
  EXPECT_FALSE(sc.next_frame().has_value());
}

TEST(Arp, RetriesOncePerSecondThenGivesUp) {
  Scenario sc;
  send_udp(sc, sc.peer(), "lost");
  int requests = 0;
  for (int i = 0; i < 10; ++i) {
    for (auto& f : sc.take_frames()) {
      requests += parse_arp_frame(f).has_value();
    }
    sc.advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(requests, 5);  // net.inet.arp.maxtries
  EXPECT_EQ(sc.stack().arp.stat.timeouts, 1u);
  EXPECT_EQ(sc.stack().arp.stat.dropped, 1u);
  EXPECT_TRUE(sc.stack().arp.entries.empty());
}

TEST(Arp, HoldQueueIsBounded) {
  Scenario sc;
  for (int i = 0; i < 20; ++i) {
    send_udp(sc, sc.peer(), "p");
  }
  EXPECT_EQ(sc.stack().arp.stat.holddrops, 4u);  // 16 held
  sc.take_frames();
  sc.inject(
      build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0806,
                  arp_packet(2, Scenario::kPeerMac, sc.peer(), Scenario::kLocalMac, sc.local())));
  EXPECT_EQ(sc.take_frames().size(), 16u);
}

TEST(Arp, AnnouncesAnAddedAddress) {
  Scenario sc;
  auto extra = InAddr::from_octets(198, 51, 100, 1);
  ASSERT_TRUE(sc.stack().in_control_add(sc.link(), InIfaddr{extra, 24, {}}, true).ok());
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  auto a = parse_arp_frame(*f);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->spa, extra);
  EXPECT_EQ(a->tpa, extra);  // gratuitous: sender and target the same (RFC 5227 §3)
}

TEST(Arp, EntriesExpire) {
  Scenario sc;
  ASSERT_TRUE(sc.stack().sysctl().set("net.inet.arp.keep", "60").ok());
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806,
                        arp_packet(1, Scenario::kPeerMac, sc.peer(), {}, sc.local())));
  sc.take_frames();
  EXPECT_EQ(sc.stack().arp.entries.size(), 1u);
  sc.advance(std::chrono::seconds(59));
  EXPECT_EQ(sc.stack().arp.entries.size(), 1u);
  sc.advance(std::chrono::seconds(2));
  EXPECT_TRUE(sc.stack().arp.entries.empty());
}

TEST(Arp, MalformedPacketsAreCountedAndDropped) {
  Scenario sc;
  ArpStat& st = sc.stack().arp.stat;
  auto good = arp_packet(1, Scenario::kPeerMac, sc.peer(), {}, sc.local());
  auto truncated = good;
  truncated.resize(20);
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806, truncated));
  EXPECT_EQ(st.badlen, 1u);
  auto bad_op = good;
  store_be16(bad_op, 6, 9);
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806, bad_op));
  auto bad_hlen = good;
  bad_hlen[4] = std::byte{8};
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806, bad_hlen));
  EXPECT_EQ(st.badformat, 2u);
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806,
                        arp_packet(1, kBcast, sc.peer(), {}, sc.local())));
  EXPECT_EQ(st.badaddr, 1u);
  sc.inject(build_ether(kBcast, Scenario::kPeerMac, 0x0806,
                        arp_packet(1, Scenario::kPeerMac, sc.local(), {}, sc.local())));
  EXPECT_EQ(st.dupaddr, 1u);
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_TRUE(sc.stack().arp.entries.empty());
}

}  // namespace
}  // namespace iopkt::test

namespace iopkt::test {
namespace {

TEST(ArpStatic, PermanentEntriesSendAtOnceAndIgnoreTheWire) {
  Scenario sc;
  Stack& s = sc.stack();
  std::array<uint8_t, 6> mac{0x02, 0xaa, 0, 0, 0, 9};
  ASSERT_TRUE(arp_add_static(s, sc.link(), sc.peer(), mac).ok());
  send_udp(sc, sc.peer(), "direct");
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(load_be16(*f, 12), 0x0800);
  EXPECT_EQ(std::to_integer<uint8_t>((*f)[1]), 0xaa);
  // A reply claiming another MAC does not replace it.
  sc.inject(
      build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0806,
                  arp_packet(2, Scenario::kPeerMac, sc.peer(), Scenario::kLocalMac, sc.local())));
  EXPECT_EQ(s.arp.entries.begin()->second.mac, mac);
  sc.advance(std::chrono::hours(3));
  EXPECT_EQ(s.arp.entries.size(), 1u);  // never expires
  EXPECT_EQ(arp_add_static(s, sc.link(), InAddr::from_octets(203, 0, 113, 1), mac).error().value,
            ENETUNREACH);
  std::array<uint8_t, 6> group{0x01, 0, 0x5e, 0, 0, 1};
  EXPECT_EQ(arp_add_static(s, sc.link(), sc.peer(), group).error().value, EINVAL);
  ASSERT_TRUE(arp_delete(s, nullptr, sc.peer()).ok());
  EXPECT_EQ(arp_delete(s, nullptr, sc.peer()).error().value, ENOENT);
}

}  // namespace
}  // namespace iopkt::test

namespace iopkt::test {
namespace {

TEST(ArpStatic, TempEntriesExpireLikeLearntOnes) {
  Scenario sc;
  Stack& s = sc.stack();
  ASSERT_TRUE(s.sysctl().set("net.inet.arp.keep", "60").ok());
  std::array<uint8_t, 6> mac{0x02, 0xbb, 0, 0, 0, 1};
  ASSERT_TRUE(arp_add_static(s, sc.link(), sc.peer(), mac, /*temp=*/true).ok());
  EXPECT_FALSE(s.arp.entries.begin()->second.permanent);
  sc.advance(std::chrono::seconds(61));
  EXPECT_TRUE(s.arp.entries.empty());
}

}  // namespace
}  // namespace iopkt::test
