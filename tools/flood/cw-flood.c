/* SPDX-License-Identifier: BSD-3-Clause */
/* Write a SYN-flood capture: N distinct bare SYNs with a real capture's connections woven in. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>
#include "../inet_csum.h"

/*
 * Output: classic Ethernet pcap (microseconds). Packet i of the output has the capture time
 * start + i / pps. Every --every SYNs one packet of the real capture follows, in the real
 * capture's order; when its packets run out they start again as a new repetition.
 *
 * Flood SYN j: 198.19.128.0/17 source address (j / 64000), source port 1024 + j % 64000,
 * to 198.18.200.1:443, with a pseudo-random ISN. Every 5-tuple is distinct (up to 2^31 SYNs).
 *
 * Real connections: every IPv4 TCP connection of the real capture (the client is the side
 * that sent the bare SYN, else the higher port). In repetition r, connection c gets the
 * client port 1024 + k % 64000 and the third octet of its client address raised by k / 64000,
 * where k = r * connections + c: each repetition is a set of new 5-tuples. Checksums are
 * recomputed. A summary line (key=value) goes to stderr; --list writes one line per real
 * connection and repetition: "rep conn client_ip client_port orig_client_ip orig_client_port".
 */

#define FL_ETH 14
#define FL_SYN_LEN (FL_ETH + 20 + 20)
#define FL_MAX_CONNS 4096
#define FL_MAX_PKTS 65536

struct fl_conn {
	uint32_t cli_ip, srv_ip; /* host order */
	uint16_t cli_port, srv_port;
};

struct fl_pkt {
	uint8_t *frame; /* Ethernet frame */
	uint32_t len;
	uint32_t l3; /* offset of the IPv4 header */
	uint32_t l4; /* offset of the TCP header */
	uint16_t conn;
	uint8_t from_cli;
};

struct fl_real {
	struct fl_conn conn[FL_MAX_CONNS];
	uint32_t nconn;
	struct fl_pkt *pkt;
	uint32_t npkt;
};

static const char *prog = "cw-flood";

static void
usage(FILE *f)
{
	fputs("Usage: cw-flood -o FILE --flows N [options]\n"
	      "Write an Ethernet pcap of N bare SYNs, each a distinct 5-tuple, with the TCP\n"
	      "connections of a real capture interleaved (new client ports each repetition).\n"
	      "\n"
	      "  -o, --out FILE     output pcap\n"
	      "  -n, --flows N      flood SYNs (distinct flows) to write\n"
	      "  -r, --real FILE    real capture (Ethernet, IPv4): its TCP connections\n"
	      "  -k, --every K      one real packet after every K SYNs (default 50)\n"
	      "  -p, --pps R        packets per second of capture time (default 1000000)\n"
	      "  -l, --list FILE    write the rewritten real connections, one per line\n"
	      "  -h, --help         this text\n"
	      "Summary on stderr: syns= real_packets= repetitions= connections= packets= bytes=\n",
	      f);
}

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* IPv4 header checksum and TCP checksum (pseudo-header) of a frame, recomputed in place. */
static void
fix_checksums(uint8_t *f, uint32_t l3, uint32_t l4, uint32_t end)
{
	uint8_t *ip = f + l3, *tcp = f + l4;
	uint32_t tcplen = end - l4, sum;

	wr16(ip + 10, 0);
	wr16(ip + 10, csum_fold(csum_add(0, ip, l4 - l3)));
	wr16(tcp + 16, 0);
	sum = csum_add(0, ip + 12, 8);
	sum += 6 + tcplen;
	sum = csum_add(sum, tcp, tcplen);
	wr16(tcp + 16, csum_fold(sum));
}

static uint32_t
mix32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

static int
conn_find(struct fl_real *rl, uint32_t a, uint16_t ap, uint32_t b, uint16_t bp, int *from_cli)
{
	uint32_t i;

	for (i = 0; i < rl->nconn; i++) {
		struct fl_conn *c = &rl->conn[i];

		if (c->cli_ip == a && c->cli_port == ap && c->srv_ip == b && c->srv_port == bp) {
			*from_cli = 1;
			return (int)i;
		}
		if (c->cli_ip == b && c->cli_port == bp && c->srv_ip == a && c->srv_port == ap) {
			*from_cli = 0;
			return (int)i;
		}
	}
	return -1;
}

/*
 * Every Ethernet/IPv4/TCP frame of a capture, with its connection. Accepts only whole frames
 * (caplen == len) of DLT_EN10MB with at most one VLAN tag; other frames are skipped.
 * Returns 0, or -1 with a message.
 */
