/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A TLS 1.2 server flight built byte by byte, fed as decoded segments.
 *
 * Certificates: the session keeps them as offsets into the server direction's buffer. With
 * buffers on demand the session drops parsed bytes from the front of that buffer, and may move
 * what is left to a smaller one, while the certificates are still held: a long ServerHello in
 * the same segment as a short Certificate is such a front. The certificate views must give
 * back the exact DER bytes the server sent, in both buffer modes, whole or in pieces, and the
 * event's chain id must not depend on the mode.
 *
 * Resumption: a TLS 1.2 ServerHello that echoes the ClientHello's session id resumes (no
 * Certificate follows); one that differs in one byte, in length, or answers an empty id does not.
 *
 * Fingerprints of hellos with more extensions than the parser keeps: two that differ only in
 * their last extension get different JA3, JA4 and JA3S through the session's caches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cw_check.h"
#include "cw_cursor.h"
#include "fingerprint.h"
#include "hs_build.h"
#include "ooo_prov.h"
#include "session.h"

#define CAP 8192u
#define NCERT 3
#define CERT_END UINT32_MAX

static uint8_t fixed[2][CAP];
static struct cw_sess_area fixed_area;

/* Buffer ops: malloc'd at exactly the size asked for, poisoned when given back. */
static uint32_t live, grants;

static uint8_t *
prov_get(void *arg, uint32_t need, uint32_t *cap)
{
	uint8_t *b = malloc(need);

	(void)arg;
	if (b == NULL)
		exit(2);
	live++;
	grants++;
	*cap = need;
	return b;
}

static void
prov_put(void *arg, uint8_t *buf, uint32_t cap)
{
	(void)arg;
	memset(buf, 0xa5, cap);
	free(buf);
	live--;
}

static const struct cw_buf_ops ops = {prov_get, prov_put, NULL, CAP, ooo_get, ooo_put, NULL};

/* Certificates: DER-shaped (SEQUENCE, long form length) with distinct contents. */
static const uint32_t cert_len[NCERT] = {420, 310, 200};
static uint8_t der[NCERT][512];

static void
make_certs(void)
{
	for (int i = 0; i < NCERT; i++) {
		der[i][0] = 0x30;
		der[i][1] = 0x82;
		hb_put16(der[i] + 2, cert_len[i] - 4);
		for (uint32_t k = 4; k < cert_len[i]; k++)
			der[i][k] = (uint8_t)(k * 7 + i * 31);
	}
}

static uint32_t
certificate(uint8_t *o)
{
	uint8_t *p = o + 12;
	uint32_t list = 0;

	for (int i = 0; i < NCERT; i++) {
		p = hb_put24(p, cert_len[i]);
		memcpy(p, der[i], cert_len[i]);
		p += cert_len[i];
		list += 3 + cert_len[i];
	}
	hb_put24(o + 9, list);
	return hb_wrap(o, 11, list + 3);
}

static uint32_t
server_hello_done(uint8_t *o)
{
	return hb_wrap(o, 14, 0);
}

static void
open_conn(struct cw_session *s, struct hb_dir *c, struct hb_dir *v)
{
	hb_ts = 1000000000ull;
	c->seq = 1000;
	c->from_client = 1;
	v->seq = 7000;
	v->from_client = 0;
	hb_feed(s, c, CW_TCP_SYN, NULL, 0);
	hb_feed(s, v, CW_TCP_SYN | CW_TCP_ACK, NULL, 0);
}

