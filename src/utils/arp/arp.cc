// utils/arp — a stack's ARP cache (SPEC §4, issue 4), NetBSD's arp(8) as
// io-pkt ships it: -a lists every entry, HOST shows one, -d deletes one
// (-d -a all), -s adds a permanent entry. Addresses only: the utility does
// no name lookups, so entries read "? (192.0.2.2) at ...".
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/iopkt.h"

namespace {

using iopkt::fmt::ArpCommand;
using iopkt::fmt::ArpOp;

int report(const std::string& what) {
  int err = errno;
  fprintf(stderr, "arp: %s: %s\n", what.c_str(),
          iopkt::fmt::error_detail(err, iopkt_last_error()).c_str());
  return 1;
}

bool same_addr(const iopkt_ctl_addr& a, const iopkt_ctl_addr& b) {
  return a.family == b.family && memcmp(a.addr, b.addr, 4) == 0;
}

int list(const ArpCommand& c, std::vector<iopkt_ctl_arp>* out) {
  if (iopkt::query::arp_entries(c.ifname, out) != 0) {
    if (errno == ENXIO && !c.ifname.empty()) {
      fprintf(stderr, "arp: %s: no such interface\n", c.ifname.c_str());
      return 1;
    }
    return report("sysctl");
  }
  return 0;
}

int delete_entry(const iopkt_ctl_arp& e, const std::string& host) {
  iopkt_ctl_arp req{};
  memcpy(req.ifname, e.ifname, sizeof req.ifname);
  req.addr = e.addr;
  if (iopkt_request(IOPKT_CTL_ARP_DELETE, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
    if (errno == ENOENT || errno == ESRCH) {
      fprintf(stderr, "arp: delete: can't locate %s\n", host.c_str());
      return 1;
    }
    return report("writing to routing socket");
  }
  // NetBSD delete(): "HOST (ADDR) deleted".
  printf("%s (%s) deleted\n", host.c_str(), iopkt::fmt::addr(e.addr).c_str());
  return 0;
}

int run(const ArpCommand& c) {
  std::vector<iopkt_ctl_arp> entries;
  switch (c.op) {
    case ArpOp::kShowAll: {
      if (list(c, &entries) != 0) {
        return 1;
      }
      for (const iopkt_ctl_arp& e : entries) {
        printf("%s\n", iopkt::fmt::arp_line(e).c_str());
      }
      return 0;
    }
    case ArpOp::kShowOne: {
      if (list(c, &entries) != 0) {
        return 1;
      }
      bool found = false;
      for (const iopkt_ctl_arp& e : entries) {
        if (same_addr(e.addr, c.addr)) {
          printf("%s\n", iopkt::fmt::arp_line(e).c_str());
          found = true;
        }
      }
      if (!found) {
        printf("%s (%s) -- no entry\n", c.host.c_str(), iopkt::fmt::addr(c.addr).c_str());
        return 1;
      }
      return 0;
    }
    case ArpOp::kDelete: {
      if (list(c, &entries) != 0) {
        return 1;
      }
      for (const iopkt_ctl_arp& e : entries) {
        if (same_addr(e.addr, c.addr)) {
          return delete_entry(e, c.host);
        }
      }
      fprintf(stderr, "arp: delete: can't locate %s\n", c.host.c_str());
      return 1;
    }
    case ArpOp::kDeleteAll: {
      if (list(c, &entries) != 0) {
        return 1;
      }
      int rc = 0;
      for (const iopkt_ctl_arp& e : entries) {
        if (delete_entry(e, iopkt::fmt::addr(e.addr)) != 0) {
          rc = 1;
        }
      }
      return rc;
    }
    case ArpOp::kSet: {
      iopkt_ctl_arp req{};
      iopkt::query::copy_name(req.ifname, c.ifname);
      req.addr = c.addr;
      memcpy(req.mac, c.mac, 6);
      req.flags = IOPKT_ARP_RESOLVED | (c.temp ? 0 : IOPKT_ARP_PERMANENT);
      if (iopkt_request(IOPKT_CTL_ARP_ADD, &req, sizeof req, -1, nullptr, nullptr, nullptr) != 0) {
        if (errno == ENETUNREACH) {
          // NetBSD set(): no interface has the address's subnet.
          fprintf(stderr, "arp: cannot intuit interface index and type for %s\n", c.host.c_str());
          return 1;
        }
        return report("writing to routing socket");
      }
      return 0;
    }
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  ArpCommand cmd;
  std::string err;
  if (!iopkt::fmt::parse_arp_args(args, &cmd, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "arp: %s\n", err.c_str());
      return 1;
    }
    fputs(iopkt::fmt::kArpUsage, stderr);
    return 1;
  }
  if (iopkt_hello(nullptr) != 0) {
    fprintf(stderr, "arp: %s\n", iopkt_last_error());
    return 1;
  }
  return run(cmd);
}
