/*
 * spawn.c: fork and exec one child, natsvisor's way.
 *
 * Why not uv_spawn: the daemon reaps every child with waitpid(-1), which
 * races libuv's per-pid reaping, and it needs things uv_spawn does not do
 * (a process group per listener, rlimits, PR_SET_PDEATHSIG, closing the
 * nats.c sockets that are not close-on-exec).
 *
 * The daemon is multi-threaded (nats.c), so between fork and exec the
 * child may only make async-signal-safe calls: everything that allocates
 * or may take a lock (PATH lookup, pipes, /dev/null, the rlimit values,
 * the fallback close bound) is prepared in the parent first.  All signals
 * are blocked in the parent around fork() so that no handler inherited
 * from the daemon (libuv's signal pipe writers) runs in the child before
 * the dispositions are reset.
 *
 * The descriptor table: a child made with fork() or a plain vfork-style
 * clone starts with a copy of the daemon's whole table -- two output pipes
 * per listener, the NATS sockets -- and exec then closes each of those
 * copies again.  At a thousand listeners that copying and closing was the
 * largest cost of a spawn, paid while the daemon waits (measured: 28% of
 * the spawning CPU at start-up, growing with every listener).  So the
 * four descriptors a child needs (stdin /dev/null, its stdout and stderr
 * pipes, the exec-error pipe) are moved into four fixed slots with low
 * numbers, taken once (spawn_init); the child is cloned sharing the
 * daemon's table (CLONE_FILES) and its first act is close_range(K, ~0U,
 * CLOSE_RANGE_UNSHARE), which gives it a private table holding only the
 * descriptors below K, the end of the slots.  Only then does it touch
 * descriptors.  Kernels before 5.9 (no close_range) and the sanitizer
 * builds (plain fork) copy the whole table as before.
 *
 * Descriptors: the child marks every fd >= 3 close-on-exec with
 * close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) rather than closing them, so
 * the exec-error pipe (itself close-on-exec) stays usable until execve and
 * everything else vanishes at exec.  Kernels without CLOSE_RANGE_CLOEXEC
 * (before 5.11) get two plain close_range() calls around the error pipe;
 * kernels without close_range (before 5.9) a close() loop bounded by the
 * daemon's RLIMIT_NOFILE soft limit read before the fork (no fd can exist
 * above it, since the daemon only ever raises that limit).  libbsd's
 * closefrom is not used: it may read /proc, which allocates.
 *
 * A failure in the child is written as (stage, errno) to the error pipe
 * and the child exits 127; the parent reads the pipe before interpreting
 * the exit, so "no such file" is a spawn error and never a bare 127.
 */
#include "spawn.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SPAWN_USE_FORK 1 /* sanitizers want to see an ordinary fork */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SPAWN_USE_FORK 1
#endif
#endif

#define SPAWN_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* What the child writes to the error pipe: one write, far below PIPE_BUF,
 * so the parent reads all of it or nothing. */
struct spawn_report {
	int32_t stage;
	int32_t errnum;
};

/* Everything the child needs, computed before the fork. */
struct spawn_prep {
	const struct spawn_req *req;
	const char *path;
	pid_t parent;
	int devnull;
	int out_w, err_w; /* child's stdout/stderr; devnull when not captured */
	int errw;         /* write end of the error pipe */
	bool set_nofile, set_core;
	struct rlimit nofile, core;
	int close_bound;  /* fallback: close fds 3 .. close_bound-1 */
	unsigned unshare_from; /* 0, or the K of close_range(K, ~0U, UNSHARE) */
	uint64_t sig_reset; /* bit S-1: signal S is not SIG_DFL here */
};

/* A spawner: what one thread needs to start children, so that a burst
 * of spawns can run on several threads at once (spawn_batch).  Its fixed
 * descriptor slots (see the top of the file): SLOT_NULL holds /dev/null
 * for good (the same descriptor in every spawner); the other three hold
 * /dev/null too except while a spawn uses them.  The stack is the
 * child's until it execs (it runs in the daemon's memory). */
