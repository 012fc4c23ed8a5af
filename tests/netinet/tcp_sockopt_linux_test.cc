// Linux's TCP socket options that real programs set (tcp(7)):
// TCP_USER_TIMEOUT (RFC 5482; dig +tcp), TCP_CORK (nginx tcp_nopush) and
// TCP_DEFER_ACCEPT (nginx "listen ... deferred"), with the segments checked
// on the wire at virtual times; and Fast Open, which is refused.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

class TcpSockoptLinuxTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId listener = 0;

  void listen(int defer_accept = 0) {
    listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_TRUE(s.so_bind(listener, SockAddr::inet(InAddr::any(), 80)).ok());
    if (defer_accept != 0) {
      ASSERT_TRUE(set_int(listener, TCP_DEFER_ACCEPT, defer_accept).ok());
    }
    ASSERT_TRUE(s.so_listen(listener, 8).ok());
  }
  // An accepted connection; the peer's MSS is 1000 (no timestamps), so
  // every full segment carries 1000 bytes. The RTO is the 200 ms floor.
  SocketId passive() {
    listen();
    TcpOptions o;
    o.mss = 1000;
    (void)peer.connect(80, o);
    auto so = s.so_accept(listener);
    EXPECT_TRUE(so.ok());
    return so.ok() ? *so : 0;
  }
  Result<void, Errno> set_int(SocketId so, int name, int v) {
    return s.so_setsockopt(so, IPPROTO_TCP, name,
                           std::span(reinterpret_cast<const std::byte*>(&v), sizeof v));
  }
  int get_int(SocketId so, int name) {
    auto r = s.so_getsockopt(so, IPPROTO_TCP, name, sizeof(int));
    EXPECT_TRUE(r.ok());
    int v = -1;
    if (r.ok() && r->size() >= sizeof v) {
      std::memcpy(&v, r->data(), sizeof v);
    }
    return v;
  }
  void send(SocketId so, size_t n) {
    auto r = s.so_send_stream(so, pattern_bytes(n));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(*r, n);
  }
  // The data segments sent since the last call (the peer notes them).
  std::vector<size_t> data_sent() {
    std::vector<size_t> out;
    for (const SentSeg& g : peer.take()) {
      if (!g.payload.empty() || g.has(kTcpFin)) {
        peer.absorb(g);
        out.push_back(g.payload.size());
      }
    }
    return out;
  }
  TcpFsmState state(SocketId so) { return s.so_stream_status(so).value().state; }
  int error(SocketId so) { return s.so_stream_status(so).value().error; }
  // The stack gave up: a RST, CLOSED, ETIMEDOUT for the user.
  void expect_timed_out(SocketId so) {
    bool rst = false;
    for (const SentSeg& g : peer.take()) {
      rst = rst || g.has(kTcpRst);
    }
    EXPECT_TRUE(rst);
    EXPECT_EQ(state(so), TcpFsmState::kClosed);
    EXPECT_EQ(error(so), ETIMEDOUT);
  }
  const TcpStat& st() { return s.tcp.stat; }
};

// --- the options themselves --------------------------------------------------

// tcp(7): TCP_USER_TIMEOUT is milliseconds, 0 the default, negative EINVAL;
// TCP_CORK reads back 0/1; TCP_DEFER_ACCEPT reads back the seconds set
// (Linux rounds them up to SYN,ACK retransmission periods), 0 when off.
TEST_F(TcpSockoptLinuxTest, OptionsReadBack) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  EXPECT_EQ(get_int(so, TCP_USER_TIMEOUT), 0);
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 30000).ok());
  EXPECT_EQ(get_int(so, TCP_USER_TIMEOUT), 30000);
  EXPECT_EQ(set_int(so, TCP_USER_TIMEOUT, -1).error().value, EINVAL);
  EXPECT_EQ(get_int(so, TCP_USER_TIMEOUT), 30000);
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 0).ok());
  EXPECT_EQ(get_int(so, TCP_USER_TIMEOUT), 0);

  EXPECT_EQ(get_int(so, TCP_CORK), 0);
  ASSERT_TRUE(set_int(so, TCP_CORK, 7).ok());
  EXPECT_EQ(get_int(so, TCP_CORK), 1);
  ASSERT_TRUE(set_int(so, TCP_CORK, 0).ok());
  EXPECT_EQ(get_int(so, TCP_CORK), 0);

  EXPECT_EQ(get_int(so, TCP_DEFER_ACCEPT), 0);
  ASSERT_TRUE(set_int(so, TCP_DEFER_ACCEPT, 10).ok());
  EXPECT_EQ(get_int(so, TCP_DEFER_ACCEPT), 10);
  ASSERT_TRUE(set_int(so, TCP_DEFER_ACCEPT, -3).ok());  // off, as Linux
  EXPECT_EQ(get_int(so, TCP_DEFER_ACCEPT), 0);

  // A short buffer is EINVAL, as for every int option.
  std::byte one{1};
  EXPECT_EQ(s.so_setsockopt(so, IPPROTO_TCP, TCP_USER_TIMEOUT, std::span(&one, 1)).error().value,
            EINVAL);
}

