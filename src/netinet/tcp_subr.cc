// netinet/tcp_subr.cc — TCP's common routines (BSD tcp_subr.c): initial
// sequence numbers (RFC 6528), timestamp offsets (RFC 7323 §5.4), control
// block creation, lookup and teardown, the MSS from the route, the RFC 5961
// §7 challenge-ACK limits, and the net.inet.tcp.* sysctl nodes.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/stack.hh"
#include "kern/chacha20.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

std::span<const TcpCounterInfo> tcpstat_fields() {
  static constexpr TcpCounterInfo kFields[] = {
      {"connattempt", &TcpStat::connattempt},
      {"accepts", &TcpStat::accepts},
      {"connects", &TcpStat::connects},
      {"drops", &TcpStat::drops},
      {"conndrops", &TcpStat::conndrops},
      {"closed", &TcpStat::closed},
      {"timeoutdrop", &TcpStat::timeoutdrop},
      {"usertimeoutdrop", &TcpStat::usertimeoutdrop},
      {"deferaccept", &TcpStat::deferaccept},
      {"listendrop", &TcpStat::listendrop},
      {"twreuse", &TcpStat::twreuse},
      {"syncookies_sent", &TcpStat::syncookies_sent},
      {"syncookies_recvd", &TcpStat::syncookies_recvd},
      {"syncookies_failed", &TcpStat::syncookies_failed},
      {"sndtotal", &TcpStat::sndtotal},
      {"sndpack", &TcpStat::sndpack},
      {"sndbyte", &TcpStat::sndbyte},
      {"sndrexmitpack", &TcpStat::sndrexmitpack},
      {"sndrexmitbyte", &TcpStat::sndrexmitbyte},
      {"sndacks", &TcpStat::sndacks},
      {"sndprobe", &TcpStat::sndprobe},
      {"sndwinup", &TcpStat::sndwinup},
      {"sndurg", &TcpStat::sndurg},
      {"sndctrl", &TcpStat::sndctrl},
      {"sndrst", &TcpStat::sndrst},
      {"delack", &TcpStat::delack},
      {"noroute", &TcpStat::noroute},
      {"rcvtotal", &TcpStat::rcvtotal},
      {"rcvpack", &TcpStat::rcvpack},
      {"rcvbyte", &TcpStat::rcvbyte},
      {"rcvshort", &TcpStat::rcvshort},
      {"rcvbadoff", &TcpStat::rcvbadoff},
      {"rcvbadsum", &TcpStat::rcvbadsum},
      {"rcvbadopt", &TcpStat::rcvbadopt},
      {"rcvbadaddr", &TcpStat::rcvbadaddr},
      {"noport", &TcpStat::noport},
      {"rcvduppack", &TcpStat::rcvduppack},
      {"rcvdupbyte", &TcpStat::rcvdupbyte},
      {"rcvpartduppack", &TcpStat::rcvpartduppack},
      {"rcvoopack", &TcpStat::rcvoopack},
      {"rcvoobyte", &TcpStat::rcvoobyte},
      {"rcvreassfull", &TcpStat::rcvreassfull},
      {"rcvpackafterwin", &TcpStat::rcvpackafterwin},
      {"rcvafterclose", &TcpStat::rcvafterclose},
      {"rcvwinprobe", &TcpStat::rcvwinprobe},
      {"rcvurg", &TcpStat::rcvurg},
      {"rcvdupack", &TcpStat::rcvdupack},
      {"rcvacktoomuch", &TcpStat::rcvacktoomuch},
      {"rcvackold", &TcpStat::rcvackold},
      {"rcvackpack", &TcpStat::rcvackpack},
      {"rcvackbyte", &TcpStat::rcvackbyte},
      {"rcvwinupd", &TcpStat::rcvwinupd},
      {"rcvoutwin", &TcpStat::rcvoutwin},
      {"pawsdrop", &TcpStat::pawsdrop},
      {"rcvbadsyn", &TcpStat::rcvbadsyn},
      {"rcvbadack", &TcpStat::rcvbadack},
      {"rcvrst", &TcpStat::rcvrst},
      {"rcvrstoutwin", &TcpStat::rcvrstoutwin},
      {"rcvrstchallenge", &TcpStat::rcvrstchallenge},
      {"rcvsynchallenge", &TcpStat::rcvsynchallenge},
      {"challengeack", &TcpStat::challengeack},
      {"challengeacklimit", &TcpStat::challengeacklimit},
      {"rcvnosock", &TcpStat::rcvnosock},
      {"rexmttimeo", &TcpStat::rexmttimeo},
      {"persisttimeo", &TcpStat::persisttimeo},
      {"fastretrans", &TcpStat::fastretrans},
      {"partialack", &TcpStat::partialack},
      {"rttupdated", &TcpStat::rttupdated},
      {"finwait2drop", &TcpStat::finwait2drop},
      {"sack_recovery_episode", &TcpStat::sack_recovery_episode},
      {"sack_rexmits", &TcpStat::sack_rexmits},
      {"sack_rexmit_bytes", &TcpStat::sack_rexmit_bytes},
      {"sack_rcv_blocks", &TcpStat::sack_rcv_blocks},
      {"sack_bad_blocks", &TcpStat::sack_bad_blocks},
      {"sack_sboverflow", &TcpStat::sack_sboverflow},
      {"sack_send_blocks", &TcpStat::sack_send_blocks},
      {"keeptimeo", &TcpStat::keeptimeo},
      {"keepprobe", &TcpStat::keepprobe},
      {"keepdrops", &TcpStat::keepdrops},
      {"icmp_nomatch", &TcpStat::icmp_nomatch},
      {"icmp_badseq", &TcpStat::icmp_badseq},
      {"icmp_hard", &TcpStat::icmp_hard},
      {"icmp_soft", &TcpStat::icmp_soft},
      {"pmtu_changes", &TcpStat::pmtu_changes},
      {"pmtu_floored", &TcpStat::pmtu_floored},
      {"rcvbuf_grow", &TcpStat::rcvbuf_grow},
      {"sndbuf_grow", &TcpStat::sndbuf_grow},
      {"mem_autotune_stop", &TcpStat::mem_autotune_stop},
      {"mem_pressure", &TcpStat::mem_pressure},
      // RACK-TLP and Limited Transmit (tcp_rack.cc)
      {"rack_marked_lost", &TcpStat::rack_marked_lost},
      {"tlp_probes", &TcpStat::tlp_probes},
      {"tlp_recoveries", &TcpStat::tlp_recoveries},
      {"limited_transmit", &TcpStat::limited_transmit},
      {"rack_undo", &TcpStat::rack_undo},
  };
  return kFields;
}

