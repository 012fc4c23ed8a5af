// netinet/ip_input.cc — IPv4 input, RFC 791 §3.2 and RFC 1122 §3.2.1.
// Read RFC 1122 §3.2.1 before changing this file.
//
// Validates the header (each refusal a named counter), trims link padding,
// checks the options (parameter problem on a bad one), reassembles
// fragments (ip_reass.cc), and delivers packets addressed to this host to
// raw sockets and to the transport protocol; multicast only for groups
// joined on the receiving interface (in_mcast.cc). Forwarding arrives with the
// routing work; until then packets for other hosts are counted and dropped.
#include <sys/socket.h>

#include <array>

#include "core/stack.hh"
#include "netinet/icmp_var.hh"
#include "netinet/igmp.hh"
#include "netinet/in_mcast.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"
#include "netinet/udp_var.hh"

namespace iopkt {

std::span<const CounterInfo> ipstat_fields() {
  static constexpr CounterInfo kFields[] = {
      {"total", &IpStat::total},
      {"badsum", &IpStat::badsum},
      {"tooshort", &IpStat::tooshort},
      {"badhlen", &IpStat::badhlen},
      {"badlen", &IpStat::badlen},
      {"badvers", &IpStat::badvers},
      {"badaddr", &IpStat::badaddr},
      {"fragments", &IpStat::fragments},
      {"cantforward", &IpStat::cantforward},
      {"noproto", &IpStat::noproto},
      {"delivered", &IpStat::delivered},
      {"localout", &IpStat::localout},
      {"noroute", &IpStat::noroute},
      {"toolong", &IpStat::toolong},
      {"odropped", &IpStat::odropped},
      {"badoptions", &IpStat::badoptions},
      {"srcroute", &IpStat::srcroute},
      {"fragdropped", &IpStat::fragdropped},
      {"fragtimeout", &IpStat::fragtimeout},
      {"reassembled", &IpStat::reassembled},
      {"fragoverlap", &IpStat::fragoverlap},
      {"fragdup", &IpStat::fragdup},
      {"fragmemdrop", &IpStat::fragmemdrop},
      {"fragtoolong", &IpStat::fragtoolong},
      {"fragbad", &IpStat::fragbad},
      {"fragtiny", &IpStat::fragtiny},
      {"fragmented", &IpStat::fragmented},
      {"ofragments", &IpStat::ofragments},
      {"cantfrag", &IpStat::cantfrag},
      {"rawfull", &IpStat::rawfull},
      {"notmember", &IpStat::notmember},
      {"srcfiltered", &IpStat::srcfiltered},
      {"mcastlooped", &IpStat::mcastlooped},
  };
  return kFields;
}

namespace {

bool ip_is_for_us(Stack& stack, const IpHeader& ip, Ifnet& rcvif) {
  InAddr dst = ip.dst();
  if (dst.is_broadcast()) {
    return true;  // limited broadcast, RFC 1122 §3.3.6
  }
  if (stack.in_local_ifnet(dst) != nullptr) {
    // RFC 1122 §3.3.4.2: the weak host model, as BSD: any of our addresses
    // on any interface.
    return true;
  }
  for (const auto& ia : rcvif.in_addrs) {
    if (!ia.broadcast.is_any() && dst == ia.broadcast) {
      return true;  // directed broadcast to the receiving subnet
    }
  }
  return false;
}

}  // namespace

void ip_input(Stack& stack, Mbuf m, Ifnet& rcvif) noexcept {
  IpStat& st = stack.ip.stat;
  ++st.total;
  size_t packet_len = m.len();
  auto first = m.pullup(std::min<size_t>(packet_len, 60));  // 60: largest IPv4 header
  if (first.size() < IpHeader::kMinSize) {
    ++st.tooshort;
    return;
  }
  auto parsed = IpHeader::parse(first, packet_len);
  if (!parsed) {
    switch (parsed.error()) {
      case IpParseError::kTooShort:
        ++st.tooshort;
        break;
      case IpParseError::kBadVersion:
        ++st.badvers;
        break;
      case IpParseError::kBadHeaderLen:
        ++st.badhlen;
        break;
      case IpParseError::kBadLength:
        ++st.badlen;
        break;
      case IpParseError::kBadChecksum:
        ++st.badsum;
        break;
    }
    return;
  }
  const IpHeader ip = parsed.value();
  // RFC 1122 §3.2.1.3: a source that is a broadcast or multicast address
  // is silently discarded; 127/8 may only arrive on the loopback.
  if (ip.src().is_multicast() || ip.src().is_broadcast() ||
      (ip.src().is_loopback() && rcvif.type != IfType::kLoopback) ||
      (ip.dst().is_loopback() && rcvif.type != IfType::kLoopback)) {
    ++st.badaddr;
    return;
  }
  if (ip.dst().is_multicast()) {
    // RFC 1112 §7.2 and RFC 3376 §3.2: a group datagram is for us when a
    // socket joined the group on the receiving interface (224.0.0.1 always)
    // and the interface's source filter admits the sender.
    if (!in_mcast_accepts(stack, rcvif, ip.dst(), ip.src(), ip.protocol() == kIpProtoIgmp)) {
      InMulti* inm = in_mcast_find(stack, rcvif.index, ip.dst());
      ++(inm != nullptr && inm->refcount > 0 ? st.srcfiltered : st.notmember);
      return;
    }
  } else if (!ip_is_for_us(stack, ip, rcvif)) {
    ++st.cantforward;
    return;
  }
  // Link layers pad short frames: keep only what IP says is the packet.
  if (packet_len > ip.total_len()) {
    m.trim_back(packet_len - ip.total_len());
  }
  size_t hlen = ip.header_len();
  if (hlen > IpHeader::kMinSize) {
    auto opts = ip_options_check(ip.options());
    if (!opts) {
      // RFC 1122 §3.2.1.8 / RFC 792: a malformed option is a parameter
      // problem pointing at the octet in error; the packet is dropped.
      ++st.badoptions;
      icmp_error(stack, std::move(m), kIcmpParamProblem, kIcmpParamProbPointer,
                 opts.error().pointer);
      return;
    }
    if (opts->source_route && !opts->route_exhausted) {
      // The source route names further hops: following it is forwarding,
      // which this host does not do (RFC 1122 §3.3.5 lets a host refuse
      // to be an intermediate hop). NetBSD with ip_forwsrcrt off answers
      // "source route failed" (RFC 792 type 3 code 5); so do we.
      ++st.srcroute;
      icmp_error(stack, std::move(m), kIcmpUnreach, kIcmpUnreachSrcFail, 0);
      return;
    }
    // An exhausted source route has reached its final destination (RFC 1122
    // §3.2.1.8(c)): delivered like any packet.
  }
  if (ip.more_fragments() || ip.frag_offset_bytes() != 0) {
    ++st.fragments;
    m = ip_reass(stack, std::move(m));  // `ip` is dead from here on
    if (!m) {
      return;  // kept for later, or dropped and counted
    }
  }
  ip_deliver(stack, std::move(m), rcvif);
}

void ip_deliver(Stack& stack, Mbuf m, Ifnet& rcvif) noexcept {
  IpStat& st = stack.ip.stat;
  auto h = m.pullup(IpHeader::kMinSize);
  if (h.empty()) {
    ++st.odropped;  // out of clusters for the pullup
    return;
  }
  size_t hlen = (std::to_integer<size_t>(h[0]) & 0xf) * 4;
  uint8_t proto = std::to_integer<uint8_t>(h[9]);
  InAddr src{load_be32(h, 12)}, dst{load_be32(h, 16)};
  // Raw sockets see every packet of their protocol first, header included
  // (Linux raw_local_deliver; BSD hands ICMP and unknown protocols to
  // rip_input).
  bool raw = rip_input(stack, m, src, dst, proto);
  switch (proto) {
    case kIpProtoIcmp:
      ++st.delivered;
      icmp_input(stack, std::move(m), hlen, rcvif);
      return;
    case kIpProtoUdp:
      ++st.delivered;
      udp_input(stack, std::move(m), hlen, rcvif);
      return;
    case kIpProtoIgmp:
      ++st.delivered;
      igmp_input(stack, std::move(m), hlen, rcvif);
      return;
    case kIpProtoTcp:
      ++st.delivered;
      tcp_input(stack, std::move(m), hlen, rcvif);
      return;
    default:
      if (raw) {
        ++st.delivered;
        return;
      }
      ++st.noproto;
      // RFC 1122 §3.2.2.1: protocol unreachable for a protocol nobody
      // carries (not sent when a raw socket took the packet, as Linux).
      icmp_error(stack, std::move(m), kIcmpUnreach, kIcmpUnreachProtocol, 0);
      return;
  }
}

}  // namespace iopkt
