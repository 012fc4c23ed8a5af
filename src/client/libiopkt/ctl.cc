// client/libiopkt/ctl.cc — the control connection to a stack (control.h):
// finding the endpoint (${SOCK}/dev/socket), one lazily opened connection
// per process, request/reply with sequence numbers, descriptor passing,
// error replies and their messages, and the instance registry that
// `mount -T io-pktN` reads.
//
// One connection serves all threads; a mutex keeps each request and its
// reply together. That serialises requests: a request the stack answers
// late (a blocking TCP connect, later) holds up the others of the process.
// A connection per thread is the remedy if it shows.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "client/libiopkt/internal.hh"
#include "iopkt/control.h"
#include "iopkt/iopkt.h"

namespace iopkt::client {
namespace {

thread_local std::string t_last_error;

// The most descriptors one reply may carry that we take in; more are a
// protocol error, but must still be received (and closed) to not leak.
constexpr size_t kMaxFdsInReply = 4;

struct Connection {
  int fd = -1;
  pid_t pid = 0;
  std::string path;
  uint32_t seq = 0;
  std::vector<std::byte> buf;  // reply body, IOPKT_CTL_MAX_MSG bytes

  void close_fd() {
    if (fd >= 0) {
      ::close(fd);
    }
    fd = -1;
    path.clear();
  }
};

std::mutex g_mu;
Connection g_conn;  // guarded by g_mu

// fork(): the child must not share the parent's connection (replies would
// go to whichever process reads first), and must not inherit g_mu locked by
// a thread that does not exist in it.
void atfork_prepare() { g_mu.lock(); }
void atfork_parent() { g_mu.unlock(); }
void atfork_child() {
  g_conn.close_fd();
  g_mu.unlock();
}

std::once_flag g_atfork_once;

std::string errno_text(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof buf);
}

std::string endpoint_for_prefix(const char* prefix) {
  std::string p = prefix != nullptr ? prefix : "";
  while (!p.empty() && p.back() == '/') {
    p.pop_back();
  }
  return p + "/dev/socket";
}

// Set by iopkt_pin_endpoint, then never freed: a thread may be reading the
// one a later call replaced.
std::atomic<const std::string*> g_pinned{nullptr};

std::string current_endpoint() {
  if (const std::string* p = g_pinned.load(std::memory_order_acquire)) {
    return *p;
  }
  return endpoint_for_prefix(getenv("SOCK"));
}

// Opens a connection to `path`; -1 with the "no io-pkt stack" message.
int open_connection(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) {
    return fail(ENAMETOOLONG, "no io-pkt stack at " + path + ": path too long for a socket");
  }
  memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    return fail(err, "cannot make a socket: " + errno_text(err));
  }
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    return fail(err, "no io-pkt stack at " + path + ": " + errno_text(err));
  }
  return fd;
}

// Makes `c` a live connection to `path` (reopening after fork or when the
// endpoint changed). 0 or -1.
int ensure_connected(Connection& c, const std::string& path) {
  pid_t self = getpid();
  if (c.fd >= 0 && (c.pid != self || c.path != path)) {
    c.close_fd();
  }
  if (c.fd >= 0) {
    return 0;
  }
  int fd = open_connection(path);
  if (fd < 0) {
    return -1;
  }
  c.fd = fd;
  c.pid = self;
  c.path = path;
  return 0;
}

void close_fds(const int* fds, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    ::close(fds[i]);
  }
}

