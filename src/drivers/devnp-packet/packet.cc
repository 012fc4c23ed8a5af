// devnp-packet — an iopkt interface on an existing Linux Ethernet interface
// (`if=NAME`, e.g. one end of a veth pair in a network namespace), through
// an AF_PACKET socket with a TPACKET_V3 receive ring. Read
// include/iopkt/driver.h first, then PERFORMANCE.md §4.2 (why a V3 ring:
// it kept up with two kernel senders where recvmmsg fell behind) and
// ROBUSTNESS.md §1 item 2 (what a default veth peer sends).
//
// Receive. One SOCK_RAW packet socket bound to the interface with
// ETH_P_ALL; its RX ring is `blocks` blocks of `blocksize` bytes
// (frames= 2 KiB units, see packet_options.hh). The kernel fills a block
// and hands it over when it is full or tov= ms after its first frame; the
// socket then polls readable, and that socket is the queue's rx_fd.
// rx_burst() walks the handed-over blocks in order, copies each frame into
// the stack's buffer and gives a block back (TP_STATUS_KERNEL) once every
// frame in it has been delivered, so a frame is read straight from the
// ring without an intermediate copy. Frames we sent ourselves are not looped
// back to our socket by the kernel; PACKET_OUTGOING frames (what the Linux
// stack of this namespace sends on the interface) are skipped, with
// PACKET_IGNORE_OUTGOING asking the kernel not to copy them at all.
//
// Offloads. A Linux sender's CHECKSUM_PARTIAL and GSO state survive a veth,
// so frames arrive with TCP/UDP checksums that hold only the pseudo-header
// sum and as super-frames of up to 64 KiB. With PACKET_VNET_HDR the kernel
// writes a virtio_net_hdr right before each frame in the ring (at tp_mac -
// 10, net/packet/af_packet.c tpacket_rcv()) saying which: csum_start and
// csum_offset of a partial checksum, gso_type and gso_size of a
// super-frame. drivers/common/offload.cc (shared with devnp-tap) finishes
// the checksums and cuts super-frames (TCPv4/v6 at gso_size, UDP_SEGMENT
// into datagrams) so that
// the stack only ever sees frames a wire could have carried: complete,
// <= MTU + link header, checksums valid (and marked IOPKT_PKT_CSUM_VALID).
// The option `novnet` reads tp_status instead (TP_STATUS_CSUMNOTREADY,
// packet_offload.cc), for kernels without V3 vnet headers: TCP super-frames are then recognised by
// their length and cut at the MSS the Linux MTU implies; UDP super-frames
// (whose datagram size only the vnet header tells) are dropped and counted.
// Linux moves an 802.1Q tag out of the frame before packet taps see it
// (skb_vlan_untag in __netif_receive_skb_core); it is put back from
// tp_vlan_tci so the stack sees the frame as it was on the wire.
//
// Transmit: sendmmsg() of plain frames behind a zeroed virtio_net_hdr (the
// socket expects one once PACKET_VNET_HDR is on), MSG_DONTWAIT; no transmit
// offloads are advertised yet.
//
// Addresses. As io-pkt takes the MAC of the NIC it drives, the interface
// takes the Linux interface's MAC (SIOCGIFHWADDR), so no promiscuous mode
// is needed for unicast. The Linux interface should then carry no addresses
// of its own (its stack would answer the same frames); attach warns when it
// does. With the stack's mac= override, set_lladdr() turns promiscuous mode
// on (frames to the new MAC must come in); `ifconfig ... promisc`
// reaches set_flags() and turns PACKET_MR_PROMISC on and off. The ABI has no
// multicast filter operation, so PACKET_MR_ALLMULTI is always on (a veth
// filters nothing; a real NIC would otherwise drop IGMP/MLD/ND multicast).
//
// Link state: IFF_RUNNING at attach; a socket error (ENETDOWN) reports the
// carrier down, the next frame received reports it up again, and a Linux
// interface that disappears stops the queue (rx_burst returns -ENODEV).
//
// Threads (driver.h): rx_burst on the queue's packet thread only, tx_burst
// and set_flags/set_mtu under the stack lock; they share only the socket
// (the kernel serialises) and atomics. quiesce only stores a flag: closing
// the socket (at exit) drops the memberships.
//
// Counters: iopkt_packet_get_stats() in packet.hh.
//
// Shared with the other drivers (drivers/common/): option parsing
// (options.hh), checksum completion and segmentation (offload.hh), the
// attach sequence, the iopkt_if_ops trampolines and the softc's link to
// the stack (module.hh).
#include "drivers/devnp-packet/packet.hh"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "drivers/common/module.hh"
#include "drivers/common/offload.hh"
#include "drivers/common/options.hh"
#include "drivers/devnp-packet/packet_offload.hh"
#include "drivers/devnp-packet/packet_options.hh"
#include "iopkt/driver.h"

