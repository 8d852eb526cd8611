/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of the TLS hello/certificate parsers and the record framing iterator, on real captures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_cursor.h"
#include "fingerprint.h"
#include "reasm.h"
#include "tls.h"
#include "tls_test_pcap.h"

static int failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);     \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define JA4_PCAP "tests/data/conformance/ja4/pcap/"
#define ZEEK_PCAP "tests/data/conformance/zeek/traces/"
#define S2N_PCAP "tests/data/conformance/s2n-tls/tests/pcap/data/"
#define BUFSZ (64 * 1024)

static uint8_t pkt[BUFSZ];

/* A frame that carries exactly one handshake record with one message: its body. */
static const uint8_t *
frame_hs_body(const char *path, unsigned int frame, uint8_t type, uint32_t *len)
{
	long n = tp_frame_payload(path, frame, pkt, sizeof(pkt));

	if (n < 9 || pkt[0] != CW_TLS_CT_HANDSHAKE || pkt[5] != type) {
		fprintf(stderr, "%s frame %u: no handshake type %u\n", path, frame, type);
		failures++;
		*len = 0;
		return pkt;
	}
	*len = (uint32_t)pkt[6] << 16 | (uint32_t)pkt[7] << 8 | pkt[8];
	CHECK(*len + 9 <= (uint32_t)n);
	return pkt + 9;
}

static int
view_is(struct cw_view v, const char *s)
{
	return v.len == strlen(s) && memcmp(v.p, s, v.len) == 0;
}

/* A reassembly state over a caller buffer whose first `contig` bytes are already in order. */
static void
reasm_over(struct cw_reasm *r, uint8_t *buf, uint32_t cap, uint32_t contig)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->cap = cap;
	r->limit = cap;
	r->contig = contig;
	r->have_base = 1;
}

