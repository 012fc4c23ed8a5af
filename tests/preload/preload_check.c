/*
 * tests/preload/preload_check.c — the socket calls an unmodified program
 * makes, with their edge cases, one line per check. preload_compare.sh runs
 * it once against the kernel and once under iopkt-run; the two outputs must
 * be the same, so nothing printed depends on who answers: ports and
 * addresses are printed only as "nonzero", "match" or a fixed address.
 *
 *   preload_check [-a ADDR] [-i IFNAME]   the checks, on ADDR (127.0.0.1);
 *                                         -i: SIOCGIF*, getifaddrs and
 *                                         if_nameindex on that loopback
 *   preload_check ... --stack-gone        calls after the stack died
 *   preload_check --exec-child ...        (itself, after exec: see below)
 *
 * Linked with nothing of iopkt: it must be what any program is.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* g_self;
static struct in_addr g_addr;

#define E(x) \
  { x, #x }
static const struct {
  int e;
  const char* name;
} kErrnos[] = {
    E(EBADF),        E(ENOTSOCK),        E(EINVAL),       E(EADDRINUSE),    E(ECONNREFUSED),
    E(EINPROGRESS),  E(EAGAIN),          E(ENOTCONN),     E(EISCONN),       E(EOPNOTSUPP),
    E(EAFNOSUPPORT), E(EPROTONOSUPPORT), E(EDESTADDRREQ), E(ENOPROTOOPT),   E(EFAULT),
    E(EPIPE),        E(ECONNRESET),      E(EALREADY),     E(EADDRNOTAVAIL), E(ENODEV),
    E(EMSGSIZE),     E(ESOCKTNOSUPPORT), E(EPROTOTYPE),   E(ENOENT),        E(EACCES),
    E(ETIMEDOUT),    E(ENXIO),
};
#undef E

static const char* errname(int e) {
  static char buf[32];
  for (size_t i = 0; i < sizeof kErrnos / sizeof kErrnos[0]; ++i) {
    if (kErrnos[i].e == e) {
      return kErrnos[i].name;
    }
  }
  snprintf(buf, sizeof buf, "errno %d", e);
  return buf;
}

static void line(const char* name, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s: ", name);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
}

/* A call's result as a line: "ok" (or the value, when `show`), else the
 * errno's name. */
static long res(const char* name, long r, int show) {
  if (r < 0) {
    line(name, "-1 %s", errname(errno));
  } else if (show) {
    line(name, "%ld", r);
  } else {
    line(name, "ok");
  }
  return r;
}
#define OK(name, call) res(name, (long)(call), 0)
#define VAL(name, call) res(name, (long)(call), 1)

static struct sockaddr_in sin_of(struct in_addr a, unsigned short port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_addr = a;
  s.sin_port = htons(port);
  return s;
}
#define SA(p) ((struct sockaddr*)(p))

/* A socket's name: "ADDR nonzero" / "ADDR 0" (ADDR as printed; the port's
 * value differs between runs). */
static void name_line(const char* name, int fd, int peer) {
  struct sockaddr_in s;
  socklen_t len = sizeof s;
  memset(&s, 0, sizeof s);
  int r = peer ? getpeername(fd, SA(&s), &len) : getsockname(fd, SA(&s), &len);
  if (r < 0) {
    line(name, "-1 %s", errname(errno));
    return;
  }
  char a[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &s.sin_addr, a, sizeof a);
  line(name, "family %d len %u %s %s", s.sin_family, (unsigned)len, a,
       s.sin_port != 0 ? "nonzero" : "0");
}

static unsigned short port_of(int fd, int peer) {
  struct sockaddr_in s;
  socklen_t len = sizeof s;
  memset(&s, 0, sizeof s);
  if ((peer ? getpeername(fd, SA(&s), &len) : getsockname(fd, SA(&s), &len)) != 0) {
    return 0;
  }
  return ntohs(s.sin_port);
}

static int same_name(int fd1, int peer1, int fd2, int peer2) {
  struct sockaddr_in a, b;
  socklen_t la = sizeof a, lb = sizeof b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  if ((peer1 ? getpeername(fd1, SA(&a), &la) : getsockname(fd1, SA(&a), &la)) != 0) {
    return 0;
  }
  if ((peer2 ? getpeername(fd2, SA(&b), &lb) : getsockname(fd2, SA(&b), &lb)) != 0) {
    return 0;
  }
  return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
}

static int wait_in(int fd, int ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, ms);
}

static int int_opt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) != 0) {
    return -1000 - errno;
  }
  return v;
}

/* Reads exactly `n` bytes (bounded by a poll timeout) as a string. */
static const char* read_n(int fd, size_t n) {
  static char buf[256];
  size_t got = 0;
  while (got < n && got < sizeof buf - 1) {
    if (wait_in(fd, 5000) <= 0) {
      break;
    }
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) {
      break;
    }
    got += (size_t)r;
  }
  buf[got] = '\0';
  return buf;
}

/* A free port: bound, read, closed (nothing listens there after). */
static unsigned short free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of(g_addr, 0);
  bind(s, SA(&a), sizeof a);
  unsigned short p = port_of(s, 0);
  close(s);
  return p;
}

/* A listener on ADDR:0 and a connected pair (*c client, *a accepted). */
static int tcp_pair(int* lst, int* c, int* a) {
  *lst = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = sin_of(g_addr, 0);
  if (*lst < 0 || bind(*lst, SA(&sa), sizeof sa) != 0 || listen(*lst, 8) != 0) {
    return -1;
  }
  sa.sin_port = htons(port_of(*lst, 0));
  *c = socket(AF_INET, SOCK_STREAM, 0);
  if (*c < 0 || connect(*c, SA(&sa), sizeof sa) != 0) {
    return -1;
  }
  *a = accept(*lst, NULL, NULL);
  return *a < 0 ? -1 : 0;
}

