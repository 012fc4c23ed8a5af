// tests/kern/mbuf_test.cc — packet buffers: layout of allocations and
// chains, prepend/append/trim/pullup, sharing and copy-on-write, pool
// exhaustion and statistics, per-thread caches, and concurrent use.
#include "kern/mbuf.hh"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "kern/random.hh"

namespace iopkt {
namespace {

std::vector<std::byte> pattern(size_t n, uint8_t seed = 1) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::byte(static_cast<uint8_t>(seed + i * 7 + (i >> 8)));
  }
  return v;
}

PoolConfig config(size_t mclbytes, bool cache = true, size_t max_bytes = 64u << 20) {
  PoolConfig c;
  c.mclbytes = mclbytes;
  c.cache = cache;
  c.max_bytes = max_bytes;
  return c;
}

void expect_idle(const MbufPool& pool) {
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.mbufs_in_use, 0u);
  EXPECT_EQ(s.clusters_in_use, 0u);
}

// The tests that do not depend on the cluster size run with both io-pkt's
// default and its largest, each with the per-thread caches on and off.
class MbufTest : public ::testing::TestWithParam<std::tuple<size_t, bool>> {
 protected:
  MbufTest() : pool_(config(std::get<0>(GetParam()), std::get<1>(GetParam()))) {}
  ~MbufTest() override { expect_idle(pool_); }
  size_t mcl() const { return pool_.mclbytes(); }
  MbufPool pool_;
};

TEST_P(MbufTest, AllocPlacesDataAfterHeadroom) {
  Mbuf m = Mbuf::alloc(pool_, 100, 64);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.len(), 100u);
  EXPECT_EQ(m.headroom(), 64u);
  EXPECT_EQ(m.segments().size(), 1u);
  EXPECT_EQ(m.pool(), &pool_);
  EXPECT_EQ(pool_.stats().mbufs_in_use, 1u);
  EXPECT_EQ(pool_.stats().clusters_in_use, 1u);
  m.hdr().rcvif = 3;
  m.hdr().flags = kMbufBcast;
  Mbuf moved = std::move(m);
  EXPECT_FALSE(m);  // NOLINT: moved-from is empty by contract
  EXPECT_EQ(m.len(), 0u);
  EXPECT_EQ(moved.hdr().rcvif, 3u);
  moved.reset();
  EXPECT_FALSE(moved);
  expect_idle(pool_);
}

TEST_P(MbufTest, AllocChainsWhenHeadroomPlusLenExceedsACluster) {
  const size_t len = 3 * mcl() + 10;
  const auto bytes = pattern(len);
  Mbuf m = Mbuf::copy_from(pool_, bytes, 128);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.headroom(), 128u);
  auto segs = m.segments();
  ASSERT_EQ(segs.size(), 4u);
  EXPECT_EQ(segs[0].size(), mcl() - 128);
  EXPECT_EQ(segs[1].size(), mcl());
  EXPECT_EQ(segs[3].size(), len - (mcl() - 128) - 2 * mcl());
  EXPECT_EQ(m.to_vector(), bytes);
  EXPECT_EQ(pool_.stats().clusters_in_use, 4u);
}

TEST_P(MbufTest, HeadroomIsCappedAtAClusterAndStillUsable) {
  Mbuf m = Mbuf::copy_from(pool_, pattern(10), 10 * mcl());
  ASSERT_TRUE(m);
  EXPECT_EQ(m.headroom(), mcl());
  EXPECT_EQ(m.len(), 10u);
  auto h = m.prepend(mcl());
  ASSERT_EQ(h.size(), mcl());
  EXPECT_EQ(m.len(), 10 + mcl());
}

TEST_P(MbufTest, ZeroLengthPacketKeepsHeadroomForHeaders) {
  Mbuf m = Mbuf::alloc(pool_, 0, 40);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.len(), 0u);
  EXPECT_EQ(m.headroom(), 40u);
  EXPECT_TRUE(m.segments().empty());
  auto h = m.prepend(20);
  ASSERT_EQ(h.size(), 20u);
  EXPECT_EQ(m.headroom(), 20u);
  EXPECT_EQ(pool_.stats().clusters_in_use, 1u);
}

