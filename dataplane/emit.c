/* SPDX-License-Identifier: BSD-3-Clause */
/* Flow end: finish the session, deduplicate its chain and publish the event (and blob) to the ring. */
#include <string.h>

#include "emit.h"

_Static_assert(CW_TLS_MAX_CERTS <= CW_EV_CHAIN_MAX, "a blob carries every kept certificate");

static inline int
hello_seen(uint32_t flags)
{
	return (flags & (CW_EVF_CH | CW_EVF_SH | CW_EVF_SSLV2)) != 0;
}

static inline int
id_is_zero(const uint8_t id[CW_ID_LEN])
{
	static const uint8_t zero[CW_ID_LEN];

	return memcmp(id, zero, CW_ID_LEN) == 0;
}

/* Header plus DER of the chain, leaf first, into w->blob. Returns total bytes, 0 if it does not fit. */
static uint32_t
blob_build(struct dp_worker *w, const struct cw_session *s)
{
	struct cw_chain_blob *b = (struct cw_chain_blob *)w->blob;
	struct cw_cert_list cl;
	uint32_t off = sizeof(*b);
	uint32_t i;

	memset(b, 0, sizeof(*b));
	cw_session_certs(s, &cl);
	for (i = 0; i < cl.n; i++) {
		if (cl.c[i].len > w->blob_cap - off)
			return 0;
		memcpy(w->blob + off, cl.c[i].p, cl.c[i].len);
		b->len[i] = cl.c[i].len;
		off += cl.c[i].len;
	}
	b->ncerts = (uint16_t)cl.n;
	b->total_len = off;
	memcpy(b->chain_id, s->ev.chain_id, CW_ID_LEN);
	return off;
}

static void
publish(struct dp_worker *w, struct cw_flow_event *ev, const struct cw_session *s)
{
	uint64_t *c = w->st->c;
	const struct cw_chain_blob *blob = NULL;
	uint32_t len = 0;
	int res = DP_CHAIN_KNOWN, hit, rc;

	ev->worker = (uint8_t)w->id;
	ev->flags &= ~(uint32_t)(CW_EVF_CHAIN_NEW | CW_EVF_BLOB_DROPPED);
	if (s != NULL && s->ncert > 0 && !id_is_zero(ev->chain_id)) {
		res = dp_chain_seen(w->chains, w->cc, ev->chain_id, &hit);
		if (res == DP_CHAIN_KNOWN) {
			c[DP_C_CHAINS_KNOWN]++;
			c[DP_C_CHAIN_CACHE_HIT] += (uint64_t)hit;
		} else {
			c[DP_C_CHAINS_NEW]++;
			if (res == DP_CHAIN_FULL)
				c[DP_C_CHAIN_TABLE_FULL]++;
			if (s->certs_released) {
				/* Released as known, new again now: another worker's blob failed meanwhile. */
				ev->flags |= CW_EVF_BLOB_DROPPED;
				c[DP_C_BLOB_RELEASED]++;
				if (res == DP_CHAIN_NEW)
					dp_chain_unsent(w->chains, w->cc, ev->chain_id);
			} else if ((len = blob_build(w, s)) != 0) {
				blob = (const struct cw_chain_blob *)w->blob;
				ev->flags |= CW_EVF_CHAIN_NEW;
			} else {
				/* Cannot happen with blob_cap >= reassembly cap; counted, never repeated. */
				ev->flags |= CW_EVF_BLOB_DROPPED;
				c[DP_C_BLOB_DROP]++;
			}
		}
	}
	/* A capture can wait for its consumer (--events-wait); a signal still ends the wait. */
	if (w->events_wait && !cw_evring_room(w->ev, len)) {
		unsigned int spins = 0;

		c[DP_C_EV_WAIT]++;
		while (!cw_evring_room(w->ev, len) && !dp_quit)
			dp_wait_step(&spins);
	}
	rc = cw_evring_publish(w->ev, ev, blob, len);
	if (rc == -ENOBUFS) {
		c[DP_C_EV_DROP]++;
		if (blob != NULL && res == DP_CHAIN_NEW)
			dp_chain_unsent(w->chains, w->cc, ev->chain_id);
		return;
	}
	c[DP_C_EV_OUT]++;
	if (blob == NULL)
		return;
	if (rc == CW_EVRING_BLOB_DROPPED) {
		c[DP_C_BLOB_DROP]++;
		if (res == DP_CHAIN_NEW)
			dp_chain_unsent(w->chains, w->cc, ev->chain_id);
	} else {
		c[DP_C_BLOB_OUT]++;
	}
}

