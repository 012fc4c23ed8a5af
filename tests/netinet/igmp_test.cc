// IGMP host scenarios: IGMPv3 state-change and current-state reports (RFC
// 3376 §5), the fallback to IGMPv2 and v1 when an older querier is heard
// (§7.2.1, RFC 2236 §3, RFC 1112 appendix I), and the validation of what
// arrives (§4, §7.1, §9.1), each drop counted.
#include "netinet/igmp.hh"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <optional>
#include <vector>

#include "harness/mcast_helpers.hh"
#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "netinet/in_mcast.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"

namespace iopkt::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const InAddr kGroup = InAddr::from_octets(239, 1, 2, 3);
const InAddr kGroup2 = InAddr::from_octets(239, 9, 9, 9);
const InAddr kSrcA = InAddr::from_octets(198, 51, 100, 7);
const InAddr kSrcB = InAddr::from_octets(198, 51, 100, 8);
const InAddr kQuerier = InAddr::from_octets(192, 0, 2, 254);

SocketId udp_socket(Stack& s) { return s.so_create(AF_INET, SOCK_DGRAM, 0).value(); }

void join(Stack& s, SocketId so, InAddr group) {
  ip_mreq m{in(group), in(InAddr::any())};
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_MEMBERSHIP, raw(m)).ok());
}

void leave(Stack& s, SocketId so, InAddr group) {
  ip_mreq m{in(group), in(InAddr::any())};
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_DROP_MEMBERSHIP, raw(m)).ok());
}

void source_op(Stack& s, SocketId so, int name, InAddr group, InAddr source) {
  ip_mreq_source m{};
  m.imr_multiaddr = in(group);
  m.imr_sourceaddr = in(source);
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, name, raw(m)).ok());
}

// --- what the stack sends ----------------------------------------------------

struct Record {
  uint8_t type = 0;
  InAddr group;
  std::vector<InAddr> sources;
  friend bool operator==(const Record&, const Record&) = default;
};

// An IGMP message as seen on the wire, with the IP facts RFC 3376 §4 and
// RFC 2236 §2 fix: TTL 1, TOS 0xc0, Router Alert.
struct Igmp {
  std::array<uint8_t, 6> dmac{};
  InAddr src, dst;
  uint8_t ttl = 0, tos = 0;
  bool router_alert = false;
  uint8_t type = 0;
  InAddr group;                 // v1/v2 messages
  std::vector<Record> records;  // v3 reports
};

std::optional<Igmp> igmp_of(const std::vector<std::byte>& f) {
  if (f.size() < 14 + 20 + 8 || load_be16(f, 12) != 0x0800) {
    return std::nullopt;
  }
  auto ip = std::span(f).subspan(14);
  auto h = IpHeader::parse(ip, ip.size());
  if (!h || h->protocol() != kIpProtoIgmp) {
    return std::nullopt;
  }
  Igmp g;
  for (int i = 0; i < 6; ++i) {
    g.dmac[i] = std::to_integer<uint8_t>(f[i]);
  }
  g.src = h->src();
  g.dst = h->dst();
  g.ttl = h->ttl();
  g.tos = h->tos();
  auto opts = h->options();
  g.router_alert = opts.size() == 4 && opts[0] == std::byte{0x94} && opts[1] == std::byte{4} &&
                   opts[2] == std::byte{0} && opts[3] == std::byte{0};
  auto msg = ip.subspan(h->header_len(), h->total_len() - h->header_len());
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, msg)), 0) << "IGMP checksum";
  g.type = std::to_integer<uint8_t>(msg[0]);
  g.group = InAddr{load_be32(msg, 4)};
  if (g.type == kIgmpV3Report) {
    size_t at = 8;
    for (uint16_t r = 0; r < load_be16(msg, 6); ++r) {
      Record rec;
      rec.type = std::to_integer<uint8_t>(msg[at]);
      uint16_t n = load_be16(msg, at + 2);
      rec.group = InAddr{load_be32(msg, at + 4)};
      for (uint16_t i = 0; i < n; ++i) {
        rec.sources.push_back(InAddr{load_be32(msg, at + 8 + 4 * i)});
      }
      at += 8 + 4 * size_t{n};
      g.records.push_back(std::move(rec));
    }
    EXPECT_EQ(at, msg.size());
  }
  return g;
}

