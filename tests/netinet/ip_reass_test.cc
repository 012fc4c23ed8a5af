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
