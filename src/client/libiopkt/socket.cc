// client/libiopkt/socket.cc — the BSD socket calls over a stack
// (DESIGN "The client data path"). iopkt_socket() asks the stack for a
// socket and receives its data channel, a real descriptor; the calls that
// need the stack (bind, connect, names, options, shutdown) are control
// requests carrying that channel as SCM_RIGHTS, so the stack knows which
// socket is meant; datagrams cross the channel one message each, as
// struct iopkt_dgram_hdr + ancillary records + payload (control.h).
// sendmsg turns the caller's IPPROTO_IP control messages into records,
// checked first as Linux's ip_cmsg_send checks them; recvmsg turns the
// records the stack sent back into cmsghdrs, cut as Linux's put_cmsg cuts
// them (MSG_CTRUNC).
//
// The process keeps a table fd -> {domain, type} of the sockets it made,
// to tell stack sockets from kernel ones: descriptors not in it, and
// domains other than AF_INET/AF_INET6, go to the kernel's own calls.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <span>
#include <string>
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
  int linger = -1;       // SO_LINGER seconds as last set through this library; -1 off
  // listen() succeeded: 1; 0 not; -1 unknown (a socket adopted after exec).
  // accept on a socket that does not listen is EINVAL, not a wait on its
  // channel; and it answers SO_ACCEPTCONN.
  int listening = 0;
  // A stream's non-blocking connect was started and not yet reported: the
  // next connect() that finds it established returns 0, as Linux's does
  // (SS_CONNECTING -> SS_CONNECTED), not EISCONN.
  bool connecting = false;
  // A datagram socket has a peer (connect): 1, 0, -1 unknown (adopted).
  // Without one, a send with no address is EDESTADDRREQ here, as the
  // kernel's; the stack would only make it a pending error.
  int peer = 0;
  // Bytes of ancillary records the last datagram received carried: the
  // next one most likely carries as many (the socket's options decide),
  // so recvmsg reads them into a scratch area of that size and the
  // payload straight into the caller's buffers.
  uint32_t cmsg_hint = 0;
};

std::mutex g_table_mu;
std::unordered_map<int, SockInfo> g_table;  // guarded by g_table_mu

// A first look without the mutex: the preload library asks about every
// descriptor a program reads, writes or closes, nearly all of them kernel
// files. A clear flag means "not in g_table"; a flag is set while the fd's
// entry exists (changed under g_table_mu). Descriptors past the array go
// to the map alone.
constexpr int kFastFds = 1 << 16;
std::atomic<uint8_t> g_fast[kFastFds];

void fast_mark(int fd, bool on) {
  if (fd >= 0 && fd < kFastFds) {
    g_fast[fd].store(on ? 1 : 0, std::memory_order_release);
  }
}

// A fork() while another thread holds g_table_mu must not leave the
// child's copy locked forever.
struct AtforkRegistrar {
  AtforkRegistrar() {
    pthread_atfork([] { g_table_mu.lock(); }, [] { g_table_mu.unlock(); },
                   [] { g_table_mu.unlock(); });
  }
} g_atfork_registrar;

bool lookup(int fd, SockInfo* out) {
  if (fd < 0 || (fd < kFastFds && g_fast[fd].load(std::memory_order_acquire) == 0)) {
    return false;
  }
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
  // SO_OOBINLINE: a stream's urgent byte reaches the client as the
  // channel's out-of-band byte (manager/stream_channel.cc), so in line or
  // not is the channel's own option.
  return level == SOL_SOCKET &&
         (name == SO_RCVTIMEO || name == SO_SNDTIMEO || name == SO_OOBINLINE);
}

// --- ancillary data -------------------------------------------------------

void set_cmsg_hint(int fd, uint32_t hint) {
  std::lock_guard lock(g_table_mu);
  auto it = g_table.find(fd);
  if (it != g_table.end()) {
    it->second.cmsg_hint = hint;
  }
}

// Appends one record (control.h) to `out`; false when the records would
// exceed IOPKT_DGRAM_CMSG_MAX.
bool add_record(std::byte* out, size_t* used, int level, int type,
                std::span<const std::byte> value) {
  size_t space = IOPKT_DGRAM_CMSG_SPACE(value.size());
  if (*used + space > IOPKT_DGRAM_CMSG_MAX) {
    return false;
  }
  iopkt_dgram_cmsg c{static_cast<uint16_t>(level), static_cast<uint16_t>(type),
                     static_cast<uint32_t>(value.size())};
  std::memset(out + *used, 0, space);
  std::memcpy(out + *used, &c, sizeof c);
  if (!value.empty()) {
    std::memcpy(out + *used + sizeof c, value.data(), value.size());
  }
  *used += space;
  return true;
}

