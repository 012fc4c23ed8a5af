// devnp-tap/tap_offload.hh — what the kernel's virtio-net header asks of a
// receiver, done in software: completing a partial checksum and cutting a
// GSO super-frame into wire-sized frames with valid checksums. The stack's
// receive path ignores iopkt_pkt_meta for now, so every frame it gets from
// devnp-tap must be complete.
//
// The header is struct virtio_net_hdr (virtio 1.x §5.1.6) in host byte
// order: the TAP is never switched to another endianness (TUNSETVNETLE/BE),
// and then the kernel uses the host's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace iopkt::tap {

// struct virtio_net_hdr, 10 bytes, field for field.
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10);

inline constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcpV4 = 1;
inline constexpr uint8_t kGsoUfo = 3;  // IP fragmentation; Linux stopped producing it in 4.14
inline constexpr uint8_t kGsoTcpV6 = 4;
inline constexpr uint8_t kGsoUdpL4 = 5;  // USO, Linux 6.2
inline constexpr uint8_t kGsoEcn = 0x80;

// The 16-bit one's complement sum (RFC 1071) of `len` bytes added to `sum`,
// not folded. Bytes are taken as big-endian words; an odd last byte is
// padded with zero.
uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t len);
// Folds a sum to 16 bits (not complemented).
uint16_t csum_fold(uint32_t sum);

// NEEDS_CSUM without GSO: the bytes at csum_start+csum_offset hold the
// pseudo-header sum; the checksum over [csum_start, len) goes there. A UDP
// result of 0 is sent as 0xffff (RFC 768: 0 means "no checksum").
// False when the offsets lie outside the frame.
bool complete_csum(uint8_t* frame, size_t len, uint16_t csum_start, uint16_t csum_offset);

// Cuts one GSO super-frame (TCPv4, TCPv6, or UDP with USO) into frames that
// carry at most gso_size payload bytes each, as Linux's tcp_gso_segment() and
// __udp_gso_segment() do: headers copied; IPv4 total length, a fresh header
// checksum and an identification incremented per frame; IPv6 payload
// length; TCP sequence numbers advanced, FIN and PSH kept for the last frame
// only and CWR for the first only; UDP length per datagram; every L4
// checksum computed in full. The super-frame must stay in place until done().
class GsoSegmenter {
 public:
  // Checks the super-frame. False when malformed or of a GSO type we do not
  // cut (then done() is true and nothing is produced).
  bool start(const uint8_t* frame, size_t len, const VnetHdr& h);
  bool done() const { return next_ >= payload_len_; }
  // Size of the frame the next emit() writes; 0 when done().
  size_t next_size() const;
  // Writes the next frame into out (next_size() bytes) and returns its size.
  size_t emit(uint8_t* out);
  // Frames the current super-frame yields in all.
  uint32_t count() const;
  void reset() { payload_len_ = next_ = 0; }

 private:
  const uint8_t* frame_ = nullptr;
  bool ipv6_ = false;
  bool tcp_ = false;
  size_t l3_ = 0;
  size_t l4_ = 0;
  size_t hdrs_ = 0;  // Ethernet + IP + L4 headers
  size_t payload_len_ = 0;
  size_t next_ = 0;  // payload offset of the next frame
  uint32_t index_ = 0;
  uint16_t gso_size_ = 0;
};

}  // namespace iopkt::tap
