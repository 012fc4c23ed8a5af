// devnp-vwire — a shared-memory Ethernet wire between two iopkt instances.
//
// Two io-pkt processes (or two interfaces of one) that load this module with
// the same `wire=NAME` get an Ethernet link between them, with no privileges
// needed. Read include/iopkt/driver.h first, then PERFORMANCE.md §4.1 and
// §4.4: the wake-up policy below exists because waking a sleeping peer on the
// other CPU costs 40–100 µs here, the price of thousands of ring copies.
//
// Shared memory. shm_open("/iopkt-vwire-NAME") holds a WireHeader (magic,
// layout version, qlen, the two sides' state) and two single-producer
// single-consumer rings, ring[s] carrying the frames side s sends. A ring is
// qlen slots of 2 KiB; a frame takes ceil((8 + len) / 2048) consecutive
// slots behind an 8-byte record header (length, slot count), so an
// Ethernet-MTU frame takes one slot and a 64 KiB one 33. A frame never wraps:
// a wrap marker fills the slots left before the end. Memory: qlen * 4 KiB for
// the wire (4 MiB at the default qlen=1024), allocated at creation so that a
// full /dev/shm is an attach error rather than a SIGBUS later.
//
// Sides. The object is created with O_EXCL by the first end; every attach
// and detach then runs under flock() on it (released by the kernel when a
// holder dies) after checking that the name still refers to the inode
// locked (a detach may have unlinked it meanwhile). Side A is the first
// free side, B the second; a side is free when it is not marked attached
// or its pid is gone (kill(pid, 0) == ESRCH, or a zombie). A third end is
// refused. When neither side is alive (a killed pair, a stale object, a bad
// magic) the object is re-initialised; a side whose process died is taken
// over, and the new owner discards what its dead predecessor left unread.
// The last end to detach unlinks the object.
//
// Doorbells. Each side binds an abstract AF_UNIX datagram socket,
// "\0iopkt-vwire/NAME/A" or ".../B" (gone with its process, never stale;
// both ends must share a network namespace). A consumer that finds its ring
// empty sets `waiting` in the ring, fences, and checks the ring once more
// before it sleeps; a producer publishes `head`, fences, and sends one byte
// only if it can swap `waiting` from 1 to 0 (Dekker's pattern, so no wake-up
// is lost and a burst of frames costs at most one syscall and one wake-up).
// While the consumer drains it keeps `waiting` at 0 and no bytes are sent.
// Bytes sent are counted in `bells` so the consumer reads its socket only
// when a byte is due (or when a call found nothing at all, which also
// swallows stray datagrams, so rx_fd can never stay readable for nothing).
// When rx_burst fills all n slots and frames remain, no byte is coming: it
// calls the host's if_rx_kick. Attach, detach and quiesce ring the peer too
// so that it reports the carrier change (if_link_state) promptly; a peer
// killed without quiesce is only noticed at the next attach to its side
// (its frames then fill the ring and count as tx_ring_full).
//
// Limits: both ends need the same user (the object is 0600), the same
// /dev/shm, network namespace (doorbells) and pid namespace (liveness).
//
// Link emulation, on this end's transmit direction only. loss=, dup= and
// reorder= decisions and jitter come from a splitmix64 generator seeded by
// seed= (default 1), drawn per frame in that order, so a run repeats for the
// same options and frames. Without delay/jitter/rate/reorder, frames go
// straight into the ring. Otherwise each frame gets a release time,
// CLOCK_MONOTONIC: rate= serialises frames behind each other (len * 8 bits;
// no preamble or gap counted, as netem's rate), delay= and jitter= add to
// it, and release times never decrease, so jitter alone does not reorder
// (reorder= does). A reordered frame is held back and sent right after the
// next frame, or after 10 ms when none comes. The frames wait in a
// time-ordered queue in the SENDER's process, released by a timerfd that is
// part of the sender's own rx_fd (an epoll set with the doorbell socket):
// the stack only ever calls tx_burst and rx_burst, so rx_burst releases the
// due frames before it reads. The queue is bounded: with rate=, 100 ms of
// backlog or 1000 frames; otherwise 16384 frames or 64 MiB; beyond that a
// frame is dropped and counted (tx_queue_full).
//
// Threads (driver.h): tx_burst runs under the stack lock from any packet
// thread, rx_burst on the queue's packet thread without it, and rx_burst
// releases delayed frames into the same ring, so the producer side has its
// own mutex. quiesce only stores to shared memory and sends a datagram.
//
// Counters: iopkt_vwire_get_stats() in vwire.hh.
//
// Shared with the other drivers (drivers/common/): option parsing
// (options.hh), the attach sequence, the iopkt_if_ops trampolines and the
// softc's link to the stack (module.hh).
#include "drivers/devnp-vwire/vwire.hh"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "drivers/common/module.hh"
#include "drivers/common/options.hh"
#include "drivers/devnp-vwire/vwire_options.hh"
#include "iopkt/driver.h"

