// netinet/ip_route.cc — choosing the route of an IPv4 packet (BSD
// rtalloc/in_selectsrc), and the routes users and addresses add.
#include <algorithm>
#include <cerrno>

#include "core/stack.hh"
#include "net/route.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

namespace {

// The source for packets leaving `ifp` towards `nexthop`: the address whose
// subnet holds the next hop, else the primary (RFC 1122 §3.3.4.3).
InAddr in_select_source(const Ifnet& ifp, InAddr nexthop) {
  for (const auto& ia : ifp.in_addrs) {
    if (ia.contains(nexthop)) {
      return ia.addr;
    }
  }
  return ifp.in_addrs.empty() ? InAddr::any() : ifp.in_addrs.front().addr;
}

// The interface whose connected subnet holds `gw` (for a gateway route).
Ifnet* in_gateway_ifnet(Stack& stack, InAddr gw) {
  for (const auto& ifp : stack.interfaces()) {
    if (ifp->type == IfType::kLoopback) {
      continue;
    }
    for (const auto& ia : ifp->in_addrs) {
      if (ia.contains(gw)) {
        return ifp.get();
      }
    }
  }
  return nullptr;
}

}  // namespace

Result<IpRoute, IpOutputError> ip_route_lookup(Stack& stack, InAddr dst, uint32_t fib) {
  RoutingState& rs = stack.rt;
  ++rs.stat.lookups;
  Ifnet& lo = stack.loopback();
  if (dst.is_loopback() || stack.in_local_ifnet(dst) != nullptr) {
    // RFC 1122 §3.3.1.6 lets a host send to itself; the source is the
    // address itself (127.0.0.1 for 127/8), as Linux and BSD choose.
    if (!lo.is_up()) {
      return Err(IpOutputError::kNoRoute);
    }
    return IpRoute{&lo, dst.is_loopback() ? InAddr::loopback() : dst, dst, lo.mtu, false};
  }
  if (dst.is_broadcast()) {
    for (const auto& ifp : stack.interfaces()) {
      if (ifp->is_up() && (ifp->flags & kIffBroadcast) && !ifp->in_addrs.empty()) {
        return IpRoute{ifp.get(), ifp->in_addrs.front().addr, dst, ifp->mtu, false};
      }
    }
    ++rs.stat.unreach;
    return Err(IpOutputError::kNoRoute);
  }
  Rtentry* rt = fib < kMaxFibs ? rs.fib(fib).lookup(dst) : nullptr;
  if (rt == nullptr) {
    ++rs.stat.unreach;
    return Err(IpOutputError::kNoRoute);
  }
  ++rt->use;
  if (rt->flags & (kRtfReject | kRtfBlackhole)) {
    ++rs.stat.reject;
    if (rt->flags & kRtfReject) {
      return Err(IpOutputError::kHostUnreach);
    }
    return IpRoute{nullptr, InAddr::any(), dst, 0, true};
  }
  Ifnet* ifp = stack.if_by_index(rt->ifindex);
  if (ifp == nullptr || !ifp->is_up()) {
    // The route stays, but its interface is down: unreachable for now.
    ++rs.stat.unreach;
    return Err(IpOutputError::kHostUnreach);
  }
  InAddr nexthop = (rt->flags & kRtfGateway) ? rt->gateway : dst;
  InAddr src = rt->ifa.is_any() ? in_select_source(*ifp, nexthop) : rt->ifa;
  if (src.is_any()) {
    ++rs.stat.unreach;
    return Err(IpOutputError::kNoRoute);
  }
  uint32_t mtu = rt->mtu != 0 ? std::min(rt->mtu, ifp->mtu) : ifp->mtu;
  return IpRoute{ifp, src, nexthop, mtu, false};
}

namespace {

Result<void, Errno> in_route_fill(Stack& stack, Rtentry& rt) {
  if (rt.flags & kRtfGateway) {
    if (rt.ifindex == 0) {
      Ifnet* ifp = in_gateway_ifnet(stack, rt.gateway);
      if (ifp == nullptr) {
        return Err(Errno{ENETUNREACH});  // BSD: the gateway must be reachable
      }
      rt.ifindex = ifp->index;
    }
  } else if (rt.ifindex == 0 && !(rt.flags & (kRtfReject | kRtfBlackhole))) {
    return Err(Errno{EINVAL});  // neither a gateway nor an interface
  }
  if (rt.ifindex != 0 && stack.if_by_index(rt.ifindex) == nullptr) {
    return Err(Errno{ENXIO});
  }
  rt.flags |= kRtfUp | kRtfStatic;
  return {};
}

}  // namespace

Result<void, Errno> in_route_add(Stack& stack, uint32_t fib, Rtentry rt) {
  if (fib >= kMaxFibs) {
    return Err(Errno{EINVAL});
  }
  if (auto r = in_route_fill(stack, rt); !r) {
    return r;
  }
  return stack.rt.fib(fib).add(rt);
}

Result<void, Errno> in_route_change(Stack& stack, uint32_t fib, Rtentry rt) {
  if (fib >= kMaxFibs) {
    return Err(Errno{EINVAL});
  }
  if (auto r = in_route_fill(stack, rt); !r) {
    return r;
  }
  return stack.rt.fib(fib).change(rt);
}

Result<void, Errno> in_route_delete(Stack& stack, uint32_t fib, InAddr dst, uint8_t prefixlen) {
  if (fib >= kMaxFibs) {
    return Err(Errno{EINVAL});
  }
  return stack.rt.fib(fib).remove(dst, prefixlen);
}

// Connected routes live in every FIB, as io-pkt's interface routes do.
void in_ifaddr_route_add(Stack& stack, Ifnet& ifp, const InIfaddr& ia) {
  if (ifp.type == IfType::kLoopback) {
    return;  // 127/8 and our own addresses are handled before the table
  }
  Rtentry rt;
  rt.dst = ia.net();
  rt.prefixlen = ia.prefixlen;
  rt.ifindex = ifp.index;
  rt.ifa = ia.addr;
  rt.flags = kRtfUp | kRtfConnected | (ia.prefixlen == 32 ? kRtfHost : 0);
  for (auto& fib : stack.rt.fibs) {
    if (fib) {
      (void)fib->add(rt);  // EEXIST: another address holds the subnet; keep it
    }
  }
  if (!stack.rt.fibs[0]) {
    (void)stack.rt.fib(0).add(rt);
  }
}

void in_ifaddr_route_remove(Stack& stack, Ifnet& ifp, const InIfaddr& ia) {
  for (auto& fib : stack.rt.fibs) {
    if (!fib) {
      continue;
    }
    const Rtentry* rt = fib->find(ia.net(), ia.prefixlen);
    if (rt != nullptr && (rt->flags & kRtfConnected) && rt->ifindex == ifp.index &&
        rt->ifa == ia.addr) {
      (void)fib->remove(ia.net(), ia.prefixlen);
      // Another address of ours on the same subnet takes the route over.
      for (const auto& other : stack.interfaces()) {
        for (const auto& oa : other->in_addrs) {
          if (!(oa.addr == ia.addr) && oa.net() == ia.net() && oa.prefixlen == ia.prefixlen) {
            in_ifaddr_route_add(stack, *other, oa);
          }
        }
      }
    }
  }
}

}  // namespace iopkt
