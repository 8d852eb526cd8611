/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the verdict engine on openssl-made genuine, forged, private and fan-out chains. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "cp_testlib.h"
#include "verdict.h"
#include "x509.h"

#define SRV "203.0.113.10"
#define CLI "198.51.100.7"

static struct cp_engine *
open_engine(struct cp_config *cfg)
{
	char err[256] = "";
	struct cp_engine *e = cp_engine_open(cfg, err, sizeof(err));

	CHECK(e != NULL, "open: %s", err);
	return e;
}

/* What a database made before the table existed looks like. */
static void
drop_table(const char *path, const char *table)
{
	char sql[64];
	sqlite3 *db = NULL;

	snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
		      sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
	      "drop %s: %s", table, db ? sqlite3_errmsg(db) : "-");
	sqlite3_close(db);
}

static int
feed(struct cp_engine *e, const struct t_chain *c)
{
	return cp_engine_chain(e, &c->blob, c->der, t_time(2019, 7, 18));
}

static enum cp_result
judge(struct cp_engine *e, time_t ts, const char *sni, const char *srv,
      const struct t_chain *c, struct cp_verdict *v)
{
	struct cw_flow_event ev;

	t_event(&ev, ts, sni, srv, CLI, c, 0x0303, "ja3s-tls12-example", 0);
	CHECK(cp_engine_flow(e, &ev, v) == 0, "flow");
	return v->result;
}

/* Baseline learning, forged chain against it, rotation, private CA, capture-time validity. */
static void
test_baseline_and_forgery(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const forged[] = {"forged", "kzint"},
				 *const rotated[] = {"leaf2", "int"},
				 *const priv[] = {"privleaf"}, *const ec[] = {"ecleaf", "int"};
	static struct t_chain g, f, r, p, ecc, ecc_late;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	int i;

	t_config(&cfg);
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(t_chain(&g, genuine, 2, 0) == 0 && t_chain(&f, forged, 2, 0) == 0 &&
		      t_chain(&r, rotated, 2, 0) == 0 && t_chain(&p, priv, 1, 0) == 0 &&
		      t_chain(&ecc, ec, 2, 0) == 0 && t_chain(&ecc_late, ec, 2, 1) == 0,
	      "chains");
	CHECK(feed(e, &g) == 0 && feed(e, &f) == 0 && feed(e, &r) == 0 && feed(e, &p) == 0 &&
		      feed(e, &ecc) == 0 && feed(e, &ecc_late) == 0,
	      "blobs");

	/* First sighting: trusted, no history yet. */
	CHECK(judge(e, t0, "example.com", SRV, &g, &v) == CP_CONSISTENT, "first genuine: %s",
	      t_sigs(&v));
	CHECK(v.chain != NULL && v.chain->path_valid == 1 && v.chain->n == 2, "chain visible");
	CHECK(strcmp(v.name, "example.com") == 0, "name %s", v.name);
	for (i = 1; i < 5; i++)
		judge(e, t0 + i * 3600, "example.com", SRV, &g, &v);
	CHECK(v.result == CP_CONSISTENT && v.nsignals == 0 && v.confidence >= 0.85,
	      "genuine after learning: %s %.2f", t_sigs(&v), v.confidence);

	/*
	 * A chain sent in the clear whose certificates never reached control
	 * (its blob lost on a full ring): the learned ServerHello does not vouch
	 * for it.
	 */
	{
		static const char *const lost_certs[] = {"forged"};
		static struct t_chain lost;
		struct cw_flow_event ev;

		CHECK(t_chain(&lost, lost_certs, 1, 0) == 0, "chain");
		t_event(&ev, t0 + 5 * 3600, "example.com", SRV, CLI, &lost, 0x0303,
			"ja3s-tls12-example", 0);
		ev.flags |= CW_EVF_BLOB_DROPPED;
		CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_UNKNOWN && v.chain == NULL,
		      "chain lost in transit: %s %.2f %s", cp_result_name(v.result), v.confidence,
		      t_sigs(&v));
		/* A Certificate the sensor could not hold (reassembly cap): no chain at all. */
		t_event(&ev, t0 + 5 * 3600 + 1, "example.com", SRV, CLI, NULL, 0x0303,
			"ja3s-tls12-example", 0);
		ev.anomalies |= CW_EVA_CAP;
		CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_UNKNOWN,
		      "TLS 1.2 without its Certificate: %s %.2f %s", cp_result_name(v.result),
		      v.confidence, t_sigs(&v));
	}

	/* The forgery: untrusted, new issuer, same subject, stripped, e=3, backdated 6 h. */
	judge(e, t0 + 6 * 3600, "example.com", SRV, &f, &v);
	CHECK(v.result == CP_SUBSTITUTED, "forged: %s", cp_result_name(v.result));
	CHECK(t_has(&v, "issuer_change_for_name"), "issuer change: %s", t_sigs(&v));
	CHECK(strstr(t_detail(&v, "issuer_change_for_name"), "seen 5 times since 2019-07-18") !=
		      NULL,
	      "evidence: %s", t_detail(&v, "issuer_change_for_name"));
	CHECK(t_has(&v, "untrusted_path"), "untrusted: %s", t_sigs(&v));
	CHECK(t_has(&v, "key_change_same_subject"), "key change: %s", t_sigs(&v));
	CHECK(t_has(&v, "mimicry_extensions_stripped"), "stripped: %s", t_sigs(&v));
	CHECK(t_has(&v, "mimicry_no_sct"), "no sct: %s", t_sigs(&v));
	CHECK(t_has(&v, "weak_key") && strstr(t_detail(&v, "weak_key"), "e=3") != NULL,
	      "e=3: %s", t_detail(&v, "weak_key"));
	CHECK(t_has(&v, "validity_shift") &&
		      strstr(t_detail(&v, "validity_shift"), "-21600") != NULL,
	      "shift: %s", t_detail(&v, "validity_shift"));
	CHECK(!t_has(&v, "known_interception_anchor"), "no anchor configured for it");
	CHECK(v.confidence > 0.9, "confidence %.2f", v.confidence);

	/* The forgery was not learned: the genuine chain is still the only baseline. */
	judge(e, t0 + 7 * 3600, "example.com", SRV, &g, &v);
	CHECK(v.result == CP_CONSISTENT && v.nsignals == 0, "genuine after forgery: %s",
	      t_sigs(&v));
	judge(e, t0 + 8 * 3600, "example.com", SRV, &f, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "issuer_change_for_name"),
	      "forgery again: %s", t_sigs(&v));

	/*
	 * The forgery padded past the sensor's reassembly cap after its leaf:
	 * the leaf alone reaches control, flagged as cut, and still gives it away.
	 */
	{
		static const char *const cut_certs[] = {"forged"};
		static struct t_chain cut;
		struct cw_flow_event ev;

		CHECK(t_chain(&cut, cut_certs, 1, 0) == 0 && feed(e, &cut) == 0, "cut chain");
		t_event(&ev, t0 + 8 * 3600 + 1, "example.com", SRV, CLI, &cut, 0x0303,
			"ja3s-tls12-example", 0);
		ev.anomalies |= CW_EVA_CAP | CW_EVA_CHAIN_TRUNC;
		CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_SUBSTITUTED &&
			      t_has(&v, "key_change_same_subject") && t_has(&v, "untrusted_path"),
		      "forged leaf of a cut chain: %s %s", cp_result_name(v.result), t_sigs(&v));
		CHECK(strstr(t_detail(&v, "untrusted_path"), "reassembly cap") != NULL,
		      "cut said: %s", t_detail(&v, "untrusted_path"));
	}

	/* Routine rotation a year later: new key, same issuer key, later validity. */
	judge(e, t_time(2020, 6, 10), "example.com", SRV, &r, &v);
	CHECK(v.result == CP_CONSISTENT && v.nsignals == 0, "rotation: %s", t_sigs(&v));

	/* A private CA: only the untrusted path fires, and alone it is suspicious. */
	judge(e, t0, "intranet.corp.test", "10.0.0.5", &p, &v);
	CHECK(v.result == CP_SUSPICIOUS && v.nsignals == 1 && t_has(&v, "untrusted_path"),
	      "private CA: %s %s", cp_result_name(v.result), t_sigs(&v));

	/* Validation uses the capture time: expired now, valid in July 2019. */
	judge(e, t0, "api.example.net", SRV, &ecc, &v);
	CHECK(v.result == CP_CONSISTENT && v.chain != NULL && v.chain->path_valid == 1,
	      "expired-now chain at capture time: %s %s", cp_result_name(v.result),
	      v.chain ? v.chain->path_error : "-");
	judge(e, t_time(2024, 3, 1), "api.example.net", SRV, &ecc_late, &v);
	CHECK(v.chain != NULL && v.chain->path_valid == 0 &&
		      strstr(v.chain->path_error, "expired") != NULL,
	      "same certs captured in 2024: %s", v.chain ? v.chain->path_error : "-");

	/* The client address plays no part: two clients, same moment, same answer. */
	{
		struct cw_flow_event ev;
		struct cp_verdict v1, v2;

		t_event(&ev, t0 + 9 * 3600, "example.com", SRV, "192.0.2.99", &f, 0x0303,
			"ja3s-tls12-example", 0);
		cp_engine_flow(e, &ev, &v1);
		inet_pton(AF_INET, "192.0.2.200", ev.cli_addr);
		ev.cli_port = 61000;
		cp_engine_flow(e, &ev, &v2);
		CHECK(v1.result == v2.result && v1.confidence == v2.confidence &&
			      strcmp(t_sigs(&v1), t_sigs(&v2)) == 0 && v1.result == CP_SUBSTITUTED,
		      "client address changed the verdict");
	}
	cp_engine_close(e);
}

