/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-flow handshake driver: both reassembly directions, TLS framing, parsers and the flow event. */
#ifndef CW_SESSION_H
#define CW_SESSION_H

#include <stdint.h>

#include "certref.h"
#include "chain.h"
#include "cw_event.h"
#include "decode.h"
#include "reasm.h"
#include "tls.h"

/* The fingerprints' digests as a session keeps them (struct cw_ev_draft). */
#define CW_JA3_LEN 16     /* MD5 */
#define CW_JA4_A_LEN 10   /* "t13d1516h2" */
#define CW_JA4_HASH_LEN 6 /* each of JA4's two truncated SHA-256 parts */

/*
 * TLS may start after a short clear-text preamble (an HTTP CONNECT exchange,
 * a SOCKS handshake). Up to this many leading segments per side, within the
 * first CW_SESS_PREAMBLE_MAX bytes, are skipped before the content probe
 * gives up. The probe only ever tries segment boundaries.
 */
#define CW_SESS_PREAMBLE_SEGS 4
#define CW_SESS_PREAMBLE_MAX 2048

/* Return values of cw_session_packet(). */
enum cw_sess_rc {
	CW_SESS_MORE = 0, /* keep feeding packets */
	CW_SESS_DONE,     /* handshake complete: call cw_session_finish(CW_END_DONE) */
	CW_SESS_ABANDON,  /* not TLS or malformed: call cw_session_finish(reason) */
};

/* Session states, in the only order they move. */
enum cw_sess_state {
	CW_SS_NEW = 0,   /* no payload yet */
	CW_SS_HS,        /* following the handshake */
	CW_SS_FINISHED,  /* event final; buffers may be released */
};

struct cw_session;

/*
 * Optional observers of the parsed hellos, for offline tools and tests that
 * want more than the event carries (JA3 strings, JA4 raw forms), on
 * sessions with fixed buffers: set in their area (struct cw_sess_area). The
 * views are valid only during the call; a caller that needs its own state
 * embeds the session and finds it from s.
 */
struct cw_session_hooks {
	void (*client_hello)(struct cw_session *s, const struct cw_client_hello *ch);
	void (*server_hello)(struct cw_session *s, const struct cw_server_hello *sh);
};

/*
 * Buffers on demand, for sessions started with cw_session_init_bufs(): a
 * direction gets no buffer until its first payload, then one as large as
 * its bytes so far need, replaced by a larger one when they outgrow it (the
 * session copies what it holds). Such a session also
 * drops from the front of each direction what the parser is done with, and
 * gives a buffer back as soon as nothing is left in it, so a direction holds
 * a buffer only while a record or message spans segments (and, on the
 * server side, while the certificate bytes are kept: until
 * cw_session_release_certs()). get() returns a buffer
 * of at least `need` bytes (at most `limit`) and its size in *cap, or NULL
 * when none is free: the direction then keeps what it has, as if its cap
 * were reached (CW_EVA_CAP). put() takes back a buffer the session no longer
 * uses. A direction also borrows an out-of-order table (ooo_get()) only
 * while it holds data beyond a hole, and gives it back (ooo_put()) as soon
 * as the hole is filled; when none is free (or ooo_get is NULL) the segment
 * is refused as with every slot taken (CW_EVA_OOO_FULL). What is held at the
 * end is the owner's to return (ra[i].buf, ra[i].cap, ra[i].ooo, and
 * cw_session_str_buf()) once it is done with the session's certificates.
 */
struct cw_buf_ops {
	uint8_t *(*get)(void *arg, uint32_t need, uint32_t *cap);
	void (*put)(void *arg, uint8_t *buf, uint32_t cap);
	void *arg;
	uint32_t limit; /* most bytes per direction */
	struct cw_reasm_ooo *(*ooo_get)(void *arg); /* CW_REASM_MAX_OOO ranges, or NULL */
	void (*ooo_put)(void *arg, struct cw_reasm_ooo *t);
	/*
	 * Expected Certificate messages (struct cw_certref), or NULL: a TLS 1.2
	 * server flight whose ClientHello named a server that has an entry is
	 * compared with it as it arrives instead of held (struct cw_tls_cmp),
	 * and every Certificate message parsed whole with a server name is kept
	 * in it. A session pins the entry it uses until its certificates are
	 * released or its owner calls cw_session_unref().
	 */
	struct cw_certref *refs;
};

