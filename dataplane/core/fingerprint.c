/* SPDX-License-Identifier: BSD-3-Clause */
/* JA3, JA3S and JA4 fingerprints, streamed into their digests without per-call allocation. */
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* See struct fp_md: the non-EVP digests are used on purpose. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "cw_cursor.h"
#include "fingerprint.h"

#define JA4_HASH_HEX 12
#define EXT_SERVER_NAME 0x0000
#define EXT_ALPN 0x0010
#define EXT_SIGNATURE_ALGORITHMS 0x000d

/*
 * Largest number of u16 values a list can hold: cipher_suites<2..2^16-2>.
 * JA4 sorts ciphers, so a copy is needed; it lives in thread-local storage
 * rather than on the stack (64 KiB) or the heap.
 */
#define FP_MAX_U16 32768

static _Thread_local uint16_t fp_tmp[FP_MAX_U16];

/* Most extensions an extension block (at most 2^16 - 1 bytes, 4 per extension) can hold. */
#define FP_MAX_EXT 16384

/* Every extension type of a hello with more than CW_TLS_MAX_EXT; JA4's selection of them. */
static _Thread_local uint16_t fp_ext[FP_MAX_EXT], fp_ext_sel[FP_MAX_EXT];

/*
 * Digests. OpenSSL 3.0's EVP_DigestInit frees and re-creates the provider
 * context on every init (and EVP_MD_CTX_copy duplicates it), so an EVP
 * context cannot be reused without a heap allocation per fingerprint. The
 * plain MD5/SHA-256 contexts live on the stack and allocate nothing; they
 * are deprecated in 3.0 but still part of its ABI, hence the suppression.
 */
struct fp_md {
	int sha256;
	union {
		MD5_CTX md5;
		SHA256_CTX sha256;
	} u;
};

static void
fp_md_init(struct fp_md *m, int sha256)
{
	m->sha256 = sha256;
	if (sha256)
		SHA256_Init(&m->u.sha256);
	else
		MD5_Init(&m->u.md5);
}

static void
fp_md_update(struct fp_md *m, const void *p, size_t n)
{
	if (m->sha256)
		SHA256_Update(&m->u.sha256, p, n);
	else
		MD5_Update(&m->u.md5, p, n);
}

/* Writes 32 (SHA-256) or 16 (MD5) bytes. */
static void
fp_md_final(struct fp_md *m, uint8_t *out)
{
	if (m->sha256)
		SHA256_Final(out, &m->u.sha256);
	else
		MD5_Final(out, &m->u.md5);
}

/*
 * Where text goes: an optional bounded string (len counts every character,
 * even those cut off at outsz-1) and an optional digest fed through a small
 * staging buffer so short writes do not each cost a digest call.
 */
struct fp_sink {
	char *out;
	size_t outsz;
	size_t len;
	struct fp_md *md;
	size_t stage_len;
	char stage[256];
};

static void
sink_flush(struct fp_sink *s)
{
	if (s->md != NULL && s->stage_len > 0)
		fp_md_update(s->md, s->stage, s->stage_len);
	s->stage_len = 0;
}

static void
sink_put(struct fp_sink *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s->out != NULL && s->len + 1 < s->outsz)
			s->out[s->len] = p[i];
		s->len++;
		if (s->md != NULL) {
			if (s->stage_len == sizeof(s->stage))
				sink_flush(s);
			s->stage[s->stage_len++] = p[i];
		}
	}
}

static void
sink_init(struct fp_sink *s, char *out, size_t outsz, struct fp_md *md)
{
	s->out = out;
	s->outsz = outsz;
	s->len = 0;
	s->md = md;
	s->stage_len = 0;
	if (out != NULL && outsz > 0)
		out[0] = '\0';
}

static void
sink_end(struct fp_sink *s)
{
	sink_flush(s);
	if (s->out != NULL && s->outsz > 0)
		s->out[s->len < s->outsz ? s->len : s->outsz - 1] = '\0';
}

/* Decimal without snprintf: JA3 formats every list entry, and printf parsing dominated. */
static void
sink_dec(struct fp_sink *s, unsigned int v)
{
	char b[10];
	size_t i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && i > 0);
	sink_put(s, b + i, sizeof(b) - i);
}

static const char hexdig[] = "0123456789abcdef";

