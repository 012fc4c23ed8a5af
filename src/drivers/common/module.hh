// drivers/common/module.hh — the glue between include/iopkt/driver.h's C ABI
// and a driver's C++ softc, the same in every devnp module: the attach
// sequence (ABI check, options, open, if_attach, and what a refusal or an
// exception must undo), the iopkt_if_ops trampolines, the softc check of
// the exported iopkt_*_get_stats(), and the few things a softc keeps of the
// stack (host, ops, interface, last link state reported).
//
// A softc type S used with attach_softc<S>() provides:
//   explicit S(const Options&);
//   int open(std::string* err);             // 0 or a negative errno, *err says why
//   void fill_desc(iopkt_if_desc*) const;
//   void on_attached(const iopkt_if_desc&); // the stack took it (ifp is set); must not throw
//   void detach();                          // leaves the link; idempotent
//   int rx_burst(uint32_t, iopkt_pkt*, uint32_t), tx_burst(const iopkt_pkt*, uint32_t),
//       set_flags(uint32_t), set_mtu(uint32_t); void quiesce();
//   optionally int set_lladdr(const uint8_t*);
// and derives from SoftcBase. Each op is a plain call: a softc whose op may
// allocate catches std::bad_alloc itself, with the answer that op's
// contract allows (driver.h).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "iopkt/driver.h"

