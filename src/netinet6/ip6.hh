// netinet6/ip6.hh — the IPv6 header and extension headers, RFC 8200 §3–§4.
// Wire format only: protocol numbers, field offsets, and small builders the
// tests and the reassembly use. The validating walk is ip6_input.hh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kern/byteorder.hh"
#include "netinet/in.hh"

namespace iopkt {

// Next Header values (IANA "Assigned Internet Protocol Numbers"; the
// extension headers are RFC 8200 §4).
inline constexpr uint8_t kIp6NxtHopOpts = 0;  // §4.3, only right after the IPv6 header
inline constexpr uint8_t kIp6NxtTcp = 6;
inline constexpr uint8_t kIp6NxtUdp = 17;
inline constexpr uint8_t kIp6NxtRouting = 43;   // §4.4
inline constexpr uint8_t kIp6NxtFragment = 44;  // §4.5
inline constexpr uint8_t kIp6NxtEsp = 50;       // RFC 4303
inline constexpr uint8_t kIp6NxtAh = 51;        // RFC 4302
inline constexpr uint8_t kIp6NxtIcmp6 = 58;     // RFC 4443
inline constexpr uint8_t kIp6NxtNone = 59;      // §4.7
inline constexpr uint8_t kIp6NxtDstOpts = 60;   // §4.6

// The fixed header, §3.
inline constexpr size_t kIp6HeaderSize = 40;
inline constexpr size_t kIp6VersionAt = 0;  // version (4 bits), traffic class, flow label
inline constexpr size_t kIp6PlenAt = 4;
inline constexpr size_t kIp6NxtAt = 6;
inline constexpr size_t kIp6HlimAt = 7;
inline constexpr size_t kIp6SrcAt = 8;
inline constexpr size_t kIp6DstAt = 24;
// Largest payload without a jumbo option (RFC 2675, not supported).
inline constexpr size_t kIp6MaxPayload = 65535;

// Options headers (§4.2): type, length, data. The two highest bits of the
// type say what to do with an unrecognised option.
inline constexpr uint8_t kIp6OptPad1 = 0x00;
inline constexpr uint8_t kIp6OptPadN = 0x01;
inline constexpr uint8_t kIp6OptRouterAlert = 0x05;  // RFC 2711, hop-by-hop only
inline constexpr uint8_t kIp6OptJumbo = 0xc2;        // RFC 2675: refused like unknown

// The Fragment header, §4.5: 8 bytes.
inline constexpr size_t kIp6FragHeaderSize = 8;
inline constexpr size_t kIp6FragOffAt = 2;  // offset (13 bits, 8-byte units), res, M
inline constexpr size_t kIp6FragIdAt = 4;
inline constexpr uint16_t kIp6FragOffMask = 0xfff8;
inline constexpr uint16_t kIp6FragMore = 0x0001;

// The Routing header, §4.4: next header, length, type, segments left.
inline constexpr size_t kIp6RtTypeAt = 2;
inline constexpr size_t kIp6RtSegLeftAt = 3;

inline In6Addr ip6_load_addr(std::span<const std::byte> b, size_t at) {
  In6Addr a;
  for (size_t k = 0; k < 16; ++k) {
    a.b[k] = std::to_integer<uint8_t>(b[at + k]);
  }
  return a;
}
inline void ip6_store_addr(std::span<std::byte> b, size_t at, const In6Addr& a) {
  for (size_t k = 0; k < 16; ++k) {
    b[at + k] = std::byte{a.b[k]};
  }
}

// The first 4 bytes: version 6, traffic class, flow label (§3, RFC 6437).
inline uint32_t ip6_vtcfl(uint8_t tclass, uint32_t flow) {
  return (uint32_t{6} << 28) | (uint32_t{tclass} << 20) | (flow & 0xfffff);
}

}  // namespace iopkt
