/* SPDX-License-Identifier: BSD-3-Clause */
/* chainwatch: analyse captures with chainwatch-dp + chainwatchd, and report from the SQLite
 * database. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cp.h"
#include "cw_config.h"
#include "evring.h"
#include "opts.h"
#include "text.h"

#ifndef CP_BINDIR
#define CP_BINDIR "/usr/local/bin"
#endif
#define CP_DEFAULT_DB "/var/lib/chainwatch/chainwatch.db"
#define CLI_MAX_ARGS 64 /* argv entries passed to one child */
#define CLI_SUMMARY_ROWS 200
/* The longest column the engine writes: "issuer: " and a certificate name. */
#define CLI_CELL_MAX CP_TEXT_LEN(CP_DN_MAX + 16)

static volatile sig_atomic_t cli_stop;

static void
on_signal(int sig)
{
	cli_stop = sig;
}

static void
usage_main(FILE *f)
{
	fprintf(f, "Usage: chainwatch COMMAND [OPTION]...\n"
		   "Detect substituted TLS certificate chains (state or corporate interception).\n"
		   "\n"
		   "Commands:\n"
		   "  analyze FILE...        judge every TLS flow in capture files (pcap/pcapng)\n"
		   "  report                 summary of a database: flows by verdict, top "
		   "substituted\n"
		   "                         names, interception anchors seen\n"
		   "  flows                  list judged flows (e.g. --verdict substituted)\n"
		   "  chains NAME            certificate chains seen for a server name\n"
		   "\n"
		   "Run \"chainwatch COMMAND --help\" for the options of each command.\n"
		   "  -h, --help             show this help\n"
		   "  --version              show the version\n");
}

/* ---------------------------------------------------------------- database reports */

static sqlite3 *
db_open(const char *path)
{
	sqlite3 *db = NULL;
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "chainwatch: --db %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "chainwatch: --db %s: %s\n", path,
			db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static sqlite3_stmt *
db_prep(sqlite3 *db, const char *sql, const char *path)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "chainwatch: %s: %s (not a chainwatch database?)\n", path,
			sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

static const char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

/*
 * Column i for a text table. Names, certificate names and labels hold what a
 * client, a server or a certificate sent: rendered so that none of it acts on
 * the terminal (docs/OUTPUT.md). Empty gives empty.
 */
static const char *
cell(sqlite3_stmt *st, int i, char buf[CLI_CELL_MAX])
{
	return cp_text_cell(col(st, i), buf, CLI_CELL_MAX);
}

/* A server name column: as cell(), "(no name)" when the flow had none. */
static const char *
name_cell(sqlite3_stmt *st, int i, char buf[CLI_CELL_MAX])
{
	return col(st, i)[0] ? cell(st, i, buf) : "(no name)";
}

static int
db_step_done(sqlite3 *db, int rc, const char *path)
{
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "chainwatch: %s: %s\n", path, sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

/* Names of a flow's signals from its JSON column, comma-separated. */
#define SQL_SIGNAL_NAMES                                                                           \
	"(SELECT group_concat(name, ',') FROM (SELECT DISTINCT json_extract(value, '$.name') AS "  \
	"name FROM json_each(CASE WHEN json_valid(%s) THEN %s ELSE '[]' END)))"

static int
report_summary(sqlite3 *db, const char *path, int64_t after_id, FILE *out)
{
	char sql[2048];
	sqlite3_stmt *st;
	int rc, rows = 0;

	/* Per (name, verdict): count, signal names, and the anchor or else the leaf issuer. */
	snprintf(sql, sizeof(sql),
		 "SELECT f.name, f.verdict, count(*),"
		 " (SELECT group_concat(n, ',') FROM (SELECT DISTINCT json_extract(j.value, "
		 "'$.name') AS n"
		 "   FROM flows f2, json_each(CASE WHEN json_valid(f2.signals) THEN f2.signals "
		 "ELSE '[]' END) j"
		 "   WHERE f2.name IS f.name AND f2.verdict = f.verdict AND f2.id > ?1"
		 "   AND f2.verdict IN ('substituted', 'suspicious'))),"
		 " (SELECT CASE WHEN c.anchor != '' THEN 'anchor: ' || c.anchor"
		 "   ELSE 'issuer: ' || IFNULL(ce.issuer, '') END"
		 "   FROM flows f3 JOIN chains c ON c.chain_id = f3.chain_id"
		 "   LEFT JOIN certs ce ON ce.sha256 = c.leaf_sha256"
		 "   WHERE f3.name IS f.name AND f3.verdict = f.verdict AND f3.id > ?1"
		 "   AND f3.verdict IN ('substituted', 'suspicious') LIMIT 1)"
		 " FROM flows f WHERE f.id > ?1 AND f.verdict IN ('substituted', 'suspicious')"
		 " GROUP BY f.name, f.verdict"
		 " ORDER BY f.verdict = 'substituted' DESC, count(*) DESC, f.name LIMIT %d",
		 CLI_SUMMARY_ROWS);
	st = db_prep(db, sql, path);
	if (st == NULL)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, after_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char name[CLI_CELL_MAX], evidence[CLI_CELL_MAX];

		if (rows++ == 0)
			fprintf(out, "%-40s %-12s %7s  %-40s %s\n", "NAME", "VERDICT", "FLOWS",
				"SIGNALS", "ANCHOR/ISSUER");
		fprintf(out, "%-40s %-12s %7lld  %-40s %s\n", name_cell(st, 0, name), col(st, 1),
			(long long)sqlite3_column_int64(st, 2), col(st, 3), cell(st, 4, evidence));
	}
	if (rows == 0 && rc == SQLITE_DONE)
		fprintf(out, "No substituted or suspicious flows.\n");
	rc = db_step_done(db, rc, path);
	sqlite3_finalize(st);
	return rc;
}

static int
verdict_counts(sqlite3 *db, const char *path, int64_t after_id, FILE *out)
{
	static const char *const order[] = {"substituted", "suspicious", "consistent", "unknown"};
	long long n[4] = {0}, total = 0;
	sqlite3_stmt *st;
	unsigned int i;
	int rc;

	st = db_prep(db, "SELECT verdict, count(*) FROM flows WHERE id > ? GROUP BY verdict", path);
	if (st == NULL)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, after_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (i = 0; i < 4; i++)
			if (strcmp(col(st, 0), order[i]) == 0)
				n[i] += sqlite3_column_int64(st, 1);
		total += sqlite3_column_int64(st, 1);
	}
	rc = db_step_done(db, rc, path);
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	fprintf(out,
		"%lld TLS flows judged: %lld substituted, %lld suspicious, %lld consistent, %lld "
		"unknown\n",
		total, n[0], n[1], n[2], n[3]);
	return 0;
}