static void
sink_hex4(struct fp_sink *s, uint16_t v)
{
	char b[4] = {hexdig[v >> 12], hexdig[(v >> 8) & 15], hexdig[(v >> 4) & 15], hexdig[v & 15]};

	sink_put(s, b, sizeof(b));
}

/*
 * Every 16 input bytes at once where SSE2 is there (the JA3 and JA3S digests, chain ids: one
 * step each, against ~11 instructions per byte one at a time): the high and low nibbles are
 * interleaved, then each becomes '0' + v, plus 'a' - '0' - 10 where v > 9. The rest byte by byte.
 */
void
cw_hex(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;

#if defined(__SSE2__)
	const __m128i nib = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9);
	const __m128i digit0 = _mm_set1_epi8('0'), gap = _mm_set1_epi8('a' - '0' - 10);

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		__m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), nib), lo = _mm_and_si128(x, nib);
		__m128i a = _mm_unpacklo_epi8(hi, lo), b = _mm_unpackhi_epi8(hi, lo);

		a = _mm_add_epi8(_mm_add_epi8(a, digit0), _mm_and_si128(_mm_cmpgt_epi8(a, nine), gap));
		b = _mm_add_epi8(_mm_add_epi8(b, digit0), _mm_and_si128(_mm_cmpgt_epi8(b, nine), gap));
		_mm_storeu_si128((__m128i *)(void *)(out + 2 * i), a);
		_mm_storeu_si128((__m128i *)(void *)(out + 2 * i + 16), b);
	}
#endif
	for (; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A cursor over a view that may be empty with a NULL pointer (NULL + 0 is undefined in C). */
static struct cw_cur
view_cur(struct cw_view v)
{
	static const uint8_t none[1];

	return v.p != NULL ? cw_cur_init(v.p, v.len) : cw_cur_init(none, 0);
}

/*
 * Every extension type of a hello, in wire order: the types it keeps, or
 * for a hello with more than CW_TLS_MAX_EXT (CW_TLS_A_TOO_MANY_EXT) all of
 * them, read again from its extension block into fp_ext.
 */
static size_t
ext_types(const uint16_t *kept, uint16_t n_kept, struct cw_view block, uint32_t anomalies,
	  const uint16_t **types)
{
	struct cw_cur c = view_cur(block), e;
	size_t n = 0;
	uint16_t t;

	if (!(anomalies & CW_TLS_A_TOO_MANY_EXT)) {
		*types = kept;
		return n_kept;
	}
	while (n < FP_MAX_EXT && cw_u16(&c, &t) == CW_OK && cw_vec(&c, 2, &e) == CW_OK)
		fp_ext[n++] = t;
	*types = fp_ext;
	return n;
}

/*
 * u16 values of a wire list, GREASE dropped when asked, into fp_tmp.
 * An SSLv2 cipher list holds 3-byte specs: only those of the form 00 XX YY
 * are TLS cipher suites (RFC 5246 Appendix E.2); SSLv2-only kinds have no
 * 16-bit value and are left out.
 */
static size_t
collect_u16(struct cw_view v, int v2specs, int drop_grease)
{
	struct cw_cur c = view_cur(v);
	size_t n = 0;
	uint16_t x;
	uint8_t hi;

	while (n < FP_MAX_U16) {
		if (v2specs) {
			if (cw_u8(&c, &hi) != CW_OK || cw_u16(&c, &x) != CW_OK)
				break;
			if (hi != 0)
				continue;
		} else if (cw_u16(&c, &x) != CW_OK) {
			break;
		}
		if (drop_grease && cw_tls_is_grease(x))
			continue;
		fp_tmp[n++] = x;
	}
	return n;
}

static void
put_dec_list(struct fp_sink *s, const uint16_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			sink_put(s, "-", 1);
		sink_dec(s, v[i]);
	}
}

static void
finish_md5(struct fp_sink *s, char md5hex[CW_MD5_HEX])
{
	uint8_t d[MD5_DIGEST_LENGTH];

	sink_end(s);
	fp_md_final(s->md, d);
	cw_hex(d, sizeof(d), md5hex);
}

static struct fp_sink *
begin_md5(struct fp_sink *s, struct fp_md *md, char *str, size_t strsz)
{
	fp_md_init(md, 0);
	sink_init(s, str, strsz, md);
	return s;
}

