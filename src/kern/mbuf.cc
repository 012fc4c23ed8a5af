// kern/mbuf.cc — packet buffers (NetBSD mbuf(9), pool_cache(9)).
//
// Two kinds of objects come from an MbufPool:
//  - mbuf headers (`Mbuf::Node`): one per packet, holding its segment list
//    and PktHdr. Allocated in slabs owned by the pool.
//  - clusters: `mclbytes` of data carved from chunks of `pagesize` quanta
//    (chunk_alloc), each described by a `Cluster` outside the data (so a
//    chunk may be a mapping shared with drivers) with an atomic reference
//    count: a cluster is shared between Mbufs by `share`, possibly across
//    threads.
//
// Free objects sit on global intrusive lists under the pool's mutex, fronted
// by per-thread caches as in NetBSD's pool_cache(9): a thread frees into and
// allocates from its own cache, and moves half a cache at a time to or from
// the global lists. The caches are thread_local and keyed by a pool id that
// is never reused; a registry of live ids (under its own mutex) lets a thread
// that exits give its cache back to a pool that still exists, and lets a
// destroyed pool's entries be recognised and dropped without touching the
// pool. Entries of a dead pool hold dangling pointers that are never
// dereferenced.
//
// Invariant of a packet's segment list: only the first segment may be
// empty — it then only carries headroom (e.g. alloc(0, headroom) before a
// concat of payload, the TCP output pattern).
#include "kern/mbuf.hh"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>

#include "kern/assert.hh"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define IOPKT_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define IOPKT_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define IOPKT_POISON(p, n) ((void)(p), (void)(n))
#define IOPKT_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace iopkt {

class Cluster {
 public:
  std::atomic<uint32_t> refs{0};
  std::byte* data = nullptr;
  MbufPool::Impl* pool = nullptr;
  Cluster* next = nullptr;  // free-list link, valid only while free
};

namespace mbuf_detail {

// A window [off, off+len) of a cluster.
struct Seg {
  Cluster* cl;
  uint32_t off;
  uint32_t len;
  std::byte* begin() const { return cl->data + off; }
};

}  // namespace mbuf_detail

using mbuf_detail::Seg;

struct Mbuf::Node {
  std::vector<Seg> segs;
  size_t len = 0;  // sum of segs[i].len
  PktHdr hdr;
  MbufPool::Impl* pool = nullptr;
  Node* next = nullptr;  // free-list link
};

namespace {

using Node = Mbuf::Node;

constexpr size_t kDefaultCache = 32;
constexpr size_t kChunkTarget = 64 * 1024;  // bytes per chunk_alloc call, at least
constexpr size_t kNodeSlab = 64;            // headers allocated together
constexpr size_t kKeepSegCapacity = 16;     // larger segment arrays are freed on reuse

// Per-thread cache of one pool.
struct CacheEntry {
  uint64_t pool_id = 0;
  MbufPool::Impl* pool = nullptr;  // dereferenced only while pool_id is live
  std::vector<Node*> nodes;
  std::vector<Cluster*> clusters;
};

struct ThreadCaches {
  std::vector<std::unique_ptr<CacheEntry>> entries;
  CacheEntry* last = nullptr;
  ~ThreadCaches();
};

thread_local ThreadCaches tls_caches;
// Set once the thread's caches are destroyed: frees from later thread_local
// destructors go straight to the global lists.
thread_local bool tls_caches_gone = false;

// Live pools by id. Leaked on purpose so that it outlives every thread's
// cache, whatever the order of exit-time destructors.
struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, MbufPool::Impl*> live;
  uint64_t next_id = 1;
};

Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

struct MbufPool::Impl {
  MbufPool* owner = nullptr;
  uint64_t id = 0;
  size_t mcl = 0;
  size_t page = 0;
  size_t node_cache_max = 0;  // 0: per-thread caching off
  size_t cluster_cache_max = 0;
  size_t max_clusters = 0;
  std::function<void*(size_t)> chunk_alloc;
  std::function<void(void*, size_t)> chunk_free;

  struct Chunk {
    void* mem;
    size_t bytes;
    std::unique_ptr<Cluster[]> clusters;
    size_t count;
  };

  mutable std::mutex mu;
  // Guarded by mu:
  Cluster* free_clusters = nullptr;
  Node* free_nodes = nullptr;
  std::vector<Chunk> chunks;
  std::vector<std::unique_ptr<Node[]>> node_slabs;
  uint64_t clusters_total = 0;
  uint64_t bytes_reserved = 0;

