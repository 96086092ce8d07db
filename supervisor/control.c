/*
 * control.c: the daemon's control socket (see control.h).
 *
 * One connection carries one request.  A client goes through
 *	READING  -> (complete request) HANDED -> (control_reply) REPLYING
 *	         -> (malformed, timeout, denied)  REPLYING -> closed
 * While READING it has CONTROL_IDLE_MS between reads; its bytes are
 * bounded by the decoder, which refuses a frame as soon as it cannot be
 * valid.  Once HANDED the request belongs to the loop and the connection
 * is kept reading: natsvisorctl never half-closes, so EOF means the
 * client went away (Ctrl-C on a wait-ready) and the loop hears of it
 * through on_gone.  A reply that the client does not read within
 * CONTROL_IDLE_MS is abandoned.
 *
 * The listening socket is made by hand rather than with uv_pipe_bind():
 * connect-first check, umask around bind, explicit mode and group, and
 * an unlink at close that only removes our own inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

enum client_state { C_READING, C_HANDED, C_REPLYING, C_CLOSING };

struct ctl_client {
	uv_pipe_t pipe;
	uv_timer_t timer; /* idle while reading, write deadline replying */
	struct ctl_client *prev, *next;
	enum client_state state;
	int handles; /* open libuv handles; freed when 0 */
	char *buf;   /* partial request */
	size_t len, cap;
	struct ctl_request req;
	char *reply; /* being written */
	uv_write_t wreq;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	void *data;
};

static struct {
	uv_loop_t *loop;
	uv_pipe_t server;
	int open;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	gid_t group;
	int has_group;
	uid_t euid;
	control_request_cb on_request;
	control_gone_cb on_gone;
	void *arg;
	struct ctl_client *clients;
	size_t nclients;
	uint64_t idle_ms;
} ctl = { .idle_ms = CONTROL_IDLE_MS };

/* Reads that need no per-client buffer land here (one loop thread; the
 * bytes are consumed before the next allocation). */
static char scratch[65536];

/* A valid frame is never larger than this; the buffer never grows past
 * it plus one read. */
#define REQ_MAX                                                        \
	((size_t)CTL_HEADER_MAX + (size_t)CTL_ARGS_MAX * (6 + CTL_ARG_MAX) + \
	 CTL_BODY_MAX)

static void client_close(struct ctl_client *c);

/* A libuv handle of a client closed; free it with the last one. */
static void client_closed(uv_handle_t *h)
{
	struct ctl_client *c = h->data;

	if (--c->handles > 0)
		return;
	ctl_request_free(&c->req);
	free(c->buf);
	free(c->reply);
	free(c);
}

/* Close a client's connection and timer; idempotent. */
static void client_close(struct ctl_client *c)
{
	if (c->state == C_CLOSING)
		return;
	c->state = C_CLOSING;
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl.clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl.nclients--;
	uv_close((uv_handle_t *)&c->pipe, client_closed);
	uv_close((uv_handle_t *)&c->timer, client_closed);
}

/* The reply did not drain, or the request did not come, in time. */
static void client_timeout(uv_timer_t *t)
{
	struct ctl_client *c = t->data;

	if (c->state == C_READING) {
		log_debug("control: pid %ld sent no complete request in %lums",
			  (long)c->pid, (unsigned long)ctl.idle_ms);
		client_close(c);
	} else if (c->state == C_REPLYING) {
		log_debug("control: pid %ld did not read its reply",
			  (long)c->pid);
		client_close(c);
	}
}

/* The reply was written (or failed): the connection is done. */
static void client_written(uv_write_t *w, int status)
{
	struct ctl_client *c = w->data;

	(void)status; /* a vanished client is no error of ours */
	client_close(c);
}