/*
 * JA3 (salesforce/ja3 README):
 *   SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats
 * decimal, '-' inside a field, GREASE removed from ciphers, extensions and
 * groups, empty fields left empty. The version is the ClientHello
 * legacy_version, never supported_versions.
 */
size_t
cw_ja3(const struct cw_client_hello *ch, char *str, size_t strsz, char md5hex[CW_MD5_HEX])
{
	struct fp_md md;
	struct fp_sink sk, *s = begin_md5(&sk, &md, str, strsz);
	struct cw_cur c;
	const uint16_t *ext;
	size_t n, i, k, next = ext_types(ch->ext, ch->n_ext, ch->exts, ch->anomalies, &ext);
	uint8_t pf;

	sink_dec(s, ch->legacy_version);
	sink_put(s, ",", 1);
	n = collect_u16(ch->ciphers, ch->sslv2, 1);
	put_dec_list(s, fp_tmp, n);
	sink_put(s, ",", 1);
	for (i = 0, k = 0; i < next; i++) {
		if (cw_tls_is_grease(ext[i]))
			continue;
		if (k++ > 0)
			sink_put(s, "-", 1);
		sink_dec(s, ext[i]);
	}
	sink_put(s, ",", 1);
	n = collect_u16(ch->groups, 0, 1);
	put_dec_list(s, fp_tmp, n);
	sink_put(s, ",", 1);
	c = view_cur(ch->point_formats);
	for (k = 0; cw_u8(&c, &pf) == CW_OK; k++) {
		if (k > 0)
			sink_put(s, "-", 1);
		sink_dec(s, pf);
	}
	finish_md5(s, md5hex);
	return s->len;
}

/* JA3S = "SSLVersion,Cipher,Extensions"; the reference keeps GREASE here, and so do we. */
size_t
cw_ja3s(const struct cw_server_hello *sh, char *str, size_t strsz, char md5hex[CW_MD5_HEX])
{
	struct fp_md md;
	struct fp_sink sk, *s = begin_md5(&sk, &md, str, strsz);
	const uint16_t *ext;
	size_t next = ext_types(sh->ext, sh->n_ext, sh->exts, sh->anomalies, &ext);

	sink_dec(s, sh->legacy_version);
	sink_put(s, ",", 1);
	sink_dec(s, sh->cipher);
	sink_put(s, ",", 1);
	put_dec_list(s, ext, next);
	finish_md5(s, md5hex);
	return s->len;
}

/* ---- JA4 ---- */

/* In-place heapsort: O(n log n) for hostile list sizes, and no allocation (unlike qsort). */
static void
sift_down(uint16_t *a, size_t root, size_t n)
{
	size_t child;
	uint16_t t;

	while ((child = 2 * root + 1) < n) {
		if (child + 1 < n && a[child + 1] > a[child])
			child++;
		if (a[root] >= a[child])
			return;
		t = a[root];
		a[root] = a[child];
		a[child] = t;
		root = child;
	}
}

static void
sort_u16(uint16_t *a, size_t n)
{
	size_t i;
	uint16_t t;

	if (n < 2)
		return;
	for (i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (i = n - 1; i > 0; i--) {
		t = a[0];
		a[0] = a[i];
		a[i] = t;
		sift_down(a, 0, i);
	}
}

static const char *
ja4_version(uint16_t v)
{
	switch (v) {
	case 0x0304:
		return "13";
	case 0x0303:
		return "12";
	case 0x0302:
		return "11";
	case 0x0301:
		return "10";
	case 0x0300:
		return "s3";
	case 0x0002:
		return "s2";
	case 0xfeff:
		return "d1";
	case 0xfefd:
		return "d2";
	case 0xfefc:
		return "d3";
	default:
		return "00";
	}
}

static int
is_alnum(uint8_t b)
{
	return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
}

/*
 * First and last character of the first ALPN name (JA4.md "ALPN Extension
 * Value"): "00" when absent or empty; the two bytes themselves when both are
 * ASCII alphanumeric (one byte counts as both); else the first and last
 * characters of the name's hex form, i.e. the high nibble of the first byte
 * and the low nibble of the last.
 */
static void
ja4_alpn(const struct cw_client_hello *ch, char out[2])
{
	struct cw_cur c = view_cur(ch->alpn);
	struct cw_cur name;
	uint8_t f, l;

	out[0] = out[1] = '0';
	if (cw_vec(&c, 1, &name) != CW_OK || cw_empty(&name))
		return;
	f = name.p[0];
	l = name.end[-1];
	if (is_alnum(f) && is_alnum(l)) {
		out[0] = (char)f;
		out[1] = (char)l;
	} else {
		out[0] = hexdig[f >> 4];
		out[1] = hexdig[l & 15];
	}
}

static void
put_hex_list(struct fp_sink *s, const uint16_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			sink_put(s, ",", 1);
		sink_hex4(s, v[i]);
	}
}

