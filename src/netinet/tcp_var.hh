// netinet/tcp_var.hh — TCP's control block, counters and module state (BSD
// tcp_var.h), and the functions the other files of netinet/tcp_* share.
// Read RFC 9293 §3.3 (the TCB variables) first; names follow it and BSD.
//
// Ownership: TcpState owns every TcpCb (`TcpState::cbs`). A Socket of type
// SOCK_STREAM points at its TcpCb (Socket::tcb) and the TcpCb back at it
// (TcpCb::so); the link is cut when the user closes the socket, and the
// TcpCb lives on alone through FIN_WAIT/TIME_WAIT (BSD soisdisconnected +
// tcp_close). Connections a listener accepted but the user has not taken
// yet have no Socket either: so_accept makes one.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "kern/result.hh"
#include "kern/time.hh"
#include "netinet/in.hh"
#include "netinet/tcp.hh"
#include "netinet/tcp_cc.hh"
#include "netinet/tcp_fsm.hh"
#include "netinet/tcp_rack.hh"
#include "netinet/tcp_seq.hh"

namespace iopkt {

class Stack;
class Ifnet;
class Socket;
struct SockAddr;

// Every drop has a reason (STYLE.md §9), shown as net.inet.tcp.stats.NAME.
struct TcpStat {
  // connections
  uint64_t connattempt = 0;  // active opens (SYN sent by connect)
  uint64_t accepts = 0;      // passive opens completed (to the accept queue)
  uint64_t connects = 0;     // connections established
  uint64_t drops = 0;        // established connections dropped (reset, timeout)
  uint64_t conndrops = 0;    // embryonic connections dropped
  uint64_t closed = 0;       // control blocks freed
  uint64_t timeoutdrop = 0;  // dropped after the retransmission limit (ETIMEDOUT)
  // Dropped with ETIMEDOUT by TCP_USER_TIMEOUT (RFC 5482): data unacknowledged,
  // or held by a zero window, longer than the user's timeout.
  uint64_t usertimeoutdrop = 0;
  // Handshakes completed without data, held off accept (TCP_DEFER_ACCEPT).
  uint64_t deferaccept = 0;
  uint64_t listendrop = 0;  // SYNs dropped: listen queue full (somaxconn/backlog)
  uint64_t twreuse = 0;     // TIME_WAIT ended early by a new SYN (RFC 6191)
  // SYN cookies (RFC 4987 §3.6)
  uint64_t syncookies_sent = 0;    // SYN,ACKs with a cookie: the listen queue was full
  uint64_t syncookies_recvd = 0;   // ACKs with a valid cookie (connection made, room or not)
  uint64_t syncookies_failed = 0;  // ACKs with a bad or expired cookie: RST
  // output
  uint64_t sndtotal = 0, sndpack = 0, sndbyte = 0;
  uint64_t sndrexmitpack = 0, sndrexmitbyte = 0;
  uint64_t sndacks = 0;   // pure ACKs
  uint64_t sndprobe = 0;  // zero-window probes
  uint64_t sndwinup = 0;  // window updates
  uint64_t sndurg = 0;    // segments sent with an urgent pointer
  uint64_t sndctrl = 0;   // SYN, FIN, RST
  uint64_t sndrst = 0;    // RSTs sent (closed port, abort, bad segment)
  uint64_t delack = 0;    // ACKs delayed then sent by the timer
  uint64_t noroute = 0;   // output failed: no route or no buffers
  // input
  uint64_t rcvtotal = 0, rcvpack = 0, rcvbyte = 0;
  uint64_t rcvshort = 0;                    // shorter than a header
  uint64_t rcvbadoff = 0;                   // data offset bad
  uint64_t rcvbadsum = 0;                   // checksum wrong
  uint64_t rcvbadopt = 0;                   // malformed options (parsing stopped there)
  uint64_t rcvbadaddr = 0;                  // to or from a broadcast/multicast address
  uint64_t noport = 0;                      // no connection or listener: RST sent
  uint64_t rcvduppack = 0, rcvdupbyte = 0;  // wholly duplicate data
  uint64_t rcvpartduppack = 0;              // partly duplicate data (trimmed)
  uint64_t rcvoopack = 0, rcvoobyte = 0;    // out of order, queued
  uint64_t rcvreassfull = 0;                // out of order, reassembly queue full: dropped
  uint64_t rcvpackafterwin = 0;             // data beyond the window (trimmed or dropped)
  uint64_t rcvafterclose = 0;               // data after the user closed: RST
  uint64_t rcvwinprobe = 0;                 // zero-window probes received
  uint64_t rcvurg = 0;                      // new urgent pointers received (RFC 6093)
  uint64_t rcvdupack = 0;                   // duplicate ACKs
  uint64_t rcvacktoomuch = 0;  // ACK for data not sent (RFC 9293 §3.10.7.4): ACK, drop
  uint64_t rcvackold = 0;      // ACK below SND.UNA - MAX.SND.WND (RFC 5961 §5): ACK, drop
  uint64_t rcvackpack = 0, rcvackbyte = 0;
  uint64_t rcvwinupd = 0;
  uint64_t rcvoutwin = 0;          // unacceptable segment (RFC 9293 §3.10.7.4 first check): ACK
  uint64_t pawsdrop = 0;           // PAWS: TSval older than TS.Recent (RFC 7323 §5): ACK, drop
  uint64_t rcvbadsyn = 0;          // SYN with RST/FIN/ACK at a listener, or bad flags
  uint64_t rcvbadack = 0;          // unacceptable ACK in SYN_SENT/SYN_RCVD: RST
  uint64_t rcvrst = 0;             // resets accepted
  uint64_t rcvrstoutwin = 0;       // RST outside the window: ignored (RFC 5961 §3)
  uint64_t rcvrstchallenge = 0;    // RST in window but not RCV.NXT: challenge ACK (RFC 5961 §3)
  uint64_t rcvsynchallenge = 0;    // SYN in a synchronized state: challenge ACK (RFC 5961 §4)
  uint64_t challengeack = 0;       // challenge ACKs sent
  uint64_t challengeacklimit = 0;  // challenge ACKs suppressed by the rate limits (§7)
  uint64_t rcvnosock = 0;          // ACK to a listener with no matching embryo: RST
  // timers and recovery
  uint64_t rexmttimeo = 0;    // retransmission timeouts
  uint64_t persisttimeo = 0;  // persist timer fired (probe sent)
  uint64_t fastretrans = 0;   // fast retransmits (RFC 5681 §3.2)
  uint64_t partialack = 0;    // NewReno partial ACKs (RFC 6582 §3.2 step 5)
  uint64_t rttupdated = 0;    // RTT samples taken
  uint64_t finwait2drop = 0;  // orphaned FIN_WAIT_2 given up
  // SACK (RFC 2018, RFC 6675)
  uint64_t sack_recovery_episode = 0;  // SACK-based loss recoveries entered (RFC 6675 §5)
  uint64_t sack_rexmits = 0;           // segments retransmitted by SACK recovery
  uint64_t sack_rexmit_bytes = 0;      // bytes retransmitted by SACK recovery
  uint64_t sack_rcv_blocks = 0;        // SACK blocks received and used
  uint64_t sack_bad_blocks = 0;   // SACK blocks ignored: empty, beyond SND.MAX or below SND.UNA
  uint64_t sack_sboverflow = 0;   // SACK blocks ignored: the scoreboard was full
  uint64_t sack_send_blocks = 0;  // SACK blocks sent (as receiver)
  // keepalive (RFC 9293 §3.8.4)
  uint64_t keeptimeo = 0;  // keepalive timer fired on an idle connection
  uint64_t keepprobe = 0;  // keepalive probes sent
  uint64_t keepdrops = 0;  // connections dropped: keepalive probes unanswered (ETIMEDOUT)
  // ICMP errors (tcp_ctlinput.cc; RFC 5927, RFC 1191, RFC 1122 §4.2.3.9)
  uint64_t icmp_nomatch = 0;  // ICMP errors quoting no connection of ours: ignored
  uint64_t icmp_badseq = 0;   // quoted SEQ outside [SND.UNA, SND.MAX) (RFC 5927 §4.1): ignored
  uint64_t icmp_hard = 0;     // handshakes aborted by an ICMP error
  uint64_t icmp_soft = 0;     // ICMP errors kept as a synchronized connection's soft error
  uint64_t pmtu_changes = 0;  // MSS lowered by Fragmentation Needed or a smaller route MTU
  uint64_t pmtu_floored = 0;  // Fragmentation Needed below net.inet.tcp.pmtu_min: floor, no DF
  // buffers (auto-tuning and the global bound, net.inet.tcp.mem_max)
  uint64_t rcvbuf_grow = 0;        // receive buffers grown by auto-tuning
  uint64_t sndbuf_grow = 0;        // send buffers grown by auto-tuning
  uint64_t mem_autotune_stop = 0;  // growths refused: TCP memory above mem_max
  uint64_t mem_pressure = 0;       // windows held or sends refused: TCP memory above mem_max
  // RACK-TLP (RFC 8985) and Limited Transmit (RFC 3042), tcp_rack.cc
  uint64_t rack_marked_lost = 0;  // segments RACK marked lost (time-based, §6.2)
  uint64_t tlp_probes = 0;        // tail loss probes sent (§7.3)
  uint64_t tlp_recoveries = 0;    // losses a probe's ACK revealed (§7.4)
  uint64_t limited_transmit = 0;  // new segments sent on duplicate ACKs 1 and 2 (RFC 3042)
  uint64_t rack_undo = 0;         // recoveries found spurious by D-SACK, window restored (RFC 3708)
};

struct TcpCounterInfo {
  const char* name;
  uint64_t TcpStat::*field;
};
std::span<const TcpCounterInfo> tcpstat_fields();

// The connection's control block: RFC 9293 §3.3.1 variables, options,
// timers, buffers.
class TcpCb {
 public:
  explicit TcpCb(CalloutWheel& wheel)
      : rexmt_timer(wheel),
        persist_timer(wheel),
        delack_timer(wheel),
        twait_timer(wheel),
        keep_timer(wheel),
        rack_timer(wheel),
        cork_timer(wheel),
        defer_timer(wheel) {}
  TcpCb(const TcpCb&) = delete;
  TcpCb& operator=(const TcpCb&) = delete;

