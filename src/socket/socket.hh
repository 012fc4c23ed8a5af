// socket/socket.hh — socket objects (BSD struct socket + inpcb for the
// Internet protocols): addresses, options, the receive queue, pending error.
// The client sees a socket through its data channel; the manager moves data
// between that channel and these queues.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "kern/mbuf.hh"
#include "netinet/in.hh"

namespace iopkt {

using SocketId = uint32_t;

// A socket address of either family; port in host order.
struct SockAddr {
  uint16_t family = 0;  // AF_UNSPEC, AF_INET, AF_INET6
  uint16_t port = 0;
  InAddr in;
  In6Addr in6;
  uint32_t scope_id = 0;
  uint32_t flowinfo = 0;

  static SockAddr inet(InAddr a, uint16_t port);
};

// The Internet protocol control block (BSD inpcb): the 4-tuple.
struct InPcb {
  InAddr laddr, faddr;
  uint16_t lport = 0, fport = 0;
  bool bound() const { return lport != 0; }
  bool connected() const { return fport != 0; }
};

struct Datagram {
  Mbuf data;
  SockAddr from;
};

// Socket option bits (SOL_SOCKET booleans we carry).
inline constexpr uint32_t kSoReuseAddr = 0x1;
inline constexpr uint32_t kSoReusePort = 0x2;
inline constexpr uint32_t kSoBroadcast = 0x4;
inline constexpr uint32_t kSoDontRoute = 0x8;
inline constexpr uint32_t kSoKeepAlive = 0x10;

class Socket {
 public:
  SocketId id = 0;
  int domain = 0;    // AF_INET, AF_INET6
  int type = 0;      // SOCK_DGRAM, ...
  int protocol = 0;  // IPPROTO_UDP, ...
  // Raw and echo (ping) sockets use inp.faddr alone for "connected"; an
  // echo socket's lport is its ICMP identifier.
  InPcb inp;
  uint32_t options = 0;                       // kSo*
  int so_error = 0;                           // pending asynchronous error (SO_ERROR)
  bool cant_send = false, cant_recv = false;  // after shutdown
  uint8_t ip_ttl = 64, ip_tos = 0;
  bool hdrincl = false;  // raw sockets: the caller writes the IP header (IP_HDRINCL)

  // Receive queue (datagram sockets): whole datagrams, bytes counted
  // against rcv_hiwat as BSD's sbspace; a datagram that does not fit is
  // dropped and counted (UDP "full socket" drops).
  std::deque<Datagram> rcv;
  size_t rcv_cc = 0;
  size_t rcv_hiwat = 212992;  // Linux's default rmem
  size_t snd_hiwat = 212992;
  uint64_t rcv_drops = 0;

  bool event_pending = false;  // queued on the stack's socket-event list
};

}  // namespace iopkt
