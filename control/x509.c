/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-certificate analysis and path validation at capture time (OpenSSL libcrypto). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "x509.h"

void
cp_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
cp_x509_spki_hex(X509 *x, char out[65])
{
	unsigned char *der = NULL;
	uint8_t md[SHA256_DIGEST_LENGTH];
	int len;

	out[0] = '\0';
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	if (len <= 0)
		return -EINVAL;
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	cp_hex(md, sizeof(md), out);
	return 0;
}

X509 *
cp_x509_parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (len == 0 || len > LONG_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	/* Trailing bytes mean the blob framing is wrong; do not guess. */
	if (x != NULL && p != der + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The ex_data slot of an X509 holding its description; -1 until made. */
static int desc_idx = -1;

static void
desc_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

const struct cp_cert *
cp_x509_desc(X509 *x, const uint8_t *der, size_t len)
{
	struct cp_cert *c;

	if (desc_idx < 0)
		desc_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, desc_free);
	if (desc_idx < 0)
		return NULL;
	c = X509_get_ex_data(x, desc_idx);
	if (c != NULL)
		return c;
	c = malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	cp_x509_describe(x, der, len, c);
	if (X509_set_ex_data(x, desc_idx, c) != 1) {
		free(c);
		return NULL;
	}
	return c;
}

/* The ex_data slot of an X509 holding the key that verified its signature; -1 until made. */
static int signer_idx = -1;

static void
signer_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	EVP_PKEY_free(ptr);
}

int
cp_x509_signed_by(X509 *x, EVP_PKEY *pk)
{
	EVP_PKEY *memo = NULL;

	if (signer_idx < 0)
		signer_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, signer_free);
	if (signer_idx >= 0)
		memo = X509_get_ex_data(x, signer_idx);
	if (memo != NULL && (memo == pk || EVP_PKEY_eq(memo, pk) == 1))
		return 1;
	if (X509_verify(x, pk) != 1) {
		ERR_clear_error();
		return 0;
	}
	/* Not kept (nothing lost but the shortcut) when the reference or the slot fails. */
	if (signer_idx >= 0 && EVP_PKEY_up_ref(pk) == 1) {
		if (X509_set_ex_data(x, signer_idx, pk) == 1)
			EVP_PKEY_free(memo);
		else
			EVP_PKEY_free(pk);
	}
	return 1;
}

/* One-line RFC 2253 name, UTF-8 kept readable rather than escaped. */
static void
name_line(const X509_NAME *n, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	int len;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		len = BIO_read(b, out, (int)outlen - 1);
		out[len > 0 ? len : 0] = '\0';
	}
	BIO_free(b);
}

static int64_t
asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/*
 * Append one name to a comma-separated list. A name that does not fit is
 * dropped whole and -ENOSPC returned, so the caller can record that the list
 * is incomplete.
 */
static int
list_add(char *list, size_t cap, const char *item)
{
	size_t used = strlen(list), need = strlen(item) + (used ? 1 : 0);

	if (used + need + 1 > cap)
		return -ENOSPC;
	if (used)
		list[used++] = ',';
	memcpy(list + used, item, strlen(item) + 1);
	return 0;
}

/*
 * The DNS and IP SANs into c->san. c->san_truncated tells whether a name had
 * to be left out for room: only then can a name the list does not hold still
 * be covered by the certificate.
 */
static void
san_list(X509 *x, struct cp_cert *c)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char buf[CP_NAME_MAX], *out = c->san;
	size_t cap = sizeof(c->san);
	int i;

	out[0] = '\0';
	c->san_truncated = 0;
	if (gens == NULL)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *s = g->d.dNSName;
			int n = s->length < (int)sizeof(buf) - 1 ? s->length : (int)sizeof(buf) - 1;

			memcpy(buf, s->data, (size_t)n);
			buf[n] = '\0';
			/* A comma inside a name would corrupt the list; such a SAN is bogus anyway. */
			if (memchr(buf, ',', (size_t)n) != NULL || strlen(buf) != (size_t)n)
				continue;
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *s = g->d.iPAddress;

			if (s->length == 4)
				inet_ntop(AF_INET, s->data, buf, sizeof(buf));
			else if (s->length == 16)
				inet_ntop(AF_INET6, s->data, buf, sizeof(buf));
			else
				continue;
		} else {
			continue;
		}
		if (list_add(out, cap, buf) < 0)
			c->san_truncated = 1;
	}
	GENERAL_NAMES_free(gens);
}

