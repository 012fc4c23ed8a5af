// Ancillary data of datagram sockets, ip(7): what a received datagram
// carries for IP_PKTINFO, IP_RECVTTL and IP_RECVTOS, and what a sendmsg's
// IP_PKTINFO, IP_TTL and IP_TOS do to the datagram sent, with Linux's
// errno for the bad ones (checked against the kernel by
// tests/process/ancillary_test.cc). UDP first, then raw and echo sockets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
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

// An IPv4 packet from the peer; build() fills lengths and the checksum.
struct Ip4 {
  InAddr src, dst;
  uint8_t proto = kIpProtoUdp;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  std::vector<std::byte> payload;
  std::vector<std::byte> build() const {
    std::vector<std::byte> p(20 + payload.size());
    p[0] = std::byte{0x45};
    p[1] = std::byte{tos};
    store_be16(p, 2, static_cast<uint16_t>(p.size()));
    store_be16(p, 4, 7);
    p[8] = std::byte{ttl};
    p[9] = std::byte{proto};
    store_be32(p, 12, src.v);
    store_be32(p, 16, dst.v);
    std::copy(payload.begin(), payload.end(), p.begin() + 20);
    store_be16(p, 10, in_cksum_finish(in_cksum_add(0, std::span(p).first(20))));
    return p;
  }
};

std::vector<std::byte> udp_seg(InAddr src, InAddr dst, uint16_t sport, uint16_t dport,
                               const std::vector<std::byte>& data) {
  std::vector<std::byte> u(8 + data.size());
  UdpFields{sport, dport, static_cast<uint16_t>(u.size()), 0}.emit(u);
  std::copy(data.begin(), data.end(), u.begin() + 8);
  uint16_t c = in_cksum_finish(
      in_cksum_add(in_pseudo_sum(src, dst, kIpProtoUdp, static_cast<uint16_t>(u.size())), u));
  store_be16(u, 6, c == 0 ? 0xffff : c);
  return u;
}

std::vector<std::byte> icmp_msg(uint8_t type, uint32_t rest, const std::vector<std::byte>& data) {
  std::vector<std::byte> m(8 + data.size());
  IcmpFields{type, 0, rest}.emit(m);
  std::copy(data.begin(), data.end(), m.begin() + 8);
  store_be16(m, 2, in_cksum_finish(in_cksum_add(0, m)));
  return m;
}

constexpr std::array<uint8_t, 6> kBcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void inject_ip(Scenario& sc, const std::vector<std::byte>& pkt,
               const std::array<uint8_t, 6>& dst_mac = Scenario::kLocalMac) {
  sc.inject(build_ether(dst_mac, Scenario::kPeerMac, 0x0800, pkt));
}

Mbuf mb(Stack& s, const std::vector<std::byte>& b) { return Mbuf::copy_from(s.pool(), b, 64); }

void set_int(Stack& s, SocketId so, int level, int name, int v) {
  std::array<std::byte, sizeof(int)> b;
  std::memcpy(b.data(), &v, sizeof v);
  ASSERT_TRUE(s.so_setsockopt(so, level, name, b).ok()) << name;
}

int get_int(Stack& s, SocketId so, int level, int name) {
  auto r = s.so_getsockopt(so, level, name, sizeof(int));
  EXPECT_TRUE(r.ok()) << name;
  int v = -1;
  if (r.ok() && r.value().size() == sizeof v) {
    std::memcpy(&v, r.value().data(), sizeof v);
  }
  return v;
}

// A UDP socket bound to `port` on any address.
SocketId udp_bound(Stack& s, uint16_t port) {
  SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  EXPECT_TRUE(s.so_bind(so, SockAddr::inet(InAddr::any(), port)).ok());
  return so;
}

// The peer's MAC is known, so that sends leave at once.
void know_peer(Scenario& sc, InAddr peer) {
  ASSERT_TRUE(arp_add_static(sc.stack(), sc.link(), peer, Scenario::kPeerMac).ok());
}

