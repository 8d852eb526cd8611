/* SPDX-License-Identifier: BSD-3-Clause */
/* Client address anonymisation applied to each event before anything is written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "anon.h"

int
cp_anon_mode_parse(const char *s, enum cp_anon_mode *out)
{
	if (strcmp(s, "none") == 0)
		*out = CP_ANON_NONE;
	else if (strcmp(s, "truncate") == 0)
		*out = CP_ANON_TRUNCATE;
	else if (strcmp(s, "keyed") == 0)
		*out = CP_ANON_KEYED;
	else
		return -EINVAL;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
cp_anon_load_key(const char *path, uint8_t key[CP_ANON_KEY_LEN], char *err, size_t errlen)
{
	/* Room for 64 hex digits, CRLF and one byte more to notice a longer file. */
	uint8_t buf[2 * CP_ANON_KEY_LEN + 3];
	struct stat st;
	ssize_t n;
	size_t len = 0, i;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "anonymisation key %s: %s", path, strerror(errno));
		return rc;
	}
	/* Whoever reads the key can undo the mapping: the same rule as for chain keys. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "anonymisation key %s is not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		rc = -EPERM;
		snprintf(err, errlen,
			 "anonymisation key %s is accessible to group or others (mode %04o): chmod "
			 "600 it",
			 path, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			snprintf(err, errlen, "anonymisation key %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == CP_ANON_KEY_LEN) {
		memcpy(key, buf, CP_ANON_KEY_LEN);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len != 2 * CP_ANON_KEY_LEN) {
		rc = -EINVAL;
		snprintf(err, errlen,
			 "anonymisation key %s: need exactly 32 raw bytes or 64 hex digits "
			 "(e.g. openssl rand -hex 32)",
			 path);
		goto out;
	}
	for (i = 0; i < CP_ANON_KEY_LEN; i++) {
		int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			rc = -EINVAL;
			snprintf(err, errlen, "anonymisation key %s: not a hex digit at offset %zu",
				 path, 2 * i + (hi < 0 ? 0 : 1));
			goto out;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

static int
aes_block(EVP_CIPHER_CTX *ctx, const uint8_t in[16], uint8_t out[16])
{
	int outl = 0;

	if (EVP_EncryptUpdate(ctx, out, &outl, in, 16) != 1 || outl != 16)
		return -EIO;
	return 0;
}

int
cp_anon_init(struct cp_anon *a, enum cp_anon_mode mode, unsigned int v4_bits, unsigned int v6_bits,
	     const uint8_t *key)
{
	EVP_CIPHER_CTX *ctx;
	int rc;

	memset(a, 0, sizeof(*a));
	if (v4_bits > 32 || v6_bits > 128)
		return -EINVAL;
	a->mode = mode;
	a->v4_bits = v4_bits;
	a->v6_bits = v6_bits;
	if (mode != CP_ANON_KEYED)
		return 0;
	if (key == NULL)
		return -EINVAL;

	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
		rc = -EIO;
		goto err_free_ctx;
	}
	/* Crypto-PAn: the pad is the encryption of the second half of the key. */
	rc = aes_block(ctx, key + 16, a->pad);
	if (rc < 0)
		goto err_free_ctx;
	a->ctx = ctx;
	return 0;

err_free_ctx:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

void
cp_anon_fini(struct cp_anon *a)
{
	if (a->ctx != NULL)
		EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a->pad, sizeof(a->pad));
	a->ctx = NULL;
}

static int
get_bit(const uint8_t *p, unsigned int i)
{
	return (p[i >> 3] >> (7 - (i & 7))) & 1;
}

static void
set_bit(uint8_t *p, unsigned int i, int v)
{
	uint8_t m = (uint8_t)(0x80u >> (i & 7));

	if (v)
		p[i >> 3] |= m;
	else
		p[i >> 3] &= (uint8_t)~m;
}

/*
 * Crypto-PAn (Xu, Fan, Ammar, Moon 2002) over nbits: output bit i is input
 * bit i XOR the first bit of AES_k(first i input bits || pad bits i..127).
 * Bit i of the output depends only on bits 0..i of the input, which is what
 * makes it prefix-preserving; it is a bijection for every prefix length.
 */
static void
cryptopan(const struct cp_anon *a, uint8_t *addr, unsigned int nbits)
{
	uint8_t in[16], out[16], res[16];
	unsigned int i, nbytes = nbits / 8, j;

	memcpy(res, addr, nbytes);
	for (i = 0; i < nbits; i++) {
		memcpy(in, a->pad, 16);
		/* First i bits from the original address, the rest from the pad. */
		for (j = 0; j < i / 8; j++)
			in[j] = addr[j];
		if (i & 7) {
			uint8_t m = (uint8_t)(0xffu << (8 - (i & 7)));

			in[i / 8] = (uint8_t)((addr[i / 8] & m) | (a->pad[i / 8] & (uint8_t)~m));
		}
		if (aes_block(a->ctx, in, out) < 0) {
			/* Cannot happen with a valid context; never leak the original. */
			memset(addr, 0, nbytes);
			return;
		}
		set_bit(res, i, get_bit(addr, i) ^ (out[0] >> 7));
	}
	memcpy(addr, res, nbytes);
	OPENSSL_cleanse(in, sizeof(in));
}

static void
truncate_bits(uint8_t *addr, unsigned int keep, unsigned int nbits)
{
	unsigned int i;

	for (i = keep; i < nbits; i++)
		set_bit(addr, i, 0);
}

void
cp_anon_addr(const struct cp_anon *a, uint8_t ipver, uint8_t addr[16])
{
	unsigned int nbits = ipver == 4 ? 32 : 128;

	switch (a->mode) {
	case CP_ANON_NONE:
		break;
	case CP_ANON_TRUNCATE:
		truncate_bits(addr, ipver == 4 ? a->v4_bits : a->v6_bits, nbits);
		break;
	case CP_ANON_KEYED:
		cryptopan(a, addr, nbits);
		break;
	}
}

void
cp_anon_event(const struct cp_anon *a, struct cw_flow_event *ev)
{
	cp_anon_addr(a, ev->ipver, ev->cli_addr);
}
