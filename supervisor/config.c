/*
 * config.c: the configuration language of natsvisord.
 *
 * One typed key table (config_keys) drives parsing, defaults, bounds,
 * reload behaviour and documentation (config_dump_keys).  Loading runs in
 * two phases:
 *
 *  1. Reading: every file (the main one and its includes) is read whole
 *     and split into lines by our own reader, which strips a leading UTF-8
 *     BOM and CRLF endings, rejects UTF-16, stray BOMs, NUL and control
 *     bytes, and lines longer than NV_CONFIG_LINE_MAX.  Each line is then
 *     tokenised with inih's syntax ([section], key = value, ';' and '#'
 *     comments) minus its traps: no length limit below ours, no
 *     continuation lines, no silently cut section names, and one rule for
 *     inline comments (a ';' or '#' preceded by white space and outside
 *     quotes).  inih itself cannot be used: Debian's build hands its reader
 *     a 200-byte buffer and gives the handler no line numbers.
 *  2. Resolving: entries are applied to a fresh struct nv_config through
 *     the key table; [defaults] forms a template copied into every
 *     listener; then cross-checks (required keys, users and groups,
 *     requires, names) run.
 *
 * Every problem is collected with its file and line, deduplicated, sorted
 * and returned as "path:line: message".  Nothing is printed except by
 * config_check_main().
 */
#include "config.h"
#include "parse.h"
#include "subject.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_INCLUDE_DEPTH 16

enum config_type {
	CT_STR,       /* one string; quotes processed when present */
	CT_PATH,      /* a string naming a file or directory */
	CT_USER,      /* a user name or uid, resolved at load */
	CT_GROUP,     /* a group name or gid, resolved at load */
	CT_ARGV,      /* a command line, split with shell-style quoting */
	CT_SUBJECTS,  /* a list of subjects, wildcards allowed */
	CT_NAMES,     /* a list of listener names */
	CT_URLS,      /* a list of NATS URLs */
	CT_ENV,       /* a list of KEY=VALUE */
	CT_DURATION,  /* uint64_t milliseconds */
	CT_UINT,      /* unsigned */
	CT_DOUBLE,    /* double */
	CT_BOOL,      /* bool */
	CT_SIGNAL,    /* int */
	CT_UMASK,     /* int, -1 for the daemon's */
	CT_SIZE,      /* uint64_t bytes */
	CT_NOFILE,    /* int64_t, -1 inherit */
	CT_CORE,      /* int64_t bytes, -1 inherit */
	CT_RESTART,   /* enum nv_restart */
	CT_EXITCODES, /* uint8_t[32] bitmap */
	CT_SUBJECT,   /* one literal subject */
	CT_QUEUE,     /* a queue group name */
	CT_TOKEN,     /* one subject token: no '.', wildcards or spaces */
	CT_INCLUDE,   /* a glob of files to read */
};

static const char *const config_type_names[] = {
	[CT_STR] = "string",         [CT_PATH] = "path",
	[CT_USER] = "user",          [CT_GROUP] = "group",
	[CT_ARGV] = "command",       [CT_SUBJECTS] = "subject-list",
	[CT_NAMES] = "name-list",    [CT_URLS] = "url-list",
	[CT_ENV] = "environment",    [CT_DURATION] = "duration",
	[CT_UINT] = "integer",       [CT_DOUBLE] = "number",
	[CT_BOOL] = "boolean",       [CT_SIGNAL] = "signal",
	[CT_UMASK] = "umask",        [CT_SIZE] = "size",
	[CT_NOFILE] = "limit",       [CT_CORE] = "size-limit",
	[CT_RESTART] = "policy",     [CT_EXITCODES] = "exit-codes",
	[CT_SUBJECT] = "subject",    [CT_QUEUE] = "queue-group",
	[CT_TOKEN] = "token",        [CT_INCLUDE] = "glob",
};

/* Where a key may appear. */
#define CS_TOP 1      /* before any section */
#define CS_DAEMON 2   /* [natsvisor] */
#define CS_LISTENER 4 /* [listener:NAME] and [defaults] */

#define NOFF ((size_t)-1)
#define LOFF(f) offsetof(struct nv_listener_conf, f)
#define DOFF(f) offsetof(struct nv_config, f)

struct config_key {
	const char *name;
	int scope;
	enum config_type type;
	size_t off;  /* the field */
	size_t off2; /* its count, or the argv of a command; NOFF if none */
	const char *def;    /* default, parsed like a value; NULL: none */
	const char *defdoc; /* how to describe a NULL default */
	double min, max;    /* bounds in the stored unit; min > max: none */
	bool reload;        /* changes apply without a restart */
	const char *desc;
};

#define NB 1, 0 /* no bounds */
#define MS 1.0
#define S 1000.0
#define H 3600000.0

/* The one table: every key, its type, default, bounds and reload rule. */
static const struct config_key config_keys[] = {
	/* daemon */
	{"include", CS_TOP | CS_DAEMON, CT_INCLUDE, NOFF, NOFF, NULL, "none",
	 NB, true, "read more files (glob, relative to this file's directory, lexical order)"},
	{"nats_url", CS_DAEMON, CT_URLS, DOFF(nats_urls), DOFF(nnats_urls),
	 "nats://127.0.0.1:4222", NULL, NB, false,
	 "NATS servers of the daemon's connection, passed to listeners as NATS_URL"},
	{"nats_creds", CS_DAEMON, CT_PATH, DOFF(nats_creds), NOFF, NULL, "none",
	 NB, false, "credentials file (JWT and NKey seed) for the daemon's connection"},
	{"nats_user", CS_DAEMON, CT_STR, DOFF(nats_user), NOFF, NULL, "none",
	 NB, false, "user name for the daemon's connection"},
	{"nats_password", CS_DAEMON, CT_STR, DOFF(nats_password), NOFF, NULL,
	 "none", NB, false, "password for the daemon's connection"},
	{"nats_token", CS_DAEMON, CT_STR, DOFF(nats_token), NOFF, NULL, "none",
	 NB, false, "token for the daemon's connection"},
	{"nats_nkey_seed", CS_DAEMON, CT_PATH, DOFF(nats_nkey_seed), NOFF, NULL,
	 "none", NB, false, "file holding an NKey seed for the daemon's connection"},
	{"tls_ca", CS_DAEMON, CT_PATH, DOFF(tls_ca), NOFF, NULL, "none", NB,
	 false, "CA certificates to verify the NATS server"},
	{"tls_cert", CS_DAEMON, CT_PATH, DOFF(tls_cert), NOFF, NULL, "none", NB,
	 false, "client certificate for the daemon's connection"},
	{"tls_key", CS_DAEMON, CT_PATH, DOFF(tls_key), NOFF, NULL, "none", NB,
	 false, "private key of tls_cert"},
	{"nats_server", CS_DAEMON, CT_ARGV, DOFF(nats_server),
	 DOFF(nats_server_argv), NULL, "none", NB, false,
	 "command line of an embedded nats-server started first and stopped last"},
	{"control_socket", CS_DAEMON, CT_PATH, DOFF(control_socket), NOFF, NULL,
	 "built-in", NB, false,
	 "path of the control socket (shorter than 108 bytes)"},
	{"control_group", CS_DAEMON, CT_GROUP, DOFF(control_group), NOFF, NULL,
	 "none", NB, false,
	 "group whose members may use the control socket (mode 0660)"},
	{"pidfile", CS_DAEMON, CT_PATH, DOFF(pidfile), NOFF, NULL, "none", NB,
	 false, "locked pid file; a second daemon on it refuses to start"},
	{"instance_id", CS_DAEMON, CT_TOKEN, DOFF(instance_id), NOFF, NULL,
	 "hostname", NB, false,
	 "name of this supervisor in ping subjects and status subjects"},
	{"startup_timeout", CS_DAEMON, CT_DURATION, DOFF(startup_timeout_ms),
	 NOFF, "60s", NULL, 1 * S, 24 * H, true,
	 "how long --daemon and sd_notify wait for readiness"},
	{"nats_control", CS_DAEMON, CT_BOOL, DOFF(nats_control), NOFF, "no",
	 NULL, NB, false, "accept control commands over NATS"},

	/* listeners */
	{"command", CS_LISTENER, CT_ARGV, LOFF(command), LOFF(argv), NULL,
	 "required", NB, false,
	 "program and arguments, split with shell-style quoting, no shell"},
	{"subjects", CS_LISTENER, CT_SUBJECTS, LOFF(subjects), LOFF(nsubjects),
	 NULL, "none", NB, false,
	 "subjects the listener holds (wildcards allowed)"},
	{"queue_group", CS_LISTENER, CT_QUEUE, LOFF(queue_group), NOFF, NULL,
	 "none", NB, false, "queue group the listener subscribes with"},
	{"instances", CS_LISTENER, CT_UINT, LOFF(ninstances), NOFF, "1", NULL,
	 1, NV_INSTANCES_MAX, true,
	 "number of copies, named NAME.0 ... NAME.N-1"},
	{"ping_subject", CS_LISTENER, CT_SUBJECT, LOFF(ping_subject), NOFF,
	 NULL, "generated", NB, false,
	 "subject the listener answers pings on"},
	{"ready_timeout", CS_LISTENER, CT_DURATION, LOFF(ready_timeout_ms),
	 NOFF, "30s", NULL, 100 * MS, 24 * H, true,
	 "time from spawn to the first reply before the listener is restarted"},
	{"health_interval", CS_LISTENER, CT_DURATION,
	 LOFF(health_interval_ms), NOFF, "5s", NULL, 100 * MS, 24 * H, true,
	 "time between pings of a running listener"},
	{"health_timeout", CS_LISTENER, CT_DURATION, LOFF(health_timeout_ms),
	 NOFF, "1s", NULL, 10 * MS, 1 * H, true,
	 "how long a ping waits for its reply"},
	{"health_failures", CS_LISTENER, CT_UINT, LOFF(health_failures), NOFF,
	 "3", NULL, 1, 1000, true,
	 "consecutive missed pings that make a running listener restart"},
	{"stop_signal", CS_LISTENER, CT_SIGNAL, LOFF(stop_signal), NOFF,
	 "TERM", NULL, NB, true, "signal sent to the process group to stop it"},
	{"stop_timeout", CS_LISTENER, CT_DURATION, LOFF(stop_timeout_ms), NOFF,
	 "10s", NULL, 0, 24 * H, true,
	 "time after stop_signal before SIGKILL"},
	{"autostart", CS_LISTENER, CT_BOOL, LOFF(autostart), NOFF, "yes", NULL,
	 NB, true, "start with the daemon"},
	{"essential", CS_LISTENER, CT_BOOL, LOFF(essential), NOFF, "no", NULL,
	 NB, true, "stop the daemon (exit 1) when this listener turns fatal"},
	{"requires", CS_LISTENER, CT_NAMES, LOFF(requires), LOFF(nrequires),
	 NULL, "none", NB, true,
	 "listeners that must be ready before this one starts"},
	{"shell", CS_LISTENER, CT_BOOL, LOFF(shell), NOFF, "no", NULL, NB,
	 false, "run command through /bin/sh -c"},
	{"restart", CS_LISTENER, CT_RESTART, LOFF(restart), NOFF, "always",
	 NULL, NB, true, "restart policy: always, on-failure or never"},
	{"success_exit_codes", CS_LISTENER, CT_EXITCODES, LOFF(success_exit),
	 NOFF, "0", NULL, NB, true,
	 "exit codes that count as success for restart = on-failure"},
	{"backoff_initial", CS_LISTENER, CT_DURATION, LOFF(backoff_initial_ms),
	 NOFF, "100ms", NULL, 0, 1 * H, true, "delay before the first restart"},
	{"backoff_factor", CS_LISTENER, CT_DOUBLE, LOFF(backoff_factor), NOFF,
	 "2", NULL, 1, 100, true,
	 "growth of the delay between consecutive restarts"},
	{"backoff_max", CS_LISTENER, CT_DURATION, LOFF(backoff_max_ms), NOFF,
	 "30s", NULL, 0, 24 * H, true, "ceiling of the restart delay"},
	{"backoff_jitter", CS_LISTENER, CT_DOUBLE, LOFF(backoff_jitter), NOFF,
	 "0.1", NULL, 0, 1, true,
	 "random spread of each delay, as a fraction (0.1: +-10%)"},
	{"backoff_reset", CS_LISTENER, CT_DURATION, LOFF(backoff_reset_ms),
	 NOFF, "60s", NULL, 0, 24 * H, true,
	 "readiness time after which the restart count starts again"},
	{"max_restarts", CS_LISTENER, CT_UINT, LOFF(max_restarts), NOFF, "0",
	 NULL, 0, 1000000, true,
	 "restarts within restart_window before giving up (0: never)"},
	{"restart_window", CS_LISTENER, CT_DURATION, LOFF(restart_window_ms),
	 NOFF, "60s", NULL, 1 * S, 24 * H, true,
	 "window in which max_restarts is counted"},
	{"user", CS_LISTENER, CT_USER, LOFF(user), NOFF, NULL, "daemon's", NB,
	 false, "user to run as (name or uid; groups and HOME follow)"},
	{"group", CS_LISTENER, CT_GROUP, LOFF(group), NOFF, NULL, "user's",
	 NB, false, "group to run as"},
	{"directory", CS_LISTENER, CT_PATH, LOFF(directory), NOFF, NULL,
	 "daemon's", NB, false, "working directory"},
	{"umask", CS_LISTENER, CT_UMASK, LOFF(umask), NOFF, NULL, "daemon's",
	 NB, false, "file creation mask, octal"},
	{"environment", CS_LISTENER, CT_ENV, LOFF(environment),
	 LOFF(nenvironment), NULL, "none", NB, false,
	 "KEY=VALUE entries added to the environment (replaces [defaults])"},
	{"clear_environment", CS_LISTENER, CT_BOOL, LOFF(clear_environment),
	 NOFF, "no", NULL, NB, false,
	 "start from an empty environment instead of the daemon's"},
	{"limit_nofile", CS_LISTENER, CT_NOFILE, LOFF(limit_nofile), NOFF,
	 "inherit", NULL, 1, 1 << 30, false,
	 "RLIMIT_NOFILE: a number, unlimited, or inherit"},
	{"limit_core", CS_LISTENER, CT_CORE, LOFF(limit_core), NOFF, "inherit",
	 NULL, NB, false, "RLIMIT_CORE: a size, unlimited, or inherit"},
	{"log_file", CS_LISTENER, CT_PATH, LOFF(log_file), NOFF, NULL,
	 "daemon's stderr", NB, true,
	 "file for the listener's output (else the daemon's stderr, prefixed)"},
	{"log_max_size", CS_LISTENER, CT_SIZE, LOFF(log_max_size), NOFF, "10M",
	 NULL, 0, 1099511627776.0, true,
	 "rotate log_file at this size (0: never)"},
	{"log_keep", CS_LISTENER, CT_UINT, LOFF(log_keep), NOFF, "5", NULL, 0,
	 1000, true, "rotated log files kept"},
};

