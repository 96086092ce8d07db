/*
 * nvbench.c: the measuring half of `make bench` (bench.sh drives it).
 *
 *	nvbench kills [-r ROUNDS] [-a AGE_MS] [-t TIMEOUT_MS] [-u URL]
 *	    LABEL:DIR[:SOCK:NAME] ...
 *	nvbench scale -n N -d BASE [-s SOCK] [-t TIMEOUT_MS] -p PIDFILE
 *	    -l LOG -- CMD [ARG...]
 *	nvbench pub -u URL -s SOCK -S SUBJECT -i INSTANCE -N NAME -c CTL
 *	    [-n COUNT]
 *	nvbench chaos -u URL -s SOCK -S SUBJECT -N NAME -m MODE -b INBOX
 *	    [-r RATE] [-k KILLS] [-i INTERVAL_MS]
 *	nvbench mkstream -u URL -n STREAM -S SUBJECT
 *	nvbench floor [-r N] -d DIR -- CMD [ARG...]
 *	nvbench ctlrt -s SOCK -N NAME [-r RUNS]
 *	nvbench cpu -p PID -x EXE
 *	nvbench spawnfloor -n N -d BASE [-j THREADS] -- CMD [ARG...]
 *
 * Every figure is printed as one "key value..." line on stdout, in
 * milliseconds unless the key says otherwise; bench.sh keeps them raw and
 * summarises them.
 *
 * kills: round robin over the targets; for each, wait until its child
 * (bench-child, bench-listen or bench-rawlisten, which write "PID NS" to
 * DIR/pid at main()) is AGE_MS old, note CLOCK_MONOTONIC, kill(SIGKILL),
 * and wait (inotify) for a new DIR/pid.  "running" is the new child's own timestamp minus
 * the kill.  With SOCK and NAME the target is a natsvisord listener: the
 * round first waits for it to be ready, and after the restart sends
 * wait-ready NAME on the control socket; "ready" is when that reply
 * arrives.  With -u, an observer connection watches the pongs (replies on
 * _INBOX.> that carry the new child's pid) as the server passes them on,
 * and "pong" is the wait-ready reply's arrival minus the observer's sight
 * of the last pong before it: the daemon's own delay from pong to answer.
 * Then come, from the listener's ./phases, the times from the kill to its
 * connection and to its ping subscription, and to the pong seen.
 *
 * scale: start CMD (a supervisor, in its own session) at t0, then wait
 * until each of BASE/s0000 ... BASE/sN-1 has a ./starts; "spawned" is the
 * latest first start minus t0.  With SOCK, a wait-ready for every
 * listener is sent as soon as the socket answers; "ready" is its reply.
 *
 * pub: sequential publishes, latency of each: plain (nats.c publish and
 * flush), ctl (a gated publish on the control socket), ctl-confirm (the
 * same with --confirm), natsvisorctl (the program, forked each time), and
 * nats-side (request natsvisor.INSTANCE.wait-ready NAME, then publish and
 * flush).
 *
 * chaos: publish "m<i>" to SUBJECT at RATE per second while NAME is
 * killed with SIGKILL KILLS times, INTERVAL_MS apart.  MODE plain and
 * durable publish directly; gate and confirm through the control socket,
 * many requests in flight; confirm re-sends what was not confirmed.  At
 * the end the maildir INBOX/new is read and the missing messages counted.
 *
 * ctlrt: RUNS round trips of "status NAME" on the control socket from
 * this process (connect, request, reply, close): the daemon's share of a
 * natsvisorctl status, without the start of a process.  Prints "ctlrt
 * MIN MEDIAN P90 MAX".
 *
 * cpu: CPU time used so far (from /proc/PID/task/TID/schedstat, in ns)
 * by PID and its descendants, in two sums: those running EXE (the
 * children) and the others (the supervisor processes).  Prints "cpu SUP_MS
 * CHILDREN_MS".
 *
 * spawnfloor: N starts with no supervisor, from one thread per CPU, as
 * `scale` times them: the least a start of N services can take here.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "ctlproto.h"

#define MAX_TARGETS 16

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

static void sleep_ms(double m)
{
	struct timespec ts = { (time_t)(m / 1000),
			       (long)((m - (double)(time_t)(m / 1000) * 1000) *
				      1e6) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "nvbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Read "PID NS" from PATH (the first line).  0 on success. */
static int read_start(const char *path, long *pid, int64_t *ts)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	long long t;
	if (sscanf(buf, "%ld %lld", pid, &t) != 2)
		return -1;
	*ts = t;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The control socket */

/* Connect to SOCK (non-blocking when NB); -1 when nobody answers. */
static int ctl_connect(const char *sock, bool nb)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	int fd = socket(AF_UNIX,
			SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0),
			0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send the request ARGV (+ BODY) on FD. */
static int ctl_send(int fd, int argc, char **argv, const char *body,
		    size_t bodylen)
{
	char *req;
	size_t len, off = 0;
	if (ctl_encode_request(argc, argv, body, bodylen, &req, &len) < 0)
		die("encode: %s", strerror(errno));
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { fd, POLLOUT, 0 };
			poll(&p, 1, 100);
			continue;
		}
		if (w < 0) {
			free(req);
			return -1;
		}
		off += (size_t)w;
	}
	free(req);
	return 0;
}

/* A reply being read. */
struct ctl_reply {
	char *buf;
	size_t len, cap;
};

