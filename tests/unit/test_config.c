/*
 * test_config.c: the configuration loader through config_load_buffer and
 * real files (includes): defaults, instances, quoting and comments, the
 * R01-R04 field cases, error collection, reload comparison.
 */
#include "config.h"
#include "t.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Load TEXT named t.ini; errors joined by '\n' into *ERRS (static). */
static struct nv_config *load(const char *text, const char **errs)
{
	static char buf[8192];
	struct nv_errors e = {0};
	struct nv_config *cfg = config_load_buffer("t.ini", text, strlen(text),
						   NV_LOAD_NO_INCLUDE, &e);
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < e.n; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s",
				      i ? "\n" : "", e.msgs[i]);
	CHECK(cfg != NULL || e.n > 0);
	errors_clear(&e);
	if (errs)
		*errs = buf;
	return cfg;
}

/* The errors for TEXT (which must fail). */
static const char *fails(const char *text)
{
	const char *errs;
	struct nv_config *cfg = load(text, &errs);

	CHECK(cfg == NULL);
	config_free(cfg);
	return errs;
}

#define L "[listener:a]\ncommand = x\nsubjects = a.in\n"

/* Defaults as documented in DESIGN.md. */
static void test_defaults(void)
{
	const char *errs;
	struct nv_config *cfg = load(L, &errs);
	const struct nv_listener_conf *l;

	CHECK_STR(errs, "");
	if (!cfg)
		return;
	CHECK_INT(cfg->nnats_urls, 1);
	CHECK_STR(cfg->nats_urls[0], "nats://127.0.0.1:4222");
	CHECK_INT(cfg->startup_timeout_ms, 60000);
	CHECK(!cfg->nats_control);
	CHECK_INT(cfg->nlisteners, 1);
	l = config_find(cfg, "a");
	CHECK(l != NULL);
	if (l) {
		CHECK_STR(l->base, "a");
		CHECK_INT(l->instance, -1);
		CHECK_INT(l->ninstances, 1);
		CHECK_INT(l->ready_timeout_ms, 30000);
		CHECK_INT(l->health_interval_ms, 5000);
		CHECK_INT(l->health_timeout_ms, 1000);
		CHECK_INT(l->health_failures, 3);
		CHECK_INT(l->stop_signal, 15);
		CHECK_INT(l->stop_timeout_ms, 10000);
		CHECK(l->autostart && !l->essential && !l->shell);
		CHECK_INT(l->restart, NV_RESTART_ALWAYS);
		CHECK_INT(l->success_exit[0], 1);
		CHECK_INT(l->success_exit[1], 0);
		CHECK_INT(l->backoff_initial_ms, 100);
		CHECK(l->backoff_factor == 2.0);
		CHECK_INT(l->backoff_max_ms, 30000);
		CHECK(l->backoff_jitter == 0.1);
		CHECK_INT(l->backoff_reset_ms, 60000);
		CHECK_INT(l->max_restarts, 0);
		CHECK_INT(l->restart_window_ms, 60000);
		CHECK(!l->set_ids && l->user == NULL && l->group == NULL);
		CHECK_INT(l->umask, -1);
		CHECK_INT(l->limit_nofile, -1);
		CHECK_INT(l->limit_core, -1);
		CHECK(l->environment == NULL && !l->clear_environment);
		CHECK(l->log_file == NULL);
		CHECK_INT(l->log_max_size, 10 * 1024 * 1024);
		CHECK_INT(l->log_keep, 5);
		CHECK(l->queue_group == NULL && l->ping_subject == NULL);
		CHECK_STR(l->argv[0], "x");
		CHECK(l->argv[1] == NULL);
	}
	config_free(cfg);
}

