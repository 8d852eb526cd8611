/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The session's packed names (SNI, client ALPN list, selected protocol): handshakes built byte
 * by byte, fed as decoded segments, in both buffer modes. Names that fit stay inside the session;
 * longer ones move to the caller's area (fixed mode) or to one buffer from the buffer ops, which
 * the owner gets back through cw_session_str_buf(). A refused buffer cuts the names, flagged.
 * Names written before others (a ClientHello after the ServerHello) move those up.
 * Every event is compared field by field with what the handshake carried.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_check.h"
#include "session.h"

#define CAP 4096u

static uint8_t fixed[2][CAP];
static uint8_t fixed_strs[CW_SESS_STR_MAX];

/* Buffer ops: malloc'd at the size asked for; refuses the names' buffer when told to. */
struct prov {
	int refuse_names;
	uint32_t live;
	uint32_t names_grants;
};

static struct prov prov;

static uint8_t *
prov_get(void *arg, uint32_t need, uint32_t *cap)
{
	struct prov *p = arg;

	if (need == CW_SESS_STR_MAX) {
		if (p->refuse_names)
			return NULL;
		p->names_grants++;
	}
	p->live++;
	*cap = need;
	return malloc(need);
}

static void
prov_put(void *arg, uint8_t *buf, uint32_t cap)
{
	struct prov *p = arg;

	(void)cap;
	p->live--;
	free(buf);
}

static const struct cw_buf_ops ops = {prov_get, prov_put, &prov, CAP};

static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

static uint8_t *
put16(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 8);
	o[1] = (uint8_t)v;
	return o + 2;
}

/* Record and handshake headers around a body already written at o + 9; returns the record length. */
static uint32_t
wrap(uint8_t *o, uint8_t hs_type, uint32_t body_len)
{
	o[0] = 0x16;
	put16(o + 1, 0x0303);
	put16(o + 3, body_len + 4);
	o[5] = hs_type;
	o[6] = (uint8_t)(body_len >> 16);
	put16(o + 7, body_len);
	return 9 + body_len;
}

/* ClientHello: one cipher suite, server_name with `sni` (sni_len bytes), ALPN list bytes if any. */
static uint32_t
client_hello(uint8_t *o, const char *sni, uint32_t sni_len, const uint8_t *alpn, uint32_t alpn_len)
{
	uint8_t *p = o + 9, *ext_len;

	p = put16(p, 0x0303);
	memset(p, 0x11, 32);
	p += 32;
	*p++ = 0;               /* session id */
	p = put16(p, 2);
	p = put16(p, 0x1301);
	*p++ = 1;
	*p++ = 0;               /* null compression */
	ext_len = p;
	p += 2;
	p = put16(p, 0);        /* server_name */
	p = put16(p, sni_len + 5);
	p = put16(p, sni_len + 3);
	*p++ = 0;               /* host_name */
	p = put16(p, sni_len);
	memcpy(p, sni, sni_len);
	p += sni_len;
	if (alpn_len > 0) {
		p = put16(p, 16);
		p = put16(p, alpn_len + 2);
		p = put16(p, alpn_len);
		memcpy(p, alpn, alpn_len);
		p += alpn_len;
	}
	put16(ext_len, (uint32_t)(p - ext_len - 2));
	return wrap(o, 1, (uint32_t)(p - o - 9));
}

/* ServerHello (or HelloRetryRequest) choosing `sel` by ALPN when it is not NULL. */
static uint32_t
server_hello(uint8_t *o, int hrr, const char *sel)
{
	uint8_t *p = o + 9, *ext_len;
	uint32_t n = sel != NULL ? (uint32_t)strlen(sel) : 0;

	p = put16(p, 0x0303);
	if (hrr)
		memcpy(p, hrr_random, 32);
	else
		memset(p, 0x22, 32);
	p += 32;
	*p++ = 0;
	p = put16(p, 0x1301);
	*p++ = 0;
	ext_len = p;
	p += 2;
	if (sel != NULL) {
		p = put16(p, 16);
		p = put16(p, n + 3);
		p = put16(p, n + 1);
		*p++ = (uint8_t)n;
		memcpy(p, sel, n);
		p += n;
	}
	put16(ext_len, (uint32_t)(p - ext_len - 2));
	return wrap(o, 2, (uint32_t)(p - o - 9));
}

