// SACK scenarios (RFC 2018, RFC 6675): negotiation, the blocks the stack
// reports as a receiver, and SACK-based loss recovery as a sender, with a
// scripted peer on en0 and the virtual clock standing still unless a test
// wants a timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

TcpOptions syn_opts(bool sack, bool ts = false) {
  TcpOptions o;
  o.mss = 1000;
  o.sack_permitted = sack;
  if (ts) {
    o.timestamp = TcpOptions::Timestamp{7000, 0};
  }
  return o;
}

TcpOptions sack_opts(std::initializer_list<std::pair<uint32_t, uint32_t>> blocks) {
  TcpOptions o;
  for (auto [l, r] : blocks) {
    o.sack[o.sack_count++] = {TcpSeq{l}, TcpSeq{r}};
  }
  return o;
}

class TcpSackTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};
  SocketId listener = 0;
  SentSeg synack;

  SocketId passive(TcpOptions syn) {
    listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_TRUE(s.so_bind(listener, SockAddr::inet(InAddr::any(), 80)).ok());
    EXPECT_TRUE(s.so_listen(listener, 8).ok());
    synack = peer.connect(80, syn);
    auto so = s.so_accept(listener);
    EXPECT_TRUE(so.ok());
    SocketId id = so.ok() ? *so : 0;
    int one = 1;
    EXPECT_TRUE(s.so_setsockopt(id, IPPROTO_TCP, TCP_NODELAY,
                                std::span(reinterpret_cast<const std::byte*>(&one), sizeof one))
                    .ok());
    return id;
  }
  TcpCb& tcb(SocketId so) { return *s.so_find(so)->tcb; }
  const TcpStat& st() { return s.tcp.stat; }
  // Peer data at `off` bytes past its ISS + 1, without moving its snd_nxt.
  void send_at(uint32_t base, uint32_t off, size_t len, TcpOptions o = {}) {
    if (peer.use_ts) {
      o.timestamp = TcpOptions::Timestamp{peer.ts_val++, peer.ts_ecr};
    }
    peer.send_raw(base + off, peer.rcv_nxt, kTcpAck, pattern_bytes(len, off), o);
  }
  static std::vector<std::pair<uint32_t, uint32_t>> blocks(const SentSeg& g, uint32_t base) {
    std::vector<std::pair<uint32_t, uint32_t>> out;
    for (uint8_t i = 0; i < g.opts.sack_count; ++i) {
      out.emplace_back(g.opts.sack[i].left.v - base, g.opts.sack[i].right.v - base);
    }
    return out;
  }
};

using Blocks = std::vector<std::pair<uint32_t, uint32_t>>;

// RFC 2018 §2: SACK-permitted is offered back only when the SYN had it and
// net.inet.tcp.sack is on.
TEST_F(TcpSackTest, NegotiatedOnlyWhenBothOffer) {
  SocketId so = passive(syn_opts(true));
  EXPECT_TRUE(synack.opts.sack_permitted);
  EXPECT_TRUE(tcb(so).sack_ok);

  TcpPeer p2{sc, 40001};
  (void)p2.connect(80, syn_opts(false));
  auto so2 = s.so_accept(listener);
  ASSERT_TRUE(so2.ok());
  EXPECT_FALSE(tcb(*so2).sack_ok);

  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.sack", "0").ok());
  TcpPeer p3{sc, 40002};
  SentSeg sa = p3.connect(80, syn_opts(true));
  EXPECT_FALSE(sa.opts.sack_permitted);
  auto so3 = s.so_accept(listener);
  ASSERT_TRUE(so3.ok());
  EXPECT_FALSE(tcb(*so3).sack_ok);
}

// An active open offers SACK-permitted and uses SACK only if the SYN,ACK has it.
TEST_F(TcpSackTest, ActiveOpenOffersSackPermitted) {
  SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  (void)s.so_connect(so, SockAddr::inet(sc.peer(), peer.port()));
  auto segs = sc.take_frames();
  ASSERT_EQ(segs.size(), 1u);
  auto syn = parse_tcp_frame(segs[0]);
  ASSERT_TRUE(syn.has_value());
  EXPECT_TRUE(syn->opts.sack_permitted);
  peer.dport = syn->sport;
  peer.rcv_nxt = syn->seq.v + 1;
  peer.send_raw(peer.snd_nxt, peer.rcv_nxt, kTcpSyn | kTcpAck, {}, syn_opts(false));
  EXPECT_TRUE(tcb(so).state == TcpFsmState::kEstablished);
  EXPECT_FALSE(tcb(so).sack_ok);
}

