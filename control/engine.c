/* SPDX-License-Identifier: BSD-3-Clause */
/* The control-plane engine behind cp.h: chain cache, fact gathering, verdicts, learning and storage. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>
#include <openssl/x509.h>

#include "cw_config.h"

#include "anchors.h"
#include "cp.h"
#include "store.h"
#include "text.h"
#include "verdict.h"
#include "x509.h"

/*
 * Chain cache: --chain-cache entries in sets of CP_CACHE_WAYS, LRU within a set (1 KiB an
 * entry, and a reference to each of its parsed certificates, which carry their descriptions:
 * ~8 KiB more for a leaf of its own). A miss after eviction or restart reloads the DER from
 * SQLite and re-analyses it.
 */
#define CP_CACHE_WAYS 4
/*
 * Certificate cache: parsed certificates and their descriptions by the SHA-256 of the DER, as
 * many as the chain cache holds chains and at least CP_CERT_MIN, in sets of CP_CERT_WAYS, LRU
 * within a set (the parsed certificate and its 2.5 KiB description). Chains share
 * intermediates and roots, and decoding one certificate's key takes OpenSSL 3.0 ~100 us, so a
 * certificate is parsed once while it stays here.
 */
#define CP_CERT_WAYS 4
#define CP_CERT_MIN 1024
#define CP_PRUNE_EVERY_S 300      /* capture seconds between retention passes */
/*
 * Flows past the cap or retention deleted per flush: this many, plus twice the flows judged
 * since the last one, so deleting outpaces inserting and a backlog (a lowered --max-flows)
 * drains without a pass long enough to leave the rings unread.
 */
#define CP_PRUNE_FLOWS_STEP 4096
#define CP_SEEN_UPDATE_S 3600     /* capture seconds between chains.last_seen writes */
#define CP_SIGNALS_JSON_MAX 4608

struct cp_centry {
	int used;
	uint64_t stamp;               /* LRU clock value of the last use; 0: unused */
	struct cp_chain chain;
	X509 *x[CP_MAX_CERTS];
	char issuer_key[CP_ISSUER_KEY_MAX];
	char anchor_key[65];          /* SPKI of the anchor that issued the top, "" otherwise */
	int64_t validated_at;         /* capture time used for path validation, 0 = not yet */
	int64_t seen_written;         /* last chains.last_seen written */
	int issuer_missing;           /* invalid for want of an issuer (struct cp_path_info) ... */
	unsigned long missing;        /* ... of this name hash ... */
	uint64_t ic_gen;              /* ... with the learned intermediates up to this generation */
};

/*
 * Validation memo: the validation results of chains the chain cache gave up, 4 for each entry
 * of the chain cache, in sets of CP_VMEMO_WAYS, LRU within a set (240 B each). A chain
 * reloaded from the database takes its result from here instead of validating again (at the
 * same capture time, against the same trust store: the same result), and is checked again
 * only when it lacked an issuer and one of that name was learned since, as if it had stayed.
 */
#define CP_VMEMO_WAYS 4

struct cp_vmemo {
	uint8_t id[16];               /* chain id */
	uint64_t stamp;               /* the chain's last use; 0: free */
	int path_valid;
	unsigned int path_cached;
	int issuer_missing;
	unsigned long missing;
	uint64_t ic_gen;
	int64_t validated_at, seen_written;
	char issuer_key[CP_ISSUER_KEY_MAX];
	char path_error[96];
};

struct cp_xentry {
	uint8_t md[32];               /* SHA-256 of the DER; x == NULL: free */
	uint64_t stamp;               /* LRU clock value of the last use; 0: free */
	X509 *x;                      /* one reference held by the cache */
	const struct cp_cert *desc;   /* kept on x (cp_x509_desc()) */
};

/* Single-threaded: the daemon's control thread owns the engine. */
struct cp_engine {
	struct cp_config cfg;
	X509_STORE *trust;
	struct cp_anchors anchors;
	struct cp_pins pins;
	struct cp_store *store;
	struct cp_centry *cache;
	unsigned int cache_sets;      /* --chain-cache / CP_CACHE_WAYS, rounded up */
	struct cp_xentry *xcache;     /* xcache_sets x CP_CERT_WAYS */
	unsigned int xcache_sets;
	struct cp_chain_cache_stats cstats;
	struct cp_vmemo *vmemo;       /* vmemo_sets x CP_VMEMO_WAYS */
	unsigned int vmemo_sets;
	struct cp_icache ic;          /* intermediates learned from valid paths */
	uint64_t paths_completed;     /* validations that needed a learned intermediate */
	uint64_t clock;
	int64_t now;                  /* newest capture time seen, seconds */
	int64_t pruned_at;
	uint64_t flows_unflushed;     /* flows judged since the last flush */
	uint64_t flows_pruned;        /* flows deleted for the cap or retention */
	uint64_t store_errors;        /* database reads and writes that failed */
	int store_last;               /* -errno of the last one */
	char json[CP_SIGNALS_JSON_MAX];
};

