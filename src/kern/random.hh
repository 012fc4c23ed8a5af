// kern/random.hh — the core's random numbers: a ChaCha20-based generator
// (RFC 8439 block function as a keystream), seeded by the manager from
// getrandom() and by tests with a fixed seed, so that scenario runs repeat.
// Used for IDs, ephemeral ports and, later, ISN secrets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace iopkt {

class Random {
 public:
  explicit Random(uint64_t seed);
  explicit Random(std::span<const std::byte, 32> key);

  uint32_t u32();
  uint64_t u64();
  // Uniform in [0, bound), bound > 0, without modulo bias.
  uint32_t uniform(uint32_t bound);
  void fill(std::span<std::byte> out);

 private:
  void refill();
  std::array<uint32_t, 16> state_{};
  std::array<uint8_t, 64> block_{};
  size_t used_ = 64;
};

}  // namespace iopkt
