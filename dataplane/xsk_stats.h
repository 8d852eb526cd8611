/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel's drop counters of this process's AF_XDP sockets (getsockopt XDP_STATISTICS).
 * net_af_xdp reports only their rx_dropped, as imissed: a frame the XDP program redirected that
 * found a socket's RX ring full is counted in rx_ring_full alone, and would otherwise be lost
 * without a trace. With --iface every AF_XDP socket of the process is one of its queues.
 */
#ifndef DP_XSK_STATS_H
#define DP_XSK_STATS_H

#include <stdint.h>

#define DP_XSK_MAX 256 /* sockets followed: one per queue, at most CW_STEER_XSKS_MAX */

struct dp_xsk {
	unsigned int n;
	int fd[DP_XSK_MAX];
};

struct dp_xsk_stats {
	uint32_t sockets;         /* AF_XDP sockets read */
	uint64_t rx_dropped;      /* no fill-ring buffer, or a frame too large: dropped */
	uint64_t rx_invalid;      /* invalid RX descriptors */
	uint64_t rx_full;         /* the RX ring was full: dropped */
	uint64_t fill_ring_empty; /* times the fill ring was found empty */
};

/*
 * Find the AF_XDP sockets among this process's open files (the PMD's, once its port has
 * started). Returns how many, or -errno. They stay valid until the port is closed.
 */
int dp_xsk_find(struct dp_xsk *x);

/* Sum their counters. Returns 0, or -errno of the first socket that could not be read. */
int dp_xsk_stats_get(const struct dp_xsk *x, struct dp_xsk_stats *st);

#endif /* DP_XSK_STATS_H */
