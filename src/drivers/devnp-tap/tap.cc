// devnp-tap — an iopkt Ethernet interface on a Linux TAP device, so that the
// Linux kernel (and every tool that runs on it) is a real peer of the stack.
//
// Attach. ifname=NAME opens /dev/net/tun and asks TUNSETIFF for a TAP of
// that name (IFF_TAP | IFF_NO_PI, plus IFF_VNET_HDR with vnet_hdr), in the
// network namespace of the calling thread: the one io-pkt runs in. A TAP
// that exists and nobody holds is attached; one that does not exist is
// created. Which of the two happened is read back from the kernel (TUNGETIFF
// reports IFF_PERSIST: an existing TAP nobody held must be persistent, a new
// one is not), so "%d" templates work too. A name taken by another kind of
// device is refused with a message saying what it is. fd=N adopts an
// inherited fd that already holds a TAP set up with IFF_NO_PI (a TAP, and
// its IFF_VNET_HDR, are checked with TUNGETIFF; IFF_NO_PI cannot be, as the
// kernel reports IFF_NOFILTER in the same bit). The fd then belongs to the
// driver and is closed at detach; a refused fd stays the caller's.
//
// Detach closes the fd. A TAP the driver created is not persistent, so the
// kernel removes it then; `persist` makes it persistent (TUNSETPERSIST) so it
// stays, and a TAP that was found persistent stays anyway.
//
// Linux side. The driver keeps the kernel's view in step with the stack's:
// the TAP's MTU follows set_mtu (SIOCSIFMTU; refused by the kernel only when
// we lack CAP_NET_ADMIN, e.g. with an fd= TAP handed to an unprivileged
// io-pkt, which is logged and otherwise harmless: the kernel accepts longer
// frames from a TAP, and only its own sends follow its MTU); `qlen=` sets
// its txqueuelen (frames the kernel queues for us before it drops); `up` sets
// IFF_UP. The TAP's carrier is on while an fd is attached, so the link is
// reported up for as long as the interface exists.
//
// Frames. The fd is non-blocking and is the queue's rx_fd. A TAP hands out
// one frame per read() and takes one per write() (PERFORMANCE.md §4.2: about
// 2.7 µs and 3.8 µs each here); rx_burst reads until n frames or EAGAIN,
// tx_burst writes until n frames or EAGAIN. A frame longer than the stack's
// buffer is dropped and counted, never truncated: the read's iovec ends in a
// spare area, and the TAP returns the frame's full length whatever fits.
//
// vnet_hdr. Every frame then carries a struct virtio_net_hdr, and the driver
// enables the TAP's offloads (TUNSETOFFLOAD: checksum, TSO4/6 with ECN, and
// USO where the kernel has it), so that the kernel may hand over 64 KiB
// TCP super-frames in one read (PERFORMANCE.md §4.3: the way past 2.6
// Gbit/s). The stack's receive path does not read iopkt_pkt_meta yet, so the
// driver completes partial checksums and cuts GSO frames itself, with the
// code devnp-packet uses too (drivers/common/offload.hh); the stack only
// ever sees complete frames with valid checksums. Transmit sends plain
// frames behind a zero header, and the interface advertises no IOPKT_CAP_*
// offloads yet.
//
// Shared with the other drivers (drivers/common/): option parsing
// (options.hh), the attach sequence, the iopkt_if_ops trampolines and the
// softc's link to the stack (module.hh).
#include "drivers/devnp-tap/tap.hh"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "drivers/common/module.hh"
#include "drivers/common/offload.hh"
#include "drivers/common/options.hh"
#include "drivers/devnp-tap/tap_options.hh"
#include "iopkt/driver.h"

