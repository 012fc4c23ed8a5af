// The routing table: longest-prefix match, add/remove/change, listing order.
#include "net/route.hh"

#include <gtest/gtest.h>

namespace iopkt {
namespace {

Rtentry route(const char* dst, uint8_t len, uint32_t ifindex) {
  Rtentry rt;
  rt.dst = *InAddr::parse(dst);
  rt.prefixlen = len;
  rt.ifindex = ifindex;
  return rt;
}

TEST(RouteTable, LongestPrefixWins) {
  RouteTable t;
  ASSERT_TRUE(t.add(route("0.0.0.0", 0, 1)).ok());
  ASSERT_TRUE(t.add(route("198.51.100.0", 24, 2)).ok());
  ASSERT_TRUE(t.add(route("198.51.100.128", 25, 3)).ok());
  ASSERT_TRUE(t.add(route("198.51.100.200", 32, 4)).ok());
  EXPECT_EQ(t.lookup(*InAddr::parse("198.51.100.200"))->ifindex, 4u);
  EXPECT_EQ(t.lookup(*InAddr::parse("198.51.100.201"))->ifindex, 3u);
  EXPECT_EQ(t.lookup(*InAddr::parse("198.51.100.1"))->ifindex, 2u);
  EXPECT_EQ(t.lookup(*InAddr::parse("203.0.113.1"))->ifindex, 1u);
  EXPECT_TRUE(t.lookup(*InAddr::parse("198.51.100.200"))->flags & kRtfHost);
}

TEST(RouteTable, NoDefaultMeansNoRoute) {
  RouteTable t;
  ASSERT_TRUE(t.add(route("192.0.2.0", 24, 1)).ok());
  EXPECT_EQ(t.lookup(*InAddr::parse("203.0.113.1")), nullptr);
}

TEST(RouteTable, DestinationIsMaskedAndDuplicatesRefused) {
  RouteTable t;
  ASSERT_TRUE(t.add(route("192.0.2.77", 24, 1)).ok());
  EXPECT_EQ(t.find(*InAddr::parse("192.0.2.0"), 24)->dst, *InAddr::parse("192.0.2.0"));
  EXPECT_EQ(t.add(route("192.0.2.1", 24, 2)).error().value, EEXIST);
  EXPECT_EQ(t.add(route("192.0.2.1", 33, 2)).error().value, EINVAL);
}

TEST(RouteTable, RemoveChangeAndInterfaceCleanup) {
  RouteTable t;
  ASSERT_TRUE(t.add(route("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(t.add(route("198.51.100.0", 24, 2)).ok());
  ASSERT_TRUE(t.add(route("203.0.113.0", 24, 2)).ok());
  auto c = route("192.0.2.0", 24, 5);
  ASSERT_TRUE(t.change(c).ok());
  EXPECT_EQ(t.lookup(*InAddr::parse("192.0.2.9"))->ifindex, 5u);
  EXPECT_EQ(t.change(route("192.0.3.0", 24, 5)).error().value, ESRCH);
  EXPECT_EQ(t.remove_interface(2), 2u);
  EXPECT_EQ(t.size(), 1u);
  ASSERT_TRUE(t.remove(*InAddr::parse("192.0.2.0"), 24).ok());
  EXPECT_EQ(t.remove(*InAddr::parse("192.0.2.0"), 24).error().value, ESRCH);
}

TEST(RouteTable, ListsLongestFirstThenByAddress) {
  RouteTable t;
  ASSERT_TRUE(t.add(route("0.0.0.0", 0, 1)).ok());
  ASSERT_TRUE(t.add(route("203.0.113.0", 24, 1)).ok());
  ASSERT_TRUE(t.add(route("192.0.2.0", 24, 1)).ok());
  ASSERT_TRUE(t.add(route("192.0.2.5", 32, 1)).ok());
  auto l = t.list();
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].prefixlen, 32);
  EXPECT_EQ(l[1].dst, *InAddr::parse("192.0.2.0"));
  EXPECT_EQ(l[2].dst, *InAddr::parse("203.0.113.0"));
  EXPECT_EQ(l[3].prefixlen, 0);
}

}  // namespace
}  // namespace iopkt