  std::atomic<uint64_t> clusters_in_use{0};
  std::atomic<uint64_t> mbufs_in_use{0};
  std::atomic<uint64_t> alloc_failures{0};
  std::atomic<uint64_t> cache_hits{0};

  CacheEntry* cache() noexcept;
  bool carve_locked() noexcept;
  Cluster* take_cluster_locked() noexcept;
  Node* take_node_locked();
  Cluster* get_cluster() noexcept;
  void put_cluster(Cluster* c) noexcept;
  Node* get_node() noexcept;
  void put_node(Node* n) noexcept;
  void give_back(CacheEntry& e) noexcept;
};

namespace {

// Drop entries whose pool is gone (their pointers are never followed).
void prune_dead(ThreadCaches& tc) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::erase_if(tc.entries,
                [&](const std::unique_ptr<CacheEntry>& e) { return !r.live.contains(e->pool_id); });
  tc.last = nullptr;
}

ThreadCaches::~ThreadCaches() {
  tls_caches_gone = true;
  Registry& r = registry();
  for (auto& e : entries) {
    // Holding the registry lock keeps the pool from being destroyed while
    // its objects go back (MbufPool::~MbufPool unregisters under it first).
    std::lock_guard lock(r.mu);
    if (r.live.contains(e->pool_id)) {
      e->pool->give_back(*e);
    }
  }
}

}  // namespace

CacheEntry* MbufPool::Impl::cache() noexcept {
  if (node_cache_max == 0 || tls_caches_gone) {
    return nullptr;
  }
  ThreadCaches& tc = tls_caches;
  if (tc.last != nullptr && tc.last->pool_id == id) {
    return tc.last;
  }
  for (auto& e : tc.entries) {
    if (e->pool_id == id) {
      tc.last = e.get();
      return tc.last;
    }
  }
  prune_dead(tc);
  auto e = std::make_unique<CacheEntry>();
  e->pool_id = id;
  e->pool = this;
  e->nodes.reserve(node_cache_max);
  e->clusters.reserve(cluster_cache_max);
  tc.entries.push_back(std::move(e));
  tc.last = tc.entries.back().get();
  return tc.last;
}

// Obtain one chunk from chunk_alloc and put its clusters on the free list,
// never carving beyond max_bytes.
bool MbufPool::Impl::carve_locked() noexcept {
  if (clusters_total >= max_clusters) {
    return false;
  }
  const size_t want_bytes = std::max(kChunkTarget, mcl);
  size_t count = std::max<size_t>(1, want_bytes / mcl);
  count = std::min<size_t>(count, max_clusters - clusters_total);
  const size_t bytes = (count * mcl + page - 1) / page * page;
  void* mem = chunk_alloc(bytes);
  if (mem == nullptr) {
    return false;
  }
  Chunk chunk{mem, bytes, std::unique_ptr<Cluster[]>(new (std::nothrow) Cluster[count]), count};
  if (!chunk.clusters) {
    chunk_free(mem, bytes);
    return false;
  }
  auto* base = static_cast<std::byte*>(mem);
  IOPKT_POISON(base, bytes);
  for (size_t i = count; i-- > 0;) {
    Cluster& c = chunk.clusters[i];
    c.data = base + i * mcl;
    c.pool = this;
    c.next = free_clusters;
    free_clusters = &c;
  }
  chunks.push_back(std::move(chunk));
  clusters_total += count;
  bytes_reserved += bytes;
  return true;
}

Cluster* MbufPool::Impl::take_cluster_locked() noexcept {
  if (free_clusters == nullptr && !carve_locked()) {
    return nullptr;
  }
  Cluster* c = free_clusters;
  free_clusters = c->next;
  c->next = nullptr;
  return c;
}

Node* MbufPool::Impl::take_node_locked() {
  if (free_nodes == nullptr) {
    auto slab = std::make_unique<Node[]>(kNodeSlab);
    for (size_t i = kNodeSlab; i-- > 0;) {
      slab[i].pool = this;
      slab[i].next = free_nodes;
      free_nodes = &slab[i];
    }
    node_slabs.push_back(std::move(slab));
  }
  Node* n = free_nodes;
  free_nodes = n->next;
  n->next = nullptr;
  return n;
}

