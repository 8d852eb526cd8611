/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of certificate and chain ids on a real chain, against values from xxh128sum and sha256sum. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The reference ids come from the library's header-only form forced to scalar code: cwcore
 * hashes with the library's baseline build or its x86 dispatcher (AVX-512, AVX2 or SSE2 as the
 * CPU has them; --xxh3), and an id must not depend on which one ran.
 */
#define XXH_INLINE_ALL
#define XXH_VECTOR 0 /* XXH_SCALAR */
#include <xxhash.h>

#include "chain.h"
#include "fingerprint.h"
#include "reasm.h"
#include "tls.h"
#include "tls_test_pcap.h"

static int failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);     \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CHECK_HEX(bytes, n, want)                                                                  \
	do {                                                                                       \
		char h_[2 * 64 + 1];                                                               \
		cw_hex((bytes), (n), h_);                                                          \
		if (strcmp(h_, (want)) != 0) {                                                     \
			fprintf(stderr, "%s:%d: got %s want %s\n", __FILE__, __LINE__, h_, (want)); \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/*
 * The badcurveball server chain (leaf 615 bytes, issuer 885 bytes). Expected
 * values were computed outside this code from the DER that tshark exports:
 * `xxh128sum` (canonical XXH3-128) and `sha256sum`; the chain id is
 * `xxh128sum` of the two per-certificate ids concatenated.
 */
#define LEAF_XXH "8079da86833886348bf0d5195c7cd0e5"
#define CA_XXH "d7d90684b69d8b1944921803026d8ab7"
#define LEAF_SHA256 "37a074a3c248aef1f27cbd26093f3364765bb01a97e8b3f387f5bf0cd7b4e1b4"
#define CA_SHA256 "45f7246e18837abc380f4c1b1cf17d3a72438407bdade09086ec65eb6a0fc4dc"
#define CHAIN_ID "8efc72f2ef312ceaa96027b58125659f"
#define LEAF_ONLY_CHAIN_ID "80e17521d27d3f60f1ca50685bf4e120"

/* Key 00 01 .. 1f: its id is the first 8 bytes of `sha256sum` of those 32 bytes. */
#define KEY_ID "630dcd2966c43366"

static uint8_t stream[64 * 1024];

/* The keyed id as documented (chain.h), from libxxhash alone. */
static void
keyed_ref(const uint8_t *key, size_t klen, const void *p, size_t len, uint8_t out[CW_ID_LEN])
{
	uint8_t secret[XXH3_SECRET_DEFAULT_SIZE];
	XXH128_canonical_t c;

	if (XXH3_generateSecret(secret, sizeof(secret), key, klen) != XXH_OK)
		memset(secret, 0, sizeof(secret));
	XXH128_canonicalFromHash(&c, XXH3_128bits_withSecret(p, len, secret, sizeof(secret)));
	memcpy(out, c.digest, CW_ID_LEN);
}

/*
 * Every length from 0 to 4 KiB (XXH3's short, mid-size and long paths, and every tail of a
 * stripe) on pseudo-random bytes: cw_cert_id() against the scalar reference, without a key and
 * with key (NULL: none set now), with each build of XXH3 that --xxh3 can pick.
 */
static void
test_lengths(const uint8_t *key, size_t klen)
{
	static const enum cw_xxh3_impl impls[] = {CW_XXH3_BASELINE, CW_XXH3_WIDE};
	static const char *const names[] = {"baseline", "wide"};
	static uint8_t data[4096 + 64];
	uint8_t id[CW_ID_LEN], ref[CW_ID_LEN];
	XXH128_canonical_t c;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint32_t len, off, bad = 0, k, tested = 0;

	for (len = 0; len < sizeof(data); len++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[len] = (uint8_t)x;
	}
	for (k = 0; k < 2; k++) {
		if (cw_chain_xxh3_set(impls[k]) != 0)
			continue;
		CHECK(strcmp(cw_chain_xxh3_name(), names[k]) == 0);
		tested++;
		for (len = 0; len <= 4096; len++) {
			off = len % 61; /* unaligned starts too */
			cw_cert_id(data + off, len, id);
			if (key != NULL) {
				keyed_ref(key, klen, data + off, len, ref);
			} else {
				XXH128_canonicalFromHash(&c, XXH3_128bits(data + off, len));
				memcpy(ref, c.digest, CW_ID_LEN);
			}
			if (memcmp(id, ref, CW_ID_LEN) != 0 && bad++ < 5)
				fprintf(stderr,
					"test_chain: %s %s id of %u bytes differs from the scalar one\n",
					names[k], key != NULL ? "keyed" : "plain", len);
		}
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	CHECK(tested == (__builtin_cpu_supports("avx2") ? 2u : 1u)); /* wide wherever AVX2 is */
#else
	CHECK(tested == 1);
#endif
	CHECK(bad == 0);
	CHECK(cw_chain_xxh3_set(CW_XXH3_AUTO) == 0);
}

/* --xxh3's names pick their build; a bad one is refused and changes nothing. */
static void
test_xxh3_names(void)
{
	int avx2 = 0, amd = 0;

#if defined(__x86_64__)
	__builtin_cpu_init();
	avx2 = __builtin_cpu_supports("avx2");
	amd = __builtin_cpu_is("amd");
#endif
	CHECK(cw_chain_xxh3_use("baseline") == 0 && strcmp(cw_chain_xxh3_name(), "baseline") == 0);
	CHECK(cw_chain_xxh3_use("wide") == (avx2 ? 0 : -ENOTSUP));
	CHECK(strcmp(cw_chain_xxh3_name(), avx2 ? "wide" : "baseline") == 0);
	CHECK(cw_chain_xxh3_use("avx2") == -EINVAL);
	CHECK(cw_chain_xxh3_use("") == -EINVAL);
	CHECK(strcmp(cw_chain_xxh3_name(), avx2 ? "wide" : "baseline") == 0);
	CHECK(cw_chain_xxh3_set((enum cw_xxh3_impl)7) == -EINVAL);
	/* auto: wide exactly on AMD x86-64 CPUs with AVX2 */
	CHECK(cw_chain_xxh3_use("baseline") == 0 && cw_chain_xxh3_use("auto") == 0);
	CHECK(strcmp(cw_chain_xxh3_name(), amd && avx2 ? "wide" : "baseline") == 0);
}

/* Write n bytes of key to a new file of mode `mode`; returns its path (static buffer). */
static const char *
key_file(const uint8_t *key, size_t n, mode_t mode)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/cw-test-chain-key.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, key, n) != (ssize_t)n || fchmod(fd, mode) < 0) {
		fprintf(stderr, "test_chain: cannot write %s\n", path);
		exit(1);
	}
	close(fd);
	return path;
}

