// manager/options.cc — the io-pkt command line (SPEC §1) and the options of
// `-p tcpip`. Read SPEC §1 first: its tables are the reference; where it is
// silent, the rules follow io-pkt's own option parser (its main_init(), which
// runs the `-p tcpip` list through getsubopt()) and the comments say so.
//
// Differences from io-pkt, on purpose:
//  - io-pkt reads numbers with strtol() and ignores trailing junk, values on
//    flags ("forward=0" turns forwarding on) and unknown names (it pokes them
//    into kernel variables via nlist). Here a malformed value, a value on a
//    flag or an unknown name is an error that names the option: SPEC §1 says
//    none is silently ignored.
//  - A negative number is an error, not clamped: no option here has a
//    meaning for one.
//  - Command-line options given twice: the last wins, as with getopt().
#include "manager/options.hh"

#include <sys/socket.h>  // SOMAXCONN
#include <unistd.h>      // sysconf(_SC_PAGESIZE)

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <climits>  // NGROUPS_MAX
#include <limits>
#include <system_error>

namespace iopkt {
namespace {

using Kind = TcpipOptionKind;
using Status = TcpipOptionStatus;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

// Per-thread caches (mbuf_cache, pkt_cache, mtag_cache): io-pkt has no upper
// limit; a million buffers per thread is far past any use and keeps the
// pools' arithmetic clear of overflow.
constexpr int64_t kMaxCache = 1 << 20;
// threads_*: io-pkt has no upper limit either; each context costs a stack.
constexpr int64_t kMaxBlockingContexts = 65536;
// FIBS_MAX in io-pkt's target_nto_sock.h: 16 routing tables, and its
// gid-to-FIB table holds as many entries.
constexpr int64_t kMaxFibs = 16;
// uid_t / gid_t are 32 bits; (uid_t)-1 means "no change" to setresuid(2).
constexpr int64_t kMaxId = 4294967294;
// QNX priorities run 1..255; io-pkt clamps the rx and timer priorities to
// 1..sched_get_priority_max(), which is 255 on QNX.
constexpr int64_t kMaxQnxPrio = 255;
// Linux caps net.core.somaxconn at 65535 in practice (the accept queue
// length was 16 bits for long).
constexpr int64_t kMaxSomaxconn = 65535;
constexpr int64_t kQnxSomaxconn = 128;  // SOMAXCONN in QNX's <sys/socket.h>
// Longest prefix: the endpoint "${prefix}/dev/socket/..." must remain a path.
constexpr size_t kMaxPrefix = 1024;

constexpr std::string_view kRoutingWork = "the IPv4 forwarding and routing work";
constexpr std::string_view kTcpWork = "the TCP work";
constexpr std::string_view kIpsecWork = "the IPsec work";
constexpr std::string_view kTunTapWork = "the TUN/TAP work";
constexpr std::string_view kPoolWork = "the memory-pool work";

// The table. Ranges and defaults as io-pkt's main_init() unless SPEC §1 says
// otherwise (recv_ctxt's minimum is 2048 there; io-pkt 7 raised it to 4096).
constexpr TcpipOptionInfo kTcpipOptions[] = {
    {.name = "bigpage_strict",
     .kind = Kind::kFlagOrBool,
     .max = 1,
     .status = Status::kPlanned,
     .arrives_with = kPoolWork,
     .description = "use pagesize for all pools, not only the mbuf and cluster pools",
     .bool_field = &TcpipOptions::bigpage_strict},
    {.name = "bigstack",
     .kind = Kind::kFlagOrInt,
     .min = 16 * kKiB,
     .max = 64 * kMiB,
     .default_value = 128 * kKiB,
     .description = "load drivers on a larger stack of this many bytes",
     .optional_field = &TcpipOptions::bigstack},
    {.name = "cache",
     .kind = Kind::kBool,
     .max = 1,
     .default_value = 1,
     .description = "cache packet buffers per thread (0: off, for debugging)",
     .bool_field = &TcpipOptions::cache},
    {.name = "confstr_monitor",
     .kind = Kind::kFlag,
     .max = 1,
     .description = "follow hostname changes instead of reading it once at start",
     .bool_field = &TcpipOptions::confstr_monitor},
    // iopkt extension: the endpoint is world-accessible as io-pkt's; this
    // restricts it to a group (file mode 0660 and a check of every client).
    {.name = "endpoint_group",
     .kind = Kind::kString,
     .description = "only root and members of this group (name or GID) may connect",
     .string_field = &TcpipOptions::endpoint_group},
    {.name = "fastforward",
     .kind = Kind::kFlagOrBool,
     .max = 1,
     .status = Status::kPlanned,
     .arrives_with = kRoutingWork,
     .description = "fast path for forwarding (flow cache); on with forward",
     .bool_field = &TcpipOptions::fastforward},
    {.name = "forward",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kPlanned,
     .arrives_with = kRoutingWork,
     .description = "forward IPv4 packets between interfaces",
     .bool_field = &TcpipOptions::forward},
    {.name = "forward6",
     .kind = Kind::kFlag,
     .max = 1,
     .v6_only = true,
     .status = Status::kPlanned,
     .arrives_with = kRoutingWork,
     .description = "forward IPv6 packets between interfaces",
     .bool_field = &TcpipOptions::forward6},
    {.name = "ipsec",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kPlanned,
     .arrives_with = kIpsecWork,
     .description = "IPsec support",
     .bool_field = &TcpipOptions::ipsec},
    {.name = "mbuf_cache",
     .kind = Kind::kInt,
     .max = kMaxCache,
     .description = "mbufs cached per thread on free (0: the pool's default)",
     .int_field = &TcpipOptions::mbuf_cache},
    {.name = "mclbytes",
     .kind = Kind::kPow2,
     .min = 2 * kKiB,  // 1 << MCLSHIFT_NTOMIN in io-pkt
     .max = 16 * kKiB,
     .default_value = 2 * kKiB,
     .description = "cluster size in bytes, a power of two",
     .int_field = &TcpipOptions::mclbytes},
    {.name = "mfib_gid_map",
     .kind = Kind::kGidFibMap,
     .description = "map supplementary group ids to FIBs: GID=FIB;... or GID;GID...",
     .string_field = &TcpipOptions::mfib_gid_map},
    {.name = "mtag_cache",
     .kind = Kind::kInt,
     .max = kMaxCache,
     .status = Status::kNotSupported,
     .arrives_with = "iopkt keeps no per-thread cache of mbuf tags",
     .description = "mbuf tags cached per thread (io-pkt extra)",
     .int_field = &TcpipOptions::mtag_cache},
    {.name = "no_rst_validation",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kImplemented,
     .description = "skip the RFC 5961 checks on incoming RSTs (net.inet.tcp.rst_validation=0)",
     .bool_field = &TcpipOptions::no_rst_validation},
    {.name = "nocryptodev",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kNotSupported,
     .arrives_with = "iopkt serves no /dev/crypto to turn off",
     .description = "do not offer /dev/crypto (io-pkt extra)",
     .bool_field = &TcpipOptions::nocryptodev},
    {.name = "num_tap_interface",
     .kind = Kind::kInt,
     .max = 256,
     .default_value = 5,
     .status = Status::kPlanned,
     .arrives_with = kTunTapWork,
     .description = "maximum number of in-stack TAP interfaces",
     .int_field = &TcpipOptions::num_tap_interface},
    {.name = "num_tun_control_interface",
     .kind = Kind::kInt,
     .max = 256,
     .default_value = 4,
     .status = Status::kPlanned,
     .arrives_with = kTunTapWork,
     .description = "TUN control interfaces created at start",
     .int_field = &TcpipOptions::num_tun_control_interface},
    {.name = "pagesize",
     .kind = Kind::kPow2,
     // io-pkt: at least sysconf(_SC_PAGESIZE), at most 16 MiB, a power of
     // two. 4096 is the smallest page of the hosts we run on; the pools
     // round up to the real page size.
     .min = 4 * kKiB,
     .max = 16 * kMiB,
     .default_value = 0,
     .description = "allocation quantum of the internal pools (0: the system's page size)",
     .int_field = &TcpipOptions::pagesize},
    {.name = "pfil_ipsec",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kPlanned,
     .arrives_with = kIpsecWork,
     .description = "run packet filters before encryption",
     .bool_field = &TcpipOptions::pfil_ipsec},
    {.name = "pkt_cache",
     .kind = Kind::kInt,
     .max = kMaxCache,
     .description = "mbuf and cluster pairs cached per thread",
     .int_field = &TcpipOptions::pkt_cache},
    {.name = "pkt_typed_mem",
     .kind = Kind::kString,
     .description = "allocate packet buffers from this memory object (hugetlbfs or shm file)",
     .string_field = &TcpipOptions::pkt_typed_mem},
    {.name = "prefix",
     .kind = Kind::kPath,
     .description = "the endpoint is ${prefix}/dev/socket; clients set SOCK=${prefix}",
     .string_field = &TcpipOptions::prefix},
    {.name = "random",
     .kind = Kind::kFlag,
     .max = 1,
     .description = "use the kernel's random source (always so on Linux)",
     .bool_field = &TcpipOptions::random},
    {.name = "recv_ctxt",
     .kind = Kind::kInt,
     .min = 2 * kKiB,
     .max = 512 * kKiB,
     .default_value = 64 * kKiB,
     .description = "receive context buffer in bytes",
     .int_field = &TcpipOptions::recv_ctxt},
    {.name = "reply_ctxt",
     .kind = Kind::kInt,
     .min = 32,  // io-pkt clamps to 32..512 packet buffers
     .max = 512,
     .default_value = 90,
     .status = Status::kNotSupported,
     .arrives_with = "it sizes QNX message-passing replies; iopkt's clients use socketpairs",
     .description = "packet buffers per reply (io-pkt extra)",
     .int_field = &TcpipOptions::reply_ctxt},
    // The manager sets the stack's net.inet.udp.reuseport_unicast from it.
    {.name = "reuseport_unicast",
     .kind = Kind::kFlag,
     .max = 1,
     .description = "with SO_REUSEPORT, deliver unicast UDP to all bound sockets",
     .bool_field = &TcpipOptions::reuseport_unicast},
    // io-pkt: members of the group (root's group 0 when no GID is given)
    // may do what is otherwise for root: configure the stack.
    {.name = "rgroup_allowed",
     .kind = Kind::kFlagOrInt,
     .max = 0x7fffffff,
     .default_value = 0,
     .description = "members of this GID may configure the stack as root does",
     .optional_field = &TcpipOptions::rgroup_allowed},
    {.name = "rx_prio",
     .kind = Kind::kInt,
     .min = 1,
     .max = kMaxQnxPrio,
     .default_value = 21,
     .description = "receive thread priority, QNX scale",
     .int_field = &TcpipOptions::rx_prio},
    {.name = "rx_pulse_prio",
     .kind = Kind::kInt,
     .min = 1,
     .max = kMaxQnxPrio,
     .default_value = 21,
     .description = "receive thread priority, QNX scale (old name of rx_prio)",
     .int_field = &TcpipOptions::rx_prio},
    {.name = "so_txprio_enable",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kNotSupported,
     .arrives_with = "QNX's SO_TXPRIO socket option has no counterpart here",
     .description = "enable the SO_TXPRIO socket option (io-pkt extra)",
     .bool_field = &TcpipOptions::so_txprio_enable},
    {.name = "somaxconn",
     .kind = Kind::kInt,
     // The seed: "The minimum is the value in <sys/socket.h>" — QNX's,
     // 128 (glibc's SOMAXCONN is 4096 now).
     .min = kQnxSomaxconn,
     .max = kMaxSomaxconn,
     .default_value = kQnxSomaxconn,
     .status = Status::kImplemented,
     .description = "listen queue limit (kern.somaxconn)",
     .int_field = &TcpipOptions::somaxconn},
    {.name = "stackguard",
     .kind = Kind::kFlag,
     .max = 1,
     .description = "guard page between thread stacks; stacksize rounds up to pages",
     .bool_field = &TcpipOptions::stackguard},
    {.name = "stacksize",
     .kind = Kind::kInt,
     // io-pkt: never below the default (imax(stacksize, value)).
     .min = 8 * kKiB,
     .max = 16 * kMiB,
     .default_value = 8 * kKiB,
     .description = "stack of each of the stack's contexts, in bytes",
     .int_field = &TcpipOptions::stacksize},
    {.name = "strict_ts",
     .kind = Kind::kFlag,
     .max = 1,
     .status = Status::kNotSupported,
     .arrives_with = "it selects QNX's ClockCycles() capture timestamps",
     .description = "strict capture timestamps (io-pkt extra)",
     .bool_field = &TcpipOptions::strict_ts},
    {.name = "threads_incr",
     .kind = Kind::kInt,
     .min = 4,  // io-pkt: imax(4, value)
     .max = kMaxBlockingContexts,
     .default_value = 25,
     .status = Status::kPlanned,
     .arrives_with = kTcpWork,
     .description = "grow the blocking-operation contexts by this many",
     .int_field = &TcpipOptions::threads_incr},
    {.name = "threads_max",
     .kind = Kind::kInt,
     .min = 4,
     .max = kMaxBlockingContexts,
     .default_value = 200,
     .status = Status::kPlanned,
     .arrives_with = kTcpWork,
     .description = "maximum concurrent blocking operations",
     .int_field = &TcpipOptions::threads_max},
    {.name = "threads_min",
     .kind = Kind::kInt,
     .min = 4,
     .max = kMaxBlockingContexts,
     .default_value = 15,
     .status = Status::kPlanned,
     .arrives_with = kTcpWork,
     .description = "blocking-operation contexts created at start",
     .int_field = &TcpipOptions::threads_min},
    {.name = "timer_pulse_prio",
     .kind = Kind::kInt,
     .min = 1,
     .max = kMaxQnxPrio,
     .default_value = 21,
     .description = "timer thread priority, QNX scale",
     .int_field = &TcpipOptions::timer_pulse_prio},
    {.name = "timertol",
     .kind = Kind::kIntStrict,  // io-pkt ignores a value outside 0..1000
     .max = 1000,
     .status = Status::kNotSupported,
     .arrives_with = "it is QNX's timer tolerance; Linux timers have their own slack",
     .description = "timer tolerance (io-pkt extra)",
     .int_field = &TcpipOptions::timertol},
};

constexpr bool table_is_sorted() {
  for (size_t i = 1; i < std::size(kTcpipOptions); ++i) {
    if (!(kTcpipOptions[i - 1].name < kTcpipOptions[i].name)) {
      return false;
    }
  }
  return true;
}
static_assert(table_is_sorted(), "keep kTcpipOptions sorted by name, without duplicates");

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// "name=value" or "name", as the user wrote it.
std::string as_written(const OptionItem& item) {
  return item.has_value ? item.key + "=" + item.value : item.key;
}

std::string variant_name(int variant) { return variant == 6 ? "io-pkt-v6-hc" : "io-pkt-v4-hc"; }

bool is_given(const TcpipOptions& o, std::string_view name) {
  return std::find(o.given.begin(), o.given.end(), name) != o.given.end();
}

// A whole non-negative decimal number (ids in -U); nullopt otherwise.
std::optional<int64_t> parse_decimal_id(std::string_view text) {
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + (c - '0');
  }
  if (v > kMaxId) {
    return std::nullopt;
  }
  return v;
}

Result<int64_t, std::string> option_number(const OptionItem& item) {
  if (!item.has_value) {
    return Err{"tcpip option " + quoted(item.key) + " needs a value (" + item.key + "=N)"};
  }
  std::optional<int64_t> v = parse_int(item.value);
  if (!v) {
    return Err{"tcpip option " + quoted(item.key) + " needs a number, got " +
               quoted(as_written(item))};
  }
  if (*v < 0) {
    return Err{"tcpip option " + quoted(item.key) + " cannot be negative, got " +
               quoted(as_written(item))};
  }
  return *v;
}

// Holds `v` to [min, max], with a note when it moves (SPEC §1: "clamped to
// the nearest limit, as io-pkt does, and the log says so").
int64_t clamp_with_note(const TcpipOptionInfo& info, const OptionItem& item, int64_t v,
                        std::vector<std::string>& notes) {
  if (v < info.min) {
    notes.push_back(as_written(item) + " is below the minimum " + std::to_string(info.min) +
                    "; using " + std::to_string(info.min));
    return info.min;
  }
  if (v > info.max) {
    notes.push_back(as_written(item) + " is above the maximum " + std::to_string(info.max) +
                    "; using " + std::to_string(info.max));
    return info.max;
  }
  return v;
}

Result<bool, std::string> option_bool(const OptionItem& item) {
  std::optional<int64_t> v = parse_int(item.value);
  if (!v || (*v != 0 && *v != 1)) {
    return Err{"tcpip option " + quoted(item.key) + " takes 0 or 1, got " +
               quoted(as_written(item))};
  }
  return *v == 1;
}

// mfib_gid_map: io-pkt's two forms. With an '=' anywhere, "GID=FIB;GID=FIB"
// (the seed's example maps 750 and 760 to FIBs 1 and 2); without, "GID;GID"
// maps the groups to FIBs 0, 1, ... in order. io-pkt's table holds FIBS_MAX
// entries; a GID mapped twice would be ambiguous (io-pkt takes the first
// silently), so it is refused.
Result<std::vector<std::pair<uint32_t, uint32_t>>, std::string> parse_gid_fib_map(
    const OptionItem& item) {
  const std::string what = "tcpip option 'mfib_gid_map'";
  if (!item.has_value || item.value.empty()) {
    return Err{what + " needs a value: mfib_gid_map=GID=FIB;GID=FIB... or mfib_gid_map=GID;GID..."};
  }
  const bool long_form = item.value.find('=') != std::string::npos;
  std::vector<std::pair<uint32_t, uint32_t>> map;
  std::string_view rest = item.value;
  while (true) {
    size_t semi = rest.find(';');
    std::string_view entry = rest.substr(0, semi);
    if (entry.empty()) {
      return Err{what + " has an empty entry in " + quoted(as_written(item))};
    }
    std::string_view gid_text = entry;
    std::optional<int64_t> fib = static_cast<int64_t>(map.size());
    if (long_form) {
      size_t eq = entry.find('=');
      if (eq == std::string_view::npos) {
        return Err{what + ": entry " + quoted(entry) +
                   " lacks '=FIB' (the forms GID=FIB and GID cannot be mixed) in " +
                   quoted(as_written(item))};
      }
      gid_text = entry.substr(0, eq);
      fib = parse_int(entry.substr(eq + 1));
      if (!fib || *fib < 0) {
        return Err{what + ": bad FIB in " + quoted(entry) + " of " + quoted(as_written(item))};
      }
    }
    std::optional<int64_t> gid = parse_int(gid_text);
    if (!gid || *gid < 0 || *gid > kMaxId) {
      return Err{what + ": bad group id " + quoted(gid_text) + " in " + quoted(as_written(item))};
    }
    if (map.size() >= static_cast<size_t>(kMaxFibs)) {
      return Err{what + " maps more than " + std::to_string(kMaxFibs) + " groups in " +
                 quoted(as_written(item))};
    }
    if (*fib >= kMaxFibs) {
      return Err{what + ": FIB " + std::to_string(*fib) + " is out of range 0.." +
                 std::to_string(kMaxFibs - 1) + " in " + quoted(as_written(item))};
    }
    for (const auto& [g, f] : map) {
      if (g == static_cast<uint32_t>(*gid)) {
        return Err{what + ": group " + std::to_string(g) + " is mapped twice in " +
                   quoted(as_written(item))};
      }
    }
    map.emplace_back(static_cast<uint32_t>(*gid), static_cast<uint32_t>(*fib));
    if (semi == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(semi + 1);
  }
  return map;
}

// One item of a `-p tcpip` list, by its descriptor.
Result<void, std::string> apply_tcpip_option(const TcpipOptionInfo& info, const OptionItem& item,
                                             TcpipOptions& o, std::vector<std::string>& notes) {
  const std::string name = quoted(item.key);
  switch (info.kind) {
    case Kind::kFlag:
      if (item.has_value) {
        return Err{"tcpip option " + name + " takes no value, got " + quoted(as_written(item))};
      }
      o.*info.bool_field = true;
      return {};
    case Kind::kFlagOrBool:
    case Kind::kBool: {
      if (!item.has_value) {
        if (info.kind == Kind::kBool) {
          return Err{"tcpip option " + name + " needs =0 or =1"};
        }
        o.*info.bool_field = true;
        return {};
      }
      auto b = option_bool(item);
      if (!b) {
        return Err{b.error()};
      }
      o.*info.bool_field = *b;
      return {};
    }
    case Kind::kInt:
    case Kind::kIntStrict:
    case Kind::kPow2: {
      auto n = option_number(item);
      if (!n) {
        return Err{n.error()};
      }
      int64_t v = *n;
      if (info.kind == Kind::kIntStrict) {
        if (v < info.min || v > info.max) {
          return Err{"tcpip option " + name + " must be " + std::to_string(info.min) + ".." +
                     std::to_string(info.max) + ", got " + quoted(as_written(item))};
        }
      } else {
        v = clamp_with_note(info, item, v, notes);
      }
      if (info.kind == Kind::kPow2 && !std::has_single_bit(static_cast<uint64_t>(v))) {
        // io-pkt's round_pow2(): up to the next power of two. The maxima
        // are powers of two, so this stays in range.
        int64_t up = static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(v)));
        notes.push_back(as_written(item) + " is not a power of two; using " + std::to_string(up));
        v = up;
      }
      o.*info.int_field = v;
      return {};
    }
    case Kind::kFlagOrInt: {
      if (!item.has_value) {
        o.*info.optional_field = info.default_value;
        return {};
      }
      auto n = option_number(item);
      if (!n) {
        return Err{n.error()};
      }
      o.*info.optional_field = clamp_with_note(info, item, *n, notes);
      return {};
    }
    case Kind::kString:
      if (!item.has_value || item.value.empty()) {
        return Err{"tcpip option " + name + " needs a value (" + item.key + "=NAME)"};
      }
      o.*info.string_field = item.value;
      return {};
    case Kind::kPath:
      if (!item.has_value) {
        return Err{"tcpip option " + name + " needs a value (" + item.key + "=/path)"};
      }
      if (!item.value.empty() && item.value[0] != '/') {
        return Err{"tcpip option " + name + " must be an absolute path, got " +
                   quoted(as_written(item))};
      }
      if (item.value.size() > kMaxPrefix) {
        return Err{"tcpip option " + name + " is longer than " + std::to_string(kMaxPrefix) +
                   " characters"};
      }
      o.*info.string_field = item.value;
      return {};
    case Kind::kGidFibMap: {
      auto map = parse_gid_fib_map(item);
      if (!map) {
        return Err{map.error()};
      }
      o.mfib_gid_map = item.value;
      o.mfib_map = std::move(*map);
      return {};
    }
  }
  return Err{"tcpip option " + name + " has no parser"};  // unreachable: every kind is handled
}

