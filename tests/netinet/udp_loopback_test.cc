// UDP over lo0 through the socket calls, and UDP input from the link:
// demultiplexing, checksums, drops by reason.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/scenario.hh"

namespace iopkt::test {
namespace {

std::string text_of(const Mbuf& m) {
  auto v = m.to_vector();
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

SocketId udp_socket(Stack& s) { return s.so_create(AF_INET, SOCK_DGRAM, 0).value(); }

TEST(UdpLoopback, EchoThroughLo0) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId server = udp_socket(s), client = udp_socket(s);
  ASSERT_TRUE(s.so_bind(server, SockAddr::inet(InAddr::loopback(), 7000)).ok());
  auto msg = Mbuf::copy_from(s.pool(), bytes_of("ping"), 64);
  auto to = SockAddr::inet(InAddr::loopback(), 7000);
  ASSERT_TRUE(s.so_send_dgram(client, std::move(msg), &to).ok());
  auto events = s.take_socket_events();
  ASSERT_EQ(events, std::vector<SocketId>{server});
  auto d = s.so_recv_dgram(server);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(text_of(d->data), "ping");
  EXPECT_EQ(d->from.in, InAddr::loopback());
  auto client_name = s.so_getsockname(client).value();
  EXPECT_EQ(d->from.port, client_name.port);
  EXPECT_GE(client_name.port, 49152);  // RFC 6335 dynamic range, the default
  // Reply to where it came from.
  auto reply = Mbuf::copy_from(s.pool(), bytes_of("pong"), 64);
  ASSERT_TRUE(s.so_send_dgram(server, std::move(reply), &d->from).ok());
  auto r = s.so_recv_dgram(client);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(text_of(r->data), "pong");
  EXPECT_EQ(r->from.port, 7000);
  EXPECT_EQ(s.loopback().stats.opackets, 2u);
  EXPECT_EQ(s.loopback().stats.ipackets, 2u);
  EXPECT_TRUE(sc.take_frames().empty());  // nothing leaves on en0
}

TEST(UdpLoopback, LocalAddressOfAnotherInterfaceGoesThroughLo0) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId server = udp_socket(s), client = udp_socket(s);
  ASSERT_TRUE(s.so_bind(server, SockAddr::inet(InAddr::any(), 9)).ok());
  auto to = SockAddr::inet(sc.local(), 9);
  ASSERT_TRUE(s.so_send_dgram(client, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), &to).ok());
  auto d = s.so_recv_dgram(server);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->from.in, sc.local());  // source = the local destination itself
}

TEST(UdpLoopback, NoSocketCountsNoport) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId client = udp_socket(s);
  auto to = SockAddr::inet(InAddr::loopback(), 4444);
  ASSERT_TRUE(s.so_send_dgram(client, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), &to).ok());
  EXPECT_EQ(s.udp.stat.noport, 1u);
}

TEST(UdpLoopback, BindConflictsFollowLinux) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId a = udp_socket(s), b = udp_socket(s), c = udp_socket(s), d = udp_socket(s);
  ASSERT_TRUE(s.so_bind(a, SockAddr::inet(InAddr::any(), 5000)).ok());
  auto r = s.so_bind(b, SockAddr::inet(InAddr::loopback(), 5000));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, EADDRINUSE);
  int one = 1;
  std::span<const std::byte> on(reinterpret_cast<const std::byte*>(&one), sizeof one);
  ASSERT_TRUE(s.so_setsockopt(c, SOL_SOCKET, SO_REUSEPORT, on).ok());
  ASSERT_TRUE(s.so_setsockopt(d, SOL_SOCKET, SO_REUSEPORT, on).ok());
  ASSERT_TRUE(s.so_bind(c, SockAddr::inet(InAddr::any(), 6000)).ok());
  EXPECT_TRUE(s.so_bind(d, SockAddr::inet(InAddr::any(), 6000)).ok());
  // An address that is not ours.
  SocketId e = udp_socket(s);
  auto bad = s.so_bind(e, SockAddr::inet(InAddr::from_octets(198, 51, 100, 7), 1));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().value, EADDRNOTAVAIL);
}

TEST(UdpLoopback, SendErrorsAsLinux) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  auto r = s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, EDESTADDRREQ);
  auto bcast = SockAddr::inet(InAddr::broadcast(), 9);
  r = s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), &bcast);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, EACCES);
  auto far = SockAddr::inet(InAddr::from_octets(203, 0, 113, 9), 9);
  r = s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), &far);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ENETUNREACH);
  EXPECT_EQ(s.so_create(AF_INET6, SOCK_DGRAM, 0).error().value, EAFNOSUPPORT);
}

