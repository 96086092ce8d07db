/*
 * bus.c: the daemon's NATS connection and the thread that owns it.
 *
 * Two queues meet here and nowhere else.  Commands go from the loop to the
 * bus thread (mutex + condition variable); events go from nats.c's threads
 * and the bus thread back to the loop (mutex + uv_async_send, which
 * coalesces, hence the list).  No lock is held across a call into nats.c
 * or libuv.  See bus.h for the subject scheme.
 *
 * nats.c 3.4.1 closes a connection for good when the same authentication
 * error comes back twice from one server, and after any -ERR it does not
 * know, whatever MaxReconnect says; and its RetryOnFailedConnect gives up
 * at once when the first attempt was refused (not merely unanswered).
 * So the bus thread makes the first connection itself, one synchronous
 * attempt at a time, and makes a new one when nats.c closes the last: so
 * that "retrying for ever" stays true.  Attempts are 100-250 ms apart, or
 * after an authentication failure 250 ms doubling to 2 s, so that a wrong
 * password does not hammer the server.
 */
#include "bus.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

enum bus_cmdtype { CMD_PING, CMD_PUBLISH, CMD_SEND, CMD_SUBSCRIBE, CMD_QUIT };

struct bus_cmd {
	enum bus_cmdtype type;
	uint64_t id;
	int tag;
	bool confirm;
	char *subject;
	char *data;
	size_t len;
	int nheaders;
	char **headers; /* key, value, key, value ... */
	struct bus_cmd *next;
};

static void bus_send_held(void);

/* What may wait for a connection, as nats.c's reconnect buffer. */
#define BUS_HELD_MAX (8 * 1024 * 1024)

static struct {
	uv_loop_t *loop;
	uv_async_t async;
	bus_event_cb cb;
	void *arg;
	pthread_t thread;
	bool running;

	pthread_mutex_t cmd_mu;
	pthread_cond_t cmd_cv;
	struct bus_cmd *cmd_head, **cmd_tail;
	/* Bus thread: what bus_send() gave while there was no connection
	 * (events before the first one, or after nats.c closed one), sent
	 * in order once connected; the oldest go beyond BUS_HELD_MAX. */
	struct bus_cmd *held_head, **held_tail;
	size_t held_bytes;
	unsigned long held_dropped;

	pthread_mutex_t ev_mu;
	struct bus_event *ev_head, **ev_tail;

	natsOptions *opts;
	natsConnection *nc;
	natsSubscription *inbox_sub;
	natsSubscription *subs[16]; /* bus_subscribe()'s, destroyed at stop */
	char *sub_subject[16];      /* ... and what they were, for bus_renew */
	int sub_tag[16];
	int nsubs;
	bool closed;      /* nats.c closed the connection (cmd_mu) */
	bool quitting;    /* bus_stop() closes it: no renewal (cmd_mu) */
	/* Under ev_mu: the retry delay after an authentication failure (0:
	 * the usual 100-250 ms), and whether this outage was logged. */
	int auth_delay_ms;
	bool warned;
	char inbox[128];
	size_t inbox_len;
} bus = {
	.cmd_mu = PTHREAD_MUTEX_INITIALIZER,
	.cmd_cv = PTHREAD_COND_INITIALIZER,
	.ev_mu = PTHREAD_MUTEX_INITIALIZER,
};

