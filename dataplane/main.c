/* SPDX-License-Identifier: BSD-3-Clause */
/* chainwatch-dp entry point: options, EAL and port setup, worker launch, shutdown and final counters. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "chain.h"
#include "cw_config.h"
#include "dp.h"
#include "fingerprint.h"
#include "flow.h"
#include "port.h"
#include "rundir.h"
#include "telemetry.h"
#include "worker.h"
#ifdef CW_HAVE_XDP_STEER
#include "xdp_steer.h"
#include "xsk_stats.h"
#endif

#define DP_PCAP_VDEV "net_pcap_cw0"
#define DP_XDP_VDEV "net_af_xdp_cw0"
#define DP_EAL_ARGS_MAX 128
#define DP_RUN_DIR "/run/chainwatch"       /* configured XDP objects for --iface */
#define DP_XDP_OBJ_NAME "cw_steer.bpf.o"
#define DP_XDP_OBJ_INSTALLED CW_DATADIR "/bpf/" DP_XDP_OBJ_NAME
#ifdef CW_HAVE_XDP_STEER
#define DP_STEER_PORTS_MAX CW_STEER_MAX_PORTS
#else
#define DP_STEER_PORTS_MAX 16
#endif

/*
 * --iface: AF_XDP input with the cw_steer program. Filled by parse_options(); obj is the
 * configured copy written before EAL starts (removed at exit), xdp the program found on the
 * interface after the port started. xdp is read by the main lcore at exit and by the telemetry
 * thread, so both take xdp_lock.
 */
struct dp_live {
	const char *iface;
	uint32_t queues;
	const char *obj_src;        /* --xdp-obj, or NULL: the build tree's or the installed one */
	const char *steer_ports;    /* --steer-ports LIST, or NULL: every port */
	char obj[PATH_MAX];         /* the configured copy, "" until written */
	char obj_dir[PATH_MAX / 2]; /* a temporary directory we made for it, or "" */
#ifdef CW_HAVE_XDP_STEER
	struct dp_xdp_steer *xdp;
	struct dp_xsk xsk;          /* the PMD's AF_XDP sockets (their kernel drop counters) */
#endif
	pthread_mutex_t xdp_lock;
};

static struct dp_live dp_live = {
	.queues = 1,
	.xdp_lock = PTHREAD_MUTEX_INITIALIZER,
};

static const struct dp_conf dp_defaults = {
	.instance = "default",
	.linktype = CW_LINK_ETHERNET,
	.shm_mode = 0660,
	.mode = DP_MODE_AUTO,
	.workers = 0,
	.flows = 1u << 20,
	.sessions = 4096,
	.reasm_kib = 32,
	.cert_refs = DP_CERT_REFS_DEFAULT,
	.chains = 1u << 18,
	.ev_slots = DP_EV_SLOTS_DEFAULT,
	.blob_kib = DP_BLOB_KIB_DEFAULT,
	.idle_s = 30,
	.hs_s = 20,
	.ring_size = 4096,
	.rxd = 1024,
	.mbufs = 0,
	.eof_quiet_ms = 2000,
	.checksums = -1,
};

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [EAL args] -- [options]\n"
		"       %s --pcap FILE | --iface IFACE | --replay FILE [options]\n"
		"\n"
		"Passive TLS handshake sensor: follows TCP handshakes on a DPDK port, publishes one\n"
		"event per TLS flow (and each new certificate chain once) to shared memory.\n"
		"Without \"--\", every argument is an option below and EAL runs with defaults.\n"
		"\n"
		"Input:\n"
		"  --pcap FILE          read a capture (adds a net_pcap vdev; implies --no-pci, and\n"
		"                       --no-huge when no EAL args are given and no hugepages are free,\n"
		"                       and lcores for --workers N floating over all CPUs);\n"
		"                       exits when the whole file is processed and every event flushed\n"
		"  --port N             DPDK port id to use (default 0; ignored with --pcap and --iface)\n"
		"  --iface IFACE        live input from a kernel interface through AF_XDP with the cw_steer\n"
		"                       program: adds --vdev net_af_xdp,iface=IFACE,...,xdp_prog=<copy of\n"
		"                       cw_steer.bpf.o configured by --steer-ports, written to %s>;\n"
		"                       without EAL args also --no-pci, --file-prefix chainwatch-<instance>,\n"
		"                       lcores floating over all CPUs, and --no-huge when no hugepages\n"
		"                       are free. Runs until SIGINT/SIGTERM, then prints the program's\n"
		"                       counters with its own (needs root; IFACE must have no XDP program)\n"
		"  --queues N           --iface: RX queues 0..N-1 of IFACE, one worker each (default 1)\n"
		"  --steer-ports LIST   --iface: only TCP on these ports (comma-separated, up to %u) is\n"
		"                       steered to the dataplane; other TCP stays with the kernel\n"
		"                       (default: every port, for a dedicated TAP/SPAN interface)\n"
		"  --xdp-obj PATH       --iface: cw_steer object to configure (default: the build tree's\n"
		"                       when run from it, else %s)\n"
		"  --replay FILE        benchmark input without a port: the capture is loaded into\n"
		"                       memory once and split by flow over the workers; per burst each\n"
		"                       worker takes mbufs of the replay's pool and attaches its next\n"
		"                       frames to them in place (no copy, as a NIC writes them), pass\n"
		"                       after pass, on the TSC clock like live input. Mode replay:\n"
		"                       every worker on a worker lcore of its own (EAL defaults as\n"
		"                       with --pcap, with lcores for the main lcore plus --workers N).\n"
		"                       No PMD: the workers' own cost; with --rx-only, the replay's.\n"
		"                       --port, --rxd, --mbufs and --eof-quiet-ms are unused\n"
		"  --replay-loops N     --replay: stop after N passes over the capture (default 0:\n"
		"                       until --duration or a signal); 1 gives the flows of --pcap\n"
		"  --replay-copy        --replay: copy each frame into its mbuf, as net_pcap's RX does,\n"
		"                       instead of attaching it\n"
		"\n"
		"Threads:\n"
		"  --workers N          worker count, 1..%u (default: one per worker lcore, at least 1;\n"
		"                       with --iface, --queues)\n"
		"  --mode M             auto|single|dispatch|rss (default auto: rss when the port has\n"
		"                       RSS and enough queues, or is net_af_xdp with one queue per\n"
		"                       worker, else single for 1 worker, else dispatch)\n"
		"  --dispatch           same as --mode dispatch\n"
		"  --dispatch-ring N    packets per worker ring in dispatch mode, power of 2 (default %u)\n"
		"  --rxd N              RX descriptors per queue (default %u)\n"
		"  --mbufs N            mbuf pool size (default: sized from queues and rings)\n"
		"\n"
		"Tables (per worker unless noted):\n"
		"  --flows N            flow-table entries (default %u)\n"
		"  --sessions N         concurrent handshakes followed (default %u)\n"
		"  --reasm-kib N        most handshake bytes kept per direction in KiB, 1..1024\n"
		"                       (default %u). Directions take buffers on demand, per\n"
		"                       session 2 of 512 B, 1 of 1 KiB, 1 of 1.5 KiB, 2 of 2 KiB and\n"
		"                       1 of 8 KiB where smaller than this, then the full size\n"
		"                       (--reasm-big); a flow that finds none free keeps what it\n"
		"                       has: reasm_buf_short\n"
		"  --reasm-big N        buffers of the full --reasm-kib (default: --sessions / 8)\n"
		"  --cert-refs N        expected Certificate messages: the last one each server\n"
		"                       name and cipher suite were answered with, 8 KiB each; a TLS\n"
		"                       1.2 server flight is compared with it as it arrives instead\n"
		"                       of held, and one that differs is assembled as usual.\n"
		"                       0 = none, else 4..1048576 (default %u)\n"
		"  --chains N           shared chain-table entries (default %u)\n"
		"  --chain-key FILE     make certificate and chain ids with this secret key: a file\n"
		"                       of 16..4096 bytes, mode 0600 (head -c 32 /dev/urandom). Without\n"
		"                       it ids are plain XXH3-128, which whoever issues certificates\n"
		"                       can search for collisions with a genuine chain's id. Keep one\n"
		"                       key per chainwatchd database (it checks the key id)\n"
		"  --xxh3 IMPL          code that hashes certificates: auto (default: wide on AMD\n"
		"                       CPUs with AVX2, else baseline), baseline (the library's\n"
		"                       SSE2 build) or wide (its AVX-512/AVX2 dispatcher; needs\n"
		"                       AVX2); the ids are the same\n"
		"  --checksums M        verify|off: drop a followed flow's segments whose IPv4 or\n"
		"                       TCP checksum is wrong, as the receiver does (csum_bad,\n"
		"                       anomaly bad_checksum), so an on-path sender cannot show\n"
		"                       the monitor bytes the endpoint never takes (default: verify\n"
		"                       on a NIC and on AF_XDP; off with --pcap, --replay and\n"
		"                       vdevs that carry captures or software links: net_pcap,\n"
		"                       net_memif, net_ring, ... A capture taken on an endpoint\n"
		"                       carries the checksums it left to its NIC)\n"
		"  --idle-timeout S     flow idle timeout in seconds (default %u)\n"
		"  --hs-timeout S       handshake timeout in seconds (default %u)\n"
		"\n"
		"Events (shared memory /dev/shm/chainwatch.<instance>):\n"
		"  --instance NAME      instance name (default \"default\"); also --shm NAME\n"
		"  --shm-mode OCTAL     permission of the shared-memory object, octal with or\n"
		"                       without the leading 0 (default 0660)\n"
		"  --ring-slots N       events per worker ring, power of 2 (default %u)\n"
		"  --blob-kib N         chain-blob ring per worker in KiB, power of 2, larger than\n"
		"                       --reasm-kib (default %u)\n"
		"\n"
		"Benchmarking:\n"
		"  --duration S         stop after S seconds of running, as on SIGTERM (default: run\n"
		"                       until a signal or the end of --pcap)\n"
		"  --rx-only            workers free each burst untouched: no decode, no flows, no\n"
		"                       events (the receive-only baseline of this binary, same core)\n"
		"  --stats-interval S   print one line every S seconds: rx and processed packets/s,\n"
		"                       handshakes/s, events/s, drops by reason in the interval\n"
		"  --events-discard     a built-in consumer drains every event ring and throws the\n"
		"                       events away (on a spare lcore if EAL has one, else a control\n"
		"                       thread), so publishing costs what it costs with a real reader\n"
		"  --events-wait        --pcap: a worker whose event ring (or blob ring) is full waits\n"
		"                       for the consumer instead of dropping the event, so a capture\n"
		"                       is judged whole however slow the consumer (chainwatch analyze\n"
		"                       passes it); without a consumer the run waits until a signal\n"
		"\n"
		"Other:\n"
		"  --eof-quiet-ms N     --pcap: also treat the capture as finished after N ms without\n"
		"                       packets (default %u)\n"
		"  --quiet              do not print the final counters\n"
		"  --version            print the version and exit\n"
		"  -h, --help           this text\n"
		"\n"
		"Telemetry: /chainwatch/stats and /chainwatch/workers on the EAL telemetry socket\n"
		"(dpdk-telemetry.py, -f <file-prefix>), and /chainwatch/xdp with --iface.\n"
		"SIGINT/SIGTERM: finish, flush, exit 0.\n",
		prog, prog, DP_RUN_DIR, DP_STEER_PORTS_MAX, DP_XDP_OBJ_INSTALLED, DP_MAX_WORKERS,
		dp_defaults.ring_size, dp_defaults.rxd, dp_defaults.flows,
		dp_defaults.sessions, dp_defaults.reasm_kib, dp_defaults.cert_refs, dp_defaults.chains,
		dp_defaults.idle_s,
		dp_defaults.hs_s, dp_defaults.ev_slots, dp_defaults.blob_kib, dp_defaults.eof_quiet_ms);
}

