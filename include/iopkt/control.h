/*
 * iopkt control protocol — every request a client (libiopkt, the utilities)
 * can make of a stack over its endpoint ${SOCK}/dev/socket.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET connection to the endpoint. One
 * request is one message: a struct iopkt_ctl_hdr followed by `len` bytes of
 * body; the stack answers each request with exactly one message of the same
 * form, echoing `seq` and `type`, with `error` 0 or a positive errno. When
 * `error` is non-zero the body, if any, is a NUL-terminated message for the
 * user (e.g. why a driver refused to attach).
 *
 * Requests about one socket carry that socket's data channel (the fd the
 * stack returned for IOPKT_CTL_SOCKET) as SCM_RIGHTS: the stack finds the
 * socket by the channel itself, so a client can only address sockets it
 * holds. Credentials are taken from the connection (SO_PEERCRED), never from
 * a request body.
 *
 * Every field is fixed-size, little-endian host layout (the endpoint is
 * local), with explicit padding; the stack validates `len` against the
 * type's body size exactly and every enum and string field.
 *
 * Datagram sockets: the data channel is a SOCK_SEQPACKET socketpair. Each
 * datagram crosses it as one message: struct iopkt_dgram_hdr, `cmsg_len`
 * bytes of ancillary data (struct iopkt_dgram_cmsg records), then the
 * payload.
 *
 * Stream (TCP) sockets: the data channel is a SOCK_STREAM socketpair and
 * carries the connection's bytes as they are, both ways. The stack reads
 * from it only as fast as TCP can send and writes to it only while the
 * client's end has room. The peer's FIN is the channel's end of file; a
 * connection that died (ECONNRESET, ETIMEDOUT, ECONNREFUSED) ends the
 * channel both ways (reads see end of file, writes EPIPE) and the error is
 * the socket's SO_ERROR, which libiopkt reads at end of file and EPIPE.
 * While a connect is in progress the stack keeps the client end's send
 * buffer full, so that it is not writable (no POLLOUT) before the
 * handshake completes. Once the socket listens, its channel carries one
 * struct iopkt_accept_rec per accepted connection, with the new
 * connection's channel attached as SCM_RIGHTS: accept is one recvmsg of
 * exactly sizeof(struct iopkt_accept_rec) bytes.
 */
#ifndef IOPKT_CONTROL_H
#define IOPKT_CONTROL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOPKT_CTL_MAGIC 0x4b50494fu /* "IOPK" */
#define IOPKT_CTL_VERSION 1u
#define IOPKT_CTL_MAX_MSG 65536u /* largest request or reply */
#define IOPKT_CTL_NAME_MAX 64    /* interface names, driver names */
#define IOPKT_CTL_SYSCTL_NAME_MAX 128
#define IOPKT_CTL_SYSCTL_VALUE_MAX 256
#define IOPKT_CTL_PATH_MAX 512
#define IOPKT_CTL_OPTIONS_MAX 1024
#define IOPKT_CTL_SOCKOPT_MAX 256

struct iopkt_ctl_hdr {
  uint32_t magic;   /* IOPKT_CTL_MAGIC */
  uint16_t version; /* IOPKT_CTL_VERSION */
  uint16_t type;    /* enum iopkt_ctl_type */
  uint32_t seq;     /* chosen by the client, echoed */
  uint32_t len;     /* body bytes after the header */
  int32_t error;    /* reply: 0 or positive errno; request: 0 */
  uint32_t reserved;
};

