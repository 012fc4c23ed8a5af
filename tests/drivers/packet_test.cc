// tests/drivers/packet_test.cc — devnp-packet.so through its C ABI only,
// dlopen()ed like io-pkt does and driven by a fake host (support/
// fake_host.hh). Two groups:
//  - the frame finisher (iopkt_packet_finish_frame) on synthetic
//    super-frames and partial checksums (support/frames.hh): no privileges
//    needed;
//  - the driver on a veth pair between two network namespaces the test
//    creates (support/netns.hh; root only, skipped otherwise), with the
//    Linux peer at 192.0.2.1 and the driver's interface known to it as
//    192.0.2.2 through a static neighbour entry. The peer's offloads are
//    left at their defaults, so partial checksums and GSO super-frames
//    really arrive.
// The test process enters a namespace (setns) only around the calls that
// create sockets there; sockets keep their namespace, so gtest assertions
// stay in one process. Every wait is bounded.
#include "drivers/devnp-packet/packet.hh"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "drivers/support/fake_host.hh"
#include "drivers/support/frames.hh"
#include "drivers/support/netns.hh"
#include "iopkt/driver.h"

namespace {

using namespace iopkt::driver_test;

constexpr uint8_t kPeerIp[4] = {192, 0, 2, 1};
constexpr uint8_t kOurIp[4] = {192, 0, 2, 2};
constexpr uint32_t kOurIp4 = ipv4(192, 0, 2, 2);

struct Module : LoadedModule {
  Module() : LoadedModule("devnp-packet.so") {}
  iopkt_packet_get_stats_fn get_stats =
      symbol<iopkt_packet_get_stats_fn>(IOPKT_PACKET_GET_STATS_SYMBOL);
  iopkt_packet_finish_frame_fn finish =
      symbol<iopkt_packet_finish_frame_fn>(IOPKT_PACKET_FINISH_FRAME_SYMBOL);
};

const Module& module() {
  static const Module m;
  return m;
}

#define REQUIRE_MODULE()                                                        \
  do {                                                                          \
    ASSERT_TRUE(loaded(module()));                                              \
    ASSERT_NE(module().get_stats, nullptr) << "iopkt_packet_get_stats missing"; \
    ASSERT_NE(module().finish, nullptr) << "iopkt_packet_finish_frame missing"; \
  } while (0)

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0xa};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0xb};

// --- the frame finisher, no privileges -------------------------------------------

struct Finished {
  int rc = 0;
  std::vector<Bytes> frames;
  std::vector<uint8_t> flags;
};

Finished finish(const Bytes& f, iopkt_packet_rx_frame in, uint32_t cap = 2048, uint32_t n = 128) {
  in.data = f.data();
  in.len = static_cast<uint32_t>(f.size());
  if (in.mtu == 0) {
    in.mtu = 1500;
  }
  if (in.linux_mtu == 0) {
    in.linux_mtu = 1500;
  }
  std::vector<Bytes> bufs(n, Bytes(cap));
  std::vector<iopkt_pkt> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    out[i].data = bufs[i].data();
    out[i].cap = cap;
  }
  Finished r;
  r.rc = module().finish(&in, out.data(), n);
  for (int i = 0; i < r.rc; ++i) {
    r.frames.emplace_back(out[i].data, out[i].data + out[i].len);
    r.flags.push_back(out[i].meta.flags);
  }
  return r;
}

iopkt_packet_rx_frame vnet(uint8_t flags, uint8_t gso_type, uint16_t gso_size, uint16_t csum_start,
                           uint16_t csum_offset) {
  iopkt_packet_rx_frame in{};
  in.has_vnet = 1;
  in.vnet_flags = flags;
  in.vnet_gso_type = gso_type;
  in.vnet_gso_size = gso_size;
  in.vnet_csum_start = csum_start;
  in.vnet_csum_offset = csum_offset;
  return in;
}

