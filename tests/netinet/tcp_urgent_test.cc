// Urgent data (RFC 9293 §3.8.5, RFC 6093): the urgent pointer names the
// byte after the urgent byte (RFC 6093 §4). On the wire: every segment
// before the end of the urgent data carries URG and the offset; urgent
// data is pushed past Nagle. Received: RCV.UP advances only forwards, the
// byte is reported (TcpSocketStatus::urgent_at) until the user takes it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string_view>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

std::vector<std::byte> bytes(std::string_view s) {
  std::vector<std::byte> v(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    v[i] = static_cast<std::byte>(s[i]);
  }
  return v;
}

class TcpUrgentTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId so = 0;

  void SetUp() override {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
    ASSERT_TRUE(s.so_listen(l, 8).ok());
    TcpOptions o;
    o.mss = 1000;
    peer.connect(80, o);
    auto a = s.so_accept(l);
    ASSERT_TRUE(a.ok());
    so = *a;
  }
  TcpSocketStatus status() { return s.so_stream_status(so).value(); }
  std::vector<std::byte> read(size_t n) {
    auto r = s.so_recv_stream(so, n);
    return r.ok() ? *r : std::vector<std::byte>{};
  }
  // The peer sends `data` with URG and the given pointer offset.
  void send_urgent(std::string_view data, uint16_t up) {
    peer.urgent = up;
    peer.send(kTcpAck | kTcpUrg | kTcpPsh, bytes(data));
    peer.urgent = 0;
  }
};

// send(MSG_OOB) of "abc": one segment, URG, the pointer 3 past its
// sequence number (the byte after 'c'); once acknowledged, no more URG.
TEST_F(TcpUrgentTest, SentUrgentByteIsPointedAfter) {
  ASSERT_EQ(s.so_send_stream(so, bytes("abc"), true).value(), 3u);
  SentSeg g = peer.expect_one();
  EXPECT_TRUE(g.has(kTcpAck | kTcpUrg | kTcpPsh));
  EXPECT_EQ(g.urgent, 3u);
  EXPECT_EQ(g.payload, bytes("abc"));
  EXPECT_EQ(s.tcp.stat.sndurg, 1u);
  peer.absorb(g);
  peer.ack();
  ASSERT_TRUE(s.so_send_stream(so, bytes("de")).ok());
  SentSeg h = peer.expect_one();
  EXPECT_FALSE(h.has(kTcpUrg));
  EXPECT_EQ(h.urgent, 0u);
  EXPECT_EQ(s.tcp.stat.sndurg, 1u);
}

// Nagle holds a runt while data is in flight, but not urgent data.
TEST_F(TcpUrgentTest, UrgentDataIsPushedPastNagle) {
  ASSERT_TRUE(s.so_send_stream(so, bytes("x")).ok());
  SentSeg x = peer.expect_one();
  EXPECT_FALSE(x.has(kTcpUrg));
  ASSERT_TRUE(s.so_send_stream(so, bytes("y")).ok());
  peer.expect_none();  // Nagle: "x" is unacknowledged
  ASSERT_TRUE(s.so_send_stream(so, bytes("z"), true).ok());
  SentSeg yz = peer.expect_one();
  EXPECT_EQ(yz.payload, bytes("yz"));
  EXPECT_TRUE(yz.has(kTcpUrg));
  EXPECT_EQ(yz.urgent, 2u);
}

// Urgent data longer than a segment: each segment before its end points to
// the same place, as an offset from its own start.
TEST_F(TcpUrgentTest, EverySegmentBeforeTheEndCarriesThePointer) {
  auto data = pattern_bytes(2500);
  ASSERT_EQ(s.so_send_stream(so, data, true).value(), 2500u);
  auto segs = peer.take();
  ASSERT_EQ(segs.size(), 3u);  // 1000, 1000, and the 500-byte end (pushed)
  uint16_t want[] = {2500, 1500, 500};
  for (size_t i = 0; i < segs.size(); ++i) {
    EXPECT_TRUE(segs[i].has(kTcpUrg)) << i;
    EXPECT_EQ(segs[i].urgent, want[i]) << i;
  }
  // A retransmission carries it too.
  sc.advance(std::chrono::seconds(1));
  auto again = peer.take();
  ASSERT_FALSE(again.empty());
  EXPECT_TRUE(again[0].has(kTcpUrg));
  EXPECT_EQ(again[0].urgent, 2500u);
}

