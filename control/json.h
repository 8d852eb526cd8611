/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON lines writer: one bounded object per flow and per new chain, with strict string escaping. */
#ifndef CP_JSON_H
#define CP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "cp.h"

/*
 * Worst case of one object: 8 certificates with 512-byte subject and issuer
 * and a 1024-byte SAN list, each byte escaped to 6 ("\u00XX"), plus 16
 * signals of 48 + 256 bytes escaped, plus SNI and ALPN: below 160 KiB.
 * A line that would not fit is refused (-ENOSPC), never cut.
 */
#define CP_JSON_LINE_MAX (256u * 1024u)

/* ISO-8601 text of a capture time: "2019-07-18T09:00:01.123456Z" (27 chars + NUL). */
#define CP_JSON_TIME_LEN 28

/* A bounded output buffer; overflow is sticky and checked once at the end. */
struct cp_jbuf {
	char *p;
	size_t len;
	size_t cap;
	int overflow;
};

void cp_jbuf_init(struct cp_jbuf *b, char *mem, size_t cap);

/* Raw bytes, no escaping. */
void cp_jbuf_raw(struct cp_jbuf *b, const char *s, size_t n);

/*
 * A JSON string literal with quotes. Quote, backslash and control bytes are
 * escaped; valid UTF-8 sequences pass through; every byte that is not part
 * of a valid UTF-8 sequence (including overlongs, surrogates and code points
 * above U+10FFFF) becomes "\u00XX" so the output is always valid UTF-8.
 * Stops at n bytes or the first NUL.
 */
void cp_jbuf_str(struct cp_jbuf *b, const char *s, size_t n);

/* Capture time in ns since the epoch -> "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (UTC, microseconds). */
int cp_json_iso_time(uint64_t ts_ns, char out[CP_JSON_TIME_LEN]);

/* "TLS 1.2", "SSL 3.0", ... or "0x%04x" for anything else; out needs 8 bytes. */
void cp_json_tls_version(uint16_t v, char out[8]);

/*
 * Write one flow object (with trailing newline) into b. ev must already be
 * anonymised. v may have chain == NULL (chain not visible -> "chain": []).
 * Returns 0, or -ENOSPC when it did not fit (b is then unusable).
 */
int cp_json_flow(struct cp_jbuf *b, const struct cw_flow_event *ev, const struct cp_verdict *v);

/* Write one chain object (with trailing newline); ts_ns is the capture time of first sighting. */
int cp_json_chain(struct cp_jbuf *b, const struct cp_chain *c, uint64_t ts_ns);

#endif /* CP_JSON_H */
