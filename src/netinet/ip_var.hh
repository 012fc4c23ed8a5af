// netinet/ip_var.hh — IPv4 state and counters (BSD ip_var.h). Every drop
// has a named reason counter, shown by sysctl net.inet.ip.stats.* and, with
// the IPv4 issue, netstat -s.
#pragma once

#include <cstdint>
#include <span>

#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "netinet/in.hh"

namespace iopkt {

class Stack;
class Ifnet;
struct InIfaddr;

struct IpStat {
  uint64_t total = 0;        // packets received
  uint64_t badsum = 0;       // header checksum wrong
  uint64_t tooshort = 0;     // shorter than a header
  uint64_t badhlen = 0;      // IHL < 5 or beyond the packet
  uint64_t badlen = 0;       // total length inconsistent
  uint64_t badvers = 0;      // version != 4
  uint64_t badaddr = 0;      // martian source or destination (RFC 1122 §3.2.1.3)
  uint64_t fragments = 0;    // fragments received (dropped until reassembly lands)
  uint64_t cantforward = 0;  // not for us and forwarding is off
  uint64_t noproto = 0;      // no protocol for the packet
  uint64_t delivered = 0;    // to upper layers
  uint64_t localout = 0;     // packets sent by this host
  uint64_t noroute = 0;      // output: no route
  uint64_t toolong = 0;      // output: larger than the MTU, fragmentation not yet done
  uint64_t odropped = 0;     // output: no buffers
};

struct CounterInfo {
  const char* name;
  uint64_t IpStat::*field;
};
std::span<const CounterInfo> ipstat_fields();

struct IpState {
  IpStat stat;
  uint16_t next_id = 0;
  int64_t default_ttl = 64;  // net.inet.ip.ttl
};

// RFC 791 / RFC 1122 §3.2.1: validate, then deliver locally (forwarding
// arrives with the routing work). Consumes m; `m` starts at the IP header.
void ip_input(Stack& stack, Mbuf m, Ifnet& rcvif) noexcept;

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
};
// Prepends the IPv4 header to the transport payload `m` and sends it.
// Consumes m, even on error.
enum class IpOutputError : uint8_t { kNoRoute, kNoBuffers, kTooBig, kHostUnreach };
int ip_output_errno(IpOutputError e);
struct IpOutputOk {};

Result<IpOutputOk, IpOutputError> ip_output(Stack& stack, Mbuf m, const IpOutputArgs& args) noexcept;

Result<IpRoute, IpOutputError> ip_route_lookup(Stack& stack, InAddr dst, uint32_t fib = 0);

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
