// net/if_ethersubr.cc — Ethernet II input (BSD ether_input): checks the
// frame, counts it, and hands IPv4 to ip_input and ARP to arp_input. IPv6
// over Ethernet arrives with its issue; until then its frames are counted as
// "noproto" on the interface and dropped.
//
// ARP (if_arp.cc) is dispatched here too. Group frames pass the
// interface's multicast filter first (in_mcast.cc).
#include <algorithm>

#include "core/stack.hh"
#include "kern/byteorder.hh"
#include "netinet/if_arp.hh"
#include "netinet/in_mcast.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

namespace {
constexpr size_t kEtherHeaderLen = 14;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
}  // namespace

void Stack::if_input(Ifnet& ifp, Mbuf frame) noexcept {
  ++ifp.stats.ipackets;
  ifp.stats.ibytes += frame.len();
  if (!ifp.is_up()) {
    ++ifp.stats.iqdrops;
    return;
  }
  frame.hdr().rcvif = ifp.index;
  if (ifp.type == IfType::kRawIp || ifp.type == IfType::kLoopback) {
    ip_input(*this, std::move(frame), ifp);
    netisr_run();
    return;
  }
  auto h = frame.pullup(kEtherHeaderLen);
  if (h.empty()) {
    ++ifp.stats.ierrors;  // runt frame
    return;
  }
  std::span<const std::byte> dst = h.first(6);
  bool bcast =
      std::all_of(dst.begin(), dst.end(), [](std::byte b) { return b == std::byte{0xff}; });
  bool mcast = !bcast && (std::to_integer<uint8_t>(dst[0]) & 1) != 0;
  bool ours =
      std::equal(dst.begin(), dst.end(), reinterpret_cast<const std::byte*>(ifp.lladdr.data()));
  if (!bcast && !mcast && !ours) {
    // Only a promiscuous interface sees other hosts' unicast; the stack
    // does not act on it (BSD ether_input drops it after the bpf tap).
    return;
  }
  if (mcast && !ether_mcast_accepts(*this, ifp, dst)) {
    // RFC 1112 §6.4 and §7.3: a host takes group frames only for groups
    // joined on the interface (the filter a NIC would apply); the Linux
    // side of a TAP or AF_PACKET hands us every one. PROMISC and ALLMULTI
    // open the filter.
    ++ifp.stats.mcastfiltered;
    return;
  }
  if (bcast) {
    frame.hdr().flags |= kMbufBcast;
  } else if (mcast) {
    frame.hdr().flags |= kMbufMcast;
    ++ifp.stats.imcasts;
  }
  uint16_t type = load_be16(h, 12);
  frame.trim_front(kEtherHeaderLen);
  if (type == kEtherTypeIpv4) {
    ip_input(*this, std::move(frame), ifp);
    netisr_run();
    return;
  }
  if (type == kEtherTypeArp) {
    arp_input(*this, std::move(frame), ifp);
    netisr_run();
    return;
  }
  ++ifp.stats.noproto;
}

}  // namespace iopkt