// RFC 2018 §4: the first block holds the segment that triggered the ACK,
// then the most recent others; without timestamps up to 4 blocks.
TEST_F(TcpSackTest, ReceiverReportsBlocksMostRecentFirst) {
  (void)passive(syn_opts(true));
  const uint32_t base = peer.snd_nxt;
  send_at(base, 1000, 1000);
  SentSeg a = peer.expect_one();
  EXPECT_EQ(a.ack.v, base);
  EXPECT_EQ(blocks(a, base), (Blocks{{1000, 2000}}));
  send_at(base, 3000, 1000);
  EXPECT_EQ(blocks(peer.expect_one(), base), (Blocks{{3000, 4000}, {1000, 2000}}));
  // The gap between them fills: one block, first.
  send_at(base, 2000, 1000);
  EXPECT_EQ(blocks(peer.expect_one(), base), (Blocks{{1000, 4000}}));
  send_at(base, 5000, 500);
  send_at(base, 7000, 500);
  send_at(base, 9000, 500);
  auto acks = peer.take();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(blocks(acks[2], base),
            (Blocks{{9000, 9500}, {7000, 7500}, {5000, 5500}, {1000, 4000}}));
  // A fifth island: four blocks at most, the oldest reported drops out.
  send_at(base, 11000, 500);
  EXPECT_EQ(blocks(peer.expect_one(), base),
            (Blocks{{11000, 11500}, {9000, 9500}, {7000, 7500}, {5000, 5500}}));
  // A duplicate of queued data: a D-SACK of it, then its block, then the
  // others (RFC 2883 §4.1.2).
  send_at(base, 7000, 500);
  EXPECT_EQ(blocks(peer.expect_one(), base),
            (Blocks{{7000, 7500}, {7000, 7500}, {11000, 11500}, {9000, 9500}}));
  // The hole at the front fills: the cumulative ACK jumps and the block it
  // covered is gone.
  send_at(base, 0, 1000);
  SentSeg c = peer.expect_one();
  EXPECT_EQ(c.ack.v, base + 4000);
  EXPECT_EQ(blocks(c, base), (Blocks{{7000, 7500}, {11000, 11500}, {9000, 9500}, {5000, 5500}}));
  EXPECT_GT(st().sack_send_blocks, 0u);
}

// RFC 2883 §4: data that arrives again below RCV.NXT is ACKed at once
// with a D-SACK block for it first, reported once; a partial duplicate
// reports only the part that arrived twice.
TEST_F(TcpSackTest, ReceiverDsacksDuplicatesBelowTheAck) {
  (void)passive(syn_opts(true));
  const uint32_t base = peer.snd_nxt;
  send_at(base, 0, 1000);
  send_at(base, 1000, 1000);
  SentSeg a = peer.expect_one();  // every second segment is ACKed
  EXPECT_EQ(a.ack.v, base + 2000);
  EXPECT_EQ(a.opts.sack_count, 0);
  send_at(base, 0, 1000);
  SentSeg d = peer.expect_one();  // at once, not delayed
  EXPECT_EQ(d.ack.v, base + 2000);
  EXPECT_EQ(blocks(d, base), (Blocks{{0, 1000}}));
  EXPECT_EQ(st().rcvduppack, 1u);
  // Part old, part new: the old part is D-SACKed, the new delivered.
  send_at(base, 1500, 1000);
  SentSeg p = peer.expect_one();
  EXPECT_EQ(p.ack.v, base + 2500);
  EXPECT_EQ(blocks(p, base), (Blocks{{1500, 2000}}));
  // Reported once: the next ACK has no blocks.
  send_at(base, 2500, 1000);
  send_at(base, 3500, 1000);
  for (const SentSeg& g : peer.take()) {
    EXPECT_EQ(g.opts.sack_count, 0);
  }
}

// RFC 2883 §4.1.2: a duplicate of data held out of order is D-SACKed, its
// block next, and not queued a second time.
TEST_F(TcpSackTest, ReceiverDsacksQueuedDuplicates) {
  SocketId so = passive(syn_opts(true));
  const uint32_t base = peer.snd_nxt;
  send_at(base, 2000, 1000);
  send_at(base, 3000, 1000);
  (void)peer.take();
  send_at(base, 2500, 1000);
  SentSeg d = peer.expect_one();
  EXPECT_EQ(d.ack.v, base);
  EXPECT_EQ(blocks(d, base), (Blocks{{2500, 3500}, {2000, 4000}}));
  EXPECT_EQ(tcb(so).reass.size(), 2u);
  EXPECT_EQ(st().rcvduppack, 1u);
  // Overlapping in part: the overlap is D-SACKed, the segment queued.
  send_at(base, 3500, 1000);
  SentSeg e = peer.expect_one();
  EXPECT_EQ(blocks(e, base), (Blocks{{3500, 4000}, {2000, 4500}}));
  EXPECT_EQ(tcb(so).reass.size(), 3u);
}

