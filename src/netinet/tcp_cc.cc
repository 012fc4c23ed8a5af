// netinet/tcp_cc.cc — NewReno (RFC 5681 §3.1, RFC 6582) and CUBIC
// (RFC 9438) behind the interface of tcp_cc.hh.
#include "netinet/tcp_cc.hh"

#include <algorithm>
#include <cmath>

#include "netinet/tcp_var.hh"

namespace iopkt {

namespace {

// RFC 5681 §3.1: slow start adds at most one SMSS per ACK (eq. 2).
void slow_start(TcpCb& tp, uint32_t acked) { tp.cwnd += std::min(acked, tcp_smss(tp)); }

class NewReno final : public TcpCongestionControl {
 public:
  std::string_view name() const override { return "reno"; }
  void init(TcpCb&) const override {}
  void on_ack(Instant, TcpCb& tp, uint32_t acked) const override {
    uint32_t smss = tcp_smss(tp);
    if (tp.cwnd <= tp.ssthresh) {
      slow_start(tp, acked);
    } else {
      // RFC 5681 §3.1 eq. 3: about one SMSS per RTT.
      tp.cwnd += std::max<uint32_t>(1, smss * smss / std::max<uint32_t>(tp.cwnd, 1));
    }
  }
  void on_loss(Instant, TcpCb& tp) const override {
    // RFC 5681 §3.2 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
    tp.ssthresh = std::max(tp.flight() / 2, 2 * tcp_smss(tp));
  }
  void on_rto(Instant now, TcpCb& tp) const override { on_loss(now, tp); }
};

class Cubic final : public TcpCongestionControl {
 public:
  std::string_view name() const override { return "cubic"; }
  void init(TcpCb& tp) const override { tp.cubic = TcpCubicState{}; }

  void on_ack(Instant now, TcpCb& tp, uint32_t acked) const override {
    if (tp.cwnd < tp.ssthresh) {
      slow_start(tp, acked);  // RFC 9438 §4.10: standard slow start
      return;
    }
    TcpCubicState& c = tp.cubic;
    const double smss = tcp_smss(tp);
    const double cwnd = tp.cwnd / smss;
    if (!c.epoch_valid) {
      // §4.2: a congestion-avoidance stage begins. K from W_max and the
      // window now (cwnd_epoch); after a timeout or with no earlier
      // reduction, W_max is this window and K is 0 (§4.8).
      c.epoch_valid = true;
      c.epoch = now;
      if (cwnd < c.w_max) {
        c.k = std::cbrt((c.w_max - cwnd) / kCubicC);
      } else {
        c.k = 0;
        c.w_max = cwnd;
      }
      c.w_est = cwnd;
      if (c.cwnd_prior == 0) {
        c.cwnd_prior = cwnd;
      }
    }
    const double t = std::chrono::duration<double>(now - c.epoch).count();
    // The RTT to look ahead by: the smoothed RTT, 100 ms before a sample.
    const double rtt = tp.srtt > Duration{0} ? std::chrono::duration<double>(tp.srtt).count() : 0.1;
    const double segs_acked = acked / smss;
    // §4.3: the Reno-friendly estimate, alpha_cubic = 3(1 - beta)/(1 + beta)
    // until W_est reaches cwnd_prior, then 1.
    const double alpha = c.w_est >= c.cwnd_prior ? 1.0 : 3 * (1 - kCubicBeta) / (1 + kCubicBeta);
    c.w_est += alpha * segs_acked / cwnd;
    const double w_cubic_t = w_cubic(c, t);
    double grow;  // segments
    if (w_cubic_t < c.w_est) {
      grow = c.w_est - cwnd;  // §4.3: the Reno-friendly region
    } else {
      // §4.4 (concave) and §4.5 (convex): toward W_cubic(t + RTT), the
      // target bounded to [cwnd, 1.5 cwnd], by (target - cwnd)/cwnd per
      // segment acknowledged.
      double target = std::clamp(w_cubic(c, t + rtt), cwnd, 1.5 * cwnd);
      grow = (target - cwnd) / cwnd * segs_acked;
    }
    if (grow <= 0) {
      return;
    }
    c.frac += grow * smss;
    auto whole = static_cast<uint32_t>(std::min(c.frac, 1e9));
    c.frac -= whole;
    tp.cwnd += whole;
  }

  void on_loss(Instant, TcpCb& tp) const override {
    TcpCubicState& c = tp.cubic;
    const double smss = tcp_smss(tp);
    const double cwnd = tp.cwnd / smss;
    // §4.7 fast convergence: a reduction below the last W_max means a new
    // flow is taking its share; release more of it.
    if (c.w_max > 0 && cwnd < c.w_max) {
      c.w_max = cwnd * (1 + kCubicBeta) / 2;
    } else {
      c.w_max = cwnd;
    }
    c.cwnd_prior = cwnd;
    c.epoch_valid = false;
    c.frac = 0;
    // §4.6: ssthresh = flight_size * beta_cubic, at least 2 segments.
    auto flight = static_cast<double>(tp.flight());
    tp.ssthresh = std::max(static_cast<uint32_t>(flight * kCubicBeta), 2 * tcp_smss(tp));
  }

  void on_rto(Instant now, TcpCb& tp) const override {
    on_loss(now, tp);
    // §4.8: after a timeout the first congestion-avoidance stage uses
    // K = 0 and W_max = the window at its beginning.
    tp.cubic.w_max = 0;
  }

 private:
  // §4.2 eq. 1: W_cubic(t) = C (t - K)^3 + W_max.
  static double w_cubic(const TcpCubicState& c, double t) {
    double d = t - c.k;
    return kCubicC * d * d * d + c.w_max;
  }
};

const NewReno kNewReno;
const Cubic kCubic;
const TcpCongestionControl* const kAll[] = {&kNewReno, &kCubic};

}  // namespace

const TcpCongestionControl& tcp_cc_newreno() { return kNewReno; }
const TcpCongestionControl& tcp_cc_cubic() { return kCubic; }

const TcpCongestionControl* tcp_cc_find(std::string_view name) {
  for (const auto* cc : kAll) {
    if (cc->name() == name) {
      return cc;
    }
  }
  return nullptr;
}

std::span<const TcpCongestionControl* const> tcp_cc_all() { return kAll; }

}  // namespace iopkt
