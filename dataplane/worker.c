/* SPDX-License-Identifier: BSD-3-Clause */
/* Worker lcore state, the per-packet handshake driver and the RX/dispatch/worker loops. */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include "emit.h"
#include "telemetry.h"
#include "worker.h"

struct dp_stats dp_lcore_stats[RTE_MAX_LCORE];
volatile int dp_quit;
volatile int dp_stop;
struct dp_run dp_run;

/* ---- clocks ---- */

static inline uint64_t
tsc_to_ns(uint64_t tsc)
{
	__extension__ unsigned __int128 d = (unsigned __int128)(tsc - dp_run.tsc0) * dp_run.mult;

	return dp_run.ns0 + (uint64_t)(d >> 32);
}

static void
capture_stamp(struct dp_worker *w, struct rte_mbuf *const *pkts, uint16_t n, uint64_t *ts)
{
	uint64_t now = w->now_ns, ns;
	uint16_t i;

	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];

		if (m->ol_flags & dp_run.ts_flag)
			ns = *RTE_MBUF_DYNFIELD(m, dp_run.ts_off, const rte_mbuf_timestamp_t *) * 1000ull;
		else
			ns = tsc_to_ns(rte_rdtsc()); /* replayed frames (infinite_rx) carry no timestamp */
		if (ns > now)
			now = ns;
		ts[i] = ns;
	}
	w->now_ns = now;
}

static void
capture_tick(struct dp_worker *w, uint64_t tsc)
{
	RTE_SET_USED(w); /* capture time only moves with packets */
	RTE_SET_USED(tsc);
}

static void
tsc_stamp(struct dp_worker *w, struct rte_mbuf *const *pkts, uint16_t n, uint64_t *ts)
{
	uint64_t now = w->now_ns;
	uint16_t i;

	RTE_SET_USED(pkts);
	for (i = 0; i < n; i++)
		ts[i] = now;
}

static void
tsc_tick(struct dp_worker *w, uint64_t tsc)
{
	w->now_ns = tsc_to_ns(tsc);
}

const struct dp_clock_ops dp_clock_capture = {
	.name = "capture",
	.stamp = capture_stamp,
	.tick = capture_tick,
};

const struct dp_clock_ops dp_clock_tsc = {
	.name = "tsc",
	.stamp = tsc_stamp,
	.tick = tsc_tick,
};

const char *const dp_certref_names[DP_CERTREF_COUNTERS] = {
	"certref_found", "certref_matched", "certref_differed",
	"certref_stored", "certref_busy", "certref_too_long",
};

void
dp_certref_counts(const struct cw_certref *r, uint64_t v[DP_CERTREF_COUNTERS])
{
	v[0] = r->found;
	v[1] = r->matched;
	v[2] = r->differed;
	v[3] = r->stored;
	v[4] = r->busy;
	v[5] = r->too_long;
}

/* ---- setup ---- */

int
dp_worker_init(struct dp_worker *w, uint32_t id, const struct dp_conf *conf, int socket,
	       struct dp_chaintab *chains, struct cw_evring *ev)
{
	char name[RTE_HASH_NAMESIZE];
	uint32_t cap = conf->reasm_kib * 1024u;
	int rc;

	w->id = id;
	w->chains = chains;
	w->ev = ev;
	snprintf(name, sizeof(name), "dp_flows_%u", id);
	rc = dp_flow_table_init(&w->ft, name, conf->flows, socket, conf->idle_s, conf->hs_s);
	if (rc < 0)
		return rc;
	rc = dp_sess_pool_init(&w->pool, conf->sessions, cap, dp_conf_reasm_big(conf), socket);
	if (rc < 0)
		goto err_ft;
	w->cc = rte_zmalloc_socket("dp_chain_cache", sizeof(*w->cc), RTE_CACHE_LINE_SIZE, socket);
	if (w->cc == NULL) {
		rc = -ENOMEM;
		goto err_pool;
	}
	w->scratch = rte_malloc_socket("dp_scratch", DP_SCRATCH_BYTES, RTE_CACHE_LINE_SIZE, socket);
	if (w->scratch == NULL) {
		rc = -ENOMEM;
		goto err_cc;
	}
	w->blob_cap = (uint32_t)sizeof(struct cw_chain_blob) + cap;
	w->blob = rte_malloc_socket("dp_blob", w->blob_cap, RTE_CACHE_LINE_SIZE, socket);
	if (w->blob == NULL) {
		rc = -ENOMEM;
		goto err_scratch;
	}
	if (conf->cert_refs > 0) {
		w->refs_mem = rte_malloc_socket("dp_certref", cw_certref_bytes(conf->cert_refs),
						RTE_CACHE_LINE_SIZE, socket);
		if (w->refs_mem == NULL) {
			rc = -ENOMEM;
			goto err_blob;
		}
		rc = cw_certref_init(&w->refs, w->refs_mem, conf->cert_refs);
		if (rc < 0)
			goto err_refs;
		w->pool.ops.refs = &w->refs;
	}
	return 0;

err_refs:
	rte_free(w->refs_mem);
err_blob:
	rte_free(w->blob);
err_scratch:
	rte_free(w->scratch);
err_cc:
	rte_free(w->cc);
err_pool:
	dp_sess_pool_free(&w->pool);
err_ft:
	dp_flow_table_free(&w->ft);
	return rc;
}

