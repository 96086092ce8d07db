/*
 * subject.h: NATS subject syntax and wildcard matching.  Pure.
 */
#ifndef NV_SUBJECT_H
#define NV_SUBJECT_H

#include <stdbool.h>

/* A valid subject: non-empty dot-separated tokens of printable bytes
 * without white space; with WILDCARDS, a token may be "*", and ">" may be
 * the last token. */
bool subject_valid(const char *s, bool wildcards);

/* True when the literal SUBJECT matches PATTERN (which may hold wildcards). */
bool subject_matches(const char *pattern, const char *subject);

/* True when every subject matched by INNER (may hold wildcards) is also
 * matched by OUTER: OUTER "covers" INNER. */
bool subject_covers(const char *outer, const char *inner);

#endif