/*
 * A database read or write that failed (SQLITE_BUSY past the busy timeout,
 * disk full, I/O error): counted, never a reason to lose a verdict. A failed
 * read judges without what it would have returned; a failed write loses that
 * row (and, when SQLite rolled the open transaction back, the batch's).
 */
static int
store_note(struct cp_engine *e, int ret)
{
	if (ret < 0) {
		e->store_errors++;
		e->store_last = ret;
	}
	return ret;
}

void
cp_config_defaults(struct cp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fanout_names = 8;
	cfg->fanout_window_s = 3600;
	cfg->t13_size_tolerance_pct = 15;
	cfg->t13_min_baseline = 5;
	cfg->assoc_window_s = 600;
	cfg->retention_days = 90;
	cfg->max_flows = 10000000;
	cfg->min_rsa_bits = 2048;
	cfg->strip_min = 2;
	cfg->validity_shift_max_s = 7 * 86400;
	cfg->baseline_days = 400;
	cfg->max_baselines = 1000000;
	cfg->max_chains = 1000000;
	cfg->intermediates = 4096;
	cfg->chain_cache = 16384;
}

const char *
cp_result_name(enum cp_result r)
{
	switch (r) {
	case CP_CONSISTENT:
		return "consistent";
	case CP_SUSPICIOUS:
		return "suspicious";
	case CP_SUBSTITUTED:
		return "substituted";
	default:
		return "unknown";
	}
}

static void
icache_from_store(void *arg, const uint8_t *der, size_t len)
{
	cp_icache_learn_der(arg, der, len);
}

/*
 * The shipped anchors live in the installed data directory. A build that has
 * not been installed (tests, the README demo) falls back to the source tree.
 */
static const char *
default_anchors_dir(const struct cp_config *cfg)
{
	if (cfg->anchors_dir != NULL)
		return cfg->anchors_dir;
	if (access(CW_DATADIR "/anchors/manifest.tsv", R_OK) == 0)
		return CW_DATADIR "/anchors";
	return CW_SRC_DATADIR "/anchors";
}

struct cp_engine *
cp_engine_open(const struct cp_config *cfg, char *errbuf, size_t errlen)
{
	struct cp_engine *e;
	int ret;

	errbuf[0] = '\0';
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		ret = -ENOMEM;
		goto err;
	}
	e->cfg = *cfg;
	if (e->cfg.fanout_names < 2 || e->cfg.t13_size_tolerance_pct > 100 ||
	    e->cfg.retention_days == 0 || e->cfg.max_flows == 0 || e->cfg.strip_min == 0 ||
	    e->cfg.max_baselines == 0 || e->cfg.max_chains == 0 ||
	    e->cfg.chain_cache < CP_CACHE_WAYS || e->cfg.chain_cache > CP_CHAIN_CACHE_MAX) {
		snprintf(errbuf, errlen, "invalid threshold in configuration");
		ret = -EINVAL;
		goto err_free_engine;
	}
	e->cache_sets = (e->cfg.chain_cache + CP_CACHE_WAYS - 1) / CP_CACHE_WAYS;
	e->cache = calloc((size_t)e->cache_sets * CP_CACHE_WAYS, sizeof(*e->cache));
	e->xcache_sets = e->cache_sets * CP_CACHE_WAYS < CP_CERT_MIN ? CP_CERT_MIN / CP_CERT_WAYS
								     : e->cache_sets;
	e->xcache = calloc((size_t)e->xcache_sets * CP_CERT_WAYS, sizeof(*e->xcache));
	e->vmemo_sets = 4 * e->cache_sets;
	e->vmemo = calloc((size_t)e->vmemo_sets * CP_VMEMO_WAYS, sizeof(*e->vmemo));
	if (e->cache == NULL || e->xcache == NULL || e->vmemo == NULL) {
		ret = -ENOMEM;
		goto err_free_cache;
	}
	ret = cp_icache_init(&e->ic, cfg->intermediates);
	if (ret)
		goto err_free_cache;
	ret = cp_trust_load(&e->trust, cfg->trust_store, cfg->trust_store_extend, errbuf, errlen);
	if (ret)
		goto err_free_cache;
	ret = cp_anchors_load_dir(&e->anchors, default_anchors_dir(cfg), errbuf, errlen);
	if (ret == 0 && cfg->anchors_extra != NULL)
		ret = cp_anchors_load_extra(&e->anchors, cfg->anchors_extra, errbuf, errlen);
	if (ret)
		goto err_free_anchors;
	cp_anchors_finish(&e->anchors);
	if (cfg->pins_file != NULL) {
		ret = cp_pins_load(&e->pins, cfg->pins_file, errbuf, errlen);
		if (ret)
			goto err_free_pins;
	}
	ret = cp_store_open(&e->store, cfg->db_path, errbuf, errlen);
	if (ret)
		goto err_free_pins;
	/* What earlier runs learned; a database that cannot be read only starts it empty. */
	if (e->ic.max > 0)
		store_note(e, cp_store_intermediates(e->store, e->ic.max, icache_from_store, &e->ic));
	/* Strings in cfg belong to the caller and are not needed after open. */
	e->cfg.db_path = e->cfg.trust_store = e->cfg.anchors_dir = NULL;
	e->cfg.anchors_extra = e->cfg.pins_file = NULL;
	return e;