// Checks a cut TCP super-frame: lengths, sequence numbers, flags, IDs,
// checksums, and that the payloads put together are the original.
void expect_tcp_segments(const Finished& r, const Bytes& payload, uint32_t seg, uint32_t seq0,
                         uint8_t flags, int ip_version, uint16_t id0) {
  size_t count = (payload.size() + seg - 1) / seg;
  ASSERT_EQ(r.rc, static_cast<int>(count));
  Bytes joined;
  for (size_t i = 0; i < count; ++i) {
    const Bytes& f = r.frames[i];
    size_t l3 = l3_offset(f);
    size_t l4 = l3 + (ip_version == 4 ? 20 : 40);
    size_t plen = std::min<size_t>(seg, payload.size() - i * seg);
    size_t thl = (f[l4 + 12] >> 4) * 4u;
    ASSERT_EQ(f.size(), l4 + thl + plen) << "segment " << i;
    if (ip_version == 4) {
      EXPECT_EQ(be16(&f[l3 + 2]), f.size() - l3);
      EXPECT_EQ(be16(&f[l3 + 4]), static_cast<uint16_t>(id0 + i)) << "IP ID of segment " << i;
      EXPECT_TRUE(ipv4_header_ok(f, l3)) << "segment " << i;
    } else {
      EXPECT_EQ(be16(&f[l3 + 4]), f.size() - l3 - 40);
    }
    EXPECT_EQ(be32(&f[l4 + 4]), static_cast<uint32_t>(seq0 + i * seg)) << "segment " << i;
    uint8_t want = flags;
    if (i + 1 < count) {
      want &= static_cast<uint8_t>(~0x09);  // FIN, PSH on the last only
    }
    if (i > 0) {
      want &= static_cast<uint8_t>(~0x80);  // CWR on the first only
    }
    EXPECT_EQ(f[l4 + 13], want) << "flags of segment " << i;
    EXPECT_TRUE(l4_checksum_ok(f)) << "segment " << i;
    EXPECT_EQ(r.flags[i], IOPKT_PKT_CSUM_VALID);
    joined.insert(joined.end(), f.begin() + static_cast<long>(l4 + thl), f.end());
  }
  EXPECT_EQ(joined, payload);
}

TEST(PacketFinish, Tcp4SuperFrameIsCutWithSeqFlagsIdsAndChecksums) {
  REQUIRE_MODULE();
  L4Spec s;
  s.flags = 0x80 | 0x10 | 0x08 | 0x01;  // CWR ACK PSH FIN
  s.seq = 0xfffff000;                   // wraps inside the frame
  s.ip_id = 0xfffe;                     // and so does the IP ID
  s.partial = true;
  s.tcp_options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};  // NOP NOP TS
  Bytes payload = pattern(5000, 1);
  Bytes f = ip_frame(kMacA, kMacB, s, payload);
  auto r = finish(f, vnet(1, 1, 1448, 34, 16));
  expect_tcp_segments(r, payload, 1448, s.seq, s.flags, 4, s.ip_id);
}

TEST(PacketFinish, Tcp6SuperFrameIsCut) {
  REQUIRE_MODULE();
  L4Spec s;
  s.ip_version = 6;
  s.flags = 0x10 | 0x01;  // ACK FIN
  s.partial = true;
  Bytes payload = pattern(4001, 2);
  Bytes f = ip_frame(kMacA, kMacB, s, payload);
  auto r = finish(f, vnet(1, 4, 1000, 54, 16));
  expect_tcp_segments(r, payload, 1000, s.seq, s.flags, 6, 0);
}

TEST(PacketFinish, TcpSegmentsShrinkToAnMtuBelowTheSendersMss) {
  REQUIRE_MODULE();
  L4Spec s;
  s.partial = true;
  Bytes payload = pattern(3000, 3);
  Bytes f = ip_frame(kMacA, kMacB, s, payload);
  iopkt_packet_rx_frame in = vnet(1, 1, 1460, 34, 16);
  in.mtu = 1000;  // 960 bytes of payload per segment
  auto r = finish(f, in);
  expect_tcp_segments(r, payload, 960, s.seq, s.flags, 4, s.ip_id);
  for (const auto& seg : r.frames) {
    EXPECT_LE(seg.size(), 1014u);
  }
}

TEST(PacketFinish, UdpGsoBecomesDatagrams) {
  REQUIRE_MODULE();
  for (int v : {4, 6}) {
    L4Spec s;
    s.ip_version = v;
    s.proto = 17;
    s.partial = true;
    Bytes payload = pattern(14000, 4);
    Bytes f = ip_frame(kMacA, kMacB, s, payload);
    auto r = finish(f, vnet(1, 5, 1400, v == 4 ? 34 : 54, 6));
    ASSERT_EQ(r.rc, 10) << "IPv" << v;
    Bytes joined;
    for (int i = 0; i < 10; ++i) {
      const Bytes& d = r.frames[static_cast<size_t>(i)];
      size_t l4 = l3_offset(d) + (v == 4 ? 20 : 40);
      ASSERT_EQ(d.size(), l4 + 8 + 1400);
      EXPECT_EQ(be16(&d[l4 + 4]), 1408);
      EXPECT_TRUE(l4_checksum_ok(d)) << "IPv" << v << " datagram " << i;
      if (v == 4) {
        EXPECT_TRUE(ipv4_header_ok(d, 14));
        EXPECT_EQ(be16(&d[18]), static_cast<uint16_t>(s.ip_id + i));
      }
      joined.insert(joined.end(), d.begin() + static_cast<long>(l4 + 8), d.end());
    }
    EXPECT_EQ(joined, payload);
  }
}

