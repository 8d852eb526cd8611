/* SPDX-License-Identifier: BSD-3-Clause */
/* Types shared by the cw_steer XDP program and its loaders: configuration, counters, flow key. */
#ifndef CW_STEER_H
#define CW_STEER_H

#include <linux/types.h>

/*
 * What goes to the AF_XDP socket of the receiving queue (everything else is XDP_PASS):
 *   CW_STEER_F_TLS      TCP payload that starts like a TLS record (type 0x14..0x17, major 3)
 *                       or like an SSLv2-framed ClientHello (length high bit set, message type 1).
 *   CW_STEER_F_CTL      SYN, SYN-ACK, FIN and RST segments, so the dataplane can track flows.
 *   CW_STEER_F_FLOW     after a handshake record (0x16) or SSLv2 hello, every later payload segment
 *                       of that flow, both directions, up to flow_budget payload bytes each way.
 *                       A certificate flight spans several segments and only the first one starts
 *                       with a record header.
 *   CW_STEER_F_PORT_ALL every segment whose source or destination port is in ports[].
 * With nports > 0 only segments on a listed port are considered at all; segments on other ports are
 * passed (counter CW_CNT_PASS_PORT), which keeps the host's own TCP services reachable when the
 * interface is shared with the kernel.
 */
#define CW_STEER_F_TLS 0x1u
#define CW_STEER_F_CTL 0x2u
#define CW_STEER_F_FLOW 0x4u
#define CW_STEER_F_PORT_ALL 0x8u
#define CW_STEER_F_ALL (CW_STEER_F_TLS | CW_STEER_F_CTL | CW_STEER_F_FLOW | CW_STEER_F_PORT_ALL)

#define CW_STEER_MAX_PORTS 16
#define CW_STEER_FLOW_BUDGET_DEFAULT (32u * 1024u) /* = CW_REASM_DEFAULT_CAP, per direction */
#define CW_STEER_FLOWS_MAX 65536u                  /* LRU entries (two per followed flow) */
#define CW_STEER_XSKS_MAX 256u                     /* XSKMAP slots: RX queue index 0..255 */

/*
 * Program configuration, a `const volatile` rodata variable named cw_cfg in cw_steer.bpf.c.
 * Invariants: nports <= CW_STEER_MAX_PORTS; ports[] in host byte order; flow_budget > 0 when
 * CW_STEER_F_FLOW is set. The skeleton loader writes it before load; for objects loaded by someone
 * else (DPDK's net_af_xdp xdp_prog= devarg) `cw-xdp-steer object` writes it into a copy of the .o.
 */
struct cw_steer_cfg {
	__u32 flags;
	__u32 flow_budget;
	__u16 nports;
	__u16 ports[CW_STEER_MAX_PORTS];
	__u16 reserved;
};

#define CW_STEER_CFG_DEFAULT                                                                       \
	{                                                                                          \
		.flags = CW_STEER_F_TLS | CW_STEER_F_CTL | CW_STEER_F_FLOW,                        \
		.flow_budget = CW_STEER_FLOW_BUDGET_DEFAULT, .nports = 0,                          \
	}

/*
 * Per-CPU counters (map cw_counters, PERCPU_ARRAY indexed by enum cw_steer_cnt).
 * Every packet is counted once in SEEN and once in exactly one STEER_* or PASS_* reason:
 *   SEEN = sum(STEER_*) + sum(PASS_*).
 * REDIRECT_FAIL counts steered packets that went to the kernel stack because no AF_XDP socket is
 * bound to the receiving queue, so redirected = sum(STEER_*) - REDIRECT_FAIL.
 * FLOW_* describe the flow-follow table and are not part of the sums. The LRU table evicts
 * without telling the program: directions evicted = FLOW_ADDED - FLOW_END - entries held now
 * (the loader counts the entries, dp_xdp_steer_counters()).
 */
enum cw_steer_cnt {
	CW_CNT_SEEN = 0,
	CW_CNT_STEER_TLS_RECORD, /* payload starts with a TLS record header */
	CW_CNT_STEER_SSLV2,      /* payload starts with an SSLv2-framed ClientHello */
	CW_CNT_STEER_SYN,        /* SYN or SYN-ACK */
	CW_CNT_STEER_FIN_RST,    /* FIN or RST */
	CW_CNT_STEER_PORT,       /* on a listed port with CW_STEER_F_PORT_ALL */
	CW_CNT_STEER_FLOW,       /* later segment of a followed handshake */
	CW_CNT_REDIRECT_FAIL,    /* steered, but no XSK on this queue: passed to the kernel */
	CW_CNT_PASS_NON_IP,      /* not IPv4/IPv6 (ARP, LLDP, ...) */
	CW_CNT_PASS_NON_TCP,     /* ICMP, UDP, ... */
	CW_CNT_PASS_NO_TLS,      /* TCP that is no handshake candidate */
	CW_CNT_PASS_PORT,        /* TCP on a port outside the configured list */
	CW_CNT_PASS_FRAG,        /* IP fragment without a TCP header */
	CW_CNT_PASS_MALFORMED,   /* truncated or inconsistent L2-L4 headers, too many IPv6 ext headers */
	CW_CNT_FLOW_NEW,         /* flows added to the follow table */
	CW_CNT_FLOW_END,         /* directions removed: budget used up, FIN or RST */
	CW_CNT_FLOW_FULL,        /* inserts that failed */
	CW_CNT_FLOW_KEPT,        /* FIN or RST off the sender's next sequence number: still followed */
	CW_CNT_FLOW_ADDED,       /* directions added (a flow adds one or two) */
	CW_CNT_MAX
};

/* One direction of a followed flow. IPv4 as IPv4-mapped IPv6 addresses; ports in network order. */
struct cw_steer_flow_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
};

/*
 * One followed direction. A FIN or RST ends the flow only at the sender's next sequence number
 * (next_seq, once have_seq): a receiver drops one elsewhere (RFC 9293 3.10.7.4, RFC 5961 3),
 * and a third party that could end the following with it would hide the rest of the flight.
 */
struct cw_steer_flow_val {
	__u32 left;     /* payload bytes still to steer */
	__u32 next_seq; /* after the last payload byte seen from this direction, or acknowledged */
	__u32 have_seq; /* next_seq is set */
};

#endif /* CW_STEER_H */
