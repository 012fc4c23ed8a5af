// devnp-tap/tap_options.cc — parsing of devnp-tap's own options. Numbers are
// parsed with std::from_chars (locale-independent, whole string or nothing).
#include "drivers/devnp-tap/tap_options.hh"

#include <charconv>
#include <system_error>

namespace iopkt::tap {
namespace {

bool parse_u32(std::string_view s, uint32_t lo, uint32_t hi, uint32_t* out) {
  if (s.empty()) {
    return false;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

std::string bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  std::string m = "tap: bad value for ";
  m.append(key).append("= ('").append(value).append("'): expected ").append(expected);
  return m;
}

}  // namespace

bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() > kMaxIfname || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    // The kernel's dev_valid_name() refuses '/', ':' and whitespace; control
    // characters and non-ASCII bytes are refused here too, as they only make
    // names no tool can type.
    if (u <= 0x20 || u >= 0x7f || c == '/' || c == ':') {
      return false;
    }
  }
  return true;
}

bool parse_options(std::string_view text, Options* out, std::string* err) {
  Options o;
  bool have_ifname = false;
  bool have_fd = false;
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
    bool is_flag = key == "persist" || key == "vnet_hdr" || key == "up";
    bool is_valued = key == "ifname" || key == "fd" || key == "qlen";
    if (!is_flag && !is_valued) {
      *err = "tap: unknown option '" + std::string(key) + "'";
      return false;
    }
    if (is_flag && has_value) {
      *err = "tap: option '" + std::string(key) + "' takes no value";
      return false;
    }
    if (is_valued && !has_value) {
      *err = "tap: option '" + std::string(key) + "' needs a value (" + std::string(key) + "=...)";
      return false;
    }
    if (key == "persist") {
      o.persist = true;
    } else if (key == "vnet_hdr") {
      o.vnet_hdr = true;
    } else if (key == "up") {
      o.up = true;
    } else if (key == "ifname") {
      if (!valid_ifname(value)) {
        *err = bad_value(key, value,
                         "a Linux interface name, 1 to 15 bytes without '/', ':' or spaces");
        return false;
      }
      o.ifname = value;
      have_ifname = true;
    } else if (key == "fd") {
      uint32_t fd = 0;
      if (!parse_u32(value, 0, 0x7fffffff, &fd)) {
        *err = bad_value(key, value, "a file descriptor number");
        return false;
      }
      o.fd = static_cast<int>(fd);
      have_fd = true;
    } else {  // qlen
      if (!parse_u32(value, kMinQlen, kMaxQlen, &o.qlen)) {
        *err = bad_value(key, value, "frames, 16 to 65536");
        return false;
      }
    }
  }
  if (have_ifname && have_fd) {
    *err = "tap: ifname= and fd= exclude each other";
    return false;
  }
  if (!have_ifname && !have_fd) {
    *err = "tap: missing ifname=NAME or fd=N";
    return false;
  }
  *out = std::move(o);
  return true;
}

}  // namespace iopkt::tap
