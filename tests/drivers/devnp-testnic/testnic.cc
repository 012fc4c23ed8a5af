// devnp-testnic — a minimal fake NIC for the process tests. It makes
// interfaces that look like Ethernet to the stack but carry nothing: each
// receive queue is an eventfd that never fires, transmit counts the frames
// and drops them. It exists to exercise the module loader, the generic
// driver options (name=, unit=, mac=, mtu=, applied by the stack), driver
// option refusal and detach, without needing a peer the way devnp-vwire
// does.
//
// Options (anything else is refused, naming the option, as driver.h asks):
//   count=N    interfaces to make in one attach, 1..4 (default 1)
//   maxmtu=N   the largest MTU the "hardware" carries, 68..65535 (default 9000)
//   fail       refuse the attach after making the interfaces (tests that the
//              stack detaches what a failed attach created)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "iopkt/driver.h"

namespace {

struct TestNic {
  int rx_fd = -1;
  uint32_t mtu = 1500;
  uint32_t max_mtu = 9000;
  uint32_t flags = 0;
  uint64_t tx_frames = 0;
  const iopkt_host_ops* host_ops = nullptr;
  iopkt_host* host = nullptr;
  unsigned index = 0;
};

// Distinct default MACs across attaches: 02:00:5e:10:00:NN (locally
// administered, unicast).
std::atomic<unsigned> g_next_index{0};

void say(TestNic& nic, int level, const std::string& msg) {
  if (nic.host_ops != nullptr && nic.host_ops->log != nullptr) {
    nic.host_ops->log(nic.host, level, msg.c_str());
  }
}

int testnic_rx_burst(void* /*softc*/, uint32_t /*q*/, iopkt_pkt* /*pkts*/, uint32_t /*n*/) {
  return 0;  // the eventfd never fires, so this is only called on a kick
}

int testnic_tx_burst(void* softc, const iopkt_pkt* /*pkts*/, uint32_t n) {
  static_cast<TestNic*>(softc)->tx_frames += n;
  return static_cast<int>(n);
}

int testnic_set_flags(void* softc, uint32_t flags) {
  static_cast<TestNic*>(softc)->flags = flags;
  return 0;
}

int testnic_set_mtu(void* softc, uint32_t mtu) {
  auto* nic = static_cast<TestNic*>(softc);
  if (mtu < 68 || mtu > nic->max_mtu) {
    return -EINVAL;
  }
  nic->mtu = mtu;
  return 0;
}

void testnic_detach(void* softc) {
  auto* nic = static_cast<TestNic*>(softc);
  // The process tests read this line (with -f) to see that detach ran.
  say(*nic, IOPKT_LOG_INFO,
      "testnic: detached after " + std::to_string(nic->tx_frames) + " frames sent");
  close(nic->rx_fd);
  delete nic;
}

// From the stack's SIGSEGV handler: async-signal-safe calls only. The
// process tests look for this line to see that drivers were quiesced.
void testnic_quiesce(void* /*softc*/) {
  static const char kMsg[] = "testnic: quiesced\n";
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
}

void set_error(char* err, size_t errlen, const std::string& msg) {
  if (err != nullptr && errlen > 0) {
    snprintf(err, errlen, "%s", msg.c_str());
  }
}

// A whole decimal number in [lo, hi], or -1.
long parse_number(const std::string& text, long lo, long hi) {
  if (text.empty() || text.size() > 6) {
    return -1;
  }
  long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return -1;
    }
    v = v * 10 + (c - '0');
  }
  return v >= lo && v <= hi ? v : -1;
}

int testnic_attach(iopkt_host* host, const iopkt_host_ops* ops, const char* options, char* err,
                   size_t errlen) {
  long count = 1;
  long max_mtu = 9000;
  bool fail = false;
  std::string rest = options != nullptr ? options : "";
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "count" && eq != std::string::npos) {
      count = parse_number(value, 1, 4);
      if (count < 0) {
        set_error(err, errlen, "testnic: option count=" + value + " must be 1..4");
        return -EINVAL;
      }
    } else if (key == "maxmtu" && eq != std::string::npos) {
      max_mtu = parse_number(value, 68, 65535);
      if (max_mtu < 0) {
        set_error(err, errlen, "testnic: option maxmtu=" + value + " must be 68..65535");
        return -EINVAL;
      }
    } else if (key == "fail" && eq == std::string::npos) {
      fail = true;
    } else {
      set_error(err, errlen, "testnic: unknown option '" + item + "'");
      return -EINVAL;
    }
  }
  for (long i = 0; i < count; ++i) {
    auto* nic = new TestNic;
    nic->host = host;
    nic->host_ops = ops;
    nic->max_mtu = static_cast<uint32_t>(max_mtu);
    nic->index = g_next_index.fetch_add(1);
    nic->rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nic->rx_fd < 0) {
      int e = errno;
      set_error(err, errlen, std::string("testnic: eventfd: ") + strerror(e));
      delete nic;
      return -e;
    }
    iopkt_if_desc desc{};
    desc.struct_size = sizeof desc;
    desc.name_prefix = "tn";
    desc.unit = -1;
    desc.link_type = IOPKT_LINK_ETHER;
    const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, static_cast<uint8_t>(nic->index)};
    memcpy(desc.mac, mac, sizeof mac);
    desc.mtu = 1500 <= max_mtu ? 1500 : static_cast<uint32_t>(max_mtu);
    desc.max_mtu = static_cast<uint32_t>(max_mtu);
    desc.flags = IOPKT_IFF_BROADCAST | IOPKT_IFF_MULTICAST | IOPKT_IFF_SIMPLEX;
    desc.n_rx_queues = 1;
    desc.rx_fd[0] = nic->rx_fd;
    iopkt_if_ops if_ops{};
    if_ops.struct_size = sizeof if_ops;
    if_ops.rx_burst = testnic_rx_burst;
    if_ops.tx_burst = testnic_tx_burst;
    if_ops.set_flags = testnic_set_flags;
    if_ops.set_mtu = testnic_set_mtu;
    if_ops.detach = testnic_detach;
    if_ops.quiesce = testnic_quiesce;
    if (ops->if_attach(host, &desc, &if_ops, nic, err, errlen) == nullptr) {
      // The stack wrote why into err; the interface was not made, so the
      // softc is still ours.
      close(nic->rx_fd);
      delete nic;
      return -EINVAL;
    }
  }
  if (fail) {
    set_error(err, errlen, "testnic: failing on request (option fail)");
    return -EIO;
  }
  return 0;
}

}  // namespace

extern "C" const struct iopkt_driver iopkt_driver_entry = {
    IOPKT_DRIVER_ABI_VERSION,
    "testnic",
    "fake NIC for tests: carries nothing, counts transmitted frames",
    testnic_attach,
};