void
dp_worker_free(struct dp_worker *w)
{
	rte_free(w->refs_mem);
	rte_free(w->blob);
	rte_free(w->scratch);
	rte_free(w->cc);
	dp_sess_pool_free(&w->pool);
	dp_flow_table_free(&w->ft);
}

/* ---- flow table operations that end flows ---- */

static void
flow_remove(struct dp_worker *w, uint32_t pos)
{
	struct dp_flow_table *ft = &w->ft;
	struct dp_flow_key key;
	void *kp;

	dp_done_drop(ft, &ft->f[pos]);
	if (rte_hash_get_key_with_position(ft->h, (int32_t)pos, &kp) == 0) {
		memcpy(&key, kp, sizeof(key));
		rte_hash_del_key(ft->h, &key);
	}
	memset(&ft->f[pos], 0, sizeof(ft->f[pos]));
	ft->used--;
	ft->removed++;
}

/* Look at the next DP_EXPIRE_BATCH positions and end flows past a timeout. */
static void
flow_expire(struct dp_worker *w)
{
	struct dp_flow_table *ft = &w->ft;
	uint64_t now = w->now_ns;
	uint64_t *c = w->st->c;
	unsigned int k;

	for (k = 0; k < DP_EXPIRE_BATCH; k++) {
		uint32_t pos = ft->hand;
		struct dp_flow *f = &ft->f[pos];

		ft->hand = pos + 1 == ft->n ? 0 : pos + 1;
		if (!f->used)
			continue;
		/* A finished flow's last_ns may lag its last packet by up to refresh_ns (flow.h). */
		if (now > f->last_ns &&
		    now - f->last_ns >= ft->idle_ns + (f->dtag != 0 ? ft->refresh_ns : 0)) {
			if (f->actions != 0) {
				dp_flow_end(w, f, NULL, CW_END_IDLE);
				c[DP_C_EXPIRE_IDLE]++;
			} else {
				c[DP_C_EXPIRE_DONE]++;
			}
			flow_remove(w, pos);
		} else if (f->actions != 0 && now > f->first_ns && now - f->first_ns >= ft->hs_ns) {
			dp_flow_end(w, f, NULL, CW_END_HS_TIMEOUT);
			c[DP_C_EXPIRE_HS]++;
			flow_remove(w, pos);
		}
	}
}

/*
 * Is an unknown segment worth a flow entry? A SYN opens a flow; otherwise only
 * a payload that starts like TLS (a mid-stream pickup of a handshake). Bare
 * ACKs and bulk data of flows we never saw open cost one lookup and no state,
 * so an ACK flood or the data phase of old connections cannot fill the table.
 */
static inline int
flow_worth_tracking(const struct cw_pkt *pkt)
{
	if (pkt->tcp_flags & CW_TCP_SYN)
		return 1;
	return pkt->payload_len > 0 && cw_tls_probe(pkt->payload, pkt->payload_len) != 0;
}

/*
 * Add the flow of a segment that missed the lookup and is worth tracking
 * (evicting one when the table is full). NULL: dropped, counted.
 */
static struct dp_flow *
flow_add(struct dp_worker *w, const struct dp_flow_key *key, hash_sig_t sig)
{
	struct dp_flow_table *ft = &w->ft;
	int32_t pos;

	if (ft->used >= ft->n) {
		unsigned int reason;
		int32_t v = dp_flow_victim(ft, w->now_ns, &reason);

		if (v < 0) {
			w->st->c[DP_C_EVICT_FAIL]++;
			return NULL;
		}
		if (ft->f[v].actions != 0)
			dp_flow_end(w, &ft->f[v], NULL, CW_END_EVICTED);
		flow_remove(w, (uint32_t)v);
		w->st->c[reason]++;
	}
	pos = rte_hash_add_key_with_hash(ft->h, key, sig);
	if (pos < 0 || (uint32_t)pos >= ft->n) {
		if (pos >= 0)
			rte_hash_del_key_with_hash(ft->h, key, sig);
		w->st->c[DP_C_EVICT_FAIL]++;
		return NULL;
	}
	ft->used++;
	ft->added++;
	ft->f[pos].dtag = 0;
	return &ft->f[pos];
}

/*
 * Find the flow of a segment (sig: its key's hash, from the burst decode), adding it when worth
 * it. *is_new tells an added entry. NULL: dropped or untracked, counted. The slow path of a
 * burst: for segments that missed the bulk lookup (an earlier segment of the same burst may
 * have added their flow since) and for the rest of a burst once an entry was removed.
 */
static struct dp_flow *
flow_get(struct dp_worker *w, const struct cw_pkt *pkt, const struct dp_flow_key *key,
	 hash_sig_t sig, int *is_new)
{
	struct dp_flow_table *ft = &w->ft;
	int32_t pos = rte_hash_lookup_with_hash(ft->h, key, sig);

	if (pos >= 0) {
		*is_new = 0;
		return &ft->f[pos];
	}
	if (!flow_worth_tracking(pkt)) {
		w->st->c[DP_C_UNTRACKED]++;
		return NULL;
	}
	*is_new = 1;
	return flow_add(w, key, sig);
}

