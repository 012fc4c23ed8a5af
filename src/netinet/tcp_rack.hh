// netinet/tcp_rack.hh — RACK-TLP loss detection (RFC 8985) and Limited
// Transmit (RFC 3042) for the sender; the code is in tcp_rack.cc.
//
// RACK ("recent acknowledgment") decides that a segment is lost when a
// segment sent after it has been delivered and a reordering window has
// passed since: loss detection by time rather than by counting duplicate
// ACKs, which also finds lost retransmissions (RFC 8985 §3). TLP (the tail
// loss probe) sends one segment when the ACKs stop coming, so that a loss at
// the end of a flight is learned from the probe's ACK rather than by a
// retransmission timeout (§7).
//
// They work for SACK connections only (RFC 8985 §2 needs the scoreboard);
// RFC 6675 stays the engine of recovery (§9.3): RACK's marks answer
// IsLost(), its per-segment state gives Pipe, and NextSeg retransmits the
// segments RACK marked lost first (tcp_sack.cc calls the hooks below).
// D-SACKs (RFC 2883) widen the reordering window (RFC 8985 §6.2 step 4);
// a recovery is undone when each of its retransmissions proved needless,
// by a D-SACK (RFC 3708) or by the timestamp echoed when the cumulative
// ACK covered it (Eifel, RFC 3522): the response of RFC 4015.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "kern/time.hh"
#include "netinet/tcp_cc.hh"
#include "netinet/tcp_seq.hh"

namespace iopkt {

class Stack;
class TcpCb;
struct TcpOptions;
struct TcpSackNext;

// One transmitted segment above SND.UNA (RFC 8985 §5.2 "per-segment
// variables"): its sequence range, when it last left and in which order.
struct TcpRackSeg {
  TcpSeq start, end;
  Instant xmit{};
  uint64_t order = 0;   // transmissions numbered: breaks ties of xmit
  bool rexmit = false;  // retransmitted at least once
  bool lost = false;    // RACK (or TLP) decided its last transmission is lost
  bool sacked = false;  // covered by the scoreboard
};

struct TcpRack {
  // Segments sent and not yet cumulatively acknowledged, sorted by
  // sequence number, disjoint, at most kTcpRackSegsMax (tcp_rack.cc).
  std::deque<TcpRackSeg> segs;
  uint64_t next_order = 1;
  uint32_t nlost = 0;    // segs with lost set
  uint32_t nsacked = 0;  // segs with sacked set (RACK.segs_sacked)
  bool started = false;  // decided at the first data segment...
  bool on = false;       // ...whether RACK-TLP runs (SACK and net.inet.tcp.rack)
  // RACK.xmit_ts, RACK.end_seq (as the order), RACK.rtt: the most recently
  // sent segment that was delivered; valid once `have`.
  bool have = false;
  Instant xmit{};
  uint64_t order = 0;
  Duration rtt{0};
  std::optional<Duration> min_rtt;  // RACK.min_RTT
  TcpSeq fack;                      // RACK.fack: the highest end delivered
  bool reordering_seen = false;     // RACK.reordering_seen
  // RFC 8985 §6.2 step 4: the reordering window grows by min_RTT/4 for
  // each round trip with a D-SACK (RACK.reo_wnd_mult) and falls back to
  // one step after 16 recoveries without (RACK.reo_wnd_persist).
  uint32_t reo_wnd_mult = 1;
  uint32_t reo_wnd_persist = 0;
  bool dsack_round = false;  // a D-SACK grew the window this round trip...
  TcpSeq dsack_round_end;    // ...which ends when SND.UNA passes this
  bool was_in_recovery = false;
  TcpSeq rexmit_top;  // above it, no segment was retransmitted
  bool any_rexmit = false;
  std::optional<Duration> reo_wait;  // the reorder timer's due time, from detection
  // The one timer: RACK's reorder timer or TLP's probe timeout.
  enum class Timer : uint8_t { kNone, kReorder, kProbe };
  Timer timer = Timer::kNone;
  bool handler_set = false;
  // TLP episode (RFC 8985 §7.4): TLP.end_seq and what the probe was.
  bool tlp_active = false;
  bool tlp_rexmit = false;
  bool tlp_dsack = false;   // a D-SACK arrived during the episode
  bool ack_sacked = false;  // the ACK being processed SACKed new data
  bool probing = false;     // the probe is being sent: no PTO for it
  TcpSeq tlp_end;
  // Undoing a spurious recovery: every retransmission of the episode
  // proved needless, by a D-SACK (RFC 3708 §3) or because the ACK that
  // covered it echoes a timestamp older than the retransmission (RFC 3522
  // §2); RFC 4015 §3 answers by restoring the window of before the
  // reduction. The window as each ACK found it, the one the episode's
  // reduction started from, and the retransmissions not yet proved
  // needless, each with its TSval (bounded: past it, no undo).
  struct UndoRange {
    TcpSeq start, end;
    uint32_t tsval = 0;
  };
  uint32_t prior_cwnd = 0, prior_ssthresh = 0;
  TcpCubicState prior_cubic;
  bool undo_active = false;
  uint32_t undo_cwnd = 0, undo_ssthresh = 0;
  TcpCubicState undo_cubic;
  std::vector<UndoRange> undo_ranges;
};

// tcp_output.cc (tcp_emit): a segment left, `len` its sequence space.
void tcp_rack_sent(Stack& stack, TcpCb& tp, TcpSeq seq, uint32_t len, uint8_t flags);
// tcp_input.cc: an acceptable ACK, after the scoreboard took its blocks and
// before SND.UNA moves: delivered segments, reordering, losses.
void tcp_rack_update(Stack& stack, TcpCb& tp, TcpSeq ack, const TcpOptions& opts);
// tcp_input.cc: the ACK was processed: the TLP episode, recovery on RACK's
// marks, the timers. `advanced`: SND.UNA moved.
void tcp_rack_ack_done(Stack& stack, TcpCb& tp, bool advanced);
// tcp_timer.cc: the retransmission timer fired.
void tcp_rack_rto(TcpCb& tp);
// tcp_sack.cc: RACK runs on this connection.
bool tcp_rack_active(const TcpCb& tp);
// tcp_sack.cc: IsLost(seq), Pipe, and NextSeg's first choice (RFC 8985 §9.3).
bool tcp_rack_is_lost(const TcpCb& tp, TcpSeq seq);
uint32_t tcp_rack_pipe(const TcpCb& tp);
bool tcp_rack_nextseg(const TcpCb& tp, TcpSackNext& out);
// tcp_input.cc (tcp_dupack): RFC 3042 on the first and second duplicate.
void tcp_limited_transmit(Stack& stack, TcpCb& tp);

}  // namespace iopkt
