/*
 * t.h: the smallest test harness that reports well.  CHECK() records a
 * failure with file:line and goes on; t_done() prints a summary and
 * returns the exit status for main().
 */
#ifndef NV_T_H
#define NV_T_H

#include <stdio.h>
#include <string.h>

static int t_checks, t_failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		t_checks++;                                                \
		if (!(cond)) {                                             \
			t_failures++;                                      \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
		}                                                          \
	} while (0)

#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *t_a_ = (a), *t_b_ = (b);                       \
		t_checks++;                                                \
		if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_)) {  \
			t_failures++;                                      \
			fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, \
				__LINE__, t_a_ ? t_a_ : "(null)",          \
				t_b_ ? t_b_ : "(null)");                   \
		}                                                          \
	} while (0)

#define CHECK_INT(a, b)                                                    \
	do {                                                               \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);    \
		t_checks++;                                                \
		if (t_a_ != t_b_) {                                        \
			t_failures++;                                      \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
				__FILE__, __LINE__, #a, t_a_, t_b_);       \
		}                                                          \
	} while (0)

static inline int t_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, t_checks, t_failures);
	return t_failures ? 1 : 0;
}

#endif
