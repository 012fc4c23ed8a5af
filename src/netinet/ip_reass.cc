// netinet/ip_reass.cc — IPv4 reassembly, RFC 791 §3.2 ("Fragmentation and
// Reassembly") with RFC 815's hole bookkeeping reduced to a sorted list of
// non-overlapping pieces. Read ROBUSTNESS.md §2 "IPv4 frags" and §3
// "Fragment reassembly" before changing this file: every limit here is
// there because a stack once fell over without it.
//
// Rules, each with its counter in IpStat:
//  - a queue per (src, dst, protocol, id) (RFC 791 §3.2);
//  - a datagram not complete after net.inet.ip.fragttl seconds is dropped,
//    with ICMP time exceeded code 1 when fragment zero is held (RFC 792,
//    RFC 1122 §3.3.2);
//  - memory: each fragment is charged what it really pins (its clusters
//    plus a fixed overhead, like Linux's truesize), against a global cap
//    (net.inet.ip.maxfragmem); the number of queues and of fragments per
//    queue are capped too (FragmentSmack, CVE-2018-5391; FreeBSD's
//    maxfragpackets/maxfragsperpacket);
//  - a datagram may not exceed 65535 bytes (the "ping of death");
//  - overlapping fragments drop the whole datagram, as Linux ≥ 4.19 and
//    RFC 5722 for IPv6 (Teardrop and its relatives); an exact duplicate is
//    dropped alone, harmlessly;
//  - zero-length fragments, non-last fragments whose length is not a
//    multiple of 8, and fragments contradicting the known end are dropped;
//  - tiny fragments of TCP (RFC 1858 §3.2, RFC 3128): a first fragment too
//    short for the TCP header, and any fragment at offset 8, are dropped.
#include <algorithm>
#include <vector>

#include "core/stack.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

namespace {

// Charged per fragment beyond its clusters: the queue entry and the mbuf
// header (Linux charges skb->truesize, which includes the same).
constexpr size_t kFragOverhead = 256;
// RFC 1858 §3.2: the smallest TCP header a first fragment must hold.
constexpr size_t kTcpMinHeader = 20;

size_t frag_charge(Stack& stack, size_t len) {
  size_t mcl = stack.pool().mclbytes();
  return (len + mcl - 1) / mcl * mcl + kFragOverhead;
}

using QueueIt = std::map<IpReassKey, IpReassQueue>::iterator;

// Drop a whole datagram: its fragments count as dropped.
void reass_free(Stack& stack, QueueIt it) noexcept {
  IpReassState& rs = stack.ip.reass;
  stack.ip.stat.fragdropped += it->second.frags.size();
  rs.mem -= it->second.mem;
  rs.queues.erase(it);
}

void reass_arm(Stack& stack) noexcept {
  callout_arm_earliest(stack.ip.reass.timer.get(), stack.ip.reass.queues);
}

void reass_timeout(Stack& stack) noexcept {
  IpReassState& rs = stack.ip.reass;
  Instant now = stack.now();
  std::vector<Mbuf> report;
  for (auto it = rs.queues.begin(); it != rs.queues.end();) {
    auto next = std::next(it);
    IpReassQueue& q = it->second;
    if (q.expire <= now) {
      ++stack.ip.stat.fragtimeout;
      // RFC 792 / RFC 1122 §3.3.2: time exceeded, code 1 ("fragment
      // reassembly time exceeded"), and only when fragment zero arrived:
      // without it there is no header worth quoting for the sender's
      // transport. The fragment is quoted as received.
      if (!q.frags.empty() && q.frags.front().off == 0) {
        report.push_back(std::move(q.frags.front().m));
      }
      reass_free(stack, it);
    }
    it = next;
  }
  reass_arm(stack);
  // Errors go out once the table is consistent again.
  for (Mbuf& m : report) {
    icmp_error(stack, std::move(m), kIcmpTimeExceeded, kIcmpTimxceedReass, 0);
  }
}

// Drop only this fragment.
Mbuf frag_drop(Stack& stack, uint64_t IpStat::*reason) noexcept {
  ++(stack.ip.stat.*reason);
  ++stack.ip.stat.fragdropped;
  return {};
}

}  // namespace

