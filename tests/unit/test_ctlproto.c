/*
 * test_ctlproto.c: the control wire format and the command parser.
 * Round trips, every limit at and past its bound, incremental decoding
 * one byte at a time, malformed frames, and every natsvisorctl command
 * with its usage errors.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlproto.h"
#include "t.h"

/* Decode FRAME (LEN bytes) one byte more at a time: every strict prefix
 * must ask for more, the whole frame must decode.  Returns the request. */
static int decode_stepwise(const char *frame, size_t len,
			   struct ctl_request *req)
{
	const char *err = NULL;

	for (size_t i = 0; i < len; i++) {
		int rc = ctl_decode_request(frame, i, req, &err);
		if (rc != 0) {
			fprintf(stderr, "prefix %zu of %zu: rc %d (%s)\n", i,
				len, rc, rc < 0 ? err : "");
			return -2;
		}
	}
	return ctl_decode_request(frame, len, req, &err);
}

/* Encode ARGV + BODY, decode it stepwise and compare. */
static void roundtrip(int argc, char **argv, const char *body, size_t bodylen)
{
	struct ctl_request req;
	char *buf;
	size_t len;

	CHECK_INT(ctl_encode_request(argc, argv, body, bodylen, &buf, &len), 0);
	CHECK_INT(decode_stepwise(buf, len, &req), 1);
	CHECK_INT(req.argc, argc);
	CHECK(req.argv[argc] == NULL);
	for (int i = 0; i < argc && i < req.argc; i++)
		CHECK_STR(req.argv[i], argv[i]);
	CHECK_INT(req.bodylen, bodylen);
	CHECK(bodylen == 0 || memcmp(req.body, body, bodylen) == 0);
	CHECK_INT(req.consumed, len);
	ctl_request_free(&req);
	free(buf);
}

/* Decode TEXT as a whole; expect RC and, for -1, an error containing SUB. */
static void decode_expect(const char *text, size_t len, int rc,
			  const char *sub)
{
	struct ctl_request req;
	const char *err = NULL;
	int got = ctl_decode_request(text, len, &req, &err);

	CHECK_INT(got, rc);
	if (got == 1)
		ctl_request_free(&req);
	if (rc < 0 && sub) {
		CHECK(err != NULL && strstr(err, sub) != NULL);
		if (err && !strstr(err, sub))
			fprintf(stderr, "  error was: %s\n", err);
	}
}

/* Framing round trips: plain, binary body, empty arguments, trailing
 * bytes after the frame. */
static void test_request_roundtrip(void)
{
	char *a1[] = { "status", "--json", "a", "b.0" };
	char *a2[] = { "publish", "x.y" };
	char *a3[] = { "", "x", "" };
	static const char bin[] = { 'a', 0, '\n', 'N', 'V', '1', ' ', (char)0xff };
	struct ctl_request req;
	const char *err;
	char *buf, *big;
	size_t len;

	roundtrip(4, a1, NULL, 0);
	roundtrip(2, a2, bin, sizeof bin);
	roundtrip(3, a3, "", 0);

	/* Bytes after a complete frame are not part of it. */
	CHECK_INT(ctl_encode_request(2, a2, "hi", 2, &buf, &len), 0);
	big = malloc(len + 10);
	memcpy(big, buf, len);
	memcpy(big + len, "NV1 junk!!", 10);
	CHECK_INT(ctl_decode_request(big, len + 10, &req, &err), 1);
	CHECK_INT(req.consumed, len);
	CHECK_STR(req.body, "hi"); /* NUL-terminated for convenience */
	ctl_request_free(&req);
	free(big);
	free(buf);

	/* Exact text of the format. */
	CHECK_INT(ctl_encode_request(2, a2, "hi", 2, &buf, &len), 0);
	CHECK_INT(len, strlen("NV1 2 2\n7 publish\n3 x.y\nhi"));
	CHECK(memcmp(buf, "NV1 2 2\n7 publish\n3 x.y\nhi", len) == 0);
	free(buf);
}

