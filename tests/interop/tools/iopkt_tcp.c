/*
 * tests/interop/tools/iopkt_tcp.c — a TCP client and server over an iopkt
 * stack (libiopkt; the stack is the one SOCK names, as for every iopkt
 * client), for bulk transfers whose integrity the interop tests check by
 * SHA-256:
 *
 *   iopkt_tcp serve PORT (--source BYTES [--http] | --sink) [options]
 *   iopkt_tcp connect ADDR PORT (--source BYTES | --sink) [options]
 *   iopkt_tcp gen BYTES [--seed N]     the --source stream, to stdout
 *   iopkt_tcp sha256 [FILE]            SHA-256 of FILE or stdin (self-check)
 *
 * options: --seed N (the source stream, default 1), --bind ADDR (serve,
 * default 0.0.0.0), --timeout-s S (the whole run, default 300).
 *
 * A source writes BYTES bytes of a splitmix64 stream seeded by --seed, shuts
 * its sending side and waits for the peer to close, so a success means the
 * peer application read everything. A sink reads to end of file. --http
 * (serve): read an HTTP/1.x request head, then answer "HTTP/1.0 200 OK" with
 * Content-Length BYTES and the stream as the body. Either prints one line:
 *
 *   bytes=N sha256=HEX elapsed_s=SECONDS
 *
 * (what was sent or received; for --http only the body). Failures print the
 * reason and exit 1; a run past --timeout-s exits 124, as timeout(1).
 *
 * SHA-256 is written out here (FIPS 180-4) because the project does not
 * link libcrypto; `iopkt_tcp sha256` lets a test check it against sha256sum.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <iopkt/iopkt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- SHA-256 (FIPS 180-4) ----------------------------------------------- */

struct sha256 {
  uint32_t h[8];
  uint64_t bytes;
  unsigned char block[64];
  size_t used;
};

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_init(struct sha256* s) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->bytes = 0;
  s->used = 0;
}

static void sha256_block(struct sha256* s, const unsigned char* p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++) {
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  }
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
  uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  s->h[0] += a;
  s->h[1] += b;
  s->h[2] += c;
  s->h[3] += d;
  s->h[4] += e;
  s->h[5] += f;
  s->h[6] += g;
  s->h[7] += h;
}

static void sha256_update(struct sha256* s, const void* data, size_t len) {
  const unsigned char* p = data;
  s->bytes += len;
  if (s->used > 0) {
    size_t take = 64 - s->used < len ? 64 - s->used : len;
    memcpy(s->block + s->used, p, take);
    s->used += take;
    p += take;
    len -= take;
    if (s->used < 64) return;
    sha256_block(s, s->block);
    s->used = 0;
  }
  for (; len >= 64; p += 64, len -= 64) sha256_block(s, p);
  memcpy(s->block, p, len);
  s->used = len;
}

