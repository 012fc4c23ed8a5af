// netinet/tcp_rack.cc — RACK-TLP (RFC 8985) and Limited Transmit
// (RFC 3042) for the sender. See tcp_rack.hh for how they sit beside
// RFC 6675 (tcp_sack.cc).
//
// Per-segment state lives in TcpRack::segs, a deque sorted by sequence
// number: a new segment is appended, a retransmission updates (splitting
// where its edges fall inside) the records it covers, a cumulative ACK pops
// them from the front. New data is sent in sequence order, so above the
// highest retransmitted byte the records are also in transmission order:
// the loss scan stops at the first one sent after RACK's segment and costs,
// in the common case of no loss, nothing but that one look.
#include "netinet/tcp_rack.hh"

#include <algorithm>

#include "core/stack.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// Records kept; past it the two lowest merge (the merged one keeps the
// later transmission time, so it is found lost later, never earlier).
// 8192 segments cover a 4 MB send buffer at an MSS of 536.
constexpr size_t kTcpRackSegsMax = 8192;
// RFC 8985 §6.2 step 4 and RFC 6675 §2: DupThresh.
constexpr uint32_t kDupThresh = 3;
// RFC 8985 §7.2: the worst-case delayed-ACK time added to the PTO when a
// single segment is in flight (WCDelAckT).
constexpr Duration kWcDelAckT = std::chrono::milliseconds(200);
// The PTO before any RTT sample (RFC 8985 §7.2: "If SRTT is not
// available, PTO = 1 second").
constexpr Duration kPtoNoRtt = std::chrono::seconds(1);
// The least PTO: on a LAN 2*SRTT would be microseconds and every pause of
// the sender a probe (Linux adds 2 ms; against a Linux receiver on a lossy
// veth 2 ms sent 3.5 times the probes of 10 ms for no gain).
constexpr Duration kPtoMin = std::chrono::milliseconds(10);
// RFC 8985 §6.2 step 4: recoveries a widened reordering window outlives;
// and a bound on the multiplier (the window is at most SRTT anyway).
constexpr uint32_t kReoWndPersist = 16;
constexpr uint32_t kReoWndMultMax = 64;
// Retransmissions of one recovery that an undo can still account for.
constexpr size_t kUndoRangesMax = 64;

using Seg = TcpRackSeg;

bool data_state(TcpFsmState s) {
  return tcps_have_established(s) && s != TcpFsmState::kTimeWait && s != TcpFsmState::kFinWait2;
}

// Segment a left before segment RACK names (RFC 8985 §6.2 "RACK_sent_after",
// with the transmission order breaking ties of the clock instead of the
// end sequence, which would misorder a retransmission sent in the same
// instant as new data).
bool sent_before(const Seg& s, const TcpRack& r) {
  return s.xmit < r.xmit || (s.xmit == r.xmit && s.order < r.order);
}

// The index of the record holding `seq`, or segs.size().
size_t find_seg(const TcpRack& r, TcpSeq seq) {
  auto it = std::upper_bound(r.segs.begin(), r.segs.end(), seq,
                             [](TcpSeq v, const Seg& s) { return v < s.start; });
  if (it == r.segs.begin()) {
    return r.segs.size();
  }
  --it;
  return seq < it->end ? static_cast<size_t>(it - r.segs.begin()) : r.segs.size();
}

// Make `at` a record boundary (when it falls inside one).
void split_at(TcpRack& r, TcpSeq at) {
  size_t i = find_seg(r, at);
  if (i == r.segs.size() || r.segs[i].start == at) {
    return;
  }
  Seg hi = r.segs[i];
  hi.start = at;
  r.segs[i].end = at;
  // Both halves carry the flags; the counters count records.
  r.nlost += hi.lost ? 1 : 0;
  r.nsacked += hi.sacked ? 1 : 0;
  r.segs.insert(r.segs.begin() + static_cast<std::ptrdiff_t>(i) + 1, hi);
}

void drop_front(TcpRack& r) {
  const Seg& f = r.segs.front();
  r.nlost -= f.lost ? 1 : 0;
  r.nsacked -= f.sacked ? 1 : 0;
  r.segs.pop_front();
}

