// drivers/common/offload.cc — partial checksums and GSO super-frames
// finished in software the way Linux's own software GSO would have done on
// the wire (net/ipv4/tcp_offload.c tcp_gso_segment(), net/ipv4/af_inet.c
// inet_gso_segment(), net/ipv4/udp_offload.c __udp_gso_segment(),
// net/core/dev.c skb_checksum_help()). See offload.hh.
#include "drivers/common/offload.hh"

#include <algorithm>
#include <bit>
#include <cstring>

namespace iopkt::drivers {
namespace {

// EtherTypes, and the 802.1Q and 802.1ad tags.
constexpr uint16_t kEtherTypeIpv4 = 0x0800, kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100, kEtherTypeQinQ = 0x88a8;
constexpr uint8_t kProtoSctp = 132;
// Header sizes and field offsets (RFC 791, RFC 8200, RFC 768, RFC 9293).
constexpr uint32_t kIpv4MinHeaderLen = 20, kIpv6HeaderLen = 40, kUdpHeaderLen = 8;
constexpr uint32_t kTcpSeqAt = 4, kTcpFlagsAt = 13, kUdpLenAt = 4;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;
// Extension headers walked before giving up on finding the transport.
constexpr int kMaxIpv6ExtHeaders = 8;

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void store_be16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Sum of the TCP/UDP pseudo-header (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1).
uint64_t pseudo_header_sum(const uint8_t* frame, const RxPlan& p, uint32_t l4_len) {
  uint8_t ph[40] = {};
  size_t n;
  if (p.ip_version == 4) {
    memcpy(ph, frame + p.l3 + 12, 8);  // source, destination
    ph[9] = p.l4_proto;
    store_be16(ph + 10, l4_len);
    n = 12;
  } else {
    memcpy(ph, frame + p.l3 + 8, 32);
    store_be32(ph + 32, l4_len);
    ph[39] = p.l4_proto;
    n = 40;
  }
  return csum_add(ph, n, 0);
}

RxPlan dropped(RxDrop why) {
  RxPlan p;
  p.drop = why;
  return p;
}

// Where the IP datagram ends, by its own length field: the frame may carry
// bytes behind it (Ethernet padding, a trailer) that no segment must copy.
// A length of 0 (a BIG TCP super-frame over 64 KiB) means "up to the end of
// the frame". 0 when the field contradicts the frame.
size_t datagram_end(std::span<const uint8_t> frame, const IpHeaders& ip, uint32_t hdr) {
  const uint8_t* p = frame.data() + ip.l3;
  size_t end = frame.size();
  if (ip.ip_version == 4) {
    if (size_t tot = load_be16(p + 2); tot != 0) {
      end = ip.l3 + tot;
    }
  } else if (size_t plen = load_be16(p + 4); plen != 0) {
    end = ip.l3 + kIpv6HeaderLen + plen;
  }
  return end < hdr || end > frame.size() ? 0 : end;
}

// The checksum of frame[start, len) lands at start + offset. The field
// holds the pseudo-header sum: summing from csum_start over it and the
// rest, then complementing, finishes the checksum. A result of 0 goes out
// as 0xffff, as Linux's skb_checksum_help() does (CSUM_MANGLED_0): for UDP
// 0 would mean "no checksum" (RFC 768), and for TCP both are the same
// one's complement value.
void finish_partial(uint8_t* frame, size_t len, uint32_t start, uint32_t offset) {
  uint16_t c = csum_finish(csum_add(frame + start, len - start, 0));
  if (c == 0) {
    c = 0xffff;
  }
  memcpy(frame + start + offset, &c, 2);
}

}  // namespace

uint64_t csum_add(const uint8_t* p, size_t len, uint64_t sum) {
  // 32-bit words summed into 64 bits: the same one's complement sum as
  // 16-bit words, since 2^16 == 1 modulo 0xffff (RFC 1071 §2(C)).
  for (; len >= 4; p += 4, len -= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
  }
  if (len >= 2) {
    uint16_t half;
    memcpy(&half, p, 2);
    sum += half;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    // The odd byte is the first byte of a 16-bit word padded with zero.
    sum += std::endian::native == std::endian::little ? uint64_t{p[0]} : uint64_t{p[0]} << 8;
  }
  return sum;
}

uint16_t csum_finish(uint64_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum);
}

uint32_t link_header_len(std::span<const uint8_t> frame) {
  if (frame.size() < kEtherHeaderLen) {
    return 0;
  }
  uint32_t l2 = kEtherHeaderLen;
  uint16_t type = load_be16(frame.data() + 12);
  // Up to two tags (802.1ad outer, 802.1Q inner): a TAP puts an offloaded
  // tag back in, and devnp-packet restores the one Linux took out.
  for (int tags = 0; tags < 2 && (type == kEtherTypeVlan || type == kEtherTypeQinQ); ++tags) {
    if (frame.size() < l2 + kVlanTagLen) {
      return 0;
    }
    type = load_be16(frame.data() + l2 + 2);
    l2 += kVlanTagLen;
  }
  return l2;
}

