// manager/thread.hh — the manager's threads: named, with the stack size
// (`stacksize`), guard page (`stackguard`) and QNX priority (`rx_prio`,
// `timer_pulse_prio`, -P) that io-pkt's options ask for (SPEC §1, §5).
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "kern/result.hh"

namespace iopkt {

struct ThreadOptions {
  std::string name;         // pthread name, cut to 15 characters; "" keeps the default
  size_t stack_size = 0;    // 0: the default; else rounded up to the page
                            // size and to at least PTHREAD_STACK_MIN
  bool guard_page = false;  // stackguard: one guard page below the stack.
                            // Without it a sized stack gets none (as io-pkt
                            // without stackguard); a default one keeps glibc's.
  int qnx_priority = 0;     // 0: inherit the creator's scheduling
};

class Thread {
 public:
  // Starts fn on a new thread. Returns once the thread runs and has applied
  // its name and priority, so applied_priority() is already valid. An
  // exception escaping fn terminates the process, as with std::thread.
  static Result<Thread, std::string> start(ThreadOptions options, std::function<void()> fn);

  Thread() = default;
  Thread(Thread&& other) noexcept;
  Thread& operator=(Thread&& other) noexcept;  // joins the thread it replaces
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  ~Thread();  // joins

  void join();
  bool joinable() const { return joinable_; }
  // What apply_thread_priority() reported ("SCHED_RR 21", "nice 0"...), or
  // "" when the priority was inherited.
  std::string applied_priority() const;
  pthread_t native_handle() const { return tid_; }

 private:
  struct Shared;
  static void* trampoline(void* raw);
  pthread_t tid_{};
  bool joinable_ = false;
  std::shared_ptr<Shared> shared_;
};

// Runs fn on a fresh thread with a stack of stack_size bytes and waits for
// it (`bigstack`: drivers are loaded on a larger stack than the caller's).
// The thread takes the caller's name. An exception from fn is rethrown here.
Result<void, std::string> run_on_stack(size_t stack_size, std::function<void()> fn);

}  // namespace iopkt
