// The stack instance: lo0, interfaces, addresses, flags through the driver
// hooks, sysctl nodes, the pool counts after traffic.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/scenario.hh"

namespace iopkt::test {
namespace {

TEST(Stack, Lo0ComesUpWithItsAddresses) {
  for (int variant : {4, 6}) {
    Scenario sc({.variant = variant, .with_link = false});
    Ifnet& lo = sc.stack().loopback();
    EXPECT_EQ(lo.name, "lo0");
    EXPECT_EQ(lo.flags & (kIffUp | kIffRunning | kIffLoopback),
              kIffUp | kIffRunning | kIffLoopback);
    ASSERT_EQ(lo.in_addrs.size(), 1u);
    EXPECT_EQ(lo.in_addrs[0].addr, InAddr::loopback());
    EXPECT_EQ(lo.in_addrs[0].prefixlen, 8);
    EXPECT_EQ(lo.in6_addrs.size(), variant == 6 ? 1u : 0u);
    EXPECT_FALSE(sc.stack().if_detach("lo0").ok());
  }
}

TEST(Stack, InterfaceNamesUnitsAndDetach) {
  Scenario sc({.with_link = false});
  Stack& s = sc.stack();
  IfAttachArgs a;
  a.prefix = "vw";
  a.mtu = 1500;
  a.max_mtu = 1500;
  EXPECT_EQ(s.if_attach(a).value()->name, "vw0");
  EXPECT_EQ(s.if_attach(a).value()->name, "vw1");
  a.unit = 7;
  EXPECT_EQ(s.if_attach(a).value()->name, "vw7");
  EXPECT_FALSE(s.if_attach(a).ok());  // vw7 taken
  a.unit = -1;
  a.prefix = "bad name";
  EXPECT_FALSE(s.if_attach(a).ok());
  a.prefix = "vw";
  a.mtu = 20;
  EXPECT_FALSE(s.if_attach(a).ok());
  uint32_t idx = s.if_find("vw1")->index;
  ASSERT_TRUE(s.if_detach("vw1").ok());
  EXPECT_EQ(s.if_find("vw1"), nullptr);
  EXPECT_EQ(s.if_by_index(idx), nullptr);
  EXPECT_EQ(s.if_detach("vw1").error().value, ENXIO);
  a.mtu = 1500;
  EXPECT_EQ(s.if_attach(a).value()->name, "vw1");  // the free unit is reused
  EXPECT_NE(s.if_find("vw1")->index, idx);         // the index is not
}

TEST(Stack, FlagsAndMtuGoThroughTheDriver) {
  Scenario sc;
  Stack& s = sc.stack();
  Ifnet& en = sc.link();
  ASSERT_TRUE(en.is_up());  // the address brought it up
  ASSERT_TRUE(s.if_set_flags(en, 0, kIffUp).ok());
  EXPECT_FALSE(en.is_up());
  EXPECT_EQ(en.flags & kIffRunning, 0u);
  ASSERT_FALSE(sc.driver().flag_calls.empty());
  EXPECT_EQ(sc.driver().flag_calls.back().second & kIffUp, 0u);
  EXPECT_EQ(s.if_set_flags(en, kIffLoopback, 0).error().value, EINVAL);  // not the user's
  ASSERT_TRUE(s.if_set_mtu(en, 9000).ok());
  EXPECT_EQ(en.mtu, 9000u);
  EXPECT_EQ(s.if_set_mtu(en, 9001).error().value, EINVAL);
  sc.driver().refuse_errno = EIO;
  EXPECT_EQ(s.if_set_mtu(en, 1400).error().value, EIO);
  EXPECT_EQ(en.mtu, 9000u);  // unchanged when the driver refuses
}

TEST(Stack, AddressesReplaceAliasAndDelete) {
  Scenario sc;
  Stack& s = sc.stack();
  Ifnet& en = sc.link();
  auto b = InAddr::from_octets(198, 51, 100, 1);
  ASSERT_TRUE(s.in_control_add(en, InIfaddr{b, 24, {}}, false).ok());
  ASSERT_EQ(en.in_addrs.size(), 1u);  // replaced the primary
  EXPECT_EQ(en.in_addrs[0].addr, b);
  EXPECT_EQ(en.in_addrs[0].broadcast, InAddr::from_octets(198, 51, 100, 255));
  ASSERT_TRUE(s.in_control_add(en, InIfaddr{sc.local(), 24, {}}, true).ok());
  EXPECT_EQ(en.in_addrs.size(), 2u);
  EXPECT_EQ(s.in_control_add(en, InIfaddr{sc.local(), 24, {}}, true).error().value, EEXIST);
  EXPECT_EQ(s.in_control_add(en, InIfaddr{InAddr::loopback(), 8, {}}, true).error().value, EEXIST);
  ASSERT_TRUE(s.in_control_delete(en, b).ok());
  EXPECT_EQ(s.in_control_delete(en, b).error().value, EADDRNOTAVAIL);
  EXPECT_EQ(
      s.in6_control_add(en, In6Ifaddr{*In6Addr::parse("2001:db8::1"), 64, 0}, true).error().value,
      EAFNOSUPPORT);  // v4-hc
}

TEST(Stack, CountersAndOptionsShowInSysctl) {
  Scenario sc;
  Stack& s = sc.stack();
  EXPECT_EQ(s.sysctl().get("net.inet.ip.ttl").value(), "64");
  ASSERT_TRUE(s.sysctl().set("net.inet.ip.ttl", "33").ok());
  EXPECT_EQ(s.so_find(s.so_create(AF_INET, SOCK_DGRAM, 0).value())->ip_ttl, 33);
  EXPECT_EQ(s.sysctl().get("kern.mbuf.mclbytes").value(), "2048");
  sc.inject(std::vector<std::byte>(30, std::byte{0}));
  EXPECT_FALSE(s.sysctl().set("net.inet.ip.stats.total", "5").ok());
}

TEST(Stack, PoolCountsReturnAfterTraffic) {
  Scenario sc;
  Stack& s = sc.stack();
  auto before = s.pool().stats();
  {
    SocketId a = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
    SocketId b = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
    ASSERT_TRUE(s.so_bind(b, SockAddr::inet(InAddr::loopback(), 1234)).ok());
    auto to = SockAddr::inet(InAddr::loopback(), 1234);
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(s.so_send_dgram(a, Mbuf::copy_from(s.pool(), bytes_of("abc"), 64), &to).ok());
    }
    EXPECT_GT(s.pool().stats().clusters_in_use, before.clusters_in_use);
    s.so_close(b);  // frees what was queued
    s.so_close(a);
  }
  EXPECT_EQ(s.pool().stats().clusters_in_use, before.clusters_in_use);
  EXPECT_EQ(s.pool().stats().mbufs_in_use, before.mbufs_in_use);
}

}  // namespace
}  // namespace iopkt::test
