/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the SQLite store: persistence across reopen, schema, retention, read back by sqlite3. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>
#include <xxhash.h>

#include "cp_testlib.h"
#include "store.h"

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
open_cfg(const struct cp_config *cfg)
{
	char err[256] = "";
	struct cp_engine *e = cp_engine_open(cfg, err, sizeof(err));

	CHECK(e != NULL, "open %s: %s", cfg->db_path, err);
	return e;
}

static struct cp_engine *
open_db(const char *db, struct cp_config *cfg)
{
	t_config(cfg);
	cfg->db_path = db;
	return open_cfg(cfg);
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
	CHECK(cp_engine_chain(e, &g.blob, g.der, t0) == 0, "blob");
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
	CHECK(strcmp(sql(db, "select value from meta where key='schema_version'"), "2") == 0,
	      "schema version");
	CHECK(strcmp(sql(db, "select count, issuer_key <> '' from baselines where name='example.com'"),
		     "3|1") == 0,
	      "baseline row: %s",
	      sql(db, "select count, issuer_key <> '' from baselines where name='example.com'"));
	CHECK(strcmp(sql(db, "select count(*) from certs where der is not null"), "2") == 0,
	      "certs %s", sql(db, "select count(*) from certs"));
	CHECK(strcmp(sql(db, "select path_valid, validated_at, first_seen from chains"),
		     "1|1563451200|1563451200") == 0,
	      "chain validated and first seen at capture time: %s",
	      sql(db, "select path_valid, validated_at, first_seen from chains"));

	/* Reopen: the baseline is still there, and the chain comes back from the DER kept in SQLite. */
	e = open_db(db, &cfg);
	if (e == NULL)
		return;
	judge(e, t0 + 3600, "example.com", &g, &v);
	CHECK(v.result == CP_CONSISTENT && v.chain != NULL && v.chain->n == 2 &&
		      v.confidence >= 0.85,
	      "chain reloaded without a blob: %s", cp_result_name(v.result));
	cp_engine_chain(e, &f.blob, f.der, t0 + 7200);
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
	CHECK(strcmp(sql(db, "select a.flow_id = f.id, a.name, a.verdict from alerts a join flows f"
			     " on f.id = a.id"),
		     "1|example.com|substituted") == 0,
	      "the alert is the flow: %s",
	      sql(db, "select a.flow_id = f.id, a.name, a.verdict from alerts a join flows f"
		      " on f.id = a.id"));

	/*
	 * A version 1 database kept alerts as a table: opening it drops the table for the view
	 * over the flows it keeps, and says version 2.
	 */
	{
		char cmd[1024];

		snprintf(cmd, sizeof(cmd),
			 "sqlite3 '%s' \"drop view alerts; create table alerts(id integer primary"
			 " key, flow_id integer, ts integer, name text, srv_ip text, verdict text,"
			 " confidence real, chain_id text, signals text); insert into alerts(flow_id)"
			 " values(1),(2),(3); update meta set value='1' where"
			 " key='schema_version'\"",
			 db);
		CHECK(system(cmd) == 0, "make a version 1 database");
		CHECK(strcmp(sql(db, "select count(*) from alerts"), "3") == 0, "version 1 alerts");
		e = open_db(db, &cfg);
		if (e == NULL)
			return;
		cp_engine_close(e);
		CHECK(strcmp(sql(db, "select type from sqlite_master where name='alerts'"), "view") ==
			      0,
		      "alerts is a view after the migration: %s",
		      sql(db, "select type from sqlite_master where name='alerts'"));
		CHECK(strcmp(sql(db, "select value from meta where key='schema_version'"), "2") == 0,
		      "migrated to version 2: %s",
		      sql(db, "select value from meta where key='schema_version'"));
		CHECK(strcmp(sql(db, "select count(*) from alerts"), "1") == 0,
		      "the alerts are the flows' again: %s", sql(db, "select count(*) from alerts"));
	}

	/*
	 * A database that indexed every flow by name and by issuer key: those indexes go, and the
	 * flagged flows' take their place; a lookup by name and verdict uses them.
	 */
	{
		static const char want[] = "flows_chain flows_flagged_issuer flows_flagged_name"
					   " flows_ts flows_verdict";
		static const char indexes[] = "select group_concat(name, ' ') from (select name from"
					      " sqlite_master where type='index' and tbl_name='flows'"
					      " and sql is not null order by name)";
		char cmd[1024];

		snprintf(cmd, sizeof(cmd),
			 "sqlite3 '%s' \"drop index flows_flagged_name; drop index flows_flagged_issuer;"
			 " create index flows_name on flows(name, ts);"
			 " create index flows_issuer on flows(issuer_key, ts)\"",
			 db);
		CHECK(system(cmd) == 0, "make a database with the older indexes");
		e = open_db(db, &cfg);
		if (e == NULL)
			return;
		cp_engine_close(e);
		CHECK(strcmp(sql(db, indexes), want) == 0, "indexes after open: %s", sql(db, indexes));
		snprintf(cmd, sizeof(cmd),
			 "sqlite3 '%s' \"explain query plan select count(*) from flows where"
			 " name='example.com' and verdict='substituted' and verdict in"
			 " ('substituted', 'suspicious')\" | grep -q 'USING.*INDEX flows_flagged_name'",
			 db);
		CHECK(system(cmd) == 0, "flagged flows by name and verdict use their index");
		CHECK(strcmp(sql(db, "select count(*) from flows indexed by flows_flagged_name where"
				     " verdict in ('substituted', 'suspicious')"),
			     sql(db, "select count(*) from flows where verdict in"
				     " ('substituted', 'suspicious')")) == 0,
		      "the index holds every flagged flow");
	}
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
	e = open_cfg(&cfg);
	if (e == NULL)
		return;
	cp_engine_chain(e, &g.blob, g.der, t0);
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

/*
 * Row caps on what clients and servers make the engine learn: a client that
 * sends a new name per flow, a server that sends a new chain. Beyond
 * max_baselines (name and server baselines) and max_chains, the least
 * recently seen rows go and the newest stay; fingerprints and certificates
 * go with their rows.
 */
static void
test_caps(void)
{
	static const char *const a[] = {"leaf1", "int"}, *const b[] = {"ecleaf", "int"},
				 *const c[] = {"leaf2", "int"}, *const cdn[] = {"cdn40", "int"};
	static struct t_chain ca, cb, cc, w;
	char db[128], sni[64], q[256];
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	int i;

	snprintf(db, sizeof(db), "%s", t_path("caps.db"));
	t_config(&cfg);
	cfg.db_path = db;
	cfg.max_baselines = 5;
	cfg.max_chains = 2;
	e = open_cfg(&cfg);
	if (e == NULL)
		return;
	CHECK(t_chain(&ca, a, 2, 0) == 0 && t_chain(&cb, b, 2, 0) == 0 &&
		      t_chain(&cc, c, 2, 0) == 0 && t_chain(&w, cdn, 2, 0) == 0,
	      "chains");
	/* Three chains (two learned names), then a CDN leaf's 12 names, the first seen again. */
	cp_engine_chain(e, &ca.blob, ca.der, t0);
	judge(e, t0, "example.com", &ca, &v);
	cp_engine_chain(e, &cb.blob, cb.der, t0 + 1);
	judge(e, t0 + 1, "api.example.net", &cb, &v);
	cp_engine_chain(e, &cc.blob, cc.der, t0 + 2);
	judge(e, t0 + 2, "example.com", &cc, &v);
	cp_engine_chain(e, &w.blob, w.der, t0 + 10);
	for (i = 1; i <= 12; i++) {
		snprintf(sni, sizeof(sni), "edge-%d.cdn-example.net", i);
		judge(e, t0 + 10 + i, sni, &w, &v);
		CHECK(v.result == CP_CONSISTENT, "%s: %s", sni, t_sigs(&v));
	}
	judge(e, t0 + 30, "edge-1.cdn-example.net", &w, &v);
	CHECK(cp_engine_flush(e) == 0, "flush");

	CHECK(strcmp(sql(db, "select count(*) from flows"), "16") == 0, "flows are not capped here");
	for (i = 0; i < 2; i++) {
		static const char *const table[] = {"baselines", "srv_baselines"};

		snprintf(q, sizeof(q),
			 "select count(*), group_concat(name, ' ') from (select name from %s"
			 " order by name)",
			 table[i]);
		CHECK(strcmp(sql(db, q), "5|edge-1.cdn-example.net edge-10.cdn-example.net"
					 " edge-11.cdn-example.net edge-12.cdn-example.net"
					 " edge-9.cdn-example.net") == 0,
		      "%s: the 5 seen last: %s", table[i], sql(db, q));
	}
	CHECK(strcmp(sql(db, "select count(*) from srv_fps where not exists (select 1 from"
			     " srv_baselines b where b.srv = srv_fps.srv and"
			     " b.name = srv_fps.name)"),
		     "0") == 0,
	      "fingerprints go with their server baseline");
	CHECK(strcmp(sql(db, "select count(*) from srv_fps"), "5") == 0, "fingerprints: %s",
	      sql(db, "select count(*) from srv_fps"));
	CHECK(strcmp(sql(db, "select count(*) from chains"), "2") == 0, "chains capped: %s",
	      sql(db, "select count(*) from chains"));
	/* The chains seen last (leaf2's, the CDN's) and their 3 certificates; leaf1, ecleaf gone. */
	CHECK(strcmp(sql(db, "select group_concat(c.subject, ' | ') from (select ce.subject from"
			     " certs ce order by ce.subject) c"),
		     "CN=Test Public Issuing CA,O=Test Public Trust,C=US | CN=edge-1.cdn-example.net"
		     " | CN=example.com,O=Example Inc,C=US") == 0,
	      "certificates of the pruned chains gone: %s",
	      sql(db, "select group_concat(subject, ' | ') from certs"));

	/* A pruned name is learned again like a new one, and the cap still holds. */
	judge(e, t0 + 400, "example.com", &ca, &v);
	CHECK(v.result == CP_CONSISTENT, "example.com again: %s", t_sigs(&v));
	CHECK(cp_engine_flush(e) == 0, "flush");
	CHECK(strcmp(sql(db, "select count(*), sum(name = 'example.com') from baselines"), "5|1") ==
		      0,
	      "relearned within the cap: %s",
	      sql(db, "select count(*), sum(name = 'example.com') from baselines"));
	cp_engine_close(e);
}

/*
 * A VFS over the default one that fails on demand, the way a full disk or a
 * lock held elsewhere does: fault_write makes every file write return
 * SQLITE_FULL; fault_lock makes every exclusive WAL-index lock (the writer's,
 * taken by a transaction's first write) return SQLITE_IOERR. Reads go on.
 */
static int fault_write, fault_lock;
static sqlite3_vfs fault_vfs, *base_vfs;
static sqlite3_io_methods fault_io;
static const sqlite3_io_methods *base_io;

struct fault_file {
	sqlite3_file base;   /* methods: &fault_io */
	sqlite3_file *real;  /* the default VFS's file, allocated behind this struct */
};

static int
f_close(sqlite3_file *f)
{
	return ((struct fault_file *)f)->real->pMethods->xClose(((struct fault_file *)f)->real);
}
static int
f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return base_io->xRead(((struct fault_file *)f)->real, b, n, o);
}
static int
f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	return fault_write ? SQLITE_FULL : base_io->xWrite(((struct fault_file *)f)->real, b, n, o);
}
static int
f_truncate(sqlite3_file *f, sqlite3_int64 sz)
{
	return base_io->xTruncate(((struct fault_file *)f)->real, sz);
}
static int
f_sync(sqlite3_file *f, int fl)
{
	return base_io->xSync(((struct fault_file *)f)->real, fl);
}
static int
f_size(sqlite3_file *f, sqlite3_int64 *sz)
{
	return base_io->xFileSize(((struct fault_file *)f)->real, sz);
}
static int
f_lock(sqlite3_file *f, int l)
{
	return base_io->xLock(((struct fault_file *)f)->real, l);
}
static int
f_unlock(sqlite3_file *f, int l)
{
	return base_io->xUnlock(((struct fault_file *)f)->real, l);
}
static int
f_reserved(sqlite3_file *f, int *r)
{
	return base_io->xCheckReservedLock(((struct fault_file *)f)->real, r);
}
static int
f_fcntl(sqlite3_file *f, int op, void *a)
{
	return base_io->xFileControl(((struct fault_file *)f)->real, op, a);
}
static int
f_sector(sqlite3_file *f)
{
	return base_io->xSectorSize(((struct fault_file *)f)->real);
}
static int
f_dev(sqlite3_file *f)
{
	return base_io->xDeviceCharacteristics(((struct fault_file *)f)->real);
}
static int
f_shmmap(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return base_io->xShmMap(((struct fault_file *)f)->real, pg, pgsz, extend, pp);
}
static int
f_shmlock(sqlite3_file *f, int off, int n, int flags)
{
	if (fault_lock && (flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE))
		return SQLITE_IOERR;
	return base_io->xShmLock(((struct fault_file *)f)->real, off, n, flags);
}
static void
f_barrier(sqlite3_file *f)
{
	base_io->xShmBarrier(((struct fault_file *)f)->real);
}
static int
f_shmunmap(sqlite3_file *f, int del)
{
	return base_io->xShmUnmap(((struct fault_file *)f)->real, del);
}

