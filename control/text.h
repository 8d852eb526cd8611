/* SPDX-License-Identifier: BSD-3-Clause */
/* Text output of untrusted strings: no byte a peer or a certificate chose acts on a terminal. */
#ifndef CP_TEXT_H
#define CP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Room to render a string of n bytes whole: each byte escaped to 4 ("\xNN"), plus the NUL. */
#define CP_TEXT_LEN(n) (4 * (n) + 1)

/*
 * Length of the valid UTF-8 sequence at s (at most left bytes), or 0 when
 * the lead byte does not start one. Follows RFC 3629's table: no overlongs,
 * no surrogates, nothing above U+10FFFF.
 */
size_t cp_utf8_seq(const unsigned char *s, size_t left);

/*
 * The NUL-terminated string s rendered for one cell of a text table, into
 * out (outlen >= 1); returns out. Bytes below 0x20, 0x7f, the C1 controls
 * (U+0080..U+009F, which terminals also obey when they come as UTF-8) and
 * every byte that is not part of a valid UTF-8 sequence become "\xNN";
 * printable ASCII and other valid UTF-8 pass through. A backslash is kept
 * as it is, so RFC 2253 escapes in certificate names stay readable. What
 * does not fit in out is cut before the first unit (a byte, an escape or a
 * whole UTF-8 sequence) that would not fit, never inside one.
 */
const char *cp_text_cell(const char *s, char *out, size_t outlen);

/* An IPv4 address in dotted decimal, as inet_ntop() writes it; returns its length (7..15). */
size_t cp_ipv4_text(const uint8_t a[4], char out[16]);

#endif /* CP_TEXT_H */
