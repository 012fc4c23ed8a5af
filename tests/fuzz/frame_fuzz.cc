// fuzz/frame_fuzz.cc — the input path as a sequence of actions (STYLE.md §7):
// raw Ethernet frames, IPv4 packets with a correct header checksum (so that
// length, option and protocol handling is reached), UDP datagrams with
// correct checksums, ARP packets, time passing, sends from sockets, TCP
// segments with correct checksums to a listener (including the ACK that
// completes a handshake the stack answered, so established connections are
// reached), accepting and closing connections, and multicast joins. After
// every input the stack must still carry a datagram over lo0, and once its
// sockets are closed and the link drained no packet buffer may be left.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_reader.hh"
#include "harness/scenario.hh"
#include "harness/tcp_peer.hh"
#include "kern/byteorder.hh"

using namespace iopkt;
using namespace iopkt::test;

namespace {

void fix_ip_checksum(std::vector<std::byte>& pkt) {
  if (pkt.size() < 20) {
    return;
  }
  size_t hlen = (std::to_integer<size_t>(pkt[0]) & 0xf) * 4;
  if (hlen < 20 || hlen > pkt.size()) {
    return;
  }
  store_be16(pkt, 10, 0);
  store_be16(pkt, 10, in_cksum_finish(in_cksum_add(0, std::span(pkt).first(hlen))));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzReader in{data, size};
  uint64_t clusters_before;
  {
    Scenario sc;
    Stack& s = sc.stack();
    clusters_before = s.pool().stats().clusters_in_use;
    std::vector<SocketId> sockets;
    for (uint16_t port : {7, 53, 9}) {
      SocketId so = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
      (void)s.so_bind(so, SockAddr::inet(InAddr::any(), port));
      sockets.push_back(so);
    }
    SocketId listener = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    (void)s.so_bind(listener, SockAddr::inet(InAddr::any(), 80));
    (void)s.so_listen(listener, 4);
    std::vector<SocketId> accepted;
    // The last SYN-ACK the stack sent, to complete its handshake.
    std::optional<SentSeg> last_synack;
    auto take_frames = [&] {
      for (auto& f : sc.take_frames()) {
        if (auto seg = parse_tcp_frame(f); seg && seg->has(kTcpSyn | kTcpAck)) {
          last_synack = seg;
        }
      }
    };
    for (int step = 0; step < 64 && in.n > 0; ++step) {
      switch (in.u8() % 10) {
        case 0:  // a raw frame
          sc.inject(in.bytes(in.u16() % 2000));
          break;
        case 1: {  // an IPv4 packet with a valid header checksum
          auto pkt = in.bytes(in.u16() % 1600);
          fix_ip_checksum(pkt);
          sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, pkt));
          break;
        }
        case 2: {  // a well-formed UDP datagram to one of our ports
          UdpSpec u{sc.peer(), in.u8() & 1 ? sc.local() : InAddr::from_octets(192, 0, 2, 255),
                    in.u16(),
                    static_cast<uint16_t>(std::array<uint16_t, 4>{7, 53, 9, 1}[in.u8() % 4]),
                    in.bytes(in.u16() % 1400)};
          sc.inject(
              build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_udp(u)));
          break;
        }
        case 3: {  // an ARP packet, broadcast
          std::array<uint8_t, 6> bcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
          sc.inject(build_ether(bcast, Scenario::kPeerMac, 0x0806, in.bytes(in.u8() % 64)));
          break;
        }
        case 4:  // time passes
          sc.advance(std::chrono::milliseconds(100) * in.u8());
          break;
        case 5: {  // a socket sends: to the peer (ARP), to lo0, or to broadcast
          InAddr dst = std::array<InAddr, 3>{sc.peer(), InAddr::loopback(),
                                             InAddr::from_octets(198, 51, 100, 1)}[in.u8() % 3];
          auto to = SockAddr::inet(dst, in.u16() | 1);
          auto payload = in.bytes(in.u16() % 2000);
          (void)s.so_send_dgram(sockets[in.u8() % sockets.size()],
                                Mbuf::copy_from(s.pool(), payload, 64), &to);
          break;
        }
        case 6: {  // a TCP segment to the listener (or a closed port)
          TcpSpec t;
          t.src = sc.peer();
          t.dst = sc.local();
          t.sport = static_cast<uint16_t>(40000 + in.u8() % 4);
          t.dport = in.u8() & 1 ? 80 : 81;
          t.seq = static_cast<uint32_t>(in.u16()) << 16 | in.u16();
          t.ack = static_cast<uint32_t>(in.u16()) << 16 | in.u16();
          t.flags = in.u8();
          t.window = in.u16();
          if (in.u8() & 1) {
            t.opts.mss = in.u16();
            t.opts.wscale = in.u8();
            t.opts.sack_permitted = true;
            t.opts.timestamp = TcpOptions::Timestamp{in.u16(), 0};
          }
          t.payload = in.bytes(in.u16() % 1460);
          sc.inject(
              build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_tcp(t)));
          break;
        }
        case 7: {  // complete the handshake the stack answered, maybe with data
          take_frames();
          if (!last_synack) {
            break;
          }
          TcpSpec t;
          t.src = last_synack->dst;
          t.dst = last_synack->src;
          t.sport = last_synack->dport;
          t.dport = last_synack->sport;
          t.seq = last_synack->ack.v;
          t.ack = last_synack->seq.v + 1;
          t.flags = kTcpAck | (in.u8() & (kTcpPsh | kTcpFin));
          t.window = in.u16();
          t.payload = in.bytes(in.u16() % 1460);
          sc.inject(
              build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0800, build_ipv4_tcp(t)));
          break;
        }
        case 8: {  // accept, send on, or close a connection
          if (auto a = s.so_accept(listener); a.ok()) {
            accepted.push_back(*a);
          }
          if (!accepted.empty()) {
            size_t i = in.u8() % accepted.size();
            auto bytes = in.bytes(in.u16() % 4000);
            (void)s.so_send_stream(accepted[i], bytes);
            (void)s.so_recv_stream(accepted[i], 65536);
            if (in.u8() & 1) {
              s.so_close(accepted[i]);
              accepted.erase(accepted.begin() + static_cast<long>(i));
            }
          }
          break;
        }
        case 9: {  // join or leave a multicast group on en0
          ip_mreqn mr{};
          mr.imr_multiaddr.s_addr = htonl(0xe0000000u | (in.u8() % 4 + 250));
          mr.imr_ifindex = static_cast<int>(sc.link().index);
          int opt = in.u8() & 1 ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP;
          (void)s.so_setsockopt(sockets[0], IPPROTO_IP, opt,
                                std::span(reinterpret_cast<const std::byte*>(&mr), sizeof mr));
          break;
        }
      }
      if (in.u8() & 1) {
        take_frames();
      }
      for (SocketId so : sockets) {
        while (s.so_recv_dgram(so)) {
        }
      }
    }
    // Still alive: a datagram over lo0 arrives.
    SocketId a = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
    SocketId b = s.so_create(AF_INET, SOCK_DGRAM, 0).value();
    if (!s.so_bind(b, SockAddr::inet(InAddr::loopback(), 4242)).ok()) {
      __builtin_trap();
    }
    auto to = SockAddr::inet(InAddr::loopback(), 4242);
    if (!s.so_send_dgram(a, Mbuf::copy_from(s.pool(), bytes_of("alive"), 64), &to).ok() ||
        !s.so_recv_dgram(b).has_value()) {
      __builtin_trap();
    }
    s.so_close(a);
    s.so_close(b);
    for (SocketId so : sockets) {
      s.so_close(so);
    }
    for (SocketId so : accepted) {
      s.so_close(so);
    }
    s.so_close(listener);
    // Let every ARP entry give up or expire, then drain the link.
    sc.advance(std::chrono::hours(2));
    sc.take_frames();
    if (s.pool().stats().clusters_in_use != clusters_before) {
      __builtin_trap();  // a packet buffer leaked
    }
  }
  return 0;
}
