/*
 * test_output.c: output sinks fed by real children (spawn_start) on a
 * real libuv loop.
 *
 * Every wait runs the loop until a condition holds, bounded by a uv timer;
 * no fixed sleeps.  Each test uses its own loop and checks at the end that
 * uv_loop_close() succeeds, i.e. output_free() released every handle.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "output.h"
#include "spawn.h"
#include "t.h"

#define WAIT_MS 20000

static char tmpdir[] = "/tmp/nv-test-output.XXXXXX";

/* A condition the loop is run until. */
typedef bool (*cond_fn)(void *arg);

static void timeout_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Run LOOP until COND(ARG) holds or MS pass; whether it held. */
static bool run_until(uv_loop_t *loop, cond_fn cond, void *arg, uint64_t ms)
{
	uv_timer_t t;
	bool expired = false;

	uv_timer_init(loop, &t);
	t.data = &expired;
	uv_timer_start(&t, timeout_cb, ms, 0);
	while (!cond(arg) && !expired)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return cond(arg);
}

/* Every attached stream of the sinks in the NULL-terminated ARG is at EOF. */
static bool sinks_done(void *arg)
{
	struct output **o;

	for (o = arg; *o != NULL; o++)
		if (output_active(*o) > 0)
			return false;
	return true;
}

/* Start `sh -c SCRIPT` with both outputs attached to O; the child's pid. */
static pid_t start_child(struct output *o, const char *script)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct spawn_req r = {
		.argv = argv, .envp = envp, .umask = -1, .limit_nofile = -1,
		.limit_core = -1, .capture_output = true,
	};
	struct spawn_child c;

	if (spawn_start(&r, &c) < 0)
		return -1;
	close(c.errpipe);
	output_attach(o, c.out_fd);
	output_attach(o, c.err_fd);
	return c.pid;
}

/* Wait for PID; whether it exited 0. */
static bool reap_ok(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Whole file as a NUL-terminated string (NULL if missing). */
static char *slurp(const char *path, size_t *lenp)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

/* Free the sinks and close the loop: proves no handle is left behind. */
static void finish(uv_loop_t *loop, struct output **sinks)
{
	for (; *sinks != NULL; sinks++)
		output_free(*sinks);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(loop), 0);
}

/* Next number expected for each of two interleaved sequences. */
struct seq {
	long next; /* -1: not seen yet */
	long last;
	int gaps;
};

/* Check "PREFIX-N-" + PAD x FILL: whole line, N continuing SEQ. */
static bool seq_line(struct seq *s, const char *line, size_t len,
		     const char *prefix, char fill, size_t pad)
{
	size_t plen = strlen(prefix), i;
	char *end;
	long n;

	if (len < plen || memcmp(line, prefix, plen) != 0)
		return false;
	n = strtol(line + plen, &end, 10);
	if (end == line + plen || *end != '-')
		return false;
	end++;
	if ((size_t)(line + len - end) != pad)
		return false;
	for (i = 0; i < pad; i++)
		if (end[i] != fill)
			return false;
	if (s->next >= 0 && n != s->next)
		s->gaps++;
	s->next = n + 1;
	s->last = n;
	return true;
}

/* R19: many lines through rotation; every line whole, no file over
 * max_size, at most KEEP old files, sequences gap-free. */