namespace iopkt::packet {
namespace {

using drivers::bump;
using drivers::errno_msg;
using drivers::kEtherHeaderLen;
using drivers::kVlanTagLen;
using drivers::RxDrop;
using drivers::RxPlan;

// The name in messages and in iopkt_driver_entry, whose attach is
// drivers::attach_entry().
constexpr char kDriverName[] = "packet";

constexpr uint32_t kMinMtu = 68;  // RFC 791: 68 octets must pass unfragmented
constexpr uint32_t kTxBatch = 64;
// struct virtio_net_hdr without num_buffers: what PACKET_VNET_HDR adds.
constexpr size_t kVnetHdrLen = 10;
constexpr uint16_t kEtherTypeVlan = 0x8100;
// A block holds a frame of at most block_size minus its descriptor and the
// frame's own headers (tpacket3_hdr, sockaddr_ll, vnet header, alignment).
constexpr uint32_t kRingOverhead = 256;
constexpr uint32_t kLargestSuperFrame = 65536 + kEtherHeaderLen + kVlanTagLen;

std::string mac_string(const uint8_t* m) {
  char b[18];
  snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

struct Counters {
  std::atomic<uint64_t> rx_frames{0}, rx_bytes{0}, rx_ring_frames{0}, rx_csum_completed{0},
      rx_gso_frames{0}, rx_gso_segments{0}, rx_vlan_restored{0}, rx_outgoing{0}, rx_too_long{0},
      rx_truncated{0}, rx_gso_unsupported{0}, rx_bad_headers{0}, rx_csum_unsupported{0},
      rx_over_cap{0}, rx_ring_errors{0}, rx_kernel_drops{0};
  std::atomic<uint64_t> tx_frames{0}, tx_bytes{0}, tx_errors{0}, tx_busy{0};
};

// One ring frame made ready to deliver: the bytes (in the ring, or in
// scratch when a VLAN tag was put back) and the plan for them.
struct Prepared {
  std::span<const uint8_t> frame;
  RxPlan plan;
  bool vlan_restored = false;
};

Prepared prepare_frame(const iopkt_packet_rx_frame& in, std::vector<uint8_t>* scratch) {
  Prepared p;
  p.frame = std::span<const uint8_t>(in.data, in.len);
  uint32_t shift = 0;
  if ((in.tp_status & TP_STATUS_VLAN_VALID) != 0 && in.len >= 12) {
    uint16_t tpid = (in.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 && in.vlan_tpid != 0
                        ? in.vlan_tpid
                        : kEtherTypeVlan;
    scratch->resize(size_t{in.len} + kVlanTagLen);
    uint8_t* s = scratch->data();
    memcpy(s, in.data, 12);
    s[12] = static_cast<uint8_t>(tpid >> 8);
    s[13] = static_cast<uint8_t>(tpid);
    s[14] = static_cast<uint8_t>(in.vlan_tci >> 8);
    s[15] = static_cast<uint8_t>(in.vlan_tci);
    memcpy(s + 16, in.data + 12, in.len - 12);
    p.frame = std::span<const uint8_t>(s, scratch->size());
    p.vlan_restored = true;
    shift = kVlanTagLen;
  }
  drivers::VnetHdr off;
  if (in.has_vnet != 0) {
    off.flags = in.vnet_flags;
    off.gso_type = in.vnet_gso_type;
    off.hdr_len = in.vnet_hdr_len;
    off.gso_size = in.vnet_gso_size;
    // The kernel counts csum_start from the frame it stored (tag removed).
    off.csum_start = static_cast<uint16_t>(in.vnet_csum_start + shift);
    off.csum_offset = in.vnet_csum_offset;
  } else {
    off = offload_from_status(p.frame, in.tp_status, in.linux_mtu);
  }
  p.plan = drivers::plan_rx_frame(p.frame, off, in.mtu);
  return p;
}

// The softc (drivers/common/module.hh says what attach_softc() asks of it).
class PacketIf : public drivers::SoftcBase {
 public:
  static constexpr uint64_t kSoftcMagic = 0x706b7473666f6369ull;

  explicit PacketIf(Options o) : SoftcBase(kSoftcMagic), opts_(std::move(o)) {}
  ~PacketIf() { release(); }

  int open(std::string* err);
  void fill_desc(iopkt_if_desc* d) const;
  void on_attached(const iopkt_if_desc& desc);
  void detach() { release(); }  // closing the socket drops the memberships

  int rx_burst(uint32_t q, iopkt_pkt* pkts, uint32_t n);
  int tx_burst(const iopkt_pkt* pkts, uint32_t n);
  int set_flags(uint32_t flags);
  int set_lladdr(const uint8_t* mac);
  int set_mtu(uint32_t mtu);
  void quiesce() { quiesced_.store(true, std::memory_order_relaxed); }
  void stats(iopkt_packet_stats* out);

 private:
  int set_membership(int type, bool on);
  void warn_if_addressed() const;
  tpacket_block_desc* block_at(uint32_t i) const {
    return reinterpret_cast<tpacket_block_desc*>(ring_ + size_t{i} * opts_.block_size);
  }
  bool block_ready(uint32_t i) const {
    return (__atomic_load_n(&block_at(i)->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
            TP_STATUS_USER) != 0;
  }
  void release_block();
  bool load_next_frame();
  void count_drop(RxDrop why);
  int check_socket_error();
  void release();

  const Options opts_;
  int fd_ = -1;
  int ifindex_ = 0;
  uint8_t mac_[IOPKT_ETHER_ADDR_LEN] = {};
  uint32_t linux_mtu_ = 1500;
  std::atomic<uint32_t> mtu_{1500};
  bool running_at_attach_ = false;
  bool vnet_hdr_ = false;
  uint8_t* ring_ = nullptr;
  size_t ring_len_ = 0;
  uint32_t block_count_ = 0;

  std::atomic<bool> quiesced_{false};
  std::atomic<bool> promisc_on_{false};
  bool lladdr_differs_ = false;  // mac= gave the interface another MAC: promiscuous

  // Receive state: the queue's packet thread only.
  uint32_t block_idx_ = 0;
  tpacket_block_desc* cur_ = nullptr;  // block being read, still ours
  uint32_t pkts_left_ = 0;             // frames in cur_ not yet looked at
  uint32_t pkt_off_ = 0;               // offset of the next one in cur_
  Prepared pending_;                   // frame being delivered
  uint32_t pending_next_ = 0;          // its next output frame
  bool pending_active_ = false;
  std::vector<uint8_t> scratch_;

  // Transmit scratch: tx_burst runs under the stack lock, one at a time.
  mmsghdr tx_msgs_[kTxBatch] = {};
  iovec tx_iov_[2 * kTxBatch] = {};

  Counters c_;
};

int PacketIf::open(std::string* err) {
  const std::string& name = opts_.ifname;
  fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    int e = errno;
    *err = errno_msg("packet: socket(AF_PACKET)", e) +
           (e == EPERM ? " (needs CAP_NET_RAW in io-pkt's network namespace)" : "");
    return -e;
  }
  ifreq ifr{};
  memcpy(ifr.ifr_name, name.c_str(), name.size());  // valid_ifname(): < IFNAMSIZ
  if (ioctl(fd_, SIOCGIFINDEX, &ifr) < 0) {
    int e = errno;
    *err = e == ENODEV ? "packet: no interface '" + name + "' in io-pkt's network namespace"
                       : errno_msg("packet: " + name + ": SIOCGIFINDEX", e);
    return -e;
  }
  ifindex_ = ifr.ifr_ifindex;
  if (ioctl(fd_, SIOCGIFFLAGS, &ifr) < 0) {
    int e = errno;
    *err = errno_msg("packet: " + name + ": SIOCGIFFLAGS", e);
    return -e;
  }
  const auto lflags = static_cast<uint16_t>(ifr.ifr_flags);
  if (ioctl(fd_, SIOCGIFHWADDR, &ifr) < 0) {
    int e = errno;
    *err = errno_msg("packet: " + name + ": SIOCGIFHWADDR", e);
    return -e;
  }
  const int hwtype = ifr.ifr_hwaddr.sa_family;
  if (hwtype == ARPHRD_LOOPBACK || (lflags & IFF_LOOPBACK) != 0) {
    *err = "packet: " + name + " is a loopback interface; attach to an Ethernet interface";
    return -EINVAL;
  }
  if (hwtype != ARPHRD_ETHER) {
    *err = "packet: " + name + " is not an Ethernet interface (ARPHRD type " +
           std::to_string(hwtype) + ")";
    return -EINVAL;
  }
  memcpy(mac_, ifr.ifr_hwaddr.sa_data, sizeof mac_);
  if (ioctl(fd_, SIOCGIFMTU, &ifr) < 0) {
    int e = errno;
    *err = errno_msg("packet: " + name + ": SIOCGIFMTU", e);
    return -e;
  }
  linux_mtu_ = static_cast<uint32_t>(std::max(ifr.ifr_mtu, static_cast<int>(kMinMtu)));
  mtu_.store(linux_mtu_);
  running_at_attach_ = (lflags & IFF_RUNNING) != 0;

  int v = TPACKET_V3;
  if (setsockopt(fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) {
    int e = errno;
    *err = errno_msg("packet: PACKET_VERSION TPACKET_V3", e);
    return -e;
  }
  // Before the ring: the kernel refuses to change it afterwards (EBUSY).
  if (opts_.vnet_hdr) {
    int one = 1;
    if (setsockopt(fd_, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0) {
      vnet_hdr_ = true;
    } else {
      log(IOPKT_LOG_WARNING, errno_msg("packet: " + name +
                                           ": PACKET_VNET_HDR refused, reading offload state "
                                           "from tp_status (UDP super-frames will be dropped)",
                                       errno));
    }
  }
  int one = 1;
  // Since Linux 4.20; without it, PACKET_OUTGOING frames are skipped below.
  (void)setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);

  block_count_ = opts_.block_count();
  tpacket_req3 req{};
  req.tp_block_size = opts_.block_size;
  req.tp_block_nr = block_count_;
  req.tp_frame_size = kRingFrameSize;
  req.tp_frame_nr = opts_.block_size / kRingFrameSize * block_count_;
  req.tp_retire_blk_tov = opts_.tov_ms;
  if (setsockopt(fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
    int e = errno;
    *err = errno_msg("packet: PACKET_RX_RING (" + std::to_string(block_count_) + " blocks of " +
                         std::to_string(opts_.block_size) + " bytes)",
                     e);
    return -e;
  }
  ring_len_ = size_t{opts_.block_size} * block_count_;
  void* m = mmap(nullptr, ring_len_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    ring_len_ = 0;
    *err = errno_msg("packet: mmap of the receive ring", e);
    return -e;
  }
  ring_ = static_cast<uint8_t*>(m);

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex_;
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&sll), sizeof sll) < 0) {
    int e = errno;
    *err = errno_msg("packet: bind to " + name, e);
    return -e;
  }
  int sndbuf = 4 << 20;  // a few bursts of full frames; capped by wmem_max
  (void)setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (set_membership(PACKET_MR_ALLMULTI, true) < 0) {
    log(IOPKT_LOG_WARNING, errno_msg("packet: " + name + ": PACKET_MR_ALLMULTI", errno));
  }
  if (opts_.promisc) {
    int rc = set_membership(PACKET_MR_PROMISC, true);
    if (rc < 0) {
      *err = errno_msg("packet: " + name + ": PACKET_MR_PROMISC", -rc);
      return rc;
    }
    promisc_on_.store(true);
  }
  warn_if_addressed();
  if (opts_.block_size < kLargestSuperFrame + kRingOverhead) {
    log(IOPKT_LOG_NOTICE,
        "packet: blocksize=" + std::to_string(opts_.block_size) +
            " cannot hold a 64 KiB super-frame; larger frames are cut by the kernel and dropped");
  }
  return 0;
}

int PacketIf::set_membership(int type, bool on) {
  packet_mreq mr{};
  mr.mr_ifindex = ifindex_;
  mr.mr_type = static_cast<unsigned short>(type);
  if (setsockopt(fd_, SOL_PACKET, on ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr,
                 sizeof mr) < 0) {
    return -errno;
  }
  return 0;
}

// The Linux stack would answer for its own addresses on the same MAC (and
// its IPv6 link-local address is the one io-pkt derives from that MAC).
void PacketIf::warn_if_addressed() const {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) < 0) {
    return;
  }
  int n = 0;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr != nullptr && a->ifa_name != nullptr && opts_.ifname == a->ifa_name &&
        (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6)) {
      ++n;
    }
  }
  freeifaddrs(list);
  if (n > 0) {
    log(IOPKT_LOG_WARNING, "packet: Linux interface " + opts_.ifname + " has " + std::to_string(n) +
                               " IP address(es) of its own; Linux will answer on the same MAC "
                               "(remove them, e.g. `ip addr flush`, `addrgenmode none`)");
  }
}

