// TCP scenarios on the core (RFC 9293 §3.10, RFC 5961, RFC 7323, RFC 6298,
// RFC 5681/6582): a scripted peer on en0 (harness/tcp_peer) exchanges
// segments with the stack; every test asserts the segments and the states.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

class TcpTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};

  SocketId listen_on(uint16_t port, int backlog = 16) {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), port)).ok());
    EXPECT_TRUE(s.so_listen(l, backlog).ok());
    return l;
  }
  static TcpOptions mss(uint16_t m) {
    TcpOptions o;
    o.mss = m;
    return o;
  }
  // A connection the peer opened to a listener on 80: the accepted socket.
  SocketId passive(TcpOptions syn = mss(1000)) {
    listener = listen_on(80);
    peer.connect(80, syn);
    auto so = s.so_accept(listener);
    EXPECT_TRUE(so.ok());
    return so.ok() ? *so : 0;
  }
  // A connection the stack opened to the peer.
  SocketId active(TcpOptions synack = mss(1000)) {
    SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    auto r = s.so_connect(so, SockAddr::inet(sc.peer(), peer.port()));
    EXPECT_EQ(r.error().value, EINPROGRESS);
    EXPECT_EQ(state(so), TcpFsmState::kSynSent);
    peer.accept_syn(synack);
    return so;
  }
  TcpFsmState state(SocketId so) { return s.so_stream_status(so).value().state; }
  int set_int(SocketId so, int level, int name, int v) {
    std::span<const std::byte> b(reinterpret_cast<const std::byte*>(&v), sizeof v);
    return s.so_setsockopt(so, level, name, b).ok() ? 0 : -1;
  }
  std::vector<std::byte> recv_all(SocketId so) {
    auto r = s.so_recv_stream(so, 1 << 20);
    return r.ok() ? *r : std::vector<std::byte>{};
  }
  const TcpStat& st() { return s.tcp.stat; }
  SocketId listener = 0;
};

// RFC 9293 §3.10.7.2, RFC 7323 §2-3, RFC 2018 §2: a SYN with every option
// gets a SYN,ACK offering them back.
TEST_F(TcpTest, PassiveHandshakeWithEveryOption) {
  listener = listen_on(80);
  EXPECT_EQ(state(listener), TcpFsmState::kListen);
  TcpOptions o;
  o.mss = 1460;
  o.wscale = 7;
  o.sack_permitted = true;
  o.timestamp = TcpOptions::Timestamp{5000, 0};
  peer.dport = 80;
  peer.send_raw(peer.snd_nxt, 0, kTcpSyn, {}, o);
  SentSeg sa = peer.expect_one();
  EXPECT_TRUE(sa.only(kTcpSyn | kTcpAck));
  EXPECT_EQ(sa.ack.v, peer.snd_nxt + 1);
  EXPECT_EQ(sa.opts.mss, 1460);  // 1500 - 40
  EXPECT_EQ(sa.opts.wscale, 7);  // room for recvbuf_max (4 MiB): 65535 << 7
  EXPECT_TRUE(sa.opts.sack_permitted);
  ASSERT_TRUE(sa.opts.timestamp.has_value());
  EXPECT_EQ(sa.opts.timestamp->ecr, 5000u);
  EXPECT_EQ(sa.window, 65535);                             // unscaled in a SYN (RFC 7323 §2.2)
  EXPECT_EQ(s.so_accept(listener).error().value, EAGAIN);  // not complete yet
  // No ACK: the SYN,ACK is retransmitted after the initial RTO (RFC 6298 §2.1).
  sc.advance(999ms);
  peer.expect_none();
  sc.advance(1ms);
  SentSeg again = peer.expect_one();
  EXPECT_EQ(again.seq, sa.seq);
  EXPECT_TRUE(again.only(kTcpSyn | kTcpAck));
  peer.snd_nxt += 1;
  peer.rcv_nxt = sa.seq.v + 1;
  peer.use_ts = true;
  peer.ts_val = 5001;
  peer.send(kTcpAck);
  auto so = s.so_accept(listener);
  ASSERT_TRUE(so.ok());
  EXPECT_EQ(state(*so), TcpFsmState::kEstablished);
  EXPECT_EQ(st().accepts, 1u);
  // Data carries timestamps and a scaled window from now on.
  ASSERT_TRUE(s.so_send_stream(*so, bytes_of("hello")).ok());
  SentSeg d = peer.expect_one();
  ASSERT_TRUE(d.opts.timestamp.has_value());
  EXPECT_EQ(d.opts.timestamp->ecr, 5001u);
  EXPECT_EQ(d.window, 212992 >> 7);
  EXPECT_EQ(d.payload, bytes_of("hello"));
}

