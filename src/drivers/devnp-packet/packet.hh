/*
 * devnp-packet/packet.hh — what devnp-packet.so exports besides
 * iopkt_driver_entry: its counters, and the receive-side frame finisher for
 * tests and tools. C-compatible.
 *
 * Look the functions up with dlsym(handle, IOPKT_PACKET_*_SYMBOL).
 * iopkt_packet_get_stats() takes the softc the module gave the stack in
 * if_attach; it only reads counters (relaxed atomics) and asks the kernel
 * for its ring drop count, so it may run on any thread while the interface
 * is attached; never after its detach.
 */
#ifndef IOPKT_DRIVERS_PACKET_HH
#define IOPKT_DRIVERS_PACKET_HH

#include <stddef.h>
#include <stdint.h>

#include "iopkt/driver.h"

#ifdef __cplusplus
extern "C" {
#endif

struct iopkt_packet_stats {
  uint32_t struct_size; /* sizeof(struct iopkt_packet_stats), set by the module */
  uint32_t ifindex;     /* the Linux interface, in io-pkt's network namespace */
  uint32_t linux_mtu;   /* its MTU at attach: the largest MTU we accept */
  uint32_t mtu;         /* the interface MTU now */
  uint32_t vnet_hdr;    /* 1: offload state from PACKET_VNET_HDR; 0: from tp_status */
  uint32_t promisc;     /* 1 while PACKET_MR_PROMISC is on */
  uint32_t block_size;  /* ring geometry */
  uint32_t block_count;
  /* Receive. */
  uint64_t rx_frames; /* delivered to the stack (segments included) */
  uint64_t rx_bytes;
  uint64_t rx_ring_frames;      /* frames read from the ring */
  uint64_t rx_csum_completed;   /* partial checksums finished */
  uint64_t rx_gso_frames;       /* super-frames cut into segments */
  uint64_t rx_gso_segments;     /* frames they became */
  uint64_t rx_vlan_restored;    /* 802.1Q tags put back into the frame */
  uint64_t rx_outgoing;         /* PACKET_OUTGOING frames skipped */
  uint64_t rx_too_long;         /* not a super-frame, yet longer than MTU + link header */
  uint64_t rx_truncated;        /* cut by the ring (larger than a block) */
  uint64_t rx_gso_unsupported;  /* a super-frame we cannot cut (UFO, unknown size) */
  uint64_t rx_bad_headers;      /* headers truncated or not matching the offload info */
  uint64_t rx_csum_unsupported; /* partial non-Internet checksum (SCTP CRC32c) */
  uint64_t rx_over_cap;         /* longer than the stack's buffer */
  uint64_t rx_ring_errors;      /* malformed ring block: the rest of it skipped */
  uint64_t rx_kernel_drops;     /* PACKET_STATISTICS tp_drops: the ring was full */
  /* Transmit. */
  uint64_t tx_frames;
  uint64_t tx_bytes;
  uint64_t tx_errors; /* refused by the kernel (too long, link down...) */
  uint64_t tx_busy;   /* socket buffer or device backlog full: not taken */
};

/* Fills *out; returns 0, or -EINVAL when softc is not a packet softc. */
int iopkt_packet_get_stats(void* softc, struct iopkt_packet_stats* out);
typedef int (*iopkt_packet_get_stats_fn)(void* softc, struct iopkt_packet_stats* out);
#define IOPKT_PACKET_GET_STATS_SYMBOL "iopkt_packet_get_stats"

/* One frame as the ring describes it. */
struct iopkt_packet_rx_frame {
  const uint8_t* data; /* from the Ethernet header on, VLAN tag stripped by Linux */
  uint32_t len;
  uint32_t tp_status; /* TP_STATUS_* (CSUMNOTREADY, CSUM_VALID, VLAN_VALID...) */
  uint16_t vlan_tci;  /* with TP_STATUS_VLAN_VALID */
  uint16_t vlan_tpid; /* with TP_STATUS_VLAN_TPID_VALID; else 0x8100 */
  uint32_t has_vnet;  /* 1: the virtio_net_hdr fields below are the kernel's */
  uint8_t vnet_flags; /* VIRTIO_NET_HDR_F_* */
  uint8_t vnet_gso_type;
  uint16_t vnet_hdr_len;
  uint16_t vnet_gso_size;
  uint16_t vnet_csum_start;
  uint16_t vnet_csum_offset;
  uint16_t reserved;
  uint32_t mtu;       /* the interface MTU: frames out are <= mtu + link header */
  uint32_t linux_mtu; /* the Linux interface's (for has_vnet == 0) */
};

/* Does to one frame what rx_burst does to each frame of the ring: restores
 * the VLAN tag, finishes partial checksums, cuts super-frames. Writes up to
 * n frames into out[i].data (out[i].cap bytes each; out[i].len and .meta
 * set) and returns how many, or a negative errno when the frame is dropped
 * (-EMSGSIZE too long, -EPROTO bad headers, -EOPNOTSUPP unsupported GSO or
 * checksum, -ENOBUFS more frames than n or a frame larger than its cap). */
int iopkt_packet_finish_frame(const struct iopkt_packet_rx_frame* in, struct iopkt_pkt* out,
                              uint32_t n);
typedef int (*iopkt_packet_finish_frame_fn)(const struct iopkt_packet_rx_frame* in,
                                            struct iopkt_pkt* out, uint32_t n);
#define IOPKT_PACKET_FINISH_FRAME_SYMBOL "iopkt_packet_finish_frame"

#ifdef __cplusplus
}
#endif

#endif /* IOPKT_DRIVERS_PACKET_HH */
