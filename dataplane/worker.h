/* SPDX-License-Identifier: BSD-3-Clause */
/* Worker lcore state, the per-packet handshake driver and the RX/dispatch/worker loops. */
#ifndef DP_WORKER_H
#define DP_WORKER_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "chaintab.h"
#include "dp.h"
#include "evring.h"
#include "flow.h"
#include "replay.h"

struct dp_worker;

/*
 * Time source, chosen once per run. Capture time (--pcap): the packet's
 * pcap timestamp from the mbuf dynfield; timers run on the newest capture
 * time the worker has seen. Live: CLOCK_REALTIME at start plus TSC cycles
 * since then, read once per loop iteration: every packet of a burst gets
 * the same time.
 */
struct dp_clock_ops {
	const char *name;
	/* ts[i] = time of pkts[i], for the n frames of one burst (one call per burst) */
	void (*stamp)(struct dp_worker *w, struct rte_mbuf *const *pkts, uint16_t n, uint64_t *ts);
	void (*tick)(struct dp_worker *w, uint64_t tsc); /* once per loop iteration: advance w->now_ns */
};

/*
 * What a worker does with a burst, chosen once per run: follow handshakes
 * (dp_worker_burst), or free the frames untouched (--rx-only: the baseline
 * of the same binary on the same core and input). Called once per burst;
 * the callee frees the frames.
 */
struct dp_work_ops {
	const char *name;
	void (*burst)(struct dp_worker *w, struct rte_mbuf **pkts, uint16_t n);
};

enum dp_work {
	DP_WORK_HANDSHAKE = 0,
	DP_WORK_RX_ONLY,
	DP_WORK__MAX
};

/*
 * One worker. Allocated cache-aligned per worker; after setup only the
 * worker's own lcore writes it (the main lcore reads counters through
 * dp_lcore_stats and frees everything after the lcores have stopped).
 */
struct dp_worker {
	uint32_t id;               /* 0..nworkers-1: event ring index and ev.worker */
	unsigned int lcore;
	uint16_t port;
	uint16_t queue;            /* RSS mode: the RX queue it polls */
	int linktype;              /* enum cw_linktype of the frames */
	int checksums;             /* verify the checksums of followed flows' segments (--checksums) */
	int events_wait;           /* a full event ring: wait for the consumer (--events-wait) */
	struct rte_ring *in;       /* dispatch mode: SP/SC ring from the dispatcher */
	struct dp_replay_src *rsrc; /* replay mode: this worker's share of the capture */
	struct dp_stats *st;       /* &dp_lcore_stats[lcore] */
	const struct dp_clock_ops *clk;
	const struct dp_work_ops *work;
	uint64_t now_ns;           /* timer clock (see struct dp_clock_ops) */
	struct dp_flow_table ft;
	struct dp_sess_pool pool;
	struct cw_certref refs;     /* expected Certificate messages (--cert-refs); pool.ops.refs */
	void *refs_mem;
	struct dp_chaintab *chains; /* shared */
	struct dp_chain_cache *cc;
	struct cw_evring *ev;       /* this worker's event ring (producer side) */
	uint8_t *scratch;           /* [DP_SCRATCH_BYTES]: linearised multi-segment frames */
	uint8_t *blob;              /* [blob_cap]: chain blob being built */
	uint32_t blob_cap;
} __rte_cache_aligned;

/* The expected Certificate messages' counters (struct cw_certref), named as reported. */
#define DP_CERTREF_COUNTERS 6
extern const char *const dp_certref_names[DP_CERTREF_COUNTERS];
void dp_certref_counts(const struct cw_certref *r, uint64_t v[DP_CERTREF_COUNTERS]);

struct dp_xsk;

/* Global run state shared by the loops; written by main.c before launch. */
struct dp_run {
	const struct dp_conf *conf;
	struct dp_worker *w[DP_MAX_WORKERS];
	uint32_t nworkers;
	uint16_t port;
	int ts_off;        /* mbuf timestamp dynfield offset, -1 if none */
	uint64_t ts_flag;  /* mbuf flag telling the dynfield is valid */
	uint64_t tsc_hz;
	uint64_t tsc0;     /* TSC at start */
	uint64_t ns0;      /* CLOCK_REALTIME at start */
	uint64_t mult;     /* ns per TSC cycle, 32.32 fixed point */
	int eof;           /* --pcap: the whole capture was received; --replay: every pass made */
	struct dp_replay *replay; /* --replay, else NULL */
	uint64_t stop_tsc; /* --duration: stop at this TSC, 0 = never (set at launch) */
	struct cw_shm *shm;
	const struct dp_xsk *xsk; /* --iface: its AF_XDP sockets, whose drops the stats line shows */
};

extern struct dp_run dp_run;

/* Mode operations, chosen once: what the main lcore runs, what each worker lcore runs. */
struct dp_mode_ops {
	const char *name;
	int (*main_loop)(void);          /* returns when stopping; flushes what it owns */
	int (*worker_loop)(void *arg);   /* NULL: no worker lcores in this mode */
};

extern const struct dp_mode_ops dp_modes[DP_MODE__MAX];
extern const struct dp_clock_ops dp_clock_capture;
extern const struct dp_clock_ops dp_clock_tsc;
extern const struct dp_work_ops dp_work[DP_WORK__MAX];

int dp_worker_init(struct dp_worker *w, uint32_t id, const struct dp_conf *conf, int socket,
		   struct dp_chaintab *chains, struct cw_evring *ev);
void dp_worker_free(struct dp_worker *w);

/*
 * Work on a burst of up to DP_BURST frames received for this worker, then
 * free them (counts are the caller's: rx). Decodes the whole burst, looks
 * every TCP segment's flow up in one bulk call, then follows the segments
 * in order; a packet of a finished flow costs its decode and its share of
 * the bulk lookup.
 */
void dp_worker_burst(struct dp_worker *w, struct rte_mbuf **pkts, uint16_t n);

/* Finish every live session with CW_END_SHUTDOWN and emit its event. */
void dp_worker_flush(struct dp_worker *w);

/*
 * Main-lcore housekeeping at TSC tsc (read once by the caller's loop): heartbeat,
 * end-of-capture detection, signals, --duration, --stats-interval. Returns 1 to stop.
 */
int dp_main_tick(uint64_t tsc);

#endif /* DP_WORKER_H */
