/* SPDX-License-Identifier: BSD-3-Clause */
/* cw-microbench: ns/op of the parsing core (hellos, fingerprints, chain ids, sessions, decode) on real bytes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_flows.h"
#include "chain.h"
#include "cw_config.h"
#include "decode.h"
#include "fingerprint.h"
#include "session.h"
#include "tls.h"

#ifndef CW_SRCDIR
#define CW_SRCDIR "."
#endif

#define MB_REASM_CAP CW_REASM_DEFAULT_CAP

/* Everything one benchmark needs, prepared before timing starts. */
struct mb {
	struct bf_capture cap;
	int flow12, flow13;           /* lab flows: TLS 1.2 with the longest chain, first TLS 1.3 */
	uint8_t *ch12, *ch13, *sh12;  /* template hello messages (header included) */
	uint32_t ch12_len, ch13_len, sh12_len;
	const uint8_t *ack;           /* a bare-ACK frame from the capture */
	uint32_t ack_len;
	struct cw_session sess;
	uint8_t *buf;                 /* 2 x MB_REASM_CAP */
	struct cw_sess_area area;
	struct cw_cert_list chain;    /* views into chain_buf */
	uint8_t *chain_buf;
	uint32_t fed;                 /* packets the last run_session() fed */
	uint32_t fed12, fed13;
	volatile uint64_t sink;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint8_t *
slurp(const char *path, uint32_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 16);
	size_t n;

	if (!f || !b) {
		fprintf(stderr, "cw-microbench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n = fread(b, 1, 1 << 16, f);
	fclose(f);
	*len = (uint32_t)n;
	return b;
}

/* Feed a flow's packets to a fresh session until the handshake ends. Returns the last rc. */
static int
run_session(struct mb *m, int flow)
{
	const struct bf_flow *fl = &m->cap.flows[flow];
	int rc = CW_SESS_MORE;

	cw_session_init(&m->sess, m->buf, m->buf + MB_REASM_CAP, MB_REASM_CAP, &m->area);
	for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
		const struct bf_frame *f = &m->cap.frames[fl->idx[i]];
		rc = cw_session_packet(&m->sess, &f->pkt, f->ts_ns);
		m->fed = i + 1;
	}
	cw_session_finish(&m->sess, rc == CW_SESS_DONE ? CW_END_DONE : CW_END_SHUTDOWN);
	return rc;
}

/* The same, decoding every frame on the way (what a worker does per packet). */
static int
run_session_decode(struct mb *m, int flow)
{
	const struct bf_flow *fl = &m->cap.flows[flow];
	int rc = CW_SESS_MORE;
	struct cw_pkt pkt;

	cw_session_init(&m->sess, m->buf, m->buf + MB_REASM_CAP, MB_REASM_CAP, &m->area);
	for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
		const struct bf_frame *f = &m->cap.frames[fl->idx[i]];
		if (cw_decode((enum cw_linktype)m->cap.linktype, f->data, f->len, &pkt) != CW_DEC_TCP)
			continue;
		rc = cw_session_packet(&m->sess, &pkt, f->ts_ns);
	}
	cw_session_finish(&m->sess, rc == CW_SESS_DONE ? CW_END_DONE : CW_END_SHUTDOWN);
	return rc;
}