// RFC 9293 §3.5 figure 8: both ends send a SYN.
TEST_F(TcpTest, SimultaneousOpen) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_EQ(s.so_connect(so, SockAddr::inet(sc.peer(), peer.port())).error().value, EINPROGRESS);
  SentSeg syn = peer.expect_one();
  ASSERT_TRUE(syn.only(kTcpSyn));
  peer.dport = syn.sport;
  peer.send_raw(peer.snd_nxt, 0, kTcpSyn, {}, mss(1200));  // crossing SYN
  SentSeg sa = peer.expect_one();
  EXPECT_TRUE(sa.only(kTcpSyn | kTcpAck));
  EXPECT_EQ(sa.seq, syn.seq);  // the same ISS
  EXPECT_EQ(sa.ack.v, peer.snd_nxt + 1);
  EXPECT_EQ(state(so), TcpFsmState::kSynReceived);
  // The peer's SYN,ACK (its own SYN again, acknowledging ours).
  peer.send_raw(peer.snd_nxt, syn.seq.v + 1, kTcpSyn | kTcpAck, {}, mss(1200));
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  EXPECT_TRUE(s.so_stream_status(so).value().connected);
  EXPECT_EQ(st().connects, 1u);
}

TEST_F(TcpTest, ActiveOpenReportsConnectedThroughEvents) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_EQ(s.so_connect(so, SockAddr::inet(sc.peer(), peer.port())).error().value, EINPROGRESS);
  EXPECT_EQ(s.so_stream_status(so).value().writable, 0u);  // no POLLOUT before the handshake
  EXPECT_EQ(s.so_send_stream(so, bytes_of("x")).error().value, EAGAIN);
  (void)s.take_socket_events();
  peer.accept_syn(mss(1000));
  EXPECT_EQ(s.take_socket_events(), std::vector<SocketId>{so});
  auto status = s.so_stream_status(so).value();
  EXPECT_TRUE(status.connected);
  EXPECT_GT(status.writable, 0u);
  EXPECT_EQ(st().connattempt, 1u);
}

TEST_F(TcpTest, ConnectRefusedByRst) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  (void)s.so_connect(so, SockAddr::inet(sc.peer(), peer.port()));
  SentSeg syn = peer.expect_one();
  peer.dport = syn.sport;
  peer.send_raw(0, syn.seq.v + 1, kTcpRst | kTcpAck);
  EXPECT_EQ(state(so), TcpFsmState::kClosed);
  EXPECT_EQ(s.so_stream_status(so).value().error, ECONNREFUSED);
  EXPECT_EQ(s.so_recv_stream(so, 10).error().value, ECONNREFUSED);
}

TEST_F(TcpTest, SynRetriesThenTimesOut) {
  ASSERT_EQ(s.sysctl().set("net.inet.tcp.syn_retries", "2").ok(), true);
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  (void)s.so_connect(so, SockAddr::inet(sc.peer(), peer.port()));
  EXPECT_EQ(peer.take().size(), 1u);
  sc.advance(1s);
  EXPECT_EQ(peer.take().size(), 1u);
  sc.advance(2s);  // backed off
  EXPECT_EQ(peer.take().size(), 1u);
  sc.advance(4s);
  peer.expect_none();
  EXPECT_EQ(state(so), TcpFsmState::kClosed);
  EXPECT_EQ(s.so_stream_status(so).value().error, ETIMEDOUT);
  EXPECT_EQ(st().timeoutdrop, 1u);
}

