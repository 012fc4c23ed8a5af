// drivers/common/module.cc — the out-of-line parts of the driver glue; see
// module.hh.
#include "drivers/common/module.hh"

#include <cstdio>
#include <cstring>

namespace iopkt::drivers {

void write_err(char* err, size_t errlen, std::string_view msg, std::string_view more) {
  if (err != nullptr && errlen > 0) {
    snprintf(err, errlen, "%.*s%.*s", static_cast<int>(msg.size()), msg.data(),
             static_cast<int>(more.size()), more.data());
  }
}

void mac_from_name(std::string_view name, uint8_t mac[IOPKT_ETHER_ADDR_LEN]) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a offset basis and prime
  for (char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  mac[0] = static_cast<uint8_t>((h & 0xfc) | 0x02);  // unicast, locally administered
  for (int i = 1; i < IOPKT_ETHER_ADDR_LEN; ++i) {
    mac[i] = static_cast<uint8_t>(h >> (8 * i));
  }
}

iopkt_if_desc ether_if_desc(const char* prefix, const uint8_t mac[IOPKT_ETHER_ADDR_LEN],
                            uint32_t mtu, uint32_t max_mtu, int rx_fd) {
  iopkt_if_desc d{};
  d.struct_size = sizeof(iopkt_if_desc);
  d.name_prefix = prefix;
  d.unit = -1;
  d.link_type = IOPKT_LINK_ETHER;
  memcpy(d.mac, mac, IOPKT_ETHER_ADDR_LEN);
  d.mtu = mtu;
  d.max_mtu = max_mtu;
  d.flags = IOPKT_IFF_BROADCAST | IOPKT_IFF_MULTICAST | IOPKT_IFF_SIMPLEX;
  d.caps = 0;
  d.n_rx_queues = 1;
  for (int& fd : d.rx_fd) {
    fd = -1;
  }
  d.rx_fd[0] = rx_fd;
  return d;
}

void SoftcBase::log(int level, const std::string& msg) const {
  if (host_ops_.log != nullptr) {
    host_ops_.log(host_, level, msg.c_str());
  }
}

void SoftcBase::report_link_state(int up) {
  if (link_reported_.load(std::memory_order_relaxed) != up && link_reported_.exchange(up) != up) {
    iopkt_if* ifp = ifp_.load(std::memory_order_acquire);
    if (ifp != nullptr && host_ops_.if_link_state != nullptr) {
      host_ops_.if_link_state(ifp, up);
    }
  }
}

void SoftcBase::kick_rx(uint32_t q) const {
  iopkt_if* ifp = ifp_.load(std::memory_order_acquire);
  if (ifp != nullptr && host_ops_.if_rx_kick != nullptr) {
    host_ops_.if_rx_kick(ifp, q);
  }
}

}  // namespace iopkt::drivers
