/* SPDX-License-Identifier: BSD-3-Clause */
/* Certificate and chain identities: XXH3-128 on the fast path, SHA-256 once per new certificate. */
#ifndef CW_CHAIN_H
#define CW_CHAIN_H

#include <stdint.h>

#include "tls.h"

#define CW_ID_LEN 16   /* XXH3-128, canonical (big-endian) byte order */
#define CW_SHA256_LEN 32
#define CW_KEY_ID_LEN 8       /* chain-key id: the first bytes of SHA-256 over the key */
#define CW_CHAIN_KEY_MIN 16   /* key file bytes: at least 128 bits of secret ... */
#define CW_CHAIN_KEY_MAX 4096 /* ... and at most this */

/*
 * Keyed ids. Without a key, ids are the canonical XXH3-128 of the bytes: a
 * non-cryptographic hash with a public secret, so whoever makes the
 * certificates (an interception CA) can search for a chain whose id equals a
 * genuine chain's, and that chain would be taken for the genuine one. With a
 * key, every id is XXH3-128 with a secret derived from the key
 * (XXH3_generateSecret(192 bytes, key)), which the certificate maker does not
 * know. Ids are stable for as long as the key is: keep one key per store.
 *
 * cw_chain_key_set() and cw_chain_key_load() change process-wide state: call
 * them once at start-up, before any thread computes an id.
 */
int cw_chain_key_set(const uint8_t *key, size_t len);

/*
 * Load the key from a file: a regular file of CW_CHAIN_KEY_MIN..MAX bytes
 * (any bytes: `head -c 32 /dev/urandom`), readable and writable by its owner
 * only. 0, or a negative errno with a message in err.
 */
int cw_chain_key_load(const char *path, char *err, size_t errlen);

/* 1 when a key is set. */
int cw_chain_keyed(void);

/* The key's id (all zero when unkeyed): names the key in headers and stores, reveals nothing of it. */
void cw_chain_key_id(uint8_t out[CW_KEY_ID_LEN]);

/*
 * Which build of XXH3 makes the ids; every one gives the same values. BASELINE is the library's
 * default code (SSE2 on x86-64); WIDE its x86 dispatcher (AVX-512 or AVX2; x86-64 CPUs with
 * AVX2 only). AUTO, the default at load: WIDE on AMD CPUs with AVX2, BASELINE elsewhere (where
 * it is not measured yet; chain.c). Process-wide: set it at start-up, before any thread
 * computes an id. 0, -EINVAL (no such impl) or -ENOTSUP (WIDE on a CPU without AVX2).
 */
enum cw_xxh3_impl { CW_XXH3_AUTO, CW_XXH3_BASELINE, CW_XXH3_WIDE };
int cw_chain_xxh3_set(enum cw_xxh3_impl impl);

/*
 * cw_chain_xxh3_set() by name: "auto", "baseline" or "wide" (the values of --xxh3). -EINVAL for
 * any other name (the build in effect stays), else as cw_chain_xxh3_set().
 */
int cw_chain_xxh3_use(const char *name);

/* The build in effect: "baseline" or "wide". */
const char *cw_chain_xxh3_name(void);

/* XXH3-128 of one DER certificate (keyed when a key is set), canonical byte order. */
void cw_cert_id(const uint8_t *der, uint32_t len, uint8_t out[CW_ID_LEN]);

/* SHA-256 of one DER certificate (OpenSSL libcrypto). */
void cw_cert_sha256(const uint8_t *der, uint32_t len, uint8_t out[CW_SHA256_LEN]);

/*
 * Chain id = XXH3-128 over the leaf-first concatenation of the per-certificate
 * XXH3-128 values (canonical bytes), keyed as they are. An empty chain has the
 * all-zero id.
 * ids receives the per-certificate ids (cl->n entries) when not NULL.
 */
void cw_chain_id(const struct cw_cert_list *cl, uint8_t ids[][CW_ID_LEN], uint8_t out[CW_ID_LEN]);

#endif /* CW_CHAIN_H */