static void test_rotation(void)
{
	const char *script =
		"i=0; while [ $i -lt 3000 ]; do"
		" echo \"out-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\";"
		" echo \"err-$i-yyyy\" >&2; i=$((i+1)); done";
	const char *names[] = { ".3", ".2", ".1", "" };
	struct seq out = { -1, -1, 0 }, err = { -1, -1, 0 };
	char log[256], path[300];
	struct output *sinks[2] = { NULL, NULL };
	uv_loop_t loop;
	pid_t pid;
	int bad = 0, f;

	uv_loop_init(&loop);
	snprintf(log, sizeof(log), "%s/chatty.log", tmpdir);
	sinks[0] = output_new(&loop, "chatty", log, 8192, 3);
	CHECK(sinks[0] != NULL);
	pid = start_child(sinks[0], script);
	CHECK(pid > 0);
	CHECK(run_until(&loop, sinks_done, sinks, WAIT_MS));
	CHECK(reap_ok(pid));
	finish(&loop, sinks);

	snprintf(path, sizeof(path), "%s.4", log);
	CHECK(access(path, F_OK) < 0);
	for (f = 0; f < 4; f++) {
		size_t len;
		char *buf, *p, *nl;

		snprintf(path, sizeof(path), "%s%s", log, names[f]);
		buf = slurp(path, &len);
		CHECK(buf != NULL);
		if (buf == NULL)
			continue;
		CHECK(len <= 8192);
		CHECK(len > 0 && buf[len - 1] == '\n');
		for (p = buf; (nl = memchr(p, '\n', len - (size_t)(p - buf)));
		     p = nl + 1) {
			size_t l = (size_t)(nl - p);
			if (!seq_line(&out, p, l, "out-", 'x', 40) &&
			    !seq_line(&err, p, l, "err-", 'y', 4))
				bad++;
		}
		free(buf);
		unlink(path);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(out.gaps, 0);
	CHECK_INT(err.gaps, 0);
	/* The kept files hold the newest lines, a suffix of what was written.
	 * The two pipes are read in whatever order the loop sees them, so
	 * under load one stream may be drained before the other and fill
	 * the kept files alone; a stream that is there at all ends with its
	 * last line. */
	CHECK(out.last == 2999 || out.last == -1);
	CHECK(err.last == 2999 || err.last == -1);
	CHECK(out.last == 2999 || err.last == 2999);
}

/* A long line comes out in marked pieces of OUTPUT_LINE_MAX; a line of
 * exactly OUTPUT_LINE_MAX stays whole; the unterminated end is flushed at
 * EOF. */
static void test_long_line(void)
{
	char script[512], log[256], *want, *got, *p;
	char y100[101], z64[65];
	struct output *sinks[2] = { NULL, NULL };
	uv_loop_t loop;
	pid_t pid;

	memset(y100, 'y', 100);
	y100[100] = '\0';
	memset(z64, 'z', 64);
	z64[64] = '\0';
	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt 100 ]; do printf %s %s; i=$((i+1)); done;"
		 "printf '\\nnext\\n';"
		 "i=0; while [ $i -lt 64 ]; do printf %s %s; i=$((i+1)); done;"
		 "printf '\\nend'", "%s", y100, "%s", z64);
	uv_loop_init(&loop);
	snprintf(log, sizeof(log), "%s/long.log", tmpdir);
	sinks[0] = output_new(&loop, "long", log, 0, 3);
	pid = start_child(sinks[0], script);
	CHECK(pid > 0);
	CHECK(run_until(&loop, sinks_done, sinks, WAIT_MS));
	CHECK(reap_ok(pid));
	finish(&loop, sinks);

	want = malloc(10000 + OUTPUT_LINE_MAX + 100);
	p = want;
	memset(p, 'y', OUTPUT_LINE_MAX);
	p += OUTPUT_LINE_MAX;
	p += sprintf(p, "%s\n", OUTPUT_CONT_MARK);
	memset(p, 'y', OUTPUT_LINE_MAX);
	p += OUTPUT_LINE_MAX;
	p += sprintf(p, " [...]\n"); /* the documented mark, spelled out */
	memset(p, 'y', 10000 - 2 * OUTPUT_LINE_MAX);
	p += 10000 - 2 * OUTPUT_LINE_MAX;
	p += sprintf(p, "\nnext\n");
	memset(p, 'z', OUTPUT_LINE_MAX);
	p += OUTPUT_LINE_MAX;
	sprintf(p, "\nend\n");
	got = slurp(log, NULL);
	CHECK(got != NULL && strcmp(got, want) == 0);
	free(want);
	free(got);
	unlink(log);
}

struct size_wait {
	const char *path;
	off_t size;
};

/* The file has reached the size. */
static bool file_has(void *arg)
{
	struct size_wait *w = arg;
	struct stat st;

	return stat(w->path, &st) == 0 && st.st_size >= w->size;
}

/* A partial line shows up after OUTPUT_FLUSH_MS while the child lives. */
static void test_flush_timer(void)
{
	char log[256], *got;
	struct output *sinks[2] = { NULL, NULL };
	struct size_wait w;
	uv_loop_t loop;
	uint64_t t0, ms;
	pid_t pid;
	int st;

	uv_loop_init(&loop);
	snprintf(log, sizeof(log), "%s/tick.log", tmpdir);
	sinks[0] = output_new(&loop, "tick", log, 0, 3);
	t0 = uv_hrtime();
	pid = start_child(sinks[0], "printf tick; exec sleep 60");
	CHECK(pid > 0);
	w.path = log;
	w.size = 5;
	CHECK(run_until(&loop, file_has, &w, WAIT_MS));
	ms = (uv_hrtime() - t0) / 1000000;
	CHECK(ms >= OUTPUT_FLUSH_MS - 10 && ms < 5000);
	CHECK(output_active(sinks[0]) == 2);
	kill(-pid, SIGKILL);
	CHECK(run_until(&loop, sinks_done, sinks, WAIT_MS));
	waitpid(pid, &st, 0);
	CHECK(WIFSIGNALED(st));
	finish(&loop, sinks);
	got = slurp(log, NULL);
	CHECK_STR(got, "tick\n");
	free(got);
	unlink(log);
}

