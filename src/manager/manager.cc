// manager/manager.cc — a running instance: start-up, the main loop, the
// packet threads, the timer thread, data channels and driver attachment.
// See manager.hh for the thread model.
#include "manager/manager.hh"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "manager/log.hh"
#include "manager/priority.hh"
#include "manager/signals.hh"

namespace iopkt {

namespace {

// What an epoll event is about: kind in the top byte, fd or id below.
enum EventKind : uint64_t { kEvListen = 1, kEvSignal, kEvWake, kEvSession, kEvChannel };
constexpr uint64_t ev_key(EventKind k, uint64_t v) { return (uint64_t{k} << 56) | v; }
constexpr EventKind ev_kind(uint64_t key) { return static_cast<EventKind>(key >> 56); }
constexpr uint64_t ev_val(uint64_t key) { return key & ((uint64_t{1} << 56) - 1); }

constexpr uint64_t kKickEvent = ~uint64_t{0};
constexpr uint32_t kRxBatch = 32;
constexpr int kRxRoundsBeforeYield = 8;
constexpr int kRequestsPerWake = 64;
constexpr int kDatagramsPerWake = 64;
constexpr rlim_t kWantedDescriptors = 1 << 20;  // Linux's default fs.nr_open
constexpr size_t kDgramHeadroom = 128;          // link + IP + transport headers to come
constexpr size_t kEtherMinFrame = 60;           // without FCS

void epoll_add(int epfd, int fd, uint32_t events, uint64_t key) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

void epoll_mod(int epfd, int fd, uint32_t events, uint64_t key) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

void wake(int efd) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(efd, &one, sizeof one);
}

void drain_eventfd(int efd) {
  uint64_t v;
  [[maybe_unused]] ssize_t n = read(efd, &v, sizeof v);
}

uint64_t random_seed() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           static_cast<uint64_t>(getpid());
  }
  return seed;
}

// --- the host side of the driver ABI (C callbacks) ---

Manager* manager_of(iopkt_host* host) { return reinterpret_cast<Manager*>(host); }

}  // namespace

// Friends of Manager that implement the C callbacks of iopkt_host_ops.
struct HostCallbacks {
  static void log(iopkt_host*, int level, const char* msg) {
    log_msg(std::clamp(level, LOG_EMERG, LOG_DEBUG), "%s", msg);
  }
  static iopkt_if* if_attach(iopkt_host* host, const iopkt_if_desc* desc, const iopkt_if_ops* ops,
                             void* softc, char* err, size_t errlen);
  static void if_link_state(iopkt_if* ifp, int up) {
    auto* dif = reinterpret_cast<DriverIf*>(ifp);
    dif->link_state.store(up ? 1 : 0);
  }
  static void if_rx_kick(iopkt_if* ifp, uint32_t q);
  static const iopkt_host_ops kOps;
  static Manager* current;  // the manager whose drivers these are
};

Manager* HostCallbacks::current = nullptr;
const iopkt_host_ops HostCallbacks::kOps = {
    IOPKT_DRIVER_ABI_VERSION,      &HostCallbacks::log,        &HostCallbacks::if_attach,
    &HostCallbacks::if_link_state, &HostCallbacks::if_rx_kick,
};

static void set_err(char* err, size_t errlen, const std::string& msg) {
  if (err != nullptr && errlen > 0) {
    std::snprintf(err, errlen, "%s", msg.c_str());
  }
}

iopkt_if* HostCallbacks::if_attach(iopkt_host* host, const iopkt_if_desc* desc,
                                   const iopkt_if_ops* ops, void* softc, char* err, size_t errlen) {
  Manager* m = manager_of(host);
  if (m->pending_attach_ == nullptr) {
    set_err(err, errlen, "if_attach called outside the driver's attach");
    return nullptr;
  }
  if (desc == nullptr || ops == nullptr || desc->struct_size < sizeof(iopkt_if_desc) ||
      ops->struct_size < offsetof(iopkt_if_ops, set_lladdr) || ops->rx_burst == nullptr ||
      ops->tx_burst == nullptr || ops->detach == nullptr) {
    set_err(err, errlen, "interface description or operations incomplete");
    return nullptr;
  }
  if (desc->n_rx_queues < 1 || desc->n_rx_queues > IOPKT_MAX_RX_QUEUES) {
    set_err(err, errlen, "n_rx_queues must be 1.." + std::to_string(IOPKT_MAX_RX_QUEUES));
    return nullptr;
  }
  for (uint32_t q = 0; q < desc->n_rx_queues; ++q) {
    if (desc->rx_fd[q] < 0) {
      set_err(err, errlen, "receive queue " + std::to_string(q) + " has no fd");
      return nullptr;
    }
  }
  const GenericDriverOptions& g = m->pending_attach_->generic;
  IfAttachArgs a;
  a.prefix = g.name.value_or(desc->name_prefix != nullptr ? desc->name_prefix : "en");
  a.unit = g.unit.value_or(desc->unit);
  a.type = desc->link_type == IOPKT_LINK_RAW_IP ? IfType::kRawIp : IfType::kEther;
  std::memcpy(a.mac.data(), desc->mac, 6);
  if (g.mac) {
    a.mac = *g.mac;
  }
  a.max_mtu = std::max(desc->max_mtu, desc->mtu);
  a.mtu = desc->mtu;
  if (g.mtu) {
    if (*g.mtu > a.max_mtu) {
      set_err(err, errlen,
              "mtu=" + std::to_string(*g.mtu) + " is above the driver's maximum " +
                  std::to_string(a.max_mtu));
      return nullptr;
    }
    if (*g.mtu != desc->mtu && ops->set_mtu != nullptr && ops->set_mtu(softc, *g.mtu) < 0) {
      set_err(err, errlen, "the driver refused mtu=" + std::to_string(*g.mtu));
      return nullptr;
    }
    a.mtu = *g.mtu;
  }
  a.flags = desc->flags &
            (kIffBroadcast | kIffMulticast | kIffSimplex | IOPKT_IFF_POINTOPOINT | IOPKT_IFF_NOARP);
  a.caps = desc->caps;
  a.driver_name = m->pending_attach_->module->entry->name != nullptr
                      ? m->pending_attach_->module->entry->name
                      : "";
  auto ifp = m->stack_->if_attach(a);
  if (!ifp) {
    set_err(err, errlen, ifp.error());
    return nullptr;
  }
  if (g.mac && std::memcmp(g.mac->data(), desc->mac, 6) != 0 &&
      ops->struct_size >= offsetof(iopkt_if_ops, set_lladdr) + sizeof ops->set_lladdr &&
      ops->set_lladdr != nullptr) {
    if (int rc = ops->set_lladdr(softc, g.mac->data()); rc < 0) {
      (void)m->stack_->if_detach((*ifp)->name);
      set_err(err, errlen, std::string("the driver cannot take mac=: ") + std::strerror(-rc));
      return nullptr;
    }
  }
  auto dif = std::make_unique<DriverIf>();
  dif->ifindex = (*ifp)->index;
  dif->module = m->pending_attach_->module;
  // A module built before set_lladdr existed hands a shorter table.
  std::memcpy(&dif->ops, ops, std::min<size_t>(ops->struct_size, sizeof(iopkt_if_ops)));
  dif->softc = softc;
  if (ops->quiesce != nullptr) {
    dif->quiesce_id = register_quiesce(ops->quiesce, softc);
  }
  uint32_t frame_cap = a.max_mtu + 14 + 4;  // Ethernet header and a VLAN tag
  for (uint32_t q = 0; q < desc->n_rx_queues; ++q) {
    auto rq = std::make_shared<RxQueue>();
    {
      std::lock_guard<std::mutex> g2(m->queues_mu_);
      rq->id = m->next_queue_id_++;
      m->queues_[rq->id] = rq;
    }
    rq->ifindex = dif->ifindex;
    rq->queue = q;
    rq->fd = desc->rx_fd[q];
    rq->ops = &dif->ops;
    rq->softc = softc;
    rq->frame_cap = frame_cap;
    rq->thread = m->next_rx_thread_++ % static_cast<int>(m->pthreads_.size());
    epoll_add(m->pthreads_[rq->thread]->epfd, rq->fd, EPOLLIN, rq->id);
    dif->queues.push_back(rq);
  }
  DriverIf* raw = dif.get();
  m->driver_ifs_[dif->ifindex] = std::move(dif);
  ++m->pending_attach_->module->interfaces;
  m->pending_attach_->created.push_back(raw->ifindex);
  log_msg(LOG_INFO, "%s attached (%s, mtu %u)", (*ifp)->name.c_str(), a.driver_name.c_str(), a.mtu);
  return reinterpret_cast<iopkt_if*>(raw);
}

