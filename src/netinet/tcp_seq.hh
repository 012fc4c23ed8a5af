// netinet/tcp_seq.hh — TCP sequence numbers with modular comparison,
// RFC 9293 §3.4 ("It is essential to remember that the actual sequence
// number space is finite ... all arithmetic dealing with sequence numbers
// must be performed modulo 2**32"). As NetBSD's SEQ_LT/SEQ_GT (tcp_seq.h):
// a < b when the signed 32-bit difference a - b is negative, valid while the
// two are less than 2^31 apart.
#pragma once

#include <cstdint>

namespace iopkt {

struct TcpSeq {
  uint32_t v = 0;

  friend constexpr bool operator==(TcpSeq a, TcpSeq b) { return a.v == b.v; }
  friend constexpr bool operator<(TcpSeq a, TcpSeq b) {
    return static_cast<int32_t>(a.v - b.v) < 0;
  }
  friend constexpr bool operator>(TcpSeq a, TcpSeq b) { return b < a; }
  friend constexpr bool operator<=(TcpSeq a, TcpSeq b) { return !(b < a); }
  friend constexpr bool operator>=(TcpSeq a, TcpSeq b) { return !(a < b); }
  friend constexpr TcpSeq operator+(TcpSeq a, uint32_t n) { return TcpSeq{a.v + n}; }
  friend constexpr TcpSeq operator-(TcpSeq a, uint32_t n) { return TcpSeq{a.v - n}; }
  // Distance from b forward to a; meaningful when a >= b.
  friend constexpr uint32_t operator-(TcpSeq a, TcpSeq b) { return a.v - b.v; }
  TcpSeq& operator+=(uint32_t n) {
    v += n;
    return *this;
  }
};

constexpr TcpSeq seq_max(TcpSeq a, TcpSeq b) { return a < b ? b : a; }
constexpr TcpSeq seq_min(TcpSeq a, TcpSeq b) { return a < b ? a : b; }

// 32-bit timestamps compare the same way (RFC 7323 §5.2, PAWS).
constexpr bool ts_lt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

static_assert(TcpSeq{0xfffffff0u} < TcpSeq{0x10u}, "comparison wraps");
static_assert(TcpSeq{0x10u} - TcpSeq{0xfffffff0u} == 0x20u, "distance wraps");

}  // namespace iopkt