// The caller's control messages as records in `out` (IOPKT_DGRAM_CMSG_MAX
// bytes); their length, or -1 with errno. Checked as Linux checks them
// (__cmsg_nxthdr, ip_cmsg_send, __ip_route_output_key), so that a bad one
// is this call's EINVAL rather than a pending error later: a cmsg_len
// shorter than a cmsghdr or running past msg_controllen; SOL_SOCKET
// messages (none supported); an unknown IPPROTO_IP type; IP_PKTINFO of
// another size than struct in_pktinfo or with a multicast, broadcast or
// 0/8 ipi_spec_dst; IP_TTL not an int in 1..255; IP_TOS neither an int nor
// a byte, or outside 0..255. Other levels are skipped, as Linux does.
ssize_t control_to_records(const msghdr* m, std::byte* out) {
  if (m->msg_controllen == 0) {
    return 0;
  }
  if (m->msg_control == nullptr) {
    return fail(EFAULT);
  }
  const auto* base = static_cast<const std::byte*>(m->msg_control);
  size_t size = m->msg_controllen;
  size_t used = 0;
  for (size_t off = 0; size - off >= sizeof(cmsghdr);) {
    cmsghdr c;
    std::memcpy(&c, base + off, sizeof c);
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > size - off) {
      return fail(EINVAL, "malformed control message: cmsg_len " + std::to_string(c.cmsg_len));
    }
    std::span<const std::byte> data(base + off + CMSG_LEN(0), c.cmsg_len - CMSG_LEN(0));
    if (c.cmsg_level == SOL_SOCKET) {
      return fail(EINVAL, "SOL_SOCKET control messages are not supported on io-pkt sockets");
    }
    if (c.cmsg_level == IPPROTO_IP) {
      bool ok = false;
      switch (c.cmsg_type) {
        case IP_PKTINFO:
          if (data.size() == sizeof(in_pktinfo)) {
            in_pktinfo p;
            std::memcpy(&p, data.data(), sizeof p);
            uint32_t a = ntohl(p.ipi_spec_dst.s_addr);
            ok = a == 0 || (!IN_MULTICAST(a) && a != INADDR_BROADCAST && (a >> 24) != 0);
          }
          break;
        case IP_TTL:
          if (data.size() == sizeof(int)) {
            int v;
            std::memcpy(&v, data.data(), sizeof v);
            ok = v >= 1 && v <= 255;
          }
          break;
        case IP_TOS:
          if (data.size() == sizeof(int)) {
            int v;
            std::memcpy(&v, data.data(), sizeof v);
            ok = v >= 0 && v <= 255;
          } else {
            ok = data.size() == 1;
          }
          break;
        default:
          break;
      }
      if (!ok) {
        return fail(EINVAL, "bad IPPROTO_IP control message of type " +
                                std::to_string(c.cmsg_type) + " (" + std::to_string(data.size()) +
                                " bytes)");
      }
      if (!add_record(out, &used, c.cmsg_level, c.cmsg_type, data)) {
        return fail(ENOBUFS, "too many control messages");
      }
    }
    off += CMSG_ALIGN(c.cmsg_len);
    if (off > size) {
      break;
    }
  }
  return static_cast<ssize_t>(used);
}

// The stack's records as cmsghdrs in the caller's msg_control, as Linux's
// put_cmsg writes them: each at CMSG_SPACE steps; one that does not fit
// whole is cut to the room left (its cmsg_len says so) and MSG_CTRUNC is
// set; nothing fits in less than a cmsghdr. msg_controllen becomes the
// bytes used.
void records_to_control(std::span<const std::byte> recs, msghdr* m) {
  size_t room = m->msg_control != nullptr ? m->msg_controllen : 0;
  auto* out = static_cast<std::byte*>(m->msg_control);
  size_t used = 0;
  while (recs.size() >= sizeof(iopkt_dgram_cmsg)) {
    iopkt_dgram_cmsg r;
    std::memcpy(&r, recs.data(), sizeof r);
    if (r.len > recs.size() - sizeof r) {
      break;  // cannot happen with a sane stack; stop at what makes sense
    }
    size_t left = room - used;
    if (left < sizeof(cmsghdr)) {
      m->msg_flags |= MSG_CTRUNC;
      break;
    }
    size_t cmlen = CMSG_LEN(r.len);
    if (left < cmlen) {
      m->msg_flags |= MSG_CTRUNC;
      cmlen = left;
    }
    cmsghdr c{};
    c.cmsg_len = cmlen;
    c.cmsg_level = r.level;
    c.cmsg_type = r.type;
    std::memcpy(out + used, &c, sizeof c);
    std::memcpy(out + used + CMSG_LEN(0), recs.data() + sizeof r, cmlen - CMSG_LEN(0));
    used += std::min<size_t>(CMSG_SPACE(r.len), left);
    recs = recs.subspan(std::min<size_t>(IOPKT_DGRAM_CMSG_SPACE(r.len), recs.size()));
  }
  m->msg_controllen = used;
}

