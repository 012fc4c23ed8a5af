// tests/manager/priority_test.cc — QNX priorities on Linux (SPEC §5): the
// mapping, and applying it to a thread. Every change is made on a thread
// of the test's own that restores what it changed and then ends, so the
// machine's scheduling is left as it was (CI runs as root, where SCHED_RR
// succeeds).
#include "manager/priority.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

namespace iopkt {
namespace {

TEST(PriorityMapping, Realtime) {
  EXPECT_EQ(qnx_priority_to_rr(21), 21);
  EXPECT_EQ(qnx_priority_to_rr(1), 1);
  EXPECT_EQ(qnx_priority_to_rr(99), 99);
  EXPECT_EQ(qnx_priority_to_rr(200), 99);
  EXPECT_EQ(qnx_priority_to_rr(0), 1);
}

TEST(PriorityMapping, Nice) {
  EXPECT_EQ(qnx_priority_to_nice(21), 0);  // io-pkt's default is a normal thread
  EXPECT_EQ(qnx_priority_to_nice(10), 2);  // QNX shell default: a little behind
  EXPECT_EQ(qnx_priority_to_nice(1), 5);
  EXPECT_EQ(qnx_priority_to_nice(25), -1);
  EXPECT_EQ(qnx_priority_to_nice(63), -10);
  EXPECT_EQ(qnx_priority_to_nice(101), -20);
  EXPECT_EQ(qnx_priority_to_nice(255), -20);
  EXPECT_EQ(qnx_priority_to_nice(-7), 5);  // held to 1 first
  // Higher QNX priority never means a higher nice.
  for (int q = 2; q <= 255; ++q) {
    EXPECT_LE(qnx_priority_to_nice(q), qnx_priority_to_nice(q - 1)) << q;
  }
}

int thread_nice() {
  errno = 0;
  return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
}

// Checks that `applied` describes the calling thread's state.
void expect_describes_this_thread(const std::string& applied, int qnx) {
  int policy = -1;
  sched_param sp{};
  ASSERT_EQ(pthread_getschedparam(pthread_self(), &policy, &sp), 0);
  if (applied.rfind("SCHED_RR ", 0) == 0) {
    EXPECT_EQ(policy, SCHED_RR);
    EXPECT_EQ(sp.sched_priority, qnx_priority_to_rr(qnx));
    EXPECT_EQ(applied, "SCHED_RR " + std::to_string(qnx_priority_to_rr(qnx)));
  } else {
    EXPECT_EQ(policy, SCHED_OTHER);
    int want = qnx_priority_to_nice(qnx);
    int now = thread_nice();
    if (now == want) {
      EXPECT_EQ(applied, "nice " + std::to_string(want));
    } else {
      EXPECT_EQ(applied, "nice " + std::to_string(now) + " (requested " + std::to_string(want) +
                             ", not permitted)");
    }
  }
}

// Runs fn on a fresh thread that then puts back SCHED_OTHER and its nice
// (best effort: per-thread nice dies with the thread anyway).
template <typename F>
void on_scratch_thread(F fn) {
  std::thread t([&] {
    int orig_nice = thread_nice();
    fn();
    sched_param sp{};
    sp.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), orig_nice);
  });
  t.join();
}

TEST(ApplyPriority, DefaultPriorityDescribesWhatWasApplied) {
  on_scratch_thread([] {
    std::string applied = apply_thread_priority(21);
    expect_describes_this_thread(applied, 21);
    if (geteuid() == 0) {
      // Root may normally use real-time scheduling; a container without
      // CAP_SYS_NICE falls back to nice, which the check above accepts.
      SUCCEED() << "applied: " << applied;
    }
  });
}

TEST(ApplyPriority, NiceFallbackWithoutRealtime) {
  on_scratch_thread([] {
    std::string applied = apply_thread_priority(1, /*allow_realtime=*/false);
    expect_describes_this_thread(applied, 1);
    EXPECT_EQ(applied.rfind("nice ", 0), 0u) << applied;
  });
}

TEST(ApplyPriority, LeavesRealtimeWhenNotAllowed) {
  on_scratch_thread([] {
    std::string rr = apply_thread_priority(30);
    std::string applied = apply_thread_priority(21, /*allow_realtime=*/false);
    expect_describes_this_thread(applied, 21);
    (void)rr;
  });
}

// Lowering nice needs CAP_SYS_NICE or RLIMIT_NICE. As root, check it in a
// child that gives both up.
TEST(ApplyPriority, RaisingPriorityWithoutPrivilegeIsReported) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    rlimit no_nice{0, 0};
    setrlimit(RLIMIT_NICE, &no_nice);
    if (geteuid() == 0 &&
        (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)) {
      _exit(2);
    }
    std::string applied = apply_thread_priority(63);  // SCHED_RR refused too
    std::string want = "nice " + std::to_string(thread_nice()) + " (requested -10, not permitted)";
    (void)!write(fds[1], applied.data(), applied.size());
    _exit(applied == want ? 0 : 1);
  }
  close(fds[1]);
  int status = 0;
  bool done = false;
  for (int waited = 0; waited < 10000 && !done; waited += 5) {
    done = waitpid(pid, &status, WNOHANG) == pid;
    if (!done) {
      usleep(5000);
    }
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  char buf[128] = {};
  (void)!read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "applied: " << buf;
}

}  // namespace
}  // namespace iopkt