// Rules between options that only make sense once the whole list is read.
// Each is idempotent, so a second `-p tcpip` list can run them again.
void resolve_tcpip_options(TcpipOptions& o, std::vector<std::string>& notes) {
  // The seeds: "forward ... enables fastforward by default"; "to enable only
  // forward, specify forward,fastforward=0"; "fastforward=1 alone
  // implicitly enables forward". As io-pkt, in any order.
  const bool fastforward_given = is_given(o, "fastforward");
  if (fastforward_given && o.fastforward) {
    o.forward = true;
  }
  if (o.forward && !fastforward_given) {
    o.fastforward = true;
  }
  // io-pkt: mclbytes = min(mclbytes, pagesize_large) — a cluster never
  // spans two pool pages.
  if (o.pagesize != 0 && o.mclbytes > o.pagesize) {
    notes.push_back("mclbytes=" + std::to_string(o.mclbytes) + " is larger than pagesize=" +
                    std::to_string(o.pagesize) + "; using " + std::to_string(o.pagesize));
    o.mclbytes = o.pagesize;
  }
  // io-pkt: with stackguard, a stacksize that is not a multiple of the page
  // size grows to the next one, and the log says so (the seed's note).
  if (o.stackguard) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
      page = 4096;
    }
    if (o.stacksize % page != 0) {
      int64_t up = (o.stacksize / page + 1) * page;
      notes.push_back("stackguard: stacksize " + std::to_string(o.stacksize) +
                      " is not a multiple of the page size " + std::to_string(page) + "; using " +
                      std::to_string(up));
      o.stacksize = up;
    }
  }
  // io-pkt: "bigstack size <= stacksize, ignoring".
  if (o.bigstack && *o.bigstack <= o.stacksize) {
    notes.push_back("bigstack=" + std::to_string(*o.bigstack) + " is not larger than stacksize " +
                    std::to_string(o.stacksize) + "; ignoring it, as io-pkt does");
    o.bigstack.reset();
  }
}

