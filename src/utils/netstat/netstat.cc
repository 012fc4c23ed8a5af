// utils/netstat — a stack's state (SPEC §4, issue 4), NetBSD's netstat(1)
// as io-pkt ships it: the active sockets (-a: with servers), the routing
// tables (-r), the interfaces with their counters (-i, -I IF), the
// per-protocol counters (-s) with every drop reason the stack counts,
// filtered by -f family and -p protocol, and the packet pool (-m). Formats
// live in client/libiopkt/fmt.cc; the counters are the stack's sysctl leaves
// net.inet.PROTO.stats.*, net.route.stats.* and kern.mbuf.*.
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <map>
#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/iopkt.h"

namespace {

using iopkt::fmt::NetstatOptions;

int report(const std::string& what) {
  int err = errno;
  fprintf(stderr, "netstat: %s: %s\n", what.c_str(),
          iopkt::fmt::error_detail(err, iopkt_last_error()).c_str());
  return 1;
}

bool inet_wanted(const NetstatOptions& o) { return o.family.empty() || o.family == "inet"; }

int sockets(const NetstatOptions& o) {
  if (!inet_wanted(o)) {
    return 0;  // IPv6 and local sockets are not the stack's yet
  }
  std::vector<iopkt_ctl_socket_info> socks;
  if (iopkt::query::sockets(&socks) != 0) {
    return report("sysctl: net.inet.pcblist");
  }
  bool first = true;
  // NetBSD prints one protocol after the other (protox[]: tcp, then udp)
  // under a single header.
  for (const char* wanted : {"tcp", "udp"}) {
    if (!o.protocol.empty() && o.protocol != wanted) {
      continue;
    }
    for (const iopkt_ctl_socket_info& s : socks) {
      if (iopkt::fmt::netstat_proto(s) != wanted || !iopkt::fmt::netstat_socket_shown(s, o.all)) {
        continue;
      }
      if (first) {
        fputs(iopkt::fmt::netstat_socket_header(o.all).c_str(), stdout);
        first = false;
      }
      fputs(iopkt::fmt::netstat_socket_line(s).c_str(), stdout);
    }
  }
  return 0;
}

int routes(const NetstatOptions& o) {
  if (!inet_wanted(o)) {
    printf("Routing tables\n");
    return 0;
  }
  std::vector<iopkt_ctl_route> rts;
  std::vector<iopkt_ctl_if_info> ifs;
  if (iopkt::query::routes(0, &rts) != 0) {
    return report("route-sysctl-estimate");
  }
  if (iopkt::query::interfaces("", &ifs) != 0) {
    return report("if list");
  }
  if (rts.empty()) {
    printf("Routing tables\n");
    return 0;
  }
  fputs(iopkt::fmt::route_table_header().c_str(), stdout);
  for (const iopkt_ctl_route& r : rts) {
    uint32_t index = 0;
    std::string name = iopkt::query::field(r.ifname);
    for (const iopkt_ctl_if_info& i : ifs) {
      if (iopkt::query::field(i.name) == name) {
        index = i.index;
      }
    }
    fputs(iopkt::fmt::route_table_line(r, index, o.numeric).c_str(), stdout);
  }
  return 0;
}

int interfaces(const NetstatOptions& o) {
  std::vector<iopkt_ctl_if_info> ifs;
  std::vector<iopkt_ctl_ifaddr> addrs;
  if (iopkt::query::interfaces(o.ifname, &ifs) != 0) {
    if (errno == ENXIO && !o.ifname.empty()) {
      fprintf(stderr, "netstat: %s: unknown interface\n", o.ifname.c_str());
      return 1;
    }
    return report("if list");
  }
  if (!o.ifname.empty() && ifs.empty()) {
    fprintf(stderr, "netstat: %s: unknown interface\n", o.ifname.c_str());
    return 1;
  }
  if (iopkt::query::addresses(o.ifname, &addrs) != 0) {
    return report("if addresses");
  }
  fputs(iopkt::fmt::netstat_if_header().c_str(), stdout);
  for (const iopkt_ctl_if_info& ifp : ifs) {
    std::vector<iopkt_ctl_ifaddr> mine;
    for (const iopkt_ctl_ifaddr& a : addrs) {
      if (iopkt::query::field(a.ifname) == iopkt::query::field(ifp.name)) {
        mine.push_back(a);
      }
    }
    fputs(iopkt::fmt::netstat_if_lines(ifp, mine).c_str(), stdout);
  }
  return 0;
}

int stats(const NetstatOptions& o) {
  std::vector<iopkt_ctl_sysctl> entries;
  std::vector<iopkt_ctl_sysctl> more;
  if (iopkt::query::sysctls("net.inet", &entries) != 0 && errno != ENOENT) {
    return report("sysctl net.inet");
  }
  if (iopkt::query::sysctls("net.route", &more) != 0 && errno != ENOENT) {
    return report("sysctl net.route");
  }
  entries.insert(entries.end(), more.begin(), more.end());
  bool skip_zero = o.stats_level > 1;
  bool any = false;
  auto section = [&](const std::string& name, const std::string& prefix) {
    if (!o.protocol.empty() && o.protocol != name) {
      return;
    }
    std::string text = iopkt::fmt::netstat_proto_stats(name, prefix, entries, skip_zero);
    fputs(text.c_str(), stdout);
    any = any || !text.empty();
  };
  std::vector<std::string> known;
  for (const auto& s : iopkt::fmt::netstat_stats_sections()) {
    section(s.name, s.prefix);
    known.push_back(s.prefix);
  }
  // Protocols the stack counts that this netstat has no words for yet
  // (net.inet.X.stats.*): printed generically, so that no counter hides.
  std::map<std::string, std::string> others;
  for (const iopkt_ctl_sysctl& e : entries) {
    std::string name = iopkt::query::field(e.name);
    size_t stats_at = name.find(".stats.");
    if (name.rfind("net.inet.", 0) != 0 || stats_at == std::string::npos) {
      continue;
    }
    std::string prefix = name.substr(0, stats_at + 7);
    bool is_known = false;
    for (const std::string& k : known) {
      is_known = is_known || k == prefix;
    }
    if (!is_known) {
      others[prefix.substr(9, prefix.size() - 9 - 7)] = prefix;
    }
  }
  for (const auto& [proto, prefix] : others) {
    section(proto, prefix);
  }
  if (!any && !o.protocol.empty()) {
    fprintf(stderr, "netstat: %s: no stats routine\n", o.protocol.c_str());
    return 1;
  }
  return 0;
}

int mbufs() {
  std::vector<iopkt_ctl_sysctl> entries;
  if (iopkt::query::sysctls("kern.mbuf", &entries) != 0) {
    return report("sysctl kern.mbuf");
  }
  fputs(iopkt::fmt::netstat_mbuf_stats(entries).c_str(), stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  NetstatOptions o;
  std::string err;
  if (!iopkt::fmt::parse_netstat_args(args, &o, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "netstat: %s\n", err.c_str());
    }
    fputs(iopkt::fmt::kNetstatUsage, stderr);
    return 1;
  }
  if (iopkt_hello(nullptr) != 0) {
    fprintf(stderr, "netstat: %s\n", iopkt_last_error());
    return 1;
  }
  // NetBSD main(): one display per run, -m before -s before -i before -r.
  if (o.mbufs) {
    return mbufs();
  }
  if (o.stats) {
    return stats(o);
  }
  if (o.interfaces) {
    return interfaces(o);
  }
  if (o.routes) {
    return routes(o);
  }
  return sockets(o);
}