void HostCallbacks::if_rx_kick(iopkt_if* ifp, uint32_t q) {
  auto* dif = reinterpret_cast<DriverIf*>(ifp);
  Manager* m = current;
  if (m == nullptr || q >= dif->queues.size()) {
    return;
  }
  auto& rq = dif->queues[q];
  auto& pt = *m->pthreads_[rq->thread];
  {
    std::lock_guard<std::mutex> g(pt.kick_mu);
    pt.kicked.push_back(rq->id);
  }
  wake(pt.kick_fd);
}

// --- construction and start-up -------------------------------------------

Manager::Manager(ManagerOptions opts, DropIdentity drop)
    : opts_(std::move(opts)), drop_(std::move(drop)), origin_(std::chrono::steady_clock::now()) {
  HostCallbacks::current = this;
}

Manager::~Manager() {
  shutdown();
  HostCallbacks::current = nullptr;
}

Instant Manager::now() const {
  return Instant{std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - origin_)};
}

Result<void, std::string> Manager::init_pools() {
  const TcpipOptions& t = opts_.tcpip;
  PoolConfig pc;
  pc.mclbytes = static_cast<size_t>(t.mclbytes);
  long sys_page = sysconf(_SC_PAGESIZE);
  pc.pagesize = t.pagesize > 0 ? static_cast<size_t>(t.pagesize) : static_cast<size_t>(sys_page);
  pc.mbuf_cache = static_cast<size_t>(t.mbuf_cache);
  pc.pkt_cache = static_cast<size_t>(t.pkt_cache);
  pc.cache = t.cache;
  if (!t.pkt_typed_mem.empty()) {
    auto tm = TypedMemory::open(t.pkt_typed_mem, pc.pagesize);
    if (!tm) {
      return Err("pkt_typed_mem=" + t.pkt_typed_mem + ": " + tm.error());
    }
    typed_mem_ = std::move(tm.value());
    TypedMemory* raw = typed_mem_.get();
    pc.chunk_alloc = [raw](size_t n) { return raw->alloc(n); };
    pc.chunk_free = [raw](void* p, size_t n) { raw->free(p, n); };
  }
  stack_ = std::make_unique<Stack>(StackConfig{opts_.variant, pc, random_seed()});
  stack_->set_driver_hooks(this);
  // tcpip reuseport_unicast: the stack's net.inet.udp.reuseport_unicast.
  stack_->udp.reuseport_unicast = t.reuseport_unicast ? 1 : 0;
  // tcpip somaxconn: the limit every listen backlog is cut to (the stack's
  // kern.somaxconn, which sysctl -w changes later).
  stack_->tcp.somaxconn = t.somaxconn;
  // tcpip no_rst_validation: RFC 5961's checks off (net.inet.tcp.rst_validation).
  stack_->tcp.rst_validation = t.no_rst_validation ? 0 : 1;
  return {};
}

void Manager::register_option_sysctls() {
  SysctlTree& t = stack_->sysctl();
  const TcpipOptions& o = opts_.tcpip;
  auto ro_int = [&](const std::string& name, int64_t v, const char* desc) {
    (void)t.add_readonly(
        name, SysctlType::kInt, [v] { return std::to_string(v); }, desc);
  };
  auto ro_str = [&](const std::string& name, std::string v, const char* desc) {
    (void)t.add_readonly(
        name, SysctlType::kString, [v] { return v; }, desc);
  };
  ro_int("qnx.kern.instance", opts_.instance, "instance number (-i)");
  ro_int("qnx.kern.variant", opts_.variant, "4: io-pkt-v4-hc, 6: io-pkt-v6-hc");
  // Every tcpip option shows under qnx.tcpip.NAME with the value in effect
  // (SPEC §1 "Values show in sysctl"), straight from the option table.
  for (const auto& info : tcpip_option_table()) {
    std::string name = "qnx.tcpip." + std::string(info.name);
    std::string value = tcpip_option_value_text(o, info);
    (void)t.add_readonly(
        name, SysctlType::kString, [value] { return value; }, std::string(info.description));
  }
  ro_int("qnx.kern.priority", opts_.priority, "QNX priority of the main thread (-P)");
  ro_int("qnx.kern.threads", static_cast<int64_t>(pthreads_.size()), "packet threads (-t)");
  ro_str("qnx.kern.droproot_user", drop_.text(), "uid:gid,groups to drop to (-U), resolved");
  // Writing a non-zero MASK drops to -U's user, keeping the capabilities
  // whose numbers are the set bits (0x1000 CAP_NET_ADMIN, 0x2000
  // CAP_NET_RAW, 0x400 CAP_NET_BIND_SERVICE); once only.
  SysctlNode drop;
  drop.name = "qnx.kern.droproot";
  drop.type = SysctlType::kInt;
  drop.description =
      "drop to -U's user keeping the capabilities in this mask (bit n: capability n)";
  drop.writable = true;
  drop.min = 0;
  drop.max = (int64_t{1} << 41) - 1;  // CAP_LAST_CAP is 40 on this kernel
  drop.get = [this] {
    return std::to_string(droproot_mask_ != 0 ? droproot_mask_ : droproot_requested_);
  };
  drop.set = [this](std::string_view v) -> Result<void, Errno> {
    int64_t mask = std::stoll(std::string(v));
    if (droproot_mask_ != 0 || droproot_requested_ != 0) {
      return Err(Errno{EPERM});  // one way: root is not coming back
    }
    if (mask == 0) {
      return {};  // 0: stay root
    }
    if (geteuid() != 0) {
      return Err(Errno{EPERM});  // not root: nothing to drop from
    }
    droproot_requested_ = mask;  // the main loop carries it out
    return {};
  };
  (void)t.add(std::move(drop));
  (void)t.add_readonly(
      "kern.hostname", SysctlType::kString, [this] { return hostname_; },
      "host name (read at start; followed with tcpip confstr_monitor)");
}