static void check_errors(void) {
  struct sockaddr_in sa = sin_of(g_addr, 0);
  OK("bind on fd -1", bind(-1, SA(&sa), sizeof sa));
  OK("bind on a closed fd", bind(1000, SA(&sa), sizeof sa));
  OK("close on fd -1", close(-1));
  OK("send on a closed fd", send(1000, "x", 1, 0));
  int f = open("/dev/null", O_RDWR);
  OK("bind on a file", bind(f, SA(&sa), sizeof sa));
  OK("connect on a file", connect(f, SA(&sa), sizeof sa));
  OK("listen on a file", listen(f, 1));
  OK("accept on a file", accept(f, NULL, NULL));
  OK("send on a file", send(f, "x", 1, 0));
  char b[4];
  OK("recv on a file", recv(f, b, sizeof b, MSG_DONTWAIT));
  int v;
  socklen_t vl = sizeof v;
  OK("getsockopt on a file", getsockopt(f, SOL_SOCKET, SO_TYPE, &v, &vl));
  OK("shutdown on a file", shutdown(f, SHUT_WR));
  OK("write on a file", write(f, "x", 1));
  close(f);
  OK("socket type 99", socket(AF_INET, 99, 0));
  OK("socket stream with IPPROTO_UDP", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
  OK("socketpair AF_INET", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));

  int sp[2];
  if (OK("socketpair AF_UNIX", socketpair(AF_UNIX, SOCK_STREAM, 0, sp)) == 0) {
    VAL("AF_UNIX write", write(sp[0], "unix", 4));
    line("AF_UNIX read", "%s", read_n(sp[1], 4));
    close(sp[0]);
    close(sp[1]);
  }
}