// The bytes after the header of one received message, as they landed:
// the front scratch, the caller's buffers, the tail scratch; indexed as one
// array (the slow path of recvmsg only).
class Landing {
 public:
  explicit Landing(std::span<const iovec> iov) {
    size_t at = 0;
    for (const iovec& v : iov) {
      starts_.push_back(at);
      segs_.push_back(v);
      at += v.iov_len;
    }
    size_ = at;
  }
  std::byte& operator[](size_t i) {
    size_t k =
        static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) -
        1;
    while (segs_[k].iov_len == 0 || i - starts_[k] >= segs_[k].iov_len) {
      ++k;  // empty iovecs share a start with the next one
    }
    return static_cast<std::byte*>(segs_[k].iov_base)[i - starts_[k]];
  }
  size_t size() const { return size_; }

 private:
  std::vector<size_t> starts_;
  std::vector<iovec> segs_;
  size_t size_ = 0;
};

// Whether datagram socket `fd` is connected (SockInfo::peer), asking the
// stack once for a socket the library did not see connect.
bool dgram_has_peer(int fd) {
  SockInfo s{};
  if (!lookup(fd, &s)) {
    return true;  // let the stack decide
  }
  if (s.peer >= 0) {
    return s.peer == 1;
  }
  iopkt_ctl_sockaddr r{};
  uint32_t rlen = sizeof r;
  int saved = errno;
  bool has = socket_request(fd, IOPKT_CTL_GETPEERNAME, nullptr, 0, &r, &rlen) == 0 &&
             rlen == sizeof r && r.addr.family != 0;
  errno = saved;
  std::lock_guard lock(g_table_mu);
  auto it = g_table.find(fd);
  if (it != g_table.end()) {
    it->second.peer = has ? 1 : 0;
  }
  return has;
}

ssize_t dgram_sendmsg(int fd, const msghdr* m, int flags) {
  if (m == nullptr || (m->msg_iovlen > 0 && m->msg_iov == nullptr)) {
    return fail(EFAULT);
  }
  alignas(8) std::byte records[IOPKT_DGRAM_CMSG_MAX];
  ssize_t cmsg_len = control_to_records(m, records);
  if (cmsg_len < 0) {
    return -1;
  }
  if ((flags & MSG_OOB) != 0) {
    return fail(EOPNOTSUPP);  // as Linux UDP
  }
  if (m->msg_iovlen + 2 > IOV_MAX) {
    return fail(EMSGSIZE);
  }
  iopkt_dgram_hdr hdr{};
  hdr.version = IOPKT_DGRAM_VERSION;
  hdr.hdr_len = sizeof hdr;
  hdr.flags = static_cast<uint32_t>(flags);
  hdr.cmsg_len = static_cast<uint32_t>(cmsg_len);
  if (m->msg_name != nullptr && m->msg_namelen > 0) {
    if (iopkt_sockaddr_to_ctl(static_cast<const sockaddr*>(m->msg_name), m->msg_namelen,
                              &hdr.addr) != 0) {
      return -1;
    }
  } else if (!dgram_has_peer(fd)) {
    return fail(EDESTADDRREQ);
  }
  size_t total = 0;
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    total += m->msg_iov[i].iov_len;
    if (total > 65535) {
      return fail(EMSGSIZE);  // larger than any IP datagram's payload
    }
  }
  hdr.payload_len = static_cast<uint32_t>(total);

  iovec small[18];
  std::vector<iovec> big;
  iovec* iov = small;
  if (m->msg_iovlen + 2 > sizeof small / sizeof small[0]) {
    big.resize(m->msg_iovlen + 2);
    iov = big.data();
  }
  size_t k = 0;
  iov[k++] = {&hdr, sizeof hdr};
  if (cmsg_len > 0) {
    iov[k++] = {records, static_cast<size_t>(cmsg_len)};
  }
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    iov[k++] = m->msg_iov[i];
  }
  msghdr km{};
  km.msg_iov = iov;
  km.msg_iovlen = k;
  // MSG_NOSIGNAL: a UDP sender never gets SIGPIPE from the kernel; a stack
  // that died shows as EPIPE, what the kernel says of a socket whose peer
  // is gone, without the signal.
  ssize_t n = ::sendmsg(fd, &km, (flags & MSG_DONTWAIT) | MSG_NOSIGNAL);
  if (n < 0) {
    return -1;
  }
  return n - static_cast<ssize_t>(sizeof hdr) - cmsg_len;
}

