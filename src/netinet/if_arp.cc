// netinet/if_arp.cc — ARP, RFC 826 and RFC 1122 §2.3.2.
#include "netinet/if_arp.hh"

#include <algorithm>
#include <array>

#include "core/stack.hh"
#include "kern/byteorder.hh"

namespace iopkt {

namespace {

constexpr size_t kArpLen = 28;  // Ethernet/IPv4 ARP packet
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kOpRequest = 1, kOpReply = 2;
constexpr EtherAddr kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
// RFC 1122 §2.3.2.1: at most one request a second per destination.
constexpr auto kRetryInterval = std::chrono::seconds(1);

bool mac_is_group(const EtherAddr& m) { return (m[0] & 1) != 0; }
bool mac_is_zero(const EtherAddr& m) {
  return std::all_of(m.begin(), m.end(), [](uint8_t b) { return b == 0; });
}

bool is_ours(const Ifnet& ifp, InAddr a) {
  return std::any_of(ifp.in_addrs.begin(), ifp.in_addrs.end(),
                     [&](const InIfaddr& ia) { return ia.addr == a; });
}

void arp_send(Stack& stack, Ifnet& ifp, uint16_t op, const EtherAddr& eth_dst, InAddr spa,
              const EtherAddr& tha, InAddr tpa) {
  Mbuf m = Mbuf::alloc_zeroed(stack.pool(), kArpLen, 16);
  if (!m) {
    return;
  }
  std::array<std::byte, kArpLen> p{};
  store_be16(p, 0, 1);  // hardware: Ethernet
  store_be16(p, 2, kEtherTypeIpv4);
  p[4] = std::byte{6};
  p[5] = std::byte{4};
  store_be16(p, 6, op);
  for (int i = 0; i < 6; ++i) {
    p[8 + i] = std::byte{ifp.lladdr[i]};
    p[18 + i] = std::byte{tha[i]};
  }
  store_be32(p, 14, spa.v);
  store_be32(p, 24, tpa.v);
  m.copy_in(0, p);
  (op == kOpRequest ? stack.arp.stat.txrequests : stack.arp.stat.txreplies)++;
  ether_output_frame(stack, ifp, std::move(m), eth_dst, kEtherTypeArp);
}

// The source for a request about `target`: our address on the same subnet,
// else the interface's primary address.
InAddr arp_source_for(const Ifnet& ifp, InAddr target) {
  for (const auto& ia : ifp.in_addrs) {
    if (ia.contains(target)) {
      return ia.addr;
    }
  }
  return ifp.in_addrs.empty() ? InAddr::any() : ifp.in_addrs.front().addr;
}

void arp_request(Stack& stack, Ifnet& ifp, InAddr target) {
  arp_send(stack, ifp, kOpRequest, kBroadcastMac, arp_source_for(ifp, target), EtherAddr{}, target);
}

void arp_entry_timer(Stack& stack, ArpKey key);

ArpEntry& arp_entry_create(Stack& stack, ArpKey key) {
  ArpEntry& e = stack.arp.entries[key];
  if (!e.timer) {
    e.timer = std::make_unique<Callout>(stack.callouts());
    e.timer->set_handler([&stack, key] { arp_entry_timer(stack, key); });
  }
  return e;
}

void arp_resolved(Stack& stack, ArpKey key, ArpEntry& e, const EtherAddr& mac) {
  if (e.permanent) {
    return;  // a static entry is not changed by what arrives on the wire
  }
  e.state = ArpState::kResolved;
  e.mac = mac;
  e.asked = 0;
  e.expire = stack.now() + std::chrono::seconds(stack.arp.keep_seconds);
  e.timer->reset_at(e.expire);
  Ifnet* ifp = stack.if_by_index(key.ifindex);
  std::deque<Mbuf> hold;
  hold.swap(e.hold);
  for (auto& m : hold) {
    if (ifp != nullptr) {
      ether_output_frame(stack, *ifp, std::move(m), mac, kEtherTypeIpv4);
    }
  }
}

// Incomplete: ask again or give up. Resolved: the entry has expired.
void arp_entry_timer(Stack& stack, ArpKey key) {
  auto it = stack.arp.entries.find(key);
  if (it == stack.arp.entries.end()) {
    return;
  }
  ArpEntry& e = it->second;
  Ifnet* ifp = stack.if_by_index(key.ifindex);
  if (ifp != nullptr && e.state == ArpState::kIncomplete && e.asked < stack.arp.max_tries) {
    ++e.asked;
    arp_request(stack, *ifp, InAddr{key.addr});
    e.timer->reset(kRetryInterval);
    return;
  }
  if (e.state == ArpState::kIncomplete) {
    ++stack.arp.stat.timeouts;
    stack.arp.stat.dropped += e.hold.size();
  }
  stack.arp.entries.erase(it);  // destroys the callout that is running: allowed
}

}  // namespace

std::span<const ArpCounterInfo> arpstat_fields() {
  static constexpr std::array<ArpCounterInfo, 12> kFields{{
      {"received", &ArpStat::received},
      {"rxrequests", &ArpStat::rxrequests},
      {"rxreplies", &ArpStat::rxreplies},
      {"txrequests", &ArpStat::txrequests},
      {"txreplies", &ArpStat::txreplies},
      {"badlen", &ArpStat::badlen},
      {"badformat", &ArpStat::badformat},
      {"badaddr", &ArpStat::badaddr},
      {"dupaddr", &ArpStat::dupaddr},
      {"holddrops", &ArpStat::holddrops},
      {"timeouts", &ArpStat::timeouts},
      {"dropped", &ArpStat::dropped},
  }};
  return kFields;
}

void ether_output_frame(Stack& stack, Ifnet& ifp, Mbuf m, const EtherAddr& dst,
                        uint16_t type) noexcept {
  auto h = m.prepend(14);
  if (h.empty()) {
    ++ifp.stats.oqdrops;
    return;
  }
  for (int i = 0; i < 6; ++i) {
    h[i] = std::byte{dst[i]};
    h[6 + i] = std::byte{ifp.lladdr[i]};
  }
  store_be16(h, 12, type);
  if (mac_is_group(dst)) {
    ++ifp.stats.omcasts;
  }
  stack.if_enqueue(ifp, std::move(m));
}

void ether_output_ip(Stack& stack, Ifnet& ifp, Mbuf m, InAddr nexthop) noexcept {
  bool bcast = nexthop.is_broadcast() ||
               std::any_of(ifp.in_addrs.begin(), ifp.in_addrs.end(), [&](const InIfaddr& ia) {
                 return !ia.broadcast.is_any() && ia.broadcast == nexthop;
               });
  if (bcast) {
    ether_output_frame(stack, ifp, std::move(m), kBroadcastMac, kEtherTypeIpv4);
    return;
  }
  if (nexthop.is_multicast()) {
    // RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group.
    EtherAddr mac{0x01,
                  0x00,
                  0x5e,
                  static_cast<uint8_t>((nexthop.v >> 16) & 0x7f),
                  static_cast<uint8_t>(nexthop.v >> 8),
                  static_cast<uint8_t>(nexthop.v)};
    ether_output_frame(stack, ifp, std::move(m), mac, kEtherTypeIpv4);
    return;
  }
  ArpKey key{ifp.index, nexthop.v};
  auto it = stack.arp.entries.find(key);
  if (it != stack.arp.entries.end() && it->second.state == ArpState::kResolved) {
    ether_output_frame(stack, ifp, std::move(m), it->second.mac, kEtherTypeIpv4);
    return;
  }
  ArpEntry& e = arp_entry_create(stack, key);
  if (e.hold.size() >= static_cast<size_t>(stack.arp.max_hold)) {
    // Keep the newest, as Linux's unres_qlen: the oldest is likely stale.
    e.hold.pop_front();
    ++stack.arp.stat.holddrops;
  }
  e.hold.push_back(std::move(m));
  if (e.asked == 0) {
    e.asked = 1;
    arp_request(stack, ifp, nexthop);
    e.timer->reset(kRetryInterval);
  }
}

void arp_input(Stack& stack, Mbuf m, Ifnet& ifp) noexcept {
  ArpStat& st = stack.arp.stat;
  ++st.received;
  auto p = m.pullup(kArpLen);
  if (p.size() < kArpLen) {
    ++st.badlen;
    return;
  }
  uint16_t op = load_be16(p, 6);
  if (load_be16(p, 0) != 1 || load_be16(p, 2) != kEtherTypeIpv4 || p[4] != std::byte{6} ||
      p[5] != std::byte{4} || (op != kOpRequest && op != kOpReply)) {
    ++st.badformat;
    return;
  }
  EtherAddr sha{};
  for (int i = 0; i < 6; ++i) {
    sha[i] = std::to_integer<uint8_t>(p[8 + i]);
  }
  InAddr spa{load_be32(p, 14)}, tpa{load_be32(p, 24)};
  (op == kOpRequest ? st.rxrequests : st.rxreplies)++;
  if (mac_is_group(sha) || mac_is_zero(sha) || spa.is_broadcast() || spa.is_multicast()) {
    ++st.badaddr;
    return;
  }
  if (sha == ifp.lladdr) {
    return;  // our own frame, looped back by a hub or a bridge
  }
  if (is_ours(ifp, spa)) {
    ++st.dupaddr;  // another host uses our address (RFC 5227 §2.4); keep it
    return;
  }
  bool for_us = is_ours(ifp, tpa);
  // RFC 826 "Packet Reception": update an entry we have; create one only
  // when the packet is about us (the merge flag).
  ArpKey key{ifp.index, spa.v};
  auto it = stack.arp.entries.find(key);
  if (!spa.is_any() && (it != stack.arp.entries.end() || for_us)) {
    ArpEntry& e = it != stack.arp.entries.end() ? it->second : arp_entry_create(stack, key);
    arp_resolved(stack, key, e, sha);
  }
  if (op == kOpRequest && for_us) {
    arp_send(stack, ifp, kOpReply, sha, tpa, sha, spa);
  }
}

void arp_announce(Stack& stack, Ifnet& ifp, InAddr addr) noexcept {
  if (ifp.type != IfType::kEther || !ifp.is_up()) {
    return;
  }
  arp_send(stack, ifp, kOpRequest, kBroadcastMac, addr, EtherAddr{}, addr);
}

Result<void, Errno> arp_add_static(Stack& stack, Ifnet& ifp, InAddr addr, const EtherAddr& mac,
                                   bool temp) {
  if (ifp.type != IfType::kEther) {
    return Err(Errno{EOPNOTSUPP});
  }
  if (mac_is_group(mac) || mac_is_zero(mac) || addr.is_any() || addr.is_multicast() ||
      addr.is_broadcast()) {
    return Err(Errno{EINVAL});
  }
  bool on_link = std::any_of(ifp.in_addrs.begin(), ifp.in_addrs.end(),
                             [&](const InIfaddr& ia) { return ia.contains(addr); });
  if (!on_link) {
    return Err(Errno{ENETUNREACH});
  }
  ArpKey key{ifp.index, addr.v};
  ArpEntry& e = arp_entry_create(stack, key);
  e.permanent = false;
  arp_resolved(stack, key, e, mac);  // sends what was held, arms the expiry
  if (!temp) {
    e.permanent = true;
    e.timer->stop();
  }
  return {};
}

Result<void, Errno> arp_delete(Stack& stack, Ifnet* ifp, InAddr addr) {
  size_t n = std::erase_if(stack.arp.entries, [&](const auto& kv) {
    return kv.first.addr == addr.v && (ifp == nullptr || kv.first.ifindex == ifp->index);
  });
  if (n == 0) {
    return Err(Errno{ENOENT});
  }
  return {};
}

void arp_ifdetach(Stack& stack, Ifnet& ifp) noexcept {
  std::erase_if(stack.arp.entries, [&](const auto& kv) { return kv.first.ifindex == ifp.index; });
}

}  // namespace iopkt
