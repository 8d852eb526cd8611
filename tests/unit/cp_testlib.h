/* SPDX-License-Identifier: BSD-3-Clause */
/* Test helpers for the control engine: a fresh openssl-made PKI, chain blobs and flow events. */
#ifndef CP_TESTLIB_H
#define CP_TESTLIB_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "cp.h"

static int t_fail, t_run;

#define CHECK(cond, ...)                                                                      \
	do {                                                                                  \
		t_run++;                                                                      \
		if (!(cond)) {                                                                \
			t_fail++;                                                             \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
			fprintf(stderr, __VA_ARGS__);                                         \
			fprintf(stderr, "\n");                                                \
		}                                                                             \
	} while (0)

static char t_pki[64];

/* Run tests/unit/mkpki.sh into a fresh temp dir (the test runs from the source root). */
static inline int
t_mkpki(void)
{
	char cmd[256];

	snprintf(t_pki, sizeof(t_pki), "/tmp/cwpki.XXXXXX");
	if (mkdtemp(t_pki) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh tests/unit/mkpki.sh %s >%s/mkpki.log 2>&1", t_pki, t_pki);
	if (system(cmd) != 0) {
		fprintf(stderr, "mkpki.sh failed, see %s/mkpki.log\n", t_pki);
		return -1;
	}
	return 0;
}

static inline void
t_rmpki(void)
{
	char cmd[128];

	if (t_pki[0] != '\0' && getenv("CW_KEEP_PKI") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", t_pki);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", t_pki);
	}
}

static inline const char *
t_path(const char *file)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", t_pki, file);
	return buf[i];
}

static inline X509 *
t_load(const char *name)
{
	char f[64];
	FILE *fp;
	X509 *x;

	snprintf(f, sizeof(f), "%s.pem", name);
	fp = fopen(t_path(f), "r");
	if (fp == NULL)
		return NULL;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	return x;
}

/* A chain blob as the dataplane sends it, plus its DER area. */
struct t_chain {
	struct cw_chain_blob blob;
	uint8_t der[8 * 4096];
};

/* Build a blob from PEM names, leaf first; salt varies the chain id for the same certificates. */
static inline int
t_chain(struct t_chain *tc, const char *const *names, unsigned int n, unsigned int salt)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	uint32_t off = 0;
	unsigned int i;

	memset(tc, 0, sizeof(*tc));
	for (i = 0; i < n; i++) {
		X509 *x = t_load(names[i]);
		unsigned char *p = tc->der + off;
		int len;

		if (x == NULL)
			return -1;
		len = i2d_X509(x, &p);
		X509_free(x);
		if (len <= 0)
			return -1;
		tc->blob.len[i] = (uint32_t)len;
		off += (uint32_t)len;
	}
	tc->blob.ncerts = (uint16_t)n;
	tc->blob.total_len = (uint32_t)sizeof(tc->blob) + off;
	SHA256(tc->der, off, md);
	md[0] ^= (uint8_t)salt;
	md[1] ^= (uint8_t)(salt >> 8);
	memcpy(tc->blob.chain_id, md, 16);
	return 0;
}

static inline time_t
t_time(int y, int mo, int d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	return timegm(&tm);
}

/* A completed handshake event; chain may be NULL (TLS 1.3 or resumption). */
static inline void
t_event(struct cw_flow_event *ev, time_t ts, const char *sni, const char *srv, const char *cli,
	const struct t_chain *chain, uint16_t version, const char *ja3s, uint32_t t13_bytes)
{
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = (uint64_t)ts * 1000000000ull;
	ev->ts_last_ns = ev->ts_ns + 30000000ull;
	ev->ipver = 4;
	inet_pton(AF_INET, srv, ev->srv_addr);
	inet_pton(AF_INET, cli, ev->cli_addr);
	ev->srv_port = 443;
	ev->cli_port = 50000;
	ev->ch_version = 0x0304;
	ev->sh_version = version;
	ev->cipher = version == 0x0304 ? 0x1301 : 0xc02f;
	ev->flags = CW_EVF_CH | CW_EVF_SH;
	snprintf(ev->sni, sizeof(ev->sni), "%s", sni);
	snprintf(ev->ja3, sizeof(ev->ja3), "%s", "0123456789abcdef0123456789abcdef");
	snprintf(ev->ja3s, sizeof(ev->ja3s), "%s", ja3s);
	snprintf(ev->ja4, sizeof(ev->ja4), "%s", "t13d1516h2_8daaf6152771_e5627efa2ab1");
	if (chain != NULL) {
		ev->flags |= CW_EVF_CERT;
		ev->ncerts = (uint8_t)chain->blob.ncerts;
		memcpy(ev->chain_id, chain->blob.chain_id, 16);
	}
	if (t13_bytes) {
		ev->t13_bytes = t13_bytes;
		ev->t13_nrec = 4;
	}
}

static inline int
t_has(const struct cp_verdict *v, const char *sig)
{
	unsigned int i;

	for (i = 0; i < v->nsignals; i++)
		if (strcmp(v->sig[i].name, sig) == 0)
			return 1;
	return 0;
}

static inline const char *
t_detail(const struct cp_verdict *v, const char *sig)
{
	unsigned int i;

	for (i = 0; i < v->nsignals; i++)
		if (strcmp(v->sig[i].name, sig) == 0)
			return v->sig[i].detail;
	return "";
}

static inline const char *
t_sigs(const struct cp_verdict *v)
{
	static char buf[1024];
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < v->nsignals; i++) {
		strncat(buf, v->sig[i].name, sizeof(buf) - strlen(buf) - 2);
		strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

/*
 * Offset of the first byte in text output that a terminal could act on: a
 * control other than newline, DEL, a C1 control as UTF-8 (C2 80..9F), or a
 * byte outside a well-formed UTF-8 sequence. -1 when there is none.
 */
static inline long
t_term_unsafe(const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	long i = 0;

	while (s[i] != '\0') {
		unsigned char c = s[i];
		int n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
			: c >= 0xf0 && c <= 0xf4 ? 4 : 0;
		int k;

		if ((c < 0x20 && c != '\n') || c == 0x7f || n == 0 ||
		    (c == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f))
			return i;
		for (k = 1; k < n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += n;
	}
	return -1;
}

static inline void
t_config(struct cp_config *cfg)
{
	/* Its own buffer: t_path()'s are reused, and engines are opened again later in a test. */
	static char trust[256];

	cp_config_defaults(cfg);
	snprintf(trust, sizeof(trust), "%s", t_path("trust.pem"));
	cfg->trust_store = trust;
	cfg->trust_store_extend = 0;
	cfg->anchors_dir = "data/anchors";
}

#endif /* CP_TESTLIB_H */
