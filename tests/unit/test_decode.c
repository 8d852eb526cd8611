/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the L2-L4 decoder: real captures checked against tshark, and malformed frames. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "decode.h"

#include "cw_check.h"

/* Result names make failures readable: "trunc_l3" rather than 5. */
#define CHECK_RES(got, want)                                                                       \
	do {                                                                                       \
		int g_ = (got), w_ = (want);                                                       \
		checks++;                                                                          \
		if (g_ != w_) {                                                                    \
			fprintf(stderr, "%s:%d: %s: got %s, want %s\n", __FILE__, __LINE__, #got,  \
				cw_dec_res_name(g_), cw_dec_res_name(w_));                         \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define DIR "tests/data/conformance/"

/* libpcap reports DLT_* values; the decoder takes LINKTYPE_* values. */
static int
dlt_to_link(int dlt, enum cw_linktype *lt)
{
	switch (dlt) {
	case DLT_NULL:
		*lt = CW_LINK_NULL;
		return 0;
	case DLT_EN10MB:
		*lt = CW_LINK_ETHERNET;
		return 0;
	case 12: /* DLT_RAW on most systems */
	case 14: /* DLT_RAW on OpenBSD and BSD/OS */
		*lt = CW_LINK_RAW;
		return 0;
	case DLT_IPV4:
		*lt = CW_LINK_IPV4;
		return 0;
	case DLT_IPV6:
		*lt = CW_LINK_IPV6;
		return 0;
	case DLT_LINUX_SLL:
		*lt = CW_LINK_LINUX_SLL;
		return 0;
	case DLT_LINUX_SLL2:
		*lt = CW_LINK_LINUX_SLL2;
		return 0;
	}
	return -1;
}

static pcap_t *
open_capture(const char *path, enum cw_linktype *lt)
{
	char err[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, err);

	if (p == NULL) {
		fprintf(stderr, "%s: %s\n", path, err);
		failures++;
		return NULL;
	}
	if (dlt_to_link(pcap_datalink(p), lt) != 0) {
		fprintf(stderr, "%s: unexpected link type %d\n", path, pcap_datalink(p));
		failures++;
		pcap_close(p);
		return NULL;
	}
	return p;
}

/*
 * Decode from a heap block of exactly len bytes so that AddressSanitizer
 * catches any read past the frame. The payload pointer is cleared because
 * the block is gone when this returns.
 */
static int
dec_exact(enum cw_linktype lt, const uint8_t *frame, uint32_t len, struct cw_pkt *pkt)
{
	uint8_t *b = malloc(len ? len : 1);
	int res;

	if (b == NULL) {
		perror("malloc");
		exit(2);
	}
	if (len)
		memcpy(b, frame, len);
	res = cw_decode(lt, b, len, pkt);
	CHECK(pkt->payload_len == 0 || pkt->payload == NULL ||
	      (pkt->payload >= b && pkt->payload + pkt->payload_len <= b + len));
	free(b);
	pkt->payload = NULL;
	return res;
}

/* Frame n (1-based) of a capture, copied out; its length in *len. */
static uint8_t *
load_frame(const char *path, unsigned int n, uint32_t *len, enum cw_linktype *lt)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	unsigned int i = 0;
	uint8_t *out = NULL;
	pcap_t *p = open_capture(path, lt);

	if (p == NULL)
		return NULL;
	while (pcap_next_ex(p, &h, &data) == 1) {
		if (++i == n) {
			out = malloc(h->caplen);
			if (out == NULL)
				exit(2);
			memcpy(out, data, h->caplen);
			*len = h->caplen;
			break;
		}
	}
	pcap_close(p);
	if (out == NULL) {
		fprintf(stderr, "%s: no frame %u\n", path, n);
		failures++;
	}
	return out;
}

/*
 * Per-capture totals, computed independently with tshark (dissecting
 * frame.protocols: TCP directly after IP/IPv6 and its extension headers
 * counts as TCP; tcp.len summed; padding = frame.len - L2 header > IP length).
 */
struct capture_expect {
	const char *path;
	enum cw_linktype lt;
	unsigned int frames, tcp, not_tcp, not_ip, pad;
	unsigned long long payload_bytes;
};

static const struct capture_expect captures[] = {
	{DIR "ja4/pcap/ipv6.pcapng", CW_LINK_NULL, 9, 9, 0, 0, 0, 3047},
	{DIR "ja4/pcap/latest.pcapng", CW_LINK_ETHERNET, 209, 137, 70, 2, 18, 56452},
	{DIR "ja4/pcap/v6.pcap", CW_LINK_ETHERNET, 161, 62, 99, 0, 0, 4626},
	/* TCP inside GRE: the outer packet is not TCP, and is not unwrapped. */
	{DIR "ja4/pcap/gre-sample.pcap", CW_LINK_ETHERNET, 40, 0, 40, 0, 0, 0},
	{DIR "zeek/traces/irc-starttls.pcap", CW_LINK_LINUX_SLL, 20, 20, 0, 0, 0, 2816},
	{DIR "zeek/traces/openjdk-25.0.2-zeek.org.pcap", CW_LINK_LINUX_SLL2, 6, 6, 0, 0, 0, 3377},
	{DIR "zeek/traces/ocsp-empty-responderid.pcap", CW_LINK_IPV4, 7, 7, 0, 0, 0, 420},
	{DIR "suricata-verify/tests/tls/tls-pre-1970/input.pcap", CW_LINK_RAW, 17, 17, 0, 0, 0,
	 2196},
	/* Includes IPv6 hop-by-hop + ICMPv6 (MLD) and 802.3/STP frames. */
	{DIR "suricata-verify/tests/tls/tls-subjectaltname/input.pcap", CW_LINK_ETHERNET, 3138,
	 2982, 108, 48, 0, 1369609},
};

static void
test_captures(void)
{
	unsigned int ci;

	for (ci = 0; ci < sizeof(captures) / sizeof(captures[0]); ci++) {
		const struct capture_expect *e = &captures[ci];
		unsigned int counts[CW_DEC__MAX] = {0};
		unsigned int frames = 0, pad = 0;
		unsigned long long bytes = 0;
		struct pcap_pkthdr *h;
		const u_char *data;
		enum cw_linktype lt;
		struct cw_pkt pkt;
		pcap_t *p;
		int res;

		p = open_capture(e->path, &lt);
		if (p == NULL)
			continue;
		CHECK_EQ(lt, e->lt);
		while (pcap_next_ex(p, &h, &data) == 1) {
			frames++;
			res = dec_exact(lt, data, h->caplen, &pkt);
			CHECK(res >= 0 && res < CW_DEC__MAX);
			if (res < 0 || res >= CW_DEC__MAX)
				continue;
			counts[res]++;
			if (res == CW_DEC_TCP) {
				bytes += pkt.payload_len;
				if (pkt.flags & CW_PKT_F_L2_PAD)
					pad++;
				CHECK(pkt.ipver == 4 || pkt.ipver == 6);
				if (pkt.ipver == 4) {
					static const uint8_t zero[12];

					CHECK(memcmp(pkt.saddr + 4, zero, 12) == 0);
					CHECK(memcmp(pkt.daddr + 4, zero, 12) == 0);
				}
			}
		}
		pcap_close(p);
		fprintf(stderr, "  %s: %u frames, tcp %u, not_tcp %u, not_ip %u\n", e->path, frames,
			counts[CW_DEC_TCP], counts[CW_DEC_NOT_TCP], counts[CW_DEC_NOT_IP]);
		CHECK_EQ(frames, e->frames);
		CHECK_EQ(counts[CW_DEC_TCP], e->tcp);
		CHECK_EQ(counts[CW_DEC_NOT_TCP], e->not_tcp);
		CHECK_EQ(counts[CW_DEC_NOT_IP], e->not_ip);
		CHECK_EQ(frames - counts[CW_DEC_TCP] - counts[CW_DEC_NOT_TCP] -
				 counts[CW_DEC_NOT_IP],
			 0);
		CHECK_EQ(bytes, e->payload_bytes);
		CHECK_EQ(pad, e->pad);
	}
}

/*
 * RFC 1071 the plain way, 16-bit big-endian words one at a time: the
 * reference cw_pkt_csum_ok() is held to.
 */
static int
ref_csum_ok(const struct cw_pkt *pkt)
{
	const uint8_t *tcp = pkt->payload - pkt->l4_hlen;
	uint32_t n = pkt->l4_hlen + pkt->payload_len, s = 0, i;
	uint32_t alen = pkt->ipver == 4 ? 4 : 16;

	if (pkt->ipver == 4) {
		for (i = 0; i < pkt->l3_hlen; i += 2)
			s += (uint32_t)(tcp - pkt->l3_hlen)[i] << 8 | (tcp - pkt->l3_hlen)[i + 1];
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		if (s != 0xffff)
			return 0;
		s = 0;
	}
	for (i = 0; i < alen; i += 2)
		s += (uint32_t)pkt->saddr[i] << 8 | pkt->saddr[i + 1];
	for (i = 0; i < alen; i += 2)
		s += (uint32_t)pkt->daddr[i] << 8 | pkt->daddr[i + 1];
	s += 6 + (n >> 16) + (n & 0xffff);
	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)tcp[i] << 8 | tcp[i + 1];
	if (n & 1)
		s += (uint32_t)tcp[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/*
 * cw_pkt_csum_ok() against the reference on every TCP frame of captures
 * whose checksums are right (the adversarial suite's generator writes them;
 * the IPv6 one was taken off the wire) and of one taken with checksum
 * offload (most are wrong there); then a bit flipped anywhere in the IPv4
 * header or the TCP segment of the first frames must make it wrong.
 */
static void
test_checksums(void)
{
	static const struct {
		const char *path;
		int all_ok;
	} caps[] = {
		{"tests/data/adversarial/merged_server_flight.pcap", 1},
		{"tests/data/adversarial/ipv6_ext_chain_3.pcap", 1},
		{"tests/data/adversarial/vlan_2_tags.pcap", 1},
		{"tests/data/adversarial/ch_1byte_segments.pcap", 1},
		{"tests/data/lab/small.pcap", 0},
		{DIR "ja4/pcap/ipv6.pcapng", 1},
	};
	unsigned int flips = 0, frames = 0, good = 0;

	for (unsigned int ci = 0; ci < sizeof(caps) / sizeof(caps[0]); ci++) {
		struct pcap_pkthdr *h;
		const u_char *data;
		enum cw_linktype lt;
		struct cw_pkt pkt;
		unsigned int n = 0, ok = 0;
		pcap_t *p = open_capture(caps[ci].path, &lt);

		if (p == NULL)
			continue;
		while (pcap_next_ex(p, &h, &data) == 1) {
			uint8_t *b = malloc(h->caplen);
			int want;

			if (b == NULL) {
				perror("malloc");
				exit(2);
			}
			memcpy(b, data, h->caplen);
			if (cw_decode(lt, b, h->caplen, &pkt) != CW_DEC_TCP) {
				free(b);
				continue;
			}
			n++;
			want = ref_csum_ok(&pkt);
			CHECK_EQ(cw_pkt_csum_ok(&pkt), want);
			ok += (unsigned int)want;
			if (want && n <= 12) {
				const uint8_t *from = pkt.payload - pkt.l4_hlen - pkt.l3_hlen;
				const uint8_t *to = pkt.payload + pkt.payload_len;

				for (uint8_t *q = (uint8_t *)(uintptr_t)from; q < to; q++) {
					*q ^= 0x10;
					CHECK_EQ(cw_pkt_csum_ok(&pkt), 0);
					*q ^= 0x10;
					flips++;
				}
				CHECK_EQ(cw_pkt_csum_ok(&pkt), 1);
			}
			free(b);
		}
		pcap_close(p);
		if (caps[ci].all_ok)
			CHECK_EQ(ok, n);
		else
			CHECK(ok < n);
		CHECK(n > 0);
		frames += n;
		good += ok;
	}
	fprintf(stderr, "  checksums: %u TCP frames, %u right, %u bit flips each caught\n", frames, good,
		flips);
}

/* Individual packets, each field read off tshark -o tcp.relative_sequence_numbers:FALSE. */
static void
test_known_packets(void)
{
	static const uint8_t v6_src[16] = {0x20, 0x01, 0x49, 0x98, 0xef, 0x83, 0x00, 0x14,
					   0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0d};
	static const uint8_t v6_dst[16] = {0x26, 0x06, 0x47, 0x00, 0x00, 0x00, 0x00, 0x00,
					   0x00, 0x00, 0x00, 0x00, 0x68, 0x11, 0xd2, 0x09};
	static const uint8_t latest_src[16] = {172, 16, 225, 48};
	static const uint8_t latest_dst[16] = {34, 212, 93, 65};
	static const uint8_t irc_src[16] = {203, 143, 168, 47};
	static const uint8_t ch[] = {0x16, 0x03, 0x01, 0x00, 0xe8, 0x01};
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint8_t *f;
	uint32_t len;

	/* BSD loopback (family 30, little-endian), IPv6 SYN with options. */
	f = load_frame(DIR "ja4/pcap/ipv6.pcapng", 1, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.ipver, 6);
		CHECK(memcmp(pkt.saddr, v6_src, 16) == 0);
		CHECK(memcmp(pkt.daddr, v6_dst, 16) == 0);
		CHECK_EQ(pkt.sport, 64034);
		CHECK_EQ(pkt.dport, 443);
		CHECK_EQ(pkt.seq, 857026346u);
		CHECK_EQ(pkt.ack, 0);
		CHECK_EQ(pkt.tcp_flags, CW_TCP_SYN);
		CHECK_EQ(pkt.win, 65535);
		CHECK_EQ(pkt.ttl, 64);
		CHECK_EQ(pkt.payload_len, 0);
		CHECK_EQ(pkt.flags, 0);
		CHECK_EQ(pkt.vlan_depth, 0);
		free(f);
	}
	f = load_frame(DIR "ja4/pcap/ipv6.pcapng", 2, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.ttl, 59);
		CHECK_EQ(pkt.tcp_flags, CW_TCP_SYN | CW_TCP_ACK);
		CHECK_EQ(pkt.seq, 1623734745u);
		CHECK_EQ(pkt.ack, 857026347u);
		free(f);
	}
	f = load_frame(DIR "ja4/pcap/ipv6.pcapng", 4, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 237);
		CHECK(pkt.payload == f + len - 237);
		CHECK(memcmp(pkt.payload, ch, sizeof(ch)) == 0);
		CHECK_EQ(pkt.tcp_flags, CW_TCP_PSH | CW_TCP_ACK);
		CHECK_EQ(pkt.win, 4096);
		free(f);
	}

	/* Ethernet IPv4 ClientHello. */
	f = load_frame(DIR "ja4/pcap/latest.pcapng", 10, &len, &lt);
	if (f) {
		static const uint8_t ch2[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};

		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.ipver, 4);
		CHECK(memcmp(pkt.saddr, latest_src, 16) == 0);
		CHECK(memcmp(pkt.daddr, latest_dst, 16) == 0);
		CHECK_EQ(pkt.ttl, 128);
		CHECK_EQ(pkt.sport, 52936);
		CHECK_EQ(pkt.dport, 443);
		CHECK_EQ(pkt.seq, 519756659u);
		CHECK_EQ(pkt.ack, 992408280u);
		CHECK_EQ(pkt.tcp_flags, 0x18);
		CHECK_EQ(pkt.win, 513);
		CHECK_EQ(pkt.payload_len, 517);
		CHECK(memcmp(pkt.payload, ch2, sizeof(ch2)) == 0);
		CHECK_EQ(pkt.flags, 0);
		free(f);
	}
	/* 60-byte minimum Ethernet frame around a 40-byte datagram. */
	f = load_frame(DIR "ja4/pcap/latest.pcapng", 13, &len, &lt);
	if (f) {
		CHECK_EQ(len, 60);
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 0);
		CHECK(pkt.flags & CW_PKT_F_L2_PAD);
		free(f);
	}
	/* Ethernet IPv6 with TCP options. */
	f = load_frame(DIR "ja4/pcap/v6.pcap", 19, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.ipver, 6);
		CHECK_EQ(pkt.ttl, 61);
		CHECK_EQ(pkt.sport, 22);
		CHECK_EQ(pkt.dport, 1022);
		CHECK_EQ(pkt.seq, 209323492u);
		CHECK_EQ(pkt.payload_len, 15);
		CHECK(pkt.payload_len == 15 && memcmp(pkt.payload, "SSH-1.5-1.2.26\n", 15) == 0);
		free(f);
	}
	/* Linux cooked v1. */
	f = load_frame(DIR "zeek/traces/irc-starttls.pcap", 4, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK(memcmp(pkt.saddr, irc_src, 16) == 0);
		CHECK_EQ(pkt.sport, 55123);
		CHECK_EQ(pkt.dport, 6667);
		CHECK_EQ(pkt.ttl, 64);
		CHECK_EQ(pkt.payload_len, 10);
		CHECK(pkt.payload_len == 10 && memcmp(pkt.payload, "STARTTLS\r\n", 10) == 0);
		free(f);
	}
	/* Linux cooked v2. */
	f = load_frame(DIR "zeek/traces/openjdk-25.0.2-zeek.org.pcap", 6, &len, &lt);
	if (f) {
		static const uint8_t sh[] = {0x16, 0x03, 0x03, 0x00, 0x7a};

		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.sport, 443);
		CHECK_EQ(pkt.dport, 55058);
		CHECK_EQ(pkt.ttl, 59);
		CHECK_EQ(pkt.payload_len, 2920);
		CHECK(memcmp(pkt.payload, sh, sizeof(sh)) == 0);
		free(f);
	}
	/* LINKTYPE_IPV4. */
	f = load_frame(DIR "zeek/traces/ocsp-empty-responderid.pcap", 4, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.sport, 44444);
		CHECK_EQ(pkt.dport, 80);
		CHECK_EQ(pkt.seq, 1001);
		CHECK_EQ(pkt.ack, 5001);
		CHECK_EQ(pkt.payload_len, 44);
		CHECK(memcmp(pkt.payload, "GET /ocsp HTTP/1.1\r\n", 20) == 0);
		free(f);
	}
	/* IPv6 hop-by-hop header in front of ICMPv6: the chain is walked. */
	f = load_frame(DIR "suricata-verify/tests/tls/tls-subjectaltname/input.pcap", 90, &len,
		       &lt);
	if (f) {
		CHECK_RES(cw_decode(lt, f, len, &pkt), CW_DEC_NOT_TCP);
		CHECK(pkt.flags & CW_PKT_F_IP6_EXT);
		free(f);
	}
}