static int
f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
	struct fault_file *ff = (struct fault_file *)file;
	int rc;

	(void)vfs;
	ff->real = (sqlite3_file *)(ff + 1);
	rc = base_vfs->xOpen(base_vfs, name, ff->real, flags, out);
	if (rc != SQLITE_OK || ff->real->pMethods == NULL) {
		file->pMethods = NULL;
		return rc;
	}
	if (base_io == NULL) {
		base_io = ff->real->pMethods;
		fault_io = (sqlite3_io_methods){
			.iVersion = 2, .xClose = f_close, .xRead = f_read, .xWrite = f_write,
			.xTruncate = f_truncate, .xSync = f_sync, .xFileSize = f_size,
			.xLock = f_lock, .xUnlock = f_unlock, .xCheckReservedLock = f_reserved,
			.xFileControl = f_fcntl, .xSectorSize = f_sector,
			.xDeviceCharacteristics = f_dev, .xShmMap = f_shmmap,
			.xShmLock = f_shmlock, .xShmBarrier = f_barrier, .xShmUnmap = f_shmunmap,
		};
	}
	file->pMethods = &fault_io;
	return SQLITE_OK;
}

static int
fault_vfs_install(void)
{
	base_vfs = sqlite3_vfs_find(NULL);
	if (base_vfs == NULL)
		return -1;
	fault_vfs = *base_vfs;
	fault_vfs.iVersion = 1; /* no xSetSystemCall and friends */
	fault_vfs.zName = "cw-fault";
	fault_vfs.szOsFile = (int)sizeof(struct fault_file) + base_vfs->szOsFile;
	fault_vfs.xOpen = f_open;
	return sqlite3_vfs_register(&fault_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/*
 * The database fails under the engine (writes refused, then a full disk at
 * commit) and comes back: every flow is still judged, the failures are
 * counted, and once the database works again the flows after it are stored.
 */
static void
test_store_failure(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const forged[] = {"forged", "kzint"};
	static struct t_chain g, f;
	char db[128], q[160];
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	int i, judged = 0, last = 0;
	uint64_t errs;

	CHECK(fault_vfs_install() == 0, "fault VFS");
	snprintf(db, sizeof(db), "%s", t_path("fail.db"));
	t_chain(&g, genuine, 2, 0);
	t_chain(&f, forged, 2, 0);
	e = open_db(db, &cfg);
	if (e == NULL)
		return;
	CHECK(cp_engine_chain(e, &g.blob, g.der, t0) == 0, "blob");
	for (i = 0; i < 6; i++)
		judge(e, t0 + i, "example.com", &g, &v);
	CHECK(cp_engine_flush(e) == 0 && cp_engine_store_errors(e, NULL) == 0, "healthy store");

	/* Writes refused: the forged chain and its flows are still judged from the cache. */
	fault_lock = 1;
	CHECK(cp_engine_chain(e, &f.blob, f.der, t0 + 100) == 0, "blob kept though not stored");
	for (i = 0; i < 5; i++) {
		memset(&v, 0, sizeof(v));
		judged += judge(e, t0 + 100 + i, "example.com", &f, &v) == CP_SUBSTITUTED &&
			  v.chain != NULL && t_has(&v, "issuer_change_for_name");
	}
	CHECK(judged == 5, "verdicts with the writes refused: %d of 5 substituted", judged);
	errs = cp_engine_store_errors(e, &last);
	CHECK(errs >= 6 && last < 0, "failed writes counted: %llu (last %d)",
	      (unsigned long long)errs, last);
	fault_lock = 0;

	/* A full disk at commit: SQLite rolls the batch back; the store starts a new one. */
	for (i = 0; i < 3; i++)
		judge(e, t0 + 200 + i, "example.com", &g, &v);
	fault_write = 1;
	CHECK(cp_engine_flush(e) < 0, "commit on a full disk fails");
	fault_write = 0;
	CHECK(cp_engine_store_errors(e, NULL) > errs, "the failed commit is counted");

	for (i = 0; i < 4; i++)
		judge(e, t0 + 300 + i, "example.com", &g, &v);
	CHECK(v.result == CP_CONSISTENT, "genuine again: %s", cp_result_name(v.result));
	CHECK(cp_engine_flush(e) == 0, "commit once the disk has room");
	cp_engine_close(e);
	snprintf(q, sizeof(q), "select count(*) from flows where ts >= %lld",
		 (long long)(t0 + 300));
	CHECK(strcmp(sql(db, q), "4") == 0, "flows after the failures stored: %s", sql(db, q));
	CHECK(strcmp(sql(db, "select count(*) from flows where ts < 1563451206"), "6") == 0,
	      "flows before the failures kept: %s",
	      sql(db, "select count(*) from flows where ts < 1563451206"));
	CHECK(strcmp(sql(db, "select count(*) from flows where verdict = 'substituted'"), "0") == 0,
	      "refused writes not stored: %s",
	      sql(db, "select count(*) from flows where verdict = 'substituted'"));
}

/*
 * The event's strings come from shared memory and need not end in a NUL: a flow whose SNI,
 * JA3, JA3S and JA4 arrays are full to the last byte is stored with each cut one byte short
 * of its array, and nothing from beyond it.
 */
static void
test_unterminated_strings(void)
{
	static const char *const genuine[] = {"leaf1", "int"};
	static struct t_chain g;
	struct cw_flow_event ev;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	char db[128], want[64];

	snprintf(db, sizeof(db), "%s", t_path("unterm.db"));
	t_chain(&g, genuine, 2, 0);
	e = open_db(db, &cfg);
	if (e == NULL)
		return;
	t_event(&ev, t_time(2019, 7, 18), "example.com", SRV, CLI, &g, 0x0303, "ja3s", 0);
	memset(ev.sni, 'a', sizeof(ev.sni));
	memset(ev.ja3, 'b', sizeof(ev.ja3));
	memset(ev.ja3s, 'c', sizeof(ev.ja3s));
	memset(ev.ja4, 'd', sizeof(ev.ja4));
	CHECK(cp_engine_flow(e, &ev, &v) == 0, "flow");
	CHECK(cp_engine_flush(e) == 0, "flush");
	cp_engine_close(e);
	snprintf(want, sizeof(want), "%zu|%zu|%zu|%zu|%zu", sizeof(ev.sni) - 1,
		 sizeof(ev.sni) - 1, sizeof(ev.ja3) - 1, sizeof(ev.ja3s) - 1, sizeof(ev.ja4) - 1);
	CHECK(strcmp(sql(db, "select length(sni), length(name), length(ja3), length(ja3s),"
			     " length(ja4) from flows"),
		     want) == 0,
	      "cut lengths: %s, want %s",
	      sql(db, "select length(sni), length(name), length(ja3), length(ja3s), length(ja4)"
		      " from flows"),
	      want);
	CHECK(strcmp(sql(db, "select count(*) from flows where sni = name and ja3 not like '%c%'"
			     " and ja4 not like '%c%'"),
		     "1") == 0,
	      "nothing from the next field: %s",
	      sql(db, "select sni = name, ja3, ja4 from flows"));
}

/*
 * The (server, name) read cache in front of cp_store_srv_get(): a second read is a hit and
 * returns the same; a learn, another connection's commit and a retention pass are seen by the
 * next read.
 */
static void
test_srv_cache(void)
{
	static const char *const srv = SRV ":443", *const name = "example.com";
	struct cp_srv_cache_stats st;
	struct cp_store *s = NULL;
	struct cp_srv_base b;
	struct cp_config cfg;
	char db[128], cmd[512], err[256] = "";
	int64_t t0 = t_time(2019, 7, 18);

	snprintf(db, sizeof(db), "%s", t_path("srvcache.db"));
	CHECK(cp_store_open(&s, db, err, sizeof(err)) == 0, "open %s: %s", db, err);
	if (s == NULL)
		return;
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 0 && b.nfp == 0, "unknown pair");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 0 && b.nfp == 0, "unknown again");
	cp_store_srv_cache_stats(s, &st);
	CHECK(st.misses == 1 && st.hits == 1, "miss then hit: %llu misses, %llu hits",
	      (unsigned long long)st.misses, (unsigned long long)st.hits);

	/* What is learned is read back at once, not the cached "unknown". */
	CHECK(cp_store_srv_learn(s, srv, name, "ja3s-a", 0x0303, 0xc02f, 0, t0) == 0, "learn");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 1 && b.nfp == 1 &&
		      strcmp(b.fp[0].ja3s, "ja3s-a") == 0 && b.fp[0].count == 1,
	      "after a learn: n %llu, %u fingerprints", (unsigned long long)b.n, b.nfp);
	/* A learn of a pair with its row and a listed fingerprint updates the slot in place. */
	CHECK(cp_store_srv_learn(s, srv, name, "ja3s-a", 0x0303, 0xc02f, 0, t0 + 1) == 0, "learn");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 2 && b.fp[0].count == 2 &&
		      b.fp[0].last_seen == t0 + 1,
	      "after a second learn: n %llu", (unsigned long long)b.n);
	cp_store_srv_cache_stats(s, &st);
	CHECK(st.hits == 2 && st.misses == 2, "read after a learn in place: %llu hits, %llu misses",
	      (unsigned long long)st.hits, (unsigned long long)st.misses);
	/* Another pair, differing only in where the separator falls, is its own entry. */
	CHECK(cp_store_srv_get(s, SRV ":44", "3example.com", &b) == 0 && b.n == 0, "other pair");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 2, "first pair kept");
	cp_store_srv_cache_stats(s, &st);
	CHECK(st.hits == 3 && st.misses == 3, "%llu hits, %llu misses",
	      (unsigned long long)st.hits, (unsigned long long)st.misses);
	CHECK(cp_store_commit(s) == 0, "commit");

	/* Another connection's commit (an operator, a second daemon) is seen by the next read. */
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"update srv_baselines set n = 7\"", db);
	CHECK(system(cmd) == 0, "sqlite3 update");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 7,
	      "another writer's row: n %llu", (unsigned long long)b.n);

	/* A retention pass deletes the pair (unseen for 40 days): the cache does not keep it. */
	cp_config_defaults(&cfg);
	cfg.baseline_days = 30;
	CHECK(cp_store_prune(s, t0 + 40 * 86400, &cfg) == 0, "prune");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 0 && b.nfp == 0,
	      "pruned pair: n %llu", (unsigned long long)b.n);
	cp_store_srv_cache_stats(s, &st);
	CHECK(st.cleared >= 3, "whole-cache drops: %llu", (unsigned long long)st.cleared);
	cp_store_close(s);
}

