/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-flow handshake driver: routes segments to reassembly and TLS framing and fills the flow event. */
#include <string.h>

/*
 * The fingerprint-cache keys hash a dozen short pieces per hello, gathered on the stack or, past
 * 1 KiB, streamed through an XXH3_state_t on the stack: no allocation per hello. The library's
 * header-only form (XXH_INLINE_ALL) inlines those calls here.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cw_cursor.h"
#include "fingerprint.h"
#include "session.h"

void
cw_session_init(struct cw_session *s, uint8_t *buf0, uint8_t *buf1, uint32_t cap,
		struct cw_sess_area *area)
{
	memset(s, 0, sizeof(*s));
	s->str = s->str_in;
	s->str_cap = sizeof(s->str_in);
	cw_reasm_init(&s->ra[0]);
	cw_reasm_init(&s->ra[1]);
	cw_reasm_attach(&s->ra[0], buf0, cap);
	cw_reasm_attach(&s->ra[1], buf1, cap);
	s->area = area;
	if (area != NULL) {
		cw_reasm_set_ooo(&s->ra[0], area->ooo[0]);
		cw_reasm_set_ooo(&s->ra[1], area->ooo[1]);
	}
	cw_tls_stream_init(&s->ts[0]);
	cw_tls_stream_init(&s->ts[1]);
	s->cli_side = -1;
	s->state = CW_SS_NEW;
	s->end_hint = CW_END_DONE;
}

void
cw_session_init_bufs(struct cw_session *s, const struct cw_buf_ops *ops)
{
	cw_session_init(s, NULL, NULL, 0, NULL);
	s->on_demand = 1;
	s->bufs = ops;
	s->ra[0].limit = ops->limit;
	s->ra[1].limit = ops->limit;
}

/* The hello hooks: only sessions with fixed buffers have them, in their area. */
static inline const struct cw_session_hooks *
hooks_of(const struct cw_session *s)
{
	return s->on_demand || s->area == NULL ? NULL : s->area->hooks;
}

/* 1 when this side's buffer holds certificate bytes the session still keeps. */
static inline int
holds_certs(const struct cw_session *s, int side)
{
	return s->ncert > 0 && !s->certs_released && side != s->cli_side &&
	       s->cmp.state != CW_CMP_DONE;
}

/* The expected message's entry (cmp.state not CW_CMP_NONE). */
static inline struct cw_certref_ent *
cmp_entry(const struct cw_session *s)
{
	return cw_certref_of(s->bufs->refs, s->cmp.body);
}

void
cw_session_unref(struct cw_session *s)
{
	if (s->cmp.state != CW_CMP_NONE)
		cw_certref_unpin(cmp_entry(s));
	s->cmp.state = CW_CMP_NONE;
	s->cmp.single = 0;
}

/*
 * A TLS 1.2 server answers: arm the comparison with what its name was last
 * answered with, when the owner keeps expected messages and has one.
 */
static void
cmp_arm(struct cw_session *s)
{
	struct cw_certref_ent *e;

	if (!s->on_demand || s->bufs->refs == NULL || s->sni_len == 0 ||
	    s->cmp.state != CW_CMP_NONE || (s->ev.flags & (CW_EVF_RESUMED | CW_EVF_CERT)))
		return;
	e = cw_certref_get(s->bufs->refs, cw_certref_key(s->str, s->sni_len, s->ev.cipher));
	if (e == NULL)
		return;
	memset(&s->cmp, 0, sizeof(s->cmp));
	s->cmp.body = e->body;
	s->cmp.len = e->len;
	s->cmp.state = CW_CMP_ARMED;
}

/*
 * CW_TI_CMP_DIFF on side: put the compared Certificate message back in a
 * buffer (the header and the matched bytes, then what is held), so it is
 * assembled as if never compared. -1 when no buffer can be had.
 */
static int
cmp_restore(struct cw_session *s, int side, const struct cw_tls_item *it)
{
	struct cw_reasm *r = &s->ra[side];
	struct cw_tls_stream *ts = &s->ts[side];
	uint32_t ext = cw_reasm_extent(r), held = ext > ts->rd ? ext - ts->rd : 0;
	uint32_t need = it->len + held, limit = r->limit - ts->rd + it->len, ocap = r->cap, ncap = 0;
	uint8_t *nb, *old = r->buf;

	s->bufs->refs->differed++;
	nb = s->bufs->get(s->bufs->arg, need, &ncap);
	if (nb == NULL || ncap < need) {
		if (nb != NULL)
			s->bufs->put(s->bufs->arg, nb, ncap);
		s->cmp.state = CW_CMP_DIFF;
		return -1;
	}
	if (ncap > limit)
		ncap = limit;
	cw_tls_cmp_restore(ts, r, &s->cmp, nb, ncap);
	if (old != NULL)
		s->bufs->put(s->bufs->arg, old, ocap);
	return 0;
}

/* Move a direction to buffer nb (ncap bytes), at the same offsets, and give the old one back. */
static void
switch_buf(struct cw_session *s, struct cw_reasm *r, uint8_t *nb, uint32_t ncap)
{
	uint8_t *old = r->buf;
	uint32_t ocap = r->cap;

	cw_reasm_move(r, nb, ncap);
	if (old != NULL)
		s->bufs->put(s->bufs->arg, old, ocap);
}

/*
 * Before a segment is added: give its direction a buffer large enough for
 * it, from the session's buffer ops. When none can be had, the direction is
 * capped at the buffer it has (limit = cap), so reassembly and framing treat
 * it exactly like a configured cap of that size.
 */
static void
ensure_buf(struct cw_session *s, struct cw_reasm *r, const struct cw_pkt *pkt, uint32_t seq)
{
	uint32_t need = cw_reasm_need(r, seq, pkt->payload_len), ncap = 0;
	uint8_t *nb;

	if (need <= r->cap)
		return;
	nb = s->bufs->get(s->bufs->arg, need, &ncap);
	if (nb == NULL || ncap < need) {
		if (nb != NULL)
			s->bufs->put(s->bufs->arg, nb, ncap);
		r->limit = r->cap;
		s->buf_short = 1;
		s->ev.anomalies |= CW_EVA_CAP;
		return;
	}
	if (ncap > r->limit)
		ncap = r->limit;
	switch_buf(s, r, nb, ncap);
}

