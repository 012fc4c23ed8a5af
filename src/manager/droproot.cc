// manager/droproot.cc — see droproot.hh.
#include "manager/droproot.hh"

#include <pwd.h>

#include <charconv>

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