#define NKEYS (sizeof config_keys / sizeof config_keys[0])

/* One collected error: sorted by file then line before it is formatted. */
struct config_err {
	int file; /* index into cfg->files; -1: the main path, no line */
	int line;
	size_t seq;
	char *msg;
};

/* A key = value line as read. */
struct config_ent {
	char *key, *val;
	int file, line;
};

enum config_sect_kind { SK_TOP, SK_DAEMON, SK_DEFAULTS, SK_LISTENER, SK_OTHER };

struct config_sect {
	enum config_sect_kind kind;
	char *name; /* listener name */
	int file, line;
	bool seen;    /* header met at least once (daemon, defaults) */
	bool damaged; /* a line was dropped: skip "missing key" checks */
	bool discard; /* validate but do not keep (bad name, defined twice) */
	struct config_ent *e;
	size_t n, cap;
};

/* Where each key of a listener was set, for later checks. */
struct config_lwhere {
	struct nv_where k[NKEYS];
};

static bool config_oom;

/* Names to indexes, so that the cross-listener checks and config_find()
 * do not compare every listener with every other (at 1000 listeners
 * those comparisons were half of the load time).  Open addressing with
 * FNV-1a, doubled at half full; the keys are borrowed. */
struct nv_name_index {
	const char **keys;
	int *vals;
	size_t cap, n;
};

static size_t nidx_hash(const char *k)
{
	uint64_t h = 14695981039346656037ull;

	for (; *k; k++) {
		h ^= (unsigned char)*k;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

/* The value of K, or -1. */
static int nidx_get(const struct nv_name_index *x, const char *k)
{
	if (x == NULL || x->cap == 0 || k == NULL)
		return -1;
	for (size_t i = nidx_hash(k) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		if (x->keys[i] == NULL)
			return -1;
		if (strcmp(x->keys[i], k) == 0)
			return x->vals[i];
	}
}

/* K -> V, unless K is there already (the first one stays). */
static void nidx_add(struct nv_name_index *x, const char *k, int v)
{
	size_t i;

	if (k == NULL)
		return;
	if (2 * (x->n + 1) > x->cap) {
		struct nv_name_index y = { .cap = x->cap ? 2 * x->cap : 64 };

		y.keys = calloc(y.cap, sizeof *y.keys);
		y.vals = calloc(y.cap, sizeof *y.vals);
		if (y.keys == NULL || y.vals == NULL) {
			free(y.keys);
			free(y.vals);
			config_oom = true;
			return;
		}
		for (i = 0; i < x->cap; i++)
			if (x->keys[i] != NULL)
				nidx_add(&y, x->keys[i], x->vals[i]);
		free(x->keys);
		free(x->vals);
		*x = y;
	}
	for (i = nidx_hash(k) & (x->cap - 1); x->keys[i] != NULL;
	     i = (i + 1) & (x->cap - 1))
		if (strcmp(x->keys[i], k) == 0)
			return;
	x->keys[i] = k;
	x->vals[i] = v;
	x->n++;
}

static void nidx_free(struct nv_name_index *x)
{
	if (x == NULL)
		return;
	free(x->keys);
	free(x->vals);
	memset(x, 0, sizeof *x);
}

struct config_ctx {
	struct nv_config *cfg;
	unsigned flags;
	struct config_err *errs;
	size_t nerrs, caperrs;
	struct config_sect top, daemon, defaults;
	struct config_sect **ls; /* listener sections in file order */
	size_t nls;
	struct nv_name_index sects; /* name -> index in ls (not discarded) */
	struct nv_name_index bases; /* listeners' base names */
	char *stack[CONFIG_INCLUDE_DEPTH + 1]; /* real paths being read */
	int depth;
	struct config_read {    /* every file read, and where it was included */
		char *real;
		int incfile, incline;
	} *read;
	size_t nread;
	struct config_lwhere dwhere; /* daemon keys */
};

/* Allocation that records failure instead of crashing the daemon. */
static char *config_strdup(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		config_oom = true;
	return d;
}

/* Record an error at FILE:LINE (FILE -1 and LINE 0: whole main file). */
static void config_err(struct config_ctx *c, int file, int line,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void config_err(struct config_ctx *c, int file, int line,
		       const char *fmt, ...)
{
	va_list ap;
	char *m;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (m == NULL) {
		config_oom = true;
		return;
	}
	for (size_t i = 0; i < c->nerrs; i++) {
		if (c->errs[i].file == file && c->errs[i].line == line &&
		    strcmp(c->errs[i].msg, m) == 0) {
			free(m);
			return;
		}
	}
	if (c->nerrs == c->caperrs) {
		size_t ncap = c->caperrs ? c->caperrs * 2 : 16;
		struct config_err *n = realloc(c->errs, ncap * sizeof *n);
		if (n == NULL) {
			free(m);
			config_oom = true;
			return;
		}
		c->errs = n;
		c->caperrs = ncap;
	}
	c->errs[c->nerrs++] = (struct config_err){file, line, c->nerrs, m};
}

/* Public error list helpers. */
void errors_add(struct nv_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *m;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	if (m == NULL)
		return;
	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 8;
		char **n = realloc(e->msgs, ncap * sizeof *n);
		if (n == NULL) {
			free(m);
			return;
		}
		e->msgs = n;
		e->cap = ncap;
	}
	e->msgs[e->n++] = m;
}

/* Free every message and empty the list. */
void errors_clear(struct nv_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->n = e->cap = 0;
}

/* Look a key up by name in SCOPE (any scope when 0). */
static const struct config_key *config_key_find(const char *name, int scope)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0 &&
		    (scope == 0 || (config_keys[i].scope & scope)))
			return &config_keys[i];
	return NULL;
}

/* From the table: does a change of KEY apply without a restart? */
bool config_key_reloadable(const char *key)
{
	const struct config_key *k = config_key_find(key, 0);

	return k != NULL && k->reload;
}

/* Levenshtein distance, bounded for short strings (names are short). */
static size_t config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			cur[j] = d;
		}
		memcpy(prev, cur, (lb + 1) * sizeof *prev);
	}
	return prev[lb];
}

/* The closest key of SCOPE to NAME, if close enough to be a typo. */
static const char *config_suggest(const char *name, int scope)
{
	size_t best = 99, limit = strlen(name) / 3;
	const char *hit = NULL;

	if (limit < 1)
		limit = 1;
	if (limit > 3)
		limit = 3;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t d;
		if (!(config_keys[i].scope & scope))
			continue;
		d = config_distance(name, config_keys[i].name);
		if (d < best) {
			best = d;
			hit = config_keys[i].name;
		}
	}
	return best <= limit ? hit : NULL;
}

/* ---- values ---------------------------------------------------------- */

/* A string value: literal unless it holds quotes or backslashes, then
 * shell-style unquoted and required to be one word. */
static int config_unquote(const char *val, char **out, const char **err)
{
	char **w;

	if (strpbrk(val, "'\"\\") == NULL) {
		*out = config_strdup(val);
		return 0;
	}
	if (argv_split(val, &w, err) < 0)
		return -1;
	if (w[0] == NULL || w[1] != NULL) {
		argv_free(w);
		*err = "expected one value (quote it if it contains spaces)";
		return -1;
	}
	*out = w[0];
	free(w);
	return 0;
}

/* Replace the vector at V (count at N) by NEW. */
static void config_set_vec(char ***v, size_t *n, char **nv)
{
	size_t k = 0;

	argv_free(*v);
	while (nv && nv[k])
		k++;
	*v = nv;
	if (n)
		*n = k;
}