// Fast Open (RFC 7413) is not implemented: refused, not silently ignored.
TEST_F(TcpSockoptLinuxTest, FastOpenRefused) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  EXPECT_EQ(set_int(so, TCP_FASTOPEN, 5).error().value, ENOPROTOOPT);
  EXPECT_EQ(set_int(so, TCP_FASTOPEN_CONNECT, 1).error().value, ENOPROTOOPT);
  EXPECT_EQ(s.so_getsockopt(so, IPPROTO_TCP, TCP_FASTOPEN, sizeof(int)).error().value, ENOPROTOOPT);
}

// --- TCP_USER_TIMEOUT (RFC 5482) ------------------------------------------------

// Data unacknowledged for the user timeout: RST and ETIMEDOUT then, not
// before. Retransmissions at 200, 600 and 1400 ms; the next would be at
// 3000 ms, so the timer is cut to fire at 2500 ms (Linux
// tcp_clamp_rto_to_user_timeout).
TEST_F(TcpSockoptLinuxTest, UserTimeoutAbortsUnacknowledgedData) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 2500).ok());
  send(so, 100);
  EXPECT_EQ(data_sent(), std::vector<size_t>{100});
  sc.advance(2499ms);
  EXPECT_EQ(peer.take().size(), 3u);  // the retransmissions
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  sc.advance(1ms);
  expect_timed_out(so);
  EXPECT_EQ(st().usertimeoutdrop, 1u);
  EXPECT_EQ(st().timeoutdrop, 0u);
}

// The user timeout replaces the retry count (RFC 5482 §3, Linux
// retransmits_timed_out): with two retries the connection would die at
// 1400 ms; with a 5 s user timeout it lives until 5 s.
TEST_F(TcpSockoptLinuxTest, UserTimeoutOverridesRetryLimit) {
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.data_retries", "2").ok());
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 5000).ok());
  send(so, 100);
  (void)data_sent();
  sc.advance(4999ms);
  (void)peer.take();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  sc.advance(1ms);
  expect_timed_out(so);
}

// Progress restarts the clock: an ACK of part of the data at 1 s moves
// the end from 2.5 s to 3.5 s.
TEST_F(TcpSockoptLinuxTest, UserTimeoutCountsFromProgress) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 2500).ok());
  send(so, 2000);
  EXPECT_EQ(data_sent(), (std::vector<size_t>{1000, 1000}));
  sc.advance(1s);
  (void)peer.take();
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt - 1000, kTcpAck);  // the first segment
  sc.advance(2499ms);
  (void)peer.take();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  sc.advance(1ms);
  expect_timed_out(so);
}

// tcp(7): the timeout also bounds how long data waits for a closed window,
// even when the peer answers every probe with a zero window (Linux
// icsk_probes_tstamp). Probes at 200, 600, 1400 ms; the one due at 3000 ms
// is cut to 2500 ms, when the connection is given up.
TEST_F(TcpSockoptLinuxTest, UserTimeoutAbortsZeroWindowWait) {
  SocketId so = passive();
  peer.window = 0;
  peer.ack();  // the window closes
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 2500).ok());
  send(so, 100);
  peer.expect_none();  // nothing fits the window
  for (auto step : {200ms, 400ms, 800ms}) {
    sc.advance(step);
    SentSeg probe = peer.expect_one();
    EXPECT_TRUE(probe.payload.empty());
    peer.ack();  // answered: the window stays closed
  }
  sc.advance(1099ms);
  peer.expect_none();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  sc.advance(1ms);
  expect_timed_out(so);
  EXPECT_EQ(st().usertimeoutdrop, 1u);
}

