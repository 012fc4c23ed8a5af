// netinet/udp_usrreq.cc — UDP, RFC 768 and RFC 1122 §4.1: binding, sending
// and demultiplexing datagrams to sockets.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>

#include "core/stack.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"
#include "netinet/udp.hh"
#include "netinet/udp_var.hh"

namespace iopkt {

std::span<const UdpCounterInfo> udpstat_fields() {
  static constexpr UdpCounterInfo kFields[] = {
      {"ipackets", &UdpStat::ipackets}, {"hdrops", &UdpStat::hdrops},
      {"badlen", &UdpStat::badlen},     {"badsum", &UdpStat::badsum},
      {"noport", &UdpStat::noport},     {"noportbcast", &UdpStat::noportbcast},
      {"fullsock", &UdpStat::fullsock}, {"opackets", &UdpStat::opackets},
      {"icmperr", &UdpStat::icmperr},   {"icmpnomatch", &UdpStat::icmpnomatch},
  };
  return kFields;
}

namespace {

// Largest payload of one UDP datagram over IPv4: 65535 - 20 - 8.
constexpr size_t kUdpMaxPayload = 65507;

// Linux's rule, which the programs our users run expect: two sockets may
// share a local port when both set SO_REUSEADDR or both set SO_REUSEPORT,
// or when they are bound to different specific addresses.
bool udp_bind_conflicts(const Socket& a, const Socket& b) {
  bool addrs_overlap = a.inp.laddr.is_any() || b.inp.laddr.is_any() || a.inp.laddr == b.inp.laddr;
  if (!addrs_overlap) {
    return false;
  }
  bool both_reuseaddr = (a.options & kSoReuseAddr) && (b.options & kSoReuseAddr);
  bool both_reuseport = (a.options & kSoReusePort) && (b.options & kSoReusePort);
  return !both_reuseaddr && !both_reuseport;
}

void udp_hash_insert(UdpState& udp, Socket& so) { udp.by_port[so.inp.lport].push_back(&so); }

void udp_hash_remove(UdpState& udp, Socket& so) {
  auto it = udp.by_port.find(so.inp.lport);
  if (it == udp.by_port.end()) {
    return;
  }
  std::erase(it->second, &so);
  if (it->second.empty()) {
    udp.by_port.erase(it);
  }
}

bool udp_port_free(UdpState& udp, const Socket& so, uint16_t port) {
  auto it = udp.by_port.find(port);
  if (it == udp.by_port.end()) {
    return true;
  }
  return std::none_of(it->second.begin(), it->second.end(),
                      [&](const Socket* other) { return udp_bind_conflicts(so, *other); });
}

// RFC 6056 §3.3.1 (Algorithm 1): a random starting point in the range, then
// a linear search for a free port.
Result<uint16_t, Errno> udp_pick_port(Stack& stack, Socket& so) {
  auto lo = static_cast<uint32_t>(stack.udp.anonportmin);
  auto hi = static_cast<uint32_t>(std::max(stack.udp.anonportmax, stack.udp.anonportmin));
  uint32_t count = hi - lo + 1;
  uint32_t start = stack.random().uniform(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto port = static_cast<uint16_t>(lo + (start + i) % count);
    if (udp_port_free(stack.udp, so, port)) {
      return port;
    }
  }
  return Err(Errno{EADDRINUSE});
}

Result<void, Errno> udp_autobind(Stack& stack, Socket& so) {
  if (so.inp.bound()) {
    return {};
  }
  auto port = udp_pick_port(stack, so);
  if (!port) {
    return Err(port.error());
  }
  so.inp.lport = port.value();
  udp_hash_insert(stack.udp, so);
  return {};
}

}  // namespace

Result<void, Errno> udp_bind(Stack& stack, Socket& so, const SockAddr& addr) {
  if (so.inp.bound()) {
    return Err(Errno{EINVAL});
  }
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (!addr.in.is_any() && !addr.in.is_multicast() && !addr.in.is_broadcast() &&
      stack.in_local_ifnet(addr.in) == nullptr) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  so.inp.laddr = addr.in;
  if (addr.port == 0) {
    auto r = udp_autobind(stack, so);
    if (!r) {
      so.inp.laddr = InAddr::any();
    }
    return r;
  }
  if (!udp_port_free(stack.udp, so, addr.port)) {
    so.inp.laddr = InAddr::any();
    return Err(Errno{EADDRINUSE});
  }
  so.inp.lport = addr.port;
  udp_hash_insert(stack.udp, so);
  return {};
}

Result<void, Errno> udp_connect(Stack& stack, Socket& so, const SockAddr& addr) {
  if (addr.family == AF_UNSPEC) {
    // Dissolve the association (POSIX connect(2) on datagram sockets).
    so.inp.faddr = InAddr::any();
    so.inp.fport = 0;
    return {};
  }
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (addr.port == 0) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  // A group is reached by IP_MULTICAST_IF's interface or the route's
  // (in_mcast.cc); Linux lets a UDP socket connect to one.
  InMcastSend mo = in_mcast_send_options(stack, so);
  auto route = addr.in.is_multicast() ? in_mcast_route(stack, addr.in, mo.ifindex, mo.if_addr)
                                      : ip_route_lookup(stack, addr.in, so.fib);
  if (!route) {
    return Err(Errno{ip_output_errno(route.error())});
  }
  auto bound = udp_autobind(stack, so);
  if (!bound) {
    return bound;
  }
  // The local address is fixed by connect (BSD in_pcbconnect, Linux): the
  // source the route would choose, so getsockname shows it.
  if (so.inp.laddr.is_any()) {
    so.inp.laddr = route->src;
  }
  so.inp.faddr = addr.in;
  so.inp.fport = addr.port;
  return {};
}

Result<void, Errno> udp_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to,
                             const DgramSendOpts* opts) {
  if (so.cant_send) {
    return Err(Errno{EPIPE});
  }
  SockAddr dst;
  if (to != nullptr && to->family != AF_UNSPEC) {
    if (to->family != AF_INET) {
      return Err(Errno{EAFNOSUPPORT});
    }
    if (to->port == 0) {
      return Err(Errno{EINVAL});
    }
    dst = *to;
  } else if (so.inp.connected()) {
    dst = SockAddr::inet(so.inp.faddr, so.inp.fport);
  } else {
    return Err(Errno{EDESTADDRREQ});
  }
  if (payload.len() > kUdpMaxPayload || payload.len() > static_cast<size_t>(stack.udp.sendspace)) {
    return Err(Errno{EMSGSIZE});
  }
  if (dst.in.is_broadcast() && !(so.options & kSoBroadcast)) {
    return Err(Errno{EACCES});  // as Linux and BSD: broadcast needs SO_BROADCAST
  }
  auto bound = udp_autobind(stack, so);
  if (!bound) {
    return bound;
  }
  // Source, route, TTL and TOS: the socket's, or the sendmsg's ancillary
  // data (IP_PKTINFO, IP_TTL, IP_TOS).
  IpOutputArgs args;
  IpRoute route;
  if (auto r = in_send_route(stack, so, opts, dst.in, args, route); !r) {
    return r;
  }
  InAddr src = args.src;
  auto len = static_cast<uint16_t>(payload.len() + UdpHeader::kSize);
  auto h = payload.prepend(UdpHeader::kSize);
  if (h.empty()) {
    return Err(Errno{ENOBUFS});
  }
  UdpFields{so.inp.lport, dst.port, len, 0}.emit(h);
  uint32_t sum = in_cksum_add_mbuf(in_pseudo_sum(src, dst.in, kIpProtoUdp, len), payload, 0, len);
  uint16_t cksum = in_cksum_finish(sum);
  // RFC 768: a computed zero is sent as all ones; zero means "no checksum".
  UdpFields{so.inp.lport, dst.port, len, cksum == 0 ? uint16_t{0xffff} : cksum}.emit(h);
  ++stack.udp.stat.opackets;
  args.protocol = kIpProtoUdp;
  auto r = ip_output(stack, std::move(payload), args);
  if (!r) {
    return Err(Errno{ip_output_errno(r.error())});
  }
  return {};
}

