// kern/assert.hh — IOPKT_ASSERT: invariants of the core, checked in debug
// builds (STYLE.md §9). The core does not throw; a broken invariant aborts.
#pragma once

#include <cassert>

#ifndef IOPKT_ASSERT
#define IOPKT_ASSERT(cond) assert(cond)
#endif
