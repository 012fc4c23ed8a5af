// kern/byteorder.hh — alignment-safe big-endian loads and stores for wire
// formats. Views and builders go through these, never through casts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace iopkt {

inline uint16_t load_be16(std::span<const std::byte> b, size_t at) {
  return static_cast<uint16_t>((std::to_integer<uint16_t>(b[at]) << 8) |
                               std::to_integer<uint16_t>(b[at + 1]));
}
inline uint32_t load_be32(std::span<const std::byte> b, size_t at) {
  return (uint32_t{load_be16(b, at)} << 16) | load_be16(b, at + 2);
}
inline void store_be16(std::span<std::byte> b, size_t at, uint16_t v) {
  b[at] = std::byte(v >> 8);
  b[at + 1] = std::byte(v & 0xff);
}
inline void store_be32(std::span<std::byte> b, size_t at, uint32_t v) {
  store_be16(b, at, static_cast<uint16_t>(v >> 16));
  store_be16(b, at + 2, static_cast<uint16_t>(v & 0xffff));
}

inline std::span<const std::byte> as_bytes_view(const void* p, size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

}  // namespace iopkt
