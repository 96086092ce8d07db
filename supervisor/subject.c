/*
 * subject.c: NATS subject syntax and wildcard matching.
 *
 * A subject is a sequence of non-empty tokens separated by '.'.  With
 * wildcards, a token "*" matches exactly one token and a final ">"
 * matches one or more.  A '*' or '>' inside a longer token is rejected
 * rather than taken literally: it is almost always a mistake.
 */
#include "subject.h"

#include <string.h>

/* Length of the token starting at S (up to '.' or the end). */
static size_t subject_toklen(const char *s)
{
	return strcspn(s, ".");
}

/* True when the token T of length N is exactly the one-byte string W. */
static bool subject_tok_is(const char *t, size_t n, char w)
{
	return n == 1 && t[0] == w;
}

/* Validate S token by token. */
bool subject_valid(const char *s, bool wildcards)
{
	if (s == NULL || *s == '\0')
		return false;
	for (;;) {
		size_t n = subject_toklen(s);
		if (n == 0)
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c <= ' ' || c == 0x7f)
				return false;
			if ((c == '*' || c == '>') && (n != 1 || !wildcards))
				return false;
		}
		if (subject_tok_is(s, n, '>') && s[n] != '\0')
			return false;
		if (s[n] == '\0')
			return true;
		s += n + 1;
	}
}

/* Match the literal SUBJECT against PATTERN, token by token. */
bool subject_matches(const char *pattern, const char *subject)
{
	const char *p = pattern, *s = subject;

	if (p == NULL || s == NULL)
		return false;
	for (;;) {
		size_t pn = subject_toklen(p), sn = subject_toklen(s);
		if (subject_tok_is(p, pn, '>'))
			return sn > 0;
		if (!subject_tok_is(p, pn, '*') &&
		    (pn != sn || memcmp(p, s, pn) != 0))
			return false;
		if (p[pn] == '\0' || s[sn] == '\0')
			return p[pn] == '\0' && s[sn] == '\0';
		p += pn + 1;
		s += sn + 1;
	}
}

/* OUTER covers INNER when every subject INNER matches, OUTER matches. */
bool subject_covers(const char *outer, const char *inner)
{
	const char *o = outer, *i = inner;

	if (o == NULL || i == NULL)
		return false;
	for (;;) {
		size_t on = subject_toklen(o), in = subject_toklen(i);
		if (subject_tok_is(o, on, '>'))
			return in > 0;
		if (subject_tok_is(i, in, '>'))
			return false; /* only '>' covers '>' */
		if (subject_tok_is(o, on, '*')) {
			/* '*' covers any single token, '*' included */
		} else if (subject_tok_is(i, in, '*') || on != in ||
			   memcmp(o, i, on) != 0) {
			return false;
		}
		if (o[on] == '\0' || i[in] == '\0')
			return o[on] == '\0' && i[in] == '\0';
		o += on + 1;
		i += in + 1;
	}
}
