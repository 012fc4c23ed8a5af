// TCP with both ends in the stack, over lo0: a megabyte moves intact, the
// connection closes both ways, and every packet buffer comes back.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

TEST(TcpLoopback, OneMegabyteIntact) {
  Scenario sc;
  Stack& s = sc.stack();
  uint64_t clusters_before = s.pool().stats().clusters_in_use;
  {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, IPPROTO_TCP).value();
    ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::loopback(), 8080)).ok());
    ASSERT_TRUE(s.so_listen(l, 4).ok());
    SocketId c = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_EQ(s.so_connect(c, SockAddr::inet(InAddr::loopback(), 8080)).error().value, EINPROGRESS);
    sc.advance(1ms);
    auto a = s.so_accept(l);
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(s.so_stream_status(c).value().connected);
    const auto data = pattern_bytes(1 << 20, 42);
    std::vector<std::byte> got;
    size_t sent = 0;
    for (int round = 0; round < 100000 && got.size() < data.size(); ++round) {
      if (sent < data.size()) {
        auto n = s.so_send_stream(
            c, std::span(data).subspan(sent, std::min<size_t>(65536, data.size() - sent)));
        if (n.ok()) {
          sent += *n;
        } else {
          ASSERT_EQ(n.error().value, EAGAIN);
        }
      }
      auto r = s.so_recv_stream(*a, 100000);
      if (r.ok()) {
        got.insert(got.end(), r->begin(), r->end());
      } else {
        ASSERT_EQ(r.error().value, EAGAIN);
      }
      sc.advance(1ms);
    }
    ASSERT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data);
    EXPECT_EQ(s.tcp.stat.sndrexmitpack, 0u);
    // Close both ways: the client first (TIME_WAIT on its side).
    s.so_close(c);
    sc.advance(1ms);
    auto eof = s.so_recv_stream(*a, 10);
    ASSERT_TRUE(eof.ok());
    EXPECT_TRUE(eof->empty());
    s.so_close(*a);
    s.so_close(l);
    sc.advance(61s);
    EXPECT_TRUE(s.tcp.cbs.empty());
  }
  sc.advance(1s);
  EXPECT_EQ(s.pool().stats().clusters_in_use, clusters_before);
}

}  // namespace
}  // namespace iopkt::test
