// manager/session.cc — serving control requests (include/iopkt/control.h).
// Every request is checked before it touches the stack: the body size must
// be exactly the type's, strings NUL-terminated within their fields, enums
// in range. A bad request gets an errno; it never takes the stack down.
#include "manager/session.hh"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "net/if.hh"
#include "net/route.hh"
#include "netinet/if_arp.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

namespace {

template <typename T>
bool read_body(std::span<const std::byte> body, T& out) {
  if (body.size() != sizeof(T)) {
    return false;
  }
  std::memcpy(&out, body.data(), sizeof(T));
  return true;
}

template <typename T>
std::vector<std::byte> bytes_of(const T& v, size_t len = sizeof(T)) {
  std::vector<std::byte> out(len);
  std::memcpy(out.data(), &v, len);
  return out;
}

// A fixed char field as a string: must hold a NUL within its size.
template <size_t N>
std::optional<std::string_view> field_string(const char (&f)[N]) {
  const void* nul = std::memchr(f, '\0', N);
  if (nul == nullptr) {
    return std::nullopt;
  }
  return std::string_view(f, static_cast<const char*>(nul) - f);
}

template <size_t N>
void set_field(char (&f)[N], std::string_view s) {
  size_t n = std::min(s.size(), N - 1);
  std::memcpy(f, s.data(), n);
  f[n] = '\0';
}

CtlReply error_reply(int e, std::string_view message = {}) {
  CtlReply r;
  r.error = e;
  if (!message.empty()) {
    r.body.resize(message.size() + 1);
    std::memcpy(r.body.data(), message.data(), message.size());
  }
  return r;
}

CtlReply ok_reply() { return CtlReply{}; }

template <typename T>
CtlReply body_reply(const T& v, size_t len = sizeof(T)) {
  CtlReply r;
  r.body = bytes_of(v, len);
  return r;
}

CtlReply from_result(const Result<void, Errno>& r) {
  return r ? ok_reply() : error_reply(r.error().value);
}

iopkt_ctl_if_info if_info(const Ifnet& ifp) {
  iopkt_ctl_if_info i{};
  set_field(i.name, ifp.name);
  set_field(i.driver, ifp.driver_name);
  i.index = ifp.index;
  i.flags = ifp.flags;
  i.mtu = ifp.mtu;
  i.link_type = ifp.type == IfType::kEther   ? IOPKT_LINK_ETHER
                : ifp.type == IfType::kRawIp ? IOPKT_LINK_RAW_IP
                                             : 0;
  std::memcpy(i.mac, ifp.lladdr.data(), 6);
  i.link_up = ifp.link_up ? 1 : 0;
  i.caps = ifp.caps;
  const IfStats& s = ifp.stats;
  i.stats = {s.ipackets, s.ierrors, s.iqdrops, s.ibytes,  s.imcasts,   s.opackets,
             s.oerrors,  s.oqdrops, s.obytes,  s.omcasts, s.collisions};
  return i;
}

CtlReply do_if_list(ControlContext& ctx, const iopkt_ctl_list& req) {
  auto filter = field_string(req.name);
  if (!filter) {
    return error_reply(EINVAL);
  }
  iopkt_ctl_if_list_reply rep{};
  const auto& ifs = ctx.stack().interfaces();
  uint32_t i = req.cursor;
  if (!filter->empty() && ctx.stack().if_find(*filter) == nullptr) {
    return error_reply(ENXIO);
  }
  for (; i < ifs.size() && rep.count < IOPKT_CTL_IF_LIST_MAX; ++i) {
    if (!filter->empty() && ifs[i]->name != *filter) {
      continue;
    }
    rep.ifs[rep.count++] = if_info(*ifs[i]);
  }
  rep.next_cursor = i < ifs.size() ? i : 0;
  return body_reply(rep,
                    offsetof(iopkt_ctl_if_list_reply, ifs) + rep.count * sizeof(iopkt_ctl_if_info));
}

// The cursor counts addresses over all (matching) interfaces, IPv4 first
// then IPv6 on each.
CtlReply do_ifaddr_list(ControlContext& ctx, const iopkt_ctl_list& req) {
  auto filter = field_string(req.name);
  if (!filter) {
    return error_reply(EINVAL);
  }
  if (!filter->empty() && ctx.stack().if_find(*filter) == nullptr) {
    return error_reply(ENXIO);
  }
  iopkt_ctl_ifaddr_list_reply rep{};
  uint32_t n = 0;
  bool more = false;
  for (const auto& ifp : ctx.stack().interfaces()) {
    if (!filter->empty() && ifp->name != *filter) {
      continue;
    }
    auto emit = [&](const iopkt_ctl_ifaddr& a) {
      if (n++ < req.cursor) {
        return;
      }
      if (rep.count == IOPKT_CTL_IFADDR_LIST_MAX) {
        more = true;
        return;
      }
      rep.addrs[rep.count++] = a;
    };
    for (const auto& ia : ifp->in_addrs) {
      iopkt_ctl_ifaddr a{};
      set_field(a.ifname, ifp->name);
      a.addr = sockaddr_to_ctl(SockAddr::inet(ia.addr, 0));
      if (!ia.broadcast.is_any()) {
        a.dst_or_broadcast = sockaddr_to_ctl(SockAddr::inet(ia.broadcast, 0));
      }
      a.prefixlen = ia.prefixlen;
      emit(a);
    }
    for (const auto& ia : ifp->in6_addrs) {
      iopkt_ctl_ifaddr a{};
      set_field(a.ifname, ifp->name);
      a.addr.family = AF_INET6;
      std::memcpy(a.addr.addr, ia.addr.b.data(), 16);
      if (ia.addr.is_linklocal()) {
        a.addr.scope_id = ifp->index;
      }
      a.prefixlen = ia.prefixlen;
      a.flags = ia.flags;
      emit(a);
    }
  }
  rep.next_cursor = more ? req.cursor + rep.count : 0;
  return body_reply(
      rep, offsetof(iopkt_ctl_ifaddr_list_reply, addrs) + rep.count * sizeof(iopkt_ctl_ifaddr));
}

CtlReply do_ifaddr(ControlContext& ctx, const iopkt_ctl_ifaddr& req, bool add) {
  auto name = field_string(req.ifname);
  if (!name) {
    return error_reply(EINVAL);
  }
  Ifnet* ifp = ctx.stack().if_find(*name);
  if (ifp == nullptr) {
    return error_reply(ENXIO);
  }
  if ((req.flags & ~(IOPKT_IFA_ALIAS | IOPKT_IFA_ANYCAST)) != 0) {
    return error_reply(EINVAL);
  }
  if (req.addr.family == AF_INET) {
    InAddr a{};
    std::memcpy(&a.v, req.addr.addr, 4);
    a.v = ntohl(a.v);
    if (!add) {
      return from_result(ctx.stack().in_control_delete(*ifp, a));
    }
    if (req.prefixlen > 32 || (req.flags & IOPKT_IFA_ANYCAST)) {
      return error_reply(EINVAL);
    }
    InIfaddr ia{a, static_cast<uint8_t>(req.prefixlen), InAddr::any()};
    if (req.dst_or_broadcast.family == AF_INET) {
      std::memcpy(&ia.broadcast.v, req.dst_or_broadcast.addr, 4);
      ia.broadcast.v = ntohl(ia.broadcast.v);
    } else if (req.dst_or_broadcast.family != AF_UNSPEC) {
      return error_reply(EINVAL);
    }
    return from_result(ctx.stack().in_control_add(*ifp, ia, req.flags & IOPKT_IFA_ALIAS));
  }
  if (req.addr.family == AF_INET6) {
    In6Addr a;
    std::memcpy(a.b.data(), req.addr.addr, 16);
    if (!add) {
      return from_result(ctx.stack().in6_control_delete(*ifp, a));
    }
    if (req.prefixlen > 128) {
      return error_reply(EINVAL);
    }
    In6Ifaddr ia{a, static_cast<uint8_t>(req.prefixlen), req.flags & IOPKT_IFA_ANYCAST};
    return from_result(ctx.stack().in6_control_add(*ifp, ia, req.flags & IOPKT_IFA_ALIAS));
  }
  return error_reply(EAFNOSUPPORT);
}

iopkt_ctl_sysctl sysctl_entry(const SysctlNode& n, const std::string& value) {
  iopkt_ctl_sysctl e{};
  set_field(e.name, n.name);
  set_field(e.value, value);
  e.type = n.type == SysctlType::kInt ? IOPKT_SYSCTL_INT : IOPKT_SYSCTL_STRING;
  e.flags = n.writable ? IOPKT_SYSCTL_F_WRITABLE : 0;
  return e;
}

CtlReply do_sysctl(ControlContext& ctx, const iopkt_ctl_sysctl& req, bool set) {
  auto name = field_string(req.name);
  auto value = field_string(req.value);
  if (!name || !value) {
    return error_reply(EINVAL);
  }
  SysctlTree& tree = ctx.stack().sysctl();
  const SysctlNode* node = tree.find(*name);
  if (node == nullptr) {
    return error_reply(ENOENT);
  }
  if (set) {
    auto r = tree.set(*name, *value);
    if (!r) {
      return error_reply(r.error().value);
    }
  }
  auto v = tree.get(*name);
  if (!v) {
    return error_reply(v.error().value);
  }
  return body_reply(sysctl_entry(*node, *v));
}

CtlReply do_sysctl_list(ControlContext& ctx, const iopkt_ctl_list& req) {
  auto prefix = field_string(req.name);
  if (!prefix) {
    return error_reply(EINVAL);
  }
  auto nodes = ctx.stack().sysctl().list(*prefix);
  if (nodes.empty() && !prefix->empty()) {
    return error_reply(ENOENT);
  }
  iopkt_ctl_sysctl_list_reply rep{};
  uint32_t i = req.cursor;
  for (; i < nodes.size() && rep.count < IOPKT_CTL_SYSCTL_LIST_MAX; ++i) {
    auto v = ctx.stack().sysctl().get(nodes[i]->name);
    rep.entries[rep.count++] = sysctl_entry(*nodes[i], v ? *v : std::string());
  }
  rep.next_cursor = i < nodes.size() ? i : 0;
  return body_reply(
      rep, offsetof(iopkt_ctl_sysctl_list_reply, entries) + rep.count * sizeof(iopkt_ctl_sysctl));
}

InAddr ctl_in4(const iopkt_ctl_addr& a) {
  uint32_t v;
  std::memcpy(&v, a.addr, 4);
  return InAddr{ntohl(v)};
}

iopkt_ctl_route route_info(Stack& s, uint32_t fib, const Rtentry& rt) {
  iopkt_ctl_route r{};
  r.fib = fib;
  r.flags = rt.flags;
  r.dst = sockaddr_to_ctl(SockAddr::inet(rt.dst, 0));
  r.prefixlen = rt.prefixlen;
  r.mtu = rt.mtu;
  if (rt.flags & kRtfGateway) {
    r.gateway = sockaddr_to_ctl(SockAddr::inet(rt.gateway, 0));
  }
  if (!rt.ifa.is_any()) {
    r.ifa = sockaddr_to_ctl(SockAddr::inet(rt.ifa, 0));
  }
  if (Ifnet* ifp = s.if_by_index(rt.ifindex)) {
    set_field(r.ifname, ifp->name);
  }
  r.use = rt.use;
  return r;
}

CtlReply do_route(ControlContext& ctx, uint16_t type, const iopkt_ctl_route& req) {
  Stack& s = ctx.stack();
  auto ifname = field_string(req.ifname);
  if (!ifname || req.fib >= kMaxFibs) {
    return error_reply(EINVAL);
  }
  if (req.dst.family != AF_INET) {
    return error_reply(req.dst.family == AF_INET6 ? EAFNOSUPPORT : EINVAL);
  }
  InAddr dst = ctl_in4(req.dst);
  if (type == IOPKT_CTL_ROUTE_GET) {
    // route get: what the stack would do for a packet to dst.
    auto r = ip_route_lookup(s, dst, req.fib);
    if (!r) {
      return error_reply(ip_output_errno(r.error()));
    }
    Rtentry shown;
    if (const Rtentry* rt = s.rt.fib(req.fib).lookup(dst);
        rt != nullptr && r->ifp != &s.loopback()) {
      shown = *rt;
    } else {
      shown.dst = dst;
      shown.prefixlen = 32;
      shown.flags = kRtfUp | kRtfHost | kRtfLocal;
      shown.ifindex = r->ifp != nullptr ? r->ifp->index : 0;
    }
    shown.ifa = r->src;
    return body_reply(route_info(s, req.fib, shown));
  }
  if (req.prefixlen > 32) {
    return error_reply(EINVAL);
  }
  if (type == IOPKT_CTL_ROUTE_DELETE) {
    const Rtentry* rt = s.rt.fib(req.fib).find(dst, static_cast<uint8_t>(req.prefixlen));
    if (rt != nullptr && (rt->flags & kRtfConnected)) {
      return error_reply(EPERM, "a connected route goes with its address (ifconfig delete)");
    }
    return from_result(in_route_delete(s, req.fib, dst, static_cast<uint8_t>(req.prefixlen)));
  }
  Rtentry rt;
  rt.dst = dst;
  rt.prefixlen = static_cast<uint8_t>(req.prefixlen);
  rt.flags = req.flags & (kRtfGateway | kRtfReject | kRtfBlackhole);
  rt.mtu = req.mtu;
  if (rt.flags & kRtfGateway) {
    if (req.gateway.family != AF_INET) {
      return error_reply(EINVAL);
    }
    rt.gateway = ctl_in4(req.gateway);
  }
  if (req.ifa.family == AF_INET) {
    rt.ifa = ctl_in4(req.ifa);
    if (s.in_local_ifnet(rt.ifa) == nullptr) {
      return error_reply(EADDRNOTAVAIL);
    }
  }
  if (!ifname->empty()) {
    Ifnet* ifp = s.if_find(*ifname);
    if (ifp == nullptr) {
      return error_reply(ENXIO);
    }
    rt.ifindex = ifp->index;
  }
  if (type == IOPKT_CTL_ROUTE_ADD) {
    return from_result(in_route_add(s, req.fib, rt));
  }
  return from_result(in_route_change(s, req.fib, rt));
}

CtlReply do_route_list(ControlContext& ctx, const iopkt_ctl_list& req) {
  uint32_t fib = req.reserved;
  if (fib >= kMaxFibs) {
    return error_reply(EINVAL);
  }
  Stack& s = ctx.stack();
  auto routes = s.rt.fib(fib).list();
  iopkt_ctl_route_list_reply rep{};
  uint32_t i = req.cursor;
  for (; i < routes.size() && rep.count < IOPKT_CTL_ROUTE_LIST_MAX; ++i) {
    rep.routes[rep.count++] = route_info(s, fib, routes[i]);
  }
  rep.next_cursor = i < routes.size() ? i : 0;
  return body_reply(
      rep, offsetof(iopkt_ctl_route_list_reply, routes) + rep.count * sizeof(iopkt_ctl_route));
}

CtlReply do_arp_list(ControlContext& ctx, const iopkt_ctl_list& req) {
  auto filter = field_string(req.name);
  if (!filter) {
    return error_reply(EINVAL);
  }
  Stack& s = ctx.stack();
  Ifnet* only = nullptr;
  if (!filter->empty() && (only = s.if_find(*filter)) == nullptr) {
    return error_reply(ENXIO);
  }
  iopkt_ctl_arp_list_reply rep{};
  uint32_t n = 0;
  bool more = false;
  for (const auto& [key, e] : s.arp.entries) {
    if (only != nullptr && key.ifindex != only->index) {
      continue;
    }
    if (n++ < req.cursor) {
      continue;
    }
    if (rep.count == IOPKT_CTL_ARP_LIST_MAX) {
      more = true;
      break;
    }
    iopkt_ctl_arp& a = rep.entries[rep.count++];
    if (Ifnet* ifp = s.if_by_index(key.ifindex)) {
      set_field(a.ifname, ifp->name);
    }
    a.addr = sockaddr_to_ctl(SockAddr::inet(InAddr{key.addr}, 0));
    std::memcpy(a.mac, e.mac.data(), 6);
    a.flags = (e.state == ArpState::kResolved ? IOPKT_ARP_RESOLVED : 0) |
              (e.permanent ? IOPKT_ARP_PERMANENT : 0);
    a.expire_secs =
        e.permanent
            ? -1
            : static_cast<int32_t>(std::max<int64_t>(
                  0, std::chrono::duration_cast<std::chrono::seconds>(e.expire - s.now()).count()));
  }
  rep.next_cursor = more ? req.cursor + rep.count : 0;
  return body_reply(
      rep, offsetof(iopkt_ctl_arp_list_reply, entries) + rep.count * sizeof(iopkt_ctl_arp));
}

CtlReply do_arp(ControlContext& ctx, uint16_t type, const iopkt_ctl_arp& req) {
  auto ifname = field_string(req.ifname);
  if (!ifname || req.addr.family != AF_INET) {
    return error_reply(EINVAL);
  }
  Stack& s = ctx.stack();
  Ifnet* ifp = nullptr;
  if (!ifname->empty() && (ifp = s.if_find(*ifname)) == nullptr) {
    return error_reply(ENXIO);
  }
  InAddr addr = ctl_in4(req.addr);
  if (type == IOPKT_CTL_ARP_DELETE) {
    return from_result(arp_delete(s, ifp, addr));
  }
  if (ifp == nullptr) {
    // arp -s without an interface: the one whose subnet holds the address.
    for (const auto& i : s.interfaces()) {
      for (const auto& ia : i->in_addrs) {
        if (i->type == IfType::kEther && ia.contains(addr)) {
          ifp = i.get();
        }
      }
    }
    if (ifp == nullptr) {
      return error_reply(ENETUNREACH);
    }
  }
  EtherAddr mac;
  std::memcpy(mac.data(), req.mac, 6);
  return from_result(arp_add_static(s, *ifp, addr, mac, (req.flags & IOPKT_ARP_PERMANENT) == 0));
}

CtlReply do_socket_list(ControlContext& ctx, const iopkt_ctl_list& req) {
  // The listing BSD's netstat -a walks (NetBSD sysctl net.inet.tcp.pcblist):
  // the sockets, then the TCP connections that outlived theirs (closed by
  // the user: FIN_WAIT_1/2, CLOSING, LAST_ACK, TIME_WAIT) or have none yet
  // (embryos and connections a listener holds until accept). The cursor
  // indexes that one sequence; the orphans are sorted by 4-tuple so that a
  // cursor means the same entry from one page to the next while nothing
  // changes. `state` goes out as the enum's value: BSD's TCPS_* numbers.
  static_assert(static_cast<int>(TcpFsmState::kListen) == 1 &&
                static_cast<int>(TcpFsmState::kEstablished) == 4 &&
                static_cast<int>(TcpFsmState::kTimeWait) == 10);
  Stack& s = ctx.stack();
  auto ids = s.so_list();
  std::vector<const TcpCb*> orphans;
  for (const auto& [key, cb] : s.tcp.cbs) {
    if (cb->so == nullptr && cb->state != TcpFsmState::kClosed) {
      orphans.push_back(cb.get());
    }
  }
  std::sort(orphans.begin(), orphans.end(), [](const TcpCb* a, const TcpCb* b) {
    if (a->laddr != b->laddr) {
      return a->laddr < b->laddr;
    }
    if (a->lport != b->lport) {
      return a->lport < b->lport;
    }
    if (a->faddr != b->faddr) {
      return a->faddr < b->faddr;
    }
    return a->fport < b->fport;
  });
  const size_t total = ids.size() + orphans.size();
  iopkt_ctl_socket_list_reply rep{};
  size_t i = req.cursor;
  for (; i < total && rep.count < IOPKT_CTL_SOCKET_LIST_MAX; ++i) {
    iopkt_ctl_socket_info& o = rep.sockets[rep.count++];
    if (i >= ids.size()) {
      const TcpCb* tp = orphans[i - ids.size()];
      o.domain = AF_INET;
      o.type = SOCK_STREAM;
      o.protocol = IPPROTO_TCP;
      o.state = static_cast<uint32_t>(tp->state);
      o.laddr = sockaddr_to_ctl(SockAddr::inet(tp->laddr, tp->lport));
      o.faddr = sockaddr_to_ctl(SockAddr::inet(tp->faddr, tp->fport));
      o.rcv_cc = static_cast<uint32_t>(tp->rcv_cc);
      o.snd_cc = static_cast<uint32_t>(tp->snd_cc);
      o.no_socket = 1;
      continue;
    }
    const Socket* so = s.so_find(ids[i]);
    o.domain = so->domain;
    o.type = so->type;
    o.protocol = so->protocol;
    o.laddr = sockaddr_to_ctl(SockAddr::inet(so->inp.laddr, so->inp.lport));
    o.faddr = sockaddr_to_ctl(SockAddr::inet(so->inp.faddr, so->inp.fport));
    o.rcv_cc = static_cast<uint32_t>(so->rcv_cc);
    if (so->tcb != nullptr) {
      // A stream socket's bytes wait in its control block, not in the
      // datagram queue.
      o.state = static_cast<uint32_t>(so->tcb->state);
      o.rcv_cc = static_cast<uint32_t>(so->tcb->rcv_cc);
      o.snd_cc = static_cast<uint32_t>(so->tcb->snd_cc);
    }
  }
  rep.next_cursor = i < total ? static_cast<uint32_t>(i) : 0;
  return body_reply(rep, offsetof(iopkt_ctl_socket_list_reply, sockets) +
                             rep.count * sizeof(iopkt_ctl_socket_info));
}

CtlReply do_socket_request(ControlContext& ctx, const ClientCred& session, const iopkt_ctl_hdr& hdr,
                           std::span<const std::byte> body, int passed_fd) {
  if (passed_fd < 0) {
    return error_reply(EBADF, "request about a socket without its descriptor");
  }
  Channel* ch = ctx.channel_by_client_fd(passed_fd);
  if (ch == nullptr) {
    return error_reply(ENOTSOCK);
  }
  SocketId so = ch->socket;
  ctx.drain_channel_locked(*ch);  // may find the client closed it: ch is then gone
  Stack& s = ctx.stack();
  if (s.so_find(so) == nullptr) {
    return error_reply(EBADF);
  }
  switch (hdr.type) {
    case IOPKT_CTL_BIND:
    case IOPKT_CTL_CONNECT: {
      iopkt_ctl_sockaddr req{};
      read_body(body, req);
      SockAddr a;
      if (!ctl_to_sockaddr(req.addr, a)) {
        return error_reply(EAFNOSUPPORT);
      }
      if (hdr.type == IOPKT_CTL_BIND) {
        // Ports up to lowportmax are for root or CAP_NET_BIND_SERVICE
        // (EACCES, as Linux gives for ports below 1024).
        if (a.port != 0 && a.port <= ctx.policy().lowportmax &&
            !has_privilege(ctx.policy(), session, Privilege::kBindLow)) {
          return error_reply(EACCES);
        }
        return from_result(s.so_bind(so, a));
      }
      if (ch->stream) {
        return from_result(ctx.stream_connect_locked(*ch, passed_fd, a));
      }
      return from_result(s.so_connect(so, a));
    }
    case IOPKT_CTL_GETSOCKNAME:
    case IOPKT_CTL_GETPEERNAME: {
      auto r = hdr.type == IOPKT_CTL_GETSOCKNAME ? s.so_getsockname(so) : s.so_getpeername(so);
      if (!r) {
        return error_reply(r.error().value);
      }
      return body_reply(iopkt_ctl_sockaddr{sockaddr_to_ctl(*r)});
    }
    case IOPKT_CTL_SETSOCKOPT:
    case IOPKT_CTL_GETSOCKOPT: {
      iopkt_ctl_sockopt req{};
      read_body(body, req);
      if (req.len > IOPKT_CTL_SOCKOPT_MAX) {
        return error_reply(EINVAL);
      }
      if (hdr.type == IOPKT_CTL_SETSOCKOPT) {
        auto val =
            std::span<const std::byte>(reinterpret_cast<const std::byte*>(req.value), req.len);
        return from_result(s.so_setsockopt(so, req.level, req.name, val));
      }
      auto r = s.so_getsockopt(so, req.level, req.name, req.len);
      if (!r) {
        return error_reply(r.error().value);
      }
      iopkt_ctl_sockopt rep{};
      rep.level = req.level;
      rep.name = req.name;
      rep.len = static_cast<uint32_t>(std::min<size_t>({r->size(), req.len, sizeof rep.value}));
      std::memcpy(rep.value, r->data(), rep.len);
      return body_reply(rep);
    }
    case IOPKT_CTL_SHUTDOWN: {
      iopkt_ctl_shutdown req{};
      read_body(body, req);
      if (req.how != SHUT_RD && req.how != SHUT_WR && req.how != SHUT_RDWR) {
        return error_reply(EINVAL);
      }
      if (ch->stream) {
        return from_result(ctx.stream_shutdown_locked(*ch, passed_fd, req.how));
      }
      return from_result(s.so_shutdown(so, req.how));
    }
    case IOPKT_CTL_LISTEN: {
      iopkt_ctl_listen req{};
      read_body(body, req);
      if (!ch->stream) {
        return error_reply(EOPNOTSUPP);  // as Linux for datagram sockets
      }
      return from_result(ctx.stream_listen_locked(*ch, req.backlog));
    }
    default:
      return error_reply(EOPNOTSUPP);
  }
}

}  // namespace

