/* SPDX-License-Identifier: BSD-3-Clause */
/* Client address anonymisation: truncation, keyed prefix preservation, determinism, key files. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anon.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static const uint8_t key1[CP_ANON_KEY_LEN] = {21,  34, 23,  141, 51, 164, 207, 128, 19,	 10,  91,
					      22,  73, 144, 125, 16, 216, 152, 143, 131, 121, 121,
					      101, 39, 98,  87,	 76, 45,  42,  132, 34,	 2};
static const uint8_t key2[CP_ANON_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
					      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					      23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void
addr4(const char *txt, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, txt, out) != 1)
		abort();
}

static void
addr6(const char *txt, uint8_t out[16])
{
	if (inet_pton(AF_INET6, txt, out) != 1)
		abort();
}

/* Length of the common bit prefix of a and b over nbits. */
static unsigned int
common_prefix(const uint8_t *a, const uint8_t *b, unsigned int nbits)
{
	unsigned int i;

	for (i = 0; i < nbits; i++)
		if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
			break;
	return i;
}

static void
test_none(void)
{
	struct cp_anon a;
	uint8_t x[16], y[16];

	CHECK(cp_anon_init(&a, CP_ANON_NONE, 24, 48, NULL) == 0);
	addr4("192.0.2.77", x);
	memcpy(y, x, 16);
	cp_anon_addr(&a, 4, x);
	CHECK(memcmp(x, y, 16) == 0);
	cp_anon_fini(&a);
}

static void
test_truncate(void)
{
	struct cp_anon a;
	uint8_t x[16], want[16];

	CHECK(cp_anon_init(&a, CP_ANON_TRUNCATE, 24, 48, NULL) == 0);
	addr4("192.0.2.77", x);
	cp_anon_addr(&a, 4, x);
	addr4("192.0.2.0", want);
	CHECK(memcmp(x, want, 16) == 0);

	addr6("2001:db8:1234:5678:9abc::1", x);
	cp_anon_addr(&a, 6, x);
	addr6("2001:db8:1234::", want);
	CHECK(memcmp(x, want, 16) == 0);
	cp_anon_fini(&a);

	/* A prefix that is not a byte boundary. */
	CHECK(cp_anon_init(&a, CP_ANON_TRUNCATE, 20, 33, NULL) == 0);
	addr4("10.255.255.255", x);
	cp_anon_addr(&a, 4, x);
	addr4("10.255.240.0", want);
	CHECK(memcmp(x, want, 16) == 0);
	addr6("ffff:ffff:ffff::", x);
	cp_anon_addr(&a, 6, x);
	addr6("ffff:ffff:8000::", want);
	CHECK(memcmp(x, want, 16) == 0);
	cp_anon_fini(&a);

	CHECK(cp_anon_init(&a, CP_ANON_TRUNCATE, 33, 48, NULL) == -EINVAL);
	CHECK(cp_anon_init(&a, CP_ANON_TRUNCATE, 24, 129, NULL) == -EINVAL);
}

/* Two addresses sharing exactly a /k prefix map to outputs sharing exactly a /k prefix. */
static void
test_keyed_prefix(unsigned int nbits)
{
	struct cp_anon a;
	uint8_t base[16], other[16], ea[16], eb[16];
	unsigned int k, trial;

	CHECK(cp_anon_init(&a, CP_ANON_KEYED, 0, 0, key1) == 0);
	srand(12345);
	for (trial = 0; trial < 20; trial++) {
		unsigned int i;

		memset(base, 0, 16);
		for (i = 0; i < nbits / 8; i++)
			base[i] = (uint8_t)rand();
		for (k = 0; k < nbits; k++) {
			/* other: same first k bits, bit k flipped, random below. */
			memcpy(other, base, 16);
			for (i = k + 1; i < nbits; i++)
				if (rand() & 1)
					other[i / 8] ^= (uint8_t)(0x80u >> (i % 8));
			other[k / 8] ^= (uint8_t)(0x80u >> (k % 8));
			CHECK(common_prefix(base, other, nbits) == k);
			memcpy(ea, base, 16);
			memcpy(eb, other, 16);
			cp_anon_addr(&a, nbits == 32 ? 4 : 6, ea);
			cp_anon_addr(&a, nbits == 32 ? 4 : 6, eb);
			if (common_prefix(ea, eb, nbits) != k) {
				fprintf(stderr, "ipv%u prefix /%u not preserved\n",
					nbits == 32 ? 4 : 6, k);
				failures++;
			}
			/* IPv4 never touches the 12 unused bytes. */
			if (nbits == 32)
				CHECK(ea[4] == 0 && ea[15] == 0);
		}
	}
	cp_anon_fini(&a);
}

/* Reference vectors published with the original Crypto-PAn implementation
 * (sample_trace_raw/sanitized). */
static void
test_keyed_reference(void)
{
	static const char *const vec[][2] = {
		{"128.11.68.132", "135.242.180.132"},
		{"129.118.74.4", "134.136.186.123"},
		{"130.132.252.244", "133.68.164.234"},
		{"141.223.7.43", "141.167.8.160"},
	};
	struct cp_anon a;
	uint8_t x[16], want[16];
	size_t i;

	CHECK(cp_anon_init(&a, CP_ANON_KEYED, 0, 0, key1) == 0);
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		addr4(vec[i][0], x);
		addr4(vec[i][1], want);
		cp_anon_addr(&a, 4, x);
		if (memcmp(x, want, 16) != 0) {
			fprintf(stderr, "crypto-pan %s: want %s\n", vec[i][0], vec[i][1]);
			failures++;
		}
	}
	cp_anon_fini(&a);
}

