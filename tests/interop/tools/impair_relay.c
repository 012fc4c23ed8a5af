/*
 * tests/interop/tools/impair_relay.c — a seeded link impairer for the interop
 * tests. It sits in a middle network namespace between two veths and
 * forwards every Ethernet frame from one to the other (AF_PACKET raw
 * sockets), losing, duplicating, delaying (with jitter, so frames reorder)
 * and corrupting frames at the rates given:
 *
 *   impair_relay --if-a IF --if-b IF [--seed N] [--loss PCT] [--dup PCT]
 *                [--corrupt PCT] [--delay-ms MS] [--jitter-ms MS]
 *                [--duration-s S] [--max-frame BYTES] [--queue FRAMES]
 *
 * Why not netem: this kernel has none. Why corruption is done here and not
 * by a filter: it must happen after the sender computed the checksum, so the
 * receiver sees a bad checksum and drops the frame. For that the frames seen
 * here must carry complete checksums and be no larger than the MTU: turn off
 * the offloads on every veth involved (ethtool -K IF tx off rx off tso off
 * gso off gro off). Frames that still arrive larger than --max-frame (a GSO
 * super-frame) are counted as "oversize" and dropped, and frames whose
 * checksum the kernel marked as not yet computed as "csum_partial", so a run
 * with offloads left on shows it in the counters instead of passing quietly.
 *
 * Every random decision comes from a splitmix64 generator per direction,
 * seeded from --seed, so a run's decisions repeat for the same frames.
 * Runs at most --duration-s seconds (default 600); SIGTERM or SIGINT end it
 * cleanly. On exit it prints one line of counters per direction.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000LL
#define RX_BATCH 64 /* frames read per readiness, so one side cannot starve the other */

/* --- deterministic randomness ------------------------------------------ */

/* splitmix64: small, fast, and good enough to drive test decisions. */
static uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1) from the top 53 bits. */
static double unit(uint64_t* state) {
  return (double)(splitmix64(state) >> 11) / 9007199254740992.0;
}

static bool chance(uint64_t* state, double pct) { return pct > 0 && unit(state) * 100.0 < pct; }

/* --- options and counters ----------------------------------------------- */

struct options {
  const char* if_a;
  const char* if_b;
  uint64_t seed;
  double loss, dup, corrupt; /* percentages */
  double delay_ms, jitter_ms;
  double duration_s;
  size_t max_frame; /* largest frame forwarded: MTU 1500 + Ethernet header + a VLAN tag */
  size_t queue;     /* frames held at most (both directions together) */
};

struct direction {
  const char* name;
  int in_fd, out_fd;
  int out_ifindex;
  uint64_t prng;
  uint64_t next_seq;     /* arrival order, to count reordering */
  uint64_t max_sent_seq; /* highest arrival number sent so far, +1 */
  /* counters */
  uint64_t received, forwarded, lost, duplicated, corrupted, not_corruptible;
  uint64_t reordered, oversize, csum_partial, queue_full, send_errors, pending_at_exit;
  uint64_t largest;
};

/* One held frame: released at `release_ns` (monotonic clock). */
struct held {
  int64_t release_ns;
  uint64_t order; /* tie-break: equal release times leave in arrival order */
  uint64_t seq;   /* arrival number in its direction */
  struct direction* dir;
  size_t len;
  unsigned char* data;
};

/* --- a binary min-heap of held frames, by (release_ns, order) ------------ */

struct heap {
  struct held* v;
  size_t n, cap;
};

static bool held_before(const struct held* a, const struct held* b) {
  return a->release_ns != b->release_ns ? a->release_ns < b->release_ns : a->order < b->order;
}

static void heap_push(struct heap* h, struct held x) {
  size_t i = h->n++;
  h->v[i] = x;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!held_before(&h->v[i], &h->v[parent])) break;
    struct held t = h->v[i];
    h->v[i] = h->v[parent];
    h->v[parent] = t;
    i = parent;
  }
}

static struct held heap_pop(struct heap* h) {
  struct held top = h->v[0];
  h->v[0] = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && held_before(&h->v[l], &h->v[m])) m = l;
    if (r < h->n && held_before(&h->v[r], &h->v[m])) m = r;
    if (m == i) break;
    struct held t = h->v[i];
    h->v[i] = h->v[m];
    h->v[m] = t;
    i = m;
  }
  return top;
}

/* --- helpers ------------------------------------------------------------ */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void die(const char* what, const char* detail) {
  fprintf(stderr, "impair_relay: %s: %s\n", what, detail);
  exit(1);
}

