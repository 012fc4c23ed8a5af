/* examples/tcpcat.c — a TCP sender and receiver written against libiopkt:
 * the BSD socket calls with an iopkt_ prefix, and plain read(2)/write(2)
 * on the socket's descriptor. SOCK in the environment chooses the stack.
 *
 *   tcpcat listen PORT              accept one connection, read to its end,
 *                                   print the byte count and a checksum
 *   tcpcat send ADDR PORT BYTES     connect, write BYTES bytes of a fixed
 *                                   pattern, print the same summary
 *
 * Both sides print the same checksum (FNV-1a over the bytes) when every
 * byte arrived intact and in order.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iopkt/iopkt.h"

static uint64_t fnv1a(uint64_t h, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * 0x100000001b3ull;
  }
  return h;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char* what) {
  fprintf(stderr, "tcpcat: %s: %s (%s)\n", what, strerror(errno), iopkt_last_error());
  return 1;
}

static void summary(const char* verb, unsigned long long bytes, uint64_t sum, double secs) {
  printf("%s %llu bytes in %.2f s (%.1f Mbit/s), checksum %016llx\n", verb, bytes, secs,
         secs > 0 ? (double)bytes * 8 / secs / 1e6 : 0.0, (unsigned long long)sum);
}

static int do_listen(int port) {
  int l = iopkt_socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0) {
    return fail("socket");
  }
  int one = 1;
  iopkt_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (iopkt_bind(l, (struct sockaddr*)&a, sizeof a) != 0 || iopkt_listen(l, 4) != 0) {
    return fail("bind/listen");
  }
  struct sockaddr_in peer;
  socklen_t plen = sizeof peer;
  int s = iopkt_accept(l, (struct sockaddr*)&peer, &plen);
  if (s < 0) {
    return fail("accept");
  }
  char who[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &peer.sin_addr, who, sizeof who);
  printf("connection from %s:%u\n", who, ntohs(peer.sin_port));
  fflush(stdout);
  static unsigned char buf[65536];
  unsigned long long total = 0;
  uint64_t sum = 0xcbf29ce484222325ull;
  double t0 = now_s();
  for (;;) {
    ssize_t n = iopkt_recv(s, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return fail("recv");
    }
    if (n == 0) {
      break;
    }
    sum = fnv1a(sum, buf, (size_t)n);
    total += (unsigned long long)n;
  }
  summary("received", total, sum, now_s() - t0);
  iopkt_close(s);
  iopkt_close(l);
  return 0;
}

static int do_send(const char* addr, int port, unsigned long long bytes) {
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
    fprintf(stderr, "tcpcat: %s: not an IPv4 address\n", addr);
    return 2;
  }
  int s = iopkt_socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) {
    return fail("socket");
  }
  if (iopkt_connect(s, (struct sockaddr*)&a, sizeof a) != 0) {
    return fail("connect");
  }
  static unsigned char buf[65536];
  unsigned long long sent = 0;
  uint64_t sum = 0xcbf29ce484222325ull;
  double t0 = now_s();
  while (sent < bytes) {
    size_t n = bytes - sent < sizeof buf ? (size_t)(bytes - sent) : sizeof buf;
    for (size_t i = 0; i < n; ++i) {
      buf[i] = (unsigned char)((sent + i) * 2654435761u >> 13);
    }
    sum = fnv1a(sum, buf, n);
    for (size_t off = 0; off < n;) {
      ssize_t w = iopkt_send(s, buf + off, n - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        return fail("send");
      }
      off += (size_t)w;
    }
    sent += n;
  }
  /* A lingering close returns once the peer acknowledged everything. */
  struct linger lg = {1, 60};
  iopkt_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  iopkt_close(s);
  summary("sent", sent, sum, now_s() - t0);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "listen") == 0) {
    return do_listen(atoi(argv[2]));
  }
  if (argc == 5 && strcmp(argv[1], "send") == 0) {
    return do_send(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
  }
  fprintf(stderr, "usage: tcpcat listen PORT\n       tcpcat send ADDR PORT BYTES\n");
  return 2;
}
