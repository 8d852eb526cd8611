/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Untrusted strings in text output: the cell renderer on its own, then the chainwatch CLI's
 * tables (flows, report, chains) on a database the engine wrote from a flow whose SNI and an
 * anchor whose label carry terminal controls.
 *
 * Usage: test_text CHAINWATCH (run from the source root)
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp_testlib.h"
#include "text.h"

#define SRV "203.0.113.10"
#define CLI "198.51.100.7"

/*
 * Colours, moves the cursor, forges a row, rings; C1 CSI and a stray byte
 * follow. Lower case: the engine judges names lowercased.
 */
#define EVIL_SNI                                                                                   \
	"evil.example\x1b[31m\x1b[1;1f\r\nforged\x07\x7f\xc2\x9b"                                  \
	"0m\xff caf\xc3\xa9"
#define EVIL_SNI_CELL                                                                              \
	"evil.example\\x1b[31m\\x1b[1;1f\\x0d\\x0aforged\\x07\\x7f\\xc2\\x9b0m\\xff caf\xc3\xa9"
/* An OSC that retitles the terminal. */
#define EVIL_LABEL "root\x1b]0;pwned\x07 label"
#define EVIL_LABEL_CELL "root\\x1b]0;pwned\\x07 label"

static void
cell(const char *s, size_t outlen, const char *want)
{
	char out[4096];

	memset(out, 'Z', sizeof(out));
	cp_text_cell(s, out, outlen);
	CHECK(strcmp(out, want) == 0, "cell(%zu) got \"%s\" want \"%s\"", outlen, out, want);
	CHECK(out[outlen] == 'Z', "cell(%zu) wrote past its buffer", outlen);
}

static void
test_cell(void)
{
	char many[256], out[CP_TEXT_LEN(sizeof(many) - 1)];

	cell("plain.example", 64, "plain.example");
	cell("", 64, "");
	/* C0 controls, DEL: each byte escaped. */
	cell("a\x1b[2Jb", 64, "a\\x1b[2Jb");
	cell("\r\n\t\a\x01\x1f", 64, "\\x0d\\x0a\\x09\\x07\\x01\\x1f");
	cell("\x7f", 64, "\\x7f");
	/* Valid UTF-8 passes: é, no-break space, €, U+1F600. */
	cell("caf\xc3\xa9\xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80", 64,
	     "caf\xc3\xa9\xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80");
	/* C1 controls are valid UTF-8 but terminals obey them: CSI, NEL. */
	cell("\xc2\x9bm\xc2\x85", 64, "\\xc2\\x9bm\\xc2\\x85");
	/* Bytes of invalid UTF-8, one escape each. */
	cell("\xff", 64, "\\xff");
	cell("\xc3(", 64, "\\xc3(");
	cell("\xc0\xaf", 64, "\\xc0\\xaf");
	cell("\xed\xa0\x80", 64, "\\xed\\xa0\\x80");
	cell("\xf4\x90\x80\x80", 64, "\\xf4\\x90\\x80\\x80");
	cell("\x80", 64, "\\x80");
	cell("x\xe2\x82", 64, "x\\xe2\\x82");
	/* RFC 2253 escapes in certificate names stay readable. */
	cell("CN=GoDaddy.com\\, Inc.", 64, "CN=GoDaddy.com\\, Inc.");

	/* Bounded: cut before a unit that does not fit, never inside an escape or a sequence. */
	cell("abc", 1, "");
	cell("ab\x1b", 6, "ab");
	cell("ab\x1b", 7, "ab\\x1b");
	cell("a\xe2\x82\xac", 4, "a");
	cell("a\xe2\x82\xac", 5, "a\xe2\x82\xac");
	cell("abcdef", 4, "abc");

	/* CP_TEXT_LEN is enough for the worst case. */
	memset(many, 0x1b, sizeof(many) - 1);
	many[sizeof(many) - 1] = '\0';
	cp_text_cell(many, out, sizeof(out));
	CHECK(strlen(out) == 4 * (sizeof(many) - 1), "worst case cut: %zu", strlen(out));
}

