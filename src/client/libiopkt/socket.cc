// client/libiopkt/socket.cc — the BSD socket calls over a stack
// (DESIGN "The client data path"). iopkt_socket() asks the stack for a
// socket and receives its data channel, a real descriptor; the calls that
// need the stack (bind, connect, names, options, shutdown) are control
// requests carrying that channel as SCM_RIGHTS, so the stack knows which
// socket is meant; datagrams cross the channel one message each, as
// struct iopkt_dgram_hdr + payload (control.h).
//
// The process keeps a table fd -> {domain, type} of the sockets it made,
// to tell stack sockets from kernel ones: descriptors not in it, and
// domains other than AF_INET/AF_INET6, go to the kernel's own calls.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "client/libiopkt/internal.hh"
#include "iopkt/iopkt.h"

namespace iopkt::client {
namespace {

struct SockInfo {
  int domain;
  int type;              // SOCK_DGRAM, SOCK_STREAM, SOCK_RAW (no flags)
  bool rd_shut = false;  // shutdown(SHUT_RD or SHUT_RDWR) succeeded
};

std::mutex g_table_mu;
std::unordered_map<int, SockInfo> g_table;  // guarded by g_table_mu

// A fork() while another thread holds g_table_mu must not leave the
// child's copy locked forever.
struct AtforkRegistrar {
  AtforkRegistrar() {
    pthread_atfork([] { g_table_mu.lock(); }, [] { g_table_mu.unlock(); },
                   [] { g_table_mu.unlock(); });
  }
} g_atfork_registrar;

bool lookup(int fd, SockInfo* out) {
  std::lock_guard lock(g_table_mu);
  auto it = g_table.find(fd);
  if (it == g_table.end()) {
    return false;
  }
  if (out != nullptr) {
    *out = it->second;
  }
  return true;
}

bool is_datagram(const SockInfo& s) { return s.type == SOCK_DGRAM || s.type == SOCK_RAW; }

// A request about socket `fd`, which travels with it.
int socket_request(int fd, uint16_t type, const void* body, uint32_t len, void* reply,
                   uint32_t* reply_len) {
  return iopkt_request(type, body, len, fd, reply, reply_len, nullptr);
}

int name_request(int fd, uint16_t type, sockaddr* addr, socklen_t* len) {
  if (addr == nullptr || len == nullptr) {
    return fail(EFAULT);
  }
  iopkt_ctl_sockaddr r{};
  uint32_t rlen = sizeof r;
  if (socket_request(fd, type, nullptr, 0, &r, &rlen) != 0) {
    return -1;
  }
  if (rlen != sizeof r) {
    return fail(EPROTO, "bad reply to request " + std::to_string(type) + ": " +
                            std::to_string(rlen) + " bytes");
  }
  sockaddr_storage ss;
  socklen_t slen;
  if (iopkt_ctl_to_sockaddr(&r.addr, &ss, &slen) != 0) {
    return fail(EPROTO, "the stack answered with address family " + std::to_string(r.addr.family));
  }
  if (slen == 0) {
    // No address (unbound, or no peer for a name the stack still answers):
    // the kernel reports the socket's own family with a zero address.
    SockInfo s{AF_INET, SOCK_DGRAM, false};
    lookup(fd, &s);
    iopkt_ctl_addr zero{};
    zero.family = static_cast<uint16_t>(s.domain);
    iopkt_ctl_to_sockaddr(&zero, &ss, &slen);
  }
  // As the kernel: copy what fits, report the full length.
  memcpy(addr, &ss, *len < slen ? *len : slen);
  *len = slen;
  return 0;
}

// SO_RCVTIMEO / SO_SNDTIMEO bound the client's own waits on the channel:
// the kernel implements them on the channel descriptor.
bool is_local_option(int level, int name) {
  return level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO);
}

ssize_t dgram_sendmsg(int fd, const msghdr* m, int flags) {
  if (m == nullptr || (m->msg_iovlen > 0 && m->msg_iov == nullptr)) {
    return fail(EFAULT);
  }
  if (m->msg_controllen > 0) {
    // TODO(ancillary data): the stack has no ancillary support yet (IPv4
    // IP_PKTINFO/IP_TOS/IP_TTL on send, then RFC 3542 for IPv6); the channel
    // has room for it (iopkt_dgram_hdr.cmsg_len). Refuse rather than send the
    // datagram without what the caller asked for.
    return fail(EOPNOTSUPP, "ancillary data on send is not supported by the stack yet");
  }
  if ((flags & MSG_OOB) != 0) {
    return fail(EOPNOTSUPP);  // as Linux UDP
  }
  if (m->msg_iovlen + 1 > IOV_MAX) {
    return fail(EMSGSIZE);
  }
  iopkt_dgram_hdr hdr{};
  hdr.version = IOPKT_DGRAM_VERSION;
  hdr.hdr_len = sizeof hdr;
  hdr.flags = static_cast<uint32_t>(flags);
  if (m->msg_name != nullptr && m->msg_namelen > 0) {
    if (iopkt_sockaddr_to_ctl(static_cast<const sockaddr*>(m->msg_name), m->msg_namelen,
                              &hdr.addr) != 0) {
      return -1;
    }
  }
  size_t total = 0;
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    total += m->msg_iov[i].iov_len;
    if (total > 65535) {
      return fail(EMSGSIZE);  // larger than any IP datagram's payload
    }
  }
  hdr.payload_len = static_cast<uint32_t>(total);

