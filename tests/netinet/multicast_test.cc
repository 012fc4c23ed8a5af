// IPv4 multicast scenarios (RFC 1112 §6, §7; RFC 3376 §3; RFC 3678): the
// membership socket options and their errors, which sockets a group
// datagram reaches, the Ethernet group filter, sending to a group (the
// interface, TTL, loopback copy), source filters, and tcpip
// reuseport_unicast.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "harness/mcast_helpers.hh"
#include "harness/scenario.hh"
#include "kern/byteorder.hh"
#include "net/route.hh"
#include "netinet/igmp.hh"
#include "netinet/in_mcast.hh"
#include "netinet/ip.hh"
#include "netinet/ip_var.hh"
#include "netinet/udp.hh"

namespace iopkt::test {
namespace {

const InAddr kGroup = InAddr::from_octets(239, 1, 2, 3);
const InAddr kGroup2 = InAddr::from_octets(239, 1, 2, 4);
const InAddr kSrcA = InAddr::from_octets(192, 0, 2, 50);
const InAddr kSrcB = InAddr::from_octets(192, 0, 2, 51);

ip_mreq mreq(InAddr group, InAddr ifaddr) { return ip_mreq{in(group), in(ifaddr)}; }

ip_mreqn mreqn(InAddr group, InAddr ifaddr, int ifindex) {
  ip_mreqn m{};
  m.imr_multiaddr = in(group);
  m.imr_address = in(ifaddr);
  m.imr_ifindex = ifindex;
  return m;
}

ip_mreq_source mreq_source(InAddr group, InAddr ifaddr, InAddr source) {
  ip_mreq_source m{};
  m.imr_multiaddr = in(group);
  m.imr_interface = in(ifaddr);
  m.imr_sourceaddr = in(source);
  return m;
}

int err_of(const Result<void, Errno>& r) { return r ? 0 : r.error().value; }

SocketId udp_socket(Stack& s) { return s.so_create(AF_INET, SOCK_DGRAM, 0).value(); }

// A UDP socket with SO_REUSEADDR bound to addr:port.
SocketId bound_socket(Stack& s, InAddr addr, uint16_t port) {
  SocketId so = udp_socket(s);
  int one = 1;
  EXPECT_TRUE(s.so_setsockopt(so, SOL_SOCKET, SO_REUSEADDR, raw(one)).ok());
  EXPECT_TRUE(s.so_bind(so, SockAddr::inet(addr, port)).ok());
  return so;
}

Result<void, Errno> join(Stack& s, SocketId so, InAddr group, InAddr ifaddr = InAddr::any()) {
  return s.so_setsockopt(so, IPPROTO_IP, IP_ADD_MEMBERSHIP, raw(mreq(group, ifaddr)));
}

Result<void, Errno> leave(Stack& s, SocketId so, InAddr group, InAddr ifaddr = InAddr::any()) {
  return s.so_setsockopt(so, IPPROTO_IP, IP_DROP_MEMBERSHIP, raw(mreq(group, ifaddr)));
}

int get_int(Stack& s, SocketId so, int name) {
  auto v = s.so_getsockopt(so, IPPROTO_IP, name, sizeof(int)).value();
  int x = 0;
  EXPECT_EQ(v.size(), sizeof x);
  std::memcpy(&x, v.data(), std::min(v.size(), sizeof x));
  return x;
}

// A UDP datagram from the peer's link arriving for `dst` (to its group
// MAC when dst is a group).
std::vector<std::byte> udp_frame(InAddr src, InAddr dst, uint16_t dport, std::string_view text) {
  UdpSpec u;
  u.src = src;
  u.dst = dst;
  u.sport = 1234;
  u.dport = dport;
  u.payload = bytes_of(text);
  auto mac = dst.is_multicast() ? group_mac(dst) : Scenario::kLocalMac;
  return build_ether(mac, Scenario::kPeerMac, 0x0800, build_ipv4_udp(u));
}

std::string text_of(const Mbuf& m) {
  auto v = m.to_vector();
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

// Pops every datagram queued on a socket, as text.
std::vector<std::string> drain(Stack& s, SocketId so) {
  std::vector<std::string> out;
  for (int i = 0; i < 100; ++i) {
    auto d = s.so_recv_dgram(so);
    if (!d) {
      break;
    }
    out.push_back(text_of(d->data));
  }
  return out;
}

struct IpSeen {
  std::array<uint8_t, 6> dmac{};
  uint8_t ttl = 0, proto = 0;
  InAddr src, dst;
  std::vector<std::byte> payload;  // after the IP header
};

std::optional<IpSeen> ipv4_of(const std::vector<std::byte>& f) {
  if (f.size() < 34 || load_be16(f, 12) != 0x0800) {
    return std::nullopt;
  }
  auto ip = std::span(f).subspan(14);
  auto h = IpHeader::parse(ip, ip.size());
  if (!h) {
    return std::nullopt;
  }
  IpSeen s;
  for (int i = 0; i < 6; ++i) {
    s.dmac[i] = std::to_integer<uint8_t>(f[i]);
  }
  s.ttl = h->ttl();
  s.proto = h->protocol();
  s.src = h->src();
  s.dst = h->dst();
  s.payload.assign(ip.begin() + h->header_len(), ip.begin() + h->total_len());
  return s;
}

// Frames the stack queued on any interface but en0 (the harness keeps en0's).
std::vector<std::vector<std::byte>> take_from(Ifnet& ifp) {
  std::vector<std::vector<std::byte>> out;
  while (!ifp.snd.empty()) {
    out.push_back(ifp.snd.front().to_vector());
    ifp.snd.pop_front();
  }
  return out;
}

// Only the UDP frames (IGMP reports are igmp_test.cc's).
std::vector<IpSeen> udp_frames(const std::vector<std::vector<std::byte>>& frames) {
  std::vector<IpSeen> out;
  for (const auto& f : frames) {
    if (auto ip = ipv4_of(f); ip && ip->proto == kIpProtoUdp) {
      out.push_back(*ip);
    }
  }
  return out;
}

Ifnet& attach_en1(Scenario& sc) {
  IfAttachArgs a;
  a.prefix = "en";
  a.mac = {0x02, 0, 0, 0, 1, 1};
  a.flags = kIffBroadcast | kIffMulticast | kIffSimplex;
  Ifnet* ifp = sc.stack().if_attach(a).value();
  EXPECT_TRUE(
      sc.stack()
          .in_control_add(*ifp, InIfaddr{InAddr::from_octets(198, 51, 100, 1), 24, {}}, false)
          .ok());
  take_from(*ifp);
  return *ifp;
}

// --- the membership options -------------------------------------------------

TEST(McastOptions, JoinAndLeaveErrorsAsLinux) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  EXPECT_EQ(err_of(join(s, so, kGroup)), 0);
  EXPECT_EQ(err_of(join(s, so, kGroup)), EADDRINUSE);  // the same group, the same interface
  EXPECT_EQ(err_of(join(s, so, InAddr::from_octets(192, 0, 2, 9))), EINVAL);  // not a group
  // No interface by that address or index (Linux ip_mc_find_dev): ENODEV.
  EXPECT_EQ(err_of(join(s, so, kGroup2, InAddr::from_octets(203, 0, 113, 1))), ENODEV);
  auto n = mreqn(kGroup2, InAddr::any(), 99);
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_MEMBERSHIP, raw(n))), ENODEV);
  // Shorter than an ip_mreq.
  uint32_t four = 0;
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_MEMBERSHIP, raw(four))), EINVAL);
  // Dropping what was not joined.
  EXPECT_EQ(err_of(leave(s, so, kGroup2)), EADDRNOTAVAIL);
  EXPECT_EQ(err_of(leave(s, so, kGroup, sc.local())), 0);
  EXPECT_EQ(err_of(leave(s, so, kGroup)), EADDRNOTAVAIL);
  EXPECT_EQ(in_mcast_find(s, sc.link().index, kGroup) == nullptr ||
                in_mcast_find(s, sc.link().index, kGroup)->refcount == 0,
            true);
  // The multicast options are served whatever the value size; the
  // membership ones cannot be read back.
  EXPECT_EQ(s.so_getsockopt(so, IPPROTO_IP, IP_ADD_MEMBERSHIP, 8).error().value, ENOPROTOOPT);
  EXPECT_EQ(s.so_setsockopt(so, IPPROTO_IP, IP_MSFILTER, raw(four)).error().value, ENOPROTOOPT);
}

