// socket/uipc_socket.cc — the socket calls clients make (BSD uipc_socket.c,
// uipc_syscalls.c), dispatched to the protocols, with errno values as the
// Linux kernel gives them, since our clients are Linux programs.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "core/stack.hh"
#include "kern/byteorder.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"
#include "netinet/udp_var.hh"

namespace iopkt {

SockAddr SockAddr::inet(InAddr a, uint16_t port) {
  SockAddr s;
  s.family = AF_INET;
  s.in = a;
  s.port = port;
  return s;
}

namespace {

// Which protocol serves a socket.
bool so_is_raw(const Socket& so) { return so.type == SOCK_RAW; }
bool so_is_ping(const Socket& so) { return so.type == SOCK_DGRAM && so.protocol == IPPROTO_ICMP; }

}  // namespace

Socket* Stack::so_find(SocketId so) {
  auto it = sockets_.find(so);
  return it == sockets_.end() ? nullptr : it->second.get();
}

Result<SocketId, Errno> Stack::so_create(int domain, int type, int protocol) {
  if (domain == AF_INET6) {
    // v4-hc carries no IPv6 (SPEC §1); on v6-hc IPv6 sockets arrive with
    // the IPv6 issue.
    return Err(Errno{EAFNOSUPPORT});
  }
  if (domain != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (type == SOCK_DGRAM) {
    // UDP, or Linux's ICMP echo sockets (IPPROTO_ICMP).
    if (protocol != 0 && protocol != IPPROTO_UDP && protocol != IPPROTO_ICMP) {
      return Err(Errno{EPROTONOSUPPORT});
    }
    protocol = protocol == 0 ? IPPROTO_UDP : protocol;
  } else if (type == SOCK_RAW) {
    // Any protocol but 0 (Linux: EPROTONOSUPPORT); above 255 EINVAL as
    // Linux. TODO(issue 9): only with the raw-socket privilege.
    if (protocol < 0 || protocol > 255) {
      return Err(Errno{EINVAL});
    }
    if (protocol == 0) {
      return Err(Errno{EPROTONOSUPPORT});
    }
  } else if (type == SOCK_STREAM) {
    if (protocol != 0 && protocol != IPPROTO_TCP) {
      return Err(Errno{EPROTONOSUPPORT});
    }
    protocol = IPPROTO_TCP;
  } else {
    return Err(Errno{ESOCKTNOSUPPORT});
  }
  auto so = std::make_unique<Socket>();
  so->id = next_socket_id_++;
  so->domain = domain;
  so->type = type;
  so->protocol = protocol;
  so->rcv_hiwat = static_cast<size_t>(udp.recvspace);
  so->ip_ttl = static_cast<uint8_t>(ip.default_ttl);
  if (type == SOCK_RAW) {
    (void)rip_attach(*this, *so);
  } else if (protocol == IPPROTO_ICMP) {
    (void)ping_attach(*this, *so);
  } else if (type == SOCK_STREAM) {
    (void)tcp_attach(*this, *so);
  }
  SocketId id = so->id;
  sockets_.emplace(id, std::move(so));
  return id;
}

Result<void, Errno> Stack::so_bind(SocketId id, const SockAddr& addr) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  if (so_is_raw(*so)) {
    return rip_bind(*this, *so, addr);
  }
  if (so_is_ping(*so)) {
    return ping_bind(*this, *so, addr);
  }
  if (so->tcb != nullptr) {
    return tcp_bind(*this, *so, addr);
  }
  return udp_bind(*this, *so, addr);
}

Result<void, Errno> Stack::so_connect(SocketId id, const SockAddr& addr) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  if (so_is_raw(*so)) {
    return rip_connect(*this, *so, addr);
  }
  if (so_is_ping(*so)) {
    return ping_connect(*this, *so, addr);
  }
  if (so->tcb != nullptr) {
    auto r = tcp_connect(*this, *so, addr);  // EINPROGRESS: see so_stream_status
    netisr_run();
    return r;
  }
  return udp_connect(*this, *so, addr);
}

