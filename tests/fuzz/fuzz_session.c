/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: frames -> L2-L4 decode -> per-flow reassembly -> TLS framing, parsers, fingerprints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_frames.h"
#include "session.h"
#include "../unit/ooo_prov.h"

#define FZ_FLOWS 8 /* also the size of fz_grants and fz_ops */
#define FZ_CAP (4u * 1024u) /* small cap so the fuzzer reaches the cap paths */

/*
 * Odd flow slots take their buffers on demand (cw_session_init_bufs): malloc'd at exactly the
 * size asked for, so ASan catches a write past it, and freed when replaced, so it catches a view
 * left in an old one. The last slot is refused its third buffer, to reach the cut path; slots
 * 1 and 5 release their certificate bytes once parsed, as the dataplane does for known chains.
 *
 * Then the input runs three times more with every slot's buffers on demand and a cache of
 * expected Certificate messages (struct cw_certref) they share, fresh for each input: the third
 * pass compares every server flight whose name the second pass kept a message for (and matches
 * it); before the fourth, one byte of every kept message is changed, so its flights differ there
 * and are rebuilt. The compare, rebuild and retransmission paths see the fuzzer's bytes.
 * Expecting a message must change nothing: each slot's event (but the last's, whose refused
 * buffers depend on how many it asked for) must be the same in all three passes, and no entry
 * may stay pinned once the flows are given back.
 */
#define FZ_REFS 16
static uint32_t fz_grants[FZ_FLOWS];
static struct cw_certref fz_refs;
static uint8_t *fz_refs_mem;
static volatile uint8_t fz_sink; /* what the certificate reads add up to, so they are done */
static int fz_all_bufs; /* this pass: every slot's buffers on demand, with fz_refs */

static uint8_t *
fz_get(void *arg, uint32_t need, uint32_t *cap)
{
	uint32_t *grants = arg;

	if (grants == &fz_grants[FZ_FLOWS - 1] && *grants >= 2)
		return NULL;
	(*grants)++;
	*cap = need;
	return malloc(need);
}

static void
fz_put(void *arg, uint8_t *buf, uint32_t cap)
{
	(void)arg;
	(void)cap;
	free(buf);
}

static struct cw_buf_ops fz_ops[FZ_FLOWS];

struct fz_flow {
	int used, done;
	struct cw_flow_key key;
	struct cw_session s;
	uint8_t buf[2 * FZ_CAP];
	struct cw_sess_area area;
};

static struct fz_flow flows[FZ_FLOWS];

static struct fz_flow *
lookup(const struct cw_pkt *p)
{
	struct cw_flow_key key;

	cw_flow_key_make(&key, p);
	for (int i = 0; i < FZ_FLOWS; i++)
		if (flows[i].used && memcmp(&flows[i].key, &key, sizeof(key)) == 0)
			return &flows[i];
	for (int i = 0; i < FZ_FLOWS; i++) {
		if (!flows[i].used) {
			flows[i].used = 1;
			flows[i].done = 0;
			flows[i].key = key;
			if ((i & 1) || fz_all_bufs) {
				fz_grants[i] = 0;
				fz_ops[i] = (struct cw_buf_ops){fz_get, fz_put, &fz_grants[i], FZ_CAP,
							  ooo_get, ooo_put,
							  fz_all_bufs ? &fz_refs : NULL};
				cw_session_init_bufs(&flows[i].s, &fz_ops[i]);
			} else {
				cw_session_init(&flows[i].s, flows[i].buf, flows[i].buf + FZ_CAP, FZ_CAP,
						&flows[i].area);
			}
			return &flows[i];
		}
	}
	return NULL; /* table full: the packet is ignored, as a bounded table would */
}