/*
 * Buffers on demand: a direction borrows an out-of-order table when a
 * segment beyond a hole was refused for want of one (cw_reasm_add() wrote
 * nothing, so the segment is added again), and gives it back once every
 * hole is filled. Returns the CW_RA_* bits of the segment.
 */
static unsigned int
ooo_table(struct cw_session *s, struct cw_reasm *r, const struct cw_pkt *pkt, uint32_t seq,
	  unsigned int ra)
{
	struct cw_reasm_ooo *t;

	if ((ra & CW_RA_OOO_FULL) && r->ooo == NULL && s->bufs->ooo_get != NULL &&
	    (t = s->bufs->ooo_get(s->bufs->arg)) != NULL) {
		cw_reasm_set_ooo(r, t);
		ra = cw_reasm_add(r, seq, pkt->payload, pkt->payload_len);
	}
	if (r->ooo != NULL && r->nooo == 0) {
		s->bufs->ooo_put(s->bufs->arg, r->ooo);
		cw_reasm_set_ooo(r, NULL);
	}
	return ra;
}

/*
 * Buffers on demand: drop from the front of a direction what the framing
 * parser is done with (everything before the next handshake message still
 * being assembled, or everything consumed), but never certificate bytes
 * the session still keeps (its Certificate message); give the buffer back when nothing is left.
 * Only when that is at least half of what is held: moving a long partial
 * record down to free a short prefix costs more than it saves.
 * A buffer left at least four times larger than what it holds is exchanged
 * for a smaller one when the buffer ops have one.
 * The parser's offsets move down with the bytes, so it sees the same stream.
 */
static void
trim(struct cw_session *s, int side)
{
	struct cw_reasm *r = &s->ra[side];
	struct cw_tls_stream *ts = &s->ts[side];
	uint32_t d = ts->hs_rd < ts->hs_wr ? ts->hs_rd : r->consumed, ext, ncap = 0;
	uint8_t *nb;

	if (r->buf == NULL)
		return;
	if (d > r->consumed)
		d = r->consumed;
	if (holds_certs(s, side) && s->cert_off < d)
		d = s->cert_off;
	ext = cw_reasm_extent(r);
	if (d == 0 || (d < ext && d < ext - d))
		return;
	cw_reasm_drop(r, d);
	if (holds_certs(s, side))
		s->cert_off -= d;
	ts->rd -= d;
	ts->hs_rd = ts->hs_rd > d ? ts->hs_rd - d : 0;
	ts->hs_wr = ts->hs_wr > d ? ts->hs_wr - d : 0;
	ext = cw_reasm_extent(r);
	if (ext == 0) {
		s->bufs->put(s->bufs->arg, r->buf, r->cap);
		r->buf = NULL;
		r->cap = 0;
	} else if ((uint64_t)ext * 4 <= r->cap &&
		   (nb = s->bufs->get(s->bufs->arg, ext, &ncap)) != NULL) {
		if (ncap < r->cap && ncap >= ext)
			switch_buf(s, r, nb, ncap);
		else
			s->bufs->put(s->bufs->arg, nb, ncap);
	}
}

void
cw_session_release_certs(struct cw_session *s)
{
	if (s->certs_released)
		return;
	s->certs_released = 1;
	cw_session_unref(s);
	if (s->on_demand && s->state != CW_SS_FINISHED) {
		trim(s, 0);
		trim(s, 1);
	}
}

static int
side_of(struct cw_session *s, const struct cw_pkt *pkt)
{
	if (s->state == CW_SS_NEW) {
		/* Provisional roles until a SYN or a hello says otherwise: side 0 the client. */
		s->side0 = (uint8_t)cw_pkt_side(pkt);
		s->state = CW_SS_HS;
		return 0;
	}
	return (int)(cw_pkt_side(pkt) ^ s->side0);
}

static void
set_client(struct cw_session *s, int side)
{
	if (s->cli_side >= 0)
		return;
	s->cli_side = (int8_t)side;
}

static unsigned int
ra_anomalies(unsigned int ra)
{
	unsigned int a = 0;

	if (ra & CW_RA_OOO)
		a |= CW_EVA_OOO;
	if (ra & CW_RA_RETRANS)
		a |= CW_EVA_RETRANS;
	if (ra & CW_RA_CONFLICT)
		a |= CW_EVA_OVERLAP_CONFLICT;
	if (ra & CW_RA_OOO_FULL)
		a |= CW_EVA_OOO_FULL;
	if (ra & CW_RA_CAP)
		a |= CW_EVA_CAP;
	return a;
}

/*
 * Room for name `which` (0 the SNI, 1 the ALPN list, 2 the selected
 * protocol) to become n bytes, the names after it moved to fit. Names that
 * outgrow the session move to a larger place (struct cw_session's str).
 * Returns the bytes the name may have: n, or fewer when no such place can
 * be had.
 */
static uint32_t
name_room(struct cw_session *s, int which, uint32_t n)
{
	uint32_t len[3] = {s->sni_len, s->alpn_len, s->alpn_sel_len};
	uint32_t held = len[0] + len[1] + len[2], others = held - len[which];
	uint32_t off = which == 0 ? 0 : which == 1 ? len[0] : len[0] + len[1];
	uint32_t tail = held - off - len[which], cap = 0;
	uint8_t *nb = NULL;

	if (others + n > s->str_cap && s->str == s->str_in) {
		if (s->on_demand) {
			nb = s->bufs->get(s->bufs->arg, CW_SESS_STR_MAX, &cap);
			if (nb != NULL && cap < CW_SESS_STR_MAX) {
				s->bufs->put(s->bufs->arg, nb, cap);
				nb = NULL;
			}
			if (nb == NULL)
				s->buf_short = 1;
		} else if (s->area != NULL) {
			nb = s->area->str;
			cap = CW_SESS_STR_MAX;
		}
		if (nb != NULL) {
			if (held > 0)
				memcpy(nb, s->str_in, held);
			s->str = nb;
			s->str_cap = cap;
		}
	}
	if (others + n > s->str_cap)
		n = s->str_cap - others;
	if (tail > 0)
		memmove(s->str + off + n, s->str + off + len[which], tail);
	if (which == 0)
		s->sni_len = (uint8_t)n;
	else if (which == 1)
		s->alpn_len = (uint8_t)n;
	else
		s->alpn_sel_len = (uint8_t)n;
	return n;
}