static void
key_info(X509 *x, struct cp_cert *c)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	const char *type;
	BIGNUM *e = NULL;
	int id;

	if (pk == NULL) {
		snprintf(c->key_type, sizeof(c->key_type), "unknown");
		return;
	}
	id = EVP_PKEY_get_base_id(pk);
	switch (id) {
	case EVP_PKEY_RSA:
		type = "RSA";
		break;
	case EVP_PKEY_RSA_PSS:
		type = "RSA-PSS";
		break;
	case EVP_PKEY_EC:
		type = "EC";
		break;
	case EVP_PKEY_ED25519:
		type = "Ed25519";
		break;
	case EVP_PKEY_ED448:
		type = "Ed448";
		break;
	case EVP_PKEY_DSA:
		type = "DSA";
		break;
	default:
		type = OBJ_nid2sn(id);
		if (type == NULL)
			type = "unknown";
	}
	snprintf(c->key_type, sizeof(c->key_type), "%s", type);
	c->key_bits = EVP_PKEY_get_bits(pk);
	if ((id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) &&
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
		if (BN_num_bits(e) <= 64) {
			unsigned char be[8] = {0};
			uint64_t v = 0;
			int i;

			BN_bn2binpad(e, be, sizeof(be));
			for (i = 0; i < 8; i++)
				v = v << 8 | be[i];
			c->rsa_e = v;
		}
		BN_free(e);
	}
}

static const struct {
	int nid;
	uint32_t bit;
} ext_bits[] = {
	{NID_ct_precert_scts, CP_EXT_SCT},
	{NID_info_access, CP_EXT_AIA},
	{NID_crl_distribution_points, CP_EXT_CRLDP},
	{NID_ext_key_usage, CP_EXT_EKU},
	{NID_subject_key_identifier, CP_EXT_SKI},
	{NID_authority_key_identifier, CP_EXT_AKI},
	{NID_basic_constraints, CP_EXT_BC},
	{NID_subject_alt_name, CP_EXT_SAN},
};

void
cp_x509_describe(X509 *x, const uint8_t *der, size_t len, struct cp_cert *c)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	const ASN1_OCTET_STRING *kid;
	BIGNUM *bn;
	size_t i;

	memset(c, 0, sizeof(*c));
	SHA256(der, len, md);
	cp_hex(md, sizeof(md), c->sha256);
	cp_x509_spki_hex(x, c->spki_sha256);
	name_line(X509_get_subject_name(x), c->subject, sizeof(c->subject));
	name_line(X509_get_issuer_name(x), c->issuer, sizeof(c->issuer));

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (bn != NULL) {
		char *h = BN_bn2hex(bn);

		if (h != NULL) {
			size_t j;

			for (j = 0; h[j] != '\0' && j < sizeof(c->serial) - 1; j++)
				c->serial[j] = (char)(h[j] >= 'A' && h[j] <= 'F' ? h[j] + 32 : h[j]);
			c->serial[j] = '\0';
			OPENSSL_free(h);
		}
		BN_free(bn);
	}
	c->not_before = asn1_time_unix(X509_get0_notBefore(x));
	c->not_after = asn1_time_unix(X509_get0_notAfter(x));
	key_info(x, c);
	snprintf(c->sig_alg, sizeof(c->sig_alg), "%s",
		 OBJ_nid2ln(X509_get_signature_nid(x)) ? OBJ_nid2ln(X509_get_signature_nid(x))
						       : "unknown");
	for (i = 0; i < sizeof(ext_bits) / sizeof(ext_bits[0]); i++)
		if (X509_get_ext_by_NID(x, ext_bits[i].nid, -1) >= 0)
			c->ext |= ext_bits[i].bit;
	kid = X509_get0_subject_key_id(x);
	if (kid != NULL && kid->length > 0 && kid->length <= 32)
		cp_hex(kid->data, (size_t)kid->length, c->ski);
	kid = X509_get0_authority_key_id(x);
	if (kid != NULL && kid->length > 0 && kid->length <= 32)
		cp_hex(kid->data, (size_t)kid->length, c->aki);
	san_list(x, c);
	ERR_clear_error();
}

