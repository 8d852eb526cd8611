/* SPDX-License-Identifier: BSD-3-Clause */
/* XDP program: possible TLS handshake segments go to AF_XDP, everything else to the kernel. */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "cw_steer.h"

#define CW_MAX_VLAN 2
#define CW_MAX_IPV6_EXT 4
#define CW_ETH_P_8021AD 0x88A8
#define CW_ETH_P_QINQ1 0x9100

/* Written by the skeleton loader (or patched into a copy of this object) before load. */
const volatile struct cw_steer_cfg cw_cfg = CW_STEER_CFG_DEFAULT;

/* Name and layout are a contract with DPDK's net_af_xdp PMD (xdp_prog= devarg): the PMD looks this
 * map up by name and stores the socket of each RX queue at key = queue index. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, CW_STEER_XSKS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CW_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cw_counters SEC(".maps");

/* Directions of flows whose handshake is being followed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CW_STEER_FLOWS_MAX);
	__type(key, struct cw_steer_flow_key);
	__type(value, struct cw_steer_flow_val);
} cw_flows SEC(".maps");

/* The L4 facts the steering decision needs, filled by the parser. */
struct cw_pkt {
	struct cw_steer_flow_key key;
	struct tcphdr *th;
	__u8 *payload; /* first payload byte; may equal data_end */
	__u32 plen;    /* payload length from the IP length fields (Ethernet padding excluded) */
};

static __always_inline void
cw_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&cw_counters, &idx);

	if (v)
		*v += 1;
}

static __always_inline int
cw_port_listed(__u16 port_be)
{
	__u16 port = bpf_ntohs(port_be);
	__u32 n = cw_cfg.nports;

	/* bounded loop: verified as such since Linux 5.3 */
	for (__u32 i = 0; i < CW_STEER_MAX_PORTS; i++) {
		if (i >= n)
			break;
		if (cw_cfg.ports[i] == port)
			return 1;
	}
	return 0;
}

/*
 * TCP header at l4 (inside [data, data_end)); ip_plen is the IP payload length after the L3 header
 * and extension headers. Returns a CW_CNT_PASS_* reason, or 0 when p->th/payload/plen are set.
 */
static __always_inline int
cw_parse_tcp(void *l4, void *data_end, __s32 ip_plen, struct cw_pkt *p)
{
	struct tcphdr *th = l4;
	__u32 doff;

	if ((void *)(th + 1) > data_end)
		return CW_CNT_PASS_MALFORMED;
	doff = (__u32)th->doff * 4;
	if (doff < sizeof(*th) || (__s32)doff > ip_plen)
		return CW_CNT_PASS_MALFORMED;
	p->th = th;
	p->payload = (__u8 *)l4 + (doff & 0x3c);
	p->plen = ip_plen - doff;
	p->key.sport = th->source;
	p->key.dport = th->dest;
	return 0;
}

static __always_inline int
cw_parse_ipv4(void *l3, void *data_end, struct cw_pkt *p)
{
	struct iphdr *ip = l3;
	__u32 ihl;
	__s32 plen;

	if ((void *)(ip + 1) > data_end)
		return CW_CNT_PASS_MALFORMED;
	ihl = (__u32)ip->ihl * 4;
	if (ihl < sizeof(*ip) || bpf_ntohs(ip->tot_len) < ihl)
		return CW_CNT_PASS_MALFORMED;
	if (ip->protocol != IPPROTO_TCP)
		return CW_CNT_PASS_NON_TCP;
	if (ip->frag_off & bpf_htons(0x1fff))
		return CW_CNT_PASS_FRAG;
	p->key.saddr[2] = bpf_htonl(0xffff);
	p->key.saddr[3] = ip->saddr;
	p->key.daddr[2] = bpf_htonl(0xffff);
	p->key.daddr[3] = ip->daddr;
	plen = (__s32)bpf_ntohs(ip->tot_len) - (__s32)ihl;
	return cw_parse_tcp((__u8 *)l3 + (ihl & 0x3c), data_end, plen, p);
}

/* IPv6 with at most CW_MAX_IPV6_EXT extension headers (hop-by-hop, routing, destination options,
 * fragment, AH); ESP and anything deeper is passed as malformed/non-TCP. */