Result<void, std::string> Manager::load_protocol(const ModuleSpec& spec) {
  auto path = resolve_module(spec.name, "lsm-");
  if (!path) {
    return Err("-p " + spec.name + ": " + path.error());
  }
  // The protocol-module ABI arrives with the first lsm module (pf).
  return Err("-p " + spec.name + ": protocol modules (" + *path +
             ") are not supported yet; the packet filter brings them");
}

Result<void, std::string> Manager::init_policy() {
  const TcpipOptions& t = opts_.tcpip;
  for (const auto& [gid, fib] : t.mfib_map) {
    policy_.fib_by_group.emplace_back(static_cast<gid_t>(gid), fib);
    log_msg(LOG_INFO, "tcpip: mfib_gid_map: group %u uses FIB %u", static_cast<unsigned>(gid),
            static_cast<unsigned>(fib));
  }
  if (t.rgroup_allowed) {
    policy_.admin_group = static_cast<gid_t>(*t.rgroup_allowed);
    log_msg(LOG_INFO, "tcpip: rgroup_allowed: group %u may configure the stack",
            static_cast<unsigned>(*policy_.admin_group));
  }
  if (!t.endpoint_group.empty()) {
    gid_t gid;
    if (auto n = parse_int(t.endpoint_group); n && *n >= 0 && *n <= 0x7fffffff) {
      gid = static_cast<gid_t>(*n);
    } else if (group* g = getgrnam(t.endpoint_group.c_str())) {
      gid = g->gr_gid;
    } else {
      return Err("endpoint_group=" + t.endpoint_group + ": no such group");
    }
    policy_.endpoint_group = gid;
  }
  SysctlTree& tree = stack_->sysctl();
  (void)tree.add_int("net.inet.ip.lowportmax", &policy_.lowportmax, 0, 65535,
                     "ports up to this need root or CAP_NET_BIND_SERVICE to bind", true);
  (void)tree.add_string("net.inet.ping_group_range", &policy_.ping_group_range,
                        "groups \"LO HI\" that may open ICMP echo sockets without privilege", true);
  return {};
}

Result<void, std::string> Manager::start() {
  // Many clients, each socket a channel (two descriptors while an accepted
  // connection waits for its accept): take all the descriptors we may —
  // with CAP_SYS_RESOURCE up to the kernel's fs.nr_open, else the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlimit want{kWantedDescriptors, kWantedDescriptors};
    if (rl.rlim_max >= kWantedDescriptors || setrlimit(RLIMIT_NOFILE, &want) != 0) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  if (auto r = init_pools(); !r) {
    return r;
  }
  if (auto r = init_policy(); !r) {
    return r;
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  hostname_ = host;
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (epfd_ < 0 || wake_fd_ < 0 || timer_fd_ < 0) {
    return Err(std::string("cannot create the event loop: ") + std::strerror(errno));
  }
  epoll_add(epfd_, wake_fd_, EPOLLIN, ev_key(kEvWake, 0));
  io_buf_.resize(sizeof(iopkt_dgram_hdr) + IOPKT_DGRAM_CMSG_MAX + 65536 + 1);
  stream_buf_.resize(65536);

  for (const auto& p : opts_.protocols) {
    if (auto r = load_protocol(p); !r) {
      return r;
    }
  }

  // Packet threads first, so that drivers' queues join them as they attach.
  int nthreads = opts_.threads > 0 ? opts_.threads
                                   : static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  ThreadOptions topt;
  topt.guard_page = opts_.tcpip.stackguard;
  topt.qnx_priority = static_cast<int>(opts_.tcpip.rx_prio);
  if (std::find(opts_.tcpip.given.begin(), opts_.tcpip.given.end(), "stacksize") !=
      opts_.tcpip.given.end()) {
    // io-pkt's contexts ran in 8 KiB; our packet threads run C++ protocol
    // code and need more: honour larger values, raise smaller ones.
    constexpr int64_t kMinThreadStack = 64 * 1024;
    if (opts_.tcpip.stacksize < kMinThreadStack) {
      log_msg(LOG_NOTICE, "stacksize=%lld raised to %lld for the packet threads",
              static_cast<long long>(opts_.tcpip.stacksize),
              static_cast<long long>(kMinThreadStack));
    }
    topt.stack_size = static_cast<size_t>(std::max(opts_.tcpip.stacksize, kMinThreadStack));
  }
  for (int i = 0; i < nthreads; ++i) {
    auto pt = std::make_unique<PacketThread>();
    pt->epfd = epoll_create1(EPOLL_CLOEXEC);
    pt->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_add(pt->epfd, pt->kick_fd, EPOLLIN, kKickEvent);
    pthreads_.push_back(std::move(pt));
  }
  for (int i = 0; i < nthreads; ++i) {
    topt.name = "io-pkt rx" + std::to_string(i);
    auto th = Thread::start(topt, [this, i] { packet_thread(i); });
    if (!th) {
      return Err("cannot start packet thread: " + th.error());
    }
    pthreads_[i]->thread = std::move(th.value());
  }
  ThreadOptions timer_opt;
  timer_opt.name = "io-pkt timer";
  timer_opt.qnx_priority = static_cast<int>(opts_.tcpip.timer_pulse_prio);
  timer_opt.guard_page = opts_.tcpip.stackguard;
  timer_opt.stack_size = topt.stack_size;
  auto tt = Thread::start(timer_opt, [this] { timer_thread(); });
  if (!tt) {
    return Err("cannot start the timer thread: " + tt.error());
  }
  timer_thread_ = std::move(tt.value());

  register_option_sysctls();
  (void)stack_->sysctl().add_readonly(
      "qnx.kern.rx_prio_applied", SysctlType::kString,
      [this] {
        return pthreads_.empty() ? std::string() : pthreads_[0]->thread.applied_priority();
      },
      "scheduling the packet threads got");
  (void)stack_->sysctl().add_readonly(
      "qnx.kern.timer_prio_applied", SysctlType::kString,
      [this] { return timer_thread_.applied_priority(); }, "scheduling the timer thread got");
  main_prio_applied_ = apply_thread_priority(opts_.priority);
  (void)stack_->sysctl().add_readonly(
      "qnx.kern.priority_applied", SysctlType::kString, [this] { return main_prio_applied_; },
      "scheduling the main thread got (-P)");
  if (opts_.tcpip.confstr_monitor) {
    hostname_callout_ = std::make_unique<Callout>(stack_->callouts());
    hostname_callout_->set_handler([this] {
      char h[256] = {};
      gethostname(h, sizeof h - 1);
      hostname_ = h;
      hostname_callout_->reset(std::chrono::seconds(1));
    });
    std::lock_guard<std::mutex> g(mu_);
    hostname_callout_->reset(std::chrono::seconds(1));
    arm_timer_locked();
  }

  for (const auto& d : opts_.drivers) {
    std::lock_guard<std::mutex> g(mu_);
    if (auto r = attach_driver_locked(d.name, d.options); !r) {
      return Err("-d " + d.name + ": " + r.error().message);
    }
    flush_locked();
  }

  auto ep = Endpoint::create(opts_.tcpip.prefix, 4096);
  if (!ep) {
    return Err(ep.error());
  }
  endpoint_.emplace(std::move(ep.value()));
  if (policy_.endpoint_group) {
    // Mode 0660, group endpoint_group: the file system keeps others out too.
    if (chown(endpoint_->path().c_str(), static_cast<uid_t>(-1), *policy_.endpoint_group) != 0 ||
        chmod(endpoint_->path().c_str(), 0660) != 0) {
      return Err("endpoint_group: cannot give " + endpoint_->path() + " to group " +
                 std::to_string(*policy_.endpoint_group) + ": " + std::strerror(errno));
    }
  }
  epoll_add(epfd_, endpoint_->fd(), EPOLLIN, ev_key(kEvListen, 0));
  log_msg(LOG_INFO, "io-pkt-v%d-hc instance %d serving %s", opts_.variant, opts_.instance,
          endpoint_->path().c_str());
  return {};
}

// --- drivers ----------------------------------------------------------------

Result<void, DriverError> Manager::mount_driver_locked(const std::string& name,
                                                       const std::string& options) {
  auto r = attach_driver_locked(name, options);
  if (r) {
    flush_locked();
  }
  return r;
}

Result<void, DriverError> Manager::attach_driver_locked(const std::string& name,
                                                        const std::string& options) {
  auto generic = split_generic_driver_options(options);
  if (!generic) {
    return Err(DriverError{EINVAL, generic.error()});
  }
  auto path = resolve_module(name, "devnp-");
  if (!path) {
    return Err(DriverError{ENOENT, path.error()});
  }
  std::shared_ptr<DriverModule> mod;
  if (auto it = modules_.find(*path); it != modules_.end()) {
    mod = it->second;
  } else {
    void* h = dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      return Err(DriverError{ENOEXEC, std::string("cannot load ") + *path + ": " + dlerror()});
    }
    auto* entry = static_cast<const iopkt_driver*>(dlsym(h, IOPKT_DRIVER_ENTRY_SYMBOL));
    if (entry == nullptr) {
      dlclose(h);
      return Err(DriverError{ENOEXEC,
                             *path + " is not an iopkt driver (no " IOPKT_DRIVER_ENTRY_SYMBOL ")"});
    }
    if (entry->abi_version != IOPKT_DRIVER_ABI_VERSION || entry->attach == nullptr) {
      std::string msg = *path + " was built for driver ABI version " +
                        std::to_string(entry->abi_version) + "; this stack has version " +
                        std::to_string(IOPKT_DRIVER_ABI_VERSION) + ": refused";
      dlclose(h);
      return Err(DriverError{ENOEXEC, msg});
    }
    mod = std::make_shared<DriverModule>();
    mod->path = *path;
    mod->handle = h;
    mod->entry = entry;
    modules_[*path] = mod;
  }
  PendingAttach pending{mod, std::move(generic.value()), {}};
  pending_attach_ = &pending;
  char err[512] = {};
  int rc = 0;
  auto call_attach = [&] {
    rc = mod->entry->attach(reinterpret_cast<iopkt_host*>(this), &HostCallbacks::kOps,
                            pending.generic.driver_options.c_str(), err, sizeof err);
  };
  if (opts_.tcpip.bigstack) {
    auto r = run_on_stack(static_cast<size_t>(*opts_.tcpip.bigstack), call_attach);
    if (!r) {
      pending_attach_ = nullptr;
      return Err(DriverError{ENOMEM, r.error()});
    }
  } else {
    call_attach();
  }
  pending_attach_ = nullptr;
  std::string driver = mod->entry->name != nullptr ? mod->entry->name : *path;
  if (rc < 0) {
    for (uint32_t idx : pending.created) {
      detach_driver_if_locked(idx);
    }
    if (mod->interfaces == 0) {
      modules_.erase(mod->path);
      dlclose(mod->handle);
    }
    err[sizeof err - 1] = '\0';
    return Err(DriverError{
        -rc,
        driver + ": " + (err[0] != '\0' ? std::string(err) : std::string(std::strerror(-rc)))});
  }
  if (pending.created.empty()) {
    log_msg(LOG_WARNING, "%s attached no interface", driver.c_str());
    if (mod->interfaces == 0) {
      modules_.erase(mod->path);
      dlclose(mod->handle);
    }
  }
  return {};
}