/* Keyed ids: the key changes every id, the same key gives the same ids, files are checked. */
static void
test_keyed(const struct cw_cert_list *cl, const uint8_t plain_chain[CW_ID_LEN])
{
	uint8_t key[CW_CHAIN_KEY_MAX + 1], kid[CW_KEY_ID_LEN], zero[CW_KEY_ID_LEN] = {0};
	uint8_t id[CW_ID_LEN], ref[CW_ID_LEN], cat[2][CW_ID_LEN], chain1[CW_ID_LEN];
	char err[256];
	const char *f;
	unsigned int i;

	CHECK(!cw_chain_keyed());
	cw_chain_key_id(kid);
	CHECK(memcmp(kid, zero, sizeof(kid)) == 0);
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	CHECK(cw_chain_key_set(key, CW_CHAIN_KEY_MIN - 1) == -EINVAL);
	CHECK(cw_chain_key_set(key, CW_CHAIN_KEY_MAX + 1) == -EINVAL);
	CHECK(!cw_chain_keyed());

	/* Files: missing, open to others, too short, empty, too long. None sets a key. */
	CHECK(cw_chain_key_load("/nonexistent/chain.key", err, sizeof(err)) == -ENOENT);
	f = key_file(key, 32, 0644);
	CHECK(cw_chain_key_load(f, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "mode 0644") != NULL);
	unlink(f);
	f = key_file(key, CW_CHAIN_KEY_MIN - 1, 0600);
	CHECK(cw_chain_key_load(f, err, sizeof(err)) == -EINVAL);
	unlink(f);
	f = key_file(key, 0, 0600);
	CHECK(cw_chain_key_load(f, err, sizeof(err)) == -EINVAL);
	unlink(f);
	f = key_file(key, CW_CHAIN_KEY_MAX + 1, 0600);
	CHECK(cw_chain_key_load(f, err, sizeof(err)) == -EINVAL);
	unlink(f);
	CHECK(cw_chain_key_load("/tmp", err, sizeof(err)) == -EINVAL);
	CHECK(!cw_chain_keyed());

	/* The 32-byte key from a file. */
	f = key_file(key, 32, 0600);
	CHECK(cw_chain_key_load(f, err, sizeof(err)) == 0);
	unlink(f);
	CHECK(cw_chain_keyed());
	cw_chain_key_id(kid);
	CHECK_HEX(kid, CW_KEY_ID_LEN, KEY_ID);

	cw_cert_id(cl->c[0].p, cl->c[0].len, id);
	keyed_ref(key, 32, cl->c[0].p, cl->c[0].len, ref);
	CHECK(memcmp(id, ref, CW_ID_LEN) == 0);
	memcpy(cat[0], id, CW_ID_LEN);
	{
		char h[2 * CW_ID_LEN + 1];

		cw_hex(id, CW_ID_LEN, h);
		CHECK(strcmp(h, LEAF_XXH) != 0); /* the key changed the id */
	}
	cw_cert_id(cl->c[1].p, cl->c[1].len, cat[1]);
	cw_chain_id(cl, NULL, chain1);
	keyed_ref(key, 32, cat, sizeof(cat), ref);
	CHECK(memcmp(chain1, ref, CW_ID_LEN) == 0);
	CHECK(memcmp(chain1, plain_chain, CW_ID_LEN) != 0);
	test_lengths(key, 32);

	/* Another key (one bit apart): other ids. The first key again: the first ids. */
	key[0] ^= 1;
	CHECK(cw_chain_key_set(key, 32) == 0);
	cw_chain_id(cl, NULL, id);
	CHECK(memcmp(id, chain1, CW_ID_LEN) != 0 && memcmp(id, plain_chain, CW_ID_LEN) != 0);
	cw_chain_key_id(kid);
	CHECK(memcmp(kid, zero, sizeof(kid)) != 0);
	key[0] ^= 1;
	CHECK(cw_chain_key_set(key, 32) == 0);
	cw_chain_id(cl, NULL, id);
	CHECK(memcmp(id, chain1, CW_ID_LEN) == 0);
}