/* A hashed section: 12 hex of SHA-256, or twelve zeros for an empty list (JA4.md). */
static void
put_sha12(struct fp_sink *out, struct fp_sink *h, size_t nvalues)
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	char hex[JA4_HASH_HEX + 1];

	sink_end(h);
	fp_md_final(h->md, d);
	if (nvalues == 0) {
		sink_put(out, "000000000000", JA4_HASH_HEX);
		return;
	}
	cw_hex(d, JA4_HASH_HEX / 2, hex);
	sink_put(out, hex, JA4_HASH_HEX);
}

/* Where a section's text goes: straight into the output (raw kinds) or into SHA-256. */
static struct fp_sink *
section_begin(struct fp_sink *out, struct fp_sink *h, struct fp_md *md, int raw)
{
	if (raw)
		return out;
	fp_md_init(md, 1);
	sink_init(h, NULL, 0, md);
	return h;
}

/*
 * JA4 (technical_details/JA4.md):
 *   a: proto, version, SNI d/i, cipher count, extension count, ALPN chars
 *   b: cipher list, 4-hex, comma separated (sorted unless _o)
 *   c: extension list (sorted without SNI/ALPN; _o keeps both, wire order),
 *      then '_' and the signature algorithms in wire order if there are any
 * GREASE is removed everywhere, signature algorithms included. _r and _ro
 * print b and c raw; JA4 and _o print 12 hex of their SHA-256.
 */
size_t
cw_ja4(const struct cw_client_hello *ch, char proto, enum cw_ja4_kind kind, char *out, size_t outsz)
{
	int raw = kind == CW_JA4_R || kind == CW_JA4_RO;
	int orig = kind == CW_JA4_O || kind == CW_JA4_RO;
	struct fp_sink o, h, *s;
	struct fp_md md;
	uint16_t *ext = fp_ext_sel;
	const uint16_t *all;
	size_t n, next_all = 0, next = 0, i;
	size_t nall = ext_types(ch->ext, ch->n_ext, ch->exts, ch->anomalies, &all);
	char a[10];

	sink_init(&o, out, outsz, NULL);

	for (i = 0; i < nall; i++) {
		if (cw_tls_is_grease(all[i]))
			continue;
		next_all++;
		if (!orig && (all[i] == EXT_SERVER_NAME || all[i] == EXT_ALPN))
			continue;
		ext[next++] = all[i];
	}
	n = collect_u16(ch->ciphers, ch->sslv2, 1);

	a[0] = proto;
	memcpy(a + 1, ja4_version(ch->version), 2);
	a[3] = ch->has_sni ? 'd' : 'i';
	a[4] = (char)('0' + (n > 99 ? 99 : n) / 10);
	a[5] = (char)('0' + (n > 99 ? 99 : n) % 10);
	a[6] = (char)('0' + (next_all > 99 ? 99 : next_all) / 10);
	a[7] = (char)('0' + (next_all > 99 ? 99 : next_all) % 10);
	ja4_alpn(ch, a + 8);
	sink_put(&o, a, sizeof(a));
	sink_put(&o, "_", 1);

	if (!orig)
		sort_u16(fp_tmp, n);
	s = section_begin(&o, &h, &md, raw);
	put_hex_list(s, fp_tmp, n);
	if (!raw)
		put_sha12(&o, &h, n);
	sink_put(&o, "_", 1);

	if (!orig)
		sort_u16(ext, next);
	s = section_begin(&o, &h, &md, raw);
	put_hex_list(s, ext, next);
	n = collect_u16(ch->sigalgs, 0, 1);
	if (n > 0) {
		sink_put(s, "_", 1);
		put_hex_list(s, fp_tmp, n);
	}
	if (!raw)
		put_sha12(&o, &h, next);
	sink_end(&o);
	return o.len;
}
