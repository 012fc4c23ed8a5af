// harness/tcp_peer.hh — a scripted TCP peer for packet scenarios: builds
// segments with correct checksums from 192.0.2.2 to the stack on en0,
// parses what the stack emits, and keeps the peer's side of the sequence
// space so that tests read like a trace (STYLE.md §6).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "harness/scenario.hh"
#include "netinet/tcp.hh"

namespace iopkt::test {

struct TcpSpec {
  InAddr src, dst;
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  TcpFlags flags = 0;
  uint16_t window = 65535;
  uint16_t urgent = 0;
  TcpOptions opts;
  std::vector<std::byte> payload;
};
// An IPv4 packet carrying the segment, both checksums right.
std::vector<std::byte> build_ipv4_tcp(const TcpSpec& spec);

// A TCP segment the stack sent, decoded.
struct SentSeg {
  InAddr src, dst;
  uint16_t sport = 0, dport = 0;
  TcpSeq seq, ack;
  TcpFlags flags = 0;
  uint16_t window = 0;
  uint16_t urgent = 0;  // the urgent pointer field, as sent
  TcpOptions opts;
  std::vector<std::byte> payload;
  bool checksum_ok = false;
  bool has(TcpFlags f) const { return (flags & f) == f; }
  bool only(TcpFlags f) const { return flags == f; }
};
// Decode an Ethernet frame holding IPv4/TCP; nullopt for anything else.
std::optional<SentSeg> parse_tcp_frame(const std::vector<std::byte>& frame);

class TcpPeer {
 public:
  // The peer is Scenario::peer() (a static ARP entry is installed so that
  // the stack's segments leave at once), port `port`.
  explicit TcpPeer(Scenario& sc, uint16_t port = 40000);

  // Send a segment to `dport` with the peer's sequence state:
  // seq = snd_nxt, ack = rcv_nxt (when kTcpAck is set). Advances snd_nxt by
  // the payload, SYN and FIN.
  void send(TcpFlags flags, const std::vector<std::byte>& payload = {}, TcpOptions opts = {});
  // Send exactly this (seq, ack given): no state change.
  void send_raw(uint32_t seq, uint32_t ack, TcpFlags flags,
                const std::vector<std::byte>& payload = {}, TcpOptions opts = {},
                std::optional<uint16_t> window = std::nullopt);
  // The TCP segments the stack emitted on en0 since the last call.
  std::vector<SentSeg> take();
  // Exactly one segment expected: returns it (test fails otherwise).
  SentSeg expect_one();
  void expect_none();

  // Options on the peer's segments: a timestamp (TSval advances by 1 each
  // segment) when `use_ts`, set by the handshake helpers.
  TcpOptions ts_opts();

  // Passive open against a listener on `dport`: SYN (with `syn_opts`),
  // expect SYN,ACK, send ACK. Returns the SYN,ACK.
  SentSeg connect(uint16_t dport, TcpOptions syn_opts);
  // The stack connected to us: take its SYN, answer SYN,ACK (with
  // `synack_opts`), expect its ACK. Returns the stack's SYN.
  SentSeg accept_syn(TcpOptions synack_opts);
  // Note what the stack sent: rcv_nxt moves past its data/SYN/FIN.
  void absorb(const SentSeg& s);
  // ACK everything absorbed so far.
  void ack();

  uint16_t port() const { return port_; }
  uint16_t dport = 0;         // the stack's port
  uint32_t snd_nxt = 100000;  // peer's next sequence number (its ISS + 1 once synced)
  uint32_t rcv_nxt = 0;       // next byte expected from the stack
  uint16_t window = 65535;
  uint16_t urgent = 0;  // the urgent pointer field of the peer's segments
  uint8_t wscale = 0;   // shift the peer applies to its window field (as sent)
  bool use_ts = false;
  uint32_t ts_val = 1000;
  uint32_t ts_ecr = 0;  // last TSval seen from the stack

 private:
  Scenario& sc_;
  uint16_t port_;
};

std::vector<std::byte> pattern_bytes(size_t n, uint32_t seed = 0);

}  // namespace iopkt::test
