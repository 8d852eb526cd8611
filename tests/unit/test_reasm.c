/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for bounded TCP reassembly: fixed cases, a byte-level model, and a real capture. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "decode.h"
#include "reasm.h"

#include "cw_check.h"

/* The struct invariants from reasm.h, checked after every step. */
static void
check_invariants(const struct cw_reasm *r)
{
	unsigned int i;

	CHECK(r->consumed <= r->contig);
	CHECK(r->contig <= r->cap);
	CHECK(r->nooo <= CW_REASM_MAX_OOO);
	for (i = 0; i < r->nooo; i++) {
		CHECK(r->ooo[i].start < r->ooo[i].end);
		CHECK(r->ooo[i].start > r->contig);
		CHECK(r->ooo[i].end <= r->cap);
		/* sorted, disjoint, not adjacent */
		if (i > 0)
			CHECK(r->ooo[i].start > r->ooo[i - 1].end);
	}
}

/*
 * Each scenario gets a heap buffer of exactly cap bytes so AddressSanitizer
 * sees any write outside it.
 */
static uint8_t *
new_buf(uint32_t cap)
{
	uint8_t *b = malloc(cap);

	if (b == NULL)
		exit(2);
	memset(b, 0xee, cap);
	return b;
}

/*
 * cw_reasm_init() and an out-of-order table of its own: every scenario's reassembly gets the
 * next of a few tables, so two alive at once never share one.
 */
static void
init(struct cw_reasm *r)
{
	static struct cw_reasm_ooo tabs[4][CW_REASM_MAX_OOO];
	static unsigned int next;

	cw_reasm_init(r);
	CHECK(r->ooo == NULL);
	CHECK_EQ(cw_reasm_set_ooo(r, tabs[next++ % 4]), 0);
}

static unsigned int
add(struct cw_reasm *r, uint32_t seq, const void *data, uint32_t len)
{
	/* Exact-size copy, so over-reads of the segment are caught too. */
	uint8_t *d = malloc(len ? len : 1);
	unsigned int res;

	if (d == NULL)
		exit(2);
	if (len)
		memcpy(d, data, len);
	res = cw_reasm_add(r, seq, d, len);
	free(d);
	check_invariants(r);
	return res;
}

static void
test_in_order(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(64);

	init(&r);
	cw_reasm_attach(&r, b, 64);
	cw_reasm_set_isn(&r, 1000);
	CHECK_EQ(r.base_seq, 1001);
	CHECK_EQ(add(&r, 1001, "hello", 5), CW_RA_NEW);
	CHECK_EQ(add(&r, 1006, " world", 6), CW_RA_NEW);
	CHECK_EQ(r.contig, 11);
	CHECK(memcmp(b, "hello world", 11) == 0);
	CHECK_EQ(add(&r, 1017, "", 0), 0);
	/* The SYN itself (seq = isn) with data is one byte before the stream. */
	CHECK_EQ(add(&r, 1000, "Xh", 2), CW_RA_OLD | CW_RA_RETRANS);
	free(b);
}

/* 64 one-byte segments delivered last-to-first: one growing range, then one jump. */
static void
test_reverse_bytes(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(128);
	uint8_t ref[64];
	unsigned int i;

	for (i = 0; i < 64; i++)
		ref[i] = (uint8_t)(i * 7 + 3);
	init(&r);
	cw_reasm_attach(&r, b, 128);
	cw_reasm_set_isn(&r, 0);
	for (i = 63; i > 0; i--) {
		CHECK_EQ(add(&r, 1 + i, &ref[i], 1), CW_RA_OOO);
		CHECK_EQ(r.contig, 0);
		CHECK_EQ(r.nooo, 1);
		CHECK_EQ(r.ooo[0].start, i);
		CHECK_EQ(r.ooo[0].end, 64);
	}
	CHECK_EQ(add(&r, 1, &ref[0], 1), CW_RA_NEW);
	CHECK_EQ(r.contig, 64);
	CHECK_EQ(r.nooo, 0);
	CHECK(memcmp(b, ref, 64) == 0);
	free(b);
}