/* A raw socket that sees every frame arriving on `ifname` (promiscuous: on a
 * veth the frames are addressed to the far end's MAC, not this one's) and
 * not the frames this process sends out of it. */
static int open_port(const char* ifname, int* ifindex) {
  *ifindex = (int)if_nametoindex(ifname);
  if (*ifindex == 0) die(ifname, strerror(errno));
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) die("socket(AF_PACKET)", strerror(errno));
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
    die("PACKET_IGNORE_OUTGOING", strerror(errno));
  /* The auxiliary data tells whether the kernel still owes the checksum. */
  if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) != 0)
    die("PACKET_AUXDATA", strerror(errno));
  /* Large buffers: the relay must not be the bottleneck a test measures. */
  int buf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = *ifindex;
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) die("bind", strerror(errno));
  struct packet_mreq mr = {0};
  mr.mr_ifindex = *ifindex;
  mr.mr_type = PACKET_MR_PROMISC;
  if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0)
    die("PACKET_MR_PROMISC", strerror(errno));
  /* Frames queued before the bind may come from any interface: drain them. */
  unsigned char junk[64];
  while (recv(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
  }
  return fd;
}

/* The checksummed transport area of an IPv4 or IPv6 frame: where one
 * flipped bit must make the receiver drop the frame. For UDP the checksum
 * field itself is left out (a flip could turn it into 0, "no checksum"), and
 * a UDP datagram without a checksum is not corruptible; nor is anything but
 * IP (ARP has no checksum). Ethernet padding past the IP length is never
 * chosen: no checksum covers it. Returns false when nothing qualifies. */
static bool l4_area(const unsigned char* f, size_t len, size_t* start, size_t* end,
                    size_t* skip_at) {
  *skip_at = SIZE_MAX;
  if (len < ETH_HLEN) return false;
  uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
  size_t ip = ETH_HLEN;
  unsigned proto;
  size_t l4, ip_end;
  if (type == ETH_P_IP) {
    if (len < ip + 20 || (f[ip] >> 4) != 4) return false;
    size_t ihl = (size_t)(f[ip] & 0x0f) * 4;
    size_t total = (size_t)(f[ip + 2] << 8 | f[ip + 3]);
    if (ihl < 20 || total < ihl || ip + total > len) return false;
    proto = f[ip + 9];
    l4 = ip + ihl;
    ip_end = ip + total;
    bool first_fragment = ((f[ip + 6] & 0x1f) | f[ip + 7]) == 0;
    if (proto == IPPROTO_UDP && first_fragment) {
      if (ip_end < l4 + 8 || (f[l4 + 6] | f[l4 + 7]) == 0) return false;
      *skip_at = l4 + 6;
    }
  } else if (type == ETH_P_IPV6) {
    if (len < ip + 40 || (f[ip] >> 4) != 6) return false;
    proto = f[ip + 6];
    /* Only a transport directly after the fixed header: extension headers
     * are not covered by any checksum. */
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMPV6) return false;
    l4 = ip + 40;
    ip_end = l4 + (size_t)(f[ip + 4] << 8 | f[ip + 5]);
    if (ip_end > len) return false;
    if (proto == IPPROTO_UDP) {
      if (ip_end < l4 + 8) return false;
      *skip_at = l4 + 6;
    }
  } else {
    return false;
  }
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMP &&
      proto != IPPROTO_ICMPV6)
    return false;
  if (ip_end <= l4) return false;
  *start = l4;
  *end = ip_end;
  return true;
}

/* Flips one random bit of the checksummed transport area; false if the
 * frame has none. */
static bool corrupt_frame(unsigned char* f, size_t len, uint64_t* prng) {
  size_t start, end, skip_at;
  if (!l4_area(f, len, &start, &end, &skip_at)) return false;
  size_t span = end - start;
  if (skip_at != SIZE_MAX) span -= 2;
  if (span == 0) return false;
  size_t byte = start + (size_t)(splitmix64(prng) % span);
  if (skip_at != SIZE_MAX && byte >= skip_at) byte += 2;
  f[byte] ^= (unsigned char)(1u << (splitmix64(prng) % 8));
  return true;
}

/* Queues one copy of a frame for release after the delay and jitter. */
static bool hold(struct heap* h, const struct options* o, struct direction* d, uint64_t* order,
                 uint64_t seq, const unsigned char* frame, size_t len, bool corrupt) {
  if (h->n == h->cap) {
    d->queue_full++;
    return false;
  }
  unsigned char* copy = malloc(len);
  if (copy == NULL) die("malloc", strerror(errno));
  memcpy(copy, frame, len);
  if (corrupt) {
    if (corrupt_frame(copy, len, &d->prng))
      d->corrupted++;
    else
      d->not_corruptible++;
  }
  double delay = o->delay_ms;
  if (o->jitter_ms > 0) delay += (unit(&d->prng) * 2.0 - 1.0) * o->jitter_ms;
  if (delay < 0) delay = 0;
  struct held x = {now_ns() + (int64_t)(delay * 1e6), (*order)++, seq, d, len, copy};
  heap_push(h, x);
  return true;
}