/* Known interception anchor: listed by SPKI (chain includes the root) or issuing an omitted root. */
static void
test_anchor(void)
{
	static const char *const full[] = {"forged", "kzint", "kzroot"},
				 *const partial[] = {"forged", "kzint"};
	static struct t_chain c1, c2;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;

	t_config(&cfg);
	cfg.anchors_extra = t_path("anchors-spki.tsv");
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	t_chain(&c1, full, 3, 0);
	t_chain(&c2, partial, 2, 0);
	feed(e, &c1);
	feed(e, &c2);
	judge(e, t_time(2019, 7, 18), "example.com", SRV, &c1, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "known_interception_anchor"),
	      "anchor by SPKI: %s %s", cp_result_name(v.result), t_sigs(&v));
	CHECK(v.chain != NULL && strcmp(v.chain->anchor_category, "operator") == 0 &&
		      strcmp(v.chain->anchor_name, "test interception root") == 0,
	      "anchor fields");
	/* Hash-only anchor, chain without the root: nothing to verify a signature with. */
	judge(e, t_time(2019, 7, 18), "example.com", SRV, &c2, &v);
	CHECK(!t_has(&v, "known_interception_anchor"), "hash-only cannot match an omitted root");
	cp_engine_close(e);

	cfg.anchors_extra = t_path("kzroot.pem");
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	feed(e, &c2);
	judge(e, t_time(2019, 7, 18), "example.com", SRV, &c2, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "known_interception_anchor") &&
		      strstr(t_detail(&v, "known_interception_anchor"), "issued by") != NULL,
	      "omitted root matched by AKI and signature: %s / %s", t_sigs(&v),
	      t_detail(&v, "known_interception_anchor"));
	cp_engine_close(e);

	/*
	 * A key-only anchor (a manifest pubkey entry: no certificate, no name) and a
	 * chain of the leaf alone, which has no AKI: matched by signature.
	 */
	{
		static const char *const leaf_only[] = {"forged"};
		static struct t_chain c3;
		char cmd[1024];

		snprintf(cmd, sizeof(cmd),
			 "d=%s && mkdir -p $d && openssl x509 -in %s -pubkey -noout > $d/kzint.key"
			 " && printf 'file\tkind\tsection\tcategory\tcert_sha256\tspki_sha256"
			 "\tsubject\nkzint.key\tpubkey\ttest\tinterception\t\t%%s\t\n'"
			 " $(openssl pkey -pubin -in $d/kzint.key -outform der | sha256sum |"
			 " cut -d' ' -f1) > $d/manifest.tsv",
			 t_path("anchors-key"), t_path("kzint.pem"));
		CHECK(system(cmd) == 0, "key-only anchor directory");
		t_config(&cfg);
		cfg.anchors_dir = t_path("anchors-key");
		e = open_engine(&cfg);
		if (e == NULL)
			return;
		t_chain(&c3, leaf_only, 1, 0);
		feed(e, &c3);
		judge(e, t_time(2019, 7, 18), "example.com", SRV, &c3, &v);
		CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "known_interception_anchor"),
		      "key-only anchor, leaf without AKI: %s %s", cp_result_name(v.result),
		      t_sigs(&v));
		cp_engine_close(e);
	}
}