namespace iopkt::tap {
namespace {

using drivers::bump;
using drivers::errno_msg;
using drivers::kEtherHeaderLen;
using drivers::kVlanTagLen;
using drivers::VnetHdr;

// The name in messages and in iopkt_driver_entry, whose attach is
// drivers::attach_entry(); a refusal by the stack detaches,
// closing the fd, so a TAP we created goes away.
constexpr char kDriverName[] = "tap";

constexpr uint32_t kDefaultMtu = 1500;
// The largest frame a TAP carries is 65535 + 14; keep the IP datagram whole.
constexpr uint32_t kMaxMtu = 65521;
constexpr uint32_t kMinMtu = 68;  // Linux's ETH_MIN_MTU, RFC 791's minimum
constexpr size_t kMaxTxFrame = kMaxMtu + kEtherHeaderLen + kVlanTagLen;
// A GSO super-frame: a 64 KiB IP datagram (tun's gso_max_size) behind an
// Ethernet header and up to two VLAN tags, with room to spare.
constexpr size_t kRxBufSize = 65536 + 64;
constexpr size_t kOverflowSize = 64;

// Offloads asked for with vnet_hdr. USO (Linux 6.2) is missing from older
// headers; the kernel refuses unknown bits with EINVAL, then we ask without.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
constexpr unsigned kOffloadsTcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
constexpr unsigned kOffloadsAll = kOffloadsTcp | TUN_F_USO4 | TUN_F_USO6;

struct Counters {
  std::atomic<uint64_t> rx_frames{0}, rx_bytes{0}, rx_too_long{0}, rx_errors{0},
      rx_csum_completed{0}, rx_gso_frames{0}, rx_gso_segments{0}, rx_bad_vnet{0};
  std::atomic<uint64_t> tx_frames{0}, tx_bytes{0}, tx_full{0}, tx_link_down{0}, tx_errors{0},
      tx_bad_len{0};
};

void copy_name(ifreq* ifr, const std::string& name) {
  memset(ifr->ifr_name, 0, sizeof ifr->ifr_name);
  memcpy(ifr->ifr_name, name.data(), std::min(name.size(), sizeof ifr->ifr_name - 1));
}

// The softc (drivers/common/module.hh says what attach_softc() asks of it).
class Tap : public drivers::SoftcBase {
 public:
  static constexpr uint64_t kSoftcMagic = 0x7461702d736f6663ull;

  explicit Tap(const Options& o) : SoftcBase(kSoftcMagic), opts_(o) {}
  ~Tap() { release(); }

  int open(std::string* err);
  void fill_desc(iopkt_if_desc* d) const;
  // The stack took the interface: from now on the fd is ours to close and a
  // persistent TAP stays. The TAP's carrier is on while we hold it.
  void on_attached(const iopkt_if_desc&) {
    committed_ = true;
    report_link_state(1);
  }

  int rx_burst(uint32_t q, iopkt_pkt* pkts, uint32_t n);
  int tx_burst(const iopkt_pkt* pkts, uint32_t n);
  // A TAP hands us every frame the kernel sends it, so PROMISC and ALLMULTI
  // need nothing; the stack's IFF_UP is its own business.
  int set_flags(uint32_t) { return 0; }
  int set_mtu(uint32_t mtu);
  // Async-signal-safe: one lock-free atomic store.
  void quiesce() { quiesced_.store(true, std::memory_order_relaxed); }
  void detach() { release(); }
  void stats(iopkt_tap_stats* out) const;

 private:
  int open_by_name(std::string* err);
  int adopt_fd(std::string* err);
  std::string describe_existing(const std::string& name) const;
  int set_linux_mtu(uint32_t mtu, std::string* err);
  int current_name(std::string* name) const;
  int read_frame(iopkt_pkt* pkt);
  bool cutting() const { return seg_next_ < seg_plan_.count; }
  void stop_cutting() { seg_plan_ = drivers::RxPlan{}; }
  void release();

  const Options opts_;