void bound(TcpRack& r) {
  if (r.segs.size() <= kTcpRackSegsMax) {
    return;
  }
  Seg a = r.segs[0];
  drop_front(r);
  Seg& b = r.segs[0];
  r.nlost -= b.lost ? 1 : 0;
  r.nsacked -= b.sacked ? 1 : 0;
  b.start = a.start;
  b.rexmit = a.rexmit || b.rexmit;
  b.lost = a.lost && b.lost;
  b.sacked = a.sacked && b.sacked;
  if (a.xmit > b.xmit || (a.xmit == b.xmit && a.order > b.order)) {
    b.xmit = a.xmit;
    b.order = a.order;
  }
  r.nlost += b.lost ? 1 : 0;
  r.nsacked += b.sacked ? 1 : 0;
}

void set_lost(TcpRack& r, Seg& s, bool lost) {
  if (s.lost != lost) {
    s.lost = lost;
    lost ? ++r.nlost : --r.nlost;
  }
}

// RFC 8985 §6.2 step 4: the reordering window. Without reordering seen it
// is 0 once recovery runs or DupThresh segments are SACKed (as fast as
// RFC 6675), else a quarter of the minimum RTT times the multiplier that
// D-SACKs raise (tcp_rack_update), at most SRTT.
Duration reo_wnd(const TcpCb& tp) {
  const TcpRack& r = tp.rack;
  if (!r.reordering_seen && (tp.in_recovery || r.nsacked >= kDupThresh)) {
    return Duration{0};
  }
  Duration w = r.min_rtt ? *r.min_rtt / 4 * r.reo_wnd_mult : Duration{0};
  if (tp.srtt > Duration{0}) {
    w = std::min(w, tp.srtt);
  }
  return w;
}

// RFC 8985 §6.2 step 2 for one delivered segment (cumulatively ACKed or
// newly SACKed) at `now`; `prev_fack` is RACK.fack before this ACK.
void delivered(TcpRack& r, const Seg& s, Instant now, TcpSeq prev_fack) {
  const Duration rtt = now - s.xmit;
  // Step 3: a segment never retransmitted and delivered below one that
  // was delivered earlier arrived out of order.
  if (!s.rexmit && s.end < prev_fack) {
    r.reordering_seen = true;
  }
  r.fack = seq_max(r.fack, s.end);
  if (s.rexmit) {
    // The ACK may be for the original transmission (a spurious
    // retransmission): an RTT shorter than any seen says so.
    if (r.min_rtt && rtt < *r.min_rtt) {
      return;
    }
  } else {
    r.min_rtt = r.min_rtt ? std::min(*r.min_rtt, rtt) : rtt;
  }
  if (!r.have || r.xmit < s.xmit || (r.xmit == s.xmit && r.order < s.order)) {
    r.have = true;
    r.xmit = s.xmit;
    r.order = s.order;
    r.rtt = rtt;
  }
}

// RFC 8985 §6.2 step 5 (RACK_detect_loss): mark every segment sent before
// RACK's segment whose reordering window has passed; remember when the
// next one will (the reorder timer). True when a segment was marked.
bool detect_loss(Stack& stack, TcpCb& tp) {
  TcpRack& r = tp.rack;
  r.reo_wait.reset();
  if (!r.have) {
    return false;
  }
  const Instant now = stack.now();
  const Duration reo = reo_wnd(tp);
  bool marked = false;
  for (Seg& s : r.segs) {
    if (s.sacked || s.lost) {
      continue;
    }
    if (!sent_before(s, r)) {
      // Above every retransmission the records are in transmission
      // order: none further up was sent before RACK's segment.
      if (!r.any_rexmit || s.start >= r.rexmit_top) {
        break;
      }
      continue;
    }
    const Duration remaining = (s.xmit + r.rtt + reo) - now;
    if (remaining <= Duration{0}) {
      set_lost(r, s, true);
      ++stack.tcp.stat.rack_marked_lost;
      marked = true;
    } else {
      r.reo_wait = r.reo_wait ? std::min(*r.reo_wait, remaining) : remaining;
    }
  }
  return marked;
}

void rack_timer_fire(Stack& stack, TcpCb& tp);

// The window as it is before this event may reduce it (RFC 4015 §3 keeps
// it to restore if the reduction proves spurious).
void note_prior(TcpCb& tp) {
  if (!tp.in_recovery) {
    tp.rack.prior_cwnd = tp.cwnd;
    tp.rack.prior_ssthresh = tp.ssthresh;
    tp.rack.prior_cubic = tp.cubic;
  }
}