/* [defaults], instances, shell, users, exit codes. */
static void test_features(void)
{
	const char *errs;
	struct nv_config *cfg = load(
		"[defaults]\nhealth_interval = 2s\nenvironment = A=1\n"
		"[listener:w]\ncommand = run \"a b\"\nsubjects = w.>, x.*\n"
		"instances = 3\nqueue_group = q\nsuccess_exit_codes = 0 3,4\n"
		"user = root\nrequires = s\n"
		"[listener:s]\ncommand = echo $HOME; exec x\nshell = yes\n"
		"subjects = s\nhealth_interval = 1s\nenvironment = B=2\n"
		"stop_signal = SIGINT\nlimit_core = 1M\nlimit_nofile = unlimited\n",
		&errs);
	const struct nv_listener_conf *w1, *s;

	CHECK_STR(errs, "");
	if (!cfg)
		return;
	CHECK_INT(cfg->nlisteners, 4);
	CHECK(config_find(cfg, "w") == NULL);
	w1 = config_find(cfg, "w.1");
	s = config_find(cfg, "s");
	CHECK(w1 && s && config_find(cfg, "w.0") && config_find(cfg, "w.2"));
	if (w1) {
		CHECK_STR(w1->base, "w");
		CHECK_INT(w1->instance, 1);
		CHECK_INT(w1->ninstances, 3);
		CHECK_STR(w1->argv[1], "a b");
		CHECK_INT(w1->nsubjects, 2);
		CHECK_STR(w1->subjects[1], "x.*");
		CHECK_INT(w1->health_interval_ms, 2000);
		CHECK_STR(w1->environment[0], "A=1");
		CHECK_INT(w1->success_exit[0], 1 | 8 | 16);
		CHECK(w1->set_ids && w1->uid == 0 && w1->gid == 0);
		CHECK(w1->ngroups >= 1);
		CHECK_STR(w1->home, "/root");
		CHECK_STR(w1->requires[0], "s");
	}
	if (s) {
		CHECK_STR(s->argv[0], "/bin/sh");
		CHECK_STR(s->argv[1], "-c");
		CHECK_STR(s->argv[2], "echo $HOME; exec x");
		CHECK(s->argv[3] == NULL);
		CHECK_INT(s->health_interval_ms, 1000);
		CHECK_INT(s->nenvironment, 1);
		CHECK_STR(s->environment[0], "B=2");
		CHECK_INT(s->stop_signal, 2);
		CHECK_INT(s->limit_core, 1048576);
		CHECK(s->limit_nofile == NV_LIMIT_INFINITY);
	}
	config_free(cfg);
}

/* R01-R04 and the comment rule. */
static void test_cases(void)
{
	const char *errs;
	char *big = malloc(70000);
	struct nv_config *cfg;
	size_t n;

	/* R02 */
	cfg = load("[listener:semi]\n"
		   "command     = sh -c 'echo start ; exec natsvisor-listen "
		   "--subject semi.in --stdout'\n"
		   "subjects    = semi.in   # agent inbox\n"
		   "environment = DSN=host=db;port=5432\n",
		   &errs);
	CHECK_STR(errs, "");
	if (cfg) {
		const struct nv_listener_conf *l = &cfg->listeners[0];
		CHECK_INT(l->nsubjects, 1);
		CHECK_STR(l->subjects[0], "semi.in");
		CHECK_STR(l->argv[2], "echo start ; exec natsvisor-listen "
				      "--subject semi.in --stdout");
		CHECK_STR(l->environment[0], "DSN=host=db;port=5432");
		config_free(cfg);
	}
	CHECK_STR(fails("[listener:semi]\ncommand = sh -c 'echo start ; exec x\n"
			"subjects = s\n"),
		  "t.ini:2: unterminated quote in command");
	/* inline comments only after white space and outside quotes */
	cfg = load("[listener:a] ; c\ncommand = x ';y' \"#z\" w#v ; c\n"
		   "subjects = a#b # c\n",
		   &errs);
	CHECK_STR(errs, "");
	if (cfg) {
		CHECK_STR(cfg->listeners[0].command, "x ';y' \"#z\" w#v");
		CHECK_STR(cfg->listeners[0].argv[1], ";y");
		CHECK_STR(cfg->listeners[0].subjects[0], "a#b");
		config_free(cfg);
	}
	/* an escaped blank starts no comment: the man page's way to keep
	 * " #" and " ;" in a value */
	cfg = load("[listener:a]\ncommand = x\n"
		   "environment = A=x\\ #y B=p\\ ;q C=1 ; c\n",
		   &errs);
	CHECK_STR(errs, "");
	if (cfg) {
		CHECK_STR(cfg->listeners[0].environment[0], "A=x #y");
		CHECK_STR(cfg->listeners[0].environment[1], "B=p ;q");
		CHECK_STR(cfg->listeners[0].environment[2], "C=1");
		config_free(cfg);
	}
	/* a rejected value that may hold a secret is not shown */
	CHECK_STR(fails("[natsvisor]\nnats_password = Hunter2\\\n"),
		  "t.ini:2: nats_password: trailing backslash (the value is "
		  "not shown)");
	CHECK_STR(fails("[natsvisor]\nnats_url = nats://u:hunter2@h:4222\\\n"),
		  "t.ini:2: nats_url 'nats://u:***@h:4222\\': trailing backslash");
	CHECK_STR(fails("[listener:a]\ncommand = x\n"
			"environment = DB_PASSWORD= hunter2\n"),
		  "t.ini:3: environment: invalid entry number 2 (expected "
		  "NAME=VALUE; quote a value that holds spaces)");

	/* R01: a 60000-byte line is used whole; longer is an error */
	strcpy(big, "[listener:a]\ncommand = x\nenvironment = BIG=");
	n = strlen(big);
	memset(big + n, 'x', 60000);
	strcpy(big + n + 60000, "\nsubjects = a\n");
	cfg = load(big, &errs);
	CHECK_STR(errs, "");
	if (cfg) {
		CHECK_INT(strlen(cfg->listeners[0].environment[0]), 60004);
		config_free(cfg);
	}
	memset(big + n, 'x', 66000);
	strcpy(big + n + 66000, "\nsubjects = a\n");
	CHECK_STR(fails(big), "t.ini:3: line longer than 65535 bytes");
	free(big);
	CHECK_STR(fails("[listener:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"
			"command = x\nsubjects = a\n"),
		  "t.ini:1: listener name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
		  " is longer than 40 bytes");

	/* R03 */
	CHECK_STR(fails("[listener:i]\ncommand = x\n  subjects = i\n"),
		  "t.ini:3: indented line is a continuation of 'command'; "
		  "continuation lines are not supported (remove the indentation)");
	CHECK_STR(fails(L "command = y\n"),
		  "t.ini:4: duplicate key 'command' (first at t.ini:2)");
	CHECK_STR(fails(L L),
		  "t.ini:4: listener 'a' defined twice (first at t.ini:1)");

	/* R04 */
	cfg = load("\xef\xbb\xbf[listener:win]\r\ncommand = x\r\nsubjects = w\r\n"
		   "stop_timeout = 3s\r\nmax_restarts = 5\r\n",
		   &errs);
	CHECK_STR(errs, "");
	if (cfg) {
		CHECK_STR(cfg->listeners[0].name, "win");
		CHECK_INT(cfg->listeners[0].stop_timeout_ms, 3000);
		CHECK_INT(cfg->listeners[0].max_restarts, 5);
		config_free(cfg);
	}
	{
		struct nv_errors e = {0};
		CHECK(config_load_buffer("u.ini", "\xff\xfe[\0l\0", 6, 0, &e) == NULL);
		CHECK_INT(e.n, 1);
		CHECK_STR(e.n ? e.msgs[0] : "", "u.ini:1: file is UTF-16 encoded; save it as UTF-8");
		errors_clear(&e);
	}
}

