// manager/instance.cc — the instance registry; see instance.hh.
#include "manager/instance.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace iopkt {
namespace {

std::string errno_text(int err) { return strerror(err); }

// mkdir -p with mode 0755 for the directories it creates.
void make_dirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos == path.size() || path[pos] == '/') {
      std::string part = path.substr(0, pos);
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        return;
      }
    }
  }
}

std::string read_fd_text(int fd) {
  std::string text;
  char buf[512];
  off_t off = 0;
  for (int i = 0; i < 16; ++i) {  // the record is one short line
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    text.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return text;
}

// Is `fd` still the file at `path`? A holder removes the file before it
// unlocks, so a lock taken on a file that has since been unlinked (or
// replaced) is worthless: the next process creates a fresh one.
bool same_file(int fd, const std::string& path, dev_t* dev, ino_t* ino) {
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(fd, &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0) {
    return false;
  }
  if (by_fd.st_dev != by_path.st_dev || by_fd.st_ino != by_path.st_ino) {
    return false;
  }
  *dev = by_fd.st_dev;
  *ino = by_fd.st_ino;
  return true;
}

void sleep_ms(int ms) {
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
}

}  // namespace

std::string instance_rundir() {
  std::string dir;
  const char* env = getenv("IOPKT_RUNDIR");
  if (env != nullptr && env[0] != '\0') {
    dir = env;
  } else if (geteuid() == 0) {
    dir = "/run/iopkt";
  } else {
    dir = "/tmp/iopkt-" + std::to_string(geteuid());
  }
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  make_dirs(dir);
  return dir;
}

std::string instance_lock_path(int instance) {
  return instance_rundir() + "/io-pkt." + std::to_string(instance);
}

std::optional<InstanceInfo> parse_instance_record(const std::string& text) {
  size_t end = text.find('\n');
  if (end == std::string::npos) {
    return std::nullopt;  // not completely written yet
  }
  std::string line = text.substr(0, end);
  size_t space = line.find(' ');
  std::string pid_text = line.substr(0, space);
  if (pid_text.empty() || pid_text.size() > 9 ||
      pid_text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  InstanceInfo info;
  info.pid = std::atoi(pid_text.c_str());
  if (space != std::string::npos) {
    info.prefix = line.substr(space + 1);
  }
  return info;
}

Result<InstanceLock, std::string> InstanceLock::acquire(int instance, const std::string& prefix) {
  if (instance < 0) {
    return Err(std::string("instance number must not be negative"));
  }
  std::string dir = instance_rundir();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return Err("cannot create the run directory " + dir + ": " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Err("run directory " + dir + " is not a directory");
  }
  // Under /tmp anyone could have made the directory first and would then
  // control our lock files.
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return Err("refusing run directory " + dir + ": owned by uid " + std::to_string(st.st_uid) +
               "; set " + "IOPKT_RUNDIR");
  }
  std::string path = dir + "/io-pkt." + std::to_string(instance);
  // A holder that releases unlinks first: retry if we locked a file that was
  // unlinked under us. Each retry means another process finished a release,
  // so a handful suffices.
  for (int attempt = 0; attempt < 8; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      return Err("cannot open " + path + ": " + errno_text(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err != EWOULDBLOCK) {
        ::close(fd);
        return Err("cannot lock " + path + ": " + errno_text(err));
      }
      // Alive. Its record may be a moment behind its lock.
      std::optional<InstanceInfo> info;
      for (int i = 0; i < 20 && !info; ++i) {
        info = parse_instance_record(read_fd_text(fd));
        if (!info) {
          sleep_ms(5);
        }
      }
      ::close(fd);
      std::string msg = "instance " + std::to_string(instance) + " is already running";
      if (info) {
        msg += " (pid " + std::to_string(info->pid) + ", prefix \"" + info->prefix + "\")";
      }
      return Err(msg);
    }
    dev_t dev = 0;
    ino_t ino = 0;
    if (!same_file(fd, path, &dev, &ino)) {
      ::close(fd);
      continue;
    }
    InstanceLock lock(fd, path, prefix, dev, ino);
    if (!lock.write_record()) {
      int err = errno;
      lock.release();
      return Err("cannot write " + path + ": " + errno_text(err));
    }
    return lock;
  }
  return Err("cannot lock " + path + ": it keeps being replaced");
}

bool InstanceLock::write_record() {
  std::string text = std::to_string(getpid()) + " " + prefix_ + "\n";
  if (::ftruncate(fd_, 0) != 0) {
    return false;
  }
  ssize_t n = ::pwrite(fd_, text.data(), text.size(), 0);
  return n == static_cast<ssize_t>(text.size());
}

InstanceLock::InstanceLock(InstanceLock&& other) noexcept
    : fd_(other.fd_),
      path_(std::move(other.path_)),
      prefix_(std::move(other.prefix_)),
      dev_(other.dev_),
      ino_(other.ino_) {
  other.fd_ = -1;
}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    prefix_ = std::move(other.prefix_);
    dev_ = other.dev_;
    ino_ = other.ino_;
    other.fd_ = -1;
  }
  return *this;
}

InstanceLock::~InstanceLock() { release(); }

void InstanceLock::update_pid() {
  if (fd_ >= 0) {
    (void)write_record();
  }
}

void InstanceLock::release() {
  if (fd_ < 0) {
    return;
  }
  // Remove first, unlock second: whoever waits for the lock then finds the
  // file gone (same_file() fails) and creates a new one.
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  ::close(fd_);
  fd_ = -1;
}

std::optional<InstanceInfo> lookup_instance(int instance) {
  std::string path = instance_lock_path(instance);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return std::nullopt;
  }
  // A shared lock we can take means no one holds the exclusive one: the
  // file is a dead instance's.
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::optional<InstanceInfo> info;
  for (int i = 0; i < 20 && !info; ++i) {
    info = parse_instance_record(read_fd_text(fd));
    if (!info) {
      sleep_ms(5);
    }
  }
  ::close(fd);
  return info ? info : InstanceInfo{};
}

}  // namespace iopkt
