// drivers/common/options.hh — what every devnp module's option parser
// shares: walking the comma-separated list the stack hands to attach()
// (after taking the generic name=, unit=, mac=, mtu=), the number parsers
// (whole string or nothing, std::from_chars so that the process locale
// never matters: io-pkt may run with any LC_NUMERIC), and the wording of
// the refusals, so that every driver names the offending option the same
// way ("DRIVER: bad value for KEY= ('VALUE'): expected ...").
//
// Each driver keeps its own table of options (devnp-*/NAME_options.cc);
// the checks across options (a required one missing, two that exclude each
// other) stay there too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace iopkt::drivers {

// One option a driver accepts.
struct OptionRule {
  std::string_view name;
  // A flag is given as NAME alone; NAME=VALUE is refused ("takes no value").
  // Any other option must be NAME=VALUE.
  bool flag = false;
  // What a valid value looks like, for the bad-value message.
  std::string_view expected;
  // Parses and stores the value ("" for a flag); false when it is malformed.
  std::function<bool(std::string_view value)> set;
};

// How a driver words two of its refusals; both forms are kept because the
// drivers' messages are part of their behaviour (tests and users read them).
struct OptionStyle {
  std::string_view driver;  // "vwire", "tap", "packet": every message starts "DRIVER: "
  // An option without '=' that is not a known flag: true when "unknown
  // option" takes precedence over "needs a value".
  bool unknown_first = false;
  // The hint in "option 'KEY' needs a value (HINT)": empty for "KEY=...".
  std::string_view value_hint = "NAME=VALUE";
};

// Parses `text` ("a=1,,b,c=x"): empty items are skipped, a later duplicate
// replaces an earlier one (rule.set is called again), and the first item
// that is unknown, has a value it must not have, lacks one it needs, or is
// refused by its rule stops the walk: false, with a message naming the
// option in *err.
bool parse_option_list(std::string_view text, const OptionStyle& style,
                       std::span<const OptionRule> rules, std::string* err);

// The whole of `s` is an unsigned decimal integer (no sign, no spaces).
bool parse_u64(std::string_view s, uint64_t* out);
// The same, within [lo, hi].
bool parse_u32_in(std::string_view s, uint32_t lo, uint32_t hi, uint32_t* out);
// The whole of `s` is a finite decimal number without exponent ("0.5", "12").
bool parse_double(std::string_view s, double* out);
// P or P%, a percentage from 0 to 100.
bool parse_percent(std::string_view s, double* out);
// Rule bodies for the common cases: a flag that stores `value`, and a name
// that is stored (and marked given) when valid(name) holds.
std::function<bool(std::string_view)> set_flag(bool* flag, bool value = true);
std::function<bool(std::string_view)> store_name(bool (*valid)(std::string_view), std::string* to,
                                                 bool* given);

// BYTES with an optional k/K (KiB) or M (MiB) suffix; false on overflow.
// The caller checks the range.
bool parse_size(std::string_view s, uint64_t* out);
// Removes `suffix` from the end of *s when it is there; says whether it was.
bool strip_suffix(std::string_view* s, std::string_view suffix);

// True when `name` can name a Linux network interface, as the kernel's
// dev_valid_name() (net/core/dev.c) decides: 1 to IFNAMSIZ - 1 = 15 bytes,
// not "." or "..", no '/', ':' or white space. With `printable_only`, also
// no control characters and no bytes outside ASCII (names only a program
// could type; for a driver that creates the interface).
bool valid_linux_ifname(std::string_view name, bool printable_only = false);
inline constexpr size_t kMaxLinuxIfname = 15;

// "DRIVER: bad value for KEY= ('VALUE'): expected EXPECTED".
std::string bad_value(std::string_view driver, std::string_view key, std::string_view value,
                      std::string_view expected);
// "WHAT: strerror(e)".
std::string errno_msg(const std::string& what, int e);

}  // namespace iopkt::drivers