/* Frame the server stream and parse its Certificate message. */
static int
load_chain(struct cw_cert_list *cl)
{
	struct cw_tls_stream ts;
	struct cw_reasm r;
	struct cw_tls_item it;
	long n = tp_stream("tests/data/conformance/ja4/pcap/badcurveball.pcap", 443, stream,
			   sizeof(stream));

	if (n <= 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.buf = stream;
	r.cap = sizeof(stream);
	r.limit = r.cap;
	r.contig = (uint32_t)n;
	cw_tls_stream_init(&ts);
	while (cw_tls_next(&ts, &r, &it) == CW_TI_HS) {
		if (it.hs_type == CW_TLS_HS_CERTIFICATE)
			return cw_tls_parse_certificate(it.body, it.len, 0, cl) == CW_OK ? 0 : -1;
	}
	return -1;
}

int
main(void)
{
	struct cw_cert_list cl, one, none;
	uint8_t id[CW_ID_LEN], ids[CW_TLS_MAX_CERTS][CW_ID_LEN], chain[CW_ID_LEN];
	uint8_t sha[CW_SHA256_LEN], zero[CW_ID_LEN] = {0};

	if (load_chain(&cl) != 0 || cl.n != 2) {
		fprintf(stderr, "test_chain: could not load the capture's chain\n");
		return 1;
	}
	CHECK(cl.c[0].len == 615 && cl.c[1].len == 885);

	cw_cert_id(cl.c[0].p, cl.c[0].len, id);
	CHECK_HEX(id, CW_ID_LEN, LEAF_XXH);
	cw_cert_id(cl.c[1].p, cl.c[1].len, id);
	CHECK_HEX(id, CW_ID_LEN, CA_XXH);
	cw_cert_sha256(cl.c[0].p, cl.c[0].len, sha);
	CHECK_HEX(sha, CW_SHA256_LEN, LEAF_SHA256);
	cw_cert_sha256(cl.c[1].p, cl.c[1].len, sha);
	CHECK_HEX(sha, CW_SHA256_LEN, CA_SHA256);

	memset(ids, 0xee, sizeof(ids));
	cw_chain_id(&cl, ids, chain);
	CHECK_HEX(chain, CW_ID_LEN, CHAIN_ID);
	CHECK_HEX(ids[0], CW_ID_LEN, LEAF_XXH);
	CHECK_HEX(ids[1], CW_ID_LEN, CA_XXH);
	CHECK(ids[2][0] == 0xee); /* only cl->n entries are written */
	cw_chain_id(&cl, NULL, id);
	CHECK(memcmp(id, chain, CW_ID_LEN) == 0);

	/* Order matters: the chain is leaf first. */
	one = cl;
	one.c[0] = cl.c[1];
	one.c[1] = cl.c[0];
	cw_chain_id(&one, NULL, id);
	CHECK(memcmp(id, chain, CW_ID_LEN) != 0);
	/* A leaf alone. */
	one = cl;
	one.n = one.total = 1;
	cw_chain_id(&one, NULL, id);
	CHECK_HEX(id, CW_ID_LEN, LEAF_ONLY_CHAIN_ID);
	/* Empty chain: all zero, not the hash of nothing. */
	memset(&none, 0, sizeof(none));
	memset(id, 0xff, sizeof(id));
	cw_chain_id(&none, NULL, id);
	CHECK(memcmp(id, zero, CW_ID_LEN) == 0);

	test_xxh3_names();
	test_lengths(NULL, 0);

	/* Last: a key stays set for the rest of the process. */
	test_keyed(&cl, chain);

	if (failures) {
		fprintf(stderr, "test_chain: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_chain: ok\n");
	return 0;
}