/* Every error is collected, in line order. */
static void test_errors(void)
{
	CHECK_STR(fails("[listener:a]\ncommand = x\nsubjects = a\n"
			"ready_timeout = 5x\nhealth_failures = 0\n"
			"stop_signal = NOPE\nrestrat = never\n"
			"[nope]\nuser = no-such-user-x\n"
			"[listener:b]\nuser = no-such-user-x\n"),
		  "t.ini:4: ready_timeout '5x': invalid duration (use e.g. 250ms, 1.5s, 2m, 1h)\n"
		  "t.ini:5: health_failures '0': out of range (1..1000)\n"
		  "t.ini:6: stop_signal 'NOPE': unknown signal\n"
		  "t.ini:7: unknown key 'restrat' in [listener:a]; did you mean 'restart'?\n"
		  "t.ini:8: unknown section [nope] (expected [natsvisor], [defaults] or [listener:NAME])\n"
		  "t.ini:10: listener 'b' has no command\n"
		  "t.ini:11: unknown user 'no-such-user-x'");
	CHECK_STR(fails(L "requires = b\n[listener:b]\ncommand = x\nsubjects = b\nrequires = a\n"),
		  "t.ini:4: requires cycle: a -> b -> a");
	CHECK_STR(fails(L "requires = zz\n"),
		  "t.ini:4: requires unknown listener 'zz'");
	CHECK_STR(fails("[natsvisor]\ninclude = x.ini\n"),
		  "t.ini:2: include is not allowed here");
	CHECK_STR(fails("x\n"),
		  "t.ini:1: expected 'key = value', a [section] header or a comment");
}