/* One direction of the test connection 198.18.0.1:40000 -> 198.18.0.2:443, and back. */
struct dir {
	uint32_t seq;
	int from_client;
};

static uint64_t ts;

static void
feed(struct cw_session *s, struct dir *d, uint8_t tcp_flags, const uint8_t *payload, uint32_t len)
{
	struct cw_pkt pkt;
	const uint8_t cli[4] = {198, 18, 0, 1}, srv[4] = {198, 18, 0, 2};

	memset(&pkt, 0, sizeof(pkt));
	pkt.ipver = 4;
	pkt.ttl = d->from_client ? 64 : 57;
	memcpy(pkt.saddr + 12, d->from_client ? cli : srv, 4);
	memcpy(pkt.daddr + 12, d->from_client ? srv : cli, 4);
	pkt.sport = d->from_client ? 40000 : 443;
	pkt.dport = d->from_client ? 443 : 40000;
	pkt.tcp_flags = tcp_flags;
	pkt.seq = d->seq;
	pkt.payload = payload;
	pkt.payload_len = len;
	d->seq += len + ((tcp_flags & CW_TCP_SYN) ? 1 : 0);
	cw_session_packet(s, &pkt, ts += 1000);
}

/* A handshake step: a ClientHello (sni != NULL) or a ServerHello / HRR. */
struct step {
	const char *sni;
	uint32_t sni_len;
	const uint8_t *alpn;
	uint32_t alpn_len;
	int hrr;
	const char *sel;
};

static void
run(struct cw_session *s, const struct step *st, unsigned int n)
{
	static uint8_t msg[2048];
	struct dir c = {1000, 1}, v = {7000, 0};

	ts = 1000000000ull;
	feed(s, &c, CW_TCP_SYN, NULL, 0);
	feed(s, &v, CW_TCP_SYN | CW_TCP_ACK, NULL, 0);
	for (unsigned int i = 0; i < n; i++) {
		if (st[i].sni != NULL)
			feed(s, &c, CW_TCP_ACK | CW_TCP_PSH, msg,
			     client_hello(msg, st[i].sni, st[i].sni_len, st[i].alpn, st[i].alpn_len));
		else
			feed(s, &v, CW_TCP_ACK | CW_TCP_PSH, msg, server_hello(msg, st[i].hrr, st[i].sel));
	}
	cw_session_finish(s, CW_END_DONE);
}

struct want {
	const char *sni;
	uint32_t sni_len;
	const uint8_t *alpn;
	uint32_t alpn_len;
	const char *sel;
	uint32_t anomalies; /* of CW_EVA_SNI_TRUNC | CW_EVA_ALPN_TRUNC */
	int moved;          /* the names left the session */
};

static void
check_event(const char *name, const struct cw_session *s, const struct want *w)
{
	struct cw_flow_event ev;
	int before = failures;

	cw_session_event(s, &ev);
	CHECK(ev.flags & CW_EVF_CH);
	CHECK(ev.flags & CW_EVF_SH);
	CHECK_EQ(strlen(ev.sni), w->sni_len);
	CHECK(memcmp(ev.sni, w->sni, w->sni_len) == 0);
	CHECK_EQ(ev.alpn_len, w->alpn_len);
	CHECK(w->alpn_len == 0 || memcmp(ev.alpn, w->alpn, w->alpn_len) == 0);
	CHECK(strcmp(ev.alpn_sel, w->sel) == 0);
	CHECK_EQ(ev.anomalies & (CW_EVA_SNI_TRUNC | CW_EVA_ALPN_TRUNC), w->anomalies);
	CHECK_EQ(ev.cli_port, 40000);
	CHECK_EQ(ev.srv_port, 443);
	CHECK_EQ(ev.cli_addr[15], 1);
	CHECK_EQ(ev.srv_addr[15], 2);
	CHECK_EQ(ev.cli_ttl, 64);
	CHECK_EQ(ev.srv_ttl, 57);
	CHECK_EQ(s->str != s->str_in, w->moved);
	if (failures != before)
		fprintf(stderr, "  case: %s\n", name);
}

