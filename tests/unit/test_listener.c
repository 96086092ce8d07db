/*
 * test_listener.c: the listener state machine under a fake clock.
 *
 * First every state x event pair is driven from a constructed state and
 * checked against the contract's invariants (no crash, no spawn while a
 * process lives, no kill without a process); then the scenarios of the
 * field cases (R06, R07, R14, R16 timings) are replayed step by step.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "listener.h"
#include "t.h"

static struct nv_listener_conf conf;

static void conf_defaults(void)
{
	memset(&conf, 0, sizeof(conf));
	conf.name = "x";
	conf.base = "x";
	conf.instance = -1;
	conf.ready_timeout_ms = 30000;
	conf.health_interval_ms = 5000;
	conf.health_timeout_ms = 1000;
	conf.health_failures = 3;
	conf.stop_signal = SIGTERM;
	conf.stop_timeout_ms = 10000;
	conf.autostart = true;
	conf.restart = NV_RESTART_ALWAYS;
	conf.success_exit[0] = 1; /* exit code 0 */
	conf.backoff_initial_ms = 100;
	conf.backoff_factor = 2;
	conf.backoff_max_ms = 30000;
	conf.backoff_jitter = 0;
	conf.backoff_reset_ms = 60000;
	conf.max_restarts = 0;
	conf.restart_window_ms = 60000;
}

static int exited(int code)
{
	return (code & 0xff) << 8;
}

static int signaled(int sig)
{
	return sig & 0x7f;
}

/* Spawn at NOW and return the actions of EV_SPAWNED. */
static unsigned spawn(struct lst *l, int pid, uint64_t now)
{
	struct lst_event_data d = { .pid = pid };
	return lst_step(l, EV_SPAWNED, &d, now);
}

static unsigned pong(struct lst *l, bool ready, uint64_t now)
{
	struct lst_event_data d = { .ready = ready, .reason = "warming up" };
	return lst_step(l, EV_PONG, &d, now);
}

static unsigned die(struct lst *l, int status, bool group, uint64_t now)
{
	struct lst_event_data d = { .status = status, .group_alive = group };
	return lst_step(l, EV_EXIT, &d, now);
}

static unsigned miss(struct lst *l, bool nr, uint64_t now)
{
	struct lst_event_data d = { .no_responders = nr };
	return lst_step(l, EV_MISS, &d, now);
}

/* Put a fresh machine into state S (connected). */
static void make_state(struct lst *l, enum lst_state s)
{
	lst_init(l, &conf, 1);
	lst_step(l, EV_BUS_UP, NULL, 0);
	switch (s) {
	case LST_STOPPED:
		break;
	case LST_STARTING:
		lst_step(l, EV_START, NULL, 0);
		spawn(l, 100, 0);
		break;
	case LST_RUNNING:
		lst_step(l, EV_START, NULL, 0);
		spawn(l, 100, 0);
		pong(l, true, 5);
		break;
	case LST_STOPPING:
		lst_step(l, EV_START, NULL, 0);
		spawn(l, 100, 0);
		lst_step(l, EV_STOP, NULL, 10);
		break;
	case LST_BACKOFF:
		lst_step(l, EV_START, NULL, 0);
		spawn(l, 100, 0);
		die(l, exited(1), false, 10);
		break;
	case LST_EXITED:
		conf.restart = NV_RESTART_NEVER;
		lst_step(l, EV_START, NULL, 0);
		spawn(l, 100, 0);
		die(l, exited(0), false, 10);
		conf.restart = NV_RESTART_ALWAYS;
		break;
	case LST_FATAL:
		conf.max_restarts = 1;
		lst_free(l);
		lst_init(l, &conf, 1);
		lst_step(l, EV_BUS_UP, NULL, 0);
		lst_step(l, EV_START, NULL, 0);
		spawn(l, 100, 0);
		die(l, exited(1), false, 10);
		lst_step(l, EV_DEADLINE, NULL, 200);
		spawn(l, 101, 200);
		die(l, exited(1), false, 210);
		conf.max_restarts = 0;
		break;
	default:
		break;
	}
}

