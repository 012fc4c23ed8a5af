// netinet/igmp.cc — IGMP host side: RFC 3376 (IGMPv3) §5 and §7, RFC 2236
// (IGMPv2) §3, RFC 1112 appendix I (IGMPv1). Read RFC 3376 §5 and §7.2
// before changing this file.
//
// in_mcast.cc keeps the reception state of every (interface, group) and
// calls igmp_change when it moves; this file turns that into state-change
// reports (retransmitted, RFC 3376 §5.1), answers queries after a random
// delay (§5.2), and falls back to IGMPv2/v1 while an older querier is
// heard (§7.2.1). Every message goes out with TTL 1, TOS 0xc0 and the
// Router Alert option (RFC 3376 §4, RFC 2113), never looped back.
// Loopback interfaces stay silent (FreeBSD IGIF_SILENT): no router there.
#include "netinet/igmp.hh"

#include <algorithm>
#include <array>
#include <iterator>
#include <optional>
#include <vector>

#include "core/stack.hh"
#include "kern/byteorder.hh"
#include "netinet/in_mcast.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

std::span<const IgmpCounterInfo> igmpstat_fields() {
  static constexpr IgmpCounterInfo kFields[] = {
      {"total", &IgmpStat::total},
      {"tooshort", &IgmpStat::tooshort},
      {"badsum", &IgmpStat::badsum},
      {"badttl", &IgmpStat::badttl},
      {"badlen", &IgmpStat::badlen},
      {"badqueries", &IgmpStat::badqueries},
      {"v1_queries", &IgmpStat::v1_queries},
      {"v2_queries", &IgmpStat::v2_queries},
      {"v3_queries", &IgmpStat::v3_queries},
      {"gen_queries", &IgmpStat::gen_queries},
      {"group_queries", &IgmpStat::group_queries},
      {"gsr_queries", &IgmpStat::gsr_queries},
      {"reports", &IgmpStat::reports},
      {"badreports", &IgmpStat::badreports},
      {"ourreports", &IgmpStat::ourreports},
      {"ignored", &IgmpStat::ignored},
      {"unknown", &IgmpStat::unknown},
      {"snd_reports", &IgmpStat::snd_reports},
      {"snd_leaves", &IgmpStat::snd_leaves},
      {"snd_dropped", &IgmpStat::snd_dropped},
  };
  return kFields;
}

uint32_t igmp_decode_code(uint8_t code) {
  if (code < 128) {
    return code;
  }
  uint32_t exp = (code >> 4) & 0x7, mant = code & 0xf;
  return (mant | 0x10) << (exp + 3);
}

