/* SPDX-License-Identifier: BSD-3-Clause */
/* Client address anonymisation applied to each event before anything is written. */
#ifndef CP_ANON_H
#define CP_ANON_H

#include <stdint.h>

#include "cw_event.h"

enum cp_anon_mode {
	CP_ANON_NONE = 0,
	CP_ANON_TRUNCATE, /* keep the first v4_bits / v6_bits, zero the rest */
	CP_ANON_KEYED,	  /* Crypto-PAn: keyed, prefix-preserving, one-to-one */
};

#define CP_ANON_KEY_LEN 32 /* 16-byte AES-128 key + 16 bytes that seed the pad */

struct cp_anon {
	enum cp_anon_mode mode;
	unsigned int v4_bits; /* truncate: prefix kept, 0..32 (default 24) */
	unsigned int v6_bits; /* truncate: prefix kept, 0..128 (default 48) */
	void *ctx;	      /* keyed: EVP_CIPHER_CTX with the AES key (owned) */
	uint8_t pad[16];      /* keyed: AES_k(second half of the key) */
};

/* Parse "none" / "truncate" / "keyed". Returns 0 or -EINVAL. */
int cp_anon_mode_parse(const char *s, enum cp_anon_mode *out);

/*
 * Read a key file: exactly 32 raw bytes, or 64 hex digits (optionally
 * followed by a newline), in a regular file that group and others cannot
 * access (-EPERM otherwise). Returns 0 or -errno; err gets a message.
 */
int cp_anon_load_key(const char *path, uint8_t key[CP_ANON_KEY_LEN], char *err, size_t errlen);

/* key is used only for CP_ANON_KEYED (and then required). Returns 0 or -errno. */
int cp_anon_init(struct cp_anon *a, enum cp_anon_mode mode, unsigned int v4_bits,
		 unsigned int v6_bits, const uint8_t *key);

void cp_anon_fini(struct cp_anon *a);

/* Anonymise one address in place; ipver 4 uses addr[0..3], 6 uses all 16 bytes. */
void cp_anon_addr(const struct cp_anon *a, uint8_t ipver, uint8_t addr[16]);

/*
 * Anonymise the client side of an event. The server address is kept: it
 * names the service being judged, not a person.
 */
void cp_anon_event(const struct cp_anon *a, struct cw_flow_event *ev);

#endif /* CP_ANON_H */
