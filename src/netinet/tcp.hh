// netinet/tcp.hh — the TCP header, RFC 9293 §3.1, and its options: MSS
// (RFC 9293 §3.2), window scale and timestamps (RFC 7323 §2.2, §3.2),
// SACK-permitted and SACK (RFC 2018). Wire format only: a view that checks
// lengths once, an option parser that never reads past the header, and a
// builder. ROBUSTNESS.md §3 "TCP option parsing" lists the inputs that
// broke other stacks (picoTCP CVE-2020-24337: a length of 0 looped forever).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "kern/byteorder.hh"
#include "kern/result.hh"
#include "netinet/in.hh"
#include "netinet/tcp_seq.hh"

namespace iopkt {

using TcpFlags = uint8_t;
inline constexpr TcpFlags kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                          kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

inline constexpr uint8_t kTcpOptEol = 0, kTcpOptNop = 1, kTcpOptMss = 2, kTcpOptWscale = 3,
                         kTcpOptSackPermitted = 4, kTcpOptSack = 5, kTcpOptTimestamp = 8;
// RFC 7323 §2.3: "If a Window Scale option is received with a shift.cnt
// value larger than 14, the TCP SHOULD log the error but MUST use 14".
inline constexpr uint8_t kTcpMaxWscale = 14;
inline constexpr size_t kTcpMaxSackBlocks = 4;

enum class TcpParseError : uint8_t {
  kTooShort,   // fewer than 20 bytes
  kBadOffset,  // data offset < 5 or past the segment
};

// What the options say. Malformed options (a length of 0 or 1, one running
// past the header, a known option with the wrong length) stop the parse, as
// Linux tcp_parse_options does; `malformed` records it for a counter.
struct TcpOptions {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> wscale;  // as received (clamping to 14 is the receiver's job)
  bool sack_permitted = false;
  struct Timestamp {
    uint32_t val = 0, ecr = 0;
  };
  std::optional<Timestamp> timestamp;
  struct SackBlock {
    TcpSeq left, right;
  };
  std::array<SackBlock, kTcpMaxSackBlocks> sack{};
  uint8_t sack_count = 0;
  bool malformed = false;

  // Bytes the options take on the wire, padded to a multiple of 4 (the
  // layout Linux and BSD use: NOPs to align each 32-bit field).
  size_t wire_size() const;
  // Write them into `out` (size wire_size()).
  void emit(std::span<std::byte> out) const;
};

// Parse the option bytes of a header (those after the first 20).
TcpOptions tcp_options_parse(std::span<const std::byte> opts);

class TcpHeader {
 public:
  static constexpr size_t kMinSize = 20;
  static constexpr size_t kMaxSize = 60;
  // `bytes` holds at least the whole header (data offset * 4 bytes, or
  // all of a shorter segment); `segment_len` is the TCP length from IP. The
  // data offset must be >= 5 and lie inside both.
  static Result<TcpHeader, TcpParseError> parse(std::span<const std::byte> bytes,
                                                size_t segment_len);

  uint16_t src_port() const { return load_be16(b_, kSrcPortAt); }
  uint16_t dst_port() const { return load_be16(b_, kDstPortAt); }
  TcpSeq seq() const { return TcpSeq{load_be32(b_, kSeqAt)}; }
  TcpSeq ack() const { return TcpSeq{load_be32(b_, kAckAt)}; }
  size_t header_len() const { return (std::to_integer<size_t>(b_[kOffsetAt]) >> 4) * 4; }
  TcpFlags flags() const { return std::to_integer<uint8_t>(b_[kFlagsAt]); }
  uint16_t window() const { return load_be16(b_, kWindowAt); }
  uint16_t checksum() const { return load_be16(b_, kChecksumAt); }
  uint16_t urgent() const { return load_be16(b_, kUrgentAt); }
  std::span<const std::byte> options() const {
    return b_.subspan(kMinSize, header_len() - kMinSize);
  }

  static constexpr size_t kSrcPortAt = 0, kDstPortAt = 2, kSeqAt = 4, kAckAt = 8, kOffsetAt = 12,
                          kFlagsAt = 13, kWindowAt = 14, kChecksumAt = 16, kUrgentAt = 18;

 private:
  explicit TcpHeader(std::span<const std::byte> b) : b_(b) {}
  std::span<const std::byte> b_;
};

// What to emit, host order. The checksum field is written as zero: the
// caller sums the pseudo-header and the payload (tcp_checksum) and stores it.
struct TcpFields {
  uint16_t src_port = 0, dst_port = 0;
  TcpSeq seq, ack;
  TcpFlags flags = 0;
  uint16_t window = 0;
  uint16_t urgent = 0;
  TcpOptions options;
  size_t size() const { return TcpHeader::kMinSize + options.wire_size(); }  // <= 60
  void emit(std::span<std::byte> out) const;  // needs out.size() == size()
};

// The checksum of a contiguous segment (header with a zero checksum field,
// then data) over the IPv4 pseudo-header, RFC 9293 §3.1.
uint16_t tcp_checksum(InAddr src, InAddr dst, std::span<const std::byte> segment);
inline void tcp_store_checksum(std::span<std::byte> header, uint16_t sum) {
  store_be16(header, TcpHeader::kChecksumAt, sum);
}

inline Result<TcpHeader, TcpParseError> TcpHeader::parse(std::span<const std::byte> bytes,
                                                         size_t segment_len) {
  if (bytes.size() < kMinSize || segment_len < kMinSize) {
    return Err(TcpParseError::kTooShort);
  }
  size_t hlen = (std::to_integer<size_t>(bytes[kOffsetAt]) >> 4) * 4;
  if (hlen < kMinSize || hlen > segment_len || hlen > bytes.size()) {
    return Err(TcpParseError::kBadOffset);
  }
  return TcpHeader(bytes.first(hlen));
}

}  // namespace iopkt
