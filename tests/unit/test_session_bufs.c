/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sessions with buffers on demand (cw_session_init_bufs) against sessions with fixed buffers of the
 * same limit, over every flow of every test capture: the events, certificate views and chain ids
 * must be identical. The provider hands out buffers of exactly the size asked for (so a sanitizer
 * build catches any write past it) and poisons and frees every buffer it takes back, so a view
 * left pointing into a replaced or trimmed buffer shows up as different bytes or a use after
 * free. The sessions also drop parsed bytes and give buffers back as they go, and every other
 * flow with a chain releases its certificate bytes as soon as the Certificate message is parsed, as the
 * dataplane does for known chains: events and chain ids must still match. A second pass refuses
 * buffers after a few grants: the session must end normally, cut when growth was refused
 * (CW_EVA_CAP, buf_short), and give back exactly what it was given. Out-of-order tables are lent
 * the same way (each malloc'd alone): a direction holds one exactly while it holds ranges beyond
 * a hole, and a flow that borrowed one, run again with none to be had, is flagged
 * CW_EVA_OOO_FULL and gives everything back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "cw_check.h"
#include "ooo_prov.h"
#include "session.h"
#include "session_walk.h"

#define LIMIT CW_REASM_DEFAULT_CAP
#include "buf_prov.h"

static struct prov prov;
static const struct cw_buf_ops ops = {prov_get, prov_put, &prov, LIMIT, ooo_get, ooo_put, NULL};
static uint8_t fixed[2][LIMIT];
static struct cw_sess_area fixed_area;
static struct cw_session fs, gs;
static unsigned long flows, grown_flows, moves, cut_flows, files, released, cert_flows;
static unsigned long ooo_flows, ooo_lent;

/* Give back what the session holds at its end, as the dataplane's pool does. */
static void
release(struct cw_session *s)
{
	uint32_t held = 0, tables = 0, cap = 0;
	uint8_t *str = cw_session_str_buf(s, &cap);

	for (int i = 0; i < 2; i++) {
		held += s->ra[i].buf != NULL;
		/* A table is held only while ranges are: it goes back when the last hole fills. */
		CHECK((s->ra[i].ooo != NULL) == (s->ra[i].nooo > 0));
		tables += s->ra[i].ooo != NULL;
	}
	CHECK_EQ(prov.nlive, held + (str != NULL));
	CHECK_EQ(ooo_live, tables);
	for (int i = 0; i < 2; i++) {
		if (s->ra[i].buf != NULL)
			prov_put(&prov, s->ra[i].buf, s->ra[i].cap);
		if (s->ra[i].ooo != NULL)
			ooo_put(NULL, s->ra[i].ooo);
	}
	if (str != NULL)
		prov_put(&prov, str, cap);
	CHECK_EQ(prov.nlive, 0);
	CHECK_EQ(ooo_live, 0);
}

static void
compare(const struct bf_capture *cap, uint32_t fi, const char *path)
{
	int before = failures;
	struct cw_flow_event fev, gev;
	struct cw_cert_list fc, gc;
	const struct cw_reasm *sr = &gs.ra[gs.cli_side == 0];
	struct cw_flow_key key;

	cw_flow_key_make(&key, &cap->frames[cap->flows[fi].idx[0]].pkt);
	cw_session_event(&fs, &key, &fev);
	cw_session_event(&gs, &key, &gev);
	CHECK(memcmp(&fev, &gev, sizeof(fev)) == 0);
	cw_session_certs(&fs, &fc);
	cw_session_certs(&gs, &gc);
	CHECK_EQ(fc.n, gc.n);
	CHECK_EQ(fc.total, gc.total);
	for (uint32_t i = 0; i < fc.n && i < gc.n; i++) {
		CHECK(fc.c[i].p != NULL && fc.c[i].p[0] == 0x30); /* a DER SEQUENCE */
		if (gs.certs_released)
			CHECK(gc.c[i].p == NULL && gc.c[i].len == 0);
		else if (gc.c[i].p != NULL && gc.c[i].p >= sr->buf &&
			 gc.c[i].p + gc.c[i].len <= sr->buf + cw_reasm_extent(sr))
			CHECK(fc.c[i].len == gc.c[i].len &&
			      memcmp(fc.c[i].p, gc.c[i].p, fc.c[i].len) == 0);
		else
			CHECK(!"the view lies within the bytes the server direction holds");
	}
	CHECK_EQ(gs.buf_short, 0);
	if (failures != before)
		fprintf(stderr, "  %s: flow %u differs\n", path, fi);
	(void)cap;
}

static void
one_capture(const char *path)
{
	static struct bf_capture cap;

	if (bf_load(&cap, path) < 0) {
		CHECK(!"capture loads");
		return;
	}
	files++;
	for (uint32_t fi = 0; fi < cap.nflows; fi++) {
		const struct bf_flow *fl = &cap.flows[fi];
		int rel;

		cw_session_init(&fs, fixed[0], fixed[1], LIMIT, &fixed_area);
		run_flow(&fs, &cap, fl, 0);

		/* Every other flow with a certificate chain releases it early. */
		rel = (fs.ev.flags & CW_EVF_CERT) && (cert_flows++ & 1);
		memset(&prov, 0, sizeof(prov));
		prov.refuse = -1;
		ooo_grants = 0;
		cw_session_init_bufs(&gs, &ops);
		run_flow(&gs, &cap, fl, rel);
		if (gs.certs_released)
			released++;
		compare(&cap, fi, path);
		flows++;
		if (prov.grants > 0)
			grown_flows++;
		moves += prov.grants;
		if (ooo_grants > 0)
			ooo_flows++;
		ooo_lent += ooo_grants;
		release(&gs);

		/*
		 * No out-of-order table to be had: what the flow needed one for is refused and
		 * flagged, exactly as when every slot is taken; the rest of the flow goes on.
		 */
		if (ooo_grants > 0) {
			memset(&prov, 0, sizeof(prov));
			prov.refuse = -1;
			ooo_refuse = 1;
			ooo_refused = 0;
			cw_session_init_bufs(&gs, &ops);
			run_flow(&gs, &cap, fl, rel);
			ooo_refuse = 0;
			CHECK(ooo_refused > 0);
			CHECK(gs.ev.anomalies & CW_EVA_OOO_FULL);
			CHECK(gs.ra[0].ooo == NULL && gs.ra[1].ooo == NULL);
			release(&gs);
		}

		/* Refuse after 0, 1 or 2 grants: a cut session, never a broken one. */
		for (int32_t k = 0; k < 3; k++) {
			memset(&prov, 0, sizeof(prov));
			prov.refuse = k;
			cw_session_init_bufs(&gs, &ops);
			run_flow(&gs, &cap, fl, rel);
			/* A refused exchange for a smaller buffer cuts nothing: only growth counts. */
			CHECK(!gs.buf_short || prov.refused > 0);
			if (gs.buf_short) {
				CHECK(gs.ev.anomalies & (CW_EVA_CAP | CW_EVA_SNI_TRUNC | CW_EVA_ALPN_TRUNC));
				cut_flows++;
			}
			for (int i = 0; i < 2; i++)
				CHECK(gs.ra[i].cap <= gs.ra[i].limit);
			release(&gs);
		}
	}
	bf_free(&cap);
}

int
main(void)
{
	if (walk_captures() != 0) {
		fprintf(stderr, "test_session_bufs: cannot walk tests/data\n");
		return 1;
	}
	printf("test_session_bufs: %lu captures, %lu flows (%lu took buffers, %lu grants, %lu "
	       "released their certificates early, %lu borrowed %lu out-of-order tables), %lu cut "
	       "runs; %d checks, %d failed\n",
	       files, flows, grown_flows, moves, released, ooo_flows, ooo_lent, cut_flows, checks,
	       failures);
	/* The walk must have found the captures, and growth must have happened. */
	CHECK(files > 100);
	CHECK(moves > grown_flows);
	CHECK(released > 25 && released < cert_flows);
	/* Reordered flows are among the captures: tables were lent (and all given back). */
	CHECK(ooo_flows > 0);
	return failures ? 1 : 0;
}
