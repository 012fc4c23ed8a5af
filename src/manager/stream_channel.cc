// manager/stream_channel.cc — the client data path of stream (TCP) sockets
// (DESIGN.md "The client data path", include/iopkt/control.h).
//
// Each TCP socket's channel is a SOCK_STREAM socketpair whose other end is
// the client's descriptor. Bytes move between it and the core's socket
// buffers with flow control from both sides: the stack reads the client's
// bytes only while TCP has send space, and writes received bytes only
// while the client's end has room (so an application that stops reading
// closes the TCP window).
//
// The channel's life follows the connection:
//  - connect: until the handshake completes the stack holds the client's
//    end with a minimal send buffer full of filler, so the client sees no
//    POLLOUT; when it completes (or fails) the buffer is restored and the
//    filler discarded, which wakes the client as the kernel would.
//  - listen: the channel carries one iopkt_accept_rec per connection with
//    the connection's own channel attached (SCM_RIGHTS).
//  - the peer's FIN: once every byte before it is in the channel, the stack
//    shuts its end for writing (the client reads end of file).
//  - the client's shutdown(SHUT_WR), or its close: the stack reads end of
//    file after the last byte and queues TCP's FIN behind them.
//  - a dead connection (RST, timeout, refused): the bytes received before
//    are delivered, then the stack closes its end: the client reads end of
//    file, its writes fail with EPIPE, and libiopkt asks for SO_ERROR.
// A channel whose both directions are over is "finished": the stack's end
// is closed but the socket is kept, so that the client can still ask for
// SO_ERROR, its names or options, until its own end is gone. The kernel
// says when that is: a sock_diag query by the inode of the client's end
// (unprivileged for AF_UNIX) answers ENOENT once the last holder closed it.
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "manager/log.hh"
#include "manager/manager.hh"

namespace iopkt {

namespace {

constexpr int kStreamReadsPerWake = 16;   // 16 x 64 KiB from one client per wake-up
constexpr int kStreamWritesPerWake = 16;  // and as many writes to it
constexpr int kAcceptsPerWake = 64;
constexpr int kFillerSends = 64;  // bound on the filler loop (a few sends fill it)
constexpr size_t kFillerChunk = 4096;
constexpr size_t kSweepBatch = 4096;  // finished channels checked per sweep

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

// Our end is fully shut (the client closed, or both directions ended).
bool hung_up(int fd) {
  pollfd p{fd, 0, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0;
}

}  // namespace

Result<int, Errno> Manager::make_stream_channel_locked(SocketId so) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    int e = errno;
    return Err(Errno{e == EMFILE || e == ENFILE ? ENFILE : ENOBUFS});
  }
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  // The client's send(MSG_OOB) makes its last byte out-of-band on the
  // channel (AF_UNIX streams have TCP's urgent semantics on Linux). Read in
  // line it keeps its place among the bytes; SIOCATMARK tells which it is.
  int one = 1;
  setsockopt(sv[0], SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);
  struct stat st {};
  fstat(sv[1], &st);
  auto ch = std::make_unique<Channel>();
  ch->fd = sv[0];
  ch->socket = so;
  ch->client_ino = st.st_ino;
  ch->stream = true;
  ch->events = 0;  // HUP (the client closed) is reported without asking
  epoll_event ev{};
  ev.events = ch->events;
  ev.data.u64 = channel_event_key(ch->fd);
  epoll_ctl(epfd_, EPOLL_CTL_ADD, ch->fd, &ev);
  // A finished channel of an earlier socket may have had this inode: the
  // kernel reused it, so that socket's client end is gone.
  if (auto it = finished_.find(st.st_ino); it != finished_.end()) {
    stack_->so_close(it->second->socket);
    finished_.erase(it);
  }
  channels_by_ino_[st.st_ino] = ch.get();
  channels_by_socket_[so] = ch.get();
  channels_[ch->fd] = std::move(ch);
  return sv[1];
}

void Manager::stream_set_interest_locked(Channel& ch, uint32_t events) {
  if (ch.registered && ch.events == events) {
    return;
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = channel_event_key(ch.fd);
  epoll_ctl(epfd_, ch.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, ch.fd, &ev);
  ch.registered = true;
  ch.events = events;
}

// Leave the epoll set: the end is hung up (reported without asking, on
// every wait) and what remains is driven by the socket's own wake-ups.
void Manager::stream_unregister_locked(Channel& ch) {
  if (ch.registered) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, ch.fd, nullptr);
    ch.registered = false;
  }
}

