// netinet/tcp_sack.cc — selective acknowledgments (RFC 2018) and the
// SACK-based loss recovery of RFC 6675.
//
// Receiver: the blocks an ACK reports are kept in TcpCb::rcv_sack, the
// block holding the segment that triggered the ACK first (RFC 2018 §4);
// data that arrived twice is reported once in a D-SACK block in front of
// them (RFC 2883).
// Sender: TcpCb::scoreboard holds the SACKed ranges above SND.UNA, sorted
// and disjoint, bounded in number. Every block is checked against SND.UNA
// and SND.MAX before it is believed (ROBUSTNESS.md §2 "SACK queue sanity":
// CVE-2019-11477/8 were crafted SACKs; Treck CVE-2020-11912 a SACK parser).
// IsLost, Pipe and NextSeg follow RFC 6675 §4 but work on whole gaps of
// the scoreboard rather than octet by octet: within a gap nothing is SACKed,
// so IsLost is the same for all of it, and each costs O(ranges).
#include <algorithm>

#include "core/stack.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// RFC 6675 §2: DupThresh.
constexpr uint32_t kDupThresh = 3;
// Ranges the sender remembers; a receiver can always be described with
// fewer, and more would only let a peer make every ACK costly (SACK Panic
// class: CVE-2019-11478).
constexpr size_t kScoreboardMax = 64;
// A bound on the segments sent by one tcp_sack_output call.
constexpr int kMaxBurst = 10000;

using Block = TcpOptions::SackBlock;

// What the scoreboard says above `seq`: SACKed bytes and ranges.
struct Above {
  uint32_t bytes = 0;
  uint32_t ranges = 0;
};
Above sacked_above(const TcpCb& tp, TcpSeq seq) {
  Above a;
  for (const Block& b : tp.scoreboard) {
    if (b.right <= seq) {
      continue;
    }
    a.bytes += b.right - seq_max(b.left, seq + 1);
    ++a.ranges;
  }
  return a;
}

// The un-SACKed gaps of [SND.UNA, SND.MAX), in order; `f(left, right)`
// returns false to stop.
template <typename F>
void for_each_gap(const TcpCb& tp, F f) {
  TcpSeq at = tp.snd_una;
  for (const Block& b : tp.scoreboard) {
    if (at < b.left && !f(at, b.left)) {
      return;
    }
    at = seq_max(at, b.right);
  }
  if (at < tp.snd_max) {
    (void)f(at, tp.snd_max);
  }
}

TcpSeq highest_sacked(const TcpCb& tp) {
  return tp.scoreboard.empty() ? tp.snd_una : tp.scoreboard.back().right;
}

}  // namespace

// --- receiver ----------------------------------------------------------------

void tcp_sack_rcv_update(TcpCb& tp, TcpSeq start, TcpSeq end) {
  // The contiguous run of queued data that holds [start, end): one pass
  // over the reassembly queue, which is sorted by starting sequence number.
  Block run{start, end};
  bool open = false;
  Block cur{};
  auto close = [&] {
    if (open && cur.left <= start && start < cur.right) {
      run = {seq_min(cur.left, start), seq_max(cur.right, end)};
    }
  };
  for (const auto& [s, m] : tp.reass) {
    TcpSeq e = s + static_cast<uint32_t>(m.len());
    if (open && s <= cur.right) {
      cur.right = seq_max(cur.right, e);
    } else {
      close();
      cur = {s, e};
      open = true;
    }
  }
  close();
  // RFC 2018 §4: the first block holds the latest segment; then the most
  // recently reported others, each once (those the new run covers go).
  std::array<Block, kTcpMaxSackBlocks> out{};
  uint8_t n = 0;
  out[n++] = run;
  for (uint8_t i = 0; i < tp.rcv_sack_count && n < kTcpMaxSackBlocks; ++i) {
    const Block& b = tp.rcv_sack[i];
    bool joined = b.left <= run.right && b.right >= run.left;
    if (!joined && b.right > tp.rcv_nxt) {
      out[n++] = b;
    }
  }
  tp.rcv_sack = out;
  tp.rcv_sack_count = n;
}

