// IPv4 reassembly scenarios, RFC 791 §3.2 and ROBUSTNESS.md §2 "IPv4 frags":
// order, overlaps, duplicates, time-outs, limits, tiny fragments.
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

SocketId bound_udp(Stack& s, uint16_t port) {
  SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  EXPECT_TRUE(s.so_bind(so, SockAddr::inet(InAddr::any(), port)).ok());
  return so;
}

// Cuts the IP payload `data` into fragments at the given byte offsets (each
// a multiple of 8), all with one id.
std::vector<std::vector<std::byte>> fragments(Scenario& sc, uint8_t proto, uint16_t id,
                                              const std::vector<std::byte>& data,
                                              std::vector<size_t> cuts) {
  cuts.push_back(data.size());
  std::vector<std::vector<std::byte>> out;
  size_t from = 0;
  for (size_t cut : cuts) {
    Ip4 p;
    p.src = sc.peer();
    p.dst = sc.local();
    p.proto = proto;
    p.id = id;
    p.frag = static_cast<uint16_t>((from / 8) | (cut < data.size() ? IpHeader::kFlagMf : 0));
    p.payload.assign(data.begin() + static_cast<ptrdiff_t>(from),
                     data.begin() + static_cast<ptrdiff_t>(cut));
    out.push_back(p.build());
    from = cut;
  }
  return out;
}

// One fragment with explicit fields.
std::vector<std::byte> frag(Scenario& sc, uint8_t proto, uint16_t id, size_t off, bool mf,
                            std::vector<std::byte> payload) {
  Ip4 p;
  p.src = sc.peer();
  p.dst = sc.local();
  p.proto = proto;
  p.id = id;
  p.frag = static_cast<uint16_t>((off / 8) | (mf ? IpHeader::kFlagMf : 0));
  p.payload = std::move(payload);
  return p.build();
}

// RFC 791 §3.2: fragments may arrive in any order.
TEST(IpReass, OutOfOrderFragmentsReassemble) {
  Scenario sc;
  Stack& s = sc.stack();
  uint64_t clusters = s.pool().stats().clusters_in_use;
  SocketId so = bound_udp(s, 9);
  auto data = bytes_n(3000, 5);
  auto frags =
      fragments(sc, kIpProtoUdp, 77, udp_seg(sc.peer(), sc.local(), 1000, 9, data), {1480, 2960});
  inject_ip(sc, frags[2]);
  inject_ip(sc, frags[0]);
  EXPECT_FALSE(s.so_recv_dgram(so).has_value());
  EXPECT_NE(sysctl_get(s, "net.inet.ip.fragmem"), "0");
  inject_ip(sc, frags[1]);
  auto d = s.so_recv_dgram(so);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->data.to_vector(), data);
  EXPECT_EQ(s.ip.stat.fragments, 3u);
  EXPECT_EQ(s.ip.stat.reassembled, 1u);
  EXPECT_EQ(s.ip.stat.fragdropped, 0u);
  EXPECT_EQ(sysctl_get(s, "net.inet.ip.fragmem"), "0");
  EXPECT_TRUE(s.ip.reass.queues.empty());
  d.reset();
  s.so_close(so);
  EXPECT_EQ(s.pool().stats().clusters_in_use, clusters);
}

// Linux ≥ 4.19, ROBUSTNESS §2: overlapping fragments drop the datagram.
TEST(IpReass, OverlapDropsTheWholeDatagram) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = bound_udp(s, 9);
  auto seg = udp_seg(sc.peer(), sc.local(), 1000, 9, bytes_n(2000));
  auto frags = fragments(sc, kIpProtoUdp, 5, seg, {1000});
  inject_ip(sc, frags[0]);
  // Bytes 992..1999 again, overlapping the first fragment's last 8.
  inject_ip(sc, frag(sc, kIpProtoUdp, 5, 992, false,
                     std::vector<std::byte>(seg.begin() + 992, seg.end())));
  EXPECT_EQ(s.ip.stat.fragoverlap, 1u);
  EXPECT_EQ(s.ip.stat.fragdropped, 2u);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  // The rest alone does not complete anything.
  inject_ip(sc, frags[1]);
  EXPECT_FALSE(s.so_recv_dgram(so).has_value());
  EXPECT_EQ(s.ip.stat.reassembled, 0u);
}

