// devnp-packet/packet_offload.hh — turning what a Linux interface hands an
// AF_PACKET reader into frames an Ethernet NIC would deliver: complete
// partial TCP/UDP checksums and cut GSO super-frames into MTU-sized frames.
//
// Why: a Linux sender with default offloads (a veth peer) leaves its TCP/UDP
// checksum as the pseudo-header sum only (CHECKSUM_PARTIAL) and hands whole
// 64 KiB TCP or UDP (UDP_SEGMENT) super-frames to the device, trusting the
// "hardware" to finish them (ROBUSTNESS.md §1 item 2). A veth has no such
// hardware, so the AF_PACKET reader sees them as they are. The kernel tells
// us what is unfinished through a virtio_net_hdr (PACKET_VNET_HDR), whose
// fields RxOffload mirrors; without one, offload_from_status() guesses the
// same from tp_status and the headers.
//
// Everything here is pure: bytes in, bytes out, no system calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace iopkt::packet {

// virtio_net_hdr flags and gso_type values (virtio spec 1.2 §5.1.6; Linux
// include/uapi/linux/virtio_net.h). UDP_L4 is missing from older uapi
// headers, so all are spelled out here.
inline constexpr uint8_t kVnetNeedsCsum = 1;
inline constexpr uint8_t kVnetDataValid = 2;
inline constexpr uint8_t kVnetGsoNone = 0;
inline constexpr uint8_t kVnetGsoTcpV4 = 1;
inline constexpr uint8_t kVnetGsoUdp = 3;  // UFO: IP fragmentation; gone from Linux
inline constexpr uint8_t kVnetGsoTcpV6 = 4;
inline constexpr uint8_t kVnetGsoUdpL4 = 5;  // UDP_SEGMENT: one datagram per segment
inline constexpr uint8_t kVnetGsoEcn = 0x80;

inline constexpr uint32_t kEtherHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;

// The kernel's word about one received frame, host byte order. csum_start
// counts from the first byte of the Ethernet header.
struct RxOffload {
  uint8_t flags = 0;     // kVnetNeedsCsum, kVnetDataValid
  uint8_t gso_type = 0;  // kVnetGso*, possibly | kVnetGsoEcn
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};

// Why a frame could not be delivered.
enum class RxDrop {
  kNone,
  kTooLong,          // not a super-frame but longer than MTU + link header
  kBadHeaders,       // headers truncated or not what the offload info says
  kGsoUnsupported,   // a GSO type we cannot cut (UFO, unknown segment size)
  kCsumUnsupported,  // a partial checksum that is not the Internet checksum (SCTP)
};

// How one received frame becomes frames for the stack.
struct RxPlan {
  enum class Kind { kCopy, kComplete, kSegment };
  Kind kind = Kind::kCopy;
  RxDrop drop = RxDrop::kNone;
  uint32_t count = 0;    // frames it yields; 0 when dropped
  bool csum_ok = false;  // the delivered frames' L4 checksums are known good
  // kComplete: where the checksum is.
  uint32_t csum_start = 0;
  uint32_t csum_offset = 0;
  // kSegment.
  uint32_t l3 = 0;       // network header offset
  uint32_t l4 = 0;       // transport header offset
  uint32_t hdr = 0;      // all headers (payload starts here)
  uint32_t seg = 0;      // payload bytes per segment (the last may be shorter)
  uint32_t payload = 0;  // payload bytes in the super-frame
  uint8_t ip_version = 0;
  uint8_t l4_proto = 0;  // 6 TCP, 17 UDP
};

// Decides what to do with `frame` (a whole Ethernet frame, VLAN tags inline)
// given the kernel's offload info and the interface MTU (IP bytes). Frames
// without GSO longer than MTU + link header are dropped; super-frames are
// cut into segments of gso_size payload bytes, or fewer when that would not
// fit the MTU (TCP only: a UDP datagram cannot be cut again).
RxPlan plan_rx_frame(std::span<const uint8_t> frame, const RxOffload& off, uint32_t mtu);

// Writes frame `i` (0 <= i < plan.count) of the plan into out; returns its
// length, or 0 when it does not fit in out.size().
size_t emit_rx_frame(std::span<const uint8_t> frame, const RxPlan& plan, uint32_t i,
                     std::span<uint8_t> out);

// Without a virtio_net_hdr: builds the RxOffload the kernel would have
// written, from tp_status (TP_STATUS_CSUMNOTREADY, TP_STATUS_CSUM_VALID)
// and the headers. A frame longer than MTU + link header is taken for a TCP
// super-frame cut at the MSS the MTU implies (MTU - IP - TCP headers);
// UDP super-frames are marked kVnetGsoUdpL4 with gso_size 0, which
// plan_rx_frame() refuses: their segment size cannot be known.
RxOffload offload_from_status(std::span<const uint8_t> frame, uint32_t tp_status,
                              uint32_t linux_mtu);

// Link header length: Ethernet plus up to two 802.1Q/802.1ad tags. 0 when
// the frame is too short for it.
uint32_t link_header_len(std::span<const uint8_t> frame);

// RFC 1071 Internet checksum over bytes, accumulated in memory byte order
// (§2(B): the result is right for either host order when stored the same
// way). csum_add() returns an unfolded sum to chain; csum_finish() folds
// and complements it into the 16-bit value to store with memcpy.
uint64_t csum_add(const uint8_t* p, size_t len, uint64_t sum);
uint16_t csum_finish(uint64_t sum);

}  // namespace iopkt::packet
