// tests/drivers/tap_test.cc — devnp-tap.so through its C ABI only,
// dlopen()ed as io-pkt does and driven by a fake host (support/
// fake_host.hh), against the real Linux kernel: each test gets its own
// network namespace (support/netns.hh) and runs the driver on a thread
// inside it, so the TAPs, addresses and sockets it makes never reach the
// host's namespace. The kernel is the peer: an AF_PACKET socket on the TAP
// sees what tx_burst writes and writes what rx_burst must read; the kernel
// answers ARP, sends UDP, and (with vnet_hdr) TCP super-frames to a
// handshake the test plays by hand (frames from support/frames.hh). Tests
// that need root or /dev/net/tun skip with a message without them. Every
// wait is bounded in time and count.
#include "drivers/devnp-tap/tap.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drivers/support/fake_host.hh"
#include "drivers/support/frames.hh"
#include "drivers/support/netns.hh"
#include "iopkt/driver.h"

namespace iopkt::tap_test {
namespace {

using namespace iopkt::driver_test;

struct Module : LoadedModule {
  Module() : LoadedModule("devnp-tap.so") {}
  iopkt_tap_get_stats_fn get_stats = symbol<iopkt_tap_get_stats_fn>(IOPKT_TAP_GET_STATS_SYMBOL);
};

const Module& module() {
  static const Module m;
  return m;
}

// One attached interface, driven as the stack's packet thread would.
class Port : public AttachedIf {
 public:
  explicit Port(FakeIf* fi) : AttachedIf(fi) {}
  ~Port() { detach(); }

  // One rx_burst of up to n frames into buffers of `cap` bytes; appends what
  // it returned to *out. Returns rx_burst's result.
  int burst(std::vector<Bytes>* out, uint32_t n = 64, uint32_t cap = 65536) {
    return fi_->receive(out, n, cap);
  }

  // Reads until `want` frames for which keep() is true arrived or
  // timeout_ms passed, servicing rx_fd and if_rx_kick like the stack.
  std::vector<Bytes> collect(const std::function<bool(const Bytes&)>& keep, size_t want,
                             int timeout_ms, uint32_t cap = 65536) {
    std::vector<Bytes> kept;
    int64_t deadline = now_ms() + timeout_ms;
    int kicks = fi_->kicks.load();
    for (int iter = 0; iter < 100000 && kept.size() < want; ++iter) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        break;
      }
      bool kicked = fi_->kicks.load() != kicks;
      kicks = fi_->kicks.load();
      pollfd p{fd(), POLLIN, 0};
      if (!kicked && poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 50))) <= 0) {
        continue;
      }
      std::vector<Bytes> got;
      burst(&got, 64, cap);
      for (auto& f : got) {
        if (keep(f)) {
          kept.push_back(std::move(f));
        }
      }
    }
    return kept;
  }

  iopkt_tap_stats stats() const { return read_stats(module().get_stats, fi_); }
};

// An AF_PACKET socket on a Linux interface, in the calling thread's
// namespace; it reads frames arriving from the TAP, not those Linux sends.
class PacketSocket {
 public:
  explicit PacketSocket(unsigned ifindex) : ifindex_(ifindex) {
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(ifindex);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~PacketSocket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  bool ok() const { return fd_ >= 0; }

  bool send(const Bytes& f) {
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(ifindex_);
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, f.data(), 6);
    return sendto(fd_, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) ==
           static_cast<ssize_t>(f.size());
  }

  std::vector<Bytes> collect(const std::function<bool(const Bytes&)>& keep, size_t want,
                             int timeout_ms) {
    std::vector<Bytes> kept;
    Bytes buf(70000);
    int64_t deadline = now_ms() + timeout_ms;
    for (int iter = 0; iter < 100000 && kept.size() < want; ++iter) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        break;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) {
        continue;
      }
      sockaddr_ll from{};
      socklen_t flen = sizeof from;
      ssize_t n = recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) {
        continue;
      }
      Bytes f(buf.begin(), buf.begin() + n);
      if (keep(f)) {
        kept.push_back(std::move(f));
      }
    }
    return kept;
  }

 private:
  int fd_ = -1;
  unsigned ifindex_;
};

Mac linux_mac(const std::string& ifname) {
  Mac m{};
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
  if (s >= 0 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0) {
    memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
  }
  if (s >= 0) {
    close(s);
  }
  return m;
}

