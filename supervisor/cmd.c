/*
 * cmd.c: control commands, answered from the loop's state.
 *
 * Commands that can be answered at once (status, is-ready, signal, reload)
 * are.  The others are held: wait-ready until every target is ready or
 * cannot become ready, start/restart until exec succeeded or failed, stop
 * until the process group is gone, publish until the gate opens and the
 * server has the message (and, with --confirm, until the listener has
 * committed it).  Held requests are re-evaluated only when the loop says
 * something changed (cmd_evaluate from the idle callback): no polling, so
 * a waiter is answered within the loop iteration that made it ready.
 *
 * The same held machinery serves the NATS-side interface: requests on
 * natsvisor.<instance>.status and .wait-ready (small text bodies, JSON
 * replies), control-protocol frames on natsvisor.<instance>.request
 * (read-only commands) and .control (every command; subscribed only with
 * nats_control = yes), replied to on their reply subject; and events
 * published on natsvisor.<instance>.event.<name> on every change of state
 * or health.
 */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "bus.h"
#include "control.h"
#include "ctlproto.h"
#include "log.h"
#include "parse.h"
#include "subject.h"

enum { PUB_WAIT, PUB_SENT, PUB_CONFIRM };
/* How long a flushed publish waits for a refusal nats.c has read but not
 * reported yet (cmd_on_flushed). */
#define DENY_GRACE_MS 500
enum { TAG_STATUS = 1, TAG_WAIT_READY, TAG_CONTROL, TAG_REQUEST };

struct held {
	enum ctl_verb verb;
	struct ctl_client *c;   /* control client, or NULL */
	char *nats_reply;       /* NATS-side requester, or NULL */
	bool nats_frame;        /* ... who gets a control-protocol frame */
	struct lsn **t;         /* targets */
	uint64_t *seq;          /* per target: exec_seq at request (stop:
				   the spawn count) */
	uint64_t *eseq;         /* per target: spawnerr_seq at request */
	bool *done0;            /* per target: satisfied at request */
	bool *unstopped;        /* stop, restart: not yet told to stop */
	uint64_t *sseq;         /* ... once told: the spawn count then (the
				   incarnation it stops) */
	uint64_t *sreq;         /* restart: the target's reqs at request */
	bool *superseded;       /* restart: a later stop wins, not started */
	bool starting;          /* restart: all stopped, now started */
	size_t nt;
	uv_timer_t *timer;      /* deadline, or NULL */
	bool timed_out;
	/* publish */
	uint64_t arrived_ns;    /* covering listeners must answer a later ping */
	uint64_t id;
	char *subject;
	char *data;
	size_t len;
	struct bus_header hdr[CTL_HEADERS_MAX];
	char *hdrbuf[CTL_HEADERS_MAX];
	int nhdr;
	bool confirm;
	int phase;
	bool flushed;           /* PUB_SENT: marker back, refusal possible */
	uint64_t grace_ns;      /* ... until then (uv_hrtime) */
	unsigned expect, got;
	struct buf refusals;
	struct buf dropped;     /* start, stop, restart: targets a reload
				   removed meanwhile, one line each */
	struct held *prev, *next;
};

static struct held *held_head;
/* The latest publish handed to the bus, and the timer that ends the wait
 * for a refusal that may still come (see cmd_on_flushed). */
static uint64_t last_pub_id;
static uv_timer_t grace_timer;
static char subj_status[200], subj_wait[200], subj_event[200], subj_ctl[200];
static char subj_req[200];
/* While a control-protocol frame that came over NATS is dispatched, its
 * reply subject: replies go there instead of to a control client (whose
 * pointer is then NULL), and a held request remembers it. */
static const char *nats_origin;
/* Last state reported per listener, for events: compared by pointer. */

/* ------------------------------------------------------------------ */
/* Cannot become ready: the one rule of wait-ready, the gate, is-ready and
 * the --daemon verdict (notify.c) */

/* The listener that keeps L from becoming ready until an operator steps
 * in, or NULL when L still can: L itself when it was removed or its state
 * is final (lst_cannot_become_ready: stopped and not wanted, exited,
 * fatal, backing off after a spawn error); else, while L waits for its
 * requirements (loop.c spawns it only once they are all ready), the
 * nearest requirement in such a state, followed through requirements that
 * wait in turn.  A requirement that is starting, running or backing off
 * can still become ready, and so can L. */
const struct lsn *lsn_blocker(const struct lsn *l)
{
	if (l->removed || lst_cannot_become_ready(&l->m))
		return l;
	if (!l->waiting)
		return NULL;
	/* Breadth first over the requires graph (acyclic: config.c refuses
	 * cycles); each listener is queued once, so Q never overflows. */
	size_t cap = d.nls + 2, n = 0, next = 0;
	const struct lsn **q = calloc(cap, sizeof(*q));
	const struct lsn *blocker = NULL;
	if (q == NULL)
		return NULL; /* degrade: wait for the timeout */
	q[n++] = l;
	while (next < n && blocker == NULL) {
		const struct nv_listener_conf *c = q[next++]->conf;
		for (size_t i = 0; i < c->nrequires && blocker == NULL; i++) {
			struct lsn *m[NV_INSTANCES_MAX];
			size_t k =
				lsn_match(c->requires[i], m, NV_INSTANCES_MAX);
			for (size_t j = 0; j < k && j < NV_INSTANCES_MAX; j++) {
				bool seen = false;
				for (size_t x = 0; x < n && !seen; x++)
					seen = q[x] == m[j];
				if (seen)
					continue;
				if (m[j]->removed ||
				    lst_cannot_become_ready(&m[j]->m)) {
					blocker = m[j];
					break;
				}
				if (m[j]->waiting && n < cap)
					q[n++] = m[j];
			}
		}
	}
	free(q);
	return blocker;
}

/* ------------------------------------------------------------------ */
/* Formatting */

/* "STATE, HEALTH: REASON" of L. */
/* L's reason as of now: in backoff, "restarting in" counts down (the
 * reason was written with the whole delay).  BUF holds it when changed. */
static const char *reason_now(const struct lsn *l, char *buf, size_t len)
{
	static const char mark[] = "; restarting in ";
	const char *r = l->m.reason, *p;
	uint64_t now = now_ms();

	if (l->m.state != LST_BACKOFF || l->m.deadline == 0 ||
	    (p = strstr(r, mark)) == NULL)
		return r;
	snprintf(buf, len, "%.*s%s%s", (int)(p - r), r, mark,
		 format_duration(l->m.deadline > now ? l->m.deadline - now
						     : 0));
	return buf;
}

static void fmt_state(struct buf *b, const struct lsn *l)
{
	const char *health = d.connected || l->is_server
				     ? lst_health_name(l->m.health)
				     : "unknown";
	char rbuf[sizeof l->m.reason + 32];
	const char *reason = reason_now(l, rbuf, sizeof rbuf);
	size_t hl = strlen(health);
	/* "not-ready: not ready: X" says it twice */
	if (l->m.health == HEALTH_NOT_READY &&
	    strncmp(reason, "not ready: ", 11) == 0)
		reason += 11;
	buf_printf(b, "%s, ", lst_state_name(l->m.state));
	if (!d.connected)
		buf_printf(b, "%s: NATS connection down", health);
	else if (strncmp(reason, health, hl) == 0 && reason[hl] == ':')
		buf_printf(b, "%s", reason); /* "pending: no responders" */
	else if (reason[0])
		buf_printf(b, "%s: %s", health, reason);
	else
		buf_printf(b, "%s", health);
}

