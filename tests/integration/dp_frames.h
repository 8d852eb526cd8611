/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * For the worker's C tests: frames of an Ethernet capture held in memory, synthetic TCP segments,
 * mbufs made of them, and the environment a worker needs (EAL, chain table, event ring).
 */
#ifndef DP_FRAMES_H
#define DP_FRAMES_H

#include <limits.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "chaintab.h"
#include "rundir.h"
#include "worker.h"

struct dp_frame {
	uint32_t len;
	uint8_t *data;
};

/*
 * Up to max frames of file (pcap or pcapng, Ethernet) into f[]; frames longer than one mbuf's
 * data room are skipped. Returns how many, or -1 with a message naming the file.
 */
static inline int
dp_frames_load(const char *file, struct dp_frame *f, uint32_t max)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p = pcap_open_offline(file, err);
	uint32_t n = 0;

	if (p == NULL || pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "%s: %s\n", file, p ? "not Ethernet" : err);
		if (p != NULL)
			pcap_close(p);
		return -1;
	}
	while (n < max && pcap_next_ex(p, &h, &d) == 1) {
		if (h->caplen > RTE_MBUF_DEFAULT_DATAROOM)
			continue;
		f[n].data = malloc(h->caplen);
		if (f[n].data == NULL) {
			pcap_close(p);
			return -1;
		}
		f[n].len = h->caplen;
		memcpy(f[n].data, d, h->caplen);
		n++;
	}
	pcap_close(p);
	return (int)n;
}

/* A fresh mbuf from mp holding a copy of the frame, or NULL when the pool is empty. */
static inline struct rte_mbuf *
dp_frame_mbuf(struct rte_mempool *mp, const struct dp_frame *f)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

	if (m == NULL)
		return NULL;
	memcpy(rte_pktmbuf_mtod(m, void *), f->data, f->len);
	m->data_len = (uint16_t)f->len;
	m->pkt_len = f->len;
	return m;
}

#define DP_FRAME_TCP_LEN 60

/*
 * A 60-byte Ethernet/IPv4/TCP frame without payload of synthetic flow i (client
 * 10.x.y.z:40000-40015 -> 172.16.a.b:443) with TCP flags and sequence number seq.
 */
static inline void
dp_frame_tcp(uint8_t *p, uint32_t i, uint8_t flags, uint32_t seq)
{
	static const uint8_t tmpl[DP_FRAME_TCP_LEN] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,             /* Ethernet */
		0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 0, 172, 16, 0, 0, /* IPv4 */
		0, 0, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0, 0xff, 0xff, 0, 0, 0, 0, /* TCP */
	};
	uint32_t host = i >> 4;
	uint16_t port = (uint16_t)(40000 + (i & 15));

	memcpy(p, tmpl, sizeof(tmpl));
	p[27] = (uint8_t)(host >> 16);
	p[28] = (uint8_t)(host >> 8);
	p[29] = (uint8_t)host;
	p[32] = (uint8_t)(i >> 8);
	p[33] = (uint8_t)i;
	p[34] = (uint8_t)(port >> 8);
	p[35] = (uint8_t)port;
	p[38] = (uint8_t)(seq >> 24);
	p[39] = (uint8_t)(seq >> 16);
	p[40] = (uint8_t)(seq >> 8);
	p[41] = (uint8_t)seq;
	p[47] = flags;
}

/* A fresh mbuf from mp holding dp_frame_tcp(i, flags, seq), or NULL when the pool is empty. */
static inline struct rte_mbuf *
dp_frame_tcp_mbuf(struct rte_mempool *mp, uint32_t i, uint8_t flags, uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

	if (m == NULL)
		return NULL;
	dp_frame_tcp(rte_pktmbuf_mtod(m, uint8_t *), i, flags, seq);
	m->data_len = DP_FRAME_TCP_LEN;
	m->pkt_len = DP_FRAME_TCP_LEN;
	return m;
}

/* What a test worker runs in: EAL (--no-huge, one lcore), mbufs, a chain table, one event ring. */
struct dp_testenv {
	char name[64]; /* EAL file prefix and shared-memory instance: the test's name and pid */
	struct rte_mempool *mp;
	struct dp_chaintab ct;
	struct cw_shm shm;
};

/* Set e up for test `test` (argv0: the program), or print why and return -1. */
static inline int
dp_testenv_init(struct dp_testenv *e, char *argv0, const char *test, uint32_t chains,
		uint32_t ring_slots, uint32_t blob_bytes)
{
	char *eal[] = {argv0, "--no-huge", "-m", "256", "--no-pci", "-l", "0", "--log-level", "3",
		       "--file-prefix", e->name, NULL};

	snprintf(e->name, sizeof(e->name), "%s%d", test, (int)getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "%s: EAL init failed\n", test);
		return -1;
	}
	dp_run.tsc_hz = rte_get_tsc_hz();
	e->mp = rte_pktmbuf_pool_create(test, 1024, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (e->mp == NULL || dp_chaintab_init(&e->ct, chains, 0, 0) < 0 ||
	    cw_shm_create(&e->shm, e->name, 1, ring_slots, blob_bytes, 0600) < 0) {
		fprintf(stderr, "%s: setup failed\n", test);
		return -1;
	}
	return 0;
}

/* A test worker's tables: flows, sessions and reassembly KiB as given; timers that never fire. */
static inline void
dp_testenv_conf(struct dp_conf *conf, uint32_t flows, uint32_t sessions, uint32_t reasm_kib)
{
	conf->flows = flows;
	conf->sessions = sessions;
	conf->reasm_kib = reasm_kib;
	conf->idle_s = 3600;
	conf->hs_s = 3600;
}

/*
 * A worker of conf in e (exits on failure): its lcore's counters, Ethernet frames, and the TSC
 * clock, which stamps every packet with w->now_ns (set here to 1000 s; the test may move it).
 */
static inline struct dp_worker *
dp_testenv_worker(struct dp_testenv *e, const struct dp_conf *conf)
{
	struct dp_worker *w = rte_zmalloc(NULL, sizeof(*w), 64);

	if (w == NULL || dp_worker_init(w, 0, conf, 0, &e->ct, &e->shm.rings[0]) < 0) {
		fprintf(stderr, "%s: worker setup failed\n", e->name);
		exit(1);
	}
	w->st = &dp_lcore_stats[rte_lcore_id()];
	w->clk = &dp_clock_tsc;
	w->linktype = CW_LINK_ETHERNET;
	w->now_ns = 1000000000000ull;
	return w;
}

/* Undo dp_testenv_worker(). */
static inline void
dp_testenv_worker_free(struct dp_worker *w)
{
	dp_worker_free(w);
	rte_free(w);
}

/* Undo dp_testenv_init(): the ring's shared memory, the chain table, EAL and its runtime files. */
static inline void
dp_testenv_fini(struct dp_testenv *e)
{
	char dir[PATH_MAX];

	cw_shm_close(&e->shm);
	cw_shm_unlink(e->name);
	dp_chaintab_free(&e->ct);
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dp_rundir_remove(dir);
}

#endif /* DP_FRAMES_H */