/* The certificate views against the DER sent; NULL views once released. */
static void
check_certs(const char *name, const struct cw_session *s, int released)
{
	const struct cw_reasm *r = &s->ra[!s->cli_side];
	struct cw_cert_list cl;
	int before = failures;

	CHECK_EQ(s->cli_side, 0);
	CHECK_EQ(cw_session_certs(s, &cl), NCERT);
	CHECK_EQ(cl.n, NCERT);
	CHECK_EQ(cl.total, NCERT);
	for (uint32_t i = 0; i < cl.n && i < NCERT; i++) {
		CHECK_EQ(cl.c[i].len, released ? 0 : cert_len[i]);
		if (released)
			CHECK(cl.c[i].p == NULL);
		else if (cl.c[i].p != NULL &&
			 cl.c[i].p >= r->buf && cl.c[i].p + cert_len[i] <= r->buf + cw_reasm_extent(r))
			CHECK(memcmp(cl.c[i].p, der[i], cert_len[i]) == 0);
		else
			CHECK(!"the view lies within the bytes the server direction holds");
	}
	if (failures != before)
		fprintf(stderr, "  case: %s\n", name);
}

/*
 * ServerHello with pad bytes of extension, then the Certificate, then ServerHelloDone: the flight
 * cut into segments at the offsets in cuts[] (ascending, within the flight; CERT_END is the end
 * of the Certificate).
 */
static void
run_flight(const char *name, struct cw_session *s, uint32_t pad, const uint32_t *cuts,
	   unsigned int ncuts, int release, int bufs)
{
	static uint8_t msg[1024], flight[CAP];
	struct hb_dir c, v;
	struct cw_flow_event ev;
	uint32_t sh_len, cert_end, len, from = 0;
	int rc = CW_SESS_MORE, released = 0;

	open_conn(s, &c, &v);
	hb_feed(s, &c, CW_TCP_ACK | CW_TCP_PSH, msg,
		hb_client_hello(msg, NULL, 0, "flight.test", 11, NULL, 0));
	sh_len = hb_server_hello(flight, 0, NULL, 0, NULL, pad);
	cert_end = sh_len + certificate(flight + sh_len);
	len = cert_end + server_hello_done(flight + cert_end);
	CHECK(len <= sizeof(flight));
	for (unsigned int i = 0; i <= ncuts && rc == CW_SESS_MORE; i++) {
		uint32_t to = i == ncuts ? len : cuts[i] == CERT_END ? cert_end : cuts[i];

		rc = hb_feed(s, &v, CW_TCP_ACK, flight + from, to - from);
		from = to;
		if (rc == CW_SESS_MORE && (s->ev.flags & CW_EVF_CERT)) {
			if (release && !released) {
				cw_session_release_certs(s);
				released = 1;
			}
			/* Bytes before the certificates were dropped, or moved: the views follow. */
			if (bufs && !release && pad > 0 && i == 0)
				CHECK(s->cert_off < sh_len);
		}
	}
	CHECK_EQ(rc, CW_SESS_DONE);
	cw_session_finish(s, CW_END_DONE);
	hb_event(s, &ev);
	CHECK(ev.flags & CW_EVF_CERT);
	CHECK(!(ev.flags & CW_EVF_RESUMED));
	CHECK_EQ(ev.ncerts, NCERT);
	CHECK_EQ(s->buf_short, 0);
	/* A flight that ends in the Certificate's segment keeps its bytes to the end. */
	CHECK_EQ(released, release && ncuts > 0);
	check_certs(name, s, released);
}

static void
give_back(struct cw_session *s)
{
	uint32_t cap = 0;
	uint8_t *str = cw_session_str_buf(s, &cap);

	for (int i = 0; i < 2; i++)
		if (s->ra[i].buf != NULL)
			prov_put(NULL, s->ra[i].buf, s->ra[i].cap);
	if (str != NULL)
		prov_put(NULL, str, cap);
	CHECK_EQ(live, 0);
	CHECK_EQ(ooo_live, 0); /* in-order flights borrow no out-of-order table */
}

