// IPv6 header and extension header chain, RFC 8200 §3–§4: every rule of
// ip6_input.cc with its verdict and counter (ROBUSTNESS.md "IPv6 ext hdrs").
#include "netinet6/ip6_input.hh"

#include <gtest/gtest.h>

#include <vector>

#include "kern/byteorder.hh"
#include "netinet6/ip6_frames.hh"

namespace iopkt::test {
namespace {

struct Walked {
  Ip6Stat st;
  Ip6Chain c;
};

Walked walk(const std::vector<std::byte>& p, bool from_loopback = false, Ip6Limits limits = {}) {
  Walked w;
  w.c = ip6_walk(p, p.size(), limits, from_loopback, false, w.st);
  return w;
}

Ip6Pkt udp_pkt(size_t n = 16) {
  Ip6Pkt p;
  p.payload = pattern(n);
  return p;
}

TEST(Ip6Header, PlainUdpIsDelivered) {
  Ip6Pkt p = udp_pkt();
  p.hlim = 0;  // a host takes any hop limit (RFC 8200 §3)
  p.tclass = 0xb8;
  p.flow = 0xabcde;
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(w.c.nxt, kIp6NxtUdp);
  EXPECT_EQ(w.c.off, 40u);
  EXPECT_EQ(w.c.nxt_at, 6u);
  EXPECT_EQ(w.c.len, 56u);
  EXPECT_EQ(w.c.hlim, 0);
  EXPECT_EQ(w.c.tclass, 0xb8);
  EXPECT_EQ(w.c.flow, 0xabcdeu);
  EXPECT_EQ(in6_str(w.c.src), "2001:db8::2");
  EXPECT_FALSE(w.c.fragmented);
  EXPECT_EQ(w.st.total, 1u);
}

TEST(Ip6Header, ShortBadVersionAndBadLength) {
  auto p = udp_pkt().build();
  auto w = walk(std::vector<std::byte>(p.begin(), p.begin() + 39));
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.tooshort, 1u);
  auto v4 = p;
  v4[0] = std::byte{0x45};
  EXPECT_EQ(walk(v4).st.badvers, 1u);
  // Payload length beyond the frame.
  auto cut = std::vector<std::byte>(p.begin(), p.end() - 1);
  w = walk(cut);
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.c.reason, &Ip6Stat::badlen);
  EXPECT_EQ(w.st.badlen, 1u);
}

// Link padding after the payload is not part of the packet.
TEST(Ip6Header, PaddingIsTrimmedByLength) {
  auto p = udp_pkt(4).build();
  p.insert(p.end(), 10, std::byte{0xee});
  auto w = walk(p);
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(w.c.len, 44u);  // 40 + 4
}

TEST(Ip6Header, AddressesThatMayNotArrive) {
  struct Case {
    const char* src;
    const char* dst;
    bool loop;
    bool ok;
  };
  for (auto t : std::vector<Case>{
           {"ff02::1", "2001:db8::1", false, false},  // multicast source
           {"2001:db8::2", "::", false, false},       // unspecified destination
           {"::1", "2001:db8::1", false, false},      // loopback from a link
           {"2001:db8::2", "::1", false, false},
           {"::1", "::1", true, true},  // fine on lo0
           {"::ffff:192.0.2.1", "2001:db8::1", false, false},
           {"2001:db8::2", "::ffff:192.0.2.1", false, false},
           {"2001:db8::2", "ff00::1", false, false},  // reserved scope 0
           {"2001:db8::2", "ff01::1", false, false},  // interface-local from a link
           {"::1", "ff01::1", true, true},
           {"::", "ff02::1:ff00:1", false, true},  // DAD probe source
           {"fe80::2", "ff02::1", false, true},
       }) {
    Ip6Pkt p = udp_pkt();
    p.src = *in6_parse(t.src);
    p.dst = *in6_parse(t.dst);
    auto w = walk(p.build(), t.loop);
    EXPECT_EQ(w.c.verdict == Ip6Verdict::kDeliver, t.ok) << t.src << " -> " << t.dst;
    EXPECT_EQ(w.st.badaddr, t.ok ? 0u : 1u) << t.src << " -> " << t.dst;
  }
}

