/* SPDX-License-Identifier: BSD-3-Clause */
/* Port setup: queues, symmetric RSS, capture timestamps, the mbuf pool. */
#include <errno.h>
#include <string.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf_dyn.h>

#include "port.h"

/*
 * A Toeplitz key of repeated 0x6d5a hashes (src, dst) and (dst, src) to the
 * same value, so both directions of a connection land on one queue
 * (Woo and Park, "Scalable TCP Session Monitoring with Symmetric RSS").
 */
#define DP_RSS_KEY_MAX 64

/*
 * net_af_xdp reports no RSS offload: each of its queues is the AF_XDP socket of one kernel RX
 * queue, already spread by the NIC's own RSS (symmetric only when the NIC's key is, see
 * docs/DEPLOY.md). net_pcap has one RX queue per rx_pcap=/rx_iface= argument, each its own
 * capture: the operator splits by flow (one tap or file per flow group), as the benchmark's
 * multi-worker runs do with one synthesized capture per queue.
 */
#define DP_AF_XDP_DRIVER "net_af_xdp"
#define DP_PCAP_DRIVER "net_pcap"

int
dp_port_caps(uint16_t port, struct dp_port_caps *caps)
{
	struct rte_eth_dev_info info;
	const struct rte_bus *bus;
	int rc;

	if (!rte_eth_dev_is_valid_port(port))
		return -ENODEV;
	rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0)
		return rc;
	caps->max_rxq = info.max_rx_queues;
	caps->rss = (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP)) != 0 &&
		    info.hash_key_size > 0 && info.hash_key_size <= DP_RSS_KEY_MAX;
	caps->spread = info.driver_name != NULL &&
		       (strcmp(info.driver_name, DP_AF_XDP_DRIVER) == 0 ||
			strcmp(info.driver_name, DP_PCAP_DRIVER) == 0) &&
		       info.max_rx_queues > 1;
	bus = info.device != NULL ? rte_dev_bus(info.device) : NULL;
	caps->wire = (bus != NULL && strcmp(rte_bus_name(bus), "vdev") != 0) ||
		     (info.driver_name != NULL && strcmp(info.driver_name, DP_AF_XDP_DRIVER) == 0);
	caps->driver = info.driver_name;
	return 0;
}

int
dp_port_init(uint16_t port, uint16_t nrxq, int rss, uint16_t rxd, struct rte_mempool *mp,
	     int *ts_off, uint64_t *ts_flag)
{
	static uint8_t key[DP_RSS_KEY_MAX];
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxq;
	uint16_t ntxq, txd = 64;
	uint16_t q;
	unsigned int i;
	int rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0)
		return rc;
	memset(&conf, 0, sizeof(conf));
	if (rss) {
		for (i = 0; i < info.hash_key_size; i += 2) {
			key[i] = 0x6d;
			key[i + 1] = 0x5a;
		}
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = key;
		conf.rx_adv_conf.rss_conf.rss_key_len = info.hash_key_size;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	}
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
	/* Checksums the NIC checks for free: worker.c takes its verdict from the mbuf flags. */
	conf.rxmode.offloads |= info.rx_offload_capa &
				(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
	/* A passive sensor sends nothing, but some drivers refuse zero TX queues. */
	ntxq = info.max_tx_queues > 0 ? 1 : 0;
	rc = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (rc < 0)
		return rc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
	if (rc < 0)
		return rc;
	rxq = info.default_rxconf;
	rxq.offloads = conf.rxmode.offloads;
	for (q = 0; q < nrxq; q++) {
		rc = rte_eth_rx_queue_setup(port, q, rxd, rte_eth_dev_socket_id(port), &rxq, mp);
		if (rc < 0)
			return rc;
	}
	for (q = 0; q < ntxq; q++) {
		rc = rte_eth_tx_queue_setup(port, q, txd, rte_eth_dev_socket_id(port), NULL);
		if (rc < 0)
			return rc;
	}
	/*
	 * net_pcap fills the standard RX timestamp dynfield (microseconds of
	 * capture time) whether or not the offload was requested; registering
	 * here returns the same field when the driver already did.
	 */
	if (rte_mbuf_dyn_rx_timestamp_register(ts_off, ts_flag) < 0) {
		*ts_off = -1;
		*ts_flag = 0;
	}
	rc = rte_eth_dev_start(port);
	if (rc < 0)
		return rc;
	/* Not every driver has a promiscuous mode (vdevs); a TAP port needs it where there is one. */
	rte_eth_promiscuous_enable(port);
	return 0;
}

void
dp_port_fini(uint16_t port)
{
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
}
