// client/libiopkt/fmt.cc — output formats and command lines of the
// utilities (see fmt.hh). The formats are NetBSD 5's ifconfig and sysctl,
// which io-pkt's utilities inherit; if_up's options are QNX's (Utilities
// Reference, "if_up"); the listings are paged requests of control.h.
#include "client/libiopkt/fmt.hh"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <utility>

#include "client/libiopkt/internal.hh"
#include "iopkt/driver.h"
#include "iopkt/iopkt.h"

namespace iopkt::fmt {
namespace {

// NetBSD's IFFBITS, in bit order (sys/net/if.h).
constexpr const char* kIfFlagNames[16] = {
    "UP",      "BROADCAST", "DEBUG",   "LOOPBACK",  "POINTOPOINT", "NOTRAILERS",
    "RUNNING", "NOARP",     "PROMISC", "ALLMULTI",  "OACTIVE",     "SIMPLEX",
    "LINK0",   "LINK1",     "LINK2",   "MULTICAST",
};

bool is_link_local6(const iopkt_ctl_addr& a) {
  return a.addr[0] == 0xfe && (a.addr[1] & 0xc0) == 0x80;
}

bool is_multicast_ll6(const iopkt_ctl_addr& a) {
  return a.addr[0] == 0xff && (a.addr[1] & 0x0f) == 0x02;
}

}  // namespace

std::string if_flags(uint32_t flags) {
  char hex[16];
  snprintf(hex, sizeof hex, "%x", flags);
  std::string out = hex;
  out += '<';
  bool any = false;
  for (int bit = 0; bit < 16; ++bit) {
    if ((flags & (1u << bit)) != 0) {
      if (any) {
        out += ',';
      }
      out += kIfFlagNames[bit];
      any = true;
    }
  }
  out += '>';
  return out;
}

std::string mac(const uint8_t (&m)[6]) {
  char buf[18];
  snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

std::string addr(const iopkt_ctl_addr& a) {
  char buf[INET6_ADDRSTRLEN];
  if (a.family == AF_INET) {
    return inet_ntop(AF_INET, a.addr, buf, sizeof buf);
  }
  if (a.family == AF_INET6) {
    return inet_ntop(AF_INET6, a.addr, buf, sizeof buf);
  }
  return "";
}

std::string netmask_hex(uint32_t prefixlen) {
  uint32_t mask = prefixlen == 0 ? 0 : prefixlen >= 32 ? 0xffffffffu : ~0u << (32 - prefixlen);
  char buf[16];
  snprintf(buf, sizeof buf, "0x%x", mask);
  return buf;
}

std::string ifaddr_line(const iopkt_ctl_ifaddr& a, const iopkt_ctl_if_info& ifp) {
  std::string name = query::field(ifp.name);
  std::string out;
  if (a.addr.family == AF_INET) {
    // NetBSD in_alias(): address, "-> dst" on point-to-point links,
    // netmask in hex, broadcast where the link has one.
    out = "inet " + addr(a.addr);
    bool p2p = (ifp.flags & IOPKT_IFF_POINTOPOINT) != 0;
    if (p2p && a.dst_or_broadcast.family == AF_INET) {
      out += " -> " + addr(a.dst_or_broadcast);
    }
    out += " netmask " + netmask_hex(a.prefixlen);
    if (!p2p && a.dst_or_broadcast.family == AF_INET) {
      out += " broadcast " + addr(a.dst_or_broadcast);
    }
    return out;
  }
  if (a.addr.family == AF_INET6) {
    // NetBSD in6_alias(): scoped addresses as addr%ifname, prefixlen, the
    // address flags, then the scope id.
    out = "inet6 " + addr(a.addr);
    bool scoped = is_link_local6(a.addr) || is_multicast_ll6(a.addr);
    if (scoped) {
      out += "%" + name;
    }
    if ((ifp.flags & IOPKT_IFF_POINTOPOINT) != 0 && a.dst_or_broadcast.family == AF_INET6) {
      out += " -> " + addr(a.dst_or_broadcast);
    }
    out += " prefixlen " + std::to_string(a.prefixlen);
    if ((a.flags & IOPKT_IFA_ANYCAST) != 0) {
      out += " anycast";
    }
    if ((a.flags & IOPKT_IFA_TENTATIVE) != 0) {
      out += " tentative";
    }
    if ((a.flags & IOPKT_IFA_DEPRECATED) != 0) {
      out += " deprecated";
    }
    uint32_t scope = a.addr.scope_id != 0 ? a.addr.scope_id : (scoped ? ifp.index : 0);
    if (scoped && scope != 0) {
      char buf[24];
      snprintf(buf, sizeof buf, " scopeid 0x%x", scope);
      out += buf;
    }
    return out;
  }
  return "unknown address family " + std::to_string(a.addr.family);
}

std::string interface_block(const iopkt_ctl_if_info& ifp, std::span<const iopkt_ctl_ifaddr> addrs) {
  std::string out = query::field(ifp.name) + ": flags=" + if_flags(ifp.flags) + " mtu " +
                    std::to_string(ifp.mtu) + "\n";
  if (ifp.link_type == IOPKT_LINK_ETHER) {
    out += "\taddress: " + mac(ifp.mac) + "\n";
    // NetBSD prints the media status of links that report one.
    out += std::string("\tstatus: ") + (ifp.link_up != 0 ? "active" : "no carrier") + "\n";
  }
  bool first_inet = true;
  for (const iopkt_ctl_ifaddr& a : addrs) {
    if (a.addr.family == AF_INET) {
      // NetBSD marks the IPv4 addresses after the first "alias".
      std::string line = ifaddr_line(a, ifp);
      if (!first_inet) {
        line.insert(5, "alias ");
      }
      first_inet = false;
      out += "\t" + line + "\n";
    }
  }
  for (const iopkt_ctl_ifaddr& a : addrs) {
    if (a.addr.family != AF_INET) {
      out += "\t" + ifaddr_line(a, ifp) + "\n";
    }
  }
  return out;
}

bool parse_uint(std::string_view s, uint64_t lo, uint64_t hi, uint64_t* out) {
  if (s.empty() || s.size() > 19) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

namespace {

// Splits "ADDR/N"; *len -1 without a slash. False on a bad N.
bool split_prefix(std::string_view text, uint64_t max, std::string* addr_part, int* len) {
  size_t slash = text.find('/');
  *len = -1;
  if (slash == std::string_view::npos) {
    *addr_part = std::string(text);
    return true;
  }
  uint64_t n;
  if (!parse_uint(text.substr(slash + 1), 0, max, &n)) {
    return false;
  }
  *len = static_cast<int>(n);
  *addr_part = std::string(text.substr(0, slash));
  return true;
}

}  // namespace

bool parse_inet(std::string_view text, iopkt_ctl_addr* out, int* prefixlen) {
  std::string a;
  if (!split_prefix(text, 32, &a, prefixlen)) {
    return false;
  }
  iopkt_ctl_addr r{};
  if (inet_pton(AF_INET, a.c_str(), r.addr) != 1) {
    return false;
  }
  r.family = AF_INET;
  *out = r;
  return true;
}

bool parse_inet6(std::string_view text, iopkt_ctl_addr* out, int* prefixlen, std::string* scope) {
  std::string a;
  if (!split_prefix(text, 128, &a, prefixlen)) {
    return false;
  }
  iopkt_ctl_addr r{};
  scope->clear();
  size_t pct = a.find('%');
  if (pct != std::string::npos) {
    *scope = a.substr(pct + 1);
    a.resize(pct);
    if (scope->empty()) {
      return false;
    }
    uint64_t id;
    if (parse_uint(*scope, 1, UINT32_MAX, &id)) {
      r.scope_id = static_cast<uint32_t>(id);
      scope->clear();
    }
  }
  if (inet_pton(AF_INET6, a.c_str(), r.addr) != 1) {
    return false;
  }
  r.family = AF_INET6;
  *out = r;
  return true;
}

std::optional<int> mask_prefixlen(std::string_view text) {
  uint32_t mask = 0;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    if (text.size() > 10) {
      return std::nullopt;
    }
    for (char c : text.substr(2)) {
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return std::nullopt;
      }
      mask = (mask << 4) | static_cast<uint32_t>(d);
    }
  } else {
    in_addr in;
    if (inet_pton(AF_INET, std::string(text).c_str(), &in) != 1) {
      return std::nullopt;
    }
    mask = ntohl(in.s_addr);
  }
  // Contiguous: ones then zeros.
  uint32_t inverted = ~mask;
  if ((inverted & (inverted + 1)) != 0) {
    return std::nullopt;
  }
  return __builtin_popcount(mask);
}

int classful_prefixlen(const iopkt_ctl_addr& a) {
  uint8_t first = a.addr[0];
  if (first < 128) {
    return 8;
  }
  if (first < 192) {
    return 16;
  }
  return 24;
}

const char kIfconfigUsage[] =
    "usage: ifconfig [-a | -l] [-u] [-d]\n"
    "       ifconfig interface [inet | inet6] [address[/len] [dest_address]] [netmask mask]\n"
    "                [broadcast address] [prefixlen len] [alias | -alias | delete] [anycast]\n"
    "                [up | down] [mtu n] [promisc | -promisc] [create | destroy]\n";

bool parse_ifconfig_args(const std::vector<std::string>& args, IfconfigCommand* cmd,
                         std::string* err) {
  err->clear();
  IfconfigCommand c;
  size_t i = 0;
  bool any_option = false;
  bool all = false;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    for (char f : std::string_view(args[i]).substr(1)) {
      switch (f) {
        case 'a':
          all = true;
          break;
        case 'l':
          c.names_only = true;
          break;
        case 'u':
          c.only_up = true;
          break;
        case 'd':
          c.only_down = true;
          break;
        default:
          return false;  // -h and unknown options
      }
    }
    any_option = true;
  }
  if (i == args.size()) {
    c.list = true;  // "ifconfig" alone lists every interface, as -a
    *cmd = c;
    return true;
  }
  if (any_option && (all || c.names_only)) {
    return false;  // -a/-l take no interface
  }
  if (any_option) {
    return false;  // -u/-d only filter listings
  }
  c.ifname = args[i++];
  if (c.ifname.size() >= IOPKT_CTL_NAME_MAX) {
    *err = "interface name too long: " + c.ifname;
    return false;
  }
  auto need_value = [&](const std::string& key) -> const std::string* {
    if (i + 1 >= args.size()) {
      *err = key + ": missing value";
      return nullptr;
    }
    return &args[++i];
  };
  auto parse_address = [&](const std::string& text, iopkt_ctl_addr* out, int* len) {
    std::string scope;
    int family = c.family;
    if (family == 0) {
      family = text.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    }
    bool ok = family == AF_INET ? parse_inet(text, out, len) : parse_inet6(text, out, len, &scope);
    if (!ok) {
      *err = text + ": bad value";
      return false;
    }
    c.family = family;
    if (out == &c.addr) {
      c.scope = scope;
    }
    return true;
  };
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "inet" || a == "inet6") {
      int family = a == "inet" ? AF_INET : AF_INET6;
      if (c.have_addr || (c.family != 0 && c.family != family)) {
        *err = a + ": address family given too late";
        return false;
      }
      c.family = family;
    } else if (a == "up" || a == "down") {
      c.up = a == "up";
    } else if (a == "promisc" || a == "-promisc") {
      c.promisc = a == "promisc";
    } else if (a == "create") {
      c.create = true;
    } else if (a == "destroy") {
      c.destroy = true;
    } else if (a == "alias") {
      c.op = AddrOp::kAlias;
    } else if (a == "-alias" || a == "delete") {
      c.op = AddrOp::kDelete;
    } else if (a == "anycast") {
      c.anycast = true;
    } else if (a == "mtu") {
      const std::string* v = need_value(a);
      uint64_t n;
      if (v == nullptr) {
        return false;
      }
      if (!parse_uint(*v, 1, UINT32_MAX, &n)) {
        *err = "mtu: " + *v + ": bad value";
        return false;
      }
      c.mtu = static_cast<uint32_t>(n);
    } else if (a == "netmask") {
      const std::string* v = need_value(a);
      if (v == nullptr) {
        return false;
      }
      std::optional<int> len = mask_prefixlen(*v);
      if (!len) {
        *err = "netmask: " + *v + ": bad value";
        return false;
      }
      c.prefixlen = *len;
    } else if (a == "prefixlen") {
      const std::string* v = need_value(a);
      uint64_t n;
      if (v == nullptr) {
        return false;
      }
      if (!parse_uint(*v, 0, c.family == AF_INET ? 32 : 128, &n)) {
        *err = "prefixlen: " + *v + ": bad value";
        return false;
      }
      c.prefixlen = static_cast<int>(n);
    } else if (a == "broadcast") {
      const std::string* v = need_value(a);
      if (v == nullptr) {
        return false;
      }
      int ignored;
      if (!parse_address(*v, &c.dst, &ignored)) {
        return false;
      }
      c.have_dst = true;
    } else if (!c.have_addr) {
      int len;
      if (!parse_address(a, &c.addr, &len)) {
        return false;
      }
      c.have_addr = true;
      if (len >= 0) {
        c.prefixlen = len;
      }
      if (c.op == AddrOp::kNone) {
        c.op = AddrOp::kSet;
      }
    } else if (!c.have_dst) {
      int ignored;  // NetBSD: a second address is the destination (p2p)
      if (!parse_address(a, &c.dst, &ignored)) {
        return false;
      }
      c.have_dst = true;
    } else {
      *err = a + ": bad value";
      return false;
    }
  }
  if (c.have_addr && c.op == AddrOp::kNone) {
    c.op = AddrOp::kSet;
  }
  if ((c.op == AddrOp::kAlias || c.op == AddrOp::kSet) && !c.have_addr) {
    *err = "alias: no address given";
    return false;
  }
  if (c.have_dst && c.dst.family != c.addr.family && c.have_addr) {
    *err = "broadcast: address family differs from the address";
    return false;
  }
  if (c.family == AF_INET && c.prefixlen > 32) {
    *err = "prefixlen: bad value";
    return false;
  }
  if (c.destroy && (c.create || c.have_addr || c.up || c.mtu || c.promisc)) {
    *err = "destroy takes no other parameter";
    return false;
  }
  *cmd = c;
  return true;
}

