/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit test of JA3, JA3S and JA4: reference vectors from real captures, spec edge cases, no allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "fingerprint.h"
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

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		if (strcmp((got), (want)) != 0) {                                                  \
			fprintf(stderr, "%s:%d: got  %s\n%*swant %s\n", __FILE__, __LINE__, (got), \
				(int)strlen(__FILE__) + 6, "", (want));                            \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CONF "tests/data/conformance/"

/* Allocations made through OpenSSL's allocator, to prove the fast path makes none. */
static unsigned long crypto_allocs;

static void *
count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	crypto_allocs++;
	return malloc(n);
}

static void *
count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	crypto_allocs++;
	return realloc(p, n);
}

static void
count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static uint8_t pkt[65536];

/* The single handshake message of a frame's first record. Returns the body or NULL. */
static const uint8_t *
frame_hs(const char *path, unsigned int frame, uint8_t type, uint32_t *len)
{
	long n = tp_frame_payload(path, frame, pkt, sizeof(pkt));

	if (n < 9 || pkt[0] != CW_TLS_CT_HANDSHAKE || pkt[5] != type) {
		fprintf(stderr, "%s frame %u: no handshake type %u\n", path, frame, type);
		failures++;
		return NULL;
	}
	*len = (uint32_t)pkt[6] << 16 | (uint32_t)pkt[7] << 8 | pkt[8];
	if (*len + 9 > (uint32_t)n) {
		fprintf(stderr, "%s frame %u: message spans segments\n", path, frame);
		failures++;
		return NULL;
	}
	return pkt + 9;
}

static int
load_ch(const char *path, unsigned int frame, struct cw_client_hello *ch)
{
	uint32_t len;
	const uint8_t *b = frame_hs(path, frame, CW_TLS_HS_CLIENT_HELLO, &len);

	if (b == NULL || cw_tls_parse_client_hello(b, len, ch) != CW_OK) {
		fprintf(stderr, "%s frame %u: ClientHello did not parse\n", path, frame);
		failures++;
		return -1;
	}
	return 0;
}

/* JA3/JA3S vectors of suricata-verify (ja3/VECTORS_from_suricata-verify.tsv), single-segment hellos. */
static const struct {
	const char *pcap;
	unsigned int frame;
	int server;
	const char *str;
	const char *md5;
} ja3_vectors[] = {
	{CONF "suricata-verify/tests/tls-duplicate-hello/input.pcap", 7, 0,
	 "771,4866-4867-4865-4868-49196-52393-49325-49162-49195-49324-49161-49200-52392-49172-49199-"
	 "49171-157-49309-53-156-49308-47-159-52394-49311-57-158-49310-51,5-10-11-13-22-23-35-51-43-"
	 "65281-0-45,23,0",
	 "43202faa1c8c1760d6f7f4bd9adde4ab"},
	{CONF "suricata-verify/tests/tls/tls-certs-alert/input.pcap", 6, 1,
	 "771,49199,65281-0-11-16-23", "5d79edf64e03689ff559a54e9d9487bc"},
	{CONF "suricata-verify/tests/tls/tls13-draft14/tls13_draft14.pcap", 4, 0,
	 "772,49195-49199-52393-52392-49196-49200-49162-49161-49171-49172-51-57-47-53-10,0-23-65281-"
	 "10-11-35-13172-16-5-65282-40-13,23-24-25-256-257-258-259-260,0",
	 "65825469c473e48f3ee2571129256ab0"},
	{CONF "suricata-verify/tests/tls/tls13-draft18/tls13_draft18.pcap", 8, 0,
	 "771,4865-4866-4867-49195-49199-158-49196-49200-159-52393-52392-52244-52243-49161-49187-"
	 "49171-49191-51-103-49162-49188-49172-49192-57-107-156-157-47-60-53-61-10,65281-23-35-13-11-"
	 "40-45-43-10,29-23-24,0",
	 "23d254f72096d25c350e4a4a792f4948"},
	{CONF "suricata-verify/tests/tls/tls13-draft19/tls13_draft19.pcap", 4, 0,
	 "771,4866-255,0-11-10-35-13-22-23-43-45-40,29-23-25-24,0-1-2",
	 "0e870cb29dd59424064948532781a7f6"},
	{CONF "suricata-verify/tests/tls/tls13-draft19/tls13_draft19.pcap", 19, 0,
	 "771,4866-255,0-11-10-35-13-22-23-43-45-40-42-41,29-23-25-24,0-1-2",
	 "30e5035b2d6787e7b319f75c36c438fe"},
	{CONF "suricata-verify/tests/tls/tls13-draft19/tls13_draft19.pcap", 36, 0,
	 "771,49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-"
	 "49172-57-49161-49171-51-157-156-4866-4867-4865-61-60-53-47-255,0-11-10-35-13-22-23-43-45-"
	 "40-42-41,29-23-25-24,0-1-2",
	 "e6ae7b5efb58894bd43d6fa73420d267"},
	{CONF "suricata-verify/tests/tls/tls13-draft22/tls13_draft22.pcap", 4, 0,
	 "771,4865-4867,0-43-13-10-40,23,", "786468211b4d23f9b725987b0de9d090"},
	{CONF "suricata-verify/tests/tls/tls13-draft23/tls13_draft23.pcap", 4, 0,
	 "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49161-49187-49171-49191-49162-49188-"
	 "49172-49192-156-157-47-60-53-61-10,65281-23-35-13-11-51-45-43-10,29-23-24,0",
	 "0558cf38ebac58d332d7f39308fcd006"},
	{CONF "suricata-verify/tests/tls/tls13-draft28/tls13_draft28.pcap", 4, 0,
	 "771,4866-4867-4865-4868-49196-52393-49325-49162-49195-49324-49161-49200-52392-49172-49199-"
	 "49171-157-49309-53-156-49308-47-159-52394-49311-57-158-49310-51,5-10-11-13-22-23-35-51-43-"
	 "65281-0-45,23,0",
	 "43202faa1c8c1760d6f7f4bd9adde4ab"},
	{CONF "suricata-verify/tests/tls/tls13-draft28/tls13_draft28.pcap", 20, 0,
	 "771,4866-4867-4865-4868-49196-52393-49325-49162-49195-49324-49161-49200-52392-49172-49199-"
	 "49171-157-49309-53-156-49308-47-159-52394-49311-57-158-49310-51,5-10-11-13-22-23-35-51-43-"
	 "65281-0-45-41,23,0",
	 "d00857e0c8e7a7f35e446508c6233460"},
};