void Manager::detach_driver_if_locked(uint32_t ifindex) {
  auto it = driver_ifs_.find(ifindex);
  if (it == driver_ifs_.end()) {
    return;
  }
  DriverIf& dif = *it->second;
  for (auto& rq : dif.queues) {
    epoll_ctl(pthreads_[rq->thread]->epfd, EPOLL_CTL_DEL, rq->fd, nullptr);
    std::lock_guard<std::mutex> g(rq->io_mu);  // waits for a running rx_burst
    rq->dead = true;
  }
  {
    std::lock_guard<std::mutex> g(queues_mu_);
    for (auto& rq : dif.queues) {
      queues_.erase(rq->id);
    }
  }
  if (dif.quiesce_id >= 0) {
    unregister_quiesce(dif.quiesce_id);
  }
  dif.ops.detach(dif.softc);
  if (Ifnet* ifp = stack_->if_by_index(ifindex)) {
    log_msg(LOG_INFO, "%s detached", ifp->name.c_str());
    (void)stack_->if_detach(ifp->name);
  }
  std::shared_ptr<DriverModule> mod = dif.module;
  driver_ifs_.erase(it);
  if (--mod->interfaces == 0) {
    // The module goes with its last interface (SPEC §2).
    modules_.erase(mod->path);
    dlclose(mod->handle);
  }
}

Result<void, Errno> Manager::destroy_interface_locked(const std::string& name) {
  Ifnet* ifp = stack_->if_find(name);
  if (ifp == nullptr) {
    return Err(Errno{ENXIO});
  }
  if (ifp == &stack_->loopback()) {
    return Err(Errno{EBUSY});  // lo0 is part of the stack
  }
  detach_driver_if_locked(ifp->index);
  return {};
}

Result<void, Errno> Manager::set_flags(Ifnet& ifp, uint32_t flags) {
  auto it = driver_ifs_.find(ifp.index);
  if (it == driver_ifs_.end() || it->second->ops.set_flags == nullptr) {
    return {};
  }
  int rc = it->second->ops.set_flags(it->second->softc, flags);
  if (rc < 0) {
    return Err(Errno{-rc});
  }
  return {};
}

Result<void, Errno> Manager::set_mtu(Ifnet& ifp, uint32_t mtu) {
  auto it = driver_ifs_.find(ifp.index);
  if (it == driver_ifs_.end() || it->second->ops.set_mtu == nullptr) {
    return {};
  }
  int rc = it->second->ops.set_mtu(it->second->softc, mtu);
  if (rc < 0) {
    return Err(Errno{-rc});
  }
  return {};
}

// --- the packet path ----------------------------------------------------------

