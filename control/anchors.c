/* SPDX-License-Identifier: BSD-3-Clause */
/* Known interception and distrusted anchors: shipped Chromium blocklist plus operator additions. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "anchors.h"
#include "x509.h"

#define TSV_FIELDS 12

/* Split a line in place on tabs; returns the number of fields. */
static int
tsv_split(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = p;
		p = strchr(p, '\t');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	return n;
}

static int
is_hex64(const char *s)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return s[64] == '\0' || s[64] == '\t' || isspace((unsigned char)s[64]);
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* RFC 5280 method 1 key id: SHA-1 over the subjectPublicKey BIT STRING contents. */
static void
key_id_method1(EVP_PKEY *key, char out[65])
{
	X509_PUBKEY *xpk = NULL;
	const unsigned char *pk;
	uint8_t md[SHA_DIGEST_LENGTH];
	int pklen;

	out[0] = '\0';
	if (X509_PUBKEY_set(&xpk, key) != 1)
		return;
	if (X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) == 1) {
		SHA1(pk, (size_t)pklen, md);
		cp_hex(md, sizeof(md), out);
	}
	X509_PUBKEY_free(xpk);
}

static int
key_spki_hex(EVP_PKEY *key, char out[65])
{
	unsigned char *der = NULL;
	uint8_t md[SHA256_DIGEST_LENGTH];
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0)
		return -EINVAL;
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	cp_hex(md, sizeof(md), out);
	return 0;
}

static int
find_linear(const struct cp_anchors *an, const char *spki)
{
	unsigned int i;

	for (i = 0; i < an->n; i++)
		if (strcmp(an->a[i].spki, spki) == 0)
			return (int)i;
	return -1;
}

