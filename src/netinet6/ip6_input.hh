// netinet6/ip6_input.hh — IPv6 input up to the upper layer: the fixed
// header (RFC 8200 §3), the extension header chain (§4), and fragments
// (§4.5, through ip6_reass.hh). Read RFC 8200 §4 before changing it.
//
// Not wired into ether input yet (issue 7, a later step): ICMPv6 output
// does not exist, so a refusal that deserves a Parameter Problem message
// (RFC 4443 §3.4) is returned as a verdict with its code and pointer, for
// icmp6_error to send once it exists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "netinet/in.hh"
#include "netinet6/ip6_var.hh"

namespace iopkt {

// ICMPv6 Parameter Problem codes, RFC 4443 §3.4 and RFC 7112 §7.
inline constexpr uint8_t kIcmp6ParamProbHeader = 0;      // erroneous header field
inline constexpr uint8_t kIcmp6ParamProbNextHeader = 1;  // unrecognised Next Header
inline constexpr uint8_t kIcmp6ParamProbOption = 2;      // unrecognised IPv6 option
inline constexpr uint8_t kIcmp6ParamProbFirstFrag = 3;   // incomplete chain in first fragment

enum class Ip6Verdict : uint8_t {
  kDeliver,       // to the upper-layer protocol `nxt`, whose header starts at `off`
  kFragment,      // a fragment (not atomic): for ip6_reass
  kHeld,          // ip6_reass kept the fragment; nothing to deliver yet
  kDrop,          // dropped silently; `reason` was counted
  kParamProblem,  // dropped; answer with Parameter Problem `pp` (reason counted)
};

struct Ip6ParamProblem {
  uint8_t code = 0;
  uint32_t pointer = 0;  // octet offset in the packet as received (RFC 4443 §3.4)
};

// What the walk found. The fixed header fields are filled whenever the
// header itself was valid.
struct Ip6Chain {
  Ip6Verdict verdict = Ip6Verdict::kDrop;
  uint64_t Ip6Stat::*reason = nullptr;  // kDrop, kParamProblem: the counter bumped
  Ip6ParamProblem pp;                   // kParamProblem
  // The fixed header (§3). A host takes any hop limit: it is the
  // forwarder's to decrement (§3); ND checks for 255 (RFC 4861 §7.1.1).
  In6Addr src, dst;
  uint8_t hlim = 0;
  uint8_t tclass = 0;
  uint32_t flow = 0;  // flow label, RFC 6437: carried, never interpreted
  uint32_t len = 0;   // 40 + payload length: the packet without link padding
  // kDeliver: the upper layer. `nxt` may be a protocol nobody carries (ESP,
  // AH, anything): the caller then answers Parameter Problem code 1 pointing
  // at `nxt_at`, the Next Header field that named it (RFC 8200 §4).
  uint8_t nxt = 0;
  uint32_t off = 0;
  uint32_t nxt_at = 0;
  bool router_alert = false;  // hop-by-hop Router Alert (RFC 2711) and its value
  uint16_t router_alert_value = 0;
  // Atomic fragment or reassembled: ND ignores such packets (RFC 6980 §5).
  bool fragmented = false;
  // kFragment: the Fragment header at `frag_at`; `nxt_at` is the Next
  // Header field that named it.
  uint32_t frag_at = 0;
  uint32_t frag_off = 0;  // bytes
  bool frag_more = false;
  uint32_t frag_id = 0;
  uint8_t frag_nxt = 0;
};

// The walk over the first bytes of a packet. `head` is the start of the
// packet (as much of it as the caller made contiguous), `pkt_len` the
// packet's whole length as the link gave it. Headers that would need bytes
// past `head` but inside the packet count as a chain too long. With
// `reassembled` (the packet came out of ip6_reass) a Fragment header is
// refused and the packet is not counted again in `total`. Pure: touches
// only `st`.
Ip6Chain ip6_walk(std::span<const std::byte> head, size_t pkt_len, const Ip6Limits& limits,
                  bool from_loopback, bool reassembled, Ip6Stat& st) noexcept;

// ip6_walk over a packet buffer: pulls the header chain up and, unless the
// verdict is kDrop, trims link padding (m ends exactly `len` bytes long).
// On kDrop `m` is freed; on kParamProblem it is kept for quoting.
Ip6Chain ip6_input_chain(Ip6State& ip6, Mbuf& m, bool from_loopback,
                         bool reassembled = false) noexcept;

// The whole input path short of delivery: walk; a fragment goes to
// ip6_reass and, when it completes a datagram, the reassembled packet is
// walked again. On kDeliver `m` is the packet to deliver (reassembled or
// not); on kHeld or kDrop it is empty; on kParamProblem it is the
// offending packet.
Ip6Chain ip6_input_demux(Ip6State& ip6, CalloutWheel& wheel, Mbuf& m, bool from_loopback) noexcept;

}  // namespace iopkt
