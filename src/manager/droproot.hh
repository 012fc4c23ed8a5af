// manager/droproot.hh — the identity of -U (SPEC §1): the user and groups the
// manager drops to when `qnx.kern.droproot` is set. Resolved at start-up so
// that a user name that does not exist is refused then, not when the drop is
// asked for.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "kern/result.hh"

namespace iopkt {

struct DropIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string text() const;   // "uid:gid,sup,sup"
};

// Changes the CALLING THREAD to `id`, keeping only the capabilities whose
// bits are set in `keep_caps` (bit n: Linux capability n, e.g. 0x3000 keeps
// CAP_NET_ADMIN and CAP_NET_RAW). Raw system calls on purpose: glibc's
// setuid() changes every thread at once, and capabilities belong to each
// thread, so each thread of the manager runs this itself.
Result<void, std::string> drop_thread_to(const DropIdentity& id, uint64_t keep_caps);

// "uid[:gid[,sup_gid]*]" or "user_name[,sup_gid]*" (the primary group of a
// user name is its /etc/passwd group). A numeric uid without a gid takes
// the passwd entry's group if there is one, else the same number.
Result<DropIdentity, std::string> resolve_drop_user(std::string_view spec);

}  // namespace iopkt