// A retransmission of [seq, end) with timestamp `tsval`: the first of a
// recovery opens its undo episode with the window noted before the
// reduction.
void note_rexmit(TcpCb& tp, TcpSeq seq, TcpSeq end, uint32_t tsval) {
  TcpRack& r = tp.rack;
  if (!tp.in_recovery) {
    return;
  }
  if (!r.was_in_recovery) {
    // The first retransmission of a new recovery: a new episode.
    r.was_in_recovery = true;
    r.undo_ranges.clear();
    r.undo_active = true;
    r.undo_cwnd = r.prior_cwnd;
    r.undo_ssthresh = r.prior_ssthresh;
    r.undo_cubic = r.prior_cubic;
  }
  if (!r.undo_active) {
    return;
  }
  if (r.undo_ranges.size() >= kUndoRangesMax) {
    r.undo_active = false;  // too many to account for: no undo this time
    return;
  }
  r.undo_ranges.push_back(TcpRack::UndoRange{seq, end, tsval});
}

// When every retransmission of the episode proved needless, the recovery
// was spurious and the window comes back (RFC 4015 §3).
void undo_if_all_needless(Stack& stack, TcpCb& tp) {
  TcpRack& r = tp.rack;
  if (!r.undo_active || !r.undo_ranges.empty()) {
    return;
  }
  r.undo_active = false;
  if (tp.cwnd < r.undo_cwnd || tp.ssthresh < r.undo_ssthresh) {
    tp.cwnd = std::max(tp.cwnd, r.undo_cwnd);
    tp.ssthresh = std::max(tp.ssthresh, r.undo_ssthresh);
    tp.cubic = r.undo_cubic;
    ++stack.tcp.stat.rack_undo;
  }
}

// RFC 3708 §3: a D-SACK [left, right) reports a retransmitted range as
// received twice.
void undo_on_dsack(Stack& stack, TcpCb& tp, TcpSeq left, TcpSeq right) {
  TcpRack& r = tp.rack;
  if (!r.undo_active) {
    return;
  }
  std::erase_if(r.undo_ranges, [&](const auto& g) { return left <= g.start && g.end <= right; });
  undo_if_all_needless(stack, tp);
}

// RFC 3522 §2 (Eifel detection), per retransmission: the cumulative ACK
// `ack` covers retransmitted ranges; the receiver echoes the timestamp of
// the segment that filled the hole (RFC 7323 §4.3), so an echo older than
// the retransmission says the original filled it and the retransmission
// was needless. An echo as new proves a loss: the episode stays.
void undo_on_ack(Stack& stack, TcpCb& tp, TcpSeq ack, const TcpOptions& opts) {
  TcpRack& r = tp.rack;
  if (!r.undo_active || !tp.ts_ok || !opts.timestamp || opts.timestamp->ecr == 0 ||
      ack <= tp.snd_una) {
    return;
  }
  const uint32_t ecr = opts.timestamp->ecr;
  bool needless = false;
  for (const auto& g : r.undo_ranges) {
    if (g.end <= ack && !ts_lt(ecr, g.tsval)) {
      r.undo_active = false;  // this one repaired a loss
      r.undo_ranges.clear();
      return;
    }
    needless = needless || g.end <= ack;
  }
  if (!needless) {
    return;
  }
  std::erase_if(r.undo_ranges, [&](const auto& g) { return g.end <= ack; });
  r.reordering_seen = true;  // the original arrived after a later segment
  undo_if_all_needless(stack, tp);
}

void ensure_handler(Stack& stack, TcpCb& tp) {
  if (!tp.rack.handler_set) {
    Stack* s = &stack;
    TcpCb* p = &tp;
    tp.rack_timer.set_handler([s, p] { rack_timer_fire(*s, *p); });
    tp.rack.handler_set = true;
  }
}

// RFC 8985 §7.2: a probe is scheduled only for a SACK connection in the
// open state (no recovery, no RTO series, nothing SACKed) with data in
// flight (`flight` bytes) and no probe outstanding.
bool pto_allowed(const TcpCb& tp, uint32_t flight) {
  return data_state(tp.state) && !tp.in_recovery && tp.rxtshift == 0 && tp.scoreboard.empty() &&
         !tp.rack.tlp_active && flight > 0;
}