/* Send a reply and close the connection once it is written. */
static void client_send(struct ctl_client *c, int code, const char *out,
			size_t outlen, const char *err, size_t errlen)
{
	size_t len;
	uv_buf_t b;
	int w;

	uv_read_stop((uv_stream_t *)&c->pipe);
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	c->state = C_REPLYING;
	if (ctl_encode_reply(code, out, outlen, err, errlen, &c->reply, &len) <
	    0) {
		log_warn("control: reply");
		client_close(c);
		return;
	}
	/* Most replies fit the socket buffer: write them now. */
	b = uv_buf_init(c->reply, (unsigned)len);
	w = uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
	if (w == (int)len) {
		client_close(c);
		return;
	}
	if (w < 0 && w != UV_EAGAIN) {
		client_close(c);
		return;
	}
	if (w > 0)
		b = uv_buf_init(c->reply + w, (unsigned)(len - (size_t)w));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1,
		     client_written) < 0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, client_timeout, ctl.idle_ms, 0);
}

/* Reply with a message of our own (TEXT gets a trailing newline). */
static void client_refuse(struct ctl_client *c, int code, const char *text)
{
	char msg[256];
	int n = snprintf(msg, sizeof msg, "natsvisord: %s\n", text);

	client_send(c, code, NULL, 0, msg,
		    n < 0 ? 0 : (size_t)n >= sizeof msg ? sizeof msg - 1 :
							  (size_t)n);
}

/* Give libuv room for the next read. */
static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct ctl_client *c = h->data;
	size_t want;
	char *nb;

	(void)suggested;
	if (c->state != C_READING || c->len == 0) {
		*b = uv_buf_init(scratch, sizeof scratch);
		return;
	}
	if (c->cap - c->len < 4096) {
		want = c->cap * 2;
		if (want > REQ_MAX + sizeof scratch)
			want = REQ_MAX + sizeof scratch;
		if (want <= c->cap || (nb = realloc(c->buf, want)) == NULL) {
			*b = uv_buf_init(NULL, 0); /* UV_ENOBUFS */
			return;
		}
		c->buf = nb;
		c->cap = want;
	}
	*b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

/* Bytes of a request arrived: decode what we have. */
static void client_data(struct ctl_client *c, const char *data, size_t n)
{
	const char *buf = data, *err = NULL;
	size_t len = n;
	int rc;

	if (c->len) { /* client_alloc() gave room at the end of c->buf */
		c->len += n;
		buf = c->buf;
		len = c->len;
	}
	rc = ctl_decode_request(buf, len, &c->req, &err);
	if (rc < 0) {
		log_debug("control: pid %ld: %s", (long)c->pid, err);
		client_refuse(c, CTL_USAGE, err);
		return;
	}
	if (rc == 0) {
		if (buf == scratch) { /* keep the partial frame */
			c->cap = n < 4096 ? 8192 : 2 * n;
			c->buf = malloc(c->cap);
			if (c->buf == NULL) {
				client_close(c);
				return;
			}
			memcpy(c->buf, scratch, n);
			c->len = n;
		}
		uv_timer_start(&c->timer, client_timeout, ctl.idle_ms, 0);
		return;
	}
	if (c->req.consumed != len) { /* one request per connection */
		ctl_request_free(&c->req);
		client_refuse(c, CTL_USAGE,
			      "malformed request: bytes after the request");
		return;
	}
	/* Complete: the request has its own copy; keep reading to see the
	 * client leave, but buffer nothing more. */
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
	uv_timer_stop(&c->timer);
	c->state = C_HANDED;
	ctl.on_request(c, &c->req, ctl.arg);
	/* C may be replying or closing now: touch nothing. */
}

/* libuv read callback. */
static void client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct ctl_client *c = s->data;

	if (nread == 0)
		return;
	if (nread > 0) {
		if (c->state == C_READING)
			client_data(c, b->base, (size_t)nread);
		/* else: bytes after the request are ignored */
		return;
	}
	switch (c->state) {
	case C_READING:
		if (c->len && nread == UV_EOF)
			client_refuse(c, CTL_USAGE,
				      "malformed request: truncated");
		else
			client_close(c);
		break;
	case C_HANDED:
		log_debug("control: pid %ld went away before its reply",
			  (long)c->pid);
		uv_read_stop(s);
		if (ctl.on_gone)
			ctl.on_gone(c, ctl.arg);
		client_close(c);
		break;
	default:
		uv_read_stop(s);
		break;
	}
}

