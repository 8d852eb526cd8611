/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-worker flow table (canonical 5-tuple -> flow state) and the bounded handshake-session pool. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>

#include <rte_debug.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "dp.h"
#include "flow.h"

/*
 * The table's hash and key compare, specialised for the 48-byte key (40 bytes of 5-tuple, then
 * zero): the hash is the keyed XXH3 of the burst loop (dp_flow_sig() in flow.h), so no one can
 * choose 5-tuples that share buckets, and rte_hash's memcmp() (it has vector compares only for
 * multiples of 16 bytes) costs more than five word compares.
 */
static uint32_t
dp_flow_hash(const void *key, uint32_t len, uint32_t init)
{
	RTE_SET_USED(len);
	RTE_SET_USED(init); /* always 0: hash_func_init_val below */
	return dp_flow_sig(dp_flow_hash128(key));
}

static int
dp_flow_key_cmp(const void *a, const void *b, size_t len)
{
	uint64_t x[5], y[5];

	RTE_SET_USED(len);
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) != 0;
}

_Static_assert(sizeof(struct cw_flow_key) == 5 * sizeof(uint64_t), "dp_flow_key_hash reads 5 words");
_Static_assert(offsetof(struct dp_flow_key, k) == 0, "the 5-tuple leads the key");

uint8_t dp_flow_secret[XXH3_SECRET_DEFAULT_SIZE];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static int secret_rc;

/* Draw the finished-flow cache's secret: 32 random bytes stretched by XXH3_generateSecret(). */
static void
secret_init(void)
{
	uint8_t seed[32];

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
	    XXH3_generateSecret(dp_flow_secret, sizeof(dp_flow_secret), seed, sizeof(seed)) != XXH_OK)
		secret_rc = -EIO;
	memset(seed, 0, sizeof(seed));
}

static uint32_t
done_buckets(uint32_t n)
{
	return rte_align32pow2(n / 2 > 0 ? n / 2 : 1);
}

uint64_t
dp_flow_done_bytes(uint32_t n)
{
	return (uint64_t)done_buckets(n) * sizeof(struct dp_done_bucket);
}

int
dp_flow_table_init(struct dp_flow_table *ft, const char *name, uint32_t n, int socket,
		   uint32_t idle_s, uint32_t hs_s)
{
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = n,
		.key_len = sizeof(struct dp_flow_key),
		.hash_func = dp_flow_hash,
		.hash_func_init_val = 0,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};

	memset(ft, 0, sizeof(*ft));
	if (n > DP_FLOW_MAX)
		return -EINVAL;
	pthread_once(&secret_once, secret_init);
	if (secret_rc != 0)
		return secret_rc;
	ft->h = rte_hash_create(&hp);
	if (ft->h == NULL)
		/* rte_hash reports a failed memzone reservation as ENOENT: it is memory. */
		return rte_errno == EEXIST || rte_errno == EINVAL ? -rte_errno : -ENOMEM;
	rte_hash_set_cmp_func(ft->h, dp_flow_key_cmp);
	ft->f = rte_zmalloc_socket("dp_flows", (size_t)n * sizeof(struct dp_flow),
				   RTE_CACHE_LINE_SIZE, socket);
	if (ft->f == NULL)
		goto err_hash;
	ft->dc = rte_zmalloc_socket("dp_done", dp_flow_done_bytes(n), RTE_CACHE_LINE_SIZE, socket);
	if (ft->dc == NULL)
		goto err_flows;
	ft->dc_mask = done_buckets(n) - 1;
	ft->n = n;
	ft->idle_ns = (uint64_t)idle_s * 1000000000ull;
	ft->hs_ns = (uint64_t)hs_s * 1000000000ull;
	ft->refresh_ns = ft->idle_ns / 8;
	ft->refresh_u = ft->refresh_ns >> DP_FLOW_T_UNIT;
	return 0;

err_flows:
	rte_free(ft->f);
	ft->f = NULL;
err_hash:
	rte_hash_free(ft->h);
	ft->h = NULL;
	return -ENOMEM;
}

void
dp_flow_table_free(struct dp_flow_table *ft)
{
	rte_free(ft->dc);
	rte_free(ft->f);
	rte_hash_free(ft->h);
	memset(ft, 0, sizeof(*ft));
}

