// drivers/common/offload.hh — what a Linux kernel leaves unfinished in a
// frame it hands to a "device" that claimed offloads, finished in software:
// partial TCP/UDP checksums are completed and GSO super-frames (TCPv4,
// TCPv6, UDP_SEGMENT) are cut into frames a wire could carry, each with its
// own lengths, IPv4 ID, TCP sequence number and flags, and valid checksums.
// devnp-tap (frames read from a TAP with IFF_VNET_HDR) and devnp-packet
// (frames from an AF_PACKET ring with PACKET_VNET_HDR) both use it; the
// stack's receive path does not read iopkt_pkt_meta, so every frame it gets
// must be complete.
//
// Why the kernel does this: a Linux sender with default offloads (a veth
// peer, a TAP whose reader enabled TUNSETOFFLOAD) leaves its TCP/UDP
// checksum as the pseudo-header sum only (CHECKSUM_PARTIAL) and hands whole
// 64 KiB super-frames on, trusting the "hardware" to finish them
// (ROBUSTNESS.md §1 item 2). What is unfinished is described by a
// struct virtio_net_hdr (virtio 1.2 §5.1.6), mirrored by VnetHdr.
//
// Everything here is pure: bytes in, bytes out, no system calls. Offsets
// are taken from the frame itself (IPv4 IHL, IPv6 extension headers, TCP
// data offset) and the header's only where they must agree; every one is
// checked against the frame before a byte is read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace iopkt::drivers {

// virtio_net_hdr flags and gso_type values (virtio 1.2 §5.1.6; Linux
// include/uapi/linux/virtio_net.h). UDP_L4 is missing from older uapi
// headers, so all are spelled out here.
inline constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr uint8_t kVnetGsoNone = 0;
inline constexpr uint8_t kVnetGsoTcpV4 = 1;
inline constexpr uint8_t kVnetGsoUdp = 3;  // UFO: IP fragmentation; gone from Linux in 4.14
inline constexpr uint8_t kVnetGsoTcpV6 = 4;
inline constexpr uint8_t kVnetGsoUdpL4 = 5;  // UDP_SEGMENT (USO): one datagram per segment
inline constexpr uint8_t kVnetGsoEcn = 0x80;

inline constexpr uint32_t kEtherHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;

// struct virtio_net_hdr, 10 bytes, field for field, in host byte order
// (what a TAP writes when never switched to another endianness; a packet
// socket's little-endian header is converted by the reader). csum_start
// counts from the first byte of the Ethernet header.
struct VnetHdr {
  uint8_t flags = 0;     // kVnetNeedsCsum, kVnetDataValid
  uint8_t gso_type = 0;  // kVnetGso*, possibly | kVnetGsoEcn
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};
static_assert(sizeof(VnetHdr) == 10);

// Why a frame cannot be delivered.
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

// No MTU to enforce: frames are never too long, and super-frames are cut
// at the sender's gso_size (devnp-tap, whose MTU Linux follows).
inline constexpr uint32_t kNoMtu = 0;

// Decides what to do with `frame` (a whole Ethernet frame, VLAN tags
// inline) given the kernel's offload info and the interface MTU (IP bytes,
// or kNoMtu). With an MTU, frames without GSO longer than MTU + link header
// are dropped, and super-frames are cut into segments of gso_size payload
// bytes or fewer when that would not fit (TCP only: a UDP datagram cannot
// be cut again). Bytes behind the IP datagram (as its length field says)
// are not part of any segment.
RxPlan plan_rx_frame(std::span<const uint8_t> frame, const VnetHdr& off, uint32_t mtu);

// Size of frame `i` of a plan (0 <= i < plan.count), for a frame of
// `frame_len` bytes.
size_t rx_frame_size(const RxPlan& plan, size_t frame_len, uint32_t i);

// Writes frame `i` (0 <= i < plan.count) of the plan into out; returns its
// length, or 0 when it does not fit in out.size(). `out` must not overlap
// `frame`; for a kComplete plan on a frame that stays where it is, use
// complete_csum_in_place().
size_t emit_rx_frame(std::span<const uint8_t> frame, const RxPlan& plan, uint32_t i,
                     std::span<uint8_t> out);

// A kComplete plan's checksum, finished where the frame lies.
void complete_csum_in_place(std::span<uint8_t> frame, const RxPlan& plan);

// Link header length: Ethernet plus up to two 802.1Q/802.1ad tags. 0 when
// the frame is too short for it.
uint32_t link_header_len(std::span<const uint8_t> frame);

// The IP and transport headers of a frame, as far as the offloads need them.
struct IpHeaders {
  uint8_t ip_version = 0;
  uint8_t proto = 0;  // transport protocol (after IPv6 extension headers)
  uint32_t l3 = 0;
  uint32_t l4 = 0;
  bool fragment = false;
};
// Parses the IPv4 or IPv6 header at l2 (the link header's length, so that
// the EtherType is the two bytes before it). False when there is none or
// it is truncated.
bool parse_ip_headers(std::span<const uint8_t> frame, uint32_t l2, IpHeaders* out);

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint32_t kTcpMinHeaderLen = 20;
inline constexpr uint32_t kTcpCsumAt = 16;
inline constexpr uint32_t kUdpCsumAt = 6;

// RFC 1071 Internet checksum over bytes, accumulated in memory byte order
// (§2(B): the result is right for either host order when stored the same
// way). csum_add() returns an unfolded sum to chain; csum_finish() folds
// and complements it into the 16-bit value to store with memcpy.
uint64_t csum_add(const uint8_t* p, size_t len, uint64_t sum);
uint16_t csum_finish(uint64_t sum);

}  // namespace iopkt::drivers