// RFC 8985 §7.2: PTO = 2*SRTT, plus WCDelAckT when a single segment is in
// flight (its ACK may be delayed), never after the RTO would fire.
void arm_pto(Stack& stack, TcpCb& tp, uint32_t flight) {
  TcpRack& r = tp.rack;
  Duration pto = kPtoNoRtt;
  if (tp.srtt > Duration{0} || r.min_rtt) {
    pto = std::max(2 * tp.srtt, kPtoMin);
    if (flight <= tcp_smss(tp)) {
      pto += kWcDelAckT;
    }
  }
  Instant when = stack.now() + pto;
  if (tp.rexmt_timer.pending() && tp.rexmt_timer.deadline() <= when) {
    // The retransmission timer fires first: let it (RFC 8985 §7.2, the
    // PTO is capped by the RTO; at the same instant the RTO is the answer).
    if (r.timer == TcpRack::Timer::kProbe) {
      tp.rack_timer.stop();
      r.timer = TcpRack::Timer::kNone;
    }
    return;
  }
  ensure_handler(stack, tp);
  r.timer = TcpRack::Timer::kProbe;
  tp.rack_timer.reset_at(when);
}

// After loss detection: the reorder timer if a segment may yet be lost,
// else the probe timer when allowed (`restart_pto`: an event that RFC 8985
// §7.2 lets restart it), else nothing of ours.
void arm_timers(Stack& stack, TcpCb& tp, bool restart_pto) {
  TcpRack& r = tp.rack;
  if (!data_state(tp.state) || tp.snd_max == tp.snd_una) {
    tp.rack_timer.stop();
    r.timer = TcpRack::Timer::kNone;
    return;
  }
  if (r.reo_wait) {
    ensure_handler(stack, tp);
    r.timer = TcpRack::Timer::kReorder;
    tp.rack_timer.reset(*r.reo_wait);
    return;
  }
  if (r.timer == TcpRack::Timer::kReorder) {
    tp.rack_timer.stop();  // nothing left for it to decide
    r.timer = TcpRack::Timer::kNone;
  }
  if (!pto_allowed(tp, tp.flight())) {
    if (r.timer == TcpRack::Timer::kProbe) {
      tp.rack_timer.stop();
      r.timer = TcpRack::Timer::kNone;
    }
    return;
  }
  if (restart_pto || !tp.rack_timer.pending()) {
    arm_pto(stack, tp, tp.flight());
  }
}

// New data [SND.MAX, SND.MAX + len) outside RFC 6675's NextSeg: the probe
// and limited transmit. As tcp_sack_output does for rule (2).
bool send_new(Stack& stack, TcpCb& tp, uint32_t len) {
  const TcpSeq seq = tp.snd_max;
  if (!tcp_send_range(stack, tp, seq, len, false)) {
    return false;
  }
  if (!tp.rtt_timing) {
    tp.rtt_timing = true;
    tp.rtt_seq = seq;
    tp.rtt_start = stack.now();
  }
  tp.snd_max = seq + len;
  tp.snd_nxt = tp.snd_max;
  return true;
}

// New data that may be sent now: at most one SMSS, within the receiver's
// window; 0 when none.
uint32_t new_data_room(const TcpCb& tp) {
  if (tp.snd_nxt != tp.snd_max) {
    return 0;  // go-back-N after a timeout is under way
  }
  const TcpSeq data_end = tp.snd_una + static_cast<uint32_t>(tp.snd_cc);
  const TcpSeq wnd_end = tp.snd_una + tp.snd_wnd;
  if (tp.snd_max >= data_end || tp.snd_max >= wnd_end) {
    return 0;
  }
  return std::min({tcp_smss(tp), data_end - tp.snd_max, wnd_end - tp.snd_max});
}

// Enter recovery on RACK's marks when the first unacknowledged segment is
// lost, unless the ACKs are still about data sent before the last recovery
// or timeout (RFC 6675 §5 via RFC 6582 §3.2 step 2). Unlike the duplicate
// ACK count, RACK's marks are about segments sent after that point, so an
// ACK exactly at RecoveryPoint is enough.
void maybe_enter_recovery(Stack& stack, TcpCb& tp) {
  TcpRack& r = tp.rack;
  if (tp.in_recovery || r.nlost == 0 || tp.rxtshift > 0 || tp.snd_una < tp.snd_recover ||
      !tcp_rack_is_lost(tp, tp.snd_una)) {
    return;
  }
  if (r.tlp_active) {
    // RFC 8985 §7.4: the probe's ACK revealed the loss.
    ++stack.tcp.stat.tlp_recoveries;
    r.tlp_active = false;
  }
  tcp_sack_enter_recovery(stack, tp);
}

