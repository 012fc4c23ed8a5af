// utils/iopkt-run — run an unmodified program over an io-pkt stack:
//   iopkt-run [-s PREFIX] [--] CMD [ARGS...]
// puts libiopkt-preload.so first in LD_PRELOAD, sets SOCK=PREFIX when -s
// is given, and execs CMD (searched in PATH). The library is found next to
// this program: build/bin/../lib (the build tree), lib/iopkt/bin/../..
// (installed), then where the build installs it; IOPKT_PRELOAD_LIB names
// another. A statically linked CMD is refused: the dynamic linker would
// ignore the library and its sockets would be the kernel's.
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

constexpr const char* kLib = "libiopkt-preload.so";

[[noreturn]] void usage(int status) {
  fprintf(status == 0 ? stdout : stderr,
          "usage: iopkt-run [-s PREFIX] [--] CMD [ARGS...]\n"
          "Runs CMD with its AF_INET sockets in the io-pkt stack at PREFIX/dev/socket\n"
          "(-s PREFIX, else $SOCK, else /dev/socket); other descriptors stay the kernel's.\n"
          "  -s PREFIX  the stack's prefix (as io-pkt's prefix=), exported as SOCK\n"
          "  -h         this text\n"
          "IOPKT_PRELOAD_LIB overrides the library's path.\n");
  exit(status);
}

bool readable(const std::string& p) { return access(p.c_str(), R_OK) == 0; }

std::string dir_of(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// The preload library's absolute path, or "" with the places tried in
// *tried.
std::string find_library(std::string* tried) {
  if (const char* env = getenv("IOPKT_PRELOAD_LIB"); env != nullptr && *env != '\0') {
    char abs[PATH_MAX];
    if (realpath(env, abs) != nullptr && readable(abs)) {
      return abs;
    }
    *tried = env;
    return "";
  }
  std::vector<std::string> places;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string bin = dir_of(self);
    places.push_back(bin + "/../lib/" + kLib);    // build/bin -> build/lib
    places.push_back(bin + "/../../" + kLib);     // PREFIX/lib/iopkt/bin -> PREFIX/lib
    places.push_back(bin + "/../../../" + kLib);  // PREFIX/lib/ARCH/iopkt/bin -> PREFIX/lib/ARCH
  }
#ifdef IOPKT_INSTALL_PRELOAD
  places.push_back(IOPKT_INSTALL_PRELOAD);
#endif
  for (const std::string& p : places) {
    char abs[PATH_MAX];
    if (realpath(p.c_str(), abs) != nullptr && readable(abs)) {
      return abs;
    }
  }
  for (const std::string& p : places) {
    *tried += (tried->empty() ? "" : ", ") + p;
  }
  return "";
}

// CMD as execvp would find it; "" when not found.
std::string resolve(const char* cmd) {
  if (strchr(cmd, '/') != nullptr) {
    return cmd;
  }
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) {
      end = dirs.size();
    }
    std::string dir = dirs.substr(start, end - start);
    std::string p = (dir.empty() ? "." : dir) + "/" + cmd;
    struct stat st;
    if (stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0) {
      return p;
    }
    start = end + 1;
  }
  return "";
}

// 1 when `path` is an ELF executable with no program interpreter (static:
// LD_PRELOAD has no effect on it); 0 otherwise (dynamic, a script, unknown).
int is_static_elf(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  Elf64_Ehdr eh;
  int result = 0;
  if (pread(fd, &eh, sizeof eh, 0) == static_cast<ssize_t>(sizeof eh) &&
      memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
      eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum > 0 && eh.e_phnum < 4096) {
    result = 1;
    for (int i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) !=
          static_cast<ssize_t>(sizeof ph)) {
        result = 0;
        break;
      }
      if (ph.p_type == PT_INTERP) {
        result = 0;  // the dynamic linker runs it (a static-pie has none)
        break;
      }
    }
  }
  close(fd);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const char* prefix = nullptr;
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "--") == 0) {
      ++i;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(0);
    }
    if (strncmp(a, "-s", 2) == 0) {
      if (a[2] != '\0') {
        prefix = a + 2;
      } else if (i + 1 < argc) {
        prefix = argv[++i];
      } else {
        fprintf(stderr, "iopkt-run: -s needs a PREFIX\n");
        usage(2);
      }
      continue;
    }
    if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "iopkt-run: unknown option %s\n", a);
      usage(2);
    }
    break;
  }
  if (i >= argc) {
    fprintf(stderr, "iopkt-run: no command given\n");
    usage(2);
  }
  char** cmd = argv + i;

  std::string tried;
  std::string lib = find_library(&tried);
  if (lib.empty()) {
    fprintf(stderr, "iopkt-run: cannot find %s (tried %s); set IOPKT_PRELOAD_LIB\n", kLib,
            tried.c_str());
    return 1;
  }
  if (prefix != nullptr && setenv("SOCK", prefix, 1) != 0) {
    perror("iopkt-run: setenv SOCK");
    return 1;
  }
  const char* sock = getenv("SOCK");
  std::string endpoint = std::string(sock != nullptr ? sock : "") + "/dev/socket";
  struct stat st;
  if (stat(endpoint.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "iopkt-run: no io-pkt stack at %s%s\n", endpoint.c_str(),
            prefix == nullptr ? " (give its prefix with -s PREFIX or SOCK=PREFIX)" : "");
    return 1;
  }

  // Ours first, so that the program's socket calls reach it before any
  // other preloaded library passes them on to libc.
  std::string preload = lib;
  if (const char* old = getenv("LD_PRELOAD"); old != nullptr && *old != '\0') {
    preload += ":";
    preload += old;
  }
  if (setenv("LD_PRELOAD", preload.c_str(), 1) != 0) {
    perror("iopkt-run: setenv LD_PRELOAD");
    return 1;
  }

  std::string path = resolve(cmd[0]);
  if (path.empty()) {
    fprintf(stderr, "iopkt-run: %s: command not found\n", cmd[0]);
    return 127;
  }
  if (is_static_elf(path) == 1) {
    fprintf(stderr,
            "iopkt-run: %s is statically linked: the preload library cannot reach its sockets "
            "(docs/preload.md)\n",
            path.c_str());
    return 126;
  }
  execv(path.c_str(), cmd);
  int err = errno;
  fprintf(stderr, "iopkt-run: cannot run %s: %s\n", path.c_str(), strerror(err));
  return err == ENOENT ? 127 : 126;
}
