/* SPDX-License-Identifier: BSD-3-Clause */
/* Expected Certificate messages by server name, compared with server flights as they arrive. */
#ifndef CW_CERTREF_H
#define CW_CERTREF_H

#include <stddef.h>
#include <stdint.h>

#include "chain.h"

/*
 * A server sends the same Certificate message to every client that names
 * it (and is answered with the same kind of cipher suite), so a worker
 * keeps the last one each server name and suite were answered with
 * (its body, byte for byte, and its chain id) and a session compares the
 * next server flight for that name with it as the bytes arrive, holding
 * none of them: the partial Certificate message that would otherwise sit
 * in a reassembly buffer for a round trip. Only an exact match of every
 * byte makes it the same message, so a chain id taken from an entry is the
 * id the bytes would hash to. On the first byte that differs (a substituted
 * chain, a renewed certificate) the session rebuilds what it matched from
 * the entry and assembles the message as without one (cw_tls_cmp_restore()).
 *
 * Entries are kept in sets of CW_CERTREF_WAYS by cw_certref_key(); a
 * name's entry is replaced by the next message parsed whole for it, and a
 * new name takes the least recently used way. An entry a session compares
 * with, or whose bytes it still shows as its certificates, is pinned
 * (users > 0) and never replaced: a name whose set is all pinned is not
 * stored (counted in `busy`). Bodies longer than CW_CERTREF_BODY_MAX are
 * never kept (`too_long`). Memory is the caller's: cw_certref_bytes().
 * Only the owning worker thread reads or writes a cache.
 */
#define CW_CERTREF_WAYS 4
#define CW_CERTREF_BODY_MAX 8192u /* bytes of Certificate message body an entry holds */
#define CW_CERTREF_MAX (1u << 20) /* entries in one cache */

struct cw_certref_ent {
	uint64_t key;    /* cw_certref_key() of the server name and cipher suite */
	uint64_t stamp;  /* last use on the cache's clock; 0: free */
	uint32_t len;    /* body bytes */
	uint32_t users;  /* pins: sessions comparing with it or showing its bytes (<= --sessions) */
	uint8_t chain_id[CW_ID_LEN]; /* cw_chain_id() of the body's certificates */
	uint8_t *body;   /* CW_CERTREF_BODY_MAX bytes */
};

struct cw_certref {
	struct cw_certref_ent *e; /* [nsets * CW_CERTREF_WAYS] */
	uint32_t nsets;           /* a power of 2 */
	uint64_t clock;
	/* Counters, read unlocked by telemetry. */
	uint64_t found;    /* lookups that found an entry for the name */
	uint64_t matched;  /* flights whose Certificate message was the entry's, byte for byte */
	uint64_t differed; /* flights compared that differed: rebuilt and assembled */
	uint64_t stored;   /* messages stored (new names and replacements) */
	uint64_t busy;     /* not stored: every way of the set pinned */
	uint64_t too_long; /* not stored: body longer than CW_CERTREF_BODY_MAX */
};

/* Bytes of memory cw_certref_init() takes for n entries (n rounded up to a multiple of the ways). */
size_t cw_certref_bytes(uint32_t n);

/*
 * A cache of n entries (CW_CERTREF_WAYS..CW_CERTREF_MAX, rounded down to a
 * power of 2 sets) in mem (cw_certref_bytes(n) bytes, 64-byte aligned, the
 * caller's). 0 or -EINVAL.
 */
int cw_certref_init(struct cw_certref *c, void *mem, uint32_t n);

/*
 * The key of a server name answered with a cipher suite: a TLS 1.2 suite names the kind of key
 * the certificate carries, and a server with an ECDSA and an RSA chain sends each to the clients
 * that offer it, so the two are kept apart rather than taking each other's place.
 */
uint64_t cw_certref_key(const uint8_t *name, uint32_t len, uint16_t cipher);

/* The entry for key, pinned, or NULL. Release it with cw_certref_unpin(). */
struct cw_certref_ent *cw_certref_get(struct cw_certref *c, uint64_t key);

static inline void
cw_certref_unpin(struct cw_certref_ent *e)
{
	e->users--;
}

/* The entry whose body is body (an entry's body pointer, as cw_certref_get() gave it). */
static inline struct cw_certref_ent *
cw_certref_of(struct cw_certref *c, const uint8_t *body)
{
	return &c->e[(size_t)(body - c->e[0].body) / CW_CERTREF_BODY_MAX];
}

/*
 * Keep body (a Certificate message body of len bytes whose chain id is id)
 * as what key is answered with: in the key's entry when it has one, else
 * in the set's least recently used way. Nothing when that entry is pinned
 * or body is too long.
 */
void cw_certref_put(struct cw_certref *c, uint64_t key, const uint8_t *body, uint32_t len,
		    const uint8_t id[CW_ID_LEN]);

#endif /* CW_CERTREF_H */
