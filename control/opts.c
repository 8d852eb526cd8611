/* SPDX-License-Identifier: BSD-3-Clause */
/* Command-line pieces shared by chainwatchd and the chainwatch CLI: one table of chainwatchd's
 * numeric options, and naming the option getopt_long() refused. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

/*
 * Every numeric option of chainwatchd. chainwatch analyze forwards most of
 * them and checks them here first, so that a typo is a usage error before
 * any child program starts.
 */
static const struct cp_num_opt num_opts[] = {
	{"anon-v4-prefix", 0, 32},
	{"anon-v6-prefix", 0, 128},
	{"flush-events", 1, 1000000},
	{"flush-interval-ms", 1, 3600000},
	{"fanout-names", 2, 1000000},
	{"fanout-window", 1, UINT_MAX},
	{"t13-size-tolerance", 0, 100},
	{"t13-min-baseline", 1, UINT_MAX},
	{"assoc-window", 0, UINT_MAX},
	{"retention-days", 1, 36500},
	{"max-flows", 1, UINT64_MAX / 2},
	{"min-rsa-bits", 0, 65536},
	{"strip-min", 1, 32},
	{"validity-shift-max", 0, UINT_MAX},
	{"baseline-days", 1, 36500},
	{"max-baselines", 1, UINT64_MAX / 2},
	{"max-chains", 1, UINT64_MAX / 2},
	{"intermediates", 0, 1000000},
	{"chain-cache", 4, 262144}, /* CP_CHAIN_CACHE_MAX */
};

const struct cp_num_opt *
cp_num_opt_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++)
		if (strcmp(num_opts[i].name, name) == 0)
			return &num_opts[i];
	return NULL;
}

int
cp_num_opt_parse(const char *name, const char *s, uint64_t *out, char *err, size_t errlen)
{
	const struct cp_num_opt *o = cp_num_opt_find(name);
	unsigned long long v;
	char *end;

	if (o == NULL) {
		snprintf(err, errlen, "--%s: takes no number", name);
		return -EINVAL;
	}
	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < o->min || v > o->max)
		goto bad;
	*out = v;
	return 0;
bad:
	snprintf(err, errlen, "--%s %s: expected an integer in %" PRIu64 "..%" PRIu64, name, s,
		 o->min, o->max);
	return -EINVAL;
}

const char *
cp_opt_refused(int c, char **argv, const struct option *opts, int longindex, char *buf, size_t len)
{
	const char *w = argv[optind - 1];

	/* A long option getopt knows but the command refused: its value may already be consumed. */
	if (longindex >= 0) {
		snprintf(buf, len, "--%s", opts[longindex].name);
		return buf;
	}
	/*
	 * An unknown short option (getopt's optopt), unless this is a long option
	 * given "=VALUE" it takes none of: optopt is then the option's own code.
	 */
	if (c == '?' && optopt > 0 && optopt < 256 &&
	    !(strncmp(w, "--", 2) == 0 && strchr(w, '=') != NULL)) {
		snprintf(buf, len, "-%c", optopt);
		return buf;
	}
	/* The option word itself (unknown or ambiguous, or missing its value), without "=VALUE". */
	snprintf(buf, len, "%.*s", (int)strcspn(w, "="), w);
	return buf;
}
