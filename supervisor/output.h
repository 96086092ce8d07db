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
 *
 * Exact format: a line of up to OUTPUT_LINE_MAX bytes (newline excluded)
 * is written whole, followed by "\n" (log file) or as "NAME: " line "\n"
 * (stderr).  A longer line becomes pieces of exactly OUTPUT_LINE_MAX bytes
 * each followed by OUTPUT_CONT_MARK (" [...]", space included) and "\n",
 * then a last piece of 1..OUTPUT_LINE_MAX bytes without the mark.  A
 * partial line flushed by the timer, at EOF or by output_free() is written
 * as a line of its own without the mark; if the child continues it later,
 * the continuation starts a new line.  Bytes are written raw (no escaping
 * of control characters); rotation keeps every file at most MAX_SIZE
 * bytes unless a single line is larger (MAX_SIZE 0: never rotate; KEEP 0:
 * the full file is removed).  Log write failures drop the line, counted,
 * with one warning per failure streak; an unopenable log file is retried
 * every 10 s, lines going to stderr meanwhile.
 */
#ifndef NV_OUTPUT_H
#define NV_OUTPUT_H

#include <stdint.h>
#include <uv.h>

#define OUTPUT_LINE_MAX 4096
#define OUTPUT_FLUSH_MS 500
#define OUTPUT_CONT_MARK " [...]" /* ends every piece of a cut line but the last */

struct output;

/* A sink for one listener; LOG_FILE NULL means the daemon's stderr with a
 * "NAME: " prefix.  The log file is opened O_APPEND|O_CLOEXEC lazily;
 * open errors are logged once and lines then go to stderr. */
struct output *output_new(uv_loop_t *loop, const char *name,
			  const char *log_file, uint64_t max_size,
			  unsigned keep);

/* Start reading FD (a non-blocking pipe end; ownership passes to the
 * sink).  Several fds (stdout and stderr) may be attached at once; each
 * keeps its own line buffer.  Returns 0 or a negative libuv error; FD is
 * closed (now or later) even on failure.  At EOF the fd is closed. */
int output_attach(struct output *o, int fd);

/* Number of attached fds not yet at EOF. */
int output_active(const struct output *o);

/* Close every attached fd, flushing partial lines; then free the sink
 * once libuv has released the handles.  Safe with none attached. */
void output_free(struct output *o);

/* Change name or log settings (reload); takes effect for the next line.
 * Returns 0, or -1 with errno ENOMEM and the old settings kept. */
int output_configure(struct output *o, const char *name, const char *log_file,
		     uint64_t max_size, unsigned keep);

#endif
