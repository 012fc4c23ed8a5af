// harness/ip4_frames.hh — IPv4 frames as the ICMP, fragment, option and
// raw-socket scenario tests write and read them: a packet builder that fills
// lengths and checksums, fragment trains, parsers of what the stack emitted.
// Header-only test helpers (each test file gets its own copy).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "netinet/icmp_var.hh"
#include "netinet/ip.hh"
#include "netinet/ip_icmp.hh"
#include "netinet/ip_var.hh"
#include "netinet/udp.hh"

namespace iopkt::test {
namespace {  // NOLINT: per-test-file copies are the point of a header-only helper

[[maybe_unused]] constexpr std::array<uint8_t, 6> kBcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// An IPv4 packet as a test writes it; build() fills lengths and checksums.
struct Ip4 {
  InAddr src, dst;
  uint8_t proto = kIpProtoUdp;
  uint16_t id = 1;
  uint16_t frag = 0;  // flags and offset in 8-byte units, as on the wire
  uint8_t ttl = 64;
  uint8_t tos = 0;
  std::vector<std::byte> options;  // a multiple of 4
  std::vector<std::byte> payload;
  std::vector<std::byte> build() const {
    size_t hlen = 20 + options.size();
    std::vector<std::byte> p(hlen + payload.size());
    p[0] = std::byte(0x40 | (hlen / 4));
    p[1] = std::byte{tos};
    store_be16(p, 2, static_cast<uint16_t>(p.size()));
    store_be16(p, 4, id);
    store_be16(p, 6, frag);
    p[8] = std::byte{ttl};
    p[9] = std::byte{proto};
    store_be32(p, 12, src.v);
    store_be32(p, 16, dst.v);
    std::copy(options.begin(), options.end(), p.begin() + 20);
    std::copy(payload.begin(), payload.end(), p.begin() + static_cast<ptrdiff_t>(hlen));
    store_be16(p, 10, in_cksum_finish(in_cksum_add(0, std::span(p).first(hlen))));
    return p;
  }
};

[[maybe_unused]] std::vector<std::byte> bytes_n(size_t n, uint8_t seed = 0) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = std::byte(static_cast<uint8_t>(seed + i * 7));
  }
  return v;
}

// An ICMP message with its checksum.
[[maybe_unused]] std::vector<std::byte> icmp_msg(uint8_t type, uint8_t code, uint32_t rest,
                                                 const std::vector<std::byte>& data) {
  std::vector<std::byte> m(8 + data.size());
  IcmpFields{type, code, rest}.emit(m);
  std::copy(data.begin(), data.end(), m.begin() + 8);
  store_be16(m, 2, in_cksum_finish(in_cksum_add(0, m)));
  return m;
}

// A UDP header and payload with its checksum.
[[maybe_unused]] std::vector<std::byte> udp_seg(InAddr src, InAddr dst, uint16_t sport,
                                                uint16_t dport,
                                                const std::vector<std::byte>& data) {
  std::vector<std::byte> u(8 + data.size());
  UdpFields{sport, dport, static_cast<uint16_t>(u.size()), 0}.emit(u);
  std::copy(data.begin(), data.end(), u.begin() + 8);
  uint16_t c = in_cksum_finish(
      in_cksum_add(in_pseudo_sum(src, dst, kIpProtoUdp, static_cast<uint16_t>(u.size())), u));
  store_be16(u, 6, c == 0 ? 0xffff : c);
  return u;
}

[[maybe_unused]] void inject_ip(Scenario& sc, const std::vector<std::byte>& pkt,
                                const std::array<uint8_t, 6>& dst_mac = Scenario::kLocalMac) {
  sc.inject(build_ether(dst_mac, Scenario::kPeerMac, 0x0800, pkt));
}

// The peer answers an ARP request it never got: the stack learns its MAC
// (RFC 826 merge: the packet is about us), so replies leave at once.
[[maybe_unused]] void learn_peer(Scenario& sc) {
  std::vector<std::byte> p(28);
  store_be16(p, 0, 1);
  store_be16(p, 2, 0x0800);
  p[4] = std::byte{6};
  p[5] = std::byte{4};
  store_be16(p, 6, 2);
  for (int i = 0; i < 6; ++i) {
    p[8 + i] = std::byte{Scenario::kPeerMac[i]};
    p[18 + i] = std::byte{Scenario::kLocalMac[i]};
  }
  store_be32(p, 14, sc.peer().v);
  store_be32(p, 24, sc.local().v);
  sc.inject(build_ether(Scenario::kLocalMac, Scenario::kPeerMac, 0x0806, p));
  sc.take_frames();
}

// An emitted IPv4 frame, taken apart.
struct SeenIp {
  std::vector<std::byte> ip;  // from the IP header on
  size_t hlen = 0;
  InAddr src, dst;
  uint8_t proto = 0, tos = 0;
  uint16_t id = 0, frag = 0;
  std::span<const std::byte> payload() const { return std::span(ip).subspan(hlen); }
};
[[maybe_unused]] std::optional<SeenIp> as_ip(const std::vector<std::byte>& frame) {
  if (frame.size() < 34 || load_be16(frame, 12) != 0x0800) {
    return std::nullopt;
  }
  SeenIp s;
  s.ip.assign(frame.begin() + 14, frame.end());
  s.hlen = (std::to_integer<size_t>(s.ip[0]) & 0xf) * 4;
  s.ip.resize(load_be16(s.ip, 2));  // drop the Ethernet padding
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, std::span(s.ip).first(s.hlen))), 0);
  s.src = InAddr{load_be32(s.ip, 12)};
  s.dst = InAddr{load_be32(s.ip, 16)};
  s.proto = std::to_integer<uint8_t>(s.ip[9]);
  s.tos = std::to_integer<uint8_t>(s.ip[1]);
  s.id = load_be16(s.ip, 4);
  s.frag = load_be16(s.ip, 6);
  return s;
}

// The next frame must be an ICMP message from us to the peer; returns it
// (from the ICMP header on) after checking its checksum.
[[maybe_unused]] std::vector<std::byte> expect_icmp_to_peer(Scenario& sc) {
  auto f = sc.next_frame();
  EXPECT_TRUE(f.has_value());
  if (!f) {
    return {};
  }
  auto ip = as_ip(*f);
  EXPECT_TRUE(ip.has_value());
  if (!ip) {
    return {};
  }
  EXPECT_EQ(ip->proto, kIpProtoIcmp);
  EXPECT_EQ(ip->src, sc.local());
  EXPECT_EQ(ip->dst, sc.peer());
  std::vector<std::byte> icmp(ip->payload().begin(), ip->payload().end());
  EXPECT_EQ(in_cksum_finish(in_cksum_add(0, icmp)), 0);
  return icmp;
}

[[maybe_unused]] std::string sysctl_get(Stack& s, std::string_view name) {
  return s.sysctl().get(name).value();
}
[[maybe_unused]] void sysctl_set(Stack& s, std::string_view name, std::string_view v) {
  ASSERT_TRUE(s.sysctl().set(name, v).ok()) << name;
}

}  // namespace
}  // namespace iopkt::test
