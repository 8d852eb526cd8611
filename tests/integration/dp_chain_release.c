/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A worker releases a chain's certificate bytes early when the chain table says the chain was
 * sent before. If the chain turns unsent before the flow's event goes out (another worker's blob
 * was dropped meanwhile), the event must say so (CW_EVF_BLOB_DROPPED, blobs_released) and the
 * chain must go out with its blob at its next sighting.
 *
 * Real components: EAL (--no-huge), the shared chain table (rte_hash), a worker with its flow
 * table and session pool, an event ring in shared memory, and a capture of real TLS servers.
 * Three passes over the capture, each with a fresh worker and the same chain table:
 *   1. every chain is new and goes out with its blob;
 *   2. the first flow whose known chain was released early has that chain made unsent before
 *      its event is published: that event carries BLOB_DROPPED, not CHAIN_NEW;
 *   3. the chain goes out with its blob again (at the latest in this pass).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "../unit/cw_check.h"
#include "chaintab.h"
#include "dp_frames.h"
#include "rundir.h"
#include "worker.h"

#define MAX_FRAMES 20000

static struct dp_frame frames[MAX_FRAMES];
static uint32_t nframes;

/* The live session, if any, whose certificates were released with chain id `id`. */
static const struct cw_session *
released_session(const struct dp_worker *w, const uint8_t id[CW_ID_LEN])
{
	for (uint32_t n = 0; n < w->ft.n; n++) {
		const struct dp_flow *f = &w->ft.f[n];

		if (f->used && f->sess != NULL && f->sess->s.certs_released &&
		    memcmp(f->sess->s.ev.chain_id, id, CW_ID_LEN) == 0)
			return &f->sess->s;
	}
	return NULL;
}

struct pass {
	uint64_t c0[DP_C__MAX];
	uint64_t d[DP_C__MAX]; /* counters this pass */
	uint32_t events, with_chain, chain_new, blob_dropped, blobs_for_target;
	uint32_t target_new, target_dropped; /* events with the target chain id */
	int unsent_done;                       /* pass 2: the target was made unsent mid-flow */
};

/*
 * One pass: every frame alone through a fresh worker, then a flush and a drain of the ring. With
 * make_unsent, the target chain is made unsent as soon as a session holding it has released its
 * certificates (once).
 */
static int
pass(struct dp_chaintab *ct, struct cw_shm *shm, struct rte_mempool *mp, const struct dp_conf *conf,
     uint8_t target[CW_ID_LEN], int pick_target, int make_unsent, struct pass *ps)
{
	struct dp_worker *w = rte_zmalloc(NULL, sizeof(*w), 64);
	struct cw_flow_event ev;
	const struct cw_chain_blob *blob;
	static const uint8_t zero[CW_ID_LEN];
	uint32_t i;
	int rc;

	memset(ps, 0, sizeof(*ps));
	if (w == NULL || dp_worker_init(w, 0, conf, 0, ct, &shm->rings[0]) < 0)
		return -1;
	w->st = &dp_lcore_stats[rte_lcore_id()];
	w->clk = &dp_clock_tsc;
	w->linktype = CW_LINK_ETHERNET;
	memcpy(ps->c0, w->st->c, sizeof(ps->c0));
	for (i = 0; i < nframes; i++) {
		struct rte_mbuf *m = dp_frame_mbuf(mp, &frames[i]);

		if (m == NULL)
			return -1;
		dp_worker_burst(w, &m, 1);
		if (make_unsent && !ps->unsent_done && released_session(w, target) != NULL) {
			dp_chain_unsent(ct, w->cc, target);
			ps->unsent_done = 1;
		}
	}
	dp_worker_flush(w);
	for (i = 0; i < DP_C__MAX; i++)
		ps->d[i] = w->st->c[i] - ps->c0[i];
	while ((rc = cw_evring_read(&shm->rings[0], &ev, &blob)) == 1) {
		int is_target;

		ps->events++;
		if (memcmp(ev.chain_id, zero, CW_ID_LEN) == 0)
			continue;
		ps->with_chain++;
		if (pick_target && memcmp(target, zero, CW_ID_LEN) == 0 && (ev.flags & CW_EVF_CHAIN_NEW))
			memcpy(target, ev.chain_id, CW_ID_LEN);
		is_target = memcmp(ev.chain_id, target, CW_ID_LEN) == 0;
		if (ev.flags & CW_EVF_CHAIN_NEW) {
			ps->chain_new++;
			CHECK(blob != NULL && memcmp(blob->chain_id, ev.chain_id, CW_ID_LEN) == 0);
			ps->target_new += (uint32_t)is_target;
			ps->blobs_for_target += (uint32_t)(is_target && blob != NULL);
		}
		if (ev.flags & CW_EVF_BLOB_DROPPED) {
			ps->blob_dropped++;
			CHECK(blob == NULL);
			ps->target_dropped += (uint32_t)is_target;
		}
	}
	CHECK(rc == 0);
	dp_worker_free(w);
	rte_free(w);
	return 0;
}

