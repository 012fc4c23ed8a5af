// netinet/tcp_syncookie.cc — SYN cookies (RFC 4987 §3.6; D. J. Bernstein's
// scheme as FreeBSD's tcp_syncache.c and Linux's syncookies.c use it). A
// listener whose queues are full answers a SYN with a SYN,ACK whose ISN is
// a cookie and keeps nothing; the ACK that returns it (SEG.ACK - 1) is
// checked and made into a connection (tcp_input.cc).
//
// The cookie's 32 bits, low to high:
//   0-2   MSS: index into kMssTable, the largest entry not above the peer's
//   3-6   window scale: 0 none, else the peer's shift + 1 (RFC 7323 §2.3)
//   7     SACK permitted (RFC 2018 §2)
//   8     parity of the time slot the cookie was made in
//   9-31  MAC: 23 bits of a keyed PRF of the 4-tuple, the slot, the peer's
//         ISN and bits 0-8, so that none of them can be forged or reused
// As FreeBSD, the options live in the cookie itself, not in the timestamp
// (Linux's way), so peers without timestamps keep scaling and SACK. A
// forger has one chance in 2^23 per ACK; the listener only checks ACKs
// while it is sending cookies (TcpCb::syncookie_last).
#include <algorithm>
#include <cstring>

#include "core/stack.hh"
#include "kern/chacha20.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// FreeBSD's tcp_sc_msstab with 64 (our floor, tcp_mss_init) in front of
// 216, so that a peer offering less is never sent more than it asked for.
constexpr std::array<uint16_t, 8> kMssTable{64, 536, 1200, 1360, 1400, 1440, 1452, 1460};

constexpr uint32_t kWsShift = 3;
constexpr uint32_t kSackBit = 1u << 7;
constexpr uint32_t kParityBit = 1u << 8;
constexpr uint32_t kMacShift = 9;
constexpr uint32_t kParamMask = (1u << kMacShift) - 1;
constexpr uint32_t kMacMask = (1u << (32 - kMacShift)) - 1;

uint32_t tcp_syncookie_slot(const Stack& stack) {
  return static_cast<uint32_t>(stack.now().since_origin / kTcpSyncookieSlot);
}

// The MAC: ChaCha20 as a PRF (RFC 8439 §2.3), keyed by the secret. The
// first block, over the 4-tuple (nonce) and the slot (counter), yields a
// per-tuple key; the second, under that key, covers the peer's ISN and the
// parameter bits. Two blocks because one block's 128 input bits cannot
// hold all 169.
uint32_t tcp_syncookie_mac(Stack& stack, InAddr laddr, uint16_t lport, InAddr faddr, uint16_t fport,
                           uint32_t slot, TcpSeq irs, uint32_t params) {
  TcpState& t = stack.tcp;
  if (!t.syncookie_secret_set) {
    stack.random().fill(t.syncookie_secret);
    t.syncookie_secret_set = true;
  }
  std::array<std::byte, 12> nonce{};
  store_be32(nonce, 0, laddr.v);
  store_be32(nonce, 4, faddr.v);
  store_be16(nonce, 8, lport);
  store_be16(nonce, 10, fport);
  std::array<uint8_t, 64> block{};
  chacha20_block(chacha20_state(t.syncookie_secret, slot, nonce), block);
  std::array<std::byte, 32> key{};
  std::memcpy(key.data(), block.data(), key.size());
  std::array<std::byte, 12> nonce2{};
  store_be32(nonce2, 0, irs.v);
  store_be32(nonce2, 4, params);
  chacha20_block(chacha20_state(key, 0, nonce2), block);
  uint32_t w;
  std::memcpy(&w, block.data(), sizeof w);
  return w & kMacMask;
}

}  // namespace

