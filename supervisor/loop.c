/*
 * loop.c: natsvisord's loop thread and everything it owns.
 *
 * One libuv loop runs the whole supervisor: signals arrive as uv_signal_t
 * (nothing is done in handler context), children are spawned by spawn.c
 * and reaped here with waitpid(-1) on SIGCHLD (the daemon may be PID 1 or a
 * subreaper, so orphans are ours too), each listener's state machine
 * (listener.c) is driven with the monotonic clock, and health pings go out
 * through the bus thread (bus.c), whose replies come back as events.
 *
 * Readiness changes are not acted on inline: they mark the daemon dirty,
 * and one idle callback re-evaluates everything that depends on readiness
 * (requires, held control requests, sd_notify, the process title, the
 * shutdown order).  That keeps the state machine's callers free of
 * re-entrancy.
 */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bsd/unistd.h>

#include "buf.h"
#include "bus.h"
#include "control.h"
#include "log.h"
#include "output.h"
#include "parse.h"
#include "spawn.h"
#include "subject.h"

extern char **environ;

struct daemon d = { .ready_fd = -1, .daemon_fd = -1 };

static uv_signal_t sig_chld, sig_term, sig_int, sig_hup;
static uv_timer_t group_timer; /* polls leaderless groups, see groups_check */
static uv_timer_t probe_timer; /* the server probe's timeout, see probe_start */
static uv_timer_t startup_timer; /* startup_timeout, see startup_on_timer */

/* How often a process group whose main process is gone is looked at. */
#define GROUP_POLL_MS 50
static void group_poll_arm(void);

/* Delays of the ping schedule while starting: fast at first, then every
 * few milliseconds, so that readiness is seen within milliseconds of the
 * subscription however late it comes (a no-responders answer costs one
 * round trip to the server). */
#define FAST_PING_CAP_MS 5
/* ... but every listener starting at the same time shares this budget of
 * pings a second: a thousand listeners at boot would otherwise send
 * 200,000 pings a second at the cap (measured: 2.6 s of the daemon's CPU
 * in 5 s for 1000 listeners not yet subscribed, and as much again in
 * nats-server), which slows the very start-ups being waited for.  A
 * listener that says hello is pinged at once anyway; at 10,000 a second
 * the blind pings still took a quarter of a two-CPU machine while a
 * thousand children were starting. */
#define FAST_PING_RATE 2000
/* After SLOW_START_MS without a reply, a starting listener is pinged every
 * SLOW_PING_MS: readiness is then seen within that much of the reply. */
#define SLOW_START_MS 3000
#define SLOW_PING_MS 50

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_idle(uv_idle_t *h);
static bool errpipe_check(struct lsn *l);

/* Room in the descriptor table for NLISTENERS listeners (spawn.h says
 * why): three descriptors each (its output pipes and, until it has
 * exec'd, its error pipe), one more for slack, and the daemon's own. */
void daemon_reserve_fds(size_t nlisteners)
{
	spawn_reserve_fds(64 + 4 * (nlisteners + 1));
}

void daemon_mark_dirty(void)
{
	if (!d.dirty) {
		d.dirty = true;
		uv_idle_start(&d.idle, on_idle);
	}
}

/* The name used in logs and status. */
static const char *lsn_name(const struct lsn *l)
{
	return l->conf->name;
}

/* ------------------------------------------------------------------ */
/* Lookup */

struct lsn *lsn_find(const char *name)
{
	for (size_t i = 0; i < d.nls; i++)
		if (!d.ls[i]->removed && strcmp(d.ls[i]->conf->name, name) == 0)
			return d.ls[i];
	if (d.server && strcmp(name, "nats-server") == 0)
		return d.server;
	return NULL;
}

size_t lsn_match(const char *name, struct lsn **out, size_t max)
{
	size_t n = 0;
	struct lsn *l = lsn_find(name);
	if (l) {
		if (max > 0)
			out[0] = l;
		return 1;
	}
	/* NAME addresses every instance NAME.0 ... NAME.N-1. */
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *x = d.ls[i];
		if (!x->removed && x->conf->instance >= 0 &&
		    strcmp(x->conf->base, name) == 0) {
			if (n < max)
				out[n] = x;
			n++;
		}
	}
	return n;
}

static struct lsn *lsn_by_pid(pid_t pid)
{
	for (size_t i = 0; i < d.nls; i++)
		if (d.ls[i]->m.pid == pid)
			return d.ls[i];
	if (d.server && d.server->m.pid == pid)
		return d.server;
	return NULL;
}

unsigned daemon_ready_count(unsigned *total)
{
	unsigned n = 0, t = 0;
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		if (l->removed || !l->m.want)
			continue;
		t++;
		if (lsn_ready(l))
			n++;
	}
	if (total)
		*total = t;
	return n;
}

/* Ready as is-ready and wait-ready answer: also not while the NATS
 * server is known to be stalled (its probe went unanswered), which holds
 * every message published meanwhile. */
bool lsn_ready(const struct lsn *l)
{
	return lst_is_ready(&l->m) && (l->is_server || !d.server_silent);
}

/* Ready, on a pong to a ping sent at or after SINCE_NS: a gated publish
 * never trusts a reply older than its own request. */
bool lsn_fresh(const struct lsn *l, uint64_t since_ns)
{
	return lst_is_ready(&l->m) && l->pong_ping_ns >= since_ns;
}

/* ------------------------------------------------------------------ */
/* Health pings */

static uint64_t ping_id_new(struct lsn *l)
{
	/* slot in the high bits: a reply finds its listener in O(1), and a
	 * late reply for an old ping fails the id comparison. */
	d.next_id++;
	return ((uint64_t)l->slot << 40) | (d.next_id & ((1ull << 40) - 1));
}

/* The listener whose slot ID carries (a ping's or a hello's), or NULL. */
static struct lsn *lsn_of_id(uint64_t id)
{
	size_t slot = (size_t)(id >> 40);
	return slot < d.nslots ? d.slots[slot] : NULL;
}

static void ping_on_timer(uv_timer_t *t);
static void ping_schedule(struct lsn *l);
static void ping_send(struct lsn *l);
static void deadline_on_timer(uv_timer_t *t);

/* The server probe.  A ping that times out proves nothing if the NATS
 * server itself has stopped answering (stalled, paused, overloaded) while
 * the daemon's connection stays up: counted, it would get healthy
 * listeners killed.  So a timeout of a running listener's ping is counted
 * only once the server has answered a request of its own: one to a
 * subject nobody subscribes to, which the server answers at once with
 * "no responders".  No answer within PROBE_TIMEOUT_MS: the misses are
 * dropped and the pings go on.  Probe ids carry PROBE_SLOT, which is no
 * listener's. */
#define PROBE_SLOT ((1ull << 24) - 1)
#define PROBE_TIMEOUT_MS 1000
/* A probe answered later than this found the server stalled, or just
 * resumed: the miss it was asked about is not counted either. */
#define PROBE_PROMPT_MS 100
static uint64_t probe_id, probe_sent;
/* When the server last answered again after a silence: a ping sent before
 * then may have waited in the stalled server, and its miss proves
 * nothing. */
static uint64_t server_back;

/* A reply came through the server: if it was silent, it is back. */
static void server_heard(void)
{
	if (d.server_silent) {
		log_info("the NATS server answers again");
		server_back = now_ms();
		daemon_mark_dirty();
	}
	d.server_silent = false;
}

/* ready_timeout of starting L has passed; SURE: the server answers
 * promptly now.  Then the listener is stopped as usual, unless the server
 * came back from a silence since it was spawned: it gets ready_timeout
 * from then.  Else (the server is stalled) the deadline moves on by
 * ready_timeout: a stalled server restarts no listener. */
static void deadline_verdict(struct lsn *l, bool sure)
{
	uint64_t now = now_ms(), rt = l->conf->ready_timeout_ms;

	if (l->m.state != LST_STARTING || l->m.deadline == 0 ||
	    now < l->m.deadline)
		return; /* (the connection went down and up meanwhile) */
	if (sure && (server_back < l->m.spawned_at ||
		     server_back + rt <= now)) {
		lsn_event(l, EV_DEADLINE, NULL);
		return;
	}
	l->m.deadline = sure ? server_back + rt : now + rt;
	log_debug("%s: ready_timeout deferred: the NATS server %s",
		  l->conf->name, sure ? "answers again" : "does not answer");
	uv_timer_start(&l->deadline_timer, deadline_on_timer,
		       l->m.deadline - now, 0);
}