static void
setup(struct mb *m, const char *pcap, const char *tdir)
{
	char path[4096];
	uint32_t best = 0;

	if (bf_load(&m->cap, pcap) < 0)
		exit(1);
	m->buf = malloc(2 * MB_REASM_CAP);
	m->chain_buf = malloc(MB_REASM_CAP);
	if (!m->buf || !m->chain_buf)
		exit(1);
	m->flow12 = m->flow13 = -1;
	for (uint32_t i = 0; i < m->cap.nflows; i++) {
		if (run_session(m, (int)i) != CW_SESS_DONE)
			continue;
		if (m->sess.ev.sh_version == 0x0303 && m->sess.ncert > best) {
			best = m->sess.ncert;
			m->flow12 = (int)i;
		}
		if (m->sess.ev.sh_version == 0x0304 && m->flow13 < 0 && !m->sess.hrr)
			m->flow13 = (int)i;
	}
	if (m->flow12 < 0 || m->flow13 < 0) {
		fprintf(stderr, "cw-microbench: %s: need a complete TLS 1.2 and TLS 1.3 handshake\n",
			pcap);
		exit(1);
	}
	/* Keep a copy of the TLS 1.2 chain: the session buffer is reused by the session benches. */
	run_session(m, m->flow13);
	m->fed13 = m->fed;
	run_session(m, m->flow12);
	m->fed12 = m->fed;
	{
		struct cw_cert_list cl;
		uint32_t off = 0;
		m->chain.n = m->chain.total = cw_session_certs(&m->sess, &cl);
		for (uint32_t i = 0; i < cl.n; i++) {
			memcpy(m->chain_buf + off, cl.c[i].p, cl.c[i].len);
			m->chain.c[i].p = m->chain_buf + off;
			m->chain.c[i].len = cl.c[i].len;
			off += cl.c[i].len;
		}
	}
	for (uint32_t i = 0; i < m->cap.nframes; i++) {
		const struct bf_frame *f = &m->cap.frames[i];
		if (f->dec == CW_DEC_TCP && f->pkt.tcp_flags == CW_TCP_ACK && f->pkt.payload_len == 0 &&
		    f->pkt.ipver == 4) {
			m->ack = f->data;
			m->ack_len = f->len;
			break;
		}
	}
	snprintf(path, sizeof(path), "%s/ch12.bin", tdir);
	m->ch12 = slurp(path, &m->ch12_len);
	snprintf(path, sizeof(path), "%s/ch13.bin", tdir);
	m->ch13 = slurp(path, &m->ch13_len);
	snprintf(path, sizeof(path), "%s/sh12.bin", tdir);
	m->sh12 = slurp(path, &m->sh12_len);
}

/* ---- the benchmarks: each does one operation and returns something to sink ---- */

static uint64_t
b_ch_parse(struct mb *m)
{
	struct cw_client_hello ch;

	cw_tls_parse_client_hello(m->ch13 + 4, m->ch13_len - 4, &ch);
	return ch.n_ext;
}

static uint64_t
b_ch_ja4(struct mb *m)
{
	struct cw_client_hello ch;
	char ja4[64];

	cw_tls_parse_client_hello(m->ch13 + 4, m->ch13_len - 4, &ch);
	return cw_ja4(&ch, 't', CW_JA4, ja4, sizeof(ja4)) + (uint8_t)ja4[20];
}

static uint64_t
b_ch_ja4_ja3(struct mb *m)
{
	struct cw_client_hello ch;
	char ja4[64], md5[CW_MD5_HEX];

	cw_tls_parse_client_hello(m->ch13 + 4, m->ch13_len - 4, &ch);
	return cw_ja4(&ch, 't', CW_JA4, ja4, sizeof(ja4)) + cw_ja3(&ch, NULL, 0, md5) +
	       (uint8_t)md5[3];
}

static uint64_t
b_ch12_ja4_ja3(struct mb *m)
{
	struct cw_client_hello ch;
	char ja4[64], md5[CW_MD5_HEX];

	cw_tls_parse_client_hello(m->ch12 + 4, m->ch12_len - 4, &ch);
	return cw_ja4(&ch, 't', CW_JA4, ja4, sizeof(ja4)) + cw_ja3(&ch, NULL, 0, md5) +
	       (uint8_t)md5[3];
}

static uint64_t
b_sh_ja3s(struct mb *m)
{
	struct cw_server_hello sh;
	char md5[CW_MD5_HEX];

	cw_tls_parse_server_hello(m->sh12 + 4, m->sh12_len - 4, &sh);
	return cw_ja3s(&sh, NULL, 0, md5) + (uint8_t)md5[5];
}