// RFC 5681 §4.2: a segment that fills part of a gap is ACKed at once (the
// delayed-ACK timer is not waited for), as is one that fills all of it.
TEST_F(TcpSackTest, ReceiverAcksAtOnceWhileHolesRemain) {
  (void)passive(syn_opts(true));
  const uint32_t base = peer.snd_nxt;
  send_at(base, 2000, 1000);
  EXPECT_EQ(blocks(peer.expect_one(), base), (Blocks{{2000, 3000}}));
  send_at(base, 0, 1000);
  SentSeg a = peer.expect_one();
  EXPECT_EQ(a.ack.v, base + 1000);
  EXPECT_EQ(blocks(a, base), (Blocks{{2000, 3000}}));
  send_at(base, 1000, 1000);
  SentSeg b = peer.expect_one();
  EXPECT_EQ(b.ack.v, base + 3000);
  EXPECT_EQ(b.opts.sack_count, 0);
  // In order with no hole: the delayed ACK again (every second segment).
  send_at(base, 3000, 1000);
  peer.expect_none();
}

// With timestamps (12 bytes) only 3 blocks fit the 40 option bytes.
TEST_F(TcpSackTest, ThreeBlocksWithTimestamps) {
  (void)passive(syn_opts(true, true));
  const uint32_t base = peer.snd_nxt;
  for (uint32_t off : {1000u, 3000u, 5000u, 7000u}) {
    send_at(base, off, 100);
  }
  auto acks = peer.take();
  ASSERT_EQ(acks.size(), 4u);
  ASSERT_TRUE(acks[3].opts.timestamp.has_value());
  EXPECT_EQ(blocks(acks[3], base), (Blocks{{7000, 7100}, {5000, 5100}, {3000, 3100}}));
}

// A peer that does not use SACK gets no blocks even for out-of-order data.
TEST_F(TcpSackTest, NoBlocksWithoutNegotiation) {
  (void)passive(syn_opts(false));
  const uint32_t base = peer.snd_nxt;
  send_at(base, 1000, 100);
  SentSeg a = peer.expect_one();
  EXPECT_EQ(a.ack.v, base);
  EXPECT_EQ(a.opts.sack_count, 0);
}

// A receiver as the tests need it: remembers what arrived, ACKs
// cumulatively and SACKs the rest, the block of the newest segment first.
struct SackReceiver {
  uint32_t base = 0;                     // stream offset 0
  uint32_t cum = 0;                      // bytes in order
  std::map<uint32_t, uint32_t> islands;  // out of order: start -> end (offsets)
  std::vector<std::byte> data;

