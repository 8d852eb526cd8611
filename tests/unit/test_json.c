/* SPDX-License-Identifier: BSD-3-Clause */
/* JSON lines writer: string escaping, ISO-8601 capture time and whole flow/chain objects. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "text.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static char mem[CP_JSON_LINE_MAX];

static int has(const char *hay, size_t n, const char *needle);

/* Escape s (n bytes) and compare with want (the literal, quotes included). */
static void
esc(const char *s, size_t n, const char *want)
{
	struct cp_jbuf b;

	cp_jbuf_init(&b, mem, sizeof(mem));
	cp_jbuf_str(&b, s, n);
	if (b.overflow || b.len != strlen(want) || memcmp(mem, want, b.len) != 0) {
		fprintf(stderr, "escape: got %.*s want %s\n", (int)b.len, mem, want);
		failures++;
	}
}

static void
test_escape(void)
{
	esc("plain", 5, "\"plain\"");
	esc("", 0, "\"\"");
	esc("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	esc("\n\r\t", 3, "\"\\n\\r\\t\"");
	esc("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"");
	esc("\b\f", 2, "\"\\u0008\\u000c\"");
	/* Valid UTF-8 passes through: é, €, U+1F600. */
	esc("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* Invalid bytes become \u00XX. */
	esc("\xff", 1, "\"\\u00ff\"");
	esc("\xc3", 1, "\"\\u00c3\"");					/* truncated sequence */
	esc("\xc3(", 2, "\"\\u00c3(\"");				/* bad continuation */
	esc("\xc0\xaf", 2, "\"\\u00c0\\u00af\"");			/* overlong '/' */
	esc("\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\"");		/* overlong 3-byte */
	esc("\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"");		/* UTF-16 surrogate */
	esc("\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\""); /* above U+10FFFF */
	esc("\x80", 1, "\"\\u0080\"");					/* lone continuation */
	/* NUL ends the string, also inside a would-be sequence. */
	esc("ab\0cd", 5, "\"ab\"");
	esc("\xe2\x82\0", 3, "\"\\u00e2\\u0082\"");
	/* n bounds the read even without a NUL. */
	esc("abcdef", 3, "\"abc\"");
}

static void
test_time(void)
{
	char t[CP_JSON_TIME_LEN];

	/* 2019-07-18T09:00:01.123456Z = 1563440401 s. */
	CHECK(cp_json_iso_time(1563440401123456789ull, t) == 0);
	CHECK(strcmp(t, "2019-07-18T09:00:01.123456Z") == 0);
	CHECK(cp_json_iso_time(0, t) == 0);
	CHECK(strcmp(t, "1970-01-01T00:00:00.000000Z") == 0);
	/* Microseconds truncate, never round into the next second. */
	CHECK(cp_json_iso_time(1563440401999999999ull, t) == 0);
	CHECK(strcmp(t, "2019-07-18T09:00:01.999999Z") == 0);
	/* Leap day. */
	CHECK(cp_json_iso_time(951782400000001000ull, t) == 0);
	CHECK(strcmp(t, "2000-02-29T00:00:00.000001Z") == 0);
}

/* The calendar arithmetic against the C library's gmtime_r() and printf, over random times. */
static void
test_time_vs_libc(void)
{
	char t[CP_JSON_TIME_LEN], want[64];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned int i;

	for (i = 0; i < 200000; i++) {
		uint64_t ns;
		time_t sec;
		struct tm tm;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		/* Up to 2^34 s (year 2514), and the first and last second of every day near 0. */
		ns = (seed >> 30) % (1ull << 34) * 1000000000ull + seed % 1000000000ull;
		if (i % 4 == 0)
			ns = (uint64_t)(i / 8) * 86400ull * 1000000000ull +
			     (i % 8 == 0 ? 0 : 86399999999999ull);
		sec = (time_t)(ns / 1000000000ull);
		CHECK(gmtime_r(&sec, &tm) != NULL);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (unsigned int)(ns % 1000000000ull / 1000ull));
		if (cp_json_iso_time(ns, t) != 0 || strcmp(t, want) != 0) {
			fprintf(stderr, "iso time of %llu: got %s want %s\n", (unsigned long long)ns, t,
				want);
			failures++;
			return;
		}
	}
}

/* A certificate's validity as the chain object writes it: "not_before":VALUE. */
static void
cert_time(int64_t t, const char *want)
{
	static struct cp_chain c;
	static struct cp_cert cc;
	char needle[64];
	struct cp_jbuf b;

	memset(&c, 0, sizeof(c));
	memset(&cc, 0, sizeof(cc));
	c.n = 1;
	c.anchor_match = -1;
	c.cert[0] = &cc;
	cc.not_before = t;
	cc.not_after = 0;
	cp_jbuf_init(&b, mem, sizeof(mem));
	CHECK(cp_json_chain(&b, &c, 0) == 0);
	snprintf(needle, sizeof(needle), "\"not_before\":%s,", want);
	if (!has(mem, b.len, needle)) {
		fprintf(stderr, "certificate time %lld: want %s in %.*s\n", (long long)t, needle,
			(int)b.len, mem);
		failures++;
	}
}

static void
test_cert_time(void)
{
	uint64_t seed = 12345;
	unsigned int i;

	cert_time(0, "\"1970-01-01T00:00:00Z\"");
	cert_time(-1, "\"1969-12-31T23:59:59Z\"");
	cert_time(-62167219200LL, "\"0000-01-01T00:00:00Z\"");
	cert_time(-62167219201LL, "null");
	cert_time(253402300799LL, "\"9999-12-31T23:59:59Z\"");
	cert_time(253402300800LL, "null");
	cert_time(INT64_MIN, "null");
	cert_time(INT64_MAX, "null");
	cert_time(951868799, "\"2000-02-29T23:59:59Z\"");
	cert_time(-2203977600LL, "\"1900-02-28T00:00:00Z\""); /* 1900: no leap day */
	cert_time(-2203891200LL, "\"1900-03-01T00:00:00Z\"");
	/* Random times of years 0 to 9999 against gmtime_r(). */
	for (i = 0; i < 2000; i++) {
		char want[40];
		int64_t t;
		time_t tt;
		struct tm tm;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		t = -62167219200LL + (int64_t)((seed >> 11) % 315569520000ull);
		tt = (time_t)t;
		CHECK(gmtime_r(&tt, &tm) != NULL);
		snprintf(want, sizeof(want), "\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		cert_time(t, want);
	}
}

/* The escaping as one byte at a time would write it: the definition the fast path must match. */
static size_t
esc_ref(const unsigned char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;

	out[o++] = '"';
	while (i < n && s[i] != 0) {
		unsigned char c = s[i];
		size_t left = 0, k;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			if (c >= 0x80) {
				while (i + left < n && s[i + left] != 0 && left < 4)
					left++;
				k = cp_utf8_seq(&s[i], left);
				if (k > 0) {
					memcpy(out + o, &s[i], k);
					o += k;
					i += k;
					continue;
				}
			}
			o += (size_t)sprintf(out + o, "\\u%04x", c);
		}
		i++;
	}
	out[o++] = '"';
	return o;
}

static void
test_escape_random(void)
{
	static const unsigned char pick[] = {'a', 'Z', '0', ' ', '~', '"', '\\', '\n', 0x01, 0x7f,
					     0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x80, 0xff, 0};
	uint64_t seed = 7;
	unsigned int i, j;

	for (i = 0; i < 20000; i++) {
		unsigned char s[64];
		char want[64 * 6 + 2];
		size_t n, wl;
		struct cp_jbuf b;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n = (seed >> 33) % sizeof(s);
		for (j = 0; j < n; j++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* Mostly plain letters, so runs of several plain bytes are common. */
			s[j] = (seed >> 40) % 3 ? (unsigned char)('a' + (seed >> 20) % 26)
						: pick[(seed >> 50) % (sizeof(pick) - (i % 2))];
		}
		wl = esc_ref(s, n, want);
		cp_jbuf_init(&b, mem, sizeof(mem));
		cp_jbuf_str(&b, (const char *)s, n);
		if (b.overflow || b.len != wl || memcmp(mem, want, wl) != 0) {
			fprintf(stderr, "escape of random string %u: got %.*s want %.*s\n", i,
				(int)b.len, mem, (int)wl, want);
			failures++;
			return;
		}
	}
}

static void
test_version(void)
{
	char v[8];

	cp_json_tls_version(0x0303, v);
	CHECK(strcmp(v, "TLS 1.2") == 0);
	cp_json_tls_version(0x0304, v);
	CHECK(strcmp(v, "TLS 1.3") == 0);
	cp_json_tls_version(0x7f1c, v);
	CHECK(strcmp(v, "0x7f1c") == 0);
}

static int
has(const char *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static void
test_flow(void)
{
	static struct cw_flow_event ev;
	static struct cp_verdict v;
	static struct cp_chain c;
	static struct cp_cert cc;
	struct cp_jbuf b;
	static const uint8_t alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

	ev.ts_ns = 1563440401123456000ull;
	ev.ts_last_ns = ev.ts_ns + 5000000;
	ev.ipver = 4;
	inet_pton(AF_INET, "10.0.0.1", ev.cli_addr);
	inet_pton(AF_INET, "93.184.216.34", ev.srv_addr);
	ev.cli_port = 51000;
	ev.srv_port = 443;
	ev.flags = CW_EVF_CH | CW_EVF_SH | CW_EVF_CERT | CW_EVF_CHAIN_NEW;
	ev.anomalies = CW_EVA_RETRANS;
	ev.ch_version = 0x0303;
	ev.sh_version = 0x0303;
	ev.cipher = 0xc02f;
	strcpy(ev.sni, "www.example.com\"\x01");
	memcpy(ev.alpn, alpn, sizeof(alpn));
	ev.alpn_len = sizeof(alpn);
	strcpy(ev.ja3, "0123456789abcdef0123456789abcdef");
	strcpy(ev.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
	ev.chain_id[0] = 0xab;
	ev.chain_id[15] = 0x01;
	ev.ncerts = 1;

	c.n = 1;
	memcpy(c.chain_id, ev.chain_id, 16);
	c.cert[0] = &cc;
	strcpy(cc.sha256, "aa");
	strcpy(cc.spki_sha256, "bb");
	strcpy(cc.subject, "CN=www.example.com");
	strcpy(cc.issuer, "CN=Security Certificate,O=\xd0\x9a\xd0\x97 \xff");
	cc.not_before = 1563440401;
	cc.not_after = 1594976401;
	c.anchor_match = 2;
	strcpy(c.anchor_name, "Qaznet Trust Network");
	strcpy(c.anchor_category, "interception");

	v.result = CP_SUBSTITUTED;
	v.confidence = 0.95;
	v.nsignals = 1;
	strcpy(v.sig[0].name, "known_interception_anchor");
	strcpy(v.sig[0].detail, "issuer SPKI on the interception list");
	v.sig[0].weight = 100;
	strcpy(v.name, "www.example.com");
	v.chain = &c;

	cp_jbuf_init(&b, mem, sizeof(mem));
	CHECK(cp_json_flow(&b, &ev, &v) == 0);
	CHECK(b.len > 0 && mem[b.len - 1] == '\n');
	CHECK(memchr(mem, '\n', b.len - 1) == NULL); /* exactly one line */
	CHECK(has(mem, b.len, "{\"type\":\"flow\",\"ts\":\"2019-07-18T09:00:01.123456Z\""));
	CHECK(has(mem, b.len, "\"src_ip\":\"10.0.0.1\",\"src_port\":51000"));
	CHECK(has(mem, b.len, "\"dst_ip\":\"93.184.216.34\",\"dst_port\":443"));
	CHECK(has(mem, b.len, "\"version\":\"TLS 1.2\""));
	CHECK(has(mem, b.len, "\"sni\":\"www.example.com\\\"\\u0001\""));
	CHECK(has(mem, b.len, "\"alpn\":[\"h2\",\"http/1.1\"]"));
	CHECK(has(mem, b.len, "\"ja3s\":\"\""));
	CHECK(has(mem, b.len, "\"chain\":[{\"sha256\":\"aa\",\"spki_sha256\":\"bb\""));
	CHECK(has(mem, b.len, "\"issuer\":\"CN=Security Certificate,O=\xd0\x9a\xd0\x97 \\u00ff\""));
	CHECK(has(mem, b.len, "\"not_before\":\"2019-07-18T09:00:01Z\""));
	CHECK(has(mem, b.len,
		  "\"chain_id\":\"ab0000000000000000000000000000"
		  "01\""));
	CHECK(has(mem, b.len, "\"result\":\"substituted\",\"confidence\":0.950"));
	CHECK(has(mem, b.len, "\"anchor\":{\"name\":\"Qaznet Trust Network\""));
	CHECK(has(
		mem, b.len,
		"\"signals\":[{\"name\":\"known_interception_anchor\",\"detail\":\"issuer SPKI on "
		"the interception list\",\"weight\":100}]"));
	CHECK(has(mem, b.len, "\"anomalies\":[\"retransmission\"]"));

	/* No chain visible: "chain": [] and chain_id null. */
	v.chain = NULL;
	memset(ev.chain_id, 0, 16);
	ev.ipver = 6;
	inet_pton(AF_INET6, "2001:db8::1", ev.cli_addr);
	inet_pton(AF_INET6, "2001:db8::2", ev.srv_addr);
	v.confidence = 0.0 / 0.0; /* NaN must not reach the output */
	cp_jbuf_init(&b, mem, sizeof(mem));
	CHECK(cp_json_flow(&b, &ev, &v) == 0);
	CHECK(has(mem, b.len, "\"chain\":[],\"chain_id\":null"));
	CHECK(has(mem, b.len, "\"src_ip\":\"2001:db8::1\""));
	CHECK(has(mem, b.len, "\"confidence\":0.000"));
	CHECK(has(mem, b.len, "\"anchor\":null"));

	/* The chain object. */
	c.path_cached = 1;
	cp_jbuf_init(&b, mem, sizeof(mem));
	CHECK(cp_json_chain(&b, &c, ev.ts_ns) == 0);
	CHECK(has(mem, b.len, "\"path_error\":\"\",\"path_cached\":1,\"anchor\":"));
	CHECK(has(mem, b.len, "{\"type\":\"chain\",\"ts\":\"2019-07-18T09:00:01.123456Z\""));
	CHECK(has(mem, b.len, "\"certs\":[{\"sha256\":\"aa\""));

	/* Too small a buffer is refused, never cut. */
	cp_jbuf_init(&b, mem, 100);
	CHECK(cp_json_chain(&b, &c, ev.ts_ns) == -ENOSPC);
}

/*
 * Every anomaly bit, and every flag bit the object reports as a string (not
 * CH, SH and CERT, which the fields show, nor CHAIN_NEW, internal), comes
 * out under a name of its own: none is dropped from the record unnamed.
 */
static void
test_bit_names(void)
{
	static const uint32_t evf_internal = CW_EVF_CH | CW_EVF_SH | CW_EVF_CERT | CW_EVF_CHAIN_NEW;
	static struct cw_flow_event ev;
	static struct cp_verdict v;
	char seen[32][48];
	struct cp_jbuf b;

	v.result = CP_UNKNOWN;
	ev.ipver = 4;
	for (int kind = 0; kind < 2; kind++) {
		uint32_t all = kind ? CW_EVA__ALL : (CW_EVF_PREAMBLE * 2 - 1) & ~evf_internal;
		const char *key = kind ? "\"anomalies\":[\"" : "\"flags\":[\"";

		memset(seen, 0, sizeof(seen));
		for (unsigned int bit = 0; bit < 32; bit++) {
			const char *p, *e;

			if (!(all & (1u << bit)))
				continue;
			ev.flags = kind ? 0 : 1u << bit;
			ev.anomalies = kind ? 1u << bit : 0;
			cp_jbuf_init(&b, mem, sizeof(mem));
			CHECK(cp_json_flow(&b, &ev, &v) == 0);
			p = memmem(mem, b.len, key, strlen(key));
			CHECK(p != NULL);
			if (p == NULL)
				continue;
			p += strlen(key);
			e = memchr(p, '"', (size_t)(mem + b.len - p));
			CHECK(e != NULL && e > p && (size_t)(e - p) < sizeof(seen[0]));
			if (e == NULL || e <= p || (size_t)(e - p) >= sizeof(seen[0]))
				continue;
			memcpy(seen[bit], p, (size_t)(e - p));
			for (unsigned int o = 0; o < bit; o++)
				CHECK(strcmp(seen[o], seen[bit]) != 0);
		}
	}
}

/* The stated bound holds for the largest possible objects. */
static void
test_worst_case(void)
{
	static struct cw_flow_event ev;
	static struct cp_verdict v;
	static struct cp_chain c;
	static struct cp_cert cc[CP_MAX_CERTS];
	struct cp_jbuf b;
	unsigned int i;

	memset(&ev, 0xff, sizeof(ev));
	ev.ipver = 6;
	ev.sni[sizeof(ev.sni) - 1] = 0;
	ev.alpn_sel[sizeof(ev.alpn_sel) - 1] = 0;
	ev.ja3[32] = ev.ja3s[32] = ev.ja4[39] = 0;
	memset(&c, 0xff, sizeof(c));
	memset(cc, 0xff, sizeof(cc));
	c.n = CP_MAX_CERTS;
	for (i = 0; i < CP_MAX_CERTS; i++) {
		c.cert[i] = &cc[i];
		cc[i].not_before = 0;
		cc[i].not_after = 0;
	}
	memset(&v, 0xff, sizeof(v));
	v.result = CP_SUSPICIOUS;
	v.nsignals = CP_MAX_SIGNALS;
	v.chain = &c;
	cp_jbuf_init(&b, mem, sizeof(mem));
	CHECK(cp_json_flow(&b, &ev, &v) == 0);
	/* Numbers written without printf, at their extremes. */
	CHECK(has(mem, b.len, "\"src_port\":65535,"));
	CHECK(has(mem, b.len, "\"cipher\":\"0xffff\""));
	CHECK(has(mem, b.len, "\"ncerts\":255,"));
	CHECK(has(mem, b.len, ",\"weight\":-1}"));
	cp_jbuf_init(&b, mem, sizeof(mem));
	CHECK(cp_json_chain(&b, &c, 0) == 0);
	CHECK(has(mem, b.len, "\"key_bits\":-1,"));
	CHECK(has(mem, b.len, "\"rsa_e\":18446744073709551615,"));
	CHECK(has(mem, b.len, "\"has_sct\":true,\"has_aia\":true,\"has_crldp\":true}"));
	CHECK(has(mem, b.len, "\"ncerts\":8,\"path_valid\":true,"));
}

int
main(void)
{
	test_escape();
	test_time();
	test_time_vs_libc();
	test_cert_time();
	test_escape_random();
	test_version();
	test_flow();
	test_bit_names();
	test_worst_case();
	if (failures) {
		fprintf(stderr, "test_json: %d failures\n", failures);
		return 1;
	}
	printf("test_json: ok\n");
	return 0;
}