static void
die_usage(const char *prog, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	exit(2);
}

/*
 * A number in [min, max]: digits only, in base 10, or 8 for a file mode. No sign, no 0x and no
 * implied octal: "010" is ten, as an operator reading the value means it.
 */
static uint32_t
parse_base(const char *prog, const char *opt, const char *s, uint32_t min, uint32_t max, int pow2,
	   int base)
{
	unsigned long long v = 0;
	char *end = NULL;

	errno = 0;
	if (s[0] >= '0' && s[0] <= '9')
		v = strtoull(s, &end, base);
	if (end == NULL || errno != 0 || *end != '\0' || v < min || v > max ||
	    (pow2 && (v & (v - 1)) != 0)) {
		if (base == 8)
			fprintf(stderr, "%s: bad value '%s' for %s: expected an octal mode 0..0%o\n",
				prog, s, opt, max);
		else
			fprintf(stderr, "%s: bad value '%s' for %s: expected %s%u..%u\n", prog, s,
				opt, pow2 ? "a power of 2 in " : "", min, max);
		exit(2);
	}
	return (uint32_t)v;
}

static uint32_t
parse_u32(const char *prog, const char *opt, const char *s, uint32_t min, uint32_t max, int pow2)
{
	return parse_base(prog, opt, s, min, max, pow2, 10);
}

enum {
	OPT_PCAP = 256, OPT_PORT, OPT_WORKERS, OPT_MODE, OPT_DISPATCH, OPT_DISPATCH_RING, OPT_RXD,
	OPT_MBUFS, OPT_FLOWS, OPT_SESSIONS, OPT_REASM, OPT_REASM_BIG, OPT_CERT_REFS, OPT_CHAINS, OPT_IDLE, OPT_HS,
	OPT_INSTANCE, OPT_SHM_MODE, OPT_RING_SLOTS, OPT_BLOB_KIB, OPT_EOF_QUIET, OPT_QUIET, OPT_VERSION, OPT_IFACE,
	OPT_QUEUES, OPT_STEER_PORTS, OPT_XDP_OBJ, OPT_DURATION, OPT_RX_ONLY, OPT_STATS_INTERVAL,
	OPT_EVENTS_DISCARD, OPT_EVENTS_WAIT, OPT_REPLAY, OPT_REPLAY_LOOPS, OPT_REPLAY_COPY, OPT_CHAIN_KEY,
	OPT_XXH3, OPT_CHECKSUMS,
};

