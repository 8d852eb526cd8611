/* SPDX-License-Identifier: BSD-3-Clause */
/* --replay: load a capture once, split by flow over the workers, hand it out in mbufs (see replay.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>
#include <rte_branch_prediction.h>
#include <rte_malloc.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>

#include "decode.h"
#include "flow.h"
#include "replay.h"

/* Worker of a frame: the dispatcher's rule (dp_flow_worker); not TCP: 0. */
static uint8_t
replay_worker_of(int linktype, const uint8_t *frame, uint32_t len, uint32_t nsrc)
{
	struct cw_pkt pkt;

	if (nsrc == 1 || cw_decode((enum cw_linktype)linktype, frame, len, &pkt) != CW_DEC_TCP)
		return 0;
	return (uint8_t)dp_flow_worker(&pkt, nsrc);
}

static void
replay_release(struct dp_replay *r)
{
	uint32_t k;

	for (k = 0; k < DP_MAX_WORKERS; k++) {
		rte_free((void *)(uintptr_t)r->src[k].data);
		rte_free((void *)(uintptr_t)r->src[k].off);
		r->src[k].data = NULL;
		r->src[k].off = NULL;
		r->src[k].n = 0;
	}
	rte_mempool_free(r->mp);
	r->mp = NULL;
}

/*
 * Free callback of an attached frame. The capture outlives every mbuf (the
 * teardown frees it only when the pool has every mbuf back), so the buffer is
 * never freed here. The source's count is kept at 1 instead of counting its
 * mbufs: rte_mbuf_ext_refcnt_update() then takes its non-atomic path (1 to 0
 * and this call), which is sound because only the source's worker attaches
 * and frees them.
 */
static void
replay_extbuf_free(void *addr, void *opaque)
{
	RTE_SET_USED(addr);
	rte_mbuf_ext_refcnt_set(opaque, 1);
}

int
dp_replay_load(struct dp_replay *r, const char *file, int linktype, uint32_t nsrc,
	       uint64_t loops, int copy, int socket, const char **why)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t bytes[DP_MAX_WORKERS] = {0}, nframes = 0, i;
	uint32_t fill[DP_MAX_WORKERS] = {0}, k;
	uint8_t *owner = NULL;
	size_t cap = 0;
	pcap_t *p;
	int bad = 0;

	memset(r, 0, sizeof(*r));
	if (nsrc == 0 || nsrc > DP_MAX_WORKERS) {
		*why = "bad replay worker count";
		return -EINVAL;
	}
	r->nsrc = nsrc;
	r->copy = copy;

	/* Pass 1: each frame's worker, and what every worker's share takes. */
	p = pcap_open_offline(file, err);
	if (p == NULL) {
		*why = "cannot read the --replay capture";
		return -EIO;
	}
	while (pcap_next_ex(p, &h, &d) == 1) {
		if (nframes == cap) {
			uint8_t *o = realloc(owner, cap ? cap * 2 : 65536);

			if (o == NULL) {
				pcap_close(p);
				free(owner);
				*why = "no memory to index the --replay capture";
				return -ENOMEM;
			}
			owner = o;
			cap = cap ? cap * 2 : 65536;
		}
		if (!copy && h->caplen > UINT16_MAX) {
			pcap_close(p);
			free(owner);
			*why = "the --replay capture has a frame longer than 65535 B, the most an mbuf "
			       "can point to (--replay-copy copies it into a chain)";
			return -E2BIG;
		}
		k = replay_worker_of(linktype, d, h->caplen, nsrc);
		owner[nframes++] = (uint8_t)k;
		fill[k]++;
		bytes[k] += h->caplen;
		if (fill[k] == UINT32_MAX || bytes[k] > UINT32_MAX) {
			pcap_close(p);
			free(owner);
			*why = "the --replay capture is too large (4 GiB or 2^32 frames per worker)";
			return -E2BIG;
		}
	}
	pcap_close(p);
	if (nframes == 0) {
		free(owner);
		*why = "the --replay capture holds no frames";
		return -EINVAL;
	}
	for (k = 0; k < nsrc; k++) {
		struct dp_replay_src *s = &r->src[k];

		s->loops = loops;
		s->data = rte_malloc_socket("dp_replay_data", RTE_MAX(bytes[k], 1ull), RTE_CACHE_LINE_SIZE,
					    socket);
		s->off = rte_malloc_socket("dp_replay_off", ((uint64_t)fill[k] + 1) * sizeof(*s->off),
					   RTE_CACHE_LINE_SIZE, socket);
		if (s->data == NULL || s->off == NULL)
			goto nomem;
		((uint32_t *)(uintptr_t)s->off)[0] = 0;
		s->iova = rte_malloc_virt2iova(s->data);
		s->shinfo.free_cb = replay_extbuf_free;
		s->shinfo.fcb_opaque = &s->shinfo;
		rte_mbuf_ext_refcnt_set(&s->shinfo, 1);
	}
	r->mp = rte_pktmbuf_pool_create("dp_replay", nsrc * DP_REPLAY_MBUFS, 256, 0,
					dp_replay_room(copy), socket);
	if (r->mp == NULL)
		goto nomem;

	/* Pass 2: the bytes, back to back per worker. */
	p = pcap_open_offline(file, err);
	if (p == NULL) {
		free(owner);
		replay_release(r);
		*why = "cannot read the --replay capture";
		return -EIO;
	}
	for (i = 0; i < nframes && pcap_next_ex(p, &h, &d) == 1; i++) {
		struct dp_replay_src *s = &r->src[owner[i]];
		uint32_t *off = (uint32_t *)(uintptr_t)s->off;

		if (s->n == fill[owner[i]] || (uint64_t)off[s->n] + h->caplen > bytes[owner[i]])
			break;
		memcpy((uint8_t *)(uintptr_t)s->data + off[s->n], d, h->caplen);
		off[s->n + 1] = off[s->n] + h->caplen;
		s->n++;
	}
	pcap_close(p);
	free(owner);
	for (k = 0; k < nsrc; k++)
		bad |= r->src[k].n != fill[k];
	if (bad || i != nframes) {
		replay_release(r);
		*why = "the --replay capture changed while it was loaded";
		return -EIO;
	}
	r->nframes = (uint32_t)nframes;
	return 0;