// Opens a TUN/TAP fd in the calling thread's namespace; -1 on failure.
int open_tun(const std::string& name, int flags) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  ifreq ifr{};
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name.c_str());
  ifr.ifr_flags = static_cast<short>(flags);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool kernel_at_least(int major, int minor) {
  utsname u{};
  int a = 0, b = 0;
  return uname(&u) == 0 && sscanf(u.release, "%d.%d", &a, &b) == 2 &&
         (a > major || (a == major && b >= minor));
}

const uint32_t kLinuxIp = ipv4(192, 0, 2, 1);  // the TAP's address on the Linux side
const uint32_t kStackIp = ipv4(192, 0, 2, 2);  // ours

// --- tests without privileges -------------------------------------------------

class TapModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loaded(module()));
    ASSERT_NE(module().get_stats, nullptr);
  }
  FakeHost host_{module().driver};
};

TEST_F(TapModuleTest, ExportsTheEntryWithTheAbiVersion) {
  EXPECT_EQ(module().driver->abi_version, IOPKT_DRIVER_ABI_VERSION);
  EXPECT_STREQ(module().driver->name, "tap");
  EXPECT_NE(module().driver->description, nullptr);
  uint64_t not_a_softc[4] = {};  // as large as the magic the module checks
  iopkt_tap_stats s{};
  EXPECT_EQ(module().get_stats(not_a_softc, &s), -EINVAL);
}

TEST_F(TapModuleTest, RefusesUnknownMissingAndMalformedOptions) {
  struct Case {
    const char* options;
    const char* named;  // the message must contain this
  };
  const Case cases[] = {
      {"", "ifname="},
      {"persist,up", "ifname="},
      {"bogus=1", "'bogus'"},
      {"ifname=tapz0,bogus", "'bogus'"},
      {"ifname=", "ifname="},
      {"ifname", "'ifname'"},
      {"ifname=abcdefghijklmnop", "ifname="},
      {"ifname=a/b", "ifname="},
      {"ifname=a:b", "ifname="},
      {"ifname=a b", "ifname="},
      {"ifname=..", "ifname="},
      {"fd=x", "fd="},
      {"fd=-1", "fd="},
      {"fd=", "fd="},
      {"ifname=tapz0,fd=3", "exclude"},
      {"ifname=tapz0,qlen=0", "qlen="},
      {"ifname=tapz0,qlen=70000", "qlen="},
      {"ifname=tapz0,qlen=1k", "qlen="},
      {"ifname=tapz0,persist=1", "'persist'"},
      {"ifname=tapz0,vnet_hdr=yes", "'vnet_hdr'"},
      {"ifname=tapz0,up=1", "'up'"},
  };
  for (const Case& c : cases) {
    FakeIf* fi = nullptr;
    std::string err;
    EXPECT_EQ(host_.attach(c.options, &fi, &err), -EINVAL) << c.options;
    EXPECT_EQ(fi, nullptr) << c.options;
    EXPECT_NE(err.find(c.named), std::string::npos) << c.options << ": " << err;
  }
}

TEST_F(TapModuleTest, RefusesAnFdThatIsNotATapAndLeavesItOpen) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  FakeIf* fi = nullptr;
  std::string err;
  EXPECT_EQ(host_.attach("fd=" + std::to_string(p[0]), &fi, &err), -EINVAL);
  EXPECT_EQ(fi, nullptr);
  EXPECT_NE(err.find("not a TUN/TAP"), std::string::npos) << err;
  EXPECT_GE(fcntl(p[0], F_GETFD), 0);  // still the caller's
  close(p[0]);
  close(p[1]);
  EXPECT_LT(host_.attach("fd=999999", &fi, &err), 0);
  EXPECT_NE(err.find("fd=999999"), std::string::npos) << err;
}

// --- tests in a network namespace of their own ---------------------------------