Cluster* MbufPool::Impl::get_cluster() noexcept {
  Cluster* c = nullptr;
  if (CacheEntry* e = cache()) {
    if (!e->clusters.empty()) {
      cache_hits.fetch_add(1, std::memory_order_relaxed);
    } else {
      // Refill half a cache in one visit to the global list.
      std::lock_guard lock(mu);
      const size_t batch = std::max<size_t>(1, cluster_cache_max / 2);
      while (e->clusters.size() < batch) {
        Cluster* got = take_cluster_locked();
        if (got == nullptr) {
          break;
        }
        e->clusters.push_back(got);
      }
    }
    if (!e->clusters.empty()) {
      c = e->clusters.back();
      e->clusters.pop_back();
    }
  } else {
    std::lock_guard lock(mu);
    c = take_cluster_locked();
  }
  if (c == nullptr) {
    alloc_failures.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  IOPKT_UNPOISON(c->data, mcl);
#ifndef NDEBUG
  // Make reliance on "fresh clusters are zero" fail loudly in debug builds.
  std::memset(c->data, 0xa5, mcl);
#endif
  c->refs.store(1, std::memory_order_relaxed);
  clusters_in_use.fetch_add(1, std::memory_order_relaxed);
  return c;
}

void MbufPool::Impl::put_cluster(Cluster* c) noexcept {
  IOPKT_POISON(c->data, mcl);
  clusters_in_use.fetch_sub(1, std::memory_order_relaxed);
  if (CacheEntry* e = cache()) {
    if (e->clusters.size() >= cluster_cache_max) {
      std::lock_guard lock(mu);
      const size_t keep = cluster_cache_max / 2;
      while (e->clusters.size() > keep) {
        Cluster* x = e->clusters.back();
        e->clusters.pop_back();
        x->next = free_clusters;
        free_clusters = x;
      }
    }
    e->clusters.push_back(c);
    return;
  }
  std::lock_guard lock(mu);
  c->next = free_clusters;
  free_clusters = c;
}

Node* MbufPool::Impl::get_node() noexcept {
  Node* n = nullptr;
  if (CacheEntry* e = cache()) {
    if (!e->nodes.empty()) {
      cache_hits.fetch_add(1, std::memory_order_relaxed);
    } else {
      std::lock_guard lock(mu);
      const size_t batch = std::max<size_t>(1, node_cache_max / 2);
      while (e->nodes.size() < batch) {
        e->nodes.push_back(take_node_locked());
      }
    }
    n = e->nodes.back();
    e->nodes.pop_back();
  } else {
    std::lock_guard lock(mu);
    n = take_node_locked();
  }
  mbufs_in_use.fetch_add(1, std::memory_order_relaxed);
  return n;
}

void MbufPool::Impl::put_node(Node* n) noexcept {
  n->segs.clear();
  if (n->segs.capacity() > kKeepSegCapacity) {
    std::vector<Seg>().swap(n->segs);
  }
  n->len = 0;
  n->hdr = PktHdr{};
  mbufs_in_use.fetch_sub(1, std::memory_order_relaxed);
  if (CacheEntry* e = cache()) {
    if (e->nodes.size() >= node_cache_max) {
      std::lock_guard lock(mu);
      const size_t keep = node_cache_max / 2;
      while (e->nodes.size() > keep) {
        Node* x = e->nodes.back();
        e->nodes.pop_back();
        x->next = free_nodes;
        free_nodes = x;
      }
    }
    e->nodes.push_back(n);
    return;
  }
  std::lock_guard lock(mu);
  n->next = free_nodes;
  free_nodes = n;
}

void MbufPool::Impl::give_back(CacheEntry& e) noexcept {
  std::lock_guard lock(mu);
  for (Cluster* c : e.clusters) {
    c->next = free_clusters;
    free_clusters = c;
  }
  for (Node* n : e.nodes) {
    n->next = free_nodes;
    free_nodes = n;
  }
  e.clusters.clear();
  e.nodes.clear();
}

// ---------------------------------------------------------------------------
// MbufPool

MbufPool::MbufPool(PoolConfig cfg) : cfg_(std::move(cfg)), impl_(std::make_unique<Impl>()) {
  // Options are validated by their parser; here only keep the arithmetic
  // sound: powers of two, clusters of 256 B..64 KiB (io-pkt accepts
  // 2 KiB..16 KiB; tests use smaller ones to exercise chains).
  cfg_.mclbytes = std::bit_ceil(std::clamp<size_t>(cfg_.mclbytes, 256, 64 * 1024));
  cfg_.pagesize = std::bit_ceil(std::max<size_t>(cfg_.pagesize, 256));
  if (cfg_.mbuf_cache == 0) {
    cfg_.mbuf_cache = kDefaultCache;
  }
  if (cfg_.pkt_cache == 0) {
    cfg_.pkt_cache = kDefaultCache;
  }
  Impl& p = *impl_;
  p.owner = this;
  p.mcl = cfg_.mclbytes;
  p.page = cfg_.pagesize;
  p.node_cache_max = cfg_.cache ? cfg_.mbuf_cache : 0;
  p.cluster_cache_max = cfg_.cache ? cfg_.pkt_cache : 0;
  if (p.node_cache_max == 0 || p.cluster_cache_max == 0) {
    p.node_cache_max = p.cluster_cache_max = 0;
  }
  p.max_clusters = cfg_.max_bytes / p.mcl;
  if (cfg_.chunk_alloc) {
    p.chunk_alloc = cfg_.chunk_alloc;
    p.chunk_free = cfg_.chunk_free ? cfg_.chunk_free : [](void*, size_t) {};
  } else {
    const auto align = std::align_val_t{p.page};
    p.chunk_alloc = [align](size_t n) { return ::operator new(n, align, std::nothrow); };
    p.chunk_free = [align](void* mem, size_t) { ::operator delete(mem, align); };
  }
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  p.id = r.next_id++;
  r.live.emplace(p.id, &p);
}

MbufPool::~MbufPool() {
  Impl& p = *impl_;
  IOPKT_ASSERT(p.mbufs_in_use.load() == 0 && "an Mbuf outlives its pool");
  IOPKT_ASSERT(p.clusters_in_use.load() == 0 && "a cluster outlives its pool");
  {
    // After this no exiting thread gives objects back to us, and every
    // thread's entry for this pool is dead (dropped unread).
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    r.live.erase(p.id);
  }
  for (auto& chunk : p.chunks) {
    IOPKT_UNPOISON(chunk.mem, chunk.bytes);
    p.chunk_free(chunk.mem, chunk.bytes);
  }
}

PoolStats MbufPool::stats() const {
  PoolStats s;
  {
    std::lock_guard lock(impl_->mu);
    s.clusters_total = impl_->clusters_total;
    s.bytes_reserved = impl_->bytes_reserved;
  }
  s.clusters_in_use = impl_->clusters_in_use.load(std::memory_order_relaxed);
  s.mbufs_in_use = impl_->mbufs_in_use.load(std::memory_order_relaxed);
  s.alloc_failures = impl_->alloc_failures.load(std::memory_order_relaxed);
  s.cache_hits = impl_->cache_hits.load(std::memory_order_relaxed);
  return s;
}

void MbufPool::flush_thread_cache() {
  if (CacheEntry* e = impl_->cache()) {
    impl_->give_back(*e);
  }
}

// ---------------------------------------------------------------------------
// Mbuf

namespace {

bool cluster_private(const Cluster* c) noexcept {
  // Only a holder can add references, so 1 cannot grow behind our back.
  return c->refs.load(std::memory_order_acquire) == 1;
}

void cluster_ref(Cluster* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }

void cluster_unref(Cluster* c) noexcept {
  // acq_rel: the last holder must see every other holder's writes before
  // the cluster is reused.
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    c->pool->put_cluster(c);
  }
}

std::span<std::byte> seg_bytes(const Seg& s) noexcept { return {s.begin(), s.len}; }

}  // namespace