bool ctl_to_sockaddr(const iopkt_ctl_addr& in, SockAddr& out) {
  out = SockAddr{};
  out.family = in.family;
  out.port = in.port;
  if (in.family == AF_INET) {
    uint32_t v;
    std::memcpy(&v, in.addr, 4);
    out.in = InAddr{ntohl(v)};
    return true;
  }
  if (in.family == AF_INET6) {
    std::memcpy(out.in6.b.data(), in.addr, 16);
    out.scope_id = in.scope_id;
    out.flowinfo = in.flowinfo;
    return true;
  }
  return in.family == AF_UNSPEC;
}

iopkt_ctl_addr sockaddr_to_ctl(const SockAddr& in) {
  iopkt_ctl_addr out{};
  out.family = in.family;
  out.port = in.port;
  if (in.family == AF_INET) {
    uint32_t v = htonl(in.in.v);
    std::memcpy(out.addr, &v, 4);
  } else if (in.family == AF_INET6) {
    std::memcpy(out.addr, in.in6.b.data(), 16);
    out.scope_id = in.scope_id;
    out.flowinfo = in.flowinfo;
  }
  return out;
}

bool is_configuration_request(uint16_t type) {
  switch (type) {
    case IOPKT_CTL_IF_SETFLAGS:
    case IOPKT_CTL_IF_SETMTU:
    case IOPKT_CTL_IFADDR_ADD:
    case IOPKT_CTL_IFADDR_DEL:
    case IOPKT_CTL_IF_CREATE:
    case IOPKT_CTL_IF_DESTROY:
    case IOPKT_CTL_ROUTE_ADD:
    case IOPKT_CTL_ROUTE_DELETE:
    case IOPKT_CTL_ROUTE_CHANGE:
    case IOPKT_CTL_ARP_ADD:
    case IOPKT_CTL_ARP_DELETE:
    case IOPKT_CTL_SYSCTL_SET:
    case IOPKT_CTL_MOUNT:
      return true;
    default:
      return false;
  }
}

