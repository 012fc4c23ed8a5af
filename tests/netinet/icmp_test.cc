// ICMP scenarios, RFC 792 and RFC 1122 §3.2.2: echo, input validation,
// error generation and its limits, errors reported to UDP sockets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
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

Ip4 from_peer(Scenario& sc, uint8_t proto, std::vector<std::byte> payload) {
  Ip4 p;
  p.src = sc.peer();
  p.dst = sc.local();
  p.proto = proto;
  p.payload = std::move(payload);
  return p;
}

SocketId udp_socket(Stack& s) { return s.so_create(AF_INET, SOCK_DGRAM, 0).value(); }

int so_error(Stack& s, SocketId so) {
  auto v = s.so_getsockopt(so, SOL_SOCKET, SO_ERROR, sizeof(int)).value();
  int e = 0;
  std::memcpy(&e, v.data(), sizeof e);
  return e;
}

// RFC 792 "Echo or Echo Reply": same identifier, sequence number and data;
// source and destination swapped.
TEST(Icmp, EchoRequestIsAnsweredWithTheSameData) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  auto data = bytes_n(100, 3);
  Ip4 req = from_peer(sc, kIpProtoIcmp, icmp_msg(kIcmpEcho, 0, 0x1234'0007, data));
  req.tos = 0x10;
  inject_ip(sc, req.build());
  auto icmp = expect_icmp_to_peer(sc);
  ASSERT_EQ(icmp.size(), 8 + data.size());
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpEchoReply);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), 0);
  EXPECT_EQ(load_be16(icmp, 4), 0x1234);
  EXPECT_EQ(load_be16(icmp, 6), 7);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), icmp.begin() + 8));
  EXPECT_FALSE(sc.next_frame().has_value());
  EXPECT_EQ(s.ip.icmp.stat.reflect, 1u);
  EXPECT_EQ(s.ip.icmp.stat.inhist[kIcmpEcho], 1u);
  EXPECT_EQ(sysctl_get(s, "net.inet.icmp.stats.outhist.echoreply"), "1");
  EXPECT_EQ(sysctl_get(s, "net.inet.icmp.stats.reflect"), "1");
}

TEST(Icmp, MalformedMessagesAreCountedAndDropped) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  // Shorter than the 8-byte header.
  inject_ip(sc, from_peer(sc, kIpProtoIcmp, bytes_n(4)).build());
  EXPECT_EQ(s.ip.icmp.stat.tooshort, 1u);
  // A flipped data byte.
  auto bad = icmp_msg(kIcmpEcho, 0, 1, bytes_n(16));
  bad[12] ^= std::byte{1};
  inject_ip(sc, from_peer(sc, kIpProtoIcmp, bad).build());
  EXPECT_EQ(s.ip.icmp.stat.checksum, 1u);
  // An echo with a code RFC 792 does not define.
  inject_ip(sc, from_peer(sc, kIpProtoIcmp, icmp_msg(kIcmpEcho, 1, 1, {})).build());
  EXPECT_EQ(s.ip.icmp.stat.badcode, 1u);
  // Unknown types: counted, never answered (not even with an error).
  inject_ip(sc, from_peer(sc, kIpProtoIcmp, icmp_msg(42, 0, 0, bytes_n(8))).build());
  EXPECT_EQ(s.ip.icmp.stat.badtype, 1u);
  // Address mask requests are ignored (Ripple20 CVE-2020-11911, RFC 6918).
  inject_ip(sc, from_peer(sc, kIpProtoIcmp, icmp_msg(kIcmpMaskRequest, 0, 0, bytes_n(4))).build());
  EXPECT_EQ(s.ip.icmp.stat.ignored, 1u);
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_EQ(s.ip.icmp.stat.received, 5u);
  EXPECT_EQ(s.ip.icmp.stat.reflect, 0u);
}

