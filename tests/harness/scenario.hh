// harness/scenario.hh — the packet-scenario harness (DESIGN.md, STYLE.md §6):
// one stack core with a virtual clock and a virtual link per interface.
// Tests inject frames, advance time, and assert on the frames the stack
// emitted, without a process, a thread or a syscall.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/stack.hh"
#include "netinet/in.hh"

namespace iopkt::test {

// Records what the stack asked of the "driver" and can refuse it.
class FakeDriver : public IfDriverHooks {
 public:
  Result<void, Errno> set_flags(Ifnet& ifp, uint32_t flags) override;
  Result<void, Errno> set_mtu(Ifnet& ifp, uint32_t mtu) override;
  std::vector<std::pair<std::string, uint32_t>> flag_calls;
  std::vector<std::pair<std::string, uint32_t>> mtu_calls;
  int refuse_errno = 0;  // non-zero: refuse every request with it
};

struct ScenarioOptions {
  int variant = 4;
  uint64_t seed = 1;
  PoolConfig pool{};
  bool with_link = true;  // attach en0 (Ethernet, 192.0.2.1/24)
};

class Scenario {
 public:
  explicit Scenario(ScenarioOptions opts = {});
  ~Scenario();

  Stack& stack() { return stack_; }
  Ifnet& link() { return *link_; }  // en0
  static constexpr std::array<uint8_t, 6> kLocalMac{0x02, 0, 0, 0, 0, 1};
  static constexpr std::array<uint8_t, 6> kPeerMac{0x02, 0, 0, 0, 0, 2};
  InAddr local() const { return InAddr::from_octets(192, 0, 2, 1); }
  InAddr peer() const { return InAddr::from_octets(192, 0, 2, 2); }

  // Time, as the manager would drive it.
  void advance(std::chrono::nanoseconds d);
  Instant now() const { return stack_.now(); }

  // A frame arriving on en0 (whole Ethernet frame).
  void inject(const std::vector<std::byte>& frame);
  // Frames the stack queued for en0, oldest first; takes them.
  std::vector<std::vector<std::byte>> take_frames();
  // The next emitted frame, or nullopt.
  std::optional<std::vector<std::byte>> next_frame();

  FakeDriver& driver() { return driver_; }

 private:
  Stack stack_;
  Ifnet* link_ = nullptr;
  FakeDriver driver_;
  std::deque<std::vector<std::byte>> emitted_;
};

// Frame builders: checksums filled, so frames pass validation unless a
// test breaks them on purpose.
struct UdpSpec {
  InAddr src, dst;
  uint16_t sport = 0, dport = 0;
  std::vector<std::byte> payload;
  uint8_t ttl = 64;
  bool zero_checksum = false;  // send "no checksum" (legal over IPv4)
};
std::vector<std::byte> build_ipv4_udp(const UdpSpec& spec);
std::vector<std::byte> build_ether(const std::array<uint8_t, 6>& dst,
                                   const std::array<uint8_t, 6>& src, uint16_t type,
                                   const std::vector<std::byte>& payload);
std::vector<std::byte> bytes_of(std::string_view text);

}  // namespace iopkt::test