std::string sysctl_line(const iopkt_ctl_sysctl& e, bool values_only) {
  std::string value = query::field(e.value);
  if (values_only) {
    return value;
  }
  return query::field(e.name) + " = " + value;
}

std::string sysctl_set_line(std::string_view name, std::string_view old_value,
                            std::string_view new_value, bool values_only) {
  std::string out;
  if (!values_only) {
    out = std::string(name) + ": ";
  }
  out += std::string(old_value) + " -> " + std::string(new_value);
  return out;
}

bool sysctl_under(std::string_view name, std::string_view prefix) {
  if (prefix.empty()) {
    return true;
  }
  if (name.substr(0, prefix.size()) != prefix) {
    return false;
  }
  return name.size() == prefix.size() || name[prefix.size()] == '.';
}

const char kIfUpUsage[] =
    "usage: if_up [-6ailp] [-m milliseconds] [-r retries] [-s seconds] interface...\n";

bool parse_if_up_args(const std::vector<std::string>& args, IfUpOptions* o, std::string* err) {
  err->clear();
  IfUpOptions r;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      break;
    }
    for (size_t k = 1; k < a.size(); ++k) {
      char f = a[k];
      if (f == 'm' || f == 'r' || f == 's') {
        // The value is the rest of this word or the next word (getopt).
        std::string v = a.substr(k + 1);
        if (v.empty()) {
          if (i + 1 >= args.size()) {
            *err = std::string("option requires an argument -- ") + f;
            return false;
          }
          v = args[++i];
        }
        uint64_t n;
        uint64_t max = f == 's' ? 3600 : f == 'm' ? 3600 * 1000 : 1000000;
        if (!parse_uint(v, f == 'r' ? 1 : 0, max, &n)) {
          *err = std::string("-") + f + ": bad value " + v;
          return false;
        }
        if (f == 'r') {
          r.retries = static_cast<int>(n);
        } else {
          r.interval_ms = static_cast<int>(f == 's' ? n * 1000 : n);  // the last wins
        }
        break;
      }
      switch (f) {
        case '6':
          r.inet6 = true;
          break;
        case 'a':
          r.all = true;
          break;
        case 'i':
          r.ignore_ll = true;
          break;
        case 'l':
          r.link = true;
          break;
        case 'p':
          r.present_only = true;
          break;
        default:
          return false;
      }
    }
  }
  for (; i < args.size(); ++i) {
    if (args[i].empty() || args[i].size() >= IOPKT_CTL_NAME_MAX) {
      *err = "bad interface name: " + args[i];
      return false;
    }
    r.ifnames.push_back(args[i]);
  }
  if (r.ifnames.empty()) {
    return false;
  }
  if (r.ignore_ll && !r.inet6) {
    *err = "-i needs -6";
    return false;
  }
  *o = r;
  return true;
}

bool if_up_ready(const IfUpOptions& o, const iopkt_ctl_if_info& ifp,
                 std::span<const iopkt_ctl_ifaddr> addrs) {
  if (o.present_only) {
    return true;
  }
  if ((ifp.flags & IOPKT_IFF_UP) == 0) {
    return false;
  }
  if (o.link && ifp.link_up == 0) {
    return false;
  }
  // "Configured": an address of the family that can be used, i.e. not
  // still under duplicate address detection (RFC 4862 §5.4).
  for (const iopkt_ctl_ifaddr& a : addrs) {
    if (a.addr.family != (o.inet6 ? AF_INET6 : AF_INET)) {
      continue;
    }
    if ((a.flags & IOPKT_IFA_TENTATIVE) != 0) {
      continue;
    }
    if (o.inet6 && o.ignore_ll && is_link_local6(a.addr)) {
      continue;
    }
    return true;
  }
  return false;
}

std::optional<int> mount_instance(std::string_view type) {
  constexpr std::string_view kType = "io-pkt";
  if (type.substr(0, kType.size()) != kType) {
    return std::nullopt;
  }
  std::string_view rest = type.substr(kType.size());
  if (rest.empty()) {
    return 0;
  }
  uint64_t n;
  if (!parse_uint(rest, 0, 9999, &n)) {
    return std::nullopt;
  }
  return static_cast<int>(n);
}

// --- route(8) ------------------------------------------------------------------

namespace {

uint32_t addr4(const iopkt_ctl_addr& a) {
  uint32_t v;
  memcpy(&v, a.addr, 4);
  return ntohl(v);
}

iopkt_ctl_addr make_addr4(uint32_t host_order) {
  iopkt_ctl_addr a{};
  a.family = AF_INET;
  uint32_t v = htonl(host_order);
  memcpy(a.addr, &v, 4);
  return a;
}

uint32_t mask_of(uint32_t prefixlen) {
  return prefixlen == 0 ? 0 : prefixlen >= 32 ? 0xffffffffu : ~0u << (32 - prefixlen);
}

std::string dotted(uint32_t host_order) { return addr(make_addr4(host_order)); }

// Our flag bits with NetBSD's letters (rtutil.c bits[]) and names
// (route.c routeflags), in the order NetBSD prints them. CONNECTED takes
// the place and letter NetBSD 8 gives RTF_CONNECTED.
struct RouteFlagName {
  uint32_t bit;
  char letter;
  const char* name;
};
constexpr RouteFlagName kRouteFlags[] = {
    {IOPKT_RTF_UP, 'U', "UP"},
    {IOPKT_RTF_GATEWAY, 'G', "GATEWAY"},
    {IOPKT_RTF_HOST, 'H', "HOST"},
    {IOPKT_RTF_REJECT, 'R', "REJECT"},
    {IOPKT_RTF_BLACKHOLE, 'B', "BLACKHOLE"},
    {IOPKT_RTF_CONNECTED, 'C', "CONNECTED"},
    {IOPKT_RTF_STATIC, 'S', "STATIC"},
    {IOPKT_RTF_LOCAL, 'l', "LOCAL"},
};

std::string padded(std::string_view s, size_t width, bool truncate) {
  std::string out(truncate && s.size() > width ? s.substr(0, width) : s);
  if (out.size() < width) {
    out.append(width - out.size(), ' ');
  }
  return out;
}

std::string right(std::string_view s, size_t width) {
  std::string out;
  if (s.size() < width) {
    out.assign(width - s.size(), ' ');
  }
  out += s;
  return out;
}

// NetBSD getaddr()/inet_makenetandmask() for a dotted quad given as a
// network: the shortest classful mask that leaves no host bits set.
uint32_t natural_prefixlen(uint32_t a) {
  if (a == 0) {
    return 0;
  }
  if ((a & 0x00ffffffu) == 0) {
    return 8;
  }
  if ((a & 0x0000ffffu) == 0) {
    return 16;
  }
  if ((a & 0x000000ffu) == 0) {
    return 24;
  }
  return 32;
}

// inet_lnaof(): the host part under the address's class.
uint32_t classful_host_part(uint32_t a) {
  if ((a & 0x80000000u) == 0) {
    return a & 0x00ffffffu;
  }
  if ((a & 0xc0000000u) == 0x80000000u) {
    return a & 0x0000ffffu;
  }
  return a & 0x000000ffu;
}

}  // namespace