/*
 * Every strict prefix of a valid frame: never TCP, always a truncation code
 * at the layer where the cut falls (the IP length covers the whole frame).
 */
static void
test_truncation(void)
{
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len, cut;
	uint8_t *f;

	f = load_frame(DIR "ja4/pcap/latest.pcapng", 10, &len, &lt);
	if (f) {
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
		for (cut = 0; cut < len; cut++)
			CHECK_RES(dec_exact(lt, f, cut, &pkt),
				  cut < 14 ? CW_DEC_TRUNC_L2 : CW_DEC_TRUNC_L3);
		free(f);
	}
	f = load_frame(DIR "ja4/pcap/v6.pcap", 19, &len, &lt);
	if (f) {
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
		for (cut = 0; cut < len; cut++)
			CHECK_RES(dec_exact(lt, f, cut, &pkt),
				  cut < 14 ? CW_DEC_TRUNC_L2 : CW_DEC_TRUNC_L3);
		free(f);
	}
	f = load_frame(DIR "ja4/pcap/ipv6.pcapng", 1, &len, &lt);
	if (f) {
		for (cut = 0; cut < len; cut++)
			CHECK_RES(dec_exact(lt, f, cut, &pkt),
				  cut < 4 ? CW_DEC_TRUNC_L2 : CW_DEC_TRUNC_L3);
		free(f);
	}
	f = load_frame(DIR "zeek/traces/openjdk-25.0.2-zeek.org.pcap", 1, &len, &lt);
	if (f) {
		for (cut = 0; cut < len; cut++)
			CHECK_RES(dec_exact(lt, f, cut, &pkt),
				  cut < 20 ? CW_DEC_TRUNC_L2 : CW_DEC_TRUNC_L3);
		free(f);
	}
	f = load_frame(DIR "zeek/traces/irc-starttls.pcap", 1, &len, &lt);
	if (f) {
		for (cut = 0; cut < len; cut++)
			CHECK_RES(dec_exact(lt, f, cut, &pkt),
				  cut < 16 ? CW_DEC_TRUNC_L2 : CW_DEC_TRUNC_L3);
		free(f);
	}
}

