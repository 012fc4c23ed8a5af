// kern/sysctl.cc — the sysctl tree (NetBSD sysctl(9)): a flat, sorted map
// of dotted names to nodes. Integers travel as decimal text; the tree parses
// and range-checks a write before the node's setter sees it, so setters only
// store (NetBSD's sysctl_lookup does the same range check for CTLTYPE_INT
// nodes with a helper).
#include "kern/sysctl.hh"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>

namespace iopkt {
namespace {

bool name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Components [A-Za-z0-9_-]+ separated by single dots.
bool valid_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  bool component_empty = true;
  for (char c : name) {
    if (c == '.') {
      if (component_empty) {
        return false;
      }
      component_empty = true;
    } else if (name_char_ok(c)) {
      component_empty = false;
    } else {
      return false;
    }
  }
  return !component_empty;
}

// `name` is `prefix` or below it. A prefix ending in '.' matches only below.
bool under_prefix(std::string_view name, std::string_view prefix) {
  if (prefix.empty()) {
    return true;
  }
  if (!name.starts_with(prefix)) {
    return false;
  }
  if (prefix.back() == '.' || name.size() == prefix.size()) {
    return true;
  }
  return name[prefix.size()] == '.';
}

}  // namespace

// Decimal with an optional sign, or hexadecimal after "0x"/"0X"; the whole
// text must be the number (no blanks), and it must fit in int64_t.
Result<int64_t, Errno> sysctl_parse_int(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty() || text.front() == '-' || text.front() == '+') {
    return Err(Errno{EINVAL});
  }
  uint64_t magnitude = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), magnitude, base);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return Err(Errno{EINVAL});
  }
  constexpr uint64_t kMaxPos = std::numeric_limits<int64_t>::max();
  if (negative) {
    if (magnitude > kMaxPos + 1) {
      return Err(Errno{EINVAL});
    }
    // -(2^63) has no positive counterpart; go through unsigned arithmetic.
    return static_cast<int64_t>(0 - magnitude);
  }
  if (magnitude > kMaxPos) {
    return Err(Errno{EINVAL});
  }
  return static_cast<int64_t>(magnitude);
}

Result<void, Errno> SysctlTree::add(SysctlNode node) {
  if (!valid_name(node.name) || !node.get || (node.writable && !node.set) ||
      (node.type == SysctlType::kInt && node.min > node.max)) {
    return Err(Errno{EINVAL});
  }
  if (nodes_.contains(node.name)) {
    return Err(Errno{EEXIST});
  }
  std::string key = node.name;
  nodes_.emplace(std::move(key), std::move(node));
  return {};
}

namespace {

template <typename T>
SysctlNode int_node(std::string name, T* var, int64_t min, int64_t max, std::string description,
                    bool writable) {
  SysctlNode n;
  n.name = std::move(name);
  n.type = SysctlType::kInt;
  n.description = std::move(description);
  n.writable = writable;
  // The range can never exceed what the variable holds.
  n.min = std::max<int64_t>(min, std::numeric_limits<T>::min());
  n.max = std::min<int64_t>(max, std::numeric_limits<T>::max());
  n.get = [var] { return std::to_string(*var); };
  if (writable) {
    n.set = [var](std::string_view text) -> Result<void, Errno> {
      auto v = sysctl_parse_int(text);
      if (!v) {
        return Err(v.error());
      }
      *var = static_cast<T>(*v);  // in range: checked by SysctlTree::set
      return {};
    };
  }
  return n;
}

}  // namespace

Result<void, Errno> SysctlTree::add_int(std::string name, int64_t* var, int64_t min, int64_t max,
                                        std::string description, bool writable) {
  if (var == nullptr) {
    return Err(Errno{EINVAL});
  }
  return add(int_node(std::move(name), var, min, max, std::move(description), writable));
}

Result<void, Errno> SysctlTree::add_int(std::string name, int32_t* var, int64_t min, int64_t max,
                                        std::string description, bool writable) {
  if (var == nullptr) {
    return Err(Errno{EINVAL});
  }
  return add(int_node(std::move(name), var, min, max, std::move(description), writable));
}

Result<void, Errno> SysctlTree::add_string(std::string name, std::string* var,
                                           std::string description, bool writable) {
  if (var == nullptr) {
    return Err(Errno{EINVAL});
  }
  SysctlNode n;
  n.name = std::move(name);
  n.type = SysctlType::kString;
  n.description = std::move(description);
  n.writable = writable;
  n.get = [var] { return *var; };
  if (writable) {
    n.set = [var](std::string_view text) -> Result<void, Errno> {
      var->assign(text);
      return {};
    };
  }
  return add(std::move(n));
}

Result<void, Errno> SysctlTree::add_readonly(std::string name, SysctlType type,
                                             std::function<std::string()> get,
                                             std::string description) {
  SysctlNode n;
  n.name = std::move(name);
  n.type = type;
  n.description = std::move(description);
  n.writable = false;
  n.get = std::move(get);
  return add(std::move(n));
}

void SysctlTree::remove(std::string_view name) {
  if (auto it = nodes_.find(name); it != nodes_.end()) {
    nodes_.erase(it);
  }
}

void SysctlTree::remove_prefix(std::string_view prefix) {
  if (prefix.empty()) {
    return;  // never "remove everything" by accident
  }
  auto it = nodes_.lower_bound(prefix);
  while (it != nodes_.end() && it->first.starts_with(prefix)) {
    if (under_prefix(it->first, prefix)) {
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
}

const SysctlNode* SysctlTree::find(std::string_view name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

Result<std::string, Errno> SysctlTree::get(std::string_view name) const {
  const SysctlNode* n = find(name);
  if (n == nullptr) {
    return Err(Errno{ENOENT});
  }
  return n->get();
}

Result<void, Errno> SysctlTree::set(std::string_view name, std::string_view value) {
  const SysctlNode* n = find(name);
  if (n == nullptr) {
    return Err(Errno{ENOENT});
  }
  if (!n->writable || !n->set) {
    return Err(Errno{EPERM});
  }
  if (n->type != SysctlType::kInt) {
    return n->set(value);
  }
  auto v = sysctl_parse_int(value);
  if (!v) {
    return Err(v.error());
  }
  if (*v < n->min || *v > n->max) {
    return Err(Errno{EINVAL});
  }
  // The setter sees canonical decimal, whatever the caller wrote.
  return n->set(std::to_string(*v));
}

std::vector<const SysctlNode*> SysctlTree::list(std::string_view prefix) const {
  std::vector<const SysctlNode*> out;
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && it->first.starts_with(prefix);
       ++it) {
    if (under_prefix(it->first, prefix)) {
      out.push_back(&it->second);
    }
  }
  return out;
}

}  // namespace iopkt