TEST(McastOptions, MembershipsPerSocketAreLimited) {
  Scenario sc;
  Stack& s = sc.stack();
  in_mcast_register_sysctls(s);
  ASSERT_TRUE(s.sysctl().set("net.inet.ip.mcast.maxgrppcb", "3").ok());
  SocketId so = udp_socket(s), other = udp_socket(s);
  for (uint8_t i = 0; i < 3; ++i) {
    ASSERT_EQ(err_of(join(s, so, InAddr::from_octets(239, 0, 0, i + 1))), 0);
  }
  EXPECT_EQ(err_of(join(s, so, InAddr::from_octets(239, 0, 0, 9))), ENOBUFS);
  EXPECT_EQ(err_of(join(s, other, InAddr::from_octets(239, 0, 0, 9))), 0);  // per socket
  ASSERT_EQ(err_of(leave(s, so, InAddr::from_octets(239, 0, 0, 1))), 0);
  EXPECT_EQ(err_of(join(s, so, InAddr::from_octets(239, 0, 0, 9))), 0);
  // Both sockets hold 239.0.0.9: one interface record, counted twice.
  InMulti* inm = in_mcast_find(s, sc.link().index, InAddr::from_octets(239, 0, 0, 9));
  ASSERT_NE(inm, nullptr);
  EXPECT_EQ(inm->refcount, 2u);
}

