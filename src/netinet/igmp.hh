// netinet/igmp.hh — IGMP, the host side: IGMPv3 (RFC 3376 §4, §5, §7) by
// default, IGMPv2 (RFC 2236 §2, §3) and IGMPv1 (RFC 1112 appendix I) when
// an older querier is heard. The wire format, the counters, the
// per-interface state, and the calls in_mcast.cc and ip_input make.
//
// Read RFC 3376 §5 and §7 before changing igmp.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "kern/time.hh"
#include "netinet/in.hh"

namespace iopkt {

class Stack;
class Ifnet;
struct InMulti;
struct InFilter;

inline constexpr uint8_t kIpProtoIgmp = 2;

// Message types (RFC 3376 §4, RFC 2236 §2.1, RFC 1112 appendix I).
inline constexpr uint8_t kIgmpQuery = 0x11;
inline constexpr uint8_t kIgmpV1Report = 0x12;
inline constexpr uint8_t kIgmpV2Report = 0x16;
inline constexpr uint8_t kIgmpV2Leave = 0x17;
inline constexpr uint8_t kIgmpV3Report = 0x22;

// Group record types of an IGMPv3 report (RFC 3376 §4.2.12).
inline constexpr uint8_t kIgmpModeIsInclude = 1;
inline constexpr uint8_t kIgmpModeIsExclude = 2;
inline constexpr uint8_t kIgmpChangeToInclude = 3;
inline constexpr uint8_t kIgmpChangeToExclude = 4;
inline constexpr uint8_t kIgmpAllowNewSources = 5;
inline constexpr uint8_t kIgmpBlockOldSources = 6;

inline constexpr size_t kIgmpMinLen = 8;       // v1/v2 messages, the v3 report header
inline constexpr size_t kIgmpV3QueryLen = 12;  // without sources

// Max Resp Code and QQIC (RFC 3376 §4.1.1, §4.1.7): below 128 the value
// itself; above, a floating point number (mant | 0x10) << (exp + 3).
uint32_t igmp_decode_code(uint8_t code);

struct IgmpStat {
  uint64_t total = 0;          // messages received
  uint64_t tooshort = 0;       // shorter than 8 bytes
  uint64_t badsum = 0;         // checksum wrong
  uint64_t badttl = 0;         // IP TTL not 1 (RFC 3376 §4, RFC 2236 §2)
  uint64_t badlen = 0;         // a query of a length no version has, or sources past the end
  uint64_t badqueries = 0;     // general query not to 224.0.0.1 (RFC 3376 §9.1), bad group
  uint64_t v1_queries = 0;     // IGMPv1 queries received
  uint64_t v2_queries = 0;     // IGMPv2 queries received
  uint64_t v3_queries = 0;     // IGMPv3 queries received
  uint64_t gen_queries = 0;    // general queries acted on
  uint64_t group_queries = 0;  // group-specific queries acted on
  uint64_t gsr_queries = 0;    // group-and-source-specific queries acted on
  uint64_t reports = 0;        // IGMPv1/v2 reports received
  uint64_t badreports = 0;  // reports whose group is not a multicast address or not the destination
  uint64_t ourreports =
      0;                 // reports for a group we answer for: our report suppressed (RFC 2236 §3)
  uint64_t ignored = 0;  // leaves and IGMPv3 reports: for routers, not hosts
  uint64_t unknown = 0;  // types a host does not know (raw sockets still see them)
  uint64_t snd_reports = 0;  // reports sent (any version)
  uint64_t snd_leaves = 0;   // IGMPv2 leaves sent
  uint64_t snd_dropped = 0;  // not sent: no route, no buffers, interface down
};
struct IgmpCounterInfo {
  const char* name;
  uint64_t IgmpStat::*field;
};
std::span<const IgmpCounterInfo> igmpstat_fields();

// Per interface (FreeBSD igmp_ifsoftc): the compatibility mode and what
// the querier told us.
struct IgmpIfState {
  // RFC 3376 §7.2.1: Older Version Querier Present timers.
  Instant v1_until{}, v2_until{};
  // Querier's Robustness Variable and Query Interval (RFC 3376 §4.1.6,
  // §4.1.7, §8.1, §8.2), adopted from its queries.
  int robustness = 2;
  uint32_t query_interval_s = 125;
  // The interface timer: the answer to a general query (RFC 3376 §5.2).
  std::unique_ptr<Callout> timer;
  // Fires when an older-version querier timer expires (mode change).
  std::unique_ptr<Callout> compat_timer;
  int mode = 3;  // the compatibility mode last acted on
};

struct IgmpState {
  IgmpStat stat;
  // net.inet.igmp.version: the highest version this host speaks (Linux
  // force_igmp_version, FreeBSD net.inet.igmp.default_version).
  int64_t version = 3;
  std::map<uint32_t, std::unique_ptr<IgmpIfState>> ifs;  // by interface index
};

// A whole IGMP message (`m` at the IP header, `iphlen` validated by
// ip_input). Consumes m.
void igmp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept;
// The reception state of `inm` changed from `old` to inm.filter (RFC 3376
// §5.1): tell the routers. May delete `inm` (a leave with nothing owed).
void igmp_change(Stack& stack, InMulti& inm, const InFilter& old) noexcept;
// The compatibility mode of an interface (1, 2 or 3), RFC 3376 §7.2.1.
int igmp_mode(Stack& stack, uint32_t ifindex);
// Forget an interface's IGMP state.
void igmp_ifdetach(Stack& stack, uint32_t ifindex) noexcept;

}  // namespace iopkt