namespace iopkt::vwire {
namespace {

using drivers::bump;
using drivers::errno_msg;

// The name in messages and in iopkt_driver_entry, whose attach is
// drivers::attach_entry(); a refusal by the stack detaches,
// so the side is free again.
constexpr char kDriverName[] = "vwire";

constexpr uint64_t kMagic = 0x3145524957504f49ull;  // "IOPWIRE1" in memory order
constexpr uint32_t kLayoutVersion = 1;
constexpr uint32_t kSlotSize = 2048;
constexpr uint32_t kRecordHeaderSize = 8;
constexpr uint32_t kWrapMarker = 0xffffffffu;
constexpr uint32_t kMaxFrame = 65535;
constexpr uint32_t kEtherHeaderLen = 14;
constexpr uint32_t kDefaultMtu = 1500;
constexpr uint32_t kMinMtu = 68;  // RFC 791: 68 octets must pass unfragmented
constexpr int64_t kNsPerMs = 1000000;
constexpr int64_t kReorderHoldNs = 10 * kNsPerMs;
constexpr int64_t kRateBacklogNs = 100 * kNsPerMs;
constexpr size_t kRateQueueFrames = 1000;
constexpr size_t kDelayQueueFrames = 16384;
constexpr size_t kDelayQueueBytes = size_t{64} << 20;
constexpr int kBellDrainMax = 64;

// Shared-memory layout, version kLayoutVersion. Atomics are lock-free (so
// shareable between processes and usable in quiesce).
struct alignas(64) SideState {
  std::atomic<int32_t> pid;          // owner, 0 when free
  std::atomic<uint32_t> attached;    // 1 while the owner's interface exists
  std::atomic<uint32_t> generation;  // bumped at each claim, tells owners apart
};

struct RingCtl {
  alignas(64) std::atomic<uint64_t> head;     // slots published, written by the producer
  alignas(64) std::atomic<uint64_t> tail;     // slots consumed, written by the consumer
  alignas(64) std::atomic<uint32_t> waiting;  // consumer: 1 = asleep, ring me
  std::atomic<int32_t> bells;                 // doorbell bytes sent, not yet read
};

struct WireHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t qlen;
  uint32_t slot_size;
  uint32_t reserved;
  uint64_t total_size;
  SideState side[2];
  RingCtl ring[2];  // ring[s]: frames sent by side s
};

static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

constexpr size_t kHeaderRegion = (sizeof(WireHeader) + 4095) & ~size_t{4095};

size_t layout_size(uint32_t qlen) { return kHeaderRegion + size_t{2} * qlen * kSlotSize; }

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// A process is gone when kill() says so or when it is a zombie (a killed
// child its parent has not reaped yet still answers kill(pid, 0)).
bool pid_alive(int32_t pid) {
  if (pid <= 0) {
    return false;
  }
  if (kill(pid, 0) != 0) {
    return errno == EPERM;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return true;
  }
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return true;
  }
  buf[n] = '\0';
  const char* rp = strrchr(buf, ')');  // comm may hold spaces and parentheses
  return !(rp != nullptr && rp[1] == ' ' && rp[2] == 'Z');
}

// splitmix64 (Steele, Lea, Flood 2014): small, fast, and good enough for the
// decisions of a test link. Not for anything secret.
class Prng {
 public:
  explicit Prng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double percent) { return unit() * 100.0 < percent; }

 private:
  uint64_t state_;
};

// Error paths only: the object is being abandoned anyway.
void truncate_quietly(int fd) {
  if (ftruncate(fd, 0) < 0) {
    // Nothing more to do; the next attacher re-initialises it.
  }
}

sockaddr_un bell_addr(const std::string& wire, int side, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  // Abstract namespace: sun_path[0] == '\0', the name is the bytes after it.
  int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "iopkt-vwire/%s/%c", wire.c_str(),
                   side == 0 ? 'A' : 'B');
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  return a;
}

struct Counters {
  std::atomic<uint64_t> tx_frames{0}, tx_bytes{0}, tx_lost{0}, tx_duplicated{0}, tx_reordered{0},
      tx_ring_full{0}, tx_queue_full{0}, tx_no_peer{0}, tx_bad_len{0}, tx_bells{0};
  std::atomic<uint64_t> rx_frames{0}, rx_bytes{0}, rx_too_long{0}, rx_errors{0};
};

// A frame waiting in the emulation queue.
struct Pending {
  int64_t release_ns;
  bool dup;
  std::vector<uint8_t> bytes;
};

// The softc (drivers/common/module.hh says what attach_softc() asks of it).
class Vwire : public drivers::SoftcBase {
 public:
  static constexpr uint64_t kSoftcMagic = 0x7677697265736f66ull;