TEST(McastOptions, SendOptionsDefaultsAndValues) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_TTL), 1);  // RFC 1112 §6.1
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_LOOP), 1);
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_ALL), 1);
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_IF), 0);
  uint8_t ttl8 = 9;
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_TTL, raw(ttl8)).ok());  // a byte
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_TTL), 9);
  auto one_byte = s.so_getsockopt(so, IPPROTO_IP, IP_MULTICAST_TTL, 1).value();
  ASSERT_EQ(one_byte.size(), 1u);  // asked for a byte: a byte (Linux ip_getsockopt)
  EXPECT_EQ(std::to_integer<int>(one_byte[0]), 9);
  int bad = 256, minus = -1, zero = 0;
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_TTL, raw(bad))), EINVAL);
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_TTL, raw(minus)).ok());
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_TTL), 1);  // -1: the default again
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_LOOP, raw(zero)).ok());
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_LOOP), 0);
  int two = 2;
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_ALL, raw(two))), EINVAL);
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_LOOP, {})), EINVAL);
  // IP_MULTICAST_IF: an address of ours, read back as given; another is
  // EADDRNOTAVAIL; INADDR_ANY returns to the route.
  auto a = in(sc.local());
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(a)).ok());
  EXPECT_EQ(static_cast<uint32_t>(get_int(s, so, IP_MULTICAST_IF)), htonl(sc.local().v));
  auto far = in(InAddr::from_octets(203, 0, 113, 1));
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(far))), EADDRNOTAVAIL);
  auto n = mreqn(kGroup, InAddr::any(), 77);
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(n))), EADDRNOTAVAIL);
  auto any = in(InAddr::any());
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(any)).ok());
  EXPECT_EQ(get_int(s, so, IP_MULTICAST_IF), 0);
}

// --- input -------------------------------------------------------------------

// RFC 1112 §7.2 and Linux: a group datagram reaches the sockets bound to
// the wildcard or the group on its port once the host is a member on the
// arrival interface; IP_MULTICAST_ALL 0 narrows a socket to its own groups.
TEST(McastInput, DeliveredToWildcardAndGroupBoundSocketsOnlyWhenJoined) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId wild = bound_socket(s, InAddr::any(), 5000);
  SocketId grp = bound_socket(s, kGroup, 5000);
  SocketId uni = bound_socket(s, sc.local(), 5000);
  SocketId narrow = bound_socket(s, InAddr::any(), 5000);
  int zero = 0;
  ASSERT_TRUE(s.so_setsockopt(narrow, IPPROTO_IP, IP_MULTICAST_ALL, raw(zero)).ok());
  // Not joined: the Ethernet filter drops the frame.
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "early"));
  EXPECT_EQ(sc.link().stats.mcastfiltered, 1u);
  EXPECT_TRUE(drain(s, wild).empty());
  // Joined by another socket on no port at all: the host is a member.
  SocketId member = udp_socket(s);
  ASSERT_TRUE(join(s, member, kGroup).ok());
  sc.take_frames();
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "one"));
  EXPECT_EQ(drain(s, wild), std::vector<std::string>{"one"});
  EXPECT_EQ(drain(s, grp), std::vector<std::string>{"one"});
  EXPECT_TRUE(drain(s, uni).empty());     // bound to a unicast address
  EXPECT_TRUE(drain(s, narrow).empty());  // IP_MULTICAST_ALL 0 and no membership
  ASSERT_TRUE(join(s, narrow, kGroup).ok());
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "two"));
  EXPECT_EQ(drain(s, narrow), std::vector<std::string>{"two"});
  EXPECT_EQ(s.udp.stat.noportbcast, 0u);
  // No socket on the port: counted, no ICMP (RFC 1122 §3.2.2).
  sc.inject(udp_frame(sc.peer(), kGroup, 5001, "nobody"));
  EXPECT_EQ(s.udp.stat.noportbcast, 1u);
  EXPECT_TRUE(sc.take_frames().empty());
}

