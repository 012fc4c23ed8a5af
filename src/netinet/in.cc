// netinet/in.cc — address parsing and printing, the Internet checksum.
#include "netinet/in.hh"

#include <arpa/inet.h>

#include <bit>
#include <cstring>

#include "kern/mbuf.hh"

namespace iopkt {

// inet_pton/inet_ntop only convert text; they touch no state and make no
// syscalls, so the core may use them.
std::optional<InAddr> InAddr::parse(std::string_view text) {
  if (text.size() >= INET_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  in_addr a{};
  if (inet_pton(AF_INET, buf, &a) != 1) {
    return std::nullopt;
  }
  return InAddr{ntohl(a.s_addr)};
}

std::string InAddr::str() const {
  char buf[INET_ADDRSTRLEN];
  in_addr a{htonl(v)};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::optional<unsigned> in_mask_prefixlen(uint32_t mask) {
  unsigned len = static_cast<unsigned>(std::countl_one(mask));
  if (in_prefix_mask(len) != mask) {
    return std::nullopt;
  }
  return len;
}

std::optional<In6Addr> In6Addr::parse(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  In6Addr a;
  if (inet_pton(AF_INET6, buf, a.b.data()) != 1) {
    return std::nullopt;
  }
  return a;
}

std::string In6Addr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

bool In6Addr::is_any() const {
  for (uint8_t x : b) {
    if (x != 0) {
      return false;
    }
  }
  return true;
}

bool In6Addr::is_v4mapped() const {
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) {
      return false;
    }
  }
  return b[10] == 0xff && b[11] == 0xff;
}

namespace {

// The one's complement sum of `n` bytes from `p`, taken as 16-bit words in
// network order from an even position, folded to 16 bits. RFC 1071 §2(B):
// the sum does not depend on byte order, so it is taken four bytes at a
// time in the host's order and the folded result swapped once (a byte
// loop was a third of a bulk transfer's CPU, issue 8).
uint32_t cksum_block(const std::byte* p, size_t n) {
  uint64_t acc = 0;  // 2^32 additions of 32-bit words cannot overflow it
  for (; n >= 16; p += 16, n -= 16) {
    uint32_t w[4];
    std::memcpy(w, p, sizeof w);
    acc += uint64_t{w[0]} + w[1] + w[2] + w[3];
  }
  for (; n >= 4; p += 4, n -= 4) {
    uint32_t w;
    std::memcpy(&w, p, sizeof w);
    acc += w;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, sizeof w);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    // The odd byte is the first half of a word padded with zero (RFC 1071
    // §4.1): in the host's order, the byte at the lower address.
    uint16_t w = 0;
    std::memcpy(&w, p, 1);
    acc += w;
  }
  while (acc >> 16) {
    acc = (acc & 0xffff) + (acc >> 16);
  }
  auto r = static_cast<uint16_t>(acc);
  if constexpr (std::endian::native == std::endian::little) {
    r = static_cast<uint16_t>((r << 8) | (r >> 8));
  }
  return r;
}

// Adds a 16-bit partial sum to a 32-bit one (end-around carry).
uint32_t cksum_combine(uint32_t sum, uint32_t add) {
  uint64_t acc = uint64_t{sum} + add;
  while (acc >> 32) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
  }
  return static_cast<uint32_t>(acc);
}

}  // namespace

// Sums 16-bit big-endian words. An odd trailing byte is the high half of a
// word (RFC 1071 §4.1); callers chaining sums pass even-length pieces except
// the last.
uint32_t in_cksum_add(uint32_t sum, std::span<const std::byte> bytes) {
  return cksum_combine(sum, cksum_block(bytes.data(), bytes.size()));
}

// Over a chain whose segments may have odd lengths: a byte left over from
// one segment pairs with the first byte of the next. A segment that starts
// at an odd position adds its sum with the bytes swapped (RFC 1071 §2(B)).
uint32_t in_cksum_add_mbuf(uint32_t sum, const Mbuf& m, size_t off, size_t len) {
  bool odd = false;  // true when the next byte is the low half of a word
  for (auto seg : m.segments()) {
    if (off >= seg.size()) {
      off -= seg.size();
      continue;
    }
    seg = seg.subspan(off);
    off = 0;
    if (seg.size() > len) {
      seg = seg.first(len);
    }
    len -= seg.size();
    uint32_t part = cksum_block(seg.data(), seg.size());
    if (odd) {
      part = ((part << 8) | (part >> 8)) & 0xffff;
    }
    sum = cksum_combine(sum, part);
    odd = odd != ((seg.size() & 1) != 0);
    if (len == 0) {
      break;
    }
  }
  return sum;
}

uint16_t in_cksum_finish(uint32_t sum) {
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

uint32_t in_pseudo_sum(InAddr src, InAddr dst, uint8_t proto, uint16_t len) {
  uint64_t acc = (src.v >> 16) + (src.v & 0xffff) + (dst.v >> 16) + (dst.v & 0xffff) + proto + len;
  return static_cast<uint32_t>(acc);
}

}  // namespace iopkt
