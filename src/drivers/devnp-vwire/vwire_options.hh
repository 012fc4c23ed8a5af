// devnp-vwire/vwire_options.hh — the options devnp-vwire parses itself
// (the stack has already taken name=, unit=, mac=, mtu=). See vwire.cc for
// what each one does to the link; the parsing machinery is
// drivers/common/options.hh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iopkt::vwire {

inline constexpr size_t kMaxWireName = 64;
// Ring slots per direction: qlen= must be a power of two in this range. The
// minimum leaves room for a largest frame (33 slots of 2 KiB).
inline constexpr uint32_t kDefaultQlen = 1024;
inline constexpr uint32_t kMinQlen = 64;
inline constexpr uint32_t kMaxQlen = 32768;
// Bounds that keep an emulated link sane; beyond them a typo is likelier.
inline constexpr double kMaxDelayMs = 60000.0;
inline constexpr uint64_t kMinRateBps = 1000;
inline constexpr uint64_t kMaxRateBps = 1000000000000ull;
// seed= default: fixed, so that two runs with the same options and the same
// frames make the same loss/dup/reorder/jitter decisions.
inline constexpr uint64_t kDefaultSeed = 1;

struct Options {
  std::string wire;        // wire=NAME, [A-Za-z0-9_.-]{1,64}, required
  double delay_ms = 0;     // delay=MS
  double jitter_ms = 0;    // jitter=MS, uniform in [-jitter, +jitter]
  double loss_pct = 0;     // loss=P or loss=P%
  double dup_pct = 0;      // dup=P
  double reorder_pct = 0;  // reorder=P
  uint64_t rate_bps = 0;   // rate=R[k|M|G], 0: unlimited
  uint64_t seed = kDefaultSeed;
  uint32_t qlen = 0;  // 0: the wire's (kDefaultQlen when creating it)

  // True when frames must wait in the sender's time-ordered queue.
  bool shapes_time() const {
    return delay_ms > 0 || jitter_ms > 0 || rate_bps > 0 || reorder_pct > 0;
  }
};

// Parses a comma-separated list ("wire=a,delay=0.5,loss=1%"). Empty items
// are skipped; a later duplicate replaces an earlier one. Returns false and
// sets *err to a message naming the offending option when an option is
// unknown or malformed, or when wire= is missing.
bool parse_options(std::string_view text, Options* out, std::string* err);

// True when `name` is a valid wire name.
bool valid_wire_name(std::string_view name);

}  // namespace iopkt::vwire
