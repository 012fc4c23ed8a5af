// netinet/tcp_input.cc — segment arrival, RFC 9293 §3.10.7 ("SEGMENT
// ARRIVES"), with RFC 5961 (blind RST/SYN/data injection), RFC 7323 (window
// scaling, timestamps, PAWS), RFC 5681 and RFC 6582 (fast retransmit,
// NewReno recovery), RFC 2018 and RFC 6675 (SACK; the scoreboard and the
// recovery itself are in tcp_sack.cc), SYN cookies at a full listener (RFC
// 4987 §3.6; the cookie itself is tcp_syncookie.cc's) and the TCP option
// parser of tcp.hh. net.inet.tcp.rst_validation=0 turns RFC 5961 off.
// Window growth and reduction are the congestion control's (tcp_cc.hh).
// Read RFC 9293 §3.10, RFC 5961 and RFC 7323 before changing this file.
//
// Each state's handler returns a Disposition, applied in one place
// (tcp_input), as BSD's drop / dropafterack / dropwithreset labels.
#include <algorithm>
#include <cerrno>

#include "core/stack.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

TcpOptions tcp_options_parse(std::span<const std::byte> opts) {
  TcpOptions o;
  size_t i = 0;
  // Every step advances by at least one byte, and no read goes past
  // `opts` (which is the header's option area, already length-checked).
  while (i < opts.size()) {
    uint8_t kind = std::to_integer<uint8_t>(opts[i]);
    if (kind == kTcpOptEol) {
      break;
    }
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) {
      o.malformed = true;  // a kind with no room for its length
      break;
    }
    size_t len = std::to_integer<size_t>(opts[i + 1]);
    if (len < 2 || i + len > opts.size()) {
      // RFC 9293 §3.1: "a TCP implementation MUST be prepared to handle an
      // illegal option length (e.g., zero) without crashing"; Linux stops
      // parsing, so do we (picoTCP CVE-2020-24337 looped on length 0).
      o.malformed = true;
      break;
    }
    auto body = opts.subspan(i + 2, len - 2);
    switch (kind) {
      case kTcpOptMss:
        if (len != 4) {
          o.malformed = true;
        } else {
          o.mss = load_be16(body, 0);
        }
        break;
      case kTcpOptWscale:
        if (len != 3) {
          o.malformed = true;
        } else {
          o.wscale = std::to_integer<uint8_t>(body[0]);
        }
        break;
      case kTcpOptSackPermitted:
        if (len != 2) {
          o.malformed = true;
        } else {
          o.sack_permitted = true;
        }
        break;
      case kTcpOptTimestamp:
        if (len != 10) {
          o.malformed = true;
        } else {
          o.timestamp = TcpOptions::Timestamp{load_be32(body, 0), load_be32(body, 4)};
        }
        break;
      case kTcpOptSack:
        // RFC 2018 §3: 2 + 8n bytes (Treck CVE-2020-11912 trusted it).
        if ((len - 2) % 8 != 0 || len == 2) {
          o.malformed = true;
        } else {
          for (size_t b = 0; b + 8 <= body.size() && o.sack_count < kTcpMaxSackBlocks; b += 8) {
            o.sack[o.sack_count++] = {TcpSeq{load_be32(body, b)}, TcpSeq{load_be32(body, b + 4)}};
          }
        }
        break;
      default:
        break;  // RFC 9293 §3.1: unknown options are skipped by their length
    }
    i += len;
  }
  return o;
}

namespace {

enum class Disposition { kAccept, kDrop, kDropAfterAck, kDropWithReset };

struct TcpSegment {
  InAddr src, dst;
  uint16_t sport = 0, dport = 0;
  TcpSeq seq, ack;
  TcpFlags flags = 0;
  uint16_t wnd = 0;  // as received, unscaled
  uint32_t len = 0;  // data bytes
  TcpOptions opts;
  Mbuf data;
  // SEG.SEQ + SEG.UP as received (before any trimming), when URG is set
  // and the pointer is not 0 (which would name no byte).
  std::optional<TcpSeq> urgent_ptr;
  bool has(TcpFlags f) const { return (flags & f) != 0; }
};

// RFC 9293 §3.10.7.1: the reset for a segment that has no connection.
void tcp_reset_for(Stack& stack, const TcpSegment& seg) {
  if (seg.has(kTcpRst)) {
    return;  // "An incoming segment containing a RST is discarded"
  }
  if (seg.has(kTcpAck)) {
    tcp_respond(stack, seg.dst, seg.src, seg.dport, seg.sport, seg.ack, TcpSeq{}, kTcpRst);
  } else {
    uint32_t seg_len = seg.len + (seg.has(kTcpSyn) ? 1 : 0) + (seg.has(kTcpFin) ? 1 : 0);
    tcp_respond(stack, seg.dst, seg.src, seg.dport, seg.sport, TcpSeq{0}, seg.seq + seg_len,
                kTcpRst | kTcpAck);
  }
}

void tcp_challenge_ack(Stack& stack, TcpCb& tp) {
  if (tcp_challenge_ack_allowed(stack, tp)) {
    ++stack.tcp.stat.challengeack;
    tcp_send_ctl(stack, tp, tp.snd_nxt, tp.rcv_nxt, kTcpAck);
  }
}

// The options of a SYN decide what the connection uses (RFC 7323 §2.2,
// §3.2; RFC 2018 §2). A scale or timestamp is used only when both sides
// sent it.
void tcp_syn_options(Stack& stack, TcpCb& tp, const TcpSegment& seg) {
  if (tp.req_ws && seg.opts.wscale) {
    tp.ws_ok = true;
    tp.snd_scale = std::min(*seg.opts.wscale, kTcpMaxWscale);  // RFC 7323 §2.3
    tp.rcv_scale = tp.request_r_scale;
  } else {
    tp.ws_ok = false;
    tp.snd_scale = tp.rcv_scale = 0;
  }
  if (tp.req_ts && seg.opts.timestamp) {
    tp.ts_ok = true;
    tp.ts_recent = seg.opts.timestamp->val;
    tp.ts_recent_age = stack.now();
  } else {
    tp.ts_ok = false;
  }
  tp.sack_ok = tp.req_sack && seg.opts.sack_permitted;
  tcp_mss_init(stack, tp, seg.opts.mss);
}

Disposition tcp_input_synchronized(Stack& stack, TcpCb& tp, TcpSegment& seg);

// A passive open's child of listener `lp` for the peer of `seg`, in
// SYN-RECEIVED: inherited settings, the 4-tuple in the tables, the options
// of the peer's SYN (`syn`) applied. The caller sets the sequence numbers.
TcpCb* tcp_syn_child(Stack& stack, TcpCb& lp, const TcpSegment& seg, const TcpSegment& syn) {
  TcpState& t = stack.tcp;
  TcpCb* tp = tcp_newcb(stack);
  tp->listener = &lp;
  tp->laddr = seg.dst;
  tp->lport = lp.lport;
  tp->faddr = seg.src;
  tp->fport = seg.sport;
  tp->snd_hiwat = lp.so != nullptr ? lp.so->snd_hiwat : lp.snd_hiwat;
  tp->rcv_hiwat = lp.so != nullptr ? lp.so->rcv_hiwat : lp.rcv_hiwat;
  tp->nodelay = lp.nodelay;
  // The child routes, controls congestion and keeps alive as its
  // listener does (Linux inherits the listener's settings).
  tp->fib = lp.so != nullptr ? lp.so->fib : lp.fib;
  tp->cc = lp.cc;
  tp->cc->init(*tp);
  tp->keepidle = lp.keepidle;
  tp->keepintvl = lp.keepintvl;
  tp->keepcnt = lp.keepcnt;
  tp->user_timeout_ms = lp.user_timeout_ms;  // tcp(7): inherited by accept
  tp->cork = lp.cork;
  // The options offered back: the listener's, if the net.inet.tcp knobs
  // still allow them now (Linux reads its sysctls when the SYN comes).
  tp->req_ws = lp.req_ws && t.do_ws != 0;
  tp->req_ts = lp.req_ts && t.do_ts != 0;
  tp->req_sack = lp.req_sack && t.do_sack != 0;
  // A fixed SO_RCVBUF/SO_SNDBUF stays fixed on the accepted connection
  // (Linux inherits SOCK_RCVBUF_LOCK).
  tp->rcvbuf_locked = tcp_rcvbuf_locked(lp);
  tp->sndbuf_locked = tcp_sndbuf_locked(lp);
  tp->request_r_scale = tcp_rscale_for(stack, *tp);
  tp->our_mss = tcp_mss_for_route(stack, seg.src, tp->fib);
  tp->ts_offset = tcp_ts_offset(stack, tp->laddr, tp->lport, tp->faddr, tp->fport);
  tcp_syn_options(stack, *tp, syn);
  tp->state = TcpFsmState::kSynReceived;
  tcp_hash_insert(stack, *tp);
  tcp_port_insert(stack, *tp);
  return tp;
}

}  // namespace