// RFC 8985 §7.3: the probe. New data if the receiver's window allows, else
// the last segment sent again; then the RTO timer, not another probe.
void send_probe(Stack& stack, TcpCb& tp) {
  TcpRack& r = tp.rack;
  if (!pto_allowed(tp, tp.flight())) {
    return;
  }
  r.probing = true;
  bool sent = false;
  bool rexmit = false;
  if (uint32_t len = new_data_room(tp); len > 0) {
    sent = send_new(stack, tp, len);
  } else if (!r.segs.empty()) {
    const Seg& last = r.segs.back();
    const uint32_t smss = tcp_smss(tp);
    TcpSeq from = last.end - last.start > smss ? last.end - smss : last.start;
    from = seq_max(from, tp.snd_una);
    sent = tcp_send_range(stack, tp, from, last.end - from, true);
    rexmit = true;
  }
  r.probing = false;
  if (sent) {
    ++stack.tcp.stat.tlp_probes;
    r.tlp_active = true;
    r.tlp_rexmit = rexmit;
    r.tlp_dsack = false;
    r.tlp_end = tp.snd_max;
  }
  tcp_set_rexmt(stack, tp);
}

void rack_timer_fire(Stack& stack, TcpCb& tp) {
  TcpRack& r = tp.rack;
  const TcpRack::Timer what = r.timer;
  r.timer = TcpRack::Timer::kNone;
  if (!data_state(tp.state) || !tcp_rack_active(tp) || tp.snd_max == tp.snd_una) {
    return;
  }
  if (what == TcpRack::Timer::kProbe) {
    send_probe(stack, tp);
    return;
  }
  // The reorder timer (RFC 8985 §6.3): the window of a segment passed.
  note_prior(tp);
  if (detect_loss(stack, tp)) {
    if (tp.in_recovery) {
      tcp_output(stack, tp);  // NextSeg retransmits what was marked
    } else {
      maybe_enter_recovery(stack, tp);
    }
  }
  arm_timers(stack, tp, false);
}

}  // namespace

bool tcp_rack_active(const TcpCb& tp) { return tp.rack.on && tp.sack_ok; }

void tcp_rack_sent(Stack& stack, TcpCb& tp, TcpSeq seq, uint32_t len, uint8_t flags) {
  if ((flags & (kTcpSyn | kTcpRst)) != 0 || len == 0) {
    return;
  }
  TcpRack& r = tp.rack;
  if (!r.started) {
    r.started = true;
    r.on = tp.sack_ok && stack.tcp.rack != 0;
    r.fack = seq;
    r.rexmit_top = seq;
  }
  if (!r.on) {
    return;
  }
  const Instant now = stack.now();
  const TcpSeq end = seq + len;
  const bool new_data = seq >= tp.snd_max;
  if (r.segs.empty() || seq >= r.segs.back().end) {
    r.segs.push_back(Seg{seq, end, now, r.next_order++});
  } else {
    // A retransmission: the records it covers left again now.
    note_rexmit(tp, seq, end, tcp_now_ts(stack, tp));
    const TcpSeq top = r.segs.back().end;
    split_at(r, seq);
    split_at(r, seq_min(end, top));
    for (size_t i = find_seg(r, seq); i < r.segs.size() && r.segs[i].start < end; ++i) {
      Seg& s = r.segs[i];
      s.xmit = now;
      s.order = r.next_order++;
      s.rexmit = true;
      set_lost(r, s, false);
      if (s.sacked) {
        s.sacked = false;  // after a timeout: the peer may have reneged
        --r.nsacked;
      }
    }
    r.rexmit_top = r.any_rexmit ? seq_max(r.rexmit_top, seq_min(end, top)) : seq_min(end, top);
    r.any_rexmit = true;
    if (end > top) {
      r.segs.push_back(Seg{top, end, now, r.next_order++});  // and new data beyond
    }
  }
  bound(r);
  // RFC 8985 §7.2: new data (not the probe itself) restarts the PTO; the
  // reorder timer, when running, keeps its deadline.
  if (new_data && !r.probing && r.timer != TcpRack::Timer::kReorder &&
      pto_allowed(tp, end - tp.snd_una)) {
    arm_pto(stack, tp, end - tp.snd_una);
  }
}

