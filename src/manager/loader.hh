// manager/loader.hh — driver modules (devnp-*.so) and protocol modules
// (lsm-*.so): finding them on the module path, loading them with dlopen,
// checking their ABI version, the generic driver options, and the host side
// of the driver ABI (include/iopkt/driver.h) for each interface they create.
#pragma once

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "iopkt/driver.h"
#include "kern/result.hh"

namespace iopkt {

// Where bare module names are searched, in order: $IOPKT_MODULE_PATH
// (colon-separated), the build's module folder, the install prefix's
// lib/iopkt.
std::vector<std::string> module_search_path();
// "vwire" -> "devnp-vwire.so" found on the path; a name with a '/' is taken
// as given. Error: the folders tried.
Result<std::string, std::string> resolve_module(const std::string& name, const char* kind_prefix);

// The options the stack handles for every driver (SPEC §1).
struct GenericDriverOptions {
  std::optional<std::string> name;  // interface name prefix
  std::optional<int> unit;          // negative: ignored, as io-pkt
  std::optional<std::array<uint8_t, 6>> mac;
  std::optional<uint32_t> mtu;
  std::string driver_options;  // what is left, for the driver
};
Result<GenericDriverOptions, std::string> split_generic_driver_options(const std::string& list);

// Why a driver could not be attached: an errno for the client (ENOENT: no
// such module; ENOEXEC: not a driver or another ABI; EINVAL: options) and a
// message that says it in words.
struct DriverError {
  int error = EINVAL;
  std::string message;
};

// A loaded module, shared by the interfaces it created.
struct DriverModule {
  std::string path;
  void* handle = nullptr;
  const iopkt_driver* entry = nullptr;
  int interfaces = 0;
};

// One receive queue of one interface, polled by a packet thread.
struct RxQueue {
  uint64_t id = 0;
  uint32_t ifindex = 0;
  uint32_t queue = 0;
  int fd = -1;
  int thread = 0;  // which packet thread polls it
  // rx_burst runs under io_mu, outside the stack lock; detach takes io_mu to
  // mark the queue dead before the driver frees it.
  std::mutex io_mu;
  bool dead = false;
  const iopkt_if_ops* ops = nullptr;
  void* softc = nullptr;
  uint32_t frame_cap = 0;  // largest frame the interface can deliver
};

// The host's record of an interface created by a driver: the link between
// the core's Ifnet (by index) and the driver's ops/softc.
struct DriverIf {
  uint32_t ifindex = 0;
  std::shared_ptr<DriverModule> module;
  iopkt_if_ops ops{};
  void* softc = nullptr;
  std::vector<std::shared_ptr<RxQueue>> queues;
  std::atomic<int> link_state{-1};  // set from any thread; applied under the lock
  int quiesce_id = -1;
};

}  // namespace iopkt
