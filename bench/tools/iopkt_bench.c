/*
 * bench/tools/iopkt_bench.c — the workload of bench/run.sh: one program for
 * both ends of every benchmark, over an iopkt stack (libiopkt; SOCK names
 * the stack) or, with --kernel, over the Linux kernel's sockets, so that the
 * two are measured with the same application code.
 *
 *   iopkt_bench MODE [options]
 *
 * MODE (servers first; a server prints "iopkt_bench: listening" on stderr
 * once its socket is bound, which bench/run.sh waits for):
 *   bulk-recv    accept one connection, read to end of file
 *   bulk-send    connect, write --bytes, shut down, wait for the peer's close
 *   rr-server    accept one connection, echo each byte back
 *   rr-client    1-byte request, 1-byte answer, for --seconds
 *   crr-server   per connection: accept, read 1 byte, write 1 byte, close
 *   crr-client   for --seconds: connect, write 1, read 1, read end of file,
 *                close
 *   udp-recv     count --size datagrams until the sender goes quiet
 *   udp-send     send --size datagrams for --seconds, unpaced
 *   idle-server  accept --count connections, report, then hold them
 *   idle-client  open --count connections, report, then hold them
 *
 * options:
 *   --kernel        kernel sockets instead of the stack's
 *   --addr A        the server's address (clients), bind address (servers;
 *                   default 0.0.0.0)
 *   --port P        default 5201
 *   --bytes N       bulk-send: bytes to send (default 256 MiB)
 *   --seconds S     rr/crr/udp clients: how long to run (default 5)
 *   --size N        udp: payload bytes (default 64)
 *   --count N       idle: connections (default 10000)
 *   --timeout-s S   hard bound of the whole run (default 120): exit 124
 *
 * Each run ends with one machine-readable line on stdout,
 *
 *   RESULT mode=MODE stack=iopkt|kernel key=value ...
 *
 * whose keys depend on the mode (see each run_* function); user_s/sys_s are
 * this process's own CPU time (getrusage). Failures print the reason on
 * stderr and exit 1.
 *
 * Why libiopkt's calls are avoided on kernel sockets: libiopkt passes a
 * descriptor it did not make to libc unchanged, but the lookup is still a
 * cost the kernel's own numbers should not carry, so the data calls go
 * through b_send/b_recv, which pick the libc call for --kernel.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <iopkt/iopkt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static bool g_kernel;

struct opts {
  const char* mode;
  const char* addr;
  uint16_t port;
  uint64_t bytes;
  double seconds;
  uint64_t size;
  uint64_t count;
  uint64_t timeout_s;
};

/* --- helpers ------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "iopkt_bench: timed out (--timeout-s)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(124);
}

static const char* stack_name(void) { return g_kernel ? "kernel" : "iopkt"; }

static int fail(const char* what) {
  int e = errno;
  fprintf(stderr, "iopkt_bench: %s: %s", what, strerror(e));
  /* Only the stack has words beyond errno (e.g. why a request was refused). */
  if (!g_kernel) {
    const char* detail = iopkt_last_error();
    if (detail != NULL && *detail != '\0' && strcmp(detail, strerror(e)) != 0)
      fprintf(stderr, " (%s)", detail);
  }
  fprintf(stderr, "\n");
  return 1;
}

/* This process's CPU time so far, for the RESULT line. */
static void cpu_times(double* user_s, double* sys_s) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  *user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
  *sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Starts the RESULT line; the caller adds its keys and calls result_end. */
static void result_begin(const char* mode) {
  printf("RESULT mode=%s stack=%s", mode, stack_name());
}

static void result_end(void) {
  double u, s;
  cpu_times(&u, &s);
  printf(" user_s=%.3f sys_s=%.3f\n", u, s);
  fflush(stdout);
}

static int b_socket(int type) {
  return g_kernel ? socket(AF_INET, type, 0) : iopkt_socket(AF_INET, type, 0);
}

static int b_close(int fd) { return g_kernel ? close(fd) : iopkt_close(fd); }

static ssize_t b_send(int fd, const void* buf, size_t len) {
  return g_kernel ? send(fd, buf, len, MSG_NOSIGNAL) : iopkt_send(fd, buf, len, MSG_NOSIGNAL);
}