/*
 * Remember a SYN or SYN-ACK of a flow that has no session yet, taken or not
 * by the rules the session applies (on_syn() in session.c): a SYN-ACK must
 * acknowledge the peer's SYN when that was seen; a side's SYN-ACK is taken
 * once; a bare SYN with another sequence number replaces the first only
 * while no answer was taken. One not taken is noted (CW_EVA_BAD_SYN).
 */
static inline void
flow_note_syn(struct dp_flow *f, const struct cw_pkt *pkt)
{
	unsigned int side, peer;
	int synack;

	if (!(pkt->tcp_flags & CW_TCP_SYN))
		return;
	side = cw_pkt_side(pkt);
	peer = !side;
	synack = (pkt->tcp_flags & CW_TCP_ACK) != 0;
	if ((synack && (f->syn & DP_SYN_SEEN(peer)) && pkt->ack != f->isn[peer] + 1) ||
	    ((f->syn & DP_SYN_SEEN(side)) && pkt->seq != f->isn[side] &&
	     (synack || (f->syn & (DP_SYN_ACK(side) | DP_SYN_SEEN(peer)))))) {
		f->notes |= DP_NOTE_BAD_SYN;
		return;
	}
	f->syn |= (uint8_t)DP_SYN_SEEN(side);
	if (synack)
		f->syn |= (uint8_t)DP_SYN_ACK(side);
	f->isn[side] = pkt->seq;
}

/*
 * A FIN or RST of a flow that has no session yet: 1 when its receiver would
 * take it, as the session judges one (cw_session_packet()). A segment with
 * none of ACK, RST and SYN is dropped by every receiver; a sender whose SYN
 * was seen has sent nothing since, so its FIN or RST must carry the sequence
 * number after the SYN's (RFC 9293 3.10.7.4, RFC 5961 3.2: anything else at
 * most draws a challenge ACK). Without that SYN there is nothing to check.
 */
static inline int
flow_end_plausible(struct dp_flow *f, const struct cw_pkt *pkt)
{
	unsigned int side = cw_pkt_side(pkt);

	if (!(pkt->tcp_flags & (CW_TCP_ACK | CW_TCP_RST | CW_TCP_SYN))) {
		f->notes |= DP_NOTE_NO_ACK;
		return 0;
	}
	if ((f->syn & DP_SYN_SEEN(side)) && pkt->seq != f->isn[side] + 1) {
		f->notes |= DP_NOTE_BAD_RST;
		return 0;
	}
	return 1;
}

/* What the flow saw before its session: onto the session's event. */
static void
flow_give_notes(struct dp_flow *f)
{
	struct cw_session *s = &f->sess->s;

	if (f->notes & DP_NOTE_BAD_RST)
		cw_session_note(s, CW_EVA_BAD_RST);
	if (f->notes & DP_NOTE_NO_ACK)
		cw_session_note(s, CW_EVA_NO_ACK);
	if (f->notes & DP_NOTE_IP_FRAG)
		cw_session_note(s, CW_EVA_IP_FRAG);
	if (f->notes & DP_NOTE_BAD_SYN)
		cw_session_note(s, CW_EVA_BAD_SYN);
}

/*
 * A session was just taken for the first payload: tell it about the SYNs
 * seen before (bare SYN first), as zero-length segments at the flow's first
 * packet time, so roles and stream bases are what they would have been.
 */
static void
flow_replay_syn(struct dp_flow *f, const struct cw_pkt *pkt)
{
	unsigned int here = cw_pkt_side(pkt), order[2], k;

	if (f->syn == 0)
		return;
	order[0] = (f->syn & DP_SYN_ACK(0)) ? 1 : 0;
	order[1] = !order[0];
	for (k = 0; k < 2; k++) {
		unsigned int side = order[k];
		int same = side == here;
		struct cw_pkt syn;

		if (!(f->syn & DP_SYN_SEEN(side)))
			continue;
		memset(&syn, 0, sizeof(syn));
		memcpy(syn.saddr, same ? pkt->saddr : pkt->daddr, 16);
		memcpy(syn.daddr, same ? pkt->daddr : pkt->saddr, 16);
		syn.sport = same ? pkt->sport : pkt->dport;
		syn.dport = same ? pkt->dport : pkt->sport;
		syn.ipver = pkt->ipver;
		syn.seq = f->isn[side];
		syn.tcp_flags = (uint8_t)(CW_TCP_SYN | ((f->syn & DP_SYN_ACK(side)) ? CW_TCP_ACK : 0));
		if ((f->syn & DP_SYN_ACK(side)) && (f->syn & DP_SYN_SEEN(!side)))
			syn.ack = f->isn[!side] + 1; /* flow_note_syn() took it for that */
		cw_session_packet(&f->sess->s, &syn, f->first_ns);
	}
}

/*
 * One decoded TCP segment of flow f (is_new: its entry was just added; key:
 * its flow key) through its session. f is not a finished flow's entry hit by
 * a non-SYN: the burst loop counts those itself.
 */
