// netinet/in_mcast.cc — IPv4 multicast membership: socket options, source
// filters, the per-interface reception state (RFC 3376 §3), and the
// multicast checks of the input path. See in_mcast.hh.
#include "netinet/in_mcast.hh"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/stack.hh"
#include "net/route.hh"
#include "netinet/igmp.hh"
#include "netinet/ip_var.hh"

namespace iopkt {

bool InFilter::admits(InAddr src) const {
  bool listed = std::binary_search(sources.begin(), sources.end(), src);
  return mode == McastMode::kInclude ? listed : !listed;
}

namespace {

// Option values as Linux lays them out (netinet/in.h): ip_mreq is {group,
// interface address}, ip_mreqn adds an interface index, ip_mreq_source is
// {group, interface address, source}. Read field by field: the control
// protocol hands us bytes with no alignment promise.
constexpr size_t kMreqLen = 8, kMreqnLen = 12, kMreqSourceLen = 12;

InAddr load_in(std::span<const std::byte> v, size_t off) {
  uint32_t be;
  std::memcpy(&be, v.data() + off, sizeof be);
  return InAddr{ntohl(be)};
}

uint32_t load_u32(std::span<const std::byte> v, size_t off) {
  uint32_t x;
  std::memcpy(&x, v.data() + off, sizeof x);
  return x;
}

std::vector<std::byte> int_bytes(int v) {
  std::vector<std::byte> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

// Linux's do_ip_setsockopt reads an int when given one, else a single
// byte (IP_MULTICAST_TTL and _LOOP are often set with an unsigned char).
Result<int, Errno> small_int(std::span<const std::byte> v) {
  if (v.size() >= sizeof(int)) {
    int x;
    std::memcpy(&x, v.data(), sizeof x);
    return x;
  }
  if (v.empty()) {
    return Err(Errno{EINVAL});
  }
  return std::to_integer<int>(v[0]);
}

// ...and answers with a byte when asked for less than an int (ip_getsockopt).
std::vector<std::byte> small_int_bytes(int v, size_t len) {
  if (len > 0 && len < sizeof(int) && v >= 0 && v <= 255) {
    return {std::byte(static_cast<uint8_t>(v))};
  }
  return int_bytes(v);
}

InMcastState& state(Stack& stack) { return stack.ip.mcast; }

// The interface a membership request names: by index, else by address,
// else the route to the group (Linux ip_mc_find_dev). Null: ENODEV.
Ifnet* mcast_request_ifnet(Stack& stack, InAddr group, InAddr ifaddr, uint32_t ifindex) {
  if (ifindex != 0) {
    return stack.if_by_index(ifindex);
  }
  if (!ifaddr.is_any()) {
    return stack.in_local_ifnet(ifaddr);
  }
  auto r = in_mcast_route(stack, group, 0, InAddr::any());
  return r ? r->ifp : nullptr;
}

// Memberships on interfaces that went away (an index is never reused) are
// dropped when next seen, for stacks whose if_detach did not tell us.
void purge_gone(Stack& stack, InpMoptions& imo) {
  std::erase_if(imo.memberships,
                [&](const ImMembership& m) { return stack.if_by_index(m.ifindex) == nullptr; });
}

// RFC 3376 §3.2: the interface state is the merge of every socket's
// filter for the group there — EXCLUDE if any socket excludes, with the
// sources every excluding socket excludes and no including socket
// includes; else INCLUDE with every included source.
std::pair<InFilter, uint32_t> merged_filter(Stack& stack, uint32_t ifindex, InAddr group) {
  uint32_t count = 0, excluders = 0;
  std::map<InAddr, uint32_t> excluded, included;
  for (const auto& [id, imo] : state(stack).sockets) {
    for (const auto& m : imo.memberships) {
      if (m.ifindex != ifindex || m.group != group) {
        continue;
      }
      ++count;
      if (m.filter.mode == McastMode::kExclude) {
        ++excluders;
        for (InAddr s : m.filter.sources) {
          ++excluded[s];
        }
      } else {
        for (InAddr s : m.filter.sources) {
          ++included[s];
        }
      }
    }
  }
  InFilter f;
  if (excluders > 0) {
    f.mode = McastMode::kExclude;
    for (const auto& [s, n] : excluded) {
      if (n == excluders && !included.contains(s)) {
        f.sources.push_back(s);
      }
    }
  } else {
    for (const auto& [s, n] : included) {
      f.sources.push_back(s);
    }
  }
  return {f, count};
}

// Recompute the interface state of (ifindex, group) after a socket's
// membership changed, and let IGMP report the difference.
void mcast_update(Stack& stack, uint32_t ifindex, InAddr group) {
  auto [filter, count] = merged_filter(stack, ifindex, group);
  auto key = std::make_pair(ifindex, group.v);
  auto& groups = state(stack).groups;
  auto it = groups.find(key);
  if (it == groups.end()) {
    if (count == 0) {
      return;
    }
    auto inm = std::make_unique<InMulti>();
    inm->group = group;
    inm->ifindex = ifindex;
    it = groups.emplace(key, std::move(inm)).first;
  }
  InMulti& inm = *it->second;
  inm.refcount = count;
  if (inm.filter == filter) {
    return;
  }
  InFilter old = std::move(inm.filter);
  inm.filter = std::move(filter);
  igmp_change(stack, inm, old);  // may erase the record
}

ImMembership* find_membership(InpMoptions& imo, InAddr group, uint32_t ifindex) {
  for (auto& m : imo.memberships) {
    if (m.group == group && m.ifindex == ifindex) {
      return &m;
    }
  }
  return nullptr;
}

// IP_ADD_MEMBERSHIP and MCAST_JOIN_GROUP: an any-source join, EXCLUDE{}.
Result<void, Errno> mcast_join(Stack& stack, Socket& so, InAddr group, InAddr ifaddr,
                               uint32_t ifindex) {
  if (!group.is_multicast()) {
    return Err(Errno{EINVAL});
  }
  Ifnet* ifp = mcast_request_ifnet(stack, group, ifaddr, ifindex);
  if (ifp == nullptr) {
    return Err(Errno{ENODEV});  // Linux: no interface by that index, address or route
  }
  if ((ifp->flags & kIffMulticast) == 0) {
    return Err(Errno{EADDRNOTAVAIL});  // FreeBSD inp_join_group: not a multicast interface
  }
  InpMoptions& imo = state(stack).sockets[so.id];
  purge_gone(stack, imo);
  if (find_membership(imo, group, ifp->index) != nullptr) {
    return Err(Errno{EADDRINUSE});
  }
  if (imo.memberships.size() >= static_cast<size_t>(state(stack).maxgrppcb)) {
    return Err(Errno{ENOBUFS});
  }
  imo.memberships.push_back(ImMembership{group, ifp->index, InFilter{McastMode::kExclude, {}}});
  mcast_update(stack, ifp->index, group);
  return {};
}

// IP_DROP_MEMBERSHIP and MCAST_LEAVE_GROUP (Linux ip_mc_leave_group): the
// membership on the named interface, or, when none is named, the first
// for the group. Either filter mode: the whole membership goes.
Result<void, Errno> mcast_leave(Stack& stack, Socket& so, InAddr group, InAddr ifaddr,
                                uint32_t ifindex) {
  if (!group.is_multicast()) {
    return Err(Errno{EINVAL});
  }
  auto sit = state(stack).sockets.find(so.id);
  if (sit == state(stack).sockets.end()) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  InpMoptions& imo = sit->second;
  uint32_t want = ifindex;
  if (want == 0 && !ifaddr.is_any()) {
    Ifnet* ifp = stack.in_local_ifnet(ifaddr);
    if (ifp == nullptr) {
      return Err(Errno{EADDRNOTAVAIL});
    }
    want = ifp->index;
  }
  auto it = std::find_if(
      imo.memberships.begin(), imo.memberships.end(),
      [&](const ImMembership& m) { return m.group == group && (want == 0 || m.ifindex == want); });
  if (it == imo.memberships.end()) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  uint32_t idx = it->ifindex;
  imo.memberships.erase(it);
  mcast_update(stack, idx, group);
  return {};
}

// IP_ADD_SOURCE_MEMBERSHIP, IP_DROP_SOURCE_MEMBERSHIP, IP_BLOCK_SOURCE,
// IP_UNBLOCK_SOURCE (RFC 3678 §4.1.3, §4.1.4): change one source of a
// socket's filter. Errors as FreeBSD's inp_block_unblock_source and
// inp_join_group: a source already there, or not there, is
// EADDRNOTAVAIL; the wrong filter mode for the call is EINVAL.
Result<void, Errno> mcast_source(Stack& stack, Socket& so, int name,
                                 std::span<const std::byte> val) {
  if (val.size() != kMreqSourceLen) {
    return Err(Errno{EINVAL});  // Linux: exactly an ip_mreq_source
  }
  InAddr group = load_in(val, 0), ifaddr = load_in(val, 4), source = load_in(val, 8);
  if (!group.is_multicast() || source.is_any() || source.is_multicast() || source.is_broadcast()) {
    return Err(Errno{EINVAL});
  }
  Ifnet* ifp = mcast_request_ifnet(stack, group, ifaddr, 0);
  if (ifp == nullptr) {
    return Err(Errno{ENODEV});
  }
  if ((ifp->flags & kIffMulticast) == 0) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  InpMoptions& imo = state(stack).sockets[so.id];
  purge_gone(stack, imo);
  ImMembership* m = find_membership(imo, group, ifp->index);
  bool include_call = name == IP_ADD_SOURCE_MEMBERSHIP || name == IP_DROP_SOURCE_MEMBERSHIP;
  bool adding = name == IP_ADD_SOURCE_MEMBERSHIP || name == IP_BLOCK_SOURCE;
  if (m == nullptr) {
    if (name != IP_ADD_SOURCE_MEMBERSHIP) {
      return Err(Errno{EADDRNOTAVAIL});  // no membership to change
    }
    if (imo.memberships.size() >= static_cast<size_t>(state(stack).maxgrppcb)) {
      return Err(Errno{ENOBUFS});
    }
    imo.memberships.push_back(ImMembership{group, ifp->index, InFilter{McastMode::kInclude, {}}});
    m = &imo.memberships.back();
  }
  McastMode want = include_call ? McastMode::kInclude : McastMode::kExclude;
  if (m->filter.mode != want) {
    return Err(Errno{EINVAL});  // e.g. blocking a source of an INCLUDE membership
  }
  auto& src = m->filter.sources;
  auto at = std::lower_bound(src.begin(), src.end(), source);
  bool present = at != src.end() && *at == source;
  if (adding == present) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  if (adding) {
    if (src.size() >= static_cast<size_t>(state(stack).maxsocksrc)) {
      return Err(Errno{ENOBUFS});
    }
    src.insert(at, source);
  } else {
    src.erase(at);
    if (want == McastMode::kInclude && src.empty()) {
      // The last source of an INCLUDE filter: the membership ends (Linux
      // ip_mc_source leaves the group; INCLUDE{} means "not a member").
      std::erase_if(imo.memberships, [&](const ImMembership& x) {
        return x.group == group && x.ifindex == ifp->index;
      });
    }
  }
  mcast_update(stack, ifp->index, group);
  return {};
}

// IP_MULTICAST_IF (Linux do_ip_setsockopt): an ip_mreqn, an ip_mreq whose
// second field is the interface address, or a bare address. INADDR_ANY
// with no index returns to choosing by route.
Result<void, Errno> mcast_set_if(Stack& stack, Socket& so, std::span<const std::byte> val) {
  InAddr addr;
  uint32_t index = 0;
  if (val.size() >= kMreqnLen) {
    addr = load_in(val, 4);
    index = load_u32(val, 8);
  } else if (val.size() >= kMreqLen) {
    addr = load_in(val, 4);
  } else if (val.size() >= sizeof(uint32_t)) {
    addr = load_in(val, 0);
  } else {
    return Err(Errno{EINVAL});
  }
  InpMoptions& imo = state(stack).sockets[so.id];
  if (index == 0 && addr.is_any()) {
    imo.if_index = 0;
    imo.if_addr = InAddr::any();
    return {};
  }
  Ifnet* ifp = index != 0 ? stack.if_by_index(index) : stack.in_local_ifnet(addr);
  if (ifp == nullptr) {
    return Err(Errno{EADDRNOTAVAIL});
  }
  imo.if_index = ifp->index;
  imo.if_addr = addr;
  return {};
}

bool is_membership_option(int name) {
  return name != IP_MULTICAST_IF && name != IP_MULTICAST_TTL && name != IP_MULTICAST_LOOP &&
         name != IP_MULTICAST_ALL;
}

}  // namespace

bool in_mcast_is_option(int name) {
  switch (name) {
    case IP_MULTICAST_IF:
    case IP_MULTICAST_TTL:
    case IP_MULTICAST_LOOP:
    case IP_MULTICAST_ALL:
    case IP_ADD_MEMBERSHIP:
    case IP_DROP_MEMBERSHIP:
    case IP_ADD_SOURCE_MEMBERSHIP:
    case IP_DROP_SOURCE_MEMBERSHIP:
    case IP_BLOCK_SOURCE:
    case IP_UNBLOCK_SOURCE:
    case IP_MSFILTER:
    case MCAST_JOIN_GROUP:
    case MCAST_LEAVE_GROUP:
    case MCAST_JOIN_SOURCE_GROUP:
    case MCAST_LEAVE_SOURCE_GROUP:
    case MCAST_BLOCK_SOURCE:
    case MCAST_UNBLOCK_SOURCE:
    case MCAST_MSFILTER:
      return true;
    default:
      return false;
  }
}

Result<void, Errno> in_mcast_setsockopt(Stack& stack, Socket& so, int name,
                                        std::span<const std::byte> val) {
  if (so.type == SOCK_STREAM && is_membership_option(name)) {
    return Err(Errno{EPROTO});  // Linux: no groups on a connection (is_icsk)
  }
  switch (name) {
    case IP_MULTICAST_IF:
      return mcast_set_if(stack, so, val);
    case IP_MULTICAST_TTL: {
      auto v = small_int(val);
      if (!v) {
        return Err(v.error());
      }
      int ttl = *v == -1 ? 1 : *v;  // -1: the default (Linux)
      if (ttl < 0 || ttl > 255) {
        return Err(Errno{EINVAL});
      }
      state(stack).sockets[so.id].ttl = static_cast<uint8_t>(ttl);
      return {};
    }
    case IP_MULTICAST_LOOP: {
      auto v = small_int(val);
      if (!v) {
        return Err(v.error());
      }
      state(stack).sockets[so.id].loop = *v != 0;
      return {};
    }
    case IP_MULTICAST_ALL: {
      auto v = small_int(val);
      if (!v) {
        return Err(v.error());
      }
      if (*v != 0 && *v != 1) {
        return Err(Errno{EINVAL});
      }
      state(stack).sockets[so.id].all = *v != 0;
      return {};
    }
    case IP_ADD_MEMBERSHIP:
    case IP_DROP_MEMBERSHIP: {
      if (val.size() < kMreqLen) {
        return Err(Errno{EINVAL});
      }
      InAddr group = load_in(val, 0), ifaddr = load_in(val, 4);
      uint32_t index = val.size() >= kMreqnLen ? load_u32(val, 8) : 0;
      return name == IP_ADD_MEMBERSHIP ? mcast_join(stack, so, group, ifaddr, index)
                                       : mcast_leave(stack, so, group, ifaddr, index);
    }
    case IP_ADD_SOURCE_MEMBERSHIP:
    case IP_DROP_SOURCE_MEMBERSHIP:
    case IP_BLOCK_SOURCE:
    case IP_UNBLOCK_SOURCE:
      return mcast_source(stack, so, name, val);
    case MCAST_JOIN_GROUP:
    case MCAST_LEAVE_GROUP: {
      // struct group_req (RFC 3678 §5.1): an interface index, then a
      // sockaddr_storage at offset 8 on LP64.
      constexpr size_t kSsOff = 8, kSinAddrOff = kSsOff + 4;
      if (val.size() < kSsOff + sizeof(sockaddr_in)) {
        return Err(Errno{EINVAL});
      }
      uint16_t family;
      std::memcpy(&family, val.data() + kSsOff, sizeof family);
      if (family != AF_INET) {
        return Err(Errno{EINVAL});
      }
      uint32_t index = load_u32(val, 0);
      InAddr group = load_in(val, kSinAddrOff);
      return name == MCAST_JOIN_GROUP ? mcast_join(stack, so, group, InAddr::any(), index)
                                      : mcast_leave(stack, so, group, InAddr::any(), index);
    }
    default:
      // IP_MSFILTER and the MCAST_*SOURCE* forms: their structures
      // (group_source_req is 264 bytes) do not fit the control protocol's
      // 256-byte option; the IP_*_SOURCE options above do the same.
      return Err(Errno{ENOPROTOOPT});
  }
}

Result<std::vector<std::byte>, Errno> in_mcast_getsockopt(Stack& stack, const Socket& so, int name,
                                                          size_t len) {
  InpMoptions defaults;
  auto it = state(stack).sockets.find(so.id);
  const InpMoptions& imo = it == state(stack).sockets.end() ? defaults : it->second;
  switch (name) {
    case IP_MULTICAST_IF: {
      std::vector<std::byte> out(sizeof(uint32_t));
      uint32_t be = htonl(imo.if_addr.v);
      std::memcpy(out.data(), &be, sizeof be);
      return out;
    }
    case IP_MULTICAST_TTL:
      return small_int_bytes(imo.ttl, len);
    case IP_MULTICAST_LOOP:
      return small_int_bytes(imo.loop ? 1 : 0, len);
    case IP_MULTICAST_ALL:
      return small_int_bytes(imo.all ? 1 : 0, len);
    default:
      return Err(Errno{ENOPROTOOPT});  // the membership options are set-only
  }
}

void in_mcast_sofree(Stack& stack, const Socket& so) {
  auto it = state(stack).sockets.find(so.id);
  if (it == state(stack).sockets.end()) {
    return;
  }
  std::vector<ImMembership> gone = std::move(it->second.memberships);
  state(stack).sockets.erase(it);
  for (const auto& m : gone) {
    mcast_update(stack, m.ifindex, m.group);
  }
}

void in_mcast_ifdetach(Stack& stack, uint32_t ifindex) {
  for (auto& [id, imo] : state(stack).sockets) {
    std::erase_if(imo.memberships, [&](const ImMembership& m) { return m.ifindex == ifindex; });
    if (imo.if_index == ifindex) {
      imo.if_index = 0;  // Linux keeps a stale index and fails sends; choosing by route is kinder
      imo.if_addr = InAddr::any();
    }
  }
  // No reports: the interface is gone.
  std::erase_if(state(stack).groups, [&](const auto& g) { return g.first.first == ifindex; });
  igmp_ifdetach(stack, ifindex);
}

InMcastSend in_mcast_send_options(Stack& stack, const Socket& so) {
  auto it = state(stack).sockets.find(so.id);
  if (it == state(stack).sockets.end()) {
    return InMcastSend{};
  }
  const InpMoptions& imo = it->second;
  return InMcastSend{imo.if_index, imo.if_addr, imo.ttl, imo.loop};
}

Result<void, Errno> in_mcast_send_route(Stack& stack, const Socket& so, uint32_t ifindex,
                                        bool ttl_given, IpOutputArgs& args, IpRoute& route) {
  InMcastSend mo = in_mcast_send_options(stack, so);
  uint32_t oif = ifindex != 0 ? ifindex : mo.ifindex;
  InAddr saddr = args.src.is_any() ? mo.if_addr : args.src;
  auto r = in_mcast_route(stack, args.dst, oif, saddr, args.fib);
  if (!r) {
    ++stack.ip.stat.noroute;  // counted as ip_output would
    return Err(Errno{ip_output_errno(r.error())});
  }
  route = *r;
  args.route = &route;
  if (args.src.is_any()) {
    args.src = route.src;
  }
  if (!ttl_given) {
    args.ttl = mo.ttl;
  }
  args.mcast_loop = mo.loop;
  args.mcast_ifindex = route.ifp != nullptr ? route.ifp->index : 0;
  return {};
}

InMulti* in_mcast_find(Stack& stack, uint32_t ifindex, InAddr group) {
  auto it = state(stack).groups.find(std::make_pair(ifindex, group.v));
  return it == state(stack).groups.end() ? nullptr : it->second.get();
}

bool in_mcast_accepts(Stack& stack, const Ifnet& ifp, InAddr group, InAddr src, bool igmp) {
  if (group == kInAllHostsGroup) {
    return true;
  }
  const InMulti* inm = in_mcast_find(stack, ifp.index, group);
  return inm != nullptr && inm->refcount > 0 && (igmp || inm->filter.admits(src));
}

bool in_mcast_socket_accepts(Stack& stack, const Socket& so, InAddr group, InAddr src,
                             uint32_t ifindex) {
  auto it = state(stack).sockets.find(so.id);
  if (it == state(stack).sockets.end()) {
    return true;  // IP_MULTICAST_ALL's default, no membership of its own
  }
  for (const auto& m : it->second.memberships) {
    if (m.group == group && m.ifindex == ifindex) {
      return m.filter.admits(src);
    }
  }
  return it->second.all;
}

bool ether_mcast_accepts(Stack& stack, const Ifnet& ifp, std::span<const std::byte> mac) {
  if ((ifp.flags & (kIffPromisc | kIffAllmulti)) != 0) {
    return true;
  }
  auto b = [&](size_t i) { return std::to_integer<uint32_t>(mac[i]); };
  if (b(0) != 0x01 || b(1) != 0x00 || b(2) != 0x5e || (b(3) & 0x80) != 0) {
    // Not an IPv4 group address (RFC 1112 §6.4). IPv6 (33:33:..., RFC
    // 2464 §7) adds its groups here with MLD.
    return false;
  }
  uint32_t low23 = (b(3) << 16) | (b(4) << 8) | b(5);
  if (low23 == (kInAllHostsGroup.v & 0x7fffff)) {
    return true;
  }
  // Several groups share a MAC (32 to one): the IP layer sorts them out.
  auto& groups = state(stack).groups;
  for (auto it = groups.lower_bound(std::make_pair(ifp.index, 0u));
       it != groups.end() && it->first.first == ifp.index; ++it) {
    if (it->second->refcount > 0 && (it->second->group.v & 0x7fffff) == low23) {
      return true;
    }
  }
  return false;
}

Result<IpRoute, IpOutputError> in_mcast_route(Stack& stack, InAddr group, uint32_t ifindex,
                                              InAddr ifaddr, uint32_t fib) {
  Ifnet* ifp = nullptr;
  if (ifindex != 0) {
    ifp = stack.if_by_index(ifindex);
  } else if (!ifaddr.is_any()) {
    ifp = stack.in_local_ifnet(ifaddr);
  } else {
    // The route to the group, as Linux chooses when nothing is set; FIB 0
    // rarely holds 224/4, so this is usually the default route.
    Rtentry* rt = fib < kMaxFibs ? stack.rt.fib(fib).lookup(group) : nullptr;
    if (rt != nullptr) {
      if (rt->flags & kRtfReject) {
        return Err(IpOutputError::kHostUnreach);
      }
      if (rt->flags & kRtfBlackhole) {
        return IpRoute{nullptr, InAddr::any(), group, 0, true};
      }
      ifp = stack.if_by_index(rt->ifindex);
    }
    if (ifp == nullptr || !ifp->is_up()) {
      ifp = nullptr;
      // No route: the first multicast interface that is up, lo0 last.
      for (const auto& i : stack.interfaces()) {
        if (i->is_up() && (i->flags & kIffMulticast) && i->type != IfType::kLoopback) {
          ifp = i.get();
          break;
        }
      }
      if (ifp == nullptr && stack.loopback().is_up()) {
        ifp = &stack.loopback();
      }
    }
  }
  if (ifp == nullptr || !ifp->is_up() || (ifp->flags & kIffMulticast) == 0) {
    return Err(IpOutputError::kNoRoute);
  }
  InAddr src = ifp->in_addrs.empty() ? InAddr::any() : ifp->in_addrs.front().addr;
  if (!ifaddr.is_any() && stack.in_local_ifnet(ifaddr) == ifp) {
    src = ifaddr;
  }
  return IpRoute{ifp, src, group, ifp->mtu, false};
}

void in_mcast_register_sysctls(Stack& stack) {
  SysctlTree& t = stack.sysctl();
  if (t.get("net.inet.ip.mcast.maxgrppcb")) {
    return;  // registered already
  }
  (void)t.add_int("net.inet.ip.mcast.maxgrppcb", &state(stack).maxgrppcb, 1, 65535,
                  "multicast memberships per socket (beyond: ENOBUFS)", true);
  (void)t.add_int("net.inet.ip.mcast.maxsocksrc", &state(stack).maxsocksrc, 1, 1024,
                  "sources per socket membership filter, RFC 3678 (beyond: ENOBUFS)", true);
  (void)t.add_int("net.inet.igmp.version", &stack.ip.igmp.version, 1, 3,
                  "highest IGMP version spoken (RFC 3376 §7: older when an older querier is heard)",
                  true);
  for (const auto& c : igmpstat_fields()) {
    auto field = c.field;
    (void)t.add_readonly(
        std::string("net.inet.igmp.stats.") + c.name, SysctlType::kInt,
        [&stack, field] { return std::to_string(stack.ip.igmp.stat.*field); }, "IGMP counter");
  }
  (void)t.add_int("net.inet.udp.reuseport_unicast", &stack.udp.reuseport_unicast, 0, 1,
                  "with SO_REUSEPORT, deliver unicast UDP to every socket on the port "
                  "(tcpip reuseport_unicast)",
                  true);
}

}  // namespace iopkt
