// core/stack.cc — a stack instance: construction (lo0, sysctl nodes),
// interfaces and their addresses, the clock, the deferred input queue.
#include "core/stack.hh"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace iopkt {

namespace {
// NetBSD's loopback MTU (LOMTU), which QNX's lo0 also shows.
constexpr uint32_t kLoopbackMtu = 33192;
// The deferred input queue is drained in bounded rounds so that a loop of
// packets (a socket sending to itself) cannot starve the caller.
constexpr size_t kNetisrBatch = 256;
constexpr size_t kNetisrMax = 4096;
}  // namespace

Stack::Stack(StackConfig cfg) : cfg_(std::move(cfg)), pool_(cfg_.pool), random_(cfg_.random_seed) {
  IfAttachArgs lo;
  lo.prefix = "lo";
  lo.unit = 0;
  lo.type = IfType::kLoopback;
  lo.mtu = lo.max_mtu = kLoopbackMtu;
  lo.flags = kIffLoopback | kIffMulticast;
  lo.driver_name = "loop";
  lo0_ = if_attach(lo).value();
  lo0_->flags |= kIffUp | kIffRunning;
  (void)in_control_add(*lo0_, InIfaddr{InAddr::loopback(), 8, InAddr::any()}, false);
  if (cfg_.variant == 6) {
    (void)in6_control_add(*lo0_, In6Ifaddr{In6Addr::loopback(), 128, 0}, false);
  }
  ip.next_id = static_cast<uint16_t>(random_.u32());
  register_sysctls();
}

Stack::~Stack() {
  // Sockets and interfaces hold Mbufs: free them before the pool goes.
  arp.entries.clear();     // entries hold callouts and packets
  ip_reass_drain(*this);   // reassembly queues hold packets and a callout
  tcp_destroy_all(*this);  // control blocks hold buffers and callouts
  sockets_.clear();
  udp.by_port.clear();
  netisr_q_.clear();
  ifnets_.clear();
}