/*
 * Baseline reads order their rows in C, not with ORDER BY, and the trims run only when a row is
 * inserted: the rows kept, their order (ties in the order of the primary key, as the scan gives
 * them) and the bounds are what SQL's ORDER BY says of the same table.
 */
static void
test_ranked_reads(void)
{
	static const char *const srv = SRV ":443", *const name = "rank.example";
	struct cp_base_leaf leaf, got[CP_BASE_LEAVES_MAX];
	struct cp_store *s = NULL;
	struct cp_srv_base b;
	char db[128], err[256] = "", list[4096], want[4096];
	int64_t t0 = t_time(2019, 7, 18);
	int i, n, k;

	snprintf(db, sizeof(db), "%s", t_path("ranked.db"));
	CHECK(cp_store_open(&s, db, err, sizeof(err)) == 0, "open %s: %s", db, err);
	if (s == NULL)
		return;
	/* 24 leaves, seen 1-3 times each at one of 7 times: ties in last_seen and in count. */
	for (i = 0; i < 24; i++) {
		memset(&leaf, 0, sizeof(leaf));
		snprintf(leaf.leaf_spki, sizeof(leaf.leaf_spki), "spki-%02d", (i * 7) % 24);
		snprintf(leaf.issuer_key, sizeof(leaf.issuer_key), "issuer-%d", i % 3);
		snprintf(leaf.subject, sizeof(leaf.subject), "CN=%s", name);
		for (k = 0; k <= i % 3; k++)
			CHECK(cp_store_base_learn(s, name, &leaf, t0 + (i + k) % 7) == 0, "learn %d", i);
	}
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(strcmp(sql(db, "select count(*), max(count) from baselines where name='rank.example'"),
		     "16|3") == 0,
	      "rows kept: %s", sql(db, "select count(*), max(count) from baselines"));
	snprintf(want, sizeof(want), "%s",
		 sql(db, "select group_concat(leaf_spki) from (select leaf_spki from baselines where"
			 " name='rank.example' order by last_seen desc, count desc, leaf_spki)"));
	for (k = CP_BASE_LEAVES_MAX; k >= 5; k -= 11) {
		n = cp_store_base_leaves(s, name, got, (unsigned int)k);
		list[0] = '\0';
		for (i = 0; i < n; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.64s",
				 i ? "," : "", got[i].leaf_spki);
		CHECK(n == k && strncmp(list, want, strlen(list)) == 0 &&
			      (k < CP_BASE_LEAVES_MAX || strcmp(list, want) == 0),
		      "%d leaves, max %d: %s, SQL: %s", n, k, list, want);
	}
	CHECK(cp_store_base_leaves(s, name, got, 99) == CP_BASE_LEAVES_MAX, "max over the bound");

	/* ServerHello fingerprints of one pair: 12 learned, 8 kept, most recent first. */
	for (i = 0; i < 12; i++) {
		char ja3s[16];

		snprintf(ja3s, sizeof(ja3s), "ja3s-%02d", (i * 5) % 12);
		for (k = 0; k <= i % 2; k++)
			CHECK(cp_store_srv_learn(s, srv, name, ja3s, 0x0303, 0xc02f, 0,
						 t0 + (i + 3 * k) % 5) == 0,
			      "learn %d", i);
	}
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(strcmp(sql(db, "select count(*), sum(count) from srv_fps"), "8|12") == 0,
	      "fingerprints kept: %s", sql(db, "select count(*), sum(count) from srv_fps"));
	snprintf(want, sizeof(want), "%s",
		 sql(db, "select group_concat(ja3s || '/' || count) from (select ja3s, count from"
			 " srv_fps order by last_seen desc, ja3s)"));
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 18, "pair: n %llu",
	      (unsigned long long)b.n);
	list[0] = '\0';
	for (i = 0; i < (int)b.nfp; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.32s/%llu", i ? "," : "",
			 b.fp[i].ja3s, (unsigned long long)b.fp[i].count);
	CHECK(b.nfp == CP_SRV_FP_MAX && strcmp(list, want) == 0, "%u fingerprints: %s, SQL: %s",
	      b.nfp, list, want);
	cp_store_close(s);
}