TEST(McastInput, AllHostsGroupIsAlwaysJoined) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId wild = bound_socket(s, InAddr::any(), 5000);
  sc.inject(udp_frame(sc.peer(), kInAllHostsGroup, 5000, "all"));
  EXPECT_EQ(drain(s, wild), std::vector<std::string>{"all"});
  EXPECT_EQ(sc.link().stats.mcastfiltered, 0u);
}

TEST(McastInput, NotMemberCountedWhenTheLinkFilterIsOpen) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId wild = bound_socket(s, InAddr::any(), 5000);
  // ALLMULTI opens the Ethernet filter; IP still wants a membership.
  ASSERT_TRUE(s.if_set_flags(sc.link(), kIffAllmulti, 0).ok());
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "x"));
  EXPECT_EQ(sc.link().stats.mcastfiltered, 0u);
  EXPECT_EQ(s.ip.stat.notmember, 1u);
  EXPECT_TRUE(drain(s, wild).empty());
  ASSERT_TRUE(s.if_set_flags(sc.link(), 0, kIffAllmulti).ok());
  // A group sharing the joined group's MAC (the low 23 bits) passes the
  // link filter and is refused by IP.
  SocketId member = udp_socket(s);
  ASSERT_TRUE(join(s, member, kGroup).ok());
  InAddr alias = InAddr::from_octets(224, 1, 2, 3);  // 01:00:5e:01:02:03 as 239.1.2.3
  sc.inject(udp_frame(sc.peer(), alias, 5000, "alias"));
  EXPECT_EQ(sc.link().stats.mcastfiltered, 0u);
  EXPECT_EQ(s.ip.stat.notmember, 2u);
  // A group MAC of no joined group, and a non-IPv4 group MAC.
  auto f = udp_frame(sc.peer(), kGroup2, 5000, "y");
  sc.inject(f);
  f[0] = std::byte{0x33};
  f[1] = std::byte{0x33};
  sc.inject(f);
  EXPECT_EQ(sc.link().stats.mcastfiltered, 2u);
  // PROMISC opens it too.
  ASSERT_TRUE(s.if_set_flags(sc.link(), kIffPromisc, 0).ok());
  sc.inject(udp_frame(sc.peer(), kGroup2, 5000, "y"));
  EXPECT_EQ(sc.link().stats.mcastfiltered, 2u);
  EXPECT_EQ(s.ip.stat.notmember, 3u);
}

TEST(McastInput, MembershipEndsWithTheSocket) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId wild = bound_socket(s, InAddr::any(), 5000);
  SocketId member = udp_socket(s);
  ASSERT_TRUE(join(s, member, kGroup).ok());
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "in"));
  EXPECT_EQ(drain(s, wild).size(), 1u);
  s.so_close(member);
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "out"));
  EXPECT_TRUE(drain(s, wild).empty());
  EXPECT_EQ(sc.link().stats.mcastfiltered, 1u);
}

// --- source filters (RFC 3376 §3, RFC 3678 §4.1) -------------------------------

