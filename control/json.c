/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON lines writer: one bounded object per flow and per new chain, with strict string escaping. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "text.h"

void
cp_jbuf_init(struct cp_jbuf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->overflow = 0;
}

void
cp_jbuf_raw(struct cp_jbuf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
jb_lit(struct cp_jbuf *b, const char *s)
{
	cp_jbuf_raw(b, s, strlen(s));
}

static void jb_fmt(struct cp_jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
jb_fmt(struct cp_jbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->overflow = 1;
		return;
	}
	cp_jbuf_raw(b, tmp, (size_t)n);
}

/* A string known to need no escaping (names of this program's own tables), quoted. */
static void
jb_qlit(struct cp_jbuf *b, const char *s)
{
	cp_jbuf_raw(b, "\"", 1);
	jb_lit(b, s);
	cp_jbuf_raw(b, "\"", 1);
}

/* Decimal, as printf's %u / PRIu64 writes it. */
static void
jb_u64(struct cp_jbuf *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	cp_jbuf_raw(b, tmp + i, sizeof(tmp) - i);
}

/* Decimal, as printf's %d / PRId64 writes it. */
static void
jb_i64(struct cp_jbuf *b, int64_t v)
{
	if (v < 0) {
		cp_jbuf_raw(b, "-", 1);
		jb_u64(b, (uint64_t)0 - (uint64_t)v);
		return;
	}
	jb_u64(b, (uint64_t)v);
}

/* n decimal digits of v, zero-padded, at out (printf's %0*u for v < 10^n). */
static void
put_digits(char *out, unsigned int v, unsigned int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * UTC calendar fields of t seconds since the epoch, for years 0 to 9999 (proleptic Gregorian,
 * as gmtime_r); -ERANGE outside them. Days to civil date: H. Hinnant, "chrono-Compatible
 * Low-Level Date Algorithms", civil_from_days. Pure arithmetic: no time-zone state, no lock.
 */
struct jb_civil {
	unsigned int year, mon, mday, hour, min, sec;
};

static int
jb_civil_of(int64_t t, struct jb_civil *c)
{
	/* Years 0..9999: -62167219200 (0000-01-01) to 253402300799 (9999-12-31T23:59:59). */
	const int64_t lo = -62167219200LL, hi = 253402300799LL;
	int64_t days, secs, z, era, doe, yoe, y, doy, mp, m;

	if (t < lo || t > hi)
		return -ERANGE;
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	c->year = (unsigned int)(y + (m <= 2));
	c->mon = (unsigned int)m;
	c->mday = (unsigned int)(doy - (153 * mp + 2) / 5 + 1);
	c->hour = (unsigned int)(secs / 3600);
	c->min = (unsigned int)(secs / 60 % 60);
	c->sec = (unsigned int)(secs % 60);
	return 0;
}

/* "YYYY-MM-DDTHH:MM:SS" (19 bytes, no NUL) at out. */
static void
put_civil(char *out, const struct jb_civil *c)
{
	put_digits(out, c->year, 4);
	out[4] = '-';
	put_digits(out + 5, c->mon, 2);
	out[7] = '-';
	put_digits(out + 8, c->mday, 2);
	out[10] = 'T';
	put_digits(out + 11, c->hour, 2);
	out[13] = ':';
	put_digits(out + 14, c->min, 2);
	out[16] = ':';
	put_digits(out + 17, c->sec, 2);
}

/* Bytes that go out as they are: printable ASCII other than the quote and the backslash. */
static inline int
jb_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void
cp_jbuf_str(struct cp_jbuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, k;
	char esc[8];

	cp_jbuf_raw(b, "\"", 1);
	while (i < n && s[i] != '\0') {
		unsigned char c = s[i];

		if (jb_plain(c)) {
			/* A run of plain bytes in one copy: names and hex digests are mostly that. */
			k = i + 1;
			while (k < n && jb_plain(s[k]))
				k++;
			cp_jbuf_raw(b, (const char *)&s[i], k - i);
			i = k;
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			cp_jbuf_raw(b, esc, 2);
			i++;
		} else if (c == '\n') {
			cp_jbuf_raw(b, "\\n", 2);
			i++;
		} else if (c == '\r') {
			cp_jbuf_raw(b, "\\r", 2);
			i++;
		} else if (c == '\t') {
			cp_jbuf_raw(b, "\\t", 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			cp_jbuf_raw(b, esc, 6);
			i++;
		} else {
			/* A NUL inside the sequence ends the string there, so bound by it. */
			size_t left = 0;

			while (i + left < n && s[i + left] != '\0' && left < 4)
				left++;
			k = cp_utf8_seq(&s[i], left);
			if (k > 0) {
				cp_jbuf_raw(b, (const char *)&s[i], k);
				i += k;
			} else {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				cp_jbuf_raw(b, esc, 6);
				i++;
			}
		}
	}
	cp_jbuf_raw(b, "\"", 1);
}

static void
jb_cstr(struct cp_jbuf *b, const char *s, size_t max)
{
	cp_jbuf_str(b, s, strnlen(s, max));
}

int
cp_json_iso_time(uint64_t ts_ns, char out[CP_JSON_TIME_LEN])
{
	struct jb_civil c;

	if (ts_ns / 1000000000u > INT64_MAX ||
	    jb_civil_of((int64_t)(ts_ns / 1000000000u), &c) < 0)
		return -EINVAL;
	put_civil(out, &c);
	out[19] = '.';
	put_digits(out + 20, (unsigned int)((ts_ns % 1000000000u) / 1000u), 6);
	out[26] = 'Z';
	out[27] = '\0';
	return 0;
}

/* Certificate validity in whole seconds: "YYYY-MM-DDTHH:MM:SSZ"; null outside years 0-9999. */
static void
jb_cert_time(struct cp_jbuf *b, int64_t t)
{
	struct jb_civil c;
	char out[21];

	if (jb_civil_of(t, &c) < 0) {
		jb_lit(b, "null");
		return;
	}
	out[0] = '"';
	put_civil(out + 1, &c);
	out[20] = 'Z';
	cp_jbuf_raw(b, out, sizeof(out));
	cp_jbuf_raw(b, "\"", 1);
}

static void
jb_time(struct cp_jbuf *b, uint64_t ts_ns)
{
	char t[CP_JSON_TIME_LEN];

	if (cp_json_iso_time(ts_ns, t) < 0) {
		jb_lit(b, "null");
		return;
	}
	jb_qlit(b, t);
}

void
cp_json_tls_version(uint16_t v, char out[8])
{
	switch (v) {
	case 0x0002:
		strcpy(out, "SSL 2.0");
		break;
	case 0x0300:
		strcpy(out, "SSL 3.0");
		break;
	case 0x0301:
		strcpy(out, "TLS 1.0");
		break;
	case 0x0302:
		strcpy(out, "TLS 1.1");
		break;
	case 0x0303:
		strcpy(out, "TLS 1.2");
		break;
	case 0x0304:
		strcpy(out, "TLS 1.3");
		break;
	default:
		snprintf(out, 8, "0x%04x", v);
		break;
	}
}

static void
jb_addr(struct cp_jbuf *b, uint8_t ipver, const uint8_t addr[16])
{
	char txt[INET6_ADDRSTRLEN];

	if (ipver == 4) {
		cp_ipv4_text(addr, txt);
		jb_qlit(b, txt);
		return;
	}
	if (inet_ntop(AF_INET6, addr, txt, sizeof(txt)) == NULL) {
		jb_lit(b, "null");
		return;
	}
	jb_qlit(b, txt);
}

static void
jb_hex(struct cp_jbuf *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char out[2];
	size_t i;

	cp_jbuf_raw(b, "\"", 1);
	for (i = 0; i < n; i++) {
		out[0] = digits[p[i] >> 4];
		out[1] = digits[p[i] & 15];
		cp_jbuf_raw(b, out, 2);
	}
	cp_jbuf_raw(b, "\"", 1);
}

/* A cipher suite as "0x%04x" writes it. */
static void
jb_cipher(struct cp_jbuf *b, uint16_t v)
{
	static const char digits[] = "0123456789abcdef";
	char out[8] = {'"', '0', 'x', digits[v >> 12], digits[(v >> 8) & 15], digits[(v >> 4) & 15],
		       digits[v & 15], '"'};

	cp_jbuf_raw(b, out, sizeof(out));
}

static int
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* ALPN ProtocolNameList contents (RFC 7301 3.1): opaque ProtocolName<1..2^8-1> back to back. */
static void
jb_alpn(struct cp_jbuf *b, const uint8_t *p, size_t n)
{
	size_t off = 0;
	int first = 1;

	cp_jbuf_raw(b, "[", 1);
	while (off < n) {
		size_t l = p[off++];

		if (l == 0 || l > n - off)
			break; /* the dataplane cuts at a name boundary; anything else is noise */
		if (!first)
			cp_jbuf_raw(b, ",", 1);
		cp_jbuf_str(b, (const char *)&p[off], l);
		first = 0;
		off += l;
	}
	cp_jbuf_raw(b, "]", 1);
}

struct flag_name {
	uint32_t bit;
	const char *name;
};

static const struct flag_name evf_names[] = {
	{CW_EVF_HRR, "hello_retry_request"},
	{CW_EVF_DOWNGRADE12, "downgrade_sentinel_tls12"},
	{CW_EVF_DOWNGRADE11, "downgrade_sentinel_tls11"},
	{CW_EVF_SSLV2, "sslv2_client_hello"},
	{CW_EVF_MIDSTREAM, "midstream"},
	{CW_EVF_ECH, "ech"},
	{CW_EVF_PSK, "psk"},
	{CW_EVF_EARLY_DATA, "early_data"},
	{CW_EVF_RESUMED, "resumed"},
	{CW_EVF_BLOB_DROPPED, "chain_blob_dropped"},
	{CW_EVF_CLIENT_ABORT, "client_abort"},
	{CW_EVF_SESSION_TICKET, "session_ticket"},
	{CW_EVF_PREAMBLE, "preamble"},
};

static const struct flag_name eva_names[] = {
	{CW_EVA_OOO, "out_of_order"},
	{CW_EVA_RETRANS, "retransmission"},
	{CW_EVA_OVERLAP_CONFLICT, "overlap_conflict"},
	{CW_EVA_CAP, "reassembly_cap"},
	{CW_EVA_OOO_FULL, "out_of_order_full"},
	{CW_EVA_DUP_EXT, "duplicate_extension"},
	{CW_EVA_BAD_RECORD, "bad_record"},
	{CW_EVA_BAD_HELLO, "bad_hello"},
	{CW_EVA_BAD_CERT, "bad_certificate_message"},
	{CW_EVA_CHAIN_TRUNC, "chain_truncated"},
	{CW_EVA_SNI_TRUNC, "sni_truncated"},
	{CW_EVA_ALPN_TRUNC, "alpn_truncated"},
	{CW_EVA_DUP_CH, "duplicate_client_hello"},
	{CW_EVA_URG, "tcp_urgent"},
	{CW_EVA_IP_OPTS, "ip_options"},
	{CW_EVA_TOO_MANY_EXT, "too_many_extensions"},
	{CW_EVA_BAD_RST, "rst_out_of_window"},
	{CW_EVA_TCP_OPTS, "tcp_options_malformed"},
	{CW_EVA_BAD_CSUM, "bad_checksum"},
	{CW_EVA_NO_ACK, "tcp_no_ack"},
	{CW_EVA_TCP_SIG, "tcp_signature_option"},
	{CW_EVA_IP_FRAG, "ip_fragments"},
	{CW_EVA_BAD_SYN, "syn_not_taken"},
};

static const char *const end_names[CW_END__MAX] = {
	[CW_END_DONE] = "done",
	[CW_END_FIN] = "fin",
	[CW_END_RST] = "rst",
	[CW_END_IDLE] = "idle_timeout",
	[CW_END_HS_TIMEOUT] = "handshake_timeout",
	[CW_END_EVICTED] = "evicted",
	[CW_END_NOT_TLS] = "not_tls",
	[CW_END_BAD] = "malformed",
	[CW_END_NO_BUFFER] = "no_buffer",
	[CW_END_SHUTDOWN] = "shutdown",
};

static void
jb_flags(struct cp_jbuf *b, uint32_t v, const struct flag_name *t, size_t n)
{
	size_t i;
	int first = 1;

	cp_jbuf_raw(b, "[", 1);
	for (i = 0; i < n; i++) {
		if (!(v & t[i].bit))
			continue;
		if (!first)
			cp_jbuf_raw(b, ",", 1);
		jb_qlit(b, t[i].name);
		first = 0;
	}
	cp_jbuf_raw(b, "]", 1);
}

/* One certificate; full = 1 adds the fields only the chain object carries. */
static void
jb_cert(struct cp_jbuf *b, const struct cp_cert *c, int full)
{
	jb_lit(b, "{\"sha256\":");
	jb_cstr(b, c->sha256, sizeof(c->sha256));
	jb_lit(b, ",\"spki_sha256\":");
	jb_cstr(b, c->spki_sha256, sizeof(c->spki_sha256));
	jb_lit(b, ",\"subject\":");
	jb_cstr(b, c->subject, sizeof(c->subject));
	jb_lit(b, ",\"issuer\":");
	jb_cstr(b, c->issuer, sizeof(c->issuer));
	jb_lit(b, ",\"not_before\":");
	jb_cert_time(b, c->not_before);
	jb_lit(b, ",\"not_after\":");
	jb_cert_time(b, c->not_after);
	if (full) {
		jb_lit(b, ",\"serial\":");
		jb_cstr(b, c->serial, sizeof(c->serial));
		jb_lit(b, ",\"key_type\":");
		jb_cstr(b, c->key_type, sizeof(c->key_type));
		jb_lit(b, ",\"key_bits\":");
		jb_i64(b, c->key_bits);
		if (c->rsa_e != 0) {
			jb_lit(b, ",\"rsa_e\":");
			jb_u64(b, c->rsa_e);
		}
		jb_lit(b, ",\"sig_alg\":");
		jb_cstr(b, c->sig_alg, sizeof(c->sig_alg));
		jb_lit(b, ",\"ski\":");
		jb_cstr(b, c->ski, sizeof(c->ski));
		jb_lit(b, ",\"aki\":");
		jb_cstr(b, c->aki, sizeof(c->aki));
		jb_lit(b, ",\"san\":");
		jb_cstr(b, c->san, sizeof(c->san));
		jb_lit(b, (c->ext & CP_EXT_SCT) ? ",\"has_sct\":true" : ",\"has_sct\":false");
		jb_lit(b, (c->ext & CP_EXT_AIA) ? ",\"has_aia\":true" : ",\"has_aia\":false");
		jb_lit(b, (c->ext & CP_EXT_CRLDP) ? ",\"has_crldp\":true" : ",\"has_crldp\":false");
	}
	jb_lit(b, "}");
}

static void
jb_certs(struct cp_jbuf *b, const struct cp_chain *c, int full)
{
	unsigned int i, n;

	cp_jbuf_raw(b, "[", 1);
	if (c != NULL) {
		n = c->n < CP_MAX_CERTS ? c->n : CP_MAX_CERTS;
		for (i = 0; i < n; i++) {
			if (i > 0)
				cp_jbuf_raw(b, ",", 1);
			jb_cert(b, c->cert[i], full);
		}
	}
	cp_jbuf_raw(b, "]", 1);
}

static void
jb_anchor(struct cp_jbuf *b, const struct cp_chain *c)
{
	if (c == NULL || c->anchor_match < 0) {
		jb_lit(b, "null");
		return;
	}
	jb_lit(b, "{\"name\":");
	jb_cstr(b, c->anchor_name, sizeof(c->anchor_name));
	jb_lit(b, ",\"category\":");
	jb_cstr(b, c->anchor_category, sizeof(c->anchor_category));
	jb_lit(b, "}");
}

static double
clamp01(double x)
{
	/* NaN fails both comparisons and would print as invalid JSON. */
	if (!(x >= 0.0))
		return 0.0;
	if (x > 1.0)
		return 1.0;
	return x;
}

static int
jb_finish(struct cp_jbuf *b)
{
	cp_jbuf_raw(b, "\n", 1);
	return b->overflow ? -ENOSPC : 0;
}

int
cp_json_flow(struct cp_jbuf *b, const struct cw_flow_event *ev, const struct cp_verdict *v)
{
	const struct cp_chain *c = v->chain;
	char ver[8];
	unsigned int i, nsig;

	jb_lit(b, "{\"type\":\"flow\",\"ts\":");
	jb_time(b, ev->ts_ns);
	jb_lit(b, ",\"ts_last\":");
	jb_time(b, ev->ts_last_ns);
	jb_lit(b, ",\"src_ip\":");
	jb_addr(b, ev->ipver, ev->cli_addr);
	jb_lit(b, ",\"src_port\":");
	jb_u64(b, ev->cli_port);
	jb_lit(b, ",\"dst_ip\":");
	jb_addr(b, ev->ipver, ev->srv_addr);
	jb_lit(b, ",\"dst_port\":");
	jb_u64(b, ev->srv_port);
	jb_lit(b, ",\"ip_version\":");
	jb_u64(b, ev->ipver);
	jb_lit(b, ",\"worker\":");
	jb_u64(b, ev->worker);
	jb_lit(b, ",\"end_reason\":");
	if (ev->end_reason < CW_END__MAX)
		jb_qlit(b, end_names[ev->end_reason]);
	else
		jb_fmt(b, "\"%u\"", ev->end_reason);

	jb_lit(b, ",\"tls\":{\"version\":");
	if (ev->flags & CW_EVF_SH) {
		cp_json_tls_version(ev->sh_version, ver);
		jb_qlit(b, ver);
	} else {
		jb_lit(b, "null");
	}
	jb_lit(b, ",\"client_version\":");
	if (ev->flags & CW_EVF_CH) {
		cp_json_tls_version(ev->ch_version, ver);
		jb_qlit(b, ver);
	} else {
		jb_lit(b, "null");
	}
	jb_lit(b, ",\"cipher\":");
	if (ev->flags & CW_EVF_SH)
		jb_cipher(b, ev->cipher);
	else
		jb_lit(b, "null");
	jb_lit(b, ",\"sni\":");
	jb_cstr(b, ev->sni, sizeof(ev->sni));
	jb_lit(b, ",\"alpn\":");
	jb_alpn(b, ev->alpn, ev->alpn_len < sizeof(ev->alpn) ? ev->alpn_len : sizeof(ev->alpn));
	jb_lit(b, ",\"alpn_selected\":");
	jb_cstr(b, ev->alpn_sel, sizeof(ev->alpn_sel));
	jb_lit(b, ",\"ja3\":");
	jb_cstr(b, ev->ja3, sizeof(ev->ja3));
	jb_lit(b, ",\"ja3s\":");
	jb_cstr(b, ev->ja3s, sizeof(ev->ja3s));
	jb_lit(b, ",\"ja4\":");
	jb_cstr(b, ev->ja4, sizeof(ev->ja4));
	jb_lit(b, ",\"ncerts\":");
	jb_u64(b, ev->ncerts);
	jb_lit(b, ",\"chain\":");
	jb_certs(b, c, 0);
	jb_lit(b, ",\"chain_id\":");
	if (all_zero(ev->chain_id, sizeof(ev->chain_id)))
		jb_lit(b, "null");
	else
		jb_hex(b, ev->chain_id, sizeof(ev->chain_id));
	if (ev->sh_version == 0x0304 && (ev->flags & CW_EVF_SH)) {
		jb_lit(b, ",\"server_flight_bytes\":");
		jb_u64(b, ev->t13_bytes);
	}
	jb_lit(b, ",\"flags\":");
	jb_flags(b, ev->flags, evf_names, sizeof(evf_names) / sizeof(evf_names[0]));
	jb_lit(b, ",\"anomalies\":");
	jb_flags(b, ev->anomalies, eva_names, sizeof(eva_names) / sizeof(eva_names[0]));
	jb_lit(b, "}");

	jb_lit(b, ",\"verdict\":{\"result\":");
	jb_qlit(b, cp_result_name(v->result));
	jb_fmt(b, ",\"confidence\":%.3f", clamp01(v->confidence));
	jb_lit(b, ",\"name\":");
	jb_cstr(b, v->name, sizeof(v->name));
	jb_lit(b, ",\"path_valid\":");
	if (c != NULL)
		jb_lit(b, c->path_valid ? "true" : "false");
	else
		jb_lit(b, "null");
	jb_lit(b, ",\"anchor\":");
	jb_anchor(b, c);
	jb_lit(b, ",\"signals\":[");
	nsig = v->nsignals < CP_MAX_SIGNALS ? v->nsignals : CP_MAX_SIGNALS;
	for (i = 0; i < nsig; i++) {
		if (i > 0)
			cp_jbuf_raw(b, ",", 1);
		jb_lit(b, "{\"name\":");
		jb_cstr(b, v->sig[i].name, sizeof(v->sig[i].name));
		jb_lit(b, ",\"detail\":");
		jb_cstr(b, v->sig[i].detail, sizeof(v->sig[i].detail));
		jb_lit(b, ",\"weight\":");
		jb_i64(b, v->sig[i].weight);
		jb_lit(b, "}");
	}
	jb_lit(b, "]}}");
	return jb_finish(b);
}

int
cp_json_chain(struct cp_jbuf *b, const struct cp_chain *c, uint64_t ts_ns)
{
	jb_lit(b, "{\"type\":\"chain\",\"ts\":");
	jb_time(b, ts_ns);
	jb_lit(b, ",\"chain_id\":");
	jb_hex(b, c->chain_id, sizeof(c->chain_id));
	jb_lit(b, ",\"ncerts\":");
	jb_u64(b, c->n);
	jb_lit(b, c->path_valid ? ",\"path_valid\":true" : ",\"path_valid\":false");
	jb_lit(b, ",\"path_error\":");
	jb_cstr(b, c->path_error, sizeof(c->path_error));
	jb_lit(b, ",\"path_cached\":");
	jb_u64(b, c->path_cached);
	jb_lit(b, ",\"anchor\":");
	jb_anchor(b, c);
	jb_lit(b, ",\"certs\":");
	jb_certs(b, c, 1);
	jb_lit(b, "}");
	return jb_finish(b);
}