static void
test_fanout(void)
{
	static const char *const names[] = {"alpha.org", "bravo.net", "charlie.com",
					    "delta.io", "echo.kz", "foxtrot.de"};
	static struct t_chain c[6];
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	char leaf[16], dbp[256]; /* dbp: t_path() reuses its buffers */
	int i;

	t_config(&cfg);
	cfg.fanout_names = 5;
	cfg.fanout_window_s = 3600;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	for (i = 0; i < 6; i++) {
		const char *chain[2] = {leaf, "kzint"};

		snprintf(leaf, sizeof(leaf), "fan%d", i + 1);
		t_chain(&c[i], chain, 2, 0);
		feed(e, &c[i]);
	}
	/* A repeat of the same name does not count twice. */
	for (i = 0; i < 4; i++) {
		judge(e, t0 + i * 60, names[i], SRV, &c[i], &v);
		judge(e, t0 + i * 60 + 1, names[i], SRV, &c[i], &v);
		CHECK(!t_has(&v, "issuer_fanout"), "fanout early at %d", i);
	}
	judge(e, t0 + 300, names[4], SRV, &c[4], &v);
	CHECK(t_has(&v, "issuer_fanout") && v.result == CP_SUBSTITUTED,
	      "fanout at 5 names: %s %s", cp_result_name(v.result), t_sigs(&v));
	CHECK(strstr(t_detail(&v, "issuer_fanout"), "5 unrelated names since 2019-07-18") != NULL,
	      "fanout detail: %s", t_detail(&v, "issuer_fanout"));
	/* Outside the window the earlier names no longer count. */
	judge(e, t0 + 300 + 4000, names[5], SRV, &c[5], &v);
	CHECK(!t_has(&v, "issuer_fanout"), "fanout outside window: %s", t_detail(&v, "issuer_fanout"));
	cp_engine_close(e);

	/*
	 * A database made before the fanout table: it is filled from the flows kept when the
	 * database is opened, so four names judged before still count with a fifth after.
	 */
	snprintf(dbp, sizeof(dbp), "%s", t_path("fanout.db"));
	cfg.db_path = dbp;
	cfg.retention_days = 36500;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	for (i = 0; i < 6; i++)
		feed(e, &c[i]);
	for (i = 0; i < 4; i++)
		judge(e, t0 + i * 60, names[i], SRV, &c[i], &v);
	cp_engine_close(e);
	drop_table(cfg.db_path, "fanout");
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	judge(e, t0 + 300, names[4], SRV, &c[4], &v);
	CHECK(t_has(&v, "issuer_fanout"), "fanout after the table was filled from flows: %s",
	      t_sigs(&v));
	cp_engine_close(e);
	cfg.db_path = NULL;
}