static void
test_retrans_conflict(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(64);

	init(&r);
	cw_reasm_attach(&r, b, 64);
	cw_reasm_set_isn(&r, 99);
	CHECK_EQ(add(&r, 100, "abcdefgh", 8), CW_RA_NEW);
	/* Exact retransmission. */
	CHECK_EQ(add(&r, 100, "abcdefgh", 8), CW_RA_RETRANS);
	/* Retransmission that also extends. */
	CHECK_EQ(add(&r, 104, "efghijkl", 8), CW_RA_RETRANS | CW_RA_NEW);
	CHECK_EQ(r.contig, 12);
	/* Different bytes over held ones: first arrival wins. */
	CHECK_EQ(add(&r, 102, "XY", 2), CW_RA_CONFLICT);
	CHECK(memcmp(b, "abcdefghijkl", 12) == 0);
	/* Conflicting overlap that also brings new bytes: the new bytes are taken. */
	CHECK_EQ(add(&r, 110, "ZZmn", 4), CW_RA_CONFLICT | CW_RA_NEW);
	CHECK(memcmp(b, "abcdefghijklmn", 14) == 0);

	/* Out of order range: conflicts and retransmissions against it. */
	CHECK_EQ(add(&r, 120, "uvwx", 4), CW_RA_OOO);
	CHECK_EQ(add(&r, 121, "vw", 2), CW_RA_RETRANS);
	CHECK_EQ(add(&r, 121, "V", 1), CW_RA_CONFLICT);
	/* Overlapping both ends of the range: left and right gaps filled, middle kept. */
	CHECK_EQ(add(&r, 118, "stUVWXyz", 8), CW_RA_CONFLICT | CW_RA_OOO);
	CHECK_EQ(r.nooo, 1);
	CHECK_EQ(r.ooo[0].start, 18);
	CHECK_EQ(r.ooo[0].end, 26);
	CHECK(memcmp(b + 18, "stuvwxyz", 8) == 0);
	/* Close the hole: contig runs through the range. */
	CHECK_EQ(add(&r, 114, "opqr", 4), CW_RA_NEW);
	CHECK_EQ(r.contig, 26);
	CHECK_EQ(r.nooo, 0);
	CHECK(memcmp(b, "abcdefghijklmnopqrstuvwxyz", 26) == 0);
	free(b);
}

static void
test_cap(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(16);

	init(&r);
	cw_reasm_attach(&r, b, 16);
	cw_reasm_set_isn(&r, 0);
	CHECK_EQ(add(&r, 1, "0123456789abcdefXYZ", 19), CW_RA_NEW | CW_RA_CAP);
	CHECK_EQ(r.contig, 16);
	CHECK(memcmp(b, "0123456789abcdef", 16) == 0);
	CHECK_EQ(add(&r, 17, "Q", 1), CW_RA_CAP);
	CHECK_EQ(add(&r, 1000, "Q", 1), CW_RA_CAP);
	/* A retransmission straddling the cap. */
	CHECK_EQ(add(&r, 15, "efGH", 4), CW_RA_RETRANS | CW_RA_CAP);

	/* Out-of-order segment cut at the cap. */
	init(&r);
	cw_reasm_attach(&r, b, 16);
	cw_reasm_set_isn(&r, 0);
	CHECK_EQ(add(&r, 13, "wxyzQ", 5), CW_RA_OOO | CW_RA_CAP);
	CHECK_EQ(r.ooo[0].start, 12);
	CHECK_EQ(r.ooo[0].end, 16);
	free(b);
}

static void
test_midstream(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(64);

	init(&r);
	cw_reasm_attach(&r, b, 64);
	CHECK_EQ(add(&r, 5000, "klmno", 5), CW_RA_NEW);
	CHECK_EQ(r.base_seq, 5000);
	CHECK_EQ(r.contig, 5);
	/* Earlier bytes than the pickup point are lost; the overlap is compared. */
	CHECK_EQ(add(&r, 4990, "abcdefghijklm", 13), CW_RA_OLD | CW_RA_RETRANS);
	CHECK_EQ(add(&r, 4990, "abc", 3), CW_RA_OLD);
	/* A SYN seen after data was placed cannot move the base. */
	cw_reasm_set_isn(&r, 1);
	CHECK_EQ(r.base_seq, 5000);
	CHECK_EQ(add(&r, 5005, "p", 1), CW_RA_NEW);
	CHECK(memcmp(b, "klmnop", 6) == 0);
	free(b);
}

