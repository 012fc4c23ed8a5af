// manager/main.cc — io-pkt-v4-hc and io-pkt-v6-hc (SPEC §1): parse the
// command line, refuse what this build cannot do, take the instance number,
// go to the background once ready, serve until SIGTERM.
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "manager/daemon.hh"
#include "manager/droproot.hh"
#include "manager/instance.hh"
#include "manager/log.hh"
#include "manager/manager.hh"
#include "manager/options.hh"
#include "manager/signals.hh"

#ifndef IOPKT_VARIANT
#error "IOPKT_VARIANT must be 4 or 6"
#endif

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: io-pkt-v%d-hc [-d driver [driver_options]] [-i instance] [-P priority]\n"
               "                     [-p protocol [protocol_options]] [-S] [-t threads] "
               "[-U string] [-f]\n",
               IOPKT_VARIANT);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace iopkt;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      usage();
      return 0;
    }
  }
  auto parsed = parse_command_line(IOPKT_VARIANT, args);
  if (!parsed) {
    std::fprintf(stderr, "io-pkt: %s\n", parsed.error().c_str());
    usage();
    return 1;
  }
  ManagerOptions opts = std::move(parsed->options);
  auto missing = unimplemented_tcpip_options(opts.tcpip);
  if (!missing.empty()) {
    for (const auto& m : missing) {
      std::fprintf(stderr, "io-pkt: %s\n", m.c_str());
    }
    return 1;
  }
  auto drop = resolve_drop_user(opts.drop_user);
  if (!drop) {
    std::fprintf(stderr, "io-pkt: %s\n", drop.error().c_str());
    return 1;
  }

  log_open(opts.foreground);
  for (const auto& note : parsed->notes) {
    log_msg(LOG_NOTICE, "%s", note.c_str());
  }

  // Signals first, so that every thread inherits the blocked mask.
  int sigfd = termination_signalfd();
  if (sigfd < 0) {
    std::perror("io-pkt: signalfd");
    return 1;
  }

  Startup startup = Startup::begin(opts.foreground);
  auto lock = InstanceLock::acquire(opts.instance, opts.tcpip.prefix);
  if (!lock) {
    startup.failed(lock.error());
    return 1;
  }
  install_fatal_handlers(!opts.no_segv_handler);

  Manager manager(opts, *drop);
  if (auto r = manager.start(); !r) {
    log_syslog_only(LOG_ERR, "start-up failed: %s", r.error().c_str());
    startup.failed(r.error());
    return 1;
  }
  startup.ready();
  manager.run(sigfd);
  log_msg(LOG_INFO, "instance %d stopped", opts.instance);
  lock->release();
  return 0;
}