int
cp_trust_load(X509_STORE **out, const char *pem, int extend, char *errbuf, size_t errlen)
{
	X509_STORE *st;
	int ret;

	st = X509_STORE_new();
	if (st == NULL)
		return -ENOMEM;
	if (pem == NULL || extend) {
		if (X509_STORE_load_file(st, CP_SYSTEM_BUNDLE) != 1) {
			snprintf(errbuf, errlen, "cannot load trust store %s", CP_SYSTEM_BUNDLE);
			ret = -ENOENT;
			goto err_free_store;
		}
	}
	if (pem != NULL && X509_STORE_load_file(st, pem) != 1) {
		snprintf(errbuf, errlen, "cannot load trust store %s", pem);
		ret = -ENOENT;
		goto err_free_store;
	}
	ERR_clear_error();
	*out = st;
	return 0;

err_free_store:
	ERR_clear_error();
	X509_STORE_free(st);
	return ret;
}

int
cp_icache_init(struct cp_icache *c, unsigned int max)
{
	memset(c, 0, sizeof(*c));
	if (max == 0)
		return 0;
	c->x = calloc(max, sizeof(*c->x));
	c->subj = calloc(max, sizeof(*c->subj));
	if (c->x == NULL || c->subj == NULL) {
		free(c->x);
		free(c->subj);
		c->x = NULL;
		c->subj = NULL;
		return -ENOMEM;
	}
	c->max = max;
	return 0;
}

void
cp_icache_free(struct cp_icache *c)
{
	unsigned int i;

	for (i = 0; i < c->max; i++)
		X509_free(c->x[i]);
	free(c->x);
	free(c->subj);
	memset(c, 0, sizeof(*c));
}

static int
icache_holds(const struct cp_icache *c, X509 *x, int same_object)
{
	unsigned int i;

	for (i = 0; i < c->max; i++)
		if (c->x[i] != NULL && (same_object ? c->x[i] == x : X509_cmp(c->x[i], x) == 0))
			return 1;
	return 0;
}

/*
 * Keep x (a reference of its own) in the oldest slot, unless an equal certificate is already
 * kept. Best effort: a certificate whose reference cannot be taken is not kept.
 */
static void
icache_learn(struct cp_icache *c, X509 *x)
{
	unsigned int slot;

	if (c->max == 0 || icache_holds(c, x, 0) || !X509_up_ref(x))
		return;
	slot = (unsigned int)(c->gen % c->max);
	X509_free(c->x[slot]);
	c->x[slot] = x;
	c->subj[slot] = X509_NAME_hash(X509_get_subject_name(x));
	c->gen++;
}

int
cp_icache_learned_since(const struct cp_icache *c, uint64_t since, unsigned long name)
{
	uint64_t k = c->gen - since > c->max ? c->gen - c->max : since;

	for (; k < c->gen; k++)
		if (c->subj[k % c->max] == name)
			return 1;
	return 0;
}

int
cp_icache_learn_der(struct cp_icache *c, const uint8_t *der, size_t len)
{
	X509 *x = cp_x509_parse(der, len);
	uint64_t gen = c->gen;

	if (x != NULL && X509_check_ca(x) > 0 && X509_check_issued(x, x) != X509_V_OK)
		icache_learn(c, x);
	X509_free(x);
	ERR_clear_error();
	return c->gen != gen;
}

/* Does the leaf or a certificate of s name x's subject as its issuer? */
static int
named_issuer(X509 *leaf, STACK_OF(X509) *s, X509 *x)
{
	const X509_NAME *subj = X509_get_subject_name(x);
	int i;

	if (X509_NAME_cmp(X509_get_issuer_name(leaf), subj) == 0)
		return 1;
	for (i = 0; i < sk_X509_num(s); i++)
		if (X509_NAME_cmp(X509_get_issuer_name(sk_X509_value(s, i)), subj) == 0)
			return 1;
	return 0;
}

/*
 * Push onto s the learned certificates that the leaf or a certificate of s
 * names as issuer, then the ones those name, and so on: at most
 * CP_MAX_CERTS passes and 2 * CP_MAX_CERTS certificates (cross-signed CAs
 * share a subject). Returns how many were added, or -ENOMEM.
 */
static int
icache_issuers(const struct cp_icache *c, X509 *leaf, STACK_OF(X509) *s)
{
	int added = 0, pass, more = 1;
	unsigned int i;

	for (pass = 0; more && pass < CP_MAX_CERTS; pass++) {
		more = 0;
		for (i = 0; i < c->max && added < 2 * CP_MAX_CERTS; i++) {
			X509 *x = c->x[i];
			int j, in = 0;

			if (x == NULL)
				continue;
			for (j = 0; j < sk_X509_num(s) && !in; j++)
				in = X509_cmp(sk_X509_value(s, j), x) == 0;
			if (in || X509_cmp(leaf, x) == 0 || !named_issuer(leaf, s, x))
				continue;
			if (!sk_X509_push(s, x))
				return -ENOMEM;
			added++;
			more = 1;
		}
	}
	return added;
}