std::string route_flags(uint32_t flags) {
  std::string out;
  for (const RouteFlagName& f : kRouteFlags) {
    if ((flags & f.bit) != 0) {
      out += f.letter;
    }
  }
  return out;
}

std::string route_flag_names(uint32_t flags) {
  std::string out;
  for (const RouteFlagName& f : kRouteFlags) {
    if ((flags & f.bit) != 0) {
      out += out.empty() ? "<" : ",";
      out += f.name;
    }
  }
  return out.empty() ? "none" : out + ">";
}

std::string route_netname(const iopkt_ctl_addr& dst, uint32_t prefixlen) {
  uint32_t a = addr4(dst) & mask_of(prefixlen);
  if (a == 0 && prefixlen == 0) {
    return "default";
  }
  char buf[40];
  unsigned b0 = a >> 24, b1 = (a >> 16) & 0xff, b2 = (a >> 8) & 0xff, b3 = a & 0xff;
  if (prefixlen < 9) {
    snprintf(buf, sizeof buf, "%u/%u", b0, prefixlen);
  } else if (prefixlen < 17) {
    snprintf(buf, sizeof buf, "%u.%u/%u", b0, b1, prefixlen);
  } else if (prefixlen < 25) {
    snprintf(buf, sizeof buf, "%u.%u.%u/%u", b0, b1, b2, prefixlen);
  } else {
    snprintf(buf, sizeof buf, "%u.%u.%u.%u/%u", b0, b1, b2, b3, prefixlen);
  }
  return buf;
}

std::string route_destination(const iopkt_ctl_route& r) {
  if ((r.flags & IOPKT_RTF_HOST) != 0 || r.prefixlen == 32) {
    return addr4(r.dst) == 0 ? "default" : addr(r.dst);
  }
  return route_netname(r.dst, r.prefixlen);
}

std::string route_gateway(const iopkt_ctl_route& r, uint32_t ifindex) {
  if ((r.flags & IOPKT_RTF_GATEWAY) != 0 && r.gateway.family == AF_INET) {
    return addr(r.gateway);
  }
  if (ifindex != 0) {
    return "link#" + std::to_string(ifindex);
  }
  return "-";
}

std::string route_table_header() {
  // NetBSD p_rthdr(): "%-18.18s %-18.18s %-6.6s %6.6s %8.8s %6.6s %s".
  return "Routing tables\n\nInternet:\n" + padded("Destination", 18, true) + " " +
         padded("Gateway", 18, true) + " " + padded("Flags", 6, true) + " " + right("Refs", 6) +
         " " + right("Use", 8) + " " + right("Mtu", 6) + " Interface\n";
}

std::string route_table_line(const iopkt_ctl_route& r, uint32_t ifindex, bool numeric) {
  // NetBSD p_rtentry(): -n widens the address columns instead of cutting.
  std::string out = padded(route_destination(r), 18, !numeric) + " ";
  out += padded(route_gateway(r, ifindex), 18, !numeric) + " ";
  out += padded(route_flags(r.flags), 6, true) + " ";
  out += right("-", 6) + " " + right(std::to_string(r.use), 8) + " ";
  out += right(r.mtu != 0 ? std::to_string(r.mtu) : "-", 6) + "  ";
  std::string ifname = query::field(r.ifname);
  out += ifname.substr(0, 16) + "\n";
  return out;
}

std::string route_strerror(int err) {
  switch (err) {
    case ESRCH:
      return "not in table";
    case EBUSY:
      return "entry in use";
    case ENOBUFS:
      return "routing table overflow";
    default: {
      char buf[128];
      return strerror_r(err, buf, sizeof buf);
    }
  }
}

std::string route_get_block(std::string_view asked, const iopkt_ctl_route& r) {
  // NetBSD print_getmsg(): the lines a route has, then its metrics.
  std::string out = "   route to: " + std::string(asked) + "\n";
  bool host = (r.flags & IOPKT_RTF_HOST) != 0 || r.prefixlen == 32;
  out += "destination: " + (addr4(r.dst) == 0 ? std::string("default") : addr(r.dst)) + "\n";
  if (!host) {
    out += "       mask: " +
           (r.prefixlen == 0 ? std::string("default") : dotted(mask_of(r.prefixlen))) + "\n";
  }
  if ((r.flags & IOPKT_RTF_GATEWAY) != 0 && r.gateway.family == AF_INET) {
    out += "    gateway: " + addr(r.gateway) + "\n";
  }
  if (r.ifa.family == AF_INET) {
    out += " local addr: " + addr(r.ifa) + "\n";
  }
  std::string ifname = query::field(r.ifname);
  if (!ifname.empty()) {
    out += "  interface: " + ifname + "\n";
  }
  out += "      flags: " + route_flag_names(r.flags) + "\n";
  out += " recvpipe  sendpipe  ssthresh  rtt,msec    rttvar  hopcount      mtu     expire\n";
  char buf[128];
  snprintf(buf, sizeof buf, "%8d  %8d  %8d  %8d  %8d  %8d  %8u  %8d \n", 0, 0, 0, 0, 0, 0, r.mtu,
           0);
  out += buf;
  return out;
}

const char kRouteUsage[] =
    "usage: route [-nqv] [-fib fib] command [[modifiers] args]\n"
    "       commands: add, change, delete, flush, get, show\n"
    "       route add|change|delete|get [-net|-host] [-inet] destination [gateway]\n"
    "             [-netmask mask] [-ifp interface] [-ifa address] [-mtu n]\n"
    "             [-reject] [-blackhole] [-interface]\n";

