/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the cursor: every primitive at its exact length and one byte short. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_cursor.h"

#include "cw_check.h"

/*
 * Each test copies its bytes into a heap block of exactly that size, so a
 * read one past the end is caught by AddressSanitizer, not just by the
 * return code.
 */
static uint8_t *
dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (q == NULL) {
		perror("malloc");
		exit(2);
	}
	if (n)
		memcpy(q, p, n);
	return q;
}

static const uint8_t bytes[] = {0x01, 0x82, 0x03, 0xf4, 0x05, 0x06, 0x07, 0x08};

static void
test_fixed_reads(void)
{
	uint8_t *b = dup_exact(bytes, sizeof(bytes));
	struct cw_cur c;
	uint8_t v8 = 0xaa;
	uint16_t v16 = 0xaaaa;
	uint32_t v32 = 0xaaaaaaaa;

	/* Exact length succeeds, advances, and is big-endian. */
	c = cw_cur_init(b, 1);
	CHECK_EQ(cw_u8(&c, &v8), CW_OK);
	CHECK_EQ(v8, 0x01);
	CHECK(cw_empty(&c));
	c = cw_cur_init(b, 2);
	CHECK_EQ(cw_u16(&c, &v16), CW_OK);
	CHECK_EQ(v16, 0x0182);
	CHECK(cw_empty(&c));
	c = cw_cur_init(b, 3);
	CHECK_EQ(cw_u24(&c, &v32), CW_OK);
	CHECK_EQ(v32, 0x018203);
	CHECK(cw_empty(&c));
	c = cw_cur_init(b, 4);
	CHECK_EQ(cw_u32(&c, &v32), CW_OK);
	CHECK_EQ(v32, 0x018203f4);
	CHECK(cw_empty(&c));

	/* One short: CW_MORE, output untouched, cursor not moved. */
	v8 = 0xaa;
	c = cw_cur_init(b, 0);
	CHECK_EQ(cw_u8(&c, &v8), CW_MORE);
	CHECK_EQ(v8, 0xaa);
	CHECK_EQ(cw_left(&c), 0);
	v16 = 0xaaaa;
	c = cw_cur_init(b, 1);
	CHECK_EQ(cw_u16(&c, &v16), CW_MORE);
	CHECK_EQ(v16, 0xaaaa);
	CHECK_EQ(cw_left(&c), 1);
	v32 = 0xaaaaaaaa;
	c = cw_cur_init(b, 2);
	CHECK_EQ(cw_u24(&c, &v32), CW_MORE);
	CHECK_EQ(v32, 0xaaaaaaaa);
	CHECK_EQ(cw_left(&c), 2);
	c = cw_cur_init(b, 3);
	CHECK_EQ(cw_u32(&c, &v32), CW_MORE);
	CHECK_EQ(v32, 0xaaaaaaaa);
	CHECK_EQ(cw_left(&c), 3);

	/* Sequential reads consume exactly the whole buffer. */
	c = cw_cur_init(b, sizeof(bytes));
	CHECK_EQ(cw_u8(&c, &v8), CW_OK);
	CHECK_EQ(cw_u16(&c, &v16), CW_OK);
	CHECK_EQ(v16, 0x8203);
	CHECK_EQ(cw_u24(&c, &v32), CW_OK);
	CHECK_EQ(v32, 0xf40506);
	CHECK_EQ(cw_u16(&c, &v16), CW_OK);
	CHECK_EQ(v16, 0x0708);
	CHECK(cw_empty(&c));
	CHECK_EQ(cw_u8(&c, &v8), CW_MORE);
	free(b);
}

static void
test_skip_view_sub(void)
{
	uint8_t *b = dup_exact(bytes, sizeof(bytes));
	struct cw_cur c, s;
	const uint8_t *v = NULL;

	c = cw_cur_init(b, 4);
	CHECK_EQ(cw_skip(&c, 5), CW_MORE);
	CHECK_EQ(cw_left(&c), 4);
	CHECK_EQ(cw_skip(&c, 4), CW_OK);
	CHECK(cw_empty(&c));
	CHECK_EQ(cw_skip(&c, 0), CW_OK);
	/* A huge skip must not wrap the pointer. */
	c = cw_cur_init(b, 4);
	CHECK_EQ(cw_skip(&c, (size_t)-1), CW_MORE);
	CHECK_EQ(cw_left(&c), 4);

	c = cw_cur_init(b, 4);
	CHECK_EQ(cw_view(&c, 5, &v), CW_MORE);
	CHECK(v == NULL);
	CHECK_EQ(cw_view(&c, 4, &v), CW_OK);
	CHECK(v == b);
	CHECK(cw_empty(&c));

	c = cw_cur_init(b, sizeof(bytes));
	CHECK_EQ(cw_skip(&c, 1), CW_OK);
	CHECK_EQ(cw_sub(&c, 8, &s), CW_MORE);
	CHECK_EQ(cw_left(&c), 7);
	CHECK_EQ(cw_sub(&c, 7, &s), CW_OK);
	CHECK_EQ(cw_left(&s), 7);
	CHECK(s.p == b + 1);
	CHECK(cw_empty(&c));
	free(b);
}

