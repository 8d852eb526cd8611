/* SPDX-License-Identifier: BSD-3-Clause */
/* SQLite (WAL) persistence: chains, certificates, baselines, flow verdicts and alerts. */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cp.h"

#define CP_SCHEMA_VERSION 2
#define CP_BASE_LEAVES_MAX 16  /* leaf rows kept per name (most recently seen) */
#define CP_SRV_FP_MAX 8        /* ServerHello fingerprints kept per (server, name) */
#define CP_SRV_CACHE_SLOTS 4096 /* (server, name) pairs read kept in memory (~3.5 MiB) */
#define CP_NAME_CACHE_SLOTS 1024 /* names whose leaves are kept in memory (~730 B a leaf) */
#define CP_TXN_MAX_OPS 4096    /* writes per transaction before an automatic commit */
#define CP_ISSUER_KEY_MAX 72   /* "spki hex" or "aki:<key id hex>" */

struct cp_store;

/* One learned leaf for a name: the baseline the next chain for that name is compared with. */
struct cp_base_leaf {
	char leaf_spki[65];
	char issuer_key[CP_ISSUER_KEY_MAX];
	char subject[CP_DN_MAX];
	char san[1024];
	uint32_t ext;
	char key_type[16];
	int key_bits;
	uint64_t rsa_e;
	int64_t not_before, not_after;
	int64_t first_seen, last_seen; /* capture time, seconds */
	uint64_t count;
};

/* A ServerHello fingerprint learned for a (server address, name) pair. */
struct cp_srv_fp {
	char ja3s[33];
	uint16_t version, cipher;
	uint64_t count;
	int64_t last_seen; /* capture time, seconds */
};

/* What one (server address, name) pair looked like in TLS 1.3. */
struct cp_srv_base {
	uint64_t n;                    /* flows learned */
	uint64_t t13_n;                /* of those, with an encrypted server flight measured */
	uint32_t min_bytes, max_bytes; /* envelope of the encrypted first flight */
	int64_t first_seen;
	unsigned int nfp;
	struct cp_srv_fp fp[CP_SRV_FP_MAX]; /* most recently seen first */
};

/* A verdict ready to be stored; strings are NUL-terminated. */
struct cp_flow_row {
	int64_t ts;       /* capture time, seconds */
	int64_t ts_ns;
	char cli_ip[48], srv_ip[48];
	unsigned int cli_port, srv_port;
	const char *sni, *name, *base;
	unsigned int version, cipher;
	const char *ja3, *ja3s, *ja4;
	char chain_id[33]; /* "" when no chain was visible */
	const char *issuer_key;
	int path_valid;   /* 1, 0, or -1 when no chain */
	const char *verdict;
	double confidence;
	const char *signals; /* JSON array */
	uint32_t flags, anomalies, t13_bytes;
};

int cp_store_open(struct cp_store **out, const char *path, char *errbuf, size_t errlen);
void cp_store_close(struct cp_store *s);

/* Commit the open transaction, if any. */
int cp_store_commit(struct cp_store *s);

/*
 * Chain ids of one store come from one chain key (meta.chain_key_id, hex of
 * the key id; all zero: unkeyed). The first call records key_id; a store
 * created before the field existed, with chains in it, counts as unkeyed.
 * 0 when key_id matches, -EKEYREJECTED (message in errbuf) when it does not.
 */
int cp_store_chain_key(struct cp_store *s, const uint8_t key_id[8], char *errbuf, size_t errlen);

/*
 * Retention by capture time (now = newest capture time seen) and the row
 * caps of cfg: baseline_days, max_baselines, max_chains, and the fan-out and
 * association windows. Flows are not pruned here: cp_store_prune_flows().
 */
int cp_store_prune(struct cp_store *s, int64_t now, const struct cp_config *cfg);

/*
 * At most max_rows of the oldest flows (and so alerts) that are past the row
 * cap (max_flows) or older than retention_days of capture time, deleted in the
 * open transaction: a bounded step, so a table at its cap is trimmed as it
 * grows instead of in one long pass that would leave the rings unread.
 * Returns the rows deleted, or -errno.
 */
int cp_store_prune_flows(struct cp_store *s, int64_t now, const struct cp_config *cfg,
			 uint64_t max_rows);

/*
 * Certificates (with DER) and the chain row; path_valid starts at -1 (not yet
 * validated). ts is the newest capture time seen, as the blob carries none.
 */
int cp_store_put_chain(struct cp_store *s, const struct cp_chain *c, const uint8_t *const *der,
		       const uint32_t *len, int64_t ts);

/* The validation result, taken at the capture time of the chain's first flow. */
int cp_store_chain_validated(struct cp_store *s, const struct cp_chain *c, const char *issuer_key,
			     int64_t validated_at, int64_t ts);

/*
 * The certificates past the leaf of chains that validated, each once, the
 * max whose chains were seen last, oldest first: fn(arg, der, len) for each.
 * Returns how many were given, or -errno when the database could not be read.
 */
int cp_store_intermediates(struct cp_store *s, unsigned int max,
			   void (*fn)(void *arg, const uint8_t *der, size_t len), void *arg);

/*
 * Load a chain's DER certificates (leaf first) after a restart. Returns the
 * count (0 if unknown), or -errno when the database could not be read (then
 * nothing is allocated); der[i] are malloc'd and freed by the caller.
 * *validated_at is 0 when the chain was never validated.
 */
int cp_store_get_chain(struct cp_store *s, const uint8_t id[16], uint8_t **der, uint32_t *len,
		       unsigned int max, int64_t *validated_at);

/*
 * The read functions below return -errno when the database could not be read
 * (out then holds nothing): a failed read is never an empty baseline.
 */

/*
 * Learned leaves for name, most recently seen first (then the most seen); returns the count
 * (<= max, <= CP_BASE_LEAVES_MAX). The san field is not read back (left empty).
 */
int cp_store_base_leaves(struct cp_store *s, const char *name, struct cp_base_leaf *out,
			 unsigned int max);
int cp_store_base_learn(struct cp_store *s, const char *name, const struct cp_base_leaf *leaf,
			int64_t ts);

int cp_store_srv_get(struct cp_store *s, const char *srv, const char *name,
		     struct cp_srv_base *out);

/* The (server, name) read cache in front of cp_store_srv_get() (store.c). */
void cp_store_srv_cache_stats(const struct cp_store *s, struct cp_srv_cache_stats *out);
int cp_store_srv_learn(struct cp_store *s, const char *srv, const char *name, const char *ja3s,
		       unsigned int version, unsigned int cipher, uint32_t t13_bytes, int64_t ts);

/* Distinct base domains other than exclude_base on untrusted chains from issuer_key since ts. */
int cp_store_fanout(struct cp_store *s, const char *issuer_key, int64_t since,
		    const char *exclude_base, int64_t *first_ts);

/*
 * Substituted TLS <= 1.2 flows with a chain, to the same server address and
 * port (any name) in *same_srv, to name on any server in *same_name, each
 * counted since its first such flow after a pause longer than the pruning
 * allows (the assoc table), when the last of them is at or after since; the
 * last one's time in *last_ts. name may be "" (then *same_name is 0).
 */
int cp_store_assoc(struct cp_store *s, const char *srv, unsigned int port, const char *name,
		   int64_t since, unsigned int *same_srv, unsigned int *same_name, int64_t *last_ts);

/* Store a flow (the alerts view shows it when it is substituted or suspicious). */
int cp_store_put_flow(struct cp_store *s, const struct cp_flow_row *r);

#endif /* CP_STORE_H */