enum { SLOT_NULL, SLOT_OUT, SLOT_ERR, SLOT_ERRW, NSLOTS };
#define SPAWNERS_MAX 4
struct spawner {
	int slot[NSLOTS];
#ifndef SPAWN_USE_FORK
	char stack[64 * 1024] __attribute__((aligned(64)));
#endif
};
static struct spawner spawners[SPAWNERS_MAX];
static unsigned slot_end; /* one past the highest slot; 0 before spawn_init */
static bool can_unshare;  /* close_range exists: the child may share first */

/* Stage names for messages. */
const char *spawn_stage_name(enum spawn_stage stage)
{
	switch (stage) {
	case SPAWN_OK:
		return "ok";
	case SPAWN_STAGE_SETUP:
		return "setup";
	case SPAWN_STAGE_NOFILE:
		return "setrlimit (limit_nofile)";
	case SPAWN_STAGE_CORE:
		return "setrlimit (limit_core)";
	case SPAWN_STAGE_CHDIR:
		return "chdir";
	case SPAWN_STAGE_CREDS:
		return "credentials";
	case SPAWN_STAGE_EXEC:
		return "exec";
	}
	return "unknown";
}

/* Value of PATH in ENVP, or NULL. */
static const char *spawn_env_path(char *const *envp)
{
	if (envp == NULL)
		return NULL;
	for (; *envp != NULL; envp++)
		if (strncmp(*envp, "PATH=", 5) == 0)
			return *envp + 5;
	return NULL;
}

/* Look ARGV0 up in the PATH of ENVP the way execvp would, but before the
 * fork: a name with a '/' is taken as it is (exec reports on it). */
char *spawn_resolve(const char *argv0, char *const *envp)
{
	const char *path, *dir, *end;
	size_t nlen;
	bool denied = false;

	if (argv0 == NULL || *argv0 == '\0') {
		errno = ENOENT;
		return NULL;
	}
	if (strchr(argv0, '/') != NULL) {
		char *r = strdup(argv0);
		if (r == NULL)
			errno = ENOMEM;
		return r;
	}
	path = spawn_env_path(envp);
	if (path == NULL)
		path = SPAWN_DEFAULT_PATH;
	nlen = strlen(argv0);
	for (dir = path;; dir = end + 1) {
		struct stat st;
		char *cand;
		size_t dlen;

		end = strchrnul(dir, ':');
		dlen = (size_t)(end - dir);
		cand = malloc(dlen + nlen + 3);
		if (cand == NULL) {
			errno = ENOMEM;
			return NULL;
		}
		if (dlen == 0) /* an empty element means "." (POSIX) */
			memcpy(cand, ".", (dlen = 1));
		else
			memcpy(cand, dir, dlen);
		cand[dlen] = '/';
		memcpy(cand + dlen + 1, argv0, nlen + 1);
		if (stat(cand, &st) == 0) {
			if (S_ISREG(st.st_mode) && (st.st_mode & 0111))
				return cand;
			denied = true;
		} else if (errno == EACCES) {
			denied = true;
		}
		free(cand);
		if (*end == '\0')
			break;
	}
	errno = denied ? EACCES : ENOENT;
	return NULL;
}

/* Non-blocking read of the child's report; see spawn.h. */
int spawn_read_error(int errpipe, enum spawn_stage *stage, int *errnum)
{
	struct spawn_report r;
	ssize_t n;

	do
		n = read(errpipe, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0) {
		*stage = SPAWN_STAGE_SETUP;
		*errnum = errno;
		return 2;
	}
	if ((size_t)n != sizeof(r) || r.stage <= SPAWN_OK ||
	    r.stage > SPAWN_STAGE_EXEC) {
		*stage = SPAWN_STAGE_SETUP; /* cannot happen: atomic pipe write */
		*errnum = EPROTO;
		return 2;
	}
	*stage = (enum spawn_stage)r.stage;
	*errnum = r.errnum;
	return 2;
}

/* Move *FD above 2 (close-on-exec), so the child's dup2 onto 0..2 can
 * never clobber a source it still needs. */
