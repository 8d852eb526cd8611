/* SPDX-License-Identifier: BSD-3-Clause */
/* L2-L4 decoder: turns one captured frame into a TCP segment view or a counted reason why not. */

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cw_cursor.h"
#include "decode.h"

#define CW_ETH_IPV4 0x0800
#define CW_ETH_IPV6 0x86dd
#define CW_ETH_8021Q 0x8100
#define CW_ETH_8021AD 0x88a8
#define CW_ETH_QINQ_OLD 0x9100 /* pre-standard QinQ outer tag, still seen on carrier links */

#define CW_IPPROTO_HOPOPTS 0
#define CW_IPPROTO_TCP 6
#define CW_IPPROTO_ROUTING 43
#define CW_TCPOPT_MD5 19 /* RFC 2385 */
#define CW_TCPOPT_AO 29  /* RFC 5925 */
#define CW_IPPROTO_FRAGMENT 44
#define CW_IPPROTO_ESP 50
#define CW_IPPROTO_AH 51
#define CW_IPPROTO_NONE 59
#define CW_IPPROTO_DSTOPTS 60

/* BSD loopback address families; IPv6 differs between the BSDs. */
#define CW_NULL_AF_INET 2
#define CW_NULL_AF_INET6_BSD 24
#define CW_NULL_AF_INET6_FREEBSD 28
#define CW_NULL_AF_INET6_DARWIN 30

/*
 * Option list shared by IPv4 options (RFC 791 3.1) and TCP options
 * (RFC 9293 3.1):
 *   kind 0 (EOL)       1 byte, ends the list; the rest is padding
 *   kind 1 (NOP)       1 byte
 *   any other kind     kind(1) length(1) value(length - 2), length >= 2
 * Accepts any kind; rejects a length below 2 or one running past the list.
 * With sig (TCP), sets *sig when a TCP-MD5 (RFC 2385) or TCP-AO (RFC 5925)
 * option is seen before the list ends or turns bad.
 */
static inline __attribute__((always_inline)) int
walk_options(struct cw_cur opts, int *sig)
{
	uint8_t kind, olen;

	while (!cw_empty(&opts)) {
		(void)cw_u8(&opts, &kind);
		if (kind == 0)
			return CW_OK;
		if (kind == 1)
			continue;
		if (sig != NULL && (kind == CW_TCPOPT_MD5 || kind == CW_TCPOPT_AO))
			*sig = 1;
		if (cw_u8(&opts, &olen) != CW_OK || olen < 2)
			return CW_BAD;
		if (cw_skip(&opts, (size_t)olen - 2) != CW_OK)
			return CW_BAD;
	}
	return CW_OK;
}

/*
 * TCP header (RFC 9293 3.1), c bounded to exactly the IP payload:
 *   sport(2) dport(2) seq(4) ack(4)
 *   data_offset(4 bits) reserved(4 bits) flags(1) window(2) checksum(2) urgent(2)
 *   options(data_offset * 4 - 20)
 *   payload(rest of the IP payload)
 * The checksums are not verified here: captures taken with checksum offload
 * carry garbage there. cw_pkt_csum_ok() checks them where the caller asks
 * (--checksums verify), since a receiver drops a segment whose checksum is
 * wrong.
 * Malformed options (a length below 2 or past the option area) do not make
 * the segment bad: Linux (tcp_parse_options) and the BSDs (tcp_dooptions)
 * stop reading options there and accept the segment, so a sender could hide
 * handshake bytes in such segments from a decoder that dropped them. The
 * segment is kept and flagged CW_PKT_F_TCP_OPTS. A data offset below 5 or
 * past the segment is dropped here as it is by those receivers.
 */