/* Valid listener name: [A-Za-z0-9._-], not starting with '-' or '.', no
 * empty token between dots. */
static const char *config_name_problem(const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return "is empty";
	if (n > NV_NAME_MAX)
		return "is longer than 40 bytes";
	if (name[0] == '-' || name[0] == '.')
		return "must start with a letter, digit or '_'";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return "may hold only letters, digits, '.', '_' and '-'";
	/* It ends NATS subjects (pings, events): no empty token. */
	if (name[n - 1] == '.' || strstr(name, ".."))
		return "may not end with '.' or hold '..' (it is part of NATS "
		       "subjects)";
	return NULL;
}

/* What is wrong with the NATS URL U, or NULL: a scheme of nats, tls, ws
 * or wss, then [user[:password]@]host[:port], the host not empty (an IPv6
 * address in brackets), the port 1..65535, and at most a "/" after it. */
static const char *url_problem(const char *u)
{
	static const char *const schemes[] = { "nats://", "tls://", "ws://",
						"wss://" };
	const char *p = NULL, *at, *end;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(*schemes); i++)
		if (strncasecmp(u, schemes[i], strlen(schemes[i])) == 0)
			p = u + strlen(schemes[i]);
	if (p == NULL)
		return "invalid URL scheme";
	if (strpbrk(p, "?#"))
		return "invalid URL (a '?' or '#': no query or fragment; a "
		       "password holding one goes in nats_password)";
	end = p + strcspn(p, "/");
	if (*end == '/' && strchr(end, '@'))
		return "invalid URL (a '/' in its user information: give the "
		       "password in nats_password)";
	if (*end == '/' && end[1] != '\0')
		return "invalid URL (a path after the host)";
	at = memrchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	const char *colon = NULL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (rb == NULL || rb == p + 1)
			return "invalid URL host";
		if (rb + 1 < end && rb[1] != ':')
			return "invalid URL host";
		colon = rb + 1 < end ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		if ((colon ? colon : end) == p)
			return "invalid URL (no host)";
	}
	if (colon) {
		unsigned long port = 0;
		const char *d = colon + 1;
		if (d == end)
			return "invalid URL port";
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return "invalid URL port";
			port = port * 10 + (unsigned long)(*d - '0');
			if (port > 65535)
				return "invalid URL port";
		}
		if (port == 0)
			return "invalid URL port";
	}
	return NULL;
}

/* Environment variable names: [A-Za-z_][A-Za-z0-9_]*. */
static bool config_env_name_ok(const char *s, size_t n)
{
	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* Format a bound of K for messages: "100ms", "10M", "1000". */
static const char *config_bound(const struct config_key *k, double v,
				char *buf, size_t len)
{
	static const char units[] = "KMGT";
	uint64_t n = (uint64_t)v;

	if (k->type == CT_DURATION && n > 0) {
		snprintf(buf, len, "%s", format_duration(n));
		return buf;
	}
	snprintf(buf, len, "%llu", (unsigned long long)n);
	for (int u = 3; k->type == CT_SIZE && n > 0 && u >= 0; u--) {
		uint64_t m = UINT64_C(1) << (10 * (u + 1));
		if (n % m == 0) {
			snprintf(buf, len, "%llu%c", (unsigned long long)(n / m),
				 units[u]);
			break;
		}
	}
	return buf;
}

/* Check V against the bounds of K; *MSG gets an allocated text. */
static int config_check_bounds(const struct config_key *k, double v,
			       char **msg)
{
	char lo[32], hi[32];

	if (k->min > k->max || (v >= k->min && v <= k->max))
		return 0;
	if (asprintf(msg, "out of range (%s..%s)",
		     config_bound(k, k->min, lo, sizeof lo),
		     config_bound(k, k->max, hi, sizeof hi)) < 0)
		*msg = NULL;
	return -1;
}

/* Parse VAL as key K into the struct at BASE.  On error *MSG is an
 * allocated explanation (without the key and value). */
static int config_set(const struct config_key *k, void *base,
		      const char *val, char **msg)
{
	char *f = (char *)base + k->off;
	const char *err = NULL;
	char **v = NULL;

	*msg = NULL;
	switch (k->type) {
	case CT_STR:
	case CT_PATH:
	case CT_USER:
	case CT_GROUP:
	case CT_SUBJECT:
	case CT_QUEUE:
	case CT_TOKEN: {
		char *s;
		if (config_unquote(val, &s, &err) < 0)
			break;
		if (s && *s == '\0') {
			free(s);
			s = NULL;
		}
		if (s && k->type == CT_SUBJECT && !subject_valid(s, false))
			err = "invalid subject (no wildcards, no spaces, no empty tokens)";
		if (s && k->type == CT_QUEUE && !subject_valid(s, false))
			err = "invalid queue group (no wildcards or spaces)";
		if (s && k->type == CT_TOKEN &&
		    (strpbrk(s, ".*> \t") || !subject_valid(s, false)))
			err = "must be one subject token (no '.', '*', '>' or spaces)";
		if (err) {
			free(s);
			break;
		}
		free(*(char **)f);
		*(char **)f = s;
		return 0;
	}
	case CT_ARGV: {
		if (argv_split(val, &v, &err) < 0)
			break;
		if (v[0] == NULL) {
			argv_free(v);
			err = "empty command";
			break;
		}
		if (v[0][strspn(v[0], " \t")] == '\0') { /* '' or ' ' */
			argv_free(v);
			err = "empty program name";
			break;
		}
		free(*(char **)f);
		*(char **)f = config_strdup(val);
		config_set_vec((char ***)((char *)base + k->off2), NULL, v);
		return 0;
	}
	case CT_SUBJECTS:
	case CT_NAMES:
	case CT_URLS:
	case CT_ENV: {
		char *bad = NULL; /* every bad item: "ERR 'ITEM'; ..." */
		if (list_split(val, &v, &err) < 0)
			break;
		for (size_t i = 0; v[i]; i++) {
			const char *it = v[i], *eq = NULL;
			if (k->type == CT_SUBJECTS && !subject_valid(it, true))
				err = "invalid subject";
			else if (k->type == CT_NAMES && config_name_problem(it))
				err = "invalid listener name";
			else if (k->type == CT_URLS && (err = url_problem(it)))
				;
			else if (k->type == CT_ENV &&
				 ((eq = strchr(it, '=')) == NULL ||
				  !config_env_name_ok(it, (size_t)(eq - it))))
				err = "invalid entry";
			if (err) {
				char shown[256], *more;
				const char *hint = k->type == CT_ENV ?
					" (expected NAME=VALUE)" : "",
					   *q = "'";
				if (k->type == CT_URLS && !strchr(it, '@') &&
				    strchr(val, '@')) {
					/* perhaps half of a password that
					 * holds a blank: not shown */
					snprintf(shown, sizeof(shown),
						 "(URL number %zu)", i + 1);
					it = shown;
					q = "";
				} else if (k->type == CT_URLS) {
					it = url_redact(it, shown,
							sizeof(shown));
				} else if (k->type == CT_ENV && eq) {
					/* the name is wrong; the value may
					 * be a secret */
					snprintf(shown, sizeof(shown),
						 "%.*s=***", (int)(eq - it), it);
					it = shown;
				} else if (k->type == CT_ENV) {
					/* no '=': a name, or a value split
					 * off (NAME VALUE, NAME= VALUE,
					 * NAME:VALUE), which may be a
					 * secret: named by its place */
					snprintf(shown, sizeof(shown),
						 "number %zu", i + 1);
					it = shown;
					q = "";
					hint = " (expected NAME=VALUE; quote a "
					       "value that holds spaces)";
				}
				if (asprintf(&more, "%s%s%s %s%s%s%s",
					     bad ? bad : "", bad ? "; " : "",
					     err, q, it, q, hint) < 0)
					more = NULL;
				free(bad);
				if ((bad = more) == NULL) {
					config_oom = true;
					break;
				}
				err = NULL;
				continue;
			}
			if (k->type == CT_ENV) {
				/* Said once, at the second. */
				size_t kl = (size_t)(eq - it), seen = 0;
				char *more;
				for (size_t j = 0; j < i; j++)
					seen += strncmp(v[j], it, kl + 1) == 0;
				if (seen != 1)
					continue;
				if (asprintf(&more, "%s%svariable '%.*s' given more than once",
					     bad ? bad : "", bad ? "; " : "",
					     (int)kl, it) < 0)
					more = NULL;
				free(bad);
				if ((bad = more) == NULL)
					config_oom = true;
			}
		}
		if (bad || config_oom) {
			if (bad == NULL ||
			    asprintf(msg, "!%s%s", bad,
				     k->type == CT_URLS ? " (expected e.g. nats://host:4222)" :
				     "") < 0)
				*msg = NULL;
			free(bad);
			if (k->type == CT_NAMES && !config_oom) {
				/* The good names are still resolved (unknown
				 * listeners, cycles): their errors too. */
				size_t j = 0;
				for (size_t i = 0; v[i]; i++) {
					if (config_name_problem(v[i]))
						free(v[i]);
					else
						v[j++] = v[i];
				}
				v[j] = NULL;
				if (j == 0) {
					argv_free(v);
					v = NULL;
				}
				config_set_vec((char ***)f,
					       (size_t *)((char *)base + k->off2),
					       v);
				return -1;
			}
			argv_free(v);
			return -1;
		}
		if (v[0] == NULL && (k->type == CT_URLS || k->type == CT_SUBJECTS)) {
			argv_free(v);
			err = "empty list";
			break;
		}
		if (v[0] == NULL) {
			argv_free(v);
			v = NULL;
		}
		config_set_vec((char ***)f, (size_t *)((char *)base + k->off2), v);
		return 0;
	}
	case CT_DURATION: {
		uint64_t ms;
		if (parse_duration(val, &ms, &err) < 0)
			break;
		if (config_check_bounds(k, (double)ms, msg) < 0)
			return -1;
		*(uint64_t *)f = ms;
		return 0;
	}
	case CT_SIZE: {
		uint64_t b;
		if (parse_size(val, &b, &err) < 0)
			break;
		if (config_check_bounds(k, (double)b, msg) < 0)
			return -1;
		*(uint64_t *)f = b;
		return 0;
	}
	case CT_UINT: {
		char *end;
		unsigned long long n;
		errno = 0;
		n = strtoull(val, &end, 10);
		if (!isdigit((unsigned char)val[0]) || *end) {
			err = "not a non-negative integer";
			break;
		}
		/* too many digits: out of range, whatever the range */
		if (config_check_bounds(k, errno ? HUGE_VAL : (double)n,
					msg) < 0)
			return -1;
		if (k->off == LOFF(ninstances) && k->scope == CS_LISTENER)
			*(int *)f = (int)n;
		else
			*(unsigned *)f = (unsigned)n;
		return 0;
	}
	case CT_DOUBLE: {
		char *end;
		double d;
		errno = 0;
		d = strtod(val, &end);
		if (strpbrk(val, "xX") || /* no hex floats: decimal only */
		    !(isdigit((unsigned char)val[0]) || val[0] == '.' ||
		      ((val[0] == '-' || val[0] == '+') &&
		       (isdigit((unsigned char)val[1]) || val[1] == '.'))) ||
		    *end || d != d) {
			err = "not a number";
			break;
		}
		/* (beyond a double, strtod gives +-HUGE_VAL: out of range) */
		if (config_check_bounds(k, d, msg) < 0)
			return -1;
		*(double *)f = d;
		return 0;
	}
	case CT_BOOL:
		if (parse_bool(val, (bool *)f, &err) < 0)
			break;
		return 0;
	case CT_SIGNAL:
		if (parse_signal(val, (int *)f, &err) < 0)
			break;
		return 0;
	case CT_UMASK:
		if (parse_umask(val, (int *)f, &err) < 0)
			break;
		return 0;
	case CT_NOFILE:
	case CT_CORE: {
		uint64_t n;
		if (strcasecmp(val, "inherit") == 0) {
			*(int64_t *)f = -1;
			return 0;
		}
		if (strcasecmp(val, "unlimited") == 0 ||
		    strcasecmp(val, "infinity") == 0) {
			*(int64_t *)f = NV_LIMIT_INFINITY;
			return 0;
		}
		if (k->type == CT_CORE) {
			if (parse_size(val, &n, &err) < 0)
				break;
		} else {
			char *end;
			errno = 0;
			n = strtoull(val, &end, 10);
			if (!isdigit((unsigned char)val[0]) || *end || errno) {
				err = "expected a number, unlimited or inherit";
				break;
			}
			if (config_check_bounds(k, (double)n, msg) < 0)
				return -1;
			/* the kernel refuses more than fs.nr_open */
			long most = nr_open();
			if (most > 0 && n > (unsigned long long)most) {
				if (asprintf(msg, "above fs.nr_open (%ld), the "
					     "most the kernel allows (unlimited "
					     "asks for that much)", most) < 0)
					*msg = NULL;
				return -1;
			}
		}
		*(int64_t *)f = (int64_t)n;
		return 0;
	}
	case CT_RESTART:
		if (strcmp(val, "always") == 0)
			*(enum nv_restart *)f = NV_RESTART_ALWAYS;
		else if (strcmp(val, "on-failure") == 0)
			*(enum nv_restart *)f = NV_RESTART_ON_FAILURE;
		else if (strcmp(val, "never") == 0)
			*(enum nv_restart *)f = NV_RESTART_NEVER;
		else {
			err = "expected always, on-failure or never";
			break;
		}
		return 0;
	case CT_EXITCODES: {
		uint8_t map[32] = {0};
		if (list_split(val, &v, &err) < 0)
			break;
		if (v[0] == NULL) { /* no code a success: surely a slip */
			argv_free(v);
			err = "empty list";
			break;
		}
		for (size_t i = 0; v[i]; i++) {
			char *end;
			long c = strtol(v[i], &end, 10);
			if (!isdigit((unsigned char)v[i][0]) || *end || c > 255) {
				if (asprintf(msg, "!invalid exit code '%s' (0..255)",
					     v[i]) < 0)
					*msg = NULL;
				argv_free(v);
				return -1;
			}
			map[c / 8] |= (uint8_t)(1u << (c % 8));
		}
		argv_free(v);
		memcpy(f, map, sizeof map);
		return 0;
	}
	case CT_INCLUDE:
		return 0;
	}
	if (*msg == NULL && err && (*msg = config_strdup(err)) == NULL)
		return -1;
	return -1;
}

/* ---- listeners ------------------------------------------------------- */

/* Free everything a listener owns. */
static void config_listener_clear(struct nv_listener_conf *l)
{
	free(l->name);
	free(l->base);
	free(l->command);
	argv_free(l->argv);
	argv_free(l->subjects);
	free(l->queue_group);
	free(l->ping_subject);
	argv_free(l->requires);
	free(l->user);
	free(l->group);
	free(l->groups);
	free(l->home);
	free(l->user_name);
	free(l->directory);
	argv_free(l->environment);
	free(l->log_file);
	memset(l, 0, sizeof *l);
}

/* Copy a NULL-terminated vector. */
static char **config_vec_dup(char *const *v)
{
	size_t n = 0;
	char **d;

	if (v == NULL)
		return NULL;
	while (v[n])
		n++;
	d = calloc(n + 1, sizeof *d);
	if (d == NULL) {
		config_oom = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		d[i] = config_strdup(v[i]);
	return d;
}

/* Deep copy of a listener. */
static void config_listener_copy(struct nv_listener_conf *d,
				 const struct nv_listener_conf *s)
{
	*d = *s;
	d->name = config_strdup(s->name);
	d->base = config_strdup(s->base);
	d->command = config_strdup(s->command);
	d->argv = config_vec_dup(s->argv);
	d->subjects = config_vec_dup(s->subjects);
	d->queue_group = config_strdup(s->queue_group);
	d->ping_subject = config_strdup(s->ping_subject);
	d->requires = config_vec_dup(s->requires);
	d->user = config_strdup(s->user);
	d->group = config_strdup(s->group);
	d->groups = NULL;
	if (s->groups && s->ngroups > 0) {
		d->groups = malloc((size_t)s->ngroups * sizeof *d->groups);
		if (d->groups)
			memcpy(d->groups, s->groups,
			       (size_t)s->ngroups * sizeof *d->groups);
		else
			config_oom = true;
	}
	d->home = config_strdup(s->home);
	d->user_name = config_strdup(s->user_name);
	d->directory = config_strdup(s->directory);
	d->environment = config_vec_dup(s->environment);
	d->log_file = config_strdup(s->log_file);
}

/* Built-in defaults, through the same parsers as user values. */
static void config_listener_init(struct nv_listener_conf *l)
{
	char *msg;

	memset(l, 0, sizeof *l);
	l->umask = -1;
	l->instance = -1;
	for (size_t i = 0; i < NKEYS; i++) {
		if (config_keys[i].scope == CS_LISTENER && config_keys[i].def &&
		    config_set(&config_keys[i], l, config_keys[i].def, &msg) < 0)
			free(msg); /* cannot happen: tested */
	}
}

/* Message prefix for a value: "KEY 'VALUE'", long values shortened. */
static void config_bad_value(struct config_ctx *c, const struct config_ent *e,
			     const char *msg)
{
	if (msg && e->val[0] == '\0') {
		config_err(c, e->file, e->line, "%s: empty value", e->key);
		return;
	}
	if (msg && msg[0] == '!') {
		/* The message names the offending item itself. */
		config_err(c, e->file, e->line, "%s: %s", e->key, msg + 1);
		return;
	}
	/* A value that may hold a secret is not shown (a password, a
	 * token, an environment), or shown with its URL passwords hidden. */
	const struct config_key *k = config_key_find(e->key, 0);
	const char *val = e->val;
	char shown[512];
	if (k && (k->type == CT_ENV || strcmp(k->name, "nats_password") == 0 ||
		  strcmp(k->name, "nats_token") == 0)) {
		config_err(c, e->file, e->line, "%s: %s (the value is not shown)",
			   e->key, msg ? msg : "out of memory");
		return;
	}
	if (k && k->type == CT_ARGV) /* word by word, as --check -v does */
		val = arg_redact("-c", val, shown, sizeof(shown));
	else if (strstr(val, "://"))
		val = url_redact(val, shown, sizeof(shown));
	if (strlen(val) > 80)
		config_err(c, e->file, e->line, "%s '%.60s...': %s", e->key,
			   val, msg ? msg : "out of memory");
	else
		config_err(c, e->file, e->line, "%s '%s': %s", e->key, val,
			   msg ? msg : "out of memory");
}

/* Apply the entries of section S to BASE (a listener or the config). */
/* A relative path set in file FILE is taken from that file's directory,
 * as include patterns are, and not from the daemon's working directory
 * (which natsvisorctl -c does not share, and --daemon leaves). */
static void config_path_anchor(struct config_ctx *c, char **path, int file)
{
	char *joined;

	if (*path == NULL || (*path)[0] == '/')
		return;
	joined = path_beside(c->cfg->files[file], *path);
	if (joined == NULL) {
		if (errno == ENOMEM)
			config_oom = true;
		return;
	}
	free(*path);
	*path = joined;
}

static void config_apply(struct config_ctx *c, const struct config_sect *s,
			 void *base, int scope, struct config_lwhere *w)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct config_ent *e = &s->e[i];
		const struct config_key *k = config_key_find(e->key, scope);
		char *msg;

		if (k == NULL || k->type == CT_INCLUDE)
			continue;
		/* Recorded even when invalid: a bad value is not a missing one. */
		w->k[k - config_keys] = (struct nv_where){
			c->cfg->files[e->file], e->line};
		if (config_set(k, base, e->val, &msg) < 0) {
			config_bad_value(c, e, msg);
			free(msg);
		} else if (k->type == CT_PATH) {
			config_path_anchor(c, (char **)((char *)base + k->off),
					   e->file);
		}
	}
}

