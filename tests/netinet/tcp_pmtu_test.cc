// TCP path MTU discovery (RFC 1191, RFC 1122 §4.2.2.6, RFC 5927 §4.1):
// segments leave with DF; Fragmentation Needed lowers the MSS and the lost
// data goes again at once in the new size; the path MTU is remembered per
// destination for 10 minutes; bogus and stale messages change nothing.
// Every test asserts the frames on the wire.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "harness/ip4_frames.hh"
#include "harness/tcp_peer.hh"
#include "netinet/tcp_var.hh"

namespace iopkt::test {
namespace {

using namespace std::chrono_literals;

// A router on the link that reports errors about our segments.
InAddr router() { return InAddr::from_octets(192, 0, 2, 254); }

// The IP header and first 8 bytes of a TCP segment the stack sent, as a
// router quotes it; `total_len` 0: as sent.
std::vector<std::byte> quote_of(Scenario& sc, const SentSeg& seg, uint16_t total_len = 0) {
  Ip4 q;
  q.src = sc.local();
  q.dst = sc.peer();
  q.proto = kIpProtoTcp;
  q.payload.resize(8);
  store_be16(q.payload, 0, seg.sport);
  store_be16(q.payload, 2, seg.dport);
  store_be32(q.payload, 4, seg.seq.v);
  auto p = q.build();
  // The quoted total length is the original's, not the 28 bytes quoted.
  store_be16(p, 2,
             total_len != 0
                 ? total_len
                 : static_cast<uint16_t>(20 + 20 + seg.opts.wire_size() + seg.payload.size()));
  return p;
}

void frag_needed(Scenario& sc, const std::vector<std::byte>& quote, uint16_t mtu) {
  Ip4 ip;
  ip.src = router();
  ip.dst = sc.local();
  ip.proto = kIpProtoIcmp;
  ip.payload = icmp_msg(kIcmpUnreach, kIcmpUnreachNeedFrag, mtu, quote);
  inject_ip(sc, ip.build());
}

// IPv4 total length and the DF bit of an emitted Ethernet frame.
uint16_t ip_len(const std::vector<std::byte>& f) { return load_be16(f, 14 + 2); }
bool ip_df(const std::vector<std::byte>& f) { return (load_be16(f, 14 + 6) & 0x4000) != 0; }

class TcpPmtuTest : public ::testing::Test {
 protected:
  Scenario sc;
  Stack& s = sc.stack();
  TcpPeer peer{sc};

