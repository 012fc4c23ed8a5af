// manager/manager.hh — one running io-pkt instance: the stack core under its
// lock, the packet threads that feed it from the drivers, the main loop that
// serves clients on the endpoint and runs the timers, and the drivers.
//
// Threads (DESIGN.md "Threads"):
//  - the main thread: epoll over the endpoint, client sessions, socket data
//    channels, the timer (timerfd on the core's deadline) and termination
//    signals;
//  - `-t` packet threads: epoll over the drivers' receive queues; each reads
//    a batch outside the stack lock, then takes the lock to run the batch to
//    completion.
// After every locked section, `flush_locked()` moves what the core produced
// out: frames to the drivers (tx_burst), datagrams to the clients' channels,
// and the timer's next deadline.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/stack.hh"
#include "manager/droproot.hh"
#include "manager/endpoint.hh"
#include "manager/loader.hh"
#include "manager/log.hh"
#include "manager/options.hh"
#include "manager/session.hh"
#include "manager/thread.hh"
#include "manager/typed_mem.hh"

namespace iopkt {

class Manager : private IfDriverHooks, public ControlContext {
 public:
  Manager(ManagerOptions opts, DropIdentity drop);
  ~Manager() override;

  // Everything up to ready: pools, the stack, sysctl nodes, modules and
  // drivers of the command line, the endpoint, threads. The error is a
  // message for the user.
  Result<void, std::string> start();
  // Serve until a termination signal (or request_stop). Returns when the
  // instance has shut down cleanly.
  void run(int signal_fd);
  void request_stop();

  // --- ControlContext: what client requests reach (main thread, lock held) ---
  Stack& stack() override { return *stack_; }
  int variant() const override { return opts_.variant; }
  int instance() const override { return opts_.instance; }
  const std::string& prefix() const override { return opts_.tcpip.prefix; }
  Result<void, DriverError> mount_driver_locked(const std::string& name,
                                                const std::string& options) override;
  Result<void, Errno> destroy_interface_locked(const std::string& name) override;
  Result<int, Errno> create_socket_locked(int domain, int type, int protocol,
                                          uint32_t fib) override;
  Channel* channel_by_client_fd(int fd) override;
  void drain_channel_locked(Channel& ch) override;
  Result<void, Errno> stream_connect_locked(Channel& ch, int client_fd,
                                            const SockAddr& to) override;
  Result<void, Errno> stream_listen_locked(Channel& ch, int backlog) override;
  Result<void, Errno> stream_shutdown_locked(Channel& ch, int client_fd, int how) override;
  const AccessPolicy& policy() const override { return policy_; }
  void log_denied(const Session& session, const char* what) override;

  // Move the core's output out (frames, datagrams, timer). Lock held.
  void flush_locked();
  Instant now() const;

 private:
  friend struct HostCallbacks;
  // IfDriverHooks
  Result<void, Errno> set_flags(Ifnet& ifp, uint32_t flags) override;
  Result<void, Errno> set_mtu(Ifnet& ifp, uint32_t mtu) override;

  Result<void, std::string> init_pools();
  Result<void, std::string> init_policy();
  void register_option_sysctls();
  Result<void, std::string> load_protocol(const ModuleSpec& spec);
  Result<void, DriverError> attach_driver_locked(const std::string& name,
                                                 const std::string& options);
  void detach_driver_if_locked(uint32_t ifindex);
  void packet_thread(int index);
  void rx_queue_ready(int thread, uint64_t queue_id);
  void tx_flush_locked(Ifnet& ifp, DriverIf& dif);
  void deliver_socket_events_locked();
  void pump_to_client_locked(Channel& ch);
  void channel_input(Channel& ch);
  void close_channel_locked(Channel& ch);
  static uint64_t channel_event_key(int fd);
  // stream channels (stream_channel.cc)
  Result<int, Errno> make_stream_channel_locked(SocketId so);
  // `events`: what epoll reported; 0 for any other call. `socket_wake`:
  // called for the socket's own wake-up (deliver_socket_events_locked).
  void stream_service_locked(Channel& ch, uint32_t events, bool socket_wake = false);
  void stream_listener_locked(Channel& ch, uint32_t events);
  void stream_connect_done_locked(Channel& ch);
  void stream_set_interest_locked(Channel& ch, uint32_t events);
  void stream_unregister_locked(Channel& ch);
  void stream_finish_locked(Channel& ch);
  bool client_end_alive(ino_t ino);
  void sweep_finished_locked();
  void arm_timer_locked();
  void accept_clients();
  void session_readable(Session& s);
  void close_session(Session& s);
  void apply_link_states_locked();
  void shutdown();
  void timer_thread();
  // qnx.kern.droproot: every thread drops itself (see droproot.hh).
  void droproot_check_this_thread();
  void droproot_complete();

