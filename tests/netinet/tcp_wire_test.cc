// The TCP header view, option parser and builder (netinet/tcp.hh): byte
// fixtures both ways, truncated and impossible lengths, and the option
// inputs of ROBUSTNESS.md §3 ("TCP option parsing").
#include <gtest/gtest.h>

#include "harness/tcp_peer.hh"
#include "netinet/tcp.hh"

namespace iopkt::test {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) {
    out.push_back(std::byte{static_cast<uint8_t>(b)});
  }
  return out;
}

// A Linux SYN: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
const std::vector<std::byte> kLinuxSyn = bytes({
    0x9c, 0x40, 0x00, 0x50,                          // ports 40000 -> 80
    0x00, 0x00, 0x03, 0xe8,                          // seq 1000
    0x00, 0x00, 0x00, 0x00,                          // ack 0
    0xa0, 0x02, 0xfa, 0xf0,                          // doff 10, SYN, window 64240
    0x00, 0x00, 0x00, 0x00,                          // checksum, urgent
    0x02, 0x04, 0x05, 0xb4,                          // MSS 1460
    0x04, 0x02, 0x08, 0x0a,                          // SACK-permitted, TS kind/len
    0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00,  // TSval 0x1234, TSecr 0
    0x01, 0x03, 0x03, 0x07,                          // NOP, WS 7
});

TEST(TcpWire, ParsesALinuxSyn) {
  auto h = TcpHeader::parse(kLinuxSyn, kLinuxSyn.size());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->src_port(), 40000);
  EXPECT_EQ(h->dst_port(), 80);
  EXPECT_EQ(h->seq().v, 1000u);
  EXPECT_EQ(h->header_len(), 40u);
  EXPECT_EQ(h->flags(), kTcpSyn);
  EXPECT_EQ(h->window(), 64240);
  auto o = tcp_options_parse(h->options());
  EXPECT_FALSE(o.malformed);
  EXPECT_EQ(o.mss, 1460);
  EXPECT_EQ(o.wscale, 7);
  EXPECT_TRUE(o.sack_permitted);
  ASSERT_TRUE(o.timestamp.has_value());
  EXPECT_EQ(o.timestamp->val, 0x1234u);
  EXPECT_EQ(o.timestamp->ecr, 0u);
}

TEST(TcpWire, EmitsTheSameBytes) {
  TcpFields f;
  f.src_port = 40000;
  f.dst_port = 80;
  f.seq = TcpSeq{1000};
  f.flags = kTcpSyn;
  f.window = 64240;
  f.options.mss = 1460;
  f.options.sack_permitted = true;
  f.options.timestamp = TcpOptions::Timestamp{0x1234, 0};
  f.options.wscale = 7;
  ASSERT_EQ(f.size(), kLinuxSyn.size());
  std::vector<std::byte> out(f.size(), std::byte{0xee});
  f.emit(out);
  EXPECT_EQ(out, kLinuxSyn);
}

TEST(TcpWire, EveryOptionCombinationRoundTrips) {
  for (int mask = 0; mask < 32; ++mask) {
    TcpFields f;
    f.flags = kTcpAck;
    if (mask & 1) {
      f.options.mss = 536;
    }
    if (mask & 2) {
      f.options.wscale = 14;
    }
    if (mask & 4) {
      f.options.sack_permitted = true;
    }
    if (mask & 8) {
      f.options.timestamp = TcpOptions::Timestamp{7, 9};
    }
    if (mask & 16) {
      f.options.sack_count = (mask & 8) ? 3 : 4;  // what fits in 40 bytes
      for (uint8_t i = 0; i < f.options.sack_count; ++i) {
        f.options.sack[i] = {TcpSeq{100u * i}, TcpSeq{100u * i + 50}};
      }
    }
    if (f.size() > TcpHeader::kMaxSize) {
      continue;
    }
    ASSERT_EQ(f.size() % 4, 0u);
    std::vector<std::byte> out(f.size());
    f.emit(out);
    auto h = TcpHeader::parse(out, out.size());
    ASSERT_TRUE(h.ok()) << mask;
    auto o = tcp_options_parse(h->options());
    EXPECT_FALSE(o.malformed) << mask;
    EXPECT_EQ(o.mss, f.options.mss);
    EXPECT_EQ(o.wscale, f.options.wscale);
    EXPECT_EQ(o.sack_permitted, f.options.sack_permitted);
    EXPECT_EQ(o.timestamp.has_value(), f.options.timestamp.has_value());
    EXPECT_EQ(o.sack_count, f.options.sack_count);
  }
}

