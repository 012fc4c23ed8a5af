// netinet/ip_var.hh — IPv4 state and counters (BSD ip_var.h). Every drop
// has a named reason counter, shown by sysctl net.inet.ip.stats.* and, with
// the IPv4 issue, netstat -s.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "kern/time.hh"
#include "netinet/icmp_var.hh"
#include "netinet/igmp.hh"
#include "netinet/in.hh"
#include "netinet/in_mcast.hh"

namespace iopkt {

struct DgramSendOpts;  // socket/socket.hh
class Socket;
struct SockAddr;

// Where a datagram of a raw or ICMP echo socket goes: `to` when given, else
// the connected address. EPIPE after shutdown, EAFNOSUPPORT, EDESTADDRREQ.
Result<InAddr, Errno> in_send_destination(const Socket& so, const SockAddr* to);

class Stack;
class Ifnet;
class Socket;
struct InIfaddr;
struct SockAddr;

struct IpStat {
  uint64_t total = 0;        // packets received
  uint64_t badsum = 0;       // header checksum wrong
  uint64_t tooshort = 0;     // shorter than a header
  uint64_t badhlen = 0;      // IHL < 5 or beyond the packet
  uint64_t badlen = 0;       // total length inconsistent
  uint64_t badvers = 0;      // version != 4
  uint64_t badaddr = 0;      // martian source or destination (RFC 1122 §3.2.1.3)
  uint64_t fragments = 0;    // fragments received
  uint64_t cantforward = 0;  // not for us and forwarding is off
  uint64_t noproto = 0;      // no protocol for the packet
  uint64_t delivered = 0;    // to upper layers
  uint64_t localout = 0;     // packets sent by this host
  uint64_t noroute = 0;      // output: no route
  uint64_t toolong = 0;      // output: larger than 65535 bytes
  uint64_t odropped = 0;     // output: no buffers
  // Options (RFC 791 §3.1, RFC 1122 §3.2.1.8).
  uint64_t badoptions = 0;  // malformed options: parameter problem sent
  uint64_t srcroute = 0;    // source route still to be followed: this host does not forward
  // Reassembly (ip_reass.cc, RFC 791 §3.2, RFC 815).
  uint64_t fragdropped = 0;  // fragments dropped, for any reason below
  uint64_t fragtimeout = 0;  // datagrams given up after net.inet.ip.fragttl
  uint64_t reassembled = 0;  // datagrams reassembled
  uint64_t fragoverlap = 0;  // datagrams dropped for overlapping fragments
  uint64_t fragdup = 0;      // exact duplicate fragments (dropped, harmless)
  uint64_t fragmemdrop = 0;  // fragments dropped by the memory or queue limits
  uint64_t fragtoolong = 0;  // datagrams that would exceed 65535 bytes
  uint64_t fragbad = 0;      // zero length, not a multiple of 8, or inconsistent end
  uint64_t fragtiny = 0;     // tiny-fragment attack shapes (RFC 1858 §3)
  // Fragmentation on output (ip_output.cc).
  uint64_t fragmented = 0;  // datagrams fragmented
  uint64_t ofragments = 0;  // fragments sent
  uint64_t cantfrag = 0;    // too big for the MTU with DF set: EMSGSIZE
  uint64_t rawfull = 0;     // copies a raw socket had no room for
  // Multicast (in_mcast.cc).
  uint64_t notmember = 0;    // to a group not joined on the receiving interface
  uint64_t srcfiltered = 0;  // from a source the interface's filter excludes (RFC 3376 §3.2)
  uint64_t mcastlooped = 0;  // copies of our multicast delivered locally (IP_MULTICAST_LOOP)
};

struct CounterInfo {
  const char* name;
  uint64_t IpStat::*field;
};
std::span<const CounterInfo> ipstat_fields();

// A datagram being reassembled is keyed by (src, dst, protocol, id),
// RFC 791 §3.2.
struct IpReassKey {
  uint32_t src = 0, dst = 0;
  uint16_t id = 0;
  uint8_t proto = 0;
  auto operator<=>(const IpReassKey&) const = default;
};
struct IpFragment {
  uint32_t off = 0, end = 0;  // payload bytes [off, end) of the datagram
  uint8_t hlen = 0;           // IP header length of this fragment
  Mbuf m;                     // the whole fragment as received, IP header included
};
struct IpReassQueue {
  std::vector<IpFragment> frags;  // sorted by off, never overlapping
  uint32_t total = 0;             // payload length, known once the last fragment came
  bool have_last = false;
  Instant expire{};
  size_t mem = 0;  // charged against IpReassState::mem
};
struct IpReassState {
  std::map<IpReassKey, IpReassQueue> queues;
  size_t mem = 0;                  // bytes charged by every queue
  std::unique_ptr<Callout> timer;  // the earliest expiry; created on first use
  int64_t fragttl = 30;  // net.inet.ip.fragttl, seconds (RFC 791 §3.2 suggests 15; Linux 30)
  int64_t maxfragpackets = 256;  // net.inet.ip.maxfragpackets: datagrams at once (NetBSD 200)
  int64_t maxfragsperpacket =
      64;  // net.inet.ip.maxfragsperpacket: a 64 KB datagram over 1500 needs 45
  int64_t maxfragmem = 4 << 20;  // net.inet.ip.maxfragmem: bytes (Linux ipfrag_high_thresh)
};

struct IpState {
  IpStat stat;
  uint16_t next_id = 0;
  int64_t default_ttl = 64;  // net.inet.ip.ttl
  IcmpState icmp;
  IpReassState reass;
  std::vector<Socket*> raw_sockets;  // SOCK_RAW, in creation order
  InMcastState mcast;                // group memberships (in_mcast.cc)
  IgmpState igmp;                    // IGMP host state (igmp.cc)
};

// Reassembly (ip_reass.cc). `m` is a fragment addressed to this host, at
// its IP header, header and options already validated. Returns the whole
// datagram (header rewritten: no MF, offset 0, new length and checksum)
// when this fragment completes it, else an empty Mbuf (kept or dropped).
Mbuf ip_reass(Stack& stack, Mbuf m) noexcept;
// Free every queue and the timer (Stack's destructor, before the pool and
// the callout wheel go).
void ip_reass_drain(Stack& stack) noexcept;

// RFC 791 / RFC 1122 §3.2.1: validate, then deliver locally (forwarding
// arrives with the routing work). Consumes m; `m` starts at the IP header.
void ip_input(Stack& stack, Mbuf m, Ifnet& rcvif) noexcept;

// Local delivery of a whole datagram (after reassembly): raw sockets, then
// the transport protocol, or protocol unreachable. `m` at the IP header.
void ip_deliver(Stack& stack, Mbuf m, Ifnet& rcvif) noexcept;

// The route for a destination in FIB `fib` (ip_route.cc): this host's own
// addresses and 127/8 go through lo0, as BSD routes local addresses through
// the loopback; the limited broadcast goes out on the first broadcast-capable
// interface; anything else follows the longest matching route.
struct IpRoute {
  Ifnet* ifp = nullptr;
  InAddr src;
  InAddr nexthop;  // the gateway, or the destination itself on a connected subnet
  uint32_t mtu = 0;
  bool blackhole = false;
};
struct IpOutputArgs {
  InAddr src;  // any(): choose from the outgoing interface
  InAddr dst;
  uint32_t fib = 0;
  // A route the caller already looked up (to choose the source), so that
  // a packet costs one lookup; null: ip_output looks it up.
  const IpRoute* route = nullptr;
  uint8_t protocol = 0;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  bool df = false;  // set Don't Fragment: too big for the route is EMSGSIZE
  // To a multicast group: the interface (0: by route, in_mcast_route), and
  // whether a copy is delivered here when the interface is a member
  // (IP_MULTICAST_LOOP, RFC 1112 §6.3).
  uint32_t mcast_ifindex = 0;
  bool mcast_loop = true;
  bool router_alert = false;  // carry the Router Alert option (RFC 2113; IGMP, RFC 3376 §4)
};
// Prepends the IPv4 header to the transport payload `m` and sends it,
// in fragments when it is larger than the route's MTU (RFC 791 §3.2); no
// IP options are emitted. Consumes m, even on error. kTooBig: over 65535
// bytes, or over the MTU with df.
enum class IpOutputError : uint8_t { kNoRoute, kNoBuffers, kTooBig, kHostUnreach };
int ip_output_errno(IpOutputError e);
struct IpOutputOk {};

Result<IpOutputOk, IpOutputError> ip_output(Stack& stack, Mbuf m,
                                            const IpOutputArgs& args) noexcept;

// Sends a packet whose header the caller wrote (IP_HDRINCL): the header
// must be complete with a total length equal to m.len(); a zero source is
// filled from the route, a zero id chosen, the checksum computed (as
// Linux). Routed by the header's destination. Fragments unless DF is set.
Result<IpOutputOk, IpOutputError> ip_output_hdrincl(Stack& stack, Mbuf m, uint32_t fib) noexcept;

// Raw IP sockets (raw_ip.cc, BSD rip_*). rip_input gives every raw socket
// of the packet's protocol a copy of `m` (at the IP header, header
// included, as BSD and Linux); true if one took it.
bool rip_input(Stack& stack, const Mbuf& m, InAddr src, InAddr dst, uint8_t proto) noexcept;
Result<void, Errno> rip_attach(Stack& stack, Socket& so);
Result<void, Errno> rip_bind(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> rip_connect(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> rip_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to);
// With per-datagram options (IP_PKTINFO, IP_TTL, IP_TOS ancillary data).
Result<void, Errno> rip_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to,
                             const DgramSendOpts* opts);
void rip_detach(Stack& stack, Socket& so);

Result<IpRoute, IpOutputError> ip_route_lookup(Stack& stack, InAddr dst, uint32_t fib = 0);
// The interface for a datagram to multicast `group` (in_mcast.cc): the one
// named by `ifindex`, else the one holding `ifaddr`, else the route to the
// group (which may be the default route), else the first multicast-capable
// interface that is up. The next hop is the group itself; the source the
// interface's address for `ifaddr`, else its primary (0.0.0.0 without one,
// as RFC 3376 §4.2.13 allows for IGMP).
Result<IpRoute, IpOutputError> in_mcast_route(Stack& stack, InAddr group, uint32_t ifindex,
                                              InAddr ifaddr, uint32_t fib = 0);
// Fills `args` (route, source, TTL, loop) for a datagram from `so` to the
// group args.dst, as Linux udp_sendmsg does: the interface is `ifindex`
// (IP_PKTINFO) or IP_MULTICAST_IF's, else the one holding args.src or
// IP_MULTICAST_IF's address, else by route; the TTL is IP_MULTICAST_TTL
// unless the datagram carried its own (`ttl_given`). `route` receives the
// route args.route then points at. ENETUNREACH when there is none.
Result<void, Errno> in_mcast_send_route(Stack& stack, const Socket& so, uint32_t ifindex,
                                        bool ttl_given, IpOutputArgs& args, IpRoute& route);

// Routes a user adds, changes and deletes (route(8)). A gateway must be on a
// connected subnet (else ENETUNREACH); the interface is then found from it.
struct Rtentry;
Result<void, Errno> in_route_add(Stack& stack, uint32_t fib, Rtentry rt);
Result<void, Errno> in_route_change(Stack& stack, uint32_t fib, Rtentry rt);
Result<void, Errno> in_route_delete(Stack& stack, uint32_t fib, InAddr dst, uint8_t prefixlen);
// The connected route of an interface address, kept with the address.
void in_ifaddr_route_add(Stack& stack, Ifnet& ifp, const InIfaddr& ia);
void in_ifaddr_route_remove(Stack& stack, Ifnet& ifp, const InIfaddr& ia);

}  // namespace iopkt