static void probe_verdict(bool server_answers)
{
	unsigned dropped = 0;
	bool prompt = now_ms() - probe_sent <= PROBE_PROMPT_MS;

	probe_id = 0;
	uv_timer_stop(&probe_timer);
	if (!server_answers && !d.server_silent && !d.inbox_denied)
		log_warnx("the NATS server does not answer (%d ms): missed "
			  "pings are not counted until it does",
			  PROBE_TIMEOUT_MS);
	if (server_answers)
		server_heard();
	if (d.server_silent != !server_answers)
		daemon_mark_dirty(); /* is-ready, wait-ready answer otherwise */
	d.server_silent = !server_answers;
	bool sure = server_answers && prompt;
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		if (l->deadline_pending) {
			l->deadline_pending = false;
			deadline_verdict(l, sure);
		}
		if (!l->miss_pending)
			continue;
		l->miss_pending = false;
		if (sure && l->ping_sent > server_back) {
			if (l->m.state == LST_RUNNING && !l->miss_confirming &&
			    l->m.misses + 1 >= l->conf->health_failures) {
				/* The miss that would stop the listener.  The
				 * server answers now, but it may have held
				 * that ping a while (a short stall): the miss
				 * counts if a ping sent now times out too. */
				l->miss_confirming = true;
				ping_send(l);
				continue;
			}
			l->miss_confirming = false;
			if (l->m.state == LST_RUNNING) {
				struct lst_event_data ev = { 0 };
				lsn_event(l, EV_MISS, &ev);
			}
		} else {
			dropped++;
			l->miss_counted = 0; /* the next miss may count */
			l->miss_confirming = false;
		}
		ping_schedule(l);
	}
	if (!server_answers)
		log_debug("probe unanswered: %u missed ping%s not counted",
			  dropped, dropped == 1 ? "" : "s");
	else if (dropped)
		log_debug("the server was stalled: %u missed ping%s not "
			  "counted", dropped, dropped == 1 ? "" : "s");
	if (cmd_wants_pongs())
		daemon_mark_dirty(); /* a held publish may re-ping */
}

static void probe_on_timer(uv_timer_t *t)
{
	probe_verdict(false);
}

static void probe_start(void)
{
	char subject[256];

	if (probe_id != 0)
		return; /* the one on its way decides for this miss too */
	probe_id = (PROBE_SLOT << 40) | (++d.next_id & ((1ull << 40) - 1));
	probe_sent = now_ms();
	snprintf(subject, sizeof(subject), "_NATSVISOR.%s.%s.probe",
		 d.instance_id, d.nonce);
	bus_ping(subject, probe_id);
	uv_timer_start(&probe_timer, probe_on_timer, PROBE_TIMEOUT_MS, 0);
	log_debug("probe sent: a missed ping waits for the server's answer");
}

/* The connection is down: nothing is pending any more. */
static void probe_reset(void)
{
	probe_id = 0;
	d.server_silent = false;
	uv_timer_stop(&probe_timer);
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		l->miss_pending = l->miss_confirming = false;
		l->deadline_pending = false;
	}
}

static void ping_send(struct lsn *l)
{
	l->ping_id = ping_id_new(l);
	l->ping_sent = now_ms();
	l->ping_sent_ns = uv_hrtime();
	bus_ping(l->ping_subject, l->ping_id);
	uv_timer_start(&l->ping_timer, ping_on_timer, l->conf->health_timeout_ms,
		       0);
}

/* Delay before the next ping while starting. */
static uint64_t ping_fast_delay(struct lsn *l)
{
	unsigned s = l->fast_step++;
	uint64_t delay = s < 15 ? 1ull << (s / 3) : FAST_PING_CAP_MS;
	uint64_t share = (uint64_t)d.nstarting * 1000 / FAST_PING_RATE;
	if (delay > FAST_PING_CAP_MS)
		delay = FAST_PING_CAP_MS;
	/* A listener still silent after a few seconds is a slow starter or
	 * will never answer: ping it less often, so that one which never
	 * subscribes does not cost 200 pings a second until ready_timeout. */
	if (l->m.state == LST_STARTING &&
	    now_ms() - l->m.spawned_at > SLOW_START_MS && delay < SLOW_PING_MS)
		delay = SLOW_PING_MS;
	return delay < share ? share : delay;
}

/* Does the miss of the ping just lost count toward health_failures?  For
 * a running listener, one miss per health_interval at most: a gated
 * publish re-pings a listener that is not ready every GATE_REPING_MS, and
 * each of those losing a reply must not count, or a publisher waiting on
 * a paused listener would have it killed in a fraction of the documented
 * health_failures * health_interval.  Misses while starting count as
 * before (they only shape the reason). */
static bool miss_counts(struct lsn *l)
{
	if (l->m.state != LST_RUNNING)
		return true;
	/* (a tenth of slack: a scheduled ping's timer may fire a little
	 * early against now_ms()) */
	if (l->miss_counted != 0 && l->ping_sent - l->miss_counted <
					    l->conf->health_interval_ms * 9 / 10)
		return false;
	l->miss_counted = l->ping_sent;
	return true;
}

/* Schedule the next ping after the current one resolved. */
static void ping_schedule(struct lsn *l)
{
	uint64_t delay;
	if (!d.connected || l->is_server || !lst_is_live(&l->m) ||
	    l->m.state == LST_STOPPING)
		return;
	if (lst_fast_pings(&l->m, now_ms())) {
		delay = ping_fast_delay(l);
	} else {
		/* health_interval from the previous send, not from its
		 * timeout: health_failures misses take that many intervals. */
		uint64_t since = now_ms() - l->ping_sent;
		delay = l->conf->health_interval_ms;
		delay = since < delay ? delay - since : 0;
	}
	if (l->hello_seen) { /* the last ping may have gone before its hello */
		l->hello_seen = false;
		delay = 0;
	}
	l->ping_id = 0;
	uv_timer_start(&l->ping_timer, ping_on_timer, delay, 0);
}

/* Timer: send the next ping, or the outstanding one timed out. */
static void ping_on_timer(uv_timer_t *t)
{
	struct lsn *l = t->data;
	if (l->ping_id != 0) {
		struct lst_event_data ev = { .no_responders = false };
		l->ping_id = 0;
		if (!l->miss_confirming && !miss_counts(l)) {
			ping_schedule(l);
			if (cmd_wants_pongs())
				daemon_mark_dirty(); /* a held publish re-pings */
			return;
		}
		if (l->m.state == LST_RUNNING && d.connected && !l->is_server) {
			l->miss_pending = true; /* see probe_start */
			probe_start();
			return;
		}
		lsn_event(l, EV_MISS, &ev);
		ping_schedule(l);
		if (cmd_wants_pongs())
			daemon_mark_dirty(); /* a held publish may re-ping */
		return;
	}
	if (d.connected)
		ping_send(l);
}

static void ping_stop(struct lsn *l)
{
	l->ping_id = 0;
	uv_timer_stop(&l->ping_timer);
}

/* Ping at once (a gated publish wants a fresh pong, or the bus is back),
 * unless a ping is already on its way. */
void lsn_ping_now(struct lsn *l)
{
	if (!d.connected || l->is_server || l->ping_id != 0 ||
	    (l->m.state != LST_STARTING && l->m.state != LST_RUNNING))
		return;
	ping_send(l);
}

/* A gated publish waits for L, which is running but not ready: ask again
 * within GATE_REPING_MS instead of at the next health_interval, so that a
 * listener that has recovered is seen at once (and one that has not is
 * not asked more often than that). */
#define GATE_REPING_MS 100
void lsn_ping_soon(struct lsn *l)
{
	if (!d.connected || l->is_server || l->ping_id != 0 ||
	    l->m.state != LST_RUNNING)
		return;
	if (!uv_is_active((uv_handle_t *)&l->ping_timer) ||
	    uv_timer_get_due_in(&l->ping_timer) > GATE_REPING_MS)
		uv_timer_start(&l->ping_timer, ping_on_timer, GATE_REPING_MS,
			       0);
}

/* Copy the JSON string that starts at P (after its opening quote) into
 * OUT: escapes are decoded (\u escapes and control bytes become '?'; the
 * log escapes what is left when printing), and the copy ends at the
 * closing quote, the end of the text, or when OUT is full. */
static void reply_string(const char *p, char *out, size_t outlen)
{
	size_t n = 0;
	for (; *p && *p != '"' && n + 1 < outlen; p++) {
		char c = *p;
		if (c == '\\' && p[1]) {
			c = *++p;
			if (c == 'u') {
				for (int i = 0; i < 4 && p[1]; i++)
					p++;
				c = '?';
			} else if (c == 'n' || c == 't' || c == 'r' ||
				   c == 'b' || c == 'f') {
				c = ' ';
			}
		}
		out[n++] = (unsigned char)c < 0x20 ? '?' : c;
	}
	out[n] = '\0';
}