// An emitted IPv4 frame, from its IP header on; nullopt for anything else.
std::optional<std::vector<std::byte>> next_ip(Scenario& sc) {
  auto f = sc.next_frame();
  if (!f || f->size() < 34 || load_be16(*f, 12) != 0x0800) {
    return std::nullopt;
  }
  std::vector<std::byte> ip(f->begin() + 14, f->end());
  ip.resize(load_be16(ip, 2));
  return ip;
}
uint8_t ip_tos(const std::vector<std::byte>& ip) { return std::to_integer<uint8_t>(ip[1]); }
uint8_t ip_ttl(const std::vector<std::byte>& ip) { return std::to_integer<uint8_t>(ip[8]); }
InAddr ip_src(const std::vector<std::byte>& ip) { return InAddr{load_be32(ip, 12)}; }
InAddr ip_dst(const std::vector<std::byte>& ip) { return InAddr{load_be32(ip, 16)}; }

// The UDP checksum of an emitted datagram holds with its pseudo-header
// (RFC 768): the source chosen by IP_PKTINFO is the one summed.
bool udp_sum_ok(const std::vector<std::byte>& ip) {
  auto u = std::span(ip).subspan(20);
  return in_cksum_finish(in_cksum_add(
             in_pseudo_sum(ip_src(ip), ip_dst(ip), kIpProtoUdp, static_cast<uint16_t>(u.size())),
             u)) == 0;
}

DgramSendOpts opts_ttl_tos(int ttl, int tos) {
  DgramSendOpts o;
  o.ttl = ttl;
  o.tos = tos;
  return o;
}

DgramSendOpts opts_pktinfo(InAddr src, uint32_t ifindex) {
  DgramSendOpts o;
  o.pktinfo = true;
  o.src = src;
  o.ifindex = ifindex;
  return o;
}

std::vector<std::byte> int_data(int v) {
  std::vector<std::byte> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

std::vector<std::byte> pktinfo_data(int ifindex, InAddr spec_dst, InAddr addr) {
  in_pktinfo p{};
  p.ipi_ifindex = ifindex;
  p.ipi_spec_dst.s_addr = htonl(spec_dst.v);
  p.ipi_addr.s_addr = htonl(addr.v);
  std::vector<std::byte> b(sizeof p);
  std::memcpy(b.data(), &p, sizeof p);
  return b;
}

// --- receive ------------------------------------------------------------

// ip(7) IP_PKTINFO: "ipi_ifindex is the unique index of the interface the
// packet was received on. ipi_spec_dst is the local address of the packet
// and ipi_addr is the destination address in the packet header." The
// TTL and TOS are the header's.
TEST(UdpAncillary, ReceivedDatagramKeepsArrivalAndHeaderFields) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_bound(s, 5000);
  EXPECT_EQ(get_int(s, so, IPPROTO_IP, IP_PKTINFO), 0);
  set_int(s, so, IPPROTO_IP, IP_PKTINFO, 1);
  set_int(s, so, IPPROTO_IP, IP_RECVTTL, 1);
  set_int(s, so, IPPROTO_IP, IP_RECVTOS, 1);
  EXPECT_EQ(get_int(s, so, IPPROTO_IP, IP_PKTINFO), 1);
  EXPECT_EQ(get_int(s, so, IPPROTO_IP, IP_RECVTTL), 1);
  EXPECT_EQ(get_int(s, so, IPPROTO_IP, IP_RECVTOS), 1);
  EXPECT_EQ(s.so_find(so)->inp_flags, kInpRecvPktinfo | kInpRecvTtl | kInpRecvTos);

  Ip4 p{sc.peer(), sc.local(), kIpProtoUdp,
        17,        0x28,       udp_seg(sc.peer(), sc.local(), 4000, 5000, bytes_of("hello"))};
  inject_ip(sc, p.build());
  auto d = s.so_recv_dgram(so);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.ifindex, sc.link().index);
  EXPECT_EQ(d->info.dst, sc.local());
  EXPECT_EQ(d->info.spec_dst, sc.local());
  EXPECT_EQ(d->info.ttl, 17);
  EXPECT_EQ(d->info.tos, 0x28);

  set_int(s, so, IPPROTO_IP, IP_RECVTOS, 0);
  EXPECT_EQ(get_int(s, so, IPPROTO_IP, IP_RECVTOS), 0);
  EXPECT_EQ(s.so_find(so)->inp_flags, kInpRecvPktinfo | kInpRecvTtl);
}