/* The same handshake in fixed mode, in bufs mode, and in bufs mode with the names' buffer refused. */
static void
one_case(const char *name, const struct step *st, unsigned int n, const struct want *w,
	 const struct want *refused)
{
	static struct cw_session fs, gs;
	struct cw_flow_event fev, gev;
	uint32_t cap = 0;
	uint8_t *str;

	cw_session_init(&fs, fixed[0], fixed[1], CAP, fixed_strs);
	run(&fs, st, n);
	check_event(name, &fs, w);
	CHECK(cw_session_str_buf(&fs, &cap) == NULL);
	CHECK_EQ(fs.buf_short, 0);

	memset(&prov, 0, sizeof(prov));
	cw_session_init_bufs(&gs, &ops);
	run(&gs, st, n);
	check_event(name, &gs, w);
	cw_session_event(&fs, &fev);
	cw_session_event(&gs, &gev);
	CHECK(memcmp(&fev, &gev, sizeof(fev)) == 0);
	str = cw_session_str_buf(&gs, &cap);
	CHECK_EQ(str != NULL, w->moved);
	CHECK_EQ(prov.names_grants, w->moved);
	CHECK(str == NULL || cap >= CW_SESS_STR_MAX);
	CHECK_EQ(gs.buf_short, 0);
	for (int i = 0; i < 2; i++)
		if (gs.ra[i].buf != NULL)
			prov_put(&prov, gs.ra[i].buf, gs.ra[i].cap);
	if (str != NULL)
		prov_put(&prov, str, cap);
	CHECK_EQ(prov.live, 0);

	memset(&prov, 0, sizeof(prov));
	prov.refuse_names = 1;
	cw_session_init_bufs(&gs, &ops);
	run(&gs, st, n);
	check_event(name, &gs, refused);
	CHECK(cw_session_str_buf(&gs, &cap) == NULL);
	CHECK_EQ(gs.buf_short, refused->anomalies != 0);
	for (int i = 0; i < 2; i++)
		if (gs.ra[i].buf != NULL)
			prov_put(&prov, gs.ra[i].buf, gs.ra[i].cap);
	CHECK_EQ(prov.live, 0);
}