/* Line of key NAME in W, or the section line when it was not set there. */
static struct nv_where config_where(const struct config_lwhere *w,
				    const char *name, struct nv_where dflt)
{
	const struct config_key *k = config_key_find(name, 0);
	struct nv_where r = w->k[k - config_keys];

	return r.file ? r : dflt;
}

/* File index of a where (files are unique pointers). */
static int config_file_index(struct config_ctx *c, const char *file)
{
	for (size_t i = 0; i < c->cfg->nfiles; i++)
		if (c->cfg->files[i] == file)
			return (int)i;
	return 0;
}

/* Error at a where. */
#define config_err_at(c, w, ...) \
	config_err((c), config_file_index((c), (w).file), (w).line, __VA_ARGS__)

/* Resolve user and group of L to ids, supplementary groups and HOME. */
static void config_resolve_ids(struct config_ctx *c, struct nv_listener_conf *l,
			       const struct config_lwhere *w)
{
	struct nv_where wu = config_where(w, "user", l->where);
	struct nv_where wg = config_where(w, "group", l->where);
	struct passwd *pw = NULL;
	const char *uname = NULL;
	bool ok = true;

	if (l->user == NULL && l->group == NULL)
		return;
	l->uid = geteuid();
	l->gid = getegid();
	if (l->user) {
		char *end;
		unsigned long n;
		errno = 0;
		pw = getpwnam(l->user);
		if (pw == NULL && isdigit((unsigned char)l->user[0])) {
			n = strtoul(l->user, &end, 10);
			if (*end == '\0' && n < (unsigned long)UINT32_MAX) {
				pw = getpwuid((uid_t)n);
				if (pw == NULL) { /* a uid without an entry */
					l->uid = (uid_t)n;
					l->gid = (gid_t)n;
					free(l->home);
					l->home = config_strdup("/");
					free(l->user_name);
					l->user_name = config_strdup(l->user);
				}
			} else {
				ok = false;
			}
		} else if (pw == NULL) {
			ok = false;
		}
		if (!ok)
			config_err_at(c, wu, "unknown user '%s'", l->user);
		else if (pw) {
			l->uid = pw->pw_uid;
			l->gid = pw->pw_gid;
			uname = pw->pw_name;
			free(l->home);
			l->home = config_strdup(pw->pw_dir);
			free(l->user_name);
			l->user_name = config_strdup(pw->pw_name);
		}
	}
	if (l->group) {
		struct group *gr = getgrnam(l->group);
		char *end;
		if (gr)
			l->gid = gr->gr_gid;
		else if (isdigit((unsigned char)l->group[0]) &&
			 strtoul(l->group, &end, 10) < UINT32_MAX && *end == '\0')
			l->gid = (gid_t)strtoul(l->group, NULL, 10);
		else {
			config_err_at(c, wg, "unknown group '%s'", l->group);
			ok = false;
		}
	}
	if (!ok)
		return; /* both reported when both are wrong */
	free(l->groups);
	l->groups = NULL;
	l->ngroups = 0;
	if (uname) {
		int n = 32;
		for (int tries = 0; tries < 8; tries++) {
			gid_t *g = realloc(l->groups, (size_t)n * sizeof *g);
			int want = n;
			if (g == NULL) {
				config_oom = true;
				break;
			}
			l->groups = g;
			if (getgrouplist(uname, l->gid, g, &want) >= 0) {
				l->ngroups = want;
				break;
			}
			n = want > n ? want : n * 2;
		}
	} else {
		l->groups = malloc(sizeof *l->groups);
		if (l->groups) {
			l->groups[0] = l->gid;
			l->ngroups = 1;
		}
	}
	l->set_ids = true;
}