static uint64_t
b_chain_id(struct mb *m)
{
	uint8_t ids[CW_TLS_MAX_CERTS][CW_ID_LEN], id[CW_ID_LEN];

	cw_chain_id(&m->chain, ids, id);
	return id[0];
}

/* The same with a chain key: sets the key for the rest of the process, so it runs last. */
static uint64_t
b_chain_id_keyed(struct mb *m)
{
	static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

	if (!cw_chain_keyed() && cw_chain_key_set(key, sizeof(key)) < 0)
		abort();
	return b_chain_id(m);
}

static uint64_t
b_session12(struct mb *m)
{
	return (uint64_t)run_session(m, m->flow12) + m->sess.ev.chain_id[0];
}

static uint64_t
b_session12_decode(struct mb *m)
{
	return (uint64_t)run_session_decode(m, m->flow12) + m->sess.ev.chain_id[0];
}

static uint64_t
b_session13(struct mb *m)
{
	return (uint64_t)run_session(m, m->flow13) + m->sess.ev.ja4_bc[5];
}

static uint64_t
b_decode_ack(struct mb *m)
{
	struct cw_pkt pkt;

	return (uint64_t)cw_decode(CW_LINK_ETHERNET, m->ack, m->ack_len, &pkt) + pkt.sport;
}

struct bench {
	const char *name;
	const char *what;
	uint64_t (*fn)(struct mb *);
};

static const struct bench benches[] = {
	{"decode_ack64", "cw_decode of a bare-ACK Ethernet frame (lab capture)", b_decode_ack},
	{"ch_parse", "ClientHello parse (curl, 512 B, 18 extensions)", b_ch_parse},
	{"ch_parse_ja4", "ClientHello parse + JA4", b_ch_ja4},
	{"ch_parse_ja4_ja3", "ClientHello parse + JA4 + JA3 (MD5)", b_ch_ja4_ja3},
	{"ch12_parse_ja4_ja3", "ClientHello parse + JA4 + JA3, OpenSSL TLS 1.2 hello (231 B)",
	 b_ch12_ja4_ja3},
	{"sh_parse_ja3s", "ServerHello parse + JA3S (MD5)", b_sh_ja3s},
	{"chain_id_3", "cw_chain_id over the lab's TLS 1.2 chain (per-cert + chain XXH3-128)",
	 b_chain_id},
	{"session_tls12", "full TLS 1.2 handshake through cw_session_packet (pre-decoded)",
	 b_session12},
	{"session_tls12_dec", "the same, cw_decode of every frame included", b_session12_decode},
	{"session_tls13", "full TLS 1.3 handshake through cw_session_packet (pre-decoded)",
	 b_session13},
	{"chain_id_3_keyed", "chain_id_3 with a chain key (--chain-key; keyed from here on)",
	 b_chain_id_keyed},
};

static uint32_t
chain_bytes(const struct cw_cert_list *cl)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < cl->n; i++)
		n += cl->c[i].len;
	return n;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Time one benchmark: calibrate the iteration count so one repeat takes
 * about min_ms, then take `repeats` repeats and keep ns/op of each (x1000 to
 * keep sub-ns resolution). Reports median, min and max.
 */