namespace {

// F(localip, localport, remoteip, remoteport, secretkey) of RFC 6528 §3:
// the ChaCha20 block function keyed by the secret, the 4-tuple as nonce.
// Word `which` of the output block.
uint32_t tcp_keyed_hash(Stack& stack, InAddr laddr, uint16_t lport, InAddr faddr, uint16_t fport,
                        uint32_t which) {
  TcpState& t = stack.tcp;
  if (!t.isn_secret_set) {
    stack.random().fill(t.isn_secret);
    t.isn_secret_set = true;
  }
  std::array<std::byte, 12> nonce{};
  store_be32(nonce, 0, laddr.v);
  store_be32(nonce, 4, faddr.v);
  store_be16(nonce, 8, lport);
  store_be16(nonce, 10, fport);
  std::array<uint8_t, 64> out{};
  chacha20_block(chacha20_state(t.isn_secret, 0, nonce), out);
  uint32_t w;
  std::memcpy(&w, out.data() + 4 * which, sizeof w);
  return w;
}

}  // namespace

TcpSeq tcp_new_isn(Stack& stack, InAddr laddr, uint16_t lport, InAddr faddr, uint16_t fport) {
  // RFC 6528 §3: ISN = M + F(...), M a timer ticking every 4 microseconds,
  // so that a new incarnation of a 4-tuple starts above the old one while
  // other tuples' ISNs cannot be predicted from ours.
  auto m = static_cast<uint32_t>(stack.now().since_origin.count() / 4000);
  return TcpSeq{m + tcp_keyed_hash(stack, laddr, lport, faddr, fport, 0)};
}