// -d NAME / -p NAME: a bare name or a path. A comma or '=' in a bare name is
// an option list glued to it.
Result<void, std::string> check_module_name(char letter, std::string_view what,
                                            const std::string& name) {
  if (name.empty() || name[0] == '-') {
    return Err{"option -" + std::string(1, letter) + " needs a " + std::string(what) +
               " name, got " + quoted(name)};
  }
  if (name.find('/') == std::string::npos && name.find_first_of(",= \t") != std::string::npos) {
    return Err{"option -" + std::string(1, letter) + ": " + std::string(what) + " name " +
               quoted(name) + " is not a name; give its options as the next argument: -" +
               std::string(1, letter) + " NAME opt=value,opt"};
  }
  return {};
}

std::string usage(int variant) {
  return "usage: " + variant_name(variant) +
         " [-d driver [driver_options]] [-i instance] [-P priority]"
         " [-p protocol [protocol_options]] [-S] [-t threads] [-U string] [-f]";
}

// The value of a numeric command-line option, in [min, max].
Result<int, std::string> command_line_number(char letter, std::string_view what,
                                             const std::string& text, int min, int max) {
  std::optional<int64_t> v = parse_int(text);
  if (!v || *v < min || *v > max) {
    return Err{"option -" + std::string(1, letter) + ": " + std::string(what) + " must be " +
               std::to_string(min) + ".." + std::to_string(max) + ", got " + quoted(text)};
  }
  return static_cast<int>(*v);
}

}  // namespace