static void
run_bench(struct mb *m, const struct bench *b, unsigned int repeats, unsigned int min_ms,
	  uint64_t *med, uint64_t *lo, uint64_t *hi, uint64_t *iters_out)
{
	uint64_t iters = 16, t0, dt, r[256];

	for (;;) {
		t0 = now_ns();
		for (uint64_t i = 0; i < iters; i++)
			m->sink += b->fn(m);
		dt = now_ns() - t0;
		if (dt >= (uint64_t)min_ms * 1000000u / 4 || iters >= (1ull << 32))
			break;
		iters *= 2;
	}
	iters = iters * ((uint64_t)min_ms * 1000000u) / (dt ? dt : 1);
	if (iters < 1)
		iters = 1;
	for (unsigned int k = 0; k < repeats; k++) {
		t0 = now_ns();
		for (uint64_t i = 0; i < iters; i++)
			m->sink += b->fn(m);
		dt = now_ns() - t0;
		r[k] = dt * 1000u / iters;
	}
	qsort(r, repeats, sizeof(r[0]), cmp_u64);
	*med = r[repeats / 2];
	*lo = r[0];
	*hi = r[repeats - 1];
	*iters_out = iters;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: cw-microbench [options]\n"
		"Time the parsing core on real bytes, one operation at a time (CLOCK_MONOTONIC).\n"
		"\n"
		"  -p, --pcap FILE      capture with a complete TLS 1.2 and TLS 1.3 handshake\n"
		"                       (default %s/tests/data/lab/small.pcap)\n"
		"  -t, --templates DIR  hello templates (default %s/tools/bench/templates)\n"
		"  -r, --repeats N      repeats per benchmark, median reported (default 11, max 255)\n"
		"  -m, --min-ms N       target duration of one repeat in ms (default 50)\n"
		"  -f, --filter S       only benchmarks whose name contains S\n"
		"  -x, --xxh3 IMPL      auto, baseline or wide: the XXH3 code for certificate and\n"
		"                       chain ids (chainwatch-dp --xxh3; default auto)\n"
		"  -h, --help           this text\n"
		"Output: a markdown table, ns/op as median [min, max] over the repeats.\n",
		CW_SRCDIR, CW_SRCDIR);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pcap", required_argument, NULL, 'p'},   {"templates", required_argument, NULL, 't'},
		{"repeats", required_argument, NULL, 'r'}, {"min-ms", required_argument, NULL, 'm'},
		{"filter", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
		{"xxh3", required_argument, NULL, 'x'},
		{NULL, 0, NULL, 0},
	};
	static struct mb m;
	const char *pcap = CW_SRCDIR "/tests/data/lab/small.pcap";
	const char *tdir = CW_SRCDIR "/tools/bench/templates", *filter = NULL;
	unsigned int repeats = 11, min_ms = 50;
	int c;

	while ((c = getopt_long(argc, argv, "p:t:r:m:f:x:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pcap = optarg;
			break;
		case 't':
			tdir = optarg;
			break;
		case 'r':
			repeats = (unsigned int)strtoul(optarg, NULL, 10);
			if (repeats < 1 || repeats > 255) {
				fprintf(stderr, "cw-microbench: --repeats: expected 1..255\n");
				return 1;
			}
			break;
		case 'm':
			min_ms = (unsigned int)strtoul(optarg, NULL, 10);
			if (min_ms < 1 || min_ms > 60000) {
				fprintf(stderr, "cw-microbench: --min-ms: expected 1..60000\n");
				return 1;
			}
			break;
		case 'f':
			filter = optarg;
			break;
		case 'x':
			if (cw_chain_xxh3_use(optarg) < 0) {
				fprintf(stderr, "cw-microbench: --xxh3: expected auto, baseline or wide\n");
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	setup(&m, pcap, tdir);
	printf("Parsing core, one thread, %u repeats of ~%u ms each. Lab TLS 1.2 flow: %u certificates "
	       "(%u B), %u packets to DONE; TLS 1.3 flow: %u packets to DONE. XXH3 for ids: %s.\n\n",
	       repeats, min_ms, m.chain.n, chain_bytes(&m.chain), m.fed12, m.fed13,
	       cw_chain_xxh3_name());
	printf("| benchmark | what | ns/op median | min | max | iterations/repeat |\n");
	printf("|---|---|---:|---:|---:|---:|\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		uint64_t med, lo, hi, it;
		if (filter && !strstr(benches[i].name, filter))
			continue;
		if (benches[i].fn == b_decode_ack && !m.ack)
			continue;
		run_bench(&m, &benches[i], repeats, min_ms, &med, &lo, &hi, &it);
		printf("| %s | %s | %.1f | %.1f | %.1f | %llu |\n", benches[i].name, benches[i].what,
		       med / 1000.0, lo / 1000.0, hi / 1000.0, (unsigned long long)it);
		fflush(stdout);
	}
	bf_free(&m.cap);
	return 0;
}