Mbuf::Mbuf(Mbuf&& o) noexcept : head_(std::exchange(o.head_, nullptr)) {}

Mbuf& Mbuf::operator=(Mbuf&& o) noexcept {
  if (this != &o) {
    reset();
    head_ = std::exchange(o.head_, nullptr);
  }
  return *this;
}

Mbuf::~Mbuf() { reset(); }

void Mbuf::reset() noexcept {
  if (head_ == nullptr) {
    return;
  }
  Node* n = std::exchange(head_, nullptr);
  for (const Seg& s : n->segs) {
    cluster_unref(s.cl);
  }
  n->pool->put_node(n);
}

Mbuf Mbuf::alloc(MbufPool& pool, size_t len, size_t headroom) noexcept {
  MbufPool::Impl& p = *pool.impl_;
  const size_t mcl = p.mcl;
  Node* n = p.get_node();
  Mbuf m(n);  // gives everything back if a cluster is missing
  size_t off = std::min(headroom, mcl);
  size_t remaining = len;
  do {
    Cluster* c = p.get_cluster();
    if (c == nullptr) {
      return Mbuf{};
    }
    const size_t take = std::min(remaining, mcl - off);
    n->segs.push_back(Seg{c, static_cast<uint32_t>(off), static_cast<uint32_t>(take)});
    n->len += take;
    remaining -= take;
    off = 0;
  } while (remaining > 0);
  return m;
}

