// netinet/tcp_output.cc — segment transmission (BSD tcp_output.c): what to
// send given the state, the send and congestion windows, Nagle (RFC 9293
// §3.7.4), receiver silly-window avoidance (§3.8.6.2.2) and pending ACKs
// (with SACK blocks, RFC 2018 §4); in SACK recovery RFC 6675's NextSeg
// (tcp_sack.cc) chooses the segments;
// the option and header builders of tcp.hh; bare control segments and RSTs
// for segments without a connection (RFC 9293 §3.10.7.1).
//
// Payload is never copied for a (re)transmission: each segment's data is a
// share of the send buffer's clusters (Mbuf::share), with the headers in a
// cluster chained in front.
#include <algorithm>

#include "core/stack.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// Room in front of a segment for the TCP, IP and link headers.
constexpr size_t kTcpHeadroom = 128;

}  // namespace

size_t TcpOptions::wire_size() const {
  size_t n = 0;
  if (mss) {
    n += 4;
  }
  if (wscale) {
    n += 4;  // NOP + 3
  }
  if (sack_permitted && !timestamp) {
    n += 4;  // NOP NOP + 2
  }
  if (timestamp) {
    n += 12;  // (SACK-permitted or NOP NOP) + 10
  }
  if (sack_count > 0) {
    n += 4 + 8 * std::min<size_t>(sack_count, kTcpMaxSackBlocks);  // NOP NOP + 2 + 8k
  }
  return n;
}

void TcpOptions::emit(std::span<std::byte> out) const {
  size_t at = 0;
  auto put = [&](uint8_t b) { out[at++] = std::byte{b}; };
  if (mss) {
    put(kTcpOptMss);
    put(4);
    store_be16(out, at, *mss);
    at += 2;
  }
  if (sack_permitted && timestamp) {
    put(kTcpOptSackPermitted);
    put(2);
  } else if (timestamp) {
    put(kTcpOptNop);
    put(kTcpOptNop);
  }
  if (timestamp) {
    put(kTcpOptTimestamp);
    put(10);
    store_be32(out, at, timestamp->val);
    store_be32(out, at + 4, timestamp->ecr);
    at += 8;
  }
  if (sack_permitted && !timestamp) {
    put(kTcpOptNop);
    put(kTcpOptNop);
    put(kTcpOptSackPermitted);
    put(2);
  }
  if (wscale) {
    put(kTcpOptNop);
    put(kTcpOptWscale);
    put(3);
    put(*wscale);
  }
  if (sack_count > 0) {
    size_t k = std::min<size_t>(sack_count, kTcpMaxSackBlocks);
    put(kTcpOptNop);
    put(kTcpOptNop);
    put(kTcpOptSack);
    put(static_cast<uint8_t>(2 + 8 * k));
    for (size_t i = 0; i < k; ++i) {
      store_be32(out, at, sack[i].left.v);
      store_be32(out, at + 4, sack[i].right.v);
      at += 8;
    }
  }
}

void TcpFields::emit(std::span<std::byte> out) const {
  store_be16(out, TcpHeader::kSrcPortAt, src_port);
  store_be16(out, TcpHeader::kDstPortAt, dst_port);
  store_be32(out, TcpHeader::kSeqAt, seq.v);
  store_be32(out, TcpHeader::kAckAt, ack.v);
  out[TcpHeader::kOffsetAt] = std::byte{static_cast<uint8_t>((size() / 4) << 4)};
  out[TcpHeader::kFlagsAt] = std::byte{flags};
  store_be16(out, TcpHeader::kWindowAt, window);
  store_be16(out, TcpHeader::kChecksumAt, 0);
  store_be16(out, TcpHeader::kUrgentAt, urgent);
  options.emit(out.subspan(TcpHeader::kMinSize));
}

uint16_t tcp_checksum(InAddr src, InAddr dst, std::span<const std::byte> segment) {
  uint32_t sum = in_pseudo_sum(src, dst, kIpProtoTcp, static_cast<uint16_t>(segment.size()));
  return in_cksum_finish(in_cksum_add(sum, segment));
}

uint32_t tcp_rcv_space(const TcpCb& tp) {
  return tp.rcv_hiwat > tp.rcv_cc ? static_cast<uint32_t>(tp.rcv_hiwat - tp.rcv_cc) : 0;
}