TEST(IpReass, ExactDuplicatesAreHarmless) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = bound_udp(s, 9);
  auto data = bytes_n(1500);
  auto frags = fragments(sc, kIpProtoUdp, 6, udp_seg(sc.peer(), sc.local(), 1000, 9, data), {800});
  inject_ip(sc, frags[0]);
  inject_ip(sc, frags[0]);
  inject_ip(sc, frags[1]);
  auto d = s.so_recv_dgram(so);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->data.to_vector(), data);
  EXPECT_EQ(s.ip.stat.fragdup, 1u);
  EXPECT_EQ(s.ip.stat.reassembled, 1u);
}

// RFC 792 / RFC 1122 §3.3.2: time exceeded, code 1, quoting fragment zero,
// once net.inet.ip.fragttl (30 s) has passed; the memory comes back.
TEST(IpReass, TimeoutSendsTimeExceededWhenFragmentZeroArrived) {
  Scenario sc;
  Stack& s = sc.stack();
  uint64_t clusters = s.pool().stats().clusters_in_use;
  learn_peer(sc);
  auto frags =
      fragments(sc, kIpProtoUdp, 9, udp_seg(sc.peer(), sc.local(), 1000, 9, bytes_n(600)), {256});
  inject_ip(sc, frags[0]);
  sc.advance(29s);
  EXPECT_TRUE(sc.take_frames().empty());
  sc.advance(2s);
  auto icmp = expect_icmp_to_peer(sc);
  ASSERT_EQ(icmp.size(), 8 + frags[0].size());
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), kIcmpTimeExceeded);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), kIcmpTimxceedReass);
  EXPECT_TRUE(std::equal(frags[0].begin(), frags[0].end(), icmp.begin() + 8));
  EXPECT_EQ(s.ip.stat.fragtimeout, 1u);
  EXPECT_EQ(s.ip.stat.fragdropped, 1u);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  EXPECT_EQ(s.pool().stats().clusters_in_use, clusters);
}

TEST(IpReass, TimeoutWithoutFragmentZeroIsSilent) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  sysctl_set(s, "net.inet.ip.fragttl", "5");
  auto frags =
      fragments(sc, kIpProtoUdp, 9, udp_seg(sc.peer(), sc.local(), 1000, 9, bytes_n(600)), {256});
  inject_ip(sc, frags[1]);
  sc.advance(6s);
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_EQ(s.ip.stat.fragtimeout, 1u);
  EXPECT_EQ(s.ip.icmp.stat.error, 0u);
}

// RFC 791 §3.1: no datagram beyond 65535 bytes (the "ping of death").
TEST(IpReass, DatagramBeyond65535IsDropped) {
  Scenario sc;
  Stack& s = sc.stack();
  inject_ip(sc, frag(sc, kIpProtoIcmp, 3, 0, true, bytes_n(1480)));
  inject_ip(sc, frag(sc, kIpProtoIcmp, 3, 65512, false, bytes_n(40)));
  EXPECT_EQ(s.ip.stat.fragtoolong, 1u);
  EXPECT_EQ(s.ip.stat.fragdropped, 2u);  // the held one goes too
  EXPECT_TRUE(s.ip.reass.queues.empty());
}

TEST(IpReass, BadAndInconsistentFragmentsAreDropped) {
  Scenario sc;
  Stack& s = sc.stack();
  // Zero-length, and a non-last fragment whose length is not a multiple of 8.
  inject_ip(sc, frag(sc, kIpProtoUdp, 1, 8, true, {}));
  inject_ip(sc, frag(sc, kIpProtoUdp, 1, 0, true, bytes_n(12)));
  EXPECT_EQ(s.ip.stat.fragbad, 2u);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  // Two last fragments disagreeing on the end; then a fragment beyond it.
  inject_ip(sc, frag(sc, kIpProtoUdp, 2, 800, false, bytes_n(100)));
  inject_ip(sc, frag(sc, kIpProtoUdp, 2, 800, false, bytes_n(60)));
  EXPECT_EQ(s.ip.stat.fragbad, 3u);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  inject_ip(sc, frag(sc, kIpProtoUdp, 3, 800, false, bytes_n(100)));
  inject_ip(sc, frag(sc, kIpProtoUdp, 3, 896, true, bytes_n(16)));
  EXPECT_EQ(s.ip.stat.fragbad, 4u);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  EXPECT_EQ(s.ip.stat.fragdropped, 6u);
}

