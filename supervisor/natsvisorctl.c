/*
 * natsvisorctl.c: the control client.
 *
 *	natsvisorctl [-c FILE] [-s SOCKET] [-h|--help] [--version] COMMAND ...
 *
 * It checks the command with the same parser the daemon uses (so a usage
 * error exits 2 without contacting anyone), sends one request over the
 * control socket, and prints the reply: out to stdout, err to stderr, the
 * reply's code as the exit status.  All semantics live in the daemon.
 *
 * It must start fast (a status round trip is benchmarked): it links
 * neither libuv nor nats.c, reads no configuration beyond one key, and
 * does a handful of system calls.  Global options come before COMMAND;
 * COMMAND's own options may come anywhere after it (see ctlproto.h).
 *
 * The socket path: -s, else $NATSVISOR_SOCKET, else control_socket in
 * the [natsvisor] section of the -c FILE (read lightly: includes are not
 * followed), else the built-in default.
 *
 * With --nats URL the same request travels over NATS instead (ctlnats.c,
 * which loads nats.c at run time only then), to the daemon named by
 * --instance, else instance_id in -c FILE, else the host name.  A static
 * natsvisorctl cannot load nats.c: once the command is checked, it execs
 * natsvisorctl-nats, itself linked dynamically, with the same arguments.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlnats.h"
#include "ctlproto.h"
#include "parse.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

static const char *const exit_codes[] = {
	"0  yes, done",
	"1  no, timed out, or the command failed",
	"2  usage error, unknown listener, invalid subject",
	"3  natsvisord unreachable, or permission denied",
	"4  publish: no listener covers the subject",
	"5  cannot become ready (fatal, exited, stopped, spawn error)",
	"6  publish: outcome unknown (the message may still be delivered)",
};

/* Print the short usage of one command, or of all, to stderr. */
static void usage_short(const struct ctl_verb_info *v)
{
	if (v) {
		fprintf(stderr, "usage: natsvisorctl [-c FILE] [-s SOCKET] %s%s%s\n",
			v->name, v->usage[0] ? " " : "", v->usage);
	} else {
		fprintf(stderr, "usage: natsvisorctl [-c FILE] [-s SOCKET] "
				"COMMAND [ARG...]\ncommands:");
		for (v = ctl_verb_table(); v->name; v++)
			fprintf(stderr, " %s", v->name);
		fputc('\n', stderr);
	}
	fputs("Try 'natsvisorctl --help' for more information.\n", stderr);
}

/* Report a usage error and return its exit code. */
static int usage_error(const struct ctl_verb_info *v, const char *msg)
{
	fprintf(stderr, "natsvisorctl: %s\n", msg);
	usage_short(v);
	return CTL_USAGE;
}

