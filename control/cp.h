/* SPDX-License-Identifier: BSD-3-Clause */
/* Control-plane engine API: chain analysis, verdicts and the SQLite store behind one handle. */
#ifndef CP_H
#define CP_H

#include <stdint.h>
#include <stdio.h>

#include "cw_event.h"

#define CP_MAX_CERTS CW_EV_CHAIN_MAX
#define CP_MAX_SIGNALS 16
#define CP_NAME_MAX 256
#define CP_DN_MAX 512
#define CP_DETAIL_MAX 256

enum cp_result {
	CP_UNKNOWN = 0,    /* not enough evidence either way (e.g. no chain, no baseline) */
	CP_CONSISTENT,     /* chain/handshake matches trust store and baseline */
	CP_SUSPICIOUS,     /* weak signals only */
	CP_SUBSTITUTED,    /* strong evidence the client got a substituted chain */
};

/* Analysis of one certificate (OpenSSL, once per new chain; cached by chain id). */
struct cp_cert {
	char sha256[65];       /* hex of the DER */
	char spki_sha256[65];  /* hex of SubjectPublicKeyInfo DER */
	char subject[CP_DN_MAX];
	char issuer[CP_DN_MAX];
	char serial[130];      /* hex */
	int64_t not_before;    /* unix seconds */
	int64_t not_after;
	char key_type[16];     /* "RSA", "EC", "Ed25519", ... */
	int key_bits;
	uint64_t rsa_e;        /* 0 when not RSA (or e > 2^64) */
	char sig_alg[48];
	uint32_t ext;          /* CP_EXT_* present */
	char ski[65], aki[65]; /* hex key identifiers, "" if absent */
	char san[1024];        /* comma-separated DNS/IP SANs, cut at a name boundary */
	int san_truncated;     /* 1: a SAN did not fit in san (recomputed from the DER on reload) */
};

#define CP_EXT_SCT 0x01
#define CP_EXT_AIA 0x02
#define CP_EXT_CRLDP 0x04
#define CP_EXT_EKU 0x08
#define CP_EXT_SKI 0x10
#define CP_EXT_AKI 0x20
#define CP_EXT_BC 0x40
#define CP_EXT_SAN 0x80

struct cp_chain {
	uint8_t chain_id[16];
	unsigned int n;
	const struct cp_cert *cert[CP_MAX_CERTS]; /* the first n; each owned by its parsed
						   * certificate (cp_x509_desc()) */
	int path_valid;         /* validated to the trust store at the capture time of first use */
	char path_error[96];    /* X509_verify_cert_error_string, "" when valid */
	unsigned int path_cached; /* learned intermediates the valid path took (--intermediates),
				   * 0 when the presented certificates sufficed */
	int anchor_match;       /* index of the matched anchor entry, -1 none */
	char anchor_name[CP_DN_MAX];
	char anchor_category[32]; /* interception, key_leak, compromised_ca, misissued, operator */
};

struct cp_signal {
	char name[48];          /* documented in docs/DETECTION.md */
	char detail[CP_DETAIL_MAX];
	int weight;             /* contribution to the verdict */
};

struct cp_verdict {
	enum cp_result result;
	double confidence;      /* 0..1 */
	unsigned int nsignals;
	struct cp_signal sig[CP_MAX_SIGNALS];
	char name[CP_NAME_MAX]; /* the name judged (SNI, else leaf SAN/CN) */
	const struct cp_chain *chain; /* NULL when the chain is not visible; owned by the engine,
				       * valid until the next cp_engine_chain/cp_engine_flow call */
};

struct cp_config {
	const char *db_path;          /* SQLite file (WAL); NULL -> in-memory */
	const char *trust_store;      /* PEM bundle; NULL -> /etc/ssl/certs/ca-certificates.crt */
	int trust_store_extend;       /* 1: add trust_store to the system bundle instead of replacing */
	const char *anchors_dir;      /* shipped anchors (manifest.tsv + PEMs); NULL -> CW_DATADIR/anchors */
	const char *anchors_extra;    /* operator anchors file (PEM certs or "spki_sha256<TAB>label" lines) */
	const char *pins_file;        /* operator pins: "name<TAB>issuer-spki-sha256|spki-sha256" lines */
	/* thresholds (docs/DETECTION.md) */
	unsigned int fanout_names;    /* distinct names under one untrusted issuer key ... */
	unsigned int fanout_window_s; /* ... within this window => issuer_fanout */
	unsigned int t13_size_tolerance_pct; /* encrypted flight size divergence allowed */
	unsigned int t13_min_baseline;       /* flows needed before TLS 1.3 baselines are used */
	unsigned int assoc_window_s;  /* TLS 1.3 association with substituted <=1.2 flows */
	unsigned int retention_days;  /* flows/alerts older than this (capture time) are pruned */
	uint64_t max_flows;           /* row cap on the flows table; oldest pruned beyond it */
	unsigned int min_rsa_bits;    /* RSA keys below this are weak_key */
	unsigned int strip_min;       /* baseline leaf extensions missing => mimicry_extensions_stripped */
	unsigned int validity_shift_max_s; /* largest backdating read as validity_shift */
	unsigned int baseline_days;   /* learned baselines unseen this long (capture time) are pruned */
	uint64_t max_baselines;       /* row cap on baselines and on srv_baselines (their srv_fps
				       * go with them); the least recently seen pruned beyond it */
	uint64_t max_chains;          /* row cap on chains (certificates no chain uses go with
				       * them); the least recently seen pruned beyond it */
	unsigned int intermediates;   /* intermediates learned from valid paths to complete
				       * chains that lack theirs (struct cp_icache); 0: none */
	unsigned int chain_cache;     /* analysed chains held in memory, 4..CP_CHAIN_CACHE_MAX */
};