static void
usage_report(FILE *f)
{
	fprintf(f,
		"Usage: chainwatch report [--db FILE]\n"
		"Summarise a chainwatch database: flows by verdict, the most substituted names,\n"
		"and the interception anchors seen.\n"
		"  --db FILE    database written by chainwatchd (default " CP_DEFAULT_DB ")\n"
		"  -h, --help   show this help\n");
}

static const struct option db_opts[] = {
	{"db", required_argument, NULL, 'd'},	 {"verdict", required_argument, NULL, 'v'},
	{"substituted", no_argument, NULL, 's'}, {"limit", required_argument, NULL, 'l'},
	{"help", no_argument, NULL, 'h'},	 {NULL, 0, NULL, 0},
};

/* getopt for the report commands; allowed: the option letters this command takes. */
static int
parse_db_opts(int argc, char **argv, const char *allowed, void (*usage)(FILE *), const char **db,
	      const char **verdict, long *limit)
{
	int c, li = -1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", db_opts, &li)) != -1) {
		char *end, name[64];

		if (c != 'h' && c != '?' && c != ':' && strchr(allowed, c) == NULL)
			c = '?';
		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'd':
			*db = optarg;
			break;
		case 'v':
			*verdict = optarg;
			break;
		case 's':
			*verdict = "substituted";
			break;
		case 'l':
			errno = 0;
			*limit = strtol(optarg, &end, 10);
			if (errno || *end != '\0' || *limit < 1 || *limit > 1000000) {
				fprintf(stderr, "chainwatch: --limit %s: expected 1..1000000\n",
					optarg);
				return -EINVAL;
			}
			break;
		case ':':
			fprintf(stderr, "chainwatch %s: option %s needs a value (see --help)\n",
				argv[0], cp_opt_refused(c, argv, db_opts, li, name, sizeof(name)));
			return -EINVAL;
		default:
			fprintf(stderr, "chainwatch %s: unknown option %s (see --help)\n", argv[0],
				cp_opt_refused(c, argv, db_opts, li, name, sizeof(name)));
			return -EINVAL;
		}
		li = -1;
	}
	return 0;
}

