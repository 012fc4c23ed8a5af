// A SYN to a busy server port (issue 8, the crr benchmark). A SYN looks
// for a listener in an index of the listening control blocks alone, not
// among every connection that shares the port (a busy server port holds
// tens of thousands of TIME-WAITs; scanning them per SYN was a quarter of
// io-pkt's CPU in the crr benchmark). The index must follow the listeners
// exactly: in on listen(), once; out when the listener closes, whatever
// connections stay on the port.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <vector>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

class TcpListenTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();

  SocketId listen_on(uint16_t port) {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), port)).ok());
    EXPECT_TRUE(s.so_listen(l, 64).ok());
    return l;
  }
  static TcpOptions mss(uint16_t m) {
    TcpOptions o;
    o.mss = m;
    return o;
  }
  size_t listeners_on(uint16_t port) {
    auto it = s.tcp.listeners.find(port);
    return it == s.tcp.listeners.end() ? 0 : it->second.size();
  }
  TcpFsmState state(SocketId so) { return s.so_stream_status(so).value().state; }
};

// Connections closed by the server first (TIME-WAIT on its side, as in an
// HTTP/1.0 server) stay on the listener's port; new SYNs still find the
// listener, and the index holds the listener alone.
TEST_F(TcpListenTest, SynFindsTheListenerAmongTimeWaitsOnItsPort) {
  SocketId l = listen_on(80);
  EXPECT_EQ(listeners_on(80), 1u);
  ASSERT_TRUE(s.so_listen(l, 128).ok());  // listen() again: a new backlog only
  EXPECT_EQ(listeners_on(80), 1u);

  std::vector<std::unique_ptr<TcpPeer>> peers;
  for (uint16_t i = 0; i < 20; ++i) {
    auto& p = *peers.emplace_back(std::make_unique<TcpPeer>(sc, 41000 + i));
    p.connect(80, mss(1000));
    auto so = s.so_accept(l);
    ASSERT_TRUE(so.ok());
    s.so_close(*so);  // the server closes first: FIN
    SentSeg fin = p.expect_one();
    ASSERT_TRUE(fin.has(kTcpFin));
    p.absorb(fin);
    p.send(kTcpAck | kTcpFin);  // the client's ACK and FIN together
    p.absorb(p.expect_one());   // our ACK of it: TIME-WAIT
  }
  ASSERT_EQ(s.tcp.by_port[80].size(), 21u);  // the listener and 20 TIME-WAITs
  EXPECT_EQ(listeners_on(80), 1u);

  TcpPeer next(sc, 42000);
  SentSeg sa = next.connect(80, mss(1000));
  EXPECT_TRUE(sa.only(kTcpSyn | kTcpAck));
  EXPECT_TRUE(s.so_accept(l).ok());
}

// A closed listener leaves the index at once, although a connection it
// accepted remains on its port: a SYN to the port is refused with a RST
// (RFC 9293 §3.10.7.1).
TEST_F(TcpListenTest, ClosedListenerLeavesTheIndexWhileItsConnectionsStay) {
  SocketId l = listen_on(80);
  TcpPeer p(sc, 41000);
  p.connect(80, mss(1000));
  auto so = s.so_accept(l);
  ASSERT_TRUE(so.ok());
  s.so_close(l);
  EXPECT_EQ(listeners_on(80), 0u);
  EXPECT_EQ(state(*so), TcpFsmState::kEstablished);

  TcpPeer other(sc, 42000);
  other.dport = 80;
  other.send_raw(other.snd_nxt, 0, kTcpSyn, {}, mss(1000));
  EXPECT_TRUE(other.expect_one().has(kTcpRst));

  // A new listener on the port (SO_REUSEADDR, beside the closing
  // connection) is found again.
  s.so_close(*so);
  p.absorb(p.expect_one());  // our FIN
  SocketId l2 = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  int one = 1;
  std::span<const std::byte> b(reinterpret_cast<const std::byte*>(&one), sizeof one);
  ASSERT_TRUE(s.so_setsockopt(l2, SOL_SOCKET, SO_REUSEADDR, b).ok());
  ASSERT_TRUE(s.so_bind(l2, SockAddr::inet(InAddr::any(), 80)).ok());
  ASSERT_TRUE(s.so_listen(l2, 16).ok());
  EXPECT_EQ(listeners_on(80), 1u);
  TcpPeer third(sc, 43000);
  EXPECT_TRUE(third.connect(80, mss(1000)).only(kTcpSyn | kTcpAck));
  EXPECT_TRUE(s.so_accept(l2).ok());
}

// RFC 6191 §2: a SYN to a TIME-WAIT 4-tuple whose timestamp equals the
// last one seen ends TIME-WAIT when its sequence number is beyond the old
// incarnation's. A client that reuses its port within the millisecond (the
// TSval offset is per 4-tuple, so the clock alone decides) must not wait
// for its SYN's retransmission, a second later.
class TcpTimeWaitTest : public TcpListenTest {
 protected:
  // A connection from `p` to a listener on 80, closed by the server first
  // and left in TIME-WAIT; returns the TIME-WAIT's last TSval seen.
  uint32_t time_wait_with(TcpPeer& p) {
    SocketId l = listen_on(80);
    TcpOptions o = mss(1000);
    o.timestamp = TcpOptions::Timestamp{100, 0};
    p.connect(80, o);
    auto so = s.so_accept(l);
    EXPECT_TRUE(so.ok());
    s.so_close(*so);
    p.absorb(p.expect_one());  // our FIN
    p.send(kTcpFin | kTcpAck);
    p.absorb(p.expect_one());  // our ACK: TIME-WAIT
    for (auto& [cb, owned] : s.tcp.cbs) {
      if (cb->state == TcpFsmState::kTimeWait) {
        return cb->ts_recent;
      }
    }
    ADD_FAILURE() << "no TIME-WAIT";
    return 0;
  }
};

TEST_F(TcpTimeWaitTest, SynWithTheSameTimestampAndALaterSequenceReusesIt) {
  TcpPeer p(sc, 41000);
  uint32_t last_ts = time_wait_with(p);
  TcpOptions o = mss(1000);
  o.timestamp = TcpOptions::Timestamp{last_ts, 0};
  p.send_raw(p.snd_nxt + 1000, 0, kTcpSyn, {}, o);
  EXPECT_TRUE(p.expect_one().only(kTcpSyn | kTcpAck));
  EXPECT_EQ(s.tcp.stat.twreuse, 1u);
}

TEST_F(TcpTimeWaitTest, SynWithTheSameTimestampAndAnOldSequenceDoesNot) {
  TcpPeer p(sc, 41000);
  uint32_t last_ts = time_wait_with(p);
  TcpOptions o = mss(1000);
  o.timestamp = TcpOptions::Timestamp{last_ts, 0};
  p.send_raw(p.snd_nxt - 1000, 0, kTcpSyn, {}, o);
  EXPECT_FALSE(p.expect_one().has(kTcpSyn));  // TIME-WAIT stays
  EXPECT_EQ(s.tcp.stat.twreuse, 0u);
}

}  // namespace
}  // namespace iopkt::test
