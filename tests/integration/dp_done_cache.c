/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The finished-flow cache in front of the worker's flow table (docs/DATAPLANE.md, "Per-packet
 * path", step 4): a finished flow's packets are counted from the cache once a packet has read its
 * entry; not after refresh_ns; never for a flow restarted by a bare SYN, even later in the same
 * burst; never for a flow whose entry was removed (eviction); a full bucket replaces its oldest
 * way and counts it. The keyed hash behind the cache and the table takes an IPv4 key as 16 bytes,
 * and any key with other bytes set whole.
 *
 * Real components: EAL (--no-huge), a worker with its flow table, session pool and cache, the
 * chain table and an event ring in shared memory; frames are synthetic TCP segments without
 * payload, through dp_worker_burst() in bursts, on a clock the test moves.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_mbuf.h>

#include "../unit/cw_check.h"
#include "dp_frames.h"

#define ACK 0x10
#define SYN 0x02
#define FIN 0x01

static struct rte_mempool *mp;
static const uint32_t seq = 1000; /* flow i's SYN: seq + i */

struct seg {
	uint32_t flow;
	uint8_t flags;
};

/* segs[0..n) through the worker in bursts of DP_BURST. */
static void
feed(struct dp_worker *w, const struct seg *segs, uint32_t n)
{
	struct rte_mbuf *b[DP_BURST];

	while (n > 0) {
		uint16_t m = 0;

		for (; m < DP_BURST && m < n; m++) {
			/* After its SYN, a flow's bare segments carry the sequence number after it. */
			b[m] = dp_frame_tcp_mbuf(mp, segs[m].flow, segs[m].flags,
						 seq + segs[m].flow + !(segs[m].flags & SYN));
			if (b[m] == NULL) {
				fprintf(stderr, "dp_done_cache: mbuf pool empty\n");
				exit(1);
			}
		}
		dp_worker_burst(w, b, m);
		segs += m;
		n -= m;
	}
}

/* One segment with flags for each of flows first..first+n. */
static void
send_all(struct dp_worker *w, uint32_t first, uint32_t n, uint8_t flags)
{
	static struct seg s[4096];

	for (uint32_t i = 0; i < n; i++)
		s[i] = (struct seg){first + i, flags};
	feed(w, s, n);
}

static uint64_t c0[DP_C__MAX];

static void
mark(const struct dp_worker *w)
{
	memcpy(c0, w->st->c, sizeof(c0));
}

static uint64_t
delta(const struct dp_worker *w, unsigned int c)
{
	return w->st->c[c] - c0[c];
}


/*
 * Flows first..first+n opened (SYN), finished (FIN), and each seen once more (ACK: its entry is
 * read and the flow put in the cache). Returns how many flows a full bucket pushed out meanwhile.
 */
static uint64_t
finished_flows(struct dp_worker *w, uint32_t first, uint32_t n)
{
	uint64_t r0;

	send_all(w, first, n, SYN);
	send_all(w, first, n, FIN | ACK);
	r0 = w->st->c[DP_C_DONE_REPLACED];
	mark(w);
	send_all(w, first, n, ACK);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), n);
	CHECK_EQ(delta(w, DP_C_DONE_CACHED), 0); /* none was in the cache before this packet */
	return w->st->c[DP_C_DONE_REPLACED] - r0;
}

/* N finished flows, read once (into the cache), then counted from it; stale after refresh_ns. */
static void
test_hits(struct dp_conf *conf, struct dp_testenv *env)
{
	const uint32_t n = 1024;
	struct dp_worker *w;
	uint64_t replaced;
	uint32_t renewed = 0;

	conf->flows = 4096;
	w = dp_testenv_worker(env, conf);
	CHECK_EQ(w->ft.dc_mask + 1, 2048);
	/* First ACK of each finished flow: its entry is read, the flow enters the cache. */
	replaced = finished_flows(w, 0, n);
	CHECK_EQ(w->ft.used, n);
	printf("hits: %u flows in %u buckets, %" PRIu64 " replaced\n", n, w->ft.dc_mask + 1, replaced);

	/*
	 * Second ACK: counted from the cache, but for the flows a full bucket pushed out, before
	 * or during this pass (a flow found in the table is put back and may push out another).
	 */
	mark(w);
	send_all(w, 0, n, ACK);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), n);
	CHECK(delta(w, DP_C_DONE_CACHED) + replaced + delta(w, DP_C_DONE_REPLACED) >= n);
	CHECK(delta(w, DP_C_DONE_CACHED) >= n * 9 / 10);
	CHECK_EQ(delta(w, DP_C_UNTRACKED), 0);
	CHECK_EQ(delta(w, DP_C_FLOWS_NEW), 0);

	/* Past refresh_ns the cache's time is stale: the table reads each entry and renews it. */
	w->now_ns += w->ft.refresh_ns + (1ull << DP_FLOW_T_UNIT);
	mark(w);
	send_all(w, 0, n, ACK);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), n);
	CHECK_EQ(delta(w, DP_C_DONE_CACHED), 0);
	replaced = delta(w, DP_C_DONE_REPLACED);
	mark(w);
	send_all(w, 0, n, ACK);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), n);
	CHECK(delta(w, DP_C_DONE_CACHED) + replaced + delta(w, DP_C_DONE_REPLACED) >= n);

	/* Every entry's last_ns moved with the renewal: none expires at the old time + idle. */
	for (uint32_t i = 0; i < w->ft.n; i++)
		renewed += w->ft.f[i].used && w->ft.f[i].last_ns == w->now_ns;
	CHECK_EQ(renewed, n);
	dp_testenv_worker_free(w);
}

