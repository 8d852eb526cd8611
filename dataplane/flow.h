/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-worker flow table (canonical 5-tuple -> flow state) and the bounded handshake-session pool. */
#ifndef DP_FLOW_H
#define DP_FLOW_H

#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>

/* The finished-flow cache's keyed hash, inlined into the burst loop (the package's header). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "session.h"

/*
 * The flow table's key: the canonical 5-tuple padded from 40 to 48 bytes. rte_hash stores each
 * key behind an 8-byte data pointer in 16-byte steps, so a 40-byte key takes a 48-byte slot and
 * half the slots straddle two cache lines; a 48-byte key takes exactly one 64-byte line. At
 * 1 M to 10 M flows, where every lookup misses the cache, that is 13-20 % fewer cycles per
 * packet (BENCHMARKS.md, "Cost per packet as concurrent flows grow"). pad is always zero, so
 * the hash and the compare cover the 40 bytes of the 5-tuple.
 */
struct dp_flow_key {
	struct cw_flow_key k;
	uint64_t pad;
};

_Static_assert(sizeof(struct dp_flow_key) == 48, "one 64-byte rte_hash key slot");

static inline void
dp_flow_key_make(struct dp_flow_key *k, const struct cw_pkt *pkt)
{
	cw_flow_key_make(&k->k, pkt);
	k->pad = 0;
}

/*
 * The dispatcher's hash of a key: CRC32-C over the five 8-byte words of its 5-tuple, equal to
 * rte_hash_crc(key, 40, 0), the same in every process and run (--replay splits a capture by
 * it). A worker's table and cache use a keyed hash instead (dp_flow_hash128()).
 */
static inline uint32_t
dp_flow_key_hash(const struct dp_flow_key *k)
{
	uint64_t w[5];
	uint32_t h = 0;

	memcpy(w, &k->k, sizeof(w));
	h = rte_hash_crc_8byte(w[0], h);
	h = rte_hash_crc_8byte(w[1], h);
	h = rte_hash_crc_8byte(w[2], h);
	h = rte_hash_crc_8byte(w[3], h);
	return rte_hash_crc_8byte(w[4], h);
}

/*
 * Which of nw workers follows the TCP segment pkt: its flow key's hash scaled to nw, the same
 * for both directions. The dispatcher's rule, and --replay's when it splits a capture.
 */
static inline uint32_t
dp_flow_worker(const struct cw_pkt *pkt, uint32_t nw)
{
	struct dp_flow_key key;

	dp_flow_key_make(&key, pkt);
	return (uint32_t)(((uint64_t)dp_flow_key_hash(&key) * nw) >> 32);
}

/*
 * The flow table's rte_hash holds no data: a key's position is its entry's index. Finished flows
 * are counted from the finished-flow cache (below), whose times are in units of 2^DP_FLOW_T_UNIT
 * ns.
 */
#define DP_FLOW_T_UNIT 20 /* log2 of the time unit in ns */
#define DP_FLOW_MAX (1u << 28) /* most entries a table can have */

/* Action bits: a flow only loses them. No bit left: later packets are counted from the cache. */
#define DP_ACT_PROBE 0x01   /* no hello seen yet */
#define DP_ACT_PARSE 0x02   /* feed segments to the session */
#define DP_ACT_DELIVER 0x04 /* an event is still owed */
#define DP_ACT_ALL (DP_ACT_PROBE | DP_ACT_PARSE | DP_ACT_DELIVER)

/* A handshake context from the worker's pool; its directions draw buffers from the pool's classes. */
struct dp_sess {
	struct cw_session s;
	uint32_t idx;          /* position in the pool */
	uint8_t chain_checked; /* the chain table was asked once the certificates were parsed */
	uint8_t pad[3];
};

/* dp_flow.syn bits, per canonical side (0: key.a, 1: key.b). */
#define DP_SYN_SEEN(side) (0x1u << (side))
#define DP_SYN_ACK(side) (0x4u << (side))