/* Two connections to one new database file; 0 when both opened. */
static int
open_pair(const char *file, struct cp_store **s, struct cp_store **r)
{
	char db[128], err[256] = "";

	*s = *r = NULL;
	snprintf(db, sizeof(db), "%s", t_path(file));
	CHECK(cp_store_open(s, db, err, sizeof(err)) == 0, "open %s: %s", db, err);
	CHECK(*s == NULL || cp_store_open(r, db, err, sizeof(err)) == 0, "open %s: %s", db, err);
	return *s != NULL && *r != NULL ? 0 : -1;
}

static uint64_t
xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The cached pair, as a learn left it in place, against a read of the rows by another connection. */
static int
srv_same(const struct cp_srv_base *a, const struct cp_srv_base *b)
{
	unsigned int i;

	if (a->n != b->n || a->t13_n != b->t13_n || a->min_bytes != b->min_bytes ||
	    a->max_bytes != b->max_bytes || a->first_seen != b->first_seen || a->nfp != b->nfp)
		return 0;
	for (i = 0; i < a->nfp; i++)
		if (strcmp(a->fp[i].ja3s, b->fp[i].ja3s) != 0 || a->fp[i].version != b->fp[i].version ||
		    a->fp[i].cipher != b->fp[i].cipher || a->fp[i].count != b->fp[i].count ||
		    a->fp[i].last_seen != b->fp[i].last_seen)
			return 0;
	return 1;
}