/* The whole number after "KEY": in the reply TEXT, or -1. */
static int64_t reply_counter(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (p == NULL)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == ':')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	int64_t v = 0;
	for (; *p >= '0' && *p <= '9' && v < INT64_MAX / 10 - 9; p++)
		v = v * 10 + (*p - '0');
	return v;
}

/* Does the reply's "subjects" list cover every configured subject?  The
 * reply is small JSON from the listener; we look for "subjects":[...] and
 * "ready":false without a full JSON parser, conservatively. */
static bool reply_parse(struct lsn *l, const char *data, size_t len,
			bool *ready)
{
	char tmp[4096];
	*ready = true;
	l->reply_reason[0] = '\0';
	l->backlog = l->slow_consumer = l->dropped = -1;
	if (len == 0)
		return true;
	if (len >= sizeof(tmp))
		len = sizeof(tmp) - 1;
	memcpy(tmp, data, len);
	tmp[len] = '\0';
	/* Back-pressure counters, shown by status (see natsvisor-ping(7)). */
	l->backlog = reply_counter(tmp, "\"backlog\"");
	l->slow_consumer = reply_counter(tmp, "\"slow_consumer\"");
	l->dropped = reply_counter(tmp, "\"dropped\"");

	char *p = strstr(tmp, "\"ready\"");
	if (p) {
		p += 7;
		while (*p == ' ' || *p == ':')
			p++;
		if (strncmp(p, "false", 5) == 0) {
			*ready = false;
			char *r = strstr(tmp, "\"reason\"");
			if (r && (r = strchr(r + 8, '"')) != NULL)
				reply_string(r + 1, l->reply_reason,
					     sizeof(l->reply_reason));
			if (!l->reply_reason[0])
				snprintf(l->reply_reason,
					 sizeof(l->reply_reason),
					 "listener says not ready");
			return true;
		}
	}
	p = strstr(tmp, "\"subjects\"");
	if (p == NULL || l->conf->nsubjects == 0)
		return true;
	p = strchr(p, '[');
	char *end = p ? strchr(p, ']') : NULL;
	if (p == NULL || end == NULL)
		return true;
	*end = '\0';
	/* Collect the quoted strings of the array. */
	const char *held[64];
	size_t nheld = 0;
	for (char *q = p + 1; (q = strchr(q, '"')) != NULL && nheld < 64;) {
		char *e = strchr(q + 1, '"');
		if (e == NULL)
			break;
		*e = '\0';
		held[nheld++] = q + 1;
		q = e + 1;
	}
	for (size_t i = 0; i < l->conf->nsubjects; i++) {
		bool covered = false;
		for (size_t j = 0; j < nheld && !covered; j++)
			covered = subject_covers(held[j], l->conf->subjects[i]);
		if (!covered) {
			*ready = false;
			snprintf(l->reply_reason, sizeof(l->reply_reason),
				 "does not hold subject %s",
				 l->conf->subjects[i]);
			return true;
		}
	}
	return true;
}

/* Is DATA a JetStream publish acknowledgement ({"stream":"S",...,
 * "seq":N}, as nats-server writes it)? */
static bool js_ack(const char *data, size_t len)
{
	/* {"stream":"S","seq":N} or, refused (a full stream, say),
	 * {"error":{...},"stream":"S","seq":0}: either way no listener's */
	return data && len > 0 && data[0] == '{' &&
	       memmem(data, len, "\"stream\":\"", 10) != NULL &&
	       memmem(data, len, "\"seq\":", 6) != NULL;
}

/* A reply to ping ID arrived (or the server said nobody listens). */
static void ping_on_reply(uint64_t id, bool no_responders, const char *data,
			  size_t len)
{
	if (id >> 40 == PROBE_SLOT) {
		if (id == probe_id) /* any answer: the server answers */
			probe_verdict(true);
		return;
	}
	struct lsn *l = lsn_of_id(id);
	if (l == NULL)
		return;
	server_heard();
	if (l->ping_id != id)
		return; /* late reply to an older ping: dropped */
	if (!no_responders && js_ack(data, len)) {
		/* A stream captured the ping: its ack proves nothing about
		 * the listener, whose own reply may still come. */
		if (!l->js_ack_warned)
			log_warnx("%s: ping subject %s is captured by a "
				 "JetStream stream, which acknowledges (and "
				 "stores) every ping; the acknowledgements "
				 "are not taken for pongs",
				 lsn_name(l), l->ping_subject);
		l->js_ack_warned = true;
		return;
	}
	l->ping_id = 0;
	uv_timer_stop(&l->ping_timer);
	if (no_responders) {
		struct lst_event_data ev = { .no_responders = true };
		if (miss_counts(l))
			lsn_event(l, EV_MISS, &ev);
	} else {
		bool ready;
		l->miss_counted = 0; /* the next miss starts a new count */
		l->miss_confirming = false;
		reply_parse(l, data, len, &ready);
		l->pong_ping_ns = l->ping_sent_ns;
		struct lst_event_data ev = { .ready = ready,
					     .reason = l->reply_reason };
		lsn_event(l, EV_PONG, &ev);
		errpipe_check(l); /* it answered, so exec succeeded */
	}
	ping_schedule(l);
	if (cmd_wants_pongs())
		daemon_mark_dirty(); /* fresh pongs release held publishes */
}

/* A listener said hello: its ping subscription exists, so ping it now
 * rather than at the next step of the schedule.  A ping already on its way
 * may have passed the subscription; then the next one goes as soon as it
 * is answered. */
static void hello_on(uint64_t id)
{
	struct lsn *l = lsn_of_id(id);
	if (l == NULL || l->hello_id != id)
		return; /* an earlier incarnation's, or a stray */
	/* One hello per incarnation, while starting: once running, pings
	 * follow health_interval, and hellos (from anyone who read the
	 * subject) must not hurry them. */
	if (l->m.state != LST_STARTING || l->hello_heard) {
		log_debug("%s: hello ignored (%s)", lsn_name(l),
			  l->m.state != LST_STARTING
				  ? lst_state_name(l->m.state)
				  : "heard already");
		return;
	}
	l->hello_heard = true;
	log_debug("%s: hello", lsn_name(l));
	if (l->ping_id != 0) {
		l->hello_seen = true;
	} else if (d.connected) {
		uv_timer_stop(&l->ping_timer);
		ping_send(l);
	}
}

/* ------------------------------------------------------------------ */
/* Spawning */

/* Add or replace KEY=VALUE in a NULL-terminated vector of N entries. */
static void env_set(char **env, size_t *n, char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < *n; i++) {
		if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=') {
			env[i] = kv;
			return;
		}
	}
	env[(*n)++] = kv;
	env[*n] = NULL;
}

/* Does C's environment set NATS credentials?  Then a user name, password
 * or token in the daemon's URLs must not reach it: nats.c would prefer
 * them to the listener's own. */
static bool own_credentials(const struct nv_listener_conf *c)
{
	static const char *const names[] = { "NATS_USER=", "NATS_PASSWORD=",
					     "NATS_TOKEN=", "NATS_CREDS=",
					     "NATS_NKEY_SEED=" };
	for (size_t i = 0; i < c->nenvironment; i++)
		for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++)
			if (strncmp(c->environment[i], names[k],
				    strlen(names[k])) == 0)
				return true;
	return false;
}

/* Build the environment of a listener's next incarnation.  Strings are
 * collected in OWNED for freeing after the fork. */
