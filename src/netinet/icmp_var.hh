// netinet/icmp_var.hh — ICMP state and counters (BSD icmp_var.h), and the
// ICMP echo ("ping") datagram sockets of Linux. The state lives in IpState
// (stack.ip.icmp); counters show under net.inet.icmp.stats.*.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "kern/time.hh"
#include "netinet/in.hh"
#include "netinet/ip_icmp.hh"

namespace iopkt {

struct DgramSendOpts;  // socket/socket.hh

class Stack;
class Ifnet;
class Socket;
struct SockAddr;

struct IcmpStat {
  // --- input ---
  uint64_t received = 0;  // messages handed to ICMP
  uint64_t tooshort = 0;  // shorter than the 8-byte header
  uint64_t checksum = 0;  // checksum wrong
  uint64_t badcode = 0;   // code not defined for the type
  uint64_t badtype = 0;   // type this stack does not know (passed to raw sockets only)
  uint64_t badlen = 0;    // an error whose quoted header is short or malformed
  uint64_t bmcastecho =
      0;                 // echo to a broadcast/multicast address refused (net.inet.icmp.bmcastecho)
  uint64_t reflect = 0;  // echo replies sent
  uint64_t ignored = 0;  // understood but not acted on (quench, redirect, mask, timestamp)
  uint64_t badmtu = 0;   // fragmentation needed with an impossible MTU (< 68), ignored
  uint64_t pmtuchg = 0;  // fragmentation needed with a usable MTU (stored with TCP, issue 5)
  uint64_t ctlinput = 0;  // errors passed to a transport protocol
  // --- errors this host generates (icmp_error) ---
  uint64_t error = 0;        // icmp_error calls
  uint64_t oldicmp = 0;      // not sent: about an ICMP error
  uint64_t oldshort = 0;     // not sent: original too short to quote
  uint64_t bmcast = 0;       // not sent: to a broadcast/multicast destination or link broadcast
  uint64_t badsrc = 0;       // not sent: the source is not a unicast host address
  uint64_t fragment = 0;     // not sent: about a non-first fragment
  uint64_t ratelimited = 0;  // not sent: over net.inet.icmp.errppslimit
  uint64_t odropped = 0;     // not sent: no route or no buffers
  std::array<uint64_t, kIcmpMaxType + 1> inhist{};   // received, by type
  std::array<uint64_t, kIcmpMaxType + 1> outhist{};  // sent, by type
};

struct IcmpCounterInfo {
  const char* name;
  uint64_t IcmpStat::*field;
};
std::span<const IcmpCounterInfo> icmpstat_fields();
// "unreach", "echo", ... for the histogram sysctls; nullptr for a gap.
const char* icmp_type_name(uint8_t type);

struct IcmpState {
  IcmpStat stat;
  // net.inet.icmp.bmcastecho: answer echo requests sent to a broadcast or
  // multicast address (RFC 1122 §3.2.2.6 "MAY"); off, as BSD and Linux.
  int64_t bmcastecho = 0;
  // net.inet.icmp.errppslimit: errors per second (0: no limit), NetBSD's
  // icmperrppslim default.
  int64_t errppslimit = 100;
  // The error token bucket (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)).
  int64_t tokens = -1;  // -1: not started (full on first use)
  Instant refilled{};
  // Echo datagram sockets (SOCK_DGRAM, IPPROTO_ICMP); their "port" is the
  // echo identifier (inp.lport), 0 until bound.
  std::vector<Socket*> ping_sockets;
};

// An ICMP message: `m` starts at the IP header (`iphlen` bytes), already
// validated by ip_input. Consumes m.
void icmp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept;

// Send an ICMP error about `orig` (starting at its IP header; consumed)
// unless RFC 1122 §3.2.2 forbids it or the rate limit is reached.
// `info` is the parameter-problem pointer (type 12) or the next-hop MTU
// (type 3 code 4); unused otherwise. The error quotes the original IP
// header and as much of its data as fits in 576 bytes (RFC 1812 §4.3.2.3;
// RFC 792 asks for at least 8 bytes).
void icmp_error(Stack& stack, Mbuf orig, uint8_t type, uint8_t code, uint32_t info) noexcept;

// The token bucket: may an error be sent now? Counts `ratelimited` when not.
bool icmp_ratecheck(Stack& stack) noexcept;

// Echo sockets (Linux's "ping sockets", SOCK_DGRAM + IPPROTO_ICMP): the
// user writes echo requests; the stack sets the identifier to the socket's
// and fills the checksum, and delivers only replies carrying that
// identifier, without the IP header.
Result<void, Errno> ping_attach(Stack& stack, Socket& so);
Result<void, Errno> ping_bind(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> ping_connect(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> ping_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to);
// With per-datagram options (IP_PKTINFO, IP_TTL, IP_TOS ancillary data).
Result<void, Errno> ping_send(Stack& stack, Socket& so, Mbuf payload, const SockAddr* to,
                              const DgramSendOpts* opts);
void ping_detach(Stack& stack, Socket& so);

// Registers net.inet.icmp.*, net.inet.ip.frag* and the new counters;
// called once from Stack::register_sysctls.
void ip_register_sysctls(Stack& stack);

}  // namespace iopkt