void Manager::droproot_check_this_thread() {
  thread_local uint64_t seen = 0;
  uint64_t gen = droproot_generation_.load(std::memory_order_acquire);
  if (gen == seen) {
    return;
  }
  seen = gen;
  auto r = drop_thread_to(drop_, static_cast<uint64_t>(droproot_requested_));
  std::lock_guard<std::mutex> g(droproot_mu_);
  if (!r && droproot_error_.empty()) {
    droproot_error_ = r.error();
  }
  --droproot_pending_;
  droproot_cv_.notify_all();
}

// Runs on the main thread, without the stack lock: the other threads need
// to reach their check, which some only do after taking the lock.
void Manager::droproot_complete() {
  {
    std::lock_guard<std::mutex> g(droproot_mu_);
    droproot_pending_ = static_cast<int>(pthreads_.size()) + 1;  // + the timer thread
    droproot_error_.clear();
  }
  droproot_generation_.fetch_add(1, std::memory_order_release);
  for (auto& pt : pthreads_) {
    wake(pt->kick_fd);
  }
  itimerspec now_its{};
  now_its.it_value.tv_nsec = 1;
  timerfd_settime(timer_fd_, 0, &now_its, nullptr);  // the timer thread wakes
  bool all = false;
  {
    std::unique_lock<std::mutex> g(droproot_mu_);
    all =
        droproot_cv_.wait_for(g, std::chrono::seconds(10), [&] { return droproot_pending_ == 0; });
  }
  auto mine = drop_thread_to(drop_, static_cast<uint64_t>(droproot_requested_));
  if (!all || !droproot_error_.empty() || !mine) {
    // Some threads changed and others did not: no state to keep serving in.
    log_msg(
        LOG_CRIT, "droproot failed (%s); exiting",
        !all ? "threads did not answer" : (!mine ? mine.error().c_str() : droproot_error_.c_str()));
    _exit(1);
  }
  std::lock_guard<std::mutex> g(mu_);
  droproot_mask_ = droproot_requested_;
  log_msg(LOG_NOTICE, "dropped root: now %s, capabilities kept 0x%llx", drop_.text().c_str(),
          static_cast<unsigned long long>(droproot_mask_));
}

void Manager::packet_thread(int index) {
  PacketThread& pt = *pthreads_[index];
  epoll_event evs[32];
  while (!stopping_.load()) {
    int n = epoll_wait(pt.epfd, evs, 32, -1);
    droproot_check_this_thread();
    for (int i = 0; i < n && !stopping_.load(); ++i) {
      if (evs[i].data.u64 == kKickEvent) {
        drain_eventfd(pt.kick_fd);
        std::vector<uint64_t> kicked;
        {
          std::lock_guard<std::mutex> g(pt.kick_mu);
          kicked.swap(pt.kicked);
        }
        for (uint64_t id : kicked) {
          rx_queue_ready(index, id);
        }
        continue;
      }
      rx_queue_ready(index, evs[i].data.u64);
    }
  }
}

void Manager::rx_queue_ready(int thread, uint64_t queue_id) {
  std::shared_ptr<RxQueue> rq;
  {
    std::lock_guard<std::mutex> g(queues_mu_);
    auto it = queues_.find(queue_id);
    if (it == queues_.end()) {
      return;
    }
    rq = it->second;
  }
  // Frames are read into per-thread scratch and copied into clusters: one
  // copy, outside the stack lock (PERFORMANCE.md §4.4 puts it well inside
  // the budget); receiving straight into clusters comes with the speed work.
  thread_local std::vector<uint8_t> scratch;
  thread_local std::vector<Mbuf> batch;
  for (int round = 0; round < kRxRoundsBeforeYield; ++round) {
    int got = 0;
    {
      std::lock_guard<std::mutex> g(rq->io_mu);
      if (rq->dead) {
        return;
      }
      scratch.resize(size_t{rq->frame_cap} * kRxBatch);
      iopkt_pkt pkts[kRxBatch] = {};
      for (uint32_t i = 0; i < kRxBatch; ++i) {
        pkts[i].data = scratch.data() + size_t{i} * rq->frame_cap;
        pkts[i].cap = rq->frame_cap;
      }
      got = rq->ops->rx_burst(rq->softc, rq->queue, pkts, kRxBatch);
      if (got < 0) {
        log_msg(LOG_ERR, "receive queue %u of interface %u failed: %s; stopped", rq->queue,
                rq->ifindex, std::strerror(-got));
        epoll_ctl(pthreads_[thread]->epfd, EPOLL_CTL_DEL, rq->fd, nullptr);
        return;
      }
      batch.clear();
      for (int i = 0; i < got; ++i) {
        uint32_t len = std::min(pkts[i].len, rq->frame_cap);
        Mbuf m = Mbuf::copy_from(stack_->pool(),
                                 std::span(reinterpret_cast<const std::byte*>(pkts[i].data), len));
        if (m) {
          batch.push_back(std::move(m));
        }
      }
    }
    if (got == 0) {
      return;
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      // The core's clock is what advance() last gave it: bring it to now
      // first, so that what the input does is timed right (TCP's RTT
      // samples, RACK's send and delivery times, timestamps).
      stack_->advance(now());
      Ifnet* ifp = stack_->if_by_index(rq->ifindex);
      if (ifp != nullptr) {
        if (batch.size() < static_cast<size_t>(got)) {
          ifp->stats.iqdrops += static_cast<uint64_t>(got) - batch.size();  // pool exhausted
        }
        for (auto& m : batch) {
          stack_->if_input(*ifp, std::move(m));
        }
      }
      batch.clear();
      flush_locked();
    }
    if (static_cast<uint32_t>(got) < kRxBatch) {
      return;
    }
  }
  // Still busy: let the other queues of this thread have a turn first.
  PacketThread& pt = *pthreads_[thread];
  {
    std::lock_guard<std::mutex> g(pt.kick_mu);
    pt.kicked.push_back(queue_id);
  }
  wake(pt.kick_fd);
}

void Manager::tx_flush_locked(Ifnet& ifp, DriverIf& dif) {
  thread_local std::vector<uint8_t> linear;
  while (!ifp.snd.empty()) {
    size_t n = std::min<size_t>(ifp.snd.size(), kRxBatch);
    iopkt_pkt pkts[kRxBatch] = {};
    // Frames that are one segment and long enough go out in place; others
    // are gathered (and padded with zeros to the Ethernet minimum, never
    // with stale bytes: SPEC §5, CVE-2003-0001) into `linear`.
    size_t need = 0;
    for (size_t i = 0; i < n; ++i) {
      const Mbuf& m = ifp.snd[i];
      need += std::max(m.len(), kEtherMinFrame);
    }
    linear.resize(need);
    size_t off = 0;
    for (size_t i = 0; i < n; ++i) {
      const Mbuf& m = ifp.snd[i];
      auto segs = m.segments();
      bool pad = ifp.type == IfType::kEther && m.len() < kEtherMinFrame;
      if (segs.size() == 1 && !pad) {
        pkts[i].data = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(segs[0].data()));
        pkts[i].len = static_cast<uint32_t>(segs[0].size());
        continue;
      }
      size_t len = pad ? kEtherMinFrame : m.len();
      uint8_t* dst = linear.data() + off;
      std::memset(dst, 0, len);
      m.copy_out(0, std::span(reinterpret_cast<std::byte*>(dst), m.len()));
      pkts[i].data = dst;
      pkts[i].len = static_cast<uint32_t>(len);
      off += len;
    }
    int taken = dif.ops.tx_burst(dif.softc, pkts, static_cast<uint32_t>(n));
    size_t ok = taken < 0 ? 0 : std::min<size_t>(static_cast<size_t>(taken), n);
    for (size_t i = 0; i < n; ++i) {
      if (i < ok) {
        ++ifp.stats.opackets;
        ifp.stats.obytes += pkts[i].len;
      } else {
        ++ifp.stats.oerrors;
      }
      ifp.snd.pop_front();
    }
    if (ok < n) {
      // The driver is full: what it did not take is dropped and counted,
      // and so is the rest of the queue. (Leaving the rest queued would
      // strand it: the interface is pending again only when its queue was
      // empty, so it would never be flushed and every later frame would
      // find the queue full.)
      ifp.stats.oqdrops += ifp.snd.size();
      ifp.snd.clear();
      break;
    }
  }
}

