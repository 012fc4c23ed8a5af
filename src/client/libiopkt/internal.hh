// client/libiopkt/internal.hh — what the library's files share: the
// thread's last error text. Not installed; not for the utilities.
#pragma once

#include <string>

namespace iopkt::client {

// Sets iopkt_last_error() to `text` and errno to `err`; returns -1 so that
// a call can `return fail(EINVAL, "...")`.
int fail(int err, std::string text);

// Sets iopkt_last_error() to strerror(err) and errno to `err`; returns -1.
int fail(int err);

}  // namespace iopkt::client