/* TLS 1.3: encrypted flight size, ServerHello change, association, downgrade sentinel. */
static void
test_tls13(void)
{
	static const char *const full[] = {"forged", "kzint", "kzroot"};
	static struct t_chain sub;
	struct cw_flow_event ev;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2021, 3, 1);
	int i;

	t_config(&cfg);
	cfg.anchors_extra = t_path("anchors-spki.tsv");
	cfg.t13_min_baseline = 5;
	cfg.t13_size_tolerance_pct = 15;
	cfg.assoc_window_s = 600;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	t_chain(&sub, full, 3, 0);
	feed(e, &sub);

	t_event(&ev, t0, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5000);
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_UNKNOWN && v.chain == NULL,
	      "no baseline yet: %s", cp_result_name(v.result));
	for (i = 1; i < 6; i++) {
		t_event(&ev, t0 + i * 60, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13",
			4900 + (uint32_t)i * 40);
		cp_engine_flow(e, &ev, &v);
	}
	CHECK(v.result == CP_CONSISTENT && v.nsignals == 0, "learned t13: %s %s",
	      cp_result_name(v.result), t_sigs(&v));
	/* Within tolerance of the learned envelope. */
	t_event(&ev, t0 + 400, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5600);
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_CONSISTENT, "5600 within 15%%: %s", t_sigs(&v));
	/* A much smaller flight: a different (shorter) chain behind the encryption. */
	t_event(&ev, t0 + 500, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 2500);
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_SUSPICIOUS && t_has(&v, "t13_size_divergence"), "size: %s",
	      t_sigs(&v));
	/* PSK resumption: no certificate in the flight and another ServerHello, by design. */
	t_event(&ev, t0 + 505, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-psk", 300);
	ev.flags |= CW_EVF_RESUMED | CW_EVF_PSK;
	cp_engine_flow(e, &ev, &v);
	CHECK(!t_has(&v, "t13_size_divergence") && !t_has(&v, "server_hello_change"),
	      "resumed: %s", t_sigs(&v));
	/* A different ServerHello for the same server and name. */
	t_event(&ev, t0 + 510, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-other", 5000);
	cp_engine_flow(e, &ev, &v);
	CHECK(t_has(&v, "server_hello_change"), "server hello: %s", t_sigs(&v));
	/* A substituted TLS 1.2 flow to the same server and name. */
	t_event(&ev, t0 + 600, "mail.example.org", SRV, CLI, &sub, 0x0303, "ja3s-tls12", 0);
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_SUBSTITUTED, "tls12 substituted: %s", t_sigs(&v));
	t_event(&ev, t0 + 700, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5000);
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_SUSPICIOUS && t_has(&v, "t13_assoc_substituted"),
	      "association alone: %s %s", cp_result_name(v.result), t_sigs(&v));
	t_event(&ev, t0 + 710, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 2400);
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "t13_assoc_substituted") &&
		      t_has(&v, "t13_size_divergence"),
	      "association + size: %s %s", cp_result_name(v.result), t_sigs(&v));
	/* Same name at another server: weaker association. */
	t_event(&ev, t0 + 720, "mail.example.org", "203.0.113.99", CLI, NULL, 0x0304, "ja3s-t13",
		5000);
	cp_engine_flow(e, &ev, &v);
	CHECK(t_has(&v, "t13_assoc_name") && !t_has(&v, "t13_assoc_substituted"), "name assoc: %s",
	      t_sigs(&v));
	/* Another port of the same address is another service: no association. */
	t_event(&ev, t0 + 722, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5000);
	ev.srv_port = 8443;
	cp_engine_flow(e, &ev, &v);
	CHECK(!t_has(&v, "t13_assoc_substituted"), "other port: %s", t_sigs(&v));
	/* Without SNI the server address and port alone carry the association. */
	t_event(&ev, t0 + 724, "", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5000);
	cp_engine_flow(e, &ev, &v);
	CHECK(t_has(&v, "t13_assoc_substituted") && v.result >= CP_SUSPICIOUS, "no SNI: %s %s",
	      cp_result_name(v.result), t_sigs(&v));
	/* Outside the window nothing is associated. */
	t_event(&ev, t0 + 600 + 601, "mail.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5000);
	cp_engine_flow(e, &ev, &v);
	CHECK(!t_has(&v, "t13_assoc_substituted"), "association expired: %s", t_sigs(&v));

	/*
	 * A TLS 1.3 client answered with TLS 1.2 and the downgrade sentinel, at a
	 * server with no substituted history (SRV has some, for another name).
	 */
	t_event(&ev, t0 + 800, "www.example.org", "203.0.113.80", CLI, NULL, 0x0303, "ja3s-x", 0);
	ev.flags |= CW_EVF_DOWNGRADE12;
	cp_engine_flow(e, &ev, &v);
	CHECK(t_has(&v, "downgrade_sentinel") && v.result == CP_SUSPICIOUS, "sentinel: %s",
	      t_sigs(&v));
	ev.ch_version = 0x0303; /* a TLS 1.2-only client: the sentinel is expected */
	cp_engine_flow(e, &ev, &v);
	CHECK(!t_has(&v, "downgrade_sentinel"), "sentinel for a 1.2 client");
	cp_engine_close(e);

	/*
	 * A database made before the assoc table: it is filled from the flows kept when the
	 * database is opened, so a substituted TLS 1.2 flow judged before still associates.
	 */
	/* t_path() reuses its buffers: the paths the second engine opens get their own. */
	char dbp[256], anch[256];

	snprintf(dbp, sizeof(dbp), "%s", t_path("assoc.db"));
	snprintf(anch, sizeof(anch), "%s", t_path("anchors-spki.tsv"));
	cfg.db_path = dbp;
	cfg.anchors_extra = anch;
	cfg.retention_days = 36500;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	feed(e, &sub);
	t_event(&ev, t0, "imap.example.org", SRV, CLI, &sub, 0x0303, "ja3s-tls12", 0);
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_SUBSTITUTED, "substituted 1.2: %s",
	      cp_result_name(v.result));
	cp_engine_close(e);
	drop_table(cfg.db_path, "assoc");
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	t_event(&ev, t0 + 60, "imap.example.org", SRV, CLI, NULL, 0x0304, "ja3s-t13", 5000);
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && t_has(&v, "t13_assoc_substituted") &&
		      strstr(t_detail(&v, "t13_assoc_substituted"), "1 substituted") != NULL,
	      "association after the table was filled from flows: %s", t_sigs(&v));
	cp_engine_close(e);
	cfg.db_path = NULL;
}

/*
 * Signs that someone sent the sensor other bytes than the client got: the
 * genuine, learned chain is still only suspicious, and not learned again;
 * with a forged chain the signal adds to the substitution.
 */
