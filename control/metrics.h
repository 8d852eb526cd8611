/* SPDX-License-Identifier: BSD-3-Clause */
/* Prometheus /metrics (text format 0.0.4) served on a local address by a small bounded HTTP/1.0
 * responder. */
#ifndef CP_METRICS_H
#define CP_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cp.h"

#define CP_METRICS_DEFAULT_ADDR "127.0.0.1:9641"
#define CP_METRICS_MAX_SIGNALS                                                                     \
	64 /* distinct signal names with their own series; the rest count as "other" */
#define CP_METRICS_MAX_CONN 8	/* concurrent scrapes; more are accepted and closed at once */
#define CP_METRICS_REQ_MAX 2048 /* request head bytes read before answering 400 */
#define CP_METRICS_BODY_MAX (64u * 1024u) /* rendered exposition, bound by the series above */
#define CP_METRICS_IDLE_MS 5000 /* a connection that makes no progress for this long is closed */

/*
 * Counters and gauges. The ingest thread writes them through the cp_metrics_*
 * calls below, the HTTP thread reads them to render; lock protects all of them.
 */
struct cp_metrics {
	pthread_mutex_t lock;
	uint64_t flows[CP_SUBSTITUTED + 1]; /* by enum cp_result */
	struct {
		char name[48];
		uint64_t n;
	} sig[CP_METRICS_MAX_SIGNALS];
	unsigned int nsig;
	uint64_t sig_other;
	uint64_t events;	 /* events consumed from the rings */
	uint64_t events_not_tls; /* events with neither hello: not judged */
	uint64_t chains_new;	 /* chain blobs analysed */
	uint64_t chains_seen;	 /* distinct chain ids seen by this process */
	uint64_t chain_errors;	 /* blobs the engine refused or the ring lost */
	uint64_t chain_waits;	 /* events that waited for their chain's blob from another ring */
	uint64_t chain_missing;	 /* ... and were judged without it (never came, or bound hit) */
	uint64_t flow_errors;	 /* flows the engine failed to judge */
	uint64_t store_errors;	 /* database reads and writes that failed (verdicts still out) */
	struct cp_icache_stats icache; /* the engine's learned intermediates */
	struct cp_srv_cache_stats srv_cache; /* the engine's server-baseline reads */
	struct cp_chain_cache_stats chain_cache; /* the engine's chain and certificate caches */
	uint64_t flows_pruned;	 /* flow rows deleted for the row cap or retention */
	uint64_t json_errors;	 /* objects not written (too large) */
	uint64_t attaches;	 /* successful attaches to a dataplane segment */
	int attached;
	uint32_t dp_state;	      /* enum cw_shm_state of the attached segment */
	uint8_t chain_key_id[8];      /* of the segment attached last (all zero: unkeyed chain ids) */
	uint64_t ring_events_dropped; /* producer counters of the attached segment, summed over
					 rings */
	uint64_t ring_blobs_dropped;
	uint64_t ring_pending; /* events waiting, summed over rings */
	uint32_t nrings;
	uint64_t last_capture_ns; /* capture time of the newest event consumed */
	uint64_t heartbeat_ns;	  /* dataplane heartbeat */

	/* HTTP side: owned by the server thread once started. */
	int listen_fd;
	int wake[2];
	pthread_t thr;
	int running;
};

void cp_metrics_init(struct cp_metrics *m);

/* 0 when "ADDR:PORT" is an address cp_metrics_listen() takes, else -EINVAL with err set. */
int cp_metrics_check_addr(const char *addrport, char *err, size_t errlen);

/*
 * Bind and listen on "ADDR:PORT" ("[v6addr]:PORT" for IPv6). Done before
 * privileges are dropped. Returns 0 or -errno; err gets a message.
 */
int cp_metrics_listen(struct cp_metrics *m, const char *addrport, char *err, size_t errlen);

/* Start the server thread (no-op without a listening socket). Returns 0 or -errno. */
int cp_metrics_start(struct cp_metrics *m);

/* Stop the thread, close every socket. Safe to call when never started. */
void cp_metrics_fini(struct cp_metrics *m);

/* Record one judged flow. */
void cp_metrics_flow(struct cp_metrics *m, const struct cp_verdict *v);

/* Render the exposition into buf. Returns the length, or -ENOSPC. */
int cp_metrics_render(struct cp_metrics *m, char *buf, size_t cap);

#endif /* CP_METRICS_H */