static void
test_client_hello(void)
{
	struct cw_client_hello ch;
	uint32_t len;
	const uint8_t *b;

	/* TLS 1.2 hello from curl to Cloudflare, over IPv6 loopback. */
	b = frame_hs_body(JA4_PCAP "tls-alpn-h2.pcap", 4, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(len == 228);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(ch.legacy_version == 0x0303);
	CHECK(ch.version == 0x0303);
	CHECK(!ch.has_supported_versions);
	CHECK(ch.has_sni && view_is(ch.sni, "www.cloudflare.com"));
	CHECK(ch.has_alpn && ch.alpn.len >= 3 && ch.alpn.p[0] == 2 && memcmp(ch.alpn.p + 1, "h2", 2) == 0);
	CHECK(ch.ciphers.len == 2 * 46);
	CHECK(ch.random.len == 32);
	CHECK(ch.anomalies == 0);
	CHECK(ch.n_ext == 5);

	/* Despite its name, a TLS 1.3 hello: supported_versions beats legacy_version. */
	b = frame_hs_body(JA4_PCAP "tls12.pcap", 1, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(ch.legacy_version == 0x0303);
	CHECK(ch.version == 0x0304);
	CHECK(ch.has_supported_versions);
	CHECK(view_is(ch.sni, "contile.services.mozilla.com"));
	CHECK(ch.key_share_groups_src.len > 0);
	CHECK(ch.groups.len > 0 && ch.sigalgs.len > 0 && ch.point_formats.len > 0);
	CHECK(ch.anomalies == 0);

	/* GREASE in supported_versions is skipped when choosing the version. */
	b = frame_hs_body(JA4_PCAP "badcurveball.pcap", 4, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(ch.version == 0x0304);
	CHECK(view_is(ch.sni, "bad.curveballtest.com"));
	CHECK(ch.anomalies == 0);
}

/* Resumption, early data, ECH: flags from real clients. */
static void
test_client_hello_flags(void)
{
	struct cw_client_hello ch;
	uint32_t len;
	const uint8_t *b;

	b = frame_hs_body(ZEEK_PCAP "tls13-ech.pcap", 7, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(ch.has_ech && !ch.has_psk && !ch.has_early_data);
	CHECK(ch.anomalies == 0);

	b = frame_hs_body(ZEEK_PCAP "tls13_psk_succesfull.pcap", 4, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(ch.has_psk && !ch.has_early_data && !ch.has_ech);
	CHECK(ch.anomalies == 0);

	/* Draft-19 client: early_data and pre_shared_key (last, as required). */
	b = frame_hs_body(ZEEK_PCAP "tls-13draft19-early-data.pcap", 4, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(!ch.has_psk && !ch.has_early_data);
	b = frame_hs_body(ZEEK_PCAP "tls-13draft19-early-data.pcap", 25, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	CHECK(ch.has_psk && ch.has_early_data);
	CHECK(ch.anomalies == 0);
}

static void
test_server_hello(void)
{
	struct cw_server_hello sh;
	uint8_t copy[512];
	uint32_t len;
	const uint8_t *b;

	b = frame_hs_body(JA4_PCAP "badcurveball.pcap", 6, CW_TLS_HS_SERVER_HELLO, &len);
	CHECK(cw_tls_parse_server_hello(b, len, &sh) == CW_OK);
	CHECK(sh.legacy_version == 0x0303 && sh.version == 0x0303);
	CHECK(sh.cipher == 0xc02b);
	CHECK(!sh.hrr && sh.downgrade == 0);
	CHECK(view_is(sh.alpn, "http/1.1"));
	CHECK(sh.anomalies == 0);

	/* Downgrade sentinel (RFC 8446 §4.1.3), written into a real ServerHello's random. */
	CHECK(len <= sizeof(copy));
	memcpy(copy, b, len);
	memcpy(copy + 2 + 24, "DOWNGRD\x01", 8);
	CHECK(cw_tls_parse_server_hello(copy, len, &sh) == CW_OK && sh.downgrade == 12);
	copy[2 + 31] = 0x00;
	CHECK(cw_tls_parse_server_hello(copy, len, &sh) == CW_OK && sh.downgrade == 11);
	copy[2 + 31] = 0x02;
	CHECK(cw_tls_parse_server_hello(copy, len, &sh) == CW_OK && sh.downgrade == 0);
	copy[2 + 24] = 'd';
	copy[2 + 31] = 0x01;
	CHECK(cw_tls_parse_server_hello(copy, len, &sh) == CW_OK && sh.downgrade == 0);

	/* TLS 1.3: the version comes from supported_versions. */
	b = frame_hs_body(JA4_PCAP "tls-non-ascii-alpn.pcapng", 2, CW_TLS_HS_SERVER_HELLO, &len);
	CHECK(cw_tls_parse_server_hello(b, len, &sh) == CW_OK);
	CHECK(sh.legacy_version == 0x0303 && sh.version == 0x0304 && sh.has_supported_versions);
	CHECK(sh.cipher == 0x1301 && !sh.hrr);

	/* HelloRetryRequest, then the second ClientHello and the real ServerHello. */
	b = frame_hs_body(ZEEK_PCAP "hrr.pcap", 6, CW_TLS_HS_SERVER_HELLO, &len);
	CHECK(cw_tls_parse_server_hello(b, len, &sh) == CW_OK);
	CHECK(sh.hrr == 1 && sh.version == 0x0304);
	b = frame_hs_body(JA4_PCAP "tls-non-ascii-alpn.pcapng", 2, CW_TLS_HS_SERVER_HELLO, &len);
	CHECK(cw_tls_parse_server_hello(b, len, &sh) == CW_OK && sh.hrr == 0);
}

/* The offset right after legacy_compression_methods: a valid extension-less hello ends there. */
static uint32_t
end_of_compression(const uint8_t *b, uint32_t len)
{
	struct cw_cur c = cw_cur_init(b, len), v;

	cw_skip(&c, 2 + 32);
	cw_vec(&c, 1, &v);
	cw_vec(&c, 2, &v);
	cw_vec(&c, 1, &v);
	return (uint32_t)(c.p - b);
}

/* Every strict prefix fails cleanly (heap copies so ASan sees any over-read). */
static void
test_truncation(void)
{
	struct cw_client_hello ch;
	struct cw_server_hello sh;
	uint32_t len, l, cut;
	const uint8_t *b;
	uint8_t *h;
	int rc;

	b = frame_hs_body(JA4_PCAP "badcurveball.pcap", 4, CW_TLS_HS_CLIENT_HELLO, &len);
	cut = end_of_compression(b, len);
	for (l = 0; l < len; l++) {
		h = malloc(l ? l : 1);
		memcpy(h, b, l);
		rc = cw_tls_parse_client_hello(h, l, &ch);
		if (l == cut)
			CHECK(rc == CW_OK && ch.n_ext == 0);
		else if (rc != CW_BAD) {
			fprintf(stderr, "client hello prefix %u: rc %d\n", l, rc);
			failures++;
		}
		free(h);
	}

	b = frame_hs_body(JA4_PCAP "badcurveball.pcap", 6, CW_TLS_HS_SERVER_HELLO, &len);
	for (l = 0; l < len; l++) {
		h = malloc(l ? l : 1);
		memcpy(h, b, l);
		rc = cw_tls_parse_server_hello(h, l, &sh);
		/* 2 + 32 + 1 + sid + 2 + 1: a valid extension-less ServerHello ends here. */
		if (l == 38u + b[34])
			CHECK(rc == CW_OK && sh.n_ext == 0);
		else if (rc != CW_BAD) {
			fprintf(stderr, "server hello prefix %u: rc %d\n", l, rc);
			failures++;
		}
		free(h);
	}
}

/* Change extension number `idx` of a real hello to `type` in a copy. */
static void
set_ext_type(uint8_t *b, uint32_t len, unsigned int idx, uint16_t type)
{
	struct cw_cur c = cw_cur_init(b, len), v, exts;
	unsigned int i;
	uint16_t t;

	cw_skip(&c, 34);
	cw_vec(&c, 1, &v);
	cw_vec(&c, 2, &v);
	cw_vec(&c, 1, &v);
	CHECK(cw_vec(&c, 2, &exts) == CW_OK);
	for (i = 0; !cw_empty(&exts); i++) {
		if (i == idx) {
			uint8_t *w = (uint8_t *)(uintptr_t)exts.p;

			w[0] = (uint8_t)(type >> 8);
			w[1] = (uint8_t)type;
			return;
		}
		CHECK(cw_u16(&exts, &t) == CW_OK && cw_vec(&exts, 2, &v) == CW_OK);
	}
	CHECK(!"extension index out of range");
}

static void
test_duplicate_extension(void)
{
	struct cw_client_hello ch;
	struct cw_server_hello sh;
	uint8_t copy[1024];
	uint32_t len;
	const uint8_t *b;

	b = frame_hs_body(JA4_PCAP "tls-alpn-h2.pcap", 4, CW_TLS_HS_CLIENT_HELLO, &len);
	CHECK(cw_tls_parse_client_hello(b, len, &ch) == CW_OK);
	memcpy(copy, b, len);
	/* Two unknown extensions of the same type: still a duplicate. */
	set_ext_type(copy, len, 1, 0x7777);
	set_ext_type(copy, len, 3, 0x7777);
	CHECK(cw_tls_parse_client_hello(copy, len, &ch) == CW_BAD);
	CHECK(ch.anomalies & CW_TLS_A_DUP_EXT);
	/* A GREASE-looking value is an extension type like any other. */
	memcpy(copy, b, len);
	set_ext_type(copy, len, 0, 0x0a0a);
	set_ext_type(copy, len, 4, 0x0a0a);
	CHECK(cw_tls_parse_client_hello(copy, len, &ch) == CW_BAD);
	/* Distinct types again: accepted. */
	set_ext_type(copy, len, 4, 0x1a1a);
	CHECK(cw_tls_parse_client_hello(copy, len, &ch) == CW_OK);

	b = frame_hs_body(JA4_PCAP "badcurveball.pcap", 6, CW_TLS_HS_SERVER_HELLO, &len);
	memcpy(copy, b, len);
	CHECK(cw_tls_parse_server_hello(copy, len, &sh) == CW_OK && sh.n_ext >= 2);
	{
		/* ServerHello: 2 + 32 + sid + 2 + 1, then extensions<u16>. */
		uint32_t off = 2 + 32 + 1 + b[34] + 3 + 2;

		copy[off + 4 + ((uint32_t)copy[off + 2] << 8 | copy[off + 3])] = copy[off];
		copy[off + 5 + ((uint32_t)copy[off + 2] << 8 | copy[off + 3])] = copy[off + 1];
	}
	CHECK(cw_tls_parse_server_hello(copy, len, &sh) == CW_BAD);
	CHECK(sh.anomalies & CW_TLS_A_DUP_EXT);
}

/*
 * Hand-made: more extensions than the hello keeps. The parse goes on past
 * CW_TLS_MAX_EXT and still catches a duplicate far down the list.
 */
static void
test_many_extensions(void)
{
	static uint8_t b[4096];
	struct cw_client_hello ch;
	uint32_t n = 0, i, ext_start;

	b[n++] = 3, b[n++] = 3;
	memset(b + n, 0x11, 32), n += 32;
	b[n++] = 0;
	b[n++] = 0, b[n++] = 2, b[n++] = 0x13, b[n++] = 0x01;
	b[n++] = 1, b[n++] = 0;
	ext_start = n;
	n += 2;
	/* Types 0x7063 down to 0x7000: JA4 has to sort them. */
	for (i = 0; i < 100; i++) {
		b[n++] = 0x70, b[n++] = (uint8_t)(99 - i);
		b[n++] = 0, b[n++] = 0;
	}
	b[ext_start] = (uint8_t)((n - ext_start - 2) >> 8);
	b[ext_start + 1] = (uint8_t)(n - ext_start - 2);
	CHECK(cw_tls_parse_client_hello(b, n, &ch) == CW_OK);
	CHECK(ch.n_ext == CW_TLS_MAX_EXT);
	CHECK(ch.anomalies == CW_TLS_A_TOO_MANY_EXT);
	CHECK(ch.ext[CW_TLS_MAX_EXT - 1] == (0x7000 | (99 - (CW_TLS_MAX_EXT - 1))));
	{
		char ja4[1024], ja3[1024], want[1024], md5[CW_MD5_HEX];
		size_t w;

		/* The fingerprints cover every extension, also those past the kept ones. */
		w = (size_t)snprintf(want, sizeof(want), "771,4865,");
		for (i = 0; i < 100; i++)
			w += (size_t)snprintf(want + w, sizeof(want) - w, "%s%u", i ? "-" : "",
					      0x7000u | (99 - i));
		snprintf(want + w, sizeof(want) - w, ",,");
		cw_ja3(&ch, ja3, sizeof(ja3), md5);
		CHECK(strcmp(ja3, want) == 0);
		w = 0;
		for (i = 0; i < 100; i++)
			w += (size_t)snprintf(want + w, sizeof(want) - w, "%s%04x", i ? "," : "",
					      0x7000u | i);
		cw_ja4(&ch, 't', CW_JA4_R, ja4, sizeof(ja4));
		CHECK(strncmp(ja4, "t12i0199", 8) == 0 && strcmp(ja4 + strlen(ja4) - w, want) == 0);
		/* JA4's count is capped at 99. */
		cw_ja4(&ch, 't', CW_JA4, ja4, sizeof(ja4));
		CHECK(strncmp(ja4 + 6, "99", 2) == 0);
		/* 70 extensions, one GREASE among those past the kept ones: 69. */
		b[ext_start + 2 + 65 * 4] = 0x0a, b[ext_start + 2 + 65 * 4 + 1] = 0x0a;
		b[ext_start] = (uint8_t)((70 * 4) >> 8);
		b[ext_start + 1] = (uint8_t)(70 * 4);
		CHECK(cw_tls_parse_client_hello(b, ext_start + 2 + 70 * 4, &ch) == CW_OK);
		cw_ja4(&ch, 't', CW_JA4, ja4, sizeof(ja4));
		CHECK(strncmp(ja4 + 6, "69", 2) == 0);
		b[ext_start] = (uint8_t)((n - ext_start - 2) >> 8);
		b[ext_start + 1] = (uint8_t)(n - ext_start - 2);
		b[ext_start + 2 + 65 * 4] = 0x70, b[ext_start + 2 + 65 * 4 + 1] = 99 - 65;
	}
	/* Extension 99 repeats extension 70 (both beyond the kept ones). */
	b[ext_start + 2 + 99 * 4 + 1] = 99 - 70;
	CHECK(cw_tls_parse_client_hello(b, n, &ch) == CW_BAD);
	CHECK(ch.anomalies & CW_TLS_A_DUP_EXT);
	/* Extension 99 repeats extension 3 (a kept one). */
	b[ext_start + 2 + 99 * 4 + 1] = 99 - 3;
	CHECK(cw_tls_parse_client_hello(b, n, &ch) == CW_BAD);
	/* Second run: the duplicate bitmap must not remember the previous hello. */
	b[ext_start + 2 + 99 * 4 + 1] = 0;
	CHECK(cw_tls_parse_client_hello(b, n, &ch) == CW_OK);
}

/* Hand-made edge layouts inside extensions: flagged, the hello still parses. */
static void
test_bad_inner_layout(void)
{
	static const uint8_t head[] = {
		0x03, 0x03, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
		0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
		0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00,
	};
	struct {
		uint8_t ext[16];
		uint32_t n;
		uint32_t anomalies;
	} cases[] = {
		/* SNI with an empty list: present, no name, not an anomaly. */
		{{0x00, 0x00, 0x00, 0x02, 0x00, 0x00}, 6, 0},
		/* SNI list longer than the extension. */
		{{0x00, 0x00, 0x00, 0x02, 0x00, 0x09}, 6, CW_TLS_A_BAD_EXT},
		/* ALPN with an empty name. */
		{{0x00, 0x10, 0x00, 0x03, 0x00, 0x01, 0x00}, 7, CW_TLS_A_BAD_EXT},
		/* signature_algorithms with an odd length. */
		{{0x00, 0x0d, 0x00, 0x05, 0x00, 0x03, 0x04, 0x03, 0x05}, 9, CW_TLS_A_BAD_EXT},
		/* supported_versions: only GREASE, so the version stays legacy. */
		{{0x00, 0x2b, 0x00, 0x03, 0x02, 0x3a, 0x3a}, 7, 0},
		/* early_data carrying bytes in a ClientHello. */
		{{0x00, 0x2a, 0x00, 0x01, 0x00}, 5, CW_TLS_A_BAD_EXT},
		/* key_share entry with an empty key_exchange. */
		{{0x00, 0x33, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x00}, 10, CW_TLS_A_BAD_EXT},
	};
	struct cw_client_hello ch;
	uint8_t b[128];
	uint32_t i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(b, head, sizeof(head));
		n = sizeof(head);
		b[n++] = 0;
		b[n++] = (uint8_t)cases[i].n;
		memcpy(b + n, cases[i].ext, cases[i].n);
		n += cases[i].n;
		CHECK(cw_tls_parse_client_hello(b, n, &ch) == CW_OK);
		if (ch.anomalies != cases[i].anomalies)
			fprintf(stderr, "inner layout case %u: anomalies %#x\n", i, ch.anomalies);
		CHECK(ch.anomalies == cases[i].anomalies);
	}
	/* Case 0: SNI present but empty. */
	memcpy(b + sizeof(head), "\x00\x06", 2);
	memcpy(b + sizeof(head) + 2, cases[0].ext, 6);
	CHECK(cw_tls_parse_client_hello(b, sizeof(head) + 8, &ch) == CW_OK);
	CHECK(ch.has_sni && ch.sni.len == 0);
	/* Case 4: GREASE-only supported_versions. */
	memcpy(b + sizeof(head), "\x00\x07", 2);
	memcpy(b + sizeof(head) + 2, cases[4].ext, 7);
	CHECK(cw_tls_parse_client_hello(b, sizeof(head) + 9, &ch) == CW_OK);
	CHECK(ch.version == 0x0303 && !ch.has_supported_versions);
	/* An odd cipher list and an empty compression list are outer-layout errors. */
	memcpy(b, head, sizeof(head));
	b[36] = 1;
	CHECK(cw_tls_parse_client_hello(b, sizeof(head) - 1, &ch) == CW_BAD);
	memcpy(b, head, sizeof(head));
	b[39] = 0;
	CHECK(cw_tls_parse_client_hello(b, sizeof(head) - 1, &ch) == CW_BAD);
	/* Bytes after the extension block are flagged. */
	memcpy(b, head, sizeof(head));
	memcpy(b + sizeof(head), "\x00\x00\xee", 3);
	CHECK(cw_tls_parse_client_hello(b, sizeof(head) + 3, &ch) == CW_OK);
	CHECK(ch.anomalies == CW_TLS_A_TRAILING);
}

/* Every item of one direction, delivered to the iterator `step` bytes at a time. */
struct collected {
	int n;
	int kind[64];
	uint8_t type[64];
	uint32_t len[64];
	const uint8_t *body[64];
	int terminal;
};

static void
run_stream(uint8_t *buf, uint32_t cap, uint32_t total, uint32_t step, struct collected *out)
{
	struct cw_tls_stream ts;
	struct cw_reasm r;
	struct cw_tls_item it;
	uint32_t have = 0;
	int k;

	memset(out, 0, sizeof(*out));
	cw_tls_stream_init(&ts);
	reasm_over(&r, buf, cap, 0);
	while (!out->terminal) {
		have = have + step < total ? have + step : total;
		r.contig = have;
		for (;;) {
			k = cw_tls_next(&ts, &r, &it);
			CHECK(k == it.kind);
			CHECK(ts.hs_wr <= ts.rd && ts.hs_rd <= ts.hs_wr);
			CHECK(r.consumed <= r.contig);
			if (k == CW_TI_MORE)
				break;
			if (k == CW_TI_HS || k == CW_TI_RECORD || k == CW_TI_SSLV2_CH) {
				/* Consumed up to rd, or up to a message assembled in place. */
				uint32_t upto = ts.hs_rd < ts.hs_wr && ts.hs_wr == ts.rd ? ts.hs_rd
											 : ts.rd;

				CHECK(r.consumed == (upto < r.contig ? upto : r.contig));
				if (out->n < 64) {
					out->kind[out->n] = k;
					out->type[out->n] = k == CW_TI_HS ? it.hs_type : it.rec_type;
					out->len[out->n] = k == CW_TI_RECORD ? it.rec_len : it.len;
					out->body[out->n] = it.body;
					out->n++;
				}
				continue;
			}
			out->terminal = k;
			break;
		}
		if (have == total && !out->terminal)
			break;
	}
}

static uint8_t stream[BUFSZ], work[BUFSZ];

/* Run a captured stream whole and in every step size given; all runs must agree. */
static void
check_stream_steps(uint32_t len, const struct collected *want, const uint32_t *steps, int nsteps)
{
	struct collected got;
	int i, j;

	for (i = 0; i < nsteps; i++) {
		memcpy(work, stream, len);
		run_stream(work, BUFSZ, len, steps[i], &got);
		CHECK(got.n == want->n);
		CHECK(got.terminal == want->terminal);
		for (j = 0; j < got.n && j < want->n; j++) {
			CHECK(got.kind[j] == want->kind[j]);
			CHECK(got.type[j] == want->type[j]);
			CHECK(got.len[j] == want->len[j]);
		}
	}
}

static void
test_framing_real(void)
{
	static const uint32_t steps[] = {1, 7, 100, 1460};
	struct collected c;
	struct cw_cert_list cl;
	long n;

	/*
	 * badcurveball, server side: ServerHello record, then one segment pair
	 * holding the Certificate (split across TCP segments), ServerKeyExchange
	 * and ServerHelloDone in three records, then CCS and encrypted Finished.
	 */
	n = tp_stream(JA4_PCAP "badcurveball.pcap", 443, stream, sizeof(stream));
	CHECK(n > 0);
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, (uint32_t)n, &c);
	CHECK(c.n >= 4);
	CHECK(c.kind[0] == CW_TI_HS && c.type[0] == CW_TLS_HS_SERVER_HELLO && c.len[0] == 76);
	CHECK(c.kind[1] == CW_TI_HS && c.type[1] == CW_TLS_HS_CERTIFICATE && c.len[1] == 1509);
	CHECK(c.kind[2] == CW_TI_HS && c.type[2] == CW_TLS_HS_SERVER_KEY_EXCHANGE);
	CHECK(c.kind[3] == CW_TI_HS && c.type[3] == CW_TLS_HS_SERVER_HELLO_DONE && c.len[3] == 0);
	/* tshark: certificates_length 1506, two certificates of 615 and 885 bytes. */
	CHECK(cw_tls_parse_certificate(c.body[1], c.len[1], 0, &cl) == CW_OK);
	CHECK(cl.n == 2 && cl.total == 2);
	CHECK(cl.c[0].len == 615 && cl.c[1].len == 885);
	CHECK(cl.c[0].p[0] == 0x30 && cl.c[1].p[0] == 0x30);
	check_stream_steps((uint32_t)n, &c, steps, 4);

	/* Client side: the client gives up with an alert after the server flight. */
	n = tp_stream(JA4_PCAP "badcurveball.pcap", 55318, stream, sizeof(stream));
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, (uint32_t)n, &c);
	CHECK(c.n == 2);
	CHECK(c.kind[0] == CW_TI_HS && c.type[0] == CW_TLS_HS_CLIENT_HELLO && c.len[0] == 508);
	CHECK(c.kind[1] == CW_TI_RECORD && c.type[1] == CW_TLS_CT_ALERT && c.len[1] == 2);
	CHECK(c.terminal == 0);
	check_stream_steps((uint32_t)n, &c, steps, 4);

	/* After its ChangeCipherSpec, the client's (encrypted) Finished is an opaque record. */
	n = tp_stream(ZEEK_PCAP "missing-intermediate.pcap", 58529, stream, sizeof(stream));
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, (uint32_t)n, &c);
	CHECK(c.n == 5);
	CHECK(c.kind[0] == CW_TI_HS && c.type[0] == CW_TLS_HS_CLIENT_HELLO && c.len[0] == 299);
	CHECK(c.kind[1] == CW_TI_HS && c.type[1] == 16 && c.len[1] == 258); /* ClientKeyExchange */
	CHECK(c.kind[2] == CW_TI_RECORD && c.type[2] == CW_TLS_CT_CCS && c.len[2] == 1);
	CHECK(c.kind[3] == CW_TI_RECORD && c.type[3] == CW_TLS_CT_HANDSHAKE && c.len[3] == 32);
	CHECK(c.kind[4] == CW_TI_RECORD && c.type[4] == CW_TLS_CT_ALERT && c.len[4] == 18);
	check_stream_steps((uint32_t)n, &c, steps, 4);

	/* Several messages in one record: ServerHello, Certificate, ServerHelloDone. */
	n = tp_stream(ZEEK_PCAP "missing-intermediate.pcap", 443, stream, sizeof(stream));
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, (uint32_t)n, &c);
	CHECK(c.n >= 3);
	CHECK(c.type[0] == CW_TLS_HS_SERVER_HELLO && c.type[1] == CW_TLS_HS_CERTIFICATE &&
	      c.type[2] == CW_TLS_HS_SERVER_HELLO_DONE);
	CHECK(cw_tls_parse_certificate(c.body[1], c.len[1], 0, &cl) == CW_OK);
	CHECK(cl.n == 1 && cl.c[0].len == 1359);
	check_stream_steps((uint32_t)n, &c, steps, 4);

	/* A 16 KiB ClientHello split over two records and three TCP segments (s2n-tls). */
	n = tp_stream(S2N_PCAP "fragmented_ch.pcap", 49760, stream, sizeof(stream));
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, (uint32_t)n, &c);
	CHECK(c.n >= 1);
	CHECK(c.kind[0] == CW_TI_HS && c.type[0] == CW_TLS_HS_CLIENT_HELLO && c.len[0] == 16258);
	{
		struct cw_client_hello ch;

		CHECK(cw_tls_parse_client_hello(c.body[0], c.len[0], &ch) == CW_OK);
		CHECK(ch.n_ext == 10 && ch.anomalies == 0);
	}
	check_stream_steps((uint32_t)n, &c, steps, 4);

	/* TLS 1.3 server: once told the rest is encrypted, records come back opaque. */
	{
		struct cw_tls_stream ts;
		struct cw_reasm r;
		struct cw_tls_item it;
		static const uint32_t want[] = {23, 716, 281, 69}; /* tshark tls.record.length */
		int nrec = 0;

		/* wolfSSL server: no middlebox-compatibility CCS. */
		n = tp_stream(ZEEK_PCAP "tls13_wolfssl.pcap", 9090, stream, sizeof(stream));
		CHECK(n > 0);
		cw_tls_stream_init(&ts);
		reasm_over(&r, stream, BUFSZ, (uint32_t)n);
		CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == CW_TLS_HS_SERVER_HELLO);
		ts.encrypted = 1;
		while (cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && nrec < 4) {
			CHECK(it.rec_type == CW_TLS_CT_APPDATA && it.body == NULL && it.len == 0);
			CHECK(it.rec_len == want[nrec]);
			nrec++;
		}
		CHECK(nrec == 4);
	}
}

