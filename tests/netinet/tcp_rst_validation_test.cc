// net.inet.tcp.rst_validation (io-pkt's no_rst_validation when 0): with 1
// the RFC 5961 checks against blind injection apply (§3 RST, §4 SYN, §5
// ACK); with 0 the stack answers as RFC 793 did. Every case runs under
// both settings and asserts what each must do.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

class RstValidationTest : public ::testing::TestWithParam<bool> {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId so = 0;

  bool validate() const { return GetParam(); }
  void SetUp() override {
    ASSERT_TRUE(s.sysctl().set("net.inet.tcp.rst_validation", validate() ? "1" : "0").ok());
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
    ASSERT_TRUE(s.so_listen(l, 4).ok());
    TcpOptions o;
    o.mss = 1000;
    peer.connect(80, o);
    auto a = s.so_accept(l);
    ASSERT_TRUE(a.ok());
    so = *a;
    ASSERT_EQ(state(), TcpFsmState::kEstablished);
  }
  TcpFsmState state() { return s.so_stream_status(so).value().state; }
  const TcpStat& st() { return s.tcp.stat; }
};

INSTANTIATE_TEST_SUITE_P(Both, RstValidationTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "on" : "off"; });

TEST_P(RstValidationTest, SysctlReadsBack) {
  auto v = s.sysctl().get("net.inet.tcp.rst_validation");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, validate() ? "1" : "0");
}

// RFC 5961 §3.2: in the window but not at RCV.NXT, a challenge ACK; RFC 793
// p. 70 resets on any RST in the window.
TEST_P(RstValidationTest, InWindowRst) {
  peer.send_raw(peer.snd_nxt + 100, 0, kTcpRst);
  if (validate()) {
    SentSeg c = peer.expect_one();
    EXPECT_TRUE(c.only(kTcpAck));
    EXPECT_EQ(c.ack.v, peer.snd_nxt);
    EXPECT_EQ(state(), TcpFsmState::kEstablished);
    EXPECT_EQ(st().rcvrstchallenge, 1u);
    EXPECT_EQ(st().rcvrst, 0u);
  } else {
    peer.expect_none();  // never a reply to a RST
    EXPECT_EQ(state(), TcpFsmState::kClosed);
    EXPECT_EQ(s.so_recv_stream(so, 10).error().value, ECONNRESET);
    EXPECT_EQ(st().rcvrstchallenge, 0u);
    EXPECT_EQ(st().rcvrst, 1u);
  }
}

// Exactly at RCV.NXT a RST resets under both rules.
TEST_P(RstValidationTest, RstAtRcvNxtResets) {
  peer.send_raw(peer.snd_nxt, 0, kTcpRst);
  peer.expect_none();
  EXPECT_EQ(state(), TcpFsmState::kClosed);
  EXPECT_EQ(st().rcvrst, 1u);
}

// Outside the window a RST is dropped under both rules.
TEST_P(RstValidationTest, OutOfWindowRstIgnored) {
  peer.send_raw(peer.snd_nxt + 10000000, 0, kTcpRst);
  peer.send_raw(peer.snd_nxt - 1, 0, kTcpRst);
  peer.expect_none();
  EXPECT_EQ(state(), TcpFsmState::kEstablished);
  EXPECT_EQ(st().rcvrstoutwin, 2u);
}

// RFC 5961 §4.2: a SYN in the window draws a challenge ACK; RFC 793 p. 71:
// "If the SYN is in the window it is an error, send a reset".
TEST_P(RstValidationTest, SynInWindow) {
  peer.send_raw(peer.snd_nxt + 5, 0, kTcpSyn);
  SentSeg r = peer.expect_one();
  if (validate()) {
    EXPECT_TRUE(r.only(kTcpAck));
    EXPECT_EQ(r.ack.v, peer.snd_nxt);
    EXPECT_EQ(state(), TcpFsmState::kEstablished);
    EXPECT_EQ(st().rcvsynchallenge, 1u);
  } else {
    EXPECT_TRUE(r.has(kTcpRst));
    EXPECT_EQ(r.seq.v, peer.rcv_nxt);  // SND.NXT
    EXPECT_EQ(state(), TcpFsmState::kClosed);
    EXPECT_EQ(s.so_recv_stream(so, 10).error().value, ECONNRESET);
    EXPECT_EQ(st().rcvsynchallenge, 0u);
  }
}

// A SYN far outside the window: a challenge ACK (RFC 5961 §4.2 "regardless
// of the sequence number"), or the ACK of an unacceptable segment (RFC 793
// p. 69). Either way the connection stays.
TEST_P(RstValidationTest, SynOutsideWindow) {
  peer.send_raw(peer.snd_nxt + 50000000, 0, kTcpSyn);
  SentSeg r = peer.expect_one();
  EXPECT_TRUE(r.only(kTcpAck));
  EXPECT_EQ(r.ack.v, peer.snd_nxt);
  EXPECT_EQ(state(), TcpFsmState::kEstablished);
  EXPECT_EQ(st().rcvsynchallenge, validate() ? 1u : 0u);
  EXPECT_EQ(st().rcvoutwin, validate() ? 0u : 1u);
}

// RFC 5961 §5.2: data whose ACK lies below SND.UNA - MAX.SND.WND is a
// blind injection: challenge ACK, dropped. RFC 793 only ignores the old
// ACK field and takes the data.
TEST_P(RstValidationTest, DataWithAncientAck) {
  uint32_t old_ack = peer.rcv_nxt - 200000;
  peer.send_raw(peer.snd_nxt, old_ack, kTcpAck | kTcpPsh, bytes_of("inject"));
  auto got = s.so_recv_stream(so, 100);
  if (validate()) {
    SentSeg c = peer.expect_one();
    EXPECT_TRUE(c.only(kTcpAck));
    EXPECT_EQ(c.ack.v, peer.snd_nxt);
    EXPECT_EQ(st().rcvackold, 1u);
    EXPECT_EQ(got.error().value, EAGAIN);
  } else {
    EXPECT_EQ(st().rcvackold, 0u);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, bytes_of("inject"));
  }
  EXPECT_EQ(state(), TcpFsmState::kEstablished);
}

// The knob is read per segment: turning it off at run time applies to the
// next segment of an existing connection.
TEST_P(RstValidationTest, ChangedAtRunTime) {
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.rst_validation", validate() ? "0" : "1").ok());
  peer.send_raw(peer.snd_nxt + 100, 0, kTcpRst);
  EXPECT_EQ(state(), validate() ? TcpFsmState::kClosed : TcpFsmState::kEstablished);
}

}  // namespace
}  // namespace iopkt::test
