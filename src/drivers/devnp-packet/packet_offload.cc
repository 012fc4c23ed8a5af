// devnp-packet/packet_offload.cc — offload state from tp_status, for rings
// without a virtio_net_hdr; see packet_offload.hh.
#include "drivers/devnp-packet/packet_offload.hh"

namespace iopkt::packet {

using drivers::VnetHdr;

VnetHdr offload_from_status(std::span<const uint8_t> frame, uint32_t tp_status,
                            uint32_t linux_mtu) {
  // TP_STATUS_CSUMNOTREADY and TP_STATUS_CSUM_VALID (linux/if_packet.h).
  constexpr uint32_t kCsumNotReady = 1u << 3;
  constexpr uint32_t kCsumValid = 1u << 7;
  VnetHdr o;
  if ((tp_status & kCsumValid) != 0) {
    o.flags |= drivers::kVnetDataValid;
  }
  const uint32_t l2 = drivers::link_header_len(frame);
  drivers::IpHeaders ip;
  if (l2 == 0 || !drivers::parse_ip_headers(frame, l2, &ip) || ip.fragment ||
      (ip.proto != drivers::kProtoTcp && ip.proto != drivers::kProtoUdp)) {
    return o;
  }
  const bool tcp = ip.proto == drivers::kProtoTcp;
  const uint32_t csum_offset = tcp ? drivers::kTcpCsumAt : drivers::kUdpCsumAt;
  if ((tp_status & kCsumNotReady) != 0 && frame.size() >= size_t{ip.l4} + csum_offset + 2) {
    o.flags |= drivers::kVnetNeedsCsum;
    o.csum_start = static_cast<uint16_t>(ip.l4);
    o.csum_offset = static_cast<uint16_t>(csum_offset);
  }
  if (frame.size() <= size_t{l2} + linux_mtu) {
    return o;
  }
  if (!tcp) {
    o.gso_type = drivers::kVnetGsoUdpL4;  // gso_size unknown: refused by plan_rx_frame()
    return o;
  }
  if (frame.size() < size_t{ip.l4} + drivers::kTcpMinHeaderLen) {
    return o;
  }
  const uint32_t hdrs = (ip.l4 - ip.l3) + (frame[ip.l4 + 12] >> 4) * 4u;
  o.gso_type = ip.ip_version == 4 ? drivers::kVnetGsoTcpV4 : drivers::kVnetGsoTcpV6;
  o.gso_size = static_cast<uint16_t>(linux_mtu > hdrs ? linux_mtu - hdrs : 0);
  return o;
}

}  // namespace iopkt::packet