// A broadcast's destination is no address of ours: spec_dst is our address
// on the arrival interface (Linux fib_compute_spec_dst), ipi_addr the
// broadcast address itself.
TEST(UdpAncillary, BroadcastNamesOurAddressAsSpecDst) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_bound(s, 5000);
  for (InAddr bcast :
       {InAddr::from_octets(192, 0, 2, 255), InAddr::from_octets(255, 255, 255, 255)}) {
    Ip4 p{sc.peer(), bcast, kIpProtoUdp,
          1,         0,     udp_seg(sc.peer(), bcast, 4000, 5000, bytes_of("all"))};
    inject_ip(sc, p.build(), kBcastMac);
    auto d = s.so_recv_dgram(so);
    ASSERT_TRUE(d.has_value()) << bcast.v;
    EXPECT_EQ(d->info.dst, bcast);
    EXPECT_EQ(d->info.spec_dst, sc.local());
    EXPECT_EQ(d->info.ifindex, sc.link().index);
    EXPECT_EQ(d->info.ttl, 1);
  }
}

// Over lo0, as Linux over lo: the loopback's index, 127.0.0.1 both ways,
// the sender's TTL and TOS.
TEST(UdpAncillary, LoopbackDatagramNamesLo0) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId server = udp_bound(s, 5000);
  set_int(s, server, IPPROTO_IP, IP_PKTINFO, 1);
  SocketId client = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  auto to = SockAddr::inet(InAddr::loopback(), 5000);
  auto o = opts_ttl_tos(9, 0x48);
  ASSERT_TRUE(s.so_send_dgram(client, mb(s, bytes_of("x")), &to, &o).ok());
  auto d = s.so_recv_dgram(server);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.ifindex, s.loopback().index);
  EXPECT_EQ(d->info.dst, InAddr::loopback());
  EXPECT_EQ(d->info.spec_dst, InAddr::loopback());
  EXPECT_EQ(d->info.ttl, 9);
  EXPECT_EQ(d->info.tos, 0x48);
}

// --- send: IP_TTL and IP_TOS ------------------------------------------------

// ip(7): IP_TTL and IP_TOS as ancillary data set the field of that one
// datagram; the next goes out with the socket's values again.
TEST(UdpAncillary, TtlAndTosApplyToOneDatagram) {
  Scenario sc;
  Stack& s = sc.stack();
  know_peer(sc, sc.peer());
  SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  set_int(s, so, IPPROTO_IP, IP_TTL, 100);
  auto to = SockAddr::inet(sc.peer(), 53);
  auto o = opts_ttl_tos(3, 0x10);
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("one")), &to, &o).ok());
  auto ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_ttl(*ip), 3);
  EXPECT_EQ(ip_tos(*ip), 0x10);
  EXPECT_TRUE(udp_sum_ok(*ip));
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("two")), &to).ok());
  ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_ttl(*ip), 100);
  EXPECT_EQ(ip_tos(*ip), 0);
  // Only the TOS: the TTL stays the socket's.
  DgramSendOpts tos_only;
  tos_only.tos = 0xb8;
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("ef")), &to, &tos_only).ok());
  ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_ttl(*ip), 100);
  EXPECT_EQ(ip_tos(*ip), 0xb8);
}

// --- send: IP_PKTINFO ---------------------------------------------------------