static void
test_keyed_determinism(void)
{
	struct cp_anon a, a2, b;
	uint8_t x[16], y[16], z[16], orig[16];

	addr4("192.0.2.77", orig);
	CHECK(cp_anon_init(&a, CP_ANON_KEYED, 0, 0, key1) == 0);
	CHECK(cp_anon_init(&a2, CP_ANON_KEYED, 0, 0, key1) == 0);
	CHECK(cp_anon_init(&b, CP_ANON_KEYED, 0, 0, key2) == 0);
	memcpy(x, orig, 16);
	memcpy(y, orig, 16);
	memcpy(z, orig, 16);
	cp_anon_addr(&a, 4, x);
	cp_anon_addr(&a2, 4, y);
	cp_anon_addr(&b, 4, z);
	CHECK(memcmp(x, y, 16) == 0); /* same key: same output, across instances */
	CHECK(memcmp(x, orig, 16) != 0);
	CHECK(memcmp(x, z, 4) != 0); /* another key: another output */

	addr6("2001:db8::1", orig);
	memcpy(x, orig, 16);
	memcpy(z, orig, 16);
	cp_anon_addr(&a, 6, x);
	cp_anon_addr(&b, 6, z);
	CHECK(memcmp(x, orig, 16) != 0);
	CHECK(memcmp(x, z, 16) != 0);
	cp_anon_fini(&a);
	cp_anon_fini(&a2);
	cp_anon_fini(&b);
	CHECK(cp_anon_init(&a, CP_ANON_KEYED, 0, 0, NULL) == -EINVAL);
}

/* Distinct inputs stay distinct (a bijection), checked over a whole /16. */
static void
test_keyed_injective(void)
{
	struct cp_anon a;
	static uint8_t seen[65536 / 8];
	uint8_t x[16];
	unsigned int i, dup = 0;

	CHECK(cp_anon_init(&a, CP_ANON_KEYED, 0, 0, key1) == 0);
	for (i = 0; i < 65536; i++) {
		unsigned int v;

		memset(x, 0, 16);
		x[0] = 10;
		x[1] = 20;
		x[2] = (uint8_t)(i >> 8);
		x[3] = (uint8_t)i;
		cp_anon_addr(&a, 4, x);
		v = (unsigned int)x[2] << 8 | x[3];
		if (seen[v / 8] & (1u << (v % 8)))
			dup++;
		seen[v / 8] |= (uint8_t)(1u << (v % 8));
	}
	CHECK(dup == 0);
	cp_anon_fini(&a);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		abort();
}

static void
test_key_file(void)
{
	char dir[] = "/tmp/test_anon.XXXXXX", path[64], err[256];
	uint8_t key[CP_ANON_KEY_LEN];
	char hex[80];
	unsigned int i;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/key", dir);

	write_file(path, key1, sizeof(key1));
	/* Readable by the group: refused, as a chain key would be. */
	CHECK(chmod(path, 0640) == 0);
	CHECK(cp_anon_load_key(path, key, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "(mode 0640): chmod 600 it") != NULL);
	CHECK(chmod(path, 0600) == 0);
	CHECK(cp_anon_load_key(path, key, err, sizeof(err)) == 0);
	CHECK(memcmp(key, key1, sizeof(key)) == 0);

	for (i = 0; i < CP_ANON_KEY_LEN; i++)
		sprintf(hex + 2 * i, "%02x", key2[i]);
	strcat(hex, "\n");
	write_file(path, hex, strlen(hex));
	CHECK(cp_anon_load_key(path, key, err, sizeof(err)) == 0);
	CHECK(memcmp(key, key2, sizeof(key)) == 0);

	write_file(path, "abc\n", 4);
	CHECK(cp_anon_load_key(path, key, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "64 hex digits") != NULL);

	hex[5] = 'g';
	write_file(path, hex, strlen(hex));
	CHECK(cp_anon_load_key(path, key, err, sizeof(err)) == -EINVAL);

	unlink(path);
	CHECK(cp_anon_load_key(path, key, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, path) != NULL);
	CHECK(cp_anon_load_key(dir, key, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "is not a regular file") != NULL);
	rmdir(dir);
}

static void
test_mode_parse(void)
{
	enum cp_anon_mode m;

	CHECK(cp_anon_mode_parse("none", &m) == 0 && m == CP_ANON_NONE);
	CHECK(cp_anon_mode_parse("truncate", &m) == 0 && m == CP_ANON_TRUNCATE);
	CHECK(cp_anon_mode_parse("keyed", &m) == 0 && m == CP_ANON_KEYED);
	CHECK(cp_anon_mode_parse("hash", &m) == -EINVAL);
}

int
main(void)
{
	test_none();
	test_truncate();
	test_keyed_prefix(32);
	test_keyed_prefix(128);
	test_keyed_reference();
	test_keyed_determinism();
	test_keyed_injective();
	test_key_file();
	test_mode_parse();
	if (failures) {
		fprintf(stderr, "test_anon: %d failures\n", failures);
		return 1;
	}
	printf("test_anon: ok\n");
	return 0;
}