// RFC 1122 §3.2.2.6: an echo to a broadcast address MAY be discarded; it is
// unless net.inet.icmp.bmcastecho is set, and the reply then comes from
// the interface's unicast address.
TEST(Icmp, BroadcastEchoOnlyWhenAllowed) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  Ip4 req = from_peer(sc, kIpProtoIcmp, icmp_msg(kIcmpEcho, 0, 0x0101'0001, bytes_n(8)));
  req.dst = InAddr::from_octets(192, 0, 2, 255);
  inject_ip(sc, req.build(), kBcastMac);
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_EQ(s.ip.icmp.stat.bmcastecho, 1u);
  EXPECT_EQ(sysctl_get(s, "net.inet.icmp.bmcastecho"), "0");
  sysctl_set(s, "net.inet.icmp.bmcastecho", "1");
  inject_ip(sc, req.build(), kBcastMac);
  auto icmp = expect_icmp_to_peer(sc);  // from 192.0.2.1, not from .255
  ASSERT_FALSE(icmp.empty());
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpEchoReply);
}

// RFC 1122 §4.1.3.1: port unreachable; RFC 792/1812 §4.3.2.3: the error
// quotes the original header and data (all of it when it fits in 576).
TEST(Icmp, ClosedUdpPortGetsPortUnreachableQuotingTheDatagram) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  Ip4 p = from_peer(sc, kIpProtoUdp, udp_seg(sc.peer(), sc.local(), 5000, 9999, bytes_n(30)));
  auto orig = p.build();
  inject_ip(sc, orig);
  auto icmp = expect_icmp_to_peer(sc);
  ASSERT_EQ(icmp.size(), 8 + orig.size());
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpUnreach);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), kIcmpUnreachPort);
  EXPECT_EQ(load_be32(icmp, 4), 0u);
  EXPECT_TRUE(std::equal(orig.begin(), orig.end(), icmp.begin() + 8));
  EXPECT_EQ(s.udp.stat.noport, 1u);
  EXPECT_EQ(s.ip.icmp.stat.outhist[kIcmpUnreach], 1u);
}

TEST(Icmp, ErrorQuoteIsCappedAt576Bytes) {
  Scenario sc;
  learn_peer(sc);
  inject_ip(
      sc,
      from_peer(sc, kIpProtoUdp, udp_seg(sc.peer(), sc.local(), 1, 9999, bytes_n(1200))).build());
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  auto ip = as_ip(*f);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip->ip.size(), 576u);
  EXPECT_EQ(ip->tos & 0xe0, 0xc0);  // internetwork control (RFC 1812 §4.3.2.5)
}

TEST(Icmp, UnknownProtocolGetsProtocolUnreachable) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  inject_ip(sc, from_peer(sc, 253, bytes_n(20)).build());
  auto icmp = expect_icmp_to_peer(sc);
  ASSERT_FALSE(icmp.empty());
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpUnreach);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), kIcmpUnreachProtocol);
  EXPECT_EQ(s.ip.stat.noproto, 1u);
}

// RFC 1122 §3.2.2: no error about an ICMP error, a broadcast or multicast
// destination, a link-level broadcast, a non-initial fragment, or a source
// that is not a single host. Each refusal has its counter.
TEST(Icmp, NoErrorWhereRfc1122ForbidsOne) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  IcmpStat& st = s.ip.icmp.stat;
  // An ICMP error carrying a bad IP option would earn a parameter problem.
  Ip4 p = from_peer(sc, kIpProtoIcmp, icmp_msg(kIcmpTimeExceeded, 0, 0, bytes_n(28)));
  p.options = {std::byte{0x99}, std::byte{0}, std::byte{0}, std::byte{0}};  // length 0
  inject_ip(sc, p.build());
  EXPECT_EQ(st.oldicmp, 1u);
  // Unknown protocol to the subnet broadcast, and inside a link broadcast.
  Ip4 b = from_peer(sc, 253, bytes_n(8));
  b.dst = InAddr::from_octets(192, 0, 2, 255);
  inject_ip(sc, b.build(), kBcastMac);
  Ip4 l = from_peer(sc, 253, bytes_n(8));
  inject_ip(sc, l.build(), kBcastMac);
  EXPECT_EQ(st.bmcast, 2u);
  // A bad option in a non-first fragment.
  Ip4 f = from_peer(sc, kIpProtoUdp, bytes_n(16));
  f.frag = 10;  // offset 80
  f.options = {std::byte{0x99}, std::byte{1}, std::byte{0}, std::byte{0}};
  inject_ip(sc, f.build());
  EXPECT_EQ(st.fragment, 1u);
  // Sources that are not a single host: 0.0.0.0 and class E.
  Ip4 z = from_peer(sc, 253, bytes_n(8));
  z.src = InAddr::any();
  inject_ip(sc, z.build());
  z.src = InAddr::from_octets(240, 0, 0, 1);
  inject_ip(sc, z.build());
  EXPECT_EQ(st.badsrc, 2u);
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_EQ(st.error, 6u);
  EXPECT_EQ(st.outhist[kIcmpParamProblem] + st.outhist[kIcmpUnreach], 0u);
}

