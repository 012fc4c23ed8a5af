// devnp-tap/tap_options.cc — devnp-tap's own options: the table and the
// checks across options. The walk over the list, the number parsers, the
// interface-name rule and the wording of the refusals are shared with the
// other drivers: drivers/common/options.hh.
#include "drivers/devnp-tap/tap_options.hh"

#include "drivers/common/options.hh"

namespace iopkt::tap {

bool valid_ifname(std::string_view name) {
  // The kernel's rule, and no control characters or non-ASCII bytes either:
  // a TAP we create should have a name every tool can type.
  return drivers::valid_linux_ifname(name, /*printable_only=*/true);
}

bool parse_options(std::string_view text, Options* out, std::string* err) {
  Options o;
  bool have_ifname = false;
  bool have_fd = false;
  const drivers::OptionRule rules[] = {
      {"persist", true, "", drivers::set_flag(&o.persist)},
      {"vnet_hdr", true, "", drivers::set_flag(&o.vnet_hdr)},
      {"up", true, "", drivers::set_flag(&o.up)},
      {"ifname", false, "a Linux interface name, 1 to 15 bytes without '/', ':' or spaces",
       drivers::store_name(valid_ifname, &o.ifname, &have_ifname)},
      {"fd", false, "a file descriptor number",
       [&](std::string_view v) {
         uint32_t fd = 0;
         if (!drivers::parse_u32_in(v, 0, 0x7fffffff, &fd)) {
           return false;
         }
         o.fd = static_cast<int>(fd);
         have_fd = true;
         return true;
       }},
      {"qlen", false, "frames, 16 to 65536",
       [&](std::string_view v) { return drivers::parse_u32_in(v, kMinQlen, kMaxQlen, &o.qlen); }},
  };
  const drivers::OptionStyle style = {.driver = "tap", .unknown_first = true, .value_hint = ""};
  if (!drivers::parse_option_list(text, style, rules, err)) {
    return false;
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