void tcp_accept_ready(Stack& stack, TcpCb& tp) {
  TcpCb* lp = tp.listener;
  tp.deferred = false;
  tp.defer_timer.stop();
  if (lp == nullptr) {
    return;
  }
  std::erase(lp->syn_q, &tp);
  lp->accept_q.push_back(&tp);
  ++stack.tcp.stat.accepts;
  if (lp->so != nullptr) {
    stack.so_wakeup(*lp->so);  // readable: a connection to accept
  }
}

namespace {

// RFC 4987 §3.6: an ACK at a listener, with no embryo for it, may return
// one of our SYN cookies: SEG.ACK - 1 is the cookie, SEG.SEQ - 1 the
// peer's ISN. A valid one makes the connection its SYN would have made,
// then the ACK goes through SYN-RECEIVED's processing (with any data).
Disposition tcp_syncookie_input(Stack& stack, TcpCb& lp, TcpSegment& seg) {
  TcpState& t = stack.tcp;
  TcpSeq irs = seg.seq - 1, iss = seg.ack - 1;
  auto cookie = tcp_syncookie_check(stack, seg.dst, seg.dport, seg.src, seg.sport, irs, iss);
  if (!cookie) {
    ++t.stat.syncookies_failed;
    return Disposition::kDropWithReset;  // <SEQ=SEG.ACK><CTL=RST>, as any stray ACK
  }
  ++t.stat.syncookies_recvd;
  if (lp.syn_q.size() + lp.accept_q.size() >= static_cast<size_t>(lp.backlog)) {
    // Still no room: drop it, as Linux; the peer's next segment carries
    // the same cookie while it lives.
    ++t.stat.listendrop;
    return Disposition::kDrop;
  }
  // The SYN as the cookie remembers it. A timestamp on this ACK means both
  // SYNs carried one (RFC 7323 §3.2), so it is negotiated.
  TcpSegment syn;
  syn.opts.mss = cookie->mss;
  syn.opts.wscale = cookie->wscale;
  syn.opts.sack_permitted = cookie->sack_permitted;
  syn.opts.timestamp = seg.opts.timestamp;
  TcpCb* tp = tcp_syn_child(stack, lp, seg, syn);
  // The cookie's SYN,ACK offered the shift of the buffer as it is
  // (tcp_syncookie_send): that one is in force, whatever auto-tuning would
  // have asked for; the buffer then grows only as far as it can offer.
  tp->request_r_scale = tcp_pick_rscale(tp->rcv_hiwat);
  if (tp->ws_ok) {
    tp->rcv_scale = tp->request_r_scale;
  }
  tp->irs = irs;
  tp->rcv_nxt = seg.seq;
  tp->last_ack_sent = tp->rcv_nxt;
  tp->rcv_adv = tp->rcv_nxt + static_cast<uint32_t>(std::min<size_t>(tp->rcv_hiwat, 65535));
  tp->iss = iss;
  tp->snd_una = tp->snd_recover = tp->iss;
  tp->snd_nxt = tp->snd_max = tp->iss + 1;
  tp->snd_wl1 = irs;
  tp->snd_wl2 = tp->iss;
  // When the SYN,ACK left is unknown: no RTT sample from this ACK (as for
  // a retransmitted SYN,ACK, Karn); tcp_input_synchronized clears it.
  tp->rxtshift = 1;
  lp.syn_q.push_back(tp);
  Disposition d = tcp_input_synchronized(stack, *tp, seg);
  if (tp->state == TcpFsmState::kSynReceived) {
    // The ACK did not complete it after all: without a SYN,ACK to
    // retransmit, an embryo would only wait; let the peer try again.
    tcp_drop(stack, *tp, 0, false);
  }
  return d;
}

// RFC 9293 §3.10.7.2: a segment for a listening socket.
Disposition tcp_input_listen(Stack& stack, TcpCb& lp, TcpSegment& seg) {
  TcpState& t = stack.tcp;
  if (seg.has(kTcpRst)) {
    return Disposition::kDrop;
  }
  if (seg.has(kTcpAck)) {
    // Only while this listener sends cookies (for one slot beyond their
    // lifetime, so that late ones count as failed): a stray ACK otherwise
    // costs no MAC and gives a forger nothing to try.
    if (t.syncookies != 0 && !seg.has(kTcpSyn) && lp.syncookie_last &&
        stack.now() - *lp.syncookie_last < 3 * kTcpSyncookieSlot) {
      return tcp_syncookie_input(stack, lp, seg);
    }
    // "Any acknowledgment is bad if it arrives on a connection still in the
    // LISTEN state": <SEQ=SEG.ACK><CTL=RST>.
    ++t.stat.rcvnosock;
    return Disposition::kDropWithReset;
  }
  if (!seg.has(kTcpSyn) || seg.has(kTcpFin)) {
    ++t.stat.rcvbadsyn;  // SYN+FIN as BSD: dropped
    return Disposition::kDrop;
  }
  if (lp.syn_q.size() + lp.accept_q.size() >= static_cast<size_t>(lp.backlog)) {
    if (t.syncookies != 0) {
      // RFC 4987 §3.6: answer without keeping state; the connection is
      // made when the cookie comes back.
      tcp_syncookie_send(stack, lp, seg.dst, lp.lport, seg.src, seg.sport, seg.seq, seg.opts);
      return Disposition::kDrop;
    }
    // The queues are full: drop the SYN silently; the peer retransmits and
    // may find room later (Linux without syncookies).
    ++t.stat.listendrop;
    return Disposition::kDrop;
  }
  TcpCb* tp = tcp_syn_child(stack, lp, seg, seg);
  tp->irs = seg.seq;
  tp->rcv_nxt = seg.seq + 1;
  tp->rcv_adv = tp->rcv_nxt;
  tp->iss = tcp_new_isn(stack, tp->laddr, tp->lport, tp->faddr, tp->fport);
  tp->snd_una = tp->snd_nxt = tp->snd_max = tp->snd_recover = tp->iss;
  tp->snd_wnd = seg.wnd;  // RFC 7323 §2.2: never scaled in a SYN
  tp->max_sndwnd = tp->snd_wnd;
  tp->snd_wl1 = seg.seq;
  tp->snd_wl2 = tp->iss;
  lp.syn_q.push_back(tp);
  // Data on the SYN is not queued (the peer retransmits it after the
  // handshake, as with BSD's syncache).
  tcp_output(stack, *tp);
  return Disposition::kAccept;
}

// RFC 9293 §3.10.7.3: SYN-SENT.
Disposition tcp_input_syn_sent(Stack& stack, TcpCb& tp, TcpSegment& seg) {
  TcpState& t = stack.tcp;
  bool ack_ok = false;
  if (seg.has(kTcpAck)) {
    if (seg.ack <= tp.iss || seg.ack > tp.snd_max) {
      ++t.stat.rcvbadack;
      return seg.has(kTcpRst) ? Disposition::kDrop : Disposition::kDropWithReset;
    }
    ack_ok = true;
  }
  if (seg.has(kTcpRst)) {
    if (ack_ok) {
      // "If the ACK was acceptable, then signal to the user 'error:
      // connection reset', drop the segment, enter CLOSED state": a refusal.
      ++t.stat.rcvrst;
      tcp_drop(stack, tp, ECONNREFUSED, false);
    }
    return Disposition::kDrop;
  }
  if (!seg.has(kTcpSyn)) {
    return Disposition::kDrop;
  }
  tp.irs = seg.seq;
  tp.rcv_nxt = seg.seq + 1;
  tp.rcv_adv = tp.rcv_nxt;
  tcp_syn_options(stack, tp, seg);
  if (ack_ok) {
    tp.snd_una = seg.ack;
    tp.unacked_since = stack.now();  // TCP_USER_TIMEOUT counts from progress
    if (tp.snd_nxt < tp.snd_una) {
      tp.snd_nxt = tp.snd_una;
    }
    if (tp.rxtshift == 0) {  // Karn: not from a retransmitted SYN
      tcp_rtt_update(stack, tp, stack.now() - tp.rtt_start);
    }
    tp.rtt_timing = false;
    tp.rxtshift = 0;
    tp.rexmt_timer.stop();
    tp.snd_wnd = seg.wnd;  // never scaled in a SYN
    tp.max_sndwnd = tp.snd_wnd;
    tp.snd_wl1 = seg.seq;
    tp.snd_wl2 = seg.ack;
    tp.state = TcpFsmState::kEstablished;
    ++t.stat.connects;
    tp.t_rcvtime = stack.now();
    tcp_keep_start(stack, tp);
    tcp_wakeup(stack, tp);  // connected, writable
    tp.ack_now = true;
    tcp_output(stack, tp);
    return Disposition::kAccept;
  }
  // Simultaneous open (RFC 9293 §3.5 figure 8): SYN-RECEIVED, and our SYN
  // again, now with an ACK: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
  tp.state = TcpFsmState::kSynReceived;
  tp.snd_wnd = seg.wnd;
  tp.max_sndwnd = tp.snd_wnd;
  tp.snd_wl1 = seg.seq;
  tp.snd_wl2 = tp.iss;
  tp.snd_nxt = tp.iss;
  tp.rtt_timing = false;
  tcp_output(stack, tp);
  return Disposition::kAccept;
}

// The part of [start, end) the out-of-order queue holds already: all of it
// when the queue covers it, else the first overlap; none: nullopt.
std::optional<std::pair<TcpSeq, TcpSeq>> tcp_reass_dup(const TcpCb& tp, TcpSeq start, TcpSeq end) {
  TcpSeq covered = start;  // [start, covered) is queued
  std::optional<std::pair<TcpSeq, TcpSeq>> first;
  for (const auto& [s, m] : tp.reass) {
    const TcpSeq e = s + static_cast<uint32_t>(m.len());
    if (s >= end) {
      break;
    }
    if (e <= start) {
      continue;
    }
    if (!first) {
      first = std::pair{seq_max(s, start), seq_min(e, end)};
    }
    if (s <= covered) {
      covered = seq_max(covered, e);
    }
  }
  if (covered >= end) {
    return std::pair{start, end};
  }
  return first;
}

// Queue in-order data for the user, or out-of-order data for later.
void tcp_reass(Stack& stack, TcpCb& tp, TcpSegment& seg) {
  TcpState& t = stack.tcp;
  if (seg.seq != tp.rcv_nxt || !tp.reass.empty()) {
    if (seg.seq != tp.rcv_nxt) {
      // Queued already, in whole or in part (a duplicate from the network
      // or a needless retransmission): RFC 2883 §4 reports it by D-SACK;
      // a whole duplicate is not queued twice.
      if (auto dup = tcp_reass_dup(tp, seg.seq, seg.seq + seg.len)) {
        tcp_sack_rcv_dup(tp, dup->first, dup->second);
        if (dup->first == seg.seq && dup->second == seg.seq + seg.len) {
          ++t.stat.rcvduppack;
          t.stat.rcvdupbyte += seg.len;
          if (tp.sack_ok) {
            tcp_sack_rcv_update(tp, seg.seq, seg.seq + seg.len);  // §4.1.2: its block next
          }
          tp.ack_now = true;
          return;
        }
      }
      if (tp.reass.size() >= static_cast<size_t>(t.reass_max)) {
        ++t.stat.rcvreassfull;  // SegmentSmack class: the queue is bounded
        tp.ack_now = true;
        return;
      }
      ++t.stat.rcvoopack;
      t.stat.rcvoobyte += seg.len;
      auto pos = std::find_if(tp.reass.begin(), tp.reass.end(),
                              [&](const auto& e) { return seg.seq < e.first; });
      tp.reass.insert(pos, {seg.seq, std::move(seg.data)});
      if (tp.sack_ok && seg.len > 0) {
        tcp_sack_rcv_update(tp, seg.seq, seg.seq + seg.len);
      }
      tp.ack_now = true;  // RFC 5681 §4.2: out of order is ACKed at once
      return;
    }
  }
  auto deliver = [&](Mbuf data, uint32_t len) {
    tp.rcv_nxt += len;
    if (tp.cant_rcv || len == 0) {
      return;  // shut for reading: acknowledged, then discarded
    }
    tp.rcv_cc += len;
    if (tp.rcv_buf) {
      tp.rcv_buf.concat(std::move(data));
    } else {
      tp.rcv_buf = std::move(data);
    }
  };
  ++t.stat.rcvpack;
  t.stat.rcvbyte += seg.len;
  deliver(std::move(seg.data), seg.len);
  // RFC 5681 §4.2: a segment that fills all or part of a gap is ACKed at
  // once, so the sender learns of it without the delayed-ACK wait.
  bool filled_hole = !tp.reass.empty();
  // Pull what now joins on from the out-of-order queue (overlaps trimmed).
  while (!tp.reass.empty() && tp.reass.front().first <= tp.rcv_nxt) {
    auto [s, m] = std::move(tp.reass.front());
    tp.reass.erase(tp.reass.begin());
    auto mlen = static_cast<uint32_t>(m.len());
    TcpSeq end = s + mlen;
    if (end <= tp.rcv_nxt) {
      continue;
    }
    m.trim_front(tp.rcv_nxt - s);
    deliver(std::move(m), end - tp.rcv_nxt);
    filled_hole = true;
  }
  tcp_sack_rcv_trim(tp);
  // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full
  // segment, else within the delayed-ACK time; at once when a hole filled.
  if (filled_hole) {
    tp.ack_now = true;
  } else if (++tp.segs_unacked >= 2) {
    tp.ack_now = true;
  } else if (!tp.delack_pending) {
    tp.delack_pending = true;
    tp.delack_timer.reset(std::chrono::milliseconds(t.delack_ms));
  }
  tcp_wakeup(stack, tp);
}

// Cut a segment down to the receive window: the part already received in
// front, what lies beyond the right edge at the back. RFC 9293 §3.10.7.4
// ("If a segment's contents straddle the boundary ...").
void tcp_trim(Stack& stack, TcpCb& tp, TcpSegment& seg, uint32_t rwnd) {
  TcpState& t = stack.tcp;
  if (seg.seq < tp.rcv_nxt) {
    uint32_t dup = tp.rcv_nxt - seg.seq;
    if (seg.has(kTcpSyn)) {
      seg.flags &= static_cast<TcpFlags>(~kTcpSyn);
      seg.seq += 1;
      --dup;
    }
    // RFC 2883 §4: the part that arrived twice, reported by D-SACK.
    tcp_sack_rcv_dup(tp, seg.seq, seg.seq + std::min(dup, seg.len));
    if (dup >= seg.len) {
      if (seg.len > 0) {
        ++t.stat.rcvduppack;
        t.stat.rcvdupbyte += seg.len;
      }
      if (dup > seg.len) {
        seg.flags &= static_cast<TcpFlags>(~kTcpFin);  // an old FIN
      }
      dup = seg.len;
      tp.ack_now = true;
    } else {
      ++t.stat.rcvpartduppack;
    }
    seg.data.trim_front(dup);
    seg.len -= dup;
    seg.seq += dup;
  }
  TcpSeq right = tp.rcv_nxt + rwnd;
  if (seg.seq + seg.len > right) {
    uint32_t excess = (seg.seq + seg.len) - right;
    ++t.stat.rcvpackafterwin;
    excess = std::min(excess, seg.len);
    seg.data.trim_back(excess);
    seg.len -= excess;
    seg.flags &= static_cast<TcpFlags>(~kTcpFin);
    tp.ack_now = true;
  }
}

// RCV.UP <- max(RCV.UP, SEG.SEQ + SEG.UP) (RFC 9293 §3.10.7.4), with the
// pointer naming the byte after the urgent byte (RFC 6093 §4). Only a
// pointer beyond the known one counts — or, when the last urgent byte was
// handed over, one whose byte the user has not taken yet — so that a
// retransmission carrying an old pointer marks nothing again. The byte
// may lie ahead of what has arrived; the user gets it when it does.
void tcp_urgent_input(Stack& stack, TcpCb& tp, TcpSeq ptr) {
  TcpSeq byte = ptr - 1u;
  bool newer = tp.rcv_urgent ? ptr > tp.rcv_up : byte >= tcp_rcv_head(tp);
  if (!newer) {
    return;
  }
  ++stack.tcp.stat.rcvurg;
  tp.rcv_up = ptr;
  tp.rcv_urgent = true;
  tcp_wakeup(stack, tp);
}

// RFC 5681 §3.2 and RFC 6582 §3.2: the third duplicate ACK starts fast
// retransmit and NewReno recovery; later ones inflate the window.
void tcp_dupack(Stack& stack, TcpCb& tp) {
  TcpState& t = stack.tcp;
  uint32_t seg = tcp_smss(tp);
  ++t.stat.rcvdupack;
  ++tp.dupacks;
  if (tp.sack_ok) {
    // RFC 6675 §5: in recovery each duplicate ACK only updates the
    // scoreboard (done) and lets tcp_output send as pipe allows. Out of it,
    // the DupThresh-th duplicate, or a scoreboard that already shows the
    // first segment lost (IsLost(HighACK + 1), step (5)), starts recovery,
    // unless the ACKs are about data sent before the last recovery or
    // timeout ended (as RFC 6582 §3.2 step 2).
    if (tp.in_recovery) {
      tcp_output(stack, tp);
      return;
    }
    // With RACK (tcp_rack.cc) the count decides only while no SACK block
    // came: its reordering window replaces DupThresh (RFC 8985 §6.2).
    const bool count_decides = !tcp_rack_active(tp) || tp.scoreboard.empty();
    bool lost = (tp.dupacks >= 3 && count_decides) || tcp_sack_is_lost(tp, tp.snd_una);
    bool after_recover = !(tp.snd_una - 1 < tp.snd_recover && tp.snd_recover != tp.iss);
    if (lost && after_recover) {
      tcp_sack_enter_recovery(stack, tp);
    }
    tcp_limited_transmit(stack, tp);  // RFC 3042 (tcp_rack.cc): dupacks 1 and 2
    return;
  }
  if (tp.in_recovery) {
    if (tp.dupacks > 3) {
      tp.cwnd += seg;
      tcp_output(stack, tp);
    }
    return;
  }
  if (tp.dupacks != 3) {
    tcp_limited_transmit(stack, tp);  // RFC 3042 (tcp_rack.cc): dupacks 1 and 2
    return;
  }
  // RFC 6582 §3.2 step 2: not while the ACKs are about data sent before
  // the last recovery or timeout ended ("the ACK covers more than recover").
  if (tp.snd_una - 1 < tp.snd_recover && tp.snd_recover != tp.iss) {
    return;
  }
  ++t.stat.fastretrans;
  tp.cc->on_loss(stack.now(), tp);
  tp.snd_recover = tp.snd_max;
  tp.in_recovery = true;
  tp.rexmt_timer.stop();
  tp.rtt_timing = false;
  TcpSeq saved = tp.snd_nxt;
  tp.snd_nxt = tp.snd_una;
  tp.cwnd = seg;
  tcp_output(stack, tp);
  tp.cwnd = tp.ssthresh + 3 * seg;
  tp.snd_nxt = seq_max(saved, tp.snd_nxt);
}

// A duplicate ACK that arrives after a later one (the network reordered
// them) carries an older timestamp; PAWS would drop it and lose its SACK
// blocks and its count toward fast retransmit. It cannot be an old
// duplicate from an earlier incarnation doing harm when it is a pure ACK
// of exactly what we expect, duplicates SND.UNA, moves no window and its
// timestamp is within one RTO of TS.Recent: accept it (Linux
// tcp_disordered_ack; RFC 7323 §5.3 leaves acceptance of such segments to
// the implementation's judgement of harm).
bool tcp_disordered_ack(const TcpCb& tp, const TcpSegment& seg) {
  if (!seg.has(kTcpAck) || seg.has(kTcpSyn) || seg.has(kTcpFin) || seg.len != 0 ||
      seg.seq != tp.rcv_nxt || seg.ack != tp.snd_una) {
    return false;
  }
  uint32_t wnd = uint32_t{seg.wnd} << tp.snd_scale;
  bool window_update = tp.snd_wl1 < seg.seq || (tp.snd_wl1 == seg.seq && wnd > tp.snd_wnd);
  if (window_update) {
    return false;
  }
  // One RTO in the peer's TSval ticks, taken as milliseconds (Linux and
  // the BSDs tick at 1 ms; RFC 7323 §5.4 asks for 1 ms to 1 s).
  auto rto_ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.rto).count();
  return static_cast<int32_t>(tp.ts_recent - seg.opts.timestamp->val) <= rto_ms;
}

