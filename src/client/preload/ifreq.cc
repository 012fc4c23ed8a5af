// client/preload/ifreq.cc — SIOCGIF* ioctls on a stack socket, answered
// from the stack's interfaces (IOPKT_CTL_IF_LIST, IOPKT_CTL_IFADDR_LIST)
// with Linux's structures and flag values. Without this the channel, an
// AF_UNIX socket, would answer them with the kernel's interfaces; and the
// SIOCSIF* requests would change the host's, so they are refused here
// (ifconfig of iopkt changes the stack's).
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "client/preload/preload.hh"
#include "iopkt/control.h"
#include "iopkt/driver.h"
#include "iopkt/iopkt.h"

namespace iopkt::preload {

// The stack's interfaces (all, or the one named), page by page. ENODEV for
// a name the stack does not know, as Linux.
bool list_ifs(const char* name, std::vector<iopkt_ctl_if_info>* out) {
  Inside in;
  iopkt_ctl_list req{};
  if (name != nullptr) {
    strncpy(req.name, name, IFNAMSIZ);
  }
  for (int page = 0; page < 1024; ++page) {
    iopkt_ctl_if_list_reply r{};
    uint32_t rlen = sizeof r;
    if (iopkt_request(IOPKT_CTL_IF_LIST, &req, sizeof req, -1, &r, &rlen, nullptr) != 0) {
      if (errno == ENXIO) {
        errno = ENODEV;
      }
      return false;
    }
    for (uint32_t i = 0; i < r.count && i < IOPKT_CTL_IF_LIST_MAX; ++i) {
      out->push_back(r.ifs[i]);
    }
    if (r.next_cursor == 0) {
      return true;
    }
    req.cursor = r.next_cursor;
  }
  return true;
}

// The IPv4 addresses of interface `name` ("" = all).
bool list_addrs(const char* name, std::vector<iopkt_ctl_ifaddr>* out) {
  Inside in;
  iopkt_ctl_list req{};
  strncpy(req.name, name, IFNAMSIZ);
  for (int page = 0; page < 1024; ++page) {
    iopkt_ctl_ifaddr_list_reply r{};
    uint32_t rlen = sizeof r;
    if (iopkt_request(IOPKT_CTL_IFADDR_LIST, &req, sizeof req, -1, &r, &rlen, nullptr) != 0) {
      if (errno == ENXIO) {
        errno = ENODEV;
      }
      return false;
    }
    for (uint32_t i = 0; i < r.count && i < IOPKT_CTL_IFADDR_LIST_MAX; ++i) {
      if (r.addrs[i].addr.family == AF_INET) {
        out->push_back(r.addrs[i]);
      }
    }
    if (r.next_cursor == 0) {
      return true;
    }
    req.cursor = r.next_cursor;
  }
  return true;
}

// IOPKT_IFF_* (BSD values) as Linux's IFF_*, IFF_LOWER_UP included (the
// carrier; SIOCGIFFLAGS's short drops it, as Linux's does). <net/if.h> has
// no IFF_LOWER_UP and cannot be used with <linux/if.h>, which has.
unsigned linux_flags(const iopkt_ctl_if_info& i) {
  constexpr unsigned kIffLowerUp = 1u << 16;
  unsigned f = 0;
  bool up = (i.flags & IOPKT_IFF_UP) != 0;
  bool carrier = i.link_up != 0 || (i.flags & (IOPKT_IFF_LOOPBACK | IOPKT_IFF_RUNNING)) != 0;
  f |= up ? IFF_UP : 0;
  f |= (i.flags & IOPKT_IFF_BROADCAST) != 0 ? IFF_BROADCAST : 0;
  f |= (i.flags & IOPKT_IFF_LOOPBACK) != 0 ? IFF_LOOPBACK : 0;
  f |= (i.flags & IOPKT_IFF_POINTOPOINT) != 0 ? IFF_POINTOPOINT : 0;
  f |= ((i.flags & IOPKT_IFF_RUNNING) != 0 || (up && i.link_up != 0)) ? IFF_RUNNING : 0;
  f |= (i.flags & IOPKT_IFF_NOARP) != 0 ? IFF_NOARP : 0;
  f |= (i.flags & IOPKT_IFF_PROMISC) != 0 ? IFF_PROMISC : 0;
  f |= (i.flags & IOPKT_IFF_ALLMULTI) != 0 ? IFF_ALLMULTI : 0;
  f |= (i.flags & IOPKT_IFF_MULTICAST) != 0 ? IFF_MULTICAST : 0;
  f |= up && carrier ? kIffLowerUp : 0;
  return f;
}

namespace {

void put_in(sockaddr* sa, const uint8_t* addr4) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  memcpy(&sin.sin_addr, addr4, 4);
  memcpy(sa, &sin, sizeof sin);
}

void put_mask(sockaddr* sa, uint32_t prefixlen) {
  uint32_t m = prefixlen == 0 ? 0 : htonl(~0u << (32 - (prefixlen > 32 ? 32 : prefixlen)));
  uint8_t b[4];
  memcpy(b, &m, 4);
  put_in(sa, b);
}

int fail(int err) {
  errno = err;
  return -1;
}

int ifconf_request(ifconf* ifc) {
  std::vector<iopkt_ctl_ifaddr> addrs;
  if (!list_addrs("", &addrs)) {
    return -1;
  }
  // As Linux: one ifreq per IPv4 address; with no buffer, the size needed.
  if (ifc->ifc_buf == nullptr) {
    ifc->ifc_len = static_cast<int>(addrs.size() * sizeof(ifreq));
    return 0;
  }
  int used = 0;
  for (const auto& a : addrs) {
    if (ifc->ifc_len - used < static_cast<int>(sizeof(ifreq))) {
      break;
    }
    ifreq r{};
    memcpy(r.ifr_name, a.ifname, strnlen(a.ifname, IFNAMSIZ - 1));
    put_in(&r.ifr_addr, a.addr.addr);
    memcpy(ifc->ifc_buf + used, &r, sizeof r);
    used += static_cast<int>(sizeof r);
  }
  ifc->ifc_len = used;
  return 0;
}

int ifreq_request(unsigned long request, ifreq* r) {
  if (request == SIOCGIFNAME) {
    std::vector<iopkt_ctl_if_info> ifs;
    if (!list_ifs(nullptr, &ifs)) {
      return -1;
    }
    for (const auto& i : ifs) {
      if (static_cast<int>(i.index) == r->ifr_ifindex) {
        memset(r->ifr_name, 0, IFNAMSIZ);
        memcpy(r->ifr_name, i.name, strnlen(i.name, IFNAMSIZ - 1));
        return 0;
      }
    }
    return fail(ENODEV);
  }
  char name[IFNAMSIZ + 1] = {};
  memcpy(name, r->ifr_name, IFNAMSIZ);
  std::vector<iopkt_ctl_if_info> ifs;
  if (!list_ifs(name, &ifs)) {
    return -1;
  }
  const iopkt_ctl_if_info* info = nullptr;
  for (const auto& i : ifs) {
    if (strncmp(i.name, name, IFNAMSIZ) == 0) {
      info = &i;
    }
  }
  if (info == nullptr) {
    return fail(ENODEV);
  }
  switch (request) {
    case SIOCGIFFLAGS:
      r->ifr_flags = static_cast<short>(linux_flags(*info));
      return 0;
    case SIOCGIFMTU:
      r->ifr_mtu = static_cast<int>(info->mtu);
      return 0;
    case SIOCGIFINDEX:
      r->ifr_ifindex = static_cast<int>(info->index);
      return 0;
    case SIOCGIFHWADDR:
      memset(&r->ifr_hwaddr, 0, sizeof r->ifr_hwaddr);
      r->ifr_hwaddr.sa_family = info->link_type == IOPKT_LINK_ETHER       ? ARPHRD_ETHER
                                : (info->flags & IOPKT_IFF_LOOPBACK) != 0 ? ARPHRD_LOOPBACK
                                                                          : ARPHRD_NONE;
      if (info->link_type == IOPKT_LINK_ETHER) {
        memcpy(r->ifr_hwaddr.sa_data, info->mac, 6);
      }
      return 0;
    default:
      break;
  }
  std::vector<iopkt_ctl_ifaddr> addrs;
  if (!list_addrs(name, &addrs)) {
    return -1;
  }
  if (addrs.empty()) {
    return fail(EADDRNOTAVAIL);  // as Linux for an interface with no IPv4 address
  }
  const iopkt_ctl_ifaddr& a = addrs.front();
  switch (request) {
    case SIOCGIFADDR:
      put_in(&r->ifr_addr, a.addr.addr);
      return 0;
    case SIOCGIFNETMASK:
      put_mask(&r->ifr_netmask, a.prefixlen);
      return 0;
    case SIOCGIFBRDADDR:
    case SIOCGIFDSTADDR: {
      uint8_t zero[4] = {};
      const uint8_t* v = a.dst_or_broadcast.family == AF_INET ? a.dst_or_broadcast.addr : zero;
      put_in(request == SIOCGIFBRDADDR ? &r->ifr_broadaddr : &r->ifr_dstaddr, v);
      return 0;
    }
    default:
      return fail(EINVAL);
  }
}

}  // namespace

bool interface_ioctl(int /*fd*/, unsigned long request, void* arg, int* result) {
  // 0x8910..0x89ff: the kernel's interface, routing and ARP requests on a
  // socket (SIOCGIFNAME .. SIOCDEVPRIVATE+15).
  if (request < 0x8910 || request > 0x89ff) {
    return false;
  }
  if (arg == nullptr) {
    *result = fail(EFAULT);
    return true;
  }
  switch (request) {
    case SIOCGIFCONF:
      *result = ifconf_request(static_cast<ifconf*>(arg));
      return true;
    case SIOCGIFNAME:
    case SIOCGIFFLAGS:
    case SIOCGIFMTU:
    case SIOCGIFINDEX:
    case SIOCGIFHWADDR:
    case SIOCGIFADDR:
    case SIOCGIFNETMASK:
    case SIOCGIFBRDADDR:
    case SIOCGIFDSTADDR:
      *result = ifreq_request(request, static_cast<ifreq*>(arg));
      return true;
    default:
      // Changes (SIOCSIF*, routes, ARP) go through the stack's own
      // utilities; the rest is not carried yet.
      *result = fail(EOPNOTSUPP);
      return true;
  }
}

}  // namespace iopkt::preload