std::span<const TcpipOptionInfo> tcpip_option_table() { return kTcpipOptions; }

const TcpipOptionInfo* find_tcpip_option(std::string_view name) {
  for (const TcpipOptionInfo& info : kTcpipOptions) {
    if (info.name == name) {
      return &info;
    }
  }
  return nullptr;
}

std::string tcpip_option_value_text(const TcpipOptions& opts, const TcpipOptionInfo& info) {
  switch (info.kind) {
    case Kind::kFlag:
    case Kind::kFlagOrBool:
    case Kind::kBool:
      return opts.*info.bool_field ? "1" : "0";
    case Kind::kInt:
    case Kind::kIntStrict:
    case Kind::kPow2:
      return std::to_string(opts.*info.int_field);
    case Kind::kFlagOrInt:
      return opts.*info.optional_field ? std::to_string(*(opts.*info.optional_field))
                                       : std::string();
    case Kind::kString:
    case Kind::kPath:
      return opts.*info.string_field;
    case Kind::kGidFibMap: {
      std::string text;
      for (const auto& [gid, fib] : opts.mfib_map) {
        if (!text.empty()) {
          text += ';';
        }
        text += std::to_string(gid) + "=" + std::to_string(fib);
      }
      return text;
    }
  }
  return {};
}

std::optional<int64_t> parse_int(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) {
    return std::nullopt;
  }
  // from_chars on an unsigned type takes digits only: no sign, no space, no
  // second "0x"; it reports overflow.
  uint64_t magnitude = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, magnitude, base);
  if (ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  constexpr uint64_t kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!negative) {
    if (magnitude > kMaxPositive) {
      return std::nullopt;
    }
    return static_cast<int64_t>(magnitude);
  }
  if (magnitude > kMaxPositive + 1) {
    return std::nullopt;
  }
  if (magnitude == kMaxPositive + 1) {
    return std::numeric_limits<int64_t>::min();
  }
  return -static_cast<int64_t>(magnitude);
}

