// tests/kern/random_test.cc — the ChaCha20 block function against RFC 8439,
// and the generator's determinism, bounds and rough uniformity.
#include "kern/random.hh"

#include <gtest/gtest.h>

#include <array>
#include <set>

#include "kern/chacha20.hh"

namespace iopkt {
namespace {

// RFC 8439 §2.3.2: key 00..1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00,
// block count 1.
TEST(ChaCha20, BlockFunctionMatchesRfc8439TestVector) {
  std::array<std::byte, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = std::byte(i);
  }
  const std::array<std::byte, 12> nonce{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x09},
                                        std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x4a},
                                        std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};
  const ChaChaState st = chacha20_state(key, 1, nonce);
  // The initial state as printed in §2.3.2.
  EXPECT_EQ(st[0], 0x61707865u);
  EXPECT_EQ(st[4], 0x03020100u);
  EXPECT_EQ(st[12], 0x00000001u);
  EXPECT_EQ(st[13], 0x09000000u);
  EXPECT_EQ(st[14], 0x4a000000u);

  std::array<uint8_t, 64> out{};
  chacha20_block(st, out);
  const std::array<uint8_t, 64> expected{
      0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3,
      0x20, 0x71, 0xc4, 0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22,
      0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e, 0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa,
      0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2, 0xb5, 0x12, 0x9c, 0xd1,
      0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e};
  EXPECT_EQ(out, expected);
}

// RFC 8439 §2.4.2 / A.1 test vector #1: all-zero key and nonce, counter 0.
TEST(ChaCha20, ZeroKeyBlockMatchesRfc8439AppendixA) {
  const std::array<std::byte, 32> key{};
  const std::array<std::byte, 12> nonce{};
  std::array<uint8_t, 64> out{};
  chacha20_block(chacha20_state(key, 0, nonce), out);
  const std::array<uint8_t, 16> head{0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90,
                                     0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28};
  EXPECT_TRUE(std::equal(head.begin(), head.end(), out.begin()));
  // A zero key with a zero nonce is what Random(key = 0) produces first.
  Random r{std::span<const std::byte, 32>(key)};
  std::array<std::byte, 64> stream{};
  r.fill(stream);
  for (size_t i = 0; i < 64; ++i) {
    ASSERT_EQ(std::to_integer<uint8_t>(stream[i]), out[i]) << i;
  }
}

TEST(Random, SameSeedSameStreamOtherSeedOtherStream) {
  Random a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const uint32_t va = a.u32();
    EXPECT_EQ(va, b.u32());
    differs |= va != c.u32();
  }
  EXPECT_TRUE(differs);
}

TEST(Random, FillAndWordsDrawFromOneStream) {
  Random a(7), b(7);
  std::array<std::byte, 8> bytes{};
  a.fill(bytes);
  uint64_t from_bytes = 0;
  for (size_t i = 0; i < 8; ++i) {
    from_bytes |= uint64_t{std::to_integer<uint8_t>(bytes[i])} << (8 * i);
  }
  EXPECT_EQ(from_bytes, b.u64());
  // Long fills cross block boundaries without repeating.
  std::array<std::byte, 300> big{};
  a.fill(big);
  EXPECT_FALSE(std::equal(big.begin(), big.begin() + 64, big.begin() + 64));
}

TEST(Random, NoShortCycleOverManyBlocks) {
  Random r(1);
  std::set<uint64_t> seen;
  for (int i = 0; i < 20000; ++i) {
    seen.insert(r.u64());
  }
  EXPECT_EQ(seen.size(), 20000u);
}

TEST(Random, UniformStaysInBounds) {
  Random r(99);
  EXPECT_EQ(r.uniform(1), 0u);
  for (uint32_t bound : {2u, 3u, 7u, 1000u, 0x80000001u, 0xffffffffu}) {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_LT(r.uniform(bound), bound);
    }
  }
}

TEST(Random, UniformIsRoughlyFlat) {
  Random r(2024);
  constexpr uint32_t kBuckets = 10;
  constexpr int kDraws = 100000;
  std::array<int, kBuckets> count{};
  for (int i = 0; i < kDraws; ++i) {
    ++count[r.uniform(kBuckets)];
  }
  // Expected 10000 each, sd ~95; 5 sd either side.
  for (int c : count) {
    EXPECT_GT(c, 9500);
    EXPECT_LT(c, 10500);
  }
  // With `u32 % bound` and bound = 3 * 2^30 + 1, the values below
  // 2^32 - bound (about 2^30) would come out twice as often, putting 5/8 of
  // the draws in the lower half. Unbiased: one half.
  const uint32_t bound = 0xc0000001u;
  int low = 0;
  for (int i = 0; i < 30000; ++i) {
    low += r.uniform(bound) < bound / 2 ? 1 : 0;
  }
  EXPECT_GT(low, 14400);
  EXPECT_LT(low, 15600);
}

}  // namespace
}  // namespace iopkt
