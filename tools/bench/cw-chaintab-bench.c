/* SPDX-License-Identifier: BSD-3-Clause */
/* cw-chaintab-bench: cycles/op and ns/op of the dataplane's shared chain table (dataplane/chaintab.c). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_hash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "chaintab.h"

#define CT_REPEATS_MAX 255

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Random 16-byte ids, as XXH3-128 output is: never all-zero. */
static void
ids_fill(uint8_t (*ids)[CW_ID_LEN], uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t a = rng_next(), b = rng_next() | 1;
		memcpy(ids[i], &a, 8);
		memcpy(ids[i] + 8, &b, 8);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct result {
	const char *name, *what;
	double cyc[CT_REPEATS_MAX];
	unsigned int n;
	double extra; /* a hit rate, where one applies */
};

static void
report(struct result *r, double hz)
{
	qsort(r->cyc, r->n, sizeof(double), cmp_double);
	printf("| %s | %s | %.1f | %.1f | %.1f | %.1f |", r->name, r->what, r->cyc[r->n / 2],
	       r->cyc[r->n / 2] * 1e9 / hz, r->cyc[0] * 1e9 / hz, r->cyc[r->n - 1] * 1e9 / hz);
	if (r->extra >= 0)
		printf(" %.1f%% |\n", r->extra * 100);
	else
		printf(" - |\n");
}

static void
usage(FILE *f)
{
	fprintf(f,
		"Usage: cw-chaintab-bench [EAL args] -- [options]\n"
		"Time dp_chain_seen() (per-worker cache + rte_hash with RW_CONCURRENCY_LF) and raw\n"
		"rte_hash lookups with 16-byte keys, in TSC cycles (rte_rdtsc), on one lcore.\n"
		"Suggested EAL args: --no-huge -m 256 --no-pci --file-prefix cwbench-$$ -l 0\n"
		"\n"
		"  -e, --entries N   table size (default 262144, the dataplane default)\n"
		"  -n, --keys N      ids inserted, at most entries (default 131072)\n"
		"  -r, --repeats N   repeats, median reported (default 11)\n"
		"  -h, --help        this text\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"entries", required_argument, NULL, 'e'}, {"keys", required_argument, NULL, 'n'},
		{"repeats", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint32_t entries = 262144, nkeys = 131072;
	unsigned int repeats = 11;
	struct dp_chaintab t;
	struct dp_chain_cache *cache;
	uint8_t(*ids)[CW_ID_LEN], (*absent)[CW_ID_LEN];
	uint32_t *order;
	struct result res[6];
	volatile uint64_t sink = 0;
	double hz;
	int c, eal;

	/* --help before any "--" is ours, not EAL's. */
	for (c = 1; c < argc && strcmp(argv[c], "--") != 0; c++) {
		if (strcmp(argv[c], "--help") == 0 || strcmp(argv[c], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	eal = rte_eal_init(argc, argv);
	if (eal < 0)
		rte_exit(EXIT_FAILURE, "cw-chaintab-bench: EAL init failed\n");
	argc -= eal;
	argv += eal;
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:n:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			entries = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			nkeys = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			repeats = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			rte_eal_cleanup();
			return 0;
		default:
			usage(stderr);
			rte_exit(EXIT_FAILURE, "bad option\n");
		}
	}
	if (entries < 8 || nkeys < 1 || nkeys > entries || repeats < 1 || repeats > CT_REPEATS_MAX)
		rte_exit(EXIT_FAILURE, "cw-chaintab-bench: need 1 <= keys <= entries, 1..255 repeats\n");
	hz = (double)rte_get_tsc_hz();
	ids = malloc((size_t)nkeys * CW_ID_LEN);
	absent = malloc((size_t)nkeys * CW_ID_LEN);
	order = malloc((size_t)nkeys * sizeof(*order));
	cache = rte_zmalloc("cw_bench_cache", sizeof(*cache), 64);
	if (!ids || !absent || !order || !cache)
		rte_exit(EXIT_FAILURE, "cw-chaintab-bench: out of memory\n");
	ids_fill(ids, nkeys);
	ids_fill(absent, nkeys);
	for (uint32_t i = 0; i < nkeys; i++)
		order[i] = i;
	for (uint32_t i = nkeys - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng_next() % (i + 1)), x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	res[0] = (struct result){"insert", "dp_chain_seen, new id (cache miss, lookup miss, add)", {0}, 0, -1};
	res[1] = (struct result){"seen_table_hit", "dp_chain_seen, known id, random order (mostly cache misses)", {0}, 0, 0};
	res[2] = (struct result){"seen_cache_hit", "dp_chain_seen, same 64 ids over and over (cache hits)", {0}, 0, 0};
	res[3] = (struct result){"lookup_hit", "rte_hash_lookup_data, present id", {0}, 0, -1};
	res[4] = (struct result){"lookup_miss", "rte_hash_lookup_data, absent id", {0}, 0, -1};
	res[5] = (struct result){"lookup_bulk_hit", "rte_hash_lookup_bulk_data (32 per call), per id", {0}, 0, -1};

	for (unsigned int r = 0; r < repeats; r++) {
		uint64_t t0, hits = 0;
		int hit;

		/* A fresh table each repeat so the insert pass always starts empty. */
		if (dp_chaintab_init(&t, entries, (int)rte_socket_id(), 0) < 0)
			rte_exit(EXIT_FAILURE, "cw-chaintab-bench: dp_chaintab_init failed\n");
		memset(cache, 0, sizeof(*cache));

		t0 = rte_rdtsc_precise();
		for (uint32_t i = 0; i < nkeys; i++)
			sink += (uint64_t)dp_chain_seen(&t, cache, ids[i], &hit);
		res[0].cyc[r] = (double)(rte_rdtsc_precise() - t0) / nkeys;

		memset(cache, 0, sizeof(*cache));
		t0 = rte_rdtsc_precise();
		for (uint32_t i = 0; i < nkeys; i++) {
			sink += (uint64_t)dp_chain_seen(&t, cache, ids[order[i]], &hit);
			hits += (uint64_t)hit;
		}
		res[1].cyc[r] = (double)(rte_rdtsc_precise() - t0) / nkeys;
		res[1].extra = (double)hits / nkeys;

		hits = 0;
		t0 = rte_rdtsc_precise();
		for (uint32_t i = 0; i < nkeys; i++) {
			sink += (uint64_t)dp_chain_seen(&t, cache, ids[i & 63], &hit);
			hits += (uint64_t)hit;
		}
		res[2].cyc[r] = (double)(rte_rdtsc_precise() - t0) / nkeys;
		res[2].extra = (double)hits / nkeys;

		t0 = rte_rdtsc_precise();
		for (uint32_t i = 0; i < nkeys; i++) {
			void *data;
			sink += (uint64_t)rte_hash_lookup_data(t.h, ids[order[i]], &data);
		}
		res[3].cyc[r] = (double)(rte_rdtsc_precise() - t0) / nkeys;

		t0 = rte_rdtsc_precise();
		for (uint32_t i = 0; i < nkeys; i++) {
			void *data;
			sink += (uint64_t)rte_hash_lookup_data(t.h, absent[order[i]], &data);
		}
		res[4].cyc[r] = (double)(rte_rdtsc_precise() - t0) / nkeys;

		{
			const void *keys[32];
			void *data[32];
			uint64_t mask;
			uint32_t done = 0;
			t0 = rte_rdtsc_precise();
			for (uint32_t i = 0; i + 32 <= nkeys; i += 32) {
				for (int k = 0; k < 32; k++)
					keys[k] = ids[order[i + k]];
				sink += (uint64_t)rte_hash_lookup_bulk_data(t.h, keys, 32, &mask, data);
				done += 32;
			}
			res[5].cyc[r] = done ? (double)(rte_rdtsc_precise() - t0) / done : 0;
		}
		for (int k = 0; k < 6; k++)
			res[k].n = r + 1;
		dp_chaintab_free(&t);
	}
	printf("Chain table (dataplane/chaintab.c): rte_hash, 16-byte keys, RW_CONCURRENCY_LF | "
	       "EXT_TABLE, %u entries, %u ids, TSC %.0f MHz, %u repeats\n\n",
	       entries, nkeys, hz / 1e6, repeats);
	printf("| operation | what | cycles/op median | ns/op median | ns min | ns max | cache hit rate |\n");
	printf("|---|---|---:|---:|---:|---:|---:|\n");
	for (int k = 0; k < 6; k++)
		report(&res[k], hz);
	free(ids);
	free(absent);
	free(order);
	rte_free(cache);
	rte_eal_cleanup();
	return sink == 42 ? 2 : 0;
}
