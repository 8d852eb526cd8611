/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Expected Certificate messages (struct cw_certref, struct cw_tls_cmp) over every flow of every
 * test capture: a session that compares the server's Certificate message with an expected one
 * must write the same event as a session without one, whether the expected message is the same
 * (compared and dropped as it arrives, the chain id taken from the entry), differs at its first,
 * second, middle or last byte (rebuilt from the entry and assembled as usual), or has another
 * length. Retransmissions into compared bytes must be flagged as the reassembly flags them.
 * An entry whose chain id is wrong on purpose shows that a matched message's id does come from
 * the entry. The provider hands out buffers of exactly the size asked for, poisons and frees
 * what it takes back, and can refuse the buffer a rebuild needs: that session is cut
 * (CW_EVA_CAP, buf_short), never broken. No entry may stay pinned once a session is done.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certref.h"
#include "chain.h"
#include "cw_check.h"
#include "ooo_prov.h"
#include "session.h"
#include "session_walk.h"

#define LIMIT CW_REASM_DEFAULT_CAP
#define NREFS 64
#include "buf_prov.h"

static struct prov prov, bprov; /* gs's, and the baseline session's */
static struct cw_certref refs;
static void *refs_mem;
static const struct cw_buf_ops plain = {prov_get, prov_put, &bprov, LIMIT, ooo_get, ooo_put, NULL};
static const struct cw_buf_ops with_refs = {prov_get, prov_put, &prov, LIMIT,
					    ooo_get,  ooo_put,  &refs};
static struct cw_session bs, gs;
static uint8_t body[CW_CERTREF_BODY_MAX], alt[CW_CERTREF_BODY_MAX];
static unsigned long files, flows, armed, matched, differed, rebuilt_cut, retrans_flows;

/* Give back what the session holds, as the dataplane's pool does; nothing stays pinned. */
static void
done(struct cw_session *s)
{
	struct prov *p = s == &bs ? &bprov : &prov;
	uint32_t cap = 0;
	uint8_t *str = cw_session_str_buf(s, &cap);

	cw_session_unref(s);
	for (int i = 0; i < 2; i++) {
		if (s->ra[i].buf != NULL)
			prov_put(p, s->ra[i].buf, s->ra[i].cap);
		if (s->ra[i].ooo != NULL)
			ooo_put(NULL, s->ra[i].ooo);
	}
	if (str != NULL)
		prov_put(p, str, cap);
	CHECK_EQ(p->nlive, 0);
	for (uint32_t i = 0; i < refs.nsets * CW_CERTREF_WAYS; i++)
		CHECK_EQ(refs.e[i].users, 0);
}

/* The event of gs against the baseline's, and its certificates' bytes. */
static void
same_event(const struct cw_flow_key *key, const struct cw_flow_event *want, const char *path,
	   uint32_t fi, const char *what)
{
	int before = failures;
	struct cw_flow_event ev;
	struct cw_cert_list bc, gc;

	cw_session_event(&gs, key, &ev);
	CHECK(memcmp(&ev, want, sizeof(ev)) == 0);
	cw_session_certs(&bs, &bc);
	cw_session_certs(&gs, &gc);
	CHECK_EQ(bc.n, gc.n);
	for (uint32_t i = 0; i < bc.n && i < gc.n; i++)
		CHECK(bc.c[i].len == gc.c[i].len && gc.c[i].p != NULL &&
		      memcmp(bc.c[i].p, gc.c[i].p, bc.c[i].len) == 0);
	if (failures != before)
		fprintf(stderr, "  %s: flow %u differs (%s)\n", path, fi, what);
}

static void
fresh_refs(void)
{
	CHECK(cw_certref_init(&refs, refs_mem, NREFS) == 0);
}

/* Run the flow on gs with refs as they are. */
static void
run_refs(const struct bf_capture *cap, const struct bf_flow *fl, int release)
{
	memset(&prov, 0, sizeof(prov));
	prov.refuse = -1;
	cw_session_init_bufs(&gs, &with_refs);
	run_flow(&gs, cap, fl, release);
}