uint32_t tcp_ts_offset(Stack& stack, InAddr laddr, uint16_t lport, InAddr faddr, uint16_t fport) {
  // RFC 7323 §5.4 / RFC 6528 §3: a per-connection random offset so that
  // TSval reveals neither uptime nor the other connections.
  return tcp_keyed_hash(stack, laddr, lport, faddr, fport, 1);
}

uint32_t tcp_now_ts(Stack& stack, const TcpCb& tp) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(stack.now().since_origin);
  return static_cast<uint32_t>(ms.count()) + tp.ts_offset;
}

TcpCb* tcp_newcb(Stack& stack) {
  auto cb = std::make_unique<TcpCb>(stack.callouts());
  TcpCb* tp = cb.get();
  stack.tcp.cbs.emplace(tp, std::move(cb));
  tp->rto = std::chrono::milliseconds(stack.tcp.rexmit_initial_ms);
  tp->snd_hiwat = static_cast<size_t>(stack.tcp.sendspace);
  tp->rcv_hiwat = static_cast<size_t>(stack.tcp.recvspace);
  tp->req_ws = stack.tcp.do_ws != 0;
  tp->req_ts = stack.tcp.do_ts != 0;
  tp->req_sack = stack.tcp.do_sack != 0;
  tp->cc = stack.tcp.cc_default;
  tp->cc->init(*tp);
  tcp_timers_init(stack, *tp);
  return tp;
}

void tcp_hash_insert(Stack& stack, TcpCb& tp) {
  stack.tcp.conns[TcpKey{tp.laddr.v, tp.faddr.v, tp.lport, tp.fport}] = &tp;
  tp.in_hash = true;
}

void tcp_port_insert(Stack& stack, TcpCb& tp) { stack.tcp.by_port[tp.lport].insert(&tp); }

TcpCb* tcp_lookup(Stack& stack, InAddr src, uint16_t sport, InAddr dst, uint16_t dport) {
  auto it = stack.tcp.conns.find(TcpKey{dst.v, src.v, dport, sport});
  return it == stack.tcp.conns.end() ? nullptr : it->second;
}

TcpCb* tcp_lookup_listener(Stack& stack, InAddr dst, uint16_t dport) {
  auto it = stack.tcp.listeners.find(dport);
  if (it == stack.tcp.listeners.end()) {
    return nullptr;
  }
  TcpCb* wild = nullptr;
  for (TcpCb* tp : it->second) {
    if (tp->state != TcpFsmState::kListen) {
      continue;
    }
    if (tp->laddr == dst) {
      return tp;  // a specific address beats the wildcard (BSD in_pcblookup)
    }
    if (tp->laddr.is_any() && wild == nullptr) {
      wild = tp;
    }
  }
  return wild;
}

uint16_t tcp_mss_for_route(Stack& stack, InAddr dst, uint32_t fib) {
  // RFC 9293 §3.7.1 / RFC 6691: MSS = MTU - 20 (IP) - 20 (TCP).
  auto route = ip_route_lookup(stack, dst, fib);
  uint32_t mtu = route ? route->mtu : 576;
  // RFC 1191 §6.3: a path MTU learned from Fragmentation Needed applies to
  // new connections to the destination until it expires.
  if (const TcpState::PmtuEntry* e = tcp_pmtu_lookup(stack, dst, fib)) {
    mtu = std::min(mtu, e->mtu);
  }
  return static_cast<uint16_t>(std::clamp<uint32_t>(mtu, 88, 65535) - 40);
}

namespace {
uint64_t pmtu_key(InAddr dst, uint32_t fib) { return (uint64_t{fib} << 32) | dst.v; }
}  // namespace

const TcpState::PmtuEntry* tcp_pmtu_lookup(Stack& stack, InAddr dst, uint32_t fib) {
  auto& cache = stack.tcp.pmtu_cache;
  auto it = cache.find(pmtu_key(dst, fib));
  if (it == cache.end()) {
    return nullptr;
  }
  if (stack.now() >= it->second.expire) {
    cache.erase(it);  // RFC 1191 §6.3: try the larger MTU again
    return nullptr;
  }
  return &it->second;
}