/* Includes through real files, relative to the including file. */
/* Write TEXT to DIR/NAME. */
static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_include(void)
{
	char dir[] = "/tmp/nvtest.XXXXXX", p[256];
	struct nv_errors e = {0};
	struct nv_config *cfg;

	if (mkdtemp(dir) == NULL) {
		CHECK(0);
		return;
	}
	snprintf(p, sizeof p, "%s/d", dir);
	mkdir(p, 0700);
	put(dir, "d/b.ini", "[listener:b]\ncommand = x\nsubjects = b\n");
	put(dir, "d/a.ini",
	    "[listener:a]\ncommand = x\nsubjects = a\nstop_signal = X\n");
	put(dir, "main.ini",
	    "include = d/*.ini\n[listener:m]\ncommand = x\nsubjects = m\n");
	snprintf(p, sizeof p, "%s/main.ini", dir);
	cfg = config_load(p, &e);
	CHECK(cfg == NULL);
	CHECK_INT(e.n, 1);
	if (e.n) {
		char want[300];
		snprintf(want, sizeof want, "%s/d/a.ini:4: stop_signal 'X': unknown signal", dir);
		CHECK_STR(e.msgs[0], want);
	}
	errors_clear(&e);
	put(dir, "d/a.ini", "[listener:a]\ncommand = x\nsubjects = a\n");
	cfg = config_load(p, &e);
	CHECK(cfg != NULL);
	if (cfg) {
		CHECK_INT(cfg->nlisteners, 3);
		CHECK_STR(cfg->listeners[0].name, "a"); /* lexical order */
		CHECK_STR(cfg->listeners[1].name, "b");
		CHECK_STR(cfg->listeners[2].name, "m");
		CHECK_INT(cfg->nfiles, 3);
		config_free(cfg);
	}
	errors_clear(&e);
	/* 16 levels of include are allowed (p0.ini includes p1.ini ...
	 * p15.ini includes p16.ini); a 17th level is an error. */
	for (int k = 0; k < 16; k++) {
		char name[32], text[64];
		snprintf(name, sizeof name, "p%d.ini", k);
		snprintf(text, sizeof text, "include = p%d.ini\n", k + 1);
		put(dir, name, text);
	}
	put(dir, "p16.ini", "[listener:deep]\ncommand = x\n");
	snprintf(p, sizeof p, "%s/p0.ini", dir);
	cfg = config_load(p, &e);
	CHECK(cfg != NULL);
	CHECK_INT(cfg ? (int)cfg->nfiles : 0, 17);
	config_free(cfg);
	errors_clear(&e);
	put(dir, "p16.ini", "include = p17.ini\n");
	put(dir, "p17.ini", "[listener:deep]\ncommand = x\n");
	CHECK(config_load(p, &e) == NULL);
	{
		char want[300];
		snprintf(want, sizeof want, "%s/p16.ini:1: include "
			 "'%s/p17.ini': nested more than 16 deep", dir, dir);
		CHECK_STR(e.n ? e.msgs[0] : "", want);
	}
	errors_clear(&e);
	CHECK(config_load("/nonexistent/x.ini", &e) == NULL);
	CHECK_STR(e.n ? e.msgs[0] : "", "/nonexistent/x.ini: No such file or directory");
	errors_clear(&e);
	snprintf(p, sizeof p, "rm -rf '%s'", dir);
	CHECK(system(p) == 0);
}

/* Reload comparison. */
static void test_changed(void)
{
	struct nv_config *a = load(L "backoff_max = 1s\n[natsvisor]\npidfile = /x\n", NULL);
	struct nv_config *b = load(L "backoff_max = 2s\n[natsvisor]\npidfile = /x\n", NULL);
	struct nv_config *c = load("[listener:a]\ncommand = x y\nsubjects = a.in\n"
				   "[natsvisor]\npidfile = /y\nnats_url = nats://h:1\n", NULL);

	CHECK(a && b && c);
	if (!a || !b || !c)
		return;
	CHECK(!config_listener_changed(&a->listeners[0], &b->listeners[0]));
	CHECK(config_listener_changed(&a->listeners[0], &c->listeners[0]));
	CHECK_STR(config_daemon_unchangeable(a, b), "");
	CHECK_STR(config_daemon_unchangeable(a, c), "nats_url,pidfile");
	CHECK(config_key_reloadable("backoff_max"));
	CHECK(!config_key_reloadable("command"));
	CHECK(!config_key_reloadable("nosuch"));
	config_free(a);
	config_free(b);
	config_free(c);
}

int main(void)
{
	test_defaults();
	test_features();
	test_cases();
	test_errors();
	test_include();
	test_changed();
	return t_done("test_config");
}