static void
test_evasion(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const forged[] = {"forged", "kzint"};
	static const uint32_t evasive[] = {CW_EVA_OVERLAP_CONFLICT, CW_EVA_BAD_CSUM, CW_EVA_NO_ACK,
					   CW_EVA_TCP_SIG, CW_EVA_IP_FRAG, CW_EVA_BAD_SYN};
	static struct t_chain g, f;
	struct cw_flow_event ev;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	int i;

	t_config(&cfg);
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(t_chain(&g, genuine, 2, 0) == 0 && t_chain(&f, forged, 2, 0) == 0, "chains");
	CHECK(feed(e, &g) == 0 && feed(e, &f) == 0, "blobs");
	for (i = 0; i < 5; i++)
		judge(e, t0 + i * 3600, "example.com", SRV, &g, &v);
	CHECK(v.result == CP_CONSISTENT && v.nsignals == 0, "learned: %s", t_sigs(&v));

	for (i = 0; i < (int)(sizeof(evasive) / sizeof(evasive[0])); i++) {
		t_event(&ev, t0 + 6 * 3600 + i, "example.com", SRV, CLI, &g, 0x0303, "ja3s-tls12-example", 0);
		ev.anomalies = evasive[i] | CW_EVA_RETRANS;
		CHECK(cp_engine_flow(e, &ev, &v) == 0, "flow");
		CHECK(v.result == CP_SUSPICIOUS && v.nsignals == 1 && t_has(&v, "evasion_attempt"),
		      "anomaly %#x: %s %s", evasive[i], cp_result_name(v.result), t_sigs(&v));
		CHECK(cp_verdict_blocks_cert_learning(&v) && cp_verdict_blocks_srv_learning(&v),
		      "not learned with anomaly %#x", evasive[i]);
	}
	/* Every kind at once: each named in the one detail line. */
	ev.anomalies = CW_EVA_OVERLAP_CONFLICT | CW_EVA_BAD_CSUM | CW_EVA_NO_ACK | CW_EVA_TCP_SIG |
		       CW_EVA_IP_FRAG | CW_EVA_BAD_SYN;
	cp_engine_flow(e, &ev, &v);
	CHECK(strstr(t_detail(&v, "evasion_attempt"), "other content") != NULL &&
		      strstr(t_detail(&v, "evasion_attempt"), "checksum") != NULL &&
		      strstr(t_detail(&v, "evasion_attempt"), "without ACK") != NULL &&
		      strstr(t_detail(&v, "evasion_attempt"), "TCP-MD5/AO") != NULL &&
		      strstr(t_detail(&v, "evasion_attempt"), "IP fragments") != NULL &&
		      strstr(t_detail(&v, "evasion_attempt"), "SYN-ACK") != NULL,
	      "detail: %s", t_detail(&v, "evasion_attempt"));
	/* Ordinary loss and reordering are not evasion. */
	ev.anomalies = CW_EVA_RETRANS | CW_EVA_OOO | CW_EVA_BAD_RST | CW_EVA_TCP_OPTS;
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_CONSISTENT && v.nsignals == 0, "retransmissions: %s", t_sigs(&v));
	/* The forged chain with an overlap conflict: substituted, both signals listed. */
	t_event(&ev, t0 + 7 * 3600, "example.com", SRV, CLI, &f, 0x0303, "ja3s-tls12-example", 0);
	ev.anomalies = CW_EVA_OVERLAP_CONFLICT;
	cp_engine_flow(e, &ev, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "evasion_attempt") &&
		      t_has(&v, "issuer_change_for_name"),
	      "forged + conflict: %s %s", cp_result_name(v.result), t_sigs(&v));
	cp_engine_close(e);
}

/* A leaf signed with the CA's own key, for a name with no history: only the chain tells. */
static void
test_leaf_reuses_issuer_key(void)
{
	static const char *const mitm[] = {"mitm", "kzint"};
	static struct t_chain m;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;

	t_config(&cfg);
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(t_chain(&m, mitm, 2, 0) == 0 && feed(e, &m) == 0, "mitm chain");
	judge(e, t_time(2019, 8, 1), "shop.example.com", SRV, &m, &v);
	CHECK(t_has(&v, "leaf_reuses_issuer_key") && t_has(&v, "untrusted_path") &&
		      v.result == CP_SUBSTITUTED,
	      "leaf with the CA key: %s %s", cp_result_name(v.result), t_sigs(&v));
	cp_engine_close(e);
}

/*
 * A CDN leaf with 40 names (950 bytes of SAN list, kept whole) does not cover
 * a name outside them: name_mismatch. A leaf whose 60 names did not all fit
 * may cover a name the list lost, so that one is not a mismatch. The same
 * after a restart, with the chains read back from the database.
 */
static void
test_long_san(void)
{
	static const char *const whole[] = {"cdn40", "int"}, *const cut[] = {"cdn60", "int"};
	static struct t_chain w, c;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);
	char db[128];

	snprintf(db, sizeof(db), "%s", t_path("san.db"));
	t_config(&cfg);
	cfg.db_path = db;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(t_chain(&w, whole, 2, 0) == 0 && t_chain(&c, cut, 2, 0) == 0 && feed(e, &w) == 0 &&
		      feed(e, &c) == 0,
	      "cdn chains");
	judge(e, t0, "victim.example.org", SRV, &w, &v);
	CHECK(t_has(&v, "name_mismatch") && v.chain != NULL && v.chain->cert[0]->san_truncated == 0,
	      "40 SANs, name not among them: %s", t_sigs(&v));
	judge(e, t0, "edge-40.cdn-example.net", SRV, &w, &v);
	CHECK(!t_has(&v, "name_mismatch") && v.result == CP_CONSISTENT,
	      "40 SANs, the last one: %s", t_sigs(&v));
	judge(e, t0, "edge-60.cdn-example.net", SRV, &c, &v);
	CHECK(!t_has(&v, "name_mismatch") && v.chain != NULL &&
		      v.chain->cert[0]->san_truncated == 1 &&
		      strstr(v.chain->cert[0]->san, "edge-60.") == NULL,
	      "60 SANs, a name the list lost: %s", t_sigs(&v));
	cp_engine_close(e);

	t_config(&cfg); /* its paths point into t_path()'s buffers, long reused */
	cfg.db_path = db;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(cp_engine_chain_known(e, w.blob.chain_id) &&
		      cp_engine_chain_known(e, c.blob.chain_id),
	      "chains read back");
	judge(e, t0 + 60, "victim.example.org", SRV, &w, &v);
	CHECK(t_has(&v, "name_mismatch"), "40 SANs after reload: %s", t_sigs(&v));
	judge(e, t0 + 60, "edge-60.cdn-example.net", SRV, &c, &v);
	CHECK(!t_has(&v, "name_mismatch") && v.chain != NULL &&
		      v.chain->cert[0]->san_truncated == 1,
	      "60 SANs after reload: %s", t_sigs(&v));
	cp_engine_close(e);
}