/*
 * 4 000 learns on 16 pairs with 10 fingerprints each (more than a pair keeps: new ones insert
 * and trim), TLS 1.3 sizes now and then, times rising with jitter (out of order, repeated),
 * committed every 8 learns on average: after each commit, every pair as the cache holds it
 * (learns applied in place and written at the commit, or read again) is what a second
 * connection reads from the rows.
 */
static void
test_srv_cache_learns(void)
{
	struct cp_store *s = NULL, *r = NULL;
	struct cp_srv_cache_stats st;
	struct cp_srv_base a, b;
	char ja3s[16], p[64];
	int64_t t0 = t_time(2019, 7, 18);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int i, k, bad = 0;

	if (open_pair("srvlearn.db", &s, &r) != 0)
		goto out;
	for (i = 0; i < 4000 && bad < 5; i++) {
		unsigned int fp = (unsigned int)((x >> 11) % 10);
		uint32_t t13 = (x >> 20) % 8 ? 0 : (uint32_t)(1000 + (x >> 24) % 4000);

		snprintf(p, sizeof(p), SRV ":%u", 440 + (unsigned int)((x >> 4) % 16));
		snprintf(ja3s, sizeof(ja3s), "ja3s-%u", fp);
		CHECK(cp_store_srv_get(s, p, "example.com", &a) == 0, "read %u", i);
		CHECK(cp_store_srv_learn(s, p, "example.com", ja3s, 0x0303 + (fp & 1), 0xc02f,
					 t13, t0 + i / 8 + (int64_t)((x >> 40) % 16)) == 0,
		      "learn %u", i);
		CHECK(cp_store_srv_get(s, p, "example.com", &a) == 0, "read %u", i);
		if (xorshift(&x) % 8 != 0)
			continue;
		/* A commit writes the learns held in the cache: every pair, both ways, the same. */
		CHECK(cp_store_commit(s) == 0, "commit");
		for (k = 0; k < 16; k++) {
			snprintf(p, sizeof(p), SRV ":%u", 440 + k);
			CHECK(cp_store_srv_get(s, p, "example.com", &a) == 0 &&
				      cp_store_srv_get(r, p, "example.com", &b) == 0,
			      "reads %u", i);
			if (!srv_same(&a, &b)) {
				bad++;
				CHECK(0, "after learn %u, %s: cached n %llu/%u fps, rows n %llu/%u fps",
				      i, p, (unsigned long long)a.n, a.nfp, (unsigned long long)b.n,
				      b.nfp);
			}
		}
	}
	cp_store_srv_cache_stats(s, &st);
	CHECK(st.hits > 3 * st.misses, "reads served in place: %llu hits, %llu misses",
	      (unsigned long long)st.hits, (unsigned long long)st.misses);
out:
	if (r != NULL)
		cp_store_close(r);
	if (s != NULL)
		cp_store_close(s);
}