// One request and its reply on a connected `c`. A transport or protocol
// failure drops the connection: it cannot be trusted to be in step.
int do_request(Connection& c, uint16_t type, const void* body, uint32_t len, int pass_fd,
               void* reply, uint32_t* reply_len, int* recv_fd) {
  if (recv_fd != nullptr) {
    *recv_fd = -1;
  }
  if (len > IOPKT_CTL_MAX_MSG || (len > 0 && body == nullptr)) {
    return fail(len > IOPKT_CTL_MAX_MSG ? EMSGSIZE : EFAULT);
  }
  iopkt_ctl_hdr hdr{};
  hdr.magic = IOPKT_CTL_MAGIC;
  hdr.version = IOPKT_CTL_VERSION;
  hdr.type = type;
  hdr.seq = ++c.seq;
  hdr.len = len;

  iovec iov[2] = {{&hdr, sizeof hdr}, {const_cast<void*>(body), len}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = len > 0 ? 2 : 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    std::string path = c.path;
    c.close_fd();
    if (err == EPIPE || err == ECONNRESET) {
      return fail(ECONNRESET, "io-pkt stack at " + path + " closed the connection");
    }
    return fail(err, "cannot send to io-pkt stack at " + path + ": " + errno_text(err));
  }

  if (c.buf.size() < IOPKT_CTL_MAX_MSG) {
    c.buf.resize(IOPKT_CTL_MAX_MSG);
  }
  iopkt_ctl_hdr rhdr{};
  iovec riov[2] = {{&rhdr, sizeof rhdr}, {c.buf.data(), c.buf.size()}};
  alignas(cmsghdr) char rcbuf[CMSG_SPACE(sizeof(int) * kMaxFdsInReply)];
  msghdr rmsg{};
  rmsg.msg_iov = riov;
  rmsg.msg_iovlen = 2;
  rmsg.msg_control = rcbuf;
  rmsg.msg_controllen = sizeof rcbuf;
  do {
    n = ::recvmsg(c.fd, &rmsg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);

  int fds[kMaxFdsInReply];
  size_t nfds = 0;
  if (n >= 0) {
    for (cmsghdr* cm = CMSG_FIRSTHDR(&rmsg); cm != nullptr; cm = CMSG_NXTHDR(&rmsg, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count && nfds < kMaxFdsInReply; ++i) {
          memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        }
      }
    }
  }
  std::string path = c.path;
  if (n <= 0) {
    int err = n == 0 ? ECONNRESET : errno;
    c.close_fd();
    if (err == ECONNRESET) {
      return fail(ECONNRESET, "io-pkt stack at " + path + " closed the connection");
    }
    return fail(err, "cannot receive from io-pkt stack at " + path + ": " + errno_text(err));
  }
  auto protocol_error = [&](const std::string& what) {
    close_fds(fds, nfds);
    c.close_fd();
    return fail(EPROTO, "bad reply from io-pkt stack at " + path + ": " + what);
  };
  if ((rmsg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    return protocol_error("message too long");
  }
  if (static_cast<size_t>(n) < sizeof rhdr) {
    return protocol_error("short header");
  }
  if (rhdr.magic != IOPKT_CTL_MAGIC || rhdr.version != IOPKT_CTL_VERSION) {
    return protocol_error("wrong magic or version");
  }
  if (rhdr.seq != hdr.seq || rhdr.type != hdr.type) {
    return protocol_error("reply " + std::to_string(rhdr.type) + "/" + std::to_string(rhdr.seq) +
                          " to request " + std::to_string(hdr.type) + "/" +
                          std::to_string(hdr.seq));
  }
  if (rhdr.len != static_cast<size_t>(n) - sizeof rhdr) {
    return protocol_error("length field disagrees with the message");
  }
  if (rhdr.error != 0) {
    close_fds(fds, nfds);
    if (rhdr.error < 0) {
      return protocol_error("negative error");
    }
    const char* text = reinterpret_cast<const char*>(c.buf.data());
    size_t tlen = strnlen(text, rhdr.len);
    if (tlen == 0) {
      return fail(rhdr.error);
    }
    return fail(rhdr.error, std::string(text, tlen));
  }
  if (rhdr.len > 0) {
    if (reply_len == nullptr || rhdr.len > *reply_len || reply == nullptr) {
      close_fds(fds, nfds);
      return fail(EMSGSIZE, "reply of " + std::to_string(rhdr.len) + " bytes to request " +
                                std::to_string(type) + " does not fit the buffer");
    }
    memcpy(reply, c.buf.data(), rhdr.len);
  }
  if (reply_len != nullptr) {
    *reply_len = rhdr.len;
  }
  size_t first = 0;
  if (recv_fd != nullptr && nfds > 0) {
    *recv_fd = fds[0];
    first = 1;
  }
  close_fds(fds + first, nfds - first);
  return 0;
}

std::string rundir() {
  const char* env = getenv(IOPKT_RUNDIR_ENV);
  std::string dir;
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
  return dir;
}

}  // namespace

int fail(int err, std::string text) {
  t_last_error = std::move(text);
  errno = err;
  return -1;
}

int fail(int err) { return fail(err, errno_text(err)); }

}  // namespace iopkt::client

using iopkt::client::fail;