static void
test_pins(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const forged[] = {"forged", "kzint"};
	static struct t_chain g, f;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "printf '# pins\\nexample.com\\t%%s\\n' $(openssl x509 -in %s -pubkey -noout |"
		 " openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1) > %s",
		 t_path("int.pem"), t_path("pins.tsv"));
	CHECK(system(cmd) == 0, "pins file");
	t_config(&cfg);
	cfg.pins_file = t_path("pins.tsv");
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	t_chain(&g, genuine, 2, 0);
	t_chain(&f, forged, 2, 0);
	feed(e, &g);
	feed(e, &f);
	judge(e, t_time(2019, 7, 18), "example.com", SRV, &g, &v);
	CHECK(v.result == CP_CONSISTENT && !t_has(&v, "pin_mismatch"), "pinned issuer: %s",
	      t_sigs(&v));
	/* No baseline for this name yet, yet the pin alone decides. */
	judge(e, t_time(2019, 7, 18), "www.example.com", SRV, &f, &v);
	CHECK(!t_has(&v, "pin_mismatch"), "pin is for example.com only");
	judge(e, t_time(2019, 7, 19), "EXAMPLE.com.", SRV, &f, &v);
	CHECK(v.result == CP_SUBSTITUTED && t_has(&v, "pin_mismatch"), "pin mismatch: %s",
	      t_sigs(&v));
	cp_engine_close(e);
}

/*
 * A chain that omits its intermediate (or lost it at the sensor's reassembly
 * cap) validates once a valid path has taught control that intermediate,
 * also for a chain judged before it (again at its own capture time).
 */
static void
test_learned_intermediates(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const ec_alone[] = {"ecleaf"},
				 *const rotated_alone[] = {"leaf2"};
	static struct t_chain g, ec, rot;
	struct cp_icache_stats st;
	struct cw_flow_event ev;
	char dbp[256];
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	time_t t0 = t_time(2019, 7, 18);

	CHECK(t_chain(&g, genuine, 2, 0) == 0 && t_chain(&ec, ec_alone, 1, 0) == 0 &&
		      t_chain(&rot, rotated_alone, 1, 0) == 0,
	      "chains");
	t_config(&cfg);
	/* t_path() reuses its buffers: the paths a later engine opens get their own. */
	snprintf(dbp, sizeof(dbp), "%s", t_path("icache.db"));
	cfg.db_path = dbp;
	cfg.retention_days = 36500; /* chains of 2019 and 2020 stay in the database */
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(feed(e, &g) == 0 && feed(e, &ec) == 0 && feed(e, &rot) == 0, "blobs");

	/* Before any valid path: the leaf alone is untrusted, and the cut is said. */
	t_event(&ev, t0, "api.example.net", SRV, CLI, &ec, 0x0303, "ja3s-tls12-example", 0);
	ev.anomalies |= CW_EVA_CAP | CW_EVA_CHAIN_TRUNC;
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_SUSPICIOUS &&
		      t_has(&v, "untrusted_path") && v.chain->path_cached == 0,
	      "leaf alone, nothing learned: %s %s", cp_result_name(v.result), t_sigs(&v));
	CHECK(strstr(t_detail(&v, "untrusted_path"), "local issuer") != NULL &&
		      strstr(t_detail(&v, "untrusted_path"), "reassembly cap") != NULL,
	      "detail: %s", t_detail(&v, "untrusted_path"));

	/* The full chain validates and teaches its intermediate. */
	CHECK(judge(e, t0, "example.com", SRV, &g, &v) == CP_CONSISTENT && v.chain->path_cached == 0,
	      "genuine: %s", t_sigs(&v));
	cp_engine_icache_stats(e, &st);
	CHECK(st.cached == 1 && st.learned == 1 && st.completed == 0,
	      "learned %" PRIu64 " cached %" PRIu64, st.learned, st.cached);

	/* The leaf judged before is validated again, at its capture time, and now passes. */
	t_event(&ev, t0 + 3600, "api.example.net", SRV, CLI, &ec, 0x0303, "ja3s-tls12-example", 0);
	CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_CONSISTENT && v.nsignals == 0 &&
		      v.chain->path_valid == 1 && v.chain->path_cached == 1,
	      "leaf alone after learning: %s %s", cp_result_name(v.result), t_sigs(&v));
	/* A rotated leaf served without its intermediate: the same issuer key, consistent. */
	CHECK(judge(e, t_time(2020, 6, 10), "example.com", SRV, &rot, &v) == CP_CONSISTENT &&
		      v.nsignals == 0 && v.chain->path_cached == 1,
	      "rotated leaf alone: %s", t_sigs(&v));
	cp_engine_icache_stats(e, &st);
	CHECK(st.cached == 1 && st.completed == 2, "completed %" PRIu64, st.completed);
	cp_engine_close(e);

	/*
	 * A restart on the same database starts with what the valid paths kept
	 * there taught (the intermediate once, though two chains hold it; not the
	 * leaves): a leaf seen alone first is completed at once.
	 */
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	cp_engine_icache_stats(e, &st);
	CHECK(st.cached == 1 && st.learned == 1 && st.completed == 0,
	      "after restart: cached %" PRIu64 " learned %" PRIu64, st.cached, st.learned);
	{
		static const char *const alone[] = {"cdn40"};
		static struct t_chain cdn;

		CHECK(t_chain(&cdn, alone, 1, 0) == 0 && feed(e, &cdn) == 0, "cdn chain");
		CHECK(judge(e, t0, "edge-1.cdn-example.net", SRV, &cdn, &v) == CP_CONSISTENT &&
			      v.chain->path_cached == 1,
		      "leaf alone after restart: %s %s", cp_result_name(v.result), t_sigs(&v));
	}
	cp_engine_close(e);
	cfg.db_path = NULL;

	/* --intermediates 0: nothing learned, the leaf alone stays untrusted. */
	cfg.intermediates = 0;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	CHECK(feed(e, &g) == 0 && feed(e, &ec) == 0, "blobs");
	CHECK(judge(e, t0, "example.com", SRV, &g, &v) == CP_CONSISTENT, "genuine");
	CHECK(judge(e, t0, "api.example.net", SRV, &ec, &v) == CP_SUSPICIOUS &&
		      t_has(&v, "untrusted_path"),
	      "leaf alone without learning: %s", t_sigs(&v));
	cp_engine_close(e);
}

