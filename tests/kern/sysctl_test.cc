// tests/kern/sysctl_test.cc — the sysctl tree: names, integer parsing and
// ranges, read-only nodes, errno values, prefixes and listing order.
#include "kern/sysctl.hh"

#include <gtest/gtest.h>

#include <cerrno>

namespace iopkt {
namespace {

int err(const Result<void, Errno>& r) { return r.ok() ? 0 : r.error().value; }

TEST(Sysctl, IntNodeGetsAndSetsDecimalAndHex) {
  SysctlTree t;
  int64_t ttl = 64;
  ASSERT_TRUE(t.add_int("net.inet.ip.ttl", &ttl, 1, 255, "default IPv4 TTL", true).ok());
  auto v = t.get("net.inet.ip.ttl");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "64");
  EXPECT_EQ(err(t.set("net.inet.ip.ttl", "128")), 0);
  EXPECT_EQ(ttl, 128);
  EXPECT_EQ(err(t.set("net.inet.ip.ttl", "0x20")), 0);
  EXPECT_EQ(ttl, 32);
  EXPECT_EQ(err(t.set("net.inet.ip.ttl", "0XfF")), 0);
  EXPECT_EQ(ttl, 255);
  EXPECT_EQ(*t.get("net.inet.ip.ttl"), "255");
}

TEST(Sysctl, IntNodeRejectsJunkAndOutOfRange) {
  SysctlTree t;
  int64_t ttl = 64;
  ASSERT_TRUE(t.add_int("net.inet.ip.ttl", &ttl, 1, 255, "", true).ok());
  for (const char* bad : {"", "abc", "12abc", " 12", "12 ", "0x", "--1", "+-1", "1.5", "0x1g",
                          "256", "0", "-1", "99999999999999999999999"}) {
    EXPECT_EQ(err(t.set("net.inet.ip.ttl", bad)), EINVAL) << '"' << bad << '"';
  }
  EXPECT_EQ(ttl, 64);  // untouched by every refusal
  EXPECT_EQ(err(t.set("net.inet.ip.ttl", "+1")), 0);
  EXPECT_EQ(ttl, 1);
  EXPECT_EQ(err(t.set("net.inet.ip.ttl", "255")), 0);
  EXPECT_EQ(ttl, 255);
}

TEST(Sysctl, ParseIntEdges) {
  EXPECT_EQ(*sysctl_parse_int("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(*sysctl_parse_int("9223372036854775807"), INT64_MAX);
  EXPECT_FALSE(sysctl_parse_int("9223372036854775808").ok());
  EXPECT_FALSE(sysctl_parse_int("-9223372036854775809").ok());
  EXPECT_EQ(*sysctl_parse_int("-0x10"), -16);
  EXPECT_EQ(*sysctl_parse_int("007"), 7);
}

TEST(Sysctl, Int32NodeIsClampedToItsType) {
  SysctlTree t;
  int32_t v = 5;
  ASSERT_TRUE(t.add_int("kern.x", &v, INT64_MIN, INT64_MAX, "", true).ok());
  EXPECT_EQ(t.find("kern.x")->max, INT32_MAX);
  EXPECT_EQ(t.find("kern.x")->min, INT32_MIN);
  EXPECT_EQ(err(t.set("kern.x", "2147483648")), EINVAL);
  EXPECT_EQ(err(t.set("kern.x", "-2147483648")), 0);
  EXPECT_EQ(v, INT32_MIN);
  EXPECT_EQ(*t.get("kern.x"), "-2147483648");
}

TEST(Sysctl, ReadOnlyAndUnknown) {
  SysctlTree t;
  int64_t fixed = 3;
  uint64_t counter = 0;
  ASSERT_TRUE(t.add_int("kern.fixed", &fixed, 0, 10, "", false).ok());
  ASSERT_TRUE(t.add_readonly(
                   "net.inet.ip.stats.total", SysctlType::kInt,
                   [&] { return std::to_string(counter); }, "packets received")
                  .ok());
  EXPECT_EQ(err(t.set("kern.fixed", "4")), EPERM);
  EXPECT_EQ(fixed, 3);
  EXPECT_EQ(err(t.set("net.inet.ip.stats.total", "1")), EPERM);
  counter = 17;
  EXPECT_EQ(*t.get("net.inet.ip.stats.total"), "17");  // computed on each read
  EXPECT_EQ(t.get("kern.nope").error().value, ENOENT);
  EXPECT_EQ(err(t.set("kern.nope", "1")), ENOENT);
  EXPECT_EQ(t.find("kern.nope"), nullptr);
}

TEST(Sysctl, StringNode) {
  SysctlTree t;
  std::string host = "box";
  ASSERT_TRUE(t.add_string("kern.hostname", &host, "host name", true).ok());
  EXPECT_EQ(err(t.set("kern.hostname", "a b.c")), 0);
  EXPECT_EQ(host, "a b.c");
  EXPECT_EQ(*t.get("kern.hostname"), "a b.c");
  EXPECT_EQ(t.find("kern.hostname")->type, SysctlType::kString);
}

TEST(Sysctl, SetterMayRefuse) {
  SysctlTree t;
  int64_t stored = 0;
  SysctlNode n;
  n.name = "net.inet.tcp.cc";
  n.type = SysctlType::kInt;
  n.writable = true;
  n.min = 0;
  n.max = 100;
  n.get = [&] { return std::to_string(stored); };
  n.set = [&](std::string_view text) -> Result<void, Errno> {
    if (text == "13") {
      return Err(Errno{EBUSY});
    }
    stored = *sysctl_parse_int(text);
    return {};
  };
  ASSERT_TRUE(t.add(std::move(n)).ok());
  EXPECT_EQ(err(t.set("net.inet.tcp.cc", "13")), EBUSY);
  EXPECT_EQ(err(t.set("net.inet.tcp.cc", "0x0c")), 0);  // setter sees "12"
  EXPECT_EQ(stored, 12);
}

TEST(Sysctl, NamesAreValidatedAndUnique) {
  SysctlTree t;
  int64_t v = 0;
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "a b", "a/b", "net.inet.ip.ttl!", "é"}) {
    EXPECT_EQ(err(t.add_int(bad, &v, 0, 1, "", true)), EINVAL) << '"' << bad << '"';
  }
  EXPECT_EQ(err(t.add_int("net.if-en0.mtu_1", &v, 0, 1, "", true)), 0);
  EXPECT_EQ(err(t.add_int("net.if-en0.mtu_1", &v, 0, 1, "", true)), EEXIST);
  EXPECT_EQ(err(t.add_int("kern.r", &v, 5, 1, "", true)), EINVAL);  // min > max
  SysctlNode no_getter;
  no_getter.name = "kern.g";
  EXPECT_EQ(err(t.add(std::move(no_getter))), EINVAL);
}

TEST(Sysctl, ListIsSortedAndRespectsComponentBoundaries) {
  SysctlTree t;
  int64_t v = 0;
  for (const char* name : {"net.inet6.ip6.hlim", "net.inet.tcp.mss", "net.inet.ip.ttl", "kern.a",
                           "net.inet", "net.inetx.y"}) {
    ASSERT_TRUE(t.add_int(name, &v, 0, 1, "", false).ok()) << name;
  }
  std::vector<std::string> got;
  for (const SysctlNode* n : t.list("net.inet")) {
    got.push_back(n->name);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"net.inet", "net.inet.ip.ttl", "net.inet.tcp.mss"}));
  EXPECT_EQ(t.list().size(), 6u);
  EXPECT_EQ(t.list().front()->name, "kern.a");
  EXPECT_TRUE(t.list("net.ine").empty());
}

TEST(Sysctl, RemoveAndRemovePrefix) {
  SysctlTree t;
  int64_t v = 0;
  for (const char* name : {"net.interfaces.en0.mtu", "net.interfaces.en0.flags",
                           "net.interfaces.en01.mtu", "net.interfaces.en1.mtu"}) {
    ASSERT_TRUE(t.add_int(name, &v, 0, 1, "", false).ok());
  }
  t.remove_prefix("net.interfaces.en0.");
  EXPECT_EQ(t.list().size(), 2u);
  EXPECT_NE(t.find("net.interfaces.en01.mtu"), nullptr);
  t.remove_prefix("net.interfaces.en1");  // without the dot: component-wise
  EXPECT_EQ(t.find("net.interfaces.en1.mtu"), nullptr);
  EXPECT_NE(t.find("net.interfaces.en01.mtu"), nullptr);
  t.remove_prefix("");  // never removes everything
  EXPECT_EQ(t.list().size(), 1u);
  t.remove("net.interfaces.en01.mtu");
  t.remove("net.interfaces.en01.mtu");  // twice is harmless
  EXPECT_TRUE(t.list().empty());
}

}  // namespace
}  // namespace iopkt
