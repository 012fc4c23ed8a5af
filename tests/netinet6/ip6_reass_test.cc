// IPv6 reassembly, RFC 8200 §4.5 with RFC 5722, RFC 6946 and RFC 7112
// (ROBUSTNESS.md "IPv6 frags"): order, duplicates, overlaps, time-outs,
// atomic and tiny fragments, size and memory limits.
#include "netinet6/ip6_reass.hh"

#include <gtest/gtest.h>

#include <vector>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "netinet6/ip6_frames.hh"
#include "netinet6/ip6_input.hh"

namespace iopkt::test {
namespace {

class Ip6Reass : public ::testing::Test {
 protected:
  ~Ip6Reass() override {
    ip6_reass_drain(ip6_);
    EXPECT_EQ(pool_.stats().mbufs_in_use, 0u);
  }

  // One packet through the input path; `out` receives what it left in m.
  Ip6Chain input(const std::vector<std::byte>& b, Mbuf* out = nullptr) {
    Mbuf m = Mbuf::copy_from(pool_, b);
    Ip6Chain c = ip6_input_demux(ip6_, wheel_, m, false);
    if (out != nullptr) {
      *out = std::move(m);
    }
    return c;
  }
  void advance(Duration d) { wheel_.advance(wheel_.now() + d); }

  // A UDP packet with a Hop-by-Hop header (the unfragmentable part) and a
  // Destination Options header (fragmentable), `n` payload bytes.
  static Ip6Pkt packet(size_t n, uint8_t seed = 0) {
    Ip6Pkt p;
    p.ext = {ip6_hbh(), ip6_dstopts()};
    p.payload = pattern(n, seed);
    return p;
  }