  int fd_ = -1;               // the TAP
  bool opened_here_ = false;  // ifname=: we opened fd_ (fd=: the caller did)
  bool committed_ = false;    // the stack accepted the interface
  int ctl_fd_ = -1;           // an AF_INET socket for interface ioctls, in our namespace
  std::string name_;          // the TAP's name at attach
  unsigned ifindex_ = 0;
  bool created_ = false;
  bool persist_ = false;
  bool vnet_ = false;
  uint8_t mac_[IOPKT_ETHER_ADDR_LEN] = {};
  std::atomic<uint32_t> mtu_{kDefaultMtu};
  std::atomic<bool> quiesced_{false};

  // Receive side: only the queue's packet thread.
  std::vector<uint8_t> rx_buf_;      // vnet_hdr: a super-frame being cut
  uint8_t overflow_[kOverflowSize];  // catches the tail of an oversized frame
  drivers::RxPlan seg_plan_;         // how the super-frame in rx_buf_ is cut
  size_t seg_len_ = 0;               // its length
  uint32_t seg_next_ = 0;            // the segment rx_burst delivers next

  Counters c_;
};

int Tap::open(std::string* err) {
  ctl_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl_fd_ < 0) {
    *err = errno_msg("tap: control socket", errno);
    return -errno;
  }
  int rc = opts_.fd >= 0 ? adopt_fd(err) : open_by_name(err);
  if (rc < 0) {
    return rc;
  }
  if (vnet_) {
    int hdr_size = static_cast<int>(sizeof(VnetHdr));
    if (ioctl(fd_, TUNSETVNETHDRSZ, &hdr_size) < 0) {
      int e = errno;
      *err = errno_msg("tap: TUNSETVNETHDRSZ " + name_, e);
      return -e;
    }
    if (ioctl(fd_, TUNSETOFFLOAD, kOffloadsAll) < 0 &&
        ioctl(fd_, TUNSETOFFLOAD, kOffloadsTcp) < 0) {
      // Not fatal: the kernel then sends plain frames, only slower.
      log(IOPKT_LOG_WARNING,
          errno_msg("tap: TUNSETOFFLOAD " + name_ + " (offloads stay off)", errno));
    }
    rx_buf_.resize(kRxBufSize);
  }
  ifreq ifr{};
  copy_name(&ifr, name_);
  if (ioctl(ctl_fd_, SIOCGIFINDEX, &ifr) < 0) {
    int e = errno;
    *err = errno_msg("tap: SIOCGIFINDEX " + name_, e);
    return -e;
  }
  ifindex_ = static_cast<unsigned>(ifr.ifr_ifindex);
  if (int r = set_linux_mtu(kDefaultMtu, err); r < 0) {
    return r;
  }
  if (opts_.qlen != 0) {
    copy_name(&ifr, name_);
    ifr.ifr_qlen = static_cast<int>(opts_.qlen);
    if (ioctl(ctl_fd_, SIOCSIFTXQLEN, &ifr) < 0) {
      int e = errno;
      *err = errno_msg("tap: qlen=" + std::to_string(opts_.qlen) + " on " + name_, e);
      return -e;
    }
  }
  if (opts_.up) {
    copy_name(&ifr, name_);
    if (ioctl(ctl_fd_, SIOCGIFFLAGS, &ifr) < 0) {
      int e = errno;
      *err = errno_msg("tap: SIOCGIFFLAGS " + name_, e);
      return -e;
    }
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (ioctl(ctl_fd_, SIOCSIFFLAGS, &ifr) < 0) {
      int e = errno;
      *err = errno_msg("tap: up: SIOCSIFFLAGS " + name_, e);
      return -e;
    }
  }
  // Last, so that a failure above leaves no TAP behind (release() undoes it
  // for a refusal by the stack).
  if (opts_.persist) {
    if (ioctl(fd_, TUNSETPERSIST, 1) < 0) {
      int e = errno;
      *err = errno_msg("tap: TUNSETPERSIST " + name_, e);
      return -e;
    }
    persist_ = true;
  }
  // Repeatable: the same TAP name gives the same address on every attach.
  drivers::mac_from_name(name_, mac_);
  log(IOPKT_LOG_INFO, "tap: " + std::string(created_ ? "created " : "attached to ") + name_ +
                          " (ifindex " + std::to_string(ifindex_) + (vnet_ ? ", vnet_hdr" : "") +
                          (persist_ ? ", persistent" : "") + ")");
  return 0;
}

int Tap::open_by_name(std::string* err) {
  const std::string& name = opts_.ifname;
  bool existed = if_nametoindex(name.c_str()) != 0;
  fd_ = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    int e = errno;
    *err = errno_msg("tap: /dev/net/tun", e);
    return -e;
  }
  opened_here_ = true;
  ifreq ifr{};
  copy_name(&ifr, name);
  ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | (opts_.vnet_hdr ? IFF_VNET_HDR : 0));
  if (ioctl(fd_, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    if (e == EINVAL && existed) {
      *err = "tap: ifname=" + name + " " + describe_existing(name);
    } else if (e == EBUSY) {
      *err = "tap: ifname=" + name + " is a TAP held by another process";
    } else if (e == EPERM) {
      *err =
          errno_msg("tap: ifname=" + name + ": TUNSETIFF (creating a TAP needs CAP_NET_ADMIN)", e);
    } else {
      *err = errno_msg("tap: ifname=" + name + ": TUNSETIFF", e);
    }
    return -e;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  name_ = ifr.ifr_name;  // a "%d" template is resolved now
  ifreq got{};
  if (ioctl(fd_, TUNGETIFF, &got) < 0) {
    int e = errno;
    *err = errno_msg("tap: TUNGETIFF " + name_, e);
    return -e;
  }
  created_ = (got.ifr_flags & IFF_PERSIST) == 0;
  vnet_ = opts_.vnet_hdr;
  return 0;
}

// Why TUNSETIFF refused an existing name: a TUN, a multi-queue TAP (whose
// flags must match), or another kind of device altogether.
std::string Tap::describe_existing(const std::string& name) const {
  ifreq ifr{};
  copy_name(&ifr, name);
  bool ether = ioctl(ctl_fd_, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
  // tun reports no hardware type of its own for TUN devices (ARPHRD_NONE).
  if (!ether && ifr.ifr_hwaddr.sa_family == ARPHRD_NONE) {
    return "exists and is not a TAP (a TUN device or another layer-3 device)";
  }
  return "exists and is not a TAP this driver can attach (another kind of device, or a "
         "multi-queue TAP)";
}

int Tap::adopt_fd(std::string* err) {
  std::string what = "tap: fd=" + std::to_string(opts_.fd);
  int fl = fcntl(opts_.fd, F_GETFL);
  if (fl < 0) {
    int e = errno;
    *err = errno_msg(what, e);
    return -e;
  }
  ifreq ifr{};
  if (ioctl(opts_.fd, TUNGETIFF, &ifr) < 0) {
    int e = errno;
    *err = errno_msg(what + " is not a TUN/TAP fd with a device attached", e);
    return -EINVAL;
  }
  if ((ifr.ifr_flags & IFF_TAP) == 0) {
    *err = what + " holds a TUN device, not a TAP";
    return -EINVAL;
  }
  // IFF_NO_PI cannot be checked: TUNGETIFF reports IFF_NOFILTER in the same
  // bit (0x1000) whenever no TUNSETTXFILTER is set. The caller must have set
  // the TAP up with IFF_NO_PI (see the top of this file).
  bool fd_vnet = (ifr.ifr_flags & IFF_VNET_HDR) != 0;
  if (opts_.vnet_hdr && !fd_vnet) {
    *err = what + ": vnet_hdr asked, but the TAP was set up without IFF_VNET_HDR";
    return -EINVAL;
  }
  if (fcntl(opts_.fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(opts_.fd, F_SETFD, FD_CLOEXEC) < 0) {
    int e = errno;
    *err = errno_msg(what + ": fcntl", e);
    return -e;
  }
  fd_ = opts_.fd;
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  name_ = ifr.ifr_name;
  created_ = false;
  // The frames carry the header whenever the TAP was set up with it.
  vnet_ = fd_vnet;
  if (fd_vnet && !opts_.vnet_hdr) {
    log(IOPKT_LOG_NOTICE, what + ": the TAP has IFF_VNET_HDR; using it");
  }
  return 0;
}

// The TAP's current name: it may have been renamed on the Linux side.
int Tap::current_name(std::string* name) const {
  ifreq ifr{};
  if (ioctl(fd_, TUNGETIFF, &ifr) < 0) {
    return -errno;
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  *name = ifr.ifr_name;
  return 0;
}

int Tap::set_linux_mtu(uint32_t mtu, std::string* err) {
  std::string name;
  if (int rc = current_name(&name); rc < 0) {
    *err = errno_msg("tap: TUNGETIFF", -rc);
    return rc;
  }
  ifreq ifr{};
  copy_name(&ifr, name);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (ioctl(ctl_fd_, SIOCSIFMTU, &ifr) < 0) {
    int e = errno;
    if (e == EPERM || e == EACCES) {
      log(IOPKT_LOG_WARNING, errno_msg("tap: cannot set the MTU of " + name + " to " +
                                           std::to_string(mtu) + " (kept on the stack's side)",
                                       e));
    } else {
      *err = errno_msg("tap: SIOCSIFMTU " + name + " " + std::to_string(mtu), e);
      return -e;
    }
  }
  mtu_.store(mtu, std::memory_order_relaxed);
  return 0;
}

int Tap::set_mtu(uint32_t mtu) {
  if (mtu < kMinMtu || mtu > kMaxMtu) {
    return -EINVAL;
  }
  try {
    std::string err;
    int rc = set_linux_mtu(mtu, &err);
    if (rc < 0) {
      log(IOPKT_LOG_ERR, err);
    }
    return rc;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

void Tap::fill_desc(iopkt_if_desc* d) const {
  // SPEC §1: Ethernet drivers default to en.
  *d = drivers::ether_if_desc("en", mac_, kDefaultMtu, kMaxMtu, fd_);
}

void Tap::stats(iopkt_tap_stats* out) const {
  using drivers::counter;
  *out = iopkt_tap_stats{};
  out->struct_size = sizeof(iopkt_tap_stats);
  out->vnet_hdr = vnet_ ? 1 : 0;
  out->created = created_ ? 1 : 0;
  out->persist = persist_ ? 1 : 0;
  out->linux_ifindex = ifindex_;
  out->mtu = mtu_.load(std::memory_order_relaxed);
  snprintf(out->linux_name, sizeof out->linux_name, "%s", name_.c_str());
  out->quiesced = quiesced_.load(std::memory_order_relaxed) ? 1 : 0;
  out->rx_frames = counter(c_.rx_frames);
  out->rx_bytes = counter(c_.rx_bytes);
  out->rx_too_long = counter(c_.rx_too_long);
  out->rx_errors = counter(c_.rx_errors);
  out->rx_csum_completed = counter(c_.rx_csum_completed);
  out->rx_gso_frames = counter(c_.rx_gso_frames);
  out->rx_gso_segments = counter(c_.rx_gso_segments);
  out->rx_bad_vnet = counter(c_.rx_bad_vnet);
  out->tx_frames = counter(c_.tx_frames);
  out->tx_bytes = counter(c_.tx_bytes);
  out->tx_full = counter(c_.tx_full);
  out->tx_link_down = counter(c_.tx_link_down);
  out->tx_errors = counter(c_.tx_errors);
  out->tx_bad_len = counter(c_.tx_bad_len);
}

// Reads one frame into pkt (or, for a GSO super-frame, into rx_buf_, to be
// cut as seg_plan_ says). Returns 1 when pkt holds a frame, 0 when the frame
// was consumed otherwise (dropped, or waiting in rx_buf_), -EAGAIN when the
// TAP is empty, or another negative errno.
int Tap::read_frame(iopkt_pkt* pkt) {
  VnetHdr h{};
  iovec iov[4];
  int k = 0;
  if (vnet_) {
    iov[k++] = {&h, sizeof h};
  }
  iov[k++] = {pkt->data, pkt->cap};
  size_t room = pkt->cap;
  if (vnet_ && pkt->cap < rx_buf_.size()) {
    // A super-frame continues in rx_buf_ at the same offset, so that it is
    // contiguous there after one copy of its head.
    iov[k++] = {rx_buf_.data() + pkt->cap, rx_buf_.size() - pkt->cap};
    room = rx_buf_.size();
  }
  iov[k++] = {overflow_, sizeof overflow_};
  ssize_t r;
  do {
    r = readv(fd_, iov, k);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
  if (r == 0) {
    return -EAGAIN;
  }
  size_t len = static_cast<size_t>(r);
  if (vnet_) {
    if (len < sizeof h) {
      bump(c_.rx_bad_vnet);
      return 0;
    }
    len -= sizeof h;
  }
  if (len > room) {
    bump(c_.rx_too_long);
    return 0;
  }
  pkt->meta = iopkt_pkt_meta{};
  using drivers::RxDrop;
  using drivers::RxPlan;
  if (!vnet_ || (h.gso_type == drivers::kVnetGsoNone && (h.flags & drivers::kVnetNeedsCsum) == 0)) {
    if (len > pkt->cap) {
      bump(c_.rx_too_long);
      return 0;
    }
    pkt->len = static_cast<uint32_t>(len);
    return 1;
  }
  // The TAP's MTU is the stack's (set_mtu keeps them in step): nothing is
  // refused for its length here, and super-frames are cut at the kernel's
  // gso_size (kNoMtu).
  if (h.gso_type == drivers::kVnetGsoNone) {
    if (len > pkt->cap) {
      bump(c_.rx_too_long);
      return 0;
    }
    std::span<uint8_t> frame(pkt->data, len);
    RxPlan plan = drivers::plan_rx_frame(frame, h, drivers::kNoMtu);
    if (plan.drop != RxDrop::kNone) {
      bump(c_.rx_bad_vnet);
      return 0;
    }
    drivers::complete_csum_in_place(frame, plan);
    bump(c_.rx_csum_completed);
    pkt->len = static_cast<uint32_t>(len);
    return 1;
  }
  bump(c_.rx_gso_frames);
  if (len > rx_buf_.size()) {  // only when the stack's buffers are larger still
    bump(c_.rx_too_long);
    return 0;
  }
  memcpy(rx_buf_.data(), pkt->data, std::min<size_t>(len, pkt->cap));
  RxPlan plan =
      drivers::plan_rx_frame(std::span<const uint8_t>(rx_buf_.data(), len), h, drivers::kNoMtu);
  if (plan.drop != RxDrop::kNone || plan.kind != RxPlan::Kind::kSegment) {
    bump(c_.rx_bad_vnet);
    return 0;
  }
  // The first segment is the largest; the stack's buffers are all alike.
  if (drivers::rx_frame_size(plan, len, 0) > pkt->cap) {
    bump(c_.rx_too_long);
    return 0;
  }
  seg_plan_ = plan;
  seg_len_ = len;
  seg_next_ = 0;
  bump(c_.rx_gso_segments, plan.count);
  return 0;
}

int Tap::rx_burst(uint32_t q, iopkt_pkt* pkts, uint32_t n) {
  if (q != 0) {
    return -EINVAL;
  }
  if (quiesced_.load(std::memory_order_relaxed)) {
    return 0;
  }
  uint32_t got = 0;
  // Bounded so that a flood of dropped frames cannot hold the thread.
  for (uint32_t tries = 0; got < n && tries < 4 * n + 64; ++tries) {
    iopkt_pkt& p = pkts[got];
    if (cutting()) {
      size_t len = drivers::emit_rx_frame(std::span<const uint8_t>(rx_buf_.data(), seg_len_),
                                          seg_plan_, seg_next_, std::span<uint8_t>(p.data, p.cap));
      if (len == 0) {  // a caller with smaller buffers than the first call's
        bump(c_.rx_too_long, 1);
        stop_cutting();
        continue;
      }
      ++seg_next_;
      p.meta = iopkt_pkt_meta{};
      p.len = static_cast<uint32_t>(len);
      bump(c_.rx_frames);
      bump(c_.rx_bytes, p.len);
      ++got;
      continue;
    }
    int rc = read_frame(&p);
    if (rc == -EAGAIN) {
      break;
    }
    if (rc < 0) {
      bump(c_.rx_errors);
      // Hand over what we have; the next call reports the error.
      return got > 0 ? static_cast<int>(got) : rc;
    }
    if (rc == 1) {
      bump(c_.rx_frames);
      bump(c_.rx_bytes, p.len);
      ++got;
    }
  }
  if (cutting()) {
    // Segments wait in rx_buf_ and the fd may not signal again for them.
    kick_rx(0);
  }
  return static_cast<int>(got);
}

int Tap::tx_burst(const iopkt_pkt* pkts, uint32_t n) {
  if (quiesced_.load(std::memory_order_relaxed)) {
    return 0;
  }
  static const VnetHdr kZeroHdr{};
  for (uint32_t i = 0; i < n; ++i) {
    const iopkt_pkt& p = pkts[i];
    if (p.len < kEtherHeaderLen || p.len > kMaxTxFrame) {
      bump(c_.tx_bad_len);
      continue;
    }
    ssize_t r;
    do {
      if (vnet_) {
        iovec iov[2] = {{const_cast<VnetHdr*>(&kZeroHdr), sizeof kZeroHdr}, {p.data, p.len}};
        r = writev(fd_, iov, 2);
      } else {
        r = write(fd_, p.data, p.len);
      }
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        bump(c_.tx_full);
        return static_cast<int>(i);
      }
      // EIO: the Linux side is down, and the kernel drops what we write,
      // as a NIC without carrier would.
      bump(e == EIO ? c_.tx_link_down : c_.tx_errors);
      continue;
    }
    bump(c_.tx_frames);
    bump(c_.tx_bytes, p.len);
  }
  return static_cast<int>(n);
}

void Tap::release() {
  if (fd_ >= 0 && !committed_ && created_ && persist_) {
    ioctl(fd_, TUNSETPERSIST, 0);  // attach failed after persist: undo it
  }
  // A TAP we created and did not make persistent goes with the fd. An fd=
  // the attach refused stays with the caller.
  if (fd_ >= 0 && (opened_here_ || committed_)) {
    close(fd_);
  }
  fd_ = -1;
  if (ctl_fd_ >= 0) {
    close(ctl_fd_);
    ctl_fd_ = -1;
  }
}

constexpr auto kAttach = &drivers::attach_entry<Tap, Options, parse_options, kDriverName>;

}  // namespace
}  // namespace iopkt::tap

// --- the C ABI ---------------------------------------------------------------

extern "C" IOPKT_DRIVER_EXPORT int iopkt_tap_get_stats(void* softc, struct iopkt_tap_stats* out) {
  return iopkt::drivers::get_softc_stats<iopkt::tap::Tap>(softc, out);
}

extern "C" IOPKT_DRIVER_EXPORT const struct iopkt_driver iopkt_driver_entry = {
    IOPKT_DRIVER_ABI_VERSION,
    iopkt::tap::kDriverName,
    "Ethernet over a Linux TAP device (ifname=NAME or fd=N; persist, vnet_hdr, up, qlen=N)",
    iopkt::tap::kAttach,
};