class TapTest : public TapModuleTest {
 protected:
  void SetUp() override {
    TapModuleTest::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root: creates TAP devices and network namespaces";
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "/dev/net/tun is missing";
    }
    std::string err;
    if (!ns_.create(&err)) {
      GTEST_SKIP() << "cannot create a network namespace: " << err;
    }
  }

  void TearDown() override { ports_.clear(); }  // detach before the namespace goes

  // Call inside ns_.run(). Fails the test when the module refuses.
  Port* attach(const std::string& options, FakeHost* host = nullptr) {
    FakeIf* fi = nullptr;
    std::string err;
    int rc = (host != nullptr ? host : &host_)->attach(options, &fi, &err);
    EXPECT_EQ(rc, 0) << options << ": " << err;
    if (rc != 0 || fi == nullptr) {
      return nullptr;
    }
    ports_.push_back(std::make_unique<Port>(fi));
    return ports_.back().get();
  }

  void detach(Port* p) {
    for (auto it = ports_.begin(); it != ports_.end(); ++it) {
      if (it->get() == p) {
        ports_.erase(it);
        return;
      }
    }
  }

  bool link_exists(const std::string& ifname, std::string* out = nullptr) {
    std::string text;
    int rc = ns_.ip("link show dev " + ifname, &text);
    if (out != nullptr) {
      *out = text;
    }
    return rc == 0;
  }

  // Runs body in the namespace; fails the test if it could not get there.
  void in_ns(const std::function<void()>& body) { ASSERT_TRUE(ns_.run(body)) << ns_.name(); }

  static std::string next_tag() {
    static std::atomic<int> counter{0};
    return std::to_string(counter++);
  }

  NetNs ns_{"iopkt-tap-test-", next_tag()};
  std::vector<std::unique_ptr<Port>> ports_;
};

TEST_F(TapTest, AttachCreatesAnEthernetTapAndDetachRemovesIt) {
  in_ns([&] {
    Port* p = attach("ifname=tapt0,qlen=500");
    ASSERT_NE(p, nullptr);
    const iopkt_if_desc& d = p->fake()->desc;
    EXPECT_EQ(p->fake()->prefix, "en");
    EXPECT_EQ(d.unit, -1);
    EXPECT_EQ(d.link_type, uint32_t{IOPKT_LINK_ETHER});
    EXPECT_EQ(d.mtu, 1500u);
    EXPECT_EQ(d.max_mtu, 65521u);
    EXPECT_EQ(d.flags, IOPKT_IFF_BROADCAST | IOPKT_IFF_MULTICAST | IOPKT_IFF_SIMPLEX);
    EXPECT_EQ(d.caps, 0u);
    EXPECT_EQ(d.n_rx_queues, 1u);
    EXPECT_GE(d.rx_fd[0], 0);
    EXPECT_EQ(d.rx_fd[1], -1);
    EXPECT_EQ(d.mac[0] & 0x03, 0x02);  // unicast, locally administered
    EXPECT_EQ(p->fake()->link.load(), 1);
    EXPECT_NE(fcntl(d.rx_fd[0], F_GETFL) & O_NONBLOCK, 0);

    iopkt_tap_stats s = p->stats();
    EXPECT_EQ(s.struct_size, sizeof(iopkt_tap_stats));
    EXPECT_STREQ(s.linux_name, "tapt0");
    EXPECT_EQ(s.linux_ifindex, if_nametoindex("tapt0"));
    EXPECT_EQ(s.created, 1u);
    EXPECT_EQ(s.persist, 0u);
    EXPECT_EQ(s.vnet_hdr, 0u);
    EXPECT_EQ(s.mtu, 1500u);

    std::string text;
    ASSERT_TRUE(link_exists("tapt0", &text)) << text;
    EXPECT_NE(text.find("mtu 1500"), std::string::npos) << text;
    EXPECT_NE(text.find("qlen 500"), std::string::npos) << text;

    // Held: a second attach of the same TAP is refused.
    FakeHost other(module().driver);
    FakeIf* fi = nullptr;
    std::string err;
    EXPECT_LT(other.attach("ifname=tapt0", &fi, &err), 0);
    EXPECT_NE(err.find("another process"), std::string::npos) << err;

    Mac first = p->mac();
    detach(p);
    EXPECT_FALSE(link_exists("tapt0"));

    // The address depends on the name only: the same on the next attach.
    Port* again = attach("ifname=tapt0");
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->mac(), first);
    Port* other_name = attach("ifname=tapt1");
    ASSERT_NE(other_name, nullptr);
    EXPECT_NE(other_name->mac(), first);
  });
}

