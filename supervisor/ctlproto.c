/*
 * ctlproto.c: the control-socket wire format and the natsvisorctl command
 * parser, shared by the daemon and the client.  Pure: no libuv, no nats.c.
 *
 * Decoding is incremental and strict: the daemon calls
 * ctl_decode_request() after every read, so each call re-walks the frame
 * from the start (cheap: at most CTL_ARGS_MAX small headers) and refuses a
 * frame as soon as the bytes seen so far cannot start a valid one; nothing
 * is allocated until the whole frame has arrived.  That keeps a hostile
 * client from making the daemon buffer more than one bounded request.
 *
 * The command table drives parsing, the client's usage errors and its
 * --help, so the three never disagree.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlproto.h"
#include "parse.h"
#include "subject.h"


int ctl_parse_timeout(const char *s, uint64_t *ms, const char **err)
{
	uint64_t v;
	if (parse_duration(s, &v, err) < 0)
		return -1;
	if (v == 0) {
		*err = "must be more than 0 (is-ready asks without waiting)";
		return -1;
	}
	*ms = v;
	return 0;
}

static const struct ctl_verb_info verbs[] = {
	{ "status", CTL_STATUS, "[--json] [NAME...]",
	  "show the state and health of listeners (all without NAME)" },
	{ "is-ready", CTL_IS_READY, "NAME...",
	  "exit 0 when every NAME is ready now, 1 otherwise" },
	{ "wait-ready", CTL_WAIT_READY, "[--timeout DUR] [NAME...]",
	  "wait until every NAME (all autostart listeners) is ready" },
	{ "start", CTL_START, "NAME...|--all", "start listeners" },
	{ "stop", CTL_STOP, "NAME...|--all", "stop listeners" },
	{ "restart", CTL_RESTART, "NAME...|--all", "stop, then start listeners" },
	{ "signal", CTL_SIGNAL, "SIG NAME...",
	  "send SIG (TERM, SIGHUP, 10...) to the process group of each NAME" },
	{ "reload", CTL_RELOAD, "",
	  "read the configuration again; apply it only when it is valid" },
	{ "publish", CTL_PUBLISH,
	  "[--timeout DUR] [--confirm] [-H K:V]... SUBJECT [DATA]",
	  "publish once every listener covering SUBJECT is ready "
	  "(DATA from stdin when absent)" },
	{ "version", CTL_VERSION, "", "show the versions of client and daemon" },
	{ NULL, 0, NULL, NULL },
};

/* Option flags per command. */
enum {
	O_JSON = 1 << 0,
	O_TIMEOUT = 1 << 1,
	O_ALL = 1 << 2,
	O_CONFIRM = 1 << 3,
	O_HEADER = 1 << 4,
};

static const struct {
	const char *lname; /* "--json" */
	char sname;        /* 'H' or 0 */
	int flag;
	const char *arg;
	const char *verbs;
	const char *help;
} opts[] = {
	{ "--json", 0, O_JSON, NULL, "status", "print JSON instead of text" },
	{ "--timeout", 0, O_TIMEOUT, "DUR", "wait-ready, publish",
	  "give up after DUR (250ms, 5s, 2m; above 0; default 30s)" },
	{ "--all", 0, O_ALL, NULL, "start, stop, restart",
	  "every configured listener" },
	{ "--confirm", 0, O_CONFIRM, NULL, "publish",
	  "wait for the receiving listener's acknowledgement" },
	{ "--header", 'H', O_HEADER, "K:V", "publish",
	  "add a message header (repeatable)" },
};
#define NOPTS (sizeof opts / sizeof opts[0])

static struct ctl_opt_info opt_infos[NOPTS + 1];

/* Which options each command accepts, indexed by enum ctl_verb. */
static const int verb_opts[] = {
	[CTL_STATUS] = O_JSON,
	[CTL_IS_READY] = 0,
	[CTL_WAIT_READY] = O_TIMEOUT,
	[CTL_START] = O_ALL,
	[CTL_STOP] = O_ALL,
	[CTL_RESTART] = O_ALL,
	[CTL_SIGNAL] = 0,
	[CTL_RELOAD] = 0,
	[CTL_PUBLISH] = O_TIMEOUT | O_CONFIRM | O_HEADER,
	[CTL_VERSION] = 0,
};