static void
copy_sni(struct cw_session *s, const struct cw_view *v)
{
	uint32_t n = v->len, got;
	uint8_t *z;

	if (n > CW_EV_SNI_MAX - 1)
		n = CW_EV_SNI_MAX - 1;
	got = name_room(s, 0, n);
	if (got < v->len)
		s->ev.anomalies |= CW_EVA_SNI_TRUNC;
	if (got == 0) /* an empty view may carry p == NULL */
		return;
	memcpy(s->str, v->p, got);
	/* An embedded NUL would silently shorten the name downstream: keep it visible. */
	for (z = memchr(s->str, '\0', got); z != NULL; z = memchr(z + 1, '\0', (size_t)(s->str + got - (z + 1))))
		*z = '?';
}

/* Bytes of an ALPN ProtocolNameList's contents that hold whole names, at most max; *cut if a name did not fit. */
static uint32_t
alpn_whole(const struct cw_view *v, uint32_t max, int *cut)
{
	struct cw_cur c = cw_cur_init(v->p, v->len);
	uint32_t used = 0;
	struct cw_cur name;

	*cut = 0;
	while (!cw_empty(&c)) {
		if (cw_vec(&c, 1, &name) != CW_OK)
			break;
		size_t n = cw_left(&name);
		if (used + 1 + n > max) {
			*cut = 1;
			break;
		}
		used += 1 + (uint32_t)n;
	}
	return used;
}

/* Copy the ALPN ProtocolNameList contents (the wire bytes), cutting at a whole-name boundary. */
static void
copy_alpn(struct cw_session *s, const struct cw_view *v)
{
	int cut, cut2;
	uint32_t want = alpn_whole(v, CW_EV_ALPN_MAX, &cut), got = name_room(s, 1, want);

	if (got < want) {
		got = name_room(s, 1, alpn_whole(v, got, &cut2));
		cut = 1;
	}
	if (cut)
		s->ev.anomalies |= CW_EVA_ALPN_TRUNC;
	if (got > 0)
		memcpy(s->str + s->sni_len, v->p, got);
}

/*
 * JA3 and JA4 cost two digests over a few hundred formatted bytes (about
 * 2-3 us), yet most ClientHellos on a link come from a few client builds.
 * Each thread keeps a direct-mapped cache of the results keyed by XXH3-128
 * over every input the two fingerprints read, so a repeated hello costs one
 * XXH3 pass. Bound: CW_FP_CACHE entries per thread (about 96 KiB); a new
 * hello overwrites its slot.
 */
#define CW_FP_CACHE 1024

struct fp_cache_ent {
	uint8_t key[16];
	uint8_t valid;
	uint8_t ja3[CW_JA3_LEN];
	char ja4_a[CW_JA4_A_LEN];
	uint8_t ja4_bc[2 * CW_JA4_HASH_LEN];
};

static _Thread_local struct fp_cache_ent fp_cache[CW_FP_CACHE];

/* One input of a cache key: the key hashes the pieces' bytes end to end. */
struct key_piece {
	const void *p;
	size_t len;
};

/*
 * XXH3-128 over the pieces end to end. Up to 1 KiB, the usual size of a hello's, they are
 * gathered and hashed in one call: the streaming form costs several times more on a dozen short
 * updates. Longer inputs stream. XXH3 gives the same value for the same bytes either way.
 */
static XXH128_hash_t
key_hash(const struct key_piece *pc, unsigned int n)
{
	uint8_t buf[1024];
	XXH3_state_t st;
	size_t tot = 0, at = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		tot += pc[i].len;
	if (tot <= sizeof(buf)) {
		for (i = 0; i < n; i++) {
			if (pc[i].len > 0)
				memcpy(buf + at, pc[i].p, pc[i].len);
			at += pc[i].len;
		}
		return XXH3_128bits(buf, tot);
	}
	XXH3_128bits_reset(&st);
	for (i = 0; i < n; i++)
		if (pc[i].len > 0)
			XXH3_128bits_update(&st, pc[i].p, pc[i].len);
	return XXH3_128bits_digest(&st);
}

/* The draft's digests and the event's hex forms (fingerprint.h) describe the same strings. */
_Static_assert(2 * CW_JA3_LEN + 1 == CW_MD5_HEX, "JA3 digest and hex differ");
_Static_assert(CW_JA4_A_LEN + 2 + 4 * CW_JA4_HASH_LEN == CW_JA4_LEN, "JA4 parts and hex differ");

/* n bytes from 2n lower-case hex digits, as cw_hex() writes them. */
static void
unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int hi = (unsigned char)hex[2 * i], lo = (unsigned char)hex[2 * i + 1];

		hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
		lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
		out[i] = (uint8_t)((hi << 4 | lo) & 0xff);
	}
}

static void
fingerprints(const struct cw_client_hello *ch, struct cw_ev_draft *ev)
{
	const struct cw_view *v[6] = {&ch->ciphers, &ch->groups,   &ch->point_formats,
				      &ch->sigalgs, &ch->versions, &ch->alpn};
	struct key_piece pc[4 + 2 * 6];
	uint32_t vlen[6];
	XXH128_hash_t h;
	XXH128_canonical_t key;
	struct fp_cache_ent *e;
	char hex[sizeof(((struct cw_flow_event *)NULL)->ja4)];
	uint16_t hdr[4] = {ch->legacy_version, ch->version, ch->has_sni, ch->sslv2};
	unsigned int i, n = 0;

	pc[n++] = (struct key_piece){hdr, sizeof(hdr)};
	pc[n++] = (struct key_piece){&ch->n_ext, sizeof(ch->n_ext)};
	pc[n++] = (struct key_piece){ch->ext, (size_t)ch->n_ext * sizeof(ch->ext[0])};
	/*
	 * Past the types kept, the fingerprints read the extension block: so does the key (an
	 * empty piece otherwise; a fixed count of pieces keeps key_hash() unrolled).
	 */
	pc[n++] = (struct key_piece){ch->exts.p,
				     (ch->anomalies & CW_TLS_A_TOO_MANY_EXT) ? ch->exts.len : 0};
	for (i = 0; i < 6; i++) {
		vlen[i] = v[i]->len;
		pc[n++] = (struct key_piece){&vlen[i], sizeof(vlen[i])};
		pc[n++] = (struct key_piece){v[i]->p, v[i]->len};
	}
	h = key_hash(pc, n);
	XXH128_canonicalFromHash(&key, h);

	e = &fp_cache[h.low64 & (CW_FP_CACHE - 1)];
	if (!e->valid || memcmp(e->key, key.digest, sizeof(e->key)) != 0) {
		cw_ja3(ch, NULL, 0, hex);
		unhex(hex, e->ja3, sizeof(e->ja3));
		/* JA4 is always a_b_c: 10 characters, '_', 12 hex digits, '_', 12 hex digits. */
		cw_ja4(ch, 't', CW_JA4, hex, sizeof(hex));
		memcpy(e->ja4_a, hex, sizeof(e->ja4_a));
		unhex(hex + CW_JA4_A_LEN + 1, e->ja4_bc, CW_JA4_HASH_LEN);
		unhex(hex + CW_JA4_A_LEN + 2 + 2 * CW_JA4_HASH_LEN, e->ja4_bc + CW_JA4_HASH_LEN,
		      CW_JA4_HASH_LEN);
		memcpy(e->key, key.digest, sizeof(e->key));
		e->valid = 1;
	}
	memcpy(ev->ja3, e->ja3, sizeof(ev->ja3));
	memcpy(ev->ja4_a, e->ja4_a, sizeof(ev->ja4_a));
	memcpy(ev->ja4_bc, e->ja4_bc, sizeof(ev->ja4_bc));
}