static __always_inline int
cw_parse_ipv6(void *l3, void *data_end, struct cw_pkt *p)
{
	struct ipv6hdr *ip6 = l3;
	__u8 *pos;
	__s32 plen;
	__u8 nexthdr;

	if ((void *)(ip6 + 1) > data_end)
		return CW_CNT_PASS_MALFORMED;
	__builtin_memcpy(p->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->key.daddr, &ip6->daddr, 16);
	plen = bpf_ntohs(ip6->payload_len);
	nexthdr = ip6->nexthdr;
	pos = (__u8 *)(ip6 + 1);

#pragma unroll
	for (int i = 0; i < CW_MAX_IPV6_EXT; i++) {
		__u32 len;

		if (nexthdr == IPPROTO_TCP)
			break;
		if (nexthdr != IPPROTO_HOPOPTS && nexthdr != IPPROTO_ROUTING &&
		    nexthdr != IPPROTO_DSTOPTS && nexthdr != IPPROTO_FRAGMENT &&
		    nexthdr != IPPROTO_AH)
			return CW_CNT_PASS_NON_TCP;
		if (pos + 8 > (__u8 *)data_end)
			return CW_CNT_PASS_MALFORMED;
		if (nexthdr == IPPROTO_FRAGMENT) {
			/* offset != 0: no TCP header in this fragment */
			if (((pos[2] << 8) | pos[3]) & 0xfff8)
				return CW_CNT_PASS_FRAG;
			len = 8;
		} else if (nexthdr == IPPROTO_AH) {
			len = ((__u32)pos[1] + 2) * 4;
		} else {
			len = ((__u32)pos[1] + 1) * 8;
		}
		nexthdr = pos[0];
		plen -= len;
		pos += len & 0xfff; /* <= 2048 bytes: (255 + 1) * 8, the mask only bounds it */
	}
	if (nexthdr != IPPROTO_TCP)
		return CW_CNT_PASS_MALFORMED;
	if (plen < 0)
		return CW_CNT_PASS_MALFORMED;
	return cw_parse_tcp(pos, data_end, plen, p);
}

/* Ethernet, up to two VLAN tags (802.1Q, 802.1ad, 0x9100), then IPv4 or IPv6. */
static __always_inline int
cw_parse(struct xdp_md *ctx, struct cw_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 *pos;
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return CW_CNT_PASS_MALFORMED;
	proto = eth->h_proto;
	pos = (__u8 *)(eth + 1);

#pragma unroll
	for (int i = 0; i < CW_MAX_VLAN; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(CW_ETH_P_8021AD) &&
		    proto != bpf_htons(CW_ETH_P_QINQ1))
			break;
		if (pos + 4 > (__u8 *)data_end)
			return CW_CNT_PASS_MALFORMED;
		proto = *(__u16 *)(pos + 2);
		pos += 4;
	}
	if (proto == bpf_htons(ETH_P_IP))
		return cw_parse_ipv4(pos, data_end, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return cw_parse_ipv6(pos, data_end, p);
	return CW_CNT_PASS_NON_IP;
}

static __always_inline void
cw_flow_reverse(const struct cw_steer_flow_key *k, struct cw_steer_flow_key *r)
{
	__builtin_memcpy(r->saddr, k->daddr, 16);
	__builtin_memcpy(r->daddr, k->saddr, 16);
	r->sport = k->dport;
	r->dport = k->sport;
}

/* Start following both directions of the flow whose first handshake record this segment carries. */
static __always_inline void
cw_flow_start(struct cw_pkt *p)
{
	struct cw_steer_flow_key rev;
	__u32 budget = cw_cfg.flow_budget;
	struct cw_steer_flow_val v = {
		.left = budget > p->plen ? budget - p->plen : 0,
		.next_seq = bpf_ntohl(p->th->seq) + p->plen,
		.have_seq = 1,
	};
	/* The peer's next byte is what this segment acknowledges: where its FIN or RST must be. */
	struct cw_steer_flow_val r = {
		.left = budget,
		.next_seq = bpf_ntohl(p->th->ack_seq),
		.have_seq = p->th->ack,
	};
	long rc;

	cw_flow_reverse(&p->key, &rev);
	/* Not followed (the caller's lookup missed): an insert, unless another CPU raced it. */
	rc = bpf_map_update_elem(&cw_flows, &p->key, &v, BPF_ANY);
	if (rc == 0) {
		cw_count(CW_CNT_FLOW_ADDED);
		/* The helpers return -errno: the reverse direction may be followed already. */
		rc = bpf_map_update_elem(&cw_flows, &rev, &r, BPF_NOEXIST);
		if (rc == 0)
			cw_count(CW_CNT_FLOW_ADDED);
		else if (rc == -EEXIST)
			rc = 0;
	}
	cw_count(rc == 0 ? CW_CNT_FLOW_NEW : CW_CNT_FLOW_FULL);
}

