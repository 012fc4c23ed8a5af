// utils/ping — ICMP echo through a stack (SPEC §4, issue 4), NetBSD's
// ping(8) as io-pkt ships it: -c count, -i interval, -s packetsize, -t tos,
// -T ttl, -w deadline, -q, -n, -o, plus -W waittime (milliseconds to wait
// for the last reply; the issue names it, NetBSD has no such option and
// waits max(2 x the slowest reply, 10 x the interval)). Output and exit
// status are NetBSD's: "PING host (addr): 56 data bytes", one line per
// reply, the "----host PING Statistics----" summary; 0 when a reply came,
// 2 when none did, 1 on a usage or set-up error.
//
// The requests go out through the stack's raw ICMP socket (SOCK_RAW,
// IPPROTO_ICMP), which hands every ICMP packet in with its IP header, as
// BSD's do; ping keeps the replies to its identifier (pid & 0xffff) and the
// errors that quote its requests. A datagram sent through a libiopkt
// channel returns before the stack routes it, so an error from the stack
// ("No route to host") is the socket's pending error: it is read with
// SO_ERROR after each send and printed as NetBSD's "ping: sendto: ...".
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/iopkt.h"

namespace {

volatile sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

double now_seconds(timespec* ts_out = nullptr) {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (ts_out != nullptr) {
    *ts_out = ts;
  }
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Pinger {
  iopkt::fmt::PingOptions opt;
  std::string hostname;  // as typed, or the resolved name
  sockaddr_in to{};
  int fd = -1;
  uint16_t ident = 0;
  // An ICMP echo ("ping") socket instead of a raw one, for users without
  // CAP_NET_RAW (as iputils' ping on Linux): replies come without their IP
  // header, and the stack owns the identifier.
  bool echo_socket = false;
  iopkt::fmt::PingStats stats;
  std::bitset<65536> seen;  // NetBSD's rcvd_tbl: duplicates
  bool timed = false;
  double last_tx = 0;

  void send_one() {
    timespec ts;
    now_seconds(&ts);
    uint16_t seq = static_cast<uint16_t>(stats.transmitted);
    std::vector<uint8_t> pkt =
        iopkt::fmt::ping_echo_request(ident, seq, opt.datalen, ts.tv_sec, ts.tv_nsec);
    seen.reset(seq);
    ssize_t n =
        iopkt_sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    int err = n < 0 ? errno : 0;
    if (err == 0) {
      // The stack reports routing failures as the socket's pending error;
      // asking for it makes the stack process the datagram first.
      int so_error = 0;
      socklen_t len = sizeof so_error;
      if (iopkt_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 && so_error != 0) {
        err = so_error;
      }
    }
    if (err != 0) {
      fprintf(stderr, "ping: sendto: %s\n", strerror(err));
      fflush(stderr);
    } else if (n >= 0 && static_cast<size_t>(n) != pkt.size()) {
      fprintf(stderr, "ping: wrote %s %zu chars, ret=%zd\n", hostname.c_str(), pkt.size(), n);
    }
    ++stats.transmitted;
    last_tx = now_seconds();
  }

  void receive_one() {
    std::vector<uint8_t> buf(static_cast<size_t>(opt.datalen) + 60 + 76 + 64);
    sockaddr_in from{};
    socklen_t fromlen = sizeof from;
    ssize_t n = iopkt_recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &fromlen);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        fprintf(stderr, "ping: recvfrom: %s\n", strerror(errno));
      }
      return;
    }
    timespec rx;
    now_seconds(&rx);
    buf.resize(static_cast<size_t>(n));
    if (echo_socket) {
      // Put a minimal IP header in front, so one parser serves both; the
      // TTL is not known here (no IP_RECVTTL yet) and shows as 0.
      if (buf.size() < 8) {
        return;
      }
      std::vector<uint8_t> withip(20 + buf.size(), 0);
      withip[0] = 0x45;
      memcpy(&withip[12], &from.sin_addr, 4);
      std::copy(buf.begin(), buf.end(), withip.begin() + 20);
      buf.swap(withip);
      ident = static_cast<uint16_t>(buf[24] << 8 | buf[25]);  // the stack filtered by it
    }
    iopkt::fmt::PingPacket p = iopkt::fmt::ping_parse(buf, ident);
    char addr[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &from.sin_addr, addr, sizeof addr);
    if (p.kind == iopkt::fmt::PingPacket::kEchoReply) {
      bool dup = seen.test(p.seq);
      if (dup) {
        ++stats.repeats;
      } else {
        seen.set(p.seq);
        ++stats.received;
      }
      double rtt = 0;
      if (p.has_time) {
        rtt =
            static_cast<double>(rx.tv_sec - p.sec) + static_cast<double>(rx.tv_nsec - p.nsec) / 1e9;
        if (rtt < 0) {
          rtt = 0;
        }
        stats.add_rtt(rtt);
      }
      if (!opt.quiet) {
        printf("%d bytes from %s: icmp_seq=%u%s ttl=%d", p.icmp_len, addr, p.seq,
               dup ? " DUP!" : "", p.ttl);
        if (p.has_time) {
          printf(" time=%.3f ms", rtt * 1000.0);
        }
        printf("\n");
        fflush(stdout);
      }
    } else if (p.kind == iopkt::fmt::PingPacket::kError && !opt.quiet) {
      printf("%d bytes from %s: %s\n", p.icmp_len, addr, p.error_text.c_str());
      fflush(stdout);
    }
  }

  // NetBSD doit(): send on schedule, read what comes, and after the last
  // request wait for the stragglers.
  int run() {
    double start = now_seconds();
    double deadline = opt.deadline > 0 ? start + opt.deadline : 0;
    double next_tx = start;
    int64_t npackets = opt.count > 0 ? opt.count : INT64_MAX;
    while (!g_interrupted) {
      double t = now_seconds();
      if (deadline != 0 && t >= deadline) {
        break;
      }
      double wait;
      if (stats.transmitted < npackets) {
        if (t >= next_tx - 0.0001) {
          send_one();
          // Keep to the schedule; a late start catches up by at most 100 ms.
          next_tx += opt.interval;
          if (next_tx < t - 0.1) {
            next_tx = t + opt.interval;
          }
          t = now_seconds();
        }
        wait = stats.transmitted < npackets ? next_tx - t : 0;
      } else {
        wait = 0;
      }
      if (stats.transmitted >= npackets) {
        double linger = opt.waittime_ms > 0 ? opt.waittime_ms / 1000.0
                                            : std::max(2 * stats.tmax, 10 * opt.interval);
        wait = linger - (t - last_tx);
        if (wait <= 0) {
          break;
        }
      }
      if (deadline != 0) {
        wait = std::min(wait, deadline - t);
      }
      if (wait < 0) {
        wait = 0;
      }
      pollfd pfd{fd, POLLIN, 0};
      int rc = poll(&pfd, 1, static_cast<int>(wait * 1000.0 + 0.5));
      if (rc < 0) {
        if (errno == EINTR) {
          continue;
        }
        fprintf(stderr, "ping: poll: %s\n", strerror(errno));
        break;
      }
      if (rc > 0) {
        receive_one();
      }
      if (stats.received >= npackets || (opt.once && stats.received > 0)) {
        break;
      }
    }
    fputs(iopkt::fmt::ping_summary(hostname, stats, timed).c_str(), stdout);
    fflush(stdout);
    return stats.received > 0 ? 0 : 2;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Pinger p;
  std::string err;
  if (!iopkt::fmt::parse_ping_args(args, &p.opt, &err)) {
    if (!err.empty()) {
      fprintf(stderr, "ping: %s\n", err.c_str());
      return 1;
    }
    fputs(iopkt::fmt::kPingUsage, stderr);
    return 1;
  }
  p.to.sin_family = AF_INET;
  p.hostname = p.opt.host;
  if (inet_aton(p.opt.host.c_str(), &p.to.sin_addr) == 0) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_RAW;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(p.opt.host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
      fprintf(stderr, "ping: Cannot resolve \"%s\" (%s)\n", p.opt.host.c_str(),
              rc != 0 ? gai_strerror(rc) : "no address");
      return 1;
    }
    p.to.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    freeaddrinfo(res);
  }
  if (iopkt_hello(nullptr) != 0) {
    fprintf(stderr, "ping: %s\n", iopkt_last_error());
    return 1;
  }
  p.fd = iopkt_socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (p.fd < 0 && (errno == EPERM || errno == EACCES)) {
    p.fd = iopkt_socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
    p.echo_socket = p.fd >= 0;
  }
  if (p.fd < 0) {
    fprintf(stderr, "ping: Cannot create socket: %s\n",
            iopkt::fmt::error_detail(errno, iopkt_last_error()).c_str());
    return 1;
  }
  if (p.opt.ttl > 0 &&
      iopkt_setsockopt(p.fd, IPPROTO_IP, IP_TTL, &p.opt.ttl, sizeof p.opt.ttl) != 0) {
    fprintf(stderr, "ping: Can't set time-to-live: %s\n", strerror(errno));
  }
  if (p.opt.tos >= 0 &&
      iopkt_setsockopt(p.fd, IPPROTO_IP, IP_TOS, &p.opt.tos, sizeof p.opt.tos) != 0) {
    fprintf(stderr, "ping: Can't set type of service: %s\n", strerror(errno));
  }
  p.ident = static_cast<uint16_t>(getpid() & 0xffff);
  p.timed = p.opt.datalen >= 16;
  char addr[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &p.to.sin_addr, addr, sizeof addr);
  printf("PING %s (%s): %d data bytes\n", p.hostname.c_str(), addr, p.opt.datalen);
  fflush(stdout);

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: poll() returns EINTR
  sigaction(SIGTERM, &sa, nullptr);
  int rc = p.run();
  iopkt_close(p.fd);
  return rc;
}