/* Read what is there; 1 with *CODE when complete, 0 more, -1 error. */
static int ctl_read(int fd, struct ctl_reply *r, int *code)
{
	for (;;) {
		const char *o, *e;
		size_t ol, el;
		int rc = ctl_decode_reply(r->buf ? r->buf : "", r->len, code,
					  &o, &ol, &e, &el);
		if (rc != 0)
			return rc;
		if (r->len == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 4096;
			if ((r->buf = realloc(r->buf, r->cap)) == NULL)
				die("out of memory");
		}
		ssize_t n = read(fd, r->buf + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		r->len += (size_t)n;
	}
}

/* One blocking round trip; returns the code (-1: no daemon), OUT gets
 * the reply's stdout text (malloc'd) when asked. */
static int ctl_call(const char *sock, int argc, char **argv, const char *body,
		    size_t bodylen, char **out)
{
	int fd = ctl_connect(sock, false), code = -1;
	struct ctl_reply r = { 0 };
	if (fd < 0)
		return -1;
	if (ctl_send(fd, argc, argv, body, bodylen) == 0 &&
	    ctl_read(fd, &r, &code) == 1 && out) {
		const char *o, *e;
		size_t ol, el;
		ctl_decode_reply(r.buf, r.len, &code, &o, &ol, &e, &el);
		/* Not strndup: the reply is not NUL-terminated, and a
		 * string function may read past it (ASan's
		 * strict_string_checks says so). */
		if ((*out = malloc(ol + 1)) == NULL)
			die("out of memory");
		memcpy(*out, o, ol);
		(*out)[ol] = '\0';
	}
	close(fd);
	free(r.buf);
	return code;
}

/* The pid of listener NAME from status --json (0 when none). */
static long ctl_pid(const char *sock, const char *name)
{
	char *argv[] = { "status", "--json", (char *)name, NULL };
	char *out = NULL;
	long pid = 0;
	if (ctl_call(sock, 3, argv, NULL, 0, &out) == 0 && out) {
		char *p = strstr(out, "\"pid\":");
		p = p ? strstr(p + 6, "\"pid\":") : NULL; /* skip the daemon's */
		if (p)
			pid = atol(p + 6);
	}
	free(out);
	return pid;
}

/* ------------------------------------------------------------------ */
/* The pong observer */

#define OBS_RING 1024

/* Pongs seen: the replying process (the "pid" of the reply) and when.
 * The observer subscribes to _INBOX.> only: a subscriber on the ping
 * subjects would itself count as a responder and spoil the pings. */
static struct {
	pthread_mutex_t mu;
	long pid[OBS_RING];
	int64_t at[OBS_RING];
	unsigned head;
} obs = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* A message on an inbox: a pong when it is a reply to a ping (the
 * daemon's "<inbox>.p<id>") that carries the listener's pid. */
static void obs_on_inbox(natsConnection *nc, natsSubscription *sub,
			 natsMsg *msg, void *closure)
{
	int64_t t = now_ns();
	const char *s = natsMsg_GetSubject(msg), *last = strrchr(s, '.');
	const char *d = natsMsg_GetData(msg), *p;
	if (last && last[1] == 'p' && !natsMsg_IsNoResponders(msg) && d &&
	    (p = strstr(d, "\"pid\":")) != NULL) {
		pthread_mutex_lock(&obs.mu);
		unsigned k = obs.head++ % OBS_RING;
		obs.pid[k] = atol(p + 6);
		obs.at[k] = t;
		pthread_mutex_unlock(&obs.mu);
	}
	natsMsg_Destroy(msg);
}

/* When the last pong from PID was seen (0: none). */
static int64_t obs_last_pong(long pid)
{
	int64_t t = 0;
	pthread_mutex_lock(&obs.mu);
	for (unsigned i = 0; i < OBS_RING && i < obs.head; i++) {
		unsigned k = (obs.head - 1 - i) % OBS_RING;
		if (obs.pid[k] == pid) {
			t = obs.at[k];
			break;
		}
	}
	pthread_mutex_unlock(&obs.mu);
	return t;
}

static natsConnection *nats_connect(const char *url)
{
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, url) != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 50) != NATS_OK ||
	    natsConnection_Connect(&nc, o) != NATS_OK)
		die("cannot connect to %s: %s", url, nats_GetLastError(NULL));
	natsOptions_Destroy(o);
	return nc;
}

/* ------------------------------------------------------------------ */
/* kills */

struct target {
	char label[64];
	char dir[1024];
	const char *sock, *name;
	int wd;
};

/* Wait until DIR/pid names a process other than OLD (inotify on FD). */
static int wait_new_pid(int ifd, const struct target *t, long old, long *pid,
			int64_t *ts, int timeout_ms)
{
	char path[1100], ev[4096];
	int64_t end = now_ns() + (int64_t)timeout_ms * 1000000;
	snprintf(path, sizeof path, "%s/pid", t->dir);
	for (;;) {
		if (read_start(path, pid, ts) == 0 && *pid != old)
			return 0;
		int64_t left = end - now_ns();
		if (left <= 0)
			return -1;
		struct pollfd p = { ifd, POLLIN, 0 };
		/* A 20 ms cap covers a rename that raced the check above. */
		if (poll(&p, 1, left / 1000000 > 20 ? 20 : (int)(left / 1000000) + 1) > 0)
			while (read(ifd, ev, sizeof ev) > 0)
				;
	}
}

