// ICMP errors about TCP connections (RFC 1122 §4.2.3.9, RFC 5927, Linux
// tcp_v4_err): hard errors abort a connection being opened, soft errors
// are kept and reported only when a synchronized connection times out;
// quotes of other connections or of sequence numbers not in flight are
// ignored. Assertions on the frames exchanged and the socket's errors.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "harness/ip4_frames.hh"
#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

InAddr router() { return InAddr::from_octets(192, 0, 2, 254); }

std::vector<std::byte> quote_of(Scenario& sc, const SentSeg& seg) {
  Ip4 q;
  q.src = sc.local();
  q.dst = sc.peer();
  q.proto = kIpProtoTcp;
  q.payload.resize(8);
  store_be16(q.payload, 0, seg.sport);
  store_be16(q.payload, 2, seg.dport);
  store_be32(q.payload, 4, seg.seq.v);
  return q.build();
}

void icmp_error_about(Scenario& sc, uint8_t type, uint8_t code, const SentSeg& seg) {
  Ip4 ip;
  ip.src = router();
  ip.dst = sc.local();
  ip.proto = kIpProtoIcmp;
  ip.payload = icmp_msg(type, code, 0, quote_of(sc, seg));
  inject_ip(sc, ip.build());
}

class TcpIcmpTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};

  static TcpOptions mss(uint16_t m) {
    TcpOptions o;
    o.mss = m;
    return o;
  }
  SocketId connecting() {
    SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_EQ(s.so_connect(so, SockAddr::inet(sc.peer(), peer.port())).error().value, EINPROGRESS);
    return so;
  }
  SocketId established() {
    SocketId so = connecting();
    peer.accept_syn(mss(1460));
    return so;
  }
  TcpSocketStatus status(SocketId so) { return s.so_stream_status(so).value(); }
  const TcpStat& st() { return s.tcp.stat; }
};

// RFC 1122 §4.2.3.9: port unreachable is a hard error; during SYN-SENT it
// aborts the connect with ECONNREFUSED, without a RST.
TEST_F(TcpIcmpTest, PortUnreachableDuringSynSentRefuses) {
  SocketId so = connecting();
  SentSeg syn = peer.expect_one();
  ASSERT_TRUE(syn.only(kTcpSyn));
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachPort, syn);
  TcpSocketStatus st1 = status(so);
  EXPECT_EQ(st1.state, TcpFsmState::kClosed);
  EXPECT_EQ(st1.error, ECONNREFUSED);
  EXPECT_EQ(st().icmp_hard, 1u);
  EXPECT_EQ(st().conndrops, 1u);
  peer.expect_none();  // no RST: nothing was synchronized
  auto r = s.so_recv_stream(so, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, ECONNREFUSED);
  // No SYN retransmission afterwards.
  sc.advance(5s);
  peer.expect_none();
}

// Linux tcp_v4_err: net and host unreachable and Time Exceeded abort a
// connection being opened at once, with the converted errno.
TEST_F(TcpIcmpTest, HostUnreachableAndTimeExceededAbortSynSent) {
  SocketId so = connecting();
  SentSeg syn = peer.expect_one();
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachHost, syn);
  EXPECT_EQ(status(so).error, EHOSTUNREACH);
  EXPECT_EQ(status(so).state, TcpFsmState::kClosed);

  TcpPeer peer2{sc, 40001};
  SocketId so2 = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_EQ(s.so_connect(so2, SockAddr::inet(sc.peer(), 40001)).error().value, EINPROGRESS);
  SentSeg syn2 = peer2.expect_one();
  icmp_error_about(sc, kIcmpTimeExceeded, kIcmpTimxceedInTransit, syn2);
  EXPECT_EQ(status(so2).error, EHOSTUNREACH);

  TcpPeer peer3{sc, 40002};
  SocketId so3 = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_EQ(s.so_connect(so3, SockAddr::inet(sc.peer(), 40002)).error().value, EINPROGRESS);
  SentSeg syn3 = peer3.expect_one();
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachNet, syn3);
  EXPECT_EQ(status(so3).error, ENETUNREACH);
  EXPECT_EQ(st().icmp_hard, 3u);
}