/* --help: every command, option and exit code, from the tables. */
static void help(void)
{
	char lhs[96];

	printf("usage: natsvisorctl [-c FILE] [-s SOCKET] COMMAND [ARG...]\n"
	       "       natsvisorctl --nats URL [--instance ID] [-c FILE] "
	       "COMMAND [ARG...]\n"
	       "       natsvisorctl -h | --help | --version\n\n"
	       "Control natsvisord, the supervisor of NATS listeners.\n\n"
	       "Commands:\n");
	for (const struct ctl_verb_info *v = ctl_verb_table(); v->name; v++) {
		snprintf(lhs, sizeof lhs, "%s%s%s", v->name,
			 v->usage[0] ? " " : "", v->usage);
		printf("  %s\n      %s\n", lhs, v->help);
	}
	printf("\nCommand options (anywhere after COMMAND; \"--\" ends "
	       "them):\n");
	for (const struct ctl_opt_info *o = ctl_opt_table(); o->name; o++) {
		if (strcmp(o->name, "--header") == 0)
			snprintf(lhs, sizeof lhs, "-H, --header %s", o->arg);
		else
			snprintf(lhs, sizeof lhs, "%s%s%s", o->name,
				 o->arg ? " " : "", o->arg ? o->arg : "");
		printf("  %-20s %s: %s\n", lhs, o->verbs, o->help);
	}
	printf("\nOptions (before COMMAND):\n"
	       "  -c FILE              read control_socket from FILE's "
	       "[natsvisor] section\n"
	       "  -s SOCKET            the control socket (overrides "
	       "$NATSVISOR_SOCKET and -c)\n"
	       "  --nats URL           send the command over NATS to "
	       "natsvisord's request\n"
	       "                       subjects instead of the socket "
	       "(status, is-ready,\n"
	       "                       wait-ready, version; the others need "
	       "nats_control = yes)\n"
	       "  --instance ID        with --nats: the daemon's instance_id "
	       "(default: -c FILE's\n"
	       "                       instance_id, else the host name)\n"
	       "  -h, --help           show this help\n"
	       "  --version            show the client's version\n"
	       "\nThe socket is -s, else $NATSVISOR_SOCKET, else control_socket "
	       "in -c FILE,\nelse the default (root: %s/natsvisor/"
	       "natsvisord.sock; others:\n$XDG_RUNTIME_DIR/natsvisor/"
	       "natsvisord.sock, else /tmp/natsvisor-UID/natsvisord.sock).\n"
	       "\nExit codes:\n",
#ifdef RUNSTATEDIR
	       RUNSTATEDIR
#else
	       "/run"
#endif
	);
	for (size_t i = 0; i < sizeof exit_codes / sizeof exit_codes[0]; i++)
		printf("  %s\n", exit_codes[i]);
}

/* Trim white space at both ends of S in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

/* Find KEY (control_socket, instance_id) in the [natsvisor] section of
 * FILE with the loader's rules for comments and quotes, without loading
 * the configuration: no includes, no validation (a status query must stay
 * fast).  Returns 1 with the value in BUF, 0 when absent or unusable
 * (the daemon would refuse such a file anyway), -1 when FILE cannot be
 * read. */
static int config_key(const char *file, const char *key, char *buf,
		      size_t len)
{
	char line[4096], **w;
	const char *e;
	int insect = 0, found = 0, first = 1;
	FILE *f = fopen(file, "re");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f)) {
		char *s = line, *eq, *c;

		if (first && memcmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3; /* a UTF-8 byte order mark */
		first = 0;
		s = trim(s);
		if (*s == '[') { /* "[ natsvisor ]" too, as the loader */
			c = strchr(s, ']');
			if (c)
				*c = '\0';
			insect = c && strcmp(trim(s + 1), "natsvisor") == 0;
			continue;
		}
		if (!insect || *s == ';' || *s == '#' ||
		    (eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(trim(s), key) != 0)
			continue;
		if (ini_strip_comment(eq + 1) < 0)
			continue; /* an open quote: the loader refuses it */
		s = trim(eq + 1);
		found = 0; /* the last one wins, as in a full load */
		if (strpbrk(s, "'\"\\") == NULL) {
			snprintf(buf, len, "%s", s);
			found = 1;
		} else if (argv_split(s, &w, &e) == 0) {
			if (w[0] && !w[1]) {
				snprintf(buf, len, "%s", w[0]);
				found = 1;
			}
			argv_free(w);
		}
	}
	fclose(f);
	return found;
}

/* Read all of stdin into a malloc'd buffer, at most CTL_BODY_MAX bytes.
 * Returns 0, -1 on a read error, -2 when too large. */
static int read_stdin(char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap), *nb;
	ssize_t r;

	if (b == NULL)
		return -1;
	for (;;) {
		if (n == cap) {
			if (cap > CTL_BODY_MAX) {
				free(b);
				return -2;
			}
			/* One byte past the limit tells "too large". */
			cap = cap * 2 > CTL_BODY_MAX ? CTL_BODY_MAX + 1 : cap * 2;
			if ((nb = realloc(b, cap)) == NULL) {
				free(b);
				return -1;
			}
			b = nb;
		}
		r = read(0, b + n, cap - n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(b);
			return -1;
		}
		n += (size_t)r;
	}
	if (n > CTL_BODY_MAX) {
		free(b);
		return -2;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* Write all of BUF to FD; errors (a closed pipe) are ignored. */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += w;
		len -= (size_t)w;
	}
}