static void
show(const char *name, const struct pass *p)
{
	printf("%s: %u events, %u with a chain, %u CHAIN_NEW, %u BLOB_DROPPED; target: %u new, "
	       "%u dropped; chains_known %" PRIu64 ", chains_new %" PRIu64 ", blobs_released %" PRIu64
	       ", blobs_dropped %" PRIu64 "\n",
	       name, p->events, p->with_chain, p->chain_new, p->blob_dropped, p->target_new,
	       p->target_dropped, p->d[DP_C_CHAINS_KNOWN], p->d[DP_C_CHAINS_NEW],
	       p->d[DP_C_BLOB_RELEASED], p->d[DP_C_BLOB_DROP]);
}

int
main(int argc, char **argv)
{
	static struct dp_conf conf;
	static struct dp_testenv env;
	struct dp_chaintab *ct = &env.ct;
	struct cw_shm *shm = &env.shm;
	struct rte_mempool *mp;
	struct pass p1, p2, p3;
	uint8_t target[CW_ID_LEN] = {0};
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: dp_chain_release CAPTURE.pcap\n");
		return 2;
	}
	rc = dp_frames_load(argv[1], frames, MAX_FRAMES);
	if (rc <= 0)
		return 1;
	nframes = (uint32_t)rc;
	if (dp_testenv_init(&env, argv[0], "dpchainrel", 4096, 4096, 1u << 22) < 0)
		return 1;
	mp = env.mp;
	dp_testenv_conf(&conf, 4096, 256, 32);

	/* 1: everything new, so nothing released early; the target is the first chain sent. */
	CHECK(pass(ct, shm, mp, &conf, target, 1, 0, &p1) == 0);
	show("pass 1", &p1);
	CHECK(p1.with_chain > 0 && p1.chain_new > 0 && p1.target_new == 1);
	CHECK(p1.d[DP_C_BLOB_RELEASED] == 0 && p1.blob_dropped == 0);

	/*
	 * 2: every chain is known now. The target's first session releases its certificates at
	 * once, then the target is made unsent: that flow's event has BLOB_DROPPED. Any later flow
	 * with the target sees it unsent and sends it with its blob.
	 */
	CHECK(pass(ct, shm, mp, &conf, target, 0, 1, &p2) == 0);
	show("pass 2", &p2);
	CHECK(p2.unsent_done == 1);
	CHECK(p2.d[DP_C_BLOB_RELEASED] == 1 && p2.target_dropped == 1 && p2.blob_dropped == 1);
	CHECK(p2.d[DP_C_BLOB_DROP] == 0);
	CHECK(p2.chain_new == p2.target_new && p2.target_new == p2.blobs_for_target);

	/* 3: if pass 2 had no later flow with the target, its first flow here sends the blob. */
	CHECK(pass(ct, shm, mp, &conf, target, 0, 0, &p3) == 0);
	show("pass 3", &p3);
	CHECK(p3.d[DP_C_BLOB_RELEASED] == 0 && p3.blob_dropped == 0);
	CHECK(p2.target_new + p3.target_new == 1 && p3.chain_new == p3.target_new);
	CHECK(p2.target_new + p3.blobs_for_target == 1);

	dp_testenv_fini(&env);
	return cw_check_report("dp_chain_release");
}