static ssize_t b_recv(int fd, void* buf, size_t len) {
  return g_kernel ? recv(fd, buf, len, 0) : iopkt_recv(fd, buf, len, 0);
}

/* The control calls: libiopkt hands kernel descriptors to libc itself, and
 * these are not on any measured path that repeats per byte. (crr calls
 * connect/accept per connection: there the pass-through lookup is a few
 * tens of nanoseconds against tens of microseconds per connection.) */
static int b_connect(int fd, const struct sockaddr_in* sin) {
  return g_kernel ? connect(fd, (const struct sockaddr*)sin, sizeof *sin)
                  : iopkt_connect(fd, (const struct sockaddr*)sin, sizeof *sin);
}

static int b_accept(int fd) {
  return g_kernel ? accept4(fd, NULL, NULL, SOCK_CLOEXEC)
                  : iopkt_accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

static int b_setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  return g_kernel ? setsockopt(fd, level, name, val, len)
                  : iopkt_setsockopt(fd, level, name, val, len);
}

/* Request/response must not wait for Nagle or a delayed ACK. */
static int nodelay(int fd) {
  int one = 1;
  if (b_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    return fail("setsockopt(TCP_NODELAY)");
  return 0;
}

static bool make_addr(const char* s, uint16_t port, struct sockaddr_in* sin) {
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  return inet_pton(AF_INET, s, &sin->sin_addr) == 1;
}

/* A bound socket (listening for TCP); announces itself on stderr. */
static int server_socket(const struct opts* o, int type, int backlog) {
  struct sockaddr_in sin;
  if (!make_addr(o->addr, o->port, &sin)) {
    fprintf(stderr, "iopkt_bench: bad --addr %s\n", o->addr);
    return -1;
  }
  int fd = b_socket(type);
  if (fd < 0) {
    fail("socket");
    return -1;
  }
  int one = 1;
  if (b_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    fail("setsockopt(SO_REUSEADDR)");
    return -1;
  }
  int r = g_kernel ? bind(fd, (struct sockaddr*)&sin, sizeof sin)
                   : iopkt_bind(fd, (struct sockaddr*)&sin, sizeof sin);
  if (r != 0) {
    fail("bind");
    return -1;
  }
  if (type == SOCK_STREAM) {
    r = g_kernel ? listen(fd, backlog) : iopkt_listen(fd, backlog);
    if (r != 0) {
      fail("listen");
      return -1;
    }
  }
  fprintf(stderr, "iopkt_bench: listening on %s:%u (%s)\n", o->addr, o->port, stack_name());
  return fd;
}

/* A connected socket of `type` to the server. */
static int client_socket(const struct opts* o, int type) {
  struct sockaddr_in sin;
  if (!make_addr(o->addr, o->port, &sin)) {
    fprintf(stderr, "iopkt_bench: bad --addr %s\n", o->addr);
    return -1;
  }
  int fd = b_socket(type);
  if (fd < 0) {
    fail("socket");
    return -1;
  }
  if (b_connect(fd, &sin) != 0) {
    fail("connect");
    b_close(fd);
    return -1;
  }
  return fd;
}

static int accept_one(int ls) {
  int fd;
  do {
    fd = b_accept(ls);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("accept");
  return fd;
}

static int send_all(int fd, const unsigned char* p, size_t len) {
  while (len > 0) {
    ssize_t n = b_send(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads to end of file (bounded by the alarm); returns the bytes read or -1. */
static int64_t drain(int fd, unsigned char* buf, size_t len) {
  int64_t total = 0;
  for (;;) {
    ssize_t n = b_recv(fd, buf, len);
    if (n == 0) return total;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    total += n;
  }
}

static int cmp_u32(const void* a, const void* b) {
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of sorted samples, in microseconds. */
static double quantile_us(const uint32_t* s, size_t n, double q) {
  if (n == 0) return 0;
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return (double)s[i] / 1000.0;
}

/* Latency samples in nanoseconds, at most kMaxSamples: beyond that the
 * counts go on but no more samples are kept (a run is bounded by time, and
 * 4 M samples is far above what 5 s of round trips give on this machine). */
enum { kMaxSamples = 4 * 1024 * 1024 };

struct samples {
  uint32_t* v;
  size_t n;
};

static int samples_init(struct samples* s) {
  s->v = malloc(sizeof(uint32_t) * kMaxSamples);
  s->n = 0;
  if (s->v == NULL) {
    fprintf(stderr, "iopkt_bench: out of memory for samples\n");
    return -1;
  }
  return 0;
}

static void samples_add(struct samples* s, uint64_t ns) {
  if (s->n < kMaxSamples) s->v[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static void samples_print(struct samples* s) {
  qsort(s->v, s->n, sizeof s->v[0], cmp_u32);
  printf(" p50_us=%.1f p99_us=%.1f max_us=%.1f", quantile_us(s->v, s->n, 0.5),
         quantile_us(s->v, s->n, 0.99), s->n ? (double)s->v[s->n - 1] / 1000.0 : 0.0);
}

/* --- bulk ---------------------------------------------------------------- */

enum { kBulkChunk = 128 * 1024 };

/* Receiver: keys bytes, seconds (first byte to end of file), gbps. */
static int run_bulk_recv(const struct opts* o) {
  static unsigned char buf[kBulkChunk];
  int ls = server_socket(o, SOCK_STREAM, 4);
  if (ls < 0) return 1;
  int fd = accept_one(ls);
  if (fd < 0) return 1;
  b_close(ls);
  uint64_t total = 0;
  double t0 = 0;
  for (;;) {
    ssize_t n = b_recv(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("recv");
    }
    if (total == 0) t0 = now_s();
    total += (uint64_t)n;
  }
  double secs = now_s() - t0;
  b_close(fd);
  result_begin(o->mode);
  printf(" bytes=%llu seconds=%.4f gbps=%.4f", (unsigned long long)total, secs,
         secs > 0 ? (double)total * 8 / secs / 1e9 : 0.0);
  result_end();
  return 0;
}

/* Sender: keys bytes, seconds (connected to the peer's close, so every byte
 * was read by the receiving application), gbps. */
static int run_bulk_send(const struct opts* o) {
  static unsigned char buf[kBulkChunk];
  /* Not zeros: nothing on the path may compress or skip them. */
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 131 + 7);
  int fd = client_socket(o, SOCK_STREAM);
  if (fd < 0) return 1;
  double t0 = now_s();
  uint64_t left = o->bytes;
  while (left > 0) {
    size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
    if (send_all(fd, buf, n) != 0) return fail("send");
    left -= n;
  }
  if ((g_kernel ? shutdown(fd, SHUT_WR) : iopkt_shutdown(fd, SHUT_WR)) != 0)
    return fail("shutdown");
  if (drain(fd, buf, sizeof buf) < 0) return fail("waiting for the peer's close");
  double secs = now_s() - t0;
  b_close(fd);
  result_begin(o->mode);
  printf(" bytes=%llu seconds=%.4f gbps=%.4f", (unsigned long long)o->bytes, secs,
         secs > 0 ? (double)o->bytes * 8 / secs / 1e9 : 0.0);
  result_end();
  return 0;
}

/* --- request/response ---------------------------------------------------- */

/* Echoes bytes one round trip at a time until end of file. Key: echoed. */
static int run_rr_server(const struct opts* o) {
  int ls = server_socket(o, SOCK_STREAM, 4);
  if (ls < 0) return 1;
  int fd = accept_one(ls);
  if (fd < 0 || nodelay(fd) != 0) return 1;
  b_close(ls);
  unsigned char c;
  uint64_t echoed = 0;
  for (;;) {
    ssize_t n = b_recv(fd, &c, 1);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("recv");
    }
    if (send_all(fd, &c, 1) != 0) return fail("send");
    echoed++;
  }
  b_close(fd);
  result_begin(o->mode);
  printf(" echoed=%llu", (unsigned long long)echoed);
  result_end();
  return 0;
}

/* One round trip: 1 byte out, 1 byte back. */
static int round_trip(int fd) {
  unsigned char c = 'r';
  if (send_all(fd, &c, 1) != 0) return fail("send");
  for (;;) {
    ssize_t n = b_recv(fd, &c, 1);
    if (n == 1) return 0;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ECONNRESET;
    return fail("recv");
  }
}

/* Keys: count, seconds, rtt_per_s, p50_us, p99_us, max_us (one round trip).
 * A short warm-up (ARP, buffers, caches) is not counted. */
static int run_rr_client(const struct opts* o) {
  struct samples s;
  if (samples_init(&s) != 0) return 1;
  int fd = client_socket(o, SOCK_STREAM);
  if (fd < 0 || nodelay(fd) != 0) return 1;
  for (int i = 0; i < 100; i++)
    if (round_trip(fd) != 0) return 1;
  uint64_t count = 0;
  uint64_t start = now_ns(), end = start + (uint64_t)(o->seconds * 1e9), t = start;
  while (t < end) {
    uint64_t t1 = now_ns();
    if (round_trip(fd) != 0) return 1;
    t = now_ns();
    samples_add(&s, t - t1);
    count++;
  }
  double secs = (double)(t - start) / 1e9;
  if ((g_kernel ? shutdown(fd, SHUT_WR) : iopkt_shutdown(fd, SHUT_WR)) != 0)
    return fail("shutdown");
  unsigned char buf[64];
  drain(fd, buf, sizeof buf);
  b_close(fd);
  result_begin(o->mode);
  printf(" count=%llu seconds=%.4f rtt_per_s=%.1f", (unsigned long long)count, secs,
         secs > 0 ? (double)count / secs : 0.0);
  samples_print(&s);
  result_end();
  return 0;
}

/* --- connect/request/response/close -------------------------------------- */

/* Serves connections one after another until the alarm or SIGTERM ends it
 * (bench/run.sh stops it once the client is done); prints nothing then, so
 * a SIGTERM handler prints the count. */
static volatile sig_atomic_t g_stop;
static void on_term(int sig) {
  (void)sig;
  g_stop = 1;
}

static int run_crr_server(const struct opts* o) {
  int ls = server_socket(o, SOCK_STREAM, 1024);
  if (ls < 0) return 1;
  /* SIGTERM must interrupt accept (no SA_RESTART) so the count is printed. */
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  uint64_t served = 0, errors = 0;
  while (!g_stop) {
    int fd = b_accept(ls);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return fail("accept");
    }
    unsigned char c;
    ssize_t n;
    do {
      n = b_recv(fd, &c, 1);
    } while (n < 0 && errno == EINTR && !g_stop);
    if (n == 1 && send_all(fd, &c, 1) == 0)
      served++;
    else
      errors++;
    /* The server closes first (as HTTP/1.0 does): TIME_WAIT stays on the
     * server's side, so the client's ports are never exhausted. */
    b_close(fd);
  }
  result_begin(o->mode);
  printf(" served=%llu errors=%llu", (unsigned long long)served, (unsigned long long)errors);
  result_end();
  return 0;
}

/* Keys: count, errors, seconds, conn_per_s, p50_us, p99_us, max_us (one
 * whole connection). Stops at the first failure: a failing path is not a
 * rate. */
static int run_crr_client(const struct opts* o) {
  struct samples s;
  if (samples_init(&s) != 0) return 1;
  struct sockaddr_in sin;
  if (!make_addr(o->addr, o->port, &sin)) {
    fprintf(stderr, "iopkt_bench: bad --addr %s\n", o->addr);
    return 2;
  }
  uint64_t count = 0;
  uint64_t start = now_ns(), end = start + (uint64_t)(o->seconds * 1e9), t = start;
  while (t < end) {
    uint64_t t1 = now_ns();
    int fd = b_socket(SOCK_STREAM);
    if (fd < 0) return fail("socket");
    if (b_connect(fd, &sin) != 0) {
      fprintf(stderr, "iopkt_bench: after %llu connections: ", (unsigned long long)count);
      return fail("connect");
    }
    if (nodelay(fd) != 0 || round_trip(fd) != 0) return 1;
    unsigned char buf[16];
    if (drain(fd, buf, sizeof buf) != 0) {
      fprintf(stderr, "iopkt_bench: no end of file after the answer\n");
      return 1;
    }
    b_close(fd);
    t = now_ns();
    samples_add(&s, t - t1);
    count++;
  }
  double secs = (double)(t - start) / 1e9;
  result_begin(o->mode);
  printf(" count=%llu seconds=%.4f conn_per_s=%.1f", (unsigned long long)count, secs,
         secs > 0 ? (double)count / secs : 0.0);
  samples_print(&s);
  result_end();
  return 0;
}

/* --- UDP ----------------------------------------------------------------- */

/* Counts datagrams until none came for 500 ms after the first (the sender
 * is done), or until --seconds + 10 s. Keys: received, bytes, seconds
 * (first to last datagram), pps. Socket buffers are each stack's defaults. */
static int run_udp_recv(const struct opts* o) {
  static unsigned char buf[65536];
  int fd = server_socket(o, SOCK_DGRAM, 0);
  if (fd < 0) return 1;
  uint64_t received = 0, bytes = 0;
  double first = 0, last = 0, deadline = now_s() + o->seconds + 10;
  while (now_s() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, received ? 500 : 200);
    if (r < 0 && errno != EINTR) return fail("poll");
    if (r == 0) {
      if (received) break;
      continue;
    }
    /* Take what is queued without polling again for each datagram. */
    for (int i = 0; i < 1024; i++) {
      ssize_t n = g_kernel ? recv(fd, buf, sizeof buf, MSG_DONTWAIT)
                           : iopkt_recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        return fail("recv");
      }
      last = now_s();
      if (received == 0) first = last;
      received++;
      bytes += (uint64_t)n;
    }
  }
  b_close(fd);
  double secs = last - first;
  result_begin(o->mode);
  printf(" received=%llu bytes=%llu seconds=%.4f pps=%.1f", (unsigned long long)received,
         (unsigned long long)bytes, secs, secs > 0 ? (double)received / secs : 0.0);
  result_end();
  return 0;
}

/* Sends as fast as the socket takes them for --seconds (blocking sends; a
 * refused one — ENOBUFS, ECONNREFUSED from an ICMP error — is counted and
 * the loop goes on). Keys: sent, errors, seconds, pps. */
static int run_udp_send(const struct opts* o) {
  static unsigned char buf[65536];
  if (o->size > sizeof buf) {
    fprintf(stderr, "iopkt_bench: --size over %zu\n", sizeof buf);
    return 2;
  }
  memset(buf, 'u', o->size);
  int fd = client_socket(o, SOCK_DGRAM);
  if (fd < 0) return 1;
  uint64_t sent = 0, errors = 0;
  uint64_t start = now_ns(), end = start + (uint64_t)(o->seconds * 1e9), t = start;
  while (t < end) {
    /* The clock is read once per 64 sends: a datagram costs about 1-5 µs. */
    for (int i = 0; i < 64; i++) {
      if (b_send(fd, buf, o->size) == (ssize_t)o->size)
        sent++;
      else if (errors++ > 1000000)
        return fail("send (more than a million failures)");
    }
    t = now_ns();
  }
  double secs = (double)(t - start) / 1e9;
  b_close(fd);
  result_begin(o->mode);
  printf(" sent=%llu errors=%llu seconds=%.4f pps=%.1f", (unsigned long long)sent,
         (unsigned long long)errors, secs, secs > 0 ? (double)sent / secs : 0.0);
  result_end();
  return 0;
}

/* --- idle connections ---------------------------------------------------- */

/* Room for `count` connections and a few more descriptors: as root the
 * hard limit can be raised too. */
static int want_descriptors(uint64_t count) {
  rlim_t need = (rlim_t)count + 64;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return fail("getrlimit");
  if (rl.rlim_cur >= need) return 0;
  if (rl.rlim_max < need) rl.rlim_max = need;
  rl.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return fail("setrlimit(RLIMIT_NOFILE)");
  return 0;
}

/* Waits (bounded by the alarm) for SIGTERM, holding what was opened. */
static void hold(void) {
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  while (!g_stop) pause();
}

/* Keys: accepted, seconds. Then holds the connections until SIGTERM. */
static int run_idle_server(const struct opts* o) {
  if (want_descriptors(o->count) != 0) return 1;
  int ls = server_socket(o, SOCK_STREAM, o->count > 4096 ? 4096 : (int)o->count);
  if (ls < 0) return 1;
  uint64_t accepted = 0;
  double t0 = 0;
  while (accepted < o->count) {
    int fd = accept_one(ls);
    if (fd < 0) return 1;
    if (accepted == 0) t0 = now_s();
    accepted++;
  }
  result_begin(o->mode);
  printf(" accepted=%llu seconds=%.3f", (unsigned long long)accepted, now_s() - t0);
  result_end();
  hold();
  return 0;
}

/* Keys: connected, seconds. Then holds the connections until SIGTERM. */
static int run_idle_client(const struct opts* o) {
  if (want_descriptors(o->count) != 0) return 1;
  uint64_t connected = 0;
  double t0 = now_s();
  while (connected < o->count) {
    int fd = client_socket(o, SOCK_STREAM);
    if (fd < 0) {
      fprintf(stderr, "iopkt_bench: after %llu connections\n", (unsigned long long)connected);
      return 1;
    }
    connected++;
  }
  result_begin(o->mode);
  printf(" connected=%llu seconds=%.3f", (unsigned long long)connected, now_s() - t0);
  result_end();
  hold();
  return 0;
}

/* --- command line -------------------------------------------------------- */

static int usage(void) {
  fprintf(stderr,
          "usage: iopkt_bench MODE [--kernel] [--addr A] [--port P] [--bytes N] [--seconds S]\n"
          "                   [--size N] [--count N] [--timeout-s S]\n"
          "MODE: bulk-send bulk-recv rr-server rr-client crr-server crr-client\n"
          "      udp-send udp-recv idle-server idle-client\n");
  return 2;
}

static bool parse_u64(const char* s, uint64_t* out) {
  char* end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-') return false;
  *out = v;
  return true;
}

static bool parse_seconds(const char* s, double* out) {
  char* end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v > 0 && v <= 3600)) return false;
  *out = v;
  return true;
}

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  struct opts o = {.mode = argv[1],
                   .addr = "0.0.0.0",
                   .port = 5201,
                   .bytes = 256ull << 20,
                   .seconds = 5,
                   .size = 64,
                   .count = 10000,
                   .timeout_s = 120};
  for (int i = 2; i < argc; i++) {
    const char* a = argv[i];
    bool has_value = i + 1 < argc;
    uint64_t v;
    if (strcmp(a, "--kernel") == 0) {
      g_kernel = true;
    } else if (strcmp(a, "--addr") == 0 && has_value) {
      o.addr = argv[++i];
    } else if (strcmp(a, "--port") == 0 && has_value) {
      if (!parse_u64(argv[++i], &v) || v == 0 || v > 65535) return usage();
      o.port = (uint16_t)v;
    } else if (strcmp(a, "--bytes") == 0 && has_value) {
      if (!parse_u64(argv[++i], &o.bytes) || o.bytes == 0) return usage();
    } else if (strcmp(a, "--seconds") == 0 && has_value) {
      if (!parse_seconds(argv[++i], &o.seconds)) return usage();
    } else if (strcmp(a, "--size") == 0 && has_value) {
      if (!parse_u64(argv[++i], &o.size) || o.size == 0) return usage();
    } else if (strcmp(a, "--count") == 0 && has_value) {
      if (!parse_u64(argv[++i], &o.count) || o.count == 0 || o.count > 1000000) return usage();
    } else if (strcmp(a, "--timeout-s") == 0 && has_value) {
      if (!parse_u64(argv[++i], &o.timeout_s) || o.timeout_s == 0 || o.timeout_s > 86400)
        return usage();
    } else {
      return usage();
    }
  }
  signal(SIGPIPE, SIG_IGN); /* a dead peer is an error from send, not a signal */
  signal(SIGALRM, on_alarm);
  alarm((unsigned)o.timeout_s);

  static const struct {
    const char* name;
    int (*run)(const struct opts*);
  } modes[] = {
      {"bulk-send", run_bulk_send},     {"bulk-recv", run_bulk_recv},
      {"rr-server", run_rr_server},     {"rr-client", run_rr_client},
      {"crr-server", run_crr_server},   {"crr-client", run_crr_client},
      {"udp-send", run_udp_send},       {"udp-recv", run_udp_recv},
      {"idle-server", run_idle_server}, {"idle-client", run_idle_client},
  };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(o.mode, modes[i].name) == 0) return modes[i].run(&o);
  return usage();
}