long request_body_size(uint16_t type) {
  switch (type) {
    case IOPKT_CTL_HELLO:
      return 0;
    case IOPKT_CTL_SOCKET:
      return sizeof(iopkt_ctl_socket);
    case IOPKT_CTL_BIND:
    case IOPKT_CTL_CONNECT:
      return sizeof(iopkt_ctl_sockaddr);
    case IOPKT_CTL_GETSOCKNAME:
    case IOPKT_CTL_GETPEERNAME:
      return 0;
    case IOPKT_CTL_SETSOCKOPT:
    case IOPKT_CTL_GETSOCKOPT:
      return sizeof(iopkt_ctl_sockopt);
    case IOPKT_CTL_SHUTDOWN:
      return sizeof(iopkt_ctl_shutdown);
    case IOPKT_CTL_LISTEN:
      return sizeof(iopkt_ctl_listen);
    case IOPKT_CTL_IF_LIST:
    case IOPKT_CTL_IFADDR_LIST:
    case IOPKT_CTL_SYSCTL_LIST:
      return sizeof(iopkt_ctl_list);
    case IOPKT_CTL_IF_SETFLAGS:
      return sizeof(iopkt_ctl_if_flags);
    case IOPKT_CTL_IF_SETMTU:
      return sizeof(iopkt_ctl_if_mtu);
    case IOPKT_CTL_IFADDR_ADD:
    case IOPKT_CTL_IFADDR_DEL:
      return sizeof(iopkt_ctl_ifaddr);
    case IOPKT_CTL_IF_CREATE:
    case IOPKT_CTL_IF_DESTROY:
      return sizeof(iopkt_ctl_if_name);
    case IOPKT_CTL_SYSCTL_GET:
    case IOPKT_CTL_SYSCTL_SET:
      return sizeof(iopkt_ctl_sysctl);
    case IOPKT_CTL_MOUNT:
      return sizeof(iopkt_ctl_mount);
    case IOPKT_CTL_ROUTE_ADD:
    case IOPKT_CTL_ROUTE_DELETE:
    case IOPKT_CTL_ROUTE_CHANGE:
    case IOPKT_CTL_ROUTE_GET:
      return sizeof(iopkt_ctl_route);
    case IOPKT_CTL_ROUTE_LIST:
    case IOPKT_CTL_ARP_LIST:
    case IOPKT_CTL_SOCKET_LIST:
      return sizeof(iopkt_ctl_list);
    case IOPKT_CTL_ARP_DELETE:
    case IOPKT_CTL_ARP_ADD:
      return sizeof(iopkt_ctl_arp);
    default:
      return -1;
  }
}