// RFC 1858 §3.2, RFC 3128: TCP fragments at offset 8, and first fragments
// too short for the TCP header.
TEST(IpReass, TinyTcpFragmentsAreDropped) {
  Scenario sc;
  Stack& s = sc.stack();
  inject_ip(sc, frag(sc, kIpProtoTcp, 1, 8, false, bytes_n(20)));
  inject_ip(sc, frag(sc, kIpProtoTcp, 2, 0, true, bytes_n(16)));
  EXPECT_EQ(s.ip.stat.fragtiny, 2u);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  // The same shapes for UDP are fine.
  inject_ip(sc, frag(sc, kIpProtoUdp, 1, 8, false, bytes_n(20)));
  EXPECT_EQ(s.ip.reass.queues.size(), 1u);
}

// FragmentSmack (CVE-2018-5391): memory, queues and fragments per queue are
// bounded, each with its counter; the memory is given back.
TEST(IpReass, FloodsAreBounded) {
  Scenario sc;
  Stack& s = sc.stack();
  uint64_t clusters = s.pool().stats().clusters_in_use;
  sysctl_set(s, "net.inet.ip.maxfragmem", "50000");
  for (uint16_t id = 0; id < 100; ++id) {
    // Not fragment zero: the time-out below is silent.
    inject_ip(sc, frag(sc, kIpProtoUdp, id, 8, true, bytes_n(8)));
  }
  EXPECT_GT(s.ip.stat.fragmemdrop, 0u);
  EXPECT_LE(std::stoul(sysctl_get(s, "net.inet.ip.fragmem")), 50000u);
  EXPECT_EQ(s.ip.stat.fragmemdrop + s.ip.reass.queues.size(), 100u);
  sc.advance(31s);
  EXPECT_TRUE(s.ip.reass.queues.empty());
  EXPECT_EQ(sysctl_get(s, "net.inet.ip.fragmem"), "0");
  EXPECT_TRUE(sc.take_frames().empty());
  EXPECT_EQ(s.pool().stats().clusters_in_use, clusters);
  // The number of datagrams in reassembly.
  sysctl_set(s, "net.inet.ip.maxfragmem", "4194304");
  sysctl_set(s, "net.inet.ip.maxfragpackets", "4");
  uint64_t before = s.ip.stat.fragmemdrop;
  for (uint16_t id = 0; id < 6; ++id) {
    inject_ip(sc, frag(sc, kIpProtoUdp, id, 0, true, bytes_n(8)));
  }
  EXPECT_EQ(s.ip.reass.queues.size(), 4u);
  EXPECT_EQ(s.ip.stat.fragmemdrop - before, 2u);
  // Fragments per datagram: the one too many drops the datagram.
  sysctl_set(s, "net.inet.ip.maxfragpackets", "5");
  sysctl_set(s, "net.inet.ip.maxfragsperpacket", "3");
  for (size_t k = 0; k < 4; ++k) {
    inject_ip(sc, frag(sc, kIpProtoUdp, 1000, 16 * (k + 1), true, bytes_n(8)));
  }
  EXPECT_EQ(s.ip.stat.fragmemdrop - before, 3u);
  EXPECT_EQ(s.ip.reass.queues.size(), 4u);  // ids 0..3; 1000 was given up
  EXPECT_EQ(s.ip.stat.fragdropped, 100u + 2u + 4u);
}

// "Fragments of any protocol reassemble before delivery": a fragmented echo
// request is answered, and the reply, larger than the MTU, leaves in
// fragments.
TEST(IpReass, FragmentedEchoRequestGetsAFragmentedReply) {
  Scenario sc;
  Stack& s = sc.stack();
  learn_peer(sc);
  auto data = bytes_n(4000, 1);
  auto msg = icmp_msg(kIcmpEcho, 0, 0x4242'0001, data);
  for (const auto& f : fragments(sc, kIpProtoIcmp, 11, msg, {1480, 2960})) {
    inject_ip(sc, f);
  }
  EXPECT_EQ(s.ip.stat.reassembled, 1u);
  auto frames = sc.take_frames();
  ASSERT_EQ(frames.size(), 3u);
  std::vector<std::byte> reply;
  for (const auto& f : frames) {
    auto ip = as_ip(f);
    ASSERT_TRUE(ip.has_value());
    EXPECT_LE(ip->ip.size(), 1500u);
    EXPECT_EQ(static_cast<size_t>(ip->frag & IpHeader::kOffMask) * 8, reply.size());
    reply.insert(reply.end(), ip->payload().begin(), ip->payload().end());
  }
  ASSERT_EQ(reply.size(), msg.size());
  EXPECT_EQ(std::to_integer<uint8_t>(reply[0]), kIcmpEchoReply);
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, reply)), 0);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), reply.begin() + 8));
}

}  // namespace
}  // namespace iopkt::test