TEST_F(TapTest, PersistLeavesTheTapAndAFoundTapIsLeftToo) {
  in_ns([&] {
    Port* p = attach("ifname=tapp0,persist");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->stats().created, 1u);
    EXPECT_EQ(p->stats().persist, 1u);
    detach(p);
    EXPECT_TRUE(link_exists("tapp0"));

    p = attach("ifname=tapp0");  // found, not created
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->stats().created, 0u);
    detach(p);
    EXPECT_TRUE(link_exists("tapp0"));

    // One made by iproute2.
    ASSERT_EQ(ns_.ip("tuntap add mode tap name tapq0"), 0);
    p = attach("ifname=tapq0");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->stats().created, 0u);
    detach(p);
    EXPECT_TRUE(link_exists("tapq0"));
  });
}

TEST_F(TapTest, RefusesANameTakenByAnotherKindOfDevice) {
  ASSERT_EQ(ns_.ip("link add ve0 type veth peer name ve1"), 0);
  ASSERT_EQ(ns_.ip("tuntap add mode tun name tun0"), 0);
  in_ns([&] {
    FakeIf* fi = nullptr;
    std::string err;
    EXPECT_EQ(host_.attach("ifname=ve0", &fi, &err), -EINVAL);
    EXPECT_EQ(fi, nullptr);
    EXPECT_NE(err.find("ve0 exists and is not a TAP"), std::string::npos) << err;
    EXPECT_EQ(host_.attach("ifname=tun0", &fi, &err), -EINVAL);
    EXPECT_NE(err.find("TUN"), std::string::npos) << err;
  });
  EXPECT_TRUE(link_exists("ve0"));
  EXPECT_TRUE(link_exists("tun0"));
}

TEST_F(TapTest, ARefusalByTheStackLeavesNoTapBehind) {
  in_ns([&] {
    host_.refuse_next = true;
    FakeIf* fi = nullptr;
    std::string err;
    EXPECT_LT(host_.attach("ifname=tapr0,persist,up", &fi, &err), 0);
    EXPECT_NE(err.find("refused"), std::string::npos) << err;
  });
  EXPECT_FALSE(link_exists("tapr0"));
}

TEST_F(TapTest, AdoptsAnInheritedTapFd) {
  in_ns([&] {
    int tun = open_tun("tunfd0", IFF_TUN | IFF_NO_PI);
    int plain = open_tun("tapfd0", IFF_TAP | IFF_NO_PI);
    ASSERT_GE(tun, 0);
    ASSERT_GE(plain, 0);
    FakeIf* fi = nullptr;
    std::string err;
    EXPECT_EQ(host_.attach("fd=" + std::to_string(tun), &fi, &err), -EINVAL);
    EXPECT_NE(err.find("TUN device, not a TAP"), std::string::npos) << err;
    EXPECT_EQ(host_.attach("fd=" + std::to_string(plain) + ",vnet_hdr", &fi, &err), -EINVAL);
    EXPECT_NE(err.find("IFF_VNET_HDR"), std::string::npos) << err;
    close(tun);

    Port* p = attach("fd=" + std::to_string(plain) + ",up");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->fd(), plain);
    iopkt_tap_stats s = p->stats();
    EXPECT_STREQ(s.linux_name, "tapfd0");
    EXPECT_EQ(s.created, 0u);
    EXPECT_NE(fcntl(plain, F_GETFL) & O_NONBLOCK, 0);

    // It carries frames.
    PacketSocket ps(if_nametoindex("tapfd0"));
    ASSERT_TRUE(ps.ok());
    Bytes f = test_frame(Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, p->mac(), 7, 100);
    EXPECT_EQ(p->send({f}), 1);
    auto got = ps.collect(is_test_frame, 1, 2000);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], f);

    // The fd is the driver's now: closed at detach, and the TAP (not
    // persistent, held by nobody else) goes with it.
    detach(p);
    EXPECT_FALSE(link_exists("tapfd0"));
  });
}

