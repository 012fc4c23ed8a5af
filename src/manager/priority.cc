// manager/priority.cc — QNX thread priorities on Linux; see priority.hh.
#include "manager/priority.hh"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace iopkt {

int qnx_priority_to_rr(int qnx_priority) { return std::clamp(qnx_priority, 1, 99); }

int qnx_priority_to_nice(int qnx_priority) {
  int qnx = std::clamp(qnx_priority, kMinQnxPriority, kMaxQnxPriority);
  return std::clamp((kDefaultQnxPriority - qnx) / 4, -20, 19);
}

std::string apply_thread_priority(int qnx_priority, bool allow_realtime) {
  int qnx = std::clamp(qnx_priority, kMinQnxPriority, kMaxQnxPriority);
  if (allow_realtime) {
    sched_param sp{};
    sp.sched_priority = qnx_priority_to_rr(qnx);
    // EPERM without CAP_SYS_NICE or a large enough RLIMIT_RTPRIO; then nice.
    if (pthread_setschedparam(pthread_self(), SCHED_RR, &sp) == 0) {
      return "SCHED_RR " + std::to_string(sp.sched_priority);
    }
  } else {
    // A thread that inherited SCHED_RR/FIFO would ignore nice: make it a
    // normal thread first. Leaving real-time is always permitted.
    int policy = SCHED_OTHER;
    sched_param cur{};
    if (pthread_getschedparam(pthread_self(), &policy, &cur) == 0 && policy != SCHED_OTHER) {
      sched_param sp{};
      sp.sched_priority = 0;
      pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
    }
  }
  int want = qnx_priority_to_nice(qnx);
  // On Linux nice is per thread: PRIO_PROCESS with a thread id.
  id_t tid = static_cast<id_t>(gettid());
  if (setpriority(PRIO_PROCESS, tid, want) == 0) {
    return "nice " + std::to_string(want);
  }
  errno = 0;
  int now = getpriority(PRIO_PROCESS, tid);
  return "nice " + std::to_string(now) + " (requested " + std::to_string(want) + ", not permitted)";
}

}  // namespace iopkt
