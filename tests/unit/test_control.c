/*
 * test_control.c: the control socket against raw clients.
 *
 * The loop runs on the main thread with an echo handler; a test thread
 * plays the clients with plain sockets (natsvisorctl needs a daemon), and
 * forked children play other users.  Checked: a normal round trip,
 * malformed and oversized requests (code 2), truncation, bytes after a
 * request, the idle limit, on_gone for a client that leaves while parked,
 * 1000 parked clients, the connect-first check, stale-socket replacement,
 * modes 0600/0660 and the group, peer-credential refusal (code 3),
 * close-on-exec descriptors, and control_close() leaving a foreign file
 * alone.  Every wait is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "t.h"

#define NPARK 1000
#define WAIT_S 10 /* every bounded wait; generous for sanitizers */
#define TEST_GID 4242

static char dir[64], path[128];
static uv_loop_t *loop;
static uv_async_t done_async;
static sem_t seen_sem, gone_sem;
static struct ctl_client *parked[NPARK + 16];
static int nparked, ngone, leaked_fds, max_clients;
static int npark = NPARK;

static unsigned char inherited[8192]; /* descriptors open before the test */

/* Count descriptors above 2 without close-on-exec, except those the test
 * inherited; with MARK, remember the current ones as inherited. */
static int count_leaks(int mark)
{
	struct dirent *e;
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);
		if (fd <= 2 || fd == dirfd(d) || fd >= (int)sizeof inherited)
			continue;
		if (mark)
			inherited[fd] = 1;
		else if (!inherited[fd] && !(fcntl(fd, F_GETFD) & FD_CLOEXEC)) {
			fprintf(stderr, "fd %d is not close-on-exec\n", fd);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* Echo handler: "park" is held, "release" answers every parked client,
 * anything else gets its arguments on out and its body on err. */
static void on_request(struct ctl_client *c, const struct ctl_request *req,
		       void *arg)
{
	char out[1024];
	size_t o = 0;

	(void)arg;
	if ((int)control_client_count() > max_clients)
		max_clients = (int)control_client_count();
	if (strcmp(req->argv[0], "park") == 0) {
		parked[nparked++] = c;
		control_client_set_data(c, &parked[nparked - 1]);
		sem_post(&seen_sem);
		return;
	}
	if (strcmp(req->argv[0], "release") == 0) {
		for (int i = 0; i < nparked; i++)
			if (parked[i])
				control_reply(parked[i], 0, "released\n", 9,
					      NULL, 0);
		nparked = 0;
		control_reply(c, 0, NULL, 0, NULL, 0);
		return;
	}
	if (strcmp(req->argv[0], "fds") == 0) {
		/* Every descriptor of the daemon side is close-on-exec. */
		leaked_fds += count_leaks(0);
	}
	for (int i = 0; i < req->argc; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s",
				      i ? " " : "", req->argv[i]);
	out[o++] = '\n';
	control_reply(c, 0, out, o, req->body, req->bodylen);
}

/* A parked client left: forget it. */
static void on_gone(struct ctl_client *c, void *arg)
{
	struct ctl_client **slot = control_client_get_data(c);

	(void)arg;
	*slot = NULL;
	ngone++;
	sem_post(&gone_sem);
}

/* The test thread is finished: close the socket so the loop ends. */
static void on_done(uv_async_t *a)
{
	control_close();
	uv_close((uv_handle_t *)a, NULL);
}

/* Wait for a semaphore, at most WAIT_S seconds. */
static int sem_wait_bounded(sem_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	while (sem_timedwait(s, &ts) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Connect a raw client (reads time out after WAIT_S). */
static int cli_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = WAIT_S };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Read a whole reply into BUF; returns its code, -1 on EOF/timeout,
 * -2 when malformed.  OUT/ERR are copied NUL-terminated. */
static int cli_reply(int fd, char *out, size_t outsz, char *err, size_t errsz)
{
	static __thread char buf[65536];
	size_t n = 0, ol, el;
	const char *o, *e;
	int code, rc;
	ssize_t r;

	for (;;) {
		rc = ctl_decode_reply(buf, n, &code, &o, &ol, &e, &el);
		if (rc < 0)
			return -2;
		if (rc > 0)
			break;
		r = read(fd, buf + n, sizeof buf - n);
		if (r <= 0)
			return -1;
		n += (size_t)r;
	}
	if (out)
		snprintf(out, outsz, "%.*s", (int)ol, o);
	if (err)
		snprintf(err, errsz, "%.*s", (int)el, e);
	return code;
}

/* Send LEN raw bytes on a fresh connection and read the reply. */
static int cli_raw(const char *data, size_t len, char *err, size_t errsz)
{
	int fd = cli_connect(), code;

	if (fd < 0)
		return -3;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -4;
	}
	code = cli_reply(fd, NULL, 0, err, errsz);
	close(fd);
	return code;
}

/* Connect and send an encoded request; the descriptor or -1. */
static int cli_send(int argc, char **argv, const char *body, size_t bodylen)
{
	char *req;
	size_t len;
	int fd = cli_connect();

	if (fd < 0)
		return -1;
	if (ctl_encode_request(argc, argv, body, bodylen, &req, &len) < 0 ||
	    write(fd, req, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	free(req);
	return fd;
}

/* In a child with the given identity, send "echo" and return the reply
 * code; 90 when connect() is refused with EACCES, 91 other failures. */
static int run_as(uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		static const char req[] = "NV1 1 0\n4 echo\n";
		int fd, code;
		if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(92);
		fd = cli_connect();
		if (fd < 0)
			_exit(errno == EACCES ? 90 : 91);
		/* A refused client may find the socket closed while it
		 * writes: the reply is still there to read. */
		(void)!send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
		code = cli_reply(fd, NULL, 0, NULL, 0);
		_exit(code < 0 ? 93 : code);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Phase 1: a private socket, mode 0600. */
static void *phase1(void *arg)
{
	char out[256], err[256], hdr[64];
	char *echo[] = { "echo", "a", "b c" }, *park[] = { "park" };
	char *release[] = { "release" }, *fds[] = { "fds" };
	struct stat st;
	int fd, code;
	static int pfd[NPARK];

	(void)arg;
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0600);

	/* A normal round trip. */
	fd = cli_send(3, echo, "body\n", 5);
	CHECK(fd >= 0);
	CHECK_INT(cli_reply(fd, out, sizeof out, err, sizeof err), 0);
	CHECK_STR(out, "echo a b c\n");
	CHECK_STR(err, "body\n");
	close(fd);

	/* Malformed header, other version, oversized argument, too many
	 * arguments, oversized body: code 2 with the reason. */
	CHECK_INT(cli_raw("GET / HTTP/1.0\r\n\r\n", 18, err, sizeof err), 2);
	CHECK(strstr(err, "not a natsvisor control request") != NULL);
	CHECK_INT(cli_raw("NV7 1 0\n", 8, err, sizeof err), 2);
	CHECK(strstr(err, "unsupported protocol version") != NULL);
	CHECK_INT(cli_raw("NV1 2 0\n4 echo\n4097 ", 20, err, sizeof err), 2);
	CHECK(strstr(err, "argument too long") != NULL);
	CHECK_INT(cli_raw("NV1 1025 0\n", 11, err, sizeof err), 2);
	CHECK(strstr(err, "too many arguments") != NULL);
	snprintf(hdr, sizeof hdr, "NV1 1 %u\n", CTL_BODY_MAX + 1);
	CHECK_INT(cli_raw(hdr, strlen(hdr), err, sizeof err), 2);
	CHECK(strstr(err, "body too large") != NULL);

	/* An oversized argument actually sent: refused, the client is
	 * told even though it was still writing. */
	{
		static char big[8192];
		memcpy(big, "NV1 2 0\n4 echo\n5000 ", 20);
		memset(big + 20, 'x', sizeof big - 20);
		fd = cli_connect();
		CHECK(fd >= 0);
		(void)!send(fd, big, sizeof big, MSG_NOSIGNAL);
		CHECK_INT(cli_reply(fd, NULL, 0, err, sizeof err), 2);
		close(fd);
	}

	/* Truncated: the client half-closes mid-request. */
	fd = cli_connect();
	CHECK(write(fd, "NV1 1 0\n6 sta", 13) == 13);
	shutdown(fd, SHUT_WR);
	CHECK_INT(cli_reply(fd, NULL, 0, err, sizeof err), 2);
	CHECK(strstr(err, "truncated") != NULL);
	close(fd);

	/* Two requests in one write: one request per connection, so the
	 * pair is refused and neither runs. */
	{
		static const char two[] = "NV1 1 0\n4 echo\nNV1 1 0\n4 echo\n";
		CHECK_INT(cli_raw(two, sizeof two - 1, err, sizeof err), 2);
		CHECK(strstr(err, "bytes after the request") != NULL);
	}

	/* The daemon is undisturbed. */
	fd = cli_send(3, echo, NULL, 0);
	CHECK_INT(cli_reply(fd, out, sizeof out, NULL, 0), 0);
	close(fd);

	/* Idle clients are dropped (limit lowered to 200ms for the test). */
	fd = cli_connect();
	CHECK(fd >= 0);
	CHECK_INT(cli_reply(fd, NULL, 0, NULL, 0), -1); /* EOF, no reply */
	close(fd);

	/* Close-on-exec everywhere on the daemon side. */
	fd = cli_send(1, fds, NULL, 0);
	CHECK_INT(cli_reply(fd, NULL, 0, NULL, 0), 0);
	close(fd);
	CHECK_INT(leaked_fds, 0);

	/* A parked client that leaves: on_gone. */
	fd = cli_send(1, park, NULL, 0);
	CHECK(fd >= 0);
	CHECK_INT(sem_wait_bounded(&seen_sem), 0);
	close(fd);
	CHECK_INT(sem_wait_bounded(&gone_sem), 0);
	CHECK_INT(ngone, 1);

	/* Many parked clients, all answered at once. */
	for (int i = 0; i < npark; i++) {
		pfd[i] = cli_send(1, park, NULL, 0);
		if (pfd[i] < 0) {
			CHECK(!"connect a parked client");
			npark = i;
			break;
		}
	}
	for (int i = 0; i < npark; i++)
		if (sem_wait_bounded(&seen_sem) < 0) {
			CHECK(!"parked request seen");
			break;
		}
	fd = cli_send(1, release, NULL, 0);
	CHECK_INT(cli_reply(fd, NULL, 0, NULL, 0), 0);
	close(fd);
	code = 0;
	for (int i = 0; i < npark; i++) {
		if (cli_reply(pfd[i], out, sizeof out, NULL, 0) == 0 &&
		    strcmp(out, "released\n") == 0)
			code++;
		close(pfd[i]);
	}
	CHECK_INT(code, npark);
	CHECK_INT(ngone, 1);
	CHECK(max_clients >= npark);

	/* Another user: refused by the mode at connect, and (with the mode
	 * opened up) by the peer-credential check with code 3. */
	CHECK_INT(run_as(65534, 65534, NULL, 0), 90);
	chmod(path, 0666);
	CHECK_INT(run_as(65534, 65534, NULL, 0), 3);
	chmod(path, 0600);

	uv_async_send(&done_async);
	return NULL;
}

/* Phase 2: with a control group. */
static void *phase2(void *arg)
{
	gid_t g = TEST_GID, other = 4343;
	struct stat st;

	(void)arg;
	CHECK(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0660);
	CHECK_INT(st.st_gid, TEST_GID);
	/* Member by supplementary group, by primary group; not a member. */
	CHECK_INT(run_as(65534, 65534, &g, 1), 0);
	CHECK_INT(run_as(65534, TEST_GID, NULL, 0), 0);
	CHECK_INT(run_as(65534, 65534, &other, 1), 90);
	chmod(path, 0666);
	CHECK_INT(run_as(65534, 65534, &other, 1), 3);
	uv_async_send(&done_async);
	return NULL;
}

/* Run one phase: the loop here, THREAD as the clients. */
static void run_phase(void *(*thread)(void *))
{
	pthread_t t;

	uv_async_init(loop, &done_async, on_done);
	pthread_create(&t, NULL, thread, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	pthread_join(t, NULL);
}

int main(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char other[160], longp[200];
	const char *err = NULL;
	struct rlimit rl;
	struct stat st;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	count_leaks(1);
	sem_init(&seen_sem, 0, 0);
	sem_init(&gone_sem, 0, 0);
	/* Room for the parked clients on both ends. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < 2 * NPARK + 64)
			npark = ((int)rl.rlim_cur - 64) / 2;
	}
	strcpy(dir, "/tmp/nvctl-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0711); /* other users reach the socket by name */
	snprintf(path, sizeof path, "%s/ctl.sock", dir);
	loop = uv_default_loop();
	control_set_idle_timeout(200);

	/* A stale socket (nobody listening) is replaced. */
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0);
	close(fd);
	/* A path that is not a socket is refused and left alone. */
	snprintf(other, sizeof other, "%s/file", dir);
	close(open(other, O_CREAT | O_WRONLY, 0600));
	CHECK_INT(control_open(loop, other, 0, 0, on_request, on_gone, NULL,
			       &err), -1);
	CHECK(err && strstr(err, "is not a socket"));
	CHECK(stat(other, &st) == 0 && S_ISREG(st.st_mode));
	/* A path too long for sun_path. */
	memset(longp, 'p', sizeof longp - 1);
	longp[0] = '/';
	longp[sizeof longp - 1] = '\0';
	CHECK_INT(control_open(loop, longp, 0, 0, on_request, on_gone, NULL,
			       &err), -1);
	CHECK(err && strstr(err, "too long"));

	CHECK_INT(control_open(loop, path, 0, 0, on_request, on_gone, NULL,
			       &err), 0);
	/* A second daemon on the same path is refused (connect-first). */
	CHECK_INT(control_open(loop, path, 0, 0, on_request, on_gone, NULL,
			       &err), -1);
	CHECK(err && strstr(err, "another natsvisord answers on"));
	CHECK(access(path, F_OK) == 0);
	run_phase(phase1);
	CHECK(access(path, F_OK) < 0); /* control_close() removed it */

	CHECK_INT(control_open(loop, path, TEST_GID, 1, on_request, on_gone,
			       NULL, &err), 0);
	run_phase(phase2);

	/* control_close() leaves a file that is no longer our socket. */
	CHECK_INT(control_open(loop, path, 0, 0, on_request, on_gone, NULL,
			       &err), 0);
	unlink(path);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	control_close();
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode));

	unlink(path);
	unlink(other);
	rmdir(dir);
	uv_loop_close(loop);
	return t_done("test_control");
}
