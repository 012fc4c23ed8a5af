// tests/manager/daemon_test.cc — start-up in the background (SPEC §1): the
// process a shell waits for exits 0 once ready, 1 with the reason on
// failure, 1 with the status if the daemon dies first; the daemon lives on
// in its own session with its standard streams let go.
//
// Processes: the test forks a "shell child" S that calls Startup::begin(false);
// S is the parent that waits, its child D is the daemon. The test is made a
// child subreaper so that D, orphaned when S exits, can be reaped here.
#include "manager/daemon.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace iopkt {
namespace {

enum class Action { kReady, kFail, kExit7, kKilled, kDropWithoutWord, kHangAfterTerm };

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// waitpid with a deadline; kills the process if it does not end in time.
bool wait_bounded(pid_t pid, int* status, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) {
      return true;
    }
    if (r < 0 && errno == ECHILD) {
      return true;  // reaped already (by the shell child, before it exited)
    }
    usleep(5000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, status, 0);
  return false;
}

// Reads until EOF or the deadline.
std::string read_until_eof(int fd, int timeout_ms) {
  std::string out;
  int64_t deadline = now_ms() + timeout_ms;
  char buf[512];
  while (now_ms() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      continue;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct Outcome {
  int shell_status = -1;     // S's wait status
  std::string shell_stderr;  // what S (and D before ready) wrote to stderr
  pid_t daemon_pid = -1;
  pid_t daemon_sid = -1;
};

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  void TearDown() override { prctl(PR_SET_CHILD_SUBREAPER, 0); }

  Outcome run(Action action) {
    int err_pipe[2], report[2], control[2];
    EXPECT_EQ(pipe2(err_pipe, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(report, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(control, O_CLOEXEC), 0);
    Outcome out;
    pid_t shell = fork();
    if (shell == 0) {
      alarm(20);  // a bound on every process below, whatever goes wrong
      dup2(err_pipe[1], STDERR_FILENO);
      // Only fd 2 may refer to the stderr pipe, or its EOF would never come.
      close(err_pipe[0]);
      close(err_pipe[1]);
      close(report[0]);
      close(control[1]);
      if (action == Action::kHangAfterTerm) {
        // As main() does for its signalfd: blocked before the fork.
        sigset_t term;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &term, nullptr);
      }
      Startup s = Startup::begin(false);
      // Only the daemon D gets here.
      pid_t me[2] = {getpid(), getsid(0)};
      (void)!write(report[1], me, sizeof me);
      switch (action) {
        case Action::kReady: {
          s.ready();
          // stderr is /dev/null now: this must not reach the test.
          const char msg[] = "written after ready\n";
          (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
          char c;
          (void)!read(control[0], &c, 1);  // until the test closes its end
          _exit(0);
        }
        case Action::kFail:
          s.failed("no such driver: devnp-nothere.so");
          _exit(1);
        case Action::kExit7:
          _exit(7);
        case Action::kKilled:
          raise(SIGKILL);
          _exit(0);
        case Action::kHangAfterTerm: {
          char c;
          (void)!read(control[0], &c, 1);  // never ready; ends with the test
          _exit(0);
        }
        case Action::kDropWithoutWord: {
          Startup gone = std::move(s);
          (void)gone;
        }
          _exit(3);
      }
      _exit(99);
    }
    close(err_pipe[1]);
    close(report[1]);
    close(control[0]);
    if (action == Action::kHangAfterTerm) {
      // Once the daemon runs, the shell child is (about to be) waiting;
      // a SIGTERM sent before it unblocks stays pending, so no race.
      pid_t me[2];
      pollfd p{report[0], POLLIN, 0};
      if (poll(&p, 1, 5000) > 0 && read(report[0], me, sizeof me) == sizeof me) {
        out.daemon_pid = me[0];
        out.daemon_sid = me[1];
      }
      kill(shell, SIGTERM);
    }
    EXPECT_TRUE(wait_bounded(shell, &out.shell_status, 10000));
    // A daemon that never got ready still holds stderr: no EOF to wait for.
    out.shell_stderr = read_until_eof(err_pipe[0], action == Action::kHangAfterTerm ? 100 : 5000);
    pid_t me[2] = {-1, -1};
    pollfd p{report[0], POLLIN, 0};
    if (out.daemon_pid < 0 && poll(&p, 1, 5000) > 0 &&
        read(report[0], me, sizeof me) == sizeof me) {
      out.daemon_pid = me[0];
      out.daemon_sid = me[1];
    }
    close(control[1]);  // lets a ready daemon exit
    if (out.daemon_pid > 0) {
      int st;
      EXPECT_TRUE(wait_bounded(out.daemon_pid, &st, 10000));
    }
    close(err_pipe[0]);
    close(report[0]);
    return out;
  }
};

TEST_F(Daemon, ReadyReleasesTheShellWithExitZero) {
  Outcome o = run(Action::kReady);
  ASSERT_TRUE(WIFEXITED(o.shell_status));
  EXPECT_EQ(WEXITSTATUS(o.shell_status), 0);
  // The daemon let go of stderr: the read above saw EOF although it runs on,
  // and nothing it wrote after ready() arrived.
  EXPECT_EQ(o.shell_stderr, "");
  ASSERT_GT(o.daemon_pid, 0);
  EXPECT_EQ(o.daemon_sid, o.daemon_pid);  // a session of its own
}

TEST_F(Daemon, FailedPrintsTheReasonAndExitsOne) {
  Outcome o = run(Action::kFail);
  ASSERT_TRUE(WIFEXITED(o.shell_status));
  EXPECT_EQ(WEXITSTATUS(o.shell_status), 1);
  EXPECT_EQ(o.shell_stderr, "io-pkt: no such driver: devnp-nothere.so\n");
}

TEST_F(Daemon, DaemonExitingBeforeReadyReportsItsStatus) {
  Outcome o = run(Action::kExit7);
  ASSERT_TRUE(WIFEXITED(o.shell_status));
  EXPECT_EQ(WEXITSTATUS(o.shell_status), 1);
  EXPECT_EQ(o.shell_stderr, "io-pkt: exited during start-up (status 7)\n");
}

TEST_F(Daemon, DaemonKilledBeforeReadyReportsTheSignal) {
  Outcome o = run(Action::kKilled);
  ASSERT_TRUE(WIFEXITED(o.shell_status));
  EXPECT_EQ(WEXITSTATUS(o.shell_status), 1);
  EXPECT_NE(o.shell_stderr.find("io-pkt: exited during start-up (signal 9"), std::string::npos)
      << o.shell_stderr;
}

TEST_F(Daemon, StartupDestroyedWithoutAWordReportsTheExit) {
  Outcome o = run(Action::kDropWithoutWord);
  ASSERT_TRUE(WIFEXITED(o.shell_status));
  EXPECT_EQ(WEXITSTATUS(o.shell_status), 1);
  EXPECT_EQ(o.shell_stderr, "io-pkt: exited during start-up (status 3)\n");
}

// ^C or SIGTERM reaches the waiting shell child even though the caller
// blocked those signals for its signalfd; the daemon is left alone.
TEST_F(Daemon, TerminationSignalStopsTheWaitingParent) {
  Outcome o = run(Action::kHangAfterTerm);
  ASSERT_TRUE(WIFSIGNALED(o.shell_status)) << o.shell_status;
  EXPECT_EQ(WTERMSIG(o.shell_status), SIGTERM);
  EXPECT_GT(o.daemon_pid, 0);
}

TEST(DaemonForeground, NoForkAndFailedPrints) {
  pid_t before = getpid();
  Startup s = Startup::begin(true);
  EXPECT_EQ(getpid(), before);
  EXPECT_TRUE(s.foreground());

  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  s.failed("bad option");
  s.failed("second report ignored");
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fds[1]);
  EXPECT_EQ(read_until_eof(fds[0], 2000), "io-pkt: bad option\n");
  close(fds[0]);
  // ready() after failed() is a no-op; in the foreground it never touches
  // the standard streams.
  s.ready();
  EXPECT_NE(fcntl(STDERR_FILENO, F_GETFD), -1);
}

}  // namespace
}  // namespace iopkt