static void
test_ja3(void)
{
	struct cw_client_hello ch;
	struct cw_server_hello sh;
	char str[1024], md5[CW_MD5_HEX], md5b[CW_MD5_HEX], small[10];
	size_t i, n;
	uint32_t len;
	const uint8_t *b;

	for (i = 0; i < sizeof(ja3_vectors) / sizeof(ja3_vectors[0]); i++) {
		if (ja3_vectors[i].server) {
			b = frame_hs(ja3_vectors[i].pcap, ja3_vectors[i].frame, CW_TLS_HS_SERVER_HELLO,
				     &len);
			if (b == NULL)
				continue;
			CHECK(cw_tls_parse_server_hello(b, len, &sh) == CW_OK);
			n = cw_ja3s(&sh, str, sizeof(str), md5);
		} else {
			if (load_ch(ja3_vectors[i].pcap, ja3_vectors[i].frame, &ch) != 0)
				continue;
			n = cw_ja3(&ch, str, sizeof(str), md5);
		}
		CHECK_STR(str, ja3_vectors[i].str);
		CHECK_STR(md5, ja3_vectors[i].md5);
		CHECK(n == strlen(ja3_vectors[i].str));
	}

	/* Output cut short: the digest still covers the whole string. */
	CHECK(load_ch(ja3_vectors[0].pcap, ja3_vectors[0].frame, &ch) == 0);
	n = cw_ja3(&ch, small, sizeof(small), md5b);
	CHECK(n == strlen(ja3_vectors[0].str));
	CHECK(strlen(small) == sizeof(small) - 1 && memcmp(small, "771,4866-", 9) == 0);
	CHECK_STR(md5b, ja3_vectors[0].md5);
	n = cw_ja3(&ch, NULL, 0, md5b);
	CHECK(n == strlen(ja3_vectors[0].str));
	CHECK_STR(md5b, ja3_vectors[0].md5);

	/* GREASE in ciphers, extensions and groups is dropped (Chrome hello from badcurveball). */
	CHECK(load_ch(CONF "ja4/pcap/badcurveball.pcap", 4, &ch) == 0);
	CHECK(cw_tls_is_grease(ch.ext[0]));
	cw_ja3(&ch, str, sizeof(str), md5);
	CHECK(strstr(str, "2570") == NULL && strstr(str, "6682") == NULL);
	/* JA3S keeps GREASE: a server extension type 0x0a0a stays in the string. */
	b = frame_hs(ja3_vectors[1].pcap, ja3_vectors[1].frame, CW_TLS_HS_SERVER_HELLO, &len);
	if (b != NULL) {
		CHECK(cw_tls_parse_server_hello(b, len, &sh) == CW_OK);
		sh.ext[sh.n_ext++] = 0x0a0a;
		cw_ja3s(&sh, str, sizeof(str), md5);
		CHECK_STR(str, "771,49199,65281-0-11-16-23-2570");
	}
}

