// netinet/ip_output.cc — IPv4 output, RFC 791 §3.2 and RFC 1122 §3.3.
//
// Chooses the interface, source and next hop (ip_route_lookup, in
// ip_route.cc), prepends the header, fragments by the route's MTU (RFC 791
// §3.2) and hands the packets to the interface; ARP resolves the next hop
// on Ethernet; to a group, the interface comes from in_mcast_route and a
// copy may loop back (IP_MULTICAST_LOOP). Locally generated packets carry
// no IP options but IGMP's Router Alert (RFC 2113); a header
// written by a raw socket (IP_HDRINCL) keeps its own, and its later
// fragments repeat only the options with the copied flag.
#include <algorithm>
#include <array>
#include <cerrno>
#include <vector>

#include "core/stack.hh"
#include "netinet/if_arp.hh"
#include "netinet/in_mcast.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

int ip_output_errno(IpOutputError e) {
  switch (e) {
    case IpOutputError::kNoRoute:
      return ENETUNREACH;
    case IpOutputError::kNoBuffers:
      return ENOBUFS;
    case IpOutputError::kTooBig:
      return EMSGSIZE;
    case IpOutputError::kHostUnreach:
      return EHOSTUNREACH;
  }
  return EIO;
}

namespace {

// Hand one finished packet (header and checksum written) to the interface.
void ip_if_output(Stack& stack, const IpRoute& route, Mbuf m) noexcept {
  Ifnet& ifp = *route.ifp;
  if (ifp.type == IfType::kLoopback) {
    // looutput(): count, then receive on lo0 once this call unwinds.
    ++ifp.stats.opackets;
    ifp.stats.obytes += m.len();
    m.hdr().flags |= kMbufLoop;
    stack.netisr_enqueue(ifp, std::move(m));
    return;
  }
  if (ifp.type == IfType::kEther) {
    ether_output_ip(stack, ifp, std::move(m), route.nexthop);
  } else {
    stack.if_enqueue(ifp, std::move(m));
  }
}

// Send `pkt` (complete header at the front, `hlen` bytes) by the route,
// in fragments when it exceeds the MTU. RFC 791 §3.2 "Fragmentation":
// every fragment but the last carries a multiple of 8 data bytes and MF;
// the offset counts 8-byte units; the first fragment keeps every option,
// the others only those with the copied flag.
Result<IpOutputOk, IpOutputError> ip_output_finish(Stack& stack, const IpRoute& route, Mbuf pkt,
                                                   size_t hlen) noexcept {
  IpStat& st = stack.ip.stat;
  if (pkt.len() <= route.mtu) {
    ip_if_output(stack, route, std::move(pkt));
    return IpOutputOk{};
  }
  std::array<std::byte, kIpMaxHeader> hdr{};
  if (!pkt.copy_out(0, std::span(hdr).first(hlen))) {
    ++st.odropped;
    return Err(IpOutputError::kNoBuffers);
  }
  uint16_t frag = load_be16(hdr, 6);
  if (frag & IpHeader::kFlagDf) {
    // RFC 1191 §3 (DF): never fragmented; the local sender learns EMSGSIZE,
    // as BSD and Linux report it.
    ++st.cantfrag;
    return Err(IpOutputError::kTooBig);
  }
  // A packet that is already a fragment (IP_HDRINCL) is split further: the
  // pieces continue its offset and the last keeps its MF.
  size_t base = static_cast<size_t>(frag & IpHeader::kOffMask) * 8;
  bool last_mf = (frag & IpHeader::kFlagMf) != 0;
  std::span<const std::byte> opts =
      std::span(hdr).subspan(IpHeader::kMinSize, hlen - IpHeader::kMinSize);
  std::vector<std::byte> later_opts = ip_options_copied(opts);
  size_t later_hlen = IpHeader::kMinSize + later_opts.size();
  size_t first_room = (route.mtu - hlen) & ~size_t{7};
  size_t later_room = (route.mtu - later_hlen) & ~size_t{7};
  size_t payload = pkt.len() - hlen;
  if (first_room < 8 || later_room < 8 || base + payload > kIpMaxPacket - hlen) {
    ++st.cantfrag;  // an MTU below 68 cannot happen (if_set_mtu), but be sure
    return Err(IpOutputError::kTooBig);
  }
  ++st.fragmented;
  size_t off = 0;
  while (off < payload) {
    bool first = off == 0;
    size_t h = first ? hlen : later_hlen;
    size_t piece = std::min(payload - off, first ? first_room : later_room);
    bool more = off + piece < payload || last_mf;
    Mbuf f = pkt.share(hlen + off, piece);
    auto out = f ? f.prepend(h) : std::span<std::byte>{};
    if (out.empty()) {
      ++st.odropped;  // the fragments already sent are lost with it
      return Err(IpOutputError::kNoBuffers);
    }
    std::copy_n(hdr.begin(), IpHeader::kMinSize, out.begin());
    if (first) {
      std::copy_n(hdr.begin() + IpHeader::kMinSize, hlen - IpHeader::kMinSize,
                  out.begin() + IpHeader::kMinSize);
    } else {
      std::copy(later_opts.begin(), later_opts.end(), out.begin() + IpHeader::kMinSize);
    }
    out[0] = std::byte{static_cast<uint8_t>(0x40 | (h / 4))};
    store_be16(out, 2, static_cast<uint16_t>(h + piece));
    store_be16(out, 6, static_cast<uint16_t>((more ? IpHeader::kFlagMf : 0) | ((base + off) / 8)));
    ip_header_set_checksum(out.first(h));
    ++st.ofragments;
    ip_if_output(stack, route, std::move(f));
    off += piece;
  }
  return IpOutputOk{};
}

// RFC 2113 §2.1: type 148 (copied), length 4, value 0 ("every router
// examines the packet"). `hdr` is the 24-byte header with the first 20
// written; the checksum is redone.
constexpr size_t kIpOptRouterAlertLen = 4;
void ip_add_router_alert(std::span<std::byte> hdr) {
  hdr[0] = std::byte{0x46};
  hdr[20] = std::byte{0x94};
  hdr[21] = std::byte{0x04};
  hdr[22] = std::byte{0};
  hdr[23] = std::byte{0};
  ip_header_set_checksum(hdr);
}

// RFC 1112 §6.3 (IP_MULTICAST_LOOP): a copy of a datagram sent to a group
// the outgoing interface joined is delivered here, as if received on that
// interface, once the current call unwinds (Linux ip_mc_output loops it
// on the device; BSD ip_mloopback on the interface).
void ip_mcast_loop(Stack& stack, Ifnet& ifp, const Mbuf& m, const IpOutputArgs& args,
                   InAddr src) noexcept {
  if (!args.mcast_loop || !in_mcast_accepts(stack, ifp, args.dst, src)) {
    return;
  }
  Mbuf copy = m.share(0, m.len());
  if (!copy) {
    ++stack.ip.stat.odropped;
    return;
  }
  copy.hdr().flags |= kMbufLoop;
  ++stack.ip.stat.mcastlooped;
  stack.netisr_enqueue(ifp, std::move(copy));
}

Result<IpRoute, IpOutputError> ip_output_route(Stack& stack, const IpRoute* given, InAddr dst,
                                               uint32_t fib) {
  return given != nullptr ? Result<IpRoute, IpOutputError>(*given)
                          : ip_route_lookup(stack, dst, fib);
}

}  // namespace