void tcp_sack_rcv_trim(TcpCb& tp) {
  uint8_t n = 0;
  for (uint8_t i = 0; i < tp.rcv_sack_count; ++i) {
    Block b = tp.rcv_sack[i];
    if (b.right <= tp.rcv_nxt) {
      continue;  // now covered by the cumulative ACK
    }
    b.left = seq_max(b.left, tp.rcv_nxt);
    tp.rcv_sack[n++] = b;
  }
  tp.rcv_sack_count = n;
}

void tcp_sack_rcv_dup(TcpCb& tp, TcpSeq start, TcpSeq end) {
  if (!tp.sack_ok || end <= start) {
    return;
  }
  // RFC 2883 §4: the duplicate of the latest segment is reported; one
  // still pending and touching it grows into it (a burst of duplicates,
  // as Linux's tcp_dsack_extend), else the newer one replaces it.
  Block d{start, end};
  if (tp.rcv_dsack && tp.rcv_dsack->left <= end && start <= tp.rcv_dsack->right) {
    d = {seq_min(start, tp.rcv_dsack->left), seq_max(end, tp.rcv_dsack->right)};
  }
  tp.rcv_dsack = d;
  // The sender learns at once that its retransmission was not needed
  // (RFC 2883 §4: the D-SACK goes in the ACK sent for this segment).
  tp.ack_now = true;
}

void tcp_sack_fill(Stack& stack, TcpCb& tp, uint32_t data_len, TcpOptions& opts) {
  if (!tp.sack_ok || (tp.rcv_sack_count == 0 && !tp.rcv_dsack)) {
    return;
  }
  // 40 option bytes: NOP NOP kind len + 8 per block after the 12 of the
  // timestamp option leaves room for 3, else 4 (RFC 2018 §3). A full-sized
  // segment keeps its MSS: the blocks take only what the payload leaves.
  size_t room = 40 - (opts.timestamp ? 12 : 0);
  uint32_t mss_room = tp.t_maxseg > data_len + (opts.timestamp ? 12u : 0u)
                          ? tp.t_maxseg - data_len - (opts.timestamp ? 12u : 0u)
                          : 0;
  room = std::min<size_t>(room, mss_room);
  if (room < 12) {
    return;
  }
  const size_t fit = std::min<size_t>((room - 4) / 8, kTcpMaxSackBlocks);
  size_t k = 0;
  if (tp.rcv_dsack) {
    // RFC 2883 §4: the D-SACK first, then the ordinary blocks (the first
    // of which holds it when the duplicate was above RCV.NXT, §4.1.2);
    // reported once.
    opts.sack[k++] = *tp.rcv_dsack;
    tp.rcv_dsack.reset();
  }
  for (size_t i = 0; i < tp.rcv_sack_count && k < fit; ++i) {
    opts.sack[k++] = tp.rcv_sack[i];
  }
  opts.sack_count = static_cast<uint8_t>(k);
  stack.tcp.stat.sack_send_blocks += k;
}

// --- sender: the scoreboard --------------------------------------------------

