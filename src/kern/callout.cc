// kern/callout.cc — the callout wheel (BSD callout(9)) on the core's virtual
// clock. Not a hashed timing wheel: an ordered map keyed (deadline, ticket),
// which gives deadline order with ties in arming order, O(log n) arm/stop and
// an exact next_deadline() for the manager's sleep.
//
// Lifetimes: the wheel points at armed Callouts, so a Callout must not move
// (it cannot) and stops itself when destroyed. When the wheel dies first, it
// marks every pending Callout stopped; such a Callout may afterwards only be
// stopped or destroyed (both leave the dead wheel alone) — arming it again
// is a use after free. Simplest for owners: destroy Callouts before their
// wheel.
#include "kern/callout.hh"

#include <algorithm>
#include <cassert>
#include <map>

namespace iopkt {

struct CalloutKey {
  Instant when;
  uint64_t ticket;
  friend auto operator<=>(const CalloutKey&, const CalloutKey&) = default;
};

struct CalloutWheel::Impl {
  std::map<CalloutKey, Callout*> armed;
  uint64_t next_ticket = 1;
  bool advancing = false;
};

CalloutWheel::~CalloutWheel() {
  if (impl_ == nullptr) {
    return;
  }
  for (auto& [key, c] : impl_->armed) {
    c->pending_ = false;
  }
  delete impl_;
}

CalloutWheel::Impl& CalloutWheel::impl() {
  if (impl_ == nullptr) {
    impl_ = new Impl;
  }
  return *impl_;
}

void CalloutWheel::advance(Instant now) {
  Impl& im = impl();
  if (im.advancing) {
    // From inside a handler: move the clock only; the running loop picks up
    // whatever became due.
    now_ = std::max(now_, now);
    return;
  }
  const Instant target = std::max(now_, now);
  struct Guard {
    bool& flag;
    ~Guard() { flag = false; }
  } guard{im.advancing};
  im.advancing = true;
  while (!im.armed.empty()) {
    auto it = im.armed.begin();
    if (it->first.when > target) {
      break;
    }
    Callout* c = it->second;
    im.armed.erase(it);
    c->pending_ = false;
    // The clock steps to each deadline as it fires, as if advance() had been
    // called exactly then: a periodic callout re-armed from its handler fires
    // as often over one long advance as over many short ones, so scenario
    // runs do not depend on how the driver slices time.
    now_ = std::max(now_, c->deadline_);
    // A copy, because the handler may destroy its own Callout (a connection
    // freed from its timer, as tcp_timers() may do via tcp_close()).
    std::function<void()> fn = c->fn_;
    if (fn) {
      fn();
    }
  }
  now_ = std::max(now_, target);
}

std::optional<Instant> CalloutWheel::next_deadline() const {
  if (impl_ == nullptr || impl_->armed.empty()) {
    return std::nullopt;
  }
  return impl_->armed.begin()->first.when;
}

size_t CalloutWheel::pending() const { return impl_ == nullptr ? 0 : impl_->armed.size(); }

void Callout::reset(Duration after) { reset_at(wheel_.now() + after); }

void Callout::reset_at(Instant when) {
  CalloutWheel::Impl& im = wheel_.impl();
  if (pending_) {
    im.armed.erase(CalloutKey{deadline_, ticket_});
  }
  deadline_ = when;
  ticket_ = im.next_ticket++;
  im.armed.emplace(CalloutKey{deadline_, ticket_}, this);
  pending_ = true;
}

void Callout::stop() {
  if (!pending_) {
    return;  // never touches the wheel: see the lifetime note above
  }
  const size_t erased = wheel_.impl_->armed.erase(CalloutKey{deadline_, ticket_});
  assert(erased == 1);
  (void)erased;
  pending_ = false;
}

}  // namespace iopkt