static char **env_build(struct lsn *l, char ***owned, size_t *nowned)
{
	const struct nv_listener_conf *c = l->conf;
	size_t nbase = 0;
	if (!c->clear_environment)
		while (d.base_env[nbase])
			nbase++;
	size_t cap = nbase + c->nenvironment + 16;
	char **env = calloc(cap, sizeof(char *));
	char **own = calloc(16, sizeof(char *));
	size_t n = 0, no = 0;
	if (env == NULL || own == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < nbase; i++)
		env[n++] = d.base_env[i];
	env[n] = NULL;

#define OWN(...)                                                     \
	do {                                                         \
		char *s_;                                            \
		if (asprintf(&s_, __VA_ARGS__) < 0)                  \
			fatal("out of memory");                      \
		own[no++] = s_;                                      \
		env_set(env, &n, s_);                                \
	} while (0)

	if (!l->is_server) {
		OWN("NATSVISOR_NAME=%s", c->name);
		OWN("NATSVISOR_PING_SUBJECT=%s", l->ping_subject);
		OWN("NATSVISOR_HELLO_SUBJECT=%s.h%llu", bus_inbox(),
		    (unsigned long long)l->hello_id);
		struct buf b = { 0 };
		for (size_t i = 0; i < c->nsubjects; i++)
			buf_printf(&b, "%s%s", i ? " " : "", c->subjects[i]);
		OWN("NATSVISOR_SUBJECTS=%s", b.p ? b.p : "");
		buf_free(&b);
		if (c->queue_group)
			OWN("NATSVISOR_QUEUE_GROUP=%s", c->queue_group);
		env_set(env, &n, own_credentials(c) ? d.nats_url_env_bare
						    : d.nats_url_env);
	}
	if (c->directory) { /* the daemon's PWD would name the wrong one */
		/* absolute, without . or .. (unresolved: the chdir fails) */
		char *real = realpath(c->directory, NULL);
		if (real)
			OWN("PWD=%s", real);
		free(real);
	}
	if (c->user) {
		OWN("USER=%s", c->user_name ? c->user_name : c->user);
		OWN("LOGNAME=%s", c->user_name ? c->user_name : c->user);
		if (c->home)
			OWN("HOME=%s", c->home);
	}
#undef OWN
	for (size_t i = 0; i < c->nenvironment; i++)
		env_set(env, &n, c->environment[i]);
	*owned = own;
	*nowned = no;
	return env;
}

/* A poll handle on one exec-error pipe; allocated per spawn because a
 * uv_poll_t cannot be re-pointed at another descriptor without closing. */
struct errwatch {
	uv_poll_t h;
	struct lsn *l;
};

static void errwatch_closed(uv_handle_t *h)
{
	free(h->data);
}

static void errpipe_close(struct lsn *l)
{
	if (l->errwatch) {
		l->errwatch->l = NULL;
		uv_close((uv_handle_t *)&l->errwatch->h, errwatch_closed);
		l->errwatch = NULL;
	}
	if (l->errpipe >= 0) {
		close(l->errpipe);
		l->errpipe = -1;
	}
}

/* Read the exec-error pipe: returns true when it resolved. */
static bool errpipe_check(struct lsn *l)
{
	enum spawn_stage stage;
	int err;
	if (l->errpipe < 0)
		return true;
	int r = spawn_read_error(l->errpipe, &stage, &err);
	if (r == 0)
		return false;
	if (r == 1) {
		l->exec_confirmed = true;
		l->exec_seq++;
	} else {
		if (stage == SPAWN_STAGE_NOFILE || stage == SPAWN_STAGE_CORE)
			snprintf(l->spawn_err, sizeof(l->spawn_err),
				 "%s: %s%s", spawn_stage_name(stage),
				 strerror(err),
				 err == EPERM ? " (above natsvisord's hard "
						"limit, which only a privileged "
						"daemon may raise)"
					      : "");
		else
			snprintf(l->spawn_err, sizeof(l->spawn_err),
				 "%s %s: %s", spawn_stage_name(stage),
				 stage == SPAWN_STAGE_CHDIR &&
						 l->conf->directory
					 ? l->conf->directory
					 : l->conf->argv[0],
				 strerror(err));
		l->exec_failed = true;
		l->spawnerr_seq++;
	}
	errpipe_close(l);
	daemon_mark_dirty();
	return true;
}

static void errpipe_on_readable(uv_poll_t *p, int status, int events)
{
	struct errwatch *w = p->data;
	if (w->l)
		errpipe_check(w->l);
}

/* Watch L's new exec-error pipe. */
static void errpipe_watch(struct lsn *l, int fd)
{
	l->errpipe = fd;
	l->exec_confirmed = false;
	l->exec_failed = false;
	struct errwatch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return; /* checked again at the first pong and at exit */
	if (uv_poll_init(d.loop, &w->h, fd) < 0) {
		free(w);
		return;
	}
	w->l = l;
	w->h.data = w;
	l->errwatch = w;
	uv_poll_start(&w->h, UV_READABLE | UV_DISCONNECT, errpipe_on_readable);
}

/* Are all of L's requirements ready?  Names the first one that is not. */
static bool requires_ready(struct lsn *l, const char **missing)
{
	const struct nv_listener_conf *c = l->conf;
	for (size_t i = 0; i < c->nrequires; i++) {
		struct lsn *m[NV_INSTANCES_MAX];
		size_t n = lsn_match(c->requires[i], m, NV_INSTANCES_MAX);
		for (size_t j = 0; j < n && j < NV_INSTANCES_MAX; j++) {
			if (!lst_is_ready(&m[j]->m)) {
				*missing = m[j]->conf->name;
				return false;
			}
		}
	}
	return true;
}

static void lsn_apply(struct lsn *l, unsigned acts, enum lst_state os,
		      enum lst_health oh);

/* A spawn prepared on the loop thread: the request and what it owns. */
struct spawn_job {
	struct lsn *l;
	struct spawn_req req;
	char *path;
	char **env, **owned;
	size_t nowned;
};

/* The spawns of a burst (start_listeners): prepared one by one, started
 * together by spawn_batch() on several threads, then finished in order. */
static struct {
	bool on;
	struct spawn_job *jobs;
	size_t n, cap;
} batch;

static void job_free(struct spawn_job *j)
{
	free(j->path);
	for (size_t i = 0; i < j->nowned; i++)
		free(j->owned[i]);
	free(j->owned);
	free(j->env);
}

/* The spawn of J is done: ERR is 0, or the errno of its failure. */
static void lsn_spawned(struct spawn_job *j, int err,
			const struct spawn_child *child)
{
	struct lsn *l = j->l;
	struct lst_event_data ev = { 0 };

	job_free(j);
	if (err != 0) {
		snprintf(l->spawn_err, sizeof(l->spawn_err), "fork: %s",
			 strerror(err));
		l->spawnerr_seq++;
		ev.reason = l->spawn_err;
		lsn_event(l, EV_SPAWN_FAILED, &ev);
		daemon_mark_dirty();
		return;
	}
	errpipe_close(l);
	errpipe_watch(l, child->errpipe);
	if (child->out_fd >= 0)
		output_attach(l->out, child->out_fd);
	if (child->err_fd >= 0)
		output_attach(l->out, child->err_fd);
	l->fast_step = 0;
	ev.pid = child->pid;
	lsn_event(l, EV_SPAWNED, &ev);
}

/* Start a new incarnation of L now (the state machine asked for it), or
 * during a burst add it to the batch. */
static void lsn_spawn(struct lsn *l)
{
	const struct nv_listener_conf *c = l->conf;
	const char *missing = NULL;
	struct lst_event_data ev = { 0 };

	if (d.shutting_down)
		return;
	if (!l->is_server && (!d.connected && d.server != NULL &&
			      !d.ever_connected)) {
		/* The embedded server comes first. */
		l->waiting = true;
		return;
	}
	if (!l->is_server && !requires_ready(l, &missing)) {
		if (!l->waiting)
			log_info("%s: waiting for %s to be ready", c->name,
				 missing);
		l->waiting = true;
		snprintf(l->m.reason, sizeof(l->m.reason),
			 "waiting for %s to be ready", missing);
		return;
	}
	l->waiting = false;
	if (!l->is_server && c->ping_subject == NULL)
		snprintf(l->ping_subject, sizeof(l->ping_subject),
			 "_NATSVISOR.%s.%s.%s.%llu", d.instance_id, d.nonce,
			 c->name, (unsigned long long)l->m.incarnation + 1);
	else if (c->ping_subject)
		snprintf(l->ping_subject, sizeof(l->ping_subject), "%s",
			 c->ping_subject);

	struct spawn_job j = { .l = l };
	if (!l->is_server) {
		l->hello_id = ping_id_new(l);
		l->hello_seen = l->hello_heard = false;
		l->miss_pending = l->miss_confirming = false;
		l->deadline_pending = false;
	}
	j.env = env_build(l, &j.owned, &j.nowned);
	j.path = spawn_resolve(c->argv[0], j.env);
	if (j.path == NULL) {
		snprintf(l->spawn_err, sizeof(l->spawn_err), "exec %s: %s",
			 c->argv[0], strerror(errno));
		job_free(&j);
		l->spawnerr_seq++;
		ev.reason = l->spawn_err;
		log_warnx("%s: spawn error: %s", c->name, l->spawn_err);
		lsn_event(l, EV_SPAWN_FAILED, &ev);
		daemon_mark_dirty();
		return;
	}
	j.req = (struct spawn_req){
		.argv = c->argv,
		.envp = j.env,
		.directory = c->directory,
		.umask = c->umask,
		.set_ids = c->set_ids,
		.uid = c->uid,
		.gid = c->gid,
		.groups = c->groups,
		.ngroups = c->ngroups,
		.limit_nofile = c->limit_nofile,
		.limit_core = c->limit_core,
		.nofile_soft = d.orig_nofile.rlim_cur,
		.capture_output = true,
		.path = j.path,
	};
	if (batch.on) {
		if (batch.n == batch.cap) {
			size_t cap = batch.cap ? 2 * batch.cap : 64;
			struct spawn_job *m =
				realloc(batch.jobs, cap * sizeof(*m));
			if (m == NULL)
				fatal("out of memory");
			batch.jobs = m;
			batch.cap = cap;
		}
		batch.jobs[batch.n++] = j;
		return;
	}
	struct spawn_child child;
	int err = spawn_start(&j.req, &child) < 0 ? errno : 0;
	lsn_spawned(&j, err, &child);
}