/*
 * TCP cut inside a well-formed datagram: shrink the IPv4 total length so
 * the TCP header ends at every byte before its data offset says it does.
 */
static void
test_trunc_l4(void)
{
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len, k, thl;
	uint8_t *f;

	/* The SYN carries 12 bytes of options: the cut falls in fixed header and options. */
	f = load_frame(DIR "ja4/pcap/latest.pcapng", 7, &len, &lt);
	if (f == NULL)
		return;
	CHECK_EQ(f[12], 0x08);
	CHECK_EQ(f[14], 0x45);
	CHECK_EQ(f[23], 6);
	thl = (uint32_t)(f[14 + 20 + 12] >> 4) * 4;
	CHECK(thl > 20);
	for (k = 0; k < thl; k++) {
		uint16_t tot = (uint16_t)(20 + k);

		f[16] = (uint8_t)(tot >> 8);
		f[17] = (uint8_t)tot;
		CHECK_RES(dec_exact(lt, f, 14 + 20 + k, &pkt), CW_DEC_TRUNC_L4);
		/* With the original frame length the tail is L2 padding: still cut at L4. */
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TRUNC_L4);
	}
	f[16] = (uint8_t)((20 + thl) >> 8);
	f[17] = (uint8_t)(20 + thl);
	CHECK_RES(dec_exact(lt, f, 14 + 20 + thl, &pkt), CW_DEC_TCP);
	free(f);
}