/*
 * JA3S reads only the ServerHello's legacy version, cipher and extension
 * types, and a server answers the same way again and again: the same kind
 * of per-thread cache, CW_FP_CACHE entries of about 56 bytes.
 */
struct ja3s_cache_ent {
	uint8_t key[16];
	uint8_t valid;
	uint8_t ja3s[CW_JA3_LEN];
};

static _Thread_local struct ja3s_cache_ent ja3s_cache[CW_FP_CACHE];

static void
ja3s_cached(const struct cw_server_hello *sh, uint8_t out[CW_JA3_LEN])
{
	char hex[CW_MD5_HEX];
	XXH128_hash_t h;
	XXH128_canonical_t key;
	struct ja3s_cache_ent *e;
	uint16_t hdr[2] = {sh->legacy_version, sh->cipher};
	const struct key_piece pc[4] = {{hdr, sizeof(hdr)},
					{&sh->n_ext, sizeof(sh->n_ext)},
					{sh->ext, (size_t)sh->n_ext * sizeof(sh->ext[0])},
					{sh->exts.p, (sh->anomalies & CW_TLS_A_TOO_MANY_EXT) ? sh->exts.len : 0}};

	h = key_hash(pc, 4);
	XXH128_canonicalFromHash(&key, h);
	e = &ja3s_cache[h.low64 & (CW_FP_CACHE - 1)];
	if (!e->valid || memcmp(e->key, key.digest, sizeof(e->key)) != 0) {
		cw_ja3s(sh, NULL, 0, hex);
		unhex(hex, e->ja3s, sizeof(e->ja3s));
		memcpy(e->key, key.digest, sizeof(e->key));
		e->valid = 1;
	}
	memcpy(out, e->ja3s, sizeof(e->ja3s));
}

static void
on_client_hello(struct cw_session *s, const struct cw_client_hello *ch)
{
	struct cw_ev_draft *ev = &s->ev;

	ev->flags |= CW_EVF_CH;
	ev->ch_legacy_version = ch->legacy_version;
	ev->ch_version = ch->version;
	if (ch->sslv2)
		ev->flags |= CW_EVF_SSLV2;
	if (ch->has_ech)
		ev->flags |= CW_EVF_ECH;
	if (ch->has_psk)
		ev->flags |= CW_EVF_PSK;
	if (ch->has_early_data)
		ev->flags |= CW_EVF_EARLY_DATA;
	if (ch->has_session_ticket)
		ev->flags |= CW_EVF_SESSION_TICKET;
	if (ch->anomalies & CW_TLS_A_TOO_MANY_EXT)
		ev->anomalies |= CW_EVA_TOO_MANY_EXT;
	if (ch->has_sni)
		copy_sni(s, &ch->sni);
	if (ch->has_alpn)
		copy_alpn(s, &ch->alpn);
	/* Up to 32 bytes (RFC 5246 7.4.1.2); a longer one is never echoed as a resumption. */
	if (ch->session_id.len <= 32) {
		s->ch_sid_len = (uint8_t)ch->session_id.len;
		if (ch->session_id.len > 0)
			s->ch_sid_hash = XXH3_64bits(ch->session_id.p, ch->session_id.len);
	}
	if (hooks_of(s) != NULL && hooks_of(s)->client_hello != NULL)
		hooks_of(s)->client_hello(s, ch);
	fingerprints(ch, ev);
}

static void
on_server_hello(struct cw_session *s, int side, const struct cw_server_hello *sh)
{
	struct cw_ev_draft *ev = &s->ev;
	uint32_t n, got;

	if (sh->hrr) {
		/* The real ServerHello follows the client's second ClientHello. */
		ev->flags |= CW_EVF_HRR;
		s->hrr = 1;
		return;
	}
	ev->flags |= CW_EVF_SH;
	ev->sh_legacy_version = sh->legacy_version;
	ev->sh_version = sh->version;
	ev->cipher = sh->cipher;
	if (sh->downgrade == 12)
		ev->flags |= CW_EVF_DOWNGRADE12;
	else if (sh->downgrade == 11)
		ev->flags |= CW_EVF_DOWNGRADE11;
	n = sh->alpn.len < CW_EV_ALPN_SEL_MAX - 1 ? sh->alpn.len : CW_EV_ALPN_SEL_MAX - 1;
	got = name_room(s, 2, n);
	if (got < n) {
		/* A cut protocol name would name another protocol: none at all. */
		ev->anomalies |= CW_EVA_ALPN_TRUNC;
		got = name_room(s, 2, 0);
	}
	if (got > 0)
		memcpy(s->str + s->sni_len + s->alpn_len, sh->alpn.p, got);
	if (hooks_of(s) != NULL && hooks_of(s)->server_hello != NULL)
		hooks_of(s)->server_hello(s, sh);
	ja3s_cached(sh, ev->ja3s);
	if (sh->version == 0x0304) {
		/* Everything after this in the server direction is encrypted. */
		s->t13 = 1;
		s->ts[side].encrypted = 1;
		/* pre_shared_key (41) in the ServerHello: PSK resumption, no certificate. */
		for (unsigned int i = 0; i < sh->n_ext; i++)
			if (sh->ext[i] == 41)
				ev->flags |= CW_EVF_RESUMED;
	} else if (s->ch_sid_len > 0 && sh->session_id.len == s->ch_sid_len &&
		   XXH3_64bits(sh->session_id.p, sh->session_id.len) == s->ch_sid_hash) {
		/* TLS <= 1.2 session-id resumption: no Certificate will follow. */
		ev->flags |= CW_EVF_RESUMED;
	} else {
		cmp_arm(s);
	}
}