static void check_tcp(void) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  OK("tcp socket", s);
  line("tcp socket cloexec", "%d", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
  name_line("tcp name before bind", s, 0);
  VAL("tcp SO_TYPE", int_opt(s, SOL_SOCKET, SO_TYPE));
  VAL("tcp SO_DOMAIN", int_opt(s, SOL_SOCKET, SO_DOMAIN));
  VAL("tcp SO_PROTOCOL", int_opt(s, SOL_SOCKET, SO_PROTOCOL));
  struct sockaddr_in sa = sin_of(g_addr, 0);
  OK("tcp bind short addrlen", bind(s, SA(&sa), sizeof sa - 10));
  OK("tcp bind", bind(s, SA(&sa), sizeof sa));
  name_line("tcp name after bind to port 0", s, 0);
  OK("tcp bind again", bind(s, SA(&sa), sizeof sa));
  unsigned short port = port_of(s, 0);
  int s2 = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in same = sin_of(g_addr, port);
  OK("tcp bind to a port in use", bind(s2, SA(&same), sizeof same));
  close(s2);
  OK("tcp listen", listen(s, 8));
  name_line("tcp listener peer", s, 1);
  VAL("tcp SO_ACCEPTCONN", int_opt(s, SOL_SOCKET, SO_ACCEPTCONN));
  int fl = fcntl(s, F_GETFL);
  OK("fcntl O_NONBLOCK on listener", fcntl(s, F_SETFL, fl | O_NONBLOCK));
  OK("accept with none waiting (non-blocking)", accept(s, NULL, NULL));
  fcntl(s, F_SETFL, fl);

  int c = socket(AF_INET, SOCK_STREAM, 0);
  OK("tcp connect", connect(c, SA(&same), sizeof same));
  OK("tcp connect again", connect(c, SA(&same), sizeof same));
  line("client peer is the listener", "%s", same_name(c, 1, s, 0) ? "match" : "differ");
  OK("accept4 bad flags", accept4(s, NULL, NULL, 0x4));
  struct sockaddr_in from;
  socklen_t flen = sizeof from;
  int a = accept4(s, SA(&from), &flen, SOCK_NONBLOCK | SOCK_CLOEXEC);
  OK("accept4", a);
  line("accept4 address length", "%u", (unsigned)flen);
  line("accept4 address is the client", "%s",
       from.sin_port == htons(port_of(c, 0)) ? "match" : "differ");
  line("accept4 SOCK_NONBLOCK", "%d", (fcntl(a, F_GETFL) & O_NONBLOCK) != 0);
  line("accept4 SOCK_CLOEXEC", "%d", (fcntl(a, F_GETFD) & FD_CLOEXEC) != 0);
  line("accepted peer is the client", "%s", same_name(a, 1, c, 0) ? "match" : "differ");
  name_line("accepted name", a, 0);

  char b[64];
  OK("recv MSG_DONTWAIT with nothing", recv(c, b, sizeof b, MSG_DONTWAIT));
  OK("read on non-blocking accepted, nothing", read(a, b, sizeof b));
  VAL("write", write(c, "hello", 5));
  int n = -1;
  for (int i = 0; i < 100; ++i) {
    wait_in(a, 5000);
    if (ioctl(a, FIONREAD, &n) != 0 || n >= 5) {
      break;
    }
    usleep(10000);
  }
  VAL("FIONREAD", n);
  memset(b, 0, sizeof b);
  VAL("recv MSG_PEEK", recv(a, b, sizeof b, MSG_PEEK));
  line("peeked", "%s", b);
  line("read", "%s", read_n(a, 5));
  struct iovec wv[2] = {{"ab", 2}, {"cd", 2}};
  VAL("writev", writev(c, wv, 2));
  wait_in(a, 5000);
  char r1[3] = {0}, r2[3] = {0};
  struct iovec rv[2] = {{r1, 2}, {r2, 2}};
  usleep(20000);
  VAL("readv", readv(a, rv, 2));
  line("readv data", "%s|%s", r1, r2);
  struct msghdr m;
  memset(&m, 0, sizeof m);
  struct iovec one = {"msg", 3};
  m.msg_iov = &one;
  m.msg_iovlen = 1;
  VAL("sendmsg", sendmsg(c, &m, 0));
  wait_in(a, 5000);
  char r3[8] = {0};
  struct iovec in = {r3, sizeof r3 - 1};
  memset(&m, 0, sizeof m);
  m.msg_iov = &in;
  m.msg_iovlen = 1;
  VAL("recvmsg", recvmsg(a, &m, 0));
  line("recvmsg data", "%s flags %d", r3, m.msg_flags);
  VAL("send", send(c, "s", 1, MSG_NOSIGNAL));
  wait_in(a, 5000);
  socklen_t fl2 = sizeof from;
  VAL("recvfrom on a stream", recvfrom(a, b, sizeof b, 0, SA(&from), &fl2));
  line("recvfrom on a stream addrlen", "%u", (unsigned)fl2);

  int one_v = 1;
  OK("setsockopt TCP_NODELAY", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one_v, sizeof one_v));
  VAL("getsockopt TCP_NODELAY", int_opt(c, IPPROTO_TCP, TCP_NODELAY) != 0);
  VAL("getsockopt SO_REUSEADDR", int_opt(c, SOL_SOCKET, SO_REUSEADDR));
  VAL("getsockopt SO_ERROR", int_opt(c, SOL_SOCKET, SO_ERROR));
  VAL("getsockopt unknown", int_opt(c, SOL_SOCKET, 9999));
  OK("setsockopt short optlen", setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one_v, 1));
  struct timeval tv = {0, 100000};
  OK("SO_RCVTIMEO", setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
  OK("recv times out", recv(c, b, sizeof b, 0));

  /* epoll, edge-triggered, and select on the accepted socket. */
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = a};
  OK("epoll_ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev));
  VAL("epoll_wait, nothing", epoll_wait(ep, &ev, 1, 0));
  write(c, "e", 1);
  struct epoll_event got;
  VAL("epoll_wait after a write", epoll_wait(ep, &got, 1, 5000));
  line("epoll event", "%s", (got.events & EPOLLIN) ? "EPOLLIN" : "other");
  VAL("epoll_wait again (edge)", epoll_wait(ep, &got, 1, 0));
  close(ep);
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(a, &rs);
  struct timeval zero = {1, 0};
  VAL("select readable", select(a + 1, &rs, NULL, NULL, &zero));
  read_n(a, 1);

  /* dup, dup2, F_DUPFD_CLOEXEC: the copies are the same socket. */
  int d = dup(c);
  OK("dup", d);
  OK("close original", close(c));
  VAL("write on the dup", write(d, "1", 1));
  line("read what the dup wrote", "%s", read_n(a, 1));
  name_line("dup name", d, 0);
  OK("dup2", dup2(d, 100));
  OK("close the dup", close(d));
  OK("send on the closed dup", send(d, "x", 1, 0));
  VAL("send on dup2's copy", send(100, "2", 1, 0));
  line("read what dup2's copy sent", "%s", read_n(a, 1));
  int d3 = fcntl(100, F_DUPFD_CLOEXEC, 200);
  line("F_DUPFD_CLOEXEC", "%s", d3 >= 200 ? ">= 200" : errname(errno));
  line("F_DUPFD_CLOEXEC cloexec", "%d", (fcntl(d3, F_GETFD) & FD_CLOEXEC) != 0);
  VAL("getsockopt on F_DUPFD's copy", int_opt(d3, SOL_SOCKET, SO_TYPE));
  int d4 = dup3(d3, 101, O_CLOEXEC);
  OK("dup3", d4);
  VAL("send on dup3's copy", send(d4, "3", 1, 0));
  line("read what dup3's copy sent", "%s", read_n(a, 1));
  /* dup2 of a file over a socket: the number is a file now. */
  int f = open("/dev/null", O_RDONLY);
  OK("dup2 a file over a socket", dup2(f, d4));
  OK("getsockname on it", getsockname(d4, SA(&from), &fl2));
  close(f);
  close(d4);
  close(d3);
  c = 100;

  /* shutdown each way. */
  OK("shutdown bad how", shutdown(c, 99));
  OK("shutdown SHUT_WR", shutdown(c, SHUT_WR));
  fcntl(a, F_SETFL, fcntl(a, F_GETFL) & ~O_NONBLOCK);
  wait_in(a, 5000);
  VAL("peer reads end of file", read(a, b, sizeof b));
  VAL("write after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
  VAL("peer still writes", write(a, "bye", 3));
  line("read after SHUT_WR", "%s", read_n(c, 3));
  close(a);
  wait_in(c, 5000);
  VAL("read after the peer closed", read(c, b, sizeof b));
  close(c);
  int u = socket(AF_INET, SOCK_STREAM, 0);
  OK("shutdown unconnected", shutdown(u, SHUT_RDWR));
  OK("accept on a socket not listening", accept(u, NULL, NULL));
  close(u);
  close(s);
}

static void check_connect(void) {
  unsigned short p = free_port();
  struct sockaddr_in to = sin_of(g_addr, p);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  OK("connect to a closed port", connect(c, SA(&to), sizeof to));
  close(c);
  c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  OK("non-blocking connect to a closed port", connect(c, SA(&to), sizeof to));
  struct pollfd pf = {c, POLLOUT, 0};
  VAL("poll", poll(&pf, 1, 5000));
  VAL("SO_ERROR", int_opt(c, SOL_SOCKET, SO_ERROR));
  VAL("SO_ERROR again", int_opt(c, SOL_SOCKET, SO_ERROR));
  close(c);
  struct sockaddr_in un = to;
  un.sin_family = AF_UNIX;
  c = socket(AF_INET, SOCK_STREAM, 0);
  OK("connect with another family", connect(c, SA(&un), sizeof un));
  close(c);

  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = sin_of(g_addr, 0);
  bind(l, SA(&sa), sizeof sa);
  listen(l, 4);
  to.sin_port = htons(port_of(l, 0));
  c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  OK("non-blocking connect", connect(c, SA(&to), sizeof to));
  pf.fd = c;
  pf.revents = 0;
  VAL("poll until connected", poll(&pf, 1, 5000));
  line("poll revents", "%s", pf.revents == POLLOUT ? "POLLOUT" : "other");
  VAL("SO_ERROR", int_opt(c, SOL_SOCKET, SO_ERROR));
  OK("connect again", connect(c, SA(&to), sizeof to));
  name_line("connected peer", c, 1);
  close(c);
  close(l);
}

static void check_udp(void) {
  int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
  OK("udp socket", u2);
  name_line("udp name before bind", u1, 0);
  char b[64];
  /* (On its own socket: the kernel binds a socket even for a send it
   * refuses, a quirk not worth copying.) */
  int u0 = socket(AF_INET, SOCK_DGRAM, 0);
  OK("udp send, no address", send(u0, "x", 1, 0));
  close(u0);
  struct sockaddr_in sa = sin_of(g_addr, 0);
  OK("udp bind", bind(u1, SA(&sa), sizeof sa));
  bind(u2, SA(&sa), sizeof sa);
  name_line("udp name", u2, 0);
  name_line("udp peer, unconnected", u2, 1);
  struct sockaddr_in to = sin_of(g_addr, port_of(u2, 0));
  int v = -1;
  VAL("udp FIONREAD empty", ioctl(u2, FIONREAD, &v) == 0 ? v : -1);
  OK("udp recv MSG_DONTWAIT empty", recv(u2, b, sizeof b, MSG_DONTWAIT));
  VAL("sendto", sendto(u1, "one", 3, 0, SA(&to), sizeof to));
  wait_in(u2, 5000);
  VAL("udp FIONREAD", ioctl(u2, FIONREAD, &v) == 0 ? v : -1);
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  VAL("recvfrom MSG_PEEK", recvfrom(u2, b, sizeof b, MSG_PEEK, SA(&from), &fl));
  int sender = from.sin_port == htons(port_of(u1, 0)) && from.sin_addr.s_addr == g_addr.s_addr;
  line("recvfrom sender", "%s len %u", sender ? "match" : "differ", (unsigned)fl);
  memset(b, 0, sizeof b);
  VAL("recvfrom", recvfrom(u2, b, sizeof b, 0, SA(&from), &fl));
  line("recvfrom data", "%s", b);

  sendto(u1, "0123456789", 10, 0, SA(&to), sizeof to);
  wait_in(u2, 5000);
  struct iovec iv = {b, 4};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = &iv;
  m.msg_iovlen = 1;
  VAL("recvmsg into 4 bytes", recvmsg(u2, &m, MSG_PEEK));
  line("recvmsg MSG_TRUNC", "%d", (m.msg_flags & MSG_TRUNC) != 0);
  VAL("recv MSG_TRUNC", recv(u2, b, 4, MSG_TRUNC));
  VAL("udp sendto empty", sendto(u1, "", 0, 0, SA(&to), sizeof to));
  wait_in(u2, 5000);
  VAL("udp recv empty", recv(u2, b, sizeof b, 0));

  OK("udp connect", connect(u1, SA(&to), sizeof to));
  line("udp peer", "%s", same_name(u1, 1, u2, 0) ? "match" : "differ");
  VAL("udp write", write(u1, "w", 1));
  wait_in(u2, 5000);
  VAL("udp read", read(u2, b, sizeof b));
  struct iovec wv[2] = {{"ab", 2}, {"cd", 2}};
  VAL("udp writev", writev(u1, wv, 2));
  wait_in(u2, 5000);
  char r1[3] = {0}, r2[3] = {0};
  struct iovec rv[2] = {{r1, 2}, {r2, 2}};
  VAL("udp readv", readv(u2, rv, 2));
  line("udp readv data", "%s|%s", r1, r2);
  VAL("udp read of 0 bytes", read(u2, b, 0));

  struct mmsghdr mm[3];
  struct iovec mi[3];
  char bufs[3][16];
  const char* words[3] = {"a", "bb", "ccc"};
  memset(mm, 0, sizeof mm);
  for (int i = 0; i < 3; ++i) {
    mi[i].iov_base = (void*)words[i];
    mi[i].iov_len = strlen(words[i]);
    mm[i].msg_hdr.msg_iov = &mi[i];
    mm[i].msg_hdr.msg_iovlen = 1;
  }
  VAL("sendmmsg", sendmmsg(u1, mm, 3, 0));
  memset(mm, 0, sizeof mm);
  for (int i = 0; i < 3; ++i) {
    mi[i].iov_base = bufs[i];
    mi[i].iov_len = sizeof bufs[i];
    mm[i].msg_hdr.msg_iov = &mi[i];
    mm[i].msg_hdr.msg_iovlen = 1;
  }
  VAL("recvmmsg", recvmmsg(u2, mm, 3, 0, NULL));
  line("recvmmsg lengths", "%u %u %u", mm[0].msg_len, mm[1].msg_len, mm[2].msg_len);

  int on = 1;
  OK("FIONBIO", ioctl(u2, FIONBIO, &on));
  OK("recv after FIONBIO", recv(u2, b, sizeof b, 0));
  OK("listen on udp", listen(u2, 1));
  OK("accept on udp", accept(u2, NULL, NULL));
  struct sockaddr unspec;
  memset(&unspec, 0, sizeof unspec);
  unspec.sa_family = AF_UNSPEC;
  OK("udp connect AF_UNSPEC", connect(u1, &unspec, sizeof unspec));
  name_line("udp peer after AF_UNSPEC", u1, 1);
  close(u1);
  close(u2);
}

static void check_ioctl_if(const char* ifname) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct ifreq r;
  memset(&r, 0, sizeof r);
  snprintf(r.ifr_name, sizeof r.ifr_name, "%s", ifname);
  if (OK("SIOCGIFFLAGS", ioctl(s, SIOCGIFFLAGS, &r)) == 0) {
    line("loopback flags", "UP %d LOOPBACK %d RUNNING %d", (r.ifr_flags & IFF_UP) != 0,
         (r.ifr_flags & IFF_LOOPBACK) != 0, (r.ifr_flags & IFF_RUNNING) != 0);
  }
  if (OK("SIOCGIFADDR", ioctl(s, SIOCGIFADDR, &r)) == 0) {
    line("loopback address", "%s", inet_ntoa(((struct sockaddr_in*)&r.ifr_addr)->sin_addr));
  }
  if (OK("SIOCGIFNETMASK", ioctl(s, SIOCGIFNETMASK, &r)) == 0) {
    line("loopback netmask", "%s", inet_ntoa(((struct sockaddr_in*)&r.ifr_netmask)->sin_addr));
  }
  OK("SIOCGIFINDEX", ioctl(s, SIOCGIFINDEX, &r));
  snprintf(r.ifr_name, sizeof r.ifr_name, "nosuch9");
  OK("SIOCGIFFLAGS unknown interface", ioctl(s, SIOCGIFFLAGS, &r));
  close(s);
}