TEST(TcpWire, TruncatedAndImpossibleHeaders) {
  auto h = TcpHeader::parse(std::span(kLinuxSyn).first(19), 19);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error(), TcpParseError::kTooShort);
  // The data offset claims 40 bytes, the segment has 30.
  h = TcpHeader::parse(std::span(kLinuxSyn).first(30), 30);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error(), TcpParseError::kBadOffset);
  // Data offset 4 (16 bytes) is below the minimum.
  auto bad = kLinuxSyn;
  bad[12] = std::byte{0x40};
  h = TcpHeader::parse(bad, bad.size());
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error(), TcpParseError::kBadOffset);
  // Offset 15 (60 bytes) past a 40-byte segment.
  bad[12] = std::byte{0xf0};
  h = TcpHeader::parse(bad, bad.size());
  ASSERT_FALSE(h.ok());
  // The segment is long but the bytes given (a pullup) are not.
  h = TcpHeader::parse(std::span(kLinuxSyn).first(24), 100);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error(), TcpParseError::kBadOffset);
}

TEST(TcpWire, MalformedOptionsStopWithoutReadingPastTheHeader) {
  struct Case {
    const char* what;
    std::vector<std::byte> opts;
  };
  const Case cases[] = {
      {"length 0", bytes({0x02, 0x00, 0x05, 0xb4})},
      {"length 1", bytes({0x08, 0x01, 0x00, 0x00})},
      {"length past end", bytes({0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x00})},
      {"kind without length", bytes({0x01, 0x01, 0x01, 0x02})},
      {"MSS length 3", bytes({0x02, 0x03, 0x05, 0x00})},
      {"TS length 9", bytes({0x08, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00})},
      {"SACK length 12", bytes({0x05, 0x0c, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x00})},
      {"SACK length 2", bytes({0x01, 0x01, 0x05, 0x02})},
  };
  for (const auto& c : cases) {
    auto o = tcp_options_parse(c.opts);
    EXPECT_TRUE(o.malformed) << c.what;
    EXPECT_FALSE(o.timestamp.has_value()) << c.what;
  }
  // 40 NOPs, an unknown option skipped by its length, EOL midway.
  std::vector<std::byte> nops(40, std::byte{0x01});
  EXPECT_FALSE(tcp_options_parse(nops).malformed);
  auto o = tcp_options_parse(bytes({0xfd, 0x04, 0xaa, 0xbb, 0x02, 0x04, 0x02, 0x18}));
  EXPECT_FALSE(o.malformed);
  EXPECT_EQ(o.mss, 536);
  o = tcp_options_parse(bytes({0x00, 0x02, 0x04, 0x05, 0xb4}));
  EXPECT_FALSE(o.mss.has_value());  // after EOL nothing is read
  // A window scale above 14 is reported as sent; the receiver clamps it.
  o = tcp_options_parse(bytes({0x03, 0x03, 0x0f, 0x00}));
  EXPECT_EQ(o.wscale, 15);
}

TEST(TcpWire, ChecksumCoversThePseudoHeader) {
  TcpSpec s;
  s.src = InAddr::from_octets(192, 0, 2, 2);
  s.dst = InAddr::from_octets(192, 0, 2, 1);
  s.sport = 1;
  s.dport = 2;
  s.flags = kTcpAck;
  s.payload = bytes({1, 2, 3});  // odd length
  auto pkt = build_ipv4_tcp(s);
  std::span<const std::byte> seg = std::span(pkt).subspan(20);
  EXPECT_EQ(in_cksum_finish(in_cksum_add(in_pseudo_sum(s.src, s.dst, 6, seg.size()), seg)), 0);
  // Another destination: the same bytes no longer sum to zero.
  EXPECT_NE(in_cksum_finish(in_cksum_add(
                in_pseudo_sum(s.src, InAddr::from_octets(192, 0, 2, 9), 6, seg.size()), seg)),
            0);
}

TEST(TcpSeqArith, Wraps) {
  EXPECT_TRUE(TcpSeq{0xffffff00u} < TcpSeq{5});
  EXPECT_TRUE(TcpSeq{5} > TcpSeq{0xffffff00u});
  EXPECT_EQ(TcpSeq{5} - TcpSeq{0xffffff00u}, 0x105u);
  EXPECT_EQ((TcpSeq{0xffffffffu} + 2).v, 1u);
  EXPECT_TRUE(ts_lt(0xfffffff0u, 3));
}

}  // namespace
}  // namespace iopkt::test