/* JA4 of real hellos against the FoxIO snapshots (ja4/expected/ snapshots) and the spec. */
static const struct {
	const char *pcap;
	unsigned int frame;
	const char *ja4;
} ja4_vectors[] = {
	{CONF "ja4/pcap/tls-alpn-h2.pcap", 4, "t12d4605h2_85626a9a5f7f_aaf95bb78ec9"},
	{CONF "ja4/pcap/badcurveball.pcap", 4, "t13d1615h2_46e7e9700bed_45f260be83e2"},
	{CONF "ja4/pcap/tls12.pcap", 1, "t13d1715h2_5b57614c22b0_3d5424432f57"},
	{CONF "ja4/pcap/https3-301-get.pcap", 4, "t10d230100_6a57a6f57151_000000000000"},
	/* Spec, not the references (which print 99): first ALPN bytes BA AD -> "bd". */
	{CONF "ja4/pcap/tls-non-ascii-alpn.pcapng", 1, "t13d1516bd_8daaf6152771_e5627efa2ab1"},
};

/* The 12-hex truncated SHA-256 of s, computed independently of fingerprint.c. */
static void
sha12(const char *s, size_t n, char out[13])
{
	uint8_t d[32];
	unsigned int dl;
	int i;

	EVP_Digest(s, n, d, &dl, EVP_sha256(), NULL);
	for (i = 0; i < 6; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* JA4 must equal JA4_r with its b and c sections hashed (and _o with _ro). */
static void
check_raw_matches_hashed(const struct cw_client_hello *ch)
{
	static const enum cw_ja4_kind pairs[2][2] = {{CW_JA4_R, CW_JA4}, {CW_JA4_RO, CW_JA4_O}};
	char raw[4096], hashed[64], want[64], hb[13], hc[13];
	const char *b, *c;
	int i;

	for (i = 0; i < 2; i++) {
		cw_ja4(ch, 't', pairs[i][0], raw, sizeof(raw));
		cw_ja4(ch, 't', pairs[i][1], hashed, sizeof(hashed));
		b = raw + 11;
		c = strchr(b, '_');
		if (c == NULL) {
			CHECK(!"raw JA4 without sections");
			return;
		}
		if (c == b)
			strcpy(hb, "000000000000");
		else
			sha12(b, (size_t)(c - b), hb);
		c++;
		if (*c == '\0')
			strcpy(hc, "000000000000");
		else
			sha12(c, strlen(c), hc);
		snprintf(want, sizeof(want), "%.10s_%s_%s", raw, hb, hc);
		CHECK_STR(hashed, want);
	}
}

static void
test_ja4_captures(void)
{
	struct cw_client_hello ch;
	char out[4096];
	size_t i, n;

	for (i = 0; i < sizeof(ja4_vectors) / sizeof(ja4_vectors[0]); i++) {
		if (load_ch(ja4_vectors[i].pcap, ja4_vectors[i].frame, &ch) != 0)
			continue;
		n = cw_ja4(&ch, 't', CW_JA4, out, sizeof(out));
		CHECK_STR(out, ja4_vectors[i].ja4);
		CHECK(n == CW_JA4_LEN);
		check_raw_matches_hashed(&ch);
	}

	/* The non-ASCII ALPN hello is the spec's own example hello: its raw forms are in JA4.md. */
	if (load_ch(CONF "ja4/pcap/tls-non-ascii-alpn.pcapng", 1, &ch) == 0) {
		cw_ja4(&ch, 't', CW_JA4_R, out, sizeof(out));
		CHECK_STR(out, "t13d1516bd_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,"
			       "c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,"
			       "0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601");
		cw_ja4(&ch, 't', CW_JA4_O, out, sizeof(out));
		CHECK(strncmp(out, "t13d1516bd_acb858a92679_", 24) == 0);
		/* Cut output: NUL-terminated at outsz-1, full length returned. */
		CHECK(cw_ja4(&ch, 't', CW_JA4, out, 5) == CW_JA4_LEN);
		CHECK_STR(out, "t13d");
		CHECK(cw_ja4(&ch, 'q', CW_JA4, out, sizeof(out)) == CW_JA4_LEN && out[0] == 'q');
	}
}

/* Big-endian helpers for the one hand-built hello below. */
static uint32_t
put16(uint8_t *b, uint32_t o, uint16_t v)
{
	b[o] = (uint8_t)(v >> 8);
	b[o + 1] = (uint8_t)v;
	return o + 2;
}

static uint32_t
put_hex_u16s(uint8_t *b, uint32_t o, const char *list)
{
	while (*list) {
		o = put16(b, o, (uint16_t)strtoul(list, NULL, 16));
		list += 4;
		if (*list == ',')
			list++;
	}
	return o;
}

/*
 * GREASE inside signature_algorithms (ja4/newer-commits: the capture itself
 * is not distributed, only FoxIO's expected JA4, _r, _o and _ro). The hello
 * is rebuilt from its _ro string with GREASE added to every list, the
 * signature algorithms included; all four outputs must match.
 */
static void
test_ja4_sigalg_grease(void)
{
	static const char *ciphers = "0a0a,1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,"
				     "009c,009d,002f,0035";
	static const char *exts = "1a1a,fe0d,0010,0017,0033,44cd,ff01,000a,000d,0023,002b,000b,ca34,"
				  "002d,0000,0005,001b,0012,2a2a";
	static const char *sigalgs = "0904,0905,0906,3a3a,0403,0804,0401,0503,0805,0501,0806,0601";
	static const char *host = "optimizationguide-pa.googleapis.com";
	static uint8_t b[2048];
	struct cw_client_hello ch;
	char out[1024];
	uint32_t o = 0, l, len_at, ext_at;
	const char *e;
	uint16_t t;

	o = put16(b, o, 0x0303);
	memset(b + o, 0x5c, 32), o += 32;
	b[o++] = 0;
	len_at = o, o += 2;
	o = put_hex_u16s(b, o, ciphers);
	put16(b, len_at, (uint16_t)(o - len_at - 2));
	b[o++] = 1, b[o++] = 0;
	ext_at = o, o += 2;
	for (e = exts; *e; e += (e[4] == ',') ? 5 : 4) {
		t = (uint16_t)strtoul(e, NULL, 16);
		o = put16(b, o, t);
		len_at = o, o += 2;
		switch (t) {
		case 0x0000:
			l = (uint32_t)strlen(host);
			o = put16(b, o, (uint16_t)(l + 3));
			b[o++] = 0;
			o = put16(b, o, (uint16_t)l);
			memcpy(b + o, host, l), o += l;
			break;
		case 0x0010:
			memcpy(b + o, "\x00\x0c\x02h2\x08http/1.1", 14), o += 14;
			break;
		case 0x000d:
			o = put16(b, o, 24);
			o = put_hex_u16s(b, o, sigalgs);
			break;
		case 0x000a:
			memcpy(b + o, "\x00\x08\x4a\x4a\x00\x1d\x00\x17\x00\x18", 10), o += 10;
			break;
		case 0x002b:
			memcpy(b + o, "\x06\x5a\x5a\x03\x04\x03\x03", 7), o += 7;
			break;
		case 0x000b:
			memcpy(b + o, "\x01\x00", 2), o += 2;
			break;
		case 0x0033:
			memcpy(b + o, "\x00\x05\x4a\x4a\x00\x01\x00", 7), o += 7;
			break;
		case 0x002d:
			memcpy(b + o, "\x01\x01", 2), o += 2;
			break;
		case 0xfe0d:
			memcpy(b + o, "\x00\x00\x01\x00\x01\x22", 6), o += 6;
			break;
		case 0x1a1a:
			break;
		case 0x2a2a:
			b[o++] = 0;
			break;
		default:
			break;
		}
		put16(b, len_at, (uint16_t)(o - len_at - 2));
	}
	put16(b, ext_at, (uint16_t)(o - ext_at - 2));

	CHECK(cw_tls_parse_client_hello(b, o, &ch) == CW_OK);
	CHECK(ch.anomalies == 0 && ch.version == 0x0304 && ch.has_ech);
	cw_ja4(&ch, 't', CW_JA4, out, sizeof(out));
	CHECK_STR(out, "t13d1517h2_8daaf6152771_cb7bf5808d99");
	cw_ja4(&ch, 't', CW_JA4_R, out, sizeof(out));
	CHECK_STR(out, "t13d1517h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,"
		       "cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,ca34,"
		       "fe0d,ff01_0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601");
	cw_ja4(&ch, 't', CW_JA4_O, out, sizeof(out));
	CHECK_STR(out, "t13d1517h2_acb858a92679_88bf22a3e888");
	cw_ja4(&ch, 't', CW_JA4_RO, out, sizeof(out));
	CHECK_STR(out, "t13d1517h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,"
		       "002f,0035_fe0d,0010,0017,0033,44cd,ff01,000a,000d,0023,002b,000b,ca34,002d,"
		       "0000,0005,001b,0012_0904,0905,0906,0403,0804,0401,0503,0805,0501,0806,0601");
}

/* Spec cases the references get wrong, applied to a real hello with one field changed. */
static void
test_ja4_edges(void)
{
	struct cw_client_hello ch, e;
	char out[1024];

	if (load_ch(CONF "ja4/pcap/tls-alpn-h2.pcap", 4, &ch) != 0)
		return;
	/* One-byte ALPN "a": the byte is both first and last. */
	e = ch;
	e.alpn.p = (const uint8_t *)"\x01" "a\x02h2";
	e.alpn.len = 5;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out, "t12d4605aa_", 11) == 0);
	/* The examples of JA4.md "ALPN Extension Value". */
	e.alpn.p = (const uint8_t *)"\x01\xab";
	e.alpn.len = 2;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "ab", 2) == 0);
	e.alpn.p = (const uint8_t *)"\x01\x20";
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "20", 2) == 0);
	e.alpn.p = (const uint8_t *)"\x02\x20\x61";
	e.alpn.len = 3;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "21", 2) == 0);
	e.alpn.p = (const uint8_t *)"\x02\x61\x20";
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "60", 2) == 0);
	e.alpn.p = (const uint8_t *)"\x04\x30\xab\xcd\x31";
	e.alpn.len = 5;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "01", 2) == 0);
	e.alpn.p = (const uint8_t *)"\x04\x30\x31\xab\xcd";
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "3d", 2) == 0);
	/* Empty first name, or a length running past the list: "00". */
	e.alpn.p = (const uint8_t *)"\x00\x02h2";
	e.alpn.len = 4;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "00", 2) == 0);
	e.alpn.p = (const uint8_t *)"\x09h2";
	e.alpn.len = 3;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out + 8, "00", 2) == 0);

	/* Empty cipher list: twelve zeros, not the hash of "". */
	e = ch;
	e.ciphers.len = 0;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK_STR(out, "t12d0005h2_000000000000_aaf95bb78ec9");
	/* Only SNI and ALPN: the sorted list is empty -> zeros; _o keeps both. */
	e = ch;
	e.n_ext = 2;
	e.ext[0] = 0x0000;
	e.ext[1] = 0x0010;
	e.sigalgs.len = 0;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK_STR(out, "t12d4602h2_85626a9a5f7f_000000000000");
	cw_ja4(&e, 't', CW_JA4_RO, out, sizeof(out));
	CHECK(strstr(out, "_0000,0010") != NULL);
	/* SNI present but empty is still a domain. */
	e = ch;
	e.sni.len = 0;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(out[3] == 'd');
	e.has_sni = 0;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(out[3] == 'i');
	/* Versions. */
	e = ch;
	e.version = 0x0300;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out, "ts3", 3) == 0);
	e.version = 0xfefd;
	cw_ja4(&e, 'd', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out, "dd2", 3) == 0);
	e.version = 0x7f1c;
	cw_ja4(&e, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out, "t00", 3) == 0);
}

