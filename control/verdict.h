/* SPDX-License-Identifier: BSD-3-Clause */
/* Signals and verdicts: turns the facts gathered for one flow into a judged, explained result. */
#ifndef CP_VERDICT_H
#define CP_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "cp.h"
#include "store.h"

#define CP_PINS_MAX 65536 /* pin lines kept; more fail the load with -E2BIG */

struct cp_pin {
	char name[CP_NAME_MAX]; /* lowercase; "*.example.com" covers one label */
	char spki[65];
};

/* Read-only after load. */
struct cp_pins {
	struct cp_pin *p;
	unsigned int n, cap;
};

int cp_pins_load(struct cp_pins *pins, const char *path, char *errbuf, size_t errlen);
void cp_pins_free(struct cp_pins *pins);

/*
 * Pins for name: returns how many apply; *matched is 1 when any certificate
 * of the chain, or the anchor that issued its top, carries a pinned SPKI.
 */
unsigned int cp_pins_check(const struct cp_pins *pins, const char *name, const struct cp_chain *c,
			   const char *extra_spki, int *matched, char *first_pin, size_t first_len);

/* Everything the verdict looks at for one flow. Nothing here depends on the client address. */
struct cp_facts {
	const struct cw_flow_event *ev;
	const char *name;
	const struct cp_chain *chain;  /* NULL when no chain was visible */
	const char *issuer_key;        /* the key that signed the leaf, "" if unknown */
	const char *anchor_key;        /* SPKI of an anchor that issued the top, "" otherwise */
	unsigned int npins;
	int pin_matched;
	const char *pin_example;
	const struct cp_base_leaf *base; /* learned leaves for name, most recent first */
	unsigned int nbase;
	unsigned int fanout_names;     /* distinct other base domains under issuer_key in window */
	int64_t fanout_first;
	const struct cp_srv_base *srv; /* (server address, name) baseline, NULL if none */
	unsigned int assoc_srv, assoc_name;
	int64_t assoc_last;
};

/* Judge one flow; out->name and out->chain are left to the caller. */
void cp_verdict_judge(const struct cp_config *cfg, const struct cp_facts *f,
		      struct cp_verdict *out);

/* 1 when a fired signal forbids learning the chain into the name baseline. */
int cp_verdict_blocks_cert_learning(const struct cp_verdict *v);

/* 1 when a fired signal forbids learning into the (server, name) handshake baseline. */
int cp_verdict_blocks_srv_learning(const struct cp_verdict *v);

/* Registrable-domain approximation used to tell unrelated names apart (no public suffix list). */
void cp_base_domain(const char *name, char *out, size_t outlen);

/* 1 when the leaf's SAN (or CN when there is no SAN) covers name. */
int cp_name_covered(const struct cp_cert *leaf, const char *name);

/* JSON array of the fired signals. */
void cp_signals_json(const struct cp_verdict *v, char *out, size_t outlen);

#endif /* CP_VERDICT_H */