// Segmentation at the peer's MSS, Nagle holding the runt, ACK every second
// segment, delayed ACK for a lone one (RFC 9293 §3.7.4, §3.8.6.3).
TEST_F(TcpTest, DataBothWaysAtMss) {
  SocketId so = passive(mss(1000));
  auto data = pattern_bytes(3500);
  ASSERT_EQ(s.so_send_stream(so, data).value(), 3500u);
  auto segs = peer.take();
  ASSERT_EQ(segs.size(), 3u);  // the 500-byte runt waits (Nagle)
  for (auto& g : segs) {
    EXPECT_EQ(g.payload.size(), 1000u);
    peer.absorb(g);
  }
  peer.ack();
  SentSeg last = peer.expect_one();
  EXPECT_EQ(last.payload.size(), 500u);
  EXPECT_TRUE(last.has(kTcpPsh));
  peer.absorb(last);
  peer.ack();
  peer.expect_none();
  // Peer to stack: two segments are ACKed at once.
  peer.send(kTcpAck, pattern_bytes(1000, 1));
  peer.expect_none();
  peer.send(kTcpAck, pattern_bytes(1000, 2));
  SentSeg a = peer.expect_one();
  EXPECT_EQ(a.ack.v, peer.snd_nxt);
  // A lone segment waits for the delayed-ACK timer.
  peer.send(kTcpAck | kTcpPsh, pattern_bytes(10, 3));
  peer.expect_none();
  sc.advance(40ms);
  EXPECT_EQ(peer.expect_one().ack.v, peer.snd_nxt);
  EXPECT_EQ(st().delack, 1u);
  auto got = recv_all(so);
  auto want = pattern_bytes(1000, 1);
  auto w2 = pattern_bytes(1000, 2), w3 = pattern_bytes(10, 3);
  want.insert(want.end(), w2.begin(), w2.end());
  want.insert(want.end(), w3.begin(), w3.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.so_recv_stream(so, 10).error().value, EAGAIN);
}

TEST_F(TcpTest, NodelaySendsTheRuntAtOnce) {
  SocketId so = passive(mss(1000));
  EXPECT_EQ(set_int(so, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(1500)).ok());
  EXPECT_EQ(peer.take().size(), 2u);
}

// The MSS we announce and use is clamped by the route's MTU.
TEST_F(TcpTest, MssClampedToRouteMtu) {
  ASSERT_TRUE(s.if_set_mtu(sc.link(), 1280).ok());
  SocketId so = passive(mss(9000));
  (void)so;
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(3000)).ok());
  auto segs = peer.take();
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].payload.size(), 1240u);
}

// RFC 6298 §5: retransmit on timeout, doubling the RTO each time (Karn);
// the floor is 200 ms (net.inet.tcp.rexmit_min, as Linux).
TEST_F(TcpTest, RetransmissionOnTimeoutWithBackoff) {
  SocketId so = passive(mss(1000));
  ASSERT_TRUE(s.so_send_stream(so, bytes_of("payload")).ok());
  SentSeg first = peer.expect_one();
  sc.advance(199ms);
  peer.expect_none();
  sc.advance(1ms);
  SentSeg r1 = peer.expect_one();
  EXPECT_EQ(r1.seq, first.seq);
  EXPECT_EQ(r1.payload, first.payload);
  sc.advance(399ms);
  peer.expect_none();
  sc.advance(1ms);
  EXPECT_EQ(peer.expect_one().seq, first.seq);
  EXPECT_EQ(st().rexmttimeo, 2u);
  EXPECT_EQ(st().sndrexmitpack, 2u);
  peer.absorb(first);
  peer.ack();
  sc.advance(10s);
  peer.expect_none();  // acknowledged: the timer is off
}