  TcpFsmState state = TcpFsmState::kClosed;
  Socket* so = nullptr;       // null once the user closed it, or before accept
  TcpCb* listener = nullptr;  // for a passive open until accepted
  // The 4-tuple (the socket's InPcb mirrors it while attached).
  InAddr laddr, faddr;
  uint16_t lport = 0, fport = 0;
  bool in_hash = false;  // in TcpState::conns
  // The routing table (FIB) of every lookup and transmission: the socket's
  // (Socket::fib, mfib_gid_map) at connect, the listener's for a passive open.
  uint32_t fib = 0;

  // Listen (RFC 9293 §3.10.1 "LISTEN"): embryos and completed connections.
  std::vector<TcpCb*> syn_q;    // SYN_RECEIVED children
  std::deque<TcpCb*> accept_q;  // ESTABLISHED (or later) children, oldest first
  int backlog = 0;
  // When this listener last answered with a SYN cookie: only then is an
  // ACK without an embryo checked as one (Linux tcp_synq_no_recent_overflow).
  std::optional<Instant> syncookie_last;

  // Send sequence variables (RFC 9293 §3.3.1).
  TcpSeq iss, snd_una, snd_nxt, snd_max, snd_wl1, snd_wl2, snd_recover;
  uint32_t snd_wnd = 0, max_sndwnd = 0;
  // Receive sequence variables.
  TcpSeq irs, rcv_nxt, rcv_adv, last_ack_sent;
  uint32_t rcv_wnd = 0;
  // Urgent data (RFC 9293 §3.8.5). Each pointer is the sequence number of
  // the byte after the urgent byte (RFC 6093 §4) and means something only
  // while its flag is set: snd_urgent until the peer acknowledged SND.UP,
  // rcv_urgent until the user was handed the byte before RCV.UP.
  TcpSeq snd_up, rcv_up;
  bool snd_urgent = false, rcv_urgent = false;