/* The command table, NULL-terminated. */
const struct ctl_verb_info *ctl_verb_table(void)
{
	return verbs;
}

/* Look a command up by name. */
const struct ctl_verb_info *ctl_verb_find(const char *name)
{
	for (const struct ctl_verb_info *v = verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* Look a command up by verb. */
const struct ctl_verb_info *ctl_verb_info(enum ctl_verb verb)
{
	for (const struct ctl_verb_info *v = verbs; v->name; v++)
		if (v->verb == verb)
			return v;
	return NULL;
}

/* The option table for --help (built once; single-threaded callers). */
const struct ctl_opt_info *ctl_opt_table(void)
{
	if (opt_infos[0].name == NULL)
		for (size_t i = 0; i < NOPTS; i++)
			opt_infos[i] = (struct ctl_opt_info){
				opts[i].lname, opts[i].arg, opts[i].verbs,
				opts[i].help };
	return opt_infos;
}

/* Copy S into BUF for a message: at most 48 bytes, non-printable bytes as
 * \xHH, so a hostile argument never reaches a terminal or log raw. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 8 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if (o >= 48) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
	}
	buf[o] = '\0';
	return buf;
}

/* A listener name: 1..CTL_NAME_MAX bytes of letters, digits, '-', '_',
 * '.'; the daemon decides whether it exists. */
static bool name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("-_.", s[n]))
			return false;
	return n > 0 && n <= CTL_NAME_MAX;
}

/* A header "K:V": K is 1..64 printable bytes without ':' or space, V any
 * bytes but CR, LF (and NUL, implied) up to CTL_ARG_MAX. */
static bool header_valid(const char *s)
{
	const char *colon = strchr(s, ':');

	if (colon == NULL || colon == s || colon - s > 64)
		return false;
	for (const char *p = s; p < colon; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return false;
	return strpbrk(colon + 1, "\r\n") == NULL;
}

/* True when any token of S is a wildcard ("*" or ">"). */
static bool has_wildcard(const char *s)
{
	for (const char *t = s;; t++) {
		const char *dot = strchr(t, '.');
		size_t n = dot ? (size_t)(dot - t) : strlen(t);
		if (n == 1 && (*t == '*' || *t == '>'))
			return true;
		if (dot == NULL)
			return false;
		t = dot;
	}
}

/* Write a formatted message into ERR and return -1. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Find the option spelled by ARG ("--timeout", "--timeout=5s", "-H",
 * "-HK:V"); *VAL gets an attached value or NULL.  Index or -1. */
static int opt_find(const char *arg, const char **val)
{
	*val = NULL;
	if (arg[1] == '-') {
		const char *eq = strchr(arg, '=');
		size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
		for (size_t i = 0; i < NOPTS; i++)
			if (strlen(opts[i].lname) == n &&
			    memcmp(opts[i].lname, arg, n) == 0) {
				if (eq)
					*val = eq + 1;
				return (int)i;
			}
		return -1;
	}
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].sname && arg[1] == opts[i].sname) {
			if (arg[2])
				*val = arg + 2;
			return (int)i;
		}
	return -1;
}

/* Apply option I with value VAL to CMD; 0 or -1 with ERR. */
static int opt_apply(struct ctl_cmd *cmd, const char *vname, size_t i,
		     const char *val, char *err, size_t errlen)
{
	char eb[128];
	const char *e;

	switch (opts[i].flag) {
	case O_JSON:
		cmd->json = true;
		break;
	case O_ALL:
		cmd->all = true;
		break;
	case O_CONFIRM:
		cmd->confirm = true;
		break;
	case O_TIMEOUT:
		if (ctl_parse_timeout(val, &cmd->timeout_ms, &e) < 0)
			return fail(err, errlen, "%s: --timeout '%s': %s",
				    vname, esc(val, eb, sizeof eb), e);
		break;
	case O_HEADER:
		if (!header_valid(val))
			return fail(err, errlen,
				    "%s: header '%s' is not KEY:VALUE", vname,
				    esc(val, eb, sizeof eb));
		if (cmd->nheaders >= CTL_HEADERS_MAX)
			return fail(err, errlen, "%s: more than %d headers",
				    vname, CTL_HEADERS_MAX);
		cmd->headers[cmd->nheaders++] = val;
		break;
	}
	return 0;
}

