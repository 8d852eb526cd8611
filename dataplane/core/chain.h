/* SPDX-License-Identifier: BSD-3-Clause */
/* Certificate and chain identities: XXH3-128 on the fast path, SHA-256 once per new certificate. */
#ifndef CW_CHAIN_H
#define CW_CHAIN_H

#include <stdint.h>

#include "tls.h"

#define CW_ID_LEN 16   /* XXH3-128, canonical (big-endian) byte order */
#define CW_SHA256_LEN 32

/* XXH3-128 of one DER certificate, canonical byte order. */
void cw_cert_id(const uint8_t *der, uint32_t len, uint8_t out[CW_ID_LEN]);

/* SHA-256 of one DER certificate (OpenSSL libcrypto). */
void cw_cert_sha256(const uint8_t *der, uint32_t len, uint8_t out[CW_SHA256_LEN]);

/*
 * Chain id = XXH3-128 over the leaf-first concatenation of the per-certificate
 * XXH3-128 values (canonical bytes). An empty chain has the all-zero id.
 * ids receives the per-certificate ids (cl->n entries) when not NULL.
 */
void cw_chain_id(const struct cw_cert_list *cl, uint8_t ids[][CW_ID_LEN], uint8_t out[CW_ID_LEN]);

#endif /* CW_CHAIN_H */