static void
flow_packet(struct dp_worker *w, struct dp_flow *f, int is_new, const struct cw_pkt *pkt,
	    const struct dp_flow_key *key, uint64_t ts)
{
	uint64_t *c = w->st->c;
	struct cw_session *s;
	int rc;

	/* A finished flow whose 5-tuple is reused by a new connection (bare SYN) starts over. */
	if (!is_new && f->actions == 0 && (pkt->tcp_flags & (CW_TCP_SYN | CW_TCP_ACK)) == CW_TCP_SYN)
		is_new = 1;
	if (is_new) {
		c[DP_C_FLOWS_NEW]++;
		if (f->sess != NULL) /* a reused 5-tuple whose entry still held a session */
			dp_flow_end(w, f, &key->k, CW_END_EVICTED);
		f->used = 1;
		f->first_ns = ts;
		f->last_ns = ts;
		f->progress_ns = 0;
		f->sess = NULL;
		f->syn = 0;
		f->notes = 0;
		f->actions = DP_ACT_ALL;
	} else {
		if (ts > f->last_ns)
			f->last_ns = ts;
		if (f->actions == 0) {
			c[DP_C_DONE_PKTS]++;
			return;
		}
	}
	/*
	 * A segment its receiver would drop (wrong checksum) must not reach the
	 * session: an on-path sender could otherwise show the monitor bytes
	 * (a genuine certificate chain, an in-window RST) that the endpoint never
	 * takes. Only followed flows pay for the check, never finished ones, and
	 * none when the NIC gave its verdict (burst_decode()).
	 */
	if (w->checksums && !(pkt->flags & CW_PKT_F_CSUM_GOOD) &&
	    ((pkt->flags & CW_PKT_F_CSUM_BAD) || !cw_pkt_csum_ok(pkt))) {
		c[DP_C_CSUM_BAD]++;
		if (f->sess != NULL)
			cw_session_note(&f->sess->s, CW_EVA_BAD_CSUM);
		return;
	}
	if (f->sess == NULL) {
		struct dp_sess *ds;

		if (pkt->payload_len == 0) {
			flow_note_syn(f, pkt);
			if ((pkt->tcp_flags & (CW_TCP_FIN | CW_TCP_RST)) && flow_end_plausible(f, pkt))
				dp_flow_end(w, f, &key->k, CW_END_FIN);
			return;
		}
		ds = dp_sess_get(&w->pool);
		if (ds == NULL) {
			c[DP_C_NO_SESSION]++;
			f->actions = 0;
			dp_emit_no_buffer(w, pkt, ts);
			return;
		}
		f->sess = ds;
		flow_replay_syn(f, pkt);
		if (f->notes != 0)
			flow_give_notes(f);
	}
	s = &f->sess->s;
	rc = cw_session_packet(s, pkt, ts);
	if (s->ev.ts_last_ns != f->progress_ns)
		f->progress_ns = s->ev.ts_last_ns;
	if ((f->actions & DP_ACT_PROBE) && (s->ev.flags & (CW_EVF_CH | CW_EVF_SH | CW_EVF_SSLV2))) {
		f->actions &= (uint8_t)~DP_ACT_PROBE;
		c[DP_C_TLS_FLOWS]++;
	}
	if (rc == CW_SESS_MORE) {
		/*
		 * Certificates just parsed: if their chain was sent before, the
		 * bytes will not be needed for a blob, so they are released now
		 * instead of holding the server's buffer to the end of the handshake.
		 */
		if ((s->ev.flags & CW_EVF_CERT) && !f->sess->chain_checked) {
			int hit;

			f->sess->chain_checked = 1;
			if (s->ncert > 0 && dp_chain_known(w->chains, w->cc, s->ev.chain_id, &hit))
				cw_session_release_certs(s);
		}
		return;
	}
	dp_flow_end(w, f, &key->k, rc == CW_SESS_DONE ? CW_END_DONE : cw_session_abandon_reason(s));
}

/*
 * The NIC's verdict on a segment's checksums from the mbuf's RX flags
 * (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM and _TCP_CKSUM, requested in port.c where
 * the port has them): CW_PKT_F_CSUM_GOOD, CW_PKT_F_CSUM_BAD, or 0 when it
 * gave none (vdevs, AF_XDP) and software checks. "NONE" means the data was
 * verified though the field was not: as good.
 */
static inline uint32_t
nic_csum(uint64_t ol, int ipver)
{
	uint64_t ip = ol & RTE_MBUF_F_RX_IP_CKSUM_MASK, l4 = ol & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return CW_PKT_F_CSUM_BAD;
	if ((ipver == 6 || ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD || ip == RTE_MBUF_F_RX_IP_CKSUM_NONE) &&
	    (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD || l4 == RTE_MBUF_F_RX_L4_CKSUM_NONE))
		return CW_PKT_F_CSUM_GOOD;
	return 0;
}

/*
 * A first IP fragment of a TCP segment (the rest is not reassembled): the
 * flow it names, if followed, is flagged CW_EVA_IP_FRAG, its view lacking
 * those bytes. burst_decode() keeps it in the burst, so that it is looked at
 * in order with the segments around it; rare, a lookup of its own.
 */
static __rte_noinline void
frag_note(struct dp_worker *w, const struct dp_flow_key *key, hash_sig_t sig)
{
	int32_t pos = rte_hash_lookup_with_hash(w->ft.h, key, sig);

	struct dp_flow *f;

	if (pos < 0)
		return;
	f = &w->ft.f[pos];
	if (f->sess != NULL)
		cw_session_note(&f->sess->s, CW_EVA_IP_FRAG);
	else if (f->actions != 0)
		f->notes |= DP_NOTE_IP_FRAG; /* the session, if one comes, says so */
}

