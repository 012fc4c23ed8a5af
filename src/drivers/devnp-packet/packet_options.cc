// devnp-packet/packet_options.cc — parsing of devnp-packet's own options.
#include "drivers/devnp-packet/packet_options.hh"

#include <net/if.h>

#include <charconv>
#include <system_error>

namespace iopkt::packet {
namespace {

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

// BYTES with an optional k/K (KiB) or M (MiB): a power of two in range.
bool parse_block_size(std::string_view s, uint32_t* out) {
  uint64_t scale = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) {
    scale = 1024;
    s.remove_suffix(1);
  } else if (!s.empty() && s.back() == 'M') {
    scale = 1024 * 1024;
    s.remove_suffix(1);
  }
  uint64_t v = 0;
  if (!parse_u64(s, &v) || v > kMaxBlockSize) {
    return false;
  }
  v *= scale;
  if (v < kMinBlockSize || v > kMaxBlockSize || (v & (v - 1)) != 0) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

bool parse_range(std::string_view s, uint32_t lo, uint32_t hi, uint32_t* out) {
  uint64_t v = 0;
  if (!parse_u64(s, &v) || v < lo || v > hi) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

// A Linux interface name: 1..15 bytes, no '/', ':' or white space
// (net/core/dev.c dev_valid_name()).
bool valid_ifname(std::string_view s) {
  if (s.empty() || s.size() >= IFNAMSIZ || s == "." || s == "..") {
    return false;
  }
  for (char c : s) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0') {
      return false;
    }
  }
  return true;
}

std::string bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  std::string m = "packet: bad value for ";
  m.append(key).append("= ('").append(value).append("'): expected ").append(expected);
  return m;
}

}  // namespace

bool parse_options(std::string_view text, Options* out, std::string* err) {
  Options o;
  bool have_if = false;
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
    if (key == "promisc" || key == "novnet") {
      if (has_value) {
        *err = "packet: option '" + std::string(key) + "' takes no value";
        return false;
      }
      if (key == "promisc") {
        o.promisc = true;
      } else {
        o.vnet_hdr = false;
      }
      continue;
    }
    if (!has_value) {
      *err = "packet: option '" + std::string(item) + "' needs a value (NAME=VALUE)";
      return false;
    }
    bool ok = true;
    std::string_view expected;
    if (key == "if") {
      ok = valid_ifname(value);
      expected = "a Linux interface name, 1 to 15 bytes without '/', ':' or spaces";
      if (ok) {
        o.ifname = value;
        have_if = true;
      }
    } else if (key == "frames") {
      ok = parse_range(value, 2, kMaxRingBytes / kRingFrameSize, &o.frames);
      expected = "a number of 2 KiB ring frames, 2 to 524288";
    } else if (key == "blocksize") {
      ok = parse_block_size(value, &o.block_size);
      expected = "a power of two, 4k to 16M";
    } else if (key == "tov") {
      ok = parse_range(value, 1, kMaxTovMs, &o.tov_ms);
      expected = "milliseconds, 1 to 1000";
    } else {
      *err = "packet: unknown option '" + std::string(key) + "'";
      return false;
    }
    if (!ok) {
      *err = bad_value(key, value, expected);
      return false;
    }
  }
  if (!have_if) {
    *err = "packet: missing if=NAME (the Linux interface to attach to)";
    return false;
  }
  if (o.block_count() < kMinBlocks) {
    *err = "packet: frames=" + std::to_string(o.frames) + " makes fewer than " +
           std::to_string(kMinBlocks) + " blocks of " + std::to_string(o.block_size) +
           " bytes; raise frames= or lower blocksize=";
    return false;
  }
  *out = std::move(o);
  return true;
}

}  // namespace iopkt::packet