static int spawn_fd_high(int *fd)
{
	int n;

	if (*fd > 2)
		return 0;
	n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (n < 0)
		return -1;
	close(*fd);
	*fd = n;
	return 0;
}

/* Close FD if open, keeping errno. */
static void spawn_close(int *fd)
{
	int e = errno;

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = e;
}

/* An O_CLOEXEC pipe whose read end is also O_NONBLOCK (the write end,
 * the child's stdout or the error pipe, stays blocking). */
static int spawn_pipe(int *r, int *w)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	*r = p[0];
	*w = p[1];
	if (fcntl(*r, F_SETFL, O_NONBLOCK) < 0 || spawn_fd_high(w) < 0) {
		spawn_close(r);
		spawn_close(w);
		return -1;
	}
	return 0;
}

/* rlimit value from a configured int64 (huge means unlimited). */
static rlim_t spawn_rlim(uint64_t v)
{
	return v >= (uint64_t)RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)v;
}

/* Compute the limits the child sets: soft to the wanted value, hard kept
 * unless it has to grow (which only a privileged daemon may do). */
static void spawn_prep_limits(const struct spawn_req *req,
			      struct spawn_prep *p)
{
	struct rlimit cur;
	uint64_t want;
	long most;

	p->close_bound = 65536;
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0) {
		if (cur.rlim_cur != RLIM_INFINITY && cur.rlim_cur < INT_MAX)
			p->close_bound = (int)cur.rlim_cur;
		else
			p->close_bound = INT_MAX;
		want = req->limit_nofile >= 0 ? (uint64_t)req->limit_nofile
					      : req->nofile_soft;
		if ((req->limit_nofile >= 0 || req->nofile_soft > 0) &&
		    spawn_rlim(want) != cur.rlim_cur) { /* (else: as it is) */
			p->set_nofile = true;
			p->nofile.rlim_cur = spawn_rlim(want);
			/* unlimited: as many as the kernel allows (it refuses
			 * RLIM_INFINITY for this one) */
			if (p->nofile.rlim_cur == RLIM_INFINITY &&
			    (most = nr_open()) > 0)
				p->nofile.rlim_cur = (rlim_t)most;
			p->nofile.rlim_max = cur.rlim_max;
			if (cur.rlim_max != RLIM_INFINITY &&
			    (p->nofile.rlim_cur == RLIM_INFINITY ||
			     p->nofile.rlim_cur > cur.rlim_max))
				p->nofile.rlim_max = p->nofile.rlim_cur;
		}
	}
	if (req->limit_core >= 0 && getrlimit(RLIMIT_CORE, &cur) == 0) {
		p->set_core = true;
		p->core.rlim_cur = spawn_rlim((uint64_t)req->limit_core);
		p->core.rlim_max = cur.rlim_max;
		if (cur.rlim_max != RLIM_INFINITY &&
		    (p->core.rlim_cur == RLIM_INFINITY ||
		     p->core.rlim_cur > cur.rlim_max))
			p->core.rlim_max = p->core.rlim_cur;
	}
}

/* The kernel's struct sigaction with its 64-signal mask (as on x86 and
 * ARM; where there is no restorer field, the all-zero SIG_DFL request
 * reads the same and a query reads only the handler), for the raw call:
 * glibc's sigaction() refuses its two reserved signals (32, 33), yet an
 * ignored disposition inherited from our own parent would still reach a
 * child through them. */
struct spawn_ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask[64 / (8 * sizeof(unsigned long))];
};
#define SPAWN_NSIG 64

/* The signals whose disposition is not SIG_DFL in this process: handlers
 * (libuv's), and SIG_IGN, which exec would pass on (nats.c ignores
 * SIGPIPE).  Asked in the parent, once per spawn or batch, so that the
 * child resets only those (a handful) instead of asking about all 64 --
 * that loop was the largest part of a child's work before exec.  No
 * disposition changes during a spawn: natsvisord sets its handlers up
 * before the first one, and the thread that would change them is the one
 * spawning (or waiting for a batch). */