/* Frame bytes of m: in place, or copied to scratch when segmented. NULL: too long, counted. */
static inline const uint8_t *
frame_of(struct rte_mbuf *m, uint8_t *scratch, uint64_t *c)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);

	if (likely(m->nb_segs == 1))
		return rte_pktmbuf_mtod(m, const uint8_t *);
	if (len > DP_SCRATCH_BYTES) {
		c[DP_C_TOO_LONG]++;
		return NULL;
	}
	c[DP_C_LINEARIZED]++;
	return rte_pktmbuf_read(m, 0, len, scratch);
}

/*
 * Per-burst scratch of dp_worker_burst(), on the worker's stack: the decoded
 * TCP segments, their canonical keys and the positions of one bulk lookup.
 */
struct dp_burst {
	struct cw_pkt pkt[DP_BURST];
	struct dp_flow_key key[DP_BURST];
	const void *kp[DP_BURST];
	hash_sig_t sig[DP_BURST];
	uint64_t tag[DP_BURST];   /* finished-flow cache tag and bucket (dp_flow_tag) */
	uint32_t bkt[DP_BURST];
	int32_t pos[DP_BURST];    /* looked up: position or DP_POS_MISS; else DP_POS_CACHED */
	uint64_t ts[DP_BURST];
};

#define DP_POS_MISS (-1)   /* not in the table */
#define DP_POS_CACHED (-2) /* not looked up: a finished flow's packet by the cache */

/*
 * Decode pkts[*i..n) into b, from *i on; returns the number of TCP segments
 * (b->pkt[0..k), with first fragments of TCP: CW_PKT_F_FRAG_TCP) and
 * advances *i. Stops after a TCP segment of a multi-segment frame: it was linearised into the worker's scratch, which
 * the next such frame would overwrite, so it must be followed first.
 */
static inline uint32_t
burst_decode(struct dp_worker *w, struct rte_mbuf **pkts, uint16_t n, uint16_t *pi,
	     struct dp_burst *b, const uint64_t *stamp)
{
	uint64_t *c = w->st->c;
	const enum cw_linktype lt = (enum cw_linktype)w->linktype;
	uint32_t k = 0, nfrag = 0;
	uint16_t i;

	for (i = *pi; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		const uint8_t *frame;
		unsigned int res;

		if (i + DP_PREFETCH_OFFSET < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PREFETCH_OFFSET], void *));
		frame = frame_of(m, w->scratch, c);
		if (frame == NULL)
			continue;
		res = (unsigned int)cw_decode(lt, frame, rte_pktmbuf_pkt_len(m), &b->pkt[k]);
		if (res != CW_DEC_TCP) {
			c[DP_C_DEC + (res < CW_DEC__MAX ? res : CW_DEC_BAD_L3)]++;
			if (likely(res != CW_DEC_FRAGMENT || !(b->pkt[k].flags & CW_PKT_F_FRAG_TCP)))
				continue;
			nfrag++; /* a first fragment of TCP: followed for frag_note() */
		}
		if (m->ol_flags & (RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK))
			b->pkt[k].flags |= nic_csum(m->ol_flags, b->pkt[k].ipver);
		dp_flow_key_make(&b->key[k], &b->pkt[k]);
		b->kp[k] = &b->key[k];
		b->tag[k] = dp_flow_tag(&w->ft, &b->key[k], &b->bkt[k], &b->sig[k]);
		b->ts[k] = stamp[i];
		k++;
		if (m->nb_segs != 1) {
			i++;
			break;
		}
	}
	*pi = i;
	c[DP_C_DEC + CW_DEC_TCP] += k - nfrag;
	return k;
}

static inline int
bare_syn(const struct cw_pkt *pkt)
{
	return (pkt->tcp_flags & (CW_TCP_SYN | CW_TCP_ACK)) == CW_TCP_SYN;
}

/*
 * Follow the k decoded segments of b in order: the finished-flow cache for all (its bucket
 * lines prefetched together, then read), one bulk lookup for the rest, prefetch of the entries
 * that will be read, then each segment. Returns the packets of finished flows (counted by the
 * caller once per burst).
 */
