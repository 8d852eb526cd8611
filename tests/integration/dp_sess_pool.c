/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker's session pool and its reassembly-buffer classes (dataplane/flow.h,
 * docs/DATAPLANE.md "Tables and bounds"): which classes a cap gives and how many buffers each
 * holds, the bytes reserved, the smallest class that fits serving first and a larger one when it
 * is empty, both directions of every session still getting 2 KiB once the small classes are
 * gone, nothing beyond the cap, and the gauges back at zero once every buffer is returned; the
 * out-of-order tables it lends (one per session) and takes back with a session.
 *
 * Real components: EAL (--no-huge), the pool in DPDK memory, its buffer ops as a session uses
 * them (struct cw_buf_ops).
 */
#include <stdio.h>
#include <string.h>

#include "../unit/cw_check.h"
#include "dp_frames.h"

#define N 4 /* sessions */

/* The pool's classes, as "size x count" pairs. */
static void
check_classes(const struct dp_sess_pool *p, const uint32_t *size, const uint32_t *count,
	      uint32_t k)
{
	CHECK_EQ(p->nclass, k);
	for (uint32_t i = 0; i < k && i < p->nclass; i++) {
		CHECK_EQ(p->cls[i].size, size[i]);
		CHECK_EQ(p->cls[i].n, count[i]);
		CHECK_EQ(p->cls[i].nfree, count[i]);
	}
}

/* Take one buffer of `need` bytes; returns its capacity (0: none). */
static uint32_t
take(struct dp_sess_pool *p, uint32_t need, uint8_t **out)
{
	uint32_t cap = 0;

	*out = p->ops.get(p->ops.arg, need, &cap);
	return *out == NULL ? 0 : cap;
}

/* Default-like cap (32 KiB), one big buffer: every class, fit, fallback, the 2 KiB guarantee. */
static void
test_classes_32k(void)
{
	static const uint32_t size[] = {512, 1024, 1536, 2048, 8192, 32768};
	static const uint32_t count[] = {2 * N, N, N, 2 * N, N, 1};
	struct dp_sess_pool p;
	uint8_t *b[64], *x;
	uint32_t i, n = 0;
	uint64_t want = (uint64_t)N * (sizeof(struct dp_sess) + sizeof(uint32_t) +
				       sizeof(struct cw_reasm_ooo[CW_REASM_MAX_OOO]) + sizeof(void *));

	for (i = 0; i < 6; i++)
		want += (uint64_t)count[i] * (size[i] + sizeof(uint8_t *));
	CHECK_EQ(dp_sess_pool_bytes(N, 32768, 1), want);
	if (dp_sess_pool_init(&p, N, 32768, 1, SOCKET_ID_ANY) < 0) {
		CHECK(0);
		return;
	}
	check_classes(&p, size, count, 6);
	CHECK_EQ(p.ops.limit, 32768);

	/* The smallest class that holds the bytes. */
	CHECK_EQ(take(&p, 1, &b[n++]), 512);
	CHECK_EQ(take(&p, 512, &b[n++]), 512);
	CHECK_EQ(take(&p, 513, &b[n++]), 1024);
	CHECK_EQ(take(&p, 1025, &b[n++]), 1536);
	CHECK_EQ(take(&p, 1536, &b[n++]), 1536);
	CHECK_EQ(take(&p, 1537, &b[n++]), 2048);
	CHECK_EQ(take(&p, 2049, &b[n++]), 8192);
	CHECK_EQ(take(&p, 8193, &b[n++]), 32768);
	CHECK_EQ(take(&p, 32769, &x), 0); /* beyond the cap: none */
	CHECK(x == NULL);
	CHECK_EQ(take(&p, 8193, &x), 0);  /* the one cap buffer is taken */
	CHECK_EQ(p.buf_bytes, 512 + 512 + 1024 + 1536 + 1536 + 2048 + 8192 + 32768);

	/* 512 B class empty after 2N: the next small need takes 1 KiB, then 1.5 KiB, then 2 KiB. */
	for (i = 2; i < 2 * N; i++)
		CHECK_EQ(take(&p, 100, &b[n++]), 512);
	CHECK_EQ(p.cls[0].nfree, 0);
	for (i = 1; i < N; i++)
		CHECK_EQ(take(&p, 100, &b[n++]), 1024);
	for (i = 2; i < N; i++)
		CHECK_EQ(take(&p, 100, &b[n++]), 1536);
	CHECK_EQ(take(&p, 100, &b[n++]), 2048);

	/* With the three small classes gone, 2 KiB for both directions of every session still
	 * exists: 2N - 1 more from the 2 KiB class (one went above) and N - 1 from the 8 KiB
	 * class, 2N in all with the two taken above. */
	for (i = 0; i < 2 * N - 2; i++)
		CHECK_EQ(take(&p, 2048, &b[n++]), 2048);
	for (i = 0; i < N - 1; i++)
		CHECK_EQ(take(&p, 2048, &b[n++]), 8192);
	CHECK_EQ(take(&p, 1, &x), 0); /* everything is taken now */
	CHECK_EQ(p.buf_bytes, p.peak_buf_bytes);
	{
		uint64_t total = 0;

		for (i = 0; i < 6; i++)
			total += (uint64_t)size[i] * count[i];
		CHECK_EQ(p.buf_bytes, total);
	}

	/* Back: each to its class by address, the gauges to zero, and the classes full again. */
	for (i = 0; i < n; i++)
		p.ops.put(p.ops.arg, b[i], 0);
	CHECK_EQ(p.buf_bytes, 0);
	check_classes(&p, size, count, 6);
	CHECK_EQ(take(&p, 600, &x), 1024);
	p.ops.put(p.ops.arg, x, 1024);
	dp_sess_pool_free(&p);
}