void Manager::apply_link_states_locked() {
  for (auto& [index, dif] : driver_ifs_) {
    int st = dif->link_state.exchange(-1);
    if (st >= 0) {
      if (Ifnet* ifp = stack_->if_by_index(index)) {
        ifp->link_up = st == 1;
      }
    }
  }
}

void Manager::flush_locked() {
  apply_link_states_locked();
  // Serving a socket can make more work: a stream channel's bytes sent
  // over lo0 wake the socket at the other end, whose channel wants serving
  // in turn. Rounds until nothing is left (bounded; the rest goes to the
  // timer thread at once, arm_timer_locked).
  auto flush_tx = [this] {
    for (Ifnet* ifp : stack_->take_tx_pending()) {
      auto it = driver_ifs_.find(ifp->index);
      if (it == driver_ifs_.end()) {
        ifp->snd.clear();
        continue;
      }
      tx_flush_locked(*ifp, *it->second);
    }
  };
  for (int round = 0; round < 16; ++round) {
    flush_tx();
    bool more = false;
    if (stack_->work_pending()) {
      stack_->advance(now());
      more = true;
    }
    if (stack_->socket_events_pending()) {
      deliver_socket_events_locked();
      more = true;
    }
    if (!more) {
      break;
    }
  }
  flush_tx();
  arm_timer_locked();
}

// --- timers -----------------------------------------------------------------

void Manager::arm_timer_locked() {
  auto next = stack_->next_deadline();
  if (stack_->work_pending() || stack_->socket_events_pending()) {
    next = now();  // leftover deferred input or wake-ups: run again at once
  }
  if (!next || *next >= armed_deadline_) {
    return;
  }
  armed_deadline_ = *next;
  auto abs = origin_.time_since_epoch() + next->since_origin;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(abs).count();
  if (ns <= 0) {
    ns = 1;
  }
  itimerspec its{};
  its.it_value.tv_sec = ns / 1000000000;
  its.it_value.tv_nsec = ns % 1000000000;
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

void Manager::timer_thread() {
  while (!stopping_.load()) {
    uint64_t expirations = 0;
    ssize_t n = read(timer_fd_, &expirations, sizeof expirations);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (stopping_.load()) {
      break;
    }
    droproot_check_this_thread();
    std::lock_guard<std::mutex> g(mu_);
    armed_deadline_ = Instant{Duration::max()};
    stack_->advance(now());
    flush_locked();
  }
}

// --- clients ----------------------------------------------------------------

uint64_t Manager::channel_event_key(int fd) {
  return ev_key(kEvChannel, static_cast<uint64_t>(fd));
}

Result<int, Errno> Manager::create_socket_locked(int domain, int type, int protocol, uint32_t fib) {
  auto so = stack_->so_create(domain, type, protocol);
  if (!so) {
    return Err(so.error());
  }
  stack_->so_find(*so)->fib = fib;  // mfib_gid_map
  if (type == SOCK_STREAM) {
    auto fd = make_stream_channel_locked(*so);
    if (!fd) {
      stack_->so_close(*so);
    }
    return fd;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    int e = errno;
    stack_->so_close(*so);
    return Err(Errno{e == EMFILE || e == ENFILE ? ENFILE : ENOBUFS});
  }
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  struct stat st {};
  fstat(sv[1], &st);
  auto ch = std::make_unique<Channel>();
  ch->fd = sv[0];
  ch->socket = *so;
  ch->client_ino = st.st_ino;
  channels_by_ino_[st.st_ino] = ch.get();
  channels_by_socket_[*so] = ch.get();
  epoll_add(epfd_, ch->fd, EPOLLIN | EPOLLRDHUP, ev_key(kEvChannel, static_cast<uint64_t>(ch->fd)));
  channels_[ch->fd] = std::move(ch);
  return sv[1];
}

Channel* Manager::channel_by_client_fd(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return nullptr;
  }
  auto it = channels_by_ino_.find(st.st_ino);
  return it == channels_by_ino_.end() ? nullptr : it->second;
}

void Manager::drain_channel_locked(Channel& ch) {
  if (ch.stream) {
    stream_service_locked(ch, 0);
  } else {
    channel_input(ch);
  }
}

void Manager::close_channel_locked(Channel& ch) {
  int fd = ch.fd;
  stack_->so_close(ch.socket);
  channels_by_ino_.erase(ch.client_ino);
  channels_by_socket_.erase(ch.socket);
  for (int* extra : {&ch.connect_fd, &ch.accept_fd}) {
    if (*extra >= 0) {
      close(*extra);
    }
  }
  if (ch.registered) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  close(fd);
  channels_.erase(fd);  // ch is gone
}