// RFC 5927 §4.1: a quote whose sequence number is not the SYN's is
// ignored (counted), and the handshake goes on.
TEST_F(TcpIcmpTest, WrongSequenceDuringSynSentIsIgnored) {
  SocketId so = connecting();
  SentSeg syn = peer.expect_one();
  SentSeg forged = syn;
  forged.seq = syn.seq + 1;  // SND.MAX: not in flight
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachPort, forged);
  forged.seq = syn.seq - 100000;
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachPort, forged);
  EXPECT_EQ(st().icmp_badseq, 2u);
  EXPECT_EQ(status(so).state, TcpFsmState::kSynSent);
  EXPECT_EQ(status(so).error, 0);
  // Another local port: no such connection.
  forged = syn;
  forged.sport = static_cast<uint16_t>(syn.sport + 1);
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachPort, forged);
  EXPECT_EQ(st().icmp_nomatch, 1u);
  EXPECT_EQ(status(so).state, TcpFsmState::kSynSent);
}

// RFC 1122 §4.2.3.9: on an established connection host unreachable is a
// soft error: nothing changes until the retransmissions give up, and then
// the connection reports EHOSTUNREACH rather than ETIMEDOUT (Linux
// tcp_write_err), after a RST to the peer.
TEST_F(TcpIcmpTest, SoftErrorReportedWhenRetransmissionsGiveUp) {
  s.tcp.data_retries = 3;
  SocketId so = established();
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(100)).ok());
  SentSeg d = peer.expect_one();
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachHost, d);
  EXPECT_EQ(st().icmp_soft, 1u);
  EXPECT_EQ(status(so).state, TcpFsmState::kEstablished);
  EXPECT_EQ(status(so).error, 0);
  peer.expect_none();
  int rexmits = 0;
  bool rst = false;
  for (int i = 0; i < 600 && status(so).state != TcpFsmState::kClosed; ++i) {
    sc.advance(1s);
    for (const SentSeg& seg : peer.take()) {
      if (seg.has(kTcpRst)) {
        rst = true;
      } else {
        EXPECT_EQ(seg.seq, d.seq);
        ++rexmits;
      }
    }
  }
  EXPECT_EQ(rexmits, 3);
  EXPECT_TRUE(rst);
  EXPECT_EQ(status(so).state, TcpFsmState::kClosed);
  EXPECT_EQ(status(so).error, EHOSTUNREACH);
  auto r = s.so_send_stream(so, pattern_bytes(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().value, EHOSTUNREACH);
}

// An acknowledgment after the soft error shows the path works: a later
// timeout is plain ETIMEDOUT.
TEST_F(TcpIcmpTest, AckClearsTheSoftError) {
  s.tcp.data_retries = 2;
  SocketId so = established();
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(100)).ok());
  SentSeg d = peer.expect_one();
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachNet, d);
  EXPECT_EQ(s.so_find(so)->tcb->soft_error, ENETUNREACH);
  peer.absorb(d);
  peer.ack();
  EXPECT_EQ(s.so_find(so)->tcb->soft_error, 0);
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(10)).ok());
  SentSeg d2 = peer.expect_one();
  (void)d2;
  for (int i = 0; i < 600 && status(so).state != TcpFsmState::kClosed; ++i) {
    sc.advance(1s);
  }
  EXPECT_EQ(status(so).error, ETIMEDOUT);
}

// RFC 5927 §4.1 on an established connection: an error quoting acknowledged
// data is stale and ignored; it is not kept as a soft error.
TEST_F(TcpIcmpTest, StaleQuoteOnEstablishedIgnored) {
  SocketId so = established();
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(100)).ok());
  SentSeg d = peer.expect_one();
  peer.absorb(d);
  peer.ack();
  icmp_error_about(sc, kIcmpUnreach, kIcmpUnreachHost, d);  // all acknowledged
  EXPECT_EQ(st().icmp_badseq, 1u);
  EXPECT_EQ(st().icmp_soft, 0u);
  EXPECT_EQ(s.so_find(so)->tcb->soft_error, 0);
  peer.expect_none();
}

}  // namespace
}  // namespace iopkt::test