std::vector<Igmp> igmp_sent(Scenario& sc) {
  std::vector<Igmp> out;
  for (const auto& f : sc.take_frames()) {
    if (auto g = igmp_of(f)) {
      out.push_back(*g);
    }
  }
  return out;
}

// Every IGMP message of ours carries the link-local markings.
void expect_markings(const Igmp& g, const Scenario& sc) {
  EXPECT_EQ(g.ttl, 1);
  EXPECT_EQ(g.tos, 0xc0);
  EXPECT_TRUE(g.router_alert);
  EXPECT_EQ(g.src, sc.local());
  EXPECT_EQ(g.dmac, group_mac(g.dst));
}

// Advance in 10 ms steps up to `limit`, collecting IGMP frames; bounded.
std::vector<Igmp> run_for(Scenario& sc, std::chrono::milliseconds limit) {
  std::vector<Igmp> out;
  for (auto t = milliseconds(0); t < limit; t += milliseconds(10)) {
    sc.advance(milliseconds(10));
    for (auto& g : igmp_sent(sc)) {
      out.push_back(std::move(g));
    }
  }
  return out;
}

// --- what a querier sends ----------------------------------------------------

struct Query {
  int version = 3;
  InAddr dst = kInAllHostsGroup;
  InAddr group;
  uint8_t code = 100;  // Max Resp Code: tenths of a second below 128
  std::vector<InAddr> sources;
  uint8_t qrv = 2, qqic = 125;
  uint8_t ttl = 1;
  bool bad_checksum = false;
  size_t length = 0;  // 0: the version's own
};

std::vector<std::byte> query_frame(const Query& q) {
  std::vector<std::byte> msg(q.version == 3 ? 12 + 4 * q.sources.size() : 8);
  msg[0] = std::byte{kIgmpQuery};
  msg[1] = std::byte{q.version == 1 ? uint8_t{0} : q.code};
  store_be32(msg, 4, q.group.v);
  if (q.version == 3) {
    msg[8] = std::byte{q.qrv};
    msg[9] = std::byte{q.qqic};
    store_be16(msg, 10, static_cast<uint16_t>(q.sources.size()));
    for (size_t i = 0; i < q.sources.size(); ++i) {
      store_be32(msg, 12 + 4 * i, q.sources[i].v);
    }
  }
  if (q.length != 0) {
    msg.resize(q.length);
  }
  if (msg.size() >= 4) {  // a runt has no checksum field to fill
    store_be16(msg, 2, in_cksum_finish(in_cksum_add(0, msg)));
    if (q.bad_checksum) {
      msg[2] ^= std::byte{1};
    }
  }
  std::vector<std::byte> ip(24 + msg.size());
  ip[0] = std::byte{0x46};
  ip[1] = std::byte{0xc0};
  store_be16(ip, 2, static_cast<uint16_t>(ip.size()));
  ip[8] = std::byte{q.ttl};
  ip[9] = std::byte{kIpProtoIgmp};
  store_be32(ip, 12, kQuerier.v);
  store_be32(ip, 16, q.dst.v);
  ip[20] = std::byte{0x94};
  ip[21] = std::byte{4};
  std::copy(msg.begin(), msg.end(), ip.begin() + 24);
  ip_header_set_checksum(std::span(ip).first(24));
  return build_ether(group_mac(q.dst), Scenario::kPeerMac, 0x0800, ip);
}