/* Duplicate LEN bytes and NUL-terminate (NULL in, NULL out). */
static char *bus_dup(const char *s, size_t len)
{
	if (s == NULL)
		return NULL;
	char *p = malloc(len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void bus_event_free(struct bus_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->subject);
	free(ev->reply);
	free(ev->data);
	free(ev->error);
	free(ev);
}

/* Queue an event for the loop (any thread). */
static void bus_emit(struct bus_event *ev)
{
	ev->next = NULL;
	pthread_mutex_lock(&bus.ev_mu);
	*bus.ev_tail = ev;
	bus.ev_tail = &ev->next;
	pthread_mutex_unlock(&bus.ev_mu);
	uv_async_send(&bus.async);
}

static void bus_emit_simple(enum bus_evtype type, const char *text)
{
	struct bus_event *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return;
	ev->type = type;
	if (text) {
		ev->data = bus_dup(text, strlen(text));
		ev->len = ev->data ? strlen(text) : 0;
	}
	bus_emit(ev);
}

/* Loop thread: take every queued event and hand each to the callback. */
static void bus_on_async(uv_async_t *h)
{
	pthread_mutex_lock(&bus.ev_mu);
	struct bus_event *ev = bus.ev_head;
	bus.ev_head = NULL;
	bus.ev_tail = &bus.ev_head;
	pthread_mutex_unlock(&bus.ev_mu);
	while (ev) {
		struct bus_event *next = ev->next;
		bus.cb(ev, bus.arg);
		bus_event_free(ev);
		ev = next;
	}
}

/* nats.c thread: a message on <inbox>.<kind><id>. */
static void bus_on_inbox(natsConnection *nc, natsSubscription *sub,
			 natsMsg *msg, void *closure)
{
	const char *subj = natsMsg_GetSubject(msg);
	struct bus_event *ev = NULL;
	if (strlen(subj) > bus.inbox_len + 2 &&
	    strncmp(subj, bus.inbox, bus.inbox_len) == 0 &&
	    subj[bus.inbox_len] == '.') {
		const char *k = subj + bus.inbox_len + 1;
		char *end;
		errno = 0;
		unsigned long long id = strtoull(k + 1, &end, 10);
		if (errno == 0 && *end == '\0' &&
		    (ev = calloc(1, sizeof(*ev))) != NULL) {
			ev->id = id;
			switch (k[0]) {
			case 'p':
				ev->type = BUS_REPLY;
				break;
			case 'c':
				ev->type = BUS_CONFIRM;
				break;
			case 'f':
				ev->type = BUS_FLUSHED;
				break;
			case 'h':
				ev->type = BUS_HELLO;
				break;
			default:
				free(ev);
				ev = NULL;
				break;
			}
		}
	}
	if (ev && ev->type == BUS_FLUSHED) {
		/* The read loop records a -ERR before it reads what follows
		 * on the stream, so a permissions violation for the publish
		 * shows here already; cmd.c decides whether it is this one. */
		const char *t = NULL;
		if (natsConnection_GetLastError(nc, &t) == NATS_NOT_PERMITTED &&
		    t != NULL)
			ev->error = bus_dup(t, strlen(t));
	}
	if (ev) {
		ev->no_responders = natsMsg_IsNoResponders(msg);
		int len = natsMsg_GetDataLength(msg);
		ev->data = bus_dup(natsMsg_GetData(msg), (size_t)len);
		ev->len = ev->data ? (size_t)len : 0;
		bus_emit(ev);
	}
	natsMsg_Destroy(msg);
}

/* nats.c thread: a message on a subject subscribed with bus_subscribe(). */
static void bus_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		       void *closure)
{
	struct bus_event *ev = calloc(1, sizeof(*ev));
	if (ev) {
		const char *s = natsMsg_GetSubject(msg);
		const char *r = natsMsg_GetReply(msg);
		int len = natsMsg_GetDataLength(msg);
		ev->type = BUS_MSG;
		ev->tag = (int)(intptr_t)closure;
		ev->subject = bus_dup(s, strlen(s));
		ev->reply = r ? bus_dup(r, strlen(r)) : NULL;
		ev->data = bus_dup(natsMsg_GetData(msg), (size_t)len);
		ev->len = ev->data ? (size_t)len : 0;
		bus_emit(ev);
	}
	natsMsg_Destroy(msg);
}

static void bus_on_connected(natsConnection *nc, void *closure)
{
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	pthread_mutex_lock(&bus.ev_mu);
	bus.auth_delay_ms = 0;
	bus.warned = false;
	pthread_mutex_unlock(&bus.ev_mu);
	bus_emit_simple(BUS_CONNECTED, url);
}

