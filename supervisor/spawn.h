/*
 * spawn.h: start one child the way natsvisor wants it, with its own code
 * rather than uv_spawn (the daemon reaps with waitpid(-1)).
 *
 * Everything that allocates is prepared by the caller before spawn_start();
 * between fork and exec the child calls only async-signal-safe functions:
 * signal dispositions reset, new process group, stdin /dev/null, stdout and
 * stderr to pipes, every descriptor above 2 closed, rlimits, umask,
 * directory, groups/gid/uid, PR_SET_PDEATHSIG (then a check that the parent
 * is still there), signal mask cleared, execve.  A failure in the child is
 * written as (stage, errno) to a close-on-exec pipe; the parent learns it
 * with spawn_read_error().
 */
#ifndef NV_SPAWN_H
#define NV_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum spawn_stage {
	SPAWN_OK = 0,
	SPAWN_STAGE_SETUP, /* dup2, setpgid, signals, prctl */
	SPAWN_STAGE_NOFILE, /* setrlimit(RLIMIT_NOFILE) */
	SPAWN_STAGE_CORE,   /* setrlimit(RLIMIT_CORE) */
	SPAWN_STAGE_CHDIR,
	SPAWN_STAGE_CREDS, /* setgroups, setgid, setuid */
	SPAWN_STAGE_EXEC,
};

struct spawn_req {
	char *const *argv;  /* argv[0] is looked up in PATH of ENVP if it has no '/' */
	const char *path;   /* program to exec; NULL: spawn_resolve(argv[0]) */
	char *const *envp;  /* complete environment for the child */
	const char *directory; /* NULL: stay */
	int umask;             /* -1: keep */
	bool set_ids;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
	int64_t limit_nofile; /* -1: restore NOFILE_SOFT below */
	int64_t limit_core;   /* -1: keep */
	uint64_t nofile_soft; /* the daemon's original soft RLIMIT_NOFILE */
	bool capture_output;  /* false: stdout/stderr to /dev/null */
};

struct spawn_child {
	pid_t pid;
	int out_fd;  /* read end of the child's stdout pipe, O_NONBLOCK|O_CLOEXEC; -1 if none */
	int err_fd;  /* read end of the child's stderr pipe, likewise */
	int errpipe; /* read end of the exec-error pipe, O_NONBLOCK|O_CLOEXEC */
};

/* The process's signal dispositions changed: the next spawn asks which
 * to reset in the child again (it keeps the answer until then). */
void spawn_signals_changed(void);

/* Fork and exec. Returns 0 and fills CHILD, or -1 with errno set (fork or
 * pipe failure, or ENOENT/EACCES from spawn_resolve when PATH holds no
 * such program: nothing was started).  The child is the leader of its own
 * process group (pgid == pid); setpgid is called in both processes.
 * Signals are blocked in the calling thread around fork(); call it from
 * the loop thread, which outlives every child: PR_SET_PDEATHSIG fires
 * when the forking *thread* ends.  Every later failure (chdir, creds,
 * exec, ...) comes back through CHILD->errpipe, and the child exits 127. */
int spawn_start(const struct spawn_req *req, struct spawn_child *child);

/* Take the descriptor slots every spawn passes its child's descriptors
 * through (spawn.c explains why): /dev/null and three more for each
 * thread that may spawn.  Call it early in main(),
 * before the event loop and nats.c open descriptors, so that the slots
 * get low numbers; spawn_start() calls it itself otherwise.  Returns 0, or
 * -1 with errno if /dev/null cannot be opened or duplicated. */
int spawn_init(void);

/* Grow the descriptor table now to hold at least N descriptors (bounded
 * by RLIMIT_NOFILE), instead of doubling it as they are opened: once the
 * table is shared (threads, and the children made with CLONE_FILES),
 * every growth waits for an RCU grace period in the kernel.  Best called
 * before other threads exist; harmless at any time. */
void spawn_reserve_fds(size_t n);

/* Start N children at once: the same as spawn_start() for each REQS[i]
 * into CHILDREN[i], with ERRS[i] 0 or the errno of a failure, but spread
 * over the calling thread and helper threads (one per further CPU, up to
 * three, started at the first batch and kept for the life of the
 * process).  For a burst (the start-up of many listeners): each spawn
 * waits for its child to exec, and several children can exec at once.
 * Call it from the loop thread; nothing else may spawn meanwhile. */
void spawn_batch(const struct spawn_req *reqs, struct spawn_child *children,
		 int *errs, size_t n);

/* Read the exec-error pipe without blocking.  Returns 1 when exec
 * succeeded (EOF, nothing written), 2 when the child reported a failure
 * (*STAGE and *ERRNUM set), 0 when nothing is known yet (would block).
 * After the child has exited the answer is never 0.  A read error on the
 * pipe itself is reported as 2 with SPAWN_STAGE_SETUP and its errno.
 * The caller closes ERRPIPE once the answer is not 0. */
int spawn_read_error(int errpipe, enum spawn_stage *stage, int *errnum);

/* "exec", "chdir", ... for messages. */
const char *spawn_stage_name(enum spawn_stage stage);

/* Resolve ARGV0 in the PATH found in ENVP (or the default PATH) before the
 * fork, so the child needs no allocation; returns a malloc'd path, or NULL
 * with errno (ENOENT, EACCES) when nothing executable is found. */
char *spawn_resolve(const char *argv0, char *const *envp);

#endif
