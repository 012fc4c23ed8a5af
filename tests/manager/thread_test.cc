// tests/manager/thread_test.cc — manager threads: stack size (`stacksize`),
// guard page (`stackguard`), name, priority, and running on a big stack
// (`bigstack`).
#include "manager/thread.hh"

#include <gtest/gtest.h>
#include <limits.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>

namespace iopkt {
namespace {

size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

struct Seen {
  size_t stack_size = 0;
  size_t guard_size = 0;
  std::string name;
};

Seen look_at_this_thread() {
  Seen s;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstacksize(&attr, &s.stack_size);
    pthread_attr_getguardsize(&attr, &s.guard_size);
    pthread_attr_destroy(&attr);
  }
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  s.name = name;
  return s;
}

TEST(Thread, StackSizeGuardAndName) {
  Seen seen;
  ThreadOptions opts;
  opts.name = "io-pkt-rx-thread-long-name";
  opts.stack_size = 100 * 1024 + 1;  // not a page multiple
  opts.guard_page = true;
  auto t = Thread::start(opts, [&] { seen = look_at_this_thread(); });
  ASSERT_TRUE(t) << t.error();
  t->join();
  EXPECT_FALSE(t->joinable());
  size_t want = (100 * 1024 + 1 + page() - 1) / page() * page();
  EXPECT_GE(seen.stack_size, want);
#if !defined(__SANITIZE_THREAD__)  // ThreadSanitizer enlarges every thread's stack
  EXPECT_LT(seen.stack_size, want + 2 * page());
#endif
  EXPECT_EQ(seen.guard_size, page());
  EXPECT_EQ(seen.name, "io-pkt-rx-threa");  // 15 characters
  EXPECT_EQ(t->applied_priority(), "");
}

TEST(Thread, NoGuardWithoutStackguard) {
  Seen seen;
  ThreadOptions opts;
  opts.name = "ctx";
  opts.stack_size = 64 * 1024;
  auto t = Thread::start(opts, [&] { seen = look_at_this_thread(); });
  ASSERT_TRUE(t) << t.error();
  t->join();
  EXPECT_EQ(seen.guard_size, 0u);
  EXPECT_GE(seen.stack_size, 64u * 1024);
}

TEST(Thread, TinyStackIsRaisedToTheMinimum) {
  Seen seen;
  ThreadOptions opts;
  opts.stack_size = 1;
  auto t = Thread::start(opts, [&] { seen = look_at_this_thread(); });
  ASSERT_TRUE(t) << t.error();
  t->join();
  EXPECT_GE(seen.stack_size, static_cast<size_t>(PTHREAD_STACK_MIN));
}

TEST(Thread, DestructorJoinsAndMoveTransfers) {
  std::atomic<int> ran{0};
  {
    auto t = Thread::start({}, [&] {
      usleep(20000);
      ran = 1;
    });
    ASSERT_TRUE(t) << t.error();
    Thread moved = std::move(*t);
    EXPECT_FALSE(t->joinable());
    EXPECT_TRUE(moved.joinable());
  }
  EXPECT_EQ(ran.load(), 1);  // the destructor waited
  Thread empty;
  EXPECT_FALSE(empty.joinable());
  empty.join();  // no-op
}

// The priority is applied inside the new thread before start() returns.
// Its own scheduling dies with it; the test thread is not touched.
TEST(Thread, PriorityIsAppliedInTheThread) {
  ThreadOptions opts;
  opts.name = "prio";
  opts.qnx_priority = 21;
  int policy = -1;
  auto t = Thread::start(opts, [&] {
    sched_param sp{};
    pthread_getschedparam(pthread_self(), &policy, &sp);
  });
  ASSERT_TRUE(t) << t.error();
  std::string applied = t->applied_priority();
  t->join();
  if (applied.rfind("SCHED_RR", 0) == 0) {
    EXPECT_EQ(applied, "SCHED_RR 21");
    EXPECT_EQ(policy, SCHED_RR);
  } else {
    EXPECT_EQ(applied.rfind("nice ", 0), 0u) << applied;
    EXPECT_EQ(policy, SCHED_OTHER);
  }
  int my_policy = -1;
  sched_param sp{};
  pthread_getschedparam(pthread_self(), &my_policy, &sp);
  EXPECT_EQ(my_policy, SCHED_OTHER);
}

TEST(RunOnStack, RunsOnABiggerStackAndWaits) {
  Seen seen;
  bool ran = false;
  char saved[16] = {};
  pthread_getname_np(pthread_self(), saved, sizeof saved);
  pthread_setname_np(pthread_self(), "caller");
  auto r = run_on_stack(1 << 20, [&] {
    seen = look_at_this_thread();
    ran = true;
  });
  pthread_setname_np(pthread_self(), saved);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(ran);
  EXPECT_GE(seen.stack_size, 1u << 20);
  EXPECT_EQ(seen.name, "caller");
}

TEST(RunOnStack, ExceptionsReachTheCaller) {
  EXPECT_THROW((void)run_on_stack(256 * 1024, [] { throw std::runtime_error("driver init"); }),
               std::runtime_error);
}

}  // namespace
}  // namespace iopkt
