// tests/drivers/support/netns.hh — network namespaces for the driver tests,
// so that the TAPs, veths, addresses and sockets they make never touch the
// host's namespace: commands with a deadline (run_cmd), a guard that puts
// the calling thread into a namespace (InNetns; a network namespace is per
// thread, so the rest of the test process stays where it was), a named
// namespace made and removed with `ip netns` (NetNs), and two of them
// joined by a veth pair (VethPair). Names carry the test process's pid; a
// namespace left by a test process that died is removed by the next one.
//
// Network safety: everything happens inside namespaces the test creates,
// with documentation addresses (192.0.2.0/24); the host's own interfaces
// are never named.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace iopkt::driver_test {

inline int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Runs argv[0] from PATH with a deadline; returns its exit status, or -1
// when it could not run or was killed at the deadline. Its stdout and
// stderr go to *out.
inline int run_cmd(const std::vector<std::string>& argv, std::string* out = nullptr,
                   int timeout_ms = 10000) {
  // Built before fork(): the child of a threaded process only execs.
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pfd[1]);
  std::string text;
  const int64_t deadline = now_ms() + timeout_ms;
  int status = 0;
  bool reaped = false;
  bool eof = false;
  while (now_ms() < deadline) {
    if (!eof) {
      pollfd p{pfd[0], POLLIN, 0};
      if (poll(&p, 1, 20) > 0) {
        char buf[512];
        ssize_t n = read(pfd[0], buf, sizeof buf);
        if (n > 0) {
          text.append(buf, static_cast<size_t>(n));
        } else {
          eof = true;
        }
      }
    } else {
      usleep(2000);
    }
    if (waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      break;
    }
  }
  close(pfd[0]);
  if (!reaped) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  if (out != nullptr) {
    *out = text;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// An IPv4 socket address; addr and port in host order.
inline sockaddr_in sin_of(uint32_t addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(addr);
  a.sin_port = htons(port);
  return a;
}

// "a b  c" -> {"a", "b", "c"}.
inline std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> r;
  size_t at = 0;
  while ((at = line.find_first_not_of(' ', at)) != std::string::npos) {
    size_t end = line.find(' ', at);
    r.push_back(line.substr(at, end == std::string::npos ? end : end - at));
    at = end;
  }
  return r;
}

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& a : v) {
    s += (s.empty() ? "" : " ") + a;
  }
  return s;
}

// The calling thread's network namespace is `name` (from `ip netns add`)
// until the guard goes away. Sockets keep the namespace they were made in.
class InNetns {
 public:
  explicit InNetns(const std::string& name) {
    self_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = self_ >= 0 && fd >= 0 && setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) {
      close(fd);
    }
  }
  ~InNetns() {
    if (self_ >= 0) {
      if (ok_ && setns(self_, CLONE_NEWNET) != 0) {
        abort();  // never carry on in the wrong namespace
      }
      close(self_);
    }
  }
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;
  bool ok() const { return ok_; }

 private:
  int self_ = -1;
  bool ok_ = false;
};

// A network namespace "PREFIXPID-TAG", made by create() (with lo up) and
// removed when the object goes.
class NetNs {
 public:
  NetNs(const std::string& prefix, const std::string& tag)
      : prefix_(prefix), name_(prefix + std::to_string(getpid()) + "-" + tag) {}
  ~NetNs() { remove(); }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  // False, with the failing command and its output in *err, when the
  // namespace could not be made.
  bool create(std::string* err) {
    sweep_stale(prefix_);
    run_cmd({"ip", "netns", "del", name_});  // a leftover of a killed run with our pid
    std::vector<std::string> add = {"ip", "netns", "add", name_};
    std::string out;
    if (run_cmd(add, &out) != 0) {
      *err = join(add) + ": " + out;
      return false;
    }
    created_ = true;
    ip("link set lo up");
    return true;
  }

  void remove() {
    if (created_) {
      run_cmd({"ip", "netns", "del", name_});
      created_ = false;
    }
  }

  const std::string& name() const { return name_; }

  // `ip -n NAME ARGS` (ARGS split at spaces); returns its exit status,
  // output in *out.
  int ip(const std::string& args, std::string* out = nullptr) const {
    std::vector<std::string> argv = {"ip", "-n", name_};
    for (auto& w : words(args)) {
      argv.push_back(std::move(w));
    }
    return run_cmd(argv, out, 20000);
  }

  // Runs fn on a thread inside the namespace. False (and fn not run) when
  // the thread could not join it.
  bool run(const std::function<void()>& fn) const {
    bool joined = false;
    std::thread t([&] {
      InNetns in(name_);
      joined = in.ok();
      if (joined) {
        fn();
      }
    });
    t.join();
    return joined;
  }

  // Removes namespaces "PREFIXPID-..." whose PID is gone: left by test
  // processes that died before their clean-up.
  static void sweep_stale(const std::string& prefix) {
    std::string list;
    if (run_cmd({"ip", "netns", "list"}, &list) != 0) {
      return;
    }
    size_t at = 0;
    while ((at = list.find(prefix, at)) != std::string::npos) {
      size_t end = list.find_first_of(" \n", at);
      std::string name = list.substr(at, end == std::string::npos ? end : end - at);
      at += name.size();
      long pid = strtol(name.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        run_cmd({"ip", "netns", "del", name});
      }
    }
  }

 private:
  std::string prefix_;
  std::string name_;
  bool created_ = false;
};

// Two namespaces, "iopkt-pkt-PID-TAG-a" (where a driver attaches to pa0)
// and "...-b" (the Linux peer, pb0 with 192.0.2.1/24), joined by a veth
// with default offloads. Neither end gets an IPv6 link-local address
// (addrgenmode none), so the link stays quiet.
class VethPair {
 public:
  explicit VethPair(const std::string& tag) : a_(kPrefix, tag + "-a"), b_(kPrefix, tag + "-b") {}

  // Returns "" on success, else the failing command and its output.
  std::string create() {
    std::string err;
    if (!a_.create(&err) || !b_.create(&err)) {
      return err;
    }
    const std::vector<std::vector<std::string>> cmds = {
        {"ip", "-n", a(), "link", "add", "pa0", "type", "veth", "peer", "name", "pb0", "netns",
         b()},
        {"ip", "-n", a(), "link", "set", "pa0", "addrgenmode", "none"},
        {"ip", "-n", b(), "link", "set", "pb0", "addrgenmode", "none"},
        {"ip", "-n", a(), "link", "set", "pa0", "up"},
        {"ip", "-n", b(), "link", "set", "pb0", "up"},
        {"ip", "-n", b(), "addr", "add", "192.0.2.1/24", "dev", "pb0"},
    };
    for (const auto& c : cmds) {
      std::string out;
      if (run_cmd(c, &out) != 0) {
        return join(c) + ": " + out;
      }
    }
    return "";
  }

  void remove() {
    a_.remove();
    b_.remove();
  }

  const std::string& a() const { return a_.name(); }
  const std::string& b() const { return b_.name(); }

 private:
  static constexpr const char* kPrefix = "iopkt-pkt-";
  NetNs a_, b_;
};

}  // namespace iopkt::driver_test