  void take(const SentSeg& g) {
    uint32_t off = g.seq.v - base;
    uint32_t end = off + static_cast<uint32_t>(g.payload.size());
    if (data.size() < end) {
      data.resize(end);
    }
    std::copy(g.payload.begin(), g.payload.end(), data.begin() + off);
    if (end <= cum) {
      return;
    }
    islands[off] = std::max(islands[off], end);
    // Merge everything that now touches the in-order prefix or each other.
    std::map<uint32_t, uint32_t> merged;
    for (auto [l, r] : islands) {
      if (!merged.empty() && l <= std::prev(merged.end())->second) {
        auto& last = std::prev(merged.end())->second;
        last = std::max(last, r);
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
    last_off = off;
  }
  TcpOptions opts() const {
    TcpOptions o;
    for (auto [l, r] : islands) {  // the block of the newest segment first
      if (l <= last_off && last_off < r) {
        o.sack[o.sack_count++] = {TcpSeq{base + l}, TcpSeq{base + r}};
      }
    }
    for (auto [l, r] : islands) {
      if (!(l <= last_off && last_off < r) && o.sack_count < kTcpMaxSackBlocks) {
        o.sack[o.sack_count++] = {TcpSeq{base + l}, TcpSeq{base + r}};
      }
    }
    return o;
  }
  uint32_t last_off = 0;
};

// The scenario the brief names: the peer SACKs around two lost segments;
// exactly those two are retransmitted (never a SACKed one), before any RTO,
// and the whole transfer arrives.
TEST_F(TcpSackTest, SackRecoveryOfTwoHoles) {
  SocketId so = passive(syn_opts(true));
  const auto data = pattern_bytes(15000, 9);
  ASSERT_EQ(s.so_send_stream(so, data).value(), 15000u);
  SackReceiver rcv;
  rcv.base = peer.rcv_nxt;
  const uint32_t lost1 = rcv.base + 1000, lost2 = rcv.base + 4000;
  std::deque<SentSeg> wire;
  std::vector<SentSeg> sent;
  auto pump = [&] {
    for (auto& g : peer.take()) {
      sent.push_back(g);
      wire.push_back(g);
    }
  };
  pump();
  ASSERT_EQ(sent.size(), 10u);  // IW10 (RFC 6928) of 1000-byte segments
  std::set<uint32_t> dropped;
  for (int i = 0; i < 1000 && !wire.empty(); ++i) {
    SentSeg g = wire.front();
    wire.pop_front();
    // The network loses the first transmission of segments 2 and 5.
    if ((g.seq.v == lost1 || g.seq.v == lost2) && dropped.insert(g.seq.v).second) {
      continue;
    }
    if (!g.payload.empty()) {
      rcv.take(g);
      peer.send_raw(peer.snd_nxt, rcv.base + rcv.cum, kTcpAck, {}, rcv.opts());
      pump();
    }
  }
  EXPECT_TRUE(wire.empty());
  // What was sent twice: exactly the two lost segments, once each.
  std::map<uint32_t, int> times;
  for (const auto& g : sent) {
    ++times[g.seq.v];
  }
  std::vector<uint32_t> again;
  for (auto [seq, n] : times) {
    EXPECT_LE(n, 2) << seq - rcv.base;
    if (n > 1) {
      again.push_back(seq - rcv.base);
    }
  }
  EXPECT_EQ(again, (std::vector<uint32_t>{1000, 4000}));
  EXPECT_EQ(st().rexmttimeo, 0u);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  EXPECT_EQ(st().sack_rexmits, 2u);
  EXPECT_EQ(st().sndrexmitpack, 2u);
  EXPECT_GT(st().sack_rcv_blocks, 0u);
  // Complete: every byte arrived intact and is acknowledged; recovery is over.
  EXPECT_EQ(rcv.cum, 15000u);
  EXPECT_EQ(rcv.data, data);
  EXPECT_EQ(tcb(so).snd_una, tcb(so).snd_max);
  EXPECT_FALSE(tcb(so).in_recovery);
  EXPECT_TRUE(tcb(so).scoreboard.empty());
  sc.advance(10s);
  EXPECT_TRUE(peer.take().empty());  // nothing left to retransmit
}

// ROBUSTNESS.md (CVE-2019-11477/8, Treck CVE-2020-11912): blocks that are
// empty, reversed, past SND.MAX or wrapped far away are ignored; blocks
// below SND.UNA are old news. None reaches the scoreboard.
TEST_F(TcpSackTest, InvalidBlocksAreIgnored) {
  SocketId so = passive(syn_opts(true));
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(3000)).ok());
  ASSERT_EQ(peer.take().size(), 3u);
  const uint32_t una = peer.rcv_nxt;  // nothing acknowledged yet
  const uint32_t max = una + 3000;
  peer.window = 65000;  // each ACK differs in window: not duplicates
  peer.send_raw(peer.snd_nxt, una, kTcpAck, {},
                sack_opts({{una + 1000, una + 1000},         // empty
                           {una + 2000, una + 1000},         // reversed
                           {una + 2000, max + 1},            // past SND.MAX
                           {una + 0x80000000u, una + 10}}),  // half the space away
                uint16_t{65000});
  EXPECT_EQ(st().sack_bad_blocks, 4u);
  peer.send_raw(peer.snd_nxt, una, kTcpAck, {}, sack_opts({{una - 500, una}}), uint16_t{64000});
  EXPECT_EQ(st().sack_bad_blocks, 4u);  // below SND.UNA: a D-SACK, silently unused
  EXPECT_TRUE(tcb(so).scoreboard.empty());
  EXPECT_EQ(st().sack_rcv_blocks, 0u);
  EXPECT_FALSE(tcb(so).in_recovery);
  // A valid block is taken, clipped to nothing beyond what it says.
  peer.send_raw(peer.snd_nxt, una, kTcpAck, {}, sack_opts({{una + 2000, una + 3000}}),
                uint16_t{63000});
  ASSERT_EQ(tcb(so).scoreboard.size(), 1u);
  EXPECT_EQ(tcb(so).scoreboard[0].left.v, una + 2000);
  EXPECT_EQ(tcb(so).scoreboard[0].right.v, una + 3000);
  // An ACK past it empties the scoreboard.
  peer.send_raw(peer.snd_nxt, max, kTcpAck, {}, {}, uint16_t{63000});
  EXPECT_TRUE(tcb(so).scoreboard.empty());
}

