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
