// netinet/tcp_timer.cc — TCP's timers as callouts on the core's virtual
// clock (BSD tcp_timer.c): retransmission (RFC 6298, with Karn and
// exponential back-off), persist (zero-window probes, RFC 9293 §3.8.6.1),
// delayed ACK (RFC 9293 §3.8.6.3), 2*MSL (TIME_WAIT, RFC 9293 §3.4.2;
// also the orphaned FIN_WAIT_2 limit, as Linux tcp_fin_timeout),
// keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6), TCP_CORK's ceiling and
// TCP_DEFER_ACCEPT's period (tcp(7)); TCP_USER_TIMEOUT (RFC 5482) bounds
// the retransmission, persist and keepalive give-ups.
//
// RTO floor: 200 ms as Linux (TCP_RTO_MIN), not RFC 6298 §2.4's 1 s, so
// that losses on fast links recover as quickly as the Linux peers we are
// compared with; net.inet.tcp.rexmit_min sets it.
#include <algorithm>
#include <cerrno>

#include "core/stack.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

Duration ms(int64_t v) { return std::chrono::milliseconds(v); }

// A connection that gives up reports the last ICMP error it heard, if any:
// it says more than ETIMEDOUT (RFC 1122 §4.2.3.9; Linux tcp_write_err).
int tcp_timeout_errno(const TcpCb& tp) { return tp.soft_error != 0 ? tp.soft_error : ETIMEDOUT; }

Duration tcp_backoff(Stack& stack, Duration base, int shift) {
  Duration max = ms(stack.tcp.rexmit_max_ms);
  Duration d = base;
  for (int i = 0; i < shift && d < max; ++i) {
    d *= 2;
  }
  return std::min(d, max);
}

// TCP_USER_TIMEOUT (RFC 5482 §3, tcp(7)): how much of the user's timeout
// is left of what began at `since`; nullopt when none is set.
std::optional<Duration> tcp_user_timeout_left(Stack& stack, const TcpCb& tp, Instant since) {
  if (tp.user_timeout_ms == 0) {
    return std::nullopt;
  }
  Duration left = ms(tp.user_timeout_ms) - (stack.now() - since);
  return std::max(left, Duration{0});
}

// Drop with ETIMEDOUT and a RST, as the retry limits do (Linux tcp_write_err).
void tcp_user_timeout_drop(Stack& stack, TcpCb& tp) {
  ++stack.tcp.stat.usertimeoutdrop;
  tcp_drop(stack, tp, tcp_timeout_errno(tp), true);
}

void tcp_timer_rexmt(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  TcpState& t = stack.tcp;
  ++t.stat.rexmttimeo;
  bool syn_state = tp.state == TcpFsmState::kSynSent || tp.state == TcpFsmState::kSynReceived;
  // RFC 5482 §3 / tcp(7): with TCP_USER_TIMEOUT, the time data stays
  // unacknowledged decides, instead of the number of retransmissions
  // (Linux retransmits_timed_out). The handshake keeps its SYN retries.
  if (!syn_state && tp.user_timeout_ms > 0) {
    if (tcp_user_timeout_left(stack, tp, tp.unacked_since) == Duration{0}) {
      tcp_user_timeout_drop(stack, tp);
      return;
    }
    ++tp.rxtshift;
  } else if (++tp.rxtshift > (syn_state ? t.syn_retries : t.data_retries)) {
    ++t.stat.timeoutdrop;
    // A handshake that timed out goes silently; an established
    // connection tells its peer with a RST (BSD tcp_drop).
    tcp_drop(stack, tp, tcp_timeout_errno(tp), tcps_have_established(tp.state));
    return;
  }
  // RFC 5681 §3.1 eq. 4 and 5: after a timeout the loss window is one
  // segment; ssthresh is the congestion control's (half the flight for
  // NewReno, RFC 9438 §4.8 for CUBIC). Only the first timeout of a series
  // reduces it: later ones would halve a flight that is one segment.
  if (tp.rxtshift == 1) {
    tp.cc->on_rto(stack.now(), tp);
  }
  tp.cwnd = tcp_smss(tp);
  tp.dupacks = 0;
  tp.in_recovery = false;
  tp.snd_recover = tp.snd_max;  // RFC 6582 §3.2 step 4, RFC 6675 §5.1 after a timeout
  // RFC 6675 §5.1: recovery ends; the scoreboard is cleared, so that the
  // retransmissions go from SND.UNA on whatever the peer SACKed (it may
  // have reneged, RFC 2018 §8).
  tcp_sack_clear(tp);
  tcp_rack_rto(tp);  // RFC 8985 §6.3, §7.4: RACK and TLP start afresh
  // Karn: no RTT sample from a retransmitted segment (RFC 6298 §3).
  tp.rtt_timing = false;
  tp.snd_nxt = syn_state ? tp.iss : tp.snd_una;
  tcp_output(stack, tp);
}

