/*
 * devnp-vwire/vwire.hh — what devnp-vwire.so exports besides
 * iopkt_driver_entry: its counters, for tests and tools. C-compatible.
 *
 * Look the function up with dlsym(handle, IOPKT_VWIRE_GET_STATS_SYMBOL) and
 * pass the softc the module gave the stack in if_attach. The call only reads
 * counters (relaxed atomics), so it may run on any thread while the
 * interface is attached; never after its detach.
 */
#ifndef IOPKT_DRIVERS_VWIRE_HH
#define IOPKT_DRIVERS_VWIRE_HH

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iopkt_vwire_stats {
  uint32_t struct_size; /* sizeof(struct iopkt_vwire_stats), set by the module */
  uint32_t side;        /* 0: side A (first to attach), 1: side B */
  uint32_t qlen;        /* ring slots per direction */
  uint32_t peer_attached;
  /* This end's transmit direction. */
  uint64_t tx_frames; /* put into the ring (duplicates included) */
  uint64_t tx_bytes;
  uint64_t tx_lost;       /* dropped by loss= */
  uint64_t tx_duplicated; /* extra copies made by dup= */
  uint64_t tx_reordered;  /* held back by reorder= and sent after a later frame */
  uint64_t tx_ring_full;  /* dropped: no room in the ring (peer not reading) */
  uint64_t tx_queue_full; /* dropped: emulation queue full (rate= backlog > 100 ms
                             or 1000 frames; delay= 16384 frames or 64 MiB) */
  uint64_t tx_no_peer;    /* dropped: nobody attached at the other end */
  uint64_t tx_bad_len;    /* dropped: empty or longer than 65535 bytes */
  uint64_t tx_bells;      /* doorbells rung (wake-ups of a sleeping peer) */
  /* This end's receive direction. */
  uint64_t rx_frames;
  uint64_t rx_bytes;
  uint64_t rx_too_long; /* longer than the stack's buffer (cap): dropped */
  uint64_t rx_errors;   /* malformed ring records: the ring was skipped to its head */
};

/* Fills *out; returns 0, or -EINVAL when softc is not a vwire softc. */
int iopkt_vwire_get_stats(void* softc, struct iopkt_vwire_stats* out);
typedef int (*iopkt_vwire_get_stats_fn)(void* softc, struct iopkt_vwire_stats* out);
#define IOPKT_VWIRE_GET_STATS_SYMBOL "iopkt_vwire_get_stats"

#ifdef __cplusplus
}
#endif

#endif /* IOPKT_DRIVERS_VWIRE_HH */
