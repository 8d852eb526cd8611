/* SPDX-License-Identifier: BSD-3-Clause */
/* The parsing fast path (decode, session, hellos, fingerprints, chain id) makes no heap allocation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/bench/bench_flows.h"
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
#ifndef NOALLOC_SKIP
		before = n_alloc;
#endif
		for (int r = 0; r < ROUNDS; r++) {
			hs += one_pass();
			hs += one_pass_hooks();
		}
#ifndef NOALLOC_SKIP
		after = n_alloc;
#endif
		printf("%s: %u flows, %u handshakes in %d rounds, %lu heap allocations\n", pcaps[p],
		       cap.nflows, hs, ROUNDS, after - before);
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