TEST(UdpLoopback, ConnectedSocketFiltersSources) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId a = udp_socket(s), b = udp_socket(s), other = udp_socket(s);
  ASSERT_TRUE(s.so_bind(a, SockAddr::inet(InAddr::loopback(), 7100)).ok());
  ASSERT_TRUE(s.so_bind(b, SockAddr::inet(InAddr::loopback(), 7101)).ok());
  ASSERT_TRUE(s.so_connect(a, SockAddr::inet(InAddr::loopback(), 7101)).ok());
  EXPECT_EQ(s.so_getpeername(a).value().port, 7101);
  auto to_a = SockAddr::inet(InAddr::loopback(), 7100);
  ASSERT_TRUE(s.so_send_dgram(other, Mbuf::copy_from(s.pool(), bytes_of("no"), 64), &to_a).ok());
  EXPECT_FALSE(s.so_recv_dgram(a).has_value());
  ASSERT_TRUE(s.so_send_dgram(b, Mbuf::copy_from(s.pool(), bytes_of("yes"), 64), &to_a).ok());
  auto d = s.so_recv_dgram(a);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(text_of(d->data), "yes");
}

TEST(UdpLoopback, FullReceiveBufferDropsAndCounts) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId server = udp_socket(s), client = udp_socket(s);
  int small = 1;  // doubled and raised to the minimum, as Linux
  std::span<const std::byte> v(reinterpret_cast<const std::byte*>(&small), sizeof small);
  ASSERT_TRUE(s.so_setsockopt(server, SOL_SOCKET, SO_RCVBUF, v).ok());
  ASSERT_TRUE(s.so_bind(server, SockAddr::inet(InAddr::loopback(), 7200)).ok());
  auto to = SockAddr::inet(InAddr::loopback(), 7200);
  std::vector<std::byte> kb(1000, std::byte{'a'});
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s.so_send_dgram(client, Mbuf::copy_from(s.pool(), kb, 64), &to).ok());
  }
  EXPECT_EQ(s.so_find(server)->rcv.size(), 2u);  // 2304 bytes hold two
  EXPECT_EQ(s.udp.stat.fullsock, 3u);
}

TEST(UdpInput, FromTheLinkWithChecksums) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId server = udp_socket(s);
  ASSERT_TRUE(s.so_bind(server, SockAddr::inet(InAddr::any(), 53)).ok());
  UdpSpec u{sc.peer(), sc.local(), 40000, 53, bytes_of("query")};
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_udp(u)));
  auto d = s.so_recv_dgram(server);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(text_of(d->data), "query");
  EXPECT_EQ(d->from.in, sc.peer());
  // A flipped payload byte fails the checksum.
  auto bad = build_ipv4_udp(u);
  bad.back() ^= std::byte{1};
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, bad));
  EXPECT_FALSE(s.so_recv_dgram(server).has_value());
  EXPECT_EQ(s.udp.stat.badsum, 1u);
  // Zero checksum means none (RFC 768), accepted.
  u.zero_checksum = true;
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_udp(u)));
  EXPECT_TRUE(s.so_recv_dgram(server).has_value());
  // Ethernet padding beyond the IP total length is ignored.
  auto padded = build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_udp(u));
  padded.resize(padded.size() + 20, std::byte{0x55});
  sc.inject(padded);
  auto p = s.so_recv_dgram(server);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(text_of(p->data), "query");
}

TEST(UdpInput, BroadcastReachesEverySocket) {
  Scenario sc;
  Stack& s = sc.stack();
  int one = 1;
  std::span<const std::byte> on(reinterpret_cast<const std::byte*>(&one), sizeof one);
  SocketId a = udp_socket(s), b = udp_socket(s);
  ASSERT_TRUE(s.so_setsockopt(a, SOL_SOCKET, SO_REUSEADDR, on).ok());
  ASSERT_TRUE(s.so_setsockopt(b, SOL_SOCKET, SO_REUSEADDR, on).ok());
  ASSERT_TRUE(s.so_bind(a, SockAddr::inet(InAddr::any(), 67)).ok());
  ASSERT_TRUE(s.so_bind(b, SockAddr::inet(InAddr::any(), 67)).ok());
  UdpSpec u{sc.peer(), InAddr::from_octets(192, 0, 2, 255), 68, 67, bytes_of("all")};
  std::array<uint8_t, 6> bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  sc.inject(build_ether(bcast, Scenario::kPeerMac, 0x0800, build_ipv4_udp(u)));
  EXPECT_TRUE(s.so_recv_dgram(a).has_value());
  EXPECT_TRUE(s.so_recv_dgram(b).has_value());
}

}  // namespace
}  // namespace iopkt::test