// RFC 8200 §4.1: extension headers in a chain; the walk ends at the upper
// layer and reports the Next Header field that named it.
TEST(Ip6Chain, HeadersAreWalkedToTheUpperLayer) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_hbh(), ip6_dstopts(), ip6_rthdr(0, 0), ip6_dstopts()};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(w.c.nxt, kIp6NxtUdp);
  EXPECT_EQ(w.c.off, 40u + 8 + 8 + 24 + 8);
  EXPECT_EQ(w.c.nxt_at, 40u + 8 + 8 + 24);
}

// An unknown upper protocol is delivered for the caller to answer
// Parameter Problem code 1 at nxt_at (no handler) — ESP included.
TEST(Ip6Chain, UnknownUpperLayerIsLeftToTheCaller) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts()};
  p.proto = 253;
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(w.c.nxt, 253);
  EXPECT_EQ(w.c.nxt_at, 40u);
}

// RFC 8200 §4.7.
TEST(Ip6Chain, NoNextHeaderDeliversNothing) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts()};
  p.proto = kIp6NxtNone;
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.nonext, 1u);
}

// RFC 8200 §4.1: Hop-by-Hop only right after the IPv6 header; elsewhere
// Parameter Problem code 1 at the Next Header field naming it.
TEST(Ip6Chain, HopByHopNotFirstIsParamProblem) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts(), ip6_hbh()};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbNextHeader);
  EXPECT_EQ(w.c.pp.pointer, 40u);
  EXPECT_EQ(w.st.hbhnotfirst, 1u);
  EXPECT_EQ(w.st.paramprob, 1u);
  // Two Hop-by-Hop headers: the second is not first either.
  p.ext = {ip6_hbh(), ip6_hbh()};
  w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.pointer, 40u);
}

// RFC 8200 §4.2: Pad1 and PadN are skipped.
TEST(Ip6Options, PaddingIsSkipped) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts(bytes_of({0, 0, 0, 1, 1, 0}))};  // Pad1 x3, PadN(1)
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
}

// More than 7 padding bytes in a row, or PadN with data, carry something
// else (RFC 4942 §2.1.9.5; Linux drops them).
TEST(Ip6Options, OverlongOrDirtyPaddingIsDropped) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts(bytes_of({1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))};
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.badpad, 1u);
  p.ext = {ip6_dstopts(bytes_of({1, 2, 0, 9}))};
  w = walk(p.build());
  EXPECT_EQ(w.st.badpad, 1u);
}

// RFC 8200 §4.2: the action bits of an unrecognised option type.
TEST(Ip6Options, UnknownOptionActionBits) {
  struct Case {
    uint8_t type;
    const char* dst;
    Ip6Verdict verdict;
  };
  for (auto t : std::vector<Case>{
           {0x1e, "2001:db8::1", Ip6Verdict::kDeliver},       // 00: skip
           {0x5e, "2001:db8::1", Ip6Verdict::kDrop},          // 01: discard
           {0x9e, "2001:db8::1", Ip6Verdict::kParamProblem},  // 10: PP code 2
           {0x9e, "ff02::1", Ip6Verdict::kParamProblem},      // 10: even to multicast
           {0xde, "2001:db8::1", Ip6Verdict::kParamProblem},  // 11: PP code 2 to unicast
           {0xde, "ff02::1", Ip6Verdict::kDrop},              // 11: silent to multicast
       }) {
    Ip6Pkt p = udp_pkt();
    p.dst = *in6_parse(t.dst);
    p.ext = {ip6_dstopts(bytes_of({0, t.type, 2, 0xaa, 0xbb}))};  // Pad1, then the option
    auto w = walk(p.build());
    EXPECT_EQ(w.c.verdict, t.verdict) << int(t.type) << " " << t.dst;
    if (t.verdict == Ip6Verdict::kParamProblem) {
      EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbOption);
      EXPECT_EQ(w.c.pp.pointer, 40u + 3);  // the option type
    }
    EXPECT_EQ(w.st.unknownopt, t.verdict == Ip6Verdict::kDeliver ? 0u : 1u);
  }
}

