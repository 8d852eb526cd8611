/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared lock-free table of chain ids already sent to control, with a per-worker cache in front. */
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash_crc.h>

#include "chaintab.h"

int
dp_chaintab_init(struct dp_chaintab *t, uint32_t entries, int socket, int multi_writer)
{
	struct rte_hash_parameters hp = {
		.name = "cw_chains",
		.entries = entries,
		.key_len = CW_ID_LEN,
		.hash_func = rte_hash_crc,
		.hash_func_init_val = 0,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE |
			      (multi_writer ? RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD : 0),
	};

	t->h = rte_hash_create(&hp);
	if (t->h == NULL)
		return rte_errno ? -rte_errno : -ENOMEM;
	t->entries = entries;
	return 0;
}

void
dp_chaintab_free(struct dp_chaintab *t)
{
	rte_hash_free(t->h);
	t->h = NULL;
}

static inline uint32_t
cache_slot(const uint8_t id[CW_ID_LEN])
{
	uint32_t v;

	memcpy(&v, id + CW_ID_LEN - sizeof(v), sizeof(v));
	return v & (DP_CHAIN_CACHE - 1);
}

/*
 * rte_hash_crc() reads its key 8 bytes at a time; ids inside events are only
 * 4-byte aligned, so the table always gets an aligned copy.
 */
struct dp_chain_key {
	alignas(8) uint8_t b[CW_ID_LEN];
};

int
dp_chain_known(struct dp_chaintab *t, struct dp_chain_cache *c, const uint8_t id_in[CW_ID_LEN],
	       int *cache_hit)
{
	struct dp_chain_key k;
	uint8_t *slot = c->id[cache_slot(id_in)];
	void *data = NULL;

	memcpy(k.b, id_in, CW_ID_LEN);
	if (memcmp(slot, k.b, CW_ID_LEN) == 0) {
		*cache_hit = 1;
		return 1;
	}
	*cache_hit = 0;
	if (rte_hash_lookup_data(t->h, k.b, &data) >= 0 && data == DP_CHAIN_SENT) {
		memcpy(slot, k.b, CW_ID_LEN);
		return 1;
	}
	return 0;
}

int
dp_chain_seen(struct dp_chaintab *t, struct dp_chain_cache *c, const uint8_t id_in[CW_ID_LEN],
	      int *cache_hit)
{
	struct dp_chain_key k;
	const uint8_t *id = k.b;
	uint8_t *slot = c->id[cache_slot(id_in)];
	int rc;

	if (dp_chain_known(t, c, id_in, cache_hit))
		return DP_CHAIN_KNOWN;
	memcpy(k.b, id_in, CW_ID_LEN);
	rc = rte_hash_add_key_data(t->h, id, DP_CHAIN_SENT);
	if (rc < 0)
		return DP_CHAIN_FULL;
	memcpy(slot, id, CW_ID_LEN);
	return DP_CHAIN_NEW;
}

void
dp_chain_unsent(struct dp_chaintab *t, struct dp_chain_cache *c, const uint8_t id_in[CW_ID_LEN])
{
	struct dp_chain_key k;
	const uint8_t *id = k.b;
	uint8_t *slot = c->id[cache_slot(id_in)];

	memcpy(k.b, id_in, CW_ID_LEN);
	if (memcmp(slot, id, CW_ID_LEN) == 0)
		memset(slot, 0, CW_ID_LEN);
	/* Updating the data of an existing key never needs a free slot. */
	rte_hash_add_key_data(t->h, id, DP_CHAIN_UNSENT);
}
