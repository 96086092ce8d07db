/*
 * listener.c: the per-listener state machine (see listener.h).
 *
 * The rules come from DESIGN.md's lifecycle contract.  The points that
 * naive supervisors get wrong, and where this code is deliberate:
 *  - an incarnation ends only when its whole process group is gone, so two
 *    incarnations never overlap (a leftover would hold subscriptions twice);
 *  - missed pings count only while running and connected; while starting,
 *    only ready_timeout applies, and it is suspended while the daemon's own
 *    NATS connection is down (a broker outage never causes restarts);
 *  - when that connection comes back, a running listener may not have
 *    reconnected yet: for up to ready_timeout, until it answers ready, its
 *    misses do not count and it is pinged as often as a starting one, so
 *    readiness returns within milliseconds of its own reconnect;
 *  - every restart counts for the backoff and the restart limit, whether
 *    or not the incarnation ever answered a ping (a start that exits 0 at
 *    once under restart = always is a crash loop like any other); the
 *    on-failure policy judges the outcome only: the exit status against
 *    success_exit_codes, a signal, or a stop for missed pings or
 *    ready_timeout (case R07: exit 0 before the first pong is a success);
 *  - the restart policy is applied once, when the incarnation is fully gone.
 */
#include "listener.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "parse.h"

static const char *const state_names[LST_NSTATES] = {
	"stopped", "starting", "running", "stopping",
	"backoff", "exited",   "fatal",
};

static const char *const health_names[] = {
	"pending", "ready", "not-ready", "unhealthy", "unknown",
};

static const char *const event_names[LST_NEVENTS] = {
	"start", "stop",  "restart", "spawned",  "spawn-failed", "exit",
	"group-gone", "pong", "miss", "deadline", "bus-down", "bus-up",
};

const char *lst_state_name(enum lst_state s)
{
	return (unsigned)s < LST_NSTATES ? state_names[s] : "?";
}

const char *lst_health_name(enum lst_health h)
{
	return (unsigned)h <= HEALTH_UNKNOWN ? health_names[h] : "?";
}

const char *lst_event_name(enum lst_event e)
{
	return (unsigned)e < LST_NEVENTS ? event_names[e] : "?";
}

/* Allocate the restart ring for CONF's max_restarts (none when 0). */
static int lst_ring_alloc(struct lst *l)
{
	unsigned n = l->conf->max_restarts;
	free(l->restarts);
	l->restarts = NULL;
	l->nrestarts_ring = 0;
	l->ring_head = 0;
	if (n == 0)
		return 0;
	l->restarts = calloc(n, sizeof(*l->restarts));
	if (l->restarts == NULL)
		return -1;
	l->nrestarts_ring = n;
	return 0;
}

int lst_init(struct lst *l, const struct nv_listener_conf *conf, uint32_t seed)
{
	memset(l, 0, sizeof(*l));
	l->conf = conf;
	l->state = LST_STOPPED;
	l->health = HEALTH_PENDING;
	l->last_exit = -1;
	l->rng = seed ? seed : 0x9e3779b9u;
	snprintf(l->reason, sizeof(l->reason), "not started");
	return lst_ring_alloc(l);
}

void lst_free(struct lst *l)
{
	free(l->restarts);
	l->restarts = NULL;
}

int lst_reconf(struct lst *l, const struct nv_listener_conf *conf)
{
	unsigned old = l->conf->max_restarts;
	l->conf = conf;
	if (conf->max_restarts != old)
		return lst_ring_alloc(l);
	return 0;
}

