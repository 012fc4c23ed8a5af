// netinet/ip_icmp.cc — ICMP for IPv4, RFC 792 with the host requirements of
// RFC 1122 §3.2.2: input validation, echo replies, errors passed to the
// transport protocols, and the errors this host generates (icmp_error),
// rate-limited. Also Linux's ICMP echo datagram sockets ("ping sockets").
// Read RFC 1122 §3.2.2 and ROBUSTNESS.md §2 "ICMP errors", "ICMP rate"
// before changing this file.
#include "netinet/ip_icmp.hh"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>

#include "core/stack.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"
#include "netinet/udp_var.hh"

namespace iopkt {

std::span<const IcmpCounterInfo> icmpstat_fields() {
  static constexpr IcmpCounterInfo kFields[] = {
      {"received", &IcmpStat::received},
      {"tooshort", &IcmpStat::tooshort},
      {"checksum", &IcmpStat::checksum},
      {"badcode", &IcmpStat::badcode},
      {"badtype", &IcmpStat::badtype},
      {"badlen", &IcmpStat::badlen},
      {"bmcastecho", &IcmpStat::bmcastecho},
      {"reflect", &IcmpStat::reflect},
      {"ignored", &IcmpStat::ignored},
      {"badmtu", &IcmpStat::badmtu},
      {"pmtuchg", &IcmpStat::pmtuchg},
      {"ctlinput", &IcmpStat::ctlinput},
      {"error", &IcmpStat::error},
      {"oldicmp", &IcmpStat::oldicmp},
      {"oldshort", &IcmpStat::oldshort},
      {"bmcast", &IcmpStat::bmcast},
      {"badsrc", &IcmpStat::badsrc},
      {"fragment", &IcmpStat::fragment},
      {"ratelimited", &IcmpStat::ratelimited},
      {"odropped", &IcmpStat::odropped},
  };
  return kFields;
}

const char* icmp_type_name(uint8_t type) {
  static constexpr std::array<const char*, kIcmpMaxType + 1> kNames{
      "echoreply",     nullptr,     nullptr,     "unreach",  "sourcequench",
      "redirect",      nullptr,     nullptr,     "echo",     "routeradvert",
      "routersolicit", "timxceed",  "paramprob", "tstamp",   "tstampreply",
      "ireq",          "ireqreply", "maskreq",   "maskreply"};
  return type <= kIcmpMaxType ? kNames[type] : nullptr;
}

namespace {

// Headroom for the IP and link headers in front of what ICMP builds.
constexpr size_t kIcmpHeadroom = 64;
// RFC 1812 §4.3.2.3: an error holds as much of the original as fits in a
// 576-byte datagram (RFC 792's header + 8 bytes is the minimum). Linux does
// the same; BSD quotes 8 bytes by default. More of the original helps the
// sender's transport match it (RFC 5927 §4.1).
constexpr size_t kIcmpErrorMax = 576;
// RFC 791 §3.2: every host link carries 68 bytes; a smaller next-hop MTU
// is a lie (ROBUSTNESS §3 "ICMP processing", Ripple20 CVE-2020-11910).
constexpr uint16_t kIpMinMtu = 68;

// A broadcast of any of our subnets (directed broadcast).
bool in_is_directed_broadcast(Stack& stack, InAddr a) {
  for (const auto& ifp : stack.interfaces()) {
    for (const auto& ia : ifp->in_addrs) {
      if (!ia.broadcast.is_any() && ia.broadcast == a) {
        return true;
      }
    }
  }
  return false;
}

bool in_is_class_e(InAddr a) { return (a.v >> 28) == 0xf; }

uint16_t icmp_checksum(const Mbuf& m, size_t off, size_t len) {
  return in_cksum_finish(in_cksum_add_mbuf(0, m, off, len));
}

// RFC 792 "Echo or Echo Reply Message", RFC 1122 §3.2.2.6: the reply
// carries the request's identifier, sequence number and data. Its source
// is the address the request was sent to, or, for a broadcast or multicast
// request, the receiving interface's address. IP options of the request are
// not returned (RFC 1122 lets the record route/timestamp be kept; we send
// none).
void icmp_echo_reply(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept {
  IcmpStat& st = stack.ip.icmp.stat;
  auto h = m.pullup(iphlen);
  InAddr src{load_be32(h, 12)}, dst{load_be32(h, 16)};
  uint8_t tos = std::to_integer<uint8_t>(h[1]);
  bool group = dst.is_broadcast() || dst.is_multicast() ||
               (m.hdr().flags & (kMbufBcast | kMbufMcast)) != 0 ||
               in_is_directed_broadcast(stack, dst);
  InAddr reply_src = dst;
  if (group) {
    // RFC 1122 §3.2.2.6: "An ICMP Echo Request destined to an IP broadcast
    // or IP multicast address MAY be silently discarded." BSD and Linux
    // discard them by default (smurf amplification).
    if (stack.ip.icmp.bmcastecho == 0 || rcvif.in_addrs.empty()) {
      ++st.bmcastecho;
      return;
    }
    reply_src = rcvif.in_addrs.front().addr;
  }
  m.trim_front(iphlen);
  m.hdr().flags = 0;
  std::array<std::byte, 4> zero_type_cksum{};  // type 0 (echo reply), code 0, checksum 0
  if (!m.copy_in(0, zero_type_cksum)) {
    ++st.odropped;
    return;
  }
  std::array<std::byte, 2> sum{};
  store_be16(sum, 0, icmp_checksum(m, 0, m.len()));
  if (!m.copy_in(2, sum)) {
    ++st.odropped;
    return;
  }
  IpOutputArgs args;
  args.src = reply_src;
  args.dst = src;
  args.protocol = kIpProtoIcmp;
  args.ttl = static_cast<uint8_t>(stack.ip.default_ttl);
  args.tos = tos;
  if (!ip_output(stack, std::move(m), args)) {
    ++st.odropped;
    return;
  }
  ++st.reflect;
  ++st.outhist[kIcmpEchoReply];
}

// An error about a packet we sent: check the quote, then hand it to the
// transport protocol that sent the packet (BSD pr_ctlinput).
void icmp_notify(Stack& stack, const Mbuf& m, size_t iphlen, uint8_t type, uint8_t code,
                 uint16_t next_mtu) noexcept {
  IcmpStat& st = stack.ip.icmp.stat;
  size_t qoff = iphlen + IcmpHeader::kSize;
  size_t qlen = m.len() - qoff;
  // RFC 792: the internet header plus the first 64 bits of the original.
  std::array<std::byte, kIpMaxHeader + 8> q{};
  size_t take = std::min(qlen, q.size());
  if (take < IpHeader::kMinSize + 8 || !m.copy_out(qoff, std::span(q).first(take))) {
    ++st.badlen;
    return;
  }
  uint8_t vhl = std::to_integer<uint8_t>(q[0]);
  size_t qhl = size_t{vhl & 0xfu} * 4;
  if ((vhl >> 4) != 4 || qhl < IpHeader::kMinSize || take < qhl + 8) {
    ++st.badlen;
    return;
  }
  const uint8_t qproto = std::to_integer<uint8_t>(q[9]);
  if (type == kIcmpUnreach && code == kIcmpUnreachNeedFrag) {
    // RFC 1191 §4 and RFC 8201: an impossible MTU is ignored. 0 comes from
    // routers older than RFC 1191: TCP, which keeps a path MTU, then
    // searches RFC 1191 §7's plateaus; for the others it says nothing.
    if (next_mtu < kIpMinMtu && !(next_mtu == 0 && qproto == kIpProtoTcp)) {
      ++st.badmtu;
      return;
    }
    ++st.pmtuchg;
  }
  ++st.ctlinput;
  // RFC 1122 §3.2.2: "MUST be passed to the transport layer".
  switch (qproto) {
    case kIpProtoUdp:
      udp_ctlinput(stack, type, code, std::span<const std::byte>(q).first(qhl + 8));
      break;
    case kIpProtoTcp:
      tcp_ctlinput(stack, type, code, next_mtu, std::span<const std::byte>(q).first(qhl + 8));
      break;
    default:
      break;
  }
}

// An echo reply for one of the echo datagram sockets (by identifier).
void ping_input(Stack& stack, Mbuf m, size_t iphlen, uint16_t id, Ifnet& rcvif) noexcept {
  auto h = m.pullup(iphlen);
  InAddr src{load_be32(h, 12)}, dst{load_be32(h, 16)};
  for (Socket* so : stack.ip.icmp.ping_sockets) {
    if (so->inp.lport != id || so->cant_recv) {
      continue;
    }
    if ((!so->inp.laddr.is_any() && so->inp.laddr != dst) ||
        (!so->inp.faddr.is_any() && so->inp.faddr != src)) {
      continue;
    }
    DgramRecvInfo info = ip_recv_info(h, &rcvif);  // IP_PKTINFO, IP_RECVTTL...
    m.trim_front(iphlen);  // Linux gives the ICMP message without the IP header
    if (so->rcv_cc + m.len() > so->rcv_hiwat) {
      ++so->rcv_drops;
      return;
    }
    so->rcv_cc += m.len();
    so->rcv.push_back(Datagram{std::move(m), SockAddr::inet(src, 0), info});
    stack.so_wakeup(*so);
    return;
  }
}

}  // namespace

void icmp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept {
  IcmpStat& st = stack.ip.icmp.stat;
  ++st.received;
  size_t icmplen = m.len() - iphlen;
  if (icmplen < IcmpHeader::kSize) {
    ++st.tooshort;
    return;
  }
  if (icmp_checksum(m, iphlen, icmplen) != 0) {
    ++st.checksum;
    return;
  }
  auto h = m.pullup(iphlen + IcmpHeader::kSize);
  if (h.empty()) {
    ++st.tooshort;
    return;
  }
  IcmpHeader icmp = IcmpHeader::parse(std::span<const std::byte>(h).subspan(iphlen)).value();
  uint8_t type = icmp.type(), code = icmp.code();
  if (type <= kIcmpMaxType) {
    ++st.inhist[type];
  }
  switch (type) {
    case kIcmpEcho:
      if (code != 0) {
        ++st.badcode;
        return;
      }
      icmp_echo_reply(stack, std::move(m), iphlen, rcvif);
      return;
    case kIcmpEchoReply:
      if (code != 0) {
        ++st.badcode;
        return;
      }
      ping_input(stack, std::move(m), iphlen, icmp.id(), rcvif);
      return;
    case kIcmpUnreach:
      if (code > kIcmpUnreachMaxCode) {
        ++st.badcode;
        return;
      }
      icmp_notify(stack, m, iphlen, type, code, icmp.next_mtu());
      return;
    case kIcmpTimeExceeded:
      if (code > kIcmpTimxceedReass) {
        ++st.badcode;
        return;
      }
      icmp_notify(stack, m, iphlen, type, code, 0);
      return;
    case kIcmpParamProblem:
      if (code > kIcmpParamProbLength) {
        ++st.badcode;
        return;
      }
      icmp_notify(stack, m, iphlen, type, code, 0);
      return;
    case kIcmpSourceQuench:  // RFC 6633: MUST be ignored
    case kIcmpRedirect:      // a host may act on it (RFC 1122 §3.2.2.2); not yet
    case kIcmpRouterAdvert:
    case kIcmpRouterSolicit:
    case kIcmpTimestamp:  // RFC 1122 §3.2.2.8 MAY; answering leaks the clock
    case kIcmpTimestampReply:
    case kIcmpInfoRequest:  // obsolete (RFC 6918)
    case kIcmpInfoReply:
    case kIcmpMaskRequest:  // RFC 6918; Ripple20 CVE-2020-11911
    case kIcmpMaskReply:
      ++st.ignored;
      return;
    default:
      ++st.badtype;  // raw sockets already had their copy
      return;
  }
}

bool icmp_ratecheck(Stack& stack) noexcept {
  IcmpState& ic = stack.ip.icmp;
  if (ic.errppslimit <= 0) {
    return true;  // 0: no limit (FreeBSD icmplim)
  }
  const int64_t limit = ic.errppslimit;
  Instant now = stack.now();
  // A token bucket refilled at `limit` per second, `limit` deep (RFC 1812
  // §4.3.2.8, RFC 4443 §2.4(f)).
  if (ic.tokens < 0 || now - ic.refilled >= std::chrono::seconds(1)) {
    ic.tokens = limit;
    ic.refilled = now;
  } else {
    int64_t elapsed = (now - ic.refilled).count();  // < 1 s in ns
    int64_t add = elapsed * limit / 1'000'000'000;
    if (add > 0) {
      ic.tokens = std::min(limit, ic.tokens + add);
      ic.refilled = ic.refilled + Duration(add * 1'000'000'000 / limit);
    }
  }
  if (ic.tokens <= 0) {
    ++ic.stat.ratelimited;
    return false;
  }
  // CVE-2020-25705 (SAD DNS): with an exact global budget, an off-path
  // host counts the errors it can still provoke and learns which UDP ports
  // are open. Each error costs 0, 1 or 2 tokens at random (1 on average),
  // so the number that fits in an interval varies, as Linux's
  // icmp_global_allow since 5.10.
  ic.tokens = std::max<int64_t>(0, ic.tokens - stack.random().uniform(3));
  return true;
}

void icmp_error(Stack& stack, Mbuf orig, uint8_t type, uint8_t code, uint32_t info) noexcept {
  IcmpStat& st = stack.ip.icmp.stat;
  ++st.error;
  auto h = orig.pullup(std::min(orig.len(), kIpMaxHeader));
  if (h.size() < IpHeader::kMinSize) {
    ++st.oldshort;
    return;
  }
  size_t hlen = (std::to_integer<size_t>(h[0]) & 0xf) * 4;
  uint16_t frag = load_be16(h, 6);
  InAddr src{load_be32(h, 12)}, dst{load_be32(h, 16)};
  uint8_t proto = std::to_integer<uint8_t>(h[9]);
  uint8_t tos = std::to_integer<uint8_t>(h[1]);
  // RFC 1122 §3.2.2: "An ICMP error message MUST NOT be sent as the result
  // of receiving:
  //   * an ICMP error message, or
  //   * a datagram destined to an IP broadcast or IP multicast address, or
  //   * a datagram sent as a link-layer broadcast, or
  //   * a non-initial fragment, or
  //   * a datagram whose source address does not define a single host --
  //     e.g., a zero address, a loopback address, a broadcast address, a
  //     multicast address, or a Class E address."
  // A loopback source is allowed when the packet came over lo0 (it can
  // come from nowhere else: ip_input drops 127/8 from other links): that
  // is how a local sender learns of a closed port, as on Linux.
  if ((frag & IpHeader::kOffMask) != 0) {
    ++st.fragment;
    return;
  }
  if (proto == kIpProtoIcmp) {
    std::array<std::byte, 1> t{};
    if (!orig.copy_out(hlen, t)) {
      ++st.oldshort;
      return;
    }
    if (icmp_is_error(std::to_integer<uint8_t>(t[0]))) {
      ++st.oldicmp;
      return;
    }
  }
  if (dst.is_broadcast() || dst.is_multicast() || in_is_directed_broadcast(stack, dst) ||
      (orig.hdr().flags & (kMbufBcast | kMbufMcast)) != 0) {
    ++st.bmcast;
    return;
  }
  if (src.is_any() || src.is_broadcast() || src.is_multicast() || in_is_class_e(src) ||
      (src.is_loopback() && (orig.hdr().flags & kMbufLoop) == 0) ||
      in_is_directed_broadcast(stack, src)) {
    ++st.badsrc;
    return;
  }
  if (!icmp_ratecheck(stack)) {
    return;
  }
  size_t quote = std::min(orig.len(), kIcmpErrorMax - IpHeader::kMinSize - IcmpHeader::kSize);
  std::array<std::byte, kIcmpErrorMax> buf{};
  IcmpFields f{type, code, 0};
  if (type == kIcmpParamProblem) {
    f.rest = (info & 0xff) << 24;  // RFC 792: the pointer is the first octet
  } else if (type == kIcmpUnreach && code == kIcmpUnreachNeedFrag) {
    f.rest = info & 0xffff;  // RFC 1191 §4: next-hop MTU in the low 16 bits
  }
  f.emit(buf);
  if (!orig.copy_out(0, std::span(buf).subspan(IcmpHeader::kSize, quote))) {
    ++st.oldshort;
    return;
  }
  std::span<std::byte> msg = std::span(buf).first(IcmpHeader::kSize + quote);
  store_be16(msg, 2, in_cksum_finish(in_cksum_add(0, msg)));
  Mbuf e = Mbuf::copy_from(stack.pool(), msg, kIcmpHeadroom);
  if (!e) {
    ++st.odropped;
    return;
  }
  IpOutputArgs args;
  // RFC 1812 §4.3.2.4 (and what a host's peer expects): the error comes
  // from the address the original was sent to when that is ours.
  args.src = stack.in_local_ifnet(dst) != nullptr ? dst : InAddr::any();
  args.dst = src;
  args.protocol = kIpProtoIcmp;
  args.ttl = static_cast<uint8_t>(stack.ip.default_ttl);
  // RFC 1812 §4.3.2.5: internetwork-control precedence, the original's TOS
  // bits (as Linux).
  args.tos = static_cast<uint8_t>((tos & 0x1e) | 0xc0);
  if (!ip_output(stack, std::move(e), args)) {
    ++st.odropped;
    return;
  }
  ++st.outhist[type];
}

// --- echo datagram sockets ---------------------------------------------

namespace {

bool ping_id_free(Stack& stack, const Socket& so, uint16_t id) {
  return std::none_of(stack.ip.icmp.ping_sockets.begin(), stack.ip.icmp.ping_sockets.end(),
                      [&](const Socket* o) { return o != &so && o->inp.lport == id; });
}

// The identifier is the socket's "port": random among the free ones, as
// Linux's ping_get_port picks from its range.
Result<void, Errno> ping_autobind(Stack& stack, Socket& so) {
  if (so.inp.lport != 0) {
    return {};
  }
  uint32_t start = stack.random().uniform(65535);
  for (uint32_t i = 0; i < 65535; ++i) {
    auto id = static_cast<uint16_t>(1 + (start + i) % 65535);
    if (ping_id_free(stack, so, id)) {
      so.inp.lport = id;
      return {};
    }
  }
  return Err(Errno{EAGAIN});
}

}  // namespace

Result<void, Errno> ping_attach(Stack& stack, Socket& so) {
  stack.ip.icmp.ping_sockets.push_back(&so);
  return {};
}

void ping_detach(Stack& stack, Socket& so) { std::erase(stack.ip.icmp.ping_sockets, &so); }

Result<void, Errno> ping_bind(Stack& stack, Socket& so, const SockAddr& addr) {
  if (so.inp.lport != 0) {
    return Err(Errno{EINVAL});
  }
  if (addr.family != AF_INET) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (!addr.in.is_any() && stack.in_local_ifnet(addr.in) == nullptr) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  if (addr.port != 0 && !ping_id_free(stack, so, addr.port)) {
    return Err(Errno{EADDRINUSE});
  }
  so.inp.laddr = addr.in;
  if (addr.port != 0) {
    so.inp.lport = addr.port;
    return {};
  }
  auto r = ping_autobind(stack, so);
  if (!r) {
    so.inp.laddr = InAddr::any();
  }
  return r;
}

Result<void, Errno> ping_connect(Stack& stack, Socket& so, const SockAddr& addr) {
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
  if (auto r = ping_autobind(stack, so); !r) {
    return r;
  }
  so.inp.faddr = addr.in;
  return {};
}

Result<void, Errno> ping_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to,
                              const DgramSendOpts* opts) {
  auto where = in_send_destination(so, to);
  if (!where) {
    return Err(where.error());
  }
  InAddr dst = *where;
  if (payload.len() > kIpMaxPacket - IpHeader::kMinSize) {
    return Err(Errno{EMSGSIZE});
  }
  // Linux ping_common_sendmsg: only echo requests, code 0.
  auto h = payload.pullup(std::min(payload.len(), IcmpHeader::kSize));
  auto icmp = IcmpHeader::parse(h);
  if (!icmp || icmp->type() != kIcmpEcho || icmp->code() != 0) {
    return Err(Errno{EINVAL});
  }
  if (dst.is_broadcast() && !(so.options & kSoBroadcast)) {
    return Err(Errno{EACCES});
  }
  if (auto r = ping_autobind(stack, so); !r) {
    return r;
  }
  store_be16(h, 4, so.inp.lport);
  store_be16(h, 2, 0);
  std::array<std::byte, 2> sum{};
  store_be16(sum, 0, icmp_checksum(payload, 0, payload.len()));
  if (!payload.copy_in(2, sum)) {
    return Err(Errno{ENOBUFS});
  }
  // Source, route, TTL and TOS: the socket's or the sendmsg's ancillary
  // data (Linux ping_v4_sendmsg takes IP_PKTINFO, IP_TTL, IP_TOS).
  IpOutputArgs args;
  IpRoute route;
  if (auto r = in_send_route(stack, so, opts, dst, args, route); !r) {
    return r;
  }
  args.protocol = kIpProtoIcmp;
  auto r = ip_output(stack, std::move(payload), args);
  if (!r) {
    return Err(Errno{ip_output_errno(r.error())});
  }
  ++stack.ip.icmp.stat.outhist[kIcmpEcho];
  return {};
}

Result<void, Errno> ping_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to) {
  return ping_send(stack, so, std::move(payload), to, nullptr);
}

// --- sysctl ---------------------------------------------------------------

void ip_register_sysctls(Stack& stack) {
  SysctlTree& t = stack.sysctl();
  IcmpState& ic = stack.ip.icmp;
  for (const auto& c : icmpstat_fields()) {
    auto field = c.field;
    (void)t.add_readonly(
        std::string("net.inet.icmp.stats.") + c.name, SysctlType::kInt,
        [&ic, field] { return std::to_string(ic.stat.*field); }, "ICMP counter");
  }
  for (uint8_t type = 0; type <= kIcmpMaxType; ++type) {
    const char* name = icmp_type_name(type);
    if (name == nullptr) {
      continue;
    }
    (void)t.add_readonly(
        std::string("net.inet.icmp.stats.inhist.") + name, SysctlType::kInt,
        [&ic, type] { return std::to_string(ic.stat.inhist[type]); },
        "ICMP messages received of this type");
    (void)t.add_readonly(
        std::string("net.inet.icmp.stats.outhist.") + name, SysctlType::kInt,
        [&ic, type] { return std::to_string(ic.stat.outhist[type]); },
        "ICMP messages sent of this type");
  }
  (void)t.add_int("net.inet.icmp.bmcastecho", &ic.bmcastecho, 0, 1,
                  "answer echo requests to broadcast/multicast addresses (RFC 1122 §3.2.2.6)",
                  true);
  (void)t.add_int("net.inet.icmp.errppslimit", &ic.errppslimit, 0, 1000000,
                  "ICMP errors per second, 0 for no limit (RFC 1812 §4.3.2.8)", true);
  IpReassState& rs = stack.ip.reass;
  (void)t.add_int("net.inet.ip.fragttl", &rs.fragttl, 1, 3600,
                  "seconds a datagram may take to reassemble (RFC 791 §3.2)", true);
  (void)t.add_int("net.inet.ip.maxfragpackets", &rs.maxfragpackets, 0, 65536,
                  "datagrams being reassembled at once", true);
  (void)t.add_int("net.inet.ip.maxfragsperpacket", &rs.maxfragsperpacket, 1, 8192,
                  "fragments one datagram may have", true);
  (void)t.add_int("net.inet.ip.maxfragmem", &rs.maxfragmem, 0, int64_t{1} << 30,
                  "bytes all reassembly queues may hold (CVE-2018-5391)", true);
  (void)t.add_readonly(
      "net.inet.ip.fragmem", SysctlType::kInt, [&rs] { return std::to_string(rs.mem); },
      "bytes the reassembly queues hold now");
}

}  // namespace iopkt
