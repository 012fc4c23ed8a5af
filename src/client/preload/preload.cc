// client/preload/preload.cc — libiopkt-preload.so (issue 6): with
// LD_PRELOAD naming it, an unmodified, dynamically linked program's AF_INET
// sockets live in the io-pkt stack that SOCK names; every other descriptor
// stays with the kernel.
//
// How: the socket calls of libc are defined here, so the dynamic linker
// binds the program's calls to them. Each asks libiopkt's table whether the
// descriptor is a stack socket (a lock-free flag for nearly every
// descriptor, which is a kernel one) and hands stack sockets to libiopkt;
// the rest go to libc's own function, found with dlsym(RTLD_NEXT).
//
// A stack socket's descriptor is a real channel (AF_UNIX socketpair end),
// so poll, select, epoll, fcntl(O_NONBLOCK), sendfile on a stream and
// close-on-exec need nothing here. read/write/readv/writev are interposed
// because a datagram channel carries a header before each payload, and a
// stream's end of file or EPIPE may stand for ECONNRESET and the like.
//
// Recursion: libiopkt itself calls socket, connect, sendmsg, recvmsg,
// close, fcntl, poll, getsockopt on its control connection and on the
// channels; those calls bind to the definitions here too (this library is
// first in the lookup order). A thread-local flag set around every call
// into libiopkt sends them straight to libc.
//
// Seccomp: once the program put itself under a filter (prctl, interposed),
// a TCP socket's read/write/readv/writev are libc's plain calls on the
// channel: the filter may kill the process on anything else (sshd's).
//
// Inherited sockets: after exec the table is empty. A descriptor that was
// an unnamed AF_UNIX socket at start-up may be a stack channel; it is a
// candidate, and the first interposed call on it asks the stack once
// (iopkt_adopt_socket). Every descriptor made later is made through the
// calls here (stack sockets) or is the kernel's.
#include "client/preload/preload.hh"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "iopkt/control.h"
#include "iopkt/iopkt.h"