bool parse_route_args(const std::vector<std::string>& args, RouteCommand* cmd, std::string* err) {
  err->clear();
  RouteCommand c;
  size_t i = 0;
  auto parse_fib = [&](const std::string& v) {
    uint64_t n;
    if (!parse_uint(v, 0, 15, &n)) {
      *err = "-fib: " + v + ": bad value";
      return false;
    }
    c.fib = static_cast<uint32_t>(n);
    c.route.fib = c.fib;
    return true;
  };
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    if (args[i] == "-fib") {
      if (i + 1 >= args.size() || !parse_fib(args[++i])) {
        return false;
      }
      continue;
    }
    for (char f : std::string_view(args[i]).substr(1)) {
      switch (f) {
        case 'n':
          c.numeric = true;
          break;
        case 'q':
          c.quiet = true;
          break;
        case 'v':
          break;  // verbose: nothing more to say than the default
        default:
          return false;
      }
    }
  }
  if (i == args.size()) {
    return false;  // NetBSD: a command is required
  }
  const std::string& word = args[i++];
  if (word == "show") {
    c.op = RouteOp::kShow;
  } else if (word == "add") {
    c.op = RouteOp::kAdd;
  } else if (word == "delete") {
    c.op = RouteOp::kDelete;
  } else if (word == "change") {
    c.op = RouteOp::kChange;
  } else if (word == "get") {
    c.op = RouteOp::kGet;
  } else if (word == "flush") {
    c.op = RouteOp::kFlush;
  } else {
    *err = word + ": unknown command";
    return false;
  }
  if (c.op == RouteOp::kShow || c.op == RouteOp::kFlush) {
    for (; i < args.size(); ++i) {
      if (args[i] == "-inet") {
        continue;
      }
      if (args[i] == "-inet6") {
        c.inet6 = true;
        continue;
      }
      if (args[i] == "-fib" && i + 1 < args.size()) {
        if (!parse_fib(args[++i])) {
          return false;
        }
        continue;
      }
      if (args[i] == "-n") {
        c.numeric = true;
        continue;
      }
      *err = "botched keyword: " + args[i];
      return false;
    }
    *cmd = c;
    return true;
  }

  bool force_net = false;
  bool force_host = false;
  bool have_dst = false;
  bool have_gw = false;
  bool dst_is_host = false;
  int mask_len = -1;  // from -netmask or a third word
  int dst_len = -1;   // from DEST/len or the natural mask
  bool is_default = false;
  uint32_t dst = 0;
  auto need = [&](const std::string& key) -> const std::string* {
    if (i + 1 >= args.size()) {
      *err = "botched keyword: " + key.substr(1);
      return nullptr;
    }
    return &args[++i];
  };
  auto parse_v4 = [&](const std::string& text, iopkt_ctl_addr* out) {
    int len;
    if (text.find('/') != std::string::npos || !parse_inet(text, out, &len)) {
      *err = text + ": bad value";
      return false;
    }
    return true;
  };
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 1 && a[0] == '-') {
      if (a == "-net") {
        force_net = true;
      } else if (a == "-host") {
        force_host = true;
      } else if (a == "-inet") {
      } else if (a == "-inet6") {
        c.inet6 = true;
      } else if (a == "-interface" || a == "-iface") {
        c.interface = true;
      } else if (a == "-reject") {
        c.route.flags |= IOPKT_RTF_REJECT;
      } else if (a == "-blackhole") {
        c.route.flags |= IOPKT_RTF_BLACKHOLE;
      } else if (a == "-static") {
      } else if (a == "-netmask") {
        const std::string* v = need(a);
        if (v == nullptr) {
          return false;
        }
        std::optional<int> len = mask_prefixlen(*v);
        if (!len) {
          *err = *v + ": bad value";
          return false;
        }
        mask_len = *len;
        force_net = true;
      } else if (a == "-prefixlen") {
        const std::string* v = need(a);
        uint64_t n;
        if (v == nullptr) {
          return false;
        }
        if (!parse_uint(*v, 0, 32, &n)) {
          *err = *v + ": bad value";
          return false;
        }
        mask_len = static_cast<int>(n);
      } else if (a == "-ifp") {
        const std::string* v = need(a);
        if (v == nullptr) {
          return false;
        }
        if (!query::copy_name(c.route.ifname, *v)) {
          *err = *v + ": bad value";
          return false;
        }
      } else if (a == "-ifa") {
        const std::string* v = need(a);
        if (v == nullptr || !parse_v4(*v, &c.route.ifa)) {
          return false;
        }
      } else if (a == "-mtu") {
        const std::string* v = need(a);
        uint64_t n;
        if (v == nullptr) {
          return false;
        }
        if (!parse_uint(*v, 68, 65535, &n)) {
          *err = *v + ": bad value";
          return false;
        }
        c.route.mtu = static_cast<uint32_t>(n);
      } else if (a == "-fib") {
        const std::string* v = need(a);
        if (v == nullptr || !parse_fib(*v)) {
          return false;
        }
      } else {
        *err = "botched keyword: " + a.substr(1);
        return false;
      }
      continue;
    }
    if (!have_dst) {
      have_dst = true;
      c.dest_text = a;
      if (c.inet6 || a.find(':') != std::string::npos) {
        c.inet6 = true;
        continue;  // refused below, with the IPv6 message
      }
      if (a == "default") {
        is_default = true;
        dst_len = 0;
        continue;
      }
      iopkt_ctl_addr d{};
      int len = -1;
      if (!parse_inet(a, &d, &len)) {
        *err = a + ": bad value";
        return false;
      }
      dst = addr4(d);
      if (len >= 0) {
        dst_len = len;  // NetBSD: DEST/len is a net unless len is 32
        dst_is_host = len == 32;
      } else if (classful_host_part(dst) != 0) {
        dst_is_host = true;
        dst_len = static_cast<int>(natural_prefixlen(dst));
      } else {
        dst_len = static_cast<int>(natural_prefixlen(dst));
      }
    } else if (!have_gw) {
      have_gw = true;
      c.gateway_text = a;
      if (c.inet6) {
        continue;
      }
      if (!parse_v4(a, &c.route.gateway)) {
        return false;
      }
    } else {
      // NetBSD: a third word is the netmask.
      std::optional<int> len = mask_prefixlen(a);
      if (!len) {
        return false;
      }
      mask_len = *len;
    }
  }
  if (c.inet6) {
    *cmd = c;
    return true;  // the caller refuses it with its own message
  }
  if (!have_dst) {
    *err = "missing destination specification";
    return false;
  }
  bool reject = (c.route.flags & (IOPKT_RTF_REJECT | IOPKT_RTF_BLACKHOLE)) != 0;
  if (c.op == RouteOp::kAdd && !have_gw && !reject) {
    *err = "missing gateway specification";
    return false;
  }
  if (force_host && force_net) {
    *err = "-host and -net conflict";
    return false;
  }
  bool host = force_host ? true : force_net ? false : dst_is_host;
  if (is_default) {
    host = false;
  }
  int len = host ? 32 : mask_len >= 0 ? mask_len : dst_len;
  c.host = host;
  c.route.dst = make_addr4(dst & mask_of(static_cast<uint32_t>(len)));
  c.route.prefixlen = static_cast<uint32_t>(len);
  if (host) {
    c.route.flags |= IOPKT_RTF_HOST;
  }
  if (have_gw && !c.interface) {
    // A reject or blackhole route "via" 127.0.0.1 (NetBSD's idiom) needs
    // no gateway here: the stack drops or refuses before any next hop.
    bool loopback_gw = (addr4(c.route.gateway) >> 24) == 127;
    if (!(reject && loopback_gw)) {
      c.route.flags |= IOPKT_RTF_GATEWAY;
    } else {
      c.route.gateway = iopkt_ctl_addr{};
    }
  }
  c.route.flags |= IOPKT_RTF_UP | IOPKT_RTF_STATIC;
  *cmd = c;
  return true;
}

// --- netstat(1) ---------------------------------------------------------------

const char kNetstatUsage[] =
    "usage: netstat [-an] [-f address_family] [-p protocol]\n"
    "       netstat -i [-n] [-I interface]\n"
    "       netstat -r [-n] [-f address_family]\n"
    "       netstat -s [-s] [-p protocol]\n"
    "       netstat -m\n";

bool parse_netstat_args(const std::vector<std::string>& args, NetstatOptions* o, std::string* err) {
  err->clear();
  NetstatOptions r;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      *err = "";
      return false;  // no system/core files here
    }
    for (size_t k = 1; k < a.size(); ++k) {
      char f = a[k];
      if (f == 'I' || f == 'f' || f == 'p') {
        std::string v = a.substr(k + 1);
        if (v.empty()) {
          if (i + 1 >= args.size()) {
            *err = std::string("option requires an argument -- ") + f;
            return false;
          }
          v = args[++i];
        }
        if (f == 'I') {
          r.ifname = v;
          r.interfaces = true;
        } else if (f == 'f') {
          if (v != "inet" && v != "inet6" && v != "unix" && v != "local") {
            *err = v + ": unknown address family";
            return false;
          }
          r.family = v;
        } else {
          if (v != "ip" && v != "icmp" && v != "udp" && v != "arp" && v != "tcp" && v != "igmp" &&
              v != "routing") {
            *err = v + ": unknown or uninstrumented protocol";
            return false;
          }
          r.protocol = v;
        }
        break;
      }
      switch (f) {
        case 'a':
          r.all = true;
          break;
        case 'n':
          r.numeric = true;
          break;
        case 'r':
          r.routes = true;
          break;
        case 'i':
          r.interfaces = true;
          break;
        case 's':
          r.stats = true;
          ++r.stats_level;
          break;
        case 'm':
          r.mbufs = true;
          break;
        default:
          return false;
      }
    }
  }
  *o = r;
  return true;
}

std::string netstat_if_header() {
  char buf[160];
  snprintf(buf, sizeof buf, "%-5.5s %-5.5s %-13.13s %-17.17s %8.8s %5.5s %8.8s %5.5s %5s\n", "Name",
           "Mtu", "Network", "Address", "Ipkts", "Ierrs", "Opkts", "Oerrs", "Colls");
  return buf;
}

std::string netstat_if_lines(const iopkt_ctl_if_info& ifp,
                             std::span<const iopkt_ctl_ifaddr> addrs) {
  // NetBSD intpr(): a down interface's name gets a '*'; the <Link> line
  // carries the hardware address, then one line per IPv4 address.
  std::string name = query::field(ifp.name);
  if ((ifp.flags & IOPKT_IFF_UP) == 0) {
    name += '*';
  }
  char head[64];
  snprintf(head, sizeof head, "%-5.5s %-5u ", name.c_str(), ifp.mtu);
  char counts[128];
  const iopkt_ctl_if_stats& s = ifp.stats;
  snprintf(counts, sizeof counts, "%8llu %5llu %8llu %5llu %5llu\n",
           static_cast<unsigned long long>(s.ipackets), static_cast<unsigned long long>(s.ierrors),
           static_cast<unsigned long long>(s.opackets), static_cast<unsigned long long>(s.oerrors),
           static_cast<unsigned long long>(s.collisions));
  std::string link = padded("<Link>", 13, true) + " ";
  if (ifp.link_type == IOPKT_LINK_ETHER) {
    link += mac(ifp.mac) + " ";
  }
  std::string out = head + padded(link, 32, false) + counts;
  for (const iopkt_ctl_ifaddr& a : addrs) {
    if (a.addr.family != AF_INET) {
      continue;
    }
    std::string net = route_netname(a.addr, a.prefixlen);
    char line[96];
    snprintf(line, sizeof line, "%-13.13s %-17.17s ", net.c_str(), addr(a.addr).c_str());
    out += head + std::string(line) + counts;
  }
  return out;
}

std::string netstat_socket_header(bool all) {
  std::string out = "Active Internet connections";
  if (all) {
    out += " (including servers)";
  }
  char buf[160];
  snprintf(buf, sizeof buf, "\n%-5.5s %-6.6s %-6.6s  %-22.22s %-22.22s %s\n", "Proto", "Recv-Q",
           "Send-Q", "Local Address", "Foreign Address", "State");
  return out + buf;
}

std::string netstat_endpoint(const iopkt_ctl_addr& a) {
  // NetBSD inetprint(): "*" for the wildcard address and port.
  std::string host = a.family != AF_INET || addr4(a) == 0 ? "*" : addr(a);
  return host + "." + (a.port == 0 ? std::string("*") : std::to_string(a.port));
}

std::string netstat_proto(const iopkt_ctl_socket_info& s) {
  if (s.domain != AF_INET) {
    return "";
  }
  if (s.type == SOCK_DGRAM) {
    return "udp";
  }
  if (s.type == SOCK_STREAM) {
    return "tcp";
  }
  return "";  // raw sockets: NetBSD's netstat does not list them
}

std::string netstat_tcp_state(uint32_t state) {
  // BSD tcpstates[], in TCPS_* order (netinet/tcp_fsm.h).
  static constexpr const char* kNames[] = {
      "CLOSED",     "LISTEN",  "SYN_SENT", "SYN_RCVD",   "ESTABLISHED", "CLOSE_WAIT",
      "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
  };
  if (state < std::size(kNames)) {
    return kNames[state];
  }
  return std::to_string(state);
}

bool netstat_socket_shown(const iopkt_ctl_socket_info& s, bool all) {
  if (all) {
    return true;
  }
  bool wildcard = true;
  for (int k = 0; k < 4; ++k) {
    wildcard = wildcard && s.laddr.addr[k] == 0;
  }
  constexpr uint32_t kTcpsListen = 1;
  return !wildcard && !(s.type == SOCK_STREAM && s.state == kTcpsListen);
}

std::string netstat_socket_line(const iopkt_ctl_socket_info& s) {
  char buf[192];
  std::string state = s.type == SOCK_STREAM ? netstat_tcp_state(s.state) : "";
  snprintf(buf, sizeof buf, "%-5.5s %6u %6u  %-22.22s %-22.22s %s", netstat_proto(s).c_str(),
           s.rcv_cc, s.snd_cc, netstat_endpoint(s.laddr).c_str(), netstat_endpoint(s.faddr).c_str(),
           state.c_str());
  std::string out = buf;
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();  // a datagram socket has no state column
  }
  return out + "\n";
}