TEST_F(TapTest, FramesCrossBetweenTheStackAndAPacketSocketByteExact) {
  in_ns([&] {
    Port* p = attach("ifname=tapx0,up");
    ASSERT_NE(p, nullptr);
    PacketSocket ps(if_nametoindex("tapx0"));
    ASSERT_TRUE(ps.ok());
    Mac lmac = linux_mac("tapx0");

    // Stack -> Linux.
    std::vector<Bytes> out = {test_frame(lmac, p->mac(), 1, 60),
                              test_frame(lmac, p->mac(), 2, 1000),
                              test_frame(lmac, p->mac(), 3, 1514)};
    EXPECT_EQ(p->send(out), 3);
    auto seen = ps.collect(is_test_frame, 3, 3000);
    EXPECT_EQ(seen, out);

    // Linux -> stack: rx_fd turns readable.
    std::vector<Bytes> in = {test_frame(p->mac(), lmac, 11, 60),
                             test_frame(p->mac(), lmac, 12, 700),
                             test_frame(p->mac(), lmac, 13, 1514)};
    for (const auto& f : in) {
      ASSERT_TRUE(ps.send(f));
    }
    pollfd pfd{p->fd(), POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 2000), 1);
    auto got = p->collect(is_test_frame, 3, 3000);
    EXPECT_EQ(got, in);

    // A frame longer than the stack's buffer is dropped whole and counted.
    uint64_t too_long = p->stats().rx_too_long;
    ASSERT_TRUE(ps.send(test_frame(p->mac(), lmac, 21, 1000)));
    ASSERT_TRUE(ps.send(test_frame(p->mac(), lmac, 22, 100)));
    got = p->collect(is_test_frame, 1, 3000, 600);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], test_frame(p->mac(), lmac, 22, 100));
    EXPECT_EQ(p->stats().rx_too_long, too_long + 1);

    // Nothing left: a burst on an empty TAP returns 0, not an error.
    std::vector<Bytes> none;
    for (int i = 0; i < 3; ++i) {
      EXPECT_GE(p->burst(&none), 0);
    }

    // Too short to be Ethernet: counted, not written.
    EXPECT_EQ(p->send({Bytes(10, 0xab)}), 1);
    EXPECT_EQ(p->stats().tx_bad_len, 1u);
    EXPECT_GE(p->stats().tx_frames, 3u);
    EXPECT_GE(p->stats().rx_frames, 4u);
  });
}

TEST_F(TapTest, TheKernelAnswersArpAndItsUdpArrivesIntact) {
  in_ns([&] {
    Port* p = attach("ifname=tapa0,up");
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(ns_.ip("addr add 192.0.2.1/24 dev tapa0"), 0);
    Mac me = p->mac();
    Mac lmac = linux_mac("tapa0");

    ASSERT_EQ(p->send({arp_request(me.data(), kStackIp, kLinuxIp)}), 1);
    auto replies = p->collect(
        [&](const Bytes& f) {
          return f.size() >= 42 && be16(&f[12]) == kEtherArp && be16(&f[20]) == 2 &&
                 be32(&f[28]) == kLinuxIp;
        },
        1, 3000);
    ASSERT_EQ(replies.size(), 1u) << "no ARP reply from the kernel";
    const Bytes& r = replies[0];
    EXPECT_TRUE(std::equal(me.begin(), me.end(), r.begin()));           // to us
    EXPECT_TRUE(std::equal(lmac.begin(), lmac.end(), r.begin() + 22));  // sha: the TAP
    EXPECT_TRUE(std::equal(me.begin(), me.end(), r.begin() + 32));      // tha: us
    EXPECT_EQ(be32(&r[38]), kStackIp);
    // The kernel learnt us from the request.
    std::string neigh;
    ns_.ip("neigh show 192.0.2.2 dev tapa0", &neigh);
    EXPECT_NE(neigh.find(mac_text(me.data())), std::string::npos) << neigh;

    // UDP from a Linux socket to us arrives byte-exact with a valid checksum.
    ASSERT_EQ(ns_.ip("neigh replace 192.0.2.2 lladdr " + mac_text(me.data()) + " dev tapa0"), 0);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    const char msg[] = "through the tap, intact";
    sockaddr_in to = sin_of(kStackIp, 7);
    ASSERT_EQ(sendto(s, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(sizeof msg));
    close(s);
    auto udp = p->collect(
        [](const Bytes& f) {
          auto ip = Ipv4Frame::parse(f);
          return ip && ip->proto == kProtoUdp && ip->dst == kStackIp;
        },
        1, 3000);
    ASSERT_EQ(udp.size(), 1u);
    auto ip = Ipv4Frame::parse(udp[0]);
    ASSERT_TRUE(ip);
    EXPECT_TRUE(std::equal(me.begin(), me.end(), udp[0].begin()));
    EXPECT_EQ(ip->src, kLinuxIp);
    EXPECT_TRUE(ip->header_csum_ok());
    EXPECT_TRUE(ip->l4_csum_ok());
    EXPECT_EQ(be16(ip->l4 + 2), 7);
    ASSERT_EQ(ip->l4_len, 8 + sizeof msg);
    EXPECT_EQ(memcmp(ip->l4 + 8, msg, sizeof msg), 0);
  });
}

TEST_F(TapTest, MtuChangesReachLinuxAndJumboFramesCross) {
  in_ns([&] {
    Port* p = attach("ifname=tapm0,up");
    ASSERT_NE(p, nullptr);
    const iopkt_if_ops* ops = p->fake()->ops;
    void* sc = p->fake()->softc;
    EXPECT_EQ(ops->set_mtu(sc, 9000), 0);
    std::string text;
    ASSERT_TRUE(link_exists("tapm0", &text));
    EXPECT_NE(text.find("mtu 9000 "), std::string::npos) << text;
    EXPECT_EQ(p->stats().mtu, 9000u);
    EXPECT_EQ(ops->set_mtu(sc, 65522), -EINVAL);
    EXPECT_EQ(ops->set_mtu(sc, 67), -EINVAL);
    EXPECT_EQ(p->stats().mtu, 9000u);

    PacketSocket ps(if_nametoindex("tapm0"));
    ASSERT_TRUE(ps.ok());
    Mac lmac = linux_mac("tapm0");
    Bytes out = test_frame(lmac, p->mac(), 1, 9014);
    EXPECT_EQ(p->send({out}), 1);
    auto seen = ps.collect(is_test_frame, 1, 3000);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0], out);
    Bytes in = test_frame(p->mac(), lmac, 2, 9014);
    ASSERT_TRUE(ps.send(in));
    auto got = p->collect(is_test_frame, 1, 3000);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], in);

    EXPECT_EQ(ops->set_mtu(sc, 65521), 0);
    ASSERT_TRUE(link_exists("tapm0", &text));
    EXPECT_NE(text.find("mtu 65521 "), std::string::npos) << text;
  });
}