// ipi_spec_dst picks the source among our addresses (a DNS server bound to
// 0.0.0.0 answers from the address it was asked on), and replaces even a
// bound address, as Linux does; a source not ours is ENETUNREACH.
TEST(UdpAncillary, PktinfoSpecDstPicksTheSource) {
  Scenario sc;
  Stack& s = sc.stack();
  know_peer(sc, sc.peer());
  InAddr alias = InAddr::from_octets(192, 0, 2, 7);
  ASSERT_TRUE(s.in_control_add(sc.link(), InIfaddr{alias, 24, {}}, true).ok());
  sc.take_frames();  // the gratuitous ARP
  SocketId so = udp_bound(s, 5353);
  auto to = SockAddr::inet(sc.peer(), 53);
  auto o = opts_pktinfo(alias, 0);
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("from alias")), &to, &o).ok());
  auto ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_src(*ip), alias);
  EXPECT_TRUE(udp_sum_ok(*ip));
  EXPECT_EQ(load_be16(*ip, 20), 5353);  // the socket's port still
  // Without it, the route's source.
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("plain")), &to).ok());
  ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_src(*ip), sc.local());

  // A socket bound to the alias: ipi_spec_dst 0.0.0.0 lets the route choose.
  SocketId bound = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  ASSERT_TRUE(s.so_bind(bound, SockAddr::inet(alias, 0)).ok());
  auto zero = opts_pktinfo(InAddr::any(), 0);
  ASSERT_TRUE(s.so_send_dgram(bound, mb(s, bytes_of("z")), &to, &zero).ok());
  ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_src(*ip), sc.local());

  auto foreign = opts_pktinfo(InAddr::from_octets(198, 51, 100, 1), 0);
  auto r = s.so_send_dgram(so, mb(s, bytes_of("no")), &to, &foreign);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ENETUNREACH);
  EXPECT_FALSE(sc.next_frame().has_value());
}

// ipi_ifindex names the outgoing interface (Linux flowi4_oif): ENODEV when
// there is none of that index, ENETUNREACH when it is down or cannot reach
// a local destination; with no route out of it, the destination is taken
// to be on its link.
TEST(UdpAncillary, PktinfoIfindexChoosesTheInterface) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  InAddr far = InAddr::from_octets(198, 51, 100, 7);
  auto to_far = SockAddr::inet(far, 9);
  // No route to it...
  auto r = s.so_send_dgram(so, mb(s, bytes_of("x")), &to_far);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ENETUNREACH);
  // ...but out of en0 it is on-link: ARP asks for it there.
  auto en0 = opts_pktinfo(InAddr::any(), sc.link().index);
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("x")), &to_far, &en0).ok());
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(load_be16(*f, 12), 0x0806);            // ARP
  EXPECT_EQ(InAddr{load_be32(*f, 14 + 24)}, far);  // target protocol address
  EXPECT_EQ(InAddr{load_be32(*f, 14 + 14)}, sc.local());

  auto none = opts_pktinfo(InAddr::any(), 999);
  r = s.so_send_dgram(so, mb(s, bytes_of("x")), &to_far, &none);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ENODEV);

  // 127.0.0.1 leaves by lo0, not by en0.
  SocketId server = udp_bound(s, 5000);
  set_int(s, server, IPPROTO_IP, IP_PKTINFO, 1);
  auto to_lo = SockAddr::inet(InAddr::loopback(), 5000);
  r = s.so_send_dgram(so, mb(s, bytes_of("x")), &to_lo, &en0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ENETUNREACH);
  auto lo0 = opts_pktinfo(InAddr::any(), s.loopback().index);
  ASSERT_TRUE(s.so_send_dgram(so, mb(s, bytes_of("y")), &to_lo, &lo0).ok());
  auto d = s.so_recv_dgram(server);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.ifindex, s.loopback().index);

  // Down: unreachable through it.
  ASSERT_TRUE(s.if_set_flags(sc.link(), 0, kIffUp).ok());
  r = s.so_send_dgram(so, mb(s, bytes_of("x")), &to_far, &en0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ENETUNREACH);
}