static int
real_load(const char *path, struct fl_real *rl)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p;
	int rc;

	p = pcap_open_offline(path, err);
	if (p == NULL) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -1;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "%s: %s: only Ethernet captures are supported\n", prog, path);
		pcap_close(p);
		return -1;
	}
	rl->pkt = calloc(FL_MAX_PKTS, sizeof(*rl->pkt));
	if (rl->pkt == NULL) {
		pcap_close(p);
		return -1;
	}
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		uint32_t l3 = FL_ETH, l4, iplen, src, dst;
		uint16_t etype, sport, dport;
		uint8_t flags;
		int conn, from_cli;
		struct fl_pkt *fp;

		if (h->caplen != h->len || h->caplen < FL_ETH + 20)
			continue;
		etype = rd16(d + 12);
		if (etype == 0x8100) {
			etype = rd16(d + 16);
			l3 += 4;
		}
		if (etype != 0x0800 || h->caplen < l3 + 20 || (d[l3] >> 4) != 4 || d[l3 + 9] != 6)
			continue;
		if ((rd16(d + l3 + 6) & 0x3fff) != 0) /* fragment */
			continue;
		iplen = rd16(d + l3 + 2);
		l4 = l3 + (uint32_t)(d[l3] & 0x0f) * 4;
		if (l3 + iplen > h->caplen || l4 + 20 > l3 + iplen)
			continue;
		src = rd32(d + l3 + 12);
		dst = rd32(d + l3 + 16);
		sport = rd16(d + l4);
		dport = rd16(d + l4 + 2);
		flags = d[l4 + 13];
		conn = conn_find(rl, src, sport, dst, dport, &from_cli);
		if (conn < 0) {
			struct fl_conn *c;
			int cli_is_src = (flags & 0x12) == 0x02	  ? 1
					 : (flags & 0x12) == 0x12 ? 0
								  : sport > dport;

			if (rl->nconn == FL_MAX_CONNS || rl->npkt == FL_MAX_PKTS) {
				fprintf(stderr, "%s: %s: too many connections or packets\n", prog,
					path);
				pcap_close(p);
				return -1;
			}
			c = &rl->conn[rl->nconn];
			c->cli_ip = cli_is_src ? src : dst;
			c->cli_port = cli_is_src ? sport : dport;
			c->srv_ip = cli_is_src ? dst : src;
			c->srv_port = cli_is_src ? dport : sport;
			conn = (int)rl->nconn++;
			from_cli = cli_is_src;
		}
		if (rl->npkt == FL_MAX_PKTS) {
			fprintf(stderr, "%s: %s: too many packets\n", prog, path);
			pcap_close(p);
			return -1;
		}
		fp = &rl->pkt[rl->npkt++];
		fp->len = l3 + iplen; /* Ethernet padding dropped */
		fp->frame = malloc(fp->len);
		if (fp->frame == NULL) {
			pcap_close(p);
			return -1;
		}
		memcpy(fp->frame, d, fp->len);
		fp->l3 = l3;
		fp->l4 = l4;
		fp->conn = (uint16_t)conn;
		fp->from_cli = (uint8_t)from_cli;
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	pcap_close(p);
	if (rl->npkt == 0) {
		fprintf(stderr, "%s: %s: no IPv4 TCP packets\n", prog, path);
		return -1;
	}
	return 0;
}

static int
rec_write(FILE *out, uint64_t ts_us, const uint8_t *frame, uint32_t len)
{
	uint8_t h[16];
	uint32_t sec = (uint32_t)(ts_us / 1000000), usec = (uint32_t)(ts_us % 1000000);

	/* Host byte order, like the magic number in the file header. */
	memcpy(h, &sec, 4);
	memcpy(h + 4, &usec, 4);
	memcpy(h + 8, &len, 4);
	memcpy(h + 12, &len, 4);
	if (fwrite(h, 1, 16, out) != 16 || fwrite(frame, 1, len, out) != len)
		return -1;
	return 0;
}

