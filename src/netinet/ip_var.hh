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

struct IpOutputArgs {
  InAddr src;  // any(): choose from the outgoing interface
  InAddr dst;
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

// The route lookup for a destination: the interface, the source address it
// would use and the next hop. Today: this host's own addresses and 127/8 go
// through lo0; a destination on a connected subnet (or the limited
// broadcast) goes out on that interface; the routing table with gateways
// arrives with the IPv4 issue, and until then anything else is unreachable.
struct IpRoute {
  Ifnet* ifp = nullptr;
  InAddr src;
  InAddr nexthop;  // the destination itself on a connected subnet
};
Result<IpRoute, IpOutputError> ip_route_lookup(Stack& stack, InAddr dst);

}  // namespace iopkt