/* Start the batch's spawns together, then finish each in order. */
static void batch_flush(void)
{
	size_t n = batch.n;
	struct spawn_req *reqs = calloc(n, sizeof(*reqs));
	struct spawn_child *children = calloc(n, sizeof(*children));
	int *errs = calloc(n, sizeof(*errs));

	if (n == 0 || reqs == NULL || children == NULL || errs == NULL) {
		if (n != 0)
			fatal("out of memory");
		free(reqs);
		free(children);
		free(errs);
		return;
	}
	for (size_t i = 0; i < n; i++)
		reqs[i] = batch.jobs[i].req;
	spawn_batch(reqs, children, errs, n);
	batch.n = 0; /* (lsn_spawned may spawn again, but not into it) */
	for (size_t i = 0; i < n; i++)
		lsn_spawned(&batch.jobs[i], errs[i], &children[i]);
	free(batch.jobs);
	batch.jobs = NULL;
	batch.cap = 0;
	free(reqs);
	free(children);
	free(errs);
}

/* ------------------------------------------------------------------ */
/* Applying the state machine's actions */

int lsn_signal(struct lsn *l, int sig)
{
	pid_t target = l->m.pgid ? -l->m.pgid : l->m.pid;
	if (target == 0)
		return -1;
	return kill(target, sig);
}

static void deadline_on_timer(uv_timer_t *t)
{
	struct lsn *l = t->data;
	/* ready_timeout: not while the server may be what holds the reply
	 * (see probe_start). */
	if (l->m.state == LST_STARTING && d.connected && !l->is_server &&
	    l->m.deadline != 0 && now_ms() >= l->m.deadline) {
		l->deadline_pending = true;
		probe_start();
		return;
	}
	lsn_event(l, EV_DEADLINE, NULL);
}

static void lsn_apply(struct lsn *l, unsigned acts, enum lst_state os,
		      enum lst_health oh)
{
	struct lst *m = &l->m;

	if ((acts & ACT_LOG) || os != m->state || oh != m->health) {
		/* A line only repeats the last one when state and reason
		 * are what it said (a health change alone, or a second
		 * event with the same outcome): left out. */
		uint32_t h = 2166136261u ^ (uint32_t)m->state;
		for (const char *p = m->reason; *p; p++)
			h = (h ^ (unsigned char)*p) * 16777619u;
		if (os != m->state)
			log_info("%s: %s -> %s: %s", lsn_name(l),
				 lst_state_name(os), lst_state_name(m->state),
				 m->reason);
		else if (h != l->logged)
			log_info("%s: %s (%s): %s", lsn_name(l),
				 lst_state_name(m->state),
				 lst_health_name(m->health), m->reason);
		l->logged = h;
	}
	if (os != m->state || oh != m->health)
		cmd_event(l); /* natsvisor.<id>.event.<name> */
	if (acts & ACT_SIGNAL_GROUP) {
		if (lsn_signal(l, l->conf->stop_signal) == 0 &&
		    l->conf->stop_signal != SIGKILL)
			lsn_signal(l, SIGCONT); /* a stopped group must hear it */
	}
	if (acts & ACT_KILL_GROUP) {
		if (acts & ACT_LOG)
			log_info("%s: sending SIGKILL to process group %d",
				 lsn_name(l), m->pgid ? m->pgid : m->pid);
		lsn_signal(l, SIGKILL);
	}
	/* The main process is gone: its group may end without a SIGCHLD. */
	if ((acts & (ACT_SIGNAL_GROUP | ACT_KILL_GROUP)) && m->pid == 0 &&
	    m->pgid != 0)
		group_poll_arm();
	if (acts & ACT_PING_STOP)
		ping_stop(l);
	if ((acts & ACT_PING) && !l->is_server) {
		l->fast_step = 0;
		l->ping_id = 0;
		/* A process spawned this instant cannot have subscribed yet:
		 * its first ping waits for the schedule's first step (and a
		 * burst of spawns is not slowed by a ping for each). */
		if (m->state == LST_STARTING)
			ping_schedule(l);
		else if (d.connected)
			ping_send(l);
	}
	if (m->deadline) {
		uint64_t now = now_ms();
		uv_timer_start(&l->deadline_timer, deadline_on_timer,
			       m->deadline > now ? m->deadline - now : 0, 0);
	} else {
		uv_timer_stop(&l->deadline_timer);
	}
	if (acts & ACT_READY_CHANGED)
		daemon_mark_dirty();
	if (acts & ACT_ESSENTIAL_FATAL) {
		char why[NV_NAME_MAX + 64];
		snprintf(why, sizeof(why), "an essential listener is fatal (%s)",
			 lsn_name(l));
		daemon_shutdown(1, why);
	}
	if (acts & ACT_SPAWN)
		lsn_spawn(l);
}

void lsn_event(struct lsn *l, enum lst_event ev,
	       const struct lst_event_data *data)
{
	enum lst_state os = l->m.state;
	enum lst_health oh = l->m.health;
	unsigned acts = lst_step(&l->m, ev, data, now_ms());
	if (l->m.state != os && !l->is_server) {
		/* How many are starting: the fast pings' shared budget. */
		if (os == LST_STARTING)
			d.nstarting--;
		if (l->m.state == LST_STARTING)
			d.nstarting++;
	}
	lsn_apply(l, acts, os, oh);
}

/* ------------------------------------------------------------------ */
/* Reaping */

/* Groups whose main process is gone: are they empty now?  True while
 * one is not.  A member whose parent is not the daemon (its parent left
 * the group with setsid and lives on) dies without a SIGCHLD to us, so
 * this runs on a timer as well as after every reap. */
static bool groups_check(void)
{
	bool pending = false;
	for (size_t i = 0; i <= d.nls; i++) {
		struct lsn *l = i < d.nls ? d.ls[i] : d.server;
		if (l == NULL || l->m.pid != 0 || l->m.pgid == 0)
			continue;
		if (kill(-l->m.pgid, 0) < 0 && errno == ESRCH)
			lsn_event(l, EV_GROUP_GONE, NULL);
		else
			pending = true;
	}
	return pending;
}

static void group_on_timer(uv_timer_t *t)
{
	if (!groups_check())
		uv_timer_stop(t);
}

/* Look at leaderless groups every GROUP_POLL_MS until all are empty. */
static void group_poll_arm(void)
{
	if (!uv_is_active((uv_handle_t *)&group_timer))
		uv_timer_start(&group_timer, group_on_timer, GROUP_POLL_MS,
			       GROUP_POLL_MS);
}

/* The orphans signalled at shutdown, by pid: the last signal each was
 * sent, and when it was sent SIGKILL.  An entry goes when its pid is
 * reaped, so a pid the kernel gives to a later orphan starts afresh. */
static struct orphan {
	pid_t pid;
	int sig;
	uint64_t killed_at;
} *orphans;
static size_t norphans;

static void orphan_forget(pid_t pid)
{
	for (size_t i = 0; i < norphans; i++)
		if (orphans[i].pid == pid) {
			orphans[i] = orphans[--norphans];
			return;
		}
}

static void reap_all(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct lsn *l = lsn_by_pid(pid);
		if (l == NULL) {
			orphan_forget(pid);
			if (WIFSIGNALED(status))
				log_info("reaped orphan pid %d (signal %s)",
					 (int)pid,
					 signal_name(WTERMSIG(status)));
			else
				log_info("reaped orphan pid %d (status %d)",
					 (int)pid, WEXITSTATUS(status));
			continue;
		}
		struct lst_event_data ev = { .status = status };
		/* The exec-error pipe is read to its end before the exit is
		 * interpreted: "no such file" is a spawn error, not 127. */
		errpipe_check(l);
		if (l->exec_failed) {
			l->exec_failed = false;
			ev.spawn_error = true;
			ev.reason = l->spawn_err;
			log_warnx("%s: spawn error: %s", lsn_name(l),
				  l->spawn_err);
		}
		ev.group_alive = kill(-pid, 0) == 0;
		lsn_event(l, EV_EXIT, &ev);
		daemon_mark_dirty();
	}
	if (groups_check())
		group_poll_arm();
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	reap_all();
}