static uint64_t sig_reset_set;
static bool sig_reset_known;

void spawn_signals_changed(void)
{
	sig_reset_known = false;
}

/* The answer is kept until spawn_signals_changed(): 64 system calls a
 * spawn were a fifth of the daemon's part of a restart. */
static uint64_t spawn_sig_reset(void)
{
	uint64_t set = 0;

	if (sig_reset_known)
		return sig_reset_set;
	for (int sig = 1; sig <= SPAWN_NSIG; sig++) {
		struct spawn_ksigaction old;
		if (syscall(SYS_rt_sigaction, sig, NULL, &old,
			    sizeof(old.mask)) == 0 &&
		    old.handler != SIG_DFL)
			set |= 1ULL << (sig - 1);
	}
	sig_reset_set = set;
	sig_reset_known = true;
	return set;
}

/* Child: report (STAGE, ERRNUM) and exit 127.  Async-signal-safe. */
static void __attribute__((noreturn))
spawn_child_fail(const struct spawn_prep *p, enum spawn_stage stage, int errnum)
{
	struct spawn_report r = { .stage = (int32_t)stage,
				  .errnum = (int32_t)errnum };
	ssize_t n;

	do
		n = write(p->errw, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	_exit(127);
}

/* Child: make every fd above 2 except the error pipe go away at exec (or
 * now).  Async-signal-safe; see the top of the file. */
static int spawn_child_fds(const struct spawn_prep *p)
{
	int fd;

	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	if (errno == EINVAL) { /* close_range without CLOSE_RANGE_CLOEXEC */
		if (p->errw > 3 &&
		    syscall(SYS_close_range, 3U, (unsigned)p->errw - 1, 0U) < 0)
			return -1;
		return (int)syscall(SYS_close_range, (unsigned)p->errw + 1,
				    ~0U, 0U);
	}
	if (errno != ENOSYS)
		return -1;
	for (fd = 3; fd < p->close_bound; fd++)
		if (fd != p->errw)
			close(fd);
	return 0;
}

/* Child: everything between fork and exec, in the order of spawn.h.  Only
 * async-signal-safe calls; never returns. */
static void __attribute__((noreturn)) spawn_child(const struct spawn_prep *p)
{
	const struct spawn_req *req = p->req;
	sigset_t none;
	int sig;

	/* Still in the daemon's table: leave it first, taking only what lies
	 * below the end of the slots.  Nothing above has been touched. */
	if (p->unshare_from != 0 &&
	    syscall(SYS_close_range, p->unshare_from, ~0U,
		    CLOSE_RANGE_UNSHARE) < 0)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, errno);

	/* Every signal is blocked (spawn_start_on).  Before the mask is
	 * cleared below, whatever is not SIG_DFL in the daemon goes back to
	 * it: a handler must not run here, in the daemon's memory, and SIG_IGN
	 * would survive exec.  The raw call also reaches glibc's reserved
	 * signals. */
	{
		struct spawn_ksigaction dfl = { SIG_DFL, 0, NULL, { 0 } };
		for (sig = 1; sig <= SPAWN_NSIG; sig++)
			if (p->sig_reset & (1ULL << (sig - 1)))
				(void)syscall(SYS_rt_sigaction, sig, &dfl,
					      NULL, sizeof(dfl.mask));
	}

	if (setpgid(0, 0) < 0)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, errno);
	if (dup2(p->devnull, STDIN_FILENO) < 0 ||
	    dup2(p->out_w, STDOUT_FILENO) < 0 ||
	    dup2(p->err_w, STDERR_FILENO) < 0)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, errno);
	if (spawn_child_fds(p) < 0)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, errno);
	if (p->set_nofile && setrlimit(RLIMIT_NOFILE, &p->nofile) < 0)
		spawn_child_fail(p, SPAWN_STAGE_NOFILE, errno);
	if (p->set_core && setrlimit(RLIMIT_CORE, &p->core) < 0)
		spawn_child_fail(p, SPAWN_STAGE_CORE, errno);
	if (req->umask >= 0)
		umask((mode_t)req->umask);
	if (req->directory != NULL && chdir(req->directory) < 0)
		spawn_child_fail(p, SPAWN_STAGE_CHDIR, errno);
	if (req->set_ids) {
		if (setgroups((size_t)(req->ngroups > 0 ? req->ngroups : 0),
			      req->ngroups > 0 ? req->groups : NULL) < 0 ||
		    setgid(req->gid) < 0 || setuid(req->uid) < 0)
			spawn_child_fail(p, SPAWN_STAGE_CREDS, errno);
	}
	/* After the uid switch, which clears the death signal; then make sure
	 * the daemon did not die before it was armed. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, errno);
	if (getppid() != p->parent)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, ESRCH);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		spawn_child_fail(p, SPAWN_STAGE_SETUP, errno);
	execve(p->path, req->argv, req->envp);
	spawn_child_fail(p, SPAWN_STAGE_EXEC, errno);
}


#ifndef SPAWN_USE_FORK
static int spawn_clone_entry(void *arg)
{
	spawn_child(arg);
}
#endif

/* Start the child.  Like posix_spawn, the child shares the parent's
 * memory (CLONE_VM) and the parent waits until it has exec'd or exited
 * (CLONE_VFORK): no page tables are copied, so a spawn costs the same
 * whatever the daemon's size (fork() copied them for every restart, and
 * at 1000 listeners that dominated).  The child gets its own copy of the
 * signal dispositions and working directory (no CLONE_SIGHAND, CLONE_FS);
 * it shares the descriptor table (CLONE_FILES) only until its first
 * system call leaves it (see the top of the file).  It writes nothing the
 * parent reads but its own stack, and calls only async-signal-safe
 * functions. */