TEST_F(TapTest, QuiesceStopsFramesBothWays) {
  in_ns([&] {
    Port* p = attach("ifname=tapk0,up");
    ASSERT_NE(p, nullptr);
    PacketSocket ps(if_nametoindex("tapk0"));
    ASSERT_TRUE(ps.ok());
    p->fake()->ops->quiesce(p->fake()->softc);
    EXPECT_EQ(p->stats().quiesced, 1u);
    Mac lmac = linux_mac("tapk0");
    EXPECT_EQ(p->send({test_frame(lmac, p->mac(), 1, 100)}), 0);
    EXPECT_TRUE(ps.collect(is_test_frame, 1, 300).empty());
    ASSERT_TRUE(ps.send(test_frame(p->mac(), lmac, 2, 100)));
    std::vector<Bytes> got;
    EXPECT_EQ(p->burst(&got), 0);
    EXPECT_EQ(p->stats().tx_frames, 0u);
  });
}

TEST_F(TapTest, FramesToADownLinuxSideAreTakenAndCounted) {
  in_ns([&] {
    Port* p = attach("ifname=tapd0");  // no `up`
    ASSERT_NE(p, nullptr);
    Mac lmac = linux_mac("tapd0");
    EXPECT_EQ(p->send({test_frame(lmac, p->mac(), 1, 100), test_frame(lmac, p->mac(), 2, 100)}), 2);
    iopkt_tap_stats s = p->stats();
    EXPECT_EQ(s.tx_link_down + s.tx_frames, 2u);
    EXPECT_EQ(s.tx_errors, 0u);
    EXPECT_EQ(s.tx_full, 0u);
  });
}

// --- vnet_hdr: the kernel's offloads, undone in software ------------------------

class TapVnetTest : public TapTest {
 protected:
  // A TAP with vnet_hdr, 192.0.2.1/24 on the Linux side, and a static
  // neighbour entry for us at 192.0.2.2. Call inside in_ns().
  Port* setup(const std::string& ifname) {
    Port* p = attach("ifname=" + ifname + ",vnet_hdr,up");
    if (p == nullptr) {
      return nullptr;
    }
    EXPECT_EQ(p->stats().vnet_hdr, 1u);
    EXPECT_EQ(ns_.ip("addr add 192.0.2.1/24 dev " + ifname), 0);
    EXPECT_EQ(
        ns_.ip("neigh replace 192.0.2.2 lladdr " + mac_text(p->mac().data()) + " dev " + ifname),
        0);
    return p;
  }

