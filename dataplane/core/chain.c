/* SPDX-License-Identifier: BSD-3-Clause */
/* Certificate and chain identities: XXH3-128 per certificate and per chain, SHA-256 on demand. */
#include <string.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "chain.h"

void
cw_cert_id(const uint8_t *der, uint32_t len, uint8_t out[CW_ID_LEN])
{
	XXH128_canonical_t canon;

	XXH128_canonicalFromHash(&canon, XXH3_128bits(der, len));
	memcpy(out, canon.digest, CW_ID_LEN);
}

/*
 * One-shot EVP_Digest: this runs once per certificate not seen before (slow
 * path), so its internal context allocation is acceptable. On a libcrypto
 * failure the output is all zero, which no real certificate hashes to.
 */
void
cw_cert_sha256(const uint8_t *der, uint32_t len, uint8_t out[CW_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(der, len, out, &n, EVP_sha256(), NULL) != 1 || n != CW_SHA256_LEN)
		memset(out, 0, CW_SHA256_LEN);
}

/*
 * Hashing the per-certificate ids (not the DER) keeps the chain id cheap to
 * recompute from cached ids and independent of how DER bytes were split
 * across records. Only the cl->n stored certificates take part.
 */
void
cw_chain_id(const struct cw_cert_list *cl, uint8_t ids[][CW_ID_LEN], uint8_t out[CW_ID_LEN])
{
	uint8_t cat[CW_TLS_MAX_CERTS][CW_ID_LEN];
	XXH128_canonical_t canon;
	uint32_t i, n = cl->n < CW_TLS_MAX_CERTS ? cl->n : CW_TLS_MAX_CERTS;

	if (n == 0) {
		memset(out, 0, CW_ID_LEN);
		return;
	}
	for (i = 0; i < n; i++) {
		cw_cert_id(cl->c[i].p, cl->c[i].len, cat[i]);
		if (ids != NULL)
			memcpy(ids[i], cat[i], CW_ID_LEN);
	}
	XXH128_canonicalFromHash(&canon, XXH3_128bits(cat, (size_t)n * CW_ID_LEN));
	memcpy(out, canon.digest, CW_ID_LEN);
}
