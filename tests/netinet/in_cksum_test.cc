// tests/netinet/in_cksum_test.cc — the Internet checksum (RFC 1071): the
// word-at-a-time sums agree with a plain 16-bit big-endian sum for every
// length and alignment, over contiguous bytes and over chains whose
// segments have odd lengths, and known values hold.
#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <vector>

#include "kern/mbuf.hh"
#include "netinet/in.hh"

namespace iopkt {
namespace {

// RFC 1071 §4.1, word by word: the definition the fast sums must match.
uint16_t reference(const std::vector<std::byte>& b, uint32_t start = 0) {
  uint64_t acc = start;
  for (size_t i = 0; i < b.size(); i += 2) {
    uint32_t hi = std::to_integer<uint32_t>(b[i]) << 8;
    uint32_t lo = i + 1 < b.size() ? std::to_integer<uint32_t>(b[i + 1]) : 0;
    acc += hi | lo;
  }
  while (acc >> 16) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  return static_cast<uint16_t>(~acc & 0xffff);
}

std::vector<std::byte> random_bytes(std::mt19937& rng, size_t n) {
  std::vector<std::byte> v(n);
  for (auto& b : v) {
    b = std::byte(static_cast<uint8_t>(rng()));
  }
  return v;
}

TEST(InCksum, Rfc1071Example) {
  // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
  const std::vector<std::byte> b{std::byte{0x00}, std::byte{0x01}, std::byte{0xf2},
                                 std::byte{0x03}, std::byte{0xf4}, std::byte{0xf5},
                                 std::byte{0xf6}, std::byte{0xf7}};
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, b)), 0x220d);
  EXPECT_EQ(reference(b), 0x220d);
}

TEST(InCksum, AllZerosAndAllOnes) {
  const std::vector<std::byte> zeros(64, std::byte{0});
  const std::vector<std::byte> ones(64, std::byte{0xff});
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, zeros)), 0xffff);
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, ones)), reference(ones));
}

TEST(InCksum, ContiguousBytesMatchTheDefinitionForEveryLength) {
  std::mt19937 rng(1071);
  for (size_t n = 0; n <= 300; ++n) {
    auto b = random_bytes(rng, n);
    uint32_t start = rng() & 0x3ffff;  // a partial sum carried in
    ASSERT_EQ(in_cksum_finish(in_cksum_add(start, b)), reference(b, start)) << "length " << n;
  }
}

TEST(InCksum, ChainsWithOddSegmentsMatchTheDefinition) {
  PoolConfig c;
  c.mclbytes = 2048;
  MbufPool pool(c);
  std::mt19937 rng(5);
  for (int round = 0; round < 300; ++round) {
    // A packet built from 1-6 pieces of random (often odd) lengths.
    Mbuf m;
    std::vector<std::byte> all;
    int pieces = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < pieces; ++i) {
      auto piece = random_bytes(rng, rng() % 700);
      all.insert(all.end(), piece.begin(), piece.end());
      m.concat(Mbuf::copy_from(pool, piece));
    }
    ASSERT_EQ(m.len(), all.size());
    // Any window of it, from an even or odd offset.
    size_t off = all.empty() ? 0 : rng() % all.size();
    size_t len = all.size() - off == 0 ? 0 : rng() % (all.size() - off + 1);
    std::vector<std::byte> window(all.begin() + static_cast<std::ptrdiff_t>(off),
                                  all.begin() + static_cast<std::ptrdiff_t>(off + len));
    ASSERT_EQ(in_cksum_finish(in_cksum_add_mbuf(0, m, off, len)), reference(window))
        << "round " << round << " off " << off << " len " << len;
  }
}

}  // namespace
}  // namespace iopkt