/* Every frame through the flows; then each flow's event, and its buffers given back. */
static void
run_pass(const uint8_t *data, size_t size, struct cw_flow_event ev[FZ_FLOWS])
{
	struct fz_reader rd;
	const uint8_t *frame;
	uint32_t len;
	struct cw_pkt pkt;
	uint64_t ts = 0;

	for (int i = 0; i < FZ_FLOWS; i++)
		flows[i].used = 0;
	fz_reader_init(&rd, data, size);
	while (fz_next_frame(&rd, &frame, &len)) {
		/* Copy so that reads past the frame are caught by ASan. */
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, frame, len);
		if (cw_decode(rd.linktype, copy, len, &pkt) == CW_DEC_TCP) {
			/* Every segment's checksums are read (inside the frame: ASan watches the copy). */
			int csum_ok = cw_pkt_csum_ok(&pkt);
			struct fz_flow *f = lookup(&pkt);

			/* A quarter of the flows run as --checksums verify would. */
			if (f && !f->done && !csum_ok && (f - flows) % 4 == 2) {
				cw_session_note(&f->s, CW_EVA_BAD_CSUM);
			} else if (f && !f->done) {
				int rc = cw_session_packet(&f->s, &pkt, ts += 1000);
				if (rc == CW_SESS_MORE && (f - flows) % 4 == 1 &&
				    (f->s.ev.flags & CW_EVF_CERT))
					cw_session_release_certs(&f->s);
				if (rc == CW_SESS_DONE) {
					cw_session_finish(&f->s, CW_END_DONE);
					f->done = 1;
				} else if (rc == CW_SESS_ABANDON) {
					cw_session_finish(&f->s, cw_session_abandon_reason(&f->s));
					f->done = 1;
				}
			}
		}
		free(copy);
	}
	for (int i = 0; i < FZ_FLOWS; i++) {
		uint32_t cap;

		memset(&ev[i], 0, sizeof(ev[i]));
		if (!flows[i].used)
			continue;
		if (!flows[i].done)
			cw_session_finish(&flows[i].s, CW_END_SHUTDOWN);
		cw_session_event(&flows[i].s, &flows[i].key, &ev[i]);
		if (ev[i].sni[CW_EV_SNI_MAX - 1] != '\0' ||
		    ev[i].alpn_sel[CW_EV_ALPN_SEL_MAX - 1] != '\0' || ev[i].alpn_len > CW_EV_ALPN_MAX)
			abort();
		if (flows[i].s.on_demand) {
			/* The certificates are read last, as the dataplane's blob is (ASan watches). */
			struct cw_cert_list cl;
			uint8_t sum = 0;

			cw_session_certs(&flows[i].s, &cl);
			for (uint32_t c = 0; c < cl.n; c++)
				for (uint32_t b = 0; cl.c[c].p != NULL && b < cl.c[c].len; b++)
					sum ^= cl.c[c].p[b];
			fz_sink ^= sum;
			cw_session_unref(&flows[i].s);
			for (int d = 0; d < 2; d++) {
				free(flows[i].s.ra[d].buf);
				if (flows[i].s.ra[d].ooo != NULL)
					ooo_put(NULL, flows[i].s.ra[d].ooo);
			}
			free(cw_session_str_buf(&flows[i].s, &cap));
		}
	}
	for (uint32_t e = 0; e < fz_refs.nsets * CW_CERTREF_WAYS; e++)
		if (fz_refs.e[e].users != 0)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cw_flow_event ev1[FZ_FLOWS], ev2[FZ_FLOWS];

	if (fz_refs_mem == NULL &&
	    (fz_refs_mem = aligned_alloc(64, cw_certref_bytes(FZ_REFS))) == NULL)
		abort();
	if (cw_certref_init(&fz_refs, fz_refs_mem, FZ_REFS) != 0)
		abort();
	fz_all_bufs = 0;
	run_pass(data, size, ev1);
	fz_all_bufs = 1;
	run_pass(data, size, ev1);
	run_pass(data, size, ev2);
	for (int i = 0; i < FZ_FLOWS - 1; i++)
		if (memcmp(&ev1[i], &ev2[i], sizeof(ev1[i])) != 0)
			abort();
	/* One byte of each kept message changed, somewhere the input picks. */
	for (uint32_t e = 0; e < fz_refs.nsets * CW_CERTREF_WAYS; e++) {
		struct cw_certref_ent *r = &fz_refs.e[e];

		if (r->stamp != 0 && r->len > 0)
			r->body[(size * 131 + e * 7) % r->len] ^= 0x20;
	}
	run_pass(data, size, ev2);
	for (int i = 0; i < FZ_FLOWS - 1; i++)
		if (memcmp(&ev1[i], &ev2[i], sizeof(ev1[i])) != 0)
			abort();
	return 0;
}