static void
test_wrap(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(64);

	init(&r);
	cw_reasm_attach(&r, b, 64);
	cw_reasm_set_isn(&r, 0xfffffff0u);
	CHECK_EQ(r.base_seq, 0xfffffff1u);
	/* Second segment wraps past 2^32 and arrives first. */
	CHECK_EQ(add(&r, 0x00000002u, "RSTUV", 5), CW_RA_OOO);
	CHECK_EQ(r.ooo[0].start, 17);
	CHECK_EQ(add(&r, 0xfffffff1u, "ABCDEFGHIJKLMNOPQ", 17), CW_RA_NEW);
	CHECK_EQ(r.contig, 22);
	CHECK(memcmp(b, "ABCDEFGHIJKLMNOPQRSTUV", 22) == 0);
	/* A segment that itself spans the wrap. */
	CHECK_EQ(add(&r, 0xfffffffeu, "NOPQRSTUVWX", 11), CW_RA_RETRANS | CW_RA_NEW);
	CHECK_EQ(r.contig, 24);

	/* ISN at 2^32 - 1: the stream starts at sequence 0. */
	init(&r);
	cw_reasm_attach(&r, b, 64);
	cw_reasm_set_isn(&r, 0xffffffffu);
	CHECK_EQ(r.base_seq, 0);
	CHECK_EQ(add(&r, 0xffffffffu, "xa", 2), CW_RA_OLD | CW_RA_NEW);
	CHECK_EQ(r.contig, 1);
	CHECK_EQ(b[0], 'a');
	free(b);
}

/* Sequence numbers 2^31 and more ahead are behind in modular terms; nothing is written. */
static void
test_far(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(32);
	uint8_t big[100];
	unsigned int i;

	memset(big, 'z', sizeof(big));
	init(&r);
	cw_reasm_attach(&r, b, 32);
	cw_reasm_set_isn(&r, 999);
	CHECK_EQ(add(&r, 1000u + 0x7fffffffu, big, 100), CW_RA_CAP);
	CHECK_EQ(add(&r, 1000u + 0x80000000u, big, 100), CW_RA_OLD);
	CHECK_EQ(add(&r, 1000u + 0x80000001u, big, 100), CW_RA_OLD);
	CHECK_EQ(add(&r, 1000u + 0xffffff9cu, big, 100), CW_RA_OLD); /* ends exactly at base */
	CHECK_EQ(add(&r, 1000u + 0xffffffffu, big, 100), CW_RA_OLD | CW_RA_NEW | CW_RA_CAP);
	CHECK_EQ(r.contig, 32);
	for (i = 0; i < 32; i++)
		CHECK_EQ(b[i], 'z');
	CHECK_EQ(add(&r, 1000u + 32u, big, 100), CW_RA_CAP);
	free(b);
}

/* Every other byte: six ranges fill the slots, a seventh disjoint range is dropped. */
/*
 * Without an out-of-order table a segment beyond a hole is refused as with every slot taken,
 * and changes nothing: attached afterwards, the same segment is stored. A table cannot be
 * detached (or swapped) while it holds ranges.
 */
static void
test_ooo_table(void)
{
	static struct cw_reasm_ooo t[CW_REASM_MAX_OOO];
	struct cw_reasm r;
	uint8_t *b = new_buf(64);
	uint8_t c = 'y';

	cw_reasm_init(&r);
	cw_reasm_attach(&r, b, 64);
	cw_reasm_set_isn(&r, 0);
	CHECK_EQ(add(&r, 1, "ab", 2), CW_RA_NEW);
	CHECK_EQ(add(&r, 1 + 10, &c, 1), CW_RA_OOO_FULL);
	CHECK_EQ(r.nooo, 0);
	CHECK_EQ(r.contig, 2);
	CHECK_EQ(b[10], 0xee);
	/* In order still works. */
	CHECK_EQ(add(&r, 3, "c", 1), CW_RA_NEW);
	CHECK_EQ(cw_reasm_set_ooo(&r, t), 0);
	CHECK_EQ(add(&r, 1 + 10, &c, 1), CW_RA_OOO);
	CHECK_EQ(r.nooo, 1);
	CHECK_EQ(b[10], 'y');
	CHECK_EQ(cw_reasm_set_ooo(&r, NULL), -1);
	CHECK(r.ooo == t);
	CHECK_EQ(cw_reasm_extent(&r), 11);
	/* The hole filled: no range left, the table may go. */
	CHECK_EQ(add(&r, 4, "defghij", 7), CW_RA_NEW);
	CHECK_EQ(r.contig, 11);
	CHECK_EQ(r.nooo, 0);
	CHECK_EQ(cw_reasm_set_ooo(&r, NULL), 0);
	CHECK(r.ooo == NULL);
	free(b);
}