static int cmd_kills(int argc, char **argv)
{
	int rounds = 50, age = 0, timeout = 10000, opt;
	const char *url = NULL;
	struct target t[MAX_TARGETS];
	int nt = 0;
	while ((opt = getopt(argc, argv, "r:a:t:u:")) != -1) {
		switch (opt) {
		case 'r': rounds = atoi(optarg); break;
		case 'a': age = atoi(optarg); break;
		case 't': timeout = atoi(optarg); break;
		case 'u': url = optarg; break;
		default: die("kills: bad option");
		}
	}
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0)
		die("inotify: %s", strerror(errno));
	for (int i = optind; i < argc && nt < MAX_TARGETS; i++) {
		struct target *x = &t[nt++];
		char *spec = strdup(argv[i]), *save = NULL;
		char *lab = strtok_r(spec, ":", &save);
		char *dir = strtok_r(NULL, ":", &save);
		if (lab == NULL || dir == NULL)
			die("kills: LABEL:DIR[:SOCK:NAME] expected: %s", argv[i]);
		snprintf(x->label, sizeof x->label, "%s", lab);
		snprintf(x->dir, sizeof x->dir, "%s", dir);
		x->sock = strtok_r(NULL, ":", &save);
		x->name = x->sock ? strtok_r(NULL, ":", &save) : NULL;
		x->wd = inotify_add_watch(ifd, x->dir,
					  IN_MOVED_TO | IN_CLOSE_WRITE);
	}
	natsConnection *nc = NULL;
	natsSubscription *s2 = NULL;
	if (url) {
		nc = nats_connect(url);
		if (natsConnection_Subscribe(&s2, nc, "_INBOX.>", obs_on_inbox,
					     NULL) != NATS_OK ||
		    natsConnection_Flush(nc) != NATS_OK)
			die("observer: %s", nats_GetLastError(NULL));
	}
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < nt; i++) {
			struct target *x = &t[i];
			char path[1100];
			long pid, npid;
			int64_t ts, nts;
			snprintf(path, sizeof path, "%s/pid", x->dir);
			if (x->name) {
				char *wa[] = { "wait-ready", "--timeout", "30s",
					       (char *)x->name, NULL };
				if (ctl_call(x->sock, 4, wa, NULL, 0, NULL) != 0)
					die("%s: not ready", x->label);
			}
			if (read_start(path, &pid, &ts) < 0)
				die("%s: no %s", x->label, path);
			int64_t wait = ts + (int64_t)age * 1000000 - now_ns();
			if (wait > 0)
				sleep_ms(ms(wait));
			int64_t t0 = now_ns();
			if (kill((pid_t)pid, SIGKILL) < 0)
				die("%s: kill %ld: %s", x->label, pid,
				    strerror(errno));
			if (wait_new_pid(ifd, x, pid, &npid, &nts, timeout) < 0) {
				printf("%s timeout\n", x->label);
				fflush(stdout);
				continue;
			}
			if (!x->name) {
				printf("%s %.3f\n", x->label, ms(nts - t0));
				fflush(stdout);
				continue;
			}
			char *wa[] = { "wait-ready", "--timeout", "30s",
				       (char *)x->name, NULL };
			int code = ctl_call(x->sock, 4, wa, NULL, 0, NULL);
			int64_t t1 = now_ns();
			double pong = -1;
			if (nc) {
				int64_t lp = obs_last_pong(npid);
				if (lp > nts && lp <= t1)
					pong = ms(t1 - lp);
			}
			/* Where the time went: the listener's ./phases. */
			char ph[1100], buf[160];
			long long pm = 0, pc = 0, ps = 0;
			long ppid = 0;
			snprintf(ph, sizeof ph, "%s/phases", x->dir);
			int pfd = open(ph, O_RDONLY | O_CLOEXEC);
			if (pfd >= 0) {
				ssize_t k = read(pfd, buf, sizeof buf - 1);
				close(pfd);
				buf[k > 0 ? k : 0] = '\0';
				if (sscanf(buf, "%ld %lld %lld %lld", &ppid, &pm,
					   &pc, &ps) != 4 || ppid != npid)
					pc = ps = 0;
			}
			int64_t lp = nc ? obs_last_pong(npid) : 0;
			printf("%s %.3f %.3f %.3f %d %.3f %.3f %.3f\n", x->label,
			       ms(nts - t0), ms(t1 - t0), pong, code,
			       pc ? ms(pc - t0) : -1.0, ps ? ms(ps - t0) : -1.0,
			       lp > nts ? ms(lp - t0) : -1.0);
			fflush(stdout);
		}
	}
	if (nc) {
		natsSubscription_Destroy(s2);
		natsConnection_Destroy(nc);
	}
	close(ifd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* scale */

/* One pass over BASE/s0000 ... BASE/sN-1: FIRST[i] gets the first start
 * of each child seen for the first time, counted in *FOUND; *LAST the
 * latest of them.  Stops at the first one not started yet (they mostly
 * start in order): the next pass looks again. */
static void scan_starts(const char *base, int n, int64_t *first, int *found,
			int64_t *last)
{
	for (int i = 0; i < n; i++) {
		char path[1100];
		long p;
		if (first[i])
			continue;
		snprintf(path, sizeof path, "%s/s%04d/starts", base, i);
		if (read_start(path, &p, &first[i]) < 0) {
			first[i] = 0;
			return;
		}
		++*found;
		if (first[i] > *last)
			*last = first[i];
	}
}

static int cmd_scale(int argc, char **argv)
{
	int n = 0, timeout = 120000, opt;
	const char *base = NULL, *sock = NULL, *pidfile = NULL, *log = NULL;
	while ((opt = getopt(argc, argv, "n:d:s:t:p:l:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'd': base = optarg; break;
		case 's': sock = optarg; break;
		case 't': timeout = atoi(optarg); break;
		case 'p': pidfile = optarg; break;
		case 'l': log = optarg; break;
		default: die("scale: bad option");
		}
	}
	if (n <= 0 || !base || !pidfile || !log || optind >= argc)
		die("scale: -n N -d BASE -p PIDFILE -l LOG -- CMD expected");
	int64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0)
			_exit(127);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		setsid();
		execvp(argv[optind], argv + optind);
		_exit(127);
	}
	FILE *pf = fopen(pidfile, "w");
	if (pf) {
		fprintf(pf, "%d\n", (int)pid);
		fclose(pf);
	}
	int64_t *first = calloc((size_t)n, sizeof(*first));
	int found = 0, cfd = -1, code = -1;
	int64_t t_ready = 0, last = 0, end = t0 + (int64_t)timeout * 1000000;
	struct ctl_reply rep = { 0 };
	bool ready_done = sock == NULL;
	while ((found < n || !ready_done) && now_ns() < end) {
		if (!ready_done && cfd < 0) {
			cfd = ctl_connect(sock, false);
			if (cfd >= 0) {
				char *wa[] = { "wait-ready", "--timeout",
					       "600s", NULL };
				ctl_send(cfd, 3, wa, NULL, 0);
				fcntl(cfd, F_SETFL, O_NONBLOCK);
			}
		}
		if (found < n)
			scan_starts(base, n, first, &found, &last);
		struct pollfd p = { cfd, POLLIN, 0 };
		int wait_ms = found < n ? 5 : 100;
		if (cfd < 0) {
			sleep_ms(1);
		} else if (poll(&p, 1, wait_ms) > 0) {
			int rc = ctl_read(cfd, &rep, &code);
			if (rc != 0) {
				t_ready = now_ns();
				ready_done = true;
				close(cfd);
			}
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			die("scale: the supervisor exited (see %s)", log);
	}
	if (found < n)
		printf("spawned timeout %d/%d\n", found, n);
	else
		printf("spawned %.3f\n", ms(last - t0));
	if (sock)
		printf("ready %.3f %d\n", ready_done ? ms(t_ready - t0) : -1.0,
		       code);
	free(first);
	free(rep.buf);
	return 0;
}

/* ------------------------------------------------------------------ */
/* pub */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Print MODE's latencies (ms) and rate. */
static void pub_report(const char *mode, double *lat, int n, int64_t total)
{
	qsort(lat, (size_t)n, sizeof(*lat), cmp_dbl);
	printf("pub %s %.4f %.4f %.1f\n", mode, lat[n / 2], lat[n * 9 / 10],
	       (double)n / ((double)total / 1e9));
	fflush(stdout);
}

static int cmd_pub(int argc, char **argv)
{
	const char *url = NULL, *sock = NULL, *subj = NULL, *inst = NULL,
		   *name = NULL, *ctl = NULL;
	int n = 200, opt;
	while ((opt = getopt(argc, argv, "u:s:S:i:N:c:n:")) != -1) {
		switch (opt) {
		case 'u': url = optarg; break;
		case 's': sock = optarg; break;
		case 'S': subj = optarg; break;
		case 'i': inst = optarg; break;
		case 'N': name = optarg; break;
		case 'c': ctl = optarg; break;
		case 'n': n = atoi(optarg); break;
		default: die("pub: bad option");
		}
	}
	if (!url || !sock || !subj || !inst || !name || !ctl)
		die("pub: -u -s -S -i -N -c are required");
	natsConnection *nc = nats_connect(url);
	double *lat = calloc((size_t)n, sizeof(*lat));
	char wsubj[256];
	snprintf(wsubj, sizeof wsubj, "natsvisor.%s.wait-ready", inst);

	/* plain: publish and flush (the server has it). */
	int64_t all = now_ns();
	for (int i = 0; i < n; i++) {
		int64_t t = now_ns();
		if (natsConnection_PublishString(nc, subj, "plain") != NATS_OK ||
		    natsConnection_Flush(nc) != NATS_OK)
			die("plain publish: %s", nats_GetLastError(NULL));
		lat[i] = ms(now_ns() - t);
	}
	pub_report("plain", lat, n, now_ns() - all);

	/* ctl: a gated publish on the control socket, and with --confirm. */
	for (int confirm = 0; confirm < 2; confirm++) {
		char *a[] = { "publish", confirm ? "--confirm" : "--timeout",
			      confirm ? "--timeout" : "10s",
			      confirm ? "10s" : (char *)subj, (char *)subj,
			      NULL };
		int ac = confirm ? 5 : 4;
		all = now_ns();
		for (int i = 0; i < n; i++) {
			int64_t t = now_ns();
			int code = ctl_call(sock, ac, a, "gated", 5, NULL);
			if (code != 0)
				die("ctl publish: code %d", code);
			lat[i] = ms(now_ns() - t);
		}
		pub_report(confirm ? "ctl-confirm" : "ctl", lat, n,
			   now_ns() - all);
	}

	/* natsvisorctl: the program, as a script would run it. */
	all = now_ns();
	for (int i = 0; i < n; i++) {
		int64_t t = now_ns();
		pid_t p = fork();
		if (p == 0) {
			int nul = open("/dev/null", O_RDWR);
			dup2(nul, 0);
			dup2(nul, 1);
			execl(ctl, ctl, "-s", sock, "publish", subj, "cli",
			      (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("natsvisorctl publish failed (status %d)", st);
		lat[i] = ms(now_ns() - t);
	}
	pub_report("natsvisorctl", lat, n, now_ns() - all);

	/* nats-side: wait-ready over NATS, then publish and flush. */
	all = now_ns();
	for (int i = 0; i < n; i++) {
		natsMsg *rep = NULL;
		int64_t t = now_ns();
		if (natsConnection_RequestString(&rep, nc, wsubj, name, 5000) !=
		    NATS_OK)
			die("wait-ready request: %s", nats_GetLastError(NULL));
		if (strstr(natsMsg_GetData(rep), "\"code\":0") == NULL)
			die("wait-ready over NATS: %s", natsMsg_GetData(rep));
		natsMsg_Destroy(rep);
		if (natsConnection_PublishString(nc, subj, "nats-side") !=
			    NATS_OK ||
		    natsConnection_Flush(nc) != NATS_OK)
			die("publish: %s", nats_GetLastError(NULL));
		lat[i] = ms(now_ns() - t);
	}
	pub_report("nats-side", lat, n, now_ns() - all);

	/* ctl with 32 requests in flight: the daemon's throughput. */
	{
		enum { K = 32 };
		int fds[K];
		struct ctl_reply reps[K];
		char *a[] = { "publish", "--timeout", "10s", (char *)subj,
			      NULL };
		int sent = 0, done = 0, inflight = 0;
		memset(reps, 0, sizeof reps);
		for (int k = 0; k < K; k++)
			fds[k] = -1;
		all = now_ns();
		while (done < n) {
			struct pollfd p[K];
			for (int k = 0; k < K; k++) {
				if (fds[k] < 0 && sent < n) {
					fds[k] = ctl_connect(sock, false);
					if (fds[k] < 0)
						die("ctl connect");
					ctl_send(fds[k], 4, a, "burst", 5);
					fcntl(fds[k], F_SETFL, O_NONBLOCK);
					reps[k].len = 0;
					sent++;
					inflight++;
				}
				p[k].fd = fds[k];
				p[k].events = POLLIN;
			}
			poll(p, K, 1000);
			for (int k = 0; k < K; k++) {
				int code;
				if (fds[k] < 0 || !(p[k].revents & (POLLIN | POLLHUP)))
					continue;
				int rc = ctl_read(fds[k], &reps[k], &code);
				if (rc == 0)
					continue;
				if (rc < 0 || code != 0)
					die("burst publish: code %d", code);
				close(fds[k]);
				fds[k] = -1;
				done++;
				inflight--;
			}
		}
		int64_t tot = now_ns() - all;
		printf("pub ctl-x32 - - %.1f\n", (double)n / ((double)tot / 1e9));
		for (int k = 0; k < K; k++)
			free(reps[k].buf);
	}
	free(lat);
	natsConnection_Destroy(nc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* chaos */

struct req {
	int fd;
	int id;
	struct ctl_reply rep;
};

static int cmd_chaos(int argc, char **argv)
{
	const char *url = NULL, *sock = NULL, *subj = NULL, *name = NULL,
		   *mode = NULL, *inbox = NULL;
	int rate = 1000, kills = 20, interval = 250, opt;
	while ((opt = getopt(argc, argv, "u:s:S:N:m:b:r:k:i:")) != -1) {
		switch (opt) {
		case 'u': url = optarg; break;
		case 's': sock = optarg; break;
		case 'S': subj = optarg; break;
		case 'N': name = optarg; break;
		case 'm': mode = optarg; break;
		case 'b': inbox = optarg; break;
		case 'r': rate = atoi(optarg); break;
		case 'k': kills = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		default: die("chaos: bad option");
		}
	}
	if (!url || !sock || !subj || !name || !mode || !inbox)
		die("chaos: -u -s -S -N -m -b are required");
	bool viactl = strcmp(mode, "gate") == 0 || strcmp(mode, "confirm") == 0;
	bool confirm = strcmp(mode, "confirm") == 0;
	natsConnection *nc = nats_connect(url);
	/* One kill every INTERVAL ms, starting one interval in, and as many
	 * messages as that takes plus one more interval. */
	int total = (int)((int64_t)(kills + 1) * interval * rate / 1000);
	int maxreq = 4096, nreq = 0, errors = 0, retries = 0, nkilled = 0;
	struct req *rq = calloc((size_t)maxreq, sizeof(*rq));
	int *queue = calloc((size_t)total * 8 + 16, sizeof(int)), qh = 0,
	    qt = 0; /* ids to (re)send through the control socket */
	int *tries = calloc((size_t)total + 1, sizeof(int));
	char payload[32];
	char *a_gate[] = { "publish", "--timeout", "30s", (char *)subj, NULL };
	char *a_conf[] = { "publish", "--confirm", "--timeout", "2s",
			   (char *)subj, NULL };
	int64_t t0 = now_ns(), next_kill = t0 + (int64_t)interval * 1000000;
	int next = 0;
	while (next < total || nreq > 0 || qh < qt) {
		int64_t t = now_ns();
		/* Publish what is due. */
		while (next < total &&
		       t >= t0 + (int64_t)next * 1000000000 / rate) {
			if (viactl) {
				queue[qt++] = next;
			} else {
				int n = snprintf(payload, sizeof payload, "m%d",
						 next);
				natsConnection_Publish(nc, subj, payload, n);
			}
			next++;
		}
		/* Kill what is due. */
		if (nkilled < kills && t >= next_kill) {
			long pid = ctl_pid(sock, name);
			if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0) {
				nkilled++;
				next_kill += (int64_t)interval * 1000000;
			}
		}
		/* Start queued control requests. */
		while (qh < qt && nreq < maxreq) {
			struct req *r = &rq[nreq];
			r->fd = ctl_connect(sock, true);
			if (r->fd < 0)
				break; /* backlog full: later */
			r->id = queue[qh++];
			r->rep.len = 0;
			int n = snprintf(payload, sizeof payload, "m%d", r->id);
			if (ctl_send(r->fd, confirm ? 5 : 4,
				     confirm ? a_conf : a_gate, payload,
				     (size_t)n) < 0) {
				close(r->fd);
				errors++;
				continue;
			}
			nreq++;
		}
		/* Collect replies. */
		struct pollfd *p = calloc((size_t)nreq + 1, sizeof(*p));
		for (int i = 0; i < nreq; i++) {
			p[i].fd = rq[i].fd;
			p[i].events = POLLIN;
		}
		poll(p, (nfds_t)nreq, nreq ? 1 : 0);
		if (!nreq)
			sleep_ms(0.5);
		for (int i = nreq - 1; i >= 0; i--) {
			int code;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int rc = ctl_read(rq[i].fd, &rq[i].rep, &code);
			if (rc == 0)
				continue;
			close(rq[i].fd);
			if (rc < 0 || code != 0) {
				if (confirm && ++tries[rq[i].id] < 8) {
					/* not confirmed: send it again */
					retries++;
					queue[qt++] = rq[i].id;
				} else {
					errors++;
				}
			}
			free(rq[i].rep.buf);
			rq[i] = rq[--nreq];
			memset(&rq[nreq], 0, sizeof(rq[nreq]));
		}
		free(p);
		if (now_ns() - t0 > (int64_t)120 * 1000000000)
			break; /* bounded */
	}
	natsConnection_Flush(nc);
	/* Let deliveries settle: until the inbox stops growing. */
	char newdir[1100];
	snprintf(newdir, sizeof newdir, "%s/new", inbox);
	char *seen = calloc((size_t)total, 1);
	int got = 0, dups = 0, prev = -1, stable = 0;
	/* JetStream redelivers what a killed listener had not acknowledged
	 * only after the consumer's AckWait (30 s unless set): wait longer. */
	bool durable = strcmp(mode, "durable") == 0;
	int64_t end = now_ns() + (int64_t)(durable ? 45 : 20) * 1000000000;
	while (now_ns() < end) {
		got = 0;
		dups = 0;
		memset(seen, 0, (size_t)total);
		DIR *d = opendir(newdir);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			char path[1400], buf[32];
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", newdir, e->d_name);
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			ssize_t k = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (k <= 1 || buf[0] != 'm')
				continue;
			buf[k] = '\0';
			int id = atoi(buf + 1);
			if (id < 0 || id >= total)
				continue;
			if (seen[id])
				dups++;
			else
				got++;
			seen[id] = 1;
		}
		if (d)
			closedir(d);
		if (got == total)
			break;
		stable = got == prev ? stable + 1 : 0;
		if (stable >= 10 && !durable) /* 2 s without a new message */
			break;
		prev = got;
		sleep_ms(200);
	}
	printf("chaos %s sent %d received %d lost %d dup %d errors %d "
	       "retries %d kills %d\n",
	       mode, total, got, total - got, dups, errors, retries, nkilled);
	free(seen);
	free(tries);
	free(queue);
	free(rq);
	natsConnection_Destroy(nc);
	return 0;
}

/* floor [-r N] -d DIR -- CMD...: what this machine allows at best.  N
 * times: fork and exec CMD in DIR (t_fork), wait for its DIR/pid
 * ("exec": its main() minus t_fork) and, when it writes one, DIR/phases
 * ("conn", "sub": connected and subscribed, minus t_fork); then kill it
 * with SIGKILL, reap it with a blocking waitpid and fork and exec it again
 * at once ("restart": the new main() minus the kill) -- the least any
 * supervisor can do.  Of a restart: "reaped", the kill to waitpid's
 * return (the death, and the news of it); "execve", the new child's
 * main() minus its own stamp just before execve().  Their sum is what no
 * supervisor can do ahead of the kill, whatever it prepares. */
static int cmd_floor(int argc, char **argv)
{
	int rounds = 20, opt;
	const char *dir = NULL;
	while ((opt = getopt(argc, argv, "r:d:")) != -1) {
		switch (opt) {
		case 'r': rounds = atoi(optarg); break;
		case 'd': dir = optarg; break;
		default: die("floor: bad option");
		}
	}
	if (!dir || optind >= argc)
		die("floor: -d DIR -- CMD expected");
	char **cmd = argv + optind;
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	struct target t = { .sock = NULL, .name = NULL };
	snprintf(t.dir, sizeof t.dir, "%s", dir);
	inotify_add_watch(ifd, dir, IN_MOVED_TO | IN_CLOSE_WRITE);
	/* the child's stamp before execve(), in a page it shares with us */
	int64_t *t_execve = mmap(NULL, sizeof *t_execve, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t_execve == MAP_FAILED)
		die("floor: mmap: %s", strerror(errno));
	long prev = 0;
	for (int r = 0; r < rounds; r++) {
		long npid;
		int64_t t_fork = 0, t_kill = 0, t_reaped = 0, nts;
		pid_t c[2];
		for (int k = 0; k < 2; k++) {
			if (k == 0)
				t_fork = now_ns();
			c[k] = fork();
			if (c[k] == 0) {
				if (chdir(dir) < 0)
					_exit(127);
				*t_execve = now_ns();
				execv(cmd[0], cmd);
				_exit(127);
			}
			if (wait_new_pid(ifd, &t, k ? c[0] : prev, &npid, &nts,
					 5000) < 0 || npid != c[k]) {
				kill(c[k], SIGKILL); /* leave nothing behind */
				waitpid(c[k], NULL, 0);
				die("floor: %s did not start", cmd[0]);
			}
			if (k == 1)
				break;
			/* phases, when the program writes them */
			char ph[1100], buf[160];
			long long pm = 0, pc = 0, ps = 0;
			long pp = 0;
			snprintf(ph, sizeof ph, "%s/phases", dir);
			int64_t end = now_ns() + 2000000000LL;
			while (now_ns() < end) {
				int fd = open(ph, O_RDONLY | O_CLOEXEC);
				if (fd >= 0) {
					ssize_t n = read(fd, buf, sizeof buf - 1);
					close(fd);
					buf[n > 0 ? n : 0] = '\0';
					if (sscanf(buf, "%ld %lld %lld %lld", &pp,
						   &pm, &pc, &ps) == 4 && pp == c[0])
						break;
				}
				pp = 0;
				if (strstr(cmd[0], "listen") == NULL)
					break;
				sleep_ms(0.2);
			}
			printf("floor exec %.3f", ms(nts - t_fork));
			if (pp == c[0])
				printf(" conn %.3f sub %.3f", ms(pc - t_fork),
				       ms(ps - t_fork));
			t_kill = now_ns(); /* the restart is timed from here */
			kill(c[0], SIGKILL);
			waitpid(c[0], NULL, 0);
			t_reaped = now_ns();
		}
		printf(" reaped %.3f execve %.3f restart %.3f\n",
		       ms(t_reaped - t_kill), ms(nts - *t_execve),
		       ms(nts - t_kill));
		fflush(stdout);
		kill(c[1], SIGKILL);
		waitpid(c[1], NULL, 0);
		prev = c[1];
	}
	close(ifd);
	munmap(t_execve, sizeof *t_execve);
	return 0;
}

/* mkstream -u URL -n STREAM -S SUBJECT: a file-backed JetStream stream. */
static int cmd_mkstream(int argc, char **argv)
{
	const char *url = NULL, *name = NULL, *subj = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "u:n:S:")) != -1) {
		switch (opt) {
		case 'u': url = optarg; break;
		case 'n': name = optarg; break;
		case 'S': subj = optarg; break;
		default: die("mkstream: bad option");
		}
	}
	if (!url || !name || !subj)
		die("mkstream: -u -n -S are required");
	natsConnection *nc = nats_connect(url);
	jsCtx *js = NULL;
	jsStreamConfig cfg;
	jsErrCode jerr = 0;
	const char *subjects[] = { subj };
	if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
		die("jetstream: %s", nats_GetLastError(NULL));
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Storage = js_FileStorage;
	if (js_AddStream(NULL, js, &cfg, NULL, &jerr) != NATS_OK)
		die("add stream %s: %s (%d)", name, nats_GetLastError(NULL),
		    (int)jerr);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	return 0;
}

/* ------------------------------------------------------------------ */
/* ctlrt, cpu */

static int cmd_ctlrt(int argc, char **argv)
{
	const char *sock = NULL, *name = NULL;
	int runs = 200, c, i;
	double *t;

	while ((c = getopt(argc, argv, "s:N:r:")) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'N': name = optarg; break;
		case 'r': runs = atoi(optarg); break;
		default: return 2;
		}
	}
	if (sock == NULL || name == NULL || runs < 1)
		die("ctlrt: -s SOCK -N NAME [-r RUNS]");
	if ((t = calloc((size_t)runs, sizeof(*t))) == NULL)
		die("out of memory");
	for (i = 0; i < runs + 5; i++) {
		char *args[] = { "status", (char *)name, NULL };
		int64_t t0 = now_ns();
		if (ctl_call(sock, 2, args, NULL, 0, NULL) != 0)
			die("ctlrt: status %s failed", name);
		if (i >= 5) /* warm-up */
			t[i - 5] = ms(now_ns() - t0);
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp_dbl);
	printf("ctlrt %.3f %.3f %.3f %.3f\n", t[0], t[runs / 2],
	       t[runs * 9 / 10], t[runs - 1]);
	free(t);
	return 0;
}