static inline __attribute__((always_inline)) int
decode_tcp(struct cw_cur *c, struct cw_pkt *pkt)
{
	struct cw_cur opts;
	const uint8_t *h;
	uint8_t flags;
	size_t hlen;
	int sig = 0;

	if (cw_view(c, 20, &h) != CW_OK)
		return CW_DEC_TRUNC_L4;
	pkt->sport = cw_be16_at(h, 0);
	pkt->dport = cw_be16_at(h, 2);
	pkt->seq = cw_be32_at(h, 4);
	pkt->ack = cw_be32_at(h, 8);
	hlen = (size_t)(h[12] >> 4) * 4;
	flags = h[13];
	pkt->win = cw_be16_at(h, 14);
	/* h[16..17]: checksum, not verified (see above) */
	pkt->urg_ptr = cw_be16_at(h, 18);
	if (hlen < 20)
		return CW_DEC_BAD_L4;
	if (cw_sub(c, hlen - 20, &opts) != CW_OK)
		return CW_DEC_TRUNC_L4;
	if (walk_options(opts, &sig) != CW_OK)
		pkt->flags |= CW_PKT_F_TCP_OPTS;
	if (sig)
		pkt->flags |= CW_PKT_F_TCP_SIG;
	pkt->l4_hlen = (uint8_t)hlen;

	pkt->tcp_flags = flags;
	if (flags & CW_TCP_URG)
		pkt->flags |= CW_PKT_F_URG;
	pkt->payload_len = (uint32_t)cw_left(c);
	(void)cw_view(c, cw_left(c), &pkt->payload);
	return CW_DEC_TCP;
}

/*
 * An IPv4 address into the first 4 bytes of a 16-byte field, the rest zero, written whole: the
 * flow key reads the field right after, as 8- or 16-byte loads, and a load that spans several
 * narrower stores (or a store and the memset's older one) cannot be forwarded from them: it
 * waits for them to retire. With SSE2 it is one 16-byte store.
 */
static inline void
addr4(uint8_t dst[16], const uint8_t *src)
{
	uint32_t a;

	memcpy(&a, src, sizeof(a));
#if defined(__SSE2__)
	_mm_storeu_si128((__m128i *)(void *)dst, _mm_cvtsi32_si128((int)a));
#else
	uint64_t w[2] = {0, 0};

	memcpy(w, &a, sizeof(a));
	memcpy(dst, w, sizeof(w));
#endif
}

/*
 * A first fragment (offset 0, more to come) of a TCP datagram: when its TCP
 * header is whole, the segment's addresses, ports and flags are filled in
 * and CW_PKT_F_FRAG_TCP set, with no payload (the rest of it is in
 * fragments that are not reassembled), so that the caller can flag the
 * flow. The result stays CW_DEC_FRAGMENT.
 */
static int
first_fragment_tcp(struct cw_cur *body, struct cw_pkt *pkt)
{
	if (decode_tcp(body, pkt) == CW_DEC_TCP) {
		pkt->flags |= CW_PKT_F_FRAG_TCP;
		pkt->payload_len = 0;
	}
	return CW_DEC_FRAGMENT;
}

/*
 * IPv4 header (RFC 791 3.1):
 *   version(4 bits) ihl(4 bits) tos(1) total_length(2)
 *   id(2) flags(3 bits) fragment_offset(13 bits)
 *   ttl(1) protocol(1) checksum(2) saddr(4) daddr(4)
 *   options((ihl - 5) * 4)
 * Accepts a datagram shorter than the frame (L2 padding is trimmed).
 * Rejects fragments of any protocol: they are counted, never reassembled
 * (reassembly is an evasion surface of its own); a first fragment of TCP
 * still names its flow (first_fragment_tcp()), so that the flow can be
 * flagged: a sender can hide handshake bytes from the monitor this way.
 */
