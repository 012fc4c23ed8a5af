// netinet/udp_var.hh — UDP state and counters (BSD udp_var.h).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "netinet/in.hh"
#include "socket/socket.hh"

namespace iopkt {

class Stack;
class Ifnet;

struct UdpStat {
  uint64_t ipackets = 0;     // datagrams received
  uint64_t hdrops = 0;       // shorter than a header
  uint64_t badlen = 0;       // length field inconsistent
  uint64_t badsum = 0;       // checksum wrong
  uint64_t noport = 0;       // no socket on the port
  uint64_t noportbcast = 0;  // no socket, broadcast or multicast
  uint64_t fullsock = 0;     // receive queue full
  uint64_t opackets = 0;     // datagrams sent
  uint64_t icmperr = 0;      // ICMP errors reported to a connected socket (so_error)
  uint64_t icmpnomatch = 0;  // ICMP errors about no socket of ours, or not acted on
};

struct UdpCounterInfo {
  const char* name;
  uint64_t UdpStat::*field;
};
std::span<const UdpCounterInfo> udpstat_fields();

struct UdpState {
  UdpStat stat;
  // Bound sockets by local port (BSD's inpcb hash, one bucket a port).
  std::unordered_map<uint16_t, std::vector<Socket*>> by_port;
  int64_t anonportmin = 49152, anonportmax = 65535;  // RFC 6335 dynamic range
  int64_t recvspace = 212992;                        // net.inet.udp.recvspace
  int64_t sendspace = 65535;                         // largest datagram accepted
  // net.inet.udp.reuseport_unicast (tcpip reuseport_unicast, SPEC §1): a
  // unicast datagram to a port whose sockets set SO_REUSEPORT goes to all
  // of them, as broadcast and multicast always do; off, to one.
  int64_t reuseport_unicast = 0;
};

// `m` starts at the IP header (`iphlen` bytes, validated by ip_input), so
// that a port unreachable can quote it.
void udp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept;
// An ICMP error (RFC 1122 §4.1.3.3) about a datagram we sent: `quoted` is
// its IP header and at least the 8-byte UDP header.
void udp_ctlinput(Stack& stack, uint8_t type, uint8_t code,
                  std::span<const std::byte> quoted) noexcept;
Result<void, Errno> udp_bind(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> udp_connect(Stack& stack, Socket& so, const SockAddr& addr);
// `opts`: the sendmsg's ancillary data, null when it carried none.
Result<void, Errno> udp_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to,
                             const DgramSendOpts* opts = nullptr);
void udp_detach(Stack& stack, Socket& so);

// The IP-level choices of one send from a datagram socket (UDP, raw and
// echo sockets; socket/uipc_socket.cc): source, TTL and TOS from the socket
// unless `opts` overrides them, and the route when the source must be
// chosen or IP_PKTINFO named the outgoing interface. Fills args (all but
// protocol and df); args.route points at `route` when one was looked up.
// ENETUNREACH for a source not ours, ENODEV for no such interface, as Linux.
struct IpOutputArgs;
struct IpRoute;
Result<void, Errno> in_send_route(Stack& stack, const Socket& so, const DgramSendOpts* opts,
                                  InAddr dst, IpOutputArgs& args, IpRoute& route);

}  // namespace iopkt