/* One line describing why L is not ready, naming the listener that
 * blocks it when it waits for a requirement that cannot become ready:
 * "api: stopped, pending: waiting for db to be ready; blocked by db
 * (fatal, pending: ...)". */
static void fmt_not_ready(struct buf *b, const struct lsn *l)
{
	const struct lsn *k = lsn_blocker(l);
	buf_printf(b, "%s: ", l->conf->name);
	fmt_state(b, l);
	if (k && k != l) {
		buf_printf(b, "; blocked by %s (", k->conf->name);
		fmt_state(b, k);
		buf_add(b, ")", 1);
	}
	if (lst_is_ready(&l->m) && !lsn_ready(l))
		buf_printf(b, "; but the NATS server does not answer");
	buf_add(b, "\n", 1);
}

/* One line naming L, which has not yet answered a ping sent after the
 * publish request (a gate waits for that). */
static void fmt_stale(struct buf *b, const struct lsn *l)
{
	buf_printf(b, "%s: %s, %s: no answer yet to a ping sent after the "
		      "publish request\n",
		   l->conf->name, lst_state_name(l->m.state),
		   d.connected ? lst_health_name(l->m.health) : "unknown");
}

static void fmt_uptime(char *out, size_t len, const struct lsn *l, uint64_t now)
{
	if (lst_is_live(&l->m) && l->m.spawned_at) {
		uint64_t up = now - l->m.spawned_at;
		/* Whole seconds past a minute: the column stays aligned. */
		snprintf(out, len, "%s",
			 format_duration(up >= 60000 ? up / 1000 * 1000 : up));
	}
	else
		snprintf(out, len, "-");
}

static void fmt_exit(char *out, size_t len, const struct lsn *l)
{
	if (l->m.last_signal)
		snprintf(out, len, "signal %s", signal_name(l->m.last_signal));
	else if (l->m.last_exit >= 0)
		snprintf(out, len, "status %d", l->m.last_exit);
	else
		snprintf(out, len, "-");
}

static void status_text(struct lsn *const *ls, size_t n, struct buf *b)
{
	char rbuf[sizeof ls[0]->m.reason + 32];
	uint64_t now = now_ms();
	size_t w = 4;
	for (size_t i = 0; i < n; i++)
		if (strlen(ls[i]->conf->name) > w)
			w = strlen(ls[i]->conf->name);
	buf_printf(b, "%-*s  %-8s  %-9s  %-7s  %-10s  %-8s  %-11s  %s\n", (int)w,
		   "NAME", "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS",
		   "LAST-EXIT", "INFO");
	for (size_t i = 0; i < n; i++) {
		const struct lsn *l = ls[i];
		char pid[16], up[32], ex[32];
		const char *health = (d.connected || l->is_server)
					     ? lst_health_name(l->m.health)
					     : "unknown";
		if (l->m.pid)
			snprintf(pid, sizeof(pid), "%d", l->m.pid);
		else
			snprintf(pid, sizeof(pid), "-");
		fmt_uptime(up, sizeof(up), l, now);
		fmt_exit(ex, sizeof(ex), l);
		buf_printf(b, "%-*s  %-8s  %-9s  %-7s  %-10s  %-8lu  %-11s  ",
			   (int)w, l->conf->name, lst_state_name(l->m.state),
			   health, pid, up, l->m.restarts_total, ex);
		if (l->spawn_err[0] && l->m.spawn_error)
			buf_printf(b, "spawn error: %s", l->spawn_err);
		else
			buf_printf(b, "%s", reason_now(l, rbuf, sizeof rbuf));
		/* Back-pressure, when the latest pong reported any. */
		if (l->backlog > 0 || l->slow_consumer > 0 || l->dropped > 0)
			buf_printf(b, "%s[backlog %lld, slow consumer %lld, "
				   "dropped %lld]", l->m.reason[0] ? " " : "",
				   (long long)(l->backlog > 0 ? l->backlog : 0),
				   (long long)(l->slow_consumer > 0
						       ? l->slow_consumer
						       : 0),
				   (long long)(l->dropped > 0 ? l->dropped
							      : 0));
		buf_add(b, "\n", 1);
	}
	if (!d.last_reload_ok)
		buf_printf(b, "last reload failed: %s\n", d.last_reload);
	if (!d.connected)
		buf_printf(b, "NATS: disconnected (retrying)\n");
	else if (d.inbox_denied)
		buf_printf(b, "NATS: connected, but the daemon may not "
			   "subscribe to its inbox (_INBOX.>): no pong reaches "
			   "it\n");
	else if (d.server_silent)
		buf_printf(b, "NATS: connected, but the server does not answer "
			   "(misses are not counted)\n");
}

/* V[0..N) (up to a NULL) as a JSON array; with REDACT, as a command line
 * with its secrets hidden (arg_redact). */
static void json_strv(struct buf *b, char *const *v, size_t n, bool redact)
{
	char shown[1024];

	buf_add(b, "[", 1);
	for (size_t i = 0; i < n && v && v[i]; i++) {
		if (i)
			buf_add(b, ",", 1);
		buf_json_str(b, redact ? arg_redact(i ? v[i - 1] : NULL, v[i],
						    shown, sizeof(shown)) :
					 v[i]);
	}
	buf_add(b, "]", 1);
}

/* The text of ERR as a JSON string, without the line end its messages
 * carry; DFLT (a string, or NULL for null) when there is none. */
static void json_error(struct buf *b, const struct buf *err, const char *dflt)
{
	size_t n = err && err->p ? err->len : 0;
	while (n > 0 && err->p[n - 1] == '\n')
		n--;
	if (n == 0 && (err == NULL || err->p == NULL))
		buf_json_str(b, dflt);
	else
		buf_json_strn(b, err->p, n);
}

/* ,"KEY":V, or null when V is negative (unknown). */
static void json_counter(struct buf *b, const char *key, int64_t v)
{
	if (v >= 0)
		buf_printf(b, ",\"%s\":%lld", key, (long long)v);
	else
		buf_printf(b, ",\"%s\":null", key);
}

