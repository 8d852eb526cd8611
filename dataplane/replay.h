/* SPDX-License-Identifier: BSD-3-Clause */
/* --replay: a capture preloaded into memory, split by flow over the workers, fed to them like a port. */
#ifndef DP_REPLAY_H
#define DP_REPLAY_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dp.h"

/*
 * One worker's share of the capture: the frames of the flows that hash to it,
 * in capture order, back to back in `data`. Only that worker reads and
 * advances it; the main lcore reads `done`.
 */
struct dp_replay_src {
	const uint8_t *data;  /* frames back to back */
	const uint32_t *off;  /* n + 1 offsets into data: frame i is data[off[i], off[i + 1]) */
	uint32_t n;
	uint32_t pos;         /* next frame */
	uint64_t loops;       /* passes to make, 0 = until stopped */
	uint64_t passes;      /* passes completed */
	uint64_t nombuf;      /* bursts cut short by an empty mbuf pool */
	rte_iova_t iova;      /* IOVA of data, or RTE_BAD_IOVA */
	int done;             /* 1 once the last pass is handed out (atomic store) */
	/* Attach mode: the external-buffer info every mbuf of this source points to. */
	struct rte_mbuf_ext_shared_info shinfo;
} __rte_cache_aligned;

/*
 * The preloaded capture. Bounds: the frames' bytes plus 4 B per frame,
 * allocated at load time. Like a port's RX queue, the source hands out mbufs
 * of a pool of its own (DP_REPLAY_MBUFS per worker, per-lcore cache); the
 * worker frees them as it frees a port's. Each mbuf either points at its frame
 * in place, as an external buffer (attach mode, the default: the CPU does not
 * copy the frame, as it does not when a NIC writes it), or holds a copy of it
 * (copy mode, --replay-copy: what net_pcap's RX does). A frame longer than
 * UINT16_MAX is copied into a chain in copy mode; attach mode refuses a
 * capture with one at load time.
 */
struct dp_replay {
	struct rte_mempool *mp;
	int copy;             /* 1: copy mode */
	uint32_t nframes;
	uint32_t nsrc;
	struct dp_replay_src src[DP_MAX_WORKERS];
};

#define DP_REPLAY_MBUFS 2048 /* mbufs per worker: a burst out, the lcore cache, chained frames */

/*
 * Data room of the replay's mbufs: none in attach mode, where every frame is
 * an external buffer. The pool's elements are then ~200 B, not 2.4 KiB: the
 * mbufs a worker cycles through stay on a few 4 KiB pages, which with
 * --no-huge more than doubles the replay's own rate (BENCHMARKS.md).
 */
static inline uint16_t
dp_replay_room(int copy)
{
	return copy ? RTE_MBUF_DEFAULT_BUF_SIZE : 0;
}

/* Bytes of EAL memory a replay of nframes frames of `bytes` bytes in all takes, for nsrc workers. */
static inline uint64_t
dp_replay_bytes(uint64_t bytes, uint64_t nframes, uint32_t nsrc, int copy)
{
	return bytes + nframes * 4 + 64 * (uint64_t)nsrc +
	       (uint64_t)nsrc * DP_REPLAY_MBUFS * (dp_replay_room(copy) + 256u);
}

/*
 * Load `file` (libpcap; frames of link type linktype) on socket, each frame to
 * worker (flow hash * nsrc) >> 32 like dispatch mode, so both directions of a
 * flow go to one worker (frames that are not TCP go to worker 0, where they
 * are counted as decoded). loops: passes per worker, 0 = until stopped.
 * Returns 0 or -errno with *why set.
 */
int dp_replay_load(struct dp_replay *r, const char *file, int linktype, uint32_t nsrc,
		   uint64_t loops, int copy, int socket, const char **why);

/*
 * Up to max frames of src in new mbufs of the replay's pool, attached in
 * place or copied (a chain when longer than one mbuf), into pkts, wrapping at
 * the end of a pass; 0 once the last pass is handed out. The caller owns and
 * frees them, and must not write into attached frames (they are the capture).
 */
uint16_t dp_replay_rx(struct dp_replay *r, struct dp_replay_src *s, struct rte_mbuf **pkts,
		      uint16_t max);

/* 1 when every source handed out its last pass. */
int dp_replay_done(const struct dp_replay *r);

/* Free everything. Returns the mbufs still out of the pool (not freed by the workers): 0 when sound. */
uint32_t dp_replay_free(struct dp_replay *r);

#endif /* DP_REPLAY_H */
