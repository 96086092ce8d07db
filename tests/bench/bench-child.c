/*
 * bench-child.c: the tiny child every supervisor in the benchmark runs.
 *
 * Linked statically, so that exec to main() costs the same under every
 * supervisor and nothing is loaded.  At main() it reads CLOCK_MONOTONIC
 * and appends "PID NS\n" (nanoseconds) to ./starts in its working
 * directory, then writes the same line to ./pid.tmp and renames it to
 * ./pid.  The harness times a restart from just before its kill(SIGKILL)
 * to that timestamp.
 *
 * If ./notification-fd exists (s6's readiness protocol), the child writes
 * a newline to the descriptor it names at once: it is "ready" as soon as
 * it runs.  Then it waits for a signal for ever.
 *
 * No arguments: for s6, runit and daemontools the service's ./run is a
 * symbolic link to this program, so that no shell sits in between.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stamp.h"


int main(void)
{
	char buf[16];
	int fd;

	stamp_start(mono_ns());

	fd = open("notification-fd", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (r > 0) {
			buf[r] = '\0';
			int nfd = atoi(buf);
			if (nfd > 2 && write(nfd, "\n", 1) == 1)
				close(nfd);
		}
	}
	for (;;)
		pause();
}