static pid_t spawn_clone(struct spawner *sp, struct spawn_prep *p)
{
#ifdef SPAWN_USE_FORK
	pid_t pid;

	(void)sp;
	p->unshare_from = 0;
	pid = fork();
	if (pid == 0)
		spawn_child(p);
	return pid;
#else
	int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;

	p->unshare_from = can_unshare ? slot_end : 0;
	if (p->unshare_from != 0)
		flags |= CLONE_FILES;
	return clone(spawn_clone_entry, sp->stack + sizeof(sp->stack), flags,
		     p);
#endif
}

/* Take the slots; see spawn.h. */
int spawn_init(void)
{
	int fd, k, i, top;

	if (slot_end != 0)
		return 0;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || spawn_fd_high(&fd) < 0) {
		spawn_close(&fd);
		return -1;
	}
	top = fd;
	for (k = 0; k < SPAWNERS_MAX; k++) {
		spawners[k].slot[SLOT_NULL] = fd;
		for (i = SLOT_OUT; i < NSLOTS; i++) {
			int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			if (n < 0) {
				/* Give back what was taken: slots past the
				 * failure are still -1. */
				for (; k >= 0; k--)
					for (i = SLOT_OUT; i < NSLOTS; i++)
						spawn_close(&spawners[k].slot[i]);
				spawn_close(&fd);
				return -1;
			}
			spawners[k].slot[i] = n;
			if (n > top)
				top = n;
		}
	}
	slot_end = (unsigned)top + 1;
	/* An empty range: 0 if the kernel has close_range (and with it
	 * CLOSE_RANGE_UNSHARE, both since 5.9), ENOSYS or EPERM if not. */
	can_unshare = syscall(SYS_close_range, ~0U, ~0U, 0U) == 0;
	return 0;
}

/* See spawn.h.  The kernel's expand_fdtable() calls synchronize_rcu()
 * whenever the table it grows is shared, and the table only grows by
 * doubling: a daemon starting a thousand listeners (three descriptors
 * each) went through six of those grace periods, 10-20 ms each on a small
 * VM, with its spawners and so half the CPUs idle (measured: 0.42 s from
 * start to the last of 1000 children running, 0.29 s without them).  One
 * descriptor at N-1, taken and given back, sizes the table once; a table
 * never shrinks. */
