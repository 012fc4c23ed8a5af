// manager/daemon.hh — start-up in the background (SPEC §1): started from a
// shell, io-pkt returns only once the stack, its drivers and its endpoint
// are up (exit 0), or prints why not (exit 1); it then runs on in the
// background. -f keeps it in the foreground.
//
// How: begin(false) forks. The parent (what the shell waits for) blocks on
// a pipe until the child reports ready() or failed(), or dies. The child
// carries on as the daemon in a new session.
#pragma once

#include <string>

namespace iopkt {

class Startup {
 public:
  // foreground (-f): no fork; ready() and failed() only log.
  // Otherwise forks. The parent NEVER returns: it exits 0 on ready(), exits
  // 1 after printing "io-pkt: MESSAGE" on failed(), and exits 1 with
  // "io-pkt: exited during start-up (status N)" (or "(signal N)") if the
  // child ends first. The child returns, in a new session (setsid); umask
  // and working directory are kept, so relative paths stay valid.
  // Call it before any thread is created (fork copies only the caller) and
  // before anything whose destructor must not run twice: the parent leaves
  // with _exit(), so nothing is flushed or destroyed there. If fork() fails,
  // the process stays in the foreground and logs why.
  static Startup begin(bool foreground);

  Startup(Startup&& other) noexcept;
  Startup& operator=(Startup&& other) noexcept;
  Startup(const Startup&) = delete;
  Startup& operator=(const Startup&) = delete;
  // Without ready() or failed(): the parent sees the pipe close and reports
  // the child's exit status once it has exited.
  ~Startup();

  // Everything is up: logs "ready" at LOG_INFO, releases the parent (exit 0)
  // and, in the background, points stdin/stdout/stderr at /dev/null so that
  // the shell (or a `$(...)`) waiting on them is let go. Once only.
  void ready();

  // Start-up failed: the parent prints "io-pkt: MESSAGE" and exits 1; the
  // message also goes to syslog. In the foreground it is printed to stderr
  // here. Does not exit: the caller cleans up and exits non-zero.
  void failed(const std::string& message);

  bool foreground() const { return foreground_; }

 private:
  Startup(bool foreground, int fd) : foreground_(foreground), fd_(fd) {}
  void close_pipe();

  bool foreground_ = true;
  int fd_ = -1;  // child's end of the pipe to the waiting parent
  bool done_ = false;
};

}  // namespace iopkt