void tcp_pmtu_store(Stack& stack, InAddr dst, uint32_t fib, uint32_t mtu, bool nodf) {
  TcpState& t = stack.tcp;
  Instant now = stack.now();
  if (t.pmtu_cache.size() >= TcpState::kPmtuCacheMax &&
      t.pmtu_cache.find(pmtu_key(dst, fib)) == t.pmtu_cache.end()) {
    // Bounded: expired entries go first, then any one (the entry is only
    // an optimisation; a connection learns the MTU again).
    std::erase_if(t.pmtu_cache, [now](const auto& kv) { return now >= kv.second.expire; });
    if (t.pmtu_cache.size() >= TcpState::kPmtuCacheMax) {
      t.pmtu_cache.erase(t.pmtu_cache.begin());
    }
  }
  t.pmtu_cache[pmtu_key(dst, fib)] =
      TcpState::PmtuEntry{mtu, now + std::chrono::seconds(t.pmtu_expire_s), nodf};
}

void tcp_mss_init(Stack& stack, TcpCb& tp, std::optional<uint16_t> peer_mss) {
  // RFC 9293 §3.7.1: without the option assume 536; never exceed our own
  // route's MTU - 40. A tiny advertised MSS is raised to 64 (Linux
  // TCP_MIN_SND_MSS 48, CVE-2019-11479: tiny segments as a resource attack).
  uint16_t peer = peer_mss.value_or(static_cast<uint16_t>(stack.tcp.mssdflt));
  uint16_t route = tcp_mss_for_route(stack, tp.faddr, tp.fib);
  tp.t_maxseg = std::max<uint16_t>(64, std::min(peer, route));
  uint32_t seg = tp.t_maxseg - (tp.ts_ok ? 12 : 0);
  // RFC 6928 IW10 (RFC 5681 §3.1 otherwise): in bytes of payload.
  tp.cwnd = static_cast<uint32_t>(stack.tcp.init_win) * seg;
}

// --- buffers: the global bound and auto-tuning ------------------------------

void tcp_mem_account(Stack& stack, TcpCb& tp) {
  size_t use = tp.snd_cc + tp.rcv_cc;
  for (const auto& [seq, m] : tp.reass) {
    use += m.len();
  }
  TcpState& t = stack.tcp;
  t.mem_used = t.mem_used - tp.mem_charged + use;
  tp.mem_charged = use;
}

bool tcp_mem_pressure(const Stack& stack) {
  return stack.tcp.mem_used > static_cast<size_t>(stack.tcp.mem_max);
}

bool tcp_rcvbuf_locked(const TcpCb& tp) {
  return tp.rcvbuf_locked || (tp.so != nullptr && tp.so->rcvbuf_locked);
}
bool tcp_sndbuf_locked(const TcpCb& tp) {
  return tp.sndbuf_locked || (tp.so != nullptr && tp.so->sndbuf_locked);
}

uint8_t tcp_rscale_for(const Stack& stack, const TcpCb& tp) {
  // RFC 7323 §2.2: the shift is fixed by the SYN; a buffer that may grow to
  // recvbuf_max needs the shift that can offer it (Linux chooses it from
  // tcp_rmem[2] the same way).
  size_t want = tp.rcv_hiwat;
  if (stack.tcp.recvbuf_auto != 0 && !tcp_rcvbuf_locked(tp)) {
    want = std::max(want, static_cast<size_t>(stack.tcp.recvbuf_max));
  }
  return tcp_pick_rscale(want);
}