static void status_json_one(struct buf *b, const struct lsn *l, uint64_t now)
{
	const struct nv_listener_conf *c = l->conf;
	char rbuf[sizeof l->m.reason + 32];
	buf_printf(b, "{\"name\":");
	buf_json_str(b, c->name);
	buf_printf(b, ",\"state\":\"%s\",\"health\":\"%s\",\"ready\":%s",
		   lst_state_name(l->m.state),
		   (d.connected || l->is_server) ? lst_health_name(l->m.health)
						 : "unknown",
		   lsn_ready(l) ? "true" : "false");
	buf_printf(b, ",\"pid\":%d,\"pgid\":%d", l->m.pid, l->m.pgid);
	buf_printf(b, ",\"uptime_ms\":%llu",
		   (unsigned long long)(lst_is_live(&l->m) && l->m.spawned_at
						? now - l->m.spawned_at
						: 0));
	buf_printf(b, ",\"restarts\":%lu,\"spawns\":%lu", l->m.restarts_total,
		   l->m.spawns);
	if (l->m.last_exit >= 0)
		buf_printf(b, ",\"last_exit_code\":%d", l->m.last_exit);
	else
		buf_printf(b, ",\"last_exit_code\":null");
	if (l->m.last_signal)
		buf_printf(b, ",\"last_signal\":\"%s\"",
			   signal_name(l->m.last_signal));
	else
		buf_printf(b, ",\"last_signal\":null");
	buf_printf(b, ",\"spawn_error\":");
	buf_json_str(b, l->m.spawn_error ? l->spawn_err : NULL);
	buf_printf(b, ",\"reason\":");
	buf_json_str(b, reason_now(l, rbuf, sizeof rbuf));
	buf_printf(b, ",\"last_pong_ms_ago\":");
	if (l->m.last_pong && lst_is_live(&l->m))
		buf_printf(b, "%llu",
			   (unsigned long long)(now - l->m.last_pong));
	else
		buf_printf(b, "null");
	buf_printf(b, ",\"ping_subject\":");
	buf_json_str(b, l->is_server ? NULL : l->ping_subject);
	/* As reported by the latest pong; null when it did not say. */
	json_counter(b, "backlog", l->backlog);
	json_counter(b, "slow_consumer", l->slow_consumer);
	json_counter(b, "dropped", l->dropped);
	/* Secrets in the command line hidden: the NATS status answers
	 * read-only users too. */
	buf_printf(b, ",\"argv\":");
	json_strv(b, c->argv, SIZE_MAX, true);
	buf_printf(b, ",\"subjects\":");
	json_strv(b, c->subjects, c->nsubjects, false);
	buf_printf(b, ",\"queue_group\":");
	buf_json_str(b, c->queue_group);
	buf_printf(b, "}");
}

void cmd_status_json(struct lsn *const *ls, size_t n, char **out, size_t *len)
{
	struct buf b = { 0 };
	uint64_t now = now_ms();
	unsigned total, ready = daemon_ready_count(&total);
	buf_printf(&b, "{\"version\":1,\"instance_id\":");
	buf_json_str(&b, d.instance_id);
	buf_printf(&b, ",\"pid\":%d,\"connected\":%s,\"ready\":%u,\"total\":%u",
		   (int)getpid(), d.connected ? "true" : "false", ready, total);
	/* what the text footer says of a connection that is up */
	buf_printf(&b, ",\"server_silent\":%s,\"inbox_denied\":%s",
		   d.connected && d.server_silent ? "true" : "false",
		   d.connected && d.inbox_denied ? "true" : "false");
	buf_printf(&b, ",\"last_reload\":{\"ok\":%s,\"error\":",
		   d.last_reload_ok ? "true" : "false");
	buf_json_str(&b, d.last_reload_ok ? NULL : d.last_reload);
	buf_printf(&b, ",\"errors\":[");
	/* every error, where "error" has the first */
	for (const char *p = d.last_reload_ok ? NULL : d.last_reload_all, *e;
	     p && (e = strchr(p, '\n')) != NULL; p = e + 1) {
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(e - p), p);
		if (p != d.last_reload_all)
			buf_add(&b, ",", 1);
		buf_json_str(&b, line);
	}
	buf_printf(&b, "]},\"listeners\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_add(&b, ",", 1);
		status_json_one(&b, ls[i], now);
	}
	buf_printf(&b, "]}\n");
	*out = b.p;
	*len = b.len;
}

/* ------------------------------------------------------------------ */
/* Target resolution */

/* Resolve NAMES (or every listener with ALL / none given and DEFAULT_ALL)
 * into a malloc'd array; unknown names are listed in ERR. */
static struct lsn **targets_resolve(const char **names, int nnames,
				    bool all_listeners, bool wanted_only,
				    size_t *nt, struct buf *err)
{
	size_t cap = d.nls + 2, n = 0;
	struct lsn **t = calloc(cap, sizeof(*t));
	if (t == NULL)
		return NULL;
	if (all_listeners) {
		for (size_t i = 0; i < d.nls; i++)
			if (!d.ls[i]->removed &&
			    (!wanted_only || d.ls[i]->m.want ||
			     d.ls[i]->conf->autostart))
				t[n++] = d.ls[i];
		*nt = n;
		return t;
	}
	for (int i = 0; i < nnames; i++) {
		struct lsn *m[NV_INSTANCES_MAX];
		size_t k = lsn_match(names[i], m, NV_INSTANCES_MAX);
		if (k == 0) {
			buf_printf(err, "unknown listener: %s\n", names[i]);
			continue;
		}
		for (size_t j = 0; j < k && j < NV_INSTANCES_MAX; j++) {
			bool dup = false;
			for (size_t x = 0; x < n && !dup; x++)
				dup = t[x] == m[j];
			if (dup)
				continue;
			if (n == cap) {
				cap *= 2;
				struct lsn **p = reallocarray(t, cap, sizeof(*t));
				if (p == NULL) {
					free(t);
					return NULL;
				}
				t = p;
			}
			t[n++] = m[j];
		}
	}
	*nt = n;
	return t;
}

/* ------------------------------------------------------------------ */
/* Held requests */

static void held_free(struct held *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		held_head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	if (h->timer) {
		uv_timer_stop(h->timer);
		uv_close((uv_handle_t *)h->timer, (uv_close_cb)free);
	}
	free(h->t);
	free(h->seq);
	free(h->eseq);
	free(h->done0);
	free(h->unstopped);
	free(h->sseq);
	free(h->sreq);
	free(h->superseded);
	free(h->subject);
	free(h->data);
	for (int i = 0; i < h->nhdr; i++)
		free(h->hdrbuf[i]);
	buf_free(&h->refusals);
	buf_free(&h->dropped);
	free(h->nats_reply);
	free(h);
}

/* Reply with a control-protocol frame on the NATS subject REPLY. */
static void nats_frame_reply(const char *reply, int code, const char *out,
			     size_t outlen, const char *err, size_t errlen)
{
	char *frame;
	size_t flen;
	if (ctl_encode_reply(code, out, outlen, err, errlen, &frame, &flen) < 0)
		return;
	bus_send(reply, frame, flen);
	free(frame);
}

/* Reply to the request being dispatched: control client C, or the NATS
 * requester of the frame being handled (nats_origin). */
static void origin_reply(struct ctl_client *c, int code, const char *out,
			 size_t outlen, const char *err, size_t errlen)
{
	if (c)
		control_reply(c, code, out, outlen, err, errlen);
	else if (nats_origin)
		nats_frame_reply(nats_origin, code, out, outlen, err, errlen);
}

/* Answer a held request and forget it. */
static void held_reply(struct held *h, int code, const struct buf *out,
		       const struct buf *err)
{
	if (h->c) {
		control_reply(h->c, code, out ? out->p : NULL,
			      out ? out->len : 0, err ? err->p : NULL,
			      err ? err->len : 0);
	} else if (h->nats_reply && h->nats_frame) {
		nats_frame_reply(h->nats_reply, code, out ? out->p : NULL,
				 out ? out->len : 0, err ? err->p : NULL,
				 err ? err->len : 0);
	} else if (h->nats_reply) {
		struct buf b = { 0 };
		buf_printf(&b, "{\"code\":%d,\"ready\":%s,\"error\":", code,
			   code == 0 ? "true" : "false");
		json_error(&b, err, NULL);
		buf_printf(&b, "}");
		bus_send(h->nats_reply, b.p, b.len);
		buf_free(&b);
	}
	held_free(h);
}

