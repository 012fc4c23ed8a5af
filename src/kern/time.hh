// kern/time.hh — the core's notion of time. The core never reads a clock:
// the manager (or a test) passes `Instant now` in. Instants count from an
// arbitrary origin chosen by whoever drives the core.
#pragma once

#include <chrono>
#include <cstdint>

namespace iopkt {

using Duration = std::chrono::nanoseconds;

struct Instant {
  Duration since_origin{0};

  friend auto operator<=>(const Instant&, const Instant&) = default;
  friend Instant operator+(Instant a, Duration d) { return Instant{a.since_origin + d}; }
  friend Instant operator-(Instant a, Duration d) { return Instant{a.since_origin - d}; }
  friend Duration operator-(Instant a, Instant b) { return a.since_origin - b.since_origin; }
  Instant& operator+=(Duration d) {
    since_origin += d;
    return *this;
  }
};

using namespace std::chrono_literals;  // NOLINT: 1s, 200ms read best in protocol code

}  // namespace iopkt