void tcp_rcvbuf_autotune(Stack& stack, TcpCb& tp, size_t n) {
  TcpState& t = stack.tcp;
  if (tp.state != TcpFsmState::kEstablished && tp.state != TcpFsmState::kFinWait1 &&
      tp.state != TcpFsmState::kFinWait2) {
    return;
  }
  Instant now = stack.now();
  if (!tp.rcv_auto_start) {
    tp.rcv_auto_start = now;
    tp.rcv_auto_bytes = n;
    return;
  }
  tp.rcv_auto_bytes += n;
  // One measurement per round trip (Linux tcp_rcv_space_adjust); before an
  // RTT sample, the RTO floor stands in for it.
  const Duration rtt =
      tp.srtt > Duration{0} ? tp.srtt : Duration{std::chrono::milliseconds(t.rexmit_min_ms)};
  const Duration elapsed = now - *tp.rcv_auto_start;
  if (elapsed < rtt) {
    return;
  }
  // Bytes the user drains per round trip: the sender's rate as it reaches
  // the application. Twice that gives slow start room to double (DRS).
  const double per_rtt = static_cast<double>(tp.rcv_auto_bytes) *
                         std::chrono::duration<double>(rtt).count() /
                         std::chrono::duration<double>(elapsed).count();
  tp.rcv_auto_start = now;
  tp.rcv_auto_bytes = 0;
  if (t.recvbuf_auto == 0 || tcp_rcvbuf_locked(tp)) {
    return;
  }
  // A window beyond 65535 << shift cannot be offered (RFC 7323 §2.2).
  const size_t cap = std::min<size_t>(static_cast<size_t>(t.recvbuf_max),
                                      size_t{65535} << (tp.ws_ok ? tp.rcv_scale : 0));
  const size_t target = std::min(static_cast<size_t>(2 * per_rtt), cap);
  if (target <= tp.rcv_hiwat) {
    return;
  }
  if (tcp_mem_pressure(stack)) {
    ++t.stat.mem_autotune_stop;
    return;
  }
  tp.rcv_hiwat = target;
  if (tp.so != nullptr) {
    tp.so->rcv_hiwat = target;  // SO_RCVBUF reports it, as Linux's sk_rcvbuf
  }
  ++t.stat.rcvbuf_grow;
}

void tcp_sndbuf_autotune(Stack& stack, TcpCb& tp, bool was_full) {
  TcpState& t = stack.tcp;
  if (t.sendbuf_auto == 0 || tcp_sndbuf_locked(tp)) {
    return;
  }
  // BSD tcp_output's sendbuf_auto: grow when the buffer is (nearly) full
  // and smaller than twice what the windows let fly (Linux
  // tcp_sndbuf_expand: 2 * cwnd), so that the application can keep a
  // window's worth queued behind what is in flight.
  const size_t window = std::min<size_t>(tp.cwnd, std::max(tp.max_sndwnd, tp.snd_wnd));
  if (!was_full || tp.snd_hiwat >= 2 * window) {
    return;
  }
  const size_t target = std::min(2 * window, static_cast<size_t>(t.sendbuf_max));
  if (target <= tp.snd_hiwat) {
    return;
  }
  if (tcp_mem_pressure(stack)) {
    ++t.stat.mem_autotune_stop;
    return;
  }
  tp.snd_hiwat = target;
  if (tp.so != nullptr) {
    tp.so->snd_hiwat = target;
  }
  ++t.stat.sndbuf_grow;
}

size_t tcp_snd_space(const Stack& stack, const TcpCb& tp) {
  size_t space = tp.snd_space();
  if (tcp_mem_pressure(stack)) {
    // Above mem_max only the guaranteed minimum may be queued (Linux
    // tcp_wmem[0] under tcp_memory_pressure).
    space = std::min(space, tp.snd_cc < kTcpMemMinPerConn ? kTcpMemMinPerConn - tp.snd_cc : 0);
  }
  return space;
}

void tcp_wakeup(Stack& stack, TcpCb& tp) {
  if (tp.deferred && (tp.rcv_cc > 0 || tp.fin_received)) {
    tcp_accept_ready(stack, tp);  // TCP_DEFER_ACCEPT: data (or the end) came
    return;
  }
  if (tp.so != nullptr) {
    stack.so_wakeup(*tp.so);
  } else if (tp.listener != nullptr && tp.listener->so != nullptr) {
    stack.so_wakeup(*tp.listener->so);
  }
}