int
main(void)
{
	static const uint8_t alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
	static uint8_t many[20 * 9];
	static char long_name[300], mid[200], edge[CW_SESS_STR_INLINE - sizeof(alpn)];
	static char nul_name[] = {'a', '\0', 'b', '.', 't', 'e', 's', 't'};
	const char *shortn = "a.example";

	for (size_t i = 0; i < sizeof(long_name); i++)
		long_name[i] = (char)('a' + i % 26);
	memcpy(mid, long_name, sizeof(mid));
	memcpy(edge, long_name, sizeof(edge));
	for (int i = 0; i < 20; i++) {
		many[i * 9] = 8;
		memcpy(many + i * 9 + 1, "proto-", 6);
		many[i * 9 + 7] = (uint8_t)('a' + i);
		many[i * 9 + 8] = 'x';
	}

	{
		const struct step st[] = {{shortn, 9, alpn, sizeof(alpn), 0, NULL}, {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {shortn, 9, alpn, sizeof(alpn), "h2", 0, 0};

		one_case("short names stay in the session", st, 2, &w, &w);
	}
	{
		const struct step st[] = {{mid, sizeof(mid), alpn, sizeof(alpn), 0, NULL},
					  {NULL, 0, NULL, 0, 0, "http/1.1"}};
		const struct want w = {mid, sizeof(mid), alpn, sizeof(alpn), "http/1.1", 0, 1};
		/* Refused: the SNI keeps what fits inside the session, nothing is left for the rest. */
		const struct want r = {mid, CW_SESS_STR_INLINE, NULL, 0, "",
				       CW_EVA_SNI_TRUNC | CW_EVA_ALPN_TRUNC, 0};

		one_case("a 200-byte SNI moves the names out", st, 2, &w, &r);
	}
	{
		const struct step st[] = {{long_name, sizeof(long_name), alpn, sizeof(alpn), 0, NULL},
					  {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {long_name, CW_EV_SNI_MAX - 1, alpn, sizeof(alpn), "h2",
				       CW_EVA_SNI_TRUNC, 1};
		const struct want r = {long_name, CW_SESS_STR_INLINE, NULL, 0, "",
				       CW_EVA_SNI_TRUNC | CW_EVA_ALPN_TRUNC, 0};

		one_case("a 300-byte SNI is cut to the event's bound", st, 2, &w, &r);
	}
	{
		/* SNI + ALPN fill the session exactly; the selected protocol moves them out. */
		const struct step st[] = {{edge, sizeof(edge), alpn, sizeof(alpn), 0, NULL},
					  {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {edge, sizeof(edge), alpn, sizeof(alpn), "h2", 0, 1};
		const struct want r = {edge, sizeof(edge), alpn, sizeof(alpn), "", CW_EVA_ALPN_TRUNC, 0};

		one_case("the selected protocol overflows a full session", st, 2, &w, &r);
	}
	{
		/* 20 names of 8 bytes: whole names up to 128 bytes are kept (14 x 9 = 126). */
		const struct step st[] = {{shortn, 9, many, sizeof(many), 0, NULL}, {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {shortn, 9, many, 14 * 9, "h2", CW_EVA_ALPN_TRUNC, 1};
		/* Refused: 64 - 9 bytes of room hold 6 whole names. */
		const struct want r = {shortn, 9, many, 6 * 9, "", CW_EVA_ALPN_TRUNC, 0};

		one_case("a long ALPN list is cut at a name boundary", st, 2, &w, &r);
	}
	{
		/* Names written before others (a ClientHello after the ServerHello) move those up. */
		const struct step st[] = {{NULL, 0, NULL, 0, 0, "h2"}, {shortn, 9, alpn, sizeof(alpn), 0, NULL}};
		const struct want w = {shortn, 9, alpn, sizeof(alpn), "h2", 0, 0};

		one_case("a ClientHello after the ServerHello, short names", st, 2, &w, &w);
	}
	{
		const struct step st[] = {{NULL, 0, NULL, 0, 0, "h2"}, {mid, sizeof(mid), alpn, sizeof(alpn), 0, NULL}};
		const struct want w = {mid, sizeof(mid), alpn, sizeof(alpn), "h2", 0, 1};
		const struct want r = {mid, CW_SESS_STR_INLINE - 2, NULL, 0, "h2",
				       CW_EVA_SNI_TRUNC | CW_EVA_ALPN_TRUNC, 0};

		one_case("a ClientHello after the ServerHello, a 200-byte SNI", st, 2, &w, &r);
	}
	{
		/* The second ClientHello after a HelloRetryRequest leaves the first one's names. */
		const struct step st[] = {{shortn, 9, alpn, sizeof(alpn), 0, NULL},
					  {NULL, 0, NULL, 0, 1, NULL},
					  {mid, sizeof(mid), alpn, sizeof(alpn), 0, NULL},
					  {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {shortn, 9, alpn, sizeof(alpn), "h2", 0, 0};

		one_case("a second ClientHello after HRR", st, 4, &w, &w);
	}
	{
		static const char shown[] = {'a', '?', 'b', '.', 't', 'e', 's', 't'};
		const struct step st[] = {{nul_name, sizeof(nul_name), alpn, sizeof(alpn), 0, NULL},
					  {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {shown, sizeof(shown), alpn, sizeof(alpn), "h2", 0, 0};

		one_case("an embedded NUL in the SNI is shown as ?", st, 2, &w, &w);
	}
	return cw_check_report("test_session_names");
}