static int
cmd_report(int argc, char **argv)
{
	const char *path = CP_DEFAULT_DB, *verdict = NULL;
	long limit = 0;
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc, rows = 0;

	if (parse_db_opts(argc, argv, "d", usage_report, &path, &verdict, &limit) < 0)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "chainwatch report: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	db = db_open(path);
	if (db == NULL)
		return 1;
	rc = verdict_counts(db, path, 0, stdout);
	if (rc < 0)
		goto out;
	/* The chain key the database's ids were made with (docs/DEPLOY.md, "Chain key"). */
	st = db_prep(db, "SELECT value FROM meta WHERE key = 'chain_key_id'", path);
	if (st == NULL) {
		rc = -EINVAL;
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		printf("Chain ids: %s%s\n",
		       strcmp(col(st, 0), "0000000000000000") == 0 ? "unkeyed (no --chain-key)"
								   : "keyed, key id ",
		       strcmp(col(st, 0), "0000000000000000") == 0 ? "" : col(st, 0));
	else
		printf("Chain ids: no dataplane attached yet\n");
	rc = db_step_done(db, rc == SQLITE_ROW ? sqlite3_step(st) : rc, path);
	sqlite3_finalize(st);
	if (rc < 0)
		goto out;

	printf("\nTop substituted names:\n");
	st = db_prep(
		db,
		"SELECT name, count(*), count(DISTINCT chain_id), datetime(min(ts), 'unixepoch'),"
		" datetime(max(ts), 'unixepoch') FROM flows WHERE verdict = 'substituted'"
		" GROUP BY name ORDER BY count(*) DESC, name LIMIT 20",
		path);
	if (st == NULL) {
		rc = -EINVAL;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char name[CLI_CELL_MAX];

		if (rows++ == 0)
			printf("  %-40s %7s %7s  %-20s %s\n", "NAME", "FLOWS", "CHAINS",
			       "FIRST (UTC)", "LAST (UTC)");
		printf("  %-40s %7lld %7lld  %-20s %s\n", name_cell(st, 0, name),
		       (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2), col(st, 3), col(st, 4));
	}
	if (rows == 0 && rc == SQLITE_DONE)
		printf("  (none)\n");
	rc = db_step_done(db, rc, path);
	sqlite3_finalize(st);
	if (rc < 0)
		goto out;

	printf("\nInterception anchors seen:\n");
	rows = 0;
	st = db_prep(
		db,
		"SELECT c.anchor, c.anchor_category, count(DISTINCT c.chain_id),"
		" (SELECT count(*) FROM flows f JOIN chains c2 ON c2.chain_id = f.chain_id"
		"  WHERE c2.anchor = c.anchor),"
		" datetime(min(c.first_seen), 'unixepoch'), datetime(max(c.last_seen), 'unixepoch')"
		" FROM chains c WHERE c.anchor != '' GROUP BY c.anchor, c.anchor_category"
		" ORDER BY 4 DESC",
		path);
	if (st == NULL) {
		rc = -EINVAL;
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char anchor[CLI_CELL_MAX], category[CLI_CELL_MAX];

		if (rows++ == 0)
			printf("  %-50s %-14s %7s %7s  %-20s %s\n", "ANCHOR", "CATEGORY", "CHAINS",
			       "FLOWS", "FIRST (UTC)", "LAST (UTC)");
		printf("  %-50s %-14s %7lld %7lld  %-20s %s\n", cell(st, 0, anchor),
		       cell(st, 1, category),
		       (long long)sqlite3_column_int64(st, 2),
		       (long long)sqlite3_column_int64(st, 3), col(st, 4), col(st, 5));
	}
	if (rows == 0 && rc == SQLITE_DONE)
		printf("  (none)\n");
	rc = db_step_done(db, rc, path);
	sqlite3_finalize(st);
out:
	sqlite3_close(db);
	return rc < 0 ? 1 : 0;
}

static void
usage_flows(FILE *f)
{
	fprintf(f,
		"Usage: chainwatch flows [--verdict RESULT] [--db FILE] [--limit N]\n"
		"List judged flows, newest first.\n"
		"  --verdict RESULT  substituted, suspicious, consistent, unknown or all (default "
		"all)\n"
		"  --substituted     same as --verdict substituted\n"
		"  --db FILE         database written by chainwatchd (default " CP_DEFAULT_DB ")\n"
		"  --limit N         at most N flows (default 50)\n"
		"  -h, --help        show this help\n");
}

static int
cmd_flows(int argc, char **argv)
{
	const char *path = CP_DEFAULT_DB, *verdict = "all";
	long limit = 50;
	char sql[1024];
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc, rows = 0;

	if (parse_db_opts(argc, argv, "dvsl", usage_flows, &path, &verdict, &limit) < 0)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "chainwatch flows: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (strcmp(verdict, "all") != 0 && strcmp(verdict, "substituted") != 0 &&
	    strcmp(verdict, "suspicious") != 0 && strcmp(verdict, "consistent") != 0 &&
	    strcmp(verdict, "unknown") != 0) {
		fprintf(stderr,
			"chainwatch flows: --verdict %s: expected substituted, suspicious, "
			"consistent, "
			"unknown or all\n",
			verdict);
		return 2;
	}
	db = db_open(path);
	if (db == NULL)
		return 1;
	snprintf(sql, sizeof(sql),
		 "SELECT strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', ts, 'unixepoch'), cli_ip, cli_port, "
		 "srv_ip,"
		 " srv_port, name, verdict, confidence, " SQL_SIGNAL_NAMES
		 " FROM flows WHERE (?1 = 'all' OR verdict = ?1) ORDER BY ts_ns DESC, id DESC "
		 "LIMIT ?2",
		 "signals", "signals");
	st = db_prep(db, sql, path);
	if (st == NULL) {
		sqlite3_close(db);
		return 1;
	}
	sqlite3_bind_text(st, 1, verdict, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char cli[80], srv[80], name[CLI_CELL_MAX];

		if (rows++ == 0)
			printf("%-20s %-45s %-45s %-32s %-11s %5s  %s\n", "TIME (UTC)", "CLIENT",
			       "SERVER", "NAME", "VERDICT", "CONF", "SIGNALS");
		snprintf(cli, sizeof(cli), "%s:%lld", col(st, 1),
			 (long long)sqlite3_column_int64(st, 2));
		snprintf(srv, sizeof(srv), "%s:%lld", col(st, 3),
			 (long long)sqlite3_column_int64(st, 4));
		printf("%-20s %-45s %-45s %-32s %-11s %5.2f  %s\n", col(st, 0), cli, srv,
		       name_cell(st, 5, name), col(st, 6),
		       sqlite3_column_double(st, 7), col(st, 8));
	}
	if (rows == 0 && rc == SQLITE_DONE)
		printf("No %s flows.\n", strcmp(verdict, "all") == 0 ? "judged" : verdict);
	rc = db_step_done(db, rc, path);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc < 0 ? 1 : 0;
}

static void
usage_chains(FILE *f)
{
	fprintf(f,
		"Usage: chainwatch chains NAME [--db FILE]\n"
		"Certificate chains seen for a server name: leaf subject and issuer, issuer key,\n"
		"leaf SPKI, anchor, path validity, first/last seen and flow counts by verdict.\n"
		"  --db FILE    database written by chainwatchd (default " CP_DEFAULT_DB ")\n"
		"  -h, --help   show this help\n");
}