  MbufPool pool_{PoolConfig{}};
  CalloutWheel wheel_;
  Ip6State ip6_;
};

TEST_F(Ip6Reass, InOrderFragmentsReassembleToTheOriginal) {
  Ip6Pkt p = packet(3000);
  auto frags = ip6_fragments(p, 1, 7, {1232, 2464});
  Mbuf m;
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  Ip6Chain c = input(frags[2], &m);
  ASSERT_EQ(c.verdict, Ip6Verdict::kDeliver);
  EXPECT_TRUE(c.fragmented);
  EXPECT_EQ(c.nxt, kIp6NxtUdp);
  EXPECT_EQ(c.off, 40u + 8 + 8);
  // Byte for byte what the sender would have sent unfragmented.
  EXPECT_EQ(m.to_vector(), p.build());
  EXPECT_EQ(ip6_.stat.fragments, 3u);
  EXPECT_EQ(ip6_.stat.reassembled, 1u);
  EXPECT_EQ(ip6_.stat.fragdropped, 0u);
  EXPECT_EQ(ip6_.stat.total, 3u);
  EXPECT_TRUE(ip6_.reass.queues.empty());
  EXPECT_EQ(ip6_.reass.mem, 0u);
}

TEST_F(Ip6Reass, OutOfOrderFragmentsReassemble) {
  Ip6Pkt p = packet(4000, 3);
  auto frags = ip6_fragments(p, 1, 8, {1000, 2000, 3000});
  Mbuf m;
  EXPECT_EQ(input(frags[3]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_NE(ip6_.reass.mem, 0u);
  ASSERT_EQ(input(frags[2], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
  EXPECT_EQ(ip6_.reass.mem, 0u);
  EXPECT_FALSE(wheel_.next_deadline().has_value());
}

// No unfragmentable extension headers: the fixed header's Next Header is
// the field rewritten.
TEST_F(Ip6Reass, WithoutUnfragmentableHeaders) {
  Ip6Pkt p;
  p.payload = pattern(100);
  auto frags = ip6_fragments(p, 0, 9, {48});
  Mbuf m;
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  ASSERT_EQ(input(frags[0], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

// RFC 8200 §4.5: exact duplicates may be dropped alone.
TEST_F(Ip6Reass, ExactDuplicatesAreHarmless) {
  Ip6Pkt p = packet(2000);
  auto frags = ip6_fragments(p, 1, 10, {1000});
  Mbuf m;
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(ip6_.stat.fragdup, 1u);
  ASSERT_EQ(input(frags[1], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

// RFC 5722 §4: an overlap discards the datagram and every fragment of it
// still to come, silently.
TEST_F(Ip6Reass, OverlapDropsTheDatagramAndLaterFragments) {
  Ip6Pkt p = packet(2000);
  auto frags = ip6_fragments(p, 1, 11, {1000, 1504});
  auto shifted = ip6_fragments(p, 1, 11, {992, 1504});  // [992, 1504) overlaps [0, 1000)... by 8
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(shifted[1]).verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(ip6_.stat.fragoverlap, 1u);
  EXPECT_EQ(ip6_.stat.fragdropped, 2u);
  EXPECT_EQ(ip6_.reass.mem, 0u);
  // A whole, correct set with the same id is still refused...
  for (const auto& f : frags) {
    EXPECT_EQ(input(f).verdict, Ip6Verdict::kDrop);
  }
  EXPECT_EQ(ip6_.stat.fragafteroverlap, 3u);
  EXPECT_EQ(ip6_.stat.reassembled, 0u);
  // ... until the datagram would have timed out; no time exceeded for it.
  int reports = 0;
  ip6_.reass.time_exceeded = [&](Mbuf) { ++reports; };
  advance(60s);
  EXPECT_TRUE(ip6_.reass.queues.empty());
  EXPECT_EQ(ip6_.stat.fragtimeout, 0u);
  EXPECT_EQ(reports, 0);
  Mbuf m;
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  ASSERT_EQ(input(frags[2], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

// A fragment inside another (the Teardrop shape) is an overlap too.
TEST_F(Ip6Reass, ContainedFragmentIsAnOverlap) {
  Ip6Pkt p = packet(2000);
  auto frags = ip6_fragments(p, 1, 12, {1600});
  auto inner = ip6_fragments(p, 1, 12, {800, 1200});
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(inner[1]).verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(ip6_.stat.fragoverlap, 1u);
}

// RFC 8200 §4.5: 60 seconds, then Time Exceeded code 1 when the first
// fragment was held.
TEST_F(Ip6Reass, TimeoutGivesUpAfter60Seconds) {
  std::vector<std::vector<std::byte>> reported;
  ip6_.reass.time_exceeded = [&](Mbuf m) { reported.push_back(m.to_vector()); };
  Ip6Pkt p = packet(2000);
  auto frags = ip6_fragments(p, 1, 13, {1000});
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  advance(59s);
  EXPECT_EQ(ip6_.reass.queues.size(), 1u);
  advance(1s);
  EXPECT_TRUE(ip6_.reass.queues.empty());
  EXPECT_EQ(ip6_.stat.fragtimeout, 1u);
  EXPECT_EQ(ip6_.stat.fragdropped, 1u);
  EXPECT_EQ(ip6_.reass.mem, 0u);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0], frags[0]);
  // The rest alone starts a new datagram that never completes.
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  advance(60s);
  EXPECT_EQ(ip6_.stat.fragtimeout, 2u);
  EXPECT_EQ(reported.size(), 1u);  // no first fragment: nothing to report
  EXPECT_FALSE(wheel_.next_deadline().has_value());
}

// RFC 6946 §4: an atomic fragment goes straight through and leaves the
// queue with the same id alone.
TEST_F(Ip6Reass, AtomicFragmentIsProcessedInIsolation) {
  Ip6Pkt p = packet(2000);
  auto frags = ip6_fragments(p, 1, 14, {1000});
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  Ip6Pkt atomic;
  atomic.ext = {ip6_frag(0, false, 14)};
  atomic.payload = pattern(1000);  // would overlap if it were queued
  Mbuf m;
  Ip6Chain c = input(atomic.build(), &m);
  ASSERT_EQ(c.verdict, Ip6Verdict::kDeliver);
  EXPECT_TRUE(c.fragmented);
  EXPECT_EQ(m.to_vector(), atomic.build());
  EXPECT_EQ(ip6_.stat.atomicfrags, 1u);
  EXPECT_EQ(ip6_.stat.fragoverlap, 0u);
  ASSERT_EQ(input(frags[1], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

// RFC 7112 §5: a first fragment without the whole header chain is refused
// (Parameter Problem code 3) and nothing is queued.
TEST_F(Ip6Reass, TinyFirstFragmentIsRefused) {
  Ip6Pkt p;
  p.proto = kIp6NxtTcp;
  p.ext = {ip6_dstopts(std::vector<std::byte>(100, std::byte{0}))};
  // Fill the options with one skippable option instead of Pad1 runs.
  p.ext[0].bytes[2] = std::byte{0x1e};
  p.ext[0].bytes[3] = std::byte(p.ext[0].bytes.size() - 4);
  for (size_t k = 4; k < p.ext[0].bytes.size(); ++k) {
    p.ext[0].bytes[k] = std::byte{0};
  }
  p.payload = pattern(200);
  auto frags = ip6_fragments(p, 0, 15, {56});  // the options header is 104 bytes
  Mbuf m;
  Ip6Chain c = input(frags[0], &m);
  ASSERT_EQ(c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(c.pp.code, kIcmp6ParamProbFirstFrag);
  EXPECT_EQ(c.pp.pointer, 0u);
  EXPECT_TRUE(m);  // kept for the ICMPv6 error to quote
  EXPECT_EQ(ip6_.stat.fragtruncchain, 1u);
  EXPECT_TRUE(ip6_.reass.queues.empty());
}

// RFC 8200 §4.5: a datagram larger than 65535 bytes; the offset-0
// fragment's unfragmentable part counts.
TEST_F(Ip6Reass, TooBigIsDropped) {
  // On its own (the walk): Parameter Problem at the Fragment Offset.
  Ip6Pkt last;
  last.ext = {ip6_frag(65528, false, 16)};
  last.payload = pattern(16);
  Mbuf m;
  Ip6Chain c = input(last.build(), &m);
  ASSERT_EQ(c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(c.pp.pointer, 42u);
  // With the first fragment's headers: 104 bytes of options + 65520 + 8.
  Ip6Pkt first;
  first.ext = {ip6_hbh(std::vector<std::byte>(96, std::byte{0})), ip6_frag(0, true, 17)};
  first.ext[0].bytes[2] = std::byte{0x1e};
  first.ext[0].bytes[3] = std::byte(first.ext[0].bytes.size() - 4);
  for (size_t k = 4; k < first.ext[0].bytes.size(); ++k) {
    first.ext[0].bytes[k] = std::byte{0};
  }
  first.payload = pattern(64);
  EXPECT_EQ(input(first.build()).verdict, Ip6Verdict::kHeld);
  Ip6Pkt tail;
  tail.ext = {ip6_frag(65520, false, 17)};
  tail.payload = pattern(8);  // 8 + 65520 + 8 fits on its own
  EXPECT_EQ(input(tail.build()).verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(ip6_.stat.fragtoolong, 2u);
  EXPECT_TRUE(ip6_.reass.queues.empty());
}

// RFC 8200 §4.5: only the offset-0 fragment's Next Header counts.
TEST_F(Ip6Reass, NextHeaderComesFromTheFirstFragment) {
  Ip6Pkt p = packet(500);
  auto frags = ip6_fragments(p, 1, 18, {248});
  frags[1][48] = std::byte{kIp6NxtTcp};  // the second fragment's Fragment header lies
  Mbuf m;
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  ASSERT_EQ(input(frags[0], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

// RFC 8200 §4.5: the key is (source, destination, identification).
TEST_F(Ip6Reass, KeyIsSourceDestinationAndId) {
  Ip6Pkt p = packet(500);
  Ip6Pkt q = p;
  q.src = *in6_parse("2001:db8::3");
  auto a = ip6_fragments(p, 1, 19, {248});
  auto b = ip6_fragments(q, 1, 19, {248});
  auto c = ip6_fragments(p, 1, 20, {248});
  EXPECT_EQ(input(a[0]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(b[1]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(c[1]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(ip6_.reass.queues.size(), 3u);
  Mbuf m;
  ASSERT_EQ(input(a[1], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

// Two last fragments disagreeing on the end drop the datagram.
TEST_F(Ip6Reass, InconsistentEndIsDropped) {
  Ip6Pkt p = packet(2000);
  auto frags = ip6_fragments(p, 1, 21, {1000});
  Ip6Pkt longer = packet(2008);
  auto other = ip6_fragments(longer, 1, 21, {1000});
  EXPECT_EQ(input(frags[1]).verdict, Ip6Verdict::kHeld);
  EXPECT_EQ(input(other[1]).verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(ip6_.stat.fragbad, 1u);
  EXPECT_TRUE(ip6_.reass.queues.empty());
}

// FragmentSmack (CVE-2018-5391): bounded queues, fragments and memory.
TEST_F(Ip6Reass, LimitsBoundMemory) {
  ip6_.reass.maxfragpackets = 4;
  for (uint32_t id = 0; id < 6; ++id) {
    auto frags = ip6_fragments(packet(100), 1, 100 + id, {48});
    (void)input(frags[0]);
  }
  EXPECT_EQ(ip6_.reass.queues.size(), 4u);
  EXPECT_EQ(ip6_.stat.fragmemdrop, 2u);
  ip6_reass_drain(ip6_);

  ip6_.reass.maxfragsperpacket = 3;
  std::vector<size_t> cuts;
  for (size_t at = 64; at < 640; at += 64) {
    cuts.push_back(at);
  }
  auto many = ip6_fragments(packet(700), 1, 200, cuts);
  for (size_t k = 0; k < 4; ++k) {
    (void)input(many[k]);
  }
  EXPECT_TRUE(ip6_.reass.queues.empty());
  EXPECT_EQ(ip6_.stat.fragmemdrop, 3u);

  ip6_.reass.maxfragsperpacket = 64;
  ip6_.reass.maxfragmem = 3 * (2048 + 256);
  for (uint32_t id = 0; id < 3; ++id) {
    (void)input(ip6_fragments(packet(100), 1, 300 + id, {48})[0]);
  }
  EXPECT_EQ(ip6_.reass.queues.size(), 3u);
  EXPECT_EQ(input(ip6_fragments(packet(100), 1, 400, {48})[0]).verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(ip6_.stat.fragmemdrop, 4u);
  EXPECT_LE(ip6_.reass.mem, static_cast<size_t>(ip6_.reass.maxfragmem));
}

// Padding the link added is not reassembled into the datagram.
TEST_F(Ip6Reass, LinkPaddingIsTrimmed) {
  Ip6Pkt p = packet(30);
  auto frags = ip6_fragments(p, 1, 22, {16});
  for (auto& f : frags) {
    f.insert(f.end(), 6, std::byte{0xee});
  }
  Mbuf m;
  EXPECT_EQ(input(frags[0]).verdict, Ip6Verdict::kHeld);
  ASSERT_EQ(input(frags[1], &m).verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(m.to_vector(), p.build());
}

}  // namespace
}  // namespace iopkt::test
