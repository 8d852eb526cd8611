/* SPDX-License-Identifier: BSD-3-Clause */
/* Test helper: TCP payloads of chosen frames of a capture, with a minimal L2-L4 walk of its own. */
#ifndef TLS_TEST_PCAP_H
#define TLS_TEST_PCAP_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cw_cursor.h"

/* Pcap link types the helper understands (pcap LINKTYPE_* values). */
#define TP_LINK_NULL 0
#define TP_LINK_ETHERNET 1
#define TP_LINK_RAW 101
#define TP_LINK_LOOP 108
#define TP_LINK_LINUX_SLL 113

struct tp_seg {
	uint16_t sport, dport;
	uint32_t seq;
	const uint8_t *payload;
	uint32_t len;
};

/*
 * Find the TCP segment in one frame. Test-only: no fragments, IPv6
 * extension headers limited to the common ones. Returns 0 or -1.
 */
static inline int
tp_tcp(int linktype, const uint8_t *f, uint32_t caplen, struct tp_seg *s)
{
	struct cw_cur c = cw_cur_init(f, caplen), ip, tcp;
	uint16_t etype = 0, tot, plen;
	uint8_t b, ihl, nh, hlen, off;
	uint32_t fam;

	switch (linktype) {
	case TP_LINK_ETHERNET:
		if (cw_skip(&c, 12) || cw_u16(&c, &etype))
			return -1;
		while (etype == 0x8100 || etype == 0x88a8) {
			if (cw_skip(&c, 2) || cw_u16(&c, &etype))
				return -1;
		}
		break;
	case TP_LINK_NULL:
	case TP_LINK_LOOP:
		if (cw_u32(&c, &fam))
			return -1;
		etype = 0; /* family is host order; decide from the IP version nibble */
		break;
	case TP_LINK_LINUX_SLL:
		if (cw_skip(&c, 14) || cw_u16(&c, &etype))
			return -1;
		break;
	case TP_LINK_RAW:
		break;
	default:
		return -1;
	}
	(void)etype;
	if (cw_left(&c) < 1)
		return -1;
	b = c.p[0] >> 4;
	if (b == 4) {
		ip = c;
		if (cw_u8(&ip, &ihl) || cw_skip(&ip, 1) || cw_u16(&ip, &tot) || cw_skip(&ip, 5) ||
		    cw_u8(&ip, &nh))
			return -1;
		c = cw_cur_init(c.p, cw_left(&c) < tot ? cw_left(&c) : tot);
		if (nh != 6 || cw_skip(&c, (size_t)(ihl & 15) * 4))
			return -1;
	} else if (b == 6) {
		if (cw_skip(&c, 4) || cw_u16(&c, &plen) || cw_u8(&c, &nh) || cw_skip(&c, 33))
			return -1;
		c = cw_cur_init(c.p, cw_left(&c) < plen ? cw_left(&c) : plen);
		while (nh == 0 || nh == 43 || nh == 60) {
			if (cw_u8(&c, &nh) || cw_u8(&c, &hlen) || cw_skip(&c, 6 + (size_t)hlen * 8))
				return -1;
		}
		if (nh != 6)
			return -1;
	} else {
		return -1;
	}
	tcp = c;
	if (cw_u16(&tcp, &s->sport) || cw_u16(&tcp, &s->dport) || cw_u32(&tcp, &s->seq) ||
	    cw_skip(&tcp, 4) || cw_u8(&tcp, &off) || cw_skip(&c, (size_t)(off >> 4) * 4))
		return -1;
	s->payload = c.p;
	s->len = (uint32_t)cw_left(&c);
	return 0;
}

/* Copy the TCP payload of frame number `frame` (1-based, as tshark counts). Returns length or -1. */
static inline long
tp_frame_payload(const char *path, unsigned int frame, uint8_t *buf, size_t cap)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const uint8_t *d;
	struct tp_seg s;
	unsigned int n = 0;
	long ret = -1;
	pcap_t *p = pcap_open_offline(path, err);

	if (p == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		return -1;
	}
	while (pcap_next_ex(p, &h, &d) == 1) {
		if (++n != frame)
			continue;
		if (tp_tcp(pcap_datalink(p), d, h->caplen, &s) == 0 && s.len <= cap) {
			memcpy(buf, s.payload, s.len);
			ret = s.len;
		}
		break;
	}
	pcap_close(p);
	return ret;
}

/*
 * Concatenate, in sequence order, the payload sent from port sport: the
 * first payload-carrying segment sets the start, retransmissions (seq not
 * the next expected) are skipped. Enough for the in-order captures used in
 * the tests. Returns the stream length or -1.
 */
static inline long
tp_stream(const char *path, uint16_t sport, uint8_t *buf, size_t cap)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const uint8_t *d;
	struct tp_seg s;
	uint32_t next = 0;
	size_t len = 0;
	int have = 0;
	pcap_t *p = pcap_open_offline(path, err);

	if (p == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		return -1;
	}
	while (pcap_next_ex(p, &h, &d) == 1) {
		if (tp_tcp(pcap_datalink(p), d, h->caplen, &s) != 0 || s.sport != sport || s.len == 0)
			continue;
		if (have && s.seq != next)
			continue;
		if (len + s.len > cap)
			break;
		memcpy(buf + len, s.payload, s.len);
		len += s.len;
		next = s.seq + s.len;
		have = 1;
	}
	pcap_close(p);
	return (long)len;
}

#endif /* TLS_TEST_PCAP_H */
