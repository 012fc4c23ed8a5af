// manager/session.hh — the server side of the control protocol
// (include/iopkt/control.h): one Session per client connection, and the
// request handler that validates every field and answers with an errno.
//
// The handler sees the instance through ControlContext, so that tests and
// the fuzz target can drive it with a bare Stack and no process around it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/stack.hh"
#include "iopkt/control.h"
#include "manager/credentials.hh"
#include "manager/loader.hh"

namespace iopkt {

// A socket's data channel: the stack's end of the client's socketpair
// (SOCK_SEQPACKET for datagram sockets, SOCK_STREAM for TCP; control.h).
struct Channel {
  int fd = -1;  // -1: a finished stream channel (manager/stream_channel.cc)
  SocketId socket = 0;
  ino_t client_ino = 0;   // inode of the client's end: how requests name it
  bool want_out = false;  // EPOLLOUT armed: the client is not reading

  // --- stream channels (manager/stream_channel.cc) ---
  bool stream = false;
  bool listener = false;        // carries accepted connections (iopkt_accept_rec)
  bool client_wr_done = false;  // read end of file: the client will write no more
  bool wr_done = false;         // nothing more goes to the client (end of file, or it is gone)
  bool client_gone = false;     // the client closed its end (its last bytes may still be read)
  bool client_reset = false;    // ... with bytes it had not read: the connection is reset
  bool registered = true;       // in the main loop's epoll set
  uint32_t events = 0;          // the interest registered
  int connect_fd = -1;          // while connecting: the client's end, held full of filler
  int saved_sndbuf = 0;         // its SO_SNDBUF before the filler
  size_t filler = 0;            // filler bytes to discard before the client's own
  int accept_fd = -1;           // listener: an accepted connection's channel waiting for room
  iopkt_accept_rec accept_rec{};
};

struct Session {
  int fd = -1;
  ClientCred cred;  // from the kernel at accept, never from a request
  uint64_t requests = 0;
};

class ControlContext {
 public:
  virtual ~ControlContext() = default;
  virtual Stack& stack() = 0;
  virtual int variant() const = 0;
  virtual int instance() const = 0;
  virtual const std::string& prefix() const = 0;
  virtual Result<void, DriverError> mount_driver_locked(const std::string& name,
                                                        const std::string& options) = 0;
  virtual Result<void, Errno> destroy_interface_locked(const std::string& name) = 0;
  // Creates the socket and its channel; returns the client's end, which the
  // caller sends and then closes.
  virtual Result<int, Errno> create_socket_locked(int domain, int type, int protocol,
                                                  uint32_t fib) = 0;
  virtual Channel* channel_by_client_fd(int fd) = 0;
  virtual void drain_channel_locked(Channel& ch) = 0;
  // Stream sockets: the calls whose effect reaches the channel. `client_fd`
  // is the client's end, passed with the request.
  virtual Result<void, Errno> stream_connect_locked(Channel& ch, int client_fd,
                                                    const SockAddr& to) = 0;
  virtual Result<void, Errno> stream_listen_locked(Channel& ch, int backlog) = 0;
  virtual Result<void, Errno> stream_shutdown_locked(Channel& ch, int client_fd, int how) = 0;
  // Who may do what (issue 9), and the rate-limited log of refusals.
  virtual const AccessPolicy& policy() const = 0;
  virtual void log_denied(const Session& session, const char* what) = 0;
};

// The requests that change the stack: root, CAP_NET_ADMIN or rgroup_allowed.
bool is_configuration_request(uint16_t type);

struct CtlReply {
  int error = 0;                // positive errno
  std::vector<std::byte> body;  // reply body, or a message when error != 0
  int pass_fd = -1;             // fd to send with the reply (then closed)
};

// Validates and serves one request. `passed_fd` is an fd the client sent
// with it (-1 if none); the handler does not close it. Lock held.
CtlReply handle_request(ControlContext& ctx, const Session& session, const iopkt_ctl_hdr& hdr,
                        std::span<const std::byte> body, int passed_fd);

// Replies never exceed what the transport carries in one message.
inline constexpr size_t kCtlMaxReply = IOPKT_CTL_MAX_MSG - sizeof(iopkt_ctl_hdr);

// The exact body size a request type must have, or -1 for an unknown type.
long request_body_size(uint16_t type);

// Convert between the wire address and the core's.
bool ctl_to_sockaddr(const iopkt_ctl_addr& in, SockAddr& out);
iopkt_ctl_addr sockaddr_to_ctl(const SockAddr& in);

}  // namespace iopkt