nomem:
	free(owner);
	replay_release(r);
	*why = "no memory for the --replay capture (EAL -m: the capture's size and 0.5 MiB "
	       "per worker, 4.5 MiB with --replay-copy)";
	return -ENOMEM;
}

/* Frame bytes d[0, len) into head and as many further segments as they need. 0 or -ENOMEM. */
static int
replay_chain(struct rte_mempool *mp, struct rte_mbuf *head, const uint8_t *d, uint32_t len)
{
	struct rte_mbuf *last = head;
	uint32_t off = 0;

	head->pkt_len = 0;
	for (;;) {
		uint32_t take = RTE_MIN(len - off, (uint32_t)rte_pktmbuf_tailroom(last));

		rte_memcpy(rte_pktmbuf_mtod(last, uint8_t *), d + off, take);
		last->data_len = (uint16_t)take;
		head->pkt_len += take;
		off += take;
		if (off == len)
			return 0;
		last->next = rte_pktmbuf_alloc(mp);
		if (last->next == NULL)
			return -ENOMEM;
		last = last->next;
		head->nb_segs++;
	}
}

uint16_t
dp_replay_rx(struct dp_replay *r, struct dp_replay_src *s, struct rte_mbuf **pkts, uint16_t max)
{
	uint16_t n, k;

	if (unlikely(s->pos == s->n)) {
		if (s->done)
			return 0;
		s->passes++;
		if (s->n == 0 || (s->loops != 0 && s->passes >= s->loops)) {
			__atomic_store_n(&s->done, 1, __ATOMIC_RELEASE); /* pos stays at n */
			return 0;
		}
		s->pos = 0;
	}
	n = (uint16_t)RTE_MIN((uint32_t)max, s->n - s->pos);
	if (unlikely(rte_pktmbuf_alloc_bulk(r->mp, pkts, n) != 0)) {
		s->nombuf++;
		return 0;
	}
	for (k = 0; k < n; k++) {
		const uint32_t *off = &s->off[s->pos + k];
		uint32_t len = off[1] - off[0];
		struct rte_mbuf *m = pkts[k];

		if (likely(!r->copy)) { /* len <= UINT16_MAX: checked at load */
			rte_pktmbuf_attach_extbuf(m, (void *)(uintptr_t)(s->data + off[0]),
						  s->iova == RTE_BAD_IOVA ? RTE_BAD_IOVA : s->iova + off[0],
						  (uint16_t)len, &s->shinfo);
			m->data_len = (uint16_t)len;
			m->pkt_len = len;
		} else if (len <= rte_pktmbuf_tailroom(m)) {
			rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), s->data + off[0], len);
			m->data_len = (uint16_t)len;
			m->pkt_len = len;
		} else if (replay_chain(r->mp, m, s->data + off[0], len) < 0) {
			/* Frame k comes again with the next burst. */
			rte_pktmbuf_free_bulk(pkts + k, n - k);
			s->nombuf++;
			n = k;
			break;
		}
	}
	s->pos += n;
	/*
	 * Attached frames are read where the capture holds them, which is far
	 * larger than the caches: the first line of each frame of the next burst
	 * is fetched now, as a NIC's write would have put it in the LLC (DDIO),
	 * rather than from memory on the worker's first read.
	 */
	if (!r->copy) {
		uint32_t e = RTE_MIN(s->pos + (uint32_t)max, s->n);

		for (k = 0; s->pos + k < e; k++)
			rte_prefetch1(s->data + s->off[s->pos + k]);
	}
	return n;
}

int
dp_replay_done(const struct dp_replay *r)
{
	uint32_t k;

	for (k = 0; k < r->nsrc; k++)
		if (!__atomic_load_n(&r->src[k].done, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

uint32_t
dp_replay_free(struct dp_replay *r)
{
	uint32_t out = r->mp != NULL ? rte_mempool_in_use_count(r->mp) : 0;

	replay_release(r);
	return out;
}