  static bool is_udp_to_us(const Bytes& f) {
    auto ip = Ipv4Frame::parse(f);
    return ip && ip->proto == kProtoUdp && ip->dst == kStackIp;
  }
};

TEST_F(TapVnetTest, PartialUdpChecksumsAreCompleted) {
  in_ns([&] {
    Port* p = setup("tapv0");
    ASSERT_NE(p, nullptr);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    Bytes payload(300);
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<uint8_t>(i * 13 + 1);
    }
    sockaddr_in to = sin_of(kStackIp, 9);
    ASSERT_EQ(
        sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
        static_cast<ssize_t>(payload.size()));
    close(s);
    auto got = p->collect(is_udp_to_us, 1, 3000);
    ASSERT_EQ(got.size(), 1u);
    auto ip = Ipv4Frame::parse(got[0]);
    ASSERT_TRUE(ip);
    EXPECT_TRUE(ip->header_csum_ok());
    EXPECT_TRUE(ip->l4_csum_ok());
    ASSERT_EQ(ip->l4_len, 8 + payload.size());
    EXPECT_EQ(memcmp(ip->l4 + 8, payload.data(), payload.size()), 0);
    // The TAP offered checksum offload, so the kernel left it to us.
    EXPECT_GE(p->stats().rx_csum_completed, 1u);
    EXPECT_EQ(p->stats().rx_bad_vnet, 0u);
  });
}

TEST_F(TapVnetTest, UdpSegmentationOffloadIsCutIntoDatagrams) {
  in_ns([&] {
    Port* p = setup("tapv1");
    ASSERT_NE(p, nullptr);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    int seg = 1000;
    ASSERT_EQ(setsockopt(s, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg), 0);
    Bytes payload(4500);
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<uint8_t>(i * 7 + i / 256);
    }
    sockaddr_in to = sin_of(kStackIp, 9);
    ASSERT_EQ(
        sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
        static_cast<ssize_t>(payload.size()));
    close(s);
    auto got = p->collect(is_udp_to_us, 5, 3000);
    ASSERT_EQ(got.size(), 5u);
    Bytes joined;
    for (size_t i = 0; i < got.size(); ++i) {
      auto ip = Ipv4Frame::parse(got[i]);
      ASSERT_TRUE(ip);
      EXPECT_TRUE(ip->header_csum_ok()) << i;
      EXPECT_TRUE(ip->l4_csum_ok()) << i;
      size_t want = i < 4 ? 1000 : 500;
      ASSERT_EQ(ip->l4_len, 8 + want) << i;
      EXPECT_EQ(be16(ip->l4 + 4), 8 + want) << i;
      joined.insert(joined.end(), ip->l4 + 8, ip->l4 + ip->l4_len);
    }
    EXPECT_EQ(joined, payload);
    iopkt_tap_stats st = p->stats();
    EXPECT_EQ(st.rx_bad_vnet, 0u);
    if (kernel_at_least(6, 2)) {  // TUN_F_USO4: the kernel handed us one super-frame
      EXPECT_EQ(st.rx_gso_frames, 1u);
      EXPECT_EQ(st.rx_gso_segments, 5u);
    }
  });
}