/* fork: the child writes on the inherited socket; exec: the new image
 * recognises inherited TCP and UDP sockets. */
static void check_fork_exec(void) {
  int l, c, a;
  if (tcp_pair(&l, &c, &a) != 0) {
    line("fork: pair", "-1 %s", errname(errno));
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    int ok = write(c, "child", 5) == 5 && port_of(c, 0) != 0;
    _exit(ok ? 0 : 1);
  }
  int st = -1;
  waitpid(pid, &st, 0);
  line("fork: child wrote on the inherited socket", "exit %d",
       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  line("fork: parent reads", "%s", read_n(a, 5));
  VAL("fork: parent still writes", write(c, "p", 1));
  line("fork: read", "%s", read_n(a, 1));

  int u = socket(AF_INET, SOCK_DGRAM, 0), ur = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = sin_of(g_addr, 0);
  bind(u, SA(&sa), sizeof sa);
  bind(ur, SA(&sa), sizeof sa);
  char fds[64];
  snprintf(fds, sizeof fds, "%d %d %u %u %s", c, u, port_of(c, 0), port_of(ur, 0),
           inet_ntoa(g_addr));
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    execl(g_self, g_self, "--exec-child", fds, (char*)NULL);
    _exit(127);
  }
  waitpid(pid, &st, 0);
  line("exec: child", "exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  line("exec: read what the new image sent", "%s", read_n(a, 4));
  char b[16] = {0};
  wait_in(ur, 5000);
  VAL("exec: udp datagram from the new image", recv(ur, b, sizeof b, MSG_DONTWAIT));
  line("exec: udp data", "%s", b);
  close(u);
  close(ur);
  close(a);
  close(c);
  close(l);
}

/* getifaddrs, if_nametoindex, if_indextoname, if_nameindex on the loopback
 * `ifname` (the kernel's lo, in a namespace of its own or the host's; the
 * stack's lo0); other interfaces are skipped (the host has more). Names
 * and indexes are printed as "match"; IPv6
 * entries are left out (the stack's are not offered: docs/preload.md), and
 * of the flags only those both loopbacks must have. */
static void check_ifaddrs(const char* ifname) {
  struct ifaddrs* list = NULL;
  if (OK("getifaddrs", getifaddrs(&list)) != 0) {
    return;
  }
  unsigned index = if_nametoindex(ifname);
  line("if_nametoindex", "%s", index != 0 ? "nonzero" : errname(errno));
  int packets = 0, inets = 0;
  for (struct ifaddrs* i = list; i != NULL; i = i->ifa_next) {
    int family = i->ifa_addr != NULL ? i->ifa_addr->sa_family : -1;
    if (family == AF_INET6) {
      continue;
    }
    if (strcmp(i->ifa_name, ifname) != 0) {
      continue;
    }
    unsigned f = i->ifa_flags;
    char what[64];
    snprintf(what, sizeof what, "getifaddrs %s", family == AF_PACKET ? "packet" : "inet");
    line(what, "flags UP %d LOOPBACK %d RUNNING %d LOWER_UP %d BROADCAST %d", (f & IFF_UP) != 0,
         (f & IFF_LOOPBACK) != 0, (f & IFF_RUNNING) != 0, (f & 0x10000) != 0,
         (f & IFF_BROADCAST) != 0);
    if (family == AF_PACKET) {
      ++packets;
      const struct sockaddr_ll* ll = (const struct sockaddr_ll*)i->ifa_addr;
      int zero = 1;
      for (int k = 0; k < ll->sll_halen && k < 8; ++k) {
        zero &= ll->sll_addr[k] == 0;
      }
      line("getifaddrs packet address", "hatype %d halen %d %s index %s", ll->sll_hatype,
           ll->sll_halen, zero ? "zero" : "nonzero",
           (unsigned)ll->sll_ifindex == index ? "match" : "differ");
      line("getifaddrs packet broadaddr", "%s netmask %s data %s",
           i->ifa_broadaddr != NULL ? "yes" : "no", i->ifa_netmask != NULL ? "yes" : "no",
           i->ifa_data != NULL ? "yes" : "no");
    } else if (family == AF_INET) {
      ++inets;
      char a[INET_ADDRSTRLEN] = "-", m[INET_ADDRSTRLEN] = "-", b[INET_ADDRSTRLEN] = "-";
      inet_ntop(AF_INET, &((struct sockaddr_in*)i->ifa_addr)->sin_addr, a, sizeof a);
      if (i->ifa_netmask != NULL) {
        inet_ntop(AF_INET, &((struct sockaddr_in*)i->ifa_netmask)->sin_addr, m, sizeof m);
      }
      if (i->ifa_broadaddr != NULL) {
        inet_ntop(AF_INET, &((struct sockaddr_in*)i->ifa_broadaddr)->sin_addr, b, sizeof b);
      }
      line("getifaddrs inet", "addr %s netmask %s broadaddr/dstaddr %s data %s", a, m, b,
           i->ifa_data != NULL ? "yes" : "no");
    } else {
      line("getifaddrs entry of family", "%d", family);
    }
  }
  line("getifaddrs entries of the loopback", "packet %d inet %d", packets, inets);
  freeifaddrs(list);

  char name[IF_NAMESIZE] = {0};
  const char* n = if_indextoname(index, name);
  line("if_indextoname", "%s", n == NULL ? errname(errno) : strcmp(n, ifname) == 0 ? "match" : n);
  errno = 0;
  unsigned none = if_nametoindex("nosuch9");
  line("if_nametoindex unknown", "%u %s", none, errname(errno));
  n = if_indextoname(4000, name);
  line("if_indextoname unknown", "%s", n == NULL ? errname(errno) : "found");
  struct if_nameindex* ni = if_nameindex();
  if (ni == NULL) {
    line("if_nameindex", "NULL %s", errname(errno));
    return;
  }
  int found = 0;
  for (struct if_nameindex* p = ni; p->if_index != 0; ++p) {
    found += p->if_index == index && strcmp(p->if_name, ifname) == 0;
  }
  line("if_nameindex", "%s", found == 1 ? "the loopback at its index" : "no loopback");
  if_freenameindex(ni);
}

/* posix_spawn (vfork + exec in glibc) and vfork + exec: the new image uses
 * inherited TCP and UDP sockets; posix_spawn's dup2 file action puts the
 * TCP socket on descriptor 40 first (libc's own dup2, not the library's). */
static void check_spawn(void) {
  int l, c, a;
  if (tcp_pair(&l, &c, &a) != 0) {
    line("spawn: pair", "-1 %s", errname(errno));
    return;
  }
  int u = socket(AF_INET, SOCK_DGRAM, 0), ur = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = sin_of(g_addr, 0);
  bind(u, SA(&sa), sizeof sa);
  bind(ur, SA(&sa), sizeof sa);
  for (int round = 0; round < 2; ++round) {
    const char* how = round == 0 ? "posix_spawn" : "vfork";
    int cfd = round == 0 ? 40 : c;
    char fds[64];
    snprintf(fds, sizeof fds, "%d %d %u %u %s", cfd, u, port_of(c, 0), port_of(ur, 0),
             inet_ntoa(g_addr));
    char* argv[] = {(char*)g_self, "--exec-child", fds, NULL};
    fflush(stdout);
    pid_t pid = -1;
    if (round == 0) {
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, c, cfd);
      extern char** environ;
      int e = posix_spawn(&pid, g_self, &fa, NULL, argv, environ);
      posix_spawn_file_actions_destroy(&fa);
      if (e != 0) {
        line("spawn: posix_spawn", "%s", errname(e));
        continue;
      }
    } else {
      pid = vfork();
      if (pid == 0) {
        execv(g_self, argv);
        _exit(127);
      }
    }
    int st = -1;
    waitpid(pid, &st, 0);
    char what[64];
    snprintf(what, sizeof what, "%s: child", how);
    line(what, "exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    snprintf(what, sizeof what, "%s: read what the new image sent", how);
    line(what, "%s", read_n(a, 4));
    char b[16] = {0};
    wait_in(ur, 5000);
    snprintf(what, sizeof what, "%s: udp datagram from the new image", how);
    VAL(what, recv(ur, b, sizeof b, MSG_DONTWAIT));
    snprintf(what, sizeof what, "%s: parent still writes", how);
    VAL(what, write(c, "p", 1));
    snprintf(what, sizeof what, "%s: read", how);
    line(what, "%s", read_n(a, 1));
  }
  close(u);
  close(ur);
  close(a);
  close(c);
  close(l);
}

/* A child under seccomp's strict mode (read, write and exit only; sshd's
 * sandboxed child is nearly as strict): it writes on an inherited TCP
 * socket, reads the peer's end of file and answers it. */
static void check_seccomp(void) {
  int l, c, a;
  if (tcp_pair(&l, &c, &a) != 0) {
    line("seccomp: pair", "-1 %s", errname(errno));
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    if (prctl(PR_SET_SECCOMP, 1 /* SECCOMP_MODE_STRICT */) != 0) {
      _exit(2);
    }
    char b[8];
    int ok = write(c, "sandbox", 7) == 7;
    ok = ok && read(c, b, sizeof b) == 0 && write(c, "eof", 3) == 3;
    syscall(SYS_exit, ok ? 0 : 1); /* exit_group is not allowed */
  }
  line("seccomp: the sandboxed child sent", "%s", read_n(a, 7));
  shutdown(a, SHUT_WR);
  int st = -1;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st)) {
    line("seccomp: child", "exit %d", WEXITSTATUS(st));
  } else {
    line("seccomp: child", "signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
  }
  line("seccomp: it answered the end of file", "%s", read_n(a, 3));
  close(a);
  close(c);
  close(l);
}