/* Checks and derived fields of one listener section. */
static void config_listener_finish(struct config_ctx *c,
				   struct nv_listener_conf *l,
				   const struct config_sect *s,
				   const struct config_lwhere *w)
{
	bool quiet = s->damaged || s->discard;

	if (l->command == NULL && !quiet &&
	    config_where(w, "command", (struct nv_where){0}).file == NULL)
		config_err_at(c, l->where, "listener '%s' has no command",
			      l->name);
	if (l->command && l->shell) {
		char **v = calloc(4, sizeof *v);
		if (v) {
			v[0] = config_strdup("/bin/sh");
			v[1] = config_strdup("-c");
			v[2] = config_strdup(l->command);
		} else {
			config_oom = true;
		}
		config_set_vec(&l->argv, NULL, v);
	}
	if (l->backoff_max_ms < l->backoff_initial_ms) {
		struct nv_where bw = config_where(w, "backoff_max", l->where);
		config_err_at(c, bw, "backoff_max (%s) is shorter than "
			      "backoff_initial", format_duration(l->backoff_max_ms));
	}
	config_resolve_ids(c, l, w);
}

/* Append a copy of L named NAME (instance I) to the configuration. */
static void config_listener_add(struct config_ctx *c,
				const struct nv_listener_conf *l, int i)
{
	struct nv_config *cfg = c->cfg;
	struct nv_listener_conf *n, *d;

	n = realloc(cfg->listeners, (cfg->nlisteners + 1) * sizeof *n);
	if (n == NULL) {
		config_oom = true;
		return;
	}
	cfg->listeners = n;
	d = &n[cfg->nlisteners++];
	config_listener_copy(d, l);
	d->instance = i;
	if (i >= 0) {
		free(d->name);
		if (asprintf(&d->name, "%s.%d", l->base, i) < 0) {
			d->name = NULL;
			config_oom = true;
		}
	}
}

/* ---- reading --------------------------------------------------------- */

static void config_read_file(struct config_ctx *c, const char *path,
			     const char *data, size_t len, int incfile,
			     int incline);

/* Register PATH as file number N of the configuration. */
static int config_add_file(struct config_ctx *c, const char *path)
{
	char **n = realloc(c->cfg->files, (c->cfg->nfiles + 1) * sizeof *n);

	if (n == NULL) {
		config_oom = true;
		return -1;
	}
	c->cfg->files = n;
	n[c->cfg->nfiles] = config_strdup(path);
	if (n[c->cfg->nfiles] == NULL)
		return -1;
	return (int)c->cfg->nfiles++;
}

/* Read PATH whole; report problems at INCFILE:INCLINE (-1: main file). */
static void config_read_path(struct config_ctx *c, const char *path,
			     int incfile, int incline)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;

	const char *e = NULL;

	if (f == NULL)
		e = strerror(errno);
	else if (fstat(fileno(f), &st) < 0)
		e = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		e = "is a directory";
	if (e) {
		if (incfile < 0)
			config_err(c, -1, 0, "%s", e);
		else
			config_err(c, incfile, incline, "include '%s': %s",
				   path, e);
		if (f)
			fclose(f);
		return;
	}
	for (;;) {
		size_t got;
		if (len == cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				config_oom = true;
				break;
			}
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0 || len > NV_CONFIG_FILE_MAX)
			break;
	}
	if (ferror(f)) {
		if (incfile < 0)
			config_err(c, -1, 0, "read error: %s", strerror(errno));
		else
			config_err(c, incfile, incline, "include '%s': %s", path,
				   strerror(errno));
	} else if (len > NV_CONFIG_FILE_MAX) {
		if (incfile < 0)
			config_err(c, -1, 0, "file larger than %d bytes",
				   NV_CONFIG_FILE_MAX);
		else
			config_err(c, incfile, incline,
				   "include '%s': file larger than %d bytes", path,
				   NV_CONFIG_FILE_MAX);
	} else if (!config_oom) {
		config_read_file(c, path, buf ? buf : "", len, incfile, incline);
	}
	free(buf);
	fclose(f);
}

/* The first error glob() met other than a missing directory. */
static int config_glob_errno;

static int config_glob_error(const char *path, int err)
{
	(void)path;
	if (err != ENOENT && err != ENOTDIR && config_glob_errno == 0)
		config_glob_errno = err;
	return 0;
}

/* Does glob(3) see a wildcard in P: '*', '?', or a '[' that a ']'
 * closes (a lone '[' matches itself)? */
static bool glob_pattern(const char *p)
{
	const char *b;
	return strpbrk(p, "*?") != NULL ||
	       ((b = strchr(p, '[')) != NULL && b[1] != '\0' &&
		strchr(b + 2, ']') != NULL);
}

/* include = PATTERN: read every match, in lexical order. */
static void config_include(struct config_ctx *c, int file, int line,
			   const char *val)
{
	const char *inc = c->cfg->files[file];
	const char *slash = strrchr(inc, '/');
	char *pat, *word = NULL, *full = NULL;
	const char *err;
	glob_t g;
	int rc;

	if (c->flags & NV_LOAD_NO_INCLUDE) {
		config_err(c, file, line, "include is not allowed here");
		return;
	}
	if (config_unquote(val, &word, &err) < 0 || word == NULL ||
	    word[0] == '\0') {
		if (word == NULL || word[0] == '\0')
			config_err(c, file, line, "include: empty value");
		else
			config_err(c, file, line, "include '%s': %s", val, err);
		free(word);
		return;
	}
	pat = word;
	if (word[0] != '/' && slash) {
		if (asprintf(&full, "%.*s/%s", (int)(slash - inc), inc, word) < 0) {
			config_oom = true;
			free(word);
			return;
		}
		pat = full;
	}
	/* A directory that does not exist matches nothing, like an empty
	 * one; a directory we may not read is an error. */
	config_glob_errno = 0;
	rc = glob(pat, 0, config_glob_error, &g);
	if (config_glob_errno != 0) {
		config_err(c, file, line, "include '%s': cannot list files: %s",
			   pat, strerror(config_glob_errno));
	} else if (rc == GLOB_NOMATCH) {
		if (!glob_pattern(word))
			config_err(c, file, line, "include '%s': %s", pat,
				   strerror(ENOENT));
	} else if (rc != 0) {
		config_err(c, file, line, "include '%s': cannot list files",
			   pat);
	} else {
		for (size_t i = 0; i < g.gl_pathc; i++)
			config_read_path(c, g.gl_pathv[i], file, line);
	}
	if (rc == 0 || rc == GLOB_NOMATCH)
		globfree(&g);
	free(full);
	free(word);
}

/* Start section [HEAD] (already trimmed) at FILE:LINE. */
static struct config_sect *config_section(struct config_ctx *c, char *head,
					  int file, int line)
{
	struct config_sect *s = NULL, **n;
	const char *prob;
	bool silent = head == NULL; /* a broken header, already reported */

	if (silent)
		head = (char *)"";
	if (strcmp(head, "natsvisor") == 0 || strcmp(head, "defaults") == 0) {
		s = head[0] == 'n' ? &c->daemon : &c->defaults;
		if (!s->seen) {
			s->seen = true;
			s->file = file;
			s->line = line;
		}
		return s;
	}
	if (strncmp(head, "listener:", 9) != 0) {
		const char *known[] = {"natsvisor", "defaults", "listener"};
		char *colon = strchr(head, ':');
		const char *hit = NULL;
		if (colon)
			*colon = '\0';
		for (size_t i = 0; i < 3; i++)
			if (config_distance(head, known[i]) <= 2)
				hit = known[i];
		if (colon)
			*colon = ':';
		if (silent)
			;
		else if (hit && colon)
			config_err(c, file, line,
				   "unknown section [%s]; did you mean [%s%s]?",
				   head, hit, colon);
		else if (hit)
			config_err(c, file, line,
				   "unknown section [%s]; did you mean [%s%s]?",
				   head, hit,
				   strcmp(hit, "listener") == 0 ? ":NAME" : "");
		else
			config_err(c, file, line,
				   "unknown section [%s] (expected [natsvisor], "
				   "[defaults] or [listener:NAME])", head);
		s = calloc(1, sizeof *s);
		if (s == NULL) {
			config_oom = true;
			return &c->top;
		}
		s->kind = SK_OTHER;
		s->discard = true;
	} else {
		const char *name = head + 9;
		s = calloc(1, sizeof *s);
		if (s == NULL) {
			config_oom = true;
			return &c->top;
		}
		s->kind = SK_LISTENER;
		s->name = config_strdup(name);
		if ((prob = config_name_problem(name)) != NULL) {
			if (strlen(name) > 60)
				config_err(c, file, line,
					   "listener name '%.40s...' %s", name,
					   prob);
			else
				config_err(c, file, line,
					   "listener name '%s' %s", name, prob);
			s->discard = true;
		}
		int first = s->discard ? -1 : nidx_get(&c->sects, name);
		if (first >= 0) {
			struct config_sect *o = c->ls[first];
			config_err(c, file, line,
				   "listener '%s' defined twice (first at %s:%d)",
				   name, c->cfg->files[o->file], o->line);
			s->discard = true;
		}
	}
	s->file = file;
	s->line = line;
	n = realloc(c->ls, (c->nls + 1) * sizeof *n);
	if (n == NULL) {
		config_oom = true;
		free(s->name);
		free(s);
		return &c->top;
	}
	c->ls = n;
	c->ls[c->nls++] = s;
	if (s->kind == SK_LISTENER && !s->discard)
		nidx_add(&c->sects, s->name, (int)c->nls - 1);
	return s;
}

