// client/libiopkt/fmt.hh — what the utilities (ifconfig, sysctl, if_up,
// mount, route, netstat, arp, ping) print and parse, kept in the library so
// that it is unit-tested without a stack: NetBSD's output formats as QNX
// users see them, and the command lines. Internal: exported from libiopkt.so for the utilities and
// the tests, not installed.
#pragma once

#include <stdint.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iopkt/control.h"

namespace iopkt::fmt {

// --- ifconfig output (NetBSD 5 / io-pkt's ifconfig) ------------------------

// "8049<UP,LOOPBACK,RUNNING,MULTICAST>": hex without 0x, then the names of
// the set bits in bit order (NetBSD printb() with IFFBITS).
std::string if_flags(uint32_t flags);

// "02:00:00:00:00:01"
std::string mac(const uint8_t (&m)[6]);

// The address alone, as inet_ntop writes it; "" for another family.
std::string addr(const iopkt_ctl_addr& a);

// "0xffffff00" for 24.
std::string netmask_hex(uint32_t prefixlen);

// One address line without the leading tab, e.g.
//   inet 192.0.2.1 netmask 0xffffff00 broadcast 192.0.2.255
//   inet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
//   inet6 2001:db8::1 prefixlen 64 tentative
std::string ifaddr_line(const iopkt_ctl_ifaddr& a, const iopkt_ctl_if_info& ifp);

// The whole block of one interface, lines ending in '\n'.
std::string interface_block(const iopkt_ctl_if_info& ifp, std::span<const iopkt_ctl_ifaddr> addrs);

// --- address parsing ------------------------------------------------------

// "192.0.2.1" or "192.0.2.1/24" (prefixlen -1 when absent). False if bad.
bool parse_inet(std::string_view text, iopkt_ctl_addr* out, int* prefixlen);
// "2001:db8::1", "fe80::1%lo0", with an optional "/N". The scope name after
// '%' is returned in *scope (a number there is taken as the scope id).
bool parse_inet6(std::string_view text, iopkt_ctl_addr* out, int* prefixlen, std::string* scope);
// "255.255.255.0" or "0xffffff00" -> 24; nullopt if bad or not contiguous.
std::optional<int> mask_prefixlen(std::string_view text);
// The classful prefix NetBSD's in_ifinit() falls back to when no netmask
// is given: 8 for class A, 16 for B, 24 for C (and others).
int classful_prefixlen(const iopkt_ctl_addr& a);

// --- the ifconfig command line -------------------------------------------

enum class AddrOp { kNone, kSet, kAlias, kDelete };

struct IfconfigCommand {
  bool list = false;        // no interface named: list (all, or -u/-d filtered)
  bool names_only = false;  // -l
  bool only_up = false;     // -u
  bool only_down = false;   // -d
  std::string ifname;
  bool create = false;
  bool destroy = false;
  std::optional<bool> up;       // up / down
  std::optional<bool> promisc;  // promisc / -promisc
  std::optional<uint32_t> mtu;
  int family = 0;          // AF_INET / AF_INET6 once named or implied by an address
  bool have_addr = false;  // an address was given
  iopkt_ctl_addr addr{};
  std::string scope;      // "%IF" of an inet6 address
  int prefixlen = -1;     // from /N, netmask or prefixlen; -1: default
  bool have_dst = false;  // broadcast (or destination for point-to-point)
  iopkt_ctl_addr dst{};
  AddrOp op = AddrOp::kNone;
  bool anycast = false;
};

// Parses argv[1..] (the program name excluded). On failure returns false
// with a message in *err (empty for a plain usage error).
bool parse_ifconfig_args(const std::vector<std::string>& args, IfconfigCommand* cmd,
                         std::string* err);

extern const char kIfconfigUsage[];

// --- sysctl -----------------------------------------------------------------

// "net.inet.ip.ttl = 64", or "64" with values_only.
std::string sysctl_line(const iopkt_ctl_sysctl& e, bool values_only);
// NetBSD's -w report: "net.inet.ip.ttl: 64 -> 32" ("64 -> 32" with -n).
std::string sysctl_set_line(std::string_view name, std::string_view old_value,
                            std::string_view new_value, bool values_only);
// Is `name` the node `prefix` or below it ("net.inet" covers
// "net.inet.ip.ttl", not "net.inet6.x")? "" covers everything.
bool sysctl_under(std::string_view name, std::string_view prefix);

// --- if_up (QNX) ------------------------------------------------------------

struct IfUpOptions {
  bool all = false;           // -a: every named interface, not just one
  bool link = false;          // -l: also wait for the link (carrier)
  bool present_only = false;  // -p: only wait until present
  bool inet6 = false;         // -6: wait for an IPv6 address, not IPv4
  bool ignore_ll = false;     // -i: with -6, link-local addresses do not count
  int retries = 5;            // -r: walks of the interface list
  int interval_ms = 1000;     // -m ms / -s s: the last one given wins
  std::vector<std::string> ifnames;
};
bool parse_if_up_args(const std::vector<std::string>& args, IfUpOptions* o, std::string* err);
extern const char kIfUpUsage[];

// Is `ifp` ready by `o`'s measure, given its addresses?
bool if_up_ready(const IfUpOptions& o, const iopkt_ctl_if_info& ifp,
                 std::span<const iopkt_ctl_ifaddr> addrs);

// --- mount ------------------------------------------------------------------

// "io-pkt" -> 0, "io-pkt3" -> 3, "io-pkt0" -> 0; nullopt for other types.
std::optional<int> mount_instance(std::string_view type);

// --- route(8) and netstat -r (NetBSD sbin/route, usr.bin/netstat) ---------

// Flag letters of a routing table line, NetBSD's order: "UGS", "UC", "UHl".
std::string route_flags(uint32_t flags);
// The flags of `route get`: "<UP,GATEWAY,STATIC>" (NetBSD bprintf()).
std::string route_flag_names(uint32_t flags);
// NetBSD netname4(): "default", "198.51.100/24", "10/8", "192.0.2.128/25";
// the whole address for /25 and longer.
std::string route_netname(const iopkt_ctl_addr& dst, uint32_t prefixlen);
// Destination column: the address for host routes, else route_netname().
std::string route_destination(const iopkt_ctl_route& r);
// Gateway column: the gateway, or "link#N" for a route straight to
// interface index N (NetBSD prints the interface's link address there).
std::string route_gateway(const iopkt_ctl_route& r, uint32_t ifindex);
// "Routing tables\n\nInternet:\n" and the column header line.
std::string route_table_header();
// One table line, '\n' ended: Destination Gateway Flags Refs Use Mtu
// Interface in NetBSD's widths (p_rtentry(), -n: no truncation).
std::string route_table_line(const iopkt_ctl_route& r, uint32_t ifindex, bool numeric);
// NetBSD route_strerror(): ESRCH "not in table", EBUSY "entry in use",
// ENOBUFS "routing table overflow", else strerror.
std::string route_strerror(int err);
// The block `route get` prints (NetBSD print_getmsg()), '\n' ended.
std::string route_get_block(std::string_view asked, const iopkt_ctl_route& r);

enum class RouteOp { kShow, kAdd, kDelete, kChange, kGet, kFlush };

struct RouteCommand {
  RouteOp op = RouteOp::kShow;
  bool numeric = false;      // -n
  bool quiet = false;        // -q
  bool inet6 = false;        // -inet6: refused until IPv6 lands
  uint32_t fib = 0;          // -fib N (io-pkt's FIBs)
  std::string dest_text;     // as typed: NetBSD echoes it ("add net 198.51.100.0")
  std::string gateway_text;  // as typed; "" when none
  bool host = false;         // a host route (-host, or an address with host bits, /32)
  iopkt_ctl_route route{};   // dst, prefixlen, flags, gateway, ifa, mtu, ifname
  bool interface = false;    // -interface / -iface: the gateway is one of our addresses
};

// Parses argv[1..]: [-nqv] [-fib N] show|add|delete|change|get|flush
// [-net|-host] [-inet] DEST [GATEWAY] [-netmask MASK] [-ifp IF] [-ifa ADDR]
// [-mtu N] [-reject] [-blackhole] [-interface]. DEST is "default",
// "a.b.c.d" (a host unless its host part is 0, NetBSD's getaddr()) or
// "a.b.c.d/len". On failure false with *err ("" for a usage error).
bool parse_route_args(const std::vector<std::string>& args, RouteCommand* cmd, std::string* err);
extern const char kRouteUsage[];

// --- netstat(1) ---------------------------------------------------------------

struct NetstatOptions {
  bool all = false;         // -a
  bool numeric = false;     // -n
  bool routes = false;      // -r
  bool interfaces = false;  // -i (or -I IF)
  bool stats = false;       // -s
  bool mbufs = false;       // -m
  int stats_level = 0;      // -ss: counters that are 0 left out
  std::string ifname;       // -I IF
  std::string family;       // -f inet|inet6|...
  std::string protocol;     // -p ip|icmp|tcp|udp|arp|routing
};
bool parse_netstat_args(const std::vector<std::string>& args, NetstatOptions* o, std::string* err);
extern const char kNetstatUsage[];

// netstat -i (NetBSD intpr()): the header, then per interface a <Link>
// line and one line per IPv4 address, '\n' ended.
std::string netstat_if_header();
std::string netstat_if_lines(const iopkt_ctl_if_info& ifp, std::span<const iopkt_ctl_ifaddr> addrs);

// netstat -a (NetBSD protopr()): "Active Internet connections (including
// servers)" and the column header; one socket's line ("udp ... *.7000 *.*",
// "tcp ... 127.0.0.1.80 127.0.0.1.65000 ESTABLISHED").
std::string netstat_socket_header(bool all);
// "127.0.0.1.7000", "*.7000", "*.*".
std::string netstat_endpoint(const iopkt_ctl_addr& a);
std::string netstat_socket_line(const iopkt_ctl_socket_info& s);
// Protocol name of a socket: "udp", "tcp"; "" for one netstat skips (raw).
std::string netstat_proto(const iopkt_ctl_socket_info& s);
// BSD's tcpstates[] name of a TCPS_* number ("ESTABLISHED"); the number
// itself when out of range, as NetBSD prints it.
std::string netstat_tcp_state(uint32_t state);
// Whether netstat lists `s`: without -a (`all`), servers are left out —
// sockets on the wildcard address and TCP listeners (NetBSD protopr()).
bool netstat_socket_shown(const iopkt_ctl_socket_info& s, bool all);

// netstat -s: the counters of one protocol ("ip", "icmp", "tcp", "udp", "arp",
// "routing") in NetBSD's words where a counter has them, from the sysctl
// entries PREFIX.stats.NAME ("net.inet.ip.stats." ...). Every counter in
// `entries` under the prefix is printed, unknown ones as "\tN name"; a line
// may carry two ("\t\tN data packets (M bytes)", NetBSD's pairs).
// `skip_zero`: -ss, a line left out when all its counters are 0. Returns ""
// when no counter of the protocol exists.
std::string netstat_proto_stats(std::string_view proto, std::string_view prefix,
                                std::span<const iopkt_ctl_sysctl> entries, bool skip_zero);
// The protocols of netstat -s in order: {name, sysctl prefix}.
struct StatsSection {
  const char* name;
  const char* prefix;
};
std::span<const StatsSection> netstat_stats_sections();

// netstat -m (NetBSD mbpr()): the packet pool from the sysctl leaves
// kern.mbuf.* in `entries` — mbufs and clusters in use, the memory the pool
// holds, allocations refused — then any other kern.mbuf counter as
// "N name". Lines the stack has no leaf for are left out.
std::string netstat_mbuf_stats(std::span<const iopkt_ctl_sysctl> entries);

// --- arp(8) -------------------------------------------------------------------

// "? (192.0.2.2) at 02:00:00:00:00:02 on vw0 [ethernet]", "(incomplete)",
// " permanent" for arp -s entries (NetBSD's arp -a line).
std::string arp_line(const iopkt_ctl_arp& e);
// "02:00:00:00:00:02" (also 1-digit groups, as ether_aton()).
bool parse_mac(std::string_view text, uint8_t (&out)[6]);

enum class ArpOp { kShowAll, kShowOne, kDelete, kDeleteAll, kSet };
struct ArpCommand {
  ArpOp op = ArpOp::kShowAll;
  bool numeric = false;  // -n
  std::string host;      // as typed
  iopkt_ctl_addr addr{};
  uint8_t mac[6] = {};
  bool temp = false;   // arp -s ... temp
  std::string ifname;  // -i IF (io-pkt) filter for -a
};
bool parse_arp_args(const std::vector<std::string>& args, ArpCommand* cmd, std::string* err);
extern const char kArpUsage[];

// --- ping(8) ------------------------------------------------------------------

struct PingOptions {
  int64_t count = 0;      // -c: 0 = until interrupted
  double interval = 1.0;  // -i seconds
  int datalen = 56;       // -s
  int tos = -1;           // -t (NetBSD: type of service)
  int ttl = 0;            // -T
  double deadline = 0;    // -w seconds (NetBSD maxwait); 0 = none
  int waittime_ms = 0;    // -W ms to wait for the last reply (0: NetBSD's rule)
  bool quiet = false;     // -q
  bool numeric = false;   // -n
  bool once = false;      // -o
  std::string host;
};
bool parse_ping_args(const std::vector<std::string>& args, PingOptions* o, std::string* err);
extern const char kPingUsage[];

// RFC 1071 Internet checksum of `data` (the ICMP checksum, RFC 792).
uint16_t in_cksum(std::span<const uint8_t> data);

// An ICMP echo request (RFC 792): type 8, `ident`, `seq`, then `datalen`
// bytes of data: a timestamp (8 bytes seconds + 8 nanoseconds, host order,
// when datalen >= 16) and the pattern byte i at offset i. Checksummed.
std::vector<uint8_t> ping_echo_request(uint16_t ident, uint16_t seq, int datalen, int64_t sec,
                                       int64_t nsec);

// What a datagram read from the raw ICMP socket (IP header included, as
// BSD) means to ping.
struct PingPacket {
  enum Kind { kIgnore, kEchoReply, kError } kind = kIgnore;
  int icmp_len = 0;  // bytes after the IP header (NetBSD's "64 bytes")
  int ttl = 0;
  uint16_t seq = 0;
  bool has_time = false;
  int64_t sec = 0, nsec = 0;  // the request's timestamp
  std::string error_text;     // kError: "Destination Host Unreachable"...
};
// `ident` picks our replies, and errors that quote our requests.
PingPacket ping_parse(std::span<const uint8_t> packet, uint16_t ident);
// NetBSD pr_icmph() wording for an ICMP error type/code; "" for others.
std::string icmp_error_text(uint8_t type, uint8_t code);

struct PingStats {
  int64_t transmitted = 0, received = 0, repeats = 0;
  double tmin = 0, tmax = 0, tsum = 0, tsumsq = 0;  // seconds
  void add_rtt(double seconds);
};
// "\n----HOST PING Statistics----\n3 packets transmitted, ... loss\n"
// and the round-trip line when replies were timed (NetBSD summary()).
std::string ping_summary(std::string_view host, const PingStats& s, bool timed);

// --- errors -----------------------------------------------------------------

// strerror(err), followed by " (MSG)" when the stack's message `msg` says
// more than strerror does.
std::string error_detail(int err, std::string_view msg);

// Is `s` all decimal digits, in [lo, hi]? Sets *out.
bool parse_uint(std::string_view s, uint64_t lo, uint64_t hi, uint64_t* out);

}  // namespace iopkt::fmt