std::vector<std::byte> v2_report_frame(InAddr group, InAddr dst) {
  std::vector<std::byte> msg(8);
  msg[0] = std::byte{kIgmpV2Report};
  store_be32(msg, 4, group.v);
  store_be16(msg, 2, in_cksum_finish(in_cksum_add(0, msg)));
  std::vector<std::byte> ip(20 + msg.size());
  IpFields f;
  f.total_len = static_cast<uint16_t>(ip.size());
  f.ttl = 1;
  f.protocol = kIpProtoIgmp;
  f.src = InAddr::from_octets(192, 0, 2, 33);
  f.dst = dst;
  f.emit(ip);
  std::copy(msg.begin(), msg.end(), ip.begin() + 20);
  return build_ether(group_mac(dst), Scenario::kPeerMac, 0x0800, ip);
}

Record rec(uint8_t type, InAddr group, std::vector<InAddr> sources = {}) {
  return Record{type, group, std::move(sources)};
}

// --- IGMPv3: state changes (RFC 3376 §5.1) -------------------------------------------

TEST(IgmpV3, JoinSendsChangeToExcludeRobustnessTimes) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  auto now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);  // at once
  expect_markings(now[0], sc);
  EXPECT_EQ(now[0].dst, kInAllRtrsV3Group);  // RFC 3376 §4.2.14
  EXPECT_EQ(now[0].type, kIgmpV3Report);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpChangeToExclude, kGroup)});
  // [Robustness Variable] - 1 = 1 more, within the Unsolicited Report
  // Interval of 1 s (§8.11), then silence.
  auto later = run_for(sc, milliseconds(1000));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].records, now[0].records);
  EXPECT_TRUE(run_for(sc, seconds(5)).empty());
  EXPECT_EQ(s.ip.igmp.stat.snd_reports, 2u);
}

TEST(IgmpV3, LeaveSendsChangeToIncludeThenForgetsTheGroup) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  leave(s, so, kGroup);
  auto now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpChangeToInclude, kGroup)});
  ASSERT_NE(in_mcast_find(s, sc.link().index, kGroup), nullptr);  // kept to retransmit
  auto later = run_for(sc, seconds(2));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].records, now[0].records);
  EXPECT_EQ(in_mcast_find(s, sc.link().index, kGroup), nullptr);
}

TEST(IgmpV3, RejoinDuringLeaveRetransmissionsSendsTheNewMode) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  leave(s, so, kGroup);
  igmp_sent(sc);
  join(s, so, kGroup);
  auto now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpChangeToExclude, kGroup)});
  auto later = run_for(sc, seconds(3));
  ASSERT_EQ(later.size(), 1u);  // robustness 2 again, no stale TO_IN
  EXPECT_EQ(later[0].records, now[0].records);
}

TEST(IgmpV3, AllHostsGroupAndLoopbackAreNeverReported) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kInAllHostsGroup);  // RFC 3376 §5: never reported
  ip_mreq m{in(kGroup), in(InAddr::loopback())};
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_MEMBERSHIP, raw(m)).ok());  // on lo0
  EXPECT_TRUE(run_for(sc, seconds(3)).empty());
  EXPECT_EQ(s.ip.igmp.stat.snd_reports, 0u);
  // A general query lists neither.
  sc.inject(query_frame(Query{}));
  EXPECT_TRUE(run_for(sc, seconds(11)).empty());
}

TEST(IgmpV3, SourceChangesAreAllowAndBlockRecords) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  // INCLUDE{} -> INCLUDE{A}: ALLOW(A) (RFC 3376 §5.1 table).
  source_op(s, so, IP_ADD_SOURCE_MEMBERSHIP, kGroup, kSrcA);
  auto now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpAllowNewSources, kGroup, {kSrcA})});
  run_for(sc, seconds(2));
  // INCLUDE{A} -> INCLUDE{}: BLOCK(A), and the membership is over.
  source_op(s, so, IP_DROP_SOURCE_MEMBERSHIP, kGroup, kSrcA);
  now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpBlockOldSources, kGroup, {kSrcA})});
  run_for(sc, seconds(2));
  EXPECT_EQ(in_mcast_find(s, sc.link().index, kGroup), nullptr);
  // EXCLUDE{} -> EXCLUDE{B}: BLOCK(B).
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  source_op(s, so, IP_BLOCK_SOURCE, kGroup, kSrcB);
  now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpBlockOldSources, kGroup, {kSrcB})});
  // While that is retransmitted, unblocking B replaces it by ALLOW(B).
  source_op(s, so, IP_UNBLOCK_SOURCE, kGroup, kSrcB);
  now = igmp_sent(sc);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].records, std::vector<Record>{rec(kIgmpAllowNewSources, kGroup, {kSrcB})});
  auto later = run_for(sc, seconds(3));
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].records, now[0].records);
}