/* Reads up to RX_BATCH frames from one side and queues them. */
static void receive(struct heap* h, const struct options* o, struct direction* d, uint64_t* order) {
  static unsigned char buf[65536 + 64];
  for (int i = 0; i < RX_BATCH; i++) {
    struct iovec iov = {buf, sizeof buf};
    union {
      struct cmsghdr align;
      unsigned char space[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    } ctl;
    struct sockaddr_ll from;
    struct msghdr m = {0};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.space;
    m.msg_controllen = sizeof ctl.space;
    ssize_t n = recvmsg(d->in_fd, &m, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      die("recvmsg", strerror(errno));
    }
    if (from.sll_pkttype == PACKET_OUTGOING) continue; /* belt and braces */
    d->received++;
    size_t len = (size_t)n;
    if (len > d->largest) d->largest = len;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(c), sizeof aux);
        if (aux.tp_status & TP_STATUS_CSUMNOTREADY) d->csum_partial++;
      }
    }
    if (len > o->max_frame || len > sizeof buf - 64) {
      d->oversize++;
      continue;
    }
    uint64_t seq = d->next_seq++;
    /* Decisions in a fixed order per frame: loss, duplication, then
     * corruption for each copy. */
    if (chance(&d->prng, o->loss)) {
      d->lost++;
      continue;
    }
    int copies = chance(&d->prng, o->dup) ? 2 : 1;
    if (copies == 2) d->duplicated++;
    for (int c = 0; c < copies; c++) {
      bool corrupt = chance(&d->prng, o->corrupt);
      hold(h, o, d, order, seq, buf, len, corrupt);
    }
  }
}

static void send_frame(struct held* x) {
  struct direction* d = x->dir;
  struct sockaddr_ll to = {0};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = d->out_ifindex;
  to.sll_halen = ETH_ALEN;
  memcpy(to.sll_addr, x->data, ETH_ALEN);
  for (int tries = 0; tries < 100; tries++) {
    ssize_t n = sendto(d->out_fd, x->data, x->len, 0, (struct sockaddr*)&to, sizeof to);
    if (n == (ssize_t)x->len) {
      d->forwarded++;
      if (x->seq + 1 < d->max_sent_seq) d->reordered++;
      if (x->seq + 1 > d->max_sent_seq) d->max_sent_seq = x->seq + 1;
      return;
    }
    /* A full send buffer: wait for room briefly rather than drop. */
    if (n < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
      struct pollfd p = {d->out_fd, POLLOUT, 0};
      (void)poll(&p, 1, 1);
      continue;
    }
    break;
  }
  d->send_errors++;
}

static void print_counters(const struct direction* d) {
  printf(
      "%s: received=%llu forwarded=%llu lost=%llu duplicated=%llu corrupted=%llu "
      "not_corruptible=%llu reordered=%llu oversize=%llu csum_partial=%llu queue_full=%llu "
      "send_errors=%llu pending_at_exit=%llu largest=%llu\n",
      d->name, (unsigned long long)d->received, (unsigned long long)d->forwarded,
      (unsigned long long)d->lost, (unsigned long long)d->duplicated,
      (unsigned long long)d->corrupted, (unsigned long long)d->not_corruptible,
      (unsigned long long)d->reordered, (unsigned long long)d->oversize,
      (unsigned long long)d->csum_partial, (unsigned long long)d->queue_full,
      (unsigned long long)d->send_errors, (unsigned long long)d->pending_at_exit,
      (unsigned long long)d->largest);
}

static int usage(void) {
  fprintf(stderr,
          "usage: impair_relay --if-a IF --if-b IF [--seed N] [--loss PCT] [--dup PCT]\n"
          "                    [--corrupt PCT] [--delay-ms MS] [--jitter-ms MS]\n"
          "                    [--duration-s S] [--max-frame BYTES] [--queue FRAMES]\n");
  return 2;
}

static double number(const char* name, const char* s, double lo, double hi) {
  char* end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
    fprintf(stderr, "impair_relay: --%s: want a number from %g to %g, not '%s'\n", name, lo, hi, s);
    exit(2);
  }
  return v;
}