static void
one_flow(const struct bf_capture *cap, uint32_t fi, const char *path)
{
	const struct bf_flow *fl = &cap->flows[fi];
	struct cw_flow_event want, ev;
	struct cw_flow_key key;
	uint64_t k;
	uint32_t len, offs[5], m0, d0;
	static const uint8_t fake[CW_ID_LEN] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
						0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};

	cw_flow_key_make(&key, &cap->frames[fl->idx[0]].pkt);
	memset(&bprov, 0, sizeof(bprov));
	bprov.refuse = -1;
	cw_session_init_bufs(&bs, &plain);
	run_flow(&bs, cap, fl, 0);
	cw_session_event(&bs, &key, &want);
	flows++;

	/* Nothing expected yet: the same event, and the message is kept for the name. */
	fresh_refs();
	run_refs(cap, fl, 0);
	same_event(&key, &want, path, (uint32_t)fi, "first sighting");
	done(&gs);
	if (!(want.flags & CW_EVF_CERT) || bs.sni_len == 0 || bs.t13 || bs.cert_cut ||
	    bs.ncert == 0 || bs.cert_len > CW_CERTREF_BODY_MAX) {
		done(&bs);
		return;
	}
	len = bs.cert_len;
	memcpy(body, bs.ra[!bs.cli_side].buf + bs.cert_off, len);
	k = cw_certref_key(bs.str, bs.sni_len, bs.ev.cipher);
	CHECK_EQ(refs.stored, 1);
	{
		struct cw_certref_ent *e = cw_certref_get(&refs, k);

		CHECK(e != NULL && e->len == len && memcmp(e->body, body, len) == 0 &&
		      memcmp(e->chain_id, want.chain_id, CW_ID_LEN) == 0);
		if (e != NULL)
			cw_certref_unpin(e);
	}
	armed++;

	/* The same message expected: compared, matched, the same event; again releasing early. */
	for (int rel = 0; rel < 2; rel++) {
		m0 = refs.matched;
		run_refs(cap, fl, rel);
		CHECK_EQ(refs.matched, m0 + 1);
		if (!rel)
			same_event(&key, &want, path, fi, "matched");
		else {
			cw_session_event(&gs, &key, &ev);
			CHECK(memcmp(&ev, &want, sizeof(ev)) == 0);
		}
		if (gs.ev.anomalies & (CW_EVA_RETRANS | CW_EVA_OVERLAP_CONFLICT))
			retrans_flows++;
		done(&gs);
	}
	matched++;

	/* A wrong id in the entry: a matched message's id is the entry's, nothing else changes. */
	fresh_refs();
	cw_certref_put(&refs, k, body, len, fake);
	run_refs(cap, fl, 0);
	cw_session_event(&gs, &key, &ev);
	CHECK(memcmp(ev.chain_id, fake, CW_ID_LEN) == 0);
	memcpy(ev.chain_id, want.chain_id, CW_ID_LEN);
	CHECK(memcmp(&ev, &want, sizeof(ev)) == 0);
	done(&gs);

	/* One byte different: at the first, second, middle, two-thirds and last byte. */
	offs[0] = 0;
	offs[1] = 1 < len ? 1 : 0;
	offs[2] = len / 2;
	offs[3] = len * 2 / 3;
	offs[4] = len - 1;
	for (int i = 0; i < 5; i++) {
		fresh_refs();
		memcpy(alt, body, len);
		alt[offs[i]] ^= 0x01;
		cw_certref_put(&refs, k, alt, len, fake);
		d0 = refs.differed;
		run_refs(cap, fl, 0);
		same_event(&key, &want, path, fi, "differs");
		if (refs.differed > d0)
			differed++;
		/* What was parsed whole replaced the entry. */
		{
			struct cw_certref_ent *e = cw_certref_get(&refs, k);

			CHECK(e != NULL && e->len == len && memcmp(e->body, body, len) == 0);
			if (e != NULL)
				cw_certref_unpin(e);
		}
		done(&gs);

		/* The rebuild finds no buffer: cut, flagged, everything given back. */
		if (refs.differed > d0) {
			fresh_refs();
			cw_certref_put(&refs, k, alt, len, fake);
			memset(&prov, 0, sizeof(prov));
			prov.refuse = 0;
			cw_session_init_bufs(&gs, &with_refs);
			prov.refuse = -1;
			for (uint32_t j = 0; j < fl->n; j++) {
				const struct bf_frame *f = &cap->frames[fl->idx[j]];
				int rc;

				/*
				 * While comparing, the direction holds no buffer between segments:
				 * the segment's own buffer is granted, the rebuild's refused.
				 */
				prov.refuse = gs.cmp.state == CW_CMP_ON ? (int32_t)prov.grants + 1 : -1;
				rc = cw_session_packet(&gs, &f->pkt, f->ts_ns);
				if (rc != CW_SESS_MORE)
					break;
			}
			prov.refuse = -1;
			cw_session_finish(&gs, CW_END_DONE);
			if (gs.buf_short) {
				CHECK(gs.ev.anomalies & CW_EVA_CAP);
				CHECK(memcmp(gs.ev.chain_id, fake, CW_ID_LEN) != 0);
				rebuilt_cut++;
			}
			done(&gs);
		}
	}

	/* The same message kept for the name under another cipher suite: not even looked at. */
	fresh_refs();
	cw_certref_put(&refs, cw_certref_key(bs.str, bs.sni_len, (uint16_t)(bs.ev.cipher ^ 1)), body,
		       len, fake);
	run_refs(cap, fl, 0);
	CHECK_EQ(refs.found, 0);
	same_event(&key, &want, path, fi, "other suite");
	done(&gs);

	/* Another length expected: not compared, the same event. */
	if (len > 1) {
		fresh_refs();
		cw_certref_put(&refs, k, body, len - 1, fake);
		d0 = refs.differed;
		run_refs(cap, fl, 0);
		same_event(&key, &want, path, fi, "other length");
		CHECK_EQ(refs.differed, d0);
		done(&gs);
	}
	done(&bs);
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
	for (uint32_t fi = 0; fi < cap.nflows; fi++)
		one_flow(&cap, fi, path);
	bf_free(&cap);
}