// The Jumbo Payload option (RFC 2675) is not supported: refused as unknown.
TEST(Ip6Options, JumboIsRefused) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_hbh(bytes_of({kIp6OptJumbo, 4, 0, 1, 0, 0}))};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbOption);
  EXPECT_EQ(w.c.pp.pointer, 42u);
}

TEST(Ip6Options, RouterAlertInHopByHop) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_hbh(bytes_of({kIp6OptRouterAlert, 2, 0, 0}))};  // MLD (RFC 2711 value 0)
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
  EXPECT_TRUE(w.c.router_alert);
  EXPECT_EQ(w.c.router_alert_value, 0);
  p.ext = {ip6_hbh(bytes_of({kIp6OptRouterAlert, 3, 0, 0, 0}))};
  w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbHeader);
  EXPECT_EQ(w.c.pp.pointer, 43u);  // its length
  EXPECT_EQ(w.st.badopt, 1u);
}

// Malformed TLVs: an option running past its header (picoTCP
// CVE-2020-17445 read past it).
TEST(Ip6Options, OptionPastTheHeaderIsParamProblem) {
  Ip6Pkt p = udp_pkt();
  Ip6Ext h = ip6_dstopts(bytes_of({0x1e, 2, 0, 0}));  // then PadN(0) to 8
  h.bytes[7] = std::byte{200};                        // ... whose length now overruns
  h.bytes[6] = std::byte{0x1e};
  p.ext = {h};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbHeader);
  EXPECT_EQ(w.c.pp.pointer, 47u);
  // A type in the last byte with no room for its length.
  Ip6Ext g = ip6_dstopts(bytes_of({0, 0, 0, 0, 0}));
  g.bytes[7] = std::byte{0x1e};
  p.ext = {g};
  w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.pointer, 47u);
  EXPECT_EQ(w.st.badopt, 1u);
}

// RFC 8504 §5.3: a bound on options per header (Linux max_dst_opts_cnt).
TEST(Ip6Options, TooManyOptionsAreDropped) {
  std::vector<std::byte> opts;
  for (int k = 0; k < 9; ++k) {
    auto o = bytes_of({0x1e, 0});
    opts.insert(opts.end(), o.begin(), o.end());
  }
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts(opts)};
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.toomanyopts, 1u);
  opts.resize(16);
  p.ext = {ip6_dstopts(opts)};
  EXPECT_EQ(walk(p.build()).c.verdict, Ip6Verdict::kDeliver);
}

// RFC 5095 §3: type 0 with segments left is Parameter Problem code 0 at the
// Routing Type; with none left it is ignored (RFC 8200 §4.4).
TEST(Ip6Routing, Type0IsRefused) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_rthdr(0, 1)};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbHeader);
  EXPECT_EQ(w.c.pp.pointer, 42u);
  EXPECT_EQ(w.st.rthdr0, 1u);
  p.ext = {ip6_rthdr(0, 0)};
  EXPECT_EQ(walk(p.build()).c.verdict, Ip6Verdict::kDeliver);
}

// Other types with segments left: this host does not forward.
TEST(Ip6Routing, OtherTypesWithSegmentsLeftAreRefused) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_dstopts(), ip6_rthdr(4, 2, 2)};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.pointer, 48u + 2);
  EXPECT_EQ(w.st.rthdr, 1u);
  p.ext = {ip6_rthdr(2, 0)};
  EXPECT_EQ(walk(p.build()).c.verdict, Ip6Verdict::kDeliver);
}

