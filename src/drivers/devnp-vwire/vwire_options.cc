// devnp-vwire/vwire_options.cc — devnp-vwire's own options: the table, and
// the parsers only a link emulator needs (milliseconds, bit rates, ring
// sizes). The walk over the list, the number parsers and the wording of the
// refusals are shared with the other drivers: drivers/common/options.hh.
#include "drivers/devnp-vwire/vwire_options.hh"

#include <cmath>

#include "drivers/common/options.hh"

namespace iopkt::vwire {
namespace {

using drivers::parse_double;

// MS or MSms, 0..kMaxDelayMs.
bool parse_ms(std::string_view s, double* out) {
  drivers::strip_suffix(&s, "ms");
  double v = 0;
  if (!parse_double(s, &v) || v < 0 || v > kMaxDelayMs) {
    return false;
  }
  *out = v;
  return true;
}

// Bits per second with an optional k, M or G (powers of 1000, as tc uses for
// "kbit" and as link speeds are quoted).
bool parse_rate(std::string_view s, uint64_t* out) {
  double scale = 1;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k':
      case 'K':
        scale = 1e3;
        break;
      case 'M':
        scale = 1e6;
        break;
      case 'G':
        scale = 1e9;
        break;
      default:
        break;
    }
    if (scale != 1) {
      s.remove_suffix(1);
    }
  }
  double v = 0;
  if (!parse_double(s, &v)) {
    return false;
  }
  double bps = std::round(v * scale);
  if (bps < static_cast<double>(kMinRateBps) || bps > static_cast<double>(kMaxRateBps)) {
    return false;
  }
  *out = static_cast<uint64_t>(bps);
  return true;
}

bool parse_qlen(std::string_view s, uint32_t* out) {
  uint32_t v = 0;
  if (!drivers::parse_u32_in(s, kMinQlen, kMaxQlen, &v) || (v & (v - 1)) != 0) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool valid_wire_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxWireName) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool parse_options(std::string_view text, Options* out, std::string* err) {
  Options o;
  bool have_wire = false;
  constexpr std::string_view kMs = "milliseconds, 0 to 60000";
  constexpr std::string_view kPercent = "a percentage, 0 to 100";
  const drivers::OptionRule rules[] = {
      {"wire", false, "1 to 64 of [A-Za-z0-9_.-]",
       drivers::store_name(valid_wire_name, &o.wire, &have_wire)},
      {"delay", false, kMs, [&](std::string_view v) { return parse_ms(v, &o.delay_ms); }},
      {"jitter", false, kMs, [&](std::string_view v) { return parse_ms(v, &o.jitter_ms); }},
      {"loss", false, kPercent,
       [&](std::string_view v) { return drivers::parse_percent(v, &o.loss_pct); }},
      {"dup", false, kPercent,
       [&](std::string_view v) { return drivers::parse_percent(v, &o.dup_pct); }},
      {"reorder", false, kPercent,
       [&](std::string_view v) { return drivers::parse_percent(v, &o.reorder_pct); }},
      {"rate", false, "bits per second with k, M or G, 1k to 1000G",
       [&](std::string_view v) { return parse_rate(v, &o.rate_bps); }},
      {"seed", false, "an unsigned decimal integer",
       [&](std::string_view v) { return drivers::parse_u64(v, &o.seed); }},
      {"qlen", false, "a power of two, 64 to 32768",
       [&](std::string_view v) { return parse_qlen(v, &o.qlen); }},
  };
  if (!drivers::parse_option_list(text, {.driver = "vwire"}, rules, err)) {
    return false;
  }
  if (!have_wire) {
    *err = "vwire: missing wire=NAME";
    return false;
  }
  *out = std::move(o);
  return true;
}

}  // namespace iopkt::vwire