enum iopkt_ctl_type {
  IOPKT_CTL_HELLO = 1, /* -> iopkt_ctl_hello_reply */
  /* sockets */
  IOPKT_CTL_SOCKET = 10,      /* iopkt_ctl_socket -> (empty) + channel fd */
  IOPKT_CTL_BIND = 11,        /* iopkt_ctl_sockaddr + fd -> (empty) */
  IOPKT_CTL_CONNECT = 12,     /* iopkt_ctl_sockaddr + fd -> (empty); family AF_UNSPEC dissolves */
  IOPKT_CTL_GETSOCKNAME = 13, /* (empty) + fd -> iopkt_ctl_sockaddr */
  IOPKT_CTL_GETPEERNAME = 14, /* (empty) + fd -> iopkt_ctl_sockaddr */
  IOPKT_CTL_SETSOCKOPT = 15,  /* iopkt_ctl_sockopt + fd -> (empty) */
  IOPKT_CTL_GETSOCKOPT = 16,  /* iopkt_ctl_sockopt (len = buffer size) + fd -> iopkt_ctl_sockopt */
  IOPKT_CTL_SHUTDOWN = 17,    /* iopkt_ctl_shutdown + fd -> (empty) */
  IOPKT_CTL_LISTEN = 18,      /* iopkt_ctl_listen + fd -> (empty) */
  /* interfaces */
  IOPKT_CTL_IF_LIST = 30,     /* iopkt_ctl_list -> iopkt_ctl_if_list_reply; ENXIO: no such name */
  IOPKT_CTL_IFADDR_LIST = 31, /* iopkt_ctl_list (name "" = all) -> iopkt_ctl_ifaddr_list_reply */
  IOPKT_CTL_IF_SETFLAGS = 32, /* iopkt_ctl_if_flags -> (empty) */
  IOPKT_CTL_IF_SETMTU = 33,   /* iopkt_ctl_if_mtu -> (empty) */
  IOPKT_CTL_IFADDR_ADD = 34,  /* iopkt_ctl_ifaddr -> (empty) */
  IOPKT_CTL_IFADDR_DEL = 35,  /* iopkt_ctl_ifaddr (only family+addr used) -> (empty) */
  IOPKT_CTL_IF_CREATE = 36,   /* iopkt_ctl_if_name -> (empty) */
  IOPKT_CTL_IF_DESTROY = 37,  /* iopkt_ctl_if_name -> (empty) */
  /* routes (route(8), netstat -r) and neighbours (arp(8)) */
  IOPKT_CTL_ROUTE_ADD = 40,    /* iopkt_ctl_route -> (empty) */
  IOPKT_CTL_ROUTE_DELETE = 41, /* iopkt_ctl_route (fib, dst, prefixlen) -> (empty) */
  IOPKT_CTL_ROUTE_CHANGE = 42, /* iopkt_ctl_route -> (empty) */
  IOPKT_CTL_ROUTE_GET = 43, /* iopkt_ctl_route (fib, dst) -> iopkt_ctl_route chosen, ifa = source */
  IOPKT_CTL_ROUTE_LIST =
      44, /* iopkt_ctl_list (cursor; name = "" ) + fib in reserved -> iopkt_ctl_route_list_reply */
  IOPKT_CTL_ARP_LIST = 45, /* iopkt_ctl_list (name = interface or "") -> iopkt_ctl_arp_list_reply */
  IOPKT_CTL_ARP_DELETE = 46,  /* iopkt_ctl_arp (ifname may be "") -> (empty) */
  IOPKT_CTL_ARP_ADD = 47,     /* iopkt_ctl_arp -> (empty) */
  IOPKT_CTL_SOCKET_LIST = 48, /* iopkt_ctl_list -> iopkt_ctl_socket_list_reply (netstat -a) */
  /* sysctl */
  IOPKT_CTL_SYSCTL_GET = 50,  /* iopkt_ctl_sysctl (value ignored) -> iopkt_ctl_sysctl */
  IOPKT_CTL_SYSCTL_SET = 51,  /* iopkt_ctl_sysctl -> iopkt_ctl_sysctl (new value) */
  IOPKT_CTL_SYSCTL_LIST = 52, /* iopkt_ctl_list (name = prefix) -> iopkt_ctl_sysctl_list_reply */
  /* modules */
  IOPKT_CTL_MOUNT = 60, /* iopkt_ctl_mount -> (empty) */
};

/* An address of either family, host byte order for port. */
struct iopkt_ctl_addr {
  uint16_t family; /* AF_INET, AF_INET6, AF_UNSPEC (0) */
  uint16_t port;   /* host order */
  uint32_t scope_id;
  uint32_t flowinfo;
  uint8_t addr[16]; /* AF_INET: first 4 bytes */
};

struct iopkt_ctl_hello_reply {
  uint32_t ctl_version;
  uint32_t variant; /* 4: io-pkt-v4-hc, 6: io-pkt-v6-hc */
  int32_t instance;
  int32_t pid;
  char prefix[IOPKT_CTL_PATH_MAX];
};

struct iopkt_ctl_socket {
  int32_t domain; /* AF_INET, AF_INET6 */
  int32_t type;   /* SOCK_DGRAM, SOCK_STREAM, SOCK_RAW (no flags) */
  int32_t protocol;
  uint32_t reserved;
};

