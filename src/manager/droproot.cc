// manager/droproot.cc — see droproot.hh.
#include "manager/droproot.hh"

#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "manager/options.hh"

namespace iopkt {

namespace {

std::optional<uint32_t> parse_id(std::string_view s) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::string DropIdentity::text() const {
  std::string out = std::to_string(uid) + ":" + std::to_string(gid);
  for (gid_t g : groups) {
    out += "," + std::to_string(g);
  }
  return out;
}

Result<void, std::string> drop_thread_to(const DropIdentity& id, uint64_t keep_caps) {
  auto fail = [](const char* what) { return Err(std::string(what) + ": " + std::strerror(errno)); };
  // Keep the permitted set across the uid change, then choose from it.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    return fail("prctl(PR_SET_KEEPCAPS)");
  }
  if (syscall(SYS_setgroups, id.groups.size(), id.groups.data()) != 0) {
    return fail("setgroups");
  }
  if (syscall(SYS_setresgid, id.gid, id.gid, id.gid) != 0) {
    return fail("setresgid");
  }
  if (syscall(SYS_setresuid, id.uid, id.uid, id.uid) != 0) {
    return fail("setresuid");
  }
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    auto bits = static_cast<uint32_t>(keep_caps >> (32 * i));
    data[i].effective = data[i].permitted = bits;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) {
    return fail("capset");
  }
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
    return fail("prctl(PR_SET_KEEPCAPS, 0)");
  }
  return {};
}

Result<DropIdentity, std::string> resolve_drop_user(std::string_view spec) {
  if (auto ok = validate_drop_user(spec); !ok) {
    return Err(ok.error());
  }
  DropIdentity id;
  std::string_view head = spec.substr(0, spec.find(','));
  std::string_view rest = head.size() < spec.size() ? spec.substr(head.size() + 1) : "";
  std::string_view user = head.substr(0, head.find(':'));
  if (auto uid = parse_id(user)) {
    id.uid = *uid;
    if (user.size() < head.size()) {
      id.gid = *parse_id(head.substr(user.size() + 1));
    } else {
      passwd* pw = getpwuid(id.uid);
      id.gid = pw != nullptr ? pw->pw_gid : id.uid;
    }
  } else {
    std::string name(user);
    passwd* pw = getpwnam(name.c_str());
    if (pw == nullptr) {
      return Err("-U " + std::string(spec) + ": no user named '" + name + "'");
    }
    id.uid = pw->pw_uid;
    id.gid = pw->pw_gid;
  }
  while (!rest.empty()) {
    std::string_view g = rest.substr(0, rest.find(','));
    id.groups.push_back(*parse_id(g));
    rest = g.size() < rest.size() ? rest.substr(g.size() + 1) : "";
  }
  return id;
}

}  // namespace iopkt
