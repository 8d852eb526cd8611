/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared-memory event rings between one dataplane instance and its control consumer (no DPDK). */
#ifndef CW_EVRING_H
#define CW_EVRING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cw_event.h"

/*
 * One POSIX shared-memory object per dataplane instance, named
 * "/chainwatch.<instance>" (CW_SHM_PREFIX + instance, default "default").
 * The dataplane creates it at start (unlinking any previous one) and never
 * removes it at exit, so a consumer can still drain what is left.
 *
 * Layout (all offsets from the start of the mapping, all 64-byte aligned):
 *
 *   0                      struct cw_shm_hdr        (256 bytes)
 *   256                    struct cw_evring_ctl[nrings]   (256 bytes each)
 *   ring[i].ev_off         struct cw_flow_event slots[slots]
 *   ring[i].blob_off       uint8_t blob bytes[blob_bytes]
 *
 * ev_off and blob_off of each ring are stored in its control block, so a
 * consumer never recomputes the layout; total_size equals the object size.
 *
 * Each ring is single-producer (one worker lcore) single-consumer. Indexes
 * are free-running 64-bit counters (never wrap in practice); the slot is
 * index & (slots - 1), the byte offset index & (blob_bytes - 1).
 *
 * Memory ordering (C11 atomics, lock-free and address-free on every target
 * we build for, so valid across processes):
 *   producer: write slot/bytes -> store-release head
 *             load-acquire tail before reusing space
 *   consumer: load-acquire head -> read slot/bytes -> store-release tail
 * Blobs are written and their head released before the event that first
 * references the chain, so a consumer that acquired the event head also
 * sees the blob (acquire on ev_head orders after the earlier blob_head
 * release by the same thread). Blobs appear in the same order as the
 * CHAIN_NEW events that reference them; the producer never writes a blob
 * without the event that references it (it checks event space first).
 *
 * Blob ring records: an 8-byte struct cw_blob_rec, then len bytes of
 * payload (struct cw_chain_blob + DER), padded to 8 bytes. A record never
 * wraps: when it does not fit before the end of the buffer, a record of type
 * CW_BLOB_PAD fills the rest and the blob starts at offset 0.
 *
 * Overflow: the producer never blocks. A full event ring drops the event
 * (events_dropped++, -ENOBUFS, no blob written). A full blob ring drops the
 * blob only (blobs_dropped++): the event is still published with
 * CW_EVF_CHAIN_NEW cleared and CW_EVF_BLOB_DROPPED set.
 * Event seq numbers count every publish attempt on the ring, so a consumer
 * sees gaps where events were dropped.
 */

#define CW_SHM_PREFIX "/chainwatch."
#define CW_SHM_NAME_MAX 64          /* whole name incl. prefix and NUL */
#define CW_EVRING_MAX_RINGS 128     /* workers per instance */
#define CW_EVRING_MIN_SLOTS 2
#define CW_EVRING_MAX_SLOTS (1u << 24)
#define CW_EVRING_MIN_BLOB 4096u
#define CW_EVRING_MAX_BLOB (1u << 30)

/* Dataplane state in the header. */
enum cw_shm_state {
	CW_SHM_STARTING = 0, /* segment created, rings not yet fed */
	CW_SHM_RUNNING = 1,  /* processing input */
	CW_SHM_DONE = 2,     /* all input processed and every event flushed (end of capture) */
	CW_SHM_EXITED = 3,   /* process left (signal or after DONE); nothing more comes */
};

/* Blob record types. */
#define CW_BLOB_DATA 1u
#define CW_BLOB_PAD 2u

struct cw_blob_rec {
	uint32_t len;  /* payload bytes following (CW_BLOB_PAD: bytes to skip after this header) */
	uint32_t type; /* CW_BLOB_DATA or CW_BLOB_PAD */
};

/*
 * Segment header. Written by the dataplane only; the static fields are set
 * before the segment is published (before the first ring write), the
 * _Atomic ones are updated while running. Consumers read it.
 */
