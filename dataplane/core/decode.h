/* SPDX-License-Identifier: BSD-3-Clause */
/* L2-L4 decode: Ethernet/VLAN/QinQ, IPv4 (+options), IPv6 (+extension chain), TCP (+options). */
#ifndef CW_DECODE_H
#define CW_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Why a packet did not yield a TCP segment; indexes per-lcore counters. */
enum cw_dec_res {
	CW_DEC_TCP = 0,      /* decoded TCP segment (payload may be empty) */
	CW_DEC_NOT_IP,       /* ethertype is neither IPv4 nor IPv6 (ARP, LLDP, ...) */
	CW_DEC_NOT_TCP,      /* IP, but not TCP (UDP, ICMP, ...) */
	CW_DEC_FRAGMENT,     /* IPv4/IPv6 fragment: counted, never reassembled */
	CW_DEC_TRUNC_L2,     /* frame shorter than its Ethernet/VLAN headers */
	CW_DEC_TRUNC_L3,     /* IP header or total length runs past the frame */
	CW_DEC_BAD_L3,       /* bad IP version, IHL, or option/extension layout */
	CW_DEC_TRUNC_L4,     /* TCP header runs past the IP payload */
	CW_DEC_BAD_L4,       /* TCP data offset < 5 or bad option layout */
	CW_DEC_VLAN_DEPTH,   /* more VLAN tags than CW_DEC_MAX_VLAN */
	CW_DEC_EXT_DEPTH,    /* more IPv6 extension headers than CW_DEC_MAX_EXT */
	CW_DEC__MAX
};

#define CW_DEC_MAX_VLAN 2 /* 802.1ad outer + 802.1Q inner */
#define CW_DEC_MAX_EXT 8  /* IPv6 extension headers followed before giving up */

/* Link types the decoder accepts (values are the pcap LINKTYPE_* numbers). */
enum cw_linktype {
	CW_LINK_NULL = 0,      /* BSD loopback: 4-byte host-order family */
	CW_LINK_ETHERNET = 1,
	CW_LINK_RAW = 101,     /* raw IPv4/IPv6 */
	CW_LINK_LINUX_SLL = 113,
	CW_LINK_IPV4 = 228,
	CW_LINK_IPV6 = 229,
	CW_LINK_LINUX_SLL2 = 276,
};

/* TCP flag bits as on the wire. */
#define CW_TCP_FIN 0x01
#define CW_TCP_SYN 0x02
#define CW_TCP_RST 0x04
#define CW_TCP_PSH 0x08
#define CW_TCP_ACK 0x10
#define CW_TCP_URG 0x20

/* Packet-level facts worth an anomaly bit later on. */
#define CW_PKT_F_IP_OPTIONS 0x01 /* IPv4 header had options */
#define CW_PKT_F_IP6_EXT 0x02    /* IPv6 had extension headers */
#define CW_PKT_F_URG 0x04        /* TCP urgent pointer in use */
#define CW_PKT_F_L2_PAD 0x08     /* frame longer than the IP datagram (padding) */
#define CW_PKT_F_TCP_OPTS 0x10   /* TCP options malformed: ignored, the segment kept (see decode_tcp) */
#define CW_PKT_F_IP6_RH 0x20     /* IPv6 routing header with segments left: see cw_pkt_csum_ok() */
#define CW_PKT_F_TCP_SIG 0x100   /* TCP-MD5 or TCP-AO option: a receiver without a key may drop it */
#define CW_PKT_F_FRAG_TCP 0x200  /* CW_DEC_FRAGMENT: a first fragment whose TCP header was read */
/* Set by the caller, never by cw_decode(): the NIC's verdict on the checksums, when it gave one. */
#define CW_PKT_F_CSUM_GOOD 0x40  /* IPv4 header (if any) and TCP checksums right */
#define CW_PKT_F_CSUM_BAD 0x80   /* either wrong */

/*
 * One decoded TCP segment. Addresses are stored in 16 bytes; IPv4 uses the
 * first 4 and zeroes the rest. payload points into the caller's frame and is
 * valid only as long as the frame is.
 */
struct cw_pkt {
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint8_t ipver;      /* 4 or 6 */
	uint8_t vlan_depth; /* 0..CW_DEC_MAX_VLAN */
	uint8_t ttl;        /* IPv4 TTL or IPv6 hop limit */
	uint8_t tcp_flags;
	uint16_t sport, dport;
	uint16_t vlan[CW_DEC_MAX_VLAN]; /* VIDs, outer first */
	uint32_t seq, ack;
	uint16_t win;
	uint16_t urg_ptr;
	uint32_t flags;     /* CW_PKT_F_* */
	uint8_t l3_hlen;    /* IPv4 header bytes (20..60); 0 for IPv6 */
	uint8_t l4_hlen;    /* TCP header bytes (20..60): the header lies just before payload */
	const uint8_t *payload;
	uint32_t payload_len;
};

