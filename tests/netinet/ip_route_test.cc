// Routing IPv4 output: connected routes follow addresses, gateway routes
// send to the gateway's link address, reject and blackhole routes, routes
// through a down interface, and per-FIB tables.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "net/route.hh"
#include "netinet/ip_var.hh"

namespace iopkt::test {
namespace {

Result<void, Errno> send_to(Scenario& sc, InAddr dst) {
  Stack& s = sc.stack();
  SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
  auto to = SockAddr::inet(dst, 9);
  return s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("x"), 64), &to);
}

// The target address of an ARP request frame, or nullopt.
std::optional<InAddr> arp_target(const std::vector<std::byte>& f) {
  if (f.size() < 42 || load_be16(f, 12) != 0x0806) {
    return std::nullopt;
  }
  return InAddr{load_be32(f, 14 + 24)};
}

TEST(IpRoute, ConnectedRouteFollowsTheAddress) {
  Scenario sc;
  Stack& s = sc.stack();
  const Rtentry* rt = s.rt.fib(0).find(InAddr::from_octets(192, 0, 2, 0), 24);
  ASSERT_NE(rt, nullptr);
  EXPECT_TRUE(rt->flags & kRtfConnected);
  EXPECT_EQ(rt->ifindex, sc.link().index);
  ASSERT_TRUE(s.in_control_delete(sc.link(), sc.local()).ok());
  EXPECT_EQ(s.rt.fib(0).find(InAddr::from_octets(192, 0, 2, 0), 24), nullptr);
  EXPECT_EQ(send_to(sc, sc.peer()).error().value, ENETUNREACH);
}

TEST(IpRoute, GatewayRouteResolvesTheGateway) {
  Scenario sc;
  Stack& s = sc.stack();
  Rtentry def;
  def.gateway = InAddr::from_octets(192, 0, 2, 254);
  def.flags = kRtfGateway;
  ASSERT_TRUE(in_route_add(s, 0, def).ok());
  ASSERT_TRUE(send_to(sc, InAddr::from_octets(203, 0, 113, 9)).ok());
  auto f = sc.next_frame();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(arp_target(*f), InAddr::from_octets(192, 0, 2, 254));  // ARP for the gateway
  // A gateway that is not on a connected subnet is refused, as BSD does.
  Rtentry far;
  far.dst = InAddr::from_octets(198, 51, 100, 0);
  far.prefixlen = 24;
  far.gateway = InAddr::from_octets(203, 0, 113, 1);
  far.flags = kRtfGateway;
  EXPECT_EQ(in_route_add(s, 0, far).error().value, ENETUNREACH);
}

TEST(IpRoute, RejectBlackholeAndDownInterface) {
  Scenario sc;
  Stack& s = sc.stack();
  Rtentry rej;
  rej.dst = InAddr::from_octets(198, 51, 100, 0);
  rej.prefixlen = 24;
  rej.flags = kRtfReject;
  ASSERT_TRUE(in_route_add(s, 0, rej).ok());
  EXPECT_EQ(send_to(sc, InAddr::from_octets(198, 51, 100, 1)).error().value, EHOSTUNREACH);
  Rtentry bh;
  bh.dst = InAddr::from_octets(203, 0, 113, 0);
  bh.prefixlen = 24;
  bh.flags = kRtfBlackhole;
  ASSERT_TRUE(in_route_add(s, 0, bh).ok());
  EXPECT_TRUE(send_to(sc, InAddr::from_octets(203, 0, 113, 1)).ok());
  EXPECT_FALSE(sc.next_frame().has_value());  // dropped without a word
  ASSERT_TRUE(s.if_set_flags(sc.link(), 0, kIffUp).ok());
  EXPECT_EQ(send_to(sc, sc.peer()).error().value, EHOSTUNREACH);
  EXPECT_EQ(s.rt.stat.reject, 2u);
}

TEST(IpRoute, FibsAreSeparateTables) {
  Scenario sc;
  Stack& s = sc.stack();
  Rtentry def;
  def.gateway = InAddr::from_octets(192, 0, 2, 254);
  def.flags = kRtfGateway;
  def.ifindex = sc.link().index;
  ASSERT_TRUE(in_route_add(s, 3, def).ok());
  EXPECT_FALSE(ip_route_lookup(s, InAddr::from_octets(203, 0, 113, 1), 0).ok());
  auto r = ip_route_lookup(s, InAddr::from_octets(203, 0, 113, 1), 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nexthop, InAddr::from_octets(192, 0, 2, 254));
  EXPECT_EQ(r->src, sc.local());
  EXPECT_EQ(in_route_add(s, kMaxFibs, def).error().value, EINVAL);
}

TEST(IpRoute, DetachRemovesTheInterfaceRoutes) {
  Scenario sc;
  Stack& s = sc.stack();
  Rtentry def;
  def.gateway = InAddr::from_octets(192, 0, 2, 254);
  def.flags = kRtfGateway;
  ASSERT_TRUE(in_route_add(s, 0, def).ok());
  EXPECT_EQ(s.rt.fib(0).size(), 2u);
  ASSERT_TRUE(s.if_detach("en0").ok());
  EXPECT_EQ(s.rt.fib(0).size(), 0u);
}

}  // namespace
}  // namespace iopkt::test