namespace {

// One counter's line: "%llu" becomes the value, "%s" the plural "s" of
// the value before it. A line may carry a second counter, `name2`, for the
// second "%llu" ("%llu data packets (%llu bytes)", NetBSD's pairs).
struct StatText {
  const char* name;
  const char* text;
  const char* name2 = nullptr;
};

// NetBSD usr.bin/netstat/inet.c ip_stats(), by the stack's counter names
// (which follow NetBSD's ips_* where they mean the same).
constexpr StatText kIpStats[] = {
    {"total", "\t%llu total packets received"},
    {"badsum", "\t%llu bad header checksum%s"},
    {"tooshort", "\t%llu with size smaller than minimum"},
    {"toosmall", "\t%llu with size smaller than minimum"},
    {"badhlen", "\t%llu with header length < data size"},
    {"badlen", "\t%llu with data length < header length"},
    {"badoptions", "\t%llu with bad options"},
    {"badvers", "\t%llu with incorrect version number"},
    {"fragments", "\t%llu fragment%s received"},
    {"fragdropped", "\t%llu fragment%s dropped (dup or out of space)"},
    {"fragdup", "\t\t%llu duplicate fragment%s"},
    {"fragmemdrop", "\t\t%llu fragment%s over the reassembly memory or queue limits"},
    {"fragbad", "\t\t%llu malformed fragment%s"},
    {"fragtiny", "\t\t%llu tiny fragment%s (RFC 1858)"},
    {"badfrags", "\t%llu malformed fragment%s dropped"},
    {"fragoverlap", "\t%llu datagram%s dropped for overlapping fragments"},
    {"fragtoolong", "\t%llu datagram%s dropped for reassembling beyond 65535 bytes"},
    {"fragtimeout", "\t%llu datagram%s dropped after reassembly timeout"},
    {"reassembled", "\t%llu packet%s reassembled ok"},
    {"delivered", "\t%llu packet%s for this host"},
    {"noproto", "\t%llu packet%s for unknown/unsupported protocol"},
    {"forward", "\t%llu packet%s forwarded"},
    {"cantforward", "\t%llu packet%s not forwardable"},
    {"srcroute", "\t%llu packet%s with a source route not followed (not forwarding)"},
    {"redirectsent", "\t%llu redirect%s sent"},
    {"rawfull", "\t%llu packet%s dropped due to full raw socket buffers"},
    {"localout", "\t%llu packet%s sent from this host"},
    {"rawout", "\t%llu packet%s sent with fabricated ip header"},
    {"odropped", "\t%llu output packet%s dropped due to no bufs, etc."},
    {"noroute", "\t%llu output packet%s discarded due to no route"},
    {"fragmented", "\t%llu output datagram%s fragmented"},
    {"ofragments", "\t%llu fragment%s created"},
    {"cantfrag", "\t%llu datagram%s that can't be fragmented"},
    {"toolong", "\t%llu output datagram%s longer than 65535 bytes"},
    {"badaddr", "\t%llu datagram%s with bad address in header"},
};

// icmp_stats(); the histograms are "outhist.TYPE" / "inhist.TYPE", placed
// where the "@" entries stand, as NetBSD prints them.
constexpr StatText kIcmpStats[] = {
    {"error", "\t%llu call%s to icmp_error"},
    {"oldicmp", "\t%llu error%s not generated because old message was icmp"},
    {"oldshort", "\t%llu error%s not generated because old message was too short"},
    {"bmcast", "\t%llu error%s not generated because of a broadcast/multicast destination"},
    {"badsrc", "\t%llu error%s not generated because the source was not a unicast address"},
    {"fragment", "\t%llu error%s not generated because the packet was a later fragment"},
    {"toofreq", "\t%llu error%s not generated because of rate limitation"},
    {"ratelimited", "\t%llu error%s not generated because of rate limitation"},
    {"odropped", "\t%llu error%s dropped for want of a route or buffers"},
    {"@outhist.", "\tOutput histogram:\n"},
    {"received", "\t%llu message%s received"},
    {"badcode", "\t%llu message%s with bad code fields"},
    {"tooshort", "\t%llu message%s < minimum length"},
    {"checksum", "\t%llu bad checksum%s"},
    {"badsum", "\t%llu bad checksum%s"},
    {"badlen", "\t%llu message%s with bad length"},
    {"badtype", "\t%llu message%s of unknown type"},
    {"bmcastecho", "\t%llu broadcast/multicast echo request%s ignored"},
    {"@inhist.", "\tInput histogram:\n"},
    {"reflect", "\t%llu message response%s generated"},
    {"ignored", "\t%llu message%s understood but not acted upon"},
    {"badmtu", "\t%llu need-fragment message%s with an impossible MTU ignored"},
    {"pmtuchg", "\t%llu path MTU change%s"},
    {"ctlinput", "\t%llu error%s passed to transport protocols"},
};

// The ICMP type names of NetBSD's icmpnames[].
constexpr StatText kIcmpTypeNames[] = {
    {"echoreply", "echo reply"},
    {"unreach", "destination unreachable"},
    {"sourcequench", "source quench"},
    {"redirect", "routing redirect"},
    {"echo", "echo"},
    {"routeradvert", "router advertisement"},
    {"routersolicit", "router solicitation"},
    {"timxceed", "time exceeded"},
    {"paramprob", "parameter problem"},
    {"tstamp", "time stamp"},
    {"tstampreply", "time stamp reply"},
    {"ireq", "information request"},
    {"ireqreply", "information request reply"},
    {"maskreq", "address mask request"},
    {"maskreply", "address mask reply"},
};

// udp_stats().
constexpr StatText kUdpStats[] = {
    {"ipackets", "\t%llu datagram%s received"},
    {"hdrops", "\t%llu with incomplete header"},
    {"badlen", "\t%llu with bad data length field"},
    {"badsum", "\t%llu with bad checksum"},
    {"noport", "\t%llu dropped due to no socket"},
    {"noportbcast", "\t%llu broadcast/multicast datagram%s dropped due to no socket"},
    {"fullsock", "\t%llu dropped due to full socket buffers"},
    {"delivered", "\t%llu delivered"},
    {"opackets", "\t%llu datagram%s output"},
};

// tcp_stats(), in its order and words where NetBSD counts the same thing;
// the stack's own counters (RFC 5961 challenge ACKs, drop reasons, SACK,
// keepalive) beside their closest relatives.
constexpr StatText kTcpStats[] = {
    {"sndtotal", "\t%llu packet%s sent"},
    {"sndpack", "\t\t%llu data packet%s (%llu byte%s)", "sndbyte"},
    {"sndrexmitpack", "\t\t%llu data packet%s (%llu byte%s) retransmitted", "sndrexmitbyte"},
    {"sack_rexmits", "\t\t%llu data packet%s (%llu byte%s) retransmitted by SACK recovery",
     "sack_rexmit_bytes"},
    {"sndacks", "\t\t%llu ack-only packet%s (%llu delayed)", "delack"},
    {"sndprobe", "\t\t%llu window probe packet%s"},
    {"sndwinup", "\t\t%llu window update packet%s"},
    {"sndctrl", "\t\t%llu control packet%s"},
    {"sndrst", "\t\t%llu reset%s"},
    {"noroute", "\t\t%llu send attempt%s failed for want of a route or buffers"},
    {"rcvtotal", "\t%llu packet%s received"},
    {"rcvackpack", "\t\t%llu ack%s (for %llu byte%s)", "rcvackbyte"},
    {"rcvdupack", "\t\t%llu duplicate ack%s"},
    {"rcvacktoomuch", "\t\t%llu ack%s for unsent data"},
    {"rcvackold", "\t\t%llu ack%s too old to be acceptable (RFC 5961)"},
    {"rcvpack", "\t\t%llu packet%s (%llu byte%s) received in-sequence", "rcvbyte"},
    {"rcvduppack", "\t\t%llu completely duplicate packet%s (%llu byte%s)", "rcvdupbyte"},
    {"pawsdrop", "\t\t%llu old duplicate packet%s"},
    {"rcvpartduppack", "\t\t%llu packet%s with some dup. data"},
    {"rcvoopack", "\t\t%llu out-of-order packet%s (%llu byte%s)", "rcvoobyte"},
    {"rcvreassfull", "\t\t%llu out-of-order packet%s dropped: reassembly queue full"},
    {"rcvpackafterwin", "\t\t%llu packet%s of data after window"},
    {"rcvoutwin", "\t\t%llu unacceptable packet%s acknowledged and dropped"},
    {"rcvwinprobe", "\t\t%llu window probe%s"},
    {"rcvwinupd", "\t\t%llu window update packet%s"},
    {"rcvafterclose", "\t\t%llu packet%s received after close"},
    {"rcvbadsum", "\t\t%llu discarded for bad checksum%s"},
    {"rcvbadoff", "\t\t%llu discarded for bad header offset field%s"},
    {"rcvshort", "\t\t%llu discarded because packet too short"},
    {"rcvbadopt", "\t\t%llu discarded for malformed options"},
    {"rcvbadaddr", "\t\t%llu discarded for a broadcast or multicast address"},
    {"connattempt", "\t%llu connection request%s"},
    {"accepts", "\t%llu connection accept%s"},
    {"connects", "\t%llu connection%s established (including accepts)"},
    {"closed", "\t%llu connection%s closed (including %llu drop%s)", "drops"},
    {"conndrops", "\t%llu embryonic connection%s dropped"},
    {"listendrop", "\t%llu listen queue overflow%s"},
    {"syncookies_sent", "\t%llu SYN cookie%s sent"},
    {"syncookies_recvd", "\t%llu SYN cookie%s received"},
    {"syncookies_failed", "\t%llu SYN cookie%s rejected"},
    {"twreuse", "\t%llu TIME_WAIT connection%s ended early by a new SYN"},
    {"rttupdated", "\t%llu segment%s updated rtt"},
    {"rexmttimeo", "\t%llu retransmit timeout%s"},
    {"timeoutdrop", "\t\t%llu connection%s dropped by rexmit timeout"},
    {"persisttimeo", "\t%llu persist timeout%s"},
    {"keeptimeo", "\t%llu keepalive timeout%s"},
    {"keepprobe", "\t\t%llu keepalive probe%s sent"},
    {"keepdrops", "\t\t%llu connection%s dropped by keepalive"},
    {"finwait2drop", "\t%llu orphaned FIN_WAIT_2 connection%s dropped"},
    {"fastretrans", "\t%llu fast retransmit%s"},
    {"partialack", "\t%llu partial ack%s in fast recovery"},
    {"noport", "\t%llu dropped due to no socket"},
    {"rcvnosock", "\t%llu ack%s to a listener without a pending connection"},
    {"rcvbadsyn", "\t%llu bad connection attempt%s"},
    {"rcvbadack", "\t%llu unacceptable ack%s during the handshake"},
    {"rcvrst", "\t%llu reset%s received"},
    {"rcvrstoutwin", "\t\t%llu reset%s outside the window ignored"},
    {"rcvrstchallenge", "\t\t%llu reset%s in the window answered with a challenge ACK"},
    {"rcvsynchallenge", "\t%llu SYN%s on a synchronized connection answered with a challenge ACK"},
    {"challengeack", "\t%llu challenge ACK%s sent"},
    {"challengeacklimit", "\t\t%llu challenge ACK%s suppressed by the rate limit"},
    {"sack_recovery_episode", "\t%llu SACK recovery episode%s"},
    {"sack_rcv_blocks", "\t%llu SACK option block%s received"},
    {"sack_bad_blocks", "\t\t%llu bad SACK block%s ignored"},
    {"sack_sboverflow", "\t\t%llu SACK block%s ignored: scoreboard full"},
    {"sack_send_blocks", "\t%llu SACK option block%s sent"},
};

// arp_stats().
constexpr StatText kArpStats[] = {
    {"txrequests", "\t%llu request packet%s sent"},
    {"txreplies", "\t%llu reply packet%s sent"},
    {"received", "\t%llu packet%s received"},
    {"rxrequests", "\t\t%llu valid request packet%s"},
    {"rxreplies", "\t\t%llu reply packet%s"},
    {"badlen", "\t\t%llu packet%s with bad (short) length"},
    {"badformat", "\t\t%llu packet%s with unknown protocol type"},
    {"badaddr", "\t\t%llu packet%s with a bad or null IP address"},
    {"dupaddr", "\t\t%llu duplicate%s for a local IP address"},
    {"holddrops", "\t%llu packet%s dropped from a full hold queue"},
    {"timeouts", "\t%llu entr%s timed out before resolution"},
    {"dropped", "\t%llu packet%s dropped with their timed-out entry"},
};

// rt_stats() of netstat -rs, with the stack's own counters.
constexpr StatText kRouteStats[] = {
    {"lookups", "\t%llu route lookup%s"},
    {"unreach", "\t%llu destination%s found unreachable"},
    {"reject", "\t%llu use%s of a reject or blackhole route"},
};

constexpr StatsSection kSections[] = {
    {"ip", "net.inet.ip.stats."},     {"icmp", "net.inet.icmp.stats."},
    {"igmp", "net.inet.igmp.stats."}, {"tcp", "net.inet.tcp.stats."},
    {"udp", "net.inet.udp.stats."},   {"arp", "net.inet.arp.stats."},
    {"routing", "net.route.stats."},
};

std::string stat_line(const char* text, uint64_t v, uint64_t v2 = 0) {
  std::string out;
  int used = 0;  // values substituted so far
  for (const char* p = text; *p != '\0'; ++p) {
    if (p[0] == '%' && strncmp(p, "%llu", 4) == 0) {
      out += std::to_string(used == 0 ? v : v2);
      ++used;
      p += 3;
    } else if (p[0] == '%' && p[1] == 's') {
      bool one = (used <= 1 ? v : v2) == 1;
      // "entr%s": entry / entries.
      if (!out.empty() && out.back() == 'r' && out.size() >= 4 &&
          out.compare(out.size() - 4, 4, "entr") == 0) {
        out += one ? "y" : "ies";
      } else if (!one) {
        out += 's';
      }
      ++p;
    } else {
      out += *p;
    }
  }
  return out + "\n";
}

std::span<const StatText> table_for(std::string_view proto) {
  if (proto == "ip") {
    return kIpStats;
  }
  if (proto == "icmp") {
    return kIcmpStats;
  }
  if (proto == "udp") {
    return kUdpStats;
  }
  if (proto == "tcp") {
    return kTcpStats;
  }
  if (proto == "arp") {
    return kArpStats;
  }
  if (proto == "routing") {
    return kRouteStats;
  }
  return {};
}

}  // namespace

