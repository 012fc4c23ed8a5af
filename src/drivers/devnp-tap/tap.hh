/*
 * devnp-tap/tap.hh — what devnp-tap.so exports besides iopkt_driver_entry:
 * its counters and the Linux side it attached to, for tests and tools.
 * C-compatible.
 *
 * Look the function up with dlsym(handle, IOPKT_TAP_GET_STATS_SYMBOL) and
 * pass the softc the module gave the stack in if_attach. The call only reads
 * counters (relaxed atomics) and fields fixed at attach, so it may run on any
 * thread while the interface is attached; never after its detach.
 */
#ifndef IOPKT_DRIVERS_TAP_HH
#define IOPKT_DRIVERS_TAP_HH

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iopkt_tap_stats {
  uint32_t struct_size;   /* sizeof(struct iopkt_tap_stats), set by the module */
  uint32_t vnet_hdr;      /* 1: frames carry a struct virtio_net_hdr */
  uint32_t created;       /* 1: this attach created the TAP */
  uint32_t persist;       /* 1: the TAP outlives the detach */
  uint32_t linux_ifindex; /* the TAP's index in its network namespace */
  uint32_t mtu;           /* the MTU last set (stack and Linux side) */
  char linux_name[16];    /* the TAP's name at attach */
  uint32_t quiesced;      /* 1 after quiesce: no more frames in or out */
  uint32_t reserved;
  /* Receive (kernel -> stack). */
  uint64_t rx_frames; /* handed to the stack, GSO segments included */
  uint64_t rx_bytes;
  uint64_t rx_too_long;       /* longer than the stack's buffer (cap): dropped */
  uint64_t rx_errors;         /* read() failed with something else than EAGAIN */
  uint64_t rx_csum_completed; /* NEEDS_CSUM frames completed in software */
  uint64_t rx_gso_frames;     /* GSO super-frames read */
  uint64_t rx_gso_segments;   /* frames cut from them */
  uint64_t rx_bad_vnet;       /* dropped: virtio_net_hdr inconsistent with the frame */
  /* Transmit (stack -> kernel). */
  uint64_t tx_frames; /* written */
  uint64_t tx_bytes;
  uint64_t tx_full;      /* write() said EAGAIN: the burst stopped there */
  uint64_t tx_link_down; /* dropped: the Linux side is down (EIO) */
  uint64_t tx_errors;    /* dropped: write() failed otherwise */
  uint64_t tx_bad_len;   /* dropped: shorter than an Ethernet header or longer than
                            65521 (the largest MTU) + 14 + 4 (a VLAN tag) */
};

/* Fills *out; returns 0, or -EINVAL when softc is not a devnp-tap softc. */
int iopkt_tap_get_stats(void* softc, struct iopkt_tap_stats* out);
typedef int (*iopkt_tap_get_stats_fn)(void* softc, struct iopkt_tap_stats* out);
#define IOPKT_TAP_GET_STATS_SYMBOL "iopkt_tap_get_stats"

#ifdef __cplusplus
}
#endif

#endif /* IOPKT_DRIVERS_TAP_HH */
