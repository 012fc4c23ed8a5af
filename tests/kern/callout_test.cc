// tests/kern/callout_test.cc — the callout wheel on a virtual clock: order,
// ties, arming and stopping from handlers, next_deadline and lifetimes.
#include "kern/callout.hh"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace iopkt {
namespace {

Instant at(Duration d) { return Instant{d}; }

TEST(Callout, RunsDueCalloutsInDeadlineOrder) {
  CalloutWheel w;
  std::string trace;
  Callout a(w, [&] { trace += 'a'; });
  Callout b(w, [&] { trace += 'b'; });
  Callout c(w, [&] { trace += 'c'; });
  c.reset(30ms);
  a.reset(10ms);
  b.reset(20ms);
  EXPECT_EQ(w.pending(), 3u);
  EXPECT_EQ(w.next_deadline(), at(10ms));
  w.advance(at(5ms));
  EXPECT_EQ(trace, "");
  w.advance(at(20ms));  // deadline == now is due
  EXPECT_EQ(trace, "ab");
  EXPECT_FALSE(a.pending());
  EXPECT_TRUE(c.pending());
  EXPECT_EQ(w.next_deadline(), at(30ms));
  w.advance(at(100ms));
  EXPECT_EQ(trace, "abc");
  EXPECT_EQ(w.next_deadline(), std::nullopt);
  EXPECT_EQ(w.pending(), 0u);
  EXPECT_EQ(w.now(), at(100ms));
}

TEST(Callout, TiesRunInArmingOrderAndRearmingMovesToTheBack) {
  CalloutWheel w;
  std::string trace;
  Callout a(w, [&] { trace += 'a'; });
  Callout b(w, [&] { trace += 'b'; });
  Callout c(w, [&] { trace += 'c'; });
  a.reset_at(at(5ms));
  b.reset_at(at(5ms));
  c.reset_at(at(5ms));
  a.reset_at(at(5ms));  // re-armed: now the last of the three
  w.advance(at(5ms));
  EXPECT_EQ(trace, "bca");
}

TEST(Callout, ClockIsMonotoneAndStepsToEachDeadline) {
  CalloutWheel w;
  std::vector<Instant> seen;
  Callout tick(w);
  tick.set_handler([&] {
    seen.push_back(w.now());
    if (seen.size() < 5) {
      tick.reset(10ms);  // periodic, re-armed from its own handler
    }
  });
  tick.reset(10ms);
  w.advance(at(1s));  // one long advance fires it as often as short ones
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0], at(10ms));
  EXPECT_EQ(seen[4], at(50ms));
  EXPECT_EQ(w.now(), at(1s));
  w.advance(at(500ms));  // earlier: ignored
  EXPECT_EQ(w.now(), at(1s));
}

TEST(Callout, HandlerArmsAnotherThatIsAlreadyDue) {
  CalloutWheel w;
  std::string trace;
  Callout later(w, [&] { trace += 'L'; });
  Callout b(w, [&] { trace += 'b'; });
  Callout a(w, [&] {
    trace += 'a';
    b.reset(0ms);     // due now: runs in this advance
    later.reset(1h);  // not due
  });
  a.reset(10ms);
  w.advance(at(20ms));
  EXPECT_EQ(trace, "ab");
  EXPECT_TRUE(later.pending());
  EXPECT_EQ(later.deadline(), at(10ms + 1h));
}

TEST(Callout, HandlerStopsItselfAndOthers) {
  CalloutWheel w;
  std::string trace;
  Callout b(w, [&] { trace += 'b'; });
  Callout c(w, [&] { trace += 'c'; });
  Callout a(w);
  a.set_handler([&] {
    trace += 'a';
    a.reset(1ms);
    a.stop();  // re-armed then stopped: must not run again
    b.stop();  // due in the same advance: must not run
  });
  a.reset_at(at(1ms));
  b.reset_at(at(2ms));
  c.reset_at(at(3ms));
  w.advance(at(10ms));
  EXPECT_EQ(trace, "ac");
  EXPECT_EQ(w.pending(), 0u);
}

TEST(Callout, StopAndResetOutsideHandlers) {
  CalloutWheel w;
  int runs = 0;
  Callout a(w, [&] { ++runs; });
  a.stop();  // not armed: harmless
  a.reset(10ms);
  a.reset(30ms);  // re-arm replaces, never duplicates
  EXPECT_EQ(w.pending(), 1u);
  EXPECT_EQ(a.deadline(), at(30ms));
  w.advance(at(20ms));
  EXPECT_EQ(runs, 0);
  a.stop();
  EXPECT_FALSE(a.pending());
  w.advance(at(40ms));
  EXPECT_EQ(runs, 0);
  a.reset(-5ms);  // already past: runs on the next advance
  w.advance(w.now());
  EXPECT_EQ(runs, 1);
}

TEST(Callout, DestroyingACalloutStopsIt) {
  CalloutWheel w;
  int runs = 0;
  {
    Callout a(w, [&] { ++runs; });
    a.reset(1ms);
    EXPECT_EQ(w.pending(), 1u);
  }
  EXPECT_EQ(w.pending(), 0u);
  w.advance(at(1s));
  EXPECT_EQ(runs, 0);
}

TEST(Callout, HandlerMayDestroyItsOwnCallout) {
  CalloutWheel w;
  int runs = 0;
  auto owner = std::make_unique<Callout>(w);
  Callout other(w, [&] { ++runs; });
  owner->set_handler([&] {
    ++runs;
    owner.reset();  // like tcp_close() freeing the tcpcb from its timer
  });
  owner->reset(1ms);
  other.reset(2ms);
  w.advance(at(5ms));
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(owner, nullptr);
}

TEST(Callout, WheelDestroyedFirstLeavesCalloutsStopped) {
  auto w = std::make_unique<CalloutWheel>();
  int runs = 0;
  Callout a(*w, [&] { ++runs; });
  a.reset(1ms);
  w.reset();  // pending callouts are forgotten, not run
  EXPECT_FALSE(a.pending());
  a.stop();  // and stopping (or destroying) them later leaves the dead wheel alone
  EXPECT_EQ(runs, 0);
}

TEST(Callout, ManyCalloutsFireInSortedOrder) {
  CalloutWheel w;
  std::vector<int> fired;
  std::vector<std::unique_ptr<Callout>> cs;
  for (int i = 0; i < 200; ++i) {
    cs.push_back(std::make_unique<Callout>(w, [&fired, i] { fired.push_back(i); }));
    // Deadlines in a scrambled order: (i * 37) % 200 ms.
    cs.back()->reset(std::chrono::milliseconds((i * 37) % 200));
  }
  w.advance(at(1s));
  ASSERT_EQ(fired.size(), 200u);
  for (size_t k = 1; k < fired.size(); ++k) {
    EXPECT_LT((fired[k - 1] * 37) % 200, (fired[k] * 37) % 200);
  }
}

}  // namespace
}  // namespace iopkt