/* Small caps keep only the classes below them, then the cap's own. */
static void
test_small_caps(void)
{
	struct dp_sess_pool p;
	uint8_t *x;

	{
		static const uint32_t size[] = {512, 1024, 1536, 2048, 4096};
		static const uint32_t count[] = {2 * N, N, N, 2 * N, 3};

		if (dp_sess_pool_init(&p, N, 4096, 3, SOCKET_ID_ANY) == 0) {
			check_classes(&p, size, count, 5);
			CHECK_EQ(take(&p, 2049, &x), 4096);
			p.ops.put(p.ops.arg, x, 4096);
			CHECK_EQ(take(&p, 4097, &x), 0);
			dp_sess_pool_free(&p);
		} else {
			CHECK(0);
		}
	}
	{
		/* At or below the smallest class: only the cap, for every direction. */
		static const uint32_t size[] = {512};
		static const uint32_t count[] = {2 * N};

		if (dp_sess_pool_init(&p, N, 512, 1, SOCKET_ID_ANY) == 0) {
			check_classes(&p, size, count, 1);
			dp_sess_pool_free(&p);
		} else {
			CHECK(0);
		}
	}
}

/*
 * Out-of-order tables: one per session, each lent once, the next ask refused and counted; a
 * session given back returns the tables its directions hold; the gauges follow.
 */