/* The server's Certificate message; its body lies in side's buffer (the framing parses it there). */
static void
on_certificate(struct cw_session *s, int side, const struct cw_tls_item *it)
{
	struct cw_ev_draft *ev = &s->ev;
	const struct cw_reasm *r = &s->ra[side];
	struct cw_cert_list cl;

	if (ev->flags & CW_EVF_CERT)
		return;
	if (s->cmp.state == CW_CMP_ARMED)
		s->cmp.state = CW_CMP_DIFF; /* whole on arrival: compared below */
	if (cw_tls_parse_certificate(it->body, it->len, it->cut ? CW_TLS_CERT_PREFIX : 0, &cl) != CW_OK) {
		ev->anomalies |= CW_EVA_BAD_CERT;
		return;
	}
	if (it->cut) {
		/*
		 * Longer than the cap: the certificates that came whole are the
		 * chain judged (the leaf first), flagged as cut. Without even the
		 * leaf there is no chain.
		 */
		ev->anomalies |= CW_EVA_CAP | CW_EVA_CHAIN_TRUNC;
		if (cl.n == 0)
			return;
		s->cert_cut = 1;
	}
	/* A full handshake after all: a resumed one has no Certificate (RFC 5246 7.3). */
	ev->flags = (ev->flags | CW_EVF_CERT) & ~CW_EVF_RESUMED;
	ev->ncerts = cl.total > 255 ? 255 : (uint8_t)cl.total;
	if (cl.total > cl.n || cl.n > CW_EV_CHAIN_MAX)
		ev->anomalies |= CW_EVA_CHAIN_TRUNC;
	s->ncert = (uint8_t)cl.n;
	if (it->cmp) {
		/* Every byte was the expected message's: its id; its bytes stand for the certificates. */
		memcpy(ev->chain_id, cmp_entry(s)->chain_id, CW_ID_LEN);
		s->bufs->refs->matched++;
		return;
	}
	s->cert_off = (uint32_t)(it->body - r->buf);
	s->cert_len = it->len;
	if (s->cmp.state != CW_CMP_NONE && !it->cut && it->len == s->cmp.len &&
	    memcmp(it->body, s->cmp.body, it->len) == 0) {
		/* Came whole, and is the expected message. */
		memcpy(ev->chain_id, cmp_entry(s)->chain_id, CW_ID_LEN);
		s->bufs->refs->matched++;
		cw_session_unref(s);
		return;
	}
	/* Ids now, while the bytes are surely held: the owner may release them before the end. */
	cw_chain_id(&cl, NULL, ev->chain_id);
	if (s->on_demand && s->bufs->refs != NULL && s->sni_len > 0 && !it->cut && !s->t13) {
		cw_session_unref(s);
		cw_certref_put(s->bufs->refs, cw_certref_key(s->str, s->sni_len, ev->cipher), it->body,
			       it->len, ev->chain_id);
	}
}

/* What one handshake message does to the session; returns a CW_SESS_* code. */
static int
on_hs_msg(struct cw_session *s, int side, const struct cw_tls_item *it)
{
	struct cw_client_hello ch;
	struct cw_server_hello sh;

	switch (it->hs_type) {
	case CW_TLS_HS_CLIENT_HELLO:
		set_client(s, side);
		if (side != s->cli_side)
			break;
		if (s->ev.flags & CW_EVF_CH) {
			if (!s->hrr)
				s->ev.anomalies |= CW_EVA_DUP_CH;
			break;
		}
		memset(&ch, 0, sizeof(ch));
		if (cw_tls_parse_client_hello(it->body, it->len, &ch) != CW_OK) {
			s->ev.anomalies |= CW_EVA_BAD_HELLO;
			if (ch.anomalies & CW_TLS_A_DUP_EXT)
				s->ev.anomalies |= CW_EVA_DUP_EXT;
			s->end_hint = CW_END_BAD;
			return CW_SESS_ABANDON;
		}
		on_client_hello(s, &ch);
		break;
	case CW_TLS_HS_SERVER_HELLO:
		set_client(s, !side);
		if (side == s->cli_side || (s->ev.flags & CW_EVF_SH))
			break;
		memset(&sh, 0, sizeof(sh));
		if (cw_tls_parse_server_hello(it->body, it->len, &sh) != CW_OK) {
			s->ev.anomalies |= CW_EVA_BAD_HELLO;
			if (sh.anomalies & CW_TLS_A_DUP_EXT)
				s->ev.anomalies |= CW_EVA_DUP_EXT;
			s->end_hint = CW_END_BAD;
			return CW_SESS_ABANDON;
		}
		on_server_hello(s, side, &sh);
		break;
	case CW_TLS_HS_CERTIFICATE:
		if (side != s->cli_side && s->cli_side >= 0)
			on_certificate(s, side, it);
		break;
	case CW_TLS_HS_SERVER_HELLO_DONE:
		/* TLS <= 1.2 full handshake: the server's flight is complete. */
		if (side != s->cli_side && s->cli_side >= 0 && (s->ev.flags & CW_EVF_SH))
			return CW_SESS_DONE;
		break;
	default:
		break;
	}
	return CW_SESS_MORE;
}

/*
 * Length of the record that carries a TLS 1.3 Finished under this cipher suite, unpadded: a
 * 4-byte message header, the verify data (the suite's hash length), the inner content type and
 * the AEAD tag (RFC 8446 4.4.4, 5.2; B.4). 0 for a suite not listed.
 */
