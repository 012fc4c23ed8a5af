// tests/manager/signals_test.cc — termination signals through a signalfd,
// and the fatal-signal handler (SPEC §1 -S): quiesce functions run, a
// backtrace reaches stderr and syslog, and the process still dies of the
// signal. Everything that changes signal state runs in a child process.
#include "manager/signals.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "manager/thread.hh"

namespace iopkt {
namespace {

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

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  for (int i = 0; i < 256; ++i) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A write to a page that is mapped PROT_NONE: a genuine SIGSEGV that the
// sanitizers do not intercept first (a literal null store would be reported
// by UBSan instead).
[[noreturn]] void fault() {
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *static_cast<volatile int*>(page) = 1;
  _exit(42);  // not reached
}

int g_marker_fd = -1;
void write_marker(void* arg) {
  const char* text = static_cast<const char*>(arg);
  (void)!write(g_marker_fd, text, strlen(text));
}

struct Crash {
  int status = 0;
  std::string marker;
  std::string stderr_text;
  std::vector<std::string> syslog;
  pid_t pid = 0;
};

// Runs `body` in a child with handlers installed (or not) and a syslog
// socket of our own; collects what it left behind.
Crash crash_child(bool segv_handler, const std::function<void()>& body) {
  char tmpl[] = "/tmp/iopkt-sig-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl), nullptr);
  std::string log_path = std::string(tmpl) + "/log";
  int log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, log_path.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(bind(log_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  int marker[2], err[2];
  EXPECT_EQ(pipe2(marker, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
  Crash c;
  c.pid = fork();
  if (c.pid == 0) {
    alarm(20);
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // do not litter the machine with cores
    dup2(err[1], STDERR_FILENO);
    g_marker_fd = marker[1];
    install_fatal_handlers(segv_handler, log_path);
    body();
    _exit(0);
  }
  close(marker[1]);
  close(err[1]);
  c.status = wait_child(c.pid, 15000);
  c.marker = drain(marker[0]);
  c.stderr_text = drain(err[0]);
  char buf[1024];
  for (int i = 0; i < 1000; ++i) {
    ssize_t n = recv(log_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) {
      break;
    }
    c.syslog.emplace_back(buf, static_cast<size_t>(n));
  }
  close(marker[0]);
  close(err[0]);
  close(log_fd);
  unlink(log_path.c_str());
  rmdir(tmpl);
  return c;
}

TEST(FatalSignals, SegvQuiescesLogsABacktraceAndDiesOfTheSignal) {
  Crash c = crash_child(true, [] {
    EXPECT_GE(register_quiesce(write_marker, const_cast<char*>("quiesced;")), 0);
    fault();
  });
  ASSERT_TRUE(WIFSIGNALED(c.status)) << "status " << c.status;
  EXPECT_EQ(WTERMSIG(c.status), SIGSEGV);
  EXPECT_EQ(c.marker, "quiesced;");
  EXPECT_NE(c.stderr_text.find("io-pkt: fatal signal 11 (SIGSEGV)"), std::string::npos)
      << c.stderr_text;
  EXPECT_NE(c.stderr_text.find("io-pkt: backtrace ("), std::string::npos) << c.stderr_text;
  EXPECT_NE(c.stderr_text.find("io-pkt:   #0 "), std::string::npos) << c.stderr_text;
  // Syslog got the same, one datagram per line, preformatted with
  // LOG_DAEMON|LOG_CRIT = 26 and our pid.
  ASSERT_GE(c.syslog.size(), 3u);
  std::string head = "<26>io-pkt[" + std::to_string(c.pid) + "]: ";
  bool saw_backtrace = false;
  for (const auto& line : c.syslog) {
    EXPECT_EQ(line.rfind(head, 0), 0u) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    saw_backtrace |= line.find("backtrace (") != std::string::npos;
  }
  EXPECT_NE(c.syslog[0].find("fatal signal 11 (SIGSEGV)"), std::string::npos) << c.syslog[0];
  EXPECT_TRUE(saw_backtrace);
}

TEST(FatalSignals, DisabledByDashSLeavesTheDefault) {
  Crash c = crash_child(false, [] {
    EXPECT_GE(register_quiesce(write_marker, const_cast<char*>("quiesced;")), 0);
    fault();
  });
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The default here is the sanitizer's own handler: it reports and exits.
  EXPECT_TRUE(WIFSIGNALED(c.status) || (WIFEXITED(c.status) && WEXITSTATUS(c.status) != 0));
#else
  ASSERT_TRUE(WIFSIGNALED(c.status));
  EXPECT_EQ(WTERMSIG(c.status), SIGSEGV);
#endif
  EXPECT_EQ(c.marker, "");
  EXPECT_EQ(c.stderr_text.find("backtrace"), std::string::npos);
  EXPECT_TRUE(c.syslog.empty());
}

TEST(FatalSignals, OnlyRegisteredQuiesceFunctionsRunInOrder) {
  Crash c = crash_child(true, [] {
    int a = register_quiesce(write_marker, const_cast<char*>("a;"));
    int b = register_quiesce(write_marker, const_cast<char*>("b;"));
    int d = register_quiesce(write_marker, const_cast<char*>("c;"));
    unregister_quiesce(b);
    if (a < 0 || d < 0) {
      _exit(3);
    }
    raise(SIGFPE);  // sent, not a fault: the handler must re-raise itself
  });
  ASSERT_TRUE(WIFSIGNALED(c.status)) << "status " << c.status;
  EXPECT_EQ(WTERMSIG(c.status), SIGFPE);
  EXPECT_EQ(c.marker, "a;c;");
}

TEST(FatalSignals, BusErrorIsHandledToo) {
  Crash c = crash_child(true, [] {
    register_quiesce(write_marker, const_cast<char*>("bus;"));
    raise(SIGBUS);
  });
  ASSERT_TRUE(WIFSIGNALED(c.status));
  EXPECT_EQ(WTERMSIG(c.status), SIGBUS);
  EXPECT_EQ(c.marker, "bus;");
  EXPECT_NE(c.stderr_text.find("(SIGBUS)"), std::string::npos) << c.stderr_text;
}

#if !defined(__SANITIZE_ADDRESS__)
// A stack overflow in a manager thread: only an alternate signal stack lets
// the handler run at all. (AddressSanitizer reports overflows itself.)
volatile int g_depth_limit = 1 << 30;  // far beyond any stack
int recurse(volatile char* prev, int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  if (prev != nullptr) {
    frame[1] = prev[0];
  }
  if (depth >= g_depth_limit) {
    return frame[0];
  }
  return recurse(frame, depth + 1) + frame[1];
}

TEST(FatalSignals, StackOverflowInAThreadReachesTheHandler) {
  Crash c = crash_child(true, [] {
    register_quiesce(write_marker, const_cast<char*>("overflow;"));
    ThreadOptions opts;
    opts.name = "overflow";
    opts.stack_size = 64 * 1024;
    opts.guard_page = true;
    auto t = Thread::start(opts, [] { recurse(nullptr, 0); });
    if (!t) {
      _exit(4);
    }
    t->join();
  });
  ASSERT_TRUE(WIFSIGNALED(c.status)) << "status " << c.status;
  EXPECT_EQ(WTERMSIG(c.status), SIGSEGV);
  EXPECT_EQ(c.marker, "overflow;");
}
#endif

TEST(FatalSignals, QuiesceSlotsAreBounded) {
  std::vector<int> ids;
  for (int i = 0; i < kMaxQuiesce; ++i) {
    int id = register_quiesce(write_marker, nullptr);
    ASSERT_GE(id, 0);
    ids.push_back(id);
  }
  EXPECT_EQ(register_quiesce(write_marker, nullptr), -1);
  unregister_quiesce(ids[10]);
  EXPECT_EQ(register_quiesce(write_marker, nullptr), ids[10]);
  for (int id : ids) {
    unregister_quiesce(id);
  }
  unregister_quiesce(-1);           // ignored
  unregister_quiesce(kMaxQuiesce);  // ignored
}

TEST(TerminationSignals, ArriveThroughTheSignalfdAndSigpipeIsIgnored) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    int fd = termination_signalfd();
    if (fd < 0) {
      _exit(10);
    }
    if (read_termination_signal(fd) != 0) {
      _exit(11);  // nothing pending yet
    }
    kill(getpid(), SIGTERM);  // blocked: it waits in the signalfd
    if (read_termination_signal(fd) != SIGTERM) {
      _exit(12);
    }
    kill(getpid(), SIGHUP);
    if (read_termination_signal(fd) != SIGHUP) {
      _exit(13);
    }
    // A thread made afterwards inherits the mask: SIGINT to the process
    // still ends up in the signalfd rather than killing it.
    auto t = Thread::start({}, [] { kill(getpid(), SIGINT); });
    if (!t) {
      _exit(14);
    }
    t->join();
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1 || read_termination_signal(fd) != SIGINT) {
      _exit(15);
    }
    int fds[2];
    if (pipe(fds) != 0) {
      _exit(16);
    }
    close(fds[0]);
    if (write(fds[1], "x", 1) != -1 || errno != EPIPE) {
      _exit(17);  // SIGPIPE would have killed us before this
    }
    if ((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0 || (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0) {
      _exit(18);
    }
    _exit(0);
  }
  int status = wait_child(pid, 15000);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace iopkt