static int
cmd_chains(int argc, char **argv)
{
	const char *path = CP_DEFAULT_DB, *verdict = NULL, *name;
	long limit = 0;
	sqlite3 *db;
	sqlite3_stmt *st;
	int rc, rows = 0;

	if (parse_db_opts(argc, argv, "d", usage_chains, &path, &verdict, &limit) < 0)
		return 2;
	if (optind + 1 != argc) {
		fprintf(stderr, "chainwatch chains: expected exactly one NAME (see --help)\n");
		return 2;
	}
	name = argv[optind];
	db = db_open(path);
	if (db == NULL)
		return 1;
	st = db_prep(
		db,
		"SELECT f.chain_id, count(*), sum(f.verdict = 'substituted'),"
		" sum(f.verdict = 'suspicious'), datetime(min(f.ts), 'unixepoch'),"
		" datetime(max(f.ts), 'unixepoch'), IFNULL(ce.subject, ''), IFNULL(ce.issuer, ''),"
		" IFNULL(ce.spki_sha256, ''), IFNULL(c.issuer_key, ''), IFNULL(c.anchor, ''),"
		" IFNULL(c.path_valid, -1), IFNULL(c.path_error, ''), IFNULL(c.ncerts, 0)"
		" FROM flows f LEFT JOIN chains c ON c.chain_id = f.chain_id"
		" LEFT JOIN certs ce ON ce.sha256 = c.leaf_sha256"
		" WHERE f.name = ?1 AND f.chain_id != ''"
		" GROUP BY f.chain_id ORDER BY max(f.ts) DESC",
		path);
	if (st == NULL) {
		sqlite3_close(db);
		return 1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char subject[CLI_CELL_MAX], issuer[CLI_CELL_MAX], anchor[CLI_CELL_MAX];
		int pv = sqlite3_column_int(st, 11);

		rows++;
		printf("chain %s (%lld certificates)\n", col(st, 0),
		       (long long)sqlite3_column_int64(st, 13));
		printf("  flows        %lld (%lld substituted, %lld suspicious)\n",
		       (long long)sqlite3_column_int64(st, 1),
		       (long long)sqlite3_column_int64(st, 2),
		       (long long)sqlite3_column_int64(st, 3));
		printf("  first seen   %s UTC\n  last seen    %s UTC\n", col(st, 4), col(st, 5));
		printf("  subject      %s\n  issuer       %s\n", cell(st, 6, subject),
		       cell(st, 7, issuer));
		printf("  leaf SPKI    %s\n  issuer key   %s\n", col(st, 8), col(st, 9));
		printf("  path         %s%s%s\n",
		       pv == 1	 ? "valid"
		       : pv == 0 ? "invalid"
				 : "not validated",
		       pv == 0 && col(st, 12)[0] ? ": " : "", pv == 0 ? col(st, 12) : "");
		printf("  anchor       %s\n\n", col(st, 10)[0] ? cell(st, 10, anchor) : "-");
	}
	if (rows == 0 && rc == SQLITE_DONE) {
		char shown[CLI_CELL_MAX];

		/* NAME may have been pasted from a capture or a log. */
		printf("No chains seen for %s.\n", cp_text_cell(name, shown, sizeof(shown)));
	}
	rc = db_step_done(db, rc, path);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc < 0 ? 1 : 0;
}

/* ---------------------------------------------------------------- analyze */

static void
usage_analyze(FILE *f)
{
	fprintf(f,
		"Usage: chainwatch analyze [OPTION]... FILE...\n"
		"Judge every TLS flow in capture files: runs chainwatch-dp --pcap FILE and\n"
		"chainwatchd --exit-when-done for each FILE, writes JSON lines and prints a "
		"summary\n"
		"of substituted and suspicious flows by name. Progress goes to stderr.\n"
		"\n"
		"  --json FILE|-            JSON lines (docs/OUTPUT.md) to FILE or stdout (default -:\n"
		"                           stdout; the summary then goes to stderr). FILE is replaced\n"
		"                           only when the run succeeds, and never when it is one of\n"
		"                           the captures or holds one\n"
		"  --db FILE                SQLite database to use and keep (baselines carry over "
		"between\n"
		"                           runs); default: a temporary one, removed at the end\n"
		"  --trust-store PEM        CA bundle for path validation (default: system "
		"bundle)\n"
		"  --trust-store-extend     add --trust-store (required) to the system bundle\n"
		"  --anchors FILE           operator interception anchors\n"
		"  --anchors-dir DIR        shipped anchors directory (default " CW_DATADIR
		"/anchors)\n"
		"  --pins FILE              operator pins\n"
		"  --anonymise MODE         none, truncate or keyed (client addresses)\n"
		"  --anon-key-file FILE     key for --anonymise keyed\n"
		"  --anon-v4-prefix BITS    bits kept by --anonymise truncate (default 24)\n"
		"  --anon-v6-prefix BITS    (default 48)\n"
		"  --metrics ADDR:PORT      serve chainwatchd's /metrics while running (default "
		"off)\n"
		"  --user NAME              user chainwatchd switches to when run as root\n"
		"  --fanout-names N, --fanout-window SEC, --t13-size-tolerance PCT, "
		"--t13-min-baseline N,\n"
		"  --assoc-window SEC, --min-rsa-bits N, --strip-min N, --validity-shift-max SEC,\n"
		"  --retention-days N, --baseline-days N, --max-flows N, --max-baselines N,\n"
		"  --max-chains N, --intermediates N, --chain-cache N\n"
		"                           detection thresholds, passed to chainwatchd (see\n"
		"                           chainwatchd --help); with the temporary database "
		"retention\n"
		"                           defaults to 36500 days so captures of different years "
		"all count\n"
		"  --chain-key FILE         chainwatch-dp --chain-key FILE: keyed chain ids; a --db\n"
		"                           keeps the ids of one key (docs/DEPLOY.md, \"Chain key\")\n"
		"  --dp-arg ARG             pass ARG to chainwatch-dp (repeatable; it runs with "
		"--quiet\n"
		"                           and --events-wait: the capture waits for chainwatchd, so\n"
		"                           no flow is lost however slow the judging).\n"
		"                           --dp-arg --checksums=verify for a capture taken off the\n"
		"                           wire (a tap or SPAN port): segments with wrong checksums\n"
		"                           are then dropped as the endpoint drops them\n"
		"  -q, --quiet              no progress on stderr\n"
		"  -h, --help               show this help\n"
		"\n"
		"Programs: chainwatch-dp is $CHAINWATCH_DP, else the one next to this program, "
		"else\n" CP_BINDIR "/chainwatch-dp; chainwatchd likewise ($CHAINWATCHD).\n"
		"Exit status: 0 done, 1 a child failed or bad input, 2 bad usage.\n");
}

