/* SPDX-License-Identifier: BSD-3-Clause */
/* Flow end: finish the session, deduplicate its chain and publish the event (and blob) to the ring. */
#ifndef DP_EMIT_H
#define DP_EMIT_H

#include "worker.h"

/*
 * End flow f with reason why: finish its session, publish its event when a
 * hello was seen, give the session back to the pool, clear all actions.
 * key: the flow's key, which the event's endpoints are taken from, when the
 * caller has it (a segment of the flow ends it); NULL: rte_hash's copy (a
 * timer, an eviction, shutdown). Never blocks, but with --events-wait (capture files only)
 * waits for room in the event ring; every outcome is counted.
 */
void dp_flow_end(struct dp_worker *w, struct dp_flow *f, const struct cw_flow_key *key,
		 enum cw_end_reason why);

/* The session pool was empty for a new flow: publish a CW_END_NO_BUFFER event for it. */
void dp_emit_no_buffer(struct dp_worker *w, const struct cw_pkt *pkt, uint64_t ts_ns);

#endif /* DP_EMIT_H */