static const struct option dp_longopts[] = {
	{"pcap", required_argument, NULL, OPT_PCAP},
	{"port", required_argument, NULL, OPT_PORT},
	{"iface", required_argument, NULL, OPT_IFACE},
	{"queues", required_argument, NULL, OPT_QUEUES},
	{"steer-ports", required_argument, NULL, OPT_STEER_PORTS},
	{"xdp-obj", required_argument, NULL, OPT_XDP_OBJ},
	{"workers", required_argument, NULL, OPT_WORKERS},
	{"mode", required_argument, NULL, OPT_MODE},
	{"dispatch", no_argument, NULL, OPT_DISPATCH},
	{"dispatch-ring", required_argument, NULL, OPT_DISPATCH_RING},
	{"rxd", required_argument, NULL, OPT_RXD},
	{"mbufs", required_argument, NULL, OPT_MBUFS},
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"sessions", required_argument, NULL, OPT_SESSIONS},
	{"reasm-kib", required_argument, NULL, OPT_REASM},
	{"reasm-big", required_argument, NULL, OPT_REASM_BIG},
	{"cert-refs", required_argument, NULL, OPT_CERT_REFS},
	{"chains", required_argument, NULL, OPT_CHAINS},
	{"chain-key", required_argument, NULL, OPT_CHAIN_KEY},
	{"xxh3", required_argument, NULL, OPT_XXH3},
	{"checksums", required_argument, NULL, OPT_CHECKSUMS},
	{"idle-timeout", required_argument, NULL, OPT_IDLE},
	{"hs-timeout", required_argument, NULL, OPT_HS},
	{"instance", required_argument, NULL, OPT_INSTANCE},
	{"shm", required_argument, NULL, OPT_INSTANCE},
	{"shm-mode", required_argument, NULL, OPT_SHM_MODE},
	{"ring-slots", required_argument, NULL, OPT_RING_SLOTS},
	{"blob-kib", required_argument, NULL, OPT_BLOB_KIB},
	{"eof-quiet-ms", required_argument, NULL, OPT_EOF_QUIET},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"rx-only", no_argument, NULL, OPT_RX_ONLY},
	{"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
	{"events-discard", no_argument, NULL, OPT_EVENTS_DISCARD},
	{"events-wait", no_argument, NULL, OPT_EVENTS_WAIT},
	{"replay", required_argument, NULL, OPT_REPLAY},
	{"replay-loops", required_argument, NULL, OPT_REPLAY_LOOPS},
	{"replay-copy", no_argument, NULL, OPT_REPLAY_COPY},
	{"version", no_argument, NULL, OPT_VERSION},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
parse_options(int argc, char **argv, const char *prog, struct dp_conf *conf)
{
	char name[CW_SHM_NAME_MAX];
	int opt, loops_given = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", dp_longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_PCAP:
			conf->pcap = optarg;
			break;
		case OPT_PORT:
			conf->port_id = (uint16_t)parse_u32(prog, "--port", optarg, 0, RTE_MAX_ETHPORTS - 1, 0);
			conf->port_given = 1;
			break;
		case OPT_IFACE:
			if (optarg[0] == '\0' || strlen(optarg) >= IF_NAMESIZE ||
			    strpbrk(optarg, ",=/ ") != NULL)
				die_usage(prog, "bad --iface '%s': not an interface name", optarg);
			dp_live.iface = optarg;
			break;
		case OPT_QUEUES:
			dp_live.queues = parse_u32(prog, "--queues", optarg, 1, DP_MAX_WORKERS, 0);
			break;
		case OPT_STEER_PORTS:
			dp_live.steer_ports = optarg;
			break;
		case OPT_XDP_OBJ:
			dp_live.obj_src = optarg;
			break;
		case OPT_WORKERS:
			conf->workers = parse_u32(prog, "--workers", optarg, 1, DP_MAX_WORKERS, 0);
			break;
		case OPT_MODE:
			if (strcmp(optarg, "auto") == 0)
				conf->mode = DP_MODE_AUTO;
			else if (strcmp(optarg, "single") == 0)
				conf->mode = DP_MODE_SINGLE;
			else if (strcmp(optarg, "dispatch") == 0)
				conf->mode = DP_MODE_DISPATCH;
			else if (strcmp(optarg, "rss") == 0)
				conf->mode = DP_MODE_RSS;
			else
				die_usage(prog, "bad --mode '%s': expected auto, single, dispatch or rss", optarg);
			break;
		case OPT_DISPATCH:
			conf->mode = DP_MODE_DISPATCH;
			break;
		case OPT_DISPATCH_RING:
			conf->ring_size = parse_u32(prog, "--dispatch-ring", optarg, 64, 1u << 20, 1);
			break;
		case OPT_RXD:
			conf->rxd = parse_u32(prog, "--rxd", optarg, 32, 32768, 0);
			break;
		case OPT_MBUFS:
			conf->mbufs = parse_u32(prog, "--mbufs", optarg, 1024, 1u << 26, 0);
			break;
		case OPT_FLOWS:
			conf->flows = parse_u32(prog, "--flows", optarg, 8, 1u << 28, 0);
			break;
		case OPT_SESSIONS:
			conf->sessions = parse_u32(prog, "--sessions", optarg, 1, 1u << 24, 0);
			break;
		case OPT_REASM:
			conf->reasm_kib = parse_u32(prog, "--reasm-kib", optarg, 1, 1024, 0);
			break;
		case OPT_REASM_BIG:
			conf->reasm_big = parse_u32(prog, "--reasm-big", optarg, 1, 1u << 24, 0);
			break;
		case OPT_CERT_REFS:
			conf->cert_refs = parse_u32(prog, "--cert-refs", optarg, 0, CW_CERTREF_MAX, 0);
			if (conf->cert_refs > 0 && conf->cert_refs < CW_CERTREF_WAYS)
				die_usage(prog, "--cert-refs: 0, or at least 4: '%s'", optarg);
			break;
		case OPT_CHAINS:
			conf->chains = parse_u32(prog, "--chains", optarg, 8, 1u << 28, 0);
			break;
		case OPT_CHAIN_KEY:
			conf->chain_key = optarg;
			break;
		case OPT_XXH3: {
			int rc = cw_chain_xxh3_use(optarg);

			if (rc < 0) {
				fprintf(stderr, "%s: --xxh3 %s: %s\n", prog, optarg,
					rc == -ENOTSUP ? "wide needs an x86-64 CPU with AVX2"
						       : "expected auto, baseline or wide");
				exit(2);
			}
			break;
		}
		case OPT_IDLE:
			conf->idle_s = parse_u32(prog, "--idle-timeout", optarg, 1, 86400, 0);
			break;
		case OPT_HS:
			conf->hs_s = parse_u32(prog, "--hs-timeout", optarg, 1, 86400, 0);
			break;
		case OPT_INSTANCE:
			if (cw_shm_name(optarg, name) < 0)
				die_usage(prog, "bad --instance '%s': use letters, digits, '-', '_', '.' (up to 50)",
					  optarg);
			conf->instance = optarg;
			break;
		case OPT_SHM_MODE:
			conf->shm_mode = (mode_t)parse_base(prog, "--shm-mode", optarg, 0, 0777, 0, 8);
			break;
		case OPT_RING_SLOTS:
			conf->ev_slots = parse_u32(prog, "--ring-slots", optarg, CW_EVRING_MIN_SLOTS,
						   CW_EVRING_MAX_SLOTS, 1);
			break;
		case OPT_BLOB_KIB:
			conf->blob_kib = parse_u32(prog, "--blob-kib", optarg, CW_EVRING_MIN_BLOB / 1024,
						   CW_EVRING_MAX_BLOB / 1024, 1);
			break;
		case OPT_EOF_QUIET:
			conf->eof_quiet_ms = parse_u32(prog, "--eof-quiet-ms", optarg, 10, 3600000, 0);
			break;
		case OPT_QUIET:
			conf->quiet = 1;
			break;
		case OPT_DURATION:
			conf->duration_s = parse_u32(prog, "--duration", optarg, 1, 31536000, 0);
			break;
		case OPT_RX_ONLY:
			conf->rx_only = 1;
			break;
		case OPT_STATS_INTERVAL:
			conf->stats_s = parse_u32(prog, "--stats-interval", optarg, 1, 86400, 0);
			break;
		case OPT_EVENTS_DISCARD:
			conf->events_discard = 1;
			break;
		case OPT_EVENTS_WAIT:
			conf->events_wait = 1;
			break;
		case OPT_CHECKSUMS:
			if (strcmp(optarg, "verify") == 0)
				conf->checksums = 1;
			else if (strcmp(optarg, "off") == 0)
				conf->checksums = 0;
			else
				die_usage(prog, "--checksums: expected verify or off, got '%s'", optarg);
			break;
		case OPT_REPLAY:
			conf->replay = optarg;
			break;
		case OPT_REPLAY_LOOPS:
			conf->replay_loops = parse_u32(prog, "--replay-loops", optarg, 1, 1000000000, 0);
			loops_given = 1;
			break;
		case OPT_REPLAY_COPY:
			conf->replay_copy = 1;
			break;
		case OPT_VERSION:
			printf("chainwatch-dp %s (DPDK %s)\n", CW_VERSION, rte_version());
			exit(0);
		case 'h':
			usage(stdout, prog);
			exit(0);
		default:
			die_usage(prog, "unknown or incomplete option '%s'",
				  optind > 0 && optind <= argc ? argv[optind - 1] : "?");
		}
	}
	if (optind < argc)
		die_usage(prog, "unexpected argument '%s'", argv[optind]);
	if (conf->blob_kib <= conf->reasm_kib)
		die_usage(prog, "--blob-kib must be larger than --reasm-kib (a chain blob can be as large "
			  "as the server's reassembly buffer)%s", "");
	if (conf->mode == DP_MODE_SINGLE && conf->workers > 1)
		die_usage(prog, "--mode single runs exactly one worker%s", "");
	if ((loops_given || conf->replay_copy) && conf->replay == NULL)
		die_usage(prog, "--replay-loops and --replay-copy go with --replay%s", "");
	/* A live port cannot wait: its RX ring would overflow at the NIC instead, uncounted here. */
	if (conf->events_wait && conf->pcap == NULL)
		die_usage(prog, "--events-wait goes with --pcap%s", "");
	/* Captures are often taken on an endpoint, where checksum offload leaves them unset. */
	if (conf->checksums < 0 && (conf->pcap != NULL || conf->replay != NULL))
		conf->checksums = 0;
	if (conf->replay != NULL) {
		if (conf->pcap != NULL || dp_live.iface != NULL)
			die_usage(prog, "--replay excludes --pcap and --iface%s", "");
		if (conf->mode != DP_MODE_AUTO)
			die_usage(prog, "--replay has its own mode (every worker reads its share): drop "
				  "--mode and --dispatch%s", "");
	}
	if (dp_live.iface == NULL) {
		if (dp_live.queues != 1 || dp_live.steer_ports != NULL || dp_live.obj_src != NULL)
			die_usage(prog, "--queues, --steer-ports and --xdp-obj go with --iface%s", "");
		return;
	}
	if (conf->pcap != NULL)
		die_usage(prog, "--iface and --pcap exclude each other%s", "");
	/* Every queue has its own AF_XDP socket: one worker per queue polls them all. */
	if (conf->workers == 0)
		conf->workers = dp_live.queues;
	if (dp_live.queues > 1 && conf->workers != dp_live.queues)
		die_usage(prog, "--iface with --queues N runs exactly N workers (one per queue)%s", "");
}

/*
 * Frames in the capture, read the same way net_pcap will read them, and their bytes in
 * *bytes. -1 on error (printed).
 */