/* Every state x event pair: invariants only. */
static void test_all_pairs(void)
{
	for (int s = 0; s < LST_NSTATES; s++) {
		for (int e = 0; e < LST_NEVENTS; e++) {
			struct lst l;
			conf_defaults();
			make_state(&l, (enum lst_state)s);
			CHECK_INT(l.state, s);
			bool live = lst_is_live(&l);
			struct lst_event_data d = { .pid = 200,
						    .status = exited(1),
						    .ready = true };
			uint64_t now = l.deadline ? l.deadline : 50000;
			unsigned a = lst_step(&l, (enum lst_event)e, &d, now);
			/* Never spawn over a live incarnation. */
			if (live && e != EV_EXIT && e != EV_GROUP_GONE)
				CHECK(!(a & ACT_SPAWN));
			/* Never signal a group we do not have. */
			if (!live)
				CHECK(!(a & (ACT_SIGNAL_GROUP | ACT_KILL_GROUP)));
			/* Ready implies running and connected. */
			if (lst_is_ready(&l))
				CHECK(l.state == LST_RUNNING && l.connected);
			CHECK(lst_state_name(l.state)[0] != '?');
			lst_free(&l);
		}
	}
}

/* R06: crash loop with a cap, then fatal after max_restarts; start revives. */
static void test_crash_loop_fatal(void)
{
	struct lst l;
	conf_defaults();
	conf.backoff_max_ms = 400;
	conf.max_restarts = 3;
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	uint64_t t = 0;
	unsigned a = lst_step(&l, EV_START, NULL, t);
	CHECK(a & ACT_SPAWN);
	uint64_t expect[] = { 100, 200, 400 };
	int spawns = 0;
	for (int i = 0; i < 3; i++) {
		spawn(&l, 10 + i, t);
		spawns++;
		a = die(&l, exited(1), false, t + 1);
		CHECK_INT(l.state, LST_BACKOFF);
		CHECK_INT(l.deadline - (t + 1), expect[i]);
		t = l.deadline;
		a = lst_step(&l, EV_DEADLINE, NULL, t);
		CHECK(a & ACT_SPAWN);
	}
	spawn(&l, 20, t);
	spawns++;
	a = die(&l, exited(1), false, t + 1);
	CHECK_INT(spawns, 4);
	CHECK_INT(l.state, LST_FATAL);
	CHECK_INT(l.last_exit, 1);
	CHECK(lst_cannot_become_ready(&l));
	CHECK(!(a & ACT_ESSENTIAL_FATAL));
	/* An operator start revives it with a fresh count. */
	a = lst_step(&l, EV_START, NULL, t + 10);
	CHECK(a & ACT_SPAWN);
	spawn(&l, 21, t + 10);
	die(&l, exited(1), false, t + 11);
	CHECK_INT(l.state, LST_BACKOFF);
	CHECK_INT(l.deadline - (t + 11), 100);
	lst_free(&l);

	/* The same limit on an essential listener asks for shutdown. */
	conf_defaults();
	conf.max_restarts = 1;
	conf.essential = true;
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 1, 0);
	die(&l, exited(1), false, 1);
	lst_step(&l, EV_DEADLINE, NULL, l.deadline);
	spawn(&l, 2, 200);
	a = die(&l, exited(1), false, 201);
	CHECK_INT(l.state, LST_FATAL);
	CHECK(a & ACT_ESSENTIAL_FATAL);
	lst_free(&l);
}

/* The backoff delay: growth, cap, jitter bounds. */
static void test_backoff(void)
{
	conf_defaults();
	conf.backoff_initial_ms = 100;
	conf.backoff_factor = 2;
	conf.backoff_max_ms = 1000;
	CHECK_INT(backoff_delay(&conf, 1, 0.5), 100);
	CHECK_INT(backoff_delay(&conf, 2, 0.5), 200);
	CHECK_INT(backoff_delay(&conf, 4, 0.5), 800);
	CHECK_INT(backoff_delay(&conf, 5, 0.5), 1000);
	CHECK_INT(backoff_delay(&conf, 500, 0.5), 1000);
	conf.backoff_jitter = 0.1;
	CHECK_INT(backoff_delay(&conf, 1, 0.0), 90);
	CHECK_INT(backoff_delay(&conf, 1, 0.999999), 110);
	conf.backoff_initial_ms = 0;
	CHECK_INT(backoff_delay(&conf, 3, 0.3), 0);
}

