/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for certificate analysis, capture-time path validation and anchor matching. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "anchors.h"
#include "cp_testlib.h"
#include "x509.h"

static void
read_line(const char *file, char *out, size_t len)
{
	FILE *fp = fopen(t_path(file), "r");

	out[0] = '\0';
	if (fp == NULL)
		return;
	if (fgets(out, (int)len, fp) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	fclose(fp);
}

static void
describe(const char *name, struct cp_cert *c)
{
	unsigned char *der = NULL;
	X509 *x = t_load(name);
	int len;

	memset(c, 0, sizeof(*c));
	if (x == NULL)
		return;
	len = i2d_X509(x, &der);
	cp_x509_describe(x, der, (size_t)len, c);
	OPENSSL_free(der);
	X509_free(x);
}

static void
test_describe(void)
{
	struct cp_cert c;
	char want[160];

	describe("leaf1", &c);
	read_line("leaf1.spki", want, sizeof(want));
	CHECK(strcmp(c.spki_sha256, want) == 0, "spki %s vs openssl %s", c.spki_sha256, want);
	read_line("leaf1.sha256", want, sizeof(want));
	CHECK(strcmp(c.sha256, want) == 0, "sha256 %s vs %s", c.sha256, want);
	read_line("leaf1.serial", want, sizeof(want));
	CHECK(strcmp(c.serial, want) == 0, "serial %s vs %s", c.serial, want);
	CHECK(strcmp(c.subject, "CN=example.com,O=Example Inc,C=US") == 0, "subject %s", c.subject);
	CHECK(strstr(c.issuer, "CN=Test Public Issuing CA") != NULL, "issuer %s", c.issuer);
	CHECK(strcmp(c.san, "example.com,www.example.com") == 0, "san %s", c.san);
	CHECK(c.san_truncated == 0, "a short SAN list is whole");
	CHECK(c.not_before == (int64_t)1559347200, "not_before %lld", (long long)c.not_before);
	CHECK(c.not_after == (int64_t)1590969600, "not_after %lld", (long long)c.not_after);
	CHECK(strcmp(c.key_type, "RSA") == 0 && c.key_bits == 2048 && c.rsa_e == 65537,
	      "key %s %d e=%llu", c.key_type, c.key_bits, (unsigned long long)c.rsa_e);
	CHECK(c.ext == (CP_EXT_SCT | CP_EXT_AIA | CP_EXT_CRLDP | CP_EXT_EKU | CP_EXT_SKI |
			CP_EXT_AKI | CP_EXT_BC | CP_EXT_SAN),
	      "ext 0x%x", c.ext);
	CHECK(strcmp(c.sig_alg, "sha256WithRSAEncryption") == 0, "sig %s", c.sig_alg);
	CHECK(strlen(c.ski) == 40 && strlen(c.aki) == 40, "ski %s aki %s", c.ski, c.aki);

	describe("forged", &c);
	read_line("forged.spki", want, sizeof(want));
	CHECK(strcmp(c.spki_sha256, want) == 0, "forged spki");
	CHECK(c.rsa_e == 3 && c.key_bits == 2048, "forged e=%llu bits %d",
	      (unsigned long long)c.rsa_e, c.key_bits);
	CHECK(c.ext == CP_EXT_SAN, "forged keeps only SAN: 0x%x", c.ext);
	CHECK(c.ski[0] == '\0' && c.aki[0] == '\0', "forged has no key ids");
	CHECK(c.not_before == (int64_t)1559347200 - 6 * 3600, "forged shifted 6h: %lld",
	      (long long)c.not_before);

	describe("ecleaf", &c);
	CHECK(strcmp(c.key_type, "EC") == 0 && c.key_bits == 256 && c.rsa_e == 0, "ec %s %d",
	      c.key_type, c.key_bits);
	CHECK(strcmp(c.sig_alg, "sha256WithRSAEncryption") == 0, "ec leaf signed by RSA CA: %s",
	      c.sig_alg);
	CHECK(cp_x509_parse((const uint8_t *)"\x30\x03\x02\x01\x00", 5) == NULL, "garbage parses");

	/* 40 names, 950 bytes: long, yet whole. */
	describe("cdn40", &c);
	CHECK(strlen(c.san) == 950 && c.san_truncated == 0 &&
		      strcmp(c.san + strlen(c.san) - 24, ",edge-40.cdn-example.net") == 0,
	      "40 SANs kept whole: %zu bytes, truncated %d", strlen(c.san), c.san_truncated);
	/* 60 names do not fit: the list ends at a name boundary and says it is cut. */
	describe("cdn60", &c);
	CHECK(c.san_truncated == 1 && strstr(c.san, "edge-60.") == NULL &&
		      strlen(c.san) < sizeof(c.san) && c.san[strlen(c.san) - 1] == 't',
	      "60 SANs cut: %zu bytes, truncated %d", strlen(c.san), c.san_truncated);
}

static void
test_validate(void)
{
	X509_STORE *st = NULL;
	X509 *chain[2];
	char err[128], errbuf[128], want[65];
	struct cp_path_info pi;
	struct cp_cert ic;
	int r;

	CHECK(cp_trust_load(&st, t_path("trust.pem"), 0, errbuf, sizeof(errbuf)) == 0, "%s",
	      errbuf);
	if (st == NULL)
		return;
	chain[0] = t_load("ecleaf");
	chain[1] = t_load("int");
	/* Expired today, valid on its capture day: capture time decides. */
	r = cp_x509_validate(st, NULL, chain, 2, t_time(2019, 7, 18), err, sizeof(err), &pi);
	CHECK(r == 1 && pi.cached == 0 && pi.issuer_missing == 0, "valid at capture time: %s", err);
	describe("int", &ic);
	CHECK(strcmp(pi.issuer_spki, ic.spki_sha256) == 0, "issuer key %s", pi.issuer_spki);
	r = cp_x509_validate(st, NULL, chain, 2, time(NULL), err, sizeof(err), &pi);
	CHECK(r == 0 && strstr(err, "expired") != NULL && pi.issuer_missing == 0,
	      "expired now: %d %s", r, err);
	/* Without the intermediate the path cannot be built. */
	r = cp_x509_validate(st, NULL, chain, 1, t_time(2019, 7, 18), err, sizeof(err), &pi);
	CHECK(r == 0 && pi.issuer_missing == 1, "leaf alone validates: %d %s", r, err);
	X509_free(chain[0]);
	X509_free(chain[1]);

	chain[0] = t_load("forged");
	chain[1] = t_load("kzint");
	r = cp_x509_validate(st, NULL, chain, 2, t_time(2019, 7, 18), err, sizeof(err), &pi);
	CHECK(r == 0 && err[0] != '\0', "forged chain validates");
	describe("kzint", &ic);
	CHECK(strcmp(pi.issuer_spki, ic.spki_sha256) == 0,
	      "forged issuer key from partial chain: '%s'", pi.issuer_spki);
	read_line("kzroot.spki", want, sizeof(want));
	CHECK(strcmp(pi.issuer_spki, want) != 0, "issuer is the intermediate, not the root");
	X509_free(chain[0]);
	X509_free(chain[1]);
	X509_STORE_free(st);

	/* Extend mode loads the system bundle as well as the extra PEM. */
	st = NULL;
	r = cp_trust_load(&st, t_path("trust.pem"), 1, errbuf, sizeof(errbuf));
	CHECK(r == 0 && st != NULL, "extend mode: %s", errbuf);
	X509_STORE_free(st);
	st = NULL;
	r = cp_trust_load(&st, t_path("missing.pem"), 0, errbuf, sizeof(errbuf));
	CHECK(r == -ENOENT && st == NULL, "missing trust store accepted");
}

static void
test_shipped_anchors(void)
{
	const char *qaznet = "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50";
	struct cp_anchors an = {0};
	char err[256] = "", spki[65];
	FILE *fp;
	X509 *x;
	int i;

	CHECK(cp_anchors_load_dir(&an, "data/anchors", err, sizeof(err)) == 0, "load: %s", err);
	cp_anchors_finish(&an);
	/* 101 distinct SPKIs across manifest.tsv and inc_entries.tsv (which repeats some). */
	CHECK(an.n == 101, "%u anchors", an.n);
	i = cp_anchors_find(&an, qaznet);
	CHECK(i >= 0, "Qaznet anchor missing");
	if (i < 0)
		goto out;
	CHECK(strcmp(an.a[i].category, "interception") == 0, "category %s", an.a[i].category);
	CHECK(an.a[i].cert != NULL, "Qaznet certificate not loaded");
	fp = fopen("data/anchors/00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2.pem",
		   "r");
	CHECK(fp != NULL, "Qaznet PEM missing");
	if (fp == NULL)
		goto out;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	CHECK(x != NULL && cp_x509_spki_hex(x, spki) == 0 && strcmp(spki, qaznet) == 0,
	      "PEM SPKI %s", spki);
	CHECK(x != NULL && X509_cmp(x, an.a[i].cert) == 0, "loaded cert differs from PEM");
	X509_free(x);
	/* A key-only entry (Chromium .key file) and a hash-only entry are both there. */
	i = cp_anchors_find(&an, "1af56c98ff043ef92bebff54cebb4dd67a25ba956c817f3e6dd3c1e52eb584c1");
	CHECK(i >= 0 && an.a[i].key != NULL && an.a[i].cert == NULL, "pubkey anchor");
	i = cp_anchors_find(&an, "04dde9aa9a79f61498682325fa0870276707fb9ca95384120b46893268494fc9");
	CHECK(i >= 0 && an.a[i].key == NULL, "hash-only anchor");
	CHECK(cp_anchors_find(&an, "0000000000000000000000000000000000000000000000000000000000000000") < 0,
	      "zero hash found");
out:
	cp_anchors_free(&an);
}

static void
test_operator_anchors(void)
{
	struct cp_anchors an = {0};
	struct cp_cert cc[2];
	const struct cp_cert *ccp[2] = {&cc[0], &cc[1]};
	X509 *chain[2];
	char err[256] = "", want[65];
	int pos, i;

	/* PEM form: the root itself; the chain below omits it. */
	CHECK(cp_anchors_load_extra(&an, t_path("kzroot.pem"), err, sizeof(err)) == 0, "%s", err);
	cp_anchors_finish(&an);
	CHECK(an.n == 1 && strcmp(an.a[0].category, "operator") == 0, "n=%u", an.n);
	chain[0] = t_load("forged");
	chain[1] = t_load("kzint");
	describe("forged", &cc[0]);
	describe("kzint", &cc[1]);
	i = cp_anchors_match(&an, chain, ccp, 2, &pos);
	CHECK(i == 0 && pos == -1, "issuer-of-top match: %d pos %d", i, pos);
	CHECK(cc[1].aki[0] != '\0' && strcmp(cc[1].aki, an.a[0].keyid) == 0, "AKI==SKI gate");
	/* Same key id but not signed by it: the signature check refuses a lookalike. */
	X509_free(chain[1]);
	chain[1] = t_load("int");
	describe("int", &cc[1]);
	snprintf(cc[1].aki, sizeof(cc[1].aki), "%s", an.a[0].keyid);
	i = cp_anchors_match(&an, chain, ccp, 2, &pos);
	CHECK(i == -1, "forged key id matched without signature");
	X509_free(chain[0]);
	X509_free(chain[1]);
	cp_anchors_free(&an);

	/* Hash-line form. */
	CHECK(cp_anchors_load_extra(&an, t_path("anchors-spki.tsv"), err, sizeof(err)) == 0, "%s",
	      err);
	cp_anchors_finish(&an);
	read_line("kzroot.spki", want, sizeof(want));
	i = cp_anchors_find(&an, want);
	CHECK(i >= 0 && strcmp(an.a[i].label, "test interception root") == 0, "spki line");
	cp_anchors_free(&an);
}

/* validate() on certificates by name, with the cache: the result, and *pi. */
static int
validate_names(X509_STORE *st, struct cp_icache *c, const char *const *names, unsigned int n,
	       time_t t, struct cp_path_info *pi)
{
	X509 *x[4];
	char err[128];
	unsigned int i;
	int r;

	for (i = 0; i < n; i++)
		x[i] = t_load(names[i]);
	r = cp_x509_validate(st, c, x, n, t, err, sizeof(err), pi);
	for (i = 0; i < n; i++)
		X509_free(x[i]);
	return r;
}

/*
 * Intermediates learned from valid paths complete chains that omit theirs;
 * one from an invalid path is never learned; the bound replaces the oldest.
 */
static void
test_icache(void)
{
	static const char *const full[] = {"ecleaf", "int"}, *const ec_alone[] = {"ecleaf"},
				 *const leaf1_alone[] = {"leaf1"},
				 *const forged_full[] = {"forged", "kzint"},
				 *const fan_full[] = {"fan1", "kzint"},
				 *const fan_alone[] = {"fan1"};
	time_t t = t_time(2019, 7, 18);
	struct cp_path_info pi;
	struct cp_icache c;
	struct cp_cert ic;
	X509_STORE *st = NULL;
	X509 *kzroot;
	char errbuf[128];
	int r;

	CHECK(cp_trust_load(&st, t_path("trust.pem"), 0, errbuf, sizeof(errbuf)) == 0, "%s",
	      errbuf);
	if (st == NULL)
		return;
	describe("int", &ic);
	CHECK(cp_icache_init(&c, 4) == 0, "init");
	r = validate_names(st, &c, ec_alone, 1, t, &pi);
	CHECK(r == 0 && pi.issuer_missing && cp_icache_held(&c) == 0, "empty cache: %d", r);
	{
		X509 *x = t_load("int");
		unsigned long int_name = X509_NAME_hash(X509_get_subject_name(x));

		CHECK(pi.missing == int_name, "the missing issuer is named: %lx", pi.missing);
		X509_free(x);
	}
	r = validate_names(st, &c, forged_full, 2, t, &pi);
	CHECK(r == 0 && cp_icache_held(&c) == 0 && c.gen == 0, "invalid path taught %u",
	      cp_icache_held(&c));
	r = validate_names(st, &c, full, 2, t, &pi);
	CHECK(r == 1 && pi.cached == 0 && cp_icache_held(&c) == 1 && c.gen == 1, "learned: %d n %u",
	      r, cp_icache_held(&c));
	r = validate_names(st, &c, full, 2, t, &pi);
	CHECK(r == 1 && cp_icache_held(&c) == 1 && c.gen == 1, "learned twice: n %u gen %" PRIu64,
	      cp_icache_held(&c), c.gen);
	{
		X509 *x = t_load("int"), *y = t_load("kzint");
		unsigned long int_name = X509_NAME_hash(X509_get_subject_name(x));
		unsigned long kz_name = X509_NAME_hash(X509_get_subject_name(y));

		CHECK(cp_icache_learned_since(&c, 0, int_name) == 1 &&
			      cp_icache_learned_since(&c, 0, kz_name) == 0 &&
			      cp_icache_learned_since(&c, 1, int_name) == 0,
		      "learned since: by name and generation");
		X509_free(x);
		X509_free(y);
	}
	r = validate_names(st, &c, ec_alone, 1, t, &pi);
	CHECK(r == 1 && pi.cached == 1 && pi.issuer_missing == 0 &&
		      strcmp(pi.issuer_spki, ic.spki_sha256) == 0,
	      "leaf alone completed: %d cached %u issuer %s", r, pi.cached, pi.issuer_spki);
	r = validate_names(st, &c, leaf1_alone, 1, t, &pi);
	CHECK(r == 1 && pi.cached == 1, "another leaf of the same CA: %d", r);
	/* The learned intermediate builds the path, and the leaf's own dates still fail it. */
	r = validate_names(st, &c, ec_alone, 1, time(NULL), &pi);
	CHECK(r == 0 && pi.issuer_missing == 0 && pi.cached == 0 &&
		      strcmp(pi.issuer_spki, ic.spki_sha256) == 0,
	      "expired leaf completed: %d missing %d", r, pi.issuer_missing);
	/* A forged leaf is not completed by a learned public intermediate. */
	r = validate_names(st, &c, (const char *const[]){"forged"}, 1, t, &pi);
	CHECK(r == 0 && pi.issuer_missing == 1 && pi.cached == 0, "forged leaf alone: %d", r);
	cp_icache_free(&c);

	/* A bound of one: a second CA's intermediate replaces the first. */
	kzroot = t_load("kzroot");
	CHECK(kzroot != NULL && X509_STORE_add_cert(st, kzroot) == 1, "kzroot trusted");
	X509_free(kzroot);
	CHECK(cp_icache_init(&c, 1) == 0, "init 1");
	CHECK(validate_names(st, &c, full, 2, t, &pi) == 1 && cp_icache_held(&c) == 1,
	      "int learned");
	CHECK(validate_names(st, &c, fan_full, 2, t, &pi) == 1 && cp_icache_held(&c) == 1 &&
		      cp_icache_replaced(&c) == 1 && c.gen == 2,
	      "kzint replaced int: n %u replaced %" PRIu64, cp_icache_held(&c),
	      cp_icache_replaced(&c));
	CHECK(validate_names(st, &c, ec_alone, 1, t, &pi) == 0, "int no longer held");
	CHECK(validate_names(st, &c, fan_alone, 1, t, &pi) == 1 && pi.cached == 1, "kzint held");
	{
		X509 *x = t_load("int"), *y = t_load("kzint");
		unsigned long int_name = X509_NAME_hash(X509_get_subject_name(x));
		unsigned long kz_name = X509_NAME_hash(X509_get_subject_name(y));

		/* Since generation 0 two were learned, and the ring holds only the second. */
		CHECK(cp_icache_learned_since(&c, 0, int_name) == 0 &&
			      cp_icache_learned_since(&c, 0, kz_name) == 1,
		      "learned since, past the ring");
		X509_free(x);
		X509_free(y);
	}
	cp_icache_free(&c);

	/* From the database: CA certificates that are not self-signed only. */
	CHECK(cp_icache_init(&c, 4) == 0, "init 4");
	{
		static const char *const names[] = {"leaf1", "root", "int", "int", "kzint"};
		static const int want[] = {0, 0, 1, 0, 1};
		unsigned int i;

		for (i = 0; i < 5; i++) {
			X509 *x = t_load(names[i]);
			unsigned char *der = NULL;
			int len = x ? i2d_X509(x, &der) : -1;

			CHECK(len > 0 && cp_icache_learn_der(&c, der, (size_t)len) == want[i],
			      "learn %s from DER", names[i]);
			OPENSSL_free(der);
			X509_free(x);
		}
		CHECK(cp_icache_held(&c) == 2 &&
			      cp_icache_learn_der(&c, (const uint8_t *)"\x30\x03", 2) == 0,
		      "garbage DER: n %u", cp_icache_held(&c));
	}
	cp_icache_free(&c);

	/* A bound of zero learns nothing. */
	CHECK(cp_icache_init(&c, 0) == 0, "init 0");
	CHECK(validate_names(st, &c, full, 2, t, &pi) == 1 && cp_icache_held(&c) == 0 && c.gen == 0,
	      "disabled cache learned");
	CHECK(validate_names(st, &c, ec_alone, 1, t, &pi) == 0, "disabled cache completed");
	cp_icache_free(&c);
	X509_STORE_free(st);
}

/* The signer kept on a certificate answers for that key only, and for an equal key too. */
static void
test_signed_by(void)
{
	X509 *leaf = t_load("leaf1"), *in = t_load("int"), *in2 = t_load("int"),
	     *kz = t_load("kzint");
	EVP_PKEY *pk, *pk2, *kzpk;

	CHECK(leaf != NULL && in != NULL && in2 != NULL && kz != NULL, "load");
	if (leaf == NULL || in == NULL || in2 == NULL || kz == NULL)
		goto out;
	pk = X509_get0_pubkey(in);
	pk2 = X509_get0_pubkey(in2);
	kzpk = X509_get0_pubkey(kz);
	CHECK(cp_x509_signed_by(leaf, kzpk) == 0, "another key: not signed");
	CHECK(cp_x509_signed_by(leaf, pk) == 1, "its issuer's key: signed");
	CHECK(cp_x509_signed_by(leaf, kzpk) == 0, "another key after the issuer's: not signed");
	CHECK(cp_x509_signed_by(leaf, pk) == 1 && cp_x509_signed_by(leaf, pk2) == 1,
	      "the issuer's key again, and an equal key of another parse: signed");
	CHECK(cp_x509_signed_by(in, kzpk) == 0 && cp_x509_signed_by(kz, pk) == 0,
	      "intermediates: not signed by each other");
	CHECK(ERR_peek_error() == 0, "error queue left empty");
out:
	X509_free(leaf);
	X509_free(in);
	X509_free(in2);
	X509_free(kz);
}

int
main(void)
{
	if (t_mkpki() != 0)
		return 1;
	test_describe();
	test_validate();
	test_signed_by();
	test_icache();
	test_shipped_anchors();
	test_operator_anchors();
	t_rmpki();
	printf("test_x509: %d checks, %d failed\n", t_run, t_fail);
	return t_fail ? 1 : 0;
}