bool parse_ip_headers(std::span<const uint8_t> f, uint32_t l2, IpHeaders* out) {
  if (l2 < kEtherHeaderLen) {
    return false;
  }
  const uint8_t* p = f.data();
  const size_t len = f.size();
  uint16_t type = load_be16(p + l2 - 2);
  IpHeaders r;
  r.l3 = l2;
  if (type == kEtherTypeIpv4) {
    if (len < l2 + kIpv4MinHeaderLen || (p[l2] >> 4) != 4) {
      return false;
    }
    uint32_t ihl = (p[l2] & 0x0fu) * 4u;
    if (ihl < kIpv4MinHeaderLen || len < l2 + ihl) {
      return false;
    }
    r.ip_version = 4;
    r.proto = p[l2 + 9];
    r.fragment = (load_be16(p + l2 + 6) & 0x3fffu) != 0;  // MF or an offset
    r.l4 = l2 + ihl;
  } else if (type == kEtherTypeIpv6) {
    if (len < l2 + kIpv6HeaderLen || (p[l2] >> 4) != 6) {
      return false;
    }
    r.ip_version = 6;
    uint8_t nh = p[l2 + 6];
    uint32_t off = l2 + kIpv6HeaderLen;
    // RFC 8200 §4: hop-by-hop (0), routing (43), destination options (60)
    // may come before the transport header; a fragment header (44) ends it.
    for (int k = 0; k < kMaxIpv6ExtHeaders && (nh == 0 || nh == 43 || nh == 60); ++k) {
      if (len < off + 8u) {
        return false;
      }
      uint8_t next = p[off];
      off += (p[off + 1] + 1u) * 8u;
      nh = next;
    }
    if (nh == 44) {
      r.fragment = true;
    }
    if (off > len) {
      return false;
    }
    r.proto = nh;
    r.l4 = off;
  } else {
    return false;
  }
  *out = r;
  return true;
}

RxPlan plan_rx_frame(std::span<const uint8_t> frame, const VnetHdr& off, uint32_t mtu) {
  const uint32_t l2 = link_header_len(frame);
  if (l2 == 0) {
    return dropped(RxDrop::kBadHeaders);
  }
  const size_t len = frame.size();
  const uint8_t gso = off.gso_type & static_cast<uint8_t>(~kVnetGsoEcn);
  RxPlan p;
  if (gso == kVnetGsoNone) {
    if (mtu != kNoMtu && len > size_t{l2} + mtu) {
      return dropped(RxDrop::kTooLong);
    }
    p.count = 1;
    if ((off.flags & kVnetNeedsCsum) == 0) {
      p.kind = RxPlan::Kind::kCopy;
      p.csum_ok = (off.flags & kVnetDataValid) != 0;
      return p;
    }
    if (off.csum_start < l2 || size_t{off.csum_start} + off.csum_offset + 2 > len) {
      return dropped(RxDrop::kBadHeaders);
    }
    IpHeaders ip;
    if (parse_ip_headers(frame, l2, &ip) && ip.proto == kProtoSctp && ip.l4 == off.csum_start) {
      // SCTP's CRC32c (RFC 9260 §6.8) is not a one's complement sum.
      return dropped(RxDrop::kCsumUnsupported);
    }
    p.kind = RxPlan::Kind::kComplete;
    p.csum_start = off.csum_start;
    p.csum_offset = off.csum_offset;
    p.csum_ok = true;
    return p;
  }
  if (gso != kVnetGsoTcpV4 && gso != kVnetGsoTcpV6 && gso != kVnetGsoUdpL4) {
    return dropped(RxDrop::kGsoUnsupported);
  }
  IpHeaders ip;
  if (!parse_ip_headers(frame, l2, &ip) || ip.fragment) {
    return dropped(RxDrop::kBadHeaders);
  }
  const bool tcp = gso != kVnetGsoUdpL4;
  if ((tcp && ip.proto != kProtoTcp) || (!tcp && ip.proto != kProtoUdp) ||
      (gso == kVnetGsoTcpV4 && ip.ip_version != 4) ||
      (gso == kVnetGsoTcpV6 && ip.ip_version != 6)) {
    return dropped(RxDrop::kBadHeaders);
  }
  if ((off.flags & kVnetNeedsCsum) != 0 && off.csum_start != ip.l4) {
    return dropped(RxDrop::kBadHeaders);
  }
  uint32_t hdr;
  if (tcp) {
    if (len < size_t{ip.l4} + kTcpMinHeaderLen) {
      return dropped(RxDrop::kBadHeaders);
    }
    uint32_t thl = (frame[ip.l4 + 12] >> 4) * 4u;
    if (thl < kTcpMinHeaderLen || len < size_t{ip.l4} + thl) {
      return dropped(RxDrop::kBadHeaders);
    }
    hdr = ip.l4 + thl;
  } else {
    if (len < size_t{ip.l4} + kUdpHeaderLen) {
      return dropped(RxDrop::kBadHeaders);
    }
    hdr = ip.l4 + kUdpHeaderLen;
  }
  const size_t end = datagram_end(frame, ip, hdr);
  if (end == 0) {
    return dropped(RxDrop::kBadHeaders);
  }
  uint32_t seg = off.gso_size;
  if (mtu == kNoMtu) {
    if (seg == 0) {
      return dropped(RxDrop::kGsoUnsupported);  // nothing says where to cut
    }
  } else {
    const uint32_t ip_hdrs = hdr - ip.l3;
    const uint32_t room = mtu > ip_hdrs ? mtu - ip_hdrs : 0;
    if (tcp) {
      // Our MTU may be below the sender's: then cut smaller, as a router
      // doing GSO would (the MSS is an upper bound, RFC 9293 §3.7.1).
      if (seg == 0 || seg > room) {
        seg = room;
      }
    } else if (seg == 0) {
      return dropped(RxDrop::kGsoUnsupported);
    } else if (seg > room) {
      return dropped(RxDrop::kTooLong);  // a datagram's size is the sender's
    }
    if (seg == 0) {
      return dropped(RxDrop::kTooLong);
    }
  }
  p.kind = RxPlan::Kind::kSegment;
  p.l3 = ip.l3;
  p.l4 = ip.l4;
  p.hdr = hdr;
  p.seg = seg;
  p.payload = static_cast<uint32_t>(end - hdr);
  p.ip_version = ip.ip_version;
  p.l4_proto = ip.proto;
  p.count = p.payload == 0 ? 1 : (p.payload + seg - 1) / seg;
  p.csum_ok = true;
  return p;
}