/* Every limit, at the bound and one past it, on both sides. */
static void test_request_limits(void)
{
	static char *argv[CTL_ARGS_MAX + 1];
	char *arg = malloc(CTL_ARG_MAX + 2), *body, *buf;
	const char *err;
	size_t len;
	char hdr[64];

	memset(arg, 'n', CTL_ARG_MAX + 1);
	arg[CTL_ARG_MAX + 1] = '\0';
	for (int i = 0; i <= CTL_ARGS_MAX; i++)
		argv[i] = "x";
	argv[0] = "status";

	/* argc: 1024 fine, 1025 refused. */
	roundtrip(CTL_ARGS_MAX, argv, NULL, 0);
	errno = 0;
	CHECK_INT(ctl_encode_request(CTL_ARGS_MAX + 1, argv, NULL, 0, &buf,
				     &len), -1);
	CHECK_INT(errno, E2BIG);
	CHECK_INT(ctl_request_check(CTL_ARGS_MAX + 1, argv, 0, &err), -1);
	decode_expect("NV1 1025 0\n", 11, -1, "too many arguments");
	decode_expect("NV1 1024 0\n", 11, 0, NULL);
	CHECK_INT(ctl_encode_request(0, argv, NULL, 0, &buf, &len), -1);
	CHECK_INT(errno, EINVAL);
	decode_expect("NV1 0 0\n", 8, -1, "no command");

	/* One argument: 4096 bytes fine, 4097 refused. */
	argv[1] = arg + 1; /* CTL_ARG_MAX bytes */
	roundtrip(2, argv, NULL, 0);
	argv[1] = arg; /* one more */
	CHECK_INT(ctl_encode_request(2, argv, NULL, 0, &buf, &len), -1);
	CHECK_INT(ctl_request_check(2, argv, 0, &err), -1);
	CHECK(strstr(err, "too long") != NULL);
	decode_expect("NV1 1 0\n4097 ", 12, -1, "argument too long");
	decode_expect("NV1 1 0\n4096 ", 12, 0, NULL);

	/* Body: 8 MiB fine, one more byte refused. */
	body = malloc(CTL_BODY_MAX + 1);
	memset(body, 'b', CTL_BODY_MAX + 1);
	argv[1] = "s";
	{
		struct ctl_request req;
		CHECK_INT(ctl_encode_request(2, argv, body, CTL_BODY_MAX, &buf,
					     &len), 0);
		CHECK_INT(ctl_decode_request(buf, len - 1, &req, &err), 0);
		CHECK_INT(ctl_decode_request(buf, len, &req, &err), 1);
		CHECK_INT(req.bodylen, CTL_BODY_MAX);
		ctl_request_free(&req);
		free(buf);
	}
	CHECK_INT(ctl_encode_request(2, argv, body, CTL_BODY_MAX + 1, &buf,
				     &len), -1);
	snprintf(hdr, sizeof hdr, "NV1 1 %u\n", CTL_BODY_MAX + 1);
	decode_expect(hdr, strlen(hdr), -1, "body too large");
	snprintf(hdr, sizeof hdr, "NV1 1 %u\n", CTL_BODY_MAX);
	decode_expect(hdr, strlen(hdr), 0, NULL);
	/* Huge numbers never overflow. */
	decode_expect("NV1 1 99999999999999999999999999\n", 33, -1,
		      "body too large");
	decode_expect("NV1 99999999999999999999999", 27, -1,
		      "too many arguments");
	free(body);
	free(arg);
}

/* Malformed frames: refused as soon as the offending byte is seen, never
 * "need more" for ever. */