struct iopkt_ctl_sockaddr {
  struct iopkt_ctl_addr addr;
};

struct iopkt_ctl_sockopt {
  int32_t level;
  int32_t name;
  uint32_t len; /* bytes used in value */
  uint32_t reserved;
  uint8_t value[IOPKT_CTL_SOCKOPT_MAX];
};

struct iopkt_ctl_shutdown {
  int32_t how; /* SHUT_RD, SHUT_WR, SHUT_RDWR */
  uint32_t reserved;
};

struct iopkt_ctl_listen {
  int32_t backlog; /* cut to kern.somaxconn; 0 or less admits one */
  uint32_t reserved;
};

/* One accepted connection on a listener's channel (stream sockets, above);
 * its channel travels with it as SCM_RIGHTS. */
#define IOPKT_ACCEPT_MAGIC 0x43435341u /* "ASCC" */
struct iopkt_accept_rec {
  uint32_t magic;             /* IOPKT_ACCEPT_MAGIC */
  uint32_t len;               /* sizeof(struct iopkt_accept_rec) */
  struct iopkt_ctl_addr peer; /* the connection's remote address */
};

/* Paged listing: ask from `cursor` (0 first); the reply gives the next
 * cursor, 0 when the listing is complete. */
struct iopkt_ctl_list {
  uint32_t cursor;
  uint32_t reserved;
  char name[IOPKT_CTL_SYSCTL_NAME_MAX]; /* filter: interface name or sysctl prefix; "" = all */
};

struct iopkt_ctl_if_stats {
  uint64_t ipackets, ierrors, iqdrops, ibytes, imcasts;
  uint64_t opackets, oerrors, oqdrops, obytes, omcasts;
  uint64_t collisions;
};

struct iopkt_ctl_if_info {
  char name[IOPKT_CTL_NAME_MAX];
  char driver[IOPKT_CTL_NAME_MAX]; /* module name, "loop" for lo0 */
  uint32_t index;
  uint32_t flags; /* IOPKT_IFF_* (driver.h) */
  uint32_t mtu;
  uint32_t link_type; /* enum iopkt_link_type; 0 for loopback */
  uint8_t mac[6];
  uint8_t link_up; /* carrier */
  uint8_t reserved0;
  uint32_t caps;
  struct iopkt_ctl_if_stats stats;
};

#define IOPKT_CTL_IF_LIST_MAX 32
struct iopkt_ctl_if_list_reply {
  uint32_t count;
  uint32_t next_cursor;
  struct iopkt_ctl_if_info ifs[IOPKT_CTL_IF_LIST_MAX]; /* only `count` sent */
};

#define IOPKT_IFA_ALIAS 0x01u      /* add: keep the other addresses of the family */
#define IOPKT_IFA_TENTATIVE 0x02u  /* reply: IPv6 DAD not yet done */
#define IOPKT_IFA_DEPRECATED 0x04u /* reply */
#define IOPKT_IFA_ANYCAST 0x08u
struct iopkt_ctl_ifaddr {
  char ifname[IOPKT_CTL_NAME_MAX];
  struct iopkt_ctl_addr addr;
  struct iopkt_ctl_addr dst_or_broadcast; /* AF_UNSPEC: derive (broadcast) / none */
  uint32_t prefixlen;
  uint32_t flags; /* IOPKT_IFA_* */
};

#define IOPKT_CTL_IFADDR_LIST_MAX 64
struct iopkt_ctl_ifaddr_list_reply {
  uint32_t count;
  uint32_t next_cursor;
  struct iopkt_ctl_ifaddr addrs[IOPKT_CTL_IFADDR_LIST_MAX]; /* only `count` sent */
};

struct iopkt_ctl_if_flags {
  char ifname[IOPKT_CTL_NAME_MAX];
  uint32_t set; /* IOPKT_IFF_UP, IOPKT_IFF_PROMISC... */
  uint32_t clear;
};

struct iopkt_ctl_if_mtu {
  char ifname[IOPKT_CTL_NAME_MAX];
  uint32_t mtu;
  uint32_t reserved;
};

struct iopkt_ctl_if_name {
  char ifname[IOPKT_CTL_NAME_MAX];
};

