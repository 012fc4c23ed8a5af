// RACK-TLP (RFC 8985) and Limited Transmit (RFC 3042) as a sender, against
// a scripted peer: a simulated path with a 20 ms one-way delay forward and
// immediate ACKs back (RTT 20 ms), on which a test loses or delays chosen
// transmissions. The assertions are on the segments the stack sent, and
// when.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

constexpr Duration kOneWay = 20ms;

// A receiver: stores what arrives, ACKs cumulatively, SACKs the islands
// (the one holding the newest segment first, RFC 2018 §4).
struct Receiver {
  uint32_t base = 0;
  uint32_t cum = 0;
  std::map<uint32_t, uint32_t> islands;  // offset -> end
  uint32_t last = 0;
  std::vector<std::byte> data;
  // RFC 2883: a segment wholly below the cumulative ACK is reported once,
  // as the first block (a D-SACK), unless `dsack_on` is off.
  bool dsack_on = true;
  std::optional<std::pair<uint32_t, uint32_t>> dsack;
  // RFC 7323 §4.3: TS.Recent follows the segments at or below the last ACK
  // sent (`cum` as last ACKed), echoed on each ACK.
  uint32_t ts_recent = 0;

  void take(const SentSeg& g) {
    const uint32_t off = g.seq.v - base;
    const uint32_t end = off + static_cast<uint32_t>(g.payload.size());
    if (g.opts.timestamp && off <= cum && !ts_lt(g.opts.timestamp->val, ts_recent)) {
      ts_recent = g.opts.timestamp->val;
    }
    if (data.size() < end) {
      data.resize(end);
    }
    std::copy(g.payload.begin(), g.payload.end(), data.begin() + off);
    last = off;
    if (end <= cum) {
      if (dsack_on) {
        dsack = {off, end};
      }
      return;
    }
    islands[off] = std::max(islands[off], end);
    std::map<uint32_t, uint32_t> merged;
    for (auto [l, r] : islands) {
      if (!merged.empty() && l <= std::prev(merged.end())->second) {
        std::prev(merged.end())->second = std::max(std::prev(merged.end())->second, r);
      } else {
        merged[l] = r;
      }
    }
    islands.clear();
    for (auto [l, r] : merged) {
      if (l <= cum) {
        cum = std::max(cum, r);
      } else {
        islands[l] = r;
      }
    }
  }
  TcpOptions opts() {
    TcpOptions o;
    if (dsack) {
      o.sack[o.sack_count++] = {TcpSeq{base + dsack->first}, TcpSeq{base + dsack->second}};
      dsack.reset();
    }
    for (int pass = 0; pass < 2; ++pass) {
      for (auto [l, r] : islands) {
        const bool newest = l <= last && last < r;
        if (newest == (pass == 0) && o.sack_count < kTcpMaxSackBlocks) {
          o.sack[o.sack_count++] = {TcpSeq{base + l}, TcpSeq{base + r}};
        }
      }
    }
    return o;
  }
};

class TcpRackTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId so = 0;

  // A passive open whose handshake takes one RTT (so SRTT starts at the
  // path's 20 ms), MSS 1000, TCP_NODELAY; timestamps when `ts` (segments
  // of 988 bytes then).
  void open(bool sack, bool ts = false) {
    SocketId l = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
    ASSERT_TRUE(s.so_listen(l, 8).ok());
    TcpOptions syn;
    syn.mss = 1000;
    syn.sack_permitted = sack;
    if (ts) {
      syn.timestamp = TcpOptions::Timestamp{peer.ts_val++, 0};
    }
    peer.dport = 80;
    peer.send_raw(peer.snd_nxt, 0, kTcpSyn, {}, syn);
    peer.snd_nxt += 1;
    SentSeg sa = peer.expect_one();
    ASSERT_TRUE(sa.only(kTcpSyn | kTcpAck));
    peer.rcv_nxt = sa.seq.v + 1;
    peer.use_ts = ts;
    sc.advance(kOneWay);
    peer.send(kTcpAck);
    auto a = s.so_accept(l);
    ASSERT_TRUE(a.ok());
    so = *a;
    int one = 1;
    ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_TCP, TCP_NODELAY,
                                std::span(reinterpret_cast<const std::byte*>(&one), sizeof one))
                    .ok());
    ASSERT_EQ(tcb().srtt, kOneWay);
  }
  TcpCb& tcb() { return *s.so_find(so)->tcb; }
  const TcpStat& st() { return s.tcp.stat; }
};

