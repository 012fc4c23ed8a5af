// fuzz/fuzz_context.hh — a ControlContext around a bare Stack, for driving
// the control-request handler without a process (fuzz targets and tests).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "manager/session.hh"

namespace iopkt::test {

class BareControlContext : public ControlContext {
 public:
  explicit BareControlContext(int variant = 4) : stack_(StackConfig{variant, PoolConfig{}, 1}) {}
  Stack& stack() override { return stack_; }
  int variant() const override { return stack_.variant(); }
  int instance() const override { return 0; }
  const std::string& prefix() const override { return prefix_; }
  Result<void, DriverError> mount_driver_locked(const std::string& name,
                                                const std::string&) override {
    return Err(DriverError{ENOENT, "no drivers here: " + name});
  }
  Result<void, Errno> destroy_interface_locked(const std::string& name) override {
    return stack_.if_detach(name);
  }
  // Sockets are created in the stack; the "channel" is not needed here.
  Result<int, Errno> create_socket_locked(int domain, int type, int protocol,
                                          uint32_t /*fib*/) override {
    auto so = stack_.so_create(domain, type, protocol);
    if (!so) {
      return Err(so.error());
    }
    last_socket_ = *so;
    return Err(Errno{ENOBUFS});  // no fd to hand out in a bare context
  }
  Channel* channel_by_client_fd(int fd) override {
    return fd == kFakeSocketFd && last_socket_ != 0 ? &channel_ : nullptr;
  }
  void drain_channel_locked(Channel&) override {}
  // No channel to fill or shut: the core's calls alone.
  Result<void, Errno> stream_connect_locked(Channel& ch, int, const SockAddr& to) override {
    return stack_.so_connect(ch.socket, to);
  }
  Result<void, Errno> stream_listen_locked(Channel& ch, int backlog) override {
    return stack_.so_listen(ch.socket, backlog);
  }
  Result<void, Errno> stream_shutdown_locked(Channel& ch, int, int how) override {
    return stack_.so_shutdown(ch.socket, how);
  }
  const AccessPolicy& policy() const override { return policy_; }
  void log_denied(const Session&, const char*) override { ++denied; }
  AccessPolicy policy_;
  int denied = 0;

  static constexpr int kFakeSocketFd = 1000000;  // never a real fd
  void bind_channel_to_last_socket() {
    channel_.socket = last_socket_;
    const Socket* so = stack_.so_find(last_socket_);
    channel_.stream = so != nullptr && so->type == SOCK_STREAM;
  }

 private:
  Stack stack_;
  std::string prefix_;
  SocketId last_socket_ = 0;
  Channel channel_;
};

}  // namespace iopkt::test