/*
 * The flow event as a session builds it: the fields of struct cw_flow_event
 * with the same names and meanings, less the three name fields of fixed
 * size, which the session packs instead (see struct cw_session's str), and
 * with the fingerprints as their digests: the event's hex forms are written
 * from them (JA3 and JA3S: the MD5; JA4: its 10-character first part, then
 * the two 6-byte hash prefixes it prints as 12 hex digits each). They are
 * meaningful only with CW_EVF_CH (ja3, ja4) or CW_EVF_SH (ja3s) set. The
 * TTLs, the worker and the sequence number are filled when the event is
 * written out (cw_session_event(), the ring), and so are the endpoints: the
 * owner's flow key has them, and the session keeps only which of the key's
 * endpoints sent its first packet (struct cw_session's side0). 160 bytes
 * instead of 704.
 */
struct cw_ev_draft {
	uint64_t ts_ns;
	uint64_t ts_last_ns;
	uint16_t ch_legacy_version;
	uint16_t ch_version;
	uint16_t sh_legacy_version;
	uint16_t sh_version;
	uint16_t cipher;
	uint8_t end_reason;
	uint32_t flags;
	uint32_t anomalies;
	uint8_t chain_id[16];
	uint8_t ncerts;
	uint8_t t13_nrec;
	uint16_t t13_rec[CW_EV_T13_REC_MAX];
	uint32_t t13_bytes;
	uint32_t cli_bytes, srv_bytes;
	uint8_t ja3[CW_JA3_LEN];
	uint8_t ja3s[CW_JA3_LEN];
	char ja4_a[CW_JA4_A_LEN];
	uint8_t ja4_bc[2 * CW_JA4_HASH_LEN];
};

/*
 * The SNI, the client's ALPN list and the selected protocol, back to back in
 * that order, each as long as it is: at most CW_EV_SNI_MAX - 1,
 * CW_EV_ALPN_MAX and CW_EV_ALPN_SEL_MAX - 1 bytes (the event's own bounds).
 * Up to CW_SESS_STR_INLINE bytes in all they stay inside the session; past
 * that they move to a buffer of CW_SESS_STR_MAX bytes: from the buffer ops
 * (bufs mode; when none is free the names are cut to what fits inline, with
 * CW_EVA_SNI_TRUNC or CW_EVA_ALPN_TRUNC and buf_short set), or the area the
 * caller gave cw_session_init() (fixed mode).
 */
#define CW_SESS_STR_INLINE 64
#define CW_SESS_STR_MAX ((CW_EV_SNI_MAX - 1) + CW_EV_ALPN_MAX + (CW_EV_ALPN_SEL_MAX - 1))

/*
 * What a session with fixed buffers (cw_session_init()) keeps outside
 * itself besides the two buffers: each direction's out-of-order table and
 * the room for names too long for the session.
 */
struct cw_sess_area {
	struct cw_reasm_ooo ooo[2][CW_REASM_MAX_OOO];
	const struct cw_session_hooks *hooks; /* NULL: none */
	uint8_t str[CW_SESS_STR_MAX];
};

/*
 * One flow in handshake. The two buffers belong to the caller (a bounded
 * pool) and must stay valid until cw_session_finish() returns; the
 * certificates are read there, in the Certificate message where it lies in
 * the server side's buffer, until then.
 *
 * Client/server roles: the side that sends a bare SYN is the client (a
 * SYN-ACK names the other side); on a mid-stream pickup, the side whose
 * first handshake message is a ClientHello (or the other side of a
 * ServerHello). State is kept per address side, so nothing depends on the
 * roles being known before the first decisive packet.
 * Only the owning worker thread touches a session.
 */
