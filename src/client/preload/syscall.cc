// client/preload/syscall.cc — syscall(3) for the two socket calls libuv
// makes through it. libuv before 1.45 (Debian 12's 1.44, under BIND 9.18's
// dig) sends and receives datagrams with syscall(SYS_sendmmsg, …) and
// syscall(SYS_recvmmsg, …) rather than libc's functions: on a stack UDP
// socket those would write a bare payload into the channel, which carries
// a header before each datagram (docs/preload.md, "How it works"), and
// read the headers as payload. syscall() is libc's function, so it can be
// defined here: those two numbers go to this library's sendmmsg and
// recvmmsg (preload.cc), which hand stack sockets to libiopkt and the rest
// to libc; every other number goes to libc's syscall() unchanged.
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include "client/preload/preload.hh"

namespace iopkt::preload {
namespace {
RealFn r_syscall{"syscall"};
}  // namespace
}  // namespace iopkt::preload

namespace ip = iopkt::preload;

extern "C" long syscall(long number, ...) noexcept {
  // As glibc's syscall(): six argument registers, whatever the call uses.
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& v : a) {
    v = va_arg(ap, long);
  }
  va_end(ap);
  if (number == SYS_sendmmsg) {
    return sendmmsg(static_cast<int>(a[0]), reinterpret_cast<mmsghdr*>(a[1]),
                    static_cast<unsigned int>(a[2]), static_cast<int>(a[3]));
  }
  if (number == SYS_recvmmsg) {
    return recvmmsg(static_cast<int>(a[0]), reinterpret_cast<mmsghdr*>(a[1]),
                    static_cast<unsigned int>(a[2]), static_cast<int>(a[3]),
                    reinterpret_cast<timespec*>(a[4]));
  }
  using SyscallFn = long (*)(long, ...);
  return ip::real<SyscallFn>(ip::r_syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
