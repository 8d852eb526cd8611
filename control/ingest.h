/* SPDX-License-Identifier: BSD-3-Clause */
/* Ring consumer loop: attach to the dataplane's rings, judge each event, write JSON and metrics. */
#ifndef CP_INGEST_H
#define CP_INGEST_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "anon.h"
#include "cp.h"
#include "evring.h"
#include "metrics.h"

#define CP_INGEST_BATCH 256	      /* events taken from one ring before moving to the next */
#define CP_INGEST_CHAINSET (1u << 16) /* distinct chain ids remembered for the chains_known gauge  \
				       */
#define CP_CHAIN_WAIT_MAX 1024 /* flow events held for a blob on another ring (1.7 KiB each) */
#define CP_CHAIN_SNAP_MS 50u   /* ... until the rings are read past their heads this long after */
#define CP_SUMMARY_MAX 1024	      /* (name, verdict) rows in the end-of-run summary */
#define CP_SUMMARY_SIGS 8	      /* distinct signal names kept per summary row */

/* One row of the end-of-run summary: substituted/suspicious flows of one name. */
struct cp_summary_row {
	char name[CP_NAME_MAX];
	enum cp_result result;
	uint64_t count;
	unsigned int nsig;
	char sig[CP_SUMMARY_SIGS][48];
	char evidence[CP_DN_MAX + 16]; /* the anchor's name, else the leaf issuer */
};

struct cp_ingest_opts {
	const char *instance;	   /* dataplane instance (shm name suffix) */
	int exit_when_done;	   /* leave once the dataplane is DONE/EXITED and drained */
	unsigned int flush_events; /* commit after this many events ... */
	unsigned int flush_ms;	   /* ... or this long, whichever first */
	int progress;		   /* report flows judged on stderr */
	int quiet;		   /* no attach/reattach notices on stderr */
	int summary;		   /* keep the (name, verdict) summary table */
};

/* Kinds of rate-limited warning (warn_limited() in ingest.c), each limited on its own. */
enum cp_warn {
	CP_WARN_STORE,  /* a database read or write failed */
	CP_WARN_JSON,   /* a JSON object too large */
	CP_WARN_BLOB,   /* a chain blob refused */
	CP_WARN_FLOW,   /* a flow could not be judged */
	CP_WARN_RING,   /* a ring's blob out of step */
	CP_WARN_ATTACH, /* the dataplane's segment cannot be opened */
	CP_WARN__MAX
};

struct cp_ingest {
	struct cp_ingest_opts o;
	struct cp_engine *engine;
	const struct cp_anon *anon;
	FILE *json; /* NULL: no JSON output */
	struct cp_metrics *m;
	volatile sig_atomic_t *stop;

	struct cw_shm shm;
	int attached;
	uint64_t finished_gen; /* generation already drained to the end; 0 none */
	int32_t finished_pid;

	char *jbuf;		 /* CP_JSON_LINE_MAX */
	uint8_t (*chainset)[16]; /* open addressing, CP_INGEST_CHAINSET slots */
	uint64_t nchains;

	uint64_t flows, by_result[CP_SUBSTITUTED + 1];
	uint64_t since_flush;
	uint64_t last_flush_ms, last_progress_ms, last_check_ms;
	int progress_tty, progress_shown;
	uint64_t last_warn_ms[CP_WARN__MAX]; /* per kind of message: warn_limited() */
	uint64_t warn_held[CP_WARN__MAX];    /* messages of each kind not printed since */
	uint64_t store_errors;               /* the engine's failed database reads and writes */

	struct cp_summary_row *sum; /* CP_SUMMARY_MAX */
	unsigned int nsum;
	uint64_t sum_dropped; /* flows whose row did not fit */
	char err[256];        /* message of a fatal attach error (-EKEYREJECTED) */

	/*
	 * Flow events whose chain is unknown and came without a blob: the blob
	 * is on another worker's ring (a worker marks a chain sent just before
	 * it publishes the blob, microseconds later). CP_CHAIN_SNAP_MS after an
	 * event was read, the heads of all rings are noted: whatever the other
	 * workers published by then, that blob included, is read once every
	 * ring's tail reaches its noted head, however far behind the reader
	 * is. The event is judged when its chain is known, else then (without
	 * its chain: chain_missing), or when the rings are drained at the end.
	 * Bound: CP_CHAIN_WAIT_MAX events; when full, the oldest is judged at
	 * once.
	 */
	struct cp_wait {
		struct cw_flow_event ev;
		uint64_t since_ms;
		uint64_t blobs_checked; /* in->blobs when the chain was last looked up */
		int snap;               /* need[] taken */
		uint64_t need[CW_EVRING_MAX_RINGS];
	} *wait;
	unsigned int nwait;
	uint64_t blobs; /* chain blobs handed to the engine */
};

/* Allocate buffers. Returns 0 or -ENOMEM. */
int cp_ingest_init(struct cp_ingest *in, const struct cp_ingest_opts *o, struct cp_engine *e,
		   const struct cp_anon *anon, FILE *json, struct cp_metrics *m,
		   volatile sig_atomic_t *stop);

/*
 * Wait until the dataplane segment exists and attach (polls; returns -EINTR
 * when *stop was raised). -EPROTO when its layout is not ours, -EKEYREJECTED
 * (message in in->err) when its chain key is not the store's: both fatal.
 */
int cp_ingest_attach(struct cp_ingest *in);

/*
 * Consume until *stop, or (exit_when_done) until the dataplane finished and
 * every ring is drained. Reattaches when the dataplane restarts or its
 * segment is replaced. Returns 0, or -errno on a fatal error (JSON output
 * failed, the dataplane died under --exit-when-done).
 */
int cp_ingest_run(struct cp_ingest *in);

/* Print the summary table (substituted first, then by count). */
void cp_ingest_summary(const struct cp_ingest *in, FILE *out);

void cp_ingest_fini(struct cp_ingest *in);

#endif /* CP_INGEST_H */