TEST_P(MbufTest, PrependUsesHeadroomThenChainsAClusterInFront) {
  const auto payload = pattern(50);
  Mbuf m = Mbuf::copy_from(pool_, payload, 16);
  auto tcp = m.prepend(16);
  ASSERT_EQ(tcp.size(), 16u);
  std::fill(tcp.begin(), tcp.end(), std::byte{0xaa});
  EXPECT_EQ(m.headroom(), 0u);
  EXPECT_EQ(m.segments().size(), 1u);  // fitted into the headroom
  auto ip = m.prepend(20);             // no room left: a new cluster in front
  ASSERT_EQ(ip.size(), 20u);
  std::fill(ip.begin(), ip.end(), std::byte{0xbb});
  EXPECT_EQ(m.segments().size(), 2u);
  // The new bytes sit at the end of the new cluster: more prepends fit.
  EXPECT_EQ(m.headroom(), mcl() - 20);
  auto eth = m.prepend(14);
  ASSERT_EQ(eth.size(), 14u);
  std::fill(eth.begin(), eth.end(), std::byte{0xcc});
  EXPECT_EQ(m.segments().size(), 2u);
  EXPECT_EQ(m.len(), 100u);
  auto v = m.to_vector();
  EXPECT_EQ(v[0], std::byte{0xcc});
  EXPECT_EQ(v[14], std::byte{0xbb});
  EXPECT_EQ(v[34], std::byte{0xaa});
  EXPECT_TRUE(std::equal(payload.begin(), payload.end(), v.begin() + 50));
  EXPECT_TRUE(m.prepend(mcl() + 1).empty());  // larger than any cluster
  EXPECT_EQ(m.len(), 100u);
}

TEST_P(MbufTest, AppendFillsTheTailThenChains) {
  Mbuf m = Mbuf::copy_from(pool_, pattern(10), 0);
  const auto more = pattern(2 * mcl(), 9);
  ASSERT_TRUE(m.append(more));
  EXPECT_EQ(m.len(), 10 + 2 * mcl());
  EXPECT_EQ(m.segments().size(), 3u);  // 10 + (mcl - 10) | mcl | 10
  EXPECT_EQ(m.segments()[0].size(), mcl());
  auto v = m.to_vector();
  EXPECT_TRUE(std::equal(more.begin(), more.end(), v.begin() + 10));
  EXPECT_TRUE(m.append({}));
  Mbuf empty;
  EXPECT_FALSE(empty.append(more));
}

TEST_P(MbufTest, TrimFrontAndBackAcrossSegments) {
  const auto bytes = pattern(3 * mcl());
  Mbuf m = Mbuf::copy_from(pool_, bytes);
  m.trim_front(mcl() + 5);  // drops the first cluster entirely
  EXPECT_EQ(m.segments().size(), 2u);
  EXPECT_EQ(pool_.stats().clusters_in_use, 2u);
  EXPECT_EQ(m.headroom(), 5u);  // trimmed bytes become headroom
  m.trim_back(mcl() + 1);
  EXPECT_EQ(m.segments().size(), 1u);
  EXPECT_EQ(pool_.stats().clusters_in_use, 1u);
  auto v = m.to_vector();
  ASSERT_EQ(v.size(), mcl() - 6);
  EXPECT_TRUE(std::equal(v.begin(), v.end(), bytes.begin() + mcl() + 5));
  m.trim_front(m.len() + 100);  // clamped
  EXPECT_EQ(m.len(), 0u);
  EXPECT_TRUE(m);
  // The emptied packet still owns its cluster's headroom for a prepend.
  EXPECT_EQ(m.headroom(), mcl() - 1);
  m.trim_back(5);
  EXPECT_EQ(m.len(), 0u);
}

TEST_P(MbufTest, PullupAlreadyContiguousIsInPlace) {
  Mbuf m = Mbuf::copy_from(pool_, pattern(100), 32);
  const std::byte* first = m.segments()[0].data();
  auto s = m.pullup(40);
  ASSERT_EQ(s.size(), 40u);
  EXPECT_EQ(s.data(), first);
  EXPECT_TRUE(m.pullup(101).empty());
  EXPECT_EQ(m.len(), 100u);
}

