// fuzz/tcp_input_fuzz.cc — tcp_input with the fuzzer writing the TCP header,
// options and payload (ROBUSTNESS.md: option lengths, urgent pointer, SACK
// blocks, RST/SYN injection). The stack has a listener on 80 (backlog 2, so
// SYN cookies are reached) and one connection established by a scripted
// handshake with every option; the target builds the IPv4 header and, unless
// the input asks to keep the fuzzer's, the TCP checksum, and moves the
// virtual clock between segments. It must not crash, hang or leak: the
// listener's queues stay within the backlog, a new SYN is still answered at
// the end, and once everything is closed no packet buffer is left.
//
// Input: records of
//   ctl:u8  bits 0-1 where the segment goes (see Mode), bit 2 keep the
//           fuzzer's checksum, bit 3 the application accepts, sends ctl*16
//           bytes on each connection and reads
//   len:u16 then `len` bytes: the TCP segment (header as written, except
//           what the mode overrides)
//   dt:u8   time to let pass afterwards: dt*dt*4 ms (up to 260 s, past RTOs
//           and a SYN cookie's lifetime)
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "fuzz_reader.hh"
#include "harness/scenario.hh"
#include "harness/tcp_peer.hh"
#include "kern/byteorder.hh"
#include "netinet/ip.hh"
#include "netinet/tcp_var.hh"

using namespace iopkt;
using namespace iopkt::test;