/* dp_flow.notes bits: anomalies before the first payload, given to the session when taken. */
#define DP_NOTE_BAD_RST 0x1u /* a FIN or RST its receiver would drop: ignored (CW_EVA_BAD_RST) */
#define DP_NOTE_NO_ACK 0x2u  /* a segment with none of ACK, RST, SYN: ignored (CW_EVA_NO_ACK) */
#define DP_NOTE_IP_FRAG 0x4u /* a first IP fragment of the flow (CW_EVA_IP_FRAG) */
#define DP_NOTE_BAD_SYN 0x8u /* a SYN or SYN-ACK its receiver would not take (CW_EVA_BAD_SYN) */

/*
 * Flow state, 64 bytes. Indexed by the position rte_hash returns for the
 * key, so the key itself lives only in the hash. Only the owning worker
 * reads or writes it.
 * A session is taken from the pool only when the first payload arrives
 * (and a reassembly buffer only while a direction's bytes need one): until then the SYN/SYN-ACK sequence numbers
 * wait here, so a SYN flood holds table entries but no sessions.
 * Invariants: used == 0 -> every other field is meaningless;
 * sess != NULL -> actions & DP_ACT_PARSE; actions == 0 -> sess == NULL;
 * dtag != 0 -> actions == 0 (the finished-flow cache may then stand in for the entry).
 */
struct dp_flow {
	uint64_t first_ns;    /* time of the first packet */
	uint64_t last_ns;     /* time of the last packet */
	uint64_t progress_ns; /* time of the last packet that advanced the handshake, 0 = none */
	struct dp_sess *sess;
	uint32_t isn[2];      /* SYN sequence numbers by canonical side, valid per `syn` */
	uint8_t used;
	uint8_t actions;      /* DP_ACT_* */
	uint8_t syn;          /* DP_SYN_* */
	uint8_t notes;        /* DP_NOTE_*: what the flow's event must say, seen before its session */
	uint32_t dbkt;        /* finished-flow cache bucket of the key, valid when dtag != 0 */
	uint64_t dtag;        /* the key's tag there since the flow was put in the cache, 0 = never */
	uint8_t pad[8];
} __rte_aligned(64);


_Static_assert(sizeof(struct dp_flow) == 64, "flow entry is one cache line");

/*
 * The finished-flow cache, in front of the table: 64-byte buckets of DP_DONE_WAYS finished flows
 * each, found by a 128-bit XXH3 of the 5-tuple keyed with a secret drawn at start
 * (dp_flow_tag()): 32 bits of it choose the bucket, 32 are the table's rte_hash signature, and
 * the other 64 (bit 0 set) are the flow's tag in the bucket.
 * - A packet whose tag is in its bucket with a time within refresh_ns is a finished flow's,
 *   counted from that one line: no rte_hash lookup (two buckets, then the key slot: two
 *   dependent misses once the table outgrows the caches) and no entry.
 * - A tag stands for the whole key: two flows share one with probability 2^-64 per pair in a
 *   bucket, and the secret keeps anyone from choosing 5-tuples that do.
 * - A finished flow enters the cache when a packet reads its entry and finds it finished, with
 *   that time. Every refresh_ns such a packet reads the entry again, moves last_ns and renews
 *   the time: last_ns lags a finished flow's last packet by less than refresh_ns, and its idle
 *   timeout counts from last_ns + refresh_ns.
 * - The cache holds what it can: a full bucket replaces its oldest way, and a finished flow that
 *   is not there is found by the table. A flow's way is dropped when it is removed or restarts.
 * Bound: one bucket per two entries of the table (rounded up to a power of two): 32-64 B per
 * entry.
 */
#define DP_DONE_WAYS 4

struct dp_done_bucket {
	uint64_t tag[DP_DONE_WAYS]; /* 0: empty way */
	uint64_t t[DP_DONE_WAYS];   /* when the flow's entry was last read, units of 2^DP_FLOW_T_UNIT ns */
} __rte_aligned(64);

_Static_assert(sizeof(struct dp_done_bucket) == 64, "one cache line per bucket");

