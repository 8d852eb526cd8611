/* SPDX-License-Identifier: BSD-3-Clause */
/* Expected Certificate messages by server name: a set-associative cache in the caller's memory. */
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "certref.h"

static uint32_t
sets_for(uint32_t n)
{
	uint32_t sets = 1;

	while ((uint64_t)sets * 2 * CW_CERTREF_WAYS <= n)
		sets *= 2;
	return sets;
}

size_t
cw_certref_bytes(uint32_t n)
{
	size_t ents = (size_t)sets_for(n) * CW_CERTREF_WAYS;
	size_t head = (ents * sizeof(struct cw_certref_ent) + 63) & ~(size_t)63;

	return head + ents * CW_CERTREF_BODY_MAX;
}

int
cw_certref_init(struct cw_certref *c, void *mem, uint32_t n)
{
	uint32_t ents, i;
	uint8_t *bodies;

	if (n < CW_CERTREF_WAYS || n > CW_CERTREF_MAX || mem == NULL || ((uintptr_t)mem & 63) != 0)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->nsets = sets_for(n);
	ents = c->nsets * CW_CERTREF_WAYS;
	c->e = mem;
	bodies = (uint8_t *)mem + ((ents * sizeof(struct cw_certref_ent) + 63) & ~(size_t)63);
	memset(c->e, 0, ents * sizeof(struct cw_certref_ent));
	for (i = 0; i < ents; i++)
		c->e[i].body = bodies + (size_t)i * CW_CERTREF_BODY_MAX;
	return 0;
}

uint64_t
cw_certref_key(const uint8_t *name, uint32_t len, uint16_t cipher)
{
	return XXH3_64bits_withSeed(name, len, cipher);
}

static inline struct cw_certref_ent *
set_of(struct cw_certref *c, uint64_t key)
{
	return &c->e[(key & (c->nsets - 1)) * CW_CERTREF_WAYS];
}

struct cw_certref_ent *
cw_certref_get(struct cw_certref *c, uint64_t key)
{
	struct cw_certref_ent *set = set_of(c, key);

	for (int i = 0; i < CW_CERTREF_WAYS; i++) {
		if (set[i].stamp != 0 && set[i].key == key) {
			set[i].stamp = ++c->clock;
			set[i].users++;
			c->found++;
			return &set[i];
		}
	}
	return NULL;
}

void
cw_certref_put(struct cw_certref *c, uint64_t key, const uint8_t *body, uint32_t len,
	       const uint8_t id[CW_ID_LEN])
{
	struct cw_certref_ent *set = set_of(c, key), *e = NULL;
	int i;

	if (len > CW_CERTREF_BODY_MAX) {
		c->too_long++;
		return;
	}
	for (i = 0; i < CW_CERTREF_WAYS; i++) {
		if (set[i].stamp != 0 && set[i].key == key) {
			e = &set[i];
			break;
		}
	}
	if (e == NULL) {
		/* The least recently used way nobody pins; a free one (stamp 0) first. */
		for (i = 0; i < CW_CERTREF_WAYS; i++)
			if (set[i].users == 0 && (e == NULL || set[i].stamp < e->stamp))
				e = &set[i];
	}
	if (e == NULL || e->users != 0) {
		c->busy++;
		return;
	}
	e->key = key;
	e->stamp = ++c->clock;
	e->len = len;
	memcpy(e->chain_id, id, CW_ID_LEN);
	memcpy(e->body, body, len);
	c->stored++;
}