// The kernel only sends TCP super-frames on an established connection, so
// the test plays the far end by hand: it answers Linux's SYN with a SYN-ACK
// through tx_burst and ACKs whatever arrives, in order. 256 KiB cross; every
// frame the stack would see must be at most 1514 bytes with valid IPv4 and
// TCP checksums, and the bytes must be the ones Linux sent.
TEST_F(TapVnetTest, TcpSuperFramesAreCutIntoValidSegments) {
  in_ns([&] {
    Port* p = setup("tapv2");
    ASSERT_NE(p, nullptr);
    Mac me = p->mac();
    Mac lmac = linux_mac("tapv2");
    constexpr uint16_t kPort = 5001;
    constexpr uint32_t kOurIsn = 0x10000;

    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(s, 0);
    sockaddr_in to = sin_of(kStackIp, kPort);
    ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to), -1);
    ASSERT_EQ(errno, EINPROGRESS);

    auto is_ours = [&](const Bytes& f) {
      auto ip = Ipv4Frame::parse(f);
      return ip && ip->proto == kProtoTcp && ip->dst == kStackIp && ip->l4_len >= 20 &&
             be16(ip->l4 + 2) == kPort;
    };
    auto syns = p->collect(is_ours, 1, 3000);
    ASSERT_EQ(syns.size(), 1u);
    auto syn = Ipv4Frame::parse(syns[0]);
    ASSERT_TRUE(syn);
    ASSERT_EQ(syn->l4[13] & (kTcpSyn | kTcpAck), kTcpSyn);
    EXPECT_TRUE(syn->l4_csum_ok());
    uint16_t sport = be16(syn->l4);
    uint32_t expected = be32(syn->l4 + 4) + 1;  // Linux's next sequence number

    L4Spec spec{.src4 = kStackIp,
                .dst4 = kLinuxIp,
                .sport = kPort,
                .dport = sport,
                .seq = kOurIsn,
                .ack = expected,
                .flags = kTcpSyn | kTcpAck,
                .ip_id = 0,
                .tcp_options = {2, 4, 1460 >> 8, 1460 & 0xff}};  // MSS 1460
    auto tcp_frame = [&](const L4Spec& t) { return ip_frame(lmac.data(), me.data(), t, {}); };
    ASSERT_EQ(p->send({tcp_frame(spec)}), 1);
    pollfd pw{s, POLLOUT, 0};
    ASSERT_EQ(poll(&pw, 1, 3000), 1);
    int soerr = -1;
    socklen_t sl = sizeof soerr;
    ASSERT_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl), 0);
    ASSERT_EQ(soerr, 0);

    constexpr size_t kTotal = 256 * 1024;
    Bytes data(kTotal);
    for (size_t i = 0; i < kTotal; ++i) {
      data[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
    }
    size_t sent = 0;
    size_t received = 0;
    size_t frames = 0, too_big = 0, bad_ip_csum = 0, bad_tcp_csum = 0, mismatched = 0;
    spec.tcp_options.clear();
    spec.seq = kOurIsn + 1;
    spec.flags = kTcpAck;
    int64_t deadline = now_ms() + 20000;
    for (int iter = 0; iter < 200000 && received < kTotal && now_ms() < deadline; ++iter) {
      if (sent < kTotal) {
        ssize_t n = send(s, data.data() + sent, kTotal - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          sent += static_cast<size_t>(n);
        }
      }
      pollfd pr{p->fd(), POLLIN, 0};
      int kicks = p->fake()->kicks.load();
      if (poll(&pr, 1, 20) <= 0 && p->fake()->kicks.load() == kicks) {
        continue;
      }
      std::vector<Bytes> got;
      p->burst(&got, 64, 1514 + 4);  // the stack's buffers at MTU 1500
      bool any = false;
      for (const Bytes& f : got) {
        if (!is_ours(f)) {
          continue;
        }
        any = true;
        ++frames;
        auto ip = Ipv4Frame::parse(f);
        too_big += f.size() > 1514 ? 1 : 0;
        bad_ip_csum += ip->header_csum_ok() ? 0 : 1;
        bad_tcp_csum += ip->l4_csum_ok() ? 0 : 1;
        size_t doff = static_cast<size_t>(ip->l4[12] >> 4) * 4;
        size_t len = ip->l4_len - doff;
        if (len > 0 && be32(ip->l4 + 4) == expected && received + len <= kTotal) {
          mismatched += memcmp(ip->l4 + doff, data.data() + received, len) == 0 ? 0 : 1;
          received += len;
          expected += static_cast<uint32_t>(len);
        }
      }
      if (any) {
        spec.ack = expected;
        p->send({tcp_frame(spec)});
      }
    }
    close(s);
    EXPECT_EQ(received, kTotal);
    EXPECT_EQ(too_big, 0u);
    EXPECT_EQ(bad_ip_csum, 0u);
    EXPECT_EQ(bad_tcp_csum, 0u);
    EXPECT_EQ(mismatched, 0u);
    iopkt_tap_stats st = p->stats();
    EXPECT_GT(st.rx_gso_frames, 0u) << "the kernel sent no super-frame";
    EXPECT_GT(st.rx_gso_segments, st.rx_gso_frames);
    EXPECT_EQ(st.rx_bad_vnet, 0u);
    EXPECT_EQ(st.rx_too_long, 0u);
    RecordProperty("tcp_frames", static_cast<int>(frames));
    RecordProperty("gso_frames", static_cast<int>(st.rx_gso_frames));
  });
}

}  // namespace
}  // namespace iopkt::tap_test