enum iopkt_sysctl_type { IOPKT_SYSCTL_INT = 1, IOPKT_SYSCTL_STRING = 2, IOPKT_SYSCTL_NODE = 3 };
#define IOPKT_SYSCTL_F_WRITABLE 0x01u
struct iopkt_ctl_sysctl {
  char name[IOPKT_CTL_SYSCTL_NAME_MAX];
  char value[IOPKT_CTL_SYSCTL_VALUE_MAX]; /* decimal for INT */
  uint32_t type;                          /* reply: enum iopkt_sysctl_type */
  uint32_t flags;                         /* reply: IOPKT_SYSCTL_F_* */
};

#define IOPKT_CTL_SYSCTL_LIST_MAX 64
struct iopkt_ctl_sysctl_list_reply {
  uint32_t count;
  uint32_t next_cursor;
  struct iopkt_ctl_sysctl entries[IOPKT_CTL_SYSCTL_LIST_MAX]; /* only `count` sent */
};

/* Route flags (BSD values, as route(8) prints them). */
#define IOPKT_RTF_UP 0x1u
#define IOPKT_RTF_GATEWAY 0x2u
#define IOPKT_RTF_HOST 0x4u
#define IOPKT_RTF_REJECT 0x8u
#define IOPKT_RTF_STATIC 0x800u
#define IOPKT_RTF_BLACKHOLE 0x1000u
#define IOPKT_RTF_LOCAL 0x200000u
#define IOPKT_RTF_CONNECTED 0x400000u
struct iopkt_ctl_route {
  uint32_t fib;   /* 0..15 */
  uint32_t flags; /* IOPKT_RTF_*; on add: GATEWAY, REJECT, BLACKHOLE (others ignored) */
  struct iopkt_ctl_addr dst;
  uint32_t prefixlen;
  uint32_t mtu;                    /* 0: the interface's */
  struct iopkt_ctl_addr gateway;   /* with IOPKT_RTF_GATEWAY */
  struct iopkt_ctl_addr ifa;       /* preferred source (AF_UNSPEC: none); ROUTE_GET: the source */
  char ifname[IOPKT_CTL_NAME_MAX]; /* "" on add: found from the gateway */
  uint64_t use;                    /* reply: lookups that chose it */
};

#define IOPKT_CTL_ROUTE_LIST_MAX 64
struct iopkt_ctl_route_list_reply {
  uint32_t count;
  uint32_t next_cursor;
  struct iopkt_ctl_route routes[IOPKT_CTL_ROUTE_LIST_MAX]; /* only `count` sent */
};

#define IOPKT_ARP_RESOLVED 0x1u  /* else incomplete (a request is out) */
#define IOPKT_ARP_PERMANENT 0x2u /* added with arp -s, never expires */
struct iopkt_ctl_arp {
  char ifname[IOPKT_CTL_NAME_MAX];
  struct iopkt_ctl_addr addr;
  uint8_t mac[6];
  uint16_t reserved;
  uint32_t flags;      /* IOPKT_ARP_* */
  int32_t expire_secs; /* reply: seconds left, -1 permanent */
};

#define IOPKT_CTL_ARP_LIST_MAX 64
struct iopkt_ctl_arp_list_reply {
  uint32_t count;
  uint32_t next_cursor;
  struct iopkt_ctl_arp entries[IOPKT_CTL_ARP_LIST_MAX]; /* only `count` sent */
};

/* One entry of netstat -a: a socket, or a TCP connection without one (its
 * socket closed in FIN_WAIT_2 or TIME_WAIT, or not accepted yet), as BSD
 * lists both; the sockets come first, then those connections. */
struct iopkt_ctl_socket_info {
  int32_t domain, type, protocol;
  /* SOCK_STREAM: the TCP state in BSD's TCPS_* numbering (tcp_fsm.h):
   * 0 CLOSED, 1 LISTEN, 2 SYN_SENT, 3 SYN_RCVD, 4 ESTABLISHED, 5 CLOSE_WAIT,
   * 6 FIN_WAIT_1, 7 CLOSING, 8 LAST_ACK, 9 FIN_WAIT_2, 10 TIME_WAIT.
   * 0 for other sockets. */
  uint32_t state;
  struct iopkt_ctl_addr laddr, faddr;
  uint32_t rcv_cc, snd_cc; /* bytes queued to read / not yet acknowledged */
  /* 1: a TCP connection with no socket (closed by its user, or not accepted
   * yet): no program holds it, so counts of open sockets leave it out. */
  uint32_t no_socket;
};
#define IOPKT_CTL_SOCKET_LIST_MAX 64
struct iopkt_ctl_socket_list_reply {
  uint32_t count;
  uint32_t next_cursor;
  struct iopkt_ctl_socket_info sockets[IOPKT_CTL_SOCKET_LIST_MAX]; /* only `count` sent */
};