static inline uint32_t
burst_follow(struct dp_worker *w, struct dp_burst *b, uint32_t k)
{
	struct dp_flow_table *ft = &w->ft;
	uint32_t i, j, m = 0, removed, added, done = 0, cached = 0, untracked = 0;
	const void *kp[DP_BURST];
	hash_sig_t sig[DP_BURST];
	int32_t pos[DP_BURST];
	uint8_t at[DP_BURST];
	int restarted = 0;

	/*
	 * Prefetching each bucket while decoding stalls the decode once the core's line-fill
	 * buffers are busy; issued together here they overlap each other and nothing else.
	 */
	for (j = 0; j < k; j++)
		dp_done_prefetch(ft, b->bkt[j]);
	for (j = 0; j < k; j++) {
		if (dp_done_fresh(ft, b->bkt[j], b->tag[j], b->ts[j]) && !bare_syn(&b->pkt[j])) {
			b->pos[j] = DP_POS_CACHED;
			continue;
		}
		kp[m] = b->kp[j];
		sig[m] = b->sig[j];
		at[m++] = (uint8_t)j;
	}
	if (m > 0)
		rte_hash_lookup_with_hash_bulk(ft->h, kp, sig, m, pos);
	for (i = 0; i < m; i++) {
		const struct cw_pkt *pkt;
		uint32_t o, end;

		j = at[i];
		if (pos[i] < 0) {
			b->pos[j] = DP_POS_MISS;
			continue;
		}
		b->pos[j] = pos[i];
		pkt = &b->pkt[j];
		end = RTE_MIN((uint32_t)pkt->payload_len, DP_PREFETCH_PAYLOAD);
		rte_prefetch0(&ft->f[pos[i]]);
		/*
		 * The session copies a flow's payload into its reassembly buffer: fetching every
		 * segment's lines now overlaps their misses (a NIC's frames are in the LLC at best)
		 * instead of one frame's at a time in the copy.
		 */
		for (o = 0; o < end; o += RTE_CACHE_LINE_SIZE)
			rte_prefetch0(pkt->payload + o);
	}
	/*
	 * Positions stay valid until an entry is removed (an eviction while
	 * adding a flow): from then on the rest of the burst looks up again.
	 * A miss stays a miss until an entry is added: until then it needs no
	 * second lookup (an ACK flood of unknown flows costs one lookup each).
	 */
	removed = ft->removed;
	added = ft->added;
	for (j = 0; j < k; j++) {
		const struct cw_pkt *pkt = &b->pkt[j];
		struct dp_flow *f;
		int is_new = 0;

		if (unlikely(pkt->flags & CW_PKT_F_FRAG_TCP)) {
			frag_note(w, &b->key[j], b->sig[j]);
			continue;
		}
		/*
		 * A finished flow: one cache line, unless a bare SYN starts a new connection. The
		 * cache was read before this burst restarted or removed a flow: after that, only
		 * the table tells.
		 */
		if (b->pos[j] == DP_POS_CACHED && !restarted && ft->removed == removed) {
			cached++;
			continue;
		}
		if (b->pos[j] == DP_POS_MISS && ft->added == added) {
			if (!flow_worth_tracking(pkt)) {
				untracked++;
				continue;
			}
			f = flow_add(w, &b->key[j], b->sig[j]);
			if (f == NULL)
				continue;
			is_new = 1;
		} else if (b->pos[j] >= 0 && ft->removed == removed) {
			f = &ft->f[b->pos[j]];
			if (f->actions == 0 && !bare_syn(pkt)) {
				if (b->ts[j] > f->last_ns)
					f->last_ns = b->ts[j];
				done++;
				/* From now on its packets need only the cache, for refresh_ns. */
				dp_done_put(ft, f, b->bkt[j], b->tag[j], f->last_ns,
					    &w->st->c[DP_C_DONE_REPLACED]);
				continue;
			}
		} else {
			f = flow_get(w, pkt, &b->key[j], b->sig[j], &is_new);
			if (f == NULL)
				continue;
		}
		flow_packet(w, f, is_new, pkt, &b->key[j], b->ts[j]);
		/* A finished flow restarted by a bare SYN: the cache must not say finished any more. */
		if (unlikely(f->dtag != 0) && f->actions != 0) {
			dp_done_drop(ft, f);
			restarted = 1;
		}
	}
	w->st->c[DP_C_UNTRACKED] += untracked;
	w->st->c[DP_C_DONE_CACHED] += cached;
	return done + cached;
}

/*
 * Give a burst back to its pool. Frames straight from a PMD's queue are direct, unshared,
 * one-segment mbufs of that queue's pool: for them rte_pktmbuf_free_bulk()'s per-mbuf work
 * (refcount, detach, segment chain, pool switch) changes nothing, so when every frame of the
 * burst is so (checked, a few loads each) they go back with one rte_mempool_put_bulk(), as a
 * PMD's RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE does. Anything else (frames attached to the
 * replay's capture, chained or shared ones, mixed pools) takes rte_pktmbuf_free_bulk().
 */
static inline void
free_burst(struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mempool *mp;
	uint16_t i;

	if (n == 0)
		return;
	mp = pkts[0]->pool;
	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];

		if (m->pool != mp || m->next != NULL || !RTE_MBUF_DIRECT(m) ||
		    rte_mbuf_refcnt_read(m) != 1) {
			rte_pktmbuf_free_bulk(pkts, n);
			return;
		}
	}
	rte_mempool_put_bulk(mp, (void **)pkts, n);
}