// `info`: the socket's entry in the table, as the caller looked it up.
ssize_t dgram_recvmsg(int fd, const SockInfo& info, msghdr* m, int flags) {
  if (m == nullptr || (m->msg_iovlen > 0 && m->msg_iov == nullptr)) {
    return fail(EFAULT);
  }
  if ((flags & MSG_OOB) != 0) {
    return fail(EOPNOTSUPP);
  }
  if ((flags & MSG_ERRQUEUE) != 0) {
    return fail(EAGAIN);  // no error queue yet: as Linux with an empty one
  }
  if (m->msg_iovlen + 3 > IOV_MAX) {
    return fail(EMSGSIZE);
  }
  // The message is header, records, payload. The records land in a front
  // scratch area sized as the last datagram's were, the payload in the
  // caller's buffers; a tail scratch area catches what the caller's
  // buffers cannot hold, so that records larger than guessed still arrive
  // whole. When the guess was wrong, the bytes are moved into place below.
  iopkt_dgram_hdr hdr{};
  alignas(8) std::byte front[IOPKT_DGRAM_CMSG_MAX];
  alignas(8) std::byte tail[IOPKT_DGRAM_CMSG_MAX];
  size_t guess = std::min<size_t>(info.cmsg_hint, sizeof front);
  iovec small[19];
  std::vector<iovec> big;
  iovec* iov = small;
  if (m->msg_iovlen + 3 > sizeof small / sizeof small[0]) {
    big.resize(m->msg_iovlen + 3);
    iov = big.data();
  }
  size_t user_len = 0;
  iov[0] = {&hdr, sizeof hdr};
  iov[1] = {front, guess};
  for (size_t i = 0; i < m->msg_iovlen; ++i) {
    iov[i + 2] = m->msg_iov[i];
    user_len += m->msg_iov[i].iov_len;
  }
  iov[m->msg_iovlen + 2] = {tail, sizeof tail};
  msghdr km{};
  km.msg_iov = iov;
  km.msg_iovlen = m->msg_iovlen + 3;
  ssize_t n = ::recvmsg(fd, &km, (flags & (MSG_DONTWAIT | MSG_PEEK)) | MSG_CMSG_CLOEXEC);
  if (n < 0) {
    return -1;
  }
  if (n == 0) {
    if (info.rd_shut) {
      return 0;  // as Linux UDP after shutdown(SHUT_RD)
    }
    // Every datagram, even an empty one, carries a header: 0 bytes means
    // the stack closed its end (it died or dropped the socket). The kernel
    // says ECONNRESET of a socket reset under its user; a UDP socket has no
    // other way to say "gone".
    return fail(ECONNRESET, "the io-pkt stack closed this socket");
  }
  if (static_cast<size_t>(n) < sizeof hdr || hdr.version != IOPKT_DGRAM_VERSION ||
      hdr.hdr_len != sizeof hdr || hdr.cmsg_len > IOPKT_DGRAM_CMSG_MAX ||
      static_cast<size_t>(n) - sizeof hdr < hdr.cmsg_len) {
    return fail(EPROTO, "bad datagram header from the io-pkt stack");
  }
  size_t body = static_cast<size_t>(n) - sizeof hdr;  // records + payload received
  size_t payload_got = body - hdr.cmsg_len;
  size_t got = std::min(payload_got, user_len);  // payload in the caller's buffers
  size_t real = hdr.payload_len;
  if (payload_got > real) {
    return fail(EPROTO, "datagram longer than its header says");
  }
  std::span<const std::byte> recs(front, hdr.cmsg_len);
  alignas(8) std::byte moved[IOPKT_DGRAM_CMSG_MAX];
  if (hdr.cmsg_len != guess) {
    // Slow path (the socket's receive options changed): take the records
    // out, then move the payload to the start of the caller's buffers.
    // Bytes of the caller's buffers past the payload may be overwritten.
    Landing land(std::span<const iovec>(iov + 1, m->msg_iovlen + 2));
    for (size_t i = 0; i < hdr.cmsg_len; ++i) {
      moved[i] = land[i];
    }
    recs = std::span<const std::byte>(moved, hdr.cmsg_len);
    if (hdr.cmsg_len > guess) {
      for (size_t i = 0; i < got; ++i) {
        land[guess + i] = land[hdr.cmsg_len + i];
      }
    } else {
      for (size_t i = got; i-- > 0;) {
        land[guess + i] = land[hdr.cmsg_len + i];
      }
    }
    set_cmsg_hint(fd, hdr.cmsg_len);
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
  records_to_control(recs, m);
  return static_cast<ssize_t>((flags & MSG_TRUNC) != 0 ? real : got);
}

}  // namespace
}  // namespace iopkt::client