static int
decode_ipv4(struct cw_cur *c, struct cw_pkt *pkt)
{
	struct cw_cur opts, body;
	const uint8_t *h, *sa, *da;
	uint16_t tot, frag;
	uint8_t vihl, proto;
	size_t hlen;

	if (cw_view(c, 20, &h) != CW_OK)
		return CW_DEC_TRUNC_L3;
	vihl = h[0];
	tot = cw_be16_at(h, 2);
	/* h[4..5]: identification */
	frag = cw_be16_at(h, 6);
	pkt->ttl = h[8];
	proto = h[9];
	/* h[10..11]: checksum, see decode_tcp() */
	sa = h + 12;
	da = h + 16;

	if (vihl >> 4 != 4)
		return CW_DEC_BAD_L3;
	hlen = (size_t)(vihl & 0x0f) * 4;
	if (hlen < 20 || tot < hlen)
		return CW_DEC_BAD_L3;
	if (cw_sub(c, hlen - 20, &opts) != CW_OK)
		return CW_DEC_TRUNC_L3;
	if (hlen > 20)
		pkt->flags |= CW_PKT_F_IP_OPTIONS;
	if (walk_options(opts, NULL) != CW_OK)
		return CW_DEC_BAD_L3;
	/* c now holds the rest of the frame after the header. */
	if ((size_t)tot - hlen > cw_left(c))
		return CW_DEC_TRUNC_L3;
	if ((size_t)tot - hlen < cw_left(c))
		pkt->flags |= CW_PKT_F_L2_PAD;
	(void)cw_sub(c, (size_t)tot - hlen, &body);

	pkt->ipver = 4;
	pkt->l3_hlen = (uint8_t)hlen;
	addr4(pkt->saddr, sa);
	addr4(pkt->daddr, da);

	/* MF (0x2000) or a non-zero offset (low 13 bits); DF (0x4000) is fine. */
	if (frag & 0x3fff)
		return (frag & 0x1fff) == 0 && proto == CW_IPPROTO_TCP ? first_fragment_tcp(&body, pkt)
									: CW_DEC_FRAGMENT;
	if (proto != CW_IPPROTO_TCP)
		return CW_DEC_NOT_TCP;
	return decode_tcp(&body, pkt);
}

/*
 * IPv6 header (RFC 8200 3) and extension chain (RFC 8200 4):
 *   version(4 bits) traffic_class(8 bits) flow_label(20 bits)
 *   payload_length(2) next_header(1) hop_limit(1) saddr(16) daddr(16)
 *   then, while next_header names an extension header:
 *     hop-by-hop(0), routing(43), destination options(60):
 *       next(1) hdr_ext_len(1) ... total (hdr_ext_len + 1) * 8 bytes
 *     fragment(44): next(1) reserved(1) offset(13 bits) res(2 bits) M(1 bit) id(4)
 *     AH(51, RFC 4302 2): next(1) payload_len(1) ... total (payload_len + 2) * 4 bytes
 * Accepts at most CW_DEC_MAX_EXT extension headers, hop-by-hop only first,
 * and atomic fragments (offset 0, M = 0; RFC 6946) which are whole datagrams.
 * Rejects jumbograms (payload_length 0), which no Ethernet frame carries.
 * ESP(50), no-next-header(59) and anything else unknown end the walk as
 * "not TCP": we cannot see past them.
 */