TEST(McastSources, IncludeAndExcludeFiltersPerSocketAndInterface) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId inc = bound_socket(s, InAddr::any(), 5000);
  auto ms = mreq_source(kGroup, InAddr::any(), kSrcA);
  ASSERT_TRUE(s.so_setsockopt(inc, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, raw(ms)).ok());
  EXPECT_EQ(err_of(s.so_setsockopt(inc, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, raw(ms))),
            EADDRNOTAVAIL);  // already there
  EXPECT_EQ(err_of(s.so_setsockopt(inc, IPPROTO_IP, IP_BLOCK_SOURCE, raw(ms))), EINVAL);
  EXPECT_EQ(err_of(join(s, inc, kGroup)), EADDRINUSE);
  sc.inject(udp_frame(kSrcA, kGroup, 5000, "from-a"));
  sc.inject(udp_frame(kSrcB, kGroup, 5000, "from-b"));
  EXPECT_EQ(drain(s, inc), std::vector<std::string>{"from-a"});
  EXPECT_EQ(s.ip.stat.srcfiltered, 1u);  // INCLUDE{A} on the interface
  // An any-source member makes the interface EXCLUDE{}: both pass IP, and
  // the including socket still sees only A.
  SocketId asm_so = bound_socket(s, InAddr::any(), 5000);
  ASSERT_TRUE(join(s, asm_so, kGroup).ok());
  sc.inject(udp_frame(kSrcA, kGroup, 5000, "a2"));
  sc.inject(udp_frame(kSrcB, kGroup, 5000, "b2"));
  EXPECT_EQ(drain(s, inc), std::vector<std::string>{"a2"});
  EXPECT_EQ(drain(s, asm_so), (std::vector<std::string>{"a2", "b2"}));
  // Blocking B on the any-source socket: EXCLUDE{B} there.
  auto mb = mreq_source(kGroup, InAddr::any(), kSrcB);
  ASSERT_TRUE(s.so_setsockopt(asm_so, IPPROTO_IP, IP_BLOCK_SOURCE, raw(mb)).ok());
  EXPECT_EQ(err_of(s.so_setsockopt(asm_so, IPPROTO_IP, IP_BLOCK_SOURCE, raw(mb))), EADDRNOTAVAIL);
  EXPECT_EQ(err_of(s.so_setsockopt(asm_so, IPPROTO_IP, IP_UNBLOCK_SOURCE, raw(ms))),
            EADDRNOTAVAIL);  // A was never blocked
  sc.inject(udp_frame(kSrcB, kGroup, 5000, "b3"));
  EXPECT_TRUE(drain(s, asm_so).empty());
  EXPECT_EQ(s.ip.stat.srcfiltered, 2u);
  ASSERT_TRUE(s.so_setsockopt(asm_so, IPPROTO_IP, IP_UNBLOCK_SOURCE, raw(mb)).ok());
  sc.inject(udp_frame(kSrcB, kGroup, 5000, "b4"));
  EXPECT_EQ(drain(s, asm_so), std::vector<std::string>{"b4"});
  // Dropping the last included source ends that membership.
  ASSERT_TRUE(s.so_setsockopt(inc, IPPROTO_IP, IP_DROP_SOURCE_MEMBERSHIP, raw(ms)).ok());
  EXPECT_EQ(err_of(s.so_setsockopt(inc, IPPROTO_IP, IP_DROP_SOURCE_MEMBERSHIP, raw(ms))),
            EADDRNOTAVAIL);
  EXPECT_EQ(err_of(leave(s, inc, kGroup)), EADDRNOTAVAIL);
}

TEST(McastSources, SourcesPerMembershipAreLimited) {
  Scenario sc;
  Stack& s = sc.stack();
  s.ip.mcast.maxsocksrc = 2;
  SocketId so = udp_socket(s);
  for (uint8_t i = 1; i <= 2; ++i) {
    auto m = mreq_source(kGroup, InAddr::any(), InAddr::from_octets(192, 0, 2, 100 + i));
    ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, raw(m)).ok());
  }
  auto m = mreq_source(kGroup, InAddr::any(), InAddr::from_octets(192, 0, 2, 110));
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, raw(m))), ENOBUFS);
  auto bad = mreq_source(kGroup, InAddr::any(), kGroup2);
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, raw(bad))), EINVAL);
  uint64_t eight = 0;
  EXPECT_EQ(err_of(s.so_setsockopt(so, IPPROTO_IP, IP_BLOCK_SOURCE, raw(eight))), EINVAL);
}