Result<SockAddr, Errno> Stack::so_getsockname(SocketId id) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  return SockAddr::inet(so->inp.laddr, so->inp.lport);
}

Result<SockAddr, Errno> Stack::so_getpeername(SocketId id) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  bool connected =
      so_is_raw(*so) || so_is_ping(*so) ? !so->inp.faddr.is_any() : so->inp.connected();
  if (!connected) {
    return Err(Errno{ENOTCONN});
  }
  return SockAddr::inet(so->inp.faddr, so->inp.fport);
}

namespace {

Result<int, Errno> opt_int(std::span<const std::byte> val) {
  if (val.size() < sizeof(int)) {
    return Err(Errno{EINVAL});
  }
  int v;
  std::memcpy(&v, val.data(), sizeof v);
  return v;
}

std::vector<std::byte> int_bytes(int v) {
  std::vector<std::byte> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

struct BoolOpt {
  int name;
  uint32_t bit;
};
constexpr BoolOpt kSolSocketBools[] = {
    {SO_REUSEADDR, kSoReuseAddr}, {SO_REUSEPORT, kSoReusePort}, {SO_BROADCAST, kSoBroadcast},
    {SO_DONTROUTE, kSoDontRoute}, {SO_KEEPALIVE, kSoKeepAlive},
};

// Linux doubles the requested buffer size to account for bookkeeping and
// reports the doubled value (socket(7)); programs tuned on Linux expect it.
constexpr int64_t kSockBufMin = 2304;
constexpr int64_t kSockBufMax = 8 << 20;

// IPPROTO_IP options asking for ancillary data on receive (ip(7)).
uint32_t inp_recv_flag(int name) {
  switch (name) {
    case IP_PKTINFO:
      return kInpRecvPktinfo;
    case IP_RECVTTL:
      return kInpRecvTtl;
    case IP_RECVTOS:
      return kInpRecvTos;
    default:
      return 0;
  }
}

}  // namespace

Result<void, Errno> Stack::so_setsockopt(SocketId id, int level, int name,
                                         std::span<const std::byte> val) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  if (so->tcb != nullptr && (level == IPPROTO_TCP || (level == SOL_SOCKET && name == SO_LINGER))) {
    return tcp_setsockopt(*this, *so, level, name, val);
  }
  if (level == IPPROTO_IP && in_mcast_is_option(name)) {
    return in_mcast_setsockopt(*this, *so, name, val);  // sizes of their own (in_mcast.cc)
  }
  auto v = opt_int(val);
  if (!v) {
    return Err(v.error());
  }
  if (level == SOL_SOCKET) {
    for (const auto& b : kSolSocketBools) {
      if (b.name == name) {
        so->options = *v ? (so->options | b.bit) : (so->options & ~b.bit);
        if (name == SO_KEEPALIVE && so->tcb != nullptr) {
          tcp_keepalive_changed(*this, *so);  // the idle time counts from now
        }
        return {};
      }
    }
    if (name == SO_RCVBUF || name == SO_SNDBUF) {
      int64_t size = std::clamp<int64_t>(int64_t{*v} * 2, kSockBufMin, kSockBufMax);
      (name == SO_RCVBUF ? so->rcv_hiwat : so->snd_hiwat) = static_cast<size_t>(size);
      (name == SO_RCVBUF ? so->rcvbuf_locked : so->sndbuf_locked) = true;  // tcp(7): no auto-tuning
      return {};
    }
    return Err(Errno{ENOPROTOOPT});
  }
  if (level == IPPROTO_IP) {
    if (name == IP_TTL) {
      if (*v == -1) {
        so->ip_ttl = static_cast<uint8_t>(ip.default_ttl);
        return {};
      }
      if (*v < 1 || *v > 255) {
        return Err(Errno{EINVAL});
      }
      so->ip_ttl = static_cast<uint8_t>(*v);
      return {};
    }
    if (name == IP_TOS) {
      so->ip_tos = static_cast<uint8_t>(*v & 0xff);
      return {};
    }
    if (name == IP_HDRINCL) {
      if (!so_is_raw(*so)) {
        return Err(Errno{ENOPROTOOPT});  // as Linux on non-raw sockets
      }
      so->hdrincl = *v != 0 || so->protocol == IPPROTO_RAW;
      return {};
    }
    if (uint32_t bit = inp_recv_flag(name); bit != 0) {
      so->inp_flags = *v ? (so->inp_flags | bit) : (so->inp_flags & ~bit);
      return {};
    }
  }
  return Err(Errno{ENOPROTOOPT});
}

