/* SPDX-License-Identifier: BSD-3-Clause */
/* Certificate and chain identities: XXH3-128 per certificate and per chain, SHA-256 on demand. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_generateSecret, XXH3_SECRET_DEFAULT_SIZE */
#include <xxhash.h>
#if defined(__x86_64__)
/*
 * The library's x86 dispatcher: XXH3 with the widest vectors the CPU has (AVX-512, AVX2, else
 * SSE2), chosen by the library at its first call. Called by name, not through the header's
 * renaming of XXH3_128bits, so the library's baseline build stays callable beside it.
 *
 * Its AVX2 and AVX-512 code returns with the upper halves of the vector registers dirty. The
 * rest of this program is SSE code (no VEX encoding), and SSE instructions that run while the
 * upper state is dirty are slow: on the AVX2-only AMD EPYC of BENCHMARKS.md "Run 16" a
 * 3-certificate chain id took 473 ns that way, 138 ns with a vzeroupper after each call, and
 * 251 ns with the baseline build.
 */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define CW_HAVE_XXH_DISPATCH 1
#endif

#include "chain.h"

/* Set once at start-up (chain.h), read-only afterwards. */
static struct {
	int keyed;
	uint8_t id[CW_KEY_ID_LEN];
	uint8_t secret[XXH3_SECRET_DEFAULT_SIZE];
} chain_key;

/* 1: ids through the dispatcher (CW_XXH3_WIDE), 0: the baseline build. Set at load (AUTO). */
static int xxh3_wide;

static inline XXH128_hash_t
id_hash(const void *p, size_t len)
{
#ifdef CW_HAVE_XXH_DISPATCH
	if (xxh3_wide) {
		XXH128_hash_t h;

		if (chain_key.keyed)
			h = XXH3_128bits_withSecret_dispatch(p, len, chain_key.secret,
							     sizeof(chain_key.secret));
		else
			h = XXH3_128bits_dispatch(p, len);
		/* Wide is only set where the CPU has AVX2 (cw_chain_xxh3_set()), so this exists. */
		__asm__ volatile("vzeroupper" ::: "memory");
		return h;
	}
#endif
	if (chain_key.keyed)
		return XXH3_128bits_withSecret(p, len, chain_key.secret, sizeof(chain_key.secret));
	return XXH3_128bits(p, len);
}

/*
 * CW_XXH3_AUTO: wide on AMD CPUs with AVX2, the baseline build elsewhere. On the AVX2-only AMD
 * EPYC of BENCHMARKS.md "Run 16" the wide code took a TLS flow of the handshake mix ~6 % fewer
 * cycles in dp_bench (chain_id_3 138 against 251 ns), and on the AVX-512 AMD EPYC of runs 14
 * and 15 6-9 % fewer even without the vzeroupper. The Intel Xeon hosts were measured only
 * without it (38-43 % more cycles per flow, very likely the dirty upper state): baseline there
 * until measured again.
 */
int
cw_chain_xxh3_set(enum cw_xxh3_impl impl)
{
	switch (impl) {
	case CW_XXH3_AUTO:
#ifdef CW_HAVE_XXH_DISPATCH
		__builtin_cpu_init();
		xxh3_wide = __builtin_cpu_is("amd") && __builtin_cpu_supports("avx2");
#else
		xxh3_wide = 0;
#endif
		return 0;
	case CW_XXH3_BASELINE:
		xxh3_wide = 0;
		return 0;
	case CW_XXH3_WIDE:
#ifdef CW_HAVE_XXH_DISPATCH
		__builtin_cpu_init();
		if (!__builtin_cpu_supports("avx2"))
			return -ENOTSUP; /* the dispatcher would run the baseline's SSE2 code */
		xxh3_wide = 1;
		return 0;
#else
		return -ENOTSUP;
#endif
	}
	return -EINVAL;
}

int
cw_chain_xxh3_use(const char *name)
{
	if (strcmp(name, "auto") == 0)
		return cw_chain_xxh3_set(CW_XXH3_AUTO);
	if (strcmp(name, "baseline") == 0)
		return cw_chain_xxh3_set(CW_XXH3_BASELINE);
	if (strcmp(name, "wide") == 0)
		return cw_chain_xxh3_set(CW_XXH3_WIDE);
	return -EINVAL;
}

const char *
cw_chain_xxh3_name(void)
{
	return xxh3_wide ? "wide" : "baseline";
}

__attribute__((constructor)) static void
xxh3_pick(void)
{
	cw_chain_xxh3_set(CW_XXH3_AUTO);
}

int
cw_chain_key_set(const uint8_t *key, size_t len)
{
	uint8_t sha[CW_SHA256_LEN];
	unsigned int n = 0;

	if (key == NULL || len < CW_CHAIN_KEY_MIN || len > CW_CHAIN_KEY_MAX)
		return -EINVAL;
	if (EVP_Digest(key, len, sha, &n, EVP_sha256(), NULL) != 1 || n != CW_SHA256_LEN)
		return -EIO;
	if (XXH3_generateSecret(chain_key.secret, sizeof(chain_key.secret), key, len) != XXH_OK)
		return -EINVAL;
	memcpy(chain_key.id, sha, CW_KEY_ID_LEN);
	chain_key.keyed = 1;
	return 0;
}

int
cw_chain_key_load(const char *path, char *err, size_t errlen)
{
	uint8_t key[CW_CHAIN_KEY_MAX + 1];
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open chain key %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "chain key %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "chain key %s is accessible to group or others (mode %04o): chmod 600 it",
			 path, (unsigned int)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	while (got < sizeof(key)) {
		r = read(fd, key + got, sizeof(key) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(err, errlen, "cannot read chain key %s: %s", path, strerror(errno));
			close(fd);
			OPENSSL_cleanse(key, sizeof(key));
			return rc;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got < CW_CHAIN_KEY_MIN || got > CW_CHAIN_KEY_MAX) {
		snprintf(err, errlen, "chain key %s has %s bytes: expected %u..%u (head -c 32 /dev/urandom)",
			 path, got > CW_CHAIN_KEY_MAX ? "too many" : got == 0 ? "no" : "too few",
			 CW_CHAIN_KEY_MIN, CW_CHAIN_KEY_MAX);
		OPENSSL_cleanse(key, sizeof(key));
		return -EINVAL;
	}
	rc = cw_chain_key_set(key, got);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0)
		snprintf(err, errlen, "chain key %s: cannot derive the secret", path);
	return rc;
}

int
cw_chain_keyed(void)
{
	return chain_key.keyed;
}

void
cw_chain_key_id(uint8_t out[CW_KEY_ID_LEN])
{
	if (chain_key.keyed)
		memcpy(out, chain_key.id, CW_KEY_ID_LEN);
	else
		memset(out, 0, CW_KEY_ID_LEN);
}

void
cw_cert_id(const uint8_t *der, uint32_t len, uint8_t out[CW_ID_LEN])
{
	XXH128_canonical_t canon;

	XXH128_canonicalFromHash(&canon, id_hash(der, len));
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
	XXH128_canonicalFromHash(&canon, id_hash(cat, (size_t)n * CW_ID_LEN));
	memcpy(out, canon.digest, CW_ID_LEN);
}