/* CPU ns used by every thread of PID (0 if it is gone). */
static long long task_cpu_ns(const char *pid)
{
	char path[64];
	long long sum = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%s/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char f[PATH_MAX];
		long long ns;
		FILE *fp;
		if (e->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "/proc/%s/task/%s/schedstat", pid,
			 e->d_name);
		if ((fp = fopen(f, "r")) == NULL)
			continue;
		if (fscanf(fp, "%lld", &ns) == 1)
			sum += ns;
		fclose(fp);
	}
	closedir(d);
	return sum;
}

/* The parent of PID from /proc/PID/stat, or -1. */
static long proc_ppid(long pid)
{
	char path[64], buf[512], *p;
	long ppid = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), fp) && (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 1, " %*c %ld", &ppid);
	fclose(fp);
	return ppid;
}

static int cmd_cpu(int argc, char **argv)
{
	const char *exe = NULL;
	long root = 0, *pids = NULL, *ppids = NULL;
	long long sup = 0, kids = 0;
	size_t n = 0, cap = 0;
	bool *in;
	DIR *d;
	struct dirent *e;
	int c;

	while ((c = getopt(argc, argv, "p:x:")) != -1) {
		switch (c) {
		case 'p': root = atol(optarg); break;
		case 'x': exe = optarg; break;
		default: return 2;
		}
	}
	if (root <= 0 || exe == NULL)
		die("cpu: -p PID -x EXE");
	if ((d = opendir("/proc")) == NULL)
		die("cpu: /proc: %s", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		long pid = atol(e->d_name);
		if (pid <= 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			pids = realloc(pids, cap * sizeof(*pids));
			ppids = realloc(ppids, cap * sizeof(*ppids));
			if (pids == NULL || ppids == NULL)
				die("out of memory");
		}
		pids[n] = pid;
		ppids[n++] = proc_ppid(pid);
	}
	closedir(d);
	/* PID and its descendants: mark until nothing changes (trees are
	 * shallow: supervisor, per-service supervisors, children). */
	if ((in = calloc(n ? n : 1, sizeof(*in))) == NULL)
		die("out of memory");
	for (bool more = true; more;) {
		more = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			bool mine = pids[i] == root;
			for (size_t j = 0; !mine && j < n; j++)
				mine = in[j] && pids[j] == ppids[i];
			if (mine)
				in[i] = more = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		char link[64], target[PATH_MAX], id[24];
		ssize_t len;
		if (!in[i])
			continue;
		snprintf(id, sizeof(id), "%ld", pids[i]);
		snprintf(link, sizeof(link), "/proc/%ld/exe", pids[i]);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (strcmp(target, exe) == 0)
			kids += task_cpu_ns(id);
		else
			sup += task_cpu_ns(id);
	}
	printf("cpu %.1f %.1f\n", sup / 1e6, kids / 1e6);
	free(in);
	free(pids);
	free(ppids);
	return 0;
}

