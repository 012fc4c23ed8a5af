// core/stack.hh — one TCP/IP stack instance: the core as a library without
// I/O (DESIGN.md). Frames and the current time go in; frames (on each
// interface's transmit queue), socket events and timer deadlines come out.
// The manager drives it under one lock (the "stack context"); tests drive it
// directly with a virtual clock (tests/harness/).
//
// Protocol code lives in the BSD files (net/, netinet/, socket/) as member
// functions or free functions taking the Stack; this header is the surface
// the manager and the harness use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "kern/random.hh"
#include "kern/result.hh"
#include "kern/sysctl.hh"
#include "kern/time.hh"
#include "net/if.hh"
#include "net/route.hh"
#include "netinet/if_arp.hh"
#include "netinet/ip_var.hh"
#include "netinet/tcp_var.hh"
#include "netinet/udp_var.hh"
#include "socket/socket.hh"

namespace iopkt {

struct StackConfig {
  int variant = 4;  // 4: IPv4 only; 6: IPv6 and IPv4
  PoolConfig pool;
  uint64_t random_seed = 1;
};

// What the core asks of the driver behind an interface. The manager
// implements it over the driver ABI; tests implement it in the harness.
class IfDriverHooks {
 public:
  virtual ~IfDriverHooks() = default;
  virtual Result<void, Errno> set_flags(Ifnet& ifp, uint32_t flags) = 0;
  virtual Result<void, Errno> set_mtu(Ifnet& ifp, uint32_t mtu) = 0;
};

struct IfAttachArgs {
  std::string prefix = "en";
  int unit = -1;  // -1: next free for the prefix
  IfType type = IfType::kEther;
  std::array<uint8_t, 6> mac{};
  uint32_t mtu = 1500, max_mtu = 1500;
  uint32_t flags = 0;  // link capabilities (BROADCAST, MULTICAST, SIMPLEX)
  uint32_t caps = 0;
  std::string driver_name;
};

class Stack {
 public:
  explicit Stack(StackConfig cfg);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  int variant() const { return cfg_.variant; }
  MbufPool& pool() { return pool_; }
  CalloutWheel& callouts() { return callouts_; }
  SysctlTree& sysctl() { return sysctl_; }
  Random& random() { return random_; }

  // --- time ---
  // Set the clock and run what is due (timers, then deferred input).
  void advance(Instant now);
  Instant now() const { return callouts_.now(); }
  // Deferred input is left over (the bounded drain stopped early): call
  // advance() again without waiting.
  bool work_pending() const { return !netisr_q_.empty(); }
  std::optional<Instant> next_deadline() const { return callouts_.next_deadline(); }

  // --- interfaces ---
  void set_driver_hooks(IfDriverHooks* hooks) { hooks_ = hooks; }
  Result<Ifnet*, std::string> if_attach(const IfAttachArgs& args);
  // Removes the interface with its addresses; queued frames are freed.
  Result<void, Errno> if_detach(std::string_view name);
  Ifnet* if_find(std::string_view name);
  Ifnet* if_by_index(uint32_t index);
  const std::vector<std::unique_ptr<Ifnet>>& interfaces() const { return ifnets_; }
  Ifnet& loopback() { return *lo0_; }
  Result<void, Errno> if_set_flags(Ifnet& ifp, uint32_t set, uint32_t clear);
  Result<void, Errno> if_set_mtu(Ifnet& ifp, uint32_t mtu);
  // IPv4 addresses (SIOCAIFADDR/SIOCDIFADDR). Without `alias` the primary
  // address is replaced, as NetBSD's ifconfig does.
  Result<void, Errno> in_control_add(Ifnet& ifp, InIfaddr ia, bool alias);
  Result<void, Errno> in_control_delete(Ifnet& ifp, InAddr addr);
  Result<void, Errno> in6_control_add(Ifnet& ifp, In6Ifaddr ia, bool alias);
  Result<void, Errno> in6_control_delete(Ifnet& ifp, const In6Addr& addr);
  // Is `a` one of this stack's IPv4 addresses (any interface)?
  Ifnet* in_local_ifnet(InAddr a);

  // --- the packet path ---
  // A frame from a driver (link header included). Consumes it.
  void if_input(Ifnet& ifp, Mbuf frame) noexcept;
  // Queue a frame for the driver (counted drop when the queue is full or
  // the interface is down). Consumes it.
  void if_enqueue(Ifnet& ifp, Mbuf frame) noexcept;
  // Interfaces that gained frames on `snd` since the last call.
  std::vector<Ifnet*> take_tx_pending();
  // Deliver an IP packet to this stack as if received on `ifp` after the
  // current call unwinds (BSD's netisr queue; used by the loopback).
  void netisr_enqueue(Ifnet& ifp, Mbuf packet) noexcept;