// SACK Panic class (CVE-2019-11478): a flood of disjoint one-byte blocks
// cannot grow the scoreboard without bound.
TEST_F(TcpSackTest, ScoreboardIsBounded) {
  SocketId so = passive(syn_opts(true));
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(10000)).ok());
  ASSERT_EQ(peer.take().size(), 10u);
  const uint32_t una = peer.rcv_nxt;
  uint16_t win = 60000;
  for (uint32_t i = 0; i < 300; ++i) {
    uint32_t at = una + 20 + i * 30;
    peer.send_raw(peer.snd_nxt, una, kTcpAck, {}, sack_opts({{at, at + 1}}), win--);
    (void)peer.take();
  }
  EXPECT_LE(tcb(so).scoreboard.size(), 64u);
  EXPECT_GT(st().sack_sboverflow, 0u);
}

// RFC 6675 §5.1: a retransmission timeout ends recovery and clears the
// scoreboard; retransmission restarts at SND.UNA.
TEST_F(TcpSackTest, TimeoutClearsScoreboard) {
  // RFC 6675 alone: RACK (on by default) would find the holes lost at once
  // on this path of RTT 0 (tcp_rack_test.cc covers that).
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.rack", "0").ok());
  SocketId so = passive(syn_opts(true));
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(5000)).ok());
  ASSERT_EQ(peer.take().size(), 5u);
  const uint32_t una = peer.rcv_nxt;
  peer.send_raw(peer.snd_nxt, una, kTcpAck, {}, sack_opts({{una + 2000, una + 3000}}));
  peer.send_raw(peer.snd_nxt, una, kTcpAck, {}, sack_opts({{una + 2000, una + 4000}}));
  EXPECT_EQ(tcb(so).scoreboard.size(), 1u);
  EXPECT_TRUE(peer.take().empty());  // two duplicates: not yet a loss
  sc.advance(200ms);                 // the RTO floor: the handshake sampled an RTT of 0
  auto segs = peer.take();
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].seq.v, una);
  EXPECT_EQ(st().rexmttimeo, 1u);
  EXPECT_TRUE(tcb(so).scoreboard.empty());
  EXPECT_FALSE(tcb(so).in_recovery);
  EXPECT_EQ(st().sack_recovery_episode, 0u);
}

// A peer that negotiated SACK but sends no blocks: three duplicates still
// start recovery, and each partial ACK retransmits the next segment, as
// NewReno (RFC 6582 §3.2 step 5) would.
TEST_F(TcpSackTest, RecoveryWithoutBlocksFallsBackToPartialAcks) {
  // RFC 6675 alone: with RACK, the ACK of a retransmission marks every
  // segment sent before it lost (RFC 8985 §6.2), which this peer's script
  // (delivering them after the retransmission) does not model.
  ASSERT_TRUE(s.sysctl().set("net.inet.tcp.rack", "0").ok());
  SocketId so = passive(syn_opts(true));
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(6000)).ok());
  auto segs = peer.take();
  ASSERT_EQ(segs.size(), 6u);
  peer.absorb(segs[0]);
  peer.ack();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(peer.take().empty());
    peer.ack();
  }
  SentSeg re = peer.expect_one();
  EXPECT_EQ(re.seq, segs[1].seq);
  EXPECT_TRUE(tcb(so).in_recovery);
  EXPECT_EQ(st().sack_recovery_episode, 1u);
  peer.absorb(segs[2]);  // segments 2 and 3 are in; 4 was lost too
  peer.ack();
  SentSeg re2 = peer.expect_one();
  EXPECT_EQ(re2.seq, segs[3].seq);
  EXPECT_EQ(st().partialack, 1u);
  peer.absorb(segs[5]);
  peer.ack();
  EXPECT_FALSE(tcb(so).in_recovery);
  EXPECT_EQ(tcb(so).snd_una, tcb(so).snd_max);
  EXPECT_EQ(st().rexmttimeo, 0u);
  EXPECT_EQ(st().sndrexmitpack, 2u);
}

// The stats are sysctl nodes (netstat -s prints them).
TEST_F(TcpSackTest, CountersAreSysctlNodes) {
  for (const char* n :
       {"sack_recovery_episode", "sack_rexmits", "sack_rexmit_bytes", "sack_rcv_blocks",
        "sack_bad_blocks", "sack_sboverflow", "sack_send_blocks"}) {
    EXPECT_EQ(s.sysctl().get(std::string("net.inet.tcp.stats.") + n).value(), "0") << n;
  }
}

}  // namespace
}  // namespace iopkt::test
