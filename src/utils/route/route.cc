// utils/route — a stack's routing tables (SPEC §4, issue 4), NetBSD's
// route(8) as io-pkt ships it: show, add, delete, change, get and flush of
// IPv4 routes, with -fib N for io-pkt's several FIBs. Messages follow
// NetBSD's: "add net 198.51.100.0: gateway 192.0.2.254" on stdout, and a
// refusal as "route: writing to routing socket: File exists" on stderr,
// exit 1. Parsing and formatting live in client/libiopkt/fmt.cc.
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/iopkt.h"

namespace {

using iopkt::fmt::RouteCommand;
using iopkt::fmt::RouteOp;

// "route: WHAT: reason"; the stack's own message when it gave one.
int report(const std::string& what) {
  int err = errno;
  fprintf(stderr, "route: %s: %s\n", what.c_str(),
          iopkt::fmt::error_detail(err, iopkt_last_error()).c_str());
  return 1;
}

// ifindex by name, for the "link#N" gateways of direct routes.
uint32_t index_of(const std::vector<iopkt_ctl_if_info>& ifs, const std::string& name) {
  for (const iopkt_ctl_if_info& i : ifs) {
    if (iopkt::query::field(i.name) == name) {
      return i.index;
    }
  }
  return 0;
}

int show(const RouteCommand& c) {
  std::vector<iopkt_ctl_route> routes;
  std::vector<iopkt_ctl_if_info> ifs;
  if (iopkt::query::routes(c.fib, &routes) != 0) {
    return report("route-sysctl-estimate");
  }
  if (iopkt::query::interfaces("", &ifs) != 0) {
    return report("if list");
  }
  // NetBSD p_rttables(): "Routing tables", then each family's header before
  // its first route.
  std::string header = iopkt::fmt::route_table_header();
  if (routes.empty()) {
    printf("Routing tables\n");
    return 0;
  }
  fputs(header.c_str(), stdout);
  for (const iopkt_ctl_route& r : routes) {
    uint32_t index = index_of(ifs, iopkt::query::field(r.ifname));
    fputs(iopkt::fmt::route_table_line(r, index, c.numeric).c_str(), stdout);
  }
  return 0;
}

// -interface: the gateway is one of our addresses; the route goes straight
// out of the interface that holds it (NetBSD: RTF_GATEWAY cleared).
bool resolve_interface(RouteCommand* c) {
  if (iopkt::query::field(c->route.ifname).empty() && c->route.gateway.family == AF_INET) {
    std::vector<iopkt_ctl_ifaddr> addrs;
    if (iopkt::query::addresses("", &addrs) != 0) {
      report("SIOCGIFCONF");
      return false;
    }
    for (const iopkt_ctl_ifaddr& a : addrs) {
      if (a.addr.family == AF_INET && memcmp(a.addr.addr, c->route.gateway.addr, 4) == 0) {
        memcpy(c->route.ifname, a.ifname, sizeof c->route.ifname);
        break;
      }
    }
    if (iopkt::query::field(c->route.ifname).empty()) {
      fprintf(stderr, "route: writing to routing socket: %s\n",
              iopkt::fmt::route_strerror(ENETUNREACH).c_str());
      return false;
    }
  }
  c->route.gateway = iopkt_ctl_addr{};
  c->route.flags &= ~static_cast<uint32_t>(IOPKT_RTF_GATEWAY);
  return true;
}

int change(RouteCommand c) {
  const char* verb = c.op == RouteOp::kAdd ? "add" : c.op == RouteOp::kChange ? "change" : "delete";
  if (c.interface && c.op != RouteOp::kDelete && !resolve_interface(&c)) {
    return 1;
  }
  uint16_t type = c.op == RouteOp::kAdd      ? IOPKT_CTL_ROUTE_ADD
                  : c.op == RouteOp::kChange ? IOPKT_CTL_ROUTE_CHANGE
                                             : IOPKT_CTL_ROUTE_DELETE;
  int rc = iopkt_request(type, &c.route, sizeof c.route, -1, nullptr, nullptr, nullptr);
  int err = errno;
  if (rc != 0) {
    fprintf(stderr, "route: writing to routing socket: %s\n",
            iopkt::fmt::route_strerror(err).c_str());
  }
  if (!c.quiet) {
    // NetBSD newroute(): the command echoed with the destination as typed.
    std::string line = std::string(verb) + (c.host ? " host " : " net ") + c.dest_text;
    if (!c.gateway_text.empty()) {
      line += ": gateway " + c.gateway_text;
    }
    if (rc != 0) {
      line += ": " + iopkt::fmt::route_strerror(err);
    }
    printf("%s\n", line.c_str());
  }
  return rc == 0 ? 0 : 1;
}

int get(const RouteCommand& c) {
  iopkt_ctl_route req = c.route;
  iopkt_ctl_route rep{};
  uint32_t rlen = sizeof rep;
  if (iopkt_request(IOPKT_CTL_ROUTE_GET, &req, sizeof req, -1, &rep, &rlen, nullptr) != 0) {
    int err = errno;
    fprintf(stderr, "route: writing to routing socket: %s\n",
            iopkt::fmt::route_strerror(err).c_str());
    return 1;
  }
  if (rlen != sizeof rep) {
    errno = EPROTO;
    return report("RTM_GET");
  }
  rep.ifname[sizeof rep.ifname - 1] = '\0';
  std::string asked = c.dest_text == "default" ? "default" : iopkt::fmt::addr(c.route.dst);
  fputs(iopkt::fmt::route_get_block(asked, rep).c_str(), stdout);
  return 0;
}

// NetBSD flushroutes(): every route with GATEWAY or STATIC goes; connected
// routes stay with their addresses.
int flush(const RouteCommand& c) {
  std::vector<iopkt_ctl_route> routes;
  if (iopkt::query::routes(c.fib, &routes) != 0) {
    return report("route-sysctl-estimate");
  }
  int rc = 0;
  for (iopkt_ctl_route r : routes) {
    if ((r.flags & (IOPKT_RTF_GATEWAY | IOPKT_RTF_STATIC)) == 0) {
      continue;
    }
    r.fib = c.fib;
    if (iopkt_request(IOPKT_CTL_ROUTE_DELETE, &r, sizeof r, -1, nullptr, nullptr, nullptr) != 0) {
      fprintf(stderr, "route: writing to routing socket: %s\n",
              iopkt::fmt::route_strerror(errno).c_str());
      rc = 1;
      continue;
    }
    if (!c.quiet) {
      printf("%-20.20s %-20.20s done\n", iopkt::fmt::route_destination(r).c_str(),
             iopkt::fmt::route_gateway(r, 0).c_str());
    }
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  RouteCommand cmd;
  std::string err;
  if (!iopkt::fmt::parse_route_args(args, &cmd, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "route: %s\n", err.c_str());
    }
    if (err.empty() || err.rfind("botched", 0) == 0 ||
        err.find("unknown command") != std::string::npos) {
      fputs(iopkt::fmt::kRouteUsage, stderr);
    }
    return 1;
  }
  if (cmd.inet6) {
    fprintf(stderr, "route: inet6: not supported yet (IPv6 arrives with its issue)\n");
    return 1;
  }
  if (iopkt_hello(nullptr) != 0) {
    fprintf(stderr, "route: %s\n", iopkt_last_error());
    return 1;
  }
  switch (cmd.op) {
    case RouteOp::kShow:
      return show(cmd);
    case RouteOp::kGet:
      return get(cmd);
    case RouteOp::kFlush:
      return flush(cmd);
    default:
      return change(cmd);
  }
}
