// devnp-badabi — a test-only module that claims a driver ABI version the
// stack does not have (include/iopkt/driver.h), so the process tests can
// check that the loader refuses it with a message naming the ABI version
// instead of calling into structures it would misread.
#include <errno.h>

#include "iopkt/driver.h"

namespace {

// Never called: the loader must refuse the module before attach.
int badabi_attach(iopkt_host* /*host*/, const iopkt_host_ops* /*ops*/, const char* /*options*/,
                  char* /*err*/, size_t /*errlen*/) {
  return -ENOSYS;
}

}  // namespace

// A future ABI far from the stack's, so the test does not break when the
// real version is bumped by one.
extern "C" const struct iopkt_driver iopkt_driver_entry = {
    IOPKT_DRIVER_ABI_VERSION + 1000,
    "badabi",
    "test module built for another driver ABI version",
    badabi_attach,
};
