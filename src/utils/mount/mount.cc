// utils/mount — QNX's `mount -T io-pkt[N] [-o options] driver` (SPEC §2,
// §4): load a driver into running instance N, found through the instance
// registry (control.h) whatever its prefix. Any other use is not ours: it
// runs the system's mount (/usr/bin/mount, else /bin/mount) with the same
// arguments, and never this program again.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/iopkt.h"

namespace {

const char kUsage[] = "usage: mount -T io-pkt[N] [-v] [-o options] driver\n";

// The -T value if argv has one ("-T type" or "-Ttype"), before any "--".
std::optional<std::string> find_type(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      break;
    }
    if (strcmp(argv[i], "-T") == 0) {
      if (i + 1 < argc) {
        return std::string(argv[i + 1]);
      }
      return std::nullopt;
    }
    if (strncmp(argv[i], "-T", 2) == 0) {
      return std::string(argv[i] + 2);
    }
  }
  return std::nullopt;
}

std::string real_path(const char* path) {
  char buf[PATH_MAX];
  if (realpath(path, buf) == nullptr) {
    return "";
  }
  return buf;
}

int run_system_mount(char** argv) {
  std::string self = real_path("/proc/self/exe");
  for (const char* candidate : {"/usr/bin/mount", "/bin/mount"}) {
    if (access(candidate, X_OK) != 0) {
      continue;
    }
    std::string target = real_path(candidate);
    if (target.empty() || target == self) {
      continue;  // never ourselves: that would loop
    }
    argv[0] = const_cast<char*>("mount");
    execv(candidate, argv);
    fprintf(stderr, "mount: cannot run %s: %s\n", candidate, strerror(errno));
    return 1;
  }
  fprintf(stderr, "mount: no system mount to run (/usr/bin/mount, /bin/mount)\n");
  return 1;
}

int usage() {
  fputs(kUsage, stderr);
  return 1;
}

int mount_driver(int instance, int argc, char** argv) {
  std::string options;
  std::vector<std::string> positional;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) {
        positional.push_back(argv[i]);
      }
      break;
    }
    if (a == "-T" || a == "-o") {
      if (i + 1 >= argc) {
        return usage();
      }
      if (a == "-o") {
        options += (options.empty() ? "" : ",") + std::string(argv[i + 1]);
      }
      ++i;
    } else if (a.rfind("-T", 0) == 0) {
      // the type, already read
    } else if (a.rfind("-o", 0) == 0) {
      options += (options.empty() ? "" : ",") + a.substr(2);
    } else if (a == "-v") {
      verbose = true;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage();
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 1 || positional[0].empty()) {
    return usage();
  }
  const std::string& driver = positional[0];
  iopkt_ctl_mount req{};
  if (!iopkt::query::copy_name(req.driver, driver)) {
    fprintf(stderr, "mount: %s: %s\n", driver.c_str(), strerror(ENAMETOOLONG));
    return 1;
  }
  if (!iopkt::query::copy_name(req.options, options)) {
    fprintf(stderr, "mount: options too long (at most %u bytes)\n", IOPKT_CTL_OPTIONS_MAX - 1);
    return 1;
  }
  char prefix[IOPKT_CTL_PATH_MAX];
  int pid = 0;
  if (iopkt_instance_prefix(instance, prefix, sizeof prefix, &pid) != 0) {
    fprintf(stderr, "mount: %s\n", iopkt_last_error());
    return 1;
  }
  if (verbose) {
    printf("mount: %s on io-pkt instance %d (pid %d, endpoint %s/dev/socket), options \"%s\"\n",
           driver.c_str(), instance, pid, prefix, options.c_str());
  }
  if (iopkt_request_at(prefix, IOPKT_CTL_MOUNT, &req, sizeof req, -1, nullptr, nullptr, nullptr) !=
      0) {
    int err = errno;
    fprintf(stderr, "mount: %s: %s\n", driver.c_str(),
            iopkt::fmt::error_detail(err, iopkt_last_error()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> type = find_type(argc, argv);
  if (type) {
    if (std::optional<int> instance = iopkt::fmt::mount_instance(*type)) {
      return mount_driver(*instance, argc, argv);
    }
  }
  return run_system_mount(argv);
}