  ManagerOptions opts_;
  DropIdentity drop_;  // -U, resolved; used when qnx.kern.droproot arrives
  AccessPolicy policy_;
  LogRateLimit denied_log_{5};  // refusals logged, at most 5 a second
  std::chrono::steady_clock::time_point origin_;
  std::unique_ptr<TypedMemory> typed_mem_;
  std::mutex mu_;  // the stack context
  std::unique_ptr<Stack> stack_;

  // drivers
  std::map<std::string, std::shared_ptr<DriverModule>> modules_;        // by path
  std::unordered_map<uint32_t, std::unique_ptr<DriverIf>> driver_ifs_;  // by ifindex
  std::mutex queues_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<RxQueue>> queues_;
  uint64_t next_queue_id_ = 1;
  std::vector<void*> protocol_handles_;
  // set while a driver's attach runs: what if_attach applies
  struct PendingAttach {
    std::shared_ptr<DriverModule> module;
    GenericDriverOptions generic;
    std::vector<uint32_t> created;  // ifindexes
  };
  PendingAttach* pending_attach_ = nullptr;

  // packet threads
  struct PacketThread {
    int epfd = -1;
    int kick_fd = -1;  // eventfd: wake to exit or to serve kicked queues
    std::mutex kick_mu;
    std::vector<uint64_t> kicked;
    Thread thread;
  };
  std::vector<std::unique_ptr<PacketThread>> pthreads_;
  std::atomic<bool> stopping_{false};
  int next_rx_thread_ = 0;

  // main loop
  int epfd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: another thread changed something for the loop
  Instant armed_deadline_{Duration::max()};
  std::optional<Endpoint> endpoint_;
  std::unordered_map<int, std::unique_ptr<Session>> sessions_;
  std::unordered_map<int, std::unique_ptr<Channel>> channels_;  // by stack-end fd
  std::unordered_map<ino_t, Channel*> channels_by_ino_;
  std::unordered_map<SocketId, Channel*> channels_by_socket_;
  // Finished stream channels, by the inode of the client's end: the socket
  // stays until that end is gone (stream_channel.cc).
  std::unordered_map<ino_t, std::unique_ptr<Channel>> finished_;
  std::chrono::steady_clock::time_point next_sweep_{};
  int diag_fd_ = -1;                   // NETLINK_SOCK_DIAG, for the sweep
  std::vector<std::byte> stream_buf_;  // stream channel scratch (lock held)
  std::vector<std::byte> io_buf_;      // main-thread scratch for channel input
  std::vector<std::byte> ctl_buf_;     // main-thread scratch for control requests
  std::string hostname_;
  std::unique_ptr<Callout> hostname_callout_;  // confstr_monitor
  Thread timer_thread_;
  std::string main_prio_applied_;
  bool shut_down_ = false;

  // qnx.kern.droproot. The sysctl write records the request under the
  // stack lock; the main loop then asks every thread to drop (bumping the
  // generation and waking them), waits for them without the lock, and drops
  // itself last.
  int64_t droproot_mask_ = 0;       // as applied (0: still root)
  int64_t droproot_requested_ = 0;  // set by the sysctl, taken by the main loop
  std::atomic<uint64_t> droproot_generation_{0};
  std::mutex droproot_mu_;
  std::condition_variable droproot_cv_;
  int droproot_pending_ = 0;  // threads yet to report
  std::string droproot_error_;
};

}  // namespace iopkt
