// Raw IPv4 sockets (BSD raw_ip.c, Linux raw(7)) and ICMP echo sockets:
// what they receive, IP_HDRINCL sends, and what ping relies on.
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

Mbuf mb(Stack& s, const std::vector<std::byte>& b) { return Mbuf::copy_from(s.pool(), b, 64); }

TEST(RawIp, SocketCreationFollowsLinux) {
  Scenario sc;
  Stack& s = sc.stack();
  EXPECT_EQ(s.so_create(AF_INET, SOCK_RAW, 0).error().value, EPROTONOSUPPORT);
  EXPECT_EQ(s.so_create(AF_INET, SOCK_RAW, 256).error().value, EINVAL);
  SocketId raw = s.so_create(AF_INET, SOCK_RAW, IPPROTO_RAW).value();
  auto v = s.so_getsockopt(raw, IPPROTO_IP, IP_HDRINCL, sizeof(int)).value();
  EXPECT_EQ(std::to_integer<int>(v[0]), 1);  // IPPROTO_RAW implies IP_HDRINCL
  SocketId icmp = s.so_create(AF_INET, SOCK_RAW, IPPROTO_ICMP).value();
  v = s.so_getsockopt(icmp, IPPROTO_IP, IP_HDRINCL, sizeof(int)).value();
  EXPECT_EQ(std::to_integer<int>(v[0]), 0);
  SocketId udp = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  int one = 1;
  std::span<const std::byte> on(reinterpret_cast<const std::byte*>(&one), sizeof one);
  EXPECT_EQ(s.so_setsockopt(udp, IPPROTO_IP, IP_HDRINCL, on).error().value, ENOPROTOOPT);
}

// What ping does with a raw ICMP socket: it writes the echo request, and
// reads every ICMP packet, IP header included — its own request over lo0
// and the reply.
TEST(RawIp, IcmpSocketSeesTheEchoReply) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId raw = s.so_create(AF_INET, SOCK_RAW, IPPROTO_ICMP).value();
  auto to = SockAddr::inet(InAddr::loopback(), 0);
  auto req = icmp_msg(kIcmpEcho, 0, 0x0bad'0003, bytes_of("ping data"));
  ASSERT_TRUE(s.so_send_dgram(raw, mb(s, req), &to).ok());
  auto a = s.so_recv_dgram(raw), b = s.so_recv_dgram(raw);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(s.so_recv_dgram(raw).has_value());
  auto va = a->data.to_vector(), vb = b->data.to_vector();
  ASSERT_EQ(va.size(), 20 + req.size());
  EXPECT_EQ(std::to_integer<uint8_t>(va[20]), kIcmpEcho);  // header included
  EXPECT_EQ(std::to_integer<uint8_t>(va[9]), kIpProtoIcmp);
  ASSERT_EQ(vb.size(), 20 + req.size());
  EXPECT_EQ(std::to_integer<uint8_t>(vb[20]), kIcmpEchoReply);
  EXPECT_EQ(load_be16(vb, 24), 0x0bad);
  EXPECT_EQ(load_be16(vb, 26), 3);
  EXPECT_EQ(b->from.in, InAddr::loopback());
  // The raw socket's copy of the request was not turned into the reply.
  EXPECT_EQ(std::to_integer<uint8_t>(va[20]), kIcmpEcho);
  EXPECT_EQ(s.ip.icmp.stat.reflect, 1u);
}

// A protocol nobody carries reaches its raw sockets, filtered by address,
// and then earns no protocol unreachable.
TEST(RawIp, UnknownProtocolGoesToMatchingRawSockets) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId any = s.so_create(AF_INET, SOCK_RAW, 253).value();
  SocketId other_addr = s.so_create(AF_INET, SOCK_RAW, 253).value();
  SocketId other_peer = s.so_create(AF_INET, SOCK_RAW, 253).value();
  SocketId other_proto = s.so_create(AF_INET, SOCK_RAW, 254).value();
  ASSERT_TRUE(s.so_bind(other_addr, SockAddr::inet(InAddr::loopback(), 0)).ok());
  ASSERT_TRUE(s.so_connect(other_peer, SockAddr::inet(InAddr::from_octets(192, 0, 2, 77), 0)).ok());
  EXPECT_EQ(s.so_getpeername(other_peer).value().in, InAddr::from_octets(192, 0, 2, 77));
  Ip4 p;
  p.src = sc.peer();
  p.dst = sc.local();
  p.proto = 253;
  p.payload = bytes_n(12);
  auto pkt = p.build();
  inject_ip(sc, pkt);
  auto d = s.so_recv_dgram(any);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->data.to_vector(), pkt);
  EXPECT_EQ(d->from.in, sc.peer());
  EXPECT_FALSE(s.so_recv_dgram(other_addr).has_value());
  EXPECT_FALSE(s.so_recv_dgram(other_peer).has_value());
  EXPECT_FALSE(s.so_recv_dgram(other_proto).has_value());
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_EQ(s.ip.stat.noproto, 0u);
  EXPECT_EQ(s.ip.stat.delivered, 1u);
  // Once it is closed, the protocol is unreachable again.
  s.so_close(any);
  inject_ip(sc, pkt);
  EXPECT_EQ(s.ip.stat.noproto, 1u);
  EXPECT_EQ(sc.take_frames().size(), 1u);
}