/* Writes the digest as 64 lowercase hex digits and a NUL into `hex`. */
static void sha256_final(struct sha256* s, char hex[65]) {
  uint64_t bits = s->bytes * 8;
  unsigned char pad[72] = {0x80};
  size_t padlen = (s->used < 56 ? 56 : 120) - s->used;
  unsigned char len_be[8];
  for (int i = 0; i < 8; i++) len_be[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(s, pad, padlen);
  sha256_update(s, len_be, 8);
  for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

/* --- the source stream --------------------------------------------------- */

/* splitmix64, eight bytes per step, little-endian: a stream any test can
 * regenerate with `iopkt_tcp gen`. */
struct stream {
  uint64_t state;
};

static void stream_fill(struct stream* st, unsigned char* buf, size_t len) {
  /* Callers ask for multiples of 8 except at the very end, so the stream
   * does not depend on how it is cut into writes. */
  for (size_t i = 0; i < len; i += 8) {
    uint64_t z = (st->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (size_t k = 0; k < 8 && i + k < len; k++) buf[i + k] = (unsigned char)(z >> (8 * k));
  }
}

/* --- helpers ------------------------------------------------------------- */

#define CHUNK (64 * 1024) /* a multiple of 8: see stream_fill */

static double t_start;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "iopkt_tcp: timed out (--timeout-s)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(124);
}

/* A failed data call (read, write, shutdown): errno says it all. */
static int fail(const char* what) {
  fprintf(stderr, "iopkt_tcp: %s: %s\n", what, strerror(errno));
  return 1;
}

/* A failed request to the stack (socket, bind, listen, accept, connect):
 * the stack's own message adds why. Not for data calls, which leave
 * iopkt_last_error() at an older request's text. */
static int fail_request(const char* what) {
  int e = errno;
  const char* detail = iopkt_last_error();
  fprintf(stderr, "iopkt_tcp: %s: %s", what, strerror(e));
  if (detail != NULL && *detail != '\0' && strcmp(detail, strerror(e)) != 0)
    fprintf(stderr, " (%s)", detail);
  fprintf(stderr, "\n");
  return 1;
}

static int usage(void) {
  fprintf(stderr,
          "usage: iopkt_tcp serve PORT (--source BYTES [--http] | --sink) [options]\n"
          "       iopkt_tcp connect ADDR PORT (--source BYTES | --sink) [options]\n"
          "       iopkt_tcp gen BYTES [--seed N]\n"
          "       iopkt_tcp sha256 [FILE]\n"
          "options: --seed N  --bind ADDR  --timeout-s S\n");
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

static void print_result(uint64_t bytes, struct sha256* sha) {
  char hex[65];
  sha256_final(sha, hex);
  printf("bytes=%llu sha256=%s elapsed_s=%.3f\n", (unsigned long long)bytes, hex,
         now_s() - t_start);
  fflush(stdout);
}

/* Writes all of buf, through partial writes and EINTR. */
static int write_all(int fd, const void* buf, size_t len) {
  const unsigned char* p = buf;
  while (len > 0) {
    ssize_t n = iopkt_send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The source: `bytes` bytes of the stream, then our side shut, then the
 * peer's close awaited (anything it sends meanwhile is discarded). */
static int run_source(int fd, uint64_t bytes, uint64_t seed, const char* head, size_t head_len) {
  static unsigned char buf[CHUNK];
  struct stream st = {seed};
  struct sha256 sha;
  sha256_init(&sha);
  if (head_len > 0 && write_all(fd, head, head_len) != 0) return fail("write");
  uint64_t left = bytes;
  while (left > 0) {
    size_t n = left < CHUNK ? (size_t)left : CHUNK;
    stream_fill(&st, buf, n);
    sha256_update(&sha, buf, n);
    if (write_all(fd, buf, n) != 0) {
      fprintf(stderr, "iopkt_tcp: after about %llu bytes: ", (unsigned long long)(bytes - left));
      return fail("write");
    }
    left -= n;
  }
  if (iopkt_shutdown(fd, SHUT_WR) != 0) return fail("shutdown");
  for (;;) {
    ssize_t n = iopkt_recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("waiting for the peer to close");
    }
  }
  print_result(bytes, &sha);
  return 0;
}

/* The sink: reads to end of file. */
static int run_sink(int fd) {
  static unsigned char buf[CHUNK];
  struct sha256 sha;
  sha256_init(&sha);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = iopkt_recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "iopkt_tcp: after %llu bytes: ", (unsigned long long)total);
      return fail("read");
    }
    sha256_update(&sha, buf, (size_t)n);
    total += (uint64_t)n;
  }
  print_result(total, &sha);
  return 0;
}

/* Reads an HTTP request head (up to the blank line), at most 16 KiB. */
static int read_http_request(int fd) {
  char buf[16384];
  size_t have = 0;
  while (have < sizeof buf - 1) {
    ssize_t n = iopkt_recv(fd, buf + have, sizeof buf - 1 - have, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("reading the HTTP request");
    }
    if (n == 0) {
      fprintf(stderr, "iopkt_tcp: the client closed before the end of its request\n");
      return 1;
    }
    have += (size_t)n;
    buf[have] = '\0';
    if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL) {
      if (strncmp(buf, "GET ", 4) != 0) {
        fprintf(stderr, "iopkt_tcp: not an HTTP GET request\n");
        return 1;
      }
      return 0;
    }
  }
  fprintf(stderr, "iopkt_tcp: HTTP request head over %zu bytes\n", sizeof buf - 1);
  return 1;
}

struct mode {
  bool source, sink, http;
  uint64_t bytes, seed;
  const char* bind_addr;
};

static int transfer(int fd, const struct mode* m) {
  if (m->sink) return run_sink(fd);
  if (!m->http) return run_source(fd, m->bytes, m->seed, NULL, 0);
  if (read_http_request(fd) != 0) return 1;
  char head[256];
  int len = snprintf(head, sizeof head,
                     "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %llu\r\nConnection: close\r\n\r\n",
                     (unsigned long long)m->bytes);
  return run_source(fd, m->bytes, m->seed, head, (size_t)len);
}

static bool parse_addr(const char* s, uint16_t port, struct sockaddr_in* sin) {
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  return inet_pton(AF_INET, s, &sin->sin_addr) == 1;
}

