// process/multicast_test.cc — issue 4's multicast options and tcpip
// reuseport_unicast end to end: a real io-pkt, this binary as a libiopkt
// client. Group membership, IP_MULTICAST_IF and a datagram to a group over
// lo0 (the option structures cross the control protocol as Linux lays
// them out); with reuseport_unicast every SO_REUSEPORT socket on a port
// gets a unicast datagram, without it one does.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

class ProcessMulticast : public ProcessTest {
 protected:
  void start(const std::string& tcpip_extra) {
    run_ = start_instance(4, 1, path("a"), {}, tcpip_extra);
    ASSERT_TRUE(run_.start.ok()) << run_.start.describe();
    setenv("SOCK", path("a").c_str(), 1);
  }
  void TearDown() override {
    for (int fd : fds_) {
      iopkt_close(fd);
    }
    iopkt_disconnect();
    unsetenv("SOCK");
    ProcessTest::TearDown();
  }
  int udp_socket() {
    int fd = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
    if (fd >= 0) {
      fds_.push_back(fd);
    }
    return fd;
  }
  // A socket with SO_REUSEPORT bound to 127.0.0.1:port (0: the stack picks).
  int reuseport_socket(uint16_t* port) {
    int s = udp_socket();
    EXPECT_GE(s, 0) << iopkt_last_error();
    int one = 1;
    EXPECT_EQ(iopkt_setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    sockaddr_in a = inet4("127.0.0.1", *port);
    EXPECT_EQ(iopkt_bind(s, as_sa(a), sizeof a), 0) << iopkt_last_error();
    socklen_t len = sizeof a;
    EXPECT_EQ(iopkt_getsockname(s, as_sa(a), &len), 0);
    *port = ntohs(a.sin_port);
    return s;
  }
  // Whether a datagram arrives on `fd` within `ms`; reads it into `got`.
  bool receives(int fd, int ms, std::string* got = nullptr) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1) {
      return false;
    }
    char buf[256];
    ssize_t n = iopkt_recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, nullptr, nullptr);
    if (n < 0) {
      return false;
    }
    if (got != nullptr) {
      got->assign(buf, static_cast<size_t>(n));
    }
    return true;
  }
  size_t count_receivers(uint16_t port, int sockets) {
    std::vector<int> rx;
    for (int i = 0; i < sockets; ++i) {
      rx.push_back(reuseport_socket(&port));
    }
    int tx = udp_socket();
    sockaddr_in to = inet4("127.0.0.1", port);
    const char msg[] = "unicast";
    EXPECT_EQ(iopkt_sendto(tx, msg, sizeof msg, 0, as_sa(to), sizeof to),
              static_cast<ssize_t>(sizeof msg))
        << iopkt_last_error();
    size_t n = 0;
    for (int fd : rx) {
      n += receives(fd, 1000) ? 1 : 0;
    }
    return n;
  }

  IoPktRun run_;
  std::vector<int> fds_;
};

TEST_F(ProcessMulticast, JoinOnLo0AndReceiveOwnGroupDatagram) {
  ASSERT_NO_FATAL_FAILURE(start(""));
  int rx = udp_socket();
  ASSERT_GE(rx, 0) << iopkt_last_error();
  sockaddr_in any = inet4("0.0.0.0", 0);
  ASSERT_EQ(iopkt_bind(rx, as_sa(any), sizeof any), 0) << iopkt_last_error();
  socklen_t len = sizeof any;
  ASSERT_EQ(iopkt_getsockname(rx, as_sa(any), &len), 0);
  uint16_t port = ntohs(any.sin_port);
  ip_mreqn m{};
  inet_pton(AF_INET, "239.7.7.7", &m.imr_multiaddr);
  inet_pton(AF_INET, "127.0.0.1", &m.imr_address);
  ASSERT_EQ(iopkt_setsockopt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m), 0)
      << iopkt_last_error();
  errno = 0;
  EXPECT_EQ(iopkt_setsockopt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m), -1);
  EXPECT_EQ(errno, EADDRINUSE);

  int tx = udp_socket();
  in_addr lo{};
  inet_pton(AF_INET, "127.0.0.1", &lo);
  ASSERT_EQ(iopkt_setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo), 0)
      << iopkt_last_error();
  unsigned char ttl = 3;
  ASSERT_EQ(iopkt_setsockopt(tx, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl), 0);
  int got_ttl = 0;
  socklen_t tl = sizeof got_ttl;
  ASSERT_EQ(iopkt_getsockopt(tx, IPPROTO_IP, IP_MULTICAST_TTL, &got_ttl, &tl), 0);
  EXPECT_EQ(got_ttl, 3);
  sockaddr_in group = inet4("239.7.7.7", port);
  const char msg[] = "to the group";
  ASSERT_EQ(iopkt_sendto(tx, msg, sizeof msg, 0, as_sa(group), sizeof group),
            static_cast<ssize_t>(sizeof msg))
      << iopkt_last_error();
  std::string got;
  ASSERT_TRUE(receives(rx, 5000, &got)) << "the group datagram did not arrive";
  EXPECT_EQ(got, std::string(msg, sizeof msg));

  // Left: the next one is not for us.
  ASSERT_EQ(iopkt_setsockopt(rx, IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m), 0);
  ASSERT_EQ(iopkt_sendto(tx, msg, sizeof msg, 0, as_sa(group), sizeof group),
            static_cast<ssize_t>(sizeof msg));
  EXPECT_FALSE(receives(rx, 300));
  auto notmember = sysctl_get(path("a"), "net.inet.ip.stats.notmember");
  ASSERT_TRUE(notmember.has_value());
  EXPECT_EQ(*notmember, "1");
}

TEST_F(ProcessMulticast, ReuseportUnicastDeliversToEverySocket) {
  ASSERT_NO_FATAL_FAILURE(start("reuseport_unicast"));
  auto v = sysctl_get(path("a"), "qnx.tcpip.reuseport_unicast");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "1");
  EXPECT_EQ(count_receivers(0, 3), 3u);
}

TEST_F(ProcessMulticast, WithoutReuseportUnicastOneSocketGetsIt) {
  ASSERT_NO_FATAL_FAILURE(start(""));
  EXPECT_EQ(count_receivers(0, 3), 1u);
}

}  // namespace
}  // namespace iopkt::test