namespace iopkt::preload {

// --- libc's own functions ----------------------------------------------------

void* next_symbol(RealFn& fn) {
  void* p = fn.ptr.load(std::memory_order_acquire);
  if (p == nullptr) {
    // Racing threads find the same address; storing it twice is harmless.
    p = dlsym(RTLD_NEXT, fn.name);
    fn.ptr.store(p, std::memory_order_release);
  }
  return p;
}

thread_local int t_inside __attribute__((tls_model("initial-exec"))) = 0;

namespace {

// Candidates: descriptors that were unnamed AF_UNIX sockets when this image
// started (see the top). One byte each; past the array none is a candidate.
constexpr int kCandFds = 1 << 16;
enum : uint8_t { kNotCandidate = 0, kCandidate = 1, kAsking = 2 };
std::atomic<uint8_t> g_cand[kCandFds];

// Set in a process that must not use a stack (see preload_init).
bool g_passthrough = false;

RealFn r_socket{"socket"}, r_bind{"bind"}, r_connect{"connect"}, r_listen{"listen"},
    r_accept{"accept"}, r_accept4{"accept4"}, r_getsockname{"getsockname"},
    r_getpeername{"getpeername"}, r_getsockopt{"getsockopt"}, r_setsockopt{"setsockopt"},
    r_shutdown{"shutdown"}, r_send{"send"}, r_sendto{"sendto"}, r_sendmsg{"sendmsg"},
    r_recv{"recv"}, r_recvfrom{"recvfrom"}, r_recvmsg{"recvmsg"}, r_sendmmsg{"sendmmsg"},
    r_recvmmsg{"recvmmsg"}, r_read{"read"}, r_write{"write"}, r_readv{"readv"}, r_writev{"writev"},
    r_close{"close"}, r_dup{"dup"}, r_dup2{"dup2"}, r_dup3{"dup3"}, r_fcntl{"fcntl"},
    r_fcntl64{"fcntl64"}, r_ioctl{"ioctl"}, r_close_range{"close_range"}, r_closefrom{"closefrom"},
    r_prctl{"prctl"};

// Set once this process put itself under a seccomp filter (prctl
// PR_SET_SECCOMP: sshd's pre-authentication child). Such a filter allows
// read and write but may kill the process on any other call libiopkt
// would make (socket, sendmsg for a control request at a stream's end of
// file); from then on a TCP socket's read, write, readv and writev are the
// plain calls on its channel, an end of file stays one.
std::atomic<bool> g_sandboxed{false};

bool sandboxed_stream(int type) {
  return type == SOCK_STREAM && g_sandboxed.load(std::memory_order_relaxed);
}

void clear_candidate(int fd) {
  if (fd >= 0 && fd < kCandFds) {
    g_cand[fd].store(kNotCandidate, std::memory_order_release);
  }
}

// Asks the stack about a candidate, once; other threads that meet it
// meanwhile wait (a bounded while) for the answer.
bool adopt_candidate(int fd) {
  if (fd < 0 || fd >= kCandFds || g_cand[fd].load(std::memory_order_acquire) == kNotCandidate) {
    return false;
  }
  uint8_t expect = kCandidate;
  if (g_cand[fd].compare_exchange_strong(expect, kAsking, std::memory_order_acq_rel)) {
    int saved = errno;
    int r;
    {
      Inside in;
      r = iopkt_adopt_socket(fd);
    }
    g_cand[fd].store(kNotCandidate, std::memory_order_release);
    errno = saved;
    return r == 1;
  }
  for (int i = 0; i < 100000 && g_cand[fd].load(std::memory_order_acquire) == kAsking; ++i) {
    sched_yield();
  }
  return iopkt_is_socket(fd, nullptr, nullptr) == 1;
}

// The descriptors open at start-up that may be inherited stack channels:
// AF_UNIX stream or seqpacket sockets with no name at either end (a
// socketpair), which is what the stack's channels are.
void find_candidates() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return;  // no /proc: inherited stack sockets stay unrecognised
  }
  int self = dirfd(d);
  auto getsockopt_fn = real<decltype(&::getsockopt)>(r_getsockopt);
  auto getsockname_fn = real<decltype(&::getsockname)>(r_getsockname);
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd < 0 || fd >= kCandFds || fd == self) {
      continue;
    }
    struct stat st;
    if (fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) {
      continue;
    }
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt_fn(static_cast<int>(fd), SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 || v != AF_UNIX) {
      continue;
    }
    len = sizeof v;
    if (getsockopt_fn(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &v, &len) != 0 ||
        (v != SOCK_STREAM && v != SOCK_SEQPACKET)) {
      continue;
    }
    sockaddr_un un{};
    len = sizeof un;
    if (getsockname_fn(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&un), &len) != 0 ||
        len > sizeof(sa_family_t)) {
      continue;  // named: a listener or a connection to a named socket
    }
    g_cand[fd].store(kCandidate, std::memory_order_relaxed);
  }
  closedir(d);
}

__attribute__((constructor)) void preload_init() {
  // An io-pkt started under iopkt-run (from a shell run by it) is a stack,
  // not a client: its own sockets must stay the kernel's.
  if (strncmp(program_invocation_short_name, "io-pkt-v", 8) == 0) {
    g_passthrough = true;
    return;
  }
  // The stack this program was started on stays its stack, even if it
  // clears its environment (nginx's workers keep only TZ): its sockets
  // could not be served by another anyway.
  iopkt_pin_endpoint(getenv("SOCK"));
  find_candidates();
}

}  // namespace

bool passthrough() { return g_passthrough; }

bool stack_socket(int fd, int* type) {
  if (t_inside != 0 || fd < 0) {
    return false;
  }
  if (iopkt_is_socket(fd, nullptr, type) == 1) {
    return true;
  }
  return adopt_candidate(fd) && iopkt_is_socket(fd, nullptr, type) == 1;
}