std::span<const StatsSection> netstat_stats_sections() { return kSections; }

std::string netstat_proto_stats(std::string_view proto, std::string_view prefix,
                                std::span<const iopkt_ctl_sysctl> entries, bool skip_zero) {
  // name (below the prefix) -> value, in the stack's order.
  std::vector<std::pair<std::string, uint64_t>> counters;
  for (const iopkt_ctl_sysctl& e : entries) {
    std::string name = query::field(e.name);
    if (e.type == IOPKT_SYSCTL_NODE || name.size() <= prefix.size() ||
        name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    uint64_t v = 0;
    if (!parse_uint(query::field(e.value), 0, UINT64_MAX, &v)) {
      v = 0;
    }
    counters.emplace_back(name.substr(prefix.size()), v);
  }
  if (counters.empty()) {
    return "";
  }
  std::vector<bool> done(counters.size(), false);
  std::string out = std::string(proto) + ":\n";
  auto emit = [&](size_t k, const StatText& t) {
    done[k] = true;
    uint64_t v2 = 0;
    for (size_t j = 0; t.name2 != nullptr && j < counters.size(); ++j) {
      if (!done[j] && counters[j].first == t.name2) {
        done[j] = true;
        v2 = counters[j].second;
      }
    }
    if (skip_zero && counters[k].second == 0 && v2 == 0) {
      return;
    }
    out += stat_line(t.text, counters[k].second, v2);
  };
  auto histogram = [&](const std::string& dir, const char* head) {
    // One line per ICMP type, in type order, then types without a name.
    std::string lines;
    auto row = [&](size_t k, const std::string& type) {
      done[k] = true;
      if (!(skip_zero && counters[k].second == 0)) {
        lines += "\t\t" + type + ": " + std::to_string(counters[k].second) + "\n";
      }
    };
    for (const StatText& t : kIcmpTypeNames) {
      for (size_t k = 0; k < counters.size(); ++k) {
        if (!done[k] && counters[k].first == dir + t.name) {
          row(k, t.text);
        }
      }
    }
    for (size_t k = 0; k < counters.size(); ++k) {
      if (!done[k] && counters[k].first.compare(0, dir.size(), dir) == 0) {
        row(k, counters[k].first.substr(dir.size()));
      }
    }
    if (!lines.empty()) {
      out += head + lines;
    }
  };
  for (const StatText& t : table_for(proto)) {
    if (t.name[0] == '@') {
      histogram(t.name + 1, t.text);
      continue;
    }
    for (size_t k = 0; k < counters.size(); ++k) {
      if (!done[k] && counters[k].first == t.name) {
        emit(k, t);
      }
    }
  }
  for (size_t k = 0; k < counters.size(); ++k) {
    if (!done[k] && !(skip_zero && counters[k].second == 0)) {
      out += "\t" + std::to_string(counters[k].second) + " " + counters[k].first + "\n";
    }
  }
  return out;
}

std::string netstat_mbuf_stats(std::span<const iopkt_ctl_sysctl> entries) {
  constexpr std::string_view kPrefix = "kern.mbuf.";
  std::vector<std::pair<std::string, uint64_t>> leaves;
  for (const iopkt_ctl_sysctl& e : entries) {
    std::string name = query::field(e.name);
    uint64_t v = 0;
    if (e.type == IOPKT_SYSCTL_NODE || name.size() <= kPrefix.size() ||
        name.compare(0, kPrefix.size(), kPrefix) != 0 ||
        !parse_uint(query::field(e.value), 0, UINT64_MAX, &v)) {
      continue;
    }
    leaves.emplace_back(name.substr(kPrefix.size()), v);
  }
  auto take = [&](std::string_view name) -> std::optional<uint64_t> {
    for (auto it = leaves.begin(); it != leaves.end(); ++it) {
      if (it->first == name) {
        uint64_t v = it->second;
        leaves.erase(it);
        return v;
      }
    }
    return std::nullopt;
  };
  auto mbufs = take("mbufs_in_use");
  auto in_use = take("clusters_in_use");
  auto total = take("clusters_total");
  auto mclbytes = take("mclbytes");
  auto failures = take("alloc_failures");
  (void)take("pagesize");  // a setting of the pool, not its state
  std::string out;
  // NetBSD mbpr()'s lines, for what the pool counts: it has no mbuf types
  // and no drain routines, and its clusters are what holds memory.
  if (mbufs) {
    out += std::to_string(*mbufs) + " mbufs in use\n";
  }
  if (in_use && total) {
    out += std::to_string(*in_use) + "/" + std::to_string(*total) +
           " mbuf clusters in use (current/total)\n";
  } else if (in_use) {
    out += std::to_string(*in_use) + " mbuf clusters in use\n";
  }
  if (total && mclbytes) {
    uint64_t pct = *total == 0 ? 0 : in_use.value_or(0) * 100 / *total;
    out += std::to_string(*total * *mclbytes / 1024) + " Kbytes allocated to network (" +
           std::to_string(pct) + "% in use)\n";
  }
  if (failures) {
    out += std::to_string(*failures) + " requests for memory denied\n";
  }
  for (const auto& [name, v] : leaves) {
    out += std::to_string(v) + " " + name + "\n";  // a counter with no words here yet
  }
  return out;
}

// --- arp(8) -------------------------------------------------------------------

std::string arp_line(const iopkt_ctl_arp& e) {
  // NetBSD arp.c print_entry(): no reverse lookups here, so the name is "?".
  std::string out = "? (" + addr(e.addr) + ") at ";
  out += (e.flags & IOPKT_ARP_RESOLVED) != 0 ? mac(e.mac) : std::string("(incomplete)");
  std::string ifname = query::field(e.ifname);
  if (!ifname.empty()) {
    out += " on " + ifname;
  }
  if ((e.flags & IOPKT_ARP_PERMANENT) != 0) {
    out += " permanent";
  }
  return out + " [ethernet]";
}

bool parse_mac(std::string_view text, uint8_t (&out)[6]) {
  uint8_t m[6];
  size_t pos = 0;
  for (int i = 0; i < 6; ++i) {
    int digits = 0;
    unsigned v = 0;
    while (pos < text.size() && text[pos] != ':' && digits < 3) {
      char c = text[pos];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) {
        return false;
      }
      v = v * 16 + static_cast<unsigned>(d);
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 2) {
      return false;
    }
    m[i] = static_cast<uint8_t>(v);
    if (i < 5) {
      if (pos >= text.size() || text[pos] != ':') {
        return false;
      }
      ++pos;
    }
  }
  if (pos != text.size()) {
    return false;
  }
  memcpy(out, m, 6);
  return true;
}

