// tests/manager/instance_test.cc — the instance registry (SPEC §1 -i,
// control.h): one live instance per number, its record, and a killed
// instance's lock dying with it.
#include "manager/instance.hh"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace iopkt {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Waits for a child's exit, killing it after timeout_ms.
int wait_child(pid_t pid, int timeout_ms) {
  int status = 0;
  for (int waited = 0; waited < timeout_ms; waited += 5) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return status;
    }
    usleep(5000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

class Instance : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/iopkt-instance-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const char* old = getenv("IOPKT_RUNDIR");
    if (old != nullptr) {
      saved_env_ = old;
      had_env_ = true;
    }
    setenv("IOPKT_RUNDIR", (dir_ + "/run").c_str(), 1);
  }
  void TearDown() override {
    if (had_env_) {
      setenv("IOPKT_RUNDIR", saved_env_.c_str(), 1);
    } else {
      unsetenv("IOPKT_RUNDIR");
    }
    std::string run = dir_ + "/run";
    if (DIR* d = opendir(run.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") {
          unlink((run + "/" + name).c_str());
        }
      }
      closedir(d);
    }
    rmdir(run.c_str());
    rmdir(dir_.c_str());
  }

  // Forks a child that takes the lock of `instance`, reports, and waits to
  // be killed. Returns its pid once it holds the lock (or -1).
  pid_t start_holder(int instance, const std::string& prefix) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(20);
      auto lock = InstanceLock::acquire(instance, prefix);
      char c = lock ? 'L' : 'E';
      (void)!write(fds[1], &c, 1);
      for (;;) {
        pause();
      }
    }
    close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    char c = 0;
    if (poll(&p, 1, 5000) <= 0 || read(fds[0], &c, 1) != 1 || c != 'L') {
      close(fds[0]);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return -1;
    }
    close(fds[0]);
    return pid;
  }

  std::string dir_;
  std::string saved_env_;
  bool had_env_ = false;
};

TEST_F(Instance, RundirFollowsTheEnvironmentAndIsCreated) {
  EXPECT_EQ(instance_rundir(), dir_ + "/run");
  EXPECT_TRUE(exists(dir_ + "/run"));
  setenv("IOPKT_RUNDIR", (dir_ + "/run/").c_str(), 1);
  EXPECT_EQ(instance_rundir(), dir_ + "/run");
  EXPECT_EQ(instance_lock_path(4), dir_ + "/run/io-pkt.4");
}

TEST_F(Instance, AcquireWritesTheRecordAndReleaseRemovesIt) {
  auto lock = InstanceLock::acquire(3, "/alt");
  ASSERT_TRUE(lock) << lock.error();
  std::string path = dir_ + "/run/io-pkt.3";
  EXPECT_EQ(lock->path(), path);
  EXPECT_EQ(read_file(path), std::to_string(getpid()) + " /alt\n");
  auto info = lookup_instance(3);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, getpid());
  EXPECT_EQ(info->prefix, "/alt");
  EXPECT_FALSE(lookup_instance(4).has_value());

  lock->release();
  EXPECT_FALSE(lock->held());
  EXPECT_FALSE(exists(path));
  EXPECT_FALSE(lookup_instance(3).has_value());
  lock->release();  // idempotent
}

TEST_F(Instance, EmptyPrefixRecord) {
  auto lock = InstanceLock::acquire(0, "");
  ASSERT_TRUE(lock) << lock.error();
  EXPECT_EQ(read_file(dir_ + "/run/io-pkt.0"), std::to_string(getpid()) + " \n");
  auto info = lookup_instance(0);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->prefix, "");
}

// flock() belongs to the open file description: a second open in the same
// process conflicts like another process would.
TEST_F(Instance, SecondAcquireInTheSameProcessIsRefused) {
  auto first = InstanceLock::acquire(1, "/x");
  ASSERT_TRUE(first) << first.error();
  auto second = InstanceLock::acquire(1, "/y");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(),
            "instance 1 is already running (pid " + std::to_string(getpid()) + ", prefix \"/x\")");
  // The refused attempt left the holder's record alone.
  EXPECT_EQ(read_file(dir_ + "/run/io-pkt.1"), std::to_string(getpid()) + " /x\n");
  // Another number is independent.
  auto other = InstanceLock::acquire(2, "/y");
  EXPECT_TRUE(other) << other.error();
}