  // Options (RFC 7323, RFC 9293 §3.7.1).
  uint16_t t_maxseg = 536;  // send MSS: min(peer's MSS, route MTU - 40)
  uint16_t our_mss = 536;   // what we advertised
  uint8_t snd_scale = 0, rcv_scale = 0;
  uint8_t request_r_scale = 0;
  bool ws_ok = false, ts_ok = false, sack_ok = false;
  bool req_ws = true, req_ts = true, req_sack = true;  // ask for them in our SYN
  uint32_t ts_recent = 0;
  Instant ts_recent_age{};
  uint32_t ts_offset = 0;  // per-connection TSval offset (RFC 7323 §5.4)

  // Round-trip time (RFC 6298).
  Duration srtt{0}, rttvar{0}, rto{1s};
  bool rtt_timing = false;
  TcpSeq rtt_seq;
  Instant rtt_start{};
  int rxtshift = 0;  // consecutive timeouts
  int persist_shift = 0;

  // Congestion control (RFC 5681, RFC 6582 NewReno, RFC 6928 IW); the
  // window's growth and reduction are the algorithm's (tcp_cc.hh).
  uint32_t cwnd = 0, ssthresh = 0xffffffffu;
  int dupacks = 0;
  bool in_recovery = false;  // fast recovery: NewReno, or RFC 6675 when sack_ok
  const TcpCongestionControl* cc = nullptr;
  TcpCubicState cubic;

  // SACK, receiver side (RFC 2018 §4): the blocks to report, the one with
  // the latest arrival first. Sender side (RFC 6675): the scoreboard, the
  // SACKed ranges above SND.UNA, sorted and disjoint; HighRxt is the end
  // of the highest retransmission of the current recovery.
  std::array<TcpOptions::SackBlock, kTcpMaxSackBlocks> rcv_sack{};
  uint8_t rcv_sack_count = 0;
  // RFC 2883: data that arrived twice, reported once as the first block of
  // the next ACK with room for it (tcp_sack_rcv_dup, tcp_sack_fill).
  std::optional<TcpOptions::SackBlock> rcv_dsack;
  std::vector<TcpOptions::SackBlock> scoreboard;
  TcpSeq high_rxt;

  // Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): 0 means the sysctl
  // default; seconds as Linux's TCP_KEEPIDLE/TCP_KEEPINTVL.
  int keepidle = 0, keepintvl = 0, keepcnt = 0;
  int keep_probes = 0;  // probes sent since the peer was last heard
  Instant t_rcvtime{};  // when the last acceptable segment arrived

  // Buffers. snd_buf holds bytes from SND.UNA on (unsent and unacknowledged);
  // retransmissions share its clusters (Mbuf::share). rcv_buf holds in-order
  // bytes for the user; reass the out-of-order segments (seq, data).
  Mbuf snd_buf;
  size_t snd_cc = 0, snd_hiwat = 0;
  Mbuf rcv_buf;
  size_t rcv_cc = 0, rcv_hiwat = 0;
  std::vector<std::pair<TcpSeq, Mbuf>> reass;
  bool fin_queued = false;    // the user shut the send side: FIN follows the data
  bool fin_received = false;  // no more data will come (EOF after rcv_buf)
  bool cant_rcv = false;      // the user shut the receive side

  // Output requests.
  bool ack_now = false;
  bool user_read = false;       // the user took data: a window update may be due
  bool delack_pending = false;  // an ACK owed, the timer running
  int segs_unacked = 0;         // full segments received since our last ACK
  bool nodelay = false;         // TCP_NODELAY: no Nagle (RFC 9293 §3.7.4)
  // The persist timer ran out with a window open but smaller than what
  // the sender-side SWS rules wait for: send what fits (RFC 9293
  // §3.8.6.2.1, the override timeout).
  bool sws_override = false;
  // Zero-window probes the peer left unanswered in a row (nothing heard
  // since the previous probe), and when it was last heard at a probe.
  int persist_unanswered = 0;
  Instant persist_heard{};
  bool linger_zero = false;  // SO_LINGER {1, 0}: close aborts with RST

  // TCP_USER_TIMEOUT (RFC 5482 §3, tcp(7)): milliseconds, 0 = off (the
  // retry limits apply). Transmitted data unacknowledged for longer, or
  // data held by a zero window for longer, aborts with ETIMEDOUT.
  // unacked_since: when data was sent with nothing outstanding, or when
  // SND.UNA last advanced; zwnd_since: when data began to wait for a
  // closed window (Linux icsk_probes_tstamp: only a window that opens
  // clears it, not an ACK that keeps it closed).
  uint32_t user_timeout_ms = 0;
  Instant unacked_since{};
  std::optional<Instant> zwnd_since;
  // TCP_CORK (tcp(7)): no partial segment while set, except when the 200 ms
  // ceiling (cork_timer) ran out or the user uncorked (cork_flush).
  bool cork = false;
  bool cork_flush = false;
  // TCP_DEFER_ACCEPT (tcp(7)): on a listener, seconds a connection whose
  // handshake brought no data waits for some before it may be accepted;
  // on such a child, `deferred` while it waits in the listener's syn_q.
  int defer_accept = 0;
  bool deferred = false;

  // RFC 5961 §7: challenge ACKs sent by this connection in the current second.
  Instant challenge_window{};
  uint32_t challenge_count = 0;

  int so_error = 0;  // set when the connection dies (ECONNRESET, ETIMEDOUT, ECONNREFUSED)
  // The last ICMP error of a synchronized connection (RFC 1122 §4.2.3.9:
  // a soft error does not abort it); a later timeout reports it instead of
  // ETIMEDOUT (Linux sk_err_soft, tcp_write_err). Cleared when SND.UNA moves.
  int soft_error = 0;
  // Path MTU (RFC 1191): below net.inet.tcp.pmtu_min the floor is used and
  // segments leave without DF (Linux's locked route MTU).
  bool pmtu_nodf = false;

  // Buffer auto-tuning. The user's SO_RCVBUF/SO_SNDBUF fix a size (Linux
  // SOCK_RCVBUF_LOCK); also read from the Socket when it has the flags.
  bool rcvbuf_locked = false, sndbuf_locked = false;
  // Receive: bytes the user read since rcv_auto_start (Linux DRS,
  // tcp_rcv_space_adjust: measured per round trip).
  std::optional<Instant> rcv_auto_start;
  size_t rcv_auto_bytes = 0;
  // Bytes this connection holds (send, receive, out-of-order queues), as
  // counted in TcpState::mem_used.
  size_t mem_charged = 0;

  Callout rexmt_timer, persist_timer, delack_timer, twait_timer, keep_timer;

  // RACK-TLP (RFC 8985), tcp_rack.cc: per-segment transmit state, and the
  // one timer for RACK's reorder timeout or TLP's probe timeout.
  TcpRack rack;
  Callout rack_timer;
  Callout cork_timer;   // TCP_CORK's 200 ms ceiling
  Callout defer_timer;  // TCP_DEFER_ACCEPT: the deferred child becomes acceptable