namespace {

// RFC 3376 §8.11 Unsolicited Report Interval: 1 s for IGMPv3; RFC 2236
// §8.10: 10 s for IGMPv2 (and v1, RFC 1112 appendix I).
constexpr uint32_t kV3UnsolicitedMs = 1000;
constexpr uint32_t kV2UnsolicitedMs = 10000;
// RFC 1112 appendix I: a v1 query carries no delay; hosts use 10 s.
constexpr uint32_t kV1MaxRespMs = 10000;
// RFC 3376 §8.3 Query Response Interval, for the older-querier timeout.
constexpr uint32_t kQueryResponseS = 10;
// IPv4 header with the Router Alert option (RFC 2113 §2.1).
constexpr size_t kIgmpIpHlen = 24;
// Queried sources remembered for one group's pending answer (RFC 3376
// §5.2 rule 5 merges every query's list). Beyond this a flood of
// group-and-source queries could grow it without end; the answer then
// covers the whole group, which a querier must accept (it asked about a
// subset of it).
constexpr size_t kMaxQuerySources = 1024;

using Key = std::pair<uint32_t, uint32_t>;

IgmpState& igs(Stack& stack) { return stack.ip.igmp; }

IgmpIfState* if_state(Stack& stack, uint32_t ifindex) {
  auto it = igs(stack).ifs.find(ifindex);
  return it == igs(stack).ifs.end() ? nullptr : it->second.get();
}

void if_timer_fired(Stack& stack, uint32_t ifindex);
void compat_timer_fired(Stack& stack, uint32_t ifindex);

IgmpIfState& if_state_make(Stack& stack, uint32_t ifindex) {
  auto& p = igs(stack).ifs[ifindex];
  if (!p) {
    p = std::make_unique<IgmpIfState>();
    p->mode = std::clamp<int>(static_cast<int>(igs(stack).version), 1, 3);
    p->timer = std::make_unique<Callout>(stack.callouts(),
                                         [&stack, ifindex] { if_timer_fired(stack, ifindex); });
    p->compat_timer = std::make_unique<Callout>(
        stack.callouts(), [&stack, ifindex] { compat_timer_fired(stack, ifindex); });
  }
  return *p;
}

Duration ms(uint32_t n) { return std::chrono::milliseconds(n); }

// A delay chosen uniformly in [0, max] (RFC 3376 §5.2, RFC 2236 §3).
Duration random_upto(Stack& stack, uint32_t max_ms) {
  return ms(stack.random().uniform(max_ms + 1));
}
// ... and in (0, max] for the unsolicited repeats (RFC 3376 §5.1).
Duration random_after(Stack& stack, uint32_t max_ms) {
  return ms(1 + stack.random().uniform(max_ms));
}

void erase_group(Stack& stack, const InMulti& inm) {
  stack.ip.mcast.groups.erase(Key{inm.ifindex, inm.group.v});
}

// --- output -----------------------------------------------------------------

void igmp_sendpkt(Stack& stack, Ifnet& ifp, InAddr dst, const std::vector<std::byte>& msg) {
  Mbuf m = Mbuf::copy_from(stack.pool(), msg, 64);
  if (!m) {
    ++igs(stack).stat.snd_dropped;
    return;
  }
  IpOutputArgs a;
  a.dst = dst;
  a.protocol = kIpProtoIgmp;
  a.ttl = 1;     // RFC 3376 §4: link-local
  a.tos = 0xc0;  // RFC 3376 §4: Internetwork Control precedence
  a.mcast_ifindex = ifp.index;
  a.mcast_loop = false;  // hosts do not hear their own reports (FreeBSD igmp_sendpkt)
  a.router_alert = true;
  if (!ip_output(stack, std::move(m), a)) {
    ++igs(stack).stat.snd_dropped;
  }
}

void set_checksum(std::vector<std::byte>& msg) {
  store_be16(msg, 2, 0);
  store_be16(msg, 2, in_cksum_finish(in_cksum_add(0, msg)));
}

// An IGMPv1/v2 message: type, max resp 0, checksum, group (RFC 2236 §2).
void send_v12(Stack& stack, Ifnet& ifp, uint8_t type, InAddr group, InAddr dst) {
  std::vector<std::byte> msg(kIgmpMinLen);
  msg[0] = std::byte{type};
  store_be32(msg, 4, group.v);
  set_checksum(msg);
  if (type == kIgmpV2Leave) {
    ++igs(stack).stat.snd_leaves;
  } else {
    ++igs(stack).stat.snd_reports;
  }
  igmp_sendpkt(stack, ifp, dst, msg);
}

struct GroupRecord {
  uint8_t type;
  InAddr group;
  std::vector<InAddr> sources;
};

// IGMPv3 reports to 224.0.0.22 (RFC 3376 §4.2), as few as the MTU allows
// (§4.2.16): records that do not fit start a new report; a record too big
// for any report is split, except IS_EX and TO_EX, which are cut.
void send_v3(Stack& stack, Ifnet& ifp, const std::vector<GroupRecord>& records) {
  size_t room = ifp.mtu > kIgmpIpHlen + 16 ? ifp.mtu - kIgmpIpHlen : 64;
  size_t max_src = (room - kIgmpMinLen - 8) / 4;
  std::vector<std::byte> msg;
  uint16_t count = 0;
  auto flush = [&] {
    if (count == 0) {
      return;
    }
    store_be16(msg, 6, count);
    set_checksum(msg);
    ++igs(stack).stat.snd_reports;
    igmp_sendpkt(stack, ifp, kInAllRtrsV3Group, msg);
    count = 0;
  };
  auto start = [&] {
    msg.assign(kIgmpMinLen, std::byte{0});
    msg[0] = std::byte{kIgmpV3Report};
  };
  start();
  for (const auto& r : records) {
    bool cut = r.type == kIgmpModeIsExclude || r.type == kIgmpChangeToExclude;
    size_t done = 0;
    do {
      size_t n = std::min(r.sources.size() - done, max_src);
      if (msg.size() + 8 + 4 * n > room) {
        flush();
        start();
      }
      size_t at = msg.size();
      msg.resize(at + 8 + 4 * n);
      msg[at] = std::byte{r.type};
      store_be16(msg, at + 2, static_cast<uint16_t>(n));
      store_be32(msg, at + 4, r.group.v);
      for (size_t i = 0; i < n; ++i) {
        store_be32(msg, at + 8 + 4 * i, r.sources[done + i].v);
      }
      ++count;
      done += n;
    } while (done < r.sources.size() && !cut);
  }
  flush();
}

// Is the group one this interface reports? Not 224.0.0.1 (RFC 3376 §5),
// and not while the host is no member (INCLUDE{}).
bool reportable(const InMulti& inm) {
  return inm.group != kInAllHostsGroup && !inm.filter.is_none();
}

// RFC 3376 §5.2, the answer when a timer expires: the current state of
// the group, or with queried sources Q, IS_IN(A ∩ Q) for INCLUDE(A) and
// IS_IN(Q − A) for EXCLUDE(A); nothing when that is empty.
std::optional<GroupRecord> current_state(const InMulti& inm, const std::vector<InAddr>& queried) {
  const InFilter& f = inm.filter;
  if (!reportable(inm)) {
    return std::nullopt;
  }
  if (queried.empty()) {
    uint8_t type = f.mode == McastMode::kExclude ? kIgmpModeIsExclude : kIgmpModeIsInclude;
    return GroupRecord{type, inm.group, f.sources};
  }
  GroupRecord r{kIgmpModeIsInclude, inm.group, {}};
  for (InAddr s : queried) {
    if (f.admits(s)) {
      r.sources.push_back(s);
    }
  }
  if (r.sources.empty()) {
    return std::nullopt;
  }
  return r;
}

// --- the state-change machinery (RFC 3376 §5.1) -----------------------------

bool v3_pending(const InMulti& inm) {
  return inm.mode_rexmt > 0 || !inm.allow_rexmt.empty() || !inm.block_rexmt.empty();
}

// One transmission of the pending state-change report, each count spent.
void v3_send_change(Stack& stack, Ifnet& ifp, InMulti& inm) {
  std::vector<GroupRecord> recs;
  if (inm.mode_rexmt > 0) {
    --inm.mode_rexmt;
    uint8_t type =
        inm.filter.mode == McastMode::kExclude ? kIgmpChangeToExclude : kIgmpChangeToInclude;
    recs.push_back(GroupRecord{type, inm.group, inm.filter.sources});
  } else {
    auto take = [&](std::map<uint32_t, int>& counts, uint8_t type) {
      GroupRecord r{type, inm.group, {}};
      for (auto it = counts.begin(); it != counts.end();) {
        r.sources.push_back(InAddr{it->first});
        it = --it->second == 0 ? counts.erase(it) : std::next(it);
      }
      if (!r.sources.empty()) {
        recs.push_back(std::move(r));
      }
    };
    take(inm.allow_rexmt, kIgmpAllowNewSources);
    take(inm.block_rexmt, kIgmpBlockOldSources);
  }
  if (!recs.empty()) {
    send_v3(stack, ifp, recs);
  }
}

void cancel_group(InMulti& inm) {
  inm.timer->stop();
  inm.rexmt->stop();
  inm.query_sources.clear();
  inm.mode_rexmt = 0;
  inm.allow_rexmt.clear();
  inm.block_rexmt.clear();
  inm.unsolicited_left = 0;
}

void group_timer_fired(Stack& stack, Key key);
void rexmt_fired(Stack& stack, Key key);

void ensure_timers(Stack& stack, InMulti& inm) {
  if (inm.timer) {
    return;
  }
  Key key{inm.ifindex, inm.group.v};
  inm.timer =
      std::make_unique<Callout>(stack.callouts(), [&stack, key] { group_timer_fired(stack, key); });
  inm.rexmt =
      std::make_unique<Callout>(stack.callouts(), [&stack, key] { rexmt_fired(stack, key); });
}

InMulti* find(Stack& stack, Key key) {
  auto it = stack.ip.mcast.groups.find(key);
  return it == stack.ip.mcast.groups.end() ? nullptr : it->second.get();
}

void v12_report(Stack& stack, Ifnet& ifp, InMulti& inm, int mode) {
  send_v12(stack, ifp, mode == 1 ? kIgmpV1Report : kIgmpV2Report, inm.group, inm.group);
  inm.last_reporter = true;
}

void rexmt_fired(Stack& stack, Key key) {
  InMulti* inm = find(stack, key);
  if (inm == nullptr) {
    return;
  }
  Ifnet* ifp = stack.if_by_index(inm->ifindex);
  if (ifp == nullptr) {
    in_mcast_ifdetach(stack, key.first);
    return;
  }
  int mode = igmp_mode(stack, inm->ifindex);
  if (mode == 3) {
    v3_send_change(stack, *ifp, *inm);
    if (v3_pending(*inm)) {
      inm->rexmt->reset(random_after(stack, kV3UnsolicitedMs));
    } else if (inm->refcount == 0) {
      erase_group(stack, *inm);  // the leave is told: the record goes
    }
    return;
  }
  if (inm->unsolicited_left > 0 && reportable(*inm)) {
    --inm->unsolicited_left;
    v12_report(stack, *ifp, *inm, mode);
    if (inm->unsolicited_left > 0) {
      inm->rexmt->reset(random_after(stack, kV2UnsolicitedMs));
    }
  }
}

void group_timer_fired(Stack& stack, Key key) {
  InMulti* inm = find(stack, key);
  if (inm == nullptr) {
    return;
  }
  Ifnet* ifp = stack.if_by_index(inm->ifindex);
  if (ifp == nullptr) {
    in_mcast_ifdetach(stack, key.first);
    return;
  }
  int mode = igmp_mode(stack, inm->ifindex);
  if (mode == 3) {
    auto rec = current_state(*inm, inm->query_sources);
    inm->query_sources.clear();
    if (rec) {
      send_v3(stack, *ifp, {*rec});
    }
    return;
  }
  if (reportable(*inm)) {
    v12_report(stack, *ifp, *inm, mode);
  }
}

void if_timer_fired(Stack& stack, uint32_t ifindex) {
  Ifnet* ifp = stack.if_by_index(ifindex);
  if (ifp == nullptr) {
    in_mcast_ifdetach(stack, ifindex);
    return;
  }
  // RFC 3376 §5.2: "one Current-State Record is sent for each multicast
  // address for which the specified interface has reception state".
  std::vector<GroupRecord> recs;
  auto& groups = stack.ip.mcast.groups;
  for (auto it = groups.lower_bound(Key{ifindex, 0});
       it != groups.end() && it->first.first == ifindex; ++it) {
    if (auto r = current_state(*it->second, {})) {
      recs.push_back(std::move(*r));
    }
  }
  if (!recs.empty()) {
    send_v3(stack, *ifp, recs);
  }
}

// RFC 3376 §7.2.1: "Whenever a host changes its compatibility mode, it
// cancels all its pending response and retransmission timers." A record
// kept only to retransmit a leave goes with them.
// `keep` (the record a caller holds) is never erased.
void mode_changed(Stack& stack, uint32_t ifindex, IgmpIfState& st, int mode,
                  const InMulti* keep = nullptr) {
  if (st.mode == mode) {
    return;
  }
  st.mode = mode;
  st.timer->stop();
  auto& groups = stack.ip.mcast.groups;
  for (auto it = groups.lower_bound(Key{ifindex, 0});
       it != groups.end() && it->first.first == ifindex;) {
    InMulti& inm = *it->second;
    if (inm.timer) {
      cancel_group(inm);
    }
    inm.last_reporter = false;
    it = inm.refcount == 0 && &inm != keep ? groups.erase(it) : std::next(it);
  }
}

void compat_timer_fired(Stack& stack, uint32_t ifindex) {
  IgmpIfState* st = if_state(stack, ifindex);
  if (st == nullptr) {
    return;
  }
  mode_changed(stack, ifindex, *st, igmp_mode(stack, ifindex));
  Instant next = std::max(st->v1_until, st->v2_until);
  if (next > stack.now()) {
    st->compat_timer->reset_at(next);
  }
}

// --- input --------------------------------------------------------------------

// The IGMPv1/v2 rule (RFC 2236 §3): start the group's timer at a random
// delay up to the maximum, or bring a later one forward.
void v12_schedule(Stack& stack, InMulti& inm, uint32_t max_ms) {
  if (!reportable(inm)) {
    return;
  }
  ensure_timers(stack, inm);
  Duration d = random_upto(stack, max_ms);
  if (!inm.timer->pending() || inm.timer->deadline() - stack.now() > ms(max_ms)) {
    inm.timer->reset(d);
  }
}

// RFC 3376 §5.2 rules 3-5 for a group-specific (`sources` empty) or a
// group-and-source-specific query.
void v3_schedule_group(Stack& stack, InMulti& inm, Duration d, std::vector<InAddr> sources) {
  if (!reportable(inm)) {
    return;
  }
  ensure_timers(stack, inm);
  if (!inm.timer->pending()) {
    if (sources.size() > kMaxQuerySources) {
      sources.clear();
    }
    inm.query_sources = std::move(sources);
    inm.timer->reset(d);
    return;
  }
  Instant when = std::min(inm.timer->deadline(), stack.now() + d);
  if (sources.empty() || inm.query_sources.empty()) {
    inm.query_sources.clear();
  } else {
    std::vector<InAddr> merged;
    std::set_union(inm.query_sources.begin(), inm.query_sources.end(), sources.begin(),
                   sources.end(), std::back_inserter(merged));
    if (merged.size() > kMaxQuerySources) {
      merged.clear();  // about the whole group from now on
    }
    inm.query_sources = std::move(merged);
  }
  inm.timer->reset_at(when);
}

void query_input(Stack& stack, std::span<const std::byte> msg, InAddr dst, Ifnet& ifp) {
  IgmpStat& st = igs(stack).stat;
  size_t len = msg.size();
  int version;
  if (len == kIgmpMinLen) {
    version = msg[1] == std::byte{0} ? 1 : 2;  // RFC 3376 §7.1
  } else if (len >= kIgmpV3QueryLen) {
    version = 3;
  } else {
    ++st.badlen;  // RFC 3376 §7.1: "MUST be silently ignored"
    return;
  }
  InAddr group{load_be32(msg, 4)};
  uint16_t nsrc = version == 3 ? load_be16(msg, 10) : 0;
  if (version == 3 && len < kIgmpV3QueryLen + 4 * size_t{nsrc}) {
    ++st.badlen;
    return;
  }
  bool general = group.is_any();
  // RFC 3376 §9.1: general queries go to 224.0.0.1; a group-specific
  // query names a multicast group; IGMPv1 queries are all general.
  if ((general && dst != kInAllHostsGroup) || (!general && !group.is_multicast()) ||
      (version == 1 && !general) || (general && nsrc != 0)) {
    ++st.badqueries;
    return;
  }
  (version == 1 ? st.v1_queries : version == 2 ? st.v2_queries : st.v3_queries)++;
  if (ifp.type == IfType::kLoopback) {
    return;
  }
  IgmpIfState& ist = if_state_make(stack, ifp.index);
  uint32_t max_ms =
      version == 1 ? kV1MaxRespMs : igmp_decode_code(std::to_integer<uint8_t>(msg[1])) * 100;
  if (version == 3) {
    // RFC 3376 §4.1.6, §4.1.7: adopt the querier's robustness and interval.
    uint8_t qrv = std::to_integer<uint8_t>(msg[8]) & 0x7;
    if (qrv != 0) {
      ist.robustness = qrv;
    }
    uint32_t qqi = igmp_decode_code(std::to_integer<uint8_t>(msg[9]));
    if (qqi != 0) {
      ist.query_interval_s = qqi;
    }
  } else {
    // RFC 3376 §7.2.1 and §8.12: an older querier holds us to its version
    // for Robustness × Query Interval + Query Response Interval.
    Duration older = std::chrono::seconds(ist.robustness * ist.query_interval_s + kQueryResponseS);
    (version == 1 ? ist.v1_until : ist.v2_until) = stack.now() + older;
    ist.compat_timer->reset_at(std::max(ist.v1_until, ist.v2_until));
  }
  int mode = igmp_mode(stack, ifp.index);
  mode_changed(stack, ifp.index, ist, mode);
  auto& groups = stack.ip.mcast.groups;
  if (mode != 3) {
    // RFC 3376 §7.2.1: in an older mode a newer query is taken as one of
    // that mode's (its sources ignored); IGMPv1 answers within 10 s.
    uint32_t limit = mode == 1 ? kV1MaxRespMs : max_ms;
    (general ? st.gen_queries : st.group_queries)++;
    if (general) {
      for (auto it = groups.lower_bound(Key{ifp.index, 0});
           it != groups.end() && it->first.first == ifp.index; ++it) {
        v12_schedule(stack, *it->second, limit);
      }
    } else if (InMulti* inm = in_mcast_find(stack, ifp.index, group)) {
      v12_schedule(stack, *inm, limit);
    }
    return;
  }
  Duration d = random_upto(stack, max_ms);
  // Rule 1: an answer to a general query already due sooner covers this.
  if (ist.timer->pending() && ist.timer->deadline() <= stack.now() + d) {
    (general ? st.gen_queries : nsrc == 0 ? st.group_queries : st.gsr_queries)++;
    return;
  }
  if (general) {
    ++st.gen_queries;
    ist.timer->reset(d);  // rule 2
    return;
  }
  std::vector<InAddr> sources;
  for (uint16_t i = 0; i < nsrc; ++i) {
    sources.push_back(InAddr{load_be32(msg, kIgmpV3QueryLen + 4 * size_t{i})});
  }
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
  (nsrc == 0 ? st.group_queries : st.gsr_queries)++;
  if (InMulti* inm = in_mcast_find(stack, ifp.index, group)) {
    v3_schedule_group(stack, *inm, d, std::move(sources));
  }
}

// Another host's IGMPv1/v2 report: in those modes, ours is not needed
// (RFC 2236 §3 "stops its timer ... and does not send a Report").
void report_input(Stack& stack, std::span<const std::byte> msg, InAddr dst, Ifnet& ifp) {
  IgmpStat& st = igs(stack).stat;
  ++st.reports;
  InAddr group{load_be32(msg, 4)};
  if (!group.is_multicast() || group != dst) {
    ++st.badreports;
    return;
  }
  InMulti* inm = in_mcast_find(stack, ifp.index, group);
  if (inm == nullptr || !inm->timer || igmp_mode(stack, ifp.index) == 3) {
    return;  // IGMPv3 hosts do not suppress their reports (RFC 3376 §5)
  }
  if (inm->timer->pending()) {
    inm->timer->stop();
    inm->last_reporter = false;
    ++st.ourreports;
  }
}

}  // namespace