TEST_P(MbufTest, PullupGathersBytesFromFollowingSegments) {
  const auto a = pattern(10, 1), b = pattern(30, 2), c = pattern(30, 3);
  Mbuf m = Mbuf::copy_from(pool_, a, 64);
  m.concat(Mbuf::copy_from(pool_, b));
  m.concat(Mbuf::copy_from(pool_, c));
  ASSERT_EQ(m.segments().size(), 3u);
  auto s = m.pullup(50);  // room behind the first segment: moved in place
  ASSERT_EQ(s.size(), 50u);
  EXPECT_EQ(m.segments().size(), 2u);
  EXPECT_EQ(m.segments()[0].size(), 50u);
  EXPECT_EQ(m.headroom(), 64u);
  std::vector<std::byte> all(a);
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());
  EXPECT_EQ(m.to_vector(), all);
  EXPECT_TRUE(std::equal(s.begin(), s.end(), all.begin()));
  EXPECT_EQ(pool_.stats().clusters_in_use, 2u);  // b's cluster was released
}

TEST_P(MbufTest, PullupCopiesWhenTheFirstClusterIsFullOrShared) {
  // First segment ends at the end of its cluster: no room to gather.
  const auto bytes = pattern(mcl() + 100);
  Mbuf m = Mbuf::copy_from(pool_, bytes, 20);
  auto s = m.pullup(mcl());
  ASSERT_EQ(s.size(), mcl());
  EXPECT_EQ(m.to_vector(), bytes);
  EXPECT_TRUE(std::equal(s.begin(), s.end(), bytes.begin()));
  EXPECT_TRUE(m.pullup(mcl() + 1).empty());  // larger than a cluster
  EXPECT_EQ(m.to_vector(), bytes);

  // A shared cluster is never handed out writable: pullup copies it.
  Mbuf orig = Mbuf::copy_from(pool_, pattern(64), 0);
  Mbuf sh = orig.share(0, 64);
  auto p = sh.pullup(20);
  ASSERT_EQ(p.size(), 20u);
  EXPECT_NE(p.data(), orig.segments()[0].data());
  std::fill(p.begin(), p.end(), std::byte{0});
  EXPECT_EQ(orig.to_vector(), pattern(64));
  auto v = sh.to_vector();
  EXPECT_EQ(v[0], std::byte{0});
  EXPECT_EQ(v[20], pattern(64)[20]);
}

TEST_P(MbufTest, ShareIsZeroCopyAndOutlivesTheOriginal) {
  const auto bytes = pattern(2 * mcl() + 300);
  Mbuf m = Mbuf::copy_from(pool_, bytes);
  m.hdr().rcvif = 7;
  const auto before = pool_.stats().clusters_in_use;
  Mbuf s = m.share(mcl() - 10, 200);  // straddles two clusters
  ASSERT_TRUE(s);
  EXPECT_EQ(pool_.stats().clusters_in_use, before);  // no new cluster
  EXPECT_EQ(pool_.stats().mbufs_in_use, 2u);
  EXPECT_EQ(s.hdr().rcvif, 7u);  // metadata copied
  auto segs = s.segments();
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].data(), m.segments()[0].data() + mcl() - 10);
  EXPECT_EQ(s.headroom(), 0u);  // shared cluster: its headroom is not ours
  {
    // Prepending to a share never writes into bytes the original holds.
    Mbuf tail = m.share(50, 100);
    auto h = tail.prepend(20);
    ASSERT_EQ(h.size(), 20u);
    std::fill(h.begin(), h.end(), std::byte{0});
    EXPECT_EQ(m.to_vector(), bytes);
    EXPECT_EQ(tail.segments().size(), 2u);
  }
  EXPECT_FALSE(m.share(10, m.len()));  // out of range
  EXPECT_TRUE(m.share(m.len(), 0));
  m.reset();
  EXPECT_EQ(pool_.stats().clusters_in_use, 2u);  // the ones s still holds
  auto v = s.to_vector();
  EXPECT_TRUE(std::equal(v.begin(), v.end(), bytes.begin() + mcl() - 10));
}

