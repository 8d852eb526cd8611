/* SPDX-License-Identifier: BSD-3-Clause */
/* Counter totals and the rte_telemetry commands of the dataplane. */
#ifndef DP_TELEMETRY_H
#define DP_TELEMETRY_H

#include "dp.h"

/* Sum of every lcore's counters. */
void dp_stats_total(struct dp_stats *t);

/*
 * --stats-interval: print one line of rates since the previous call (rx, processed,
 * handshakes per second, drops by reason). Main lcore only; dt_ns is the time since then, 0 on the first call (prints nothing).
 */
void dp_stats_line(uint64_t dt_ns);

/* Register /chainwatch/stats and /chainwatch/workers. Returns 0 or -errno. */
int dp_telemetry_init(void);

#endif /* DP_TELEMETRY_H */