void udp_detach(Stack& stack, Socket& so) {
  if (so.inp.bound()) {
    udp_hash_remove(stack.udp, so);
  }
}

namespace {

bool udp_matches(const Socket& so, InAddr src, uint16_t sport, InAddr dst) {
  if (so.cant_recv) {
    return false;
  }
  if (!so.inp.laddr.is_any() && so.inp.laddr != dst) {
    return false;
  }
  if (so.inp.connected() && (so.inp.faddr != src || so.inp.fport != sport)) {
    return false;
  }
  return true;
}

// Higher is a better match: connected and bound to the address beats bound
// beats wildcard (BSD in_pcblookup).
int udp_match_score(const Socket& so) {
  return (so.inp.connected() ? 2 : 0) + (so.inp.laddr.is_any() ? 0 : 1);
}

void udp_append(Stack& stack, Socket& so, Mbuf data, InAddr src, uint16_t sport,
                const DgramRecvInfo& info) {
  size_t len = data.len();
  if (so.rcv_cc + len > so.rcv_hiwat) {
    ++so.rcv_drops;
    ++stack.udp.stat.fullsock;
    return;
  }
  so.rcv_cc += len;
  so.rcv.push_back(Datagram{std::move(data), SockAddr::inet(src, sport), info});
  stack.so_wakeup(so);
}

}  // namespace