struct cw_shm_hdr {
	uint32_t magic;       /* CW_SHM_MAGIC */
	uint32_t abi_version; /* CW_ABI_VERSION */
	uint32_t hdr_size;    /* sizeof(struct cw_shm_hdr) */
	uint32_t ctl_size;    /* sizeof(struct cw_evring_ctl) */
	uint32_t event_size;  /* sizeof(struct cw_flow_event) */
	uint32_t nrings;      /* 1..CW_EVRING_MAX_RINGS */
	uint32_t slots;       /* events per ring, power of 2 */
	uint32_t blob_bytes;  /* blob ring bytes per ring, power of 2 */
	uint64_t total_size;  /* size of the object in bytes */
	uint64_t ctl_off;     /* offset of struct cw_evring_ctl[0] */
	uint64_t generation;  /* differs on every dataplane start */
	int32_t pid;          /* dataplane process id */
	uint32_t pad0;
	uint64_t start_ns;    /* CLOCK_REALTIME at creation */
	_Atomic uint32_t state;        /* enum cw_shm_state */
	uint32_t pad1;
	_Atomic uint64_t heartbeat_ns; /* CLOCK_REALTIME, refreshed by the dataplane about every 100 ms */
	char instance[CW_SHM_NAME_MAX];
	/*
	 * Id of the key the chain ids are made with (chain.h, cw_chain_key_id()),
	 * all zero when unkeyed. A store keeps ids of one key only (chainwatchd
	 * checks). Taken from reserved bytes: zero in a segment of an older build.
	 */
	uint8_t chain_key_id[8];
	uint8_t reserved[256 - 88 - CW_SHM_NAME_MAX - 8];
};

/*
 * Per-ring control block. Producer and consumer fields are on separate
 * cache lines so neither side's writes bounce the other's line.
 */
struct cw_evring_ctl {
	/* Static: written once by the dataplane before publishing. */
	uint64_t ev_off;   /* offset of the event slots */
	uint64_t blob_off; /* offset of the blob bytes */
	uint8_t pad0[48];
	/* Producer (the worker lcore) writes, consumer reads. */
	_Atomic uint64_t ev_head;        /* events published */
	_Atomic uint64_t blob_head;      /* blob bytes published */
	_Atomic uint64_t events_dropped; /* events lost to a full ring */
	_Atomic uint64_t blobs_dropped;  /* blobs lost to a full blob ring */
	_Atomic uint64_t blobs_written;
	uint8_t pad1[24];
	/* Consumer writes, producer reads. */
	_Atomic uint64_t ev_tail;   /* events consumed */
	_Atomic uint64_t blob_tail; /* blob bytes consumed */
	uint8_t pad2[48];
	uint8_t reserved[64];
};

_Static_assert(sizeof(struct cw_shm_hdr) == 256, "cw_shm_hdr layout changed: bump CW_ABI_VERSION");
_Static_assert(sizeof(struct cw_evring_ctl) == 256, "cw_evring_ctl layout changed: bump CW_ABI_VERSION");
_Static_assert(offsetof(struct cw_evring_ctl, ev_head) == 64, "producer line");
_Static_assert(offsetof(struct cw_evring_ctl, ev_tail) == 128, "consumer line");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "shared-memory rings need lock-free 64-bit atomics");

/*
 * Process-local view of one ring. A producer view is used by exactly one
 * thread (its worker); a consumer view by exactly one consumer thread.
 */
struct cw_evring {
	struct cw_evring_ctl *ctl;
	struct cw_flow_event *slots;
	uint8_t *blob;
	uint32_t nslots;   /* power of 2 */
	uint32_t blob_bytes; /* power of 2 */
	uint64_t ev_limit;   /* producer: cached ev_tail + nslots */
	uint64_t blob_limit; /* producer: cached blob_tail + blob_bytes */
	uint64_t attempts;   /* producer: publish attempts, becomes ev.seq */
	uint64_t blob_next;  /* consumer: blob_tail after releasing the blob in hand */
	int blob_held;       /* consumer: a blob from cw_evring_read() is in hand */
};

/* Process-local handle on a mapped segment. */
struct cw_shm {
	struct cw_shm_hdr *hdr;
	size_t size;
	int producer;
	uint64_t generation; /* consumer: generation seen at attach */
	int32_t pid;         /* consumer: pid seen at attach */
	char name[CW_SHM_NAME_MAX];
	uint32_t nrings;
	struct cw_evring rings[CW_EVRING_MAX_RINGS];
};

/* Build "/chainwatch.<instance>" into out. Returns 0 or -EINVAL (bad or too long instance). */
int cw_shm_name(const char *instance, char out[CW_SHM_NAME_MAX]);

/* Bytes a segment with these parameters takes. 0 for invalid parameters. */
uint64_t cw_shm_size(uint32_t nrings, uint32_t slots, uint32_t blob_bytes);