/* R07: restart policies and success codes. */
static void test_policies(void)
{
	struct {
		enum nv_restart policy;
		int status;
		bool code3_ok;
		enum lst_state want;
	} cases[] = {
		{ NV_RESTART_ON_FAILURE, 2, false, LST_BACKOFF },
		{ NV_RESTART_ON_FAILURE, 0, false, LST_EXITED },
		{ NV_RESTART_ON_FAILURE, 3, true, LST_EXITED },
		{ NV_RESTART_ON_FAILURE, -SIGSEGV, false, LST_BACKOFF },
		{ NV_RESTART_ON_FAILURE, -SIGKILL, false, LST_BACKOFF },
		{ NV_RESTART_NEVER, 2, false, LST_EXITED },
		{ NV_RESTART_NEVER, -SIGKILL, false, LST_EXITED },
		{ NV_RESTART_ALWAYS, 0, false, LST_BACKOFF },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lst l;
		conf_defaults();
		conf.restart = cases[i].policy;
		if (cases[i].code3_ok)
			conf.success_exit[0] |= 1 << 3;
		lst_init(&l, &conf, 1);
		lst_step(&l, EV_BUS_UP, NULL, 0);
		lst_step(&l, EV_START, NULL, 0);
		spawn(&l, 5, 0);
		pong(&l, true, 10); /* it did listen */
		int st = cases[i].status < 0 ? signaled(-cases[i].status)
					     : exited(cases[i].status);
		die(&l, st, false, 500);
		CHECK_INT(l.state, cases[i].want);
		if (cases[i].status < 0) {
			CHECK_INT(l.last_signal, -cases[i].status);
			CHECK_INT(l.last_exit, -1);
		} else {
			CHECK_INT(l.last_exit, cases[i].status);
			CHECK_INT(l.last_signal, 0);
		}
		lst_free(&l);
	}
	/* R07: on-failure judges the exit status even when the process never
	 * answered a ping: exit 0 (or a success code) is not restarted, any
	 * other code is. */
	for (int code = 0; code < 4; code++) {
		struct lst l;
		conf_defaults();
		conf.restart = NV_RESTART_ON_FAILURE;
		conf.success_exit[0] |= 1 << 3;
		lst_init(&l, &conf, 1);
		lst_step(&l, EV_BUS_UP, NULL, 0);
		lst_step(&l, EV_START, NULL, 0);
		spawn(&l, 5, 0);
		die(&l, exited(code), false, 500);
		CHECK_INT(l.state, code == 0 || code == 3 ? LST_EXITED
							  : LST_BACKOFF);
		CHECK_INT(l.last_exit, code);
		lst_free(&l);
	}
	/* A kill for missed pings is a failure under on-failure. */
	struct lst l;
	conf_defaults();
	conf.restart = NV_RESTART_ON_FAILURE;
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 5, 0);
	pong(&l, true, 10);
	miss(&l, false, 6000);
	miss(&l, false, 12000);
	unsigned a = miss(&l, false, 18000);
	CHECK(a & ACT_SIGNAL_GROUP);
	CHECK_INT(l.state, LST_STOPPING);
	die(&l, signaled(SIGTERM), false, 18010);
	CHECK_INT(l.state, LST_BACKOFF);
	lst_free(&l);
}

/* R14: no responders while starting is not a miss; ready_timeout is. */
static void test_health(void)
{
	struct lst l;
	conf_defaults();
	conf.ready_timeout_ms = 10000;
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 5, 0);
	CHECK_INT(l.deadline, 10000);
	for (int i = 0; i < 50; i++)
		CHECK_INT(miss(&l, true, (uint64_t)i * 10), 0);
	CHECK_INT(l.state, LST_STARTING);
	CHECK(strstr(l.reason, "no responders") != NULL);
	unsigned a = lst_step(&l, EV_DEADLINE, NULL, 10000);
	CHECK(a & ACT_SIGNAL_GROUP);
	CHECK_INT(l.state, LST_STOPPING);
	/* It ignores SIGTERM: SIGKILL after stop_timeout. */
	a = lst_step(&l, EV_DEADLINE, NULL, l.deadline);
	CHECK(a & ACT_KILL_GROUP);
	die(&l, signaled(SIGKILL), false, 20001);
	CHECK_INT(l.state, LST_BACKOFF);
	lst_free(&l);

	/* stop_timeout = 0: SIGKILL at once, logged once, then again no
	 * sooner than KILL_AGAIN_MS (a zero period would spin the loop). */
	conf_defaults();
	conf.stop_timeout_ms = 0;
	make_state(&l, LST_STOPPING); /* stopped at 10 */
	CHECK_INT(l.state, LST_STOPPING);
	CHECK_INT(l.deadline, 10);
	a = lst_step(&l, EV_DEADLINE, NULL, 10);
	CHECK((a & ACT_KILL_GROUP) && (a & ACT_LOG));
	CHECK_INT(l.deadline, 10 + KILL_AGAIN_MS);
	CHECK_INT(lst_step(&l, EV_DEADLINE, NULL, 10), 0);
	a = lst_step(&l, EV_DEADLINE, NULL, 10 + KILL_AGAIN_MS);
	CHECK(a == ACT_KILL_GROUP);
	CHECK_INT(l.deadline, 10 + 2 * KILL_AGAIN_MS);
	die(&l, signaled(SIGKILL), false, 2200);
	CHECK_INT(l.state, LST_STOPPED);
	lst_free(&l);

	/* Running: not-ready replies never kill; misses do, at the count. */
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 5, 0);
	pong(&l, false, 1);
	CHECK_INT(l.state, LST_RUNNING);
	CHECK_INT(l.health, HEALTH_NOT_READY);
	CHECK(!lst_is_ready(&l));
	for (int i = 0; i < 100; i++)
		CHECK(!(pong(&l, false, 2 + (uint64_t)i) & ACT_SIGNAL_GROUP));
	pong(&l, true, 200);
	CHECK(lst_is_ready(&l));
	CHECK(!(miss(&l, false, 300) & ACT_SIGNAL_GROUP));
	CHECK_INT(l.health, HEALTH_UNHEALTHY);
	CHECK(!lst_is_ready(&l));
	pong(&l, true, 400); /* a reply resets the count */
	CHECK_INT(l.misses, 0);
	miss(&l, false, 500);
	miss(&l, false, 600);
	CHECK(miss(&l, false, 700) & ACT_SIGNAL_GROUP);
	lst_free(&l);
}