/* Build an Ethernet frame from a real one with n bytes inserted at offset at. */
static uint8_t *
splice(const uint8_t *f, uint32_t len, uint32_t at, const uint8_t *ins, uint32_t n)
{
	uint8_t *o = malloc(len + n);

	if (o == NULL)
		exit(2);
	memcpy(o, f, at);
	memcpy(o + at, ins, n);
	memcpy(o + at + n, f + at, len - at);
	return o;
}

static void
test_ipv4_malformed(void)
{
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len;
	uint8_t *f, *g;

	f = load_frame(DIR "ja4/pcap/latest.pcapng", 10, &len, &lt);
	if (f == NULL)
		return;
	g = malloc(len);
	if (g == NULL)
		exit(2);

	/* IHL below 5. */
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		memcpy(g, f, len);
		g[14] = (uint8_t)(0x40 | ihl);
		CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_BAD_L3);
	}
	/* Wrong version behind an IPv4 EtherType. */
	memcpy(g, f, len);
	g[14] = 0x65;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_BAD_L3);
	/* Total length shorter than the header. */
	memcpy(g, f, len);
	g[16] = 0;
	g[17] = 19;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_BAD_L3);
	/* Total length longer than the frame. */
	memcpy(g, f, len);
	g[16] = 0xff;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_TRUNC_L3);
	/* IHL promises options the frame does not have. */
	CHECK_RES(dec_exact(lt, f, 14 + 20, &pkt), CW_DEC_TRUNC_L3);

	/*
	 * Fragments: MF, non-zero offset, both; DF alone is a whole datagram. A
	 * first fragment (MF, offset 0) names its TCP flow, without payload.
	 */
	memcpy(g, f, len);
	g[20] = 0x20;
	g[21] = 0x00;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_FRAGMENT);
	CHECK(pkt.flags & CW_PKT_F_FRAG_TCP);
	CHECK(pkt.sport == (g[34] << 8 | g[35]) && pkt.dport == (g[36] << 8 | g[37]));
	CHECK_EQ(pkt.payload_len, 0);
	g[20] = 0x00;
	g[21] = 0x01;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_FRAGMENT);
	CHECK(!(pkt.flags & CW_PKT_F_FRAG_TCP));
	g[20] = 0x3f;
	g[21] = 0xff;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_FRAGMENT);
	CHECK(!(pkt.flags & CW_PKT_F_FRAG_TCP));
	/* A first fragment too short for the TCP header names nothing. */
	g[20] = 0x20;
	g[21] = 0x00;
	g[16] = 0;
	g[17] = 20 + 8;
	CHECK_RES(dec_exact(lt, g, 14 + 20 + 8, &pkt), CW_DEC_FRAGMENT);
	CHECK(!(pkt.flags & CW_PKT_F_FRAG_TCP));
	memcpy(g, f, len);
	g[20] = 0x40;
	g[21] = 0x00;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_TCP);

	/* Not TCP. */
	memcpy(g, f, len);
	g[23] = 17;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_NOT_TCP);

	/* TCP data offset below 5, and beyond the segment. */
	for (uint8_t doff = 0; doff < 5; doff++) {
		memcpy(g, f, len);
		g[14 + 20 + 12] = (uint8_t)(doff << 4);
		CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_BAD_L4);
	}
	/* Data offset 15 (60 bytes) into a 20-byte segment: header runs past the IP payload. */
	memcpy(g, f, len);
	g[14 + 20 + 12] = 0xf0;
	g[16] = 0;
	g[17] = 40;
	CHECK_RES(dec_exact(lt, g, 14 + 40, &pkt), CW_DEC_TRUNC_L4);

	/* Urgent pointer in use. */
	memcpy(g, f, len);
	g[14 + 20 + 13] |= CW_TCP_URG;
	g[14 + 20 + 18] = 0x01;
	g[14 + 20 + 19] = 0x02;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_URG);
	CHECK_EQ(pkt.urg_ptr, 0x0102);

	/* IPv4 options: NOP NOP NOP EOL is valid, record-route running past IHL is not. */
	{
		static const uint8_t nops[4] = {1, 1, 1, 0};
		static const uint8_t rr[4] = {7, 9, 4, 0};
		static const uint8_t zero_len[4] = {1, 0x44, 0, 0};
		uint8_t *h = splice(f, len, 34, nops, 4);

		h[14] = 0x46;
		h[17] = (uint8_t)(h[17] + 4);
		if (h[17] < 4)
			h[16]++;
		CHECK_RES(dec_exact(lt, h, len + 4, &pkt), CW_DEC_TCP);
		CHECK(pkt.flags & CW_PKT_F_IP_OPTIONS);
		CHECK_EQ(pkt.payload_len, 517);
		memcpy(h + 34, rr, 4);
		CHECK_RES(dec_exact(lt, h, len + 4, &pkt), CW_DEC_BAD_L3);
		memcpy(h + 34, zero_len, 4);
		CHECK_RES(dec_exact(lt, h, len + 4, &pkt), CW_DEC_BAD_L3);
		free(h);
	}
	free(g);
	free(f);
}