static void
test_ooo_tables(void)
{
	struct dp_sess_pool p;
	struct cw_reasm_ooo *t[N];
	struct dp_sess *s;
	uint32_t i, j, in_use;
	uint64_t idle;

	if (dp_sess_pool_init(&p, N, 32768, 1, SOCKET_ID_ANY) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ(p.ooo_nfree, N);
	s = dp_sess_get(&p);
	CHECK(s != NULL && s->s.ra[0].ooo == NULL && s->s.ra[1].ooo == NULL);
	idle = dp_sess_pool_in_use(&p, &in_use);
	CHECK_EQ(in_use, 1);
	for (i = 0; i < N; i++) {
		t[i] = p.ops.ooo_get(p.ops.arg);
		CHECK(t[i] != NULL);
		for (j = 0; j < i; j++)
			CHECK(t[j] != t[i]);
	}
	CHECK(p.ops.ooo_get(p.ops.arg) == NULL);
	CHECK_EQ(p.ooo_short, 1);
	CHECK_EQ(p.peak_ooo, N);
	CHECK_EQ(dp_sess_pool_in_use(&p, &in_use), idle + N * sizeof(struct cw_reasm_ooo[CW_REASM_MAX_OOO]));
	/* Two held by the session's directions go back with it, the rest one by one. */
	CHECK_EQ(cw_reasm_set_ooo(&s->s.ra[0], t[0]), 0);
	CHECK_EQ(cw_reasm_set_ooo(&s->s.ra[1], t[1]), 0);
	dp_sess_put(&p, s);
	CHECK_EQ(p.ooo_nfree, 2);
	for (i = 2; i < N; i++)
		p.ops.ooo_put(p.ops.arg, t[i]);
	CHECK_EQ(p.ooo_nfree, N);
	CHECK_EQ(dp_sess_pool_in_use(&p, &in_use), 0);
	CHECK_EQ(in_use, 0);
	CHECK_EQ(p.peak_ooo, N);
	dp_sess_pool_free(&p);
}

/*
 * Sessions: every slot once, then none (NULL); the in-use count follows gets and puts and the
 * peak keeps the most at once, as telemetry's sessions_in_use and sessions_peak report them.
 */
static void
test_session_gauges(void)
{
	struct dp_sess_pool p;
	struct dp_sess *s[N];
	uint32_t i, j, in_use;

	if (dp_sess_pool_init(&p, N, 32768, 1, SOCKET_ID_ANY) < 0) {
		CHECK(0);
		return;
	}
	CHECK_EQ(p.peak_sessions, 0);
	for (i = 0; i < N; i++) {
		s[i] = dp_sess_get(&p);
		CHECK(s[i] != NULL);
		for (j = 0; j < i; j++)
			CHECK(s[j] != s[i]);
		CHECK_EQ(p.peak_sessions, i + 1);
	}
	CHECK(dp_sess_get(&p) == NULL);
	CHECK_EQ(p.peak_sessions, N);
	/* Half back: in use falls, the peak stays; taken again up to three quarters: still N. */
	for (i = 0; i < N / 2; i++)
		dp_sess_put(&p, s[i]);
	dp_sess_pool_in_use(&p, &in_use);
	CHECK_EQ(in_use, N - N / 2);
	CHECK_EQ(p.peak_sessions, N);
	for (i = 0; i < N / 4; i++)
		CHECK((s[i] = dp_sess_get(&p)) != NULL);
	dp_sess_pool_in_use(&p, &in_use);
	CHECK_EQ(in_use, N - N / 2 + N / 4);
	CHECK_EQ(p.peak_sessions, N);
	for (i = 0; i < N / 4; i++)
		dp_sess_put(&p, s[i]);
	for (i = N / 2; i < N; i++)
		dp_sess_put(&p, s[i]);
	CHECK_EQ(dp_sess_pool_in_use(&p, &in_use), 0);
	CHECK_EQ(in_use, 0);
	CHECK_EQ(p.peak_sessions, N);
	dp_sess_pool_free(&p);
}

int
main(int argc, char **argv)
{
	static struct dp_testenv env;

	if (argc != 1) {
		fprintf(stderr, "usage: dp_sess_pool\n");
		return 2;
	}
	if (dp_testenv_init(&env, argv[0], "dpsesspool", 64, 64, 1u << 16) < 0)
		return 1;
	test_classes_32k();
	test_small_caps();
	test_ooo_tables();
	test_session_gauges();
	dp_testenv_fini(&env);
	return cw_check_report("dp_sess_pool");
}