Result<void, Errno> Manager::stream_connect_locked(Channel& ch, int client_fd, const SockAddr& to) {
  if (ch.fd < 0) {
    Socket* so = stack_->so_find(ch.socket);
    return Err(Errno{so != nullptr && so->inp.fport != 0 ? EISCONN : EINVAL});
  }
  auto r = stack_->so_connect(ch.socket, to);
  if (r || r.error().value != EINPROGRESS || ch.connect_fd >= 0) {
    return r;
  }
  // Not writable before the handshake completes (DESIGN.md): the smallest
  // send buffer the kernel allows, filled. The client's end stays open in
  // our hands until then; the client's close is seen after it.
  int fd = fcntl(client_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    return r;  // readiness comes early; the connection is unaffected
  }
  socklen_t len = sizeof ch.saved_sndbuf;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &ch.saved_sndbuf, &len);
  int minimal = 1;  // the kernel raises it to its minimum
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &minimal, sizeof minimal);
  static const std::byte filler[kFillerChunk] = {};
  for (int i = 0; i < kFillerSends; ++i) {
    ssize_t n = send(fd, filler, sizeof filler, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    ch.filler += static_cast<size_t>(n);
  }
  ch.connect_fd = fd;
  stream_set_interest_locked(ch, 0);
  return r;
}

// The handshake is over, one way or the other: the client's end gets its
// send buffer back, and the filler goes (stream_service_locked reads it).
void Manager::stream_connect_done_locked(Channel& ch) {
  if (ch.saved_sndbuf > 0) {
    int v = ch.saved_sndbuf / 2;  // the kernel doubles what it is given
    setsockopt(ch.connect_fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  }
  close(ch.connect_fd);
  ch.connect_fd = -1;
}

Result<void, Errno> Manager::stream_listen_locked(Channel& ch, int backlog) {
  if (ch.fd < 0) {
    return Err(Errno{EINVAL});
  }
  auto r = stack_->so_listen(ch.socket, backlog);
  if (!r) {
    return r;
  }
  ch.listener = true;
  stream_service_locked(ch, 0);
  return {};
}

Result<void, Errno> Manager::stream_shutdown_locked(Channel& ch, int client_fd, int how) {
  Socket* so = stack_->so_find(ch.socket);
  if (so == nullptr) {
    return Err(Errno{EBADF});
  }
  auto st = stack_->so_stream_status(ch.socket);
  if (!st) {
    return Err(st.error());
  }
  if (ch.listener || st->state == TcpFsmState::kListen) {
    return stack_->so_shutdown(ch.socket, how);
  }
  if (so->inp.fport == 0) {
    return Err(Errno{ENOTCONN});
  }
  if (ch.fd < 0) {
    return {};  // finished: both directions are over already
  }
  // The shutdowns act on the channel itself, so that they keep their place
  // in the byte stream: SHUT_WR reaches TCP as end of file after the bytes
  // the client wrote before it; SHUT_RD ends the client's reading and
  // TCP's receiving.
  if (how == SHUT_RD || how == SHUT_RDWR) {
    (void)stack_->so_shutdown(ch.socket, SHUT_RD);
    ::shutdown(client_fd, SHUT_RD);
    ch.wr_done = true;
  }
  if (how == SHUT_WR || how == SHUT_RDWR) {
    ::shutdown(client_fd, SHUT_WR);
  }
  stream_service_locked(ch, 0);
  return {};
}

void Manager::stream_listener_locked(Channel& ch, uint32_t ev) {
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    // A client has nothing to say on a listener's channel: discard it. End
    // of file is its last holder closing the listening socket.
    for (int i = 0; i < kStreamReadsPerWake; ++i) {
      ssize_t n = read(ch.fd, stream_buf_.data(), stream_buf_.size());
      if (n == 0) {
        close_channel_locked(ch);
        return;
      }
      if (n < 0) {
        break;
      }
    }
  }
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    if (ch.accept_fd < 0) {
      auto id = stack_->so_accept(ch.socket);
      if (!id) {
        break;  // EAGAIN: none waiting (or no longer listening)
      }
      auto peer = stack_->so_getpeername(*id);
      auto client = make_stream_channel_locked(*id);
      if (!client) {
        // No descriptor for it: the connection is reset, as a kernel does
        // when it cannot allocate the accepted socket.
        log_msg(LOG_WARNING, "accept: no descriptor for a new connection (%s)",
                std::strerror(client.error().value));
        Socket* so = stack_->so_find(*id);
        if (so != nullptr && so->tcb != nullptr) {
          so->tcb->linger_zero = true;
        }
        stack_->so_close(*id);
        continue;
      }
      ch.accept_fd = *client;
      ch.accept_rec = iopkt_accept_rec{};
      ch.accept_rec.magic = IOPKT_ACCEPT_MAGIC;
      ch.accept_rec.len = sizeof ch.accept_rec;
      if (peer) {
        ch.accept_rec.peer = sockaddr_to_ctl(*peer);
      }
      // Bytes may have arrived with the handshake's last ACK.
      stream_service_locked(*channels_by_socket_[*id], 0);
    }
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{&ch.accept_rec, sizeof ch.accept_rec};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &ch.accept_fd, sizeof(int));
    ssize_t n = sendmsg(ch.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && would_block(errno)) {
      stream_set_interest_locked(ch, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      return;  // the application is not accepting: the rest wait in the backlog
    }
    // Sent, or the client's end is gone (its close will be seen as end of
    // file): either way this descriptor is not ours to keep.
    close(ch.accept_fd);
    ch.accept_fd = -1;
    if (n < 0) {
      break;
    }
  }
  stream_set_interest_locked(ch, EPOLLIN | EPOLLRDHUP);
}

