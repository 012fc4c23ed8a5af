// tests/utils/net_utils_fmt_test.cc — the parsing and formatting behind
// route, netstat, arp and ping (client/libiopkt/fmt.cc), without a stack:
// NetBSD's command lines, table lines, counter wording, ICMP echo packets
// and ping's statistics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/control.h"
#include "iopkt/driver.h"

namespace iopkt::fmt {
namespace {

iopkt_ctl_addr v4(const char* text, uint16_t port = 0) {
  iopkt_ctl_addr a{};
  a.family = AF_INET;
  a.port = port;
  EXPECT_EQ(inet_pton(AF_INET, text, a.addr), 1) << text;
  return a;
}

RouteCommand route_ok(const std::vector<std::string>& args) {
  RouteCommand c;
  std::string err;
  EXPECT_TRUE(parse_route_args(args, &c, &err)) << err;
  return c;
}

std::string route_err(const std::vector<std::string>& args) {
  RouteCommand c;
  std::string err = "unset";
  EXPECT_FALSE(parse_route_args(args, &c, &err));
  return err;
}

TEST(RouteArgs, NetWithPrefixAndGateway) {
  RouteCommand c = route_ok({"add", "-net", "198.51.100.0/24", "192.0.2.254"});
  EXPECT_EQ(c.op, RouteOp::kAdd);
  EXPECT_FALSE(c.host);
  EXPECT_EQ(addr(c.route.dst), "198.51.100.0");
  EXPECT_EQ(c.route.prefixlen, 24u);
  EXPECT_EQ(addr(c.route.gateway), "192.0.2.254");
  EXPECT_NE(c.route.flags & IOPKT_RTF_GATEWAY, 0u);
  EXPECT_EQ(c.route.flags & IOPKT_RTF_HOST, 0u);
  EXPECT_EQ(c.dest_text, "198.51.100.0/24");
  EXPECT_EQ(c.gateway_text, "192.0.2.254");
}

TEST(RouteArgs, ClassfulAndHostRulesOfNetBSDGetaddr) {
  // Host part zero: a network with the natural mask.
  RouteCommand c = route_ok({"add", "198.51.100.0", "192.0.2.254"});
  EXPECT_FALSE(c.host);
  EXPECT_EQ(c.route.prefixlen, 24u);
  // A class A address with bits in its 24-bit host part is a host, as in
  // NetBSD; with -net the mask is the shortest that leaves no host bits.
  // (Parsing only: class A has no documentation range.)
  c = route_ok({"add", "30.1.0.0", "192.0.2.254"});
  EXPECT_TRUE(c.host);
  c = route_ok({"add", "-net", "30.1.0.0", "192.0.2.254"});
  EXPECT_FALSE(c.host);
  EXPECT_EQ(c.route.prefixlen, 16u);
  // Host bits set: a host route.
  c = route_ok({"add", "203.0.113.7", "192.0.2.254"});
  EXPECT_TRUE(c.host);
  EXPECT_EQ(c.route.prefixlen, 32u);
  EXPECT_NE(c.route.flags & IOPKT_RTF_HOST, 0u);
  // -host forces, -netmask sets the length and masks the destination.
  c = route_ok({"add", "-host", "198.51.100.0", "192.0.2.254"});
  EXPECT_TRUE(c.host);
  c = route_ok({"add", "-net", "203.0.113.77", "192.0.2.254", "-netmask", "255.255.255.0"});
  EXPECT_EQ(c.route.prefixlen, 24u);
  EXPECT_EQ(addr(c.route.dst), "203.0.113.0");
  c = route_ok({"add", "default", "192.0.2.254"});
  EXPECT_EQ(c.route.prefixlen, 0u);
  EXPECT_EQ(addr(c.route.dst), "0.0.0.0");
  EXPECT_FALSE(c.host);
}

TEST(RouteArgs, ModifiersAndFib) {
  RouteCommand c = route_ok({"-n", "-fib", "3", "change", "198.51.100.0/24", "192.0.2.9", "-ifp",
                             "vw0", "-ifa", "192.0.2.1", "-mtu", "1400"});
  EXPECT_TRUE(c.numeric);
  EXPECT_EQ(c.op, RouteOp::kChange);
  EXPECT_EQ(c.route.fib, 3u);
  EXPECT_EQ(query::field(c.route.ifname), "vw0");
  EXPECT_EQ(addr(c.route.ifa), "192.0.2.1");
  EXPECT_EQ(c.route.mtu, 1400u);
  // A blackhole "via" 127.0.0.1 carries no gateway to the stack.
  c = route_ok({"add", "-net", "203.0.113.0/24", "127.0.0.1", "-blackhole"});
  EXPECT_NE(c.route.flags & IOPKT_RTF_BLACKHOLE, 0u);
  EXPECT_EQ(c.route.flags & IOPKT_RTF_GATEWAY, 0u);
  c = route_ok({"add", "-net", "203.0.113.0/24", "-reject"});
  EXPECT_NE(c.route.flags & IOPKT_RTF_REJECT, 0u);
  c = route_ok({"add", "-net", "203.0.113.0/24", "192.0.2.1", "-interface"});
  EXPECT_TRUE(c.interface);
  EXPECT_EQ(c.route.flags & IOPKT_RTF_GATEWAY, 0u);
  c = route_ok({"add", "-inet6", "2001:db8::/32", "::1"});
  EXPECT_TRUE(c.inet6);
  c = route_ok({"get", "203.0.113.7"});
  EXPECT_EQ(c.op, RouteOp::kGet);
  c = route_ok({"-n", "show"});
  EXPECT_EQ(c.op, RouteOp::kShow);
}

TEST(RouteArgs, ErrorsInNetBSDWords) {
  EXPECT_EQ(route_err({}), "");
  EXPECT_EQ(route_err({"-x", "show"}), "");
  EXPECT_EQ(route_err({"add", "198.51.100.0/24"}), "missing gateway specification");
  EXPECT_EQ(route_err({"delete"}), "missing destination specification");
  EXPECT_EQ(route_err({"add", "-host", "-net", "198.51.100.0", "192.0.2.1"}),
            "-host and -net conflict");
  EXPECT_EQ(route_err({"add", "198.51.100.0/33", "192.0.2.1"}), "198.51.100.0/33: bad value");
  EXPECT_EQ(route_err({"add", "198.51.100.0/24", "gw.example"}), "gw.example: bad value");
  EXPECT_EQ(route_err({"add", "-bogus", "198.51.100.0/24", "192.0.2.1"}), "botched keyword: bogus");
  EXPECT_EQ(route_err({"frob"}), "frob: unknown command");
  EXPECT_EQ(route_err({"-fib", "16", "show"}), "-fib: 16: bad value");
}

iopkt_ctl_route route(const char* dst, uint32_t len, uint32_t flags, const char* gw,
                      const char* ifname) {
  iopkt_ctl_route r{};
  r.dst = v4(dst);
  r.prefixlen = len;
  r.flags = flags;
  if (gw != nullptr) {
    r.gateway = v4(gw);
  }
  query::copy_name(r.ifname, ifname);
  return r;
}

TEST(RouteFormat, NetnameAndFlags) {
  EXPECT_EQ(route_netname(v4("0.0.0.0"), 0), "default");
  EXPECT_EQ(route_netname(v4("30.0.0.0"), 8), "30/8");
  EXPECT_EQ(route_netname(v4("150.16.0.0"), 12), "150.16/12");
  EXPECT_EQ(route_netname(v4("198.51.100.0"), 24), "198.51.100/24");
  EXPECT_EQ(route_netname(v4("192.0.2.128"), 25), "192.0.2.128/25");
  EXPECT_EQ(route_flags(IOPKT_RTF_UP | IOPKT_RTF_GATEWAY | IOPKT_RTF_STATIC), "UGS");
  EXPECT_EQ(route_flags(IOPKT_RTF_UP | IOPKT_RTF_CONNECTED), "UC");
  EXPECT_EQ(route_flags(IOPKT_RTF_UP | IOPKT_RTF_HOST | IOPKT_RTF_LOCAL), "UHl");
  EXPECT_EQ(route_flags(IOPKT_RTF_UP | IOPKT_RTF_REJECT | IOPKT_RTF_STATIC), "URS");
  EXPECT_EQ(route_flag_names(IOPKT_RTF_UP | IOPKT_RTF_GATEWAY | IOPKT_RTF_STATIC),
            "<UP,GATEWAY,STATIC>");
  EXPECT_EQ(route_flag_names(0), "none");
  EXPECT_EQ(route_strerror(ESRCH), "not in table");
  EXPECT_EQ(route_strerror(EEXIST), "File exists");
}

TEST(RouteFormat, TableLines) {
  std::string h = route_table_header();
  EXPECT_EQ(h,
            "Routing tables\n\nInternet:\n"
            "Destination        Gateway            Flags    Refs      Use    Mtu Interface\n");
  iopkt_ctl_route r = route("198.51.100.0", 24, IOPKT_RTF_UP | IOPKT_RTF_GATEWAY | IOPKT_RTF_STATIC,
                            "192.0.2.254", "vw0");
  r.use = 7;
  EXPECT_EQ(route_table_line(r, 2, true),
            "198.51.100/24      192.0.2.254        UGS         -        7      -  vw0\n");
  iopkt_ctl_route c = route("192.0.2.0", 24, IOPKT_RTF_UP | IOPKT_RTF_CONNECTED, nullptr, "vw0");
  c.mtu = 1400;
  EXPECT_EQ(route_table_line(c, 2, false),
            "192.0.2/24         link#2             UC          -        0   1400  vw0\n");
  iopkt_ctl_route hst = route("203.0.113.7", 32, IOPKT_RTF_UP | IOPKT_RTF_HOST | IOPKT_RTF_GATEWAY,
                              "192.0.2.254", "vw0");
  EXPECT_EQ(route_destination(hst), "203.0.113.7");
}

TEST(RouteFormat, GetBlock) {
  iopkt_ctl_route r = route("0.0.0.0", 0, IOPKT_RTF_UP | IOPKT_RTF_GATEWAY | IOPKT_RTF_STATIC,
                            "192.0.2.254", "vw0");
  r.ifa = v4("192.0.2.1");
  std::string b = route_get_block("203.0.113.7", r);
  EXPECT_EQ(b.substr(0, b.find(" recvpipe")),
            "   route to: 203.0.113.7\n"
            "destination: default\n"
            "       mask: default\n"
            "    gateway: 192.0.2.254\n"
            " local addr: 192.0.2.1\n"
            "  interface: vw0\n"
            "      flags: <UP,GATEWAY,STATIC>\n");
  iopkt_ctl_route n = route("198.51.100.0", 24, IOPKT_RTF_UP | IOPKT_RTF_CONNECTED, nullptr, "vw0");
  b = route_get_block("198.51.100.5", n);
  EXPECT_NE(b.find("       mask: 255.255.255.0\n"), std::string::npos) << b;
  EXPECT_EQ(b.find("gateway:"), std::string::npos) << b;
}

TEST(NetstatArgs, FlagsAndValues) {
  NetstatOptions o;
  std::string err;
  ASSERT_TRUE(parse_netstat_args({"-rn"}, &o, &err));
  EXPECT_TRUE(o.routes && o.numeric);
  ASSERT_TRUE(parse_netstat_args({"-ss", "-p", "udp"}, &o, &err));
  EXPECT_TRUE(o.stats);
  EXPECT_EQ(o.stats_level, 2);
  EXPECT_EQ(o.protocol, "udp");
  ASSERT_TRUE(parse_netstat_args({"-Ivw0"}, &o, &err));
  EXPECT_TRUE(o.interfaces);
  EXPECT_EQ(o.ifname, "vw0");
  ASSERT_TRUE(parse_netstat_args({"-an", "-f", "inet"}, &o, &err));
  EXPECT_TRUE(o.all && o.numeric);
  EXPECT_FALSE(parse_netstat_args({"-z"}, &o, &err));
  EXPECT_FALSE(parse_netstat_args({"-p", "xyz"}, &o, &err));
  EXPECT_EQ(err, "xyz: unknown or uninstrumented protocol");
  EXPECT_FALSE(parse_netstat_args({"-f"}, &o, &err));
  EXPECT_EQ(err, "option requires an argument -- f");
}

TEST(NetstatFormat, InterfaceLines) {
  iopkt_ctl_if_info ifp{};
  query::copy_name(ifp.name, "vw0");
  ifp.flags = IOPKT_IFF_UP;
  ifp.mtu = 1500;
  ifp.link_type = IOPKT_LINK_ETHER;
  uint8_t m[6] = {2, 0, 0, 0, 0, 1};
  memcpy(ifp.mac, m, 6);
  ifp.stats.ipackets = 12;
  ifp.stats.opackets = 34;
  ifp.stats.ierrors = 1;
  iopkt_ctl_ifaddr a{};
  a.addr = v4("192.0.2.1");
  a.prefixlen = 24;
  std::vector<iopkt_ctl_ifaddr> addrs{a};
  EXPECT_EQ(netstat_if_header(),
            "Name  Mtu   Network       Address              Ipkts Ierrs    Opkts Oerrs Colls\n");
  EXPECT_EQ(netstat_if_lines(ifp, addrs),
            "vw0   1500  <Link>        02:00:00:00:00:01       12     1       34     0     0\n"
            "vw0   1500  192.0.2/24    192.0.2.1               12     1       34     0     0\n");
  ifp.flags = 0;  // down: NetBSD marks the name
  EXPECT_EQ(netstat_if_lines(ifp, {}).substr(0, 5), "vw0* ");
}

TEST(NetstatFormat, SocketLines) {
  EXPECT_EQ(netstat_socket_header(true),
            "Active Internet connections (including servers)\n"
            "Proto Recv-Q Send-Q  Local Address          Foreign Address        State\n");
  EXPECT_EQ(netstat_socket_header(false).substr(0, 28), "Active Internet connections\n");
  iopkt_ctl_socket_info s{};
  s.domain = AF_INET;
  s.type = SOCK_DGRAM;
  s.laddr = v4("127.0.0.1", 7000);
  s.faddr = v4("0.0.0.0");
  s.rcv_cc = 5;
  EXPECT_EQ(netstat_endpoint(s.laddr), "127.0.0.1.7000");
  EXPECT_EQ(netstat_endpoint(s.faddr), "*.*");
  EXPECT_EQ(netstat_endpoint(v4("0.0.0.0", 53)), "*.53");
  EXPECT_EQ(netstat_socket_line(s), "udp        5      0  127.0.0.1.7000         *.*\n");
  s.type = SOCK_RAW;
  EXPECT_EQ(netstat_proto(s), "");
}

iopkt_ctl_sysctl counter(const std::string& name, const std::string& value) {
  iopkt_ctl_sysctl e{};
  query::copy_name(e.name, name);
  query::copy_name(e.value, value);
  e.type = IOPKT_SYSCTL_INT;
  return e;
}

TEST(NetstatFormat, StatsWordingPluralsAndUnknownCounters) {
  std::vector<iopkt_ctl_sysctl> e = {
      counter("net.inet.ip.stats.total", "5"),     counter("net.inet.ip.stats.badsum", "1"),
      counter("net.inet.ip.stats.fragments", "2"), counter("net.inet.ip.stats.newreason", "9"),
      counter("net.inet.udp.stats.ipackets", "3"), counter("net.inet.ip.ttl", "64"),
  };
  std::string ip = netstat_proto_stats("ip", "net.inet.ip.stats.", e, false);
  EXPECT_EQ(ip,
            "ip:\n"
            "\t5 total packets received\n"
            "\t1 bad header checksum\n"
            "\t2 fragments received\n"
            "\t9 newreason\n");
  EXPECT_EQ(netstat_proto_stats("udp", "net.inet.udp.stats.", e, false),
            "udp:\n\t3 datagrams received\n");
  EXPECT_EQ(netstat_proto_stats("icmp", "net.inet.icmp.stats.", e, false), "");
  e.push_back(counter("net.inet.ip.stats.noroute", "0"));
  EXPECT_EQ(netstat_proto_stats("ip", "net.inet.ip.stats.", e, true).find("no route"),
            std::string::npos);
  std::vector<iopkt_ctl_sysctl> icmp = {
      counter("net.inet.icmp.stats.error", "2"),
      counter("net.inet.icmp.stats.outhist.echoreply", "4"),
      counter("net.inet.icmp.stats.inhist.echo", "4"),
  };
  EXPECT_EQ(netstat_proto_stats("icmp", "net.inet.icmp.stats.", icmp, false),
            "icmp:\n\t2 calls to icmp_error\n\tOutput histogram:\n\t\techo reply: 4\n"
            "\tInput histogram:\n\t\techo: 4\n");
  // Histogram rows in ICMP type order; a type without a name keeps its own.
  icmp.push_back(counter("net.inet.icmp.stats.outhist.unreach", "1"));
  icmp.push_back(counter("net.inet.icmp.stats.outhist.type42", "6"));
  icmp.push_back(counter("net.inet.icmp.stats.received", "8"));
  EXPECT_EQ(netstat_proto_stats("icmp", "net.inet.icmp.stats.", icmp, false),
            "icmp:\n\t2 calls to icmp_error\n\tOutput histogram:\n\t\techo reply: 4\n"
            "\t\tdestination unreachable: 1\n\t\ttype42: 6\n\t8 messages received\n"
            "\tInput histogram:\n\t\techo: 4\n");
  std::vector<iopkt_ctl_sysctl> arp = {counter("net.inet.arp.stats.timeouts", "1")};
  EXPECT_EQ(netstat_proto_stats("arp", "net.inet.arp.stats.", arp, false),
            "arp:\n\t1 entry timed out before resolution\n");
}

TEST(ArpFormat, LinesAndMacs) {
  iopkt_ctl_arp e{};
  query::copy_name(e.ifname, "vw0");
  e.addr = v4("192.0.2.2");
  uint8_t m[6] = {2, 0, 0, 0, 0, 2};
  memcpy(e.mac, m, 6);
  e.flags = IOPKT_ARP_RESOLVED;
  EXPECT_EQ(arp_line(e), "? (192.0.2.2) at 02:00:00:00:00:02 on vw0 [ethernet]");
  e.flags |= IOPKT_ARP_PERMANENT;
  EXPECT_EQ(arp_line(e), "? (192.0.2.2) at 02:00:00:00:00:02 on vw0 permanent [ethernet]");
  e.flags = 0;
  EXPECT_EQ(arp_line(e), "? (192.0.2.2) at (incomplete) on vw0 [ethernet]");
  uint8_t out[6];
  ASSERT_TRUE(parse_mac("2:0:0:a:bC:ff", out));
  EXPECT_EQ(out[3], 0x0a);
  EXPECT_EQ(out[4], 0xbc);
  EXPECT_EQ(out[5], 0xff);
  EXPECT_FALSE(parse_mac("02:00:00:00:00", out));
  EXPECT_FALSE(parse_mac("02:00:00:00:00:00:00", out));
  EXPECT_FALSE(parse_mac("02:00:00:00:00:0g", out));
  EXPECT_FALSE(parse_mac("002:00:00:00:00:00", out));
}

TEST(ArpArgs, Commands) {
  ArpCommand c;
  std::string err;
  ASSERT_TRUE(parse_arp_args({"-an"}, &c, &err));
  EXPECT_EQ(c.op, ArpOp::kShowAll);
  ASSERT_TRUE(parse_arp_args({"-d", "192.0.2.2"}, &c, &err));
  EXPECT_EQ(c.op, ArpOp::kDelete);
  EXPECT_EQ(addr(c.addr), "192.0.2.2");
  ASSERT_TRUE(parse_arp_args({"-d", "-a"}, &c, &err));
  EXPECT_EQ(c.op, ArpOp::kDeleteAll);
  ASSERT_TRUE(parse_arp_args({"-s", "192.0.2.9", "02:00:00:00:00:09", "temp"}, &c, &err));
  EXPECT_EQ(c.op, ArpOp::kSet);
  EXPECT_TRUE(c.temp);
  EXPECT_EQ(c.mac[5], 9);
  ASSERT_TRUE(parse_arp_args({"192.0.2.2"}, &c, &err));
  EXPECT_EQ(c.op, ArpOp::kShowOne);
  EXPECT_FALSE(parse_arp_args({}, &c, &err));
  EXPECT_FALSE(parse_arp_args({"-s", "192.0.2.9"}, &c, &err));
  EXPECT_FALSE(parse_arp_args({"-s", "192.0.2.9", "zz"}, &c, &err));
  EXPECT_EQ(err, "invalid Ethernet address 'zz'");
  EXPECT_FALSE(parse_arp_args({"-d", "host.example"}, &c, &err));
  EXPECT_EQ(err, "host.example: bad address");
}

TEST(PingArgs, OptionsAndErrors) {
  PingOptions o;
  std::string err;
  ASSERT_TRUE(
      parse_ping_args({"-c", "3", "-i0.2", "-s", "100", "-q", "-W", "500", "192.0.2.2"}, &o, &err));
  EXPECT_EQ(o.count, 3);
  EXPECT_DOUBLE_EQ(o.interval, 0.2);
  EXPECT_EQ(o.datalen, 100);
  EXPECT_TRUE(o.quiet);
  EXPECT_EQ(o.waittime_ms, 500);
  EXPECT_EQ(o.host, "192.0.2.2");
  ASSERT_TRUE(parse_ping_args({"-t", "16", "-T", "5", "-w", "2", "-n", "192.0.2.2"}, &o, &err));
  EXPECT_EQ(o.tos, 16);
  EXPECT_EQ(o.ttl, 5);
  EXPECT_DOUBLE_EQ(o.deadline, 2);
  EXPECT_FALSE(parse_ping_args({"-c", "0", "h"}, &o, &err));
  EXPECT_EQ(err, "Bad/invalid number of packets: 0");
  EXPECT_FALSE(parse_ping_args({"-i", "x", "h"}, &o, &err));
  EXPECT_EQ(err, "Bad/invalid interval: x");
  EXPECT_FALSE(parse_ping_args({"-s", "70000", "h"}, &o, &err));
  EXPECT_EQ(err, "packet size is too large");
  EXPECT_FALSE(parse_ping_args({"-t", "256", "h"}, &o, &err));
  EXPECT_EQ(err, "bad tos value: 256");
  EXPECT_FALSE(parse_ping_args({"-T", "0", "h"}, &o, &err));
  EXPECT_EQ(err, "ttl out of range: 0");
  EXPECT_FALSE(parse_ping_args({"-c"}, &o, &err));
  EXPECT_FALSE(parse_ping_args({}, &o, &err));
  EXPECT_FALSE(parse_ping_args({"a", "b"}, &o, &err));
  EXPECT_FALSE(parse_ping_args({"-x", "h"}, &o, &err));
  EXPECT_EQ(err, "");
}

TEST(Ping, ChecksumOfRfc1071Example) {
  // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum
  // is its complement.
  std::vector<uint8_t> d = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(in_cksum(d), static_cast<uint16_t>(~0xddf2 & 0xffff));
  std::vector<uint8_t> odd = {0x01};
  EXPECT_EQ(in_cksum(odd), static_cast<uint16_t>(~0x0100 & 0xffff));
}

// A reply as the stack delivers it: IP header (TTL 64) + the ICMP message.
std::vector<uint8_t> with_ip(const std::vector<uint8_t>& icmp, uint8_t ttl = 64) {
  // Sized once and copied into (an insert into a 20-byte vector trips
  // g++ 12's -Warray-bounds at -O2, a known false positive).
  std::vector<uint8_t> p(20 + icmp.size(), 0);
  p[0] = 0x45;
  p[8] = ttl;
  p[9] = 1;
  std::copy(icmp.begin(), icmp.end(), p.begin() + 20);
  return p;
}

TEST(Ping, EchoRequestAndReplyRoundTrip) {
  std::vector<uint8_t> req = ping_echo_request(0x1234, 7, 56, 100, 500);
  ASSERT_EQ(req.size(), 64u);
  EXPECT_EQ(req[0], 8);
  EXPECT_EQ(in_cksum(req), 0) << "a checksummed message sums to zero";
  EXPECT_EQ(req[8 + 20], 20) << "pattern byte i at data offset i";
  std::vector<uint8_t> reply = req;
  reply[0] = 0;  // echo reply
  PingPacket p = ping_parse(with_ip(reply, 63), 0x1234);
  EXPECT_EQ(p.kind, PingPacket::kEchoReply);
  EXPECT_EQ(p.seq, 7);
  EXPECT_EQ(p.ttl, 63);
  EXPECT_EQ(p.icmp_len, 64);
  ASSERT_TRUE(p.has_time);
  EXPECT_EQ(p.sec, 100);
  EXPECT_EQ(p.nsec, 500);
  EXPECT_EQ(ping_parse(with_ip(reply), 0x4321).kind, PingPacket::kIgnore) << "another ping's";
  EXPECT_EQ(ping_parse(with_ip(req), 0x1234).kind, PingPacket::kIgnore) << "our own request";
  std::vector<uint8_t> small = ping_echo_request(1, 0, 8, 0, 0);
  small[0] = 0;
  EXPECT_FALSE(ping_parse(with_ip(small), 1).has_time);
  EXPECT_EQ(ping_parse(std::vector<uint8_t>(10, 0x45), 1).kind, PingPacket::kIgnore);
}

TEST(Ping, ErrorsQuotingOurRequest) {
  std::vector<uint8_t> req = ping_echo_request(0x1234, 3, 56, 0, 0);
  std::vector<uint8_t> quoted = with_ip(req);  // the request's IP header + ICMP
  std::vector<uint8_t> err = {3, 1, 0, 0, 0, 0, 0, 0};
  err.insert(err.end(), quoted.begin(), quoted.end());
  PingPacket p = ping_parse(with_ip(err), 0x1234);
  EXPECT_EQ(p.kind, PingPacket::kError);
  EXPECT_EQ(p.icmp_len, 8 + 20 + 64);
  EXPECT_EQ(p.error_text, "Destination Host Unreachable for icmp_seq=3");
  EXPECT_EQ(ping_parse(with_ip(err), 0x9999).kind, PingPacket::kIgnore);
  err[0] = 11;
  err[1] = 0;
  EXPECT_EQ(ping_parse(with_ip(err), 0x1234).error_text, "Time To Live exceeded for icmp_seq=3");
  EXPECT_EQ(icmp_error_text(3, 0), "Destination Net Unreachable");
  EXPECT_EQ(icmp_error_text(3, 99), "Bad Destination Unreachable Code: 99");
  EXPECT_EQ(icmp_error_text(0, 0), "");
}

TEST(Ping, SummaryAsNetBSD) {
  PingStats s;
  s.transmitted = 3;
  s.received = 1;
  s.add_rtt(0.001);
  s.received = 2;
  s.add_rtt(0.003);
  EXPECT_EQ(ping_summary("192.0.2.2", s, true),
            "\n----192.0.2.2 PING Statistics----\n"
            "3 packets transmitted, 2 packets received, 33.3% packet loss\n"
            "round-trip min/avg/max/stddev = 1.000/2.000/3.000/1.414 ms\n");
  PingStats none;
  none.transmitted = 2;
  EXPECT_EQ(ping_summary("h", none, true),
            "\n----h PING Statistics----\n"
            "2 packets transmitted, 0 packets received, 100.0% packet loss\n");
  s.repeats = 1;
  EXPECT_NE(ping_summary("h", s, false).find("+1 duplicates, "), std::string::npos);
}

}  // namespace
}  // namespace iopkt::fmt
