/* SPDX-License-Identifier: BSD-3-Clause */
/* Known interception and distrusted anchors: shipped Chromium blocklist plus operator additions. */
#ifndef CP_ANCHORS_H
#define CP_ANCHORS_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cp.h"

/* Bound on loaded anchors; loading more fails with -E2BIG rather than growing without limit. */
#define CP_ANCHORS_MAX 8192

struct cp_anchor {
	char spki[65];        /* SHA-256 of the SubjectPublicKeyInfo, hex: the identity that matters */
	char keyid[65];       /* SKI of the anchor certificate (or RFC 5280 method 1), "" if no key */
	char category[32];    /* interception, key_leak, compromised_ca, misissued, blocklist, operator */
	char label[CP_DN_MAX];
	X509 *cert;           /* NULL for key-only and hash-only entries */
	EVP_PKEY *key;        /* the public key when known (from cert or .key), else NULL */
};

/* Written once at engine open, read-only afterwards; entries sorted by spki after cp_anchors_finish. */
struct cp_anchors {
	struct cp_anchor *a;
	unsigned int n, cap;
};

/* Load manifest.tsv, its PEM/.key files and inc_entries.tsv from dir. 0 or -errno. */
int cp_anchors_load_dir(struct cp_anchors *an, const char *dir, char *errbuf, size_t errlen);

/* Operator file: PEM certificates and/or "spki_sha256<TAB>label" lines, category "operator". */
int cp_anchors_load_extra(struct cp_anchors *an, const char *path, char *errbuf, size_t errlen);

/* Sort for lookup; call once after loading. */
void cp_anchors_finish(struct cp_anchors *an);

/* Index of the entry with this SPKI hash, -1 if none. */
int cp_anchors_find(const struct cp_anchors *an, const char *spki);

/*
 * Match a parsed chain: any certificate by SPKI, else the anchor that issued
 * the top certificate (key identifier or name gate, then signature check), for
 * chains that omit their root. Returns the entry index and sets *pos to the
 * matching certificate (or -1 when matched as issuer of the top), -1 if none.
 */
int cp_anchors_match(const struct cp_anchors *an, X509 *const *certs,
		     const struct cp_cert *const *cc, unsigned int n, int *pos);

void cp_anchors_free(struct cp_anchors *an);

#endif /* CP_ANCHORS_H */
