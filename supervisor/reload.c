/*
 * reload.c: apply a new configuration by difference.
 *
 * The new file is read and validated completely first; an invalid file
 * leaves everything running as it was and is reported (log, reply, and
 * status).  A valid one is applied listener by listener: new ones start,
 * removed ones stop, changed ones restart, unchanged ones keep their
 * process, and a listener the operator stopped stays stopped.  Daemon
 * settings that cannot change at run time are named in the reply.
 *
 * Replaced configurations are retired, not freed, while a removed
 * listener that still points into them is stopping.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "output.h"

static struct nv_config **retired;
static size_t nretired;
/* The configuration natsvisord started with, kept to the end: the
 * settings a reload cannot apply still have its values, so a reload is
 * compared with it (not with the previous reload's file) to say what is
 * pending. */
static struct nv_config *boot;

/* Free retired configurations once no removed listener refers to them. */
void reload_gc(void)
{
	for (size_t i = 0; i < d.nls; i++)
		if (d.ls[i]->removed)
			return;
	for (size_t i = 0; i < nretired; i++)
		config_free(retired[i]);
	free(retired);
	retired = NULL;
	nretired = 0;
}

/* At exit: free every configuration but the current one. */
void reload_close(void)
{
	for (size_t i = 0; i < nretired; i++)
		config_free(retired[i]);
	free(retired);
	retired = NULL;
	nretired = 0;
	if (boot != d.cfg)
		config_free(boot);
	boot = NULL;
	free(d.last_reload_all);
	d.last_reload_all = NULL;
}

/* Record a failed reload for status and the log. */
static void reload_failed(const struct nv_errors *errs, char **report)
{
	struct buf b = { 0 };
	for (size_t i = 0; i < errs->n; i++) {
		log_warnx("reload: %s", errs->msgs[i]);
		buf_printf(&b, "%s\n", errs->msgs[i]);
	}
	d.last_reload_ok = false;
	free(d.last_reload_all);
	d.last_reload_all = b.p ? strdup(b.p) : NULL;
	snprintf(d.last_reload, sizeof(d.last_reload), "%s%s",
		 errs->n ? errs->msgs[0] : "invalid configuration",
		 errs->n > 1 ? " (and more)" : "");
	d.last_reload_at = now_ms();
	buf_printf(&b, "reload failed: the running configuration is unchanged\n");
	*report = b.p;
}

