/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Running sessions over every flow of every test capture: one flow fed to a session until it
 * ends, and the walk over tests/data that hands each capture's path to the test. The including
 * test defines one_capture(path) before including this.
 */
#ifndef CW_TEST_SESSION_WALK_H
#define CW_TEST_SESSION_WALK_H

#include <ftw.h>
#include <string.h>

#include "../../tools/bench/bench_flows.h"
#include "session.h"

static void one_capture(const char *path);

/* Feed one flow until it ends (releasing its certificates once parsed when asked); finish it. */
static void
run_flow(struct cw_session *s, const struct bf_capture *cap, const struct bf_flow *fl, int release)
{
	int rc = CW_SESS_MORE;

	for (uint32_t i = 0; i < fl->n && rc == CW_SESS_MORE; i++) {
		const struct bf_frame *f = &cap->frames[fl->idx[i]];

		rc = cw_session_packet(s, &f->pkt, f->ts_ns);
		if (release && rc == CW_SESS_MORE && (s->ev.flags & CW_EVF_CERT))
			cw_session_release_certs(s);
	}
	cw_session_finish(s, rc == CW_SESS_DONE ? CW_END_DONE : cw_session_abandon_reason(s));
}

static int
visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t n = strlen(path);

	(void)st;
	(void)ftw;
	if (type == FTW_F && ((n > 5 && strcmp(path + n - 5, ".pcap") == 0) ||
			      (n > 7 && strcmp(path + n - 7, ".pcapng") == 0)))
		one_capture(path);
	return 0;
}

/* one_capture() for every capture under tests/data; 0, or -1 when the walk failed. */
static int
walk_captures(void)
{
	return nftw("tests/data", visit, 16, FTW_PHYS) != 0 ? -1 : 0;
}

#endif /* CW_TEST_SESSION_WALK_H */