/* Check the positional arguments POS[0..NPOS) of CMD and fill it in. */
static int parse_positional(struct ctl_cmd *cmd, const char *vname,
			    const char **pos, int npos, char *err,
			    size_t errlen)
{
	char eb[128];
	const char *e;
	int first = 0; /* index of the first NAME in POS */

	switch (cmd->verb) {
	case CTL_STATUS:
	case CTL_WAIT_READY:
		break;
	case CTL_IS_READY:
		if (npos == 0)
			return fail(err, errlen,
				    "%s: name at least one listener", vname);
		break;
	case CTL_START:
	case CTL_STOP:
	case CTL_RESTART:
		if (cmd->all && npos)
			return fail(err, errlen,
				    "%s: give listener names or --all, not both",
				    vname);
		if (!cmd->all && npos == 0)
			return fail(err, errlen,
				    "%s: name at least one listener, or --all",
				    vname);
		break;
	case CTL_SIGNAL:
		if (npos < 2)
			return fail(err, errlen,
				    "%s: give a signal and at least one "
				    "listener", vname);
		if (parse_signal(pos[0], &cmd->signal, &e) < 0)
			return fail(err, errlen, "%s: '%s': %s", vname,
				    esc(pos[0], eb, sizeof eb), e);
		first = 1;
		break;
	case CTL_RELOAD:
	case CTL_VERSION:
		if (npos)
			return fail(err, errlen, "%s: unexpected argument '%s'",
				    vname, esc(pos[0], eb, sizeof eb));
		break;
	case CTL_PUBLISH:
		if (npos == 0)
			return fail(err, errlen, "%s: give a subject", vname);
		if (npos > 2)
			return fail(err, errlen,
				    "%s: unexpected argument '%s' (quote DATA "
				    "that contains spaces)", vname,
				    esc(pos[2], eb, sizeof eb));
		if (!subject_valid(pos[0], false)) {
			if (subject_valid(pos[0], true) ||
			    has_wildcard(pos[0]))
				return fail(err, errlen,
					    "%s: subject '%s' contains "
					    "wildcards: a publish needs a "
					    "literal subject", vname,
					    esc(pos[0], eb, sizeof eb));
			return fail(err, errlen, "%s: invalid subject '%s'",
				    vname, esc(pos[0], eb, sizeof eb));
		}
		cmd->subject = pos[0];
		cmd->data = npos > 1 ? pos[1] : NULL;
		return 0; /* no names */
	}
	for (int i = first; i < npos; i++) {
		if (!name_valid(pos[i]))
			return fail(err, errlen,
				    "%s: invalid listener name '%s'", vname,
				    esc(pos[i], eb, sizeof eb));
		cmd->names[cmd->nnames++] = pos[i];
	}
	return 0;
}

/* Parse a command line; see ctlproto.h. */
int ctl_parse_cmd(int argc, char **argv, struct ctl_cmd *cmd, char *err,
		  size_t errlen)
{
	const struct ctl_verb_info *v;
	const char **pos;
	char eb[128];
	int npos = 0, rc;
	bool endopts = false;

	memset(cmd, 0, sizeof *cmd);
	cmd->timeout_ms = CTL_TIMEOUT_DEFAULT_MS;
	if (argc < 1 || argv[0] == NULL)
		return fail(err, errlen, "no command given");
	v = ctl_verb_find(argv[0]);
	if (v == NULL)
		return fail(err, errlen, "unknown command '%s'",
			    esc(argv[0], eb, sizeof eb));
	cmd->verb = v->verb;
	/* One array serves twice: the positional arguments, then the names
	 * (a suffix of them), moved to its front. */
	pos = calloc((size_t)argc, sizeof *pos);
	if (pos == NULL)
		return fail(err, errlen, "out of memory");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val;
		int o;

		if (endopts || a[0] != '-' || a[1] == '\0') {
			pos[npos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			endopts = true;
			continue;
		}
		o = opt_find(a, &val);
		if (o < 0 || !(verb_opts[v->verb] & opts[o].flag)) {
			free(pos);
			return fail(err, errlen, "%s: unknown option '%s'",
				    v->name, esc(a, eb, sizeof eb));
		}
		if (opts[o].arg == NULL && val) {
			free(pos);
			return fail(err, errlen, "%s: %s takes no value",
				    v->name, opts[o].lname);
		}
		if (opts[o].arg && val == NULL) {
			if (i + 1 >= argc) {
				free(pos);
				return fail(err, errlen,
					    "%s: %s needs a value (%s)",
					    v->name, esc(a, eb, sizeof eb),
					    opts[o].arg);
			}
			val = argv[++i];
		}
		if (opt_apply(cmd, v->name, (size_t)o, val, err, errlen) < 0) {
			free(pos);
			return -1;
		}
	}
	cmd->names = pos;
	rc = parse_positional(cmd, v->name, pos, npos, err, errlen);
	if (rc < 0) {
		free(pos);
		cmd->names = NULL;
		cmd->nnames = 0;
	}
	return rc;
}