static uint32_t
t13_finished_len(uint16_t cipher)
{
	switch (cipher) {
	case 0x1301: /* TLS_AES_128_GCM_SHA256 */
	case 0x1303: /* TLS_CHACHA20_POLY1305_SHA256 */
	case 0x1304: /* TLS_AES_128_CCM_SHA256 */
		return 4 + 32 + 1 + 16;
	case 0x1302: /* TLS_AES_256_GCM_SHA384 */
		return 4 + 48 + 1 + 16;
	case 0x1305: /* TLS_AES_128_CCM_8_SHA256 */
		return 4 + 32 + 1 + 8;
	default:
		return 0;
	}
}

/* A whole non-handshake (or encrypted) record; returns a CW_SESS_* code. */
static int
on_record(struct cw_session *s, int side, const struct cw_tls_item *it)
{
	struct cw_ev_draft *ev = &s->ev;
	int from_client = side == s->cli_side;

	if (s->cli_side < 0)
		return CW_SESS_MORE;

	/*
	 * TLS 1.3 middlebox compatibility: after a HelloRetryRequest both sides
	 * may send a dummy ChangeCipherSpec, and the second ClientHello and the
	 * real ServerHello still follow in clear.
	 */
	if (s->hrr && !(ev->flags & CW_EVF_SH) && it->rec_type == CW_TLS_CT_CCS) {
		s->ts[side].ccs = 0;
		return CW_SESS_MORE;
	}

	if (s->t13) {
		if (!from_client) {
			if (it->rec_type == CW_TLS_CT_CCS)
				return CW_SESS_MORE; /* middlebox-compatibility CCS */
			/* After the server's Finished: NewSessionTicket and data, not the flight. */
			if (s->t13_fin)
				return CW_SESS_MORE;
			if (ev->t13_nrec < CW_EV_T13_REC_MAX)
				ev->t13_rec[ev->t13_nrec++] =
					it->rec_len > 0xffff ? 0xffff : (uint16_t)it->rec_len;
			ev->t13_bytes += it->rec_len;
			if (ev->t13_nrec >= 3 && it->rec_len == t13_finished_len(ev->cipher))
				s->t13_fin = 1;
			return CW_SESS_MORE;
		}
		if (it->rec_type == CW_TLS_CT_ALERT && ev->t13_nrec > 0) {
			ev->flags |= CW_EVF_CLIENT_ABORT;
			return CW_SESS_DONE;
		}
		/* The client's second flight ends the server's first flight. */
		if (it->rec_type == CW_TLS_CT_CCS || it->rec_type == CW_TLS_CT_APPDATA ||
		    it->rec_type == CW_TLS_CT_HANDSHAKE)
			return ev->t13_nrec > 0 ? CW_SESS_DONE : CW_SESS_MORE;
		return CW_SESS_MORE;
	}

	switch (it->rec_type) {
	case CW_TLS_CT_CCS:
		/* Server CCS in TLS <= 1.2: abbreviated handshake, no Certificate follows. */
		if (!from_client && (ev->flags & CW_EVF_SH))
			return CW_SESS_DONE;
		return CW_SESS_MORE;
	case CW_TLS_CT_ALERT:
		if (from_client && (ev->flags & CW_EVF_SH)) {
			ev->flags |= CW_EVF_CLIENT_ABORT;
			return CW_SESS_DONE;
		}
		/*
		 * A server's alert ends the flight only once its Certificate is in. A
		 * warning (unrecognized_name, sent by some servers and insertable by
		 * anyone on the path) lets the handshake go on and the client takes
		 * the Certificate after it; a fatal one is followed by the close,
		 * which ends the session with its own reason.
		 */
		return (ev->flags & CW_EVF_CERT) ? CW_SESS_DONE : CW_SESS_MORE;
	case CW_TLS_CT_APPDATA:
		/* 0-RTT: the client's early data precedes the ServerHello. */
		if (from_client && (ev->flags & CW_EVF_EARLY_DATA) && !(ev->flags & CW_EVF_SH))
			return CW_SESS_MORE;
		/* Application data before the handshake we follow completed: stop. */
		return CW_SESS_DONE;
	default:
		return CW_SESS_MORE;
	}
}

/*
 * The stream did not start like TLS. Before any hello, a proxy preamble may
 * precede it: drop what is held and probe again at the next segment
 * boundary. Returns 1 if the side keeps going.
 */
static int
skip_preamble(struct cw_session *s, int side)
{
	struct cw_reasm *r = &s->ra[side];
	struct cw_tls_stream *ts = &s->ts[side];

	if (s->ev.flags & (CW_EVF_CH | CW_EVF_SH))
		return 0;
	if (s->preamble_segs[side] >= CW_SESS_PREAMBLE_SEGS ||
	    r->dropped + r->contig > CW_SESS_PREAMBLE_MAX)
		return 0;
	s->preamble_segs[side]++;
	s->ev.flags |= CW_EVF_PREAMBLE;
	cw_tls_stream_init(ts);
	ts->rd = r->contig;
	ts->hs_wr = r->contig;
	ts->hs_rd = r->contig;
	cw_reasm_consume(r, r->contig);
	return 1;
}

/* Run the framing iterator of one side until it needs more bytes. */
static int
parse_side(struct cw_session *s, int side)
{
	struct cw_tls_item it;
	struct cw_client_hello ch;
	int rc;

	for (;;) {
		/* Only the server's direction carries the expected message (armed by its hello). */
		cw_tls_next_cmp(&s->ts[side], &s->ra[side],
				s->cmp.state != CW_CMP_NONE && side != s->cli_side ? &s->cmp : NULL, &it);
		switch (it.kind) {
		case CW_TI_MORE:
			return CW_SESS_MORE;
		case CW_TI_NOT_TLS:
			if (skip_preamble(s, side))
				return CW_SESS_MORE;
			s->end_hint = CW_END_NOT_TLS;
			return CW_SESS_ABANDON;
		case CW_TI_BAD:
			s->ev.anomalies |= CW_EVA_BAD_RECORD;
			s->end_hint = CW_END_BAD;
			return CW_SESS_ABANDON;
		case CW_TI_CMP_DIFF:
			if (cmp_restore(s, side, &it) == 0)
				break;
			/* What was matched cannot be held again: as if the cap were reached. */
			s->buf_short = 1;
			/* fall through */
		case CW_TI_FULL:
			s->ev.anomalies |= CW_EVA_CAP;
			cw_reasm_stop(&s->ra[side]);
			/* A server flight larger than the cap still leaves a usable event. */
			if (s->ev.flags & CW_EVF_SH)
				return CW_SESS_DONE;
			s->end_hint = CW_END_BAD;
			return CW_SESS_ABANDON;
		case CW_TI_SSLV2_CH:
			set_client(s, side);
			if (side != s->cli_side || (s->ev.flags & CW_EVF_CH))
				break;
			if (cw_tls_parse_sslv2_hello(it.body, it.len, &ch) != CW_OK) {
				s->ev.anomalies |= CW_EVA_BAD_HELLO;
				s->end_hint = CW_END_BAD;
				return CW_SESS_ABANDON;
			}
			on_client_hello(s, &ch);
			break;
		case CW_TI_HS:
			rc = on_hs_msg(s, side, &it);
			if (rc != CW_SESS_MORE)
				return rc;
			break;
		case CW_TI_RECORD:
			rc = on_record(s, side, &it);
			if (rc != CW_SESS_MORE)
				return rc;
			break;
		default:
			s->end_hint = CW_END_BAD;
			return CW_SESS_ABANDON;
		}
	}
}