/* ------------------------------------------------------------------ */
/* The bus */

static void on_bus_event(struct bus_event *ev, void *arg)
{
	char shown[300]; /* a URL without its password */

	switch (ev->type) {
	case BUS_CONNECTED:
		log_info("connected to NATS at %s",
			 ev->data ? url_redact(ev->data, shown, sizeof(shown))
				  : "?");
		d.connected = true;
		d.ever_connected = true;
		d.inbox_denied = false; /* said again if it still is */
		if (d.server) {
			struct lst_event_data pong = { .ready = true };
			lsn_event(d.server, EV_BUS_UP, NULL);
			lsn_event(d.server, EV_PONG, &pong);
		}
		/* Everyone is pinged at once: readiness returns without a
		 * restart. */
		for (size_t i = 0; i < d.nls; i++)
			lsn_event(d.ls[i], EV_BUS_UP, NULL);
		daemon_mark_dirty();
		break;
	case BUS_DISCONNECTED:
		if (!d.connected)
			break;
		if (ev->tag == 0)
			log_warnx("disconnected from NATS; retrying");
		d.connected = false;
		probe_reset();
		if (d.server)
			lsn_event(d.server, EV_BUS_DOWN, NULL);
		for (size_t i = 0; i < d.nls; i++)
			lsn_event(d.ls[i], EV_BUS_DOWN, NULL);
		daemon_mark_dirty();
		break;
	case BUS_REPLY:
		ping_on_reply(ev->id, ev->no_responders, ev->data, ev->len);
		break;
	case BUS_HELLO:
		hello_on(ev->id);
		break;
	case BUS_FLUSHED:
		cmd_on_flushed(ev->id, ev->error);
		break;
	case BUS_CONFIRM:
		cmd_on_confirm(ev->id, ev->data, ev->len);
		break;
	case BUS_PUBLISH_FAILED:
		cmd_on_publish_failed(ev->id, ev->data ? ev->data : "error");
		break;
	case BUS_MSG:
		cmd_on_nats_request(ev->tag, ev->subject, ev->reply, ev->data,
				    ev->len);
		break;
	case BUS_ERROR:
		log_warnx("NATS: %s", ev->data ? ev->data : "error");
		break;
	case BUS_INBOX_DENIED:
		d.inbox_denied = true;
		log_warnx("NATS: %s: the daemon may not subscribe to its "
			  "inbox, so no pong reaches it and no listener can "
			  "become ready; give its NATS user subscribe "
			  "permission on _INBOX.>",
			  ev->data ? ev->data : "permissions violation");
		break;
	case BUS_DENIED:
		/* Answers the publish (if any is waiting) with the reason. */
		cmd_on_denied(ev->subject, ev->data ? ev->data : "");
		log_warnx("NATS: publish %s refused: %s", ev->subject,
			  ev->data ? ev->data : "");
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Listener objects */

static void lsn_handle_closed(uv_handle_t *h)
{
	struct lsn *l = h->data;
	if (--l->handles_open == 0) {
		lst_free(&l->m);
		free(l);
	}
}

static struct lsn *lsn_new(struct nv_listener_conf *conf, bool is_server)
{
	struct lsn *l = calloc(1, sizeof(*l));
	if (l == NULL)
		fatal("out of memory");
	l->conf = conf;
	l->is_server = is_server;
	l->errpipe = -1;
	l->backlog = l->slow_consumer = l->dropped = -1;
	if (lst_init(&l->m, conf, (uint32_t)random() | 1) < 0)
		fatal("out of memory");
	l->m.connected = d.connected;
	/* Wanted from the start: an autostart listener waiting for the
	 * embedded server or its requirements can still become ready. */
	l->m.want = is_server || conf->autostart;
	uv_timer_init(d.loop, &l->deadline_timer);
	uv_timer_init(d.loop, &l->ping_timer);
	l->deadline_timer.data = l;
	l->ping_timer.data = l;
	l->out = output_new(d.loop, conf->name, conf->log_file,
			    conf->log_max_size, conf->log_keep);
	/* Assign a slot for ping ids. */
	size_t s;
	for (s = 0; s < d.nslots && d.slots[s]; s++)
		;
	if (s == d.nslots) {
		size_t n = d.nslots ? d.nslots * 2 : 64;
		struct lsn **p = reallocarray(d.slots, n, sizeof(*p));
		if (p == NULL)
			fatal("out of memory");
		memset(p + d.nslots, 0, (n - d.nslots) * sizeof(*p));
		d.slots = p;
		d.nslots = n;
	}
	d.slots[s] = l;
	l->slot = (unsigned)s;
	return l;
}

/* A new listener (used by reload). */
struct lsn *lsn_create(struct nv_listener_conf *conf)
{
	return lsn_new(conf, false);
}

/* Release L once its process is gone. */
static void lsn_destroy(struct lsn *l)
{
	d.slots[l->slot] = NULL;
	errpipe_close(l);
	output_free(l->out);
	l->out = NULL;
	l->handles_open = 2;
	uv_close((uv_handle_t *)&l->deadline_timer, lsn_handle_closed);
	uv_close((uv_handle_t *)&l->ping_timer, lsn_handle_closed);
}

/* ------------------------------------------------------------------ */
/* Readiness evaluation and shutdown */

bool lsn_requires(const struct lsn *x, const struct lsn *l)
{
	for (size_t j = 0; j < x->conf->nrequires; j++) {
		const char *r = x->conf->requires[j];
		if (strcmp(r, l->conf->name) == 0 ||
		    strcmp(r, l->conf->base) == 0)
			return true;
	}
	return false;
}

/* Does X require L through others?  (A cycle is a configuration error,
 * so the walk ends.) */
bool lsn_requires_deep(const struct lsn *x, const struct lsn *l)
{
	if (lsn_requires(x, l))
		return true;
	for (size_t i = 0; i < d.nls; i++) {
		const struct lsn *y = d.ls[i];
		if (y != x && y != l && !y->removed && lsn_requires(x, y) &&
		    lsn_requires_deep(y, l))
			return true;
	}
	return false;
}

/* May L stop now?  Dependents stop first. */
static bool shutdown_may_stop(struct lsn *l)
{
	if (l->is_server) {
		for (size_t i = 0; i < d.nls; i++)
			if (lst_is_live(&d.ls[i]->m))
				return false;
		return true;
	}
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *x = d.ls[i];
		if (x != l && lst_is_live(&x->m) && lsn_requires(x, l))
			return false;
	}
	return true;
}

/* Orphans left at shutdown get SIGTERM, and SIGKILL once ORPHAN_KILL_MS
 * have passed since the first of them was signalled; the daemon stops
 * waiting for them ORPHAN_GIVEUP_MS after that first signal, whatever is
 * left (a process in uninterruptible sleep dies only when the kernel lets
 * it, and must not hold the daemon forever).
 *
 * Killing an orphan can orphan its own children, which are then adopted
 * by the daemon after the round that killed their parent: the children
 * are listed again on every shutdown tick (ORPHAN_TICK_MS), and one not
 * yet signalled gets what the phase calls for, SIGTERM with the common
 * deadline during the grace period, SIGKILL at once after it.  An orphan
 * that leads its own process group (setsid, like the double-forked
 * daemons that become orphans) is signalled as a group, so that its
 * members, which are not children of ours while it lives, go with it. */
#define ORPHAN_TICK_MS 100
#define ORPHAN_KILL_MS 2000
#define ORPHAN_GIVEUP_MS 5000
/* Survived SIGKILL for that long: stuck, not just still dying. */
#define ORPHAN_STUCK_MS 1000

/* What to signal to stop orphan P: its process group if it leads one,
 * but never the daemon's own group, nor a group a listener owns (whose
 * stop is the listener's business, with its stop_signal). */
static pid_t orphan_target(pid_t p)
{
	pid_t g = getpgid(p);
	if (g != p || g == getpgrp())
		return p;
	for (size_t i = 0; i <= d.nls; i++) {
		struct lsn *l = i < d.nls ? d.ls[i] : d.server;
		if (l != NULL && l->m.pgid == g)
			return p;
	}
	return -g;
}

/* Send orphan P the signal of the phase (SIGTERM, or SIGKILL from
 * KILL_AT on), unless it was already sent that one. */
static void orphan_stop(pid_t p, uint64_t now, uint64_t kill_at)
{
	int sig = now >= kill_at ? SIGKILL : SIGTERM;
	struct orphan *o = NULL;
	for (size_t i = 0; i < norphans && o == NULL; i++)
		if (orphans[i].pid == p)
			o = &orphans[i];
	if (o != NULL && o->sig == sig)
		return;
	if (o == NULL) {
		struct orphan *v = realloc(orphans,
					   (norphans + 1) * sizeof(*v));
		if (v != NULL) { /* else sent again on the next tick */
			orphans = v;
			o = &orphans[norphans++];
			o->pid = p;
		}
	}
	if (o != NULL) {
		o->sig = sig;
		o->killed_at = sig == SIGKILL ? now : 0;
	}
	pid_t t = orphan_target(p);
	log_info("stopping orphan pid %d with SIG%s%s", (int)p,
		 signal_name(sig), t < 0 ? " (its process group)" : "");
	kill(t, sig);
}

/* Stop every child of ours (all adopted orphans by now).  Children are
 * listed by /proc, which must be this PID namespace's: a /proc of another
 * namespace (PID 1 without its own /proc mounted) names other processes,
 * so then nothing is sent and false returned. */
static bool orphans_signal(uint64_t now, uint64_t kill_at)
{
	char path[64], self[32];
	FILE *f;
	int p, n = 0;
	ssize_t len = readlink("/proc/self", self, sizeof(self) - 1);
	if (len <= 0)
		return false;
	self[len] = '\0';
	if (strtol(self, NULL, 10) != (long)getpid())
		return false;
	/* Orphans are adopted by the thread group leader, this thread. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
		 (int)getpid(), (int)getpid());
	if ((f = fopen(path, "re")) != NULL) {
		while (fscanf(f, "%d", &p) == 1 && n++ < 100000)
			orphan_stop(p, now, kill_at);
		fclose(f);
		return true;
	}
	/* No children file (CONFIG_PROC_CHILDREN off): scan every process's
	 * parent. */
	DIR *dir = opendir("/proc");
	struct dirent *e;
	if (dir == NULL)
		return false;
	while ((e = readdir(dir)) != NULL) {
		char line[512];
		if ((p = (int)strtol(e->d_name, NULL, 10)) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", p);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		char *rp = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		int ppid = 0;
		fclose(f);
		if (rp && sscanf(rp, ") %*c %d", &ppid) == 1 &&
		    ppid == (int)getpid())
			orphan_stop(p, now, kill_at);
	}
	closedir(dir);
	return true;
}

/* At the give-up time: name the orphans left, those that survived
 * SIGKILL for ORPHAN_STUCK_MS apart from those killed since (adopted
 * late, most likely dead by the time anyone reads this). */
static void orphans_left(uint64_t now)
{
	char stuck[256] = "", dying[256] = "";
	for (size_t i = 0; i < norphans; i++) {
		struct orphan *o = &orphans[i];
		bool old = o->killed_at != 0 &&
			   now - o->killed_at >= ORPHAN_STUCK_MS;
		char *b = old ? stuck : dying;
		size_t n = strlen(b);
		if (n < sizeof(stuck) - 16)
			snprintf(b + n, sizeof(stuck) - n, " %d", (int)o->pid);
		else if (b[n - 1] != '.')
			snprintf(b + n, sizeof(stuck) - n, " ...");
	}
	if (stuck[0])
		log_warnx("orphans survive SIGKILL (pid%s); exiting without "
			  "them", stuck);
	if (dying[0])
		log_warnx("orphans still exiting after %d ms (pid%s); exiting "
			  "without them", ORPHAN_GIVEUP_MS, dying);
}

/* Reap and stop what is left of our children (adopted orphans) at the
 * end; true once there is nothing left to wait for. */
static bool shutdown_orphans(void)
{
	static uint64_t first;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		orphan_forget(pid);
		log_info("reaped orphan pid %d", (int)pid);
	}
	if (pid < 0 && errno == ECHILD)
		return true;
	uint64_t now = now_ms();
	if (first == 0)
		first = now;
	if (now - first >= ORPHAN_GIVEUP_MS) {
		orphans_left(now);
		return true;
	}
	if (!orphans_signal(now, first + ORPHAN_KILL_MS)) {
		log_warnx("cannot list orphans to stop (/proc is not this PID "
			  "namespace's); exiting without them");
		return true;
	}
	return false;
}

static uv_timer_t shutdown_timer;

static void shutdown_progress(void)
{
	bool live = false;
	for (size_t i = 0; i <= d.nls; i++) {
		struct lsn *l = i < d.nls ? d.ls[i] : d.server;
		if (l == NULL)
			continue;
		if (lst_is_live(&l->m)) {
			live = true;
			/* One stopping already (a health kill, a group that
			 * outlived its main process) ends stopped, not in
			 * backoff. */
			if (l->m.state == LST_STOPPING ?
				    l->m.after != AFTER_STOPPED :
				    shutdown_may_stop(l))
				lsn_event(l, EV_STOP, NULL);
		} else if (l->m.state == LST_BACKOFF) {
			lsn_event(l, EV_STOP, NULL);
		} else if (l->m.state == LST_STOPPED) {
			l->m.want = false;
			uv_timer_stop(&l->deadline_timer);
			l->m.deadline = 0;
		}
	}
	if (live)
		return;
	if (!shutdown_orphans())
		return;
	uv_timer_stop(&shutdown_timer);
	uv_stop(d.loop);
}

static void shutdown_on_timer(uv_timer_t *t)
{
	shutdown_progress();
}

void daemon_shutdown(int code, const char *why)
{
	if (code > d.exit_code)
		d.exit_code = code;
	if (d.shutting_down)
		return;
	d.shutting_down = true;
	if (code > 0) /* a failure: "fatal:", as natsvisord(8) says */
		log_fatalx("shutting down: %s", why);
	else
		log_info("shutting down: %s", why);
	notify_send("STOPPING=1");
	/* Held requests are answered by the evaluation that follows: a
	 * start fails, waits fail as listeners stop. */
	/* A periodic check covers orphans, which do not all signal us. */
	uv_timer_start(&shutdown_timer, shutdown_on_timer, ORPHAN_TICK_MS,
		       ORPHAN_TICK_MS);
	daemon_mark_dirty();
}

/* Start every autostart listener (after the embedded server is up). */
static void start_listeners(void)
{
	d.listeners_started = true;
	/* One batch: the children of a thousand listeners exec on every CPU
	 * at once instead of one after another. */
	batch.on = true;
	for (size_t i = 0; i < d.nls; i++)
		if (d.ls[i]->conf->autostart && d.ls[i]->m.state == LST_STOPPED)
			lsn_event(d.ls[i], EV_START, NULL);
	batch.on = false;
	batch_flush();
}

static void on_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	d.dirty = false;
	if (d.shutting_down) {
		shutdown_progress();
		cmd_evaluate();
		return;
	}
	if (!d.listeners_started && (d.server == NULL || d.connected))
		start_listeners();
	/* Listeners waiting for their requirements or the server. */
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		if (l->waiting && l->m.want && !lst_is_live(&l->m))
			lsn_spawn(l);
	}
	/* Removed listeners are freed once nothing of them runs. */
	size_t j = 0;
	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		if (l->removed && !lst_is_live(&l->m)) {
			cmd_forget(l);
			lsn_destroy(l);
			continue;
		}
		d.ls[j++] = l;
	}
	if (j != d.nls) {
		d.nls = j;
		reload_gc();
	}
	cmd_evaluate();
	notify_status();
}

