/*
 * stamp.h: the files every benchmark child writes, for nvbench to read
 * (bench-child, bench-listen, bench-rawlisten; header-only, so that each
 * stays one static program).
 *
 *	./starts	"PID NS\n" appended at each start (CLOCK_MONOTONIC)
 *	./pid		the latest such line, replaced atomically
 *	./phases	"PID MAIN CONNECTED SUBSCRIBED\n" (ns), replaced
 *			atomically, by the listeners
 *
 * Errors are ignored: there is nobody to tell, and a missing file shows
 * as a timeout in nvbench.
 */
#ifndef NV_BENCH_STAMP_H
#define NV_BENCH_STAMP_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static inline int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Append or write LINE to PATH. */
static inline void stamp_put(const char *path, int flags, const char *line,
			     size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);

	if (fd < 0)
		return;
	if (write(fd, line, len) < 0)
		len = 0;
	close(fd);
}

/* Write LINE to NAME through NAME.tmp and a rename. */
static inline void stamp_replace(const char *name, const char *line,
				 size_t len)
{
	char tmp[64];

	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	stamp_put(tmp, O_TRUNC, line, len);
	rename(tmp, name);
}

/* At main(): ./starts and ./pid, for a start at MAIN_NS. */
static inline void stamp_start(int64_t main_ns)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%ld %lld\n", (long)getpid(),
			 (long long)main_ns);

	stamp_put("starts", O_APPEND, line, (size_t)n);
	stamp_replace("pid", line, (size_t)n);
}

/* A listener is subscribed: ./phases. */
static inline void stamp_phases(int64_t main_ns, int64_t conn_ns,
				int64_t sub_ns)
{
	char line[128];
	int n = snprintf(line, sizeof line, "%ld %lld %lld %lld\n",
			 (long)getpid(), (long long)main_ns,
			 (long long)conn_ns, (long long)sub_ns);

	stamp_replace("phases", line, (size_t)n);
}

#endif
