/*
 * iopkt driver ABI — the C interface between the io-pkt manager and a
 * network driver module (devnp-NAME.so).
 *
 * A module exports one symbol, `iopkt_driver_entry` (type
 * `struct iopkt_driver`). The manager dlopen()s the module, checks
 * `abi_version` against IOPKT_DRIVER_ABI_VERSION and refuses the module
 * with a message when they differ, then calls `attach` once per `-d` or
 * `mount -T` request. `attach` creates one or more interfaces with
 * `host->if_attach`. The module is unloaded when its last interface has been
 * detached.
 *
 * Threads. `attach`, `detach`, `set_flags`/`set_mtu` run under the stack
 * lock. `rx_burst` for one queue is only ever called by one thread at a time
 * (the packet thread that owns the queue), not under the stack lock.
 * `tx_burst` is called under the stack lock, from any packet thread.
 *
 * Ownership. Every pointer passed into a call is borrowed for the call only,
 * unless said otherwise; the exceptions are `host` and `ops` given to
 * `attach` and the `struct iopkt_if *` returned by `if_attach`, which stay
 * valid until the interface's `detach` returns (so a driver may report link
 * state and kick its queues from its own threads). Strings are
 * NUL-terminated.
 *
 * Symbols. Modules are built with hidden visibility; the entry (and anything
 * else a module means to export) is marked IOPKT_DRIVER_EXPORT.
 */
#ifndef IOPKT_DRIVER_H
#define IOPKT_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structures below. */
#define IOPKT_DRIVER_ABI_VERSION 1u

#define IOPKT_IFNAMSIZ 16
#define IOPKT_ETHER_ADDR_LEN 6
#define IOPKT_MAX_RX_QUEUES 16

/* Interface flags a driver may report and the stack may set (BSD values). */
#define IOPKT_IFF_UP 0x0001u
#define IOPKT_IFF_BROADCAST 0x0002u
#define IOPKT_IFF_LOOPBACK 0x0008u
#define IOPKT_IFF_POINTOPOINT 0x0010u
#define IOPKT_IFF_RUNNING 0x0040u
#define IOPKT_IFF_NOARP 0x0080u
#define IOPKT_IFF_PROMISC 0x0100u
#define IOPKT_IFF_ALLMULTI 0x0200u
#define IOPKT_IFF_SIMPLEX 0x0800u
#define IOPKT_IFF_MULTICAST 0x8000u

/* Link types. */
enum iopkt_link_type {
  IOPKT_LINK_ETHER = 1,  /* frames carry a 14-byte Ethernet II header */
  IOPKT_LINK_RAW_IP = 2, /* frames are bare IPv4/IPv6 packets (tun, slip) */
};

/*
 * Per-packet offload metadata, modelled on virtio-net's header so that TAP
 * (IFF_VNET_HDR) and AF_PACKET (PACKET_VNET_HDR) drivers map it directly.
 * A driver that does no offload leaves it zeroed on receive and may ignore
 * it on transmit only if it never advertised IOPKT_CAP_* offloads.
 */
#define IOPKT_PKT_CSUM_PARTIAL 0x01u /* checksum at csum_start+csum_offset to be completed */
#define IOPKT_PKT_CSUM_VALID 0x02u   /* receive: L4 checksum already verified */
#define IOPKT_GSO_NONE 0u
#define IOPKT_GSO_TCPV4 1u
#define IOPKT_GSO_UDP 3u
#define IOPKT_GSO_TCPV6 4u
struct iopkt_pkt_meta {
  uint8_t flags;    /* IOPKT_PKT_* */
  uint8_t gso_type; /* IOPKT_GSO_* */
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t reserved;
};

/* One frame, contiguous. */
struct iopkt_pkt {
  uint8_t* data;
  uint32_t len; /* bytes used */
  uint32_t cap; /* receive: bytes available at data */
  struct iopkt_pkt_meta meta;
};

/* Capabilities a driver advertises in iopkt_if_desc.caps. */
#define IOPKT_CAP_TX_CSUM 0x01u /* accepts IOPKT_PKT_CSUM_PARTIAL on transmit */
#define IOPKT_CAP_TSO 0x02u     /* accepts GSO super-frames on transmit */
#define IOPKT_CAP_RX_CSUM 0x04u /* may deliver CSUM_VALID / CSUM_PARTIAL */

struct iopkt_host; /* the stack, opaque to drivers */
struct iopkt_if;   /* an interface as the stack knows it, opaque */