// --- the records, as Linux's ip_cmsg_send checks them --------------------------

TEST(UdpAncillary, ControlMessagesAreCheckedAsLinuxDoes) {
  struct Case {
    const char* what;
    int level, type;
    std::vector<std::byte> data;
    int err;  // 0: accepted
  };
  InAddr any = InAddr::any();
  std::vector<std::byte> tos_byte{std::byte{0x10}};
  const Case cases[] = {
      {"TTL 1", IPPROTO_IP, IP_TTL, int_data(1), 0},
      {"TTL 255", IPPROTO_IP, IP_TTL, int_data(255), 0},
      {"TTL 0", IPPROTO_IP, IP_TTL, int_data(0), EINVAL},
      {"TTL 256", IPPROTO_IP, IP_TTL, int_data(256), EINVAL},
      {"TTL -1", IPPROTO_IP, IP_TTL, int_data(-1), EINVAL},
      {"TTL as a byte", IPPROTO_IP, IP_TTL, tos_byte, EINVAL},
      {"TOS int", IPPROTO_IP, IP_TOS, int_data(0x48), 0},
      {"TOS byte", IPPROTO_IP, IP_TOS, tos_byte, 0},
      {"TOS 256", IPPROTO_IP, IP_TOS, int_data(256), EINVAL},
      {"TOS -1", IPPROTO_IP, IP_TOS, int_data(-1), EINVAL},
      {"TOS 2 bytes", IPPROTO_IP, IP_TOS, std::vector<std::byte>(2), EINVAL},
      {"PKTINFO", IPPROTO_IP, IP_PKTINFO, pktinfo_data(1, any, any), 0},
      {"PKTINFO short", IPPROTO_IP, IP_PKTINFO, std::vector<std::byte>(8), EINVAL},
      {"PKTINFO multicast source", IPPROTO_IP, IP_PKTINFO,
       pktinfo_data(0, InAddr::from_octets(224, 0, 0, 1), any), EINVAL},
      {"PKTINFO broadcast source", IPPROTO_IP, IP_PKTINFO,
       pktinfo_data(0, InAddr::from_octets(255, 255, 255, 255), any), EINVAL},
      {"PKTINFO 0/8 source", IPPROTO_IP, IP_PKTINFO,
       pktinfo_data(0, InAddr::from_octets(0, 1, 2, 3), any), EINVAL},
      {"unknown IP type", IPPROTO_IP, 99, int_data(1), EINVAL},
      {"IP_RETOPTS (not supported)", IPPROTO_IP, IP_RETOPTS, std::vector<std::byte>(4), EINVAL},
      {"another level", SOL_SOCKET, SO_MARK, int_data(1), EINVAL},
  };
  for (const auto& c : cases) {
    DgramSendOpts o;
    auto r = ip_cmsg_send(o, c.level, c.type, c.data);
    EXPECT_EQ(r.ok() ? 0 : r.error().value, c.err) << c.what;
  }
  // The values land where the send will look.
  DgramSendOpts o;
  ASSERT_TRUE(ip_cmsg_send(o, IPPROTO_IP, IP_TTL, int_data(7)).ok());
  ASSERT_TRUE(ip_cmsg_send(o, IPPROTO_IP, IP_TOS, tos_byte).ok());
  ASSERT_TRUE(ip_cmsg_send(o, IPPROTO_IP, IP_PKTINFO,
                           pktinfo_data(3, InAddr::from_octets(192, 0, 2, 1),
                                        InAddr::from_octets(203, 0, 113, 9)))
                  .ok());
  EXPECT_EQ(o.ttl, 7);
  EXPECT_EQ(o.tos, 0x10);
  EXPECT_TRUE(o.pktinfo);
  EXPECT_EQ(o.src, InAddr::from_octets(192, 0, 2, 1));
  EXPECT_EQ(o.ifindex, 3u);
  // A later IP_PKTINFO with ipi_ifindex 0 keeps the interface (Linux sets
  // the output interface only from a non-zero index).
  ASSERT_TRUE(ip_cmsg_send(o, IPPROTO_IP, IP_PKTINFO, pktinfo_data(0, any, any)).ok());
  EXPECT_EQ(o.ifindex, 3u);
  EXPECT_EQ(o.src, any);
}

