/*
 * parse.c: value syntax shared by the configuration, the control client
 * and the daemon: durations, sizes, booleans, signals, umasks, and the
 * shell-style word splitting used for `command` and for lists.
 *
 * Nothing here prints or touches global state except the static buffers
 * documented in parse.h.  Errors are static strings so callers can embed
 * them in "path:line: message" without freeing anything.
 */
#include "parse.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Largest value any duration or size may take: keeps arithmetic exact. */
#define PARSE_VALUE_MAX (UINT64_C(1) << 53)

/* Parse "INT[.FRAC]" at *P scaled by UNIT into *OUT (rounded down);
 * advances *P.  -2 when there is no digit, -1 when the value overflows. */
static int parse_scaled(const char **p, uint64_t unit, uint64_t *out)
{
	const char *s = *p;
	uint64_t ip = 0, frac = 0, div = 1;
	int digits = 0;
	bool lost = false; /* a non-zero digit beyond the ninth decimal */

	while (isdigit((unsigned char)*s)) {
		if (ip > PARSE_VALUE_MAX / 10)
			return -1;
		ip = ip * 10 + (uint64_t)(*s++ - '0');
		digits++;
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			if (div < UINT64_C(1000000000)) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				div *= 10;
			} else if (*s != '0') {
				lost = true;
			}
			s++;
			digits++;
		}
	}
	if (digits == 0)
		return -2;
	if (ip > PARSE_VALUE_MAX / unit)
		return -1;
	/* (frac * unit needs up to 70 bits: 9 decimals of a terabyte) */
	unsigned __int128 part = (unsigned __int128)frac * unit;
	*out = ip * unit + (uint64_t)(part / div);
	if (*out > PARSE_VALUE_MAX)
		return -1;
	if (lost || part % div != 0)
		return -3; /* not a whole number of the smallest unit */
	*p = s;
	return 0;
}

/* Durations: one or more NUMBER UNIT parts ("1h30m", "2m3.5s"), or a
 * single bare number meaning seconds. */
int parse_duration(const char *s, uint64_t *ms, const char **err)
{
	uint64_t total = 0;
	int parts = 0;

	if (s == NULL || *s == '\0') {
		*err = "empty duration";
		return -1;
	}
	if (*s == '-') {
		*err = "negative duration";
		return -1;
	}
	while (*s) {
		const char *start = s, *numend, *q;
		uint64_t unit, v;

		/* Find the unit first so the number is scaled exactly. */
		while (isdigit((unsigned char)*s) || *s == '.')
			s++;
		numend = s;
		if (numend == start)
			goto bad;
		if (strncmp(s, "ms", 2) == 0) {
			unit = 1;
			s += 2;
		} else if (*s == 's') {
			unit = 1000;
			s++;
		} else if (*s == 'm') {
			unit = 60000;
			s++;
		} else if (*s == 'h') {
			unit = 3600000;
			s++;
		} else if (*s == '\0' && parts == 0) {
			unit = 1000;
		} else {
			goto bad;
		}
		q = start;
		switch (parse_scaled(&q, unit, &v)) {
		case -3:
			*err = "finer than a millisecond";
			return -1;
		case -2: goto bad;
		case -1: goto range;
		default: break;
		}
		if (q != numend)
			goto bad;
		if (total + v > PARSE_VALUE_MAX)
			goto range;
		total += v;
		parts++;
	}
	*ms = total;
	return 0;
bad:
	*err = "invalid duration (use e.g. 250ms, 1.5s, 2m, 1h)";
	return -1;
range:
	*err = "duration out of range";
	return -1;
}

/* Sizes: a number with an optional K, M, G or T suffix (powers of 1024),
 * optionally followed by "B" or "iB". */