/*
 * Would the peer accept a RST or FIN with this sequence number? Only the
 * exact next byte of the sender's stream counts, or a point past data we
 * know is missing or was not kept. Without any reference (no SYN, no data
 * from that side) it is accepted. This stops a third party from ending our
 * view of a handshake with a RST the endpoints themselves ignore.
 */
static int
seq_plausible(const struct cw_reasm *r, uint32_t seq)
{
	int32_t d;

	if (!r->have_base)
		return 1;
	d = (int32_t)(seq - (r->base_seq + r->contig));
	if (d == 0)
		return 1;
	if (d < 0)
		return 0;
	if (r->stopped || r->contig >= r->limit)
		return 1; /* bytes past what we keep are unknown */
	return r->nooo > 0 && (uint32_t)d <= r->ooo[r->nooo - 1].end - r->contig;
}

/* The sequence number of the stream's first byte on an address side, from its SYN. */
static inline uint32_t
isn_next(const struct cw_session *s, int side)
{
	return s->ra[side].base_seq - s->ra[side].dropped;
}

/*
 * A SYN or SYN-ACK from address side `side`: 1 when taken (roles, the
 * side's stream base), 0 when its receiver would not take it, as a TCP does
 * (RFC 9293 3.10.7.3-4):
 * - a SYN-ACK must acknowledge the peer's SYN when that was seen: nothing
 *   before it, nothing past the bytes it carried (TCP Fast Open);
 * - a side's SYN-ACK is taken once: another with another sequence number
 *   comes from someone else, and the client has moved on;
 * - a bare SYN with another sequence number is a new attempt while no
 *   SYN-ACK was taken, and nothing a receiver takes after that.
 * A retransmission (the same sequence number) is taken again, changing
 * nothing. An on-path sender's SYN-ACK with a made-up sequence number would
 * otherwise set the stream base and leave the real server flight outside it.
 */
static int
on_syn(struct cw_session *s, int side, const struct cw_pkt *pkt)
{
	int peer = !side, synack = (pkt->tcp_flags & CW_TCP_ACK) != 0;

	if (synack && (s->syn & (1u << peer))) {
		const struct cw_reasm *r = &s->ra[peer];

		if (pkt->ack - isn_next(s, peer) > r->dropped + r->contig)
			return 0;
	}
	if ((s->syn & (1u << side)) && pkt->seq + 1 != isn_next(s, side)) {
		if (synack || s->cli_side != side || (s->syn & (1u << peer)))
			return 0;
		/* A client's new attempt before any answer: the base moves if nothing is held. */
	}
	set_client(s, synack ? peer : side);
	s->syn |= (uint8_t)(1u << side);
	cw_reasm_set_isn(&s->ra[side], pkt->seq);
	return 1;
}

int
cw_session_packet(struct cw_session *s, const struct cw_pkt *pkt, uint64_t ts_ns)
{
	struct cw_ev_draft *ev;
	unsigned int ra;
	uint32_t seq;
	int side, rc;

	if (s->state == CW_SS_FINISHED)
		return CW_SESS_DONE;
	if (s->state == CW_SS_NEW)
		s->ev.ts_ns = ts_ns;
	side = side_of(s, pkt);
	ev = &s->ev;
	/*
	 * RFC 9293 3.10.7.4, the fifth check: a receiver drops a segment with
	 * none of ACK, RST and SYN, so its bytes must not stand in for the real
	 * ones (the first arrival is kept).
	 */
	if (!(pkt->tcp_flags & (CW_TCP_ACK | CW_TCP_RST | CW_TCP_SYN))) {
		ev->anomalies |= CW_EVA_NO_ACK;
		return CW_SESS_MORE;
	}
	s->ttl[side] = pkt->ttl;

	if (pkt->flags & (CW_PKT_F_IP_OPTIONS | CW_PKT_F_IP6_EXT))
		ev->anomalies |= CW_EVA_IP_OPTS;
	if (pkt->flags & CW_PKT_F_URG)
		ev->anomalies |= CW_EVA_URG;
	if (pkt->flags & CW_PKT_F_TCP_OPTS)
		ev->anomalies |= CW_EVA_TCP_OPTS;
	if (pkt->flags & CW_PKT_F_TCP_SIG)
		ev->anomalies |= CW_EVA_TCP_SIG;

	if ((pkt->tcp_flags & CW_TCP_SYN) && !on_syn(s, side, pkt)) {
		ev->anomalies |= CW_EVA_BAD_SYN;
		return CW_SESS_MORE;
	}

	/* The payload's first byte: a SYN (TCP Fast Open data) takes one sequence number first. */
	seq = pkt->seq + ((pkt->tcp_flags & CW_TCP_SYN) ? 1u : 0u);
	rc = CW_SESS_MORE;
	if (pkt->payload_len > 0) {
		ev->ts_last_ns = ts_ns;
		if (side == s->cli_side)
			ev->cli_bytes += pkt->payload_len;
		else
			ev->srv_bytes += pkt->payload_len;
		if (s->on_demand)
			ensure_buf(s, &s->ra[side], pkt, seq);
		ra = cw_reasm_add(&s->ra[side], seq, pkt->payload, pkt->payload_len);
		if (s->on_demand)
			ra = ooo_table(s, &s->ra[side], pkt, seq, ra);
		/* Bytes compared and dropped are compared again as the reassembly would have. */
		if ((ra & CW_RA_OLD) && s->cmp.single && side != s->cli_side)
			ra |= cw_tls_cmp_old(&s->cmp, seq, pkt->payload, pkt->payload_len);
		ev->anomalies |= ra_anomalies(ra);
		if (ra & CW_RA_NEW) {
			rc = parse_side(s, side);
			if (rc == CW_SESS_MORE && s->on_demand)
				trim(s, side);
		}
	}
	if (rc == CW_SESS_MORE && (pkt->tcp_flags & (CW_TCP_FIN | CW_TCP_RST))) {
		if (!seq_plausible(&s->ra[side], seq + pkt->payload_len)) {
			/* A receiver would drop it (RFC 9293 3.10.7.4, RFC 5961): so do we. */
			ev->anomalies |= CW_EVA_BAD_RST;
			return CW_SESS_MORE;
		}
		if (s->t13 && ev->t13_nrec > 0 && side == s->cli_side) {
			ev->flags |= CW_EVF_CLIENT_ABORT;
			return CW_SESS_DONE;
		}
		s->end_hint = (pkt->tcp_flags & CW_TCP_RST) ? CW_END_RST : CW_END_FIN;
		return CW_SESS_ABANDON;
	}
	return rc;
}