extern "C" {

const char* iopkt_last_error(void) { return iopkt::client::t_last_error.c_str(); }

size_t iopkt_endpoint_path(char* buf, size_t len) {
  std::string path = iopkt::client::current_endpoint();
  if (buf != nullptr && len > 0) {
    size_t n = path.size() < len - 1 ? path.size() : len - 1;
    memcpy(buf, path.data(), n);
    buf[n] = '\0';
  }
  return path.size();
}

void iopkt_pin_endpoint(const char* prefix) {
  iopkt::client::g_pinned.store(new std::string(iopkt::client::endpoint_for_prefix(prefix)),
                                std::memory_order_release);
}

void iopkt_disconnect(void) {
  std::lock_guard lock(iopkt::client::g_mu);
  iopkt::client::g_conn.close_fd();
}

int iopkt_request(uint16_t type, const void* body, uint32_t len, int pass_fd, void* reply,
                  uint32_t* reply_len, int* recv_fd) {
  using namespace iopkt::client;
  std::call_once(g_atfork_once,
                 [] { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); });
  int saved = errno;
  std::lock_guard lock(g_mu);
  if (ensure_connected(g_conn, current_endpoint()) != 0) {
    return -1;
  }
  int rc = do_request(g_conn, type, body, len, pass_fd, reply, reply_len, recv_fd);
  if (rc == 0) {
    errno = saved;
  }
  return rc;
}

int iopkt_request_at(const char* prefix, uint16_t type, const void* body, uint32_t len, int pass_fd,
                     void* reply, uint32_t* reply_len, int* recv_fd) {
  using namespace iopkt::client;
  Connection c;
  if (ensure_connected(c, endpoint_for_prefix(prefix)) != 0) {
    return -1;
  }
  int rc = do_request(c, type, body, len, pass_fd, reply, reply_len, recv_fd);
  int err = errno;
  c.close_fd();
  errno = err;
  return rc;
}

int iopkt_instance_prefix(int instance, char* buf, size_t len, int* pid) {
  using namespace iopkt::client;
  if (instance < 0) {
    return fail(EINVAL, "bad instance number " + std::to_string(instance));
  }
  std::string path = rundir() + "/io-pkt." + std::to_string(instance);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(err == ENOENT ? ENOENT : err, "no io-pkt instance " + std::to_string(instance) +
                                                  " (" + path + ": " + errno_text(err) + ")");
  }
  // The live instance holds LOCK_EX; if a shared lock can be taken, the
  // file was left by a killed instance.
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::close(fd);
    return fail(ENOENT, "no io-pkt instance " + std::to_string(instance) + " (" + path +
                            " is stale: its instance is gone)");
  }
  // The holder writes the record just after locking: wait for the line.
  std::string text;
  for (int attempt = 0; attempt < 50; ++attempt) {
    text.clear();
    char chunk[1024];
    ssize_t n;
    off_t off = 0;
    while ((n = ::pread(fd, chunk, sizeof chunk, off)) > 0 && off < 8192) {
      text.append(chunk, static_cast<size_t>(n));
      off += n;
    }
    if (text.find('\n') != std::string::npos) {
      break;
    }
    timespec ts{0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  ::close(fd);
  size_t end = text.find('\n');
  size_t space = text.find(' ');
  std::string pid_text = text.substr(0, space < end ? space : end);
  if (end == std::string::npos || pid_text.empty() || pid_text.size() > 9 ||
      pid_text.find_first_not_of("0123456789") != std::string::npos) {
    return fail(EPROTO, "cannot read " + path + ": not \"PID PREFIX\"");
  }
  std::string prefix = space < end ? text.substr(space + 1, end - space - 1) : "";
  if (buf == nullptr || prefix.size() + 1 > len) {
    return fail(ERANGE, "prefix of instance " + std::to_string(instance) + " is too long");
  }
  memcpy(buf, prefix.c_str(), prefix.size() + 1);
  if (pid != nullptr) {
    *pid = atoi(pid_text.c_str());
  }
  return 0;
}

int iopkt_hello(struct iopkt_ctl_hello_reply* out) {
  iopkt_ctl_hello_reply r{};
  uint32_t rlen = sizeof r;
  if (iopkt_request(IOPKT_CTL_HELLO, nullptr, 0, -1, &r, &rlen, nullptr) != 0) {
    return -1;
  }
  if (rlen != sizeof r) {
    return fail(EPROTO, "bad HELLO reply: " + std::to_string(rlen) + " bytes");
  }
  r.prefix[sizeof r.prefix - 1] = '\0';
  if (out != nullptr) {
    *out = r;
  }
  return 0;
}

}  // extern "C"
