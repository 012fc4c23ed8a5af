// manager/log.cc — syslog with the ident "io-pkt", mirrored to stderr for -f.
#include "manager/log.hh"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace iopkt {
namespace {

std::atomic<bool> g_also_stderr{false};
// Serialises the stderr copy so that lines from different threads do not
// interleave; syslog() has its own lock in glibc.
std::mutex g_stderr_mu;

// Formats into `buf` and drops one trailing newline.
void format_line(char* buf, size_t size, const char* fmt, va_list ap) {
  vsnprintf(buf, size, fmt, ap);
  size_t len = strlen(buf);
  if (len > 0 && buf[len - 1] == '\n') {
    buf[len - 1] = '\0';
  }
}

void write_stderr_line(int level, const char* msg) {
  std::string line = "io-pkt: ";
  line += log_level_name(level);
  line += ": ";
  line += msg;
  line += '\n';
  std::lock_guard<std::mutex> lock(g_stderr_mu);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // nowhere to complain about a broken stderr
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

void log_open(bool also_stderr) {
  openlog("io-pkt", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  g_also_stderr.store(also_stderr, std::memory_order_relaxed);
}

const char* log_level_name(int level) {
  switch (LOG_PRI(level)) {
    case LOG_EMERG:
      return "emergency";
    case LOG_ALERT:
      return "alert";
    case LOG_CRIT:
      return "critical";
    case LOG_ERR:
      return "error";
    case LOG_WARNING:
      return "warning";
    case LOG_NOTICE:
      return "notice";
    case LOG_INFO:
      return "info";
    default:
      return "debug";
  }
}

void log_msg(int level, const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  format_line(buf, sizeof buf, fmt, ap);
  va_end(ap);
  syslog(level, "%s", buf);
  if (g_also_stderr.load(std::memory_order_relaxed)) {
    write_stderr_line(level, buf);
  }
}

void log_syslog_only(int level, const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  format_line(buf, sizeof buf, fmt, ap);
  va_end(ap);
  syslog(level, "%s", buf);
}

LogRateLimit::LogRateLimit(int per_second) : per_second_(per_second < 0 ? 0 : per_second) {}

bool LogRateLimit::allow() { return allow_at(monotonic_ns()); }

bool LogRateLimit::allow_at(int64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (window_start_ns_ == INT64_MIN || now_ns - window_start_ns_ >= 1000000000 ||
      now_ns < window_start_ns_) {
    window_start_ns_ = now_ns;
    used_ = 0;
  }
  if (used_ < per_second_) {
    ++used_;
    return true;
  }
  ++suppressed_;
  return false;
}

uint64_t LogRateLimit::take_suppressed() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t n = suppressed_;
  suppressed_ = 0;
  return n;
}

}  // namespace iopkt