/* Is GID among the supplementary groups of the peer on FD (pid PID)? */
static int peer_in_group(int fd, pid_t pid, uid_t uid, gid_t gid)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof small;
	char path[64], line[4096];
	int found = 0;
	FILE *f;

	/* SO_PEERGROUPS: the groups at connect time, race-free (Linux
	 * 4.13); /proc only as a fallback. */
	int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	if (rc < 0 && errno == ERANGE) {
		if ((g = malloc(len)) == NULL)
			return 0;
		rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	}
	if (rc == 0)
		for (size_t i = 0; i < len / sizeof *g; i++)
			if (g[i] == gid)
				found = 1;
	if (g != small)
		free(g);
	if (rc == 0)
		return found;
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	/* The Uid line guards against a recycled pid. */
	while (fgets(line, sizeof line, f)) {
		unsigned long r, e;
		if (sscanf(line, "Uid: %lu %lu", &r, &e) == 2 && e != uid)
			break;
		if (strncmp(line, "Groups:", 7) == 0) {
			char *p = line + 7, *end;
			for (;;) {
				unsigned long v = strtoul(p, &end, 10);
				if (end == p)
					break;
				if (v == gid)
					found = 1;
				p = end;
			}
			break;
		}
	}
	fclose(f);
	return found;
}

/* Root, the daemon's own user, and members of the control group. */
static int peer_allowed(struct ctl_client *c, int fd)
{
	if (c->uid == 0 || c->uid == ctl.euid)
		return 1;
	if (!ctl.has_group)
		return 0;
	return c->gid == ctl.group ||
	       peer_in_group(fd, c->pid, c->uid, ctl.group);
}

/* A connection is waiting on the listening socket. */
static void control_accept(uv_stream_t *server, int status)
{
	struct ctl_client *c;
	struct ucred cr;
	socklen_t crlen = sizeof cr;
	uv_os_fd_t fd;

	if (status < 0) {
		log_warnx("control: accept: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		log_warn("control: accept");
		return;
	}
	uv_pipe_init(ctl.loop, &c->pipe, 0);
	uv_timer_init(ctl.loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->handles = 2;
	c->next = ctl.clients;
	if (ctl.clients)
		ctl.clients->prev = c;
	ctl.clients = c;
	ctl.nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 ||
	    uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0) {
		client_close(c);
		return;
	}
	c->uid = cr.uid;
	c->gid = cr.gid;
	c->pid = cr.pid;
	if (!peer_allowed(c, fd)) {
		log_warnx("control: uid %lu (pid %ld) denied",
			  (unsigned long)c->uid, (long)c->pid);
		client_refuse(c, CTL_UNREACHABLE, "permission denied");
		return;
	}
	if (ctl.nclients > CONTROL_CLIENTS_MAX) {
		log_warnx("control: more than %d clients, refusing pid %ld",
			  CONTROL_CLIENTS_MAX, (long)c->pid);
		client_refuse(c, CTL_NO, "too many control clients");
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->pipe, client_alloc,
			  client_read) < 0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, client_timeout, ctl.idle_ms, 0);
}

/* Format an error about PATH into a static buffer for *ERR. */
static const char *open_error(const char *fmt, const char *path, int e)
{
	static char msg[320];

	snprintf(msg, sizeof msg, fmt, path);
	if (e) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(e));
	}
	return msg;
}

/* Is a daemon answering on SUN?  0 no (a stale socket was removed), 1
 * yes, -1 error (*ERR). */
static int control_probe(const struct sockaddr_un *sun, const char **err)
{
	struct stat st;
	int fd, rc, e;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = open_error("control socket %s", sun->sun_path, errno);
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	e = errno;
	close(fd);
	/* EAGAIN: the backlog is full, which is someone listening. */
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
		*err = open_error("another natsvisord answers on %s",
				  sun->sun_path, 0);
		return 1;
	}
	if (e == ENOENT)
		return 0;
	if (e != ECONNREFUSED) {
		*err = open_error("cannot check %s", sun->sun_path, e);
		return -1;
	}
	if (lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		*err = open_error("%s exists and is not a socket",
				  sun->sun_path, 0);
		return -1;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		*err = open_error("cannot remove stale socket %s",
				  sun->sun_path, errno);
		return -1;
	}
	log_info("removed stale control socket %s", sun->sun_path);
	return 0;
}