static void held_on_timer(uv_timer_t *t)
{
	struct held *h = t->data;
	h->timed_out = true;
	daemon_mark_dirty();
}

static struct held *held_new(enum ctl_verb verb, struct ctl_client *c,
			     uint64_t timeout_ms)
{
	struct held *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->verb = verb;
	h->c = c;
	if (c) {
		control_client_set_data(c, h);
	} else if (nats_origin) {
		h->nats_reply = strdup(nats_origin);
		h->nats_frame = true;
		if (h->nats_reply == NULL) {
			free(h);
			return NULL;
		}
	}
	if (timeout_ms) {
		h->timer = malloc(sizeof(*h->timer));
		if (h->timer) {
			uv_timer_init(d.loop, h->timer);
			h->timer->data = h;
			uv_timer_start(h->timer, held_on_timer, timeout_ms, 0);
		}
	}
	h->next = held_head;
	if (held_head)
		held_head->prev = h;
	held_head = h;
	return h;
}

/* wait-ready: 0 all ready, 5 one cannot become ready, -1 keep waiting. */
static int eval_wait_ready(struct held *h, struct buf *err)
{
	bool all = true;
	int code = -1;
	for (size_t i = 0; i < h->nt; i++) {
		struct lsn *l = h->t[i];
		if (lsn_blocker(l)) {
			code = CTL_CANNOT;
			break;
		}
		if (!lsn_ready(l))
			all = false;
	}
	if (code < 0 && all)
		return 0;
	if (code < 0 && !h->timed_out)
		return -1;
	if (code < 0)
		code = CTL_NO;
	for (size_t i = 0; i < h->nt; i++)
		if (!lsn_ready(h->t[i]))
			fmt_not_ready(err, h->t[i]);
	return code;
}

/* Is target I still up for H: not yet told to stop, or the incarnation it
 * stopped still there (one that a later request started does not count:
 * waiting for it would wait for ever)? */
static bool held_still_up(const struct held *h, size_t i)
{
	const struct lsn *l = h->t[i];
	return h->unstopped[i] ||
	       (lst_is_live(&l->m) && l->m.spawns == h->sseq[i]);
}

/* stop, restart: tell each target to stop once no other target that
 * requires it, directly or through listeners not named, is still running
 * (dependents first, as at shutdown); a restart starts them all once all
 * have stopped (requirements first: requires holds a dependent back).
 * True while that is not done. */
static bool lifecycle_stop_order(struct held *h)
{
	bool told;
	do {
		told = false;
		for (size_t i = 0; i < h->nt; i++) {
			size_t j = 0;
			if (!h->unstopped[i])
				continue;
			while (j < h->nt &&
			       (j == i || !held_still_up(h, j) ||
				!lsn_requires_deep(h->t[j], h->t[i])))
				j++;
			if (j < h->nt)
				continue; /* a dependent is still up */
			h->unstopped[i] = false;
			h->sseq[i] = h->t[i]->m.spawns;
			told = true;
			lsn_event(h->t[i], EV_STOP, NULL);
		}
	} while (told);
	bool pending = false, up = false;
	for (size_t i = 0; i < h->nt; i++) {
		pending |= h->unstopped[i];
		up |= held_still_up(h, i);
	}
	if (pending || (h->verb == CTL_RESTART && up))
		return true;
	if (h->verb == CTL_RESTART && !h->starting) {
		h->starting = true;
		for (size_t i = 0; i < h->nt && !d.shutting_down; i++) {
			struct lsn *l = h->t[i];
			if (l->removed)
				continue; /* dropped once it is gone */
			/* A later start or stop wins: the stop leaves it
			 * stopped, the start has started it already. */
			if (l->reqs != h->sreq[i] && l->last_req_stop) {
				h->superseded[i] = h->done0[i] = true;
				continue;
			}
			lsn_event(l, EV_START, NULL);
		}
	}
	return false;
}

/* start/restart/stop: 0 done, 1 failed, -1 keep waiting. */
static int eval_lifecycle(struct held *h, struct buf *out, struct buf *err)
{
	int code = 0;
	if (h->unstopped && !h->starting && lifecycle_stop_order(h) &&
	    h->verb == CTL_RESTART)
		return -1;
	for (size_t i = 0; i < h->nt; i++) {
		struct lsn *l = h->t[i];
		if (h->superseded && h->superseded[i])
			buf_printf(out, "%s: stopped, and not started again: a "
					"later request stopped it\n",
				   l->conf->name);
		if (h->done0[i])
			continue;
		if (h->verb == CTL_STOP) {
			/* Done when the incarnation it stopped is gone, also
			 * when a later start has begun another. */
			if (lst_is_live(&l->m) && l->m.spawns == h->seq[i])
				return -1;
			if (lst_is_live(&l->m))
				buf_printf(out, "%s: stopped, and started again "
						"by a later request\n",
					   l->conf->name);
			else if (l->m.want) /* waiting, or backing off */
				buf_printf(out, "%s: stopped; a later request "
						"starts it again\n",
					   l->conf->name);
			continue;
		}
		if (l->spawnerr_seq > h->eseq[i]) {
			buf_printf(err, "%s: spawn error: %s\n", l->conf->name,
				   l->spawn_err);
			code = CTL_NO;
		} else if (l->exec_seq > h->seq[i]) {
			continue;
		} else if (l->waiting && lsn_blocker(l) == NULL) {
			buf_printf(out, "%s: %s\n", l->conf->name, l->m.reason);
		} else if (l->waiting) { /* for one that cannot start */
			fmt_not_ready(err, l);
			code = CTL_NO;
		} else if (lst_cannot_become_ready(&l->m) || d.shutting_down) {
			fmt_not_ready(err, l);
			code = CTL_NO;
		} else {
			return -1;
		}
	}
	return code;
}

/* The listeners a publish to SUBJECT must wait for. */
static size_t gate_covering(const char *subject, struct lsn **cov, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		if (l->removed)
			continue;
		for (size_t j = 0; j < l->conf->nsubjects; j++) {
			if (subject_matches(l->conf->subjects[j], subject)) {
				if (n < max)
					cov[n] = l;
				n++;
				break;
			}
		}
	}
	return n;
}

/* Is the gate open for H?  0 open (H->expect set), 1 wait, 4 nobody
 * covers the subject, 5 a covering listener cannot become ready. */