/* Record why the last transition happened. */
static void lst_reason(struct lst *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void lst_reason(struct lst *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
	va_end(ap);
}

static void lst_set_state(struct lst *l, enum lst_state s, uint64_t now)
{
	if (l->state != s) {
		l->state = s;
		l->since = now;
	}
}

/* A uniform double in [0,1) from the listener's xorshift generator. */
static double lst_random(struct lst *l)
{
	uint32_t x = l->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	l->rng = x;
	return (double)x / 4294967296.0;
}

uint64_t backoff_delay(const struct nv_listener_conf *c, unsigned k, double r)
{
	double d = (double)c->backoff_initial_ms;
	double max = (double)c->backoff_max_ms;
	for (unsigned i = 1; i < k && d < max; i++)
		d *= c->backoff_factor;
	if (d > max)
		d = max;
	d *= 1.0 + c->backoff_jitter * (2.0 * r - 1.0);
	if (d < 0)
		d = 0;
	return (uint64_t)(d + 0.5);
}

/* True when STATUS is an exit with a code listed in success_exit_codes. */
static bool lst_success(const struct nv_listener_conf *c, int status)
{
	if (!WIFEXITED(status))
		return false;
	int code = WEXITSTATUS(status);
	return (c->success_exit[code / 8] >> (code % 8)) & 1;
}

/* Forget every recorded restart: an operator start gives a fresh count. */
static void lst_reset_count(struct lst *l)
{
	l->backoff_k = 0;
	l->ring_head = 0;
	if (l->restarts)
		memset(l->restarts, 0, l->nrestarts_ring * sizeof(*l->restarts));
}

/* Count a restart at NOW; false if it exceeds max_restarts in the window. */
static bool lst_count_restart(struct lst *l, uint64_t now)
{
	if (l->nrestarts_ring > 0) {
		/* The ring holds the last max_restarts restart times; when its
		 * oldest is still inside the window, one more is too many. */
		uint64_t oldest = l->restarts[l->ring_head];
		if (oldest != 0 && now - oldest < l->conf->restart_window_ms)
			return false;
		l->restarts[l->ring_head] = now ? now : 1;
		l->ring_head = (l->ring_head + 1) % l->nrestarts_ring;
	}
	l->restarts_total++;
	return true;
}

/* The incarnation is over: apply the restart policy to its outcome. */
static unsigned lst_decide(struct lst *l, uint64_t now)
{
	const struct nv_listener_conf *c = l->conf;
	bool restart;
	char what[LST_REASON_MAX];

	snprintf(what, sizeof(what), "%s", l->reason);
	switch (c->restart) {
	case NV_RESTART_ALWAYS:
		restart = true;
		break;
	case NV_RESTART_ON_FAILURE:
		restart = l->failed;
		break;
	default:
		restart = false;
		break;
	}
	l->deadline = 0;
	if (!restart) {
		lst_set_state(l, LST_EXITED, now);
		lst_reason(l, "%.150s; not restarted (restart = %s)", what,
			   c->restart == NV_RESTART_NEVER ? "never"
							  : "on-failure");
		return ACT_LOG | ACT_READY_CHANGED | ACT_PING_STOP;
	}
	if (!lst_count_restart(l, now)) {
		lst_set_state(l, LST_FATAL, now);
		lst_reason(l, "%.120s; gave up after %u restart%s within %s",
			   what, c->max_restarts, c->max_restarts == 1 ? "" : "s",
			   format_duration(c->restart_window_ms));
		return ACT_LOG | ACT_READY_CHANGED | ACT_PING_STOP |
		       (c->essential ? ACT_ESSENTIAL_FATAL : 0);
	}
	l->backoff_k++;
	uint64_t delay = backoff_delay(c, l->backoff_k, lst_random(l));
	lst_set_state(l, LST_BACKOFF, now);
	l->deadline = now + delay;
	lst_reason(l, "%.150s; restarting in %s", what, format_duration(delay));
	return ACT_LOG | ACT_READY_CHANGED | ACT_PING_STOP;
}

/* No process of the incarnation is left: move on as AFTER says. */
static unsigned lst_end(struct lst *l, uint64_t now)
{
	l->pid = 0;
	l->pgid = 0;
	l->ready_since = 0;
	l->health = l->connected ? HEALTH_PENDING : HEALTH_UNKNOWN;
	switch (l->after) {
	case AFTER_START:
		l->deadline = 0;
		lst_set_state(l, LST_STOPPED, now);
		return ACT_SPAWN | ACT_LOG | ACT_READY_CHANGED | ACT_PING_STOP;
	case AFTER_DECIDE:
		return lst_decide(l, now);
	default:
		l->deadline = 0;
		lst_set_state(l, LST_STOPPED, now);
		lst_reason(l, "stopped");
		return ACT_LOG | ACT_READY_CHANGED | ACT_PING_STOP;
	}
}

/* Ask the live incarnation to stop: stop_signal now, SIGKILL later. */
static unsigned lst_begin_stop(struct lst *l, enum lst_after after,
			       uint64_t now)
{
	l->after = after;
	l->ready_since = 0;
	lst_set_state(l, LST_STOPPING, now);
	l->deadline = now + l->conf->stop_timeout_ms;
	return ACT_SIGNAL_GROUP | ACT_PING_STOP | ACT_READY_CHANGED | ACT_LOG;
}

/* Describe a wait status for the reason line. */
static void lst_describe_exit(struct lst *l, int status)
{
	if (WIFSIGNALED(status)) {
		l->last_exit = -1;
		l->last_signal = WTERMSIG(status);
		lst_reason(l, "killed by signal %s",
			   signal_name(l->last_signal));
	} else {
		l->last_exit = WEXITSTATUS(status);
		l->last_signal = 0;
		lst_reason(l, "exited with status %d", l->last_exit);
	}
}

/* EV_EXIT: the main process was reaped. */
static unsigned lst_on_exit(struct lst *l, const struct lst_event_data *d,
			    uint64_t now)
{
	l->pid = 0;
	if (d->spawn_error) {
		l->spawn_error = true;
		l->last_exit = -1;
		l->last_signal = 0;
		lst_reason(l, "spawn error: %s", d->reason ? d->reason : "?");
	} else if (l->state == LST_STARTING || l->state == LST_RUNNING) {
		lst_describe_exit(l, d->status);
	} else {
		/* We were stopping it: keep the reason we stopped it for. */
		if (WIFSIGNALED(d->status)) {
			l->last_exit = -1;
			l->last_signal = WTERMSIG(d->status);
		} else {
			l->last_exit = WEXITSTATUS(d->status);
			l->last_signal = 0;
		}
	}

	switch (l->state) {
	case LST_STARTING:
	case LST_RUNNING:
		/* Ended on its own: the status alone says whether it failed
		 * (restart = on-failure); the restart is counted either way. */
		l->failed = d->spawn_error || !lst_success(l->conf, d->status);
		if (l->ready_since &&
		    now - l->ready_since >= l->conf->backoff_reset_ms)
			l->backoff_k = 0;
		l->ready_since = 0;
		l->after = AFTER_DECIDE;
		if (d->group_alive) {
			lst_set_state(l, LST_STOPPING, now);
			l->deadline = now + l->conf->stop_timeout_ms;
			return ACT_SIGNAL_GROUP | ACT_PING_STOP |
			       ACT_READY_CHANGED | ACT_LOG;
		}
		return lst_end(l, now);
	case LST_STOPPING:
		if (d->group_alive)
			return ACT_LOG;
		return lst_end(l, now);
	default:
		return ACT_LOG;
	}
}

/* EV_START and the start half of EV_RESTART. */
static unsigned lst_on_start(struct lst *l)
{
	l->want = true;
	switch (l->state) {
	case LST_FATAL:
	case LST_STOPPED:
	case LST_EXITED:
		lst_reset_count(l);
		/* fall through */
	case LST_BACKOFF:
		l->deadline = 0;
		return ACT_SPAWN;
	case LST_STOPPING:
		l->after = AFTER_START;
		return 0;
	default:
		return 0;
	}
}

unsigned lst_step(struct lst *l, enum lst_event ev,
		  const struct lst_event_data *d, uint64_t now)
{
	static const struct lst_event_data none;
	const struct nv_listener_conf *c = l->conf;
	if (d == NULL)
		d = &none;

	switch (ev) {
	case EV_START:
		return lst_on_start(l);

	case EV_STOP:
		l->want = false;
		switch (l->state) {
		case LST_STARTING:
		case LST_RUNNING:
			lst_reason(l, "stop requested");
			return lst_begin_stop(l, AFTER_STOPPED, now);
		case LST_STOPPING:
			l->after = AFTER_STOPPED;
			return 0;
		case LST_BACKOFF:
		case LST_EXITED:
		case LST_FATAL:
			l->deadline = 0;
			lst_set_state(l, LST_STOPPED, now);
			lst_reason(l, "stopped");
			return ACT_LOG | ACT_READY_CHANGED;
		default:
			return 0;
		}

	case EV_RESTART:
		if (l->state == LST_STARTING || l->state == LST_RUNNING) {
			l->want = true;
			lst_reason(l, "restart requested");
			return lst_begin_stop(l, AFTER_START, now);
		}
		return lst_on_start(l);

	case EV_SPAWNED:
		l->pid = d->pid;
		l->pgid = d->pid;
		l->incarnation++;
		l->spawns++;
		l->spawned_at = now;
		l->ready_since = 0;
		l->misses = 0;
		l->recover_until = 0;
		l->killed = false;
		l->failed = false;
		l->spawn_error = false;
		l->after = AFTER_DECIDE;
		l->health = l->connected ? HEALTH_PENDING : HEALTH_UNKNOWN;
		lst_set_state(l, LST_STARTING, now);
		l->deadline = l->connected ? now + c->ready_timeout_ms : 0;
		lst_reason(l, "spawned pid %d", d->pid);
		return ACT_PING | ACT_LOG | ACT_READY_CHANGED;

	case EV_SPAWN_FAILED:
		l->pid = 0;
		l->pgid = 0;
		l->spawns++;
		l->spawn_error = true;
		l->failed = true;
		l->last_exit = -1;
		l->last_signal = 0;
		l->after = AFTER_DECIDE;
		lst_reason(l, "spawn error: %s", d->reason ? d->reason : "?");
		return lst_decide(l, now);

	case EV_EXIT:
		return lst_on_exit(l, d, now);

	case EV_GROUP_GONE:
		l->pgid = 0;
		if (l->state == LST_STOPPING && l->pid == 0)
			return lst_end(l, now);
		return 0;

	case EV_PONG:
		if (l->state != LST_STARTING && l->state != LST_RUNNING)
			return 0;
		{
			enum lst_state os = l->state;
			enum lst_health oh = l->health;
			lst_set_state(l, LST_RUNNING, now);
			l->deadline = 0;
			l->misses = 0;
			l->last_pong = now;
			if (d->ready) {
				l->recover_until = 0;
				l->health = HEALTH_READY;
				if (l->ready_since == 0)
					l->ready_since = now;
				if (now - l->ready_since >= c->backoff_reset_ms)
					l->backoff_k = 0;
			} else {
				l->health = HEALTH_NOT_READY;
				l->ready_since = 0;
			}
			if (os == l->state && oh == l->health)
				return 0;
			if (d->ready)
				lst_reason(l, "ready");
			else
				lst_reason(l, "not ready: %.150s",
					   d->reason ? d->reason : "no reason");
			return ACT_LOG | ACT_READY_CHANGED;
		}

	case EV_MISS:
		if (l->state == LST_STARTING) {
			lst_reason(l, "pending: %s",
				   d->no_responders ? "no responders" : "timeout");
			return 0;
		}
		if (l->state != LST_RUNNING || !l->connected)
			return 0;
		if (l->recover_until != 0 && now < l->recover_until) {
			/* Not resubscribed yet after the outage. */
			lst_reason(l, "pending: %s since NATS came back",
				   d->no_responders ? "no responders" : "timeout");
			return 0;
		}
		l->recover_until = 0;
		l->misses++;
		l->ready_since = 0;
		{
			enum lst_health oh = l->health;
			l->health = HEALTH_UNHEALTHY;
			lst_reason(l, "missed %u ping%s (%s)", l->misses,
				   l->misses == 1 ? "" : "s",
				   d->no_responders ? "no responders" : "timeout");
			if (l->misses >= c->health_failures) {
				l->failed = true;
				lst_reason(l,
					   "stopping: %u consecutive missed pings (%s)",
					   l->misses,
					   d->no_responders ? "no responders"
							    : "timeout");
				return lst_begin_stop(l, AFTER_DECIDE, now);
			}
			return ACT_LOG | (oh != l->health ? ACT_READY_CHANGED : 0);
		}

	case EV_DEADLINE:
		if (l->deadline == 0 || now < l->deadline)
			return 0;
		switch (l->state) {
		case LST_STARTING:
			l->failed = true;
			lst_reason(l, "stopping: no reply within ready_timeout (%s)",
				   format_duration(c->ready_timeout_ms));
			return lst_begin_stop(l, AFTER_DECIDE, now);
		case LST_STOPPING: {
			/* SIGKILL, then again every KILL_AGAIN_MS (or
			 * stop_timeout, when longer) while any process of
			 * the group is left (one forked meanwhile), quietly:
			 * never a zero period, which would spin. */
			bool first = !l->killed;
			l->killed = true;
			l->deadline = now + (c->stop_timeout_ms > KILL_AGAIN_MS ?
						     c->stop_timeout_ms :
						     KILL_AGAIN_MS);
			if (!first)
				return ACT_KILL_GROUP;
			lst_reason(l, "sent SIGKILL after stop_timeout (%s)",
				   format_duration(c->stop_timeout_ms));
			return ACT_KILL_GROUP | ACT_LOG;
		}
		case LST_BACKOFF:
			l->deadline = 0;
			return ACT_SPAWN;
		default:
			l->deadline = 0;
			return 0;
		}

	case EV_BUS_DOWN:
		if (!l->connected)
			return 0;
		l->connected = false;
		if (l->state != LST_STARTING && l->state != LST_RUNNING)
			return 0;
		l->health = HEALTH_UNKNOWN;
		l->misses = 0;
		l->recover_until = 0;
		l->ready_since = 0;
		if (l->state == LST_STARTING)
			l->deadline = 0; /* ready_timeout waits for the bus */
		lst_reason(l, "NATS connection down; nothing can be concluded");
		return ACT_PING_STOP | ACT_READY_CHANGED | ACT_LOG;

	case EV_BUS_UP:
		if (l->connected)
			return 0;
		l->connected = true;
		if (l->state == LST_STARTING) {
			l->health = HEALTH_PENDING;
			l->deadline = now + c->ready_timeout_ms;
			lst_reason(l, "%s; waiting for a first reply",
				   l->was_connected ? "NATS is back"
						    : "connected to NATS");
			l->was_connected = true;
			return ACT_PING | ACT_LOG;
		}
		l->was_connected = true;
		if (l->state == LST_RUNNING) {
			/* Readiness returns with a reply, not with our
			 * connection: the listener may still be reconnecting. */
			l->health = HEALTH_PENDING;
			l->recover_until = now + c->ready_timeout_ms;
			lst_reason(l, "NATS is back; waiting for a reply");
			return ACT_PING | ACT_LOG | ACT_READY_CHANGED;
		}
		if (l->health == HEALTH_UNKNOWN)
			l->health = HEALTH_PENDING; /* no process to ask */
		return 0;

	default:
		return 0;
	}
}

bool lst_is_ready(const struct lst *l)
{
	return l->state == LST_RUNNING && l->health == HEALTH_READY &&
	       l->connected;
}

bool lst_cannot_become_ready(const struct lst *l)
{
	switch (l->state) {
	case LST_STOPPED:
		return !l->want;
	case LST_EXITED:
	case LST_FATAL:
		return true;
	case LST_BACKOFF:
		return l->spawn_error;
	default:
		return false;
	}
}

bool lst_is_live(const struct lst *l)
{
	return l->pid != 0 || l->pgid != 0;
}

bool lst_fast_pings(const struct lst *l, uint64_t now)
{
	return l->state == LST_STARTING ||
	       (l->state == LST_RUNNING && l->recover_until != 0 &&
		now < l->recover_until);
}