/*
 * The key rte_hash keeps at a flow entry's position, for flows ended with no segment in hand (a
 * timer, an eviction, shutdown): rte_hash_get_key_with_position() looks the key up again to
 * check it (~430 instructions), so a caller that has the key passes it instead. Every entry
 * passed here is in the table. The session keeps no addresses.
 */
static const struct cw_flow_key *
table_key_of(const struct dp_worker *w, const struct dp_flow *f)
{
	static const struct cw_flow_key none;
	void *kp;

	if (rte_hash_get_key_with_position(w->ft.h, (int32_t)(f - w->ft.f), &kp) != 0) {
		RTE_ASSERT(0);
		return &none;
	}
	return &((const struct dp_flow_key *)kp)->k;
}

void
dp_flow_end(struct dp_worker *w, struct dp_flow *f, const struct cw_flow_key *key,
	    enum cw_end_reason why)
{
	struct dp_sess *ds = f->sess;
	struct cw_session *s;
	uint64_t *c = w->st->c;

	if (ds == NULL) {
		/* Ended before any payload: no hello, no event. */
		c[DP_C_NON_TLS]++;
		f->actions = 0;
		return;
	}
	s = &ds->s;
	cw_session_finish(s, why);
	if (s->buf_short)
		c[DP_C_BUF_SHORT]++;
	if (hello_seen(s->ev.flags)) {
		struct cw_flow_event ev;

		if (f->actions & DP_ACT_PROBE)
			c[DP_C_TLS_FLOWS]++;
		if (s->ev.end_reason < CW_END__MAX)
			c[DP_C_END + s->ev.end_reason]++;
		if (s->ev.end_reason == CW_END_DONE)
			c[DP_C_HS_DONE]++;
		cw_session_event(s, key != NULL ? key : table_key_of(w, f), &ev);
		publish(w, &ev, s);
	} else {
		c[DP_C_NON_TLS]++;
	}
	dp_sess_put(&w->pool, ds);
	f->sess = NULL;
	f->actions = 0;
}

void
dp_emit_no_buffer(struct dp_worker *w, const struct cw_pkt *pkt, uint64_t ts_ns)
{
	struct cw_flow_event ev;
	/* Best guess of roles: a bare SYN comes from the client, else the lower port is the server. */
	int src_is_cli = (pkt->tcp_flags & (CW_TCP_SYN | CW_TCP_ACK)) == CW_TCP_SYN ||
			 (!(pkt->tcp_flags & CW_TCP_SYN) && pkt->dport < pkt->sport);

	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = ts_ns;
	ev.ts_last_ns = ts_ns;
	ev.ipver = pkt->ipver;
	memcpy(ev.cli_addr, src_is_cli ? pkt->saddr : pkt->daddr, 16);
	memcpy(ev.srv_addr, src_is_cli ? pkt->daddr : pkt->saddr, 16);
	ev.cli_port = src_is_cli ? pkt->sport : pkt->dport;
	ev.srv_port = src_is_cli ? pkt->dport : pkt->sport;
	if (src_is_cli)
		ev.cli_ttl = pkt->ttl;
	else
		ev.srv_ttl = pkt->ttl;
	if (!(pkt->tcp_flags & CW_TCP_SYN))
		ev.flags |= CW_EVF_MIDSTREAM;
	ev.end_reason = CW_END_NO_BUFFER;
	w->st->c[DP_C_END + CW_END_NO_BUFFER]++;
	publish(w, &ev, NULL);
}
