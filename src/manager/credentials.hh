// manager/credentials.hh — who a client is, from the kernel, never from what
// it writes: SO_PEERCRED (pid, uid, gid at connect time), SO_PEERGROUPS
// (supplementary groups) and the effective capabilities of the connecting
// process (/proc/PID/status, read as the connection is accepted). A
// connection passed to another process (fork, SCM_RIGHTS) keeps these, as a
// kernel socket keeps its opener's credentials.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iopkt {

struct ClientCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;   // supplementary
  uint64_t cap_effective = 0;  // bit n: Linux capability n
  bool known = false;          // false: the kernel told us nothing; treat as nobody

  bool in_group(gid_t g) const;
  bool has_cap(int cap) const { return cap >= 0 && cap < 64 && ((cap_effective >> cap) & 1) != 0; }
  std::string describe() const;  // "uid 1000 pid 4242"
};

// The credentials of the peer of a connected AF_UNIX socket. Unknown
// (nobody, no groups, no capabilities) when the kernel does not say.
ClientCred read_peer_cred(int fd);

// Parses a "CapEff:\t0000003fffffffff" line out of /proc/PID/status text.
std::optional<uint64_t> parse_cap_effective(const std::string& status_text);

// What a client may do beyond using sockets (issue 9, point 2).
struct AccessPolicy {
  std::optional<gid_t> admin_group;     // rgroup_allowed: members act as root
  std::optional<gid_t> endpoint_group;  // endpoint_group: who may connect at all
  int64_t lowportmax = 1023;            // net.inet.ip.lowportmax: ports up to it need privilege
  std::string ping_group_range = "0 2147483647";  // net.inet.ping_group_range
  // mfib_gid_map: (group, FIB) in the order given.
  std::vector<std::pair<gid_t, uint32_t>> fib_by_group;
};

// The FIB of a client's sockets: the first mfib_gid_map entry whose group
// the client has (primary or supplementary), else FIB 0.
uint32_t fib_for(const AccessPolicy& policy, const ClientCred& cred);

enum class Privilege : uint8_t {
  kConfigure,  // CAP_NET_ADMIN: interfaces, addresses, routes, ARP, sysctl -w, mount
  kBindLow,    // CAP_NET_BIND_SERVICE: bind to a port <= lowportmax
  kRaw,        // CAP_NET_RAW: raw sockets
};

// Root (uid 0), the matching capability, or membership of rgroup_allowed's
// group, as io-pkt's secmodel allows root-group members.
bool has_privilege(const AccessPolicy& policy, const ClientCred& cred, Privilege p);
// Linux's ping_group_range: the gid or a supplementary group within "LO HI".
bool may_open_ping_socket(const AccessPolicy& policy, const ClientCred& cred);
// endpoint_group: root or a member.
bool may_connect(const AccessPolicy& policy, const ClientCred& cred);

}  // namespace iopkt
