/* SPDX-License-Identifier: BSD-3-Clause */
/* Bench/test helper: a whole capture in memory, decoded once, with its TCP packets grouped by flow. */
#ifndef CW_BENCH_FLOWS_H
#define CW_BENCH_FLOWS_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define BF_MAX_FLOWS 4096

/* One captured frame; pkt.payload points into data. */
struct bf_frame {
	uint8_t *data;
	uint32_t len;
	int dec;             /* enum cw_dec_res */
	int flow;            /* index into bf_capture.flows, -1 when not TCP */
	uint64_t ts_ns;
	struct cw_pkt pkt;
};

/* A TCP flow: its frames in capture order (indices into bf_capture.frames). */
struct bf_flow {
	uint32_t n, cap;
	uint32_t *idx;
};

struct bf_capture {
	int linktype;        /* enum cw_linktype */
	uint32_t nframes, nflows;
	struct bf_frame *frames;
	struct bf_flow flows[BF_MAX_FLOWS];
};

static inline int
bf_same_flow(const struct cw_pkt *a, const struct cw_pkt *b)
{
	if (a->ipver != b->ipver)
		return 0;
	if (a->sport == b->sport && a->dport == b->dport && !memcmp(a->saddr, b->saddr, 16) &&
	    !memcmp(a->daddr, b->daddr, 16))
		return 1;
	return a->sport == b->dport && a->dport == b->sport && !memcmp(a->saddr, b->daddr, 16) &&
	       !memcmp(a->daddr, b->saddr, 16);
}

/*
 * Read a whole capture (setup, not timed: allocates). Flows are found by a
 * linear search over the last flows seen, which is fine for test captures.
 * Returns 0 or -1 with a message on stderr.
 */
static inline int
bf_load(struct bf_capture *c, const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const uint8_t *d;
	uint32_t cap = 1024;
	pcap_t *p = pcap_open_offline(path, err);

	memset(c, 0, sizeof(*c));
	if (!p) {
		fprintf(stderr, "%s: %s\n", path, err);
		return -1;
	}
	switch (pcap_datalink(p)) {
	case DLT_EN10MB:
		c->linktype = CW_LINK_ETHERNET;
		break;
	case DLT_RAW:
		c->linktype = CW_LINK_RAW;
		break;
	case DLT_LINUX_SLL:
		c->linktype = CW_LINK_LINUX_SLL;
		break;
	default:
		c->linktype = pcap_datalink(p);
		break;
	}
	c->frames = malloc(cap * sizeof(*c->frames));
	if (!c->frames)
		goto fail;
	while (pcap_next_ex(p, &h, &d) == 1) {
		struct bf_frame *f;
		if (c->nframes == cap) {
			struct bf_frame *nf = realloc(c->frames, 2 * cap * sizeof(*nf));
			if (!nf)
				goto fail;
			c->frames = nf;
			cap *= 2;
		}
		f = &c->frames[c->nframes];
		f->data = malloc(h->caplen ? h->caplen : 1);
		if (!f->data)
			goto fail;
		memcpy(f->data, d, h->caplen);
		f->len = h->caplen;
		f->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec * 1000u;
		f->dec = cw_decode((enum cw_linktype)c->linktype, f->data, f->len, &f->pkt);
		f->flow = -1;
		if (f->dec == CW_DEC_TCP) {
			uint32_t i;
			for (i = 0; i < c->nflows; i++) {
				const struct bf_flow *fl = &c->flows[i];
				if (bf_same_flow(&c->frames[fl->idx[0]].pkt, &f->pkt))
					break;
			}
			if (i == c->nflows) {
				if (c->nflows == BF_MAX_FLOWS)
					goto next;
				c->nflows++;
			}
			struct bf_flow *fl = &c->flows[i];
			if (fl->n == fl->cap) {
				uint32_t ncap = fl->cap ? 2 * fl->cap : 16;
				uint32_t *ni = realloc(fl->idx, ncap * sizeof(*ni));
				if (!ni)
					goto fail;
				fl->idx = ni;
				fl->cap = ncap;
			}
			fl->idx[fl->n++] = c->nframes;
			f->flow = (int)i;
		}
next:
		c->nframes++;
	}
	pcap_close(p);
	return 0;
fail:
	fprintf(stderr, "%s: out of memory\n", path);
	pcap_close(p);
	return -1;
}

static inline void
bf_free(struct bf_capture *c)
{
	for (uint32_t i = 0; i < c->nframes; i++)
		free(c->frames[i].data);
	for (uint32_t i = 0; i < c->nflows; i++)
		free(c->flows[i].idx);
	free(c->frames);
	memset(c, 0, sizeof(*c));
}

#endif /* CW_BENCH_FLOWS_H */
