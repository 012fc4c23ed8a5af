// TCP routes through its socket's FIB (Socket::fib, set by the manager for
// mfib_gid_map): two FIBs send the same destination out of different
// interfaces, and a connection's SYN, retransmissions, MSS and accepted
// children follow the FIB of the socket that made them.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness/tcp_peer.hh"
#include "net/route.hh"
#include "netinet/if_arp.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

class TcpFibTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  Ifnet* en1 = nullptr;
  const InAddr remote = InAddr::from_octets(203, 0, 113, 9);
  const InAddr en1_addr = InAddr::from_octets(198, 51, 100, 1);
  const InAddr gw0 = InAddr::from_octets(192, 0, 2, 254);
  const InAddr gw1 = InAddr::from_octets(198, 51, 100, 254);
  static constexpr std::array<uint8_t, 6> kEn1Mac{0x02, 0, 0, 0, 1, 1};
  static constexpr std::array<uint8_t, 6> kGwMac{0x02, 0, 0, 0, 0, 0xfe};

  void SetUp() override {
    // en1: 198.51.100.1/24, a smaller MTU so that the MSS shows the route.
    IfAttachArgs a;
    a.prefix = "en";
    a.mac = kEn1Mac;
    a.mtu = 1400;
    a.max_mtu = 9000;
    a.flags = kIffBroadcast | kIffMulticast | kIffSimplex;
    a.driver_name = "scenario";
    en1 = s.if_attach(a).value();
    ASSERT_TRUE(s.in_control_add(*en1, InIfaddr{en1_addr, 24, InAddr::any()}, false).ok());
    // FIB 0: 203.0.113.0/24 via en0's gateway; FIB 1: via en1's.
    Rtentry r0;
    r0.dst = InAddr::from_octets(203, 0, 113, 0);
    r0.prefixlen = 24;
    r0.gateway = gw0;
    r0.flags = kRtfGateway;
    ASSERT_TRUE(in_route_add(s, 0, r0).ok());
    Rtentry r1 = r0;
    r1.gateway = gw1;
    ASSERT_TRUE(in_route_add(s, 1, r1).ok());
    ASSERT_TRUE(arp_add_static(s, sc.link(), gw0, kGwMac).ok());
    ASSERT_TRUE(arp_add_static(s, *en1, gw1, kGwMac).ok());
    drain();
  }
  // The TCP segments each interface sent since the last call.
  struct Sent {
    std::vector<SentSeg> en0, en1;
  };
  Sent drain() {
    Sent out;
    for (Ifnet* ifp : s.take_tx_pending()) {
      while (!ifp->snd.empty()) {
        auto seg = parse_tcp_frame(ifp->snd.front().to_vector());
        ifp->snd.pop_front();
        if (seg) {
          (ifp == en1 ? out.en1 : out.en0).push_back(*seg);
        }
      }
    }
    return out;
  }
  SocketId stream(uint32_t fib) {
    SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    s.so_find(so)->fib = fib;  // what the manager does for mfib_gid_map
    return so;
  }
  // A segment from `remote` arriving on en1.
  void inject_en1(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, TcpFlags flags,
                  TcpOptions opts) {
    TcpSpec t;
    t.src = remote;
    t.dst = en1_addr;
    t.sport = sport;
    t.dport = dport;
    t.seq = seq;
    t.ack = ack;
    t.flags = flags;
    t.opts = opts;
    s.if_input(*en1,
               Mbuf::copy_from(s.pool(), build_ether(kEn1Mac, kGwMac, 0x0800, build_ipv4_tcp(t))));
  }
};