/* The real SSLv2-compatible hello from zeek's ssl-v2 trace. */
static void
test_sslv2(void)
{
	struct cw_client_hello ch;
	struct collected c;
	long n;

	n = tp_frame_payload(ZEEK_PCAP "ssl-v2.pcap", 4, stream, sizeof(stream));
	CHECK(n == 48);
	CHECK(cw_tls_probe(stream, (uint32_t)n) == 1);
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, 1, &c);
	CHECK(c.n == 1 && c.kind[0] == CW_TI_SSLV2_CH && c.len[0] == 46);
	CHECK(cw_tls_parse_sslv2_hello(c.body[0], c.len[0], &ch) == CW_OK);
	CHECK(ch.sslv2 == 1 && ch.legacy_version == 0x0002 && ch.version == 0x0002);
	CHECK(ch.ciphers.len == 21 && ch.session_id.len == 0 && ch.random.len == 16);
	CHECK(ch.anomalies == 0);
	/* Truncated forms. */
	for (n = 0; n < 46; n++)
		CHECK(cw_tls_parse_sslv2_hello(c.body[0], (uint32_t)n, &ch) == CW_BAD);
}

/* Re-frame the messages of a real stream into records of rec_payload bytes each. */
static uint32_t
reframe(const uint8_t *msgs, uint32_t len, uint32_t rec_payload, uint8_t *out)
{
	uint32_t o = 0, i, k;

	for (i = 0; i < len; i += k) {
		k = len - i < rec_payload ? len - i : rec_payload;
		out[o++] = CW_TLS_CT_HANDSHAKE;
		out[o++] = 3;
		out[o++] = 3;
		out[o++] = (uint8_t)(k >> 8);
		out[o++] = (uint8_t)k;
		memcpy(out + o, msgs + i, k);
		o += k;
	}
	return o;
}

