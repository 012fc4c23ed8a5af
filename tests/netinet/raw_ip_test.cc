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

#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"
#include "netinet/udp.hh"

namespace iopkt::test {
namespace {

// --- helpers (the same in every IPv4 test file of this group) ---
[[maybe_unused]] constexpr std::array<uint8_t, 6> kBcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// An IPv4 packet as a test writes it; build() fills lengths and checksums.
struct Ip4 {
  InAddr src, dst;
  uint8_t proto = kIpProtoUdp;
  uint16_t id = 1;
  uint16_t frag = 0;  // flags and offset in 8-byte units, as on the wire
  uint8_t ttl = 64;
  uint8_t tos = 0;
  std::vector<std::byte> options;  // a multiple of 4
  std::vector<std::byte> payload;
  std::vector<std::byte> build() const {
    size_t hlen = 20 + options.size();
    std::vector<std::byte> p(hlen + payload.size());
    p[0] = std::byte(0x40 | (hlen / 4));
    p[1] = std::byte{tos};
    store_be16(p, 2, static_cast<uint16_t>(p.size()));
    store_be16(p, 4, id);
    store_be16(p, 6, frag);
    p[8] = std::byte{ttl};
    p[9] = std::byte{proto};
    store_be32(p, 12, src.v);
    store_be32(p, 16, dst.v);
    std::copy(options.begin(), options.end(), p.begin() + 20);
    std::copy(payload.begin(), payload.end(), p.begin() + static_cast<ptrdiff_t>(hlen));
    store_be16(p, 10, in_cksum_finish(in_cksum_add(0, std::span(p).first(hlen))));
    return p;
  }
};

[[maybe_unused]] std::vector<std::byte> bytes_n(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::byte(static_cast<uint8_t>(seed + i * 7));
  }
  return v;
}

// An ICMP message with its checksum.
[[maybe_unused]] std::vector<std::byte> icmp_msg(uint8_t type, uint8_t code, uint32_t rest,
                                                 const std::vector<std::byte>& data) {
  std::vector<std::byte> m(8 + data.size());
  IcmpFields{type, code, rest}.emit(m);
  std::copy(data.begin(), data.end(), m.begin() + 8);
  store_be16(m, 2, in_cksum_finish(in_cksum_add(0, m)));
  return m;
}

// A UDP header and payload with its checksum.
[[maybe_unused]] std::vector<std::byte> udp_seg(InAddr src, InAddr dst, uint16_t sport,
                                                uint16_t dport,
                                                const std::vector<std::byte>& data) {
  std::vector<std::byte> u(8 + data.size());
  UdpFields{sport, dport, static_cast<uint16_t>(u.size()), 0}.emit(u);
  std::copy(data.begin(), data.end(), u.begin() + 8);
  uint16_t c = in_cksum_finish(
      in_cksum_add(in_pseudo_sum(src, dst, kIpProtoUdp, static_cast<uint16_t>(u.size())), u));
  store_be16(u, 6, c == 0 ? 0xffff : c);
  return u;
}

[[maybe_unused]] void inject_ip(Scenario& sc, const std::vector<std::byte>& pkt,
                                const std::array<uint8_t, 6>& dst_mac = Scenario::kLocalMac) {
  sc.inject(build_ether(dst_mac, Scenario::kPeerMac, 0x0800, pkt));
}

// The peer answers an ARP request it never got: the stack learns its MAC
// (RFC 826 merge: the packet is about us), so replies leave at once.
[[maybe_unused]] void learn_peer(Scenario& sc) {
  std::vector<std::byte> p(28);
  store_be16(p, 0, 1);
  store_be16(p, 2, 0x0800);
  p[4] = std::byte{6};
  p[5] = std::byte{4};
  store_be16(p, 6, 2);
  for (int i = 0; i < 6; ++i) {
    p[8 + i] = std::byte{Scenario::kPeerMac[i]};
    p[18 + i] = std::byte{Scenario::kLocalMac[i]};
  }
  store_be32(p, 14, sc.peer().v);
  store_be32(p, 24, sc.local().v);
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0806, p));
  sc.take_frames();
}

// An emitted IPv4 frame, taken apart.
struct SeenIp {
  std::vector<std::byte> ip;  // from the IP header on
  size_t hlen = 0;
  InAddr src, dst;
  uint8_t proto = 0, tos = 0;
  uint16_t id = 0, frag = 0;
  std::span<const std::byte> payload() const { return std::span(ip).subspan(hlen); }
};
[[maybe_unused]] std::optional<SeenIp> as_ip(const std::vector<std::byte>& frame) {
  if (frame.size() < 34 || load_be16(frame, 12) != 0x0800) {
    return std::nullopt;
  }
  SeenIp s;
  s.ip.assign(frame.begin() + 14, frame.end());
  s.hlen = (std::to_integer<size_t>(s.ip[0]) & 0xf) * 4;
  s.ip.resize(load_be16(s.ip, 2));  // drop the Ethernet padding
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, std::span(s.ip).first(s.hlen))), 0);
  s.src = InAddr{load_be32(s.ip, 12)};
  s.dst = InAddr{load_be32(s.ip, 16)};
  s.proto = std::to_integer<uint8_t>(s.ip[9]);
  s.tos = std::to_integer<uint8_t>(s.ip[1]);
  s.id = load_be16(s.ip, 4);
  s.frag = load_be16(s.ip, 6);
  return s;
}

// The next frame must be an ICMP message from us to the peer; returns it
// (from the ICMP header on) after checking its checksum.
[[maybe_unused]] std::vector<std::byte> expect_icmp_to_peer(Scenario& sc) {
  auto f = sc.next_frame();
  EXPECT_TRUE(f.has_value());
  if (!f) {
    return {};
  }
  auto ip = as_ip(*f);
  EXPECT_TRUE(ip.has_value());
  if (!ip) {
    return {};
  }
  EXPECT_EQ(ip->proto, kIpProtoIcmp);
  EXPECT_EQ(ip->src, sc.local());
  EXPECT_EQ(ip->dst, sc.peer());
  std::vector<std::byte> icmp(ip->payload().begin(), ip->payload().end());
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, icmp)), 0);
  return icmp;
}

[[maybe_unused]] std::string sysctl_get(Stack& s, std::string_view name) {
  return s.sysctl().get(name).value();
}
[[maybe_unused]] void sysctl_set(Stack& s, std::string_view name, std::string_view v) {
  ASSERT_TRUE(s.sysctl().set(name, v).ok()) << name;
}
// --- end of helpers ---

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