static void
test_tcp_options(void)
{
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len, o;
	uint8_t *f;

	/* NULL + IPv6 SYN: options start at 4 + 40 + 20 with MSS (kind 2, len 4). */
	f = load_frame(DIR "ja4/pcap/ipv6.pcapng", 1, &len, &lt);
	if (f == NULL)
		return;
	o = 4 + 40 + 20;
	CHECK_EQ(f[o], 2);
	CHECK_EQ(f[o + 1], 4);
	/*
	 * A malformed option keeps the segment (receivers ignore the options
	 * from there on) and flags it; payload and header fields are as decoded.
	 */
	f[o + 1] = 0;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_TCP_OPTS);
	CHECK_EQ(pkt.payload_len, 0);
	CHECK_EQ(pkt.tcp_flags, CW_TCP_SYN);
	f[o + 1] = 1;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_TCP_OPTS);
	f[o + 1] = 25; /* one past the 24 option bytes */
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_TCP_OPTS);
	f[o + 1] = 24; /* exactly the option area */
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(!(pkt.flags & CW_PKT_F_TCP_OPTS));
	/* A TCP-MD5 (19) or TCP-AO (29) option in place of the MSS is flagged; the MSS is not. */
	f[o + 1] = 4;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(!(pkt.flags & CW_PKT_F_TCP_SIG));
	f[o] = 19;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_TCP_SIG);
	f[o] = 29;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_TCP_SIG);
	f[o] = 2;
	/*
	 * The option area ends ... 04 02 (SACK permitted) 00 (EOL) 00 (pad).
	 * A kind in the padding after EOL is not looked at; the same kind as
	 * the last byte of a live list has no room for its length.
	 */
	f[o + 1] = 4;
	CHECK_EQ(f[len - 2], 0);
	f[len - 1] = 8;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(!(pkt.flags & CW_PKT_F_TCP_OPTS));
	f[len - 2] = 1;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_TCP_OPTS);
	/* EOL first: the rest is padding and not inspected. */
	f[o] = 0;
	CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
	CHECK(!(pkt.flags & CW_PKT_F_TCP_OPTS));
	free(f);
}