/* Client address and port of connection c in repetition r. */
static void
rewrite_client(const struct fl_real *rl, uint32_t r, uint32_t c, uint32_t *ip, uint16_t *port)
{
	uint64_t k = (uint64_t)r * rl->nconn + c;

	*port = (uint16_t)(1024 + k % 64000);
	*ip = rl->conn[c].cli_ip + (uint32_t)((k / 64000) << 8);
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"out", required_argument, NULL, 'o'},	{"flows", required_argument, NULL, 'n'},
		{"real", required_argument, NULL, 'r'}, {"every", required_argument, NULL, 'k'},
		{"pps", required_argument, NULL, 'p'},	{"list", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},	{NULL, 0, NULL, 0},
	};
	const char *out_path = NULL, *real_path = NULL, *list_path = NULL;
	uint64_t nflows = 0, every = 50, pps = 1000000;
	static struct fl_real rl;
	uint8_t syn[FL_SYN_LEN], buf[65536 + 64];
	uint64_t i, ts0_us = 1700000000ull * 1000000, npk = 0, nbytes = 24, nreal = 0;
	uint32_t rep = 0, rpos = 0;
	FILE *out, *list = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "o:n:r:k:p:l:h", lo, NULL)) != -1) {
		char *end;
		unsigned long long v = 0;

		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == '?') {
			usage(stderr);
			return 2;
		}
		if (opt == 'n' || opt == 'k' || opt == 'p') {
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg || optarg[0] == '-') {
				fprintf(stderr, "%s: bad number '%s'\n", prog, optarg);
				return 2;
			}
		}
		switch (opt) {
		case 'o':
			out_path = optarg;
			break;
		case 'n':
			nflows = v;
			break;
		case 'r':
			real_path = optarg;
			break;
		case 'k':
			every = v;
			break;
		case 'p':
			pps = v;
			break;
		case 'l':
			list_path = optarg;
			break;
		}
	}
	if (out_path == NULL || optind != argc || nflows > (1ull << 31) || pps == 0 ||
	    (nflows == 0 && (real_path == NULL || every == 0))) {
		usage(stderr);
		return 2;
	}
	if (real_path != NULL && every > 0 && real_load(real_path, &rl) < 0)
		return 1;

	out = fopen(out_path, "wb");
	if (out == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, out_path, strerror(errno));
		return 1;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	if (list_path != NULL && (list = fopen(list_path, "w")) == NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, list_path, strerror(errno));
		fclose(out);
		return 1;
	}
	{
		uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 /* DLT_EN10MB */};

		if (fwrite(hdr, 1, 24, out) != 24)
			goto err_write;
	}

	/* Template SYN: 02:00:00:00:00:01 -> 02:00:00:00:00:02, TTL 64, MSS option omitted. */
	memset(syn, 0, sizeof(syn));
	memcpy(syn, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", FL_ETH);
	syn[FL_ETH] = 0x45;
	wr16(syn + FL_ETH + 2, 40);
	wr16(syn + FL_ETH + 6, 0x4000);
	syn[FL_ETH + 8] = 64;
	syn[FL_ETH + 9] = 6;
	wr32(syn + FL_ETH + 16, 0xc612c801); /* 198.18.200.1 */
	wr16(syn + FL_ETH + 22, 443);
	syn[FL_ETH + 32] = 0x50;
	syn[FL_ETH + 33] = 0x02;
	wr16(syn + FL_ETH + 34, 64240);

	for (i = 0; i < nflows || (nflows == 0 && rep == 0); i++) {
		if (i < nflows) {
			wr32(syn + FL_ETH + 12,
			     0xc6138000u + (uint32_t)(i / 64000)); /* 198.19.128.0/17 */
			wr16(syn + FL_ETH + 20, (uint16_t)(1024 + i % 64000));
			wr32(syn + FL_ETH + 24, mix32((uint32_t)i));
			wr16(syn + FL_ETH + 4, (uint16_t)i);
			fix_checksums(syn, FL_ETH, FL_ETH + 20, FL_SYN_LEN);
			if (rec_write(out, ts0_us + npk * 1000000 / pps, syn, FL_SYN_LEN) < 0)
				goto err_write;
			npk++;
			nbytes += 16 + FL_SYN_LEN;
		}
		if (rl.npkt > 0 && (nflows == 0 || (i + 1) % every == 0)) {
			const struct fl_pkt *fp = &rl.pkt[rpos];
			uint32_t ip;
			uint16_t port;

			rewrite_client(&rl, rep, fp->conn, &ip, &port);
			memcpy(buf, fp->frame, fp->len);
			wr32(buf + fp->l3 + (fp->from_cli ? 12 : 16), ip);
			wr16(buf + fp->l4 + (fp->from_cli ? 0 : 2), port);
			fix_checksums(buf, fp->l3, fp->l4, fp->len);
			if (rec_write(out, ts0_us + npk * 1000000 / pps, buf, fp->len) < 0)
				goto err_write;
			npk++;
			nreal++;
			nbytes += 16 + fp->len;
			if (++rpos == rl.npkt) {
				rpos = 0;
				rep++;
			}
		}
	}
	if (fclose(out) != 0) {
		out = NULL;
		goto err_write;
	}
	if (list != NULL) {
		uint32_t r, c;

		/* Repetitions whose packets were all written. */
		for (r = 0; r < rep; r++)
			for (c = 0; c < rl.nconn; c++) {
				uint32_t ip, o = rl.conn[c].cli_ip;
				uint16_t port;

				rewrite_client(&rl, r, c, &ip, &port);
				fprintf(list, "%u %u %u.%u.%u.%u %u %u.%u.%u.%u %u\n", r, c,
					ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255, port,
					o >> 24, (o >> 16) & 255, (o >> 8) & 255, o & 255,
					rl.conn[c].cli_port);
			}
		if (fclose(list) != 0) {
			fprintf(stderr, "%s: %s: write error\n", prog, list_path);
			return 1;
		}
	}
	fprintf(stderr,
		"syns=%" PRIu64 " real_packets=%" PRIu64
		" repetitions=%u connections=%u packets=%" PRIu64 " bytes=%" PRIu64 "\n",
		nflows, nreal, rep, rl.nconn, npk, nbytes);
	return 0;

err_write:
	fprintf(stderr, "%s: %s: write error\n", prog, out_path);
	if (out != NULL)
		fclose(out);
	if (list != NULL)
		fclose(list);
	remove(out_path);
	return 1;
}