  static TcpOptions mss(uint16_t m) {
    TcpOptions o;
    o.mss = m;
    return o;
  }
  SocketId active() {
    SocketId so = s.so_create(AF_INET, SOCK_STREAM, 0).value();
    EXPECT_EQ(s.so_connect(so, SockAddr::inet(sc.peer(), peer.port())).error().value, EINPROGRESS);
    peer.accept_syn(mss(1460));
    return so;
  }
  // Frames the stack emitted, with their TCP decoding.
  std::vector<std::pair<std::vector<std::byte>, SentSeg>> take_tcp() {
    std::vector<std::pair<std::vector<std::byte>, SentSeg>> out;
    for (auto& f : sc.take_frames()) {
      if (auto seg = parse_tcp_frame(f)) {
        out.emplace_back(std::move(f), std::move(*seg));
      }
    }
    return out;
  }
  const TcpStat& st() { return s.tcp.stat; }
};

// RFC 1191 §6.3/§6.5: Fragmentation Needed with MTU 1280 quoting an
// unacknowledged segment: everything unacknowledged goes again at once in
// segments of at most 1280 bytes of IP (1240 of payload), with DF, without a
// congestion response; a new connection to the destination advertises and
// uses the smaller MSS; after 10 minutes the cached MTU expires.
TEST_F(TcpPmtuTest, FragNeededLowersMssAndRetransmitsAtOnce) {
  SocketId so = active();
  const uint32_t cwnd = s.so_find(so)->tcb->cwnd;
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(2920)).value(), 2920u);
  auto sent = take_tcp();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].second.payload.size(), 1460u);
  EXPECT_EQ(ip_len(sent[0].first), 1500);
  for (const auto& [f, seg] : sent) {
    EXPECT_TRUE(ip_df(f));  // RFC 1191 §3: every TCP segment with DF
  }
  frag_needed(sc, quote_of(sc, sent[1].second), 1280);
  EXPECT_EQ(st().pmtu_changes, 1u);
  EXPECT_EQ(s.ip.icmp.stat.pmtuchg, 1u);
  auto re = take_tcp();
  ASSERT_EQ(re.size(), 3u);  // 1240 + 1240 + 440: 2920 bytes from SND.UNA
  uint32_t next = sent[0].second.seq.v;
  size_t total = 0;
  for (const auto& [f, seg] : re) {
    EXPECT_LE(ip_len(f), 1280);
    EXPECT_LE(seg.payload.size(), 1240u);  // MSS = MTU - 20 (IP) - 20 (TCP)
    EXPECT_TRUE(ip_df(f));
    EXPECT_EQ(seg.seq.v, next);
    next += static_cast<uint32_t>(seg.payload.size());
    total += seg.payload.size();
  }
  EXPECT_EQ(re[0].second.payload.size(), 1240u);
  EXPECT_EQ(total, 2920u);
  EXPECT_EQ(st().sndrexmitpack, 3u);
  EXPECT_EQ(s.so_find(so)->tcb->cwnd, cwnd);  // RFC 1191 §6.5: not congestion
  EXPECT_EQ(s.so_find(so)->tcb->t_maxseg, 1240);
  // The peer has it all now.
  for (const auto& [f, seg] : re) {
    peer.absorb(seg);
  }
  peer.ack();
  peer.expect_none();
  // New data is cut to the new size too.
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(2480)).ok());
  auto more = take_tcp();
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].second.payload.size(), 1240u);
  EXPECT_EQ(ip_len(more[0].first), 1280);
  for (const auto& [f, seg] : more) {
    peer.absorb(seg);
  }
  peer.ack();
  // A new connection to the same destination starts with the path MTU.
  TcpPeer peer2{sc, 40001};
  SocketId so2 = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_EQ(s.so_connect(so2, SockAddr::inet(sc.peer(), 40001)).error().value, EINPROGRESS);
  SentSeg syn = peer2.accept_syn(mss(1460));
  EXPECT_EQ(syn.opts.mss, 1240);
  EXPECT_EQ(s.so_find(so2)->tcb->t_maxseg, 1240);
  ASSERT_TRUE(s.so_send_stream(so2, pattern_bytes(2480)).ok());
  auto d2 = take_tcp();
  ASSERT_EQ(d2.size(), 2u);
  EXPECT_EQ(d2[0].second.payload.size(), 1240u);
  for (const auto& [f, seg] : d2) {
    peer2.absorb(seg);
  }
  peer2.ack();
  // RFC 1191 §6.3: after 10 minutes the larger MTU is tried again.
  sc.advance(601s);
  (void)sc.take_frames();
  TcpPeer peer3{sc, 40002};
  SocketId so3 = s.so_create(AF_INET, SOCK_STREAM, 0).value();
  ASSERT_EQ(s.so_connect(so3, SockAddr::inet(sc.peer(), 40002)).error().value, EINPROGRESS);
  SentSeg syn3 = peer3.accept_syn(mss(1460));
  EXPECT_EQ(syn3.opts.mss, 1460);
}