/* R16: a bus outage makes health unknown and kills nobody. */
static void test_bus_outage(void)
{
	struct lst l;
	conf_defaults();
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 5, 0);
	pong(&l, true, 10);
	CHECK(lst_is_ready(&l));
	lst_step(&l, EV_BUS_DOWN, NULL, 100);
	CHECK(!lst_is_ready(&l));
	CHECK_INT(l.health, HEALTH_UNKNOWN);
	for (int i = 0; i < 10; i++)
		CHECK_INT(miss(&l, false, 200 + (uint64_t)i) & ACT_SIGNAL_GROUP,
			  0);
	CHECK_INT(l.state, LST_RUNNING);
	CHECK(lst_step(&l, EV_BUS_UP, NULL, 5000) & ACT_PING);
	pong(&l, true, 5001);
	CHECK(lst_is_ready(&l));
	CHECK_INT(l.pid, 5);
	CHECK(!lst_fast_pings(&l, 5002));
	lst_free(&l);

	/* Back from an outage before the listener: its misses do not count
	 * and it is pinged fast, until a ready reply or ready_timeout. */
	conf_defaults();
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 7, 0);
	pong(&l, true, 10);
	lst_step(&l, EV_BUS_DOWN, NULL, 100);
	CHECK(!lst_fast_pings(&l, 150));
	CHECK(lst_step(&l, EV_BUS_UP, NULL, 5000) & ACT_READY_CHANGED);
	CHECK_INT(l.health, HEALTH_PENDING);
	CHECK(!lst_is_ready(&l));
	CHECK(lst_fast_pings(&l, 5001));
	for (int i = 0; i < 20; i++)
		CHECK_INT(miss(&l, true, 5001 + (uint64_t)i) &
				  (ACT_SIGNAL_GROUP | ACT_READY_CHANGED),
			  0);
	CHECK_INT(l.misses, 0);
	CHECK(strstr(l.reason, "no responders since NATS came back") != NULL);
	pong(&l, false, 5100); /* "reconnecting": still fast */
	CHECK(lst_fast_pings(&l, 5101));
	CHECK_INT(l.health, HEALTH_NOT_READY);
	pong(&l, true, 5110);
	CHECK(lst_is_ready(&l));
	CHECK(!lst_fast_pings(&l, 5111));
	CHECK_INT(miss(&l, true, 10000) & ACT_READY_CHANGED, ACT_READY_CHANGED);
	CHECK_INT(l.misses, 1);
	lst_free(&l);

	/* ... and when it never answers, misses count after ready_timeout. */
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 8, 0);
	pong(&l, true, 10);
	lst_step(&l, EV_BUS_DOWN, NULL, 100);
	lst_step(&l, EV_BUS_UP, NULL, 1000);
	miss(&l, true, 1000 + conf.ready_timeout_ms - 1);
	CHECK_INT(l.misses, 0);
	CHECK(!lst_fast_pings(&l, 1000 + conf.ready_timeout_ms));
	miss(&l, true, 1000 + conf.ready_timeout_ms);
	miss(&l, true, 1000 + conf.ready_timeout_ms + 5000);
	CHECK(miss(&l, true, 1000 + conf.ready_timeout_ms + 10000) &
	      ACT_SIGNAL_GROUP);
	lst_free(&l);

	/* Exited before the bus came up: its health is no longer unknown
	 * once the bus is up (there is nothing to ask). */
	conf_defaults();
	conf.restart = NV_RESTART_NEVER;
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 9, 0);
	die(&l, exited(0), false, 50);
	CHECK_INT(l.state, LST_EXITED);
	CHECK_INT(l.health, HEALTH_UNKNOWN);
	lst_step(&l, EV_BUS_UP, NULL, 100);
	CHECK_INT(l.health, HEALTH_PENDING);
	lst_free(&l);
	conf_defaults();

	/* Started before the server: ready_timeout waits for the bus. */
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 6, 0);
	CHECK_INT(l.deadline, 0);
	CHECK_INT(l.health, HEALTH_UNKNOWN);
	lst_step(&l, EV_BUS_UP, NULL, 100000);
	CHECK_INT(l.deadline, 100000 + conf.ready_timeout_ms);
	pong(&l, true, 100005);
	CHECK(lst_is_ready(&l));
	lst_free(&l);
}