/* startup_timeout has passed: say so if not every autostart listener has
 * been ready yet (--daemon's parent gives up at the same moment; an init
 * system or a --ready-fd reader keeps waiting, and READY=1 or the newline
 * still follows readiness). */
static void startup_on_timer(uv_timer_t *t)
{
	(void)t;
	if (d.all_ready_reported || d.shutting_down)
		return;
	unsigned total, ready = daemon_ready_count(&total);
	log_warnx("not ready after startup_timeout (%s): %u of %u listener%s "
		  "ready; readiness is reported when it comes",
		  format_duration(d.cfg->startup_timeout_ms), ready, total,
		  total == 1 ? "" : "s");
	d.startup_failed = true;
	notify_status(); /* STATUS= and the process title say so */
}

/* ------------------------------------------------------------------ */
/* Signals */

static void on_sigterm(uv_signal_t *h, int sig)
{
	daemon_shutdown(0, sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static void on_sighup(uv_signal_t *h, int sig)
{
	char *report = NULL;
	log_info("SIGHUP: reloading %s", d.config_path);
	daemon_reload(&report);
	free(report);
}

/* ------------------------------------------------------------------ */
/* Start-up */

/* The environment every child starts from: the daemon's, minus what must
 * never reach a child (the notify socket, socket activation, our own
 * variables). */
static void base_env_init(void)
{
	size_t n = 0, j = 0;
	while (environ[n])
		n++;
	d.base_env = calloc(n + 1, sizeof(char *));
	if (d.base_env == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		if (strncmp(e, "NOTIFY_SOCKET=", 14) == 0 ||
		    strncmp(e, "WATCHDOG_", 9) == 0 ||
		    strncmp(e, "LISTEN_", 7) == 0 ||
		    strncmp(e, "NATSVISOR_", 10) == 0)
			continue;
		if ((d.base_env[j++] = strdup(e)) == NULL)
			fatal("out of memory");
	}
}

/* The listeners' NATS_URL: the daemon's servers, comma-separated; and the
 * same without the user information of the URLs, for listeners that bring
 * credentials of their own (see env_build). */
static void nats_url_env_init(void)
{
	struct buf b = { 0 }, bare = { 0 };
	buf_printf(&b, "NATS_URL=");
	buf_printf(&bare, "NATS_URL=");
	for (size_t i = 0; i < d.cfg->nnats_urls; i++) {
		const char *u = d.cfg->nats_urls[i];
		char *t = strdup(u);
		if (t == NULL)
			fatal("out of memory");
		buf_printf(&b, "%s%s", i ? "," : "", u);
		buf_printf(&bare, "%s%s", i ? "," : "",
			   url_strip_userinfo(u, t, strlen(u) + 1));
		free(t);
	}
	d.nats_url_env = b.p;
	d.nats_url_env_bare = bare.p;
}

/* A synthetic listener configuration for the embedded nats-server. */
static void server_conf_init(void)
{
	struct nv_listener_conf *c = &d.server_conf;
	memset(c, 0, sizeof(*c));
	c->name = "nats-server";
	c->base = "nats-server";
	c->instance = -1;
	size_t n = 0;
	while (d.cfg->nats_server_argv[n])
		n++;
	c->argv = calloc(n + 1, sizeof(char *));
	if (c->argv == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < n; i++)
		if ((c->argv[i] = strdup(d.cfg->nats_server_argv[i])) == NULL)
			fatal("out of memory");
	c->command = NULL;
	c->ready_timeout_ms = 30000;
	c->health_interval_ms = 5000;
	c->health_timeout_ms = 1000;
	c->health_failures = 3;
	c->stop_signal = SIGTERM;
	c->stop_timeout_ms = 10000;
	c->autostart = true;
	c->restart = NV_RESTART_ALWAYS;
	c->success_exit[0] = 1;
	c->backoff_initial_ms = 100;
	c->backoff_factor = 2;
	c->backoff_max_ms = 5000;
	c->backoff_jitter = 0.1;
	c->backoff_reset_ms = 60000;
	c->umask = -1;
	c->limit_nofile = -1;
	c->limit_core = -1;
	c->log_max_size = 10 << 20;
	c->log_keep = 5;
}

static void instance_init(void)
{
	if (d.cfg->instance_id) {
		snprintf(d.instance_id, sizeof(d.instance_id), "%s",
			 d.cfg->instance_id);
	} else {
		char host[64] = "localhost";
		gethostname(host, sizeof(host) - 1);
		/* A subject token: no dots, spaces or wildcards. */
		for (char *p = host; *p; p++)
			if (*p == '.' || *p == ' ' || *p == '*' || *p == '>')
				*p = '_';
		snprintf(d.instance_id, sizeof(d.instance_id), "%s", host);
	}
	uint64_t r = ((uint64_t)random() << 32) ^ (uint64_t)random() ^
		     now_ms() ^ ((uint64_t)getpid() << 16);
	snprintf(d.nonce, sizeof(d.nonce), "%016llx", (unsigned long long)r);
}

int loop_run(struct nv_config *cfg, const char *config_path, int ready_fd,
	     int daemon_fd)
{
	const char *err = NULL;
	char sockpath[NV_UNIX_PATH_MAX + 64];

	d.loop = uv_default_loop();
	d.cfg = cfg;
	d.config_path = strdup(config_path);
	d.ready_fd = ready_fd;
	d.daemon_fd = daemon_fd;
	d.started_at = now_ms();
	d.last_reload_ok = true;
	srandom((unsigned)(now_ms() ^ (uint64_t)getpid()));

	/* The soft open-files limit children get back; ours goes up to the
	 * hard limit, for many listeners. */
	getrlimit(RLIMIT_NOFILE, &d.orig_nofile);
	struct rlimit raised = d.orig_nofile;
	raised.rlim_cur = raised.rlim_max;
	setrlimit(RLIMIT_NOFILE, &raised);
	daemon_reserve_fds(cfg->nlisteners); /* before nats.c's threads */

	/* Orphans of our listeners come back to us, to be reaped and, at
	 * shutdown, killed. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER");

	base_env_init();
	nats_url_env_init();
	instance_init();
	notify_init();

	uv_idle_init(d.loop, &d.idle);
	uv_timer_init(d.loop, &shutdown_timer);
	uv_signal_init(d.loop, &sig_chld);
	uv_timer_init(d.loop, &group_timer);
	uv_timer_init(d.loop, &probe_timer);
	uv_timer_init(d.loop, &startup_timer);
	uv_signal_init(d.loop, &sig_term);
	uv_signal_init(d.loop, &sig_int);
	uv_signal_init(d.loop, &sig_hup);
	uv_signal_start(&sig_chld, on_sigchld, SIGCHLD);
	uv_signal_start(&sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&sig_int, on_sigterm, SIGINT);
	uv_signal_start(&sig_hup, on_sighup, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	spawn_signals_changed(); /* (set once: none changes later) */

	if (cfg->control_socket) {
		snprintf(sockpath, sizeof(sockpath), "%s", cfg->control_socket);
	} else if (control_default_path(sockpath, sizeof(sockpath), 1, &err) <
		   0) {
		log_fatalx("control socket: %s", err);
		return 1;
	}
	if (control_open(d.loop, sockpath,
			 cfg->has_control_gid ? cfg->control_gid : 0,
			 cfg->has_control_gid, cmd_on_request, cmd_on_gone,
			 NULL, &err) < 0) {
		log_fatalx("control socket %s: %s", sockpath, err);
		return 1;
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct lsn **p = reallocarray(d.ls, d.nls + 1, sizeof(*p));
		if (p == NULL)
			fatal("out of memory");
		d.ls = p;
		d.ls[d.nls++] = lsn_new(&cfg->listeners[i], false);
	}
	if (cfg->nats_server) {
		server_conf_init();
		d.server = lsn_new(&d.server_conf, true);
	}
	if (bus_start(d.loop, cfg, on_bus_event, NULL) < 0) {
		log_fatalx("cannot start the NATS connection");
		control_close();
		return 1;
	}
	cmd_init();
	log_info("started: %zu listener%s, control socket %s", d.nls,
		 d.nls == 1 ? "" : "s", sockpath);
	notify_watchdog_start(d.loop);
	uv_timer_start(&startup_timer, startup_on_timer, cfg->startup_timeout_ms,
		       0);
	uv_unref((uv_handle_t *)&startup_timer);
	if (d.server)
		lsn_event(d.server, EV_START, NULL);
	daemon_mark_dirty();

	uv_run(d.loop, UV_RUN_DEFAULT);

	/* Everything has stopped: release it all. */
	cmd_close();
	control_close();
	bus_stop();
	for (size_t i = 0; i < d.nls; i++)
		lsn_destroy(d.ls[i]);
	if (d.server) {
		lsn_destroy(d.server);
		argv_free(d.server_conf.argv);
	}
	uv_close((uv_handle_t *)&sig_chld, NULL);
	uv_close((uv_handle_t *)&group_timer, NULL);
	uv_close((uv_handle_t *)&probe_timer, NULL);
	uv_close((uv_handle_t *)&startup_timer, NULL);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
	uv_close((uv_handle_t *)&d.idle, NULL);
	uv_close((uv_handle_t *)&shutdown_timer, NULL);
	notify_close();
	uv_run(d.loop, UV_RUN_DEFAULT);
	uv_loop_close(d.loop);
	free(d.ls);
	d.ls = NULL;
	d.nls = 0;
	free(d.slots);
	for (size_t i = 0; d.base_env[i]; i++)
		free(d.base_env[i]);
	free(d.base_env);
	free(d.nats_url_env);
	free(d.nats_url_env_bare);
	free(d.config_path);
	reload_close();
	config_free(d.cfg);
	log_info("stopped");
	return d.exit_code;
}
