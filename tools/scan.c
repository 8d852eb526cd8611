/* SPDX-License-Identifier: BSD-3-Clause */
/* chainwatch-scan: offline handshake dump, one line per TLS flow of a capture, no DPDK needed. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "chain.h"
#include "cw_config.h"
#include "decode.h"
#include "evtext.h"
#include "fingerprint.h"
#include "session.h"

#define SCAN_DEFAULT_MAX_FLOWS 65536u
#define SCAN_JA3_STR_MAX 4096

/*
 * Flow slot of the offline table. Offline analysis is not the fast path:
 * sessions and their buffers are heap-allocated per flow and freed when the
 * flow's handshake ends. The table is bounded by --max-flows; a packet of a
 * new flow that finds the table full is counted and skipped.
 */
struct scan_ctx {
	struct cw_session s;
	char ja3_str[SCAN_JA3_STR_MAX];
	char ja3s_str[SCAN_JA3_STR_MAX];
	char ja4_r[SCAN_JA3_STR_MAX];
	char ja4_o[64];
	char ja4_ro[SCAN_JA3_STR_MAX];
	struct cw_sess_area area; /* out-of-order tables, names too long for the session */
	uint8_t buf[];                 /* 2 x reasm_cap */
};

struct scan_flow {
	uint8_t used;
	uint8_t done;     /* handshake over: later packets are ignored */
	struct cw_flow_key key;
	struct scan_ctx *x;
};

struct scan {
	struct scan_flow *flows;
	uint32_t mask;
	uint32_t max_flows;
	uint32_t live;
	uint32_t reasm_cap;
	int verbose;
	int all;
	int checksums;
	uint64_t pkts, tcp, tls_flows, table_full, csum_bad;
	uint64_t dec[CW_DEC__MAX];
	uint64_t ends[CW_END__MAX];
};

static const char *const end_names[CW_END__MAX] = {
	[CW_END_DONE] = "done",	      [CW_END_FIN] = "fin",
	[CW_END_RST] = "rst",	      [CW_END_IDLE] = "idle",
	[CW_END_HS_TIMEOUT] = "hs_timeout", [CW_END_EVICTED] = "evicted",
	[CW_END_NOT_TLS] = "not_tls",   [CW_END_BAD] = "bad",
	[CW_END_NO_BUFFER] = "no_buffer", [CW_END_SHUTDOWN] = "eof",
};

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: chainwatch-scan [options] FILE...\n"
		"Print one line per TLS flow found in pcap/pcapng captures: endpoints, SNI,\n"
		"versions, JA3, JA3S, JA4, and the SHA-256 of every certificate in the chain.\n"
		"\n"
		"Options:\n"
		"  -v, --verbose        also print the JA3/JA3S strings, JA4_r/_o/_ro and the leaf SHA-1\n"
		"  -a, --all            also print TCP flows that never showed a TLS hello\n"
		"  -n, --max-flows N    flows tracked at once (default %u); more are counted and skipped\n"
		"  -r, --reasm-kib K    bytes kept per direction of a handshake, in KiB (default %u)\n"
		"  -k, --chain-key FILE make chain ids with this key, as chainwatch-dp --chain-key\n"
		"                       does (the same file gives the same ids)\n"
		"      --xxh3 IMPL      auto, baseline or wide: as chainwatch-dp --xxh3 (same ids)\n"
		"      --checksums M    verify|off (default off): drop segments whose IPv4 or TCP\n"
		"                       checksum is wrong, as the receiver does (anomaly\n"
		"                       bad_checksum, counter csum_bad). Off by default: captures\n"
		"                       taken on an endpoint carry checksums left to the NIC\n"
		"  -h, --help           show this help\n"
		"      --version        print the version\n"
		"\n"
		"Output fields (space separated key=value, after the timestamp):\n"
		"  cli, srv, sni, ch_ver, sh_ver, cipher, alpn, ja3, ja3s, ja4, chain_id, certs\n"
		"  (comma-separated SHA-256), flags, anomalies, end.\n"
		"Counters go to stderr at the end. Exit status: 0 on success, 1 on bad input.\n",
		SCAN_DEFAULT_MAX_FLOWS, CW_REASM_DEFAULT_CAP / 1024);
}

