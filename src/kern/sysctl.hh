// kern/sysctl.hh — the sysctl tree: named runtime knobs and read-outs
// (NetBSD sysctl(9)). Nodes are declared beside the variable they set, with
// type, range, default and a one-line description. `-p tcpip` options land
// on the same nodes, so their values show in `sysctl -a`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kern/result.hh"

namespace iopkt {

enum class SysctlType : uint8_t { kInt = 1, kString = 2 };

struct SysctlNode {
  std::string name;  // dotted: "net.inet.ip.forwarding"
  SysctlType type = SysctlType::kInt;
  std::string description;
  bool writable = false;
  int64_t min = INT64_MIN, max = INT64_MAX;  // kInt: values outside are EINVAL
  // Read the current value (decimal text for kInt).
  std::function<std::string()> get;
  // Write a value already range-checked (kInt) or the raw text (kString);
  // may refuse with an errno. Unset for read-only nodes.
  std::function<Result<void, Errno>(std::string_view)> set;
};

// The integer syntax of sysctl writes: decimal with an optional sign, or hex
// after "0x"; the whole text, fitting int64_t. EINVAL otherwise.
Result<int64_t, Errno> sysctl_parse_int(std::string_view text);

class SysctlTree {
 public:
  // Fails with EEXIST for a duplicate name, EINVAL for a malformed name
  // (empty component, characters other than [A-Za-z0-9_.-]).
  Result<void, Errno> add(SysctlNode node);
  // Convenience: an integer variable owned by the caller, which must outlive
  // the tree or remove the node.
  Result<void, Errno> add_int(std::string name, int64_t* var, int64_t min, int64_t max,
                              std::string description, bool writable);
  Result<void, Errno> add_int(std::string name, int32_t* var, int64_t min, int64_t max,
                              std::string description, bool writable);
  Result<void, Errno> add_string(std::string name, std::string* var, std::string description,
                                 bool writable);
  // A read-only value computed on each read (counters, state).
  Result<void, Errno> add_readonly(std::string name, SysctlType type,
                                   std::function<std::string()> get, std::string description);
  void remove(std::string_view name);
  void remove_prefix(std::string_view prefix);  // "net.interfaces.en0." ...

  const SysctlNode* find(std::string_view name) const;
  // ENOENT unknown; EPERM read-only; EINVAL not a number / out of range.
  Result<std::string, Errno> get(std::string_view name) const;
  Result<void, Errno> set(std::string_view name, std::string_view value);
  // Nodes whose name equals `prefix` or starts with `prefix` + ".", sorted
  // by name; all with an empty prefix.
  std::vector<const SysctlNode*> list(std::string_view prefix = {}) const;

 private:
  std::map<std::string, SysctlNode, std::less<>> nodes_;
};

}  // namespace iopkt