/* A bare SYN restarts a cached flow: its later segments, in the same burst too, are not done. */
static void
test_restart(struct dp_conf *conf, struct dp_testenv *env)
{
	static const struct seg restart[] = {{7, ACK}, {7, SYN}, {7, ACK}, {8, ACK}};
	struct dp_worker *w;

	conf->flows = 4096; /* 16 flows in 2048 buckets: none pushed out */
	w = dp_testenv_worker(env, conf);
	CHECK_EQ(finished_flows(w, 0, 16), 0);
	mark(w);
	send_all(w, 0, 16, ACK);
	CHECK_EQ(delta(w, DP_C_DONE_CACHED), 16);

	/* In one burst: flow 7 done (cache), restarted, then an ACK that the cache still lists. */
	mark(w);
	feed(w, restart, 4);
	CHECK_EQ(delta(w, DP_C_FLOWS_NEW), 1);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), 2);  /* flow 7's first ACK and flow 8's */
	CHECK_EQ(delta(w, DP_C_DONE_CACHED), 1); /* flow 7's first ACK only: 8 came after the restart */

	/* The restarted flow left the cache: its next ACK is a live flow's. */
	mark(w);
	send_all(w, 7, 1, ACK);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), 0);
	CHECK_EQ(delta(w, DP_C_DONE_CACHED), 0);
	dp_testenv_worker_free(w);
}

/* Flows evicted from a full table leave the cache: their later segments are untracked. */
static void
test_evict(struct dp_conf *conf, struct dp_testenv *env)
{
	struct dp_worker *w;
	uint64_t replaced;

	conf->flows = 16;
	w = dp_testenv_worker(env, conf);
	replaced = finished_flows(w, 0, 16); /* 16 flows in 8 buckets: some may be pushed out */
	mark(w);
	send_all(w, 0, 16, ACK);
	CHECK(delta(w, DP_C_DONE_CACHED) + replaced + delta(w, DP_C_DONE_REPLACED) >= 16);
	CHECK(delta(w, DP_C_DONE_CACHED) > 0);

	/* 16 new flows: each SYN evicts one finished flow. */
	mark(w);
	send_all(w, 100, 16, SYN);
	CHECK_EQ(delta(w, DP_C_EVICT_DONE), 16);
	CHECK_EQ(delta(w, DP_C_FLOWS_NEW), 16);
	mark(w);
	send_all(w, 0, 16, ACK);
	CHECK_EQ(delta(w, DP_C_UNTRACKED), 16);
	CHECK_EQ(delta(w, DP_C_DONE_PKTS), 0);
	CHECK_EQ(delta(w, DP_C_DONE_CACHED), 0);
	dp_testenv_worker_free(w);
}