  iovec small[17];
  std::vector<iovec> big;
  iovec* iov = small;
  if (m->msg_iovlen + 1 > sizeof small / sizeof small[0]) {
    big.resize(m->msg_iovlen + 1);
    iov = big.data();
  }
  iov[0] = {&hdr, sizeof hdr};
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    iov[i + 1] = m->msg_iov[i];
  }
  msghdr km{};
  km.msg_iov = iov;
  km.msg_iovlen = m->msg_iovlen + 1;
  // MSG_NOSIGNAL: a UDP sender never gets SIGPIPE from the kernel; a stack
  // that died shows as EPIPE, what the kernel says of a socket whose peer
  // is gone, without the signal.
  ssize_t n = ::sendmsg(fd, &km, (flags & MSG_DONTWAIT) | MSG_NOSIGNAL);
  if (n < 0) {
    return -1;
  }
  return n - static_cast<ssize_t>(sizeof hdr);
}

ssize_t dgram_recvmsg(int fd, msghdr* m, int flags) {
  if (m == nullptr || (m->msg_iovlen > 0 && m->msg_iov == nullptr)) {
    return fail(EFAULT);
  }
  if ((flags & MSG_OOB) != 0) {
    return fail(EOPNOTSUPP);
  }
  if ((flags & MSG_ERRQUEUE) != 0) {
    return fail(EAGAIN);  // no error queue yet: as Linux with an empty one
  }
  if (m->msg_iovlen + 1 > IOV_MAX) {
    return fail(EMSGSIZE);
  }
  iopkt_dgram_hdr hdr{};
  iovec small[17];
  std::vector<iovec> big;
  iovec* iov = small;
  if (m->msg_iovlen + 1 > sizeof small / sizeof small[0]) {
    big.resize(m->msg_iovlen + 1);
    iov = big.data();
  }
  iov[0] = {&hdr, sizeof hdr};
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    iov[i + 1] = m->msg_iov[i];
  }
  msghdr km{};
  km.msg_iov = iov;
  km.msg_iovlen = m->msg_iovlen + 1;
  ssize_t n = ::recvmsg(fd, &km, (flags & (MSG_DONTWAIT | MSG_PEEK)) | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    return -1;
  }
  if (n == 0) {
    SockInfo s{};
    if (lookup(fd, &s) && s.rd_shut) {
      return 0;  // as Linux UDP after shutdown(SHUT_RD)
    }
    // Every datagram, even an empty one, carries a header: 0 bytes means
    // the stack closed its end (it died or dropped the socket). The kernel
    // says ECONNRESET of a socket reset under its user; a UDP socket has no
    // other way to say "gone".
    return fail(ECONNRESET, "the io-pkt stack closed this socket");
  }
  if (static_cast<size_t>(n) < sizeof hdr || hdr.version != IOPKT_DGRAM_VERSION ||
      hdr.hdr_len != sizeof hdr) {
    return fail(EPROTO, "bad datagram header from the io-pkt stack");
  }
  if (hdr.cmsg_len != 0) {
    // Version 1 of the channel never carries ancillary data to the client.
    return fail(EPROTO, "the io-pkt stack sent ancillary data this library cannot read");
  }
  size_t got = static_cast<size_t>(n) - sizeof hdr;
  size_t real = hdr.payload_len;
  if (got > real) {
    return fail(EPROTO, "datagram longer than its header says");
  }
  m->msg_flags = 0;
  if ((km.msg_flags & MSG_TRUNC) != 0 || got < real || (hdr.flags & MSG_TRUNC) != 0) {
    m->msg_flags |= MSG_TRUNC;
  }
  if (m->msg_name != nullptr) {
    sockaddr_storage ss;
    socklen_t slen = 0;
    if (iopkt_ctl_to_sockaddr(&hdr.addr, &ss, &slen) != 0) {
      slen = 0;
    }
    memcpy(m->msg_name, &ss, m->msg_namelen < slen ? m->msg_namelen : slen);
    m->msg_namelen = slen;
  } else {
    m->msg_namelen = 0;
  }
  m->msg_controllen = 0;
  return static_cast<ssize_t>((flags & MSG_TRUNC) != 0 ? real : got);
}

}  // namespace
}  // namespace iopkt::client