uint32_t tcp_sack_input(Stack& stack, TcpCb& tp, const TcpOptions& opts) {
  TcpState& t = stack.tcp;
  if (!tp.sack_ok || opts.sack_count == 0) {
    return 0;
  }
  auto total = [&tp] {
    uint32_t sum = 0;
    for (const Block& b : tp.scoreboard) {
      sum += b.right - b.left;
    }
    return sum;
  };
  const uint32_t before = total();
  for (uint8_t i = 0; i < opts.sack_count && i < kTcpMaxSackBlocks; ++i) {
    Block b = opts.sack[i];
    if (b.right <= tp.snd_una && b.left < b.right && tp.snd_una - b.left <= tp.max_sndwnd) {
      continue;  // old news or a D-SACK (RFC 2883): not used, not an error
    }
    // Both edges inside [SND.UNA, SND.MAX] and in order; otherwise the
    // block is forged or corrupt and the whole of it is ignored.
    if (!(tp.snd_una <= b.left && b.left < b.right && b.right <= tp.snd_max)) {
      ++t.stat.sack_bad_blocks;
      continue;
    }
    ++t.stat.sack_rcv_blocks;
    // Insert, merging every range it touches.
    auto& sb = tp.scoreboard;
    auto first =
        std::find_if(sb.begin(), sb.end(), [&](const Block& r) { return r.right >= b.left; });
    auto last = first;
    while (last != sb.end() && last->left <= b.right) {
      b.left = seq_min(b.left, last->left);
      b.right = seq_max(b.right, last->right);
      ++last;
    }
    if (first == last && sb.size() >= kScoreboardMax) {
      ++t.stat.sack_sboverflow;
      continue;
    }
    first = sb.erase(first, last);
    sb.insert(first, b);
  }
  const uint32_t after = total();
  return after > before ? after - before : 0;
}

void tcp_sack_trim(TcpCb& tp) {
  auto& sb = tp.scoreboard;
  std::erase_if(sb, [&](const Block& b) { return b.right <= tp.snd_una; });
  if (!sb.empty() && sb.front().left < tp.snd_una) {
    sb.front().left = tp.snd_una;
  }
  if (tp.high_rxt < tp.snd_una) {
    tp.high_rxt = tp.snd_una;
  }
}

void tcp_sack_clear(TcpCb& tp) {
  tp.scoreboard.clear();
  tp.high_rxt = tp.snd_una;
}

// --- sender: RFC 6675 §4 -----------------------------------------------------

bool tcp_sack_is_lost(const TcpCb& tp, TcpSeq seq) {
  if (tcp_rack_active(tp)) {
    return tcp_rack_is_lost(tp, seq);  // RFC 8985 §9.3: RACK's marks (tcp_rack.cc)
  }
  // "DupThresh discontiguous SACKed sequences ... above SeqNum or more than
  // (DupThresh - 1) * SMSS bytes ... SACKed".
  Above a = sacked_above(tp, seq);
  return a.ranges >= kDupThresh || a.bytes > (kDupThresh - 1) * tcp_smss(tp);
}

uint32_t tcp_sack_pipe(const TcpCb& tp) {
  // SetPipe(): each un-SACKed octet counts once unless IsLost, and once
  // more if it was retransmitted (below HighRxt). SACKed octets count 0.
  if (tcp_rack_active(tp)) {
    return tcp_rack_pipe(tp);  // per segment, from RACK's state (tcp_rack.cc)
  }
  uint32_t pipe = 0;
  for_each_gap(tp, [&](TcpSeq l, TcpSeq r) {
    if (!tcp_sack_is_lost(tp, l)) {
      pipe += r - l;
    }
    if (l < tp.high_rxt) {
      pipe += seq_min(r, tp.high_rxt) - l;
    }
    return true;
  });
  return pipe;
}