struct iopkt_ctl_mount {
  char driver[IOPKT_CTL_PATH_MAX];     /* bare name (vwire, devnp-vwire.so) or path */
  char options[IOPKT_CTL_OPTIONS_MAX]; /* comma-separated, generic and driver options */
};

/* Datagram channel message header. */
#define IOPKT_DGRAM_VERSION 1u
struct iopkt_dgram_hdr {
  uint16_t version;           /* IOPKT_DGRAM_VERSION */
  uint16_t hdr_len;           /* sizeof(struct iopkt_dgram_hdr) */
  uint32_t flags;             /* client->stack: MSG_* of the send; stack->client: MSG_TRUNC... */
  struct iopkt_ctl_addr addr; /* to (client->stack; family 0: connected peer) / from */
  uint32_t cmsg_len; /* ancillary bytes following the header: records, 0..IOPKT_DGRAM_CMSG_MAX */
  uint32_t payload_len;
};

/* Ancillary data of one datagram: `cmsg_len` bytes of records, each a
 * struct iopkt_dgram_cmsg followed by `len` value bytes and zero padding to
 * a multiple of 8 (IOPKT_DGRAM_CMSG_SPACE); `cmsg_len` is the sum of the
 * records' spaces exactly. `level` and `type` take Linux's values
 * (<netinet/in.h>; the endpoint is local) and the value bytes are laid out
 * as Linux lays out that cmsg's data:
 *   IPPROTO_IP/IP_PKTINFO  struct in_pktinfo (12 bytes: int ipi_ifindex,
 *                          then ipi_spec_dst and ipi_addr in network order)
 *   IPPROTO_IP/IP_TTL      int (host order)
 *   IPPROTO_IP/IP_TOS      one byte, or an int on client->stack
 * client->stack: what the sendmsg carried (IP_PKTINFO: ipi_spec_dst is the
 *   source, ipi_ifindex the outgoing interface (a stack interface index),
 *   ipi_addr ignored; IP_TTL 1..255; IP_TOS 0..255). libiopkt checks them
 *   and answers EINVAL itself; the stack checks again and refuses a
 *   datagram with a bad record (the socket's pending error becomes EINVAL:
 *   the send has returned already).
 * stack->client: for each datagram, the records the socket asked for, in
 *   the order Linux's ip_cmsg_recv gives them: IP_PKTINFO (option
 *   IP_PKTINFO: arrival interface, our local address the datagram was for,
 *   the header's destination), IP_TTL (IP_RECVTTL: the received TTL),
 *   IP_TOS (IP_RECVTOS: the received TOS byte). The options in force when
 *   the stack writes the datagram to the channel decide. */
struct iopkt_dgram_cmsg {
  uint16_t level; /* IPPROTO_IP */
  uint16_t type;  /* IP_PKTINFO, IP_TTL, IP_TOS */
  uint32_t len;   /* value bytes following (padding excluded) */
};
#define IOPKT_DGRAM_CMSG_MAX 256u /* largest cmsg_len in either direction */
#define IOPKT_DGRAM_CMSG_SPACE(len) \
  ((uint32_t)sizeof(struct iopkt_dgram_cmsg) + (((uint32_t)(len) + 7u) & ~7u))

/* Instance registry: a live instance N holds an flock() on the file
 * ${IOPKT_RUNDIR}/io-pkt.N (default /run/iopkt as root, /tmp/iopkt-UID
 * otherwise), whose text is "pid prefix\n". `mount -T io-pktN` reads it to
 * find instance N's endpoint whatever its prefix; a second instance N finds
 * the lock taken and refuses to start; a killed instance's lock dies with
 * it. */
#define IOPKT_RUNDIR_ENV "IOPKT_RUNDIR"

#ifdef __cplusplus
}
#endif

#endif /* IOPKT_CONTROL_H */