/* Create the socket and listen; see control.h. */
int control_open(uv_loop_t *loop, const char *path, gid_t group, int has_group,
		 control_request_cb on_request, control_gone_cb on_gone,
		 void *arg, const char **err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t plen = strlen(path);
	struct stat st;
	mode_t old;
	int fd, rc;

	if (plen == 0 || plen >= sizeof sun.sun_path) {
		*err = open_error("control socket path too long (at most 107 "
				  "bytes): %s", path, 0);
		return -1;
	}
	memcpy(sun.sun_path, path, plen + 1);
	if (control_probe(&sun, err) != 0)
		return -1;
	if (ctl.open) {
		*err = "control socket already open";
		return -1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = open_error("control socket %s", path, errno);
		return -1;
	}
	/* The umask closes the window between bind and chmod. */
	old = umask(has_group ? 0117 : 0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc < 0) {
		*err = open_error("bind %s", path, errno);
		close(fd);
		return -1;
	}
	if ((has_group && chown(path, (uid_t)-1, group) < 0) ||
	    chmod(path, has_group ? 0660 : 0600) < 0 ||
	    listen(fd, CONTROL_BACKLOG) < 0 || stat(path, &st) < 0) {
		*err = open_error("control socket %s", path, errno);
		unlink(path);
		close(fd);
		return -1;
	}
	uv_pipe_init(loop, &ctl.server, 0);
	if ((rc = uv_pipe_open(&ctl.server, fd)) < 0)
		close(fd); /* not the handle's yet */
	else
		rc = uv_listen((uv_stream_t *)&ctl.server, CONTROL_BACKLOG,
			       control_accept);
	if (rc < 0) {
		*err = open_error("control socket %s", path, -rc);
		uv_close((uv_handle_t *)&ctl.server, NULL);
		unlink(path);
		return -1;
	}
	ctl.loop = loop;
	ctl.open = 1;
	memcpy(ctl.path, path, plen + 1);
	ctl.dev = st.st_dev;
	ctl.ino = st.st_ino;
	ctl.group = group;
	ctl.has_group = has_group;
	ctl.euid = geteuid();
	ctl.on_request = on_request;
	ctl.on_gone = on_gone;
	ctl.arg = arg;
	return 0;
}

/* Answer a handed request; see control.h. */
void control_reply(struct ctl_client *c, int code, const char *out,
		   size_t outlen, const char *err, size_t errlen)
{
	if (c->state != C_HANDED)
		return; /* already answered, or dropped by control_close() */
	client_send(c, code, out, outlen, err, errlen);
	ctl_request_free(&c->req);
}

/* The client's peer credentials. */
uid_t control_client_uid(const struct ctl_client *c)
{
	return c->uid;
}

/* The client's process id (at connect time), for logs. */
pid_t control_client_pid(const struct ctl_client *c)
{
	return c->pid;
}

/* Attach the loop's bookkeeping to a client. */
void control_client_set_data(struct ctl_client *c, void *data)
{
	c->data = data;
}

/* The loop's bookkeeping of a client. */
void *control_client_get_data(const struct ctl_client *c)
{
	return c->data;
}

/* Number of connected clients (all states), for status and tests. */
size_t control_client_count(void)
{
	return ctl.nclients;
}

/* Set the per-client idle limit (tests; the default is CONTROL_IDLE_MS). */
void control_set_idle_timeout(uint64_t ms)
{
	ctl.idle_ms = ms;
}

/* Stop listening and drop every client; see control.h. */
void control_close(void)
{
	struct stat st;

	if (!ctl.open)
		return;
	ctl.open = 0;
	uv_close((uv_handle_t *)&ctl.server, NULL);
	/* Remove the path only while it is still our socket. */
	if (stat(ctl.path, &st) == 0 && st.st_dev == ctl.dev &&
	    st.st_ino == ctl.ino)
		unlink(ctl.path);
	while (ctl.clients)
		client_close(ctl.clients);
}

/* The built-in default path; the logic is shared with natsvisorctl. */
int control_default_path(char *buf, size_t len, int create, const char **err)
{
	return ctl_default_path(buf, len, create, err);
}
