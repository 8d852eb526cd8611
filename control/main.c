/* SPDX-License-Identifier: BSD-3-Clause */
/* chainwatchd: consume the dataplane's event rings, judge every TLS flow, write JSON, SQLite and
 * metrics. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "anon.h"
#include "cp.h"
#include "cw_config.h"
#include "ingest.h"
#include "metrics.h"
#include "opts.h"

#define CP_DEFAULT_DB "/var/lib/chainwatch/chainwatch.db"
#define CP_DEFAULT_USER "nobody"
#define CP_JSON_STDIO_BUF (1u << 20)

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

enum {
	OPT_SHM = 256,
	OPT_DB,
	OPT_JSON,
	OPT_TRUST,
	OPT_TRUST_EXTEND,
	OPT_ANCHORS,
	OPT_ANCHORS_DIR,
	OPT_PINS,
	OPT_METRICS,
	OPT_ANON,
	OPT_ANON_KEY,
	OPT_ANON_V4,
	OPT_ANON_V6,
	OPT_USER,
	OPT_EXIT_DONE,
	OPT_FLUSH_EVENTS,
	OPT_FLUSH_MS,
	OPT_PROGRESS,
	OPT_QUIET,
	OPT_SUMMARY,
	OPT_FANOUT_NAMES,
	OPT_FANOUT_WINDOW,
	OPT_T13_TOL,
	OPT_T13_MIN,
	OPT_ASSOC_WINDOW,
	OPT_RETENTION,
	OPT_MAX_FLOWS,
	OPT_MIN_RSA,
	OPT_STRIP_MIN,
	OPT_SHIFT_MAX,
	OPT_BASELINE_DAYS,
	OPT_MAX_BASELINES,
	OPT_MAX_CHAINS,
	OPT_INTERMEDIATES,
	OPT_CHAIN_CACHE,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{"shm", required_argument, NULL, OPT_SHM},
	{"db", required_argument, NULL, OPT_DB},
	{"json", required_argument, NULL, OPT_JSON},
	{"trust-store", required_argument, NULL, OPT_TRUST},
	{"trust-store-extend", no_argument, NULL, OPT_TRUST_EXTEND},
	{"anchors", required_argument, NULL, OPT_ANCHORS},
	{"anchors-dir", required_argument, NULL, OPT_ANCHORS_DIR},
	{"pins", required_argument, NULL, OPT_PINS},
	{"metrics", required_argument, NULL, OPT_METRICS},
	{"anonymise", required_argument, NULL, OPT_ANON},
	{"anon-key-file", required_argument, NULL, OPT_ANON_KEY},
	{"anon-v4-prefix", required_argument, NULL, OPT_ANON_V4},
	{"anon-v6-prefix", required_argument, NULL, OPT_ANON_V6},
	{"user", required_argument, NULL, OPT_USER},
	{"exit-when-done", no_argument, NULL, OPT_EXIT_DONE},
	{"flush-events", required_argument, NULL, OPT_FLUSH_EVENTS},
	{"flush-interval-ms", required_argument, NULL, OPT_FLUSH_MS},
	{"progress", no_argument, NULL, OPT_PROGRESS},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"summary", required_argument, NULL, OPT_SUMMARY},
	{"fanout-names", required_argument, NULL, OPT_FANOUT_NAMES},
	{"fanout-window", required_argument, NULL, OPT_FANOUT_WINDOW},
	{"t13-size-tolerance", required_argument, NULL, OPT_T13_TOL},
	{"t13-min-baseline", required_argument, NULL, OPT_T13_MIN},
	{"assoc-window", required_argument, NULL, OPT_ASSOC_WINDOW},
	{"retention-days", required_argument, NULL, OPT_RETENTION},
	{"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
	{"min-rsa-bits", required_argument, NULL, OPT_MIN_RSA},
	{"strip-min", required_argument, NULL, OPT_STRIP_MIN},
	{"validity-shift-max", required_argument, NULL, OPT_SHIFT_MAX},
	{"baseline-days", required_argument, NULL, OPT_BASELINE_DAYS},
	{"max-baselines", required_argument, NULL, OPT_MAX_BASELINES},
	{"max-chains", required_argument, NULL, OPT_MAX_CHAINS},
	{"intermediates", required_argument, NULL, OPT_INTERMEDIATES},
	{"chain-cache", required_argument, NULL, OPT_CHAIN_CACHE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static void
usage(FILE *f)
{
	struct cp_config d;

	cp_config_defaults(&d);
	fprintf(f,
		"Usage: chainwatchd [OPTION]...\n"
		"Consume the event rings of a chainwatch-dp instance, judge every TLS flow's\n"
		"certificate chain (substituted, suspicious, consistent, unknown) and write the\n"
		"verdicts as JSON lines, into a SQLite database and as Prometheus metrics.\n"
		"\n"
		"Input:\n"
		"  --shm NAME               dataplane instance to attach to "
		"(/dev/shm/chainwatch.NAME;\n"
		"                           default \"default\"); reattaches when either side "
		"restarts\n"
		"  --exit-when-done         exit once the dataplane marked its input done (or "
		"exited)\n"
		"                           and every ring is drained; exit 1 if it died instead\n"
		"Output:\n"
		"  --db FILE                SQLite database (WAL), created if missing\n"
		"                           (default " CP_DEFAULT_DB "; \"none\": in memory only)\n"
		"  --json FILE|-            append JSON lines to FILE, or write them to stdout "
		"(default: none)\n"
		"  --metrics ADDR:PORT|off  serve Prometheus /metrics; numeric address, port "
		"1..65535\n"
		"                           (default " CP_METRICS_DEFAULT_ADDR ")\n"
		"  --summary FILE|-         at exit, print a table of substituted and suspicious "
		"flows\n"
		"                           by name to FILE or stdout\n"
		"  --progress               report flows judged so far on stderr\n"
		"  --quiet                  no notices on stderr (attached, reattached); warnings\n"
		"                           and errors still\n"
		"Trust and detection:\n"
		"  --trust-store PEM        CA bundle for path validation (default: system "
		"bundle)\n"
		"  --trust-store-extend     add --trust-store (required) to the system bundle "
		"instead of\n"
		"                           replacing it\n"
		"  --anchors FILE           operator interception anchors (PEM or "
		"\"spki_sha256<TAB>label\")\n"
		"  --anchors-dir DIR        shipped anchors (manifest.tsv + PEMs; "
		"default " CW_DATADIR "/anchors)\n"
		"  --pins FILE              operator pins (\"name<TAB>spki_sha256\" lines)\n"
		"  --fanout-names N         untrusted issuer key signing N names ... (default %u)\n"
		"  --fanout-window SEC      ... within SEC seconds fires issuer_fanout (default "
		"%u)\n"
		"  --t13-size-tolerance PCT TLS 1.3 server flight size divergence allowed (default "
		"%u)\n"
		"  --t13-min-baseline N     flows before TLS 1.3 baselines are used (default %u)\n"
		"  --assoc-window SEC       TLS 1.3 association with substituted flows (default "
		"%u)\n"
		"  --min-rsa-bits N         RSA keys below N bits are weak (default %u)\n"
		"  --strip-min N            baseline extensions missing to count as stripped "
		"(default %u)\n"
		"  --validity-shift-max SEC largest backdating read as validity_shift (default "
		"%u)\n"
		"  --retention-days N       prune flows and alerts older than N days (default %u)\n"
		"  --baseline-days N        prune baselines unseen for N days (default %u)\n"
		"  --max-flows N            row cap on the flows table (default %" PRIu64 ")\n"
		"  --max-baselines N        row cap on name and on server baselines; the least "
		"recently\n"
		"                           seen go first (default %" PRIu64 ")\n"
		"  --max-chains N           row cap on chains (and their certificates); the least\n"
		"                           recently seen go first (default %" PRIu64 ")\n"
		"  --intermediates N        intermediates learned from valid paths, to complete "
		"chains\n"
		"                           that lack theirs; the oldest go first; 0: none (default "
		"%u)\n"
		"  --chain-cache N          analysed chains held in memory, ~10 KiB each; a flow "
		"whose\n"
		"                           chain is not held re-analyses it from the database "
		"(default\n"
		"                           %u)\n"
		"Privacy:\n"
		"  --anonymise MODE         client addresses: none (default), truncate, keyed; "
		"applied\n"
		"                           before anything is written (JSON, database, metrics)\n"
		"  --anon-v4-prefix BITS    truncate: IPv4 bits kept (default 24)\n"
		"  --anon-v6-prefix BITS    truncate: IPv6 bits kept (default 48)\n"
		"  --anon-key-file FILE     keyed: 32 raw bytes or 64 hex digits (openssl rand "
		"-hex 32);\n"
		"                           prefix-preserving Crypto-PAn with AES-128; the file "
		"must not\n"
		"                           be accessible to group or others (chmod 600)\n"
		"Process:\n"
		"  --user NAME              when started as root, switch to NAME after the "
		"database,\n"
		"                           JSON output, metrics socket and rings are open\n"
		"                           (default " CP_DEFAULT_USER "; \"root\" keeps root)\n"
		"  --flush-events N         commit the database every N events (default 1000) ...\n"
		"  --flush-interval-ms MS   ... or every MS milliseconds, and whenever idle "
		"(default 1000)\n"
		"  -h, --help               show this help\n"
		"  --version                show the version\n"
		"\n"
		"SIGINT or SIGTERM: commit and exit 0. JSON schema: docs/OUTPUT.md.\n",
		d.fanout_names, d.fanout_window_s, d.t13_size_tolerance_pct, d.t13_min_baseline,
		d.assoc_window_s, d.min_rsa_bits, d.strip_min, d.validity_shift_max_s,
		d.retention_days, d.baseline_days, d.max_flows, d.max_baselines, d.max_chains,
		d.intermediates, d.chain_cache);
}

/* A numeric option's value, within the bounds of the shared table (control/opts.c). */
static int
num_u64(const char *opt, const char *s, uint64_t *out)
{
	char err[160];

	if (cp_num_opt_parse(opt, s, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "chainwatchd: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

static int
num_uint(const char *opt, const char *s, unsigned int *out)
{
	uint64_t v;

	if (num_u64(opt, s, &v) < 0)
		return -EINVAL;
	*out = (unsigned int)v; /* the table bounds these options by UINT_MAX */
	return 0;
}

struct args {
	struct cp_config cfg;
	struct cp_ingest_opts io;
	const char *db;
	const char *json;
	const char *metrics;
	const char *summary;
	const char *user;
	enum cp_anon_mode anon_mode;
	const char *anon_key;
	unsigned int v4_bits, v6_bits;
};

static int
parse_args(int argc, char **argv, struct args *a)
{
	char err[512];
	int c, li = -1;

	memset(a, 0, sizeof(*a));
	cp_config_defaults(&a->cfg);
	a->io.instance = "default";
	a->io.flush_events = 1000;
	a->io.flush_ms = 1000;
	a->db = CP_DEFAULT_DB;
	a->metrics = CP_METRICS_DEFAULT_ADDR;
	a->user = CP_DEFAULT_USER;
	a->v4_bits = 24;
	a->v6_bits = 48;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_opts, &li)) != -1) {
		const char *opt = li >= 0 ? long_opts[li].name : "";
		char name[64];
		int rc = 0;

		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("chainwatchd %s\n", CW_VERSION);
			exit(0);
		case OPT_SHM:
			a->io.instance = optarg;
			break;
		case OPT_DB:
			a->db = optarg;
			break;
		case OPT_JSON:
			a->json = optarg;
			break;
		case OPT_TRUST:
			a->cfg.trust_store = optarg;
			break;
		case OPT_TRUST_EXTEND:
			a->cfg.trust_store_extend = 1;
			break;
		case OPT_ANCHORS:
			a->cfg.anchors_extra = optarg;
			break;
		case OPT_ANCHORS_DIR:
			a->cfg.anchors_dir = optarg;
			break;
		case OPT_PINS:
			a->cfg.pins_file = optarg;
			break;
		case OPT_METRICS:
			a->metrics = optarg;
			break;
		case OPT_ANON:
			if (cp_anon_mode_parse(optarg, &a->anon_mode) < 0) {
				fprintf(stderr,
					"chainwatchd: --anonymise %s: expected none, truncate or "
					"keyed\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_ANON_KEY:
			a->anon_key = optarg;
			break;
		case OPT_ANON_V4:
			rc = num_uint(opt, optarg, &a->v4_bits);
			break;
		case OPT_ANON_V6:
			rc = num_uint(opt, optarg, &a->v6_bits);
			break;
		case OPT_USER:
			a->user = optarg;
			break;
		case OPT_EXIT_DONE:
			a->io.exit_when_done = 1;
			break;
		case OPT_FLUSH_EVENTS:
			rc = num_uint(opt, optarg, &a->io.flush_events);
			break;
		case OPT_FLUSH_MS:
			rc = num_uint(opt, optarg, &a->io.flush_ms);
			break;
		case OPT_PROGRESS:
			a->io.progress = 1;
			break;
		case OPT_QUIET:
			a->io.quiet = 1;
			break;
		case OPT_SUMMARY:
			a->summary = optarg;
			a->io.summary = 1;
			break;
		case OPT_FANOUT_NAMES:
			rc = num_uint(opt, optarg, &a->cfg.fanout_names);
			break;
		case OPT_FANOUT_WINDOW:
			rc = num_uint(opt, optarg, &a->cfg.fanout_window_s);
			break;
		case OPT_T13_TOL:
			rc = num_uint(opt, optarg, &a->cfg.t13_size_tolerance_pct);
			break;
		case OPT_T13_MIN:
			rc = num_uint(opt, optarg, &a->cfg.t13_min_baseline);
			break;
		case OPT_ASSOC_WINDOW:
			rc = num_uint(opt, optarg, &a->cfg.assoc_window_s);
			break;
		case OPT_RETENTION:
			rc = num_uint(opt, optarg, &a->cfg.retention_days);
			break;
		case OPT_MAX_FLOWS:
			rc = num_u64(opt, optarg, &a->cfg.max_flows);
			break;
		case OPT_MIN_RSA:
			rc = num_uint(opt, optarg, &a->cfg.min_rsa_bits);
			break;
		case OPT_STRIP_MIN:
			rc = num_uint(opt, optarg, &a->cfg.strip_min);
			break;
		case OPT_SHIFT_MAX:
			rc = num_uint(opt, optarg, &a->cfg.validity_shift_max_s);
			break;
		case OPT_BASELINE_DAYS:
			rc = num_uint(opt, optarg, &a->cfg.baseline_days);
			break;
		case OPT_MAX_BASELINES:
			rc = num_u64(opt, optarg, &a->cfg.max_baselines);
			break;
		case OPT_MAX_CHAINS:
			rc = num_u64(opt, optarg, &a->cfg.max_chains);
			break;
		case OPT_INTERMEDIATES:
			rc = num_uint(opt, optarg, &a->cfg.intermediates);
			break;
		case OPT_CHAIN_CACHE:
			rc = num_uint(opt, optarg, &a->cfg.chain_cache);
			break;
		case ':':
			fprintf(stderr, "chainwatchd: option %s needs a value (see --help)\n",
				cp_opt_refused(c, argv, long_opts, li, name, sizeof(name)));
			return -EINVAL;
		default:
			fprintf(stderr, "chainwatchd: unknown option %s (see --help)\n",
				cp_opt_refused(c, argv, long_opts, li, name, sizeof(name)));
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
		li = -1;
	}
	if (optind < argc) {
		fprintf(stderr, "chainwatchd: unexpected argument \"%s\" (see --help)\n",
			argv[optind]);
		return -EINVAL;
	}
	/* A malformed address is a usage error; one that cannot be bound is found when binding. */
	if (strcmp(a->metrics, "off") != 0 &&
	    cp_metrics_check_addr(a->metrics, err, sizeof(err)) < 0) {
		fprintf(stderr, "chainwatchd: %s\n", err);
		return -EINVAL;
	}
	if (a->cfg.trust_store_extend && a->cfg.trust_store == NULL) {
		fprintf(stderr, "chainwatchd: --trust-store-extend needs --trust-store\n");
		return -EINVAL;
	}
	if (a->anon_mode == CP_ANON_KEYED && a->anon_key == NULL) {
		fprintf(stderr, "chainwatchd: --anonymise keyed needs --anon-key-file\n");
		return -EINVAL;
	}
	if (a->anon_key != NULL && a->anon_mode != CP_ANON_KEYED) {
		fprintf(stderr,
			"chainwatchd: --anon-key-file is only used with --anonymise keyed\n");
		return -EINVAL;
	}
	/* Resolve the user now: finding out only after a dataplane appears is too late. */
	if (geteuid() == 0 && strcmp(a->user, "root") != 0 && getpwnam(a->user) == NULL) {
		fprintf(stderr, "chainwatchd: --user %s: no such user\n", a->user);
		return -EINVAL;
	}
	if (strcmp(a->db, "none") == 0 || strcmp(a->db, ":memory:") == 0)
		a->cfg.db_path = NULL;
	else
		a->cfg.db_path = a->db;
	return 0;
}

/* Switch to an unprivileged user once everything that needs root is open. */
static int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0 || strcmp(user, "root") == 0)
		return 0;
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		fprintf(stderr, "chainwatchd: --user %s: no such user\n", user);
		return -ENOENT;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		int rc = -errno;

		fprintf(stderr, "chainwatchd: switching to user %s: %s\n", user, strerror(errno));
		return rc;
	}
	/* Make sure there is no way back. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		fprintf(stderr, "chainwatchd: switching to user %s: root could be regained\n",
			user);
		return -EPERM;
	}
	return 0;
}

static int
file_exists(const char *path)
{
	struct stat st;

	return path != NULL && stat(path, &st) == 0;
}

/* Remove a database this run created, with its WAL companions. */
static void
remove_db(const char *path)
{
	char p[PATH_MAX];

	unlink(path);
	if (snprintf(p, sizeof(p), "%s-wal", path) < (int)sizeof(p))
		unlink(p);
	if (snprintf(p, sizeof(p), "%s-shm", path) < (int)sizeof(p))
		unlink(p);
	if (snprintf(p, sizeof(p), "%s-journal", path) < (int)sizeof(p))
		unlink(p);
}