static void
test_ooo_full(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(64);
	uint8_t c = 'x';
	unsigned int i;

	init(&r);
	cw_reasm_attach(&r, b, 64);
	cw_reasm_set_isn(&r, 0);
	for (i = 0; i < CW_REASM_MAX_OOO; i++)
		CHECK_EQ(add(&r, 1 + 2 + 2 * i, &c, 1), CW_RA_OOO);
	CHECK_EQ(r.nooo, CW_REASM_MAX_OOO);
	/* Disjoint: dropped, buffer untouched. */
	CHECK_EQ(add(&r, 1 + 2 + 2 * CW_REASM_MAX_OOO + 1, &c, 1), CW_RA_OOO_FULL);
	CHECK_EQ(b[2 + 2 * CW_REASM_MAX_OOO + 1], 0xee);
	/* Adjacent to the last range: merges, still six. */
	CHECK_EQ(add(&r, 1 + 2 + 2 * CW_REASM_MAX_OOO - 1, &c, 1), CW_RA_OOO);
	CHECK_EQ(r.nooo, CW_REASM_MAX_OOO);
	/* Bridging two ranges: five left. */
	CHECK_EQ(add(&r, 1 + 3, &c, 1), CW_RA_OOO);
	CHECK_EQ(r.nooo, CW_REASM_MAX_OOO - 1);
	CHECK_EQ(r.ooo[0].start, 2);
	CHECK_EQ(r.ooo[0].end, 5);
	/* Now a disjoint range fits again. */
	CHECK_EQ(add(&r, 1 + 40, &c, 1), CW_RA_OOO);
	CHECK_EQ(r.nooo, CW_REASM_MAX_OOO);
	/* A segment covering everything closes every hole. */
	{
		uint8_t all[41];

		memset(all, 'x', sizeof(all));
		CHECK_EQ(add(&r, 1, all, 41), CW_RA_NEW | CW_RA_RETRANS);
		CHECK_EQ(r.contig, 41);
		CHECK_EQ(r.nooo, 0);
	}
	free(b);
}

static void
test_consume_stop_nobuf(void)
{
	struct cw_reasm r;
	uint8_t *b = new_buf(32);

	init(&r);
	CHECK_EQ(add(&r, 1, "abc", 3), CW_RA_NOBUF);
	CHECK_EQ(r.have_base, 0);
	cw_reasm_attach(&r, b, 32);
	cw_reasm_set_isn(&r, 0);
	CHECK_EQ(add(&r, 1, "0123456789", 10), CW_RA_NEW);
	cw_reasm_consume(&r, 4);
	CHECK_EQ(r.consumed, 4);
	/* The parser rewrites its bytes in place; a retransmission over them is not compared. */
	memset(b, '#', 4);
	CHECK_EQ(add(&r, 1, "0123456789", 10), CW_RA_OLD | CW_RA_RETRANS);
	CHECK_EQ(add(&r, 1, "0123", 4), CW_RA_OLD);
	CHECK_EQ(add(&r, 3, "23XX", 4), CW_RA_OLD | CW_RA_CONFLICT);
	CHECK(memcmp(b, "####456789", 10) == 0);
	/* Consumption never passes contig and never goes back. */
	cw_reasm_consume(&r, 100);
	CHECK_EQ(r.consumed, 10);
	cw_reasm_consume(&r, 2);
	CHECK_EQ(r.consumed, 10);
	check_invariants(&r);
	CHECK_EQ(add(&r, 11, "ab", 2), CW_RA_NEW);
	CHECK_EQ(add(&r, 1, "0123456789", 10), CW_RA_OLD);

	cw_reasm_stop(&r);
	CHECK_EQ(add(&r, 13, "cd", 2), CW_RA_STOPPED);
	CHECK_EQ(r.contig, 12);

	/* Re-attaching forgets what the old buffer held. */
	init(&r);
	cw_reasm_attach(&r, b, 32);
	CHECK_EQ(add(&r, 50, "ab", 2), CW_RA_NEW);
	cw_reasm_attach(&r, b, 32);
	CHECK_EQ(r.contig, 0);
	CHECK_EQ(add(&r, 52, "cd", 2), CW_RA_OOO);
	cw_reasm_attach(&r, NULL, 32);
	CHECK_EQ(add(&r, 52, "cd", 2), CW_RA_NOBUF);
	free(b);
}