/*
 * Producer: create (replacing any previous object of that name) and map a
 * segment; mode is the permission of the object (e.g. 0660, not masked by
 * umask). slots and blob_bytes must be powers of 2 within the bounds above.
 * State starts as CW_SHM_STARTING. The header records the process's chain-key
 * id (set the key first). Returns 0 or -errno.
 */
int cw_shm_create(struct cw_shm *shm, const char *instance, uint32_t nrings, uint32_t slots,
		  uint32_t blob_bytes, mode_t mode);

/* Producer: set state and heartbeat. */
void cw_shm_set_state(struct cw_shm *shm, enum cw_shm_state st);
void cw_shm_heartbeat(struct cw_shm *shm);

/* Unmap (either side). The object stays for a later consumer. */
void cw_shm_close(struct cw_shm *shm);

/* Remove the object by instance name. Returns 0 or -errno. */
int cw_shm_unlink(const char *instance);

/* Result of cw_evring_publish() when the event went out without its blob. */
#define CW_EVRING_BLOB_DROPPED 1

/*
 * Producer: publish one event and, when blob != NULL, the chain blob before
 * it (ev->flags must then have CW_EVF_CHAIN_NEW; blob_len = blob->total_len).
 * Sets ev->seq. Never blocks:
 *   0                       event (and blob) published
 *   CW_EVRING_BLOB_DROPPED  event published with CHAIN_NEW cleared and BLOB_DROPPED set
 *   -ENOBUFS                event ring full: nothing published, events_dropped++
 * (a blob larger than the blob ring counts as a blob drop)
 */
int cw_evring_publish(struct cw_evring *r, struct cw_flow_event *ev, const struct cw_chain_blob *blob,
		      uint32_t blob_len);

/*
 * Producer: would cw_evring_publish() take an event now, with a blob of
 * blob_len bytes (0: none) whole? 1 yes, 0 when the event ring, or the blob
 * ring for that blob, is full until the consumer reads on. A blob that cannot
 * fit even in an empty blob ring (at its head's place) counts as room: it is
 * dropped, counted, as it always is.
 */
int cw_evring_room(struct cw_evring *r, uint32_t blob_len);

/* Producer: events published / dropped so far (from the shared counters). */
uint64_t cw_evring_published(const struct cw_evring *r);
uint64_t cw_evring_dropped(const struct cw_evring *r);

/*
 * Consumer: open and map an existing segment read-write (tails live in it).
 * Checks magic, ABI version, struct sizes and the object size.
 * Returns 0, -ENOENT (no dataplane instance), -EPROTO (magic/version/layout
 * mismatch) or another -errno.
 */
int cw_shm_attach(struct cw_shm *shm, const char *instance);

/*
 * Consumer: take the next event of ring r into *ev. When the event has
 * CW_EVF_CHAIN_NEW, *blob points at its chain blob (inside the mapping,
 * valid until the next cw_evring_read() on this ring), else *blob = NULL.
 * Returns 1 when an event was read, 0 when the ring is empty, -EPROTO when
 * the blob ring is inconsistent with the event (the event is still returned
 * with *blob = NULL, and the blob ring is resynchronised to its head).
 */
int cw_evring_read(struct cw_evring *r, struct cw_flow_event *ev, const struct cw_chain_blob **blob);

/* Consumer: give back the blob from the last cw_evring_read() now (it is also given back by the next read). */
void cw_evring_release(struct cw_evring *r);

/* Consumer: events waiting in ring r. */
uint64_t cw_evring_pending(const struct cw_evring *r);

/*
 * Consumer: events published to ring r so far (acquire: what was published
 * before is visible), and events read from it so far. Once tail reaches a
 * head read earlier, everything published before that read has been read.
 */
uint64_t cw_evring_head(const struct cw_evring *r);
uint64_t cw_evring_tail(const struct cw_evring *r);

/* Consumer view of the producer: what cw_shm_check() reports. */
enum cw_shm_check {
	CW_SHM_OK = 0,        /* same dataplane as at attach, still running (or starting) */
	CW_SHM_IS_DONE,       /* input finished and flushed: drain, then detach */
	CW_SHM_IS_EXITED,     /* dataplane left cleanly: drain, then detach */
	CW_SHM_GONE,          /* dataplane process died without marking EXITED */
	CW_SHM_RESTARTED,     /* a new dataplane replaced the segment: drain, detach, attach again */
};

/*
 * Consumer: has the dataplane finished, died or restarted since attach?
 * Opens the object by name to compare generation and pid (a syscall: call it
 * when idle, not per event).
 */
enum cw_shm_check cw_shm_check(struct cw_shm *shm);

#endif /* CW_EVRING_H */
