// netinet/raw_ip.cc — raw IPv4 sockets (BSD raw_ip.c, Linux raw(7)):
// SOCK_RAW with a protocol receives a copy of every packet of that protocol
// delivered to this host, IP header included, filtered by the socket's
// bound and connected addresses; it sends payloads to which the stack adds
// the IP header, or, with IP_HDRINCL (implied by IPPROTO_RAW), whole
// packets whose header the caller wrote.
//
// Privilege (CAP_NET_RAW, io-pkt's droproot mask) is checked with issue 9.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>

#include "core/stack.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

namespace {

// The receive metadata of `m` (at its IP header) for IP_PKTINFO and
// friends. Frames from a driver carry their interface's index; packets
// this stack looped back through lo0 carry none.
DgramRecvInfo rip_recv_info(Stack& stack, const Mbuf& m) {
  std::array<std::byte, IpHeader::kMinSize> h{};
  (void)m.copy_out(0, h);  // ip_input validated at least this much
  uint32_t index = m.hdr().rcvif;
  const Ifnet* rcvif = index != 0 ? stack.if_by_index(index) : &stack.loopback();
  return ip_recv_info(h, rcvif);
}

}  // namespace

bool rip_input(Stack& stack, const Mbuf& m, InAddr src, InAddr dst, uint8_t proto) noexcept {
  bool taken = false;
  std::optional<DgramRecvInfo> info;  // computed for the first taker
  for (Socket* so : stack.ip.raw_sockets) {
    // IPPROTO_RAW sockets only send (Linux raw(7): "receiving of all IP
    // protocols via IPPROTO_RAW is not possible").
    if (so->protocol != proto || so->protocol == kIpProtoRaw || so->cant_recv) {
      continue;
    }
    if ((!so->inp.laddr.is_any() && so->inp.laddr != dst) ||
        (!so->inp.faddr.is_any() && so->inp.faddr != src)) {
      continue;
    }
    taken = true;
    if (so->rcv_cc + m.len() > so->rcv_hiwat) {
      ++so->rcv_drops;
      ++stack.ip.stat.rawfull;
      continue;
    }
    Mbuf copy = m.share(0, m.len());  // shared clusters: later writers copy first
    if (!copy) {
      ++stack.ip.stat.rawfull;
      continue;
    }
    if (!info) {
      info = rip_recv_info(stack, m);
    }
    so->rcv_cc += copy.len();
    so->rcv.push_back(Datagram{std::move(copy), SockAddr::inet(src, 0), *info});
    stack.so_wakeup(*so);
  }
  return taken;
}

Result<void, Errno> rip_attach(Stack& stack, Socket& so) {
  if (so.protocol == kIpProtoRaw) {
    so.hdrincl = true;  // raw(7): IPPROTO_RAW implies IP_HDRINCL
  }
  stack.ip.raw_sockets.push_back(&so);
  return {};
}

void rip_detach(Stack& stack, Socket& so) { std::erase(stack.ip.raw_sockets, &so); }

Result<void, Errno> rip_bind(Stack& stack, Socket& so, const SockAddr& addr) {
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (!addr.in.is_any() && !addr.in.is_multicast() && !addr.in.is_broadcast() &&
      stack.in_local_ifnet(addr.in) == nullptr) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  so.inp.laddr = addr.in;  // the port has no meaning for raw sockets
  return {};
}

Result<void, Errno> rip_connect(Stack& stack, Socket& so, const SockAddr& addr) {
  if (addr.family == AF_UNSPEC) {
    so.inp.faddr = InAddr::any();
    return {};
  }
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  auto route = ip_route_lookup(stack, addr.in, so.fib);
  if (!route) {
    return Err(Errno{ip_output_errno(route.error())});
  }
  so.inp.faddr = addr.in;
  return {};
}

Result<void, Errno> rip_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to,
                             const DgramSendOpts* opts) {
  auto where = in_send_destination(so, to);
  if (!where) {
    return Err(where.error());
  }
  InAddr dst = *where;
  if (so.hdrincl) {
    // The caller's header, checked before it goes anywhere: version 4, a
    // header length inside the packet, a total length equal to what was
    // written (BSD rip_output; Linux overwrites it, we refuse a lie), and
    // well-formed options. The header's destination routes the packet,
    // as BSD. Ancillary TTL and TOS have no say over the caller's header
    // (Linux raw_send_hdrinc), nor, here, IP_PKTINFO.
    if (payload.len() > kIpMaxPacket) {
      return Err(Errno{EMSGSIZE});
    }
    auto h = payload.pullup(std::min(payload.len(), kIpMaxHeader));
    if (h.size() < IpHeader::kMinSize) {
      return Err(Errno{EINVAL});
    }
    uint8_t vhl = std::to_integer<uint8_t>(h[0]);
    size_t hlen = size_t{vhl & 0xfu} * 4;
    if ((vhl >> 4) != 4 || hlen < IpHeader::kMinSize || hlen > h.size() ||
        load_be16(h, 2) != payload.len()) {
      return Err(Errno{EINVAL});
    }
    if (hlen > IpHeader::kMinSize &&
        !ip_options_check(h.subspan(IpHeader::kMinSize, hlen - IpHeader::kMinSize))) {
      return Err(Errno{EINVAL});
    }
    InAddr hdst{load_be32(h, 16)};
    if (hdst.is_broadcast() && !(so.options & kSoBroadcast)) {
      return Err(Errno{EACCES});
    }
    auto r = ip_output_hdrincl(stack, std::move(payload), 0);
    if (!r) {
      return Err(Errno{ip_output_errno(r.error())});
    }
    return {};
  }
  if (payload.len() > kIpMaxPacket - IpHeader::kMinSize) {
    return Err(Errno{EMSGSIZE});
  }
  if (dst.is_broadcast() && !(so.options & kSoBroadcast)) {
    return Err(Errno{EACCES});  // as Linux raw_sendmsg
  }
  IpOutputArgs args;
  IpRoute route;
  if (auto r = in_send_route(stack, so, opts, dst, args, route); !r) {
    return r;
  }
  args.protocol = static_cast<uint8_t>(so.protocol);
  auto r = ip_output(stack, std::move(payload), args);
  if (!r) {
    return Err(Errno{ip_output_errno(r.error())});
  }
  return {};
}

Result<void, Errno> rip_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to) {
  return rip_send(stack, so, std::move(payload), to, nullptr);
}

}  // namespace iopkt
