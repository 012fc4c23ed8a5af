// tests/drivers/support/fake_host.hh — what the driver tests put in place of
// io-pkt: the module dlopen()ed as io-pkt does (LoadedModule), and a stack
// reduced to what include/iopkt/driver.h asks of a host (FakeHost), which
// records every interface a module attaches (FakeIf: its description, the
// carrier it reports, the if_rx_kick calls) and drives its ops the way the
// stack's packet threads would. Header-only: the test binary globs
// tests/drivers/*_test.cc.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/support/frames.hh"
#include "iopkt/driver.h"

namespace iopkt::driver_test {

// A module from the build's module directory, loaded once per test process
// and never unloaded (as io-pkt keeps a module while it has interfaces).
// A test derives from it to look up the module's own exports:
//   struct Module : LoadedModule {
//     Module() : LoadedModule("devnp-x.so") {}
//     x_get_stats_fn get_stats = symbol<x_get_stats_fn>(X_GET_STATS_SYMBOL);
//   };
struct LoadedModule {
  explicit LoadedModule(const char* file) {
    std::string path = std::string(IOPKT_TEST_MODULE_DIR) + "/" + file;
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      error = dlerror();
      return;
    }
    driver = static_cast<const iopkt_driver*>(dlsym(handle, IOPKT_DRIVER_ENTRY_SYMBOL));
  }
  template <typename Fn>
  Fn symbol(const char* name) const {
    return handle != nullptr ? reinterpret_cast<Fn>(dlsym(handle, name)) : nullptr;
  }

  void* handle = nullptr;
  const iopkt_driver* driver = nullptr;
  std::string error;
};

// The module and its iopkt_driver_entry were found; else says why not.
inline ::testing::AssertionResult loaded(const LoadedModule& m) {
  if (m.handle == nullptr) {
    return ::testing::AssertionFailure() << "dlopen: " << m.error;
  }
  if (m.driver == nullptr) {
    return ::testing::AssertionFailure() << IOPKT_DRIVER_ENTRY_SYMBOL << " missing";
  }
  return ::testing::AssertionSuccess();
}

// One interface as the fake stack knows it. The host hands the driver
// pointers to these as its iopkt_if*.
struct FakeIf {
  iopkt_if_desc desc{};
  std::string prefix;
  const iopkt_if_ops* ops = nullptr;
  void* softc = nullptr;
  std::atomic<int> link{-1};
  std::atomic<int> kicks{0};
  bool detached = false;

  // tx_burst of the frames; returns its result.
  int send(const std::vector<Bytes>& frames) {
    std::vector<iopkt_pkt> pkts(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      pkts[i].data = const_cast<uint8_t*>(frames[i].data());
      pkts[i].len = static_cast<uint32_t>(frames[i].size());
      pkts[i].cap = pkts[i].len;
    }
    return ops->tx_burst(softc, pkts.data(), static_cast<uint32_t>(pkts.size()));
  }

  // One rx_burst of up to n frames into buffers of `cap` bytes; appends
  // what it returned to *out. Returns rx_burst's result. One thread at a
  // time, as the queue's packet thread.
  int receive(std::vector<Bytes>* out, uint32_t n, uint32_t cap) {
    if (bufs_.size() < n) {
      bufs_.resize(n);
    }
    std::vector<iopkt_pkt> pkts(n);
    for (uint32_t i = 0; i < n; ++i) {
      bufs_[i].resize(cap);
      pkts[i].data = bufs_[i].data();
      pkts[i].cap = cap;
    }
    int got = ops->rx_burst(softc, 0, pkts.data(), n);
    for (int i = 0; i < got; ++i) {
      out->emplace_back(pkts[i].data, pkts[i].data + pkts[i].len);
    }
    return got;
  }

  void detach() {
    if (!detached) {
      detached = true;
      ops->detach(softc);
    }
  }

 private:
  std::vector<Bytes> bufs_;
};

