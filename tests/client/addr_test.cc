// tests/client/addr_test.cc — sockaddr <-> iopkt_ctl_addr conversion
// (client/libiopkt/addr.cc): round trips for both families, host-order
// ports, and Linux's length and family errors.
#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string.h>

#include "iopkt/iopkt.h"

namespace {

TEST(AddrConversion, Ipv4RoundTripKeepsAddressAndPortInHostOrder) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(5353);
  inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
  iopkt_ctl_addr a{};
  ASSERT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&sin), sizeof sin, &a), 0);
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_EQ(a.port, 5353);
  EXPECT_EQ(a.addr[0], 192);
  EXPECT_EQ(a.addr[3], 7);
  EXPECT_EQ(a.addr[4], 0);

  sockaddr_storage ss;
  socklen_t len = 0;
  ASSERT_EQ(iopkt_ctl_to_sockaddr(&a, &ss, &len), 0);
  ASSERT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(memcmp(&ss, &sin, sizeof sin), 0);
}

TEST(AddrConversion, Ipv6RoundTripKeepsScopeAndFlowinfo) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(443);
  sin6.sin6_flowinfo = htonl(0x12345);
  sin6.sin6_scope_id = 7;
  inet_pton(AF_INET6, "2001:db8::42", &sin6.sin6_addr);
  iopkt_ctl_addr a{};
  ASSERT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&sin6), sizeof sin6, &a), 0);
  EXPECT_EQ(a.family, AF_INET6);
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.scope_id, 7u);
  EXPECT_EQ(a.flowinfo, 0x12345u);
  EXPECT_EQ(a.addr[0], 0x20);
  EXPECT_EQ(a.addr[15], 0x42);

  sockaddr_storage ss;
  socklen_t len = 0;
  ASSERT_EQ(iopkt_ctl_to_sockaddr(&a, &ss, &len), 0);
  ASSERT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_EQ(memcmp(&ss, &sin6, sizeof sin6), 0);
}

TEST(AddrConversion, ShortBuffersAreEinval) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  iopkt_ctl_addr a{};
  errno = 0;
  EXPECT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&sin), sizeof sin - 1, &a), -1);
  EXPECT_EQ(errno, EINVAL);

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  errno = 0;
  EXPECT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&sin6), 20, &a), -1);
  EXPECT_EQ(errno, EINVAL);
  // RFC 2133's length (no scope id) is accepted, as Linux does.
  EXPECT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&sin6), 24, &a), 0);
  EXPECT_EQ(a.scope_id, 0u);

  errno = 0;
  EXPECT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&sin), 1, &a), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(AddrConversion, OtherFamiliesAreEafnosupport) {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  iopkt_ctl_addr a{};
  errno = 0;
  EXPECT_EQ(iopkt_sockaddr_to_ctl(reinterpret_cast<sockaddr*>(&ss), sizeof ss, &a), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);

  a.family = 99;
  socklen_t len = 0;
  errno = 0;
  EXPECT_EQ(iopkt_ctl_to_sockaddr(&a, &ss, &len), -1);
  EXPECT_EQ(errno, EAFNOSUPPORT);
}

TEST(AddrConversion, UnspecIsFamilyZero) {
  sockaddr sa{};
  sa.sa_family = AF_UNSPEC;
  iopkt_ctl_addr a{};
  a.family = 2;
  ASSERT_EQ(iopkt_sockaddr_to_ctl(&sa, sizeof(sa_family_t), &a), 0);
  EXPECT_EQ(a.family, 0);
  sockaddr_storage ss;
  socklen_t len = 99;
  ASSERT_EQ(iopkt_ctl_to_sockaddr(&a, &ss, &len), 0);
  EXPECT_EQ(len, 0u);
}

}  // namespace