namespace {

bool is_datagram_type(int type) { return type == SOCK_DGRAM || type == SOCK_RAW; }

// After a call made descriptor `n` a duplicate of `fd`.
void learn_dup(bool was_stack, int fd, int n) {
  if (n < 0) {
    return;
  }
  clear_candidate(n);
  if (was_stack) {
    Inside in;
    int saved = errno;
    iopkt_dup_socket(fd, n);
    errno = saved;
  }
}

// dup2/dup3: `newfd` is replaced, whatever it was.
int dup_onto(int oldfd, int newfd, int flags, bool three) {
  if (t_inside != 0) {
    return three ? real<decltype(&::dup3)>(r_dup3)(oldfd, newfd, flags)
                 : real<decltype(&::dup2)>(r_dup2)(oldfd, newfd);
  }
  bool was_stack = stack_socket(oldfd, nullptr);
  int r = three ? real<decltype(&::dup3)>(r_dup3)(oldfd, newfd, flags)
                : real<decltype(&::dup2)>(r_dup2)(oldfd, newfd);
  if (r >= 0 && oldfd != newfd) {
    {
      Inside in;
      iopkt_forget_fds(static_cast<unsigned>(newfd), static_cast<unsigned>(newfd));
    }
    learn_dup(was_stack, oldfd, r);
  }
  return r;
}

using FcntlFn = int (*)(int, int, ...);

int fcntl_with(RealFn& fn, int fd, int cmd, unsigned long arg) {
  auto f = real<FcntlFn>(fn);
  if (f == nullptr) {  // fcntl64 is missing from glibc before 2.28
    f = real<FcntlFn>(r_fcntl);
  }
  if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) {
    return f(fd, cmd, arg);
  }
  bool was_stack = stack_socket(fd, nullptr);
  int n = f(fd, cmd, arg);
  learn_dup(was_stack, fd, n);
  return n;
}

ssize_t stack_recvmmsg(int fd, mmsghdr* v, unsigned int n, int flags, timespec* timeout) {
  // As Linux: MSG_WAITFORONE makes the calls after the first non-blocking;
  // the timeout is checked after each datagram; an error after at least one
  // datagram ends the batch with what was received.
  timespec deadline{};
  if (timeout != nullptr) {
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000) {
      errno = EINVAL;
      return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout->tv_sec;
    deadline.tv_nsec += timeout->tv_nsec;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
  }
  if (v == nullptr && n > 0) {
    errno = EFAULT;
    return -1;
  }
  int f = flags & ~MSG_WAITFORONE;
  unsigned int got = 0;
  while (got < n) {
    ssize_t r;
    {
      Inside in;
      r = iopkt_recvmsg(fd, &v[got].msg_hdr, f);
    }
    if (r < 0) {
      return got > 0 ? static_cast<ssize_t>(got) : -1;
    }
    v[got].msg_len = static_cast<unsigned int>(r);
    ++got;
    if ((flags & MSG_WAITFORONE) != 0) {
      f |= MSG_DONTWAIT;
    }
    if (timeout != nullptr) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > deadline.tv_sec ||
          (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) {
        break;
      }
    }
  }
  return static_cast<ssize_t>(got);
}

// FIONREAD of a datagram socket, as Linux UDP: the payload length of the
// next datagram, 0 when none waits. The channel's own answer would count
// the header and ancillary records too.
int dgram_fionread(int fd, int* out) {
  iopkt_dgram_hdr hdr{};
  ssize_t n;
  {
    Inside in;
    n = recv(fd, &hdr, sizeof hdr, MSG_PEEK | MSG_DONTWAIT);
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return -1;
    }
    n = 0;
  }
  *out = static_cast<size_t>(n) >= sizeof hdr ? static_cast<int>(hdr.payload_len) : 0;
  return 0;
}

}  // namespace
}  // namespace iopkt::preload

