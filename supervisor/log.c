/*
 * log.c: levelled logging to stderr, one write(2) per line so that lines
 * from the daemon and from listener output never interleave mid-line.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "natsvisord";
static int log_level;

/* Remember the program name and the verbosity (0 normal, >0 debug). */
void log_init(const char *progname, int verbose)
{
	log_prog = progname;
	log_level = verbose;
}

int log_verbose(void)
{
	return log_level;
}

void log_raw(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		line += n;
		len -= (size_t)n;
	}
}

/* Format "prog: [level: ]message[: errno text]\n" and write it at once. */
static void log_emit(const char *level, int errnum, const char *fmt,
		     va_list ap)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "%s: %s", log_prog, level);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(buf))
		n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if ((size_t)n < sizeof(buf) && errnum)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s",
			      strerror(errnum));
	if ((size_t)n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	/* One event, one line, whatever the text holds. */
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	buf[n++] = '\n';
	log_raw(buf, (size_t)n);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("", 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;
	if (log_level <= 0)
		return;
	va_start(ap, fmt);
	log_emit("debug: ", 0, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit("warning: ", e, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("warning: ", 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal: ", e, fmt, ap);
	va_end(ap);
	exit(1);
}

void log_fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal: ", 0, fmt, ap);
	va_end(ap);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