/* Real Ethernet frame with VLAN tags inserted after the MAC addresses. */
static void
test_vlan(void)
{
	static const uint8_t one[4] = {0x81, 0x00, 0x20, 0x64};	 /* PCP 1, VID 100 */
	static const uint8_t qinq[8] = {0x88, 0xa8, 0x00, 0xc8,	 /* VID 200 */
					0x81, 0x00, 0x01, 0x2c}; /* VID 300 */
	static const uint8_t old[8] = {0x91, 0x00, 0x0f, 0xff, 0x81, 0x00, 0x00, 0x01};
	static const uint8_t three[12] = {0x88, 0xa8, 0x00, 0x01, 0x81, 0x00,
					  0x00, 0x02, 0x81, 0x00, 0x00, 0x03};
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len, cut;
	uint8_t *f, *g;

	f = load_frame(DIR "ja4/pcap/latest.pcapng", 10, &len, &lt);
	if (f == NULL)
		return;

	g = splice(f, len, 12, one, 4);
	CHECK_RES(dec_exact(lt, g, len + 4, &pkt), CW_DEC_TCP);
	CHECK_EQ(pkt.vlan_depth, 1);
	CHECK_EQ(pkt.vlan[0], 100);
	CHECK_EQ(pkt.payload_len, 517);
	CHECK_EQ(pkt.sport, 52936);
	free(g);

	g = splice(f, len, 12, qinq, 8);
	CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_TCP);
	CHECK_EQ(pkt.vlan_depth, 2);
	CHECK_EQ(pkt.vlan[0], 200);
	CHECK_EQ(pkt.vlan[1], 300);
	CHECK_EQ(pkt.payload_len, 517);
	/* Cut inside the tags or the inner EtherType. */
	for (cut = 12; cut < 14 + 8; cut++)
		CHECK_RES(dec_exact(lt, g, cut, &pkt), CW_DEC_TRUNC_L2);
	free(g);

	g = splice(f, len, 12, old, 8);
	CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_TCP);
	CHECK_EQ(pkt.vlan_depth, 2);
	CHECK_EQ(pkt.vlan[0], 0xfff);
	CHECK_EQ(pkt.vlan[1], 1);
	free(g);

	g = splice(f, len, 12, three, 12);
	CHECK_RES(dec_exact(lt, g, len + 12, &pkt), CW_DEC_VLAN_DEPTH);
	free(g);

	/* Not IP at all (ARP EtherType). */
	g = malloc(len);
	if (g == NULL)
		exit(2);
	memcpy(g, f, len);
	g[12] = 0x08;
	g[13] = 0x06;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_NOT_IP);
	/* IPv6 EtherType over an IPv4 header. */
	g[13] = 0xdd;
	g[12] = 0x86;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_BAD_L3);
	free(g);
	free(f);
}

/* Fill one 8-byte destination options header: next, len 0, PadN of 4. */
static void
dstopt(uint8_t *p, uint8_t next)
{
	p[0] = next;
	p[1] = 0;
	p[2] = 1;
	p[3] = 4;
	p[4] = p[5] = p[6] = p[7] = 0;
}

/*
 * IPv6 extension chains spliced into a real Ethernet IPv6 TCP frame: the
 * chain goes between the 40-byte header and TCP, payload length grows,
 * and the header's next-header points at the first inserted header.
 */
static uint8_t *
with_ext(const uint8_t *f, uint32_t len, uint8_t first, const uint8_t *ext, uint32_t n)
{
	uint8_t *g = splice(f, len, 14 + 40, ext, n);
	uint32_t plen = ((uint32_t)g[18] << 8 | g[19]) + n;

	g[18] = (uint8_t)(plen >> 8);
	g[19] = (uint8_t)plen;
	g[20] = first;
	return g;
}

static void
test_ipv6_ext(void)
{
	uint8_t ext[8 * (CW_DEC_MAX_EXT + 1)];
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len, i;
	uint8_t *f, *g;

	f = load_frame(DIR "ja4/pcap/v6.pcap", 19, &len, &lt);
	if (f == NULL)
		return;
	CHECK_EQ(f[20], 6);

	/* Fragment header: offset 0 M=1 / offset 5 M=0 are fragments, offset 0 M=0 is atomic. */
	{
		uint8_t frag[8] = {6, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef};

		g = with_ext(f, len, 44, frag, 8);
		CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_FRAGMENT);
		CHECK(pkt.flags & CW_PKT_F_FRAG_TCP); /* the first fragment names its flow */
		CHECK_EQ(pkt.sport, 22);
		CHECK_EQ(pkt.payload_len, 0);
		g[14 + 40 + 2] = 0x00;
		g[14 + 40 + 3] = 0x28; /* offset 5, M = 0 */
		CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_FRAGMENT);
		CHECK(!(pkt.flags & CW_PKT_F_FRAG_TCP));
		g[14 + 40 + 3] = 0x06; /* reserved bits only */
		CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_TCP);
		g[14 + 40 + 3] = 0x00;
		CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_TCP);
		CHECK(pkt.flags & CW_PKT_F_IP6_EXT);
		CHECK_EQ(pkt.payload_len, 15);
		CHECK_EQ(pkt.sport, 22);
		/* Fragment header cut short by the payload length. */
		for (i = 1; i < 8; i++) {
			uint8_t *h = with_ext(f, len, 44, frag, i);

			h[14 + 40 + 3] = 0;
			/* Cut the frame right after the partial header: only i bytes of chain. */
			h[18] = 0;
			h[19] = (uint8_t)i;
			CHECK_RES(dec_exact(lt, h, 14 + 40 + i, &pkt), CW_DEC_BAD_L3);
			free(h);
		}
		free(g);
	}

	/* CW_DEC_MAX_EXT destination options headers are followed; one more is not. */
	for (i = 0; i < CW_DEC_MAX_EXT; i++)
		dstopt(ext + 8 * i, i + 1 < CW_DEC_MAX_EXT ? 60 : 6);
	g = with_ext(f, len, 60, ext, 8 * CW_DEC_MAX_EXT);
	CHECK_RES(dec_exact(lt, g, len + 8 * CW_DEC_MAX_EXT, &pkt), CW_DEC_TCP);
	CHECK(pkt.flags & CW_PKT_F_IP6_EXT);
	CHECK_EQ(pkt.payload_len, 15);
	free(g);
	for (i = 0; i < CW_DEC_MAX_EXT + 1; i++)
		dstopt(ext + 8 * i, i < CW_DEC_MAX_EXT ? 60 : 6);
	g = with_ext(f, len, 60, ext, 8 * (CW_DEC_MAX_EXT + 1));
	CHECK_RES(dec_exact(lt, g, len + 8 * (CW_DEC_MAX_EXT + 1), &pkt), CW_DEC_EXT_DEPTH);
	free(g);

	/* Hop-by-hop, routing, AH (len 1 -> 12 bytes), then TCP. */
	{
		uint8_t chain[8 + 8 + 12];

		dstopt(chain, 43);
		dstopt(chain + 8, 51);
		chain[8 + 2] = 0; /* routing type 0, segments left 0 */
		chain[8 + 3] = 0;
		memset(chain + 16, 0, 12);
		chain[16] = 6;
		chain[17] = 1;
		g = with_ext(f, len, 0, chain, sizeof(chain));
		CHECK_RES(dec_exact(lt, g, len + sizeof(chain), &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 15);
		/* AH length (255 + 2) * 4 runs past the payload. */
		g[14 + 40 + 17] = 255;
		CHECK_RES(dec_exact(lt, g, len + sizeof(chain), &pkt), CW_DEC_BAD_L3);
		/* Hop-by-hop anywhere but first. */
		g[14 + 40 + 17] = 1;
		g[14 + 40] = 0; /* hop-by-hop's next -> hop-by-hop again */
		CHECK_RES(dec_exact(lt, g, len + sizeof(chain), &pkt), CW_DEC_BAD_L3);
		free(g);
	}

	/* An extension header longer than the payload. */
	dstopt(ext, 6);
	ext[1] = 200;
	g = with_ext(f, len, 60, ext, 8);
	CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_BAD_L3);
	free(g);

	/* ESP and no-next-header end the walk. */
	dstopt(ext, 50);
	g = with_ext(f, len, 60, ext, 8);
	CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_NOT_TCP);
	g[14 + 40] = 59;
	CHECK_RES(dec_exact(lt, g, len + 8, &pkt), CW_DEC_NOT_TCP);
	free(g);

	/* Jumbo payload length 0, and payload longer than the frame. */
	g = malloc(len);
	if (g == NULL)
		exit(2);
	memcpy(g, f, len);
	g[18] = g[19] = 0;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_BAD_L3);
	g[18] = 0xff;
	CHECK_RES(dec_exact(lt, g, len, &pkt), CW_DEC_TRUNC_L3);
	free(g);
	free(f);
}