TEST(IgmpV3, QuerierRobustnessIsAdopted) {
  Scenario sc;
  Stack& s = sc.stack();
  Query q;
  q.qrv = 4;
  sc.inject(query_frame(q));
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  auto all = igmp_sent(sc);
  for (auto& g : run_for(sc, seconds(8))) {
    if (!g.records.empty() && g.records[0].type == kIgmpChangeToExclude) {
      all.push_back(g);
    }
  }
  size_t changes = 0;
  for (const auto& g : all) {
    changes += g.records.size() == 1 && g.records[0].type == kIgmpChangeToExclude;
  }
  EXPECT_EQ(changes, 4u);
}

// --- IGMPv3: queries (RFC 3376 §5.2) ----------------------------------------------

TEST(IgmpV3, GeneralQueryAnsweredWithinMaxRespWithEveryGroup) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  join(s, so, kGroup2);
  run_for(sc, seconds(2));
  Query q;
  q.code = 20;  // 2 s
  sc.inject(query_frame(q));
  EXPECT_TRUE(igmp_sent(sc).empty());  // not at once: after a random delay
  auto answers = run_for(sc, milliseconds(2010));
  ASSERT_EQ(answers.size(), 1u);
  expect_markings(answers[0], sc);
  EXPECT_EQ(answers[0].records, (std::vector<Record>{rec(kIgmpModeIsExclude, kGroup),
                                                     rec(kIgmpModeIsExclude, kGroup2)}));
  EXPECT_EQ(s.ip.igmp.stat.v3_queries, 1u);
  EXPECT_EQ(s.ip.igmp.stat.gen_queries, 1u);
  EXPECT_TRUE(run_for(sc, seconds(5)).empty());
}

TEST(IgmpV3, MaxRespCodeFrom128IsFloatingPoint) {
  // RFC 3376 §4.1.1: 0x8f -> (0xf | 0x10) << 3 = 248 tenths.
  EXPECT_EQ(igmp_decode_code(0x8f), 248u);
  EXPECT_EQ(igmp_decode_code(0xff), 31744u);
  EXPECT_EQ(igmp_decode_code(100), 100u);
}

TEST(IgmpV3, GroupAndSourceQueriesAnswerForTheirGroupOnly) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s), inc = udp_socket(s);
  join(s, so, kGroup);
  source_op(s, inc, IP_ADD_SOURCE_MEMBERSHIP, kGroup2, kSrcA);
  run_for(sc, seconds(2));
  Query q;
  q.dst = kGroup;
  q.group = kGroup;
  q.code = 10;
  sc.inject(query_frame(q));
  auto a = run_for(sc, milliseconds(1010));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].records, std::vector<Record>{rec(kIgmpModeIsExclude, kGroup)});
  // Group-and-source: IS_IN(Q ∩ A) for INCLUDE(A), IS_IN(Q − A) for EXCLUDE(A).
  q.dst = kGroup2;
  q.group = kGroup2;
  q.sources = {kSrcA, kSrcB};
  sc.inject(query_frame(q));
  q.dst = kGroup;
  q.group = kGroup;
  sc.inject(query_frame(q));
  a = run_for(sc, milliseconds(1010));
  ASSERT_EQ(a.size(), 2u);
  std::vector<Record> got{a[0].records.at(0), a[1].records.at(0)};
  std::sort(got.begin(), got.end(),
            [](const Record& x, const Record& y) { return x.group < y.group; });
  EXPECT_EQ(got, (std::vector<Record>{rec(kIgmpModeIsInclude, kGroup, {kSrcA, kSrcB}),
                                      rec(kIgmpModeIsInclude, kGroup2, {kSrcA})}));
  EXPECT_EQ(s.ip.igmp.stat.group_queries, 1u);
  EXPECT_EQ(s.ip.igmp.stat.gsr_queries, 2u);
  // A query about a group we are not in: no answer.
  q.dst = InAddr::from_octets(239, 5, 5, 5);
  q.group = q.dst;
  q.sources = {};
  ASSERT_TRUE(s.if_set_flags(sc.link(), kIffAllmulti, 0).ok());
  sc.inject(query_frame(q));
  EXPECT_TRUE(run_for(sc, milliseconds(1100)).empty());
}

