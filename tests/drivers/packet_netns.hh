// tests/drivers/packet_netns.hh — helpers for devnp-packet's tests: network
// namespaces with a veth pair between them (made and removed with `ip`,
// every command bounded in time), entering a namespace for a few calls,
// and an RFC 1071 checksum written independently of the driver's.
//
// Network safety: everything happens inside namespaces the test creates;
// the host's own interfaces are never named.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace packet_test {

inline int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Runs argv[0] from PATH with a deadline; returns its exit status, or -1
// when it could not run or was killed at the deadline. Output goes to *out.
inline int run_cmd(const std::vector<std::string>& argv, std::string* out = nullptr,
                   int timeout_ms = 10000) {
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
    std::vector<char*> args;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
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

// Two namespaces, "iopkt-pkt-PID-TAG-a" (where the driver attaches to pa0)
// and "...-b" (the Linux peer, pb0 with 192.0.2.1/24), joined by a veth
// with default offloads. Neither end gets an IPv6 link-local address
// (addrgenmode none), so the link stays quiet.
class VethPair {
 public:
  explicit VethPair(const std::string& tag) {
    std::string base = "iopkt-pkt-" + std::to_string(getpid()) + "-" + tag;
    a_ = base + "-a";
    b_ = base + "-b";
  }
  ~VethPair() { remove(); }
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  // Removes namespaces left by test processes that died before their
  // clean-up (a crash): "iopkt-pkt-PID-..." whose PID is gone.
  static void sweep_stale() {
    std::string list;
    if (run_cmd({"ip", "netns", "list"}, &list) != 0) {
      return;
    }
    size_t at = 0;
    while ((at = list.find("iopkt-pkt-", at)) != std::string::npos) {
      size_t end = list.find_first_of(" \n", at);
      std::string name = list.substr(at, end == std::string::npos ? end : end - at);
      at += name.size();
      long pid = strtol(name.c_str() + 10, nullptr, 10);
      if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        run_cmd({"ip", "netns", "del", name});
      }
    }
  }

  // Returns "" on success, else the failing command and its output.
  std::string create() {
    sweep_stale();
    const std::vector<std::vector<std::string>> cmds = {
        {"ip", "netns", "add", a_},
        {"ip", "netns", "add", b_},
        {"ip", "-n", a_, "link", "add", "pa0", "type", "veth", "peer", "name", "pb0", "netns", b_},
        {"ip", "-n", a_, "link", "set", "pa0", "addrgenmode", "none"},
        {"ip", "-n", b_, "link", "set", "pb0", "addrgenmode", "none"},
        {"ip", "-n", a_, "link", "set", "pa0", "up"},
        {"ip", "-n", b_, "link", "set", "lo", "up"},
        {"ip", "-n", b_, "link", "set", "pb0", "up"},
        {"ip", "-n", b_, "addr", "add", "192.0.2.1/24", "dev", "pb0"},
    };
    for (const auto& c : cmds) {
      std::string out;
      if (run_cmd(c, &out) != 0) {
        return join(c) + ": " + out;
      }
      if (c[1] == "netns") {
        created_ = true;
      }
    }
    return "";
  }

  void remove() {
    if (created_) {
      run_cmd({"ip", "netns", "del", a_});
      run_cmd({"ip", "netns", "del", b_});
      created_ = false;
    }
  }

  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

 private:
  std::string a_, b_;
  bool created_ = false;
};

// --- frames ----------------------------------------------------------------

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

// One's complement sum of big-endian 16-bit words (RFC 1071), unfolded.
inline uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) {
    sum += be16(p + i);
  }
  if (n % 2 == 1) {
    sum += uint32_t{p[n - 1]} << 8;
  }
  return sum;
}
inline uint16_t fold(uint32_t sum) {
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// Offset of the IP header (after Ethernet and any 802.1Q tags).
inline size_t l3_offset(const std::vector<uint8_t>& f) {
  size_t off = 14;
  while (f.size() >= off && (be16(&f[off - 2]) == 0x8100 || be16(&f[off - 2]) == 0x88a8)) {
    off += 4;
  }
  return off;
}

inline uint32_t pseudo_sum(const std::vector<uint8_t>& f, size_t l3, uint8_t proto, size_t l4len) {
  uint32_t s;
  if ((f[l3] >> 4) == 4) {
    s = ones_sum(&f[l3 + 12], 8);
  } else {
    s = ones_sum(&f[l3 + 8], 32);
  }
  return s + proto + static_cast<uint32_t>(l4len >> 16) + static_cast<uint32_t>(l4len & 0xffff);
}

inline bool ipv4_header_ok(const std::vector<uint8_t>& f, size_t l3) {
  size_t ihl = (f[l3] & 15u) * 4;
  return fold(ones_sum(&f[l3], ihl)) == 0xffff;
}

// The transport checksum of an unfragmented IPv4/IPv6 TCP or UDP frame
// (no IPv6 extension headers) verifies.
inline bool l4_checksum_ok(const std::vector<uint8_t>& f) {
  size_t l3 = l3_offset(f);
  size_t l4;
  size_t l4len;
  uint8_t proto;
  if ((f[l3] >> 4) == 4) {
    l4 = l3 + (f[l3] & 15u) * 4;
    l4len = be16(&f[l3 + 2]) - (l4 - l3);
    proto = f[l3 + 9];
  } else {
    l4 = l3 + 40;
    l4len = be16(&f[l3 + 4]);
    proto = f[l3 + 6];
  }
  if (l4 + l4len > f.size()) {
    return false;
  }
  if (proto == 17 && f[l4 + 6] == 0 && f[l4 + 7] == 0) {
    return false;  // no checksum at all: not what we want to see either
  }
  return fold(ones_sum(&f[l4], l4len, pseudo_sum(f, l3, proto, l4len))) == 0xffff;
}

}  // namespace packet_test