  explicit Vwire(const Options& o) : SoftcBase(kSoftcMagic), opts_(o), prng_(o.seed) {}
  ~Vwire() { release(); }

  int open(std::string* err);
  void fill_desc(iopkt_if_desc* d) const;
  void on_attached(const iopkt_if_desc&) { update_link_state(); }
  // The carrier is the peer's presence.
  void update_link_state() { report_link_state(peer_attached() ? 1 : 0); }

  int rx_burst(uint32_t q, iopkt_pkt* pkts, uint32_t n);
  int tx_burst(const iopkt_pkt* pkts, uint32_t n) {
    try {
      return send_burst(pkts, n);
    } catch (const std::bad_alloc&) {
      return 0;  // a queued copy could not be made: nothing more taken
    }
  }
  int set_flags(uint32_t) { return 0; }  // a wire has no filter to program
  int set_mtu(uint32_t mtu) const {
    return mtu >= kMinMtu && mtu <= kMaxFrame - kEtherHeaderLen ? 0 : -EINVAL;
  }
  void quiesce();
  void detach();  // leaves the wire and frees everything but *this
  void stats(iopkt_vwire_stats* out) const;

 private:
  int send_burst(const iopkt_pkt* pkts, uint32_t n);
  int setup_locked(std::string* err);
  bool still_linked(int fd) const;
  bool anyone_live() const;
  bool peer_attached() const {
    return hdr_->side[1 - side_].attached.load(std::memory_order_acquire) != 0;
  }
  void ring_peer();
  void drain_bells(bool all);  // all: to the end, strays included
  void service_timer();
  uint32_t read_ring(iopkt_pkt* out, uint32_t max);
  bool ring_put(const uint8_t* data, uint32_t len);
  void publish_locked();
  void enqueue_timed_locked(const uint8_t* data, uint32_t len, bool dup, int64_t now);
  void push_pending_locked(Pending&& p);
  void release_due_locked(int64_t now);
  void arm_timer_locked(int64_t deadline);
  void release();

  const Options opts_;
  std::string shm_name_;
  int shm_fd_ = -1;
  WireHeader* hdr_ = nullptr;
  size_t map_len_ = 0;
  int side_ = 0;
  uint32_t my_generation_ = 0;
  uint32_t qlen_ = 0;
  uint32_t mask_ = 0;
  RingCtl* tx_ring_ = nullptr;  // ring[side_]: I produce, the peer consumes
  RingCtl* rx_ring_ = nullptr;  // ring[1 - side_]
  uint8_t* tx_slots_ = nullptr;
  uint8_t* rx_slots_ = nullptr;
  uint8_t mac_[IOPKT_ETHER_ADDR_LEN] = {};

  int bell_fd_ = -1;
  int timer_fd_ = -1;
  int epoll_fd_ = -1;
  int rx_fd_ = -1;
  sockaddr_un peer_addr_{};
  socklen_t peer_addr_len_ = 0;

  // Producer side: tx_burst (stack lock, any thread) and rx_burst (timer).
  std::mutex tx_mu_;
  uint64_t tx_head_ = 0;        // local head, published by publish_locked()
  uint64_t tx_tail_cache_ = 0;  // last tail read from the consumer
  bool tx_unpublished_ = false;
  Prng prng_;
  std::deque<Pending> queue_;  // release times never decrease
  size_t queue_bytes_ = 0;
  std::optional<Pending> held_;  // reorder=: waits for the next frame
  int64_t held_deadline_ = 0;
  int64_t link_free_ns_ = 0;  // rate=: when the link finishes the last frame
  int64_t last_release_ns_ = 0;
  std::atomic<int64_t> timer_deadline_{0};  // 0: timer not armed

  // Consumer side: only the queue's packet thread.
  uint64_t rx_tail_ = 0;
  bool armed_ = true;

  Counters c_;
};

