// netinet/ip_output.cc — IPv4 output, RFC 791 §3.2 and RFC 1122 §3.3.
//
// Chooses the interface and source (ip_route_lookup), prepends the header
// and hands the packet to the interface. Today packets to this host's own
// addresses and to 127/8 go through lo0, as BSD routes local addresses
// through the loopback; connected subnets go out on their interface (ARP
// resolves the next hop on Ethernet); the routing table with gateways and
// fragmentation arrive with the IPv4 issue.
#include <cerrno>

#include "core/stack.hh"
#include "netinet/if_arp.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

int ip_output_errno(IpOutputError e) {
  switch (e) {
    case IpOutputError::kNoRoute: return ENETUNREACH;
    case IpOutputError::kNoBuffers: return ENOBUFS;
    case IpOutputError::kTooBig: return EMSGSIZE;
    case IpOutputError::kHostUnreach: return EHOSTUNREACH;
  }
  return EIO;
}

Result<IpRoute, IpOutputError> ip_route_lookup(Stack& stack, InAddr dst) {
  Ifnet& lo = stack.loopback();
  if (dst.is_loopback()) {
    if (!lo.is_up()) {
      return Err(IpOutputError::kNoRoute);
    }
    return IpRoute{&lo, InAddr::loopback()};
  }
  if (Ifnet* owner = stack.in_local_ifnet(dst)) {
    // RFC 1122 §3.3.1.6 allows the host to send to itself; the source is
    // the address itself, as Linux and BSD choose for a local destination.
    if (!lo.is_up() || !owner->is_up()) {
      return Err(IpOutputError::kNoRoute);
    }
    return IpRoute{&lo, dst};
  }
  for (const auto& ifp : stack.interfaces()) {
    if (!ifp->is_up() || ifp->type == IfType::kLoopback) {
      continue;
    }
    for (const auto& ia : ifp->in_addrs) {
      if (ia.contains(dst) || (dst.is_broadcast() && (ifp->flags & kIffBroadcast))) {
        return IpRoute{ifp.get(), ia.addr, dst};
      }
    }
  }
  return Err(IpOutputError::kNoRoute);
}

Result<IpOutputOk, IpOutputError> ip_output(Stack& stack, Mbuf m, const IpOutputArgs& args) noexcept {
  IpStat& st = stack.ip.stat;
  auto route = ip_route_lookup(stack, args.dst);
  if (!route) {
    ++st.noroute;
    return Err(route.error());
  }
  Ifnet& ifp = *route->ifp;
  size_t total = m.len() + IpHeader::kMinSize;
  if (total > ifp.mtu || total > 0xffff) {
    ++st.toolong;  // fragmentation on output arrives with the IPv4 issue
    return Err(IpOutputError::kTooBig);
  }
  auto hdr = m.prepend(IpHeader::kMinSize);
  if (hdr.empty()) {
    ++st.odropped;
    return Err(IpOutputError::kNoBuffers);
  }
  IpFields f;
  f.tos = args.tos;
  f.total_len = static_cast<uint16_t>(total);
  f.id = stack.ip.next_id++;
  f.ttl = args.ttl;
  f.protocol = args.protocol;
  f.src = args.src.is_any() ? route->src : args.src;
  f.dst = args.dst;
  f.emit(hdr);
  ++st.localout;
  if (ifp.type == IfType::kLoopback) {
    // looutput(): count, then receive on lo0 once this call unwinds.
    ++ifp.stats.opackets;
    ifp.stats.obytes += total;
    m.hdr().flags |= kMbufLoop;
    stack.netisr_enqueue(ifp, std::move(m));
    return IpOutputOk{};
  }
  if (ifp.type == IfType::kEther) {
    ether_output_ip(stack, ifp, std::move(m), route->nexthop);
  } else {
    stack.if_enqueue(ifp, std::move(m));
  }
  return IpOutputOk{};
}

}  // namespace iopkt