// The path: every segment the stack sends is given a fate by the test
// (nullopt: lost; else its one-way delay) from its offset and how many
// times that offset was sent; the receiver ACKs each arrival at once.
struct Path {
  TcpRackTest* t = nullptr;
  TcpPeer* peer = nullptr;
  Scenario* sc = nullptr;
  Receiver rcv;
  std::function<std::optional<Duration>(uint32_t off, int nth)> fate;
  struct Sent {
    Instant at;
    uint32_t off;
    int nth;
  };
  std::vector<Sent> log;
  std::map<uint32_t, int> times;
  std::vector<std::pair<Instant, SentSeg>> wire;

  void pump() {
    for (auto& g : peer->take()) {
      if (g.payload.empty()) {
        continue;
      }
      const uint32_t off = g.seq.v - rcv.base;
      const int nth = ++times[off];
      log.push_back({sc->now(), off, nth});
      if (auto d = fate(off, nth)) {
        wire.emplace_back(sc->now() + *d, g);
      }
    }
  }
  void deliver_due() {
    std::stable_sort(wire.begin(), wire.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    while (!wire.empty() && wire.front().first <= sc->now()) {
      SentSeg g = wire.front().second;
      wire.erase(wire.begin());
      rcv.take(g);
      TcpOptions o = rcv.opts();
      if (peer->use_ts) {
        o.timestamp = TcpOptions::Timestamp{peer->ts_val++, rcv.ts_recent};
      }
      peer->send_raw(peer->snd_nxt, rcv.base + rcv.cum, kTcpAck, {}, o);
      pump();
    }
  }
  // Run in 1 ms steps until `total` bytes are acknowledged or `limit`.
  void run(uint32_t total, Duration limit) {
    pump();
    const Instant end = sc->now() + limit;
    for (int i = 0; i < 100000 && sc->now() < end; ++i) {
      if (rcv.cum >= total && wire.empty()) {
        break;
      }
      sc->advance(1ms);
      pump();
      deliver_due();
    }
  }
  std::vector<Sent> of(uint32_t off) const {
    std::vector<Sent> out;
    for (const auto& x : log) {
      if (x.off == off) {
        out.push_back(x);
      }
    }
    return out;
  }
};

// RFC 8985 §7: the last two segments of a flight are lost. No duplicate
// ACK can come; the probe (the last segment again) goes 2*SRTT after the
// last ACK, its SACK shows the other one lost, and that one is resent at
// once: no retransmission timeout, everything there within 5 RTTs.
TEST_F(TcpRackTest, TailLossRepairedByProbe) {
  open(true);
  const auto data = pattern_bytes(10000, 3);
  ASSERT_EQ(s.so_send_stream(so, data).value(), 10000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    if ((off == 8000 || off == 9000) && nth == 1) {
      return std::nullopt;
    }
    return kOneWay;
  };
  const Instant t0 = sc.now();
  p.run(10000, 1s);
  EXPECT_EQ(p.rcv.cum, 10000u);
  EXPECT_EQ(p.rcv.data, data);
  // The ACKs of the first 8 segments came at t0 + 20 ms: the probe at
  // t0 + 20 ms + 2*SRTT (40 ms), the last segment again.
  auto probe = p.of(9000);
  ASSERT_EQ(probe.size(), 2u);
  EXPECT_EQ(probe[1].at - t0, 60ms);
  // Its ACK (t0 + 80 ms) SACKs it: 8000 is lost and resent then.
  auto hole = p.of(8000);
  ASSERT_EQ(hole.size(), 2u);
  EXPECT_EQ(hole[1].at - t0, 80ms);
  EXPECT_EQ(p.log.size(), 12u);  // ten segments, the probe, the repair
  EXPECT_EQ(st().tlp_probes, 1u);
  EXPECT_EQ(st().tlp_recoveries, 1u);
  EXPECT_GE(st().rack_marked_lost, 1u);
  EXPECT_EQ(st().rexmttimeo, 0u);
  EXPECT_EQ(tcb().snd_una, tcb().snd_max);
  EXPECT_FALSE(tcb().in_recovery);
  sc.advance(5s);
  EXPECT_TRUE(peer.take().empty());
}

// RFC 8985 §7.3: the probe is new data when the receiver's window allows
// (whatever the cwnd): the whole first flight unanswered, 2*SRTT (40 ms)
// after it left the eleventh segment goes; then the RTO is armed, not a
// second probe.
TEST_F(TcpRackTest, ProbeSendsNewDataThenWaitsForRto) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(20000)).value(), 20000u);
  auto flight = peer.take();
  ASSERT_EQ(flight.size(), 10u);  // IW10 (RFC 6928)
  const uint32_t base = flight[0].seq.v;
  sc.advance(39ms);
  EXPECT_TRUE(peer.take().empty());
  sc.advance(1ms);
  SentSeg pr = peer.expect_one();
  EXPECT_EQ(pr.seq.v, base + 10000);
  EXPECT_EQ(pr.payload.size(), 1000u);
  EXPECT_EQ(st().tlp_probes, 1u);
  EXPECT_EQ(st().sndrexmitpack, 0u);
  // No second probe: the RTO (the 200 ms floor) from the probe comes next,
  // and retransmits the first segment.
  sc.advance(199ms);
  EXPECT_TRUE(peer.take().empty());
  sc.advance(1ms);
  auto rto = peer.take();
  ASSERT_FALSE(rto.empty());
  EXPECT_EQ(rto[0].seq.v, base);
  EXPECT_EQ(st().rexmttimeo, 1u);
  EXPECT_EQ(st().tlp_probes, 1u);
}

