/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Microbenchmark of the dataplane fast path: chain-table hit/insert, full handshakes, done-flow
 * packets (dp_bench CAPTURE), and the cost of a packet as concurrent flows grow
 * (dp_bench --curve N[,N...]); --huge first takes EAL memory from reserved hugepages.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "chain.h"
#include "chaintab.h"
#include "dp_frames.h"
#include "rundir.h"
#include "worker.h"

#define MAX_FRAMES 200000
#define CHAIN_IDS 100000

static struct dp_frame frames[MAX_FRAMES];
static uint32_t nframes;

static void
load(const char *file)
{
	int n = dp_frames_load(file, frames, MAX_FRAMES);

	if (n < 0)
		exit(1);
	nframes = (uint32_t)n;
}

/* Feed frames[idx[0..n)] through the worker in bursts; returns TSC cycles spent inside bursts. */
/* Samples of the session pool after each burst of run(): flows in handshake and the bytes they hold. */
static struct {
	uint64_t samples, sessions, bytes;
	uint32_t peak_sessions;
	uint64_t peak_bytes;
} pool_mem;

static void
mem_sample(const struct dp_worker *w)
{
	uint32_t s;
	uint64_t b = dp_sess_pool_in_use(&w->pool, &s);

	if (s == 0)
		return;
	pool_mem.samples++;
	pool_mem.sessions += s;
	pool_mem.bytes += b;
	if (s > pool_mem.peak_sessions)
		pool_mem.peak_sessions = s;
	if (b > pool_mem.peak_bytes)
		pool_mem.peak_bytes = b;
}

static uint64_t
run(struct dp_worker *w, struct rte_mempool *mp, const uint32_t *idx, uint32_t n)
{
	struct rte_mbuf *b[DP_BURST];
	uint64_t cyc = 0;
	uint32_t i = 0, k;

	while (i < n) {
		uint16_t m = 0;

		for (k = 0; k < DP_BURST && i < n; k++, i++) {
			b[m++] = dp_frame_mbuf(mp, &frames[idx[i]]);
		}
		uint64_t t0 = rte_rdtsc_precise();
		dp_worker_burst(w, b, m);
		cyc += rte_rdtsc_precise() - t0;
		mem_sample(w);
		/* A consumer that keeps up: the ring's slots are reused, as in a steady run. */
		atomic_store(&w->ev->ctl->ev_tail, atomic_load(&w->ev->ctl->ev_head));
		atomic_store(&w->ev->ctl->blob_tail, atomic_load(&w->ev->ctl->blob_head));
	}
	return cyc;
}

static int eal_up;
static uint32_t ring_slots = DP_EV_SLOTS_DEFAULT; /* --ring-slots */
static uint32_t cert_refs = DP_CERT_REFS_DEFAULT;  /* --cert-refs */
static int checksums; /* --checksums verify: as chainwatch-dp on a NIC without the offload, or AF_XDP */
static void finish_eal(void);

/*
 * EAL init with this run's own prefix. On failure its runtime directory is removed too; after
 * success, finish_eal() runs at exit unless called before (every early exit included).
 */
static int
init_eal(int argc, char **argv, const char *prefix)
{
	char dir[PATH_MAX];

	if (rte_eal_init(argc, argv) >= 0) {
		eal_up = 1;
		atexit(finish_eal);
		return 0;
	}
	/* EAL may have made it before failing. */
	dp_rundir_path(dir, sizeof(dir), prefix);
	dp_rundir_remove(dir);
	return -1;
}

/* EAL cleanup, then the runtime directory of this run's own prefix. */
static void
finish_eal(void)
{
	char dir[PATH_MAX];

	if (!eal_up)
		return;
	eal_up = 0;
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dp_rundir_remove(dir);
}

static double
ns(uint64_t cyc)
{
	return (double)cyc * 1e9 / (double)rte_get_tsc_hz();
}

