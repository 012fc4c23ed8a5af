// tests/client/fmt_test.cc — the utilities' formats and command lines
// (client/libiopkt/fmt.cc): NetBSD's ifconfig lines, sysctl lines, QNX's
// if_up options and readiness, mount's -T types.
#include "client/libiopkt/fmt.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string.h>

#include "iopkt/driver.h"

namespace {

using namespace iopkt::fmt;

iopkt_ctl_if_info make_if(const char* name, uint32_t flags, uint32_t mtu, uint32_t index) {
  iopkt_ctl_if_info i{};
  strcpy(i.name, name);
  i.flags = flags;
  i.mtu = mtu;
  i.index = index;
  return i;
}

iopkt_ctl_ifaddr make_addr(const char* ifname, const char* text, uint32_t prefixlen) {
  iopkt_ctl_ifaddr a{};
  strcpy(a.ifname, ifname);
  std::string scope;
  int len;
  if (strchr(text, ':') != nullptr) {
    EXPECT_TRUE(parse_inet6(text, &a.addr, &len, &scope));
  } else {
    EXPECT_TRUE(parse_inet(text, &a.addr, &len));
  }
  a.prefixlen = prefixlen;
  return a;
}

TEST(IfconfigFormat, FlagsAreHexThenNamesInBitOrder) {
  EXPECT_EQ(if_flags(0x8049), "8049<UP,LOOPBACK,RUNNING,MULTICAST>");
  EXPECT_EQ(if_flags(0x8843), "8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST>");
  EXPECT_EQ(if_flags(0), "0<>");
}

TEST(IfconfigFormat, LoopbackBlock) {
  iopkt_ctl_if_info lo = make_if("lo0", 0x8049, 33192, 1);
  iopkt_ctl_ifaddr addrs[] = {make_addr("lo0", "127.0.0.1", 8), make_addr("lo0", "::1", 128),
                              make_addr("lo0", "fe80::1", 64)};
  EXPECT_EQ(interface_block(lo, addrs),
            "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33192\n"
            "\tinet 127.0.0.1 netmask 0xff000000\n"
            "\tinet6 ::1 prefixlen 128\n"
            "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1\n");
}

TEST(IfconfigFormat, EthernetBlockWithBroadcastAliasAndIpv6Flags) {
  iopkt_ctl_if_info en = make_if("en0", 0x8843, 1500, 2);
  en.link_type = IOPKT_LINK_ETHER;
  uint8_t m[6] = {2, 0, 0, 0, 0, 1};
  memcpy(en.mac, m, 6);
  en.link_up = 1;
  iopkt_ctl_ifaddr a = make_addr("en0", "192.0.2.1", 24);
  int len;
  ASSERT_TRUE(parse_inet("192.0.2.255", &a.dst_or_broadcast, &len));
  iopkt_ctl_ifaddr b = make_addr("en0", "192.0.2.2", 32);
  iopkt_ctl_ifaddr c = make_addr("en0", "2001:db8::1", 64);
  c.flags = IOPKT_IFA_TENTATIVE;
  iopkt_ctl_ifaddr d = make_addr("en0", "2001:db8::2", 64);
  d.flags = IOPKT_IFA_ANYCAST | IOPKT_IFA_DEPRECATED;
  iopkt_ctl_ifaddr addrs[] = {c, a, b, d};
  EXPECT_EQ(interface_block(en, addrs),
            "en0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n"
            "\taddress: 02:00:00:00:00:01\n"
            "\tstatus: active\n"
            "\tinet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255\n"
            "\tinet alias 192.0.2.2 netmask 0xffffffff\n"
            "\tinet6 2001:db8::1 prefixlen 64 tentative\n"
            "\tinet6 2001:db8::2 prefixlen 64 anycast deprecated\n");
}

TEST(IfconfigFormat, PointToPointShowsTheDestination) {
  iopkt_ctl_if_info tun = make_if("tun0", 0x8051, 1500, 3);
  iopkt_ctl_ifaddr a = make_addr("tun0", "198.51.100.1", 32);
  int len;
  ASSERT_TRUE(parse_inet("198.51.100.2", &a.dst_or_broadcast, &len));
  EXPECT_EQ(ifaddr_line(a, tun), "inet 198.51.100.1 -> 198.51.100.2 netmask 0xffffffff");
}

TEST(AddressParsing, PrefixesMasksAndScopes) {
  iopkt_ctl_addr a{};
  int len = 0;
  ASSERT_TRUE(parse_inet("192.0.2.9/28", &a, &len));
  EXPECT_EQ(len, 28);
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_FALSE(parse_inet("192.0.2.9/33", &a, &len));
  EXPECT_FALSE(parse_inet("192.0.2", &a, &len));
  EXPECT_FALSE(parse_inet("192.0.2.9/", &a, &len));

  std::string scope;
  ASSERT_TRUE(parse_inet6("fe80::1%en0/64", &a, &len, &scope));
  EXPECT_EQ(scope, "en0");
  EXPECT_EQ(len, 64);
  ASSERT_TRUE(parse_inet6("fe80::1%3", &a, &len, &scope));
  EXPECT_EQ(scope, "");
  EXPECT_EQ(a.scope_id, 3u);
  EXPECT_EQ(len, -1);
  EXPECT_FALSE(parse_inet6("2001:db8::1/129", &a, &len, &scope));
  EXPECT_FALSE(parse_inet6("fe80::1%", &a, &len, &scope));

  EXPECT_EQ(mask_prefixlen("255.255.255.0"), 24);
  EXPECT_EQ(mask_prefixlen("0xffff0000"), 16);
  EXPECT_EQ(mask_prefixlen("0.0.0.0"), 0);
  EXPECT_EQ(mask_prefixlen("255.0.255.0"), std::nullopt);
  EXPECT_EQ(mask_prefixlen("0xfffff"), std::nullopt);
  EXPECT_EQ(mask_prefixlen("junk"), std::nullopt);

  // Parsing only, no traffic: class A and B have no documentation range.
  ASSERT_TRUE(parse_inet("30.1.2.3", &a, &len));
  EXPECT_EQ(classful_prefixlen(a), 8);
  ASSERT_TRUE(parse_inet("150.16.0.1", &a, &len));
  EXPECT_EQ(classful_prefixlen(a), 16);
  ASSERT_TRUE(parse_inet("192.0.2.1", &a, &len));
  EXPECT_EQ(classful_prefixlen(a), 24);
  EXPECT_EQ(netmask_hex(0), "0x0");
  EXPECT_EQ(netmask_hex(32), "0xffffffff");
}

bool parse(std::vector<std::string> args, IfconfigCommand* c, std::string* err) {
  return parse_ifconfig_args(args, c, err);
}

TEST(IfconfigArgs, ListingForms) {
  IfconfigCommand c;
  std::string err;
  ASSERT_TRUE(parse({}, &c, &err));
  EXPECT_TRUE(c.list);
  ASSERT_TRUE(parse({"-a"}, &c, &err));
  EXPECT_TRUE(c.list);
  ASSERT_TRUE(parse({"-lu"}, &c, &err));
  EXPECT_TRUE(c.list && c.names_only && c.only_up);
  EXPECT_FALSE(parse({"-h"}, &c, &err));
  EXPECT_FALSE(parse({"-a", "lo0"}, &c, &err));
  ASSERT_TRUE(parse({"lo0"}, &c, &err));
  EXPECT_FALSE(c.list);
  EXPECT_EQ(c.ifname, "lo0");
  EXPECT_EQ(c.op, AddrOp::kNone);
}

TEST(IfconfigArgs, Ipv4AddressForms) {
  IfconfigCommand c;
  std::string err;
  ASSERT_TRUE(parse(
      {"en0", "inet", "192.0.2.1", "netmask", "255.255.255.0", "broadcast", "192.0.2.255", "up"},
      &c, &err))
      << err;
  EXPECT_EQ(c.family, AF_INET);
  EXPECT_EQ(c.op, AddrOp::kSet);
  EXPECT_EQ(c.prefixlen, 24);
  EXPECT_TRUE(c.have_dst);
  EXPECT_EQ(addr(c.dst), "192.0.2.255");
  EXPECT_EQ(c.up, true);

  ASSERT_TRUE(parse({"en0", "192.0.2.2/32", "alias"}, &c, &err));
  EXPECT_EQ(c.op, AddrOp::kAlias);
  EXPECT_EQ(c.prefixlen, 32);
  ASSERT_TRUE(parse({"en0", "inet", "192.0.2.2", "-alias"}, &c, &err));
  EXPECT_EQ(c.op, AddrOp::kDelete);
  ASSERT_TRUE(parse({"en0", "inet", "192.0.2.2", "delete"}, &c, &err));
  EXPECT_EQ(c.op, AddrOp::kDelete);
  ASSERT_TRUE(parse({"tun0", "198.51.100.1", "198.51.100.2"}, &c, &err));
  EXPECT_EQ(addr(c.dst), "198.51.100.2");

  EXPECT_FALSE(parse({"en0", "inet", "192.0.2.300"}, &c, &err));
  EXPECT_EQ(err, "192.0.2.300: bad value");
  EXPECT_FALSE(parse({"en0", "192.0.2.1", "netmask", "255.0.255.0"}, &c, &err));
  EXPECT_FALSE(parse({"en0", "192.0.2.1", "netmask"}, &c, &err));
  EXPECT_FALSE(parse({"en0", "alias"}, &c, &err));
}

TEST(IfconfigArgs, Ipv6MtuCreateDestroy) {
  IfconfigCommand c;
  std::string err;
  ASSERT_TRUE(
      parse({"en0", "inet6", "2001:db8::1", "prefixlen", "48", "alias", "anycast"}, &c, &err))
      << err;
  EXPECT_EQ(c.family, AF_INET6);
  EXPECT_EQ(c.prefixlen, 48);
  EXPECT_EQ(c.op, AddrOp::kAlias);
  EXPECT_TRUE(c.anycast);
  ASSERT_TRUE(parse({"en0", "inet6", "fe80::5%en0/64"}, &c, &err));
  EXPECT_EQ(c.scope, "en0");
  EXPECT_EQ(c.prefixlen, 64);
  EXPECT_FALSE(parse({"en0", "inet6", "192.0.2.1"}, &c, &err));

  ASSERT_TRUE(parse({"en0", "mtu", "9000"}, &c, &err));
  EXPECT_EQ(c.mtu, 9000u);
  EXPECT_FALSE(parse({"en0", "mtu", "big"}, &c, &err));
  EXPECT_FALSE(parse({"en0", "mtu", "0"}, &c, &err));
  ASSERT_TRUE(parse({"tap0", "create"}, &c, &err));
  EXPECT_TRUE(c.create);
  ASSERT_TRUE(parse({"tap0", "destroy"}, &c, &err));
  EXPECT_TRUE(c.destroy);
  EXPECT_FALSE(parse({"tap0", "destroy", "up"}, &c, &err));
  EXPECT_FALSE(parse({"en0", "up", "bogus", "more"}, &c, &err));
}

TEST(SysctlFormat, LinesAndSetReports) {
  iopkt_ctl_sysctl e{};
  strcpy(e.name, "net.inet.ip.ttl");
  strcpy(e.value, "64");
  EXPECT_EQ(sysctl_line(e, false), "net.inet.ip.ttl = 64");
  EXPECT_EQ(sysctl_line(e, true), "64");
  EXPECT_EQ(sysctl_set_line("net.inet.ip.ttl", "64", "32", false), "net.inet.ip.ttl: 64 -> 32");
  EXPECT_EQ(sysctl_set_line("net.inet.ip.ttl", "64", "32", true), "64 -> 32");
  EXPECT_TRUE(sysctl_under("net.inet.ip.ttl", "net.inet"));
  EXPECT_TRUE(sysctl_under("net.inet", "net.inet"));
  EXPECT_FALSE(sysctl_under("net.inet6.ip6.hlim", "net.inet"));
  EXPECT_TRUE(sysctl_under("anything", ""));
}

TEST(IfUpArgs, QnxOptions) {
  IfUpOptions o;
  std::string err;
  ASSERT_TRUE(parse_if_up_args({"en0"}, &o, &err));
  EXPECT_EQ(o.retries, 5);
  EXPECT_EQ(o.interval_ms, 1000);
  EXPECT_FALSE(o.present_only);
  ASSERT_TRUE(parse_if_up_args({"-p", "-r", "3", "-m", "50", "en0", "en1"}, &o, &err));
  EXPECT_TRUE(o.present_only);
  EXPECT_EQ(o.retries, 3);
  EXPECT_EQ(o.interval_ms, 50);
  EXPECT_EQ(o.ifnames, (std::vector<std::string>{"en0", "en1"}));
  // -m and -s: the last one given wins.
  ASSERT_TRUE(parse_if_up_args({"-m", "50", "-s2", "en0"}, &o, &err));
  EXPECT_EQ(o.interval_ms, 2000);
  ASSERT_TRUE(parse_if_up_args({"-6ial", "en0"}, &o, &err));
  EXPECT_TRUE(o.inet6 && o.ignore_ll && o.all && o.link);
  EXPECT_FALSE(parse_if_up_args({}, &o, &err));
  EXPECT_FALSE(parse_if_up_args({"-x", "en0"}, &o, &err));
  EXPECT_FALSE(parse_if_up_args({"-r", "0", "en0"}, &o, &err));
  EXPECT_FALSE(parse_if_up_args({"-r"}, &o, &err));
  EXPECT_FALSE(parse_if_up_args({"-i", "en0"}, &o, &err));
}

TEST(IfUpReady, NeedsUpAndAUsableAddressOfTheFamily) {
  IfUpOptions o;
  iopkt_ctl_if_info ifp = make_if("en0", IOPKT_IFF_UP | IOPKT_IFF_RUNNING, 1500, 2);
  std::vector<iopkt_ctl_ifaddr> none;
  EXPECT_FALSE(if_up_ready(o, ifp, none));
  o.present_only = true;
  EXPECT_TRUE(if_up_ready(o, ifp, none));
  o.present_only = false;
  std::vector<iopkt_ctl_ifaddr> v4{make_addr("en0", "192.0.2.1", 24)};
  EXPECT_TRUE(if_up_ready(o, ifp, v4));
  ifp.flags = 0;
  EXPECT_FALSE(if_up_ready(o, ifp, v4));
  ifp.flags = IOPKT_IFF_UP;
  o.link = true;
  EXPECT_FALSE(if_up_ready(o, ifp, v4));
  ifp.link_up = 1;
  EXPECT_TRUE(if_up_ready(o, ifp, v4));

  o.inet6 = true;
  EXPECT_FALSE(if_up_ready(o, ifp, v4));
  std::vector<iopkt_ctl_ifaddr> v6{make_addr("en0", "fe80::1", 64),
                                   make_addr("en0", "2001:db8::1", 64)};
  v6[1].flags = IOPKT_IFA_TENTATIVE;
  EXPECT_TRUE(if_up_ready(o, ifp, v6));  // the link-local one
  o.ignore_ll = true;
  EXPECT_FALSE(if_up_ready(o, ifp, v6));  // the global one is tentative
  v6[1].flags = 0;
  EXPECT_TRUE(if_up_ready(o, ifp, v6));
}

TEST(MountType, IoPktInstances) {
  EXPECT_EQ(mount_instance("io-pkt"), 0);
  EXPECT_EQ(mount_instance("io-pkt0"), 0);
  EXPECT_EQ(mount_instance("io-pkt12"), 12);
  EXPECT_EQ(mount_instance("io-pktx"), std::nullopt);
  EXPECT_EQ(mount_instance("ext4"), std::nullopt);
  EXPECT_EQ(mount_instance("io-pk"), std::nullopt);
}

TEST(ErrorDetail, AddsTheStackMessageOnlyWhenItSaysMore) {
  EXPECT_EQ(error_detail(EEXIST, ""), "File exists");
  EXPECT_EQ(error_detail(EEXIST, "File exists"), "File exists");
  EXPECT_EQ(error_detail(ENOENT, "devnp-x.so not found"),
            "No such file or directory (devnp-x.so not found)");
}

}  // namespace