TEST_P(MbufTest, CopyInIsInPlaceWhenPrivateAndCopyOnWriteWhenShared) {
  const auto bytes = pattern(300);
  Mbuf m = Mbuf::copy_from(pool_, bytes, 16);
  const std::byte* data = m.segments()[0].data();
  const std::array<std::byte, 4> four{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  ASSERT_TRUE(m.copy_in(10, four));
  EXPECT_EQ(m.segments()[0].data(), data);  // private: written in place
  EXPECT_FALSE(m.copy_in(298, four));       // past the end
  EXPECT_TRUE(m.copy_in(296, four));

  Mbuf retx = m.share(0, 300);  // e.g. a retransmission's reference
  const auto sent = m.to_vector();
  const std::array<std::byte, 2> two{std::byte{9}, std::byte{9}};
  ASSERT_TRUE(retx.copy_in(100, two));
  EXPECT_EQ(m.to_vector(), sent);  // the other holder's bytes are untouched
  EXPECT_NE(retx.segments()[0].data(), m.segments()[0].data());
  auto v = retx.to_vector();
  EXPECT_EQ(v[100], std::byte{9});
  EXPECT_EQ(v[12], std::byte{3});
  // m's cluster is private again now: writes go in place.
  ASSERT_TRUE(m.copy_in(0, two));
  EXPECT_EQ(m.segments()[0].data(), data);
  EXPECT_EQ(m.headroom(), 16u);
}

TEST_P(MbufTest, CopyOutChecksBounds) {
  const auto bytes = pattern(2 * mcl());
  Mbuf m = Mbuf::copy_from(pool_, bytes);
  std::vector<std::byte> out(100);
  ASSERT_TRUE(m.copy_out(mcl() - 50, out));
  EXPECT_TRUE(std::equal(out.begin(), out.end(), bytes.begin() + mcl() - 50));
  EXPECT_FALSE(m.copy_out(2 * mcl() - 99, out));
  EXPECT_TRUE(m.copy_out(2 * mcl(), std::span<std::byte>{}));
  EXPECT_FALSE(m.copy_out(2 * mcl() + 1, std::span<std::byte>{}));
  Mbuf empty;
  EXPECT_FALSE(empty.copy_out(0, out));
}

TEST_P(MbufTest, ConcatLinksSegmentsAndKeepsTheHeaderSegment) {
  // The TCP output pattern: an empty header packet, payload shared from the
  // send queue concatenated behind it, headers prepended in front.
  const auto payload = pattern(1000);
  Mbuf sndq = Mbuf::copy_from(pool_, payload);
  Mbuf seg = Mbuf::alloc(pool_, 0, 60);
  seg.concat(sndq.share(100, 500));
  EXPECT_EQ(seg.len(), 500u);
  EXPECT_EQ(seg.headroom(), 60u);
  auto h = seg.prepend(40);
  ASSERT_EQ(h.size(), 40u);
  EXPECT_EQ(seg.segments().size(), 2u);
  auto v = seg.to_vector();
  EXPECT_TRUE(std::equal(v.begin() + 40, v.end(), payload.begin() + 100));

  Mbuf a;  // into an empty handle: moved
  Mbuf b = Mbuf::copy_from(pool_, pattern(5));
  a.concat(std::move(b));
  EXPECT_FALSE(b);  // NOLINT
  EXPECT_EQ(a.len(), 5u);
  Mbuf none;
  a.concat(std::move(none));
  EXPECT_EQ(a.len(), 5u);
  EXPECT_EQ(pool_.stats().mbufs_in_use, 3u);  // sndq, seg, a
}

TEST_P(MbufTest, AllocZeroedHidesStaleBytes) {
  {
    Mbuf dirty = Mbuf::alloc(pool_, mcl());
    auto s = dirty.pullup(mcl());
    std::fill(s.begin(), s.end(), std::byte{0xee});
  }
  Mbuf m = Mbuf::alloc_zeroed(pool_, mcl() + 10, 8);
  for (std::byte b : m.to_vector()) {
    ASSERT_EQ(b, std::byte{0});
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, MbufTest,
                         ::testing::Combine(::testing::Values(2048, 16384), ::testing::Bool()),
                         [](const auto& info) {
                           return "mcl" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_cache" : "_nocache");
                         });

// --- exhaustion and statistics ---------------------------------------------

class MbufPoolTest : public ::testing::TestWithParam<bool> {};

TEST_P(MbufPoolTest, ExhaustionAtMaxBytesIsACountedDrop) {
  MbufPool pool(config(2048, GetParam(), 8 * 2048));
  std::vector<Mbuf> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(Mbuf::alloc(pool, 100));
    ASSERT_TRUE(held.back()) << i;
  }
  EXPECT_FALSE(Mbuf::alloc(pool, 100));
  EXPECT_EQ(pool.stats().alloc_failures, 1u);
  EXPECT_EQ(pool.stats().clusters_total, 8u);
  EXPECT_EQ(pool.stats().clusters_in_use, 8u);
  EXPECT_EQ(pool.stats().mbufs_in_use, 8u);  // the failed one gave its header back

  // Every operation needing a cluster fails cleanly, leaving the packet as it was.
  Mbuf& m = held.front();
  const auto before = m.to_vector();
  EXPECT_TRUE(m.prepend(1).empty());
  EXPECT_FALSE(m.append(pattern(3000)));
  Mbuf sh = m.share(0, 100);
  EXPECT_FALSE(sh.copy_in(0, pattern(4)));
  EXPECT_EQ(m.to_vector(), before);
  EXPECT_EQ(sh.to_vector(), before);
  EXPECT_FALSE(Mbuf::copy_from(pool, pattern(5000)));
  EXPECT_EQ(pool.stats().alloc_failures, 5u);

  held.clear();
  sh.reset();
  expect_idle(pool);
  // Freed clusters are reused; the pool does not grow past its ceiling.
  for (int i = 0; i < 8; ++i) {
    held.push_back(Mbuf::alloc(pool, 2048));
    ASSERT_TRUE(held.back()) << i;
  }
  EXPECT_EQ(pool.stats().clusters_total, 8u);
  held.clear();
  expect_idle(pool);
  EXPECT_EQ(pool.stats().bytes_reserved % 4096, 0u);
  EXPECT_GE(pool.stats().bytes_reserved, 8u * 2048);
}

TEST_P(MbufPoolTest, CacheHitsOnlyWithTheCacheOn) {
  MbufPool pool(config(2048, GetParam()));
  for (int i = 0; i < 100; ++i) {
    Mbuf m = Mbuf::alloc(pool, 10);
    ASSERT_TRUE(m);
  }
  const PoolStats s = pool.stats();
  if (GetParam()) {
    EXPECT_GE(s.cache_hits, 150u);  // all but the first refills, header and cluster
  } else {
    EXPECT_EQ(s.cache_hits, 0u);
  }
  expect_idle(pool);
  pool.flush_thread_cache();
  expect_idle(pool);
}

INSTANTIATE_TEST_SUITE_P(Cache, MbufPoolTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "on" : "off"; });