void udp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept {
  UdpStat& st = stack.udp.stat;
  ++st.ipackets;
  size_t ip_len = m.len() - iphlen;
  auto first = m.pullup(iphlen + std::min(ip_len, UdpHeader::kSize));
  if (first.empty()) {
    ++st.hdrops;
    return;
  }
  InAddr ip_src{load_be32(first, 12)}, ip_dst{load_be32(first, 16)};
  const DgramRecvInfo info = ip_recv_info(first, &rcvif);  // for IP_PKTINFO, IP_RECVTTL...
  auto parsed = UdpHeader::parse(std::span<const std::byte>(first).subspan(iphlen), ip_len);
  if (!parsed) {
    ++(parsed.error() == UdpParseError::kTooShort ? st.hdrops : st.badlen);
    return;
  }
  UdpHeader uh = parsed.value();
  uint16_t len = uh.length(), sport = uh.src_port(), dport = uh.dst_port();
  bool has_cksum = uh.checksum() != 0;
  if (ip_len > len) {
    m.trim_back(ip_len - len);  // IP carried more than UDP claims
  }
  // RFC 1122 §4.1.3.4: verify when the sender computed a checksum.
  // Frames looped back by this stack were summed moments ago.
  if (has_cksum && !(m.hdr().flags & kMbufLoop)) {
    uint32_t sum =
        in_cksum_add_mbuf(in_pseudo_sum(ip_src, ip_dst, kIpProtoUdp, len), m, iphlen, len);
    if (in_cksum_finish(sum) != 0) {
      ++st.badsum;
      return;
    }
  }
  bool multi = ip_dst.is_broadcast() || ip_dst.is_multicast() ||
               (m.hdr().flags & (kMbufBcast | kMbufMcast)) != 0;
  if (!multi) {
    for (const auto& ia : rcvif.in_addrs) {
      multi = multi || (!ia.broadcast.is_any() && ia.broadcast == ip_dst);
    }
  }
  std::vector<Socket*> targets;
  auto it = stack.udp.by_port.find(dport);
  if (it != stack.udp.by_port.end() && multi) {
    // RFC 1122 §4.1.3.5 leaves it open; BSD and Linux deliver broadcast and
    // multicast to every matching socket. For a group, the socket's own
    // membership filter on the arrival interface decides, else
    // IP_MULTICAST_ALL (Linux ip_mc_sf_allow).
    for (Socket* so : it->second) {
      if ((so->inp.laddr.is_any() || so->inp.laddr == ip_dst) &&
          (!so->inp.connected() || (so->inp.faddr == ip_src && so->inp.fport == sport)) &&
          (!ip_dst.is_multicast() ||
           in_mcast_socket_accepts(stack, *so, ip_dst, ip_src, rcvif.index))) {
        targets.push_back(so);
      }
    }
  } else if (it != stack.udp.by_port.end()) {
    Socket* best = nullptr;
    for (Socket* so : it->second) {
      if (udp_matches(*so, ip_src, sport, ip_dst) &&
          (best == nullptr || udp_match_score(*so) > udp_match_score(*best))) {
        best = so;
      }
    }
    if (best != nullptr) {
      targets.push_back(best);
      if (stack.udp.reuseport_unicast != 0 && (best->options & kSoReusePort)) {
        // tcpip reuseport_unicast (io-pkt, SPEC §1): every SO_REUSEPORT
        // socket the datagram matches gets it, as for a broadcast.
        for (Socket* so : it->second) {
          if (so != best && (so->options & kSoReusePort) &&
              udp_matches(*so, ip_src, sport, ip_dst)) {
            targets.push_back(so);
          }
        }
      }
    }
  }
  if (targets.empty()) {
    if (multi) {
      ++st.noportbcast;
      return;
    }
    ++st.noport;
    // RFC 1122 §4.1.3.1: "If a datagram arrives addressed to a UDP port
    // for which there is no pending LISTEN call, UDP SHOULD send an ICMP
    // Port Unreachable message." The datagram is quoted as received.
    icmp_error(stack, std::move(m), kIcmpUnreach, kIcmpUnreachPort, 0);
    return;
  }
  m.trim_front(iphlen + UdpHeader::kSize);
  for (size_t i = 0; i + 1 < targets.size(); ++i) {
    Mbuf copy = m.share(0, m.len());
    if (copy) {
      udp_append(stack, *targets[i], std::move(copy), ip_src, sport, info);
    }
  }
  udp_append(stack, *targets.back(), std::move(m), ip_src, sport, info);
}