namespace iopkt::client {
namespace {

// --- stream sockets --------------------------------------------------------

// The connection's pending error (SO_ERROR, which reading clears), or 0.
int stream_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  iopkt_ctl_sockopt req{};
  req.level = SOL_SOCKET;
  req.name = SO_ERROR;
  req.len = sizeof err;
  iopkt_ctl_sockopt r{};
  uint32_t rlen = sizeof r;
  if (socket_request(fd, IOPKT_CTL_GETSOCKOPT, &req, sizeof req, &r, &rlen) != 0) {
    // A stack that cannot be reached any more (it died or stopped) reset
    // the connection: its end of file is not the peer's.
    int e = errno;
    return e == ENOENT || e == ECONNREFUSED || e == ECONNRESET || e == EPIPE || e == ENOTCONN
               ? ECONNRESET
               : 0;
  }
  if (rlen < offsetof(iopkt_ctl_sockopt, value) + len || r.len < len) {
    return 0;
  }
  memcpy(&err, r.value, len);
  return err;
}

// What a byte stream cannot say: end of file or EPIPE on the channel of a
// connection that died is the connection's error (ECONNRESET, ETIMEDOUT,
// ECONNREFUSED), once, as a kernel TCP socket reports it.
ssize_t stream_result(int fd, ssize_t n, bool reading) {
  if (reading ? n == 0 : (n < 0 && errno == EPIPE)) {
    int saved = errno;
    int err = stream_error(fd);
    if (err != 0) {
      return fail(err);
    }
    errno = saved;
  }
  if (n < 0) {
    return fail(errno);  // iopkt_last_error() describes this call, not an earlier one
  }
  return n;
}

// Whether a stream's sendmsg/recvmsg without flags may be writev/readv:
// no name, no ancillary data, an iovec count readv accepts. Seccomp
// sandboxes allow read and write where they refuse sendto and recvfrom
// (OpenSSH's pre-authentication child is killed by sendto), so the
// plain calls are what a program's write or read becomes on the channel.
bool plain_io(const msghdr* msg) {
  return msg != nullptr && msg->msg_name == nullptr && msg->msg_controllen == 0 &&
         msg->msg_iovlen <= IOV_MAX;
}

// close(2) with SO_LINGER {1, N > 0} (socket(7)): wait until the bytes
// written and the FIN are acknowledged, or N seconds. The channel's end of
// file brings the FIN after the last byte; TCP_INFO's state tells when it
// was acknowledged (FIN_WAIT_2, TIME_WAIT, or gone).
void stream_linger(int fd, int seconds) {
  ::shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    tcp_info ti{};
    iopkt_ctl_sockopt req{};
    req.level = IPPROTO_TCP;
    req.name = TCP_INFO;
    req.len = sizeof ti;
    iopkt_ctl_sockopt r{};
    uint32_t rlen = sizeof r;
    if (socket_request(fd, IOPKT_CTL_GETSOCKOPT, &req, sizeof req, &r, &rlen) != 0 ||
        rlen < offsetof(iopkt_ctl_sockopt, value) + 1 || r.len < 1) {
      return;
    }
    uint8_t state = r.value[0];  // tcpi_state
    if (state == TCP_FIN_WAIT2 || state == TCP_TIME_WAIT || state == TCP_CLOSE) {
      return;
    }
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

// A blocking connect waits for the handshake: the channel turns writable
// when it completes or fails (control.h), then SO_ERROR tells which.
int stream_connect_wait(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (fl & O_NONBLOCK) != 0) {
    return fail(EINPROGRESS);
  }
  // SO_SNDTIMEO bounds a blocking connect, as on Linux (EINPROGRESS when
  // it runs out; the connect goes on).
  timeval tv{};
  socklen_t tvlen = sizeof tv;
  int timeout_ms = -1;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tvlen) == 0 &&
      (tv.tv_sec > 0 || tv.tv_usec > 0)) {
    long long ms = static_cast<long long>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000;
    timeout_ms = static_cast<int>(std::min<long long>(ms, INT_MAX));
  }
  pollfd p{fd, POLLOUT, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) {
    return fail(EINPROGRESS);
  }
  if (r < 0) {
    return errno == EINTR ? fail(EINTR) : -1;  // EINTR as Linux: the connect goes on
  }
  int err = stream_error(fd);
  return err != 0 ? fail(err) : 0;
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
  if (base < 0 || base > SOCK_PACKET) {
    return fail(EINVAL);  // as Linux, before any family sees it
  }
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
  iopkt::client::fast_mark(fd, true);
  return fd;
}