void Stack::register_sysctls() {
  ip_register_sysctls(*this);        // net.inet.icmp.*, net.inet.ip.frag* (ip_icmp.cc)
  tcp_register_sysctls(*this);       // kern.somaxconn, net.inet.tcp.* (tcp_subr.cc)
  in_mcast_register_sysctls(*this);  // net.inet.ip.mcast.*, net.inet.igmp.*, reuseport_unicast
  (void)sysctl_.add_readonly(
      "net.route.stats.lookups", SysctlType::kInt,
      [this] { return std::to_string(rt.stat.lookups); }, "route lookups");
  (void)sysctl_.add_readonly(
      "net.route.stats.unreach", SysctlType::kInt,
      [this] { return std::to_string(rt.stat.unreach); }, "lookups that found no usable route");
  (void)sysctl_.add_readonly(
      "net.route.stats.reject", SysctlType::kInt, [this] { return std::to_string(rt.stat.reject); },
      "lookups that matched a reject or blackhole route");
  (void)sysctl_.add_int("net.inet.ip.ttl", &ip.default_ttl, 1, 255,
                        "default TTL of IPv4 packets (RFC 1122 §3.2.1.7)", true);
  (void)sysctl_.add_int("net.inet.ip.anonportmin", &udp.anonportmin, 1024, 65535,
                        "lowest ephemeral port (RFC 6056)", true);
  (void)sysctl_.add_int("net.inet.ip.anonportmax", &udp.anonportmax, 1024, 65535,
                        "highest ephemeral port (RFC 6056)", true);
  (void)sysctl_.add_int("net.inet.udp.recvspace", &udp.recvspace, 1024, 64 << 20,
                        "default UDP receive buffer, bytes", true);
  (void)sysctl_.add_int("net.inet.udp.sendspace", &udp.sendspace, 1024, 65535,
                        "largest UDP datagram a socket may send", true);
  for (const auto& c : ipstat_fields()) {
    auto field = c.field;
    (void)sysctl_.add_readonly(
        std::string("net.inet.ip.stats.") + c.name, SysctlType::kInt,
        [this, field] { return std::to_string(ip.stat.*field); }, "IPv4 counter");
  }
  for (const auto& c : arpstat_fields()) {
    auto field = c.field;
    (void)sysctl_.add_readonly(
        std::string("net.inet.arp.stats.") + c.name, SysctlType::kInt,
        [this, field] { return std::to_string(arp.stat.*field); }, "ARP counter");
  }
  (void)sysctl_.add_int("net.inet.arp.keep", &arp.keep_seconds, 1, 86400,
                        "seconds a resolved ARP entry lives", true);
  (void)sysctl_.add_int("net.inet.arp.maxtries", &arp.max_tries, 1, 100,
                        "ARP requests before a destination is declared down", true);
  (void)sysctl_.add_int("net.inet.arp.maxhold", &arp.max_hold, 1, 1024,
                        "packets held per destination while ARP resolves", true);
  for (const auto& c : udpstat_fields()) {
    auto field = c.field;
    (void)sysctl_.add_readonly(
        std::string("net.inet.udp.stats.") + c.name, SysctlType::kInt,
        [this, field] { return std::to_string(udp.stat.*field); }, "UDP counter");
  }
  (void)sysctl_.add_readonly(
      "kern.mbuf.mclbytes", SysctlType::kInt, [this] { return std::to_string(pool_.mclbytes()); },
      "cluster size (tcpip mclbytes)");
  (void)sysctl_.add_readonly(
      "kern.mbuf.pagesize", SysctlType::kInt,
      [this] { return std::to_string(pool_.config().pagesize); },
      "allocation quantum of the packet pools (tcpip pagesize)");
  (void)sysctl_.add_readonly(
      "kern.mbuf.mbufs_in_use", SysctlType::kInt,
      [this] { return std::to_string(pool_.stats().mbufs_in_use); }, "packet headers in use");
  (void)sysctl_.add_readonly(
      "kern.mbuf.clusters_in_use", SysctlType::kInt,
      [this] { return std::to_string(pool_.stats().clusters_in_use); }, "clusters in use");
  (void)sysctl_.add_readonly(
      "kern.mbuf.clusters_total", SysctlType::kInt,
      [this] { return std::to_string(pool_.stats().clusters_total); }, "clusters carved");
  (void)sysctl_.add_readonly(
      "kern.mbuf.alloc_failures", SysctlType::kInt,
      [this] { return std::to_string(pool_.stats().alloc_failures); },
      "allocations refused because the pool was full");
}

void Stack::advance(Instant now) {
  callouts_.advance(now);
  netisr_run();
}

// --- interfaces ---------------------------------------------------------

std::string Stack::next_ifname(const std::string& prefix, int unit) const {
  if (unit >= 0) {
    return prefix + std::to_string(unit);
  }
  for (int u = 0;; ++u) {
    std::string name = prefix + std::to_string(u);
    bool taken =
        std::any_of(ifnets_.begin(), ifnets_.end(), [&](const auto& i) { return i->name == name; });
    if (!taken) {
      return name;
    }
  }
}

Result<Ifnet*, std::string> Stack::if_attach(const IfAttachArgs& args) {
  if (args.prefix.empty() || args.prefix.size() > 12 ||
      !std::all_of(args.prefix.begin(), args.prefix.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
      })) {
    return Err(std::string("interface name prefix '") + args.prefix +
               "' must be 1-12 letters or '_'");
  }
  if (args.mtu < 68 || args.mtu > args.max_mtu) {
    return Err("MTU " + std::to_string(args.mtu) + " outside 68.." + std::to_string(args.max_mtu));
  }
  std::string name = next_ifname(args.prefix, args.unit);
  if (if_find(name) != nullptr) {
    return Err("interface " + name + " already exists");
  }
  auto ifp = std::make_unique<Ifnet>();
  ifp->name = name;
  ifp->prefix = args.prefix;
  ifp->unit = std::stoi(name.substr(args.prefix.size()));
  ifp->index = next_ifindex_++;
  ifp->type = args.type;
  ifp->flags = args.flags & ~(kIffUp | kIffRunning);
  ifp->mtu = args.mtu;
  ifp->max_mtu = args.max_mtu;
  ifp->lladdr = args.mac;
  ifp->caps = args.caps;
  ifp->driver_name = args.driver_name;
  Ifnet* raw = ifp.get();
  ifnets_.push_back(std::move(ifp));
  return raw;
}

