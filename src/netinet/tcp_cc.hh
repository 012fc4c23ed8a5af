// netinet/tcp_cc.hh — congestion control as a small interface, as Linux's
// tcp_congestion_ops and FreeBSD's cc(4): the core of TCP decides when a
// window grows (an ACK of new data outside recovery) or shrinks (a loss
// detected by duplicate ACKs or SACK, a retransmission timeout); the
// algorithm decides by how much. Two algorithms: NewReno (RFC 5681 §3.1,
// RFC 6582) and CUBIC (RFC 9438, the default as on Linux). A socket picks
// one with TCP_CONGESTION; net.inet.tcp.congestion sets the default.
//
// Windows are bytes (TcpCb::cwnd, ssthresh); CUBIC's formulas (RFC 9438
// §4.2) are in segments of SMSS and seconds, converted here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kern/time.hh"

namespace iopkt {

class TcpCb;

// CUBIC's per-connection variables (RFC 9438 §4.1.2), in segments.
struct TcpCubicState {
  double w_max = 0;          // W_max: the window before the last reduction (0: none yet)
  double k = 0;              // K: seconds from the epoch until W_cubic reaches W_max
  double w_est = 0;          // W_est: the Reno-friendly estimate (§4.3)
  double cwnd_prior = 0;     // cwnd_prior: the window before the last reduction
  bool epoch_valid = false;  // a congestion-avoidance stage has begun
  Instant epoch{};           // t_epoch: when it began
  double frac = 0;           // bytes of growth not yet added to cwnd (fractions of a byte)
};

class TcpCongestionControl {
 public:
  virtual ~TcpCongestionControl() = default;
  // The name TCP_CONGESTION and net.inet.tcp.congestion use (as Linux).
  virtual std::string_view name() const = 0;
  // The connection starts with the algorithm, or switches to it.
  virtual void init(TcpCb& tp) const = 0;
  // `acked` bytes of new data were acknowledged outside recovery at `now`:
  // slow start below ssthresh, else congestion avoidance.
  virtual void on_ack(Instant now, TcpCb& tp, uint32_t acked) const = 0;
  // A loss found by duplicate ACKs or SACK (entering fast recovery): sets
  // ssthresh; the caller sets cwnd from it (RFC 5681 §3.2, RFC 6675 §5).
  virtual void on_loss(Instant now, TcpCb& tp) const = 0;
  // A retransmission timeout: sets ssthresh; the caller sets cwnd to one
  // segment (RFC 5681 §3.1 eq. 4).
  virtual void on_rto(Instant now, TcpCb& tp) const = 0;
};

const TcpCongestionControl& tcp_cc_newreno();
const TcpCongestionControl& tcp_cc_cubic();
// By name ("reno", "cubic"); null when unknown (ENOENT, as Linux).
const TcpCongestionControl* tcp_cc_find(std::string_view name);
// Every algorithm, for net.inet.tcp.available_congestion_control.
std::span<const TcpCongestionControl* const> tcp_cc_all();

// Longest name with its NUL (Linux TCP_CA_NAME_MAX): what getsockopt
// TCP_CONGESTION returns.
inline constexpr size_t kTcpCaNameMax = 16;

// RFC 9438 §4.2 and §4.6 constants.
inline constexpr double kCubicC = 0.4;     // segments / s^3
inline constexpr double kCubicBeta = 0.7;  // multiplicative decrease factor

}  // namespace iopkt
