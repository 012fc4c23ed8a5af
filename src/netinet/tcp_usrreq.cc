// netinet/tcp_usrreq.cc — the socket-level TCP calls (BSD tcp_usrreq.c):
// attach, bind, listen, connect, accept, send, receive, shutdown, close and
// the IPPROTO_TCP options, plus the stream-socket calls of the Stack
// (core/stack.hh documents their contract).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// Linux's rule for TCP binds: addresses overlap and not (both SO_REUSEPORT)
// and not (both SO_REUSEADDR with the other not listening). A connection
// nobody owns any more (TIME_WAIT) yields to SO_REUSEADDR.
bool tcp_bind_conflicts(const Socket& so, const TcpCb& other) {
  bool overlap = so.inp.laddr.is_any() || other.laddr.is_any() || so.inp.laddr == other.laddr;
  if (!overlap || other.so == &so) {
    return false;
  }
  uint32_t mine = so.options;
  uint32_t theirs = other.so != nullptr ? other.so->options : kSoReuseAddr;
  if ((mine & kSoReusePort) && (theirs & kSoReusePort)) {
    return false;
  }
  if ((mine & kSoReuseAddr) && (theirs & kSoReuseAddr) && other.state != TcpFsmState::kListen) {
    return false;
  }
  return true;
}

bool tcp_port_free(Stack& stack, const Socket& so, uint16_t port) {
  auto it = stack.tcp.by_port.find(port);
  if (it == stack.tcp.by_port.end()) {
    return true;
  }
  return std::none_of(it->second.begin(), it->second.end(),
                      [&](const TcpCb* tp) { return tcp_bind_conflicts(so, *tp); });
}

// RFC 6056 §3.3.1 (Algorithm 1): a random start in the ephemeral range,
// then the next free port. With a destination, a port is also refused when
// the 4-tuple is in use (a TIME_WAIT of an earlier connection).
Result<uint16_t, Errno> tcp_pick_port(Stack& stack, Socket& so, const SockAddr* dst) {
  auto lo = static_cast<uint32_t>(stack.udp.anonportmin);
  auto hi = static_cast<uint32_t>(std::max(stack.udp.anonportmax, stack.udp.anonportmin));
  uint32_t count = hi - lo + 1;
  uint32_t start = stack.random().uniform(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto port = static_cast<uint16_t>(lo + (start + i) % count);
    if (!tcp_port_free(stack, so, port)) {
      continue;
    }
    if (dst != nullptr && tcp_lookup(stack, dst->in, dst->port, so.inp.laddr, port) != nullptr) {
      continue;
    }
    return port;
  }
  return Err(Errno{EADDRINUSE});
}

Result<void, Errno> opt_int(std::span<const std::byte> val, int& out) {
  if (val.size() < sizeof(int)) {
    return Err(Errno{EINVAL});
  }
  std::memcpy(&out, val.data(), sizeof out);
  return {};
}

