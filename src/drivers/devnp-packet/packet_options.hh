// devnp-packet/packet_options.hh — the options devnp-packet parses itself
// (the stack has already taken name=, unit=, mac=, mtu=). See packet.cc for
// what each one does; the parsing machinery is drivers/common/options.hh.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iopkt::packet {

// The ring is counted in 2 KiB frames (one full-size Ethernet frame each, as
// TPACKET's tp_frame_size) and cut into blocks; TPACKET_V3 packs frames of
// any size into a block, and a block must hold the largest frame the kernel
// may hand us whole: a 64 KiB GSO super-frame plus the ring's headers. So
// the default block is 256 KiB (room for three super-frames) and the
// default ring 4096 frames = 8 MiB = 32 blocks.
inline constexpr uint32_t kRingFrameSize = 2048;
inline constexpr uint32_t kDefaultFrames = 4096;
inline constexpr uint32_t kDefaultBlockSize = 256 * 1024;
inline constexpr uint32_t kMinBlockSize = 4096;
inline constexpr uint32_t kMaxBlockSize = 16 * 1024 * 1024;
inline constexpr uint32_t kMaxRingBytes = 1024u * 1024 * 1024;
inline constexpr uint32_t kMinBlocks = 2;
// A block is handed to us when full or after this many milliseconds
// (tp_retire_blk_tov): the worst added latency for a lone frame.
inline constexpr uint32_t kDefaultTovMs = 1;
inline constexpr uint32_t kMaxTovMs = 1000;

struct Options {
  std::string ifname;                       // if=NAME, required: a Linux interface
  bool promisc = false;                     // promisc: PACKET_MR_PROMISC from attach on
  uint32_t frames = kDefaultFrames;         // frames=N (2 KiB each)
  uint32_t block_size = kDefaultBlockSize;  // blocksize=BYTES[k|M]
  uint32_t tov_ms = kDefaultTovMs;          // tov=MS
  bool vnet_hdr = true;                     // novnet: read offload state from tp_status only

  uint32_t block_count() const {
    uint64_t bytes = uint64_t{frames} * kRingFrameSize;
    return static_cast<uint32_t>((bytes + block_size - 1) / block_size);
  }
};

// Parses a comma-separated list ("if=veth0,promisc,blocksize=512k"). Empty
// items are skipped; a later duplicate replaces an earlier one. Returns
// false and sets *err to a message naming the offending option when one is
// unknown or malformed, or when if= is missing.
bool parse_options(std::string_view text, Options* out, std::string* err);

}  // namespace iopkt::packet