// Without the option a peer that answers keeps a zero window open as long
// as it likes (RFC 1122 §4.2.2.17); a window that opens clears the wait.
TEST_F(TcpSockoptLinuxTest, ZeroWindowWithoutUserTimeoutLasts) {
  SocketId so = passive();
  peer.window = 0;
  peer.ack();
  send(so, 100);
  for (int i = 0; i < 20; ++i) {
    sc.advance(10s);
    (void)peer.take();
    peer.ack();
  }
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  peer.window = 65535;
  peer.ack();
  EXPECT_EQ(data_sent(), std::vector<size_t>{100});
}

// tcp(7): with SO_KEEPALIVE the user timeout decides when an unanswered
// keepalive gives up, instead of TCP_KEEPCNT: idle 10 s, interval 5 s,
// count 3 would end at 25 s; a 12 s user timeout ends it at the 15 s
// probe time (Linux tcp_keepalive_timer).
TEST_F(TcpSockoptLinuxTest, UserTimeoutOverridesKeepaliveCount) {
  SocketId so = passive();
  int one = 1;
  ASSERT_TRUE(s.so_setsockopt(so, SOL_SOCKET, SO_KEEPALIVE,
                              std::span(reinterpret_cast<const std::byte*>(&one), sizeof one))
                  .ok());
  ASSERT_TRUE(set_int(so, TCP_KEEPIDLE, 10).ok());
  ASSERT_TRUE(set_int(so, TCP_KEEPINTVL, 5).ok());
  ASSERT_TRUE(set_int(so, TCP_KEEPCNT, 3).ok());
  ASSERT_TRUE(set_int(so, TCP_USER_TIMEOUT, 12000).ok());
  sc.advance(10s);
  EXPECT_TRUE(peer.expect_one().only(kTcpAck));  // the first probe
  sc.advance(4999ms);
  peer.expect_none();
  sc.advance(1ms);
  expect_timed_out(so);
  EXPECT_EQ(st().keepdrops, 1u);
}

// An accepted connection has its listener's user timeout and cork (tcp(7)).
TEST_F(TcpSockoptLinuxTest, InheritedFromListener) {
  listen();
  ASSERT_TRUE(set_int(listener, TCP_USER_TIMEOUT, 4000).ok());
  ASSERT_TRUE(set_int(listener, TCP_CORK, 1).ok());
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  SocketId so = s.so_accept(listener).value();
  EXPECT_EQ(get_int(so, TCP_USER_TIMEOUT), 4000);
  EXPECT_EQ(get_int(so, TCP_CORK), 1);
}

// --- TCP_CORK ------------------------------------------------------------------

// Full segments go; the partial one waits, at most 200 ms (tcp(7)).
TEST_F(TcpSockoptLinuxTest, CorkHoldsPartialSegmentAtMost200ms) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_CORK, 1).ok());
  send(so, 2500);
  EXPECT_EQ(data_sent(), (std::vector<size_t>{1000, 1000}));
  peer.ack();  // nothing in flight: Nagle alone would send the rest now
  sc.advance(199ms);
  EXPECT_TRUE(data_sent().empty());
  sc.advance(1ms);
  EXPECT_EQ(data_sent(), std::vector<size_t>{500});
}

// More writes fill the held segment: it goes when full.
TEST_F(TcpSockoptLinuxTest, CorkSendsSegmentOnceFull) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_CORK, 1).ok());
  send(so, 600);
  EXPECT_TRUE(data_sent().empty());
  sc.advance(100ms);
  send(so, 600);
  EXPECT_EQ(data_sent(), std::vector<size_t>{1000});
}

// Uncorking sends what is held at once, even with data in flight that
// Nagle would wait for (tcp(7): "all queued partial frames are sent").
TEST_F(TcpSockoptLinuxTest, UncorkFlushes) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_CORK, 1).ok());
  send(so, 1500);
  EXPECT_EQ(data_sent(), std::vector<size_t>{1000});  // unacknowledged
  sc.advance(50ms);
  EXPECT_TRUE(data_sent().empty());
  ASSERT_TRUE(set_int(so, TCP_CORK, 0).ok());
  EXPECT_EQ(data_sent(), std::vector<size_t>{500});
  // No longer corked: the 200 ms ceiling has nothing left to do.
  peer.ack();
  sc.advance(300ms);
  EXPECT_TRUE(peer.take().empty());
}

