// netinet/in.hh — IPv4 and IPv6 addresses as values, and the Internet
// checksum (RFC 1071). Host-order integers for IPv4 so that masks and
// comparisons read naturally; bytes for IPv6.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace iopkt {

class Mbuf;

// An IPv4 address in host byte order.
struct InAddr {
  uint32_t v = 0;

  static constexpr InAddr any() { return {0}; }
  static constexpr InAddr broadcast() { return {0xffffffffu}; }
  static constexpr InAddr loopback() { return {0x7f000001u}; }
  static constexpr InAddr from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return {(uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d};
  }
  static std::optional<InAddr> parse(std::string_view text);
  std::string str() const;

  bool is_any() const { return v == 0; }
  bool is_broadcast() const { return v == 0xffffffffu; }
  bool is_loopback() const { return (v >> 24) == 127; }
  bool is_multicast() const { return (v >> 28) == 0xe; }  // 224.0.0.0/4
  friend auto operator<=>(const InAddr&, const InAddr&) = default;
};

constexpr uint32_t in_prefix_mask(unsigned prefixlen) {
  return prefixlen == 0 ? 0 : (prefixlen >= 32 ? 0xffffffffu : ~((1u << (32 - prefixlen)) - 1));
}
// Length of a contiguous netmask, or nullopt if the mask has holes.
std::optional<unsigned> in_mask_prefixlen(uint32_t mask);

struct In6Addr {
  std::array<uint8_t, 16> b{};

  static std::optional<In6Addr> parse(std::string_view text);
  static In6Addr loopback() {
    In6Addr a;
    a.b[15] = 1;
    return a;
  }
  std::string str() const;
  bool is_any() const;
  bool is_loopback() const { return *this == loopback(); }
  bool is_linklocal() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
  bool is_multicast() const { return b[0] == 0xff; }
  bool is_v4mapped() const;
  friend auto operator<=>(const In6Addr&, const In6Addr&) = default;
};

// RFC 1071 one's-complement sum, unfolded, so that pseudo-header and data
// sums can be combined; `in_cksum_finish` folds and complements.
uint32_t in_cksum_add(uint32_t sum, std::span<const std::byte> bytes);
uint32_t in_cksum_add_mbuf(uint32_t sum, const Mbuf& m, size_t off, size_t len);
uint16_t in_cksum_finish(uint32_t sum);
// Pseudo-header sum for TCP/UDP over IPv4 (RFC 768, RFC 9293 §3.1).
uint32_t in_pseudo_sum(InAddr src, InAddr dst, uint8_t proto, uint16_t len);

}  // namespace iopkt