size_t errors_sent_in_a_burst(uint64_t seed, int limit, int burst) {
  Scenario sc(ScenarioOptions{.seed = seed});
  Stack& s = sc.stack();
  learn_peer(sc);
  EXPECT_TRUE(s.sysctl().set("net.inet.icmp.errppslimit", std::to_string(limit)).ok());
  for (int i = 0; i < burst; ++i) {
    inject_ip(sc, from_peer(sc, 253, bytes_n(8)).build());
  }
  size_t sent = sc.take_frames().size();
  EXPECT_EQ(sent, s.ip.icmp.stat.outhist[kIcmpUnreach]);
  EXPECT_EQ(sent + s.ip.icmp.stat.ratelimited, static_cast<size_t>(burst));
  return sent;
}

// RFC 1812 §4.3.2.8: errors are rate-limited by a token bucket; its
// per-error cost is random (CVE-2020-25705), so the count that fits in an
// interval is not fixed.
TEST(Icmp, ErrorsAreRateLimitedWithARandomisedBudget) {
  std::vector<size_t> counts;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    size_t n = errors_sent_in_a_burst(seed, 20, 200);
    EXPECT_GE(n, 10u);   // every error costs at most 2 of the 20 tokens
    EXPECT_LE(n, 120u);  // and the bucket does not refill within the burst
    counts.push_back(n);
  }
  std::sort(counts.begin(), counts.end());
  EXPECT_NE(counts.front(), counts.back()) << "the budget does not vary";
  // After a second the bucket is full again.
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  sysctl_set(s, "net.inet.icmp.errppslimit", "5");
  for (int i = 0; i < 50; ++i) {
    inject_ip(sc, from_peer(sc, 253, bytes_n(8)).build());
  }
  size_t first = sc.take_frames().size();
  EXPECT_LT(first, 50u);
  sc.advance(1s);
  inject_ip(sc, from_peer(sc, 253, bytes_n(8)).build());
  EXPECT_EQ(sc.take_frames().size(), 1u);
  // 0 turns the limit off.
  sysctl_set(s, "net.inet.icmp.errppslimit", "0");
  for (int i = 0; i < 50; ++i) {
    inject_ip(sc, from_peer(sc, 253, bytes_n(8)).build());
  }
  EXPECT_EQ(sc.take_frames().size(), 50u);
}

// Linux: a connected UDP socket learns of a port unreachable as
// ECONNREFUSED (a "hard" error); an unconnected one is not told.
TEST(Icmp, PortUnreachableOverLo0RefusesAConnectedSocket) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId conn = udp_socket(s), loose = udp_socket(s);
  ASSERT_TRUE(s.so_connect(conn, SockAddr::inet(InAddr::loopback(), 4444)).ok());
  ASSERT_TRUE(s.so_send_dgram(conn, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), nullptr).ok());
  auto events = s.take_socket_events();
  EXPECT_NE(std::find(events.begin(), events.end(), conn), events.end());
  EXPECT_EQ(so_error(s, conn), ECONNREFUSED);
  EXPECT_EQ(so_error(s, conn), 0);  // reading SO_ERROR clears it
  auto to = SockAddr::inet(InAddr::loopback(), 4444);
  ASSERT_TRUE(s.so_send_dgram(loose, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), &to).ok());
  EXPECT_EQ(so_error(s, loose), 0);
  EXPECT_EQ(s.udp.stat.noport, 2u);
  EXPECT_EQ(s.udp.stat.icmperr, 1u);
  EXPECT_EQ(s.udp.stat.icmpnomatch, 1u);
}

