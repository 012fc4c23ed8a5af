// client/libiopkt/addr.cc — sockaddr_in / sockaddr_in6 <-> iopkt_ctl_addr
// (control.h: port in host order, AF_INET address in the first 4 bytes).
// Length and family checks follow Linux's inet_bind/inet6_bind: a buffer
// too short for its family is EINVAL, an unknown family EAFNOSUPPORT.
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "client/libiopkt/internal.hh"
#include "iopkt/iopkt.h"

namespace {

// RFC 2133's sockaddr_in6 had no sin6_scope_id; Linux still accepts that
// length (SIN6_LEN_RFC2133), reading the scope as 0.
constexpr socklen_t kSin6LenRfc2133 = 24;

}  // namespace

extern "C" {

int iopkt_sockaddr_to_ctl(const struct sockaddr* sa, socklen_t len, struct iopkt_ctl_addr* out) {
  using iopkt::client::fail;
  if (sa == nullptr || out == nullptr) {
    return fail(EFAULT);
  }
  if (len < static_cast<socklen_t>(sizeof(sa_family_t))) {
    return fail(EINVAL);
  }
  *out = iopkt_ctl_addr{};
  sa_family_t family;
  memcpy(&family, &sa->sa_family, sizeof family);
  switch (family) {
    case AF_UNSPEC:
      return 0;
    case AF_INET: {
      if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) {
        return fail(EINVAL);
      }
      sockaddr_in sin;
      memcpy(&sin, sa, sizeof sin);
      out->family = AF_INET;
      out->port = ntohs(sin.sin_port);
      memcpy(out->addr, &sin.sin_addr, 4);
      return 0;
    }
    case AF_INET6: {
      if (len < kSin6LenRfc2133) {
        return fail(EINVAL);
      }
      sockaddr_in6 sin6{};
      memcpy(&sin6, sa, len < sizeof sin6 ? len : sizeof sin6);
      out->family = AF_INET6;
      out->port = ntohs(sin6.sin6_port);
      out->flowinfo = ntohl(sin6.sin6_flowinfo);
      out->scope_id = sin6.sin6_scope_id;
      memcpy(out->addr, &sin6.sin6_addr, 16);
      return 0;
    }
    default:
      return fail(EAFNOSUPPORT);
  }
}

int iopkt_ctl_to_sockaddr(const struct iopkt_ctl_addr* in, struct sockaddr_storage* ss,
                          socklen_t* len) {
  using iopkt::client::fail;
  if (in == nullptr || ss == nullptr || len == nullptr) {
    return fail(EFAULT);
  }
  memset(ss, 0, sizeof *ss);
  switch (in->family) {
    case AF_UNSPEC:
      *len = 0;
      return 0;
    case AF_INET: {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(in->port);
      memcpy(&sin.sin_addr, in->addr, 4);
      memcpy(ss, &sin, sizeof sin);
      *len = sizeof sin;
      return 0;
    }
    case AF_INET6: {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_port = htons(in->port);
      sin6.sin6_flowinfo = htonl(in->flowinfo);
      sin6.sin6_scope_id = in->scope_id;
      memcpy(&sin6.sin6_addr, in->addr, 16);
      memcpy(ss, &sin6, sizeof sin6);
      *len = sizeof sin6;
      return 0;
    }
    default:
      return fail(EAFNOSUPPORT);
  }
}

}  // extern "C"
