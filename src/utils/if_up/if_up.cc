// utils/if_up — wait until a stack's interface is usable (SPEC §4; QNX
// Utilities Reference "if_up"): walk the interface list up to -r times,
// -m ms (or -s s) apart, until the named interface (every one with -a) is
// present (-p), or UP with a usable address of the family (-6: IPv6, -i:
// not link-local), and with -l its link up. An IPv6 address still under
// duplicate address detection is not usable yet (RFC 4862 §5.4).
// Exit 0 when ready; 1 with the reason after the last walk (the timeout).
// A stack that is not there yet counts as "not present": boot scripts run
// if_up while io-pkt starts.
#include <stdio.h>
#include <time.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/driver.h"
#include "iopkt/iopkt.h"

namespace {

void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// Why `name` is not ready (for the final message), "" when it is.
std::string why_not(const iopkt::fmt::IfUpOptions& o, const std::string& name,
                    const std::vector<iopkt_ctl_if_info>& ifs,
                    const std::vector<iopkt_ctl_ifaddr>& addrs) {
  for (const iopkt_ctl_if_info& ifp : ifs) {
    if (iopkt::query::field(ifp.name) != name) {
      continue;
    }
    std::vector<iopkt_ctl_ifaddr> mine;
    for (const iopkt_ctl_ifaddr& a : addrs) {
      if (iopkt::query::field(a.ifname) == name) {
        mine.push_back(a);
      }
    }
    if (iopkt::fmt::if_up_ready(o, ifp, mine)) {
      return "";
    }
    if ((ifp.flags & IOPKT_IFF_UP) == 0) {
      return "interface is down";
    }
    if (o.link && ifp.link_up == 0) {
      return "no link";
    }
    return o.inet6 ? "no usable IPv6 address" : "no IPv4 address";
  }
  return "no such interface";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  iopkt::fmt::IfUpOptions o;
  std::string err;
  if (!iopkt::fmt::parse_if_up_args(args, &o, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "if_up: %s\n", err.c_str());
    }
    fputs(iopkt::fmt::kIfUpUsage, stderr);
    return 1;
  }
  std::vector<std::string> reasons(o.ifnames.size());
  std::string stack_error;
  for (int walk = 0; walk < o.retries; ++walk) {
    if (walk > 0) {
      sleep_ms(o.interval_ms);
    }
    std::vector<iopkt_ctl_if_info> ifs;
    std::vector<iopkt_ctl_ifaddr> addrs;
    if (iopkt::query::interfaces("", &ifs) != 0 ||
        (!o.present_only && iopkt::query::addresses("", &addrs) != 0)) {
      stack_error = iopkt_last_error();
      continue;
    }
    stack_error.clear();
    size_t ready = 0;
    for (size_t k = 0; k < o.ifnames.size(); ++k) {
      reasons[k] = why_not(o, o.ifnames[k], ifs, addrs);
      if (reasons[k].empty()) {
        ++ready;
      }
    }
    if (o.all ? ready == o.ifnames.size() : ready > 0) {
      return 0;
    }
  }
  if (!stack_error.empty()) {
    fprintf(stderr, "if_up: %s\n", stack_error.c_str());
    return 1;
  }
  for (size_t k = 0; k < o.ifnames.size(); ++k) {
    if (!reasons[k].empty()) {
      fprintf(stderr, "if_up: %s: %s (gave up after %d tries)\n", o.ifnames[k].c_str(),
              reasons[k].c_str(), o.retries);
    }
  }
  return 1;
}