/* Where the socket's path came from, for the message when nothing
 * answers there (set by socket_path()). */
static char sock_from[PATH_MAX + 32] = "the default";

/* Connect to the control socket PATH.  Returns the descriptor, or -1
 * after printing why; *CODE gets the exit status. */
static int socket_connect(const char *path, int *code)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t plen = strlen(path);
	int fd;

	*code = CTL_UNREACHABLE;
	if (plen >= sizeof sun.sun_path) {
		fprintf(stderr, "natsvisorctl: control socket path too long "
				"(%zu bytes, at most %zu): %s\n", plen,
			sizeof sun.sun_path - 1, path);
		*code = CTL_USAGE;
		return -1;
	}
	memcpy(sun.sun_path, path, plen + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "natsvisorctl: socket: %s\n", strerror(errno));
		return -1;
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int e = errno;
		if (e == EINTR)
			continue;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
			fprintf(stderr, "natsvisorctl: natsvisord is not running "
					"(no daemon answers on %s, %s)\n",
				path, sock_from);
		else if (e == EACCES || e == EPERM)
			fprintf(stderr, "natsvisorctl: permission denied on "
					"%s\n", path);
		else
			fprintf(stderr, "natsvisorctl: cannot connect to %s: "
					"%s\n", path, strerror(e));
		return -1;
	}
	return fd;
}

/* One request over the control socket at PATH; prints the reply and
 * returns its code.  The write side is never shut down: the daemon reads
 * EOF as "the client is gone" and drops a parked wait-ready or publish. */
static int socket_roundtrip(const char *path, const char *req, size_t reqlen)
{
	char stackbuf[16384], *buf = stackbuf, *nb;
	size_t cap = sizeof stackbuf, n = 0, outlen, errlen;
	const char *out, *err;
	int fd, code, rc;
	ssize_t r;

	if ((fd = socket_connect(path, &code)) < 0)
		return code;
	while (reqlen) {
		r = send(fd, req, reqlen, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break; /* refused early: the reply says why */
		req += r;
		reqlen -= (size_t)r;
	}
	for (;;) {
		rc = ctl_decode_reply(buf, n, &code, &out, &outlen, &err,
				      &errlen);
		if (rc != 0)
			break;
		if (n == cap) {
			if (cap >= 2 * (size_t)CTL_OUT_MAX + CTL_HEADER_MAX) {
				rc = -1;
				break;
			}
			cap *= 4;
			nb = realloc(buf == stackbuf ? NULL : buf, cap);
			if (nb == NULL) {
				rc = -1;
				break;
			}
			if (buf == stackbuf)
				memcpy(nb, stackbuf, n);
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "natsvisorctl: natsvisord closed the "
					"connection without a reply%s%s\n",
				r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
			close(fd);
			if (buf != stackbuf)
				free(buf);
			return CTL_UNREACHABLE;
		}
		n += (size_t)r;
	}
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "natsvisorctl: malformed reply from natsvisord "
				"on %s\n", path);
		code = CTL_UNREACHABLE;
	} else {
		write_all(1, out, outlen);
		write_all(2, err, errlen);
	}
	if (buf != stackbuf)
		free(buf);
	return code;
}

/* Resolve the socket path into BUF; returns 0, or an exit status. */
static int socket_path(const char *opt_s, const char *opt_c, char *buf,
		       size_t len)
{
	const char *env = getenv("NATSVISOR_SOCKET"), *e;

	if (opt_s) {
		snprintf(buf, len, "%s", opt_s);
		snprintf(sock_from, sizeof sock_from, "given with -s");
		return 0;
	}
	if (env && *env) {
		snprintf(buf, len, "%s", env);
		snprintf(sock_from, sizeof sock_from, "from NATSVISOR_SOCKET");
		return 0;
	}
	if (opt_c) {
		int rc = config_key(opt_c, "control_socket", buf, len);
		if (rc < 0) {
			fprintf(stderr, "natsvisorctl: %s: %s\n", opt_c,
				strerror(errno));
			return CTL_USAGE;
		}
		if (rc > 0 && *buf) {
			/* relative to the file's directory, as the daemon
			 * takes it */
			char *p = path_beside(opt_c, buf);
			if (p)
				snprintf(buf, len, "%s", p);
			free(p);
		}
		if (rc > 0 && *buf) {
			snprintf(sock_from, sizeof sock_from,
				 "control_socket in %s", opt_c);
			return 0;
		}
	}
	if (ctl_default_path(buf, len, 0, &e) < 0) {
		fprintf(stderr, "natsvisorctl: %s\n", e);
		return CTL_UNREACHABLE;
	}
	return 0;
}

