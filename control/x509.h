/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-certificate analysis and path validation at capture time (OpenSSL libcrypto). */
#ifndef CP_X509_H
#define CP_X509_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "cp.h"

#define CP_SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void cp_hex(const uint8_t *p, size_t n, char *out);

/* SHA-256 of the DER SubjectPublicKeyInfo, as hex. 0 or -EINVAL. */
int cp_x509_spki_hex(X509 *x, char out[65]);

/* Fill *c from a parsed certificate. Never fails: fields OpenSSL cannot read stay empty. */
void cp_x509_describe(X509 *x, const uint8_t *der, size_t len, struct cp_cert *c);

/*
 * The description of a parsed certificate (cp_x509_describe() of its DER), made the first time
 * and kept on x (freed with it): valid while a reference to x is held. NULL when it cannot be
 * allocated.
 */
const struct cp_cert *cp_x509_desc(X509 *x, const uint8_t *der, size_t len);

/* Parse one DER certificate; NULL when it is not a certificate. */
X509 *cp_x509_parse(const uint8_t *der, size_t len);

/*
 * 1 when pk verifies x's signature, else 0 (OpenSSL's error queue cleared). The key that
 * verified it is kept on x (one reference, released with x), so a certificate held in the
 * engine's certificate cache and checked against the same issuer again is not verified again.
 */
int cp_x509_signed_by(X509 *x, EVP_PKEY *pk);

/*
 * Trust store: the system bundle, a configured PEM bundle instead of it
 * (extend == 0) or both (extend == 1). Returns 0 or -errno/-EINVAL.
 */
int cp_trust_load(X509_STORE **out, const char *pem, int extend, char *errbuf, size_t errlen);

/*
 * Intermediates learned from chains that validated: the certificates between
 * the leaf and the trust anchor of every path OpenSSL built from presented
 * certificates. A chain whose path stops at an issuer it does not carry (a
 * server that omits its intermediate, a chain cut at the sensor's reassembly
 * cap) is validated again with the learned certificates whose subjects its
 * certificates name as issuers. OpenSSL still checks every signature up to the trust store, so a
 * learned certificate only completes a path that a trusted CA signed.
 * Bound: max certificates in a ring; when it is full the oldest learned one
 * is replaced (cp_icache_replaced()). The k-th certificate learned (k from 0)
 * takes slot k % max, so how many are held and how many were replaced follow
 * from gen. Searches are linear, once per validation of a chain that failed
 * for a missing issuer.
 */
struct cp_icache {
	X509 **x;          /* [max], NULL: empty slot */
	unsigned long *subj; /* [max]: X509_NAME_hash() of each one's subject */
	unsigned int max;  /* 0: nothing is learned */
	uint64_t gen;      /* certificates learned so far: a change may complete more paths */
};

/* Certificates held now. */
static inline unsigned int
cp_icache_held(const struct cp_icache *c)
{
	return c->gen < c->max ? (unsigned int)c->gen : c->max;
}

/* Learned certificates that gave their slot to newer ones. */
static inline uint64_t
cp_icache_replaced(const struct cp_icache *c)
{
	return c->gen > c->max ? c->gen - c->max : 0;
}

/* An empty cache of at most max certificates (0: disabled). 0 or -ENOMEM. */
int cp_icache_init(struct cp_icache *c, unsigned int max);
void cp_icache_free(struct cp_icache *c);

/*
 * Has a certificate whose subject has X509_NAME_hash() name been learned
 * since the cache's gen was since? Looks only at those learned since.
 */
int cp_icache_learned_since(const struct cp_icache *c, uint64_t since, unsigned long name);

/*
 * Learn a certificate kept from an earlier valid path (the database): taken
 * when it is a CA certificate that is not self-signed. 1 taken, 0 not.
 */
int cp_icache_learn_der(struct cp_icache *c, const uint8_t *der, size_t len);

/* What cp_x509_validate() says beyond valid or not. */
struct cp_path_info {
	char issuer_spki[65];    /* SPKI SHA-256 of the key that signed the leaf in the chain
				  * OpenSSL built (from the certificates, the cache or the
				  * store), "" when none was found */
	unsigned int cached;     /* learned intermediates the valid path took (0: none needed) */
	int issuer_missing;      /* invalid because an issuer was not found: learning more
				  * intermediates may complete the path ... */
	unsigned long missing;   /* ... one whose subject has this X509_NAME_hash() (the issuer
				  * named by the top of the path built) */
};

/*
 * Validate leaf + untrusted intermediates against the store as of time t
 * (the capture time, never the wall clock); when the path stops at a missing
 * issuer and ic (may be NULL) holds the issuer, again with it. A valid path
 * teaches ic its presented intermediates. 1 valid, 0 invalid (err gets the
 * OpenSSL reason), -ENOMEM on allocation failure.
 */
int cp_x509_validate(X509_STORE *store, struct cp_icache *ic, X509 *const *certs, unsigned int n,
		     time_t t, char *err, size_t errlen, struct cp_path_info *info);

/* Index of the certificate in certs[] that issued certs[i] (signature checked), -1 if none. */
int cp_x509_find_issuer(X509 *const *certs, unsigned int n, unsigned int i);

#endif /* CP_X509_H */