TEST_F(Instance, AcquireInAnotherProcessIsRefused) {
  pid_t holder = start_holder(5, "/held");
  ASSERT_GT(holder, 0);
  auto lock = InstanceLock::acquire(5, "/mine");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error(),
            "instance 5 is already running (pid " + std::to_string(holder) + ", prefix \"/held\")");
  auto info = lookup_instance(5);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, holder);
  kill(holder, SIGKILL);
  wait_child(holder, 5000);
}

TEST_F(Instance, KilledHolderLeavesAStaleFileThatIsTakenAtOnce) {
  pid_t holder = start_holder(6, "/dead");
  ASSERT_GT(holder, 0);
  kill(holder, SIGKILL);
  int status = wait_child(holder, 5000);
  EXPECT_TRUE(WIFSIGNALED(status));
  std::string path = dir_ + "/run/io-pkt.6";
  EXPECT_TRUE(exists(path));                     // a killed instance cannot clean up...
  EXPECT_FALSE(lookup_instance(6).has_value());  // ...but its lock is gone
  auto lock = InstanceLock::acquire(6, "/new");
  ASSERT_TRUE(lock) << lock.error();
  EXPECT_EQ(read_file(path), std::to_string(getpid()) + " /new\n");
}

// The daemon child rewrites the record; the lock, shared through the
// inherited descriptor, is not released by the fork.
TEST_F(Instance, UpdatePidAfterFork) {
  auto lock = InstanceLock::acquire(7, "/d");
  ASSERT_TRUE(lock) << lock.error();
  pid_t child = fork();
  if (child == 0) {
    lock->update_pid();
    _exit(0);  // no destructors, as Startup's parent leaves
  }
  int status = wait_child(child, 5000);
  ASSERT_TRUE(WIFEXITED(status));
  auto info = lookup_instance(7);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, child);
  EXPECT_EQ(info->prefix, "/d");
}

TEST_F(Instance, MovedLockIsReleasedOnce) {
  std::string path = dir_ + "/run/io-pkt.8";
  {
    auto lock = InstanceLock::acquire(8, "/m");
    ASSERT_TRUE(lock) << lock.error();
    InstanceLock moved = std::move(*lock);
    EXPECT_TRUE(moved.held());
    EXPECT_FALSE(lock->held());
    EXPECT_TRUE(lookup_instance(8).has_value());
  }
  EXPECT_FALSE(exists(path));
  EXPECT_TRUE(InstanceLock::acquire(8, "/m"));
}

TEST_F(Instance, ReleaseLeavesAReplacementFileAlone) {
  auto lock = InstanceLock::acquire(9, "/a");
  ASSERT_TRUE(lock) << lock.error();
  std::string path = dir_ + "/run/io-pkt.9";
  ASSERT_EQ(unlink(path.c_str()), 0);
  { std::ofstream(path) << "1 other\n"; }
  lock->release();
  EXPECT_EQ(read_file(path), "1 other\n");
}

TEST_F(Instance, NegativeInstanceIsRefused) { EXPECT_FALSE(InstanceLock::acquire(-1, "")); }

TEST(InstanceRecord, Parse) {
  auto a = parse_instance_record("123 /a b\n");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->pid, 123);
  EXPECT_EQ(a->prefix, "/a b");
  auto b = parse_instance_record("45 \n");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->prefix, "");
  EXPECT_FALSE(parse_instance_record("").has_value());
  EXPECT_FALSE(parse_instance_record("123 /a").has_value());  // not complete yet
  EXPECT_FALSE(parse_instance_record("x1 /a\n").has_value());
  EXPECT_FALSE(parse_instance_record(" /a\n").has_value());
}

}  // namespace
}  // namespace iopkt