int
main(int argc, char **argv)
{
	struct args a;
	struct cp_anon anon;
	struct cp_metrics metrics;
	struct cp_ingest in;
	struct cp_engine *engine;
	struct sigaction sa;
	uint8_t key[CP_ANON_KEY_LEN];
	char err[512];
	FILE *json = NULL, *summary = NULL;
	int rc, db_existed = 1, json_created = 0, exit_code = 1;

	if (parse_args(argc, argv, &a) < 0)
		return 2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (a.anon_mode == CP_ANON_KEYED) {
		rc = cp_anon_load_key(a.anon_key, key, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "chainwatchd: %s\n", err);
			return 1;
		}
	}
	rc = cp_anon_init(&anon, a.anon_mode, a.v4_bits, a.v6_bits,
			  a.anon_mode == CP_ANON_KEYED ? key : NULL);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		fprintf(stderr, "chainwatchd: anonymisation setup: %s\n", strerror(-rc));
		return 1;
	}

	cp_metrics_init(&metrics);
	if (strcmp(a.metrics, "off") != 0) {
		rc = cp_metrics_listen(&metrics, a.metrics, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "chainwatchd: %s\n", err);
			goto err_fini_metrics;
		}
	}
	/*
	 * Serve before the wait for a dataplane: a scrape must read
	 * chainwatch_dataplane_attached 0 then, not hang. The thread touches only
	 * the socket bound above and the counters, so it may outlive the switch
	 * of user (which applies to every thread).
	 */
	rc = cp_metrics_start(&metrics);
	if (rc < 0) {
		fprintf(stderr, "chainwatchd: metrics thread: %s\n", strerror(-rc));
		goto err_fini_metrics;
	}

	if (a.summary != NULL) {
		if (strcmp(a.summary, "-") == 0) {
			summary = stdout;
		} else {
			summary = fopen(a.summary, "we");
			if (summary == NULL) {
				fprintf(stderr, "chainwatchd: --summary %s: %s\n", a.summary,
					strerror(errno));
				goto err_fini_metrics;
			}
		}
	}

	if (a.json != NULL) {
		if (strcmp(a.json, "-") == 0) {
			json = stdout;
		} else {
			json_created = !file_exists(a.json);
			/* Append: a restarted daemon continues the same log. */
			json = fopen(a.json, "ae");
			if (json == NULL) {
				fprintf(stderr, "chainwatchd: --json %s: %s\n", a.json,
					strerror(errno));
				goto err_close_summary;
			}
		}
		setvbuf(json, NULL, _IOFBF, CP_JSON_STDIO_BUF);
	}

	db_existed = file_exists(a.cfg.db_path);
	engine = cp_engine_open(&a.cfg, err, sizeof(err));
	if (engine == NULL) {
		fprintf(stderr, "chainwatchd: %s\n",
			err[0] ? err : "cannot open the analysis engine");
		goto err_close_json;
	}

	rc = cp_ingest_init(&in, &a.io, engine, &anon, json, &metrics, &stop_flag);
	if (rc < 0) {
		fprintf(stderr, "chainwatchd: %s\n", strerror(-rc));
		goto err_close_engine;
	}
	rc = cp_ingest_attach(&in);
	if (rc == -EINTR) {
		exit_code = 0; /* stopped while waiting: nothing was consumed */
		goto err_fini_ingest;
	}
	if (rc < 0) {
		fprintf(stderr, "chainwatchd: dataplane instance \"%s\": %s\n", a.io.instance,
			rc == -EPROTO	     ? "segment layout or ABI version differs from this build"
			: rc == -EKEYREJECTED ? in.err
					      : strerror(-rc));
		goto err_fini_ingest;
	}
	if (!a.io.quiet)
		fprintf(stderr,
			"chainwatchd: attached to dataplane instance \"%s\" (pid %d, %u rings)\n",
			a.io.instance, (int)in.shm.pid, in.shm.nrings);

	rc = drop_privileges(a.user);
	if (rc < 0)
		goto err_fini_ingest;

	rc = cp_ingest_run(&in);
	exit_code = rc < 0 ? 1 : 0;
	if (rc == -EKEYREJECTED) /* a restarted dataplane with another key */
		fprintf(stderr, "chainwatchd: dataplane instance \"%s\": %s\n", a.io.instance, in.err);
	if (summary != NULL)
		cp_ingest_summary(&in, summary);
	/* The database and JSON keep what was judged even after a failure. */
	db_existed = 1;
	json_created = 0;

err_fini_ingest:
	cp_ingest_fini(&in);
err_close_engine:
	cp_engine_close(engine);
err_close_json:
	/* A failed start leaves no database or JSON file behind that it created. */
	if (exit_code != 0 && !db_existed && a.cfg.db_path != NULL)
		remove_db(a.cfg.db_path);
	if (json != NULL && json != stdout && fclose(json) != 0 && exit_code == 0) {
		fprintf(stderr, "chainwatchd: --json %s: %s\n", a.json, strerror(errno));
		exit_code = 1;
	} else if (json == stdout && fflush(stdout) != 0 && exit_code == 0) {
		exit_code = 1;
	}
	if (exit_code != 0 && json_created)
		unlink(a.json);
err_close_summary:
	if (summary != NULL && summary != stdout)
		fclose(summary);
	else if (summary == stdout)
		fflush(stdout);
err_fini_metrics:
	cp_metrics_fini(&metrics);
	cp_anon_fini(&anon);
	return exit_code;
}
