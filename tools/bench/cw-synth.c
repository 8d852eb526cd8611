/* SPDX-License-Identifier: BSD-3-Clause */
/* cw-synth: deterministic pcap generator of TCP/TLS handshakes with real certificates, plus bulk traffic. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_config.h"
#include "../inet_csum.h"

#ifndef SYNTH_TEMPLATES
#define SYNTH_TEMPLATES "tools/bench/templates"
#endif

#define SYNTH_MSS 1460
#define SYNTH_C2S_MAX 4096       /* client handshake bytes per flow */
#define SYNTH_S2C_MAX 32768      /* server handshake bytes per flow */
#define SYNTH_OPS_MAX 96         /* handshake + close segments per flow */
#define SYNTH_DEPTH_MAX 4        /* certificates per chain */
#define SYNTH_FRAME_MAX 1600
#define SYNTH_RAND_POOL 65536    /* "ciphertext" bytes, reused at random offsets */

/* Bulk packet sizes: Simple IMIX by IP total length, 7:4:1 (40 is a bare ACK: a 64-byte frame). */
static const uint16_t imix_len[] = {40, 576, 1500};
static const uint8_t imix_weight[] = {7, 4, 1};

enum { DIR_C2S = 0, DIR_S2C = 1 };

enum synth_mix { MIX_CUSTOM = 0, MIX_REALISTIC, MIX_HANDSHAKE, MIX_ACKFLOOD };

struct synth_opts {
	const char *out, *certs, *templates;
	enum synth_mix mix;
	uint64_t flows, packets;   /* stop conditions; 0 = unset */
	double fps;                /* flows started per second: sets the timestamp scale */
	uint32_t concurrent;       /* flows interleaved at once */
	double hs_frac;            /* target share of handshake packets (1 = no bulk) */
	double tls13;              /* share of TLS 1.3 flows */
	uint32_t depth_lo, depth_hi;
	uint32_t names;            /* distinct server names (and chains) */
	double zipf_s;             /* popularity exponent; 0 = uniform */
	uint64_t seed;
	uint64_t start;            /* the first packet's time, seconds since 1970 */
};

/* One certificate chain loaded from mkcerts.sh's cache: leaf first. */
struct synth_chain {
	char sni[128];
	uint32_t depth;
	uint8_t *der[SYNTH_DEPTH_MAX];
	uint32_t der_len[SYNTH_DEPTH_MAX];
	uint32_t total;            /* sum of der_len */
};

/* A ClientHello or ServerHello template split into its fields (views into `raw`). */
struct synth_hello {
	uint8_t *raw;
	uint32_t len;              /* whole handshake message, header included */
	const uint8_t *version;    /* 2 bytes */
	const uint8_t *random;     /* 32 bytes */
	uint8_t sid_len;
	const uint8_t *mid;        /* CH: ciphers+compression vectors; SH: cipher+compression */
	uint32_t mid_len;
	const uint8_t *ext;        /* extension block contents (after its u16 length) */
	uint32_t ext_len;
};

/* One segment of a flow's script. */
struct synth_op {
	uint8_t dir;
	uint8_t flags;             /* TCP flags */
	uint8_t hs;                /* counts as a handshake packet */
	uint32_t off, len;         /* payload range in the direction's handshake buffer */
};

struct synth_flow {
	uint8_t used;
	uint8_t tls13;
	uint32_t name;
	uint64_t id;
	uint8_t cip[4], sip[4];
	uint16_t cport, sport;
	uint32_t seq[2];           /* next sequence number per direction */
	uint16_t ipid[2];
	uint32_t nops, next_op, n_hs_ops;
	uint32_t bulk_left;        /* bulk packets before the close ops */
	uint32_t left;             /* packets still to emit */
	struct synth_op ops[SYNTH_OPS_MAX];
	uint8_t buf[2][SYNTH_S2C_MAX];
	uint32_t buf_len[2];
};

struct synth {
	struct synth_opts o;
	uint64_t rng;
	struct synth_chain *chains; /* indexed by name */
	double *zipf_cdf;
	struct synth_hello ch[2], sh[2]; /* [0] TLS 1.2, [1] TLS 1.3 */
	uint8_t *ske12;
	uint32_t ske12_len;
	uint8_t rand_pool[SYNTH_RAND_POOL];
	struct synth_flow *fl;
	uint32_t active;
	uint64_t ts_ns, gap_ns;
	pcap_dumper_t *dump;
	/* results */
	uint64_t flows, tls12, tls13, hs_done, hs_pkts, bulk_pkts, pkts, bytes;
	uint8_t *name_used;
	uint64_t names_used, chains_used;
};

/* ---- helpers ---- */