/* Limits of a request; see ctlproto.h. */
int ctl_request_check(int argc, char **argv, size_t bodylen, const char **err)
{
	if (argc < 1) {
		*err = "request without a command";
		return -1;
	}
	if (argc > CTL_ARGS_MAX) {
		*err = "too many arguments (at most 1024)";
		return -1;
	}
	for (int i = 0; i < argc; i++)
		if (strlen(argv[i]) > CTL_ARG_MAX) {
			*err = "argument too long (at most 4096 bytes)";
			return -1;
		}
	if (bodylen > CTL_BODY_MAX) {
		*err = "message body too large (at most 8 MiB)";
		return -1;
	}
	return 0;
}

/* Encode a request frame; see ctlproto.h. */
int ctl_encode_request(int argc, char **argv, const void *body, size_t bodylen,
		       char **out, size_t *outlen)
{
	const char *e;
	size_t n, o;
	char *b;

	if (ctl_request_check(argc, argv, bodylen, &e) < 0) {
		errno = argc < 1 ? EINVAL : E2BIG;
		return -1;
	}
	n = CTL_HEADER_MAX + bodylen;
	for (int i = 0; i < argc; i++)
		n += 8 + strlen(argv[i]);
	b = malloc(n);
	if (b == NULL)
		return -1;
	o = (size_t)snprintf(b, n, "NV1 %d %zu\n", argc, bodylen);
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);
		o += (size_t)snprintf(b + o, n - o, "%zu ", l);
		memcpy(b + o, argv[i], l);
		o += l;
		b[o++] = '\n';
	}
	if (bodylen)
		memcpy(b + o, body, bodylen);
	*out = b;
	*outlen = o + bodylen;
	return 0;
}

/* Read a decimal number at *POS ending with TERM, at most MAX.  1 read
 * (*POS past TERM), 0 need more bytes, -1 malformed (*ERR = TOOBIG when
 * above MAX, else a generic message). */
static int dec_num(const char *buf, size_t len, size_t *pos, char term,
		   uint64_t max, uint64_t *v, const char **err,
		   const char *toobig)
{
	size_t p = *pos;
	uint64_t n = 0;

	for (;; p++) {
		if (p >= len)
			return 0;
		if (buf[p] == term && p > *pos)
			break;
		if (buf[p] < '0' || buf[p] > '9') {
			*err = "malformed request: bad number";
			return -1;
		}
		if (p > *pos && buf[*pos] == '0') {
			*err = "malformed request: number with a leading zero";
			return -1;
		}
		n = n * 10 + (uint64_t)(buf[p] - '0');
		if (n > max) {
			*err = toobig;
			return -1;
		}
	}
	*pos = p + 1;
	*v = n;
	return 1;
}

/* Check the "NV1 " magic at the start of BUF: 1 ok, 0 need more, -1. */
static int dec_magic(const char *buf, size_t len, const char **err)
{
	static const char magic[] = "NV1 ";

	for (size_t i = 0; i < 4 && i < len; i++)
		if (buf[i] != magic[i]) {
			if (i == 2 && buf[0] == 'N' && buf[1] == 'V' &&
			    buf[2] >= '0' && buf[2] <= '9')
				*err = "unsupported protocol version "
				       "(this natsvisord speaks NV1)";
			else
				*err = "malformed request: not a natsvisor "
				       "control request";
			return -1;
		}
	return len >= 4 ? 1 : 0;
}

