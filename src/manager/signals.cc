// manager/signals.cc — termination and fatal signals; see signals.hh.
//
// The fatal handler may only use async-signal-safe calls (signal-safety(7)):
// write, send, read, getpid, sigaction, raise. backtrace() is not listed but
// is safe once libgcc is loaded, which install_fatal_handlers() forces by
// calling it once; backtrace_symbols_fd() writes without malloc. syslog()
// locks and allocates, so the handler sends preformatted RFC 3164 datagrams
// ("<PRI>TAG[PID]: MSG") to a socket connected at install time.
#include "manager/signals.hh"

#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace iopkt {
namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
constexpr int kMaxFrames = 64;
// Big enough for backtrace() and our formatting; SIGSTKSZ is too small for
// the unwinder on some systems.
constexpr size_t kAltStackSize = 64 * 1024;

struct QuiesceSlot {
  std::atomic<int> state{0};  // 0 free, 1 taken
  std::atomic<void*> arg{nullptr};
  std::atomic<void (*)(void*)> fn{nullptr};
};
QuiesceSlot g_quiesce[kMaxQuiesce];

std::atomic<bool> g_installed{false};
int g_log_fd = -1;         // datagram socket connected to the syslog socket
int g_pipe[2] = {-1, -1};  // backtrace_symbols_fd() writes here, we read lines
// Only the first faulting thread reports; a second fault elsewhere waits.
std::atomic<int> g_in_handler{0};

// --- async-signal-safe formatting -------------------------------------------

struct Line {
  char buf[512];
  size_t len = 0;
  void add(const char* s) {
    while (*s != '\0' && len < sizeof buf - 1) {
      buf[len++] = *s++;
    }
  }
  void add(const char* s, size_t n) {
    for (size_t i = 0; i < n && len < sizeof buf - 1; ++i) {
      buf[len++] = s[i];
    }
  }
  void add_dec(long v) {
    char tmp[24];
    int n = 0;
    bool neg = v < 0;
    unsigned long u = neg ? 0UL - static_cast<unsigned long>(v) : static_cast<unsigned long>(v);
    do {
      tmp[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (neg) {
      tmp[n++] = '-';
    }
    while (n > 0 && len < sizeof buf - 1) {
      buf[len++] = tmp[--n];
    }
  }
  void add_hex(uintptr_t v) {
    add("0x");
    char tmp[20];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 0xf];
      v >>= 4;
    } while (v != 0);
    while (n > 0 && len < sizeof buf - 1) {
      buf[len++] = tmp[--n];
    }
  }
};

void write_fd(int fd, const char* p, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

// One line to stderr ("io-pkt: MSG\n") and one datagram to syslog.
void report(const char* msg, size_t len) {
  Line out;
  out.add("io-pkt: ");
  out.add(msg, len);
  out.add("\n");
  write_fd(STDERR_FILENO, out.buf, out.len);
  if (g_log_fd >= 0) {
    Line dgram;
    dgram.add("<");
    dgram.add_dec(LOG_DAEMON | LOG_CRIT);
    dgram.add(">io-pkt[");
    dgram.add_dec(getpid());
    dgram.add("]: ");
    dgram.add(msg, len);
    (void)::send(g_log_fd, dgram.buf, dgram.len, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGILL:
      return "SIGILL";
    case SIGFPE:
      return "SIGFPE";
    default:
      return "signal";
  }
}

void report_backtrace() {
  void* frames[kMaxFrames];
  int n = backtrace(frames, kMaxFrames);
  Line head;
  head.add("backtrace (");
  head.add_dec(n);
  head.add(" frames):");
  report(head.buf, head.len);
  if (g_pipe[1] < 0) {
    for (int i = 0; i < n; ++i) {
      Line l;
      l.add("  #");
      l.add_dec(i);
      l.add(" ");
      l.add_hex(reinterpret_cast<uintptr_t>(frames[i]));
      report(l.buf, l.len);
    }
    return;
  }
  // backtrace_symbols_fd() resolves names without malloc; route its output
  // through the pipe to split it into lines for syslog. A frame's line is
  // short, 64 of them fit the pipe.
  backtrace_symbols_fd(frames, n, g_pipe[1]);
  char buf[512];
  size_t have = 0;
  int frame = 0;
  for (;;) {
    ssize_t r = ::read(g_pipe[0], buf + have, sizeof buf - have);
    if (r <= 0) {
      break;  // non-blocking: drained
    }
    have += static_cast<size_t>(r);
    size_t start = 0;
    for (size_t i = 0; i < have; ++i) {
      if (buf[i] == '\n') {
        Line l;
        l.add("  #");
        l.add_dec(frame++);
        l.add(" ");
        l.add(buf + start, i - start);
        report(l.buf, l.len);
        start = i + 1;
      }
    }
    if (start == 0 && have == sizeof buf) {
      start = have;  // an absurdly long line: drop it
    }
    memmove(buf, buf + start, have - start);
    have -= start;
  }
}

void fatal_handler(int sig, siginfo_t* info, void* /*ucontext*/) {
  int saved_errno = errno;
  if (g_in_handler.fetch_add(1) == 0) {
    Line l;
    l.add("fatal signal ");
    l.add_dec(sig);
    l.add(" (");
    l.add(signal_name(sig));
    l.add(") at address ");
    l.add_hex(reinterpret_cast<uintptr_t>(info != nullptr ? info->si_addr : nullptr));
    l.add("; quiescing drivers");
    report(l.buf, l.len);
    for (auto& slot : g_quiesce) {
      void (*fn)(void*) = slot.fn.load(std::memory_order_acquire);
      void* arg = slot.arg.load(std::memory_order_acquire);
      if (fn != nullptr) {
        fn(arg);
      }
    }
    report_backtrace();
  } else {
    // Another thread is reporting; let it finish before we die.
    for (int i = 0; i < 50 && g_in_handler.load() != 0; ++i) {
      timespec ts{0, 20 * 1000000L};
      nanosleep(&ts, nullptr);
    }
  }
  // Die of the signal so that the exit status and core dump tell the truth.
  // The signal is blocked while we run; the re-raised one is delivered with
  // the default action as soon as the handler returns (for a fault, before
  // the faulting instruction is retried).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  errno = saved_errno;
  raise(sig);
}

}  // namespace

int termination_signalfd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  int err = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) {
    errno = err;
    return -1;
  }
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGPIPE, &ign, nullptr);
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int read_termination_signal(int fd) {
  signalfd_siginfo si{};
  for (;;) {
    ssize_t n = ::read(fd, &si, sizeof si);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n != static_cast<ssize_t>(sizeof si)) {
      return 0;
    }
    return static_cast<int>(si.ssi_signo);
  }
}