// RFC 8985 §3.3: a retransmission lost as well. RFC 6675 cannot see it
// (it never retransmits below HighRxt); RACK sees that segments sent after
// it were delivered, marks it lost and it is sent a third time, one RTT
// after the second, long before the 200 ms RTO.
TEST_F(TcpRackTest, LostRetransmissionResentBeforeRto) {
  open(true);
  const auto data = pattern_bytes(40000, 5);
  ASSERT_EQ(s.so_send_stream(so, data).value(), 40000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    if (off == 1000 && nth <= 2) {
      return std::nullopt;
    }
    return kOneWay;
  };
  p.run(40000, 2s);
  EXPECT_EQ(p.rcv.cum, 40000u);
  EXPECT_EQ(p.rcv.data, data);
  auto x = p.of(1000);
  ASSERT_EQ(x.size(), 3u);
  // The second copy goes when the third SACK arrives (t0 + 20 ms), the
  // third once segments sent after the second were SACKed: one RTT later.
  EXPECT_LE(x[2].at - x[1].at, 2 * kOneWay + 2ms);
  EXPECT_EQ(st().rexmttimeo, 0u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_GE(st().rack_marked_lost, 2u);
  // Nothing else was sent twice.
  for (auto [off, n] : p.times) {
    if (off != 1000) {
      EXPECT_EQ(n, 1) << off;
    }
  }
}

// RFC 8985 §6.2: a segment overtaken by one later segment is not lost
// before the reordering window (min_RTT / 4 = 5 ms) has passed: arriving
// 3 ms late it is never retransmitted...
TEST_F(TcpRackTest, ReorderedSegmentNotMarkedLostWithinWindow) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(3000)).value(), 3000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.fate = [](uint32_t off, int) -> std::optional<Duration> {
    return off == 1000 ? kOneWay + 3ms : kOneWay;
  };
  p.run(3000, 1s);
  EXPECT_EQ(p.rcv.cum, 3000u);
  EXPECT_EQ(p.log.size(), 3u);
  EXPECT_EQ(st().rack_marked_lost, 0u);
  EXPECT_EQ(st().sndrexmitpack, 0u);
  EXPECT_TRUE(tcb().rack.reordering_seen);
  EXPECT_EQ(st().sack_recovery_episode, 0u);
}

// ...and arriving 10 ms late (lost, as far as the sender can tell) it is
// retransmitted by the reorder timer when the window ends: 20 ms (RACK.rtt)
// + 5 ms after it was sent, one duplicate ACK only, no RTO.
TEST_F(TcpRackTest, ReorderTimerMarksLossAfterWindow) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(3000)).value(), 3000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    return off == 1000 && nth == 1 ? kOneWay + 10ms : kOneWay;
  };
  const Instant t0 = sc.now();
  p.run(3000, 1s);
  EXPECT_EQ(p.rcv.cum, 3000u);
  auto x = p.of(1000);
  ASSERT_EQ(x.size(), 2u);
  EXPECT_EQ(x[1].at - t0, 25ms);
  EXPECT_EQ(st().rack_marked_lost, 1u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_EQ(st().rexmttimeo, 0u);
}