const char kArpUsage[] =
    "usage: arp [-n] hostname\n"
    "       arp [-n] [-i interface] -a\n"
    "       arp -d [-a | hostname]\n"
    "       arp -s hostname ether_addr [temp]\n";

bool parse_arp_args(const std::vector<std::string>& args, ArpCommand* cmd, std::string* err) {
  err->clear();
  ArpCommand c;
  bool a = false, d = false, s = false;
  size_t i = 0;
  for (; i < args.size() && args[i].size() > 1 && args[i][0] == '-'; ++i) {
    if (args[i] == "--") {
      ++i;
      break;
    }
    for (size_t k = 1; k < args[i].size(); ++k) {
      char f = args[i][k];
      switch (f) {
        case 'a':
          a = true;
          break;
        case 'd':
          d = true;
          break;
        case 's':
          s = true;
          break;
        case 'n':
          c.numeric = true;
          break;
        case 'v':
          break;
        case 'i': {
          std::string v = args[i].substr(k + 1);
          if (v.empty()) {
            if (i + 1 >= args.size()) {
              *err = "option requires an argument -- i";
              return false;
            }
            v = args[++i];
          }
          c.ifname = v;
          k = args[i].size();
          break;
        }
        default:
          return false;
      }
    }
  }
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  auto host = [&](const std::string& h) {
    c.host = h;
    int len;
    if (h.find('/') != std::string::npos || !parse_inet(h, &c.addr, &len)) {
      *err = h + ": bad address";  // no name service: addresses only
      return false;
    }
    return true;
  };
  if (s) {
    if (a || d || rest.size() < 2 || rest.size() > 3) {
      return false;
    }
    if (!host(rest[0])) {
      return false;
    }
    if (!parse_mac(rest[1], c.mac)) {
      *err = "invalid Ethernet address '" + rest[1] + "'";
      return false;
    }
    if (rest.size() == 3) {
      if (rest[2] != "temp") {
        return false;
      }
      c.temp = true;
    }
    c.op = ArpOp::kSet;
  } else if (d) {
    if (a) {
      if (!rest.empty()) {
        return false;
      }
      c.op = ArpOp::kDeleteAll;
    } else {
      if (rest.size() != 1 || !host(rest[0])) {
        return false;
      }
      c.op = ArpOp::kDelete;
    }
  } else if (a) {
    if (!rest.empty()) {
      return false;
    }
    c.op = ArpOp::kShowAll;
  } else {
    if (rest.size() != 1 || !host(rest[0])) {
      return false;
    }
    c.op = ArpOp::kShowOne;
  }
  *cmd = c;
  return true;
}

// --- ping(8) ------------------------------------------------------------------

const char kPingUsage[] =
    "usage: ping [-noq] [-c count] [-i interval] [-s packetsize] [-T ttl] [-t tos]\n"
    "            [-w deadline] [-W waittime] host\n";

namespace {

// The whole of `s` as a finite non-negative decimal (strtod, as NetBSD).
bool parse_seconds(const std::string& s, double* out) {
  if (s.empty()) {
    return false;
  }
  char* end = nullptr;
  errno = 0;
  double v = strtod(s.c_str(), &end);
  if (end == nullptr || *end != '\0' || errno != 0 || !(v > 0) || v > 1e7) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool parse_ping_args(const std::vector<std::string>& args, PingOptions* o, std::string* err) {
  err->clear();
  PingOptions r;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') {
      break;
    }
    for (size_t k = 1; k < a.size(); ++k) {
      char f = a[k];
      if (f == 'q') {
        r.quiet = true;
        continue;
      }
      if (f == 'n') {
        r.numeric = true;
        continue;
      }
      if (f == 'o') {
        r.once = true;
        continue;
      }
      if (std::string_view("cistTwW").find(f) == std::string_view::npos) {
        return false;
      }
      std::string v = a.substr(k + 1);
      if (v.empty()) {
        if (i + 1 >= args.size()) {
          *err = std::string("option requires an argument -- ") + f;
          return false;
        }
        v = args[++i];
      }
      uint64_t n = 0;
      switch (f) {
        case 'c':
          if (!parse_uint(v, 1, INT32_MAX, &n)) {
            *err = "Bad/invalid number of packets: " + v;
            return false;
          }
          r.count = static_cast<int64_t>(n);
          break;
        case 'i':
          if (!parse_seconds(v, &r.interval)) {
            *err = "Bad/invalid interval: " + v;
            return false;
          }
          break;
        case 's':
          if (!parse_uint(v, 0, UINT32_MAX, &n)) {
            *err = "Bad/invalid packet size: " + v;
            return false;
          }
          // NetBSD MAXPACKET: IP_MAXPACKET - 60 (IP header and options) - 8.
          if (n > 65535 - 60 - 8) {
            *err = "packet size is too large";
            return false;
          }
          r.datalen = static_cast<int>(n);
          break;
        case 't':
          if (!parse_uint(v, 0, 255, &n)) {
            *err = "bad tos value: " + v;
            return false;
          }
          r.tos = static_cast<int>(n);
          break;
        case 'T':
          if (!parse_uint(v, 1, 255, &n)) {
            *err = "ttl out of range: " + v;
            return false;
          }
          r.ttl = static_cast<int>(n);
          break;
        case 'w':
          if (!parse_seconds(v, &r.deadline)) {
            *err = "Bad/invalid maxwait time: " + v;
            return false;
          }
          break;
        case 'W':
          if (!parse_uint(v, 1, 3600 * 1000, &n)) {
            *err = "Bad/invalid waittime: " + v;
            return false;
          }
          r.waittime_ms = static_cast<int>(n);
          break;
      }
      break;  // the value took the rest of the word
    }
  }
  if (i + 1 != args.size()) {
    return false;  // exactly one host
  }
  r.host = args[i];
  *o = r;
  return true;
}

