// devnp-packet/packet_offload.hh — the offload state of a frame read from an
// AF_PACKET ring without a virtio_net_hdr (the `novnet` option, or a kernel
// that refused PACKET_VNET_HDR): guessed from tp_status and the headers.
// What is then done with it (completing partial checksums, cutting
// super-frames) is shared with devnp-tap: drivers/common/offload.hh.
//
// Pure: bytes in, bytes out, no system calls.
#pragma once

#include <cstdint>
#include <span>

#include "drivers/common/offload.hh"

namespace iopkt::packet {

// Builds the header the kernel would have written, from tp_status
// (TP_STATUS_CSUMNOTREADY, TP_STATUS_CSUM_VALID) and the headers. A frame
// longer than MTU + link header is taken for a TCP super-frame cut at the
// MSS the MTU implies (MTU - IP - TCP headers); UDP super-frames are marked
// kVnetGsoUdpL4 with gso_size 0, which plan_rx_frame() refuses: their
// segment size cannot be known.
drivers::VnetHdr offload_from_status(std::span<const uint8_t> frame, uint32_t tp_status,
                                     uint32_t linux_mtu);

}  // namespace iopkt::packet
