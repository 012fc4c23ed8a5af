// manager/endpoint.cc — the stack's socket endpoint; see endpoint.hh.
#include "manager/endpoint.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace iopkt {
namespace {

std::string errno_text(int err) { return strerror(err); }

Result<void, std::string> make_dirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      std::string part = dir.substr(0, pos);
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        return Err("cannot create directory " + part + ": " + errno_text(errno));
      }
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Err(dir + " is not a directory");
  }
  return {};
}

// Holds an flock() on the endpoint's directory for the duration of create().
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      return;
    }
    // Bounded wait: a holder only runs the few syscalls of create(). If it
    // does not let go within ~2 s we go on without the lock rather than hang.
    for (int i = 0; i < 200; ++i) {
      if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
        return;
      }
      if (errno != EWOULDBLOCK && errno != EINTR) {
        return;
      }
      timespec ts{0, 10 * 1000000L};
      nanosleep(&ts, nullptr);
    }
  }
  ~DirLock() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

enum class Probe { kLive, kStale, kGone, kOther };

// Does something listen on `addr`? A non-blocking SOCK_SEQPACKET connect:
// success or EAGAIN (backlog full) means a live listener; ECONNREFUSED a
// socket file whose listener is gone.
Probe probe(const sockaddr_un& addr, int* err_out) {
  int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *err_out = errno;
    return Probe::kOther;
  }
  int r = ::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int err = r == 0 ? 0 : errno;
  ::close(s);
  *err_out = err;
  if (r == 0 || err == EAGAIN || err == EINPROGRESS) {
    return Probe::kLive;
  }
  if (err == ECONNREFUSED) {
    return Probe::kStale;
  }
  if (err == ENOENT) {
    return Probe::kGone;
  }
  return Probe::kOther;  // EPROTOTYPE: someone's stream socket; EACCES...
}

}  // namespace

std::string Endpoint::path_for(const std::string& prefix) {
  std::string p = prefix;
  while (!p.empty() && p.back() == '/') {
    p.pop_back();
  }
  return p + "/dev/socket";
}

Result<Endpoint, std::string> Endpoint::create(const std::string& prefix, int backlog) {
  std::string path = path_for(prefix);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Err("endpoint path " + path + " is too long (" + std::to_string(path.size()) +
               " bytes; a socket path holds at most " + std::to_string(sizeof addr.sun_path - 1) +
               "): choose a shorter prefix");
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  std::string dir = path.substr(0, path.rfind('/'));
  if (auto r = make_dirs(dir); !r) {
    return Err("endpoint " + path + ": " + r.error());
  }
  DirLock dir_lock(dir);

  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Err("endpoint " + path + ": socket: " + errno_text(errno));
  }
  auto fail = [&](std::string msg) -> Result<Endpoint, std::string> {
    ::close(fd);
    return Err(std::move(msg));
  };
  // At most: bind fails, the stale file is removed, bind again.
  for (int attempt = 0;; ++attempt) {
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
      break;
    }
    int err = errno;
    if (err != EADDRINUSE || attempt >= 3) {
      return fail("cannot bind endpoint " + path + ": " + errno_text(err));
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      continue;  // vanished meanwhile
    }
    if (!S_ISSOCK(st.st_mode)) {
      return fail("endpoint " + path +
                  " exists and is not a socket; remove it or choose another prefix");
    }
    int perr = 0;
    switch (probe(addr, &perr)) {
      case Probe::kLive:
        return fail("an io-pkt stack already serves " + path);
      case Probe::kGone:
        continue;
      case Probe::kStale:
        // Left by a killed stack: nobody listens, take the path.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
          return fail("cannot remove stale endpoint " + path + ": " + errno_text(errno));
        }
        continue;
      case Probe::kOther:
        return fail("endpoint " + path + " is a socket in use by another program (" +
                    errno_text(perr) + ")");
    }
  }
  // Clients of every user reach the stack, as they reach io-pkt's
  // /dev/socket; bind() applied the umask, so set the mode explicitly.
  if (::chmod(path.c_str(), 0666) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail("cannot chmod endpoint " + path + ": " + errno_text(err));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return fail("cannot stat endpoint " + path + ": " + errno_text(errno));
  }
  if (::listen(fd, backlog) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return fail("cannot listen on endpoint " + path + ": " + errno_text(err));
  }
  return Endpoint(fd, path, st.st_dev, st.st_ino);
}

Endpoint::Endpoint(Endpoint&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), dev_(other.dev_), ino_(other.ino_) {
  other.fd_ = -1;
}

Endpoint& Endpoint::operator=(Endpoint&& other) noexcept {
  if (this != &other) {
    remove();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    dev_ = other.dev_;
    ino_ = other.ino_;
    other.fd_ = -1;
  }
  return *this;
}

Endpoint::~Endpoint() { remove(); }

void Endpoint::remove() {
  if (fd_ < 0) {
    return;
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  ::close(fd_);
  fd_ = -1;
}

}  // namespace iopkt