TEST(McastOptions, McastJoinGroupTakesAnInterfaceIndex) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId wild = bound_socket(s, InAddr::any(), 5000);
  group_req gr{};
  gr.gr_interface = sc.link().index;
  auto* sin = reinterpret_cast<sockaddr_in*>(&gr.gr_group);
  sin->sin_family = AF_INET;
  sin->sin_addr = in(kGroup);
  ASSERT_TRUE(s.so_setsockopt(wild, IPPROTO_IP, MCAST_JOIN_GROUP, raw(gr)).ok());
  EXPECT_EQ(err_of(s.so_setsockopt(wild, IPPROTO_IP, MCAST_JOIN_GROUP, raw(gr))), EADDRINUSE);
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "g"));
  EXPECT_EQ(drain(s, wild), std::vector<std::string>{"g"});
  ASSERT_TRUE(s.so_setsockopt(wild, IPPROTO_IP, MCAST_LEAVE_GROUP, raw(gr)).ok());
  sc.inject(udp_frame(sc.peer(), kGroup, 5000, "h"));
  EXPECT_TRUE(drain(s, wild).empty());
}

// --- output --------------------------------------------------------------------

TEST(McastOutput, ToAGroupWithTtlOneAndTheGroupMac) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  auto to = SockAddr::inet(kGroup, 6000);
  uint64_t arp_before = s.arp.stat.txrequests;  // the gratuitous ARP of the address
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("hello"), 64), &to).ok());
  auto frames = udp_frames(sc.take_frames());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].dmac, group_mac(kGroup));  // RFC 1112 §6.4, no ARP
  EXPECT_EQ(frames[0].ttl, 1);                   // RFC 1112 §6.1
  EXPECT_EQ(frames[0].src, sc.local());
  EXPECT_EQ(frames[0].dst, kGroup);
  EXPECT_EQ(s.arp.stat.txrequests, arp_before);
  int ttl = 32;
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_TTL, raw(ttl)).ok());
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("again"), 64), &to).ok());
  frames = udp_frames(sc.take_frames());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].ttl, 32);
  // Unicast keeps IP_TTL.
  auto peer = SockAddr::inet(sc.peer(), 6000);
  ASSERT_TRUE(arp_add_static(s, sc.link(), sc.peer(), Scenario::kPeerMac).ok());
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("u"), 64), &peer).ok());
  frames = udp_frames(sc.take_frames());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].ttl, 64);
}

// RFC 1112 §6.3: with IP_MULTICAST_LOOP (the default) a member host gets
// its own datagram back, as if received on the interface.
TEST(McastOutput, LoopbackCopyWhenTheInterfaceIsAMember) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId rx = bound_socket(s, InAddr::any(), 6000);
  SocketId tx = udp_socket(s);
  auto to = SockAddr::inet(kGroup, 6000);
  // Not a member: nothing comes back.
  ASSERT_TRUE(s.so_send_dgram(tx, Mbuf::copy_from(s.pool(), bytes_of("0"), 64), &to).ok());
  EXPECT_TRUE(drain(s, rx).empty());
  ASSERT_TRUE(join(s, rx, kGroup).ok());
  sc.take_frames();
  ASSERT_TRUE(s.so_send_dgram(tx, Mbuf::copy_from(s.pool(), bytes_of("1"), 64), &to).ok());
  EXPECT_EQ(drain(s, rx), std::vector<std::string>{"1"});
  EXPECT_EQ(udp_frames(sc.take_frames()).size(), 1u);  // and it left on the wire
  EXPECT_EQ(s.ip.stat.mcastlooped, 1u);
  int zero = 0;
  ASSERT_TRUE(s.so_setsockopt(tx, IPPROTO_IP, IP_MULTICAST_LOOP, raw(zero)).ok());
  ASSERT_TRUE(s.so_send_dgram(tx, Mbuf::copy_from(s.pool(), bytes_of("2"), 64), &to).ok());
  EXPECT_TRUE(drain(s, rx).empty());
  EXPECT_EQ(udp_frames(sc.take_frames()).size(), 1u);
  // TTL 0: looped only (Linux ip_mc_output).
  int one = 1;
  ASSERT_TRUE(s.so_setsockopt(tx, IPPROTO_IP, IP_MULTICAST_LOOP, raw(one)).ok());
  ASSERT_TRUE(s.so_setsockopt(tx, IPPROTO_IP, IP_MULTICAST_TTL, raw(zero)).ok());
  ASSERT_TRUE(s.so_send_dgram(tx, Mbuf::copy_from(s.pool(), bytes_of("3"), 64), &to).ok());
  EXPECT_EQ(drain(s, rx), std::vector<std::string>{"3"});
  EXPECT_TRUE(udp_frames(sc.take_frames()).empty());
  // A large datagram is looped whole and fragmented on the wire.
  int ttl = 4;
  ASSERT_TRUE(s.so_setsockopt(tx, IPPROTO_IP, IP_MULTICAST_TTL, raw(ttl)).ok());
  std::string big(3000, 'z');
  ASSERT_TRUE(s.so_send_dgram(tx, Mbuf::copy_from(s.pool(), bytes_of(big), 64), &to).ok());
  EXPECT_EQ(drain(s, rx), std::vector<std::string>{big});
  EXPECT_EQ(sc.take_frames().size(), 3u);
}

