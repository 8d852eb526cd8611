/* SPDX-License-Identifier: BSD-3-Clause */
/* cw-txgen: replay a capture out of any DPDK port at a set rate, for lab benchmarks of chainwatch-dp. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#define TX_BURST_MAX 32
#define TX_RXD 512            /* the RX queue exists only because some PMDs need one */
#define TX_RX_MBUFS 2047
#define TX_WIRE_OVERHEAD 24   /* per frame on Ethernet: FCS 4 + preamble 8 + inter-frame gap 12 */
#define TX_BURST_GAP_NS 20000 /* at low rates, bursts shrink so that one is due every ~20 us */
#define TX_STALL_US 100

enum tx_mode { TX_MAX, TX_PPS, TX_GBPS };
enum tx_full { TX_FULL_DEFAULT, TX_FULL_DROP, TX_FULL_RETRY };

struct tx_conf {
	const char *pcap;
	uint16_t port;
	enum tx_mode mode;
	double rate; /* packets/s (TX_PPS) or bit/s on the wire (TX_GBPS) */
	double duration; /* seconds; 0: no limit */
	bool loop;
	uint32_t burst;
	enum tx_full full;
	uint16_t txd;
	double link_wait;
	uint32_t drain_ms;
	bool quiet;
};

/* The capture, one mbuf per frame, filled once. The array holds one reference to each mbuf. */
struct tx_capture {
	struct rte_mbuf **pkts;
	uint64_t *cost; /* token-bucket cost of each frame (see struct tx_bucket) */
	uint32_t n;
	uint32_t maxlen;
	uint64_t bytes;    /* sum of frame lengths */
	uint32_t truncated; /* frames captured shorter than they were on the wire: sent as captured */
	struct rte_mempool *pool;
};

/*
 * Token bucket on the TSC, in integer units of (cost x hz): every cycle adds `rate`, a frame
 * costs cost[i] x hz (1 per frame in pps mode, its wire bits in gbps mode). The depth is two
 * bursts, so a stall of the sender is not made up by a larger burst afterwards: the offered rate
 * falls instead, and the final counters show it.
 */
struct tx_bucket {
	int64_t credit;
	int64_t depth;
	uint64_t rate;
	uint64_t last;
	uint64_t max_delta; /* cycles credited at most per step: keeps credit += delta * rate in range */
};

/*
 * Counters; written by the main lcore only. stalls counts gaps of more than TX_STALL_US between
 * two turns of the send loop (the lcore was descheduled or interrupted), stall_cycles their
 * total length: time in which a paced sender falls behind its rate.
 */
struct tx_stats {
	uint64_t sent, bytes, failed, retried, loops;
	uint64_t stalls, stall_cycles;
};

static volatile bool tx_quit;