/*
 * Flow retention in bounded steps: each call deletes at most its budget, the oldest rows first,
 * down to the cap and then by age; the engine's flush takes one step of 4096 plus twice the
 * flows judged since the flush before.
 */
static void
test_prune_steps(void)
{
	struct cp_store *s = NULL;
	struct cp_flow_row r;
	struct cp_config cfg;
	char db[128], err[256] = "", q[160];
	int64_t t0 = t_time(2019, 7, 18);
	int i, n;

	snprintf(db, sizeof(db), "%s", t_path("prunesteps.db"));
	CHECK(cp_store_open(&s, db, err, sizeof(err)) == 0, "open %s: %s", db, err);
	if (s == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.sni = r.name = r.base = "example.com";
	r.ja3 = r.ja3s = r.ja4 = r.issuer_key = "";
	r.verdict = "consistent";
	r.signals = "[]";
	r.path_valid = -1;
	snprintf(r.cli_ip, sizeof(r.cli_ip), CLI);
	snprintf(r.srv_ip, sizeof(r.srv_ip), SRV);
	/* 20 000 flows, one a second, of which ids 10 001-12 000 came late: a day older. */
	for (i = 0; i < 20000; i++) {
		r.ts = t0 + i - (i >= 10000 && i < 12000 ? 86400 : 0);
		CHECK(cp_store_put_flow(s, &r) == 0, "flow %d", i);
	}
	CHECK(cp_store_commit(s) == 0, "commit");
	cp_config_defaults(&cfg);
	cfg.max_flows = 15000;
	cfg.retention_days = 1;
	/* The cap first, the oldest ids: 5 000 over it. */
	n = cp_store_prune_flows(s, t0 + 20000, &cfg, 3000);
	CHECK(n == 3000, "first step: %d rows", n);
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(strcmp(sql(db, "select count(*), min(id) from flows"), "17000|3001") == 0,
	      "after one step: %s", sql(db, "select count(*), min(id) from flows"));
	/* The cap's last 2 000, then 500 of the late flows (past a day), the oldest first. */
	n = cp_store_prune_flows(s, t0 + 20000, &cfg, 2500);
	CHECK(n == 2500, "second step: %d rows", n);
	CHECK(cp_store_commit(s) == 0, "commit");
	snprintf(q, sizeof(q), "select count(*), min(id), sum(ts < %lld), min(id > 10500) from flows"
		 " where id > 10000", (long long)(t0 + 20000 - 86400));
	CHECK(strcmp(sql(db, q), "9500|10501|1500|1") == 0, "cap reached, late flows going: %s",
	      sql(db, q));
	n = cp_store_prune_flows(s, t0 + 20000, &cfg, 100000);
	CHECK(n == 1500, "third step, the late flows left: %d rows", n);
	n = cp_store_prune_flows(s, t0 + 20000, &cfg, 100000);
	CHECK(n == 0, "nothing left past cap or age: %d rows", n);
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(strcmp(sql(db, "select count(*) from flows"), "13000") == 0, "kept: %s",
	      sql(db, "select count(*) from flows"));
	/* Days later every flow is past retention: a step takes its budget, no more. */
	n = cp_store_prune_flows(s, t0 + 3 * 86400, &cfg, 4096);
	CHECK(n == 4096, "age step: %d rows", n);
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(strcmp(sql(db, "select count(*) from flows"), "8904") == 0, "after the age step: %s",
	      sql(db, "select count(*) from flows"));
	cp_store_close(s);

	/*
	 * The engine, a cap of 10 over 8 904 rows without gaps in their ids (a step's budget
	 * counts ids): a flush after 100 flows takes 4 096 + 200, the close one more step.
	 */
	snprintf(db, sizeof(db), "%s", t_path("prunesteps2.db"));
	CHECK(cp_store_open(&s, db, err, sizeof(err)) == 0, "open %s: %s", db, err);
	if (s == NULL)
		return;
	for (i = 0; i < 8904; i++) {
		r.ts = t0 + i;
		CHECK(cp_store_put_flow(s, &r) == 0, "flow %d", i);
	}
	CHECK(cp_store_commit(s) == 0, "commit");
	cp_store_close(s);
	{
		static struct t_chain g;
		static const char *const genuine[] = {"leaf1", "int"};
		struct cp_engine *e;
		struct cp_verdict v;

		t_config(&cfg);
		cfg.db_path = db;
		cfg.max_flows = 10;
		e = open_cfg(&cfg);
		if (e == NULL || t_chain(&g, genuine, 2, 0) != 0)
			return;
		cp_engine_chain(e, &g.blob, g.der, t0 + 30000);
		for (i = 0; i < 100; i++)
			judge(e, t0 + 30000 + i, "example.com", &g, &v);
		CHECK(cp_engine_flush(e) == 0, "flush");
		CHECK(cp_engine_flows_pruned(e) == 4296, "one step: %llu rows",
		      (unsigned long long)cp_engine_flows_pruned(e));
		CHECK(strcmp(sql(db, "select count(*) from flows"), "4708") == 0, "after a flush: %s",
		      sql(db, "select count(*) from flows"));
		cp_engine_close(e);
		CHECK(strcmp(sql(db, "select count(*) from flows"), "612") == 0, "after close: %s",
		      sql(db, "select count(*) from flows"));
	}
}

/*
 * Learns held in the cache are not lost when their slot goes: a pair that takes the slot (same
 * slot, another pair) and another connection's commit (whose rows they add to) write them first.
 */
static void
test_srv_pending(void)
{
	static const char *const srv = SRV ":443", *const name = "example.com";
	struct cp_store *s = NULL, *r = NULL;
	struct cp_srv_base b;
	char key[128], other[64];
	uint64_t want;
	int64_t t0 = t_time(2019, 7, 18);
	unsigned int i;

	/* A name whose pair falls in the same slot as (srv, name): the slot's hash, as store.c's. */
	snprintf(key, sizeof(key), "%s%c%s", srv, 0, name);
	want = (XXH3_64bits(key, strlen(srv) + 1 + strlen(name)) | 1) % CP_SRV_CACHE_SLOTS;
	for (i = 0;; i++) {
		int l = snprintf(key, sizeof(key), "%s%cn%u.example.net", srv, 0, i);

		if ((XXH3_64bits(key, (size_t)l) | 1) % CP_SRV_CACHE_SLOTS == want)
			break;
	}
	snprintf(other, sizeof(other), "n%u.example.net", i);

	if (open_pair("srvpending.db", &s, &r) != 0)
		goto out;
	CHECK(cp_store_srv_learn(s, srv, name, "ja3s-a", 0x0303, 0xc02f, 0, t0) == 0, "learn");
	CHECK(cp_store_commit(s) == 0, "commit");
	/* Read (cached), learned (held in the slot), then the slot taken by the other pair. */
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 1, "read: n %llu",
	      (unsigned long long)b.n);
	CHECK(cp_store_srv_learn(s, srv, name, "ja3s-a", 0x0303, 0xc02f, 900, t0 + 1) == 0,
	      "learn");
	CHECK(cp_store_srv_get(s, srv, other, &b) == 0 && b.n == 0, "the other pair");
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(cp_store_srv_get(r, srv, name, &b) == 0 && b.n == 2 && b.t13_n == 1 &&
		      b.min_bytes == 900 && b.nfp == 1 && b.fp[0].count == 2 &&
		      b.fp[0].last_seen == t0 + 1,
	      "the learn held when the slot was taken is in the rows: n %llu, t13_n %llu, %u B",
	      (unsigned long long)b.n, (unsigned long long)b.t13_n, b.min_bytes);

	/* Held in s's cache while r learns and commits: s writes its learn before reading r's. */
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 2, "read again");
	CHECK(cp_store_srv_learn(s, srv, name, "ja3s-a", 0x0303, 0xc02f, 1200, t0 + 2) == 0,
	      "learn");
	CHECK(cp_store_srv_learn(r, srv, name, "ja3s-a", 0x0303, 0xc02f, 700, t0 + 3) == 0,
	      "other connection's learn");
	CHECK(cp_store_commit(r) == 0, "other connection's commit");
	CHECK(cp_store_srv_get(s, srv, name, &b) == 0 && b.n == 4 && b.t13_n == 3 &&
		      b.min_bytes == 700 && b.max_bytes == 1200 && b.fp[0].count == 4,
	      "both connections' learns: n %llu, t13_n %llu, %u-%u B, %llu",
	      (unsigned long long)b.n, (unsigned long long)b.t13_n, b.min_bytes, b.max_bytes,
	      (unsigned long long)b.fp[0].count);
	CHECK(cp_store_commit(s) == 0, "commit");
	CHECK(cp_store_srv_get(r, srv, name, &b) == 0 && b.n == 4, "rows: n %llu",
	      (unsigned long long)b.n);