static void
test_vec(void)
{
	/* 1-byte prefix: length 3, then 3 bytes, then a trailer. */
	static const uint8_t v1[] = {0x03, 0xa1, 0xa2, 0xa3, 0xff};
	/* 2-byte prefix: length 0x0002. */
	static const uint8_t v2[] = {0x00, 0x02, 0xb1, 0xb2};
	/* 3-byte prefix: length 0x000001. */
	static const uint8_t v3[] = {0x00, 0x00, 0x01, 0xc1};
	/* Zero-length vector. */
	static const uint8_t v0[] = {0x00, 0x00};
	uint8_t *b;
	struct cw_cur c, s;
	uint8_t x = 0;

	b = dup_exact(v1, sizeof(v1));
	c = cw_cur_init(b, sizeof(v1));
	CHECK_EQ(cw_vec(&c, 1, &s), CW_OK);
	CHECK_EQ(cw_left(&s), 3);
	CHECK(s.p == b + 1);
	CHECK_EQ(cw_left(&c), 1);
	CHECK_EQ(cw_u8(&s, &x), CW_OK);
	CHECK_EQ(x, 0xa1);
	/* The sub-cursor ends at the vector, not at the parent's end. */
	CHECK_EQ(cw_skip(&s, 3), CW_MORE);
	CHECK_EQ(cw_skip(&s, 2), CW_OK);
	CHECK(cw_empty(&s));
	/* Exactly the vector, no trailer. */
	c = cw_cur_init(b, 4);
	CHECK_EQ(cw_vec(&c, 1, &s), CW_OK);
	CHECK(cw_empty(&c));
	/* Body one short: CW_MORE and the parent does not move. */
	c = cw_cur_init(b, 3);
	CHECK_EQ(cw_vec(&c, 1, &s), CW_MORE);
	CHECK(c.p == b);
	CHECK_EQ(cw_left(&c), 3);
	free(b);

	b = dup_exact(v2, sizeof(v2));
	c = cw_cur_init(b, sizeof(v2));
	CHECK_EQ(cw_vec(&c, 2, &s), CW_OK);
	CHECK_EQ(cw_left(&s), 2);
	CHECK(cw_empty(&c));
	c = cw_cur_init(b, 3);
	CHECK_EQ(cw_vec(&c, 2, &s), CW_MORE);
	CHECK(c.p == b);
	/* Prefix itself one short. */
	c = cw_cur_init(b, 1);
	CHECK_EQ(cw_vec(&c, 2, &s), CW_MORE);
	CHECK(c.p == b);
	free(b);

	b = dup_exact(v3, sizeof(v3));
	c = cw_cur_init(b, sizeof(v3));
	CHECK_EQ(cw_vec(&c, 3, &s), CW_OK);
	CHECK_EQ(cw_left(&s), 1);
	CHECK(cw_empty(&c));
	c = cw_cur_init(b, 3);
	CHECK_EQ(cw_vec(&c, 3, &s), CW_MORE);
	CHECK(c.p == b);
	c = cw_cur_init(b, 2);
	CHECK_EQ(cw_vec(&c, 3, &s), CW_MORE);
	CHECK(c.p == b);
	free(b);

	b = dup_exact(v0, sizeof(v0));
	c = cw_cur_init(b, sizeof(v0));
	CHECK_EQ(cw_vec(&c, 2, &s), CW_OK);
	CHECK(cw_empty(&s));
	CHECK(cw_empty(&c));
	free(b);

	/* Unsupported prefix widths are a caller bug: CW_BAD, nothing consumed. */
	b = dup_exact(v1, sizeof(v1));
	c = cw_cur_init(b, sizeof(v1));
	CHECK_EQ(cw_vec(&c, 0, &s), CW_BAD);
	CHECK_EQ(cw_vec(&c, 4, &s), CW_BAD);
	CHECK(c.p == b);
	free(b);
}

/* Lengths far larger than the data, at every prefix width. */
static void
test_overlong(void)
{
	static const uint8_t o1[] = {0xff, 0x00};
	static const uint8_t o2[] = {0xff, 0xff, 0x00, 0x00};
	static const uint8_t o3[] = {0xff, 0xff, 0xff, 0x00, 0x00, 0x00};
	const uint8_t *in[] = {o1, o2, o3};
	const size_t n[] = {sizeof(o1), sizeof(o2), sizeof(o3)};
	struct cw_cur c, s;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		uint8_t *b = dup_exact(in[i], n[i]);

		c = cw_cur_init(b, n[i]);
		CHECK_EQ(cw_vec(&c, i + 1, &s), CW_MORE);
		CHECK(c.p == b);
		CHECK_EQ(cw_left(&c), n[i]);
		free(b);
	}
}

int
main(void)
{
	test_fixed_reads();
	test_skip_view_sub();
	test_vec();
	test_overlong();
	printf("test_cursor: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
