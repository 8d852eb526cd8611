/* SPDX-License-Identifier: BSD-3-Clause */
/* Command-line pieces shared by chainwatchd and the chainwatch CLI: one table of chainwatchd's
 * numeric options, and naming the option getopt_long() refused. */
#ifndef CP_OPTS_H
#define CP_OPTS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

/* A numeric option of chainwatchd and its bounds (inclusive). */
struct cp_num_opt {
	const char *name; /* long option without "--" */
	uint64_t min, max;
};

/* The bounds of chainwatchd's numeric option NAME; NULL when NAME takes no number. */
const struct cp_num_opt *cp_num_opt_find(const char *name);

/*
 * The value S of numeric option NAME: decimal digits only (no sign, blanks or
 * 0x), within the option's bounds. 0 with *out set, or -EINVAL with
 * "--NAME S: expected an integer in MIN..MAX" in err (also for a NAME that
 * takes no number).
 */
int cp_num_opt_parse(const char *name, const char *s, uint64_t *out, char *err, size_t errlen);

/*
 * The option getopt_long() (optstring starting with ':') just refused with '?'
 * or ':', as the user wrote it, for "unknown option" and "needs a value"
 * messages. argv[optind - 1] alone is wrong after a recognised long option
 * that took its value (it is the value) and inside a group of short options.
 * longindex must be set to -1 before each getopt_long() call, which stores
 * the index of a recognised long option there. Returns buf or an argv word.
 */
const char *cp_opt_refused(int c, char **argv, const struct option *opts, int longindex, char *buf,
			   size_t len);

#endif /* CP_OPTS_H */