/* Any thread: the connection is down; tag 1 when bus_outage has told why
 * already, so that one outage is one warning. */
static void bus_emit_down(void)
{
	struct bus_event *ev = calloc(1, sizeof(*ev));
	if (ev == NULL)
		return;
	ev->type = BUS_DISCONNECTED;
	pthread_mutex_lock(&bus.ev_mu);
	ev->tag = bus.warned;
	pthread_mutex_unlock(&bus.ev_mu);
	bus_emit(ev);
}

static void bus_on_disconnected(natsConnection *nc, void *closure)
{
	bus_emit_down();
}

/* T without the "(file.c:123): " that nats.c puts before its errors. */
static const char *bus_strip_where(const char *t)
{
	const char *p;
	if (t && t[0] == '(' && (p = strstr(t, "): ")) != NULL)
		return p + 3;
	return t;
}

/* Any thread: the connection failed for WHY (AUTH: the server refused the
 * credentials; NONE: no server answers); one warning per outage, since
 * every retry fails alike. */
enum bus_fail { FAIL_CLOSED, FAIL_AUTH, FAIL_NONE };

static void bus_outage(enum bus_fail kind, const char *why)
{
	static const char *const what[] = {
		[FAIL_CLOSED] = "connection closed",
		[FAIL_AUTH] = "authentication failed",
		[FAIL_NONE] = "no server answers",
	};
	bool auth = kind == FAIL_AUTH;
	char text[320];
	pthread_mutex_lock(&bus.ev_mu);
	bool first = !bus.warned;
	bus.warned = true;
	if (auth && bus.auth_delay_ms == 0)
		bus.auth_delay_ms = 250;
	pthread_mutex_unlock(&bus.ev_mu);
	if (!first)
		return;
	snprintf(text, sizeof(text), "%s: %s; retrying", what[kind], why);
	bus_emit_simple(BUS_ERROR, text);
}

/* nats.c thread: the connection is closed for good; bus_main renews it
 * unless bus_stop() closed it. */
static void bus_on_closed(natsConnection *nc, void *closure)
{
	pthread_mutex_lock(&bus.cmd_mu);
	if (!bus.quitting) {
		bus.closed = true;
		pthread_cond_signal(&bus.cmd_cv);
	}
	pthread_mutex_unlock(&bus.cmd_mu);
}

/* The subject of a publish permissions violation ("Permissions Violation
 * for Publish to \"S\""), copied to OUT; false for any other text. */