/* More than 99 ciphers: the count saturates, the hash covers them all. */
static void
test_ja4_counts(void)
{
	static uint8_t ciphers[2 * 300];
	struct cw_client_hello ch;
	char out[4096];
	int i;

	if (load_ch(CONF "ja4/pcap/tls-alpn-h2.pcap", 4, &ch) != 0)
		return;
	for (i = 0; i < 300; i++) {
		ciphers[2 * i] = (uint8_t)((299 - i) >> 8);
		ciphers[2 * i + 1] = (uint8_t)(299 - i);
	}
	ch.ciphers.p = ciphers;
	ch.ciphers.len = sizeof(ciphers);
	cw_ja4(&ch, 't', CW_JA4, out, sizeof(out));
	CHECK(strncmp(out, "t12d9905", 8) == 0);
	cw_ja4(&ch, 't', CW_JA4_R, out, sizeof(out));
	CHECK(strncmp(out + 11, "0000,0001,0002,", 15) == 0);
	CHECK(strstr(out, ",012b_") != NULL);
	check_raw_matches_hashed(&ch);
}

/* After the first call on a thread, fingerprints allocate nothing. */
static void
test_no_allocation(void)
{
	struct cw_client_hello ch;
	struct cw_server_hello sh;
	char s[2048], md5[CW_MD5_HEX];
	unsigned long before;
	uint32_t len;
	const uint8_t *b;
	int i, k;

	if (load_ch(CONF "ja4/pcap/badcurveball.pcap", 4, &ch) != 0)
		return;
	b = frame_hs(CONF "ja4/pcap/badcurveball.pcap", 6, CW_TLS_HS_SERVER_HELLO, &len);
	if (b == NULL || cw_tls_parse_server_hello(b, len, &sh) != CW_OK)
		return;
	cw_ja3(&ch, s, sizeof(s), md5);
	cw_ja4(&ch, 't', CW_JA4, s, sizeof(s));
	before = crypto_allocs;
	for (i = 0; i < 100; i++) {
		cw_ja3(&ch, s, sizeof(s), md5);
		cw_ja3s(&sh, NULL, 0, md5);
		for (k = CW_JA4; k <= CW_JA4_RO; k++)
			cw_ja4(&ch, 't', (enum cw_ja4_kind)k, s, sizeof(s));
	}
	if (crypto_allocs != before)
		fprintf(stderr, "fingerprints allocated %lu times\n", crypto_allocs - before);
	CHECK(crypto_allocs == before);
	/* The counter is live: a one-shot digest allocates a context. */
	EVP_Digest("x", 1, (unsigned char *)s, NULL, EVP_sha256(), NULL);
	CHECK(crypto_allocs != before);
}

