// SYN cookies (RFC 4987 §3.6): a listener whose queue is full answers a SYN
// with a cookie SYN,ACK and keeps nothing; the ACK that returns a valid
// cookie in time makes the connection, anything else is reset. A scripted
// peer on en0, the virtual clock moved only where a lifetime is tested.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

class SyncookieTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer first{sc, 41000};  // fills the backlog of 1
  TcpPeer peer{sc, 42000};   // meets the full queue
  SocketId listener = 0;

  void SetUp() override {
    listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_TRUE(s.so_bind(listener, SockAddr::inet(InAddr::any(), 80)).ok());
    ASSERT_TRUE(s.so_listen(listener, 1).ok());
    first.connect(80, mss(1000));
    ASSERT_EQ(lcb().accept_q.size(), 1u);
    peer.dport = 80;
  }
  static TcpOptions mss(uint16_t m) {
    TcpOptions o;
    o.mss = m;
    return o;
  }
  TcpCb& lcb() { return *s.so_find(listener)->tcb; }
  TcpCb& cb(SocketId so) { return *s.so_find(so)->tcb; }
  const TcpStat& st() { return s.tcp.stat; }
  // The peer's SYN meets the full queue: the cookie SYN,ACK, nothing kept.
  SentSeg syn_for_cookie(TcpOptions o) {
    size_t cbs = s.tcp.cbs.size();
    peer.send_raw(peer.snd_nxt, 0, kTcpSyn, {}, o);
    SentSeg sa = peer.expect_one();
    EXPECT_TRUE(sa.only(kTcpSyn | kTcpAck));
    EXPECT_EQ(sa.ack.v, peer.snd_nxt + 1);
    EXPECT_EQ(s.tcp.cbs.size(), cbs);
    EXPECT_TRUE(lcb().syn_q.empty());
    EXPECT_EQ(lcb().accept_q.size(), 1u);
    peer.snd_nxt += 1;
    peer.rcv_nxt = sa.seq.v + 1;
    return sa;
  }
  // Move the clock to 1 s into a fresh cookie time slot.
  void align_to_slot() {
    auto into = sc.now().since_origin % kTcpSyncookieSlot;
    sc.advance(kTcpSyncookieSlot - into + 1s);
  }
};

// The scenario of the brief: full backlog, cookie SYN,ACK with no state,
// the peer's ACK (with data) completes the connection, data flows both ways.
TEST_F(SyncookieTest, RoundTrip) {
  TcpOptions o;
  o.mss = 1400;
  o.wscale = 7;
  o.sack_permitted = true;
  o.timestamp = TcpOptions::Timestamp{5000, 0};
  SentSeg sa = syn_for_cookie(o);
  EXPECT_EQ(st().syncookies_sent, 1u);
  EXPECT_EQ(st().listendrop, 0u);
  // Every option offered back (RFC 7323 §2-3, RFC 2018 §2), window unscaled.
  EXPECT_EQ(sa.opts.mss, 1460);
  EXPECT_EQ(sa.opts.wscale, 2);
  EXPECT_TRUE(sa.opts.sack_permitted);
  ASSERT_TRUE(sa.opts.timestamp.has_value());
  EXPECT_EQ(sa.opts.timestamp->ecr, 5000u);
  EXPECT_EQ(sa.window, 65535);
  // The first connection is taken: there is room when the cookie returns.
  ASSERT_TRUE(s.so_accept(listener).ok());
  peer.use_ts = true;
  peer.ts_val = 5001;
  peer.window = 1000;  // scaled by 7: 128000 bytes
  peer.send(kTcpAck | kTcpPsh, bytes_of("hello"));
  EXPECT_EQ(st().syncookies_recvd, 1u);
  EXPECT_EQ(st().syncookies_failed, 0u);
  auto so = s.so_accept(listener);
  ASSERT_TRUE(so.ok());
  TcpCb& tp = cb(*so);
  EXPECT_EQ(tp.state, TcpFsmState::kEstablished);
  EXPECT_EQ(tp.iss.v, sa.seq.v);
  EXPECT_EQ(tp.t_maxseg, 1400);  // the table's entry, not above the peer's MSS
  EXPECT_TRUE(tp.ws_ok);
  EXPECT_EQ(tp.snd_scale, 7);
  EXPECT_EQ(tp.rcv_scale, 2);
  EXPECT_EQ(tp.snd_wnd, 1000u << 7);
  EXPECT_TRUE(tp.sack_ok);
  EXPECT_TRUE(tp.ts_ok);
  auto got = s.so_recv_stream(*so, 100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, bytes_of("hello"));
  // Data from the stack: timestamps, a scaled window, the cookie's ISN + 1.
  (void)peer.take();
  ASSERT_TRUE(s.so_send_stream(*so, bytes_of("world")).ok());
  SentSeg d = peer.expect_one();
  EXPECT_EQ(d.payload, bytes_of("world"));
  EXPECT_EQ(d.seq.v, sa.seq.v + 1);
  EXPECT_EQ(d.ack.v, peer.snd_nxt);
  ASSERT_TRUE(d.opts.timestamp.has_value());
  EXPECT_EQ(d.opts.timestamp->ecr, 5001u);  // the TSval of the ACK with "hello"
  EXPECT_EQ(d.window, 212992 >> 2);
  peer.absorb(d);
  peer.ack();
  EXPECT_EQ(tp.snd_una.v, sa.seq.v + 6);
}

