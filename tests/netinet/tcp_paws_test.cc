// PAWS (RFC 7323 §5) against a reordering network: a duplicate ACK that
// arrives after a later one carries an older timestamp but is no old
// duplicate of another incarnation — it is accepted and counts toward fast
// retransmit (Linux tcp_disordered_ack), while old data is still dropped.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

class TcpPawsTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};

  // The peer opened a connection with timestamps; Nagle off.
  SocketId passive_ts() {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
    EXPECT_TRUE(s.so_listen(l, 8).ok());
    TcpOptions syn;
    syn.mss = 1000;
    syn.timestamp = TcpOptions::Timestamp{5000, 0};
    peer.connect(80, syn);
    SocketId so = s.so_accept(l).value();
    int one = 1;
    EXPECT_TRUE(s.so_setsockopt(so, IPPROTO_TCP, TCP_NODELAY,
                                std::span(reinterpret_cast<const std::byte*>(&one), sizeof one))
                    .ok());
    return so;
  }
  // A pure ACK of what the peer absorbed, with TSval `tsval`.
  void ack_with_ts(uint32_t tsval) {
    TcpOptions o;
    o.timestamp = TcpOptions::Timestamp{tsval, peer.ts_ecr};
    peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck, {}, o);
  }
  const TcpStat& st() { return s.tcp.stat; }
};

TEST_F(TcpPawsTest, ReorderedDuplicateAckCountsTowardFastRetransmit) {
  SocketId so = passive_ts();
  ASSERT_TRUE(peer.use_ts);
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(5 * 900)).ok());
  auto segs = peer.take();
  ASSERT_GE(segs.size(), 5u);
  peer.absorb(segs[0]);  // segment 2 lost; 3.. each bring a duplicate ACK
  ack_with_ts(6000);     // the ACK of segment 1
  ack_with_ts(6003);     // duplicate #1 (sent third by the peer)
  ack_with_ts(6002);     // duplicate #2, reordered: older TSval
  peer.expect_none();
  ack_with_ts(6004);  // duplicate #3
  SentSeg re = peer.expect_one();
  EXPECT_EQ(re.seq, segs[1].seq) << "the reordered duplicate did not count";
  EXPECT_EQ(st().pawsdrop, 0u);
  EXPECT_EQ(st().rcvdupack, 3u);
}

TEST_F(TcpPawsTest, OldDataIsStillDroppedAndAWindowUpdateIsNotExempt) {
  SocketId so = passive_ts();
  peer.send(kTcpAck, pattern_bytes(100));  // TSval advances
  (void)peer.take();
  // Data carrying an older timestamp: an old duplicate (RFC 7323 §5.3 R1).
  TcpOptions o;
  o.timestamp = TcpOptions::Timestamp{peer.ts_val - 50, peer.ts_ecr};
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck, pattern_bytes(10), o);
  EXPECT_EQ(st().pawsdrop, 1u);
  // The peer's window shrinks with a normal ACK...
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck, {}, peer.ts_opts(), uint16_t{30000});
  // ...then an old-timestamped pure ACK that would open it again: that is
  // information, not a harmless duplicate, so PAWS drops it.
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck, {}, o, uint16_t{60000});
  EXPECT_EQ(st().pawsdrop, 2u);
  EXPECT_EQ(s.so_find(so)->tcb->snd_wnd, 30000u);
  // The same window: a reordered duplicate, accepted.
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpAck, {}, o, uint16_t{30000});
  EXPECT_EQ(st().pawsdrop, 2u);
  (void)so;
}

}  // namespace
}  // namespace iopkt::test