// RFC 9293 §3.10.7.4: every state from SYN-RECEIVED to TIME-WAIT.
Disposition tcp_input_synchronized(Stack& stack, TcpCb& tp, TcpSegment& seg) {
  TcpState& t = stack.tcp;
  const bool validate = t.rst_validation != 0;
  // RFC 7323 §5.3 R1, PAWS: a timestamp older than TS.Recent marks an old
  // duplicate. After 24 days of idleness TS.Recent is stale (§5.5).
  if (tp.ts_ok && seg.opts.timestamp && !seg.has(kTcpRst) &&
      ts_lt(seg.opts.timestamp->val, tp.ts_recent) && !tcp_disordered_ack(tp, seg)) {
    if (stack.now() - tp.ts_recent_age > std::chrono::hours(24 * 24)) {
      tp.ts_recent = 0;
    } else {
      ++t.stat.pawsdrop;
      if (seg.len > 0 && seg.seq + seg.len <= tp.rcv_nxt && !seg.has(kTcpSyn)) {
        tcp_sack_rcv_dup(tp, seg.seq, seg.seq + seg.len);  // old data again: D-SACK (RFC 2883)
      }
      return Disposition::kDropAfterAck;
    }
  }
  if (tp.state == TcpFsmState::kTimeWait && seg.has(kTcpSyn) && !seg.has(kTcpAck) &&
      !seg.has(kTcpRst)) {
    // RFC 6191 §2 (and RFC 9293 §3.6.1 for the sequence rule): a new SYN
    // may end TIME-WAIT when its timestamp is beyond the old incarnation's,
    // or equal to it with a sequence number beyond (a port reused within
    // the same millisecond: TSval's offset is per 4-tuple), or, without
    // timestamps, when its sequence number is beyond.
    bool newer = tp.ts_ok && seg.opts.timestamp
                     ? ts_lt(tp.ts_recent, seg.opts.timestamp->val) ||
                           (tp.ts_recent == seg.opts.timestamp->val && seg.seq > tp.rcv_nxt)
                     : seg.seq > tp.rcv_nxt;
    TcpCb* lp = newer ? tcp_lookup_listener(stack, seg.dst, seg.dport) : nullptr;
    if (lp != nullptr) {
      ++t.stat.twreuse;
      tcp_close(stack, tp);
      return tcp_input_listen(stack, *lp, seg);
    }
  }
  if (tp.state == TcpFsmState::kSynReceived && seg.has(kTcpSyn) && !seg.has(kTcpRst) &&
      seg.seq == tp.irs) {
    if (!seg.has(kTcpAck)) {
      // The peer's SYN again: our SYN,ACK was lost. Answer it again (BSD
      // treats it as a duplicate and re-sends the SYN,ACK).
      tp.snd_nxt = tp.iss;
      tcp_output(stack, tp);
      return Disposition::kDrop;
    }
    // Simultaneous open, RFC 9293 §3.5 figure 8 line 6: the peer's SYN,ACK
    // repeats the SYN we already have; BSD trims it as a duplicate and
    // goes on with the ACK.
    seg.flags &= static_cast<TcpFlags>(~kTcpSyn);
    seg.seq += 1;
  }

  // First: the sequence number (RFC 9293 §3.10.7.4 table).
  uint32_t rwnd =
      std::max(tcp_rcv_space(tp), tp.rcv_adv > tp.rcv_nxt ? tp.rcv_adv - tp.rcv_nxt : 0u);
  if (tp.state == TcpFsmState::kTimeWait) {
    rwnd = 0;
  }
  bool acceptable;
  if (seg.len == 0) {
    acceptable =
        rwnd == 0 ? seg.seq == tp.rcv_nxt : (tp.rcv_nxt <= seg.seq && seg.seq < tp.rcv_nxt + rwnd);
  } else {
    acceptable =
        rwnd != 0 &&
        ((tp.rcv_nxt <= seg.seq && seg.seq < tp.rcv_nxt + rwnd) ||
         (tp.rcv_nxt <= seg.seq + seg.len - 1 && seg.seq + seg.len - 1 < tp.rcv_nxt + rwnd));
    // Data that begins before RCV.NXT and runs into the window is
    // acceptable too: the old part is trimmed.
    if (!acceptable && rwnd != 0 && seg.seq < tp.rcv_nxt && seg.seq + seg.len > tp.rcv_nxt) {
      acceptable = true;
    }
  }
  if (!acceptable && validate && seg.has(kTcpSyn) && tcps_have_established(tp.state)) {
    // Handled by the SYN rule below (RFC 5961 §4). Without validation a
    // SYN outside the window is an unacceptable segment: ACK, drop (RFC
    // 793 p. 69).
    acceptable = true;
  }
  if (!acceptable) {
    if (seg.has(kTcpRst)) {
      ++t.stat.rcvrstoutwin;  // RFC 5961 §3.2: "silently drop"
      return Disposition::kDrop;
    }
    if (rwnd == 0 && seg.len > 0 && seg.seq == tp.rcv_nxt) {
      ++t.stat.rcvwinprobe;
    } else if (seg.seq + seg.len <= tp.rcv_nxt) {
      ++t.stat.rcvduppack;
      t.stat.rcvdupbyte += seg.len;
      if (!seg.has(kTcpSyn)) {
        tcp_sack_rcv_dup(tp, seg.seq, seg.seq + seg.len);  // RFC 2883 §4: D-SACK
      }
    } else {
      ++t.stat.rcvoutwin;
    }
    return Disposition::kDropAfterAck;
  }
  // The peer was heard: the connection is not idle (RFC 9293 §3.8.4; BSD
  // t_rcvtime), and any keepalive probe is answered.
  tp.t_rcvtime = stack.now();
  tp.keep_probes = 0;
  // RFC 7323 §4.3: remember the newest timestamp of a segment that covers
  // the last ACK we sent.
  if (tp.ts_ok && seg.opts.timestamp && seg.seq <= tp.last_ack_sent &&
      !ts_lt(seg.opts.timestamp->val, tp.ts_recent)) {
    tp.ts_recent = seg.opts.timestamp->val;
    tp.ts_recent_age = stack.now();
  }

  // Second: RST (RFC 5961 §3.2).
  if (seg.has(kTcpRst)) {
    if (validate && seg.seq != tp.rcv_nxt) {
      ++t.stat.rcvrstchallenge;
      tcp_challenge_ack(stack, tp);
      return Disposition::kDrop;
    }
    ++t.stat.rcvrst;
    switch (tp.state) {
      case TcpFsmState::kSynReceived:
        // Passive: back to nothing (the listener goes on). Active
        // (simultaneous open): "connection refused".
        tcp_drop(stack, tp, tp.listener != nullptr ? 0 : ECONNREFUSED, false);
        break;
      case TcpFsmState::kEstablished:
      case TcpFsmState::kFinWait1:
      case TcpFsmState::kFinWait2:
      case TcpFsmState::kCloseWait:
        tcp_drop(stack, tp, ECONNRESET, false);
        break;
      default:  // CLOSING, LAST-ACK, TIME-WAIT (RFC 1337 hazard accepted, as Linux)
        tcp_close(stack, tp);
        break;
    }
    return Disposition::kDrop;
  }

  // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK,
  // whatever its sequence number; the connection stays.
  if (seg.has(kTcpSyn)) {
    if (!validate) {
      // RFC 793 p. 71 without RFC 5961: "If the SYN is in the window it
      // is an error, send a reset", and the connection goes.
      tcp_drop(stack, tp, ECONNRESET, true);
      return Disposition::kDrop;
    }
    ++t.stat.rcvsynchallenge;
    tcp_challenge_ack(stack, tp);
    return Disposition::kDrop;
  }

  tcp_trim(stack, tp, seg, rwnd);

  // Fifth: the ACK field.
  if (!seg.has(kTcpAck)) {
    return Disposition::kDrop;
  }
  if (tp.state == TcpFsmState::kSynReceived) {
    if (seg.ack <= tp.snd_una || seg.ack > tp.snd_max) {
      ++t.stat.rcvbadack;
      return Disposition::kDropWithReset;  // <SEQ=SEG.ACK><CTL=RST>
    }
    tp.state = TcpFsmState::kEstablished;
    tp.snd_una += 1;  // our SYN is acknowledged
    tp.snd_wnd = uint32_t{seg.wnd} << tp.snd_scale;
    tp.max_sndwnd = std::max(tp.max_sndwnd, tp.snd_wnd);
    tp.snd_wl1 = seg.seq;
    tp.snd_wl2 = seg.ack;
    tp.rexmt_timer.stop();
    if (tp.rxtshift == 0) {
      tcp_rtt_update(stack, tp, stack.now() - tp.rtt_start);
    }
    tp.rxtshift = 0;
    ++t.stat.connects;
    tcp_keep_start(stack, tp);
    if (TcpCb* lp = tp.listener) {
      if (lp->defer_accept > 0 && seg.len == 0 && !seg.has(kTcpFin)) {
        // tcp(7) TCP_DEFER_ACCEPT: a bare ACK does not make the connection
        // acceptable; its first data (or FIN) does, or the end of the
        // period (Linux then accepts it on the peer's next ACK).
        ++t.stat.deferaccept;
        tp.deferred = true;
        tp.defer_timer.reset(std::chrono::seconds(lp->defer_accept));
      } else {
        tcp_accept_ready(stack, tp);
      }
    } else {
      tcp_wakeup(stack, tp);
    }
  }
  // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
  if (seg.ack > tp.snd_max) {
    ++t.stat.rcvacktoomuch;
    return Disposition::kDropAfterAck;
  }
  if (validate && seg.ack < tp.snd_una - tp.max_sndwnd) {
    ++t.stat.rcvackold;
    tcp_challenge_ack(stack, tp);
    return Disposition::kDrop;
  }
  uint32_t seg_wnd = uint32_t{seg.wnd} << tp.snd_scale;
  bool ours_fin_acked = false;
  // RFC 2018 §3 / RFC 6675 §5 Update(): the scoreboard learns the blocks.
  const uint32_t newly_sacked = tcp_sack_input(stack, tp, seg.opts);
  // RFC 8985 §6.2: RACK learns what was delivered and marks losses (tcp_rack.cc).
  const TcpSeq una_before_ack = tp.snd_una;
  tcp_rack_update(stack, tp, seg.ack, seg.opts);
  if (seg.ack <= tp.snd_una) {
    bool pure_dup = seg.ack == tp.snd_una && seg.len == 0 && !seg.has(kTcpFin) &&
                    seg_wnd == tp.snd_wnd && tp.snd_una != tp.snd_max;
    // RFC 6675 §2 "DupAck": with SACK, an ACK that SACKs new data is a
    // duplicate even when it carries data or a new window.
    bool sack_dup =
        tp.sack_ok && seg.ack == tp.snd_una && newly_sacked > 0 && tp.snd_una != tp.snd_max;
    if (pure_dup || sack_dup) {
      tcp_dupack(stack, tp);
    } else {
      tp.dupacks = 0;
    }
  } else {
    uint32_t seg_sz = tcp_smss(tp);
    uint32_t acked = seg.ack - tp.snd_una;
    ++t.stat.rcvackpack;
    t.stat.rcvackbyte += acked;
    // RTT from the timed segment, never from a retransmitted one (Karn).
    if (tp.rtt_timing && seg.ack > tp.rtt_seq) {
      tcp_rtt_update(stack, tp, stack.now() - tp.rtt_start);
      tp.rtt_timing = false;
    }
    tp.rxtshift = 0;
    tp.soft_error = 0;  // the path works again (Linux tcp_ack clears sk_err_soft)
    const bool snd_full = tp.snd_cc * 8 >= tp.snd_hiwat * 7;
    uint32_t data_acked = std::min<uint32_t>(acked, static_cast<uint32_t>(tp.snd_cc));
    if (tp.fin_queued && acked > tp.snd_cc) {
      ours_fin_acked = true;  // SEG.ACK covers the FIN after the last byte
    }
    if (data_acked > 0) {
      tp.snd_buf.trim_front(data_acked);
      tp.snd_cc -= data_acked;
      if (tp.snd_cc == 0) {
        tp.snd_buf.reset();
      }
    }
    tp.snd_una = seg.ack;
    tp.unacked_since = stack.now();  // TCP_USER_TIMEOUT counts from progress
    if (tp.snd_nxt < tp.snd_una) {
      tp.snd_nxt = tp.snd_una;
    }
    tcp_sack_trim(tp);
    if (tp.in_recovery && tp.sack_ok) {
      if (seg.ack < tp.snd_recover) {
        // RFC 6675 §5: a partial ACK; the timer restarts (RFC 6298 §5.3)
        // and tcp_output sends as pipe allows. A peer that negotiated SACK
        // but sends no blocks gets NewReno's answer: the next segment is
        // retransmitted (RFC 6582 §3.2 step 5).
        ++t.stat.partialack;
        if (tp.scoreboard.empty() && tp.high_rxt <= tp.snd_una) {
          uint32_t len = std::min(seg_sz, tp.snd_max - tp.snd_una);
          if (tcp_send_range(stack, tp, tp.snd_una, len, true)) {
            tp.high_rxt = tp.snd_una + len;
            ++t.stat.sack_rexmits;
            t.stat.sack_rexmit_bytes += len;
          }
        }
        tcp_set_rexmt(stack, tp);
      } else {
        // Recovery ends. RFC 6675 never inflated cwnd: it is what the
        // reduction left (ssthresh, RFC 6675 §5 (4.2)) or what an undo
        // restored, and stays so (as Linux's tcp_end_cwnd_reduction).
        // Deflating to FlightSize + SMSS would leave one segment after an
        // ACK of everything, and a delayed ACK to wait for.
        tp.in_recovery = false;
        tp.high_rxt = tp.snd_una;
      }
    } else if (tp.in_recovery) {
      if (seg.ack < tp.snd_recover) {
        // RFC 6582 §3.2 step 5: a partial ACK: retransmit the next hole,
        // deflate by what was acknowledged, add back one segment.
        ++t.stat.partialack;
        TcpSeq saved = tp.snd_nxt;
        uint32_t cw = tp.cwnd;
        tp.snd_nxt = tp.snd_una;
        tp.cwnd = seg_sz;
        tcp_output(stack, tp);
        tp.snd_nxt = seq_max(saved, tp.snd_nxt);
        tp.cwnd = (cw > acked ? cw - acked : 0) + seg_sz;
        tcp_set_rexmt(stack, tp);
      } else {
        // Step 3 (full ACK): deflate to min(ssthresh, FlightSize + SMSS).
        tp.cwnd = std::min(tp.ssthresh, tp.flight() + seg_sz);
        tp.in_recovery = false;
      }
    } else {
      tp.cc->on_ack(stack.now(), tp, acked);  // slow start or congestion avoidance
    }
    tp.dupacks = 0;
    if (tp.snd_una == tp.snd_max) {
      tp.rexmt_timer.stop();
    } else if (!tp.in_recovery) {
      tcp_set_rexmt(stack, tp);
    }
    if (data_acked > 0) {
      tcp_sndbuf_autotune(stack, tp, snd_full);
      tcp_wakeup(stack, tp);  // writable
    }
  }
  // RFC 8985: recovery on RACK's marks, the TLP episode, RACK's timers.
  tcp_rack_ack_done(stack, tp, tp.snd_una != una_before_ack);
  // Window update (RFC 9293 §3.10.7.4 "ESTABLISHED STATE").
  if (tp.snd_wl1 < seg.seq || (tp.snd_wl1 == seg.seq && tp.snd_wl2 <= seg.ack)) {
    if (seg.len == 0 && seg_wnd != tp.snd_wnd && seg.ack == tp.snd_una) {
      ++t.stat.rcvwinupd;
    }
    bool opened = tp.snd_wnd == 0 && seg_wnd > 0;
    tp.snd_wnd = seg_wnd;
    tp.max_sndwnd = std::max(tp.max_sndwnd, seg_wnd);
    tp.snd_wl1 = seg.seq;
    tp.snd_wl2 = seg.ack;
    if (opened) {
      tp.persist_timer.stop();
      tp.persist_shift = 0;
      tp.zwnd_since.reset();
    }
  }
  if (ours_fin_acked) {
    switch (tp.state) {
      case TcpFsmState::kFinWait1:
        tp.state = TcpFsmState::kFinWait2;
        if (tp.so == nullptr) {
          // Nobody will read: do not wait forever for the peer's FIN
          // (Linux tcp_fin_timeout, BSD tcp_maxidle).
          tp.twait_timer.reset(std::chrono::milliseconds(t.fin_wait2_ms));
        }
        break;
      case TcpFsmState::kClosing:
        tcp_start_timewait(stack, tp);
        break;
      case TcpFsmState::kLastAck:
        tcp_close(stack, tp);
        return Disposition::kDrop;
      default:
        break;
    }
  }

  // Sixth: the urgent pointer (RFC 9293 §3.10.7.4), while data can still
  // come and be read (also on a connection not yet accepted).
  if (seg.urgent_ptr && !tp.cant_rcv &&
      (tp.state == TcpFsmState::kEstablished || tp.state == TcpFsmState::kFinWait1 ||
       tp.state == TcpFsmState::kFinWait2)) {
    tcp_urgent_input(stack, tp, *seg.urgent_ptr);
  }

  // Seventh: the data.
  if (seg.len > 0) {
    switch (tp.state) {
      case TcpFsmState::kEstablished:
      case TcpFsmState::kFinWait1:
      case TcpFsmState::kFinWait2:
        if (tp.so == nullptr && tp.listener == nullptr) {
          // The user closed and will never read it: tell the peer (Linux
          // and BSD send a RST; RFC 9293 §3.10.4 allows it).
          ++t.stat.rcvafterclose;
          tcp_drop(stack, tp, 0, true);
          return Disposition::kDrop;
        }
        tcp_reass(stack, tp, seg);
        break;
      default:
        break;  // the peer's FIN came already: ignored
    }
  }

  // Eighth: FIN, once everything before it arrived.
  if (seg.has(kTcpFin) && seg.seq + seg.len == tp.rcv_nxt && tp.reass.empty()) {
    if (!tcps_rcvd_fin(tp.state)) {
      tp.rcv_nxt += 1;
      tp.fin_received = true;
      tcp_wakeup(stack, tp);  // readable: end of file
    }
    tp.ack_now = true;
    switch (tp.state) {
      case TcpFsmState::kSynReceived:
      case TcpFsmState::kEstablished:
        tp.state = TcpFsmState::kCloseWait;
        break;
      case TcpFsmState::kFinWait1:
        tp.state = TcpFsmState::kClosing;  // simultaneous close
        break;
      case TcpFsmState::kFinWait2:
        tcp_start_timewait(stack, tp);
        break;
      case TcpFsmState::kTimeWait:
        tcp_start_timewait(stack, tp);  // restart the 2 MSL wait
        break;
      default:
        break;
    }
  }
  tcp_output(stack, tp);
  return Disposition::kAccept;
}

}  // namespace

