/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the SQLite store: persistence across reopen, schema, retention, read back by sqlite3. */
#include <stdio.h>
#include <string.h>

#include "cp_testlib.h"

#define SRV "203.0.113.10"
#define CLI "198.51.100.7"

/* Run the sqlite3 tool on the database file and return its first output line. */
static const char *
sql(const char *db, const char *query)
{
	static char out[4096];
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\" 2>&1", db, query);
	out[0] = '\0';
	p = popen(cmd, "r");
	if (p == NULL)
		return "";
	if (fgets(out, sizeof(out), p) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	pclose(p);
	return out;
}

static struct cp_engine *
open_db(const char *db, struct cp_config *cfg)
{
	char err[256] = "";
	struct cp_engine *e;

	t_config(cfg);
	cfg->db_path = db;
	e = cp_engine_open(cfg, err, sizeof(err));
	CHECK(e != NULL, "open %s: %s", db, err);
	return e;
}

static enum cp_result
judge(struct cp_engine *e, time_t ts, const char *sni, const struct t_chain *c,
      struct cp_verdict *v)
{
	struct cw_flow_event ev;

	t_event(&ev, ts, sni, SRV, CLI, c, 0x0303, "ja3s-tls12-example", 0);
	CHECK(cp_engine_flow(e, &ev, v) == 0, "flow");
	return v->result;
}

static void
test_persist(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const forged[] = {"forged", "kzint"};
	static struct t_chain g, f;
	char db[128];
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	int i;

	snprintf(db, sizeof(db), "%s", t_path("cw.db"));
	t_chain(&g, genuine, 2, 0);
	t_chain(&f, forged, 2, 0);
	e = open_db(db, &cfg);
	if (e == NULL)
		return;
	CHECK(cp_engine_chain(e, &g.blob, g.der) == 0, "blob");
	for (i = 0; i < 3; i++)
		judge(e, t0 + i * 60, "example.com", &g, &v);
	CHECK(v.result == CP_CONSISTENT, "learned");
	CHECK(cp_engine_flush(e) == 0, "flush");
	/* Committed and visible to another process while the engine is still open (WAL). */
	CHECK(strcmp(sql(db, "select count(*) from flows"), "3") == 0, "flows after flush: %s",
	      sql(db, "select count(*) from flows"));
	cp_engine_close(e);

	CHECK(strcmp(sql(db, "pragma journal_mode"), "wal") == 0, "journal %s",
	      sql(db, "pragma journal_mode"));
	CHECK(strcmp(sql(db, "select value from meta where key='schema_version'"), "1") == 0,
	      "schema version");
	CHECK(strcmp(sql(db, "select count, issuer_key <> '' from baselines where name='example.com'"),
		     "3|1") == 0,
	      "baseline row: %s",
	      sql(db, "select count, issuer_key <> '' from baselines where name='example.com'"));
	CHECK(strcmp(sql(db, "select count(*) from certs where der is not null"), "2") == 0,
	      "certs %s", sql(db, "select count(*) from certs"));
	CHECK(strcmp(sql(db, "select path_valid, validated_at from chains"), "1|1563451200") == 0,
	      "chain validated at capture time: %s",
	      sql(db, "select path_valid, validated_at from chains"));

	/* Reopen: the baseline is still there, and the chain comes back from the DER kept in SQLite. */
	e = open_db(db, &cfg);
	if (e == NULL)
		return;
	judge(e, t0 + 3600, "example.com", &g, &v);
	CHECK(v.result == CP_CONSISTENT && v.chain != NULL && v.chain->n == 2 &&
		      v.confidence >= 0.85,
	      "chain reloaded without a blob: %s", cp_result_name(v.result));
	cp_engine_chain(e, &f.blob, f.der);
	judge(e, t0 + 7200, "example.com", &f, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "issuer_change_for_name") &&
		      strstr(t_detail(&v, "issuer_change_for_name"), "seen 4 times since 2019-07-18"),
	      "baseline survived reopen: %s", t_detail(&v, "issuer_change_for_name"));
	cp_engine_close(e);

	CHECK(strcmp(sql(db, "select count(*) from flows where verdict='substituted'"), "1") == 0,
	      "substituted flows");
	CHECK(strcmp(sql(db, "select count(*) from alerts"), "1") == 0, "alerts");
	CHECK(strcmp(sql(db, "select count(*) from baselines"), "1") == 0,
	      "forgery learned into the baseline");
	CHECK(strcmp(sql(db, "select sni, srv_ip, srv_port, cli_ip, version, ja3s, length(chain_id),"
			     " json_array_length(signals) > 4 from flows where verdict='substituted'"),
		     "example.com|203.0.113.10|443|198.51.100.7|771|ja3s-tls12-example|32|1") == 0,
	      "flow row: %s",
	      sql(db, "select sni, srv_ip, srv_port, cli_ip, version, ja3s, length(chain_id),"
		      " json_array_length(signals) > 4 from flows where verdict='substituted'"));
	CHECK(strcmp(sql(db, "select json_extract(signals, '$[0].name') is not null from alerts"),
		     "1") == 0,
	      "signals JSON");
}