/* Run the CLI with argv; its stdout (and stderr) into out. Returns the exit status or -1. */
static int
run_cli(char *const argv[], char *out, size_t cap)
{
	size_t len = 0;
	int fd[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], STDOUT_FILENO);
		dup2(fd[1], STDERR_FILENO);
		close(fd[0]);
		close(fd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd[1]);
	while (len < cap - 1 && (n = read(fd[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static unsigned int
lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * A flow with the SNI above and no chain (TLS 1.3), and one substituted flow
 * under the same name on a chain whose root is an operator anchor with the
 * label above.
 */
static int
make_db(const char *db)
{
	static const char *const full[] = {"forged", "kzint", "kzroot"};
	static struct t_chain c;
	struct cw_flow_event ev;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	char err[256] = "", spki[65] = "";
	time_t t0 = t_time(2019, 7, 18);
	FILE *f;

	f = fopen(t_path("kzroot.spki"), "r");
	CHECK(f != NULL && fscanf(f, "%64s", spki) == 1, "kzroot.spki");
	if (f != NULL)
		fclose(f);
	f = fopen(t_path("anchors-evil.tsv"), "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%s\t%s\n", spki, EVIL_LABEL);
	fclose(f);

	t_config(&cfg);
	cfg.db_path = db;
	cfg.anchors_extra = t_path("anchors-evil.tsv");
	e = cp_engine_open(&cfg, err, sizeof(err));
	CHECK(e != NULL, "open: %s", err);
	if (e == NULL)
		return -1;
	CHECK(t_chain(&c, full, 3, 0) == 0 && cp_engine_chain(e, &c.blob, c.der, t0) == 0, "chain");
	t_event(&ev, t0, EVIL_SNI, SRV, CLI, NULL, 0x0304, "ja3s-tls13-example", 4000);
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && strcmp(v.name, EVIL_SNI) == 0,
	      "the name is judged as sent: %s", v.name);
	t_event(&ev, t0 + 60, EVIL_SNI, SRV, CLI, &c, 0x0303, "ja3s-tls12-example", 0);
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_SUBSTITUTED &&
		      t_has(&v, "known_interception_anchor"),
	      "anchored forgery: %s %s", cp_result_name(v.result), t_sigs(&v));
	CHECK(cp_engine_flush(e) == 0, "flush");
	cp_engine_close(e);
	return 0;
}

/* A failed check's CLI output, line by line through the renderer: it holds terminal controls. */
static void
dump(const char *what, const char *out)
{
	static char line[CP_TEXT_LEN(4096)], shown[CP_TEXT_LEN(4096)];
	const char *p = out;

	fprintf(stderr, "--- chainwatch %s printed:\n", what);
	while (*p) {
		size_t n = strcspn(p, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)(n < 4096 ? n : 4096), p);
		fprintf(stderr, "%s\n", cp_text_cell(line, shown, sizeof(shown)));
		p += n + (p[n] == '\n');
	}
}

static void
test_cli(char *cli)
{
	static char out[64 * 1024];
	char db[128];
	int failed;

	snprintf(db, sizeof(db), "%s", t_path("text.db"));
	if (make_db(db) < 0)
		return;

	{
		char *argv[] = {cli, "flows", "--db", db, NULL};

		failed = t_fail;
		CHECK(run_cli(argv, out, sizeof(out)) == 0, "flows exit status");
		CHECK(strstr(out, EVIL_SNI_CELL) != NULL, "flows shows the name escaped");
		CHECK(t_term_unsafe(out) < 0, "flows: raw control at byte %ld", t_term_unsafe(out));
		CHECK(lines(out) == 3, "flows: a header and 2 rows, got %u lines", lines(out));
		if (t_fail != failed)
			dump("flows", out);
	}
	{
		char *argv[] = {cli, "report", "--db", db, NULL};

		failed = t_fail;
		CHECK(run_cli(argv, out, sizeof(out)) == 0, "report exit status");
		CHECK(strstr(out, "  " EVIL_SNI_CELL " ") != NULL, "report: top names");
		CHECK(strstr(out, "  " EVIL_LABEL_CELL " ") != NULL, "report: anchors");
		CHECK(t_term_unsafe(out) < 0, "report: raw control at byte %ld",
		      t_term_unsafe(out));
		if (t_fail != failed)
			dump("report", out);
	}
	{
		char *argv[] = {cli, "chains", EVIL_SNI, "--db", db, NULL};

		failed = t_fail;
		CHECK(run_cli(argv, out, sizeof(out)) == 0, "chains exit status");
		CHECK(strstr(out, "\n  anchor       " EVIL_LABEL_CELL "\n") != NULL,
		      "chains: the anchor escaped");
		CHECK(t_term_unsafe(out) < 0, "chains: raw control at byte %ld",
		      t_term_unsafe(out));
		if (t_fail != failed)
			dump("chains", out);
	}
	{
		char *argv[] = {cli, "chains", EVIL_SNI "x", "--db", db, NULL};

		failed = t_fail;
		CHECK(run_cli(argv, out, sizeof(out)) == 0, "chains (none) exit status");
		CHECK(strcmp(out, "No chains seen for " EVIL_SNI_CELL "x.\n") == 0,
		      "chains: the name asked for escaped");
		if (t_fail != failed)
			dump("chains", out);
	}
}

/* cp_ipv4_text() against inet_ntop(): every octet value in every place, then random addresses. */
static void
test_ipv4(void)
{
	uint8_t a[4];
	char got[16], want[INET_ADDRSTRLEN];
	uint64_t x = 0x243f6a8885a308d3ull;
	unsigned int i, bad = 0;

	for (i = 0; i < 256 * 4 + 200000 && bad < 5; i++) {
		if (i < 256 * 4) {
			memset(a, i & 1 ? 0 : 255, sizeof(a));
			a[i / 256] = (uint8_t)i;
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(a, &x, sizeof(a));
		}
		inet_ntop(AF_INET, a, want, sizeof(want));
		if (cp_ipv4_text(a, got) != strlen(want) || strcmp(got, want) != 0) {
			bad++;
			CHECK(0, "%s, inet_ntop %s", got, want);
		}
	}
	CHECK(bad == 0, "IPv4 text as inet_ntop writes it");
}

int
main(int argc, char **argv)
{
	test_cell();
	test_ipv4();
	if (argc != 2) {
		fprintf(stderr, "usage: test_text CHAINWATCH\n");
		return 2;
	}
	if (t_mkpki() != 0)
		return 1;
	test_cli(argv[1]);
	t_rmpki();
	printf("test_text: %d checks, %d failed\n", t_run, t_fail);
	return t_fail ? 1 : 0;
}
