// socket/uipc_socket.cc — the socket calls clients make (BSD uipc_socket.c,
// uipc_syscalls.c), dispatched to the protocols, with errno values as the
// Linux kernel gives them, since our clients are Linux programs.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip_var.hh"
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
    // TCP arrives with the TCP issue.
    return Err(Errno{EPROTONOSUPPORT});
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

}  // namespace

Result<void, Errno> Stack::so_setsockopt(SocketId id, int level, int name,
                                         std::span<const std::byte> val) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  auto v = opt_int(val);
  if (!v) {
    return Err(v.error());
  }
  if (level == SOL_SOCKET) {
    for (const auto& b : kSolSocketBools) {
      if (b.name == name) {
        so->options = *v ? (so->options | b.bit) : (so->options & ~b.bit);
        return {};
      }
    }
    if (name == SO_RCVBUF || name == SO_SNDBUF) {
      int64_t size = std::clamp<int64_t>(int64_t{*v} * 2, kSockBufMin, kSockBufMax);
      (name == SO_RCVBUF ? so->rcv_hiwat : so->snd_hiwat) = static_cast<size_t>(size);
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
  }
  return Err(Errno{ENOPROTOOPT});
}

Result<std::vector<std::byte>, Errno> Stack::so_getsockopt(SocketId id, int level, int name,
                                                           size_t /*len*/) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
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
  if (so_is_raw(so)) {
    rip_detach(*this, so);
  } else if (so_is_ping(so)) {
    ping_detach(*this, so);
  } else {
    udp_detach(*this, so);
  }
  std::erase(socket_events_, id);
  sockets_.erase(it);
}

Result<void, Errno> Stack::so_send_dgram(SocketId id, Mbuf payload, const SockAddr* to) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  auto r = so_is_raw(*so)    ? rip_send(*this, *so, std::move(payload), to)
           : so_is_ping(*so) ? ping_send(*this, *so, std::move(payload), to)
                             : udp_send(*this, *so, std::move(payload), to);
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

}  // namespace iopkt
