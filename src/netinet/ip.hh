// netinet/ip.hh — the IPv4 header, RFC 791 §3.1. Wire format only: a view
// that checks lengths once, and a builder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kern/byteorder.hh"
#include "kern/result.hh"
#include "netinet/in.hh"

namespace iopkt {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;

// Why an IPv4 header was refused; each is a drop counter (netstat -s).
enum class IpParseError : uint8_t {
  kTooShort,     // fewer than 20 bytes
  kBadVersion,   // version != 4
  kBadHeaderLen, // IHL < 5 or beyond the packet
  kBadLength,    // total length < IHL*4 or beyond the packet
  kBadChecksum,
};

class IpHeader {
 public:
  static constexpr size_t kMinSize = 20;
  static constexpr uint16_t kFlagDf = 0x4000, kFlagMf = 0x2000, kOffMask = 0x1fff;

  // `bytes` is the start of the packet (at least the whole header); checks
  // version, IHL, total length against `packet_len` (bytes the link gave)
  // and the header checksum.
  static Result<IpHeader, IpParseError> parse(std::span<const std::byte> bytes, size_t packet_len);

  uint8_t header_len() const { return static_cast<uint8_t>((std::to_integer<uint8_t>(b_[0]) & 0xf) * 4); }
  uint8_t tos() const { return std::to_integer<uint8_t>(b_[1]); }
  uint16_t total_len() const { return load_be16(b_, 2); }
  uint16_t id() const { return load_be16(b_, 4); }
  uint16_t frag() const { return load_be16(b_, 6); }
  bool more_fragments() const { return frag() & kFlagMf; }
  uint16_t frag_offset_bytes() const { return static_cast<uint16_t>((frag() & kOffMask) * 8); }
  uint8_t ttl() const { return std::to_integer<uint8_t>(b_[8]); }
  uint8_t protocol() const { return std::to_integer<uint8_t>(b_[9]); }
  InAddr src() const { return {load_be32(b_, 12)}; }
  InAddr dst() const { return {load_be32(b_, 16)}; }
  std::span<const std::byte> options() const { return b_.subspan(kMinSize, header_len() - kMinSize); }

 private:
  explicit IpHeader(std::span<const std::byte> b) : b_(b) {}
  std::span<const std::byte> b_;
};

struct IpFields {
  uint8_t tos = 0;
  uint16_t total_len = 0;  // header + payload
  uint16_t id = 0;
  uint16_t frag = 0;       // flags and offset as on the wire
  uint8_t ttl = 64;
  uint8_t protocol = 0;
  InAddr src, dst;
  // Writes a 20-byte header with its checksum.
  void emit(std::span<std::byte> out) const;
};

}  // namespace iopkt