/* Options of analyze forwarded to chainwatchd unchanged, with a value. */
static const char *const fwd_with_value[] = {
	"trust-store",
	"anchors",
	"anchors-dir",
	"pins",
	"anonymise",
	"anon-key-file",
	"anon-v4-prefix",
	"anon-v6-prefix",
	"metrics",
	"user",
	"fanout-names",
	"fanout-window",
	"t13-size-tolerance",
	"t13-min-baseline",
	"assoc-window",
	"retention-days",
	"max-flows",
	"min-rsa-bits",
	"strip-min",
	"validity-shift-max",
	"baseline-days",
	"max-baselines",
	"max-chains",
	"intermediates",
	"chain-cache",
};

enum {
	A_JSON = 300,
	A_DB,
	A_TRUST_EXTEND,
	A_DP_ARG,
	A_CHAIN_KEY,
	A_FWD, /* + index in fwd_with_value */
};

struct child {
	pid_t pid;
	const char *what;
	int status;
	int done;
};

/* Program path: $env, else next to this executable, else the installed bindir. */
static int
find_program(const char *env, const char *name, char *out, size_t outlen)
{
	const char *e = getenv(env);
	char self[PATH_MAX];
	ssize_t n;

	if (e != NULL && e[0] != '\0') {
		if (access(e, X_OK) != 0) {
			fprintf(stderr, "chainwatch: $%s=%s: %s\n", env, e, strerror(errno));
			return -ENOENT;
		}
		if ((size_t)snprintf(out, outlen, "%s", e) >= outlen) {
			fprintf(stderr, "chainwatch: $%s: path too long\n", env);
			return -ENAMETOOLONG;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((size_t)snprintf(out, outlen, "%s/%s", dirname(self), name) < outlen &&
		    access(out, X_OK) == 0)
			return 0;
	}
	if ((size_t)snprintf(out, outlen, "%s/%s", CP_BINDIR, name) < outlen &&
	    access(out, X_OK) == 0)
		return 0;
	fprintf(stderr,
		"chainwatch: cannot find %s (set $%s, or install it next to chainwatch or in %s)\n",
		name, env, CP_BINDIR);
	return -ENOENT;
}

static pid_t
spawn(char *const argv[], int stdout_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		fprintf(stderr, "chainwatch: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static void
describe_status(const char *what, int status, char *out, size_t len)
{
	if (WIFEXITED(status))
		snprintf(out, len, "%s exited with status %d", what, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, len, "%s was killed by signal %d (%s)", what, WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, len, "%s stopped", what);
}

static int
status_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void
kill_wait(struct child *c)
{
	if (c->pid <= 0 || c->done)
		return;
	kill(c->pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->done = 1;
			return;
		}
		usleep(100000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &c->status, 0);
	c->done = 1;
}

static int
shm_exists(const char *instance)
{
	char path[CW_SHM_NAME_MAX + 16];

	snprintf(path, sizeof(path), "/dev/shm%s%s", CW_SHM_PREFIX, instance);
	return access(path, F_OK) == 0;
}

/*
 * One capture: chainwatchd first (it waits for the segment), then the
 * dataplane. Either failing stops the other. Returns 0 or -1.
 */
static int
run_one(const char *file, char **dargv, char **pargv, const char *instance)
{
	struct child d = {0, "chainwatchd", 0, 0}, p = {0, "chainwatch-dp", 0, 0};
	char msg[256];
	d.pid = spawn(dargv, -1);
	if (d.pid < 0) {
		fprintf(stderr, "chainwatch: fork: %s\n", strerror(errno));
		return -1;
	}
	/* The dataplane's own output (counters) must not mix with JSON on stdout. */
	p.pid = spawn(pargv, STDERR_FILENO);
	if (p.pid < 0) {
		fprintf(stderr, "chainwatch: fork: %s\n", strerror(errno));
		kill_wait(&d);
		return -1;
	}
	while (!d.done || !p.done) {
		int status;
		pid_t w = waitpid(-1, &status, 0);

		if (w < 0) {
			if (errno == EINTR && cli_stop) {
				fprintf(stderr, "chainwatch: interrupted; stopping\n");
				kill_wait(&p);
				kill_wait(&d);
				return -1;
			}
			if (errno == EINTR)
				continue;
			break;
		}
		if (w == p.pid) {
			p.done = 1;
			p.status = status;
			if (!status_ok(status)) {
				describe_status("chainwatch-dp", status, msg, sizeof(msg));
				fprintf(stderr, "chainwatch: %s: %s\n", file, msg);
				kill_wait(&d);
				return -1;
			}
			if (!shm_exists(instance)) {
				fprintf(stderr,
					"chainwatch: %s: chainwatch-dp finished without creating "
					"its "
					"event rings\n",
					file);
				kill_wait(&d);
				return -1;
			}
		} else if (w == d.pid) {
			d.done = 1;
			d.status = status;
			if (!status_ok(status)) {
				describe_status("chainwatchd", status, msg, sizeof(msg));
				fprintf(stderr, "chainwatch: %s: %s\n", file, msg);
				kill_wait(&p);
				return -1;
			}
			if (!p.done) {
				/* It only leaves early on success when the dataplane said DONE. */
				for (int i = 0; i < 100 && waitpid(p.pid, &p.status, WNOHANG) == 0;
				     i++)
					usleep(100000);
				if (waitpid(p.pid, &p.status, WNOHANG) == 0) {
					kill_wait(&p);
				} else {
					p.done = 1;
					if (!status_ok(p.status)) {
						describe_status("chainwatch-dp", p.status, msg,
								sizeof(msg));
						fprintf(stderr, "chainwatch: %s: %s\n", file, msg);
						return -1;
					}
				}
				p.done = 1;
			}
		}
	}
	return (d.done && p.done && status_ok(d.status) && status_ok(p.status)) ? 0 : -1;
}

static int64_t
db_max_flow_id(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	if (access(path, F_OK) != 0)
		return 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT IFNULL(max(id), 0) FROM flows", -1, &st, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return id;
}

static void
remove_db_files(const char *path)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[PATH_MAX];
	unsigned int i;

	for (i = 0; i < 4; i++)
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx[i]) < sizeof(p))
			unlink(p);
}

