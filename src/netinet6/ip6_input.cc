// netinet6/ip6_input.cc — IPv6 input: the fixed header (RFC 8200 §3) and
// the extension header chain (RFC 8200 §4). Read RFC 8200 §4, RFC 5095,
// RFC 8504 §5.3 and ROBUSTNESS.md §2–§3 ("IPv6 ext hdrs") first.
//
// Rules, each with its counter in Ip6Stat:
//  - version 6, payload length inside the packet (link padding trimmed);
//  - sources and destinations that may not arrive (RFC 4291) dropped;
//  - Hop-by-Hop only right after the IPv6 header (§4.1): else Parameter
//    Problem code 1 at the Next Header field that named it;
//  - options (§4.2): Pad1/PadN, Router Alert in Hop-by-Hop, unknown ones
//    by their action bits; malformed TLVs are Parameter Problem code 0;
//  - Routing (§4.4): segments left 0 is ignored; otherwise, type 0
//    (RFC 5095 §3) or any other type (a host does not forward), Parameter
//    Problem code 0 at the Routing Type field;
//  - Fragment (§4.5): atomic fragments continue the walk (RFC 6946 §4);
//    other fragments are checked on their own (×8, ≤ 65535, whole chain in
//    the first, RFC 7112 §5) and handed to ip6_reass;
//  - limits on the number of headers, their total length, and the number
//    of options in one header (RFC 8504 §5.3).
#include "netinet6/ip6_input.hh"

#include <algorithm>

#include "kern/byteorder.hh"
#include "netinet6/in6.hh"
#include "netinet6/ip6.hh"
#include "netinet6/ip6_reass.hh"

namespace iopkt {

std::span<const Ip6CounterInfo> ip6stat_fields() {
  static constexpr Ip6CounterInfo kFields[] = {
      {"total", &Ip6Stat::total},
      {"tooshort", &Ip6Stat::tooshort},
      {"badvers", &Ip6Stat::badvers},
      {"badlen", &Ip6Stat::badlen},
      {"badaddr", &Ip6Stat::badaddr},
      {"truncated", &Ip6Stat::truncated},
      {"toomanyhdrs", &Ip6Stat::toomanyhdrs},
      {"chaintoolong", &Ip6Stat::chaintoolong},
      {"toomanyopts", &Ip6Stat::toomanyopts},
      {"badopt", &Ip6Stat::badopt},
      {"badpad", &Ip6Stat::badpad},
      {"unknownopt", &Ip6Stat::unknownopt},
      {"hbhnotfirst", &Ip6Stat::hbhnotfirst},
      {"rthdr0", &Ip6Stat::rthdr0},
      {"rthdr", &Ip6Stat::rthdr},
      {"nonext", &Ip6Stat::nonext},
      {"paramprob", &Ip6Stat::paramprob},
      {"nobufs", &Ip6Stat::nobufs},
      {"fragments", &Ip6Stat::fragments},
      {"atomicfrags", &Ip6Stat::atomicfrags},
      {"fragdropped", &Ip6Stat::fragdropped},
      {"fragbadlen", &Ip6Stat::fragbadlen},
      {"fragtoolong", &Ip6Stat::fragtoolong},
      {"fragtruncchain", &Ip6Stat::fragtruncchain},
      {"fragbad", &Ip6Stat::fragbad},
      {"fragnested", &Ip6Stat::fragnested},
      {"fragoverlap", &Ip6Stat::fragoverlap},
      {"fragafteroverlap", &Ip6Stat::fragafteroverlap},
      {"fragdup", &Ip6Stat::fragdup},
      {"fragmemdrop", &Ip6Stat::fragmemdrop},
      {"fragtimeout", &Ip6Stat::fragtimeout},
      {"reassembled", &Ip6Stat::reassembled},
  };
  return kFields;
}

namespace {

uint8_t byte_at(std::span<const std::byte> b, size_t at) { return std::to_integer<uint8_t>(b[at]); }

// One walk: the packet, its limits, and the verdict being built.
struct Walk {
  std::span<const std::byte> head;
  const Ip6Limits& limits;
  Ip6Stat& st;
  Ip6Chain c;