/* spawnfloor -n N -d BASE [-j THREADS] -- CMD [ARG...]: the start of N
 * services with no supervisor at all -- what `scale` compares against.
 * THREADS threads (default: one per online CPU) share BASE/s0000 ...
 * BASE/sN-1 round robin and start CMD in each with vfork, chdir and
 * execve (what posix_spawn does, the cheapest start there is), nothing
 * else: no pipes, no process group, no waiting.  Then, as in `scale`,
 * "spawned" is the latest first ./starts minus the start, and "cpu" the
 * CPU the children had used by then (schedstat).  The children are
 * killed and reaped before it returns. */
struct floor_job {
	char **cmd;
	const char *base;
	int n, k, step;
	pid_t *pids;
};

/* vfork: the child borrows this thread's memory until execve, and calls
 * nothing but chdir and _exit. */
static pid_t __attribute__((noinline)) floor_start(const char *dir,
						   char **cmd)
{
	pid_t p = vfork();
	if (p == 0) {
		if (chdir(dir) == 0)
			execve(cmd[0], cmd, environ);
		_exit(127);
	}
	return p;
}

static void *floor_thread(void *arg)
{
	struct floor_job *j = arg;
	for (int i = j->k; i < j->n; i += j->step) {
		char dir[1100];
		snprintf(dir, sizeof dir, "%s/s%04d", j->base, i);
		j->pids[i] = floor_start(dir, j->cmd);
	}
	return NULL;
}