void spawn_reserve_fds(size_t n)
{
	struct rlimit rl;
	int fd, high;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    n > rl.rlim_cur)
		n = rl.rlim_cur;
	if (n > INT_MAX)
		n = INT_MAX;
	if (n < 2 || (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		return;
	high = fcntl(fd, F_DUPFD_CLOEXEC, (int)(n - 1));
	if (high >= 0)
		close(high);
	close(fd);
}

/* Put FD into slot S of SP (the slot's old file is closed); close FD. */
static int slot_fill(struct spawner *sp, int s, int *fd)
{
	if (dup3(*fd, sp->slot[s], O_CLOEXEC) < 0)
		return -1;
	spawn_close(fd);
	return 0;
}

/* Give SP's slots back to /dev/null, closing the parent's copies of the
 * write ends that went to the child. */
static void slots_release(struct spawner *sp)
{
	int e = errno;

	for (int s = SLOT_OUT; s < NSLOTS; s++)
		(void)dup3(sp->slot[SLOT_NULL], sp->slot[s], O_CLOEXEC);
	errno = e;
}

/* spawn_start() with the slots and stack of spawner SP (each thread that
 * spawns has its own) and the signals to reset, SIG_RESET
 * (spawn_sig_reset). */
static int spawn_start_on(struct spawner *sp, const struct spawn_req *req,
			  struct spawn_child *child, uint64_t sig_reset)
{
	struct spawn_prep p = { .req = req, .sig_reset = sig_reset };
	int out_r = -1, err_r = -1, err_pr = -1;
	int out_w = -1, err_w = -1, errw = -1;
	char *resolved = NULL;
	sigset_t all, old;
	pid_t pid;
	int e;

	child->pid = -1;
	child->out_fd = child->err_fd = child->errpipe = -1;
	if (req->argv == NULL || req->argv[0] == NULL) {
		errno = EINVAL;
		return -1;
	}
	p.path = req->path;
	if (p.path == NULL) {
		resolved = spawn_resolve(req->argv[0], req->envp);
		if (resolved == NULL)
			return -1;
		p.path = resolved;
	}
	p.devnull = p.out_w = p.err_w = sp->slot[SLOT_NULL];
	p.errw = sp->slot[SLOT_ERRW];
	if (req->capture_output) {
		if (spawn_pipe(&out_r, &out_w) < 0 ||
		    spawn_pipe(&err_r, &err_w) < 0 ||
		    slot_fill(sp, SLOT_OUT, &out_w) < 0 ||
		    slot_fill(sp, SLOT_ERR, &err_w) < 0)
			goto fail;
		p.out_w = sp->slot[SLOT_OUT];
		p.err_w = sp->slot[SLOT_ERR];
	}
	if (spawn_pipe(&err_pr, &errw) < 0 ||
	    slot_fill(sp, SLOT_ERRW, &errw) < 0)
		goto fail;
	spawn_prep_limits(req, &p);
	p.parent = getpid();

	sigfillset(&all);
	if ((e = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) {
		errno = e;
		goto fail;
	}
	pid = spawn_clone(sp, &p);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		errno = e;
		goto fail;
	}
	/* Both sides call setpgid, so the group exists whichever runs first;
	 * EACCES (child already exec'd) and ESRCH (already gone) are fine. */
	(void)setpgid(pid, pid);

	slots_release(sp);
	free(resolved);
	child->pid = pid;
	child->out_fd = out_r;
	child->err_fd = err_r;
	child->errpipe = err_pr;
	return 0;

fail:
	slots_release(sp);
	spawn_close(&out_w);
	spawn_close(&err_w);
	spawn_close(&errw);
	spawn_close(&out_r);
	spawn_close(&err_r);
	spawn_close(&err_pr);
	e = errno;
	free(resolved);
	errno = e;
	return -1;
}

/* Prepare, fork, and let the child set itself up; see spawn.h. */
int spawn_start(const struct spawn_req *req, struct spawn_child *child)
{
	child->pid = -1;
	child->out_fd = child->err_fd = child->errpipe = -1;
	if (spawn_init() < 0)
		return -1;
	return spawn_start_on(&spawners[0], req, child, spawn_sig_reset());
}

/* The batch pool: helper threads that spawn beside the calling thread.
 * A spawn spends most of its time waiting for the child to exec (the
 * vfork-style clone); with several spawners the children exec on several
 * CPUs at once.  The helpers live as long as the process: a child's
 * PR_SET_PDEATHSIG fires when the thread that made it ends. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	int nhelpers;     /* started */
	bool tried;       /* helpers started, or found not worth it */
	uint64_t gen;     /* bumped for every batch */
	int busy;         /* helpers not yet done with this batch */
	const struct spawn_req *reqs;
	struct spawn_child *children;
	int *errs;
	size_t n, next;
	uint64_t sig_reset; /* asked once for the batch */
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER,
	   .work = PTHREAD_COND_INITIALIZER,
	   .done = PTHREAD_COND_INITIALIZER };