Result<std::vector<OptionItem>, std::string> split_option_list(std::string_view list) {
  std::vector<OptionItem> items;
  if (list.empty()) {
    return items;
  }
  for (char c : list) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isspace(u)) {
      return Err{"option list " + quoted(list) +
                 " contains a space: options are separated by commas, not spaces"};
    }
    if (u < 0x20 || u == 0x7f) {
      return Err{"option list " + quoted(list) + " contains a control character"};
    }
  }
  std::string_view rest = list;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    if (item.empty()) {
      return Err{"option list " + quoted(list) +
                 " has an empty option (two commas in a row, or a comma at an end)"};
    }
    size_t eq = item.find('=');
    OptionItem out;
    out.key = std::string(item.substr(0, eq));
    if (out.key.empty()) {
      return Err{"option list " + quoted(list) + " has an option without a name: " + quoted(item)};
    }
    if (eq != std::string_view::npos) {
      out.value = std::string(item.substr(eq + 1));
      out.has_value = true;
    }
    items.push_back(std::move(out));
    if (comma == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(comma + 1);
  }
  return items;
}

Result<void, std::string> parse_tcpip_options(std::string_view list, int variant, TcpipOptions& out,
                                              std::vector<std::string>& notes) {
  auto items = split_option_list(list);
  if (!items) {
    return Err{"-p tcpip: " + items.error()};
  }
  // Work on copies so that a refused list leaves `out` and `notes` as they
  // were.
  TcpipOptions opts = out;
  std::vector<std::string> new_notes;
  for (const OptionItem& item : *items) {
    const TcpipOptionInfo* info = find_tcpip_option(item.key);
    if (info == nullptr) {
      std::string hint;
      if (item.key == "threads") {
        hint = " (io-pkt's old name for threads_max; use threads_max)";
      }
      return Err{"unknown tcpip option " + quoted(item.key) + hint};
    }
    if (info->v6_only && variant != 6) {
      return Err{"tcpip option " + quoted(item.key) + " is for io-pkt-v6-hc only; this is " +
                 variant_name(variant)};
    }
    auto applied = apply_tcpip_option(*info, item, opts, new_notes);
    if (!applied) {
      return Err{applied.error()};
    }
    if (!is_given(opts, item.key)) {
      opts.given.push_back(item.key);
    }
    // io-pkt keeps threads_min <= threads_max as each is read: a minimum
    // above the maximum is lowered to it, a maximum below the minimum raised.
    if (item.key == "threads_min" && opts.threads_min > opts.threads_max) {
      new_notes.push_back(as_written(item) + " is above threads_max " +
                          std::to_string(opts.threads_max) + "; using " +
                          std::to_string(opts.threads_max));
      opts.threads_min = opts.threads_max;
    }
    if (item.key == "threads_max" && opts.threads_max < opts.threads_min) {
      new_notes.push_back(as_written(item) + " is below threads_min " +
                          std::to_string(opts.threads_min) + "; using " +
                          std::to_string(opts.threads_min));
      opts.threads_max = opts.threads_min;
    }
  }
  resolve_tcpip_options(opts, new_notes);
  out = std::move(opts);
  notes.insert(notes.end(), new_notes.begin(), new_notes.end());
  return {};
}