int igmp_mode(Stack& stack, uint32_t ifindex) {
  int v = std::clamp<int>(static_cast<int>(igs(stack).version), 1, 3);
  if (IgmpIfState* st = if_state(stack, ifindex)) {
    Instant now = stack.now();
    if (now < st->v1_until) {
      return 1;
    }
    if (now < st->v2_until) {
      return std::min(v, 2);
    }
  }
  return v;
}

void igmp_change(Stack& stack, InMulti& inm, const InFilter& old) noexcept {
  Ifnet* ifp = stack.if_by_index(inm.ifindex);
  if (ifp == nullptr || ifp->type == IfType::kLoopback || inm.group == kInAllHostsGroup) {
    if (inm.refcount == 0) {
      erase_group(stack, inm);
    }
    return;
  }
  ensure_timers(stack, inm);
  IgmpIfState& ist = if_state_make(stack, inm.ifindex);
  int mode = igmp_mode(stack, inm.ifindex);
  mode_changed(stack, inm.ifindex, ist, mode, &inm);  // a mode that ran out meanwhile
  if (mode != 3) {
    // IGMPv1/v2 know groups, not sources: only joining and leaving count
    // (RFC 3376 §7.2.1 on hosts in an older mode).
    bool was = !old.is_none(), is = !inm.filter.is_none();
    if (!was && is) {
      v12_report(stack, *ifp, inm, mode);  // RFC 2236 §3: at once, then repeated
      inm.unsolicited_left = ist.robustness - 1;
      if (inm.unsolicited_left > 0) {
        inm.rexmt->reset(random_after(stack, kV2UnsolicitedMs));
      }
    } else if (was && !is) {
      cancel_group(inm);
      // RFC 2236 §3: a leave only if we were the last to report, and never
      // to an IGMPv1 querier.
      if (mode == 2 && inm.last_reporter) {
        send_v12(stack, *ifp, kIgmpV2Leave, inm.group, kInAllRoutersGroup);
      }
      if (inm.refcount == 0) {
        erase_group(stack, inm);
      }
    }
    return;
  }
  // RFC 3376 §5.1: the records for the change, retransmitted Robustness
  // times in all. A pending filter-mode change is sent again with the new
  // sources rather than as separate source records.
  int rv = ist.robustness;
  if (old.mode != inm.filter.mode || inm.mode_rexmt > 0) {
    inm.mode_rexmt = rv;
    inm.allow_rexmt.clear();
    inm.block_rexmt.clear();
  } else {
    auto minus = [](const std::vector<InAddr>& a, const std::vector<InAddr>& b) {
      std::vector<InAddr> out;
      std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
      return out;
    };
    bool incl = inm.filter.mode == McastMode::kInclude;
    auto allow =
        incl ? minus(inm.filter.sources, old.sources) : minus(old.sources, inm.filter.sources);
    auto block =
        incl ? minus(old.sources, inm.filter.sources) : minus(inm.filter.sources, old.sources);
    for (InAddr s : allow) {
      inm.allow_rexmt[s.v] = rv;
      inm.block_rexmt.erase(s.v);
    }
    for (InAddr s : block) {
      inm.block_rexmt[s.v] = rv;
      inm.allow_rexmt.erase(s.v);
    }
  }
  if (inm.filter.is_none()) {
    // Nothing left to answer queries about.
    inm.timer->stop();
    inm.query_sources.clear();
  }
  v3_send_change(stack, *ifp, inm);
  if (v3_pending(inm)) {
    inm.rexmt->reset(random_after(stack, kV3UnsolicitedMs));
  } else {
    inm.rexmt->stop();
    if (inm.refcount == 0) {
      erase_group(stack, inm);
    }
  }
}

