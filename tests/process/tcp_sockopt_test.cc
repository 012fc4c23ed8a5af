// process/tcp_sockopt_test.cc — Linux's TCP options as real programs set
// them (dig +tcp: TCP_USER_TIMEOUT; nginx: TCP_CORK, TCP_DEFER_ACCEPT),
// through libiopkt to a running io-pkt over 127.0.0.1: they round-trip,
// do what tcp(7) says, and Fast Open is refused rather than ignored.
// tests/netinet/tcp_sockopt_linux_test.cc checks the segments.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

class ProcessTcpSockopt : public ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    signal(SIGPIPE, SIG_IGN);
    run_ = start_instance(4, 1, path("a"), {});
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
  int tcp_socket(int flags = 0) {
    int fd = iopkt_socket(AF_INET, SOCK_STREAM | flags, 0);
    if (fd >= 0) {
      fds_.push_back(fd);
      timeval tv{20, 0};  // bound every blocking wait of the test
      iopkt_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      iopkt_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
  }
  int set_int(int fd, int name, int v) {
    return iopkt_setsockopt(fd, IPPROTO_TCP, name, &v, sizeof v);
  }
  int get_int(int fd, int name) {
    int v = -1;
    socklen_t len = sizeof v;
    EXPECT_EQ(iopkt_getsockopt(fd, IPPROTO_TCP, name, &v, &len), 0) << strerror(errno);
    EXPECT_EQ(len, sizeof v);
    return v;
  }
  // A listener on 127.0.0.1 at a port the stack picks; `before` runs on it
  // before listen.
  template <class F>
  int listener(sockaddr_in* addr, F before) {
    int s = tcp_socket(SOCK_NONBLOCK);
    EXPECT_GE(s, 0) << iopkt_last_error();
    before(s);
    sockaddr_in any = inet4("127.0.0.1", 0);
    EXPECT_EQ(iopkt_bind(s, as_sa(any), sizeof any), 0) << iopkt_last_error();
    EXPECT_EQ(iopkt_listen(s, 16), 0) << iopkt_last_error();
    socklen_t len = sizeof *addr;
    EXPECT_EQ(iopkt_getsockname(s, as_sa(*addr), &len), 0) << iopkt_last_error();
    return s;
  }
  // accept on the non-blocking listener, retried for up to `ms`.
  int accept_within(int lfd, int ms) {
    for (int i = 0; i <= ms / 10; ++i) {
      int fd = iopkt_accept(lfd, nullptr, nullptr);
      if (fd >= 0) {
        fds_.push_back(fd);
        timeval tv{20, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
      }
      EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << strerror(errno);
      usleep(10 * 1000);
    }
    return -1;
  }
  std::string read_n(int fd, size_t n) {
    std::string got;
    char buf[256];
    while (got.size() < n) {
      ssize_t r = iopkt_recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        break;
      }
      got.append(buf, static_cast<size_t>(r));
    }
    return got;
  }

  IoPktRun run_;
  std::vector<int> fds_;
};

// setsockopt/getsockopt round-trip through libiopkt and the stack.
TEST_F(ProcessTcpSockopt, OptionsRoundTrip) {
  int fd = tcp_socket();
  ASSERT_GE(fd, 0) << iopkt_last_error();
  EXPECT_EQ(get_int(fd, TCP_USER_TIMEOUT), 0);
  ASSERT_EQ(set_int(fd, TCP_USER_TIMEOUT, 15000), 0) << strerror(errno);
  EXPECT_EQ(get_int(fd, TCP_USER_TIMEOUT), 15000);
  EXPECT_EQ(set_int(fd, TCP_USER_TIMEOUT, -1), -1);
  EXPECT_EQ(errno, EINVAL);

  EXPECT_EQ(get_int(fd, TCP_CORK), 0);
  ASSERT_EQ(set_int(fd, TCP_CORK, 1), 0) << strerror(errno);
  EXPECT_EQ(get_int(fd, TCP_CORK), 1);
  ASSERT_EQ(set_int(fd, TCP_CORK, 0), 0) << strerror(errno);
  EXPECT_EQ(get_int(fd, TCP_CORK), 0);

  EXPECT_EQ(get_int(fd, TCP_DEFER_ACCEPT), 0);
  ASSERT_EQ(set_int(fd, TCP_DEFER_ACCEPT, 30), 0) << strerror(errno);
  EXPECT_EQ(get_int(fd, TCP_DEFER_ACCEPT), 30);
}

// Fast Open is not implemented: a clear ENOPROTOOPT, not silence.
TEST_F(ProcessTcpSockopt, FastOpenRefused) {
  int fd = tcp_socket();
  ASSERT_GE(fd, 0) << iopkt_last_error();
  EXPECT_EQ(set_int(fd, TCP_FASTOPEN, 5), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  EXPECT_EQ(set_int(fd, TCP_FASTOPEN_CONNECT, 1), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
}

// nginx's "listen ... deferred": the connection is accepted only once its
// first bytes came; a corked write reaches the peer when uncorked.
TEST_F(ProcessTcpSockopt, DeferAcceptAndCorkOverLoopback) {
  sockaddr_in addr{};
  int l = listener(&addr, [&](int s) { ASSERT_EQ(set_int(s, TCP_DEFER_ACCEPT, 30), 0); });
  int c = tcp_socket();
  ASSERT_GE(c, 0);
  ASSERT_EQ(iopkt_connect(c, as_sa(addr), sizeof addr), 0) << iopkt_last_error();
  EXPECT_EQ(accept_within(l, 300), -1) << "accepted before any data came";
  ASSERT_EQ(iopkt_send(c, "GET /", 5, 0), 5) << strerror(errno);
  int s = accept_within(l, 5000);
  ASSERT_GE(s, 0) << "not acceptable after its data";
  EXPECT_EQ(read_n(s, 5), "GET /");

  // The server corks, writes a header and a body, uncorks: all arrive.
  ASSERT_EQ(set_int(s, TCP_CORK, 1), 0) << strerror(errno);
  ASSERT_EQ(iopkt_send(s, "HTTP/1.0 200\r\n\r\n", 16, 0), 16);
  ASSERT_EQ(iopkt_send(s, "body", 4, 0), 4);
  ASSERT_EQ(set_int(s, TCP_CORK, 0), 0) << strerror(errno);
  EXPECT_EQ(read_n(c, 20), "HTTP/1.0 200\r\n\r\nbody");
}

}  // namespace
}  // namespace iopkt::test
