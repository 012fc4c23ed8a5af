// Request/response on one connection (issue 8, the rr and crr benchmarks):
// the segments a server sends for one request. A request read while its
// ACK is delayed brings no window update of its own: the answer carries
// the ACK and the window, one segment instead of two (FreeBSD tcp_output
// skips the update while TF_DELACK is set).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <vector>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

class TcpRequestResponseTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};

  // A connection the peer opened, with window scaling both ways (so that
  // the stack's first window after the SYN,ACK may grow past 65535).
  SocketId passive(bool scale = true) {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
    EXPECT_TRUE(s.so_listen(l, 16).ok());
    TcpOptions o;
    o.mss = 1000;
    if (scale) {
      o.wscale = 7;
      peer.wscale = 7;
    }
    SentSeg sa = peer.connect(80, o);
    EXPECT_EQ(sa.opts.wscale.has_value(), scale);
    auto so = s.so_accept(l);
    EXPECT_TRUE(so.ok());
    return so.ok() ? *so : 0;
  }
  std::vector<std::byte> recv_all(SocketId so) {
    auto r = s.so_recv_stream(so, 1 << 20);
    return r.ok() ? *r : std::vector<std::byte>{};
  }
  const TcpStat& st() { return s.tcp.stat; }
};

TEST_F(TcpRequestResponseTest, ReadingTheRequestSendsNoWindowUpdateBeforeTheAnswer) {
  SocketId so = passive();
  peer.send(kTcpAck | kTcpPsh, bytes_of("q"));
  peer.expect_none();  // the ACK is delayed
  EXPECT_EQ(recv_all(so), bytes_of("q"));
  peer.expect_none();  // reading opened the window, but the ACK is coming anyway
  EXPECT_EQ(st().sndwinup, 0u);

  ASSERT_TRUE(s.so_send_stream(so, bytes_of("a")).ok());
  SentSeg answer = peer.expect_one();
  EXPECT_EQ(answer.payload, bytes_of("a"));
  EXPECT_EQ(answer.ack.v, peer.snd_nxt);  // the request's ACK rides on it
  EXPECT_GT(uint32_t{answer.window} << 7, 65535u) << "the grown window rides on it too";
  EXPECT_EQ(st().delack, 0u);
}

// A window the peer can no longer send two segments into is updated at
// once, delayed ACK or not: waiting for that ACK could stall the peer
// (RFC 9293 §3.8.6.2.2, the receiver's window update).
TEST_F(TcpRequestResponseTest, ClosingWindowIsUpdatedAtOnce) {
  s.tcp.recvspace = 8192;  // a small buffer the peer can fill
  SocketId so = passive(false);
  s.so_find(so)->tcb->rcvbuf_locked = true;  // not auto-tuned
  std::vector<std::byte> seg(1000, std::byte{'d'});
  for (int i = 0; i < 7; ++i) {  // 7000 bytes: about 1 KB left, an ACK delayed
    peer.send(kTcpAck, seg);
  }
  peer.take();
  const TcpCb& tp = *s.so_find(so)->tcb;
  ASSERT_TRUE(tp.delack_pending);
  ASSERT_LT(tp.rcv_adv - tp.rcv_nxt, 2000u) << "the window is not closing";
  EXPECT_EQ(recv_all(so).size(), 7000u);
  SentSeg update = peer.expect_one();
  EXPECT_TRUE(update.payload.empty());
  EXPECT_EQ(update.ack.v, peer.snd_nxt);
  EXPECT_GT(update.window, 4000);
  EXPECT_EQ(st().sndwinup, 1u);
}

}  // namespace
}  // namespace iopkt::test
