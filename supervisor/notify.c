/*
 * notify.c: telling init systems and scripts that we are ready.
 *
 * sd_notify without libsystemd: a datagram to $NOTIFY_SOCKET (a path, or
 * "@name" for the abstract namespace), whose variable is removed from our
 * environment at once so that no child ever inherits it.  Also the
 * --ready-fd descriptor (one newline, then closed), the --daemon hand-shake
 * pipe, WATCHDOG=1 every half $WATCHDOG_USEC, and the process title
 * ("natsvisord: 3/3 ready").
 */
#include "daemon.h"

#include <bsd/stdlib.h>
#include <bsd/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static uv_timer_t watchdog_timer;
static bool watchdog_on;
static char last_status[128];
/* The process title is padded to the length of the original command line:
 * libbsd's setproctitle() marks a shorter one with a '.' where the old
 * line ended. */
static int title_width;

void notify_title_init(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/');
	int len = -1;
	for (int i = 0; i < argc; i++)
		len += (int)strlen(argv[i]) + 1;
	prog = prog ? prog + 1 : argv[0];
	title_width = len - (int)strlen(prog) - 2; /* "prog: " */
	if (title_width < 0 || title_width > 256)
		title_width = 0;
}

void notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path && *path && strlen(path) < sizeof(notify_addr.sun_path)) {
		memset(&notify_addr, 0, sizeof(notify_addr));
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, path, strlen(path));
		if (path[0] == '@')
			notify_addr.sun_path[0] = '\0';
		notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					 strlen(path));
		notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (notify_fd < 0)
			log_warn("NOTIFY_SOCKET");
	}
	unsetenv("NOTIFY_SOCKET");
}

void notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (sendto(notify_fd, msg, (size_t)n, MSG_NOSIGNAL,
		   (struct sockaddr *)&notify_addr, notify_len) < 0)
		log_debug("sd_notify: %s", strerror(errno));
}

/* Every autostart listener is ready for the first time. */
void notify_ready(void)
{
	notify_send("READY=1");
	if (d.ready_fd >= 0) {
		if (write(d.ready_fd, "\n", 1) < 0)
			log_debug("ready fd: %s", strerror(errno));
		close(d.ready_fd);
		d.ready_fd = -1;
	}
	if (d.daemon_fd >= 0) {
		if (write(d.daemon_fd, "0", 1) < 0)
			log_debug("daemon pipe: %s", strerror(errno));
		close(d.daemon_fd);
		d.daemon_fd = -1;
	}
}

/* Keep STATUS= and the process title in step with readiness. */
void notify_status(void)
{
	/* --daemon: a listener that cannot become ready fails start-up, and
	 * so does one that waits for a requirement that cannot (the rule of
	 * wait-ready, cmd.c). */
	if (d.daemon_fd >= 0 && d.listeners_started) {
		for (size_t i = 0; i < d.nls; i++) {
			const struct lsn *l = d.ls[i], *k;
			if (!l->conf->autostart || l->removed ||
			    (k = lsn_blocker(l)) == NULL)
				continue;
			if (k == l)
				log_warnx("start-up failed: %s cannot become "
					  "ready (%s)",
					  l->conf->name, l->m.reason);
			else
				log_warnx("start-up failed: %s cannot become "
					  "ready: blocked by %s (%s)",
					  l->conf->name, k->conf->name,
					  k->m.reason);
			if (write(d.daemon_fd, "1", 1) < 0)
				log_debug("daemon pipe: %s", strerror(errno));
			close(d.daemon_fd);
			d.daemon_fd = -1;
			break;
		}
	}
	unsigned total, ready = daemon_ready_count(&total);
	char status[128];
	snprintf(status, sizeof(status), "%u/%u ready%s%s", ready, total,
		 d.connected ? "" : ", NATS disconnected",
		 d.startup_failed && !d.all_ready_reported && ready < total
			 ? ", start-up failed: not ready after startup_timeout"
			 : "");
	if (strcmp(status, last_status) == 0)
		return;
	snprintf(last_status, sizeof(last_status), "%s", status);
	setproctitle("%-*s", title_width, status);
	notify_send("STATUS=%s", status);
	if (ready == total && d.listeners_started && !d.all_ready_reported &&
	    !d.shutting_down) {
		d.all_ready_reported = true;
		if (total == 0)
			log_info("ready: no autostart listener to wait for");
		else
			log_info("all %u listener%s ready", total,
				 total == 1 ? "" : "s");
		notify_ready();
	}
}

static void watchdog_on_timer(uv_timer_t *t)
{
	notify_send("WATCHDOG=1");
}

void notify_watchdog_start(uv_loop_t *loop)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	if (usec == NULL || notify_fd < 0)
		return;
	if (pid && strtol(pid, NULL, 10) != (long)getpid())
		return;
	us = strtoull(usec, NULL, 10);
	if (us == 0)
		return;
	uv_timer_init(loop, &watchdog_timer);
	uv_timer_start(&watchdog_timer, watchdog_on_timer, 0,
		       us / 2000 ? us / 2000 : 1);
	watchdog_on = true;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

void notify_close(void)
{
	if (watchdog_on) {
		uv_close((uv_handle_t *)&watchdog_timer, NULL);
		watchdog_on = false;
	}
	if (notify_fd >= 0) {
		close(notify_fd);
		notify_fd = -1;
	}
	if (d.ready_fd >= 0) {
		close(d.ready_fd);
		d.ready_fd = -1;
	}
	if (d.daemon_fd >= 0) {
		if (write(d.daemon_fd, "1", 1) < 0)
			log_debug("daemon pipe: %s", strerror(errno));
		close(d.daemon_fd);
		d.daemon_fd = -1;
	}
}