TEST(PacketFinish, PartialChecksumIsCompletedAndVlanTagRestored) {
  REQUIRE_MODULE();
  L4Spec s;
  s.partial = true;
  s.flags = 0x02;  // SYN
  Bytes f = ip_frame(kMacA, kMacB, s, {});
  EXPECT_FALSE(l4_checksum_ok(f));
  auto r = finish(f, vnet(1, 0, 0, 34, 16));
  ASSERT_EQ(r.rc, 1);
  EXPECT_TRUE(l4_checksum_ok(r.frames[0]));
  EXPECT_EQ(r.flags[0], IOPKT_PKT_CSUM_VALID);

  // Linux took tag 0x0123 out of the frame; csum_start counts without it.
  iopkt_packet_rx_frame in = vnet(1, 0, 0, 34, 16);
  in.tp_status = TP_STATUS_VLAN_VALID;
  in.vlan_tci = 0x0123;
  auto t = finish(f, in);
  ASSERT_EQ(t.rc, 1);
  const Bytes& g = t.frames[0];
  ASSERT_EQ(g.size(), f.size() + 4);
  EXPECT_EQ(be16(&g[12]), 0x8100);
  EXPECT_EQ(be16(&g[14]), 0x0123);
  EXPECT_EQ(be16(&g[16]), 0x0800);
  EXPECT_TRUE(l4_checksum_ok(g));

  // UDP: a sum of zero goes out as 0xffff (RFC 768), never as "none".
  // Choose the two payload bytes so that the complete checksum is 0.
  L4Spec u;
  u.proto = 17;
  u.partial = true;
  Bytes probe = ip_frame(kMacA, kMacB, u, Bytes(2));
  Bytes udp_hdr(probe.begin() + 34, probe.begin() + 42);
  udp_hdr[6] = udp_hdr[7] = 0;
  uint16_t base = fold(ones_sum(udp_hdr.data(), 8, pseudo_sum(probe, 14, 17, 10)));
  auto need = static_cast<uint16_t>(0xffff - base);
  Bytes z =
      ip_frame(kMacA, kMacB, u, {static_cast<uint8_t>(need >> 8), static_cast<uint8_t>(need)});
  auto zr = finish(z, vnet(1, 0, 0, 34, 6));
  ASSERT_EQ(zr.rc, 1);
  EXPECT_EQ(be16(&zr.frames[0][40]), 0xffff);
  EXPECT_TRUE(l4_checksum_ok(zr.frames[0]));
}

TEST(PacketFinish, RefusalsAreCounted) {
  REQUIRE_MODULE();
  L4Spec s;
  s.partial = true;
  Bytes big = ip_frame(kMacA, kMacB, s, pattern(3000, 5));
  EXPECT_EQ(finish(big, vnet(0, 0, 0, 0, 0)).rc, -EMSGSIZE) << "no GSO, longer than MTU";
  EXPECT_EQ(finish(big, vnet(1, 3, 1400, 34, 16)).rc, -EOPNOTSUPP) << "UFO";
  EXPECT_EQ(finish(big, vnet(1, 4, 1400, 34, 16)).rc, -EPROTO) << "TCPV6 on an IPv4 frame";
  EXPECT_EQ(finish(big, vnet(1, 1, 1400, 38, 16)).rc, -EPROTO) << "csum_start elsewhere";
  EXPECT_EQ(finish(big, vnet(1, 1, 1448, 34, 16), 2048, 2).rc, -ENOBUFS) << "3 frames, room for 2";
  Bytes runt(10);
  EXPECT_EQ(finish(runt, vnet(0, 0, 0, 0, 0)).rc, -EPROTO);
  L4Spec u;
  u.proto = 17;
  u.partial = true;
  Bytes dgram = ip_frame(kMacA, kMacB, u, pattern(3000, 6));
  iopkt_packet_rx_frame in = vnet(1, 5, 1400, 34, 6);
  in.mtu = 1200;  // a datagram is never cut smaller
  EXPECT_EQ(finish(dgram, in).rc, -EMSGSIZE);
  // An SCTP partial checksum is CRC32c: not ours to finish.
  Bytes sctp = ip_frame(kMacA, kMacB, u, pattern(40, 7));
  sctp[14 + 9] = 132;
  EXPECT_EQ(finish(sctp, vnet(1, 0, 0, 34, 8)).rc, -EOPNOTSUPP);
}

TEST(PacketFinish, WithoutVnetHeaderStatusBitsAndLengthAreUsed) {
  REQUIRE_MODULE();
  L4Spec s;
  s.partial = true;
  Bytes payload = pattern(6000, 8);
  Bytes f = ip_frame(kMacA, kMacB, s, payload);
  iopkt_packet_rx_frame in{};
  in.tp_status = TP_STATUS_CSUMNOTREADY;
  auto r = finish(f, in);
  expect_tcp_segments(r, payload, 1460, s.seq, s.flags, 4, s.ip_id);
  L4Spec u;
  u.proto = 17;
  u.partial = true;
  Bytes dgram = ip_frame(kMacA, kMacB, u, pattern(3000, 9));
  EXPECT_EQ(finish(dgram, in).rc, -EOPNOTSUPP) << "UDP GSO size is unknowable from tp_status";
  Bytes small = ip_frame(kMacA, kMacB, u, pattern(100, 10));
  auto sr = finish(small, in);
  ASSERT_EQ(sr.rc, 1);
  EXPECT_TRUE(l4_checksum_ok(sr.frames[0]));
}

