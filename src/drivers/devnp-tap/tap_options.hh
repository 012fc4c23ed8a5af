// devnp-tap/tap_options.hh — the options devnp-tap parses itself (the stack
// has already taken name=, unit=, mac=, mtu=). See tap.cc for what each one
// does to the Linux side; the parsing machinery is drivers/common/options.hh.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iopkt::tap {

// qlen= sets the TAP's txqueuelen (frames the kernel queues for us). Linux
// defaults to 1000; the bounds keep a typo from allocating a huge ring.
inline constexpr uint32_t kMinQlen = 16;
inline constexpr uint32_t kMaxQlen = 65536;

struct Options {
  std::string ifname;     // ifname=NAME: attach or create this TAP
  int fd = -1;            // fd=N: an inherited, attached TAP fd
  bool persist = false;   // leave a TAP we created behind at detach
  bool vnet_hdr = false;  // exchange struct virtio_net_hdr with the kernel
  bool up = false;        // set IFF_UP on the Linux side
  uint32_t qlen = 0;      // 0: leave the TAP's txqueuelen alone
};

// Parses a comma-separated list ("ifname=tap0,up,qlen=500"). Empty items are
// skipped; a later duplicate replaces an earlier one. Returns false and sets
// *err to a message naming the offending option when an option is unknown or
// malformed, when neither or both of ifname= and fd= are given.
bool parse_options(std::string_view text, Options* out, std::string* err);

// True when `name` can name a Linux interface: 1..15 bytes, no '/', ':',
// whitespace or control characters, not "." or "..". A "%d" in it lets the
// kernel pick the number (TUNSETIFF's template).
bool valid_ifname(std::string_view name);

}  // namespace iopkt::tap
