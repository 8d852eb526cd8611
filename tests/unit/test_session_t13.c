/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TLS 1.3 encrypted server flight ends at the server's Finished, wherever the client's next
 * flight falls. Servers such as OpenSSL's send their NewSessionTickets right after their own
 * Finished; whether those reach the wire before or after the client's Finished is a race, and
 * counting them made the flight size of one server vary from flow to flow. Over every flow of
 * the lab capture (real OpenSSL, GnuTLS, Python and curl clients against OpenSSL servers, one of
 * them with its tickets ahead of the client's flight): each full TLS 1.3 handshake's recorded
 * flight must end with a record of the Finished length for its cipher suite, and its byte count
 * must be the sum of the records kept.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../tools/bench/bench_flows.h"
#include "cw_check.h"
#include "session.h"

#define CAP CW_REASM_DEFAULT_CAP

static uint8_t bufs[2][CAP];
static struct cw_sess_area area;
static struct cw_session sess;

/* Finished record length (RFC 8446 4.4.4, 5.2), restated here from the RFC, not the code. */
static uint32_t
finished_len(uint16_t cipher)
{
	return cipher == 0x1302 ? 4 + 48 + 1 + 16 : cipher == 0x1305 ? 4 + 32 + 1 + 8 : 4 + 32 + 1 + 16;
}

int
main(void)
{
	static struct bf_capture cap;
	unsigned int full = 0, resumed = 0;

	if (bf_load(&cap, "tests/data/lab/small.pcap") < 0)
		return 1;
	for (uint32_t fi = 0; fi < cap.nflows; fi++) {
		const struct bf_flow *fl = &cap.flows[fi];
		const struct cw_ev_draft *ev = &sess.ev;
		int rc = CW_SESS_MORE;
		uint32_t sum = 0;

		cw_session_init(&sess, bufs[0], bufs[1], CAP, &area);
		for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
			const struct bf_frame *f = &cap.frames[fl->idx[i]];

			rc = cw_session_packet(&sess, &f->pkt, f->ts_ns);
		}
		cw_session_finish(&sess, CW_END_DONE);
		if (ev->sh_version != 0x0304 || ev->t13_nrec == 0)
			continue;
		if (ev->flags & CW_EVF_RESUMED) {
			resumed++;
			continue;
		}
		full++;
		CHECK(ev->t13_nrec >= 3 && ev->t13_nrec < CW_EV_T13_REC_MAX);
		for (uint32_t i = 0; i < ev->t13_nrec; i++)
			sum += ev->t13_rec[i];
		CHECK_EQ(ev->t13_bytes, sum);
		CHECK_EQ(ev->t13_rec[ev->t13_nrec - 1], finished_len(ev->cipher));
		/* Only the last record has the Finished length: nothing after it was counted. */
		for (uint32_t i = 2; i + 1 < ev->t13_nrec; i++)
			CHECK(ev->t13_rec[i] != finished_len(ev->cipher));
	}
	printf("test_session_t13: %u full and %u resumed TLS 1.3 handshakes; %d checks, %d failed\n",
	       full, resumed, checks, failures);
	CHECK(full >= 15);
	bf_free(&cap);
	return failures ? 1 : 0;
}
