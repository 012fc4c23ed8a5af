// process/udp_lo0_test.cc — the data path of issue 3, end to end: this test
// binary links libiopkt (include/iopkt/iopkt.h) and, with SOCK pointing at
// an io-pkt it started, echoes UDP datagrams over 127.0.0.1 through the
// stack's lo0: poll() readiness on the socket descriptor, a blocking
// recvfrom in another thread woken by the reply, the names calls,
// non-blocking EAGAIN, 100 datagrams of 1..16000 bytes intact and in order,
// and the stack's UDP counters moving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

std::string show(const sockaddr_in& sa) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(sa.sin_port));
}

// A payload whose bytes depend on its index and position, so that a
// datagram swapped, cut or mixed with another shows.
std::vector<uint8_t> pattern(size_t len, uint32_t seed) {
  std::vector<uint8_t> v(len);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

class ProcessUdpLo0 : public ProcessTest {
 protected:
  void start(int variant) {
    run_ = start_instance(variant, 1, path("a"));
    ASSERT_TRUE(run_.start.ok()) << run_.start.describe();
    // Before the first call that needs the stack: libiopkt reads SOCK then.
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
  int udp_socket(int flags = 0) {
    int fd = iopkt_socket(AF_INET, SOCK_DGRAM | flags, 0);
    if (fd >= 0) {
      fds_.push_back(fd);
      // Bound every blocking wait of the test (a kernel timeout on the
      // channel, which libiopkt keeps local).
      timeval tv{10, 0};
      iopkt_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
  }
  uint64_t udp_ipackets() {
    auto v = sysctl_get(path("a"), "net.inet.udp.stats.ipackets");
    EXPECT_TRUE(v.has_value()) << "no sysctl net.inet.udp.stats.ipackets";
    return v ? std::strtoull(v->c_str(), nullptr, 10) : 0;
  }
  // A server bound to 127.0.0.1 on a port the stack picks; its address.
  int bound_server(sockaddr_in* addr) {
    int s = udp_socket();
    EXPECT_GE(s, 0) << iopkt_last_error();
    sockaddr_in any = loopback(0);
    EXPECT_EQ(iopkt_bind(s, as_sa(any), sizeof any), 0) << iopkt_last_error();
    socklen_t len = sizeof *addr;
    EXPECT_EQ(iopkt_getsockname(s, as_sa(*addr), &len), 0) << iopkt_last_error();
    EXPECT_EQ(len, sizeof(sockaddr_in));
    return s;
  }

  IoPktRun run_;
  std::vector<int> fds_;
};

TEST_F(ProcessUdpLo0, EchoWithPollAndBlockingRecvfrom) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  sockaddr_in server_addr{};
  int server = bound_server(&server_addr);
  ASSERT_GE(server, 0);
  EXPECT_EQ(server_addr.sin_family, AF_INET);
  EXPECT_EQ(server_addr.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  ASSERT_NE(server_addr.sin_port, 0) << "no port assigned at bind to port 0";
  int client = udp_socket();
  ASSERT_GE(client, 0) << iopkt_last_error();
  uint64_t ipackets_before = udp_ipackets();

  // Nothing to read yet: poll says so without waiting.
  pollfd p{server, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 0), 0) << "POLLIN before anything was sent";

  const char ping[] = "ping over lo0";
  ASSERT_EQ(iopkt_sendto(client, ping, sizeof ping, 0, as_sa(server_addr), sizeof server_addr),
            static_cast<ssize_t>(sizeof ping))
      << iopkt_last_error();
  p = {server, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1) << "no POLLIN within 5 s of the send";
  EXPECT_TRUE(p.revents & POLLIN);

  char buf[256];
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  ssize_t n = iopkt_recvfrom(server, buf, sizeof buf, 0, as_sa(from), &from_len);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof ping)) << iopkt_last_error();
  EXPECT_EQ(std::memcmp(buf, ping, sizeof ping), 0);
  ASSERT_EQ(from_len, sizeof(sockaddr_in));
  EXPECT_EQ(from.sin_family, AF_INET);
  EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK)) << show(from);
  // The client's implicit bind: its own name is where the datagram came from.
  sockaddr_in client_addr{};
  socklen_t len = sizeof client_addr;
  ASSERT_EQ(iopkt_getsockname(client, as_sa(client_addr), &len), 0) << iopkt_last_error();
  EXPECT_NE(client_addr.sin_port, 0);
  EXPECT_EQ(client_addr.sin_port, from.sin_port) << show(client_addr) << " vs " << show(from);
  // Read: nothing left.
  p = {server, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);

  // The client blocks in recvfrom on another thread; the reply wakes it.
  std::atomic<bool> returned{false};
  std::promise<std::pair<ssize_t, std::string>> got;
  auto fut = got.get_future();
  std::thread waiter([&] {
    char rbuf[256];
    sockaddr_in rfrom{};
    socklen_t rlen = sizeof rfrom;
    ssize_t r = iopkt_recvfrom(client, rbuf, sizeof rbuf, 0, as_sa(rfrom), &rlen);
    returned = true;
    got.set_value({r, r > 0 ? std::string(rbuf, static_cast<size_t>(r)) + "|" + show(rfrom)
                            : std::string(std::strerror(errno))});
  });
  // Give it time to block; it must not return before the reply.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(returned.load()) << "recvfrom returned before anything was sent";
  const char pong[] = "pong";
  ASSERT_EQ(iopkt_sendto(server, pong, sizeof pong - 1, 0, as_sa(from), from_len), 4)
      << iopkt_last_error();
  bool woke = fut.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!woke) {
    ::shutdown(client, SHUT_RDWR);  // unblock the thread so the test can end
  }
  waiter.join();
  ASSERT_TRUE(woke) << "the blocking recvfrom was not woken by the reply within 5 s";
  auto [r, text] = fut.get();
  EXPECT_EQ(r, 4);
  EXPECT_EQ(text, "pong|" + show(server_addr));

  EXPECT_GE(udp_ipackets(), ipackets_before + 2) << "net.inet.udp.stats.ipackets did not grow";
}