using iopkt::client::fail;
using iopkt::client::lookup;
using iopkt::client::SockInfo;

extern "C" {

int iopkt_socket(int domain, int type, int protocol) {
  using namespace iopkt::client;
  if (domain != AF_INET && domain != AF_INET6) {
    return ::socket(domain, type, protocol);
  }
  int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
  int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  iopkt_ctl_socket req{};
  req.domain = domain;
  req.type = base;
  req.protocol = protocol;
  int fd = -1;
  uint32_t rlen = 0;
  if (iopkt_request(IOPKT_CTL_SOCKET, &req, sizeof req, -1, nullptr, &rlen, &fd) != 0) {
    return -1;
  }
  if (fd < 0) {
    return fail(EPROTO, "the io-pkt stack made a socket but sent no channel");
  }
  // The channel arrived close-on-exec (MSG_CMSG_CLOEXEC, so that no exec in
  // another thread inherits it meanwhile); clear it unless asked for.
  if ((flags & SOCK_CLOEXEC) == 0 && fcntl(fd, F_SETFD, 0) != 0) {
    int err = errno;
    ::close(fd);
    return fail(err);
  }
  if ((flags & SOCK_NONBLOCK) != 0) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
      int err = errno;
      ::close(fd);
      return fail(err);
    }
  }
  std::lock_guard lock(g_table_mu);
  g_table[fd] = SockInfo{domain, base, false};
  return fd;
}

int iopkt_close(int fd) {
  {
    std::lock_guard lock(iopkt::client::g_table_mu);
    iopkt::client::g_table.erase(fd);
  }
  return ::close(fd);
}

int iopkt_is_socket(int fd, int* domain, int* type) {
  SockInfo s{};
  if (!lookup(fd, &s)) {
    return 0;
  }
  if (domain != nullptr) {
    *domain = s.domain;
  }
  if (type != nullptr) {
    *type = s.type;
  }
  return 1;
}

int iopkt_bind(int fd, const struct sockaddr* addr, socklen_t len) {
  if (!lookup(fd, nullptr)) {
    return ::bind(fd, addr, len);
  }
  iopkt_ctl_sockaddr req{};
  if (iopkt_sockaddr_to_ctl(addr, len, &req.addr) != 0) {
    return -1;
  }
  return iopkt::client::socket_request(fd, IOPKT_CTL_BIND, &req, sizeof req, nullptr, nullptr);
}

int iopkt_connect(int fd, const struct sockaddr* addr, socklen_t len) {
  if (!lookup(fd, nullptr)) {
    return ::connect(fd, addr, len);
  }
  iopkt_ctl_sockaddr req{};
  if (iopkt_sockaddr_to_ctl(addr, len, &req.addr) != 0) {
    return -1;
  }
  return iopkt::client::socket_request(fd, IOPKT_CTL_CONNECT, &req, sizeof req, nullptr, nullptr);
}

int iopkt_getsockname(int fd, struct sockaddr* addr, socklen_t* len) {
  if (!lookup(fd, nullptr)) {
    return ::getsockname(fd, addr, len);
  }
  return iopkt::client::name_request(fd, IOPKT_CTL_GETSOCKNAME, addr, len);
}

int iopkt_getpeername(int fd, struct sockaddr* addr, socklen_t* len) {
  if (!lookup(fd, nullptr)) {
    return ::getpeername(fd, addr, len);
  }
  return iopkt::client::name_request(fd, IOPKT_CTL_GETPEERNAME, addr, len);
}

int iopkt_setsockopt(int fd, int level, int name, const void* val, socklen_t len) {
  if (!lookup(fd, nullptr) || iopkt::client::is_local_option(level, name)) {
    return ::setsockopt(fd, level, name, val, len);
  }
  if (len > IOPKT_CTL_SOCKOPT_MAX) {
    return fail(EINVAL);
  }
  if (len > 0 && val == nullptr) {
    return fail(EFAULT);
  }
  iopkt_ctl_sockopt req{};
  req.level = level;
  req.name = name;
  req.len = len;
  if (len > 0) {
    memcpy(req.value, val, len);
  }
  return iopkt::client::socket_request(fd, IOPKT_CTL_SETSOCKOPT, &req, sizeof req, nullptr,
                                       nullptr);
}