static void test_request_malformed(void)
{
	static const struct {
		const char *text;
		const char *sub;
		size_t len; /* 0: strlen(text) */
	} bad[] = {
		{ "GET / HTTP/1.0\r\n", "not a natsvisor", 0 },
		{ "NV2 1 0\n", "unsupported protocol version", 0 },
		{ "NV1x", "not a natsvisor", 0 },
		{ "nv1 1 0\n", "not a natsvisor", 0 },
		{ "NV1 01 0\n", "leading zero", 0 },
		{ "NV1 -1 0\n", "bad number", 0 },
		{ "NV1  1 0\n", "bad number", 0 },
		{ "NV1 1 0 \n", "bad number", 0 },
		{ "NV1 1 00\n", "leading zero", 0 },
		{ "NV1 1\n", "bad number", 0 },
		{ "NV1 +1 0\n", "bad number", 0 },
		{ "NV1 1 0\n3 abcX", "not followed by a newline", 0 },
		{ "NV1 1 0\n3abc\n", "bad number", 0 },
		{ "NV1 1 0\n 3 abc\n", "bad number", 0 },
		{ "NV1 1 0\n03 abc\n", "leading zero", 0 },
		{ "NV1 1 0\n4 ab\0c\n", "NUL byte", 15 },
		{ "NV1 2 0\n1 a\n1 b\n1 c\n", NULL, 0 }, /* decodes: 2 args */
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *t = bad[i].text;
		size_t len = bad[i].len ? bad[i].len : strlen(t);
		struct ctl_request req;
		const char *err = NULL;
		int rc, seen_bad = 0;

		/* Stepwise: 0 until the bad byte, then -1 from there on. */
		for (size_t n = 0; n <= len; n++) {
			rc = ctl_decode_request(t, n, &req, &err);
			if (rc == 1)
				ctl_request_free(&req);
			if (rc < 0)
				seen_bad = 1;
			else if (seen_bad)
				CHECK(!"malformed prefix accepted later");
		}
		if (bad[i].sub) {
			CHECK(seen_bad);
			decode_expect(t, len, -1, bad[i].sub);
		} else {
			CHECK_INT(ctl_decode_request(t, len, &req, &err), 1);
			CHECK_INT(req.argc, 2);
			CHECK_INT(req.consumed, len - 4);
			ctl_request_free(&req);
		}
	}
	/* An unfinished header line longer than any valid one. */
	decode_expect("NV1 1", 5, 0, NULL);
	decode_expect("NV1 1 1", 7, 0, NULL);
}

/* Replies: round trip, stepwise, limits, malformed. */
static void test_reply(void)
{
	const char *out, *err;
	size_t outlen, errlen, len;
	char *buf;
	int code;

	CHECK_INT(ctl_encode_reply(5, "a b\n", 4, "no\n", 3, &buf, &len), 0);
	CHECK(memcmp(buf, "NV1 5 4 3\na b\nno\n", len) == 0);
	for (size_t i = 0; i < len; i++)
		CHECK_INT(ctl_decode_reply(buf, i, &code, &out, &outlen, &err,
					   &errlen), 0);
	CHECK_INT(ctl_decode_reply(buf, len, &code, &out, &outlen, &err,
				   &errlen), 1);
	CHECK_INT(code, 5);
	CHECK_INT(outlen, 4);
	CHECK(memcmp(out, "a b\n", 4) == 0);
	CHECK_INT(errlen, 3);
	CHECK(memcmp(err, "no\n", 3) == 0);
	free(buf);

	CHECK_INT(ctl_encode_reply(0, NULL, 0, NULL, 0, &buf, &len), 0);
	CHECK_INT(ctl_decode_reply(buf, len, &code, &out, &outlen, &err,
				   &errlen), 1);
	CHECK_INT(code, 0);
	CHECK_INT(outlen + errlen, 0);
	free(buf);

	CHECK_INT(ctl_encode_reply(256, NULL, 0, NULL, 0, &buf, &len), -1);
	CHECK_INT(ctl_encode_reply(-1, NULL, 0, NULL, 0, &buf, &len), -1);
	CHECK_INT(ctl_decode_reply("NV1 256 0 0\n", 12, &code, &out, &outlen,
				   &err, &errlen), -1);
	CHECK_INT(ctl_decode_reply("NV1 1 0\n", 8, &code, &out, &outlen, &err,
				   &errlen), -1);
	CHECK_INT(ctl_decode_reply("NV9 1 0 0\n", 10, &code, &out, &outlen,
				   &err, &errlen), -1);
	CHECK_INT(ctl_decode_reply("NV1 1 99999999999 0\n", 20, &code, &out,
				   &outlen, &err, &errlen), -1);
	CHECK_INT(ctl_decode_reply("NV1 1 2 0\nab", 11, &code, &out, &outlen,
				   &err, &errlen), 0);
}