int daemon_reload(char **report)
{
	struct nv_errors errs = { 0 };
	struct buf b = { 0 };
	unsigned added = 0, removed = 0, restarted = 0, kept = 0;

	*report = NULL;
	if (d.shutting_down) {
		/* Nothing may start any more; the file is not even read. */
		log_info("reload ignored: shutting down");
		buf_printf(&b, "natsvisord is shutting down: not reloaded\n");
		*report = b.p;
		return -1;
	}
	/* systemd wants the reload's start time with RELOADING=1. */
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu",
		    (unsigned long long)now_ms() * 1000);
	struct nv_config *cfg = config_load(d.config_path, &errs);
	if (cfg == NULL) {
		reload_failed(&errs, report);
		errors_clear(&errs);
		notify_send("READY=1");
		return -1;
	}
	errors_clear(&errs);
	/* (those being removed hold theirs until they are gone) */
	daemon_reserve_fds(cfg->nlisteners + d.nls);

	/* Build the new listener list in the new file's order. */
	struct lsn **ls = calloc(cfg->nlisteners + d.nls + 1, sizeof(*ls));
	bool *taken = calloc(d.nls + 1, sizeof(*taken));
	if (ls == NULL || taken == NULL)
		fatal("out of memory");
	size_t n = 0;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct nv_listener_conf *nc = &cfg->listeners[i];
		struct lsn *l = NULL;
		bool revived = false;
		for (size_t j = 0; j < d.nls && l == NULL; j++) {
			if (!taken[j] && !d.ls[j]->removed &&
			    strcmp(d.ls[j]->conf->name, nc->name) == 0) {
				l = d.ls[j];
				taken[j] = true;
			}
		}
		/* Removed by an earlier reload and still stopping: the same
		 * listener comes back once its group is gone, never a second
		 * one beside it (two incarnations would overlap). */
		for (size_t j = 0; j < d.nls && l == NULL; j++) {
			if (!taken[j] && d.ls[j]->removed &&
			    strcmp(d.ls[j]->conf->name, nc->name) == 0) {
				l = d.ls[j];
				taken[j] = true;
				revived = true;
			}
		}
		if (l == NULL) {
			l = lsn_create(nc);
			ls[n++] = l;
			added++;
			log_info("%s: added by reload", nc->name);
			if (nc->autostart)
				l->m.want = true; /* started below */
			continue;
		}
		bool changed = config_listener_changed(l->conf, nc);
		l->conf = nc;
		lst_reconf(&l->m, nc);
		output_configure(l->out, nc->name, nc->log_file,
				 nc->log_max_size, nc->log_keep);
		ls[n++] = l;
		if (revived) {
			l->removed = false;
			added++;
			log_info("%s: added again by reload", nc->name);
			if (nc->autostart && lst_is_live(&l->m))
				lsn_event(l, EV_START, NULL); /* once stopped */
			else if (nc->autostart)
				l->m.want = true; /* started below */
		} else if (changed && lst_is_live(&l->m) &&
			   l->m.state != LST_STOPPING) {
			log_info("%s: changed by reload: restarting", nc->name);
			lsn_event(l, EV_RESTART, NULL);
			restarted++;
		} else {
			/* Unchanged, changed only in keys marked "reload", or
			 * not running (the new definition applies at its
			 * next start): its process, or its stop, is kept. */
			if (changed)
				log_info("%s: changed by reload: %s, applies "
					 "at its next start",
					 nc->name, lst_state_name(l->m.state));
			kept++;
		}
	}
	for (size_t j = 0; j < d.nls; j++) {
		struct lsn *l = d.ls[j];
		if (taken[j])
			continue;
		if (!l->removed) {
			log_info("%s: removed by reload: stopping",
				 l->conf->name);
			removed++;
		}
		l->removed = true;
		l->m.want = false;
		lsn_event(l, EV_STOP, NULL);
		ls[n++] = l;
	}
	free(taken);
	free(d.ls);
	d.ls = ls;
	d.nls = n;

	if (boot == NULL)
		boot = d.cfg;
	const char *fixed = config_daemon_unchangeable(boot, cfg);
	if (d.cfg != boot) {
		struct nv_config **r =
			reallocarray(retired, nretired + 1, sizeof(*r));
		if (r == NULL)
			fatal("out of memory");
		retired = r;
		retired[nretired++] = d.cfg;
	}
	d.cfg = cfg;
	reload_gc(); /* at once, unless a removed listener still stops */

	for (size_t i = 0; i < d.nls; i++) {
		struct lsn *l = d.ls[i];
		if (!l->removed && l->m.want && l->m.state == LST_STOPPED &&
		    d.listeners_started)
			lsn_event(l, EV_START, NULL);
	}
	d.last_reload_ok = true;
	free(d.last_reload_all);
	d.last_reload_all = NULL;
	d.last_reload[0] = '\0';
	d.last_reload_at = now_ms();
	buf_printf(&b, "reloaded %s: %u added, %u removed, %u restarted, %u kept\n",
		   d.config_path, added, removed, restarted, kept);
	if (fixed && *fixed)
		buf_printf(&b, "not applied until natsvisord restarts: %s\n",
			   fixed);
	/* The log has one prefixed line per event: the same two lines. */
	log_info("reloaded %s: %u added, %u removed, %u restarted, %u kept",
		 d.config_path, added, removed, restarted, kept);
	if (fixed && *fixed)
		log_warnx("not applied until natsvisord restarts: %s", fixed);
	*report = b.p;
	notify_send("READY=1");
	daemon_mark_dirty();
	return 0;
}
