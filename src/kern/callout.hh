// kern/callout.hh — timers on the core's virtual clock (BSD callout(9)).
// The core never reads a clock: `CalloutWheel::advance(now)` runs every
// callout whose deadline is <= now, in deadline order (ties in the order they
// were armed), and `next_deadline()` tells the manager (or a test) when to
// call again.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "kern/time.hh"

namespace iopkt {

class Callout;

class CalloutWheel {
 public:
  CalloutWheel() = default;
  ~CalloutWheel();  // pending callouts are stopped, not run
  CalloutWheel(const CalloutWheel&) = delete;
  CalloutWheel& operator=(const CalloutWheel&) = delete;

  Instant now() const { return now_; }
  // Set the clock to `now` (monotone: an earlier value is ignored) and run
  // what is due. A handler may arm or stop any callout, itself included;
  // one armed for <= now during advance runs in the same call. While a
  // handler runs, now() is its callout's deadline: the clock steps through
  // the deadlines, so one long advance fires a periodic callout as often as
  // many short ones would. A nested advance() from a handler only moves the
  // clock.
  void advance(Instant now);
  std::optional<Instant> next_deadline() const;
  size_t pending() const;

  struct Impl;

 private:
  friend class Callout;
  Instant now_{};
  Impl* impl_ = nullptr;  // created on first use
  Impl& impl();
};

// A timer that can be armed, re-armed and stopped; stopping is implied by
// destruction. Not copyable or movable (the wheel points at it). A handler
// may destroy its own Callout. Destroy Callouts before their wheel; one that
// outlives it is stopped and may then only be stopped or destroyed.
class Callout {
 public:
  explicit Callout(CalloutWheel& wheel) : wheel_(wheel) {}
  Callout(CalloutWheel& wheel, std::function<void()> fn) : wheel_(wheel), fn_(std::move(fn)) {}
  ~Callout() { stop(); }
  Callout(const Callout&) = delete;
  Callout& operator=(const Callout&) = delete;

  void set_handler(std::function<void()> fn) { fn_ = std::move(fn); }
  // Arm (or re-arm) to fire `after` from the wheel's now.
  void reset(Duration after);
  void reset_at(Instant when);
  void stop();
  bool pending() const { return pending_; }
  Instant deadline() const { return deadline_; }

 private:
  friend class CalloutWheel;
  CalloutWheel& wheel_;
  std::function<void()> fn_;
  Instant deadline_{};
  uint64_t ticket_ = 0;  // order among equal deadlines; identifies the arming
  bool pending_ = false;
};

// One callout for many expiring entries (reassembly queues): `timer` (if
// made yet) is armed for the earliest `expire` among `entries`' values, or
// stopped when there are none. Re-armed only when that changed.
template <class Map>
void callout_arm_earliest(Callout* timer, const Map& entries) {
  if (timer == nullptr) {
    return;
  }
  if (entries.empty()) {
    timer->stop();
    return;
  }
  Instant first = entries.begin()->second.expire;
  for (const auto& [key, e] : entries) {
    first = e.expire < first ? e.expire : first;
  }
  if (!timer->pending() || timer->deadline() != first) {
    timer->reset_at(first);
  }
}

}  // namespace iopkt