static int serve(uint16_t port, const struct mode* m) {
  struct sockaddr_in sin;
  if (!parse_addr(m->bind_addr, port, &sin)) {
    fprintf(stderr, "iopkt_tcp: bad --bind address %s\n", m->bind_addr);
    return 2;
  }
  int ls = iopkt_socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) return fail_request("socket(AF_INET, SOCK_STREAM)");
  int one = 1;
  if (iopkt_setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return fail_request("setsockopt(SO_REUSEADDR)");
  if (iopkt_bind(ls, (struct sockaddr*)&sin, sizeof sin) != 0) return fail_request("bind");
  if (iopkt_listen(ls, 4) != 0) return fail_request("listen");
  /* A test waits for this line before it starts the client. */
  fprintf(stderr, "iopkt_tcp: listening on %s:%u\n", m->bind_addr, port);
  struct sockaddr_in peer;
  socklen_t plen = sizeof peer;
  int fd;
  do {
    fd = iopkt_accept4(ls, (struct sockaddr*)&peer, &plen, SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return fail_request("accept");
  iopkt_close(ls);
  char pa[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &peer.sin_addr, pa, sizeof pa);
  fprintf(stderr, "iopkt_tcp: connection from %s:%u\n", pa, ntohs(peer.sin_port));
  int r = transfer(fd, m);
  iopkt_close(fd);
  return r;
}

static int connect_to(const char* addr, uint16_t port, const struct mode* m) {
  struct sockaddr_in sin;
  if (!parse_addr(addr, port, &sin)) {
    fprintf(stderr, "iopkt_tcp: bad address %s\n", addr);
    return 2;
  }
  int fd = iopkt_socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return fail_request("socket(AF_INET, SOCK_STREAM)");
  if (iopkt_connect(fd, (struct sockaddr*)&sin, sizeof sin) != 0) return fail_request("connect");
  int r = transfer(fd, m);
  iopkt_close(fd);
  return r;
}

static int gen(uint64_t bytes, uint64_t seed) {
  static unsigned char buf[CHUNK];
  struct stream st = {seed};
  while (bytes > 0) {
    size_t n = bytes < CHUNK ? (size_t)bytes : CHUNK;
    stream_fill(&st, buf, n);
    if (fwrite(buf, 1, n, stdout) != n) return fail("write");
    bytes -= n;
  }
  return fflush(stdout) == 0 ? 0 : fail("write");
}

static int hash_file(const char* path) {
  FILE* f = path != NULL ? fopen(path, "rb") : stdin;
  if (f == NULL) return fail(path);
  static unsigned char buf[CHUNK];
  struct sha256 sha;
  sha256_init(&sha);
  size_t n;
  uint64_t total = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    sha256_update(&sha, buf, n);
    total += n;
  }
  if (ferror(f)) return fail("read");
  print_result(total, &sha);
  return 0;
}

int main(int argc, char** argv) {
  t_start = now_s();
  if (argc < 2) return usage();
  const char* cmd = argv[1];
  /* Positional arguments first, then options. */
  const char* pos[3] = {0};
  int npos = 0;
  struct mode m = {.seed = 1, .bind_addr = "0.0.0.0"};
  uint64_t timeout_s = 300;
  for (int i = 2; i < argc; i++) {
    const char* a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--source") == 0 && has_value) {
      m.source = true;
      if (!parse_u64(argv[++i], &m.bytes)) return usage();
    } else if (strcmp(a, "--sink") == 0) {
      m.sink = true;
    } else if (strcmp(a, "--http") == 0) {
      m.http = true;
    } else if (strcmp(a, "--seed") == 0 && has_value) {
      if (!parse_u64(argv[++i], &m.seed)) return usage();
    } else if (strcmp(a, "--bind") == 0 && has_value) {
      m.bind_addr = argv[++i];
    } else if (strcmp(a, "--timeout-s") == 0 && has_value) {
      if (!parse_u64(argv[++i], &timeout_s) || timeout_s == 0 || timeout_s > 86400) return usage();
    } else if (a[0] == '-' && a[1] == '-') {
      return usage();
    } else if (npos < 3) {
      pos[npos++] = a;
    } else {
      return usage();
    }
  }

  if (strcmp(cmd, "sha256") == 0) return npos <= 1 ? hash_file(pos[0]) : usage();
  uint64_t n;
  if (strcmp(cmd, "gen") == 0) return npos == 1 && parse_u64(pos[0], &n) ? gen(n, m.seed) : usage();

  signal(SIGPIPE, SIG_IGN); /* a dead peer is an error from write, not a signal */
  signal(SIGALRM, on_alarm);
  alarm((unsigned)timeout_s);
  if (m.source == m.sink || (m.http && !m.source)) return usage();
  uint64_t port;
  if (strcmp(cmd, "serve") == 0 && npos == 1 && parse_u64(pos[0], &port) && port > 0 &&
      port < 65536)
    return serve((uint16_t)port, &m);
  if (strcmp(cmd, "connect") == 0 && npos == 2 && !m.http && parse_u64(pos[1], &port) && port > 0 &&
      port < 65536)
    return connect_to(pos[0], (uint16_t)port, &m);
  return usage();
}
