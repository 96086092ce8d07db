/*
 * log.h: the daemon's log, on the OpenBSD model.  log_warn() appends the
 * errno text, log_warnx() does not; fatal()/fatalx() log and exit 1 and
 * are for start-up or a broken invariant only.  Lines go to stderr with a
 * level tag; under --daemon stderr is the log file or /dev/null.
 */
#ifndef NV_LOG_H
#define NV_LOG_H

#include <stdarg.h>
#include <stddef.h>

void log_init(const char *progname, int verbose);
int log_verbose(void);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "fatal: ..." for a caller that cleans up and exits itself. */
void log_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Write one already formatted line to stderr in a single write(2), so
 * lines from different sources never interleave. */
void log_raw(const char *line, size_t len);

#endif