out:
	if (r != NULL)
		cp_store_close(r);
	if (s != NULL)
		cp_store_close(s);
}

/* Two reads of a name's leaves, field by field; "" when the same, else what differs. */
static const char *
leaves_diff(const struct cp_base_leaf *a, int na, const struct cp_base_leaf *b, int nb)
{
	static char why[160];
	int i;

	if (na != nb) {
		snprintf(why, sizeof(why), "%d leaves against %d", na, nb);
		return why;
	}
	for (i = 0; i < na; i++) {
		if (strcmp(a[i].leaf_spki, b[i].leaf_spki) != 0 ||
		    strcmp(a[i].issuer_key, b[i].issuer_key) != 0 ||
		    strcmp(a[i].subject, b[i].subject) != 0 || a[i].count != b[i].count ||
		    a[i].first_seen != b[i].first_seen || a[i].last_seen != b[i].last_seen ||
		    a[i].not_before != b[i].not_before || a[i].ext != b[i].ext ||
		    strcmp(a[i].san, b[i].san) != 0) {
			snprintf(why, sizeof(why), "leaf %d: %.20s/%.12s/%llu/%lld against %.20s/%.12s/%llu/%lld",
				 i, a[i].leaf_spki, a[i].issuer_key, (unsigned long long)a[i].count,
				 (long long)a[i].last_seen, b[i].leaf_spki, b[i].issuer_key,
				 (unsigned long long)b[i].count, (long long)b[i].last_seen);
			return why;
		}
	}
	return "";
}

static void
leaf_make(struct cp_base_leaf *l, unsigned int k, unsigned int issuer)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->leaf_spki, sizeof(l->leaf_spki), "spki-%02u", k);
	snprintf(l->issuer_key, sizeof(l->issuer_key), "issuer-%u", issuer);
	snprintf(l->subject, sizeof(l->subject), "CN=leaf %u", k);
	snprintf(l->san, sizeof(l->san), "leaf%u.example.com", k);
	snprintf(l->key_type, sizeof(l->key_type), "RSA");
	l->ext = k;
	l->not_before = 1000 + k;
}

