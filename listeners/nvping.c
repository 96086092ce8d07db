/*
 * nvping.c - the listener side of the natsvisor ping protocol.
 *
 * Readiness is three things at once: the data subscriptions were accepted
 * (checked after a flush, then watched through the error handler), the
 * connection is up, and after a reconnect it has been flushed again
 * (nats.c replays subscriptions in hash order, so the ping subscription
 * may be back before the data ones).  The reconnect is seen either through
 * the handlers installed by nvping_options() or, for programs that do not
 * use them, through the reconnect counter of the connection statistics.
 * The flush after a reconnect is done lazily by the first ping that
 * notices it, on the ping subscription's own delivery thread, so no extra
 * thread is needed and no nats.c call is made from a connection handler.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "nvping.h"

#define NVPING_FLUSH_MS		1000	/* bound on the flush after a reconnect */
#define NVPING_FREE_WAIT_S	5	/* bound on nvping_free's waits */
#define NVPING_REASON_MAX	200	/* bytes kept of any reason text */

struct nvping {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;		/* closed_seen, ping_done */
	char			*subject;	/* ping subject or NULL */
	char			*name;		/* NATSVISOR_NAME or NULL */
	char			*hello;		/* NATSVISOR_HELLO_SUBJECT or NULL */
	natsConnection		*nc;
	natsSubscription	*ping;
	natsSubscription	**subs;		/* the application's, not owned */
	int			 nsubs;
	char			**subjects;	/* reported subjects (copies) */
	int			 nsubjects;
	natsStatistics		*stats;

	bool			 connected;	/* false between disconnect and reconnect */
	bool			 need_flush;	/* reconnected, not flushed since */
	uint64_t		 gen;		/* bumped on every connection event */
	uint64_t		 reconnects;	/* counter seen at the last flush */

	bool			 refused;
	char			 refused_reason[NVPING_REASON_MAX];
	bool			 app_ready;
	char			 app_reason[NVPING_REASON_MAX];
	int64_t			 backlog;
	int64_t			 slow_consumer;
	int64_t			 sc_events;	/* slow-consumer errors seen */
	int64_t			 busy;		/* taken, not yet committed */
	int64_t			 max_backlog;	/* 0: no bound */
	bool			 over_backlog;	/* above the bound, not drained */

	natsConnectionHandler	 chain_disconnected;
	natsConnectionHandler	 chain_reconnected;
	natsErrHandler		 chain_error;
	natsConnectionHandler	 chain_closed;
	void			*chain_closure;

	/* Teardown: nats.c calls the handlers and the ping callback on its
	 * own threads, so nvping_free waits until they are done with np. */
	bool			 handlers;	/* nvping_options was called */
	bool			 closed_seen;	/* the closed handler ran */
	bool			 ping_done;	/* the ping subscription ended */
};

/* A growable string for building JSON replies. */
struct nvping_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	bool	 oom;
};

