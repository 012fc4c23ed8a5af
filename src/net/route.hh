// net/route.hh — IPv4 routing tables (BSD net/route.c with several FIBs, as
// io-pkt's mfib): longest-prefix match over static, connected and default
// routes. One table per FIB; FIB 0 is the default, more are created on
// demand up to kMaxFibs (io-pkt's FIBS_MAX).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kern/result.hh"
#include "netinet/in.hh"

namespace iopkt {

inline constexpr uint32_t kMaxFibs = 16;

// Route flags, BSD values (route(8) prints them as letters).
inline constexpr uint32_t kRtfUp = 0x1;              // U
inline constexpr uint32_t kRtfGateway = 0x2;         // G
inline constexpr uint32_t kRtfHost = 0x4;            // H
inline constexpr uint32_t kRtfReject = 0x8;          // R: answer "unreachable"
inline constexpr uint32_t kRtfStatic = 0x800;        // S: added by a user
inline constexpr uint32_t kRtfBlackhole = 0x1000;    // B: drop silently
inline constexpr uint32_t kRtfConnected = 0x400000;  // C: a subnet of an interface address
inline constexpr uint32_t kRtfLocal = 0x200000;      // l: one of our addresses

struct Rtentry {
  InAddr dst;
  uint8_t prefixlen = 0;
  InAddr gateway;        // with kRtfGateway
  uint32_t ifindex = 0;  // 0: chosen from the gateway when added
  InAddr ifa;            // preferred source; any(): the interface's address
  uint32_t flags = kRtfUp;
  uint32_t mtu = 0;  // 0: the interface's
  uint64_t use = 0;  // lookups that chose this route
};

class RouteTable {
 public:
  // EEXIST when dst/prefixlen is there already.
  Result<void, Errno> add(Rtentry rt);
  // ESRCH when there is no such route.
  Result<void, Errno> remove(InAddr dst, uint8_t prefixlen);
  Result<void, Errno> change(const Rtentry& rt);
  // Longest prefix match; nullptr when nothing matches.
  Rtentry* lookup(InAddr dst);
  const Rtentry* find(InAddr dst, uint8_t prefixlen) const;
  // In order of prefix length, longest first, then address.
  std::vector<Rtentry> list() const;
  // Drop every route through an interface; returns how many.
  size_t remove_interface(uint32_t ifindex);
  size_t size() const;

 private:
  // One hash map per prefix length, keyed by the masked destination.
  std::array<std::unordered_map<uint32_t, Rtentry>, 33> by_len_;
};

struct RouteStat {
  uint64_t lookups = 0;
  uint64_t unreach = 0;  // no route
  uint64_t reject = 0;   // a reject or blackhole route matched
};

struct RoutingState {
  std::array<std::optional<RouteTable>, kMaxFibs> fibs;
  RouteStat stat;
  RouteTable& fib(uint32_t n) {
    if (!fibs[n]) {
      fibs[n].emplace();
    }
    return *fibs[n];
  }
};

}  // namespace iopkt