using iopkt::preload::Inside;
using iopkt::preload::real;
using iopkt::preload::stack_socket;
using iopkt::preload::t_inside;
namespace ip = iopkt::preload;

// The definitions below replace libc's for the whole program. Each keeps
// libc's exact declaration (noexcept where glibc's header says __THROW).
extern "C" {

int socket(int domain, int type, int protocol) noexcept {
  if (t_inside == 0 && !ip::g_passthrough) {
    if (domain == AF_INET || domain == AF_INET6) {
      // Both are the stack's. One without IPv6 sockets (io-pkt-v4-hc, and
      // -v6-hc until it carries them) answers EAFNOSUPPORT, so programs
      // that try IPv6 first fall back to IPv4 rather than reach the
      // kernel's network behind the stack's back.
      Inside in;
      int fd = iopkt_socket(domain, type, protocol);
      ip::clear_candidate(fd);
      return fd;
    }
  }
  int fd = real<decltype(&::socket)>(ip::r_socket)(domain, type, protocol);
  ip::clear_candidate(fd);
  return fd;
}

int bind(int fd, const struct sockaddr* addr, socklen_t len) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_bind(fd, addr, len);
  }
  return real<decltype(&::bind)>(ip::r_bind)(fd, addr, len);
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_connect(fd, addr, len);
  }
  return real<decltype(&::connect)>(ip::r_connect)(fd, addr, len);
}

int listen(int fd, int backlog) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_listen(fd, backlog);
  }
  return real<decltype(&::listen)>(ip::r_listen)(fd, backlog);
}

int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  int n;
  if (stack_socket(fd, nullptr)) {
    Inside in;
    n = iopkt_accept4(fd, addr, len, flags);
  } else {
    n = real<decltype(&::accept4)>(ip::r_accept4)(fd, addr, len, flags);
  }
  ip::clear_candidate(n);
  return n;
}

int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    int n = iopkt_accept4(fd, addr, len, 0);
    ip::clear_candidate(n);
    return n;
  }
  int n = real<decltype(&::accept)>(ip::r_accept)(fd, addr, len);
  ip::clear_candidate(n);
  return n;
}

int getsockname(int fd, struct sockaddr* addr, socklen_t* len) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_getsockname(fd, addr, len);
  }
  return real<decltype(&::getsockname)>(ip::r_getsockname)(fd, addr, len);
}

int getpeername(int fd, struct sockaddr* addr, socklen_t* len) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_getpeername(fd, addr, len);
  }
  return real<decltype(&::getpeername)>(ip::r_getpeername)(fd, addr, len);
}

int getsockopt(int fd, int level, int name, void* val, socklen_t* len) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_getsockopt(fd, level, name, val, len);
  }
  return real<decltype(&::getsockopt)>(ip::r_getsockopt)(fd, level, name, val, len);
}

int setsockopt(int fd, int level, int name, const void* val, socklen_t len) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_setsockopt(fd, level, name, val, len);
  }
  return real<decltype(&::setsockopt)>(ip::r_setsockopt)(fd, level, name, val, len);
}

int shutdown(int fd, int how) noexcept {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_shutdown(fd, how);
  }
  return real<decltype(&::shutdown)>(ip::r_shutdown)(fd, how);
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_send(fd, buf, len, flags);
  }
  return real<decltype(&::send)>(ip::r_send)(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to,
               socklen_t tolen) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_sendto(fd, buf, len, flags, to, tolen);
  }
  return real<decltype(&::sendto)>(ip::r_sendto)(fd, buf, len, flags, to, tolen);
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_sendmsg(fd, msg, flags);
  }
  return real<decltype(&::sendmsg)>(ip::r_sendmsg)(fd, msg, flags);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_recv(fd, buf, len, flags);
  }
  return real<decltype(&::recv)>(ip::r_recv)(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void* __restrict buf, size_t len, int flags,
                 struct sockaddr* __restrict from, socklen_t* __restrict fromlen) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_recvfrom(fd, buf, len, flags, from, fromlen);
  }
  return real<decltype(&::recvfrom)>(ip::r_recvfrom)(fd, buf, len, flags, from, fromlen);
}

ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
  if (stack_socket(fd, nullptr)) {
    Inside in;
    return iopkt_recvmsg(fd, msg, flags);
  }
  return real<decltype(&::recvmsg)>(ip::r_recvmsg)(fd, msg, flags);
}

int sendmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags) {
  if (!stack_socket(fd, nullptr)) {
    return real<decltype(&::sendmmsg)>(ip::r_sendmmsg)(fd, v, n, flags);
  }
  if (v == nullptr && n > 0) {
    errno = EFAULT;
    return -1;
  }
  // As Linux: the count sent; an error only when the first one fails.
  n = n > UIO_MAXIOV ? UIO_MAXIOV : n;
  unsigned int sent = 0;
  for (; sent < n; ++sent) {
    ssize_t r;
    {
      Inside in;
      r = iopkt_sendmsg(fd, &v[sent].msg_hdr, flags);
    }
    if (r < 0) {
      return sent > 0 ? static_cast<int>(sent) : -1;
    }
    v[sent].msg_len = static_cast<unsigned int>(r);
  }
  return static_cast<int>(sent);
}

int recvmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags, struct timespec* timeout) {
  if (!stack_socket(fd, nullptr)) {
    return real<decltype(&::recvmmsg)>(ip::r_recvmmsg)(fd, v, n, flags, timeout);
  }
  return static_cast<int>(
      ip::stack_recvmmsg(fd, v, n > UIO_MAXIOV ? UIO_MAXIOV : n, flags, timeout));
}

ssize_t read(int fd, void* buf, size_t len) {
  int type = 0;
  if (stack_socket(fd, &type) && !ip::sandboxed_stream(type)) {
    if (len == 0) {
      return 0;  // as Linux's sockets: no datagram consumed, no error reported
    }
    Inside in;
    return iopkt_recv(fd, buf, len, 0);
  }
  return real<decltype(&::read)>(ip::r_read)(fd, buf, len);
}

ssize_t write(int fd, const void* buf, size_t len) {
  int type = 0;
  if (stack_socket(fd, &type) && !ip::sandboxed_stream(type)) {
    Inside in;
    return iopkt_send(fd, buf, len, 0);
  }
  return real<decltype(&::write)>(ip::r_write)(fd, buf, len);
}

ssize_t readv(int fd, const struct iovec* iov, int n) {
  int type = 0;
  if (stack_socket(fd, &type) && !ip::sandboxed_stream(type)) {
    if (n < 0 || n > UIO_MAXIOV) {
      errno = EINVAL;
      return -1;
    }
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = static_cast<size_t>(n);
    Inside in;
    return iopkt_recvmsg(fd, &m, 0);
  }
  return real<decltype(&::readv)>(ip::r_readv)(fd, iov, n);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  int type = 0;
  if (stack_socket(fd, &type) && !ip::sandboxed_stream(type)) {
    if (n < 0 || n > UIO_MAXIOV) {
      errno = EINVAL;
      return -1;
    }
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(iov);
    m.msg_iovlen = static_cast<size_t>(n);
    Inside in;
    return iopkt_sendmsg(fd, &m, 0);
  }
  return real<decltype(&::writev)>(ip::r_writev)(fd, iov, n);
}

// _FORTIFY_SOURCE builds of programs (Debian's packages) call these; libc's
// own versions would read the channel through libc's internal read.
[[noreturn]] void __chk_fail(void);

ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
  if (len > buflen) {
    __chk_fail();
  }
  return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
  if (len > buflen) {
    __chk_fail();
  }
  return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void* __restrict buf, size_t len, size_t buflen, int flags,
                       struct sockaddr* __restrict from, socklen_t* __restrict fromlen) {
  if (len > buflen) {
    __chk_fail();
  }
  return recvfrom(fd, buf, len, flags, from, fromlen);
}