Result<std::vector<std::byte>, Errno> Stack::so_getsockopt(SocketId id, int level, int name,
                                                           size_t len) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  if (so->tcb != nullptr && (level == IPPROTO_TCP || (level == SOL_SOCKET && name == SO_LINGER))) {
    return tcp_getsockopt(*this, *so, level, name);
  }
  if (level == IPPROTO_IP && in_mcast_is_option(name)) {
    return in_mcast_getsockopt(*this, *so, name, len);
  }
  if (level == SOL_SOCKET) {
    for (const auto& b : kSolSocketBools) {
      if (b.name == name) {
        return int_bytes((so->options & b.bit) ? 1 : 0);
      }
    }
    switch (name) {
      case SO_TYPE:
        return int_bytes(so->type);
      case SO_PROTOCOL:
        return int_bytes(so->protocol);
      case SO_DOMAIN:
        return int_bytes(so->domain);
      case SO_RCVBUF:
        return int_bytes(static_cast<int>(so->rcv_hiwat));
      case SO_SNDBUF:
        return int_bytes(static_cast<int>(so->snd_hiwat));
      case SO_ERROR: {
        int e = so->so_error;
        so->so_error = 0;  // reading SO_ERROR clears it (socket(7))
        return int_bytes(e);
      }
      default:
        return Err(Errno{ENOPROTOOPT});
    }
  }
  if (level == IPPROTO_IP) {
    if (name == IP_TTL) {
      return int_bytes(so->ip_ttl);
    }
    if (name == IP_TOS) {
      return int_bytes(so->ip_tos);
    }
    if (name == IP_HDRINCL && so_is_raw(*so)) {
      return int_bytes(so->hdrincl ? 1 : 0);
    }
    if (uint32_t bit = inp_recv_flag(name); bit != 0) {
      return int_bytes((so->inp_flags & bit) ? 1 : 0);
    }
  }
  return Err(Errno{ENOPROTOOPT});
}

Result<void, Errno> Stack::so_shutdown(SocketId id, int how) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
    return Err(Errno{EINVAL});
  }
  if (so->tcb != nullptr) {
    auto r = tcp_shutdown(*this, *so, how);
    netisr_run();
    return r;
  }
  // Linux answers ENOTCONN on an unconnected datagram socket, but still
  // applies the shutdown.
  bool connected = so->inp.connected();
  if (how != SHUT_WR) {
    so->cant_recv = true;
    so->rcv.clear();
    so->rcv_cc = 0;
    so_wakeup(*so);
  }
  if (how != SHUT_RD) {
    so->cant_send = true;
  }
  if (!connected) {
    return Err(Errno{ENOTCONN});
  }
  return {};
}

void Stack::so_close(SocketId id) {
  auto it = sockets_.find(id);
  if (it == sockets_.end()) {
    return;
  }
  Socket& so = *it->second;
  in_mcast_sofree(*this, so);  // its group memberships end with it (RFC 1112 §7.2)
  if (so_is_raw(so)) {
    rip_detach(*this, so);
  } else if (so_is_ping(so)) {
    ping_detach(*this, so);
  } else if (so.tcb != nullptr) {
    tcp_detach(*this, so);  // the connection may live on (FIN_WAIT, TIME_WAIT)
  } else {
    udp_detach(*this, so);
  }
  std::erase(socket_events_, id);
  sockets_.erase(it);
  netisr_run();
}