uint16_t in_cksum(std::span<const uint8_t> data) {
  // RFC 1071 §4.1: one's complement sum of 16-bit big-endian words.
  uint32_t sum = 0;
  size_t n = data.size();
  for (size_t k = 0; k + 1 < n; k += 2) {
    sum += static_cast<uint32_t>(data[k] << 8 | data[k + 1]);
  }
  if ((n & 1) != 0) {
    sum += static_cast<uint32_t>(data[n - 1] << 8);
  }
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

namespace {

constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpUnreach = 3;
constexpr uint8_t kIcmpSourceQuench = 4;
constexpr uint8_t kIcmpRedirect = 5;
constexpr uint8_t kIcmpEcho = 8;
constexpr uint8_t kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmpParamProb = 12;
constexpr size_t kIcmpHeader = 8;
constexpr size_t kTimestampLen = 16;  // NetBSD F_TIMING64: a struct timespec

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

void put_i64(uint8_t* p, int64_t v) { memcpy(p, &v, 8); }

int64_t get_i64(const uint8_t* p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

}  // namespace

std::vector<uint8_t> ping_echo_request(uint16_t ident, uint16_t seq, int datalen, int64_t sec,
                                       int64_t nsec) {
  size_t dl = datalen > 0 ? static_cast<size_t>(datalen) : 0;
  std::vector<uint8_t> p(kIcmpHeader + dl, 0);
  p[0] = kIcmpEcho;
  p[4] = static_cast<uint8_t>(ident >> 8);
  p[5] = static_cast<uint8_t>(ident);
  p[6] = static_cast<uint8_t>(seq >> 8);
  p[7] = static_cast<uint8_t>(seq);
  size_t first = 0;
  if (dl >= kTimestampLen) {
    put_i64(&p[kIcmpHeader], sec);
    put_i64(&p[kIcmpHeader + 8], nsec);
    first = kTimestampLen;
  }
  for (size_t k = first; k < dl; ++k) {
    p[kIcmpHeader + k] = static_cast<uint8_t>(k);  // NetBSD's fill: byte i is i
  }
  uint16_t sum = in_cksum(p);
  p[2] = static_cast<uint8_t>(sum >> 8);
  p[3] = static_cast<uint8_t>(sum);
  return p;
}

std::string icmp_error_text(uint8_t type, uint8_t code) {
  // NetBSD ping.c pr_icmph().
  switch (type) {
    case kIcmpUnreach:
      switch (code) {
        case 0:
          return "Destination Net Unreachable";
        case 1:
          return "Destination Host Unreachable";
        case 2:
          return "Destination Protocol Unreachable";
        case 3:
          return "Destination Port Unreachable";
        case 4:
          return "frag needed and DF set";
        case 5:
          return "Source Route Failed";
        case 6:
          return "Unreachable unknown net";
        case 7:
          return "Unreachable unknown host";
        case 8:
          return "Unreachable host isolated";
        case 9:
          return "Net prohibited access";
        case 10:
          return "Host prohibited access";
        case 11:
          return "Bad TOS for net";
        case 12:
          return "Bad TOS for host";
        case 13:
          return "Communication prohibited";
        case 14:
          return "Host precedence violation";
        case 15:
          return "Precedence cutoff";
        default:
          return "Bad Destination Unreachable Code: " + std::to_string(code);
      }
    case kIcmpSourceQuench:
      return "Source Quench";
    case kIcmpRedirect:
      switch (code) {
        case 0:
          return "Redirect Network";
        case 1:
          return "Redirect Host";
        case 2:
          return "Redirect Type of Service and Network";
        case 3:
          return "Redirect Type of Service and Host";
        default:
          return "Redirect--Bad Code: " + std::to_string(code);
      }
    case kIcmpTimeExceeded:
      switch (code) {
        case 0:
          return "Time To Live exceeded";
        case 1:
          return "Frag reassembly time exceeded";
        default:
          return "Time exceeded, Bad Code: " + std::to_string(code);
      }
    case kIcmpParamProb:
      return "Parameter problem";
    default:
      return "";
  }
}

PingPacket ping_parse(std::span<const uint8_t> pkt, uint16_t ident) {
  PingPacket r;
  if (pkt.size() < 20 || (pkt[0] >> 4) != 4) {
    return r;
  }
  size_t hlen = static_cast<size_t>(pkt[0] & 0x0f) * 4;
  if (hlen < 20 || pkt.size() < hlen + kIcmpHeader) {
    return r;
  }
  r.ttl = pkt[8];
  r.icmp_len = static_cast<int>(pkt.size() - hlen);
  const uint8_t* icmp = pkt.data() + hlen;
  size_t icmp_len = pkt.size() - hlen;
  if (icmp[0] == kIcmpEchoReply) {
    if (be16(icmp + 4) != ident) {
      return r;
    }
    r.kind = PingPacket::kEchoReply;
    r.seq = be16(icmp + 6);
    if (icmp_len >= kIcmpHeader + kTimestampLen) {
      r.has_time = true;
      r.sec = get_i64(icmp + kIcmpHeader);
      r.nsec = get_i64(icmp + kIcmpHeader + 8);
    }
    return r;
  }
  std::string text = icmp_error_text(icmp[0], icmp[1]);
  if (text.empty()) {
    return r;
  }
  // The error quotes the IP header of our request and its first bytes: is
  // it our echo (NetBSD ck_pr_icmph())?
  const uint8_t* inner = icmp + kIcmpHeader;
  size_t inner_len = icmp_len - kIcmpHeader;
  if (inner_len < 20) {
    return r;
  }
  size_t ihl = static_cast<size_t>(inner[0] & 0x0f) * 4;
  if (inner[9] != 1 /* IPPROTO_ICMP */ || ihl < 20 || inner_len < ihl + 8 ||
      inner[ihl] != kIcmpEcho || be16(inner + ihl + 4) != ident) {
    return r;
  }
  r.kind = PingPacket::kError;
  r.seq = be16(inner + ihl + 6);
  if (icmp[0] == kIcmpUnreach && icmp[1] == 4) {
    text += ".  Next MTU=" + std::to_string(be16(icmp + 6));
  } else if (icmp[0] == kIcmpRedirect) {
    text += " New router addr: " + dotted(static_cast<uint32_t>(icmp[4]) << 24 |
                                          static_cast<uint32_t>(icmp[5]) << 16 |
                                          static_cast<uint32_t>(icmp[6]) << 8 | icmp[7]);
  } else if (icmp[0] == kIcmpParamProb) {
    char buf[32];
    snprintf(buf, sizeof buf, ": pointer = 0x%02x", icmp[4]);
    text += buf;
  }
  // pr_retip(): which of our requests it was about.
  r.error_text = text + " for icmp_seq=" + std::to_string(r.seq);
  return r;
}

void PingStats::add_rtt(double seconds) {
  if (received + repeats == 1 || seconds < tmin) {
    tmin = seconds;
  }
  if (seconds > tmax) {
    tmax = seconds;
  }
  tsum += seconds;
  tsumsq += seconds * seconds;
}

std::string ping_summary(std::string_view host, const PingStats& s, bool timed) {
  std::string out = "\n----" + std::string(host) + " PING Statistics----\n";
  char buf[256];
  snprintf(buf, sizeof buf, "%lld packets transmitted, %lld packets received, ",
           static_cast<long long>(s.transmitted), static_cast<long long>(s.received));
  out += buf;
  if (s.repeats != 0) {
    snprintf(buf, sizeof buf, "+%lld duplicates, ", static_cast<long long>(s.repeats));
    out += buf;
  }
  if (s.transmitted != 0) {
    if (s.received > s.transmitted) {
      out += "-- somebody's duplicating packets!";
    } else {
      snprintf(buf, sizeof buf, "%.1f%% packet loss",
               static_cast<double>(s.transmitted - s.received) * 100.0 /
                   static_cast<double>(s.transmitted));
      out += buf;
    }
  }
  out += "\n";
  if (s.received != 0 && timed) {
    double n = static_cast<double>(s.received + s.repeats);
    double avg = s.tsum / n;
    double variance = n > 1 ? (s.tsumsq - n * avg * avg) / (n - 1) : 0.0;
    if (variance < 0) {
      variance = 0;  // rounding of nearly equal times
    }
    snprintf(buf, sizeof buf, "round-trip min/avg/max/stddev = %.3f/%.3f/%.3f/%.3f ms\n",
             s.tmin * 1000.0, avg * 1000.0, s.tmax * 1000.0, __builtin_sqrt(variance) * 1000.0);
    out += buf;
  }
  return out;
}

std::string error_detail(int err, std::string_view msg) {
  char buf[128];
  std::string base = strerror_r(err, buf, sizeof buf);
  if (msg.empty() || msg == base) {
    return base;
  }
  return base + " (" + std::string(msg) + ")";
}

}  // namespace iopkt::fmt

namespace iopkt::query {
namespace {

iopkt_ctl_if_info* entries(iopkt_ctl_if_list_reply& r) { return r.ifs; }
iopkt_ctl_ifaddr* entries(iopkt_ctl_ifaddr_list_reply& r) { return r.addrs; }
iopkt_ctl_sysctl* entries(iopkt_ctl_sysctl_list_reply& r) { return r.entries; }
iopkt_ctl_route* entries(iopkt_ctl_route_list_reply& r) { return r.routes; }
iopkt_ctl_arp* entries(iopkt_ctl_arp_list_reply& r) { return r.entries; }
iopkt_ctl_socket_info* entries(iopkt_ctl_socket_list_reply& r) { return r.sockets; }

// Walks a paged listing (control.h: ask from `cursor`, the reply gives the
// next one, 0 at the end). Only `count` entries are sent, so the reply's
// length must be exactly the head plus those. A stack that never ends a
// listing is cut off after kMaxPages.
template <typename Reply, size_t Max>
int list_all(uint16_t type, std::string_view name,
             std::vector<std::remove_reference_t<decltype(*entries(std::declval<Reply&>()))>>* out,
             uint32_t reserved = 0) {
  constexpr int kMaxPages = 4096;
  iopkt_ctl_list req{};
  req.reserved = reserved;  // ROUTE_LIST: the FIB
  if (!copy_name(req.name, name)) {
    return client::fail(ENAMETOOLONG, "name too long: " + std::string(name));
  }
  out->clear();
  auto reply = std::make_unique<Reply>();
  for (int page = 0; page < kMaxPages; ++page) {
    uint32_t rlen = sizeof(Reply);
    if (iopkt_request(type, &req, sizeof req, -1, reply.get(), &rlen, nullptr) != 0) {
      return -1;
    }
    auto* first = entries(*reply);
    size_t head =
        static_cast<size_t>(reinterpret_cast<char*>(first) - reinterpret_cast<char*>(reply.get()));
    if (rlen < head || reply->count > Max || rlen != head + reply->count * sizeof(*first)) {
      return client::fail(EPROTO, "bad listing reply (request " + std::to_string(type) + ", " +
                                      std::to_string(rlen) + " bytes)");
    }
    out->insert(out->end(), first, first + reply->count);
    if (reply->next_cursor == 0) {
      return 0;
    }
    req.cursor = reply->next_cursor;
  }
  return client::fail(EPROTO, "listing " + std::to_string(type) + " does not end");
}

}  // namespace

int interfaces(std::string_view name, std::vector<iopkt_ctl_if_info>* out) {
  if (list_all<iopkt_ctl_if_list_reply, IOPKT_CTL_IF_LIST_MAX>(IOPKT_CTL_IF_LIST, name, out) != 0) {
    return -1;
  }
  if (!name.empty()) {
    std::erase_if(*out, [&](const iopkt_ctl_if_info& i) { return field(i.name) != name; });
  }
  return 0;
}

int addresses(std::string_view ifname, std::vector<iopkt_ctl_ifaddr>* out) {
  if (list_all<iopkt_ctl_ifaddr_list_reply, IOPKT_CTL_IFADDR_LIST_MAX>(IOPKT_CTL_IFADDR_LIST,
                                                                       ifname, out) != 0) {
    return -1;
  }
  if (!ifname.empty()) {
    std::erase_if(*out, [&](const iopkt_ctl_ifaddr& a) { return field(a.ifname) != ifname; });
  }
  return 0;
}

int sysctls(std::string_view prefix, std::vector<iopkt_ctl_sysctl>* out) {
  if (list_all<iopkt_ctl_sysctl_list_reply, IOPKT_CTL_SYSCTL_LIST_MAX>(IOPKT_CTL_SYSCTL_LIST,
                                                                       prefix, out) != 0) {
    return -1;
  }
  std::erase_if(
      *out, [&](const iopkt_ctl_sysctl& e) { return !fmt::sysctl_under(field(e.name), prefix); });
  return 0;
}

int routes(uint32_t fib, std::vector<iopkt_ctl_route>* out) {
  return list_all<iopkt_ctl_route_list_reply, IOPKT_CTL_ROUTE_LIST_MAX>(IOPKT_CTL_ROUTE_LIST, "",
                                                                        out, fib);
}

int arp_entries(std::string_view ifname, std::vector<iopkt_ctl_arp>* out) {
  if (list_all<iopkt_ctl_arp_list_reply, IOPKT_CTL_ARP_LIST_MAX>(IOPKT_CTL_ARP_LIST, ifname, out) !=
      0) {
    return -1;
  }
  if (!ifname.empty()) {
    std::erase_if(*out, [&](const iopkt_ctl_arp& e) { return field(e.ifname) != ifname; });
  }
  return 0;
}

int sockets(std::vector<iopkt_ctl_socket_info>* out) {
  return list_all<iopkt_ctl_socket_list_reply, IOPKT_CTL_SOCKET_LIST_MAX>(IOPKT_CTL_SOCKET_LIST, "",
                                                                          out);
}

}  // namespace iopkt::query