size_t rx_frame_size(const RxPlan& p, size_t frame_len, uint32_t i) {
  if (p.kind != RxPlan::Kind::kSegment) {
    return frame_len;
  }
  const uint32_t start = i * p.seg;
  return size_t{p.hdr} + (p.payload == 0 ? 0 : std::min(p.seg, p.payload - start));
}

void complete_csum_in_place(std::span<uint8_t> frame, const RxPlan& p) {
  if (p.kind == RxPlan::Kind::kComplete) {
    finish_partial(frame.data(), frame.size(), p.csum_start, p.csum_offset);
  }
}

size_t emit_rx_frame(std::span<const uint8_t> frame, const RxPlan& p, uint32_t i,
                     std::span<uint8_t> out) {
  const uint8_t* f = frame.data();
  uint8_t* o = out.data();
  if (p.kind != RxPlan::Kind::kSegment) {
    if (frame.size() > out.size()) {
      return 0;
    }
    memcpy(o, f, frame.size());
    complete_csum_in_place(out.first(frame.size()), p);
    return frame.size();
  }
  const uint32_t start = i * p.seg;
  const size_t total = rx_frame_size(p, frame.size(), i);
  const size_t plen = total - p.hdr;
  if (total > out.size()) {
    return 0;
  }
  memcpy(o, f, p.hdr);
  memcpy(o + p.hdr, f + p.hdr + start, plen);
  const bool first = i == 0;
  const bool last = i + 1 == p.count;
  if (p.ip_version == 4) {
    // RFC 791: total length and a fresh ID per datagram, as Linux's GSO
    // increments it; then the header checksum again.
    const uint32_t ihl = p.l4 - p.l3;
    uint8_t* ip = o + p.l3;
    store_be16(ip + 2, static_cast<uint32_t>(total - p.l3));
    store_be16(ip + 4, (load_be16(f + p.l3 + 4) + i) & 0xffffu);
    ip[10] = ip[11] = 0;
    uint16_t c = csum_finish(csum_add(ip, ihl, 0));
    memcpy(ip + 10, &c, 2);
  } else {
    // RFC 8200 §3: the payload length counts extension headers too.
    store_be16(o + p.l3 + 4, static_cast<uint32_t>(total - p.l3 - kIpv6HeaderLen));
  }
  uint8_t* l4 = o + p.l4;
  const auto l4_len = static_cast<uint32_t>(total - p.l4);
  uint32_t csum_at;
  if (p.l4_proto == kProtoTcp) {
    // RFC 9293: each segment's sequence number is that of its first byte;
    // FIN and PSH belong to the last segment, CWR (RFC 3168 §6.1.2) to the
    // first, as Linux's tcp_gso_segment() does.
    store_be32(l4 + kTcpSeqAt, load_be32(f + p.l4 + kTcpSeqAt) + start);
    if (!last) {
      l4[kTcpFlagsAt] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    }
    if (!first) {
      l4[kTcpFlagsAt] &= static_cast<uint8_t>(~kTcpCwr);
    }
    csum_at = kTcpCsumAt;
  } else {
    store_be16(l4 + kUdpLenAt, l4_len);
    csum_at = kUdpCsumAt;
  }
  l4[csum_at] = l4[csum_at + 1] = 0;
  uint16_t c = csum_finish(csum_add(l4, l4_len, pseudo_header_sum(o, p, l4_len)));
  if (c == 0 && p.l4_proto == kProtoUdp) {
    c = 0xffff;  // RFC 768; over IPv6 zero is not allowed at all (RFC 8200 §8.1)
  }
  memcpy(l4 + csum_at, &c, 2);
  return total;
}

}  // namespace iopkt::drivers