// Without options the peer gets the RFC 9293 §3.7.1 default MSS and no
// scaling, SACK or timestamps; an MSS between table entries rounds down.
TEST_F(SyncookieTest, OptionsDecodedFromTheCookie) {
  SentSeg sa = syn_for_cookie(TcpOptions{});
  EXPECT_FALSE(sa.opts.wscale.has_value());
  EXPECT_FALSE(sa.opts.sack_permitted);
  EXPECT_FALSE(sa.opts.timestamp.has_value());
  ASSERT_TRUE(s.so_accept(listener).ok());
  peer.send(kTcpAck);
  auto so = s.so_accept(listener);
  ASSERT_TRUE(so.ok());
  EXPECT_EQ(cb(*so).t_maxseg, 536);
  EXPECT_FALSE(cb(*so).ws_ok);
  EXPECT_FALSE(cb(*so).sack_ok);
  EXPECT_FALSE(cb(*so).ts_ok);

  // Full again; a peer whose MSS lies between two table entries.
  TcpPeer filler(sc, 44000);
  filler.connect(80, mss(1000));
  TcpPeer p3(sc, 43000);
  p3.dport = 80;
  p3.send_raw(p3.snd_nxt, 0, kTcpSyn, {}, mss(1300));
  SentSeg sa3 = p3.expect_one();
  ASSERT_TRUE(sa3.only(kTcpSyn | kTcpAck));
  ASSERT_TRUE(s.so_accept(listener).ok());
  p3.snd_nxt += 1;
  p3.rcv_nxt = sa3.seq.v + 1;
  p3.send(kTcpAck);
  auto so3 = s.so_accept(listener);
  ASSERT_TRUE(so3.ok());
  EXPECT_EQ(cb(*so3).t_maxseg, 1200);
  EXPECT_EQ(st().syncookies_sent, 2u);
  EXPECT_EQ(st().syncookies_recvd, 2u);
}

// A forged cookie, or a real one with another ISN or other option bits,
// draws <SEQ=SEG.ACK><CTL=RST> and creates nothing.
TEST_F(SyncookieTest, ForgedAckIsReset) {
  SentSeg sa = syn_for_cookie(mss(1000));
  ASSERT_TRUE(s.so_accept(listener).ok());
  size_t cbs = s.tcp.cbs.size();
  struct Case {
    uint32_t seq, ack;
  } cases[] = {
      {peer.snd_nxt, sa.seq.v + 12345},              // a guessed cookie
      {peer.snd_nxt + 1, sa.seq.v + 1},              // another peer ISN
      {peer.snd_nxt, (sa.seq.v ^ 0x8u) + 1},         // the scale bits changed
      {peer.snd_nxt, (sa.seq.v ^ 0x100u) + 1},       // the slot parity changed
      {peer.snd_nxt, (sa.seq.v ^ 0x80000000u) + 1},  // the MAC changed
  };
  uint64_t n = 0;
  for (const Case& c : cases) {
    peer.send_raw(c.seq, c.ack, kTcpAck);
    SentSeg r = peer.expect_one();
    EXPECT_TRUE(r.only(kTcpRst));
    EXPECT_EQ(r.seq.v, c.ack);
    EXPECT_EQ(st().syncookies_failed, ++n);
  }
  // Another 4-tuple cannot use the cookie either.
  TcpPeer other(sc, 42001);
  other.dport = 80;
  other.send_raw(peer.snd_nxt, sa.seq.v + 1, kTcpAck);
  EXPECT_TRUE(other.expect_one().only(kTcpRst));
  EXPECT_EQ(st().syncookies_failed, n + 1);
  EXPECT_EQ(st().syncookies_recvd, 0u);
  EXPECT_EQ(s.tcp.cbs.size(), cbs);
  EXPECT_EQ(s.so_accept(listener).error().value, EAGAIN);
  // The genuine ACK still works.
  peer.send(kTcpAck);
  EXPECT_TRUE(s.so_accept(listener).ok());
}

