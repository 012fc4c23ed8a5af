// kern/mbuf.hh — packet buffers: mbuf headers and reference-counted clusters
// from pools (DESIGN.md "Packet buffers", NetBSD mbuf(9)).
//
// An `Mbuf` is a move-only handle to one packet: a chain of segments, each a
// window [off, off+len) into a reference-counted cluster of `mclbytes`.
// Sharing is explicit (`share`): TCP's send queue and its retransmissions
// hold the same clusters. Headers are prepended into headroom reserved at
// allocation. Pool exhaustion returns an empty Mbuf (a counted drop), never
// throws.
//
// Threads: pools are shared by the packet threads (which fill clusters from
// drivers outside the stack lock) and the stack. Frees and allocations go
// through a per-thread cache (`mbuf_cache`, `pkt_cache`) in front of the
// global, locked free lists; `cache=0` turns the caches off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace iopkt {

struct PoolConfig {
  size_t mclbytes = 2048;         // cluster size, power of two, 2 KiB..16 KiB
  size_t pagesize = 4096;         // allocation quantum of the pools
  size_t mbuf_cache = 0;          // mbuf headers cached per thread on free (0: default)
  size_t pkt_cache = 0;           // mbuf+cluster pairs cached per thread (0: default)
  bool cache = true;              // cache=0 turns per-thread caching off
  size_t max_bytes = 256u << 20;  // ceiling of all clusters together
  // Where quanta of `pagesize` bytes (multiples of it) come from; default
  // operator new. pkt_typed_mem supplies a mapping of a named object here.
  std::function<void*(size_t)> chunk_alloc;
  std::function<void(void*, size_t)> chunk_free;
};

struct PoolStats {
  uint64_t clusters_total = 0;  // carved so far
  uint64_t clusters_in_use = 0;
  uint64_t mbufs_in_use = 0;    // live Mbuf handles
  uint64_t alloc_failures = 0;  // drops because the pool was at max_bytes
  uint64_t bytes_reserved = 0;  // quanta obtained from chunk_alloc
  uint64_t cache_hits = 0;      // allocations served by a per-thread cache
};

class Cluster;  // defined in mbuf.cc

class MbufPool {
 public:
  explicit MbufPool(PoolConfig cfg);
  ~MbufPool();  // all Mbufs must be gone; asserts in debug builds
  MbufPool(const MbufPool&) = delete;
  MbufPool& operator=(const MbufPool&) = delete;

  const PoolConfig& config() const { return cfg_; }
  size_t mclbytes() const { return cfg_.mclbytes; }
  PoolStats stats() const;
  // Give the calling thread's cached headers and clusters back to the global
  // free lists (a thread's cache is also flushed when the thread exits).
  void flush_thread_cache();

  struct Impl;

 private:
  friend class Mbuf;
  PoolConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

// Per-packet metadata (BSD's m_pkthdr).
struct PktHdr {
  uint32_t rcvif = 0;  // interface index the packet arrived on, 0 if local
  uint32_t flags = 0;  // kMbufBcast, kMbufMcast, ...
  uint16_t csum_flags = 0;
  uint16_t csum_start = 0, csum_offset = 0;
  uint16_t gso_size = 0;
  uint8_t gso_type = 0;
};
inline constexpr uint32_t kMbufBcast = 0x1;  // link-level broadcast
inline constexpr uint32_t kMbufMcast = 0x2;  // link-level multicast
inline constexpr uint32_t kMbufLoop = 0x4;   // looped back by the stack

class Mbuf {
 public:
  Mbuf() = default;  // empty: no packet (allocation failed, or moved from)
  Mbuf(Mbuf&&) noexcept;
  Mbuf& operator=(Mbuf&&) noexcept;
  Mbuf(const Mbuf&) = delete;
  Mbuf& operator=(const Mbuf&) = delete;
  ~Mbuf();
  // Give the packet back to its pool now; the handle becomes empty.
  void reset() noexcept;

  // A packet of `len` bytes (contents unspecified, caller writes them) with
  // at least `headroom` bytes free in front for prepends. May chain several
  // clusters when len + headroom exceeds mclbytes. Empty on exhaustion.
  // Unspecified means stale: a reused cluster still holds an earlier packet's
  // bytes, so every byte that may reach the wire must be written (or use
  // alloc_zeroed). `headroom` is capped at mclbytes.
  static Mbuf alloc(MbufPool& pool, size_t len, size_t headroom = 0) noexcept;
  // alloc with the `len` packet bytes zeroed (the headroom stays unspecified).
  static Mbuf alloc_zeroed(MbufPool& pool, size_t len, size_t headroom = 0) noexcept;
  // alloc + copy of `bytes`.
  static Mbuf copy_from(MbufPool& pool, std::span<const std::byte> bytes,
                        size_t headroom = 0) noexcept;

  explicit operator bool() const { return head_ != nullptr; }
  size_t len() const noexcept;       // bytes in the packet
  size_t headroom() const noexcept;  // free bytes before the first byte (0 if shared)
  PktHdr& hdr() noexcept;            // the packet must not be empty
  const PktHdr& hdr() const noexcept;

  // Grow at the front by n bytes and return them (contiguous). Uses the
  // headroom, else chains a new cluster in front. Empty span on exhaustion
  // (the packet is unchanged). The n bytes are unspecified: write them all.
  // n <= mclbytes, else empty span. A cluster shared with another Mbuf is
  // never written: its headroom is not used.
  std::span<std::byte> prepend(size_t n) noexcept;
  // Append bytes at the end (chaining clusters as needed). False on exhaustion.
  // The packet is unchanged when it fails; false on an empty handle too.
  bool append(std::span<const std::byte> bytes) noexcept;
  // Remove n bytes from the front / back (n <= len(); more is clamped).
  // Trimming the front leaves its bytes as headroom for later prepends.
  void trim_front(size_t n) noexcept;
  void trim_back(size_t n) noexcept;
  // Make the first n bytes contiguous and return them; empty span if the
  // packet is shorter than n or memory ran out (BSD m_pullup). The bytes are
  // the packet's own (copied first if the cluster is shared), so writing
  // through the span is allowed. n <= mclbytes, else empty span.
  std::span<std::byte> pullup(size_t n) noexcept;
  // Copy bytes [off, off+out.size()) out; false if the packet is too short.
  bool copy_out(size_t off, std::span<std::byte> out) const noexcept;
  // Overwrite bytes [off, off+in.size()) in place (the packet must be long
  // enough; clusters shared with another Mbuf are copied first).
  // False (bytes unchanged) if too short or out of clusters for the copy.
  bool copy_in(size_t off, std::span<const std::byte> in) noexcept;
  // A new packet sharing bytes [off, off+len) of this one (no copy);
  // metadata is copied. Empty on exhaustion of mbuf headers.
  // Empty if [off, off+len) is not inside the packet.
  Mbuf share(size_t off, size_t len) const noexcept;
  // Append another packet's segments to this one (no copy); `tail` ends
  // empty. Into an empty handle, tail is simply moved.
  void concat(Mbuf&& tail) noexcept;
  // All bytes as one contiguous vector (tests, slow paths).
  std::vector<std::byte> to_vector() const;
  // The segments, in order, as read-only spans.
  std::vector<std::span<const std::byte>> segments() const;
  MbufPool* pool() const noexcept;

  struct Node;  // defined in mbuf.cc

 private:
  explicit Mbuf(Node* head) : head_(head) {}
  Node* head_ = nullptr;
};

}  // namespace iopkt