/* ---- --curve: per-packet cost over N concurrent (finished) flows ---- */

#define CURVE_PACKETS 4000000u /* timed packets per point (at least 2 per flow) */

/* Feed n frames of the flows flow_of(k) with flags through the worker; returns cycles in bursts. */
static uint64_t
curve_run(struct dp_worker *w, struct rte_mempool *mp, uint32_t nflows, uint64_t n, int random,
	  uint8_t flags, uint64_t *rng)
{
	struct rte_mbuf *b[DP_BURST];
	uint64_t cyc = 0, k = 0;

	while (k < n) {
		uint16_t m = 0;

		for (; m < DP_BURST && k < n; m++, k++) {
			uint32_t i;

			if (random) {
				*rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
				i = (uint32_t)(((*rng >> 32) * nflows) >> 32);
			} else {
				i = (uint32_t)k;
			}
			/* After its SYN, a flow's bare segments carry the sequence number after it. */
			b[m] = dp_frame_tcp_mbuf(mp, i, flags, i + !(flags & CW_TCP_SYN));
		}
		uint64_t t0 = rte_rdtsc_precise();
		dp_worker_burst(w, b, m);
		cyc += rte_rdtsc_precise() - t0;
	}
	return cyc;
}

/*
 * For each N: a worker with a table of N + N/8 entries; N flows opened by a SYN and closed by a
 * FIN before any payload (finished entries, as the bulk traffic of established flows finds
 * them); then one bare ACK per flow in order, timed apart (a finished flow's first packet reads
 * its entry and puts the flow in the finished-flow cache); then CURVE_PACKETS bare ACKs (or 2
 * per flow, whichever is more) to uniformly random flows, timed. One line per N: cycles and ns
 * per packet of the random ACKs, the Mpps that is, the shares counted as finished and from the
 * cache, and the cycles of a finished flow's first packet.
 */
