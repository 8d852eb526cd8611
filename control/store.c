/* SPDX-License-Identifier: BSD-3-Clause */
/* SQLite (WAL) persistence: chains, certificates, baselines, flow verdicts and alerts. */

/*
 * Schema (version in meta.schema_version). Every time stamp is capture time in
 * unix seconds, never the wall clock, so an offline capture replays the same.
 * Hashes and ids are lowercase hex.
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)           schema_version,
 *                                                    chain_key_id (cp_store_chain_key)
 *   certs(sha256 PK, spki_sha256, subject, issuer, serial, not_before, not_after,
 *         key_type, key_bits, rsa_e, sig_alg, ext, ski, aki, san, der BLOB)
 *         ext is the CP_EXT_* mask; san is "a,b,c", names past 1 KiB left out
 *         (a chain read back is analysed again from der, which says so).
 *   chains(chain_id PK, ncerts, first_seen, last_seen, path_valid (-1 not yet
 *          validated, 0, 1), path_error, validated_at, anchor, anchor_category,
 *          issuer_key, leaf_sha256)
 *   chain_certs(chain_id, pos, cert_sha256, PRIMARY KEY(chain_id, pos))  pos 0 = leaf
 *   baselines(name, leaf_spki, issuer_key, subject, san, ext, key_type, key_bits,
 *             rsa_e, not_before, not_after, first_seen, last_seen, count,
 *             PRIMARY KEY(name, leaf_spki))        at most 16 rows per name
 *   srv_baselines(srv, name, n, t13_n, min_bytes, max_bytes, first_seen, last_seen,
 *                 PRIMARY KEY(srv, name))
 *   srv_fps(srv, name, ja3s, version, cipher, count, first_seen, last_seen,
 *           PRIMARY KEY(srv, name, ja3s, version, cipher))  at most 8 per pair
 *   flows(id INTEGER PRIMARY KEY, ts, ts_ns, cli_ip, cli_port, srv_ip, srv_port,
 *         sni, name, base, version, cipher, ja3, ja3s, ja4, chain_id, issuer_key,
 *         path_valid, verdict, confidence, signals, flags, anomalies, t13_bytes)
 *         verdict is substituted|suspicious|consistent|unknown; signals is a JSON
 *         array of {"name","weight","detail"}; chain_id "" when none was visible;
 *         version is the negotiated TLS version (0x0304 = 772 for TLS 1.3).
 *   alerts(id, flow_id, ts, name, srv_ip, verdict, confidence, chain_id, signals)
 *          a view: the substituted and suspicious flows (id = flow_id = flows.id).
 *          Version 1 kept a table with a copy of each such row; opening a version 1
 *          database drops it for the view (migrate()).
 *   assoc(kind, key, n, first_seen, last_seen, PRIMARY KEY(kind, key))
 *          substituted TLS <= 1.2 flows with a chain, counted per server (kind 0,
 *          key "address|port") and per name (kind 1): what t13_assoc_* reads
 *          (filled from flows when a database without it is opened)
 *   fanout(issuer_key, base, first_seen, last_seen, PRIMARY KEY(issuer_key, base))
 *          the base domains of flows whose chain did not validate, per issuer key:
 *          what issuer_fanout counts, one row per pair rather than a scan of the
 *          flows (filled from flows when a database without it is opened)
 *
 * Bounds: flows (and so alerts) are pruned by capture age (retention_days) and
 * by row count (max_flows); baselines not seen for baseline_days go;
 * chains unseen for retention_days go, and certificates no chain uses.
 * Whatever a client or server can make the engine learn is also capped by
 * row count, the least recently seen rows going first: baselines and
 * srv_baselines at max_baselines rows each (srv_fps rows go with their
 * (srv, name) pair), chains at max_chains (and their certificates).
 * fanout rows older than the fan-out window go, assoc rows older than the
 * association window, and beyond max_baselines rows (each table) the least
 * recently seen.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include <sqlite3.h>

#include "store.h"
#include "x509.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS certs(sha256 TEXT PRIMARY KEY, spki_sha256 TEXT, subject TEXT,"
	" issuer TEXT, serial TEXT, not_before INTEGER, not_after INTEGER, key_type TEXT,"
	" key_bits INTEGER, rsa_e INTEGER, sig_alg TEXT, ext INTEGER, ski TEXT, aki TEXT, san TEXT,"
	" der BLOB);"
	"CREATE INDEX IF NOT EXISTS certs_spki ON certs(spki_sha256);"
	"CREATE TABLE IF NOT EXISTS chains(chain_id TEXT PRIMARY KEY, ncerts INTEGER,"
	" first_seen INTEGER, last_seen INTEGER, path_valid INTEGER, path_error TEXT,"
	" validated_at INTEGER, anchor TEXT, anchor_category TEXT, issuer_key TEXT,"
	" leaf_sha256 TEXT);"
	"CREATE TABLE IF NOT EXISTS chain_certs(chain_id TEXT, pos INTEGER, cert_sha256 TEXT,"
	" PRIMARY KEY(chain_id, pos));"
	"CREATE INDEX IF NOT EXISTS chain_certs_cert ON chain_certs(cert_sha256);"
	"CREATE TABLE IF NOT EXISTS baselines(name TEXT, leaf_spki TEXT, issuer_key TEXT,"
	" subject TEXT, san TEXT, ext INTEGER, key_type TEXT, key_bits INTEGER, rsa_e INTEGER,"
	" not_before INTEGER, not_after INTEGER, first_seen INTEGER, last_seen INTEGER,"
	" count INTEGER, PRIMARY KEY(name, leaf_spki));"
	"CREATE TABLE IF NOT EXISTS srv_baselines(srv TEXT, name TEXT, n INTEGER, t13_n INTEGER,"
	" min_bytes INTEGER, max_bytes INTEGER, first_seen INTEGER, last_seen INTEGER,"
	" PRIMARY KEY(srv, name));"
	"CREATE TABLE IF NOT EXISTS srv_fps(srv TEXT, name TEXT, ja3s TEXT, version INTEGER,"
	" cipher INTEGER, count INTEGER, first_seen INTEGER, last_seen INTEGER,"
	" PRIMARY KEY(srv, name, ja3s, version, cipher));"
	"CREATE TABLE IF NOT EXISTS flows(id INTEGER PRIMARY KEY, ts INTEGER, ts_ns INTEGER,"
	" cli_ip TEXT, cli_port INTEGER, srv_ip TEXT, srv_port INTEGER, sni TEXT, name TEXT,"
	" base TEXT, version INTEGER, cipher INTEGER, ja3 TEXT, ja3s TEXT, ja4 TEXT,"
	" chain_id TEXT, issuer_key TEXT, path_valid INTEGER, verdict TEXT, confidence REAL,"
	" signals TEXT, flags INTEGER, anomalies INTEGER, t13_bytes INTEGER);"
	"CREATE INDEX IF NOT EXISTS flows_ts ON flows(ts);"
	"CREATE INDEX IF NOT EXISTS flows_verdict ON flows(verdict, ts);"
	/*
	 * Flows by name and by issuer key: the flagged ones only, which the summary and an
	 * investigation look up; every consistent flow would pay for two more B-tree inserts. A
	 * query uses them when its WHERE has the same verdict term. Older databases indexed every
	 * flow: those indexes go (once).
	 */
	"DROP INDEX IF EXISTS flows_name;"
	"DROP INDEX IF EXISTS flows_issuer;"
	"CREATE INDEX IF NOT EXISTS flows_flagged_name ON flows(name, verdict, ts)"
	" WHERE verdict IN ('substituted', 'suspicious');"
	"CREATE INDEX IF NOT EXISTS flows_flagged_issuer ON flows(issuer_key, ts)"
	" WHERE verdict IN ('substituted', 'suspicious');"
	"CREATE INDEX IF NOT EXISTS flows_chain ON flows(chain_id);"
	"CREATE VIEW IF NOT EXISTS alerts AS SELECT id, id AS flow_id, ts, name, srv_ip, verdict,"
	" confidence, chain_id, signals FROM flows WHERE verdict IN ('substituted', 'suspicious');"
	"CREATE TABLE IF NOT EXISTS fanout(issuer_key TEXT, base TEXT, first_seen INTEGER,"
	" last_seen INTEGER, PRIMARY KEY(issuer_key, base));"
	"CREATE INDEX IF NOT EXISTS fanout_seen ON fanout(issuer_key, last_seen);"
	"CREATE TABLE IF NOT EXISTS assoc(kind INTEGER, key TEXT, n INTEGER, first_seen INTEGER,"
	" last_seen INTEGER, PRIMARY KEY(kind, key));";