/* One path build and verification of leaf with untrusted, as of t. 1 valid, 0 not, -ENOMEM. */
static int
verify_path(X509_STORE_CTX *ctx, X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted,
	    time_t t)
{
	X509_STORE_CTX_cleanup(ctx);
	if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		return -ENOMEM;
	/* The verdict is about what the client saw then, so validity is judged at capture time. */
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), t);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
	return X509_verify_cert(ctx) == 1;
}

static int
issuer_missing(int code)
{
	return code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	       code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
}

int
cp_x509_validate(X509_STORE *store, struct cp_icache *ic, X509 *const *certs, unsigned int n,
		 time_t t, char *err, size_t errlen, struct cp_path_info *info)
{
	STACK_OF(X509) *untrusted = NULL, *built;
	X509_STORE_CTX *ctx = NULL, *retry = NULL;
	unsigned int i;
	int ret = -ENOMEM, code;

	err[0] = '\0';
	memset(info, 0, sizeof(*info));
	if (n == 0) {
		snprintf(err, errlen, "empty chain");
		return 0;
	}
	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (untrusted == NULL || ctx == NULL)
		goto out;
	for (i = 1; i < n; i++)
		if (!sk_X509_push(untrusted, certs[i]))
			goto out;
	ret = verify_path(ctx, store, certs[0], untrusted, t);
	if (ret < 0)
		goto out;
	code = X509_STORE_CTX_get_error(ctx);
	if (ret == 0 && issuer_missing(code) && ic != NULL && ic->gen > 0) {
		int added = icache_issuers(ic, certs[0], untrusted);

		if (added < 0 || (added > 0 && (retry = X509_STORE_CTX_new()) == NULL)) {
			ret = -ENOMEM;
			goto out;
		}
		if (added > 0) {
			/* The path it builds goes further: its result and its reason stand. */
			ret = verify_path(retry, store, certs[0], untrusted, t);
			if (ret < 0)
				goto out;
			X509_STORE_CTX_free(ctx);
			ctx = retry;
			retry = NULL;
			code = X509_STORE_CTX_get_error(ctx);
		}
	}
	built = X509_STORE_CTX_get0_chain(ctx);
	if (ret == 0) {
		snprintf(err, errlen, "%s", X509_verify_cert_error_string(code));
		info->issuer_missing = issuer_missing(code);
		if (info->issuer_missing) {
			X509 *top = built != NULL && sk_X509_num(built) > 0
					    ? sk_X509_value(built, sk_X509_num(built) - 1)
					    : certs[0];

			info->missing = X509_NAME_hash(X509_get_issuer_name(top));
		}
	}
	/*
	 * Even a failed build keeps the part it could link; take the signer if verified (a valid
	 * path verified every signature on it already).
	 */
	if (built != NULL && sk_X509_num(built) > 1) {
		X509 *iss = sk_X509_value(built, 1);
		EVP_PKEY *pk = X509_get0_pubkey(iss);

		if (pk != NULL && (ret == 1 || cp_x509_signed_by(certs[0], pk)))
			cp_x509_spki_hex(iss, info->issuer_spki);
	}
	/* A valid path: its intermediates (not the leaf, not the anchor) are learned or counted. */
	for (i = 1; ret == 1 && ic != NULL && built != NULL && (int)i + 1 < sk_X509_num(built);
	     i++) {
		X509 *x = sk_X509_value(built, (int)i);
		unsigned int j;
		int presented = 0;

		for (j = 1; j < n && !presented; j++)
			presented = certs[j] == x;
		if (presented)
			icache_learn(ic, x);
		else if (icache_holds(ic, x, 1))
			info->cached++;
	}
out:
	X509_STORE_CTX_free(retry);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	ERR_clear_error();
	return ret;
}

int
cp_x509_find_issuer(X509 *const *certs, unsigned int n, unsigned int i)
{
	unsigned int j;

	for (j = 0; j < n; j++) {
		EVP_PKEY *pk;

		if (j == i || X509_check_issued(certs[j], certs[i]) != X509_V_OK)
			continue;
		pk = X509_get0_pubkey(certs[j]);
		if (pk != NULL && cp_x509_signed_by(certs[i], pk)) {
			ERR_clear_error();
			return (int)j;
		}
	}
	ERR_clear_error();
	return -1;
}
