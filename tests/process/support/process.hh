// process/support/process.hh — helpers of the process tests (DESIGN.md test
// layer 3): a private temporary folder per test, running programs with a
// bounded wait and their output captured, starting and always stopping real
// io-pkt instances, and a raw control-protocol client (include/iopkt/
// control.h) that speaks to an endpoint without libiopkt, so that the tests
// can send what libiopkt never would.
//
// Every wait here is bounded; every process a test starts is remembered and
// killed by pid (SIGTERM, then SIGKILL) when the test ends.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iopkt/control.h"

namespace iopkt::test {

using Millis = std::chrono::milliseconds;

// An IPv4 socket address from its text and a port (host order), and the
// cast the socket calls want.
inline sockaddr_in inet4(const char* ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, ip, &sa.sin_addr);
  return sa;
}
inline sockaddr* as_sa(sockaddr_in& sa) { return reinterpret_cast<sockaddr*>(&sa); }

// The build's folders (compile definitions of process_tests).
std::string bin_dir();           // io-pkt-v4-hc, ifconfig, sysctl, mount...
std::string module_dir();        // devnp-*.so of src/drivers
std::string extra_module_dir();  // devnp-*.so of tests/drivers
std::string io_pkt_path(int variant);
bool file_exists(const std::string& path);
std::string read_file(const std::string& path);

// A folder of its own under /tmp, removed with everything in it. Paths stay
// short: an endpoint path must fit in sun_path (108 bytes).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

struct RunResult {
  bool timed_out = false;  // killed with SIGKILL after the timeout
  int exit_code = -1;      // when it exited
  int signal = 0;          // when a signal ended it
  std::string out;
  std::string err;
  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  std::string describe() const;  // for failure messages
};

// Environment changes for a child: "NAME=VALUE" sets, "NAME" alone unsets.
using EnvChanges = std::vector<std::string>;

// Starts argv (argv[0] a path) with this process's environment plus `env`,
// stdin /dev/null, stdout and stderr into files under `scratch`; descriptors
// above 2 are closed in the child. Returns its pid, or -1.
pid_t spawn(const std::vector<std::string>& argv, const EnvChanges& env,
            const std::string& out_path, const std::string& err_path);

// Waits for child `pid` (ours) to end, at most `timeout`. nullopt on timeout
// (it is left running); otherwise the wait status.
std::optional<int> wait_child(pid_t pid, Millis timeout);

// Runs to completion, bounded: on timeout the child is killed (SIGKILL).
RunResult run_program(const std::vector<std::string>& argv, const EnvChanges& env,
                      const std::string& scratch, Millis timeout = Millis(20000));

// Whether `pid` is a live process (not gone, not a zombie).
bool process_alive(pid_t pid);
// Waits until `pid` is no longer alive, at most `timeout`.
bool wait_gone(pid_t pid, Millis timeout);
// SIGTERM, wait up to `grace`, then SIGKILL and wait again: only if `pid`
// is an io-pkt process (its /proc/PID/comm starts with "io-pkt"), so a pid
// read from a stale registry file never hits an unrelated process.
void kill_io_pkt(pid_t pid, Millis grace = Millis(5000));

// Polls `pred` every few milliseconds until true or `timeout`.
template <typename Pred>
bool eventually(Pred pred, Millis timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

// --- the raw control protocol ------------------------------------------------

struct CtlReply {
  iopkt_ctl_hdr hdr{};
  std::vector<uint8_t> body;
  int fd = -1;  // a descriptor the reply carried (owned by the caller)
  // The body as a string (error replies carry a NUL-terminated message).
  std::string message() const;
};

// One AF_UNIX SOCK_SEQPACKET connection to an endpoint.
class CtlConn {
 public:
  // Connects; -1 in fd() and errno_ set when it cannot.
  explicit CtlConn(const std::string& endpoint_path);
  ~CtlConn();
  CtlConn(CtlConn&& other) noexcept;
  CtlConn& operator=(CtlConn&&) = delete;
  CtlConn(const CtlConn&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  int connect_errno() const { return errno_; }

  // Sends one message of `bytes`, with `fds` as SCM_RIGHTS when not empty.
  bool send_raw(std::span<const uint8_t> bytes, std::span<const int> fds = {});
  // Sends a well-formed header (magic, version, seq, len = body size) and
  // body.
  bool send_request(uint16_t type, std::span<const uint8_t> body, uint32_t seq,
                    std::span<const int> fds = {});
  // The next reply, waiting at most `timeout`; nullopt on timeout, end of
  // connection or a reply shorter than a header.
  std::optional<CtlReply> recv_reply(Millis timeout = Millis(5000));
  // send_request + recv_reply.
  std::optional<CtlReply> request(uint16_t type, std::span<const uint8_t> body = {},
                                  std::span<const int> fds = {}, Millis timeout = Millis(5000));

 private:
  int fd_ = -1;
  int errno_ = 0;
  uint32_t seq_ = 1;
};

template <typename T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof(T)};
}