/* What a walk over a complete request frame found. */
struct walk {
	uint64_t argc, bodylen;
	size_t strbytes; /* argument bytes, each with its NUL */
};

/* Walk a request frame, filling W.  With REQ->argv set (a block sized
 * from an earlier walk), also copies arguments and body into it.  Returns
 * as ctl_decode_request(). */
static int dec_walk(const char *buf, size_t len, struct ctl_request *req,
		    struct walk *w, const char **err)
{
	size_t p = 4;
	uint64_t alen;
	char *dst = NULL;
	int rc;

	w->strbytes = 0;
	if ((rc = dec_magic(buf, len, err)) <= 0)
		return rc;
	rc = dec_num(buf, len, &p, ' ', CTL_ARGS_MAX, &w->argc, err,
		     "malformed request: too many arguments (at most 1024)");
	if (rc > 0)
		rc = dec_num(buf, len, &p, '\n', CTL_BODY_MAX, &w->bodylen,
			     err, "malformed request: body too large "
			     "(at most 8 MiB)");
	if (rc == 0 && len > CTL_HEADER_MAX) {
		*err = "malformed request: header line too long";
		return -1;
	}
	if (rc <= 0)
		return rc;
	if (w->argc == 0) {
		*err = "malformed request: no command";
		return -1;
	}
	if (req->argv)
		dst = (char *)(req->argv + w->argc + 1);
	for (uint64_t i = 0; i < w->argc; i++) {
		rc = dec_num(buf, len, &p, ' ', CTL_ARG_MAX, &alen, err,
			     "malformed request: argument too long "
			     "(at most 4096 bytes)");
		if (rc <= 0)
			return rc;
		if (memchr(buf + p, '\0', len - p < alen ? len - p : alen)) {
			*err = "malformed request: NUL byte in an argument";
			return -1;
		}
		if (len - p < alen + 1)
			return 0;
		if (buf[p + alen] != '\n') {
			*err = "malformed request: argument not followed by "
			       "a newline";
			return -1;
		}
		if (dst) {
			req->argv[i] = dst;
			memcpy(dst, buf + p, alen);
			dst[alen] = '\0';
			dst += alen + 1;
		}
		w->strbytes += alen + 1;
		p += alen + 1;
	}
	if (len - p < w->bodylen)
		return 0;
	if (dst) {
		req->argv[w->argc] = NULL;
		req->argc = (int)w->argc;
		memcpy(dst, buf + p, w->bodylen);
		dst[w->bodylen] = '\0'; /* a convenience for text bodies */
		req->body = dst;
		req->bodylen = w->bodylen;
		req->consumed = p + w->bodylen;
	}
	return 1;
}

/* Incremental request decoding; see ctlproto.h. */
int ctl_decode_request(const char *buf, size_t len, struct ctl_request *req,
		       const char **err)
{
	struct ctl_request probe = { 0 };
	struct walk w;
	int rc;

	rc = dec_walk(buf, len, &probe, &w, err);
	if (rc <= 0)
		return rc;
	/* Complete and valid: one block holds pointers, strings and body. */
	memset(req, 0, sizeof *req);
	req->argv = malloc((w.argc + 1) * sizeof(char *) + w.strbytes +
			   w.bodylen + 1);
	if (req->argv == NULL) {
		*err = "out of memory";
		return -1;
	}
	return dec_walk(buf, len, req, &w, err);
}

/* Free a decoded request. */
void ctl_request_free(struct ctl_request *req)
{
	free(req->argv);
	req->argv = NULL;
	req->argc = 0;
	req->body = NULL;
	req->bodylen = 0;
}

