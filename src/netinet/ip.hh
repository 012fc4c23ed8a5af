// netinet/ip.hh — the IPv4 header, RFC 791 §3.1. Wire format only: a view
// that checks lengths once, and a builder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kern/byteorder.hh"
#include "kern/result.hh"
#include "netinet/in.hh"

namespace iopkt {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoRaw = 255;  // IPPROTO_RAW: send-only, header included

// Largest IPv4 packet (the total length field, RFC 791 §3.1) and header.
inline constexpr size_t kIpMaxPacket = 65535;
inline constexpr size_t kIpMaxHeader = 60;

// Why an IPv4 header was refused; each is a drop counter (netstat -s).
enum class IpParseError : uint8_t {
  kTooShort,      // fewer than 20 bytes
  kBadVersion,    // version != 4
  kBadHeaderLen,  // IHL < 5 or beyond the packet
  kBadLength,     // total length < IHL*4 or beyond the packet
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

  uint8_t header_len() const {
    return static_cast<uint8_t>((std::to_integer<uint8_t>(b_[0]) & 0xf) * 4);
  }
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
  std::span<const std::byte> options() const {
    return b_.subspan(kMinSize, header_len() - kMinSize);
  }

 private:
  explicit IpHeader(std::span<const std::byte> b) : b_(b) {}
  std::span<const std::byte> b_;
};

struct IpFields {
  uint8_t tos = 0;
  uint16_t total_len = 0;  // header + payload
  uint16_t id = 0;
  uint16_t frag = 0;  // flags and offset as on the wire
  uint8_t ttl = 64;
  uint8_t protocol = 0;
  InAddr src, dst;
  // Writes a 20-byte header with its checksum.
  void emit(std::span<std::byte> out) const;
};

// Recompute the checksum of a complete header in place (`hdr` is the whole
// header, options included).
void ip_header_set_checksum(std::span<std::byte> hdr);

// IP options, RFC 791 §3.1 ("Options"). The first octet of each is the
// type: bit 0x80 is the "copied" flag, set on options that every fragment
// repeats (RFC 791 §3.2, "Fragmentation and reassembly").
inline constexpr uint8_t kIpOptEol = 0;
inline constexpr uint8_t kIpOptNop = 1;
inline constexpr uint8_t kIpOptRr = 7;      // record route
inline constexpr uint8_t kIpOptTs = 68;     // internet timestamp
inline constexpr uint8_t kIpOptLsrr = 131;  // loose source and record route
inline constexpr uint8_t kIpOptSsrr = 137;  // strict source and record route
inline constexpr uint8_t kIpOptCopied = 0x80;

// What the options of a valid header say.
struct IpOptionsInfo {
  bool source_route = false;     // LSRR or SSRR present
  bool route_exhausted = false;  // its pointer is past the last address
};
// Why the options were refused: the octet of the header (counted from the
// first octet of the IP header, as RFC 792 "Parameter Problem" wants) that
// is wrong.
struct IpOptionError {
  uint8_t pointer = 0;
};
// Checks the option area (`options` = header bytes 20..IHL*4). Unknown
// options are skipped by their length (RFC 1122 §3.2.1.8: "MUST ignore
// options it does not recognize"); a length of 0 or 1 or one running past
// the header, a second source route, and a route/record pointer below its
// minimum or leaving less than an address are errors (ROBUSTNESS §3
// "IPv4 options"; Linux ip_options_compile, NetBSD ip_dooptions).
Result<IpOptionsInfo, IpOptionError> ip_options_check(std::span<const std::byte> options);
// The options a later fragment carries: those with the copied flag, padded
// with EOL to a multiple of 4 (RFC 791 §3.2). `options` must have passed
// ip_options_check.
std::vector<std::byte> ip_options_copied(std::span<const std::byte> options);

}  // namespace iopkt