void tcp_rack_update(Stack& stack, TcpCb& tp, TcpSeq ack, const TcpOptions& opts) {
  if (!tcp_rack_active(tp)) {
    return;
  }
  TcpRack& r = tp.rack;
  const Instant now = stack.now();
  const TcpSeq prev_fack = r.fack;
  note_prior(tp);
  // RFC 2883 §4: a first block at or below the cumulative ACK is a D-SACK:
  // a segment arrived twice (for TLP, the probe was not needed).
  // A first block inside the second is one too (§4.2.2 there).
  const bool dsack = opts.sack_count > 0 && opts.sack[0].left < opts.sack[0].right &&
                     (opts.sack[0].right <= ack ||
                      (opts.sack_count > 1 && opts.sack[1].left <= opts.sack[0].left &&
                       opts.sack[0].right <= opts.sack[1].right));
  if (dsack) {
    undo_on_dsack(stack, tp, opts.sack[0].left, opts.sack[0].right);
    r.tlp_dsack = r.tlp_active;
    // RFC 8985 §6.2 step 4: a segment was sent twice needlessly, most
    // likely because the network reordered it: widen the window, once per
    // round trip, for the next 16 recoveries. A D-SACK is reordering seen.
    r.reordering_seen = true;
    if (!r.dsack_round || tp.snd_una >= r.dsack_round_end) {
      r.dsack_round = true;
      r.dsack_round_end = tp.snd_max;
      r.reo_wnd_mult = std::min<uint32_t>(r.reo_wnd_mult + 1, kReoWndMultMax);
      r.reo_wnd_persist = kReoWndPersist;
    }
  }
  undo_on_ack(stack, tp, ack, opts);
  r.ack_sacked = false;
  if (r.segs.empty()) {
    return;
  }
  // Cumulatively acknowledged records.
  while (!r.segs.empty() && r.segs.front().start < ack) {
    Seg& f = r.segs.front();
    if (ack < f.end) {
      f.start = ack;  // acknowledged in part: not delivered yet
      break;
    }
    if (!f.sacked) {
      delivered(r, f, now, prev_fack);
    }
    drop_front(r);
  }
  if (r.any_rexmit && r.rexmit_top <= ack) {
    r.any_rexmit = false;  // every retransmission is behind SND.UNA
  }
  if (r.fack < ack) {
    r.fack = ack;
  }
  // Newly SACKed records: one walk of the records and the scoreboard
  // (both sorted), up to the highest SACKed byte.
  const auto& sb = tp.scoreboard;
  size_t j = 0;
  for (Seg& s : r.segs) {
    if (sb.empty() || s.start >= sb.back().right) {
      break;
    }
    if (s.sacked) {
      continue;
    }
    while (j < sb.size() && sb[j].right <= s.start) {
      ++j;
    }
    if (j == sb.size()) {
      break;
    }
    if (sb[j].left <= s.start && s.end <= sb[j].right) {
      s.sacked = true;
      ++r.nsacked;
      r.ack_sacked = true;
      set_lost(r, s, false);
      delivered(r, s, now, prev_fack);
    }
  }
  (void)detect_loss(stack, tp);
}