/* Exit with the group still alive: cleanup before the next incarnation. */
static void test_group_cleanup(void)
{
	struct lst l;
	conf_defaults();
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 7, 0);
	pong(&l, true, 5);
	unsigned a = die(&l, signaled(SIGKILL), true, 100);
	CHECK(a & ACT_SIGNAL_GROUP);
	CHECK(!(a & ACT_SPAWN));
	CHECK_INT(l.state, LST_STOPPING);
	CHECK_INT(l.pid, 0);
	CHECK_INT(l.pgid, 7);
	CHECK(lst_is_live(&l));
	a = lst_step(&l, EV_GROUP_GONE, NULL, 150);
	CHECK_INT(l.state, LST_BACKOFF);
	CHECK(!lst_is_live(&l));
	lst_free(&l);

	/* Operator stop during start; restart; start while stopping. */
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 8, 0);
	a = lst_step(&l, EV_STOP, NULL, 50);
	CHECK(a & ACT_SIGNAL_GROUP);
	CHECK(!l.want);
	CHECK(lst_cannot_become_ready(&l) == false); /* still stopping */
	a = die(&l, signaled(SIGTERM), false, 60);
	CHECK_INT(l.state, LST_STOPPED);
	CHECK(lst_cannot_become_ready(&l));
	CHECK(!(a & ACT_SPAWN));
	lst_step(&l, EV_START, NULL, 70);
	spawn(&l, 9, 70);
	pong(&l, true, 80);
	a = lst_step(&l, EV_RESTART, NULL, 90);
	CHECK(a & ACT_SIGNAL_GROUP);
	a = die(&l, signaled(SIGTERM), false, 95);
	CHECK(a & ACT_SPAWN);
	CHECK_INT(l.restarts_total, 0);
	lst_free(&l);
}

/* A start that exits 0 at once under restart = always counts as a failed
 * start; the backoff resets only after backoff_reset of readiness. */
static void test_reset(void)
{
	struct lst l;
	conf_defaults();
	conf.backoff_reset_ms = 1000;
	lst_init(&l, &conf, 1);
	lst_step(&l, EV_BUS_UP, NULL, 0);
	lst_step(&l, EV_START, NULL, 0);
	spawn(&l, 1, 0);
	die(&l, exited(0), false, 1);
	CHECK_INT(l.state, LST_BACKOFF);
	CHECK_INT(l.backoff_k, 1);
	CHECK_INT(l.restarts_total, 1);
	lst_step(&l, EV_DEADLINE, NULL, l.deadline);
	spawn(&l, 2, 200);
	pong(&l, true, 210);
	die(&l, exited(1), false, 500); /* ready only 290 ms */
	CHECK_INT(l.backoff_k, 2);
	lst_step(&l, EV_DEADLINE, NULL, l.deadline);
	spawn(&l, 3, 1000);
	pong(&l, true, 1010);
	pong(&l, true, 2100); /* ready for 1090 ms: reset */
	CHECK_INT(l.backoff_k, 0);
	die(&l, exited(1), false, 2200);
	CHECK_INT(l.deadline - 2200, 100);
	lst_free(&l);
}

int main(void)
{
	test_all_pairs();
	test_crash_loop_fatal();
	test_backoff();
	test_policies();
	test_health();
	test_bus_outage();
	test_group_cleanup();
	test_reset();
	return t_done("test_listener");
}