void tcp_timer_persist(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  ++stack.tcp.stat.persisttimeo;
  if (tp.snd_wnd > 0) {
    tp.zwnd_since.reset();
    // A window is open but too small for the sender's SWS avoidance: send
    // what fits now (RFC 9293 §3.8.6.2.1, override timeout); the
    // retransmission timer watches it from here.
    tp.sws_override = true;
    tcp_output(stack, tp);
    tp.sws_override = false;
    if (tp.snd_nxt == tp.snd_una && tp.snd_cc > 0) {
      tcp_setpersist(stack, tp);  // nothing went (cwnd): try again later
    }
    return;
  }
  // TCP_USER_TIMEOUT also bounds how long data waits for a closed window,
  // answered probes or not (tcp(7); Linux tcp_probe_timer).
  if (tp.zwnd_since && tcp_user_timeout_left(stack, tp, *tp.zwnd_since) == Duration{0}) {
    tcp_user_timeout_drop(stack, tp);
    return;
  }
  // A peer that answers keeps a zero window open as long as it likes
  // (RFC 1122 §4.2.2.17); one that stops answering is given up on like
  // an unacknowledged retransmission — for a connection its user already
  // closed after 8 probes, as Linux's orphan retries.
  tp.persist_unanswered = tp.t_rcvtime == tp.persist_heard ? tp.persist_unanswered + 1 : 0;
  tp.persist_heard = tp.t_rcvtime;
  int64_t limit =
      tp.so == nullptr ? std::min<int64_t>(8, stack.tcp.data_retries) : stack.tcp.data_retries;
  if (tp.persist_unanswered > limit) {
    ++stack.tcp.stat.timeoutdrop;
    tcp_drop(stack, tp, tcp_timeout_errno(tp), true);
    return;
  }
  ++stack.tcp.stat.sndprobe;
  // Linux's probe (tcp_xmit_probe_skb): an ACK carrying SEQ = SND.UNA - 1,
  // which the peer must answer with its current window (RFC 9293
  // §3.10.7.4: an unacceptable segment is answered with an ACK). Nothing
  // is sent beyond the window, so SND.NXT does not move.
  tcp_send_ctl(stack, tp, tp.snd_una - 1, tp.rcv_nxt, kTcpAck);
  ++tp.persist_shift;
  tcp_setpersist(stack, tp);
}

void tcp_timer_delack(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  ++stack.tcp.stat.delack;
  tp.ack_now = true;
  tcp_output(stack, tp);
}

// Keepalive, RFC 9293 §3.8.4 and RFC 1122 §4.2.3.6: after keepidle of
// silence from the peer (and nothing of ours outstanding: the
// retransmission and persist timers watch the peer then), a probe every
// keepintvl; keepcnt unanswered probes drop the connection with ETIMEDOUT
// and a RST, as Linux (tcp_keepalive_timer). The timer runs whenever the
// connection is synchronized; SO_KEEPALIVE decides only whether it probes.
bool tcp_keep_state(TcpFsmState s) {
  return tcps_have_established(s) && s != TcpFsmState::kTimeWait;
}

