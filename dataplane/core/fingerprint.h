/* SPDX-License-Identifier: BSD-3-Clause */
/* JA3, JA3S and JA4 (with _r, _o, _ro) fingerprints, computed from parsed hellos. */
#ifndef CW_FINGERPRINT_H
#define CW_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "tls.h"

#define CW_JA4_LEN 36      /* t13d1516h2_8daaf6152771_e5627efa2ab1 */
#define CW_MD5_HEX 33      /* 32 hex digits + NUL */

/*
 * JA3 = "legacy_version,ciphers,extensions,groups,point_formats" in decimal,
 * '-' separated, GREASE removed (salesforce/ja3 README). The MD5 is always
 * computed over the full string; str (if not NULL) receives at most strsz-1
 * characters. Returns the full string length.
 */
size_t cw_ja3(const struct cw_client_hello *ch, char *str, size_t strsz, char md5hex[CW_MD5_HEX]);

/* JA3S = "version,cipher,extensions"; GREASE is kept, as the reference does. */
size_t cw_ja3s(const struct cw_server_hello *sh, char *str, size_t strsz, char md5hex[CW_MD5_HEX]);

/* JA4 variants (technical_details/JA4.md). proto: 't' TCP, 'q' QUIC, 'd' DTLS. */
enum cw_ja4_kind {
	CW_JA4 = 0, /* sorted, hashed */
	CW_JA4_R,   /* sorted, raw */
	CW_JA4_O,   /* wire order, hashed */
	CW_JA4_RO,  /* wire order, raw */
};

/* Writes a NUL-terminated fingerprint; returns its full length (output cut at outsz-1). */
size_t cw_ja4(const struct cw_client_hello *ch, char proto, enum cw_ja4_kind kind, char *out,
	      size_t outsz);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void cw_hex(const uint8_t *in, size_t n, char *out);

#endif /* CW_FINGERPRINT_H */