/* One bucket directly: the oldest way is replaced, a flow keeps its own way, drop empties it. */
static void
test_bucket(struct dp_conf *conf, struct dp_testenv *env)
{
	struct dp_flow f[DP_DONE_WAYS + 1];
	struct dp_flow_table *ft;
	struct dp_worker *w;
	const uint64_t u = 1ull << DP_FLOW_T_UNIT, t0 = 1000 * u;
	uint64_t replaced = 0;

	conf->flows = 64;
	w = dp_testenv_worker(env, conf);
	ft = &w->ft;
	memset(f, 0, sizeof(f));
	/* Ways filled in the order 2, 0, 1, 3 of time: tag 3 is the oldest. */
	dp_done_put(ft, &f[0], 5, 1, t0 + 2 * u, &replaced);
	dp_done_put(ft, &f[1], 5, 3, t0, &replaced);
	dp_done_put(ft, &f[2], 5, 5, t0 + u, &replaced);
	dp_done_put(ft, &f[3], 5, 7, t0 + 3 * u, &replaced);
	CHECK_EQ(replaced, 0);
	CHECK(dp_done_fresh(ft, 5, 3, t0) && dp_done_fresh(ft, 5, 7, t0 + 3 * u));
	CHECK(!dp_done_fresh(ft, 4, 3, t0));   /* another bucket */
	CHECK(!dp_done_fresh(ft, 5, 9, t0));   /* not there */
	/* Fresh for refresh_ns, not at it, not before the time recorded. */
	CHECK(dp_done_fresh(ft, 5, 3, t0 + ft->refresh_ns - u));
	CHECK(!dp_done_fresh(ft, 5, 3, t0 + ft->refresh_ns));
	CHECK(!dp_done_fresh(ft, 5, 3, t0 - u));

	dp_done_put(ft, &f[4], 5, 9, t0 + 4 * u, &replaced);
	CHECK_EQ(replaced, 1);
	CHECK(!dp_done_fresh(ft, 5, 3, t0)); /* the oldest went */
	CHECK(dp_done_fresh(ft, 5, 1, t0 + 4 * u) && dp_done_fresh(ft, 5, 5, t0 + 4 * u));
	CHECK(dp_done_fresh(ft, 5, 9, t0 + 4 * u));

	/* Renewing a flow uses its own way: nothing replaced, the time moves. */
	dp_done_put(ft, &f[2], 5, 5, t0 + ft->refresh_ns, &replaced);
	CHECK_EQ(replaced, 1);
	CHECK(dp_done_fresh(ft, 5, 5, t0 + ft->refresh_ns + u));
	CHECK(dp_done_fresh(ft, 5, 7, t0 + 3 * u));

	dp_done_drop(ft, &f[2]);
	CHECK(!dp_done_fresh(ft, 5, 5, t0 + ft->refresh_ns + u));
	CHECK_EQ(f[2].dtag, 0);
	/* The emptied way is used before any other is replaced. */
	dp_done_put(ft, &f[2], 5, 11, t0 + 5 * u, &replaced);
	CHECK_EQ(replaced, 1);
	CHECK(dp_done_fresh(ft, 5, 7, t0 + 5 * u) && dp_done_fresh(ft, 5, 11, t0 + 5 * u));
	/* f[1] (tag 3) was pushed out: dropping it leaves the bucket alone. */
	dp_done_drop(ft, &f[1]);
	CHECK(dp_done_fresh(ft, 5, 1, t0 + 5 * u) && dp_done_fresh(ft, 5, 9, t0 + 5 * u));
	dp_testenv_worker_free(w);
}

/*
 * dp_flow_hash128(): an IPv4 key as the decoder makes it is hashed as 16 bytes (its addresses'
 * first 4 bytes, then ports and version); a key with anything in the other 12 bytes of an address
 * field, or an IPv6 key, is hashed whole, so no two keys share a 16-byte form.
 */
static void
test_hash_forms(void)
{
	struct dp_flow_key k, m;
	struct cw_pkt pkt;
	XXH128_hash_t h, c;
	uint64_t w[5], v[2];

	memset(&pkt, 0, sizeof(pkt));
	pkt.ipver = 4;
	memcpy(pkt.saddr, (const uint8_t[]){198, 18, 0, 1}, 4);
	memcpy(pkt.daddr, (const uint8_t[]){198, 18, 0, 2}, 4);
	pkt.sport = 40000;
	pkt.dport = 443;
	dp_flow_key_make(&k, &pkt);
	memcpy(w, &k.k, sizeof(w));
	v[0] = (w[0] & 0xffffffffu) | w[2] << 32;
	v[1] = w[4];
	h = dp_flow_hash128(&k);
	c = XXH3_128bits_withSecret(v, sizeof(v), dp_flow_secret, sizeof(dp_flow_secret));
	CHECK(XXH128_isEqual(h, c));
	/* The same key hashed whole: a different function of it, which other forms take. */
	c = XXH3_128bits_withSecret(w, sizeof(w), dp_flow_secret, sizeof(dp_flow_secret));
	CHECK(!XXH128_isEqual(h, c));
	for (int i = 4; i < 16; i++) {
		for (int side = 0; side < 2; side++) {
			m = k;
			(side ? m.k.b : m.k.a)[i] = 1;
			memcpy(w, &m.k, sizeof(w));
			c = XXH3_128bits_withSecret(w, sizeof(w), dp_flow_secret,
						    sizeof(dp_flow_secret));
			CHECK(XXH128_isEqual(dp_flow_hash128(&m), c));
			CHECK(!XXH128_isEqual(dp_flow_hash128(&m), h));
		}
	}
	m = k;
	m.k.ipver = 6;
	memcpy(w, &m.k, sizeof(w));
	c = XXH3_128bits_withSecret(w, sizeof(w), dp_flow_secret, sizeof(dp_flow_secret));
	CHECK(XXH128_isEqual(dp_flow_hash128(&m), c));
}

int
main(int argc, char **argv)
{
	static struct dp_conf conf;
	static struct dp_testenv env;

	if (argc != 1) {
		fprintf(stderr, "usage: dp_done_cache\n");
		return 2;
	}
	if (dp_testenv_init(&env, argv[0], "dpdonecache", 1024, 1024, 1u << 20) < 0)
		return 1;
	mp = env.mp;
	dp_testenv_conf(&conf, 0, 64, 4); /* each test sets its flow count */

	test_hits(&conf, &env);
	test_restart(&conf, &env);
	test_evict(&conf, &env);
	test_bucket(&conf, &env);
	test_hash_forms();

	dp_testenv_fini(&env);
	return cw_check_report("dp_done_cache");
}
