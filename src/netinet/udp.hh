// netinet/udp.hh — the UDP header, RFC 768. Wire format only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kern/byteorder.hh"
#include "kern/result.hh"

namespace iopkt {

enum class UdpParseError : uint8_t { kTooShort, kBadLength };

class UdpHeader {
 public:
  static constexpr size_t kSize = 8;
  // `bytes` holds at least the header; `ip_payload_len` is what IP carried.
  // The UDP length must cover the header and fit in the IP payload
  // (RFC 768; extra IP payload beyond it is trimmed by the caller).
  static Result<UdpHeader, UdpParseError> parse(std::span<const std::byte> bytes,
                                                size_t ip_payload_len);
  uint16_t src_port() const { return load_be16(b_, 0); }
  uint16_t dst_port() const { return load_be16(b_, 2); }
  uint16_t length() const { return load_be16(b_, 4); }
  uint16_t checksum() const { return load_be16(b_, 6); }

 private:
  explicit UdpHeader(std::span<const std::byte> b) : b_(b) {}
  std::span<const std::byte> b_;
};

struct UdpFields {
  uint16_t src_port = 0, dst_port = 0, length = 0, checksum = 0;
  void emit(std::span<std::byte> out) const {
    store_be16(out, 0, src_port);
    store_be16(out, 2, dst_port);
    store_be16(out, 4, length);
    store_be16(out, 6, checksum);
  }
};

inline Result<UdpHeader, UdpParseError> UdpHeader::parse(std::span<const std::byte> bytes,
                                                         size_t ip_payload_len) {
  if (bytes.size() < kSize || ip_payload_len < kSize) {
    return Err(UdpParseError::kTooShort);
  }
  size_t len = load_be16(bytes, 4);
  if (len < kSize || len > ip_payload_len) {
    return Err(UdpParseError::kBadLength);
  }
  return UdpHeader(bytes.first(kSize));
}

}  // namespace iopkt