int iopkt_getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  if (!lookup(fd, nullptr) || iopkt::client::is_local_option(level, name)) {
    return ::getsockopt(fd, level, name, val, len);
  }
  if (len == nullptr || (*len > 0 && val == nullptr)) {
    return fail(EFAULT);
  }
  iopkt_ctl_sockopt req{};
  req.level = level;
  req.name = name;
  req.len = *len < IOPKT_CTL_SOCKOPT_MAX ? *len : IOPKT_CTL_SOCKOPT_MAX;
  iopkt_ctl_sockopt r{};
  uint32_t rlen = sizeof r;
  if (iopkt::client::socket_request(fd, IOPKT_CTL_GETSOCKOPT, &req, sizeof req, &r, &rlen) != 0) {
    return -1;
  }
  if (rlen < offsetof(iopkt_ctl_sockopt, value) || r.len > IOPKT_CTL_SOCKOPT_MAX ||
      rlen < offsetof(iopkt_ctl_sockopt, value) + r.len) {
    return fail(EPROTO, "bad GETSOCKOPT reply from the io-pkt stack");
  }
  socklen_t n = *len < r.len ? *len : r.len;
  memcpy(val, r.value, n);
  *len = n;
  return 0;
}

int iopkt_shutdown(int fd, int how) {
  if (!lookup(fd, nullptr)) {
    return ::shutdown(fd, how);
  }
  iopkt_ctl_shutdown req{};
  req.how = how;
  if (iopkt::client::socket_request(fd, IOPKT_CTL_SHUTDOWN, &req, sizeof req, nullptr, nullptr) !=
      0) {
    return -1;
  }
  if (how == SHUT_RD || how == SHUT_RDWR) {
    std::lock_guard lock(iopkt::client::g_table_mu);
    auto it = iopkt::client::g_table.find(fd);
    if (it != iopkt::client::g_table.end()) {
      it->second.rd_shut = true;
    }
  }
  return 0;
}

ssize_t iopkt_sendmsg(int fd, const struct msghdr* msg, int flags) {
  SockInfo s{};
  if (!lookup(fd, &s) || !iopkt::client::is_datagram(s)) {
    return ::sendmsg(fd, msg, flags);
  }
  return iopkt::client::dgram_sendmsg(fd, msg, flags);
}

ssize_t iopkt_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* to,
                     socklen_t tolen) {
  SockInfo s{};
  if (!lookup(fd, &s)) {
    return ::sendto(fd, buf, len, flags, to, tolen);
  }
  if (!iopkt::client::is_datagram(s)) {
    // A stream's peer is fixed: Linux TCP ignores the address, and the
    // channel (a connected socketpair) would refuse one.
    return ::send(fd, buf, len, flags);
  }
  iovec iov{const_cast<void*>(buf), len};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(to);
  m.msg_namelen = to != nullptr ? tolen : 0;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return iopkt::client::dgram_sendmsg(fd, &m, flags);
}

ssize_t iopkt_send(int fd, const void* buf, size_t len, int flags) {
  return iopkt_sendto(fd, buf, len, flags, nullptr, 0);
}

ssize_t iopkt_recvmsg(int fd, struct msghdr* msg, int flags) {
  SockInfo s{};
  if (!lookup(fd, &s) || !iopkt::client::is_datagram(s)) {
    return ::recvmsg(fd, msg, flags);
  }
  return iopkt::client::dgram_recvmsg(fd, msg, flags);
}

ssize_t iopkt_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from,
                       socklen_t* fromlen) {
  SockInfo s{};
  if (!lookup(fd, &s)) {
    return ::recvfrom(fd, buf, len, flags, from, fromlen);
  }
  if (!iopkt::client::is_datagram(s)) {
    ssize_t n = ::recv(fd, buf, len, flags);
    if (n >= 0 && fromlen != nullptr) {
      *fromlen = 0;  // as Linux TCP: a stream names no sender
    }
    return n;
  }
  iovec iov{buf, len};
  msghdr m{};
  if (from != nullptr && fromlen != nullptr) {
    m.msg_name = from;
    m.msg_namelen = *fromlen;
  }
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ssize_t n = iopkt::client::dgram_recvmsg(fd, &m, flags);
  if (n >= 0 && from != nullptr && fromlen != nullptr) {
    *fromlen = m.msg_namelen;
  }
  return n;
}

ssize_t iopkt_recv(int fd, void* buf, size_t len, int flags) {
  return iopkt_recvfrom(fd, buf, len, flags, nullptr, nullptr);
}

}  // extern "C"