/* Parse a command given as a NULL-terminated list; expect RC, and for
 * errors a message containing SUB.  Returns the command (names to free). */
static struct ctl_cmd parse(int rc, const char *sub, ...)
{
	char *argv[64];
	int argc = 0;
	struct ctl_cmd cmd;
	char err[256] = "";
	va_list ap;

	va_start(ap, sub);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	CHECK_INT(ctl_parse_cmd(argc, argv, &cmd, err, sizeof err), rc);
	if (rc < 0) {
		CHECK(cmd.names == NULL);
		if (sub && !strstr(err, sub)) {
			CHECK(!"error message");
			fprintf(stderr, "  '%s' lacks '%s'\n", err, sub);
		}
	}
	return cmd;
}

/* Every command, with its options and usage errors. */
static void test_parse_cmd(void)
{
	struct ctl_cmd c;

	c = parse(-1, "no command", NULL);
	c = parse(-1, "unknown command 'frob'", "frob", NULL);
	c = parse(-1, "unknown command '\\x1b[2J'", "\x1b[2J", NULL);

	/* status */
	c = parse(0, NULL, "status", NULL);
	CHECK_INT(c.verb, CTL_STATUS);
	CHECK(!c.json);
	CHECK_INT(c.nnames, 0);
	free(c.names);
	c = parse(0, NULL, "status", "a", "--json", "b.1", NULL);
	CHECK(c.json);
	CHECK_INT(c.nnames, 2);
	CHECK_STR(c.names[0], "a");
	CHECK_STR(c.names[1], "b.1");
	free(c.names);
	c = parse(-1, "unknown option '--timeout'", "status", "--timeout",
		  "1s", NULL);
	c = parse(-1, "--json takes no value", "status", "--json=yes", NULL);
	c = parse(-1, "invalid listener name 'a b'", "status", "a b", NULL);
	c = parse(-1, "unknown option '-x'", "status", "-x", NULL);
	c = parse(0, NULL, "status", "--", "-x", "--json", NULL);
	CHECK_INT(c.nnames, 2); /* after "--" nothing is an option */
	CHECK_STR(c.names[1], "--json");
	free(c.names);

	/* is-ready */
	c = parse(-1, "name at least one", "is-ready", NULL);
	c = parse(0, NULL, "is-ready", "a", "b", NULL);
	CHECK_INT(c.verb, CTL_IS_READY);
	CHECK_INT(c.nnames, 2);
	free(c.names);

	/* wait-ready */
	c = parse(0, NULL, "wait-ready", NULL);
	CHECK_INT(c.verb, CTL_WAIT_READY);
	CHECK_INT(c.timeout_ms, 30000);
	free(c.names);
	c = parse(0, NULL, "wait-ready", "a", "--timeout", "2s", "late", NULL);
	CHECK_INT(c.timeout_ms, 2000);
	CHECK_INT(c.nnames, 2);
	CHECK_STR(c.names[1], "late");
	free(c.names);
	c = parse(0, NULL, "wait-ready", "--timeout=250ms", NULL);
	CHECK_INT(c.timeout_ms, 250);
	free(c.names);
	c = parse(-1, "--timeout needs a value", "wait-ready", "--timeout",
		  NULL);
	c = parse(-1, "--timeout 'soon'", "wait-ready", "--timeout", "soon",
		  NULL);

	/* start, stop, restart */
	c = parse(0, NULL, "start", "a", NULL);
	CHECK_INT(c.verb, CTL_START);
	CHECK(!c.all);
	free(c.names);
	c = parse(0, NULL, "stop", "--all", NULL);
	CHECK_INT(c.verb, CTL_STOP);
	CHECK(c.all);
	CHECK_INT(c.nnames, 0);
	free(c.names);
	c = parse(0, NULL, "restart", "x", "y", NULL);
	CHECK_INT(c.verb, CTL_RESTART);
	CHECK_INT(c.nnames, 2);
	free(c.names);
	c = parse(-1, "or --all", "restart", NULL);
	c = parse(-1, "not both", "stop", "a", "--all", NULL);
	c = parse(-1, "unknown option '--json'", "start", "--json", "a", NULL);

	/* signal */
	c = parse(0, NULL, "signal", "TERM", "a", "b", NULL);
	CHECK_INT(c.verb, CTL_SIGNAL);
	CHECK_INT(c.signal, SIGTERM);
	CHECK_INT(c.nnames, 2);
	CHECK_STR(c.names[0], "a");
	CHECK_STR(c.names[1], "b");
	free(c.names);
	c = parse(0, NULL, "signal", "SIGHUP", "a", NULL);
	CHECK_INT(c.signal, SIGHUP);
	free(c.names);
	c = parse(0, NULL, "signal", "9", "a", NULL);
	CHECK_INT(c.signal, 9);
	free(c.names);
	c = parse(-1, "give a signal", "signal", "TERM", NULL);
	c = parse(-1, "'NOPE'", "signal", "NOPE", "a", NULL);

	/* reload, version */
	c = parse(0, NULL, "reload", NULL);
	CHECK_INT(c.verb, CTL_RELOAD);
	free(c.names);
	c = parse(-1, "unexpected argument 'x'", "reload", "x", NULL);
	c = parse(0, NULL, "version", NULL);
	CHECK_INT(c.verb, CTL_VERSION);
	free(c.names);

	/* publish */
	c = parse(0, NULL, "publish", "agent.in", "hello", NULL);
	CHECK_INT(c.verb, CTL_PUBLISH);
	CHECK_STR(c.subject, "agent.in");
	CHECK_STR(c.data, "hello");
	CHECK(!c.confirm);
	CHECK_INT(c.timeout_ms, 30000);
	CHECK_INT(c.nnames, 0);
	free(c.names);
	c = parse(0, NULL, "publish", "-H", "K:V", "--confirm", "a.b",
		  "--timeout", "5s", "-HX-Y: z", NULL);
	CHECK(c.confirm);
	CHECK_INT(c.timeout_ms, 5000);
	CHECK_INT(c.nheaders, 2);
	CHECK_STR(c.headers[0], "K:V");
	CHECK_STR(c.headers[1], "X-Y: z");
	CHECK(c.data == NULL);
	free(c.names);
	c = parse(0, NULL, "publish", "a", "--", "-5", NULL);
	CHECK_STR(c.data, "-5");
	free(c.names);
	c = parse(0, NULL, "publish", "a", "-", NULL);
	CHECK_STR(c.data, "-");
	free(c.names);
	c = parse(-1, "contains wildcards", "publish", "a.*", "x", NULL);
	c = parse(-1, "contains wildcards", "publish", "a.>", NULL);
	c = parse(-1, "contains wildcards", "publish", ">", NULL);
	c = parse(-1, "invalid subject 'a..b'", "publish", "a..b", NULL);
	c = parse(-1, "invalid subject", "publish", "a b", NULL);
	c = parse(-1, "invalid subject", "publish", "", NULL);
	c = parse(-1, "give a subject", "publish", NULL);
	c = parse(-1, "unexpected argument 'c'", "publish", "a", "b", "c",
		  NULL);
	c = parse(-1, "not KEY:VALUE", "publish", "-H", "nocolon", "a", NULL);
	c = parse(-1, "not KEY:VALUE", "publish", "-H", ":v", "a", NULL);
	c = parse(-1, "not KEY:VALUE", "publish", "-H", "a b:v", "a", NULL);
	c = parse(-1, "not KEY:VALUE", "publish", "-H", "k:v\r\nX:y", "a",
		  NULL);
	c = parse(-1, "-H needs a value", "publish", "a", "-H", NULL);
	{
		char *argv[CTL_HEADERS_MAX + 3];
		char err[256];
		argv[0] = "publish";
		for (int i = 1; i <= CTL_HEADERS_MAX + 1; i++)
			argv[i] = "-HK:V";
		argv[CTL_HEADERS_MAX + 2] = "a";
		CHECK_INT(ctl_parse_cmd(CTL_HEADERS_MAX + 2, argv, &c, err,
					sizeof err), -1);
		CHECK(strstr(err, "more than 64 headers") != NULL);
		argv[CTL_HEADERS_MAX + 1] = "a";
		CHECK_INT(ctl_parse_cmd(CTL_HEADERS_MAX + 2, argv, &c, err,
					sizeof err), 0);
		CHECK_INT(c.nheaders, CTL_HEADERS_MAX);
		free(c.names);
	}

	/* A long name is refused, and the message is bounded. */
	{
		char name[CTL_NAME_MAX + 2], err[64];
		char *argv[] = { "status", name };
		memset(name, 'n', sizeof name - 1);
		name[sizeof name - 1] = '\0';
		CHECK_INT(ctl_parse_cmd(2, argv, &c, err, sizeof err), -1);
		CHECK(strlen(err) < sizeof err);
		name[CTL_NAME_MAX] = '\0';
		CHECK_INT(ctl_parse_cmd(2, argv, &c, err, sizeof err), 0);
		free(c.names);
	}
}

