// netinet6/ip6_frames.hh — IPv6 packets as the netinet6 tests and the
// fuzz target write them: a builder that chains extension headers and fills
// the Next Header and Payload Length fields, and builders of the headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "kern/byteorder.hh"
#include "netinet/in.hh"
#include "netinet6/in6.hh"
#include "netinet6/ip6.hh"

namespace iopkt::test {

inline std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) {
    out.push_back(std::byte(x & 0xff));
  }
  return out;
}

// An extension header: its type (the value that names it) and its bytes,
// byte 0 (its own Next Header) filled by the builder.
struct Ip6Ext {
  uint8_t type;
  std::vector<std::byte> bytes;
};

// Options header (Hop-by-Hop or Destination Options) holding `options`
// (raw TLVs), padded to a multiple of 8 with Pad1/PadN; Hdr Ext Len filled.
inline Ip6Ext ip6_opts(uint8_t type, std::vector<std::byte> options) {
  std::vector<std::byte> h{std::byte{0}, std::byte{0}};
  h.insert(h.end(), options.begin(), options.end());
  size_t pad = (8 - h.size() % 8) % 8;
  if (pad == 1) {
    h.push_back(std::byte{kIp6OptPad1});
  } else if (pad > 1) {
    h.push_back(std::byte{kIp6OptPadN});
    h.push_back(std::byte(pad - 2));
    h.insert(h.end(), pad - 2, std::byte{0});
  }
  h[1] = std::byte(h.size() / 8 - 1);
  return {type, h};
}
inline Ip6Ext ip6_hbh(std::vector<std::byte> options = {}) {
  return ip6_opts(kIp6NxtHopOpts, std::move(options));
}
inline Ip6Ext ip6_dstopts(std::vector<std::byte> options = {}) {
  return ip6_opts(kIp6NxtDstOpts, std::move(options));
}
// Routing header of `rtype` with `segleft`, carrying `naddr` addresses.
inline Ip6Ext ip6_rthdr(uint8_t rtype, uint8_t segleft, size_t naddr = 1) {
  std::vector<std::byte> h(8 + 16 * naddr);
  h[1] = std::byte(2 * naddr);
  h[kIp6RtTypeAt] = std::byte{rtype};
  h[kIp6RtSegLeftAt] = std::byte{segleft};
  return {kIp6NxtRouting, h};
}
inline Ip6Ext ip6_frag(uint32_t off, bool more, uint32_t id) {
  std::vector<std::byte> h(8);
  store_be16(h, kIp6FragOffAt, static_cast<uint16_t>((off & kIp6FragOffMask) | (more ? 1 : 0)));
  store_be32(h, kIp6FragIdAt, id);
  return {kIp6NxtFragment, h};
}

struct Ip6Pkt {
  In6Addr src = *in6_parse("2001:db8::2");
  In6Addr dst = *in6_parse("2001:db8::1");
  uint8_t hlim = 64;
  uint8_t tclass = 0;
  uint32_t flow = 0;
  std::vector<Ip6Ext> ext;
  uint8_t proto = kIp6NxtUdp;
  std::vector<std::byte> payload;
  // Override of the payload length field (-1: computed).
  long plen = -1;

  std::vector<std::byte> build() const {
    std::vector<std::byte> p(kIp6HeaderSize);
    store_be32(p, kIp6VersionAt, ip6_vtcfl(tclass, flow));
    p[kIp6HlimAt] = std::byte{hlim};
    ip6_store_addr(p, kIp6SrcAt, src);
    ip6_store_addr(p, kIp6DstAt, dst);
    size_t nxt_at = kIp6NxtAt;
    for (const Ip6Ext& e : ext) {
      p[nxt_at] = std::byte{e.type};
      nxt_at = p.size();
      p.insert(p.end(), e.bytes.begin(), e.bytes.end());
    }
    p[nxt_at] = std::byte{proto};
    p.insert(p.end(), payload.begin(), payload.end());
    store_be16(p, kIp6PlenAt,
               static_cast<uint16_t>(plen >= 0 ? plen : long(p.size() - kIp6HeaderSize)));
    return p;
  }
};

inline std::vector<std::byte> pattern(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::byte((i * 7 + seed) & 0xff);
  }
  return v;
}

// Fragments of `pkt`: its extension headers up to `unfrag` of them stay in
// each fragment (the unfragmentable part), the rest and the payload are
// cut at the byte offsets `cuts` (multiples of 8).
inline std::vector<std::vector<std::byte>> ip6_fragments(const Ip6Pkt& pkt, size_t unfrag,
                                                         uint32_t id, std::vector<size_t> cuts) {
  Ip6Pkt inner = pkt;  // the fragmentable part, as a packet to slice
  inner.ext.assign(pkt.ext.begin() + static_cast<ptrdiff_t>(unfrag), pkt.ext.end());
  auto whole = inner.build();
  std::vector<std::byte> data(whole.begin() + kIp6HeaderSize, whole.end());
  uint8_t first_nxt = std::to_integer<uint8_t>(whole[kIp6NxtAt]);
  cuts.push_back(data.size());
  std::vector<std::vector<std::byte>> out;
  size_t from = 0;
  for (size_t cut : cuts) {
    Ip6Pkt f = pkt;
    f.ext.assign(pkt.ext.begin(), pkt.ext.begin() + static_cast<ptrdiff_t>(unfrag));
    Ip6Ext fh = ip6_frag(static_cast<uint32_t>(from), cut < data.size(), id);
    f.ext.push_back(fh);
    f.payload.assign(data.begin() + static_cast<ptrdiff_t>(from),
                     data.begin() + static_cast<ptrdiff_t>(cut));
    auto bytes = f.build();
    // The Fragment header names what began the fragmentable part.
    size_t fh_at = bytes.size() - f.payload.size() - kIp6FragHeaderSize;
    bytes[fh_at] = std::byte{first_nxt};
    out.push_back(bytes);
    from = cut;
  }
  return out;
}

}  // namespace iopkt::test
