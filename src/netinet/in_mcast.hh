// netinet/in_mcast.hh — IPv4 multicast group membership (BSD in_mcast.c,
// RFC 1112 §4 and §7, RFC 3376 §2 and §3): the socket options that join and
// leave groups and set the sending interface, TTL and loopback; the
// per-socket source filters; and the per-interface reception state that
// merges them (RFC 3376 §3.2), which IGMP (igmp.cc) reports to routers and
// IPv4 and Ethernet input consult.
//
// Read RFC 3376 §3 before changing in_mcast.cc. Error numbers follow Linux
// (do_ip_setsockopt, ip_mc_join_group, ip_mc_source), since our clients are
// Linux programs; where Linux has no rule, FreeBSD's in_mcast.c gives it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kern/callout.hh"
#include "kern/result.hh"
#include "netinet/in.hh"

namespace iopkt {

class Stack;
class Ifnet;
class Socket;

// 224.0.0.1, the all-systems group: every multicast interface is a member,
// and it is never reported (RFC 1112 §4, RFC 3376 §5).
inline constexpr InAddr kInAllHostsGroup = InAddr::from_octets(224, 0, 0, 1);
// 224.0.0.2, where IGMPv2 Leave Group messages go (RFC 2236 §3).
inline constexpr InAddr kInAllRoutersGroup = InAddr::from_octets(224, 0, 0, 2);
// 224.0.0.22, where IGMPv3 reports go (RFC 3376 §4.2.14).
inline constexpr InAddr kInAllRtrsV3Group = InAddr::from_octets(224, 0, 0, 22);

// A source filter, RFC 3376 §3.1: INCLUDE(list) admits only the sources in
// the list, EXCLUDE(list) every source but those. An any-source join is
// EXCLUDE{}; "not a member" is INCLUDE{}.
enum class McastMode : uint8_t { kInclude, kExclude };
struct InFilter {
  McastMode mode = McastMode::kInclude;
  std::vector<InAddr> sources;  // sorted, no duplicates
  bool admits(InAddr src) const;
  bool is_none() const { return mode == McastMode::kInclude && sources.empty(); }
  friend bool operator==(const InFilter&, const InFilter&) = default;
};

// One group on one interface (BSD in_multi): the reception state merged
// from every socket's membership, and the IGMP host state of the group.
// A record whose last socket left stays (refcount 0, filter INCLUDE{})
// while IGMPv3 retransmits the leave (RFC 3376 §5.1).
struct InMulti {
  InAddr group;
  uint32_t ifindex = 0;
  uint32_t refcount = 0;  // socket memberships
  InFilter filter;        // RFC 3376 §3.2, recomputed on every change

  // IGMP (igmp.cc). `timer` is the group timer: the delayed answer to a
  // query, and in IGMPv1/v2 mode the report delay (RFC 2236 §3). `rexmt`
  // paces unsolicited reports: IGMPv3 state-change retransmissions, and
  // the repeats of an IGMPv1/v2 join.
  std::unique_ptr<Callout> timer;
  std::unique_ptr<Callout> rexmt;
  // A group-and-source-specific query being answered: the queried sources
  // (RFC 3376 §5.2 rules 3-5); empty: the answer is about the whole group.
  std::vector<InAddr> query_sources;
  // RFC 3376 §5.1: transmissions still owed for the last filter-mode
  // change and for each source allowed or blocked.
  int mode_rexmt = 0;
  std::map<uint32_t, int> allow_rexmt, block_rexmt;
  int unsolicited_left = 0;    // IGMPv1/v2: repeats of the join report
  bool last_reporter = false;  // IGMPv2: we sent the latest report (RFC 2236 §3)
};

// One membership of one socket (BSD in_mfilter with its group).
struct ImMembership {
  InAddr group;
  uint32_t ifindex = 0;
  InFilter filter;
};

// A socket's multicast options (BSD ip_moptions, Linux inet_sock mc_*).
struct InpMoptions {
  uint32_t if_index = 0;  // IP_MULTICAST_IF; 0: choose by route
  InAddr if_addr;         // as given to IP_MULTICAST_IF (getsockopt returns it)
  uint8_t ttl = 1;        // IP_MULTICAST_TTL, RFC 1112 §6.1: 1 unless asked
  bool loop = true;       // IP_MULTICAST_LOOP, RFC 1112 §6.3
  bool all = true;        // IP_MULTICAST_ALL (Linux)
  std::vector<ImMembership> memberships;
};

struct InMcastState {
  std::map<std::pair<uint32_t, uint32_t>, std::unique_ptr<InMulti>> groups;  // (ifindex, group)
  std::unordered_map<uint32_t, InpMoptions> sockets;  // by SocketId; created on first use
  // net.inet.ip.mcast.maxgrppcb: memberships per socket (Linux
  // igmp_max_memberships, 20); beyond it ENOBUFS.
  int64_t maxgrppcb = 20;
  // net.inet.ip.mcast.maxsocksrc: sources per membership filter (Linux
  // igmp_max_msf, 10); beyond it ENOBUFS.
  int64_t maxsocksrc = 10;
};

// --- socket options (IPPROTO_IP level) ---
// True for the options in_mcast_setsockopt/getsockopt serve.
bool in_mcast_is_option(int name);
Result<void, Errno> in_mcast_setsockopt(Stack& stack, Socket& so, int name,
                                        std::span<const std::byte> val);
Result<std::vector<std::byte>, Errno> in_mcast_getsockopt(Stack& stack, const Socket& so, int name,
                                                          size_t len);
// The socket is closing: leave its groups (RFC 1112 §7.2: memberships end
// with the socket).
void in_mcast_sofree(Stack& stack, const Socket& so);
// An interface is going: its groups, IGMP state and the memberships on it.
void in_mcast_ifdetach(Stack& stack, uint32_t ifindex);

// --- what sockets send with ---
struct InMcastSend {
  uint32_t ifindex = 0;  // IP_MULTICAST_IF, 0: by route
  InAddr if_addr;
  uint8_t ttl = 1;
  bool loop = true;
};
InMcastSend in_mcast_send_options(Stack& stack, const Socket& so);

// --- input ---
// The group record of `group` on interface `ifindex`, or null.
InMulti* in_mcast_find(Stack& stack, uint32_t ifindex, InAddr group);
// Does interface `ifp` receive `group` from `src`? 224.0.0.1 always; else
// a socket joined it there and the merged filter admits `src` — or, for
// IGMP (`igmp`), whatever the filter: a querier is rarely an admitted
// source (Linux ip_check_mc_rcu).
bool in_mcast_accepts(Stack& stack, const Ifnet& ifp, InAddr group, InAddr src, bool igmp = false);
// Does socket `so`, bound to the wildcard or the group, take a datagram
// for `group` from `src` that arrived on `ifindex`? Its own filter decides
// when it joined the group there; otherwise IP_MULTICAST_ALL (Linux
// ip_mc_sf_allow).
bool in_mcast_socket_accepts(Stack& stack, const Socket& so, InAddr group, InAddr src,
                             uint32_t ifindex);
// Is the Ethernet group address `mac` one this interface listens to
// (RFC 1112 §6.4 mapping of its IPv4 groups), or is it promiscuous or
// all-multicast?
bool ether_mcast_accepts(Stack& stack, const Ifnet& ifp, std::span<const std::byte> mac);

// net.inet.ip.mcast.*, net.inet.igmp.* and net.inet.udp.reuseport_unicast.
// Safe to call twice (the second call adds nothing).
void in_mcast_register_sysctls(Stack& stack);

}  // namespace iopkt