// A header running past the payload (picoTCP CVE-2020-17442/-17444: a
// length wrap and a loop).
TEST(Ip6Limits, TruncatedHeadersAreDropped) {
  Ip6Pkt p = udp_pkt(0);
  p.ext = {ip6_dstopts()};
  auto b = p.build();
  b[41] = std::byte{255};  // 2048 bytes claimed
  auto w = walk(b);
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.truncated, 1u);
  // The Next Header names a header, but the payload ends.
  Ip6Pkt q;
  q.proto = kIp6NxtDstOpts;
  EXPECT_EQ(walk(q.build()).st.truncated, 1u);
  q.proto = kIp6NxtFragment;
  EXPECT_EQ(walk(q.build()).st.truncated, 1u);
}

TEST(Ip6Limits, TooManyHeadersAreDropped) {
  Ip6Pkt p = udp_pkt();
  for (int k = 0; k < 11; ++k) {
    p.ext.push_back(ip6_dstopts());
  }
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.toomanyhdrs, 1u);
  p.ext.resize(10);
  EXPECT_EQ(walk(p.build()).c.verdict, Ip6Verdict::kDeliver);
  // 100 headers, as ROBUSTNESS §3 asks.
  p.ext.assign(100, ip6_dstopts());
  EXPECT_EQ(walk(p.build()).st.toomanyhdrs, 1u);
}

TEST(Ip6Limits, LongChainsAreDropped) {
  Ip6Pkt p = udp_pkt();
  Ip6Ext big = ip6_dstopts(std::vector<std::byte>(1100, std::byte{0}));
  // Zero bytes are Pad1 runs: make them one unknown skippable option
  // per 250 bytes instead.
  for (size_t at = 2; at + 250 <= big.bytes.size(); at += 250) {
    big.bytes[at] = std::byte{0x1e};
    big.bytes[at + 1] = std::byte{248};
  }
  p.ext = {big};
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.chaintoolong, 1u);
  Ip6Limits roomy;
  roomy.max_chain_bytes = 4096;
  w = walk(p.build(), false, roomy);
  EXPECT_NE(w.st.chaintoolong, 1u);
}

// RFC 6946 §4: an atomic fragment is processed in isolation: the walk
// goes on past its Fragment header.
TEST(Ip6Fragment, AtomicFragmentIsDeliveredAtOnce) {
  Ip6Pkt p = udp_pkt();
  p.ext = {ip6_frag(0, false, 99)};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kDeliver);
  EXPECT_EQ(w.c.off, 48u);
  EXPECT_EQ(w.c.nxt, kIp6NxtUdp);
  EXPECT_TRUE(w.c.fragmented);
  EXPECT_EQ(w.st.atomicfrags, 1u);
  EXPECT_EQ(w.st.fragments, 0u);
}

TEST(Ip6Fragment, FragmentIsReportedForReassembly) {
  Ip6Pkt p = udp_pkt(64);
  p.ext = {ip6_hbh()};
  auto frags = ip6_fragments(p, 1, 0xabcdef01, {32});
  auto w = walk(frags[1]);
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kFragment);
  EXPECT_EQ(w.c.frag_at, 48u);
  EXPECT_EQ(w.c.nxt_at, 40u);
  EXPECT_EQ(w.c.frag_off, 32u);
  EXPECT_FALSE(w.c.frag_more);
  EXPECT_EQ(w.c.frag_id, 0xabcdef01u);
  EXPECT_EQ(w.c.frag_nxt, kIp6NxtUdp);
  EXPECT_EQ(w.st.fragments, 1u);
}

