// TCP buffer auto-tuning and the global memory bound (BSD recvbuf_auto /
// sendbuf_auto, Linux DRS and tcp_mem): a bulk transfer on a path with a
// 50 ms round trip, the application draining everything each round trip;
// the window the stack offers must grow past recvspace up to recvbuf_max,
// stay put on a fixed buffer, and stop when TCP memory is above mem_max.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kRtt = 50ms;
constexpr size_t kSeg = 1448;

class TcpAutotuneTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  uint8_t our_shift = 0;
  uint32_t window = 0;  // bytes the stack's last ACK offered

  // The stack connects; the SYN,ACK comes one RTT later (srtt = 50 ms).
  // `before` runs on the socket before connect.
  template <class F>
  SocketId connect_with_rtt(F before) {
    SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    before(so);
    EXPECT_EQ(s.so_connect(so, SockAddr::inet(sc.peer(), peer.port())).error().value, EINPROGRESS);
    SentSeg syn = peer.expect_one();
    EXPECT_TRUE(syn.only(kTcpSyn));
    our_shift = syn.opts.wscale.value_or(0);
    sc.advance(kRtt);
    peer.dport = syn.sport;
    peer.rcv_nxt = syn.seq.v + 1;
    TcpOptions o;
    o.mss = static_cast<uint16_t>(kSeg);
    o.wscale = 7;
    peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpSyn | kTcpAck, {}, o);
    peer.snd_nxt += 1;
    SentSeg a = peer.expect_one();
    EXPECT_TRUE(a.only(kTcpAck));
    window = uint32_t{a.window} << our_shift;
    return so;
  }
  // One round trip: the peer fills the offered window (at most `cap`),
  // the application reads everything, the ACKs come back a RTT later.
  // Returns the largest window the ACKs of this round offered.
  uint32_t round(SocketId so, size_t cap = SIZE_MAX) {
    size_t budget = std::min<size_t>(window, cap);
    size_t sent = 0;
    for (int i = 0; i < 100000 && budget - sent >= kSeg; ++i) {
      peer.send(kTcpAck, pattern_bytes(kSeg, static_cast<uint32_t>(i)));
      sent += kSeg;
    }
    for (int i = 0; i < 1000; ++i) {
      auto r = s.so_recv_stream(so, 1 << 24);
      if (!r.ok() || r->empty()) {
        break;
      }
    }
    sc.advance(kRtt);
    uint32_t best = 0;
    uint32_t last_ack = 0;
    for (const SentSeg& a : peer.take()) {
      EXPECT_TRUE(a.has(kTcpAck));
      const uint32_t w = uint32_t{a.window} << our_shift;
      best = std::max(best, w);
      window = w;
      last_ack = a.ack.v;
    }
    if (sent > 0) {
      EXPECT_EQ(last_ack, peer.snd_nxt);  // everything acknowledged by now
    }
    return best;
  }
};

// Linux DRS / BSD recvbuf_auto: a window-limited bulk transfer grows the
// receive buffer and so the offered window, up to recvbuf_max; the shift
// was chosen at connect for recvbuf_max (RFC 7323 §2.2).
TEST_F(TcpAutotuneTest, ReceiveWindowGrowsToRecvbufMax) {
  s.tcp.recvbuf_max = 1 << 20;
  SocketId so = connect_with_rtt([](SocketId) {});
  EXPECT_EQ(our_shift, 5);  // 65535 << 5 covers 1 MiB
  EXPECT_LE(window, 212992u);
  uint32_t best = 0;
  for (int i = 0; i < 12; ++i) {
    best = std::max(best, round(so));
  }
  EXPECT_GT(best, 2u * 212992u);
  EXPECT_LE(best, 1u << 20);
  EXPECT_GE(best, (1u << 20) - 2 * kSeg);
  EXPECT_EQ(s.so_find(so)->tcb->rcv_hiwat, size_t{1} << 20);
  EXPECT_EQ(s.so_find(so)->rcv_hiwat, size_t{1} << 20);  // SO_RCVBUF shows it
  EXPECT_GE(s.tcp.stat.rcvbuf_grow, 2u);
}

