// manager/thread.cc — the manager's threads; see thread.hh.
#include "manager/thread.hh"

#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>

#include "manager/priority.hh"
#include "manager/signals.hh"

namespace iopkt {

struct Thread::Shared {
  ThreadOptions options;
  std::function<void()> fn;
  std::mutex mu;
  std::condition_variable cv;
  bool started = false;
  std::string applied;
};

void* Thread::trampoline(void* raw) {
  // The creator keeps its reference until it has seen `started`.
  std::shared_ptr<Thread::Shared>* holder = static_cast<std::shared_ptr<Thread::Shared>*>(raw);
  std::shared_ptr<Thread::Shared> shared = std::move(*holder);
  delete holder;

  // Alternate signal stacks are per thread and not inherited: without one
  // a stack overflow here would never reach the fatal handler.
  std::unique_ptr<ThreadAltStack> alt;
  if (fatal_handlers_installed()) {
    alt = std::make_unique<ThreadAltStack>();
  }
  if (!shared->options.name.empty()) {
    std::string name = shared->options.name.substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
  }
  std::string applied;
  if (shared->options.qnx_priority != 0) {
    applied = apply_thread_priority(shared->options.qnx_priority);
  }
  std::function<void()> fn = std::move(shared->fn);
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->applied = applied;
    shared->started = true;
  }
  shared->cv.notify_all();
  fn();
  return nullptr;
}

namespace {

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace

Result<Thread, std::string> Thread::start(ThreadOptions options, std::function<void()> fn) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) {
    return Err(std::string("pthread_attr_init failed"));
  }
  size_t page = page_size();
  int err = 0;
  if (options.stack_size != 0) {
    size_t size = (options.stack_size + page - 1) / page * page;
    if (size < static_cast<size_t>(PTHREAD_STACK_MIN)) {
      size = static_cast<size_t>(PTHREAD_STACK_MIN);
    }
    err = pthread_attr_setstacksize(&attr, size);
  }
  if (err == 0 && (options.guard_page || options.stack_size != 0)) {
    err = pthread_attr_setguardsize(&attr, options.guard_page ? page : 0);
  }
  if (err != 0) {
    pthread_attr_destroy(&attr);
    return Err("thread " + options.name + ": stack attributes: " + strerror(err));
  }
  auto shared = std::make_shared<Shared>();
  shared->options = std::move(options);
  shared->fn = std::move(fn);
  auto* holder = new std::shared_ptr<Shared>(shared);
  pthread_t tid{};
  err = pthread_create(&tid, &attr, trampoline, holder);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    delete holder;
    return Err("cannot start thread " + shared->options.name + ": " + strerror(err));
  }
  {
    std::unique_lock<std::mutex> lock(shared->mu);
    shared->cv.wait(lock, [&] { return shared->started; });
  }
  Thread t;
  t.tid_ = tid;
  t.joinable_ = true;
  t.shared_ = std::move(shared);
  return t;
}

Thread::Thread(Thread&& other) noexcept
    : tid_(other.tid_), joinable_(other.joinable_), shared_(std::move(other.shared_)) {
  other.joinable_ = false;
}

Thread& Thread::operator=(Thread&& other) noexcept {
  if (this != &other) {
    join();
    tid_ = other.tid_;
    joinable_ = other.joinable_;
    shared_ = std::move(other.shared_);
    other.joinable_ = false;
  }
  return *this;
}

Thread::~Thread() { join(); }

void Thread::join() {
  if (!joinable_) {
    return;
  }
  pthread_join(tid_, nullptr);
  joinable_ = false;
}

std::string Thread::applied_priority() const {
  if (!shared_) {
    return {};
  }
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->applied;
}

Result<void, std::string> run_on_stack(size_t stack_size, std::function<void()> fn) {
  ThreadOptions opts;
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof name) == 0) {
    opts.name = name;
  }
  opts.stack_size = stack_size;
  opts.guard_page = true;  // a deep driver init that overflows should fault, not corrupt
  std::exception_ptr error;
  auto t = Thread::start(std::move(opts), [&] {
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  if (!t) {
    return Err(t.error());
  }
  t->join();
  if (error) {
    std::rethrow_exception(error);
  }
  return {};
}

}  // namespace iopkt