static uint32_t
key_hash(const struct cw_flow_key *key)
{
	const uint8_t *b = (const uint8_t *)key;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(*key); i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static struct scan_flow *
flow_find(struct scan *sc, const struct cw_flow_key *key, int create)
{
	uint32_t i = key_hash(key) & sc->mask;

	for (;;) {
		struct scan_flow *f = &sc->flows[i];
		if (!f->used) {
			if (!create)
				return NULL;
			if (sc->live >= sc->max_flows) {
				sc->table_full++;
				return NULL;
			}
			f->used = 1;
			f->key = *key;
			sc->live++;
			return f;
		}
		if (memcmp(&f->key, key, sizeof(*key)) == 0)
			return f;
		i = (i + 1) & sc->mask;
	}
}

static void
print_flow(struct scan *sc, struct scan_flow *sf)
{
	const struct scan_ctx *f = sf->x;
	const struct cw_session *s = &f->s;
	struct cw_flow_event evb;
	const struct cw_flow_event *ev = &evb;
	struct cw_cert_list certs;
	char cli[64], srv[64], alpn[512], sni[4 * CW_EV_SNI_MAX], idhex[33], tbuf[32], t13[160];
	time_t secs = (time_t)(s->ev.ts_ns / 1000000000u);
	struct tm tm;

	if (!(s->ev.flags & (CW_EVF_CH | CW_EVF_SH)) && !sc->all)
		return;
	cw_session_event(s, &sf->key, &evb);
	cw_session_certs(s, &certs);
	if (ev->flags & (CW_EVF_CH | CW_EVF_SH))
		sc->tls_flows++;
	gmtime_r(&secs, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	cw_evtext_addr(ev->cli_addr, ev->ipver, ev->cli_port, cli, sizeof(cli));
	cw_evtext_addr(ev->srv_addr, ev->ipver, ev->srv_port, srv, sizeof(srv));
	cw_evtext_alpn(ev, alpn, sizeof(alpn));
	cw_evtext_str(ev->sni, sizeof(ev->sni), sni, sizeof(sni));
	cw_hex(ev->chain_id, 16, idhex);
	printf("%s.%06uZ cli=%s srv=%s sni=%s ch_ver=%04x sh_ver=%04x cipher=%04x alpn=%s "
	       "ja3=%s ja3s=%s ja4=%s chain_id=%s certs=",
	       tbuf, (unsigned int)(ev->ts_ns % 1000000000u / 1000u), cli, srv,
	       sni[0] ? sni : "-", ev->ch_version, ev->sh_version, ev->cipher,
	       alpn[0] ? alpn : "-", ev->ja3[0] ? ev->ja3 : "-", ev->ja3s[0] ? ev->ja3s : "-",
	       ev->ja4[0] ? ev->ja4 : "-", certs.n ? idhex : "-");
	if (certs.n == 0)
		printf("-");
	for (uint32_t i = 0; i < certs.n; i++) {
		uint8_t sha[CW_SHA256_LEN];
		char hex[2 * CW_SHA256_LEN + 1];
		cw_cert_sha256(certs.c[i].p, certs.c[i].len, sha);
		cw_hex(sha, sizeof(sha), hex);
		printf("%s%s", i ? "," : "", hex);
	}
	printf(" ncerts=%u flags=0x%x anomalies=0x%x end=%s", ev->ncerts, ev->flags,
	       ev->anomalies, end_names[ev->end_reason]);
	cw_evtext_t13_recs(ev, t13, sizeof(t13));
	fputs(t13, stdout);
	if (sc->verbose) {
		printf(" ja3_str=%s ja3s_str=%s ja4_r=%s ja4_o=%s ja4_ro=%s", f->ja3_str[0] ? f->ja3_str : "-",
		       f->ja3s_str[0] ? f->ja3s_str : "-", f->ja4_r[0] ? f->ja4_r : "-",
		       f->ja4_o[0] ? f->ja4_o : "-", f->ja4_ro[0] ? f->ja4_ro : "-");
		if (certs.n > 0) {
			unsigned char sha1[EVP_MAX_MD_SIZE];
			unsigned int n = 0;
			EVP_Digest(certs.c[0].p, certs.c[0].len, sha1, &n, EVP_sha1(), NULL);
			printf(" leaf_sha1=");
			for (unsigned int i = 0; i < n; i++)
				printf("%s%02x", i ? ":" : "", sha1[i]);
		}
	}
	putchar('\n');
}

static struct scan_ctx *
ctx_of(struct cw_session *s)
{
	return (struct scan_ctx *)((char *)s - offsetof(struct scan_ctx, s));
}

static void
hook_ch(struct cw_session *s, const struct cw_client_hello *ch)
{
	struct scan_ctx *f = ctx_of(s);
	char md5[CW_MD5_HEX];

	cw_ja3(ch, f->ja3_str, sizeof(f->ja3_str), md5);
	cw_ja4(ch, 't', CW_JA4_R, f->ja4_r, sizeof(f->ja4_r));
	cw_ja4(ch, 't', CW_JA4_O, f->ja4_o, sizeof(f->ja4_o));
	cw_ja4(ch, 't', CW_JA4_RO, f->ja4_ro, sizeof(f->ja4_ro));
}

static void
hook_sh(struct cw_session *s, const struct cw_server_hello *sh)
{
	struct scan_ctx *f = ctx_of(s);
	char md5[CW_MD5_HEX];

	cw_ja3s(sh, f->ja3s_str, sizeof(f->ja3s_str), md5);
}

static const struct cw_session_hooks scan_hooks = {
	.client_hello = hook_ch,
	.server_hello = hook_sh,
};

static void
flow_end(struct scan *sc, struct scan_flow *f, enum cw_end_reason why)
{
	cw_session_finish(&f->x->s, why);
	sc->ends[why]++;
	print_flow(sc, f);
	free(f->x);
	f->x = NULL;
	f->done = 1;
}

static int
flow_start(struct scan *sc, struct scan_flow *f)
{
	struct scan_ctx *x = malloc(sizeof(*x) + 2 * (size_t)sc->reasm_cap);

	if (!x)
		return -ENOMEM;
	x->area.hooks = sc->verbose ? &scan_hooks : NULL;
	cw_session_init(&x->s, x->buf, x->buf + sc->reasm_cap, sc->reasm_cap, &x->area);
	x->ja3_str[0] = x->ja3s_str[0] = x->ja4_r[0] = x->ja4_o[0] = x->ja4_ro[0] = '\0';
	f->x = x;
	f->done = 0;
	return 0;
}

static int
scan_packet(struct scan *sc, int lt, const struct pcap_pkthdr *h, const uint8_t *data)
{
	struct cw_pkt pkt;
	struct cw_flow_key key;
	struct scan_flow *f;
	uint64_t ts;
	int res, rc;

	sc->pkts++;
	res = cw_decode((enum cw_linktype)lt, data, h->caplen, &pkt);
	sc->dec[res]++;
	if (res == CW_DEC_FRAGMENT && (pkt.flags & CW_PKT_F_FRAG_TCP)) {
		/* Not reassembled: the flow's view lacks these bytes (as chainwatch-dp). */
		cw_flow_key_make(&key, &pkt);
		f = flow_find(sc, &key, 0);
		if (f && f->x && !f->done)
			cw_session_note(&f->x->s, CW_EVA_IP_FRAG);
		return 0;
	}
	if (res != CW_DEC_TCP)
		return 0;
	sc->tcp++;
	cw_flow_key_make(&key, &pkt);
	f = flow_find(sc, &key, 1);
	if (!f)
		return 0;
	if (f->done) {
		/* A new connection reusing the 5-tuple starts over. */
		if ((pkt.tcp_flags & (CW_TCP_SYN | CW_TCP_ACK)) != CW_TCP_SYN)
			return 0;
	}
	/* As chainwatch-dp --checksums verify: the receiver never takes such a segment. */
	if (sc->checksums && !cw_pkt_csum_ok(&pkt)) {
		sc->csum_bad++;
		if (f->x)
			cw_session_note(&f->x->s, CW_EVA_BAD_CSUM);
		return 0;
	}
	if (!f->x && flow_start(sc, f) < 0)
		return -ENOMEM;
	ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec * 1000u;
	rc = cw_session_packet(&f->x->s, &pkt, ts);
	if (rc == CW_SESS_DONE)
		flow_end(sc, f, CW_END_DONE);
	else if (rc == CW_SESS_ABANDON)
		flow_end(sc, f, cw_session_abandon_reason(&f->x->s));
	return 0;
}

static int
scan_file(struct scan *sc, const char *path)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int lt, rc;

	p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, err);
	if (!p) {
		fprintf(stderr, "chainwatch-scan: %s: %s\n", path, err);
		return -1;
	}
	lt = pcap_datalink(p);
	switch (lt) {
	case DLT_NULL:
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_LINUX_SLL:
	case 228: /* LINKTYPE_IPV4 */
	case 229: /* LINKTYPE_IPV6 */
	case 276: /* LINKTYPE_LINUX_SLL2 */
		break;
	default:
		fprintf(stderr, "chainwatch-scan: %s: unsupported link type %d (%s)\n", path, lt,
			pcap_datalink_val_to_name(lt) ? pcap_datalink_val_to_name(lt) : "?");
		pcap_close(p);
		return -1;
	}
	/* libpcap reports LINKTYPE_RAW as DLT_RAW (12 or 14 on some systems). */
	if (lt == DLT_RAW)
		lt = CW_LINK_RAW;
	else if (lt == DLT_LINUX_SLL)
		lt = CW_LINK_LINUX_SLL;
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		if (scan_packet(sc, lt, h, data) < 0) {
			fprintf(stderr, "chainwatch-scan: out of memory\n");
			pcap_close(p);
			return -1;
		}
	}
	if (rc == PCAP_ERROR) {
		/* A truncated capture still yields every packet before the cut. */
		fprintf(stderr, "chainwatch-scan: %s: %s (processed what came before)\n", path,
			pcap_geterr(p));
	}
	pcap_close(p);
	/* Flows still open at the end of the file end with it. */
	for (uint32_t i = 0; i <= sc->mask; i++) {
		struct scan_flow *f = &sc->flows[i];
		if (f->used && f->x)
			flow_end(sc, f, CW_END_SHUTDOWN);
		f->used = 0;
	}
	sc->live = 0;
	return 0;
}

