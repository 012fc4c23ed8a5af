// manager/credentials.cc — see credentials.hh.
#include "manager/credentials.hh"

#include <linux/capability.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace iopkt {

bool ClientCred::in_group(gid_t g) const {
  return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

std::string ClientCred::describe() const {
  return "uid " + std::to_string(uid) + " pid " + std::to_string(pid);
}

std::optional<uint64_t> parse_cap_effective(const std::string& status_text) {
  std::istringstream in(status_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      try {
        return std::stoull(line.substr(7), nullptr, 16);
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

ClientCred read_peer_cred(int fd) {
  ClientCred c;
  c.uid = c.gid = static_cast<uid_t>(-1);  // nobody, until the kernel says otherwise
  ucred uc{};
  socklen_t len = sizeof uc;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
    return c;
  }
  c.pid = uc.pid;
  c.uid = uc.uid;
  c.gid = uc.gid;
  c.known = true;
  // Supplementary groups straight from the socket (Linux 4.13+), which no
  // later exec or setgroups of the client can change.
  std::vector<gid_t> groups(64);
  len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0 && errno == ERANGE) {
    groups.resize(len / sizeof(gid_t));
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) != 0) {
      len = 0;
    }
  }
  groups.resize(len / sizeof(gid_t));
  c.groups = std::move(groups);
  // Capabilities have no socket option: read them from the process now,
  // while it is connecting. A process that is already gone counts as
  // having none (root keeps its rights through uid 0).
  std::ifstream status("/proc/" + std::to_string(uc.pid) + "/status");
  std::stringstream text;
  text << status.rdbuf();
  c.cap_effective = parse_cap_effective(text.str()).value_or(0);
  return c;
}

bool has_privilege(const AccessPolicy& policy, const ClientCred& cred, Privilege p) {
  if (!cred.known) {
    return false;
  }
  if (cred.uid == 0) {
    return true;
  }
  if (policy.admin_group && cred.in_group(*policy.admin_group)) {
    return true;
  }
  switch (p) {
    case Privilege::kConfigure:
      return cred.has_cap(CAP_NET_ADMIN);
    case Privilege::kBindLow:
      return cred.has_cap(CAP_NET_BIND_SERVICE);
    case Privilege::kRaw:
      return cred.has_cap(CAP_NET_RAW);
  }
  return false;
}

bool may_open_ping_socket(const AccessPolicy& policy, const ClientCred& cred) {
  if (!cred.known) {
    return false;
  }
  long long lo = 1, hi = 0;
  std::istringstream in(policy.ping_group_range);
  if (!(in >> lo >> hi)) {
    return false;
  }
  auto inside = [&](gid_t g) {
    return static_cast<long long>(g) >= lo && static_cast<long long>(g) <= hi;
  };
  return inside(cred.gid) || std::any_of(cred.groups.begin(), cred.groups.end(), inside);
}

uint32_t fib_for(const AccessPolicy& policy, const ClientCred& cred) {
  if (!cred.known) {
    return 0;
  }
  for (const auto& [gid, fib] : policy.fib_by_group) {
    if (cred.in_group(gid)) {
      return fib;
    }
  }
  return 0;
}

bool may_connect(const AccessPolicy& policy, const ClientCred& cred) {
  if (!policy.endpoint_group) {
    return true;
  }
  return cred.known && (cred.uid == 0 || cred.in_group(*policy.endpoint_group));
}

}  // namespace iopkt
