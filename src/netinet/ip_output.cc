// netinet/ip_output.cc — IPv4 output, RFC 791 §3.2 and RFC 1122 §3.3.
//
// Chooses the interface, source and next hop (ip_route_lookup, in
// ip_route.cc), prepends the header and hands the packet to the interface;
// ARP resolves the next hop on Ethernet.
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

Result<IpOutputOk, IpOutputError> ip_output(Stack& stack, Mbuf m, const IpOutputArgs& args) noexcept {
  IpStat& st = stack.ip.stat;
  auto route = args.route != nullptr ? Result<IpRoute, IpOutputError>(*args.route)
                                     : ip_route_lookup(stack, args.dst, args.fib);
  if (!route) {
    ++st.noroute;
    return Err(route.error());
  }
  if (route->blackhole) {
    ++st.odropped;  // a blackhole route: dropped without a word (RTF_BLACKHOLE)
    return IpOutputOk{};
  }
  Ifnet& ifp = *route->ifp;
  size_t total = m.len() + IpHeader::kMinSize;
  if (total > route->mtu || total > 0xffff) {
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
