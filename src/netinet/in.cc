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

// Sums 16-bit big-endian words. An odd trailing byte is the high half of a
// word (RFC 1071 §4.1); callers chaining sums pass even-length pieces except
// the last.
uint32_t in_cksum_add(uint32_t sum, std::span<const std::byte> bytes) {
  uint64_t acc = sum;
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) {
    acc += (std::to_integer<uint32_t>(bytes[i]) << 8) | std::to_integer<uint32_t>(bytes[i + 1]);
  }
  if (i < bytes.size()) {
    acc += std::to_integer<uint32_t>(bytes[i]) << 8;
  }
  while (acc >> 32) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
  }
  return static_cast<uint32_t>(acc);
}

// Over a chain whose segments may have odd lengths: a byte left over from
// one segment pairs with the first byte of the next.
uint32_t in_cksum_add_mbuf(uint32_t sum, const Mbuf& m, size_t off, size_t len) {
  uint64_t acc = sum;
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
    for (std::byte b : seg) {
      acc += odd ? std::to_integer<uint32_t>(b) : std::to_integer<uint32_t>(b) << 8;
      odd = !odd;
    }
    if (len == 0) {
      break;
    }
  }
  while (acc >> 32) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
  }
  return static_cast<uint32_t>(acc);
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