void tcp_rack_ack_done(Stack& stack, TcpCb& tp, bool advanced) {
  if (!tcp_rack_active(tp)) {
    return;
  }
  TcpRack& r = tp.rack;
  if (r.tlp_active && tp.in_recovery) {
    // RFC 8985 §7.4: the probe's ACK revealed a loss and recovery (entered
    // by the duplicate ACK count or RACK) repairs it.
    ++stack.tcp.stat.tlp_recoveries;
    r.tlp_active = false;
  }
  if (r.tlp_active) {
    if (tp.rxtshift > 0) {
      r.tlp_active = false;  // the retransmission timer took over
    } else if (tp.snd_una >= r.tlp_end) {
      // RFC 8985 §7.4.2: everything up to the probe is acknowledged. A
      // probe of new data, or a D-SACK (the original came too): no loss.
      // An ACK beyond the probe without that D-SACK: the probe repaired a
      // loss of the tail, a congestion signal answered as fast recovery
      // would. A duplicate ACK of its end that SACKs nothing new: both
      // arrived, from a receiver that does not D-SACK, no loss (as Linux's
      // TLP dupack). Otherwise wait: the D-SACK of the probe may come one
      // ACK after the ACK of the original.
      if (!r.tlp_rexmit || r.tlp_dsack) {
        r.tlp_active = false;
      } else if (!advanced && !r.ack_sacked && tp.snd_una == r.tlp_end) {
        r.tlp_active = false;
      } else if (tp.snd_una > r.tlp_end) {
        ++stack.tcp.stat.tlp_recoveries;
        tp.cc->on_loss(stack.now(), tp);
        tp.cwnd = tp.ssthresh;
        r.tlp_active = false;
      }
    }
  }
  maybe_enter_recovery(stack, tp);
  if (r.was_in_recovery && !tp.in_recovery && r.reo_wnd_persist > 0 && --r.reo_wnd_persist == 0) {
    r.reo_wnd_mult = 1;  // 16 recoveries without a D-SACK (RFC 8985 §6.2 step 4)
  }
  r.was_in_recovery = tp.in_recovery;
  arm_timers(stack, tp, advanced);
}

void tcp_rack_rto(TcpCb& tp) {
  // The timeout ends the TLP episode and, as it clears the scoreboard
  // (RFC 6675 §5.1), what RACK knew of SACKs and losses: go-back-N resends
  // from SND.UNA and each resent segment starts afresh (RFC 8985 §6.3).
  TcpRack& r = tp.rack;
  r.tlp_active = false;
  r.undo_active = false;  // a timeout is never undone here
  r.undo_ranges.clear();
  r.timer = TcpRack::Timer::kNone;
  tp.rack_timer.stop();
  for (Seg& s : r.segs) {
    s.lost = false;
    s.sacked = false;
  }
  r.nlost = 0;
  r.nsacked = 0;
}

bool tcp_rack_is_lost(const TcpCb& tp, TcpSeq seq) {
  const TcpRack& r = tp.rack;
  if (r.nlost == 0) {
    return false;
  }
  size_t i = find_seg(r, seq);
  return i < r.segs.size() && r.segs[i].lost;
}

uint32_t tcp_rack_pipe(const TcpCb& tp) {
  // RFC 6675 SetPipe with RACK's per-segment state: a segment counts while
  // its latest transmission may be in the network: not SACKed, not lost
  // (a lost segment retransmitted counts once, for the retransmission).
  uint32_t pipe = 0;
  for (const Seg& s : tp.rack.segs) {
    if (!s.sacked && !s.lost) {
      pipe += s.end - seq_max(s.start, tp.snd_una);
    }
  }
  return pipe;
}

bool tcp_rack_nextseg(const TcpCb& tp, TcpSackNext& out) {
  const TcpRack& r = tp.rack;
  if (r.nlost == 0) {
    return false;
  }
  for (const Seg& s : r.segs) {
    if (s.lost && !s.sacked) {
      TcpSeq from = seq_max(s.start, tp.snd_una);
      out = TcpSackNext{from, std::min(tcp_smss(tp), s.end - from), true};
      return true;
    }
  }
  return false;
}

void tcp_limited_transmit(Stack& stack, TcpCb& tp) {
  // RFC 3042 §2: on the first and second duplicate ACK, one segment of new
  // data each, if the receiver's window allows and the flight stays within
  // cwnd + 2 SMSS; cwnd itself is not changed. A short segment only when it
  // is the last of the data (no runts in the middle of the stream).
  if (tp.in_recovery || tp.dupacks < 1 || tp.dupacks > 2 || !data_state(tp.state)) {
    return;
  }
  const uint32_t smss = tcp_smss(tp);
  const uint32_t len = new_data_room(tp);
  if (len == 0 || tp.flight() + len > tp.cwnd + 2 * smss) {
    return;
  }
  const TcpSeq data_end = tp.snd_una + static_cast<uint32_t>(tp.snd_cc);
  if (len < smss && tp.snd_max + len != data_end) {
    return;
  }
  if (send_new(stack, tp, len)) {
    ++stack.tcp.stat.limited_transmit;
  }
}

}  // namespace iopkt