namespace {

// The ancillary records of a client's datagram (control.h) as send
// options; false when one is malformed or refused (ip_cmsg_send).
bool parse_send_cmsgs(std::span<const std::byte> recs, DgramSendOpts& opts) {
  while (!recs.empty()) {
    iopkt_dgram_cmsg c{};
    if (recs.size() < sizeof c) {
      return false;
    }
    std::memcpy(&c, recs.data(), sizeof c);
    if (c.len > recs.size() - sizeof c || IOPKT_DGRAM_CMSG_SPACE(c.len) > recs.size()) {
      return false;
    }
    if (!ip_cmsg_send(opts, c.level, c.type, recs.subspan(sizeof c, c.len))) {
      return false;
    }
    recs = recs.subspan(IOPKT_DGRAM_CMSG_SPACE(c.len));
  }
  return true;
}

// Room for the records one received datagram can carry: IP_PKTINFO,
// IP_TTL, IP_TOS.
constexpr size_t kRecvCmsgMax = IOPKT_DGRAM_CMSG_SPACE(sizeof(in_pktinfo)) +
                                IOPKT_DGRAM_CMSG_SPACE(sizeof(int)) + IOPKT_DGRAM_CMSG_SPACE(1);
static_assert(kRecvCmsgMax <= IOPKT_DGRAM_CMSG_MAX);

size_t put_cmsg(std::byte* out, uint16_t level, uint16_t type, const void* value, uint32_t len) {
  iopkt_dgram_cmsg c{level, type, len};
  size_t space = IOPKT_DGRAM_CMSG_SPACE(len);
  std::memset(out, 0, space);
  std::memcpy(out, &c, sizeof c);
  std::memcpy(out + sizeof c, value, len);
  return space;
}

// The records the socket asked for, in Linux's ip_cmsg_recv order;
// returns the bytes written to `out` (kRecvCmsgMax at most).
size_t build_recv_cmsgs(const Socket& so, const DgramRecvInfo& info, std::byte* out) {
  size_t n = 0;
  if (so.inp_flags & kInpRecvPktinfo) {
    in_pktinfo p{};
    p.ipi_ifindex = static_cast<int>(info.ifindex);
    p.ipi_spec_dst.s_addr = htonl(info.spec_dst.v);
    p.ipi_addr.s_addr = htonl(info.dst.v);
    n += put_cmsg(out + n, IPPROTO_IP, IP_PKTINFO, &p, sizeof p);
  }
  if (so.inp_flags & kInpRecvTtl) {
    int ttl = info.ttl;
    n += put_cmsg(out + n, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
  }
  if (so.inp_flags & kInpRecvTos) {
    uint8_t tos = info.tos;  // one byte, as Linux's ip_cmsg_recv_tos
    n += put_cmsg(out + n, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
  }
  return n;
}

}  // namespace

// Datagrams from the client: one message each, header, ancillary records,
// then payload. Returns after the channel is empty or a bounded number of
// messages.
void Manager::channel_input(Channel& ch) {
  for (int i = 0; i < kDatagramsPerWake; ++i) {
    ssize_t n = recv(ch.fd, io_buf_.data(), io_buf_.size(), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      return;  // EAGAIN: drained
    }
    if (n == 0) {
      close_channel_locked(ch);  // the last client holder closed it
      return;
    }
    Socket* so = stack_->so_find(ch.socket);
    iopkt_dgram_hdr h{};
    if (so == nullptr) {
      return;
    }
    if (static_cast<size_t>(n) > io_buf_.size()) {
      so->so_error = EMSGSIZE;
      continue;
    }
    if (static_cast<size_t>(n) < sizeof h) {
      so->so_error = EINVAL;
      continue;
    }
    std::memcpy(&h, io_buf_.data(), sizeof h);
    if (h.version != IOPKT_DGRAM_VERSION || h.hdr_len != sizeof h ||
        h.cmsg_len > IOPKT_DGRAM_CMSG_MAX || h.cmsg_len > static_cast<size_t>(n) - sizeof h ||
        h.payload_len != static_cast<size_t>(n) - sizeof h - h.cmsg_len) {
      so->so_error = EINVAL;
      continue;
    }
    // Ancillary data: libiopkt checked it; a bad record refuses the
    // datagram, and the sender learns it from SO_ERROR (its send returned).
    DgramSendOpts opts;
    if (h.cmsg_len != 0 &&
        !parse_send_cmsgs(std::span(io_buf_).subspan(sizeof h, h.cmsg_len), opts)) {
      so->so_error = EINVAL;
      continue;
    }
    SockAddr to;
    if (!ctl_to_sockaddr(h.addr, to)) {
      so->so_error = EAFNOSUPPORT;
      continue;
    }
    Mbuf m = Mbuf::copy_from(stack_->pool(),
                             std::span(io_buf_).subspan(sizeof h + h.cmsg_len, h.payload_len),
                             kDgramHeadroom);
    if (!m) {
      so->so_error = ENOBUFS;
      continue;
    }
    auto r = stack_->so_send_dgram(ch.socket, std::move(m), to.family == AF_UNSPEC ? nullptr : &to,
                                   h.cmsg_len != 0 ? &opts : nullptr);
    if (!r) {
      // The client's send has returned already; the error is reported as a
      // pending socket error (SO_ERROR), as for asynchronous ICMP errors.
      if (Socket* s2 = stack_->so_find(ch.socket)) {
        s2->so_error = r.error().value;
      }
    }
  }
  // More may be waiting: epoll (level-triggered) reports the channel again.
}

void Manager::pump_to_client_locked(Channel& ch) {
  Socket* so = stack_->so_find(ch.socket);
  if (so == nullptr) {
    return;
  }
  while (!so->rcv.empty()) {
    Datagram& d = so->rcv.front();
    iopkt_dgram_hdr h{};
    h.version = IOPKT_DGRAM_VERSION;
    h.hdr_len = sizeof h;
    h.addr = sockaddr_to_ctl(d.from);
    h.payload_len = static_cast<uint32_t>(d.data.len());
    alignas(8) std::byte cmsgs[kRecvCmsgMax];
    h.cmsg_len = static_cast<uint32_t>(build_recv_cmsgs(*so, d.info, cmsgs));
    auto segs = d.data.segments();
    std::vector<iovec> iov;
    iov.reserve(segs.size() + 2);
    iov.push_back({&h, sizeof h});
    if (h.cmsg_len != 0) {
      iov.push_back({cmsgs, h.cmsg_len});
    }
    for (auto s : segs) {
      iov.push_back({const_cast<std::byte*>(s.data()), s.size()});
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    ssize_t n = sendmsg(ch.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        if (!ch.want_out) {
          ch.want_out = true;
          epoll_mod(epfd_, ch.fd, EPOLLIN | EPOLLRDHUP | EPOLLOUT,
                    ev_key(kEvChannel, static_cast<uint64_t>(ch.fd)));
        }
        return;  // the client is not reading: the datagrams wait in the socket
      }
      return;  // EPIPE: the client is gone; its EOF closes the channel
    }
    so->rcv_cc -= d.data.len();
    so->rcv.pop_front();
  }
  if (ch.want_out) {
    ch.want_out = false;
    epoll_mod(epfd_, ch.fd, EPOLLIN | EPOLLRDHUP, ev_key(kEvChannel, static_cast<uint64_t>(ch.fd)));
  }
}

void Manager::deliver_socket_events_locked() {
  for (SocketId id : stack_->take_socket_events()) {
    auto it = channels_by_socket_.find(id);
    if (it == channels_by_socket_.end()) {
      continue;
    }
    if (it->second->stream) {
      stream_service_locked(*it->second, 0, true);
    } else {
      pump_to_client_locked(*it->second);
    }
  }
}

void Manager::accept_clients() {
  for (int i = 0; i < 256; ++i) {
    int fd = accept4(endpoint_->fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      return;
    }
    auto s = std::make_unique<Session>();
    s->fd = fd;
    s->cred = read_peer_cred(fd);
    if (!may_connect(policy_, s->cred)) {
      // endpoint_group: the file mode keeps others out; this is the
      // stack's own check, for a descriptor obtained some other way.
      log_denied(*s, "connection (endpoint_group)");
      close(fd);
      continue;
    }
    epoll_add(epfd_, fd, EPOLLIN | EPOLLRDHUP, ev_key(kEvSession, static_cast<uint64_t>(fd)));
    sessions_[fd] = std::move(s);
  }
}

void Manager::log_denied(const Session& s, const char* what) {
  if (denied_log_.allow()) {
    log_msg(LOG_NOTICE, "denied %s from %s", what, s.cred.describe().c_str());
  }
}

void Manager::close_session(Session& s) {
  int fd = s.fd;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  sessions_.erase(fd);
}

void Manager::session_readable(Session& s) {
  // One request at most recv_ctxt bytes (io-pkt's receive context): a
  // larger one arrives truncated and is answered with EMSGSIZE.
  std::vector<std::byte>& buf = ctl_buf_;
  buf.resize(static_cast<size_t>(opts_.tcpip.recv_ctxt));
  for (int i = 0; i < kRequestsPerWake; ++i) {
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(s.fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    if (n <= 0) {
      close_session(s);  // the client closed or died, maybe mid-request
      return;
    }
    // Collect every fd that came (a client may send more than one); only
    // the first is used, all are closed.
    std::vector<int> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < count; ++k) {
          int f;
          std::memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
          fds.push_back(f);
        }
      }
    }
    iopkt_ctl_hdr hdr{};
    CtlReply reply;
    if (static_cast<size_t>(n) < sizeof hdr) {
      std::memcpy(&hdr, buf.data(), static_cast<size_t>(n));
      reply.error = EPROTO;  // truncated: answer, keep serving
    } else if (msg.msg_flags & MSG_TRUNC) {
      std::memcpy(&hdr, buf.data(), sizeof hdr);
      reply.error = EMSGSIZE;  // larger than recv_ctxt
    } else {
      std::memcpy(&hdr, buf.data(), sizeof hdr);
      std::span<const std::byte> body(buf.data() + sizeof hdr, static_cast<size_t>(n) - sizeof hdr);
      std::lock_guard<std::mutex> g(mu_);
      stack_->advance(now());  // the clock current for what the request does
      reply = handle_request(*this, s, hdr, body, fds.empty() ? -1 : fds.front());
      flush_locked();
    }
    for (int f : fds) {
      close(f);
    }
    ++s.requests;
    iopkt_ctl_hdr rh{};
    rh.magic = IOPKT_CTL_MAGIC;
    rh.version = IOPKT_CTL_VERSION;
    rh.type = hdr.type;
    rh.seq = hdr.seq;
    rh.len = static_cast<uint32_t>(reply.body.size());
    rh.error = reply.error;
    iovec riov[2] = {{&rh, sizeof rh}, {reply.body.data(), reply.body.size()}};
    msghdr rmsg{};
    rmsg.msg_iov = riov;
    rmsg.msg_iovlen = reply.body.empty() ? 1 : 2;
    alignas(cmsghdr) char rcbuf[CMSG_SPACE(sizeof(int))];
    if (reply.pass_fd >= 0) {
      rmsg.msg_control = rcbuf;
      rmsg.msg_controllen = sizeof rcbuf;
      cmsghdr* c = CMSG_FIRSTHDR(&rmsg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &reply.pass_fd, sizeof(int));
    }
    ssize_t sent = sendmsg(s.fd, &rmsg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (reply.pass_fd >= 0) {
      close(reply.pass_fd);  // the client has its own reference now (or never will)
    }
    if (sent < 0) {
      close_session(s);  // a client that does not read its replies is dropped
      return;
    }
  }
}

void Manager::request_stop() {
  stopping_.store(true);
  if (wake_fd_ >= 0) {
    wake(wake_fd_);
  }
}

void Manager::run(int signal_fd) {
  if (signal_fd >= 0) {
    epoll_add(epfd_, signal_fd, EPOLLIN, ev_key(kEvSignal, 0));
  }
  epoll_event evs[64];
  while (!stopping_.load()) {
    // Finished stream channels are checked once a second while there are
    // any (their clients' ends closing makes no event).
    // (Locked: packet threads finish channels too.)
    int timeout = -1;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!finished_.empty()) {
        auto now = std::chrono::steady_clock::now();
        if (now >= next_sweep_) {
          sweep_finished_locked();
          flush_locked();
          next_sweep_ = now + std::chrono::seconds(1);
        }
        timeout = 1000;
      }
    }
    int n = epoll_wait(epfd_, evs, 64, timeout);
    for (int i = 0; i < n && !stopping_.load(); ++i) {
      uint64_t key = evs[i].data.u64;
      int fd = static_cast<int>(ev_val(key));
      switch (ev_kind(key)) {
        case kEvListen:
          accept_clients();
          break;
        case kEvSignal: {
          int sig = read_termination_signal(signal_fd);
          if (sig != 0) {
            log_msg(LOG_NOTICE, "signal %d: shutting down", sig);
            stopping_.store(true);
          }
          break;
        }
        case kEvWake:
          drain_eventfd(wake_fd_);
          break;
        case kEvSession: {
          auto it = sessions_.find(fd);
          if (it != sessions_.end()) {
            session_readable(*it->second);
          }
          bool drop = false;
          {
            std::lock_guard<std::mutex> g(mu_);
            drop = droproot_requested_ != 0 && droproot_mask_ == 0;
          }
          if (drop) {
            droproot_complete();
          }
          break;
        }
        case kEvChannel: {
          // Locked first: packet threads open and close stream channels
          // (accepted connections, finished ones) under the lock.
          std::lock_guard<std::mutex> g(mu_);
          auto it = channels_.find(fd);
          if (it == channels_.end()) {
            break;
          }
          stack_->advance(now());  // the clock current for the data it sends
          Channel& ch = *it->second;
          if (ch.stream) {
            stream_service_locked(ch, evs[i].events);
            flush_locked();
            break;
          }
          if (evs[i].events & EPOLLOUT) {
            pump_to_client_locked(ch);
          }
          if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            channel_input(ch);  // may close the channel
          }
          flush_locked();
          break;
        }
      }
    }
  }
  shutdown();
}