int close(int fd) {
  if (t_inside == 0 && fd >= 0) {
    // A candidate is not asked about just to be closed: its SO_LINGER
    // wait (if the image before exec set one) is the only thing lost.
    if (iopkt_is_socket(fd, nullptr, nullptr) == 1) {
      Inside in;
      return iopkt_close(fd);
    }
    ip::clear_candidate(fd);
  }
  return real<decltype(&::close)>(ip::r_close)(fd);
}

int close_range(unsigned int first, unsigned int last, int flags) noexcept {
  int r = real<decltype(&::close_range)>(ip::r_close_range)(first, last, flags);
  if (r == 0 && (flags & CLOSE_RANGE_CLOEXEC) == 0 && t_inside == 0) {
    Inside in;
    iopkt_forget_fds(first, last);
    for (unsigned int fd = first; fd <= last && fd < static_cast<unsigned>(ip::kCandFds); ++fd) {
      ip::clear_candidate(static_cast<int>(fd));
    }
  }
  return r;
}

void closefrom(int lowfd) noexcept {
  real<decltype(&::closefrom)>(ip::r_closefrom)(lowfd);
  if (t_inside == 0) {
    unsigned int first = lowfd < 0 ? 0 : static_cast<unsigned>(lowfd);
    Inside in;
    iopkt_forget_fds(first, ~0u);
    for (unsigned int fd = first; fd < static_cast<unsigned>(ip::kCandFds); ++fd) {
      ip::clear_candidate(static_cast<int>(fd));
    }
  }
}

int dup(int fd) noexcept {
  bool was_stack = stack_socket(fd, nullptr);
  int n = real<decltype(&::dup)>(ip::r_dup)(fd);
  ip::learn_dup(was_stack, fd, n);
  return n;
}

int dup2(int oldfd, int newfd) noexcept { return ip::dup_onto(oldfd, newfd, 0, false); }

int dup3(int oldfd, int newfd, int flags) noexcept {
  return ip::dup_onto(oldfd, newfd, flags, true);
}

// fcntl's third argument is an int or a pointer by command; passing it on
// as an unsigned long carries either (x86-64 and the other LP64 ABIs pass
// both in the same register).
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  if (t_inside != 0) {
    return real<ip::FcntlFn>(ip::r_fcntl)(fd, cmd, arg);
  }
  return ip::fcntl_with(ip::r_fcntl, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  unsigned long arg = va_arg(ap, unsigned long);
  va_end(ap);
  if (t_inside != 0) {
    auto f = real<ip::FcntlFn>(ip::r_fcntl64);
    return (f != nullptr ? f : real<ip::FcntlFn>(ip::r_fcntl))(fd, cmd, arg);
  }
  return ip::fcntl_with(ip::r_fcntl64, fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...) noexcept {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  int type = 0;
  if (stack_socket(fd, &type)) {
    if (request == FIONREAD && ip::is_datagram_type(type)) {
      if (arg == nullptr) {
        errno = EFAULT;
        return -1;
      }
      return ip::dgram_fionread(fd, static_cast<int*>(arg));
    }
    int r = 0;
    if (ip::interface_ioctl(fd, request, arg, &r)) {
      return r;
    }
  }
  return real<int (*)(int, unsigned long, ...)>(ip::r_ioctl)(fd, request, arg);
}

// prctl's arguments after the first are unsigned longs by option; glibc's
// own prctl reads four, as here.
int prctl(int option, ...) noexcept {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long);
  unsigned long a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long);
  unsigned long a5 = va_arg(ap, unsigned long);
  va_end(ap);
  int r = real<int (*)(int, ...)>(ip::r_prctl)(option, a2, a3, a4, a5);
  if (r == 0 && option == PR_SET_SECCOMP) {
    ip::g_sandboxed.store(true, std::memory_order_relaxed);
  }
  return r;
}

}  // extern "C"