// RFC 1191 §7: a router that leaves next-hop MTU 0 gets the plateau below
// the quoted datagram's length; RFC 1191 §4: an MTU below 68 is ignored;
// RFC 5927 §4.1: a quote of a sequence number not in flight is ignored and
// counted; an MTU that is not smaller changes nothing.
TEST_F(TcpPmtuTest, PlateauBogusMtuAndStaleQuotes) {
  SocketId so = active();
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(1460)).ok());
  auto sent = take_tcp();
  ASSERT_EQ(sent.size(), 1u);
  const SentSeg& seg = sent[0].second;
  // MTU 40: impossible, ignored by ICMP before TCP sees it.
  frag_needed(sc, quote_of(sc, seg), 40);
  EXPECT_EQ(s.ip.icmp.stat.badmtu, 1u);
  EXPECT_TRUE(take_tcp().empty());
  // A sequence number above SND.MAX, and one below SND.UNA.
  SentSeg stale = seg;
  stale.seq = seg.seq + 5000;
  frag_needed(sc, quote_of(sc, stale), 1280);
  stale.seq = seg.seq - 1;
  frag_needed(sc, quote_of(sc, stale), 1280);
  EXPECT_EQ(st().icmp_badseq, 2u);
  EXPECT_EQ(st().pmtu_changes, 0u);
  EXPECT_TRUE(take_tcp().empty());
  // Another connection's 4-tuple.
  SentSeg other = seg;
  other.sport = static_cast<uint16_t>(seg.sport + 1);
  frag_needed(sc, quote_of(sc, other), 1280);
  EXPECT_EQ(st().icmp_nomatch, 1u);
  // Not smaller than the current MTU: no change, nothing sent.
  frag_needed(sc, quote_of(sc, seg), 1500);
  EXPECT_EQ(st().pmtu_changes, 0u);
  EXPECT_TRUE(take_tcp().empty());
  // MTU 0 quoting a 1500-byte datagram: the plateau below it is 1492.
  frag_needed(sc, quote_of(sc, seg, 1500), 0);
  EXPECT_EQ(st().pmtu_changes, 1u);
  EXPECT_EQ(s.so_find(so)->tcb->t_maxseg, 1452);
  auto re = take_tcp();
  ASSERT_EQ(re.size(), 2u);
  EXPECT_EQ(ip_len(re[0].first), 1492);
  EXPECT_EQ(re[0].second.payload.size(), 1452u);
  EXPECT_EQ(re[1].second.payload.size(), 8u);
  // MTU 0 again, quoting the 1492-byte retransmission: next plateau 1006.
  frag_needed(sc, quote_of(sc, re[0].second, 1492), 0);
  EXPECT_EQ(s.so_find(so)->tcb->t_maxseg, 966);
  re = take_tcp();
  ASSERT_EQ(re.size(), 2u);
  EXPECT_EQ(ip_len(re[0].first), 1006);
  EXPECT_TRUE(ip_df(re[0].first));
}

// RFC 5927 §7: an MTU below net.inet.tcp.pmtu_min (552, as Linux) cannot
// shrink segments to a trickle: the floor is used and segments go without
// DF, so that the path may fragment them.
TEST_F(TcpPmtuTest, TinyMtuIsFlooredAndDfCleared) {
  SocketId so = active();
  ASSERT_TRUE(s.so_send_stream(so, pattern_bytes(1460)).ok());
  auto sent = take_tcp();
  ASSERT_EQ(sent.size(), 1u);
  frag_needed(sc, quote_of(sc, sent[0].second), 296);
  EXPECT_EQ(st().pmtu_floored, 1u);
  EXPECT_EQ(s.so_find(so)->tcb->t_maxseg, 512);
  auto re = take_tcp();
  ASSERT_EQ(re.size(), 3u);
  EXPECT_EQ(ip_len(re[0].first), 552);
  EXPECT_FALSE(ip_df(re[0].first));
}

// The route's MTU shrank under an established connection: IP refuses the
// DF segment (EMSGSIZE); TCP fits its MSS to the route and sends again.
TEST_F(TcpPmtuTest, SmallerRouteMtuIsFollowed) {
  SocketId so = active();
  ASSERT_TRUE(s.if_set_mtu(sc.link(), 1280).ok());
  // Two full segments of the new size (a short third would wait for Nagle).
  ASSERT_EQ(s.so_send_stream(so, pattern_bytes(2480)).value(), 2480u);
  auto sent = take_tcp();
  ASSERT_EQ(sent.size(), 2u);
  size_t total = 0;
  for (const auto& [f, seg] : sent) {
    EXPECT_LE(ip_len(f), 1280);
    EXPECT_TRUE(ip_df(f));
    total += seg.payload.size();
  }
  EXPECT_EQ(sent[0].second.payload.size(), 1240u);
  EXPECT_EQ(total, 2480u);
  EXPECT_EQ(st().pmtu_changes, 1u);
  EXPECT_EQ(s.so_find(so)->tcb->t_maxseg, 1240);
}

}  // namespace
}  // namespace iopkt::test