static int gate_check(struct held *h, struct buf *why)
{
	size_t n = gate_covering(h->subject, NULL, 0);
	if (n == 0) {
		buf_printf(why, "no listener covers the subject %s\n",
			   h->subject);
		return CTL_NOT_COVERED;
	}
	struct lsn **cov = calloc(n, sizeof(*cov));
	if (cov == NULL)
		return 1;
	gate_covering(h->subject, cov, n);
	uint64_t since = h->arrived_ns;
	int code = 0;
	unsigned expect = 0;
	for (size_t i = 0; i < n; i++) {
		struct lsn *l = cov[i];
		const char *q = l->conf->queue_group;
		if (q == NULL) {
			expect++;
			if (lsn_blocker(l)) {
				fmt_not_ready(why, l);
				code = CTL_CANNOT;
			} else if (!lsn_fresh(l, since)) {
				if (lst_is_ready(&l->m)) {
					lsn_ping_now(l);
					fmt_stale(why, l);
				} else {
					lsn_ping_soon(l);
					fmt_not_ready(why, l);
				}
				if (code == 0)
					code = 1;
			}
			continue;
		}
		/* A queue group: handle it once, at its first member. */
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = !(cov[j]->conf->queue_group &&
				  strcmp(cov[j]->conf->queue_group, q) == 0);
		if (!first)
			continue;
		expect++;
		bool any_fresh = false, any_possible = false, stale = false;
		for (size_t j = i; j < n; j++) {
			struct lsn *m = cov[j];
			if (!m->conf->queue_group ||
			    strcmp(m->conf->queue_group, q) != 0)
				continue;
			if (!lsn_blocker(m))
				any_possible = true;
			if (lsn_fresh(m, since)) {
				any_fresh = true;
			} else if (m->m.state == LST_RUNNING &&
				   m->pong_ping_ns < since) {
				/* Every running member must have answered
				 * (ready or not): the server may pick any of
				 * them, and must not pick a frozen one. */
				stale = true;
				lsn_ping_now(m);
				fmt_stale(why, m);
			}
		}
		if (!any_possible) {
			buf_printf(why, "queue group %s: no member can become ready\n",
				   q);
			code = CTL_CANNOT;
		} else if ((!any_fresh || stale) && code == 0) {
			if (!any_fresh)
				buf_printf(why, "queue group %s: no member ready\n",
					   q);
			code = 1;
		}
	}
	free(cov);
	if (code == 0 && !d.connected) {
		buf_printf(why, "NATS connection down\n");
		code = 1;
	}
	h->expect = expect;
	return code;
}

/* publish: 0 done, other codes final, -1 keep waiting. */
static int eval_publish(struct held *h, struct buf *err)
{
	if (h->phase == PUB_WAIT) {
		struct buf why = { 0 };
		int g = gate_check(h, &why);
		if (g == 0) {
			buf_free(&why);
			h->phase = PUB_SENT;
			h->id = ++d.next_id;
			last_pub_id = h->id;
			bus_publish(h->id, h->subject, h->data, h->len, h->hdr,
				    h->nhdr, h->confirm);
			return -1;
		}
		if (g == 1 && !h->timed_out) {
			buf_free(&why);
			return -1;
		}
		if (g == 1) {
			buf_printf(err, "publish %s: timed out waiting for:\n",
				   h->subject);
			g = CTL_NO;
		}
		buf_add(err, why.p ? why.p : "", why.len);
		buf_free(&why);
		return g;
	}
	if (h->phase == PUB_SENT && h->flushed &&
	    (uv_hrtime() >= h->grace_ns || h->timed_out)) {
		/* No refusal came: the server has it. */
		if (!h->confirm)
			return 0;
		h->phase = PUB_CONFIRM;
	}
	if (h->phase == PUB_CONFIRM && h->got >= h->expect) {
		if (h->refusals.len) {
			buf_add(err, h->refusals.p, h->refusals.len);
			return CTL_NO;
		}
		return 0;
	}
	if (!h->timed_out)
		return -1;
	if (h->phase == PUB_SENT)
		buf_printf(err,
			   "publish %s: outcome unknown: the server did not "
			   "acknowledge in time\n",
			   h->subject);
	else
		buf_printf(err,
			   "publish %s: published, but %u of %u receivers "
			   "confirmed in time\n",
			   h->subject, h->got, h->expect);
	return CTL_UNKNOWN;
}

void cmd_evaluate(void)
{
	struct held *h = held_head, *next;
	for (; h; h = next) {
		next = h->next;
		struct buf out = { 0 }, err = { 0 };
		int code;
		switch (h->verb) {
		case CTL_WAIT_READY:
			code = eval_wait_ready(h, &err);
			break;
		case CTL_PUBLISH:
			code = eval_publish(h, &err);
			break;
		default:
			code = eval_lifecycle(h, &out, &err);
			if (code >= 0 && h->dropped.len)
				buf_add(&out, h->dropped.p, h->dropped.len);
			break;
		}
		if (code >= 0)
			held_reply(h, code, &out, &err);
		buf_free(&out);
		buf_free(&err);
	}
}

/* Does a held publish wait for pongs?  (Pongs that change no state need
 * no evaluation otherwise.) */
bool cmd_wants_pongs(void)
{
	for (struct held *h = held_head; h; h = h->next)
		if (h->verb == CTL_PUBLISH && h->phase == PUB_WAIT)
			return true;
	return false;
}

/* The connection refused publish ID before sending it: not delivered. */
void cmd_on_publish_failed(uint64_t id, const char *why)
{
	for (struct held *h = held_head; h; h = h->next) {
		if (h->verb == CTL_PUBLISH && h->id == id &&
		    h->phase == PUB_SENT) {
			struct buf err = { 0 };
			buf_printf(&err, "publish %s: not published: %s\n",
				   h->subject, why);
			held_reply(h, CTL_NO, NULL, &err);
			buf_free(&err);
			return;
		}
	}
}

/* Does the server's TEXT say it refused a publish to SUBJECT? */
static bool denies(const char *text, const char *subject)
{
	static const char key[] = "for publish to \"";
	size_t n = strlen(subject);
	for (const char *p = text; p && *p; p++)
		if (strncasecmp(p, key, sizeof(key) - 1) == 0)
			return strncmp(p + sizeof(key) - 1, subject, n) == 0 &&
			       strcmp(p + sizeof(key) - 1 + n, "\"") == 0;
	return false;
}

/* Wake at the earliest grace end of a flushed publish still held, so each
 * is answered when its own grace ends, not at the next unrelated event. */
static void grace_on_timer(uv_timer_t *t);

static void grace_arm(void)
{
	uint64_t now = uv_hrtime(), first = 0;
	for (struct held *h = held_head; h; h = h->next)
		if (h->verb == CTL_PUBLISH && h->phase == PUB_SENT &&
		    h->flushed && h->grace_ns > now &&
		    (first == 0 || h->grace_ns < first))
			first = h->grace_ns;
	if (first)
		uv_timer_start(&grace_timer, grace_on_timer,
			       (first - now + 999999) / 1000000, 0);
}

static void grace_on_timer(uv_timer_t *t)
{
	(void)t;
	daemon_mark_dirty();
	grace_arm();
}

/* The server has processed publish ID.  DENIED is the connection's last
 * permissions violation when the marker came back, or NULL.  The read
 * loop records a violation before it reads the marker behind it, but it
 * is only reported (cmd_on_denied) by another nats.c thread, later; and
 * it stays the last one until the next.  So when DENIED names this
 * subject (this publish's, or a stale one of an earlier publish to it),
 * or a later publish may have replaced this one's, wait a little for the
 * report before saying the publish arrived. */
void cmd_on_flushed(uint64_t id, const char *denied)
{
	for (struct held *h = held_head; h; h = h->next) {
		if (h->verb == CTL_PUBLISH && h->id == id &&
		    h->phase == PUB_SENT) {
			if (denied && (denies(denied, h->subject) ||
				       last_pub_id > id)) {
				h->flushed = true;
				h->grace_ns = uv_hrtime() +
					      DENY_GRACE_MS * 1000000ull;
				if (!uv_is_active((uv_handle_t *)&grace_timer))
					grace_arm();
				return;
			}
			if (h->confirm) {
				h->phase = PUB_CONFIRM;
			} else {
				held_reply(h, 0, NULL, NULL);
				return;
			}
			daemon_mark_dirty();
			return;
		}
	}
}