/* output_free() writes out what was read but not terminated. */
static void test_free_flushes(void)
{
	char log[256], *got;
	struct output *sinks[2] = { NULL, NULL };
	uv_loop_t loop;
	int p[2];

	uv_loop_init(&loop);
	snprintf(log, sizeof(log), "%s/pending.log", tmpdir);
	sinks[0] = output_new(&loop, "pending", log, 0, 3);
	CHECK_INT(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	CHECK(write(p[1], "one\npending", 11) == 11);
	CHECK_INT(output_attach(sinks[0], p[0]), 0);
	CHECK_INT(output_active(sinks[0]), 1);
	uv_run(&loop, UV_RUN_NOWAIT); /* the data is there: one turn reads it */
	finish(&loop, sinks);
	close(p[1]);
	got = slurp(log, NULL);
	CHECK_STR(got, "one\npending\n");
	free(got);
	unlink(log);
}

/* Check one stderr line of a listener "A"/"B"; see test_stderr. */
static bool stderr_line(struct seq *a, struct seq *b, const char *line,
			size_t len)
{
	if (len > 3 && memcmp(line, "A: ", 3) == 0)
		return seq_line(a, line + 3, len - 3, "a-", 'x', 200);
	if (len > 3 && memcmp(line, "B: ", 3) == 0)
		return seq_line(b, line + 3, len - 3, "b-", 'x', 200);
	return false;
}

/* Two sinks on the daemon's stderr never interleave inside a line; a sink
 * whose log file cannot be opened warns once and falls back to stderr. */
static void test_stderr(void)
{
	char script[512], x200[201], path[256], *buf, *p, *nl;
	struct seq a = { -1, -1, 0 }, b = { -1, -1, 0 };
	struct output *sinks[4] = { NULL, NULL, NULL, NULL };
	int saved, fd, bad = 0, warnings = 0, clines = 0;
	bool done;
	pid_t pa, pb, pc;
	uv_loop_t loop;
	size_t len;

	memset(x200, 'x', 200);
	x200[200] = '\0';
	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
		  0600);
	CHECK(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);

	uv_loop_init(&loop);
	sinks[0] = output_new(&loop, "A", NULL, 0, 0);
	sinks[1] = output_new(&loop, "B", NULL, 0, 0);
	sinks[2] = output_new(&loop, "C", "/nonexistent/dir/c.log", 1000, 1);
	snprintf(script, sizeof(script),
		 "i=0; while [ $i -lt 2000 ]; do echo a-$i-%s; i=$((i+1)); done",
		 x200);
	pa = start_child(sinks[0], script);
	script[sizeof("i=0; while [ $i -lt 2000 ]; do echo ") - 1] = 'b';
	pb = start_child(sinks[1], script);
	pc = start_child(sinks[2], "echo c-line; echo c-line; echo c-line >&2");
	done = run_until(&loop, sinks_done, sinks, WAIT_MS);
	finish(&loop, sinks);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	CHECK(done);
	CHECK(pa > 0 && reap_ok(pa));
	CHECK(pb > 0 && reap_ok(pb));
	CHECK(pc > 0 && reap_ok(pc));

	buf = slurp(path, &len);
	CHECK(buf != NULL);
	if (buf == NULL)
		return;
	for (p = buf; (nl = memchr(p, '\n', len - (size_t)(p - buf)));
	     p = nl + 1) {
		size_t l = (size_t)(nl - p);
		if (stderr_line(&a, &b, p, l))
			continue;
		if (l == 9 && memcmp(p, "C: c-line", 9) == 0)
			clines++;
		else if (memmem(p, l, "cannot open log file", 20) != NULL)
			warnings++;
		else
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(a.gaps, 0);
	CHECK_INT(b.gaps, 0);
	CHECK_INT(a.last, 1999);
	CHECK_INT(b.last, 1999);
	CHECK_INT(clines, 3);
	CHECK_INT(warnings, 1);
	free(buf);
	unlink(path);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* as in the daemon (nats.c) */
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_rotation();
	test_long_line();
	test_flush_timer();
	test_free_flushes();
	test_stderr();
	rmdir(tmpdir);
	return t_done("test_output");
}
