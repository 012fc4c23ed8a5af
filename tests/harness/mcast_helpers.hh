// harness/mcast_helpers.hh — small helpers of the multicast and IGMP
// scenario tests: a group's Ethernet address, socket-option bytes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "netinet/in.hh"

namespace iopkt::test {

// RFC 1112 §6.4: 01:00:5e and the low 23 bits of the group.
inline std::array<uint8_t, 6> group_mac(InAddr g) {
  return {0x01,
          0x00,
          0x5e,
          static_cast<uint8_t>((g.v >> 16) & 0x7f),
          static_cast<uint8_t>(g.v >> 8),
          static_cast<uint8_t>(g.v)};
}

// A socket option's value as the bytes so_setsockopt takes.
template <typename T>
std::span<const std::byte> raw(const T& v) {
  return {reinterpret_cast<const std::byte*>(&v), sizeof v};
}

inline in_addr in(InAddr a) { return in_addr{htonl(a.v)}; }

}  // namespace iopkt::test
