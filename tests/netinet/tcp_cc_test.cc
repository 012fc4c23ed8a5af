// Congestion control (tcp_cc.hh): NewReno (RFC 5681) and CUBIC (RFC 9438)
// on the virtual clock, TCP_CONGESTION and net.inet.tcp.congestion.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cmath>
#include <cstring>
#include <string>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kSmss = 1000;

class TcpCcTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();

  // A control block alone, as after a loss with `segs` segments in flight
  // (the window fully used), an RTT of 100 ms.
  TcpCb& flow(const TcpCongestionControl& cc, uint32_t segs) {
    TcpCb& tp = *tcp_newcb(s);
    tp.cc = &cc;
    cc.init(tp);
    tp.t_maxseg = kSmss;
    tp.srtt = 100ms;
    tp.snd_una = TcpSeq{1};
    tp.snd_max = tp.snd_una + segs * kSmss;
    tp.cwnd = segs * kSmss;
    tp.ssthresh = 0xffffffffu;
    return tp;
  }
  // The loss, then `rounds` RTTs of ACKs for a full window each (one ACK per
  // segment). Returns cwnd in segments after each round.
  std::vector<double> after_loss(TcpCb& tp, int rounds) {
    tp.cc->on_loss(s.now(), tp);
    tp.cwnd = tp.ssthresh;
    std::vector<double> w;
    for (int r = 0; r < rounds; ++r) {
      uint32_t acks = tp.cwnd / kSmss;
      for (uint32_t i = 0; i < acks; ++i) {
        tp.cc->on_ack(s.now(), tp, kSmss);
      }
      sc.advance(100ms);
      w.push_back(static_cast<double>(tp.cwnd) / kSmss);
    }
    return w;
  }

  SocketId stream() { return s.so_create(AF_INET, SOCK_STREAM, 0).value(); }
  Result<void, Errno> set_cc(SocketId so, std::string_view name) {
    return s.so_setsockopt(so, IPPROTO_TCP, TCP_CONGESTION,
                           std::span(reinterpret_cast<const std::byte*>(name.data()), name.size()));
  }
  std::string get_cc(SocketId so) {
    auto v = s.so_getsockopt(so, IPPROTO_TCP, TCP_CONGESTION, 16);
    EXPECT_TRUE(v.ok());
    if (!v.ok()) {
      return {};
    }
    EXPECT_EQ(v->size(), 16u);  // TCP_CA_NAME_MAX, NUL-padded
    return std::string(reinterpret_cast<const char*>(v->data()));
  }
};

// RFC 9438 §4.6: ssthresh = 0.7 * flight; RFC 5681 §3.2 eq. 4: half.
TEST_F(TcpCcTest, MultiplicativeDecrease) {
  TcpCb& c = flow(tcp_cc_cubic(), 100);
  tcp_cc_cubic().on_loss(s.now(), c);
  EXPECT_EQ(c.ssthresh, 70u * kSmss);
  EXPECT_DOUBLE_EQ(c.cubic.w_max, 100.0);
  TcpCb& r = flow(tcp_cc_newreno(), 100);
  tcp_cc_newreno().on_loss(s.now(), r);
  EXPECT_EQ(r.ssthresh, 50u * kSmss);
  // Never below two segments.
  TcpCb& tiny = flow(tcp_cc_cubic(), 2);
  tcp_cc_cubic().on_loss(s.now(), tiny);
  EXPECT_EQ(tiny.ssthresh, 2u * kSmss);
}