/* --nats: resolve the daemon's instance id into ID and split the
 * servers' URL LIST into *URLS.  Returns 0, or an exit status (2 for a
 * usage error) after saying why; nothing is contacted yet. */
static int nats_target(const char *list, const char *instance,
		       const char *opt_c, char *id, size_t len, char ***urls)
{
	int n;

	if (instance) {
		snprintf(id, len, "%s", instance);
	} else {
		int rc = opt_c ? config_key(opt_c, "instance_id", id, len) : 0;
		if (rc < 0) {
			fprintf(stderr, "natsvisorctl: %s: %s\n", opt_c,
				strerror(errno));
			return CTL_USAGE;
		}
		if (rc == 0 || id[0] == '\0')
			ctlnats_default_instance(id, len);
	}
	if (strpbrk(id, ". *>\t") != NULL) {
		fprintf(stderr, "natsvisorctl: invalid instance id '%.64s' "
				"(one subject token)\n", id);
		return CTL_USAGE;
	}
	if ((n = ctlnats_urls(list, urls)) > 0)
		return 0;
	if (n == 0) {
		argv_free(*urls);
		*urls = NULL;
	}
	fprintf(stderr, "natsvisorctl: --nats: %s\n",
		n == 0 ? "no server URL" : strerror(errno));
	return n == 0 ? CTL_USAGE : CTL_NO;
}

#ifndef NV_STATIC_CTL
/* --nats: send the request REQ to the daemon's NATS subjects.  Commands
 * that change nothing go to natsvisor.ID.request, the others to
 * natsvisor.ID.control.  The reply may take as long as the command's
 * own --timeout, or a stop's stop_timeout. */
static int nats_request(char **urls, const char *id,
			const struct ctl_cmd *cmd, const char *req,
			size_t reqlen)
{
	uint64_t timeout = 10000;
	bool control = true;

	switch (cmd->verb) {
	case CTL_STATUS:
	case CTL_IS_READY:
	case CTL_VERSION:
		control = false;
		break;
	case CTL_WAIT_READY:
		control = false;
		timeout = cmd->timeout_ms + 5000;
		break;
	case CTL_PUBLISH:
		timeout = cmd->timeout_ms + 5000;
		break;
	case CTL_START:
	case CTL_STOP:
	case CTL_RESTART:
		timeout = 120000;
		break;
	default:
		break;
	}
	return ctlnats_roundtrip(urls, id, control,
				 cmd->verb == CTL_PUBLISH ? cmd->subject : NULL,
				 req, reqlen, timeout);
}
#endif