Result<void, Errno> Stack::so_send_dgram(SocketId id, Mbuf payload, const SockAddr* to,
                                         const DgramSendOpts* opts) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  auto r = so_is_raw(*so)    ? rip_send(*this, *so, std::move(payload), to, opts)
           : so_is_ping(*so) ? ping_send(*this, *so, std::move(payload), to, opts)
                             : udp_send(*this, *so, std::move(payload), to, opts);
  netisr_run();
  return r;
}

std::optional<Datagram> Stack::so_recv_dgram(SocketId id) {
  Socket* so = so_find(id);
  if (so == nullptr || so->rcv.empty()) {
    return std::nullopt;
  }
  Datagram d = std::move(so->rcv.front());
  so->rcv.pop_front();
  so->rcv_cc -= d.data.len();
  return d;
}

// --- ancillary data: IP_PKTINFO, IP_TTL, IP_TOS (ip(7)) --------------------

Result<void, Errno> ip_cmsg_send(DgramSendOpts& opts, int level, int type,
                                 std::span<const std::byte> data) {
  // Linux ip_cmsg_send: every IPPROTO_IP type it does not know is EINVAL;
  // libiopkt has already skipped the levels Linux ignores.
  if (level != IPPROTO_IP) {
    return Err(Errno{EINVAL});
  }
  switch (type) {
    case IP_PKTINFO: {
      if (data.size() != sizeof(in_pktinfo)) {
        return Err(Errno{EINVAL});
      }
      in_pktinfo info;
      std::memcpy(&info, data.data(), sizeof info);
      InAddr src{load_be32(data, offsetof(in_pktinfo, ipi_spec_dst))};
      // Linux __ip_route_output_key: a multicast, limited broadcast or
      // 0/8 source is EINVAL. ipi_addr means nothing on send.
      if (!src.is_any() && (src.is_multicast() || src.is_broadcast() || (src.v >> 24) == 0)) {
        return Err(Errno{EINVAL});
      }
      opts.pktinfo = true;
      opts.src = src;
      if (info.ipi_ifindex != 0) {
        opts.ifindex = static_cast<uint32_t>(info.ipi_ifindex);
      }
      return {};
    }
    case IP_TTL: {
      int v;
      if (data.size() != sizeof v) {
        return Err(Errno{EINVAL});
      }
      std::memcpy(&v, data.data(), sizeof v);
      if (v < 1 || v > 255) {
        return Err(Errno{EINVAL});
      }
      opts.ttl = v;
      return {};
    }
    case IP_TOS: {
      // Linux takes an int or a single byte.
      int v;
      if (data.size() == sizeof v) {
        std::memcpy(&v, data.data(), sizeof v);
      } else if (data.size() == 1) {
        v = std::to_integer<uint8_t>(data[0]);
      } else {
        return Err(Errno{EINVAL});
      }
      if (v < 0 || v > 255) {
        return Err(Errno{EINVAL});
      }
      opts.tos = v;
      return {};
    }
    default:
      return Err(Errno{EINVAL});
  }
}

DgramRecvInfo ip_recv_info(std::span<const std::byte> iphdr, const Ifnet* rcvif) {
  DgramRecvInfo info;
  info.tos = std::to_integer<uint8_t>(iphdr[1]);
  info.ttl = std::to_integer<uint8_t>(iphdr[8]);
  InAddr src{load_be32(iphdr, 12)};
  info.dst = InAddr{load_be32(iphdr, 16)};
  info.spec_dst = info.dst;
  if (rcvif == nullptr) {
    return info;
  }
  info.ifindex = rcvif->index;
  bool multi = info.dst.is_broadcast() || info.dst.is_multicast();
  for (const auto& ia : rcvif->in_addrs) {
    multi = multi || (!ia.broadcast.is_any() && ia.broadcast == info.dst);
  }
  if (multi) {
    info.spec_dst = rcvif->in_addrs.empty() ? InAddr::any() : rcvif->in_addrs.front().addr;
    for (const auto& ia : rcvif->in_addrs) {
      if (ia.contains(src)) {
        info.spec_dst = ia.addr;
        break;
      }
    }
  }
  return info;
}