static void
test_framing_reframed(void)
{
	static const uint32_t steps[] = {1, 3, 6, 1000};
	static uint8_t msgs[BUFSZ];
	struct collected c, want;
	uint32_t mlen = 0, len;
	long n;
	int i;

	/*
	 * Real server messages (SH, Certificate, SKE, SHD) from badcurveball: the bodies of its
	 * leading handshake records, back to back.
	 */
	n = tp_stream(JA4_PCAP "badcurveball.pcap", 443, stream, sizeof(stream));
	memcpy(work, stream, (size_t)n);
	run_stream(work, BUFSZ, (uint32_t)n, (uint32_t)n, &want);
	CHECK(want.n >= 4);
	for (len = 0; len + 5 <= (uint32_t)n && stream[len] == CW_TLS_CT_HANDSHAKE;) {
		uint32_t rl = (uint32_t)stream[len + 3] << 8 | stream[len + 4];

		CHECK(len + 5 + rl <= (uint32_t)n);
		memcpy(msgs + mlen, stream + len + 5, rl);
		mlen += rl;
		len += 5 + rl;
	}
	want.n = 4;
	CHECK(mlen == 4 * 4 + want.len[0] + want.len[1] + want.len[2] + want.len[3]);
	/* Only the kept messages come with their body. */
	CHECK(want.body[0] != NULL && want.body[1] != NULL && want.body[2] == NULL &&
	      want.body[3] == NULL);

	/* 1-byte records: every message split across hundreds of records. */
	len = reframe(msgs, mlen, 1, stream);
	for (i = 0; i < 4; i++) {
		memcpy(work, stream, len);
		run_stream(work, BUFSZ, len, steps[i], &c);
		CHECK(c.n == 4 && c.terminal == 0);
		CHECK(c.len[1] == 1509 && memcmp(c.body[1], msgs + 4 + 76 + 4, 1509) == 0);
	}
	check_stream_steps(len, &want, steps, 4);

	/* All four messages in one record. */
	len = reframe(msgs, mlen, mlen, stream);
	check_stream_steps(len, &want, steps, 4);

	/*
	 * Records that start with no partial message are parsed where they lie; those that
	 * continue one are moved down onto it. Record sizes that mix the two: every body must
	 * still be the message's own bytes.
	 */
	{
		static const uint32_t rsz[] = {7, 80, 700, 1513, 1600, 4000};
		uint32_t off;
		int j;

		for (j = 0; j < (int)(sizeof(rsz) / sizeof(rsz[0])); j++) {
			len = reframe(msgs, mlen, rsz[j], stream);
			for (i = 0; i < 4; i++) {
				memcpy(work, stream, len);
				run_stream(work, BUFSZ, len, steps[i], &c);
				CHECK(c.n == 4 && c.terminal == 0);
				for (off = 0; c.n == 4 && off < 4; off++) {
					uint32_t at = 0, m;

					for (m = 0; m < off; m++)
						at += 4 + want.len[m];
					CHECK(c.type[off] == want.type[off] && c.len[off] == want.len[off]);
					if (!cw_tls_hs_body_kept(c.type[off]))
						CHECK(c.body[off] == NULL);
					else
						CHECK(c.body[off] != NULL &&
						      memcmp(c.body[off], msgs + at + 4, want.len[off]) == 0);
				}
			}
		}
	}
}