void
dp_worker_burst(struct dp_worker *w, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t *c = w->st->c;
	uint64_t stamp[DP_BURST];
	struct dp_burst b;
	uint32_t k, done = 0;
	uint16_t i;

	for (i = 0; i < DP_PREFETCH_OFFSET && i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	w->clk->stamp(w, pkts, n, stamp);
	i = 0;
	while (i < n) {
		k = burst_decode(w, pkts, n, &i, &b, stamp);
		if (k > 0)
			done += burst_follow(w, &b, k);
	}
	c[DP_C_DONE_PKTS] += done;
	c[DP_C_PROCESSED] += n;
	free_burst(pkts, n);
}

/* --rx-only: frames are freed untouched, as the worker frees them (rx counters: the caller's). */
static void
rx_only_burst(struct dp_worker *w, struct rte_mbuf **pkts, uint16_t n)
{
	RTE_SET_USED(w);
	free_burst(pkts, n);
}

const struct dp_work_ops dp_work[DP_WORK__MAX] = {
	[DP_WORK_HANDSHAKE] = {
		.name = "handshake",
		.burst = dp_worker_burst,
	},
	[DP_WORK_RX_ONLY] = {
		.name = "rx-only",
		.burst = rx_only_burst,
	},
};

static inline void
count_rx(uint64_t *c, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t bytes = 0;
	uint16_t i;

	for (i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(pkts[i]);
	c[DP_C_RX_PKTS] += n;
	c[DP_C_RX_BYTES] += bytes;
}

/* Clock tick every iteration (tsc: read once by the loop); expiry scan about every millisecond. */
static inline void
worker_housekeeping(struct dp_worker *w, uint64_t *next_scan, uint64_t tsc)
{
	w->clk->tick(w, tsc);
	if (tsc >= *next_scan) {
		flow_expire(w);
		*next_scan = tsc + dp_run.tsc_hz / 1000;
	}
}

void
dp_worker_flush(struct dp_worker *w)
{
	struct dp_flow_table *ft = &w->ft;
	uint32_t pos;

	for (pos = 0; pos < ft->n; pos++) {
		struct dp_flow *f = &ft->f[pos];

		if (f->used && f->actions != 0)
			dp_flow_end(w, f, NULL, CW_END_SHUTDOWN);
	}
}

/* ---- main-lcore housekeeping ---- */

int
dp_main_tick(uint64_t tsc)
{
	static uint64_t next, next_hb, last_rx, last_change, next_stats, last_stats;
	const struct dp_conf *conf = dp_run.conf;
	uint64_t ms = dp_run.tsc_hz / 1000;

	if (tsc < next)
		return 0;
	next = tsc + ms;
	if (dp_quit)
		return 1;
	if (dp_run.stop_tsc != 0 && tsc >= dp_run.stop_tsc)
		return 1;
	if (tsc >= next_hb) {
		cw_shm_heartbeat(dp_run.shm);
		next_hb = tsc + 100 * ms;
	}
	if (conf->stats_s != 0 && tsc >= next_stats) {
		dp_stats_line(last_stats != 0 ? (tsc - last_stats) * 1000000ull / ms : 0);
		last_stats = tsc;
		next_stats = tsc + (uint64_t)conf->stats_s * 1000 * ms;
	}
	if (dp_run.replay != NULL && dp_replay_done(dp_run.replay)) {
		dp_run.eof = 1;
		return 1;
	}
	if (conf->pcap != NULL) {
		struct rte_eth_stats es;
		uint64_t rx = 0, got;
		unsigned int l;

		RTE_LCORE_FOREACH(l)
			rx += dp_lcore_stats[l].c[DP_C_RX_PKTS];
		got = rx;
		/* net_pcap reads a frame before it allocates the mbuf: a failed allocation loses it. */
		if (rte_eth_stats_get(dp_run.port, &es) == 0)
			got += es.ierrors + es.rx_nombuf;
		if (last_change == 0 || rx != last_rx) {
			last_rx = rx;
			last_change = tsc;
		}
		if (got >= conf->pcap_packets || tsc - last_change >= conf->eof_quiet_ms * ms) {
			dp_run.eof = 1;
			return 1;
		}
	}
	return 0;
}

static inline void
stop_workers(void)
{
	__atomic_store_n(&dp_stop, 1, __ATOMIC_RELEASE);
}

/* ---- single: the main lcore receives and works ---- */

static int
single_main_loop(void)
{
	struct dp_worker *w = dp_run.w[0];
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t next_scan = 0;
	uint16_t n;

	uint64_t tsc;

	for (;;) {
		tsc = rte_rdtsc();
		if (dp_main_tick(tsc))
			break;
		worker_housekeeping(w, &next_scan, tsc);
		n = rte_eth_rx_burst(w->port, 0, pkts, DP_BURST);
		if (n == 0)
			continue;
		count_rx(w->st->c, pkts, n);
		w->work->burst(w, pkts, n);
	}
	stop_workers();
	dp_worker_flush(w);
	return 0;
}

/* ---- RSS and replay: every worker polls its own source; the main lcore supervises ---- */

typedef uint16_t (*dp_rx_fn)(struct dp_worker *w, struct rte_mbuf **pkts);

/* The loop of a worker with a source of its own; inlined once per source, so rx is a direct call. */
static __rte_always_inline int
own_source_loop(struct dp_worker *w, dp_rx_fn rx)
{
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t next_scan = 0;
	uint16_t n;

	while (!dp_should_stop()) {
		worker_housekeeping(w, &next_scan, rte_rdtsc());
		n = rx(w, pkts);
		if (n == 0)
			continue;
		count_rx(w->st->c, pkts, n);
		w->work->burst(w, pkts, n);
	}
	dp_worker_flush(w);
	return 0;
}

static inline uint16_t
rx_queue(struct dp_worker *w, struct rte_mbuf **pkts)
{
	return rte_eth_rx_burst(w->port, w->queue, pkts, DP_BURST);
}

/* --replay: the next frames of this worker's share of the capture (replay.h). */
static inline uint16_t
rx_replay(struct dp_worker *w, struct rte_mbuf **pkts)
{
	return dp_replay_rx(dp_run.replay, w->rsrc, pkts, DP_BURST);
}

static int
rss_worker_loop(void *arg)
{
	return own_source_loop(arg, rx_queue);
}

static int
replay_worker_loop(void *arg)
{
	return own_source_loop(arg, rx_replay);
}

static int
rss_main_loop(void)
{
	while (!dp_main_tick(rte_rdtsc()))
		rte_delay_us_sleep(1000);
	stop_workers();
	return 0;
}

/* ---- dispatch: the main lcore receives and hashes each flow to one worker ring ---- */

typedef void (*dp_enqueue_fn)(struct dp_worker *w, struct rte_mbuf **m, unsigned int n,
			      uint64_t *c);

/* Live input: a full worker ring drops the packet. */
static void
enqueue_lossy(struct dp_worker *w, struct rte_mbuf **m, unsigned int n, uint64_t *c)
{
	unsigned int k = rte_ring_sp_enqueue_burst(w->in, (void **)m, n, NULL);

	c[DP_C_DISPATCH_OUT] += k;
	if (k < n) {
		c[DP_C_DISPATCH_DROP] += n - k;
		rte_pktmbuf_free_bulk(m + k, n - k);
	}
}

/* A capture file: the dispatcher waits for the worker; nothing is lost (unless signalled). */
static void
enqueue_lossless(struct dp_worker *w, struct rte_mbuf **m, unsigned int n, uint64_t *c)
{
	unsigned int k = 0, spins = 0;

	for (;;) {
		k += rte_ring_sp_enqueue_burst(w->in, (void **)(m + k), n - k, NULL);
		if (k == n || dp_quit)
			break;
		c[DP_C_DISPATCH_WAIT]++;
		dp_wait_step(&spins);
	}
	c[DP_C_DISPATCH_OUT] += k;
	if (k < n) {
		c[DP_C_DISPATCH_DROP] += n - k;
		rte_pktmbuf_free_bulk(m + k, n - k);
	}
}

static int
dispatch_main_loop(void)
{
	static uint8_t scratch[DP_SCRATCH_BYTES];
	struct rte_mbuf *pkts[DP_BURST];
	struct rte_mbuf *out[DP_MAX_WORKERS][DP_BURST];
	unsigned int nout[DP_MAX_WORKERS];
	const dp_enqueue_fn enq = dp_run.conf->lossless_dispatch ? enqueue_lossless : enqueue_lossy;
	uint64_t *c = dp_lcore_stats[rte_lcore_id()].c;
	const enum cw_linktype lt = (enum cw_linktype)dp_run.conf->linktype;
	uint32_t nw = dp_run.nworkers;
	uint16_t n, i;
	uint32_t k;

	memset(nout, 0, sizeof(nout));
	while (!dp_main_tick(rte_rdtsc())) {
		n = rte_eth_rx_burst(dp_run.port, 0, pkts, DP_BURST);
		if (n == 0)
			continue;
		count_rx(c, pkts, n);
		for (i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			const uint8_t *frame;
			struct cw_pkt pkt;
			unsigned int res;

			if (i + DP_PREFETCH_OFFSET < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PREFETCH_OFFSET], void *));
			frame = frame_of(m, scratch, c);
			if (frame == NULL) {
				rte_pktmbuf_free(m);
				continue;
			}
			res = (unsigned int)cw_decode(lt, frame, rte_pktmbuf_pkt_len(m), &pkt);
			/* A first fragment of TCP goes to its flow's worker too (frag_note()). */
			if (res != CW_DEC_TCP &&
			    !(res == CW_DEC_FRAGMENT && (pkt.flags & CW_PKT_F_FRAG_TCP))) {
				/* The worker counts what it decodes again (TCP, first fragments). */
				c[DP_C_DEC + (res < CW_DEC__MAX ? res : CW_DEC_BAD_L3)]++;
				rte_pktmbuf_free(m);
				continue;
			}
			k = dp_flow_worker(&pkt, nw);
			out[k][nout[k]++] = m;
		}
		for (k = 0; k < nw; k++) {
			if (nout[k] == 0)
				continue;
			enq(dp_run.w[k], out[k], nout[k], c);
			nout[k] = 0;
		}
	}
	stop_workers();
	return 0;
}