TEST(McastOutput, InterfaceByOptionRouteOrFirstMulticastInterface) {
  Scenario sc;
  Stack& s = sc.stack();
  Ifnet& en1 = attach_en1(sc);
  SocketId so = udp_socket(s);
  auto to = SockAddr::inet(kGroup, 6000);
  auto send = [&] {
    ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("m"), 64), &to).ok());
  };
  // No route for the group and no default: the first multicast interface.
  send();
  EXPECT_EQ(udp_frames(sc.take_frames()).size(), 1u);
  EXPECT_TRUE(udp_frames(take_from(en1)).empty());
  // IP_MULTICAST_IF by address.
  auto a = in(InAddr::from_octets(198, 51, 100, 1));
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(a)).ok());
  send();
  auto on1 = udp_frames(take_from(en1));
  ASSERT_EQ(on1.size(), 1u);
  EXPECT_EQ(on1[0].src, InAddr::from_octets(198, 51, 100, 1));
  EXPECT_TRUE(udp_frames(sc.take_frames()).empty());
  // By index (ip_mreqn), source the interface's address.
  auto n = mreqn(InAddr::any(), InAddr::any(), static_cast<int>(sc.link().index));
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(n)).ok());
  send();
  auto on0 = udp_frames(sc.take_frames());
  ASSERT_EQ(on0.size(), 1u);
  EXPECT_EQ(on0[0].src, sc.local());
  // Back to the route: a default route through en1 takes the group there.
  auto any = in(InAddr::any());
  ASSERT_TRUE(s.so_setsockopt(so, IPPROTO_IP, IP_MULTICAST_IF, raw(any)).ok());
  Rtentry def;
  def.dst = InAddr::any();
  def.prefixlen = 0;
  def.gateway = InAddr::from_octets(198, 51, 100, 254);
  def.flags = kRtfGateway;
  ASSERT_TRUE(in_route_add(s, 0, def).ok());
  send();
  on1 = udp_frames(take_from(en1));
  ASSERT_EQ(on1.size(), 1u);
  EXPECT_EQ(on1[0].dmac, group_mac(kGroup));  // to the group, not the gateway
  // ... and a route for 224/4 through en0 beats the default.
  Rtentry mc;
  mc.dst = InAddr::from_octets(224, 0, 0, 0);
  mc.prefixlen = 4;
  mc.ifindex = sc.link().index;
  ASSERT_TRUE(in_route_add(s, 0, mc).ok());
  send();
  EXPECT_EQ(udp_frames(sc.take_frames()).size(), 1u);
  EXPECT_TRUE(udp_frames(take_from(en1)).empty());
  // A join by INADDR_ANY follows the same route (Linux ip_mc_find_dev).
  ASSERT_TRUE(join(s, so, kGroup).ok());
  EXPECT_NE(in_mcast_find(s, sc.link().index, kGroup), nullptr);
  EXPECT_EQ(in_mcast_find(s, en1.index, kGroup), nullptr);
}

TEST(McastOutput, ConnectToAGroup) {
  Scenario sc;
  Stack& s = sc.stack();
  SocketId so = udp_socket(s);
  ASSERT_TRUE(s.so_connect(so, SockAddr::inet(kGroup, 6000)).ok());
  EXPECT_EQ(s.so_getsockname(so).value().in, sc.local());
  ASSERT_TRUE(s.so_send_dgram(so, Mbuf::copy_from(s.pool(), bytes_of("c"), 64), nullptr).ok());
  auto frames = udp_frames(sc.take_frames());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].dst, kGroup);
}