// RFC 5681 §3.2 and RFC 6582: three duplicate ACKs retransmit the missing
// segment; a partial ACK retransmits the next hole; a full ACK ends it.
TEST_F(TcpTest, FastRetransmitAfterThreeDuplicateAcks) {
  SocketId so = passive(mss(1000));
  EXPECT_EQ(set_int(so, IPPROTO_TCP, TCP_NODELAY, 1), 0);
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(6000)).ok());
  auto segs = peer.take();
  ASSERT_EQ(segs.size(), 6u);
  peer.absorb(segs[0]);
  peer.ack();  // segment 2 "lost": segments 3.. produce duplicate ACKs
  peer.expect_none();
  peer.ack();
  peer.ack();
  peer.expect_none();
  peer.ack();  // the third duplicate
  SentSeg re = peer.expect_one();
  EXPECT_EQ(re.seq, segs[1].seq);
  EXPECT_EQ(re.payload.size(), 1000u);
  EXPECT_EQ(st().fastretrans, 1u);
  EXPECT_EQ(st().rcvdupack, 3u);
  // Partial ACK: up to segment 3; segment 4 was lost too.
  peer.absorb(segs[2]);
  peer.ack();
  SentSeg re2 = peer.expect_one();
  EXPECT_EQ(re2.seq, segs[3].seq);
  EXPECT_EQ(st().partialack, 1u);
  for (auto& g : segs) {
    peer.absorb(g);
  }
  peer.ack();
  EXPECT_EQ(st().rexmttimeo, 0u);
}

// RFC 9293 §3.8.6.1: a zero window is probed until it opens.
TEST_F(TcpTest, ZeroWindowProbeAndReopening) {
  SocketId so = passive(mss(1000));
  peer.window = 0;
  peer.ack();  // window update: closed
  ASSERT_TRUE(s.so_send_stream(so, bytes_of("waiting")).ok());
  peer.expect_none();
  sc.advance(200ms);
  SentSeg probe = peer.expect_one();
  EXPECT_TRUE(probe.only(kTcpAck));
  EXPECT_EQ(probe.seq.v, peer.rcv_nxt - 1);  // an old sequence number elicits an ACK
  EXPECT_TRUE(probe.payload.empty());
  peer.ack();  // still zero
  sc.advance(399ms);
  peer.expect_none();  // backed off
  sc.advance(1ms);
  EXPECT_EQ(peer.take().size(), 1u);
  EXPECT_EQ(st().sndprobe, 2u);
  peer.window = 65535;
  peer.ack();  // reopened
  SentSeg d = peer.expect_one();
  EXPECT_EQ(d.payload, bytes_of("waiting"));
}

// Active close: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT, then CLOSED after 2*MSL.
TEST_F(TcpTest, ActiveCloseThroughTimeWait) {
  SocketId so = passive(mss(1000));
  ASSERT_TRUE(s.so_shutdown(so, SHUT_WR).ok());
  SentSeg fin = peer.expect_one();
  EXPECT_TRUE(fin.only(kTcpFin | kTcpAck));
  EXPECT_EQ(state(so), TcpFsmState::kFinWait1);
  EXPECT_EQ(s.so_send_stream(so, bytes_of("x")).error().value, EPIPE);
  peer.absorb(fin);
  peer.ack();
  EXPECT_EQ(state(so), TcpFsmState::kFinWait2);
  peer.send(kTcpAck, bytes_of("late"));  // half-close: the peer may still send
  peer.send(kTcpFin | kTcpAck);
  EXPECT_EQ(peer.take().back().ack.v, peer.snd_nxt);
  EXPECT_EQ(state(so), TcpFsmState::kTimeWait);
  EXPECT_EQ(recv_all(so), bytes_of("late"));
  EXPECT_TRUE(s.so_recv_stream(so, 10).value().empty());  // EOF
  sc.advance(59s);
  EXPECT_EQ(state(so), TcpFsmState::kTimeWait);
  sc.advance(1s);  // 2 * MSL = 60 s
  EXPECT_EQ(state(so), TcpFsmState::kClosed);
  s.so_close(so);
  s.so_close(listener);
  EXPECT_TRUE(s.tcp.cbs.empty());
}

