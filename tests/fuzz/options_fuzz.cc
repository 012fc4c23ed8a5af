// fuzz/options_fuzz.cc — the io-pkt command line and `-p tcpip` parser
// (manager/options.hh) on arbitrary input. The bytes split on NUL or newline
// into argv, parsed for both variants; the whole input is also parsed as one
// option list. Never crash; and whatever parses must respect the table's
// ranges and the rules between options, or the target traps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "manager/options.hh"

namespace {

using iopkt::TcpipOptionInfo;
using iopkt::TcpipOptionKind;
using iopkt::TcpipOptions;

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

// What parse_tcpip_options promises about values it accepted.
void check_tcpip(const TcpipOptions& o, int variant) {
  for (const TcpipOptionInfo& info : iopkt::tcpip_option_table()) {
    switch (info.kind) {
      case TcpipOptionKind::kInt:
      case TcpipOptionKind::kIntStrict:
      case TcpipOptionKind::kPow2: {
        int64_t v = o.*info.int_field;
        if (v != info.default_value) {  // pagesize's default 0 is outside its range
          require(v >= info.min && v <= info.max);
        }
        if (info.kind == TcpipOptionKind::kPow2 && v != 0) {
          require((v & (v - 1)) == 0);
        }
        break;
      }
      case TcpipOptionKind::kFlagOrInt:
        if (o.bigstack) {
          require(*o.bigstack >= info.min && *o.bigstack <= info.max);
          require(*o.bigstack > o.stacksize);
        }
        break;
      case TcpipOptionKind::kPath:
        require(o.prefix.empty() || o.prefix[0] == '/');
        break;
      default:
        break;
    }
    // Text for sysctl never fails.
    (void)iopkt::tcpip_option_value_text(o, info);
  }
  require(o.threads_min <= o.threads_max);
  require(o.pagesize == 0 || o.mclbytes <= o.pagesize);
  if (o.forward) {
    bool ff_given = false;
    for (const auto& g : o.given) {
      ff_given = ff_given || g == "fastforward";
    }
    require(o.fastforward || ff_given);
  }
  require(o.mfib_map.size() <= 16);
  for (const auto& [gid, fib] : o.mfib_map) {
    require(fib < 16);
  }
  if (variant == 4) {
    require(!o.forward6);
  }
  for (const auto& name : o.given) {
    require(iopkt::find_tcpip_option(name) != nullptr);
  }
  (void)iopkt::unimplemented_tcpip_options(o);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<std::string> args;
  std::string current;
  for (char c : input) {
    if (c == '\0' || c == '\n') {
      args.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) {
    args.push_back(current);
  }

  for (int variant : {4, 6}) {
    auto parsed = iopkt::parse_command_line(variant, args);
    if (parsed.ok()) {
      const iopkt::ManagerOptions& m = parsed->options;
      require(m.variant == variant);
      require(m.instance >= 0 && m.instance <= iopkt::kMaxInstance);
      require(m.priority >= iopkt::kMinPriority && m.priority <= iopkt::kMaxPriority);
      require(m.threads >= 0 && m.threads <= iopkt::kMaxThreads);
      require(iopkt::validate_drop_user(m.drop_user).ok());
      for (const auto& p : m.protocols) {
        require(p.name != "tcpip");
        require(p.name != (variant == 4 ? "pf-v6" : "pf-v4"));
      }
      check_tcpip(m.tcpip, variant);
    } else {
      require(!parsed.error().empty());
    }

    // The whole input as one `-p tcpip` list, on top of defaults.
    iopkt::TcpipOptions opts;
    std::vector<std::string> notes;
    auto list = iopkt::parse_tcpip_options(input, variant, opts, notes);
    if (list.ok()) {
      check_tcpip(opts, variant);
    } else {
      // A refused list leaves the options as they were.
      require(opts.given.empty() && notes.empty());
    }
  }

  (void)iopkt::parse_int(input);
  (void)iopkt::validate_drop_user(input);
  auto items = iopkt::split_option_list(input);
  if (items.ok()) {
    for (const auto& item : *items) {
      require(!item.key.empty());
      require(item.key.find(',') == std::string::npos);
      require(item.key.find('=') == std::string::npos);
    }
  }
  return 0;
}