namespace iopkt::drivers {

inline void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.fetch_add(by, std::memory_order_relaxed);
}
inline uint64_t counter(const std::atomic<uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

// Copies msg and then more into the caller's err buffer (truncated,
// NUL-terminated). Allocates nothing, so it may report std::bad_alloc.
void write_err(char* err, size_t errlen, std::string_view msg, std::string_view more = {});

// A locally administered unicast MAC that depends on `name` only (FNV-1a,
// 64 bits), so that the same TAP or wire gets the same address on every
// attach.
void mac_from_name(std::string_view name, uint8_t mac[IOPKT_ETHER_ADDR_LEN]);

// An Ethernet interface with one receive queue: BROADCAST, MULTICAST and
// SIMPLEX, no offload capabilities, unit chosen by the stack.
iopkt_if_desc ether_if_desc(const char* prefix, const uint8_t mac[IOPKT_ETHER_ADDR_LEN],
                            uint32_t mtu, uint32_t max_mtu, int rx_fd);

// What every softc keeps of the stack. The magic comes first, at offset 0
// of the softc (a single non-virtual base), where get_softc_stats() looks
// for it on whatever pointer a tool passes.
class SoftcBase {
 public:
  explicit SoftcBase(uint64_t magic) : magic_(magic) {}
  SoftcBase(const SoftcBase&) = delete;
  SoftcBase& operator=(const SoftcBase&) = delete;

  bool has_magic(uint64_t magic) const { return magic_ == magic; }
  // Before open(); neither is written again afterwards.
  void set_host(iopkt_host* host, const iopkt_host_ops& ops) {
    host_ = host;
    host_ops_ = ops;
  }
  void set_ifp(iopkt_if* ifp) { ifp_.store(ifp, std::memory_order_release); }

  void log(int level, const std::string& msg) const;
  // Tells the stack the carrier is `up` (1) or down (0), once per change;
  // safe from any thread.
  void report_link_state(int up);
  // driver.h's if_rx_kick: frames wait although rx_fd may not signal.
  void kick_rx(uint32_t q = 0) const;

 private:
  uint64_t magic_;
  iopkt_host* host_ = nullptr;
  iopkt_host_ops host_ops_{};
  std::atomic<iopkt_if*> ifp_{nullptr};
  std::atomic<int> link_reported_{-1};
};

// The iopkt_if_ops of softc type S.
template <typename S>
constexpr iopkt_if_ops make_if_ops() {
  iopkt_if_ops ops{};
  ops.struct_size = sizeof(iopkt_if_ops);
  ops.rx_burst = [](void* sc, uint32_t q, iopkt_pkt* pkts, uint32_t n) {
    return static_cast<S*>(sc)->rx_burst(q, pkts, n);
  };
  ops.tx_burst = [](void* sc, const iopkt_pkt* pkts, uint32_t n) {
    return static_cast<S*>(sc)->tx_burst(pkts, n);
  };
  ops.set_flags = [](void* sc, uint32_t flags) { return static_cast<S*>(sc)->set_flags(flags); };
  ops.set_mtu = [](void* sc, uint32_t mtu) { return static_cast<S*>(sc)->set_mtu(mtu); };
  ops.detach = [](void* sc) {
    auto* s = static_cast<S*>(sc);
    s->detach();
    delete s;
  };
  ops.quiesce = [](void* sc) { static_cast<S*>(sc)->quiesce(); };
  if constexpr (requires(S & s, const uint8_t* mac) { s.set_lladdr(mac); }) {
    ops.set_lladdr = [](void* sc, const uint8_t mac[IOPKT_ETHER_ADDR_LEN]) {
      return static_cast<S*>(sc)->set_lladdr(mac);
    };
  }
  return ops;
}

// iopkt_driver.attach for softc type S: `driver` names it in messages,
// `parse` reads its options.
template <typename S, typename Options>
int attach_softc(const char* driver, bool (*parse)(std::string_view, Options*, std::string*),
                 iopkt_host* host, const iopkt_host_ops* ops, const char* options, char* err,
                 size_t errlen) {
  static constexpr iopkt_if_ops kIfOps = make_if_ops<S>();
  if (ops == nullptr || ops->abi_version != IOPKT_DRIVER_ABI_VERSION || ops->if_attach == nullptr) {
    write_err(err, errlen, driver, ": stack ABI version differs from the module's");
    return -EINVAL;
  }
  try {
    Options o;
    std::string msg;
    if (!parse(options != nullptr ? options : "", &o, &msg)) {
      write_err(err, errlen, msg);
      return -EINVAL;
    }
    auto s = std::make_unique<S>(o);
    s->set_host(host, *ops);
    int rc = s->open(&msg);
    if (rc < 0) {
      write_err(err, errlen, msg);
      return rc;  // ~S releases what open() took
    }
    iopkt_if_desc desc;
    s->fill_desc(&desc);
    iopkt_if* ifp = ops->if_attach(host, &desc, &kIfOps, s.get(), err, errlen);
    if (ifp == nullptr) {
      s->detach();  // the stack wrote err
      return -EINVAL;
    }
    S* owned_by_stack = s.release();  // kIfOps.detach deletes it
    owned_by_stack->set_ifp(ifp);
    owned_by_stack->on_attached(desc);
    return 0;
  } catch (const std::bad_alloc&) {
    write_err(err, errlen, driver, ": out of memory");
    return -ENOMEM;
  }
}

// attach_softc() as an iopkt_driver.attach, for the module's entry:
//   constexpr char kName[] = "tap";
//   ... iopkt_driver_entry = {ABI, kName, "...", &attach_entry<Tap, Options, parse_options,
//   kName>};
template <typename S, typename Options, bool (*Parse)(std::string_view, Options*, std::string*),
          const char* Name>
int attach_entry(iopkt_host* host, const iopkt_host_ops* ops, const char* options, char* err,
                 size_t errlen) {
  return attach_softc<S, Options>(Name, Parse, host, ops, options, err, errlen);
}

// The body of an exported iopkt_NAME_get_stats(): -EINVAL unless softc is
// an S (by its magic).
template <typename S, typename Stats>
int get_softc_stats(void* softc, Stats* out) {
  auto* s = static_cast<S*>(softc);
  if (s == nullptr || out == nullptr || !s->has_magic(S::kSoftcMagic)) {
    return -EINVAL;
  }
  s->stats(out);
  return 0;
}

}  // namespace iopkt::drivers