/*
 * Fixed classes below the cap: bytes per buffer, and buffers per session.
 * Sized to what a flow in handshake holds (BENCHMARKS.md, "Memory per flow in
 * handshake"): mostly one partial record of a few hundred bytes between a
 * server flight's segments, or the rest of a full-sized first segment (at
 * most 1460 B with a 1500 B MTU: 1.5 KiB, not 2). The 2 KiB and 8 KiB counts
 * are those of the two classes alone, so any mix that found buffers then
 * still finds them; the small classes add 3.5 KiB of reserve per session.
 */
static const struct {
	uint32_t size, per_sess;
} buf_fixed[DP_BUF_CLASSES - 1] = {{512, 2}, {1024, 1}, {1536, 1}, {2048, 2}, {8192, 1}};

/* Class sizes for a cap: the fixed classes below the cap, then the cap itself. */
static uint32_t
buf_classes(uint32_t n, uint32_t cap, uint32_t big, uint32_t size[DP_BUF_CLASSES],
	    uint32_t count[DP_BUF_CLASSES])
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < DP_BUF_CLASSES - 1; i++)
		if (buf_fixed[i].size < cap) {
			size[k] = buf_fixed[i].size;
			count[k++] = buf_fixed[i].per_sess * n;
		}
	/* The cap's own class: every direction when it is the only one, else `big`. */
	size[k] = cap;
	count[k] = k == 0 ? 2 * n : big;
	return k + 1;
}

uint64_t
dp_sess_pool_bytes(uint32_t n, uint32_t cap, uint32_t big)
{
	uint32_t size[DP_BUF_CLASSES], count[DP_BUF_CLASSES], k = buf_classes(n, cap, big, size, count);
	uint64_t b = (uint64_t)n * (sizeof(struct dp_sess) + sizeof(uint32_t) +
				    CW_REASM_MAX_OOO * sizeof(struct cw_reasm_ooo) + sizeof(void *));

	for (uint32_t i = 0; i < k; i++)
		b += (uint64_t)count[i] * (size[i] + sizeof(uint8_t *));
	return b;
}

/* The class whose block holds buf, or -1. */
static int
buf_class_of(const struct dp_sess_pool *p, const uint8_t *buf)
{
	for (uint32_t i = 0; i < p->nclass; i++) {
		const struct dp_buf_class *c = &p->cls[i];

		if (buf >= c->mem && buf < c->mem + (uint64_t)c->n * c->size)
			return (int)i;
	}
	return -1;
}

/* struct cw_buf_ops get: the smallest class that holds need and has a free buffer. */
static uint8_t *
dp_buf_get(void *arg, uint32_t need, uint32_t *cap)
{
	struct dp_sess_pool *p = arg;

	for (uint32_t i = 0; i < p->nclass; i++) {
		struct dp_buf_class *c = &p->cls[i];

		if (c->size < need || c->nfree == 0)
			continue;
		*cap = c->size;
		p->buf_bytes += c->size;
		if (p->buf_bytes > p->peak_buf_bytes)
			p->peak_buf_bytes = p->buf_bytes;
		return c->free[--c->nfree];
	}
	return NULL;
}

void
dp_buf_put(void *arg, uint8_t *buf, uint32_t cap)
{
	struct dp_sess_pool *p = arg;
	int i = buf_class_of(p, buf);

	(void)cap;
	RTE_VERIFY(i >= 0 && p->cls[i].nfree < p->cls[i].n);
	p->cls[i].free[p->cls[i].nfree++] = buf;
	p->buf_bytes -= p->cls[i].size;
}

/* struct cw_buf_ops ooo_get: a free out-of-order table, or NULL (counted). */
static struct cw_reasm_ooo *
dp_ooo_get(void *arg)
{
	struct dp_sess_pool *p = arg;

	struct cw_reasm_ooo *t;

	if (p->ooo_nfree == 0) {
		p->ooo_short++;
		return NULL;
	}
	t = p->ooo_free[--p->ooo_nfree];
	if (p->n - p->ooo_nfree > p->peak_ooo)
		p->peak_ooo = p->n - p->ooo_nfree;
	return t;
}

void
dp_ooo_put(void *arg, struct cw_reasm_ooo *t)
{
	struct dp_sess_pool *p = arg;

	RTE_VERIFY(p->ooo_nfree < p->n && (void *)t >= (void *)p->ooo &&
		   (void *)t < (void *)(p->ooo + p->n));
	p->ooo_free[p->ooo_nfree++] = t;
}