/* A database made before the assoc table: its rows from the flows kept (once, at open). */
static const char assoc_fill[] =
	"INSERT OR IGNORE INTO assoc SELECT 0, srv_ip || '|' || srv_port, COUNT(*), MIN(ts),"
	" MAX(ts) FROM flows WHERE verdict='substituted' AND chain_id<>'' AND version<=771"
	" GROUP BY srv_ip, srv_port;"
	"INSERT OR IGNORE INTO assoc SELECT 1, name, COUNT(*), MIN(ts), MAX(ts) FROM flows"
	" WHERE verdict='substituted' AND chain_id<>'' AND version<=771 AND name<>''"
	" GROUP BY name;";

/* A database made before the fanout table: its rows from the flows kept (once, at open). */
static const char fanout_fill[] =
	"INSERT OR IGNORE INTO fanout SELECT issuer_key, base, MIN(ts), MAX(ts) FROM flows"
	" WHERE path_valid=0 AND issuer_key<>'' GROUP BY issuer_key, base;";

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_DATA_VERSION,
	S_CERT_PUT,
	S_CHAIN_PUT,
	S_CHAIN_CERT_PUT,
	S_CHAIN_VALIDATED,
	S_CHAIN_GET,
	S_INTERMEDIATES,
	S_BASE_GET,
	S_BASE_BUMP,
	S_BASE_ADD,
	S_BASE_PUT,
	S_BASE_TRIM,
	S_SRV_GET,
	S_SRV_FP_GET,
	S_SRV_PUT,
	S_SRV_FP_BUMP,
	S_SRV_ADD,
	S_SRV_FP_ADD,
	S_SRV_FP_PUT,
	S_SRV_FP_TRIM,
	S_FANOUT,
	S_ASSOC,
	S_FLOW_PUT,
	S_FLOW_CAP,
	S_FLOW_AGE,
	S_FANOUT_PUT,
	S_ASSOC_PUT,
	S__MAX
};

static const char *const stmt_sql[S__MAX] = {
	[S_BEGIN] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_DATA_VERSION] = "PRAGMA data_version",
	[S_CERT_PUT] = "INSERT OR IGNORE INTO certs VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_CHAIN_PUT] = "INSERT OR IGNORE INTO chains(chain_id, ncerts, first_seen, last_seen,"
			" path_valid, path_error, validated_at, anchor, anchor_category, issuer_key,"
			" leaf_sha256) VALUES(?1,?2,?6,?6,-1,'',0,?3,?4,'',?5)",
	[S_CHAIN_CERT_PUT] = "INSERT OR IGNORE INTO chain_certs VALUES(?,?,?)",
	[S_CHAIN_VALIDATED] = "UPDATE chains SET path_valid=?2, path_error=?3, issuer_key=?4,"
			      " validated_at=CASE WHEN validated_at=0 THEN ?5 ELSE validated_at END,"
			      " last_seen=MAX(last_seen, ?6) WHERE chain_id=?1",
	[S_CHAIN_GET] = "SELECT c.der, ch.validated_at FROM chain_certs cc JOIN certs c"
			" ON c.sha256=cc.cert_sha256 JOIN chains ch ON ch.chain_id=cc.chain_id"
			" WHERE cc.chain_id=? ORDER BY cc.pos",
	[S_INTERMEDIATES] = "SELECT der FROM (SELECT c.der AS der, MAX(ch.last_seen) AS ls"
			    " FROM chains ch JOIN chain_certs cc ON cc.chain_id=ch.chain_id"
			    " JOIN certs c ON c.sha256=cc.cert_sha256"
			    " WHERE ch.path_valid=1 AND cc.pos>0 GROUP BY c.sha256"
			    " ORDER BY ls DESC LIMIT ?) ORDER BY ls ASC",
	/* No ORDER BY: a sort opens a temporary B-tree per call; rank_insert() orders the rows. */
	[S_BASE_GET] = "SELECT leaf_spki, issuer_key, subject, ext, key_type, key_bits, rsa_e,"
		       " not_before, not_after, first_seen, last_seen, count FROM baselines"
		       " WHERE name=?",
	/*
	 * A leaf seen before is counted in place; only when no row matched is it inserted and the
	 * name's rows trimmed (an upsert tells which it did only through RETURNING, whose
	 * temporary B-tree costs what skipping the trim saves). srv_fps likewise.
	 */
	[S_BASE_BUMP] = "UPDATE baselines SET count=count+1, last_seen=MAX(last_seen, ?3),"
			" issuer_key=?4 WHERE name=?1 AND leaf_spki=?2",
	[S_BASE_PUT] = "INSERT INTO baselines VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?12,1)",
	/* A name slot's learns of one leaf, written at the commit: ?3 of them, the newest at ?4. */
	[S_BASE_ADD] = "UPDATE baselines SET count=count+?3, last_seen=MAX(last_seen, ?4),"
		       " issuer_key=?5 WHERE name=?1 AND leaf_spki=?2",
	[S_BASE_TRIM] = "DELETE FROM baselines WHERE name=?1 AND leaf_spki NOT IN (SELECT leaf_spki"
			" FROM baselines WHERE name=?1 ORDER BY last_seen DESC LIMIT ?2)",
	[S_SRV_GET] = "SELECT n, t13_n, min_bytes, max_bytes, first_seen FROM srv_baselines"
		      " WHERE srv=? AND name=?",
	[S_SRV_FP_GET] = "SELECT ja3s, version, cipher, count, last_seen FROM srv_fps"
			 " WHERE srv=? AND name=?",
	[S_SRV_PUT] = "INSERT INTO srv_baselines VALUES(?1,?2,1,?3,?4,?4,?5,?5)"
		      " ON CONFLICT(srv, name) DO UPDATE SET n=n+1, t13_n=t13_n+?3,"
		      " min_bytes=CASE WHEN ?3=0 THEN min_bytes WHEN t13_n=0 THEN ?4"
		      "  ELSE MIN(min_bytes, ?4) END,"
		      " max_bytes=CASE WHEN ?3=0 THEN max_bytes ELSE MAX(max_bytes, ?4) END,"
		      " last_seen=MAX(last_seen, ?5)",
	[S_SRV_FP_BUMP] = "UPDATE srv_fps SET count=count+1, last_seen=MAX(last_seen, ?6)"
			  " WHERE srv=?1 AND name=?2 AND ja3s=?3 AND version=?4 AND cipher=?5",
	[S_SRV_FP_PUT] = "INSERT INTO srv_fps VALUES(?1,?2,?3,?4,?5,1,?6,?6)",
	/*
	 * Learns held in a cache slot, written at the commit: ?3 learns, ?4 of them with a TLS 1.3
	 * flight whose sizes span ?5..?6, the newest at ?7. Applied to the row, the same as ?3
	 * separate S_SRV_PUT updates (the MIN/MAX and the t13_n=0 case do not depend on order).
	 */
	[S_SRV_ADD] = "UPDATE srv_baselines SET n=n+?3, t13_n=t13_n+?4,"
		      " min_bytes=CASE WHEN ?4=0 THEN min_bytes WHEN t13_n=0 THEN ?5"
		      "  ELSE MIN(min_bytes, ?5) END,"
		      " max_bytes=CASE WHEN ?4=0 THEN max_bytes ELSE MAX(max_bytes, ?6) END,"
		      " last_seen=MAX(last_seen, ?7) WHERE srv=?1 AND name=?2",
	[S_SRV_FP_ADD] = "UPDATE srv_fps SET count=count+?6, last_seen=MAX(last_seen, ?7)"
			 " WHERE srv=?1 AND name=?2 AND ja3s=?3 AND version=?4 AND cipher=?5",
	[S_SRV_FP_TRIM] = "DELETE FROM srv_fps WHERE srv=?1 AND name=?2 AND rowid NOT IN (SELECT"
			  " rowid FROM srv_fps WHERE srv=?1 AND name=?2 ORDER BY last_seen DESC"
			  " LIMIT ?3)",
	[S_FANOUT] = "SELECT COUNT(*), MIN(MAX(first_seen, ?2)) FROM fanout WHERE issuer_key=?1"
		     " AND last_seen>=?2 AND base<>?3",
	[S_ASSOC] = "SELECT SUM(CASE WHEN kind=0 THEN n ELSE 0 END),"
		    " SUM(CASE WHEN kind=1 THEN n ELSE 0 END), MAX(last_seen) FROM assoc"
		    " WHERE ((kind=0 AND key=?1) OR (kind=1 AND key=?2)) AND last_seen>=?3",
	[S_FLOW_PUT] = "INSERT INTO flows(ts, ts_ns, cli_ip, cli_port, srv_ip, srv_port, sni, name,"
		       " base, version, cipher, ja3, ja3s, ja4, chain_id, issuer_key, path_valid,"
		       " verdict, confidence, signals, flags, anomalies, t13_bytes)"
		       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	/* ids only grow and rows leave from the old end: the cap is an id range. */
	[S_FLOW_CAP] = "DELETE FROM flows WHERE id <= MIN((SELECT MAX(id) FROM flows) - ?1,"
		       " (SELECT MIN(id) FROM flows) + ?2 - 1)",
	[S_FLOW_AGE] = "DELETE FROM flows WHERE id IN (SELECT id FROM flows WHERE ts < ?1 LIMIT ?2)",
	[S_FANOUT_PUT] = "INSERT INTO fanout VALUES(?1,?2,?3,?3) ON CONFLICT(issuer_key, base)"
			 " DO UPDATE SET first_seen=MIN(first_seen, excluded.first_seen),"
			 " last_seen=MAX(last_seen, excluded.last_seen)",
	[S_ASSOC_PUT] = "INSERT INTO assoc VALUES(?1,?2,1,?3,?3) ON CONFLICT(kind, key)"
			" DO UPDATE SET n=n+1, first_seen=MIN(first_seen, excluded.first_seen),"
			" last_seen=MAX(last_seen, excluded.last_seen)",
};

