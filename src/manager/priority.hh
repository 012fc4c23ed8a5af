// manager/priority.hh — QNX thread priorities on Linux (SPEC §5, -P,
// rx_prio, timer_pulse_prio). QNX schedules threads at priorities 1..255
// (1..63 for unprivileged ones; io-pkt runs at 21). Where the process may
// use real-time scheduling they map onto SCHED_RR 1..99, which keeps QNX's
// fixed-priority, round-robin-among-equals meaning; otherwise onto nice.
#pragma once

#include <string>

namespace iopkt {

constexpr int kDefaultQnxPriority = 21;  // io-pkt's default (-P)
constexpr int kMinQnxPriority = 1;
constexpr int kMaxQnxPriority = 255;

// SCHED_RR priority for a QNX priority: the same number, held to 1..99.
int qnx_priority_to_rr(int qnx_priority);

// Nice value for a QNX priority when real-time scheduling is not allowed:
// (21 - qnx) / 4, held to -20..19. The default 21 is nice 0; each step of
// four QNX levels is one nice step (about 1.25x CPU weight under CFS), so
// the unprivileged QNX range 1..63 spans nice 5..-10: ordered as on QNX,
// without a high-priority thread starving the rest of the machine the way
// a strict fixed-priority mapping would.
int qnx_priority_to_nice(int qnx_priority);

// Applies a QNX priority (held to 1..255) to the CALLING thread and says
// what was applied, for sysctl:
//   "SCHED_RR 21"                       real-time was allowed
//   "nice 0"                            fallback
//   "nice 0 (requested -10, not permitted)"  lowering nice needs privilege
// allow_realtime=false skips the SCHED_RR attempt (tests, and callers that
// must not take real-time priority).
std::string apply_thread_priority(int qnx_priority, bool allow_realtime = true);

}  // namespace iopkt
