/*
 * examples/udpecho.c — a UDP echo server and client over an iopkt stack,
 * written in plain C against libiopkt (include/iopkt/iopkt.h). The stack is
 * the one named by SOCK, as for every iopkt client.
 *
 *   udpecho server [-b ADDR] PORT
 *   udpecho client [-c COUNT] [-s SIZE] [-i INTERVAL_MS] [-W TIMEOUT_MS] ADDR PORT
 *
 * The client prints a line per echo and a summary like ping's; it exits 0
 * when at least one echo came back.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <iopkt/iopkt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char* what) {
  const char* detail = iopkt_last_error();
  fprintf(stderr, "udpecho: %s: %s\n", what, detail && *detail ? detail : strerror(errno));
  return 1;
}

static int usage(void) {
  fprintf(
      stderr,
      "usage: udpecho server [-b ADDR] PORT\n"
      "       udpecho client [-c COUNT] [-s SIZE] [-i INTERVAL_MS] [-W TIMEOUT_MS] ADDR PORT\n");
  return 1;
}

static int server(int argc, char** argv) {
  const char* bind_addr = "0.0.0.0";
  int opt;
  while ((opt = getopt(argc, argv, "b:")) != -1) {
    if (opt == 'b') {
      bind_addr = optarg;
    } else {
      return usage();
    }
  }
  if (optind != argc - 1) {
    return usage();
  }
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[optind]))};
  if (inet_pton(AF_INET, bind_addr, &sin.sin_addr) != 1) {
    return usage();
  }
  int fd = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    return fail("socket");
  }
  if (iopkt_bind(fd, (struct sockaddr*)&sin, sizeof sin) < 0) {
    return fail("bind");
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("udpecho: echoing on %s:%s\n", bind_addr, argv[optind]);
  fflush(stdout);
  char buf[65536];
  unsigned long echoed = 0;
  while (!stop) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 200) <= 0) {
      continue;
    }
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    ssize_t n = iopkt_recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&from, &flen);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return fail("recvfrom"); /* the stack went away (ECONNRESET) */
    }
    if (iopkt_sendto(fd, buf, (size_t)n, 0, (struct sockaddr*)&from, flen) == n) {
      ++echoed;
    }
  }
  printf("udpecho: echoed %lu datagrams\n", echoed);
  iopkt_close(fd);
  return 0;
}

static int client(int argc, char** argv) {
  long count = 10, size = 56, interval = 200, timeout = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "c:s:i:W:")) != -1) {
    long v = strtol(optarg, NULL, 10);
    switch (opt) {
      case 'c':
        count = v;
        break;
      case 's':
        size = v;
        break;
      case 'i':
        interval = v;
        break;
      case 'W':
        timeout = v;
        break;
      default:
        return usage();
    }
  }
  if (optind != argc - 2 || count < 1 || count > 100000 || size < 8 || size > 60000 ||
      interval < 0 || timeout < 1) {
    return usage();
  }
  struct sockaddr_in to = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)atoi(argv[optind + 1]))};
  if (inet_pton(AF_INET, argv[optind], &to.sin_addr) != 1) {
    return usage();
  }
  int fd = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    return fail("socket");
  }
  char* out = calloc(1, (size_t)size);
  char* in = calloc(1, (size_t)size + 1);
  long received = 0;
  double rtt_min = 1e9, rtt_max = 0, rtt_sum = 0;
  printf("UDP ECHO %s:%s: %ld data bytes\n", argv[optind], argv[optind + 1], size);
  for (long seq = 0; seq < count && !stop; ++seq) {
    memcpy(out, &seq, sizeof seq);
    for (long i = (long)sizeof seq; i < size; ++i) {
      out[i] = (char)('a' + (seq + i) % 26);
    }
    double t0 = now_ms();
    if (iopkt_sendto(fd, out, (size_t)size, 0, (struct sockaddr*)&to, sizeof to) != size) {
      return fail("sendto");
    }
    /* Wait for this sequence number's echo; older ones that come late are
     * counted as received but not timed. */
    for (;;) {
      double left = timeout - (now_ms() - t0);
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
        break;
      }
      ssize_t n = iopkt_recv(fd, in, (size_t)size + 1, 0);
      long got;
      if (n != size) {
        continue;
      }
      memcpy(&got, in, sizeof got);
      if (memcmp(in, out, (size_t)size) == 0 && got == seq) {
        double rtt = now_ms() - t0;
        rtt_min = rtt < rtt_min ? rtt : rtt_min;
        rtt_max = rtt > rtt_max ? rtt : rtt_max;
        rtt_sum += rtt;
        ++received;
        printf("%ld bytes from %s: seq=%ld time=%.3f ms\n", size, argv[optind], seq, rtt);
        break;
      }
    }
    if (seq + 1 < count && interval > 0) {
      usleep((useconds_t)interval * 1000);
    }
  }
  long sent = count;
  printf("--- %s udp echo statistics ---\n", argv[optind]);
  printf("%ld datagrams transmitted, %ld received, %.1f%% datagram loss\n", sent, received,
         100.0 * (double)(sent - received) / (double)sent);
  if (received > 0) {
    printf("round-trip min/avg/max = %.3f/%.3f/%.3f ms\n", rtt_min, rtt_sum / received, rtt_max);
  }
  free(out);
  free(in);
  iopkt_close(fd);
  return received > 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  if (strcmp(argv[1], "server") == 0) {
    return server(argc - 1, argv + 1);
  }
  if (strcmp(argv[1], "client") == 0) {
    return client(argc - 1, argv + 1);
  }
  return usage();
}