TEST_F(ProcessUdpLo0, NamesAndConnect) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  sockaddr_in server_addr{};
  int server = bound_server(&server_addr);
  int client = udp_socket();
  ASSERT_GE(client, 0);
  // Unbound, unconnected: 0.0.0.0:0, and no peer.
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(iopkt_getsockname(client, as_sa(a), &len), 0) << iopkt_last_error();
  EXPECT_EQ(a.sin_port, 0);
  EXPECT_EQ(a.sin_addr.s_addr, htonl(INADDR_ANY));
  len = sizeof a;
  EXPECT_EQ(iopkt_getpeername(client, as_sa(a), &len), -1);
  EXPECT_EQ(errno, ENOTCONN);

  ASSERT_EQ(iopkt_connect(client, as_sa(server_addr), sizeof server_addr), 0) << iopkt_last_error();
  len = sizeof a;
  ASSERT_EQ(iopkt_getpeername(client, as_sa(a), &len), 0) << iopkt_last_error();
  EXPECT_EQ(a.sin_port, server_addr.sin_port);
  EXPECT_EQ(a.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  // connect bound the client: a local address and port.
  len = sizeof a;
  ASSERT_EQ(iopkt_getsockname(client, as_sa(a), &len), 0);
  EXPECT_NE(a.sin_port, 0);
  EXPECT_EQ(a.sin_addr.s_addr, htonl(INADDR_LOOPBACK)) << show(a);

  // send() without an address goes to the peer.
  ASSERT_EQ(iopkt_send(client, "abc", 3, 0), 3) << iopkt_last_error();
  char buf[16];
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  ASSERT_EQ(iopkt_recvfrom(server, buf, sizeof buf, 0, as_sa(from), &from_len), 3)
      << iopkt_last_error();
  EXPECT_EQ(from.sin_port, a.sin_port);

  // A second bind of the server's address is refused.
  int other = udp_socket();
  ASSERT_GE(other, 0);
  EXPECT_EQ(iopkt_bind(other, as_sa(server_addr), sizeof server_addr), -1);
  EXPECT_EQ(errno, EADDRINUSE);

  // Dissolving the association (AF_UNSPEC): no peer any more.
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_EQ(iopkt_connect(client, &unspec, sizeof unspec), 0) << iopkt_last_error();
  len = sizeof a;
  EXPECT_EQ(iopkt_getpeername(client, as_sa(a), &len), -1);
  EXPECT_EQ(errno, ENOTCONN);
}

