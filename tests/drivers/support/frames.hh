// tests/drivers/support/frames.hh — just enough Ethernet, ARP, IPv4, IPv6,
// UDP and TCP for the driver tests (devnp-vwire, devnp-tap, devnp-packet)
// to build the frames they send and to check what comes back: RFC 1071
// checksums written independently of the drivers' (drivers/common/
// offload.cc), RFC 791 / 8200 / 768 / 9293 header fields, ARP (RFC 826),
// and numbered test frames of the local experimental EtherType.
// Multi-byte fields are big-endian on the wire. Header-only: the test
// binary globs tests/drivers/*_test.cc.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace iopkt::driver_test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline constexpr Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherVlan = 0x8100;
// IEEE 802 local experimental: frames no stack on the path interprets.
inline constexpr uint16_t kTestEtherType = 0x88b5;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10, kTcpCwr = 0x80;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

inline constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

inline std::string mac_text(const uint8_t* m) {
  char b[18];
  snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

// --- checksums ------------------------------------------------------------------

// One's complement sum of big-endian 16-bit words (RFC 1071), unfolded; an
// odd last byte is padded with zero.
inline uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) {
    sum += be16(p + i);
  }
  if (n % 2 == 1) {
    sum += uint32_t{p[n - 1]} << 8;
  }
  return sum;
}
inline uint16_t fold(uint32_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

// Offset of the IP header (after Ethernet and any 802.1Q/802.1ad tags).
inline size_t l3_offset(const Bytes& f) {
  size_t off = 14;
  while (f.size() >= off && (be16(&f[off - 2]) == kEtherVlan || be16(&f[off - 2]) == 0x88a8)) {
    off += 4;
  }
  return off;
}

inline uint32_t pseudo_sum(const Bytes& f, size_t l3, uint8_t proto, size_t l4len) {
  uint32_t s = (f[l3] >> 4) == 4 ? ones_sum(&f[l3 + 12], 8) : ones_sum(&f[l3 + 8], 32);
  return s + proto + static_cast<uint32_t>(l4len >> 16) + static_cast<uint32_t>(l4len & 0xffff);
}

inline bool ipv4_header_ok(const Bytes& f, size_t l3) {
  size_t ihl = (f[l3] & 15u) * 4;
  return fold(ones_sum(&f[l3], ihl)) == 0xffff;
}

// The transport checksum of an unfragmented IPv4/IPv6 TCP or UDP frame
// (no IPv6 extension headers) verifies. A UDP checksum of 0 ("none") fails:
// the drivers must deliver real checksums.
inline bool l4_checksum_ok(const Bytes& f) {
  size_t l3 = l3_offset(f);
  size_t l4;
  size_t l4len;
  uint8_t proto;
  if (f.size() < l3 + 20) {
    return false;
  }
  if ((f[l3] >> 4) == 4) {
    l4 = l3 + (f[l3] & 15u) * 4;
    l4len = be16(&f[l3 + 2]) - (l4 - l3);
    proto = f[l3 + 9];
  } else {
    l4 = l3 + 40;
    l4len = be16(&f[l3 + 4]);
    proto = f[l3 + 6];
  }
  if (l4 + l4len > f.size() || (proto == kProtoUdp && l4len < 8)) {
    return false;
  }
  if (proto == kProtoUdp && f[l4 + 6] == 0 && f[l4 + 7] == 0) {
    return false;
  }
  return fold(ones_sum(&f[l4], l4len, pseudo_sum(f, l3, proto, l4len))) == 0xffff;
}

// An untagged IPv4 frame taken apart; parse() fails unless every length is
// consistent. Points into the frame, which must outlive it.
struct Ipv4Frame {
  const Bytes* frame = nullptr;
  const uint8_t* ip = nullptr;
  size_t ihl = 0;
  size_t total = 0;  // IP total length
  uint8_t proto = 0;
  uint32_t src = 0, dst = 0;
  const uint8_t* l4 = nullptr;
  size_t l4_len = 0;
  bool fragment = false;

  static std::optional<Ipv4Frame> parse(const Bytes& f) {
    if (f.size() < 34 || be16(&f[12]) != kEtherIpv4 || (f[14] >> 4) != 4) {
      return std::nullopt;
    }
    Ipv4Frame r;
    r.frame = &f;
    r.ip = &f[14];
    r.ihl = size_t{r.ip[0] & 0x0fu} * 4;
    r.total = be16(r.ip + 2);
    if (r.ihl < 20 || r.total < r.ihl || 14 + r.total > f.size()) {
      return std::nullopt;
    }
    r.proto = r.ip[9];
    r.src = be32(r.ip + 12);
    r.dst = be32(r.ip + 16);
    r.l4 = r.ip + r.ihl;
    r.l4_len = r.total - r.ihl;
    r.fragment = (be16(r.ip + 6) & 0x3fff) != 0;
    return r;
  }
  bool header_csum_ok() const { return ipv4_header_ok(*frame, 14); }
  bool l4_csum_ok() const { return l4_checksum_ok(*frame); }
};

// --- builders -------------------------------------------------------------------

inline Bytes ether(const uint8_t* dst, const uint8_t* src, uint16_t type) {
  Bytes f(14);
  memcpy(&f[0], dst, 6);
  memcpy(&f[6], src, 6);
  put16(&f[12], type);
  return f;
}

// ARP request (RFC 826) from (mac, spa) asking for tpa, to the broadcast.
inline Bytes arp_request(const uint8_t* mac, uint32_t spa, uint32_t tpa) {
  Bytes f = ether(kBroadcast.data(), mac, kEtherArp);
  f.resize(42);
  uint8_t* a = &f[14];
  put16(a, 1);  // Ethernet
  put16(a + 2, kEtherIpv4);
  a[4] = 6;
  a[5] = 4;
  put16(a + 6, 1);  // request
  memcpy(a + 8, mac, 6);
  put32(a + 14, spa);
  put32(a + 24, tpa);
  return f;
}

// An IPv4 or IPv6 packet with a TCP or UDP header, after an Ethernet header.
struct L4Spec {
  int ip_version = 4;
  uint8_t proto = kProtoTcp;
  uint32_t src4 = ipv4(192, 0, 2, 1), dst4 = ipv4(192, 0, 2, 2);  // IPv6: 2001:db8::1 -> ::2
  uint16_t sport = 40000, dport = 5000;
  uint32_t seq = 1000, ack = 0;
  uint8_t flags = kTcpPsh | kTcpAck;
  uint16_t window = 65535;
  uint16_t ip_id = 0x1234;
  Bytes tcp_options;  // a multiple of 4 bytes
  // The L4 checksum field holds the pseudo-header sum only, as Linux
  // leaves it for CHECKSUM_PARTIAL; otherwise it is complete.
  bool partial = false;
};

inline Bytes ip_frame(const uint8_t* dst_mac, const uint8_t* src_mac, const L4Spec& s,
                      const Bytes& payload) {
  Bytes f = ether(dst_mac, src_mac, s.ip_version == 4 ? kEtherIpv4 : kEtherIpv6);
  size_t l3 = f.size();
  size_t iphl = s.ip_version == 4 ? 20 : 40;
  size_t l4hl = s.proto == kProtoTcp ? 20 + s.tcp_options.size() : 8;
  size_t l4len = l4hl + payload.size();
  f.resize(l3 + iphl + l4len);
  uint8_t* ip = &f[l3];
  if (s.ip_version == 4) {
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint32_t>(iphl + l4len));
    put16(ip + 4, s.ip_id);
    put16(ip + 6, 0x4000);  // DF
    ip[8] = 64;
    ip[9] = s.proto;
    put32(ip + 12, s.src4);
    put32(ip + 16, s.dst4);
    put16(ip + 10, static_cast<uint16_t>(~fold(ones_sum(ip, 20))));
  } else {
    ip[0] = 0x60;
    put16(ip + 4, static_cast<uint32_t>(l4len));
    ip[6] = s.proto;
    ip[7] = 64;
    const uint8_t src6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t dst6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    memcpy(ip + 8, src6, 16);
    memcpy(ip + 24, dst6, 16);
  }
  uint8_t* l4 = ip + iphl;
  put16(l4, s.sport);
  put16(l4 + 2, s.dport);
  size_t csum_at;
  if (s.proto == kProtoTcp) {
    put32(l4 + 4, s.seq);
    put32(l4 + 8, s.ack);
    l4[12] = static_cast<uint8_t>((l4hl / 4) << 4);
    l4[13] = s.flags;
    put16(l4 + 14, s.window);
    std::copy(s.tcp_options.begin(), s.tcp_options.end(), l4 + 20);
    csum_at = 16;
  } else {
    put16(l4 + 4, static_cast<uint32_t>(l4len));
    csum_at = 6;
  }
  std::copy(payload.begin(), payload.end(), l4 + l4hl);
  uint32_t ps = pseudo_sum(f, l3, s.proto, l4len);
  uint16_t c = s.partial ? fold(ps) : static_cast<uint16_t>(~fold(ones_sum(l4, l4len, ps)));
  put16(l4 + csum_at, c);
  return f;
}