  // --- sockets (the client-facing calls; errno as a client sees it) ---
  Result<SocketId, Errno> so_create(int domain, int type, int protocol);
  Result<void, Errno> so_bind(SocketId so, const SockAddr& addr);
  Result<void, Errno> so_connect(SocketId so, const SockAddr& addr);
  Result<SockAddr, Errno> so_getsockname(SocketId so);
  Result<SockAddr, Errno> so_getpeername(SocketId so);
  Result<void, Errno> so_setsockopt(SocketId so, int level, int name,
                                    std::span<const std::byte> val);
  Result<std::vector<std::byte>, Errno> so_getsockopt(SocketId so, int level, int name, size_t len);
  Result<void, Errno> so_shutdown(SocketId so, int how);
  void so_close(SocketId so);
  // One datagram; `to` null means the connected peer; `opts` the
  // ancillary data of the sendmsg (IP_PKTINFO, IP_TTL, IP_TOS), null: none.
  Result<void, Errno> so_send_dgram(SocketId so, Mbuf payload, const SockAddr* to,
                                    const DgramSendOpts* opts = nullptr);
  // Pop the oldest received datagram, if any.
  std::optional<Datagram> so_recv_dgram(SocketId so);
  Socket* so_find(SocketId so);
  // Every socket, in creation order (netstat -a).
  std::vector<SocketId> so_list() const;
  // Sockets whose receive queue or error changed since the last call.
  std::vector<SocketId> take_socket_events();
  bool socket_events_pending() const { return !socket_events_.empty(); }
  // Called by protocols when a socket has something new for its owner.
  void so_wakeup(Socket& so);

  // --- stream (TCP) sockets; netinet/tcp_usrreq.cc ---
  // A wakeup of a stream socket (take_socket_events) means one of: readable
  // (data, EOF, or a connection to accept), writable (send space freed, or
  // connect completed: "connected"), or an error (ECONNRESET, ECONNREFUSED,
  // ETIMEDOUT in SO_ERROR). so_stream_status tells which. so_connect on a
  // stream socket is non-blocking: EINPROGRESS, then a wakeup when
  // connected (status.connected) or failed (status.error).
  // The backlog is cut to kern.somaxconn (at least 1).
  Result<void, Errno> so_listen(SocketId so, int backlog);
  // A new socket for the oldest completed connection; EAGAIN if none. The
  // new socket belongs to the caller like one from so_create.
  Result<SocketId, Errno> so_accept(SocketId so);
  // Copies up to the free send-buffer space (SO_SNDBUF) of `bytes` into
  // the send queue and returns how many; EAGAIN when full or not yet
  // connected; EPIPE after shutdown(SHUT_WR) or the connection's end; a
  // pending error (ECONNRESET ...) first. `urgent`: the last byte is urgent
  // data (send with MSG_OOB), marked only when every byte was taken.
  Result<size_t, Errno> so_send_stream(SocketId so, std::span<const std::byte> bytes,
                                       bool urgent = false);
  // Up to `max` received bytes; an empty vector is end of file; EAGAIN
  // when nothing is there yet; a pending error (ECONNRESET, ETIMEDOUT,
  // ECONNREFUSED) once the data before it was read.
  Result<std::vector<std::byte>, Errno> so_recv_stream(SocketId so, size_t max);
  // The same without a copy: `sink` sees the received bytes as segments
  // and returns how many it took from the front; those leave the receive
  // buffer (and a window update may go out). Returns the bytes taken (0
  // when nothing is queued; errors and end of file are so_stream_status's).
  size_t so_recv_stream_to(
      SocketId so, const std::function<size_t(std::span<const std::span<const std::byte>>)>& sink);
  Result<TcpSocketStatus, Errno> so_stream_status(SocketId so);

  // --- protocols' state ---
  IpState ip;
  UdpState udp;
  TcpState tcp;
  ArpTable arp;
  RoutingState rt;

 private:
  void netisr_run() noexcept;
  void register_sysctls();
  std::string next_ifname(const std::string& prefix, int unit) const;

  StackConfig cfg_;
  MbufPool pool_;
  CalloutWheel callouts_;
  SysctlTree sysctl_;
  Random random_;
  IfDriverHooks* hooks_ = nullptr;
  std::vector<std::unique_ptr<Ifnet>> ifnets_;
  Ifnet* lo0_ = nullptr;
  uint32_t next_ifindex_ = 1;
  std::vector<Ifnet*> tx_pending_;
  std::deque<std::pair<Mbuf, uint32_t>> netisr_q_;  // (packet, rcvif index)
  bool in_netisr_ = false;
  std::unordered_map<SocketId, std::unique_ptr<Socket>> sockets_;
  SocketId next_socket_id_ = 1;
  std::vector<SocketId> socket_events_;
};

}  // namespace iopkt