static uint64_t
rng_next(struct synth *s)
{
	/* splitmix64: tiny, seedable, good enough for traffic shapes */
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double
rng_unit(struct synth *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void
rng_fill(struct synth *s, uint8_t *p, uint32_t n)
{
	while (n > 0) {
		uint64_t v = rng_next(s);
		uint32_t k = n < 8 ? n : 8;
		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}

static void
die(const char *msg, const char *arg)
{
	fprintf(stderr, "cw-synth: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(1);
}

static uint8_t *
read_file(const char *path, uint32_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    n > (1 << 20)) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (uint32_t)n;
	return buf;
}

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static uint32_t
get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

/* Append-only byte writer; overflowing it is a bug in the size bounds above. */
struct wr {
	uint8_t *p;
	uint32_t len, cap;
};

static uint8_t *
wr_take(struct wr *w, uint32_t n)
{
	uint8_t *q;

	if (n > w->cap - w->len)
		die("internal: handshake buffer too small", NULL);
	q = w->p + w->len;
	w->len += n;
	return q;
}

static void
wr_bytes(struct wr *w, const void *src, uint32_t n)
{
	memcpy(wr_take(w, n), src, n);
}

static void
wr_u8(struct wr *w, uint32_t v)
{
	*wr_take(w, 1) = (uint8_t)v;
}

static void
wr_u16(struct wr *w, uint32_t v)
{
	put16(wr_take(w, 2), v);
}

/* ---- loading templates and chains ---- */

/*
 * Split a template hello: type(1) len(3) version(2) random(32) session_id<0..32>
 * then CH: cipher_suites<2..2^16-2> compression<1..2^8-1>, SH: cipher(2) compression(1),
 * then extensions<0..2^16-1>. Anything else is a broken template.
 */
static void
hello_load(struct synth_hello *h, const char *dir, const char *name, int is_ch)
{
	char path[4096];
	const uint8_t *p, *end;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	h->raw = read_file(path, &h->len);
	if (!h->raw || h->len < 4 + 2 + 32 + 1 || h->raw[0] != (is_ch ? 1 : 2))
		die("cannot read hello template", path);
	p = h->raw + 4;
	end = h->raw + h->len;
	h->version = p;
	h->random = p + 2;
	p += 34;
	h->sid_len = *p++;
	p += h->sid_len;
	h->mid = p;
	if (is_ch) {
		if (end - p < 2)
			die("truncated template", path);
		p += 2 + get16(p);
		if (end - p < 1)
			die("truncated template", path);
		p += 1 + *p;
	} else {
		p += 3;
	}
	if (end - p < 2 || (uint32_t)(end - p - 2) != get16(p))
		die("template extension block does not end the message", path);
	h->mid_len = (uint32_t)(p - h->mid);
	h->ext = p + 2;
	h->ext_len = get16(p);
}

static void
chains_load(struct synth *s)
{
	uint32_t span = s->o.depth_hi - s->o.depth_lo + 1;
	char path[4096];

	s->chains = calloc(s->o.names, sizeof(*s->chains));
	if (!s->chains)
		die("out of memory", NULL);
	/* Name j has depth lo + j % span and is chain number j / span of that depth. */
	for (uint32_t j = 0; j < s->o.names; j++) {
		struct synth_chain *c = &s->chains[j];
		uint32_t d = s->o.depth_lo + j % span, k = j / span, n;
		uint8_t *txt;

		c->depth = d;
		snprintf(path, sizeof(path), "%s/d%u/%u/sni", s->o.certs, d, k);
		txt = read_file(path, &n);
		if (!txt)
			die("missing chain (run mkcerts.sh with a larger COUNT?)", path);
		while (n > 0 && (txt[n - 1] == '\n' || txt[n - 1] == '\r'))
			n--;
		if (n == 0 || n >= sizeof(c->sni))
			die("bad sni file", path);
		memcpy(c->sni, txt, n);
		c->sni[n] = '\0';
		free(txt);
		for (uint32_t i = 0; i < d; i++) {
			snprintf(path, sizeof(path), "%s/d%u/%u/%u.der", s->o.certs, d, k, i);
			c->der[i] = read_file(path, &c->der_len[i]);
			if (!c->der[i] || c->der_len[i] == 0)
				die("cannot read certificate", path);
			c->total += c->der_len[i];
		}
	}
}

static void
zipf_init(struct synth *s)
{
	double sum = 0;

	s->zipf_cdf = malloc(s->o.names * sizeof(double));
	if (!s->zipf_cdf)
		die("out of memory", NULL);
	for (uint32_t j = 0; j < s->o.names; j++) {
		sum += 1.0 / pow((double)(j + 1), s->o.zipf_s);
		s->zipf_cdf[j] = sum;
	}
	for (uint32_t j = 0; j < s->o.names; j++)
		s->zipf_cdf[j] /= sum;
}

static uint32_t
zipf_pick(struct synth *s)
{
	double u = rng_unit(s);
	uint32_t lo = 0, hi = s->o.names - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- building handshake messages ---- */

/* Randomise the key_exchange bytes of every share in a key_share extension body, in place. */
static void
key_share_randomise(struct synth *s, uint8_t *p, uint32_t len, int is_ch)
{
	uint8_t *end = p + len;

	if (is_ch) {
		if (len < 2)
			return;
		p += 2; /* client_shares length */
	}
	while (end - p >= 4) {
		uint32_t klen = get16(p + 2);
		if ((uint32_t)(end - p - 4) < klen)
			return;
		rng_fill(s, p + 4, klen);
		p += 4 + klen;
		if (!is_ch)
			return;
	}
}

/*
 * Write a hello from its template: fresh random (a downgrade sentinel in the
 * template's last 8 random bytes is kept, as the real server sent it), the
 * given session id, the SNI replaced (CH), key shares randomised, and the
 * padding extension resized so the message keeps the template's length when
 * the name allows it. Every length field is recomputed.
 */
static void
hello_write(struct synth *s, struct wr *w, const struct synth_hello *h, int is_ch, const char *sni,
	    const uint8_t *sid, uint8_t sid_len)
{
	uint8_t ext[4096];
	struct wr e = {ext, 0, sizeof(ext)};
	uint32_t hdr_at = w->len, pad_at = UINT32_MAX, sni_len = sni ? (uint32_t)strlen(sni) : 0;
	const uint8_t *p = h->ext, *end = h->ext + h->ext_len;
	uint8_t *msg, *rnd;
	uint32_t body_len;
	int sni_done = 0;

	/* SNI first when the template has none (it always has one in practice). */
	while (end - p >= 4) {
		uint32_t type = get16(p), len = get16(p + 2);
		const uint8_t *data = p + 4;
		if ((uint32_t)(end - data) < len)
			die("bad template extension", NULL);
		if (type == 0x0000 && is_ch && sni) {
			/* server_name: ServerNameList<u16> { host_name(0) HostName<u16> } */
			wr_u16(&e, 0);
			wr_u16(&e, sni_len + 5);
			wr_u16(&e, sni_len + 3);
			wr_u8(&e, 0);
			wr_u16(&e, sni_len);
			wr_bytes(&e, sni, sni_len);
			sni_done = 1;
		} else if (type == 0x0015) {
			pad_at = e.len; /* sized below */
			wr_u16(&e, 0x0015);
			wr_u16(&e, 0);
		} else {
			uint32_t at = e.len + 4;
			wr_u16(&e, type);
			wr_u16(&e, len);
			wr_bytes(&e, data, len);
			if (type == 0x0033)
				key_share_randomise(s, ext + at, len, is_ch);
		}
		p = data + len;
	}
	if (is_ch && sni && !sni_done)
		die("ClientHello template has no server_name extension", NULL);
	if (pad_at != UINT32_MAX) {
		/* Keep the template's message length (BoringSSL/curl pad to 512). */
		uint32_t now = 4 + h->mid_len + 2 + 32 + 1 + sid_len + 2 + e.len;
		uint32_t pad = h->len > now ? h->len - now : 0;
		if (pad > e.cap - e.len)
			die("internal: padding", NULL);
		memmove(ext + pad_at + 4 + pad, ext + pad_at + 4, e.len - pad_at - 4);
		memset(ext + pad_at + 4, 0, pad);
		put16(ext + pad_at + 2, pad);
		e.len += pad;
	}
	msg = wr_take(w, 4);
	msg[0] = h->raw[0];
	wr_bytes(w, h->version, 2);
	rnd = wr_take(w, 32);
	rng_fill(s, rnd, 32);
	if (memcmp(h->random + 24, "DOWNGRD", 7) == 0)
		memcpy(rnd + 24, h->random + 24, 8);
	wr_u8(w, sid_len);
	wr_bytes(w, sid, sid_len);
	wr_bytes(w, h->mid, h->mid_len);
	wr_u16(w, e.len);
	wr_bytes(w, ext, e.len);
	body_len = w->len - hdr_at - 4;
	put24(w->p + hdr_at + 1, body_len);
}

/* Wrap the bytes written since `from` into one TLS record of the given type (header inserted). */
static void
record_wrap(struct wr *w, uint32_t from, uint8_t type, uint16_t version)
{
	uint32_t n = w->len - from;

	wr_take(w, 5);
	memmove(w->p + from + 5, w->p + from, n);
	w->p[from] = type;
	put16(w->p + from + 1, version);
	put16(w->p + from + 3, n);
}

/* An opaque record of `len` bytes of ciphertext-looking data. */
static void
record_opaque(struct synth *s, struct wr *w, uint8_t type, uint32_t len)
{
	uint32_t off = (uint32_t)(rng_next(s) % (SYNTH_RAND_POOL - len));
	uint8_t *p = wr_take(w, 5 + len);

	p[0] = type;
	put16(p + 1, 0x0303);
	put16(p + 3, len);
	memcpy(p + 5, s->rand_pool + off, len);
}

/* Certificate message (RFC 5246 §7.4.2): certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. */
static void
certificate_write(struct wr *w, const struct synth_chain *c)
{
	uint8_t *hdr = wr_take(w, 7);
	uint32_t list = 0;

	for (uint32_t i = 0; i < c->depth; i++) {
		put24(wr_take(w, 3), c->der_len[i]);
		wr_bytes(w, c->der[i], c->der_len[i]);
		list += 3 + c->der_len[i];
	}
	hdr[0] = 11;
	put24(hdr + 1, list + 3);
	put24(hdr + 4, list);
}

/* ---- flow scripts ---- */

static void
op_add(struct synth_flow *f, uint8_t dir, uint8_t flags, uint32_t off, uint32_t len, uint8_t hs)
{
	if (f->nops >= SYNTH_OPS_MAX)
		die("internal: too many segments in a flow", NULL);
	f->ops[f->nops++] = (struct synth_op){dir, flags, hs, off, len};
}

/* Segment a flight [from, buf_len[dir]) of one direction into MSS-sized pushes. */
static void
flight(struct synth_flow *f, uint8_t dir, uint32_t from)
{
	uint32_t end = f->buf_len[dir];

	while (from < end) {
		uint32_t n = end - from < SYNTH_MSS ? end - from : SYNTH_MSS;
		op_add(f, dir, from + n == end ? 0x18 : 0x10, from, n, 1);
		from += n;
	}
}

/*
 * TLS 1.2 (full handshake, ECDHE):  C: SYN  S: SYN-ACK  C: ACK  C: ClientHello
 *   S: ServerHello Certificate ServerKeyExchange ServerHelloDone (one record each)  C: ACK
 *   C: ClientKeyExchange ChangeCipherSpec Finished  S: ChangeCipherSpec Finished
 * TLS 1.3:  ... C: ClientHello  S: ServerHello CCS + encrypted EE/Certificate/CertificateVerify/
 *   Finished records (sizes of a real RSA-2048 AES-256-GCM server)  C: ACK  C: CCS Finished
 *   S: two NewSessionTicket records.
 * Close: C: FIN  S: FIN  C: ACK.
 */
static void
flow_script(struct synth *s, struct synth_flow *f)
{
	const struct synth_chain *c = &s->chains[f->name];
	struct wr cw = {f->buf[DIR_C2S], 0, SYNTH_C2S_MAX};
	struct wr sw = {f->buf[DIR_S2C], 0, SYNTH_S2C_MAX};
	const int v = f->tls13;
	uint8_t sid[32];
	uint8_t sid_len = s->ch[v].sid_len;
	uint32_t mark;

	f->nops = f->next_op = 0;
	op_add(f, DIR_C2S, 0x02, 0, 0, 1);
	op_add(f, DIR_S2C, 0x12, 0, 0, 1);
	op_add(f, DIR_C2S, 0x10, 0, 0, 1);

	rng_fill(s, sid, sizeof(sid));
	hello_write(s, &cw, &s->ch[v], 1, c->sni, sid, sid_len);
	record_wrap(&cw, 0, 22, 0x0301);
	f->buf_len[DIR_C2S] = cw.len;
	flight(f, DIR_C2S, 0);

	if (!v) {
		uint8_t ssid[32];
		rng_fill(s, ssid, sizeof(ssid));
		mark = sw.len;
		hello_write(s, &sw, &s->sh[0], 0, NULL, ssid, s->sh[0].sid_len);
		record_wrap(&sw, mark, 22, 0x0303);
		mark = sw.len;
		certificate_write(&sw, c);
		record_wrap(&sw, mark, 22, 0x0303);
		mark = sw.len;
		wr_bytes(&sw, s->ske12, s->ske12_len);
		record_wrap(&sw, mark, 22, 0x0303);
		mark = sw.len;
		wr_bytes(&sw, "\x0e\x00\x00\x00", 4);
		record_wrap(&sw, mark, 22, 0x0303);
		f->buf_len[DIR_S2C] = sw.len;
		flight(f, DIR_S2C, 0);
		op_add(f, DIR_C2S, 0x10, 0, 0, 1);

		/* ClientKeyExchange (x25519: 4 + 1 + 32), CCS, Finished (GCM: 8 + 16 + 16). */
		mark = cw.len;
		wr_bytes(&cw, "\x10\x00\x00\x21\x20", 5);
		rng_fill(s, wr_take(&cw, 32), 32);
		record_wrap(&cw, mark, 22, 0x0303);
		wr_bytes(&cw, "\x14\x03\x03\x00\x01\x01", 6);
		record_opaque(s, &cw, 22, 40);
		f->buf_len[DIR_C2S] = cw.len;
		flight(f, DIR_C2S, mark);

		mark = sw.len;
		wr_bytes(&sw, "\x14\x03\x03\x00\x01\x01", 6);
		record_opaque(s, &sw, 22, 40);
		f->buf_len[DIR_S2C] = sw.len;
		flight(f, DIR_S2C, mark);
	} else {
		/* Certificate: ctx(1) list(3) + per cert len(3) der ext(2); + content type + tag. */
		uint32_t cert_rec = 4 + 1 + 3 + c->total + 5 * c->depth + 1 + 16;

		hello_write(s, &sw, &s->sh[1], 0, NULL, sid, sid_len);
		record_wrap(&sw, 0, 22, 0x0303);
		wr_bytes(&sw, "\x14\x03\x03\x00\x01\x01", 6);
		record_opaque(s, &sw, 23, 23);
		record_opaque(s, &sw, 23, cert_rec);
		record_opaque(s, &sw, 23, 281);
		record_opaque(s, &sw, 23, 69);
		f->buf_len[DIR_S2C] = sw.len;
		flight(f, DIR_S2C, 0);
		op_add(f, DIR_C2S, 0x10, 0, 0, 1);

		mark = cw.len;
		wr_bytes(&cw, "\x14\x03\x03\x00\x01\x01", 6);
		record_opaque(s, &cw, 23, 69);
		f->buf_len[DIR_C2S] = cw.len;
		flight(f, DIR_C2S, mark);

		mark = sw.len;
		record_opaque(s, &sw, 23, 268);
		record_opaque(s, &sw, 23, 268);
		f->buf_len[DIR_S2C] = sw.len;
		flight(f, DIR_S2C, mark);
	}
	f->n_hs_ops = f->nops;
	op_add(f, DIR_C2S, 0x11, 0, 0, 0);
	op_add(f, DIR_S2C, 0x11, 0, 0, 0);
	op_add(f, DIR_C2S, 0x10, 0, 0, 0);
}

/* Mean handshake packets per flow for the current TLS mix (counted once, from real scripts). */
static double
hs_packets_mean(struct synth *s)
{
	struct synth_flow *f = calloc(1, sizeof(*f));
	uint64_t saved = s->rng;
	double n[2];

	if (!f)
		die("out of memory", NULL);
	for (int v = 0; v < 2; v++) {
		f->tls13 = (uint8_t)v;
		f->name = 0;
		flow_script(s, f);
		n[v] = f->n_hs_ops;
	}
	free(f);
	s->rng = saved;
	return n[0] * (1 - s->o.tls13) + n[1] * s->o.tls13;
}

static void
flow_start(struct synth *s, struct synth_flow *f, double bulk_mean)
{
	uint64_t id = s->flows++;
	uint32_t host = (uint32_t)(id % 0xfffffeu) + 1;

	memset(f, 0, offsetof(struct synth_flow, buf));
	f->used = 1;
	f->id = id;
	f->tls13 = rng_unit(s) < s->o.tls13;
	f->name = zipf_pick(s);
	if (!s->name_used[f->name]) {
		s->name_used[f->name] = 1;
		s->names_used++;
	}
	if (!f->tls13 && !(s->name_used[f->name] & 2)) {
		s->name_used[f->name] |= 2;
		s->chains_used++;
	}
	f->tls13 ? s->tls13++ : s->tls12++;
	/* Clients 10.0.0.0/8 (unique per flow up to 2^24 flows), servers 172.16/12 by name. */
	f->cip[0] = 10;
	f->cip[1] = (uint8_t)(host >> 16);
	f->cip[2] = (uint8_t)(host >> 8);
	f->cip[3] = (uint8_t)host;
	f->sip[0] = 172;
	f->sip[1] = (uint8_t)(16 + ((f->name >> 16) & 0x0f));
	f->sip[2] = (uint8_t)(f->name >> 8);
	f->sip[3] = (uint8_t)f->name;
	f->cport = (uint16_t)(32768 + rng_next(s) % 28000);
	f->sport = 443;
	f->seq[DIR_C2S] = (uint32_t)rng_next(s);
	f->seq[DIR_S2C] = (uint32_t)rng_next(s);
	f->ipid[DIR_C2S] = (uint16_t)rng_next(s);
	f->ipid[DIR_S2C] = (uint16_t)rng_next(s);
	flow_script(s, f);
	f->bulk_left = bulk_mean > 0 ? (uint32_t)(rng_unit(s) * 2 * bulk_mean + 0.5) : 0;
	f->left = f->nops + f->bulk_left;
	s->active++;
}

/* ---- frames ---- */

/* Emit one Ethernet/IPv4/TCP frame of a flow; payload may be NULL (zeroes are never sent). */
static void
emit(struct synth *s, struct synth_flow *f, uint8_t dir, uint8_t flags, const uint8_t *payload,
     uint32_t plen)
{
	static const uint8_t mac_c[6] = {0x02, 0, 0, 0, 0, 0x01}, mac_s[6] = {0x02, 0, 0, 0, 0, 0x02};
	static const uint8_t syn_opts[12] = {2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1};
	uint8_t fr[SYNTH_FRAME_MAX];
	uint32_t optlen = (flags & 0x02) ? sizeof(syn_opts) : 0;
	uint32_t tcplen = 20 + optlen + plen, iplen = 20 + tcplen, len = 14 + iplen, sum;
	uint8_t *ip = fr + 14, *tcp = ip + 20;
	const uint8_t *src = dir == DIR_C2S ? f->cip : f->sip, *dst = dir == DIR_C2S ? f->sip : f->cip;
	struct pcap_pkthdr h;

	if (len > sizeof(fr))
		die("internal: frame too long", NULL);
	memcpy(fr, dir == DIR_C2S ? mac_s : mac_c, 6);
	memcpy(fr + 6, dir == DIR_C2S ? mac_c : mac_s, 6);
	fr[12] = 0x08;
	fr[13] = 0x00;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, iplen);
	put16(ip + 4, f->ipid[dir]++);
	put16(ip + 6, 0x4000);
	ip[8] = dir == DIR_C2S ? 64 : 57;
	ip[9] = 6;
	put16(ip + 10, 0);
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	put16(tcp, dir == DIR_C2S ? f->cport : f->sport);
	put16(tcp + 2, dir == DIR_C2S ? f->sport : f->cport);
	put16(tcp + 4, f->seq[dir] >> 16);
	put16(tcp + 6, f->seq[dir]);
	put16(tcp + 8, (flags & 0x10) ? f->seq[!dir] >> 16 : 0);
	put16(tcp + 10, (flags & 0x10) ? f->seq[!dir] : 0);
	tcp[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, 502);
	put16(tcp + 16, 0);
	put16(tcp + 18, 0);
	memcpy(tcp + 20, syn_opts, optlen);
	if (plen)
		memcpy(tcp + 20 + optlen, payload, plen);
	sum = csum_add(0, ip + 12, 8) + 6 + tcplen;
	put16(tcp + 16, csum_fold(csum_add(sum, tcp, tcplen)));
	f->seq[dir] += plen + ((flags & 0x03) ? 1 : 0);
	/* Ethernet minimum: 60 bytes before the FCS. */
	if (len < 60) {
		memset(fr + len, 0, 60 - len);
		len = 60;
	}
	h.ts.tv_sec = (time_t)(s->ts_ns / 1000000000u);
	h.ts.tv_usec = (suseconds_t)(s->ts_ns % 1000000000u / 1000u);
	h.caplen = h.len = len;
	pcap_dump((u_char *)s->dump, &h, fr);
	s->pkts++;
	s->bytes += len;
	s->ts_ns += s->gap_ns;
}

/* One bulk packet of an established flow: an IMIX-sized TLS application-data segment or a bare ACK. */
static void
emit_bulk(struct synth *s, struct synth_flow *f)
{
	uint8_t pl[1500];
	uint32_t r = (uint32_t)(rng_next(s) % 12), i = 0, iplen, plen;
	uint8_t dir;

	while (r >= imix_weight[i]) {
		r -= imix_weight[i];
		i++;
	}
	iplen = imix_len[i];
	if (iplen == 40) {
		/* bare ACK: mostly the client acknowledging a download */
		dir = rng_next(s) % 5 ? DIR_C2S : DIR_S2C;
		emit(s, f, dir, 0x10, NULL, 0);
	} else {
		dir = rng_next(s) % 5 ? DIR_S2C : DIR_C2S;
		plen = iplen - 40;
		pl[0] = 23;
		put16(pl + 1, 0x0303);
		put16(pl + 3, plen - 5);
		memcpy(pl + 5, s->rand_pool + rng_next(s) % (SYNTH_RAND_POOL - plen), plen - 5);
		emit(s, f, dir, 0x18, pl, plen);
	}
	s->bulk_pkts++;
}

/* Next packet of a flow: its handshake ops, then bulk, then the close ops. */
static void
flow_step(struct synth *s, struct synth_flow *f)
{
	const struct synth_op *op;

	if (f->next_op == f->n_hs_ops && f->bulk_left > 0) {
		f->bulk_left--;
		emit_bulk(s, f);
	} else {
		op = &f->ops[f->next_op++];
		emit(s, f, op->dir, op->flags, op->len ? f->buf[op->dir] + op->off : NULL, op->len);
		if (op->hs)
			s->hs_pkts++;
		else
			s->bulk_pkts++;
		if (f->next_op == f->n_hs_ops)
			s->hs_done++;
	}
	if (--f->left == 0) {
		f->used = 0;
		s->active--;
	}
}

/* ---- mixes ---- */

static void
run_flows(struct synth *s)
{
	double hs_mean = hs_packets_mean(s), bulk_mean, pkts_mean;
	uint64_t planned = 0;
	uint32_t n = s->o.concurrent;

	bulk_mean = s->o.hs_frac >= 1 ? 0 : hs_mean * (1 - s->o.hs_frac) / s->o.hs_frac;
	pkts_mean = hs_mean + bulk_mean + 3;
	s->gap_ns = (uint64_t)(1e9 / (s->o.fps * pkts_mean));
	if (s->gap_ns == 0)
		s->gap_ns = 1;
	s->fl = calloc(n, sizeof(*s->fl));
	if (!s->fl)
		die("out of memory", NULL);
	for (;;) {
		/* Refill free slots while the budget allows: flows are always complete in the file. */
		for (uint32_t i = 0; i < n; i++) {
			if (s->fl[i].used)
				continue;
			if (s->o.flows && s->flows >= s->o.flows)
				break;
			if (s->o.packets && planned >= s->o.packets)
				break;
			flow_start(s, &s->fl[i], bulk_mean);
			planned += s->fl[i].left;
		}
		if (s->active == 0)
			break;
		/* Interleave: the next packet comes from a random live flow. */
		uint32_t i = (uint32_t)(rng_next(s) % n);
		while (!s->fl[i].used)
			i = (i + 1) % n;
		flow_step(s, &s->fl[i]);
	}
}

/* 64-byte bare ACKs over `concurrent` established-looking 5-tuples, no handshakes. */
static void
run_ackflood(struct synth *s)
{
	uint32_t n = s->o.concurrent;

	s->gap_ns = (uint64_t)(1e9 / (s->o.fps > 0 ? s->o.fps : 1));
	s->fl = calloc(n, sizeof(*s->fl));
	if (!s->fl)
		die("out of memory", NULL);
	for (uint32_t i = 0; i < n; i++) {
		struct synth_flow *f = &s->fl[i];
		uint32_t host = i + 1;
		f->cip[0] = 10;
		f->cip[1] = (uint8_t)(host >> 16);
		f->cip[2] = (uint8_t)(host >> 8);
		f->cip[3] = (uint8_t)host;
		f->sip[0] = 172;
		f->sip[1] = 16;
		f->sip[2] = (uint8_t)(i >> 8 & 0x0f);
		f->sip[3] = (uint8_t)i;
		f->cport = (uint16_t)(32768 + rng_next(s) % 28000);
		f->sport = 443;
		f->seq[0] = (uint32_t)rng_next(s);
		f->seq[1] = (uint32_t)rng_next(s);
	}
	while (s->pkts < s->o.packets) {
		struct synth_flow *f = &s->fl[rng_next(s) % n];
		f->seq[DIR_S2C] += 1448 * 2; /* each ACK acknowledges two new full segments */
		emit(s, f, DIR_C2S, 0x10, NULL, 0);
		s->bulk_pkts++;
	}
}

/* ---- options ---- */

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: cw-synth -o FILE --certs DIR [options]\n"
		"Write a deterministic Ethernet pcap of TCP/TLS flows: real-shaped hellos (templates cut\n"
		"from a real capture), real certificate chains (mkcerts.sh), IMIX-sized bulk traffic.\n"
		"\n"
		"  -o, --out FILE         output pcap\n"
		"      --certs DIR        chain cache made by tools/bench/mkcerts.sh\n"
		"      --templates DIR    hello templates (default %s)\n"
		"      --mix M            preset: realistic | handshake | ackflood (options after it override)\n"
		"      --flows N          flows to generate (all complete in the file)\n"
		"      --packets N        stop starting flows once about N packets are planned\n"
		"                         (ackflood: exactly N packets)\n"
		"      --fps R            flows started per second: sets the timestamp spacing (default 1000;\n"
		"                         ackflood: packets per second)\n"
		"      --concurrent C     flows interleaved at once (default 64; ackflood: 5-tuples)\n"
		"      --hs-frac F        target share of handshake packets, 0 < F <= 1 (1 = no bulk)\n"
		"      --tls13 P          share of TLS 1.3 flows, 0..1 (default 0.5)\n"
		"      --chain-len A[-B]  certificates per chain, 1..4 (default 1-4)\n"
		"      --names N          distinct server names = distinct chains (default 64)\n"
		"      --zipf S           popularity exponent of names (default 1.0; 0 = uniform)\n"
		"      --seed N           random seed (default 1)\n"
		"      --start T          first packet's time, seconds since 1970 (default 1767225600:\n"
		"                         2026-01-01T00:00:00Z); certificates are judged at capture time\n"
		"  -h, --help             this text\n"
		"\n"
		"Presets:  realistic: --hs-frac 0.03 --tls13 0.7 --chain-len 1-4 --concurrent 256 --packets 100000\n"
		"          handshake: --hs-frac 1 --tls13 0 --chain-len 3 --flows 5000\n"
		"          ackflood:  --concurrent 4096 --packets 100000 --fps 10000000\n"
		"A summary (key=value) goes to stderr; handshakes= counts flows whose handshake is complete.\n",
		SYNTH_TEMPLATES);
}

static double
opt_double(const char *name, const char *v, double lo, double hi)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || *v == '\0' || *end != '\0' || !(d >= lo && d <= hi)) {
		fprintf(stderr, "cw-synth: --%s: expected %g..%g, got '%s'\n", name, lo, hi, v);
		exit(1);
	}
	return d;
}