/* Hand-made framing edge cases. */
static void
test_framing_edges(void)
{
	struct cw_tls_stream ts;
	struct cw_reasm r;
	struct cw_tls_item it;
	uint8_t b[64];

	/* A 16 MiB Certificate claim: FULL at once, not a wait for bytes that cannot fit. */
	memcpy(b, "\x16\x03\x03\x00\x08\x0b\xff\xff\xff\x00\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, CW_REASM_DEFAULT_CAP, 13);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_FULL);
	/* A claim that fits the cap waits. */
	memcpy(b, "\x16\x03\x03\x00\x08\x0b\x00\x10\x00\x00\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, CW_REASM_DEFAULT_CAP, 13);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);
	/* So does one past the cap: the buffer may still fill with whole certificates. */
	memcpy(b, "\x16\x03\x03\x00\x08\x0b\x00\x10\x00\x00\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, 4096, 13);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);
	/* A hello past the cap is FULL at once: no part of it is of use. */
	memcpy(b, "\x16\x03\x03\x00\x08\x02\x00\x10\x00\x00\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, 4096, 13);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_FULL);
	/* A Certificate longer than any client takes is FULL at once too. */
	memcpy(b, "\x16\x03\x03\x00\x08\x0b\x04\x00\x01\x04\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, CW_REASM_DEFAULT_CAP, 13);
	CHECK(CW_TLS_MAX_CERT_MSG == 0x40000 && cw_tls_next(&ts, &r, &it) == CW_TI_FULL);

	/* Zero-length and oversized records. */
	memcpy(b, "\x16\x03\x01\x00\x04\x01\x00\x00\x00\x17\x03\x03\x00\x00", 14);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 14);
	/* Framing does not judge message contents: an empty ClientHello is handed on. */
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == 1 && it.len == 0);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_BAD && it.rec_len == 0);

	memcpy(b, "\x16\x03\x01\x00\x00", 5);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 5);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_NOT_TLS); /* the probe refuses a 0-length first record */
	memcpy(b, "\x15\x03\x03\x00\x02\x02\x28\x17\x03\x03\x00\x00", 12);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 12);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_type == CW_TLS_CT_ALERT);
	CHECK(it.rec_len == 2 && it.body == NULL && it.len == 0);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_BAD && it.rec_len == 0);
	memcpy(b, "\x15\x03\x03\x00\x02\x02\x28\x17\x03\x03\x48\x01", 12);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 12);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_BAD && it.rec_len == CW_TLS_MAX_RECORD + 1);
	memcpy(b, "\x15\x03\x03\x00\x02\x02\x28\x17\x07\x03\x00\x01", 12);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 12);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_BAD);
	/* A record of version 3.5 (or 3.255) is framed like any other. */
	memcpy(b, "\x15\x03\x05\x00\x02\x02\x28\x17\x03\xff\x00\x01\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 13);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_version == 0x0305);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_version == 0x03ff);

	/* Not TLS: decided on the first byte when it can be. */
	memcpy(b, "GET / HTTP/1.1\r\n", 16);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 1);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_NOT_TLS);
	CHECK(cw_tls_probe((const uint8_t *)"\x16", 1) == -1);
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x03", 2) == -1);
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x02", 2) == 0);
	/* The record's minor version is legacy_record_version: ignored, as receivers do. */
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x03\x05", 3) == -1);
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x03\x05\x00\x04", 5) == 1);
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x04\x01\x00\x04", 5) == 0);
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x03\x01\x48\x01", 5) == 0);
	CHECK(cw_tls_probe((const uint8_t *)"\x16\x03\x01\x48\x00", 5) == 1);
	CHECK(cw_tls_probe((const uint8_t *)"\x18\x03\x01\x00\x01", 5) == 0);
	CHECK(cw_tls_probe((const uint8_t *)"\x80\x2e\x01\x03\x01", 5) == 1);
	CHECK(cw_tls_probe((const uint8_t *)"\x80\x2e\x02", 3) == 0);
	CHECK(cw_tls_probe((const uint8_t *)"\x80\x05", 2) == 0);
	CHECK(cw_tls_probe((const uint8_t *)"\x80\x2e\x01\x00\x03", 5) == 0);
	CHECK(cw_tls_probe(b, 0) == -1);

	/* The buffer is full and nothing completes: FULL, not MORE forever. */
	memcpy(b, "\x17\x03\x03\x00\x40", 5);
	memset(b + 5, 0xaa, sizeof(b) - 5);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), sizeof(b));
	/* A record larger than the buffer is reported at its header, then the stream is FULL. */
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_len == 0x40 && it.body == NULL);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_FULL);
	CHECK(r.consumed == r.contig);
	/*
	 * A handshake record that cannot fit the buffer is taken up to the cap
	 * (a message that ends below it is still handed on), then FULL.
	 */
	memcpy(b, "\x16\x03\x03\x00\x40\x0e\x00\x00\x00\x0c\x00\x10\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 5);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);
	r.contig = 10;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == CW_TLS_HS_SERVER_HELLO_DONE);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);
	r.contig = sizeof(b);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == 12 && it.body == NULL);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_FULL);
	/* A partial header with the buffer full. */
	memcpy(b, "\x15\x03\x03\x00\x3a", 5);
	memset(b + 5, 0, sizeof(b) - 5);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), sizeof(b));
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_len == 0x3a);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_FULL);

	/* Resumable after a preamble skip: the stream restarts at rd. */
	memcpy(b, "CONNECT\r\n\x15\x03\x03\x00\x02\x02\x28", 16);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 16);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_NOT_TLS);
	cw_tls_stream_init(&ts);
	ts.rd = ts.hs_rd = ts.hs_wr = 9;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_type == CW_TLS_CT_ALERT);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);

	/*
	 * A non-handshake record is reported at its header, before its body is in, and the body
	 * is consumed as it arrives, never held for the parser: an application data record of 40
	 * bytes fed 5, then 20, then 25 bytes, then an alert.
	 */
	memcpy(b, "\x17\x03\x03\x00\x28", 5);
	memset(b + 5, 0xee, 40);
	memcpy(b + 45, "\x15\x03\x03\x00\x02\x01\x00", 7);
	cw_tls_stream_init(&ts);
	ts.encrypted = 1;
	reasm_over(&r, b, sizeof(b), 5);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_type == CW_TLS_CT_APPDATA);
	CHECK(it.rec_len == 40 && it.body == NULL && r.consumed == 5);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && r.consumed == 5);
	r.contig = 25;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && r.consumed == 25);
	r.contig = 50;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_RECORD && it.rec_type == CW_TLS_CT_ALERT);
	CHECK(it.rec_len == 2 && r.consumed == 50);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && r.consumed == 50);
	/* A kept message waits whole, its partial body taken into the handshake bytes. */
	memcpy(b, "\x16\x03\x03\x00\x08\x0b\x00\x00\x04\x00\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 9);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && r.consumed == 5);
	CHECK(ts.hs_rd == 5 && ts.hs_wr == 9 && ts.rec_left == 4);
	r.contig = 13;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == CW_TLS_HS_CERTIFICATE);
	CHECK(it.len == 4 && it.body == b + 9 && r.consumed == 13);

	/*
	 * A message whose body is not kept (ServerKeyExchange, 12 bytes, split across two
	 * records and fed a few bytes at a time) is handed on at its header and its body
	 * dropped as it comes, never moved; the ServerHelloDone after it still comes out.
	 */
	memcpy(b, "\x16\x03\x03\x00\x0a\x0c\x00\x00\x0c", 9);
	memset(b + 9, 0xab, 6);
	memcpy(b + 15, "\x16\x03\x03\x00\x0a", 5);
	memset(b + 20, 0xcd, 6);
	memcpy(b + 26, "\x0e\x00\x00\x00", 4);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 7);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && r.consumed == 5);
	r.contig = 9;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == CW_TLS_HS_SERVER_KEY_EXCHANGE);
	CHECK(it.len == 12 && it.body == NULL && ts.hs_skip == 12);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);
	r.contig = 12;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && ts.hs_skip == 9 && r.consumed == 12);
	CHECK(ts.hs_rd == ts.hs_wr);
	r.contig = 22;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && ts.hs_skip == 4 && ts.hs_rd == ts.hs_wr);
	r.contig = 30;
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == CW_TLS_HS_SERVER_HELLO_DONE);
	CHECK(it.len == 0 && it.body == NULL && ts.hs_skip == 0 && r.consumed == 30);
	CHECK(memcmp(b + 20, "\xcd\xcd\xcd\xcd\xcd\xcd", 6) == 0); /* nothing moved over them */
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);

	/* A skipped message does not need to fit the cap: only its records do. */
	memcpy(b, "\x16\x03\x03\x00\x08\x16\x01\x00\x00\x00\x00\x00\x00", 13);
	cw_tls_stream_init(&ts);
	reasm_over(&r, b, sizeof(b), 13);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.hs_type == 22 && it.len == 0x10000);
	CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE && ts.hs_skip == 0x10000 - 4);
}