/*
 * The name baselines' cache, as the server baselines': 3 000 learns on 8 names (one with more
 * leaves than a name keeps), issuer keys changing, times rising with jitter, read before and
 * after each learn, committed every 8 learns on average: after each commit every name as the
 * cache holds it is what a second connection reads from the rows. Then the learns held when
 * another name takes the slot and when another connection commits reach the rows.
 */
static void
test_name_cache(void)
{
	static struct cp_base_leaf a[CP_BASE_LEAVES_MAX], b[CP_BASE_LEAVES_MAX];
	struct cp_store *s = NULL, *r = NULL;
	struct cp_srv_cache_stats st;
	struct cp_base_leaf l;
	char name[64], other[64];
	int64_t t0 = t_time(2019, 7, 18);
	uint64_t x = 0x452821e638d01377ull, want;
	unsigned int i, k, bad = 0;
	int na, nb;

	if (open_pair("namecache.db", &s, &r) != 0)
		goto out;
	for (i = 0; i < 3000 && bad < 5; i++) {
		unsigned int n = (unsigned int)((x >> 5) % 8);

		snprintf(name, sizeof(name), "n%u.example.com", n);
		leaf_make(&l, (unsigned int)((x >> 12) % (n == 0 ? 20 : 6)),
			  (unsigned int)((x >> 20) % 3));
		na = cp_store_base_leaves(s, name, a, CP_BASE_LEAVES_MAX);
		CHECK(na >= 0, "read %u", i);
		CHECK(cp_store_base_learn(s, name, &l, t0 + i / 8 + (int64_t)((x >> 40) % 16)) == 0,
		      "learn %u", i);
		na = cp_store_base_leaves(s, name, a, CP_BASE_LEAVES_MAX);
		CHECK(na >= 0, "read %u", i);
		if (xorshift(&x) % 8 != 0)
			continue;
		CHECK(cp_store_commit(s) == 0, "commit");
		for (k = 0; k < 8; k++) {
			const char *why;

			snprintf(name, sizeof(name), "n%u.example.com", k);
			na = cp_store_base_leaves(s, name, a, CP_BASE_LEAVES_MAX);
			nb = cp_store_base_leaves(r, name, b, CP_BASE_LEAVES_MAX);
			why = leaves_diff(a, na, b, nb);
			if (*why != '\0') {
				bad++;
				CHECK(0, "after learn %u, %s: %s", i, name, why);
			}
		}
	}
	cp_store_srv_cache_stats(s, &st);
	CHECK(st.name_hits > 3 * st.name_misses, "name reads served in place: %llu hits, %llu misses",
	      (unsigned long long)st.name_hits, (unsigned long long)st.name_misses);

	/* A name in the same slot as n1.example.com takes it while n1's learn is pending. */
	want = (XXH3_64bits("n1.example.com", 14) | 1) % CP_NAME_CACHE_SLOTS;
	for (i = 0;; i++) {
		int len = snprintf(other, sizeof(other), "o%u.example.net", i);

		if ((XXH3_64bits(other, (size_t)len) | 1) % CP_NAME_CACHE_SLOTS == want)
			break;
	}
	CHECK(cp_store_commit(s) == 0, "commit");
	na = cp_store_base_leaves(s, "n1.example.com", a, CP_BASE_LEAVES_MAX);
	CHECK(na > 0, "n1 read");
	memset(&l, 0, sizeof(l));
	snprintf(l.leaf_spki, sizeof(l.leaf_spki), "%s", na > 0 ? a[0].leaf_spki : "");
	snprintf(l.issuer_key, sizeof(l.issuer_key), "issuer-late");
	CHECK(cp_store_base_learn(s, "n1.example.com", &l, t0 + 100000) == 0, "learn");
	CHECK(cp_store_base_leaves(s, other, b, CP_BASE_LEAVES_MAX) == 0, "other name");
	CHECK(cp_store_commit(s) == 0, "commit");
	/* Held in s (which has written nothing since) while r learns the same leaf and commits. */
	CHECK(cp_store_base_leaves(s, "n1.example.com", b, CP_BASE_LEAVES_MAX) > 0, "n1 again");
	CHECK(cp_store_base_learn(s, "n1.example.com", &l, t0 + 100001) == 0, "learn");
	CHECK(cp_store_base_learn(r, "n1.example.com", &l, t0 + 100002) == 0,
	      "other connection's learn");
	CHECK(cp_store_commit(r) == 0, "other connection's commit");
	CHECK(cp_store_base_leaves(s, "n1.example.com", b, CP_BASE_LEAVES_MAX) > 0 &&
		      b[0].count == a[0].count + 3,
	      "s reads both connections' learns: %llu", (unsigned long long)b[0].count);
	CHECK(cp_store_commit(s) == 0, "commit");
	nb = cp_store_base_leaves(r, "n1.example.com", b, CP_BASE_LEAVES_MAX);
	CHECK(na > 0 && nb > 0 && strcmp(b[0].leaf_spki, a[0].leaf_spki) == 0 &&
		      b[0].count == a[0].count + 3 && b[0].last_seen == t0 + 100002 &&
		      strcmp(b[0].issuer_key, "issuer-late") == 0,
	      "learns held when the slot was taken and across another commit: %llu (was %llu)",
	      (unsigned long long)b[0].count, (unsigned long long)a[0].count);
	na = cp_store_base_leaves(s, "n1.example.com", a, CP_BASE_LEAVES_MAX);
	CHECK(*leaves_diff(a, na, b, nb) == '\0', "both connections read the same: %s",
	      leaves_diff(a, na, b, nb));
out:
	if (r != NULL)
		cp_store_close(r);
	if (s != NULL)
		cp_store_close(s);
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
	test_caps();
	test_store_failure();
	test_srv_cache();
	test_srv_cache_learns();
	test_srv_pending();
	test_name_cache();
	test_ranked_reads();
	test_prune_steps();
	test_unterminated_strings();
	t_rmpki();
	printf("test_store: %d checks, %d failed\n", t_run, t_fail);
	return t_fail ? 1 : 0;
}