Result<void, Errno> Stack::if_detach(std::string_view name) {
  auto it =
      std::find_if(ifnets_.begin(), ifnets_.end(), [&](const auto& i) { return i->name == name; });
  if (it == ifnets_.end()) {
    return Err(Errno{ENXIO});
  }
  if (it->get() == lo0_) {
    return Err(Errno{EBUSY});  // lo0 is part of the stack
  }
  Ifnet* ifp = it->get();
  std::erase(tx_pending_, ifp);
  arp_ifdetach(*this, *ifp);
  in_mcast_ifdetach(*this, ifp->index);
  for (auto& fib : rt.fibs) {
    if (fib) {
      fib->remove_interface(ifp->index);
    }
  }
  // Packets already queued for input from this interface keep only its
  // index, which is never reused, so they are dropped at dequeue.
  ifnets_.erase(it);
  return {};
}

Ifnet* Stack::if_find(std::string_view name) {
  for (auto& i : ifnets_) {
    if (i->name == name) {
      return i.get();
    }
  }
  return nullptr;
}

Ifnet* Stack::if_by_index(uint32_t index) {
  for (auto& i : ifnets_) {
    if (i->index == index) {
      return i.get();
    }
  }
  return nullptr;
}

Result<void, Errno> Stack::if_set_flags(Ifnet& ifp, uint32_t set, uint32_t clear) {
  if (((set | clear) & ~kIffUserSettable) != 0) {
    return Err(Errno{EINVAL});
  }
  uint32_t flags = (ifp.flags | set) & ~clear;
  if (flags == ifp.flags) {
    return {};
  }
  if (hooks_ != nullptr && &ifp != lo0_) {
    auto r = hooks_->set_flags(ifp, flags & kIffUserSettable);
    if (!r) {
      return r;
    }
  }
  ifp.flags = flags;
  // RUNNING follows UP for the interfaces we drive (BSD drivers set it in
  // their init routine once the hardware is up); the loopback is always
  // running, as NetBSD's (flags=8048 when down).
  if (ifp.type == IfType::kLoopback) {
    ifp.flags |= kIffRunning;
  } else if (ifp.is_up()) {
    ifp.flags |= kIffRunning;
  } else {
    ifp.flags &= ~kIffRunning;
    ifp.snd.clear();
  }
  return {};
}

Result<void, Errno> Stack::if_set_mtu(Ifnet& ifp, uint32_t mtu) {
  if (mtu < 68 || mtu > ifp.max_mtu) {
    return Err(Errno{EINVAL});
  }
  if (hooks_ != nullptr && &ifp != lo0_) {
    auto r = hooks_->set_mtu(ifp, mtu);
    if (!r) {
      return r;
    }
  }
  ifp.mtu = mtu;
  return {};
}

Result<void, Errno> Stack::in_control_add(Ifnet& ifp, InIfaddr ia, bool alias) {
  if (ia.prefixlen > 32 || ia.addr.is_any() || ia.addr.is_multicast() || ia.addr.is_broadcast()) {
    return Err(Errno{EINVAL});
  }
  if (ia.broadcast.is_any() && (ifp.flags & kIffBroadcast) != 0 && ia.prefixlen < 31) {
    ia.broadcast = InAddr{ia.net().v | ~in_prefix_mask(ia.prefixlen)};
  }
  for (auto& i : ifnets_) {
    for (auto& a : i->in_addrs) {
      if (a.addr == ia.addr && (i.get() != &ifp || alias)) {
        return Err(Errno{EEXIST});
      }
    }
  }
  if (!alias && !ifp.in_addrs.empty()) {
    in_ifaddr_route_remove(*this, ifp, ifp.in_addrs.front());
    ifp.in_addrs.front() = ia;  // NetBSD: no "alias" replaces the primary
  } else {
    ifp.in_addrs.push_back(ia);
  }
  in_ifaddr_route_add(*this, ifp, ia);
  // Configuring an address brings the interface up, as BSD's in_ifinit.
  if (!ifp.is_up()) {
    (void)if_set_flags(ifp, kIffUp, 0);
  }
  arp_announce(*this, ifp, ia.addr);
  return {};
}

