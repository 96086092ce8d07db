/*
 * test_spawn.c: spawn_start() and spawn_batch() against real children.
 *
 * The child reports on itself (/proc/$$ of the shell that was exec'd),
 * so nothing races the kernel's close-on-exec sweep: by the time the
 * shell runs a command its own exec is complete.  Waits are bounded by
 * poll() timeouts and an alarm(), never by fixed sleeps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "t.h"

#define WAIT_MS 20000

static char tmpdir[] = "/tmp/nv-test-spawn.XXXXXX";

/* Open descriptors of this process. */
static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* Read the child's stdout and stderr to EOF (bounded); stdout into OUT. */
static size_t drain(struct spawn_child *c, char *out, size_t size)
{
	size_t len = 0;

	while (c->out_fd >= 0 || c->err_fd >= 0) {
		struct pollfd p[2] = { { c->out_fd, POLLIN, 0 },
				       { c->err_fd, POLLIN, 0 } };
		char junk[512];
		int i;

		if (poll(p, 2, WAIT_MS) <= 0) {
			CHECK(!"child output timed out");
			break;
		}
		for (i = 0; i < 2; i++) {
			int *fd = i == 0 ? &c->out_fd : &c->err_fd;
			ssize_t n;

			if (*fd < 0 || p[i].revents == 0)
				continue;
			if (i == 0 && len + 1 < size)
				n = read(*fd, out + len, size - len - 1);
			else
				n = read(*fd, junk, sizeof(junk));
			if (n > 0 && i == 0 && len + 1 < size)
				len += (size_t)n;
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	if (size > 0)
		out[len] = '\0';
	return len;
}

/* Wait (bounded) for the exec-error pipe to say something. */
static int exec_result(struct spawn_child *c, enum spawn_stage *stage,
		       int *err)
{
	struct pollfd p = { c->errpipe, POLLIN, 0 };
	int r;

	*stage = SPAWN_OK;
	*err = 0;
	if (poll(&p, 1, WAIT_MS) <= 0)
		return 0;
	r = spawn_read_error(c->errpipe, stage, err);
	return r;
}

/* Reap PID; its wait status. */
static int reap(pid_t pid)
{
	int st = -1;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

/* A request with sensible defaults. */
static struct spawn_req req_default(char *const *argv, char *const *envp)
{
	struct spawn_req r = {
		.argv = argv, .envp = envp, .umask = -1,
		.limit_nofile = -1, .limit_core = -1, .capture_output = true,
	};
	return r;
}

/* Spawn, collect stdout, reap; returns the wait status. */
static int run(const struct spawn_req *r, char *out, size_t size,
	       enum spawn_stage *stage, int *err, int *result)
{
	struct spawn_child c;
	int st;

	if (spawn_start(r, &c) < 0) {
		CHECK(!"spawn_start failed");
		return -1;
	}
	drain(&c, out, size);
	st = reap(c.pid);
	/* after the exit the answer is never 0 */
	*result = spawn_read_error(c.errpipe, stage, err);
	close(c.errpipe);
	return st;
}

static void on_usr2(int sig)
{
	(void)sig;
}

/* Set signal SIG (even one glibc reserves) to SIG_IGN, or back to SIG_DFL,
 * with the raw system call. */
static void raw_ignore(int sig, bool ign)
{
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask[64 / (8 * sizeof(unsigned long))];
	} k = { ign ? SIG_IGN : SIG_DFL, 0, NULL, { 0 } };

	CHECK_INT((int)syscall(SYS_rt_sigaction, sig, &k, NULL,
			       sizeof(k.mask)), 0);
}

/* The child sees 0 1 2 only, stdin /dev/null, default signals, an empty
 * mask, its own group, and the requested umask, directory and limits. */
static void test_hygiene(void)
{
	char *argv[] = { "sh", "-c",
			 "ls /proc/$$/fd; readlink /proc/$$/fd/0;"
			 /* builtins only: dash blocks signals around its
			  * own forks, which a forked grep could observe */
			 "while read l; do case $l in SigIgn*|SigBlk*)"
			 " printf '%s\\n' \"$l\";; esac; done </proc/$$/status;"
			 "echo \"$$ $(cut -d' ' -f5 /proc/$$/stat)\";"
			 "umask; pwd; ulimit -n; ulimit -c", NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct spawn_req r = req_default(argv, envp);
	struct spawn_child c;
	enum spawn_stage stage;
	sigset_t usr1, old;
	char out[4096], want[512];
	int leak, sock, err, st;

	/* What nats.c and libuv leave behind in a daemon, and what an
	 * ignoring parent of the daemon could: a real-time signal and one of
	 * glibc's reserved two, which only the raw call reaches. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, on_usr2);
	signal(SIGRTMIN + 1, SIG_IGN);
	spawn_signals_changed();
	raw_ignore(32, true);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
	sock = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(leak > 2 && sock > 2);

	r.umask = 027;
	r.directory = "/tmp";
	r.limit_nofile = 123;
	r.limit_core = 0;
	CHECK_INT(spawn_start(&r, &c), 0);
	CHECK(c.out_fd >= 0 && c.err_fd >= 0 && c.errpipe >= 0);
	CHECK(fcntl(c.out_fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(c.out_fd, F_GETFD) & FD_CLOEXEC);
	CHECK(fcntl(c.errpipe, F_GETFD) & FD_CLOEXEC);
	CHECK_INT(exec_result(&c, &stage, &err), 1);
	drain(&c, out, sizeof(out));
	st = reap(c.pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(c.errpipe);
	snprintf(want, sizeof(want),
		 "0\n1\n2\n/dev/null\nSigBlk:\t0000000000000000\n"
		 "SigIgn:\t0000000000000000\n%d %d\n0027\n/tmp\n123\n0\n",
		 (int)c.pid, (int)c.pid);
	CHECK_STR(out, want);

	/* dash clears its mask at start-up; grep shows what exec got */
	{
		char *gargv[] = { "grep", "-E", "^Sig(Blk|Ign)",
				  "/proc/self/status", NULL };
		struct spawn_req g = req_default(gargv, envp);
		int res;

		CHECK_INT(run(&g, out, sizeof(out), &stage, &err, &res), 0);
		CHECK_INT(res, 1);
		CHECK_STR(out, "SigBlk:\t0000000000000000\n"
			       "SigIgn:\t0000000000000000\n");
	}

	close(leak);
	close(sock);
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	signal(SIGRTMIN + 1, SIG_DFL);
	spawn_signals_changed();
	raw_ignore(32, false);
}

/* Without capture, stdout and stderr are /dev/null and no pipes exist. */
static void test_no_capture(void)
{
	char *argv[] = { "sh", "-c",
			 "a=$(readlink /proc/$$/fd/1);"
			 "b=$(readlink /proc/$$/fd/2);"
			 "echo \"$a $b\" >nocap.out",
			 NULL };
	struct spawn_req r = req_default(argv, NULL);
	struct spawn_child c;
	char path[256], buf[256] = "";
	int fd;

	r.capture_output = false;
	r.directory = tmpdir;
	CHECK_INT(spawn_start(&r, &c), 0);
	CHECK_INT(c.out_fd, -1);
	CHECK_INT(c.err_fd, -1);
	CHECK_INT(reap(c.pid), 0);
	close(c.errpipe);
	snprintf(path, sizeof(path), "%s/nocap.out", tmpdir);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
		close(fd);
	}
	CHECK_STR(buf, "/dev/null /dev/null\n");
	unlink(path);
}

/* Failures after the fork come back through the pipe with their stage. */
static void check_failure(const char *what, struct spawn_req *r,
			  enum spawn_stage want_stage, int want_err)
{
	enum spawn_stage stage;
	char out[256];
	int err, res, st;

	st = run(r, out, sizeof(out), &stage, &err, &res);
	if (res != 2 || stage != want_stage || err != want_err)
		fprintf(stderr, "%s: result %d stage %s errno %d (%s)\n", what,
			res, spawn_stage_name(stage), err, strerror(err));
	CHECK_INT(res, 2);
	CHECK_INT(stage, want_stage);
	CHECK_INT(err, want_err);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 127);
	CHECK_STR(out, ""); /* nothing from the failed child */
}

/* Write a file of MODE with CONTENT under tmpdir; its path in BUF. */
static void make_file(char *buf, size_t size, const char *name,
		      const char *content, mode_t mode)
{
	int fd;

	snprintf(buf, size, "%s/%s", tmpdir, name);
	fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	close(fd);
	chmod(buf, mode);
}

static void test_errors(void)
{
	char noexec[256], garbage[256];
	char *missing_argv[] = { "/nonexistent/natsvisor-prog", NULL };
	char *noexec_argv[] = { noexec, NULL };
	char *garbage_argv[] = { garbage, NULL };
	char *true_argv[] = { "true", NULL };
	struct spawn_req r;

	make_file(noexec, sizeof(noexec), "noexec.sh", "#!/bin/sh\nexit 0\n",
		  0644);
	make_file(garbage, sizeof(garbage), "garbage", "\x01\x02\x03junk\n",
		  0755);

	r = req_default(missing_argv, NULL);
	check_failure("missing", &r, SPAWN_STAGE_EXEC, ENOENT);
	r = req_default(noexec_argv, NULL);
	check_failure("noexec", &r, SPAWN_STAGE_EXEC, EACCES);
	r = req_default(garbage_argv, NULL);
	check_failure("garbage", &r, SPAWN_STAGE_EXEC, ENOEXEC);
	r = req_default(true_argv, NULL);
	r.directory = "/nonexistent";
	check_failure("baddir", &r, SPAWN_STAGE_CHDIR, ENOENT);

	CHECK_STR(spawn_stage_name(SPAWN_STAGE_EXEC), "exec");
	CHECK_STR(spawn_stage_name(SPAWN_STAGE_CHDIR), "chdir");
	unlink(noexec);
	unlink(garbage);
}

/* The environment is exactly ENVP; no PATH in it means the default. */
static void test_env(void)
{
	char *argv[] = { "env", NULL };
	char *envp[] = { "A=1", "B=two words", "EMPTY=", NULL };
	struct spawn_req r = req_default(argv, envp);
	enum spawn_stage stage;
	char out[1024];
	int err, res;

	CHECK_INT(run(&r, out, sizeof(out), &stage, &err, &res), 0);
	CHECK_INT(res, 1);
	CHECK_STR(out, "A=1\nB=two words\nEMPTY=\n");
}

static void test_resolve(void)
{
	char *envp[] = { "X=1", "PATH=/nonexistent::/usr/bin:/bin", NULL };
	char dirpath[300], prog[256];
	char *envd[] = { dirpath, NULL };
	char *argv[] = { "natsvisor-no-such-program", NULL };
	struct spawn_req r = req_default(argv, envp);
	struct spawn_child c;
	char *p;
	int before;

	p = spawn_resolve("sh", envp);
	CHECK(p != NULL && strlen(p) > 3 && strcmp(p + strlen(p) - 3, "/sh") == 0);
	CHECK(p != NULL && access(p, X_OK) == 0);
	free(p);
	p = spawn_resolve("/abs/path", envp);
	CHECK_STR(p, "/abs/path");
	free(p);
	errno = 0;
	CHECK(spawn_resolve("natsvisor-no-such-program", envp) == NULL);
	CHECK_INT(errno, ENOENT);
	errno = 0;
	CHECK(spawn_resolve("", envp) == NULL);
	CHECK_INT(errno, ENOENT);

	make_file(prog, sizeof(prog), "prog", "#!/bin/sh\n", 0644);
	snprintf(dirpath, sizeof(dirpath), "PATH=%s", tmpdir);
	errno = 0;
	CHECK(spawn_resolve("prog", envd) == NULL);
	CHECK_INT(errno, EACCES);
	unlink(prog);

	/* Not found in PATH: an error before any fork, nothing leaked. */
	before = fd_count();
	errno = 0;
	CHECK_INT(spawn_start(&r, &c), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(c.pid, -1);
	CHECK_INT(fd_count(), before);
}

/* The child dies with the process that forked it. */
static void test_pdeathsig(void)
{
	int p[2], st;
	pid_t mid, pid = -1;

	CHECK_INT(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	CHECK_INT(pipe(p), 0);
	mid = fork();
	if (mid == 0) {
		char *argv[] = { "sleep", "60", NULL };
		struct spawn_req r = req_default(argv, NULL);
		struct spawn_child c;
		enum spawn_stage stage;
		int err;

		close(p[0]);
		r.capture_output = false;
		if (spawn_start(&r, &c) < 0 ||
		    exec_result(&c, &stage, &err) != 1)
			_exit(1);
		if (write(p[1], &c.pid, sizeof(c.pid)) != sizeof(c.pid))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	CHECK(read(p[0], &pid, sizeof(pid)) == sizeof(pid));
	close(p[0]);
	st = reap(mid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (pid > 0) {
		st = reap(pid); /* adopted by us, the subreaper */
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

/* As root: groups, gid and uid are switched, and a failure to do so is a
 * CREDS report. */
static void test_creds(void)
{
	char *argv[] = { "sh", "-c", "id -u; id -g; id -G", NULL };
	struct spawn_req r = req_default(argv, NULL);
	gid_t groups[] = { 65534, 65533 };
	enum spawn_stage stage;
	char out[256];
	int err, res;

	if (geteuid() != 0) {
		printf("test_creds: skipped (not root)\n");
		return;
	}
	r.set_ids = true;
	r.uid = 65534;
	r.gid = 65534;
	r.groups = groups;
	r.ngroups = 2;
	CHECK_INT(run(&r, out, sizeof(out), &stage, &err, &res), 0);
	CHECK_INT(res, 1);
	CHECK_STR(out, "65534\n65534\n65534 65533\n");
}

/* Many spawns, good and failing: no fd and no zombie is left behind. */
static void test_many(void)
{
	char *good[] = { "sh", "-c", "echo out; echo err >&2", NULL };
	char *bad[] = { "/nonexistent/prog", NULL };
	int before = fd_count(), i, okruns = 0, failruns = 0;

	for (i = 0; i < 200; i++) {
		struct spawn_req r = req_default(i % 2 ? bad : good, NULL);
		enum spawn_stage stage;
		char out[64];
		int err, res, st;

		st = run(&r, out, sizeof(out), &stage, &err, &res);
		if (i % 2 == 0 && st == 0 && res == 1 &&
		    strcmp(out, "out\n") == 0)
			okruns++;
		if (i % 2 == 1 && res == 2 && stage == SPAWN_STAGE_EXEC &&
		    err == ENOENT)
			failruns++;
	}
	CHECK_INT(okruns, 100);
	CHECK_INT(failruns, 100);
	CHECK_INT(fd_count(), before);
	errno = 0;
	CHECK_INT(waitpid(-1, NULL, WNOHANG), -1);
	CHECK_INT(errno, ECHILD);
}

/* spawn_batch: N children started together (on the helper threads too)
 * each get their own stdout and exec-error pipe, see only 0 1 2, and a
 * failing one reports its own error; no descriptor is left behind. */
static void test_batch(void)
{
	enum { N = 40 };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	char marks[N][16];
	char *argvs[N][5];
	struct spawn_req reqs[N];
	struct spawn_child children[N];
	int errs[N], before = fd_count(), i;

	for (i = 0; i < N; i++) {
		snprintf(marks[i], sizeof(marks[i]), "m%d", i);
		argvs[i][0] = "sh";
		argvs[i][1] = "-c";
		argvs[i][2] = "echo $0; ls /proc/$$/fd;"
			      "while read l; do case $l in SigIgn*)"
			      " printf '%s\\n' \"$l\";; esac; done"
			      " </proc/$$/status";
		argvs[i][3] = marks[i];
		argvs[i][4] = NULL;
		reqs[i] = req_default(argvs[i], envp);
	}
	reqs[7].directory = "/nonexistent/dir";
	/* The batch asks for the dispositions to reset once, for all. */
	signal(SIGPIPE, SIG_IGN);
	raw_ignore(33, true);
	spawn_signals_changed();
	spawn_batch(reqs, children, errs, N);
	signal(SIGPIPE, SIG_DFL);
	raw_ignore(33, false);
	spawn_signals_changed();
	for (i = 0; i < N; i++) {
		char out[256], want[128];
		enum spawn_stage stage;
		int err, st;

		CHECK_INT(errs[i], 0);
		if (errs[i] != 0)
			continue;
		CHECK_INT(exec_result(&children[i], &stage, &err),
			  i == 7 ? 2 : 1);
		drain(&children[i], out, sizeof(out));
		st = reap(children[i].pid);
		close(children[i].errpipe);
		if (i == 7) {
			CHECK_INT(stage, SPAWN_STAGE_CHDIR);
			CHECK_INT(err, ENOENT);
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 127);
			continue;
		}
		snprintf(want, sizeof(want),
			 "m%d\n0\n1\n2\nSigIgn:\t0000000000000000\n", i);
		CHECK_STR(out, want);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK_INT(fd_count(), before);
}

/* FDSize in /proc/self/status: the size of the descriptor table. */
static long fd_table_size(void)
{
	char line[128];
	long n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "FDSize: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* spawn_reserve_fds: the table holds N descriptors at once (bounded by
 * RLIMIT_NOFILE), and no descriptor is left open. */
static void test_reserve(void)
{
	struct rlimit rl;
	long want = 3000;
	int before = fd_count();

	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < want)
		want = (long)rl.rlim_cur;
	CHECK(fd_table_size() < want);
	spawn_reserve_fds((size_t)want);
	CHECK(fd_table_size() >= want);
	CHECK_INT(fd_count(), before);
}

int main(void)
{
	alarm(120); /* a hung child fails the test instead of hanging it */
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_hygiene();
	test_no_capture();
	test_errors();
	test_env();
	test_resolve();
	test_pdeathsig();
	test_creds();
	test_many();
	test_batch();
	test_reserve();
	rmdir(tmpdir);
	return t_done("test_spawn");
}
