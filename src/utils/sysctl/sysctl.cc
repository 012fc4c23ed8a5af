// utils/sysctl — read and set a stack's sysctl variables (SPEC §4), as
// NetBSD's sysctl(8): "name = value" lines, -n for values only, -a for
// everything, a node's name for its subtree, -w name=value reporting
// "name: old -> new". Variables are the stack's (IOPKT_CTL_SYSCTL_*), not
// the Linux kernel's.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/iopkt.h"

namespace {

const char kUsage[] =
    "usage: sysctl [-enq] variable ...\n"
    "       sysctl [-enq] -w variable=value ...\n"
    "       sysctl [-enq] -a\n";

struct Options {
  bool all = false;
  bool values_only = false;  // -n
  bool quiet = false;        // -q: no report of a set
  bool equals = false;       // -e: "name=value", no spaces
  bool write = false;        // -w
};

int report(const std::string& name) {
  int err = errno;
  fprintf(stderr, "sysctl: %s: %s\n", name.c_str(),
          iopkt::fmt::error_detail(err, iopkt_last_error()).c_str());
  return 1;
}

void print_entry(const Options& o, const iopkt_ctl_sysctl& e) {
  std::string line = iopkt::fmt::sysctl_line(e, o.values_only);
  if (o.equals && !o.values_only) {
    line = iopkt::query::field(e.name) + "=" + iopkt::query::field(e.value);
  }
  printf("%s\n", line.c_str());
}

// Prints the leaves under `prefix`; how many.
int print_subtree(const Options& o, const std::vector<iopkt_ctl_sysctl>& entries) {
  int n = 0;
  for (const iopkt_ctl_sysctl& e : entries) {
    if (e.type != IOPKT_SYSCTL_NODE) {
      print_entry(o, e);
      ++n;
    }
  }
  return n;
}

bool get(const std::string& name, iopkt_ctl_sysctl* out) {
  iopkt_ctl_sysctl req{};
  if (!iopkt::query::copy_name(req.name, name)) {
    errno = ENAMETOOLONG;
    return false;
  }
  uint32_t rlen = sizeof *out;
  if (iopkt_request(IOPKT_CTL_SYSCTL_GET, &req, sizeof req, -1, out, &rlen, nullptr) != 0) {
    return false;
  }
  if (rlen != sizeof *out) {
    errno = EPROTO;
    return false;
  }
  out->name[sizeof out->name - 1] = '\0';
  out->value[sizeof out->value - 1] = '\0';
  return true;
}

int show(const Options& o, const std::string& name) {
  iopkt_ctl_sysctl e{};
  bool ok = get(name, &e);
  if (ok && e.type != IOPKT_SYSCTL_NODE) {
    print_entry(o, e);
    return 0;
  }
  int get_err = errno;
  if (!ok && get_err != ENOENT && get_err != ENOTDIR && get_err != EISDIR) {
    return report(name);
  }
  // A node: list what is below it.
  std::vector<iopkt_ctl_sysctl> entries;
  if (iopkt::query::sysctls(name, &entries) != 0) {
    if (errno != ENOENT) {
      return report(name);
    }
  }
  if (print_subtree(o, entries) > 0 || ok) {
    return 0;
  }
  errno = ENOENT;
  fprintf(stderr, "sysctl: %s: %s\n", name.c_str(), strerror(ENOENT));
  return 1;
}

int set(const Options& o, const std::string& arg) {
  size_t eq = arg.find('=');
  std::string name = arg.substr(0, eq);
  std::string value = arg.substr(eq + 1);
  iopkt_ctl_sysctl old{};
  if (!get(name, &old)) {
    return report(name);
  }
  iopkt_ctl_sysctl req{};
  iopkt::query::copy_name(req.name, name);
  if (!iopkt::query::copy_name(req.value, value)) {
    fprintf(stderr, "sysctl: %s: value too long\n", name.c_str());
    return 1;
  }
  iopkt_ctl_sysctl now{};
  uint32_t rlen = sizeof now;
  if (iopkt_request(IOPKT_CTL_SYSCTL_SET, &req, sizeof req, -1, &now, &rlen, nullptr) != 0) {
    return report(name);
  }
  if (rlen != sizeof now) {
    errno = EPROTO;
    return report(name);
  }
  if (!o.quiet) {
    printf("%s\n", iopkt::fmt::sysctl_set_line(name, iopkt::query::field(old.value),
                                               iopkt::query::field(now.value), o.values_only)
                       .c_str());
  }
  return 0;
}

int usage() {
  fputs(kUsage, stderr);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; ++i) {
    if (strcmp(argv[i], "--") == 0) {
      ++i;
      break;
    }
    for (const char* f = argv[i] + 1; *f != '\0'; ++f) {
      switch (*f) {
        case 'a':
          o.all = true;
          break;
        case 'n':
          o.values_only = true;
          break;
        case 'q':
          o.quiet = true;
          break;
        case 'e':
          o.equals = true;
          break;
        case 'w':
          o.write = true;
          break;
        default:
          return usage();
      }
    }
  }
  std::vector<std::string> names(argv + i, argv + argc);
  if (o.all ? !names.empty() || o.write : names.empty()) {
    return usage();
  }
  for (const std::string& n : names) {
    if (n.empty() || n[0] == '=') {
      return usage();
    }
    if (n.substr(0, n.find('=')).size() >= IOPKT_CTL_SYSCTL_NAME_MAX) {
      fprintf(stderr, "sysctl: %s: %s\n", n.c_str(), strerror(ENAMETOOLONG));
      return 1;
    }
    if (n.find('=') != std::string::npos && !o.write) {
      fprintf(stderr, "sysctl: Must specify -w to set variables\n");
      return 1;
    }
  }
  if (iopkt_hello(nullptr) != 0) {
    fprintf(stderr, "sysctl: %s\n", iopkt_last_error());
    return 1;
  }
  if (o.all) {
    std::vector<iopkt_ctl_sysctl> entries;
    if (iopkt::query::sysctls("", &entries) != 0) {
      return report("-a");
    }
    print_subtree(o, entries);
    return 0;
  }
  int rc = 0;
  for (const std::string& n : names) {
    int r = n.find('=') != std::string::npos ? set(o, n) : show(o, n);
    if (r != 0) {
      rc = 1;
    }
  }
  return rc;
}