/*
 * A chain cache smaller than the chains in use: flows of evicted chains re-analyse them from
 * the database (their certificates from the certificate cache) and are judged exactly as with
 * every chain held; each distinct certificate is parsed once.
 */
static void
test_chain_cache(void)
{
	static const char *const genuine[] = {"leaf1", "int"}, *const forged[] = {"forged", "kzint"};
	static struct t_chain g[6], f[6];
	struct cp_chain_cache_stats small, big;
	struct cp_config cfg;
	struct cp_engine *e, *r;
	unsigned int k, round, i, j;
	time_t t0 = t_time(2019, 7, 18);

	for (k = 0; k < 6; k++)
		CHECK(t_chain(&g[k], genuine, 2, k + 1) == 0 && t_chain(&f[k], forged, 2, k + 1) == 0,
		      "chains");
	t_config(&cfg);
	cfg.chain_cache = 3;
	{
		char err[256] = "";

		e = cp_engine_open(&cfg, err, sizeof(err));
		CHECK(e == NULL && strstr(err, "invalid") != NULL, "chain cache of 3 refused: %s", err);
		cp_engine_close(e);
	}
	cfg.chain_cache = 4; /* one set of 4 ways */
	e = open_engine(&cfg);
	cfg.chain_cache = 4096;
	r = open_engine(&cfg);
	if (e == NULL || r == NULL)
		return;
	for (k = 0; k < 6; k++)
		CHECK(feed(e, &g[k]) == 0 && feed(e, &f[k]) == 0 && feed(r, &g[k]) == 0 &&
			      feed(r, &f[k]) == 0,
		      "blobs %u", k);
	cp_engine_chain_cache_stats(e, &small);
	CHECK(small.cert_misses == 4 && small.cert_hits == 20,
	      "four certificates parsed once: misses %" PRIu64 " hits %" PRIu64, small.cert_misses,
	      small.cert_hits);
	for (round = 0; round < 2; round++)
		for (k = 0; k < 12; k++) {
			const struct t_chain *c = k % 2 ? &f[k / 2] : &g[k / 2];
			struct cp_verdict ve, vr;
			time_t ts = t0 + round * 600 + k;

			judge(e, ts, "example.com", SRV, c, &ve);
			judge(r, ts, "example.com", SRV, c, &vr);
			CHECK(ve.result == vr.result && ve.nsignals == vr.nsignals &&
				      strcmp(t_sigs(&ve), t_sigs(&vr)) == 0,
			      "round %u flow %u: %s [%s] against %s [%s]", round, k,
			      cp_result_name(ve.result), t_sigs(&ve), cp_result_name(vr.result),
			      t_sigs(&vr));
			CHECK(ve.chain != NULL && vr.chain != NULL, "chains visible");
			if (ve.chain == NULL || vr.chain == NULL)
				continue;
			CHECK(memcmp(ve.chain->chain_id, c->blob.chain_id, 16) == 0 &&
				      ve.chain->n == 2 && ve.chain->path_valid == vr.chain->path_valid &&
				      ve.chain->anchor_match == vr.chain->anchor_match &&
				      strcmp(ve.chain->path_error, vr.chain->path_error) == 0,
			      "round %u flow %u: chain facts", round, k);
			for (i = 0; i < 2; i++)
				for (j = 0; j < 2; j++)
					CHECK((strcmp(ve.chain->cert[i]->sha256,
						      vr.chain->cert[j]->sha256) == 0) == (i == j) &&
						      strcmp(ve.chain->cert[i]->subject,
							     vr.chain->cert[i]->subject) == 0 &&
						      strcmp(ve.chain->cert[i]->san,
							     vr.chain->cert[i]->san) == 0,
					      "round %u flow %u: certificate %u", round, k, i);
		}
	cp_engine_chain_cache_stats(e, &small);
	cp_engine_chain_cache_stats(r, &big);
	/* 12 blobs and 24 flows: every flow missed the 4-entry cache (each saw 4 others since). */
	CHECK(small.hits == 0 && small.misses == 36,
	      "small cache: hits %" PRIu64 " misses %" PRIu64, small.hits, small.misses);
	CHECK(big.hits == 24 && big.misses == 12,
	      "large cache: hits %" PRIu64 " misses %" PRIu64, big.hits, big.misses);
	CHECK(small.cert_misses == 4 && small.cert_hits == 20 + 24 * 2,
	      "reloads parsed nothing: misses %" PRIu64 " hits %" PRIu64, small.cert_misses,
	      small.cert_hits);
	/* Round 0 validated each chain after its reload; round 1 took that from the memo. */
	CHECK(small.memo_hits == 12 && big.memo_hits == 0,
	      "validations remembered: %" PRIu64 " and %" PRIu64, small.memo_hits, big.memo_hits);
	cp_engine_close(e);
	cp_engine_close(r);

	/*
	 * A chain that lacked its issuer, given up by the cache, is validated again when it comes
	 * back after a valid path taught that issuer, as if it had stayed.
	 */
	{
		static const char *const alone[] = {"ecleaf"};
		static struct t_chain ec;
		struct cw_flow_event ev;
		struct cp_verdict v;

		cfg.chain_cache = 4;
		e = open_engine(&cfg);
		if (e == NULL)
			return;
		CHECK(t_chain(&ec, alone, 1, 0) == 0 && feed(e, &ec) == 0, "leaf alone");
		t_event(&ev, t0, "api.example.net", SRV, CLI, &ec, 0x0303, "ja3s-tls12-example", 0);
		CHECK(cp_engine_flow(e, &ev, &v) == 0 && t_has(&v, "untrusted_path"),
		      "leaf alone, nothing learned: %s", t_sigs(&v));
		for (k = 0; k < 4; k++)
			CHECK(feed(e, &g[k]) == 0, "blob %u", k);
		CHECK(judge(e, t0, "example.com", SRV, &g[0], &v) == CP_CONSISTENT,
		      "the full chain teaches its intermediate: %s", t_sigs(&v));
		ev.ts_ns += 3600ull * 1000000000ull;
		CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_CONSISTENT &&
			      v.chain != NULL && v.chain->path_valid == 1 && v.chain->path_cached == 1,
		      "leaf alone, reloaded after learning: %s %s", cp_result_name(v.result),
		      t_sigs(&v));
		/* Given up again and reloaded: the completed path comes back from the memo. */
		for (k = 0; k < 4; k++)
			CHECK(judge(e, t0, "example.com", SRV, &g[k], &v) == CP_CONSISTENT,
			      "chain %u: %s", k, t_sigs(&v));
		ev.ts_ns += 3600ull * 1000000000ull;
		CHECK(cp_engine_flow(e, &ev, &v) == 0 && v.result == CP_CONSISTENT &&
			      v.chain != NULL && v.chain->path_valid == 1 && v.chain->path_cached == 1,
		      "leaf alone, reloaded again: %s %s", cp_result_name(v.result), t_sigs(&v));
		cp_engine_chain_cache_stats(e, &small);
		CHECK(small.memo_hits == 2, "its validation came from the memo (%" PRIu64 ")",
		      small.memo_hits);
		cp_engine_close(e);
	}
}