// RFC 9438 §4.2-4.5: after a loss CUBIC grows concavely up to W_max,
// stays near it around t = K, then probes convexly; Reno adds one segment
// per RTT from half the window.
TEST_F(TcpCcTest, CubicConcaveThenConvexRenoLinear) {
  TcpCb& c = flow(tcp_cc_cubic(), 100);
  const double k = std::cbrt(100 * (1 - kCubicBeta) / kCubicC);  // 4.22 s
  auto w = after_loss(c, 100);                                   // 10 s
  EXPECT_NEAR(c.cubic.k, k, 0.05);
  const int k_round = static_cast<int>(k / 0.1);
  auto inc = [&](int from, int to) { return (w[to] - w[from]) / (to - from); };
  // Concave: fast first, slowing toward W_max.
  EXPECT_GT(inc(0, 10), 2 * inc(20, 30));
  EXPECT_GT(inc(20, 30), inc(k_round - 10, k_round));
  // The plateau: close to W_max = 100 around K, not far beyond it.
  EXPECT_NEAR(w[k_round], 100.0, 3.0);
  EXPECT_LT(inc(k_round - 5, k_round + 5), 0.5);
  // Past K, at this RTT the Reno-friendly estimate leads for a while
  // (§4.3): never slower than Reno's segment per RTT...
  EXPECT_GT(inc(k_round + 20, k_round + 30), 0.9);
  // ...until the convex curve overtakes it and keeps speeding up (§4.5).
  EXPECT_GT(inc(k_round + 48, k_round + 57), 2 * inc(k_round + 20, k_round + 30));
  EXPECT_GT(w.back(), 140.0);

  TcpCb& r = flow(tcp_cc_newreno(), 100);
  auto wr = after_loss(r, 100);
  // Reno: about one segment per RTT, everywhere.
  EXPECT_NEAR(wr[9] - wr[0], 9.0, 1.0);
  EXPECT_NEAR(wr[89] - wr[79], 10.0, 1.5);
  // CUBIC is back at W_max long before Reno.
  EXPECT_LT(wr[k_round], 95.0);
  EXPECT_GT(w[k_round], wr[k_round] + 3.0);
}

// RFC 9438 §4.7: a loss below the previous W_max (another flow took its
// share) sets W_max to cwnd * (1 + beta) / 2; one above it to cwnd.
TEST_F(TcpCcTest, CubicFastConvergence) {
  TcpCb& c = flow(tcp_cc_cubic(), 100);
  (void)after_loss(c, 5);  // W_max 100, cwnd ~ 70-80
  ASSERT_LT(c.cwnd, 100u * kSmss);
  double cwnd = static_cast<double>(c.cwnd) / kSmss;
  c.snd_max = c.snd_una + c.cwnd;  // the window in flight
  tcp_cc_cubic().on_loss(s.now(), c);
  EXPECT_NEAR(c.cubic.w_max, cwnd * (1 + kCubicBeta) / 2, 1e-9);
  EXPECT_EQ(c.ssthresh, static_cast<uint32_t>(c.cwnd * kCubicBeta));
  // K now counts from the lower W_max: the plateau comes sooner.
  c.cwnd = c.ssthresh;
  tcp_cc_cubic().on_ack(s.now(), c, kSmss);
  double w_max = c.cubic.w_max;
  double w0 = static_cast<double>(c.ssthresh) / kSmss;
  EXPECT_NEAR(c.cubic.k, std::cbrt((w_max - w0) / kCubicC), 0.01);
  // Growing past W_max again, a later loss sets W_max to the window.
  TcpCb& d = flow(tcp_cc_cubic(), 100);
  (void)after_loss(d, 80);
  ASSERT_GT(d.cwnd, 100u * kSmss);
  double big = static_cast<double>(d.cwnd) / kSmss;
  tcp_cc_cubic().on_loss(s.now(), d);
  EXPECT_NEAR(d.cubic.w_max, big, 1e-9);
}

// RFC 9438 §4.3: with a short RTT and a small window the Reno-friendly
// estimate leads; CUBIC is never slower than Reno would be.
TEST_F(TcpCcTest, CubicRenoFriendlyRegion) {
  TcpCb& c = flow(tcp_cc_cubic(), 10);
  c.srtt = 1ms;
  tcp_cc_cubic().on_loss(s.now(), c);
  c.cwnd = c.ssthresh;  // 7 segments
  for (int r = 0; r < 20; ++r) {
    uint32_t acks = c.cwnd / kSmss;
    for (uint32_t i = 0; i < acks; ++i) {
      tcp_cc_cubic().on_ack(s.now(), c, kSmss);
    }
    sc.advance(1ms);
  }
  // 20 RTTs of 1 ms: W_cubic has barely moved (t = 20 ms), W_est has
  // grown by about alpha = 0.53 then 1 segment per RTT.
  EXPECT_GT(c.cwnd, 7u * kSmss + 10u * kSmss);
  EXPECT_NEAR(c.cubic.w_est, static_cast<double>(c.cwnd) / kSmss, 1.0);
}

// Slow start is the same for both below ssthresh (RFC 5681 §3.1).
TEST_F(TcpCcTest, SlowStartBelowSsthresh) {
  for (const auto* cc : tcp_cc_all()) {
    TcpCb& tp = flow(*cc, 10);
    tp.ssthresh = 100 * kSmss;
    cc->on_ack(s.now(), tp, 3 * kSmss);  // at most one SMSS per ACK
    EXPECT_EQ(tp.cwnd, 11 * kSmss) << cc->name();
  }
}