// RFC 8200 §4.5: a non-last fragment not a multiple of 8 long:
// Parameter Problem code 0 at the Payload Length.
TEST(Ip6Fragment, NonLastNotMultipleOf8) {
  Ip6Pkt p = udp_pkt(20);
  p.ext = {ip6_frag(0, true, 1)};
  auto w = walk(p.build());  // 8 + 20 = 28 bytes of data
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbHeader);
  EXPECT_EQ(w.c.pp.pointer, 4u);
  EXPECT_EQ(w.st.fragbadlen, 1u);
  EXPECT_EQ(w.st.fragdropped, 1u);
}

// RFC 8200 §4.5: more than 65535 bytes of payload: Parameter Problem code
// 0 at the Fragment Offset.
TEST(Ip6Fragment, TooBigIsParamProblem) {
  Ip6Pkt p;
  p.payload = pattern(64);
  p.ext = {ip6_frag(65528 - 8, false, 1)};  // 8 + 65520 + 64 > 65535
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.pointer, 42u);
  EXPECT_EQ(w.st.fragtoolong, 1u);
  // Exactly 65535 is fine: 8 (frag hdr) + 65520 + 7.
  p.payload = pattern(7);
  EXPECT_EQ(walk(p.build()).c.verdict, Ip6Verdict::kFragment);
}

// RFC 7112 §5: the first fragment holds the whole chain through the
// upper-layer header, else Parameter Problem code 3, pointer 0.
TEST(Ip6Fragment, FirstFragmentWithoutTheWholeChain) {
  Ip6Pkt p;
  p.proto = kIp6NxtTcp;
  p.payload = pattern(16);  // 16 of a 20-byte TCP header
  p.ext = {ip6_frag(0, true, 1)};
  auto w = walk(p.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbFirstFrag);
  EXPECT_EQ(w.c.pp.pointer, 0u);
  EXPECT_EQ(w.st.fragtruncchain, 1u);
  // A destination options header cut by the fragment boundary.
  Ip6Pkt q;
  Ip6Ext big = ip6_dstopts(std::vector<std::byte>(30, std::byte{0}));
  big.bytes.resize(8);  // header claims 32 bytes, 8 come
  for (int k = 2; k < 8; ++k) {
    big.bytes[k] = std::byte{0};
  }
  q.ext = {ip6_frag(0, true, 2), big};
  q.proto = kIp6NxtUdp;
  w = walk(q.build());
  ASSERT_EQ(w.c.verdict, Ip6Verdict::kParamProblem);
  EXPECT_EQ(w.c.pp.code, kIcmp6ParamProbFirstFrag);
  // With the whole chain it is a fragment like any.
  p.payload = pattern(24);
  EXPECT_EQ(walk(p.build()).c.verdict, Ip6Verdict::kFragment);
}

TEST(Ip6Fragment, ZeroLengthFragmentIsDropped) {
  Ip6Pkt p;
  p.payload = {};
  p.ext = {ip6_frag(8, false, 1)};
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.fragbad, 1u);
}

// A second Fragment header (around an atomic one, or in a reassembled
// packet) is refused.
TEST(Ip6Fragment, NestedFragmentHeadersAreDropped) {
  Ip6Pkt p = udp_pkt(16);
  p.ext = {ip6_frag(0, false, 1), ip6_frag(8, false, 2)};
  auto w = walk(p.build());
  EXPECT_EQ(w.c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(w.st.fragnested, 1u);
  Ip6Stat st;
  auto b = udp_pkt(16);
  b.ext = {ip6_frag(0, false, 1)};
  auto bytes = b.build();
  auto c = ip6_walk(bytes, bytes.size(), {}, false, true, st);
  EXPECT_EQ(c.verdict, Ip6Verdict::kDrop);
  EXPECT_EQ(st.fragnested, 1u);
  EXPECT_EQ(st.total, 0u);  // a reassembled packet was counted once already
}

TEST(Ip6Stat, EveryCounterHasAName) {
  EXPECT_EQ(ip6stat_fields().size() * sizeof(uint64_t), sizeof(Ip6Stat));
}

}  // namespace
}  // namespace iopkt::test