static bool bus_denied_subject(const char *text, char *out, size_t size)
{
	static const char key[] = "for publish to \"";
	const char *p = text, *end;
	for (; *p; p++)
		if (strncasecmp(p, key, sizeof(key) - 1) == 0)
			break;
	if (*p == '\0')
		return false;
	p += sizeof(key) - 1;
	end = strrchr(p, '"');
	if (end == NULL || end == p || (size_t)(end - p) >= size)
		return false;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

static void bus_on_error(natsConnection *nc, natsSubscription *sub,
			 natsStatus err, void *closure)
{
	/* nats.c sets the server's text as this thread's last error just
	 * before it calls us. */
	const char *t = bus_strip_where(nats_GetLastError(NULL));
	char text[256], subj[256];

	if (t == NULL || *t == '\0')
		t = natsStatus_GetText(err);
	if (err == NATS_CONNECTION_AUTH_FAILED) {
		bus_outage(FAIL_AUTH, t);
		return;
	}
	if (err == NATS_NOT_PERMITTED && bus_denied_subject(t, subj,
							     sizeof(subj))) {
		struct bus_event *ev = calloc(1, sizeof(*ev));
		if (ev == NULL)
			return;
		ev->type = BUS_DENIED;
		ev->subject = bus_dup(subj, strlen(subj));
		ev->data = bus_dup(t, strlen(t));
		ev->len = ev->data ? strlen(t) : 0;
		bus_emit(ev);
		return;
	}
	snprintf(text, sizeof(text), "%s", err == NATS_NOT_PERMITTED ? t :
		 natsStatus_GetText(err));
	if (err == NATS_NOT_PERMITTED && strcasestr(t, "subscription") &&
	    strstr(t, bus.inbox)) {
		bus_emit_simple(BUS_INBOX_DENIED, text);
		return;
	}
	bus_emit_simple(BUS_ERROR, text);
}

/* Wait 100-250 ms between reconnect rounds, for ever; after an
 * authentication failure, the backoff of bus_outage instead. */
static int64_t bus_reconnect_delay(natsConnection *nc, int attempts,
				   void *closure)
{
	pthread_mutex_lock(&bus.ev_mu);
	int64_t ms = bus.auth_delay_ms;
	pthread_mutex_unlock(&bus.ev_mu);
	if (ms > 0)
		return ms - (int64_t)(random() % (ms / 4 + 1));
	return 100 + (int64_t)(random() % 151);
}

/* Queue a command for the bus thread (loop thread). */
static void bus_push(struct bus_cmd *c)
{
	c->next = NULL;
	pthread_mutex_lock(&bus.cmd_mu);
	*bus.cmd_tail = c;
	bus.cmd_tail = &c->next;
	pthread_cond_signal(&bus.cmd_cv);
	pthread_mutex_unlock(&bus.cmd_mu);
}

static void bus_cmd_free(struct bus_cmd *c)
{
	free(c->subject);
	free(c->data);
	for (int i = 0; i < 2 * c->nheaders; i++)
		free(c->headers[i]);
	free(c->headers);
	free(c);
}

static struct bus_cmd *bus_cmd_new(enum bus_cmdtype type, const char *subject)
{
	struct bus_cmd *c = calloc(1, sizeof(*c));
	if (c == NULL)
		fatal("bus: out of memory");
	c->type = type;
	if (subject && (c->subject = strdup(subject)) == NULL)
		fatal("bus: out of memory");
	return c;
}

void bus_ping(const char *subject, uint64_t id)
{
	struct bus_cmd *c = bus_cmd_new(CMD_PING, subject);
	c->id = id;
	bus_push(c);
}

void bus_publish(uint64_t id, const char *subject, const void *data,
		 size_t len, const struct bus_header *headers, int nheaders,
		 bool confirm)
{
	struct bus_cmd *c = bus_cmd_new(CMD_PUBLISH, subject);
	c->id = id;
	c->confirm = confirm;
	c->data = bus_dup(data ? data : "", len);
	c->len = len;
	if (nheaders > 0) {
		c->headers = calloc((size_t)nheaders * 2, sizeof(char *));
		if (c->headers == NULL)
			fatal("bus: out of memory");
		for (int i = 0; i < nheaders; i++) {
			c->headers[2 * i] = strdup(headers[i].key);
			c->headers[2 * i + 1] = strdup(headers[i].value);
		}
		c->nheaders = nheaders;
	}
	bus_push(c);
}

void bus_send(const char *subject, const void *data, size_t len)
{
	struct bus_cmd *c = bus_cmd_new(CMD_SEND, subject);
	c->data = bus_dup(data ? data : "", len);
	c->len = len;
	bus_push(c);
}

void bus_subscribe(const char *subject, int tag)
{
	struct bus_cmd *c = bus_cmd_new(CMD_SUBSCRIBE, subject);
	c->tag = tag;
	bus_push(c);
}

const char *bus_inbox(void)
{
	return bus.inbox;
}

/* Bus thread: publish with headers, then the flush marker. */
static void bus_do_publish(struct bus_cmd *c)
{
	char reply[160];
	natsMsg *m = NULL;
	natsStatus s;

	snprintf(reply, sizeof(reply), "%s.c%llu", bus.inbox,
		 (unsigned long long)c->id);
	s = natsMsg_Create(&m, c->subject, c->confirm ? reply : NULL, c->data,
			   (int)c->len);
	for (int i = 0; s == NATS_OK && i < c->nheaders; i++)
		s = natsMsgHeader_Add(m, c->headers[2 * i],
				      c->headers[2 * i + 1]);
	/* The confirm subject also goes in the header: a JetStream delivery's
	 * reply subject is its ack subject, so a durable listener finds the
	 * publisher's subject only there. */
	if (s == NATS_OK && c->confirm)
		s = natsMsgHeader_Set(m, "Natsvisor-Confirm", reply);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(bus.nc, m);
	natsMsg_Destroy(m);
	if (s != NATS_OK) {
		/* Refused before it left us (too large for the server, bad
		 * header...): certainly not delivered, so say so at once. */
		struct bus_event *ev = calloc(1, sizeof(*ev));
		if (ev) {
			const char *t = natsStatus_GetText(s);
			ev->type = BUS_PUBLISH_FAILED;
			ev->id = c->id;
			ev->data = bus_dup(t, strlen(t));
			ev->len = ev->data ? strlen(t) : 0;
			bus_emit(ev);
		}
		return;
	}
	snprintf(reply, sizeof(reply), "%s.f%llu", bus.inbox,
		 (unsigned long long)c->id);
	s = natsConnection_Publish(bus.nc, reply, NULL, 0);
	if (s != NATS_OK) {
		char text[200];
		snprintf(text, sizeof(text), "publish %llu: %s",
			 (unsigned long long)c->id, natsStatus_GetText(s));
		bus_emit_simple(BUS_ERROR, text);
	}
}

/* Bus thread: perform one command. */
static void bus_do(struct bus_cmd *c)
{
	char reply[160];
	natsStatus s = NATS_OK;
	natsSubscription *sub = NULL;

	switch (c->type) {
	case CMD_PING:
		snprintf(reply, sizeof(reply), "%s.p%llu", bus.inbox,
			 (unsigned long long)c->id);
		s = natsConnection_PublishRequest(bus.nc, c->subject, reply,
						  NULL, 0);
		break;
	case CMD_PUBLISH:
		bus_do_publish(c);
		break;
	case CMD_SEND:
		s = natsConnection_Publish(bus.nc, c->subject, c->data,
					   (int)c->len);
		break;
	case CMD_SUBSCRIBE:
		s = natsConnection_Subscribe(&sub, bus.nc, c->subject,
					     bus_on_msg,
					     (void *)(intptr_t)c->tag);
		if (s == NATS_OK) {
			natsSubscription_SetPendingLimits(sub, -1, -1);
			if (bus.nsubs < (int)(sizeof(bus.subs) / sizeof(bus.subs[0])) &&
			    (bus.sub_subject[bus.nsubs] = strdup(c->subject))) {
				bus.sub_tag[bus.nsubs] = c->tag;
				bus.subs[bus.nsubs++] = sub;
			} else {
				natsSubscription_Destroy(sub);
			}
		}
		break;
	default:
		break;
	}
	if (s != NATS_OK)
		log_debug("bus: %s: %s", c->subject ? c->subject : "",
			  natsStatus_GetText(s));
}

/* The delay before the next connection attempt: 100-250 ms, or after an
 * authentication failure (AUTH) the backoff, doubled for the next time. */
static int bus_next_delay(bool auth)
{
	if (!auth)
		return 100 + (int)(random() % 151);
	pthread_mutex_lock(&bus.ev_mu);
	int ms = bus.auth_delay_ms > 0 ? bus.auth_delay_ms : 250;
	bus.auth_delay_ms = ms * 2 < 2000 ? ms * 2 : 2000;
	pthread_mutex_unlock(&bus.ev_mu);
	/* Jitter below the step, so that 2 s stays the longest gap. */
	return ms - (int)(random() % (ms / 4 + 1));
}

/* Bus thread: one attempt to connect; once connected nats.c reconnects by
 * itself.  Subscribe the inbox and every bus_subscribe() subject.  Return
 * the delay in ms before the next attempt, or 0 when connected. */
static int bus_connect(void)
{
	natsStatus s = natsConnection_Connect(&bus.nc, bus.opts);
	if (s != NATS_OK) {
		const char *t = bus_strip_where(nats_GetLastError(NULL));
		if (t == NULL || *t == '\0')
			t = natsStatus_GetText(s);
		bus.nc = NULL;
		bus_outage(s == NATS_CONNECTION_AUTH_FAILED ? FAIL_AUTH
			   : s == NATS_NO_SERVER	    ? FAIL_NONE
							    : FAIL_CLOSED,
			   t);
		return bus_next_delay(s == NATS_CONNECTION_AUTH_FAILED);
	}
	char subj[160];
	snprintf(subj, sizeof(subj), "%s.*", bus.inbox);
	s = natsConnection_Subscribe(&bus.inbox_sub, bus.nc, subj,
				     bus_on_inbox, NULL);
	if (s == NATS_OK)
		natsSubscription_SetPendingLimits(bus.inbox_sub, -1, -1);
	else
		log_warnx("bus: cannot subscribe %s: %s", subj,
			  natsStatus_GetText(s));
	for (int i = 0; i < bus.nsubs; i++) {
		natsSubscription *sub = NULL;
		s = natsConnection_Subscribe(&sub, bus.nc, bus.sub_subject[i],
					     bus_on_msg,
					     (void *)(intptr_t)bus.sub_tag[i]);
		if (s == NATS_OK)
			natsSubscription_SetPendingLimits(sub, -1, -1);
		else
			log_warnx("bus: cannot subscribe %s: %s",
				  bus.sub_subject[i], natsStatus_GetText(s));
		bus.subs[i] = sub;
	}
	bus_send_held();
	bus_on_connected(bus.nc, NULL);
	return 0;
}

/* Bus thread: drop the connection and its subscriptions (the subjects
 * stay, for bus_connect). */
static void bus_disconnect(void)
{
	if (bus.nc == NULL)
		return;
	natsConnection_Close(bus.nc);
	if (bus.inbox_sub)
		natsSubscription_Destroy(bus.inbox_sub);
	bus.inbox_sub = NULL;
	for (int i = 0; i < bus.nsubs; i++) {
		if (bus.subs[i])
			natsSubscription_Destroy(bus.subs[i]);
		bus.subs[i] = NULL;
	}
	natsConnection_Destroy(bus.nc);
	bus.nc = NULL;
}

/* Bus thread: nats.c gave up on the connection (see the file header).
 * Report why once, drop it, and return the delay in ms before the next
 * attempt. */
static int bus_closed_delay(void)
{
	const char *t = NULL;
	natsStatus s = natsConnection_GetLastError(bus.nc, &t);
	bool auth = s == NATS_CONNECTION_AUTH_FAILED;
	bus_outage(auth ? FAIL_AUTH : FAIL_CLOSED,
		   t && *t ? t : natsStatus_GetText(s));
	bus_emit_down();
	bus_disconnect();
	return bus_next_delay(auth);
}

/* TS = now + MS milliseconds (CLOCK_REALTIME, as cmd_cv's). */
static void bus_deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Keep C, a send made while there is no connection, for bus_send_held. */
static void bus_hold(struct bus_cmd *c)
{
	c->next = NULL;
	*bus.held_tail = c;
	bus.held_tail = &c->next;
	bus.held_bytes += c->len + strlen(c->subject);
	while (bus.held_bytes > BUS_HELD_MAX && bus.held_head != c) {
		struct bus_cmd *old = bus.held_head;
		bus.held_head = old->next;
		bus.held_bytes -= old->len + strlen(old->subject);
		bus.held_dropped++;
		bus_cmd_free(old);
	}
}

/* Connected: send what was held, in order (with no connection, at
 * stop: drop it). */
static void bus_send_held(void)
{
	struct bus_cmd *c = bus.held_head, *next;
	if (bus.held_dropped && bus.nc)
		log_warnx("%lu events published while not connected to NATS "
			  "were dropped (more than %d bytes were waiting)",
			  bus.held_dropped, BUS_HELD_MAX);
	for (; c; c = next) {
		next = c->next;
		if (bus.nc)
			natsConnection_Publish(bus.nc, c->subject, c->data,
					       (int)c->len);
		bus_cmd_free(c);
	}
	bus.held_head = NULL;
	bus.held_tail = &bus.held_head;
	bus.held_bytes = 0;
	bus.held_dropped = 0;
}

/* Bus thread: a command while there is no connection.  Subjects are kept
 * for the next one, and so are sends (events); a publish certainly is not
 * delivered.  True when C was kept (not to be freed). */
static bool bus_do_offline(struct bus_cmd *c)
{
	if (c->type == CMD_SEND) {
		bus_hold(c);
		return true;
	}
	if (c->type == CMD_SUBSCRIBE) {
		if (bus.nsubs < (int)(sizeof(bus.subs) / sizeof(bus.subs[0])) &&
		    (bus.sub_subject[bus.nsubs] = strdup(c->subject))) {
			bus.sub_tag[bus.nsubs] = c->tag;
			bus.subs[bus.nsubs++] = NULL;
		}
	} else if (c->type == CMD_PUBLISH) {
		struct bus_event *ev = calloc(1, sizeof(*ev));
		if (ev) {
			const char *t = "not connected to NATS";
			ev->type = BUS_PUBLISH_FAILED;
			ev->id = c->id;
			ev->data = bus_dup(t, strlen(t));
			ev->len = ev->data ? strlen(t) : 0;
			bus_emit(ev);
		}
	}
	return false;
}

/* The bus thread: connect, then serve commands until CMD_QUIT; connect
 * again (at RETRY_AT) while there is no connection. */
static void *bus_main(void *arg)
{
	struct timespec retry_at = { 0, 0 };
	int ms = bus_connect();

	if (ms > 0)
		bus_deadline(&retry_at, ms);
	for (;;) {
		pthread_mutex_lock(&bus.cmd_mu);
		while (bus.cmd_head == NULL) {
			if (bus.closed) {
				bus.closed = false;
				pthread_mutex_unlock(&bus.cmd_mu);
				/* Else a late callback of a connection
				 * dropped since: nothing to do. */
				if (bus.nc && natsConnection_IsClosed(bus.nc))
					bus_deadline(&retry_at,
						     bus_closed_delay());
				pthread_mutex_lock(&bus.cmd_mu);
				continue;
			}
			if (bus.nc) {
				pthread_cond_wait(&bus.cmd_cv, &bus.cmd_mu);
				continue;
			}
			if (pthread_cond_timedwait(&bus.cmd_cv, &bus.cmd_mu,
						   &retry_at) == ETIMEDOUT &&
			    bus.cmd_head == NULL) {
				pthread_mutex_unlock(&bus.cmd_mu);
				ms = bus_connect();
				if (ms > 0)
					bus_deadline(&retry_at, ms);
				pthread_mutex_lock(&bus.cmd_mu);
			}
		}
		struct bus_cmd *c = bus.cmd_head;
		bus.cmd_head = c->next;
		if (bus.cmd_head == NULL)
			bus.cmd_tail = &bus.cmd_head;
		pthread_mutex_unlock(&bus.cmd_mu);
		if (c->type == CMD_QUIT) {
			bus_cmd_free(c);
			break;
		}
		if (bus.nc)
			bus_do(c);
		else if (bus_do_offline(c))
			continue; /* held */
		bus_cmd_free(c);
	}
	return NULL;
}

/* Build the connection options from the configuration. */
static int bus_options(const struct nv_config *cfg)
{
	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, (const char **)cfg->nats_urls,
					   (int)cfg->nnats_urls);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, "natsvisord");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 100);
	if (s == NATS_OK)
		s = natsOptions_SetCustomReconnectDelay(o, bus_reconnect_delay,
							NULL);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, 1000);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(o, 8 * 1024 * 1024);
	/* Write each ping and publish at once: nats.c's flusher thread
	 * otherwise sleeps 1 ms before it writes, which a ping, a gated
	 * publish and its flush marker would each pay. */
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, bus_on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, bus_on_connected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, bus_on_error, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, bus_on_closed, NULL);
	if (s == NATS_OK && cfg->nats_creds)
		s = natsOptions_SetUserCredentialsFromFiles(o, cfg->nats_creds,
							    NULL);
	if (s == NATS_OK && cfg->nats_user)
		s = natsOptions_SetUserInfo(o, cfg->nats_user,
					    cfg->nats_password);
	if (s == NATS_OK && cfg->nats_token)
		s = natsOptions_SetToken(o, cfg->nats_token);
	if (s == NATS_OK && cfg->nats_nkey_seed)
		s = natsOptions_SetNKeyFromSeed(o, NULL, cfg->nats_nkey_seed);
	if (s == NATS_OK && cfg->tls_ca)
		s = natsOptions_LoadCATrustedCertificates(o, cfg->tls_ca);
	if (s == NATS_OK && cfg->tls_cert)
		s = natsOptions_LoadCertificatesChain(o, cfg->tls_cert,
						      cfg->tls_key);
	if (s == NATS_OK && (cfg->tls_ca || cfg->tls_cert))
		s = natsOptions_SetSecure(o, true);
	if (s != NATS_OK) {
		log_warnx("NATS options: %s", natsStatus_GetText(s));
		natsOptions_Destroy(o);
		return -1;
	}
	bus.opts = o;
	return 0;
}