int iopkt_close(int fd) {
  SockInfo s{};
  if (lookup(fd, &s) && s.type == SOCK_STREAM && s.linger > 0) {
    iopkt::client::stream_linger(fd, s.linger);
  }
  {
    std::lock_guard lock(iopkt::client::g_table_mu);
    iopkt::client::g_table.erase(fd);
    iopkt::client::fast_mark(fd, false);
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
  int r = iopkt::client::socket_request(fd, IOPKT_CTL_CONNECT, &req, sizeof req, nullptr, nullptr);
  if (r != 0 && errno == EINPROGRESS) {
    r = iopkt::client::stream_connect_wait(fd);
  }
  int err = errno;
  std::lock_guard lock(iopkt::client::g_table_mu);
  auto it = iopkt::client::g_table.find(fd);
  if (it == iopkt::client::g_table.end()) {
    errno = err;
    return r;
  }
  SockInfo& s = it->second;
  if (iopkt::client::is_datagram(s)) {
    if (r == 0) {
      s.peer = req.addr.family != 0 ? 1 : 0;
    }
  } else if (r != 0 && (err == EINPROGRESS || err == EALREADY)) {
    s.connecting = true;
  } else {
    bool was = s.connecting;
    s.connecting = false;
    if (r != 0 && err == EISCONN && was) {
      return 0;
    }
  }
  errno = err;
  return r;
}

int iopkt_listen(int fd, int backlog) {
  if (!lookup(fd, nullptr)) {
    return ::listen(fd, backlog);
  }
  iopkt_ctl_listen req{};
  req.backlog = backlog;
  if (iopkt::client::socket_request(fd, IOPKT_CTL_LISTEN, &req, sizeof req, nullptr, nullptr) !=
      0) {
    return -1;
  }
  std::lock_guard lock(iopkt::client::g_table_mu);
  auto it = iopkt::client::g_table.find(fd);
  if (it != iopkt::client::g_table.end()) {
    it->second.listening = 1;
  }
  return 0;
}

int iopkt_accept(int fd, struct sockaddr* addr, socklen_t* len) {
  return iopkt_accept4(fd, addr, len, 0);
}

int iopkt_accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  using namespace iopkt::client;
  SockInfo s{};
  if (!lookup(fd, &s)) {
    return ::accept4(fd, addr, len, flags);
  }
  if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) {
    return fail(EINVAL);
  }
  if (s.type != SOCK_STREAM) {
    return fail(EOPNOTSUPP);
  }
  if (s.listening == 0) {
    return fail(EINVAL);  // as Linux: the socket does not listen
  }
  if (addr != nullptr && len == nullptr) {
    return fail(EFAULT);
  }
  // One record per connection, its channel attached (control.h). Reading
  // exactly one record keeps several acceptors (threads, prefork
  // processes) on record boundaries.
  iopkt_accept_rec rec{};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&rec, sizeof rec};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  ssize_t n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
  int nfd = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      memcpy(&nfd, CMSG_DATA(c), sizeof nfd);
    }
  }
  if (n < 0) {
    return -1;  // EAGAIN on a non-blocking listener with nothing waiting, EINTR
  }
  if (n == 0) {
    // The channel ended: the stack is gone or the socket does not listen.
    return fail(EINVAL, "the io-pkt listening socket's channel ended");
  }
  if (static_cast<size_t>(n) != sizeof rec || rec.magic != IOPKT_ACCEPT_MAGIC || nfd < 0) {
    if (nfd >= 0) {
      ::close(nfd);
    }
    return fail(EPROTO, "malformed accept record from the io-pkt stack");
  }
  if ((flags & SOCK_CLOEXEC) == 0 && fcntl(nfd, F_SETFD, 0) != 0) {
    int err = errno;
    ::close(nfd);
    return fail(err);
  }
  if ((flags & SOCK_NONBLOCK) != 0 && fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK) != 0) {
    int err = errno;
    ::close(nfd);
    return fail(err);
  }
  if (addr != nullptr) {
    sockaddr_storage ss;
    socklen_t slen = 0;
    if (iopkt_ctl_to_sockaddr(&rec.peer, &ss, &slen) == 0) {
      memcpy(addr, &ss, *len < slen ? *len : slen);
      *len = slen;
    }
  }
  {
    std::lock_guard lock(g_table_mu);
    SockInfo info{s.domain, SOCK_STREAM, false};
    info.linger = s.linger;  // the stack's accepted socket inherits it too
    g_table[nfd] = info;
    fast_mark(nfd, true);
  }
  return nfd;
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
  if (iopkt::client::socket_request(fd, IOPKT_CTL_SETSOCKOPT, &req, sizeof req, nullptr, nullptr) !=
      0) {
    return -1;
  }
  if (level == SOL_SOCKET && name == SO_LINGER && len >= sizeof(struct linger)) {
    struct linger l;
    memcpy(&l, val, sizeof l);
    std::lock_guard lock(iopkt::client::g_table_mu);
    auto it = iopkt::client::g_table.find(fd);
    if (it != iopkt::client::g_table.end()) {
      it->second.linger = l.l_onoff != 0 ? l.l_linger : -1;
    }
  }
  return 0;
}