/* The server refused a publish to SUBJECT (TEXT): the oldest publish to it
 * still waiting for its marker or for this report was not delivered.
 * False if no held publish is waiting for it. */
bool cmd_on_denied(const char *subject, const char *text)
{
	struct held *old = NULL;
	for (struct held *h = held_head; h; h = h->next)
		if (h->verb == CTL_PUBLISH && h->phase == PUB_SENT &&
		    strcmp(h->subject, subject) == 0 &&
		    (old == NULL || h->id < old->id))
			old = h;
	if (old == NULL)
		return false;
	struct buf err = { 0 };
	buf_printf(&err, "publish %s: refused by the server: %s\n", subject,
		   text);
	held_reply(old, CTL_NO, NULL, &err);
	buf_free(&err);
	return true;
}

void cmd_on_confirm(uint64_t id, const char *data, size_t len)
{
	for (struct held *h = held_head; h; h = h->next) {
		if (h->verb != CTL_PUBLISH || h->id != id)
			continue;
		/* Only a listener's answer counts: when a stream captures the
		 * subject, JetStream acknowledges the publish on the same reply
		 * subject ({"stream":...,"seq":...}). */
		if (data == NULL || memmem(data, len, "\"committed\"", 11) ==
					    NULL)
			return;
		h->got++;
		if (data == NULL || strstr(data, "\"committed\":true") == NULL) {
			buf_printf(&h->refusals, "a receiver did not commit: ");
			buf_escape(&h->refusals, data ? data : "", len, 200);
			buf_add(&h->refusals, "\n", 1);
		}
		daemon_mark_dirty();
		return;
	}
}

void cmd_on_gone(struct ctl_client *c, void *arg)
{
	struct held *h = control_client_get_data(c);
	if (h) {
		h->c = NULL;
		held_free(h);
	}
}

/* Take target I out of lifecycle request H. */
static void held_drop(struct held *h, size_t i)
{
	size_t n = h->nt - i - 1;
#define DROP(a) \
	do { \
		if (a) \
			memmove(&(a)[i], &(a)[i + 1], n * sizeof(*(a))); \
	} while (0)
	DROP(h->t);
	DROP(h->seq);
	DROP(h->eseq);
	DROP(h->done0);
	DROP(h->unstopped);
	DROP(h->sseq);
	DROP(h->sreq);
	DROP(h->superseded);
#undef DROP
	h->nt--;
}

/* L is about to be freed: a start, stop or restart that targets it goes
 * on without it (and says so); any other held request is answered. */
void cmd_forget(struct lsn *l)
{
	struct held *h = held_head, *next;
	for (; h; h = next) {
		next = h->next;
		for (size_t i = 0; i < h->nt; i++) {
			if (h->t[i] != l)
				continue;
			if (h->verb == CTL_START || h->verb == CTL_STOP ||
			    h->verb == CTL_RESTART) {
				/* The others go on without it. */
				buf_printf(&h->dropped, "%s: removed by a "
					   "reload\n", l->conf->name);
				held_drop(h, i);
				daemon_mark_dirty();
				break;
			}
			struct buf err = { 0 };
			buf_printf(&err, "%s: removed by a reload\n",
				   l->conf->name);
			held_reply(h, CTL_CANNOT, NULL, &err);
			buf_free(&err);
			break;
		}
	}
}

/* The loop has stopped: answer whatever is still held, so that no timer
 * or client outlives the daemon. */
void cmd_close(void)
{
	uv_close((uv_handle_t *)&grace_timer, NULL);
	while (held_head) {
		struct buf err = { 0 };
		buf_printf(&err, "natsvisord stopped\n");
		held_reply(held_head, CTL_NO, NULL, &err);
		buf_free(&err);
	}
}

/* ------------------------------------------------------------------ */
/* Immediate commands */

static void reply_bufs(struct ctl_client *c, int code, struct buf *out,
		       struct buf *err)
{
	origin_reply(c, code, out->p, out->len, err->p, err->len);
	buf_free(out);
	buf_free(err);
}

static void cmd_status(struct ctl_client *c, const struct ctl_cmd *cmd)
{
	struct buf out = { 0 }, err = { 0 };
	size_t nt = 0;
	struct lsn **t;
	if (cmd->nnames == 0) {
		t = targets_resolve(NULL, 0, true, false, &nt, &err);
		if (t && d.server) {
			struct lsn **p = reallocarray(t, nt + 1, sizeof(*t));
			if (p) {
				t = p;
				memmove(t + 1, t, nt * sizeof(*t));
				t[0] = d.server;
				nt++;
			}
		}
	} else {
		t = targets_resolve(cmd->names, cmd->nnames, false, false, &nt,
				    &err);
	}
	if (t == NULL) {
		buf_printf(&err, "out of memory\n");
		reply_bufs(c, CTL_NO, &out, &err);
		return;
	}
	if (err.len) {
		free(t);
		reply_bufs(c, CTL_USAGE, &out, &err);
		return;
	}
	if (cmd->json) {
		char *js;
		size_t len;
		cmd_status_json(t, nt, &js, &len);
		buf_add(&out, js, len);
		free(js);
	} else {
		status_text(t, nt, &out);
	}
	free(t);
	reply_bufs(c, CTL_OK, &out, &err);
}

static void cmd_is_ready(struct ctl_client *c, const struct ctl_cmd *cmd)
{
	struct buf out = { 0 }, err = { 0 };
	size_t nt = 0;
	struct lsn **t =
		targets_resolve(cmd->names, cmd->nnames, false, false, &nt, &err);
	int code = CTL_OK;
	if (err.len || t == NULL) {
		code = CTL_USAGE;
	} else {
		for (size_t i = 0; i < nt; i++) {
			if (!lsn_ready(t[i])) {
				fmt_not_ready(&err, t[i]);
				code = CTL_NO;
			}
		}
	}
	free(t);
	reply_bufs(c, code, &out, &err);
}

static void cmd_signal(struct ctl_client *c, const struct ctl_cmd *cmd)
{
	struct buf out = { 0 }, err = { 0 };
	size_t nt = 0;
	struct lsn **t = targets_resolve(cmd->names, cmd->nnames, cmd->all,
					 false, &nt, &err);
	int code = CTL_OK;
	if (err.len || t == NULL) {
		code = CTL_USAGE;
	} else {
		for (size_t i = 0; i < nt; i++) {
			if (!lst_is_live(&t[i]->m)) {
				buf_printf(&err, "%s: not running\n",
					   t[i]->conf->name);
				code = CTL_NO;
			} else if (lsn_signal(t[i], cmd->signal) < 0) {
				buf_printf(&err, "%s: %s\n", t[i]->conf->name,
					   strerror(errno));
				code = CTL_NO;
			} else {
				log_info("%s: sent SIG%s to process group %d",
					 t[i]->conf->name,
					 signal_name(cmd->signal),
					 t[i]->m.pgid);
			}
		}
	}
	free(t);
	reply_bufs(c, code, &out, &err);
}

static void cmd_reload(struct ctl_client *c)
{
	struct buf out = { 0 }, err = { 0 };
	char *report = NULL;
	int r = daemon_reload(&report);
	if (report)
		buf_printf(r == 0 ? &out : &err, "%s", report);
	free(report);
	reply_bufs(c, r == 0 ? CTL_OK : CTL_NO, &out, &err);
}