std::optional<TcpSackNext> tcp_sack_nextseg(const TcpCb& tp) {
  const uint32_t smss = tcp_smss(tp);
  // RFC 8985 §9.3: first the segments RACK marked lost, lost
  // retransmissions below HighRxt included (tcp_rack.cc).
  if (TcpSackNext lost; tcp_rack_active(tp) && tcp_rack_nextseg(tp, lost)) {
    return lost;
  }
  const TcpSeq top = highest_sacked(tp);
  // Rules (1) and (3): the lowest un-SACKed octet above HighRxt and below
  // the highest SACKed one; rule 1 when IsLost says so. IsLost can only
  // turn false going up (fewer SACKed octets lie above), so the lowest
  // candidate decides for both rules.
  std::optional<TcpSackNext> cand;
  bool cand_lost = false;
  for_each_gap(tp, [&](TcpSeq l, TcpSeq r) {
    if (l >= top) {
      return false;
    }
    TcpSeq from = seq_max(l, tp.high_rxt);
    TcpSeq to = seq_min(r, top);
    if (from >= to) {
      return true;  // this gap was retransmitted already
    }
    cand = TcpSackNext{from, std::min<uint32_t>(smss, to - from), true};
    cand_lost = tcp_sack_is_lost(tp, from);
    return false;
  });
  if (cand && cand_lost) {
    return cand;
  }
  // Rule (2): new data, if the receiver's window allows it.
  TcpSeq data_end = tp.snd_una + static_cast<uint32_t>(tp.snd_cc);
  TcpSeq wnd_end = tp.snd_una + tp.snd_wnd;
  if (tp.snd_max < data_end && tp.snd_max < wnd_end) {
    uint32_t len = std::min({smss, data_end - tp.snd_max, wnd_end - tp.snd_max});
    return TcpSackNext{tp.snd_max, len, false};
  }
  bool fin_unsent = tp.fin_queued && tcps_sent_fin(tp.state) && tp.snd_max == data_end;
  if (fin_unsent && tp.snd_max <= wnd_end) {
    return TcpSackNext{tp.snd_max, 1, false};  // the FIN alone
  }
  return cand;  // rule (3); rule (4), the rescue retransmission, is not done
}

// --- sender: RFC 6675 §5 -----------------------------------------------------

void tcp_sack_enter_recovery(Stack& stack, TcpCb& tp) {
  TcpState& t = stack.tcp;
  ++t.stat.fastretrans;
  ++t.stat.sack_recovery_episode;
  // (4.1) RecoveryPoint = HighData; (4.2) ssthresh and cwnd from the
  // congestion control (RFC 6675 says FlightSize / 2: that is NewReno).
  tp.snd_recover = tp.snd_max;
  tp.cc->on_loss(stack.now(), tp);
  tp.cwnd = tp.ssthresh;
  tp.in_recovery = true;
  tp.high_rxt = tp.snd_una;
  tp.rtt_timing = false;  // Karn (RFC 6298 §3)
  tp.rexmt_timer.stop();
  // (4.3) Retransmit the first segment presumed dropped, whatever pipe is.
  TcpSeq fin_end = tp.snd_una + static_cast<uint32_t>(tp.snd_cc) + (tp.fin_queued ? 1u : 0u);
  uint32_t len = std::min(tcp_smss(tp), seq_min(fin_end, tp.snd_max) - tp.snd_una);
  if (!tp.scoreboard.empty()) {
    len = std::min(len, tp.scoreboard.front().left - tp.snd_una);
  }
  if (len > 0 && tcp_send_range(stack, tp, tp.snd_una, len, true)) {
    tp.high_rxt = tp.snd_una + len;
    ++t.stat.sack_rexmits;
    t.stat.sack_rexmit_bytes += len;
  }
  // (4.4) and (C): then as pipe allows.
  tcp_sack_output(stack, tp);
}

void tcp_sack_output(Stack& stack, TcpCb& tp) {
  TcpState& t = stack.tcp;
  const uint32_t smss = tcp_smss(tp);
  for (int i = 0; i < kMaxBurst; ++i) {
    uint32_t pipe = tcp_sack_pipe(tp);
    if (tp.cwnd <= pipe || tp.cwnd - pipe < smss) {
      return;
    }
    auto next = tcp_sack_nextseg(tp);
    if (!next || !tcp_send_range(stack, tp, next->seq, next->len, next->rexmit)) {
      return;
    }
    TcpSeq end = next->seq + next->len;
    if (next->rexmit) {
      tp.high_rxt = seq_max(tp.high_rxt, end);  // (C.2)
      ++t.stat.sack_rexmits;
      t.stat.sack_rexmit_bytes += next->len;
    } else {
      if (!tp.rtt_timing) {
        tp.rtt_timing = true;  // new data may be timed (Karn allows it)
        tp.rtt_seq = next->seq;
        tp.rtt_start = stack.now();
      }
      tp.snd_max = end;
      tp.snd_nxt = end;
    }
  }
}

}  // namespace iopkt