CtlReply handle_request(ControlContext& ctx, const Session& session, const iopkt_ctl_hdr& hdr,
                        std::span<const std::byte> body, int passed_fd) {
  if (hdr.magic != IOPKT_CTL_MAGIC) {
    return error_reply(EPROTO, "not an iopkt control request");
  }
  if (hdr.version != IOPKT_CTL_VERSION) {
    return error_reply(EPROTONOSUPPORT, "control protocol version " + std::to_string(hdr.version) +
                                            " not supported; this stack speaks " +
                                            std::to_string(IOPKT_CTL_VERSION));
  }
  long want = request_body_size(hdr.type);
  if (want < 0) {
    return error_reply(EOPNOTSUPP, "unknown request type " + std::to_string(hdr.type));
  }
  if (hdr.len != body.size() || body.size() != static_cast<size_t>(want)) {
    return error_reply(EINVAL, "request body has the wrong size");
  }
  // Rights come from the connection's credentials, checked on every
  // request; nothing in the body can raise them (issue 9).
  if (is_configuration_request(hdr.type) &&
      !has_privilege(ctx.policy(), session.cred, Privilege::kConfigure)) {
    ctx.log_denied(session, "configuration request");
    return error_reply(EPERM);
  }
  Stack& s = ctx.stack();
  switch (hdr.type) {
    case IOPKT_CTL_HELLO: {
      iopkt_ctl_hello_reply rep{};
      rep.ctl_version = IOPKT_CTL_VERSION;
      rep.variant = static_cast<uint32_t>(ctx.variant());
      rep.instance = ctx.instance();
      rep.pid = getpid();
      set_field(rep.prefix, ctx.prefix());
      return body_reply(rep);
    }
    case IOPKT_CTL_SOCKET: {
      iopkt_ctl_socket req{};
      read_body(body, req);
      // Raw sockets need CAP_NET_RAW (EPERM, as Linux); ICMP echo ("ping")
      // sockets need a group in ping_group_range (EACCES, as Linux).
      if (req.type == SOCK_RAW && !has_privilege(ctx.policy(), session.cred, Privilege::kRaw)) {
        return error_reply(EPERM);
      }
      if (req.type == SOCK_DGRAM && req.protocol == IPPROTO_ICMP &&
          !may_open_ping_socket(ctx.policy(), session.cred)) {
        return error_reply(EACCES);
      }
      auto r = ctx.create_socket_locked(req.domain, req.type, req.protocol,
                                        fib_for(ctx.policy(), session.cred));
      if (!r) {
        return error_reply(r.error().value);
      }
      CtlReply rep;
      rep.pass_fd = *r;
      return rep;
    }
    case IOPKT_CTL_BIND:
    case IOPKT_CTL_CONNECT:
    case IOPKT_CTL_GETSOCKNAME:
    case IOPKT_CTL_GETPEERNAME:
    case IOPKT_CTL_SETSOCKOPT:
    case IOPKT_CTL_GETSOCKOPT:
    case IOPKT_CTL_SHUTDOWN:
    case IOPKT_CTL_LISTEN:
      return do_socket_request(ctx, session.cred, hdr, body, passed_fd);
    case IOPKT_CTL_IF_LIST:
    case IOPKT_CTL_IFADDR_LIST:
    case IOPKT_CTL_SYSCTL_LIST:
    case IOPKT_CTL_ROUTE_LIST:
    case IOPKT_CTL_ARP_LIST:
    case IOPKT_CTL_SOCKET_LIST: {
      iopkt_ctl_list req{};
      read_body(body, req);
      switch (hdr.type) {
        case IOPKT_CTL_IF_LIST:
          return do_if_list(ctx, req);
        case IOPKT_CTL_IFADDR_LIST:
          return do_ifaddr_list(ctx, req);
        case IOPKT_CTL_ROUTE_LIST:
          return do_route_list(ctx, req);
        case IOPKT_CTL_ARP_LIST:
          return do_arp_list(ctx, req);
        case IOPKT_CTL_SOCKET_LIST:
          return do_socket_list(ctx, req);
        default:
          return do_sysctl_list(ctx, req);
      }
    }
    case IOPKT_CTL_ROUTE_ADD:
    case IOPKT_CTL_ROUTE_DELETE:
    case IOPKT_CTL_ROUTE_CHANGE:
    case IOPKT_CTL_ROUTE_GET: {
      iopkt_ctl_route req{};
      read_body(body, req);
      return do_route(ctx, hdr.type, req);
    }
    case IOPKT_CTL_ARP_ADD:
    case IOPKT_CTL_ARP_DELETE: {
      iopkt_ctl_arp req{};
      read_body(body, req);
      return do_arp(ctx, hdr.type, req);
    }
    case IOPKT_CTL_IF_SETFLAGS: {
      iopkt_ctl_if_flags req{};
      read_body(body, req);
      auto name = field_string(req.ifname);
      Ifnet* ifp = name ? s.if_find(*name) : nullptr;
      if (ifp == nullptr) {
        return error_reply(name ? ENXIO : EINVAL);
      }
      return from_result(s.if_set_flags(*ifp, req.set, req.clear));
    }
    case IOPKT_CTL_IF_SETMTU: {
      iopkt_ctl_if_mtu req{};
      read_body(body, req);
      auto name = field_string(req.ifname);
      Ifnet* ifp = name ? s.if_find(*name) : nullptr;
      if (ifp == nullptr) {
        return error_reply(name ? ENXIO : EINVAL);
      }
      return from_result(s.if_set_mtu(*ifp, req.mtu));
    }
    case IOPKT_CTL_IFADDR_ADD:
    case IOPKT_CTL_IFADDR_DEL: {
      iopkt_ctl_ifaddr req{};
      read_body(body, req);
      return do_ifaddr(ctx, req, hdr.type == IOPKT_CTL_IFADDR_ADD);
    }
    case IOPKT_CTL_IF_CREATE:
      return error_reply(EOPNOTSUPP, "in-stack tun and tap interfaces are not supported yet");
    case IOPKT_CTL_IF_DESTROY: {
      iopkt_ctl_if_name req{};
      read_body(body, req);
      auto name = field_string(req.ifname);
      if (!name) {
        return error_reply(EINVAL);
      }
      return from_result(ctx.destroy_interface_locked(std::string(*name)));
    }
    case IOPKT_CTL_SYSCTL_GET:
    case IOPKT_CTL_SYSCTL_SET: {
      iopkt_ctl_sysctl req{};
      read_body(body, req);
      return do_sysctl(ctx, req, hdr.type == IOPKT_CTL_SYSCTL_SET);
    }
    case IOPKT_CTL_MOUNT: {
      iopkt_ctl_mount req{};
      read_body(body, req);
      auto driver = field_string(req.driver);
      auto options = field_string(req.options);
      if (!driver || !options || driver->empty()) {
        return error_reply(EINVAL, "mount: driver name or options not terminated");
      }
      auto r = ctx.mount_driver_locked(std::string(*driver), std::string(*options));
      if (!r) {
        return error_reply(r.error().error, r.error().message);
      }
      return ok_reply();
    }
    default:
      return error_reply(EOPNOTSUPP);
  }
}

}  // namespace iopkt
