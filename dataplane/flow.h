/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-worker flow table (canonical 5-tuple -> flow state) and the bounded handshake-session pool. */
#ifndef DP_FLOW_H
#define DP_FLOW_H

#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

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
 * The flow table's hash of a key: CRC32-C over the five 8-byte words of its 5-tuple, equal to
 * rte_hash_crc(key, 40, 0). The table is created with it (dp_flow_table_init), and the burst
 * loop computes it inline for rte_hash_lookup_with_hash_bulk_data() instead of a call per key.
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
 * The rte_hash data of a flow-table key (64 bits): the entry's position (bits 0-27), whether
 * the flow was finished when a packet last read its entry (bit 28), and that time in units of
 * 2^20 ns, modulo 2^35 (bits 29-63). The lookup reads the key slot that holds the data
 * anyway, so a packet of a finished flow whose time is recent (within refresh_ns) is counted
 * from the lookup alone, without reading its entry: one random cache line less per packet of
 * the bulk of established flows. Every refresh_ns such a packet reads the entry again, moves
 * last_ns and rewrites the data: last_ns lags a finished flow's last packet by less than
 * refresh_ns, and its idle timeout counts from last_ns + refresh_ns.
 */
#define DP_FLOW_POS_BITS 28
#define DP_FLOW_POS_MASK ((1ull << DP_FLOW_POS_BITS) - 1)
#define DP_FLOW_DONE (1ull << DP_FLOW_POS_BITS)
#define DP_FLOW_T_SHIFT (DP_FLOW_POS_BITS + 1)
#define DP_FLOW_T_UNIT 20 /* log2 of the time unit in ns */
#define DP_FLOW_MAX (1u << DP_FLOW_POS_BITS) /* most entries a table can have */

static inline uint64_t
dp_flow_data(uint32_t pos, int done, uint64_t ns)
{
	return (uint64_t)pos | (done ? DP_FLOW_DONE : 0) |
	       ((ns >> DP_FLOW_T_UNIT) << DP_FLOW_T_SHIFT);
}

/* Action bits: a flow only loses them. No bit left: a later packet costs one lookup. */
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

/*
 * Flow state, 64 bytes. Indexed by the position rte_hash returns for the
 * key, so the key itself lives only in the hash. Only the owning worker
 * reads or writes it.
 * A session is taken from the pool only when the first payload arrives
 * (and a reassembly buffer only while a direction's bytes need one): until then the SYN/SYN-ACK sequence numbers
 * wait here, so a SYN flood holds table entries but no sessions.
 * Invariants: used == 0 -> every other field is meaningless;
 * sess != NULL -> actions & DP_ACT_PARSE; actions == 0 -> sess == NULL;
 * hdone != 0 -> actions == 0 (the key's data may then stand in for the entry).
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
	uint8_t hdone;        /* the key's rte_hash data says finished (dp_flow_data) */
	uint8_t pad[20];
} __rte_aligned(64);


_Static_assert(sizeof(struct dp_flow) == 64, "flow entry is one cache line");

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
	uint32_t n;
	uint32_t used;
	uint32_t hand;      /* expiry scan position */
	uint32_t evict_hand;
	uint32_t removed;   /* entries removed so far: a change invalidates positions looked up earlier */
	uint32_t added;     /* entries added so far: a change may turn an earlier lookup miss into a hit */
	uint64_t idle_ns;
	uint64_t hs_ns;
	uint64_t refresh_ns; /* a finished flow's entry is read again after this long (dp_flow_data) */
	uint64_t refresh_u;  /* the same in units of 2^DP_FLOW_T_UNIT ns */
};

/*
 * May a packet at ts of a flow whose key has data d be counted from the lookup alone? Its flow
 * was finished and its entry read within refresh_ns (time modulo 2^35 units; a time before the
 * one recorded wraps to a large difference: the entry is read).
 */
static inline int
dp_flow_done_fresh(const struct dp_flow_table *ft, uint64_t d, uint64_t ts)
{
	uint64_t now_u = (ts >> DP_FLOW_T_UNIT) << DP_FLOW_T_SHIFT;

	return (d & DP_FLOW_DONE) &&
	       ((now_u - (d & ~(DP_FLOW_POS_MASK | DP_FLOW_DONE))) >> DP_FLOW_T_SHIFT) < ft->refresh_u;
}

#define DP_EXPIRE_BATCH 64 /* positions the expiry scan looks at per loop iteration */
#define DP_EVICT_SCAN 32   /* used entries examined to choose an eviction victim */

/*
 * Reassembly buffers in size classes, taken by a direction when its bytes
 * first need one and exchanged for a larger class when they outgrow it
 * (struct cw_buf_ops): a ClientHello fits the smallest class, a server's
 * certificate flight usually the middle one, and only flights beyond that
 * hold a buffer of the full cap. Each class is one block of n equal buffers
 * with a LIFO stack of free ones, so a buffer's class is known from its
 * address. When the class a direction needs is empty, a larger one serves;
 * when every larger one is empty too, get fails and the direction keeps what
 * it has (the flow is counted as reasm_buf_short; its event gets CW_EVA_CAP).
 */
#define DP_BUF_CLASSES 3
#define DP_BUF_SMALL 2048u  /* class 0: bytes per buffer (or the cap when smaller) */
#define DP_BUF_MID 8192u    /* class 1 */

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
	struct cw_buf_ops ops; /* every session's buffer ops: dp_buf_get/put on this pool */
	/* Gauges for sizing --sessions and --reasm-big (read unlocked by telemetry). */
	uint32_t peak_sessions;  /* most sessions in use at once */
	uint64_t buf_bytes;      /* bytes of the buffers taken now */
	uint64_t peak_buf_bytes; /* most buffer bytes taken at once */
};

int dp_flow_table_init(struct dp_flow_table *ft, const char *name, uint32_t n, int socket,
		       uint32_t idle_s, uint32_t hs_s);
void dp_flow_table_free(struct dp_flow_table *ft);

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

/* Bytes held now by the sessions in use and by the buffers taken; *sessions: sessions in use. */
static inline uint64_t
dp_sess_pool_in_use(const struct dp_sess_pool *p, uint32_t *sessions)
{
	*sessions = p->n - p->nfree;
	return (uint64_t)*sessions * sizeof(struct dp_sess) + p->buf_bytes;
}

/* Back to the pool, with whatever buffers the session's directions hold. */
static inline void
dp_sess_put(struct dp_sess_pool *p, struct dp_sess *s)
{
	for (int i = 0; i < 2; i++)
		if (s->s.ra[i].buf != NULL)
			dp_buf_put(p, s->s.ra[i].buf, s->s.ra[i].cap);
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