/* Certificate: TLS 1.3 form and malformed lists (hand-made around real DER). */
static void
test_certificate_forms(void)
{
	static uint8_t b[8192];
	struct cw_cert_list cl;
	struct collected c;
	const uint8_t *der;
	uint32_t dlen, n = 0, l, i;
	long sn;

	sn = tp_stream(JA4_PCAP "tls-alpn-h2.pcap", 443, stream, sizeof(stream));
	memcpy(work, stream, (size_t)sn);
	run_stream(work, BUFSZ, (uint32_t)sn, (uint32_t)sn, &c);
	CHECK(c.n >= 2 && c.type[1] == CW_TLS_HS_CERTIFICATE);
	CHECK(cw_tls_parse_certificate(c.body[1], c.len[1], 0, &cl) == CW_OK);
	/* tshark: two certificates of 1555 and 1004 bytes. */
	CHECK(cl.n == 2 && cl.c[0].len == 1555 && cl.c[1].len == 1004);
	der = cl.c[0].p;
	dlen = cl.c[0].len;

	/* TLS 1.3: context "", one entry with an empty extension list, one with an extension. */
	b[n++] = 0;
	n += 3;
	for (i = 0; i < 2; i++) {
		b[n++] = (uint8_t)(dlen >> 16), b[n++] = (uint8_t)(dlen >> 8), b[n++] = (uint8_t)dlen;
		memcpy(b + n, der, dlen), n += dlen;
		if (i == 0)
			b[n++] = 0, b[n++] = 0;
		else
			memcpy(b + n, "\x00\x06\x00\x05\x00\x02\xab\xcd", 8), n += 8;
	}
	l = n - 4;
	b[1] = (uint8_t)(l >> 16), b[2] = (uint8_t)(l >> 8), b[3] = (uint8_t)l;
	CHECK(cw_tls_parse_certificate(b, n, CW_TLS_CERT_13, &cl) == CW_OK);
	CHECK(cl.n == 2 && cl.total == 2 && cl.c[1].len == dlen && cl.c[1].p == b + 4 + 3 + dlen + 2 + 3);
	/* The same bytes read as TLS 1.2 are malformed. */
	CHECK(cw_tls_parse_certificate(b, n, 0, &cl) == CW_BAD);
	for (l = 0; l < n; l++)
		CHECK(cw_tls_parse_certificate(b, l, CW_TLS_CERT_13, &cl) == CW_BAD);
	/* Every prefix of it, read as the start of a longer message: the entries whole in it. */
	for (l = 0; l <= n; l++) {
		int rc = cw_tls_parse_certificate(b, l, CW_TLS_CERT_13 | CW_TLS_CERT_PREFIX, &cl);

		if (l < 4 || l == n) {
			CHECK(rc == CW_BAD); /* no list length yet, or the list is whole */
			continue;
		}
		CHECK(rc == CW_OK && cl.n == cl.total);
		CHECK(cl.total == (l >= 4 + 3 + dlen + 2 ? 1u : 0u));
		CHECK(cl.n == 0 || (cl.c[0].p == b + 4 + 3 && cl.c[0].len == dlen));
	}
	/* Trailing byte after certificate_list. */
	b[n] = 0;
	CHECK(cw_tls_parse_certificate(b, n + 1, CW_TLS_CERT_13, &cl) == CW_BAD);

	/* TLS 1.2: an empty list is valid; a zero-length certificate is not. */
	CHECK(cw_tls_parse_certificate((const uint8_t *)"\x00\x00\x00", 3, 0, &cl) == CW_OK && cl.n == 0);
	CHECK(cw_tls_parse_certificate((const uint8_t *)"\x00\x00\x03\x00\x00\x00", 6, 0, &cl) ==
	      CW_BAD);

	/* More certificates than kept: n stops at the max, total counts all. */
	n = 3;
	for (i = 0; i < CW_TLS_MAX_CERTS + 2; i++) {
		b[n++] = 0, b[n++] = 0, b[n++] = 2;
		b[n++] = 0x30, b[n++] = (uint8_t)i;
	}
	l = n - 3;
	b[0] = (uint8_t)(l >> 16), b[1] = (uint8_t)(l >> 8), b[2] = (uint8_t)l;
	CHECK(cw_tls_parse_certificate(b, n, 0, &cl) == CW_OK);
	CHECK(cl.n == CW_TLS_MAX_CERTS && cl.total == CW_TLS_MAX_CERTS + 2);
	CHECK(cl.c[CW_TLS_MAX_CERTS - 1].p[1] == CW_TLS_MAX_CERTS - 1);
	/* Its prefixes: each 5-byte entry counts once it is whole. */
	for (l = 0; l < n; l++) {
		uint32_t whole = l < 3 ? 0 : (l - 3) / 5;

		if (l < 3) {
			CHECK(cw_tls_parse_certificate(b, l, CW_TLS_CERT_PREFIX, &cl) == CW_BAD);
			continue;
		}
		CHECK(cw_tls_parse_certificate(b, l, CW_TLS_CERT_PREFIX, &cl) == CW_OK);
		CHECK(cl.total == whole && cl.n == (whole < CW_TLS_MAX_CERTS ? whole : CW_TLS_MAX_CERTS));
		CHECK(cl.n == 0 || cl.c[cl.n - 1].p == b + 3 + 5 * (cl.n - 1) + 3);
	}
	/* A zero-length certificate in a prefix is as malformed as in a whole message. */
	memcpy(b, "\x00\x10\x00\x00\x00\x00\x00", 7);
	CHECK(cw_tls_parse_certificate(b, 7, CW_TLS_CERT_PREFIX, &cl) == CW_BAD);
}