// RFC 3708 / RFC 4015: a segment delayed 30 ms is taken for lost by the
// reorder timer and retransmitted; when the original arrives after the
// retransmission the receiver's D-SACK shows the recovery was spurious and
// the window of before it comes back.
TEST_F(TcpRackTest, SpuriousRecoveryUndoneByDsack) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(3000)).value(), 3000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    return off == 1000 && nth == 1 ? kOneWay + 30ms : kOneWay;
  };
  p.run(3000, 1s);
  EXPECT_EQ(p.rcv.cum, 3000u);
  EXPECT_EQ(p.of(1000).size(), 2u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_EQ(st().rack_undo, 1u);
  EXPECT_EQ(tcb().ssthresh, 0xffffffffu);  // as before the recovery
  EXPECT_GE(tcb().cwnd, 11000u);           // IW10 and one ACKed segment
  EXPECT_GE(tcb().rack.reo_wnd_mult, 2u);  // and the reordering window grew
}

// RFC 3522 §2 (Eifel) with RFC 4015's response, for a receiver that does
// not D-SACK: segment 1 is delayed 10 ms past the reordering window, RACK
// resends it 25 ms after t0, but the original fills the hole first (at 30
// ms): the ACK that covers it echoes the original's timestamp, older than
// the retransmission's, so the recovery is undone at once.
TEST_F(TcpRackTest, SpuriousRecoveryUndoneByTimestamps) {
  open(true, true);
  ASSERT_EQ(tcp_smss(tcb()), 988u);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(3 * 988)).value(), 3 * 988u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.rcv.dsack_on = false;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    return off == 988 && nth == 1 ? kOneWay + 10ms : kOneWay;
  };
  p.run(3 * 988, 1s);
  EXPECT_EQ(p.rcv.cum, 3 * 988u);
  ASSERT_EQ(p.of(988).size(), 2u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_EQ(st().rack_undo, 1u);
  EXPECT_EQ(tcb().ssthresh, 0xffffffffu);  // as before the recovery
  EXPECT_TRUE(tcb().rack.reordering_seen);
}

// The same path, but the retransmission is what filled the hole (the
// original was lost): the echo is the retransmission's, nothing is undone.
TEST_F(TcpRackTest, RealLossNotUndoneByTimestamps) {
  open(true, true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(3 * 988)).value(), 3 * 988u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.rcv.dsack_on = false;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    if (off == 988 && nth == 1) {
      return std::nullopt;
    }
    return kOneWay;
  };
  p.run(3 * 988, 1s);
  EXPECT_EQ(p.rcv.cum, 3 * 988u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_EQ(st().rack_undo, 0u);
  EXPECT_LT(tcb().ssthresh, 0xffffffffu);
}

// RFC 8985 §7.4.2: the last two segments are only delayed, so the probe
// that resends the last one arrives after the originals; a receiver without
// D-SACK answers it with a duplicate ACK of its end that SACKs nothing:
// both arrived, no loss, the window stays.
TEST_F(TcpRackTest, ProbeDupackWithoutDsackIsNoLoss) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(10000)).value(), 10000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.rcv.dsack_on = false;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    return off >= 8000 && nth == 1 ? kOneWay + 50ms : kOneWay;
  };
  p.run(10000, 1s);
  EXPECT_EQ(p.rcv.cum, 10000u);
  EXPECT_EQ(p.of(9000).size(), 2u);  // the probe
  EXPECT_EQ(st().tlp_probes, 1u);
  EXPECT_EQ(st().tlp_recoveries, 0u);
  EXPECT_EQ(tcb().ssthresh, 0xffffffffu);
  EXPECT_FALSE(tcb().rack.tlp_active);
}

// RFC 6675 §5: recovery set cwnd to ssthresh and never inflated it; when
// the ACK that ends it covers everything (nothing left in flight), cwnd
// stays ssthresh rather than dropping to one segment.
TEST_F(TcpRackTest, RecoveryEndKeepsTheReducedWindow) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(10000)).value(), 10000u);
  Path p{this, &peer, &sc};
  p.rcv.base = peer.rcv_nxt;
  p.fate = [](uint32_t off, int nth) -> std::optional<Duration> {
    if (off == 2000 && nth == 1) {
      return std::nullopt;
    }
    return kOneWay;
  };
  p.run(10000, 1s);
  EXPECT_EQ(p.rcv.cum, 10000u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_FALSE(tcb().in_recovery);
  EXPECT_EQ(tcb().snd_una, tcb().snd_max);
  EXPECT_EQ(tcb().ssthresh, 5600u);  // CUBIC: 0.7 of the 8 segments then in flight
  EXPECT_EQ(tcb().cwnd, tcb().ssthresh);
}

