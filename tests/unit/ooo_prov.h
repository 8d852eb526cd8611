/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Out-of-order tables for the tests' sessions with buffers on demand (struct cw_buf_ops ooo_get,
 * ooo_put): each malloc'd alone, so a sanitizer build catches a range written past the table,
 * counted, and poisoned when given back. ooo_refuse makes ooo_get() refuse (and count it).
 */
#ifndef CW_TEST_OOO_PROV_H
#define CW_TEST_OOO_PROV_H

#include <stdlib.h>
#include <string.h>

#include "reasm.h"

static uint32_t ooo_live, ooo_grants, ooo_refused;
static int ooo_refuse;

static struct cw_reasm_ooo *
ooo_get(void *arg)
{
	struct cw_reasm_ooo *t;

	(void)arg;
	if (ooo_refuse) {
		ooo_refused++;
		return NULL;
	}
	t = malloc(CW_REASM_MAX_OOO * sizeof(*t));
	if (t == NULL)
		exit(2);
	memset(t, 0x5c, CW_REASM_MAX_OOO * sizeof(*t));
	ooo_live++;
	ooo_grants++;
	return t;
}

static void
ooo_put(void *arg, struct cw_reasm_ooo *t)
{
	(void)arg;
	memset(t, 0xa5, CW_REASM_MAX_OOO * sizeof(*t));
	free(t);
	ooo_live--;
}

#endif /* CW_TEST_OOO_PROV_H */