/* 1 when the file starts with the magic number of a pcap (any byte order, us or ns) or pcapng. */
static int
holds_capture(const char *path)
{
	uint8_t m[4];
	uint32_t v;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, m, sizeof(m), 0);
	close(fd);
	if (n != (ssize_t)sizeof(m))
		return 0;
	v = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
	return v == 0xa1b2c3d4 || v == 0xd4c3b2a1 || v == 0xa1b23c4d || v == 0x4d3cb2a1 ||
	       v == 0x0a0d0d0a;
}

/*
 * --json FILE must not destroy a capture: refused (-EEXIST, message printed)
 * when FILE is one of the captures to analyse, or already holds one. A FILE
 * that does not exist yet, or is not a regular file, passes.
 */
static int
json_target_check(const char *json, char **files, int nfiles)
{
	struct stat js, fs;
	int i;

	if (stat(json, &js) < 0 || !S_ISREG(js.st_mode))
		return 0;
	for (i = 0; i < nfiles; i++)
		if (stat(files[i], &fs) == 0 && fs.st_dev == js.st_dev && fs.st_ino == js.st_ino) {
			fprintf(stderr,
				"chainwatch analyze: --json %s is the capture %s: not overwritten\n",
				json, files[i]);
			return -EEXIST;
		}
	if (holds_capture(json)) {
		fprintf(stderr,
			"chainwatch analyze: --json %s holds a capture (pcap/pcapng): not "
			"overwritten\n",
			json);
		return -EEXIST;
	}
	return 0;
}

/*
 * The file chainwatchd writes for --json FILE: a new temporary file in FILE's
 * directory (FILE's mode when it exists, else 0644 less the umask), renamed
 * onto FILE only once the whole run succeeded, so a failed run leaves an
 * earlier FILE as it was. Through a symbolic link, the file it names is the
 * one replaced. A FILE that exists and is not a regular file (a FIFO,
 * /dev/null) is written in place: *tmp stays "". Returns 0 or -errno
 * (printed).
 */