Mbuf Mbuf::alloc_zeroed(MbufPool& pool, size_t len, size_t headroom) noexcept {
  Mbuf m = alloc(pool, len, headroom);
  if (m) {
    for (const Seg& s : m.head_->segs) {
      std::memset(s.begin(), 0, s.len);
    }
  }
  return m;
}

Mbuf Mbuf::copy_from(MbufPool& pool, std::span<const std::byte> bytes, size_t headroom) noexcept {
  Mbuf m = alloc(pool, bytes.size(), headroom);
  if (m) {
    size_t at = 0;
    for (const Seg& s : m.head_->segs) {
      if (s.len != 0) {
        std::memcpy(s.begin(), bytes.data() + at, s.len);
      }
      at += s.len;
    }
  }
  return m;
}

size_t Mbuf::len() const noexcept { return head_ == nullptr ? 0 : head_->len; }

size_t Mbuf::headroom() const noexcept {
  if (head_ == nullptr || head_->segs.empty()) {
    return 0;
  }
  const Seg& s = head_->segs.front();
  return cluster_private(s.cl) ? s.off : 0;
}

PktHdr& Mbuf::hdr() noexcept {
  IOPKT_ASSERT(head_ != nullptr);
  return head_->hdr;
}

const PktHdr& Mbuf::hdr() const noexcept {
  IOPKT_ASSERT(head_ != nullptr);
  return head_->hdr;
}

MbufPool* Mbuf::pool() const noexcept { return head_ == nullptr ? nullptr : head_->pool->owner; }

std::span<std::byte> Mbuf::prepend(size_t n) noexcept {
  if (head_ == nullptr) {
    return {};
  }
  Node& nd = *head_;
  MbufPool::Impl& p = *nd.pool;
  if (n > p.mcl) {
    return {};
  }
  if (!nd.segs.empty()) {
    Seg& s = nd.segs.front();
    if (s.off >= n && cluster_private(s.cl)) {
      s.off -= static_cast<uint32_t>(n);
      s.len += static_cast<uint32_t>(n);
      nd.len += n;
      return {s.begin(), n};
    }
  }
  Cluster* c = p.get_cluster();
  if (c == nullptr) {
    return {};
  }
  // The new bytes go at the end of the new cluster, so that the next
  // prepend (the next layer's header) finds the rest as headroom.
  const Seg fresh{c, static_cast<uint32_t>(p.mcl - n), static_cast<uint32_t>(n)};
  if (!nd.segs.empty() && nd.segs.front().len == 0) {
    cluster_unref(nd.segs.front().cl);  // an empty front segment: replaced
    nd.segs.front() = fresh;
  } else {
    nd.segs.insert(nd.segs.begin(), fresh);
  }
  nd.len += n;
  return {fresh.begin(), n};
}

bool Mbuf::append(std::span<const std::byte> bytes) noexcept {
  if (head_ == nullptr) {
    return false;
  }
  if (bytes.empty()) {
    return true;
  }
  Node& nd = *head_;
  MbufPool::Impl& p = *nd.pool;
  const size_t mcl = p.mcl;
  const size_t old_count = nd.segs.size();
  size_t room = 0;
  if (old_count != 0) {
    const Seg& last = nd.segs.back();
    if (cluster_private(last.cl)) {
      room = mcl - (last.off + last.len);
    }
  }
  const size_t in_room = std::min(room, bytes.size());
  const size_t rest = bytes.size() - in_room;
  // Get every cluster first, so that a failure leaves the packet unchanged.
  for (size_t need = (rest + mcl - 1) / mcl; need > 0; --need) {
    Cluster* c = p.get_cluster();
    if (c == nullptr) {
      while (nd.segs.size() > old_count) {
        cluster_unref(nd.segs.back().cl);
        nd.segs.pop_back();
      }
      return false;
    }
    nd.segs.push_back(Seg{c, 0, 0});
  }
  const std::byte* src = bytes.data();
  if (in_room != 0) {
    Seg& last = nd.segs[old_count - 1];
    std::memcpy(last.begin() + last.len, src, in_room);
    last.len += static_cast<uint32_t>(in_room);
    src += in_room;
  }
  size_t left = rest;
  for (size_t i = old_count; i < nd.segs.size(); ++i) {
    const size_t take = std::min(left, mcl);
    std::memcpy(nd.segs[i].begin(), src, take);
    nd.segs[i].len = static_cast<uint32_t>(take);
    src += take;
    left -= take;
  }
  nd.len += bytes.size();
  return true;
}