/* A self-signed certificate CN=s<k>.example on key, as DER in a one-certificate blob. */
static int
self_signed(struct t_chain *tc, EVP_PKEY *key, unsigned int k)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char cn[32], *p = tc->der;
	uint8_t md[SHA256_DIGEST_LENGTH];
	int len = -1;

	memset(&tc->blob, 0, sizeof(tc->blob));
	snprintf((char *)cn, sizeof(cn), "s%u.example", k);
	if (x != NULL && n != NULL && X509_set_version(x, 2) == 1 &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)k + 1) == 1 &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, cn, -1, -1, 0) == 1 &&
	    X509_set_subject_name(x, n) == 1 && X509_set_issuer_name(x, n) == 1 &&
	    ASN1_TIME_set(X509_getm_notBefore(x), t_time(2019, 1, 1)) != NULL &&
	    ASN1_TIME_set(X509_getm_notAfter(x), t_time(2020, 1, 1)) != NULL &&
	    X509_set_pubkey(x, key) == 1 && X509_sign(x, key, EVP_sha256()) > 0)
		len = i2d_X509(x, &p);
	X509_NAME_free(n);
	X509_free(x);
	if (len <= 0)
		return -1;
	tc->blob.len[0] = (uint32_t)len;
	tc->blob.ncerts = 1;
	tc->blob.total_len = (uint32_t)(sizeof(tc->blob) + (size_t)len);
	SHA256(tc->der, (size_t)len, md);
	memcpy(tc->blob.chain_id, md, 16);
	return 0;
}

/*
 * More certificates than the certificate cache has sets (its least, 1024 in sets of 4): sets
 * are shared, and every chain reloaded gets its own certificate's description back.
 */
static void
test_cert_cache_sets(void)
{
	enum { N = 300 };
	static struct t_chain c[N];
	struct cp_chain_cache_stats st;
	struct cp_config cfg;
	struct cp_verdict v;
	struct cp_engine *e;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	unsigned int k, bad = 0;

	CHECK(key != NULL, "key");
	if (key == NULL)
		return;
	for (k = 0; k < N; k++)
		CHECK(self_signed(&c[k], key, k) == 0, "certificate %u", k);
	EVP_PKEY_free(key);
	t_config(&cfg);
	cfg.chain_cache = 4;
	e = open_engine(&cfg);
	if (e == NULL)
		return;
	for (k = 0; k < N; k++)
		CHECK(feed(e, &c[k]) == 0, "blob %u", k);
	for (k = 0; k < N; k++) {
		uint8_t md[SHA256_DIGEST_LENGTH];
		char hex[65], cn[40];

		SHA256(c[k].der, c[k].blob.len[0], md);
		cp_hex(md, sizeof(md), hex);
		snprintf(cn, sizeof(cn), "CN=s%u.example", k);
		judge(e, t_time(2019, 7, 18), "example.org", SRV, &c[k], &v);
		if (v.chain == NULL || strcmp(v.chain->cert[0]->sha256, hex) != 0 ||
		    strcmp(v.chain->cert[0]->subject, cn) != 0)
			bad++;
	}
	CHECK(bad == 0, "%u of %d chains reloaded with another certificate's description", bad, N);
	cp_engine_chain_cache_stats(e, &st);
	CHECK(st.misses == 2 * N && st.cert_misses >= N && st.cert_hits > 0,
	      "chain misses %" PRIu64 ", certificates parsed %" PRIu64 " found %" PRIu64, st.misses,
	      st.cert_misses, st.cert_hits);
	cp_engine_close(e);
}

int
main(void)
{
	if (t_mkpki() != 0)
		return 1;
	test_baseline_and_forgery();
	test_anchor();
	test_fanout();
	test_tls13();
	test_leaf_reuses_issuer_key();
	test_pins();
	test_long_san();
	test_evasion();
	test_learned_intermediates();
	test_chain_cache();
	test_cert_cache_sets();
	t_rmpki();
	printf("test_verdict: %d checks, %d failed\n", t_run, t_fail);
	return t_fail ? 1 : 0;
}