// A cookie lives through its time slot and the next: accepted in the last
// second of the next slot, refused once two slots have passed.
TEST_F(SyncookieTest, CookieLifetime) {
  align_to_slot();
  SentSeg sa = syn_for_cookie(mss(1000));
  ASSERT_TRUE(s.so_accept(listener).ok());
  sc.advance(kTcpSyncookieSlot * 2 - 2s);
  peer.send(kTcpAck);
  auto so = s.so_accept(listener);
  ASSERT_TRUE(so.ok());
  EXPECT_EQ(cb(*so).iss.v, sa.seq.v);
  EXPECT_EQ(st().syncookies_recvd, 1u);

  // Full again; a new cookie, and its ACK two slots later: refused.
  TcpPeer filler(sc, 44000);
  filler.connect(80, mss(1000));
  TcpPeer p4(sc, 42003);
  p4.dport = 80;
  p4.send_raw(p4.snd_nxt, 0, kTcpSyn, {}, mss(1000));
  SentSeg sa4 = p4.expect_one();
  ASSERT_TRUE(sa4.only(kTcpSyn | kTcpAck));
  EXPECT_EQ(st().syncookies_sent, 2u);
  ASSERT_TRUE(s.so_accept(listener).ok());  // room for it
  sc.advance(kTcpSyncookieSlot * 2);
  size_t cbs = s.tcp.cbs.size();
  p4.send_raw(p4.snd_nxt + 1, sa4.seq.v + 1, kTcpAck);
  SentSeg r = p4.expect_one();
  EXPECT_TRUE(r.only(kTcpRst));
  EXPECT_EQ(r.seq.v, sa4.seq.v + 1);
  EXPECT_EQ(st().syncookies_failed, 1u);
  EXPECT_EQ(st().syncookies_recvd, 1u);
  EXPECT_EQ(s.tcp.cbs.size(), cbs);
  EXPECT_EQ(s.so_accept(listener).error().value, EAGAIN);
}

// A valid cookie while the queue is still full: dropped quietly (no RST),
// and the peer's next segment, carrying the same cookie, gets in.
TEST_F(SyncookieTest, ValidCookieWithoutRoomWaits) {
  syn_for_cookie(mss(1000));
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck);
  peer.expect_none();
  EXPECT_EQ(st().syncookies_recvd, 1u);
  EXPECT_EQ(st().listendrop, 1u);
  EXPECT_EQ(lcb().accept_q.size(), 1u);
  ASSERT_TRUE(s.so_accept(listener).ok());
  peer.send(kTcpAck | kTcpPsh, bytes_of("data"));
  auto so = s.so_accept(listener);
  ASSERT_TRUE(so.ok());
  auto got = s.so_recv_stream(*so, 100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, bytes_of("data"));
}

// net.inet.tcp.syncookies=0: the SYN is dropped as before, and an ACK for
// no embryo is a plain stray (RFC 9293 §3.10.7.2).
TEST_F(SyncookieTest, DisabledDropsTheSyn) {
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.syncookies", "0").ok());
  peer.send_raw(peer.snd_nxt, 0, kTcpSyn, {}, mss(1000));
  peer.expect_none();
  EXPECT_EQ(st().listendrop, 1u);
  EXPECT_EQ(st().syncookies_sent, 0u);
  peer.send_raw(peer.snd_nxt + 1, 777, kTcpAck);
  EXPECT_TRUE(peer.expect_one().only(kTcpRst));
  EXPECT_EQ(st().rcvnosock, 1u);
  EXPECT_EQ(st().syncookies_failed, 0u);
  auto v = s.sysctl().get("net.inet.tcp.stats.syncookies_sent");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "0");
}

// A listener that never sent a cookie spends no MAC on a stray ACK.
TEST_F(SyncookieTest, StrayAckWithoutRecentCookiesIsPlainReset) {
  peer.send_raw(peer.snd_nxt, 777, kTcpAck);
  EXPECT_TRUE(peer.expect_one().only(kTcpRst));
  EXPECT_EQ(st().rcvnosock, 1u);
  EXPECT_EQ(st().syncookies_failed, 0u);
}

}  // namespace
}  // namespace iopkt::test