Result<void, Errno> Stack::in_control_delete(Ifnet& ifp, InAddr addr) {
  auto it = std::find_if(ifp.in_addrs.begin(), ifp.in_addrs.end(),
                         [&](const InIfaddr& a) { return a.addr == addr; });
  if (it == ifp.in_addrs.end()) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  InIfaddr gone = *it;
  ifp.in_addrs.erase(it);
  in_ifaddr_route_remove(*this, ifp, gone);
  arp_ifdetach(*this, ifp);  // entries learnt through the old subnet
  return {};
}

Result<void, Errno> Stack::in6_control_add(Ifnet& ifp, In6Ifaddr ia, bool alias) {
  if (cfg_.variant != 6) {
    return Err(Errno{EAFNOSUPPORT});
  }
  if (ia.prefixlen > 128 || ia.addr.is_any() || ia.addr.is_multicast()) {
    return Err(Errno{EINVAL});
  }
  for (auto& a : ifp.in6_addrs) {
    if (a.addr == ia.addr) {
      if (!alias) {
        a = ia;
        return {};
      }
      return Err(Errno{EEXIST});
    }
  }
  // IPv6 interfaces carry many addresses; "alias" is the normal case and a
  // plain add never replaces another address (NetBSD in6_control).
  ifp.in6_addrs.push_back(ia);
  if (!ifp.is_up()) {
    (void)if_set_flags(ifp, kIffUp, 0);
  }
  return {};
}

Result<void, Errno> Stack::in6_control_delete(Ifnet& ifp, const In6Addr& addr) {
  if (cfg_.variant != 6) {
    return Err(Errno{EAFNOSUPPORT});
  }
  auto n = std::erase_if(ifp.in6_addrs, [&](const In6Ifaddr& a) { return a.addr == addr; });
  if (n == 0) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  return {};
}

Ifnet* Stack::in_local_ifnet(InAddr a) {
  for (auto& i : ifnets_) {
    for (auto& ia : i->in_addrs) {
      if (ia.addr == a) {
        return i.get();
      }
    }
  }
  return nullptr;
}

// --- frames ---------------------------------------------------------------

void Stack::if_enqueue(Ifnet& ifp, Mbuf frame) noexcept {
  if (!ifp.is_up() || ifp.snd.size() >= ifp.snd_max) {
    ++ifp.stats.oqdrops;
    return;
  }
  if (ifp.snd.empty()) {
    tx_pending_.push_back(&ifp);
  }
  ifp.snd.push_back(std::move(frame));
}

std::vector<Ifnet*> Stack::take_tx_pending() {
  std::vector<Ifnet*> out;
  out.swap(tx_pending_);
  return out;
}

void Stack::netisr_enqueue(Ifnet& ifp, Mbuf packet) noexcept {
  if (netisr_q_.size() >= kNetisrMax) {
    ++ifp.stats.iqdrops;
    return;
  }
  netisr_q_.emplace_back(std::move(packet), ifp.index);
}

void Stack::netisr_run() noexcept {
  if (in_netisr_) {
    return;  // the outer call drains what we would
  }
  in_netisr_ = true;
  for (size_t n = 0; n < kNetisrBatch && !netisr_q_.empty(); ++n) {
    auto [m, index] = std::move(netisr_q_.front());
    netisr_q_.pop_front();
    Ifnet* ifp = if_by_index(index);
    if (ifp == nullptr) {
      continue;  // interface detached meanwhile
    }
    ++ifp->stats.ipackets;
    ifp->stats.ibytes += m.len();
    ip_input(*this, std::move(m), *ifp);
  }
  in_netisr_ = false;
}

// --- socket events --------------------------------------------------------

std::vector<SocketId> Stack::so_list() const {
  std::vector<SocketId> ids;
  ids.reserve(sockets_.size());
  for (const auto& [id, so] : sockets_) {
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void Stack::so_wakeup(Socket& so) {
  if (!so.event_pending) {
    so.event_pending = true;
    socket_events_.push_back(so.id);
  }
}

std::vector<SocketId> Stack::take_socket_events() {
  std::vector<SocketId> out;
  out.swap(socket_events_);
  for (SocketId id : out) {
    if (Socket* so = so_find(id)) {
      so->event_pending = false;
    }
  }
  return out;
}

}  // namespace iopkt