static void
on_signal(int sig)
{
	RTE_SET_USED(sig);
	tx_quit = true;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: cw-txgen [EAL args] -- --pcap FILE [options]\n"
		"\n"
		"Loads an Ethernet capture into mbufs once, then transmits it out of a DPDK port at a\n"
		"set rate (token bucket on the TSC) or as fast as the port takes it, on one lcore and one\n"
		"TX queue. The frames are sent as captured: no checksum, address or timing changes.\n"
		"Without \"--\", every argument is an option below and EAL runs with defaults.\n"
		"\n"
		"Input:\n"
		"  --pcap FILE          capture to send (link type Ethernet; pcap or pcapng)\n"
		"  --port N             DPDK port id (default 0)\n"
		"\n"
		"Rate (one of; default --max):\n"
		"  --rate-pps N         N frames per second\n"
		"  --rate-gbps G        G Gbit/s on the wire: frame bytes plus 24 per frame (FCS,\n"
		"                       preamble, inter-frame gap), as a NIC's line rate counts\n"
		"  --max                as fast as the port accepts frames\n"
		"\n"
		"Length:\n"
		"  --duration S         stop after S seconds (decimals allowed; default: no limit)\n"
		"  --loop               send the capture again and again (until --duration or SIGINT);\n"
		"                       without it the capture is sent once\n"
		"\n"
		"Transmit:\n"
		"  --burst N            frames per rte_eth_tx_burst, 1..32 (default 32); with a rate,\n"
		"                       smaller bursts at low rates so that one is due every ~20 us\n"
		"  --tx-full drop|retry when the TX queue is full (the port or the peer is not keeping\n"
		"                       up): drop counts the frames not taken as tx_failed and moves on,\n"
		"                       so the offered rate stays as set; retry offers them again later,\n"
		"                       so the rate falls instead (counted as tx_retried).\n"
		"                       Default: drop with a rate, retry with --max\n"
		"  --txd N              TX descriptors (default 1024)\n"
		"  --link-wait S        wait up to S seconds for link up before sending (default 10)\n"
		"  --drain-ms N         keep the port up N ms after the last frame, so that the peer\n"
		"                       can take what is still queued (default 500)\n"
		"\n"
		"Output:\n"
		"  --quiet              no per-second lines\n"
		"  -h, --help           this text\n"
		"\n"
		"Every second a line \"txgen: t=... sent=... tx_failed=... Mpps=... Gbps=...\" (rates over\n"
		"that second); at the end one JSON object on one line (the last line of stdout): sent,\n"
		"tx_failed, offered (= sent + tx_failed), tx_retried, bytes, loops, duration_s, pps,\n"
		"offered_pps, gbps_wire, gbps_frames, target_pps or target_gbps, stalls and stalled_s\n"
		"(pauses of the send loop over 100 us, e.g. the lcore descheduled: a paced sender does\n"
		"not make up for them, so its rate falls short), port_opackets, port_oerrors. Loss in a benchmark is offered minus what the receiver counted: a frame\n"
		"the TX queue did not take (tx_failed) was offered and never arrived.\n"
		"\n"
		"Memory: one mbuf per frame of the capture, data room the largest frame: about\n"
		"frames x (largest frame + 256) bytes, plus the pool of the unused RX queue.\n"
		"\n"
		"Examples:\n"
		"  # a NIC, back to back with the port chainwatch-dp listens on\n"
		"  cw-txgen -l 2 -a 0000:3b:00.1 -- --pcap realistic.pcap --rate-gbps 10 --loop --duration 10\n"
		"  # a shared-memory wire to chainwatch-dp (started with --vdev net_memif0,role=server,...)\n"
		"  cw-txgen --no-huge -m 1024 --no-pci --file-prefix txgen -l 0 \\\n"
		"      --vdev net_memif0,role=client,socket=/run/cw-memif.sock -- --pcap realistic.pcap --max\n"
		"\n"
		"Exit status: 0 done, 1 setup failed, 2 bad usage. SIGINT/SIGTERM: stop, print, exit 0.\n");
}

static int
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int
parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* Parses the options after "--" (argv[0] is a program name). Returns 0, 1 for --help, or -EINVAL
 * after printing why. */
