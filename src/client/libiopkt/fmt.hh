// client/libiopkt/fmt.hh — what the utilities (ifconfig, sysctl, if_up,
// mount) print and parse, kept in the library so that it is unit-tested
// without a stack: NetBSD's output formats as QNX users see them, and the
// command lines. Internal: exported from libiopkt.so for the utilities and
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