/* Hold CMD on its targets (NAMES, or every listener with ALL; WANTED:
 * only those meant to run).  On a usage error, when REFUSE_SHUTDOWN and
 * the daemon is stopping, or out of memory, answer C and return NULL. */
static struct held *held_targets(struct ctl_client *c,
				 const struct ctl_cmd *cmd, bool all,
				 bool wanted, uint64_t timeout_ms,
				 bool refuse_shutdown)
{
	struct buf out = { 0 }, err = { 0 };
	size_t nt = 0;
	struct lsn **t = targets_resolve(cmd->names, cmd->nnames, all, wanted,
					 &nt, &err);
	if (err.len || t == NULL) {
		free(t);
		reply_bufs(c, CTL_USAGE, &out, &err);
		return NULL;
	}
	if (refuse_shutdown && d.shutting_down) {
		free(t);
		buf_printf(&err, "natsvisord is shutting down\n");
		reply_bufs(c, CTL_NO, &out, &err);
		return NULL;
	}
	struct held *h = held_new(cmd->verb, c, timeout_ms);
	if (h == NULL) {
		free(t);
		buf_printf(&err, "out of memory\n");
		reply_bufs(c, CTL_NO, &out, &err);
		return NULL;
	}
	h->t = t;
	h->nt = nt;
	return h;
}

/* Hold a start/stop/restart until it has taken effect. */
static void cmd_lifecycle(struct ctl_client *c, const struct ctl_cmd *cmd)
{
	struct held *h = held_targets(c, cmd, cmd->all, false, 0, true);
	if (h == NULL)
		return;
	struct lsn **t = h->t;
	size_t nt = h->nt;
	h->seq = calloc(nt + 1, sizeof(*h->seq));
	h->eseq = calloc(nt + 1, sizeof(*h->eseq));
	h->done0 = calloc(nt + 1, sizeof(*h->done0));
	if (cmd->verb != CTL_START) {
		h->unstopped = calloc(nt + 1, sizeof(*h->unstopped));
		h->sseq = calloc(nt + 1, sizeof(*h->sseq));
		h->sreq = calloc(nt + 1, sizeof(*h->sreq));
		h->superseded = calloc(nt + 1, sizeof(*h->superseded));
	}
	if (!h->seq || !h->eseq || !h->done0 ||
	    (cmd->verb != CTL_START &&
	     (!h->unstopped || !h->sseq || !h->sreq || !h->superseded)))
		fatal("out of memory");
	for (size_t i = 0; i < nt; i++) {
		struct lsn *l = t[i];
		/* stop: the spawn count (is a new incarnation there?);
		 * start, restart: the exec count (has one started?) */
		h->seq[i] = cmd->verb == CTL_STOP ? l->m.spawns : l->exec_seq;
		h->eseq[i] = l->spawnerr_seq;
		switch (cmd->verb) {
		case CTL_START:
			/* Already running: nothing to wait for. */
			h->done0[i] = lst_is_live(&l->m) &&
				      l->m.state != LST_STOPPING;
			if (!h->done0[i])
				log_info("%s: start requested", l->conf->name);
			l->reqs++; /* a restart under way counts it its own */
			l->last_req_stop = false;
			lsn_event(l, EV_START, NULL);
			break;
		default: /* stop, restart: in order (lifecycle_stop_order) */
			if (cmd->verb == CTL_RESTART) {
				log_info("%s: restart requested",
					 l->conf->name);
			} else {
				log_info("%s: stop requested", l->conf->name);
				l->reqs++; /* a restart under way yields */
				l->last_req_stop = true;
			}
			h->sreq[i] = l->reqs;
			h->unstopped[i] = true;
			break;
		}
	}
	if (h->unstopped)
		lifecycle_stop_order(h);
	daemon_mark_dirty();
}

static void cmd_wait_ready(struct ctl_client *c, const struct ctl_cmd *cmd)
{
	if (held_targets(c, cmd, cmd->nnames == 0, true, cmd->timeout_ms,
			 false))
		daemon_mark_dirty();
}

/* Split "K:V" headers, hold the publish until the gate opens. */
static void cmd_publish(struct ctl_client *c, const struct ctl_cmd *cmd,
			const struct ctl_request *req)
{
	struct buf out = { 0 }, err = { 0 };
	struct held *h = held_new(CTL_PUBLISH, c, cmd->timeout_ms);
	if (h == NULL) {
		buf_printf(&err, "out of memory\n");
		reply_bufs(c, CTL_NO, &out, &err);
		return;
	}
	h->subject = strdup(cmd->subject);
	if (cmd->data) {
		h->len = strlen(cmd->data);
		h->data = strdup(cmd->data);
	} else {
		h->len = req->bodylen;
		h->data = malloc(h->len + 1);
		if (h->data) {
			memcpy(h->data, req->body, h->len);
			h->data[h->len] = '\0';
		}
	}
	if (h->subject == NULL || h->data == NULL)
		fatal("out of memory");
	for (int i = 0; i < cmd->nheaders; i++) {
		char *kv = strdup(cmd->headers[i]);
		if (kv == NULL)
			fatal("out of memory");
		char *colon = strchr(kv, ':');
		if (colon == NULL) {
			free(kv);
			continue;
		}
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		h->hdrbuf[h->nhdr] = kv;
		h->hdr[h->nhdr].key = kv;
		h->hdr[h->nhdr].value = v;
		h->nhdr++;
	}
	h->confirm = cmd->confirm;
	h->phase = PUB_WAIT;
	h->arrived_ns = uv_hrtime();
	daemon_mark_dirty();
}

void cmd_on_request(struct ctl_client *c, const struct ctl_request *req,
		    void *arg)
{
	struct ctl_cmd cmd;
	char msg[512];
	if (ctl_parse_cmd(req->argc, req->argv, &cmd, msg, sizeof(msg)) < 0) {
		size_t n = strlen(msg);
		if (n + 1 < sizeof(msg)) {
			msg[n++] = '\n';
			msg[n] = '\0';
		}
		origin_reply(c, CTL_USAGE, NULL, 0, msg, n);
		return;
	}
	switch (cmd.verb) {
	case CTL_STATUS:
		cmd_status(c, &cmd);
		break;
	case CTL_IS_READY:
		cmd_is_ready(c, &cmd);
		break;
	case CTL_WAIT_READY:
		cmd_wait_ready(c, &cmd);
		break;
	case CTL_START:
	case CTL_STOP:
	case CTL_RESTART:
		cmd_lifecycle(c, &cmd);
		break;
	case CTL_SIGNAL:
		cmd_signal(c, &cmd);
		break;
	case CTL_RELOAD:
		cmd_reload(c);
		break;
	case CTL_PUBLISH:
		cmd_publish(c, &cmd, req);
		break;
	case CTL_VERSION: {
		char v[64];
		int n = snprintf(v, sizeof(v), "natsvisord %s\n",
				 PACKAGE_VERSION);
		origin_reply(c, CTL_OK, v, (size_t)n, NULL, 0);
		break;
	}
	default:
		origin_reply(c, CTL_USAGE, NULL, 0, "unsupported command\n",
			     20);
		break;
	}
	free(cmd.names);
}

/* ------------------------------------------------------------------ */
/* The NATS-side interface */

/* Commands a requester on natsvisor.<id>.request may give: they change
 * nothing.  Everything else needs natsvisor.<id>.control. */
