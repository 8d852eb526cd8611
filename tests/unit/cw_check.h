/* SPDX-License-Identifier: BSD-3-Clause */
/* Minimal check macros for the core unit tests: count every check, report each failure, go on. */
#ifndef CW_CHECK_H
#define CW_CHECK_H

#include <stdio.h>

static int failures;
static int checks;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		checks++;                                                                          \
		if (a_ != b_) {                                                                    \
			fprintf(stderr,                                                            \
				"%s:%d: %s == %s failed: %lld (0x%llx) != %lld (0x%llx)\n",        \
				__FILE__, __LINE__, #a, #b, a_, (unsigned long long)a_, b_,        \
				(unsigned long long)b_);                                           \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* The test's verdict: one line (failures to stderr), and its exit status. */
static inline int
cw_check_report(const char *test)
{
	if (failures)
		fprintf(stderr, "%s: %d failure(s)\n", test, failures);
	else
		printf("%s: %d checks ok\n", test, checks);
	return failures ? 1 : 0;
}

#endif /* CW_CHECK_H */