/* Encode a reply frame; see ctlproto.h. */
int ctl_encode_reply(int code, const char *out, size_t outlen, const char *err,
		     size_t errlen, char **buf, size_t *buflen)
{
	size_t n, o;
	char *b;

	if (code < 0 || code > 255) {
		errno = EINVAL;
		return -1;
	}
	if (outlen > CTL_OUT_MAX)
		outlen = CTL_OUT_MAX;
	if (errlen > CTL_OUT_MAX)
		errlen = CTL_OUT_MAX;
	n = CTL_HEADER_MAX + outlen + errlen;
	b = malloc(n);
	if (b == NULL)
		return -1;
	o = (size_t)snprintf(b, n, "NV1 %d %zu %zu\n", code, outlen, errlen);
	if (outlen)
		memcpy(b + o, out, outlen);
	if (errlen)
		memcpy(b + o + outlen, err, errlen);
	*buf = b;
	*buflen = o + outlen + errlen;
	return 0;
}

/* Decode a reply frame; see ctlproto.h. */
int ctl_decode_reply(const char *buf, size_t len, int *code, const char **out,
		     size_t *outlen, const char **err, size_t *errlen)
{
	const char *e;
	uint64_t c, ol, el;
	size_t p = 4;
	int rc;

	if ((rc = dec_magic(buf, len, &e)) <= 0)
		return rc;
	if ((rc = dec_num(buf, len, &p, ' ', 255, &c, &e, "")) <= 0 ||
	    (rc = dec_num(buf, len, &p, ' ', CTL_OUT_MAX, &ol, &e, "")) <= 0 ||
	    (rc = dec_num(buf, len, &p, '\n', CTL_OUT_MAX, &el, &e, "")) <= 0) {
		if (rc == 0 && len > CTL_HEADER_MAX)
			return -1;
		return rc;
	}
	if (len - p < ol + el)
		return 0;
	*code = (int)c;
	*out = buf + p;
	*outlen = ol;
	*err = buf + p + ol;
	*errlen = el;
	return 1;
}

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

/* Make DIR and its missing parents with MODE (mkdir -p). */
static int mkdir_p(char *dir, mode_t mode)
{
	for (char *s = dir + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		int rc = mkdir(dir, mode);
		*s = c;
		if (rc < 0 && errno != EEXIST)
			return -1;
		if (c == '\0')
			return 0;
	}
}

/* The default socket path; see ctlproto.h. */
int ctl_default_path(char *buf, size_t len, int create, const char **err)
{
	static char msg[320];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	uid_t uid = geteuid();
	char dir[128];
	mode_t mode = 0700;
	bool tmp = false;
	struct stat st;
	int n;

	if (uid == 0) {
		n = snprintf(dir, sizeof dir, "%s/natsvisor", RUNSTATEDIR);
		mode = 0755;
	} else if (xdg && xdg[0] == '/') {
		n = snprintf(dir, sizeof dir, "%s/natsvisor", xdg);
	} else {
		n = snprintf(dir, sizeof dir, "/tmp/natsvisor-%lu",
			     (unsigned long)uid);
		tmp = true;
	}
	if (n < 0 || (size_t)n >= sizeof dir ||
	    (size_t)n + sizeof "/natsvisord.sock" > len ||
	    (size_t)n + sizeof "/natsvisord.sock" > CTL_SUN_PATH_MAX) {
		*err = "default control socket path too long";
		return -1;
	}
	if (create && mkdir_p(dir, mode) < 0) {
		snprintf(msg, sizeof msg, "cannot create %s: %s", dir,
			 strerror(errno));
		*err = msg;
		return -1;
	}
	/* Somebody else's directory (a squatter in /tmp) must never be
	 * trusted: the client would talk to an impostor, the daemon would
	 * put its socket where others control it. */
	if (lstat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			snprintf(msg, sizeof msg, "%s is not a directory", dir);
		else if (st.st_uid != uid)
			snprintf(msg, sizeof msg,
				 "%s is owned by uid %lu, not by you", dir,
				 (unsigned long)st.st_uid);
		else if (tmp && (st.st_mode & 077))
			snprintf(msg, sizeof msg,
				 "%s must have mode 0700 (it has %04o)", dir,
				 (unsigned)(st.st_mode & 07777));
		else
			msg[0] = '\0';
		if (msg[0]) {
			*err = msg;
			return -1;
		}
	} else if (errno != ENOENT || create) {
		snprintf(msg, sizeof msg, "%s: %s", dir, strerror(errno));
		*err = msg;
		return -1;
	}
	snprintf(buf, len, "%s/natsvisord.sock", dir);
	return 0;
}
