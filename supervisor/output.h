/*
 * output.h: capture of a child's stdout and stderr.
 *
 * The daemon reads both pipes with libuv and never lets the child block
 * (it reads as fast as data comes; a full log device costs lines, never
 * the child's progress).  Output is cut into lines; each line goes either
 * to the daemon's stderr as "NAME: line" (one write per line, so lines of
 * different listeners never interleave) or to LOG_FILE, rotated by size:
 * LOG_FILE.1 ... LOG_FILE.KEEP, a rotation happens only between lines.
 * A line longer than OUTPUT_LINE_MAX is written in pieces of that size,
 * each but the last marked with a trailing " [...]" continuation mark.
 * A partial last line is written when the stream ends, and after
 * OUTPUT_FLUSH_MS without a newline.
 */
#ifndef NV_OUTPUT_H
#define NV_OUTPUT_H

#include <stdint.h>
#include <uv.h>

#define OUTPUT_LINE_MAX 4096
#define OUTPUT_FLUSH_MS 500

struct output;

/* A sink for one listener; LOG_FILE NULL means the daemon's stderr with a
 * "NAME: " prefix.  The log file is opened O_APPEND|O_CLOEXEC lazily;
 * open errors are logged once and lines then go to stderr. */
struct output *output_new(uv_loop_t *loop, const char *name,
			  const char *log_file, uint64_t max_size,
			  unsigned keep);

/* Start reading FD (a non-blocking pipe end; ownership passes to the
 * sink).  Several fds (stdout and stderr) may be attached at once; each
 * keeps its own line buffer. */
int output_attach(struct output *o, int fd);

/* Number of attached fds not yet at EOF. */
int output_active(const struct output *o);

/* Close every attached fd, flushing partial lines; then free the sink
 * once libuv has released the handles.  Safe with none attached. */
void output_free(struct output *o);

/* Change name or log settings (reload); takes effect for the next line. */
int output_configure(struct output *o, const char *name, const char *log_file,
		     uint64_t max_size, unsigned keep);

#endif