/* What a driver tells the stack about a new interface. */
struct iopkt_if_desc {
  uint32_t struct_size;              /* sizeof(struct iopkt_if_desc) */
  const char* name_prefix;           /* "en", "vw", ...; overridden by name= */
  int32_t unit;                      /* -1: next free for the prefix; overridden by unit= */
  uint32_t link_type;                /* enum iopkt_link_type */
  uint8_t mac[IOPKT_ETHER_ADDR_LEN]; /* overridden by mac= */
  uint16_t reserved0;
  uint32_t mtu;         /* overridden by mtu= (the driver's set_mtu is asked) */
  uint32_t max_mtu;     /* largest MTU the driver can carry */
  uint32_t flags;       /* IOPKT_IFF_* the link supports (BROADCAST, MULTICAST...) */
  uint32_t caps;        /* IOPKT_CAP_* */
  uint32_t n_rx_queues; /* 1..IOPKT_MAX_RX_QUEUES */
  /* Per queue: an fd that becomes readable (EPOLLIN) when rx_burst may
   * return frames. The stack only polls it; the driver owns and closes it. */
  int rx_fd[IOPKT_MAX_RX_QUEUES];
};

/* The driver's interface operations. `softc` is the driver's own pointer. */
struct iopkt_if_ops {
  uint32_t struct_size; /* sizeof(struct iopkt_if_ops) */
  /* Fill up to n frames from queue q into pkts[i].data (cap bytes each,
   * provided by the stack). Returns frames filled (0 when none), or a
   * negative errno on a fatal link error. Must not block. A frame longer
   * than cap is dropped and counted by the driver (never truncated). */
  int (*rx_burst)(void* softc, uint32_t q, struct iopkt_pkt* pkts, uint32_t n);
  /* Send up to n frames. Returns how many were taken (copied or queued by
   * the driver; the stack reuses the buffers after the call). Frames not
   * taken are dropped and counted by the stack. Must not block. */
  int (*tx_burst)(void* softc, const struct iopkt_pkt* pkts, uint32_t n);
  /* IOPKT_IFF_UP / PROMISC / ALLMULTI changed. 0 or negative errno. */
  int (*set_flags)(void* softc, uint32_t flags);
  /* 0 or negative errno (e.g. -EINVAL beyond max_mtu). May be NULL. */
  int (*set_mtu)(void* softc, uint32_t mtu);
  /* Called once when the interface goes away (ifconfig destroy, shutdown);
   * the driver releases everything behind softc, including rx fds. */
  void (*detach)(void* softc);
  /* Bring host links down without freeing anything: called from the
   * SIGSEGV handler, so async-signal-safe calls only. May be NULL. */
  void (*quiesce)(void* softc);
  /* The stack gave the interface another link-layer address than the
   * driver's (the generic mac= option): the driver must now receive frames
   * sent to `mac` (e.g. turn promiscuous mode on). Called from inside
   * if_attach, before it returns; a negative errno makes the attach fail.
   * May be NULL (the driver delivers every frame anyway). Present when
   * struct_size covers it. */
  int (*set_lladdr)(void* softc, const uint8_t mac[IOPKT_ETHER_ADDR_LEN]);
};

/* Log levels (syslog's). */
#define IOPKT_LOG_ERR 3
#define IOPKT_LOG_WARNING 4
#define IOPKT_LOG_NOTICE 5
#define IOPKT_LOG_INFO 6
#define IOPKT_LOG_DEBUG 7

/* What the stack offers a driver during attach. */
struct iopkt_host_ops {
  uint32_t abi_version; /* IOPKT_DRIVER_ABI_VERSION of the stack */
  void (*log)(struct iopkt_host* host, int level, const char* msg);
  /* Create an interface. Returns NULL and writes a message to err when the
   * stack refuses (name taken, bad MTU...). On success the stack owns the
   * interface; ops->detach will be called exactly once. */
  struct iopkt_if* (*if_attach)(struct iopkt_host* host, const struct iopkt_if_desc* desc,
                                const struct iopkt_if_ops* ops, void* softc, char* err,
                                size_t errlen);
  /* Link state changed (carrier). Safe from any thread. */
  void (*if_link_state)(struct iopkt_if* ifp, int up);
  /* Tell the stack that queue q has frames although rx_fd did not signal
   * (e.g. after the driver stopped reading early). Safe from any thread. */
  void (*if_rx_kick)(struct iopkt_if* ifp, uint32_t q);
};

struct iopkt_driver {
  uint32_t abi_version; /* IOPKT_DRIVER_ABI_VERSION the module was built with */
  const char* name;     /* "vwire" */
  const char* description;
  /* Attach with the driver-specific options (the generic name=, unit=,
   * mac=, mtu=, did=, vid=, devno=, busno= already removed and applied by the
   * stack through the desc). `options` is a comma-separated list, possibly
   * empty. An unknown or malformed option is the driver's to refuse: return
   * a negative errno and write a message naming the option to err. */
  int (*attach)(struct iopkt_host* host, const struct iopkt_host_ops* ops, const char* options,
                char* err, size_t errlen);
};

#define IOPKT_DRIVER_ENTRY_SYMBOL "iopkt_driver_entry"
#define IOPKT_DRIVER_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif

#endif /* IOPKT_DRIVER_H */
