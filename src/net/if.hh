// net/if.hh — network interfaces (BSD ifnet): name, flags, MTU, link-layer
// address, protocol addresses, statistics, and the transmit queue that the
// core fills and the manager (or a test harness) drains into the driver.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "iopkt/driver.h"
#include "kern/mbuf.hh"
#include "netinet/in.hh"

namespace iopkt {

enum class IfType : uint8_t { kLoopback, kEther, kRawIp };

inline constexpr uint32_t kIffUp = IOPKT_IFF_UP;
inline constexpr uint32_t kIffBroadcast = IOPKT_IFF_BROADCAST;
inline constexpr uint32_t kIffLoopback = IOPKT_IFF_LOOPBACK;
inline constexpr uint32_t kIffRunning = IOPKT_IFF_RUNNING;
inline constexpr uint32_t kIffPromisc = IOPKT_IFF_PROMISC;
inline constexpr uint32_t kIffAllmulti = IOPKT_IFF_ALLMULTI;
inline constexpr uint32_t kIffSimplex = IOPKT_IFF_SIMPLEX;
inline constexpr uint32_t kIffMulticast = IOPKT_IFF_MULTICAST;
// Flags a user may change with ifconfig; the others belong to the driver.
inline constexpr uint32_t kIffUserSettable = kIffUp | kIffPromisc | kIffAllmulti;

// An IPv4 address on an interface (BSD in_ifaddr).
struct InIfaddr {
  InAddr addr;
  uint8_t prefixlen = 0;
  InAddr broadcast;  // any() on point-to-point and loopback
  InAddr net() const { return {addr.v & in_prefix_mask(prefixlen)}; }
  bool contains(InAddr a) const { return (a.v & in_prefix_mask(prefixlen)) == net().v; }
};

// An IPv6 address on an interface (BSD in6_ifaddr); configured by ifconfig
// now, used by the IPv6 protocols when they arrive.
struct In6Ifaddr {
  In6Addr addr;
  uint8_t prefixlen = 0;
  uint32_t flags = 0;  // IOPKT_IFA_* of control.h
};

struct IfStats {
  uint64_t ipackets = 0, ierrors = 0, iqdrops = 0, ibytes = 0, imcasts = 0;
  uint64_t opackets = 0, oerrors = 0, oqdrops = 0, obytes = 0, omcasts = 0;
  uint64_t collisions = 0;
  uint64_t noproto = 0;        // received for a protocol this stack does not carry
  uint64_t mcastfiltered = 0;  // to a link-layer group this interface did not join (dropped)
};

class Ifnet {
 public:
  std::string name;    // "lo0", "vw0"
  std::string prefix;  // "lo", "vw"
  int unit = 0;
  uint32_t index = 0;  // 1.., stable while attached
  IfType type = IfType::kEther;
  uint32_t flags = 0;  // kIff*
  uint32_t mtu = 1500;
  uint32_t max_mtu = 1500;
  std::array<uint8_t, 6> lladdr{};
  bool link_up = true;
  uint32_t caps = 0;               // IOPKT_CAP_*
  std::string driver_name;         // module name, "loop" for lo0
  std::vector<InIfaddr> in_addrs;  // first is the primary address
  std::vector<In6Ifaddr> in6_addrs;
  IfStats stats;

  // Frames emitted by the core for the driver, oldest first. Bounded by
  // snd_max: beyond it a frame is dropped and counted in oqdrops.
  std::deque<Mbuf> snd;
  size_t snd_max = 1024;

  // The manager's handle on the driver side of this interface.
  void* driver = nullptr;

  bool is_up() const { return (flags & kIffUp) != 0; }
};

}  // namespace iopkt