void Mbuf::trim_front(size_t n) noexcept {
  if (head_ == nullptr) {
    return;
  }
  Node& nd = *head_;
  n = std::min(n, nd.len);
  nd.len -= n;
  size_t drop = 0;  // leading segments consumed entirely
  while (n > 0) {
    Seg& s = nd.segs[drop];
    if (s.len <= n && drop + 1 < nd.segs.size()) {
      n -= s.len;
      cluster_unref(s.cl);
      ++drop;
    } else {
      // The last segment is kept even when emptied: its bytes become
      // headroom (ip_input trims the link header, icmp_reflect prepends).
      const auto take = static_cast<uint32_t>(std::min<size_t>(n, s.len));
      s.off += take;
      s.len -= take;
      n -= take;
    }
  }
  nd.segs.erase(nd.segs.begin(), nd.segs.begin() + static_cast<ptrdiff_t>(drop));
}

void Mbuf::trim_back(size_t n) noexcept {
  if (head_ == nullptr) {
    return;
  }
  Node& nd = *head_;
  n = std::min(n, nd.len);
  nd.len -= n;
  while (n > 0) {
    Seg& s = nd.segs.back();
    if (s.len <= n && nd.segs.size() > 1) {
      n -= s.len;
      cluster_unref(s.cl);
      nd.segs.pop_back();
    } else {
      const auto take = static_cast<uint32_t>(std::min<size_t>(n, s.len));
      s.len -= take;
      n -= take;
    }
  }
}

std::span<std::byte> Mbuf::pullup(size_t n) noexcept {
  if (head_ == nullptr || n > head_->len) {
    return {};
  }
  Node& nd = *head_;
  MbufPool::Impl& p = *nd.pool;
  if (n == 0) {
    return nd.segs.empty() ? std::span<std::byte>{} : std::span<std::byte>{nd.segs[0].begin(), 0};
  }
  if (n > p.mcl) {
    return {};
  }
  Seg& first = nd.segs.front();
  const bool mine = cluster_private(first.cl);
  if (mine && first.len >= n) {
    return {first.begin(), n};
  }
  if (mine && first.off + n <= p.mcl) {
    // Room behind the first segment: move the following bytes into it
    // (m_pullup's in-place case).
    size_t need = n - first.len;
    size_t drop = 0;
    for (size_t i = 1; need > 0; ++i) {
      Seg& s = nd.segs[i];
      const size_t take = std::min<size_t>(need, s.len);
      std::memcpy(first.begin() + first.len, s.begin(), take);
      first.len += static_cast<uint32_t>(take);
      s.off += static_cast<uint32_t>(take);
      s.len -= static_cast<uint32_t>(take);
      need -= take;
      if (s.len == 0) {
        cluster_unref(s.cl);
        ++drop;
      }
    }
    nd.segs.erase(nd.segs.begin() + 1, nd.segs.begin() + 1 + static_cast<ptrdiff_t>(drop));
    return {nd.segs.front().begin(), n};
  }
  // Copy the first n bytes into a fresh cluster, keeping the headroom the
  // old first segment had as far as it fits.
  Cluster* c = p.get_cluster();
  if (c == nullptr) {
    return {};
  }
  const size_t off = std::min<size_t>(first.off, p.mcl - n);
  const bool ok = copy_out(0, {c->data + off, n});
  IOPKT_ASSERT(ok);
  (void)ok;
  // Drop those bytes from the old segments; an old first segment emptied by
  // it is released rather than kept for its headroom.
  size_t left = n;
  size_t drop = 0;
  while (left > 0) {
    Seg& s = nd.segs[drop];
    const size_t take = std::min<size_t>(left, s.len);
    s.off += static_cast<uint32_t>(take);
    s.len -= static_cast<uint32_t>(take);
    left -= take;
    if (s.len == 0) {
      cluster_unref(s.cl);
      ++drop;
    }
  }
  nd.segs.erase(nd.segs.begin(), nd.segs.begin() + static_cast<ptrdiff_t>(drop));
  nd.segs.insert(nd.segs.begin(), Seg{c, static_cast<uint32_t>(off), static_cast<uint32_t>(n)});
  return {c->data + off, n};
}