int bus_start(uv_loop_t *loop, const struct nv_config *cfg, bus_event_cb cb,
	      void *arg)
{
	natsInbox *inbox = NULL;

	bus.loop = loop;
	bus.cb = cb;
	bus.arg = arg;
	bus.cmd_tail = &bus.cmd_head;
	bus.held_tail = &bus.held_head;
	bus.ev_tail = &bus.ev_head;
	if (nats_Open(-1) != NATS_OK)
		return -1;
	if (natsInbox_Create(&inbox) != NATS_OK)
		return -1;
	snprintf(bus.inbox, sizeof(bus.inbox), "%s", (const char *)inbox);
	natsInbox_Destroy(inbox);
	bus.inbox_len = strlen(bus.inbox);
	if (bus_options(cfg) < 0)
		return -1;
	if (uv_async_init(loop, &bus.async, bus_on_async) < 0)
		return -1;
	if (pthread_create(&bus.thread, NULL, bus_main, NULL) != 0) {
		uv_close((uv_handle_t *)&bus.async, NULL);
		return -1;
	}
	bus.running = true;
	return 0;
}

void bus_stop(void)
{
	if (!bus.running)
		return;
	pthread_mutex_lock(&bus.cmd_mu);
	bus.quitting = true;
	pthread_mutex_unlock(&bus.cmd_mu);
	bus_push(bus_cmd_new(CMD_QUIT, NULL));
	pthread_join(bus.thread, NULL);
	bus.running = false;
	bus_disconnect();
	bus_send_held(); /* never connected since: dropped */
	for (int i = 0; i < bus.nsubs; i++)
		free(bus.sub_subject[i]);
	bus.nsubs = 0;
	natsOptions_Destroy(bus.opts);
	bus.opts = NULL;
	/* Drop events nobody will read; close the async handle. */
	pthread_mutex_lock(&bus.ev_mu);
	struct bus_event *ev = bus.ev_head;
	bus.ev_head = NULL;
	bus.ev_tail = &bus.ev_head;
	pthread_mutex_unlock(&bus.ev_mu);
	while (ev) {
		struct bus_event *next = ev->next;
		bus_event_free(ev);
		ev = next;
	}
	uv_close((uv_handle_t *)&bus.async, NULL);
	nats_CloseAndWait(2000);
}