// Passive close: CLOSE_WAIT, LAST_ACK, CLOSED.
TEST_F(TcpTest, PassiveClose) {
  SocketId so = passive(mss(1000));
  peer.send(kTcpFin | kTcpAck);
  EXPECT_EQ(peer.expect_one().ack.v, peer.snd_nxt);
  EXPECT_EQ(state(so), TcpFsmState::kCloseWait);
  EXPECT_TRUE(s.so_stream_status(so).value().eof);
  ASSERT_EQ(s.so_send_stream(so, bytes_of("bye")).value(), 3u);  // half-close the other way
  peer.absorb(peer.expect_one());
  s.so_close(so);
  SentSeg fin = peer.expect_one();
  EXPECT_TRUE(fin.has(kTcpFin));
  size_t before = s.tcp.cbs.size();
  peer.absorb(fin);
  peer.ack();
  EXPECT_EQ(s.tcp.cbs.size(), before - 1);  // LAST_ACK -> CLOSED: freed
}

TEST_F(TcpTest, LastAckStateIsVisibleWithShutdown) {
  SocketId so = passive(mss(1000));
  peer.send(kTcpFin | kTcpAck);
  peer.take();
  ASSERT_TRUE(s.so_shutdown(so, SHUT_WR).ok());
  EXPECT_EQ(state(so), TcpFsmState::kLastAck);
  peer.absorb(peer.expect_one());
  peer.ack();
  EXPECT_EQ(state(so), TcpFsmState::kClosed);
}

// Simultaneous close: FIN_WAIT_1, CLOSING, TIME_WAIT.
TEST_F(TcpTest, SimultaneousClose) {
  SocketId so = active(mss(1000));
  ASSERT_TRUE(s.so_shutdown(so, SHUT_WR).ok());
  SentSeg fin = peer.expect_one();
  ASSERT_TRUE(fin.has(kTcpFin));
  peer.send(kTcpFin | kTcpAck);  // crosses ours: does not acknowledge it
  EXPECT_EQ(state(so), TcpFsmState::kClosing);
  EXPECT_EQ(peer.expect_one().ack.v, peer.snd_nxt);
  peer.absorb(fin);
  peer.ack();
  EXPECT_EQ(state(so), TcpFsmState::kTimeWait);
}

// FIN_WAIT_1 straight to TIME_WAIT when the FIN comes with the ACK of ours.
TEST_F(TcpTest, FinAndAckTogether) {
  SocketId so = active(mss(1000));
  ASSERT_TRUE(s.so_shutdown(so, SHUT_WR).ok());
  peer.absorb(peer.expect_one());
  peer.send(kTcpFin | kTcpAck);
  EXPECT_EQ(state(so), TcpFsmState::kTimeWait);
}

// RFC 6191: a new SYN with a newer timestamp ends TIME_WAIT.
TEST_F(TcpTest, TimeWaitReusedByNewerSyn) {
  TcpOptions o = mss(1000);
  o.timestamp = TcpOptions::Timestamp{100, 0};
  SocketId so = passive(o);
  ASSERT_TRUE(s.so_shutdown(so, SHUT_WR).ok());
  peer.absorb(peer.expect_one());
  peer.send(kTcpFin | kTcpAck);
  peer.take();
  ASSERT_EQ(state(so), TcpFsmState::kTimeWait);
  s.so_close(so);
  TcpOptions o2 = mss(1000);
  o2.timestamp = TcpOptions::Timestamp{peer.ts_val + 100, 0};
  peer.snd_nxt += 100000;
  peer.send_raw(peer.snd_nxt, 0, kTcpSyn, {}, o2);
  SentSeg sa = peer.expect_one();
  EXPECT_TRUE(sa.only(kTcpSyn | kTcpAck));
  EXPECT_EQ(st().twreuse, 1u);
}

// RFC 9293 §3.10.7.1: segments to a closed port are answered with RST.
TEST_F(TcpTest, RstForClosedPort) {
  peer.dport = 9;
  peer.send_raw(5000, 0, kTcpSyn);
  SentSeg r = peer.expect_one();
  EXPECT_TRUE(r.only(kTcpRst | kTcpAck));
  EXPECT_EQ(r.seq.v, 0u);
  EXPECT_EQ(r.ack.v, 5001u);
  peer.send_raw(5000, 777, kTcpAck, bytes_of("data"));
  r = peer.expect_one();
  EXPECT_TRUE(r.only(kTcpRst));
  EXPECT_EQ(r.seq.v, 777u);
  peer.send_raw(5000, 777, kTcpRst);
  peer.expect_none();  // never a RST for a RST
  EXPECT_EQ(st().noport, 3u);
  EXPECT_EQ(st().sndrst, 2u);
}

