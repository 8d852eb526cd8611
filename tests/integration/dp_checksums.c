/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker's checksum check (dataplane/worker.c, flow_packet() and nic_csum()): with
 * --checksums verify a segment of a followed flow whose IPv4 header or TCP checksum is wrong is
 * counted (csum_bad) and goes no further; a NIC's verdict in the mbuf's RX flags is taken
 * instead of the software check, either way; with --checksums off nothing is checked.
 *
 * Real components: EAL (--no-huge), an mbuf pool, a worker with its flow table, chain table and
 * event ring. Frames are synthetic SYNs of new flows (a SYN always starts a followed flow), their
 * checksums written with the RFC 1071 code the traffic tools use (tools/inet_csum.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "../../tools/inet_csum.h"
#include "../unit/cw_check.h"
#include "dp_frames.h"

#define SYN 0x02

enum damage { NONE, BAD_TCP, BAD_IP };

static uint32_t next_flow;

/* A SYN of a new flow with right checksums, then the damage, then the NIC's flags. */
static struct rte_mbuf *
syn(struct rte_mempool *mp, enum damage d, uint64_t ol)
{
	struct rte_mbuf *m = dp_frame_tcp_mbuf(mp, next_flow++, SYN, 1000);
	uint8_t *p, *ip, *tcp;
	uint32_t sum;

	if (m == NULL) {
		fprintf(stderr, "dp_checksums: mbuf pool empty\n");
		exit(1);
	}
	p = rte_pktmbuf_mtod(m, uint8_t *);
	ip = p + 14;
	tcp = ip + 20;
	ip[10] = ip[11] = 0;
	sum = csum_fold(csum_add(0, ip, 20));
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	tcp[16] = tcp[17] = 0;
	sum = csum_add(0, ip + 12, 8) + 6 + 20;
	sum = csum_fold(csum_add(sum, tcp, 20));
	tcp[16] = (uint8_t)(sum >> 8);
	tcp[17] = (uint8_t)sum;
	if (d == BAD_TCP)
		tcp[17] ^= 0x01;
	else if (d == BAD_IP)
		ip[11] ^= 0x01;
	m->ol_flags |= ol;
	return m;
}

/* One frame through the worker; returns how much csum_bad grew. */
static uint64_t
one(struct dp_worker *w, struct rte_mbuf *m)
{
	uint64_t before = w->st->c[DP_C_CSUM_BAD], flows = w->st->c[DP_C_FLOWS_NEW];

	dp_work[DP_WORK_HANDSHAKE].burst(w, &m, 1);
	CHECK_EQ(w->st->c[DP_C_FLOWS_NEW], flows + 1); /* the SYN reached the flow table */
	return w->st->c[DP_C_CSUM_BAD] - before;
}

int
main(int argc, char **argv)
{
	static const uint64_t ip_good = RTE_MBUF_F_RX_IP_CKSUM_GOOD, l4_good = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	static struct dp_conf conf;
	static struct dp_testenv env;
	struct rte_mempool *mp;
	struct dp_worker *w;

	if (argc != 1) {
		fprintf(stderr, "usage: dp_checksums\n");
		return 2;
	}
	if (dp_testenv_init(&env, argv[0], "dpchecksums", 1024, 1024, 1u << 20) < 0)
		return 1;
	mp = env.mp;
	dp_testenv_conf(&conf, 256, 64, 4);
	w = dp_testenv_worker(&env, &conf);
	w->checksums = 1;

	/* Software check (no NIC verdict): right passes, a wrong TCP or IPv4 checksum does not. */
	CHECK_EQ(one(w, syn(mp, NONE, 0)), 0);
	CHECK_EQ(one(w, syn(mp, BAD_TCP, 0)), 1);
	CHECK_EQ(one(w, syn(mp, BAD_IP, 0)), 1);
	/* The NIC found both good: taken without a software check, even with wrong bytes. */
	CHECK_EQ(one(w, syn(mp, BAD_TCP, ip_good | l4_good)), 0);
	CHECK_EQ(one(w, syn(mp, BAD_IP, RTE_MBUF_F_RX_IP_CKSUM_NONE | RTE_MBUF_F_RX_L4_CKSUM_NONE)), 0);
	/* The NIC found either bad: dropped, whatever the bytes say. */
	CHECK_EQ(one(w, syn(mp, NONE, ip_good | RTE_MBUF_F_RX_L4_CKSUM_BAD)), 1);
	CHECK_EQ(one(w, syn(mp, NONE, RTE_MBUF_F_RX_IP_CKSUM_BAD | l4_good)), 1);
	/* Only half a verdict (the TCP one unknown): software decides. */
	CHECK_EQ(one(w, syn(mp, BAD_TCP, ip_good)), 1);
	CHECK_EQ(one(w, syn(mp, NONE, ip_good)), 0);
	CHECK_EQ(one(w, syn(mp, BAD_IP, l4_good)), 1);

	/* --checksums off: nothing is checked, nor the NIC's verdict read. */
	w->checksums = 0;
	CHECK_EQ(one(w, syn(mp, BAD_TCP, 0)), 0);
	CHECK_EQ(one(w, syn(mp, NONE, ip_good | RTE_MBUF_F_RX_L4_CKSUM_BAD)), 0);

	dp_testenv_worker_free(w);
	dp_testenv_fini(&env);
	return cw_check_report("dp_checksums");
}
