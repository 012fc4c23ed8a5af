// netinet6/ip6_reass.cc — IPv6 reassembly, RFC 8200 §4.5. Read RFC 8200
// §4.5, RFC 5722 and ROBUSTNESS.md §2 "IPv6 frags" / §3 "Fragment
// reassembly" first: every limit here is there because a stack once fell
// over without it.
//
// The walk (ip6_input.cc) already refused what a fragment shows on its
// own: length not a multiple of 8 with M set, more than 65535 bytes, an
// incomplete chain in the first fragment (RFC 7112), zero length, and
// atomic fragments never arrive here (RFC 6946). Here, each with its
// counter in Ip6Stat:
//  - a queue per (source, destination, identification) (§4.5);
//  - only the offset-0 fragment's unfragmentable part and Next Header are
//    used (§4.5: those of other fragments may differ);
//  - an overlap drops the whole datagram, and every fragment of it that
//    arrives later, silently (RFC 5722 §4); an exact duplicate (same
//    offset and end) is dropped alone (§4.5 allows it);
//  - the last fragment fixes the end; a fragment contradicting it drops
//    the datagram;
//  - a datagram of more than 65535 bytes of payload is dropped;
//  - 60 s after its first fragment a datagram is given up (§4.5), with
//    Time Exceeded code 1 when the offset-0 fragment was held;
//  - memory: each fragment is charged the clusters it pins plus a fixed
//    overhead, against a global cap; the number of queues and of fragments
//    per queue are capped (FragmentSmack, CVE-2018-5391).
#include "netinet6/ip6_reass.hh"

#include <algorithm>
#include <vector>

#include "kern/assert.hh"
#include "kern/byteorder.hh"
#include "netinet6/ip6.hh"

