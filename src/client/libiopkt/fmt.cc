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

// Walks a paged listing (control.h: ask from `cursor`, the reply gives the
// next one, 0 at the end). Only `count` entries are sent, so the reply's
// length must be exactly the head plus those. A stack that never ends a
// listing is cut off after kMaxPages.
template <typename Reply, size_t Max>
int list_all(
    uint16_t type, std::string_view name,
    std::vector<std::remove_reference_t<decltype(*entries(std::declval<Reply&>()))>>* out) {
  constexpr int kMaxPages = 4096;
  iopkt_ctl_list req{};
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

}  // namespace iopkt::query