namespace {

void tcp_sync_bufs(TcpCb& tp) {
  if (tp.so != nullptr) {
    tp.snd_hiwat = tp.so->snd_hiwat;
    tp.rcv_hiwat = tp.so->rcv_hiwat;
  }
}

// The receive space that may be offered: above net.inet.tcp.mem_max, no
// more than the small guaranteed minimum in all (Linux tcp_rmem[0] under
// tcp_memory_pressure), so that many connections cannot make the process
// queue without bound.
uint32_t tcp_rcv_space_bounded(Stack& stack, const TcpCb& tp, bool count) {
  uint32_t space = tcp_rcv_space(tp);
  if (tcp_mem_pressure(stack)) {
    auto cap =
        static_cast<uint32_t>(tp.rcv_cc < kTcpMemMinPerConn ? kTcpMemMinPerConn - tp.rcv_cc : 0);
    if (space > cap) {
      space = cap;
      stack.tcp.stat.mem_pressure += count ? 1 : 0;
    }
  }
  return space;
}

// The window to advertise, before scaling: never shrinking what was already
// offered (RFC 9293 §3.8.6.2.2 "the right window edge must not move left"),
// and 0 rather than a sliver smaller than a segment and a quarter of the
// buffer (receiver-side silly window avoidance).
uint32_t tcp_rcv_window(Stack& stack, const TcpCb& tp) {
  uint32_t space = tcp_rcv_space_bounded(stack, tp, true);
  if (space < tp.rcv_hiwat / 4 && space < tp.t_maxseg) {
    space = 0;
  }
  uint32_t offered = tp.rcv_adv > tp.rcv_nxt ? tp.rcv_adv - tp.rcv_nxt : 0;
  space = std::max(space, offered);
  return std::min<uint32_t>(space, uint32_t{65535} << tp.rcv_scale);
}

// Build and send one segment: header (+ options) in front of `data`.
// Returns true when IP refused it as larger than the route's MTU and the
// MSS was lowered to fit: the caller sends the data again, smaller.
[[nodiscard]] bool tcp_emit(Stack& stack, TcpCb& tp, TcpSeq seq, TcpFlags flags, Mbuf data,
                            bool syn_opts) {
  TcpState& t = stack.tcp;
  TcpFields f;
  f.src_port = tp.lport;
  f.dst_port = tp.fport;
  f.seq = seq;
  f.ack = (flags & kTcpAck) ? tp.rcv_nxt : TcpSeq{};
  f.flags = flags;
  if (tp.snd_urgent && !(flags & (kTcpSyn | kTcpRst))) {
    if (tp.snd_up <= tp.snd_una) {
      tp.snd_urgent = false;  // acknowledged: the urgent data is over
    } else if (tp.snd_up > seq) {
      // RFC 9293 §3.8.5: a segment before the end of the urgent data says
      // where it ends, as an offset from its own sequence number (RFC 6093
      // §4: the byte after the urgent byte). An end beyond 65535 says
      // 65535: "more urgent data to come", told exactly by a later segment.
      f.flags |= kTcpUrg;
      f.urgent = static_cast<uint16_t>(std::min<uint32_t>(tp.snd_up - seq, 65535));
      ++t.stat.sndurg;
    }
  }
  uint32_t win = (flags & kTcpRst) ? 0 : tcp_rcv_window(stack, tp);
  if (flags & kTcpSyn) {
    // RFC 7323 §2.2: the window field of a SYN is never scaled.
    f.window = static_cast<uint16_t>(std::min<uint32_t>(win, 65535));
  } else {
    f.window = static_cast<uint16_t>(std::min<uint32_t>(win >> tp.rcv_scale, 65535));
  }
  bool syn_sent = tp.state == TcpFsmState::kSynSent;
  if (syn_opts) {
    f.options.mss = tp.our_mss;
    if (tp.req_ws && (syn_sent || tp.ws_ok)) {
      f.options.wscale = tp.request_r_scale;
    }
    if (tp.req_sack && (syn_sent || tp.sack_ok)) {
      f.options.sack_permitted = true;
    }
    if (tp.req_ts && (syn_sent || tp.ts_ok)) {
      f.options.timestamp =
          TcpOptions::Timestamp{tcp_now_ts(stack, tp), syn_sent ? 0 : tp.ts_recent};
    }
  } else if (tp.ts_ok && !(flags & kTcpRst)) {
    f.options.timestamp = TcpOptions::Timestamp{tcp_now_ts(stack, tp), tp.ts_recent};
  }
  if ((flags & kTcpAck) && !(flags & (kTcpSyn | kTcpRst))) {
    // RFC 2018 §4: every ACK reports the out-of-order data held.
    tcp_sack_fill(stack, tp, data ? static_cast<uint32_t>(data.len()) : 0u, f.options);
  }
  size_t hlen = f.size();
  const size_t data_len = data ? data.len() : 0;
  Mbuf m = data ? std::move(data) : Mbuf::alloc(stack.pool(), 0, kTcpHeadroom);
  auto h = m ? m.prepend(hlen) : std::span<std::byte>{};
  if (h.empty()) {
    ++t.stat.noroute;
    return false;
  }
  f.emit(h);
  auto len = static_cast<uint16_t>(m.len());
  uint32_t sum = in_cksum_add_mbuf(in_pseudo_sum(tp.laddr, tp.faddr, kIpProtoTcp, len), m, 0, len);
  tcp_store_checksum(h, in_cksum_finish(sum));
  ++t.stat.sndtotal;
  if ((data_len > 0 || (flags & kTcpFin)) && tp.snd_una == tp.snd_max) {
    tp.unacked_since = stack.now();  // TCP_USER_TIMEOUT: data outstanding from now
  }
  if (flags & kTcpAck) {
    tp.last_ack_sent = tp.rcv_nxt;
    // Whatever window this segment offers is now promised.
    TcpSeq edge = tp.rcv_nxt + (uint32_t{f.window} << ((flags & kTcpSyn) ? 0 : tp.rcv_scale));
    if (edge > tp.rcv_adv) {
      tp.rcv_adv = edge;
    }
    tp.ack_now = false;
    tp.segs_unacked = 0;
    if (tp.delack_pending) {
      tp.delack_pending = false;
      tp.delack_timer.stop();
    }
  }
  IpOutputArgs args;
  args.src = tp.laddr;
  args.dst = tp.faddr;
  args.protocol = kIpProtoTcp;
  args.ttl = tp.so != nullptr ? tp.so->ip_ttl : static_cast<uint8_t>(stack.ip.default_ttl);
  args.tos = tp.so != nullptr ? tp.so->ip_tos : 0;
  args.fib = tp.fib;  // the socket's routing table (mfib_gid_map)
  // RFC 1191 §3 / RFC 1122 §4.2.2.6: path MTU discovery, every segment
  // with DF, unless the path MTU is below the floor (tcp_mtu_reduced).
  args.df = !tp.pmtu_nodf;
  auto r = ip_output(stack, std::move(m), args);
  if (r) {
    // RFC 8985 §6.1: RACK notes when each segment left (tcp_rack.cc).
    tcp_rack_sent(stack, tp, seq, static_cast<uint32_t>(data_len) + ((flags & kTcpFin) ? 1u : 0u),
                  flags);
    return false;
  }
  ++t.stat.noroute;  // the retransmission timer tries again
  if (r.error() == IpOutputError::kTooBig && data_len > 0) {
    // The route's MTU shrank under the connection (BSD tcp_output on
    // EMSGSIZE: tcp_mtudisc): fit the MSS to it and send again.
    auto route = ip_route_lookup(stack, tp.faddr, tp.fib);
    const bool had_nodf = tp.pmtu_nodf;
    if (route && (tcp_mtu_reduced(stack, tp, route->mtu) || tp.pmtu_nodf != had_nodf)) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool tcp_send_range(Stack& stack, TcpCb& tp, TcpSeq seq, uint32_t len, bool rexmit) noexcept {
  TcpState& t = stack.tcp;
  if (seq < tp.snd_una || len == 0) {
    return false;
  }
  const uint32_t off = seq - tp.snd_una;
  const auto cc = static_cast<uint32_t>(tp.snd_cc);
  // The FIN sits one past the last byte once the user shut the send side.
  const bool fin = tp.fin_queued && tcps_sent_fin(tp.state) && off + len > cc;
  const uint32_t data_len = off < cc ? std::min(len, cc - off) : 0;
  if (data_len == 0 && !fin) {
    return false;
  }
  Mbuf data;
  if (data_len > 0) {
    data = tp.snd_buf.share(off, data_len);
    if (!data) {
      ++t.stat.noroute;
      return false;
    }
  }
  TcpFlags fl = kTcpAck;
  if (data_len > 0 && off + data_len == cc) {
    fl |= kTcpPsh;
  }
  if (fin && off + data_len == cc) {
    fl |= kTcpFin;
  }
  if (rexmit) {
    ++t.stat.sndrexmitpack;
    t.stat.sndrexmitbyte += data_len;
  } else if (data_len > 0) {
    ++t.stat.sndpack;
    t.stat.sndbyte += data_len;
  } else {
    ++t.stat.sndctrl;
  }
  if (tcp_emit(stack, tp, seq, fl, std::move(data), false)) {
    // Too big for the route now: once more in the new MSS (it is smaller,
    // so this recursion ends).
    return tcp_send_range(stack, tp, seq, std::min(len, tcp_smss(tp)), rexmit);
  }
  if (!tp.rexmt_timer.pending()) {
    tp.persist_timer.stop();
    tp.persist_shift = 0;
    tp.zwnd_since.reset();
    tcp_set_rexmt(stack, tp);
  }
  return true;
}

void tcp_send_ctl(Stack& stack, TcpCb& tp, TcpSeq seq, TcpSeq ack, TcpFlags flags) noexcept {
  (void)ack;  // the ACK field is always RCV.NXT for a connection
  TcpState& t = stack.tcp;
  if (flags & kTcpRst) {
    ++t.stat.sndrst;
    ++t.stat.sndctrl;
  } else {
    ++t.stat.sndacks;
  }
  (void)tcp_emit(stack, tp, seq, flags, Mbuf{}, false);
}

void tcp_respond(Stack& stack, InAddr src, InAddr dst, uint16_t sport, uint16_t dport, TcpSeq seq,
                 TcpSeq ack, TcpFlags flags) noexcept {
  TcpFields f;
  f.src_port = sport;
  f.dst_port = dport;
  f.seq = seq;
  f.ack = ack;
  f.flags = flags;
  tcp_respond_fields(stack, src, dst, f, 0);
}

void tcp_respond_fields(Stack& stack, InAddr src, InAddr dst, const TcpFields& f,
                        uint32_t fib) noexcept {
  TcpState& t = stack.tcp;
  Mbuf m = Mbuf::alloc(stack.pool(), 0, kTcpHeadroom);
  auto h = m ? m.prepend(f.size()) : std::span<std::byte>{};
  if (h.empty()) {
    ++t.stat.noroute;
    return;
  }
  f.emit(h);
  tcp_store_checksum(h, tcp_checksum(src, dst, h));
  ++t.stat.sndtotal;
  ++t.stat.sndctrl;
  if (f.flags & kTcpRst) {
    ++t.stat.sndrst;
  }
  IpOutputArgs args;
  args.src = src;
  args.dst = dst;
  args.protocol = kIpProtoTcp;
  args.ttl = static_cast<uint8_t>(stack.ip.default_ttl);
  args.fib = fib;
  if (!ip_output(stack, std::move(m), args)) {
    ++t.stat.noroute;
  }
}

static void tcp_output_segs(Stack& stack, TcpCb& tp) noexcept;

void tcp_output(Stack& stack, TcpCb& tp) noexcept {
  tcp_sync_bufs(tp);
  tcp_output_segs(stack, tp);
  // Every user call and every input ends here: the global count of queued
  // bytes follows the buffers.
  tcp_mem_account(stack, tp);
}

static void tcp_output_segs(Stack& stack, TcpCb& tp) noexcept {
  TcpState& t = stack.tcp;
  switch (tp.state) {
    case TcpFsmState::kClosed:
    case TcpFsmState::kListen:
      return;
    case TcpFsmState::kSynSent:
    case TcpFsmState::kSynReceived: {
      // The handshake: only our SYN (or SYN,ACK), no data on it.
      if (tp.snd_nxt == tp.iss) {
        TcpFlags fl = tp.state == TcpFsmState::kSynSent ? kTcpSyn : (kTcpSyn | kTcpAck);
        if (tp.snd_max != tp.iss) {
          ++t.stat.sndrexmitpack;
        } else {
          tp.rtt_start = stack.now();  // the handshake gives the first RTT sample
        }
        ++t.stat.sndctrl;
        (void)tcp_emit(stack, tp, tp.iss, fl, Mbuf{}, true);
        tp.snd_nxt = tp.iss + 1;
        tp.snd_max = seq_max(tp.snd_max, tp.snd_nxt);
        if (!tp.rexmt_timer.pending()) {
          tcp_set_rexmt(stack, tp);
        }
      } else if (tp.ack_now) {
        tcp_send_ctl(stack, tp, tp.snd_nxt, tp.rcv_nxt, kTcpAck);
      }
      return;
    }
    case TcpFsmState::kTimeWait:
      if (tp.ack_now) {
        tcp_send_ctl(stack, tp, tp.snd_nxt, tp.rcv_nxt, kTcpAck);
      }
      return;
    default:
      break;
  }
  uint32_t segsize = tcp_smss(tp);
  const bool user_read = tp.user_read;
  tp.user_read = false;
  // RFC 6675 §5: in SACK recovery what is sent, retransmissions and new
  // data alike, is NextSeg's choice within cwnd - pipe; the loop below
  // only sends ACKs and window updates then.
  const bool sack_recovery = tp.in_recovery && tp.sack_ok;
  if (sack_recovery) {
    tcp_sack_output(stack, tp);
  }
  // A bound on one call: a full window of the largest buffers in small
  // segments, and then some.
  for (int round = 0; round < 100000; ++round) {
    uint32_t off = tp.snd_nxt - tp.snd_una;
    uint32_t win = std::min(tp.snd_wnd, tp.cwnd);
    uint32_t len = 0;
    if (off < tp.snd_cc && off < win) {
      len = std::min<uint32_t>(static_cast<uint32_t>(tp.snd_cc) - off, win - off);
    }
    len = sack_recovery ? 0 : std::min(len, segsize);
    TcpSeq fin_seq = tp.snd_una + static_cast<uint32_t>(tp.snd_cc);
    // Our FIN goes with the last byte, once the user shut the send side
    // and until it is acknowledged.
    bool fin = tp.fin_queued && tcps_sent_fin(tp.state) && tp.state != TcpFsmState::kFinWait2 &&
               tp.state != TcpFsmState::kTimeWait && tp.snd_nxt + len == fin_seq &&
               off + len <= win + 1 && !sack_recovery;
    bool send = false;
    bool cork_held = false;
    if (len > 0) {
      bool last = off + len == tp.snd_cc;
      if (len == segsize) {
        send = true;
      } else if (last && tp.cork && !tp.cork_flush) {
        // tcp(7) TCP_CORK: no partial segment, whatever TCP_NODELAY says;
        // as Linux (tcp_nagle_test), retransmissions, urgent data and the
        // FIN (below) still go.
        send =
            tp.snd_nxt < tp.snd_max || tp.sws_override || (tp.snd_urgent && tp.snd_up > tp.snd_nxt);
        cork_held = !send;
      } else if (last && (tp.nodelay || tp.cork_flush || tp.snd_nxt == tp.snd_una)) {
        // Nagle: a short segment only when nothing is in flight. Uncorking
        // (or the cork's ceiling) sends what was held at once (tcp(7)).
        send = true;
      } else if (tp.max_sndwnd > 0 && len >= tp.max_sndwnd / 2) {
        send = true;
      } else if (tp.snd_nxt < tp.snd_max) {
        send = true;  // retransmitting
      } else if (tp.sws_override) {
        send = true;  // the override timeout (tcp_timer_persist)
      } else if (tp.snd_urgent && tp.snd_up > tp.snd_nxt) {
        send = true;  // urgent data is pushed past Nagle, as BSD and Linux do
      }
    }
    if (fin) {
      send = true;
      cork_held = false;
    }
    if (cork_held) {
      // The cork holds it at most kTcpCorkMax (tcp(7)); an ACK owed now
      // goes without it.
      len = 0;
      if (!tp.cork_timer.pending()) {
        tp.cork_timer.reset(kTcpCorkMax);
      }
    }
    bool win_update = false;
    if (!send && user_read && !tp.cant_rcv && !tp.fin_received) {
      // RFC 9293 §3.8.6.2.2: once the user reads, send a window update when
      // the window opens by two segments or half the buffer (BSD tcp_output
      // after PRU_RCVD).
      uint32_t can_offer = std::min<uint32_t>(tcp_rcv_space_bounded(stack, tp, false),
                                              uint32_t{65535} << tp.rcv_scale);
      uint32_t offered = tp.rcv_adv > tp.rcv_nxt ? tp.rcv_adv - tp.rcv_nxt : 0;
      if (can_offer > offered) {
        uint32_t adv = can_offer - offered;
        if (adv >= 2u * tp.t_maxseg || adv >= tp.rcv_hiwat / 2) {
          win_update = true;
        }
      }
      // An ACK is being delayed and the peer may still send two segments:
      // that ACK (at the peer's next segment, RFC 5681 §4.2, or the timer)
      // carries the window, as does an answer sent meanwhile — which in
      // request/response is what comes next. An update now would be one
      // more segment per request (FreeBSD's tcp_output skips it as well
      // while TF_DELACK is set). A closing window is still updated at once.
      if (win_update && tp.delack_pending && offered >= 2u * tp.t_maxseg) {
        win_update = false;
      }
    }
    if (!send && !win_update && !tp.ack_now) {
      if (cork_held) {
        return;
      }
      tp.cork_timer.stop();
      // Data waits for a window — closed, or too small for the rules
      // above with nothing in flight to bring an ACK: make sure a timer
      // probes it (BSD tcp_output's setpersist; RFC 9293 §3.8.6.2.1's
      // override timeout).
      if (tp.snd_cc > off && (tp.snd_wnd == 0 || tp.snd_nxt == tp.snd_una) &&
          !tp.rexmt_timer.pending() && !tp.persist_timer.pending()) {
        tp.persist_shift = 0;
        tcp_setpersist(stack, tp);
      }
      return;
    }
    TcpFlags fl = kTcpAck;
    Mbuf data;
    if (len > 0) {
      data = tp.snd_buf.share(off, len);
      if (!data) {
        ++t.stat.noroute;
        return;
      }
      if (off + len == tp.snd_cc) {
        fl |= kTcpPsh;
      }
      if (tp.snd_nxt < tp.snd_max) {
        ++t.stat.sndrexmitpack;
        t.stat.sndrexmitbyte += len;
      } else {
        ++t.stat.sndpack;
        t.stat.sndbyte += len;
      }
    } else if (fin) {
      ++t.stat.sndctrl;
    } else if (win_update && !tp.ack_now) {
      ++t.stat.sndwinup;
    } else {
      ++t.stat.sndacks;
    }
    if (fin) {
      fl |= kTcpFin;
    }
    TcpSeq seq = tp.snd_nxt;
    if (tcp_emit(stack, tp, seq, fl, std::move(data), false)) {
      segsize = tcp_smss(tp);  // the MSS shrank: the same bytes again, smaller
      continue;
    }
    bool new_data = tp.snd_nxt == tp.snd_max;
    tp.snd_nxt += len + (fin ? 1 : 0);
    if (tp.snd_nxt > tp.snd_max) {
      tp.snd_max = tp.snd_nxt;
      if (new_data && !tp.rtt_timing && (len > 0 || fin)) {
        // One RTT sample at a time (RFC 6298 §3, BSD t_rtttime).
        tp.rtt_timing = true;
        tp.rtt_seq = seq;
        tp.rtt_start = stack.now();
      }
    }
    if ((len > 0 || fin) && !tp.rexmt_timer.pending()) {
      tp.persist_timer.stop();
      tp.persist_shift = 0;
      tp.zwnd_since.reset();
      tcp_set_rexmt(stack, tp);
    }
    if (len == 0) {
      return;  // an ACK, a window update or a lone FIN: one is enough
    }
  }
}

}  // namespace iopkt