namespace iopkt::query {

// Paged listings (control.h iopkt_ctl_list), all pages. 0 or -1/errno with
// iopkt_last_error(). `name` filters: an interface name ("" = all) or a
// sysctl prefix; entries are filtered again here by exact interface name
// or by sysctl_under().
int interfaces(std::string_view name, std::vector<iopkt_ctl_if_info>* out);
int addresses(std::string_view ifname, std::vector<iopkt_ctl_ifaddr>* out);
int sysctls(std::string_view prefix, std::vector<iopkt_ctl_sysctl>* out);

// Routes of `fib` (ROUTE_LIST), ARP entries ("" = all interfaces), and the
// stack's sockets (SOCKET_LIST).
int routes(uint32_t fib, std::vector<iopkt_ctl_route>* out);
int arp_entries(std::string_view ifname, std::vector<iopkt_ctl_arp>* out);
int sockets(std::vector<iopkt_ctl_socket_info>* out);

// Copies `s` into a fixed char field, NUL-terminated; false if too long.
template <size_t N>
bool copy_name(char (&dst)[N], std::string_view s) {
  if (s.size() >= N) {
    return false;
  }
  s.copy(dst, s.size());
  dst[s.size()] = '\0';
  return true;
}

// A fixed char field as a string (stops at NUL or at the field's end).
template <size_t N>
std::string field(const char (&src)[N]) {
  size_t n = 0;
  while (n < N && src[n] != '\0') {
    ++n;
  }
  return std::string(src, n);
}

}  // namespace iopkt::query