// Moves what can move, both ways, then arms the events that let the rest
// move. `ev` is what epoll reported (0 when the socket woke us).
void Manager::stream_service_locked(Channel& ch, uint32_t ev, bool socket_wake) {
  if (ch.fd < 0) {
    return;
  }
  if (ch.listener) {
    stream_listener_locked(ch, ev);
    return;
  }
  auto st = stack_->so_stream_status(ch.socket);
  Socket* so = stack_->so_find(ch.socket);
  if (!st || so == nullptr) {
    close_channel_locked(ch);
    return;
  }
  bool has_peer = so->inp.fport != 0;
  bool dead = has_peer && st->state == TcpFsmState::kClosed;
  if (ch.connect_fd >= 0) {
    if (!st->connected && !dead) {
      return;  // still connecting; the client's end is in our hands
    }
    stream_connect_done_locked(ch);
  }
  if ((ev & EPOLLHUP) && !ch.wr_done) {
    // Hung up while we could still write: the client closed its end (or
    // shut it both ways). Nothing more can reach it.
    ch.client_gone = true;
    ch.wr_done = true;
  }
  if (ch.client_gone && !has_peer) {
    close_channel_locked(ch);  // never connected: nothing to finish
    return;
  }

  // Client -> TCP: only as much as TCP has room for (the client's writes
  // block when the channel fills: flow control). A dead connection's
  // bytes are read and dropped; before a connection there is nothing to
  // read yet (the client's bytes wait in the channel).
  auto can_take = [&] {
    return !ch.client_wr_done && (ch.filler > 0 || dead || (st->connected && st->writable > 0));
  };
  // The socket's wake-up (bytes received, or room to send) while epoll
  // watches the client's end for bytes: epoll (level-triggered) reports
  // them, so reading now would only find the end empty — a read and a
  // SIOCATMARK for nothing on every received segment (issue 8). Room to
  // send matters when epoll does not watch: TCP had none. A connection
  // that died reads (and drops) the client's bytes at once, as before.
  const bool epoll_reports_bytes =
      socket_wake && !dead && ch.registered && (ch.events & EPOLLIN) != 0;
  for (int i = 0; i < kStreamReadsPerWake && !epoll_reports_bytes && can_take(); ++i) {
    size_t want = stream_buf_.size();
    if (ch.filler > 0) {
      want = std::min(want, ch.filler);
    } else if (!dead) {
      want = std::min(want, st->writable);
    }
    // Urgent data: a read stops before the client's out-of-band byte, so
    // the byte at the mark is read by itself and handed to TCP as urgent.
    // The mark is looked for where one can be: when epoll says so
    // (EPOLLPRI), when no epoll report came with the wake-up, and after a
    // full read (a short one ends the loop: epoll reports what follows).
    bool urgent = false;
    if (ch.filler == 0 && !dead && (i > 0 || ev == 0 || (ev & EPOLLPRI) != 0)) {
      int at_mark = 0;
      if (ioctl(ch.fd, SIOCATMARK, &at_mark) == 0 && at_mark != 0) {
        want = 1;
        urgent = true;
      }
    }
    ssize_t n = read(ch.fd, stream_buf_.data(), want);
    if (n < 0) {
      if (!would_block(errno)) {
        // ECONNRESET: the client closed with bytes it had not read (the
        // kernel tells the other end so, after the bytes it did write).
        ch.client_wr_done = true;
        ch.client_gone = true;
        ch.client_reset = errno == ECONNRESET;
        ch.wr_done = true;
      }
      break;
    }
    if (n == 0) {
      ch.client_wr_done = true;
      if (!ch.wr_done && hung_up(ch.fd)) {
        ch.client_gone = true;
        ch.wr_done = true;
      }
      break;
    }
    auto got = static_cast<size_t>(n);
    if (ch.filler > 0) {
      ch.filler -= got;
    } else if (!dead) {
      // `want` was the socket's free space: it takes all of it, unless the
      // connection failed just now, and then the bytes have nowhere to go.
      (void)stack_->so_send_stream(ch.socket, std::span(stream_buf_).first(got), urgent);
    }
    auto now = stack_->so_stream_status(ch.socket);
    if (!now) {
      break;
    }
    st = now;
    dead = has_peer && st->state == TcpFsmState::kClosed;
    // A short read: drained, or stopped at a mark, and epoll reports the
    // rest — unless the client wrote its last bytes and shut or closed its
    // end in the same wake-up: then read on to the end of file now. A
    // hung-up end leaves the epoll set (below), so nothing would report
    // the end of file until TCP's next wake-up, the peer's ACK of these
    // bytes, which the peer may delay (40 ms here, up to 500 ms by RFC
    // 9293 §3.8.6.3): the FIN of every write-then-close waited for it.
    if (got < want && !ch.client_gone && (ev & EPOLLRDHUP) == 0) {
      break;
    }
  }
  if (ch.client_wr_done) {
    if (ch.client_gone) {
      // A close(2) of the TCP socket, now that every byte the client wrote
      // is queued: the FIN follows them — or a RST when data was left
      // unread, in the channel (client_reset) or in the socket (tcp_detach),
      // as Linux and BSD do (RFC 2525 §2.17).
      if (ch.client_reset && so->tcb != nullptr) {
        so->tcb->linger_zero = true;
      }
      close_channel_locked(ch);
      return;
    }
    if (!dead && st->connected && !so->cant_send) {
      (void)stack_->so_shutdown(ch.socket, SHUT_WR);  // the client's shutdown(SHUT_WR)
      st = stack_->so_stream_status(ch.socket);
      if (!st) {
        close_channel_locked(ch);
        return;
      }
    }
  }

  // TCP -> client: as much as the client's end takes.
  bool blocked_out = false;
  for (int i = 0; i < kStreamWritesPerWake && !ch.wr_done && st->readable > 0; ++i) {
    int err = 0;
    // The peer's urgent byte, once here, ends a send of its own with
    // MSG_OOB: the client sees the mark (SIOCATMARK), recv(MSG_OOB), SIGURG
    // and SO_OOBINLINE as with a kernel TCP socket.
    const bool urgent = st->urgent && st->urgent_at < st->readable;
    const size_t cap = urgent ? st->urgent_at + 1 : SIZE_MAX;
    size_t moved = stack_->so_recv_stream_to(
        ch.socket, [&](std::span<const std::span<const std::byte>> segs) -> size_t {
          iovec iov[64];
          size_t k = 0;
          size_t total = 0;
          for (; k < segs.size() && k < std::size(iov) && total < cap; ++k) {
            size_t take = std::min(segs[k].size(), cap - total);
            iov[k] = {const_cast<std::byte*>(segs[k].data()), take};
            total += take;
          }
          msghdr msg{};
          msg.msg_iov = iov;
          msg.msg_iovlen = k;
          int oob = urgent && total == cap ? MSG_OOB : 0;
          ssize_t n = sendmsg(ch.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL | oob);
          if (n < 0) {
            err = errno;
            return 0;
          }
          return static_cast<size_t>(n);
        });
    if (moved == 0) {
      if (would_block(err)) {
        blocked_out = true;
      } else {
        ch.wr_done = true;  // EPIPE: the client shut its reading
      }
      break;
    }
    st = stack_->so_stream_status(ch.socket);
    if (!st) {
      close_channel_locked(ch);
      return;
    }
  }
  if (!ch.wr_done && st->readable == 0 && (st->eof || dead)) {
    ::shutdown(ch.fd, SHUT_WR);  // the client reads end of file
    ch.wr_done = true;
  }

  // Over both ways, or the connection is dead and its bytes delivered:
  // finished (or, when the client is gone, closed).
  if ((dead && ch.wr_done) || (ch.wr_done && ch.client_wr_done)) {
    if (!ch.client_gone && hung_up(ch.fd) && !client_end_alive(ch.client_ino)) {
      // The client read our end of file, then closed: its close looks
      // like a shutdown both ways from here (our end was shut already), so
      // ask once now rather than leave the socket, and its port, to the
      // once-a-second sweep — a client opening thousands of connections a
      // second ran out of ports behind it (issue 8).
      ch.client_gone = true;
    }
    if (ch.client_gone) {
      close_channel_locked(ch);
    } else {
      stream_finish_locked(ch);
    }
    return;
  }
  if (ch.client_gone) {
    // Its bytes go as TCP makes room (the socket's wake-ups drive that);
    // epoll would report the hang-up on every wait meanwhile.
    stream_unregister_locked(ch);
    return;
  }
  uint32_t want = 0;
  if (can_take()) {
    want |= EPOLLIN | EPOLLRDHUP | EPOLLPRI;
  }
  if (blocked_out) {
    want |= EPOLLOUT;
  }
  if (ch.wr_done && !blocked_out && want == 0) {
    // Our end is shut for writing: the client's shutdown or close would
    // make it hang up, reported on every wait. TCP's wake-ups (room to
    // send) bring us back for the client's remaining bytes.
    stream_unregister_locked(ch);
    return;
  }
  stream_set_interest_locked(ch, want);
}