void Manager::shutdown() {
  if (shut_down_) {
    return;
  }
  shut_down_ = true;
  stopping_.store(true);
  for (auto& pt : pthreads_) {
    wake(pt->kick_fd);
  }
  if (timer_fd_ >= 0) {
    itimerspec its{};
    its.it_value.tv_nsec = 1;  // wake the timer thread now
    timerfd_settime(timer_fd_, 0, &its, nullptr);
  }
  for (auto& pt : pthreads_) {
    if (pt->thread.joinable()) {
      pt->thread.join();
    }
  }
  if (timer_thread_.joinable()) {
    timer_thread_.join();
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    hostname_callout_.reset();
    std::vector<uint32_t> ifs;
    for (auto& [index, dif] : driver_ifs_) {
      ifs.push_back(index);
    }
    for (uint32_t index : ifs) {
      detach_driver_if_locked(index);
    }
    for (auto& [fd, ch] : channels_) {
      close(fd);
      for (int extra : {ch->connect_fd, ch->accept_fd}) {
        if (extra >= 0) {
          close(extra);
        }
      }
    }
    channels_.clear();
    finished_.clear();
    channels_by_ino_.clear();
    channels_by_socket_.clear();
    if (diag_fd_ >= 0) {
      close(diag_fd_);
      diag_fd_ = -1;
    }
    for (auto& [fd, s] : sessions_) {
      close(fd);
    }
    sessions_.clear();
  }
  if (endpoint_) {
    endpoint_->remove();
    endpoint_.reset();
  }
  for (auto& pt : pthreads_) {
    close(pt->epfd);
    close(pt->kick_fd);
  }
  pthreads_.clear();
  for (int* fd : {&epfd_, &timer_fd_, &wake_fd_}) {
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
  }
  stack_.reset();  // frees every buffer before the typed memory goes
  typed_mem_.reset();
}

}  // namespace iopkt