TEST(PacketOptions, MalformedOptionsAreRefusedWithAMessage) {
  REQUIRE_MODULE();
  FakeHost host(module().driver);
  std::string err;
  for (const char* opts : {"", "promisc", "if=", "if=a/b", "if=0123456789abcdef", "if=x,bogus=1",
                           "if=x,blocksize=3000", "if=x,blocksize=32M", "if=x,frames=1",
                           "if=x,frames=100", "if=x,tov=0", "if=x,promisc=1", "if=x,tov"}) {
    EXPECT_EQ(host.attach(opts, nullptr, &err), -EINVAL) << opts;
    EXPECT_NE(err.find("packet:"), std::string::npos) << opts << ": " << err;
  }
  host.attach("promisc", nullptr, &err);
  EXPECT_NE(err.find("if="), std::string::npos) << err;
  host.attach("if=x,bogus=1", nullptr, &err);
  EXPECT_NE(err.find("bogus"), std::string::npos) << err;
}

// --- the driver on a veth pair ---------------------------------------------------

bool have_ip_tool() { return run_cmd({"ip", "-V"}) == 0; }

#define REQUIRE_ROOT_AND_IP()                                       \
  do {                                                              \
    if (geteuid() != 0) {                                           \
      GTEST_SKIP() << "needs root (network namespaces, AF_PACKET)"; \
    }                                                               \
    if (!have_ip_tool()) {                                          \
      GTEST_SKIP() << "needs the `ip` tool (iproute2)";             \
    }                                                               \
  } while (0)

class PacketLink : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_ROOT_AND_IP();
    REQUIRE_MODULE();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    veth_ = std::make_unique<VethPair>(
        std::to_string(std::hash<std::string>{}(std::string(info->name())) % 100000));
    std::string e = veth_->create();
    ASSERT_EQ(e, "") << "could not make the namespaces";
  }

  void TearDown() override {
    host_.detach_all();
    for (int fd : fds_) {
      close(fd);
    }
    if (veth_) {
      veth_->remove();
    }
  }

  // Attaches the driver to pa0 inside namespace A.
  int attach(const std::string& extra, std::string* err) {
    InNetns in(veth_->a());
    if (!in.ok()) {
      *err = "setns failed";
      return -1;
    }
    return host_.attach("if=pa0" + extra, &if_, err);
  }

  void attach_ok(const std::string& extra = "") {
    std::string err;
    ASSERT_EQ(attach(extra, &err), 0) << err;
    ASSERT_NE(if_, nullptr);
    memcpy(mac_, if_->desc.mac, 6);
    std::string mac = mac_text(mac_);
    std::string out;
    std::vector<std::string> cmd = {"ip",     "-n", veth_->b(), "neigh", "replace", "192.0.2.2",
                                    "lladdr", mac,  "dev",      "pb0",   "nud",     "permanent"};
    ASSERT_EQ(run_cmd(cmd, &out), 0) << out;
  }

  // A socket made in namespace B (the Linux peer), closed at TearDown.
  int peer_socket(int domain, int type, int proto) {
    InNetns in(veth_->b());
    int fd = in.ok() ? socket(domain, type | SOCK_CLOEXEC, proto) : -1;
    if (fd >= 0) {
      fds_.push_back(fd);
    }
    return fd;
  }

  iopkt_packet_stats stats() { return read_stats(module().get_stats, if_); }

  int send(const std::vector<Bytes>& frames) { return if_->send(frames); }

  // Reads frames into `got` until done(got) or timeout; every frame read
  // is also checked against the link's limits.
  bool receive_until(const std::function<bool()>& done, int timeout_ms) {
    const int64_t deadline = now_ms() + timeout_ms;
    constexpr uint32_t kBurst = 32;
    const uint32_t cap = if_->desc.max_mtu + 18;
    while (!done()) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        return false;
      }
      pollfd p{if_->desc.rx_fd[0], POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 50)));
      for (int round = 0; round < 64; ++round) {
        size_t before = got.size();
        int n = if_->receive(&got, kBurst, cap);
        EXPECT_GE(n, 0);
        for (size_t i = before; i < got.size(); ++i) {
          EXPECT_LE(got[i].size(), if_->desc.mtu + 14u + (be16(&got[i][12]) == 0x8100 ? 4 : 0));
        }
        if (n < static_cast<int>(kBurst)) {
          break;
        }
      }
    }
    return true;
  }

  // Frames of `proto` (IPv4) from the peer.
  std::vector<Bytes> ipv4_from_peer(uint8_t proto) const {
    std::vector<Bytes> r;
    for (const auto& f : got) {
      if (f.size() >= 34 && be16(&f[12]) == 0x0800 && f[23] == proto &&
          memcmp(&f[26], kPeerIp, 4) == 0) {
        r.push_back(f);
      }
    }
    return r;
  }

  std::unique_ptr<VethPair> veth_;
  FakeHost host_{module().driver};
  FakeIf* if_ = nullptr;
  uint8_t mac_[6] = {};
  std::vector<Bytes> got;
  std::vector<int> fds_;
};