void tcp_timer_keep(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  TcpState& t = stack.tcp;
  if (!tcp_keep_state(tp.state)) {
    return;
  }
  const Duration idle = tcp_keepidle(stack, tp);
  const bool enabled = tp.so != nullptr && (tp.so->options & kSoKeepAlive) != 0;
  if (!enabled || tp.snd_max != tp.snd_una || tp.snd_cc > 0) {
    tp.keep_probes = 0;
    tp.keep_timer.reset(idle);
    return;
  }
  const Duration quiet = stack.now() - tp.t_rcvtime;
  if (tp.keep_probes == 0 && quiet < idle) {
    tp.keep_timer.reset(idle - quiet);  // heard from the peer since armed
    return;
  }
  ++t.stat.keeptimeo;
  // tcp(7): TCP_USER_TIMEOUT overrides TCP_KEEPCNT: the connection is given
  // up once a probe went unanswered and the peer has been silent that long
  // (Linux tcp_keepalive_timer).
  const bool expired = tp.user_timeout_ms > 0
                           ? tp.keep_probes > 0 && quiet >= ms(tp.user_timeout_ms)
                           : tp.keep_probes >= tcp_keepcnt(stack, tp);
  if (expired) {
    ++t.stat.keepdrops;
    tcp_drop(stack, tp, tcp_timeout_errno(tp), true);
    return;
  }
  // The probe: SEG.SEQ = SND.UNA - 1 and no data (RFC 9293 §3.8.4 allows
  // "no data" or one garbage octet): outside the peer's window, so a live
  // peer must answer with an ACK (§3.10.7.4).
  ++t.stat.keepprobe;
  tcp_send_ctl(stack, tp, tp.snd_una - 1, tp.rcv_nxt, kTcpAck);
  ++tp.keep_probes;
  tp.keep_timer.reset(tcp_keepintvl(stack, tp));
}

// TCP_CORK's ceiling (tcp(7)): the partial segment held this long goes.
void tcp_timer_cork(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  tp.cork_flush = true;
  tcp_output(stack, tp);
  tp.cork_flush = false;
}

// TCP_DEFER_ACCEPT's period ended without data: the connection may be
// accepted now (Linux would on the peer's answer to a last SYN,ACK).
void tcp_timer_defer(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  if (tp.deferred) {
    tcp_accept_ready(stack, tp);
  }
}

void tcp_timer_2msl(Stack& stack, TcpCb& tp) {
  tcp_gc(stack);
  if (tp.state == TcpFsmState::kFinWait2) {
    ++stack.tcp.stat.finwait2drop;
  }
  tcp_close(stack, tp);
}

}  // namespace

void tcp_timers_init(Stack& stack, TcpCb& tp) {
  TcpCb* p = &tp;
  Stack* s = &stack;
  tp.rexmt_timer.set_handler([s, p] { tcp_timer_rexmt(*s, *p); });
  tp.persist_timer.set_handler([s, p] { tcp_timer_persist(*s, *p); });
  tp.delack_timer.set_handler([s, p] { tcp_timer_delack(*s, *p); });
  tp.twait_timer.set_handler([s, p] { tcp_timer_2msl(*s, *p); });
  tp.keep_timer.set_handler([s, p] { tcp_timer_keep(*s, *p); });
  tp.cork_timer.set_handler([s, p] { tcp_timer_cork(*s, *p); });
  tp.defer_timer.set_handler([s, p] { tcp_timer_defer(*s, *p); });
}

Duration tcp_keepidle(const Stack& stack, const TcpCb& tp) {
  return std::chrono::seconds(tp.keepidle > 0 ? tp.keepidle : stack.tcp.keepidle_s);
}
Duration tcp_keepintvl(const Stack& stack, const TcpCb& tp) {
  return std::chrono::seconds(tp.keepintvl > 0 ? tp.keepintvl : stack.tcp.keepintvl_s);
}
int tcp_keepcnt(const Stack& stack, const TcpCb& tp) {
  return tp.keepcnt > 0 ? tp.keepcnt : static_cast<int>(stack.tcp.keepcnt);
}

