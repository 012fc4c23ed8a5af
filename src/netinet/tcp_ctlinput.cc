// netinet/tcp_ctlinput.cc — ICMP errors about TCP segments (BSD
// tcp_ctlinput, Linux tcp_v4_err): path MTU discovery (RFC 1191, RFC 1122
// §4.2.2.6), hard and soft errors (RFC 1122 §4.2.3.9) and the checks that
// keep an off-path attacker from using ICMP against a connection (RFC
// 5927 §4.1: the quoted 4-tuple and sequence number must be ours).
// icmp_notify (ip_icmp.cc) has validated the message and the quoted header.
#include <algorithm>
#include <array>
#include <cerrno>

#include "core/stack.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// Linux's icmp_err_convert: the errno of each Destination Unreachable code.
constexpr std::array<int, kIcmpUnreachMaxCode + 1> kUnreachErrno{
    ENETUNREACH,   // 0 net
    EHOSTUNREACH,  // 1 host
    ENOPROTOOPT,   // 2 protocol
    ECONNREFUSED,  // 3 port
    EMSGSIZE,      // 4 fragmentation needed (handled as PMTU, never an error)
    EOPNOTSUPP,    // 5 source route failed
    ENETUNREACH,   // 6 net unknown
    EHOSTDOWN,     // 7 host unknown
    ENONET,        // 8 host isolated
    ENETUNREACH,   // 9 net administratively prohibited
    EHOSTUNREACH,  // 10 host administratively prohibited
    ENETUNREACH,   // 11 net for TOS
    EHOSTUNREACH,  // 12 host for TOS
    EHOSTUNREACH,  // 13 communication administratively prohibited (RFC 1812)
    EHOSTUNREACH,  // 14 host precedence violation
    EHOSTUNREACH,  // 15 precedence cutoff
};

// RFC 1191 §7, table 7-1: the plateaus to try when a router does not say
// the next-hop MTU (next_mtu 0, a pre-RFC 1191 router).
constexpr std::array<uint32_t, 11> kMtuPlateaus{65535, 32000, 17914, 8166, 4352, 2002,
                                                1492,  1006,  508,   296,  68};

uint32_t mtu_plateau_below(uint32_t total_len) {
  for (uint32_t p : kMtuPlateaus) {
    if (p < total_len) {
      return p;
    }
  }
  return kMtuPlateaus.back();
}

}  // namespace

bool tcp_mtu_reduced(Stack& stack, TcpCb& tp, uint32_t mtu) {
  TcpState& t = stack.tcp;
  // RFC 1191 §6.3 leaves the floor to the host; an ICMP forging a tiny MTU
  // would make a connection send 28-byte segments (RFC 5927 §7). As Linux
  // (ip_rt_min_pmtu, 552) a smaller value sets the floor and the segments
  // go without DF, so that the path fragments them if it really must.
  bool nodf = false;
  if (mtu < static_cast<uint32_t>(t.pmtu_min)) {
    mtu = static_cast<uint32_t>(t.pmtu_min);
    nodf = true;
    ++t.stat.pmtu_floored;
  }
  // t_maxseg is MSS as RFC 9293 §3.7.1 counts it: MTU less the fixed IP and
  // TCP headers; tcp_smss subtracts the timestamp option from it.
  const uint32_t mss = std::max<uint32_t>(mtu, 108) - 40;
  tp.pmtu_nodf = tp.pmtu_nodf || nodf;
  if (mss >= tp.t_maxseg) {
    return false;  // RFC 1191 §6.3: only ever lowered by an ICMP message
  }
  tp.t_maxseg = static_cast<uint16_t>(mss);
  tcp_pmtu_store(stack, tp.faddr, tp.fib, mtu, tp.pmtu_nodf);
  ++t.stat.pmtu_changes;
  return true;
}

void tcp_ctlinput(Stack& stack, uint8_t type, uint8_t code, uint16_t next_mtu,
                  std::span<const std::byte> quoted) noexcept {
  TcpState& t = stack.tcp;
  const size_t qhl = (std::to_integer<size_t>(quoted[0]) & 0xfu) * 4;
  const uint16_t qlen = load_be16(quoted, 2);
  const InAddr qsrc{load_be32(quoted, 12)}, qdst{load_be32(quoted, 16)};
  const uint16_t sport = load_be16(quoted, qhl), dport = load_be16(quoted, qhl + 2);
  const TcpSeq seq{load_be32(quoted, qhl + 4)};
  // The quoted segment went from us (qsrc:sport) to the peer (qdst:dport).
  TcpCb* tp = tcp_lookup(stack, qdst, dport, qsrc, sport);
  if (tp == nullptr || tp->state == TcpFsmState::kTimeWait || tp->state == TcpFsmState::kClosed) {
    ++t.stat.icmp_nomatch;
    return;
  }
  // RFC 5927 §4.1: only a segment still unacknowledged can have drawn the
  // error; anything else is stale or forged.
  if (seq < tp->snd_una || seq >= tp->snd_max) {
    ++t.stat.icmp_badseq;
    return;
  }
  int err = 0;
  if (type == kIcmpUnreach && code == kIcmpUnreachNeedFrag) {
    // RFC 1191 §4/§7: a router without next_mtu: the plateau below the
    // datagram it refused.
    uint32_t mtu = next_mtu != 0 ? next_mtu : mtu_plateau_below(qlen);
    if (!tcp_mtu_reduced(stack, *tp, mtu)) {
      return;
    }
    // RFC 1191 §6.5 / RFC 1122 §4.2.2.6: the lost segment is sent again at
    // once in the new size; it was not congestion, so cwnd and ssthresh
    // stay. Karn: no RTT sample from the retransmission.
    if (tcps_have_established(tp->state) && tp->snd_una != tp->snd_max) {
      tp->rtt_timing = false;
      tp->snd_nxt = tp->snd_una;
      tcp_output(stack, *tp);
    }
    return;
  }
  if (type == kIcmpUnreach && code <= kIcmpUnreachMaxCode) {
    err = kUnreachErrno[code];
  } else if (type == kIcmpTimeExceeded) {
    err = EHOSTUNREACH;  // Linux tcp_v4_err
  } else if (type == kIcmpParamProblem) {
    err = EPROTO;
  } else {
    return;  // source quench never arrives here (RFC 6633)
  }
  if (tp->state == TcpFsmState::kSynSent || tp->state == TcpFsmState::kSynReceived) {
    // RFC 1122 §4.2.3.9 makes protocol and port unreachable hard errors;
    // Linux aborts a connection being opened on any of them (tcp_v4_err):
    // nothing was said on it yet that the error could interrupt.
    ++t.stat.icmp_hard;
    tcp_drop(stack, *tp, err, false);
    return;
  }
  // Synchronized: a soft error (RFC 1122 §4.2.3.9 "SHOULD NOT abort"),
  // reported only if the connection later times out.
  ++t.stat.icmp_soft;
  tp->soft_error = err;
}

}  // namespace iopkt
