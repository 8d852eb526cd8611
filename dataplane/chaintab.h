/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared lock-free table of chain ids already sent to control, with a per-worker cache in front. */
#ifndef DP_CHAINTAB_H
#define DP_CHAINTAB_H

#include <stdint.h>

#include <rte_hash.h>

#include "chain.h"

/*
 * The shared table: rte_hash keyed by the 16-byte chain id, created with
 * RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF (lookups never lock or retry on a
 * writer) and, with more than one worker, MULTI_WRITER_ADD. Bounded to
 * `entries` ids; when full, a new chain is not stored and is reported as
 * new (blob sent) every time it is seen: the consumer deduplicates by id,
 * so a full table costs ring bandwidth, never data.
 *
 * Each key's data is DP_CHAIN_SENT or DP_CHAIN_UNSENT. A chain whose blob
 * could not be published (event or blob ring full) is set back to UNSENT
 * instead of being deleted: deleting under lock-free readers would need an
 * RCU grace period before the key slot could be reused. UNSENT is treated
 * exactly like an absent key, so the blob goes out at the next sighting.
 *
 * Two workers that see the same new chain at the same moment may both send
 * its blob (both find it absent before either adds it). The consumer
 * deduplicates by chain id.
 */
#define DP_CHAIN_UNSENT ((void *)(uintptr_t)1)
#define DP_CHAIN_SENT ((void *)(uintptr_t)2)

struct dp_chaintab {
	struct rte_hash *h;
	uint32_t entries;
};

/*
 * Per-worker direct-mapped cache of ids known to be SENT, indexed by the
 * low bits of the id (ids are XXH3 output, uniformly spread). A publish
 * failure clears the failing worker's own slot; another worker that cached
 * the id as SENT in the short window before keeps treating it as known, so
 * the resend happens at the next sighting by a worker that had not cached
 * it. An all-zero slot is empty (the zero id is never looked up).
 * Owning worker only.
 */
#define DP_CHAIN_CACHE 1024 /* entries, power of 2: 16 KiB per worker */

struct dp_chain_cache {
	uint8_t id[DP_CHAIN_CACHE][CW_ID_LEN];
};

enum dp_chain_res {
	DP_CHAIN_KNOWN = 0, /* already sent: no blob */
	DP_CHAIN_NEW,       /* now marked SENT: send the blob */
	DP_CHAIN_FULL,      /* not stored (table full): send the blob */
};

int dp_chaintab_init(struct dp_chaintab *t, uint32_t entries, int socket, int multi_writer);
void dp_chaintab_free(struct dp_chaintab *t);

/* Look up (cache, then table) and insert when absent. Returns enum dp_chain_res; *cache_hit set. */
int dp_chain_seen(struct dp_chaintab *t, struct dp_chain_cache *c, const uint8_t id[CW_ID_LEN],
		  int *cache_hit);

/* Lookup only (cache, then table): 1 when id was already sent, else 0. Fills the cache on a table hit. */
int dp_chain_known(struct dp_chaintab *t, struct dp_chain_cache *c, const uint8_t id[CW_ID_LEN],
		   int *cache_hit);

/* The blob for id did not reach the ring: send it again at the next sighting. */
void dp_chain_unsent(struct dp_chaintab *t, struct dp_chain_cache *c, const uint8_t id[CW_ID_LEN]);

#endif /* DP_CHAINTAB_H */
