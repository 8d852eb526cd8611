/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer target: frames -> L2-L4 decode -> per-flow reassembly -> TLS framing, parsers, fingerprints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_frames.h"
#include "session.h"

#define FZ_FLOWS 8
#define FZ_CAP (4u * 1024u) /* small cap so the fuzzer reaches the cap paths */

struct fz_flow {
	int used, done;
	struct cw_flow_key key;
	struct cw_session s;
	uint8_t buf[2 * FZ_CAP];
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
			cw_session_init(&flows[i].s, flows[i].buf, flows[i].buf + FZ_CAP, FZ_CAP);
			return &flows[i];
		}
	}
	return NULL; /* table full: the packet is ignored, as a bounded table would */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
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
			struct fz_flow *f = lookup(&pkt);
			if (f && !f->done) {
				int rc = cw_session_packet(&f->s, &pkt, ts += 1000);
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
	for (int i = 0; i < FZ_FLOWS; i++)
		if (flows[i].used && !flows[i].done)
			cw_session_finish(&flows[i].s, CW_END_SHUTDOWN);
	return 0;
}
