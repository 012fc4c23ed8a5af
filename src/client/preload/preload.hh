// client/preload/preload.hh — what the preload library's files share.
#pragma once

#include <atomic>

namespace iopkt::preload {

// One of libc's functions that this library replaces, found on first use
// with dlsym(RTLD_NEXT) rather than in a constructor: another library's
// constructor may make a socket before this one's runs.
struct RealFn {
  const char* name;
  std::atomic<void*> ptr{nullptr};
};
void* next_symbol(RealFn& fn);
template <typename F>
F real(RealFn& fn) {
  return reinterpret_cast<F>(next_symbol(fn));
}

// Set while this thread runs libiopkt's code: the socket calls libiopkt
// makes then go to libc (see preload.cc).
extern thread_local int t_inside __attribute__((tls_model("initial-exec")));

// Marks the calling thread as inside libiopkt for its lifetime.
class Inside {
 public:
  Inside() : saved_(t_inside) { t_inside = 1; }
  ~Inside() { t_inside = saved_; }
  Inside(const Inside&) = delete;
  Inside& operator=(const Inside&) = delete;

 private:
  int saved_;
};

// Whether `fd` is a stack socket (recognising an inherited one on first
// use); its type (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW) in *type if not null.
// False inside libiopkt.
bool stack_socket(int fd, int* type);

// SIOCGIF* on stack socket `fd`, answered from the stack's interfaces
// (ifreq.cc). False when `request` is not one of them (the caller passes it
// to the channel); otherwise *result is ioctl's return value (errno set).
bool interface_ioctl(int fd, unsigned long request, void* arg, int* result);

}  // namespace iopkt::preload

// --- The stack's interfaces: ifreq.cc's lists, also ifaddrs.cc's ------------
#include <vector>

#include "iopkt/control.h"

namespace iopkt::preload {

// Whether this process keeps the kernel's sockets: an io-pkt started under
// iopkt-run (preload.cc).
bool passthrough();

// The stack's interfaces (all, or the one named; ENODEV for a name it does
// not know) and the IPv4 addresses of interface `name` ("" = all), in the
// stack's order. False with errno set when the stack cannot be asked.
bool list_ifs(const char* name, std::vector<iopkt_ctl_if_info>* out);
bool list_addrs(const char* name, std::vector<iopkt_ctl_ifaddr>* out);

// An interface's IOPKT_IFF_* and carrier as Linux's IFF_* (IFF_LOWER_UP too).
unsigned linux_flags(const iopkt_ctl_if_info& i);

}  // namespace iopkt::preload