static void
flight_case(const char *name, uint32_t pad, const uint32_t *cuts, unsigned int ncuts)
{
	static struct cw_session fs, gs;
	struct cw_flow_event fev, gev;

	cw_session_init(&fs, fixed[0], fixed[1], CAP, &fixed_area);
	run_flight(name, &fs, pad, cuts, ncuts, 0, 0);
	hb_event(&fs, &fev);
	for (int release = 0; release < 2; release++) {
		live = grants = 0;
		cw_session_init_bufs(&gs, &ops);
		run_flight(name, &gs, pad, cuts, ncuts, release, 1);
		CHECK(grants > 0);
		hb_event(&gs, &gev);
		CHECK(memcmp(&fev, &gev, sizeof(fev)) == 0);
		give_back(&gs);
	}
}

/*
 * ClientHello with session id csid, TLS 1.2 ServerHello with ssid, and a Certificate when cert is
 * set: resumed or not.
 */
static void
resume_case(const char *name, const uint8_t *csid, uint32_t clen, const uint8_t *ssid, uint32_t slen,
	    int cert, int resumed)
{
	static struct cw_session fs, gs;
	static uint8_t msg[2048];
	struct cw_session *ss[2] = {&fs, &gs};
	struct cw_flow_event ev;
	struct hb_dir c, v;
	int before = failures;

	cw_session_init(&fs, fixed[0], fixed[1], CAP, &fixed_area);
	live = grants = 0;
	cw_session_init_bufs(&gs, &ops);
	for (int i = 0; i < 2; i++) {
		open_conn(ss[i], &c, &v);
		hb_feed(ss[i], &c, CW_TCP_ACK | CW_TCP_PSH, msg,
			hb_client_hello(msg, csid, clen, "resume.test", 11, NULL, 0));
		hb_feed(ss[i], &v, CW_TCP_ACK | CW_TCP_PSH, msg,
			hb_server_hello(msg, 0, ssid, slen, NULL, 0));
		if (cert)
			hb_feed(ss[i], &v, CW_TCP_ACK | CW_TCP_PSH, msg, certificate(msg));
		cw_session_finish(ss[i], CW_END_FIN);
		hb_event(ss[i], &ev);
		CHECK(ev.flags & CW_EVF_CH);
		CHECK(ev.flags & CW_EVF_SH);
		CHECK_EQ(ev.sh_version, 0x0303);
		CHECK_EQ(!!(ev.flags & CW_EVF_CERT), cert);
		CHECK_EQ(!!(ev.flags & CW_EVF_RESUMED), resumed);
	}
	give_back(&gs);
	if (failures != before)
		fprintf(stderr, "  case: %s\n", name);
}

/*
 * A plaintext alert record from the server between its ServerHello and its Certificate (a
 * warning such as unrecognized_name, which TLS 1.2 clients read past, or anything an on-path
 * sender inserts): the Certificate after it is still parsed. An alert after the Certificate ends
 * the flight.
 */
static void
alert_case(const char *name, uint8_t level)
{
	static struct cw_session fs, gs;
	static uint8_t msg[2048];
	struct cw_session *ss[2] = {&fs, &gs};
	struct cw_flow_event ev;
	struct hb_dir c, v;
	const uint8_t alert[] = {21, 3, 3, 0, 2, level, 112};
	int before = failures;

	cw_session_init(&fs, fixed[0], fixed[1], CAP, &fixed_area);
	live = grants = 0;
	cw_session_init_bufs(&gs, &ops);
	for (int i = 0; i < 2; i++) {
		open_conn(ss[i], &c, &v);
		hb_feed(ss[i], &c, CW_TCP_ACK | CW_TCP_PSH, msg,
			hb_client_hello(msg, NULL, 0, "alert.test", 10, NULL, 0));
		CHECK_EQ(hb_feed(ss[i], &v, CW_TCP_ACK | CW_TCP_PSH, msg,
				 hb_server_hello(msg, 0, NULL, 0, NULL, 0)),
			 CW_SESS_MORE);
		CHECK_EQ(hb_feed(ss[i], &v, CW_TCP_ACK | CW_TCP_PSH, alert, sizeof(alert)),
			 CW_SESS_MORE);
		hb_feed(ss[i], &v, CW_TCP_ACK | CW_TCP_PSH, msg, certificate(msg));
		/* After the Certificate an alert ends the flight. */
		CHECK_EQ(hb_feed(ss[i], &v, CW_TCP_ACK | CW_TCP_PSH, alert, sizeof(alert)),
			 CW_SESS_DONE);
		cw_session_finish(ss[i], CW_END_DONE);
		hb_event(ss[i], &ev);
		CHECK(ev.flags & CW_EVF_SH);
		CHECK(ev.flags & CW_EVF_CERT);
		CHECK_EQ(ev.ncerts, NCERT);
		CHECK(!(ev.flags & CW_EVF_CLIENT_ABORT));
	}
	give_back(&gs);
	if (failures != before)
		fprintf(stderr, "  case: %s\n", name);
}