void tcp_drop(Stack& stack, TcpCb& tp, int err, bool send_rst) {
  if (send_rst && tcps_have_rcvd_syn(tp.state) && tp.state != TcpFsmState::kTimeWait) {
    tcp_send_ctl(stack, tp, tp.snd_nxt, tp.rcv_nxt, kTcpRst | kTcpAck);
  }
  if (tcps_have_established(tp.state)) {
    ++stack.tcp.stat.drops;
  } else {
    ++stack.tcp.stat.conndrops;
  }
  tp.so_error = err;
  if (tp.so != nullptr && err != 0) {
    tp.so->so_error = err;
  }
  tcp_close(stack, tp);
}

void tcp_close(Stack& stack, TcpCb& tp) {
  TcpState& t = stack.tcp;
  tcp_canceltimers(tp);
  bool was_listening = tp.state == TcpFsmState::kListen;
  tp.state = TcpFsmState::kClosed;
  tp.snd_buf.reset();
  tp.snd_cc = 0;
  tp.reass.clear();
  tp.scoreboard.clear();
  tp.rcv_sack_count = 0;
  if (tp.so == nullptr) {
    tp.rcv_buf.reset();  // nobody will read it
    tp.rcv_cc = 0;
  }
  tcp_mem_account(stack, tp);
  if (tp.in_hash) {
    t.conns.erase(TcpKey{tp.laddr.v, tp.faddr.v, tp.lport, tp.fport});
    tp.in_hash = false;
  }
  if (tp.listener != nullptr) {
    std::erase(tp.listener->syn_q, &tp);
    std::erase(tp.listener->accept_q, &tp);
    tp.listener = nullptr;
  }
  if (was_listening) {
    if (auto l = t.listeners.find(tp.lport); l != t.listeners.end()) {
      std::erase(l->second, &tp);
      if (l->second.empty()) {
        t.listeners.erase(l);
      }
    }
    // Connections nobody accepted die with their listener (BSD soclose
    // aborts so_q0 and so_q), each with a RST to its peer.
    std::vector<TcpCb*> children(tp.syn_q.begin(), tp.syn_q.end());
    children.insert(children.end(), tp.accept_q.begin(), tp.accept_q.end());
    tp.syn_q.clear();
    tp.accept_q.clear();
    for (TcpCb* c : children) {
      c->listener = nullptr;
      tcp_drop(stack, *c, ECONNABORTED, true);
    }
  }
  ++t.stat.closed;
  if (tp.so != nullptr) {
    stack.so_wakeup(*tp.so);
    return;  // the socket still points at it; freed by tcp_detach
  }
  if (tp.lport != 0) {
    auto it = t.by_port.find(tp.lport);
    if (it != t.by_port.end()) {
      it->second.erase(&tp);
      if (it->second.empty()) {
        t.by_port.erase(it);
      }
    }
    tp.lport = 0;
  }
  auto it = t.cbs.find(&tp);
  if (it != t.cbs.end()) {
    t.graveyard.push_back(std::move(it->second));
    t.cbs.erase(it);
  }
}

void tcp_gc(Stack& stack) { stack.tcp.graveyard.clear(); }

bool tcp_challenge_ack_allowed(Stack& stack, TcpCb& tp) {
  TcpState& t = stack.tcp;
  Instant now = stack.now();
  // RFC 5961 §7: limit per connection, and a global budget that is
  // randomised every second (Linux since CVE-2016-5696), so that an
  // off-path attacker cannot count the ACKs another connection used.
  if (now - tp.challenge_window >= 1s || tp.challenge_count == 0) {
    if (now - tp.challenge_window >= 1s) {
      tp.challenge_window = now;
      tp.challenge_count = 0;
    }
  }
  if (now - t.challenge_second >= 1s || t.challenge_second == Instant{}) {
    t.challenge_second = now;
    auto lim = static_cast<uint32_t>(std::max<int64_t>(t.challenge_ack_limit, 1));
    t.challenge_budget = lim / 2 + stack.random().uniform(lim);
  }
  if (tp.challenge_count >= static_cast<uint64_t>(t.challenge_ack_per_conn) ||
      t.challenge_budget == 0) {
    ++t.stat.challengeacklimit;
    return false;
  }
  ++tp.challenge_count;
  --t.challenge_budget;
  return true;
}