namespace iopkt {

namespace {

// Charged per fragment beyond its clusters (the queue entry, the mbuf
// header), like Linux's truesize.
constexpr size_t kFragOverhead = 256;

using QueueIt = std::map<Ip6ReassKey, Ip6ReassQueue>::iterator;

size_t frag_charge(const Mbuf& m) {
  size_t mcl = m.pool() != nullptr ? m.pool()->mclbytes() : 2048;
  return (m.len() + mcl - 1) / mcl * mcl + kFragOverhead;
}

// Give back what a queue holds; its fragments count as dropped.
void queue_release(Ip6State& ip6, Ip6ReassQueue& q) noexcept {
  ip6.stat.fragdropped += q.frags.size();
  ip6.reass.mem -= q.mem;
  q.mem = 0;
  q.frags.clear();
}

void queue_free(Ip6State& ip6, QueueIt it) noexcept {
  queue_release(ip6, it->second);
  ip6.reass.queues.erase(it);
}

void reass_arm(Ip6State& ip6) noexcept {
  callout_arm_earliest(ip6.reass.timer.get(), ip6.reass.queues);
}

void reass_timeout(Ip6State& ip6, CalloutWheel& wheel) noexcept {
  Ip6ReassState& rs = ip6.reass;
  Instant now = wheel.now();
  std::vector<Mbuf> report;
  for (auto it = rs.queues.begin(); it != rs.queues.end();) {
    auto next = std::next(it);
    Ip6ReassQueue& q = it->second;
    if (q.expire <= now) {
      if (!q.dead) {
        ++ip6.stat.fragtimeout;
        // §4.5: "If the first fragment (i.e., the one with a Fragment
        // Offset of zero) has been received, an ICMP Time Exceeded --
        // Fragment Reassembly Time Exceeded message should be sent".
        if (!q.frags.empty() && q.frags.front().off == 0 && rs.time_exceeded) {
          report.push_back(std::move(q.frags.front().m));
        }
      }
      queue_free(ip6, it);
    }
    it = next;
  }
  reass_arm(ip6);
  // Reports go out once the table is consistent again.
  for (Mbuf& m : report) {
    rs.time_exceeded(std::move(m));
  }
}

Ip6ReassResult frag_drop(Ip6State& ip6, uint64_t Ip6Stat::*reason) noexcept {
  ++(ip6.stat.*reason);
  ++ip6.stat.fragdropped;
  return {Ip6Verdict::kDrop, {}, reason};
}

// Drop the whole datagram and this fragment with it.
Ip6ReassResult datagram_drop(Ip6State& ip6, QueueIt it, uint64_t Ip6Stat::*reason) noexcept {
  queue_free(ip6, it);
  return frag_drop(ip6, reason);
}

}  // namespace

Ip6ReassResult ip6_reass(Ip6State& ip6, CalloutWheel& wheel, Mbuf m, const Ip6Chain& c) noexcept {
  IOPKT_ASSERT(c.verdict == Ip6Verdict::kFragment);
  IOPKT_ASSERT(m.len() == c.len);
  Ip6ReassState& rs = ip6.reass;
  Ip6Stat& st = ip6.stat;
  uint32_t hlen = c.frag_at + static_cast<uint32_t>(kIp6FragHeaderSize);
  uint32_t off = c.frag_off;
  uint32_t end = off + (c.len - hlen);
  bool more = c.frag_more;
  Ip6ReassKey key{c.src, c.dst, c.frag_id};
  auto it = rs.queues.find(key);

  if (it != rs.queues.end() && it->second.dead) {
    // RFC 5722 §4: "the entire datagram (and any constituent fragments,
    // including those not yet received) MUST be silently discarded."
    return frag_drop(ip6, &Ip6Stat::fragafteroverlap);
  }

  // --- limits (FragmentSmack, CVE-2018-5391) ---
  size_t charge = frag_charge(m);
  if (it == rs.queues.end() && rs.queues.size() >= static_cast<size_t>(rs.maxfragpackets)) {
    return frag_drop(ip6, &Ip6Stat::fragmemdrop);
  }
  if (rs.mem + charge > static_cast<size_t>(std::max<int64_t>(rs.maxfragmem, 0))) {
    // As Linux above its high threshold: nothing more until queues
    // complete or time out; the queues held are kept.
    return frag_drop(ip6, &Ip6Stat::fragmemdrop);
  }
  if (it != rs.queues.end() &&
      it->second.frags.size() >= static_cast<size_t>(std::max<int64_t>(rs.maxfragsperpacket, 0))) {
    return datagram_drop(ip6, it, &Ip6Stat::fragmemdrop);
  }

  // --- against the other fragments ---
  if (it != rs.queues.end()) {
    Ip6ReassQueue& q = it->second;
    uint32_t max_end = q.frags.empty() ? 0 : q.frags.back().end;
    // The end, once the last fragment fixed it, cannot move.
    bool inconsistent =
        more ? (q.have_last && end > q.total) : ((q.have_last && end != q.total) || end < max_end);
    if (inconsistent) {
      return datagram_drop(ip6, it, &Ip6Stat::fragbad);
    }
    // §4.5: the payload of the reassembled packet counts the offset-0
    // fragment's unfragmentable headers; the walk checked this fragment
    // with its own.
    bool have_first = !q.frags.empty() && q.frags.front().off == 0;
    uint32_t unfrag = have_first ? q.unfrag_len : (off == 0 ? c.frag_at : 0);
    uint32_t far_end = std::max(end, max_end);
    if (unfrag != 0 && (unfrag - kIp6HeaderSize) + far_end > kIp6MaxPayload) {
      return datagram_drop(ip6, it, &Ip6Stat::fragtoolong);
    }
    auto pos = std::lower_bound(q.frags.begin(), q.frags.end(), off,
                                [](const Ip6Fragment& f, uint32_t o) { return f.off < o; });
    if (pos != q.frags.end() && pos->off == off && pos->end == end) {
      // §4.5: "Instead of treating these exact duplicate fragments as
      // overlapping fragments, an implementation may choose to detect this
      // case and drop exact duplicate fragments while keeping the other
      // fragments belonging to the same packet."
      return frag_drop(ip6, &Ip6Stat::fragdup);
    }
    bool overlaps = (pos != q.frags.end() && pos->off < end) ||
                    (pos != q.frags.begin() && std::prev(pos)->end > off);
    if (overlaps) {
      // RFC 5722 §4: drop all of it, and remember the datagram until it
      // would have timed out so that its later fragments go too.
      queue_release(ip6, q);
      q.dead = true;
      return frag_drop(ip6, &Ip6Stat::fragoverlap);
    }
  } else {
    it = rs.queues.emplace(key, Ip6ReassQueue{}).first;
    it->second.expire = wheel.now() + std::chrono::seconds(rs.fragttl);
    if (!rs.timer) {
      rs.timer = std::make_unique<Callout>(wheel, [&ip6, &wheel] { reass_timeout(ip6, wheel); });
    }
    if (!rs.timer->pending() || rs.timer->deadline() > it->second.expire) {
      rs.timer->reset_at(it->second.expire);
    }
  }
  Ip6ReassQueue& q = it->second;
  if (off == 0) {
    // §4.5: the unfragmentable part and the Next Header come from the
    // offset-0 fragment only.
    q.unfrag_len = c.frag_at;
    q.nxt_at = c.nxt_at;
    q.nxt = c.frag_nxt;
  }
  auto pos = std::lower_bound(q.frags.begin(), q.frags.end(), off,
                              [](const Ip6Fragment& f, uint32_t o) { return f.off < o; });
  q.frags.insert(pos, Ip6Fragment{off, end, hlen, std::move(m)});
  q.mem += charge;
  rs.mem += charge;
  if (!more) {
    q.have_last = true;
    q.total = end;
  }

  // --- complete? ---
  if (!q.have_last) {
    return {Ip6Verdict::kHeld, {}};
  }
  uint32_t expect = 0;
  for (const Ip6Fragment& f : q.frags) {
    if (f.off != expect) {
      return {Ip6Verdict::kHeld, {}};  // a hole remains
    }
    expect = f.end;
  }
  if (expect != q.total) {
    return {Ip6Verdict::kHeld, {}};
  }

  // The offset-0 fragment's unfragmentable part, without its Fragment
  // header, with the datagram's payload length, the Next Header field that
  // named the Fragment header now naming what it carried.
  uint32_t unfrag = q.unfrag_len;
  uint32_t total = q.total;
  uint32_t nxt_at = q.nxt_at;
  uint8_t nxt = q.nxt;
  std::vector<std::byte> head(unfrag);
  bool copied = q.frags.front().m.copy_out(0, head);
  Mbuf whole;
  for (Ip6Fragment& f : q.frags) {
    Mbuf piece = std::move(f.m);
    piece.trim_front(f.hlen);
    whole.concat(std::move(piece));
  }
  rs.mem -= q.mem;
  rs.queues.erase(it);
  reass_arm(ip6);
  auto front = copied ? whole.prepend(unfrag) : std::span<std::byte>{};
  if (front.size() != unfrag) {
    ++st.nobufs;
    return {Ip6Verdict::kDrop, {}, &Ip6Stat::nobufs};
  }
  store_be16(head, kIp6PlenAt, static_cast<uint16_t>(unfrag - kIp6HeaderSize + total));
  head[nxt_at] = std::byte{nxt};
  std::copy(head.begin(), head.end(), front.begin());
  ++st.reassembled;
  return {Ip6Verdict::kDeliver, std::move(whole)};
}

void ip6_reass_drain(Ip6State& ip6) noexcept {
  Ip6ReassState& rs = ip6.reass;
  rs.queues.clear();
  rs.mem = 0;
  rs.timer.reset();
}

}  // namespace iopkt