/* Append n bytes to b, remembering an allocation failure. */
static void
nvping_buf_add(struct nvping_buf *b, const char *s, size_t n)
{
	char	*np;
	size_t	 ncap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Append a NUL-terminated string as is. */
static void
nvping_buf_puts(struct nvping_buf *b, const char *s)
{
	nvping_buf_add(b, s, strlen(s));
}

/* Append s as a quoted JSON string; control bytes become \u escapes. */
static void
nvping_buf_json(struct nvping_buf *b, const char *s)
{
	char			 esc[8];
	const unsigned char	*u;

	nvping_buf_add(b, "\"", 1);
	for (u = (const unsigned char *)s; *u != '\0'; u++) {
		if (*u == '"' || *u == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*u;
			nvping_buf_add(b, esc, 2);
		} else if (*u < 0x20 || *u == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", *u);
			nvping_buf_add(b, esc, 6);
		} else
			nvping_buf_add(b, (const char *)u, 1);
	}
	nvping_buf_add(b, "\"", 1);
}

/* Copy at most NVPING_REASON_MAX-1 bytes of src into dst. */
static void
nvping_copy_reason(char *dst, const char *src)
{
	snprintf(dst, NVPING_REASON_MAX, "%s", src ? src : "");
}

/* Duplicate a string from the environment, NULL when unset or empty. */
static char *
nvping_getenv_dup(const char *key)
{
	const char	*v = getenv(key);

	if (v == NULL || *v == '\0')
		return NULL;
	return strdup(v);
}

nvping *
nvping_new(void)
{
	nvping	*np;

	if ((np = calloc(1, sizeof *np)) == NULL)
		return NULL;
	pthread_mutex_init(&np->lock, NULL);
	pthread_cond_init(&np->cond, NULL);
	np->subject = nvping_getenv_dup("NATSVISOR_PING_SUBJECT");
	np->name = nvping_getenv_dup("NATSVISOR_NAME");
	np->hello = nvping_getenv_dup("NATSVISOR_HELLO_SUBJECT");
	np->connected = true;
	np->app_ready = true;
	np->backlog = -1;
	np->slow_consumer = -1;
	return np;
}

/* Wait (bounded) until *flag is set by another thread. */
static void
nvping_wait_flag(nvping *np, const bool *flag)
{
	struct timespec	deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += NVPING_FREE_WAIT_S;
	pthread_mutex_lock(&np->lock);
	while (!*flag) {
		if (pthread_cond_timedwait(&np->cond, &np->lock, &deadline) ==
		    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&np->lock);
}

void
nvping_free(nvping *np)
{
	int	i;

	if (np == NULL)
		return;
	/*
	 * The ping callback may be running: end the subscription and wait
	 * for nats.c to say its handler has returned for good.
	 */
	if (np->ping != NULL) {
		if (!natsConnection_IsClosed(np->nc))
			natsSubscription_Unsubscribe(np->ping);
		nvping_wait_flag(np, &np->ping_done);
		natsSubscription_Destroy(np->ping);
	}
	/* A closed connection still calls its disconnected and closed
	 * handlers: wait for the last one. */
	if (np->handlers && np->nc != NULL && natsConnection_IsClosed(np->nc))
		nvping_wait_flag(np, &np->closed_seen);
	for (i = 0; i < np->nsubjects; i++)
		free(np->subjects[i]);
	free(np->subjects);
	free(np->subs);
	if (np->stats != NULL)
		natsStatistics_Destroy(np->stats);
	free(np->subject);
	free(np->name);
	free(np->hello);
	pthread_cond_destroy(&np->cond);
	pthread_mutex_destroy(&np->lock);
	free(np);
}

const char *
nvping_subject(const nvping *np)
{
	return np->subject;
}

/*
 * Decide whether the connection's last error is a refused subscription
 * and, if so, remember it for good.  nats.c 3.4.1 records a permissions
 * violation as NATS_NOT_PERMITTED with the server's text; a refused
 * publish has the same status, so the text tells them apart.
 */
static void
nvping_check_last_error(nvping *np, natsConnection *nc)
{
	const char	*txt = NULL;
	natsStatus	 s;

	s = natsConnection_GetLastError(nc, &txt);
	if (s != NATS_NOT_PERMITTED)
		return;
	if (txt != NULL && *txt != '\0' && strcasestr(txt, "publish") != NULL)
		return;
	pthread_mutex_lock(&np->lock);
	if (!np->refused) {
		np->refused = true;
		snprintf(np->refused_reason, sizeof np->refused_reason,
		    "subscription refused: %s",
		    txt != NULL && *txt != '\0' ? txt : "not permitted");
	}
	pthread_mutex_unlock(&np->lock);
}

void
nvping_on_disconnected(nvping *np)
{
	pthread_mutex_lock(&np->lock);
	np->connected = false;
	np->gen++;
	pthread_mutex_unlock(&np->lock);
}

void
nvping_on_reconnected(nvping *np)
{
	pthread_mutex_lock(&np->lock);
	np->connected = true;
	np->need_flush = true;
	np->gen++;
	pthread_mutex_unlock(&np->lock);
}

void
nvping_on_error(nvping *np, natsConnection *nc, natsStatus err)
{
	if (err == NATS_NOT_PERMITTED && nc != NULL)
		nvping_check_last_error(np, nc);
	if (err == NATS_SLOW_CONSUMER) {
		pthread_mutex_lock(&np->lock);
		np->sc_events++;
		pthread_mutex_unlock(&np->lock);
	}
}

/* Disconnected handler installed by nvping_options(). */
static void
nvping_disconnected_cb(natsConnection *nc, void *closure)
{
	nvping	*np = closure;

	nvping_on_disconnected(np);
	if (np->chain_disconnected != NULL)
		np->chain_disconnected(nc, np->chain_closure);
}

/* Reconnected handler installed by nvping_options(). */
static void
nvping_reconnected_cb(natsConnection *nc, void *closure)
{
	nvping	*np = closure;

	nvping_on_reconnected(np);
	if (np->chain_reconnected != NULL)
		np->chain_reconnected(nc, np->chain_closure);
}

/* Error handler installed by nvping_options(). */
static void
nvping_error_cb(natsConnection *nc, natsSubscription *sub, natsStatus err,
    void *closure)
{
	nvping	*np = closure;

	nvping_on_error(np, nc, err);
	if (np->chain_error != NULL)
		np->chain_error(nc, sub, err, np->chain_closure);
}

/* Closed handler installed by nvping_options(): the last handler call. */
static void
nvping_closed_cb(natsConnection *nc, void *closure)
{
	nvping	*np = closure;

	if (np->chain_closed != NULL)
		np->chain_closed(nc, np->chain_closure);
	pthread_mutex_lock(&np->lock);
	np->closed_seen = true;
	pthread_cond_broadcast(&np->cond);
	pthread_mutex_unlock(&np->lock);
}

/* The ping subscription's delivery has ended: no more ping callbacks. */
static void
nvping_ping_done_cb(void *closure)
{
	nvping	*np = closure;

	pthread_mutex_lock(&np->lock);
	np->ping_done = true;
	pthread_cond_broadcast(&np->cond);
	pthread_mutex_unlock(&np->lock);
}

natsStatus
nvping_options(nvping *np, natsOptions *opts)
{
	natsStatus	s;

	s = natsOptions_SetDisconnectedCB(opts, nvping_disconnected_cb, np);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, nvping_reconnected_cb,
		    np);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(opts, nvping_error_cb, np);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(opts, nvping_closed_cb, np);
	if (s == NATS_OK)
		np->handlers = true;
	return s;
}

void
nvping_chain_closed(nvping *np, natsConnectionHandler closed)
{
	pthread_mutex_lock(&np->lock);
	np->chain_closed = closed;
	pthread_mutex_unlock(&np->lock);
}

void
nvping_chain(nvping *np, natsConnectionHandler disconnected,
    natsConnectionHandler reconnected, natsErrHandler error, void *closure)
{
	pthread_mutex_lock(&np->lock);
	np->chain_disconnected = disconnected;
	np->chain_reconnected = reconnected;
	np->chain_error = error;
	np->chain_closure = closure;
	pthread_mutex_unlock(&np->lock);
}

void
nvping_set_ready(nvping *np, bool ready, const char *reason)
{
	pthread_mutex_lock(&np->lock);
	np->app_ready = ready;
	nvping_copy_reason(np->app_reason, ready ? NULL : reason);
	pthread_mutex_unlock(&np->lock);
}

void
nvping_set_stats(nvping *np, int64_t backlog, int64_t slow_consumer)
{
	pthread_mutex_lock(&np->lock);
	np->backlog = backlog;
	np->slow_consumer = slow_consumer;
	pthread_mutex_unlock(&np->lock);
}

void
nvping_backlog_add(nvping *np, int64_t delta)
{
	pthread_mutex_lock(&np->lock);
	np->busy += delta;
	pthread_mutex_unlock(&np->lock);
}

void
nvping_set_max_backlog(nvping *np, int64_t max)
{
	pthread_mutex_lock(&np->lock);
	np->max_backlog = max > 0 ? max : 0;
	np->over_backlog = false;
	pthread_mutex_unlock(&np->lock);
}

bool
nvping_refused(nvping *np)
{
	bool	r;

	pthread_mutex_lock(&np->lock);
	r = np->refused;
	pthread_mutex_unlock(&np->lock);
	return r;
}

/* Read the connection's reconnect counter; false if unavailable. */
static bool
nvping_reconnect_count(nvping *np, uint64_t *n)
{
	if (np->stats == NULL ||
	    natsConnection_GetStats(np->nc, np->stats) != NATS_OK)
		return false;
	return natsStatistics_GetCounts(np->stats, NULL, NULL, NULL, NULL,
	    n) == NATS_OK;
}

/*
 * Make sure the server has processed everything this connection sent
 * since its last reconnect, flushing if a reconnect happened.  Runs on
 * the ping subscription's thread, never under the lock.
 */
static void
nvping_settle(nvping *np)
{
	uint64_t	 seen = 0, gen;
	bool		 have, flush;

	/* Only the ping thread touches stats after nvping_start. */
	have = nvping_reconnect_count(np, &seen);
	pthread_mutex_lock(&np->lock);
	if (have && seen != np->reconnects)
		np->need_flush = true;
	flush = np->need_flush;
	gen = np->gen;
	pthread_mutex_unlock(&np->lock);
	if (!flush ||
	    natsConnection_Status(np->nc) != NATS_CONN_STATUS_CONNECTED)
		return;
	if (natsConnection_FlushTimeout(np->nc, NVPING_FLUSH_MS) != NATS_OK)
		return;
	nvping_check_last_error(np, np->nc);
	pthread_mutex_lock(&np->lock);
	if (np->gen == gen) {
		np->need_flush = false;
		if (have)
			np->reconnects = seen;
	}
	pthread_mutex_unlock(&np->lock);
}

/* Sum the pending and dropped counts of the data subscriptions. */
static void
nvping_sub_counts(nvping *np, int64_t *backlog, int64_t *dropped)
{
	int64_t	d;
	int	i, msgs, bytes;

	*backlog = 0;
	*dropped = 0;
	for (i = 0; i < np->nsubs; i++) {
		if (natsSubscription_GetPending(np->subs[i], &msgs, &bytes) ==
		    NATS_OK && msgs > 0)
			*backlog += msgs;
		if (natsSubscription_GetDropped(np->subs[i], &d) == NATS_OK &&
		    d > 0)
			*dropped += d;
	}
}

/* Build the JSON reply to a ping; the caller frees b->p. */
static void
nvping_reply_json(nvping *np, struct nvping_buf *b)
{
	char		 num[64], over[NVPING_REASON_MAX];
	const char	*reason = NULL;
	int64_t		 backlog, dropped, events;
	bool		 ready;
	int		 i;

	nvping_sub_counts(np, &backlog, &dropped);
	pthread_mutex_lock(&np->lock);
	backlog += np->busy;
	if (np->backlog >= 0)
		backlog = np->backlog;
	events = np->slow_consumer >= 0 ? np->slow_consumer : np->sc_events;
	/* Not ready above the bound; ready again once half drained. */
	if (np->max_backlog > 0) {
		if (backlog > np->max_backlog)
			np->over_backlog = true;
		else if (backlog <= np->max_backlog / 2)
			np->over_backlog = false;
	}
	snprintf(over, sizeof over, "backlog %lld (bound %lld, ready again "
	    "at %lld)", (long long)backlog, (long long)np->max_backlog,
	    (long long)(np->max_backlog / 2));
	if (np->refused)
		reason = np->refused_reason;
	else if (!np->connected ||
	    natsConnection_Status(np->nc) != NATS_CONN_STATUS_CONNECTED)
		reason = "disconnected";
	else if (np->need_flush)
		reason = "reconnecting";
	else if (!np->app_ready)
		reason = np->app_reason[0] != '\0' ? np->app_reason :
		    "not ready";
	else if (np->over_backlog)
		reason = over;
	ready = reason == NULL;

	nvping_buf_puts(b, ready ? "{\"ready\":true" : "{\"ready\":false");
	if (!ready) {
		nvping_buf_puts(b, ",\"reason\":");
		nvping_buf_json(b, reason);
	}
	if (np->name != NULL) {
		nvping_buf_puts(b, ",\"name\":");
		nvping_buf_json(b, np->name);
	}
	snprintf(num, sizeof num, ",\"pid\":%ld", (long)getpid());
	nvping_buf_puts(b, num);
	nvping_buf_puts(b, ",\"subjects\":[");
	for (i = 0; i < np->nsubjects; i++) {
		if (i > 0)
			nvping_buf_puts(b, ",");
		nvping_buf_json(b, np->subjects[i]);
	}
	snprintf(num, sizeof num, "],\"backlog\":%lld", (long long)backlog);
	nvping_buf_puts(b, num);
	snprintf(num, sizeof num, ",\"slow_consumer\":%lld",
	    (long long)events);
	nvping_buf_puts(b, num);
	snprintf(num, sizeof num, ",\"dropped\":%lld}", (long long)dropped);
	nvping_buf_puts(b, num);
	pthread_mutex_unlock(&np->lock);
}

/* Message handler of the ping subscription: the payload is ignored. */
static void
nvping_ping_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
    void *closure)
{
	nvping			*np = closure;
	struct nvping_buf	 b = { 0 };
	const char		*reply = natsMsg_GetReply(msg);

	if (reply != NULL && *reply != '\0') {
		nvping_settle(np);
		nvping_reply_json(np, &b);
		if (!b.oom)
			natsConnection_Publish(nc, reply, b.p, (int)b.len);
		free(b.p);
	}
	natsMsg_Destroy(msg);
}