void PacketIf::fill_desc(iopkt_if_desc* d) const {
  *d = drivers::ether_if_desc("en", mac_, linux_mtu_, linux_mtu_, fd_);
  d->caps = IOPKT_CAP_RX_CSUM;  // frames we finished are delivered CSUM_VALID
}

void PacketIf::on_attached(const iopkt_if_desc& desc) {
  try {
    log(IOPKT_LOG_INFO,
        "packet: attached to Linux " + opts_.ifname + ", mac " + mac_string(desc.mac) +
            " (the Linux interface's), mtu " + std::to_string(desc.mtu) + ", ring " +
            std::to_string(opts_.block_count()) + " x " + std::to_string(opts_.block_size / 1024) +
            " KiB, offload info from " + (opts_.vnet_hdr ? "PACKET_VNET_HDR" : "tp_status") +
            (opts_.promisc ? ", promiscuous" : "") + (running_at_attach_ ? "" : "; no carrier"));
  } catch (const std::bad_alloc&) {
    // The interface is the stack's already; the line is only information.
  }
  report_link_state(running_at_attach_ ? 1 : 0);
}

void PacketIf::release_block() {
  __atomic_store_n(&cur_->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  cur_ = nullptr;
  pkts_left_ = 0;
  block_idx_ = (block_idx_ + 1) % block_count_;
}

void PacketIf::count_drop(RxDrop why) {
  switch (why) {
    case RxDrop::kTooLong:
      bump(c_.rx_too_long);
      break;
    case RxDrop::kBadHeaders:
      bump(c_.rx_bad_headers);
      break;
    case RxDrop::kGsoUnsupported:
      bump(c_.rx_gso_unsupported);
      break;
    case RxDrop::kCsumUnsupported:
      bump(c_.rx_csum_unsupported);
      break;
    case RxDrop::kNone:
      break;
  }
}

// Finds the next frame to deliver in the ring, giving back blocks as they
// are used up. The frame stays in cur_, which is not given back before it
// has been delivered in full.
bool PacketIf::load_next_frame() {
  for (;;) {
    if (cur_ == nullptr) {
      if (!block_ready(block_idx_)) {
        return false;
      }
      cur_ = block_at(block_idx_);
      pkts_left_ = cur_->hdr.bh1.num_pkts;
      pkt_off_ = cur_->hdr.bh1.offset_to_first_pkt;
    }
    if (pkts_left_ == 0) {
      release_block();
      continue;
    }
    // The ring is shared with the kernel only, but a bad offset would send
    // us outside the mapping: check each one.
    const uint32_t bs = opts_.block_size;
    if (pkt_off_ < sizeof(tpacket_block_desc) || pkt_off_ > bs - sizeof(tpacket3_hdr)) {
      bump(c_.rx_ring_errors);
      release_block();
      continue;
    }
    auto* base = reinterpret_cast<uint8_t*>(cur_) + pkt_off_;
    tpacket3_hdr h;
    memcpy(&h, base, sizeof h);
    const sockaddr_ll* sll =
        reinterpret_cast<const sockaddr_ll*>(base + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
    --pkts_left_;
    if (pkts_left_ > 0 && h.tp_next_offset == 0) {
      bump(c_.rx_ring_errors);
      pkts_left_ = 0;
    }
    const uint32_t room = bs - pkt_off_;
    pkt_off_ += h.tp_next_offset;
    if (h.tp_mac < TPACKET_ALIGN(sizeof(tpacket3_hdr)) + sizeof(sockaddr_ll) ||
        uint64_t{h.tp_mac} + h.tp_snaplen > room) {
      bump(c_.rx_ring_errors);
      continue;
    }
    bump(c_.rx_ring_frames);
    if (sll->sll_pkttype == PACKET_OUTGOING) {
      bump(c_.rx_outgoing);
      continue;
    }
    if (h.tp_snaplen < h.tp_len) {
      bump(c_.rx_truncated);  // larger than a block can hold
      continue;
    }
    iopkt_packet_rx_frame in{};
    in.data = base + h.tp_mac;
    in.len = h.tp_snaplen;
    in.tp_status = h.tp_status;
    in.vlan_tci = static_cast<uint16_t>(h.hv1.tp_vlan_tci);
    in.vlan_tpid = static_cast<uint16_t>(h.hv1.tp_vlan_tpid);
    in.mtu = mtu_.load(std::memory_order_relaxed);
    in.linux_mtu = linux_mtu_;
    if (vnet_hdr_ && h.tp_mac >= kVnetHdrLen) {
      // virtio_net_hdr, little-endian (virtio 1.0; Linux vio_le() for
      // packet sockets): flags, gso_type, hdr_len, gso_size, csum_start,
      // csum_offset.
      uint8_t vh[kVnetHdrLen];
      memcpy(vh, base + h.tp_mac - kVnetHdrLen, sizeof vh);
      auto le16 = [&](int at) { return static_cast<uint16_t>(vh[at] | vh[at + 1] << 8); };
      in.has_vnet = 1;
      in.vnet_flags = vh[0];
      in.vnet_gso_type = vh[1];
      in.vnet_hdr_len = le16(2);
      in.vnet_gso_size = le16(4);
      in.vnet_csum_start = le16(6);
      in.vnet_csum_offset = le16(8);
    }
    pending_ = prepare_frame(in, &scratch_);
    if (pending_.plan.drop != RxDrop::kNone) {
      count_drop(pending_.plan.drop);
      continue;
    }
    if (pending_.vlan_restored) {
      bump(c_.rx_vlan_restored);
    }
    if (pending_.plan.kind == RxPlan::Kind::kComplete) {
      bump(c_.rx_csum_completed);
    } else if (pending_.plan.kind == RxPlan::Kind::kSegment) {
      bump(c_.rx_gso_frames);
    }
    pending_next_ = 0;
    pending_active_ = true;
    return true;
  }
}

// After a call that found nothing: a pending socket error (the interface
// went down or away) also makes the socket poll readable; read it so that
// it does not, and tell the stack.
int PacketIf::check_socket_error() {
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e == 0) {
    return 0;
  }
  report_link_state(0);
  ifreq ifr{};
  ifr.ifr_ifindex = ifindex_;
  if (ioctl(fd_, SIOCGIFNAME, &ifr) < 0 && errno == ENODEV) {
    log(IOPKT_LOG_ERR, "packet: Linux interface " + opts_.ifname + " is gone");
    return -ENODEV;
  }
  return 0;
}

int PacketIf::rx_burst(uint32_t q, iopkt_pkt* pkts, uint32_t n) {
  if (q != 0) {
    return -EINVAL;
  }
  uint32_t got = 0;
  while (got < n) {
    if (!pending_active_ && !load_next_frame()) {
      break;
    }
    const RxPlan& plan = pending_.plan;
    while (got < n && pending_next_ < plan.count) {
      iopkt_pkt& p = pkts[got];
      size_t len = drivers::emit_rx_frame(pending_.frame, plan, pending_next_++,
                                          std::span<uint8_t>(p.data, p.cap));
      if (len == 0) {
        bump(c_.rx_over_cap);  // driver.h: dropped, never truncated
        continue;
      }
      p.len = static_cast<uint32_t>(len);
      p.meta = iopkt_pkt_meta{};
      if (plan.csum_ok) {
        p.meta.flags = IOPKT_PKT_CSUM_VALID;
      }
      if (plan.kind == RxPlan::Kind::kSegment) {
        bump(c_.rx_gso_segments);
      }
      bump(c_.rx_frames);
      bump(c_.rx_bytes, len);
      ++got;
    }
    if (pending_next_ >= plan.count) {
      pending_active_ = false;
    }
  }
  if (got > 0) {
    report_link_state(1);  // frames flow: the carrier is back
    bool more = pending_active_ || (cur_ != nullptr && pkts_left_ > 0) ||
                block_ready(cur_ != nullptr ? (block_idx_ + 1) % block_count_ : block_idx_);
    if (got == n && more) {
      // No new wake-up is due for frames already handed over: driver.h.
      kick_rx(0);
    }
    return static_cast<int>(got);
  }
  return check_socket_error();
}

int PacketIf::tx_burst(const iopkt_pkt* pkts, uint32_t n) {
  if (quiesced_.load(std::memory_order_relaxed)) {
    bump(c_.tx_errors, n);
    return static_cast<int>(n);
  }
  static const uint8_t kZeroVnet[kVnetHdrLen] = {};  // no offload asked of the kernel
  uint32_t taken = 0;
  while (taken < n) {
    const uint32_t k = std::min(n - taken, kTxBatch);
    for (uint32_t i = 0; i < k; ++i) {
      const iopkt_pkt& p = pkts[taken + i];
      iovec* iov = &tx_iov_[2 * i];
      int cnt = 0;
      if (vnet_hdr_) {
        iov[cnt++] = iovec{const_cast<uint8_t*>(kZeroVnet), kVnetHdrLen};
      }
      iov[cnt++] = iovec{p.data, p.len};
      tx_msgs_[i] = mmsghdr{};
      tx_msgs_[i].msg_hdr.msg_iov = iov;
      tx_msgs_[i].msg_hdr.msg_iovlen = static_cast<size_t>(cnt);
    }
    int r = sendmmsg(fd_, tx_msgs_, k, MSG_DONTWAIT);
    if (r > 0) {
      for (int i = 0; i < r; ++i) {
        bump(c_.tx_frames);
        bump(c_.tx_bytes, pkts[taken + static_cast<uint32_t>(i)].len);
      }
      taken += static_cast<uint32_t>(r);
      continue;
    }
    const int e = errno;
    if (e == EINTR) {
      continue;
    }
    if (e == EAGAIN || e == EWOULDBLOCK) {
      bump(c_.tx_busy);  // socket buffer full: the rest is not taken
      break;
    }
    if (e == ENOBUFS) {
      // The device's backlog was full and the kernel dropped this frame;
      // the next ones would follow it.
      bump(c_.tx_busy);
      ++taken;
      break;
    }
    if (e == ENETDOWN || e == ENXIO || e == ENODEV) {
      bump(c_.tx_errors, n - taken);  // no carrier: lost, as on an unplugged cable
      taken = n;
      break;
    }
    bump(c_.tx_errors);  // this frame only (EMSGSIZE, EINVAL for a runt)
    ++taken;
  }
  return static_cast<int>(taken);
}

int PacketIf::set_lladdr(const uint8_t* mac) {
  lladdr_differs_ = memcmp(mac, mac_, sizeof mac_) != 0;
  return set_flags(lladdr_differs_ ? IOPKT_IFF_PROMISC : 0);
}

int PacketIf::set_flags(uint32_t flags) {
  const bool want = opts_.promisc || lladdr_differs_ || (flags & IOPKT_IFF_PROMISC) != 0;
  if (want == promisc_on_.load()) {
    return 0;
  }
  int rc = set_membership(PACKET_MR_PROMISC, want);
  if (rc < 0) {
    log(IOPKT_LOG_WARNING, errno_msg("packet: " + opts_.ifname + ": PACKET_MR_PROMISC", -rc));
    return rc;
  }
  promisc_on_.store(want);
  log(IOPKT_LOG_INFO,
      "packet: " + opts_.ifname + (want ? ": promiscuous mode on" : ": promiscuous mode off"));
  return 0;
}

int PacketIf::set_mtu(uint32_t mtu) {
  if (mtu < kMinMtu || mtu > linux_mtu_) {
    log(IOPKT_LOG_WARNING, "packet: mtu " + std::to_string(mtu) + " refused: the Linux interface " +
                               opts_.ifname + " carries " + std::to_string(kMinMtu) + " to " +
                               std::to_string(linux_mtu_) + " (raise its MTU in Linux first)");
    return -EINVAL;
  }
  mtu_.store(mtu, std::memory_order_relaxed);
  return 0;
}

void PacketIf::stats(iopkt_packet_stats* out) {
  using drivers::counter;
  if (fd_ >= 0) {
    // The kernel resets its counters at each read: accumulate them.
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      bump(c_.rx_kernel_drops, st.tp_drops);
    }
  }
  *out = iopkt_packet_stats{};
  out->struct_size = sizeof(iopkt_packet_stats);
  out->ifindex = static_cast<uint32_t>(ifindex_);
  out->linux_mtu = linux_mtu_;
  out->mtu = mtu_.load(std::memory_order_relaxed);
  out->vnet_hdr = vnet_hdr_ ? 1 : 0;
  out->promisc = promisc_on_.load() ? 1 : 0;
  out->block_size = opts_.block_size;
  out->block_count = block_count_;
  out->rx_frames = counter(c_.rx_frames);
  out->rx_bytes = counter(c_.rx_bytes);
  out->rx_ring_frames = counter(c_.rx_ring_frames);
  out->rx_csum_completed = counter(c_.rx_csum_completed);
  out->rx_gso_frames = counter(c_.rx_gso_frames);
  out->rx_gso_segments = counter(c_.rx_gso_segments);
  out->rx_vlan_restored = counter(c_.rx_vlan_restored);
  out->rx_outgoing = counter(c_.rx_outgoing);
  out->rx_too_long = counter(c_.rx_too_long);
  out->rx_truncated = counter(c_.rx_truncated);
  out->rx_gso_unsupported = counter(c_.rx_gso_unsupported);
  out->rx_bad_headers = counter(c_.rx_bad_headers);
  out->rx_csum_unsupported = counter(c_.rx_csum_unsupported);
  out->rx_over_cap = counter(c_.rx_over_cap);
  out->rx_ring_errors = counter(c_.rx_ring_errors);
  out->rx_kernel_drops = counter(c_.rx_kernel_drops);
  out->tx_frames = counter(c_.tx_frames);
  out->tx_bytes = counter(c_.tx_bytes);
  out->tx_errors = counter(c_.tx_errors);
  out->tx_busy = counter(c_.tx_busy);
}