static void
test_retention(void)
{
	static const char *const genuine[] = {"leaf1", "int"};
	static struct t_chain g;
	char db[128];
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	int i;

	snprintf(db, sizeof(db), "%s", t_path("ret.db"));
	t_chain(&g, genuine, 2, 0);
	e = open_db(db, &cfg);
	if (e == NULL)
		return;
	cp_engine_close(e);
	/* Reopen with tight limits. */
	cp_config_defaults(&cfg);
	cfg.trust_store = t_path("trust.pem");
	cfg.anchors_dir = "data/anchors";
	cfg.db_path = db;
	cfg.max_flows = 5;
	cfg.retention_days = 30;
	{
		char err[256] = "";

		e = cp_engine_open(&cfg, err, sizeof(err));
		CHECK(e != NULL, "open: %s", err);
		if (e == NULL)
			return;
	}
	cp_engine_chain(e, &g.blob, g.der);
	for (i = 0; i < 12; i++)
		judge(e, t0 + i, "example.com", &g, &v);
	CHECK(cp_engine_flush(e) == 0, "flush");
	CHECK(strcmp(sql(db, "select count(*), max(ts) - min(ts) from flows"), "5|4") == 0,
	      "row cap keeps the newest 5: %s", sql(db, "select count(*), max(ts)-min(ts) from flows"));
	/* 40 days later (capture time) the July flows are past retention. */
	judge(e, t0 + 40 * 86400, "example.com", &g, &v);
	CHECK(cp_engine_flush(e) == 0, "flush");
	CHECK(strcmp(sql(db, "select count(*) from flows"), "1") == 0, "retention by capture time: %s",
	      sql(db, "select count(*) from flows"));
	cp_engine_close(e);

	/* A database from another schema version is refused, not silently reused. */
	if (system("sqlite3 '/dev/null' 'select 1' >/dev/null") == 0) {
		char cmd[512], err[256] = "";

		snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"update meta set value='99' where"
			 " key='schema_version'\"", db);
		CHECK(system(cmd) == 0, "sqlite3 update");
		e = cp_engine_open(&cfg, err, sizeof(err));
		CHECK(e == NULL && strstr(err, "schema version 99") != NULL, "old schema: %s", err);
		cp_engine_close(e);
	}
}

int
main(void)
{
	if (system("sqlite3 -version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "sqlite3 tool not installed\n");
		return 77;
	}
	if (t_mkpki() != 0)
		return 1;
	test_persist();
	test_retention();
	t_rmpki();
	printf("test_store: %d checks, %d failed\n", t_run, t_fail);
	return t_fail ? 1 : 0;
}
