/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Handshake messages built byte by byte, and one test connection to feed them to a session as
 * decoded segments: 198.18.0.1:40000 -> 198.18.0.2:443 and back (with hb_cli_high set, the
 * client is 198.18.0.2:40000 and the server 198.18.0.1:443, so the client is endpoint b of the
 * flow key). For the session unit tests.
 */
#ifndef CW_TEST_HS_BUILD_H
#define CW_TEST_HS_BUILD_H

#include <stdint.h>
#include <string.h>

#include "session.h"

static inline uint8_t *
hb_put16(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 8);
	o[1] = (uint8_t)v;
	return o + 2;
}

static inline uint8_t *
hb_put24(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 16);
	return hb_put16(o + 1, v);
}

/* Record and handshake headers around a body already written at o + 9; returns the record length. */
static inline uint32_t
hb_wrap(uint8_t *o, uint8_t hs_type, uint32_t body_len)
{
	o[0] = 0x16;
	hb_put16(o + 1, 0x0303);
	hb_put16(o + 3, body_len + 4);
	o[5] = hs_type;
	hb_put24(o + 6, body_len);
	return 9 + body_len;
}

/* A legacy session id of sid_len bytes (0 for none), then the caller's fields. */
static inline uint8_t *
hb_sid(uint8_t *p, const uint8_t *sid, uint32_t sid_len)
{
	*p++ = (uint8_t)sid_len;
	if (sid_len > 0)
		memcpy(p, sid, sid_len);
	return p + sid_len;
}

/*
 * ClientHello: legacy session id `sid`, one cipher suite, server_name with `sni` (sni_len bytes),
 * the ALPN list bytes if any.
 */
static inline uint32_t
hb_client_hello(uint8_t *o, const uint8_t *sid, uint32_t sid_len, const char *sni, uint32_t sni_len,
		const uint8_t *alpn, uint32_t alpn_len)
{
	uint8_t *p = o + 9, *ext_len;

	p = hb_put16(p, 0x0303);
	memset(p, 0x11, 32);
	p = hb_sid(p + 32, sid, sid_len);
	p = hb_put16(p, 2);
	p = hb_put16(p, 0x1301);
	*p++ = 1;
	*p++ = 0;               /* null compression */
	ext_len = p;
	p += 2;
	p = hb_put16(p, 0);     /* server_name */
	p = hb_put16(p, sni_len + 5);
	p = hb_put16(p, sni_len + 3);
	*p++ = 0;               /* host_name */
	p = hb_put16(p, sni_len);
	memcpy(p, sni, sni_len);
	p += sni_len;
	if (alpn_len > 0) {
		p = hb_put16(p, 16);
		p = hb_put16(p, alpn_len + 2);
		p = hb_put16(p, alpn_len);
		memcpy(p, alpn, alpn_len);
		p += alpn_len;
	}
	hb_put16(ext_len, (uint32_t)(p - ext_len - 2));
	return hb_wrap(o, 1, (uint32_t)(p - o - 9));
}

static const uint8_t hb_hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/*
 * ServerHello (or HelloRetryRequest) without supported_versions, so TLS 1.2: legacy session id
 * `sid`, the protocol `sel` by ALPN when it is not NULL, and an unknown extension of pad bytes
 * when pad > 0.
 */
static inline uint32_t
hb_server_hello(uint8_t *o, int hrr, const uint8_t *sid, uint32_t sid_len, const char *sel,
		uint32_t pad)
{
	uint8_t *p = o + 9, *ext_len;
	uint32_t n = sel != NULL ? (uint32_t)strlen(sel) : 0;

	p = hb_put16(p, 0x0303);
	if (hrr)
		memcpy(p, hb_hrr_random, 32);
	else
		memset(p, 0x22, 32);
	p = hb_sid(p + 32, sid, sid_len);
	p = hb_put16(p, 0x1301);
	*p++ = 0;
	ext_len = p;
	p += 2;
	if (sel != NULL) {
		p = hb_put16(p, 16);
		p = hb_put16(p, n + 3);
		p = hb_put16(p, n + 1);
		*p++ = (uint8_t)n;
		memcpy(p, sel, n);
		p += n;
	}
	if (pad > 0) {
		p = hb_put16(p, 0xfff0); /* private use (RFC 8446 4.2) */
		p = hb_put16(p, pad);
		memset(p, 0x77, pad);
		p += pad;
	}
	hb_put16(ext_len, (uint32_t)(p - ext_len - 2));
	return hb_wrap(o, 2, (uint32_t)(p - o - 9));
}

/* One direction of the test connection. */
struct hb_dir {
	uint32_t seq;
	int from_client;
};

static uint64_t hb_ts;
static int hb_cli_high;

/* A segment of the test connection, its addresses and ports set. */
static inline void
hb_pkt(struct cw_pkt *pkt, const struct hb_dir *d)
{
	const uint8_t lo[4] = {198, 18, 0, 1}, hi[4] = {198, 18, 0, 2};
	const uint8_t *cli = hb_cli_high ? hi : lo, *srv = hb_cli_high ? lo : hi;

	memset(pkt, 0, sizeof(*pkt));
	pkt->ipver = 4;
	memcpy(pkt->saddr + 12, d->from_client ? cli : srv, 4);
	memcpy(pkt->daddr + 12, d->from_client ? srv : cli, 4);
	pkt->sport = d->from_client ? 40000 : 443;
	pkt->dport = d->from_client ? 443 : 40000;
}

/* The flow key of the test connection, for cw_session_event(). */
static inline void
hb_key(struct cw_flow_key *k)
{
	const struct hb_dir d = {0, 1};
	struct cw_pkt pkt;

	hb_pkt(&pkt, &d);
	cw_flow_key_make(k, &pkt);
}

/* The session's event, with the test connection's key. */
static inline void
hb_event(const struct cw_session *s, struct cw_flow_event *ev)
{
	struct cw_flow_key k;

	hb_key(&k);
	cw_session_event(s, &k, ev);
}

/* Feed one segment; returns the session's CW_SESS_* code. */
static inline int
hb_feed(struct cw_session *s, struct hb_dir *d, uint8_t tcp_flags, const uint8_t *payload,
	uint32_t len)
{
	struct cw_pkt pkt;

	hb_pkt(&pkt, d);
	pkt.ttl = d->from_client ? 64 : 57;
	pkt.tcp_flags = tcp_flags;
	pkt.seq = d->seq;
	pkt.payload = payload;
	pkt.payload_len = len;
	d->seq += len + ((tcp_flags & CW_TCP_SYN) ? 1 : 0);
	return cw_session_packet(s, &pkt, hb_ts += 1000);
}

#endif