bool Mbuf::copy_out(size_t off, std::span<std::byte> out) const noexcept {
  if (off > len() || out.size() > len() - off) {
    return false;
  }
  if (out.empty()) {
    return true;
  }
  size_t done = 0;
  for (const Seg& s : head_->segs) {
    if (done == out.size()) {
      break;
    }
    if (off >= s.len) {
      off -= s.len;
      continue;
    }
    const size_t take = std::min<size_t>(s.len - off, out.size() - done);
    std::memcpy(out.data() + done, s.begin() + off, take);
    done += take;
    off = 0;
  }
  return true;
}

bool Mbuf::copy_in(size_t off, std::span<const std::byte> in) noexcept {
  if (off > len() || in.size() > len() - off) {
    return false;
  }
  if (in.empty()) {
    return true;
  }
  Node& nd = *head_;
  MbufPool::Impl& p = *nd.pool;
  // First make every touched segment private (copy-on-write). A failure
  // half-way leaves the bytes as they were: copied segments hold the same
  // bytes as the ones they replace.
  size_t pos = 0;
  const size_t end = off + in.size();
  for (Seg& s : nd.segs) {
    const size_t s_end = pos + s.len;
    if (s_end > off && pos < end && !cluster_private(s.cl)) {
      Cluster* c = p.get_cluster();
      if (c == nullptr) {
        return false;
      }
      std::memcpy(c->data + s.off, s.begin(), s.len);
      cluster_unref(s.cl);
      s.cl = c;
    }
    pos = s_end;
    if (pos >= end) {
      break;
    }
  }
  size_t done = 0;
  for (Seg& s : nd.segs) {
    if (done == in.size()) {
      break;
    }
    if (off >= s.len) {
      off -= s.len;
      continue;
    }
    const size_t take = std::min<size_t>(s.len - off, in.size() - done);
    std::memcpy(s.begin() + off, in.data() + done, take);
    done += take;
    off = 0;
  }
  return true;
}

Mbuf Mbuf::share(size_t off, size_t len) const noexcept {
  if (head_ == nullptr || off > head_->len || len > head_->len - off) {
    return {};
  }
  Node* n = head_->pool->get_node();
  n->hdr = head_->hdr;
  n->len = len;
  size_t left = len;
  for (const Seg& s : head_->segs) {
    if (left == 0) {
      break;
    }
    if (off >= s.len) {
      off -= s.len;
      continue;
    }
    const size_t take = std::min<size_t>(s.len - off, left);
    cluster_ref(s.cl);
    n->segs.push_back(Seg{s.cl, static_cast<uint32_t>(s.off + off), static_cast<uint32_t>(take)});
    left -= take;
    off = 0;
  }
  return Mbuf(n);
}

void Mbuf::concat(Mbuf&& tail) noexcept {
  if (tail.head_ == nullptr || &tail == this) {
    return;
  }
  if (head_ == nullptr) {
    head_ = std::exchange(tail.head_, nullptr);
    return;
  }
  Node& nd = *head_;
  Node* t = std::exchange(tail.head_, nullptr);
  for (const Seg& s : t->segs) {
    if (s.len == 0) {
      cluster_unref(s.cl);  // empty segments live only at the front
    } else {
      nd.segs.push_back(s);
    }
  }
  nd.len += t->len;
  t->segs.clear();
  t->pool->put_node(t);
}

std::vector<std::byte> Mbuf::to_vector() const {
  std::vector<std::byte> out(len());
  const bool ok = copy_out(0, out);
  IOPKT_ASSERT(ok);
  (void)ok;
  return out;
}

std::vector<std::span<const std::byte>> Mbuf::segments() const {
  std::vector<std::span<const std::byte>> out;
  if (head_ != nullptr) {
    for (const Seg& s : head_->segs) {
      if (s.len != 0) {
        out.push_back(seg_bytes(s));
      }
    }
  }
  return out;
}

}  // namespace iopkt