/*
 * TCP Fast Open: the ClientHello rides on the client's SYN, whose own sequence number comes
 * before the data's first byte.
 */
static void
tfo_case(void)
{
	static struct cw_session fs;
	static uint8_t msg[2048];
	struct cw_flow_event ev;
	struct hb_dir c, v;
	int before = failures;

	cw_session_init(&fs, fixed[0], fixed[1], CAP, &fixed_area);
	hb_ts = 1000000000ull;
	c = (struct hb_dir){.seq = 1000, .from_client = 1};
	v = (struct hb_dir){.seq = 7000, .from_client = 0};
	hb_feed(&fs, &c, CW_TCP_SYN, msg, hb_client_hello(msg, NULL, 0, "tfo.test", 8, NULL, 0));
	hb_feed(&fs, &v, CW_TCP_SYN | CW_TCP_ACK, NULL, 0);
	hb_feed(&fs, &v, CW_TCP_ACK | CW_TCP_PSH, msg, hb_server_hello(msg, 0, NULL, 0, NULL, 0));
	hb_feed(&fs, &v, CW_TCP_ACK | CW_TCP_PSH, msg, certificate(msg));
	cw_session_finish(&fs, CW_END_FIN);
	hb_event(&fs, &ev);
	CHECK(ev.flags & CW_EVF_CH);
	CHECK(strcmp(ev.sni, "tfo.test") == 0);
	CHECK(ev.flags & CW_EVF_CERT);
	CHECK_EQ(fs.cli_side, 0);
	if (failures != before)
		fprintf(stderr, "  case: TCP Fast Open\n");
}

/*
 * A hello of type hs_type (ClientHello 1, ServerHello 2) with 100 empty extensions of types
 * 0x7000.. and the last one `last`; returns the record length.
 */
static uint32_t
many_ext_hello(uint8_t *o, uint8_t hs_type, uint16_t last)
{
	uint8_t *p = o + 9, *ext_len;

	p = hb_put16(p, 0x0303);
	memset(p, 0x33, 32);
	p += 32;
	*p++ = 0; /* no session id */
	if (hs_type == 1) {
		p = hb_put16(p, 2);
		p = hb_put16(p, 0xc02f);
		*p++ = 1;
		*p++ = 0;
	} else {
		p = hb_put16(p, 0xc02f);
		*p++ = 0;
	}
	ext_len = p;
	p += 2;
	for (uint16_t i = 0; i < 100; i++) {
		p = hb_put16(p, i == 99 ? last : 0x7000u + i);
		p = hb_put16(p, 0);
	}
	hb_put16(ext_len, (uint32_t)(p - ext_len - 2));
	return hb_wrap(o, hs_type, (uint32_t)(p - o - 9));
}