TEST(IgmpV3, ReportsSplitByTheMtu) {
  Scenario sc;
  Stack& s = sc.stack();
  ASSERT_TRUE(s.if_set_mtu(sc.link(), 68).ok());  // room for 4 records a report
  SocketId so = udp_socket(s);
  for (uint8_t i = 1; i <= 10; ++i) {
    join(s, so, InAddr::from_octets(239, 0, 0, i));
  }
  run_for(sc, seconds(2));
  sc.inject(query_frame(Query{}));
  auto a = run_for(sc, milliseconds(10010));
  ASSERT_EQ(a.size(), 3u);  // RFC 3376 §4.2.16
  size_t records = 0;
  for (const auto& g : a) {
    records += g.records.size();
  }
  EXPECT_EQ(records, 10u);
}

// --- validation (RFC 3376 §4, §7.1, §9.1) ------------------------------------------

TEST(IgmpInput, MalformedMessagesAreCountedAndIgnored) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  const IgmpStat& st = s.ip.igmp.stat;
  Query bad_sum;
  bad_sum.bad_checksum = true;
  sc.inject(query_frame(bad_sum));
  EXPECT_EQ(st.badsum, 1u);
  Query ttl;
  ttl.ttl = 2;
  sc.inject(query_frame(ttl));
  EXPECT_EQ(st.badttl, 1u);
  Query ten;
  ten.length = 10;  // RFC 3376 §7.1: no version has 10 octets
  sc.inject(query_frame(ten));
  EXPECT_EQ(st.badlen, 1u);
  Query lying;
  lying.sources = {kSrcA, kSrcB};
  lying.length = 16;  // says two sources, carries one
  lying.dst = kGroup;
  lying.group = kGroup;
  sc.inject(query_frame(lying));
  EXPECT_EQ(st.badlen, 2u);
  Query elsewhere;
  elsewhere.dst = kGroup;  // a general query not to 224.0.0.1 (§9.1)
  sc.inject(query_frame(elsewhere));
  EXPECT_EQ(st.badqueries, 1u);
  Query not_group;
  not_group.group = InAddr::from_octets(10, 0, 0, 1);
  sc.inject(query_frame(not_group));
  EXPECT_EQ(st.badqueries, 2u);
  Query v1_specific;
  v1_specific.version = 1;
  v1_specific.group = kGroup;
  v1_specific.dst = kGroup;
  sc.inject(query_frame(v1_specific));
  EXPECT_EQ(st.badqueries, 3u);
  Query short4;
  short4.length = 4;
  sc.inject(query_frame(short4));
  EXPECT_EQ(st.tooshort, 1u);
  // A report from another host that names another group.
  sc.inject(v2_report_frame(kGroup2, kGroup));
  EXPECT_EQ(st.badreports, 1u);
  EXPECT_EQ(st.total, 9u);
  // Nothing answered, and IGMPv3 mode stays.
  EXPECT_TRUE(run_for(sc, seconds(12)).empty());
  EXPECT_EQ(igmp_mode(s, sc.link().index), 3);
  EXPECT_EQ(st.gen_queries + st.group_queries + st.gsr_queries, 0u);
}

