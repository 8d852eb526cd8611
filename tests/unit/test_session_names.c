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
#include "hs_build.h"
#include "ooo_prov.h"
#include "session.h"

#define CAP 4096u

static uint8_t fixed[2][CAP];
static struct cw_sess_area fixed_area;

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

static const struct cw_buf_ops ops = {prov_get, prov_put, &prov, CAP, ooo_get, ooo_put, NULL};

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
	struct hb_dir c = {1000, 1}, v = {7000, 0};

	hb_ts = 1000000000ull;
	hb_feed(s, &c, CW_TCP_SYN, NULL, 0);
	hb_feed(s, &v, CW_TCP_SYN | CW_TCP_ACK, NULL, 0);
	for (unsigned int i = 0; i < n; i++) {
		if (st[i].sni != NULL)
			hb_feed(s, &c, CW_TCP_ACK | CW_TCP_PSH, msg,
				hb_client_hello(msg, NULL, 0, st[i].sni, st[i].sni_len, st[i].alpn,
						st[i].alpn_len));
		else
			hb_feed(s, &v, CW_TCP_ACK | CW_TCP_PSH, msg,
				hb_server_hello(msg, st[i].hrr, NULL, 0, st[i].sel, 0));
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

	hb_event(s, &ev);
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
	CHECK_EQ(ev.cli_addr[15], hb_cli_high ? 2 : 1);
	CHECK_EQ(ev.srv_addr[15], hb_cli_high ? 1 : 2);
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

	cw_session_init(&fs, fixed[0], fixed[1], CAP, &fixed_area);
	run(&fs, st, n);
	check_event(name, &fs, w);
	CHECK(cw_session_str_buf(&fs, &cap) == NULL);
	CHECK_EQ(fs.buf_short, 0);

	memset(&prov, 0, sizeof(prov));
	cw_session_init_bufs(&gs, &ops);
	run(&gs, st, n);
	check_event(name, &gs, w);
	hb_event(&fs, &fev);
	hb_event(&gs, &gev);
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

/*
 * The event's endpoints come from the flow key, oriented by the session's roles: the client is
 * endpoint a or b of the key (hb_cli_high), and the first segment is the client's SYN, the
 * server's SYN-ACK, or (picked up mid-stream) the server's ServerHello.
 */
static void
roles_case(int cli_high, int first)
{
	static const char *const firsts[] = {"client SYN", "server SYN-ACK", "server hello"};
	static struct cw_session gs;
	static uint8_t msg[2048];
	struct hb_dir c = {1000, 1}, v = {7000, 0};
	struct cw_flow_event ev;
	int before = failures;

	hb_cli_high = cli_high;
	memset(&prov, 0, sizeof(prov));
	cw_session_init_bufs(&gs, &ops);
	if (first == 0)
		hb_feed(&gs, &c, CW_TCP_SYN, NULL, 0);
	if (first <= 1)
		hb_feed(&gs, &v, CW_TCP_SYN | CW_TCP_ACK, NULL, 0);
	if (first == 2)
		hb_feed(&gs, &v, CW_TCP_ACK | CW_TCP_PSH, msg, hb_server_hello(msg, 0, NULL, 0, "h2", 0));
	hb_feed(&gs, &c, CW_TCP_ACK | CW_TCP_PSH, msg,
		hb_client_hello(msg, NULL, 0, "roles.test", 10, NULL, 0));
	if (first != 2)
		hb_feed(&gs, &v, CW_TCP_ACK | CW_TCP_PSH, msg, hb_server_hello(msg, 0, NULL, 0, "h2", 0));
	cw_session_finish(&gs, CW_END_FIN);
	hb_event(&gs, &ev);
	CHECK(ev.flags & CW_EVF_CH);
	CHECK(ev.flags & CW_EVF_SH);
	CHECK_EQ(ev.ipver, 4);
	CHECK_EQ(ev.cli_addr[12], 198);
	CHECK_EQ(ev.cli_addr[15], cli_high ? 2 : 1);
	CHECK_EQ(ev.srv_addr[15], cli_high ? 1 : 2);
	CHECK_EQ(ev.cli_port, 40000);
	CHECK_EQ(ev.srv_port, 443);
	CHECK_EQ(ev.cli_ttl, 64);
	CHECK_EQ(ev.srv_ttl, 57);
	CHECK(strcmp(ev.sni, "roles.test") == 0);
	CHECK(strcmp(ev.alpn_sel, "h2") == 0);
	CHECK_EQ(!!(ev.flags & CW_EVF_MIDSTREAM), first == 2);
	if (failures != before)
		fprintf(stderr, "  roles: client endpoint %c, first segment %s\n", cli_high ? 'b' : 'a',
			firsts[first]);
	for (int i = 0; i < 2; i++)
		if (gs.ra[i].buf != NULL)
			prov_put(&prov, gs.ra[i].buf, gs.ra[i].cap);
	CHECK_EQ(prov.live, 0);
	hb_cli_high = 0;
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
	for (int cli_high = 0; cli_high < 2; cli_high++)
		for (int first = 0; first < 3; first++)
			roles_case(cli_high, first);
	hb_cli_high = 1;
	{
		const struct step st[] = {{shortn, 9, alpn, sizeof(alpn), 0, NULL}, {NULL, 0, NULL, 0, 0, "h2"}};
		const struct want w = {shortn, 9, alpn, sizeof(alpn), "h2", 0, 0};

		one_case("the client is endpoint b of the key", st, 2, &w, &w);
	}
	hb_cli_high = 0;
	return cw_check_report("test_session_names");
}