/* Add KEY = VAL to section S, checking scope and duplicates. */
static void config_entry(struct config_ctx *c, struct config_sect *s,
			 const char *key, const char *val, int file, int line)
{
	int scope;
	const char *where, *hint;
	struct config_ent *e;
	char sectname[80];

	switch (s->kind) {
	case SK_TOP: scope = CS_TOP; where = "outside any section"; break;
	case SK_DAEMON: scope = CS_DAEMON; where = "in [natsvisor]"; break;
	case SK_DEFAULTS: scope = CS_LISTENER; where = "in [defaults]"; break;
	case SK_LISTENER:
		scope = CS_LISTENER;
		snprintf(sectname, sizeof sectname, "in [listener:%.40s]",
			 s->name);
		where = sectname;
		break;
	default:
		return; /* unknown section: already reported */
	}
	if (strcmp(key, "include") == 0 && (scope & (CS_TOP | CS_DAEMON))) {
		config_include(c, file, line, val);
		return;
	}
	if (config_key_find(key, scope) == NULL) {
		const struct config_key *other = config_key_find(key, 0);
		s->damaged = true;
		if (other && s->kind == SK_TOP)
			config_err(c, file, line,
				   "key '%s' outside any section; put it under %s",
				   key, other->scope & CS_DAEMON ? "[natsvisor]" :
				   "[listener:NAME] or [defaults]");
		else if (other)
			config_err(c, file, line,
				   "key '%s' belongs in %s, not %s", key,
				   other->scope & CS_DAEMON ? "[natsvisor]" :
				   "[listener:NAME] or [defaults]", where + 3);
		else if ((hint = config_suggest(key, scope)) != NULL)
			config_err(c, file, line,
				   "unknown key '%s' %s; did you mean '%s'?", key,
				   where, hint);
		else
			config_err(c, file, line, "unknown key '%s' %s", key,
				   where);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].key, key) == 0) {
			config_err(c, file, line,
				   "duplicate key '%s' (first at %s:%d)", key,
				   c->cfg->files[s->e[i].file], s->e[i].line);
			return;
		}
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		struct config_ent *n = realloc(s->e, ncap * sizeof *n);
		if (n == NULL) {
			config_oom = true;
			return;
		}
		s->e = n;
		s->cap = ncap;
	}
	e = &s->e[s->n++];
	e->key = config_strdup(key);
	e->val = config_strdup(val);
	e->file = file;
	e->line = line;
}

/* Trim white space at both ends, in place. */
static char *config_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* One line of FILE, NUL-terminated, end of line removed. */
static void config_line(struct config_ctx *c, int file, int line, char *raw,
			struct config_sect **cur, char *lastkey, size_t lkcap)
{
	char *s = raw, *eq, *key, *val;
	bool indented;

	while (*s == ' ' || *s == '\t')
		s++;
	indented = s != raw;
	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	if (indented) {
		if (lastkey[0])
			config_err(c, file, line,
				   "indented line is a continuation of '%s'; "
				   "continuation lines are not supported "
				   "(remove the indentation)", lastkey);
		else
			config_err(c, file, line,
				   "indented line; sections and keys must start "
				   "in the first column");
	}
	if (*s == '[') {
		char *end = strchr(s, ']');
		char *after;
		if (end == NULL) {
			config_err(c, file, line, "missing ']' in section header");
			/* Swallow the keys that follow: their section is unknown. */
			*cur = config_section(c, NULL, file, line);
			lastkey[0] = '\0';
			return;
		}
		*end = '\0';
		after = config_trim(end + 1);
		if (*after && *after != ';' && *after != '#')
			config_err(c, file, line,
				   "unexpected text after section header");
		*cur = config_section(c, config_trim(s + 1), file, line);
		lastkey[0] = '\0';
		return;
	}
	eq = strchr(s, '=');
	if (eq == NULL) {
		config_err(c, file, line,
			   "expected 'key = value', a [section] header or a comment");
		(*cur)->damaged = true;
		return;
	}
	*eq = '\0';
	key = config_trim(s);
	if (*key == '\0') {
		config_err(c, file, line, "missing key name before '='");
		(*cur)->damaged = true;
		return;
	}
	snprintf(lastkey, lkcap, "%s", key);
	val = eq + 1;
	if (ini_strip_comment(val) < 0) {
		config_err(c, file, line, "unterminated quote in %s", key);
		(*cur)->damaged = true;
		return;
	}
	val = config_trim(val);
	config_entry(c, *cur, key, val, file, line);
}

/* Split DATA into lines and feed them to config_line. */
static void config_read_file(struct config_ctx *c, const char *path,
			     const char *data, size_t len, int incfile,
			     int incline)
{
	struct config_sect *cur = &c->top;
	char lastkey[64] = "";
	char *real = realpath(path, NULL);
	char *buf = NULL;
	size_t bufcap = 0;
	int file, line = 0;
	size_t pos = 0;

	if (c->depth > CONFIG_INCLUDE_DEPTH) { /* the top file + 16 levels */
		config_err(c, incfile, incline,
			   "include '%s': nested more than %d deep", path,
			   CONFIG_INCLUDE_DEPTH);
		free(real);
		return;
	}
	for (int i = 0; real && i < c->depth; i++) {
		if (strcmp(c->stack[i], real) == 0) {
			config_err(c, incfile, incline,
				   "include '%s': includes itself", path);
			free(real);
			return;
		}
	}
	for (size_t i = 0; real && incfile >= 0 && i < c->nread; i++) {
		/* (The main file is on the stack: "includes itself".) */
		const struct config_read *r = &c->read[i];
		if (r->incfile < 0 || strcmp(r->real, real) != 0)
			continue;
		config_err(c, incfile, incline,
			   "include '%s': already included (at %s:%d)", path,
			   c->cfg->files[r->incfile], r->incline);
		free(real);
		return;
	}
	file = config_add_file(c, path);
	if (file < 0) {
		free(real);
		return;
	}
	if (real) {
		struct config_read *n = realloc(c->read,
						(c->nread + 1) * sizeof(*n));
		char *dup = config_strdup(real);
		if (n && dup) {
			c->read = n;
			c->read[c->nread++] = (struct config_read){ dup, incfile,
								    incline };
		} else {
			if (n)
				c->read = n;
			free(dup);
			config_oom = true;
		}
	}
	c->stack[c->depth++] = real ? real : config_strdup("");
	if (len >= 2 && (((unsigned char)data[0] == 0xff &&
			  (unsigned char)data[1] == 0xfe) ||
			 ((unsigned char)data[0] == 0xfe &&
			  (unsigned char)data[1] == 0xff))) {
		config_err(c, file, 1, "file is UTF-16 encoded; save it as UTF-8");
		goto done;
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
		const char *bad;
		size_t k;

		line++;
		if (n > 0 && data[pos + n - 1] == '\r')
			n--;
		if (n > NV_CONFIG_LINE_MAX) {
			config_err(c, file, line, "line longer than %d bytes",
				   NV_CONFIG_LINE_MAX);
			cur->damaged = true;
			goto next;
		}
		for (k = 0; k < n; k++) {
			unsigned char b = (unsigned char)data[pos + k];
			if ((b < 0x20 && b != '\t') || b == 0x7f)
				break;
			if (b >= 0x80) {
				size_t u = utf8_seq(data + pos + k, n - k);
				if (u == 0) {
					config_err(c, file, line,
						   "invalid UTF-8 (byte 0x%02x at "
						   "column %zu)", b, k + 1);
					cur->damaged = true;
					goto next;
				}
				k += u - 1;
			}
		}
		if (k < n) {
			unsigned char b = (unsigned char)data[pos + k];
			if (b == '\r')
				config_err(c, file, line,
					   "carriage return inside a line");
			else if (b == 0)
				config_err(c, file, line, "NUL byte in line");
			else
				config_err(c, file, line,
					   "control character 0x%02x in line", b);
			cur->damaged = true;
			goto next;
		}
		if (n + 1 > bufcap) {
			char *nb = realloc(buf, n + 1);
			if (nb == NULL) {
				config_oom = true;
				break;
			}
			buf = nb;
			bufcap = n + 1;
		}
		memcpy(buf, data + pos, n);
		buf[n] = '\0';
		/* A BOM inside the file (e.g. files concatenated): report it,
		 * then read the line without it so nothing cascades. */
		while ((bad = memmem(buf, n, "\xef\xbb\xbf", 3)) != NULL) {
			config_err(c, file, line,
				   "byte order mark (U+FEFF) inside the file");
			memmove((char *)bad, bad + 3, n + 1 - (size_t)(bad - buf) - 3);
			n -= 3;
		}
		config_line(c, file, line, buf, &cur, lastkey, sizeof lastkey);
	next:
		pos += (nl ? (size_t)(nl - (data + pos)) + 1 : len - pos);
	}
done:
	free(buf);
	free(c->stack[--c->depth]);
	c->stack[c->depth] = NULL;
}

/* ---- resolving ------------------------------------------------------- */

/* Daemon settings: defaults, entries, checks. */
static void config_resolve_daemon(struct config_ctx *c)
{
	struct nv_config *cfg = c->cfg;
	char *msg;

	for (size_t i = 0; i < NKEYS; i++)
		if ((config_keys[i].scope & CS_DAEMON) && config_keys[i].def &&
		    config_set(&config_keys[i], cfg, config_keys[i].def, &msg) < 0)
			free(msg);
	config_apply(c, &c->daemon, cfg, CS_DAEMON, &c->dwhere);
	if (cfg->control_socket &&
	    strlen(cfg->control_socket) >= NV_UNIX_PATH_MAX) {
		struct nv_where w = config_where(&c->dwhere, "control_socket",
						 (struct nv_where){0});
		config_err_at(c, w,
			      "control_socket is %zu bytes long; a socket path "
			      "must be shorter than %d bytes",
			      strlen(cfg->control_socket), NV_UNIX_PATH_MAX);
	}
	if (cfg->control_group) {
		struct group *gr = getgrnam(cfg->control_group);
		if (gr) {
			cfg->control_gid = gr->gr_gid;
			cfg->has_control_gid = true;
		} else {
			struct nv_where w = config_where(
				&c->dwhere, "control_group", (struct nv_where){0});
			config_err_at(c, w, "unknown group '%s'",
				      cfg->control_group);
		}
	}
	if (cfg->nats_server)
		cfg->nats_server_where = config_where(
			&c->dwhere, "nats_server", (struct nv_where){0});
}

/* Listeners: template from [defaults], then one per section. */
static void config_resolve_listeners(struct config_ctx *c)
{
	struct nv_listener_conf tmpl;
	struct config_lwhere tw = {0};

	config_listener_init(&tmpl);
	config_apply(c, &c->defaults, &tmpl, CS_LISTENER, &tw);
	for (size_t i = 0; i < c->nls; i++) {
		struct config_sect *s = c->ls[i];
		struct nv_listener_conf l;
		struct config_lwhere w = tw;

		if (s->kind != SK_LISTENER)
			continue;
		config_listener_copy(&l, &tmpl);
		free(l.name);
		free(l.base);
		l.name = config_strdup(s->name);
		l.base = config_strdup(s->name);
		l.where = (struct nv_where){c->cfg->files[s->file], s->line};
		config_apply(c, s, &l, CS_LISTENER, &w);
		config_listener_finish(c, &l, s, &w);
		if (!s->discard) {
			if (l.ninstances <= 1) {
				l.ninstances = 1;
				config_listener_add(c, &l, -1);
			} else {
				for (int k = 0; k < l.ninstances; k++)
					config_listener_add(c, &l, k);
			}
		}
		config_listener_clear(&l);
	}
	config_listener_clear(&tmpl);
}

/* Index of the section of listener (base or full) NAME, or -1. */
static int config_sect_of(struct config_ctx *c, const char *name)
{
	const struct nv_listener_conf *l = config_find(c->cfg, name);

	if (l != NULL)
		return nidx_get(&c->sects, l->base);
	if (nidx_get(&c->bases, name) >= 0)
		return nidx_get(&c->sects, name);
	return -1;
}

