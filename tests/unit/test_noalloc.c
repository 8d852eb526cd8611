/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parsing fast path (decode, session, hellos, fingerprints, chain id) makes no heap allocation,
 * with fixed buffers and with buffers on demand and expected Certificate messages (compared,
 * matched, rebuilt when they differ).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/bench/bench_flows.h"
#include "certref.h"
#include "chain.h"
#include "decode.h"
#include "fingerprint.h"
#include "session.h"

#if defined(__SANITIZE_ADDRESS__)
#define NOALLOC_SKIP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NOALLOC_SKIP 1
#endif
#endif

/*
 * Counting allocator. The executable's definitions take precedence over
 * libc's for every shared object in the process (dynamic symbol lookup
 * starts at the executable), so allocations made inside libcrypto and
 * libxxhash are counted too. glibc exports its own entry points as
 * __libc_*, which keeps this free of dlsym() and of LD_PRELOAD.
 * Sanitizer builds replace malloc themselves: the test is skipped there.
 */
#ifndef NOALLOC_SKIP
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile unsigned long n_alloc;

void *
malloc(size_t n)
{
	n_alloc++;
	return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	n_alloc++;
	return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	n_alloc++;
	return __libc_realloc(p, n);
}

void *
aligned_alloc(size_t al, size_t n)
{
	n_alloc++;
	return __libc_memalign(al, n);
}

int
posix_memalign(void **out, size_t al, size_t n)
{
	n_alloc++;
	*out = __libc_memalign(al, n);
	return *out ? 0 : 12; /* ENOMEM */
}

void
free(void *p)
{
	__libc_free(p);
}
#endif

#define CAP CW_REASM_DEFAULT_CAP
#define ROUNDS 3

static struct bf_capture cap;
static struct cw_session sess;
static uint8_t bufs[2][CAP];
static struct cw_sess_area area;

/* Buffers on demand from a fixed stack of CAP-sized ones, as the worker's pool hands them out. */
#define POOL 8
static uint8_t pool[POOL][CAP];
static uint8_t *pool_free[POOL];
static uint32_t pool_n;

static uint8_t *
pool_get(void *arg, uint32_t need, uint32_t *got)
{
	(void)arg;
	if (pool_n == 0 || need > CAP)
		return NULL;
	*got = CAP;
	return pool_free[--pool_n];
}

static void
pool_put(void *arg, uint8_t *b, uint32_t n)
{
	(void)arg;
	(void)n;
	pool_free[pool_n++] = b;
}

static struct cw_certref refs;
static uint8_t refs_mem[16 * (CW_CERTREF_BODY_MAX + 64)] __attribute__((aligned(64)));
static const struct cw_buf_ops pool_ops = {pool_get, pool_put, NULL, CAP, NULL, NULL, &refs};

/*
 * Every flow on buffers on demand with the expected Certificate messages: stored on the first
 * pass, compared after. With `flip`, a byte of every entry is changed first, so the flights that
 * were compared differ and are rebuilt. Returns handshakes completed.
 */
static unsigned int
one_pass_refs(int flip)
{
	unsigned int done = 0;

	if (flip)
		for (uint32_t e = 0; e < refs.nsets * CW_CERTREF_WAYS; e++)
			if (refs.e[e].stamp != 0 && refs.e[e].len > 0)
				refs.e[e].body[refs.e[e].len / 2] ^= 1;
	for (uint32_t fi = 0; fi < cap.nflows; fi++) {
		const struct bf_flow *fl = &cap.flows[fi];
		int rc = CW_SESS_MORE;

		cw_session_init_bufs(&sess, &pool_ops);
		for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
			const struct bf_frame *f = &cap.frames[fl->idx[i]];

			rc = cw_session_packet(&sess, &f->pkt, f->ts_ns);
		}
		cw_session_finish(&sess, CW_END_DONE);
		done += rc == CW_SESS_DONE;
		cw_session_unref(&sess);
		for (int d = 0; d < 2; d++)
			if (sess.ra[d].buf != NULL)
				pool_put(NULL, sess.ra[d].buf, sess.ra[d].cap);
	}
	return done;
}

/*
 * One pass over every TCP flow of the capture, as a worker would run it with
 * buffers from its pool: decode each frame, feed the session until it ends,
 * finish it (chain id), then what the offline tools add per flow (JA3, JA3S,
 * JA4 in every form, per-certificate ids). Returns handshakes completed.
 */
