// harness/tcp_peer.cc — see tcp_peer.hh.
#include "harness/tcp_peer.hh"

#include <gtest/gtest.h>

#include "kern/byteorder.hh"
#include "netinet/if_arp.hh"
#include "netinet/ip.hh"

namespace iopkt::test {

std::vector<std::byte> build_ipv4_tcp(const TcpSpec& spec) {
  TcpFields f;
  f.src_port = spec.sport;
  f.dst_port = spec.dport;
  f.seq = TcpSeq{spec.seq};
  f.ack = TcpSeq{spec.ack};
  f.flags = spec.flags;
  f.window = spec.window;
  f.urgent = spec.urgent;
  f.options = spec.opts;
  size_t tcp_len = f.size() + spec.payload.size();
  std::vector<std::byte> pkt(IpHeader::kMinSize + tcp_len);
  std::span<std::byte> all(pkt);
  IpFields ip;
  ip.total_len = static_cast<uint16_t>(pkt.size());
  ip.id = 7;
  ip.protocol = kIpProtoTcp;
  ip.src = spec.src;
  ip.dst = spec.dst;
  ip.emit(all.first(IpHeader::kMinSize));
  auto seg = all.subspan(IpHeader::kMinSize);
  f.emit(seg.first(f.size()));
  std::copy(spec.payload.begin(), spec.payload.end(), seg.begin() + static_cast<long>(f.size()));
  tcp_store_checksum(seg, tcp_checksum(spec.src, spec.dst, seg));
  return pkt;
}

std::optional<SentSeg> parse_tcp_frame(const std::vector<std::byte>& frame) {
  if (frame.size() < 14 + 20 || load_be16(frame, 12) != 0x0800) {
    return std::nullopt;
  }
  std::span<const std::byte> ipb = std::span(frame).subspan(14);
  auto ip = IpHeader::parse(ipb, ipb.size());
  if (!ip || ip->protocol() != kIpProtoTcp) {
    return std::nullopt;
  }
  auto seg = ipb.subspan(ip->header_len(), ip->total_len() - ip->header_len());
  auto th = TcpHeader::parse(seg, seg.size());
  if (!th) {
    return std::nullopt;
  }
  SentSeg s;
  s.src = ip->src();
  s.dst = ip->dst();
  s.sport = th->src_port();
  s.dport = th->dst_port();
  s.seq = th->seq();
  s.ack = th->ack();
  s.flags = th->flags();
  s.window = th->window();
  s.urgent = th->urgent();
  s.opts = tcp_options_parse(th->options());
  s.payload.assign(seg.begin() + static_cast<long>(th->header_len()), seg.end());
  s.checksum_ok =
      in_cksum_finish(in_cksum_add(
          in_pseudo_sum(s.src, s.dst, kIpProtoTcp, static_cast<uint16_t>(seg.size())), seg)) == 0;
  return s;
}

TcpPeer::TcpPeer(Scenario& sc, uint16_t port) : sc_(sc), port_(port) {
  (void)arp_add_static(sc.stack(), sc.link(), sc.peer(), Scenario::kPeerMac);
}

TcpOptions TcpPeer::ts_opts() {
  TcpOptions o;
  if (use_ts) {
    o.timestamp = TcpOptions::Timestamp{ts_val++, ts_ecr};
  }
  return o;
}

void TcpPeer::send_raw(uint32_t seq, uint32_t ack, TcpFlags flags,
                       const std::vector<std::byte>& payload, TcpOptions opts,
                       std::optional<uint16_t> win) {
  TcpSpec s;
  s.src = sc_.peer();
  s.dst = sc_.local();
  s.sport = port_;
  s.dport = dport;
  s.seq = seq;
  s.ack = ack;
  s.flags = flags;
  s.window = win.value_or(window);
  s.urgent = urgent;
  s.opts = opts;
  s.payload = payload;
  sc_.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_tcp(s)));
}

void TcpPeer::send(TcpFlags flags, const std::vector<std::byte>& payload, TcpOptions opts) {
  if (use_ts && !opts.timestamp && !(flags & kTcpRst)) {
    opts.timestamp = TcpOptions::Timestamp{ts_val++, ts_ecr};
  }
  send_raw(snd_nxt, (flags & kTcpAck) ? rcv_nxt : 0, flags, payload, opts);
  snd_nxt += static_cast<uint32_t>(payload.size()) + ((flags & kTcpSyn) ? 1 : 0) +
             ((flags & kTcpFin) ? 1 : 0);
}

std::vector<SentSeg> TcpPeer::take() {
  std::vector<SentSeg> out;
  for (auto& f : sc_.take_frames()) {
    if (auto s = parse_tcp_frame(f)) {
      EXPECT_TRUE(s->checksum_ok);
      EXPECT_EQ(s->src, sc_.local());
      if (s->opts.timestamp) {
        ts_ecr = s->opts.timestamp->val;
      }
      out.push_back(std::move(*s));
    }
  }
  return out;
}

SentSeg TcpPeer::expect_one() {
  auto segs = take();
  EXPECT_EQ(segs.size(), 1u);
  if (segs.empty()) {
    return SentSeg{};
  }
  return segs.front();
}

void TcpPeer::expect_none() {
  auto segs = take();
  EXPECT_TRUE(segs.empty()) << segs.size() << " segment(s), first flags "
                            << (segs.empty() ? 0 : int{segs[0].flags});
}

void TcpPeer::absorb(const SentSeg& s) {
  uint32_t end = s.seq.v + static_cast<uint32_t>(s.payload.size()) + (s.has(kTcpSyn) ? 1 : 0) +
                 (s.has(kTcpFin) ? 1 : 0);
  if (static_cast<int32_t>(end - rcv_nxt) > 0) {
    rcv_nxt = end;
  }
}

void TcpPeer::ack() { send(kTcpAck); }

SentSeg TcpPeer::connect(uint16_t port, TcpOptions syn_opts) {
  dport = port;
  use_ts = syn_opts.timestamp.has_value();
  if (syn_opts.timestamp) {
    ts_val = syn_opts.timestamp->val + 1;
  }
  send_raw(snd_nxt, 0, kTcpSyn, {}, syn_opts);
  snd_nxt += 1;
  SentSeg sa = expect_one();
  EXPECT_TRUE(sa.only(kTcpSyn | kTcpAck));
  EXPECT_EQ(sa.ack.v, snd_nxt);
  rcv_nxt = sa.seq.v + 1;
  send(kTcpAck);
  return sa;
}

SentSeg TcpPeer::accept_syn(TcpOptions synack_opts) {
  SentSeg syn = expect_one();
  EXPECT_TRUE(syn.only(kTcpSyn));
  dport = syn.sport;
  rcv_nxt = syn.seq.v + 1;
  use_ts = synack_opts.timestamp.has_value() && syn.opts.timestamp.has_value();
  if (use_ts) {
    synack_opts.timestamp->ecr = syn.opts.timestamp->val;
    ts_val = synack_opts.timestamp->val + 1;
  }
  send_raw(snd_nxt, rcv_nxt, kTcpSyn | kTcpAck, {}, synack_opts);
  snd_nxt += 1;
  SentSeg a = expect_one();
  EXPECT_TRUE(a.only(kTcpAck));
  EXPECT_EQ(a.ack.v, snd_nxt);
  return syn;
}

std::vector<std::byte> pattern_bytes(size_t n, uint32_t seed) {
  std::vector<std::byte> v(n);
  uint32_t x = seed * 2654435761u + 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345;
    v[i] = std::byte{static_cast<uint8_t>(x >> 16)};
  }
  return v;
}

}  // namespace iopkt::test
