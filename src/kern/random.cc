// kern/random.cc — the core's generator: the ChaCha20 block function (RFC
// 8439 §2.3) run in counter mode as a keystream, like OpenBSD's arc4random
// and NetBSD's cprng. Deterministic for a given seed, so scenario runs repeat.
#include "kern/random.hh"

#include <algorithm>
#include <cstring>

#include "kern/chacha20.hh"

namespace iopkt {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): spreads a 64-bit seed over the
// 256-bit key so that nearby seeds give unrelated keys. Not a secret: the
// manager seeds with a full key from getrandom() when it matters.
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::array<std::byte, 32> key_from_seed(uint64_t seed) {
  std::array<std::byte, 32> key{};
  for (size_t i = 0; i < 4; ++i) {
    const uint64_t w = splitmix64(seed);
    for (size_t j = 0; j < 8; ++j) {
      key[8 * i + j] = std::byte(static_cast<uint8_t>(w >> (8 * j)));
    }
  }
  return key;
}

constexpr std::array<std::byte, 12> kZeroNonce{};

}  // namespace

Random::Random(uint64_t seed) : Random(std::span<const std::byte, 32>(key_from_seed(seed))) {}

Random::Random(std::span<const std::byte, 32> key)
    : state_(chacha20_state(key, 0, std::span<const std::byte, 12>(kZeroNonce))) {}

void Random::refill() {
  chacha20_block(state_, block_);
  // Words 12 and 13 form a 64-bit block counter (the original ChaCha layout;
  // the nonce is fixed at zero here), so the stream does not repeat for
  // 2^70 bytes.
  if (++state_[12] == 0) {
    ++state_[13];
  }
  used_ = 0;
}

uint32_t Random::u32() {
  if (used_ + 4 > block_.size()) {
    refill();
  }
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    v |= uint32_t{block_[used_ + i]} << (8 * i);
  }
  used_ += 4;
  return v;
}

uint64_t Random::u64() {
  const uint64_t lo = u32();
  const uint64_t hi = u32();
  return lo | (hi << 32);
}

uint32_t Random::uniform(uint32_t bound) {
  if (bound <= 1) {
    return 0;
  }
  // Lemire, "Fast Random Integer Generation in an Interval" (2019): the high
  // word of x * bound is uniform once the low word's biased band, the first
  // 2^32 mod bound values, is rejected.
  uint64_t m = uint64_t{u32()} * bound;
  auto low = static_cast<uint32_t>(m);
  if (low < bound) {
    const uint32_t threshold = static_cast<uint32_t>(-bound) % bound;
    while (low < threshold) {
      m = uint64_t{u32()} * bound;
      low = static_cast<uint32_t>(m);
    }
  }
  return static_cast<uint32_t>(m >> 32);
}

void Random::fill(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    if (used_ == block_.size()) {
      refill();
    }
    const size_t n = std::min(out.size() - done, block_.size() - used_);
    std::memcpy(out.data() + done, block_.data() + used_, n);
    used_ += n;
    done += n;
  }
}

}  // namespace iopkt