// n bytes of a pseudo-random pattern that depends on seed.
inline Bytes pattern(size_t n, uint32_t seed) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : b) {
    x = x * 1103515245u + 12345u;
    c = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

// A numbered test frame of `len` bytes (at least 18): kTestEtherType, a
// 32-bit sequence number, then a pattern that depends on it, so that any
// byte out of place shows.
inline Bytes test_frame(const Mac& dst, const Mac& src, uint32_t seq, size_t len) {
  Bytes f = ether(dst.data(), src.data(), kTestEtherType);
  f.resize(std::max<size_t>(len, 18));
  put32(&f[14], seq);
  for (size_t i = 18; i < f.size(); ++i) {
    f[i] = static_cast<uint8_t>(seq * 31 + i);
  }
  return f;
}
// The same to the broadcast address from 02:00:00:00:00:01.
inline Bytes test_frame(uint32_t seq, size_t len) {
  return test_frame(kBroadcast, Mac{0x02, 0, 0, 0, 0, 1}, seq, len);
}

inline bool is_test_frame(const Bytes& f) {
  return f.size() >= 18 && be16(&f[12]) == kTestEtherType;
}
inline uint32_t test_frame_seq(const Bytes& f) {
  return is_test_frame(f) ? be32(&f[14]) : UINT32_MAX;
}

}  // namespace iopkt::driver_test