int iopkt_getsockopt(int fd, int level, int name, void* val, socklen_t* len) {
  SockInfo s{};
  if (!lookup(fd, &s) || iopkt::client::is_local_option(level, name)) {
    return ::getsockopt(fd, level, name, val, len);
  }
  if (len == nullptr || (*len > 0 && val == nullptr)) {
    return fail(EFAULT);
  }
  if (level == SOL_SOCKET && name == SO_ACCEPTCONN && s.listening >= 0) {
    // The library knows (see SockInfo::listening); copied as Linux does.
    int v = s.listening;
    socklen_t n = *len < sizeof v ? *len : sizeof v;
    memcpy(val, &v, n);
    *len = n;
    return 0;
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
  if (!lookup(fd, &s)) {
    return ::sendmsg(fd, msg, flags);
  }
  if (!iopkt::client::is_datagram(s)) {
    // Plain writes as write(2) (see iopkt::client::plain_io).
    bool plain = flags == 0 && iopkt::client::plain_io(msg);
    return iopkt::client::stream_result(
        fd,
        plain ? ::writev(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen))
              : ::sendmsg(fd, msg, flags),
        false);
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
    return iopkt::client::stream_result(
        fd, flags == 0 ? ::write(fd, buf, len) : ::send(fd, buf, len, flags), false);
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
  if (!lookup(fd, &s)) {
    return ::recvmsg(fd, msg, flags);
  }
  if (!iopkt::client::is_datagram(s)) {
    if (flags == 0 && iopkt::client::plain_io(msg)) {
      msg->msg_flags = 0;
      return iopkt::client::stream_result(
          fd, ::readv(fd, msg->msg_iov, static_cast<int>(msg->msg_iovlen)), true);
    }
    return iopkt::client::stream_result(fd, ::recvmsg(fd, msg, flags), true);
  }
  return iopkt::client::dgram_recvmsg(fd, s, msg, flags);
}

ssize_t iopkt_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* from,
                       socklen_t* fromlen) {
  SockInfo s{};
  if (!lookup(fd, &s)) {
    return ::recvfrom(fd, buf, len, flags, from, fromlen);
  }
  if (!iopkt::client::is_datagram(s)) {
    ssize_t n = iopkt::client::stream_result(
        fd, flags == 0 ? ::read(fd, buf, len) : ::recv(fd, buf, len, flags), true);
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
  ssize_t n = iopkt::client::dgram_recvmsg(fd, s, &m, flags);
  if (n >= 0 && from != nullptr && fromlen != nullptr) {
    *fromlen = m.msg_namelen;
  }
  return n;
}

ssize_t iopkt_recv(int fd, void* buf, size_t len, int flags) {
  return iopkt_recvfrom(fd, buf, len, flags, nullptr, nullptr);
}

}  // extern "C"