std::vector<std::string> unimplemented_tcpip_options(const TcpipOptions& opts) {
  std::vector<std::string> messages;
  for (const std::string& name : opts.given) {
    const TcpipOptionInfo* info = find_tcpip_option(name);
    if (info == nullptr) {
      continue;  // cannot happen: parse_tcpip_options records known names only
    }
    switch (info->status) {
      case Status::kImplemented:
        break;
      case Status::kPlanned:
        messages.push_back("tcpip option " + quoted(name) + " is not supported yet (arrives with " +
                           std::string(info->arrives_with) + ")");
        break;
      case Status::kNotSupported:
        messages.push_back("tcpip option " + quoted(name) + " is not supported by iopkt (" +
                           std::string(info->arrives_with) + ")");
        break;
    }
  }
  return messages;
}

// -U: "uid[:gid[,sup_gid]*]" or "user_name[,sup_gid]*" (the seed). A leading
// digit selects the first form. User names follow POSIX's portable set
// ([A-Za-z0-9._-], not starting with '-'), plus the trailing '$' of machine
// accounts, as shadow-utils' useradd allows; 32 characters as useradd's
// default limit.
Result<void, std::string> validate_drop_user(std::string_view text) {
  const std::string what = "option -U: ";
  if (text.empty()) {
    return Err{what + "needs uid[:gid[,sup_gid]*] or user_name[,sup_gid]*"};
  }
  auto check_gids = [&](std::string_view list) -> Result<void, std::string> {
    // `list` is the part after the first ',' (or after the gid's ':').
    size_t count = 0;
    while (true) {
      size_t comma = list.find(',');
      std::string_view gid = list.substr(0, comma);
      if (!parse_decimal_id(gid)) {
        return Err{what + "bad group id " + quoted(gid) + " in " + quoted(text)};
      }
      if (++count > NGROUPS_MAX) {
        return Err{what + "more than " + std::to_string(NGROUPS_MAX) + " supplementary groups in " +
                   quoted(text)};
      }
      if (comma == std::string_view::npos) {
        return {};
      }
      list.remove_prefix(comma + 1);
    }
  };
  if (text[0] >= '0' && text[0] <= '9') {
    size_t colon = text.find(':');
    std::string_view uid = text.substr(0, colon);
    if (colon == std::string_view::npos && uid.find(',') != std::string_view::npos) {
      return Err{what + "supplementary groups follow a gid (uid:gid,sup_gid), got " + quoted(text)};
    }
    if (!parse_decimal_id(uid)) {
      return Err{what + "bad user id " + quoted(uid) + " in " + quoted(text)};
    }
    if (colon == std::string_view::npos) {
      return {};
    }
    // gid[,sup_gid]*: the first is the primary group, checked like the rest.
    return check_gids(text.substr(colon + 1));
  }
  size_t comma = text.find(',');
  std::string_view user = text.substr(0, comma);
  if (user.find(':') != std::string_view::npos) {
    return Err{what + "a user name takes no ':gid' (its group comes from the password file), got " +
               quoted(text)};
  }
  bool ok = !user.empty() && user.size() <= 32 && user[0] != '-';
  for (size_t i = 0; ok && i < user.size(); ++i) {
    const auto c = static_cast<unsigned char>(user[i]);
    const bool last_dollar = c == '$' && i + 1 == user.size() && i > 0;
    ok = std::isalnum(c) || c == '_' || c == '.' || c == '-' || last_dollar;
  }
  if (!ok) {
    return Err{what + "bad user name " + quoted(user) + " in " + quoted(text)};
  }
  if (comma == std::string_view::npos) {
    return {};
  }
  return check_gids(text.substr(comma + 1));
}