// RFC 9438 §4.8: after a timeout CUBIC restarts with K = 0 and W_max the
// window at the start of congestion avoidance.
TEST_F(TcpCcTest, CubicAfterTimeout) {
  TcpCb& c = flow(tcp_cc_cubic(), 100);
  tcp_cc_cubic().on_rto(s.now(), c);
  EXPECT_EQ(c.ssthresh, 70u * kSmss);
  c.cwnd = c.ssthresh;
  tcp_cc_cubic().on_ack(s.now(), c, kSmss);
  EXPECT_DOUBLE_EQ(c.cubic.k, 0.0);
  EXPECT_NEAR(c.cubic.w_max, 70.0, 1e-9);
}

// tcp(7) TCP_CONGESTION: names as Linux, ENOENT for an unknown one.
TEST_F(TcpCcTest, TcpCongestionOption) {
  SocketId so = stream();
  EXPECT_EQ(get_cc(so), "cubic");  // the default
  ASSERT_TRUE(set_cc(so, "reno").ok());
  EXPECT_EQ(get_cc(so), "reno");
  EXPECT_EQ(s.so_find(so)->tcb->cc, &tcp_cc_newreno());
  // A NUL-terminated buffer longer than the name, as C programs pass it.
  const char buf[16] = "cubic";
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_TCP, TCP_CONGESTION,
                              std::span(reinterpret_cast<const std::byte*>(buf), sizeof buf))
                  .ok());
  EXPECT_EQ(get_cc(so), "cubic");
  EXPECT_EQ(set_cc(so, "vegas").error().value, ENOENT);
  EXPECT_EQ(set_cc(so, "cubicx").error().value, ENOENT);
  EXPECT_EQ(set_cc(so, "").error().value, EINVAL);
  EXPECT_EQ(get_cc(so), "cubic");  // unchanged by the failures
}

// net.inet.tcp.congestion: the default of new sockets; an unknown name is
// ENOENT; the available ones are listed.
TEST_F(TcpCcTest, CongestionSysctl) {
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.congestion").value(), "cubic");
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.available_congestion").value(), "reno cubic");
  EXPECT_EQ(s.sysctl().set("net.inet.tcp.congestion", "bbr").error().value, ENOENT);
  SocketId before = stream();
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.congestion", "reno").ok());
  EXPECT_EQ(s.sysctl().get("net.inet.tcp.congestion").value(), "reno");
  EXPECT_EQ(get_cc(stream()), "reno");
  EXPECT_EQ(get_cc(before), "cubic");  // existing sockets keep theirs
}

// On the wire: three duplicate ACKs cut ssthresh to 0.7 of the flight with
// CUBIC, half with Reno; an accepted socket has its listener's algorithm.
TEST_F(TcpCcTest, FastRetransmitReductionPerAlgorithm) {
  for (const char* name : {"cubic", "reno"}) {
    Scenario sc2;
    Stack& st = sc2.stack();
    TcpPeer peer{sc2};
    SocketId l = st.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_TRUE(st.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
    std::string_view n(name);
    ASSERT_TRUE(st.so_setsockopt(l, IPPROTO_TCP, TCP_CONGESTION,
                                 std::span(reinterpret_cast<const std::byte*>(n.data()), n.size()))
                    .ok());
    ASSERT_TRUE(st.so_listen(l, 4).ok());
    TcpOptions o;
    o.mss = 1000;
    (void)peer.connect(80, o);
    SocketId so = st.so_accept(l).value();
    TcpCb& tp = *st.so_find(so)->tcb;
    EXPECT_EQ(tp.cc->name(), n);
    int one = 1;
    ASSERT_TRUE(st.so_setsockopt(so, IPPROTO_TCP, TCP_NODELAY,
                                 std::span(reinterpret_cast<const std::byte*>(&one), sizeof one))
                    .ok());
    ASSERT_TRUE(st.so_send_stream(so, pattern_bytes(10000)).ok());
    ASSERT_EQ(peer.take().size(), 10u);
    for (int i = 0; i < 3; ++i) {
      peer.ack();  // nothing arrived: duplicates of the handshake's ACK
    }
    auto re = peer.take();
    ASSERT_EQ(re.size(), 1u) << name;
    EXPECT_EQ(re[0].seq.v, peer.rcv_nxt);
    EXPECT_EQ(tp.ssthresh, n == "cubic" ? 7000u : 5000u) << name;
  }
}

}  // namespace
}  // namespace iopkt::test
