/*
 * bench/tools/lwip_tap.c — lwIP's side of bench/run.sh's "peers" benchmark:
 * Debian's liblwip (2.1.3, as packaged: its lwipopts.h, NO_SYS=0 with core
 * locking) on a TAP, with a TAP netif of our own, sending TCP bulk data to
 * a Linux receiver for a given time.
 *
 *   lwip_tap --tap NAME --addr A --peer A [--port P] [--seconds S]
 *            [--mask M] [--timeout-s S]
 *
 * Attaches to the TAP NAME (made and configured beforehand by run.sh, so
 * Linux's end is ready; made here if it does not exist), gives lwIP the
 * address A, connects to PEER:P with the raw TCP API, writes for --seconds,
 * shuts its side down and waits for the peer's close, so the receiver saw
 * every byte. The receiver's numbers are the benchmark's; this prints
 *
 *   RESULT mode=lwip-send stack=lwip bytes=N seconds=S gbps=G
 *
 * (acknowledged bytes, connected to the peer's close). Exit 1 on failure,
 * 124 when --timeout-s (default 120) passes first.
 *
 * Why a netif of our own: the packaged tapif reads frames into pool pbufs
 * and overruns them above about 590 bytes. Here each frame is read whole
 * into a buffer of the interface's MTU plus the Ethernet header, then copied
 * into one PBUF_RAM pbuf of its exact length, and handed to tcpip_input,
 * which queues it for lwIP's thread. Output gathers the pbuf chain into one
 * buffer and writes it as one frame.
 *
 * Threads: lwIP's tcpip thread runs the stack (timers, input, the TCP
 * callbacks below); the main thread reads the TAP and, under the core lock
 * (LOCK_TCPIP_CORE), sets the interface and the connection up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/tcpip.h"
#include "netif/ethernet.h"

enum { kMtu = 1500, kFrameMax = kMtu + 14, kChunk = 16384 };

static int g_tap = -1;
static struct netif g_netif;

/* The connection's state, touched only in lwIP's thread (callbacks) except
 * the atomics, which the main thread reads. */
static struct tcp_pcb* g_pcb;
static double g_seconds = 5;
static double g_t0, g_t_end;
static bool g_shut;
static uint64_t g_acked;
static atomic_int g_state; /* 0 running, 1 done, -1 failed */
static atomic_int g_init_done;
static double g_t_done;

static unsigned char g_data[kChunk];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_conn(const char* what, err_t err) {
  fprintf(stderr, "lwip_tap: %s: %s (%d)\n", what, lwip_strerr(err), (int)err);
  atomic_store(&g_state, -1);
}

/* --- the netif ----------------------------------------------------------- */

/* One frame out: the chain gathered into one write. */
static err_t tap_linkoutput(struct netif* nif, struct pbuf* p) {
  (void)nif;
  unsigned char frame[kFrameMax];
  if (p->tot_len > sizeof frame) return ERR_BUF;
  u16_t n = pbuf_copy_partial(p, frame, p->tot_len, 0);
  for (;;) {
    ssize_t w = write(g_tap, frame, n);
    if (w == (ssize_t)n) return ERR_OK;
    if (w < 0 && errno == EINTR) continue;
    /* The TAP's queue is full or gone: dropped, as a NIC would. */
    return ERR_IF;
  }
}

static err_t tap_netif_init(struct netif* nif) {
  nif->name[0] = 'l';
  nif->name[1] = 't';
  nif->output = etharp_output;
  nif->linkoutput = tap_linkoutput;
  nif->mtu = kMtu;
  nif->hwaddr_len = ETH_HWADDR_LEN;
  /* Locally administered, fixed: the TAP's own address is Linux's. */
  static const u8_t mac[ETH_HWADDR_LEN] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
  memcpy(nif->hwaddr, mac, sizeof mac);
  nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
  return ERR_OK;
}