// --- older queriers (RFC 3376 §7.2.1) ----------------------------------------------

TEST(IgmpCompat, V2QuerierMeansV2ReportsAndLeaves) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  Query q;
  q.version = 2;
  q.code = 50;  // 5 s
  sc.inject(query_frame(q));
  EXPECT_EQ(igmp_mode(s, sc.link().index), 2);
  auto a = run_for(sc, milliseconds(5010));
  ASSERT_EQ(a.size(), 1u);
  expect_markings(a[0], sc);
  EXPECT_EQ(a[0].type, kIgmpV2Report);
  EXPECT_EQ(a[0].dst, kGroup);  // RFC 2236 §3: to the group
  EXPECT_EQ(a[0].group, kGroup);
  // We were the last to report: the leave goes to 224.0.0.2.
  leave(s, so, kGroup);
  a = igmp_sent(sc);
  ASSERT_EQ(a.size(), 1u);
  expect_markings(a[0], sc);
  EXPECT_EQ(a[0].type, kIgmpV2Leave);
  EXPECT_EQ(a[0].dst, kInAllRoutersGroup);
  EXPECT_EQ(in_mcast_find(s, sc.link().index, kGroup), nullptr);
  EXPECT_EQ(s.ip.igmp.stat.snd_leaves, 1u);
  // A join in v2 mode: a v2 report at once, repeated within 10 s.
  join(s, so, kGroup2);
  a = igmp_sent(sc);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, kIgmpV2Report);
  EXPECT_EQ(a[0].group, kGroup2);
  EXPECT_EQ(run_for(sc, seconds(10)).size(), 1u);
  // 2 x 125 s + 10 s after the query (§8.12), IGMPv3 again.
  run_for(sc, seconds(250));
  EXPECT_EQ(igmp_mode(s, sc.link().index), 3);
  leave(s, so, kGroup2);
  a = igmp_sent(sc);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, kIgmpV3Report);
}

TEST(IgmpCompat, AnotherHostsV2ReportSuppressesOurs) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  Query q;
  q.version = 2;
  q.code = 100;
  sc.inject(query_frame(q));
  sc.inject(v2_report_frame(kGroup, kGroup));
  EXPECT_EQ(s.ip.igmp.stat.ourreports, 1u);
  EXPECT_TRUE(run_for(sc, seconds(11)).empty());
  // Not the last reporter: no leave (RFC 2236 §3 "MAY be skipped").
  leave(s, so, kGroup);
  EXPECT_TRUE(igmp_sent(sc).empty());
}

TEST(IgmpCompat, V1QuerierMeansV1ReportsAndNoLeave) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  run_for(sc, seconds(2));
  Query q;
  q.version = 1;
  sc.inject(query_frame(q));
  EXPECT_EQ(igmp_mode(s, sc.link().index), 1);
  EXPECT_EQ(s.ip.igmp.stat.v1_queries, 1u);
  auto a = run_for(sc, milliseconds(10010));  // RFC 1112: within 10 s
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, kIgmpV1Report);
  EXPECT_EQ(a[0].dst, kGroup);
  leave(s, so, kGroup);
  EXPECT_TRUE(igmp_sent(sc).empty());
  // A v3 query in v1 mode is taken as a v1 query (§7.2.1).
  join(s, so, kGroup2);
  igmp_sent(sc);
  sc.inject(query_frame(Query{}));
  a = run_for(sc, milliseconds(10010));
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.back().type, kIgmpV1Report);
}

TEST(IgmpCompat, ModeChangeCancelsPendingV3Retransmissions) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  igmp_sent(sc);  // the first TO_EX; one retransmission pending
  Query q;
  q.version = 2;
  q.code = 1;  // 100 ms
  sc.inject(query_frame(q));
  auto a = run_for(sc, seconds(2));
  ASSERT_EQ(a.size(), 1u);  // the v2 answer only
  EXPECT_EQ(a[0].type, kIgmpV2Report);
}