natsStatus
nvping_start(nvping *np, natsConnection *nc, natsSubscription **subs,
    int nsubs)
{
	natsStatus	 s;
	uint64_t	 n;
	int		 i;

	if (np->ping != NULL)
		return NATS_ILLEGAL_STATE;
	np->nc = nc;
	if (np->subject == NULL)
		return NATS_OK;
	if (nsubs > 0) {
		if ((np->subs = calloc((size_t)nsubs, sizeof *np->subs)) ==
		    NULL)
			return NATS_NO_MEMORY;
		memcpy(np->subs, subs, (size_t)nsubs * sizeof *subs);
		np->nsubs = nsubs;
	}
	if (np->subjects == NULL && nsubs > 0) {
		const char	*names[nsubs];

		for (i = 0; i < nsubs; i++) {
			names[i] = natsSubscription_GetSubject(subs[i]);
			if (names[i] == NULL)
				names[i] = "";
		}
		if ((s = nvping_set_subjects(np, names, nsubs)) != NATS_OK)
			return s;
	}
	if ((s = natsStatistics_Create(&np->stats)) != NATS_OK)
		return s;
	if (nvping_reconnect_count(np, &n))
		np->reconnects = n;

	/* The server handles one connection's protocol in order. */
	if ((s = natsConnection_Flush(nc)) != NATS_OK)
		return s;
	nvping_check_last_error(np, nc);
	s = natsConnection_Subscribe(&np->ping, nc, np->subject,
	    nvping_ping_cb, np);
	if (s == NATS_OK)
		s = natsSubscription_SetOnCompleteCB(np->ping,
		    nvping_ping_done_cb, np);
	/* After the subscription, on the same connection: natsvisord pings
	 * at once when it sees this instead of at its next scheduled ping.
	 * Lost, it costs only that wait. */
	if (s == NATS_OK && np->hello != NULL)
		(void)natsConnection_Publish(nc, np->hello, NULL, 0);
	return s;
}