// Both directions are over: close our end and keep the socket for the
// client's remaining questions (SO_ERROR, names) until its end is gone.
void Manager::stream_finish_locked(Channel& ch) {
  int fd = ch.fd;
  if (ch.registered) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    ch.registered = false;
  }
  close(fd);
  ch.fd = -1;
  channels_by_socket_.erase(ch.socket);
  auto it = channels_.find(fd);
  if (it == channels_.end()) {
    return;
  }
  ino_t ino = ch.client_ino;
  finished_[ino] = std::move(it->second);
  channels_.erase(it);
}

// Is the client's end of a finished channel still held by anyone?
bool Manager::client_end_alive(ino_t ino) {
  if (diag_fd_ < 0) {
    diag_fd_ = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (diag_fd_ < 0) {
      return true;  // cannot ask: keep it (bounded by the reuse of inodes)
    }
  }
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } q{};
  q.nlh.nlmsg_len = sizeof q;
  q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  q.nlh.nlmsg_flags = NLM_F_REQUEST;
  q.req.sdiag_family = AF_UNIX;
  q.req.udiag_ino = static_cast<uint32_t>(ino);
  q.req.udiag_cookie[0] = q.req.udiag_cookie[1] = ~0u;  // any socket with this inode
  if (send(diag_fd_, &q, sizeof q, 0) != static_cast<ssize_t>(sizeof q)) {
    return true;
  }
  alignas(nlmsghdr) char buf[4096];
  ssize_t n = recv(diag_fd_, buf, sizeof buf, 0);
  if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) {
    return true;
  }
  nlmsghdr h;
  std::memcpy(&h, buf, sizeof h);
  if (h.nlmsg_type != NLMSG_ERROR) {
    return true;  // the socket's description: still there
  }
  nlmsgerr e{};
  std::memcpy(&e, buf + NLMSG_HDRLEN, std::min(sizeof e, static_cast<size_t>(n) - NLMSG_HDRLEN));
  return e.error != -ENOENT;
}

void Manager::sweep_finished_locked() {
  size_t checked = 0;
  for (auto it = finished_.begin(); it != finished_.end() && checked < kSweepBatch; ++checked) {
    if (client_end_alive(it->first)) {
      ++it;
      continue;
    }
    channels_by_ino_.erase(it->first);
    stack_->so_close(it->second->socket);
    it = finished_.erase(it);
  }
}

}  // namespace iopkt