enum cw_end_reason
cw_session_abandon_reason(const struct cw_session *s)
{
	return (enum cw_end_reason)s->end_hint;
}

void
cw_session_finish(struct cw_session *s, enum cw_end_reason why)
{
	struct cw_ev_draft *ev = &s->ev;

	if (s->state == CW_SS_FINISHED)
		return;
	s->state = CW_SS_FINISHED;
	ev->end_reason = (uint8_t)why;
	if (!s->syn)
		ev->flags |= CW_EVF_MIDSTREAM;
	if (s->cli_side < 0)
		s->cli_side = 0; /* roles never became known: side 0 stays the client */
	cw_reasm_stop(&s->ra[0]);
	cw_reasm_stop(&s->ra[1]);
}

void
cw_session_event(const struct cw_session *s, const struct cw_flow_key *key,
		 struct cw_flow_event *o)
{
	const struct cw_ev_draft *d = &s->ev;
	int cs = s->cli_side < 0 ? 0 : s->cli_side;
	/* The client is endpoint a of the key unless its address side is the one b sent. */
	int cli_b = (int)(cs ^ s->side0);

	memset(o, 0, sizeof(*o));
	o->ts_ns = d->ts_ns;
	o->ts_last_ns = d->ts_last_ns;
	memcpy(o->cli_addr, cli_b ? key->b : key->a, sizeof(o->cli_addr));
	memcpy(o->srv_addr, cli_b ? key->a : key->b, sizeof(o->srv_addr));
	o->cli_port = cli_b ? key->pb : key->pa;
	o->srv_port = cli_b ? key->pa : key->pb;
	o->ipver = key->ipver;
	o->cli_ttl = s->ttl[cs];
	o->srv_ttl = s->ttl[!cs];
	o->ch_legacy_version = d->ch_legacy_version;
	o->ch_version = d->ch_version;
	o->sh_legacy_version = d->sh_legacy_version;
	o->sh_version = d->sh_version;
	o->cipher = d->cipher;
	o->end_reason = d->end_reason;
	o->ncerts = d->ncerts;
	o->flags = d->flags;
	o->anomalies = d->anomalies;
	memcpy(o->chain_id, d->chain_id, sizeof(o->chain_id));
	memcpy(o->sni, s->str, s->sni_len);
	o->alpn_len = s->alpn_len;
	memcpy(o->alpn, s->str + s->sni_len, s->alpn_len);
	memcpy(o->alpn_sel, s->str + s->sni_len + s->alpn_len, s->alpn_sel_len);
	if (d->flags & CW_EVF_CH) {
		cw_hex(d->ja3, sizeof(d->ja3), o->ja3);
		memcpy(o->ja4, d->ja4_a, CW_JA4_A_LEN);
		o->ja4[CW_JA4_A_LEN] = '_';
		cw_hex(d->ja4_bc, CW_JA4_HASH_LEN, o->ja4 + CW_JA4_A_LEN + 1);
		o->ja4[CW_JA4_A_LEN + 1 + 2 * CW_JA4_HASH_LEN] = '_';
		cw_hex(d->ja4_bc + CW_JA4_HASH_LEN, CW_JA4_HASH_LEN,
		       o->ja4 + CW_JA4_A_LEN + 2 + 2 * CW_JA4_HASH_LEN);
	}
	if (d->flags & CW_EVF_SH)
		cw_hex(d->ja3s, sizeof(d->ja3s), o->ja3s);
	o->t13_nrec = d->t13_nrec;
	memcpy(o->t13_rec, d->t13_rec, sizeof(o->t13_rec));
	o->t13_bytes = d->t13_bytes;
	o->cli_bytes = d->cli_bytes;
	o->srv_bytes = d->srv_bytes;
}

uint8_t *
cw_session_str_buf(const struct cw_session *s, uint32_t *cap)
{
	if (!s->on_demand || s->str == s->str_in)
		return NULL;
	*cap = s->str_cap;
	return s->str;
}

uint32_t
cw_session_certs(const struct cw_session *s, struct cw_cert_list *cl)
{
	const uint8_t *buf = s->cli_side >= 0 ? s->ra[!s->cli_side].buf : NULL;
	uint32_t off = s->cert_off, len = s->cert_len;

	if (s->cmp.state == CW_CMP_DONE) {
		/* The expected message's bytes, pinned while the certificates are kept. */
		buf = s->cmp.body;
		off = 0;
		len = s->cmp.len;
	}

	/*
	 * The bytes parsed in on_certificate() have not moved relative to the
	 * buffer since (trim() and switch_buf() keep cert_off in step), so the
	 * parse gives the same views again.
	 */
	if (s->ncert == 0 || s->certs_released || buf == NULL ||
	    cw_tls_parse_certificate(buf + off, len,
				     s->cert_cut ? CW_TLS_CERT_PREFIX : 0, cl) != CW_OK) {
		memset(cl->c, 0, sizeof(cl->c));
		cl->n = s->ncert;
	}
	cl->total = s->ev.ncerts;
	return cl->n;
}
