// netinet/tcp_fsm.hh — TCP connection states, RFC 9293 §3.3.2 (figure 5).
// The enum is called TcpFsmState because TcpState is the stack's TCP
// module state (tcp_var.hh), like IpState and UdpState.
#pragma once

#include <cstdint>
#include <string_view>

namespace iopkt {

enum class TcpFsmState : uint8_t {
  kClosed,       // no connection; user calls: listen, connect
  kListen,       // waiting for SYNs; accept, close
  kSynSent,      // our SYN is out (connect); close aborts; send queues data
  kSynReceived,  // SYN seen and answered; send queues data
  kEstablished,  // data both ways; send, recv, shutdown, close
  kCloseWait,    // peer sent FIN; send, close (sends our FIN)
  kFinWait1,     // our FIN is out, not acknowledged; recv
  kClosing,      // both FINs out, ours unacknowledged
  kLastAck,      // peer's FIN seen, then ours sent; waiting for its ACK
  kFinWait2,     // our FIN acknowledged; recv until the peer's FIN
  kTimeWait,     // both done; wait 2*MSL for stray segments
};

// RFC 9293 §3.3.2 "synchronized" states: every state past SYN-RECEIVED.
// The order of the enum is what these predicates rely on (BSD's
// TCPS_HAVERCVDSYN and TCPS_HAVEESTABLISHED).
static_assert(TcpFsmState::kSynReceived < TcpFsmState::kEstablished &&
              TcpFsmState::kEstablished < TcpFsmState::kCloseWait &&
              TcpFsmState::kCloseWait < TcpFsmState::kFinWait1 &&
              TcpFsmState::kFinWait2 < TcpFsmState::kTimeWait);
constexpr bool tcps_have_rcvd_syn(TcpFsmState s) { return s >= TcpFsmState::kSynReceived; }
constexpr bool tcps_have_established(TcpFsmState s) { return s >= TcpFsmState::kEstablished; }
// Our FIN has been queued (the user closed the send side).
constexpr bool tcps_sent_fin(TcpFsmState s) {
  return s >= TcpFsmState::kFinWait1 || s == TcpFsmState::kLastAck;
}
// The peer's FIN has been received: nothing more to read.
constexpr bool tcps_rcvd_fin(TcpFsmState s) {
  return s == TcpFsmState::kCloseWait || s == TcpFsmState::kClosing || s == TcpFsmState::kLastAck ||
         s == TcpFsmState::kTimeWait;
}

constexpr std::string_view tcp_state_name(TcpFsmState s) {
  constexpr std::string_view kNames[] = {"CLOSED",      "LISTEN",     "SYN_SENT",   "SYN_RCVD",
                                         "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING",
                                         "LAST_ACK",    "FIN_WAIT_2", "TIME_WAIT"};
  return kNames[static_cast<size_t>(s)];
}

}  // namespace iopkt