/* Append an entry (takes ownership of cert/key); a duplicate SPKI keeps the first, richer entry. */
static int
add(struct cp_anchors *an, const char *spki, const char *category, const char *label, X509 *cert,
    EVP_PKEY *key)
{
	struct cp_anchor *e;
	int dup = find_linear(an, spki);

	if (dup >= 0) {
		e = &an->a[dup];
		if (e->cert == NULL && cert != NULL) {
			e->cert = cert;
			cert = NULL;
		}
		if (e->key == NULL && key != NULL) {
			e->key = key;
			key = NULL;
		}
		X509_free(cert);
		EVP_PKEY_free(key);
		return 0;
	}
	if (an->n == an->cap) {
		unsigned int cap = an->cap ? an->cap * 2 : 64;
		struct cp_anchor *na;

		if (an->n >= CP_ANCHORS_MAX) {
			X509_free(cert);
			EVP_PKEY_free(key);
			return -E2BIG;
		}
		if (cap > CP_ANCHORS_MAX)
			cap = CP_ANCHORS_MAX;
		na = realloc(an->a, cap * sizeof(*na));
		if (na == NULL) {
			X509_free(cert);
			EVP_PKEY_free(key);
			return -ENOMEM;
		}
		an->a = na;
		an->cap = cap;
	}
	e = &an->a[an->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->spki, sizeof(e->spki), "%s", spki);
	lower(e->spki);
	snprintf(e->category, sizeof(e->category), "%s", category);
	snprintf(e->label, sizeof(e->label), "%s", label);
	e->cert = cert;
	e->key = key;
	if (cert != NULL) {
		const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);

		if (e->key == NULL) {
			e->key = X509_get_pubkey(cert);
		}
		if (ski != NULL && ski->length > 0 && ski->length <= 32)
			cp_hex(ski->data, (size_t)ski->length, e->keyid);
	}
	if (e->keyid[0] == '\0' && e->key != NULL)
		key_id_method1(e->key, e->keyid);
	return 0;
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static EVP_PKEY *
read_pubkey(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* Only whitespace? */
static int
blank(const char *line)
{
	for (; *line != '\0'; line++)
		if (!isspace((unsigned char)*line))
			return 0;
	return 1;
}

/*
 * manifest.tsv columns: file kind section category cert_sha256 spki_sha256
 * subject not_after inc_list note. kind is cert (PEM), pubkey (.key PEM) or
 * spki_only. The file's SPKI must equal the manifest's: a mismatch means the
 * data directory is damaged and is refused.
 */
static int
load_manifest(struct cp_anchors *an, const char *dir, char *errbuf, size_t errlen)
{
	char path[4096], *line = NULL, *f[TSV_FIELDS];
	size_t cap = 0;
	FILE *fp;
	int ret = 0, lineno = 0;

	snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
	fp = fopen(path, "r");
	if (fp == NULL) {
		snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	while (ret == 0 && getline(&line, &cap, fp) > 0) {
		X509 *cert = NULL;
		EVP_PKEY *key = NULL;
		char spki[65];
		int nf;

		if (lineno++ == 0 || line[0] == '#' || blank(line))
			continue;
		nf = tsv_split(line, f, TSV_FIELDS);
		if (nf < 7 || !is_hex64(f[5])) {
			snprintf(errbuf, errlen,
				 "%s:%d: expected tab-separated file, kind, section, category, "
				 "cert SHA-256, SPKI SHA-256, subject",
				 path, lineno);
			ret = -EINVAL;
			break;
		}
		snprintf(spki, sizeof(spki), "%s", f[5]);
		lower(spki);
		if (strcmp(f[1], "cert") == 0 || strcmp(f[1], "pubkey") == 0) {
			char got[65] = "";

			snprintf(path, sizeof(path), "%s/%s", dir, f[0]);
			if (strcmp(f[1], "cert") == 0) {
				cert = read_cert(path);
				if (cert != NULL)
					cp_x509_spki_hex(cert, got);
			} else {
				key = read_pubkey(path);
				if (key != NULL)
					key_spki_hex(key, got);
			}
			if (strcmp(got, spki) != 0) {
				snprintf(errbuf, errlen, "%s: SPKI %s does not match manifest %s", path,
					 got[0] ? got : "(unreadable)", spki);
				X509_free(cert);
				EVP_PKEY_free(key);
				ret = -EINVAL;
				break;
			}
		}
		ret = add(an, spki, f[3], f[6][0] ? f[6] : f[2], cert, key);
	}
	free(line);
	fclose(fp);
	ERR_clear_error();
	return ret;
}

/* not_retrieved.tsv gives the category of blocked files whose certificates are absent. */
static void
retrieved_category(const char *dir, const char *file, char *cat, size_t catlen, char *sec,
		   size_t seclen)
{
	char path[4096], *line = NULL, *f[TSV_FIELDS];
	size_t cap = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/not_retrieved.tsv", dir);
	fp = fopen(path, "r");
	if (fp == NULL)
		return;
	while (getline(&line, &cap, fp) > 0) {
		if (tsv_split(line, f, TSV_FIELDS) >= 3 && strcmp(f[0], file) == 0) {
			snprintf(cat, catlen, "%s", f[2]);
			snprintf(sec, seclen, "%s", f[1]);
			break;
		}
	}
	free(line);
	fclose(fp);
}

/* inc_entries.tsv columns: list comment_files spki_sha256 (Chromium's two SPKI lists). */
static int
load_inc(struct cp_anchors *an, const char *dir)
{
	char path[4096], *line = NULL, *f[TSV_FIELDS];
	size_t cap = 0;
	FILE *fp;
	int ret = 0, lineno = 0;

	snprintf(path, sizeof(path), "%s/inc_entries.tsv", dir);
	fp = fopen(path, "r");
	if (fp == NULL)
		return 0; /* optional: the manifest alone is a usable list */
	while (ret == 0 && getline(&line, &cap, fp) > 0) {
		char cat[32], sec[200], label[CP_DN_MAX];

		if (lineno++ == 0 || tsv_split(line, f, TSV_FIELDS) < 3 || !is_hex64(f[2]))
			continue;
		lower(f[2]);
		if (find_linear(an, f[2]) >= 0)
			continue;
		snprintf(cat, sizeof(cat), "%s",
			 strcmp(f[0], "kKnownInterceptionList") == 0 ? "interception" : "blocklist");
		snprintf(sec, sizeof(sec), "Chromium %s", f[0]);
		retrieved_category(dir, f[1], cat, sizeof(cat), sec, sizeof(sec));
		snprintf(label, sizeof(label), "%s (%.200s)", sec, f[1]);
		ret = add(an, f[2], cat, label, NULL, NULL);
	}
	free(line);
	fclose(fp);
	return ret;
}

int
cp_anchors_load_dir(struct cp_anchors *an, const char *dir, char *errbuf, size_t errlen)
{
	int ret = load_manifest(an, dir, errbuf, errlen);

	if (ret == 0)
		ret = load_inc(an, dir);
	if (ret == -E2BIG)
		snprintf(errbuf, errlen, "more than %d anchors", CP_ANCHORS_MAX);
	return ret;
}

int
cp_anchors_load_extra(struct cp_anchors *an, const char *path, char *errbuf, size_t errlen)
{
	char *line = NULL, *f[TSV_FIELDS];
	size_t cap = 0;
	FILE *fp;
	X509 *x;
	int ret = 0, lineno = 0, in_pem = 0, added = 0;
	unsigned int before = an->n;

	fp = fopen(path, "r");
	if (fp == NULL) {
		snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	/*
	 * Hash lines first; PEM blocks in the same file are read in a second
	 * pass. Anything else (but blank lines and # comments) is an error, so
	 * a mistyped file never silently yields fewer anchors.
	 */
	while (ret == 0 && getline(&line, &cap, fp) > 0) {
		int nf;

		lineno++;
		if (strncmp(line, "-----BEGIN", 10) == 0)
			in_pem = 1;
		if (in_pem || line[0] == '#' || blank(line)) {
			if (strncmp(line, "-----END", 8) == 0)
				in_pem = 0;
			continue;
		}
		if (!is_hex64(line)) {
			snprintf(errbuf, errlen,
				 "%s:%d: expected an SPKI SHA-256 (64 hex digits, optional tab and "
				 "label) or a PEM certificate",
				 path, lineno);
			ret = -EINVAL;
			break;
		}
		nf = tsv_split(line, f, TSV_FIELDS);
		f[0][64] = '\0';
		ret = add(an, f[0], "operator", nf > 1 && f[1][0] ? f[1] : "operator anchor", NULL,
			  NULL);
	}
	free(line);
	rewind(fp);
	while (ret == 0 && (x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		char spki[65], label[CP_DN_MAX];

		cp_x509_spki_hex(x, spki);
		X509_NAME_oneline(X509_get_subject_name(x), label, sizeof(label));
		ret = add(an, spki, "operator", label, x, NULL);
		added++;
	}
	fclose(fp);
	ERR_clear_error();
	if (ret == 0 && added == 0 && an->n == before) {
		snprintf(errbuf, errlen, "%s: no anchors (SPKI hash lines or PEM certificates)", path);
		ret = -EINVAL;
	}
	if (ret == -E2BIG)
		snprintf(errbuf, errlen, "more than %d anchors", CP_ANCHORS_MAX);
	return ret;
}

static int
cmp_anchor(const void *a, const void *b)
{
	return strcmp(((const struct cp_anchor *)a)->spki, ((const struct cp_anchor *)b)->spki);
}

void
cp_anchors_finish(struct cp_anchors *an)
{
	if (an->n > 1)
		qsort(an->a, an->n, sizeof(an->a[0]), cmp_anchor);
}

int
cp_anchors_find(const struct cp_anchors *an, const char *spki)
{
	unsigned int lo = 0, hi = an->n;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		int c = strcmp(an->a[mid].spki, spki);

		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int
cp_anchors_match(const struct cp_anchors *an, X509 *const *certs, const struct cp_cert *const *cc,
		 unsigned int n, int *pos)
{
	unsigned int i, steps;
	int top = 0, next, idx;

	*pos = -1;
	for (i = 0; i < n; i++) {
		idx = cp_anchors_find(an, cc[i]->spki_sha256);
		if (idx >= 0) {
			*pos = (int)i;
			return idx;
		}
	}
	if (n == 0)
		return -1;
	/* Walk leaf -> issuer inside the chain; the last reachable certificate is the top. */
	for (steps = 0; steps < n; steps++) {
		next = cp_x509_find_issuer(certs, n, (unsigned int)top);
		if (next < 0 || next == top)
			break;
		top = next;
	}
	if (X509_check_issued(certs[top], certs[top]) == X509_V_OK) {
		ERR_clear_error();
		return -1; /* self-issued: its own SPKI was already compared */
	}
	for (i = 0; i < an->n; i++) {
		const struct cp_anchor *e = &an->a[i];

		if (e->key == NULL)
			continue;
		/*
		 * Cheap gate before a signature check, for anchors with a certificate:
		 * key id when the top has an AKI, else the name. A key-only anchor
		 * (pubkey entry) has no name, and its key id is computed from the bare
		 * key (RFC 5280 method 1), which an issuer may not use for its AKI:
		 * those few are always checked by signature.
		 */
		if (e->cert == NULL)
			;
		else if (cc[top]->aki[0] != '\0') {
			if (strcmp(e->keyid, cc[top]->aki) != 0)
				continue;
		} else if (X509_NAME_cmp(X509_get_subject_name(e->cert),
					 X509_get_issuer_name(certs[top])) != 0) {
			continue;
		}
		if (cp_x509_signed_by(certs[top], e->key)) {
			ERR_clear_error();
			return (int)i;
		}
	}
	ERR_clear_error();
	return -1;
}

void
cp_anchors_free(struct cp_anchors *an)
{
	unsigned int i;

	for (i = 0; i < an->n; i++) {
		X509_free(an->a[i].cert);
		EVP_PKEY_free(an->a[i].key);
	}
	free(an->a);
	memset(an, 0, sizeof(*an));
}
