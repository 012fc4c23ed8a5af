// manager/options.hh — the io-pkt command line (SPEC §1) and the options of
// `-p tcpip`, parsed into plain values. Parsing only: nothing here opens,
// loads or starts anything. Errors are messages for the user that name the
// offending option; clamped values produce notes for the log.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kern/result.hh"

namespace iopkt {

// One -d or -p with its comma-separated options (kept as text; drivers parse
// their own, see manager/driver_options.hh).
struct ModuleSpec {
  std::string name;     // as given: "vwire", "/opt/x/devnp-foo.so", "pf-v4"
  std::string options;  // "wire=a,loss=1" or ""
};

// Values of every `-p tcpip` option (SPEC §1), defaults as io-pkt's. `given`
// lists the names the user set, in order, so that the manager can refuse the
// ones not implemented yet by name.
struct TcpipOptions {
  std::optional<int64_t> bigstack;        // bigstack[=bytes]; flag alone = 128 KiB
  std::optional<int64_t> rgroup_allowed;  // rgroup_allowed[=GID]; flag alone = group 0
  std::string endpoint_group;  // endpoint_group=NAME|GID: only its members (and root) connect
  bool bigpage_strict = false;
  bool cache = true;  // cache=0
  bool confstr_monitor = false;
  bool fastforward = false;  // set by forward unless fastforward=0
  bool forward = false;
  bool forward6 = false;     // v6-hc only
  std::string mfib_gid_map;  // raw; validated: "GID=FIB;..." or "GID;GID..."
  std::vector<std::pair<uint32_t, uint32_t>> mfib_map;  // parsed (gid, fib)
  bool ipsec = false;
  int64_t mbuf_cache = 0;   // 0: the pool's default
  int64_t mclbytes = 2048;  // power of two, 2048..16384
  int64_t num_tap_interface = 5;
  int64_t num_tun_control_interface = 4;
  int64_t pagesize = 0;  // 0: the system's
  bool pfil_ipsec = false;
  int64_t pkt_cache = 0;
  std::string pkt_typed_mem;
  std::string prefix;  // endpoint ${prefix}/dev/socket
  bool random = false;
  int64_t recv_ctxt = 65536;  // 2048..512 KiB
  bool reuseport_unicast = false;
  int64_t rx_prio = 21;  // also rx_pulse_prio
  int64_t somaxconn = 128;  // QNX's SOMAXCONN
  bool stackguard = false;
  int64_t stacksize = 8192;
  int64_t threads_incr = 25;
  int64_t threads_max = 200;
  int64_t threads_min = 15;  // min 4
  int64_t timer_pulse_prio = 21;
  bool no_rst_validation = false;
  // io-pkt source extras: reply_ctxt, strict_ts, mtag_cache, timertol,
  // nocryptodev, so_txprio_enable — parsed, recorded in `given`.
  int64_t reply_ctxt = 90;  // reply buffers, 32..512
  bool strict_ts = false;
  int64_t mtag_cache = 0;
  int64_t timertol = 0;  // 0..1000
  bool nocryptodev = false;
  bool so_txprio_enable = false;
  std::vector<std::string> given;  // option names as set, in order
};

struct ManagerOptions {
  int variant = 4;                      // 4: io-pkt-v4-hc, 6: io-pkt-v6-hc
  std::vector<ModuleSpec> drivers;      // -d, in order
  std::vector<ModuleSpec> protocols;    // -p other than tcpip: pf-v4, pf-v6, slip
  int instance = 0;                     // -i
  int priority = 21;                    // -P, QNX scale 1..255
  bool no_segv_handler = false;         // -S
  int threads = 0;                      // -t; 0: one per CPU
  std::string drop_user = "99:99,120";  // -U
  bool foreground = false;              // -f (extension)
  TcpipOptions tcpip;
};

struct ParsedOptions {
  ManagerOptions options;
  std::vector<std::string> notes;  // "recv_ctxt=100 raised to the minimum 2048" ...
};

// argv without argv[0]. The error names the option and says what is wrong.
Result<ParsedOptions, std::string> parse_command_line(int variant,
                                                      std::span<const std::string> args);

// One `-p tcpip` option list ("prefix=/alt,forward"); merges into `out`.
Result<void, std::string> parse_tcpip_options(std::string_view list, int variant, TcpipOptions& out,
                                              std::vector<std::string>& notes);

// Options given that this build does not implement yet: for each, a message
// naming it and the issue that brings it. Empty when all given options take
// effect.
std::vector<std::string> unimplemented_tcpip_options(const TcpipOptions& opts);

// Split a comma-separated option list into key/value pairs ("a=1,b" ->
// {a,1},{b,""}); an empty item (",,", leading or trailing comma) or a space
// anywhere is an error naming the list.
struct OptionItem {
  std::string key;
  std::string value;
  bool has_value = false;
};
Result<std::vector<OptionItem>, std::string> split_option_list(std::string_view list);

// Parse a decimal (or 0x hex) integer, whole string; nullopt if malformed.
std::optional<int64_t> parse_int(std::string_view text);

// --- The table of `-p tcpip` options -----------------------------------------
// One descriptor per option, walked by parse_tcpip_options(); the manager
// registers each as a sysctl node from it. Adding an option is one line in
// options.cc (and a field in TcpipOptions).

enum class TcpipOptionKind : uint8_t {
  kFlag,        // bare name only ("forward"); any value is refused
  kFlagOrBool,  // bare name = on, or =0 / =1 ("fastforward", "bigpage_strict")
  kBool,        // =0 or =1 required ("cache")
  kInt,         // =N required; outside [min, max] clamped with a note
  kIntStrict,   // =N required; outside [min, max] refused (io-pkt ignores it)
  kPow2,        // =N; clamped, then rounded up to a power of two
  kFlagOrInt,   // bare name = default_value, or =N clamped ("bigstack", "rgroup_allowed")
  kString,      // =TEXT, not empty ("pkt_typed_mem")
  kPath,        // =/absolute/path or = (empty) ("prefix")
  kGidFibMap,   // "GID=FIB;GID=FIB..." or "GID;GID..." ("mfib_gid_map")
};

// Whether an option takes effect in this build. Flip one entry's status when
// the feature lands.
enum class TcpipOptionStatus : uint8_t {
  kImplemented,   // takes effect
  kPlanned,       // refused until the work named by `arrives_with` lands
  kNotSupported,  // io-pkt tuning with no counterpart in iopkt; refused
};

struct TcpipOptionInfo {
  std::string_view name;
  TcpipOptionKind kind;
  int64_t min = 0;  // kInt, kIntStrict, kPow2, kFlagOrInt
  int64_t max = 0;
  int64_t default_value = 0;  // also a flag's default (0 or 1)
  bool v6_only = false;       // io-pkt-v6-hc only
  TcpipOptionStatus status = TcpipOptionStatus::kImplemented;
  std::string_view arrives_with;  // kPlanned: the work that brings it;
                                  // kNotSupported: why iopkt has no use for it
  std::string_view description;   // one line, for sysctl and --help
  // Where the value lives; the one matching `kind` is set (none for
  // kFlagOrInt, which is `bigstack`, and kGidFibMap, which is `mfib_map`).
  bool TcpipOptions::*bool_field = nullptr;
  int64_t TcpipOptions::*int_field = nullptr;
  std::optional<int64_t> TcpipOptions::*optional_field = nullptr;  // kFlagOrInt
  std::string TcpipOptions::*string_field = nullptr;
};

// Every `-p tcpip` option, sorted by name. Aliases (rx_pulse_prio) have their
// own entry pointing at the same field.
std::span<const TcpipOptionInfo> tcpip_option_table();

// The descriptor of `name`, or nullptr if there is no such option.
const TcpipOptionInfo* find_tcpip_option(std::string_view name);

// The current value of one option in `opts`, as text ("1", "65536",
// "/alt", "750=1;760=2"; "" for an unset bigstack) — what sysctl shows.
std::string tcpip_option_value_text(const TcpipOptions& opts, const TcpipOptionInfo& info);

// The -U string, checked for syntax only (user names are resolved by the
// manager): "uid[:gid[,sup_gid]*]" or "user_name[,sup_gid]*".
Result<void, std::string> validate_drop_user(std::string_view text);

// Limits of the command line (see options.cc for why).
inline constexpr int kMaxInstance = 999;
inline constexpr int kMinPriority = 1;
inline constexpr int kMaxPriority = 255;
inline constexpr int kMaxThreads = 64;

}  // namespace iopkt