/* Charge this segment's payload to its direction; returns 1 when the direction is followed. */
static __always_inline int
cw_flow_charge(struct cw_pkt *p)
{
	struct cw_steer_flow_val *v = bpf_map_lookup_elem(&cw_flows, &p->key);
	__u32 end = bpf_ntohl(p->th->seq) + p->plen;

	if (!v)
		return 0;
	/* The highest end seen, modulo 2^32: a retransmission does not move it back. */
	if (!v->have_seq || (__s32)(end - v->next_seq) > 0) {
		v->next_seq = end;
		v->have_seq = 1;
	}
	if (v->left > p->plen) {
		v->left -= p->plen;
	} else {
		bpf_map_delete_elem(&cw_flows, &p->key);
		cw_count(CW_CNT_FLOW_END);
	}
	return 1;
}

/*
 * A FIN or RST: both directions stop being followed, unless the sender's next sequence number
 * is known (its payload seen, or acknowledged by the segment that started the following) and
 * this one is not at it (struct cw_steer_flow_val).
 */
static __always_inline void
cw_flow_end(struct cw_pkt *p)
{
	struct cw_steer_flow_key rev;
	struct cw_steer_flow_val *v = bpf_map_lookup_elem(&cw_flows, &p->key);

	if (v && v->have_seq && bpf_ntohl(p->th->seq) != v->next_seq) {
		cw_count(CW_CNT_FLOW_KEPT);
		return;
	}
	if (bpf_map_delete_elem(&cw_flows, &p->key) == 0)
		cw_count(CW_CNT_FLOW_END);
	cw_flow_reverse(&p->key, &rev);
	if (bpf_map_delete_elem(&cw_flows, &rev) == 0)
		cw_count(CW_CNT_FLOW_END);
}

/* Returns a CW_CNT_STEER_* reason, or a CW_CNT_PASS_* reason for segments left to the kernel. */
static __always_inline int
cw_classify(struct cw_pkt *p, void *data_end)
{
	__u32 flags = cw_cfg.flags;
	struct tcphdr *th = p->th;
	__u8 *b = p->payload;
	int followed = 0;

	if (cw_cfg.nports) {
		if (!cw_port_listed(th->source) && !cw_port_listed(th->dest))
			return CW_CNT_PASS_PORT;
		if (flags & CW_STEER_F_PORT_ALL) {
			if (th->fin || th->rst)
				cw_flow_end(p);
			return CW_CNT_STEER_PORT;
		}
	}
	if (th->fin || th->rst) {
		if (flags & CW_STEER_F_FLOW)
			cw_flow_end(p);
		if (flags & CW_STEER_F_CTL)
			return CW_CNT_STEER_FIN_RST;
	} else if (th->syn && (flags & CW_STEER_F_CTL)) {
		return CW_CNT_STEER_SYN;
	}
	if (p->plen == 0)
		return CW_CNT_PASS_NO_TLS;
	if (flags & CW_STEER_F_FLOW)
		followed = cw_flow_charge(p);
	if ((flags & CW_STEER_F_TLS) && p->plen >= 3 && (void *)(b + 3) <= data_end) {
		if (b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03) {
			if (b[0] == 0x16 && !followed && (flags & CW_STEER_F_FLOW))
				cw_flow_start(p);
			return CW_CNT_STEER_TLS_RECORD;
		}
		if ((b[0] & 0x80) && b[2] == 0x01) {
			if (!followed && (flags & CW_STEER_F_FLOW))
				cw_flow_start(p);
			return CW_CNT_STEER_SSLV2;
		}
	}
	return followed ? CW_CNT_STEER_FLOW : CW_CNT_PASS_NO_TLS;
}

SEC("xdp")
int
cw_steer(struct xdp_md *ctx)
{
	struct cw_pkt p = {};
	int reason;
	long act;

	cw_count(CW_CNT_SEEN);
	reason = cw_parse(ctx, &p);
	if (reason == 0)
		reason = cw_classify(&p, (void *)(long)ctx->data_end);
	cw_count(reason);
	if (reason >= CW_CNT_REDIRECT_FAIL)
		return XDP_PASS;
	/* The low bits of flags: the action when the queue has no socket (keep the host working). */
	act = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	if (act != XDP_REDIRECT)
		cw_count(CW_CNT_REDIRECT_FAIL);
	return act;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
