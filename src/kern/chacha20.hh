// kern/chacha20.hh — the ChaCha20 block function (RFC 8439 §2.3), exposed on
// its own so that tests can check it against the RFC's vectors. kern/random
// uses it as a keystream generator; nothing here is a cipher API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace iopkt {

using ChaChaState = std::array<uint32_t, 16>;

// The initial state of RFC 8439 §2.3: the four constants, the 256-bit key
// (little-endian words), the 32-bit block counter and the 96-bit nonce.
ChaChaState chacha20_state(std::span<const std::byte, 32> key, uint32_t counter,
                           std::span<const std::byte, 12> nonce) noexcept;

// 20 rounds over `in`, add `in`, serialize little-endian (RFC 8439 §2.3).
void chacha20_block(const ChaChaState& in, std::span<uint8_t, 64> out) noexcept;

}  // namespace iopkt
