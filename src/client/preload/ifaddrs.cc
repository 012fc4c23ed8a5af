// client/preload/ifaddrs.cc — getifaddrs, if_nametoindex, if_indextoname,
// if_nameindex over the stack's interfaces (docs/preload.md). libc answers
// these through netlink or an ioctl on a socket it makes with its internal
// socket(), which no preloaded library can replace: they would describe the
// kernel's interfaces, where the program's sockets are not. Here they are
// built from the lists ifreq.cc asks the stack for (IOPKT_CTL_IF_LIST,
// IOPKT_CTL_IFADDR_LIST), laid out as glibc lays them out, so that a
// program may free them with libc's own functions as well as with these:
//   getifaddrs: one AF_PACKET entry per interface (sockaddr_ll with the
//     MAC, the link statistics in ifa_data) in index order, then one
//     AF_INET entry per address, all in one block (freeifaddrs is free());
//   if_nameindex: an array ended by {0, NULL}, each name its own malloc.
// IPv6 addresses are left out: the stack's IPv6 sockets are not carried
// yet (socket(AF_INET6) is EAFNOSUPPORT), so a program must not pick one.
// An io-pkt under iopkt-run (devnp-packet calls getifaddrs) gets libc's.
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "client/preload/preload.hh"
#include "iopkt/control.h"
#include "iopkt/driver.h"