// A received urgent pointer: the byte before it is the urgent byte, kept
// marked until the user takes it.
TEST_F(TcpUrgentTest, ReceivedUrgentByteIsMarkedUntilTaken) {
  send_urgent("hello", 5);
  auto st = status();
  EXPECT_TRUE(st.urgent);
  EXPECT_EQ(st.readable, 5u);
  EXPECT_EQ(st.urgent_at, 4u);  // the 'o'
  EXPECT_EQ(s.tcp.stat.rcvurg, 1u);
  EXPECT_EQ(read(4), bytes("hell"));
  st = status();
  EXPECT_TRUE(st.urgent);
  EXPECT_EQ(st.urgent_at, 0u);
  EXPECT_EQ(read(1), bytes("o"));
  EXPECT_FALSE(status().urgent);
}

// The pointer may run ahead of the data: the byte is marked when it comes.
TEST_F(TcpUrgentTest, PointerAheadOfTheData) {
  send_urgent("ab", 4);
  auto st = status();
  EXPECT_TRUE(st.urgent);
  EXPECT_EQ(st.readable, 2u);
  EXPECT_EQ(st.urgent_at, 3u);  // not here yet
  peer.send(kTcpAck | kTcpPsh, bytes("cd"));
  st = status();
  EXPECT_EQ(st.readable, 4u);
  EXPECT_EQ(st.urgent_at, 3u);
}

// A later pointer supersedes an earlier one; an older one changes nothing.
TEST_F(TcpUrgentTest, OnlyANewerPointerCounts) {
  send_urgent("ab", 1);  // 'a'
  send_urgent("cd", 2);  // 'd': the mark moves
  EXPECT_EQ(status().urgent_at, 3u);
  EXPECT_EQ(s.tcp.stat.rcvurg, 2u);
  // The first segment again (a retransmission): its pointer is older.
  peer.urgent = 1;
  peer.send_raw(peer.snd_nxt - 4, peer.rcv_nxt, kTcpAck | kTcpUrg, bytes("ab"));
  peer.urgent = 0;
  EXPECT_EQ(status().urgent_at, 3u);
  EXPECT_EQ(s.tcp.stat.rcvurg, 2u);
}

// Once the urgent byte was taken, the same pointer again marks nothing.
TEST_F(TcpUrgentTest, RetransmittedPointerAfterTheByteWasTaken) {
  send_urgent("ab", 2);
  EXPECT_EQ(read(10), bytes("ab"));
  EXPECT_FALSE(status().urgent);
  peer.urgent = 2;
  peer.send_raw(peer.snd_nxt - 2, peer.rcv_nxt, kTcpAck | kTcpUrg, bytes("ab"));
  peer.urgent = 0;
  EXPECT_FALSE(status().urgent);
  EXPECT_EQ(s.tcp.stat.rcvurg, 1u);
}

// Urgent data that arrives before the program accepted the connection is
// marked all the same.
TEST(TcpUrgentAcceptTest, UrgentByteBeforeAccept) {
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
  ASSERT_TRUE(s.so_listen(l, 8).ok());
  peer.connect(80, TcpOptions{});
  peer.urgent = 3;
  peer.send(kTcpAck | kTcpUrg | kTcpPsh, bytes("xyz"));
  auto so = s.so_accept(l);
  ASSERT_TRUE(so.ok());
  auto st = s.so_stream_status(*so).value();
  EXPECT_TRUE(st.urgent);
  EXPECT_EQ(st.urgent_at, 2u);
}

// URG with a zero pointer names no byte (the byte "after" would be the
// segment's first): ignored, as BSD does.
TEST_F(TcpUrgentTest, ZeroPointerIsIgnored) {
  send_urgent("ab", 0);
  EXPECT_FALSE(status().urgent);
  EXPECT_EQ(status().readable, 2u);
  EXPECT_EQ(s.tcp.stat.rcvurg, 0u);
}

// After shutdown(SHUT_RD) nothing is delivered, so nothing is urgent.
TEST_F(TcpUrgentTest, ShutdownReadForgetsTheMark) {
  send_urgent("ab", 2);
  ASSERT_TRUE(s.so_shutdown(so, SHUT_RD).ok());
  EXPECT_FALSE(status().urgent);
  send_urgent("cd", 2);
  EXPECT_FALSE(status().urgent);
}

}  // namespace
}  // namespace iopkt::test
