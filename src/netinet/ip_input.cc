// netinet/ip_input.cc — IPv4 input, RFC 791 §3.2 and RFC 1122 §3.2.1.
// Read RFC 1122 §3.2.1 before changing this file.
//
// Validates the header (each refusal a named counter), trims link padding,
// and delivers packets addressed to this host to the transport protocol.
// Reassembly, options processing, forwarding and ICMP errors arrive with the
// IPv4 issue; until then fragments and packets for other hosts are counted
// and dropped.
#include <sys/socket.h>

#include <array>

#include "core/stack.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/udp_var.hh"

namespace iopkt {

std::span<const CounterInfo> ipstat_fields() {
  static constexpr std::array<CounterInfo, 15> kFields{{
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
  }};
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
      case IpParseError::kTooShort: ++st.tooshort; break;
      case IpParseError::kBadVersion: ++st.badvers; break;
      case IpParseError::kBadHeaderLen: ++st.badhlen; break;
      case IpParseError::kBadLength: ++st.badlen; break;
      case IpParseError::kBadChecksum: ++st.badsum; break;
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
  if (!ip_is_for_us(stack, ip, rcvif)) {
    ++st.cantforward;
    return;
  }
  if (ip.more_fragments() || ip.frag_offset_bytes() != 0) {
    ++st.fragments;
    return;
  }
  // Link layers pad short frames: keep only what IP says is the packet.
  if (packet_len > ip.total_len()) {
    m.trim_back(packet_len - ip.total_len());
  }
  InAddr src = ip.src(), dst = ip.dst();
  uint8_t proto = ip.protocol();
  m.trim_front(ip.header_len());  // `ip` is dead from here on
  switch (proto) {
    case kIpProtoUdp:
      ++st.delivered;
      udp_input(stack, std::move(m), src, dst, rcvif);
      return;
    default:
      ++st.noproto;
      return;
  }
}

}  // namespace iopkt