Result<ParsedOptions, std::string> parse_command_line(int variant,
                                                      std::span<const std::string> args) {
  if (variant != 4 && variant != 6) {
    return Err{"internal: variant must be 4 or 6, got " + std::to_string(variant)};
  }
  ParsedOptions parsed;
  ManagerOptions& m = parsed.options;
  m.variant = variant;

  // The -d/-p whose option list the previous argument was, for the message
  // on a stray word ("-p tcpip prefix=/a forward").
  std::string list_owner;
  std::string list_text;
  bool after_list = false;
  bool options_ended = false;

  size_t i = 0;
  while (i < args.size()) {
    const std::string& arg = args[i++];
    const bool was_after_list = after_list;
    after_list = false;
    if (options_ended || arg.size() < 2 || arg[0] != '-') {
      if (was_after_list) {
        return Err{"unexpected argument " + quoted(arg) + " after " + list_owner + " " + list_text +
                   ": options are separated by commas, not spaces (" + list_owner + " " +
                   list_text + "," + arg + ")"};
      }
      return Err{"unexpected argument " + quoted(arg) + ": " + variant_name(variant) +
                 " takes no operands; driver and protocol options follow -d NAME or -p NAME, "
                 "separated by commas, not spaces"};
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    if (arg[1] == '-') {
      return Err{"unknown option " + quoted(arg) + "; " + usage(variant)};
    }
    // A cluster of letters, getopt style: "-Sf", "-i1", "-ptcpip".
    for (size_t k = 1; k < arg.size(); ++k) {
      const char letter = arg[k];
      if (letter == 'S') {
        m.no_segv_handler = true;
        continue;
      }
      if (letter == 'f') {
        m.foreground = true;
        continue;
      }
      if (std::string_view("diPptU").find(letter) == std::string_view::npos) {
        const auto u = static_cast<unsigned char>(letter);
        std::string shown = std::isprint(u) ? std::string(1, letter) : "\\x" + std::to_string(u);
        return Err{"unknown option -" + shown + "; " + usage(variant)};
      }
      // The value: the rest of this argument, or the next one (getopt).
      std::string value;
      if (k + 1 < arg.size()) {
        value = arg.substr(k + 1);
      } else if (i < args.size()) {
        value = args[i++];
      } else {
        return Err{"option -" + std::string(1, letter) + " needs a value; " + usage(variant)};
      }
      k = arg.size();  // the value used up the argument
      switch (letter) {
        case 'd':
        case 'p': {
          const bool is_driver = letter == 'd';
          auto named = check_module_name(letter, is_driver ? "driver" : "protocol", value);
          if (!named) {
            return Err{named.error()};
          }
          ModuleSpec spec{.name = value, .options = {}};
          // The next argument is the module's option list unless it is an
          // option itself.
          if (i < args.size() && (args[i].empty() || args[i][0] != '-')) {
            spec.options = args[i++];
            after_list = true;
            list_owner = "-" + std::string(1, letter) + " " + spec.name;
            list_text = spec.options;
          }
          if (is_driver) {
            auto items = split_option_list(spec.options);
            if (!items) {
              return Err{"-d " + spec.name + ": " + items.error()};
            }
            m.drivers.push_back(std::move(spec));
            break;
          }
          if (spec.name == "tcpip") {
            auto tcpip = parse_tcpip_options(spec.options, variant, m.tcpip, parsed.notes);
            if (!tcpip) {
              return Err{tcpip.error()};
            }
            break;
          }
          // SPEC §1: pf-v4 and slip with io-pkt-v4-hc, pf-v6 with v6-hc; a
          // path is any lsm-*.so, loaded as given.
          if (spec.name.find('/') == std::string::npos) {
            if (spec.name == "pf-v4" && variant != 4) {
              return Err{"protocol pf-v4 is for io-pkt-v4-hc; io-pkt-v6-hc takes -p pf-v6"};
            }
            if (spec.name == "pf-v6" && variant != 6) {
              return Err{"protocol pf-v6 is for io-pkt-v6-hc; io-pkt-v4-hc takes -p pf-v4"};
            }
            if (spec.name == "slip" && variant != 4) {
              return Err{"protocol slip is for io-pkt-v4-hc only"};
            }
            if (spec.name != "pf-v4" && spec.name != "pf-v6" && spec.name != "slip") {
              return Err{"unknown protocol " + quoted(spec.name) +
                         ": known are tcpip, pf-v4, pf-v6 and slip, or a path to an lsm-*.so"};
            }
          }
          auto items = split_option_list(spec.options);
          if (!items) {
            return Err{"-p " + spec.name + ": " + items.error()};
          }
          m.protocols.push_back(std::move(spec));
          break;
        }
        case 'i': {
          // Instance numbers name the mount type io-pktN and the instance's
          // entry in the registry of live instances. io-pkt documents no
          // limit; three digits keep those names short and catch a stray
          // big number (a port, a pid) given by mistake.
          auto n = command_line_number('i', "instance", value, 0, kMaxInstance);
          if (!n) {
            return Err{n.error()};
          }
          m.instance = *n;
          break;
        }
        case 'P': {
          // QNX priorities are 1..255 (SPEC §5 maps them onto Linux).
          auto n = command_line_number('P', "priority", value, kMinPriority, kMaxPriority);
          if (!n) {
            return Err{n.error()};
          }
          m.priority = *n;
          break;
        }
        case 't': {
          // More packet threads than this buys nothing but contention on
          // the stack context; 0 (the default) means one per CPU and is
          // not something to ask for.
          auto n = command_line_number('t', "threads", value, 1, kMaxThreads);
          if (!n) {
            return Err{n.error()};
          }
          m.threads = *n;
          break;
        }
        case 'U': {
          auto ok = validate_drop_user(value);
          if (!ok) {
            return Err{ok.error()};
          }
          m.drop_user = value;
          break;
        }
        default:
          break;
      }
    }
  }
  return parsed;
}

}  // namespace iopkt
