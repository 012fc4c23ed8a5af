// kern/chacha20.cc — the ChaCha20 block function, RFC 8439 §2.1-§2.3.
#include "kern/chacha20.hh"

#include <bit>

namespace iopkt {
namespace {

uint32_t load_le32(const std::byte* p) noexcept {
  return std::to_integer<uint32_t>(p[0]) | (std::to_integer<uint32_t>(p[1]) << 8) |
         (std::to_integer<uint32_t>(p[2]) << 16) | (std::to_integer<uint32_t>(p[3]) << 24);
}

// RFC 8439 §2.1: the quarter round on four words of the state.
void quarter_round(ChaChaState& x, int a, int b, int c, int d) noexcept {
  x[a] += x[b];
  x[d] = std::rotl(x[d] ^ x[a], 16);
  x[c] += x[d];
  x[b] = std::rotl(x[b] ^ x[c], 12);
  x[a] += x[b];
  x[d] = std::rotl(x[d] ^ x[a], 8);
  x[c] += x[d];
  x[b] = std::rotl(x[b] ^ x[c], 7);
}

}  // namespace

ChaChaState chacha20_state(std::span<const std::byte, 32> key, uint32_t counter,
                           std::span<const std::byte, 12> nonce) noexcept {
  // "expand 32-byte k", RFC 8439 §2.3.
  ChaChaState s{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (size_t i = 0; i < 8; ++i) {
    s[4 + i] = load_le32(key.data() + 4 * i);
  }
  s[12] = counter;
  for (size_t i = 0; i < 3; ++i) {
    s[13 + i] = load_le32(nonce.data() + 4 * i);
  }
  return s;
}

void chacha20_block(const ChaChaState& in, std::span<uint8_t, 64> out) noexcept {
  ChaChaState x = in;
  // 10 double rounds: a column round then a diagonal round (RFC 8439 §2.3).
  for (int i = 0; i < 10; ++i) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 1, 5, 9, 13);
    quarter_round(x, 2, 6, 10, 14);
    quarter_round(x, 3, 7, 11, 15);
    quarter_round(x, 0, 5, 10, 15);
    quarter_round(x, 1, 6, 11, 12);
    quarter_round(x, 2, 7, 8, 13);
    quarter_round(x, 3, 4, 9, 14);
  }
  for (size_t i = 0; i < 16; ++i) {
    const uint32_t w = x[i] + in[i];
    out[4 * i] = static_cast<uint8_t>(w);
    out[4 * i + 1] = static_cast<uint8_t>(w >> 8);
    out[4 * i + 2] = static_cast<uint8_t>(w >> 16);
    out[4 * i + 3] = static_cast<uint8_t>(w >> 24);
  }
}

}  // namespace iopkt