  Ip6Chain drop(uint64_t Ip6Stat::*reason) {
    ++(st.*reason);
    c.verdict = Ip6Verdict::kDrop;
    c.reason = reason;
    return c;
  }
  Ip6Chain param_problem(uint64_t Ip6Stat::*reason, uint8_t code, size_t pointer) {
    ++(st.*reason);
    ++st.paramprob;
    c.verdict = Ip6Verdict::kParamProblem;
    c.reason = reason;
    c.pp = {code, static_cast<uint32_t>(pointer)};
    return c;
  }
  // Why bytes [.., end) of the packet cannot be read, or null.
  uint64_t Ip6Stat::*unreadable(size_t end) const {
    if (end > c.len) {
      return &Ip6Stat::truncated;
    }
    if (end > head.size()) {
      return &Ip6Stat::chaintoolong;  // past what the caller pulled up: past the limit
    }
    return nullptr;
  }
  bool over_chain_limit(size_t end) const {
    return end - kIp6HeaderSize > static_cast<size_t>(std::max<int64_t>(limits.max_chain_bytes, 0));
  }

  // The options of a Hop-by-Hop or Destination Options header at `at`,
  // RFC 8200 §4.2. True to go on; false when `c` holds a verdict.
  bool options(size_t at, size_t hlen, bool hop_by_hop) {
    auto h = head.subspan(at, hlen);
    size_t i = 2;
    size_t pad = 0;  // consecutive padding bytes
    int64_t count = 0;
    while (i < h.size()) {
      uint8_t type = byte_at(h, i);
      if (type == kIp6OptPad1) {
        ++i;
        // Padding aligns to at most 8 bytes: a longer run carries
        // something else (RFC 4942 §2.1.9.5; Linux drops it too).
        if (++pad > 7) {
          drop(&Ip6Stat::badpad);
          return false;
        }
        continue;
      }
      if (i + 2 > h.size()) {
        param_problem(&Ip6Stat::badopt, kIcmp6ParamProbHeader, at + i);
        return false;  // a type without its length
      }
      size_t olen = byte_at(h, i + 1);
      if (i + 2 + olen > h.size()) {
        param_problem(&Ip6Stat::badopt, kIcmp6ParamProbHeader, at + i + 1);
        return false;  // data past the end of the header
      }
      if (type == kIp6OptPadN) {
        pad += 2 + olen;
        bool zero = std::all_of(h.begin() + static_cast<ptrdiff_t>(i + 2),
                                h.begin() + static_cast<ptrdiff_t>(i + 2 + olen),
                                [](std::byte x) { return x == std::byte{0}; });
        if (pad > 7 || !zero) {
          drop(&Ip6Stat::badpad);
          return false;
        }
        i += 2 + olen;
        continue;
      }
      pad = 0;
      if (++count > limits.max_options) {
        drop(&Ip6Stat::toomanyopts);
        return false;
      }
      if (hop_by_hop && type == kIp6OptRouterAlert) {
        // RFC 2711 §2.1: two bytes of value.
        if (olen != 2) {
          param_problem(&Ip6Stat::badopt, kIcmp6ParamProbHeader, at + i + 1);
          return false;
        }
        c.router_alert = true;
        c.router_alert_value = load_be16(h, i + 2);
      } else {
        // RFC 8200 §4.2: the two highest bits of an unrecognised type:
        //   00 skip; 01 discard; 10 discard and send Parameter Problem
        //   code 2 pointing at the type; 11 the same, only if the
        //   destination was not multicast.
        switch (type >> 6) {
          case 0:
            break;
          case 1:
            drop(&Ip6Stat::unknownopt);
            return false;
          case 2:
            param_problem(&Ip6Stat::unknownopt, kIcmp6ParamProbOption, at + i);
            return false;
          default:
            if (in6_is_multicast(c.dst)) {
              drop(&Ip6Stat::unknownopt);
            } else {
              param_problem(&Ip6Stat::unknownopt, kIcmp6ParamProbOption, at + i);
            }
            return false;
        }
      }
      i += 2 + olen;
    }
    return true;
  }