namespace iopkt::preload {
namespace {

RealFn r_getifaddrs{"getifaddrs"}, r_if_nametoindex{"if_nametoindex"},
    r_if_indextoname{"if_indextoname"}, r_if_nameindex{"if_nameindex"};

// Whether these calls describe the stack (a client under iopkt-run, not
// inside libiopkt) rather than the kernel.
bool use_stack() { return t_inside == 0 && !passthrough(); }

// The stack's interfaces in index order, as Linux lists its links.
bool sorted_ifs(std::vector<iopkt_ctl_if_info>* ifs) {
  if (!list_ifs(nullptr, ifs)) {
    return false;
  }
  std::sort(ifs->begin(), ifs->end(), [](const iopkt_ctl_if_info& a, const iopkt_ctl_if_info& b) {
    return a.index < b.index;
  });
  return true;
}

// One getifaddrs entry with the storage its pointers point into. The first
// entry starts the block, so free() of the list frees all of it, as glibc's
// freeifaddrs does.
union AnyAddr {
  sockaddr sa;
  sockaddr_in in;
  sockaddr_ll ll;
};
struct Entry {
  ifaddrs ifa;
  AnyAddr addr, netmask, ifu;
  char name[IOPKT_CTL_NAME_MAX + 1];
  rtnl_link_stats stats;
};

uint32_t clip32(uint64_t v) { return static_cast<uint32_t>(v); }

void fill_packet(Entry* e, const iopkt_ctl_if_info& i) {
  memcpy(e->name, i.name, strnlen(i.name, IOPKT_CTL_NAME_MAX));
  e->ifa.ifa_name = e->name;
  e->ifa.ifa_flags = linux_flags(i);
  bool loop = (i.flags & IOPKT_IFF_LOOPBACK) != 0;
  bool ether = i.link_type == IOPKT_LINK_ETHER;
  // As Linux: the link address (6 zero bytes on a loopback, none on a
  // raw-IP link such as tun), and the link broadcast address where the
  // link has one (IFLA_BROADCAST).
  sockaddr_ll& ll = e->addr.ll;
  ll.sll_family = AF_PACKET;
  ll.sll_ifindex = static_cast<int>(i.index);
  ll.sll_hatype = ether ? ARPHRD_ETHER : loop ? ARPHRD_LOOPBACK : ARPHRD_NONE;
  ll.sll_halen = ether || loop ? 6 : 0;
  if (ether) {
    memcpy(ll.sll_addr, i.mac, 6);
  }
  e->ifa.ifa_addr = &e->addr.sa;
  if (ether || loop) {
    e->ifu.ll = ll;
    memset(e->ifu.ll.sll_addr, ether ? 0xff : 0, 6);
    e->ifa.ifa_broadaddr = &e->ifu.sa;
  }
  rtnl_link_stats& s = e->stats;
  s.rx_packets = clip32(i.stats.ipackets);
  s.tx_packets = clip32(i.stats.opackets);
  s.rx_bytes = clip32(i.stats.ibytes);
  s.tx_bytes = clip32(i.stats.obytes);
  s.rx_errors = clip32(i.stats.ierrors);
  s.tx_errors = clip32(i.stats.oerrors);
  s.rx_dropped = clip32(i.stats.iqdrops);
  s.tx_dropped = clip32(i.stats.oqdrops);
  s.multicast = clip32(i.stats.imcasts);
  s.collisions = clip32(i.stats.collisions);
  e->ifa.ifa_data = &e->stats;
}

void put_in(AnyAddr* a, const uint8_t* addr4) {
  a->in.sin_family = AF_INET;
  memcpy(&a->in.sin_addr, addr4, 4);
}

void fill_inet(Entry* e, const iopkt_ctl_ifaddr& a, unsigned flags) {
  memcpy(e->name, a.ifname, strnlen(a.ifname, IOPKT_CTL_NAME_MAX));
  e->ifa.ifa_name = e->name;
  e->ifa.ifa_flags = flags;
  put_in(&e->addr, a.addr.addr);
  e->ifa.ifa_addr = &e->addr.sa;
  uint32_t plen = a.prefixlen > 32 ? 32 : a.prefixlen;
  uint32_t mask = plen == 0 ? 0 : ~0u << (32 - plen);
  uint32_t m = htonl(mask);
  put_in(&e->netmask, reinterpret_cast<const uint8_t*>(&m));
  e->ifa.ifa_netmask = &e->netmask.sa;
  // glibc fills ifa_broadaddr/ifa_dstaddr from IFA_BROADCAST, else from
  // IFA_ADDRESS: the peer of a point-to-point link, the address itself
  // otherwise (127.0.0.1 on lo).
  if (a.dst_or_broadcast.family == AF_INET) {
    put_in(&e->ifu, a.dst_or_broadcast.addr);
  } else if ((flags & IFF_BROADCAST) != 0) {
    uint32_t local;
    memcpy(&local, a.addr.addr, 4);
    uint32_t b = local | htonl(~mask);
    put_in(&e->ifu, reinterpret_cast<const uint8_t*>(&b));
  } else {
    put_in(&e->ifu, a.addr.addr);
  }
  e->ifa.ifa_broadaddr = &e->ifu.sa;
}

int stack_getifaddrs(ifaddrs** out) {
  std::vector<iopkt_ctl_if_info> ifs;
  std::vector<iopkt_ctl_ifaddr> addrs;
  if (!sorted_ifs(&ifs) || !list_addrs("", &addrs)) {
    return -1;
  }
  size_t n = ifs.size() + addrs.size();
  if (n == 0) {
    *out = nullptr;
    return 0;
  }
  auto* e = static_cast<Entry*>(calloc(n, sizeof(Entry)));
  if (e == nullptr) {
    errno = ENOMEM;
    return -1;
  }
  size_t k = 0;
  for (const auto& i : ifs) {
    fill_packet(&e[k++], i);
  }
  for (const auto& a : addrs) {
    unsigned flags = 0;
    for (const auto& i : ifs) {
      if (strncmp(i.name, a.ifname, IOPKT_CTL_NAME_MAX) == 0) {
        flags = linux_flags(i);
      }
    }
    fill_inet(&e[k++], a, flags);
  }
  for (size_t j = 0; j + 1 < n; ++j) {
    e[j].ifa.ifa_next = &e[j + 1].ifa;
  }
  *out = &e[0].ifa;
  return 0;
}

// The stack's interface called `name`; 0 with errno ENODEV if none (as
// glibc, also for a name too long to be one).
unsigned stack_nametoindex(const char* name) {
  if (name == nullptr || strnlen(name, IFNAMSIZ) >= IFNAMSIZ) {
    errno = ENODEV;
    return 0;
  }
  std::vector<iopkt_ctl_if_info> ifs;
  if (!list_ifs(name, &ifs)) {
    return 0;
  }
  for (const auto& i : ifs) {
    if (strncmp(i.name, name, IFNAMSIZ) == 0) {
      return i.index;
    }
  }
  errno = ENODEV;
  return 0;
}

char* stack_indextoname(unsigned index, char* buf) {
  std::vector<iopkt_ctl_if_info> ifs;
  if (!list_ifs(nullptr, &ifs)) {
    return nullptr;
  }
  for (const auto& i : ifs) {
    if (i.index == index && strnlen(i.name, IOPKT_CTL_NAME_MAX) < IFNAMSIZ) {
      memset(buf, 0, IFNAMSIZ);
      memcpy(buf, i.name, strnlen(i.name, IFNAMSIZ - 1));
      return buf;
    }
  }
  errno = ENXIO;  // glibc's answer for an index no interface has
  return nullptr;
}

void free_nameindex(struct if_nameindex* v) {
  for (struct if_nameindex* p = v; p->if_index != 0 || p->if_name != nullptr; ++p) {
    free(p->if_name);
  }
  free(v);
}

struct if_nameindex* stack_nameindex() {
  std::vector<iopkt_ctl_if_info> ifs;
  if (!sorted_ifs(&ifs)) {
    return nullptr;
  }
  auto* v = static_cast<struct if_nameindex*>(calloc(ifs.size() + 1, sizeof(struct if_nameindex)));
  if (v == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  size_t k = 0;
  for (const auto& i : ifs) {
    v[k].if_name = strndup(i.name, IOPKT_CTL_NAME_MAX);
    if (v[k].if_name == nullptr) {
      free_nameindex(v);
      errno = ENOMEM;
      return nullptr;
    }
    v[k].if_index = i.index;
    ++k;
  }
  return v;
}

}  // namespace
}  // namespace iopkt::preload

namespace ip = iopkt::preload;

extern "C" {

int getifaddrs(struct ifaddrs** ifap) noexcept {
  if (!ip::use_stack()) {
    return ip::real<decltype(&::getifaddrs)>(ip::r_getifaddrs)(ifap);
  }
  return ip::stack_getifaddrs(ifap);
}

// Both layouts are one block (see the top): libc's freeifaddrs would do
// the same, and a list libc made before this library took over is freed
// right.
void freeifaddrs(struct ifaddrs* ifa) noexcept { free(ifa); }

unsigned int if_nametoindex(const char* name) noexcept {
  if (!ip::use_stack()) {
    return ip::real<decltype(&::if_nametoindex)>(ip::r_if_nametoindex)(name);
  }
  return ip::stack_nametoindex(name);
}

char* if_indextoname(unsigned int index, char* name) noexcept {
  if (!ip::use_stack()) {
    return ip::real<decltype(&::if_indextoname)>(ip::r_if_indextoname)(index, name);
  }
  return ip::stack_indextoname(index, name);
}

struct if_nameindex* if_nameindex(void) noexcept {
  if (!ip::use_stack()) {
    return ip::real<decltype(&::if_nameindex)>(ip::r_if_nameindex)();
  }
  return ip::stack_nameindex();
}

// The same layout as glibc's: either may free the other's array.
void if_freenameindex(struct if_nameindex* ptr) noexcept {
  if (ptr != nullptr) {
    ip::free_nameindex(ptr);
  }
}

}  // extern "C"