/*
 * Byte-level model: held[] marks bytes already stored, val[] the first
 * value stored there. Random segments (random order, overlaps, duplicates,
 * sometimes corrupted) must leave the buffer equal to the model, and the
 * result bits must match what the model predicts: each held run that a
 * segment overlaps counts as a retransmission if all its overlapped bytes
 * match, a conflict otherwise. OOO_FULL is accepted
 * only when the model agrees that the segment needed a seventh range.
 */
static uint32_t rng_state = 0x12345678;

static uint32_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

#define MODEL_CAP 200

static void
test_model_round(uint32_t isn, int corrupt)
{
	uint8_t ref[MODEL_CAP + 50], val[MODEL_CAP], held[MODEL_CAP], seg[60];
	uint8_t *b = new_buf(MODEL_CAP);
	struct cw_reasm r;
	unsigned int step, i;

	for (i = 0; i < sizeof(ref); i++)
		ref[i] = (uint8_t)rnd();
	memset(held, 0, sizeof(held));
	init(&r);
	cw_reasm_attach(&r, b, MODEL_CAP);
	cw_reasm_set_isn(&r, isn);

	for (step = 0; step < 400; step++) {
		uint32_t off = rnd() % (MODEL_CAP + 40), len = 1 + rnd() % 40;
		uint32_t contig = 0, runs = 0, j, end;
		unsigned int res, want = 0;
		int touches = 0, newbytes = 0, differs = 0, same = 0;

		if (off + len > sizeof(ref))
			len = (uint32_t)sizeof(ref) - off;
		memcpy(seg, ref + off, len);
		if (corrupt && rnd() % 4 == 0)
			seg[rnd() % len] ^= 0x5a;

		while (contig < MODEL_CAP && held[contig])
			contig++;
		CHECK_EQ(r.contig, contig);
		for (j = contig; j < MODEL_CAP; j++)
			if (held[j] && (j == 0 || !held[j - 1]))
				runs++;
		CHECK_EQ(r.nooo, runs);

		end = off + len > MODEL_CAP ? MODEL_CAP : off + len;
		if (off + len > MODEL_CAP)
			want |= CW_RA_CAP;
		/* Each held run the segment overlaps is compared as a whole. */
		for (j = off; j < end;) {
			int run_differs = 0;

			if (!held[j]) {
				newbytes = 1;
				j++;
				continue;
			}
			for (; j < end && held[j]; j++)
				if (val[j] != seg[j - off])
					run_differs = 1;
			if (run_differs)
				differs = 1;
			else
				same = 1;
		}
		/* Touching an existing run or the prefix, including adjacency. */
		if (off <= contig)
			touches = 1;
		for (j = off > 0 ? off - 1 : 0; j < end + 1 && j < MODEL_CAP; j++)
			if (held[j])
				touches = 1;

		res = add(&r, isn + 1 + off, seg, len);
		if (off >= MODEL_CAP) {
			CHECK_EQ(res, CW_RA_CAP);
			continue;
		}
		if (res & CW_RA_OOO_FULL) {
			CHECK_EQ(runs, CW_REASM_MAX_OOO);
			CHECK(!touches);
			CHECK_EQ(res, want | CW_RA_OOO_FULL);
			continue;
		}
		CHECK(touches || runs < CW_REASM_MAX_OOO);
		if (same)
			want |= CW_RA_RETRANS;
		if (differs)
			want |= CW_RA_CONFLICT;
		for (j = off; j < end; j++) {
			if (!held[j]) {
				held[j] = 1;
				val[j] = seg[j - off];
			}
		}
		if (newbytes) {
			uint32_t nc = 0;

			while (nc < MODEL_CAP && held[nc])
				nc++;
			want |= off <= contig ? CW_RA_NEW : CW_RA_OOO;
			if (off <= contig)
				CHECK(nc > contig);
		}
		CHECK_EQ(res, want);
		for (j = 0; j < MODEL_CAP; j++)
			if (held[j] && b[j] != val[j]) {
				CHECK_EQ(b[j], val[j]);
				break;
			}
	}
	free(b);
}