  size_t snd_space() const { return snd_hiwat > snd_cc ? snd_hiwat - snd_cc : 0; }
  // Bytes in flight: sent but not acknowledged (SYN and FIN count).
  uint32_t flight() const { return snd_max - snd_una; }
};

struct TcpKey {
  uint32_t laddr = 0, faddr = 0;
  uint16_t lport = 0, fport = 0;
  bool operator==(const TcpKey&) const = default;
};
struct TcpKeyHash {
  size_t operator()(const TcpKey& k) const {
    uint64_t a = (uint64_t{k.laddr} << 32) | k.faddr;
    uint64_t b = (uint64_t{k.lport} << 16) | k.fport;
    return std::hash<uint64_t>{}(a * 0x9e3779b97f4a7c15ull ^ b);
  }
};

// The stack's TCP: every control block, the lookup tables, the knobs
// (net.inet.tcp.*, registered by tcp_register_sysctls) and the counters.
struct TcpState {
  TcpStat stat;
  std::unordered_map<TcpCb*, std::unique_ptr<TcpCb>> cbs;
  std::unordered_map<TcpKey, TcpCb*, TcpKeyHash> conns;  // connected 4-tuples
  // Every cb with a local port. A set: a busy server port holds tens of
  // thousands of TIME-WAITs, each leaving it in turn (issue 8).
  std::unordered_map<uint16_t, std::unordered_set<TcpCb*>> by_port;
  // The cbs in LISTEN, by local port: what a SYN looks for. by_port also
  // holds every connection on the port, TIME-WAITs included — tens of
  // thousands on a busy server port, too many to scan per SYN (issue 8).
  std::unordered_map<uint16_t, std::vector<TcpCb*>> listeners;
  std::vector<std::unique_ptr<TcpCb>> graveyard;  // closed, freed at a safe point

  // RFC 6528: the secret of the ISN function, drawn on first use.
  std::array<std::byte, 32> isn_secret{};
  bool isn_secret_set = false;
  // RFC 4987 §3.6: the SYN-cookie MAC's own secret, drawn on first use.
  std::array<std::byte, 32> syncookie_secret{};
  bool syncookie_secret_set = false;

  // RFC 5961 §7: the global challenge-ACK budget of the current second,
  // randomised each second so that it cannot be measured (CVE-2016-5696).
  Instant challenge_second{};
  uint32_t challenge_budget = 0;

  // RFC 1191 §6.3: learned path MTUs per (FIB, destination), so that new
  // connections start with them; they expire after pmtu_expire_s.
  struct PmtuEntry {
    uint32_t mtu = 0;
    Instant expire{};
    bool nodf = false;  // below pmtu_min: send without DF
  };
  std::unordered_map<uint64_t, PmtuEntry> pmtu_cache;
  static constexpr size_t kPmtuCacheMax = 4096;

  // Bytes queued in every connection's buffers (TcpCb::mem_charged summed).
  size_t mem_used = 0;