// The cork wins over TCP_NODELAY while set (tcp(7), Linux tcp_nagle_check).
TEST_F(TcpSockoptLinuxTest, CorkWinsOverNodelay) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_NODELAY, 1).ok());
  ASSERT_TRUE(set_int(so, TCP_CORK, 1).ok());
  send(so, 300);
  sc.advance(100ms);
  EXPECT_TRUE(data_sent().empty());
  ASSERT_TRUE(set_int(so, TCP_CORK, 0).ok());
  EXPECT_EQ(data_sent(), std::vector<size_t>{300});
  send(so, 300);  // NODELAY alone: at once
  EXPECT_EQ(data_sent(), std::vector<size_t>{300});
}

// The FIN pushes the held bytes out with it (Linux tcp_send_fin).
TEST_F(TcpSockoptLinuxTest, CorkedDataGoesWithTheFin) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_CORK, 1).ok());
  send(so, 300);
  EXPECT_TRUE(data_sent().empty());
  ASSERT_TRUE(s.so_shutdown(so, SHUT_WR).ok());
  auto segs = peer.take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].payload.size(), 300u);
  EXPECT_TRUE(segs[0].has(kTcpFin));
}

// An ACK owed while the cork holds data goes without the data.
TEST_F(TcpSockoptLinuxTest, CorkedDataStaysOffAnOwedAck) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, TCP_CORK, 1).ok());
  send(so, 300);
  peer.send(kTcpAck | kTcpPsh, bytes_of("hello"));
  sc.advance(40ms);  // the delayed ACK
  SentSeg a = peer.expect_one();
  EXPECT_TRUE(a.payload.empty());
  EXPECT_EQ(a.ack.v, peer.snd_nxt);
  sc.advance(160ms);
  EXPECT_EQ(data_sent(), std::vector<size_t>{300});
}

// --- TCP_DEFER_ACCEPT ------------------------------------------------------------

// A handshake without data does not make the connection acceptable; its
// first data does (tcp(7)).
TEST_F(TcpSockoptLinuxTest, DeferAcceptWaitsForData) {
  listen(5);
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  EXPECT_EQ(s.so_stream_status(listener).value().acceptable, 0u);
  EXPECT_EQ(s.so_accept(listener).error().value, EAGAIN);
  sc.advance(2s);
  EXPECT_EQ(s.so_accept(listener).error().value, EAGAIN);
  peer.send(kTcpAck | kTcpPsh, bytes_of("GET /"));
  EXPECT_EQ(s.so_stream_status(listener).value().acceptable, 1u);
  SocketId so = s.so_accept(listener).value();
  auto got = s.so_recv_stream(so, 100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, bytes_of("GET /"));
  EXPECT_EQ(st().deferaccept, 1u);
  // After the period nothing more happens to it.
  sc.advance(10s);
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
}

// When the period passes without data the connection is acceptable anyway
// (Linux accepts it on the peer's ACK of a last SYN,ACK).
TEST_F(TcpSockoptLinuxTest, DeferAcceptEndsAfterTheTimeout) {
  listen(5);
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  sc.advance(4999ms);
  EXPECT_EQ(s.so_stream_status(listener).value().acceptable, 0u);
  sc.advance(1ms);
  EXPECT_EQ(s.so_stream_status(listener).value().acceptable, 1u);
  SocketId so = s.so_accept(listener).value();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
}

// The peer's FIN also ends the wait: the program accepts and reads EOF.
TEST_F(TcpSockoptLinuxTest, DeferAcceptEndsOnFin) {
  listen(5);
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  peer.send(kTcpAck | kTcpFin);
  SocketId so = s.so_accept(listener).value();
  EXPECT_TRUE(s.so_stream_status(so).value().eof);
}

// A deferred connection counts against the backlog and dies with its
// listener, with a RST to the peer.
TEST_F(TcpSockoptLinuxTest, DeferredConnectionDiesWithListener) {
  listen(30);
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  (void)peer.take();
  s.so_close(listener);
  SentSeg rst = peer.expect_one();
  EXPECT_TRUE(rst.has(kTcpRst));
}

// Without the option, the bare handshake is enough.
TEST_F(TcpSockoptLinuxTest, WithoutDeferAcceptAtOnce) {
  listen();
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  EXPECT_EQ(s.so_stream_status(listener).value().acceptable, 1u);
  EXPECT_EQ(st().deferaccept, 0u);
}

}  // namespace
}  // namespace iopkt::test