Mbuf ip_reass(Stack& stack, Mbuf m) noexcept {
  IpReassState& rs = stack.ip.reass;
  IpStat& st = stack.ip.stat;
  auto h = m.pullup(std::min(m.len(), kIpMaxHeader));
  if (h.size() < IpHeader::kMinSize) {
    return frag_drop(stack, &IpStat::fragbad);
  }
  size_t hlen = (std::to_integer<size_t>(h[0]) & 0xf) * 4;
  uint16_t frag = load_be16(h, 6);
  bool mf = (frag & IpHeader::kFlagMf) != 0;
  uint32_t off = static_cast<uint32_t>(frag & IpHeader::kOffMask) * 8;
  // ip_input trimmed the link padding: the packet is exactly total length.
  uint32_t payload = static_cast<uint32_t>(m.len() - hlen);
  uint32_t end = off + payload;
  IpReassKey key{load_be32(h, 12), load_be32(h, 16), load_be16(h, 4),
                 std::to_integer<uint8_t>(h[9])};
  auto it = rs.queues.find(key);

  // --- this fragment on its own ---
  if (payload == 0) {
    return frag_drop(stack, &IpStat::fragbad);  // nothing to place (ROBUSTNESS §3)
  }
  if (mf && (payload & 7) != 0) {
    // RFC 791 §3.2: every fragment but the last carries a multiple of 8.
    return frag_drop(stack, &IpStat::fragbad);
  }
  if (hlen + end > kIpMaxPacket) {
    // RFC 791 §3.1: the datagram cannot be larger than 65535 bytes; what
    // would exceed it (the "ping of death") condemns the whole datagram.
    if (it != rs.queues.end()) {
      reass_free(stack, it);
    }
    return frag_drop(stack, &IpStat::fragtoolong);
  }
  if (key.proto == kIpProtoTcp && (off == 8 || (off == 0 && payload < kTcpMinHeader))) {
    // RFC 1858 §3.2 and RFC 3128: a TCP fragment at offset 8 could rewrite
    // the flags of the first; a first fragment must hold the header.
    return frag_drop(stack, &IpStat::fragtiny);
  }

  // --- limits (FragmentSmack, CVE-2018-5391) ---
  size_t charge = frag_charge(stack, m.len());
  if (it == rs.queues.end() && rs.queues.size() >= static_cast<size_t>(rs.maxfragpackets)) {
    return frag_drop(stack, &IpStat::fragmemdrop);
  }
  if (rs.mem + charge > static_cast<size_t>(rs.maxfragmem)) {
    // Like Linux above ipfrag_high_thresh: nothing more is accepted until
    // queues complete or time out; the queues already held are kept.
    return frag_drop(stack, &IpStat::fragmemdrop);
  }
  if (it != rs.queues.end() &&
      it->second.frags.size() >= static_cast<size_t>(rs.maxfragsperpacket)) {
    // A datagram in more pieces than any sane sender makes (FreeBSD
    // maxfragsperpacket): give it up.
    ++st.fragmemdrop;
    reass_free(stack, it);
    ++st.fragdropped;
    return {};
  }

  // --- against the other fragments ---
  if (it != rs.queues.end()) {
    IpReassQueue& q = it->second;
    // The end of the datagram, once known, cannot move (RFC 791 §3.2: the
    // last fragment fixes the total length).
    uint32_t max_end = q.frags.empty() ? 0 : q.frags.back().end;
    bool inconsistent =
        mf ? (q.have_last && end > q.total) : ((q.have_last && end != q.total) || end < max_end);
    if (inconsistent) {
      ++st.fragbad;
      reass_free(stack, it);
      ++st.fragdropped;
      return {};
    }
    auto pos = std::lower_bound(q.frags.begin(), q.frags.end(), off,
                                [](const IpFragment& f, uint32_t o) { return f.off < o; });
    if (pos != q.frags.end() && pos->off == off && pos->end == end) {
      return frag_drop(stack, &IpStat::fragdup);  // a retransmitted copy (Linux IPFRAG_DUP)
    }
    bool overlaps = (pos != q.frags.end() && pos->off < end) ||
                    (pos != q.frags.begin() && std::prev(pos)->end > off);
    if (overlaps) {
      // Linux ≥ 4.19 (and RFC 5722 for IPv6): overlapping fragments are
      // an attack or a broken sender; the whole datagram goes.
      ++st.fragoverlap;
      reass_free(stack, it);
      ++st.fragdropped;
      return {};
    }
  } else {
    it = rs.queues.emplace(key, IpReassQueue{}).first;
    it->second.expire = stack.now() + std::chrono::seconds(rs.fragttl);
    if (!rs.timer) {
      rs.timer = std::make_unique<Callout>(stack.callouts(), [&stack] { reass_timeout(stack); });
    }
    if (!rs.timer->pending() || rs.timer->deadline() > it->second.expire) {
      rs.timer->reset_at(it->second.expire);
    }
  }
  IpReassQueue& q = it->second;
  auto pos = std::lower_bound(q.frags.begin(), q.frags.end(), off,
                              [](const IpFragment& f, uint32_t o) { return f.off < o; });
  q.frags.insert(pos, IpFragment{off, end, static_cast<uint8_t>(hlen), std::move(m)});
  q.mem += charge;
  rs.mem += charge;
  if (!mf) {
    q.have_last = true;
    q.total = end;
  }

  // --- complete? ---
  if (!q.have_last) {
    return {};
  }
  uint32_t expect = 0;
  for (const IpFragment& f : q.frags) {
    if (f.off != expect) {
      return {};  // a hole remains
    }
    expect = f.end;
  }
  if (expect != q.total) {
    return {};
  }
  Mbuf whole = std::move(q.frags.front().m);
  size_t hlen0 = q.frags.front().hlen;
  for (size_t i = 1; i < q.frags.size(); ++i) {
    Mbuf piece = std::move(q.frags[i].m);
    piece.trim_front(q.frags[i].hlen);
    whole.concat(std::move(piece));
  }
  uint32_t total = q.total;
  rs.mem -= q.mem;
  rs.queues.erase(it);
  auto hdr = whole.pullup(hlen0);
  if (hdr.empty()) {
    ++st.odropped;
    return {};
  }
  // The first fragment's header, with the datagram's length and no
  // fragment fields: what the sender would have sent unfragmented.
  store_be16(hdr, 2, static_cast<uint16_t>(hlen0 + total));
  store_be16(hdr, 6, 0);
  ip_header_set_checksum(hdr);
  ++st.reassembled;
  return whole;
}

void ip_reass_drain(Stack& stack) noexcept {
  IpReassState& rs = stack.ip.reass;
  rs.queues.clear();
  rs.mem = 0;
  rs.timer.reset();
}

}  // namespace iopkt