// RFC 5927 §4.1: an error is acted on only when the quoted datagram is
// one this host sent: our source address, our port, the connected peer.
TEST(Icmp, ErrorsFromTheWireAreCheckedAgainstTheQuote) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId so = udp_socket(s);
  ASSERT_TRUE(s.so_connect(so, SockAddr::inet(sc.peer(), 53)).ok());
  uint16_t lport = s.so_getsockname(so).value().port;
  auto quote = [&](InAddr qsrc, uint16_t sport, uint16_t dport) {
    Ip4 q;
    q.src = qsrc;
    q.dst = sc.peer();
    q.payload = udp_seg(qsrc, sc.peer(), sport, dport, bytes_n(4));
    return q.build();
  };
  auto unreach = [&](uint8_t code, uint32_t rest, const std::vector<std::byte>& q) {
    inject_ip(sc, from_peer(sc, kIpProtoIcmp, icmp_msg(kIcmpUnreach, code, rest, q)).build());
  };
  // Someone else's datagram, a different port, a different peer port.
  unreach(kIcmpUnreachPort, 0, quote(InAddr::from_octets(198, 51, 100, 9), lport, 53));
  unreach(kIcmpUnreachPort, 0, quote(sc.local(), static_cast<uint16_t>(lport + 1), 53));
  unreach(kIcmpUnreachPort, 0, quote(sc.local(), lport, 54));
  EXPECT_EQ(so_error(s, so), 0);
  EXPECT_EQ(s.udp.stat.icmpnomatch, 3u);
  // A quote shorter than header + 8 bytes.
  auto shortq = quote(sc.local(), lport, 53);
  shortq.resize(24);
  unreach(kIcmpUnreachPort, 0, shortq);
  EXPECT_EQ(s.ip.icmp.stat.badlen, 1u);
  // Fragmentation needed with an impossible MTU is ignored; a usable one is
  // counted and is a soft error for UDP.
  unreach(kIcmpUnreachNeedFrag, 0, quote(sc.local(), lport, 53));
  unreach(kIcmpUnreachNeedFrag, 1, quote(sc.local(), lport, 53));
  EXPECT_EQ(s.ip.icmp.stat.badmtu, 2u);
  unreach(kIcmpUnreachNeedFrag, 1400, quote(sc.local(), lport, 53));
  EXPECT_EQ(s.ip.icmp.stat.pmtuchg, 1u);
  EXPECT_EQ(so_error(s, so), 0);
  // An undefined code.
  unreach(16, 0, quote(sc.local(), lport, 53));
  EXPECT_EQ(s.ip.icmp.stat.badcode, 1u);
  // The real thing.
  unreach(kIcmpUnreachPort, 0, quote(sc.local(), lport, 53));
  EXPECT_EQ(so_error(s, so), ECONNREFUSED);
  unreach(kIcmpUnreachHost, 0, quote(sc.local(), lport, 53));
  EXPECT_EQ(so_error(s, so), EHOSTUNREACH);
  // Errors are never answered with errors.
  EXPECT_TRUE(sc.take_frames().empty());
}

// A frag-needed error can be generated (for forwarding, later) and carries
// the next-hop MTU (RFC 1191 §4); a parameter problem carries its pointer.
TEST(Icmp, ErrorsCarryMtuAndPointer) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  auto orig = from_peer(sc, kIpProtoUdp, udp_seg(sc.peer(), sc.local(), 1, 2, bytes_n(4))).build();
  icmp_error(s, Mbuf::copy_from(s.pool(), orig), kIcmpUnreach, kIcmpUnreachNeedFrag, 1280);
  auto icmp = expect_icmp_to_peer(sc);
  ASSERT_GE(icmp.size(), 8u);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), kIcmpUnreachNeedFrag);
  EXPECT_EQ(load_be16(icmp, 6), 1280);
  icmp_error(s, Mbuf::copy_from(s.pool(), orig), kIcmpParamProblem, 0, 22);
  icmp = expect_icmp_to_peer(sc);
  ASSERT_GE(icmp.size(), 8u);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[4]), 22);
  // A truncated original cannot be quoted.
  icmp_error(s, Mbuf::copy_from(s.pool(), std::span(orig).first(10)), kIcmpUnreach, 1, 0);
  EXPECT_EQ(s.ip.icmp.stat.oldshort, 1u);
}

}  // namespace
}  // namespace iopkt::test