static void
test_hex(void)
{
	static const char dig[] = "0123456789abcdef";
	uint8_t in[256 + 40];
	char out[2 * sizeof(in) + 1], want[2 * sizeof(in) + 1];

	cw_hex((const uint8_t *)"\x00\x9f\xa0\xff", 4, out);
	CHECK_STR(out, "009fa0ff");
	cw_hex((const uint8_t *)"", 0, out);
	CHECK_STR(out, "");
	/* Every byte value, at every length and offset the 16-byte steps and the tail can meet. */
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + (i >> 8));
	for (size_t off = 0; off < 17; off++) {
		for (size_t n = 0; off + n <= sizeof(in); n += (n < 64 ? 1 : 37)) {
			for (size_t i = 0; i < n; i++) {
				want[2 * i] = dig[in[off + i] >> 4];
				want[2 * i + 1] = dig[in[off + i] & 15];
			}
			want[2 * n] = '\0';
			memset(out, 'x', sizeof(out));
			cw_hex(in + off, n, out);
			CHECK(memcmp(out, want, 2 * n + 1) == 0);
			CHECK(2 * n + 1 == sizeof(out) || out[2 * n + 1] == 'x');
		}
	}
}

int
main(void)
{
	/* Before any libcrypto call, so every allocation it makes is seen. */
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
		fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
		return 1;
	}
	test_hex();
	test_ja3();
	test_ja4_captures();
	test_ja4_sigalg_grease();
	test_ja4_edges();
	test_ja4_counts();
	test_no_allocation();
	if (failures) {
		fprintf(stderr, "test_fingerprint: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_fingerprint: ok\n");
	return 0;
}