/* One frame in: a PBUF_RAM pbuf of its length, queued for lwIP's thread. */
static void tap_input(const unsigned char* frame, size_t n) {
  struct pbuf* p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
  if (p == NULL) return; /* no memory: dropped */
  pbuf_take(p, frame, (u16_t)n);
  if (g_netif.input(p, &g_netif) != ERR_OK) pbuf_free(p);
}

static int tap_open(const char* name) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror("lwip_tap: /dev/net/tun");
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("lwip_tap: TUNSETIFF");
    close(fd);
    return -1;
  }
  return fd;
}

/* --- the sender (lwIP's thread) ----------------------------------------- */

static void finish_sending(void) {
  if (g_shut) return;
  g_shut = true;
  /* FIN after the queued data; the peer's close ends the run. */
  err_t e = tcp_shutdown(g_pcb, 0, 1);
  if (e != ERR_OK) fail_conn("tcp_shutdown", e);
}

/* Queues data while the send buffer has room and time is left. The data
 * is one static buffer, written by reference (no TCP_WRITE_FLAG_COPY). */
static void fill(void) {
  if (g_shut) return;
  if (now_s() >= g_t_end) {
    finish_sending();
    return;
  }
  bool queued = false;
  for (;;) {
    u16_t room = tcp_sndbuf(g_pcb);
    if (room == 0 || tcp_sndqueuelen(g_pcb) >= TCP_SND_QUEUELEN - 4) break;
    u16_t n = room < kChunk ? room : kChunk;
    err_t e = tcp_write(g_pcb, g_data, n, TCP_WRITE_FLAG_MORE);
    if (e == ERR_MEM) break;
    if (e != ERR_OK) {
      fail_conn("tcp_write", e);
      return;
    }
    queued = true;
  }
  if (queued) tcp_output(g_pcb);
}

static err_t on_sent(void* arg, struct tcp_pcb* pcb, u16_t len) {
  (void)arg;
  (void)pcb;
  g_acked += len;
  fill();
  return ERR_OK;
}

/* Every 0.5 s (2 coarse ticks): the time limit even when no ACK comes. */
static err_t on_poll(void* arg, struct tcp_pcb* pcb) {
  (void)arg;
  (void)pcb;
  fill();
  return ERR_OK;
}