std::vector<std::byte> int_bytes(int v) {
  std::vector<std::byte> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

// Linux's state numbers (include/net/tcp_states.h), which tcp_info carries.
uint8_t linux_tcp_state(TcpFsmState s) {
  switch (s) {
    case TcpFsmState::kEstablished:
      return TCP_ESTABLISHED;
    case TcpFsmState::kSynSent:
      return TCP_SYN_SENT;
    case TcpFsmState::kSynReceived:
      return TCP_SYN_RECV;
    case TcpFsmState::kFinWait1:
      return TCP_FIN_WAIT1;
    case TcpFsmState::kFinWait2:
      return TCP_FIN_WAIT2;
    case TcpFsmState::kTimeWait:
      return TCP_TIME_WAIT;
    case TcpFsmState::kClosed:
      return TCP_CLOSE;
    case TcpFsmState::kCloseWait:
      return TCP_CLOSE_WAIT;
    case TcpFsmState::kLastAck:
      return TCP_LAST_ACK;
    case TcpFsmState::kListen:
      return TCP_LISTEN;
    case TcpFsmState::kClosing:
      return TCP_CLOSING;
  }
  return TCP_CLOSE;
}

uint32_t usecs(Duration d) {
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// TCP_INFO as Linux lays it out (glibc's struct tcp_info): what programs
// such as iperf3 and ss read — state, RTT, windows, retransmissions.
std::vector<std::byte> tcp_info_bytes(Stack& stack, const TcpCb& tp) {
  struct tcp_info ti {};
  ti.tcpi_state = linux_tcp_state(tp.state);
  ti.tcpi_ca_state = tp.in_recovery ? 3 : 0;  // TCP_CA_Recovery : TCP_CA_Open
  ti.tcpi_retransmits = static_cast<uint8_t>(std::min(tp.rxtshift, 255));
  ti.tcpi_probes = static_cast<uint8_t>(std::min(tp.persist_shift + tp.keep_probes, 255));
  ti.tcpi_backoff = static_cast<uint8_t>(std::min(tp.rxtshift, 255));
  ti.tcpi_options =
      static_cast<uint8_t>((tp.ts_ok ? TCPI_OPT_TIMESTAMPS : 0) | (tp.sack_ok ? TCPI_OPT_SACK : 0) |
                           (tp.ws_ok ? TCPI_OPT_WSCALE : 0));
  if (tp.ws_ok) {
    ti.tcpi_snd_wscale = tp.snd_scale & 0xf;
    ti.tcpi_rcv_wscale = tp.rcv_scale & 0xf;
  }
  uint32_t mss = tp.t_maxseg - (tp.ts_ok ? 12 : 0);
  ti.tcpi_rto = usecs(tp.rto);
  ti.tcpi_snd_mss = mss;
  ti.tcpi_rcv_mss = tp.our_mss;
  ti.tcpi_unacked = mss != 0 ? (tp.flight() + mss - 1) / mss : 0;
  ti.tcpi_pmtu = tp.t_maxseg + 40u;
  ti.tcpi_rtt = usecs(tp.srtt);
  ti.tcpi_rttvar = usecs(tp.rttvar);
  ti.tcpi_snd_ssthresh = mss != 0 ? std::min<uint32_t>(tp.ssthresh / mss, 0x7fffffff) : 0;
  ti.tcpi_snd_cwnd = mss != 0 ? tp.cwnd / mss : 0;
  ti.tcpi_advmss = tp.our_mss;
  ti.tcpi_reordering = 3;  // DupThresh
  ti.tcpi_rcv_space = static_cast<uint32_t>(tp.rcv_hiwat);
  (void)stack;
  std::vector<std::byte> out(sizeof ti);
  std::memcpy(out.data(), &ti, sizeof ti);
  return out;
}

// The socket and control block behind a stream-socket call: EBADF for no
// such socket, EOPNOTSUPP for one that is not TCP.
struct StreamSocket {
  Socket* so;
  TcpCb* tp;
};
Result<StreamSocket, Errno> stream_socket(Stack& stack, SocketId id) {
  Socket* so = stack.so_find(id);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  if (so->tcb == nullptr) {
    return Err(Errno{EOPNOTSUPP});
  }
  return StreamSocket{so, so->tcb};
}

}  // namespace

Result<void, Errno> tcp_attach(Stack& stack, Socket& so) {
  TcpCb* tp = tcp_newcb(stack);
  tp->so = &so;
  so.tcb = tp;
  so.snd_hiwat = static_cast<size_t>(stack.tcp.sendspace);
  so.rcv_hiwat = static_cast<size_t>(stack.tcp.recvspace);
  return {};
}

Result<void, Errno> tcp_bind(Stack& stack, Socket& so, const SockAddr& addr) {
  TcpCb* tp = so.tcb;
  if (so.inp.bound() || tp->state != TcpFsmState::kClosed) {
    return Err(Errno{EINVAL});
  }
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (!addr.in.is_any() && stack.in_local_ifnet(addr.in) == nullptr) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  so.inp.laddr = addr.in;
  uint16_t port = addr.port;
  if (port == 0) {
    auto p = tcp_pick_port(stack, so, nullptr);
    if (!p) {
      so.inp.laddr = InAddr::any();
      return Err(p.error());
    }
    port = *p;
  } else if (!tcp_port_free(stack, so, port)) {
    so.inp.laddr = InAddr::any();
    return Err(Errno{EADDRINUSE});
  }
  so.inp.lport = port;
  tp->laddr = so.inp.laddr;
  tp->lport = port;
  tcp_port_insert(stack, *tp);
  return {};
}

Result<void, Errno> tcp_listen(Stack& stack, Socket& so, int backlog) {
  TcpCb* tp = so.tcb;
  if (tp->state != TcpFsmState::kClosed && tp->state != TcpFsmState::kListen) {
    return Err(Errno{EINVAL});
  }
  if (tp->lport == 0 && tp->fport != 0) {
    return Err(Errno{EINVAL});
  }
  if (!so.inp.bound()) {
    auto r = tcp_bind(stack, so, SockAddr::inet(InAddr::any(), 0));
    if (!r) {
      return r;
    }
  }
  // Linux: the backlog is cut to somaxconn; 0 or less still admits one.
  tp->backlog = static_cast<int>(std::clamp<int64_t>(backlog, 1, stack.tcp.somaxconn));
  if (tp->state != TcpFsmState::kListen) {
    stack.tcp.listeners[tp->lport].push_back(tp);  // out again in tcp_close
  }
  tp->state = TcpFsmState::kListen;
  return {};
}

Result<void, Errno> tcp_connect(Stack& stack, Socket& so, const SockAddr& addr) {
  TcpCb* tp = so.tcb;
  switch (tp->state) {
    case TcpFsmState::kClosed:
      break;
    case TcpFsmState::kSynSent:
    case TcpFsmState::kSynReceived:
      return Err(Errno{EALREADY});
    case TcpFsmState::kListen:
      return Err(Errno{EINVAL});
    default:
      return Err(Errno{EISCONN});
  }
  if (tp->iss != TcpSeq{} || tp->fport != 0) {
    return Err(Errno{EISCONN});  // a control block is used for one connection only
  }
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (addr.port == 0 || addr.in.is_any() || addr.in.is_broadcast() || addr.in.is_multicast()) {
    return Err(Errno{addr.port == 0 ? ECONNREFUSED : ENETUNREACH});
  }
  // The socket's routing table (mfib_gid_map: Socket::fib) decides the
  // route, the source address and the MSS, and stays the connection's.
  tp->fib = so.fib;
  auto route = ip_route_lookup(stack, addr.in, tp->fib);
  if (!route) {
    return Err(Errno{ip_output_errno(route.error())});
  }
  if (so.inp.laddr.is_any()) {
    so.inp.laddr = route->src;
  }
  tp->laddr = so.inp.laddr;
  if (!so.inp.bound()) {
    auto p = tcp_pick_port(stack, so, &addr);
    if (!p) {
      return Err(p.error());
    }
    so.inp.lport = *p;
    tp->lport = *p;
    tcp_port_insert(stack, *tp);
  } else if (tcp_lookup(stack, addr.in, addr.port, tp->laddr, tp->lport) != nullptr) {
    return Err(Errno{EADDRINUSE});  // the 4-tuple is taken (TIME_WAIT or live)
  }
  so.inp.faddr = addr.in;
  so.inp.fport = addr.port;
  tp->faddr = addr.in;
  tp->fport = addr.port;
  tcp_hash_insert(stack, *tp);
  tp->rcv_hiwat = so.rcv_hiwat;
  tp->snd_hiwat = so.snd_hiwat;
  // RFC 7323 §2.2: the shift that can offer the buffer as it may grow.
  tp->request_r_scale = tcp_rscale_for(stack, *tp);
  // The route's MTU, or the path MTU learned for the destination (RFC 1191
  // §6.3): advertised and used from the start.
  tp->our_mss = tcp_mss_for_route(stack, addr.in, tp->fib);
  if (const TcpState::PmtuEntry* e = tcp_pmtu_lookup(stack, addr.in, tp->fib)) {
    tp->pmtu_nodf = e->nodf;
  }
  tp->t_maxseg = std::min<uint16_t>(tp->our_mss, static_cast<uint16_t>(stack.tcp.mssdflt));
  tp->ts_offset = tcp_ts_offset(stack, tp->laddr, tp->lport, tp->faddr, tp->fport);
  tp->iss = tcp_new_isn(stack, tp->laddr, tp->lport, tp->faddr, tp->fport);
  tp->snd_una = tp->snd_nxt = tp->snd_max = tp->snd_recover = tp->iss;
  tp->state = TcpFsmState::kSynSent;
  ++stack.tcp.stat.connattempt;
  tcp_output(stack, *tp);
  return Err(Errno{EINPROGRESS});
}

// Our FIN is queued: the state moves now, the FIN leaves after the data.
static void tcp_usrclosed(Stack& stack, TcpCb& tp) {
  switch (tp.state) {
    case TcpFsmState::kClosed:
    case TcpFsmState::kListen:
    case TcpFsmState::kSynSent:
      tcp_close(stack, tp);
      return;
    case TcpFsmState::kSynReceived:
    case TcpFsmState::kEstablished:
      tp.state = TcpFsmState::kFinWait1;
      break;
    case TcpFsmState::kCloseWait:
      tp.state = TcpFsmState::kLastAck;
      break;
    default:
      return;  // already closing
  }
  tp.fin_queued = true;
  tcp_output(stack, tp);
}

Result<void, Errno> tcp_shutdown(Stack& stack, Socket& so, int how) {
  TcpCb* tp = so.tcb;
  if (tp->state == TcpFsmState::kClosed && tp->fport == 0) {
    return Err(Errno{ENOTCONN});
  }
  if (how != SHUT_WR) {
    // Linux: SHUT_RD discards what is queued and anything that comes.
    so.cant_recv = true;
    tp->cant_rcv = true;
    tp->rcv_buf.reset();
    tp->rcv_cc = 0;
    tp->rcv_urgent = false;
    stack.so_wakeup(so);
  }
  if (how != SHUT_RD) {
    so.cant_send = true;
    if (tp->state == TcpFsmState::kListen) {
      tcp_close(stack, *tp);
    } else if (tp->state != TcpFsmState::kSynSent) {
      tcp_usrclosed(stack, *tp);
    }
  }
  return {};
}

void tcp_detach(Stack& stack, Socket& so) {
  TcpCb* tp = so.tcb;
  if (tp == nullptr) {
    return;
  }
  so.tcb = nullptr;
  bool unread = tp->rcv_cc > 0;
  tp->so = nullptr;
  if (tp->state == TcpFsmState::kClosed) {
    tcp_close(stack, *tp);  // frees it now that no socket points at it
    return;
  }
  if (tp->linger_zero || (unread && tcps_have_established(tp->state))) {
    // SO_LINGER {1, 0}: abort. Unread data: RFC 2525 §2.17, as Linux and
    // BSD, reset rather than pretend an orderly close.
    tcp_drop(stack, *tp, ECONNABORTED, true);
    return;
  }
  tp->rcv_buf.reset();
  tp->rcv_cc = 0;
  tp->rcv_urgent = false;
  tp->cant_rcv = true;
  if (tp->state == TcpFsmState::kFinWait2) {
    tp->twait_timer.reset(std::chrono::milliseconds(stack.tcp.fin_wait2_ms));
  }
  tcp_usrclosed(stack, *tp);
}

Result<void, Errno> tcp_setsockopt(Stack& stack, Socket& so, int level, int name,
                                   std::span<const std::byte> val) {
  TcpCb* tp = so.tcb;
  if (level == SOL_SOCKET && name == SO_LINGER) {
    struct linger l {};
    if (val.size() < sizeof l) {
      return Err(Errno{EINVAL});
    }
    std::memcpy(&l, val.data(), sizeof l);
    // {1, 0}: close aborts. A positive time is the closing client's to wait
    // out (libiopkt's iopkt_close waits until the FIN is acknowledged, at
    // most that long, as Linux's close does).
    so.linger = l.l_onoff != 0 ? std::max(l.l_linger, 0) : -1;
    tp->linger_zero = so.linger == 0;
    return {};
  }
  if (level != IPPROTO_TCP) {
    return Err(Errno{ENOPROTOOPT});
  }
  if (name == TCP_CONGESTION) {
    // tcp(7): the name, NUL-terminated or not, at most TCP_CA_NAME_MAX - 1
    // characters; an unknown one is ENOENT.
    if (val.empty()) {
      return Err(Errno{EINVAL});
    }
    std::string_view text(reinterpret_cast<const char*>(val.data()),
                          std::min<size_t>(val.size(), kTcpCaNameMax - 1));
    text = text.substr(0, text.find('\0'));
    const TcpCongestionControl* cc = tcp_cc_find(text);
    if (cc == nullptr) {
      return Err(Errno{ENOENT});
    }
    if (cc != tp->cc) {
      tp->cc = cc;
      cc->init(*tp);
    }
    return {};
  }
  int v = 0;
  if (auto r = opt_int(val, v); !r) {
    return r;
  }
  switch (name) {
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
      // Linux's ranges (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL): 1..32767 s.
      if (v < 1 || v > 32767) {
        return Err(Errno{EINVAL});
      }
      (name == TCP_KEEPIDLE ? tp->keepidle : tp->keepintvl) = v;
      if (name == TCP_KEEPIDLE) {
        tcp_keep_start(stack, *tp);  // the new idle time counts at once, as Linux
      }
      return {};
    case TCP_KEEPCNT:
      if (v < 1 || v > 127) {  // MAX_TCP_KEEPCNT
        return Err(Errno{EINVAL});
      }
      tp->keepcnt = v;
      return {};
    case TCP_NODELAY:
      tp->nodelay = v != 0;
      tcp_output(stack, *tp);  // what Nagle held back may go now
      return {};
    case TCP_USER_TIMEOUT:
      // RFC 5482 §3, tcp(7): milliseconds, 0 for the system's retry limits;
      // negative is EINVAL. The timers in flight pick it up when re-armed.
      if (v < 0) {
        return Err(Errno{EINVAL});
      }
      tp->user_timeout_ms = static_cast<uint32_t>(v);
      return {};
    case TCP_CORK:
      // tcp(7): partial segments wait while set; clearing it sends them.
      tp->cork = v != 0;
      if (!tp->cork) {
        tp->cork_timer.stop();
        tp->cork_flush = true;
        tcp_output(stack, *tp);
        tp->cork_flush = false;
      }
      return {};
    case TCP_DEFER_ACCEPT:
      // tcp(7): seconds; Linux keeps it as a number of SYN,ACK
      // retransmissions and reads back their rounded-up sum, we keep (and
      // read back) the seconds. Zero or negative turns it off.
      tp->defer_accept = std::max(v, 0);
      return {};
    case TCP_FASTOPEN:
    case TCP_FASTOPEN_CONNECT:
      return Err(Errno{ENOPROTOOPT});  // no Fast Open (RFC 7413) yet: refused, not ignored
    case TCP_MAXSEG:
      if (v < 88 || v > 65495) {
        return Err(Errno{EINVAL});
      }
      if (!tcps_have_rcvd_syn(tp->state)) {
        tp->t_maxseg = static_cast<uint16_t>(v);
      }
      return {};
    default:
      return Err(Errno{ENOPROTOOPT});
  }
}

Result<std::vector<std::byte>, Errno> tcp_getsockopt(Stack& stack, Socket& so, int level,
                                                     int name) {
  TcpCb* tp = so.tcb;
  if (level == SOL_SOCKET && name == SO_LINGER) {
    struct linger l {};
    l.l_onoff = so.linger >= 0 ? 1 : 0;
    l.l_linger = std::max(so.linger, 0);
    std::vector<std::byte> out(sizeof l);
    std::memcpy(out.data(), &l, sizeof l);
    return out;
  }
  if (level != IPPROTO_TCP) {
    return Err(Errno{ENOPROTOOPT});
  }
  switch (name) {
    case TCP_CONGESTION: {
      std::vector<std::byte> out(kTcpCaNameMax);  // NUL-padded, as Linux
      std::string_view n = tp->cc->name();
      std::memcpy(out.data(), n.data(), std::min(n.size(), out.size() - 1));
      return out;
    }
    case TCP_KEEPIDLE:
      return int_bytes(static_cast<int>(
          std::chrono::duration_cast<std::chrono::seconds>(tcp_keepidle(stack, *tp)).count()));
    case TCP_KEEPINTVL:
      return int_bytes(static_cast<int>(
          std::chrono::duration_cast<std::chrono::seconds>(tcp_keepintvl(stack, *tp)).count()));
    case TCP_KEEPCNT:
      return int_bytes(tcp_keepcnt(stack, *tp));
    case TCP_NODELAY:
      return int_bytes(tp->nodelay ? 1 : 0);
    case TCP_USER_TIMEOUT:
      return int_bytes(static_cast<int>(tp->user_timeout_ms));
    case TCP_CORK:
      return int_bytes(tp->cork ? 1 : 0);
    case TCP_DEFER_ACCEPT:
      return int_bytes(tp->defer_accept);
    case TCP_MAXSEG:
      return int_bytes(tp->t_maxseg - (tp->ts_ok ? 12 : 0));
    case TCP_INFO:
      return tcp_info_bytes(stack, *tp);
    default:
      return Err(Errno{ENOPROTOOPT});
  }
}

// --- the Stack's stream-socket calls ----------------------------------------

Result<void, Errno> Stack::so_listen(SocketId id, int backlog) {
  auto ss = stream_socket(*this, id);
  if (!ss) {
    return Err(ss.error());
  }
  return tcp_listen(*this, *ss->so, backlog);
}

Result<SocketId, Errno> Stack::so_accept(SocketId id) {
  tcp_gc(*this);
  auto ss = stream_socket(*this, id);
  if (!ss) {
    return Err(ss.error());
  }
  auto [lso, lp] = *ss;
  if (lp->state != TcpFsmState::kListen) {
    return Err(Errno{EINVAL});
  }
  if (lp->accept_q.empty()) {
    return Err(Errno{EAGAIN});
  }
  TcpCb* tp = lp->accept_q.front();
  lp->accept_q.pop_front();
  tp->listener = nullptr;
  auto so = std::make_unique<Socket>();
  so->id = next_socket_id_++;
  so->domain = lso->domain;
  so->type = lso->type;
  so->protocol = lso->protocol;
  so->options = lso->options;  // inherited as BSD sonewconn does
  so->linger = lso->linger;
  so->rcvbuf_locked = lso->rcvbuf_locked;  // a fixed SO_RCVBUF/SO_SNDBUF stays fixed
  so->sndbuf_locked = lso->sndbuf_locked;
  so->ip_ttl = lso->ip_ttl;
  so->ip_tos = lso->ip_tos;
  so->fib = lso->fib;  // the listener's routing table (mfib_gid_map)
  so->snd_hiwat = tp->snd_hiwat;
  so->rcv_hiwat = tp->rcv_hiwat;
  so->inp.laddr = tp->laddr;
  so->inp.lport = tp->lport;
  so->inp.faddr = tp->faddr;
  so->inp.fport = tp->fport;
  so->tcb = tp;
  tp->so = so.get();
  if (tp->so_error != 0) {
    so->so_error = tp->so_error;
  }
  SocketId nid = so->id;
  sockets_.emplace(nid, std::move(so));
  return nid;
}

Result<size_t, Errno> Stack::so_send_stream(SocketId id, std::span<const std::byte> bytes,
                                            bool urgent) {
  tcp_gc(*this);
  auto ss = stream_socket(*this, id);
  if (!ss) {
    return Err(ss.error());
  }
  auto [so, tp] = *ss;
  if (so->so_error != 0) {
    int e = so->so_error;
    so->so_error = 0;
    return Err(Errno{e});
  }
  if (so->cant_send || tcps_sent_fin(tp->state)) {
    return Err(Errno{EPIPE});
  }
  switch (tp->state) {
    case TcpFsmState::kEstablished:
    case TcpFsmState::kCloseWait:
      break;
    case TcpFsmState::kSynSent:
    case TcpFsmState::kSynReceived:
      return Err(Errno{EAGAIN});  // not connected yet: wait for "writable"
    case TcpFsmState::kClosed:
      return Err(Errno{tp->fport != 0 ? EPIPE : ENOTCONN});
    default:
      return Err(Errno{ENOTCONN});
  }
  tp->snd_hiwat = so->snd_hiwat;
  size_t n = std::min(bytes.size(), tcp_snd_space(*this, *tp));
  if (n == 0) {
    if (!bytes.empty() && tcp_mem_pressure(*this) && tp->snd_space() > 0) {
      ++tcp.stat.mem_pressure;
    }
    return bytes.empty() ? Result<size_t, Errno>(size_t{0}) : Err(Errno{EAGAIN});
  }
  bool ok = tp->snd_buf ? tp->snd_buf.append(bytes.first(n))
                        : static_cast<bool>(tp->snd_buf = Mbuf::copy_from(pool(), bytes.first(n)));
  if (!ok) {
    return Err(Errno{ENOBUFS});
  }
  tp->snd_cc += n;
  if (urgent && n == bytes.size()) {
    // send(MSG_OOB): the last byte is urgent; SND.UP points after it (RFC
    // 6093 §4). The buffer starts at SND.UNA in these states.
    tp->snd_up = tp->snd_una + static_cast<uint32_t>(tp->snd_cc);
    tp->snd_urgent = true;
  }
  tcp_output(*this, *tp);
  netisr_run();
  return n;
}

namespace {

// The user took `n` bytes from the front of the receive buffer: the urgent
// byte among them has been handed over.
void tcp_took(TcpCb& tp, size_t n) {
  if (tp.rcv_urgent && (tp.rcv_up - 1u) - tcp_rcv_head(tp) < n) {
    tp.rcv_urgent = false;
  }
  tp.rcv_buf.trim_front(n);
  tp.rcv_cc -= n;
  if (tp.rcv_cc == 0) {
    tp.rcv_buf.reset();
  }
  tp.user_read = true;
}

}  // namespace

Result<std::vector<std::byte>, Errno> Stack::so_recv_stream(SocketId id, size_t max) {
  tcp_gc(*this);
  auto ss = stream_socket(*this, id);
  if (!ss) {
    return Err(ss.error());
  }
  auto [so, tp] = *ss;
  if (tp->rcv_cc > 0 && max > 0) {
    size_t n = std::min(max, tp->rcv_cc);
    std::vector<std::byte> out(n);
    (void)tp->rcv_buf.copy_out(0, out);
    tcp_took(*tp, n);
    tcp_rcvbuf_autotune(*this, *tp, n);
    tcp_output(*this, *tp);  // a window update if the window opened enough
    netisr_run();
    return out;
  }
  if (so->so_error != 0) {
    int e = so->so_error;
    so->so_error = 0;
    return Err(Errno{e});
  }
  if (tp->fin_received || so->cant_recv) {
    return std::vector<std::byte>{};  // end of file
  }
  if (tp->state == TcpFsmState::kClosed) {
    return tp->fport != 0 ? Result<std::vector<std::byte>, Errno>(std::vector<std::byte>{})
                          : Err(Errno{ENOTCONN});
  }
  if (tp->state == TcpFsmState::kListen) {
    return Err(Errno{ENOTCONN});
  }
  return Err(Errno{EAGAIN});
}

size_t Stack::so_recv_stream_to(
    SocketId id, const std::function<size_t(std::span<const std::span<const std::byte>>)>& sink) {
  auto ss = stream_socket(*this, id);
  if (!ss || ss->tp->rcv_cc == 0) {
    return 0;
  }
  TcpCb* tp = ss->tp;
  auto segs = tp->rcv_buf.segments();
  size_t n = std::min(sink(segs), tp->rcv_cc);
  if (n == 0) {
    return 0;
  }
  tcp_took(*tp, n);
  tcp_rcvbuf_autotune(*this, *tp, n);
  tcp_output(*this, *tp);  // a window update if the window opened enough
  netisr_run();
  return n;
}

Result<TcpSocketStatus, Errno> Stack::so_stream_status(SocketId id) {
  auto ss = stream_socket(*this, id);
  if (!ss) {
    return Err(ss.error());
  }
  auto [so, tp] = *ss;
  TcpSocketStatus st;
  st.state = tp->state;
  st.readable = tp->rcv_cc;
  st.connected = tcps_have_established(tp->state);
  bool can_send =
      (tp->state == TcpFsmState::kEstablished || tp->state == TcpFsmState::kCloseWait) &&
      !so->cant_send;
  st.writable = can_send ? std::min(tcp_snd_space(*this, *tp), so->snd_hiwat) : 0;
  st.eof = tp->rcv_cc == 0 && (tp->fin_received || so->cant_recv);
  st.error = so->so_error;
  st.acceptable = tp->accept_q.size();
  if (tp->rcv_urgent) {
    st.urgent = true;
    st.urgent_at = (tp->rcv_up - 1u) - tcp_rcv_head(*tp);
  }
  return st;
}

}  // namespace iopkt