static void
mix_preset(struct synth_opts *o, const char *m)
{
	if (strcmp(m, "realistic") == 0) {
		o->mix = MIX_REALISTIC;
		o->hs_frac = 0.03;
		o->tls13 = 0.7;
		o->depth_lo = 1;
		o->depth_hi = 4;
		o->concurrent = 256;
		o->packets = 100000;
		o->flows = 0;
	} else if (strcmp(m, "handshake") == 0) {
		o->mix = MIX_HANDSHAKE;
		o->hs_frac = 1;
		o->tls13 = 0;
		o->depth_lo = o->depth_hi = 3;
		o->flows = 5000;
		o->packets = 0;
	} else if (strcmp(m, "ackflood") == 0) {
		o->mix = MIX_ACKFLOOD;
		o->concurrent = 4096;
		o->packets = 100000;
		o->flows = 0;
		o->fps = 1e7;
	} else {
		fprintf(stderr, "cw-synth: --mix: expected realistic|handshake|ackflood, got '%s'\n", m);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	enum { O_CERTS = 256, O_TEMPL, O_MIX, O_FLOWS, O_PKTS, O_FPS, O_CONC, O_HSF, O_T13, O_CHAIN,
	       O_NAMES, O_ZIPF, O_SEED, O_START };
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"certs", required_argument, NULL, O_CERTS},
		{"templates", required_argument, NULL, O_TEMPL},
		{"mix", required_argument, NULL, O_MIX},
		{"flows", required_argument, NULL, O_FLOWS},
		{"packets", required_argument, NULL, O_PKTS},
		{"fps", required_argument, NULL, O_FPS},
		{"concurrent", required_argument, NULL, O_CONC},
		{"hs-frac", required_argument, NULL, O_HSF},
		{"tls13", required_argument, NULL, O_T13},
		{"chain-len", required_argument, NULL, O_CHAIN},
		{"names", required_argument, NULL, O_NAMES},
		{"zipf", required_argument, NULL, O_ZIPF},
		{"seed", required_argument, NULL, O_SEED},
		{"start", required_argument, NULL, O_START},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct synth s;
	struct synth_opts *o = &s.o;
	char path[4096];
	pcap_t *dead;
	int c;

	*o = (struct synth_opts){
		.templates = SYNTH_TEMPLATES, .fps = 1000, .concurrent = 64, .hs_frac = 1,
		.tls13 = 0.5, .depth_lo = 1, .depth_hi = 4, .names = 64, .zipf_s = 1.0, .seed = 1,
		.start = 1767225600,
	};
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case O_CERTS:
			o->certs = optarg;
			break;
		case O_TEMPL:
			o->templates = optarg;
			break;
		case O_MIX:
			mix_preset(o, optarg);
			break;
		case O_FLOWS:
			o->flows = (uint64_t)opt_double("flows", optarg, 1, 1e9);
			break;
		case O_PKTS:
			o->packets = (uint64_t)opt_double("packets", optarg, 1, 1e10);
			break;
		case O_FPS:
			o->fps = opt_double("fps", optarg, 1e-3, 1e9);
			break;
		case O_CONC:
			o->concurrent = (uint32_t)opt_double("concurrent", optarg, 1, 1 << 20);
			break;
		case O_HSF:
			o->hs_frac = opt_double("hs-frac", optarg, 1e-4, 1);
			break;
		case O_T13:
			o->tls13 = opt_double("tls13", optarg, 0, 1);
			break;
		case O_CHAIN: {
			unsigned int a, b;
			char dash;
			int n = sscanf(optarg, "%u%c%u", &a, &dash, &b);
			if (n == 1)
				b = a;
			if ((n != 1 && (n != 3 || dash != '-')) || a < 1 || b > SYNTH_DEPTH_MAX || a > b) {
				fprintf(stderr, "cw-synth: --chain-len: expected A or A-B in 1..4\n");
				return 1;
			}
			o->depth_lo = a;
			o->depth_hi = b;
			break;
		}
		case O_NAMES:
			o->names = (uint32_t)opt_double("names", optarg, 1, 1 << 20);
			break;
		case O_ZIPF:
			o->zipf_s = opt_double("zipf", optarg, 0, 10);
			break;
		case O_SEED:
			o->seed = (uint64_t)opt_double("seed", optarg, 0, 1e18);
			break;
		case O_START:
			/* Up to 9999-12-31: the outputs' dates have four-digit years. */
			o->start = (uint64_t)opt_double("start", optarg, 0, 253402300799);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!o->out || (!o->certs && o->mix != MIX_ACKFLOOD)) {
		fprintf(stderr, "cw-synth: -o FILE and --certs DIR are required (see --help)\n");
		return 1;
	}
	if (o->mix != MIX_ACKFLOOD && !o->flows && !o->packets)
		o->flows = 1000;
	if (o->mix == MIX_ACKFLOOD && !o->packets)
		o->packets = 100000;
	s.rng = o->seed;
	rng_fill(&s, s.rand_pool, sizeof(s.rand_pool));

	dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
	if (!dead)
		die("pcap_open_dead failed", NULL);
	s.dump = pcap_dump_open(dead, o->out);
	if (!s.dump)
		die(pcap_geterr(dead), o->out);
	s.ts_ns = o->start * 1000000000u;

	if (o->mix == MIX_ACKFLOOD) {
		run_ackflood(&s);
	} else {
		hello_load(&s.ch[0], o->templates, "ch12.bin", 1);
		hello_load(&s.sh[0], o->templates, "sh12.bin", 0);
		hello_load(&s.ch[1], o->templates, "ch13.bin", 1);
		hello_load(&s.sh[1], o->templates, "sh13.bin", 0);
		snprintf(path, sizeof(path), "%s/ske12.bin", o->templates);
		s.ske12 = read_file(path, &s.ske12_len);
		if (!s.ske12 || s.ske12_len < 4 || s.ske12[0] != 12)
			die("cannot read ServerKeyExchange template", path);
		chains_load(&s);
		zipf_init(&s);
		s.name_used = calloc(o->names, 1);
		if (!s.name_used)
			die("out of memory", NULL);
		run_flows(&s);
	}
	if (pcap_dump_flush(s.dump) < 0)
		die("write failed", o->out);
	pcap_dump_close(s.dump);
	pcap_close(dead);
	fprintf(stderr,
		"packets=%" PRIu64 " bytes=%" PRIu64 " flows=%" PRIu64 " handshakes=%" PRIu64
		" tls12=%" PRIu64 " tls13=%" PRIu64 " hs_packets=%" PRIu64 " bulk_packets=%" PRIu64
		" hs_share=%.4f names_used=%" PRIu64 " chains_used_tls12=%" PRIu64
		" duration_s=%.3f\n",
		s.pkts, s.bytes, s.flows, s.hs_done, s.tls12, s.tls13, s.hs_pkts, s.bulk_pkts,
		s.pkts ? (double)s.hs_pkts / (double)s.pkts : 0.0, s.names_used, s.chains_used,
		(double)s.pkts * (double)s.gap_ns / 1e9);
	return 0;
}
