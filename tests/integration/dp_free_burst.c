/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker gives every burst back to its pools (dataplane/worker.c, free_burst()): direct,
 * unshared, one-segment mbufs of one pool in one rte_mempool_put_bulk(); anything else through
 * rte_pktmbuf_free_bulk(). After each burst every pool must hold exactly what it held before,
 * except an mbuf the test still shares: a second segment, a second pool, a shared frame, a
 * clone (indirect) and a frame attached to memory outside the pool (external buffer) each go
 * back where they belong, once, through dp_worker_burst() and through the --rx-only burst.
 *
 * Real components: EAL (--no-huge), two mbuf pools without per-lcore caches (so their counts
 * are exact), a worker with its flow table, chain table and event ring; frames are synthetic
 * bare ACKs of unknown flows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "../unit/cw_check.h"
#include "dp_frames.h"

#define ACK 0x10

static struct rte_mempool *mp, *mp2;
static uint32_t seq, ext_freed;

static struct rte_mbuf *
frame(struct rte_mempool *pool, uint32_t flow)
{
	struct rte_mbuf *m = dp_frame_tcp_mbuf(pool, flow, ACK, seq++);

	if (m == NULL) {
		fprintf(stderr, "dp_free_burst: mbuf pool empty\n");
		exit(1);
	}
	return m;
}

static void
ext_free(void *addr, void *opaque)
{
	RTE_SET_USED(addr);
	RTE_SET_USED(opaque);
	ext_freed++;
}

/* Run the burst through the worker's ops (handshake or --rx-only). */
static void
run(struct dp_worker *w, enum dp_work kind, struct rte_mbuf **b, uint16_t n)
{
	dp_work[kind].burst(w, b, n);
}

static void
bursts(struct dp_worker *w, enum dp_work kind)
{
	static uint8_t ext[2][DP_FRAME_TCP_LEN + 64];
	struct rte_mbuf_ext_shared_info *shinfo;
	struct rte_mbuf *b[DP_BURST], *keep, *clone;
	unsigned int a0 = rte_mempool_avail_count(mp), b0 = rte_mempool_avail_count(mp2);
	uint16_t len, i;

	/* A full burst of plain frames: the fast path. */
	for (i = 0; i < DP_BURST; i++)
		b[i] = frame(mp, i);
	CHECK(rte_mempool_avail_count(mp) == a0 - DP_BURST);
	run(w, kind, b, DP_BURST);
	CHECK(rte_mempool_avail_count(mp) == a0);

	/* Two pools in one burst, either one first. */
	for (i = 0; i < DP_BURST; i++)
		b[i] = frame(i % 3 == 1 ? mp2 : mp, i);
	run(w, kind, b, DP_BURST);
	CHECK(rte_mempool_avail_count(mp) == a0 && rte_mempool_avail_count(mp2) == b0);
	for (i = 0; i < 4; i++)
		b[i] = frame(i == 0 ? mp2 : mp, i);
	run(w, kind, b, 4);
	CHECK(rte_mempool_avail_count(mp) == a0 && rte_mempool_avail_count(mp2) == b0);

	/* A frame of two segments, the second from the other pool: both go back. */
	b[0] = frame(mp, 1);
	b[1] = frame(mp, 2);
	CHECK(rte_pktmbuf_chain(b[1], frame(mp2, 3)) == 0);
	b[2] = frame(mp, 4);
	run(w, kind, b, 3);
	CHECK(rte_mempool_avail_count(mp) == a0 && rte_mempool_avail_count(mp2) == b0);

	/* A frame the test still shares stays out of the pool until the test lets it go. */
	b[0] = frame(mp, 1);
	keep = frame(mp, 2);
	rte_mbuf_refcnt_update(keep, 1);
	b[1] = keep;
	run(w, kind, b, 2);
	CHECK(rte_mempool_avail_count(mp) == a0 - 1 && rte_mbuf_refcnt_read(keep) == 1);
	rte_pktmbuf_free(keep);
	CHECK(rte_mempool_avail_count(mp) == a0);

	/* A clone (indirect, from the other pool) goes to its pool; its frame stays shared. */
	keep = frame(mp, 5);
	clone = rte_pktmbuf_clone(keep, mp2);
	CHECK(clone != NULL && rte_mbuf_refcnt_read(keep) == 2);
	if (clone != NULL) {
		b[0] = frame(mp, 6);
		b[1] = clone;
		run(w, kind, b, 2);
		CHECK(rte_mempool_avail_count(mp2) == b0 && rte_mbuf_refcnt_read(keep) == 1);
	}
	rte_pktmbuf_free(keep);
	CHECK(rte_mempool_avail_count(mp) == a0 && rte_mempool_avail_count(mp2) == b0);

	/* Frames on external buffers (as the replay attaches its capture): the free callback runs. */
	ext_freed = 0;
	for (i = 0; i < 2; i++) {
		len = sizeof(ext[i]);
		shinfo = rte_pktmbuf_ext_shinfo_init_helper(ext[i], &len, ext_free, NULL);
		CHECK(shinfo != NULL);
		b[i] = frame(mp, 7 + i);
		if (shinfo == NULL)
			continue;
		memcpy(ext[i], rte_pktmbuf_mtod(b[i], void *), DP_FRAME_TCP_LEN);
		rte_pktmbuf_attach_extbuf(b[i], ext[i], rte_mem_virt2iova(ext[i]), len, shinfo);
		b[i]->data_off = 0;
		b[i]->data_len = DP_FRAME_TCP_LEN;
		b[i]->pkt_len = DP_FRAME_TCP_LEN;
	}
	b[2] = frame(mp, 9);
	run(w, kind, b, 3);
	CHECK(ext_freed == 2);
	CHECK(rte_mempool_avail_count(mp) == a0 && rte_mempool_avail_count(mp2) == b0);
}

int
main(int argc, char **argv)
{
	static struct dp_conf conf;
	static struct dp_testenv env;
	struct dp_worker *w;

	if (argc != 1) {
		fprintf(stderr, "usage: dp_free_burst\n");
		return 2;
	}
	if (dp_testenv_init(&env, argv[0], "dpfreeburst", 1024, 1024, 1u << 20) < 0)
		return 1;
	mp = env.mp;
	mp2 = rte_pktmbuf_pool_create("dpfreeburst2", 256, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (mp2 == NULL) {
		fprintf(stderr, "dp_free_burst: second mbuf pool failed\n");
		return 1;
	}
	dp_testenv_conf(&conf, 256, 64, 4);
	w = dp_testenv_worker(&env, &conf);

	bursts(w, DP_WORK_HANDSHAKE);
	bursts(w, DP_WORK_RX_ONLY);

	dp_testenv_worker_free(w);
	rte_mempool_free(mp2);
	dp_testenv_fini(&env);
	return cw_check_report("dp_free_burst");
}