struct cw_session {
	struct cw_reasm ra[2];         /* indexed by address side, see cli_side */
	struct cw_tls_stream ts[2];    /* indexed by address side */
	uint32_t cert_off, cert_len;   /* the Certificate message body at ra[!cli_side].buf + cert_off */
	/*
	 * The server's expected Certificate message: an entry of bufs->refs
	 * (cw_certref_of(cmp.body)), pinned while cmp.state is not
	 * CW_CMP_NONE; with CW_CMP_DONE the certificates are its bytes, not the
	 * buffer's.
	 */
	struct cw_tls_cmp cmp;
	struct cw_ev_draft ev;         /* filled as the handshake progresses */
	uint8_t *str;                  /* sni, alpn, alpn_sel: str_in, or the buffer described above */
	uint32_t str_cap;              /* bytes at str */
	uint8_t sni_len, alpn_len, alpn_sel_len;
	uint8_t str_in[CW_SESS_STR_INLINE];
	/*
	 * Address side 0 is the sender of the first packet: endpoint a of the
	 * flow key (cw_flow_key_make()) when side0 is 0, else endpoint b. A
	 * segment's side is cw_pkt_side() ^ side0.
	 */
	int8_t cli_side;               /* -1 unknown, else the address side that is the TCP client */
	uint8_t side0;
	uint8_t state;                 /* enum cw_sess_state */
	uint8_t syn;                   /* bit side: that address side's SYN taken (on_syn()) */
	uint8_t t13;                   /* TLS 1.3 ServerHello seen: counting encrypted flight */
	uint8_t t13_fin;               /* the server's Finished record was recognised: flight complete */
	uint8_t hrr;                   /* HelloRetryRequest seen: a second ClientHello is legal */
	uint8_t end_hint;              /* enum cw_end_reason to use on CW_SESS_ABANDON */
	uint8_t ttl[2];                /* per address side */
	uint8_t preamble_segs[2];      /* non-TLS segments skipped before TLS, per side */
	uint8_t ncert;                 /* certificates cw_session_certs() gives */
	uint8_t buf_short;             /* bufs could not supply a buffer: bytes were cut */
	uint8_t certs_released;        /* cw_session_release_certs(): the DER is gone */
	uint8_t on_demand : 1;         /* buffers from bufs (cw_session_init_bufs()), else area's */
	uint8_t cert_cut : 1;          /* the Certificate message is held only in part (CW_TLS_CERT_PREFIX) */
	/*
	 * The ClientHello's session id, for resumption detection: its length
	 * (0: none, or none a server could echo) and its XXH3-64, which the
	 * ServerHello's echo is compared with. A Certificate after the echo
	 * clears CW_EVF_RESUMED (an abbreviated handshake has none), so a forged
	 * colliding id hides nothing.
	 */
	uint8_t ch_sid_len;
	uint64_t ch_sid_hash;
	union {
		const struct cw_buf_ops *bufs; /* on_demand */
		struct cw_sess_area *area;     /* else: the caller's (may be NULL) */
	};
};

/*
 * Prepare a session; the two buffers (cap bytes each) serve address sides 0
 * and 1, and area holds their out-of-order tables and names too long for
 * the session. All three stay the caller's.
 */
void cw_session_init(struct cw_session *s, uint8_t *buf0, uint8_t *buf1, uint32_t cap,
		     struct cw_sess_area *area);

/* Prepare a session whose buffers come from ops, on demand (see struct cw_buf_ops). */
void cw_session_init_bufs(struct cw_session *s, const struct cw_buf_ops *ops);

/*
 * A segment of this flow the caller drops unseen, for a reason a receiver
 * drops it too (a wrong checksum: CW_EVA_BAD_CSUM): noted on the event.
 */
static inline void
cw_session_note(struct cw_session *s, uint32_t anomaly)
{
	s->ev.anomalies |= anomaly;
}

/* Feed one decoded TCP segment of this flow, in capture order. */
int cw_session_packet(struct cw_session *s, const struct cw_pkt *pkt, uint64_t ts_ns);

/*
 * The owner no longer needs the certificate bytes (the chain id is already in
 * ev.chain_id, computed when the Certificate message was parsed):
 * cw_session_certs() gives NULL views of length 0 from then on (the count
 * stays) and, with buffers on demand, the bytes are dropped.
 */
void cw_session_release_certs(struct cw_session *s);

/*
 * The owner is done with the session (its event written, its certificates
 * no longer read): the expected Certificate message it pinned, if any, is
 * let go. Call before the session is reused.
 */
void cw_session_unref(struct cw_session *s);

/*
 * The server's certificates as views, leaf first (cl->n of them, at most
 * CW_TLS_MAX_CERTS; cl->total: as many as the message held, up to 255), or
 * views with p == NULL and len 0 once released. The Certificate message is
 * parsed again where it lies (only its place is kept). Valid while the
 * session's buffers are and no packet is fed. Returns cl->n.
 */
uint32_t cw_session_certs(const struct cw_session *s, struct cw_cert_list *cl);

/*
 * Finalise the event (idempotent): records the end reason. After it, s->ev
 * is complete and the certificates stay readable (unless released) until
 * the buffers are released.
 */
void cw_session_finish(struct cw_session *s, enum cw_end_reason why);

/*
 * Write the session's event as the ring carries it: every field of the
 * draft, the names unpacked, the TTLs, and the endpoints from key, the flow
 * key (cw_flow_key_make()) of the segments fed; worker and seq are left 0.
 * Complete after cw_session_finish(); before it, what is known so far.
 */
void cw_session_event(const struct cw_session *s, const struct cw_flow_key *key,
		      struct cw_flow_event *out);

/* The buffer the names moved to in bufs mode (its size in *cap), for the owner to return; or NULL. */
uint8_t *cw_session_str_buf(const struct cw_session *s, uint32_t *cap);

/* Map a session return/abandon to the end reason it implies. */
enum cw_end_reason cw_session_abandon_reason(const struct cw_session *s);

#endif /* CW_SESSION_H */
