// utils/ifconfig — configure a stack's interfaces (SPEC §4), NetBSD's
// ifconfig(8) as io-pkt ships it: list interfaces, up/down, IPv4 and IPv6
// addresses and aliases, mtu, promisc, create/destroy. Output and error
// messages follow NetBSD's ("ifconfig: SIOCAIFADDR: File exists"); the
// parsing and formatting live in client/libiopkt/fmt.cc.
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/driver.h"
#include "iopkt/iopkt.h"

namespace {

using iopkt::fmt::AddrOp;
using iopkt::fmt::IfconfigCommand;

// "ifconfig: WHAT: strerror (stack message)", as NetBSD's err(3); the
// message only when the failure came from the library or the stack.
int report(const std::string& what, bool from_stack = true) {
  int err = errno;
  fprintf(stderr, "ifconfig: %s: %s\n", what.c_str(),
          iopkt::fmt::error_detail(err, from_stack ? iopkt_last_error() : "").c_str());
  return 1;
}

int list(const IfconfigCommand& c) {
  std::vector<iopkt_ctl_if_info> ifs;
  std::vector<iopkt_ctl_ifaddr> addrs;
  if (iopkt::query::interfaces("", &ifs) != 0) {
    return report("SIOCGIFCONF");
  }
  if (!c.names_only && iopkt::query::addresses("", &addrs) != 0) {
    return report("SIOCGIFCONF");
  }
  std::string names;
  for (const iopkt_ctl_if_info& ifp : ifs) {
    bool up = (ifp.flags & IOPKT_IFF_UP) != 0;
    if ((c.only_up && !up) || (c.only_down && up)) {
      continue;
    }
    std::string name = iopkt::query::field(ifp.name);
    if (c.names_only) {
      names += (names.empty() ? "" : " ") + name;
      continue;
    }
    std::vector<iopkt_ctl_ifaddr> mine;
    for (const iopkt_ctl_ifaddr& a : addrs) {
      if (iopkt::query::field(a.ifname) == name) {
        mine.push_back(a);
      }
    }
    fputs(iopkt::fmt::interface_block(ifp, mine).c_str(), stdout);
  }
  if (c.names_only) {
    printf("%s\n", names.c_str());
  }
  return 0;
}

// Looks up one interface; prints NetBSD's complaint when it is missing.
bool find_interface(const std::string& name, iopkt_ctl_if_info* out, int* rc) {
  std::vector<iopkt_ctl_if_info> ifs;
  if (iopkt::query::interfaces(name, &ifs) != 0) {
    // A stack may answer a listing filtered by an unknown name with an
    // empty list or with ENXIO (NetBSD's ifunit() failing).
    if (errno != ENXIO && errno != ENODEV) {
      *rc = report("SIOCGIFFLAGS");
      return false;
    }
    ifs.clear();
  }
  if (ifs.empty()) {
    fprintf(stderr, "ifconfig: interface %s does not exist\n", name.c_str());
    *rc = 1;
    return false;
  }
  *out = ifs[0];
  return true;
}

int show(const std::string& name) {
  iopkt_ctl_if_info ifp{};
  int rc = 0;
  if (!find_interface(name, &ifp, &rc)) {
    return rc;
  }
  std::vector<iopkt_ctl_ifaddr> addrs;
  if (iopkt::query::addresses(name, &addrs) != 0) {
    return report("SIOCGIFADDR");
  }
  fputs(iopkt::fmt::interface_block(ifp, addrs).c_str(), stdout);
  return 0;
}

int if_name_request(uint16_t type, const std::string& name, const char* what) {
  iopkt_ctl_if_name req{};
  iopkt::query::copy_name(req.ifname, name);
  if (iopkt_request(type, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
    return report(what);
  }
  return 0;
}

int set_flags(const std::string& name, uint32_t set, uint32_t clear) {
  iopkt_ctl_if_flags req{};
  iopkt::query::copy_name(req.ifname, name);
  req.set = set;
  req.clear = clear;
  if (iopkt_request(IOPKT_CTL_IF_SETFLAGS, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
    return report("SIOCSIFFLAGS");
  }
  return 0;
}

// A scoped IPv6 address names its interface: "%IF" must be this one, and
// without it the scope is this interface (NetBSD's in6_getaddr()).
bool resolve_scope(const IfconfigCommand& c, const iopkt_ctl_if_info& ifp, iopkt_ctl_addr* a) {
  if (a->family != AF_INET6) {
    return true;
  }
  bool link_local = a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
  if (!c.scope.empty() && c.scope != iopkt::query::field(ifp.name)) {
    fprintf(stderr, "ifconfig: %s: scope does not match interface %s\n", c.scope.c_str(),
            c.ifname.c_str());
    return false;
  }
  if (link_local && a->scope_id == 0) {
    a->scope_id = ifp.index;
  }
  return true;
}

int change_address(const IfconfigCommand& c, const iopkt_ctl_if_info& ifp) {
  bool v6 = c.family == AF_INET6;
  iopkt_ctl_ifaddr req{};
  iopkt::query::copy_name(req.ifname, c.ifname);
  if (c.op == AddrOp::kDelete) {
    if (c.have_addr) {
      req.addr = c.addr;
    } else {
      // NetBSD: "-alias" without an address removes the first address of
      // the family.
      std::vector<iopkt_ctl_ifaddr> addrs;
      if (iopkt::query::addresses(c.ifname, &addrs) != 0) {
        return report(v6 ? "SIOCGIFADDR_IN6" : "SIOCGIFADDR");
      }
      bool found = false;
      for (const iopkt_ctl_ifaddr& a : addrs) {
        if (a.addr.family == (v6 ? AF_INET6 : AF_INET)) {
          req.addr = a.addr;
          found = true;
          break;
        }
      }
      if (!found) {
        errno = EADDRNOTAVAIL;
        return report(v6 ? "SIOCDIFADDR_IN6" : "SIOCDIFADDR", false);
      }
    }
    if (!resolve_scope(c, ifp, &req.addr)) {
      return 1;
    }
    if (iopkt_request(IOPKT_CTL_IFADDR_DEL, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
      return report(v6 ? "SIOCDIFADDR_IN6" : "SIOCDIFADDR");
    }
    return 0;
  }
  req.addr = c.addr;
  if (!resolve_scope(c, ifp, &req.addr)) {
    return 1;
  }
  if (c.have_dst) {
    req.dst_or_broadcast = c.dst;  // AF_UNSPEC otherwise: the stack derives it
  }
  if (c.prefixlen >= 0) {
    req.prefixlen = static_cast<uint32_t>(c.prefixlen);
  } else if (v6) {
    req.prefixlen = 64;  // NetBSD's default for inet6
  } else {
    req.prefixlen = static_cast<uint32_t>(iopkt::fmt::classful_prefixlen(c.addr));
  }
  if (c.op == AddrOp::kAlias) {
    req.flags |= IOPKT_IFA_ALIAS;
  }
  if (c.anycast) {
    req.flags |= IOPKT_IFA_ANYCAST;
  }
  if (iopkt_request(IOPKT_CTL_IFADDR_ADD, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
    return report(v6 ? "SIOCAIFADDR_IN6" : "SIOCAIFADDR");
  }
  return 0;
}

int configure(const IfconfigCommand& c) {
  if (c.destroy) {
    return if_name_request(IOPKT_CTL_IF_DESTROY, c.ifname, "SIOCIFDESTROY");
  }
  if (c.create && if_name_request(IOPKT_CTL_IF_CREATE, c.ifname, "SIOCIFCREATE") != 0) {
    return 1;
  }
  bool nothing_else = !c.up && !c.promisc && !c.mtu && c.op == AddrOp::kNone;
  if (c.create && nothing_else) {
    return 0;
  }
  iopkt_ctl_if_info ifp{};
  int rc = 0;
  if (!find_interface(c.ifname, &ifp, &rc)) {
    return rc;
  }
  if (nothing_else) {
    return show(c.ifname);  // "ifconfig IF inet": just show it
  }
  if (c.mtu) {
    iopkt_ctl_if_mtu req{};
    iopkt::query::copy_name(req.ifname, c.ifname);
    req.mtu = *c.mtu;
    if (iopkt_request(IOPKT_CTL_IF_SETMTU, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
      return report("SIOCSIFMTU");
    }
  }
  if (c.op != AddrOp::kNone && change_address(c, ifp) != 0) {
    return 1;
  }
  uint32_t set = 0;
  uint32_t clear = 0;
  if (c.up) {
    (*c.up ? set : clear) |= IOPKT_IFF_UP;
  }
  if (c.promisc) {
    (*c.promisc ? set : clear) |= IOPKT_IFF_PROMISC;
  }
  if ((set | clear) != 0) {
    return set_flags(c.ifname, set, clear);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  IfconfigCommand cmd;
  std::string err;
  if (!iopkt::fmt::parse_ifconfig_args(args, &cmd, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "ifconfig: %s\n", err.c_str());
    }
    fputs(iopkt::fmt::kIfconfigUsage, stderr);
    return 1;
  }
  // Reach the stack first, so that "no stack" reads as such and not as the
  // failure of whatever request came first.
  if (iopkt_hello(nullptr) != 0) {
    fprintf(stderr, "ifconfig: %s\n", iopkt_last_error());
    return 1;
  }
  if (cmd.list) {
    return list(cmd);
  }
  if (cmd.op == AddrOp::kNone && !cmd.create && !cmd.destroy && !cmd.up && !cmd.promisc &&
      !cmd.mtu) {
    return show(cmd.ifname);
  }
  return configure(cmd);
}