static void
test_link_types(void)
{
	struct cw_pkt pkt;
	enum cw_linktype lt;
	uint32_t len;
	uint8_t *f;

	/* BSD loopback family in either byte order, and unknown families. */
	f = load_frame(DIR "ja4/pcap/ipv6.pcapng", 4, &len, &lt);
	if (f) {
		CHECK_EQ(f[0], 30);
		f[0] = 0;
		f[3] = 30;
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 237);
		f[3] = 24;
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
		f[3] = 28;
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_TCP);
		f[3] = 7;
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_NOT_IP);
		/* Family 2 over an IPv6 header. */
		f[3] = 2;
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_BAD_L3);
		/* The same datagram as raw IP, and as the explicit IPv6 link type. */
		CHECK_RES(dec_exact(CW_LINK_RAW, f + 4, len - 4, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 237);
		CHECK_RES(dec_exact(CW_LINK_IPV6, f + 4, len - 4, &pkt), CW_DEC_TCP);
		CHECK_RES(dec_exact(CW_LINK_IPV4, f + 4, len - 4, &pkt), CW_DEC_BAD_L3);
		CHECK_RES(cw_decode_ip(f + 4, len - 4, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 237);
		/* DLT_RAW values as pcap_datalink() reports them. */
		CHECK_RES(dec_exact((enum cw_linktype)12, f + 4, len - 4, &pkt), CW_DEC_TCP);
		CHECK_RES(dec_exact((enum cw_linktype)14, f + 4, len - 4, &pkt), CW_DEC_TCP);
		CHECK_RES(dec_exact(CW_LINK_RAW, f + 4, 0, &pkt), CW_DEC_TRUNC_L3);
		f[4] = 0x50;
		CHECK_RES(dec_exact(CW_LINK_RAW, f + 4, len - 4, &pkt), CW_DEC_BAD_L3);
		CHECK_RES(dec_exact((enum cw_linktype)147, f, len, &pkt), CW_DEC_NOT_IP);
		free(f);
	}
	/* cw_decode_eth matches cw_decode(ETHERNET). */
	f = load_frame(DIR "ja4/pcap/latest.pcapng", 10, &len, &lt);
	if (f) {
		CHECK_RES(cw_decode_eth(f, len, &pkt), CW_DEC_TCP);
		CHECK_EQ(pkt.payload_len, 517);
		free(f);
	}
	/* Linux cooked v1 with a non-IP protocol. */
	f = load_frame(DIR "zeek/traces/irc-starttls.pcap", 1, &len, &lt);
	if (f) {
		CHECK_EQ(f[14], 0x08);
		f[15] = 0x06;
		CHECK_RES(dec_exact(lt, f, len, &pkt), CW_DEC_NOT_IP);
		free(f);
	}
}

static void
test_names(void)
{
	int i, j;

	for (i = 0; i < CW_DEC__MAX; i++) {
		CHECK(cw_dec_res_name(i) != NULL);
		CHECK(strcmp(cw_dec_res_name(i), "unknown") != 0);
		for (j = 0; j < i; j++)
			CHECK(strcmp(cw_dec_res_name(i), cw_dec_res_name(j)) != 0);
	}
	CHECK(strcmp(cw_dec_res_name(CW_DEC_FRAGMENT), "fragment") == 0);
	CHECK(strcmp(cw_dec_res_name(CW_DEC_TRUNC_L3), "trunc_l3") == 0);
	CHECK(strcmp(cw_dec_res_name(-1), "unknown") == 0);
	CHECK(strcmp(cw_dec_res_name(CW_DEC__MAX), "unknown") == 0);
}