  // Knobs.
  int64_t somaxconn = 128;           // kern.somaxconn: largest listen backlog
  int64_t msl_ms = 30000;            // net.inet.tcp.msl: TIME_WAIT lasts 2*MSL (60 s, as Linux)
  int64_t rexmit_min_ms = 200;       // net.inet.tcp.rexmit_min: RTO floor (Linux TCP_RTO_MIN)
  int64_t rexmit_initial_ms = 1000;  // RFC 6298 §2.1 initial RTO
  int64_t rexmit_max_ms = 120000;    // RTO ceiling (Linux TCP_RTO_MAX)
  int64_t syn_retries = 6;           // SYN (and SYN,ACK) retransmissions before giving up
  int64_t data_retries = 12;         // data retransmissions before ETIMEDOUT (BSD TCP_MAXRXTSHIFT)
  int64_t delack_ms = 40;            // delayed-ACK timer (Linux TCP_DELACK_MIN)
  int64_t fin_wait2_ms = 60000;      // orphaned FIN_WAIT_2 lifetime (Linux tcp_fin_timeout)
  int64_t init_win = 10;             // initial window, segments (RFC 6928)
  int64_t mssdflt = 536;             // MSS when the peer sends none (RFC 9293 §3.7.1)
  int64_t sendspace = 212992;        // net.inet.tcp.sendspace: default SO_SNDBUF
  int64_t recvspace = 212992;        // net.inet.tcp.recvspace: default SO_RCVBUF
  int64_t do_ws = 1, do_ts = 1, do_sack = 1;  // net.inet.tcp.{win_scale,timestamps,sack}
  int64_t challenge_ack_limit = 1000;  // global challenge ACKs per second (RFC 5961 §7), randomised
  int64_t challenge_ack_per_conn = 10;  // per connection per second
  int64_t reass_max = 256;              // out-of-order segments queued per connection
  int64_t rst_validation = 1;           // RFC 5961 checks; 0 is io-pkt's no_rst_validation
  int64_t syncookies = 1;               // net.inet.tcp.syncookies: cookies when the queue is full
  int64_t keepidle_s = 7200;            // net.inet.tcp.keepidle (RFC 1122 §4.2.3.6: >= 2 h)
  int64_t keepintvl_s = 75;             // net.inet.tcp.keepintvl
  int64_t keepcnt = 9;                  // net.inet.tcp.keepcnt
  int64_t pmtu_expire_s = 600;          // RFC 1191 §6.3: a learned PMTU is retried after 10 min
  int64_t pmtu_min = 552;               // MTU floor for Fragmentation Needed (Linux min_pmtu)
  int64_t recvbuf_auto = 1;             // net.inet.tcp.recvbuf_auto
  int64_t recvbuf_max = 4 << 20;        // net.inet.tcp.recvbuf_max
  int64_t sendbuf_auto = 1;             // net.inet.tcp.sendbuf_auto
  int64_t sendbuf_max = 4 << 20;        // net.inet.tcp.sendbuf_max
  int64_t mem_max = 64 << 20;           // net.inet.tcp.mem_max: bytes queued, all connections
  int64_t rack = 1;                     // net.inet.tcp.rack: RACK-TLP for SACK connections
  // net.inet.tcp.congestion: the algorithm of new connections.
  const TcpCongestionControl* cc_default = &tcp_cc_cubic();
};

// What a stream socket's owner needs to know after a wakeup (Stack::
// so_stream_status): the state, what can be read and written, EOF, the
// pending error and, for a listener, connections waiting for so_accept.
struct TcpSocketStatus {
  TcpFsmState state = TcpFsmState::kClosed;
  size_t readable = 0;     // bytes so_recv_stream would return now
  size_t writable = 0;     // bytes so_send_stream would accept now (0 before connected)
  bool eof = false;        // the peer's FIN came and every byte before it was read
  bool connected = false;  // ESTABLISHED or later
  int error = 0;           // pending SO_ERROR (not cleared by this query)
  size_t acceptable = 0;   // listeners: completed connections waiting
  // The peer's urgent byte (RFC 6093): `urgent_at` bytes from the front of
  // what is readable. When urgent_at >= readable it has not arrived yet.
  bool urgent = false;
  size_t urgent_at = 0;
};

// --- shared between the tcp_* files ------------------------------------------

// tcp_input.cc: `m` starts at the IP header (`iphlen` bytes, validated).
void tcp_input(Stack& stack, Mbuf m, size_t iphlen, Ifnet& rcvif) noexcept;

// tcp_output.cc: send what the state, the windows and the timers allow.
void tcp_output(Stack& stack, TcpCb& tp) noexcept;
// A bare control segment for a connection (ACK, challenge ACK, RST, probe).
void tcp_send_ctl(Stack& stack, TcpCb& tp, TcpSeq seq, TcpSeq ack, TcpFlags flags) noexcept;
// A segment with no connection (RST to a closed port, RFC 9293 §3.10.7.1).
void tcp_respond(Stack& stack, InAddr src, InAddr dst, uint16_t sport, uint16_t dport, TcpSeq seq,
                 TcpSeq ack, TcpFlags flags) noexcept;
// Our receive window right now, unscaled bytes.
uint32_t tcp_rcv_space(const TcpCb& tp);
// The sequence number of the first received byte the user has not taken.
inline TcpSeq tcp_rcv_head(const TcpCb& tp) {
  return tp.rcv_nxt - static_cast<uint32_t>(tp.rcv_cc) - (tp.fin_received ? 1u : 0u);
}

// tcp_sack.cc (RFC 2018, RFC 6675).
// Receiver: [start, end) was queued out of order; its block goes first.
void tcp_sack_rcv_update(TcpCb& tp, TcpSeq start, TcpSeq end);
// Receiver: RCV.NXT advanced; blocks at or below it are dropped.
void tcp_sack_rcv_trim(TcpCb& tp);
// Receiver: [start, end) arrived again (below RCV.NXT or already queued):
// a D-SACK for the next ACK, sent at once (RFC 2883 §4).
void tcp_sack_rcv_dup(TcpCb& tp, TcpSeq start, TcpSeq end);
// Receiver: the blocks for an ACK carrying `data_len` bytes, as many as the
// option space leaves (3 with timestamps, 4 without; fewer on full segments);
// a pending D-SACK goes first, and only once.
void tcp_sack_fill(Stack& stack, TcpCb& tp, uint32_t data_len, TcpOptions& opts);
// Sender: take the validated blocks of an acceptable ACK into the
// scoreboard; returns the bytes newly SACKed.
uint32_t tcp_sack_input(Stack& stack, TcpCb& tp, const TcpOptions& opts);
// Sender: SND.UNA advanced; forget the ranges below it.
void tcp_sack_trim(TcpCb& tp);
void tcp_sack_clear(TcpCb& tp);
// RFC 6675 §4 IsLost(SeqNum), Pipe and NextSeg.
bool tcp_sack_is_lost(const TcpCb& tp, TcpSeq seq);
uint32_t tcp_sack_pipe(const TcpCb& tp);
struct TcpSackNext {
  TcpSeq seq;
  uint32_t len = 0;  // sequence space (a FIN counts one)
  bool rexmit = false;
};
std::optional<TcpSackNext> tcp_sack_nextseg(const TcpCb& tp);
// RFC 6675 §5 steps (4.1)-(4.4): enter recovery and retransmit.
void tcp_sack_enter_recovery(Stack& stack, TcpCb& tp);
// RFC 6675 §5 step (C): send while cwnd - pipe >= 1 SMSS.
void tcp_sack_output(Stack& stack, TcpCb& tp);

// tcp_output.cc: one segment covering [seq, seq + len) of the sequence
// space from the send buffer (the FIN when it covers it); `rexmit` counts it
// as a retransmission. Returns false when nothing could be sent.
bool tcp_send_range(Stack& stack, TcpCb& tp, TcpSeq seq, uint32_t len, bool rexmit) noexcept;
// Payload bytes per segment: the MSS less the timestamp option.
inline uint32_t tcp_smss(const TcpCb& tp) { return tp.t_maxseg - (tp.ts_ok ? 12u : 0u); }

// tcp_output.cc: a segment with no connection, options included (the SYN
// cookie's SYN,ACK), routed in table `fib`.
void tcp_respond_fields(Stack& stack, InAddr src, InAddr dst, const TcpFields& f,
                        uint32_t fib) noexcept;

// tcp_syncookie.cc (RFC 4987 §3.6): a full listener answers a SYN without
// keeping state; the ISN of its SYN,ACK carries what the connection needs.
// How long a cookie lives: it is valid in its time slot and the next.
inline constexpr Duration kTcpSyncookieSlot = std::chrono::seconds(64);
// What a valid cookie tells about the peer's SYN.
struct TcpSyncookie {
  uint16_t mss = 0;               // from the table: at most what the peer offered
  std::optional<uint8_t> wscale;  // the peer's shift, when it offered scaling
  bool sack_permitted = false;
};
// Answer the SYN `irs` from faddr:fport to laddr:lport (listener `lp`, its
// queues full) with a cookie SYN,ACK.
void tcp_syncookie_send(Stack& stack, TcpCb& lp, InAddr laddr, uint16_t lport, InAddr faddr,
                        uint16_t fport, TcpSeq irs, const TcpOptions& syn);
// The ACK (SEG.SEQ = irs + 1, SEG.ACK = cookie + 1) carries a cookie this
// stack made for the 4-tuple in this time slot or the previous one.
std::optional<TcpSyncookie> tcp_syncookie_check(Stack& stack, InAddr laddr, uint16_t lport,
                                                InAddr faddr, uint16_t fport, TcpSeq irs,
                                                TcpSeq cookie);
// Window scale to ask for with a `rcv_hiwat`-byte buffer (RFC 7323 §2.3).
uint8_t tcp_pick_rscale(size_t rcv_hiwat);

// tcp_ctlinput.cc: an ICMP error quoting a TCP segment (`quoted`: its IP
// header and at least 8 bytes, validated by icmp_notify). `next_mtu` is the
// Fragmentation Needed MTU (0 from routers older than RFC 1191).
void tcp_ctlinput(Stack& stack, uint8_t type, uint8_t code, uint16_t next_mtu,
                  std::span<const std::byte> quoted) noexcept;
// Lower the connection's MSS to fit `mtu` (RFC 1191 §6.3), remember it for
// the destination; true when it was lowered.
bool tcp_mtu_reduced(Stack& stack, TcpCb& tp, uint32_t mtu);

// tcp_subr.cc: buffers. Recount what the connection holds into mem_used.
void tcp_mem_account(Stack& stack, TcpCb& tp);
// Above net.inet.tcp.mem_max: no window opened, no buffer grown.
bool tcp_mem_pressure(const Stack& stack);
// The user read `n` bytes: maybe grow the receive buffer (auto-tuning).
void tcp_rcvbuf_autotune(Stack& stack, TcpCb& tp, size_t n);
// New data was acknowledged; `was_full`: the send buffer was (7/8) full
// before: maybe grow it.
void tcp_sndbuf_autotune(Stack& stack, TcpCb& tp, bool was_full);
// Send space, less under memory pressure.
size_t tcp_snd_space(const Stack& stack, const TcpCb& tp);
// The window scale to ask for: from recvbuf_max when the buffer may grow.
uint8_t tcp_rscale_for(const Stack& stack, const TcpCb& tp);
// Whether the buffers are the user's (SO_RCVBUF/SO_SNDBUF) or tunable.
bool tcp_rcvbuf_locked(const TcpCb& tp);
bool tcp_sndbuf_locked(const TcpCb& tp);
// A connection may queue this much even under pressure (Linux tcp_rmem[0]).
inline constexpr size_t kTcpMemMinPerConn = 4096;

// tcp_timer.cc
void tcp_timers_init(Stack& stack, TcpCb& tp);
void tcp_set_rexmt(Stack& stack, TcpCb& tp);  // arm at the current RTO with backoff
void tcp_rtt_update(Stack& stack, TcpCb& tp, Duration sample);
void tcp_canceltimers(TcpCb& tp);
void tcp_start_timewait(Stack& stack, TcpCb& tp);
void tcp_setpersist(Stack& stack, TcpCb& tp);
// Keepalive (RFC 9293 §3.8.4): arm the idle timer once synchronized, and
// re-arm it after SO_KEEPALIVE or TCP_KEEPIDLE changed.
void tcp_keep_start(Stack& stack, TcpCb& tp);
Duration tcp_keepidle(const Stack& stack, const TcpCb& tp);
Duration tcp_keepintvl(const Stack& stack, const TcpCb& tp);
int tcp_keepcnt(const Stack& stack, const TcpCb& tp);
// For uipc_socket.cc: SO_KEEPALIVE changed on a stream socket.
void tcp_keepalive_changed(Stack& stack, Socket& so);
// TCP_CORK's ceiling (tcp(7)): a corked partial segment leaves after it.
inline constexpr Duration kTcpCorkMax = std::chrono::milliseconds(200);

// tcp_input.cc: a passive open may be accepted: out of its listener's
// syn_q into the accept_q, the listener woken (also the end of a
// TCP_DEFER_ACCEPT wait: data came, or the time ran out).
void tcp_accept_ready(Stack& stack, TcpCb& tp);

// tcp_subr.cc
TcpSeq tcp_new_isn(Stack& stack, InAddr laddr, uint16_t lport, InAddr faddr, uint16_t fport);
uint32_t tcp_ts_offset(Stack& stack, InAddr laddr, uint16_t lport, InAddr faddr, uint16_t fport);
uint32_t tcp_now_ts(Stack& stack, const TcpCb& tp);  // TSval: milliseconds + offset
TcpCb* tcp_newcb(Stack& stack);
void tcp_hash_insert(Stack& stack, TcpCb& tp);  // into conns (4-tuple must be complete)
void tcp_port_insert(Stack& stack, TcpCb& tp);  // into by_port
TcpCb* tcp_lookup(Stack& stack, InAddr src, uint16_t sport, InAddr dst, uint16_t dport);
TcpCb* tcp_lookup_listener(Stack& stack, InAddr dst, uint16_t dport);
// Initial congestion window etc. once the MSS is known.
void tcp_mss_init(Stack& stack, TcpCb& tp, std::optional<uint16_t> peer_mss);
uint16_t tcp_mss_for_route(Stack& stack, InAddr dst, uint32_t fib);
// RFC 1191 §6.3: the learned path MTU of (dst, fib), null when none or expired.
const TcpState::PmtuEntry* tcp_pmtu_lookup(Stack& stack, InAddr dst, uint32_t fib);
void tcp_pmtu_store(Stack& stack, InAddr dst, uint32_t fib, uint32_t mtu, bool nodf);
// Drop a synchronized connection with an error (RST sent when `send_rst`).
void tcp_drop(Stack& stack, TcpCb& tp, int err, bool send_rst);
// Free a connection: timers stopped, buffers released, out of the tables,
// the socket told. The TcpCb itself is freed at the next safe point (see
// tcp_gc): callers may still read it, never act on it.
void tcp_close(Stack& stack, TcpCb& tp);
void tcp_gc(Stack& stack);
// The connection changed in a way its socket's owner may care about.
void tcp_wakeup(Stack& stack, TcpCb& tp);
// RFC 5961 §7: may this connection send a challenge ACK now?
bool tcp_challenge_ack_allowed(Stack& stack, TcpCb& tp);
void tcp_register_sysctls(Stack& stack);
// Everything freed (Stack's destructor, before the pool and callouts go).
void tcp_destroy_all(Stack& stack) noexcept;

// tcp_usrreq.cc: the socket-level calls (see core/stack.hh for the contract).
Result<void, Errno> tcp_attach(Stack& stack, Socket& so);
Result<void, Errno> tcp_bind(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> tcp_listen(Stack& stack, Socket& so, int backlog);
Result<void, Errno> tcp_connect(Stack& stack, Socket& so, const SockAddr& addr);
Result<void, Errno> tcp_shutdown(Stack& stack, Socket& so, int how);
void tcp_detach(Stack& stack, Socket& so);  // the user closed the socket
Result<void, Errno> tcp_setsockopt(Stack& stack, Socket& so, int level, int name,
                                   std::span<const std::byte> val);
Result<std::vector<std::byte>, Errno> tcp_getsockopt(Stack& stack, Socket& so, int level, int name);

}  // namespace iopkt