int main(int argc, char** argv) {
  struct options o = {.seed = 1, .duration_s = 600, .max_frame = 1518, .queue = 1 << 16};
  static const struct option longopts[] = {
      {"if-a", required_argument, 0, 'a'},       {"if-b", required_argument, 0, 'b'},
      {"seed", required_argument, 0, 's'},       {"loss", required_argument, 0, 'l'},
      {"dup", required_argument, 0, 'u'},        {"corrupt", required_argument, 0, 'c'},
      {"delay-ms", required_argument, 0, 'd'},   {"jitter-ms", required_argument, 0, 'j'},
      {"duration-s", required_argument, 0, 't'}, {"max-frame", required_argument, 0, 'm'},
      {"queue", required_argument, 0, 'q'},      {0, 0, 0, 0},
  };
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
      case 'a':
        o.if_a = optarg;
        break;
      case 'b':
        o.if_b = optarg;
        break;
      case 's':
        o.seed = (uint64_t)number("seed", optarg, 0, 1.8e19);
        break;
      case 'l':
        o.loss = number("loss", optarg, 0, 100);
        break;
      case 'u':
        o.dup = number("dup", optarg, 0, 100);
        break;
      case 'c':
        o.corrupt = number("corrupt", optarg, 0, 100);
        break;
      case 'd':
        o.delay_ms = number("delay-ms", optarg, 0, 10000);
        break;
      case 'j':
        o.jitter_ms = number("jitter-ms", optarg, 0, 10000);
        break;
      case 't':
        o.duration_s = number("duration-s", optarg, 0.1, 86400);
        break;
      case 'm':
        o.max_frame = (size_t)number("max-frame", optarg, 60, 65535);
        break;
      case 'q':
        o.queue = (size_t)number("queue", optarg, 16, 1 << 22);
        break;
      default:
        return usage();
    }
  }
  if (optind != argc || o.if_a == NULL || o.if_b == NULL) return usage();

  /* SIGTERM/SIGINT are blocked except inside ppoll, so a signal can only
   * arrive where the loop checks for it. */
  sigset_t block, waitmask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  int ifa, ifb;
  int fda = open_port(o.if_a, &ifa);
  int fdb = open_port(o.if_b, &ifb);
  struct direction ab = {.name = "a->b", .in_fd = fda, .out_fd = fdb, .out_ifindex = ifb};
  struct direction ba = {.name = "b->a", .in_fd = fdb, .out_fd = fda, .out_ifindex = ifa};
  uint64_t seed_state = o.seed;
  ab.prng = splitmix64(&seed_state);
  ba.prng = splitmix64(&seed_state);

  struct heap h = {calloc(o.queue, sizeof(struct held)), 0, o.queue};
  if (h.v == NULL) die("calloc", strerror(errno));
  uint64_t order = 0;
  const int64_t deadline = now_ns() + (int64_t)(o.duration_s * 1e9);
  printf("impair_relay: ready %s<->%s seed=%llu loss=%g%% dup=%g%% corrupt=%g%% delay=%g±%gms\n",
         o.if_a, o.if_b, (unsigned long long)o.seed, o.loss, o.dup, o.corrupt, o.delay_ms,
         o.jitter_ms);
  fflush(stdout);

  const char* why = "duration reached";
  while (!stop_signal) {
    int64_t now = now_ns();
    if (now >= deadline) break;
    while (h.n > 0 && h.v[0].release_ns <= now) {
      struct held x = heap_pop(&h);
      send_frame(&x);
      free(x.data);
    }
    int64_t wait = deadline - now;
    if (h.n > 0 && h.v[0].release_ns - now < wait) wait = h.v[0].release_ns - now;
    struct timespec ts = {wait / NSEC_PER_SEC, wait % NSEC_PER_SEC};
    struct pollfd p[2] = {{fda, POLLIN, 0}, {fdb, POLLIN, 0}};
    int r = ppoll(p, 2, &ts, &waitmask);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("ppoll", strerror(errno));
    }
    if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) die(o.if_a, "interface went away");
    if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) die(o.if_b, "interface went away");
    if (p[0].revents & POLLIN) receive(&h, &o, &ab, &order);
    if (p[1].revents & POLLIN) receive(&h, &o, &ba, &order);
  }
  if (stop_signal) why = stop_signal == SIGTERM ? "SIGTERM" : "SIGINT";
  while (h.n > 0) {
    struct held x = heap_pop(&h);
    x.dir->pending_at_exit++;
    free(x.data);
  }
  free(h.v);
  printf("impair_relay: exit (%s)\n", why);
  print_counters(&ab);
  print_counters(&ba);
  fflush(stdout);
  close(fda);
  close(fdb);
  return 0;
}