#define CP_CHAIN_CACHE_MAX 262144

struct cp_engine;

/* Defaults for every threshold. */
void cp_config_defaults(struct cp_config *cfg);

/* Open the engine (loads trust store, anchors, pins; opens/creates the DB). NULL + *err (-errno or -EINVAL) on failure; errbuf gets a message. */
struct cp_engine *cp_engine_open(const struct cp_config *cfg, char *errbuf, size_t errlen);

/*
 * The dataplane's chain-key id (struct cw_shm_hdr): 0 when the store's chain
 * ids come from the same key, -EKEYREJECTED with a message otherwise.
 */
int cp_engine_chain_key(struct cp_engine *e, const uint8_t key_id[8], char *errbuf, size_t errlen);

/* 1 when the chain is in the cache or the database (and now cached), else 0. */
int cp_engine_chain_known(struct cp_engine *e, const uint8_t id[16]);

/*
 * A new chain blob from the dataplane, carried by an event of capture time ts
 * (seconds): analyse (or find in the cache) and store. -errno only when the
 * blob cannot be analysed; a failed database write is counted
 * (cp_engine_store_errors()) and the chain stays cached for its flows.
 */
int cp_engine_chain(struct cp_engine *e, const struct cw_chain_blob *blob, const uint8_t *der,
		    int64_t ts);

/*
 * Judge one flow event; updates baselines (never from a flow with a
 * substitution signal) and stores the flow and any alert. Returns 0 with
 * *out filled, also when a database read or write failed (counted in
 * cp_engine_store_errors(): the verdict is made without what the read would
 * have given, the row is lost); -errno when the flow could not be judged.
 */
int cp_engine_flow(struct cp_engine *e, const struct cw_flow_event *ev, struct cp_verdict *out);

/* Commit any open transaction (called periodically and before exit). */
int cp_engine_flush(struct cp_engine *e);

/* Database reads and writes that failed so far; *last (if not NULL) gets the last one's -errno. */
uint64_t cp_engine_store_errors(const struct cp_engine *e, int *last);

/* The learned intermediates (--intermediates) as counters. */
struct cp_icache_stats {
	uint64_t cached;    /* held now */
	uint64_t learned;   /* learned since start */
	uint64_t replaced;  /* given up for newer ones: the bound was reached */
	uint64_t completed; /* chain validations whose path took a learned one */
};

void cp_engine_icache_stats(const struct cp_engine *e, struct cp_icache_stats *st);

/* Server-baseline reads and the cache in front of them (CP_SRV_CACHE_SLOTS pairs). */
struct cp_srv_cache_stats {
	uint64_t hits, misses;           /* server-baseline reads */
	uint64_t name_hits, name_misses; /* name-baseline reads */
	uint64_t cleared; /* whole-cache drops (both): retention passes, rollbacks, other writers */
};

void cp_engine_srv_cache_stats(const struct cp_engine *e, struct cp_srv_cache_stats *st);

/*
 * Chain lookups (flows and chain blobs) answered by the chain cache or not, certificates of
 * analysed chains found parsed in the certificate cache or parsed, and chains reloaded from the
 * database that took their validation from the memo of evicted chains.
 */
struct cp_chain_cache_stats {
	uint64_t hits, misses;
	uint64_t cert_hits, cert_misses;
	uint64_t memo_hits;           /* chains reloaded with the validation they had */
};

void cp_engine_chain_cache_stats(const struct cp_engine *e, struct cp_chain_cache_stats *st);

/* Flows deleted for the row cap or retention (cp_store_prune_flows()) since start. */
uint64_t cp_engine_flows_pruned(const struct cp_engine *e);

void cp_engine_close(struct cp_engine *e);

const char *cp_result_name(enum cp_result r);

#endif /* CP_H */
