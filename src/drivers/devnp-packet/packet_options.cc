// devnp-packet/packet_options.cc — devnp-packet's own options: the table
// and the ring's geometry checks. The walk over the list, the number
// parsers, the interface-name rule and the wording of the refusals are
// shared with the other drivers: drivers/common/options.hh.
#include "drivers/devnp-packet/packet_options.hh"

#include "drivers/common/options.hh"

namespace iopkt::packet {
namespace {

// BYTES with an optional k/K (KiB) or M (MiB): a power of two in range.
bool parse_block_size(std::string_view s, uint32_t* out) {
  uint64_t v = 0;
  if (!drivers::parse_size(s, &v) || v < kMinBlockSize || v > kMaxBlockSize || (v & (v - 1)) != 0) {
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

bool parse_options(std::string_view text, Options* out, std::string* err) {
  Options o;
  bool have_if = false;
  const drivers::OptionRule rules[] = {
      {"promisc", true, "", drivers::set_flag(&o.promisc)},
      {"novnet", true, "", drivers::set_flag(&o.vnet_hdr, false)},
      // An interface that exists: the kernel's naming rule, no stricter.
      {"if", false, "a Linux interface name, 1 to 15 bytes without '/', ':' or spaces",
       drivers::store_name([](std::string_view v) { return drivers::valid_linux_ifname(v); },
                           &o.ifname, &have_if)},
      {"frames", false, "a number of 2 KiB ring frames, 2 to 524288",
       [&](std::string_view v) {
         return drivers::parse_u32_in(v, 2, kMaxRingBytes / kRingFrameSize, &o.frames);
       }},
      {"blocksize", false, "a power of two, 4k to 16M",
       [&](std::string_view v) { return parse_block_size(v, &o.block_size); }},
      {"tov", false, "milliseconds, 1 to 1000",
       [&](std::string_view v) { return drivers::parse_u32_in(v, 1, kMaxTovMs, &o.tov_ms); }},
  };
  if (!drivers::parse_option_list(text, {.driver = "packet"}, rules, err)) {
    return false;
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