// RFC 3042: the first and second duplicate ACKs each send one new segment
// (cwnd unchanged); the third starts fast retransmit. Here without SACK
// (NewReno), where nothing else would send on them.
TEST_F(TcpRackTest, LimitedTransmitSendsTwoNewSegments) {
  open(false);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(20000)).value(), 20000u);
  auto flight = peer.take();
  ASSERT_EQ(flight.size(), 10u);
  const uint32_t base = flight[0].seq.v;
  const uint32_t cwnd = tcb().cwnd;
  // Segment 0 lost; segments 1.. arrive: duplicate ACKs of base.
  peer.send_raw(peer.snd_nxt, base, kTcpAck);
  SentSeg a = peer.expect_one();
  EXPECT_EQ(a.seq.v, base + 10000);
  EXPECT_EQ(a.payload.size(), 1000u);
  EXPECT_EQ(tcb().cwnd, cwnd);
  peer.send_raw(peer.snd_nxt, base, kTcpAck);
  SentSeg b = peer.expect_one();
  EXPECT_EQ(b.seq.v, base + 11000);
  EXPECT_EQ(tcb().cwnd, cwnd);
  EXPECT_EQ(st().limited_transmit, 2u);
  // The third: fast retransmit of segment 0, no more limited transmit.
  peer.send_raw(peer.snd_nxt, base, kTcpAck);
  auto third = peer.take();
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(third[0].seq.v, base);
  EXPECT_EQ(st().fastretrans, 1u);
  EXPECT_EQ(st().limited_transmit, 2u);
}

// The same with SACK and RACK: the first two SACKs are within the
// reordering window (one and two segments SACKed) and each sends one new
// segment; the third SACKed segment reaches DupThresh, the window drops to
// 0 (RFC 8985 §6.2 step 4) and the hole is retransmitted.
TEST_F(TcpRackTest, LimitedTransmitWithSack) {
  open(true);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(20000)).value(), 20000u);
  auto flight = peer.take();
  ASSERT_EQ(flight.size(), 10u);
  const uint32_t base = flight[0].seq.v;
  const uint32_t cwnd = tcb().cwnd;
  sc.advance(kOneWay);
  auto sack = [&](uint32_t right) {
    TcpOptions o;
    o.sack[o.sack_count++] = {TcpSeq{base + 1000}, TcpSeq{base + right}};
    peer.send_raw(peer.snd_nxt, base, kTcpAck, {}, o);
  };
  sack(2000);
  SentSeg a = peer.expect_one();
  EXPECT_EQ(a.seq.v, base + 10000);
  sack(3000);
  SentSeg b = peer.expect_one();
  EXPECT_EQ(b.seq.v, base + 11000);
  EXPECT_EQ(tcb().cwnd, cwnd);
  EXPECT_EQ(st().limited_transmit, 2u);
  EXPECT_EQ(st().sndrexmitpack, 0u);
  sack(4000);
  auto third = peer.take();
  ASSERT_FALSE(third.empty());
  EXPECT_EQ(third[0].seq.v, base);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_EQ(st().limited_transmit, 2u);
}

// Limited transmit respects the receiver's window: with the window full,
// a duplicate ACK sends nothing.
TEST_F(TcpRackTest, LimitedTransmitWithinReceiveWindow) {
  open(false);
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(20000)).value(), 20000u);
  auto flight = peer.take();
  ASSERT_EQ(flight.size(), 10u);
  const uint32_t base = flight[0].seq.v;
  // The peer's window ends at the flight's end.
  peer.send_raw(peer.snd_nxt, base, kTcpAck, {}, {}, uint16_t{10000});
  peer.expect_none();  // a window update, not a duplicate, and no room
  peer.send_raw(peer.snd_nxt, base, kTcpAck, {}, {}, uint16_t{10000});
  peer.expect_none();
  EXPECT_EQ(st().limited_transmit, 0u);
}

// The counters are sysctl nodes, and net.inet.tcp.rack turns RACK-TLP off
// for new connections.
TEST_F(TcpRackTest, CountersAndKnob) {
  for (const char* n : {"rack_marked_lost", "tlp_probes", "tlp_recoveries", "limited_transmit"}) {
    EXPECT_EQ(s.sysctl().get(std::string("net.inet.tcp.stats.") + n).value(), "0") << n;
  }
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.rack", "0").ok());
  open(true);
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(3000)).ok());
  ASSERT_EQ(peer.take().size(), 3u);
  EXPECT_FALSE(tcp_rack_active(tcb()));
  sc.advance(199ms);  // no probe: only the RTO
  EXPECT_TRUE(peer.take().empty());
  EXPECT_EQ(st().tlp_probes, 0u);
}

}  // namespace
}  // namespace iopkt::test
