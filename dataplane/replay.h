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
	int done;             /* 1 once the last pass is handed out (atomic store) */
} __rte_cache_aligned;

/*
 * The preloaded capture. Bounds: the frames' bytes plus 4 B per frame,
 * allocated at load time. Like a port's RX queue, the source fills mbufs of a
 * pool of its own (DP_REPLAY_MBUFS per worker, per-lcore cache) with a copy
 * of each frame; the worker frees them as it frees a port's.
 */
struct dp_replay {
	struct rte_mempool *mp;
	uint32_t nframes;
	uint32_t nsrc;
	struct dp_replay_src src[DP_MAX_WORKERS];
};

#define DP_REPLAY_MBUFS 2048 /* mbufs per worker: a burst out, the lcore cache, chained frames */

/* Bytes of EAL memory a replay of nframes frames of `bytes` bytes in all takes, for nsrc workers. */
static inline uint64_t
dp_replay_bytes(uint64_t bytes, uint64_t nframes, uint32_t nsrc)
{
	return bytes + nframes * 4 + 64 * (uint64_t)nsrc +
	       (uint64_t)nsrc * DP_REPLAY_MBUFS * (RTE_MBUF_DEFAULT_BUF_SIZE + 256);
}

/*
 * Load `file` (libpcap; frames of link type linktype) on socket, each frame to
 * worker (flow hash * nsrc) >> 32 like dispatch mode, so both directions of a
 * flow go to one worker (frames that are not TCP go to worker 0, where they
 * are counted as decoded). loops: passes per worker, 0 = until stopped.
 * Returns 0 or -errno with *why set.
 */
int dp_replay_load(struct dp_replay *r, const char *file, int linktype, uint32_t nsrc,
		   uint64_t loops, int socket, const char **why);

/*
 * Up to max frames of src, each copied into a new mbuf of the replay's pool
 * (a chain when longer than one mbuf), into pkts, wrapping at the end of a
 * pass; 0 once the last pass is handed out. The caller owns and frees them.
 */
uint16_t dp_replay_rx(struct dp_replay *r, struct dp_replay_src *s, struct rte_mbuf **pkts,
		      uint16_t max);

/* 1 when every source handed out its last pass. */
int dp_replay_done(const struct dp_replay *r);

/* Free everything. Returns the mbufs still out of the pool (not freed by the workers): 0 when sound. */
uint32_t dp_replay_free(struct dp_replay *r);

#endif /* DP_REPLAY_H */