void tcp_syncookie_send(Stack& stack, TcpCb& lp, InAddr laddr, uint16_t lport, InAddr faddr,
                        uint16_t fport, TcpSeq irs, const TcpOptions& syn) {
  TcpState& t = stack.tcp;
  // What the peer offered, as far as this listener would use it (the same
  // knobs as tcp_input_listen's embryo).
  uint16_t peer_mss = syn.mss.value_or(static_cast<uint16_t>(t.mssdflt));
  uint32_t mss_idx = 0;
  for (uint32_t i = 0; i < kMssTable.size(); ++i) {
    if (kMssTable[i] <= peer_mss) {
      mss_idx = i;
    }
  }
  const bool ws = lp.req_ws && t.do_ws != 0 && syn.wscale.has_value();
  const bool sack = lp.req_sack && t.do_sack != 0 && syn.sack_permitted;
  const bool ts = lp.req_ts && t.do_ts != 0 && syn.timestamp.has_value();
  const uint32_t slot = tcp_syncookie_slot(stack);
  uint32_t params = mss_idx;
  if (ws) {
    params |= (uint32_t{std::min(*syn.wscale, kTcpMaxWscale)} + 1) << kWsShift;
  }
  if (sack) {
    params |= kSackBit;
  }
  if (slot & 1) {
    params |= kParityBit;
  }
  const uint32_t mac = tcp_syncookie_mac(stack, laddr, lport, faddr, fport, slot, irs, params);

  const size_t rcv_hiwat = lp.so != nullptr ? lp.so->rcv_hiwat : lp.rcv_hiwat;
  const uint32_t fib = lp.so != nullptr ? lp.so->fib : lp.fib;
  TcpFields f;
  f.src_port = lport;
  f.dst_port = fport;
  f.seq = TcpSeq{mac << kMacShift | params};
  f.ack = irs + 1;
  f.flags = kTcpSyn | kTcpAck;
  // RFC 7323 §2.2: a SYN's window is never scaled.
  f.window = static_cast<uint16_t>(std::min<size_t>(rcv_hiwat, 65535));
  f.options.mss = tcp_mss_for_route(stack, faddr, fib);
  if (ws) {
    f.options.wscale = tcp_pick_rscale(rcv_hiwat);
  }
  f.options.sack_permitted = sack;
  if (ts) {
    // The TSval the connection will go on with (tcp_now_ts): the offset is
    // a function of the 4-tuple, so it needs no state either.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(stack.now().since_origin);
    uint32_t val =
        static_cast<uint32_t>(ms.count()) + tcp_ts_offset(stack, laddr, lport, faddr, fport);
    f.options.timestamp = TcpOptions::Timestamp{val, syn.timestamp->val};
  }
  ++t.stat.syncookies_sent;
  lp.syncookie_last = stack.now();
  tcp_respond_fields(stack, laddr, faddr, f, fib);
}

std::optional<TcpSyncookie> tcp_syncookie_check(Stack& stack, InAddr laddr, uint16_t lport,
                                                InAddr faddr, uint16_t fport, TcpSeq irs,
                                                TcpSeq cookie) {
  const uint32_t params = cookie.v & kParamMask;
  const uint32_t now_slot = tcp_syncookie_slot(stack);
  // The parity bit names the slot: this one or the one before. A cookie
  // two slots old has this slot's parity and fails the MAC: a cookie lives
  // between one and two slots.
  const bool same_parity = ((params & kParityBit) != 0) == ((now_slot & 1) != 0);
  const uint32_t slot = same_parity ? now_slot : now_slot - 1;
  if (tcp_syncookie_mac(stack, laddr, lport, faddr, fport, slot, irs, params) !=
      cookie.v >> kMacShift) {
    return std::nullopt;
  }
  TcpSyncookie c;
  c.mss = kMssTable[params & 7];
  uint32_t ws = (params >> kWsShift) & 0xf;
  if (ws != 0) {
    c.wscale = static_cast<uint8_t>(ws - 1);
  }
  c.sack_permitted = (params & kSackBit) != 0;
  return c;
}

}  // namespace iopkt