// IP_HDRINCL: the caller's header, with a zero source and id filled and the
// checksum computed (Linux); lies about the length refused.
TEST(RawIp, HdrinclSendsTheCallersHeader) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId raw = s.so_create(AF_INET, SOCK_RAW, IPPROTO_RAW).value();
  Ip4 p;
  p.src = InAddr::any();
  p.dst = sc.peer();
  p.proto = 253;
  p.id = 0;
  p.ttl = 9;
  p.payload = bytes_n(40);
  auto pkt = p.build();
  store_be16(pkt, 10, 0xdead);  // a wrong checksum is recomputed
  auto to = SockAddr::inet(sc.peer(), 0);
  ASSERT_TRUE(s.so_send_dgram(raw, mb(s, pkt), &to).ok());
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  auto ip = as_ip(*f);  // checks the header checksum
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip->src, sc.local());
  EXPECT_NE(ip->id, 0);
  EXPECT_EQ(std::to_integer<uint8_t>(ip->ip[8]), 9);
  EXPECT_TRUE(std::equal(p.payload.begin(), p.payload.end(), ip->payload().begin()));
  auto bad_len = pkt;
  store_be16(bad_len, 2, 30);
  EXPECT_EQ(s.so_send_dgram(raw, mb(s, bad_len), &to).error().value, EINVAL);
  auto v6 = pkt;
  v6[0] = std::byte{0x65};
  EXPECT_EQ(s.so_send_dgram(raw, mb(s, v6), &to).error().value, EINVAL);
  EXPECT_EQ(s.so_send_dgram(raw, mb(s, bytes_n(12)), &to).error().value, EINVAL);
  EXPECT_EQ(s.so_send_dgram(raw, mb(s, pkt), nullptr).error().value, EDESTADDRREQ);
  EXPECT_TRUE(sc.take_frames().empty());
}

// Linux's ICMP echo sockets: the stack owns the identifier and checksum,
// and delivers only the replies carrying that identifier, without the IP
// header.
TEST(RawIp, PingSocketMatchesRepliesByIdentifier) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId ping = s.so_create(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).value();
  auto lo = SockAddr::inet(InAddr::loopback(), 0);
  auto req = icmp_msg(kIcmpEcho, 0, 0x0000'0009, bytes_of("abc"));
  store_be16(req, 2, 0x1111);  // garbage checksum: the stack fills it
  ASSERT_TRUE(s.so_send_dgram(ping, mb(s, req), &lo).ok());
  uint16_t id = s.so_getsockname(ping).value().port;
  EXPECT_NE(id, 0);
  auto d = s.so_recv_dgram(ping);
  ASSERT_TRUE(d.has_value());
  auto v = d->data.to_vector();
  ASSERT_EQ(v.size(), req.size());
  EXPECT_EQ(std::to_integer<uint8_t>(v[0]), kIcmpEchoReply);
  EXPECT_EQ(load_be16(v, 4), id);
  EXPECT_EQ(load_be16(v, 6), 9);
  EXPECT_EQ(d->from.in, InAddr::loopback());
  // Only echo requests may be written.
  auto notecho = icmp_msg(kIcmpTimestamp, 0, 0, bytes_n(12));
  EXPECT_EQ(s.so_send_dgram(ping, mb(s, notecho), &lo).error().value, EINVAL);
  EXPECT_EQ(s.so_send_dgram(ping, mb(s, bytes_n(4)), &lo).error().value, EINVAL);
  // A reply from the wire with another identifier is not ours.
  Ip4 r;
  r.src = sc.peer();
  r.dst = sc.local();
  r.proto = kIpProtoIcmp;
  r.payload = icmp_msg(kIcmpEchoReply, 0, (uint32_t{static_cast<uint16_t>(id + 1)} << 16) | 1, {});
  inject_ip(sc, r.build());
  EXPECT_FALSE(s.so_recv_dgram(ping).has_value());
  r.payload = icmp_msg(kIcmpEchoReply, 0, (uint32_t{id} << 16) | 2, {});
  inject_ip(sc, r.build());
  EXPECT_TRUE(s.so_recv_dgram(ping).has_value());
  // Identifiers are unique, like ports.
  SocketId second = s.so_create(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).value();
  EXPECT_EQ(s.so_bind(second, SockAddr::inet(InAddr::any(), id)).error().value, EADDRINUSE);
}

}  // namespace
}  // namespace iopkt::test