int parse_size(const char *s, uint64_t *bytes, const char **err)
{
	uint64_t unit = 1;
	const char *p, *end;

	if (s == NULL || *s == '\0') {
		*err = "empty size";
		return -1;
	}
	end = s;
	while (isdigit((unsigned char)*end) || *end == '.')
		end++;
	p = end;
	switch (toupper((unsigned char)*p)) {
	case 'K': unit = UINT64_C(1) << 10; p++; break;
	case 'M': unit = UINT64_C(1) << 20; p++; break;
	case 'G': unit = UINT64_C(1) << 30; p++; break;
	case 'T': unit = UINT64_C(1) << 40; p++; break;
	default: break;
	}
	if (unit > 1 && *p == 'i')
		p++;
	if (*p == 'B' || *p == 'b')
		p++;
	if (*p != '\0' || end == s) {
		*err = "invalid size (use e.g. 512, 64K, 10M, 1G)";
		return -1;
	}
	{
		const char *q = s;
		int rc = parse_scaled(&q, unit, bytes);
		if (rc == -3) {
			*err = "not a whole number of bytes";
			return -1;
		}
		if (rc == -2 || (rc == 0 && q != end)) {
			*err = "invalid size (use e.g. 512, 64K, 10M, 1G)";
			return -1;
		}
		if (rc == -1) {
			*err = "size out of range";
			return -1;
		}
	}
	return 0;
}

/* Booleans, case-insensitive. */
int parse_bool(const char *s, bool *v, const char **err)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; s && i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = false;
			return 0;
		}
	}
	*err = "invalid boolean (use yes/no, true/false, on/off, 1/0)";
	return -1;
}