void install_fatal_handlers(bool segv_handler, const std::string& log_socket) {
  if (!segv_handler || g_installed.load()) {
    return;
  }
  // Load the unwinder now: its first use may allocate.
  void* warm[2];
  (void)backtrace(warm, 2);

  if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    g_pipe[0] = g_pipe[1] = -1;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!log_socket.empty() && log_socket.size() < sizeof addr.sun_path) {
    memcpy(addr.sun_path, log_socket.c_str(), log_socket.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);  // no syslog daemon (a container): stderr only
      fd = -1;
    }
    g_log_fd = fd;
  }

  static ThreadAltStack* main_alt = new ThreadAltStack();  // lives as long as the thread
  (void)main_alt;

  struct sigaction sa {};
  sa.sa_sigaction = fatal_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : kFatalSignals) {
    sigaddset(&sa.sa_mask, sig);  // one fatal report at a time per thread
  }
  for (int sig : kFatalSignals) {
    sigaction(sig, &sa, nullptr);
  }
  g_installed.store(true);
}

bool fatal_handlers_installed() { return g_installed.load(); }

int register_quiesce(void (*fn)(void*), void* arg) {
  for (int i = 0; i < kMaxQuiesce; ++i) {
    int expected = 0;
    if (g_quiesce[i].state.compare_exchange_strong(expected, 1)) {
      g_quiesce[i].arg.store(arg, std::memory_order_release);
      g_quiesce[i].fn.store(fn, std::memory_order_release);
      return i;
    }
  }
  return -1;
}

void unregister_quiesce(int id) {
  if (id < 0 || id >= kMaxQuiesce) {
    return;
  }
  g_quiesce[id].fn.store(nullptr, std::memory_order_release);
  g_quiesce[id].arg.store(nullptr, std::memory_order_release);
  g_quiesce[id].state.store(0, std::memory_order_release);
}

ThreadAltStack::ThreadAltStack() {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t min = static_cast<size_t>(sysconf(_SC_MINSIGSTKSZ));
  size_t size = kAltStackSize > min ? kAltStackSize : min;
  size = (size + page - 1) / page * page;
  // A guard page below, so that overflowing the alternate stack faults
  // rather than corrupting memory.
  void* mem =
      mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    return;
  }
  mprotect(mem, page, PROT_NONE);
  stack_t ss{};
  ss.ss_sp = static_cast<char*>(mem) + page;
  ss.ss_size = size;
  if (sigaltstack(&ss, nullptr) != 0) {
    munmap(mem, size + page);
    return;
  }
  mem_ = mem;
  size_ = size + page;
}

ThreadAltStack::~ThreadAltStack() {
  if (mem_ == nullptr) {
    return;
  }
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(mem_, size_);
}

}  // namespace iopkt