std::string endpoint_of(const std::string& prefix);  // prefix + "/dev/socket"

// HELLO on a fresh connection to `prefix`'s endpoint.
std::optional<iopkt_ctl_hello_reply> hello(const std::string& prefix);
// SYSCTL_GET of `name`; nullopt if the stack refused or did not answer.
std::optional<std::string> sysctl_get(const std::string& prefix, const std::string& name);
// Every interface (IF_LIST, all pages).
std::optional<std::vector<iopkt_ctl_if_info>> if_list(const std::string& prefix);
const iopkt_ctl_if_info* find_if(const std::vector<iopkt_ctl_if_info>& ifs, std::string_view name);
// Every address of every interface (IFADDR_LIST, all pages).
std::optional<std::vector<iopkt_ctl_ifaddr>> ifaddr_list(const std::string& prefix);

// --- io-pkt instances --------------------------------------------------------

// A started instance.
struct IoPktRun {
  RunResult start;  // the start-up command (background) — ok() when ready
  pid_t pid = -1;   // the running daemon (or the -f child)
  bool foreground = false;
};

// A test with its own folder T, in which it runs io-pkt instances with
// IOPKT_RUNDIR=T/run and the test modules on IOPKT_MODULE_PATH; everything
// it starts is killed in TearDown.
class ProcessTest : public ::testing::Test {
 protected:
  void TearDown() override;

  const std::string& root() const { return tmp_.path(); }
  std::string path(std::string_view name) const { return tmp_ / name; }
  std::string rundir() const { return tmp_ / "run"; }
  std::string registry_path(int instance) const;
  // The environment of every program the test runs (io-pkt and the
  // utilities): IOPKT_RUNDIR, IOPKT_MODULE_PATH; plus `extra`.
  EnvChanges env(const EnvChanges& extra = {}) const;

  // io-pkt-vVARIANT-hc ARGS in the background: returns once the start-up
  // command has exited (ready or refused). When it succeeded, the daemon's
  // pid is read from the registry of `instance` (the -i in args; the caller
  // says which) and remembered for TearDown.
  IoPktRun start_io_pkt(int variant, const std::vector<std::string>& args, int instance,
                        Millis timeout = Millis(20000));
  // Shorthand: -i N -p tcpip prefix=PREFIX[,TCPIP] plus `more`; asserts
  // nothing, check run.start.ok().
  IoPktRun start_instance(int variant, int instance, const std::string& prefix,
                          const std::vector<std::string>& more = {},
                          const std::string& tcpip_extra = {});
  // io-pkt ... -f: a child of this process, stderr to `err_path`. Waits until
  // HELLO answers on `prefix` (or the child exits); pid -1 in the result if
  // it exited, with its status in start.
  IoPktRun start_foreground(int variant, const std::vector<std::string>& args,
                            const std::string& prefix, const std::string& err_path,
                            Millis timeout = Millis(20000), const EnvChanges& extra_env = {});
  // A foreground child's exit: SIGTERM, then its wait status (nullopt when
  // it did not exit within `timeout`; it is then killed).
  std::optional<int> terminate_child(pid_t pid, Millis timeout = Millis(10000));
  // Forgets a pid (the test stopped it itself).
  void forget(pid_t pid);
  void remember(pid_t pid, bool child);

  // Runs a utility of the build (bin/NAME) with env() plus `extra`.
  RunResult run_util(const std::string& name, const std::vector<std::string>& args,
                     const EnvChanges& extra = {}, Millis timeout = Millis(20000));

 private:
  TempDir tmp_;
  struct Started {
    pid_t pid;
    bool child;  // ours to reap
  };
  std::vector<Started> started_;
  int runs_ = 0;
};

}  // namespace iopkt::test