static int
decode_ipv6(struct cw_cur *c, struct cw_pkt *pkt)
{
	struct cw_cur hdr, body;
	const uint8_t *sa = NULL, *da = NULL;
	uint32_t vtcfl = 0;
	uint16_t plen = 0, fragoff;
	uint8_t nh = 0, next, elen;
	unsigned int n_ext = 0;
	size_t len;

	if (cw_sub(c, 40, &hdr) != CW_OK)
		return CW_DEC_TRUNC_L3;
	(void)cw_u32(&hdr, &vtcfl);
	(void)cw_u16(&hdr, &plen);
	(void)cw_u8(&hdr, &nh);
	(void)cw_u8(&hdr, &pkt->ttl);
	(void)cw_view(&hdr, 16, &sa);
	(void)cw_view(&hdr, 16, &da);

	if (vtcfl >> 28 != 6 || plen == 0)
		return CW_DEC_BAD_L3;
	if (plen > cw_left(c))
		return CW_DEC_TRUNC_L3;
	if (plen < cw_left(c))
		pkt->flags |= CW_PKT_F_L2_PAD;
	(void)cw_sub(c, plen, &body);

	pkt->ipver = 6;
	memcpy(pkt->saddr, sa, 16);
	memcpy(pkt->daddr, da, 16);

	for (;;) {
		switch (nh) {
		case CW_IPPROTO_TCP:
			return decode_tcp(&body, pkt);
		case CW_IPPROTO_HOPOPTS:
		case CW_IPPROTO_ROUTING:
		case CW_IPPROTO_DSTOPTS:
		case CW_IPPROTO_FRAGMENT:
		case CW_IPPROTO_AH:
			break;
		case CW_IPPROTO_ESP:  /* encrypted from here on */
		case CW_IPPROTO_NONE: /* nothing follows */
		default:	      /* UDP, ICMPv6, unknown */
			return CW_DEC_NOT_TCP;
		}
		if (n_ext == CW_DEC_MAX_EXT)
			return CW_DEC_EXT_DEPTH;
		/* RFC 8200 4.1: hop-by-hop options only directly after the IPv6 header. */
		if (nh == CW_IPPROTO_HOPOPTS && n_ext != 0)
			return CW_DEC_BAD_L3;
		n_ext++;
		pkt->flags |= CW_PKT_F_IP6_EXT;

		if (cw_u8(&body, &next) != CW_OK || cw_u8(&body, &elen) != CW_OK)
			return CW_DEC_BAD_L3;
		if (nh == CW_IPPROTO_FRAGMENT) {
			if (cw_u16(&body, &fragoff) != CW_OK || cw_skip(&body, 4) != CW_OK)
				return CW_DEC_BAD_L3;
			/* Offset is the top 13 bits, M the lowest bit. */
			if ((fragoff & 0xfff9) != 0)
				return (fragoff & 0xfff8) == 0 && next == CW_IPPROTO_TCP
					       ? first_fragment_tcp(&body, pkt)
					       : CW_DEC_FRAGMENT;
		} else {
			if (nh == CW_IPPROTO_AH)
				len = ((size_t)elen + 2) * 4;
			else
				len = ((size_t)elen + 1) * 8;
			/* Routing header (RFC 8200 4.4): routing_type(1) segments_left(1) ... */
			if (nh == CW_IPPROTO_ROUTING) {
				struct cw_cur rh = body;
				const uint8_t *t;

				if (cw_view(&rh, 2, &t) == CW_OK && t[1] != 0)
					pkt->flags |= CW_PKT_F_IP6_RH;
			}
			if (cw_skip(&body, len - 2) != CW_OK)
				return CW_DEC_BAD_L3;
		}
		nh = next;
	}
}

int
cw_decode_ip(const uint8_t *l3, uint32_t len, struct cw_pkt *pkt)
{
	struct cw_cur c = cw_cur_init(l3, len);
	uint8_t v;

	memset(pkt, 0, sizeof(*pkt));
	if (cw_u8(&c, &v) != CW_OK)
		return CW_DEC_TRUNC_L3;
	c = cw_cur_init(l3, len);
	switch (v >> 4) {
	case 4:
		return decode_ipv4(&c, pkt);
	case 6:
		return decode_ipv6(&c, pkt);
	default:
		return CW_DEC_BAD_L3;
	}
}

/*
 * After an EtherType (Ethernet, or the Linux cooked headers which can also
 * carry tags), VLAN tags (IEEE 802.1Q 9.6):
 *   TPID 0x8100 / 0x88a8 / 0x9100 already read as type, then
 *   TCI(2: PCP 3 bits, DEI 1 bit, VID 12 bits) next_type(2)
 * Accepts at most CW_DEC_MAX_VLAN tags; a deeper stack is counted rather
 * than guessed at.
 */
static int
decode_ethertype(struct cw_cur *c, uint16_t type, struct cw_pkt *pkt)
{
	uint16_t tci;

	while (type == CW_ETH_8021Q || type == CW_ETH_8021AD || type == CW_ETH_QINQ_OLD) {
		if (pkt->vlan_depth == CW_DEC_MAX_VLAN)
			return CW_DEC_VLAN_DEPTH;
		if (cw_u16(c, &tci) != CW_OK || cw_u16(c, &type) != CW_OK)
			return CW_DEC_TRUNC_L2;
		pkt->vlan[pkt->vlan_depth++] = tci & 0x0fff;
	}
	switch (type) {
	case CW_ETH_IPV4:
		return decode_ipv4(c, pkt);
	case CW_ETH_IPV6:
		return decode_ipv6(c, pkt);
	default:
		return CW_DEC_NOT_IP;
	}
}

/* Ethernet II (IEEE 802.3 3.1.1): dst(6) src(6) type(2), then VLAN tags. */
static int
decode_eth(struct cw_cur *c, struct cw_pkt *pkt)
{
	uint16_t type;

	if (cw_skip(c, 12) != CW_OK || cw_u16(c, &type) != CW_OK)
		return CW_DEC_TRUNC_L2;
	return decode_ethertype(c, type, pkt);
}

