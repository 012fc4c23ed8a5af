// devnp-tap/tap_offload.cc — software checksum completion and GSO
// segmentation for frames read from a TAP with IFF_VNET_HDR. Offsets come
// from the frame itself (the IPv4 IHL, the TCP data offset); of the header
// only csum_start (where L4 begins), gso_size and gso_type are used, and all
// are checked against the frame before a byte is read.
#include "drivers/devnp-tap/tap_offload.hh"

#include <algorithm>
#include <cstring>

namespace iopkt::tap {
namespace {

constexpr size_t kEtherHeaderLen = 14;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr size_t kIpv6HeaderLen = 40;
constexpr size_t kTcpMinHeaderLen = 20;
constexpr size_t kUdpHeaderLen = 8;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
constexpr size_t kUdpChecksumOffset = 6;
constexpr size_t kTcpChecksumOffset = 16;

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t len) {
  // 64-bit accumulator: no carry is lost for any frame a TAP can hold.
  uint64_t acc = sum;
  size_t i = 0;
  for (; i + 1 < len; i += 2) {
    acc += load16(p + i);
  }
  if (i < len) {
    acc += uint32_t{p[i]} << 8;
  }
  while ((acc >> 32) != 0) {
    acc = (acc & 0xffffffffu) + (acc >> 32);
  }
  return static_cast<uint32_t>(acc);
}

uint16_t csum_fold(uint32_t sum) {
  while ((sum >> 16) != 0) {
    sum = (sum & 0xffffu) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

bool complete_csum(uint8_t* frame, size_t len, uint16_t csum_start, uint16_t csum_offset) {
  size_t at = size_t{csum_start} + csum_offset;
  if (csum_start < kEtherHeaderLen || at + 2 > len) {
    return false;
  }
  uint16_t c = static_cast<uint16_t>(~csum_fold(csum_add(0, frame + csum_start, len - csum_start)));
  if (c == 0 && csum_offset == kUdpChecksumOffset) {
    c = 0xffff;
  }
  store16(frame + at, c);
  return true;
}

bool GsoSegmenter::start(const uint8_t* frame, size_t len, const VnetHdr& h) {
  reset();
  uint8_t type = h.gso_type & static_cast<uint8_t>(~kGsoEcn);
  if (type != kGsoTcpV4 && type != kGsoTcpV6 && type != kGsoUdpL4) {
    return false;
  }
  if (h.gso_size == 0 || len < kEtherHeaderLen) {
    return false;
  }
  // Ethernet, up to two VLAN tags (the TAP puts an offloaded tag back in).
  size_t l3 = kEtherHeaderLen;
  uint16_t ether_type = load16(frame + 12);
  for (int tags = 0; tags < 2 && (ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ);
       ++tags) {
    if (l3 + 4 > len) {
      return false;
    }
    ether_type = load16(frame + l3 + 2);
    l3 += 4;
  }
  size_t l4 = h.csum_start;
  uint8_t proto = 0;
  if (ether_type == kEtherTypeIpv4) {
    if (type == kGsoTcpV6 || l3 + 20 > len) {
      return false;
    }
    size_t ihl = size_t{frame[l3] & 0x0fu} * 4;
    size_t tot = load16(frame + l3 + 2);
    if ((frame[l3] >> 4) != 4 || ihl < 20 || tot < ihl || l3 + tot > len || l4 != l3 + ihl) {
      return false;
    }
    len = l3 + tot;  // anything behind the datagram is not ours to copy
    proto = frame[l3 + 9];
  } else if (ether_type == kEtherTypeIpv6) {
    if (type == kGsoTcpV4 || l3 + kIpv6HeaderLen > len || (frame[l3] >> 4) != 6) {
      return false;
    }
    size_t plen = load16(frame + l3 + 4);
    if (l3 + kIpv6HeaderLen + plen > len || l4 < l3 + kIpv6HeaderLen) {
      return false;
    }
    len = l3 + kIpv6HeaderLen + plen;
    // Extension headers may sit between; the L4 protocol is the GSO type's.
    proto = type == kGsoUdpL4 ? kProtoUdp : kProtoTcp;
  } else {
    return false;
  }
  bool tcp = type != kGsoUdpL4;
  if (proto != (tcp ? kProtoTcp : kProtoUdp)) {
    return false;
  }
  size_t hdrs = 0;
  if (tcp) {
    if (l4 + kTcpMinHeaderLen > len) {
      return false;
    }
    size_t doff = static_cast<size_t>(frame[l4 + 12] >> 4) * 4;
    if (doff < kTcpMinHeaderLen) {
      return false;
    }
    hdrs = l4 + doff;
  } else {
    hdrs = l4 + kUdpHeaderLen;
  }
  if (hdrs >= len) {
    return false;
  }
  frame_ = frame;
  ipv6_ = ether_type == kEtherTypeIpv6;
  tcp_ = tcp;
  l3_ = l3;
  l4_ = l4;
  hdrs_ = hdrs;
  gso_size_ = h.gso_size;
  payload_len_ = len - hdrs;
  next_ = 0;
  index_ = 0;
  return true;
}

size_t GsoSegmenter::next_size() const {
  return done() ? 0 : hdrs_ + std::min<size_t>(gso_size_, payload_len_ - next_);
}

uint32_t GsoSegmenter::count() const {
  return static_cast<uint32_t>((payload_len_ + gso_size_ - 1) / gso_size_);
}

size_t GsoSegmenter::emit(uint8_t* out) {
  if (done()) {
    return 0;
  }
  size_t chunk = std::min<size_t>(gso_size_, payload_len_ - next_);
  size_t seg_len = hdrs_ + chunk;
  bool first = next_ == 0;
  bool last = next_ + chunk == payload_len_;
  memcpy(out, frame_, hdrs_);
  memcpy(out + hdrs_, frame_ + hdrs_ + next_, chunk);
  size_t l4_len = seg_len - l4_;

  // Network header, and the pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1).
  uint8_t* ip = out + l3_;
  uint32_t pseudo = 0;
  if (ipv6_) {
    store16(ip + 4, static_cast<uint16_t>(seg_len - l3_ - kIpv6HeaderLen));
    pseudo = csum_add(0, ip + 8, 32);
  } else {
    size_t ihl = size_t{ip[0] & 0x0fu} * 4;
    store16(ip + 2, static_cast<uint16_t>(seg_len - l3_));
    store16(ip + 4, static_cast<uint16_t>(load16(frame_ + l3_ + 4) + index_));
    store16(ip + 10, 0);
    store16(ip + 10, static_cast<uint16_t>(~csum_fold(csum_add(0, ip, ihl))));
    pseudo = csum_add(0, ip + 12, 8);
  }
  pseudo += (tcp_ ? kProtoTcp : kProtoUdp) + static_cast<uint32_t>(l4_len >> 16) +
            static_cast<uint32_t>(l4_len & 0xffff);

  uint8_t* l4 = out + l4_;
  size_t csum_at = 0;
  if (tcp_) {
    store32(l4 + 4, load32(frame_ + l4_ + 4) + static_cast<uint32_t>(next_));
    uint8_t flags = l4[13];
    if (!last) {
      flags = static_cast<uint8_t>(flags & ~(kTcpFin | kTcpPsh));
    }
    if (!first) {
      flags = static_cast<uint8_t>(flags & ~kTcpCwr);
    }
    l4[13] = flags;
    csum_at = kTcpChecksumOffset;
  } else {
    store16(l4 + 4, static_cast<uint16_t>(l4_len));
    csum_at = kUdpChecksumOffset;
  }
  store16(l4 + csum_at, 0);
  uint16_t c = static_cast<uint16_t>(~csum_fold(csum_add(pseudo, l4, l4_len)));
  if (c == 0 && !tcp_) {
    c = 0xffff;
  }
  store16(l4 + csum_at, c);

  next_ += chunk;
  ++index_;
  return seg_len;
}

}  // namespace iopkt::tap