static bool verb_read_only(enum ctl_verb v)
{
	return v == CTL_STATUS || v == CTL_IS_READY || v == CTL_WAIT_READY ||
	       v == CTL_VERSION;
}

/* A control-protocol frame on the request or control subject: checked,
 * then dispatched like a socket request, with the reply (a frame too)
 * going to REPLY. */
static void nats_on_frame(int tag, const char *reply, const char *data,
			  size_t len)
{
	struct ctl_request req = { 0 };
	struct ctl_cmd cmd;
	const char *e = NULL;
	char msg[512];
	int n, rc;

	rc = ctl_decode_request(data ? data : "", len, &req, &e);
	if (rc != 1 || req.consumed != len) {
		/* the decoder's messages say "malformed request" already */
		n = snprintf(msg, sizeof(msg), "%s\n",
			     rc < 0 && e ? e
					 : "malformed request: incomplete or "
					   "trailing bytes");
		nats_frame_reply(reply, CTL_USAGE, NULL, 0, msg, (size_t)n);
		if (rc == 1)
			ctl_request_free(&req);
		return;
	}
	if (tag == TAG_REQUEST &&
	    ctl_parse_cmd(req.argc, req.argv, &cmd, msg, sizeof(msg)) == 0) {
		bool ro = verb_read_only(cmd.verb);
		free(cmd.names);
		if (!ro) {
			n = snprintf(msg, sizeof(msg),
				     "permission denied: %s changes state; it is "
				     "accepted only on %s (nats_control = yes)\n",
				     req.argv[0], subj_ctl);
			nats_frame_reply(reply, CTL_UNREACHABLE, NULL, 0, msg,
					 (size_t)n);
			ctl_request_free(&req);
			return;
		}
	}
	if (tag == TAG_CONTROL)
		log_info("NATS control request: %s", req.argv[0]);
	nats_origin = reply;
	cmd_on_request(NULL, &req, NULL);
	nats_origin = NULL;
	ctl_request_free(&req);
}

/* Publish L's state on natsvisor.<id>.event.<name> (its state or health
 * changed).  While the daemon's connection is down, nats.c keeps the
 * events in its reconnect buffer and sends them, in order, once back. */
void cmd_event(const struct lsn *l)
{
	struct buf b = { 0 };
	char subj[300];
	if (subj_event[0] == '\0')
		return; /* before cmd_init */
	buf_printf(&b, "{\"instance_id\":");
	buf_json_str(&b, d.instance_id);
	buf_printf(&b, ",\"name\":");
	buf_json_str(&b, l->conf->name);
	buf_printf(&b, ",\"state\":\"%s\",\"health\":\"%s\",\"ready\":%s",
		   lst_state_name(l->m.state),
		   (d.connected || l->is_server) ? lst_health_name(l->m.health)
						 : "unknown",
		   lst_is_ready(&l->m) ? "true" : "false");
	buf_printf(&b, ",\"pid\":%d,\"restarts\":%lu,\"connected\":%s",
		   l->m.pid, l->m.restarts_total,
		   d.connected ? "true" : "false");
	buf_printf(&b, ",\"reason\":");
	buf_json_str(&b, l->m.reason);
	buf_printf(&b, "}");
	snprintf(subj, sizeof(subj), "%s.%s", subj_event, l->conf->name);
	bus_send(subj, b.p, b.len);
	buf_free(&b);
}

/* Requests on natsvisor.<id>.status (body: names, space-separated) and
 * natsvisor.<id>.wait-ready (body: "[timeout=DUR] [NAME...]"); frames on
 * natsvisor.<id>.request and .control. */
void cmd_on_nats_request(int tag, const char *subject, const char *reply,
			 const char *data, size_t len)
{
	if (reply == NULL)
		return;
	if (tag == TAG_REQUEST || tag == TAG_CONTROL) {
		nats_on_frame(tag, reply, data, len);
		return;
	}
	char *body = strndup(data ? data : "", len);
	char **words = NULL;
	const char *perr = NULL;
	if (body == NULL || list_split(body, &words, &perr) < 0) {
		const char *e = "{\"error\":\"malformed request\"}";
		bus_send(reply, e, strlen(e));
		free(body);
		return;
	}
	uint64_t timeout = CTL_TIMEOUT_DEFAULT_MS;
	const char *names[CTL_ARGS_MAX];
	int nnames = 0;
	struct buf err = { 0 };
	for (size_t i = 0; words[i] && nnames < CTL_ARGS_MAX; i++) {
		if (strncmp(words[i], "timeout=", 8) != 0) {
			names[nnames++] = words[i];
			continue;
		}
		/* The parser of natsvisorctl's --timeout (ctl_parse_cmd), and
		 * the same usage error: a bad value is never taken for the
		 * default. */
		const char *v = words[i] + 8;
		if (ctl_parse_timeout(v, &timeout, &perr) < 0 &&
		    tag == TAG_WAIT_READY) {
			buf_printf(&err, "wait-ready: timeout '");
			buf_escape(&err, v, strlen(v), 48);
			buf_printf(&err, "': %s\n", perr);
		}
	}
	size_t nt = 0;
	struct lsn **t = targets_resolve(names, nnames, nnames == 0,
					 tag == TAG_WAIT_READY, &nt, &err);
	if (tag == TAG_STATUS) {
		char *js = NULL;
		size_t jl = 0;
		if (t && err.len == 0)
			cmd_status_json(t, nt, &js, &jl);
		if (js) {
			bus_send(reply, js, jl);
		} else {
			struct buf e = { 0 };
			buf_printf(&e, "{\"error\":");
			json_error(&e, &err, "error");
			buf_printf(&e, "}");
			bus_send(reply, e.p, e.len);
			buf_free(&e);
		}
		free(js);
		free(t);
	} else if (tag == TAG_WAIT_READY) {
		if (err.len || t == NULL) {
			struct buf e = { 0 };
			buf_printf(&e, "{\"code\":2,\"ready\":false,\"error\":");
			json_error(&e, &err, "error");
			buf_printf(&e, "}");
			bus_send(reply, e.p, e.len);
			buf_free(&e);
			free(t);
		} else {
			struct held *h = held_new(CTL_WAIT_READY, NULL, timeout);
			if (h) {
				h->nats_reply = strdup(reply);
				h->t = t;
				h->nt = nt;
				daemon_mark_dirty();
			} else {
				free(t);
			}
		}
	}
	buf_free(&err);
	argv_free(words);
	free(body);
}

void cmd_init(void)
{
	uv_timer_init(d.loop, &grace_timer);
	snprintf(subj_status, sizeof(subj_status), "natsvisor.%s.status",
		 d.instance_id);
	snprintf(subj_wait, sizeof(subj_wait), "natsvisor.%s.wait-ready",
		 d.instance_id);
	snprintf(subj_event, sizeof(subj_event), "natsvisor.%s.event",
		 d.instance_id);
	snprintf(subj_ctl, sizeof(subj_ctl), "natsvisor.%s.control",
		 d.instance_id);
	snprintf(subj_req, sizeof(subj_req), "natsvisor.%s.request",
		 d.instance_id);
	bus_subscribe(subj_status, TAG_STATUS);
	bus_subscribe(subj_wait, TAG_WAIT_READY);
	bus_subscribe(subj_req, TAG_REQUEST);
	/* Read once: a reload cannot switch control over NATS on or off. */
	if (d.cfg->nats_control)
		bus_subscribe(subj_ctl, TAG_CONTROL);
}
