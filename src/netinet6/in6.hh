// netinet6/in6.hh — IPv6 addresses: text forms (RFC 4291 §2.2 in, RFC 5952
// out), classification (RFC 4291 §2.4–§2.7, RFC 3849) and the upper-layer
// pseudo-header checksum (RFC 8200 §8.1).
//
// The value type In6Addr (16 bytes in network order) lives in netinet/in.hh
// beside InAddr, where interfaces and sockets already use it; this header
// adds what IPv6 itself needs, as free functions named like BSD's
// IN6_IS_ADDR_* macros. In6Addr::parse/str there go through libc; these do
// not, so that the text form is the same on every libc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netinet/in.hh"

namespace iopkt {

// Every text form of RFC 4291 §2.2: eight groups of 1–4 hex digits (either
// case), one "::" for one or more zero groups, and a dotted IPv4 address in
// the last 32 bits. No zone ("%eth0", RFC 4007 §11) and no prefix length.
std::optional<In6Addr> in6_parse(std::string_view text);
// The canonical form, RFC 5952 §4: lowercase, no leading zeros, "::" for
// the longest run (the first of equal runs) of two or more zero groups;
// §5: IPv4-mapped addresses end in dotted decimal (::ffff:192.0.2.1).
std::string in6_str(const In6Addr& a);

// RFC 4291 §2.5.2, §2.5.3.
bool in6_is_unspecified(const In6Addr& a);
bool in6_is_loopback(const In6Addr& a);
// fe80::/10, RFC 4291 §2.5.6.
bool in6_is_linklocal(const In6Addr& a);
// ff00::/8, RFC 4291 §2.7.
bool in6_is_multicast(const In6Addr& a);
// ::ffff:0:0/96, RFC 4291 §2.5.5.2: an IPv4 address as the API shows it;
// never valid on the wire.
bool in6_is_v4mapped(const In6Addr& a);
// 2001:db8::/32, RFC 3849: documentation and tests.
bool in6_is_documentation(const In6Addr& a);

// Multicast scope, the low 4 bits of the second byte (RFC 4291 §2.7,
// RFC 7346 §2).
enum class In6Scope : uint8_t {
  kReserved0 = 0x0,
  kInterfaceLocal = 0x1,
  kLinkLocal = 0x2,
  kRealmLocal = 0x3,
  kAdminLocal = 0x4,
  kSiteLocal = 0x5,
  kOrganizationLocal = 0x8,
  kGlobal = 0xe,
  kReservedF = 0xf,
};
// The scope of a multicast address; nullopt for a unicast one.
std::optional<In6Scope> in6_mcast_scope(const In6Addr& a);

// The solicited-node multicast address of `a`, ff02::1:ff00:0/104 plus the
// low 24 bits of `a` (RFC 4291 §2.7.1); neighbour solicitations go there.
In6Addr in6_solicited_node(const In6Addr& a);
bool in6_is_solicited_node(const In6Addr& a);

// The IPv4 address `v4` as ::ffff:a.b.c.d, and back (nullopt when `a` is
// not IPv4-mapped).
In6Addr in6_v4mapped(InAddr v4);
std::optional<InAddr> in6_v4mapped_addr(const In6Addr& a);

// The unfolded one's-complement sum of the IPv6 pseudo-header, RFC 8200
// §8.1: source, destination, upper-layer packet length (32 bits) and the
// upper-layer protocol. Add the upper-layer bytes with in_cksum_add or
// in_cksum_add_mbuf and fold with in_cksum_finish.
uint32_t in6_pseudo_sum(const In6Addr& src, const In6Addr& dst, uint32_t upper_len,
                        uint8_t next_header);

}  // namespace iopkt