static void
many_ext_case(void)
{
	static struct cw_session s;
	static uint8_t msg[1024], smsg[1024];
	struct cw_flow_event ev[2];
	struct cw_client_hello ch;
	struct cw_server_hello sh;
	char md5[CW_MD5_HEX], ja4[64];
	int before = failures;

	for (int k = 0; k < 2; k++) {
		struct hb_dir c = {1000, 1}, v = {7000, 0};
		uint16_t last = k == 0 ? 0x7063 : 0x7163;
		uint32_t n;

		cw_session_init(&s, fixed[0], fixed[1], CAP, &fixed_area);
		hb_feed(&s, &c, CW_TCP_SYN, NULL, 0);
		hb_feed(&s, &v, CW_TCP_SYN | CW_TCP_ACK, NULL, 0);
		n = many_ext_hello(msg, 1, last);
		hb_feed(&s, &c, CW_TCP_ACK | CW_TCP_PSH, msg, n);
		CHECK(cw_tls_parse_client_hello(msg + 9, n - 9, &ch) == CW_OK);
		CHECK(ch.anomalies & CW_TLS_A_TOO_MANY_EXT);
		n = many_ext_hello(smsg, 2, last);
		hb_feed(&s, &v, CW_TCP_ACK | CW_TCP_PSH, smsg, n);
		CHECK(cw_tls_parse_server_hello(smsg + 9, n - 9, &sh) == CW_OK);
		cw_session_finish(&s, CW_END_DONE);
		hb_event(&s, &ev[k]);
		CHECK(ev[k].anomalies & CW_EVA_TOO_MANY_EXT);
		/* The session's (cached) fingerprints are the parser's over the whole list. */
		cw_ja3(&ch, NULL, 0, md5);
		CHECK(strcmp(ev[k].ja3, md5) == 0);
		cw_ja4(&ch, 't', CW_JA4, ja4, sizeof(ja4));
		CHECK(strcmp(ev[k].ja4, ja4) == 0);
		cw_ja3s(&sh, NULL, 0, md5);
		CHECK(strcmp(ev[k].ja3s, md5) == 0);
	}
	CHECK(strcmp(ev[0].ja3, ev[1].ja3) != 0);
	CHECK(strcmp(ev[0].ja4, ev[1].ja4) != 0);
	CHECK(strcmp(ev[0].ja3s, ev[1].ja3s) != 0);
	if (failures != before)
		fprintf(stderr, "  case: hellos with 100 extensions, the last one differing\n");
}

int
main(void)
{
	uint8_t sid[32], other[32];

	make_certs();
	{
		flight_case("the flight in one segment", 0, NULL, 0);
		flight_case("a 2000-byte ServerHello and the Certificate in one segment", 2000, NULL, 0);
	}
	{
		/* The Certificate completes in the first segment; ServerHelloDone comes alone. */
		const uint32_t cuts[] = {CERT_END};

		flight_case("a long ServerHello, the Certificate, then ServerHelloDone", 2000, cuts, 1);
		/* What is left after the drop moves to a buffer of its size; the old one is freed. */
		flight_case("a 4000-byte ServerHello, the Certificate, then ServerHelloDone", 4000, cuts, 1);
	}
	{
		/* The Certificate in three pieces after a long ServerHello. */
		const uint32_t cuts[] = {2100, 2500, CERT_END};

		flight_case("a long ServerHello, the Certificate in pieces", 2000, cuts, 3);
	}

	for (int i = 0; i < 32; i++)
		sid[i] = (uint8_t)(0x40 + i);
	memcpy(other, sid, sizeof(other));
	other[31] ^= 1;
	resume_case("the session id echoed", sid, 32, sid, 32, 0, 1);
	resume_case("a short session id echoed", sid, 8, sid, 8, 0, 1);
	resume_case("one byte differs", sid, 32, other, 32, 0, 0);
	resume_case("the first half echoed", sid, 32, sid, 16, 0, 0);
	resume_case("a new id for an empty one", NULL, 0, sid, 32, 0, 0);
	resume_case("no id either side", NULL, 0, NULL, 0, 0, 0);
	/* An abbreviated handshake has no Certificate: one after the echo makes it a full one. */
	resume_case("the session id echoed, then a Certificate", sid, 32, sid, 32, 1, 0);
	alert_case("a warning alert before the Certificate", 1);
	alert_case("a fatal alert before the Certificate", 2);
	tfo_case();
	many_ext_case();
	return cw_check_report("test_session_flight");
}
