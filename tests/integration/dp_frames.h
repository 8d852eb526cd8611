/* SPDX-License-Identifier: BSD-3-Clause */
/* Frames of an Ethernet capture held in memory, and an mbuf made of one, for the worker's C tests. */
#ifndef DP_FRAMES_H
#define DP_FRAMES_H

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

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

#endif /* DP_FRAMES_H */
