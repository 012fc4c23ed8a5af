// socket/socket.hh — socket objects (BSD struct socket + inpcb for the
// Internet protocols): addresses, options, the receive queue, pending error.
// The client sees a socket through its data channel; the manager moves data
// between that channel and these queues.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>

#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "netinet/in.hh"

namespace iopkt {

class TcpCb;  // netinet/tcp_var.hh

class Ifnet;

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

// What a received datagram's IP header and arrival said, kept for the
// ancillary data a socket may ask for (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS).
struct DgramRecvInfo {
  InAddr dst;            // the header's destination (in_pktinfo.ipi_addr)
  InAddr spec_dst;       // our address it was for (ipi_spec_dst)
  uint32_t ifindex = 0;  // the interface it arrived on (ipi_ifindex)
  uint8_t ttl = 0, tos = 0;
};
// From the IP header (at least 20 bytes) and the arrival interface (null:
// unknown). As Linux's fib_compute_spec_dst: a unicast datagram's spec_dst
// is its destination; a broadcast or multicast one's is our address on the
// arrival interface, the one on the sender's subnet first.
DgramRecvInfo ip_recv_info(std::span<const std::byte> iphdr, const Ifnet* rcvif);

struct Datagram {
  Mbuf data;
  SockAddr from;
  DgramRecvInfo info;
};

// Per-datagram options a sendmsg carried as ancillary data (Linux
// ip_cmsg_send); they override the socket's for that datagram only.
struct DgramSendOpts {
  bool pktinfo = false;  // IP_PKTINFO given: `src` replaces the bound address
  InAddr src;            // ipi_spec_dst; any(): the route chooses
  uint32_t ifindex = 0;  // ipi_ifindex; 0: the route chooses
  int ttl = -1;          // IP_TTL 1..255; -1: the socket's
  int tos = -1;          // IP_TOS 0..255; -1: the socket's
};
// Adds one control message of a send (level, type and the cmsg data as
// Linux lays it out) to `opts`. EINVAL as Linux: a level other than
// IPPROTO_IP, an unknown type, a wrong length or value; a multicast,
// broadcast or 0/8 source.
Result<void, Errno> ip_cmsg_send(DgramSendOpts& opts, int level, int type,
                                 std::span<const std::byte> data);

// Socket option bits (SOL_SOCKET booleans we carry).
inline constexpr uint32_t kSoReuseAddr = 0x1;
inline constexpr uint32_t kSoReusePort = 0x2;
inline constexpr uint32_t kSoBroadcast = 0x4;
inline constexpr uint32_t kSoDontRoute = 0x8;
inline constexpr uint32_t kSoKeepAlive = 0x10;

// Ancillary data a socket asks for on receive (BSD inp_flags INP_RECV*).
inline constexpr uint32_t kInpRecvPktinfo = 0x1;  // IP_PKTINFO
inline constexpr uint32_t kInpRecvTtl = 0x2;      // IP_RECVTTL
inline constexpr uint32_t kInpRecvTos = 0x4;      // IP_RECVTOS

class Socket {
 public:
  SocketId id = 0;
  int domain = 0;    // AF_INET, AF_INET6
  int type = 0;      // SOCK_DGRAM, ...
  int protocol = 0;  // IPPROTO_UDP, ...
  // Raw and echo (ping) sockets use inp.faddr alone for "connected"; an
  // echo socket's lport is its ICMP identifier.
  InPcb inp;
  uint32_t options = 0;                               // kSo*
  int so_error = 0;                                   // pending asynchronous error (SO_ERROR)
  bool rcvbuf_locked = false, sndbuf_locked = false;  // SO_RCVBUF/SO_SNDBUF set: no auto-tuning
  int linger = -1;  // SO_LINGER seconds, -1 off (TCP; a close with l_linger > 0 waits in libiopkt)
  bool cant_send = false, cant_recv = false;  // after shutdown
  uint8_t ip_ttl = 64, ip_tos = 0;
  // The routing table this socket's traffic uses: chosen when it is created
  // from its creator's groups (tcpip mfib_gid_map), 0 otherwise.
  uint32_t fib = 0;
  bool hdrincl = false;    // raw sockets: the caller writes the IP header (IP_HDRINCL)
  uint32_t inp_flags = 0;  // kInpRecv*

  // Receive queue (datagram sockets): whole datagrams, bytes counted
  // against rcv_hiwat as BSD's sbspace; a datagram that does not fit is
  // dropped and counted (UDP "full socket" drops).
  std::deque<Datagram> rcv;
  size_t rcv_cc = 0;
  size_t rcv_hiwat = 212992;  // Linux's default rmem
  size_t snd_hiwat = 212992;
  uint64_t rcv_drops = 0;

  bool event_pending = false;  // queued on the stack's socket-event list
  // SOCK_STREAM: TCP's control block, owned by Stack::tcp (tcp_var.hh).
  TcpCb* tcb = nullptr;
};

}  // namespace iopkt
