// Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT and net.inet.tcp.keep*, with probes checked on
// the wire at virtual times.
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

class TcpKeepaliveTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId listener = 0;

  SocketId passive() {
    listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_TRUE(s.so_bind(listener, SockAddr::inet(InAddr::any(), 80)).ok());
    EXPECT_TRUE(s.so_listen(listener, 8).ok());
    TcpOptions o;
    o.mss = 1000;
    (void)peer.connect(80, o);
    auto so = s.so_accept(listener);
    EXPECT_TRUE(so.ok());
    return so.ok() ? *so : 0;
  }
  Result<void, Errno> set_int(SocketId so, int level, int name, int v) {
    return s.so_setsockopt(so, level, name,
                           std::span(reinterpret_cast<const std::byte*>(&v), sizeof v));
  }
  int get_int(SocketId so, int level, int name) {
    auto r = s.so_getsockopt(so, level, name, sizeof(int));
    EXPECT_TRUE(r.ok());
    int v = -1;
    if (r.ok() && r->size() >= sizeof v) {
      std::memcpy(&v, r->data(), sizeof v);
    }
    return v;
  }
  // Keepalive on with idle 10 s, interval 5 s, 3 probes.
  void keepalive(SocketId so, int idle = 10, int intvl = 5, int cnt = 3) {
    ASSERT_TRUE(set_int(so, SOL_SOCKET, SO_KEEPALIVE, 1).ok());
    ASSERT_TRUE(set_int(so, IPPROTO_TCP, TCP_KEEPIDLE, idle).ok());
    ASSERT_TRUE(set_int(so, IPPROTO_TCP, TCP_KEEPINTVL, intvl).ok());
    ASSERT_TRUE(set_int(so, IPPROTO_TCP, TCP_KEEPCNT, cnt).ok());
  }
  // A probe: SEQ = SND.UNA - 1, no data, only ACK (RFC 9293 §3.8.4).
  void expect_probe() {
    SentSeg p = peer.expect_one();
    EXPECT_TRUE(p.only(kTcpAck));
    EXPECT_EQ(p.seq.v, peer.rcv_nxt - 1);
    EXPECT_EQ(p.ack.v, peer.snd_nxt);
    EXPECT_TRUE(p.payload.empty());
  }
  TcpFsmState state(SocketId so) { return s.so_stream_status(so).value().state; }
  const TcpStat& st() { return s.tcp.stat; }
};

// tcp(7) ranges: idle and interval 1..32767 s, count 1..127; EINVAL outside.
// Unset, they read as the sysctl defaults (7200, 75, 9).
TEST_F(TcpKeepaliveTest, OptionsAndRanges) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  EXPECT_EQ(get_int(so, IPPROTO_TCP, TCP_KEEPIDLE), 7200);
  EXPECT_EQ(get_int(so, IPPROTO_TCP, TCP_KEEPINTVL), 75);
  EXPECT_EQ(get_int(so, IPPROTO_TCP, TCP_KEEPCNT), 9);
  for (int name : {TCP_KEEPIDLE, TCP_KEEPINTVL}) {
    EXPECT_EQ(set_int(so, IPPROTO_TCP, name, 0).error().value, EINVAL);
    EXPECT_EQ(set_int(so, IPPROTO_TCP, name, -5).error().value, EINVAL);
    EXPECT_EQ(set_int(so, IPPROTO_TCP, name, 32768).error().value, EINVAL);
    EXPECT_TRUE(set_int(so, IPPROTO_TCP, name, 32767).ok());
    EXPECT_EQ(get_int(so, IPPROTO_TCP, name), 32767);
    EXPECT_TRUE(set_int(so, IPPROTO_TCP, name, 1).ok());
    EXPECT_EQ(get_int(so, IPPROTO_TCP, name), 1);
  }
  EXPECT_EQ(set_int(so, IPPROTO_TCP, TCP_KEEPCNT, 0).error().value, EINVAL);
  EXPECT_EQ(set_int(so, IPPROTO_TCP, TCP_KEEPCNT, 128).error().value, EINVAL);
  EXPECT_TRUE(set_int(so, IPPROTO_TCP, TCP_KEEPCNT, 127).ok());
  EXPECT_EQ(get_int(so, IPPROTO_TCP, TCP_KEEPCNT), 127);
  // A short buffer is EINVAL, as for every int option.
  std::byte one{1};
  EXPECT_EQ(s.so_setsockopt(so, IPPROTO_TCP, TCP_KEEPIDLE, std::span(&one, 1)).error().value,
            EINVAL);
}

TEST_F(TcpKeepaliveTest, SysctlDefaultsAndRanges) {
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.keepidle").value(), "7200");
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.keepintvl").value(), "75");
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.keepcnt").value(), "9");
  EXPECT_FALSE(s.sysctl().set("net.inet.tcp.keepidle", "0").ok());
  EXPECT_FALSE(s.sysctl().set("net.inet.tcp.keepintvl", "32768").ok());
  EXPECT_FALSE(s.sysctl().set("net.inet.tcp.keepcnt", "128").ok());
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.keepidle", "60").ok());
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  EXPECT_EQ(get_int(so, IPPROTO_TCP, TCP_KEEPIDLE), 60);
}