// A buffer the user fixed (SO_RCVBUF; here the TcpCb's mark until the
// Socket has one) is not tuned, and its shift is the buffer's own.
TEST_F(TcpAutotuneTest, FixedBufferDoesNotGrow) {
  s.tcp.recvbuf_max = 1 << 20;
  SocketId so = connect_with_rtt([&](SocketId id) { s.so_find(id)->tcb->rcvbuf_locked = true; });
  EXPECT_EQ(our_shift, 2);
  uint32_t best = 0;
  for (int i = 0; i < 8; ++i) {
    best = std::max(best, round(so));
  }
  EXPECT_LE(best, 212992u);
  EXPECT_GT(best, 212992u - 4 * kSeg);
  EXPECT_EQ(s.so_find(so)->tcb->rcv_hiwat, 212992u);
  EXPECT_EQ(s.tcp.stat.rcvbuf_grow, 0u);
}

// net.inet.tcp.mem_max: another connection holding unread data above the
// bound stops auto-tuning, and the bulk connection's window is not opened
// past the small guaranteed minimum; once the data is read, it opens again.
TEST_F(TcpAutotuneTest, GlobalBoundStopsGrowthAndHoldsWindows) {
  s.tcp.recvbuf_max = 1 << 20;
  s.tcp.mem_max = 100000;
  // The hoarder: a passive connection whose application does not read.
  SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
  ASSERT_TRUE(s.so_listen(l, 4).ok());
  TcpPeer hoarder{sc, 40001};
  TcpOptions o;
  o.mss = static_cast<uint16_t>(kSeg);
  hoarder.connect(80, o);
  SocketId h = s.so_accept(l).value();
  for (int i = 0; i < 80; ++i) {  // 115,840 bytes, within its window
    hoarder.send(kTcpAck, pattern_bytes(kSeg, static_cast<uint32_t>(i)));
  }
  (void)hoarder.take();
  EXPECT_GT(s.tcp.mem_used, 100000u);
  EXPECT_TRUE(tcp_mem_pressure(s));

  SocketId so = connect_with_rtt([](SocketId) {});
  uint32_t last = 0;
  for (int i = 0; i < 6; ++i) {
    last = round(so);
  }
  EXPECT_LE(last, kTcpMemMinPerConn);
  EXPECT_EQ(s.so_find(so)->tcb->rcv_hiwat, 212992u);
  EXPECT_EQ(s.tcp.stat.rcvbuf_grow, 0u);
  EXPECT_GT(s.tcp.stat.mem_pressure, 0u);
  // The hoarder reads: memory is free again, the window opens.
  for (int i = 0; i < 100; ++i) {
    auto r = s.so_recv_stream(h, 1 << 20);
    if (!r.ok() || r->empty()) {
      break;
    }
  }
  (void)hoarder.take();
  EXPECT_FALSE(tcp_mem_pressure(s));
  uint32_t best = 0;
  for (int i = 0; i < 6; ++i) {
    best = std::max(best, round(so, 8 * kSeg));  // the sender restarts small
  }
  EXPECT_GT(best, 100000u);
}

// BSD sendbuf_auto / Linux tcp_sndbuf_expand: a sender that keeps its
// buffer full while the congestion window grows gets a larger buffer.
TEST_F(TcpAutotuneTest, SendBufferGrowsWithTheWindow) {
  s.tcp.sendbuf_max = 1 << 20;
  SocketId so = connect_with_rtt([](SocketId) {});
  // The peer offers a large window (65535 << 7).
  size_t sent_total = 0;
  for (int r = 0; r < 40; ++r) {
    for (int i = 0; i < 1000; ++i) {
      auto n = s.so_send_stream(so, pattern_bytes(65536));
      if (!n.ok()) {
        break;
      }
      sent_total += *n;
    }
    sc.advance(kRtt);
    // An ACK every second segment (RFC 5681 §4.2), as a Linux receiver.
    int n = 0;
    for (const SentSeg& seg : peer.take()) {
      peer.absorb(seg);
      if (++n % 2 == 0) {
        peer.ack();
      }
    }
    peer.ack();
  }
  EXPECT_GT(sent_total, 212992u);
  EXPECT_GT(s.so_find(so)->tcb->snd_hiwat, 212992u);
  EXPECT_LE(s.so_find(so)->tcb->snd_hiwat, size_t{1} << 20);
  EXPECT_GE(s.tcp.stat.sndbuf_grow, 1u);
}

}  // namespace
}  // namespace iopkt::test