TEST_F(PacketLink, AttachRefusesLoopbackMissingAndNonEthernetInterfaces) {
  std::string err;
  EXPECT_EQ(attach("", &err), 0) << err;  // pa0 itself is fine
  host_.detach_all();
  {
    InNetns in(veth_->a());
    ASSERT_TRUE(in.ok());
    EXPECT_EQ(host_.attach("if=lo", nullptr, &err), -EINVAL);
    EXPECT_NE(err.find("loopback"), std::string::npos) << err;
    EXPECT_EQ(host_.attach("if=nosuch0", nullptr, &err), -ENODEV);
    EXPECT_NE(err.find("nosuch0"), std::string::npos) << err;
  }
  // A TUN device carries bare IP (ARPHRD_NONE), when the kernel has TUN.
  if (run_cmd({"ip", "-n", veth_->a(), "tuntap", "add", "dev", "tn0", "mode", "tun"}) == 0) {
    InNetns in(veth_->a());
    EXPECT_EQ(host_.attach("if=tn0", nullptr, &err), -EINVAL);
    EXPECT_NE(err.find("not an Ethernet"), std::string::npos) << err;
  }
}

TEST_F(PacketLink, DescribesTheLinuxInterfaceAndGuardsTheMtu) {
  attach_ok();
  EXPECT_STREQ(if_->desc.name_prefix, "en");
  EXPECT_EQ(if_->desc.link_type, IOPKT_LINK_ETHER);
  EXPECT_EQ(if_->desc.mtu, 1500u);
  EXPECT_EQ(if_->desc.max_mtu, 1500u);
  EXPECT_EQ(if_->desc.n_rx_queues, 1u);
  EXPECT_EQ(if_->desc.flags, IOPKT_IFF_BROADCAST | IOPKT_IFF_MULTICAST | IOPKT_IFF_SIMPLEX);
  EXPECT_EQ(if_->link.load(), 1) << "pa0 and pb0 are up: carrier";
  // The MAC is pa0's own.
  {
    InNetns in(veth_->a());
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    strcpy(ifr.ifr_name, "pa0");
    ASSERT_EQ(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
    close(s);
    EXPECT_EQ(memcmp(ifr.ifr_hwaddr.sa_data, mac_, 6), 0);
  }
  EXPECT_EQ(if_->ops->set_mtu(if_->softc, 1501), -EINVAL);
  EXPECT_TRUE(host_.logged("1501")) << "the refusal is explained in the log";
  EXPECT_EQ(if_->ops->set_mtu(if_->softc, 1400), 0);
  EXPECT_EQ(stats().mtu, 1400u);

  // Frames longer than the (lowered) MTU are dropped and counted.
  int u = peer_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  sockaddr_in to = sin_of(kOurIp4, 5009);
  Bytes big(1450);
  ASSERT_EQ(sendto(u, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            1450);
  EXPECT_TRUE(receive_until([&] { return stats().rx_too_long >= 1; }, 3000));
  EXPECT_TRUE(ipv4_from_peer(17).empty());
}

TEST_F(PacketLink, AttachLogsAndWarnsWhenLinuxHasAddressesOnTheInterface) {
  attach_ok();
  auto logged = [&](const std::string& what) { return host_.logged(what); };
  EXPECT_TRUE(logged("attached to Linux pa0")) << "attach says what it did";
  EXPECT_TRUE(logged("PACKET_VNET_HDR"));
  EXPECT_FALSE(logged("address")) << "pa0 has no addresses";
  host_.detach_all();
  host_.clear_logs();
  ASSERT_EQ(run_cmd({"ip", "-n", veth_->a(), "addr", "add", "192.0.2.9/24", "dev", "pa0"}), 0);
  attach_ok();
  EXPECT_TRUE(logged("IP address")) << "Linux would answer on the same MAC";
}

TEST_F(PacketLink, LinkDownIsReportedAndARemovedInterfaceStopsTheQueue) {
  attach_ok();
  ASSERT_EQ(if_->link.load(), 1);
  ASSERT_EQ(run_cmd({"ip", "-n", veth_->a(), "link", "set", "pa0", "down"}), 0);
  pollfd p{if_->desc.rx_fd[0], POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1) << "the socket error wakes the queue";
  uint8_t buf[2048];
  iopkt_pkt pkt{};
  pkt.data = buf;
  pkt.cap = sizeof buf;
  EXPECT_EQ(if_->ops->rx_burst(if_->softc, 0, &pkt, 1), 0);
  EXPECT_EQ(if_->link.load(), 0) << "carrier reported down";
  EXPECT_EQ(poll(&p, 1, 0), 0) << "the error was read: no busy loop";
  ASSERT_EQ(run_cmd({"ip", "-n", veth_->a(), "link", "set", "pa0", "up"}), 0);
  // Frames flowing again bring the carrier back: ping the peer's kernel.
  int u = peer_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  sockaddr_in to = sin_of(kOurIp4, 5010);
  auto deadline = now_ms() + 5000;
  while (if_->link.load() != 1 && now_ms() < deadline) {
    sendto(u, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    receive_until([&] { return if_->link.load() == 1; }, 100);
  }
  EXPECT_EQ(if_->link.load(), 1);
  ASSERT_EQ(run_cmd({"ip", "-n", veth_->a(), "link", "del", "pa0"}), 0);
  ASSERT_EQ(poll(&p, 1, 3000), 1);
  EXPECT_EQ(if_->ops->rx_burst(if_->softc, 0, &pkt, 1), -ENODEV);
  EXPECT_EQ(if_->link.load(), 0);
}

TEST_F(PacketLink, PromiscuousModeFollowsOptionAndFlags) {
  // The device's promiscuity count (SIOCGIFFLAGS shows only what
  // SIOCSIFFLAGS set, not packet socket memberships).
  auto linux_promisc = [&] {
    std::string out;
    run_cmd({"ip", "-n", veth_->a(), "-d", "link", "show", "pa0"}, &out);
    return out.find("promiscuity 0") == std::string::npos &&
           out.find("promiscuity ") != std::string::npos;
  };
  attach_ok();
  EXPECT_EQ(stats().promisc, 0u);
  EXPECT_FALSE(linux_promisc());
  EXPECT_EQ(if_->ops->set_flags(if_->softc, IOPKT_IFF_UP | IOPKT_IFF_PROMISC), 0);
  EXPECT_TRUE(linux_promisc());
  EXPECT_EQ(if_->ops->set_flags(if_->softc, IOPKT_IFF_UP), 0);
  EXPECT_FALSE(linux_promisc());
  host_.detach_all();
  attach_ok(",promisc");
  EXPECT_EQ(stats().promisc, 1u);
  EXPECT_TRUE(linux_promisc());
  EXPECT_EQ(if_->ops->set_flags(if_->softc, IOPKT_IFF_UP), 0);
  EXPECT_TRUE(linux_promisc()) << "the option keeps it on";
  host_.detach_all();
  EXPECT_FALSE(linux_promisc()) << "closing the socket drops the membership";
  // The stack's mac= override: frames to the new address must come in.
  attach_ok();
  ASSERT_NE(if_->ops->set_lladdr, nullptr);
  const uint8_t other[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  EXPECT_EQ(if_->ops->set_lladdr(if_->softc, other), 0);
  EXPECT_TRUE(linux_promisc());
  EXPECT_EQ(if_->ops->set_flags(if_->softc, IOPKT_IFF_UP), 0);
  EXPECT_TRUE(linux_promisc()) << "a foreign MAC keeps it on";
  EXPECT_EQ(if_->ops->set_lladdr(if_->softc, mac_), 0);
  EXPECT_FALSE(linux_promisc()) << "back to the Linux interface's own MAC";
}

TEST_F(PacketLink, TransmittedFramesReachThePeerAndItsKernelAnswersArp) {
  attach_ok();
  int tap = peer_socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
  ASSERT_GE(tap, 0);
  {
    InNetns in(veth_->b());
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = static_cast<int>(if_nametoindex("pb0"));
    ASSERT_EQ(bind(tap, reinterpret_cast<sockaddr*>(&sll), sizeof sll), 0);
  }
  Bytes arp = arp_request(mac_, ipv4(192, 0, 2, 2), ipv4(192, 0, 2, 1));
  arp.resize(60, 0);  // Ethernet's minimum
  ASSERT_EQ(send({arp}), 1);
  EXPECT_EQ(stats().tx_frames, 1u);

  // The peer's packet tap sees our frame byte for byte.
  pollfd p{tap, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1);
  Bytes seen(2048);
  ssize_t n = recv(tap, seen.data(), seen.size(), 0);
  ASSERT_EQ(n, 60);
  seen.resize(60);
  EXPECT_EQ(seen, arp);

  // The peer's kernel answers: is-at, to us.
  auto reply = [&]() -> const Bytes* {
    for (const auto& f : got) {
      if (f.size() >= 42 && be16(&f[12]) == 0x0806 && be16(&f[20]) == 2 &&
          memcmp(&f[28], kPeerIp, 4) == 0 && memcmp(&f[38], kOurIp, 4) == 0) {
        return &f;
      }
    }
    return nullptr;
  };
  ASSERT_TRUE(receive_until([&] { return reply() != nullptr; }, 3000)) << "no ARP reply";
  EXPECT_EQ(memcmp(&(*reply())[0], mac_, 6), 0);
  EXPECT_EQ(stats().rx_outgoing, 0u) << "Linux in namespace A sends nothing on pa0";
}

TEST_F(PacketLink, FragmentsOfALargeUdpDatagramArriveByteExact) {
  attach_ok();
  int u = peer_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  sockaddr_in to = sin_of(kOurIp4, 5001);
  Bytes data = pattern(4000, 11);
  ASSERT_EQ(sendto(u, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            4000);
  // Put the datagram back together from the fragments' offsets.
  Bytes dgram(4008);
  size_t covered = 0;
  auto done = [&] {
    covered = 0;
    for (const auto& f : ipv4_from_peer(17)) {
      covered += be16(&f[16]) - 20u;
    }
    return covered >= 4008;
  };
  ASSERT_TRUE(receive_until(done, 3000)) << covered << " of 4008 bytes";
  auto frags = ipv4_from_peer(17);
  ASSERT_EQ(frags.size(), 3u);
  for (const auto& f : frags) {
    EXPECT_LE(f.size(), 1514u);
    EXPECT_TRUE(ipv4_header_ok(f, 14));
    EXPECT_EQ(be16(&f[18]), be16(&frags[0][18])) << "one datagram";
    size_t off = (be16(&f[20]) & 0x1fffu) * 8u;
    size_t len = be16(&f[16]) - 20u;
    ASSERT_LE(off + len, dgram.size());
    memcpy(&dgram[off], &f[34], len);
  }
  EXPECT_EQ(Bytes(dgram.begin() + 8, dgram.end()), data);
  EXPECT_EQ(be16(&dgram[4]), 4008);
  // UDP checksum over the whole datagram with its pseudo-header.
  Bytes hdr(frags[0].begin(), frags[0].begin() + 34);
  uint32_t ps = ones_sum(&hdr[26], 8) + 17 + 4008;
  EXPECT_EQ(fold(ones_sum(dgram.data(), dgram.size(), ps)), 0xffff);
}

// What the kernel leaves unfinished, read through the vnet header (default)
// or through tp_status (novnet).
class PacketOffload : public PacketLink, public ::testing::WithParamInterface<bool> {
 protected:
  std::string mode() const { return GetParam() ? "" : ",novnet"; }
};

TEST_P(PacketOffload, SynWithPartialChecksumArrivesValid) {
  attach_ok(mode());
  EXPECT_EQ(stats().vnet_hdr, GetParam() ? 1u : 0u);
  int t = peer_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(t, 0);
  sockaddr_in to = sin_of(kOurIp4, 5002);
  ASSERT_EQ(connect(t, reinterpret_cast<sockaddr*>(&to), sizeof to), -1);
  ASSERT_EQ(errno, EINPROGRESS);
  ASSERT_TRUE(receive_until([&] { return !ipv4_from_peer(6).empty(); }, 3000)) << "no SYN";
  const Bytes syn = ipv4_from_peer(6)[0];
  EXPECT_EQ(syn[47] & 0x12, 0x02) << "a SYN";
  EXPECT_EQ(be16(&syn[36]), 5002);
  EXPECT_TRUE(ipv4_header_ok(syn, 14));
  EXPECT_TRUE(l4_checksum_ok(syn)) << "the driver finished the checksum";
  EXPECT_GE(stats().rx_csum_completed, 1u)
      << "the veth peer left the checksum partial (ROBUSTNESS.md §1 item 2)";
}

TEST_P(PacketOffload, UdpGsoSendArrivesAsDatagramsOrIsCountedWithoutVnet) {
  attach_ok(mode());
  int u = peer_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  int seg = 1400;
  ASSERT_EQ(setsockopt(u, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg), 0);
  sockaddr_in to = sin_of(kOurIp4, 5003);
  Bytes data = pattern(14000, 12);
  ASSERT_EQ(sendto(u, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            14000);
  if (!GetParam()) {
    EXPECT_TRUE(receive_until([&] { return stats().rx_gso_unsupported >= 1; }, 3000));
    EXPECT_TRUE(ipv4_from_peer(17).empty());
    return;
  }
  ASSERT_TRUE(receive_until([&] { return ipv4_from_peer(17).size() >= 10; }, 3000))
      << ipv4_from_peer(17).size() << " datagrams";
  auto d = ipv4_from_peer(17);
  ASSERT_EQ(d.size(), 10u);
  Bytes joined;
  for (const auto& f : d) {
    EXPECT_EQ(f.size(), 14u + 20 + 8 + 1400);
    EXPECT_TRUE(ipv4_header_ok(f, 14));
    EXPECT_TRUE(l4_checksum_ok(f));
    joined.insert(joined.end(), f.begin() + 42, f.end());
  }
  EXPECT_EQ(joined, data);
  auto s = stats();
  EXPECT_GE(s.rx_gso_frames, 1u) << "the peer sent a UDP super-frame";
  EXPECT_GE(s.rx_gso_segments, 10u);
}

// Linux connects to 192.0.2.2; the test answers the handshake with frames of
// its own, then takes a bulk transfer, ACKing as data comes. The veth's TSO
// turns Linux's sends into super-frames, which must arrive cut.
TEST_P(PacketOffload, TcpBulkSuperFramesArriveSegmented) {
  attach_ok(mode());
  int t = peer_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(t, 0);
  sockaddr_in to = sin_of(kOurIp4, 5004);
  ASSERT_EQ(connect(t, reinterpret_cast<sockaddr*>(&to), sizeof to), -1);
  auto syns = [&] {
    std::vector<Bytes> r;
    for (const auto& f : ipv4_from_peer(6)) {
      if ((f[47] & 0x02) != 0) {
        r.push_back(f);
      }
    }
    return r;
  };
  ASSERT_TRUE(receive_until([&] { return !syns().empty(); }, 3000)) << "no SYN";
  const Bytes syn = syns()[0];
  const uint8_t* peer_mac = &syn[6];
  const uint16_t peer_port = be16(&syn[34]);
  const uint32_t peer_isn = be32(&syn[38]);
  const uint32_t our_isn = 777000;

  auto segment = [&](uint8_t flags, uint32_t seq, uint32_t ack, Bytes opts) {
    L4Spec s;
    s.sport = 5004;
    s.dport = peer_port;
    s.seq = seq;
    s.ack = ack;
    s.flags = flags;
    s.tcp_options = std::move(opts);
    s.src4 = ipv4(192, 0, 2, 2);
    s.dst4 = ipv4(192, 0, 2, 1);
    return ip_frame(peer_mac, mac_, s, {});
  };
  // SYN-ACK with MSS 1460; no window scaling, so 65535 bytes in flight.
  ASSERT_EQ(send({segment(0x12, our_isn, peer_isn + 1, {2, 4, 0x05, 0xb4})}), 1);
  pollfd wp{t, POLLOUT, 0};
  ASSERT_EQ(poll(&wp, 1, 3000), 1) << "Linux did not complete the handshake";
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  getsockopt(t, SOL_SOCKET, SO_ERROR, &soerr, &sl);
  ASSERT_EQ(soerr, 0);

  const size_t total = 512 * 1024;
  Bytes data = pattern(total, 13);
  size_t written = 0;
  Bytes stream(total);
  std::vector<bool> have(total, false);
  size_t contiguous = 0;
  size_t data_frames = 0;
  size_t seen = got.size();
  const int64_t deadline = now_ms() + 15000;
  while (contiguous < total && now_ms() < deadline) {
    if (written < total) {
      ssize_t w = write(t, data.data() + written, total - written);
      if (w > 0) {
        written += static_cast<size_t>(w);
      }
    }
    size_t before = got.size();
    receive_until([&] { return got.size() > before; }, 20);
    for (; seen < got.size(); ++seen) {
      const Bytes& f = got[seen];
      if (f.size() < 54 || be16(&f[12]) != 0x0800 || f[23] != 6 || be16(&f[34]) != peer_port) {
        continue;
      }
      EXPECT_LE(f.size(), 1514u);
      EXPECT_TRUE(ipv4_header_ok(f, 14));
      EXPECT_TRUE(l4_checksum_ok(f)) << "data frame " << data_frames;
      size_t thl = (f[46] >> 4) * 4u;
      size_t plen = be16(&f[16]) - 20u - thl;
      if (plen == 0) {
        continue;
      }
      ++data_frames;
      size_t off = be32(&f[38]) - (peer_isn + 1);
      ASSERT_LE(off + plen, total);
      memcpy(&stream[off], &f[34 + thl], plen);
      std::fill(have.begin() + static_cast<long>(off), have.begin() + static_cast<long>(off + plen),
                true);
    }
    while (contiguous < total && have[contiguous]) {
      ++contiguous;
    }
    send({segment(0x10, our_isn + 1, peer_isn + 1 + static_cast<uint32_t>(contiguous), {})});
  }
  ASSERT_EQ(contiguous, total) << "sequence numbers must cover the data without gaps";
  EXPECT_EQ(stream, data);
  auto s = stats();
  RecordProperty("gso_frames", std::to_string(s.rx_gso_frames));
  RecordProperty("gso_segments", std::to_string(s.rx_gso_segments));
  RecordProperty("kicks", std::to_string(if_->kicks.load()));
  EXPECT_GE(s.rx_gso_frames, 1u) << "the veth peer sent TCP super-frames";
  EXPECT_GT(s.rx_gso_segments, s.rx_gso_frames);
  EXPECT_EQ(s.rx_truncated, 0u);
  EXPECT_EQ(s.rx_bad_headers, 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, PacketOffload, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return i.param ? std::string("VnetHeader") : std::string("TpStatus");
                         });

}  // namespace
