// tests/manager/log_test.cc — the manager's log: the stderr mirror of -f,
// its line format, and the rate limiter.
#include "manager/log.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace iopkt {
namespace {

// Points stderr at a pipe for the scope of one test and gives back what was
// written. Everything written must fit the pipe (64 KiB): no reader thread.
class CaptureStderr {
 public:
  CaptureStderr() {
    EXPECT_EQ(pipe2(fds_, O_CLOEXEC), 0);
    saved_ = dup(STDERR_FILENO);
    dup2(fds_[1], STDERR_FILENO);
  }
  ~CaptureStderr() { restore(); }
  std::string take() {
    restore();
    std::string out;
    char buf[4096];
    fcntl(fds_[0], F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 64; ++i) {
      ssize_t n = read(fds_[0], buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      close(fds_[1]);
      saved_ = -1;
    }
  }
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

TEST(Log, MirrorsToStderrWithLevelName) {
  CaptureStderr cap;
  log_open(true);
  log_msg(LOG_WARNING, "recv_ctxt=%d raised to the minimum %d", 100, 2048);
  log_msg(LOG_ERR, "trailing newline dropped\n");
  log_open(false);
  log_msg(LOG_ERR, "not mirrored");
  EXPECT_EQ(cap.take(),
            "io-pkt: warning: recv_ctxt=100 raised to the minimum 2048\n"
            "io-pkt: error: trailing newline dropped\n");
}

TEST(Log, SyslogOnlyIsNeverMirrored) {
  CaptureStderr cap;
  log_open(true);
  log_syslog_only(LOG_ERR, "only in syslog");
  log_open(false);
  EXPECT_EQ(cap.take(), "");
}

TEST(Log, LevelNames) {
  EXPECT_STREQ(log_level_name(LOG_ERR), "error");
  EXPECT_STREQ(log_level_name(LOG_WARNING), "warning");
  EXPECT_STREQ(log_level_name(LOG_INFO), "info");
  EXPECT_STREQ(log_level_name(LOG_DEBUG), "debug");
  EXPECT_STREQ(log_level_name(LOG_CRIT), "critical");
}

// Lines from several threads come out whole, never interleaved.
TEST(Log, ConcurrentLinesStayWhole) {
  CaptureStderr cap;
  log_open(true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 25; ++i) {
        log_msg(LOG_DEBUG, "thread %d line %d xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", t, i);
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  log_open(false);
  std::string out = cap.take();
  size_t lines = 0;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    ASSERT_NE(end, std::string::npos);
    std::string line = out.substr(pos, end - pos);
    EXPECT_EQ(line.rfind("io-pkt: debug: thread ", 0), 0u) << line;
    EXPECT_NE(line.find(" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), std::string::npos) << line;
    ++lines;
    pos = end + 1;
  }
  EXPECT_EQ(lines, 100u);
}

TEST(LogRateLimit, AllowsPerSecondThenCountsTheRest) {
  LogRateLimit limit(3);
  const int64_t t0 = 5'000'000'000;
  EXPECT_TRUE(limit.allow_at(t0));
  EXPECT_TRUE(limit.allow_at(t0 + 1));
  EXPECT_TRUE(limit.allow_at(t0 + 2));
  EXPECT_FALSE(limit.allow_at(t0 + 3));
  EXPECT_FALSE(limit.allow_at(t0 + 999'999'999));
  EXPECT_EQ(limit.take_suppressed(), 2u);
  EXPECT_EQ(limit.take_suppressed(), 0u);
  // A new one-second window.
  EXPECT_TRUE(limit.allow_at(t0 + 1'000'000'000));
  EXPECT_TRUE(limit.allow_at(t0 + 1'000'000'001));
  EXPECT_TRUE(limit.allow_at(t0 + 1'000'000'002));
  EXPECT_FALSE(limit.allow_at(t0 + 1'000'000'003));
}

TEST(LogRateLimit, ZeroAllowsNothingAndRealClockWorks) {
  LogRateLimit none(0);
  EXPECT_FALSE(none.allow());
  EXPECT_EQ(none.take_suppressed(), 1u);
  LogRateLimit one(1);
  EXPECT_TRUE(one.allow());
  EXPECT_FALSE(one.allow());  // within the same second, surely
}

}  // namespace
}  // namespace iopkt
