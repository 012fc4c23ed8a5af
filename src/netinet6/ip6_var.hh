// netinet6/ip6_var.hh — IPv6 state, limits and counters (BSD ip6_var.h).
// Every drop has a named reason counter (ip6stat_fields gives the names
// for sysctl and netstat -s once IPv6 is wired into the stack).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "kern/time.hh"
#include "netinet/in.hh"

namespace iopkt {

struct Ip6Stat {
  uint64_t total = 0;     // packets given to the header walk
  uint64_t tooshort = 0;  // shorter than the fixed header
  uint64_t badvers = 0;   // version != 6
  uint64_t badlen = 0;    // payload length beyond the packet
  uint64_t badaddr = 0;   // source or destination that may not arrive (RFC 4291)
  // Extension headers (RFC 8200 §4, RFC 8504 §5.3).
  uint64_t truncated = 0;     // an extension header runs past the payload
  uint64_t toomanyhdrs = 0;   // more extension headers than ip6.max_ext_headers
  uint64_t chaintoolong = 0;  // extension headers longer than ip6.max_chain_bytes
  uint64_t toomanyopts = 0;   // more non-padding options than ip6.max_options
  uint64_t badopt = 0;        // malformed option: parameter problem code 0
  uint64_t badpad = 0;        // padding over 7 bytes or not zero (as Linux)
  uint64_t unknownopt = 0;    // unrecognised option whose action bits drop the packet
  uint64_t hbhnotfirst = 0;   // hop-by-hop header not first: parameter problem code 1
  uint64_t rthdr0 = 0;        // type 0 routing header with segments left (RFC 5095)
  uint64_t rthdr = 0;         // other routing header with segments left: not a router
  uint64_t nonext = 0;        // no next header (59): nothing to deliver
  uint64_t paramprob = 0;     // verdicts asking for a parameter problem message
  uint64_t nobufs = 0;        // out of clusters for a pullup or a prepend
  // Fragments (RFC 8200 §4.5, RFC 5722, RFC 6946, RFC 7112).
  uint64_t fragments = 0;         // fragments received (atomic ones not counted)
  uint64_t atomicfrags = 0;       // atomic fragments, processed in isolation
  uint64_t fragdropped = 0;       // fragments dropped, for any reason below
  uint64_t fragbadlen = 0;        // non-last fragment not a multiple of 8
  uint64_t fragtoolong = 0;       // would exceed 65535 bytes of payload
  uint64_t fragtruncchain = 0;    // first fragment without the whole header chain
  uint64_t fragbad = 0;           // zero length, or contradicting the known end
  uint64_t fragnested = 0;        // a second Fragment header in one packet
  uint64_t fragoverlap = 0;       // datagrams dropped for overlapping fragments
  uint64_t fragafteroverlap = 0;  // fragments of an overlapped datagram, arriving later
  uint64_t fragdup = 0;           // exact duplicates (dropped alone, harmless)
  uint64_t fragmemdrop = 0;       // dropped by the memory or queue limits
  uint64_t fragtimeout = 0;       // datagrams given up after ip6.fragttl
  uint64_t reassembled = 0;       // datagrams reassembled
};

struct Ip6CounterInfo {
  const char* name;
  uint64_t Ip6Stat::*field;
};
std::span<const Ip6CounterInfo> ip6stat_fields();

// Limits on what one packet may make the stack walk (RFC 8504 §5.3 lets a
// host set them; picoTCP CVE-2020-17442/-17444 show why). Defaults accept
// every chain RFC 8200 §4.1's recommended order can build.
struct Ip6Limits {
  int64_t max_ext_headers = 10;    // extension headers before the upper layer
  int64_t max_chain_bytes = 1024;  // their total length (kept under a cluster)
  int64_t max_options = 8;         // non-padding options per header (Linux max_*_opts_cnt)
};

// A datagram being reassembled is keyed by (src, dst, id): RFC 8200 §4.5
// leaves the upper protocol out of the key.
struct Ip6ReassKey {
  In6Addr src, dst;
  uint32_t id = 0;
  auto operator<=>(const Ip6ReassKey&) const = default;
};
struct Ip6Fragment {
  uint32_t off = 0, end = 0;  // fragmentable bytes [off, end) of the datagram
  uint32_t hlen = 0;          // bytes before them in this fragment (through its Fragment header)
  Mbuf m;                     // the whole fragment as received
};
struct Ip6ReassQueue {
  std::vector<Ip6Fragment> frags;  // sorted by off, never overlapping
  uint32_t total = 0;              // fragmentable length, known once the last fragment came
  bool have_last = false;
  // RFC 5722 §4: after an overlap the datagram is dead; its fragments
  // still to come are dropped until the queue would have timed out.
  bool dead = false;
  uint32_t unfrag_len = 0;  // from the offset-0 fragment: bytes before its Fragment header
  uint32_t nxt_at = 0;      // ... the Next Header field naming the Fragment header
  uint8_t nxt = 0;          // ... its Fragment header's Next Header
  Instant expire{};
  size_t mem = 0;  // charged against Ip6ReassState::mem
};
struct Ip6ReassState {
  std::map<Ip6ReassKey, Ip6ReassQueue> queues;
  size_t mem = 0;
  std::unique_ptr<Callout> timer;  // the earliest expiry; created on first use
  int64_t fragttl = 60;            // seconds, RFC 8200 §4.5
  int64_t maxfragpackets = 256;    // datagrams at once
  int64_t maxfragsperpacket = 64;  // fragments per datagram
  int64_t maxfragmem = 4 << 20;    // bytes charged by every queue
  // Time Exceeded code 1 for a datagram that timed out with its first
  // fragment held (RFC 8200 §4.5): given that fragment. Null: dropped.
  // TODO(issue 7): ICMPv6 output sets this.
  std::function<void(Mbuf)> time_exceeded;
};

// Stays where it is once reassembly ran: the timer's handler holds its
// address (as Stack members do).
struct Ip6State {
  Ip6Stat stat;
  Ip6Limits limits;
  Ip6ReassState reass;
};

}  // namespace iopkt
