/*
 * listener.h: the life of one supervised process, as a pure state machine.
 *
 * Every decision the supervisor makes about a listener (spawn, signal its
 * group, wait, back off, give up) comes out of lst_step(): one function,
 * driven by events and a monotonic clock passed in by the caller.  It
 * performs no I/O; it returns actions for the loop to carry out, sets the
 * single deadline the loop must arm, and leaves a reason for the log.  The
 * unit tests drive it with a fake clock through every state x event pair.
 */
#ifndef NV_LISTENER_H
#define NV_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

enum lst_state {
	LST_STOPPED,
	LST_STARTING,
	LST_RUNNING,
	LST_STOPPING,
	LST_BACKOFF,
	LST_EXITED,
	LST_FATAL,
	LST_NSTATES
};

enum lst_health {
	HEALTH_PENDING,
	HEALTH_READY,
	HEALTH_NOT_READY,
	HEALTH_UNHEALTHY,
	HEALTH_UNKNOWN,
};

enum lst_event {
	EV_START,         /* operator start, autostart, requirements met */
	EV_STOP,          /* operator stop, daemon shutdown, removal */
	EV_RESTART,       /* operator restart: stop, then start at once */
	EV_SPAWNED,       /* fork succeeded: data.pid */
	EV_SPAWN_FAILED,  /* nothing started, or exec failed: data.err */
	EV_EXIT,          /* main process reaped: data.status, data.group_alive */
	EV_GROUP_GONE,    /* the process group has no member left */
	EV_PONG,          /* reply: data.ready, data.reason */
	EV_MISS,          /* ping timed out or no responders: data.no_responders */
	EV_DEADLINE,      /* the deadline set by the previous step passed */
	EV_BUS_DOWN,      /* the daemon's NATS connection was lost */
	EV_BUS_UP,        /* ... and is back */
	LST_NEVENTS
};

/* Actions for the loop, as bits of lst_step()'s result. */
enum {
	ACT_SPAWN = 1 << 0,      /* spawn a new incarnation now */
	ACT_SIGNAL_GROUP = 1 << 1, /* send stop_signal (and SIGCONT) to the group */
	ACT_KILL_GROUP = 1 << 2, /* send SIGKILL to the group (logged with
				    ACT_LOG) */
	ACT_PING = 1 << 3,       /* (re)start pinging: fast while starting */
	ACT_PING_STOP = 1 << 4,  /* stop pinging: no live incarnation */
	ACT_READY_CHANGED = 1 << 5, /* lst_is_ready() may have changed */
	ACT_ESSENTIAL_FATAL = 1 << 6, /* an essential listener went fatal */
	ACT_LOG = 1 << 7,        /* state or health changed: log the reason */
};

/* What happens once the stopping group is gone. */
enum lst_after {
	AFTER_STOPPED,  /* stay stopped */
	AFTER_START,    /* start at once (restart, or start during stop) */
	AFTER_DECIDE,   /* apply the restart policy to the recorded outcome */
};

struct lst_event_data {
	int pid;            /* EV_SPAWNED */
	int status;         /* EV_EXIT: wait status */
	bool group_alive;   /* EV_EXIT: other members remain in the group */
	bool ready;         /* EV_PONG */
	const char *reason; /* EV_PONG (not ready), EV_SPAWN_FAILED */
	bool no_responders; /* EV_MISS */
	bool spawn_error;   /* EV_EXIT: the exec-error pipe reported a failure */
};

#define LST_REASON_MAX 200
/* After stop_timeout's SIGKILL, the group is sent SIGKILL again this
 * often (or every stop_timeout, when longer) until it is gone. */
#define KILL_AGAIN_MS 1000

struct lst {
	const struct nv_listener_conf *conf;
	enum lst_state state;
	enum lst_health health;
	bool connected;     /* the daemon's bus is up */
	bool was_connected; /* ... and has been before (for log wording) */
	int pid;            /* main process, 0 once reaped */
	int pgid;           /* process group, 0 when none is left */
	uint64_t since;     /* entered the current state */
	uint64_t spawned_at;
	uint64_t ready_since; /* 0: not ready */
	uint64_t last_pong;
	uint64_t deadline;  /* 0: none; else the loop arms a timer for it */
	unsigned misses;    /* consecutive missed pings while running */
	uint64_t recover_until; /* running, the bus is back, no ready reply
			     * yet: misses do not count and pings are fast
			     * until then (0: not recovering) */
	unsigned backoff_k; /* consecutive restarts (for the delay) */
	uint64_t *restarts; /* times of recent restarts, ring of max_restarts */
	unsigned nrestarts_ring, ring_head;
	unsigned long restarts_total;
	unsigned long spawns;
	uint64_t incarnation;
	enum lst_after after;
	bool killed;        /* we sent SIGKILL to this incarnation */
	bool failed;        /* the incarnation being stopped counts as failed */
	bool spawn_error;   /* the last start failed before exec completed */
	bool want;          /* operator/autostart wants it running */
	int last_exit;      /* last exit code, -1 if none */
	int last_signal;    /* last terminating signal, 0 if none */
	uint32_t rng;       /* xorshift state for jitter */
	char reason[LST_REASON_MAX];
};

/* Initialise L for CONF (stopped, not connected).  Allocates the restart
 * ring; lst_free() releases it. */
int lst_init(struct lst *l, const struct nv_listener_conf *conf,
	     uint32_t seed);
void lst_free(struct lst *l);
/* Switch to a new configuration without touching the process (reload). */
int lst_reconf(struct lst *l, const struct nv_listener_conf *conf);

/* Apply EV at time NOW (ms, monotonic).  Returns ACT_* bits. */
unsigned lst_step(struct lst *l, enum lst_event ev,
		  const struct lst_event_data *d, uint64_t now);

/* Ready: running, latest reply said ready, and the bus is connected. */
bool lst_is_ready(const struct lst *l);
/* Cannot become ready without an operator: stopped, exited, fatal, or
 * backing off after a spawn error. */
bool lst_cannot_become_ready(const struct lst *l);
/* A live process exists (starting, running, or stopping). */
bool lst_is_live(const struct lst *l);
/* Ping on the fast schedule: starting, or recovering after the daemon's
 * connection came back, at NOW. */
bool lst_fast_pings(const struct lst *l, uint64_t now);

/* The delay before the K-th consecutive restart, jitter applied with R in
 * [0,1): min(max, initial * factor^(k-1)) * (1 + jitter * (2R - 1)). */
uint64_t backoff_delay(const struct nv_listener_conf *c, unsigned k, double r);

const char *lst_state_name(enum lst_state s);
const char *lst_health_name(enum lst_health h);
const char *lst_event_name(enum lst_event e);

#endif