TEST(MbufPool, ChunksComeFromChunkAllocInPageMultiples) {
  struct Counts {
    int allocs = 0, frees = 0;
    size_t bytes = 0;
  } counts;
  {
    PoolConfig c = config(16384, true, 1u << 20);
    c.pagesize = 8192;
    c.chunk_alloc = [&](size_t n) {
      ++counts.allocs;
      counts.bytes += n;
      EXPECT_EQ(n % 8192, 0u);
      return ::operator new (n, std::align_val_t{8192});
    };
    c.chunk_free = [&](void* p, size_t) {
      ++counts.frees;
      ::operator delete (p, std::align_val_t{8192});
    };
    MbufPool pool(std::move(c));
    {
      Mbuf m = Mbuf::alloc(pool, 9000, 100);  // a jumbo frame: one cluster
      ASSERT_TRUE(m);
      EXPECT_EQ(m.segments().size(), 1u);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(m.segments()[0].data() - 100) % 8192, 0u);
    }
    EXPECT_EQ(pool.stats().bytes_reserved, counts.bytes);
    EXPECT_GE(counts.allocs, 1);
  }
  EXPECT_EQ(counts.frees, counts.allocs);
}

// --- a random walk against a plain vector ----------------------------------

TEST(MbufModel, RandomOperationsMatchAVector) {
  for (size_t mcl : {256u, 2048u}) {
    MbufPool pool(config(mcl, true, 4u << 20));
    Random rng(mcl);
    {
      std::vector<std::byte> model = pattern(300);
      Mbuf m = Mbuf::copy_from(pool, model, 64);
      // Shares kept alive, with the bytes they must keep, to force
      // copy-on-write in m.
      std::vector<std::pair<Mbuf, std::vector<std::byte>>> retained;
      uint8_t stamp = 0;
      for (int step = 0; step < 3000; ++step) {
        const uint32_t op = rng.uniform(9);
        const size_t len = m.len();
        ++stamp;
        if (op == 0) {
          const size_t n = rng.uniform(static_cast<uint32_t>(mcl / 2)) + 1;
          auto s = m.prepend(n);
          ASSERT_EQ(s.size(), n);
          std::fill(s.begin(), s.end(), std::byte{stamp});
          model.insert(model.begin(), n, std::byte{stamp});
        } else if (op == 1) {
          auto more = pattern(rng.uniform(static_cast<uint32_t>(mcl + 50)), stamp);
          ASSERT_TRUE(m.append(more));
          model.insert(model.end(), more.begin(), more.end());
        } else if (op == 2 && len > 0) {
          const size_t n = rng.uniform(static_cast<uint32_t>(std::min(len, mcl)) + 1);
          m.trim_front(n);
          model.erase(model.begin(), model.begin() + static_cast<ptrdiff_t>(n));
        } else if (op == 3 && len > 0) {
          const size_t n = rng.uniform(static_cast<uint32_t>(std::min(len, mcl)) + 1);
          m.trim_back(n);
          model.resize(model.size() - n);
        } else if (op == 4 && len > 0) {
          const size_t n = rng.uniform(static_cast<uint32_t>(std::min(len, mcl))) + 1;
          auto s = m.pullup(n);
          ASSERT_EQ(s.size(), n);
          ASSERT_TRUE(std::equal(s.begin(), s.end(), model.begin()));
          s[0] = std::byte{stamp};  // the span is the packet's own, writable
          model[0] = std::byte{stamp};
        } else if (op == 5 && len > 0) {
          const size_t off = rng.uniform(static_cast<uint32_t>(len));
          const size_t n = rng.uniform(static_cast<uint32_t>(len - off)) + 1;
          auto in = pattern(n, stamp);
          ASSERT_TRUE(m.copy_in(off, in));
          std::copy(in.begin(), in.end(), model.begin() + static_cast<ptrdiff_t>(off));
        } else if (op == 6 && len > 0) {
          const size_t off = rng.uniform(static_cast<uint32_t>(len));
          const size_t n = rng.uniform(static_cast<uint32_t>(len - off)) + 1;
          retained.emplace_back(
              m.share(off, n),
              std::vector<std::byte>(model.begin() + static_cast<ptrdiff_t>(off),
                                     model.begin() + static_cast<ptrdiff_t>(off + n)));
          ASSERT_TRUE(retained.back().first);
          if (retained.size() > 6) {
            retained.erase(retained.begin());
          }
        } else if (op == 7 && len > 0) {
          // Concatenate a share of itself: one cluster twice in one chain.
          const size_t off = rng.uniform(static_cast<uint32_t>(len));
          const size_t n = std::min<size_t>(rng.uniform(200) + 1, len - off);
          m.concat(m.share(off, n));
          std::vector<std::byte> piece(model.begin() + static_cast<ptrdiff_t>(off),
                                       model.begin() + static_cast<ptrdiff_t>(off + n));
          model.insert(model.end(), piece.begin(), piece.end());
        } else if (op == 8 && len > 4 * mcl) {
          m.trim_back(len - 2 * mcl);  // keep the walk's length bounded
          model.resize(2 * mcl);
        }
        ASSERT_EQ(m.len(), model.size()) << "step " << step << " op " << op;
        if (step % 16 == 0) {
          ASSERT_EQ(m.to_vector(), model) << "step " << step << " op " << op;
        }
        // Retained shares keep their own bytes whatever m does.
        if (step % 16 == 0) {
          for (const auto& [r, bytes] : retained) {
            ASSERT_EQ(r.to_vector(), bytes) << "step " << step;
          }
        }
      }
      ASSERT_EQ(m.to_vector(), model);
    }
    expect_idle(pool);
  }
}