static int
dispatch_worker_loop(void *arg)
{
	struct dp_worker *w = arg;
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t next_scan = 0;
	unsigned int n;
	int stop;

	for (;;) {
		/* Read the flag before the ring: once set, an empty ring stays empty. */
		stop = __atomic_load_n(&dp_stop, __ATOMIC_ACQUIRE);
		worker_housekeeping(w, &next_scan, rte_rdtsc());
		n = rte_ring_sc_dequeue_burst(w->in, (void **)pkts, DP_BURST, NULL);
		if (n == 0) {
			if (stop)
				break;
			continue;
		}
		w->work->burst(w, pkts, (uint16_t)n);
	}
	dp_worker_flush(w);
	return 0;
}

const struct dp_mode_ops dp_modes[DP_MODE__MAX] = {
	[DP_MODE_SINGLE] = {
		.name = "single",
		.main_loop = single_main_loop,
		.worker_loop = NULL,
	},
	[DP_MODE_DISPATCH] = {
		.name = "dispatch",
		.main_loop = dispatch_main_loop,
		.worker_loop = dispatch_worker_loop,
	},
	[DP_MODE_RSS] = {
		.name = "rss",
		.main_loop = rss_main_loop,
		.worker_loop = rss_worker_loop,
	},
	[DP_MODE_REPLAY] = {
		.name = "replay",
		.main_loop = rss_main_loop,
		.worker_loop = replay_worker_loop,
	},
};