void tcp_register_sysctls(Stack& stack) {
  TcpState& t = stack.tcp;
  SysctlTree& s = stack.sysctl();
  (void)s.add_int("kern.somaxconn", &t.somaxconn, 1, 65535,
                  "largest listen backlog; larger requests are cut to it", true);
  (void)s.add_int("net.inet.tcp.msl", &t.msl_ms, 10, 600000,
                  "maximum segment lifetime, ms: TIME_WAIT lasts twice it (RFC 9293 §3.4.2)", true);
  (void)s.add_int("net.inet.tcp.rexmit_min", &t.rexmit_min_ms, 1, 60000,
                  "RTO floor, ms (RFC 6298 §2.4 says 1 s; 200 ms as Linux)", true);
  (void)s.add_int("net.inet.tcp.rexmit_initial", &t.rexmit_initial_ms, 200, 60000,
                  "initial RTO, ms (RFC 6298 §2.1)", true);
  (void)s.add_int("net.inet.tcp.rexmit_max", &t.rexmit_max_ms, 1000, 600000,
                  "RTO ceiling, ms (RFC 6298 §2.5 allows >= 60 s)", true);
  (void)s.add_int("net.inet.tcp.syn_retries", &t.syn_retries, 1, 20,
                  "SYN retransmissions before connect fails with ETIMEDOUT", true);
  (void)s.add_int("net.inet.tcp.data_retries", &t.data_retries, 1, 30,
                  "data retransmissions before the connection is dropped", true);
  (void)s.add_int("net.inet.tcp.delack", &t.delack_ms, 1, 500,
                  "delayed-ACK timer, ms (RFC 9293 §3.8.6.3 allows up to 500)", true);
  (void)s.add_int("net.inet.tcp.fin_wait2_timeout", &t.fin_wait2_ms, 1000, 600000,
                  "lifetime of an orphaned FIN_WAIT_2 connection, ms", true);
  (void)s.add_int("net.inet.tcp.init_win", &t.init_win, 1, 100,
                  "initial congestion window, segments (RFC 6928)", true);
  (void)s.add_int("net.inet.tcp.mssdflt", &t.mssdflt, 88, 65495,
                  "MSS assumed when the peer sends none (RFC 9293 §3.7.1)", true);
  (void)s.add_int("net.inet.tcp.sendspace", &t.sendspace, 4096, 8 << 20,
                  "default send buffer, bytes", true);
  (void)s.add_int("net.inet.tcp.recvspace", &t.recvspace, 4096, 8 << 20,
                  "default receive buffer, bytes", true);
  (void)s.add_int("net.inet.tcp.win_scale", &t.do_ws, 0, 1, "use window scaling (RFC 7323 §2)",
                  true);
  (void)s.add_int("net.inet.tcp.timestamps", &t.do_ts, 0, 1,
                  "use timestamps and PAWS (RFC 7323 §3, §5)", true);
  (void)s.add_int("net.inet.tcp.sack", &t.do_sack, 0, 1, "offer SACK (RFC 2018)", true);
  (void)s.add_int("net.inet.tcp.rack", &t.rack, 0, 1,
                  "RACK-TLP loss detection for new SACK connections (RFC 8985)", true);
  (void)s.add_int("net.inet.tcp.challenge_ack_limit", &t.challenge_ack_limit, 1, 1000000,
                  "global challenge ACKs per second, randomised (RFC 5961 §7)", true);
  (void)s.add_int("net.inet.tcp.challenge_ack_per_conn", &t.challenge_ack_per_conn, 1, 1000,
                  "challenge ACKs per connection per second (RFC 5961 §7)", true);
  (void)s.add_int("net.inet.tcp.reass_max", &t.reass_max, 1, 65536,
                  "out-of-order segments queued per connection", true);
  (void)s.add_int("net.inet.tcp.rst_validation", &t.rst_validation, 0, 1,
                  "RFC 5961 RST/SYN validation (0: io-pkt's no_rst_validation)", true);
  (void)s.add_int("net.inet.tcp.syncookies", &t.syncookies, 0, 1,
                  "answer SYNs with SYN cookies when a listen queue is full (RFC 4987 §3.6); "
                  "0: drop them",
                  true);
  (void)s.add_int("net.inet.tcp.keepidle", &t.keepidle_s, 1, 32767,
                  "idle seconds before the first keepalive probe (RFC 1122 §4.2.3.6)", true);
  (void)s.add_int("net.inet.tcp.keepintvl", &t.keepintvl_s, 1, 32767,
                  "seconds between unanswered keepalive probes", true);
  (void)s.add_int("net.inet.tcp.keepcnt", &t.keepcnt, 1, 127,
                  "unanswered keepalive probes before the connection is dropped", true);
  (void)s.add_int("net.inet.tcp.pmtu_expire", &t.pmtu_expire_s, 10, 86400,
                  "seconds a learned path MTU is kept (RFC 1191 §6.3: 10 minutes)", true);
  (void)s.add_int("net.inet.tcp.pmtu_min", &t.pmtu_min, 68, 65535,
                  "smallest path MTU Fragmentation Needed may set; below it segments go "
                  "without DF (Linux min_pmtu 552; RFC 791 minimum 68)",
                  true);
  (void)s.add_int("net.inet.tcp.recvbuf_auto", &t.recvbuf_auto, 0, 1,
                  "grow receive buffers with the rate the application drains", true);
  (void)s.add_int("net.inet.tcp.recvbuf_max", &t.recvbuf_max, 4096, 1 << 30,
                  "largest auto-tuned receive buffer, bytes (sets the window scale)", true);
  (void)s.add_int("net.inet.tcp.sendbuf_auto", &t.sendbuf_auto, 0, 1,
                  "grow send buffers with the congestion window", true);
  (void)s.add_int("net.inet.tcp.sendbuf_max", &t.sendbuf_max, 4096, 1 << 30,
                  "largest auto-tuned send buffer, bytes", true);
  (void)s.add_int("net.inet.tcp.mem_max", &t.mem_max, 4096, int64_t{1} << 40,
                  "bytes all connections may queue; above it no buffer grows and no window "
                  "opens past a small minimum",
                  true);
  (void)s.add_readonly(
      "net.inet.tcp.mem_used", SysctlType::kInt, [&t] { return std::to_string(t.mem_used); },
      "bytes queued in all connections' buffers");
  {
    // A string node checked against the algorithms: an unknown name is
    // ENOENT, as Linux's net.ipv4.tcp_congestion_control.
    SysctlNode n;
    n.name = "net.inet.tcp.congestion";
    n.type = SysctlType::kString;
    n.description = "congestion control of new connections (cubic, reno; RFC 9438, RFC 5681)";
    n.writable = true;
    n.get = [&t] { return std::string(t.cc_default->name()); };
    n.set = [&t](std::string_view v) -> Result<void, Errno> {
      const TcpCongestionControl* cc = tcp_cc_find(v);
      if (cc == nullptr) {
        return Err(Errno{ENOENT});
      }
      t.cc_default = cc;
      return {};
    };
    (void)s.add(std::move(n));
  }
  (void)s.add_readonly(
      "net.inet.tcp.available_congestion", SysctlType::kString,
      [] {
        std::string out;
        for (const auto* cc : tcp_cc_all()) {
          out += (out.empty() ? "" : " ") + std::string(cc->name());
        }
        return out;
      },
      "congestion control algorithms TCP_CONGESTION accepts");
  for (const auto& c : tcpstat_fields()) {
    auto field = c.field;
    (void)s.add_readonly(
        std::string("net.inet.tcp.stats.") + c.name, SysctlType::kInt,
        [&t, field] { return std::to_string(t.stat.*field); }, "TCP counter");
  }
}

void tcp_destroy_all(Stack& stack) noexcept {
  TcpState& t = stack.tcp;
  t.conns.clear();
  t.by_port.clear();
  t.listeners.clear();
  t.graveyard.clear();
  t.pmtu_cache.clear();
  t.mem_used = 0;
  for (auto& [p, cb] : t.cbs) {
    if (cb->so != nullptr) {
      cb->so->tcb = nullptr;
    }
  }
  t.cbs.clear();
}

}  // namespace iopkt