// --- raw and echo sockets ---------------------------------------------------

// Linux's raw and ping sockets take the same ancillary data (raw_sendmsg,
// ping_v4_sendmsg call ip_cmsg_send; their recvmsg calls ip_cmsg_recv).
TEST(UdpAncillary, RawAndEchoSocketsCarryThemToo) {
  Scenario sc;
  Stack& s = sc.stack();
  know_peer(sc, sc.peer());
  SocketId raw = s.so_create(AF_INET, SOCK_RAW, IPPROTO_ICMP).value();
  set_int(s, raw, IPPROTO_IP, IP_PKTINFO, 1);
  set_int(s, raw, IPPROTO_IP, IP_RECVTTL, 1);
  EXPECT_EQ(get_int(s, raw, IPPROTO_IP, IP_RECVTTL), 1);
  SocketId ping = s.so_create(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).value();
  set_int(s, ping, IPPROTO_IP, IP_RECVTOS, 1);

  // Out: the raw socket's ICMP with TTL 5, the echo socket's with TOS 0x20.
  auto to = SockAddr::inet(sc.peer(), 0);
  auto o = opts_ttl_tos(5, -1);
  ASSERT_TRUE(
      s.so_send_dgram(raw, mb(s, icmp_msg(kIcmpEcho, 0x00010001, bytes_of("r"))), &to, &o).ok());
  auto ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_ttl(*ip), 5);
  auto o2 = opts_ttl_tos(-1, 0x20);
  ASSERT_TRUE(
      s.so_send_dgram(ping, mb(s, icmp_msg(kIcmpEcho, 0x00000001, bytes_of("p"))), &to, &o2).ok());
  ip = next_ip(sc);
  ASSERT_TRUE(ip.has_value());
  EXPECT_EQ(ip_tos(*ip), 0x20);
  EXPECT_EQ(ip_ttl(*ip), 64);
  uint16_t id = load_be16(*ip, 20 + 4);

  // In: the peer's echo reply reaches both, with its header's fields.
  Ip4 reply{sc.peer(),    sc.local(),
            kIpProtoIcmp, 42,
            0x04,         icmp_msg(kIcmpEchoReply, (uint32_t{id} << 16) | 1, bytes_of("p"))};
  inject_ip(sc, reply.build());
  auto d = s.so_recv_dgram(raw);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.ifindex, sc.link().index);
  EXPECT_EQ(d->info.dst, sc.local());
  EXPECT_EQ(d->info.ttl, 42);
  auto e = s.so_recv_dgram(ping);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->info.tos, 0x04);
  EXPECT_EQ(e->info.ttl, 42);
  EXPECT_EQ(e->info.ifindex, sc.link().index);

  // Looped through lo0, a raw socket sees lo0's index.
  auto lo = SockAddr::inet(InAddr::loopback(), 0);
  ASSERT_TRUE(s.so_send_dgram(ping, mb(s, icmp_msg(kIcmpEcho, 2, bytes_of("l"))), &lo).ok());
  bool seen_lo = false;
  for (int i = 0; i < 4; ++i) {
    auto x = s.so_recv_dgram(raw);
    if (!x) {
      break;
    }
    seen_lo =
        seen_lo || (x->info.ifindex == s.loopback().index && x->info.dst == InAddr::loopback());
  }
  EXPECT_TRUE(seen_lo);
}

}  // namespace
}  // namespace iopkt::test