/*
 * cw_decode() takes a fast path for Ethernet/IPv4/TCP without IP options and Ethernet/IPv6/TCP
 * without extension headers; cw_decode_eth() is the general path. Both must give the same result and the same cw_pkt for every frame: each
 * Ethernet frame of the test captures, each of its truncations, and mutations of its headers.
 */
static unsigned int diff_frames;

static void
diff_one(const uint8_t *f, uint32_t len)
{
	struct cw_pkt a, b;
	int ra = cw_decode(CW_LINK_ETHERNET, f, len, &a);
	int rb = cw_decode_eth(f, len, &b);

	diff_frames++;
	CHECK_EQ(ra, rb);
	if (ra == CW_DEC_TCP && rb == CW_DEC_TCP)
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
}

static void
test_fast_path(void)
{
	/* EtherType; IPv4 version, length, flags, protocol, TCP offset; IPv6 version, length, next
	 * header, TCP offset. */
	static const uint8_t hot4[] = {12, 13, 14, 16, 17, 20, 21, 23, 46, 47};
	static const uint8_t hot6[] = {12, 13, 14, 18, 19, 20, 66, 67};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int ci, tcp4 = 0, tcp6 = 0;

	for (ci = 0; ci < sizeof(captures) / sizeof(captures[0]); ci++) {
		struct pcap_pkthdr *h;
		const u_char *data;
		enum cw_linktype lt;
		pcap_t *p = open_capture(captures[ci].path, &lt);

		if (p == NULL)
			continue;
		while (lt == CW_LINK_ETHERNET && pcap_next_ex(p, &h, &data) == 1) {
			uint8_t m[2048];
			uint32_t len = h->caplen < sizeof(m) ? h->caplen : sizeof(m), cut, k;

			memcpy(m, data, len);
			diff_one(m, len);
			if (len >= 54 && m[12] == 0x08 && m[13] == 0x00 && m[14] == 0x45)
				tcp4++;
			if (len >= 74 && m[12] == 0x86 && m[13] == 0xdd && m[20] == 6)
				tcp6++;
			for (cut = 0; cut < len && cut < 128; cut++)
				diff_one(m, cut);
			/* The header bytes the fast path tests, and random ones in the first 80. */
			for (k = 0; k < 80; k++) {
				const uint8_t *hot = m[12] == 0x86 ? hot6 : hot4;
				uint32_t nhot = m[12] == 0x86 ? sizeof(hot6) : sizeof(hot4);
				uint8_t save;
				uint32_t at;

				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				at = k < nhot ? hot[k] : (uint32_t)(x % 80);
				if (at >= len)
					continue;
				save = m[at];
				m[at] = (uint8_t)(k < nhot ? save ^ (1u << (x % 8)) : x >> 8);
				diff_one(m, len);
				m[at] = save;
			}
		}
		pcap_close(p);
	}
	fprintf(stderr, "  fast path: %u frames compared (%u Ethernet/IPv4/TCP and %u IPv6/TCP originals)\n",
		diff_frames, tcp4, tcp6);
	CHECK(tcp4 > 1000);
	CHECK(tcp6 > 50);
}

/* cw_addr_cmp is memcmp order (the canonical flow side depends on it), and the key is symmetric. */
static int
sign(int v)
{
	return (v > 0) - (v < 0);
}

static void
test_addr_order(void)
{
	uint64_t x = 88172645463325252ull;
	uint8_t a[16], b[16];
	int i, k;

	for (i = 0; i < 200000; i++) {
		for (k = 0; k < 16; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			a[k] = (uint8_t)x;
			/* Often equal prefixes, so the second word and the tie are exercised too. */
			b[k] = (i & 3) == 0 || k < (int)(x >> 60) ? a[k] : (uint8_t)(x >> 8);
		}
		if ((i & 7) == 1)
			b[(x >> 32) & 15] ^= (uint8_t)(0x80 >> ((x >> 40) & 7));
		CHECK_EQ(sign(cw_addr_cmp(a, b)), sign(memcmp(a, b, 16)));
		CHECK_EQ(sign(cw_addr_cmp(b, a)), sign(memcmp(b, a, 16)));
	}
	/* Byte order matters: 0x01 00.. sorts after 0x00 ff.. */
	memset(a, 0, 16);
	memset(b, 0xff, 16);
	a[0] = 1;
	b[0] = 0;
	CHECK(cw_addr_cmp(a, b) > 0 && cw_addr_cmp(b, a) < 0);
	memcpy(b, a, 16);
	CHECK(cw_addr_cmp(a, b) == 0);
	{
		struct cw_pkt p, q;
		struct cw_flow_key kp, kq;

		memset(&p, 0, sizeof(p));
		p.ipver = 4;
		memcpy(p.saddr, "\xc6\x12\x00\x02", 4);
		memcpy(p.daddr, "\xc6\x12\x00\x01", 4);
		p.sport = 443;
		p.dport = 50000;
		q = p;
		memcpy(q.saddr, p.daddr, 16);
		memcpy(q.daddr, p.saddr, 16);
		q.sport = p.dport;
		q.dport = p.sport;
		CHECK(cw_pkt_side(&p) == 1 && cw_pkt_side(&q) == 0);
		cw_flow_key_make(&kp, &p);
		cw_flow_key_make(&kq, &q);
		CHECK(memcmp(&kp, &kq, sizeof(kp)) == 0);
		/* Same address both ways: the sender with the lower port is side 0. */
		memcpy(p.daddr, p.saddr, 16);
		CHECK(cw_pkt_side(&p) == 0);
		p.sport = 50000;
		p.dport = 443;
		CHECK(cw_pkt_side(&p) == 1);
	}
}

int
main(void)
{
	test_addr_order();
	test_fast_path();
	test_captures();
	test_known_packets();
	test_truncation();
	test_trunc_l4();
	test_ipv4_malformed();
	test_tcp_options();
	test_checksums();
	test_vlan();
	test_ipv6_ext();
	test_link_types();
	test_names();
	printf("test_decode: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
