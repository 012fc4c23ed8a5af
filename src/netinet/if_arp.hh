// netinet/if_arp.hh — ARP for IPv4 over Ethernet, RFC 826, with the host
// requirements of RFC 1122 §2.3.2: a cache with time-outs, a bounded queue of
// packets waiting for resolution, retries and gratuitous announcements.
// Read RFC 826 ("Packet Reception") before changing if_arp.cc.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "kern/time.hh"
#include "netinet/in.hh"

namespace iopkt {

class Stack;
class Ifnet;

using EtherAddr = std::array<uint8_t, 6>;

enum class ArpState : uint8_t {
  kIncomplete,  // asked, no answer yet; packets wait in `hold`
  kResolved,    // usable until `expire`
};

struct ArpEntry {
  ArpState state = ArpState::kIncomplete;
  bool permanent = false;  // arp -s: never expires, never replaced by the wire
  EtherAddr mac{};
  Instant expire{};
  int asked = 0;          // requests sent while incomplete
  std::deque<Mbuf> hold;  // IP packets waiting, bounded by kArpMaxHold
  std::unique_ptr<Callout> timer;
};

struct ArpStat {
  uint64_t rxrequests = 0, rxreplies = 0, txrequests = 0, txreplies = 0;
  uint64_t received = 0;
  uint64_t badlen = 0;     // truncated
  uint64_t badformat = 0;  // not Ethernet/IPv4, or a bad opcode
  uint64_t badaddr = 0;    // sender is broadcast/multicast or zero
  uint64_t dupaddr = 0;    // someone else claims one of our addresses
  uint64_t holddrops = 0;  // waiting queue full
  uint64_t timeouts = 0;   // no answer after every retry
  uint64_t dropped = 0;    // packets dropped with a timed-out entry
};

struct ArpCounterInfo {
  const char* name;
  uint64_t ArpStat::*field;
};
std::span<const ArpCounterInfo> arpstat_fields();

struct ArpKey {
  uint32_t ifindex;
  uint32_t addr;
  auto operator<=>(const ArpKey&) const = default;
};

struct ArpTable {
  ArpStat stat;
  std::map<ArpKey, ArpEntry> entries;
  int64_t keep_seconds = 1200;  // net.inet.arp.keep: BSD's 20 minutes
  int64_t max_tries = 5;        // net.inet.arp.maxtries (RFC 1122 §2.3.2.1 flooding limit)
  int64_t max_hold = 16;        // net.inet.arp.maxhold: packets queued per entry
};

// A frame with EtherType 0x0806 (`m` after the Ethernet header).
void arp_input(Stack& stack, Mbuf m, Ifnet& ifp) noexcept;
// Send an IPv4 packet to `nexthop` on an Ethernet interface, resolving
// the link address (packets wait while a request is out). Consumes m.
void ether_output_ip(Stack& stack, Ifnet& ifp, Mbuf m, InAddr nexthop) noexcept;
// Announce `addr` on `ifp` (gratuitous ARP request, RFC 5227 §3).
void arp_announce(Stack& stack, Ifnet& ifp, InAddr addr) noexcept;
// arp -s: an entry set by hand (replaces a learnt one); permanent unless
// `temp` (then it expires as a learnt one would). EINVAL for a group MAC,
// ENETUNREACH when `addr` is not on a subnet of `ifp`.
Result<void, Errno> arp_add_static(Stack& stack, Ifnet& ifp, InAddr addr, const EtherAddr& mac,
                                   bool temp = false);
// arp -d: ENOENT when there is no entry (ifp null: any interface).
Result<void, Errno> arp_delete(Stack& stack, Ifnet* ifp, InAddr addr);
// Forget every entry of an interface (detach, address change).
void arp_ifdetach(Stack& stack, Ifnet& ifp) noexcept;
// Prepend an Ethernet II header and queue the frame. Consumes m.
void ether_output_frame(Stack& stack, Ifnet& ifp, Mbuf m, const EtherAddr& dst,
                        uint16_t type) noexcept;

}  // namespace iopkt