TEST_F(TcpFibTest, ConnectUsesTheSocketsFib) {
  // FIB 0: out of en0 from 192.0.2.1, MSS 1460.
  SocketId so0 = stream(0);
  EXPECT_EQ(s.so_connect(so0, SockAddr::inet(remote, 80)).error().value, EINPROGRESS);
  Sent a = drain();
  ASSERT_EQ(a.en0.size(), 1u);
  EXPECT_TRUE(a.en1.empty());
  EXPECT_EQ(a.en0[0].src, sc.local());
  EXPECT_EQ(a.en0[0].opts.mss, 1460);

  // FIB 1: the same destination out of en1 from 198.51.100.1, MSS 1360.
  SocketId so1 = stream(1);
  EXPECT_EQ(s.so_connect(so1, SockAddr::inet(remote, 80)).error().value, EINPROGRESS);
  Sent b = drain();
  ASSERT_EQ(b.en1.size(), 1u);
  EXPECT_TRUE(b.en0.empty());
  const SentSeg syn = b.en1[0];
  EXPECT_TRUE(syn.only(kTcpSyn));
  EXPECT_EQ(syn.src, en1_addr);
  EXPECT_EQ(syn.dst, remote);
  EXPECT_EQ(syn.opts.mss, 1360);
  TcpCb& tp = *s.so_find(so1)->tcb;
  EXPECT_EQ(tp.fib, 1u);

  // Retransmissions go the same way (tcp_output's IpOutputArgs).
  s.advance(s.now() + 1s);
  Sent c = drain();
  ASSERT_FALSE(c.en1.empty());
  for (const auto& g : c.en1) {
    EXPECT_EQ(g.sport, syn.sport);
  }
  for (const auto& g : c.en0) {
    EXPECT_NE(g.sport, syn.sport);  // only so0's own retransmission
  }

  // The handshake completes over en1; the send MSS is capped by FIB 1's
  // route (1400 - 40), not FIB 0's.
  TcpOptions o;
  o.mss = 1460;
  inject_en1(80, syn.sport, 5000, syn.seq.v + 1, kTcpSyn | kTcpAck, o);
  Sent d = drain();
  ASSERT_EQ(d.en1.size(), 1u);
  EXPECT_TRUE(d.en1[0].only(kTcpAck));
  EXPECT_EQ(tp.state, TcpFsmState::kEstablished);
  EXPECT_EQ(tp.t_maxseg, 1360);
  ASSERT_TRUE(s.so_send_stream(so1, bytes_of("via fib 1")).ok());
  Sent e = drain();
  ASSERT_EQ(e.en1.size(), 1u);
  EXPECT_EQ(e.en1[0].payload, bytes_of("via fib 1"));
  EXPECT_TRUE(e.en0.empty());
}

// A FIB without a route to the destination: connect fails as the lookup does.
TEST_F(TcpFibTest, NoRouteInTheSocketsFib) {
  SocketId so = stream(2);
  EXPECT_EQ(s.so_connect(so, SockAddr::inet(remote, 80)).error().value, ENETUNREACH);
  Sent a = drain();
  EXPECT_TRUE(a.en0.empty());
  EXPECT_TRUE(a.en1.empty());
}

// A connection accepted by a listener in FIB 1 answers through FIB 1.
TEST_F(TcpFibTest, AcceptedConnectionUsesTheListenersFib) {
  SocketId l = stream(1);
  ASSERT_TRUE(s.so_bind(l, SockAddr::inet(InAddr::any(), 80)).ok());
  ASSERT_TRUE(s.so_listen(l, 4).ok());
  TcpOptions o;
  o.mss = 1460;
  inject_en1(40000, 80, 7000, 0, kTcpSyn, o);
  Sent a = drain();
  ASSERT_EQ(a.en1.size(), 1u);
  EXPECT_TRUE(a.en0.empty());
  EXPECT_TRUE(a.en1[0].only(kTcpSyn | kTcpAck));
  EXPECT_EQ(a.en1[0].opts.mss, 1360);
  inject_en1(40000, 80, 7001, a.en1[0].seq.v + 1, kTcpAck, {});
  SocketId so = s.so_accept(l).value();
  EXPECT_EQ(s.so_find(so)->fib, 1u);
  EXPECT_EQ(s.so_find(so)->tcb->fib, 1u);
  ASSERT_TRUE(s.so_send_stream(so, bytes_of("hello")).ok());
  Sent b = drain();
  ASSERT_EQ(b.en1.size(), 1u);
  EXPECT_TRUE(b.en0.empty());
}

}  // namespace
}  // namespace iopkt::test