err_free_pins:
	cp_pins_free(&e->pins);
err_free_anchors:
	cp_anchors_free(&e->anchors);
	X509_STORE_free(e->trust);
err_free_cache:
	cp_icache_free(&e->ic);
	free(e->vmemo);
	free(e->xcache);
	free(e->cache);
err_free_engine:
	free(e);
err:
	if (errbuf[0] == '\0')
		snprintf(errbuf, errlen, "%s", strerror(-ret));
	errno = -ret;
	return NULL;
}

static void
centry_clear(struct cp_centry *c)
{
	unsigned int i;

	for (i = 0; i < CP_MAX_CERTS; i++)
		X509_free(c->x[i]);
	memset(c, 0, sizeof(*c));
}

/* The set of a chain id or certificate digest: both are uniform hashes. */
static unsigned int
set_of(const uint8_t *h, unsigned int sets)
{
	return (unsigned int)(((uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
			       (uint32_t)h[3] << 24) % sets);
}

static struct cp_centry *
cache_find(struct cp_engine *e, const uint8_t id[16])
{
	struct cp_centry *set = &e->cache[set_of(id, e->cache_sets) * CP_CACHE_WAYS];
	unsigned int i;

	for (i = 0; i < CP_CACHE_WAYS; i++)
		if (set[i].used && memcmp(set[i].chain.chain_id, id, 16) == 0) {
			set[i].stamp = ++e->clock;
			e->cstats.hits++;
			return &set[i];
		}
	e->cstats.misses++;
	return NULL;
}

/* The memo of chain id, or NULL. */
static struct cp_vmemo *
vmemo_find(struct cp_engine *e, const uint8_t id[16])
{
	struct cp_vmemo *set = &e->vmemo[set_of(id, e->vmemo_sets) * CP_VMEMO_WAYS];
	unsigned int i;

	for (i = 0; i < CP_VMEMO_WAYS; i++)
		if (set[i].stamp != 0 && memcmp(set[i].id, id, 16) == 0)
			return &set[i];
	return NULL;
}

/* A validated chain leaving the cache: its result into the memo (its own way, else the LRU). */
static void
vmemo_keep(struct cp_engine *e, const struct cp_centry *ce)
{
	const struct cp_chain *c = &ce->chain;
	struct cp_vmemo *m = vmemo_find(e, c->chain_id), *set;
	unsigned int i;

	if (c->path_valid < 0)
		return;
	if (m == NULL) {
		set = &e->vmemo[set_of(c->chain_id, e->vmemo_sets) * CP_VMEMO_WAYS];
		m = &set[0];
		for (i = 1; i < CP_VMEMO_WAYS; i++) /* a free way (stamp 0) first, else the LRU */
			if (set[i].stamp < m->stamp)
				m = &set[i];
	}
	memcpy(m->id, c->chain_id, 16);
	m->stamp = ce->stamp;
	m->path_valid = c->path_valid;
	m->path_cached = c->path_cached;
	m->issuer_missing = ce->issuer_missing;
	m->missing = ce->missing;
	m->ic_gen = ce->ic_gen;
	m->validated_at = ce->validated_at;
	m->seen_written = ce->seen_written;
	memcpy(m->issuer_key, ce->issuer_key, sizeof(m->issuer_key));
	memcpy(m->path_error, c->path_error, sizeof(m->path_error));
}

/* A chain reloaded: its validation result back from the memo, if there. */
static void
vmemo_take(struct cp_engine *e, struct cp_centry *ce)
{
	struct cp_chain *c = &ce->chain;
	const struct cp_vmemo *m = vmemo_find(e, c->chain_id);

	if (m == NULL)
		return;
	e->cstats.memo_hits++;
	c->path_valid = m->path_valid;
	c->path_cached = m->path_cached;
	ce->issuer_missing = m->issuer_missing;
	ce->missing = m->missing;
	ce->ic_gen = m->ic_gen;
	ce->validated_at = m->validated_at;
	ce->seen_written = m->seen_written;
	memcpy(ce->issuer_key, m->issuer_key, sizeof(ce->issuer_key));
	memcpy(c->path_error, m->path_error, sizeof(c->path_error));
}

/* A free way, else the least recently used one, cleared (its validation kept in the memo). */
static struct cp_centry *
cache_slot(struct cp_engine *e, const uint8_t id[16])
{
	struct cp_centry *set = &e->cache[set_of(id, e->cache_sets) * CP_CACHE_WAYS];
	struct cp_centry *victim = &set[0];
	unsigned int i;

	/* A free way has stamp 0 (the LRU clock starts at 1): the first free one, else the LRU. */
	for (i = 1; i < CP_CACHE_WAYS; i++)
		if (set[i].stamp < victim->stamp)
			victim = &set[i];
	if (victim->used) { /* an unused entry is all zero already */
		vmemo_keep(e, victim);
		centry_clear(victim);
	}
	return victim;
}

/*
 * The certificate of this DER, parsed and described: from the certificate cache, else parsed
 * into it (replacing the least recently used of its set). NULL when it does not parse.
 */
static const struct cp_xentry *
cert_get(struct cp_engine *e, const uint8_t *der, size_t len)
{
	struct cp_xentry *set, *victim;
	const struct cp_cert *desc;
	uint8_t md[32];
	unsigned int i;
	X509 *x;

	SHA256(der, len, md);
	set = &e->xcache[set_of(md, e->xcache_sets) * CP_CERT_WAYS];
	victim = &set[0];
	for (i = 0; i < CP_CERT_WAYS; i++) {
		if (set[i].x != NULL && memcmp(set[i].md, md, sizeof(md)) == 0) {
			set[i].stamp = ++e->clock;
			e->cstats.cert_hits++;
			return &set[i];
		}
		if (set[i].stamp < victim->stamp) /* a free way (stamp 0) first, else the LRU */
			victim = &set[i];
	}
	e->cstats.cert_misses++;
	x = cp_x509_parse(der, len);
	if (x == NULL)
		return NULL;
	desc = cp_x509_desc(x, der, len);
	if (desc == NULL) {
		X509_free(x);
		return NULL;
	}
	X509_free(victim->x);
	memcpy(victim->md, md, sizeof(md));
	victim->x = x;
	victim->desc = desc;
	victim->stamp = ++e->clock;
	return victim;
}

/* Parse and describe the certificates, match anchors. Leaves ce unused on failure. */
static int
analyse(struct cp_engine *e, struct cp_centry *ce, const uint8_t id[16], const uint8_t *const *der,
	const uint32_t *len, unsigned int n)
{
	struct cp_chain *c = &ce->chain;
	unsigned int i;
	int pos;

	memcpy(c->chain_id, id, 16);
	for (i = 0; i < n && i < CP_MAX_CERTS; i++) {
		const struct cp_xentry *xe = cert_get(e, der[i], len[i]);

		if (xe == NULL || X509_up_ref(xe->x) != 1)
			break; /* keep what precedes an unparseable certificate */
		ce->x[i] = xe->x;
		c->cert[i] = xe->desc;
	}
	c->n = i;
	if (c->n == 0) {
		centry_clear(ce);
		return -EINVAL;
	}
	c->path_valid = -1;
	c->anchor_match = cp_anchors_match(&e->anchors, ce->x, c->cert, c->n, &pos);
	if (c->anchor_match >= 0) {
		const struct cp_anchor *a = &e->anchors.a[c->anchor_match];

		snprintf(c->anchor_name, sizeof(c->anchor_name), "%s", a->label);
		snprintf(c->anchor_category, sizeof(c->anchor_category), "%s", a->category);
		if (pos < 0)
			snprintf(ce->anchor_key, sizeof(ce->anchor_key), "%s", a->spki);
	}
	ce->used = 1;
	ce->stamp = ++e->clock;
	return 0;
}

int
cp_engine_chain(struct cp_engine *e, const struct cw_chain_blob *blob, const uint8_t *der,
		int64_t ts)
{
	const uint8_t *ptr[CP_MAX_CERTS];
	uint64_t total = sizeof(*blob);
	struct cp_centry *ce;
	unsigned int i;
	int ret;

	if (blob->ncerts == 0 || blob->ncerts > CW_EV_CHAIN_MAX)
		return -EINVAL;
	for (i = 0; i < blob->ncerts; i++) {
		ptr[i] = der + (total - sizeof(*blob));
		total += blob->len[i];
	}
	if (total > blob->total_len)
		return -EINVAL;
	if (ts > e->now)
		e->now = ts;
	if (cache_find(e, blob->chain_id) != NULL)
		return 0;
	ce = cache_slot(e, blob->chain_id);
	ret = analyse(e, ce, blob->chain_id, ptr, blob->len, blob->ncerts);
	if (ret)
		return ret;
	/* Kept in the cache whether or not the store takes it: the flows are judged from there. */
	store_note(e, cp_store_put_chain(e->store, &ce->chain, ptr, blob->len, ts));
	return 0;
}

/* Cache, else the DER kept in SQLite (blob dropped on the ring, eviction, restart). */
static struct cp_centry *
chain_lookup(struct cp_engine *e, const uint8_t id[16])
{
	uint8_t *der[CP_MAX_CERTS];
	uint32_t len[CP_MAX_CERTS];
	struct cp_centry *ce = cache_find(e, id);
	int64_t validated_at;
	int n, i;

	if (ce != NULL)
		return ce;
	n = store_note(e, cp_store_get_chain(e->store, id, der, len, CP_MAX_CERTS, &validated_at));
	if (n <= 0)
		return NULL;
	ce = cache_slot(e, id);
	if (analyse(e, ce, id, (const uint8_t *const *)der, len, (unsigned int)n) != 0)
		ce = NULL;
	else {
		ce->validated_at = validated_at; /* re-validate at the original capture time */
		vmemo_take(e, ce);
	}
	for (i = 0; i < n; i++)
		free(der[i]);
	return ce;
}

/*
 * A chain is validated on first use, and again (at the same capture time) when it lacked an
 * issuer and a certificate of that name was learned since. Learned certificates of other names
 * are passed over once: the next look starts after them.
 */
static int
validation_due(struct cp_engine *e, struct cp_centry *ce)
{
	if (ce->chain.path_valid < 0)
		return 1;
	if (ce->chain.path_valid > 0 || !ce->issuer_missing || ce->ic_gen == e->ic.gen)
		return 0;
	if (cp_icache_learned_since(&e->ic, ce->ic_gen, ce->missing))
		return 1;
	ce->ic_gen = e->ic.gen;
	return 0;
}

static int
validate(struct cp_engine *e, struct cp_centry *ce, int64_t ts)
{
	struct cp_chain *c = &ce->chain;
	struct cp_path_info pi;
	int r;

	if (ce->validated_at == 0)
		ce->validated_at = ts;
	r = cp_x509_validate(e->trust, &e->ic, ce->x, c->n, (time_t)ce->validated_at, c->path_error,
			     sizeof(c->path_error), &pi);
	if (r < 0)
		return r;
	c->path_valid = r;
	c->path_cached = pi.cached;
	if (pi.cached > 0)
		e->paths_completed++;
	ce->issuer_missing = pi.issuer_missing;
	ce->missing = pi.missing;
	ce->ic_gen = e->ic.gen;
	if (pi.issuer_spki[0] == '\0') {
		int j = cp_x509_find_issuer(ce->x, c->n, 0);

		if (j >= 0)
			snprintf(pi.issuer_spki, sizeof(pi.issuer_spki), "%s", c->cert[j]->spki_sha256);
		else if (c->n == 1 && ce->anchor_key[0] != '\0')
			snprintf(pi.issuer_spki, sizeof(pi.issuer_spki), "%s", ce->anchor_key);
	}
	/* Without any verifiable issuer the claimed key id is the best remaining identity. */
	if (pi.issuer_spki[0] != '\0')
		snprintf(ce->issuer_key, sizeof(ce->issuer_key), "%s", pi.issuer_spki);
	else if (c->cert[0]->aki[0] != '\0')
		snprintf(ce->issuer_key, sizeof(ce->issuer_key), "aki:%s", c->cert[0]->aki);
	ce->seen_written = ts;
	store_note(e, cp_store_chain_validated(e->store, c, ce->issuer_key, ce->validated_at, ts));
	return 0;
}

/*
 * At most srcmax bytes of src, up to its first NUL, into dst (dstlen >= 1), cut to fit and
 * NUL-terminated: snprintf(dst, dstlen, "%.*s", ...) without the formatting, on every flow.
 */
static void
copy_str(char *dst, size_t dstlen, const char *src, size_t srcmax)
{
	size_t n = strnlen(src, srcmax < dstlen - 1 ? srcmax : dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* SNI lowercased without a trailing dot; else the leaf's first DNS SAN, else its CN. */
static void
flow_name(const struct cw_flow_event *ev, const struct cp_chain *c, char *out, size_t outlen)
{
	size_t i, l;

	out[0] = '\0';
	if (ev->sni[0] != '\0') {
		copy_str(out, outlen, ev->sni, CW_EV_SNI_MAX - 1);
	} else if (c != NULL && c->n > 0) {
		const char *cn;

		if (c->cert[0]->san[0] != '\0') {
			l = strcspn(c->cert[0]->san, ",");
			snprintf(out, outlen, "%.*s", (int)l, c->cert[0]->san);
		} else if ((cn = strstr(c->cert[0]->subject, "CN=")) != NULL) {
			snprintf(out, outlen, "%.*s", (int)strcspn(cn + 3, ",+"), cn + 3);
		}
	}
	for (i = 0; out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	l = strlen(out);
	if (l > 0 && out[l - 1] == '.')
		out[l - 1] = '\0';
}

static void
addr_str(const uint8_t *a, uint8_t ipver, char *out, size_t outlen)
{
	if (ipver == 6)
		inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
	else if (ipver == 4 && outlen >= 16)
		cp_ipv4_text(a, out);
	else
		out[0] = '\0';
}

static int
learn(struct cp_engine *e, const struct cp_verdict *v, const struct cw_flow_event *ev,
      const struct cp_centry *ce, const char *name, const char *srv, int64_t ts)
{
	int ret = 0;

	if (ce != NULL && ce->chain.path_valid == 1 && name[0] != '\0' &&
	    !cp_verdict_blocks_cert_learning(v)) {
		const struct cp_cert *l = ce->chain.cert[0];
		struct cp_base_leaf b;

		memset(&b, 0, sizeof(b));
		copy_str(b.leaf_spki, sizeof(b.leaf_spki), l->spki_sha256, sizeof(l->spki_sha256));
		copy_str(b.issuer_key, sizeof(b.issuer_key), ce->issuer_key, sizeof(ce->issuer_key));
		copy_str(b.subject, sizeof(b.subject), l->subject, sizeof(l->subject));
		copy_str(b.san, sizeof(b.san), l->san, sizeof(l->san));
		copy_str(b.key_type, sizeof(b.key_type), l->key_type, sizeof(l->key_type));
		b.ext = l->ext;
		b.key_bits = l->key_bits;
		b.rsa_e = l->rsa_e;
		b.not_before = l->not_before;
		b.not_after = l->not_after;
		ret = cp_store_base_learn(e->store, name, &b, ts);
	}
	/* A resumed handshake has a different ServerHello and no certificate: not the baseline. */
	if (ret == 0 && (ev->flags & CW_EVF_SH) && !(ev->flags & CW_EVF_RESUMED) &&
	    name[0] != '\0' && !cp_verdict_blocks_srv_learning(v))
		ret = cp_store_srv_learn(e->store, srv, name, ev->ja3s, ev->sh_version, ev->cipher,
					 ce == NULL && ev->sh_version == 0x0304 ? ev->t13_bytes : 0,
					 ts);
	return ret;
}

static int
id_zero(const uint8_t id[16])
{
	unsigned int i;

	for (i = 0; i < 16; i++)
		if (id[i])
			return 0;
	return 1;
}

int
cp_engine_flow(struct cp_engine *e, const struct cw_flow_event *ev, struct cp_verdict *out)
{
	struct cp_base_leaf base[CP_BASE_LEAVES_MAX];
	char name[CP_NAME_MAX], srv[48], cli[48], bdom[CP_NAME_MAX], pin[65], sni[CW_EV_SNI_MAX];
	char ja3[33], ja3s[33], ja4[40], srvkey[64];
	struct cp_centry *ce = NULL;
	struct cp_srv_base sb;
	struct cp_facts f;
	struct cp_flow_row row;
	int64_t ts = (int64_t)(ev->ts_ns / 1000000000ull);
	int ret;

	memset(out, 0, sizeof(*out));
	memset(&f, 0, sizeof(f));
	if (ts > e->now)
		e->now = ts;
	if (!id_zero(ev->chain_id)) {
		ce = chain_lookup(e, ev->chain_id);
		if (ce != NULL && validation_due(e, ce)) {
			ret = validate(e, ce, ts);
			if (ret)
				return ret;
		} else if (ce != NULL && ts - ce->seen_written >= CP_SEEN_UPDATE_S) {
			ce->seen_written = ts;
			store_note(e, cp_store_chain_validated(e->store, &ce->chain,
							       ce->issuer_key, ce->validated_at,
							       ts));
		}
	}
	flow_name(ev, ce ? &ce->chain : NULL, name, sizeof(name));
	addr_str(ev->srv_addr, ev->ipver, srv, sizeof(srv));
	/* Server baselines are per service: one address can serve different stacks per port. */
	snprintf(srvkey, sizeof(srvkey), ev->ipver == 6 ? "[%s]:%u" : "%s:%u", srv, ev->srv_port);
	cp_base_domain(name, bdom, sizeof(bdom));

	f.ev = ev;
	f.name = name;
	f.issuer_key = "";
	f.anchor_key = "";
	f.pin_example = "";
	if (ce != NULL) {
		f.chain = &ce->chain;
		f.issuer_key = ce->issuer_key;
		f.anchor_key = ce->anchor_key;
		f.npins = cp_pins_check(&e->pins, name, &ce->chain, ce->anchor_key, &f.pin_matched,
					pin, sizeof(pin));
		f.pin_example = pin;
		if (name[0] != '\0') {
			ret = store_note(e, cp_store_base_leaves(e->store, name, base,
								 CP_BASE_LEAVES_MAX));
			f.base = base;
			f.nbase = ret > 0 ? (unsigned int)ret : 0;
		}
		if (ce->chain.path_valid == 0 && ce->issuer_key[0] != '\0') {
			ret = store_note(e, cp_store_fanout(e->store, ce->issuer_key,
							    ts - (int64_t)e->cfg.fanout_window_s,
							    bdom, &f.fanout_first));
			f.fanout_names = ret > 0 ? (unsigned int)ret : 0;
		}
	}
	if (name[0] != '\0') {
		store_note(e, cp_store_srv_get(e->store, srvkey, name, &sb));
		f.srv = &sb;
	}
	if (ce == NULL && (ev->flags & CW_EVF_SH)) {
		store_note(e, cp_store_assoc(e->store, srv, ev->srv_port, name,
					     ts - (int64_t)e->cfg.assoc_window_s, &f.assoc_srv,
					     &f.assoc_name, &f.assoc_last));
		if (name[0] == '\0')
			f.assoc_name = 0;
	}
	cp_verdict_judge(&e->cfg, &f, out);
	copy_str(out->name, sizeof(out->name), name, sizeof(name));
	out->chain = ce ? &ce->chain : NULL;

	store_note(e, learn(e, out, ev, ce, name, srvkey, ts));

	/* Event strings are fixed arrays from shared memory: bound them before use. */
	copy_str(sni, sizeof(sni), ev->sni, sizeof(ev->sni) - 1);
	copy_str(ja3, sizeof(ja3), ev->ja3, sizeof(ev->ja3) - 1);
	copy_str(ja3s, sizeof(ja3s), ev->ja3s, sizeof(ev->ja3s) - 1);
	copy_str(ja4, sizeof(ja4), ev->ja4, sizeof(ev->ja4) - 1);
	memset(&row, 0, sizeof(row));
	row.ts = ts;
	row.ts_ns = (int64_t)ev->ts_ns;
	addr_str(ev->cli_addr, ev->ipver, cli, sizeof(cli));
	copy_str(row.cli_ip, sizeof(row.cli_ip), cli, sizeof(cli));
	copy_str(row.srv_ip, sizeof(row.srv_ip), srv, sizeof(srv));
	row.cli_port = ev->cli_port;
	row.srv_port = ev->srv_port;
	row.sni = sni;
	row.name = name;
	row.base = bdom;
	row.version = ev->sh_version;
	row.cipher = ev->cipher;
	row.ja3 = ja3;
	row.ja3s = ja3s;
	row.ja4 = ja4;
	if (ce != NULL)
		cp_hex(ce->chain.chain_id, 16, row.chain_id);
	row.issuer_key = ce ? ce->issuer_key : "";
	row.path_valid = ce ? ce->chain.path_valid : -1;
	row.verdict = cp_result_name(out->result);
	row.confidence = out->confidence;
	cp_signals_json(out, e->json, sizeof(e->json));
	row.signals = e->json;
	row.flags = ev->flags;
	row.anomalies = ev->anomalies;
	row.t13_bytes = ev->t13_bytes;
	store_note(e, cp_store_put_flow(e->store, &row));
	e->flows_unflushed++;
	return 0;
}

/* One bounded step of flow retention, in the open transaction. */
static void
prune_flows(struct cp_engine *e)
{
	int n = store_note(e, cp_store_prune_flows(e->store, e->now, &e->cfg,
						  CP_PRUNE_FLOWS_STEP + 2 * e->flows_unflushed));

	if (n > 0)
		e->flows_pruned += (uint64_t)n;
	e->flows_unflushed = 0;
}

uint64_t
cp_engine_flows_pruned(const struct cp_engine *e)
{
	return e->flows_pruned;
}

int
cp_engine_flush(struct cp_engine *e)
{
	int ret;

	if (e->now > 0)
		prune_flows(e);
	ret = store_note(e, cp_store_commit(e->store));
	if (ret == 0 && e->now - e->pruned_at >= CP_PRUNE_EVERY_S) {
		e->pruned_at = e->now;
		ret = store_note(e, cp_store_prune(e->store, e->now, &e->cfg));
	}
	return ret;
}

void
cp_engine_icache_stats(const struct cp_engine *e, struct cp_icache_stats *st)
{
	st->cached = cp_icache_held(&e->ic);
	st->learned = e->ic.gen;
	st->replaced = cp_icache_replaced(&e->ic);
	st->completed = e->paths_completed;
}

void
cp_engine_chain_cache_stats(const struct cp_engine *e, struct cp_chain_cache_stats *st)
{
	*st = e->cstats;
}

void
cp_engine_srv_cache_stats(const struct cp_engine *e, struct cp_srv_cache_stats *st)
{
	cp_store_srv_cache_stats(e->store, st);
}

uint64_t
cp_engine_store_errors(const struct cp_engine *e, int *last)
{
	if (last != NULL)
		*last = e->store_last;
	return e->store_errors;
}

int
cp_engine_chain_known(struct cp_engine *e, const uint8_t id[16])
{
	return chain_lookup(e, id) != NULL;
}

int
cp_engine_chain_key(struct cp_engine *e, const uint8_t key_id[8], char *errbuf, size_t errlen)
{
	return cp_store_chain_key(e->store, key_id, errbuf, errlen);
}

void
cp_engine_close(struct cp_engine *e)
{
	unsigned int i;

	if (e == NULL)
		return;
	if (e->now > 0)
		prune_flows(e);
	cp_store_commit(e->store);
	if (e->now > 0)
		cp_store_prune(e->store, e->now, &e->cfg);
	cp_store_close(e->store);
	for (i = 0; i < e->cache_sets * CP_CACHE_WAYS; i++)
		if (e->cache[i].used)
			centry_clear(&e->cache[i]);
	free(e->cache);
	for (i = 0; i < e->xcache_sets * CP_CERT_WAYS; i++)
		X509_free(e->xcache[i].x);
	free(e->xcache);
	free(e->vmemo);
	cp_icache_free(&e->ic);
	cp_pins_free(&e->pins);
	cp_anchors_free(&e->anchors);
	X509_STORE_free(e->trust);
	free(e);
}
