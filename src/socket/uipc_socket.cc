// socket/uipc_socket.cc — the socket calls clients make (BSD uipc_socket.c,
// uipc_syscalls.c), dispatched to the protocols, with errno values as the
// Linux kernel gives them, since our clients are Linux programs.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "netinet/udp_var.hh"

namespace iopkt {

SockAddr SockAddr::inet(InAddr a, uint16_t port) {
  SockAddr s;
  s.family = AF_INET;
  s.in = a;
  s.port = port;
  return s;
}

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
    if (protocol != 0 && protocol != IPPROTO_UDP) {
      return Err(Errno{EPROTONOSUPPORT});
    }
    protocol = IPPROTO_UDP;
  } else if (type == SOCK_STREAM || type == SOCK_RAW) {
    // TCP arrives with the TCP issue, raw sockets with the IPv4 issue.
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
  SocketId id = so->id;
  sockets_.emplace(id, std::move(so));
  return id;
}

Result<void, Errno> Stack::so_bind(SocketId id, const SockAddr& addr) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  return udp_bind(*this, *so, addr);
}

Result<void, Errno> Stack::so_connect(SocketId id, const SockAddr& addr) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
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
  if (!so->inp.connected()) {
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
      case SO_TYPE: return int_bytes(so->type);
      case SO_PROTOCOL: return int_bytes(so->protocol);
      case SO_DOMAIN: return int_bytes(so->domain);
      case SO_RCVBUF: return int_bytes(static_cast<int>(so->rcv_hiwat));
      case SO_SNDBUF: return int_bytes(static_cast<int>(so->snd_hiwat));
      case SO_ERROR: {
        int e = so->so_error;
        so->so_error = 0;  // reading SO_ERROR clears it (socket(7))
        return int_bytes(e);
      }
      default: return Err(Errno{ENOPROTOOPT});
    }
  }
  if (level == IPPROTO_IP) {
    if (name == IP_TTL) {
      return int_bytes(so->ip_ttl);
    }
    if (name == IP_TOS) {
      return int_bytes(so->ip_tos);
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
  udp_detach(*this, *it->second);
  std::erase(socket_events_, id);
  sockets_.erase(it);
}

Result<void, Errno> Stack::so_send_dgram(SocketId id, Mbuf payload, const SockAddr* to) {
  Socket* so = so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  auto r = udp_send(*this, *so, std::move(payload), to);
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