// --- descriptors the library did not make (the preload library) ------------

namespace iopkt::client {
namespace {

// An int-valued option of socket `fd` (in the table or not) from the stack.
int int_sockopt(int fd, int level, int name, int* out) {
  iopkt_ctl_sockopt req{};
  req.level = level;
  req.name = name;
  req.len = sizeof(int);
  iopkt_ctl_sockopt r{};
  uint32_t rlen = sizeof r;
  if (socket_request(fd, IOPKT_CTL_GETSOCKOPT, &req, sizeof req, &r, &rlen) != 0) {
    return -1;
  }
  if (rlen < offsetof(iopkt_ctl_sockopt, value) + sizeof(int) || r.len < sizeof(int)) {
    return fail(EPROTO, "bad GETSOCKOPT reply from the io-pkt stack");
  }
  memcpy(out, r.value, sizeof(int));
  return 0;
}

}  // namespace
}  // namespace iopkt::client

extern "C" {

int iopkt_dup_socket(int oldfd, int newfd) {
  using namespace iopkt::client;
  if (newfd < 0) {
    return fail(EBADF);
  }
  std::lock_guard lock(g_table_mu);
  auto it = g_table.find(oldfd);
  if (it == g_table.end()) {
    return fail(ENOTSOCK);
  }
  SockInfo copy = it->second;
  g_table[newfd] = copy;
  fast_mark(newfd, true);
  return 0;
}

void iopkt_forget_fds(unsigned int first, unsigned int last) {
  using namespace iopkt::client;
  if (first > last) {
    return;
  }
  std::lock_guard lock(g_table_mu);
  if (last - first < 64) {
    for (unsigned int fd = first;; ++fd) {
      g_table.erase(static_cast<int>(fd));
      fast_mark(static_cast<int>(fd), false);
      if (fd == last) {
        break;
      }
    }
    return;
  }
  // A wide range (closefrom, close_range up to ~0U): walk the table instead.
  for (auto it = g_table.begin(); it != g_table.end();) {
    auto fd = static_cast<unsigned int>(it->first);
    if (fd >= first && fd <= last) {
      fast_mark(it->first, false);
      it = g_table.erase(it);
    } else {
      ++it;
    }
  }
}

int iopkt_adopt_socket(int fd) {
  using namespace iopkt::client;
  if (lookup(fd, nullptr)) {
    return 1;
  }
  // The stack finds a socket by the inode of the descriptor the request
  // carries, so a channel inherited across exec is recognised as such; any
  // other descriptor is ENOTSOCK.
  int domain = 0;
  if (int_sockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain) != 0) {
    return errno == ENOTSOCK ? 0 : -1;
  }
  int type = 0;
  if (int_sockopt(fd, SOL_SOCKET, SO_TYPE, &type) != 0) {
    return errno == ENOTSOCK ? 0 : -1;
  }
  SockInfo info{domain, type, false};
  info.listening = type == SOCK_STREAM ? -1 : 0;
  info.peer = -1;
  // SO_LINGER as the image before exec set it, for iopkt_close's wait.
  iopkt_ctl_sockopt req{};
  req.level = SOL_SOCKET;
  req.name = SO_LINGER;
  req.len = sizeof(struct linger);
  iopkt_ctl_sockopt r{};
  uint32_t rlen = sizeof r;
  if (socket_request(fd, IOPKT_CTL_GETSOCKOPT, &req, sizeof req, &r, &rlen) == 0 &&
      rlen >= offsetof(iopkt_ctl_sockopt, value) + sizeof(struct linger) &&
      r.len >= sizeof(struct linger)) {
    struct linger l;
    memcpy(&l, r.value, sizeof l);
    info.linger = l.l_onoff != 0 ? l.l_linger : -1;
  }
  std::lock_guard lock(g_table_mu);
  g_table[fd] = info;
  fast_mark(fd, true);
  return 1;
}

}  // extern "C"