natsStatus
nvping_set_subjects(nvping *np, const char *const *subjects, int n)
{
	char	**list;
	int	  i;

	if (n < 0 || (list = calloc((size_t)n + 1, sizeof *list)) == NULL)
		return NATS_NO_MEMORY;
	for (i = 0; i < n; i++) {
		if ((list[i] = strdup(subjects[i])) == NULL) {
			while (i-- > 0)
				free(list[i]);
			free(list);
			return NATS_NO_MEMORY;
		}
	}
	pthread_mutex_lock(&np->lock);
	for (i = 0; i < np->nsubjects; i++)
		free(np->subjects[i]);
	free(np->subjects);
	np->subjects = list;
	np->nsubjects = n;
	pthread_mutex_unlock(&np->lock);
	return NATS_OK;
}

/*
 * True when s can be published to: printable, no white space, no
 * wildcard token, no empty token, and at least two tokens (so the
 * classic value "1" is never taken for a subject).
 */
static bool
nvping_is_subject(const char *s)
{
	const char	*p, *tok = s;
	bool		 dot = false;

	if (s == NULL || *s == '\0' || strlen(s) > 1024)
		return false;
	for (p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == tok)
				return false;
			if (p - tok == 1 && (*tok == '*' || *tok == '>'))
				return false;
			if (*p == '\0')
				break;
			dot = true;
			tok = p + 1;
		} else if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	}
	return dot;
}