int
cw_decode_eth(const uint8_t *frame, uint32_t len, struct cw_pkt *pkt)
{
	struct cw_cur c = cw_cur_init(frame, len);

	memset(pkt, 0, sizeof(*pkt));
	return decode_eth(&c, pkt);
}

/*
 * BSD loopback (LINKTYPE_NULL): family(4) in the capturing host's byte
 * order, which need not be ours, so both orders are accepted (the family
 * numbers are small, so a value above 0xffff means the other order).
 */
static int
decode_null(struct cw_cur *c, struct cw_pkt *pkt)
{
	uint32_t fam;

	if (cw_u32(c, &fam) != CW_OK)
		return CW_DEC_TRUNC_L2;
	if (fam > 0xffff)
		fam = (fam >> 24) | ((fam >> 8) & 0xff00) | ((fam << 8) & 0xff0000) | (fam << 24);
	switch (fam) {
	case CW_NULL_AF_INET:
		return decode_ipv4(c, pkt);
	case CW_NULL_AF_INET6_BSD:
	case CW_NULL_AF_INET6_FREEBSD:
	case CW_NULL_AF_INET6_DARWIN:
		return decode_ipv6(c, pkt);
	default:
		return CW_DEC_NOT_IP;
	}
}

/*
 * Linux cooked capture v1 (LINKTYPE_LINUX_SLL):
 *   packet_type(2) arphrd(2) addr_len(2) addr(8) protocol(2)
 * Linux cooked capture v2 (LINKTYPE_LINUX_SLL2):
 *   protocol(2) reserved(2) ifindex(4) arphrd(2) packet_type(1) addr_len(1) addr(8)
 */
static int
decode_sll(struct cw_cur *c, struct cw_pkt *pkt, int v2)
{
	uint16_t proto;

	if (v2) {
		if (cw_u16(c, &proto) != CW_OK || cw_skip(c, 18) != CW_OK)
			return CW_DEC_TRUNC_L2;
	} else {
		if (cw_skip(c, 14) != CW_OK || cw_u16(c, &proto) != CW_OK)
			return CW_DEC_TRUNC_L2;
	}
	return decode_ethertype(c, proto, pkt);
}

/*
 * The frames nearly every packet is: Ethernet II, then IPv4 without options or fragmentation, or
 * IPv6 without extension headers, then TCP. One view proves the fixed L2 and L3 headers (34 or
 * 54 bytes); their fields are read at constant offsets:
 *   Ethernet  0: dst(6) src(6) type(2)
 *   IPv4     14: 0x45 tos(1) total_length(2) id(2) frag(2) ttl(1) proto(1) csum(2) src(4) dst(4)
 *   IPv6     14: 0x6. tc/flow(3) payload_length(2) next_header(1) hop_limit(1) src(16) dst(16)
 * The IP payload then goes to decode_tcp(), as on the general path. Each returns
 * decode_tcp()'s result with pkt filled exactly as the general path fills it, or -1 before
 * touching pkt for anything else (VLAN tags, options, extension headers, fragments, a datagram
 * longer than the frame): the general path then decides and counts what the frame is.
 * test_decode compares the two on every frame of its captures and on mutated frames.
 */

/* The IP part both fast paths fill: version, addresses (alen bytes each), TTL, L2 padding. */
static inline void
fast_ip(struct cw_pkt *pkt, uint8_t ver, const uint8_t *sa, const uint8_t *da, size_t alen,
	uint8_t ttl, int pad)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->ipver = ver;
	if (alen == 4) {
		addr4(pkt->saddr, sa);
		addr4(pkt->daddr, da);
	} else {
		memcpy(pkt->saddr, sa, alen);
		memcpy(pkt->daddr, da, alen);
	}
	pkt->ttl = ttl;
	if (pad)
		pkt->flags |= CW_PKT_F_L2_PAD;
}