namespace {

enum Mode : uint8_t {
  // To the established connection (peer port 40000): SEQ and ACK as
  // written, and the edges of SACK blocks, are offsets from its RCV.NXT
  // and SND.UNA, so that most segments land in or near the window.
  kEstablished = 0,
  // To the listener from one of four peer ports, SEQ and ACK as written.
  kListener = 1,
  // Answering the last SYN,ACK the stack sent (a cookie's or an embryo's):
  // SEQ and ACK offsets from what that SYN,ACK expects.
  kAfterSynAck = 2,
  // Ports as written too (the source port's top bit cleared: the final
  // check uses port 65000).
  kRaw = 3,
};

constexpr uint16_t kPeerPort = 40000;
constexpr uint16_t kAlivePort = 65000;
constexpr int kBacklog = 2;

void put_ports_seq_ack(std::vector<std::byte>& seg, uint16_t sport, uint16_t dport, uint32_t seq,
                       uint32_t ack) {
  store_be16(seg, TcpHeader::kSrcPortAt, sport);
  store_be16(seg, TcpHeader::kDstPortAt, dport);
  store_be32(seg, TcpHeader::kSeqAt, seq);
  store_be32(seg, TcpHeader::kAckAt, ack);
}

// SACK blocks as written are offsets from SND.UNA in kEstablished mode, so
// that they can describe data in flight (RFC 2018 §3). Walks the options as
// the data offset gives them, never past the segment.
void rebase_sack_blocks(std::vector<std::byte>& seg, uint32_t snd_una) {
  size_t hlen = (std::to_integer<size_t>(seg[TcpHeader::kOffsetAt]) >> 4) * 4;
  hlen = std::min(hlen, seg.size());
  size_t i = TcpHeader::kMinSize;
  while (i + 1 < hlen) {
    uint8_t kind = std::to_integer<uint8_t>(seg[i]);
    if (kind == kTcpOptEol) {
      break;
    }
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    size_t len = std::to_integer<size_t>(seg[i + 1]);
    if (len < 2 || i + len > hlen) {
      break;
    }
    if (kind == kTcpOptSack) {
      for (size_t b = i + 2; b + 4 <= i + len; b += 4) {
        store_be32(seg, b, load_be32(seg, b) + snd_una);
      }
    }
    i += len;
  }
}

void inject_segment(Scenario& sc, std::vector<std::byte> seg, bool keep_checksum) {
  if (!keep_checksum && seg.size() >= TcpHeader::kChecksumAt + 2) {
    tcp_store_checksum(seg, 0);
    tcp_store_checksum(seg, tcp_checksum(sc.peer(), sc.local(), seg));
  }
  std::vector<std::byte> pkt(IpHeader::kMinSize + seg.size());
  IpFields ip;
  ip.total_len = static_cast<uint16_t>(pkt.size());
  ip.id = 9;
  ip.protocol = kIpProtoTcp;
  ip.src = sc.peer();
  ip.dst = sc.local();
  ip.emit(std::span(pkt).first(IpHeader::kMinSize));
  std::copy(seg.begin(), seg.end(), pkt.begin() + IpHeader::kMinSize);
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, pkt));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzReader in{data, size};
  uint64_t clusters_before;
  {
    Scenario sc;
    Stack& s = sc.stack();
    clusters_before = s.pool().stats().clusters_in_use;
    SocketId listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    (void)s.so_bind(listener, SockAddr::inet(InAddr::any(), 80));
    (void)s.so_listen(listener, kBacklog);
    // The established connection, every option negotiated.
    TcpPeer peer(sc, kPeerPort);
    TcpOptions o;
    o.mss = 1460;
    o.wscale = 7;
    o.sack_permitted = true;
    o.timestamp = TcpOptions::Timestamp{1000, 0};
    SentSeg synack = peer.connect(80, o);
    std::vector<SocketId> accepted;
    if (auto a = s.so_accept(listener); a.ok()) {
      accepted.push_back(*a);
    }
    TcpCb* const conn = accepted.empty() ? nullptr : s.so_find(accepted[0])->tcb;
    std::optional<SentSeg> last_synack = synack;
    auto drain = [&] {
      for (auto& f : sc.take_frames()) {
        if (auto seg = parse_tcp_frame(f); seg && seg->has(kTcpSyn | kTcpAck)) {
          last_synack = seg;
        }
      }
    };

    for (int step = 0; step < 64 && in.n > 0; ++step) {
      const uint8_t ctl = in.u8();
      auto seg = in.bytes(in.u16() % 1480);
      if (seg.size() >= TcpHeader::kMinSize) {
        const uint32_t seq = load_be32(seg, TcpHeader::kSeqAt);
        const uint32_t ack = load_be32(seg, TcpHeader::kAckAt);
        switch (ctl & 3) {
          case kEstablished:
            // The cb is read only while the socket holds it (so_close
            // below is the only way it goes, and it is never called here).
            if (conn != nullptr) {
              put_ports_seq_ack(seg, kPeerPort, 80, conn->rcv_nxt.v + seq, conn->snd_una.v + ack);
              rebase_sack_blocks(seg, conn->snd_una.v);
            }
            break;
          case kListener:
            put_ports_seq_ack(seg, static_cast<uint16_t>(kPeerPort + 1 + (seq & 3)), 80, seq, ack);
            break;
          case kAfterSynAck:
            if (last_synack) {
              put_ports_seq_ack(seg, last_synack->dport, last_synack->sport,
                                last_synack->ack.v + seq, last_synack->seq.v + 1 + ack);
            }
            break;
          default:
            store_be16(seg, TcpHeader::kSrcPortAt,
                       load_be16(seg, TcpHeader::kSrcPortAt) & uint16_t{0x7fff});
            break;
        }
      }
      inject_segment(sc, std::move(seg), (ctl & 4) != 0);
      if (ctl & 8) {
        if (auto a = s.so_accept(listener); a.ok()) {
          accepted.push_back(*a);
        }
        for (SocketId so : accepted) {
          (void)s.so_send_stream(so, pattern_bytes(ctl * 16u, ctl));
          (void)s.so_recv_stream(so, 65536);
        }
      }
      const uint8_t dt = in.u8();
      sc.advance(std::chrono::milliseconds(4u * dt * dt));
      drain();
      const TcpCb* lp = s.so_find(listener)->tcb;
      if (lp == nullptr || lp->syn_q.size() + lp->accept_q.size() > kBacklog) {
        __builtin_trap();  // the listen queues must stay bounded
      }
    }

    // Still answering: a new SYN gets a SYN,ACK (an embryo's or a cookie's).
    TcpSpec syn;
    syn.src = sc.peer();
    syn.dst = sc.local();
    syn.sport = kAlivePort;
    syn.dport = 80;
    syn.seq = 12345;
    syn.flags = kTcpSyn;
    syn.opts.mss = 1000;
    sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_tcp(syn)));
    bool answered = false;
    for (auto& f : sc.take_frames()) {
      auto seg = parse_tcp_frame(f);
      answered |= seg && seg->dport == kAlivePort && seg->has(kTcpSyn | kTcpAck) &&
                  seg->ack.v == syn.seq + 1;
    }
    if (!answered) {
      __builtin_trap();
    }

    for (SocketId so : accepted) {
      s.so_close(so);
    }
    s.so_close(listener);
    // Let retransmissions give up, TIME_WAIT and FIN_WAIT_2 end, then drain.
    sc.advance(std::chrono::hours(2));
    sc.take_frames();
    sc.advance(std::chrono::hours(2));
    sc.take_frames();
    if (s.pool().stats().clusters_in_use != clusters_before) {
      __builtin_trap();  // a packet buffer leaked
    }
  }
  return 0;
}