Result<InAddr, Errno> in_send_destination(const Socket& so, const SockAddr* to) {
  if (so.cant_send) {
    return Err(Errno{EPIPE});
  }
  if (to != nullptr && to->family != AF_UNSPEC) {
    if (to->family != AF_INET) {
      return Err(Errno{EAFNOSUPPORT});
    }
    return to->in;
  }
  if (!so.inp.faddr.is_any()) {
    return so.inp.faddr;
  }
  return Err(Errno{EDESTADDRREQ});
}

Result<void, Errno> in_send_route(Stack& stack, const Socket& so, const DgramSendOpts* opts,
                                  InAddr dst, IpOutputArgs& args, IpRoute& route) {
  InAddr src = so.inp.laddr;
  if (opts != nullptr && opts->pktinfo) {
    // Linux: ipi_spec_dst replaces the bound address, even when it is
    // 0.0.0.0 (then the route chooses); it must be one of ours, else the
    // route lookup fails with ENETUNREACH (__ip_route_output_key).
    src = opts->src;
    if (!src.is_any() && stack.in_local_ifnet(src) == nullptr) {
      return Err(Errno{ENETUNREACH});
    }
  }
  if (src.is_multicast() || src.is_broadcast()) {
    src = InAddr::any();  // bound to a group or broadcast: the route's source
  }
  args.src = src;
  args.dst = dst;
  args.fib = so.fib;
  args.ttl = opts != nullptr && opts->ttl >= 0 ? static_cast<uint8_t>(opts->ttl) : so.ip_ttl;
  args.tos = opts != nullptr && opts->tos >= 0 ? static_cast<uint8_t>(opts->tos) : so.ip_tos;
  args.route = nullptr;
  if (dst.is_multicast()) {
    // To a group: IP_MULTICAST_IF, _TTL and _LOOP (in_mcast.cc).
    return in_mcast_send_route(stack, so, opts != nullptr ? opts->ifindex : 0,
                               opts != nullptr && opts->ttl >= 0, args, route);
  }
  if (opts != nullptr && opts->ifindex != 0) {
    // ipi_ifindex (Linux ip_route_output_key_hash_rcu with flowi4_oif):
    // no such interface is ENODEV, a down one ENETUNREACH; a local
    // destination leaves only by the interface holding it or lo0; a route
    // by that interface is used, and without one the destination is taken
    // to be on its link ("Apparently, routing tables are wrong").
    Ifnet* ifp = stack.if_by_index(opts->ifindex);
    if (ifp == nullptr) {
      return Err(Errno{ENODEV});
    }
    if (!ifp->is_up()) {
      return Err(Errno{ENETUNREACH});
    }
    Ifnet* owner = stack.in_local_ifnet(dst);
    auto r = ip_route_lookup(stack, dst, so.fib);
    if (dst.is_loopback() || owner != nullptr) {
      if (!r || (ifp != &stack.loopback() && ifp != owner)) {
        return Err(Errno{ENETUNREACH});
      }
      route = *r;
    } else if (r && r->ifp == ifp) {
      route = *r;
    } else {
      InAddr on_link_src = ifp->in_addrs.empty() ? InAddr::any() : ifp->in_addrs.front().addr;
      for (const auto& ia : ifp->in_addrs) {
        if (ia.contains(dst)) {
          on_link_src = ia.addr;
          break;
        }
      }
      if (on_link_src.is_any() && src.is_any()) {
        return Err(Errno{ENETUNREACH});
      }
      route = IpRoute{ifp, on_link_src, dst, ifp->mtu, false};
    }
    args.route = &route;
  } else if (src.is_any()) {
    // The source must be known before the transport checksum is.
    auto r = ip_route_lookup(stack, dst, so.fib);
    if (!r) {
      ++stack.ip.stat.noroute;  // counted as ip_output would
      return Err(Errno{ip_output_errno(r.error())});
    }
    route = *r;
    args.route = &route;
  }
  if (args.src.is_any() && args.route != nullptr) {
    args.src = route.src;
  }
  return {};
}

}  // namespace iopkt
