// manager/signals.hh — termination and fatal signals.
//
// Termination (SIGTERM, SIGINT, SIGHUP) is read from a signalfd by the main
// loop; SIGPIPE is ignored (a client that goes away must not kill the stack).
// Fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE) run a handler on an
// alternate stack that quiesces the drivers (brings host links down), logs a
// backtrace and lets the process die of the signal, as io-pkt does unless
// -S is given (SPEC §1).
#pragma once

#include <string>

namespace iopkt {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread's mask, ignores
// SIGPIPE, and returns a non-blocking, close-on-exec signalfd for the three,
// or -1 with errno set. Call it before creating threads: they inherit the
// mask, so only the signalfd sees these signals.
int termination_signalfd();

// Reads one signal from that signalfd: its number, or 0 if none is pending.
int read_termination_signal(int fd);

// Installs the fatal-signal handlers unless segv_handler is false (-S), in
// which case the defaults stay. `log_socket` is the syslog socket the
// handler writes to (opened now: the handler may not call syslog()). Sets
// an alternate signal stack for the calling thread; threads made with
// iopkt::Thread get their own (manager/thread.hh), others may construct a
// ThreadAltStack. Call once, early.
void install_fatal_handlers(bool segv_handler, const std::string& log_socket = "/dev/log");

// True once install_fatal_handlers(true) ran.
bool fatal_handlers_installed();

// Quiesce functions run from the fatal-signal handler, in slot order. They
// must be async-signal-safe (a driver's "link down" ioctl, a write). At most
// kMaxQuiesce at a time; register returns a slot id, or -1 when full.
// Register and unregister are lock-free and may race with the handler.
constexpr int kMaxQuiesce = 64;
int register_quiesce(void (*fn)(void*), void* arg);
void unregister_quiesce(int id);

// An alternate signal stack for the thread that constructs it, so that a
// stack overflow there still reaches the handler. Removed on destruction.
class ThreadAltStack {
 public:
  ThreadAltStack();
  ~ThreadAltStack();
  ThreadAltStack(const ThreadAltStack&) = delete;
  ThreadAltStack& operator=(const ThreadAltStack&) = delete;

 private:
  void* mem_ = nullptr;
  size_t size_ = 0;
};

}  // namespace iopkt