/* Take jobs of the current batch until none is left. */
static void pool_take(struct spawner *sp)
{
	for (;;) {
		size_t i;

		pthread_mutex_lock(&pool.mu);
		i = pool.next < pool.n ? pool.next++ : pool.n;
		pthread_mutex_unlock(&pool.mu);
		if (i == pool.n)
			return;
		pool.errs[i] = spawn_start_on(sp, &pool.reqs[i],
					      &pool.children[i],
					      pool.sig_reset) < 0
				       ? errno
				       : 0;
	}
}

static void *pool_main(void *arg)
{
	struct spawner *sp = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&pool.mu);
	for (;;) {
		while (pool.gen == seen)
			pthread_cond_wait(&pool.work, &pool.mu);
		seen = pool.gen;
		pthread_mutex_unlock(&pool.mu);
		pool_take(sp);
		pthread_mutex_lock(&pool.mu);
		if (--pool.busy == 0)
			pthread_cond_signal(&pool.done);
	}
	return NULL;
}

/* One helper per further CPU, up to SPAWNERS_MAX spawners in all; every
 * signal blocked in them, so that none is delivered there. */
static void pool_start(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t all, old;

	pool.tried = true;
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0)
		return;
	while (pool.nhelpers + 1 < SPAWNERS_MAX && pool.nhelpers + 1 < ncpu) {
		pthread_t t;
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&a, 64 * 1024);
		if (pthread_create(&t, &a, pool_main,
				   &spawners[pool.nhelpers + 1]) != 0) {
			pthread_attr_destroy(&a);
			break;
		}
		pthread_attr_destroy(&a);
		pool.nhelpers++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Spawn N children on every spawner; see spawn.h. */
void spawn_batch(const struct spawn_req *reqs, struct spawn_child *children,
		 int *errs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		children[i].pid = -1;
		children[i].out_fd = children[i].err_fd = -1;
		children[i].errpipe = -1;
		errs[i] = 0;
	}
	if (spawn_init() < 0) {
		for (size_t i = 0; i < n; i++)
			errs[i] = errno;
		return;
	}
	if (n > 1 && !pool.tried)
		pool_start();
	pthread_mutex_lock(&pool.mu);
	pool.reqs = reqs;
	pool.children = children;
	pool.errs = errs;
	pool.n = n;
	pool.next = 0;
	pool.sig_reset = spawn_sig_reset();
	pool.busy = n > 1 ? pool.nhelpers : 0;
	if (pool.busy > 0) {
		pool.gen++;
		pthread_cond_broadcast(&pool.work);
	}
	pthread_mutex_unlock(&pool.mu);
	pool_take(&spawners[0]);
	pthread_mutex_lock(&pool.mu);
	while (pool.busy > 0)
		pthread_cond_wait(&pool.done, &pool.mu);
	pool.reqs = NULL;
	pool.children = NULL;
	pool.errs = NULL;
	pool.n = pool.next = 0;
	pthread_mutex_unlock(&pool.mu);
}