TEST(IgmpCompat, VersionSysctlCapsTheHost) {
  Scenario sc;
  Stack& s = sc.stack();
  in_mcast_register_sysctls(s);
  ASSERT_TRUE(s.sysctl().set("net.inet.igmp.version", "2").ok());
  EXPECT_FALSE(s.sysctl().set("net.inet.igmp.version", "4").ok());
  SocketId so = udp_socket(s);
  join(s, so, kGroup);
  auto a = igmp_sent(sc);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, kIgmpV2Report);
  EXPECT_EQ(s.sysctl().get("net.inet.igmp.stats.snd_reports").value(), "1");
}

// ROBUSTNESS.md §3: random IGMP messages (valid checksums, any type,
// length, code and sources) to 224.0.0.1 and a joined group, with time
// passing; every message is counted exactly once and the stack keeps
// answering a general query afterwards.
TEST(IgmpInput, RandomMessagesAreCountedAndHarmless) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s), inc = udp_socket(s);
  join(s, so, kGroup);
  source_op(s, inc, IP_ADD_SOURCE_MEMBERSHIP, kGroup2, kSrcA);
  Random rng(42);
  const IgmpStat& st = s.ip.igmp.stat;
  for (int i = 0; i < 3000; ++i) {
    Query q;
    q.version = 1 + static_cast<int>(rng.uniform(3));
    q.dst = rng.uniform(3) == 0 ? kGroup : rng.uniform(2) ? kGroup2 : kInAllHostsGroup;
    q.group = rng.uniform(2) ? q.dst : InAddr{rng.u32()};
    if (rng.uniform(3) == 0) {
      q.group = InAddr::any();
    }
    q.code = static_cast<uint8_t>(rng.u32());
    q.qrv = static_cast<uint8_t>(rng.u32());
    q.qqic = static_cast<uint8_t>(rng.u32());
    for (uint32_t n = rng.uniform(40); n > 0; --n) {
      q.sources.push_back(rng.uniform(2) ? kSrcA : InAddr{rng.u32()});
    }
    q.ttl = rng.uniform(8) == 0 ? 2 : 1;
    q.bad_checksum = rng.uniform(10) == 0;
    if (rng.uniform(4) == 0) {
      q.length = rng.uniform(40);
    }
    auto f = query_frame(q);
    if (f.size() >= 14 + 24 + 4 && !q.bad_checksum) {
      // Any type, summed again.
      f[14 + 24] = std::byte(static_cast<uint8_t>(rng.uniform(5) == 0 ? rng.u32() : 0x11));
      std::span<std::byte> msg = std::span(f).subspan(14 + 24);
      store_be16(msg, 2, 0);
      store_be16(msg, 2, in_cksum_finish(in_cksum_add(0, msg)));
    }
    sc.inject(f);
    sc.advance(milliseconds(rng.uniform(500)));
    sc.take_frames();
  }
  uint64_t outcomes = st.tooshort + st.badsum + st.badttl + st.badlen + st.badqueries +
                      st.v1_queries + st.v2_queries + st.v3_queries + st.reports + st.ignored +
                      st.unknown;
  EXPECT_EQ(outcomes, st.total);
  EXPECT_GT(st.v3_queries, 100u);
  EXPECT_GT(st.unknown, 10u);
  // Still a member of both groups and answering, in whatever mode the
  // random queriers left (a QQIC of 255 holds an older mode for hours).
  run_for(sc, seconds(30));
  int mode = igmp_mode(s, sc.link().index);
  sc.inject(query_frame(Query{}));
  auto a = run_for(sc, milliseconds(10010));
  if (mode == 3) {
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].records.size(), 2u);
  } else {
    ASSERT_EQ(a.size(), 2u);
    EXPECT_NE(a[0].group, a[1].group);
  }
}

}  // namespace
}  // namespace iopkt::test
