// drivers/common/options.cc — the option walk and number parsers every
// devnp module shares; see options.hh.
#include "drivers/common/options.hh"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

namespace iopkt::drivers {
namespace {

const OptionRule* find_rule(std::span<const OptionRule> rules, std::string_view key) {
  for (const OptionRule& r : rules) {
    if (r.name == key) {
      return &r;
    }
  }
  return nullptr;
}

std::string option_msg(std::string_view driver, std::string_view what, std::string_view name,
                       std::string_view tail) {
  std::string m(driver);
  m.append(": ").append(what).append(" '").append(name).append("'").append(tail);
  return m;
}

// std::from_chars over the whole of s, or false.
template <typename T, typename Format>
bool from_chars_whole(std::string_view s, T* v, Format format) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v, format);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

bool parse_option_list(std::string_view text, const OptionStyle& style,
                       std::span<const OptionRule> rules, std::string* err) {
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) {
      continue;
    }
    size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    bool has_value = eq != std::string_view::npos;
    std::string_view value = has_value ? item.substr(eq + 1) : std::string_view();
    const OptionRule* rule = find_rule(rules, key);
    if (rule == nullptr && style.unknown_first) {
      *err = option_msg(style.driver, "unknown option", key, "");
      return false;
    }
    if (rule != nullptr && rule->flag) {
      if (has_value) {
        *err = option_msg(style.driver, "option", key, " takes no value");
        return false;
      }
      rule->set(std::string_view());
      continue;
    }
    if (!has_value) {
      std::string hint =
          style.value_hint.empty() ? std::string(key) + "=..." : std::string(style.value_hint);
      *err = option_msg(style.driver, "option", item, " needs a value (" + hint + ")");
      return false;
    }
    if (rule == nullptr) {
      *err = option_msg(style.driver, "unknown option", key, "");
      return false;
    }
    if (!rule->set(value)) {
      *err = bad_value(style.driver, key, value, rule->expected);
      return false;
    }
  }
  return true;
}

std::function<bool(std::string_view)> set_flag(bool* flag, bool value) {
  return [flag, value](std::string_view) {
    *flag = value;
    return true;
  };
}

std::function<bool(std::string_view)> store_name(bool (*valid)(std::string_view), std::string* to,
                                                 bool* given) {
  return [valid, to, given](std::string_view v) {
    if (!valid(v)) {
      return false;
    }
    *to = v;
    *given = true;
    return true;
  };
}

bool parse_u64(std::string_view s, uint64_t* out) {
  uint64_t v = 0;
  if (!from_chars_whole(s, &v, 10)) {
    return false;
  }
  *out = v;
  return true;
}

bool parse_u32_in(std::string_view s, uint32_t lo, uint32_t hi, uint32_t* out) {
  uint64_t v = 0;
  if (!parse_u64(s, &v) || v < lo || v > hi) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

bool parse_double(std::string_view s, double* out) {
  double v = 0;
  if (!from_chars_whole(s, &v, std::chars_format::fixed) || !std::isfinite(v)) {
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

bool parse_percent(std::string_view s, double* out) {
  strip_suffix(&s, "%");
  double v = 0;
  if (!parse_double(s, &v) || v < 0 || v > 100) {
    return false;
  }
  *out = v;
  return true;
}

bool parse_size(std::string_view s, uint64_t* out) {
  uint64_t scale = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) {
    scale = 1024;
    s.remove_suffix(1);
  } else if (!s.empty() && s.back() == 'M') {
    scale = 1024 * 1024;
    s.remove_suffix(1);
  }
  uint64_t v = 0;
  if (!parse_u64(s, &v) || v > std::numeric_limits<uint64_t>::max() / scale) {
    return false;
  }
  *out = v * scale;
  return true;
}

bool valid_linux_ifname(std::string_view name, bool printable_only) {
  if (name.empty() || name.size() > kMaxLinuxIfname || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    // dev_valid_name() refuses '/', ':' and isspace(); NUL ends a C string.
    if (c == '/' || c == ':' || c == '\0' || c == ' ' || (u >= '\t' && u <= '\r')) {
      return false;
    }
    if (printable_only && (u < 0x20 || u >= 0x7f)) {
      return false;
    }
  }
  return true;
}

std::string bad_value(std::string_view driver, std::string_view key, std::string_view value,
                      std::string_view expected) {
  std::string m(driver);
  m.append(": bad value for ").append(key).append("= ('").append(value);
  m.append("'): expected ").append(expected);
  return m;
}

std::string errno_msg(const std::string& what, int e) { return what + ": " + strerror(e); }

}  // namespace iopkt::drivers