static int
curve(const char *list)
{
	static struct dp_conf conf;
	struct rte_mempool *mp;
	struct dp_chaintab ct;
	struct cw_shm shm;
	char inst[64];
	const char *p = list;
	uint64_t rng = 1;

	snprintf(inst, sizeof(inst), "dpbenchc%d", (int)getpid());
	if (dp_chaintab_init(&ct, 1024, 0, 0) < 0 || cw_shm_create(&shm, inst, 1, 1024, 1u << 20, 0600) < 0)
		return 1;
	mp = rte_pktmbuf_pool_create("curve", 4096, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (mp == NULL)
		return 1;
	dp_run.tsc_hz = rte_get_tsc_hz();
	printf("| concurrent flows | cycles/packet | ns/packet | Mpps | done-flow packets | "
	       "from the finished-flow cache | first packet after the FIN, cycles |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|\n");
	while (*p != '\0') {
		char *end;
		uint32_t nflows = (uint32_t)strtoul(p, &end, 0);
		uint64_t c0, h0, cyc, cyc1, npk;
		struct dp_worker *w;

		if (end == p || nflows == 0 || nflows > (1u << 26)) {
			fprintf(stderr, "dp_bench: bad --curve list '%s'\n", list);
			return 2;
		}
		p = *end == ',' ? end + 1 : end;
		conf.flows = nflows + nflows / 8;
		conf.sessions = 64;
		conf.reasm_kib = 4;
		conf.idle_s = 3600;
		conf.hs_s = 3600;
		w = rte_zmalloc(NULL, sizeof(*w), 64);
		if (w == NULL || dp_worker_init(w, 0, &conf, 0, &ct, &shm.rings[0]) < 0) {
			fprintf(stderr, "dp_bench: no memory for %u flows (EAL -m)\n", nflows);
			return 1;
		}
		w->st = &dp_lcore_stats[rte_lcore_id()];
		w->clk = &dp_clock_tsc;
		w->linktype = CW_LINK_ETHERNET;
		w->checksums = checksums;
		curve_run(w, mp, nflows, nflows, 0, CW_TCP_SYN, &rng);
		curve_run(w, mp, nflows, nflows, 0, CW_TCP_FIN | CW_TCP_ACK, &rng);
		cyc1 = curve_run(w, mp, nflows, nflows, 0, CW_TCP_ACK, &rng);
		npk = (uint64_t)nflows * 2 > CURVE_PACKETS ? (uint64_t)nflows * 2 : CURVE_PACKETS;
		c0 = w->st->c[DP_C_DONE_PKTS];
		h0 = w->st->c[DP_C_DONE_CACHED];
		cyc = curve_run(w, mp, nflows, npk, 1, CW_TCP_ACK, &rng);
		printf("| %u | %.0f | %.1f | %.2f | %.3f | %.3f | %.0f |\n", nflows,
		       (double)cyc / (double)npk, ns(cyc) / (double)npk, (double)npk * 1e3 / ns(cyc),
		       (double)(w->st->c[DP_C_DONE_PKTS] - c0) / (double)npk,
		       (double)(w->st->c[DP_C_DONE_CACHED] - h0) / (double)npk,
		       (double)cyc1 / (double)nflows);
		fflush(stdout);
		dp_worker_free(w);
		rte_free(w);
	}
	cw_shm_close(&shm);
	cw_shm_unlink(inst);
	dp_chaintab_free(&ct);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct dp_conf conf;
	struct dp_chaintab ct;
	struct dp_chain_cache *cc;
	struct cw_shm shm;
	struct dp_worker *w;
	struct rte_mempool *mp;
	static uint8_t ids[CHAIN_IDS][CW_ID_LEN];
	static uint32_t idx[MAX_FRAMES];
	char prefix[64], inst[64];
	uint64_t t0, cyc, c0[DP_C__MAX];
	uint32_t i, n, rounds = 20, r;
	int hit;
	char mem[32] = "512";
	char *eal[] = {argv[0], "--no-huge", "-m", mem, "--no-pci", "-l", "0", "--log-level", "3",
		       "--file-prefix", prefix, NULL};

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: dp_bench [--huge] [--ring-slots N] [--xxh3 IMPL] [--checksums M]\n"
		       "                [--cert-refs N] CAPTURE.pcap(ng)\n"
		       "       dp_bench [--huge] --curve N[,N...]\n"
		       "  CAPTURE: chain-table hit/insert, every frame of the capture through the worker\n"
		       "           (20 rounds: cycles per packet and per TLS flow, memory per flow in\n"
		       "           handshake), then done-flow packets\n"
		       "  --curve: cycles per bare ACK to random finished flows, for each N flows\n"
		       "  --huge:  EAL memory from reserved 2 MiB hugepages (hugetlbfs mounted), not\n"
		       "           4 KiB pages\n"
		       "  --ring-slots N: events in the worker's ring, a power of 2 (default %u, as\n"
		       "           chainwatch-dp's); the bench drains it after every burst, as a\n"
		       "           consumer that keeps up does\n"
		       "  --xxh3 IMPL: auto, baseline or wide, as chainwatch-dp --xxh3\n"
		       "  --checksums M: off (default, as chainwatch-dp on vdevs and captures) or\n"
		       "           verify (as on a NIC without checksum offload, or AF_XDP)\n"
		       "  --cert-refs N: expected Certificate messages, as chainwatch-dp --cert-refs\n"
		       "           (default %u; 0: none). They persist over the rounds, as on a link\n",
		       DP_EV_SLOTS_DEFAULT, DP_CERT_REFS_DEFAULT);
		return 0;
	}
	while (argc > 1 && (strcmp(argv[1], "--huge") == 0 || strcmp(argv[1], "--ring-slots") == 0 ||
			    strcmp(argv[1], "--xxh3") == 0 || strcmp(argv[1], "--checksums") == 0 ||
			    strcmp(argv[1], "--cert-refs") == 0)) {
		int k = 1;

		if (strcmp(argv[1], "--huge") == 0) {
			/* EAL memory from the reserved hugepages (files unlinked at once), not 4 KiB pages. */
			eal[1] = "--huge-unlink";
		} else if (strcmp(argv[1], "--xxh3") == 0) {
			if (argc < 3 || cw_chain_xxh3_use(argv[2]) < 0) {
				fprintf(stderr, "dp_bench: --xxh3 wants auto, baseline or wide\n");
				return 2;
			}
			k = 2;
		} else if (strcmp(argv[1], "--checksums") == 0) {
			if (argc < 3 || (strcmp(argv[2], "verify") != 0 && strcmp(argv[2], "off") != 0)) {
				fprintf(stderr, "dp_bench: --checksums wants verify or off\n");
				return 2;
			}
			checksums = argv[2][0] == 'v';
			k = 2;
		} else if (strcmp(argv[1], "--cert-refs") == 0) {
			char *end;
			unsigned long v = argc > 2 ? strtoul(argv[2], &end, 0) : 0;

			if (argc < 3 || *end != '\0' || (v != 0 && v < CW_CERTREF_WAYS) ||
			    v > CW_CERTREF_MAX) {
				fprintf(stderr, "dp_bench: --cert-refs wants 0 or %u..%u\n",
					CW_CERTREF_WAYS, CW_CERTREF_MAX);
				return 2;
			}
			cert_refs = (uint32_t)v;
			k = 2;
		} else {
			char *end;
			unsigned long v = argc > 2 ? strtoul(argv[2], &end, 0) : 0;

			if (argc < 3 || *end != '\0' || v < CW_EVRING_MIN_SLOTS || v > CW_EVRING_MAX_SLOTS ||
			    (v & (v - 1)) != 0) {
				fprintf(stderr, "dp_bench: --ring-slots wants a power of 2 in %u..%u\n",
					CW_EVRING_MIN_SLOTS, CW_EVRING_MAX_SLOTS);
				return 2;
			}
			ring_slots = (uint32_t)v;
			k = 2;
		}
		argv[k] = argv[0];
		argv += k;
		argc -= k;
	}
	if (argc < 2 || (strcmp(argv[1], "--curve") == 0 && argc < 3)) {
		fprintf(stderr, "usage: dp_bench [--huge] [--ring-slots N] CAPTURE.pcap(ng) | "
				"dp_bench [--huge] --curve N[,N...]\n");
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "dpbench%d", (int)getpid());
	snprintf(inst, sizeof(inst), "dpbench%d", (int)getpid());
	if (strcmp(argv[1], "--curve") == 0) {
		/*
		 * ~200 B per flow-table entry (entry, key, buckets) and up to 64 B of finished-flow
		 * cache for the largest N, plus slack.
		 */
		unsigned long max = 0;
		const char *p = argv[2];

		while (*p != '\0') {
			char *end;
			unsigned long v = strtoul(p, &end, 0);

			if (end == p)
				break;
			if (v > max)
				max = v;
			p = *end == ',' ? end + 1 : end;
		}
		snprintf(mem, sizeof(mem), "%lu", 512 + max * 9 / 8 * 264 / (1u << 20));
		if (init_eal((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal, prefix) < 0)
			return 1;
		n = (uint32_t)curve(argv[2]);
		finish_eal();
		return (int)n;
	}
	if (init_eal((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal, prefix) < 0)
		return 1;
	load(argv[1]);

	/* ---- chain table: 1M entries, CHAIN_IDS random ids ---- */
	if (dp_chaintab_init(&ct, 1u << 20, 0, 0) < 0)
		return 1;
	cc = rte_zmalloc(NULL, sizeof(*cc), 64);
	srand(1);
	for (i = 0; i < CHAIN_IDS; i++)
		for (n = 0; n < CW_ID_LEN; n++)
			ids[i][n] = (uint8_t)rand();
	t0 = rte_rdtsc_precise();
	for (i = 0; i < CHAIN_IDS; i++)
		dp_chain_seen(&ct, cc, ids[i], &hit);
	cyc = rte_rdtsc_precise() - t0;
	printf("chain insert (new id, cache miss + table miss + add): %.0f cycles, %.1f ns\n",
	       (double)cyc / CHAIN_IDS, ns(cyc) / CHAIN_IDS);
	memset(cc, 0, sizeof(*cc));
	t0 = rte_rdtsc_precise();
	for (i = 0; i < CHAIN_IDS; i++)
		dp_chain_seen(&ct, cc, ids[(i * 7919u) % CHAIN_IDS], &hit);
	cyc = rte_rdtsc_precise() - t0;
	printf("chain table hit (cache miss, %u ids in table): %.0f cycles, %.1f ns\n", CHAIN_IDS,
	       (double)cyc / CHAIN_IDS, ns(cyc) / CHAIN_IDS);
	t0 = rte_rdtsc_precise();
	for (r = 0; r < 100; r++)
		for (i = 0; i < 512; i++)
			dp_chain_seen(&ct, cc, ids[i], &hit);
	cyc = rte_rdtsc_precise() - t0;
	printf("chain cache hit (512 hot ids): %.0f cycles, %.1f ns\n", (double)cyc / 51200,
	       ns(cyc) / 51200);

	/* ---- a worker: full handshakes, then done-flow packets ---- */
	conf.flows = 1u << 16;
	conf.sessions = 4096;
	conf.reasm_kib = 32;
	conf.cert_refs = cert_refs;
	conf.idle_s = 3600;
	conf.hs_s = 3600;
	if (cw_shm_create(&shm, inst, 1, ring_slots, DP_BLOB_KIB_DEFAULT * 1024u, 0600) < 0)
		return 1;
	mp = rte_pktmbuf_pool_create("bench", 8192, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	w = rte_zmalloc(NULL, sizeof(*w), 64);
	if (mp == NULL || w == NULL || dp_worker_init(w, 0, &conf, 0, &ct, &shm.rings[0]) < 0)
		return 1;
	w->st = &dp_lcore_stats[rte_lcore_id()];
	w->clk = &dp_clock_tsc;
	w->linktype = CW_LINK_ETHERNET;
	w->checksums = checksums;
	dp_run.tsc_hz = rte_get_tsc_hz();

	for (i = 0; i < nframes; i++)
		idx[i] = i;
	cyc = 0;
	memcpy(c0, w->st->c, sizeof(c0));
	for (r = 0; r < rounds; r++) {
		/* Fresh tables each round: every flow goes through its whole handshake. */
		cyc += run(w, mp, idx, nframes);
		dp_worker_flush(w);
		for (n = 0; n < w->ft.n; n++)
			if (w->ft.f[n].used) {
				void *k;

				dp_done_drop(&w->ft, &w->ft.f[n]);
				rte_hash_get_key_with_position(w->ft.h, (int32_t)n, &k);
				rte_hash_del_key(w->ft.h, k);
				memset(&w->ft.f[n], 0, sizeof(w->ft.f[n]));
			}
		w->ft.used = 0;
		/* Empty the ring so the next round publishes too. */
		atomic_store(&shm.rings[0].ctl->ev_tail, atomic_load(&shm.rings[0].ctl->ev_head));
		atomic_store(&shm.rings[0].ctl->blob_tail, atomic_load(&shm.rings[0].ctl->blob_head));
	}
	{
		uint64_t tls = w->st->c[DP_C_TLS_FLOWS] - c0[DP_C_TLS_FLOWS];
		uint64_t hs = w->st->c[DP_C_HS_DONE] - c0[DP_C_HS_DONE];

		printf("handshake path: %u frames x %u rounds, %.0f cycles (%.1f ns) per packet, "
		       "%.0f cycles (%.2f us) per TLS flow (%" PRIu64 " flows, %" PRIu64 " complete); "
		       "checksums %s, %" PRIu64 " wrong\n",
		       nframes, rounds, (double)cyc / ((double)nframes * rounds),
		       ns(cyc) / ((double)nframes * rounds), (double)cyc / (double)tls,
		       ns(cyc) / (double)tls / 1000.0, tls / rounds, hs / rounds,
		       checksums ? "verified" : "not checked",
		       w->st->c[DP_C_CSUM_BAD] - c0[DP_C_CSUM_BAD]);
		/*
		 * Memory per flow in handshake: the session and the reassembly buffers its
		 * directions hold, averaged over every burst that ended with a flow in handshake,
		 * plus the flow entry (64 B) and its rte_hash share: the key slot (8 B data
		 * pointer + 48 B key, in 16 B steps) and ~8 B of bucket (signature and index).
		 * What the pool reserves per session is the bound.
		 */
		if (pool_mem.samples == 0) {
			printf("memory per flow in handshake: no burst ended with a flow in handshake\n");
		} else {
			double per = (double)pool_mem.bytes / (double)pool_mem.sessions;

			printf("memory per flow in handshake: %.0f B (session %zu B + buffers %.0f B) + "
			       "flow entry %zu B + rte_hash ~%zu B + finished-flow cache %.0f B; %.1f "
			       "flows in handshake on average, peak %u (%.1f KiB); the pool reserves "
			       "%.0f B per session\n",
			       per, sizeof(struct dp_sess), per - (double)sizeof(struct dp_sess),
			       sizeof(struct dp_flow), RTE_ALIGN(sizeof(struct dp_flow_key) + 8, 16) + 8,
			       (double)dp_flow_done_bytes(w->ft.n) / (double)w->ft.n,
			       (double)pool_mem.sessions / (double)pool_mem.samples,
			       pool_mem.peak_sessions, (double)pool_mem.peak_bytes / 1024.0,
			       (double)dp_sess_pool_bytes(conf.sessions, conf.reasm_kib * 1024u,
							  dp_conf_reasm_big(&conf)) /
				       conf.sessions);
		}
		printf("expected certificates (--cert-refs %u): %" PRIu64 " found, %" PRIu64
		       " matched, %" PRIu64 " differed, %" PRIu64 " stored, %" PRIu64 " busy, %" PRIu64
		       " too long\n",
		       cert_refs, w->refs.found, w->refs.matched, w->refs.differed, w->refs.stored,
		       w->refs.busy, w->refs.too_long);
	}

	/* Run once more, finish every flow, then replay everything but bare SYNs: all done-flow packets. */
	run(w, mp, idx, nframes);
	dp_worker_flush(w);
	for (i = 0, n = 0; i < nframes; i++) {
		struct cw_pkt pkt;

		if (cw_decode_eth(frames[i].data, frames[i].len, &pkt) == CW_DEC_TCP &&
		    (pkt.tcp_flags & (CW_TCP_SYN | CW_TCP_ACK)) != CW_TCP_SYN)
			idx[n++] = i;
	}
	memcpy(c0, w->st->c, sizeof(c0));
	cyc = 0;
	for (r = 0; r < rounds; r++)
		cyc += run(w, mp, idx, n);
	printf("done-flow packet (decode + the finished-flow cache): %.0f cycles, %.1f ns per packet (%" PRIu64
	       " of %u packets counted done)\n",
	       (double)cyc / ((double)n * rounds), ns(cyc) / ((double)n * rounds),
	       w->st->c[DP_C_DONE_PKTS] - c0[DP_C_DONE_PKTS], n * rounds);
	printf("TSC %.3f GHz\n", (double)rte_get_tsc_hz() / 1e9);

	cw_shm_close(&shm);
	cw_shm_unlink(inst);
	finish_eal();
	return 0;
}
