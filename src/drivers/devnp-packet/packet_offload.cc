// devnp-packet/packet_offload.cc — partial checksums and GSO super-frames
// received through AF_PACKET, finished in software the way Linux's own
// software GSO would have done on the wire (net/ipv4/tcp_offload.c,
// net/ipv4/af_inet.c inet_gso_segment, net/ipv4/udp_offload.c).
#include "drivers/devnp-packet/packet_offload.hh"

#include <algorithm>
#include <bit>
#include <cstring>

namespace iopkt::packet {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoSctp = 132;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kTcpMinHeaderLen = 20;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kTcpSeqAt = 4;
constexpr uint32_t kTcpFlagsAt = 13;
constexpr uint32_t kTcpCsumAt = 16;
constexpr uint32_t kUdpLenAt = 4;
constexpr uint32_t kUdpCsumAt = 6;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
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

// The IP and transport headers of a frame, as far as we need them.
struct L3Info {
  uint8_t ip_version = 0;
  uint8_t proto = 0;  // transport protocol (after IPv6 extension headers)
  uint32_t l3 = 0;
  uint32_t l4 = 0;
  bool fragment = false;
};

bool parse_l3(std::span<const uint8_t> f, uint32_t l2, L3Info* out) {
  if (l2 < kEtherHeaderLen) {
    return false;
  }
  const uint8_t* p = f.data();
  const size_t len = f.size();
  uint16_t type = load_be16(p + l2 - 2);
  L3Info r;
  r.l3 = l2;
  if (type == kEtherTypeIpv4) {
    if (len < l2 + 20u || (p[l2] >> 4) != 4) {
      return false;
    }
    uint32_t ihl = (p[l2] & 0x0fu) * 4u;
    if (ihl < 20 || len < l2 + ihl) {
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

}  // namespace

uint64_t csum_add(const uint8_t* p, size_t len, uint64_t sum) {
  // 32-bit words summed into 64 bits: the same one's complement sum as
  // 16-bit words, since 2^16 == 1 modulo 0xffff (RFC 1071 §2(C)).
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
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
  for (int tags = 0; tags < 2 && (type == kEtherTypeVlan || type == kEtherTypeQinQ); ++tags) {
    if (frame.size() < l2 + kVlanTagLen) {
      return 0;
    }
    type = load_be16(frame.data() + l2 + 2);
    l2 += kVlanTagLen;
  }
  return l2;
}

RxPlan plan_rx_frame(std::span<const uint8_t> frame, const RxOffload& off, uint32_t mtu) {
  const uint32_t l2 = link_header_len(frame);
  if (l2 == 0) {
    return dropped(RxDrop::kBadHeaders);
  }
  const size_t len = frame.size();
  const uint8_t gso = off.gso_type & static_cast<uint8_t>(~kVnetGsoEcn);
  RxPlan p;
  if (gso == kVnetGsoNone) {
    if (len > size_t{l2} + mtu) {
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
    L3Info l3;
    if (parse_l3(frame, l2, &l3) && l3.proto == kProtoSctp && l3.l4 == off.csum_start) {
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
  L3Info l3;
  if (!parse_l3(frame, l2, &l3) || l3.fragment) {
    return dropped(RxDrop::kBadHeaders);
  }
  const bool tcp = gso != kVnetGsoUdpL4;
  if ((tcp && l3.proto != kProtoTcp) || (!tcp && l3.proto != kProtoUdp) ||
      (gso == kVnetGsoTcpV4 && l3.ip_version != 4) ||
      (gso == kVnetGsoTcpV6 && l3.ip_version != 6)) {
    return dropped(RxDrop::kBadHeaders);
  }
  if ((off.flags & kVnetNeedsCsum) != 0 && off.csum_start != l3.l4) {
    return dropped(RxDrop::kBadHeaders);
  }
  uint32_t hdr;
  if (tcp) {
    if (len < size_t{l3.l4} + kTcpMinHeaderLen) {
      return dropped(RxDrop::kBadHeaders);
    }
    uint32_t thl = (frame[l3.l4 + 12] >> 4) * 4u;
    if (thl < kTcpMinHeaderLen || len < size_t{l3.l4} + thl) {
      return dropped(RxDrop::kBadHeaders);
    }
    hdr = l3.l4 + thl;
  } else {
    if (len < size_t{l3.l4} + kUdpHeaderLen) {
      return dropped(RxDrop::kBadHeaders);
    }
    hdr = l3.l4 + kUdpHeaderLen;
  }
  const uint32_t ip_hdrs = hdr - l3.l3;
  const uint32_t room = mtu > ip_hdrs ? mtu - ip_hdrs : 0;
  uint32_t seg = off.gso_size;
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
  p.kind = RxPlan::Kind::kSegment;
  p.l3 = l3.l3;
  p.l4 = l3.l4;
  p.hdr = hdr;
  p.seg = seg;
  p.payload = static_cast<uint32_t>(len - hdr);
  p.ip_version = l3.ip_version;
  p.l4_proto = l3.proto;
  p.count = p.payload == 0 ? 1 : (p.payload + seg - 1) / seg;
  p.csum_ok = true;
  return p;
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
    if (p.kind == RxPlan::Kind::kComplete) {
      // The field holds the pseudo-header sum: summing from csum_start
      // over it and the rest, then complementing, finishes the checksum
      // (Linux skb_checksum_help(); 0 goes out as 0xffff, RFC 768).
      uint16_t c = csum_finish(csum_add(o + p.csum_start, frame.size() - p.csum_start, 0));
      if (c == 0) {
        c = 0xffff;
      }
      memcpy(o + p.csum_start + p.csum_offset, &c, 2);
    }
    return frame.size();
  }
  const uint32_t start = i * p.seg;
  const uint32_t plen = p.payload == 0 ? 0 : std::min(p.seg, p.payload - start);
  const size_t total = size_t{p.hdr} + plen;
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

RxOffload offload_from_status(std::span<const uint8_t> frame, uint32_t tp_status,
                              uint32_t linux_mtu) {
  // TP_STATUS_CSUMNOTREADY and TP_STATUS_CSUM_VALID (linux/if_packet.h).
  constexpr uint32_t kCsumNotReady = 1u << 3;
  constexpr uint32_t kCsumValid = 1u << 7;
  RxOffload o;
  if ((tp_status & kCsumValid) != 0) {
    o.flags |= kVnetDataValid;
  }
  const uint32_t l2 = link_header_len(frame);
  L3Info l3;
  if (l2 == 0 || !parse_l3(frame, l2, &l3) || l3.fragment ||
      (l3.proto != kProtoTcp && l3.proto != kProtoUdp)) {
    return o;
  }
  const bool tcp = l3.proto == kProtoTcp;
  const uint32_t csum_offset = tcp ? kTcpCsumAt : kUdpCsumAt;
  if ((tp_status & kCsumNotReady) != 0 && frame.size() >= size_t{l3.l4} + csum_offset + 2) {
    o.flags |= kVnetNeedsCsum;
    o.csum_start = static_cast<uint16_t>(l3.l4);
    o.csum_offset = static_cast<uint16_t>(csum_offset);
  }
  if (frame.size() <= size_t{l2} + linux_mtu) {
    return o;
  }
  if (!tcp) {
    o.gso_type = kVnetGsoUdpL4;  // gso_size unknown: refused by plan_rx_frame()
    return o;
  }
  if (frame.size() < size_t{l3.l4} + kTcpMinHeaderLen) {
    return o;
  }
  const uint32_t hdrs = (l3.l4 - l3.l3) + (frame[l3.l4 + 12] >> 4) * 4u;
  o.gso_type = l3.ip_version == 4 ? kVnetGsoTcpV4 : kVnetGsoTcpV6;
  o.gso_size = static_cast<uint16_t>(linux_mtu > hdrs ? linux_mtu - hdrs : 0);
  return o;
}

}  // namespace iopkt::packet
