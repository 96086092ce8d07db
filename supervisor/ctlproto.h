/*
 * ctlproto.h: the control-socket wire format shared by natsvisord and
 * natsvisorctl, and the parser of control commands used on both sides
 * (the client for early usage errors, the daemon because it trusts no
 * client).  Pure: no libuv, no nats.c.
 *
 * Request: one frame
 *	"NV1" SP argc SP bodylen LF   then argc arguments, each as
 *	decimal length SP bytes LF    then bodylen bytes of body.
 * Reply: one frame, then the daemon closes the connection
 *	"NV1" SP code SP outlen SP errlen LF  out  err
 * where code is the client's exit status, out goes to its stdout and err
 * to its stderr.  Limits: CTL_ARGS_MAX arguments, CTL_ARG_MAX bytes each,
 * CTL_BODY_MAX bytes of body.  Anything else is malformed and gets an
 * error reply (code 2).
 *
 * Numbers are plain decimal without sign or leading zeros ("0" itself is
 * fine); argc is at least 1; an argument may not contain a NUL byte; the
 * header line is at most CTL_HEADER_MAX bytes.  A version other than "NV1"
 * is refused with "unsupported protocol version".  The client never
 * half-closes its side: EOF seen by the daemon means the client is gone.
 * A reply carries at most CTL_OUT_MAX bytes in each of out and err.
 *
 * Command syntax (ctl_parse_cmd): ARGV[0] is the command, then options and
 * positional arguments in any order (options are recognised anywhere, as
 * with GNU getopt permutation); "--" ends the options, so a DATA or NAME
 * that starts with '-' follows it.  Long options take their value as
 * "--timeout 5s" or "--timeout=5s", -H as "-H K:V" or "-HK:V".  A lone
 * "-" is a positional argument.
 */
#ifndef NV_CTLPROTO_H
#define NV_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_ARGS_MAX 1024
#define CTL_ARG_MAX 4096
#define CTL_BODY_MAX (8u << 20)
#define CTL_HEADERS_MAX 64
#define CTL_HEADER_MAX 32          /* request/reply header line */
#define CTL_OUT_MAX (64u << 20)    /* reply: out and err, each */
#define CTL_NAME_MAX 64            /* a listener name on the command line */
#define CTL_TIMEOUT_DEFAULT_MS 30000
#define CTL_SUN_PATH_MAX 108       /* sizeof(sun_path): paths are shorter */

/* Exit codes (contract). */
enum {
	CTL_OK = 0,
	CTL_NO = 1,        /* no, timed out, or the command failed */
	CTL_USAGE = 2,     /* usage error, unknown listener, invalid subject */
	CTL_UNREACHABLE = 3,
	CTL_NOT_COVERED = 4,
	CTL_CANNOT = 5,    /* cannot become ready */
	CTL_UNKNOWN = 6,   /* publish outcome unknown */
};

enum ctl_verb {
	CTL_STATUS, CTL_IS_READY, CTL_WAIT_READY, CTL_START, CTL_STOP,
	CTL_RESTART, CTL_SIGNAL, CTL_RELOAD, CTL_PUBLISH, CTL_VERSION,
};

struct ctl_cmd {
	enum ctl_verb verb;
	bool json;      /* status --json */
	bool all;       /* start|stop|restart --all */
	bool confirm;   /* publish --confirm */
	uint64_t timeout_ms; /* wait-ready/publish --timeout (default 30s) */
	int signal;     /* signal SIG */
	const char *subject; /* publish */
	const char *data;    /* publish DATA, or NULL: body */
	const char *headers[CTL_HEADERS_MAX]; /* "K:V" as given */
	int nheaders;
	const char **names;  /* points into argv */
	int nnames;
};

/* Parse ARGV (verb first) into CMD; on error returns -1 and writes a
 * one-line message to ERR.  Validates subjects (no wildcards in publish)
 * and header syntax.  CMD->names must be freed with free().  On error
 * nothing needs freeing (CMD->names is NULL); untrusted bytes quoted in
 * ERR are escaped.  CMD points into ARGV. */