  // RFC 7112 §5 / RFC 8200 §4.5: the first fragment must hold every
  // header through the upper-layer header. Walks the headers after the
  // Fragment header at `at` by their lengths only (they are processed after
  // reassembly). True when the chain is whole; otherwise `c` holds the
  // verdict.
  bool first_fragment_chain(size_t at, int64_t headers) {
    uint8_t nxt = byte_at(head, at);
    size_t pos = at + kIp6FragHeaderSize;
    for (;;) {
      size_t hlen;
      if (nxt == kIp6NxtHopOpts || nxt == kIp6NxtRouting || nxt == kIp6NxtDstOpts ||
          nxt == kIp6NxtAh) {
        if (pos + 2 > c.len) {
          break;  // incomplete
        }
        if (unreadable(pos + 2) != nullptr) {
          drop(&Ip6Stat::chaintoolong);
          return false;
        }
        uint8_t l = byte_at(head, pos + 1);
        // AH counts 4-byte words minus 2 (RFC 4302 §2.2); the others 8-byte
        // words beyond the first (RFC 8200 §4.3).
        hlen = nxt == kIp6NxtAh ? (size_t{l} + 2) * 4 : (size_t{l} + 1) * 8;
      } else if (nxt == kIp6NxtFragment) {
        hlen = kIp6FragHeaderSize;  // nested: refused after reassembly
      } else {
        // The upper layer: enough of its header to find the ports or the
        // type (as Linux ipv6frag_thdr_truncated): TCP 20, UDP 8, ICMPv6 8.
        size_t need = nxt == kIp6NxtTcp ? 20 : nxt == kIp6NxtUdp || nxt == kIp6NxtIcmp6 ? 8 : 0;
        if (pos + need <= c.len) {
          return true;
        }
        break;
      }
      if (++headers > limits.max_ext_headers) {
        drop(&Ip6Stat::toomanyhdrs);
        return false;
      }
      if (pos + hlen > c.len) {
        break;
      }
      if (over_chain_limit(pos + hlen) || pos + 1 > head.size()) {
        drop(&Ip6Stat::chaintoolong);
        return false;
      }
      nxt = byte_at(head, pos);
      pos += hlen;
    }
    ++st.fragdropped;
    param_problem(&Ip6Stat::fragtruncchain, kIcmp6ParamProbFirstFrag, 0);
    return false;
  }
};

}  // namespace

Ip6Chain ip6_walk(std::span<const std::byte> head, size_t pkt_len, const Ip6Limits& limits,
                  bool from_loopback, bool reassembled, Ip6Stat& st) noexcept {
  Walk w{head.first(std::min(head.size(), pkt_len)), limits, st, {}};
  Ip6Chain& c = w.c;
  c.fragmented = reassembled;
  if (!reassembled) {
    ++st.total;
  }
  if (pkt_len < kIp6HeaderSize || w.head.size() < kIp6HeaderSize) {
    return w.drop(&Ip6Stat::tooshort);
  }
  uint32_t vtcfl = load_be32(head, kIp6VersionAt);
  if ((vtcfl >> 28) != 6) {
    return w.drop(&Ip6Stat::badvers);
  }
  c.tclass = static_cast<uint8_t>((vtcfl >> 20) & 0xff);
  c.flow = vtcfl & 0xfffff;
  c.hlim = byte_at(head, kIp6HlimAt);
  c.src = ip6_load_addr(head, kIp6SrcAt);
  c.dst = ip6_load_addr(head, kIp6DstAt);
  size_t plen = load_be16(head, kIp6PlenAt);
  // §3: the payload length counts what follows the fixed header; a link
  // may pad the frame, never cut it. (Payload length 0 with a Jumbo
  // Payload option, RFC 2675, is not supported: the option is refused as
  // unrecognised.)
  if (kIp6HeaderSize + plen > pkt_len) {
    return w.drop(&Ip6Stat::badlen);
  }
  c.len = static_cast<uint32_t>(kIp6HeaderSize + plen);
  w.head = w.head.first(std::min<size_t>(w.head.size(), c.len));
  head = w.head;

  // Addresses that may not arrive from a link (as BSD and Linux):
  //  - a multicast source (RFC 4291 §2.7);
  //  - the unspecified destination (RFC 4291 §2.5.2);
  //  - ::1 either way except on the loopback (RFC 4291 §2.5.3);
  //  - IPv4-mapped either way: an API form, not a wire one (RFC 4291
  //    §2.5.5.2);
  //  - multicast to scope 0 (reserved) or, except on the loopback, to
  //    interface-local scope (RFC 4291 §2.7).
  auto scope = in6_mcast_scope(c.dst);
  if (in6_is_multicast(c.src) || in6_is_unspecified(c.dst) ||
      (!from_loopback && (in6_is_loopback(c.src) || in6_is_loopback(c.dst))) ||
      in6_is_v4mapped(c.src) || in6_is_v4mapped(c.dst) ||
      (scope && (*scope == In6Scope::kReserved0 ||
                 (*scope == In6Scope::kInterfaceLocal && !from_loopback)))) {
    return w.drop(&Ip6Stat::badaddr);
  }

  uint8_t nxt = byte_at(head, kIp6NxtAt);
  size_t nxt_at = kIp6NxtAt;
  size_t pos = kIp6HeaderSize;
  int64_t headers = 0;
  bool seen_fragment = reassembled;
  for (;;) {
    switch (nxt) {
      case kIp6NxtHopOpts:
      case kIp6NxtRouting:
      case kIp6NxtFragment:
      case kIp6NxtDstOpts:
        break;
      case kIp6NxtNone:
        // §4.7: nothing follows; bytes after the header are ignored.
        return w.drop(&Ip6Stat::nonext);
      default:
        c.verdict = Ip6Verdict::kDeliver;
        c.nxt = nxt;
        c.off = static_cast<uint32_t>(pos);
        c.nxt_at = static_cast<uint32_t>(nxt_at);
        return c;
    }
    if (nxt == kIp6NxtHopOpts && pos != kIp6HeaderSize) {
      // §4.1: "The same action should be taken if a node encounters a
      // Next Header value of zero in any header other than an IPv6 header."
      return w.param_problem(&Ip6Stat::hbhnotfirst, kIcmp6ParamProbNextHeader, nxt_at);
    }
    if (++headers > limits.max_ext_headers) {
      return w.drop(&Ip6Stat::toomanyhdrs);
    }
    size_t hlen = kIp6FragHeaderSize;
    if (nxt != kIp6NxtFragment) {
      if (auto why = w.unreadable(pos + 2)) {
        return w.drop(why);
      }
      // §4.3–§4.4: Hdr Ext Len counts 8-octet units beyond the first.
      hlen = (size_t{byte_at(head, pos + 1)} + 1) * 8;
    }
    if (pos + hlen > c.len) {
      return w.drop(&Ip6Stat::truncated);
    }
    if (w.over_chain_limit(pos + hlen) || pos + hlen > w.head.size()) {
      return w.drop(&Ip6Stat::chaintoolong);
    }
    switch (nxt) {
      case kIp6NxtHopOpts:
      case kIp6NxtDstOpts:
        if (!w.options(pos, hlen, nxt == kIp6NxtHopOpts)) {
          return c;
        }
        break;
      case kIp6NxtRouting:
        if (byte_at(head, pos + kIp6RtSegLeftAt) != 0) {
          // §4.4: with segments left, an unrecognised type is Parameter
          // Problem code 0 at the Routing Type. RFC 5095 §3: type 0 is
          // treated exactly so. A host forwards nothing, so every type is
          // refused here.
          bool rh0 = byte_at(head, pos + kIp6RtTypeAt) == 0;
          return w.param_problem(rh0 ? &Ip6Stat::rthdr0 : &Ip6Stat::rthdr, kIcmp6ParamProbHeader,
                                 pos + kIp6RtTypeAt);
        }
        break;  // §4.4: segments left 0: ignore it, go on
      case kIp6NxtFragment: {
        uint16_t offm = load_be16(head, pos + kIp6FragOffAt);
        uint32_t off = offm & kIp6FragOffMask;
        bool more = (offm & kIp6FragMore) != 0;
        if (seen_fragment) {
          // Fragments of fragments, or an atomic fragment around a real
          // one: nothing sends these (§4.1 wants each header once).
          ++st.fragdropped;
          return w.drop(&Ip6Stat::fragnested);
        }
        seen_fragment = true;
        c.fragmented = true;
        if (off == 0 && !more) {
          // RFC 6946 §4: an atomic fragment is processed in isolation,
          // as if it had no Fragment header; queued fragments with the
          // same id are left alone.
          ++st.atomicfrags;
          break;
        }
        ++st.fragments;
        size_t data = c.len - (pos + kIp6FragHeaderSize);
        if (more && (data % 8) != 0) {
          // §4.5: Parameter Problem code 0 pointing at the Payload Length.
          ++st.fragdropped;
          return w.param_problem(&Ip6Stat::fragbadlen, kIcmp6ParamProbHeader, kIp6PlenAt);
        }
        if ((pos - kIp6HeaderSize) + off + data > kIp6MaxPayload) {
          // §4.5: Parameter Problem code 0 pointing at the Fragment Offset.
          ++st.fragdropped;
          return w.param_problem(&Ip6Stat::fragtoolong, kIcmp6ParamProbHeader, pos + kIp6FragOffAt);
        }
        if (data == 0) {
          ++st.fragdropped;  // nothing to place (ROBUSTNESS §3)
          return w.drop(&Ip6Stat::fragbad);
        }
        if (off == 0 && !w.first_fragment_chain(pos, headers)) {
          return c;
        }
        c.verdict = Ip6Verdict::kFragment;
        c.nxt_at = static_cast<uint32_t>(nxt_at);
        c.frag_at = static_cast<uint32_t>(pos);
        c.frag_off = off;
        c.frag_more = more;
        c.frag_id = load_be32(head, pos + kIp6FragIdAt);
        c.frag_nxt = byte_at(head, pos);
        return c;
      }
      default:
        break;
    }
    nxt = byte_at(head, pos);
    nxt_at = pos;
    pos += hlen;
  }
}

Ip6Chain ip6_input_chain(Ip6State& ip6, Mbuf& m, bool from_loopback, bool reassembled) noexcept {
  size_t len = m.len();
  // The chain is bounded by the limit, plus a little for the upper-layer
  // header a first fragment must hold; all of it in one cluster at most.
  size_t limit =
      kIp6HeaderSize + static_cast<size_t>(std::max<int64_t>(ip6.limits.max_chain_bytes, 0)) + 64;
  if (m.pool() != nullptr) {
    limit = std::min(limit, m.pool()->mclbytes());
  }
  std::span<const std::byte> head;
  if (len > 0) {
    head = m.pullup(std::min(len, limit));
    if (head.empty()) {
      ++ip6.stat.nobufs;
      m.reset();
      Ip6Chain c;
      c.reason = &Ip6Stat::nobufs;
      return c;
    }
  }
  Ip6Chain c = ip6_walk(head, len, ip6.limits, from_loopback, reassembled, ip6.stat);
  if (c.verdict == Ip6Verdict::kDrop) {
    m.reset();
  } else if (len > c.len) {
    m.trim_back(len - c.len);  // link padding
  }
  return c;
}

Ip6Chain ip6_input_demux(Ip6State& ip6, CalloutWheel& wheel, Mbuf& m, bool from_loopback) noexcept {
  Ip6Chain c = ip6_input_chain(ip6, m, from_loopback);
  if (c.verdict != Ip6Verdict::kFragment) {
    return c;
  }
  Ip6ReassResult r = ip6_reass(ip6, wheel, std::move(m), c);
  m = std::move(r.m);
  if (r.verdict != Ip6Verdict::kDeliver) {
    c.verdict = r.verdict;
    c.reason = r.reason;
    return c;
  }
  return ip6_input_chain(ip6, m, from_loopback, true);
}

}  // namespace iopkt