Result<IpOutputOk, IpOutputError> ip_output(Stack& stack, Mbuf m,
                                            const IpOutputArgs& args) noexcept {
  IpStat& st = stack.ip.stat;
  // A group is reached through the interface the socket chose, or the
  // route's (in_mcast.cc); the next hop is the group itself.
  auto route = args.route == nullptr && args.dst.is_multicast()
                   ? in_mcast_route(stack, args.dst, args.mcast_ifindex, args.src, args.fib)
                   : ip_output_route(stack, args.route, args.dst, args.fib);
  if (!route) {
    ++st.noroute;
    return Err(route.error());
  }
  if (route->blackhole) {
    ++st.odropped;  // a blackhole route: dropped without a word (RTF_BLACKHOLE)
    return IpOutputOk{};
  }
  size_t hlen = IpHeader::kMinSize + (args.router_alert ? kIpOptRouterAlertLen : 0);
  size_t total = m.len() + hlen;
  if (total > kIpMaxPacket) {
    ++st.toolong;  // RFC 791 §3.1: the total length field has 16 bits
    return Err(IpOutputError::kTooBig);
  }
  if (args.df && total > route->mtu) {
    ++st.cantfrag;
    return Err(IpOutputError::kTooBig);
  }
  auto hdr = m.prepend(hlen);
  if (hdr.empty()) {
    ++st.odropped;
    return Err(IpOutputError::kNoBuffers);
  }
  IpFields f;
  f.tos = args.tos;
  f.total_len = static_cast<uint16_t>(total);
  f.id = stack.ip.next_id++;
  f.frag = args.df ? IpHeader::kFlagDf : 0;
  f.ttl = args.ttl;
  f.protocol = args.protocol;
  f.src = args.src.is_any() ? route->src : args.src;
  f.dst = args.dst;
  f.emit(hdr);
  if (args.router_alert) {
    ip_add_router_alert(hdr);
  }
  ++st.localout;
  if (args.dst.is_multicast() && route->ifp->type != IfType::kLoopback) {
    ip_mcast_loop(stack, *route->ifp, m, args, f.src);
    if (args.ttl == 0) {
      return IpOutputOk{};  // Linux ip_mc_output: TTL 0 never leaves the host
    }
  }
  return ip_output_finish(stack, *route, std::move(m), hlen);
}

Result<IpOutputOk, IpOutputError> ip_output_hdrincl(Stack& stack, Mbuf m, uint32_t fib) noexcept {
  IpStat& st = stack.ip.stat;
  auto h = m.pullup(std::min(m.len(), kIpMaxHeader));
  if (h.size() < IpHeader::kMinSize) {
    ++st.odropped;
    return Err(IpOutputError::kNoBuffers);
  }
  size_t hlen = (std::to_integer<size_t>(h[0]) & 0xf) * 4;
  InAddr dst{load_be32(h, 16)};
  auto route = dst.is_multicast() ? in_mcast_route(stack, dst, 0, InAddr::any(), fib)
                                  : ip_route_lookup(stack, dst, fib);
  if (!route) {
    ++st.noroute;
    return Err(route.error());
  }
  if (route->blackhole) {
    ++st.odropped;
    return IpOutputOk{};
  }
  // As Linux raw_send_hdrinc: fill what the caller left zero.
  if (load_be32(h, 12) == 0) {
    store_be32(h, 12, route->src.v);
  }
  if (load_be16(h, 4) == 0) {
    store_be16(h, 4, stack.ip.next_id++);
  }
  ip_header_set_checksum(h.first(hlen));
  ++st.localout;
  return ip_output_finish(stack, *route, std::move(m), hlen);
}

}  // namespace iopkt