static int
json_open(const char *json, char *target, size_t tlen, char *tmp, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct stat st;
	mode_t mode, um;
	int fd, rc;

	tmp[0] = '\0';
	if ((size_t)snprintf(target, tlen, "%s", json) >= tlen) {
		fprintf(stderr, "chainwatch analyze: --json %s: %s\n", json, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	if (lstat(json, &st) == 0 && S_ISLNK(st.st_mode) && tlen >= PATH_MAX &&
	    realpath(json, target) == NULL)
		snprintf(target, tlen, "%s", json); /* a dangling link: replaced itself */
	if (stat(target, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			fprintf(stderr, "chainwatch analyze: --json %s: %s\n", json,
				strerror(EISDIR));
			return -EISDIR;
		}
		if (!S_ISREG(st.st_mode))
			return 0;
		mode = st.st_mode & 07777;
	} else {
		um = umask(0);
		umask(um);
		mode = 0644 & ~um;
	}
	snprintf(dir, sizeof(dir), "%s", target);
	snprintf(base, sizeof(base), "%s", target);
	if ((size_t)snprintf(tmp, len, "%s/.%s.XXXXXX", dirname(dir), basename(base)) >= len) {
		tmp[0] = '\0';
		fprintf(stderr, "chainwatch analyze: --json %s: %s\n", json, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		tmp[0] = '\0';
		fprintf(stderr, "chainwatch analyze: --json %s: %s\n", json, strerror(-rc));
		return rc;
	}
	if (fchmod(fd, mode) < 0) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		tmp[0] = '\0';
		fprintf(stderr, "chainwatch analyze: --json %s: %s\n", json, strerror(-rc));
		return rc;
	}
	close(fd);
	return 0;
}

static int
cmd_analyze(int argc, char **argv)
{
	struct option opts[sizeof(fwd_with_value) / sizeof(fwd_with_value[0]) + 8];
	char *dargv[CLI_MAX_ARGS + 16], *pargv[CLI_MAX_ARGS + 16];
	char dpath[PATH_MAX], ppath[PATH_MAX], tmpdir[64] = "", dbbuf[PATH_MAX];
	char instance[48], msg[160], json_target[PATH_MAX], json_tmp[PATH_MAX] = "";
	const char *json = "-", *dbpath = NULL;
	int dargc = 0, pargc_base = 0, quiet = 0, c, i, rc = 1;
	int db_existed = 1, trust_extend = 0, trust_given = 0, li = -1;
	unsigned int nfwd = sizeof(fwd_with_value) / sizeof(fwd_with_value[0]), k;
	const char *dp_extra[CLI_MAX_ARGS];
	int ndp_extra = 0;
	int64_t before_id;
	struct sigaction sa;
	FILE *sumout;

	for (k = 0; k < nfwd; k++)
		opts[k] =
			(struct option){fwd_with_value[k], required_argument, NULL, A_FWD + (int)k};
	opts[k++] = (struct option){"json", required_argument, NULL, A_JSON};
	opts[k++] = (struct option){"db", required_argument, NULL, A_DB};
	opts[k++] = (struct option){"trust-store-extend", no_argument, NULL, A_TRUST_EXTEND};
	opts[k++] = (struct option){"dp-arg", required_argument, NULL, A_DP_ARG};
	opts[k++] = (struct option){"chain-key", required_argument, NULL, A_CHAIN_KEY};
	opts[k++] = (struct option){"quiet", no_argument, NULL, 'q'};
	opts[k++] = (struct option){"help", no_argument, NULL, 'h'};
	opts[k] = (struct option){NULL, 0, NULL, 0};

	if (find_program("CHAINWATCHD", "chainwatchd", dpath, sizeof(dpath)) < 0)
		return 1;
	if (find_program("CHAINWATCH_DP", "chainwatch-dp", ppath, sizeof(ppath)) < 0)
		return 1;

	dargv[dargc++] = dpath;
	dargv[dargc++] = "--exit-when-done";
	optind = 1;
	opterr = 0;
	for (; (c = getopt_long(argc, argv, ":hq", opts, &li)) != -1; li = -1) {
		char name[64];

		if (c >= A_FWD && c < A_FWD + (int)nfwd) {
			static char flag[CLI_MAX_ARGS][32];
			const char *fwd = fwd_with_value[c - A_FWD];
			uint64_t v;

			/* Refused here as chainwatchd would, before any child runs. */
			if (cp_num_opt_find(fwd) != NULL &&
			    cp_num_opt_parse(fwd, optarg, &v, msg, sizeof(msg)) < 0) {
				fprintf(stderr, "chainwatch analyze: %s\n", msg);
				return 2;
			}
			trust_given |= strcmp(fwd, "trust-store") == 0;
			if (dargc + 2 > CLI_MAX_ARGS) {
				fprintf(stderr, "chainwatch analyze: too many options\n");
				return 2;
			}
			snprintf(flag[dargc], sizeof(flag[0]), "--%s", fwd);
			dargv[dargc] = flag[dargc];
			dargc++;
			dargv[dargc++] = optarg;
			continue;
		}
		switch (c) {
		case 'h':
			usage_analyze(stdout);
			return 0;
		case 'q':
			quiet = 1;
			break;
		case A_JSON:
			json = optarg;
			break;
		case A_DB:
			dbpath = optarg;
			break;
		case A_TRUST_EXTEND:
			trust_extend = 1;
			break;
		case A_DP_ARG:
			if (ndp_extra == CLI_MAX_ARGS) {
				fprintf(stderr, "chainwatch analyze: too many --dp-arg\n");
				return 2;
			}
			dp_extra[ndp_extra++] = optarg;
			break;
		case A_CHAIN_KEY:
			if (ndp_extra + 2 > CLI_MAX_ARGS) {
				fprintf(stderr, "chainwatch analyze: too many --dp-arg\n");
				return 2;
			}
			dp_extra[ndp_extra++] = "--chain-key";
			dp_extra[ndp_extra++] = optarg;
			break;
		case ':':
			fprintf(stderr,
				"chainwatch analyze: option %s needs a value (see --help)\n",
				cp_opt_refused(c, argv, opts, li, name, sizeof(name)));
			return 2;
		default:
			fprintf(stderr, "chainwatch analyze: unknown option %s (see --help)\n",
				cp_opt_refused(c, argv, opts, li, name, sizeof(name)));
			return 2;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "chainwatch analyze: no capture FILE given (see --help)\n");
		return 2;
	}
	if (trust_extend && !trust_given) {
		fprintf(stderr, "chainwatch analyze: --trust-store-extend needs --trust-store\n");
		return 2;
	}
	for (i = optind; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		struct stat st;

		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "chainwatch analyze: %s: %s\n", argv[i],
				fd < 0 ? strerror(errno) : "not a regular file");
			if (fd >= 0)
				close(fd);
			return 1;
		}
		close(fd);
	}
	if (strcmp(json, "-") != 0 && json_target_check(json, argv + optind, argc - optind) < 0)
		return 2;

	dargv[dargc++] = quiet ? "--quiet" : "--progress";
	if (trust_extend)
		dargv[dargc++] = "--trust-store-extend";
	/* Metrics stay off unless asked for: parallel runs would fight over the port. */
	for (i = 1; i < dargc; i++)
		if (strcmp(dargv[i], "--metrics") == 0)
			break;
	if (i == dargc) {
		dargv[dargc++] = "--metrics";
		dargv[dargc++] = "off";
	}

	/* The database: the user's (kept), or a temporary one shared by all FILEs. */
	if (dbpath == NULL) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/chainwatch-analyze.XXXXXX");
		if (mkdtemp(tmpdir) == NULL) {
			fprintf(stderr, "chainwatch analyze: temporary directory: %s\n",
				strerror(errno));
			return 1;
		}
		/* chainwatchd may drop to an unprivileged user and still needs the WAL files. */
		chmod(tmpdir, 0777);
		snprintf(dbbuf, sizeof(dbbuf), "%s/analyze.db", tmpdir);
		dbpath = dbbuf;
		db_existed = 0;
		/* Retention counts from the newest capture time: keep older captures in the run. */
		for (i = 1; i < dargc; i++)
			if (strcmp(dargv[i], "--retention-days") == 0)
				break;
		if (i == dargc) {
			dargv[dargc++] = "--retention-days";
			dargv[dargc++] = "36500";
		}
	} else {
		db_existed = access(dbpath, F_OK) == 0;
	}
	dargv[dargc++] = "--db";
	dargv[dargc++] = (char *)dbpath;
	before_id = db_max_flow_id(dbpath);

	if (strcmp(json, "-") != 0 &&
	    json_open(json, json_target, sizeof(json_target), json_tmp, sizeof(json_tmp)) < 0)
		goto out;
	dargv[dargc++] = "--json";
	dargv[dargc++] = json_tmp[0] != '\0' ? json_tmp : (char *)json;
	dargv[dargc++] = "--shm";
	dargv[dargc++] = instance;
	dargv[dargc] = NULL;

	pargv[pargc_base++] = ppath;
	pargv[pargc_base++] = "--quiet";
	/* A capture waits for chainwatchd: every flow is judged, however slow the judging. */
	pargv[pargc_base++] = "--events-wait";
	for (i = 0; i < ndp_extra; i++)
		pargv[pargc_base++] = (char *)dp_extra[i];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (i = optind; i < argc; i++) {
		int pargc = pargc_base, r;

		snprintf(instance, sizeof(instance), "analyze-%d-%d-%ld", (int)getpid(), i - optind,
			 (long)time(NULL));
		pargv[pargc++] = "--pcap";
		pargv[pargc++] = argv[i];
		pargv[pargc++] = "--shm";
		pargv[pargc++] = instance;
		pargv[pargc] = NULL;
		if (!quiet)
			fprintf(stderr, "chainwatch: analysing %s (%d of %d)\n", argv[i],
				i - optind + 1, argc - optind);
		r = run_one(argv[i], dargv, pargv, instance);
		cw_shm_unlink(instance);
		if (r < 0 || cli_stop)
			goto out;
	}

	sumout = strcmp(json, "-") == 0 ? stderr : stdout;
	{
		sqlite3 *db = db_open(dbpath);

		if (db == NULL)
			goto out;
		fputc('\n', sumout);
		rc = verdict_counts(db, dbpath, before_id, sumout) < 0 ||
				     report_summary(db, dbpath, before_id, sumout) < 0
			     ? 1
			     : 0;
		sqlite3_close(db);
	}
out:
	/* Only a run that succeeded replaces FILE. */
	if (rc == 0 && json_tmp[0] != '\0' && rename(json_tmp, json_target) < 0) {
		fprintf(stderr, "chainwatch analyze: --json %s: %s\n", json, strerror(errno));
		rc = 1;
	}
	if (rc != 0) {
		if (!db_existed)
			remove_db_files(dbpath);
		if (json_tmp[0] != '\0')
			unlink(json_tmp);
	}
	if (tmpdir[0] != '\0') {
		remove_db_files(dbpath);
		rmdir(tmpdir);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("chainwatch %s\n", CW_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "analyze") == 0 || strcmp(argv[1], "analyse") == 0)
		return cmd_analyze(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return cmd_report(argc - 1, argv + 1);
	if (strcmp(argv[1], "flows") == 0)
		return cmd_flows(argc - 1, argv + 1);
	if (strcmp(argv[1], "chains") == 0)
		return cmd_chains(argc - 1, argv + 1);
	fprintf(stderr, "chainwatch: unknown command \"%s\" (see chainwatch --help)\n", argv[1]);
	return 2;
}