void tcp_keep_start(Stack& stack, TcpCb& tp) {
  if (!tcp_keep_state(tp.state)) {
    return;
  }
  // The idle time counts from the last segment heard, as Linux re-arms
  // with the time already elapsed subtracted (keepalive_time_elapsed).
  const Duration idle = tcp_keepidle(stack, tp);
  const Duration quiet = stack.now() - tp.t_rcvtime;
  tp.keep_probes = 0;
  tp.keep_timer.reset(quiet >= idle ? Duration{0} : idle - quiet);
}

void tcp_keepalive_changed(Stack& stack, Socket& so) {
  if (so.tcb != nullptr) {
    tcp_keep_start(stack, *so.tcb);
  }
}

void tcp_set_rexmt(Stack& stack, TcpCb& tp) {
  Duration d = tcp_backoff(stack, tp.rto, tp.rxtshift);
  // The timer fires when the user timeout ends, if that comes first (Linux
  // tcp_clamp_rto_to_user_timeout).
  if (tcps_have_established(tp.state)) {
    if (auto left = tcp_user_timeout_left(stack, tp, tp.unacked_since)) {
      d = std::min(d, *left);
    }
  }
  tp.rexmt_timer.reset(d);
}

void tcp_rtt_update(Stack& stack, TcpCb& tp, Duration r) {
  // RFC 6298 §2.2 and §2.3, alpha = 1/8, beta = 1/4, K = 4.
  ++stack.tcp.stat.rttupdated;
  if (tp.srtt == Duration{0}) {
    tp.srtt = r;
    tp.rttvar = r / 2;
  } else {
    Duration delta = tp.srtt > r ? tp.srtt - r : r - tp.srtt;
    tp.rttvar = (3 * tp.rttvar + delta) / 4;
    tp.srtt = (7 * tp.srtt + r) / 8;
  }
  // G, the clock granularity, is 1 ms for us.
  Duration rto = tp.srtt + std::max<Duration>(std::chrono::milliseconds(1), 4 * tp.rttvar);
  tp.rto = std::clamp(rto, ms(stack.tcp.rexmit_min_ms), ms(stack.tcp.rexmit_max_ms));
}

void tcp_canceltimers(TcpCb& tp) {
  tp.rexmt_timer.stop();
  tp.rack_timer.stop();  // RACK reorder / TLP probe (tcp_rack.cc)
  tp.persist_timer.stop();
  tp.delack_timer.stop();
  tp.twait_timer.stop();
  tp.keep_timer.stop();
  tp.cork_timer.stop();
  tp.defer_timer.stop();
  tp.delack_pending = false;
}

void tcp_start_timewait(Stack& stack, TcpCb& tp) {
  tp.state = TcpFsmState::kTimeWait;
  tp.rexmt_timer.stop();
  tp.persist_timer.stop();
  tp.delack_timer.stop();
  tp.keep_timer.stop();
  tp.cork_timer.stop();
  tp.twait_timer.reset(2 * ms(stack.tcp.msl_ms));
}

void tcp_setpersist(Stack& stack, TcpCb& tp) {
  // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: probe with exponential
  // back-off; the interval starts at the RTO, as Linux.
  Duration base = std::max(tp.rto, ms(stack.tcp.rexmit_min_ms));
  Duration d = tcp_backoff(stack, base, tp.persist_shift);
  if (tp.snd_wnd == 0) {
    if (!tp.zwnd_since) {
      tp.zwnd_since = stack.now();  // data begins to wait for the window
    }
    // TCP_USER_TIMEOUT: probe (and give up) when it ends, if that comes
    // first (Linux tcp_clamp_probe0_to_user_timeout).
    if (auto left = tcp_user_timeout_left(stack, tp, *tp.zwnd_since)) {
      d = std::min(d, *left);
    }
  }
  tp.persist_timer.reset(d);
}

}  // namespace iopkt