/*
 * Server baselines as cp_store_srv_get() last read them, in front of SQLite: every judged flow
 * with a name reads its (server, name) pair, and most flows go to pairs read before. Direct
 * mapped, CP_SRV_CACHE_SLOTS slots (store.h) keyed by XXH3-64 of the pair, the pair's text
 * compared on a hit; a pair that maps to a taken slot replaces what is there. A pair longer
 * than a slot's text is not kept. What the cache holds is what SQLite would return:
 *   - cp_store_srv_learn() of a pair whose slot holds all a learn changes (the pair's row,
 *     and the fingerprint learned among those listed) applies the learn to the slot
 *     (srv_slot_learn()) and keeps it there, pending: a commit writes every pending slot's
 *     learns to the rows first (cache_flush()), as do a retention pass and another connection's
 *     commit before they drop the cache, and a pair that takes a pending slot's place. Any
 *     other learn (a new pair, a new fingerprint and its trim) writes its pair's pending
 *     learns, then its own, and drops the slot;
 *   - a retention pass (it deletes and caps rows) drops all;
 *   - a rolled-back transaction drops all, pending learns too: they were the transaction's,
 *     as lost as its rows;
 *   - another connection's commit (PRAGMA data_version moved) drops all.
 */
struct srv_slot {
	uint64_t h; /* 0: empty */
	char srv[64];
	char name[CP_NAME_MAX];
	struct cp_srv_base b;
	/* Learns applied to b but not to the rows: 0 when none (not on the pending list). */
	uint32_t pend_n, pend_t13;          /* learns; of them, with a TLS 1.3 flight */
	uint32_t pend_min, pend_max;        /* those flights' sizes */
	int64_t pend_last;                  /* newest capture time among them */
	uint32_t pend_fp[CP_SRV_FP_MAX];    /* learns per fingerprint, as b.fp[] is ordered */
	uint8_t listed;                     /* on the store's pending list */
};

/*
 * Name baselines as cp_store_base_leaves() last read them, kept the same way as the server
 * baselines above: CP_NAME_CACHE_SLOTS direct-mapped slots keyed by XXH3-64 of the name, each
 * with the name's leaves as ranked (all of its rows, up to CP_BASE_LEAVES_MAX), allocated to
 * their number when the slot is filled. A learn of a listed leaf is applied to the slot and
 * held there pending (name_slot_learn()), written at the commit (S_BASE_ADD) or before the
 * slot goes, exactly as the server baselines' learns are; any other learn (a new leaf, its
 * insert and trim) writes its own rows and drops the slot.
 */
struct name_leaf {
	char leaf_spki[65];
	char issuer_key[CP_ISSUER_KEY_MAX];
	char subject[CP_DN_MAX];
	char key_type[16];
	uint32_t ext;
	int key_bits;
	uint64_t rsa_e;
	int64_t not_before, not_after, first_seen, last_seen;
	uint64_t count;
	uint32_t pend; /* learns applied here, not to the row */
};

struct name_slot {
	uint64_t h; /* 0: empty */
	char name[CP_NAME_MAX];
	unsigned int n;         /* leaves at leaf */
	struct name_leaf *leaf; /* n of them, most recently seen first */
	uint8_t pending;        /* some leaf has pend > 0 */
	uint8_t listed;         /* on the store's pending list */
};

/* Owned by the control thread alone; SQLite is used single-threaded. */
struct cp_store {
	sqlite3 *db;
	sqlite3_stmt *st[S__MAX];
	int in_txn;
	unsigned int ops; /* writes in the open transaction */
	int64_t data_version;
	struct srv_slot *srv_cache; /* CP_SRV_CACHE_SLOTS */
	uint32_t *srv_pending;      /* slots with pend_n > 0, at most CP_SRV_CACHE_SLOTS */
	unsigned int srv_npending;
	struct name_slot *name_cache; /* CP_NAME_CACHE_SLOTS */
	uint32_t *name_pending;     /* slots with learns pending, at most CP_NAME_CACHE_SLOTS */
	unsigned int name_npending;
	struct cp_srv_cache_stats srv_stats;
};

static int
db_err(int rc)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* A query's last step was neither a row nor its end: the rows read so far are not the answer. */
static int
read_failed(int rc)
{
	return rc != SQLITE_ROW && rc != SQLITE_DONE;
}