// Window scale we ask for: the smallest shift that lets the window cover
// the receive buffer (RFC 7323 §2.3), at most 14.
uint8_t tcp_pick_rscale(size_t rcv_hiwat) {
  uint8_t s = 0;
  while (s < kTcpMaxWscale && (uint64_t{65535} << s) < rcv_hiwat) {
    ++s;
  }
  return s;
}

void tcp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& /*rcvif*/) noexcept {
  TcpState& t = stack.tcp;
  tcp_gc(stack);
  ++t.stat.rcvtotal;
  size_t seg_len = m.len() - iphlen;
  auto first = m.pullup(iphlen + std::min(seg_len, TcpHeader::kMaxSize));
  if (first.size() < iphlen + std::min(seg_len, TcpHeader::kMaxSize)) {
    ++t.stat.rcvshort;
    return;
  }
  InAddr src{load_be32(first, 12)}, dst{load_be32(first, 16)};
  auto parsed = TcpHeader::parse(std::span<const std::byte>(first).subspan(iphlen), seg_len);
  if (!parsed) {
    ++(parsed.error() == TcpParseError::kTooShort ? t.stat.rcvshort : t.stat.rcvbadoff);
    return;
  }
  const TcpHeader th = parsed.value();
  // RFC 9293 §3.1: the checksum is mandatory. Frames this stack looped back
  // were summed moments ago.
  if (!(m.hdr().flags & kMbufLoop)) {
    uint32_t sum = in_cksum_add_mbuf(
        in_pseudo_sum(src, dst, kIpProtoTcp, static_cast<uint16_t>(seg_len)), m, iphlen, seg_len);
    if (in_cksum_finish(sum) != 0) {
      ++t.stat.rcvbadsum;
      return;
    }
  }
  // RFC 1122 §4.2.3.10: no TCP to or from broadcast or multicast.
  if (dst.is_broadcast() || dst.is_multicast() || src.is_broadcast() || src.is_multicast() ||
      (m.hdr().flags & (kMbufBcast | kMbufMcast)) != 0) {
    ++t.stat.rcvbadaddr;
    return;
  }
  TcpSegment seg;
  seg.src = src;
  seg.dst = dst;
  seg.sport = th.src_port();
  seg.dport = th.dst_port();
  seg.seq = th.seq();
  seg.ack = th.ack();
  seg.flags = th.flags();
  seg.wnd = th.window();
  if ((seg.flags & kTcpUrg) != 0 && th.urgent() != 0) {
    seg.urgent_ptr = seg.seq + th.urgent();
  }
  seg.opts = tcp_options_parse(th.options());
  if (seg.opts.malformed) {
    ++t.stat.rcvbadopt;
  }
  size_t hlen = th.header_len();
  seg.len = static_cast<uint32_t>(seg_len - hlen);
  m.trim_front(iphlen + hlen);  // `th` is dead from here on
  seg.data = std::move(m);

  TcpCb* tp = tcp_lookup(stack, src, seg.sport, dst, seg.dport);
  if (tp == nullptr) {
    tp = tcp_lookup_listener(stack, dst, seg.dport);
  }
  if (tp == nullptr) {
    // RFC 9293 §3.10.7.1: CLOSED — answer with a reset.
    ++t.stat.noport;
    tcp_reset_for(stack, seg);
    return;
  }
  Disposition d;
  switch (tp->state) {
    case TcpFsmState::kListen:
      d = tcp_input_listen(stack, *tp, seg);
      break;
    case TcpFsmState::kSynSent:
      d = tcp_input_syn_sent(stack, *tp, seg);
      break;
    case TcpFsmState::kClosed:
      d = Disposition::kDropWithReset;
      break;
    default:
      d = tcp_input_synchronized(stack, *tp, seg);
      break;
  }
  switch (d) {
    case Disposition::kAccept:
    case Disposition::kDrop:
      break;
    case Disposition::kDropAfterAck:
      // "send an acknowledgment ... drop the segment" — never for a RST.
      if (!seg.has(kTcpRst) && tp->state != TcpFsmState::kClosed) {
        tp->ack_now = true;
        tcp_output(stack, *tp);
      }
      break;
    case Disposition::kDropWithReset:
      tcp_reset_for(stack, seg);
      break;
  }
  // Data queued without a segment sent (a delayed ACK) is counted now.
  tcp_mem_account(stack, *tp);
}

}  // namespace iopkt