/* The cache alone: sets, least recently used ways, pins, lengths. */
static void
cache_checks(void)
{
	static const uint8_t id[CW_ID_LEN] = {1};
	struct cw_certref_ent *e, *p;
	uint8_t b[16] = "0123456789abcdef";
	uint64_t key[CW_CERTREF_WAYS + 1];
	uint32_t n = 0;

	CHECK(cw_certref_init(&refs, refs_mem, 3) == -EINVAL);
	CHECK(cw_certref_init(&refs, (uint8_t *)refs_mem + 8, NREFS) == -EINVAL);
	fresh_refs();
	CHECK_EQ(refs.nsets, NREFS / CW_CERTREF_WAYS);
	/* Five keys of one set: the fifth takes the least recently used way. */
	for (uint64_t x = 1; n < CW_CERTREF_WAYS + 1; x++)
		if ((x & (refs.nsets - 1)) == 3)
			key[n++] = x;
	for (uint32_t i = 0; i < CW_CERTREF_WAYS; i++) {
		b[0] = (uint8_t)i;
		cw_certref_put(&refs, key[i], b, sizeof(b), id);
	}
	e = cw_certref_get(&refs, key[0]); /* key[1] is now the least recently used */
	CHECK(e != NULL && e->body[0] == 0);
	cw_certref_put(&refs, key[4], b, sizeof(b), id);
	CHECK(cw_certref_get(&refs, key[1]) == NULL);
	p = cw_certref_get(&refs, key[4]);
	CHECK(p != NULL && p->users == 1);
	/* A name's entry is replaced in place; a pinned one is not. */
	b[0] = 9;
	cw_certref_put(&refs, key[4], b, 8, id);
	CHECK(p->len == sizeof(b) && refs.busy == 1);
	cw_certref_unpin(p);
	cw_certref_put(&refs, key[4], b, 8, id);
	CHECK(p->len == 8 && p->body[0] == 9);
	/* Every way pinned: nothing stored. */
	cw_certref_get(&refs, key[2]);
	cw_certref_get(&refs, key[3]);
	cw_certref_get(&refs, key[4]);
	cw_certref_put(&refs, key[1], b, 8, id);
	CHECK(refs.busy == 2 && cw_certref_get(&refs, key[1]) == NULL);
	/* Too long: never kept. */
	{
		static uint8_t big[CW_CERTREF_BODY_MAX + 1];

		cw_certref_put(&refs, 77, big, sizeof(big), id);
		CHECK(refs.too_long == 1 && cw_certref_get(&refs, 77) == NULL);
	}
	CHECK(cw_certref_bytes(NREFS) >= (size_t)NREFS * CW_CERTREF_BODY_MAX);
}

int
main(void)
{
	refs_mem = aligned_alloc(64, cw_certref_bytes(NREFS));
	if (refs_mem == NULL)
		return 2;
	cache_checks();
	if (walk_captures() != 0) {
		fprintf(stderr, "test_session_certref: cannot walk tests/data\n");
		return 1;
	}
	printf("test_session_certref: %lu captures, %lu flows, %lu with a chain compared (%lu "
	       "matched, %lu rebuilt after a differing byte, %lu cut for want of a buffer, %lu with "
	       "retransmissions); %d checks, %d failed\n",
	       files, flows, armed, matched, differed, rebuilt_cut, retrans_flows, checks, failures);
	CHECK(files > 100);
	CHECK(armed > 50 && matched == armed);
	/* Most chains span segments: most differing bytes arrive after the message started. */
	CHECK(differed > armed);
	CHECK(rebuilt_cut > 0);
	free(refs_mem);
	return failures ? 1 : 0;
}