static void
test_model(void)
{
	static const uint32_t isns[] = {0, 12345, 0xffffff80u, 0x7fffffc0u, 0xffffffffu};
	unsigned int i;
	int corrupt;

	for (corrupt = 0; corrupt < 2; corrupt++)
		for (i = 0; i < sizeof(isns) / sizeof(isns[0]); i++) {
			int before = failures;

			test_model_round(isns[i], corrupt);
			if (failures != before)
				fprintf(stderr, "  model round isn=0x%x corrupt=%d failed\n",
					isns[i], corrupt);
		}
}

/*
 * A direction that grows its buffer on demand must behave exactly like one
 * that had the whole limit from the start. Two instances get the same
 * random segments and consumes: one with a fixed buffer of `limit` bytes,
 * one that starts with none and, before each add, moves to a malloc'd
 * buffer of exactly cw_reasm_need() bytes (so ASan sees any write past what
 * need promised) and poisons and frees the old one. Result bits, state and
 * the held bytes must match after every step.
 */
static void
test_grow_round(uint32_t isn, int have_isn)
{
	enum { LIMIT = 300 };
	uint8_t ref[LIMIT + 80], seg[90];
	uint8_t *fb = new_buf(LIMIT);
	struct cw_reasm f, g;
	unsigned int step, moves = 0;

	for (unsigned int i = 0; i < sizeof(ref); i++)
		ref[i] = (uint8_t)rnd();
	init(&f);
	cw_reasm_attach(&f, fb, LIMIT);
	init(&g);
	g.limit = LIMIT;
	if (have_isn) {
		cw_reasm_set_isn(&f, isn);
		cw_reasm_set_isn(&g, isn);
	}
	for (step = 0; step < 300; step++) {
		/* Offsets from a little before the stream start to past the limit. */
		int32_t off = (int32_t)(rnd() % (LIMIT + 60)) - 20;
		uint32_t len = 1 + rnd() % 80, need, seq = isn + 1 + (uint32_t)off;
		unsigned int rf, rg;

		if (off < 0 || off + len > sizeof(ref))
			memset(seg, (uint8_t)step, sizeof(seg));
		else
			memcpy(seg, ref + off, len);
		if (rnd() % 8 == 0)
			seg[rnd() % len] ^= 0x33;
		need = cw_reasm_need(&g, seq, len);
		CHECK(need <= LIMIT);
		if (need > g.cap) {
			uint8_t *old = g.buf, *nb = malloc(need);

			if (nb == NULL)
				exit(2);
			cw_reasm_move(&g, nb, need);
			if (old != NULL) {
				memset(old, 0xa5, cw_reasm_extent(&g));
				free(old);
			}
			moves++;
		}
		rf = add(&f, seq, seg, len);
		rg = add(&g, seq, seg, len);
		CHECK_EQ(rg, rf);
		if (need == 0)
			CHECK((rf & (CW_RA_NEW | CW_RA_OOO)) == 0);
		CHECK_EQ(g.contig, f.contig);
		CHECK_EQ(g.nooo, f.nooo);
		CHECK_EQ(g.base_seq, f.base_seq);
		CHECK(cw_reasm_extent(&g) <= g.cap);
		/* Held bytes: the contiguous prefix and each out-of-order range (holes differ). */
		CHECK(g.contig == 0 || memcmp(g.buf, f.buf, g.contig) == 0);
		for (unsigned int k = 0; k < g.nooo; k++) {
			CHECK_EQ(g.ooo[k].start, f.ooo[k].start);
			CHECK_EQ(g.ooo[k].end, f.ooo[k].end);
			CHECK(memcmp(g.buf + g.ooo[k].start, f.buf + f.ooo[k].start,
				     g.ooo[k].end - g.ooo[k].start) == 0);
		}
		if (rnd() % 16 == 0) {
			uint32_t upto = f.contig ? rnd() % (f.contig + 1) : 0;

			cw_reasm_consume(&f, upto);
			cw_reasm_consume(&g, upto);
			CHECK_EQ(g.consumed, f.consumed);
		}
		if (failures)
			break;
	}
	CHECK(moves > 0);
	free(g.buf);
	free(fb);
}