static int
parse_options(int argc, char **argv, struct tx_conf *c)
{
	enum {
		O_PCAP = 256, O_PORT, O_PPS, O_GBPS, O_MAX, O_DURATION, O_LOOP, O_BURST, O_FULL,
		O_TXD, O_LINK_WAIT, O_DRAIN, O_QUIET,
	};
	static const struct option opts[] = {
		{"pcap", required_argument, NULL, O_PCAP},
		{"port", required_argument, NULL, O_PORT},
		{"rate-pps", required_argument, NULL, O_PPS},
		{"rate-gbps", required_argument, NULL, O_GBPS},
		{"max", no_argument, NULL, O_MAX},
		{"duration", required_argument, NULL, O_DURATION},
		{"loop", no_argument, NULL, O_LOOP},
		{"burst", required_argument, NULL, O_BURST},
		{"tx-full", required_argument, NULL, O_FULL},
		{"txd", required_argument, NULL, O_TXD},
		{"link-wait", required_argument, NULL, O_LINK_WAIT},
		{"drain-ms", required_argument, NULL, O_DRAIN},
		{"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned int rates = 0;
	uint32_t u;
	int o, li = 0;

	optind = 1;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
		switch (o) {
		case O_PCAP:
			c->pcap = optarg;
			break;
		case O_PORT:
			if (parse_u32(optarg, 0, RTE_MAX_ETHPORTS - 1, &u) < 0)
				goto bad_value;
			c->port = (uint16_t)u;
			break;
		case O_PPS:
			if (parse_double(optarg, 1, 1e10, &c->rate) < 0)
				goto bad_value;
			c->mode = TX_PPS;
			rates++;
			break;
		case O_GBPS:
			if (parse_double(optarg, 1e-6, 1000, &c->rate) < 0)
				goto bad_value;
			c->rate *= 1e9;
			c->mode = TX_GBPS;
			rates++;
			break;
		case O_MAX:
			c->mode = TX_MAX;
			rates++;
			break;
		case O_DURATION:
			if (parse_double(optarg, 0.001, 1e7, &c->duration) < 0)
				goto bad_value;
			break;
		case O_LOOP:
			c->loop = true;
			break;
		case O_BURST:
			if (parse_u32(optarg, 1, TX_BURST_MAX, &c->burst) < 0)
				goto bad_value;
			break;
		case O_FULL:
			if (strcmp(optarg, "drop") == 0)
				c->full = TX_FULL_DROP;
			else if (strcmp(optarg, "retry") == 0)
				c->full = TX_FULL_RETRY;
			else
				goto bad_value;
			break;
		case O_TXD:
			if (parse_u32(optarg, 32, 32768, &u) < 0)
				goto bad_value;
			c->txd = (uint16_t)u;
			break;
		case O_LINK_WAIT:
			if (parse_double(optarg, 0, 3600, &c->link_wait) < 0)
				goto bad_value;
			break;
		case O_DRAIN:
			if (parse_u32(optarg, 0, 600000, &c->drain_ms) < 0)
				goto bad_value;
			break;
		case O_QUIET:
			c->quiet = true;
			break;
		case 'h':
			return 1;
		case ':':
			fprintf(stderr, "cw-txgen: %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "cw-txgen: unknown option %s (see --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cw-txgen: unexpected argument %s (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (c->pcap == NULL) {
		fprintf(stderr, "cw-txgen: --pcap FILE is required (see --help)\n");
		return -EINVAL;
	}
	if (rates > 1) {
		fprintf(stderr, "cw-txgen: give one of --rate-pps, --rate-gbps, --max\n");
		return -EINVAL;
	}
	if (c->full == TX_FULL_DEFAULT)
		c->full = c->mode == TX_MAX ? TX_FULL_RETRY : TX_FULL_DROP;
	return 0;

bad_value:
	fprintf(stderr, "cw-txgen: bad value for --%s: \"%s\" (see --help)\n", opts[li].name, optarg);
	return -EINVAL;
}

/* Reads every frame of the capture into its own mbuf (single segment, data room sized to the
 * largest frame). Accepts Ethernet captures only: the frames leave an Ethernet port as they are. */
static int
capture_load(const char *path, int socket, struct tx_capture *cap)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint32_t n = 0, i;
	pcap_t *p;
	int rc;

	memset(cap, 0, sizeof(*cap));
	/* First pass: count and size. */
	p = pcap_open_offline(path, err);
	if (p == NULL) {
		fprintf(stderr, "cw-txgen: %s: %s\n", path, err);
		return -ENOENT;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		fprintf(stderr, "cw-txgen: %s: link type %s, need Ethernet (EN10MB)\n", path,
			pcap_datalink_val_to_name(pcap_datalink(p)));
		pcap_close(p);
		return -EINVAL;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		if (n == UINT32_MAX - 1)
			break;
		n++;
		cap->maxlen = RTE_MAX(cap->maxlen, h->caplen);
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "cw-txgen: %s: %s (sending the %" PRIu32 " frames before it)\n", path,
			pcap_geterr(p), n);
	pcap_close(p);
	if (n == 0) {
		fprintf(stderr, "cw-txgen: %s: no frames\n", path);
		return -EINVAL;
	}
	if (cap->maxlen + RTE_PKTMBUF_HEADROOM > UINT16_MAX) {
		fprintf(stderr, "cw-txgen: %s: a frame of %" PRIu32 " bytes does not fit one mbuf\n",
			path, cap->maxlen);
		return -EINVAL;
	}

	cap->pkts = calloc(n, sizeof(*cap->pkts));
	cap->cost = calloc(n, sizeof(*cap->cost));
	if (cap->pkts == NULL || cap->cost == NULL) {
		rc = -ENOMEM;
		goto err_free_arrays;
	}
	cap->pool = rte_pktmbuf_pool_create("txgen_capture", n, 0, 0,
					    (uint16_t)(cap->maxlen + RTE_PKTMBUF_HEADROOM), socket);
	if (cap->pool == NULL) {
		fprintf(stderr,
			"cw-txgen: mbuf pool for %" PRIu32 " frames of up to %" PRIu32
			" bytes: %s (give EAL more memory: -m)\n",
			n, cap->maxlen, rte_strerror(rte_errno));
		rc = -ENOMEM;
		goto err_free_arrays;
	}
	if (rte_pktmbuf_alloc_bulk(cap->pool, cap->pkts, n) != 0) {
		fprintf(stderr, "cw-txgen: cannot allocate %" PRIu32 " mbufs\n", n);
		rc = -ENOMEM;
		goto err_free_pool;
	}

	/* Second pass: copy. */
	p = pcap_open_offline(path, err);
	if (p == NULL) {
		fprintf(stderr, "cw-txgen: %s: %s\n", path, err);
		rc = -ENOENT;
		goto err_free_mbufs;
	}
	for (i = 0; i < n && pcap_next_ex(p, &h, &data) == 1; i++) {
		struct rte_mbuf *m = cap->pkts[i];
		char *dst = rte_pktmbuf_append(m, (uint16_t)h->caplen);

		/* caplen <= maxlen <= the data room, so append cannot fail. */
		memcpy(dst, data, h->caplen);
		cap->bytes += h->caplen;
		if (h->caplen < h->len)
			cap->truncated++;
	}
	pcap_close(p);
	if (i != n) {
		fprintf(stderr, "cw-txgen: %s changed while being read\n", path);
		rc = -EIO;
		goto err_free_mbufs;
	}
	cap->n = n;
	return 0;

err_free_mbufs:
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(cap->pkts[i]);
err_free_pool:
	rte_mempool_free(cap->pool);
err_free_arrays:
	free(cap->cost);
	free(cap->pkts);
	return rc;
}

static void
capture_free(struct tx_capture *cap)
{
	for (uint32_t i = 0; i < cap->n; i++)
		rte_pktmbuf_free(cap->pkts[i]);
	rte_mempool_free(cap->pool);
	free(cap->cost);
	free(cap->pkts);
}

/* One TX queue and one RX queue (never read but drained: some PMDs need an RX queue, and a
 * memif peer may send). No offloads: the mbufs are shared between bursts (refcount), so
 * MBUF_FAST_FREE, which assumes a refcount of 1, must stay off. */
static int
port_init(const struct tx_conf *c, struct rte_mempool **rx_pool)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t txd = c->txd, rxd = TX_RXD;
	int socket, rc;

	if (!rte_eth_dev_is_valid_port(c->port)) {
		fprintf(stderr, "cw-txgen: no port %u (%u ports; give a device or --vdev to EAL)\n",
			c->port, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(c->port, &info);
	if (rc != 0) {
		fprintf(stderr, "cw-txgen: port %u: info: %s\n", c->port, rte_strerror(-rc));
		return rc;
	}
	socket = rte_eth_dev_socket_id(c->port);
	if (socket < 0)
		socket = (int)rte_socket_id();
	*rx_pool = rte_pktmbuf_pool_create("txgen_rx", TX_RX_MBUFS, 0, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (*rx_pool == NULL) {
		fprintf(stderr, "cw-txgen: RX mbuf pool: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(c->port, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(c->port, &rxd, &txd);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(c->port, 0, rxd, socket, NULL, *rx_pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(c->port, 0, txd, socket, NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(c->port);
	if (rc != 0) {
		fprintf(stderr, "cw-txgen: port %u (%s): setup: %s\n", c->port, info.driver_name,
			rte_strerror(-rc));
		rte_mempool_free(*rx_pool);
		return rc;
	}
	rte_eth_stats_reset(c->port);
	return 0;
}

/*
 * Waits for link up; returns 0, or -ETIMEDOUT. A net_memif client tries to connect to its server
 * once, when the port starts, and never again: for it the port is restarted every 0.5 s until
 * the server answers, so the two processes may start in any order.
 */
static int
link_wait(uint16_t port, double seconds, struct rte_eth_link *link)
{
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t now = rte_get_tsc_cycles(), end = now + (uint64_t)(seconds * hz);
	uint64_t restart = now + hz / 2;
	struct rte_eth_dev_info info;
	bool memif = rte_eth_dev_info_get(port, &info) == 0 &&
		     strcmp(info.driver_name, "net_memif") == 0;

	for (;;) {
		memset(link, 0, sizeof(*link));
		if (rte_eth_link_get_nowait(port, link) == 0 && link->link_status == RTE_ETH_LINK_UP)
			return 0;
		now = rte_get_tsc_cycles();
		if (tx_quit || now >= end)
			return -ETIMEDOUT;
		if (memif && now >= restart) {
			rte_eth_dev_stop(port);
			if (rte_eth_dev_start(port) != 0)
				return -EIO;
			restart = now + hz / 2;
		}
		rte_delay_us_sleep(50000);
	}
}

static void
rx_drain(uint16_t port)
{
	struct rte_mbuf *m[TX_BURST_MAX];
	uint16_t n;

	while ((n = rte_eth_rx_burst(port, 0, m, TX_BURST_MAX)) > 0)
		rte_pktmbuf_free_bulk(m, n);
}

/*
 * Offers up to n frames starting at *idx (wrapping only with --loop). Each frame gets one more
 * reference before the PMD sees it, so the PMD's free after transmit drops that reference and
 * the frame stays loaded: no copy and no allocation per frame. Frames the queue did not take
 * lose their reference again; with drop they are counted as failed and skipped, with retry
 * *idx stays on them. Returns the frames consumed from the capture (sent + dropped).
 */
static uint32_t
tx_offer(const struct tx_conf *c, struct tx_capture *cap, uint32_t *idx, uint32_t n,
	 struct tx_stats *st, uint64_t *cost)
{
	struct rte_mbuf *wrap[TX_BURST_MAX], **v;
	uint32_t i, j, take;
	uint16_t sent;

	if (*idx + n <= cap->n) {
		v = &cap->pkts[*idx];
	} else {
		for (i = 0, j = *idx; i < n; i++) {
			wrap[i] = cap->pkts[j];
			if (++j == cap->n)
				j = 0;
		}
		v = wrap;
	}
	for (i = 0; i < n; i++)
		rte_mbuf_refcnt_update(v[i], 1);
	sent = rte_eth_tx_burst(c->port, 0, v, (uint16_t)n);
	for (i = sent; i < n; i++)
		rte_mbuf_refcnt_update(v[i], -1);

	*cost = 0;
	take = c->full == TX_FULL_DROP ? n : sent;
	for (i = 0, j = *idx; i < take; i++) {
		if (i < sent)
			st->bytes += v[i]->pkt_len;
		*cost += cap->cost[j];
		if (++j == cap->n) {
			j = 0;
			st->loops++;
		}
	}
	*idx = j;
	st->sent += sent;
	if (c->full == TX_FULL_DROP)
		st->failed += n - sent;
	else
		st->retried += n - sent;
	return take;
}

/* Prints s as the body of a JSON string. */
static void
json_str(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
}

static void
print_second(const struct tx_stats *now, const struct tx_stats *prev, double t, double dt)
{
	uint64_t sent = now->sent - prev->sent, bytes = now->bytes - prev->bytes;

	printf("txgen: t=%.0f sent=%" PRIu64 " tx_failed=%" PRIu64 " tx_retried=%" PRIu64
	       " Mpps=%.3f Gbps=%.3f\n",
	       t, now->sent, now->failed, now->retried, sent / dt / 1e6,
	       (bytes + (double)sent * TX_WIRE_OVERHEAD) * 8 / dt / 1e9);
	fflush(stdout);
}

/*
 * The send loop on the main lcore: with a rate, a burst goes out when the bucket holds its cost;
 * with --max, bursts back to back. Ends at the end of the capture (no --loop), at --duration,
 * or on a signal. Returns the seconds spent sending.
 */
static double
tx_run(const struct tx_conf *c, struct tx_capture *cap, struct tx_stats *st)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t start = rte_rdtsc();
	const uint64_t end = c->duration > 0 ? start + (uint64_t)(c->duration * hz) : UINT64_MAX;
	const uint64_t stall = hz / 1000000 * TX_STALL_US;
	uint64_t next_print = start + hz, last_print = start, now = start, prev_now = start, cost;
	const bool paced = c->mode != TX_MAX;
	struct tx_bucket b = {0};
	struct tx_stats prev = *st;
	uint32_t idx = 0, bsz = c->burst, left = c->loop ? UINT32_MAX : cap->n, n;

	if (paced) {
		double pps = c->mode == TX_PPS ? c->rate
			     : c->rate / (((double)cap->bytes / cap->n + TX_WIRE_OVERHEAD) * 8);
		uint64_t maxcost = 0;

		bsz = (uint32_t)RTE_MIN((double)c->burst, RTE_MAX(1.0, pps * TX_BURST_GAP_NS / 1e9));
		for (uint32_t i = 0; i < cap->n; i++)
			maxcost = RTE_MAX(maxcost, cap->cost[i]);
		b.rate = (uint64_t)c->rate;
		b.depth = (int64_t)(2 * bsz * maxcost);
		/* delta x rate stays below 2^62 */
		b.max_delta = RTE_MIN(hz, ((uint64_t)1 << 62) / RTE_MAX(b.rate, (uint64_t)1));
		b.last = start;
	}
	while (!tx_quit && left > 0) {
		now = rte_rdtsc();
		if (unlikely(now - prev_now > stall)) {
			st->stalls++;
			st->stall_cycles += now - prev_now;
		}
		prev_now = now;
		if (unlikely(now >= next_print)) {
			struct tx_stats s = *st;

			if (!c->quiet)
				print_second(&s, &prev, (double)(now - start) / hz,
					     (double)(now - last_print) / hz);
			prev = s;
			last_print = now;
			next_print += hz;
			rx_drain(c->port);
			prev_now = rte_rdtsc();
		}
		if (unlikely(now >= end))
			break;
		n = RTE_MIN(bsz, left);
		if (paced) {
			uint64_t d = RTE_MIN(now - b.last, b.max_delta), need = 0;
			uint32_t i, j;

			b.last = now;
			b.credit = RTE_MIN(b.credit + (int64_t)(d * b.rate), b.depth);
			for (i = 0, j = idx; i < n; i++) {
				need += cap->cost[j];
				if (++j == cap->n)
					j = 0;
			}
			if (b.credit < (int64_t)need)
				continue;
		}
		n = tx_offer(c, cap, &idx, n, st, &cost);
		if (paced)
			b.credit -= (int64_t)cost;
		if (!c->loop)
			left -= n;
	}
	return (double)(rte_rdtsc() - start) / hz;
}

int
main(int argc, char **argv)
{
	struct tx_conf c = {
		.mode = TX_MAX, .burst = TX_BURST_MAX, .txd = 1024, .link_wait = 10, .drain_ms = 500,
	};
	char **eal_argv, **opt_argv;
	int eal_argc = 0, opt_argc = 0, dash = -1, i, rc;
	struct rte_mempool *rx_pool = NULL;
	struct tx_capture cap;
	struct tx_stats st = {0};
	struct rte_eth_stats ps;
	struct rte_eth_link link;
	double secs, hz;

	/* Split at "--": EAL arguments before, ours after. Without "--", all are ours. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dash = i;
			break;
		}
	eal_argv = calloc((size_t)argc + 1, sizeof(*eal_argv));
	opt_argv = calloc((size_t)argc + 1, sizeof(*opt_argv));
	if (eal_argv == NULL || opt_argv == NULL) {
		fprintf(stderr, "cw-txgen: out of memory\n");
		return 1;
	}
	eal_argv[eal_argc++] = argv[0];
	opt_argv[opt_argc++] = argv[0];
	for (i = 1; i < argc; i++) {
		if (dash < 0 || i > dash)
			opt_argv[opt_argc++] = argv[i];
		else if (i < dash)
			eal_argv[eal_argc++] = argv[i];
	}
	opt_argv[opt_argc] = NULL;
	eal_argv[eal_argc] = NULL;
	rc = parse_options(opt_argc, opt_argv, &c);
	free(opt_argv);
	if (rc == 1) {
		usage(stdout);
		free(eal_argv);
		return 0;
	}
	if (rc < 0) {
		free(eal_argv);
		return 2;
	}

	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0)
		rte_exit(1, "cw-txgen: EAL init: %s\n", rte_strerror(rte_errno));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	rc = rte_eth_dev_is_valid_port(c.port) ? rte_eth_dev_socket_id(c.port) : -1;
	if (capture_load(c.pcap, rc < 0 ? (int)rte_socket_id() : rc, &cap) < 0)
		rte_exit(1, "cw-txgen: cannot load %s\n", c.pcap);
	hz = (double)rte_get_tsc_hz();
	for (uint32_t k = 0; k < cap.n; k++) {
		double w = c.mode == TX_GBPS ? (cap.pkts[k]->pkt_len + TX_WIRE_OVERHEAD) * 8.0 : 1.0;

		cap.cost[k] = (uint64_t)(w * hz);
	}
	if (port_init(&c, &rx_pool) < 0)
		rte_exit(1, "cw-txgen: port %u not started\n", c.port);
	fprintf(stderr,
		"cw-txgen: %s: %" PRIu32 " frames, %" PRIu64 " bytes (largest %" PRIu32
		")%s; port %u; waiting for link\n",
		c.pcap, cap.n, cap.bytes, cap.maxlen, cap.truncated ? ", some truncated" : "", c.port);
	if (link_wait(c.port, c.link_wait, &link) < 0) {
		rte_eth_dev_stop(c.port);
		rte_eth_dev_close(c.port);
		rte_exit(1, "cw-txgen: port %u: no link after %.1f s\n", c.port, c.link_wait);
	}
	fprintf(stderr, "cw-txgen: link up (%u Mbit/s); sending\n", link.link_speed);

	secs = tx_run(&c, &cap, &st);

	/* Let the peer take what is still queued before the port goes away. */
	for (uint32_t ms = 0; ms < c.drain_ms && !tx_quit; ms += 10) {
		rte_eth_tx_done_cleanup(c.port, 0, 0);
		rte_delay_us_sleep(10000);
	}
	memset(&ps, 0, sizeof(ps));
	rte_eth_stats_get(c.port, &ps);
	printf("{\"pcap\":\"");
	json_str(c.pcap);
	printf("\",\"frames_in_pcap\":%" PRIu32 ",\"mode\":\"%s\",", cap.n,
	       c.mode == TX_MAX ? "max" : c.mode == TX_PPS ? "pps" : "gbps");
	if (c.mode == TX_PPS)
		printf("\"target_pps\":%.0f,", c.rate);
	else if (c.mode == TX_GBPS)
		printf("\"target_gbps\":%.6f,", c.rate / 1e9);
	printf("\"tx_full\":\"%s\",\"duration_s\":%.6f,\"sent\":%" PRIu64 ",\"tx_failed\":%" PRIu64
	       ",\"offered\":%" PRIu64 ",\"tx_retried\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"loops\":%" PRIu64 ",\"pps\":%.1f,\"offered_pps\":%.1f,\"gbps_wire\":%.6f"
	       ",\"gbps_frames\":%.6f,\"stalls\":%" PRIu64 ",\"stalled_s\":%.6f"
	       ",\"port_opackets\":%" PRIu64 ",\"port_oerrors\":%" PRIu64 "}\n",
	       c.full == TX_FULL_DROP ? "drop" : "retry", secs, st.sent, st.failed,
	       st.sent + st.failed, st.retried, st.bytes, st.loops, st.sent / secs,
	       (st.sent + st.failed) / secs, (st.bytes + (double)st.sent * TX_WIRE_OVERHEAD) * 8 / secs / 1e9,
	       st.bytes * 8.0 / secs / 1e9, st.stalls, st.stall_cycles / hz, ps.opackets, ps.oerrors);
	fflush(stdout);

	rte_eth_dev_stop(c.port);
	rte_eth_dev_close(c.port);
	capture_free(&cap);
	rte_mempool_free(rx_pool);
	rte_eal_cleanup();
	free(eal_argv);
	return 0;
}