int main(int argc, char **argv)
{
	const char *opt_s = NULL, *opt_c = NULL, *opt_nats = NULL;
	const char *opt_instance = NULL, *e;
	const struct ctl_verb_info *v;
	char errbuf[256], path[4096], id[256], *req = NULL, *body = NULL;
	char **args, **reqargs, **urls = NULL;
	size_t reqlen, bodylen = 0;
	struct ctl_cmd cmd;
	int i, nargs, nreq = 0, rc;

	/* Global options, up to the first word that is not one. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *val = NULL;
		const char **dst = NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help();
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			if (i + 1 < argc)
				return usage_error(NULL, "--version takes no "
							 "arguments");
			printf("natsvisorctl %s\n", PACKAGE_VERSION);
			return 0;
		}
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--nats") == 0 || strncmp(a, "--nats=", 7) == 0) {
			dst = &opt_nats;
			val = a[6] ? a + 7 : NULL;
		} else if (strcmp(a, "--instance") == 0 ||
			   strncmp(a, "--instance=", 11) == 0) {
			dst = &opt_instance;
			val = a[10] ? a + 11 : NULL;
		} else if (a[1] == 's' || a[1] == 'c') {
			dst = a[1] == 's' ? &opt_s : &opt_c;
			val = a[2] ? a + 2 : NULL;
		}
		if (dst == NULL) {
			snprintf(errbuf, sizeof errbuf, "unknown option '%.64s'",
				 a);
			return usage_error(NULL, errbuf);
		}
		if (val == NULL && i + 1 < argc)
			val = argv[++i];
		if (val == NULL || *val == '\0') {
			snprintf(errbuf, sizeof errbuf, "%.64s needs a value",
				 a);
			return usage_error(NULL, errbuf);
		}
		*dst = val;
	}
	if (opt_instance && !opt_nats)
		return usage_error(NULL, "--instance needs --nats");
	if (opt_s && opt_nats)
		return usage_error(NULL, "-s and --nats exclude each other "
					 "(a socket or a NATS server)");
	if (i >= argc)
		return usage_error(NULL, "no command given");
	args = argv + i;
	nargs = argc - i;
	v = ctl_verb_find(args[0]);
	if (ctl_parse_cmd(nargs, args, &cmd, errbuf, sizeof errbuf) < 0)
		return usage_error(v, errbuf);
	free(cmd.names);

	/* The request's arguments.  A publish's DATA travels as the body, as
	 * a message read from stdin does: it leaves the arguments (which are
	 * bounded at 4 KiB each).  ARGV itself stays as given, for
	 * natsvisorctl-nats. */
	if ((reqargs = calloc((size_t)nargs + 1, sizeof *reqargs)) == NULL) {
		fprintf(stderr, "natsvisorctl: %s\n", strerror(errno));
		return CTL_NO;
	}
	for (int k = 0; k < nargs; k++)
		if (args[k] != cmd.data)
			reqargs[nreq++] = args[k];
	if (cmd.data) {
		body = (char *)cmd.data;
		bodylen = strlen(cmd.data);
	}
	if (ctl_request_check(nreq, reqargs, bodylen, &e) < 0) {
		rc = usage_error(v, e);
		goto done;
	}
	if (opt_nats && (rc = nats_target(opt_nats, opt_instance, opt_c, id,
					  sizeof id, &urls)) != 0)
		goto done;
#ifdef NV_STATIC_CTL
	/* Checked first, so that a usage error exits 2 with or without the
	 * helper; and before anything reads stdin (a publish body). */
	if (opt_nats) {
		rc = ctlnats_exec(argv);
		goto done;
	}
#endif

	if (cmd.verb == CTL_VERSION) {
		printf("natsvisorctl %s\n", PACKAGE_VERSION);
		fflush(stdout); /* before the daemon's line, written with write() */
	}
	if (cmd.verb == CTL_PUBLISH && cmd.data == NULL &&
	    (rc = read_stdin(&body, &bodylen)) < 0) {
		if (rc == -2)
			fprintf(stderr, "natsvisorctl: message body too large "
					"(at most %u bytes)\n", CTL_BODY_MAX);
		else
			fprintf(stderr, "natsvisorctl: reading stdin: %s\n",
				strerror(errno));
		rc = 1; /* refused before it was sent, like max_payload */
		goto done;
	}
	if (ctl_encode_request(nreq, reqargs, body, bodylen, &req,
			       &reqlen) < 0) {
		fprintf(stderr, "natsvisorctl: %s\n", strerror(errno));
		rc = CTL_NO;
		goto done;
	}
	if (body != cmd.data) {
		free(body); /* the request holds a copy */
		body = NULL;
	}
#ifndef NV_STATIC_CTL
	if (opt_nats)
		rc = nats_request(urls, id, &cmd, req, reqlen);
	else
#endif
	if ((rc = socket_path(opt_s, opt_c, path, sizeof path)) == 0)
		rc = socket_roundtrip(path, req, reqlen);
done:
	if (body != cmd.data)
		free(body);
	argv_free(urls);
	free(reqargs);
	free(req);
	return rc;
}