static sqlite3_stmt *
stmt(struct cp_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->st[id];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/*
 * SQLITE_STATIC: SQLite reads the caller's string where it lies instead of copying it (a
 * malloc, a copy and a free per parameter). Every function here binds and steps its statement
 * before it returns, and stmt() clears the bindings before the next use, so no bound string
 * is read after its owner is gone.
 */
static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

static void
name_cache_free(struct cp_store *s)
{
	unsigned int i;

	for (i = 0; i < CP_NAME_CACHE_SLOTS; i++)
		free(s->name_cache[i].leaf);
	free(s->name_cache);
	free(s->name_pending);
}

static void
cache_clear(struct cp_store *s)
{
	unsigned int i;

	for (i = 0; i < CP_SRV_CACHE_SLOTS; i++) {
		s->srv_cache[i].h = 0;
		s->srv_cache[i].pend_n = 0;
		s->srv_cache[i].listed = 0;
	}
	s->srv_npending = 0;
	for (i = 0; i < CP_NAME_CACHE_SLOTS; i++) {
		struct name_slot *ns = &s->name_cache[i];

		free(ns->leaf);
		memset(ns, 0, sizeof(*ns));
	}
	s->name_npending = 0;
	s->srv_stats.cleared++;
}

static int step_done(struct cp_store *s, sqlite3_stmt *st);
static int cache_check(struct cp_store *s);

/* A slot's pending learns written to its rows (the slot stays as it is); 0 or -errno. */
static int
srv_slot_write(struct cp_store *s, struct srv_slot *slot)
{
	sqlite3_stmt *st;
	unsigned int i;
	int ret;

	if (slot->pend_n == 0)
		return 0;
	st = stmt(s, S_SRV_ADD);
	bind_text(st, 1, slot->srv);
	bind_text(st, 2, slot->name);
	sqlite3_bind_int64(st, 3, slot->pend_n);
	sqlite3_bind_int64(st, 4, slot->pend_t13);
	sqlite3_bind_int64(st, 5, slot->pend_min);
	sqlite3_bind_int64(st, 6, slot->pend_max);
	sqlite3_bind_int64(st, 7, slot->pend_last);
	ret = step_done(s, st);
	for (i = 0; ret == 0 && i < slot->b.nfp; i++) {
		if (slot->pend_fp[i] == 0)
			continue;
		st = stmt(s, S_SRV_FP_ADD);
		bind_text(st, 1, slot->srv);
		bind_text(st, 2, slot->name);
		bind_text(st, 3, slot->b.fp[i].ja3s);
		sqlite3_bind_int(st, 4, slot->b.fp[i].version);
		sqlite3_bind_int(st, 5, slot->b.fp[i].cipher);
		sqlite3_bind_int64(st, 6, slot->pend_fp[i]);
		sqlite3_bind_int64(st, 7, slot->b.fp[i].last_seen);
		ret = step_done(s, st);
	}
	slot->pend_n = 0;
	return ret;
}

/* A name slot's pending learns written to its rows (the slot stays as it is); 0 or -errno. */
static int
name_slot_write(struct cp_store *s, struct name_slot *ns)
{
	unsigned int i;
	int ret = 0;

	/*
	 * A failed step whose error rolled the transaction back empties the caches (txn_check()),
	 * leaves and all: nothing of the slot is touched after a step, and the loop then ends on
	 * the slot's emptied state.
	 */
	for (i = 0; ns->pending && i < ns->n; i++) {
		struct name_leaf *l = &ns->leaf[i];
		uint32_t pend = l->pend;
		sqlite3_stmt *st;

		l->pend = 0;
		if (pend == 0 || ret != 0)
			continue;
		st = stmt(s, S_BASE_ADD);
		bind_text(st, 1, ns->name);
		bind_text(st, 2, l->leaf_spki);
		sqlite3_bind_int64(st, 3, pend);
		sqlite3_bind_int64(st, 4, l->last_seen);
		bind_text(st, 5, l->issuer_key);
		ret = step_done(s, st);
	}
	ns->pending = 0;
	return ret;
}

/*
 * Every pending slot's learns written to the rows (srv_slot_write(), name_slot_write()). A
 * failed write loses those learns, as a failed write loses its row; the first error is
 * returned.
 */
static int
cache_flush(struct cp_store *s)
{
	unsigned int i;
	int ret = 0, r;

	for (i = 0; i < s->name_npending; i++) {
		struct name_slot *ns = &s->name_cache[s->name_pending[i]];

		r = name_slot_write(s, ns);
		ns->listed = 0;
		if (ret == 0)
			ret = r;
	}
	s->name_npending = 0;
	for (i = 0; i < s->srv_npending; i++) {
		struct srv_slot *slot = &s->srv_cache[s->srv_pending[i]];

		r = srv_slot_write(s, slot);
		slot->listed = 0;
		if (ret == 0)
			ret = r;
	}
	s->srv_npending = 0;
	return ret;
}

/*
 * After an error SQLite may have rolled the open transaction back on its own (SQLITE_FULL,
 * SQLITE_IOERR, SQLITE_NOMEM among others): the store then notices that it is back in
 * autocommit mode, so the next write opens a new transaction instead of every later COMMIT
 * failing with no transaction active, and what the cache read inside that transaction goes.
 */
static void
txn_check(struct cp_store *s)
{
	if (s->in_txn && sqlite3_get_autocommit(s->db)) {
		s->in_txn = 0;
		s->ops = 0;
		cache_clear(s);
	}
}

/*
 * One step of a statement that returns nothing the caller reads. On an error the
 * transaction may be gone (txn_check()): the rows of the rolled-back batch are
 * lost; the caller sees this write's error.
 */
static int
step_done(struct cp_store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	txn_check(s);
	return db_err(rc);
}

/* Writes go into one open transaction, committed by cp_store_commit or after CP_TXN_MAX_OPS. */
static int
write_begin(struct cp_store *s)
{
	int ret;

	/*
	 * A commit that fails here (SQLITE_BUSY: another writer holds the
	 * database) leaves the transaction open: this write joins it, and the
	 * next periodic cp_store_commit() tries again. The batch then grows past
	 * CP_TXN_MAX_OPS in SQLite's journal on disk, not in memory.
	 */
	if (s->in_txn && s->ops >= CP_TXN_MAX_OPS)
		(void)cp_store_commit(s);
	if (!s->in_txn) {
		ret = step_done(s, stmt(s, S_BEGIN));
		if (ret)
			return ret;
		s->in_txn = 1;
		s->ops = 0;
	}
	s->ops++;
	return 0;
}

int
cp_store_commit(struct cp_store *s)
{
	int ret;

	if (!s->in_txn)
		return 0;
	ret = cache_flush(s);
	if (ret)
		return ret;
	ret = step_done(s, stmt(s, S_COMMIT));
	if (ret == 0)
		s->in_txn = 0;
	return ret;
}

/* *yes = whether db has a table of that name. An SQLite result code. */
static int
table_exists(sqlite3 *db, const char *name, int *yes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
				    -1, &st, NULL);

	*yes = 0;
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*yes = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* *have = whether meta has a schema_version row, *v its value. An SQLite result code. */
static int
schema_version(sqlite3 *db, int *have, int *v)
{
	sqlite3_stmt *st;
	int rc;

	*have = 0;
	*v = 0;
	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*have = 1;
		*v = atoi((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * A version 1 database kept alerts as a table, a copy of each substituted or suspicious flow's
 * row written beside it (a second insert per flow under interception); version 2 reads them
 * from the flows through a view. Opening a version 1 database drops the table, before the
 * schema makes the view in its place. Any other version is left for check_version().
 */
static int
migrate(struct cp_store *s)
{
	int has_meta = 0, have, v, rc;

	rc = table_exists(s->db, "meta", &has_meta);
	if (rc != SQLITE_OK || !has_meta)
		return rc;
	rc = schema_version(s->db, &have, &v);
	if (rc != SQLITE_OK || !have || v != 1)
		return rc;
	return sqlite3_exec(s->db,
			    "BEGIN; DROP TABLE IF EXISTS alerts;"
			    " UPDATE meta SET value='2' WHERE key='schema_version'; COMMIT;",
			    NULL, NULL, NULL);
}

static int
check_version(struct cp_store *s, char *errbuf, size_t errlen)
{
	char sql[128];
	int have, v, rc;

	rc = schema_version(s->db, &have, &v);
	if (rc != SQLITE_OK)
		return db_err(rc);
	if (have && v != CP_SCHEMA_VERSION) {
		snprintf(errbuf, errlen, "database schema version %d, this build uses %d", v,
			 CP_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (have)
		return 0;
	snprintf(sql, sizeof(sql), "INSERT INTO meta VALUES('schema_version','%d')",
		 CP_SCHEMA_VERSION);
	return db_err(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static void
hex8(const uint8_t id[8], char out[17])
{
	static const char digits[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < 8; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[16] = '\0';
}

int
cp_store_chain_key(struct cp_store *s, const uint8_t key_id[8], char *errbuf, size_t errlen)
{
	static const uint8_t unkeyed[8];
	char want[17], have[17] = "";
	sqlite3_stmt *st;
	int rc, ret = 0, chains = 0;

	hex8(key_id, want);
	rc = sqlite3_prepare_v2(s->db,
				"SELECT (SELECT value FROM meta WHERE key='chain_key_id'),"
				" EXISTS(SELECT 1 FROM chains)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
			snprintf(have, sizeof(have), "%s", (const char *)sqlite3_column_text(st, 0));
		chains = sqlite3_column_int(st, 1);
	} else {
		ret = db_err(rc);
	}
	sqlite3_finalize(st);
	if (ret < 0)
		return ret;
	if (have[0] == '\0' && chains)
		hex8(unkeyed, have); /* ids stored before keys were recorded are unkeyed */
	if (have[0] == '\0') {
		rc = sqlite3_prepare_v2(s->db, "INSERT INTO meta VALUES('chain_key_id', ?1)", -1, &st,
					NULL);
		if (rc != SQLITE_OK)
			return db_err(rc);
		sqlite3_bind_text(st, 1, want, -1, SQLITE_TRANSIENT);
		ret = db_err(sqlite3_step(st));
		sqlite3_finalize(st);
		return ret;
	}
	if (strcmp(have, want) != 0) {
		snprintf(errbuf, errlen,
			 "the database holds chain ids made with chain key %s, the dataplane makes "
			 "them with %s (%s): give chainwatch-dp the same --chain-key, or use "
			 "another database",
			 strcmp(have, "0000000000000000") == 0 ? "(none)" : have,
			 memcmp(key_id, unkeyed, 8) == 0 ? "(none)" : want,
			 "ids of two keys never match");
		return -EKEYREJECTED;
	}
	return 0;
}

int
cp_store_open(struct cp_store **out, const char *path, char *errbuf, size_t errlen)
{
	struct cp_store *s;
	int rc, ret, i;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->srv_cache = calloc(CP_SRV_CACHE_SLOTS, sizeof(*s->srv_cache));
	s->srv_pending = calloc(CP_SRV_CACHE_SLOTS, sizeof(*s->srv_pending));
	s->name_cache = calloc(CP_NAME_CACHE_SLOTS, sizeof(*s->name_cache));
	s->name_pending = calloc(CP_NAME_CACHE_SLOTS, sizeof(*s->name_pending));
	if (s->srv_cache == NULL || s->srv_pending == NULL || s->name_cache == NULL ||
	    s->name_pending == NULL) {
		free(s->srv_cache);
		free(s->srv_pending);
		free(s->name_cache);
		free(s->name_pending);
		free(s);
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path ? path : ":memory:", &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot open %s: %s", path ? path : ":memory:",
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		ret = db_err(rc);
		goto err_close_db;
	}
	/* WAL lets the CLI read while the daemon writes; NORMAL sync is safe in WAL mode. */
	rc = sqlite3_exec(s->db,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			  " PRAGMA busy_timeout=5000;",
			  NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		int had_fanout = 0, had_assoc = 0;

		rc = migrate(s);
		if (rc == SQLITE_OK)
			rc = table_exists(s->db, "fanout", &had_fanout);
		if (rc == SQLITE_OK)
			rc = table_exists(s->db, "assoc", &had_assoc);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, schema, NULL, NULL, NULL);
		if (rc == SQLITE_OK && !had_fanout)
			rc = sqlite3_exec(s->db, fanout_fill, NULL, NULL, NULL);
		if (rc == SQLITE_OK && !had_assoc)
			rc = sqlite3_exec(s->db, assoc_fill, NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "%s: %s", path ? path : ":memory:", sqlite3_errmsg(s->db));
		ret = db_err(rc);
		goto err_close_db;
	}
	ret = check_version(s, errbuf, errlen);
	if (ret)
		goto err_close_db;
	for (i = 0; i < S__MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK) {
			snprintf(errbuf, errlen, "prepare: %s", sqlite3_errmsg(s->db));
			ret = db_err(rc);
			goto err_finalize;
		}
	}
	*out = s;
	return 0;

err_finalize:
	for (i = 0; i < S__MAX; i++)
		sqlite3_finalize(s->st[i]);
err_close_db:
	sqlite3_close(s->db);
	name_cache_free(s);
	free(s->srv_cache);
	free(s->srv_pending);
	free(s);
	return ret;
}

void
cp_store_close(struct cp_store *s)
{
	int i;

	if (s == NULL)
		return;
	cp_store_commit(s);
	for (i = 0; i < S__MAX; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	name_cache_free(s);
	free(s->srv_cache);
	free(s->srv_pending);
	free(s);
}

/*
 * Keep at most cap rows of table (one with a last_seen column): the least
 * recently seen go first, the earliest inserted among equals. Counting first
 * spares the sort while under the cap; above it, ORDER BY with LIMIT keeps
 * only the rows to delete in SQLite's sorter. *deleted gets the row count.
 */
static int
cap_rows(struct cp_store *s, const char *table, uint64_t cap, uint64_t *deleted)
{
	sqlite3_stmt *st;
	char sql[256];
	uint64_t n = 0;
	int rc;

	*deleted = 0;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_err(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (read_failed(rc))
		return db_err(rc);
	if (n <= cap)
		return 0;
	snprintf(sql, sizeof(sql),
		 "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s"
		 " ORDER BY last_seen, rowid LIMIT %llu)",
		 table, table, (unsigned long long)(n - cap));
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_err(rc);
	*deleted = (uint64_t)sqlite3_changes(s->db);
	return 0;
}

int
cp_store_prune(struct cp_store *s, int64_t now, const struct cp_config *cfg)
{
	char sql[1024];
	int64_t cut = now - (int64_t)cfg->retention_days * 86400;
	int64_t bcut = now - (int64_t)cfg->baseline_days * 86400;
	uint64_t gone;
	int ret;

	ret = write_begin(s);
	if (ret)
		return ret;
	/* Rows go by age and by cap, pending learns written first. */
	ret = cache_flush(s);
	cache_clear(s);
	if (ret)
		return ret;
	/* Integers only are formatted into the SQL, so there is nothing to inject. */
	snprintf(sql, sizeof(sql),
		 "DELETE FROM baselines WHERE last_seen < %lld;"
		 "DELETE FROM srv_baselines WHERE last_seen < %lld;"
		 "DELETE FROM srv_fps WHERE last_seen < %lld;"
		 "DELETE FROM chains WHERE last_seen < %lld;"
		 "DELETE FROM fanout WHERE last_seen < %lld;"
		 "DELETE FROM assoc WHERE last_seen < %lld;",
		 (long long)bcut, (long long)bcut, (long long)bcut, (long long)cut,
		 (long long)(now - (int64_t)cfg->fanout_window_s),
		 (long long)(now - (int64_t)cfg->assoc_window_s));
	ret = db_err(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
	/*
	 * A client sending made-up names, or a server sending made-up chains,
	 * adds rows faster than age removes them: the caps bound the file.
	 */
	if (ret == 0)
		ret = cap_rows(s, "baselines", cfg->max_baselines, &gone);
	if (ret == 0)
		ret = cap_rows(s, "fanout", cfg->max_baselines, &gone);
	if (ret == 0)
		ret = cap_rows(s, "assoc", cfg->max_baselines, &gone);
	if (ret == 0)
		ret = cap_rows(s, "srv_baselines", cfg->max_baselines, &gone);
	/*
	 * srv_fps has no cap of its own: a pair's counts left without its
	 * fingerprints would read as a ServerHello change. Its rows go with
	 * their pair.
	 */
	if (ret == 0 && gone > 0)
		ret = db_err(sqlite3_exec(s->db,
					  "DELETE FROM srv_fps WHERE NOT EXISTS (SELECT 1 FROM"
					  " srv_baselines b WHERE b.srv = srv_fps.srv AND"
					  " b.name = srv_fps.name)",
					  NULL, NULL, NULL));
	if (ret == 0)
		ret = cap_rows(s, "chains", cfg->max_chains, &gone);
	if (ret == 0)
		ret = db_err(sqlite3_exec(s->db,
					  "DELETE FROM chain_certs WHERE chain_id NOT IN"
					  " (SELECT chain_id FROM chains);"
					  "DELETE FROM certs WHERE sha256 NOT IN"
					  " (SELECT cert_sha256 FROM chain_certs);",
					  NULL, NULL, NULL));
	if (ret)
		return ret;
	return cp_store_commit(s);
}

int
cp_store_prune_flows(struct cp_store *s, int64_t now, const struct cp_config *cfg,
		     uint64_t max_rows)
{
	static const enum stmt_id step[] = {S_FLOW_CAP, S_FLOW_AGE};
	uint64_t gone = 0;
	unsigned int i;
	int ret = write_begin(s);

	if (ret)
		return ret;
	if (max_rows > INT64_MAX)
		max_rows = INT64_MAX;
	for (i = 0; i < sizeof(step) / sizeof(step[0]) && gone < max_rows; i++) {
		sqlite3_stmt *st = stmt(s, step[i]);

		if (step[i] == S_FLOW_CAP)
			sqlite3_bind_int64(st, 1, (sqlite3_int64)cfg->max_flows);
		else
			sqlite3_bind_int64(st, 1, now - (int64_t)cfg->retention_days * 86400);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(max_rows - gone));
		ret = step_done(s, st);
		if (ret)
			return ret;
		gone += (uint64_t)sqlite3_changes(s->db);
	}
	return gone > INT_MAX ? INT_MAX : (int)gone;
}

int
cp_store_put_chain(struct cp_store *s, const struct cp_chain *c, const uint8_t *const *der,
		   const uint32_t *len, int64_t ts)
{
	char id[33];
	sqlite3_stmt *st;
	unsigned int i;
	int ret;

	ret = write_begin(s);
	if (ret)
		return ret;
	cp_hex(c->chain_id, 16, id);
	for (i = 0; i < c->n; i++) {
		const struct cp_cert *x = c->cert[i];

		st = stmt(s, S_CERT_PUT);
		bind_text(st, 1, x->sha256);
		bind_text(st, 2, x->spki_sha256);
		bind_text(st, 3, x->subject);
		bind_text(st, 4, x->issuer);
		bind_text(st, 5, x->serial);
		sqlite3_bind_int64(st, 6, x->not_before);
		sqlite3_bind_int64(st, 7, x->not_after);
		bind_text(st, 8, x->key_type);
		sqlite3_bind_int(st, 9, x->key_bits);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)x->rsa_e);
		bind_text(st, 11, x->sig_alg);
		sqlite3_bind_int(st, 12, (int)x->ext);
		bind_text(st, 13, x->ski);
		bind_text(st, 14, x->aki);
		bind_text(st, 15, x->san);
		sqlite3_bind_blob(st, 16, der[i], (int)len[i], SQLITE_TRANSIENT);
		ret = step_done(s, st);
		if (ret)
			return ret;
		st = stmt(s, S_CHAIN_CERT_PUT);
		bind_text(st, 1, id);
		sqlite3_bind_int(st, 2, (int)i);
		bind_text(st, 3, x->sha256);
		ret = step_done(s, st);
		if (ret)
			return ret;
	}
	st = stmt(s, S_CHAIN_PUT);
	bind_text(st, 1, id);
	sqlite3_bind_int(st, 2, (int)c->n);
	bind_text(st, 3, c->anchor_match >= 0 ? c->anchor_name : "");
	bind_text(st, 4, c->anchor_match >= 0 ? c->anchor_category : "");
	bind_text(st, 5, c->n ? c->cert[0]->sha256 : "");
	sqlite3_bind_int64(st, 6, ts);
	return step_done(s, st);
}

int
cp_store_chain_validated(struct cp_store *s, const struct cp_chain *c, const char *issuer_key,
			 int64_t validated_at, int64_t ts)
{
	sqlite3_stmt *st;
	char id[33];
	int ret = write_begin(s);

	if (ret)
		return ret;
	cp_hex(c->chain_id, 16, id);
	st = stmt(s, S_CHAIN_VALIDATED);
	bind_text(st, 1, id);
	sqlite3_bind_int(st, 2, c->path_valid);
	bind_text(st, 3, c->path_error);
	bind_text(st, 4, issuer_key);
	sqlite3_bind_int64(st, 5, validated_at);
	sqlite3_bind_int64(st, 6, ts);
	return step_done(s, st);
}

int
cp_store_get_chain(struct cp_store *s, const uint8_t idb[16], uint8_t **der, uint32_t *len,
		   unsigned int max, int64_t *validated_at)
{
	sqlite3_stmt *st = stmt(s, S_CHAIN_GET);
	unsigned int n = 0;
	char id[33];
	int rc = SQLITE_DONE;

	cp_hex(idb, 16, id);
	bind_text(st, 1, id);
	*validated_at = 0;
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int l = sqlite3_column_bytes(st, 0);
		const void *p = sqlite3_column_blob(st, 0);

		der[n] = malloc(l > 0 ? (size_t)l : 1);
		if (der[n] == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (l > 0)
			memcpy(der[n], p, (size_t)l);
		len[n++] = (uint32_t)l;
		*validated_at = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (read_failed(rc)) {
		/* A part of a chain is not the chain: nothing rather than fewer certificates. */
		while (n > 0)
			free(der[--n]);
		return db_err(rc);
	}
	return (int)n;
}

int
cp_store_intermediates(struct cp_store *s, unsigned int max,
		       void (*fn)(void *arg, const uint8_t *der, size_t len), void *arg)
{
	sqlite3_stmt *st = stmt(s, S_INTERMEDIATES);
	int rc, n = 0;

	sqlite3_bind_int64(st, 1, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int l = sqlite3_column_bytes(st, 0);
		const void *p = sqlite3_column_blob(st, 0);

		if (p != NULL && l > 0) {
			fn(arg, p, (size_t)l);
			n++;
		}
	}
	sqlite3_reset(st);
	if (read_failed(rc))
		return db_err(rc);
	return n;
}

static void
col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/*
 * Room for a row ranked (k1, k2) among the *n rows of rows[] (each size bytes, at most max),
 * ordered by k1, then k2, both descending; ties stay in the order they came (the order of the
 * scan, as an ORDER BY keeps them). keys[] holds the ranked rows' (k1, k2). The row that falls
 * off the end when all max are taken is dropped. Returns the row's index, or max when it ranks
 * below all max rows (nothing moved).
 */
static unsigned int
rank_insert(void *rows, size_t size, int64_t (*keys)[2], unsigned int *n, unsigned int max,
	    int64_t k1, int64_t k2)
{
	unsigned int i = *n, keep = *n < max ? *n : max - 1;

	while (i > 0 && (keys[i - 1][0] < k1 || (keys[i - 1][0] == k1 && keys[i - 1][1] < k2)))
		i--;
	if (i >= max)
		return max;
	memmove((uint8_t *)rows + (i + 1) * size, (uint8_t *)rows + i * size, (keep - i) * size);
	memmove(keys + i + 1, keys + i, (keep - i) * sizeof(keys[0]));
	keys[i][0] = k1;
	keys[i][1] = k2;
	*n = keep + 1;
	return i;
}

/* The slot of name and its hash; NULL when the name is too long to keep. */
static struct name_slot *
name_slot_of(struct cp_store *s, const char *name, uint64_t *h)
{
	size_t l = strlen(name);

	if (l >= sizeof(s->name_cache[0].name))
		return NULL;
	*h = XXH3_64bits(name, l) | 1; /* never 0, the empty mark */
	return &s->name_cache[*h % CP_NAME_CACHE_SLOTS];
}

static int
name_slot_holds(const struct name_slot *ns, uint64_t h, const char *name)
{
	return ns != NULL && ns->h == h && strcmp(ns->name, name) == 0;
}

/* The name's leaves from SQLite, ranked; the count, or -errno. */
static int
base_read(struct cp_store *s, const char *name, struct cp_base_leaf *out, unsigned int max)
{
	sqlite3_stmt *st = stmt(s, S_BASE_GET);
	int64_t keys[CP_BASE_LEAVES_MAX][2];
	unsigned int n = 0;
	int rc;

	bind_text(st, 1, name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t last_seen = sqlite3_column_int64(st, 10), count = sqlite3_column_int64(st, 11);
		unsigned int i = rank_insert(out, sizeof(*out), keys, &n, max, last_seen, count);
		struct cp_base_leaf *b;

		if (i == max)
			continue;
		b = &out[i];
		col_text(st, 0, b->leaf_spki, sizeof(b->leaf_spki));
		col_text(st, 1, b->issuer_key, sizeof(b->issuer_key));
		col_text(st, 2, b->subject, sizeof(b->subject));
		b->san[0] = '\0';
		b->ext = (uint32_t)sqlite3_column_int(st, 3);
		col_text(st, 4, b->key_type, sizeof(b->key_type));
		b->key_bits = sqlite3_column_int(st, 5);
		b->rsa_e = (uint64_t)sqlite3_column_int64(st, 6);
		b->not_before = sqlite3_column_int64(st, 7);
		b->not_after = sqlite3_column_int64(st, 8);
		b->first_seen = sqlite3_column_int64(st, 9);
		b->last_seen = last_seen;
		b->count = (uint64_t)count;
	}
	sqlite3_reset(st);
	return read_failed(rc) ? db_err(rc) : (int)n;
}

static void
leaf_to_slot(struct name_leaf *l, const struct cp_base_leaf *b)
{
	memcpy(l->leaf_spki, b->leaf_spki, sizeof(l->leaf_spki));
	memcpy(l->issuer_key, b->issuer_key, sizeof(l->issuer_key));
	memcpy(l->subject, b->subject, sizeof(l->subject));
	memcpy(l->key_type, b->key_type, sizeof(l->key_type));
	l->ext = b->ext;
	l->key_bits = b->key_bits;
	l->rsa_e = b->rsa_e;
	l->not_before = b->not_before;
	l->not_after = b->not_after;
	l->first_seen = b->first_seen;
	l->last_seen = b->last_seen;
	l->count = b->count;
	l->pend = 0;
}

static void
leaf_from_slot(struct cp_base_leaf *b, const struct name_leaf *l)
{
	memcpy(b->leaf_spki, l->leaf_spki, sizeof(b->leaf_spki));
	memcpy(b->issuer_key, l->issuer_key, sizeof(b->issuer_key));
	memcpy(b->subject, l->subject, sizeof(b->subject));
	b->san[0] = '\0';
	memcpy(b->key_type, l->key_type, sizeof(b->key_type));
	b->ext = l->ext;
	b->key_bits = l->key_bits;
	b->rsa_e = l->rsa_e;
	b->not_before = l->not_before;
	b->not_after = l->not_after;
	b->first_seen = l->first_seen;
	b->last_seen = l->last_seen;
	b->count = l->count;
}

int
cp_store_base_leaves(struct cp_store *s, const char *name, struct cp_base_leaf *out,
		     unsigned int max)
{
	struct name_slot *ns;
	struct name_leaf *leaf;
	unsigned int i;
	uint64_t h = 0;
	int ret, n;

	if (max > CP_BASE_LEAVES_MAX)
		max = CP_BASE_LEAVES_MAX;
	if (max == 0)
		return 0;
	ret = cache_check(s);
	if (ret)
		return ret;
	ns = name_slot_of(s, name, &h);
	if (name_slot_holds(ns, h, name)) {
		for (i = 0; i < ns->n && i < max; i++)
			leaf_from_slot(&out[i], &ns->leaf[i]);
		s->srv_stats.name_hits++;
		return (int)i;
	}
	s->srv_stats.name_misses++;
	/* Another name's pending learns go to its rows before its slot is taken. */
	if (ns != NULL && (ret = name_slot_write(s, ns)) != 0) {
		ns->h = 0;
		return ret;
	}
	n = base_read(s, name, out, max);
	if (n < 0 || ns == NULL || max < CP_BASE_LEAVES_MAX)
		return n; /* kept only with all the name's rows (up to the bound) */
	leaf = n > 0 ? malloc((size_t)n * sizeof(*leaf)) : NULL;
	ns->h = 0;
	if (n > 0 && leaf == NULL)
		return n;
	free(ns->leaf);
	ns->leaf = leaf;
	ns->n = (unsigned int)n;
	for (i = 0; i < ns->n; i++)
		leaf_to_slot(&ns->leaf[i], &out[i]);
	strcpy(ns->name, name);
	ns->h = h;
	return n;
}

/*
 * What S_BASE_BUMP would do to the row of leaf b, done to the name's slot and held there as
 * pending (written by name_slot_write()): the count, last_seen, the issuer key, and the
 * leaf's new rank (last_seen, then count, descending; then leaf_spki, the primary key's
 * order, as base_read() ranks the rows). Returns 0, or -1 when the leaf is not listed
 * (nothing changed).
 */
static int
name_slot_learn(struct cp_store *s, struct name_slot *ns, const struct cp_base_leaf *b,
		int64_t ts)
{
	struct name_leaf l;
	unsigned int i, j;

	for (i = 0; i < ns->n; i++)
		if (strcmp(ns->leaf[i].leaf_spki, b->leaf_spki) == 0)
			break;
	if (i == ns->n)
		return -1;
	l = ns->leaf[i];
	l.count++;
	if (ts > l.last_seen)
		l.last_seen = ts;
	memcpy(l.issuer_key, b->issuer_key, sizeof(l.issuer_key));
	l.pend++;
	memmove(&ns->leaf[i], &ns->leaf[i + 1], (ns->n - i - 1) * sizeof(l));
	for (j = 0; j < ns->n - 1; j++) {
		const struct name_leaf *o = &ns->leaf[j];

		if (o->last_seen < l.last_seen ||
		    (o->last_seen == l.last_seen &&
		     (o->count < l.count ||
		      (o->count == l.count && strcmp(o->leaf_spki, l.leaf_spki) > 0))))
			break;
	}
	memmove(&ns->leaf[j + 1], &ns->leaf[j], (ns->n - 1 - j) * sizeof(l));
	ns->leaf[j] = l;
	ns->pending = 1;
	if (!ns->listed) {
		ns->listed = 1;
		s->name_pending[s->name_npending++] = (uint32_t)(ns - s->name_cache);
	}
	return 0;
}

int
cp_store_base_learn(struct cp_store *s, const char *name, const struct cp_base_leaf *b, int64_t ts)
{
	struct name_slot *ns;
	sqlite3_stmt *st;
	uint64_t h = 0;
	int ret = write_begin(s);

	if (ret)
		return ret;
	ns = name_slot_of(s, name, &h);
	if (name_slot_holds(ns, h, name) && name_slot_learn(s, ns, b, ts) == 0)
		return 0;
	if (ns != NULL && ns->h == h) {
		/* Its pending learns first, then this one: the slot goes, for good on an error. */
		ns->h = 0;
		ret = name_slot_write(s, ns);
		if (ret)
			return ret;
	}
	st = stmt(s, S_BASE_BUMP);
	bind_text(st, 1, name);
	bind_text(st, 2, b->leaf_spki);
	sqlite3_bind_int64(st, 3, ts);
	bind_text(st, 4, b->issuer_key);
	ret = step_done(s, st);
	if (ret || sqlite3_changes(s->db) > 0)
		return ret;
	st = stmt(s, S_BASE_PUT);
	bind_text(st, 1, name);
	bind_text(st, 2, b->leaf_spki);
	bind_text(st, 3, b->issuer_key);
	bind_text(st, 4, b->subject);
	bind_text(st, 5, b->san);
	sqlite3_bind_int(st, 6, (int)b->ext);
	bind_text(st, 7, b->key_type);
	sqlite3_bind_int(st, 8, b->key_bits);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)b->rsa_e);
	sqlite3_bind_int64(st, 10, b->not_before);
	sqlite3_bind_int64(st, 11, b->not_after);
	sqlite3_bind_int64(st, 12, ts);
	ret = step_done(s, st);
	if (ret)
		return ret;
	/* Only a new leaf can take the name past its bound. */
	st = stmt(s, S_BASE_TRIM);
	bind_text(st, 1, name);
	sqlite3_bind_int(st, 2, CP_BASE_LEAVES_MAX);
	return step_done(s, st);
}

/*
 * Drops every cached server pair and name when the database is not what this connection last
 * left: its open transaction rolled back, or another connection committed (PRAGMA data_version
 * moved; it does not move for this connection's own commits; pending learns are written
 * first). A failed check drops them too.
 */
static int
cache_check(struct cp_store *s)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	int ret = 0;

	txn_check(s);
	st = stmt(s, S_DATA_VERSION);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (v < 0 || v != s->data_version) {
		s->data_version = v;
		ret = cache_flush(s); /* learns, added to what the other connection wrote */
		cache_clear(s);
	}
	return ret;
}

/* The slot of (srv, name) and its hash; NULL when the pair is too long to keep. */
static struct srv_slot *
srv_slot_of(struct cp_store *s, const char *srv, const char *name, uint64_t *h)
{
	char key[sizeof(s->srv_cache[0].srv) + sizeof(s->srv_cache[0].name)];
	size_t ls = strlen(srv), ln = strlen(name);

	if (ls >= sizeof(s->srv_cache[0].srv) || ln >= sizeof(s->srv_cache[0].name))
		return NULL;
	/* With srv's NUL between them: ("a", "bc") is not ("ab", "c"). */
	memcpy(key, srv, ls + 1);
	memcpy(key + ls + 1, name, ln);
	*h = XXH3_64bits(key, ls + 1 + ln) | 1; /* never 0, the empty mark */
	return &s->srv_cache[*h % CP_SRV_CACHE_SLOTS];
}

static int
srv_slot_holds(const struct srv_slot *slot, uint64_t h, const char *srv, const char *name)
{
	return slot != NULL && slot->h == h && strcmp(slot->srv, srv) == 0 &&
	       strcmp(slot->name, name) == 0;
}

void
cp_store_srv_cache_stats(const struct cp_store *s, struct cp_srv_cache_stats *out)
{
	*out = s->srv_stats;
}

/* cp_store_srv_get() from SQLite. */
static int
srv_read(struct cp_store *s, const char *srv, const char *name, struct cp_srv_base *out)
{
	sqlite3_stmt *st = stmt(s, S_SRV_GET);
	int64_t keys[CP_SRV_FP_MAX][2]; /* last_seen of each fingerprint kept, 0 */
	int rc;

	memset(out, 0, sizeof(*out));
	bind_text(st, 1, srv);
	bind_text(st, 2, name);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		out->n = (uint64_t)sqlite3_column_int64(st, 0);
		out->t13_n = (uint64_t)sqlite3_column_int64(st, 1);
		out->min_bytes = (uint32_t)sqlite3_column_int64(st, 2);
		out->max_bytes = (uint32_t)sqlite3_column_int64(st, 3);
		out->first_seen = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	if (read_failed(rc)) {
		memset(out, 0, sizeof(*out));
		return db_err(rc);
	}
	st = stmt(s, S_SRV_FP_GET);
	bind_text(st, 1, srv);
	bind_text(st, 2, name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		unsigned int i = rank_insert(out->fp, sizeof(out->fp[0]), keys, &out->nfp,
					     CP_SRV_FP_MAX, sqlite3_column_int64(st, 4), 0);

		if (i == CP_SRV_FP_MAX)
			continue;
		col_text(st, 0, out->fp[i].ja3s, sizeof(out->fp[0].ja3s));
		out->fp[i].version = (uint16_t)sqlite3_column_int(st, 1);
		out->fp[i].cipher = (uint16_t)sqlite3_column_int(st, 2);
		out->fp[i].count = (uint64_t)sqlite3_column_int64(st, 3);
		out->fp[i].last_seen = keys[i][0];
	}
	sqlite3_reset(st);
	if (read_failed(rc)) {
		memset(out, 0, sizeof(*out));
		return db_err(rc);
	}
	return 0;
}

int
cp_store_srv_get(struct cp_store *s, const char *srv, const char *name, struct cp_srv_base *out)
{
	struct srv_slot *slot;
	uint64_t h = 0;
	int ret = cache_check(s);

	if (ret)
		return ret;
	slot = srv_slot_of(s, srv, name, &h);
	if (srv_slot_holds(slot, h, srv, name)) {
		*out = slot->b;
		s->srv_stats.hits++;
		return 0;
	}
	s->srv_stats.misses++;
	/* Another pair's pending learns go to its rows before its slot is taken. */
	if (slot != NULL && (ret = srv_slot_write(s, slot)) != 0) {
		slot->h = 0;
		return ret;
	}
	ret = srv_read(s, srv, name, out);
	if (ret == 0 && slot != NULL) {
		slot->h = h;
		strcpy(slot->srv, srv);
		strcpy(slot->name, name);
		slot->b = *out;
	}
	return ret;
}

/*
 * What S_SRV_PUT's update and S_SRV_FP_BUMP would do to a pair's rows, done to its slot and
 * held there as pending (written by srv_slot_write()). The slot's b must hold the pair's row
 * (b.n > 0) and list the fingerprint (with every row of the pair when there are fewer than
 * CP_SRV_FP_MAX). The fingerprint moves to its new rank: last_seen descending, then the
 * primary key's order (ja3s, version, cipher), the order srv_read() lists the rows in.
 * Returns 0, or -1 when the fingerprint is not listed (nothing changed).
 */
static int
srv_slot_learn(struct cp_store *s, struct srv_slot *slot, const char *ja3s,
	       unsigned int version, unsigned int cipher, uint32_t t13_bytes, int64_t ts)
{
	struct cp_srv_base *b = &slot->b;
	unsigned int i, j;
	struct cp_srv_fp fp;
	uint32_t pend;

	for (i = 0; i < b->nfp; i++)
		if (strcmp(b->fp[i].ja3s, ja3s) == 0 && b->fp[i].version == version &&
		    b->fp[i].cipher == cipher)
			break;
	if (i == b->nfp)
		return -1;
	if (slot->pend_n == 0) {
		slot->pend_t13 = 0;
		slot->pend_min = UINT32_MAX;
		slot->pend_max = 0;
		slot->pend_last = ts;
		memset(slot->pend_fp, 0, sizeof(slot->pend_fp));
		if (!slot->listed) {
			slot->listed = 1;
			s->srv_pending[s->srv_npending++] = (uint32_t)(slot - s->srv_cache);
		}
	}
	slot->pend_n++;
	if (ts > slot->pend_last)
		slot->pend_last = ts;
	if (t13_bytes) {
		if (b->t13_n == 0 || t13_bytes < b->min_bytes)
			b->min_bytes = t13_bytes;
		if (t13_bytes > b->max_bytes)
			b->max_bytes = t13_bytes;
		b->t13_n++;
		slot->pend_t13++;
		if (t13_bytes < slot->pend_min)
			slot->pend_min = t13_bytes;
		if (t13_bytes > slot->pend_max)
			slot->pend_max = t13_bytes;
	}
	b->n++;
	fp = b->fp[i];
	fp.count++;
	if (ts > fp.last_seen)
		fp.last_seen = ts;
	pend = slot->pend_fp[i] + 1;
	memmove(&b->fp[i], &b->fp[i + 1], (b->nfp - i - 1) * sizeof(fp));
	memmove(&slot->pend_fp[i], &slot->pend_fp[i + 1], (b->nfp - i - 1) * sizeof(pend));
	for (j = 0; j < b->nfp - 1; j++) {
		int c = strcmp(b->fp[j].ja3s, fp.ja3s);

		if (b->fp[j].last_seen < fp.last_seen ||
		    (b->fp[j].last_seen == fp.last_seen &&
		     (c > 0 || (c == 0 && (b->fp[j].version > fp.version ||
					   (b->fp[j].version == fp.version &&
					    b->fp[j].cipher > fp.cipher))))))
			break;
	}
	memmove(&b->fp[j + 1], &b->fp[j], (b->nfp - 1 - j) * sizeof(fp));
	memmove(&slot->pend_fp[j + 1], &slot->pend_fp[j], (b->nfp - 1 - j) * sizeof(pend));
	b->fp[j] = fp;
	slot->pend_fp[j] = pend;
	return 0;
}

/* S_SRV_FP_BUMP or S_SRV_FP_PUT, whose parameters are the same. */
static int
srv_fp_step(struct cp_store *s, enum stmt_id id, const char *srv, const char *name,
	    const char *ja3s, unsigned int version, unsigned int cipher, int64_t ts)
{
	sqlite3_stmt *st = stmt(s, id);

	bind_text(st, 1, srv);
	bind_text(st, 2, name);
	bind_text(st, 3, ja3s);
	sqlite3_bind_int(st, 4, (int)version);
	sqlite3_bind_int(st, 5, (int)cipher);
	sqlite3_bind_int64(st, 6, ts);
	return step_done(s, st);
}

int
cp_store_srv_learn(struct cp_store *s, const char *srv, const char *name, const char *ja3s,
		   unsigned int version, unsigned int cipher, uint32_t t13_bytes, int64_t ts)
{
	struct srv_slot *slot;
	sqlite3_stmt *st;
	uint64_t h;
	int ret;

	ret = write_begin(s);
	if (ret)
		return ret;
	slot = srv_slot_of(s, srv, name, &h);
	if (srv_slot_holds(slot, h, srv, name) && slot->b.n > 0 &&
	    srv_slot_learn(s, slot, ja3s, version, cipher, t13_bytes, ts) == 0)
		return 0;
	if (slot != NULL && slot->h == h) {
		/* Its pending learns first, then this one: the slot goes, for good on an error. */
		slot->h = 0;
		ret = srv_slot_write(s, slot);
		if (ret)
			return ret;
	}
	st = stmt(s, S_SRV_PUT);
	bind_text(st, 1, srv);
	bind_text(st, 2, name);
	sqlite3_bind_int(st, 3, t13_bytes ? 1 : 0);
	sqlite3_bind_int64(st, 4, t13_bytes);
	sqlite3_bind_int64(st, 5, ts);
	ret = step_done(s, st);
	if (ret)
		return ret;
	ret = srv_fp_step(s, S_SRV_FP_BUMP, srv, name, ja3s, version, cipher, ts);
	if (ret || sqlite3_changes(s->db) > 0)
		return ret;
	ret = srv_fp_step(s, S_SRV_FP_PUT, srv, name, ja3s, version, cipher, ts);
	if (ret)
		return ret;
	/* Only a new fingerprint can take the pair past its bound. */
	st = stmt(s, S_SRV_FP_TRIM);
	bind_text(st, 1, srv);
	bind_text(st, 2, name);
	sqlite3_bind_int(st, 3, CP_SRV_FP_MAX);
	return step_done(s, st);
}

int
cp_store_fanout(struct cp_store *s, const char *issuer_key, int64_t since, const char *exclude_base,
		int64_t *first_ts)
{
	sqlite3_stmt *st = stmt(s, S_FANOUT);
	int n = 0, rc;

	bind_text(st, 1, issuer_key);
	sqlite3_bind_int64(st, 2, since);
	bind_text(st, 3, exclude_base);
	*first_ts = 0;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_int(st, 0);
		*first_ts = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return read_failed(rc) ? db_err(rc) : n;
}

/* The assoc table's key of a server: "address|port". */
static void
assoc_srv_key(char key[64], const char *srv, unsigned int port)
{
	snprintf(key, 64, "%s|%u", srv, port);
}

int
cp_store_assoc(struct cp_store *s, const char *srv, unsigned int port, const char *name,
	       int64_t since, unsigned int *same_srv, unsigned int *same_name, int64_t *last_ts)
{
	sqlite3_stmt *st = stmt(s, S_ASSOC);
	char key[64];
	int rc;

	assoc_srv_key(key, srv, port);
	bind_text(st, 1, key);
	if (name[0] != '\0')
		bind_text(st, 2, name);
	else
		sqlite3_bind_null(st, 2); /* matches no row */
	sqlite3_bind_int64(st, 3, since);
	*same_srv = *same_name = 0;
	*last_ts = 0;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*same_srv = (unsigned int)sqlite3_column_int(st, 0);
		*same_name = (unsigned int)sqlite3_column_int(st, 1);
		*last_ts = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return read_failed(rc) ? db_err(rc) : 0;
}

/*
 * One sighting at ts into a summary table (fanout, assoc): its statement binds kind (when >= 0),
 * then a (when not NULL), then b, then ts.
 */
static int
put_seen(struct cp_store *s, enum stmt_id id, int kind, const char *a, const char *b, int64_t ts)
{
	sqlite3_stmt *st = stmt(s, id);
	int i = 1;

	if (kind >= 0)
		sqlite3_bind_int(st, i++, kind);
	if (a != NULL)
		bind_text(st, i++, a);
	bind_text(st, i++, b);
	sqlite3_bind_int64(st, i, ts);
	return step_done(s, st);
}

int
cp_store_put_flow(struct cp_store *s, const struct cp_flow_row *r)
{
	sqlite3_stmt *st;
	int ret = write_begin(s);

	if (ret)
		return ret;
	st = stmt(s, S_FLOW_PUT);
	sqlite3_bind_int64(st, 1, r->ts);
	sqlite3_bind_int64(st, 2, r->ts_ns);
	bind_text(st, 3, r->cli_ip);
	sqlite3_bind_int(st, 4, (int)r->cli_port);
	bind_text(st, 5, r->srv_ip);
	sqlite3_bind_int(st, 6, (int)r->srv_port);
	bind_text(st, 7, r->sni);
	bind_text(st, 8, r->name);
	bind_text(st, 9, r->base);
	sqlite3_bind_int(st, 10, (int)r->version);
	sqlite3_bind_int(st, 11, (int)r->cipher);
	bind_text(st, 12, r->ja3);
	bind_text(st, 13, r->ja3s);
	bind_text(st, 14, r->ja4);
	bind_text(st, 15, r->chain_id);
	bind_text(st, 16, r->issuer_key);
	sqlite3_bind_int(st, 17, r->path_valid);
	bind_text(st, 18, r->verdict);
	sqlite3_bind_double(st, 19, r->confidence);
	bind_text(st, 20, r->signals);
	sqlite3_bind_int64(st, 21, r->flags);
	sqlite3_bind_int64(st, 22, r->anomalies);
	sqlite3_bind_int64(st, 23, r->t13_bytes);
	ret = step_done(s, st);
	if (ret)
		return ret;
	if (r->path_valid == 0 && r->issuer_key[0] != '\0')
		ret = put_seen(s, S_FANOUT_PUT, -1, r->issuer_key, r->base, r->ts);
	if (ret == 0 && strcmp(r->verdict, "substituted") == 0 && r->chain_id[0] != '\0' &&
	    r->version <= 0x0303) {
		char key[64];

		assoc_srv_key(key, r->srv_ip, r->srv_port);
		ret = put_seen(s, S_ASSOC_PUT, 0, NULL, key, r->ts);
		if (ret == 0 && r->name[0] != '\0')
			ret = put_seen(s, S_ASSOC_PUT, 1, NULL, r->name, r->ts);
	}
	return ret;
}