TEST(MbufModel, SharesAreImmutableUnderWritesToTheOriginal) {
  MbufPool pool(config(256, true));
  const auto bytes = pattern(1000);
  Mbuf m = Mbuf::copy_from(pool, bytes, 32);
  std::vector<std::pair<size_t, Mbuf>> shares;
  for (size_t off = 0; off < 1000; off += 97) {
    shares.emplace_back(off, m.share(off, std::min<size_t>(150, 1000 - off)));
  }
  ASSERT_TRUE(m.copy_in(0, std::vector<std::byte>(1000, std::byte{0})));
  m.trim_front(10);
  ASSERT_FALSE(m.prepend(10).empty());
  ASSERT_FALSE(m.pullup(200).empty());
  ASSERT_TRUE(m.append(pattern(500)));
  for (auto& [off, s] : shares) {
    auto v = s.to_vector();
    EXPECT_TRUE(std::equal(v.begin(), v.end(), bytes.begin() + static_cast<ptrdiff_t>(off))) << off;
  }
}

// --- threads -----------------------------------------------------------------

// Two threads allocate and free on one pool at the same time, and hand
// packets (and shares of them) to each other, so that clusters allocated in
// one thread's cache are freed into the other's.
void run_two_threads(bool cache) {
  MbufPool pool(config(2048, cache, 2u << 20));
  std::mutex mu;
  std::deque<Mbuf> to_b;
  std::atomic<bool> a_done{false};
  std::atomic<int> bad{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);

  auto churn = [&](uint64_t seed) {
    Random r(seed);
    for (int i = 0; i < 3000 && std::chrono::steady_clock::now() < deadline; ++i) {
      const auto bytes = pattern(r.uniform(5000) + 1, static_cast<uint8_t>(seed));
      Mbuf m = Mbuf::copy_from(pool, bytes, 64);
      if (!m) {
        continue;  // the pool may be momentarily exhausted: a drop
      }
      Mbuf s = m.share(0, bytes.size() / 2);
      if (m.to_vector() != bytes || !s) {
        bad.fetch_add(1);
      }
      if (i % 3 == 0) {
        std::lock_guard lock(mu);
        if (to_b.size() < 64) {
          to_b.push_back(std::move(s));
        }
      }
    }
  };
  std::thread a([&] {
    churn(1);
    a_done = true;
  });
  std::thread b([&] {
    for (int round = 0; round < 1000000; ++round) {
      std::deque<Mbuf> got;
      {
        std::lock_guard lock(mu);
        got.swap(to_b);
      }
      got.clear();  // frees what thread a allocated
      churn(2);
      if (a_done && round > 0) {
        std::lock_guard lock(mu);
        to_b.clear();
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        break;
      }
    }
  });
  a.join();
  b.join();
  EXPECT_EQ(bad.load(), 0);
  expect_idle(pool);
  EXPECT_LE(pool.stats().clusters_total * 2048, 2u << 20);
}