static int
decode_eth_ipv4_tcp(const uint8_t *frame, uint32_t len, struct cw_pkt *pkt)
{
	struct cw_cur c = cw_cur_init(frame, len), body;
	const uint8_t *h;
	size_t dlen;

	if (cw_view(&c, 34, &h) != CW_OK || cw_be16_at(h, 12) != CW_ETH_IPV4 || h[14] != 0x45 ||
	    (cw_be16_at(h, 20) & 0x3fff) != 0 || h[23] != CW_IPPROTO_TCP ||
	    cw_be16_at(h, 16) < 20)
		return -1;
	dlen = (size_t)cw_be16_at(h, 16) - 20;
	if (dlen > cw_left(&c))
		return -1;
	fast_ip(pkt, 4, h + 26, h + 30, 4, h[22], dlen < cw_left(&c));
	pkt->l3_hlen = 20;
	(void)cw_sub(&c, dlen, &body);
	return decode_tcp(&body, pkt);
}

static int
decode_eth_ipv6_tcp(const uint8_t *frame, uint32_t len, struct cw_pkt *pkt)
{
	struct cw_cur c = cw_cur_init(frame, len), body;
	const uint8_t *h;
	size_t plen;

	/* payload_length 0 would be a jumbogram: the general path rejects it. */
	if (cw_view(&c, 54, &h) != CW_OK || cw_be16_at(h, 12) != CW_ETH_IPV6 || h[14] >> 4 != 6 ||
	    h[20] != CW_IPPROTO_TCP || cw_be16_at(h, 18) == 0)
		return -1;
	plen = cw_be16_at(h, 18);
	if (plen > cw_left(&c))
		return -1;
	fast_ip(pkt, 6, h + 22, h + 38, 16, h[21], plen < cw_left(&c));
	(void)cw_sub(&c, plen, &body);
	return decode_tcp(&body, pkt);
}

/*
 * Every frame that is not Ethernet + IPv4 (20-byte header) + TCP comes through here: flatten
 * inlines the whole header chain into it.
 */
static __attribute__((flatten, noinline)) int
decode_any(enum cw_linktype lt, const uint8_t *frame, uint32_t len, struct cw_pkt *pkt)
{
	struct cw_cur c = cw_cur_init(frame, len);
	int res;

	/*
	 * libpcap's pcap_datalink() reports raw IP as DLT_RAW (12, or 14 on
	 * OpenBSD), not as LINKTYPE_RAW (101); every other supported value is
	 * the same in both spaces, so callers may pass either.
	 */
	if ((int)lt == 12 || (int)lt == 14)
		lt = CW_LINK_RAW;

	switch (lt) {
	case CW_LINK_ETHERNET:
		/* cw_decode() tried decode_eth_ipv4_tcp() already. */
		res = decode_eth_ipv6_tcp(frame, len, pkt);
		if (res >= 0)
			return res;
		memset(pkt, 0, sizeof(*pkt));
		return decode_eth(&c, pkt);
	case CW_LINK_RAW:
		return cw_decode_ip(frame, len, pkt);
	case CW_LINK_IPV4:
		memset(pkt, 0, sizeof(*pkt));
		return decode_ipv4(&c, pkt);
	case CW_LINK_IPV6:
		memset(pkt, 0, sizeof(*pkt));
		return decode_ipv6(&c, pkt);
	case CW_LINK_NULL:
		memset(pkt, 0, sizeof(*pkt));
		return decode_null(&c, pkt);
	case CW_LINK_LINUX_SLL:
		memset(pkt, 0, sizeof(*pkt));
		return decode_sll(&c, pkt, 0);
	case CW_LINK_LINUX_SLL2:
		memset(pkt, 0, sizeof(*pkt));
		return decode_sll(&c, pkt, 1);
	}
	/* A link type we do not know cannot be shown to carry IP. */
	memset(pkt, 0, sizeof(*pkt));
	return CW_DEC_NOT_IP;
}

/*
 * The common frame, Ethernet + IPv4 without options + TCP, is decoded here on its own: a small
 * function that saves no registers and sets up no frame; decode_any() takes every other.
 */
int
cw_decode(enum cw_linktype lt, const uint8_t *frame, uint32_t len, struct cw_pkt *pkt)
{
	if (lt == CW_LINK_ETHERNET) {
		int res = decode_eth_ipv4_tcp(frame, len, pkt);

		if (res >= 0)
			return res;
	}
	return decode_any(lt, frame, len, pkt);
}

