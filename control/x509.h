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

/* Parse one DER certificate; NULL when it is not a certificate. */
X509 *cp_x509_parse(const uint8_t *der, size_t len);

/*
 * Trust store: the system bundle, a configured PEM bundle instead of it
 * (extend == 0) or both (extend == 1). Returns 0 or -errno/-EINVAL.
 */
int cp_trust_load(X509_STORE **out, const char *pem, int extend, char *errbuf, size_t errlen);

/*
 * Validate leaf + untrusted intermediates against the store as of time t
 * (the capture time, never the wall clock). 1 valid, 0 invalid (err gets the
 * OpenSSL reason), -ENOMEM on allocation failure. issuer_spki receives the
 * SPKI hash of the key that signed the leaf in the chain OpenSSL built (from
 * the presented certificates or the store), "" when none was found.
 */
int cp_x509_validate(X509_STORE *store, X509 *const *certs, unsigned int n, time_t t, char *err,
		     size_t errlen, char issuer_spki[65]);

/* Index of the certificate in certs[] that issued certs[i] (signature checked), -1 if none. */
int cp_x509_find_issuer(X509 *const *certs, unsigned int n, unsigned int i);

#endif /* CP_X509_H */
