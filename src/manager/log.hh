// manager/log.hh — the manager's log: syslog with the ident "io-pkt" (the
// Linux counterpart of QNX's slogger2, SPEC §1), optionally mirrored to
// stderr for -f. Callable from any thread; not async-signal-safe (the fatal
// signal handler in manager/signals.cc writes its own datagrams instead).
#pragma once

#include <syslog.h>

#include <cstdint>
#include <mutex>
#include <string>

namespace iopkt {

// openlog("io-pkt", LOG_PID | LOG_NDELAY, LOG_DAEMON). With also_stderr,
// every line is also written to stderr as "io-pkt: LEVEL: message". May be
// called again (e.g. to stop mirroring once stderr is /dev/null).
void log_open(bool also_stderr);

// Logs one line at a syslog level (LOG_ERR, LOG_WARNING, LOG_INFO...). A
// trailing newline in the message is dropped. Thread-safe.
void log_msg(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// As log_msg, but never mirrored to stderr: for messages the caller has
// already shown the user in another form (Startup::failed).
void log_syslog_only(int level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// The name shown for a level on stderr: "error", "warning", "info"...
const char* log_level_name(int level);

// Lets `per_second` events through in each one-second window of the
// monotonic clock and counts the rest, so that a flood (a bad frame per
// packet, an exhausted pool) logs a few lines, then a summary. Thread-safe.
//   static LogRateLimit limit(5);
//   if (limit.allow()) log_msg(LOG_WARNING, "...");
class LogRateLimit {
 public:
  explicit LogRateLimit(int per_second);

  bool allow();
  // The same decision at a given monotonic time, for tests.
  bool allow_at(int64_t now_ns);
  // Events refused since the last call; resets the count.
  uint64_t take_suppressed();

 private:
  std::mutex mu_;
  int per_second_;
  int64_t window_start_ns_ = INT64_MIN;
  int used_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace iopkt