static const struct {
	const char *name;
	int sig;
} parse_signals[] = {
	{"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},
	{"ILL", SIGILL},     {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},
	{"IOT", SIGABRT},    {"BUS", SIGBUS},       {"FPE", SIGFPE},
	{"KILL", SIGKILL},   {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
	{"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},
	{"TERM", SIGTERM},   {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},
	{"CONT", SIGCONT},   {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},
	{"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},     {"URG", SIGURG},
	{"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM},
	{"PROF", SIGPROF},   {"WINCH", SIGWINCH},   {"IO", SIGIO},
	{"POLL", SIGPOLL},   {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

/* Signals by name (any case, optional SIG prefix) or number 1..64. */
int parse_signal(const char *s, int *sig, const char **err)
{
	const char *name = s;

	if (s == NULL || *s == '\0') {
		*err = "empty signal";
		return -1;
	}
	if (isdigit((unsigned char)*s)) {
		char *end;
		long n = strtol(s, &end, 10);
		if (*end != '\0') {
			*err = "not a signal (a name such as TERM, or a "
			       "decimal number)";
			return -1;
		}
		if (n < 1 || n > 64) {
			*err = "signal number out of range (1-64)";
			return -1;
		}
		*sig = (int)n;
		return 0;
	}
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof parse_signals / sizeof parse_signals[0];
	     i++) {
		if (strcasecmp(name, parse_signals[i].name) == 0) {
			*sig = parse_signals[i].sig;
			return 0;
		}
	}
	*err = "unknown signal";
	return -1;
}

/* The conventional name of SIG without "SIG". */
const char *signal_name(int sig)
{
	static char buf[16];

	for (size_t i = 0; i < sizeof parse_signals / sizeof parse_signals[0];
	     i++)
		if (parse_signals[i].sig == sig)
			return parse_signals[i].name;
	snprintf(buf, sizeof buf, "SIG%d", sig);
	return buf;
}

/* An octal umask of one to four digits, at most 0777. */
int parse_umask(const char *s, int *mask, const char **err)
{
	int v = 0;
	size_t n = 0;

	for (; s && s[n]; n++) {
		if (s[n] < '0' || s[n] > '7' || n >= 4) {
			*err = "invalid umask (use octal, e.g. 022)";
			return -1;
		}
		v = v * 8 + (s[n] - '0');
	}
	if (n == 0 || v > 0777) {
		*err = "invalid umask (use octal, e.g. 022)";
		return -1;
	}
	*mask = v;
	return 0;
}

/* A growable string for word splitting. */
struct parse_buf {
	char *s;
	size_t len, cap;
};

/* Append C, keeping the buffer NUL-terminated. */
static int parse_buf_put(struct parse_buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 32;
		char *n = realloc(b->s, ncap);
		if (n == NULL)
			return -1;
		b->s = n;
		b->cap = ncap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

/* Make sure B holds a string, possibly empty (for '' and ""). */
static int parse_buf_touch(struct parse_buf *b)
{
	if (b->s != NULL)
		return 0;
	b->s = calloc(1, 32);
	b->cap = b->s ? 32 : 0;
	return b->s ? 0 : -1;
}

/* Append WORD to the NULL-terminated vector *V of *N items. */
static int parse_vec_push(char ***v, size_t *n, char *word)
{
	char **nv = realloc(*v, (*n + 2) * sizeof **v);

	if (nv == NULL)
		return -1;
	nv[(*n)++] = word;
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

/* The splitter behind argv_split and list_split: COMMAS also separate. */
static int parse_words(const char *s, bool commas, char ***out,
		       const char **err)
{
	char **v = calloc(1, sizeof *v);
	size_t n = 0;
	struct parse_buf b = {0};
	bool inword = false;

	if (v == NULL)
		goto nomem;
	for (const char *p = s ? s : "";; p++) {
		char c = *p;
		if (c == '\0' || c == ' ' || c == '\t' || c == '\n' ||
		    (commas && c == ',')) {
			if (inword) {
				if (parse_buf_touch(&b) < 0 ||
				    parse_vec_push(&v, &n, b.s) < 0)
					goto nomem;
				b = (struct parse_buf){0};
				inword = false;
			}
			if (c == '\0')
				break;
			continue;
		}
		inword = true;
		if (c == '\'') {
			for (p++; *p != '\''; p++) {
				if (*p == '\0') {
					*err = "unterminated quote";
					goto fail;
				}
				if (parse_buf_put(&b, *p) < 0)
					goto nomem;
			}
			/* An empty quoted word still counts. */
			if (parse_buf_touch(&b) < 0)
				goto nomem;
		} else if (c == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0') {
					*err = "unterminated quote";
					goto fail;
				}
				if (*p == '\\' &&
				    (p[1] == '"' || p[1] == '\\' || p[1] == '$' ||
				     p[1] == '`'))
					p++;
				if (parse_buf_put(&b, *p) < 0)
					goto nomem;
			}
			if (parse_buf_touch(&b) < 0)
				goto nomem;
		} else if (c == '\\') {
			if (p[1] == '\0') {
				*err = "trailing backslash";
				goto fail;
			}
			p++;
			if (parse_buf_put(&b, *p) < 0)
				goto nomem;
		} else if (parse_buf_put(&b, c) < 0) {
			goto nomem;
		}
	}
	*out = v;
	return 0;
nomem:
	*err = "out of memory";
fail:
	free(b.s);
	argv_free(v);
	return -1;
}

/* Shell-style splitting without a shell: quotes and backslashes only. */
int argv_split(const char *s, char ***argv, const char **err)
{
	return parse_words(s, false, argv, err);
}

/* Free a vector from argv_split or list_split. */
void argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

/* Strip an inline comment from the value at V (in place): ';' or '#'
 * preceded by white space (not escaped) and outside quotes.  -1 on an
 * open quote. */
int ini_strip_comment(char *v)
{
	char q = 0;
	bool ws = true; /* after white space, or at the start */

	for (char *p = v; *p; p++) {
		bool was_ws = ws;
		ws = false;
		if (q == '\'') {
			if (*p == '\'')
				q = 0;
		} else if (q == '"') {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				q = 0;
		} else if (*p == '\\' && p[1]) {
			p++; /* an escaped blank starts no comment */
		} else if (*p == '\'' || *p == '"') {
			q = *p;
		} else if (*p == ' ' || *p == '\t') {
			ws = true;
		} else if ((*p == ';' || *p == '#') && was_ws) {
			*p = '\0';
			break;
		}
	}
	return q ? -1 : 0;
}

size_t utf8_seq(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;
	unsigned lo = 0x80, hi = 0xbf;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* no overlong form */
		else if (p[0] == 0xed)
			hi = 0x9f; /* no surrogate */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f; /* up to U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* Lists: separated by commas and/or white space, quotes honoured. */
int list_split(const char *s, char ***items, const char **err)
{
	return parse_words(s, true, items, err);
}

/* url_redact (STRIP false) and url_strip_userinfo (STRIP true). */
static const char *url_rewrite(const char *s, char *buf, size_t size,
			       bool strip)
{
	size_t o = 0;

#define URL_PUT(p, n)                                                \
	do {                                                         \
		size_t n_ = (n) < size - 1 - o ? (n) : size - 1 - o; \
		memcpy(buf + o, (p), n_);                            \
		o += n_;                                             \
	} while (0)
	if (size == 0)
		return buf;
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *end = s + n, *at = NULL, *from = s, *colon;
		for (const char *p = s; p < end; p++)
			if (*p == '@')
				at = p;
		if (at == NULL) {
			URL_PUT(s, n);
		} else {
			for (const char *p = s; p + 1 < at; p++)
				if (p[0] == '/' && p[1] == '/') {
					from = p + 2;
					break;
				}
			colon = memchr(from, ':', (size_t)(at - from));
			if (strip) {
				URL_PUT(s, (size_t)(from - s));
				URL_PUT(at + 1, (size_t)(end - at - 1));
			} else {
				from = colon ? colon + 1 : from;
				URL_PUT(s, (size_t)(from - s));
				URL_PUT("***", 3);
				URL_PUT(at, (size_t)(end - at));
			}
		}
		if (*end == '\0')
			break;
		URL_PUT(",", 1);
		s = end + 1;
	}
#undef URL_PUT
	buf[o] = '\0';
	return buf;
}

const char *url_redact(const char *s, char *buf, size_t size)
{
	return url_rewrite(s, buf, size, false);
}

const char *url_strip_userinfo(const char *s, char *buf, size_t size)
{
	return url_rewrite(s, buf, size, true);
}

char *path_beside(const char *file, const char *path)
{
	char *real, *slash, *joined = NULL;

	if (path[0] == '/')
		return strdup(path);
	real = realpath(file, NULL);
	if (real == NULL)
		return NULL;
	slash = strrchr(real, '/'); /* a real path starts with one */
	*slash = '\0';
	if (asprintf(&joined, "%s/%s", real, path) < 0)
		joined = NULL;
	free(real);
	return joined;
}

long nr_open(void)
{
	char b[32];
	long v = -1;
	int fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, b, sizeof(b) - 1);
		if (n > 0) {
			b[n] = '\0';
			v = strtol(b, NULL, 10);
		}
		close(fd);
	}
	return v > 0 ? v : -1;
}

bool name_is_secret(const char *name, size_t n)
{
	static const char *const words[] = { "PASS", "TOKEN", "SECRET",
					     "AUTH" };
	for (size_t k = 0; k < sizeof(words) / sizeof(*words); k++)
		for (size_t i = 0; i + strlen(words[k]) <= n; i++)
			if (strncasecmp(name + i, words[k],
					strlen(words[k])) == 0)
				return true;
	return false;
}

/* Is W an option ("-x", "--name") without "=VALUE", whose name is
 * secret? */
static bool opt_is_secret(const char *w)
{
	return w && w[0] == '-' && strchr(w, '=') == NULL &&
	       name_is_secret(w, strlen(w));
}

/* W, a shell command line (the word after "-c"), with arg_redact
 * applied to each of its words, in BUF.  Words are split as sh splits
 * them: blanks inside '...' or "...", after a backslash, or inside $(...),
 * ${...} or `...` do not end a word, and an unquoted ; | & < > ( ) or
 * newline does (it is copied through, like the blanks).  The secret tests
 * see a word without its quotes.  A word arg_redact changes is shown as
 * it returns it (unquoted); the others, and what lies between, as they
 * are written. */
static const char *shell_redact(const char *w, char *buf, size_t size)
{
	static const char seps[] = " \t\n;|&<>()";
	char prev[256] = "", word[256], one[512];
	size_t o = 0;
	bool changed = false;

	while (*w && o + 1 < size) {
		size_t sep = strspn(w, seps), n, u = 0;
		unsigned paren = 0, brace = 0;
		bool tick = false;
		char q = 0;
		if (sep) {
			n = sep < size - 1 - o ? sep : size - 1 - o;
			memcpy(buf + o, w, n);
			o += n;
			for (size_t k = 0; k < sep; k++)
				if (w[k] != ' ' && w[k] != '\t')
					prev[0] = '\0'; /* an operator: a
							  * new command */
			w += sep;
			continue;
		}
		for (n = 0; w[n] && (q || paren || brace || tick ||
				     strchr(seps, w[n]) == NULL);
		     n++) {
			char ch = w[n];
			if (q == '\'' && ch == '\'') {
				q = 0;
				continue;
			}
			if (q == 0 && ch == '$' && (w[n + 1] == '(' ||
						   w[n + 1] == '{')) {
				if (w[n + 1] == '(')
					paren++;
				else
					brace++;
				if (u + 1 < sizeof(word))
					word[u++] = ch;
				ch = w[++n];
			} else if (q == 0 && paren && ch == '(') {
				paren++;
			} else if (q == 0 && paren && ch == ')') {
				paren--;
			} else if (q == 0 && brace && ch == '}') {
				brace--;
			} else if (q != '\'' && ch == '`') {
				tick = !tick;
			} else if (q == '"' && ch == '"') {
				q = 0;
				continue;
			} else if (q == 0 && (ch == '\'' || ch == '"')) {
				q = ch;
				continue;
			} else if (q != '\'' && ch == '\\' && w[n + 1] &&
				   (q == 0 || strchr("\"\\$`", w[n + 1]))) {
				ch = w[++n];
			}
			if (u + 1 < sizeof(word))
				word[u++] = ch;
		}
		word[u] = '\0';
		const char *r =
			arg_redact(*prev ? prev : NULL, word, one, sizeof(one));
		if (r != word)
			changed = true;
		else
			r = NULL; /* the word as written, whatever its length */
		size_t rl = r ? strlen(r) : n;
		rl = rl < size - 1 - o ? rl : size - 1 - o;
		memcpy(buf + o, r ? r : w, rl);
		o += rl;
		snprintf(prev, sizeof(prev), "%s", word);
		w += n;
	}
	buf[o] = '\0';
	return changed ? buf : NULL;
}

/* The length of NAME in W = "NAME=VALUE" when NAME could be a shell
 * variable's name, else 0. */
static size_t assignment_name(const char *w)
{
	size_t n = 0;
	if (!(isalpha((unsigned char)w[0]) || w[0] == '_'))
		return 0;
	while (isalnum((unsigned char)w[n]) || w[n] == '_')
		n++;
	return w[n] == '=' ? n : 0;
}

const char *arg_redact(const char *prev, const char *w, char *buf,
		       size_t size)
{
	const char *eq = strchr(w, '=');

	if (prev && strcmp(prev, "-c") == 0 && strpbrk(w, " \t\n;|&<>()")) {
		const char *r = shell_redact(w, buf, size);
		if (r)
			return r;
	}
	if (opt_is_secret(prev) && w[0] != '-') { /* (-x: another option) */
		snprintf(buf, size, "***");
		return buf;
	}
	if (eq && (w[0] == '-' || assignment_name(w)) &&
	    name_is_secret(w, (size_t)(eq - w))) {
		snprintf(buf, size, "%.*s=***", (int)(eq - w), w);
		return buf;
	}
	if (strstr(w, "://") && strchr(w, '@'))
		return url_redact(w, buf, size);
	return w;
}

/* Human-readable duration: "250ms", "1.5s", "2m3s", "1h30m". */
const char *format_duration(uint64_t ms)
{
	static char buf[64];
	size_t n = 0;
	uint64_t h = ms / 3600000, m = ms / 60000 % 60;
	uint64_t s = ms / 1000 % 60, frac = ms % 1000;

	if (ms < 1000) {
		snprintf(buf, sizeof buf, "%llums", (unsigned long long)ms);
		return buf;
	}
	buf[0] = '\0';
	if (h)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%lluh",
				      (unsigned long long)h);
	if (m)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%llum",
				      (unsigned long long)m);
	if (s || frac) {
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%llu",
				      (unsigned long long)s);
		if (frac) {
			char f[8];
			size_t k;
			snprintf(f, sizeof f, ".%03u", (unsigned)frac);
			for (k = strlen(f); f[k - 1] == '0'; k--)
				f[k - 1] = '\0';
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", f);
		}
		snprintf(buf + n, sizeof buf - n, "s");
	}
	return buf;
}