// RFC 5961 §3: RST exactly at RCV.NXT resets; elsewhere in the window it
// draws a challenge ACK; outside the window it is ignored.
TEST_F(TcpTest, InWindowRstGetsChallengeAck) {
  SocketId so = passive(mss(1000));
  peer.send_raw(peer.snd_nxt + 10, 0, kTcpRst);
  SentSeg c = peer.expect_one();
  EXPECT_TRUE(c.only(kTcpAck));
  EXPECT_EQ(c.ack.v, peer.snd_nxt);
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  EXPECT_EQ(st().rcvrstchallenge, 1u);
  EXPECT_EQ(st().challengeack, 1u);
  peer.send_raw(peer.snd_nxt, 0, kTcpRst);
  peer.expect_none();
  EXPECT_EQ(state(so), TcpFsmState::kClosed);
  EXPECT_EQ(s.so_recv_stream(so, 10).error().value, ECONNRESET);
  EXPECT_EQ(st().rcvrst, 1u);
}

TEST_F(TcpTest, OutOfWindowRstIgnored) {
  SocketId so = passive(mss(1000));
  peer.send_raw(peer.snd_nxt + 10000000, 0, kTcpRst);
  peer.send_raw(peer.snd_nxt - 1, 0, kTcpRst);
  peer.expect_none();
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  EXPECT_EQ(st().rcvrstoutwin, 2u);
}

// RFC 5961 §4: a SYN in a synchronized state, whatever its sequence number.
TEST_F(TcpTest, SynInEstablishedGetsChallengeAck) {
  SocketId so = passive(mss(1000));
  peer.send_raw(peer.snd_nxt + 5, 0, kTcpSyn);
  SentSeg c = peer.expect_one();
  EXPECT_TRUE(c.only(kTcpAck));
  EXPECT_EQ(c.ack.v, peer.snd_nxt);
  peer.send_raw(peer.snd_nxt + 50000000, 0, kTcpSyn);
  EXPECT_TRUE(peer.expect_one().only(kTcpAck));
  EXPECT_EQ(state(so), TcpFsmState::kEstablished);
  EXPECT_EQ(st().rcvsynchallenge, 2u);
}

// RFC 5961 §7: challenge ACKs are limited per connection.
TEST_F(TcpTest, ChallengeAcksAreRateLimited) {
  (void)passive(mss(1000));
  for (int i = 0; i < 15; ++i) {
    peer.send_raw(peer.snd_nxt + 10, 0, kTcpRst);
  }
  EXPECT_EQ(peer.take().size(), 10u);
  EXPECT_EQ(st().challengeacklimit, 5u);
  sc.advance(1s);
  peer.send_raw(peer.snd_nxt + 10, 0, kTcpRst);
  EXPECT_EQ(peer.take().size(), 1u);
}

// RFC 5961 §5: an ACK for data never sent is answered and dropped.
TEST_F(TcpTest, AckOfUnsentDataDropped) {
  SocketId so = passive(mss(1000));
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt + 1000, kTcpAck, bytes_of("evil"));
  EXPECT_TRUE(peer.expect_one().only(kTcpAck));
  EXPECT_EQ(s.so_recv_stream(so, 10).error().value, EAGAIN);
  EXPECT_EQ(st().rcvacktoomuch, 1u);
}

// RFC 7323 §5: PAWS drops a segment whose TSval is older than TS.Recent.
TEST_F(TcpTest, PawsDropsOldTimestamp) {
  TcpOptions o = mss(1000);
  o.timestamp = TcpOptions::Timestamp{1000, 0};
  SocketId so = passive(o);
  peer.send(kTcpAck | kTcpPsh, bytes_of("new"));
  TcpOptions old;
  old.timestamp = TcpOptions::Timestamp{500, 0};
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck, bytes_of("old"), old);
  auto acks = peer.take();
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(acks.back().ack.v, peer.snd_nxt);  // "old" not accepted
  EXPECT_EQ(st().pawsdrop, 1u);
  EXPECT_EQ(recv_all(so), bytes_of("new"));
}

