// devnp-vwire/vwire_options.cc — parsing of devnp-vwire's own options.
// Numbers are parsed with std::from_chars, so the result does not depend on
// the process locale (io-pkt may run with any LC_NUMERIC).
#include "drivers/devnp-vwire/vwire_options.hh"

#include <charconv>
#include <cmath>
#include <system_error>

namespace iopkt::vwire {
namespace {

// The whole of `s` must be a finite decimal number.
bool parse_double(std::string_view s, double* out) {
  if (s.empty()) {
    return false;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty()) {
    return false;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return false;
  }
  *out = v;
  return true;
}

bool strip_suffix(std::string_view* s, std::string_view suffix) {
  if (s->size() >= suffix.size() && s->substr(s->size() - suffix.size()) == suffix) {
    s->remove_suffix(suffix.size());
    return true;
  }
  return false;
}

// MS or MSms, 0..kMaxDelayMs.
bool parse_ms(std::string_view s, double* out) {
  strip_suffix(&s, "ms");
  double v = 0;
  if (!parse_double(s, &v) || v < 0 || v > kMaxDelayMs) {
    return false;
  }
  *out = v;
  return true;
}

// P or P%, 0..100.
bool parse_percent(std::string_view s, double* out) {
  strip_suffix(&s, "%");
  double v = 0;
  if (!parse_double(s, &v) || v < 0 || v > 100) {
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
  uint64_t v = 0;
  if (!parse_u64(s, &v) || v < kMinQlen || v > kMaxQlen || (v & (v - 1)) != 0) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

std::string bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  std::string m = "vwire: bad value for ";
  m.append(key).append("= ('").append(value).append("'): expected ").append(expected);
  return m;
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
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) {
      continue;
    }
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      *err = "vwire: option '" + std::string(item) + "' needs a value (NAME=VALUE)";
      return false;
    }
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    bool ok = true;
    std::string_view expected;
    if (key == "wire") {
      ok = valid_wire_name(value);
      expected = "1 to 64 of [A-Za-z0-9_.-]";
      if (ok) {
        o.wire = value;
        have_wire = true;
      }
    } else if (key == "delay") {
      ok = parse_ms(value, &o.delay_ms);
      expected = "milliseconds, 0 to 60000";
    } else if (key == "jitter") {
      ok = parse_ms(value, &o.jitter_ms);
      expected = "milliseconds, 0 to 60000";
    } else if (key == "loss") {
      ok = parse_percent(value, &o.loss_pct);
      expected = "a percentage, 0 to 100";
    } else if (key == "dup") {
      ok = parse_percent(value, &o.dup_pct);
      expected = "a percentage, 0 to 100";
    } else if (key == "reorder") {
      ok = parse_percent(value, &o.reorder_pct);
      expected = "a percentage, 0 to 100";
    } else if (key == "rate") {
      ok = parse_rate(value, &o.rate_bps);
      expected = "bits per second with k, M or G, 1k to 1000G";
    } else if (key == "seed") {
      ok = parse_u64(value, &o.seed);
      expected = "an unsigned decimal integer";
    } else if (key == "qlen") {
      ok = parse_qlen(value, &o.qlen);
      expected = "a power of two, 64 to 32768";
    } else {
      *err = "vwire: unknown option '" + std::string(key) + "'";
      return false;
    }
    if (!ok) {
      *err = bad_value(key, value, expected);
      return false;
    }
  }
  if (!have_wire) {
    *err = "vwire: missing wire=NAME";
    return false;
  }
  *out = std::move(o);
  return true;
}

}  // namespace iopkt::vwire
