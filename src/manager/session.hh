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

// A socket's data channel: the stack's end of the client's socketpair.
struct Channel {
  int fd = -1;
  SocketId socket = 0;
  ino_t client_ino = 0;   // inode of the client's end: how requests name it
  bool want_out = false;  // EPOLLOUT armed: the client is not reading
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
