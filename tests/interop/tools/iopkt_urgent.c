/*
 * tests/interop/tools/iopkt_urgent.c — TCP urgent data (RFC 6093) across a
 * connection, the same program at both ends: over an iopkt stack (libiopkt,
 * SOCK names it) or, with --kernel, over the Linux kernel's TCP.
 *
 *   iopkt_urgent serve PORT [--kernel]
 *   iopkt_urgent connect ADDR PORT [--kernel]
 *
 * The connecting side sends "ab", then "X" with MSG_OOB, then "cd"; the
 * serving side receives them, then sends "12", "3" with MSG_OOB, "45" back,
 * and the connecting side receives those. A receiver waits for POLLPRI,
 * reads in line up to the mark (SIOCATMARK), takes the urgent byte with
 * recv(MSG_OOB) and reads the rest. Each side prints what it received:
 *
 *   received before_mark=ab urgent=X after=cd
 *
 * and exits 0 when it is what the other side sent, 1 otherwise (with the
 * reason), 124 after 30 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <iopkt/iopkt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static bool g_kernel; /* --kernel: the Linux kernel's sockets, not the stack's */

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "iopkt_urgent: timed out\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(124);
}

static int fail(const char* what) {
  fprintf(stderr, "iopkt_urgent: %s: %s (%s)\n", what, strerror(errno),
          g_kernel ? "kernel" : iopkt_last_error());
  return 1;
}

/* The socket calls go through libiopkt, which hands a descriptor that is
 * not the stack's to the kernel: only the socket itself is chosen here. */
static int tcp_socket(void) {
  return g_kernel ? socket(AF_INET, SOCK_STREAM, 0) : iopkt_socket(AF_INET, SOCK_STREAM, 0);
}

static int send_part(int fd, const char* s, int flags) {
  size_t len = strlen(s);
  return iopkt_send(fd, s, len, flags) == (ssize_t)len ? 0 : -1;
}

/* "ab" + urgent "X" + "cd" (or the reply's bytes). */
static int send_urgent(int fd, const char* before, const char* urgent, const char* after) {
  if (send_part(fd, before, 0) != 0 || send_part(fd, urgent, MSG_OOB) != 0 ||
      send_part(fd, after, 0) != 0) {
    return fail("send");
  }
  return 0;
}

static int at_mark(int fd) {
  int at = 0;
  return ioctl(fd, SIOCATMARK, &at) == 0 ? at : -1;
}

static int recv_urgent(int fd, const char* before, const char* urgent, const char* after) {
  struct pollfd p = {fd, POLLPRI, 0};
  if (poll(&p, 1, 20000) != 1 || !(p.revents & POLLPRI)) {
    return fail("no POLLPRI for the urgent byte");
  }
  char got_before[64] = "", got_after[64] = "", oob = 0;
  size_t nb = 0, na = 0;
  /* Reads stop at the mark: read in line until there (bounded). */
  for (int i = 0; i < 64 && nb < sizeof got_before - 1; ++i) {
    int m = at_mark(fd);
    if (m < 0) {
      return fail("SIOCATMARK");
    }
    if (m == 1) {
      break;
    }
    ssize_t n = iopkt_recv(fd, got_before + nb, sizeof got_before - 1 - nb, 0);
    if (n <= 0) {
      return fail("recv before the mark");
    }
    nb += (size_t)n;
  }
  if (iopkt_recv(fd, &oob, 1, MSG_OOB) != 1) {
    return fail("recv(MSG_OOB)");
  }
  size_t want = strlen(after);
  for (int i = 0; i < 64 && na < want; ++i) {
    ssize_t n = iopkt_recv(fd, got_after + na, want - na, 0);
    if (n <= 0) {
      return fail("recv after the mark");
    }
    na += (size_t)n;
  }
  printf("received before_mark=%s urgent=%c after=%s\n", got_before, oob, got_after);
  fflush(stdout);
  if (strcmp(got_before, before) != 0 || oob != urgent[0] || strcmp(got_after, after) != 0) {
    fprintf(stderr, "iopkt_urgent: expected before_mark=%s urgent=%s after=%s\n", before, urgent,
            after);
    return 1;
  }
  return 0;
}

/* Waits for the peer to close (bounded by the alarm). */
static void drain(int fd) {
  char buf[256];
  while (iopkt_recv(fd, buf, sizeof buf, 0) > 0) {
  }
}

static int serve(uint16_t port) {
  int l = tcp_socket();
  if (l < 0) {
    return fail("socket");
  }
  int one = 1;
  iopkt_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (iopkt_bind(l, (struct sockaddr*)&sin, sizeof sin) != 0 || iopkt_listen(l, 4) != 0) {
    return fail("bind/listen");
  }
  fprintf(stderr, "iopkt_urgent: listening on %u\n", port);
  int fd = iopkt_accept(l, NULL, NULL);
  if (fd < 0) {
    return fail("accept");
  }
  int rc = recv_urgent(fd, "ab", "X", "cd");
  if (rc == 0) {
    rc = send_urgent(fd, "12", "3", "45");
  }
  iopkt_shutdown(fd, SHUT_WR);
  drain(fd);
  iopkt_close(fd);
  iopkt_close(l);
  return rc;
}

static int connect_to(const char* addr, uint16_t port) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
    fprintf(stderr, "iopkt_urgent: bad address %s\n", addr);
    return 2;
  }
  int fd = tcp_socket();
  if (fd < 0) {
    return fail("socket");
  }
  if (iopkt_connect(fd, (struct sockaddr*)&sin, sizeof sin) != 0) {
    return fail("connect");
  }
  int rc = send_urgent(fd, "ab", "X", "cd");
  if (rc == 0) {
    rc = recv_urgent(fd, "12", "3", "45");
  }
  iopkt_close(fd);
  return rc;
}

int main(int argc, char** argv) {
  int n = argc;
  if (n > 1 && strcmp(argv[n - 1], "--kernel") == 0) {
    g_kernel = true;
    --n;
  }
  signal(SIGALRM, on_alarm);
  signal(SIGPIPE, SIG_IGN);
  alarm(30);
  if (n == 3 && strcmp(argv[1], "serve") == 0) {
    return serve((uint16_t)atoi(argv[2]));
  }
  if (n == 4 && strcmp(argv[1], "connect") == 0) {
    return connect_to(argv[2], (uint16_t)atoi(argv[3]));
  }
  fprintf(stderr,
          "usage: iopkt_urgent serve PORT [--kernel]\n"
          "       iopkt_urgent connect ADDR PORT [--kernel]\n");
  return 2;
}