static void
test_grow(void)
{
	static const uint32_t isns[] = {0, 0xfffffff0u, 0x7fffff00u};

	for (unsigned int i = 0; i < sizeof(isns) / sizeof(isns[0]); i++)
		for (int have = 0; have < 2; have++)
			for (int round = 0; round < 20; round++)
				test_grow_round(isns[i], have);
}

/*
 * Real stream: the server side of an IPv6 TLS handshake, fed in capture
 * order and in reverse order, must reassemble to the same bytes. tshark
 * reports 1346 + 1346 + 118 payload bytes from port 443 after the SYN-ACK
 * (ISN 1623734745), starting with a ServerHello record 16 03 03 00 64 02.
 */
static void
test_capture_stream(void)
{
	static const uint8_t sh[] = {0x16, 0x03, 0x03, 0x00, 0x64, 0x02};
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	struct {
		uint32_t seq, len;
		uint8_t bytes[1500];
	} segs[16];
	unsigned int nseg = 0, i, res;
	uint32_t isn = 0, total = 0;
	struct cw_reasm fwd, rev;
	uint8_t *bf = new_buf(CW_REASM_DEFAULT_CAP), *br = new_buf(CW_REASM_DEFAULT_CAP);
	struct cw_pkt pkt;
	pcap_t *p;

	p = pcap_open_offline("tests/data/conformance/ja4/pcap/ipv6.pcapng", err);
	if (p == NULL) {
		fprintf(stderr, "%s\n", err);
		failures++;
		goto out;
	}
	while (pcap_next_ex(p, &h, &data) == 1) {
		if (cw_decode(CW_LINK_NULL, data, h->caplen, &pkt) != CW_DEC_TCP ||
		    pkt.sport != 443)
			continue;
		if (pkt.tcp_flags & CW_TCP_SYN) {
			isn = pkt.seq;
			continue;
		}
		if (pkt.payload_len == 0 || nseg == 16 || pkt.payload_len > 1500)
			continue;
		segs[nseg].seq = pkt.seq;
		segs[nseg].len = pkt.payload_len;
		memcpy(segs[nseg].bytes, pkt.payload, pkt.payload_len);
		total += pkt.payload_len;
		nseg++;
	}
	pcap_close(p);
	CHECK_EQ(isn, 1623734745u);
	CHECK_EQ(nseg, 3);
	CHECK_EQ(total, 1346 + 1346 + 118);

	init(&fwd);
	cw_reasm_attach(&fwd, bf, CW_REASM_DEFAULT_CAP);
	cw_reasm_set_isn(&fwd, isn);
	init(&rev);
	cw_reasm_attach(&rev, br, CW_REASM_DEFAULT_CAP);
	cw_reasm_set_isn(&rev, isn);
	for (i = 0; i < nseg; i++)
		CHECK_EQ(add(&fwd, segs[i].seq, segs[i].bytes, segs[i].len), CW_RA_NEW);
	for (i = nseg; i-- > 0;) {
		res = add(&rev, segs[i].seq, segs[i].bytes, segs[i].len);
		CHECK_EQ(res, i == 0 ? CW_RA_NEW : CW_RA_OOO);
	}
	CHECK_EQ(fwd.contig, total);
	CHECK_EQ(rev.contig, total);
	CHECK(memcmp(bf, br, total) == 0);
	CHECK(memcmp(bf, sh, sizeof(sh)) == 0);
out:
	free(bf);
	free(br);
}

int
main(void)
{
	test_in_order();
	test_reverse_bytes();
	test_retrans_conflict();
	test_cap();
	test_midstream();
	test_wrap();
	test_far();
	test_ooo_full();
	test_ooo_table();
	test_consume_stop_nobuf();
	test_model();
	test_grow();
	test_capture_stream();
	printf("test_reasm: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