/*
 * Canonical 5-tuple: endpoint a is the lower (address, port) pair, so both
 * directions of a connection give the same key. The protocol is always TCP.
 * VLAN ids are not part of the key. 40 bytes with no holes: keys compare
 * and hash as bytes.
 */
struct cw_flow_key {
	uint8_t a[16];
	uint8_t b[16];
	uint16_t pa, pb;
	uint8_t ipver;
	uint8_t pad[3]; /* always zero */
};

_Static_assert(sizeof(struct cw_flow_key) == 40, "flow key must have no holes");
_Static_assert(offsetof(struct cw_flow_key, pa) == 32 && offsetof(struct cw_flow_key, pb) == 34 &&
		       offsetof(struct cw_flow_key, ipver) == 36,
	       "cw_flow_key_make() writes the ports and version as the fifth word");

/* Lexicographic (memcmp) order of two 16-byte addresses: -1, 0 or 1, as big-endian words. */
static inline int
cw_addr_cmp(const uint8_t a[16], const uint8_t b[16])
{
	uint64_t x, y;

	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	if (x == y) {
		memcpy(&x, a + 8, 8);
		memcpy(&y, b + 8, 8);
		if (x == y)
			return 0;
	}
	x = __builtin_bswap64(x);
	y = __builtin_bswap64(y);
	return x < y ? -1 : 1;
}

/*
 * Canonical side of a segment's sender: 0 when it is endpoint a of cw_flow_key_make(). Every
 * packet takes this; a libc memcmp() call here was ~18 % of the done-flow path.
 */
static inline unsigned int
cw_pkt_side(const struct cw_pkt *pkt)
{
	int c = cw_addr_cmp(pkt->saddr, pkt->daddr);

	return (c < 0 || (c == 0 && pkt->sport <= pkt->dport)) ? 0 : 1;
}

/*
 * The key is assembled in five 8-byte words and stored as such: the flow table hashes and
 * compares it as words right after, and a word load that spans several narrower stores
 * (ports, version, padding) cannot be forwarded from them and waits for them to retire.
 */
static inline void
cw_flow_key_make(struct cw_flow_key *k, const struct cw_pkt *pkt)
{
	unsigned int side = cw_pkt_side(pkt);
	uint64_t pa = side == 0 ? pkt->sport : pkt->dport;
	uint64_t pb = side == 0 ? pkt->dport : pkt->sport;
	uint64_t w[5];

	memcpy(&w[0], side == 0 ? pkt->saddr : pkt->daddr, 16);
	memcpy(&w[2], side == 0 ? pkt->daddr : pkt->saddr, 16);
	/* pa, pb, ipver and three zero bytes, in memory order; shifts keep it in a register. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w[4] = pa | pb << 16 | (uint64_t)pkt->ipver << 32;
#else
	w[4] = pa << 48 | pb << 32 | (uint64_t)pkt->ipver << 24;
#endif
	memcpy(k, w, sizeof(w));
}

/* Decode a frame of the given link type. Returns an enum cw_dec_res. */
int cw_decode(enum cw_linktype lt, const uint8_t *frame, uint32_t len, struct cw_pkt *pkt);

/* Ethernet (with up to CW_DEC_MAX_VLAN tags of 0x8100/0x88a8/0x9100). */
int cw_decode_eth(const uint8_t *frame, uint32_t len, struct cw_pkt *pkt);

/* Raw IP: the version nibble picks IPv4 or IPv6. */
int cw_decode_ip(const uint8_t *l3, uint32_t len, struct cw_pkt *pkt);

/*
 * The checksums a receiver checks before it takes a segment: the IPv4
 * header's and the TCP checksum over the pseudo-header, header and payload
 * (RFC 9293 3.1, RFC 8200 8.1). pkt must come from cw_decode() (CW_DEC_TCP)
 * with its frame still valid: the bytes read are the ones the decoder proved
 * present. Returns 1 when both are right, 0 when either is wrong. A segment
 * behind an IPv6 routing header with segments left (CW_PKT_F_IP6_RH) counts
 * as right: its pseudo-header names the final destination, which only the
 * routing header knows.
 */
int cw_pkt_csum_ok(const struct cw_pkt *pkt);

/* Short name of a result, for counters and logs ("fragment", "trunc_l3", ...). */
const char *cw_dec_res_name(int res);

#endif /* CW_DECODE_H */