static int64_t
pcap_count(const char *prog, const char *file, int *lt, uint64_t *bytes)
{
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *d;
	int64_t n = 0;
	pcap_t *p;
	int rc;

	p = pcap_open_offline(file, err);
	if (p == NULL) {
		fprintf(stderr, "%s: cannot read capture %s: %s\n", prog, file, err);
		return -1;
	}
	switch (pcap_datalink(p)) {
	case DLT_NULL:
		*lt = CW_LINK_NULL;
		break;
	case DLT_EN10MB:
		*lt = CW_LINK_ETHERNET;
		break;
	case DLT_RAW: /* libpcap maps LINKTYPE_RAW (101) to DLT_RAW */
		*lt = CW_LINK_RAW;
		break;
	case DLT_LINUX_SLL:
		*lt = CW_LINK_LINUX_SLL;
		break;
	case CW_LINK_IPV4:
	case CW_LINK_IPV6:
	case CW_LINK_LINUX_SLL2:
		*lt = pcap_datalink(p);
		break;
	default:
		fprintf(stderr, "%s: %s: unsupported link type %d (%s)\n", prog, file,
			pcap_datalink(p),
			pcap_datalink_val_to_name(pcap_datalink(p)) ? pcap_datalink_val_to_name(pcap_datalink(p))
								    : "?");
		pcap_close(p);
		return -1;
	}
	*bytes = 0;
	while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
		n++;
		*bytes += h->caplen;
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "%s: warning: %s is truncated or damaged after %" PRId64
				" frames; processing those\n", prog, file, n);
	pcap_close(p);
	return n;
}

static int
hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long v = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v > 0;
}

/* Rough memory need in MiB for an implicit --no-huge run. */
static unsigned long
estimate_mib(const struct dp_conf *conf, uint32_t workers)
{
	uint64_t per = (uint64_t)conf->flows * 208 + dp_flow_done_bytes(conf->flows) +
		       dp_sess_pool_bytes(conf->sessions, conf->reasm_kib * 1024u,
					  dp_conf_reasm_big(conf)) +
		       (uint64_t)conf->sessions * 4096 +
		       (uint64_t)conf->ring_size * 2304 + DP_SCRATCH_BYTES + 65536 +
		       (conf->cert_refs > 0 ? cw_certref_bytes(conf->cert_refs) : 0);
	uint64_t total = per * workers + (uint64_t)conf->chains * 96 + (64ull << 20);

	if (conf->replay != NULL)
		total += dp_replay_bytes(conf->replay_bytes, conf->pcap_packets, workers,
					 conf->replay_copy);

	return (unsigned long)(total >> 20) + 64;
}

/* MemAvailable from /proc/meminfo in MiB, 0 when unknown. */
static unsigned long
mem_available_mib(void)
{
	char line[256];
	unsigned long kib = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %lu kB", &kib) == 1)
			break;
	fclose(f);
	return kib / 1024;
}

/*
 * Refuse tables that cannot fit before EAL maps and touches them (which
 * takes many seconds and then fails with a message naming no option).
 */
static void
check_memory(const char *prog, const struct dp_conf *conf, uint32_t workers)
{
	unsigned long need = estimate_mib(conf, workers), avail = mem_available_mib();

	if (avail != 0 && need > avail) {
		fprintf(stderr,
			"%s: the tables need about %lu MiB (--flows %u, --sessions %u, --reasm-kib %u, "
			"--chains %u, %u worker%s%s) but only %lu MiB are available\n",
			prog, need, conf->flows, conf->sessions, conf->reasm_kib, conf->chains, workers,
			workers == 1 ? "" : "s", conf->replay != NULL ? ", the --replay capture" : "",
			avail);
		exit(1);
	}
}

/* ---- --iface: AF_XDP input with the cw_steer program ---- */

#ifdef CW_HAVE_XDP_STEER
/*
 * The object --iface configures: --xdp-obj; else the build tree's when this binary runs from the
 * build tree (so a test never picks up an older installed copy); else the installed one; else the
 * build tree's. NULL when none is readable.
 */
static const char *
xdp_obj_source(void)
{
	char exe[PATH_MAX], root[PATH_MAX];
	ssize_t n;

	if (dp_live.obj_src != NULL)
		return dp_live.obj_src;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0 && realpath(CW_BUILD_ROOT, root) != NULL) {
		size_t rl = strlen(root);

		exe[n] = '\0';
		if (strncmp(exe, root, rl) == 0 && exe[rl] == '/' && access(CW_BPF_OBJ_BUILD, R_OK) == 0)
			return CW_BPF_OBJ_BUILD;
	}
	if (access(DP_XDP_OBJ_INSTALLED, R_OK) == 0)
		return DP_XDP_OBJ_INSTALLED;
	if (access(CW_BPF_OBJ_BUILD, R_OK) == 0)
		return CW_BPF_OBJ_BUILD;
	return NULL;
}

/* atexit: the configured copy is only needed until the PMD has loaded it. */
static void
xdp_obj_remove(void)
{
	if (dp_live.obj[0] != '\0')
		unlink(dp_live.obj);
	if (dp_live.obj_dir[0] != '\0')
		rmdir(dp_live.obj_dir);
}

/*
 * Before EAL: checks the interface exists (in this network namespace) and writes the configured
 * copy of the object into DP_RUN_DIR, or into a new directory under $TMPDIR when DP_RUN_DIR is
 * not writable. Returns 0, 2 for a usage error, 1 for other errors (printed).
 */
static int
live_prepare(const char *prog, const struct dp_conf *conf)
{
	struct cw_steer_cfg cfg;
	const char *src, *tmp;
	int rc;

	if (if_nametoindex(dp_live.iface) == 0) {
		fprintf(stderr, "%s: --iface %s: %s\n", prog, dp_live.iface, strerror(errno));
		return 1;
	}
	dp_xdp_steer_cfg_default(&cfg);
	if (dp_live.steer_ports != NULL && dp_xdp_steer_parse_ports(dp_live.steer_ports, &cfg) < 0) {
		fprintf(stderr, "%s: bad --steer-ports '%s': up to %u ports 1..65535, comma-separated\n"
				"Try '%s --help'.\n", prog, dp_live.steer_ports, CW_STEER_MAX_PORTS, prog);
		return 2;
	}
	src = xdp_obj_source();
	if (src == NULL) {
		fprintf(stderr, "%s: --iface: no cw_steer object (neither %s nor %s is readable); "
				"give --xdp-obj PATH\n", prog, DP_XDP_OBJ_INSTALLED, CW_BPF_OBJ_BUILD);
		return 1;
	}
	atexit(xdp_obj_remove);
	if ((mkdir(DP_RUN_DIR, 0755) == 0 || errno == EEXIST) && access(DP_RUN_DIR, W_OK) == 0) {
		snprintf(dp_live.obj, sizeof(dp_live.obj), "%s/dp-%s.%s", DP_RUN_DIR, conf->instance,
			 DP_XDP_OBJ_NAME);
	} else {
		tmp = getenv("TMPDIR");
		if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > sizeof(dp_live.obj_dir) / 2)
			tmp = "/tmp";
		snprintf(dp_live.obj_dir, sizeof(dp_live.obj_dir), "%s/chainwatch-dp.XXXXXX", tmp);
		if (mkdtemp(dp_live.obj_dir) == NULL) {
			fprintf(stderr, "%s: cannot create a directory for the XDP object: %s\n", prog,
				strerror(errno));
			dp_live.obj_dir[0] = '\0';
			return 1;
		}
		snprintf(dp_live.obj, sizeof(dp_live.obj), "%s/%s", dp_live.obj_dir, DP_XDP_OBJ_NAME);
	}
	if (strchr(dp_live.obj, ',') != NULL) {
		fprintf(stderr, "%s: XDP object path %s must not contain ',' (EAL device syntax)\n", prog,
			dp_live.obj);
		dp_live.obj[0] = '\0';
		return 1;
	}
	rc = dp_xdp_steer_write_object(src, dp_live.obj, &cfg);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot write the configured XDP object %s from %s: %s\n", prog,
			dp_live.obj, src,
			rc == -ENOEXEC ? "not a cw_steer object of this version" : strerror(-rc));
		dp_live.obj[0] = '\0';
		return 1;
	}
	return 0;
}

/*
 * The kernel's counters of the interface's AF_XDP sockets (xsk_stats.h): what the program
 * redirected is what the port received plus xsk_rx_dropped and xsk_rx_full.
 */
static const char *const xsk_names[] = {"xsk_rx_dropped", "xsk_rx_full", "xsk_rx_invalid",
					 "xsk_fill_ring_empty"};

static void
xsk_values(const struct dp_xsk_stats *x, uint64_t v[RTE_DIM(xsk_names)])
{
	v[0] = x->rx_dropped;
	v[1] = x->rx_full;
	v[2] = x->rx_invalid;
	v[3] = x->fill_ring_empty;
}

static void
xsk_tel(struct rte_tel_data *d)
{
	struct dp_xsk_stats x;
	uint64_t v[RTE_DIM(xsk_names)];

	if (dp_xsk_stats_get(&dp_live.xsk, &x) < 0)
		return;
	xsk_values(&x, v);
	rte_tel_data_add_dict_u64(d, "xsk_sockets", x.sockets);
	for (unsigned int i = 0; i < RTE_DIM(xsk_names); i++)
		rte_tel_data_add_dict_u64(d, xsk_names[i], v[i]);
}