// The listen backlog is bounded (min(backlog, kern.somaxconn)); a SYN
// beyond it is dropped silently and answered once there is room.
TEST_F(TcpTest, ListenBacklogFullDropsSyn) {
  ASSERT_TRUE(s.sysctl().set("kern.somaxconn", "1").ok());
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.syncookies", "0").ok());  // drop, not cookies
  listener = listen_on(80, 100);
  TcpPeer p1(sc, 41000), p2(sc, 42000);
  p1.connect(80, mss(1000));
  p2.dport = 80;
  p2.send_raw(p2.snd_nxt, 0, kTcpSyn, {}, mss(1000));
  p2.expect_none();
  EXPECT_EQ(st().listendrop, 1u);
  ASSERT_TRUE(s.so_accept(listener).ok());
  p2.send_raw(p2.snd_nxt, 0, kTcpSyn, {}, mss(1000));  // the peer's retransmission
  EXPECT_TRUE(p2.expect_one().only(kTcpSyn | kTcpAck));
}

TEST_F(TcpTest, ClosingAListenerResetsUnacceptedConnections) {
  listener = listen_on(80);
  peer.connect(80, mss(1000));
  s.so_close(listener);
  SentSeg r = peer.expect_one();
  EXPECT_TRUE(r.has(kTcpRst));
  EXPECT_TRUE(s.tcp.cbs.empty());
}

TEST_F(TcpTest, LingerZeroCloseSendsRst) {
  SocketId so = passive(mss(1000));
  struct linger l {
    1, 0
  };
  std::span<const std::byte> b(reinterpret_cast<const std::byte*>(&l), sizeof l);
  ASSERT_TRUE(s.so_setsockopt(so, SOL_SOCKET, SO_LINGER, b).ok());
  s.so_close(so);
  SentSeg r = peer.expect_one();
  EXPECT_TRUE(r.has(kTcpRst));
  EXPECT_EQ(r.seq.v, peer.rcv_nxt);
}

TEST_F(TcpTest, DataAfterCloseIsAnsweredWithRst) {
  SocketId so = passive(mss(1000));
  s.so_close(so);
  peer.absorb(peer.expect_one());  // our FIN
  peer.send(kTcpAck, bytes_of("too late"));
  EXPECT_TRUE(peer.expect_one().has(kTcpRst));
  EXPECT_EQ(st().rcvafterclose, 1u);
}

TEST_F(TcpTest, OutOfOrderDataIsReassembled) {
  SocketId so = passive(mss(1000));
  uint32_t base = peer.snd_nxt;
  peer.send_raw(base + 3, peer.rcv_nxt, kTcpAck, bytes_of("def"));
  EXPECT_EQ(peer.expect_one().ack.v, base);  // duplicate ACK at once
  peer.send_raw(base, peer.rcv_nxt, kTcpAck, bytes_of("abc"));
  EXPECT_EQ(peer.expect_one().ack.v, base + 6);
  EXPECT_EQ(recv_all(so), bytes_of("abcdef"));
  EXPECT_EQ(st().rcvoopack, 1u);
}

TEST_F(TcpTest, BadChecksumIsCounted) {
  listener = listen_on(80);
  TcpSpec sp;
  sp.src = sc.peer();
  sp.dst = sc.local();
  sp.sport = 1234;
  sp.dport = 80;
  sp.flags = kTcpSyn;
  auto pkt = build_ipv4_tcp(sp);
  pkt.back() ^= std::byte{0x40};
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, pkt));
  peer.expect_none();
  EXPECT_EQ(st().rcvbadsum, 1u);
}

TEST_F(TcpTest, StatsAreSysctlNodes) {
  (void)passive(mss(1000));
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.stats.accepts").value(), "1");
  EXPECT_EQ(s.sysctl().get("kern.somaxconn").value(), "128");
}

}  // namespace
}  // namespace iopkt::test