static int
parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"verbose", no_argument, NULL, 'v'},  {"all", no_argument, NULL, 'a'},
		{"max-flows", required_argument, NULL, 'n'},
		{"reasm-kib", required_argument, NULL, 'r'},
		{"chain-key", required_argument, NULL, 'k'},
		{"xxh3", required_argument, NULL, 'X'},
		{"checksums", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},     {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct scan sc;
	uint32_t kib = CW_REASM_DEFAULT_CAP / 1024, cap;
	char kerr[256];
	int c, rc = 0;

	memset(&sc, 0, sizeof(sc));
	sc.max_flows = SCAN_DEFAULT_MAX_FLOWS;
	while ((c = getopt_long(argc, argv, "van:r:k:h", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			sc.verbose = 1;
			break;
		case 'a':
			sc.all = 1;
			break;
		case 'n':
			if (parse_u32(optarg, 1, 1u << 24, &sc.max_flows) < 0) {
				fprintf(stderr, "chainwatch-scan: --max-flows: expected 1..16777216, got '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'r':
			if (parse_u32(optarg, 1, 1024, &kib) < 0) {
				fprintf(stderr, "chainwatch-scan: --reasm-kib: expected 1..1024, got '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'k':
			if (cw_chain_key_load(optarg, kerr, sizeof(kerr)) < 0) {
				fprintf(stderr, "chainwatch-scan: %s\n", kerr);
				return 1;
			}
			break;
		case 'X':
			if (cw_chain_xxh3_use(optarg) < 0) {
				fprintf(stderr, "chainwatch-scan: --xxh3: expected auto, baseline or "
					"wide (wide needs x86-64 with AVX2), got '%s'\n", optarg);
				return 1;
			}
			break;
		case 'C':
			if (strcmp(optarg, "verify") == 0 || strcmp(optarg, "off") == 0) {
				sc.checksums = optarg[0] == 'v';
				break;
			}
			fprintf(stderr, "chainwatch-scan: --checksums: expected verify or off, got '%s'\n",
				optarg);
			return 1;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("chainwatch-scan %s\n", CW_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "chainwatch-scan: no capture file given (see --help)\n");
		return 1;
	}
	sc.reasm_cap = kib * 1024;
	for (cap = 2; cap < 2 * sc.max_flows; cap <<= 1)
		;
	sc.mask = cap - 1;
	sc.flows = calloc(cap, sizeof(*sc.flows));
	if (!sc.flows) {
		fprintf(stderr, "chainwatch-scan: cannot allocate a table of %u flows\n", cap);
		return 1;
	}
	for (int i = optind; i < argc; i++)
		if (scan_file(&sc, argv[i]) < 0)
			rc = 1;
	fprintf(stderr, "packets=%" PRIu64 " tcp=%" PRIu64 " tls_flows=%" PRIu64
			" table_full=%" PRIu64,
		sc.pkts, sc.tcp, sc.tls_flows, sc.table_full);
	if (sc.checksums)
		fprintf(stderr, " csum_bad=%" PRIu64, sc.csum_bad);
	for (int i = 1; i < CW_DEC__MAX; i++)
		if (sc.dec[i])
			fprintf(stderr, " dec_%s=%" PRIu64, cw_dec_res_name(i), sc.dec[i]);
	for (int i = 0; i < CW_END__MAX; i++)
		if (sc.ends[i])
			fprintf(stderr, " end_%s=%" PRIu64, end_names[i], sc.ends[i]);
	fputc('\n', stderr);
	free(sc.flows);
	return rc;
}