static void
xsk_report(void)
{
	struct dp_xsk_stats x;
	uint64_t v[RTE_DIM(xsk_names)];
	int rc = dp_xsk_stats_get(&dp_live.xsk, &x);

	if (rc < 0) {
		fprintf(stderr, "chainwatch-dp: warning: AF_XDP socket counters of %s not read: %s\n",
			dp_live.iface, strerror(-rc));
		return;
	}
	xsk_values(&x, v);
	printf("  %-22s %" PRIu32 "\n", "xsk_sockets", x.sockets);
	for (unsigned int i = 0; i < RTE_DIM(xsk_names); i++)
		printf("  %-22s %" PRIu64 "\n", xsk_names[i], v[i]);
}

/* Telemetry thread. */
static int
tel_xdp(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_xdp_steer_counters c;
	unsigned int i;
	int rc = -ENOENT;

	RTE_SET_USED(cmd);
	RTE_SET_USED(params);
	pthread_mutex_lock(&dp_live.xdp_lock);
	if (dp_live.xdp != NULL)
		rc = dp_xdp_steer_counters(dp_live.xdp, &c);
	if (rc == 0) {
		rte_tel_data_start_dict(d);
		rte_tel_data_add_dict_string(d, "iface", dp_live.iface);
		rte_tel_data_add_dict_u64(d, "prog_id", dp_xdp_steer_prog_id(dp_live.xdp));
		rte_tel_data_add_dict_string(d, "xdp_mode", dp_xdp_steer_mode_name(dp_live.xdp));
		for (i = 0; i < CW_CNT_MAX; i++)
			rte_tel_data_add_dict_u64(d, dp_xdp_steer_counter_name(i), c.v[i]);
		rte_tel_data_add_dict_u64(d, "redirected", c.redirected);
		rte_tel_data_add_dict_u64(d, "flow_held", c.flows_held);
		rte_tel_data_add_dict_u64(d, "flow_evicted", c.flows_evicted);
		xsk_tel(d);
	}
	pthread_mutex_unlock(&dp_live.xdp_lock);
	return rc == 0 ? 0 : -1;
}

/*
 * After the port started (the PMD attached the program): find it for its counters. Reading them
 * needs CAP_SYS_ADMIN (BPF_PROG_GET_FD_BY_ID); without it the dataplane runs on, with a warning.
 */
