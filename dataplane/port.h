/* SPDX-License-Identifier: BSD-3-Clause */
/* Port setup: queues, symmetric RSS, capture timestamps, the mbuf pool. */
#ifndef DP_PORT_H
#define DP_PORT_H

#include <stdint.h>

#include <rte_mempool.h>

/* Facts about a port that decide the mode. */
struct dp_port_caps {
	uint16_t max_rxq;
	int rss;        /* symmetric RSS over IP/TCP is possible */
	int spread;     /* the queues are fed separately outside DPDK (net_af_xdp: the kernel
			 * driver's RSS feeds one socket per queue; net_pcap: one capture file or
			 * interface per queue); RSS mode may poll them, one worker each */
	int wire;       /* frames come off a wire: a NIC (any bus but vdev) or net_af_xdp on a
			 * kernel interface, not a capture or a software link (net_pcap, net_memif,
			 * net_ring, ...): --checksums defaults to verify */
	const char *driver;
};

int dp_port_caps(uint16_t port, struct dp_port_caps *caps);

/*
 * Configure and start port with nrxq RX queues (DPDK RSS with the symmetric key when rss != 0; a
 * port whose queues are spread outside DPDK takes rss == 0) of rxd descriptors each, on mbufs from
 * mp. Registers the RX timestamp dynfield (*ts_off, *ts_flag; -1/0 when unavailable).
 * Returns 0 or -errno.
 */
int dp_port_init(uint16_t port, uint16_t nrxq, int rss, uint16_t rxd, struct rte_mempool *mp,
		 int *ts_off, uint64_t *ts_flag);

void dp_port_fini(uint16_t port);

#endif /* DP_PORT_H */
