// netinet6/ip6_reass.hh — IPv6 reassembly, RFC 8200 §4.5 with RFC 5722
// (overlaps), RFC 6946 (atomic fragments, handled by the walk) and RFC 7112
// (the first fragment holds the whole chain, checked by the walk).
#pragma once

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "netinet6/ip6_input.hh"
#include "netinet6/ip6_var.hh"

namespace iopkt {

struct Ip6ReassResult {
  Ip6Verdict verdict = Ip6Verdict::kDrop;  // kDeliver, kHeld or kDrop
  Mbuf m;                                  // kDeliver: the reassembled packet
  uint64_t Ip6Stat::*reason = nullptr;     // kDrop: the counter bumped
};

// `m` is a fragment exactly c.len bytes long (ip6_input_chain trimmed it)
// for which the walk said kFragment. Takes it. kDeliver: the datagram is
// whole, returned without its Fragment header (the Next Header field that
// named it now names what followed, the payload length is the datagram's):
// walk it again with `reassembled`. Times out on `wheel`.
Ip6ReassResult ip6_reass(Ip6State& ip6, CalloutWheel& wheel, Mbuf m, const Ip6Chain& c) noexcept;

// Free every queue and the timer (before the pool and the wheel go).
void ip6_reass_drain(Ip6State& ip6) noexcept;

}  // namespace iopkt