// A peer that answers keeps the connection: a probe after each idle period.
TEST_F(TcpKeepaliveTest, AnsweredProbesKeepTheConnection) {
  SocketId so = passive();
  keepalive(so);
  sc.advance(9999ms);
  peer.expect_none();
  sc.advance(1ms);
  expect_probe();
  peer.ack();  // the peer is alive: an ACK for the old sequence number
  sc.advance(9999ms);
  peer.expect_none();  // idle counts again from the answer
  sc.advance(1ms);
  expect_probe();
  peer.ack();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  EXPECT_EQ(st().keepprobe, 2u);
  EXPECT_EQ(st().keepdrops, 0u);
  // Data from the peer counts as life too.
  sc.advance(8s);
  peer.send(kTcpAck | kTcpPsh, bytes_of("hi"));
  sc.advance(40ms);  // the delayed ACK
  (void)peer.take();
  sc.advance(9s);
  peer.expect_none();
  sc.advance(1s);
  expect_probe();
}

// A silent peer: probes at idle, idle + intvl, idle + 2 intvl; after the
// count, RST and ETIMEDOUT.
TEST_F(TcpKeepaliveTest, SilentPeerTimesOut) {
  SocketId so = passive();
  keepalive(so);
  sc.advance(10s);
  expect_probe();
  sc.advance(4999ms);
  peer.expect_none();
  sc.advance(1ms);
  expect_probe();
  sc.advance(5s);
  expect_probe();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  sc.advance(4999ms);
  peer.expect_none();
  sc.advance(1ms);
  SentSeg rst = peer.expect_one();
  EXPECT_TRUE(rst.has(kTcpRst));
  EXPECT_EQ(state(so), TcpFsmState::kClosed);
  EXPECT_EQ(s.so_stream_status(so).value().error, ETIMEDOUT);
  EXPECT_EQ(st().keepprobe, 3u);
  EXPECT_EQ(st().keepdrops, 1u);
}

// Without SO_KEEPALIVE nothing is sent, however long the silence.
TEST_F(TcpKeepaliveTest, OffByDefault) {
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, IPPROTO_TCP, TCP_KEEPIDLE, 10).ok());
  for (int i = 0; i < 36; ++i) {
    sc.advance(100s);
  }
  peer.expect_none();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  EXPECT_EQ(st().keepprobe, 0u);
}

// The sysctl values apply to connections without their own.
TEST_F(TcpKeepaliveTest, SysctlValuesApply) {
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.keepidle", "60").ok());
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.keepintvl", "10").ok());
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.keepcnt", "2").ok());
  SocketId so = passive();
  ASSERT_TRUE(set_int(so, SOL_SOCKET, SO_KEEPALIVE, 1).ok());
  sc.advance(59s);
  peer.expect_none();
  sc.advance(1s);
  expect_probe();
  sc.advance(10s);
  expect_probe();
  sc.advance(10s);
  EXPECT_TRUE(peer.expect_one().has(kTcpRst));
  EXPECT_EQ(s.so_stream_status(so).value().error, ETIMEDOUT);
}

// An accepted connection has its listener's SO_KEEPALIVE and TCP_KEEP*.
TEST_F(TcpKeepaliveTest, InheritedFromListener) {
  listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_TRUE(s.so_bind(listener, SockAddr::inet(InAddr::any(), 80)).ok());
  keepalive(listener, 20, 5, 3);
  ASSERT_TRUE(s.so_listen(listener, 8).ok());
  TcpOptions o;
  o.mss = 1000;
  (void)peer.connect(80, o);
  SocketId so = s.so_accept(listener).value();
  EXPECT_EQ(get_int(so, IPPROTO_TCP, TCP_KEEPIDLE), 20);
  EXPECT_EQ(get_int(so, SOL_SOCKET, SO_KEEPALIVE), 1);
  sc.advance(19s);
  peer.expect_none();
  sc.advance(1s);
  expect_probe();
}

// No probes while our data is outstanding: the retransmission timer
// watches the peer then (Linux tcp_keepalive_timer).
TEST_F(TcpKeepaliveTest, NoProbeWhileDataInFlight) {
  SocketId so = passive();
  keepalive(so, 10, 5, 3);
  ASSERT_TRUE(s.so_send_stream(so, bytes_of("data")).ok());
  SentSeg d = peer.expect_one();
  EXPECT_EQ(d.payload.size(), 4u);
  sc.advance(10s);  // retransmissions only (RTO back-off), no probe
  for (const auto& g : peer.take()) {
    EXPECT_EQ(g.payload.size(), 4u);
  }
  EXPECT_EQ(st().keepprobe, 0u);
}

}  // namespace
}  // namespace iopkt::test