static void
live_open_xdp(const char *prog)
{
	struct dp_xdp_steer *h;
	int rc;

	rc = dp_xsk_find(&dp_live.xsk);
	if (rc > 0)
		dp_run.xsk = &dp_live.xsk;
	else
		fprintf(stderr, "%s: warning: no AF_XDP socket found: their drop counters are not read%s%s\n",
			prog, rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
	rc = dp_xdp_steer_open(dp_live.iface, &h);
	if (rc < 0) {
		fprintf(stderr, "%s: warning: cannot read the XDP program's counters on %s: %s\n", prog,
			dp_live.iface,
			rc == -EPROTO ? "the attached program is not cw_steer" : strerror(-rc));
		return;
	}
	pthread_mutex_lock(&dp_live.xdp_lock);
	dp_live.xdp = h;
	pthread_mutex_unlock(&dp_live.xdp_lock);
	rc = rte_telemetry_register_cmd("/chainwatch/xdp", tel_xdp,
					"cw_steer XDP program on the --iface interface: counters. No parameters.");
	if (rc < 0)
		fprintf(stderr, "%s: warning: /chainwatch/xdp not registered (%s)\n", prog, strerror(-rc));
}

/*
 * At exit, after the workers stopped and before the port closes (the PMD detaches the program
 * then): the program's counters next to the port's, so that redirected == port_ipackets ==
 * rx_packets can be checked; then frees the handle.
 */
static void
live_report_close(const struct dp_conf *conf)
{
	struct dp_xdp_steer_counters c;
	struct rte_eth_stats es;
	struct dp_xdp_steer *h;
	unsigned int i;

	pthread_mutex_lock(&dp_live.xdp_lock);
	h = dp_live.xdp;
	dp_live.xdp = NULL;
	pthread_mutex_unlock(&dp_live.xdp_lock);
	if (!conf->quiet && rte_eth_stats_get(conf->port_id, &es) == 0) {
		printf("chainwatch-dp: port %u (%s, %u queue%s)\n", conf->port_id, dp_live.iface,
		       dp_live.queues, dp_live.queues == 1 ? "" : "s");
		printf("  %-22s %" PRIu64 "\n", "port_ipackets", es.ipackets);
		printf("  %-22s %" PRIu64 "\n", "port_imissed", es.imissed);
		printf("  %-22s %" PRIu64 "\n", "port_ierrors", es.ierrors);
		printf("  %-22s %" PRIu64 "\n", "port_rx_nombuf", es.rx_nombuf);
		xsk_report();
	}
	if (h == NULL)
		return;
	if (!conf->quiet && dp_xdp_steer_counters(h, &c) == 0) {
		printf("chainwatch-dp: XDP program cw_steer on %s (prog id %u, %s mode)\n",
		       dp_live.iface, dp_xdp_steer_prog_id(h), dp_xdp_steer_mode_name(h));
		for (i = 0; i < CW_CNT_MAX; i++)
			printf("  xdp_%-18s %" PRIu64 "\n", dp_xdp_steer_counter_name(i), c.v[i]);
		printf("  %-22s %" PRIu64 "\n", "xdp_redirected", c.redirected);
		printf("  %-22s %" PRIu64 "\n", "xdp_flow_held", c.flows_held);
		printf("  %-22s %" PRIu64 "\n", "xdp_flow_evicted", c.flows_evicted);
	}
	fflush(stdout);
	dp_xdp_steer_close(h);
}
#else
static int
live_prepare(const char *prog, const struct dp_conf *conf)
{
	RTE_SET_USED(conf);
	fprintf(stderr, "%s: --iface is not available: this chainwatch-dp was built without the "
			"cw_steer XDP program (clang and bpftool were missing at build time). Rebuild "
			"with them, or pass the net_af_xdp vdev as EAL arguments (docs/DEPLOY.md).\n",
		prog);
	return 1;
}

static void
live_open_xdp(const char *prog)
{
	RTE_SET_USED(prog);
}

static void
live_report_close(const struct dp_conf *conf)
{
	RTE_SET_USED(conf);
}
#endif

/*
 * --events-discard: a consumer of our own rings, attached through its own mapping as a
 * reader process would be. It reads every event (and blob) and throws it away, so the
 * producer sees a draining ring. Runs on the first lcore no worker uses (busy polling),
 * else on a control thread that sleeps 100 us when every ring is empty. Stops when the
 * workers stop (dp_stop), after one last pass.
 */
struct dp_discard {
	struct cw_shm shm;
	unsigned int lcore;  /* spare lcore it runs on, RTE_MAX_LCORE: control thread */
	pthread_t tid;
	uint64_t events;
	uint64_t blobs;
};

static struct dp_discard dp_discard;

static uint64_t
discard_pass(struct dp_discard *d)
{
	struct cw_flow_event ev;
	const struct cw_chain_blob *blob;
	uint64_t got = 0;
	uint32_t i;
	int rc;

	for (i = 0; i < d->shm.nrings; i++) {
		while ((rc = cw_evring_read(&d->shm.rings[i], &ev, &blob)) != 0) {
			got++;
			d->blobs += blob != NULL;
		}
		cw_evring_release(&d->shm.rings[i]);
	}
	d->events += got;
	return got;
}

static int
discard_lcore(void *arg)
{
	struct dp_discard *d = arg;

	while (!__atomic_load_n(&dp_stop, __ATOMIC_ACQUIRE))
		if (discard_pass(d) == 0)
			rte_pause();
	discard_pass(d);
	return 0;
}

static void *
discard_thread(void *arg)
{
	struct dp_discard *d = arg;

	while (!__atomic_load_n(&dp_stop, __ATOMIC_ACQUIRE))
		if (discard_pass(d) == 0)
			rte_delay_us_sleep(100);
	discard_pass(d);
	return NULL;
}

/* Attach and start the consumer. Returns 0 or -errno (with *why). */
static int
discard_start(const struct dp_conf *conf, const char **why)
{
	struct dp_discard *d = &dp_discard;
	unsigned int l;
	uint32_t i;
	int rc;

	rc = cw_shm_attach(&d->shm, conf->instance);
	if (rc < 0) {
		*why = "--events-discard: cannot attach to the event rings";
		return rc;
	}
	d->lcore = RTE_MAX_LCORE;
	RTE_LCORE_FOREACH_WORKER(l) {
		for (i = 0; i < conf->workers; i++)
			if (dp_run.w[i]->lcore == l)
				break;
		if (i == conf->workers) {
			d->lcore = l;
			break;
		}
	}
	if (d->lcore != RTE_MAX_LCORE)
		rc = rte_eal_remote_launch(discard_lcore, d, d->lcore);
	else
		rc = rte_ctrl_thread_create(&d->tid, "cw-discard", NULL, discard_thread, d);
	if (rc != 0) {
		cw_shm_close(&d->shm);
		*why = "--events-discard: cannot start the consumer";
		return rc < 0 ? rc : -rc;
	}
	return 0;
}

/* After the workers stopped (dp_stop set): wait for the consumer (a spare lcore is waited by main()). */
static void
discard_stop(void)
{
	struct dp_discard *d = &dp_discard;

	if (d->lcore == RTE_MAX_LCORE)
		pthread_join(d->tid, NULL);
	else
		rte_eal_wait_lcore(d->lcore);
	cw_shm_close(&d->shm);
}

static void
on_signal(int sig)
{
	RTE_SET_USED(sig);
	dp_quit = 1;
}

static uint64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
resolve_mode(struct dp_conf *conf, const struct dp_port_caps *caps, unsigned int nlc,
	     const char **why)
{
	uint32_t w = conf->workers ? conf->workers : (nlc > 0 ? nlc : 1);

	if (w > DP_MAX_WORKERS)
		w = DP_MAX_WORKERS;
	if (conf->mode == DP_MODE_AUTO) {
		if ((caps->rss || caps->spread) && caps->max_rxq >= w && nlc >= w &&
		    (w > 1 || conf->workers == 1))
			conf->mode = DP_MODE_RSS;
		else if (w == 1)
			conf->mode = DP_MODE_SINGLE;
		else
			conf->mode = DP_MODE_DISPATCH;
	}
	conf->workers = w;
	/* Without DPDK RSS, only RSS mode polls more than queue 0. */
	if (caps->spread && !caps->rss && conf->mode != DP_MODE_RSS) {
		*why = "the port's queues are fed outside DPDK (net_af_xdp queue_count > 1, net_pcap "
		       "with several rx_pcap=): only rss mode, one worker per queue, polls them all";
		return -EINVAL;
	}
	switch (conf->mode) {
	case DP_MODE_SINGLE:
		if (w != 1) {
			*why = "single mode runs one worker";
			return -EINVAL;
		}
		break;
	case DP_MODE_RSS:
		if (!caps->rss && !caps->spread) {
			*why = "the port has no RSS: use --mode dispatch";
			return -ENOTSUP;
		}
		if (caps->max_rxq < w) {
			*why = "the port has fewer RX queues than workers";
			return -EINVAL;
		}
		if (!caps->rss && caps->max_rxq != w) {
			*why = "the port's queues are fed outside DPDK (net_af_xdp queue_count, net_pcap "
			       "rx_pcap= count): run one worker per queue";
			return -EINVAL;
		}
		/* fall through */
	case DP_MODE_DISPATCH:
		if (nlc < w) {
			*why = "not enough worker lcores for --workers: give EAL more (-l / --lcores)";
			return -EINVAL;
		}
		break;
	default:
		*why = "bad mode";
		return -EINVAL;
	}
	return 0;
}

static struct dp_chaintab dp_chains;
static struct cw_shm dp_shm;
static struct rte_mempool *dp_pool;
static struct dp_replay dp_replay;

/* --replay: no port; every worker on a worker lcore of its own. */
static int
replay_mode(struct dp_conf *conf, unsigned int nlc, const char **why)
{
	uint32_t w = conf->workers ? conf->workers : (nlc > 0 ? nlc : 1);

	conf->mode = DP_MODE_REPLAY;
	conf->workers = RTE_MIN(w, (uint32_t)DP_MAX_WORKERS);
	conf->port_id = RTE_MAX_ETHPORTS; /* no port: telemetry finds none to read */
	if (nlc < conf->workers) {
		*why = "--replay runs each worker on a worker lcore: give EAL one lcore more than "
		       "--workers (-l / --lcores)";
		return -EINVAL;
	}
	return 0;
}

/* Everything after EAL: returns 0 or -errno with *why set; undoes what it did on error. */
static int
dp_setup(struct dp_conf *conf, const char **why)
{
	struct dp_port_caps caps;
	unsigned int nlc = rte_lcore_count() - 1, lcore;
	int socket, rc;
	uint32_t i, nmbufs;

	if (conf->replay != NULL) {
		rc = replay_mode(conf, nlc, why);
		if (rc < 0)
			return rc;
		socket = (int)rte_socket_id();
		goto tables;
	}
	if (conf->pcap != NULL) {
		rc = rte_eth_dev_get_port_by_name(DP_PCAP_VDEV, &conf->port_id);
		if (rc < 0) {
			*why = "the pcap vdev did not come up";
			return rc;
		}
	} else if (dp_live.iface != NULL) {
		rc = rte_eth_dev_get_port_by_name(DP_XDP_VDEV, &conf->port_id);
		if (rc < 0) {
			*why = "the net_af_xdp vdev did not come up (see the PMD's messages above)";
			return rc;
		}
	} else if (rte_eth_dev_count_avail() == 0) {
		*why = "no DPDK port: bind a NIC or pass --vdev (or use --pcap)";
		return -ENODEV;
	}
	rc = dp_port_caps(conf->port_id, &caps);
	if (rc < 0) {
		*why = "no such port (--port)";
		return rc;
	}
	if (conf->checksums < 0)
		conf->checksums = caps.wire;
	rc = resolve_mode(conf, &caps, nlc, why);
	if (rc < 0)
		return rc;
	/* Offline: the dispatcher waits for a busy worker instead of dropping. */
	conf->lossless_dispatch = conf->pcap != NULL;
	socket = rte_eth_dev_socket_id(conf->port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();

tables:
	dp_run.conf = conf;
	dp_run.port = conf->port_id;
	dp_run.nworkers = conf->workers;
	dp_run.tsc_hz = rte_get_tsc_hz();
	dp_run.tsc0 = rte_rdtsc();
	dp_run.ns0 = realtime_ns();
	dp_run.mult = (uint64_t)((__extension__(unsigned __int128)1000000000ull << 32) / dp_run.tsc_hz);

	rc = cw_shm_create(&dp_shm, conf->instance, conf->workers, conf->ev_slots,
			   conf->blob_kib * 1024u, conf->shm_mode);
	if (rc == -ENOSPC) {
		static char msg[160];

		snprintf(msg, sizeof(msg),
			 "the event rings (%.1f MiB: --workers x (--ring-slots x %zu B + --blob-kib)) do "
			 "not fit in /dev/shm: enlarge it or lower the ring sizes",
			 (double)cw_shm_size(conf->workers, conf->ev_slots, conf->blob_kib * 1024u) /
				 1048576.0,
			 sizeof(struct cw_flow_event));
		*why = msg;
		return rc;
	}
	if (rc < 0) {
		*why = "cannot create the shared-memory event rings";
		return rc;
	}
	dp_run.shm = &dp_shm;

	rc = dp_chaintab_init(&dp_chains, conf->chains, socket, conf->workers > 1);
	if (rc < 0) {
		*why = "cannot allocate the chain table (--chains; EAL memory -m)";
		goto err_shm;
	}

	lcore = rte_get_next_lcore(-1, 1, 0);
	for (i = 0; i < conf->workers; i++) {
		struct dp_worker *w = rte_zmalloc_socket("dp_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
							 socket);

		if (w == NULL) {
			rc = -ENOMEM;
			*why = "cannot allocate worker state";
			goto err_workers;
		}
		dp_run.w[i] = w;
		rc = dp_worker_init(w, i, conf, socket, &dp_chains, &dp_shm.rings[i]);
		if (rc < 0) {
			rte_free(w);
			dp_run.w[i] = NULL;
			*why = "cannot allocate worker tables (--flows, --sessions, --reasm-kib; EAL memory -m)";
			goto err_workers;
		}
		if (conf->mode == DP_MODE_SINGLE) {
			w->lcore = rte_get_main_lcore();
		} else {
			w->lcore = lcore;
			lcore = rte_get_next_lcore(lcore, 1, 0);
		}
		w->st = &dp_lcore_stats[w->lcore];
		w->port = conf->port_id;
		w->linktype = conf->linktype;
		w->checksums = conf->checksums;
		w->events_wait = conf->events_wait;
		w->queue = conf->mode == DP_MODE_RSS ? (uint16_t)i : 0;
		w->clk = conf->pcap != NULL ? &dp_clock_capture : &dp_clock_tsc;
		w->work = &dp_work[conf->rx_only ? DP_WORK_RX_ONLY : DP_WORK_HANDSHAKE];
		if (conf->mode == DP_MODE_DISPATCH) {
			char name[RTE_RING_NAMESIZE];

			snprintf(name, sizeof(name), "dp_in_%u", i);
			w->in = rte_ring_create(name, conf->ring_size, socket,
						RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (w->in == NULL) {
				rc = -rte_errno;
				*why = "cannot create a dispatch ring";
				goto err_workers;
			}
		}
	}

	if (conf->mode == DP_MODE_REPLAY) {
		rc = dp_replay_load(&dp_replay, conf->replay, conf->linktype, conf->workers,
				    conf->replay_loops, conf->replay_copy, socket, why);
		if (rc < 0)
			goto err_workers;
		for (i = 0; i < conf->workers; i++)
			dp_run.w[i]->rsrc = &dp_replay.src[i];
		dp_run.replay = &dp_replay;
		goto telemetry;
	}
	nmbufs = conf->mbufs;
	if (nmbufs == 0) {
		uint32_t nq = conf->mode == DP_MODE_RSS ? conf->workers : 1;

		nmbufs = nq * conf->rxd + 4 * DP_BURST * (conf->workers + 1) + 2 * 256 * (nlc + 1);
		if (conf->mode == DP_MODE_DISPATCH)
			nmbufs += conf->workers * conf->ring_size;
		if (nmbufs < 8192)
			nmbufs = 8192;
	}
	dp_pool = rte_pktmbuf_pool_create("dp_mbufs", nmbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  socket);
	if (dp_pool == NULL) {
		rc = -rte_errno;
		*why = "cannot create the mbuf pool (--mbufs; EAL memory -m)";
		goto err_workers;
	}
	rc = dp_port_init(conf->port_id, conf->mode == DP_MODE_RSS ? (uint16_t)conf->workers : 1,
			  conf->mode == DP_MODE_RSS && caps.rss, (uint16_t)conf->rxd, dp_pool,
			  &dp_run.ts_off, &dp_run.ts_flag);
	if (rc < 0) {
		*why = "cannot configure or start the port";
		goto err_pool;
	}
telemetry:
	rc = dp_telemetry_init();
	if (rc < 0)
		fprintf(stderr, "chainwatch-dp: warning: telemetry commands not registered (%s)\n",
			strerror(-rc));
	return 0;

err_pool:
	rte_mempool_free(dp_pool);
	dp_pool = NULL;
err_workers:
	for (i = 0; i < conf->workers; i++) {
		if (dp_run.w[i] == NULL)
			continue;
		rte_ring_free(dp_run.w[i]->in);
		dp_worker_free(dp_run.w[i]);
		rte_free(dp_run.w[i]);
		dp_run.w[i] = NULL;
	}
	dp_chaintab_free(&dp_chains);
err_shm:
	cw_shm_close(&dp_shm);
	cw_shm_unlink(conf->instance);
	dp_run.shm = NULL;
	return rc;
}

/* Undo dp_setup(). Returns 0, or -EFAULT when workers kept mbufs of --replay (a leak). */
static int
dp_teardown(const struct dp_conf *conf)
{
	uint32_t i, back = 0;

	if (conf->mode == DP_MODE_REPLAY)
		back = dp_replay_free(&dp_replay);
	else
		dp_port_fini(conf->port_id);
	for (i = 0; i < conf->workers; i++) {
		rte_ring_free(dp_run.w[i]->in);
		dp_worker_free(dp_run.w[i]);
		rte_free(dp_run.w[i]);
		dp_run.w[i] = NULL;
	}
	rte_mempool_free(dp_pool);
	dp_chaintab_free(&dp_chains);
	cw_shm_close(&dp_shm);
	dp_run.shm = NULL;
	if (back != 0) {
		fprintf(stderr, "chainwatch-dp: %u replay mbufs were not given back to their pool\n",
			back);
		return -EFAULT;
	}
	return 0;
}

static void
print_counters(const struct dp_conf *conf)
{
	struct dp_stats t;
	uint64_t pub = 0, drop = 0, bdrop = 0;
	unsigned int c;
	uint32_t i;

	dp_stats_total(&t);
	for (i = 0; i < dp_shm.nrings; i++) {
		pub += atomic_load_explicit(&dp_shm.rings[i].ctl->ev_head, memory_order_relaxed);
		drop += atomic_load_explicit(&dp_shm.rings[i].ctl->events_dropped, memory_order_relaxed);
		bdrop += atomic_load_explicit(&dp_shm.rings[i].ctl->blobs_dropped, memory_order_relaxed);
	}
	printf("chainwatch-dp: final counters (mode %s, %u worker%s, instance %s%s)\n",
	       dp_modes[conf->mode].name, conf->workers, conf->workers == 1 ? "" : "s",
	       conf->instance, dp_run.eof ? ", end of capture" : "");
	for (c = 0; c < DP_C__MAX; c++)
		printf("  %-22s %" PRIu64 "\n", dp_cnt_name(c), t.c[c]);
	printf("  %-22s %" PRIu64 "\n", "ring_events_published", pub);
	printf("  %-22s %" PRIu64 "\n", "ring_events_dropped", drop);
	printf("  %-22s %" PRIu64 "\n", "ring_blobs_dropped", bdrop);
	{
		uint64_t ps = 0, pb = 0, po = 0, os = 0;

		/*
		 * The busiest worker's peaks: what --sessions and the buffer classes must hold;
		 * and segments dropped for want of an out-of-order table, in all.
		 */
		for (i = 0; i < dp_run.nworkers; i++) {
			ps = RTE_MAX(ps, (uint64_t)dp_run.w[i]->pool.peak_sessions);
			pb = RTE_MAX(pb, dp_run.w[i]->pool.peak_buf_bytes);
			po = RTE_MAX(po, (uint64_t)dp_run.w[i]->pool.peak_ooo);
			os += dp_run.w[i]->pool.ooo_short;
		}
		printf("  %-22s %" PRIu64 "\n", "sessions_peak", ps);
		printf("  %-22s %" PRIu64 "\n", "reasm_bytes_peak", pb);
		printf("  %-22s %" PRIu64 "\n", "reasm_ooo_peak", po);
		printf("  %-22s %" PRIu64 "\n", "reasm_ooo_short", os);
	}
	{
		uint64_t v[DP_CERTREF_COUNTERS], sum[DP_CERTREF_COUNTERS] = {0};

		/* Expected Certificate messages (--cert-refs), over every worker. */
		for (i = 0; i < dp_run.nworkers; i++) {
			dp_certref_counts(&dp_run.w[i]->refs, v);
			for (c = 0; c < DP_CERTREF_COUNTERS; c++)
				sum[c] += v[c];
		}
		for (c = 0; c < DP_CERTREF_COUNTERS; c++)
			printf("  %-22s %" PRIu64 "\n", dp_certref_names[c], sum[c]);
	}
	if (conf->replay != NULL) {
		uint64_t nombuf = 0;

		for (i = 0; i < dp_replay.nsrc; i++)
			nombuf += dp_replay.src[i].nombuf;
		printf("  %-22s %" PRIu64 "\n", "replay_nombuf", nombuf);
	}
	if (conf->events_discard) {
		printf("  %-22s %" PRIu64 "\n", "discarded_events", dp_discard.events);
		printf("  %-22s %" PRIu64 "\n", "discarded_blobs", dp_discard.blobs);
	}
	fflush(stdout);
}

/* The runtime directory of a run that chose its own prefix, for runtime_dir_atexit(). */
static char dp_runtime_dir[PATH_MAX];

/* Also after rte_exit() (which cleans EAL up, then exits): a failed start leaves nothing behind. */
static void
runtime_dir_atexit(void)
{
	if (dp_runtime_dir[0] != '\0')
		dp_rundir_remove(dp_runtime_dir);
}

int
main(int argc, char **argv)
{
	struct dp_conf conf = dp_defaults;
	const char *prog = "chainwatch-dp";
	char *eal_argv[DP_EAL_ARGS_MAX];
	char *app_argv[DP_EAL_ARGS_MAX];
	char vdev[2 * PATH_MAX], mem[32], lcores[64], prefix[96], input[PATH_MAX + 96];
	char key_id[2 * CW_KEY_ID_LEN + 1];
	int own_runtime = 0;
	int eal_argc = 0, app_argc = 0, user_eal = 0, sep = -1;
	const char *why = "";
	unsigned int lcore;
	int i, rc;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	if (argc >= DP_EAL_ARGS_MAX - 8) {
		fprintf(stderr, "%s: too many arguments\n", prog);
		return 2;
	}
	app_argv[app_argc++] = argv[0];
	eal_argv[eal_argc++] = argv[0];
	if (sep < 0) {
		for (i = 1; i < argc; i++)
			app_argv[app_argc++] = argv[i];
	} else {
		for (i = 1; i < sep; i++)
			eal_argv[eal_argc++] = argv[i];
		user_eal = sep > 1;
		for (i = sep + 1; i < argc; i++)
			app_argv[app_argc++] = argv[i];
	}
	app_argv[app_argc] = NULL;
	parse_options(app_argc, app_argv, prog, &conf);
	if (conf.chain_key != NULL) {
		char kerr[256];

		if (cw_chain_key_load(conf.chain_key, kerr, sizeof(kerr)) < 0) {
			fprintf(stderr, "%s: %s\n", prog, kerr);
			return 1;
		}
	} else if (conf.pcap == NULL && conf.replay == NULL) {
		fprintf(stderr, "%s: warning: no --chain-key: chain ids are unkeyed, and a certificate "
			"issuer can search for a chain that passes for a genuine one (docs/DEPLOY.md, "
			"\"Chain key\")\n", prog);
	}

	if (conf.pcap != NULL || conf.replay != NULL) {
		const char *file = conf.pcap != NULL ? conf.pcap : conf.replay;
		int64_t n;

		if (conf.pcap != NULL && strchr(conf.pcap, ',') != NULL)
			die_usage(prog, "--pcap path '%s' must not contain ',' (EAL device syntax)",
				  conf.pcap);
		n = pcap_count(prog, file, &conf.linktype, &conf.replay_bytes);
		if (n < 0)
			return 1;
		if (n == 0 && conf.replay != NULL) {
			fprintf(stderr, "%s: --replay capture %s holds no frames\n", prog, file);
			return 1;
		}
		conf.pcap_packets = (uint64_t)n;
		if (!user_eal) {
			/*
			 * Offline runs get their own runtime directory (so several can
			 * run at once) and only EAL warnings on the console (telemetry's:
			 * errors; its one warning is that the deprecated legacy socket is
			 * not created).
			 */
			snprintf(prefix, sizeof(prefix), "--file-prefix=chainwatch-%s", conf.instance);
			eal_argv[eal_argc++] = prefix;
			own_runtime = 1;
			eal_argv[eal_argc++] = (char *)"--log-level=lib.eal:warning";
			eal_argv[eal_argc++] = (char *)"--log-level=lib.telemetry:error";
			eal_argv[eal_argc++] = (char *)"--no-pci";
			if (!hugepages_free()) {
				long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
				uint32_t w = conf.workers ? conf.workers : (ncpu > 1 ? (uint32_t)ncpu - 1 : 1);

				snprintf(mem, sizeof(mem), "%lu", estimate_mib(&conf, w));
				eal_argv[eal_argc++] = (char *)"--no-huge";
				eal_argv[eal_argc++] = (char *)"-m";
				eal_argv[eal_argc++] = mem;
			}
		}
		if (!user_eal && (conf.workers > 1 || conf.replay != NULL)) {
			/* One main lcore plus one per worker, floating over the CPUs there are. */
			long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
			uint32_t w = conf.workers ? conf.workers : (ncpu > 1 ? (uint32_t)ncpu - 1 : 1);

			snprintf(lcores, sizeof(lcores), "--lcores=(0-%u)@(0-%ld)", w,
				 ncpu > 1 ? ncpu - 1 : 0);
			eal_argv[eal_argc++] = lcores;
		}
		if (conf.pcap != NULL) {
			snprintf(vdev, sizeof(vdev), "--vdev=%s,rx_pcap=%s", DP_PCAP_VDEV, conf.pcap);
			eal_argv[eal_argc++] = vdev;
		}
	} else if (dp_live.iface != NULL) {
		rc = live_prepare(prog, &conf);
		if (rc != 0)
			return rc;
		if (!user_eal) {
			long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

			snprintf(prefix, sizeof(prefix), "--file-prefix=chainwatch-%s", conf.instance);
			eal_argv[eal_argc++] = prefix;
			own_runtime = 1;
			eal_argv[eal_argc++] = (char *)"--log-level=lib.eal:warning";
			eal_argv[eal_argc++] = (char *)"--log-level=lib.telemetry:error";
			eal_argv[eal_argc++] = (char *)"--no-pci";
			if (!hugepages_free()) {
				snprintf(mem, sizeof(mem), "%lu", estimate_mib(&conf, conf.workers));
				eal_argv[eal_argc++] = (char *)"--no-huge";
				eal_argv[eal_argc++] = (char *)"-m";
				eal_argv[eal_argc++] = mem;
			}
			/* The main lcore plus one per worker, floating over the CPUs there are. */
			snprintf(lcores, sizeof(lcores), "--lcores=(0-%u)@(0-%ld)", conf.workers,
				 ncpu > 1 ? ncpu - 1 : 0);
			eal_argv[eal_argc++] = lcores;
		}
		snprintf(vdev, sizeof(vdev),
			 "--vdev=%s,iface=%s,start_queue=0,queue_count=%u,xdp_prog=%s", DP_XDP_VDEV,
			 dp_live.iface, dp_live.queues, dp_live.obj);
		eal_argv[eal_argc++] = vdev;
	}
	eal_argv[eal_argc] = NULL;

	check_memory(prog, &conf, conf.workers ? conf.workers : 1);
	if (own_runtime) {
		/*
		 * Registered before EAL starts, so a failed or interrupted start
		 * removes the directory it made. One that is already there may be a
		 * running instance's (a second start with the same --instance fails on
		 * its lock): it is left alone unless this start becomes its primary.
		 */
		char dir[PATH_MAX];

		dp_rundir_path(dir, sizeof(dir), prefix + strlen("--file-prefix="));
		if (access(dir, F_OK) != 0)
			snprintf(dp_runtime_dir, sizeof(dp_runtime_dir), "%s", dir);
		atexit(runtime_dir_atexit);
	}
	/* A signal during EAL start-up is honoured right after it. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: %s\n", rte_strerror(rte_errno));
	if (own_runtime)
		snprintf(dp_runtime_dir, sizeof(dp_runtime_dir), "%s", rte_eal_get_runtime_dir());
	if (dp_quit) {
		fprintf(stderr, "%s: stopped by a signal during start-up\n", prog);
		rte_eal_cleanup();
		return 0;
	}

	rc = dp_setup(&conf, &why);
	if (rc < 0)
		rte_exit(EXIT_FAILURE, "%s: %s\n", why, strerror(-rc));
	if (dp_live.iface != NULL)
		live_open_xdp(prog);

	if (cw_chain_keyed()) {
		uint8_t kid[CW_KEY_ID_LEN];

		cw_chain_key_id(kid);
		cw_hex(kid, sizeof(kid), key_id);
	} else {
		snprintf(key_id, sizeof(key_id), "none");
	}
	/* The input, then what every mode shares. */
	if (conf.replay != NULL && conf.replay_loops == 0)
		snprintf(input, sizeof(input), "replay of %s (%u frames %s, passes: until stopped)",
			 conf.replay, dp_replay.nframes, conf.replay_copy ? "copied" : "attached");
	else if (conf.replay != NULL)
		snprintf(input, sizeof(input), "replay of %s (%u frames %s, passes: %" PRIu64 ")",
			 conf.replay, dp_replay.nframes, conf.replay_copy ? "copied" : "attached",
			 conf.replay_loops);
	else
		snprintf(input, sizeof(input), "port %u%s%s", conf.port_id,
			 dp_live.iface != NULL ? ", AF_XDP on " : "",
			 dp_live.iface != NULL ? dp_live.iface : "");
	if (!conf.quiet)
		printf("chainwatch-dp: %s, mode %s, %u worker%s, work %s, clock %s, shm %s%s, "
		       "chain key %s, xxh3 %s, checksums %s\n", input, dp_modes[conf.mode].name,
		       conf.workers, conf.workers == 1 ? "" : "s", dp_run.w[0]->work->name,
		       dp_run.w[0]->clk->name, CW_SHM_PREFIX, conf.instance, key_id,
		       cw_chain_xxh3_name(), conf.checksums ? "verify" : "off");
	fflush(stdout);
	cw_shm_set_state(&dp_shm, CW_SHM_RUNNING);
	if (conf.events_discard) {
		rc = discard_start(&conf, &why);
		if (rc < 0)
			rte_exit(EXIT_FAILURE, "%s: %s\n", why, strerror(-rc));
	}

	if (conf.duration_s != 0)
		dp_run.stop_tsc = rte_rdtsc() + (uint64_t)conf.duration_s * rte_get_tsc_hz();
	if (dp_modes[conf.mode].worker_loop != NULL)
		for (i = 0; i < (int)conf.workers; i++)
			rte_eal_remote_launch(dp_modes[conf.mode].worker_loop, dp_run.w[i],
					      dp_run.w[i]->lcore);
	dp_modes[conf.mode].main_loop();
	RTE_LCORE_FOREACH_WORKER(lcore)
		rte_eal_wait_lcore(lcore);
	if (conf.events_discard)
		discard_stop();

	/* Every event is in the rings now. */
	cw_shm_set_state(&dp_shm, dp_run.eof && !dp_quit ? CW_SHM_DONE : CW_SHM_EXITED);
	if (!conf.quiet)
		print_counters(&conf);
	if (dp_live.iface != NULL)
		live_report_close(&conf);
	rc = dp_teardown(&conf);
	rte_eal_cleanup();
	return rc < 0 ? 1 : 0; /* runtime_dir_atexit() removes an own runtime directory */
}