/*
 * A Certificate message longer than the buffer, in two records: the framing
 * takes it until the buffer is full, hands on what it holds (cut), and the
 * prefix parse gives the certificates that came whole, leaf first.
 */
static void
test_cut_certificate(void)
{
	static const uint32_t dlen[3] = {300, 200, 3000};
	static uint8_t msg[4096], stream[4096], buf[1024];
	struct cw_tls_stream ts;
	struct cw_reasm r;
	struct cw_tls_item it;
	struct cw_cert_list cl;
	uint32_t n = 7, i, j, len, at, first, lim;

	for (i = 0; i < 3; i++) {
		msg[n++] = 0, msg[n++] = (uint8_t)(dlen[i] >> 8), msg[n++] = (uint8_t)dlen[i];
		for (j = 0; j < dlen[i]; j++)
			msg[n++] = (uint8_t)(0x30 + i);
	}
	msg[0] = CW_TLS_HS_CERTIFICATE;
	msg[1] = 0, msg[2] = (uint8_t)((n - 4) >> 8), msg[3] = (uint8_t)(n - 4);
	msg[4] = 0, msg[5] = (uint8_t)((n - 7) >> 8), msg[6] = (uint8_t)(n - 7);
	/* Two records: the first ends inside the second certificate's bytes. */
	first = 400;
	len = 0;
	memcpy(stream + len, "\x16\x03\x03", 3), len += 3;
	stream[len++] = (uint8_t)(first >> 8), stream[len++] = (uint8_t)first;
	memcpy(stream + len, msg, first), len += first;
	memcpy(stream + len, "\x16\x03\x03", 3), len += 3;
	stream[len++] = (uint8_t)((n - first) >> 8), stream[len++] = (uint8_t)(n - first);
	memcpy(stream + len, msg + first, n - first), len += n - first;

	for (lim = 500; lim <= sizeof(buf); lim += 524) {
		memcpy(buf, stream, lim);
		cw_tls_stream_init(&ts);
		reasm_over(&r, buf, lim, 0);
		/* Byte by byte: nothing but MORE until the buffer is full. */
		for (at = 1; at < lim; at++) {
			r.contig = at;
			CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_MORE);
		}
		r.contig = lim;
		CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_HS && it.cut == 1);
		CHECK(it.hs_type == CW_TLS_HS_CERTIFICATE && it.len == lim - 10 - 4);
		CHECK(memcmp(it.body, msg + 4, it.len) == 0);
		CHECK(cw_tls_parse_certificate(it.body, it.len, 0, &cl) == CW_BAD);
		CHECK(cw_tls_parse_certificate(it.body, it.len, CW_TLS_CERT_PREFIX, &cl) == CW_OK);
		/* 500 B hold the leaf (its bytes end at 306 of the body); 1024 B the second too (509). */
		CHECK(cl.n == cl.total && cl.n == (lim == 500 ? 1u : 2u));
		CHECK(cl.c[0].len == dlen[0] && cl.c[0].p[0] == 0x30 && cl.c[0].p[dlen[0] - 1] == 0x30);
		CHECK(cl.n < 2 || (cl.c[1].len == dlen[1] && cl.c[1].p[dlen[1] - 1] == 0x31));
		CHECK(cw_tls_next(&ts, &r, &it) == CW_TI_FULL && it.cut == 0);
	}
}

int
main(void)
{
	test_client_hello();
	test_client_hello_flags();
	test_server_hello();
	test_truncation();
	test_duplicate_extension();
	test_many_extensions();
	test_bad_inner_layout();
	test_framing_real();
	test_sslv2();
	test_framing_reframed();
	test_framing_edges();
	test_cut_certificate();
	test_certificate_forms();
	if (failures) {
		fprintf(stderr, "test_tls: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_tls: ok\n");
	return 0;
}
