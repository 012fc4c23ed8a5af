// net/route.cc — see route.hh.
#include "net/route.hh"

#include <algorithm>
#include <cerrno>

namespace iopkt {

namespace {
uint32_t key_of(InAddr dst, uint8_t len) { return dst.v & in_prefix_mask(len); }
}  // namespace

Result<void, Errno> RouteTable::add(Rtentry rt) {
  if (rt.prefixlen > 32) {
    return Err(Errno{EINVAL});
  }
  rt.dst.v = key_of(rt.dst, rt.prefixlen);
  if (rt.prefixlen == 32) {
    rt.flags |= kRtfHost;
  }
  auto [it, inserted] = by_len_[rt.prefixlen].try_emplace(rt.dst.v, rt);
  if (!inserted) {
    return Err(Errno{EEXIST});
  }
  return {};
}

Result<void, Errno> RouteTable::remove(InAddr dst, uint8_t prefixlen) {
  if (prefixlen > 32 || by_len_[prefixlen].erase(key_of(dst, prefixlen)) == 0) {
    return Err(Errno{ESRCH});
  }
  return {};
}

Result<void, Errno> RouteTable::change(const Rtentry& rt) {
  if (rt.prefixlen > 32) {
    return Err(Errno{EINVAL});
  }
  auto it = by_len_[rt.prefixlen].find(key_of(rt.dst, rt.prefixlen));
  if (it == by_len_[rt.prefixlen].end()) {
    return Err(Errno{ESRCH});
  }
  uint64_t use = it->second.use;
  it->second = rt;
  it->second.dst.v = key_of(rt.dst, rt.prefixlen);
  it->second.use = use;
  return {};
}

Rtentry* RouteTable::lookup(InAddr dst) {
  for (int len = 32; len >= 0; --len) {
    auto& m = by_len_[len];
    if (m.empty()) {
      continue;
    }
    auto it = m.find(key_of(dst, static_cast<uint8_t>(len)));
    if (it != m.end()) {
      return &it->second;
    }
  }
  return nullptr;
}

const Rtentry* RouteTable::find(InAddr dst, uint8_t prefixlen) const {
  if (prefixlen > 32) {
    return nullptr;
  }
  auto it = by_len_[prefixlen].find(key_of(dst, prefixlen));
  return it == by_len_[prefixlen].end() ? nullptr : &it->second;
}

std::vector<Rtentry> RouteTable::list() const {
  std::vector<Rtentry> out;
  for (int len = 32; len >= 0; --len) {
    size_t first = out.size();
    for (const auto& [k, rt] : by_len_[len]) {
      out.push_back(rt);
    }
    std::sort(out.begin() + static_cast<long>(first), out.end(),
              [](const Rtentry& a, const Rtentry& b) { return a.dst < b.dst; });
  }
  return out;
}

size_t RouteTable::remove_interface(uint32_t ifindex) {
  size_t n = 0;
  for (auto& m : by_len_) {
    n += std::erase_if(m, [&](const auto& kv) { return kv.second.ifindex == ifindex; });
  }
  return n;
}

size_t RouteTable::size() const {
  size_t n = 0;
  for (const auto& m : by_len_) {
    n += m.size();
  }
  return n;
}

}  // namespace iopkt