void igmp_ifdetach(Stack& stack, uint32_t ifindex) noexcept { igs(stack).ifs.erase(ifindex); }

void igmp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept {
  IgmpStat& st = igs(stack).stat;
  ++st.total;
  size_t len = m.len() - iphlen;
  if (len < kIgmpMinLen) {
    ++st.tooshort;
    return;
  }
  // RFC 3376 §4: the checksum covers the whole IGMP message.
  if (in_cksum_finish(in_cksum_add_mbuf(0, m, iphlen, len)) != 0) {
    ++st.badsum;
    return;
  }
  std::array<std::byte, IpHeader::kMinSize> ip{};
  if (!m.copy_out(0, ip)) {
    return;
  }
  // RFC 3376 §4 and RFC 2236 §2: IGMP travels with TTL 1; anything else
  // came from beyond the link (FreeBSD igmp_input, igps_rcv_badttl).
  if (std::to_integer<uint8_t>(ip[8]) != 1) {
    ++st.badttl;
    return;
  }
  InAddr dst{load_be32(ip, 16)};
  // Queries may carry sources: read the whole message (bounded by the IP
  // total length, at most 65515 bytes).
  std::vector<std::byte> msg(len);
  if (!m.copy_out(iphlen, msg)) {
    return;
  }
  switch (std::to_integer<uint8_t>(msg[0])) {
    case kIgmpQuery:
      query_input(stack, msg, dst, rcvif);
      return;
    case kIgmpV1Report:
    case kIgmpV2Report:
      report_input(stack, msg, dst, rcvif);
      return;
    case kIgmpV2Leave:
    case kIgmpV3Report:
      ++st.ignored;  // for multicast routers
      return;
    default:
      ++st.unknown;
      return;
  }
}

}  // namespace iopkt
