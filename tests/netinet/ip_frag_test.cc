// IPv4 fragmentation on output, RFC 791 §3.2: by the route MTU, offsets,
// options in later fragments, DF, and 60000-byte datagrams over lo0.
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

SocketId udp_socket(Stack& s) { return s.so_create(AF_INET, SOCK_DGRAM, 0).value(); }

// RFC 791 §3.2: by the route's MTU, 8-byte aligned offsets, MF on all but
// the last, one id.
TEST(IpFrag, UdpLargerThanTheMtuLeavesInFragments) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId so = udp_socket(s);
  auto data = bytes_n(4000, 9);
  auto to = SockAddr::inet(sc.peer(), 7);
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), data, 64), &to).ok());
  auto frames = sc.take_frames();
  ASSERT_EQ(frames.size(), 3u);
  std::vector<std::byte> whole;
  uint16_t id = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    auto ip = as_ip(frames[i]);
    ASSERT_TRUE(ip.has_value());
    EXPECT_LE(ip->ip.size(), 1500u);
    if (i == 0) {
      id = ip->id;
    }
    EXPECT_EQ(ip->id, id);
    EXPECT_EQ(static_cast<size_t>(ip->frag & IpHeader::kOffMask) * 8, whole.size());
    EXPECT_EQ((ip->frag & IpHeader::kFlagMf) != 0, i + 1 < frames.size());
    if (i + 1 < frames.size()) {
      EXPECT_EQ(ip->payload().size() % 8, 0u);
    }
    whole.insert(whole.end(), ip->payload().begin(), ip->payload().end());
  }
  ASSERT_EQ(whole.size(), 8 + data.size());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), whole.begin() + 8));
  EXPECT_EQ(s.ip.stat.fragmented, 1u);
  EXPECT_EQ(s.ip.stat.ofragments, 3u);
  // A smaller interface MTU makes smaller fragments.
  ASSERT_TRUE(s.if_set_mtu(sc.link(), 576).ok());
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), data, 64), &to).ok());
  frames = sc.take_frames();
  EXPECT_EQ(frames.size(), 8u);  // 4008 bytes in 552-byte pieces
  for (const auto& f : frames) {
    EXPECT_LE(as_ip(f)->ip.size(), 576u);
  }
}

// The loopback's MTU is 33192: a 60000-byte datagram fragments and
// reassembles, end to end through sockets; up to 65507 bytes are allowed.
TEST(IpFrag, SixtyThousandBytesOverLo0) {
  Scenario sc;
  Stack& s = sc.stack();
  uint64_t clusters = s.pool().stats().clusters_in_use;
  SocketId server = udp_socket(s), client = udp_socket(s);
  ASSERT_TRUE(s.so_bind(server, SockAddr::inet(InAddr::loopback(), 7000)).ok());
  auto to = SockAddr::inet(InAddr::loopback(), 7000);
  auto data = bytes_n(60000, 4);
  ASSERT_TRUE(s.so_send_dgram(client, Mbuf::copy_from(s.pool(), data, 64), &to).ok());
  auto d = s.so_recv_dgram(server);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->data.to_vector(), data);
  EXPECT_EQ(s.ip.stat.fragmented, 1u);
  EXPECT_EQ(s.ip.stat.ofragments, 2u);
  EXPECT_EQ(s.ip.stat.reassembled, 1u);
  EXPECT_EQ(s.loopback().stats.opackets, 2u);
  // The largest UDP payload over IPv4, and one byte more.
  ASSERT_TRUE(s.so_send_dgram(client, Mbuf::copy_from(s.pool(), bytes_n(65507), 64), &to).ok());
  auto big = s.so_recv_dgram(server);
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->data.len(), 65507u);
  auto r = s.so_send_dgram(client, Mbuf::copy_from(s.pool(), bytes_n(65508), 64), &to);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, EMSGSIZE);
  d.reset();
  big.reset();
  s.so_close(server);
  s.so_close(client);
  EXPECT_EQ(s.pool().stats().clusters_in_use, clusters);
}

std::vector<std::byte> hdrincl_packet(Scenario& sc, uint16_t frag, std::vector<std::byte> options,
                                      size_t payload) {
  Ip4 p;
  p.src = sc.local();
  p.dst = sc.peer();
  p.proto = 253;
  p.id = 0x5151;
  p.frag = frag;
  p.options = std::move(options);
  p.payload = bytes_n(payload);
  return p.build();
}

// RFC 1191 §3: DF set and too big: the local sender gets EMSGSIZE.
TEST(IpFrag, DontFragmentIsEmsgsize) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId raw = s.so_create(AF_INET, SOCK_RAW, IPPROTO_RAW).value();
  auto to = SockAddr::inet(sc.peer(), 0);
  auto r = s.so_send_dgram(
      raw, Mbuf::copy_from(s.pool(), hdrincl_packet(sc, IpHeader::kFlagDf, {}, 3000), 64), &to);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, EMSGSIZE);
  EXPECT_EQ(s.ip.stat.cantfrag, 1u);
  EXPECT_TRUE(sc.take_frames().empty());
  // Without DF it goes, in fragments.
  ASSERT_TRUE(
      s.so_send_dgram(raw, Mbuf::copy_from(s.pool(), hdrincl_packet(sc, 0, {}, 3000), 64), &to)
          .ok());
  EXPECT_EQ(sc.take_frames().size(), 3u);
}

// RFC 791 §3.2: options with the copied flag go in every fragment, the
// others only in the first.
TEST(IpFrag, OnlyCopiedOptionsRepeatInLaterFragments) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  SocketId raw = s.so_create(AF_INET, SOCK_RAW, IPPROTO_RAW).value();
  auto to = SockAddr::inet(sc.peer(), 0);
  // Router alert (148, copied), then record route (7, not copied), EOL.
  std::vector<std::byte> opts{std::byte{148}, std::byte{4}, std::byte{0}, std::byte{0},
                              std::byte{7},   std::byte{7}, std::byte{4}, std::byte{0},
                              std::byte{0},   std::byte{0}, std::byte{0}, std::byte{0}};
  ASSERT_TRUE(
      s.so_send_dgram(raw, Mbuf::copy_from(s.pool(), hdrincl_packet(sc, 0, opts, 2000), 64), &to)
          .ok());
  auto frames = sc.take_frames();
  ASSERT_EQ(frames.size(), 2u);
  auto a = as_ip(frames[0]), b = as_ip(frames[1]);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->hlen, 32u);
  EXPECT_TRUE(std::equal(opts.begin(), opts.end(), a->ip.begin() + 20));
  EXPECT_EQ(b->hlen, 24u);
  EXPECT_EQ(std::to_integer<uint8_t>(b->ip[20]), 148);
  EXPECT_EQ(a->payload().size() + b->payload().size(), 2000u);
  EXPECT_EQ(a->payload().size() % 8, 0u);
  EXPECT_EQ(static_cast<size_t>(b->frag & IpHeader::kOffMask) * 8, a->payload().size());
}

}  // namespace
}  // namespace iopkt::test