static int cmd_spawnfloor(int argc, char **argv)
{
	int n = 0, nt = (int)sysconf(_SC_NPROCESSORS_ONLN), opt, found = 0;
	const char *base = NULL;
	while ((opt = getopt(argc, argv, "n:d:j:")) != -1) {
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'd': base = optarg; break;
		case 'j': nt = atoi(optarg); break;
		default: die("spawnfloor: bad option");
		}
	}
	if (n <= 0 || !base || optind >= argc)
		die("spawnfloor: -n N -d BASE -- CMD expected");
	if (nt < 1)
		nt = 1;
	if (nt > 16)
		nt = 16;
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	int64_t *first = calloc((size_t)n, sizeof(*first));
	struct floor_job jobs[16];
	pthread_t th[16];
	if (pids == NULL || first == NULL)
		die("out of memory");
	int64_t t0 = now_ns(), last = 0, end = t0 + 120 * 1000000000LL;
	for (int k = 0; k < nt; k++) {
		jobs[k] = (struct floor_job){ argv + optind, base, n, k, nt,
					      pids };
		if (pthread_create(&th[k], NULL, floor_thread, &jobs[k]) != 0)
			die("pthread_create failed");
	}
	for (int k = 0; k < nt; k++)
		pthread_join(th[k], NULL);
	while (found < n && now_ns() < end) {
		scan_starts(base, n, first, &found, &last);
		if (found < n)
			sleep_ms(1);
	}
	long long kids = 0;
	for (int i = 0; i < n; i++) {
		char id[24];
		if (pids[i] <= 0)
			continue;
		snprintf(id, sizeof(id), "%d", (int)pids[i]);
		kids += task_cpu_ns(id);
	}
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	if (found < n)
		printf("spawned timeout %d/%d\n", found, n);
	else
		printf("spawned %.3f\ncpu %.1f\n", ms(last - t0), kids / 1e6);
	free(pids);
	free(first);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nvbench kills|scale|pub|chaos|mkstream|floor|ctlrt|cpu|spawnfloor ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "kills") == 0)
		return cmd_kills(argc - 1, argv + 1);
	if (strcmp(argv[1], "scale") == 0)
		return cmd_scale(argc - 1, argv + 1);
	if (strcmp(argv[1], "pub") == 0)
		return cmd_pub(argc - 1, argv + 1);
	if (strcmp(argv[1], "chaos") == 0)
		return cmd_chaos(argc - 1, argv + 1);
	if (strcmp(argv[1], "floor") == 0)
		return cmd_floor(argc - 1, argv + 1);
	if (strcmp(argv[1], "mkstream") == 0)
		return cmd_mkstream(argc - 1, argv + 1);
	if (strcmp(argv[1], "ctlrt") == 0)
		return cmd_ctlrt(argc - 1, argv + 1);
	if (strcmp(argv[1], "cpu") == 0)
		return cmd_cpu(argc - 1, argv + 1);
	if (strcmp(argv[1], "spawnfloor") == 0)
		return cmd_spawnfloor(argc - 1, argv + 1);
	fprintf(stderr, "nvbench: unknown command %s\n", argv[1]);
	return 2;
}