namespace {

// Linux's icmp_err_convert for destination unreachable: the errno and
// whether the error is "hard" (reported to a connected socket without
// IP_RECVERR). Soft errors (need-frag, TOS unreachables, source route
// failed) are not reported to UDP sockets.
struct UnreachErr {
  int err;
  bool hard;
};
constexpr std::array<UnreachErr, kIcmpUnreachMaxCode + 1> kUnreachErrs{{
    {ENETUNREACH, true},    // 0 net
    {EHOSTUNREACH, true},   // 1 host
    {ENOPROTOOPT, true},    // 2 protocol
    {ECONNREFUSED, true},   // 3 port
    {EMSGSIZE, false},      // 4 fragmentation needed
    {EOPNOTSUPP, false},    // 5 source route failed
    {ENETUNREACH, true},    // 6 net unknown
    {EHOSTDOWN, true},      // 7 host unknown
    {ENONET, true},         // 8 host isolated
    {ENETUNREACH, true},    // 9 net prohibited
    {EHOSTUNREACH, true},   // 10 host prohibited
    {ENETUNREACH, false},   // 11 net for TOS
    {EHOSTUNREACH, false},  // 12 host for TOS
    {EHOSTUNREACH, true},   // 13 communication prohibited (RFC 1812)
    {EHOSTUNREACH, true},   // 14 host precedence violation
    {EHOSTUNREACH, true},   // 15 precedence cutoff
}};

}  // namespace

void udp_ctlinput(Stack& stack, uint8_t type, uint8_t code,
                  std::span<const std::byte> quoted) noexcept {
  UdpStat& st = stack.udp.stat;
  size_t qhl = (std::to_integer<size_t>(quoted[0]) & 0xf) * 4;
  InAddr qsrc{load_be32(quoted, 12)}, qdst{load_be32(quoted, 16)};
  uint16_t sport = load_be16(quoted, qhl), dport = load_be16(quoted, qhl + 2);
  int err = 0;
  if (type == kIcmpUnreach && code <= kIcmpUnreachMaxCode && kUnreachErrs[code].hard) {
    err = kUnreachErrs[code].err;
  } else if (type == kIcmpParamProblem) {
    err = EPROTO;  // Linux: a hard error
  }
  // RFC 5927 §4.1 and Linux __udp4_lib_err: act only on a datagram this
  // host could have sent — our source address, a socket on that port
  // connected to the quoted destination. Only connected sockets learn of
  // it (an unconnected one has no single peer to blame), as on Linux
  // without IP_RECVERR.
  auto it = stack.udp.by_port.find(sport);
  if (err == 0 || stack.in_local_ifnet(qsrc) == nullptr || it == stack.udp.by_port.end()) {
    ++st.icmpnomatch;
    return;
  }
  bool any = false;
  for (Socket* so : it->second) {
    if (so->inp.connected() && so->inp.faddr == qdst && so->inp.fport == dport &&
        (so->inp.laddr.is_any() || so->inp.laddr == qsrc)) {
      so->so_error = err;
      stack.so_wakeup(*so);
      any = true;
    }
  }
  ++(any ? st.icmperr : st.icmpnomatch);
}

}  // namespace iopkt