void PacketIf::release() {
  if (ring_ != nullptr) {
    munmap(ring_, ring_len_);
    ring_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);  // drops the PROMISC/ALLMULTI memberships too
    fd_ = -1;
  }
}

constexpr auto kAttach = &drivers::attach_entry<PacketIf, Options, parse_options, kDriverName>;

}  // namespace
}  // namespace iopkt::packet

// --- the C ABI ---------------------------------------------------------------

extern "C" IOPKT_DRIVER_EXPORT int iopkt_packet_get_stats(void* softc,
                                                          struct iopkt_packet_stats* out) {
  return iopkt::drivers::get_softc_stats<iopkt::packet::PacketIf>(softc, out);
}

extern "C" IOPKT_DRIVER_EXPORT int iopkt_packet_finish_frame(const struct iopkt_packet_rx_frame* in,
                                                             struct iopkt_pkt* out, uint32_t n) {
  using iopkt::drivers::RxDrop;
  if (in == nullptr || in->data == nullptr || (out == nullptr && n > 0)) {
    return -EINVAL;
  }
  try {
    std::vector<uint8_t> scratch;
    iopkt::packet::Prepared p = iopkt::packet::prepare_frame(*in, &scratch);
    switch (p.plan.drop) {
      case RxDrop::kNone:
        break;
      case RxDrop::kTooLong:
        return -EMSGSIZE;
      case RxDrop::kBadHeaders:
        return -EPROTO;
      case RxDrop::kGsoUnsupported:
      case RxDrop::kCsumUnsupported:
        return -EOPNOTSUPP;
    }
    if (p.plan.count > n) {
      return -ENOBUFS;
    }
    for (uint32_t i = 0; i < p.plan.count; ++i) {
      size_t len = iopkt::drivers::emit_rx_frame(p.frame, p.plan, i,
                                                 std::span<uint8_t>(out[i].data, out[i].cap));
      if (len == 0) {
        return -ENOBUFS;
      }
      out[i].len = static_cast<uint32_t>(len);
      out[i].meta = iopkt_pkt_meta{};
      out[i].meta.flags = p.plan.csum_ok ? IOPKT_PKT_CSUM_VALID : 0;
    }
    return static_cast<int>(p.plan.count);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
}

extern "C" IOPKT_DRIVER_EXPORT const struct iopkt_driver iopkt_driver_entry = {
    IOPKT_DRIVER_ABI_VERSION,
    iopkt::packet::kDriverName,
    "a Linux Ethernet interface through AF_PACKET with a TPACKET_V3 ring (if=NAME; promisc, "
    "frames=, blocksize=, tov=, novnet)",
    iopkt::packet::kAttach,
};