/* The process's secret for dp_flow_tag(), drawn once by dp_flow_table_init(). */
extern uint8_t dp_flow_secret[XXH3_SECRET_DEFAULT_SIZE];

/*
 * One worker's table: rte_hash created without concurrency flags (one
 * writer and reader: the worker) and with the extendable bucket table, so
 * every one of `n` entries can be used. Bounded to n flows: when full, a
 * victim is evicted (dp_flow_victim()).
 * Timers: `hand` walks positions; every call of the expiry scan looks at a
 * fixed number of positions, so a full sweep takes n / DP_EXPIRE_BATCH
 * loop iterations.
 */
struct dp_flow_table {
	struct rte_hash *h;
	struct dp_flow *f; /* [n] */
	struct dp_done_bucket *dc; /* [dc_mask + 1]: the finished-flow cache */
	uint32_t dc_mask;
	uint32_t n;
	uint32_t used;
	uint32_t hand;      /* expiry scan position */
	uint32_t evict_hand;
	uint32_t removed;   /* entries removed so far: a change invalidates positions looked up earlier */
	uint32_t added;     /* entries added so far: a change may turn an earlier lookup miss into a hit */
	uint64_t idle_ns;
	uint64_t hs_ns;
	uint64_t refresh_ns; /* a finished flow's entry is read again after this long (cache above) */
	uint64_t refresh_u;  /* the same in units of 2^DP_FLOW_T_UNIT ns */
};

/*
 * The keyed hash of a key: the cache's tag, its bucket and the table's rte_hash signature.
 * An IPv4 key's addresses are 4 bytes each, the other 12 bytes of both fields zero (the decoder
 * writes them so): such a key is hashed as 16 bytes (both addresses, then the fifth word:
 * ports and version), which XXH3 takes in its 9-16 byte path, about half the instructions of
 * its 17-128 byte path that the 40 bytes take. The 16 bytes stand for the whole key, so the
 * hash stays a function of the key, and keys of other forms take the 40-byte path.
 */