bool Vwire::still_linked(int fd) const {
  int fd2 = shm_open(shm_name_.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd2 < 0) {
    return false;
  }
  struct stat a, b;
  bool same =
      fstat(fd, &a) == 0 && fstat(fd2, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  close(fd2);
  return same;
}

bool Vwire::anyone_live() const {
  for (const auto& s : hdr_->side) {
    if (s.attached.load() != 0 && pid_alive(s.pid.load())) {
      return true;
    }
  }
  return false;
}

int Vwire::open(std::string* err) {
  shm_name_ = "/iopkt-vwire-" + opts_.wire;
  // Open (or create) and lock; retry when a detach unlinked the name between
  // our open and our lock, so that we never join an orphaned object.
  for (int attempt = 0;; ++attempt) {
    if (attempt == 32) {
      *err = "vwire: wire " + opts_.wire + ": shared memory keeps changing, giving up";
      return -EAGAIN;
    }
    int fd = shm_open(shm_name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno != EEXIST) {
        int e = errno;
        *err = errno_msg("vwire: shm_open " + shm_name_, e);
        return -e;
      }
      fd = shm_open(shm_name_.c_str(), O_RDWR | O_CLOEXEC, 0);
      if (fd < 0) {
        if (errno == ENOENT) {
          continue;
        }
        int e = errno;
        *err = errno_msg("vwire: shm_open " + shm_name_, e);
        return -e;
      }
    }
    int rc;
    while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR) {
    }
    if (rc < 0) {
      int e = errno;
      close(fd);
      *err = errno_msg("vwire: flock " + shm_name_, e);
      return -e;
    }
    if (!still_linked(fd)) {
      close(fd);
      continue;
    }
    shm_fd_ = fd;
    break;
  }
  int rc = setup_locked(err);
  if (rc < 0) {
    // Do not leave behind an object nobody uses (a live pair's is kept).
    struct stat st;
    bool unused = hdr_ != nullptr ? !anyone_live() : fstat(shm_fd_, &st) == 0 && st.st_size == 0;
    if (unused) {
      shm_unlink(shm_name_.c_str());
    }
  }
  flock(shm_fd_, LOCK_UN);
  if (rc < 0) {
    release();
  }
  return rc;
}

int Vwire::setup_locked(std::string* err) {
  struct stat st;
  if (fstat(shm_fd_, &st) < 0) {
    int e = errno;
    *err = errno_msg("vwire: fstat " + shm_name_, e);
    return -e;
  }
  bool valid = false;
  bool live[2] = {false, false};
  if (static_cast<size_t>(st.st_size) >= kHeaderRegion) {
    void* p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd_, 0);
    if (p != MAP_FAILED) {
      auto* h = static_cast<WireHeader*>(p);
      valid =
          std::atomic_ref<decltype(h->magic)>(h->magic).load(std::memory_order_acquire) == kMagic &&
          h->version == kLayoutVersion && h->slot_size == kSlotSize && h->qlen >= kMinQlen &&
          h->qlen <= kMaxQlen && (h->qlen & (h->qlen - 1)) == 0 &&
          h->total_size == layout_size(h->qlen) &&
          static_cast<uint64_t>(st.st_size) == h->total_size;
      if (valid) {
        hdr_ = h;
        map_len_ = st.st_size;
        for (int s = 0; s < 2; ++s) {
          live[s] = h->side[s].attached.load() != 0 && pid_alive(h->side[s].pid.load());
        }
      } else {
        munmap(p, st.st_size);
      }
    }
  }
  if (!valid || (!live[0] && !live[1])) {
    // New, stale (every owner gone) or not ours: start afresh. Truncating to
    // zero first gives zeroed memory; fallocate makes a full /dev/shm an
    // error here instead of a SIGBUS on first touch.
    if (hdr_ != nullptr) {
      munmap(hdr_, map_len_);
      hdr_ = nullptr;
    }
    uint32_t qlen = opts_.qlen != 0 ? opts_.qlen : kDefaultQlen;
    size_t total = layout_size(qlen);
    if (ftruncate(shm_fd_, 0) < 0 || ftruncate(shm_fd_, static_cast<off_t>(total)) < 0) {
      int e = errno;
      *err = errno_msg("vwire: ftruncate " + shm_name_, e);
      return -e;
    }
    int fe = posix_fallocate(shm_fd_, 0, static_cast<off_t>(total));
    if (fe != 0 && fe != EOPNOTSUPP && fe != EINVAL) {
      *err =
          errno_msg("vwire: allocating " + std::to_string(total) + " bytes for " + shm_name_, fe);
      truncate_quietly(shm_fd_);
      return -fe;
    }
    void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd_, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      *err = errno_msg("vwire: mmap " + shm_name_, e);
      truncate_quietly(shm_fd_);
      return -e;
    }
    auto* h = new (p) WireHeader{};
    h->version = kLayoutVersion;
    h->qlen = qlen;
    h->slot_size = kSlotSize;
    h->total_size = total;
    for (auto& r : h->ring) {
      r.waiting.store(1);
    }
    // Published last: a reader that sees the magic sees the rest.
    std::atomic_ref<decltype(h->magic)>(h->magic).store(kMagic, std::memory_order_release);
    hdr_ = h;
    map_len_ = total;
  } else if (opts_.qlen != 0 && opts_.qlen != hdr_->qlen) {
    *err = "vwire: qlen=" + std::to_string(opts_.qlen) +
           " differs from the qlen=" + std::to_string(hdr_->qlen) + " of wire " + opts_.wire;
    return -EINVAL;
  }
  side_ = !live[0] ? 0 : !live[1] ? 1 : -1;
  if (side_ < 0) {
    side_ = 0;
    *err = "vwire: wire " + opts_.wire + " already has two ends";
    return -EBUSY;
  }
  qlen_ = hdr_->qlen;
  mask_ = qlen_ - 1;
  auto* slots = reinterpret_cast<uint8_t*>(hdr_) + kHeaderRegion;
  tx_ring_ = &hdr_->ring[side_];
  rx_ring_ = &hdr_->ring[1 - side_];
  tx_slots_ = slots + size_t{static_cast<uint32_t>(side_)} * qlen_ * kSlotSize;
  rx_slots_ = slots + size_t{static_cast<uint32_t>(1 - side_)} * qlen_ * kSlotSize;

  // The doorbell, bound before the side is claimed: a name still bound means
  // an owner we thought dead is not.
  bell_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (bell_fd_ < 0) {
    int e = errno;
    *err = errno_msg("vwire: socket", e);
    return -e;
  }
  socklen_t len = 0;
  sockaddr_un mine = bell_addr(opts_.wire, side_, &len);
  if (bind(bell_fd_, reinterpret_cast<sockaddr*>(&mine), len) < 0) {
    int e = errno;
    *err = errno_msg(
        std::string("vwire: wire ") + opts_.wire + ": doorbell of side " + (side_ == 0 ? "A" : "B"),
        e);
    return -e;
  }
  peer_addr_ = bell_addr(opts_.wire, 1 - side_, &peer_addr_len_);
  if (opts_.shapes_time()) {
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (timer_fd_ < 0 || epoll_fd_ < 0) {
      int e = errno;
      *err = errno_msg("vwire: timerfd/epoll", e);
      return -e;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = bell_fd_;
    epoll_event ev2{};
    ev2.events = EPOLLIN;
    ev2.data.fd = timer_fd_;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, bell_fd_, &ev) < 0 ||
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev2) < 0) {
      int e = errno;
      *err = errno_msg("vwire: epoll_ctl", e);
      return -e;
    }
    rx_fd_ = epoll_fd_;
  } else {
    rx_fd_ = bell_fd_;
  }

  // Claim the side. What the ring to us holds was meant for a previous
  // owner: skip it (consumer-owned tail, so no race with a live producer).
  rx_tail_ = rx_ring_->head.load(std::memory_order_acquire);
  rx_ring_->tail.store(rx_tail_, std::memory_order_release);
  rx_ring_->bells.store(0);
  rx_ring_->waiting.store(1);
  armed_ = true;
  tx_head_ = tx_ring_->head.load(std::memory_order_acquire);
  tx_tail_cache_ = tx_ring_->tail.load(std::memory_order_acquire);
  SideState& me = hdr_->side[side_];
  my_generation_ = me.generation.load() + 1;
  me.generation.store(my_generation_);
  me.pid.store(getpid());
  me.attached.store(1, std::memory_order_release);

  // From the wire name, the two sides told apart by the last bit.
  drivers::mac_from_name(opts_.wire, mac_);
  mac_[5] = static_cast<uint8_t>((mac_[5] & 0xfe) | side_);
  ring_peer();
  return 0;
}