/* The tables used for --help are complete and consistent. */
static void test_tables(void)
{
	int n = 0;

	for (const struct ctl_verb_info *v = ctl_verb_table(); v->name; v++) {
		CHECK(ctl_verb_find(v->name) == v);
		CHECK(ctl_verb_info(v->verb) == v);
		CHECK(v->usage && v->help);
		n++;
	}
	CHECK_INT(n, CTL_VERSION + 1);
	CHECK(ctl_verb_find("nope") == NULL);
	n = 0;
	for (const struct ctl_opt_info *o = ctl_opt_table(); o->name; o++)
		n++;
	CHECK_INT(n, 5);
}

/* The default socket path for a non-root user: XDG_RUNTIME_DIR, else a
 * 0700 directory in /tmp that must be ours.  Runs as uid 65534 in a child
 * when the test runs as root. */
static void test_default_path(void)
{
	char buf[128], xdg[64], want[128];
	const char *err = NULL;
	struct stat st;
	pid_t pid = 0;
	int status;

	if (geteuid() == 0) {
		CHECK_INT(ctl_default_path(buf, sizeof buf, 0, &err), 0);
		CHECK(strstr(buf, "/natsvisor/natsvisord.sock") != NULL);
		pid = fork();
		if (pid < 0)
			return;
		if (pid > 0) {
			CHECK(waitpid(pid, &status, 0) == pid);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			return;
		}
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(1);
	}
	/* XDG_RUNTIME_DIR, created on demand. */
	snprintf(xdg, sizeof xdg, "/tmp/nvxdg-%ld", (long)getpid());
	CHECK(mkdir(xdg, 0700) == 0);
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	snprintf(want, sizeof want, "%s/natsvisor/natsvisord.sock", xdg);
	CHECK_INT(ctl_default_path(buf, sizeof buf, 0, &err), 0);
	CHECK_STR(buf, want);
	CHECK_INT(ctl_default_path(buf, sizeof buf, 1, &err), 0);
	snprintf(want, sizeof want, "%s/natsvisor", xdg);
	CHECK(stat(want, &st) == 0 && S_ISDIR(st.st_mode));
	rmdir(want);
	rmdir(xdg);
	/* A relative XDG_RUNTIME_DIR is ignored: the /tmp fallback. */
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	snprintf(want, sizeof want, "/tmp/natsvisor-%lu",
		 (unsigned long)geteuid());
	rmdir(want);
	CHECK_INT(ctl_default_path(buf, sizeof buf, 1, &err), 0);
	CHECK(strncmp(buf, want, strlen(want)) == 0);
	CHECK(stat(want, &st) == 0 && (st.st_mode & 0777) == 0700);
	/* A directory others may enter is refused. */
	chmod(want, 0755);
	CHECK_INT(ctl_default_path(buf, sizeof buf, 0, &err), -1);
	CHECK(err && strstr(err, "must have mode 0700"));
	rmdir(want);
	/* Too small a buffer. */
	CHECK_INT(ctl_default_path(buf, 10, 0, &err), -1);
	unsetenv("XDG_RUNTIME_DIR");
	if (pid == 0 && getuid() == 65534)
		_exit(t_failures ? 1 : 0);
}

int main(void)
{
	test_request_roundtrip();
	test_request_limits();
	test_request_malformed();
	test_reply();
	test_parse_cmd();
	test_tables();
	test_default_path();
	return t_done("test_ctlproto");
}