class FakeHost {
 public:
  explicit FakeHost(const iopkt_driver* driver) : driver_(driver) {
    ops_.abi_version = IOPKT_DRIVER_ABI_VERSION;
    ops_.log = [](iopkt_host* h, int, const char* msg) {
      auto* self = reinterpret_cast<FakeHost*>(h);
      std::lock_guard lk(self->mu_);
      self->logs_.emplace_back(msg);
    };
    ops_.if_attach = &FakeHost::if_attach;
    ops_.if_link_state = [](iopkt_if* ifp, int up) {
      reinterpret_cast<FakeIf*>(ifp)->link.store(up);
    };
    ops_.if_rx_kick = [](iopkt_if* ifp, uint32_t) {
      reinterpret_cast<FakeIf*>(ifp)->kicks.fetch_add(1);
    };
  }
  // Detaches what is still attached, as the stack does at shutdown.
  ~FakeHost() { detach_all(); }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // The driver's attach; *out (when given) is the interface it created.
  int attach(const std::string& options, FakeIf** out, std::string* err) {
    char buf[512] = "";
    last_ = nullptr;
    int rc = driver_->attach(reinterpret_cast<iopkt_host*>(this), &ops_, options.c_str(), buf,
                             sizeof buf);
    *err = buf;
    if (out != nullptr) {
      *out = last_;
    }
    return rc;
  }

  void detach_all() {
    for (auto& fi : ifs_) {
      fi->detach();
    }
    ifs_.clear();
  }

  std::vector<std::string> logs() const {
    std::lock_guard lk(mu_);
    return logs_;
  }
  void clear_logs() {
    std::lock_guard lk(mu_);
    logs_.clear();
  }
  // Some log line contains `what`.
  bool logged(const std::string& what) const {
    for (const auto& l : logs()) {
      if (l.find(what) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  // The next if_attach is refused, as a stack refuses a taken name.
  bool refuse_next = false;

 private:
  static iopkt_if* if_attach(iopkt_host* host, const iopkt_if_desc* desc, const iopkt_if_ops* ops,
                             void* softc, char* err, size_t errlen) {
    auto* self = reinterpret_cast<FakeHost*>(host);
    if (self->refuse_next) {
      self->refuse_next = false;
      snprintf(err, errlen, "fake host: refused");
      return nullptr;
    }
    auto fi = std::make_unique<FakeIf>();
    fi->desc = *desc;
    fi->prefix = desc->name_prefix != nullptr ? desc->name_prefix : "";
    fi->ops = ops;
    fi->softc = softc;
    self->last_ = fi.get();
    self->ifs_.push_back(std::move(fi));
    return reinterpret_cast<iopkt_if*>(self->last_);
  }

  const iopkt_driver* driver_;
  iopkt_host_ops ops_{};
  std::vector<std::unique_ptr<FakeIf>> ifs_;
  FakeIf* last_ = nullptr;
  mutable std::mutex mu_;
  std::vector<std::string> logs_;
};

// A test's handle on one attached interface, which it may detach early;
// tests derive their own drivers' helpers from it.
class AttachedIf {
 public:
  explicit AttachedIf(FakeIf* fi) : fi_(fi) {}

  FakeIf* fake() const { return fi_; }
  void* softc() const { return fi_->softc; }
  int fd() const { return fi_->desc.rx_fd[0]; }
  Mac mac() const {
    Mac m;
    memcpy(m.data(), fi_->desc.mac, m.size());
    return m;
  }
  int send(const std::vector<Bytes>& frames) { return fi_->send(frames); }

  void detach() {
    if (fi_ != nullptr) {
      fi_->detach();
      fi_ = nullptr;
    }
  }
  bool attached() const { return fi_ != nullptr; }

 protected:
  FakeIf* fi_;
};

// A module's iopkt_*_get_stats() on an interface; fails the test when the
// module refuses the softc.
template <typename Stats>
Stats read_stats(int (*get)(void*, Stats*), const FakeIf* fi) {
  Stats s{};
  EXPECT_EQ(get(fi->softc, &s), 0);
  return s;
}

}  // namespace iopkt::driver_test