/* Where the requires key of section S was set. */
static struct config_ent *config_sect_key(struct config_ctx *c,
					  struct config_sect *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].key, key) == 0)
			return &s->e[i];
	for (size_t i = 0; i < c->defaults.n; i++)
		if (strcmp(c->defaults.e[i].key, key) == 0)
			return &c->defaults.e[i];
	return NULL;
}

/* Depth-first search for requires cycles over sections. */
static bool config_cycle_dfs(struct config_ctx *c, int v, int *color,
			     int *path, int depth)
{
	const struct nv_listener_conf *l = config_find(c->cfg, c->ls[v]->name);

	if (l == NULL) {
		char buf[NV_NAME_MAX + 16];
		snprintf(buf, sizeof buf, "%s.0", c->ls[v]->name);
		l = config_find(c->cfg, buf);
	}
	bool found = false;
	color[v] = 1;
	path[depth] = v;
	for (size_t r = 0; l && r < l->nrequires; r++) {
		int w = config_sect_of(c, l->requires[r]);
		if (w < 0)
			continue;
		if (color[w] == 1) {
			/* Report the cycle at the requires line of its start. */
			char msg[1024];
			size_t n = 0;
			int start = depth;
			struct config_ent *e;
			while (start > 0 && path[start] != w)
				start--;
			for (int k = start; k <= depth && n < sizeof msg - 64; k++)
				n += (size_t)snprintf(msg + n, sizeof msg - n,
						      "%s -> ", c->ls[path[k]]->name);
			snprintf(msg + n, sizeof msg - n, "%s", c->ls[w]->name);
			e = config_sect_key(c, c->ls[w], "requires");
			if (e)
				config_err(c, e->file, e->line,
					   "requires cycle: %s", msg);
			found = true;
			break;
		}
		if (color[w] == 0 &&
		    config_cycle_dfs(c, w, color, path, depth + 1)) {
			found = true;
			break;
		}
	}
	/* Done with, also after a cycle: a later search that reaches V
	 * must not take it for a cycle of its own. */
	color[v] = 2;
	return found;
}

/* Is listener I of CFG a later instance of the section before it (the
 * checks made once per section skip those)? */
static bool later_instance(const struct nv_config *cfg, size_t i)
{
	return i > 0 &&
	       strcmp(cfg->listeners[i - 1].base, cfg->listeners[i].base) == 0;
}

/* Where KEY of listener L is set, for a message: the entry in L's
 * section (or NULL), *FILE and *LINE that entry's place, or the section
 * header's when the key is not in the section itself. */
static struct config_ent *key_place(struct config_ctx *c,
				    const struct nv_listener_conf *l,
				    const char *key, int *file, int *line)
{
	int si = nidx_get(&c->sects, l->base);
	struct config_ent *e =
		si >= 0 ? config_sect_key(c, c->ls[si], key) : NULL;
	*file = e ? e->file : config_file_index(c, l->where.file);
	*line = e ? e->line : l->where.line;
	return e;
}

/* Cross-listener checks: unique names, requires targets and cycles. */
static void config_resolve_links(struct config_ctx *c)
{
	struct nv_config *cfg = c->cfg;
	int *color, *path;

	nidx_free(cfg->byname);
	free(cfg->byname);
	cfg->byname = calloc(1, sizeof *cfg->byname);
	if (cfg->byname == NULL)
		config_oom = true;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		if (cfg->byname)
			nidx_add(cfg->byname, cfg->listeners[i].name, (int)i);
		nidx_add(&c->bases, cfg->listeners[i].base, (int)i);
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct nv_listener_conf *a = &cfg->listeners[i];
		int j = nidx_get(cfg->byname, a->name);
		if (j >= 0 && (size_t)j < i &&
		    strcmp(a->base, cfg->listeners[j].base) != 0) {
			const struct nv_listener_conf *b = &cfg->listeners[j];
			if (strcmp(a->name, a->base) != 0)
				config_err_at(c, a->where,
					      "instance '%s' of '%s' clashes "
					      "with the listener '%s' (%s:%d)",
					      a->name, a->base, b->name,
					      b->where.file, b->where.line);
			else
				config_err_at(c, a->where,
					      "listener '%s' clashes with an "
					      "instance of '%s' (%s:%d)",
					      a->name, b->base, b->where.file,
					      b->where.line);
		}
		if (cfg->nats_server && strcmp(a->name, "nats-server") == 0)
			config_err_at(c, a->where,
				      "listener name 'nats-server' is taken by "
				      "the embedded server");
	}
	/* A ping subject answers for one process: a pong from another would
	 * make the listener look ready (instances, or two listeners, sharing
	 * one).  Reported where the second one's ping_subject is set. */
	struct nv_name_index pings = { 0 };
	const struct config_ent *shared_said = NULL;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct nv_listener_conf *a = &cfg->listeners[i];
		if (a->ping_subject == NULL)
			continue;
		int j = nidx_get(&pings, a->ping_subject);
		if (j < 0) {
			nidx_add(&pings, a->ping_subject, (int)i);
			continue;
		}
		const struct nv_listener_conf *b = &cfg->listeners[j];
		int file, line, fb, lb;
		struct config_ent *e =
			key_place(c, a, "ping_subject", &file, &line);
		if (strcmp(a->base, b->base) == 0)
			config_err(c, file, line,
				   "ping_subject '%s' would be shared by the %d "
				   "instances of '%s': each must be pinged on "
				   "its own subject",
				   a->ping_subject, a->ninstances, a->base);
		else {
			/* the other one's ping_subject line, as for A */
			struct config_ent *eb =
				key_place(c, b, "ping_subject", &fb, &lb);
			if (e && e == eb && e == shared_said)
				; /* said once for that line */
			else if (e && e == eb) { /* [defaults]: one line */
				shared_said = e;
				config_err(c, file, line,
					   "ping_subject '%s' would be shared "
					   "by '%s' and '%s' (and any other "
					   "listener without its own): each "
					   "must be pinged on its own subject",
					   a->ping_subject, b->base, a->base);
			} else
				config_err(c, file, line,
					   "ping_subject '%s' is also that of "
					   "'%s' (%s:%d): a pong from one "
					   "would make the other look ready",
					   a->ping_subject, b->base,
					   c->cfg->files[fb], lb);
		}
	}
	nidx_free(&pings);
	/* A ping subject inside a listener's subjects: that listener would
	 * take the pings as messages (and store them).  Once per section,
	 * not per instance. */
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct nv_listener_conf *a = &cfg->listeners[i];
		if (a->ping_subject == NULL || later_instance(cfg, i))
			continue;
		for (size_t j = 0; j < cfg->nlisteners; j++) {
			const struct nv_listener_conf *b = &cfg->listeners[j];
			size_t k = 0;
			if (later_instance(cfg, j))
				continue;
			while (k < b->nsubjects &&
			       !subject_matches(b->subjects[k], a->ping_subject))
				k++;
			if (k == b->nsubjects)
				continue;
			int file, line, fb, lb;
			bool own = strcmp(a->base, b->base) == 0;
			key_place(c, a, "ping_subject", &file, &line);
			key_place(c, b, "subjects", &fb, &lb);
			config_err(c, file, line,
				   "ping_subject '%s' is covered by '%s', %s%s%s "
				   "(%s:%d): the pings would arrive as messages",
				   a->ping_subject, b->subjects[k],
				   own ? "one of its own subjects" : "a subject of '",
				   own ? "" : b->base, own ? "" : "'",
				   c->cfg->files[fb], lb);
			break;
		}
	}
	/* A ping subject where something other than a listener answers:
	 * natsvisord itself (natsvisor.<id>.status, of this instance or
	 * another), the server ($SYS, $JS), JetStream's acks ($KV, $O
	 * streams), requesters' inboxes.  Its replies would count as pongs
	 * (any reply does), so a dead listener would look ready.  Once per
	 * section. */
	static const char *const reserved[] = {
		"natsvisor.", "_NATSVISOR.", "_INBOX.", "$SYS.", "$JS.",
		"$KV.", "$O.",
	};
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		const struct nv_listener_conf *a = &cfg->listeners[i];
		size_t r = 0;
		if (a->ping_subject == NULL || later_instance(cfg, i))
			continue;
		while (r < sizeof reserved / sizeof *reserved &&
		       strncmp(a->ping_subject, reserved[r],
			       strlen(reserved[r])) != 0)
			r++;
		if (r == sizeof reserved / sizeof *reserved)
			continue;
		int file, line;
		key_place(c, a, "ping_subject", &file, &line);
		config_err(c, file, line,
			   "ping_subject '%s' is under %s>, where others "
			   "than the listener answer (natsvisord, the "
			   "server, JetStream, requesters): their replies "
			   "would count as pongs", a->ping_subject,
			   reserved[r]);
	}
	/* The same for the ping subjects natsvisord makes up
	 * (_NATSVISOR.<id>.<nonce>.<name>.<n>; the nonce is new each run):
	 * a subject that covers one of them ('>', '_NATSVISOR.>') is an
	 * error, once per section. */
	for (size_t j = 0; j < cfg->nlisteners; j++) {
		const struct nv_listener_conf *b = &cfg->listeners[j];
		if (later_instance(cfg, j))
			continue;
		for (size_t k = 0; k < b->nsubjects; k++) {
			const struct nv_listener_conf *a = NULL;
			char ping[NV_NAME_MAX + 128];
			for (size_t i = 0; i < cfg->nlisteners && !a; i++) {
				if (cfg->listeners[i].ping_subject)
					continue;
				snprintf(ping, sizeof(ping),
					 "_NATSVISOR.%s.n.%s.1",
					 cfg->instance_id ? cfg->instance_id : "x",
					 cfg->listeners[i].name);
				if (subject_matches(b->subjects[k], ping))
					a = &cfg->listeners[i];
			}
			if (a == NULL)
				continue;
			int fb, lb;
			key_place(c, b, "subjects", &fb, &lb);
			config_err(c, fb, lb,
				   "subjects: '%s' covers the ping subjects "
				   "natsvisord makes up for '%s' (under "
				   "_NATSVISOR.>): the pings would arrive as "
				   "messages", b->subjects[k], a->base);
			break;
		}
	}
	for (size_t i = 0; i < c->nls; i++) {
		struct config_sect *s = c->ls[i];
		const struct nv_listener_conf *l;
		struct config_ent *e;
		char buf[NV_NAME_MAX + 16];

		if (s->discard || s->kind != SK_LISTENER)
			continue;
		l = config_find(cfg, s->name);
		snprintf(buf, sizeof buf, "%s.0", s->name);
		if (l == NULL)
			l = config_find(cfg, buf);
		if (l == NULL || l->nrequires == 0)
			continue;
		e = config_sect_key(c, s, "requires");
		for (size_t r = 0; r < l->nrequires && e; r++)
			if (config_sect_of(c, l->requires[r]) < 0)
				config_err(c, e->file, e->line,
					   "requires unknown listener '%s'",
					   l->requires[r]);
	}
	color = calloc(c->nls + 1, sizeof *color);
	path = calloc(c->nls + 1, sizeof *path);
	for (size_t i = 0; color && path && i < c->nls; i++)
		if (!c->ls[i]->discard && c->ls[i]->kind == SK_LISTENER &&
		    color[i] == 0)
			config_cycle_dfs(c, (int)i, color, path, 0);
	free(color);
	free(path);
}