TEST(McastIfdetach, MembershipsOnAGoneInterfaceGoAway) {
  Scenario sc;
  Stack& s = sc.stack();
  Ifnet& en1 = attach_en1(sc);
  uint32_t idx = en1.index;
  s.ip.mcast.maxgrppcb = 1;
  SocketId so = udp_socket(s);
  ASSERT_TRUE(join(s, so, kGroup, InAddr::from_octets(198, 51, 100, 1)).ok());
  ASSERT_NE(in_mcast_find(s, idx, kGroup), nullptr);
  ASSERT_TRUE(s.if_detach("en1").ok());
  // Its IGMP timers fire against a gone interface: the state goes, nothing
  // is sent and nothing breaks.
  sc.advance(std::chrono::seconds(30));
  EXPECT_EQ(in_mcast_find(s, idx, kGroup), nullptr);
  // The socket's membership there no longer counts against its limit.
  EXPECT_TRUE(join(s, so, kGroup2).ok());
  // in_mcast_ifdetach (if_detach's hook) does the same at once.
  Ifnet& en2 = attach_en1(sc);
  SocketId so2 = udp_socket(s);
  ASSERT_TRUE(join(s, so2, kGroup, InAddr::from_octets(198, 51, 100, 1)).ok());
  in_mcast_ifdetach(s, en2.index);
  EXPECT_EQ(in_mcast_find(s, en2.index, kGroup), nullptr);
  EXPECT_EQ(err_of(leave(s, so2, kGroup)), EADDRNOTAVAIL);
}

// --- tcpip reuseport_unicast (SPEC §1) -------------------------------------------

TEST(ReuseportUnicast, UnicastReachesEveryReuseportSocketOnlyWhenOn) {
  Scenario sc;
  Stack& s = sc.stack();
  int one = 1;
  std::vector<SocketId> rp;
  for (int i = 0; i < 3; ++i) {
    SocketId so = udp_socket(s);
    ASSERT_TRUE(s.so_setsockopt(so, SOL_SOCKET, SO_REUSEPORT, raw(one)).ok());
    ASSERT_TRUE(s.so_bind(so, SockAddr::inet(InAddr::any(), 7000)).ok());
    rp.push_back(so);
  }
  auto count = [&] {
    size_t n = 0;
    for (SocketId so : rp) {
      n += drain(s, so).size();
    }
    return n;
  };
  sc.inject(udp_frame(sc.peer(), sc.local(), 7000, "u1"));
  EXPECT_EQ(count(), 1u);  // default: one socket
  in_mcast_register_sysctls(s);
  ASSERT_TRUE(s.sysctl().set("net.inet.udp.reuseport_unicast", "1").ok());
  sc.inject(udp_frame(sc.peer(), sc.local(), 7000, "u2"));
  EXPECT_EQ(count(), 3u);
  // Over lo0 too, and a connected socket keeps its filter.
  ASSERT_TRUE(s.so_connect(rp[2], SockAddr::inet(InAddr::from_octets(192, 0, 2, 77), 1)).ok());
  SocketId tx = udp_socket(s);
  auto to = SockAddr::inet(InAddr::loopback(), 7000);
  ASSERT_TRUE(s.so_send_dgram(tx, Mbuf::copy_from(s.pool(), bytes_of("lo"), 64), &to).ok());
  EXPECT_EQ(drain(s, rp[0]), std::vector<std::string>{"lo"});
  EXPECT_EQ(drain(s, rp[1]), std::vector<std::string>{"lo"});
  EXPECT_TRUE(drain(s, rp[2]).empty());
  // Sockets sharing the port through SO_REUSEADDR alone: still one.
  SocketId a = bound_socket(s, InAddr::any(), 7100), b = bound_socket(s, InAddr::any(), 7100);
  sc.inject(udp_frame(sc.peer(), sc.local(), 7100, "ra"));
  EXPECT_EQ(drain(s, a).size() + drain(s, b).size(), 1u);
}

}  // namespace
}  // namespace iopkt::test