static err_t on_recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t err) {
  (void)arg;
  if (p == NULL) { /* the peer closed: every byte was read */
    g_t_done = now_s();
    tcp_arg(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
    tcp_err(pcb, NULL);
    err_t r = ERR_OK;
    if (tcp_close(pcb) != ERR_OK) {
      tcp_abort(pcb);
      r = ERR_ABRT;
    }
    g_pcb = NULL;
    atomic_store(&g_state, 1);
    return r;
  }
  if (err == ERR_OK) tcp_recved(pcb, p->tot_len);
  pbuf_free(p); /* the receiver sends nothing; ignore it if it does */
  return ERR_OK;
}

static void on_err(void* arg, err_t err) {
  (void)arg;
  g_pcb = NULL; /* freed by lwIP */
  fail_conn("connection", err);
}

static err_t on_connected(void* arg, struct tcp_pcb* pcb, err_t err) {
  (void)arg;
  (void)pcb;
  if (err != ERR_OK) {
    fail_conn("connect", err);
    return err;
  }
  g_t0 = now_s();
  g_t_end = g_t0 + g_seconds;
  fill();
  return ERR_OK;
}

static void on_tcpip_ready(void* arg) {
  (void)arg;
  atomic_store(&g_init_done, 1);
}

/* --- main ---------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: lwip_tap --tap NAME --addr A --peer A [--port P] [--seconds S] [--mask M]\n"
          "                [--timeout-s S]\n");
  exit(2);
}

int main(int argc, char** argv) {
  const char *tap = NULL, *addr = NULL, *peer = NULL, *mask = "255.255.255.0";
  unsigned port = 5201;
  double timeout_s = 120;
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (strcmp(a, "--tap") == 0)
      tap = v;
    else if (strcmp(a, "--addr") == 0)
      addr = v;
    else if (strcmp(a, "--peer") == 0)
      peer = v;
    else if (strcmp(a, "--mask") == 0)
      mask = v;
    else if (strcmp(a, "--port") == 0)
      port = (unsigned)strtoul(v, NULL, 10);
    else if (strcmp(a, "--seconds") == 0)
      g_seconds = strtod(v, NULL);
    else if (strcmp(a, "--timeout-s") == 0)
      timeout_s = strtod(v, NULL);
    else
      usage();
  }
  ip4_addr_t ip, nm, gw, dst;
  if (tap == NULL || addr == NULL || peer == NULL || port == 0 || port > 65535 ||
      !(g_seconds > 0) || !ip4addr_aton(addr, &ip) || !ip4addr_aton(mask, &nm) ||
      !ip4addr_aton(peer, &dst))
    usage();
  ip4_addr_set_zero(&gw);
  for (size_t i = 0; i < sizeof g_data; i++) g_data[i] = (unsigned char)(i * 131 + 7);

  g_tap = tap_open(tap);
  if (g_tap < 0) return 1;

  double deadline = now_s() + timeout_s;
  tcpip_init(on_tcpip_ready, NULL);
  while (!atomic_load(&g_init_done)) {
    if (now_s() > deadline) return 124;
    usleep(1000);
  }

  LOCK_TCPIP_CORE();
  if (netif_add(&g_netif, &ip, &nm, &gw, NULL, tap_netif_init, tcpip_input) == NULL) {
    UNLOCK_TCPIP_CORE();
    fprintf(stderr, "lwip_tap: netif_add failed\n");
    return 1;
  }
  netif_set_default(&g_netif);
  netif_set_link_up(&g_netif);
  netif_set_up(&g_netif);
  g_pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  err_t e = g_pcb == NULL ? ERR_MEM : ERR_OK;
  if (e == ERR_OK) {
    tcp_nagle_disable(g_pcb); /* full segments anyway: writes are 16 KiB */
    tcp_sent(g_pcb, on_sent);
    tcp_recv(g_pcb, on_recv);
    tcp_err(g_pcb, on_err);
    tcp_poll(g_pcb, on_poll, 1);
    ip_addr_t d;
    ip_addr_copy_from_ip4(d, dst);
    e = tcp_connect(g_pcb, &d, (u16_t)port, on_connected);
  }
  UNLOCK_TCPIP_CORE();
  if (e != ERR_OK) {
    fprintf(stderr, "lwip_tap: tcp_connect: %s\n", lwip_strerr(e));
    return 1;
  }

  /* The main thread reads frames until the sender is done. */
  static unsigned char frame[65536];
  while (atomic_load(&g_state) == 0) {
    if (now_s() > deadline) {
      fprintf(stderr, "lwip_tap: timed out after %.0f s\n", timeout_s);
      return 124;
    }
    struct pollfd pfd = {.fd = g_tap, .events = POLLIN};
    int r = poll(&pfd, 1, 100);
    if (r < 0 && errno != EINTR) {
      perror("lwip_tap: poll");
      return 1;
    }
    if (r <= 0) continue;
    ssize_t n = read(g_tap, frame, sizeof frame);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      perror("lwip_tap: read");
      return 1;
    }
    /* Frames longer than the MTU (not ours to receive) are dropped. */
    if (n >= 14 && n <= kFrameMax) tap_input(frame, (size_t)n);
  }
  if (atomic_load(&g_state) < 0) return 1;
  double secs = g_t_done - g_t0;
  printf("RESULT mode=lwip-send stack=lwip bytes=%llu seconds=%.4f gbps=%.4f\n",
         (unsigned long long)g_acked, secs, secs > 0 ? (double)g_acked * 8 / secs / 1e9 : 0.0);
  return 0;
}