/* Stable order: by file, then line, then discovery. */
static int config_err_cmp(const void *a, const void *b)
{
	const struct config_err *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Free a parsed section. */
static void config_sect_free(struct config_sect *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].key);
		free(s->e[i].val);
	}
	free(s->e);
	free(s->name);
}

/* The loader behind config_load and config_load_buffer. */
static struct nv_config *config_load_common(const char *name, const char *data,
					    size_t len, unsigned flags,
					    struct nv_errors *errs)
{
	struct config_ctx c = {0};
	struct nv_config *cfg = calloc(1, sizeof *cfg);

	config_oom = false;
	if (cfg == NULL) {
		errors_add(errs, "%s: out of memory", name);
		return NULL;
	}
	c.cfg = cfg;
	c.flags = flags;
	c.top.kind = SK_TOP;
	c.daemon.kind = SK_DAEMON;
	c.defaults.kind = SK_DEFAULTS;
	cfg->path = config_strdup(name);
	if (data)
		config_read_file(&c, name, data, len, -1, 0);
	else
		config_read_path(&c, name, -1, 0);
	if (cfg->nfiles > 0) {
		config_resolve_daemon(&c);
		config_resolve_listeners(&c);
		config_resolve_links(&c);
	}
	if (config_oom)
		config_err(&c, -1, 0, "out of memory");
	if (c.nerrs > 1)
		qsort(c.errs, c.nerrs, sizeof *c.errs, config_err_cmp);
	for (size_t i = 0; i < c.nerrs; i++) {
		struct config_err *e = &c.errs[i];
		if (e->file < 0)
			errors_add(errs, "%s: %s", name, e->msg);
		else
			errors_add(errs, "%s:%d: %s", cfg->files[e->file],
				   e->line, e->msg);
		free(e->msg);
	}
	free(c.errs);
	config_sect_free(&c.top);
	config_sect_free(&c.daemon);
	config_sect_free(&c.defaults);
	for (size_t i = 0; i < c.nls; i++) {
		config_sect_free(c.ls[i]);
		free(c.ls[i]);
	}
	free(c.ls);
	nidx_free(&c.sects);
	nidx_free(&c.bases);
	for (size_t i = 0; i < c.nread; i++)
		free(c.read[i].real);
	free(c.read);
	if (c.nerrs > 0) {
		if (errs->n == 0)
			errors_add(errs, "%s: out of memory", name);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Load PATH and its includes. */
struct nv_config *config_load(const char *path, struct nv_errors *errs)
{
	return config_load_common(path, NULL, 0, 0, errs);
}

/* Load from memory (tests, the fuzzer, a reload from a pipe). */
struct nv_config *config_load_buffer(const char *name, const char *data,
				     size_t len, unsigned flags,
				     struct nv_errors *errs)
{
	return config_load_common(name, data ? data : "", len, flags, errs);
}

/* Free a configuration and everything it owns; NULL is fine. */
void config_free(struct nv_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nlisteners; i++)
		config_listener_clear(&cfg->listeners[i]);
	free(cfg->listeners);
	nidx_free(cfg->byname);
	free(cfg->byname);
	for (size_t i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->path);
	argv_free(cfg->nats_urls);
	free(cfg->nats_creds);
	free(cfg->nats_user);
	free(cfg->nats_password);
	free(cfg->nats_token);
	free(cfg->nats_nkey_seed);
	free(cfg->tls_ca);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->nats_server);
	argv_free(cfg->nats_server_argv);
	free(cfg->control_socket);
	free(cfg->control_group);
	free(cfg->pidfile);
	free(cfg->instance_id);
	free(cfg);
}

/* By full name: through the index once the load has built it. */
const struct nv_listener_conf *config_find(const struct nv_config *cfg,
					   const char *name)
{
	if (cfg && cfg->byname) {
		int i = nidx_get(cfg->byname, name);
		return i >= 0 ? &cfg->listeners[i] : NULL;
	}
	for (size_t i = 0; cfg && i < cfg->nlisteners; i++)
		if (strcmp(cfg->listeners[i].name, name) == 0)
			return &cfg->listeners[i];
	return NULL;
}

/* ---- comparing ------------------------------------------------------- */

/* NULL-safe string equality. */
static bool config_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Vector equality. */
static bool config_vec_eq(char *const *a, char *const *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return *a == NULL && *b == NULL;
}

/* Exactly the keys marked "restart" in the table, plus what derives
 * from them (argv, ids, groups, HOME). */
bool config_listener_changed(const struct nv_listener_conf *a,
			     const struct nv_listener_conf *b)
{
	return !config_vec_eq(a->argv, b->argv) || a->shell != b->shell ||
	       !config_str_eq(a->command, b->command) ||
	       !config_vec_eq(a->subjects, b->subjects) ||
	       !config_str_eq(a->queue_group, b->queue_group) ||
	       !config_str_eq(a->ping_subject, b->ping_subject) ||
	       !config_str_eq(a->user, b->user) ||
	       !config_str_eq(a->group, b->group) || a->set_ids != b->set_ids ||
	       a->uid != b->uid || a->gid != b->gid ||
	       a->ngroups != b->ngroups ||
	       (a->ngroups > 0 &&
		memcmp(a->groups, b->groups,
		       (size_t)a->ngroups * sizeof *a->groups) != 0) ||
	       !config_str_eq(a->home, b->home) ||
	       !config_str_eq(a->user_name, b->user_name) ||
	       !config_str_eq(a->directory, b->directory) ||
	       a->umask != b->umask || a->limit_nofile != b->limit_nofile ||
	       a->limit_core != b->limit_core ||
	       !config_vec_eq(a->environment, b->environment) ||
	       a->clear_environment != b->clear_environment;
}

/* Daemon keys marked "restart" that differ between A and B. */
const char *config_daemon_unchangeable(const struct nv_config *a,
				       const struct nv_config *b)
{
	static char buf[512];
	size_t n = 0;

	buf[0] = '\0';
#define CONFIG_DIFF(cond, name)                                              \
	do {                                                                 \
		if ((cond) && n < sizeof buf - 32)                           \
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", \
					      n ? "," : "", name);           \
	} while (0)
	CONFIG_DIFF(!config_vec_eq(a->nats_urls, b->nats_urls), "nats_url");
	CONFIG_DIFF(!config_str_eq(a->nats_creds, b->nats_creds), "nats_creds");
	CONFIG_DIFF(!config_str_eq(a->nats_user, b->nats_user), "nats_user");
	CONFIG_DIFF(!config_str_eq(a->nats_password, b->nats_password),
		    "nats_password");
	CONFIG_DIFF(!config_str_eq(a->nats_token, b->nats_token), "nats_token");
	CONFIG_DIFF(!config_str_eq(a->nats_nkey_seed, b->nats_nkey_seed),
		    "nats_nkey_seed");
	CONFIG_DIFF(!config_str_eq(a->tls_ca, b->tls_ca), "tls_ca");
	CONFIG_DIFF(!config_str_eq(a->tls_cert, b->tls_cert), "tls_cert");
	CONFIG_DIFF(!config_str_eq(a->tls_key, b->tls_key), "tls_key");
	CONFIG_DIFF(!config_str_eq(a->nats_server, b->nats_server),
		    "nats_server");
	CONFIG_DIFF(!config_str_eq(a->control_socket, b->control_socket),
		    "control_socket");
	CONFIG_DIFF(!config_str_eq(a->control_group, b->control_group),
		    "control_group");
	CONFIG_DIFF(!config_str_eq(a->pidfile, b->pidfile), "pidfile");
	CONFIG_DIFF(!config_str_eq(a->instance_id, b->instance_id),
		    "instance_id");
	CONFIG_DIFF(a->nats_control != b->nats_control, "nats_control");
#undef CONFIG_DIFF
	return buf;
}

/* ---- documentation and --check --------------------------------------- */

/* One tab-separated line per key: section, key, type, default, bounds,
 * reload or restart, description (read by tests/conf/keys.sh). */
void config_dump_keys(void *stdio_file)
{
	FILE *f = stdio_file;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char lo[32], hi[32];
		const char *sect = k->scope & CS_DAEMON ? "natsvisor" : "listener";

		fprintf(f, "%s\t%s\t%s\t%s\t", sect, k->name,
			config_type_names[k->type], k->def ? k->def : k->defdoc);
		if (k->min <= k->max)
			fprintf(f, "%s..%s", config_bound(k, k->min, lo, sizeof lo),
				config_bound(k, k->max, hi, sizeof hi));
		else
			fputs("-", f);
		fprintf(f, "\t%s\t%s\n", k->reload ? "reload" : "restart",
			k->desc);
	}
}

/* Print W shell-quoted when it needs it. */
static void config_print_word(FILE *f, const char *w)
{
	bool plain = *w != '\0';

	for (const char *p = w; *p && plain; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_@%+=:,./-", *p))
			plain = false;
	if (plain) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

/* One "listener NAME: WHAT = words" line. */
static void config_print_vec(FILE *f, const char *name, const char *what,
			     char *const *v)
{
	char buf[1024];
	fprintf(f, "listener %s: %s =", name, what);
	for (size_t i = 0; v && v[i]; i++) {
		fputc(' ', f);
		config_print_word(f, strcmp(what, "argv") == 0 ?
			arg_redact(i ? v[i - 1] : NULL, v[i], buf, sizeof(buf)) :
			v[i]);
	}
	fputc('\n', f);
}

/* ENTRY (NAME=VALUE) as --check -v shows it: the value of a variable
 * whose name is secret (name_is_secret) as "***", a URL's password
 * hidden (url_redact). */
static const char *config_env_shown(const char *entry, char *buf,
				    size_t size)
{
	const char *eq = strchr(entry, '=');
	size_t n = eq ? (size_t)(eq - entry) : 0;

	if (eq == NULL)
		return entry;
	if (name_is_secret(entry, n)) {
		snprintf(buf, size, "%.*s=***", (int)n, entry);
		return buf;
	}
	if (strstr(eq, "://") == NULL)
		return entry;
	snprintf(buf, size, "%.*s=", (int)n, entry);
	url_redact(eq + 1, buf + n + 1, size > n + 1 ? size - n - 1 : 0);
	return buf;
}

/* natsvisord --check: the exact output is part of the contract and is
 * pinned by tests/conf/run.sh. */
int config_check_main(const char *path, int verbose)
{
	struct nv_errors errs = {0};
	struct nv_config *cfg = config_load(path, &errs);

	if (cfg == NULL) {
		fflush(stdout);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		errors_clear(&errs);
		return 78;
	}
	for (size_t i = 0; verbose > 0 && i < cfg->nlisteners; i++) {
		const struct nv_listener_conf *l = &cfg->listeners[i];
		config_print_vec(stdout, l->name, "argv", l->argv);
		if (l->subjects && l->subjects[0])
			config_print_vec(stdout, l->name, "subjects",
					 l->subjects);
		if (l->environment) {
			char buf[1024];
			printf("listener %s: environment =", l->name);
			for (char **e = l->environment; *e; e++) {
				putchar(' ');
				config_print_word(stdout, config_env_shown(
					*e, buf, sizeof(buf)));
			}
			putchar('\n');
		}
	}
	if (verbose > 0 && cfg->nats_server_argv)
		config_print_vec(stdout, "nats-server", "argv",
				 cfg->nats_server_argv);
	printf("configuration OK\n");
	fflush(stdout);
	config_free(cfg);
	return 0;
}