/*
 * RFC 1071 sum of n bytes in host order, as 32-bit words added into 64-bit
 * lanes, which cannot overflow for any frame (SSE2: 32 bytes per step, four
 * lanes). The ones' complement sum does not depend on byte order, so the
 * folded result is compared with 0xffff as is (RFC 1071 2(B)). n is even
 * except for the last piece of a sum.
 */
static inline __attribute__((always_inline)) uint64_t
csum_add(uint64_t acc, const uint8_t *p, size_t n)
{
	uint64_t w;
	uint32_t v;
	uint16_t h;
	uint8_t last[2] = {0, 0};

#if defined(__SSE2__)
	if (n >= 32) {
		const __m128i z = _mm_setzero_si128();
		__m128i a0 = z, a1 = z, a2 = z, a3 = z;
		uint64_t t[2];

		for (; n >= 32; n -= 32, p += 32) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));

			a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(x, z));
			a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(x, z));
			a2 = _mm_add_epi64(a2, _mm_unpacklo_epi32(y, z));
			a3 = _mm_add_epi64(a3, _mm_unpackhi_epi32(y, z));
		}
		a0 = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
		_mm_storeu_si128((__m128i *)(void *)t, a0);
		acc += t[0] + t[1];
	}
#endif
	for (; n >= 8; n -= 8, p += 8) {
		memcpy(&w, p, 8);
		acc += (w & 0xffffffffu) + (w >> 32);
	}
	if (n >= 4) {
		memcpy(&v, p, 4);
		acc += v;
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		n -= 2;
	}
	if (n) {
		last[0] = p[0];
		memcpy(&h, last, 2);
		acc += h;
	}
	return acc;
}

static uint16_t
csum_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* A 16-bit field as its two big-endian bytes read in host order: a term of csum_add()'s sum. */
static inline uint64_t
csum_be16(uint32_t x)
{
	const uint8_t b[2] = {(uint8_t)(x >> 8), (uint8_t)x};
	uint16_t h;

	memcpy(&h, b, 2);
	return h;
}

int
cw_pkt_csum_ok(const struct cw_pkt *pkt)
{
	/* The TCP segment: header, options and payload, contiguous before and at payload. */
	const uint8_t *tcp = pkt->payload - pkt->l4_hlen;
	size_t tcplen = (size_t)pkt->l4_hlen + pkt->payload_len;
	uint64_t acc;

	if (pkt->ipver == 4) {
		if (csum_fold(csum_add(0, tcp - pkt->l3_hlen, pkt->l3_hlen)) != 0xffff)
			return 0;
		/* Pseudo-header (RFC 9293 3.1): source, destination, zero, protocol, TCP length. */
		acc = csum_add(0, pkt->saddr, 4) + csum_add(0, pkt->daddr, 4);
	} else {
		if (pkt->flags & CW_PKT_F_IP6_RH)
			return 1;
		/* RFC 8200 8.1: source, destination, upper-layer length (32 bits), zero, next header. */
		acc = csum_add(0, pkt->saddr, 16) + csum_add(0, pkt->daddr, 16) +
		      csum_be16((uint32_t)(tcplen >> 16));
	}
	acc += csum_be16(CW_IPPROTO_TCP) + csum_be16((uint32_t)tcplen & 0xffff);
	return csum_fold(csum_add(acc, tcp, tcplen)) == 0xffff;
}

const char *
cw_dec_res_name(int res)
{
	static const char *const names[CW_DEC__MAX] = {
		[CW_DEC_TCP] = "tcp",
		[CW_DEC_NOT_IP] = "not_ip",
		[CW_DEC_NOT_TCP] = "not_tcp",
		[CW_DEC_FRAGMENT] = "fragment",
		[CW_DEC_TRUNC_L2] = "trunc_l2",
		[CW_DEC_TRUNC_L3] = "trunc_l3",
		[CW_DEC_BAD_L3] = "bad_l3",
		[CW_DEC_TRUNC_L4] = "trunc_l4",
		[CW_DEC_BAD_L4] = "bad_l4",
		[CW_DEC_VLAN_DEPTH] = "vlan_depth",
		[CW_DEC_EXT_DEPTH] = "ext_depth",
	};

	if (res < 0 || res >= CW_DEC__MAX)
		return "unknown";
	return names[res];
}
