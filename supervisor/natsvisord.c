/*
 * natsvisord: keeps NATS listeners running and proves they listen.
 *
 * main() handles the command line, --check, the pidfile, and the --daemon
 * hand-shake (the original process exits 0 only once every autostart
 * listener is ready, 1 when startup_timeout passes or a listener cannot
 * become ready), then hands over to the loop (loop.c).
 *
 * Exit codes: 0 clean stop, 78 invalid configuration, 1 any other failure.
 */
#include <bsd/libutil.h>
#include <bsd/stdlib.h>
#include <bsd/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "spawn.h"

int loop_run(struct nv_config *cfg, const char *config_path, int ready_fd,
	     int daemon_fd);
void notify_title_init(int argc, char **argv);

#define EXIT_CONFIG 78

static void usage(FILE *f)
{
	fprintf(f,
		"usage: natsvisord [-c FILE] [-n|--check] [-d|--daemon] [--ready-fd N]\n"
		"                  [--pidfile FILE] [-v] [--version] [--help]\n"
		"\n"
		"Supervise NATS listeners: start them, restart them with backoff, ping\n"
		"each through NATS, and report readiness.\n"
		"\n"
		"  -c, --config FILE  configuration file (default %s/natsvisor.ini)\n"
		"  -n, --check        validate the configuration, print 'configuration OK'\n"
		"                     or every error, and exit (0 or 78)\n"
		"  -d, --daemon       detach; exit 0 once every autostart listener is ready,\n"
		"                     1 if startup_timeout passes first or one cannot start\n"
		"      --ready-fd N   write a newline to descriptor N when ready, then close it\n"
		"      --pidfile FILE write and lock a pidfile (overrides 'pidfile')\n"
		"  -v, --verbose      more log output (with --check: the effective argv and\n"
		"                     subjects of each listener)\n"
		"      --version      print the version\n"
		"  -h, --help         this text\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop every listener (dependents first) and exit 0;\n"
		"SIGHUP reloads the configuration.\n"
		"Exit status: 0 clean stop, 78 invalid configuration, 1 other failure.\n",
		SYSCONFDIR);
}

/* --daemon: fork; the parent waits for the child's verdict on a pipe. */
static int daemonize(uint64_t startup_timeout_ms, int *notify_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fatal("pipe");
	pid_t pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int timeout = startup_timeout_ms > (uint64_t)0x7fffffff
				      ? -1
				      : (int)startup_timeout_ms;
		int r;
		do
			r = poll(&pfd, 1, timeout);
		while (r < 0 && errno == EINTR);
		char c = '1';
		if (r > 0 && read(p[0], &c, 1) != 1)
			c = '1';
		if (r == 0)
			fprintf(stderr,
				"natsvisord: not ready after startup_timeout; "
				"the daemon (pid %d) keeps running\n",
				(int)pid);
		else if (c != '0')
			fprintf(stderr,
				"natsvisord: start-up failed; see the log\n");
		_exit(c == '0' && r > 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		fatal("setsid");
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		if (null > 2)
			close(null);
	}
	*notify_fd = p[1];
	return 0;
}

int main(int argc, char **argv, char **envp)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "pidfile", required_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = SYSCONFDIR "/natsvisor.ini";
	const char *pidpath = NULL;
	bool check = false, daemon = false, version = false;
	int verbose = 0, ready_fd = -1, c;

	notify_title_init(argc, argv);
	setproctitle_init(argc, argv, envp);
	while ((c = getopt_long(argc, argv, "c:ndvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'd':
			daemon = true;
			break;
		case 'R': {
			const char *e = NULL;
			ready_fd = (int)strtonum(optarg, 0, 1 << 20, &e);
			if (e) {
				fprintf(stderr,
					"natsvisord: --ready-fd %s: %s\n",
					optarg, e);
				return 1;
			}
			if (fcntl(ready_fd, F_GETFD) < 0) {
				fprintf(stderr,
					"natsvisord: --ready-fd %d: not an open "
					"descriptor\n",
					ready_fd);
				return 1;
			}
			/* Never inherited by a listener. */
			fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
			break;
		}
		case 'P':
			pidpath = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			version = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "natsvisord: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 1;
	}
	if (version) { /* (after the arguments are checked, as for --help) */
		printf("natsvisord %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (check)
		return config_check_main(path, verbose);

	log_init("natsvisord", verbose);
	/* The spawn slots first, while descriptor numbers are low. */
	if (spawn_init() < 0) {
		log_fatalx("/dev/null: %s", strerror(errno));
		return 1;
	}
	struct nv_errors errs = { 0 };
	struct nv_config *cfg = config_load(path, &errs);
	if (cfg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		errors_clear(&errs);
		return EXIT_CONFIG;
	}

	if (pidpath == NULL)
		pidpath = cfg->pidfile;
	struct pidfh *pfh = NULL;
	if (pidpath) {
		pid_t other;
		pfh = pidfile_open(pidpath, 0644, &other);
		if (pfh == NULL) {
			if (errno == EEXIST)
				log_fatalx("already running (pid %d, pidfile "
					   "%s)",
					   (int)other, pidpath);
			else
				log_fatalx("pidfile %s: %s", pidpath,
					   strerror(errno));
			config_free(cfg);
			return 1;
		}
	}
	int daemon_fd = -1;
	if (daemon)
		daemonize(cfg->startup_timeout_ms, &daemon_fd);
	if (pfh)
		pidfile_write(pfh);

	int code = loop_run(cfg, path, ready_fd, daemon_fd);
	if (pfh)
		pidfile_remove(pfh);
	return code;
}