int ctl_parse_cmd(int argc, char **argv, struct ctl_cmd *cmd, char *err,
		  size_t errlen);

/* The command table that drives parsing, usage errors and --help. */
struct ctl_verb_info {
	const char *name;  /* "wait-ready" */
	enum ctl_verb verb;
	const char *usage; /* arguments after the name */
	const char *help;  /* one line */
};
/* All commands, terminated by an entry whose name is NULL. */
const struct ctl_verb_info *ctl_verb_table(void);
/* The entry for NAME or for VERB; NULL when unknown. */
const struct ctl_verb_info *ctl_verb_find(const char *name);
const struct ctl_verb_info *ctl_verb_info(enum ctl_verb verb);

/* Command options, for --help: NAME ("--timeout"), ARG ("DUR" or NULL),
 * the commands that take it, and one line of help; NULL-terminated. */
struct ctl_opt_info {
	const char *name;
	const char *arg;
	const char *verbs;
	const char *help;
};
const struct ctl_opt_info *ctl_opt_table(void);

/* Check a request against the limits before encoding it: 0, or -1 with a
 * static message in *ERR ("argument too long (at most 4096 bytes)"). */
int ctl_request_check(int argc, char **argv, size_t bodylen,
		      const char **err);

/* Encode a request into a malloc'd buffer.  Returns 0, or -1 with errno
 * E2BIG/EINVAL when ctl_request_check() refuses it, ENOMEM. */
int ctl_encode_request(int argc, char **argv, const void *body, size_t bodylen,
		       char **out, size_t *outlen);

/* Incremental request decoding: returns 1 with a complete request
 * (ARGV NULL-terminated, malloc'd as one block; BODY points inside it),
 * 0 when more bytes are needed, -1 when malformed (ERR set, static).
 * The body is followed by a NUL byte (not counted in BODYLEN).  Nothing
 * is allocated until the frame is complete, and a malformed prefix is
 * refused as soon as it is seen, so a caller may decode after each read
 * with a buffer bounded by the limits. */
struct ctl_request {
	int argc;
	char **argv;
	const char *body;
	size_t bodylen;
	size_t consumed; /* bytes of the input used */
};
int ctl_decode_request(const char *buf, size_t len, struct ctl_request *req,
		       const char **err);
void ctl_request_free(struct ctl_request *req);

/* The built-in default socket path (the work of control_default_path()
 * in control.h, kept here so that natsvisorctl links no libuv): root
 * RUNSTATEDIR/natsvisor/natsvisord.sock; others
 * $XDG_RUNTIME_DIR/natsvisor/natsvisord.sock, else
 * /tmp/natsvisor-UID/natsvisord.sock.  An existing directory must be a
 * real directory owned by the effective user (the /tmp one also mode
 * 0700), else -1; with CREATE a missing one is made (0755 under
 * RUNSTATEDIR, so a control group can reach the socket; 0700 otherwise).
 * Returns 0, or -1 with *ERR (static text). */
int ctl_default_path(char *buf, size_t len, int create, const char **err);

/* Encode a reply (malloc'd).  CODE is 0..255; OUTLEN and ERRLEN are at
 * most CTL_OUT_MAX (longer text is cut).  Returns 0, or -1 (ENOMEM,
 * EINVAL). */
int ctl_encode_reply(int code, const char *out, size_t outlen, const char *err,
		     size_t errlen, char **buf, size_t *buflen);
/* Decode a complete reply: 1 done, 0 need more, -1 malformed.  OUT and
 * ERR point into BUF.  Bytes after the reply are ignored. */
int ctl_decode_reply(const char *buf, size_t len, int *code, const char **out,
		     size_t *outlen, const char **err, size_t *errlen);

/* A --timeout (or NATS timeout=) value: a duration above 0. */
int ctl_parse_timeout(const char *s, uint64_t *ms, const char **err);

#endif
