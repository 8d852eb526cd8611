/* SPDX-License-Identifier: BSD-3-Clause */
/* Microbenchmark of the dataplane fast path: chain-table hit/insert, full handshakes, done-flow packets. */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "chaintab.h"
#include "worker.h"

#define MAX_FRAMES 200000
#define CHAIN_IDS 100000

struct frame {
	uint32_t len;
	uint64_t ts_ns;
	uint8_t *data;
};

static struct frame frames[MAX_FRAMES];
static uint32_t nframes;

static void
load(const char *file)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p = pcap_open_offline(file, err);

	if (p == NULL || pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "dp_bench: %s: %s\n", file, p ? "not Ethernet" : err);
		exit(1);
	}
	while (nframes < MAX_FRAMES && pcap_next_ex(p, &h, &d) == 1) {
		if (h->caplen > 2048 - RTE_PKTMBUF_HEADROOM)
			continue;
		frames[nframes].len = h->caplen;
		frames[nframes].data = malloc(h->caplen);
		memcpy(frames[nframes].data, d, h->caplen);
		nframes++;
	}
	pcap_close(p);
}

/* Feed frames[idx[0..n)] through the worker in bursts; returns TSC cycles spent inside bursts. */
static uint64_t
run(struct dp_worker *w, struct rte_mempool *mp, const uint32_t *idx, uint32_t n)
{
	struct rte_mbuf *b[DP_BURST];
	uint64_t cyc = 0;
	uint32_t i = 0, k;

	while (i < n) {
		uint16_t m = 0;

		for (k = 0; k < DP_BURST && i < n; k++, i++) {
			struct rte_mbuf *mb = rte_pktmbuf_alloc(mp);
			const struct frame *f = &frames[idx[i]];

			memcpy(rte_pktmbuf_mtod(mb, void *), f->data, f->len);
			mb->data_len = (uint16_t)f->len;
			mb->pkt_len = f->len;
			b[m++] = mb;
		}
		uint64_t t0 = rte_rdtsc_precise();
		dp_worker_burst(w, b, m);
		cyc += rte_rdtsc_precise() - t0;
	}
	return cyc;
}

static double
ns(uint64_t cyc)
{
	return (double)cyc * 1e9 / (double)rte_get_tsc_hz();
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
	char *eal[] = {argv[0], "--no-huge", "-m", "512", "--no-pci", "-l", "0", "--log-level", "3",
		       "--file-prefix", prefix, NULL};

	if (argc < 2) {
		fprintf(stderr, "usage: dp_bench CAPTURE.pcap(ng)\n");
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "dpbench");
	snprintf(inst, sizeof(inst), "dpbench%d", (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0)
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
	conf.idle_s = 3600;
	conf.hs_s = 3600;
	if (cw_shm_create(&shm, inst, 1, 1u << 16, 1u << 24, 0600) < 0)
		return 1;
	mp = rte_pktmbuf_pool_create("bench", 8192, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	w = rte_zmalloc(NULL, sizeof(*w), 64);
	if (mp == NULL || w == NULL || dp_worker_init(w, 0, &conf, 0, &ct, &shm.rings[0]) < 0)
		return 1;
	w->st = &dp_lcore_stats[rte_lcore_id()];
	w->clk = &dp_clock_tsc;
	w->linktype = CW_LINK_ETHERNET;
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
		       "%.0f cycles (%.2f us) per TLS flow (%" PRIu64 " flows, %" PRIu64 " complete)\n",
		       nframes, rounds, (double)cyc / ((double)nframes * rounds),
		       ns(cyc) / ((double)nframes * rounds), (double)cyc / (double)tls,
		       ns(cyc) / (double)tls / 1000.0, tls / rounds, hs / rounds);
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
	printf("done-flow packet (decode + one lookup): %.0f cycles, %.1f ns per packet (%" PRIu64
	       " of %u packets counted done)\n",
	       (double)cyc / ((double)n * rounds), ns(cyc) / ((double)n * rounds),
	       w->st->c[DP_C_DONE_PKTS] - c0[DP_C_DONE_PKTS], n * rounds);
	printf("TSC %.3f GHz\n", (double)rte_get_tsc_hz() / 1e9);

	cw_shm_close(&shm);
	cw_shm_unlink(inst);
	rte_eal_cleanup();
	return 0;
}