static unsigned int
one_pass(void)
{
	unsigned int done = 0;

	for (uint32_t fi = 0; fi < cap.nflows; fi++) {
		const struct bf_flow *fl = &cap.flows[fi];
		int rc = CW_SESS_MORE;
		struct cw_pkt pkt;

		area.hooks = NULL;
		cw_session_init(&sess, bufs[0], bufs[1], CAP, &area);
		for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
			const struct bf_frame *f = &cap.frames[fl->idx[i]];
			if (cw_decode((enum cw_linktype)cap.linktype, f->data, f->len, &pkt) !=
			    CW_DEC_TCP)
				continue;
			rc = cw_session_packet(&sess, &pkt, f->ts_ns);
		}
		cw_session_finish(&sess, rc == CW_SESS_DONE ? CW_END_DONE
						       : cw_session_abandon_reason(&sess));
		if (rc == CW_SESS_DONE)
			done++;
		{
			uint8_t ids[CW_TLS_MAX_CERTS][CW_ID_LEN], id[CW_ID_LEN];
			struct cw_cert_list cl;
			cw_session_certs(&sess, &cl);
			cw_chain_id(&cl, ids, id);
		}
	}
	return done;
}

/* Hooks: the hellos as the offline tools see them, fingerprinted in every form. */
static void
hook_ch(struct cw_session *sn, const struct cw_client_hello *ch)
{
	char s[4096], md5[CW_MD5_HEX];

	(void)sn;
	cw_ja3(ch, s, sizeof(s), md5);
	for (int k = CW_JA4; k <= CW_JA4_RO; k++)
		cw_ja4(ch, 't', (enum cw_ja4_kind)k, s, sizeof(s));
}

static void
hook_sh(struct cw_session *sn, const struct cw_server_hello *sh)
{
	char s[1024], md5[CW_MD5_HEX];

	(void)sn;
	cw_ja3s(sh, s, sizeof(s), md5);
}

static const struct cw_session_hooks hooks = {hook_ch, hook_sh};

static unsigned int
one_pass_hooks(void)
{
	unsigned int done = 0;

	for (uint32_t fi = 0; fi < cap.nflows; fi++) {
		const struct bf_flow *fl = &cap.flows[fi];
		int rc = CW_SESS_MORE;

		area.hooks = &hooks;
		cw_session_init(&sess, bufs[0], bufs[1], CAP, &area);
		for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
			const struct bf_frame *f = &cap.frames[fl->idx[i]];
			rc = cw_session_packet(&sess, &f->pkt, f->ts_ns);
		}
		cw_session_finish(&sess, CW_END_DONE);
		done += rc == CW_SESS_DONE;
	}
	return done;
}

int
main(void)
{
	static const char *const pcaps[] = {
		"tests/data/lab/small.pcap",
	};
	unsigned long before, after;
	unsigned int hs = 0;
	uint64_t matched, differed;

#ifdef NOALLOC_SKIP
	printf("SKIP: sanitizer build replaces the allocator\n");
	return 77;
#endif
	for (size_t p = 0; p < sizeof(pcaps) / sizeof(pcaps[0]); p++) {
		if (bf_load(&cap, pcaps[p]) < 0)
			return 1;
		/* Warm-up: first use of libcrypto's digests may initialise global state. */
		one_pass();
		one_pass_hooks();
		for (pool_n = 0; pool_n < POOL; pool_n++)
			pool_free[pool_n] = pool[pool_n];
		if (cw_certref_init(&refs, refs_mem, 16) != 0)
			return 1;
		one_pass_refs(0);
#ifndef NOALLOC_SKIP
		before = n_alloc;
#endif
		for (int r = 0; r < ROUNDS; r++) {
			hs += one_pass();
			hs += one_pass_hooks();
			hs += one_pass_refs(0);
		}
		matched = refs.matched;
		differed = refs.differed;
		hs += one_pass_refs(1);
#ifndef NOALLOC_SKIP
		after = n_alloc;
#endif
		printf("%s: %u flows, %u handshakes in %d rounds, %lu heap allocations; expected "
		       "Certificate messages: %" PRIu64 " matched, then %" PRIu64 " rebuilt\n",
		       pcaps[p], cap.nflows, hs, ROUNDS, after - before, matched,
		       refs.differed - differed);
		if (matched == 0 || refs.differed == differed) {
			printf("FAIL: the expected Certificate messages were not compared\n");
			return 1;
		}
		if (hs == 0) {
			printf("FAIL: no complete handshake in %s\n", pcaps[p]);
			return 1;
		}
		if (after != before) {
			printf("FAIL: %.3f allocations per handshake after warm-up\n",
			       (double)(after - before) / hs);
			return 1;
		}
		bf_free(&cap);
	}
	/* The counter must see allocations at all, or the test proves nothing. */
#ifndef NOALLOC_SKIP
	before = n_alloc;
	{
		void *volatile probe = malloc(64);
		free(probe);
	}
	if (n_alloc == before) {
		printf("FAIL: the counting allocator is not in use\n");
		return 1;
	}
#endif
	printf("PASS\n");
	return 0;
}