static inline XXH128_hash_t
dp_flow_hash128(const struct dp_flow_key *k)
{
	uint64_t w[5];

	memcpy(w, &k->k, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if ((w[0] >> 32 | w[1] | w[2] >> 32 | w[3]) == 0 && k->k.ipver == 4) {
		uint64_t v[2] = {(w[0] & 0xffffffffu) | w[2] << 32, w[4]};

		return XXH3_128bits_withSecret(v, sizeof(v), dp_flow_secret, sizeof(dp_flow_secret));
	}
#endif
	return XXH3_128bits_withSecret(w, sizeof(w), dp_flow_secret, sizeof(dp_flow_secret));
}

/* The table's rte_hash signature of hash h: its top 32 bits (dp_flow_tag() uses the rest). */
static inline uint32_t
dp_flow_sig(XXH128_hash_t h)
{
	return (uint32_t)(h.high64 >> 32);
}

/* The finished-flow cache's tag of a key (never 0), and in *bkt its bucket, in *sig its signature. */
static inline uint64_t
dp_flow_tag(const struct dp_flow_table *ft, const struct dp_flow_key *k, uint32_t *bkt,
	    uint32_t *sig)
{
	XXH128_hash_t h = dp_flow_hash128(k);

	*bkt = (uint32_t)h.high64 & ft->dc_mask;
	*sig = dp_flow_sig(h);
	return h.low64 | 1;
}

static inline void
dp_done_prefetch(const struct dp_flow_table *ft, uint32_t bkt)
{
	rte_prefetch0(&ft->dc[bkt]);
}

/* Is the flow of tag in bucket bkt in the cache, and was its entry read within refresh_ns of ts? */
static inline int
dp_done_fresh(const struct dp_flow_table *ft, uint32_t bkt, uint64_t tag, uint64_t ts)
{
	const struct dp_done_bucket *b = &ft->dc[bkt];
	unsigned int w;

	for (w = 0; w < DP_DONE_WAYS; w++)
		if (b->tag[w] == tag)
			return (ts >> DP_FLOW_T_UNIT) - b->t[w] < ft->refresh_u;
	return 0;
}

/*
 * Put finished flow f (tag in bucket bkt) in the cache with its entry read at ts: its own way, an
 * empty one, or the oldest (then *replaced is incremented).
 */
static inline void
dp_done_put(struct dp_flow_table *ft, struct dp_flow *f, uint32_t bkt, uint64_t tag, uint64_t ts,
	    uint64_t *replaced)
{
	struct dp_done_bucket *b = &ft->dc[bkt];
	unsigned int w, v = DP_DONE_WAYS, old = 0;

	for (w = 0; w < DP_DONE_WAYS; w++) {
		if (b->tag[w] == tag) {
			v = w;
			break;
		}
		if (b->tag[w] == 0)
			v = v == DP_DONE_WAYS ? w : v;
		else if (b->t[w] < b->t[old])
			old = w;
	}
	if (v == DP_DONE_WAYS) {
		v = old;
		(*replaced)++;
	}
	b->tag[v] = tag;
	b->t[v] = ts >> DP_FLOW_T_UNIT;
	f->dbkt = bkt;
	f->dtag = tag;
}

/* Take finished flow f out of the cache (it is removed or restarts). */
static inline void
dp_done_drop(struct dp_flow_table *ft, struct dp_flow *f)
{
	struct dp_done_bucket *b;
	unsigned int w;

	if (f->dtag == 0)
		return;
	b = &ft->dc[f->dbkt];
	for (w = 0; w < DP_DONE_WAYS; w++)
		if (b->tag[w] == f->dtag)
			b->tag[w] = 0;
	f->dtag = 0;
}

#define DP_EXPIRE_BATCH 64 /* positions the expiry scan looks at per loop iteration */
#define DP_EVICT_SCAN 32   /* used entries examined to choose an eviction victim */

/*
 * Reassembly buffers in size classes, taken by a direction when its bytes
 * first need one and exchanged for a larger class when they outgrow it
 * (struct cw_buf_ops): a ClientHello or the partial record a server flight
 * leaves between segments fits one of the small classes (1.5 KiB: the rest
 * of one full 1460 B segment, the usual wait for a Certificate record's second
 * segment), a server's whole certificate flight the 8 KiB one, and only
 * flights beyond that hold a buffer of the full cap. Fixed classes, per
 * session: 2 x 512 B, 1 x 1 KiB, 1 x 1.5 KiB, 2 x 2 KiB, 1 x 8 KiB (those
 * below the cap), then `big` buffers of the cap.
 * Each class is one block of n equal buffers with a LIFO stack of free ones,
 * so a buffer's class is known from its address. When the class a direction
 * needs is empty, a larger one serves: both directions of every session can
 * always get 2 KiB. When every larger one is empty too, get fails and the
 * direction keeps what it has (the flow is counted as reasm_buf_short; its
 * event gets CW_EVA_CAP).
 */
#define DP_BUF_CLASSES 6 /* the fixed classes (flow.c) and the cap's */

struct dp_buf_class {
	uint8_t *mem;    /* [n * size] */
	uint8_t **free;  /* [n] LIFO of free buffers */
	uint32_t size;
	uint32_t n;
	uint32_t nfree;
};

/*
 * Bounded session pool: n contexts, and the buffer classes their
 * directions draw from. free[0..nfree) is a LIFO stack of free indexes (the
 * most recently freed, cache-warm context is reused first). Owning worker
 * only.
 */
struct dp_sess_pool {
	struct dp_sess *s; /* [n] */
	uint32_t *free;    /* [n] */
	uint32_t n;
	uint32_t nfree;
	uint32_t nclass;
	struct dp_buf_class cls[DP_BUF_CLASSES];
	/*
	 * Out-of-order tables, lent to a direction only while it holds data beyond a hole:
	 * one per session (half the directions). None free: the segment is refused,
	 * ooo_short, and the event gets CW_EVA_OOO_FULL.
	 */
	struct cw_reasm_ooo (*ooo)[CW_REASM_MAX_OOO]; /* [n] */
	struct cw_reasm_ooo **ooo_free;                 /* [n] LIFO of free tables */
	uint32_t ooo_nfree;
	uint32_t peak_ooo;       /* most tables lent at once */
	uint64_t ooo_short;      /* tables asked for when none was free */
	struct cw_buf_ops ops; /* every session's buffer ops: dp_buf_get/put on this pool */
	/* Gauges for sizing --sessions and --reasm-big (read unlocked by telemetry). */
	uint32_t peak_sessions;  /* most sessions in use at once */
	uint64_t buf_bytes;      /* bytes of the buffers taken now */
	uint64_t peak_buf_bytes; /* most buffer bytes taken at once */
};

int dp_flow_table_init(struct dp_flow_table *ft, const char *name, uint32_t n, int socket,
		       uint32_t idle_s, uint32_t hs_s);
void dp_flow_table_free(struct dp_flow_table *ft);
/* Bytes of the finished-flow cache of a table of n entries. */
uint64_t dp_flow_done_bytes(uint32_t n);

/* Counts per class for n sessions and `big` buffers of the full cap. */
int dp_sess_pool_init(struct dp_sess_pool *p, uint32_t n, uint32_t cap, uint32_t big, int socket);
void dp_sess_pool_free(struct dp_sess_pool *p);

/* Bytes a pool of these parameters reserves: sessions and buffers. */
uint64_t dp_sess_pool_bytes(uint32_t n, uint32_t cap, uint32_t big);

static inline struct dp_sess *
dp_sess_get(struct dp_sess_pool *p)
{
	struct dp_sess *s;

	if (p->nfree == 0)
		return NULL;
	s = &p->s[p->free[--p->nfree]];
	if (p->n - p->nfree > p->peak_sessions)
		p->peak_sessions = p->n - p->nfree;
	cw_session_init_bufs(&s->s, &p->ops);
	s->chain_checked = 0;
	return s;
}

void dp_buf_put(void *arg, uint8_t *buf, uint32_t cap);
void dp_ooo_put(void *arg, struct cw_reasm_ooo *t);

/* Bytes held now by the sessions in use and the buffers and out-of-order tables taken; *sessions: sessions in use. */
static inline uint64_t
dp_sess_pool_in_use(const struct dp_sess_pool *p, uint32_t *sessions)
{
	*sessions = p->n - p->nfree;
	return (uint64_t)*sessions * sizeof(struct dp_sess) + p->buf_bytes +
	       (uint64_t)(p->n - p->ooo_nfree) * sizeof(*p->ooo);
}

/* Back to the pool, with whatever buffers the session's directions and names hold. */
static inline void
dp_sess_put(struct dp_sess_pool *p, struct dp_sess *s)
{
	uint32_t cap;
	uint8_t *str = cw_session_str_buf(&s->s, &cap);

	cw_session_unref(&s->s);
	for (int i = 0; i < 2; i++) {
		if (s->s.ra[i].buf != NULL)
			dp_buf_put(p, s->s.ra[i].buf, s->s.ra[i].cap);
		if (s->s.ra[i].ooo != NULL)
			dp_ooo_put(p, s->s.ra[i].ooo);
	}
	if (str != NULL)
		dp_buf_put(p, str, cap);
	p->free[p->nfree++] = s->idx;
}

/*
 * Choose an eviction victim among DP_EVICT_SCAN used entries from the
 * eviction hand: a finished flow first, then the flow with the oldest
 * handshake progress (never progressed counts as oldest), ties by the
 * oldest last packet. Returns the position or -1 (empty table).
 * *reason receives DP_C_EVICT_DONE / _STALLED / _ACTIVE.
 * "Stalled" means no handshake progress for at least a quarter of the
 * handshake timeout.
 */
int32_t dp_flow_victim(struct dp_flow_table *ft, uint64_t now, unsigned int *reason);

#endif /* DP_FLOW_H */
