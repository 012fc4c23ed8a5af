// manager/daemon.cc — start-up in the background; see daemon.hh.
//
// Pipe protocol, child to parent: "R" for ready, or "F" followed by the
// message for a failure, then the child closes its end. End of file with
// nothing read means the child died (or gave up without a word): the parent
// then reaps it and reports its status.
#include "manager/daemon.hh"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "manager/log.hh"

namespace iopkt {
namespace {

void write_all(int fd, const char* p, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void print_error(const std::string& message) {
  std::string line = "io-pkt: " + message + "\n";
  write_all(STDERR_FILENO, line.data(), line.size());
}

// The parent's side: wait for the verdict, then leave with its exit code.
[[noreturn]] void parent_wait(int fd, pid_t child) {
  // The caller may have blocked the termination signals for its signalfd
  // (manager/signals.hh) before forking; here they must act again, so that
  // ^C in the shell stops the wait. The daemon, in its own session, runs on.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGINT);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGHUP);
  pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
  std::string got;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got.append(buf, static_cast<size_t>(n));
    // Ready needs no more: the child keeps the pipe only until ready()
    // closes it, but do not depend on that.
    if (got[0] == 'R') {
      _exit(0);
    }
  }
  ::close(fd);
  if (!got.empty() && got[0] == 'F') {
    print_error(got.substr(1));
    _exit(1);
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(child, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    print_error("exited during start-up (status unknown: " + std::string(strerror(errno)) + ")");
  } else if (WIFSIGNALED(status)) {
    print_error("exited during start-up (signal " + std::to_string(WTERMSIG(status)) + ", " +
                strsignal(WTERMSIG(status)) + ")");
  } else {
    print_error("exited during start-up (status " + std::to_string(WEXITSTATUS(status)) + ")");
  }
  _exit(1);
}

void redirect_to_dev_null() {
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    log_msg(LOG_WARNING, "cannot open /dev/null: %s", strerror(errno));
    return;
  }
  for (int fd = 0; fd <= 2; ++fd) {
    ::dup2(null_fd, fd);  // dup2 clears FD_CLOEXEC on the copy
  }
  ::close(null_fd);
}

}  // namespace

Startup Startup::begin(bool foreground) {
  if (foreground) {
    return Startup(true, -1);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    log_msg(LOG_WARNING, "cannot create the start-up pipe (%s); staying in the foreground",
            strerror(errno));
    return Startup(true, -1);
  }
  // Whatever stdio holds would otherwise be written by both processes.
  fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    log_msg(LOG_WARNING, "cannot fork (%s); staying in the foreground", strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    return Startup(true, -1);
  }
  if (pid > 0) {
    ::close(fds[1]);
    parent_wait(fds[0], pid);
  }
  ::close(fds[0]);
  // A session of its own: no controlling terminal, so a hang-up or ^C in the
  // shell that started it does not reach the daemon.
  ::setsid();
  return Startup(false, fds[1]);
}

Startup::Startup(Startup&& other) noexcept
    : foreground_(other.foreground_), fd_(other.fd_), done_(other.done_) {
  other.fd_ = -1;
  other.done_ = true;
}

Startup& Startup::operator=(Startup&& other) noexcept {
  if (this != &other) {
    close_pipe();
    foreground_ = other.foreground_;
    fd_ = other.fd_;
    done_ = other.done_;
    other.fd_ = -1;
    other.done_ = true;
  }
  return *this;
}

Startup::~Startup() { close_pipe(); }

void Startup::close_pipe() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void Startup::ready() {
  if (done_) {
    return;
  }
  done_ = true;
  log_msg(LOG_INFO, "ready");
  if (fd_ >= 0) {
    write_all(fd_, "R", 1);
    close_pipe();
  }
  if (!foreground_) {
    redirect_to_dev_null();
  }
}

void Startup::failed(const std::string& message) {
  if (done_) {
    return;
  }
  done_ = true;
  log_syslog_only(LOG_ERR, "%s", message.c_str());
  if (fd_ >= 0) {
    std::string msg = "F" + message;
    write_all(fd_, msg.data(), msg.size());
    close_pipe();
  } else {
    print_error(message);
  }
}

}  // namespace iopkt