const char *
nvping_confirm_subject(natsMsg *msg)
{
	const char	*v = NULL, *reply;

	if (natsMsgHeader_Get(msg, NVPING_CONFIRM_HEADER, &v) != NATS_OK)
		return NULL;
	if (nvping_is_subject(v))
		return v;
	/* A JetStream delivery's reply subject is its acknowledgement. */
	reply = natsMsg_GetReply(msg);
	if (reply == NULL || *reply == '\0' ||
	    strncmp(reply, "$JS.ACK.", 8) == 0)
		return NULL;
	return reply;
}

bool
nvping_wants_confirm(natsMsg *msg)
{
	return nvping_confirm_subject(msg) != NULL;
}

natsStatus
nvping_confirm(natsConnection *nc, natsMsg *msg, bool ok, const char *reason)
{
	struct nvping_buf	 b = { 0 };
	char			 r[NVPING_REASON_MAX];
	const char		*to;
	natsStatus		 s;

	if ((to = nvping_confirm_subject(msg)) == NULL)
		return NATS_OK;
	if (ok)
		nvping_buf_puts(&b, "{\"committed\":true}");
	else {
		nvping_copy_reason(r, reason != NULL ? reason : "failed");
		nvping_buf_puts(&b, "{\"committed\":false,\"reason\":");
		nvping_buf_json(&b, r);
		nvping_buf_puts(&b, "}");
	}
	if (b.oom) {
		free(b.p);
		return NATS_NO_MEMORY;
	}
	s = natsConnection_Publish(nc, to, b.p, (int)b.len);
	free(b.p);
	return s;
}