TEST(MbufThreads, TwoThreadsWithCaches) { run_two_threads(true); }
TEST(MbufThreads, TwoThreadsWithoutCaches) { run_two_threads(false); }

// A thread that has a cache for a pool outlives that pool, then uses a new
// one and exits: the dead entry must be dropped without being followed.
TEST(MbufThreads, ThreadOutlivesAPool) {
  std::mutex mu;
  std::condition_variable cv;
  int phase = 0;  // 0: thread uses pool 1; 1: pool 1 gone; 2: thread done with pool 2
  auto pool1 = std::make_unique<MbufPool>(config(2048, true));
  MbufPool pool2(config(2048, true));
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) {
      Mbuf m = Mbuf::alloc(*pool1, 3000);
      ASSERT_TRUE(m);
    }
    std::unique_lock lock(mu);
    phase = 1;
    cv.notify_all();
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return phase == 2; }));
    lock.unlock();
    for (int i = 0; i < 50; ++i) {
      Mbuf m = Mbuf::alloc(pool2, 3000);
      ASSERT_TRUE(m);
    }
    // Exits holding cached objects of pool2: given back on thread exit.
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return phase == 1; }));
    pool1.reset();  // the thread still has a cache entry for it
    phase = 2;
    cv.notify_all();
  }
  t.join();
  expect_idle(pool2);
  // What the exited thread cached went back to the global lists: this
  // thread can allocate every cluster the pool carved.
  const uint64_t carved = pool2.stats().clusters_total;
  ASSERT_GT(carved, 0u);
  std::vector<Mbuf> all;
  for (uint64_t i = 0; i < carved; ++i) {
    all.push_back(Mbuf::alloc(pool2, 2048));
    ASSERT_TRUE(all.back());
  }
  EXPECT_EQ(pool2.stats().clusters_total, carved);
}

}  // namespace
}  // namespace iopkt