TEST_F(ProcessUdpLo0, NonBlockingReceiveGivesEagain) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  sockaddr_in server_addr{};
  int server = bound_server(&server_addr);
  char buf[8];
  EXPECT_EQ(iopkt_recv(server, buf, sizeof buf, MSG_DONTWAIT), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
  int nb = udp_socket(SOCK_NONBLOCK);
  ASSERT_GE(nb, 0);
  sockaddr_in from{};
  socklen_t from_len = sizeof from;
  EXPECT_EQ(iopkt_recvfrom(nb, buf, sizeof buf, 0, as_sa(from), &from_len), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
  // Then with data, the same non-blocking call succeeds.
  int client = udp_socket();
  ASSERT_EQ(iopkt_sendto(client, "x", 1, 0, as_sa(server_addr), sizeof server_addr), 1);
  pollfd p{server, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_EQ(iopkt_recv(server, buf, sizeof buf, MSG_DONTWAIT), 1);
}

TEST_F(ProcessUdpLo0, HundredDatagramsIntactAndInOrder) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  sockaddr_in server_addr{};
  int server = bound_server(&server_addr);
  int client = udp_socket();
  ASSERT_GE(client, 0);
  uint64_t before = udp_ipackets();
  constexpr int kCount = 100;
  constexpr int kBatch = 5;  // well inside the socket buffers: no drop is legitimate
  std::vector<uint8_t> buf(20000);
  for (int first = 0; first < kCount; first += kBatch) {
    for (int i = first; i < first + kBatch; ++i) {
      // 1 and 16000 bytes, and sizes spread between.
      size_t size = i == 0 ? 1 : i == kCount - 1 ? 16000 : 1 + (i * 7919u) % 16000;
      auto data = pattern(size, static_cast<uint32_t>(i));
      ASSERT_EQ(
          iopkt_sendto(client, data.data(), data.size(), 0, as_sa(server_addr), sizeof server_addr),
          static_cast<ssize_t>(size))
          << "datagram " << i << ": " << iopkt_last_error();
    }
    for (int i = first; i < first + kBatch; ++i) {
      size_t size = i == 0 ? 1 : i == kCount - 1 ? 16000 : 1 + (i * 7919u) % 16000;
      pollfd p{server, POLLIN, 0};
      ASSERT_EQ(poll(&p, 1, 5000), 1) << "datagram " << i << " did not arrive within 5 s";
      msghdr m{};
      iovec iov{buf.data(), buf.size()};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      ssize_t n = iopkt_recvmsg(server, &m, 0);
      ASSERT_EQ(n, static_cast<ssize_t>(size)) << "datagram " << i << ": " << iopkt_last_error();
      EXPECT_EQ(m.msg_flags & MSG_TRUNC, 0);
      auto want = pattern(size, static_cast<uint32_t>(i));
      ASSERT_EQ(std::memcmp(buf.data(), want.data(), size), 0)
          << "datagram " << i << " (" << size << " bytes) corrupted or out of order";
    }
  }
  EXPECT_GE(udp_ipackets(), before + kCount);
}

TEST_F(ProcessUdpLo0, TruncationAsLinux) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  sockaddr_in server_addr{};
  int server = bound_server(&server_addr);
  int client = udp_socket();
  auto data = pattern(1000, 7);
  ASSERT_EQ(
      iopkt_sendto(client, data.data(), data.size(), 0, as_sa(server_addr), sizeof server_addr),
      1000);
  uint8_t small[10];
  iovec iov{small, sizeof small};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ASSERT_EQ(iopkt_recvmsg(server, &m, 0), 10);
  EXPECT_NE(m.msg_flags & MSG_TRUNC, 0);
  EXPECT_EQ(std::memcmp(small, data.data(), 10), 0);
  // The rest of that datagram is gone.
  EXPECT_EQ(iopkt_recv(server, small, sizeof small, MSG_DONTWAIT), -1);
}

TEST_F(ProcessUdpLo0, Inet6SocketsOnV4AreRefused) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  // SPEC §1: io-pkt-v4-hc is IPv4 only.
  EXPECT_EQ(iopkt_socket(AF_INET6, SOCK_DGRAM, 0), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
}

TEST_F(ProcessUdpLo0, Inet6SocketsOnV6NotYet) {
  ASSERT_NO_FATAL_FAILURE(start(6));
  // io-pkt-v6-hc will take AF_INET6 sockets, but the IPv6 transport (UDP and
  // TCP over ip6, the sockaddr_in6 paths of the channel) comes with the IPv6
  // issue; until then the stack refuses them as a v4-only stack would,
  // rather than making a socket that cannot carry anything. When that issue
  // lands, this test becomes a UDP echo over ::1.
  EXPECT_EQ(iopkt_socket(AF_INET6, SOCK_DGRAM, 0), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
  // IPv4 on v6-hc works.
  int s = udp_socket();
  ASSERT_GE(s, 0) << iopkt_last_error();
}

TEST_F(ProcessUdpLo0, StackGoneIsReported) {
  ASSERT_NO_FATAL_FAILURE(start(4));
  sockaddr_in server_addr{};
  int server = bound_server(&server_addr);
  ASSERT_GE(server, 0);
  kill_io_pkt(run_.pid);
  // The socket's channel ends: a blocking receive returns at once with an
  // error instead of hanging.
  char buf[8];
  EXPECT_EQ(iopkt_recv(server, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  // A new socket: the library names the endpoint it tried.
  EXPECT_EQ(iopkt_socket(AF_INET, SOCK_DGRAM, 0), -1);
  EXPECT_NE(std::string(iopkt_last_error()).find(endpoint_of(path("a"))), std::string::npos)
      << iopkt_last_error();
}

}  // namespace
}  // namespace iopkt::test