void Vwire::fill_desc(iopkt_if_desc* d) const {
  *d = drivers::ether_if_desc("vw", mac_, kDefaultMtu, kMaxFrame - kEtherHeaderLen, rx_fd_);
}

// Wakes the peer whatever its `waiting` says (new frames use the check in
// publish_locked()). Async-signal-safe: atomics and sendto().
void Vwire::ring_peer() {
  tx_ring_->bells.fetch_add(1);
  static const char kByte = 1;
  if (sendto(bell_fd_, &kByte, 1, MSG_DONTWAIT | MSG_NOSIGNAL,
             reinterpret_cast<const sockaddr*>(&peer_addr_), peer_addr_len_) == 1) {
    c_.tx_bells.fetch_add(1, std::memory_order_relaxed);
  } else {
    // No byte queued: nobody bound (no peer, ECONNREFUSED), or the peer's
    // socket is full (EAGAIN) and so readable anyway.
    tx_ring_->bells.fetch_sub(1);
  }
}

void Vwire::drain_bells(bool all) {
  char buf[16];
  int k = 0;
  // The producers count their bytes before sending them: reading that many
  // spares the recv that would find the socket empty — one syscall per
  // wake-up (issue 8). A byte counted but not sent yet, or a stray one,
  // keeps rx_fd readable and is read at the next call (`all`).
  int want = kBellDrainMax;
  if (!all) {
    want = std::min(want, rx_ring_->bells.load(std::memory_order_relaxed));
  }
  while (k < want && recv(bell_fd_, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
    ++k;
  }
  if (k > 0) {
    int left = rx_ring_->bells.fetch_sub(k) - k;
    // Stray datagrams (anyone in the namespace may send) push it below 0.
    while (left < 0 && !rx_ring_->bells.compare_exchange_weak(left, 0)) {
    }
  }
}

bool Vwire::ring_put(const uint8_t* data, uint32_t len) {
  uint32_t need = (len + kRecordHeaderSize + kSlotSize - 1) / kSlotSize;
  uint32_t pos = static_cast<uint32_t>(tx_head_) & mask_;
  uint32_t contig = qlen_ - pos;
  uint32_t total = need > contig ? need + contig : need;
  if (qlen_ - (tx_head_ - tx_tail_cache_) < total) {
    tx_tail_cache_ = tx_ring_->tail.load(std::memory_order_acquire);
    if (qlen_ - (tx_head_ - tx_tail_cache_) < total) {
      return false;
    }
  }
  if (need > contig) {
    uint32_t hdr[2] = {kWrapMarker, contig};
    memcpy(tx_slots_ + size_t{pos} * kSlotSize, hdr, sizeof hdr);
    tx_head_ += contig;
    pos = 0;
  }
  uint8_t* slot = tx_slots_ + size_t{pos} * kSlotSize;
  uint32_t hdr[2] = {len, need};
  memcpy(slot, hdr, sizeof hdr);
  memcpy(slot + kRecordHeaderSize, data, len);
  tx_head_ += need;
  tx_unpublished_ = true;
  bump(c_.tx_frames);
  bump(c_.tx_bytes, len);
  return true;
}

// One store and at most one doorbell per batch.
void Vwire::publish_locked() {
  if (!tx_unpublished_) {
    return;
  }
  tx_unpublished_ = false;
  // Dekker's pattern with the consumer (rx_burst): publish, then look at
  // `waiting`; both sides use sequentially consistent operations so that
  // one of them always sees the other (and ThreadSanitizer can tell).
  tx_ring_->head.store(tx_head_, std::memory_order_seq_cst);
  if (tx_ring_->waiting.load(std::memory_order_seq_cst) != 0 &&
      tx_ring_->waiting.exchange(0) != 0) {
    ring_peer();
  }
}

void Vwire::push_pending_locked(Pending&& p) {
  queue_bytes_ += p.bytes.size();
  last_release_ns_ = p.release_ns;
  queue_.push_back(std::move(p));
}

void Vwire::enqueue_timed_locked(const uint8_t* data, uint32_t len, bool dup, int64_t now) {
  if (opts_.rate_bps != 0) {
    if (link_free_ns_ - now > kRateBacklogNs || queue_.size() >= kRateQueueFrames) {
      bump(c_.tx_queue_full);
      return;
    }
  } else if (queue_.size() >= kDelayQueueFrames || queue_bytes_ + len > kDelayQueueBytes) {
    bump(c_.tx_queue_full);
    return;
  }
  int64_t t = now;
  if (opts_.rate_bps != 0) {
    int64_t start = std::max(now, link_free_ns_);
    link_free_ns_ =
        start + static_cast<int64_t>((uint64_t{len} * 8 * 1000000000ull + opts_.rate_bps - 1) /
                                     opts_.rate_bps);
    t = link_free_ns_;
  }
  t += static_cast<int64_t>(opts_.delay_ms * kNsPerMs);
  if (opts_.jitter_ms > 0) {
    t += static_cast<int64_t>((prng_.unit() * 2.0 - 1.0) * opts_.jitter_ms * kNsPerMs);
  }
  t = std::max({t, now, last_release_ns_});
  bool reorder = opts_.reorder_pct > 0 && !held_ && prng_.chance(opts_.reorder_pct);
  Pending p{t, dup, std::vector<uint8_t>(data, data + len)};
  if (reorder) {
    held_deadline_ = t + kReorderHoldNs;
    held_ = std::move(p);
    return;
  }
  push_pending_locked(std::move(p));
  if (held_) {
    // The held frame goes right after this one.
    held_->release_ns = t;
    push_pending_locked(std::move(*held_));
    held_.reset();
    bump(c_.tx_reordered);
  }
}

void Vwire::release_due_locked(int64_t now) {
  if (held_ && now >= held_deadline_) {
    // No later frame came to pass it: send it as it is.
    held_->release_ns = std::max(held_deadline_, last_release_ns_);
    push_pending_locked(std::move(*held_));
    held_.reset();
  }
  while (!queue_.empty() && queue_.front().release_ns <= now) {
    Pending& f = queue_.front();
    auto len = static_cast<uint32_t>(f.bytes.size());
    for (int copy = 0; copy < (f.dup ? 2 : 1); ++copy) {
      if (!ring_put(f.bytes.data(), len)) {
        bump(c_.tx_ring_full);
      } else if (copy == 1) {
        bump(c_.tx_duplicated);
      }
    }
    queue_bytes_ -= f.bytes.size();
    queue_.pop_front();
  }
  publish_locked();
  int64_t next = queue_.empty() ? 0 : queue_.front().release_ns;
  if (held_) {
    next = next == 0 ? held_deadline_ : std::min(next, held_deadline_);
  }
  arm_timer_locked(next);
}

// The timer stays armed at the earliest deadline asked for; when it fires,
// service_timer() re-arms it for what is left.
void Vwire::arm_timer_locked(int64_t deadline) {
  if (deadline == 0) {
    return;
  }
  int64_t cur = timer_deadline_.load(std::memory_order_relaxed);
  if (cur != 0 && cur <= deadline) {
    return;
  }
  itimerspec its{};
  its.it_value.tv_sec = deadline / 1000000000;
  its.it_value.tv_nsec = deadline % 1000000000;
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
  timer_deadline_.store(deadline, std::memory_order_release);
}

void Vwire::service_timer() {
  int64_t d = timer_deadline_.load(std::memory_order_acquire);
  if (d == 0 || mono_ns() < d) {
    return;
  }
  std::lock_guard lk(tx_mu_);
  uint64_t expirations;
  if (read(timer_fd_, &expirations, sizeof expirations) < 0) {
    // EAGAIN: re-armed by tx_burst meanwhile; nothing to clear.
  }
  timer_deadline_.store(0, std::memory_order_relaxed);
  release_due_locked(mono_ns());
}

int Vwire::send_burst(const iopkt_pkt* pkts, uint32_t n) {
  std::lock_guard lk(tx_mu_);
  if (!peer_attached()) {
    // No carrier: the frames are lost, as on an unplugged cable.
    bump(c_.tx_no_peer, n);
    return static_cast<int>(n);
  }
  const bool timed = opts_.shapes_time();
  const int64_t now = timed ? mono_ns() : 0;
  uint32_t taken = 0;
  for (; taken < n; ++taken) {
    const iopkt_pkt& p = pkts[taken];
    if (p.len == 0 || p.len > kMaxFrame || p.data == nullptr) {
      bump(c_.tx_bad_len);
      continue;
    }
    if (opts_.loss_pct > 0 && prng_.chance(opts_.loss_pct)) {
      bump(c_.tx_lost);
      continue;
    }
    bool dup = opts_.dup_pct > 0 && prng_.chance(opts_.dup_pct);
    if (timed) {
      enqueue_timed_locked(p.data, p.len, dup, now);
      continue;
    }
    if (!ring_put(p.data, p.len)) {
      // Not taken: the stack counts the rest as dropped, and so do we.
      bump(c_.tx_ring_full, n - taken);
      break;
    }
    if (dup) {
      if (ring_put(p.data, p.len)) {
        bump(c_.tx_duplicated);
      } else {
        bump(c_.tx_ring_full);
      }
    }
  }
  if (timed) {
    release_due_locked(now);
  } else {
    publish_locked();
  }
  return static_cast<int>(taken);
}

uint32_t Vwire::read_ring(iopkt_pkt* out, uint32_t max) {
  uint64_t head = rx_ring_->head.load(std::memory_order_acquire);
  uint64_t tail = rx_tail_;
  uint32_t got = 0;
  while (got < max && tail != head) {
    uint32_t pos = static_cast<uint32_t>(tail) & mask_;
    const uint8_t* slot = rx_slots_ + size_t{pos} * kSlotSize;
    uint32_t hdr[2];
    memcpy(hdr, slot, sizeof hdr);
    uint32_t len = hdr[0];
    uint32_t nslots = hdr[1];
    // The peer is another process: check every record before trusting it.
    bool ok = nslots != 0 && nslots <= head - tail && pos + nslots <= qlen_;
    if (ok && len != kWrapMarker) {
      ok = len <= kMaxFrame && len + kRecordHeaderSize <= uint64_t{nslots} * kSlotSize;
    } else if (ok) {
      ok = pos + nslots == qlen_;
    }
    if (!ok) {
      bump(c_.rx_errors);
      tail = head;
      break;
    }
    if (len != kWrapMarker) {
      if (len > out[got].cap) {
        bump(c_.rx_too_long);  // driver.h: dropped, never truncated
      } else {
        memcpy(out[got].data, slot + kRecordHeaderSize, len);
        out[got].len = len;
        out[got].meta = iopkt_pkt_meta{};
        bump(c_.rx_frames);
        bump(c_.rx_bytes, len);
        ++got;
      }
    }
    tail += nslots;
  }
  if (tail != rx_tail_) {
    rx_tail_ = tail;
    rx_ring_->tail.store(tail, std::memory_order_release);
  }
  return got;
}

int Vwire::rx_burst(uint32_t q, iopkt_pkt* pkts, uint32_t n) {
  if (q != 0) {
    return -EINVAL;
  }
  if (timer_fd_ >= 0) {
    service_timer();
  }
  bool drained = false;
  if (rx_ring_->bells.load(std::memory_order_relaxed) > 0) {
    drain_bells(false);
    drained = true;
  }
  update_link_state();
  if (armed_) {
    // Awake now: producers need not ring until we sleep again.
    rx_ring_->waiting.store(0, std::memory_order_relaxed);
    armed_ = false;
  }
  uint32_t got = 0;
  bool more = false;
  for (int round = 0; round < 4; ++round) {
    got += read_ring(pkts + got, n - got);
    if (got == n && rx_ring_->head.load(std::memory_order_acquire) != rx_tail_) {
      more = true;
      break;
    }
    // Empty: announce the sleep, then look again (the producer publishes,
    // then looks at `waiting`; one of us sees the other).
    rx_ring_->waiting.store(1, std::memory_order_seq_cst);
    if (rx_ring_->head.load(std::memory_order_seq_cst) == rx_tail_) {
      armed_ = true;
      break;
    }
    rx_ring_->waiting.store(0, std::memory_order_relaxed);
    more = true;  // frames came meanwhile: read on, or kick when full
    if (got == n) {
      break;
    }
  }
  if (!armed_ && more) {
    // Frames left and no doorbell coming: driver.h's if_rx_kick.
    kick_rx(0);
  }
  if (got == 0 && !drained) {
    // Called for nothing: make sure a stray byte cannot keep rx_fd readable.
    drain_bells(true);
  }
  return static_cast<int>(got);
}

void Vwire::quiesce() {
  if (hdr_ == nullptr) {
    return;
  }
  SideState& me = hdr_->side[side_];
  if (me.generation.load() == my_generation_) {
    me.attached.store(0);
    me.pid.store(0);
  }
  ring_peer();
}

void Vwire::detach() {
  if (hdr_ == nullptr) {
    release();
    return;
  }
  int rc;
  while ((rc = flock(shm_fd_, LOCK_EX)) < 0 && errno == EINTR) {
  }
  SideState& me = hdr_->side[side_];
  if (me.generation.load() == my_generation_) {
    me.attached.store(0);
    me.pid.store(0);
  }
  ring_peer();
  // Our lock is on the object the name refers to (checked at open; only a
  // holder of the lock unlinks), so this never removes a newer wire.
  if (!anyone_live()) {
    shm_unlink(shm_name_.c_str());
  }
  if (rc == 0) {
    flock(shm_fd_, LOCK_UN);
  }
  release();
}

void Vwire::release() {
  if (hdr_ != nullptr) {
    munmap(hdr_, map_len_);
    hdr_ = nullptr;
  }
  for (int* fd : {&epoll_fd_, &timer_fd_, &bell_fd_, &shm_fd_}) {
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
  }
  rx_fd_ = -1;
}

void Vwire::stats(iopkt_vwire_stats* out) const {
  using drivers::counter;
  *out = iopkt_vwire_stats{};
  out->struct_size = sizeof(iopkt_vwire_stats);
  out->side = static_cast<uint32_t>(side_);
  out->qlen = qlen_;
  out->peer_attached = hdr_ != nullptr && peer_attached() ? 1 : 0;
  out->tx_frames = counter(c_.tx_frames);
  out->tx_bytes = counter(c_.tx_bytes);
  out->tx_lost = counter(c_.tx_lost);
  out->tx_duplicated = counter(c_.tx_duplicated);
  out->tx_reordered = counter(c_.tx_reordered);
  out->tx_ring_full = counter(c_.tx_ring_full);
  out->tx_queue_full = counter(c_.tx_queue_full);
  out->tx_no_peer = counter(c_.tx_no_peer);
  out->tx_bad_len = counter(c_.tx_bad_len);
  out->tx_bells = counter(c_.tx_bells);
  out->rx_frames = counter(c_.rx_frames);
  out->rx_bytes = counter(c_.rx_bytes);
  out->rx_too_long = counter(c_.rx_too_long);
  out->rx_errors = counter(c_.rx_errors);
}

constexpr auto kAttach = &drivers::attach_entry<Vwire, Options, parse_options, kDriverName>;

}  // namespace
}  // namespace iopkt::vwire

// --- the C ABI ---------------------------------------------------------------

extern "C" IOPKT_DRIVER_EXPORT int iopkt_vwire_get_stats(void* softc,
                                                         struct iopkt_vwire_stats* out) {
  return iopkt::drivers::get_softc_stats<iopkt::vwire::Vwire>(softc, out);
}

extern "C" IOPKT_DRIVER_EXPORT const struct iopkt_driver iopkt_driver_entry = {
    IOPKT_DRIVER_ABI_VERSION,
    iopkt::vwire::kDriverName,
    "shared-memory Ethernet wire between two iopkt instances (wire=NAME; delay, jitter, loss, "
    "dup, reorder, rate emulation)",
    iopkt::vwire::kAttach,
};
