// tests/drivers/tap_netns.hh — a named network namespace per test, so that
// the TAPs, addresses and sockets of devnp-tap's tests never touch the
// host's namespace: `ip netns add iopkt-tap-test-PID-N`, code run on a
// thread that has setns()-ed into it (a network namespace is per thread, so
// the rest of the test process stays where it was), and `ip netns del` at
// the end. Commands run under timeout(1), so none can hang a test.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace iopkt::tap_test {

// Runs a shell command line; returns its exit status (-1 when it could not
// run) and its stdout and stderr in *out.
inline int run_cmd(const std::string& cmd, std::string* out = nullptr) {
  std::string line = "timeout 20 " + cmd + " 2>&1";
  FILE* f = popen(line.c_str(), "r");
  if (f == nullptr) {
    return -1;
  }
  std::string text;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    text.append(buf, n);
  }
  int st = pclose(f);
  if (out != nullptr) {
    *out = text;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

class NetNs {
 public:
  NetNs() {
    static std::atomic<int> counter{0};
    name_ = "iopkt-tap-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  }
  ~NetNs() {
    if (created_) {
      run_cmd("ip netns del " + name_);
    }
  }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  bool create(std::string* err) {
    run_cmd("ip netns del " + name_);  // a leftover of a killed run with our pid
    int rc = run_cmd("ip netns add " + name_, err);
    created_ = rc == 0;
    if (created_) {
      run_cmd("ip -n " + name_ + " link set lo up");
    }
    return created_;
  }

  const std::string& name() const { return name_; }

  // `ip -n NAME ARGS`; returns its exit status, output in *out.
  int ip(const std::string& args, std::string* out = nullptr) const {
    return run_cmd("ip -n " + name_ + " " + args, out);
  }

  // Runs fn on a thread inside the namespace. False (and fn not run) when
  // the thread could not join it.
  bool run(const std::function<void()>& fn) const {
    bool joined = false;
    std::thread t([&] {
      int fd = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return;
      }
      joined = setns(fd, CLONE_NEWNET) == 0;
      close(fd);
      if (joined) {
        fn();
      }
    });
    t.join();
    return joined;
  }

 private:
  std::string name_;
  bool created_ = false;
};

}  // namespace iopkt::tap_test