/* Threads sharing one TCP socket: two write into it at once, then two read
 * from it at once; every byte arrives once. */
enum { kThreadBytes = 1 << 20, kThreadChunk = 1000 };
struct thread_arg {
  int fd;
  char letter;
  long count;
};

static void* thread_writer(void* p) {
  struct thread_arg* t = p;
  char buf[kThreadChunk];
  memset(buf, t->letter, sizeof buf);
  long left = kThreadBytes;
  while (left > 0) {
    ssize_t n = write(t->fd, buf, left < kThreadChunk ? (size_t)left : sizeof buf);
    if (n <= 0) {
      break;
    }
    left -= n;
    t->count += n;
  }
  return NULL;
}

static void* thread_reader(void* p) {
  struct thread_arg* t = p;
  char buf[4096];
  for (;;) {
    if (wait_in(t->fd, 10000) <= 0) {
      break;
    }
    ssize_t n = read(t->fd, buf, sizeof buf);
    if (n <= 0) {
      break;  // end of file: the other reader sees it too
    }
    t->count += n;
  }
  return NULL;
}

static void check_threads(void) {
  int l, c, a;
  if (tcp_pair(&l, &c, &a) != 0) {
    line("threads: pair", "-1 %s", errname(errno));
    return;
  }
  struct thread_arg w[2] = {{c, 'a', 0}, {c, 'b', 0}};
  pthread_t tw[2];
  for (int i = 0; i < 2; ++i) {
    pthread_create(&tw[i], NULL, thread_writer, &w[i]);
  }
  long got[2] = {0, 0}, other = 0;
  char buf[4096];
  while (got[0] + got[1] + other < 2L * kThreadBytes && wait_in(a, 10000) > 0) {
    ssize_t n = read(a, buf, sizeof buf);
    if (n <= 0) {
      break;
    }
    for (ssize_t k = 0; k < n; ++k) {
      if (buf[k] == 'a' || buf[k] == 'b') {
        ++got[buf[k] - 'a'];
      } else {
        ++other;
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    pthread_join(tw[i], NULL);
  }
  line("threads: two writers on one socket", "wrote %ld %ld, read a %ld b %ld other %ld",
       w[0].count, w[1].count, got[0], got[1], other);

  struct thread_arg r[2] = {{a, 0, 0}, {a, 0, 0}};
  pthread_t tr[2];
  for (int i = 0; i < 2; ++i) {
    pthread_create(&tr[i], NULL, thread_reader, &r[i]);
  }
  struct thread_arg one = {c, 'c', 0};
  thread_writer(&one);
  shutdown(c, SHUT_WR);
  for (int i = 0; i < 2; ++i) {
    pthread_join(tr[i], NULL);
  }
  line("threads: two readers on one socket", "wrote %ld, read %ld in all", one.count,
       r[0].count + r[1].count);
  close(a);
  close(c);
  close(l);
}

/* sendfile and splice with a TCP socket at either end. */
static void check_sendfile_splice(void) {
  int l, c, a;
  if (tcp_pair(&l, &c, &a) != 0) {
    line("sendfile: pair", "-1 %s", errname(errno));
    return;
  }
  char path[] = "/tmp/preload_check_XXXXXX";
  int f = mkstemp(path);
  unlink(path);
  static char data[100000];
  for (size_t i = 0; i < sizeof data; ++i) {
    data[i] = (char)('A' + i % 26);
  }
  if (f < 0 || write(f, data, sizeof data) != (ssize_t)sizeof data) {
    line("sendfile: file", "-1 %s", errname(errno));
    return;
  }
  /* file -> socket */
  off_t off = 0;
  long sent = 0;
  while (sent < (long)sizeof data) {
    ssize_t n = sendfile(c, f, &off, sizeof data - (size_t)sent);
    if (n <= 0) {
      break;
    }
    sent += n;
  }
  static char back[sizeof data];
  long got = 0;
  while (got < sent && wait_in(a, 5000) > 0) {
    ssize_t n = read(a, back + got, sizeof back - (size_t)got);
    if (n <= 0) {
      break;
    }
    got += n;
  }
  line("sendfile file -> tcp", "sent %ld, peer read %ld %s", sent, got,
       got == (long)sizeof data && memcmp(back, data, sizeof data) == 0 ? "same" : "differ");
  /* socket -> file: the kernel refuses a socket as sendfile's source. */
  VAL("sendfile tcp -> file", sendfile(f, a, NULL, 10));

  /* socket -> pipe -> file, and file -> pipe -> socket, with splice. */
  int p[2];
  if (pipe(p) != 0) {
    return;
  }
  ssize_t w = write(c, data, 50000);
  off_t foff = 0;
  long moved = 0;
  while (moved < w && wait_in(a, 5000) > 0) {
    ssize_t n = splice(a, NULL, p[1], NULL, (size_t)(w - moved), SPLICE_F_MOVE);
    if (n <= 0) {
      break;
    }
    for (ssize_t left = n; left > 0;) {
      ssize_t k = splice(p[0], NULL, f, &foff, (size_t)left, SPLICE_F_MOVE);
      if (k <= 0) {
        break;
      }
      left -= k;
    }
    moved += n;
  }
  ssize_t pr = pread(f, back, (size_t)moved, 0);
  line("splice tcp -> pipe -> file", "wrote %zd, moved %ld %s", w, moved,
       pr == w && memcmp(back, data, (size_t)w) == 0 ? "same" : "differ");
  off_t in_off = 0;
  moved = 0;
  while (moved < 50000) {
    ssize_t n = splice(f, &in_off, p[1], NULL, (size_t)(50000 - moved), 0);
    if (n <= 0) {
      break;
    }
    ssize_t k = splice(p[0], NULL, c, NULL, (size_t)n, 0);
    if (k != n) {
      break;
    }
    moved += n;
  }
  got = 0;
  while (got < moved && wait_in(a, 5000) > 0) {
    ssize_t n = read(a, back + got, sizeof back - (size_t)got);
    if (n <= 0) {
      break;
    }
    got += n;
  }
  line("splice file -> pipe -> tcp", "moved %ld, peer read %ld %s", moved, got,
       got == 50000 && memcmp(back, data, 50000) == 0 ? "same" : "differ");
  VAL("splice tcp -> file without a pipe", splice(a, NULL, f, &foff, 10, 0));
  close(p[0]);
  close(p[1]);
  close(f);
  close(a);
  close(c);
  close(l);
}

static int exec_child(const char* args) {
  int c, u;
  unsigned port, uport;
  char addr[32];
  if (sscanf(args, "%d %d %u %u %31s", &c, &u, &port, &uport, addr) != 5) {
    return 2;
  }
  line("exec child: SO_TYPE of inherited tcp", "%d", int_opt(c, SOL_SOCKET, SO_TYPE));
  line("exec child: its port", "%s", port_of(c, 0) == port ? "match" : "differ");
  line("exec child: SO_TYPE of inherited udp", "%d", int_opt(u, SOL_SOCKET, SO_TYPE));
  VAL("exec child: send", send(c, "exec", 4, 0));
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  inet_pton(AF_INET, addr, &to.sin_addr);
  to.sin_port = htons((unsigned short)uport);
  VAL("exec child: udp sendto", sendto(u, "udp", 3, 0, SA(&to), sizeof to));
  return 0;
}

/* The stack goes away under open sockets: after "ready", the test kills
 * it and writes a line to stdin; every call must then return (no hang, no
 * crash) with an error a kernel socket could give. */
static int stack_gone(void) {
  int l, c, a;
  if (tcp_pair(&l, &c, &a) != 0) {
    line("gone: pair", "-1 %s", errname(errno));
    return 1;
  }
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = sin_of(g_addr, 0);
  bind(u, SA(&sa), sizeof sa);
  sa.sin_port = htons(port_of(u, 0));
  line("gone", "ready");
  char buf[16];
  if (fgets(buf, sizeof buf, stdin) == NULL) {
    return 1;
  }
  VAL("gone: tcp read", read(c, buf, sizeof buf));
  VAL("gone: tcp write", write(c, "x", 1));
  VAL("gone: udp recv", recv(u, buf, sizeof buf, MSG_DONTWAIT));
  VAL("gone: udp sendto", sendto(u, "x", 1, 0, SA(&sa), sizeof sa));
  VAL("gone: getsockname", getsockname(c, SA(&sa), &(socklen_t){sizeof sa}));
  VAL("gone: socket", socket(AF_INET, SOCK_STREAM, 0));
  OK("gone: close", close(c));
  return 0;
}

int main(int argc, char** argv) {
  g_self = argv[0];
  /* A check that hangs fails the test instead. */
  alarm(120);
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "--exec-child") == 0) {
    return exec_child(argv[2]);
  }
  const char* addr = "127.0.0.1";
  const char* ifname = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-a") == 0) {
      addr = argv[i + 1];
    } else if (strcmp(argv[i], "-i") == 0) {
      ifname = argv[i + 1];
    }
  }
  if (inet_pton(AF_INET, addr, &g_addr) != 1) {
    fprintf(stderr, "usage: preload_check [-a ADDR] [-i IFNAME] [--stack-gone]\n");
    return 2;
  }
  if (strcmp(argv[argc - 1], "--stack-gone") == 0) {
    return stack_gone();
  }
  check_errors();
  check_tcp();
  check_connect();
  check_udp();
  if (ifname != NULL) {
    check_ioctl_if(ifname);
    check_ifaddrs(ifname);
  }
  check_fork_exec();
  check_spawn();
  check_seccomp();
  check_threads();
  check_sendfile_splice();
  line("done", "ok");
  return 0;
}
