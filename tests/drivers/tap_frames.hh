// tests/drivers/tap_frames.hh — just enough Ethernet, ARP, IPv4, UDP and TCP
// for devnp-tap's tests to talk to the Linux kernel through the driver:
// builders for the frames the test sends (an ARP request, a TCP SYN-ACK and
// ACKs) and checks for what comes back (RFC 1071 checksums, RFC 791 / 768 /
// 9293 header fields). Multi-byte fields are big-endian on the wire.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace iopkt::tap_test {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

// RFC 1071 sum, not folded.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) {
    sum += be16(p + i);
  }
  if ((n & 1) != 0) {
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

// An IPv4 frame taken apart; valid() when every length is consistent.
struct Ipv4Frame {
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
  bool header_csum_ok() const { return fold(sum16(ip, ihl)) == 0xffff; }
  uint32_t pseudo() const { return sum16(ip + 12, 8) + proto + static_cast<uint32_t>(l4_len); }
  // The L4 checksum verifies (for UDP, 0 means none and fails here: the
  // driver must deliver real checksums).
  bool l4_csum_ok() const {
    if (proto == kProtoUdp && (l4_len < 8 || be16(l4 + 6) == 0)) {
      return false;
    }
    return fold(sum16(l4, l4_len, pseudo())) == 0xffff;
  }
};

inline void put_ether(uint8_t* f, const Mac& dst, const Mac& src, uint16_t type) {
  memcpy(f, dst.data(), 6);
  memcpy(f + 6, src.data(), 6);
  put16(f + 12, type);
}

// ARP request (RFC 826) from (mac, spa) asking for tpa, to the broadcast.
inline Bytes arp_request(const Mac& mac, uint32_t spa, uint32_t tpa) {
  Bytes f(42);
  put_ether(f.data(), Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac, kEtherArp);
  uint8_t* a = &f[14];
  put16(a, 1);  // Ethernet
  put16(a + 2, kEtherIpv4);
  a[4] = 6;
  a[5] = 4;
  put16(a + 6, 1);  // request
  memcpy(a + 8, mac.data(), 6);
  put32(a + 14, spa);
  put32(a + 24, tpa);
  return f;
}

// A TCP segment in an IPv4 frame with valid checksums. `mss` > 0 adds the
// MSS option (SYN segments).
struct TcpSpec {
  Mac src_mac, dst_mac;
  uint32_t src, dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;
  uint16_t window = 65535;
  uint16_t mss = 0;
};
inline Bytes tcp_frame(const TcpSpec& s) {
  size_t opt = s.mss != 0 ? 4 : 0;
  size_t tcp_len = 20 + opt;
  Bytes f(14 + 20 + tcp_len);
  put_ether(f.data(), s.dst_mac, s.src_mac, kEtherIpv4);
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(20 + tcp_len));
  put16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = kProtoTcp;
  put32(ip + 12, s.src);
  put32(ip + 16, s.dst);
  put16(ip + 10, static_cast<uint16_t>(~fold(sum16(ip, 20))));
  uint8_t* t = ip + 20;
  put16(t, s.sport);
  put16(t + 2, s.dport);
  put32(t + 4, s.seq);
  put32(t + 8, s.ack);
  t[12] = static_cast<uint8_t>((tcp_len / 4) << 4);
  t[13] = s.flags;
  put16(t + 14, s.window);
  if (s.mss != 0) {
    t[20] = 2;
    t[21] = 4;
    put16(t + 22, s.mss);
  }
  uint32_t pseudo = sum16(ip + 12, 8) + kProtoTcp + static_cast<uint32_t>(tcp_len);
  put16(t + 16, static_cast<uint16_t>(~fold(sum16(t, tcp_len, pseudo))));
  return f;
}

inline uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

}  // namespace iopkt::tap_test
