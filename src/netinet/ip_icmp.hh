// netinet/ip_icmp.hh — the ICMP message format, RFC 792. Wire format only:
// types and codes, a view that checks the length once, and a builder of the
// 8-byte header. Read RFC 792 and RFC 1122 §3.2.2 before ip_icmp.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kern/byteorder.hh"
#include "kern/result.hh"

namespace iopkt {

// Types (RFC 792; RFC 950 for the mask messages, RFC 1256 for router
// discovery). Only these have counters of their own.
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpUnreach = 3;
inline constexpr uint8_t kIcmpSourceQuench = 4;
inline constexpr uint8_t kIcmpRedirect = 5;
inline constexpr uint8_t kIcmpEcho = 8;
inline constexpr uint8_t kIcmpRouterAdvert = 9;
inline constexpr uint8_t kIcmpRouterSolicit = 10;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParamProblem = 12;
inline constexpr uint8_t kIcmpTimestamp = 13;
inline constexpr uint8_t kIcmpTimestampReply = 14;
inline constexpr uint8_t kIcmpInfoRequest = 15;
inline constexpr uint8_t kIcmpInfoReply = 16;
inline constexpr uint8_t kIcmpMaskRequest = 17;
inline constexpr uint8_t kIcmpMaskReply = 18;
inline constexpr uint8_t kIcmpMaxType = 18;

// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
inline constexpr uint8_t kIcmpUnreachNet = 0;
inline constexpr uint8_t kIcmpUnreachHost = 1;
inline constexpr uint8_t kIcmpUnreachProtocol = 2;
inline constexpr uint8_t kIcmpUnreachPort = 3;
inline constexpr uint8_t kIcmpUnreachNeedFrag = 4;
inline constexpr uint8_t kIcmpUnreachSrcFail = 5;
inline constexpr uint8_t kIcmpUnreachMaxCode = 15;
// Time exceeded codes.
inline constexpr uint8_t kIcmpTimxceedInTransit = 0;
inline constexpr uint8_t kIcmpTimxceedReass = 1;
// Parameter problem codes (RFC 792; RFC 1122 §3.2.2.5 adds 1).
inline constexpr uint8_t kIcmpParamProbPointer = 0;
inline constexpr uint8_t kIcmpParamProbOptAbsent = 1;
inline constexpr uint8_t kIcmpParamProbLength = 2;

// RFC 1122 §3.2.2: "An ICMP error message MUST NOT be sent as the result
// of receiving ... an ICMP error message". Unknown types are treated as
// errors, as Linux does (icmp_pointers[].error), so that nothing answers
// them.
constexpr bool icmp_is_error(uint8_t type) {
  switch (type) {
    case kIcmpEchoReply:
    case kIcmpEcho:
    case kIcmpRouterAdvert:
    case kIcmpRouterSolicit:
    case kIcmpTimestamp:
    case kIcmpTimestampReply:
    case kIcmpInfoRequest:
    case kIcmpInfoReply:
    case kIcmpMaskRequest:
    case kIcmpMaskReply:
      return false;
    default:
      return true;
  }
}

enum class IcmpParseError : uint8_t { kTooShort };

class IcmpHeader {
 public:
  static constexpr size_t kSize = 8;
  // `bytes` holds at least the 8-byte header.
  static Result<IcmpHeader, IcmpParseError> parse(std::span<const std::byte> bytes) {
    if (bytes.size() < kSize) {
      return Err(IcmpParseError::kTooShort);
    }
    return IcmpHeader(bytes.first(kSize));
  }
  uint8_t type() const { return std::to_integer<uint8_t>(b_[0]); }
  uint8_t code() const { return std::to_integer<uint8_t>(b_[1]); }
  uint16_t checksum() const { return load_be16(b_, 2); }
  // Echo and echo reply (RFC 792): identifier and sequence number.
  uint16_t id() const { return load_be16(b_, 4); }
  uint16_t seq() const { return load_be16(b_, 6); }
  // Parameter problem: the octet in error.
  uint8_t pointer() const { return std::to_integer<uint8_t>(b_[4]); }
  // Fragmentation needed: the next-hop MTU (RFC 1191 §4).
  uint16_t next_mtu() const { return load_be16(b_, 6); }

 private:
  explicit IcmpHeader(std::span<const std::byte> b) : b_(b) {}
  std::span<const std::byte> b_;
};

struct IcmpFields {
  uint8_t type = 0, code = 0;
  uint32_t rest = 0;  // the second word: id/seq, pointer << 24, or the MTU
  // Writes the 8-byte header with a zero checksum; the caller sums the
  // whole message and stores it at offset 2.
  void emit(std::span<std::byte> out) const {
    out[0] = std::byte{type};
    out[1] = std::byte{code};
    store_be16(out, 2, 0);
    store_be32(out, 4, rest);
  }
};

}  // namespace iopkt
