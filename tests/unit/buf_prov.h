/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A buffer provider for the tests' sessions with buffers on demand (struct cw_buf_ops get, put):
 * each buffer malloc'd at exactly the size asked for (a sanitizer build catches a write past
 * it), filled with 0x5c, and poisoned with 0xa5 and freed when given back, so a view left in a
 * replaced or trimmed buffer shows up as other bytes or a use after free. It refuses once
 * `refuse` buffers were granted (-1: never) and when MAX_LIVE are out. The including test
 * defines LIMIT (the most bytes a direction asks for) and includes cw_check.h first.
 */
#ifndef CW_TEST_BUF_PROV_H
#define CW_TEST_BUF_PROV_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIVE 8

struct prov {
	uint8_t *live[MAX_LIVE];
	uint32_t nlive;
	uint32_t grants;  /* buffers handed out */
	int32_t refuse;   /* refuse once grants reaches this; -1 never */
	uint32_t refused;
};

static uint8_t *
prov_get(void *arg, uint32_t need, uint32_t *cap)
{
	struct prov *p = arg;
	uint8_t *b;

	CHECK(need > 0 && need <= LIMIT);
	if ((p->refuse >= 0 && p->grants >= (uint32_t)p->refuse) || p->nlive == MAX_LIVE) {
		p->refused++;
		return NULL;
	}
	b = malloc(need);
	if (b == NULL)
		exit(2);
	memset(b, 0x5c, need);
	p->live[p->nlive++] = b;
	p->grants++;
	*cap = need;
	return b;
}

static void
prov_put(void *arg, uint8_t *buf, uint32_t cap)
{
	struct prov *p = arg;

	for (uint32_t i = 0; i < p->nlive; i++) {
		if (p->live[i] != buf)
			continue;
		memset(buf, 0xa5, cap);
		free(buf);
		p->live[i] = p->live[--p->nlive];
		return;
	}
	CHECK(!"put of a buffer that was not handed out");
}

#endif /* CW_TEST_BUF_PROV_H */