int
dp_sess_pool_init(struct dp_sess_pool *p, uint32_t n, uint32_t cap, uint32_t big, int socket)
{
	uint32_t size[DP_BUF_CLASSES], count[DP_BUF_CLASSES], i, j;

	memset(p, 0, sizeof(*p));
	p->s = rte_zmalloc_socket("dp_sess", (size_t)n * sizeof(struct dp_sess), RTE_CACHE_LINE_SIZE,
				  socket);
	p->free = rte_malloc_socket("dp_sess_free", (size_t)n * sizeof(uint32_t), 0, socket);
	p->ooo = rte_malloc_socket("dp_ooo", (size_t)n * sizeof(*p->ooo), RTE_CACHE_LINE_SIZE, socket);
	p->ooo_free = rte_malloc_socket("dp_ooo_free", (size_t)n * sizeof(*p->ooo_free), 0, socket);
	if (p->s == NULL || p->free == NULL || p->ooo == NULL || p->ooo_free == NULL)
		goto err;
	p->nclass = buf_classes(n, cap, big, size, count);
	for (i = 0; i < p->nclass; i++) {
		struct dp_buf_class *c = &p->cls[i];

		c->size = size[i];
		c->n = count[i];
		if (c->n == 0)
			continue;
		c->mem = rte_malloc_socket("dp_reasm", (size_t)c->n * c->size, RTE_CACHE_LINE_SIZE,
					   socket);
		c->free = rte_malloc_socket("dp_reasm_free", (size_t)c->n * sizeof(uint8_t *), 0,
					    socket);
		if (c->mem == NULL || c->free == NULL)
			goto err;
		/* Lowest address on top of the stack. */
		for (j = 0; j < c->n; j++)
			c->free[j] = c->mem + (uint64_t)(c->n - 1 - j) * c->size;
		c->nfree = c->n;
	}
	for (i = 0; i < n; i++) {
		p->s[i].idx = i;
		p->free[i] = n - 1 - i;
		p->ooo_free[i] = p->ooo[n - 1 - i];
	}
	p->ooo_nfree = n;
	p->n = n;
	p->nfree = n;
	p->ops.get = dp_buf_get;
	p->ops.put = dp_buf_put;
	p->ops.arg = p;
	p->ops.limit = cap;
	p->ops.ooo_get = dp_ooo_get;
	p->ops.ooo_put = dp_ooo_put;
	return 0;

err:
	dp_sess_pool_free(p);
	return -ENOMEM;
}

void
dp_sess_pool_free(struct dp_sess_pool *p)
{
	for (uint32_t i = 0; i < DP_BUF_CLASSES; i++) {
		rte_free(p->cls[i].free);
		rte_free(p->cls[i].mem);
	}
	rte_free(p->ooo_free);
	rte_free(p->ooo);
	rte_free(p->free);
	rte_free(p->s);
	memset(p, 0, sizeof(*p));
}

int32_t
dp_flow_victim(struct dp_flow_table *ft, uint64_t now, unsigned int *reason)
{
	uint64_t stall = ft->hs_ns / 4;
	int32_t best = -1;
	uint64_t best_prog = UINT64_MAX, best_last = UINT64_MAX;
	uint32_t seen = 0, scanned = 0;

	while (seen < DP_EVICT_SCAN && scanned < ft->n) {
		uint32_t pos = ft->evict_hand;
		struct dp_flow *f = &ft->f[pos];

		ft->evict_hand = pos + 1 == ft->n ? 0 : pos + 1;
		scanned++;
		if (!f->used)
			continue;
		seen++;
		if (f->actions == 0) {
			*reason = DP_C_EVICT_DONE;
			return (int32_t)pos;
		}
		if (f->progress_ns < best_prog ||
		    (f->progress_ns == best_prog && f->last_ns < best_last)) {
			best = (int32_t)pos;
			best_prog = f->progress_ns;
			best_last = f->last_ns;
		}
	}
	if (best >= 0)
		*reason = (best_prog == 0 || (now > best_prog && now - best_prog >= stall)) ? DP_C_EVICT_STALLED
								       : DP_C_EVICT_ACTIVE;
	return best;
}
