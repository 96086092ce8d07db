/*
 * output.c: capture of a child's stdout and stderr, cut into lines.
 *
 * Why lines: log shippers, grep and people read lines, and a file that
 * starts or ends mid-line after a rotation is broken for all of them
 * (Supervisor #749).  So the unit of output is a line, written with one
 * write(2): to the daemon's stderr that keeps lines of different
 * listeners apart, to an O_APPEND log file it keeps every line whole and
 * lets rotation happen only between lines.
 *
 * Why bounded: a child may print a megabyte without a newline.  Each
 * stream reads straight into a line buffer of OUTPUT_LINE_MAX + 1 bytes;
 * when it fills without a newline the first OUTPUT_LINE_MAX bytes go out
 * as a piece marked OUTPUT_CONT_MARK.  The extra byte lets a line of
 * exactly OUTPUT_LINE_MAX bytes plus its newline stay whole.  Memory per
 * stream is that buffer; per sink one scratch line to assemble a write.
 * Both exist only while there is something to hold: the line buffer is
 * allocated when data arrives and freed once no partial line is left,
 * the scratch line around each batch of lines written.  A thousand quiet
 * listeners so cost the daemon no 13 MB of idle buffers.
 *
 * Why never block: the loop reads as fast as data comes; a log write that
 * fails (disk full, EIO) costs that line, counted, with one warning per
 * failure streak, never a stalled child.
 *
 * Bytes are kept raw (no escaping of control bytes): the log file must
 * hold exactly what the listener printed, and on the daemon's stderr each
 * line still starts with the prefix the daemon wrote.  A consumer that
 * shows these logs on a terminal should escape them itself.
 */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define OUTPUT_MARK_LEN (sizeof(OUTPUT_CONT_MARK) - 1)
#define OUTPUT_REOPEN_MS 10000 /* retry a log file that failed to open */

/* One attached fd: its pipe handle, flush timer and line buffer. */
struct output_stream {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct output *o;
	struct output_stream *next;
	int pending; /* handles whose close callback has not run yet */
	bool eof;
	bool closing;
	size_t len;
	char *buf; /* OUTPUT_LINE_MAX + 1 bytes while len > 0 or reading */
};

struct output {
	uv_loop_t *loop;
	char *name;
	char *log_file; /* NULL: daemon's stderr */
	uint64_t max_size;
	unsigned keep;
	int fd;         /* log file, -1 until opened */
	uint64_t size;  /* bytes in the current log file */
	char *scratch;  /* one assembled line */
	size_t scratch_size;
	struct output_stream *streams;
	bool open_failed;
	uint64_t reopen_at;
	bool write_failed;
	bool rotate_failed;
	uint64_t dropped;
	bool freeing;
};

/* Free the sink itself; every stream is gone. */
static void output_destroy(struct output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	free(o->name);
	free(o->log_file);
	free(o->scratch);
	free(o);
}

/* Write LINE (without newline) to the daemon's stderr as "NAME: LINE". */
static void output_stderr(struct output *o, const char *data, size_t len,
			  bool mark)
{
	size_t nlen = strlen(o->name), n = 0;

	memcpy(o->scratch, o->name, nlen);
	n = nlen;
	memcpy(o->scratch + n, ": ", 2);
	n += 2;
	memcpy(o->scratch + n, data, len);
	n += len;
	if (mark) {
		memcpy(o->scratch + n, OUTPUT_CONT_MARK, OUTPUT_MARK_LEN);
		n += OUTPUT_MARK_LEN;
	}
	o->scratch[n++] = '\n';
	log_raw(o->scratch, n);
}

/* Open the log file if needed; false when lines must go to stderr. */
static bool output_file_ready(struct output *o)
{
	struct stat st;
	uint64_t now = uv_now(o->loop);

	if (o->fd >= 0)
		return true;
	if (o->open_failed && now < o->reopen_at)
		return false;
	o->fd = open(o->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		     0640);
	if (o->fd < 0) {
		if (!o->open_failed)
			log_warn("%s: cannot open log file %s, writing to "
				 "stderr", o->name, o->log_file);
		o->open_failed = true;
		o->reopen_at = now + OUTPUT_REOPEN_MS;
		return false;
	}
	if (o->open_failed)
		log_info("%s: log file %s open again", o->name, o->log_file);
	o->open_failed = false;
	o->size = fstat(o->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return true;
}

/* Rename FILE.k to FILE.k+1 down to FILE to FILE.1 (the oldest is
 * overwritten, so at most KEEP are kept); KEEP 0 just removes FILE.  The
 * next line opens a fresh FILE. */
static void output_rotate(struct output *o)
{
	size_t flen = strlen(o->log_file) + 16;
	char *from = malloc(flen), *to = malloc(flen);
	bool ok = true;
	unsigned k;

	close(o->fd);
	o->fd = -1;
	o->size = 0;
	if (from == NULL || to == NULL) {
		ok = false;
		errno = ENOMEM;
	} else if (o->keep == 0) {
		if (unlink(o->log_file) < 0 && errno != ENOENT)
			ok = false;
	} else {
		for (k = o->keep - 1; k >= 1 && ok; k--) {
			snprintf(from, flen, "%s.%u", o->log_file, k);
			snprintf(to, flen, "%s.%u", o->log_file, k + 1);
			if (rename(from, to) < 0 && errno != ENOENT)
				ok = false;
		}
		snprintf(to, flen, "%s.1", o->log_file);
		if (ok && rename(o->log_file, to) < 0 && errno != ENOENT)
			ok = false;
	}
	if (!ok && !o->rotate_failed)
		log_warn("%s: cannot rotate log file %s", o->name, o->log_file);
	o->rotate_failed = !ok;
	free(from);
	free(to);
}

/* Append one line to the log file in one write, rotating first when it
 * would pass max_size (never for the first line of a file). */
static bool output_file(struct output *o, const char *data, size_t len,
			bool mark)
{
	size_t total = len + (mark ? OUTPUT_MARK_LEN : 0) + 1, done = 0;

	if (o->max_size > 0 && o->size > 0 && o->size + total > o->max_size) {
		output_rotate(o);
		if (!output_file_ready(o))
			return false;
	}
	memcpy(o->scratch, data, len);
	if (mark)
		memcpy(o->scratch + len, OUTPUT_CONT_MARK, OUTPUT_MARK_LEN);
	o->scratch[total - 1] = '\n';
	while (done < total) {
		ssize_t n = write(o->fd, o->scratch + done, total - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!o->write_failed)
				log_warn("%s: cannot write log file %s, "
					 "dropping lines", o->name, o->log_file);
			o->write_failed = true;
			o->dropped++;
			o->size += done;
			return true;
		}
		done += (size_t)n;
	}
	o->size += total;
	if (o->write_failed) {
		log_warnx("%s: log file %s writable again, %" PRIu64
			  " lines dropped", o->name, o->log_file, o->dropped);
		o->write_failed = false;
		o->dropped = 0;
	}
	return true;
}

/* Send one line (LEN <= OUTPUT_LINE_MAX, no newline) where it belongs. */
static void output_emit(struct output *o, const char *data, size_t len,
			bool mark)
{
	if (len > OUTPUT_LINE_MAX)
		len = OUTPUT_LINE_MAX;
	if (o->scratch == NULL) {
		o->scratch = malloc(o->scratch_size);
		if (o->scratch == NULL) {
			o->dropped++; /* out of memory: the line is lost */
			return;
		}
	}
	if (o->log_file != NULL && output_file_ready(o) &&
	    output_file(o, data, len, mark))
		return;
	output_stderr(o, data, len, mark);
}

/* Free the buffers that hold nothing now: the stream's line buffer when
 * no partial line is pending, and the sink's scratch line. */
static void output_release(struct output_stream *s)
{
	if (s->len == 0) {
		free(s->buf);
		s->buf = NULL;
	}
	free(s->o->scratch);
	s->o->scratch = NULL;
}

/* Write out a pending partial line, unmarked: nothing says it goes on. */
static void output_stream_flush(struct output_stream *s)
{
	if (s->len > 0)
		output_emit(s->o, s->buf, s->len, false);
	s->len = 0;
	uv_timer_stop(&s->timer);
	output_release(s);
}

/* Timer: a partial line waited OUTPUT_FLUSH_MS for its newline. */
static void output_timer_cb(uv_timer_t *t)
{
	output_stream_flush(t->data);
}

/* Emit every complete line in the buffer, cut an over-long one, keep the
 * rest, and time the oldest pending byte. */
static void output_stream_scan(struct output_stream *s)
{
	size_t start = 0, rest;
	bool emitted = false;
	char *nl;

	while ((nl = memchr(s->buf + start, '\n', s->len - start)) != NULL) {
		output_emit(s->o, s->buf + start,
			    (size_t)(nl - (s->buf + start)), false);
		start = (size_t)(nl - s->buf) + 1;
		emitted = true;
	}
	rest = s->len - start;
	while (rest > OUTPUT_LINE_MAX) {
		output_emit(s->o, s->buf + start, OUTPUT_LINE_MAX, true);
		start += OUTPUT_LINE_MAX;
		rest -= OUTPUT_LINE_MAX;
		emitted = true;
	}
	if (start > 0)
		memmove(s->buf, s->buf + start, rest);
	s->len = rest;
	if (rest == 0)
		uv_timer_stop(&s->timer);
	else if (emitted || !uv_is_active((uv_handle_t *)&s->timer))
		uv_timer_start(&s->timer, output_timer_cb, OUTPUT_FLUSH_MS, 0);
	output_release(s);
}

/* Close callback for both handles of a stream; the last frees it, and
 * the last stream of a sink being freed frees the sink. */
static void output_close_cb(uv_handle_t *h)
{
	struct output_stream *s = h->data, **pp;
	struct output *o = s->o;

	if (--s->pending > 0)
		return;
	for (pp = &o->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	free(s->buf);
	free(s);
	if (o->freeing && o->streams == NULL)
		output_destroy(o);
}

/* Flush and close a stream's handles (which closes its fd). */
static void output_stream_close(struct output_stream *s)
{
	if (s->closing)
		return;
	output_stream_flush(s);
	s->closing = true;
	s->eof = true;
	s->pending = 2;
	uv_close((uv_handle_t *)&s->pipe, output_close_cb);
	uv_close((uv_handle_t *)&s->timer, output_close_cb);
}

/* libuv reads straight into the free part of the line buffer (allocated
 * now if need be), which the scan always leaves non-empty.  Out of
 * memory, libuv reports UV_ENOBUFS and the stream is closed. */
static void output_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct output_stream *s = h->data;

	if (s->buf == NULL)
		s->buf = malloc(OUTPUT_LINE_MAX + 1);
	buf->base = s->buf ? s->buf + s->len : NULL;
	buf->len = s->buf ? OUTPUT_LINE_MAX + 1 - s->len : 0;
}

/* Data, EOF or a read error on one stream. */
static void output_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct output_stream *s = st->data;

	if (nread > 0) {
		s->len += (size_t)nread;
		output_stream_scan(s);
	} else if (nread == 0) {
		output_release(s); /* EAGAIN: nothing was read */
	} else {
		if (nread != UV_EOF)
			log_warnx("%s: reading output: %s", s->o->name,
				  uv_strerror((int)nread));
		output_stream_close(s);
	}
}

/* Store name and log settings; on ENOMEM nothing changes. */
int output_configure(struct output *o, const char *name, const char *log_file,
		     uint64_t max_size, unsigned keep)
{
	char *nname = strdup(name), *nfile = NULL;
	size_t size = strlen(name) + 2 + OUTPUT_LINE_MAX + OUTPUT_MARK_LEN + 1;
	bool same_file;

	if (log_file != NULL)
		nfile = strdup(log_file);
	if (nname == NULL || (log_file != NULL && nfile == NULL)) {
		free(nname);
		free(nfile);
		errno = ENOMEM;
		return -1;
	}
	same_file = (o->log_file == NULL && nfile == NULL) ||
		    (o->log_file != NULL && nfile != NULL &&
		     strcmp(o->log_file, nfile) == 0);
	if (!same_file) {
		if (o->fd >= 0)
			close(o->fd);
		o->fd = -1;
		o->size = 0;
		o->open_failed = o->write_failed = o->rotate_failed = false;
		o->dropped = 0;
	}
	o->reopen_at = 0; /* a file that failed: tried again at once */
	/* The scratch line is allocated when a line is written, this size. */
	free(o->scratch);
	o->scratch = NULL;
	o->scratch_size = size;
	free(o->name);
	free(o->log_file);
	o->name = nname;
	o->log_file = nfile;
	o->max_size = max_size;
	o->keep = keep;
	return 0;
}

/* A sink with nothing attached yet. */
struct output *output_new(uv_loop_t *loop, const char *name,
			  const char *log_file, uint64_t max_size,
			  unsigned keep)
{
	struct output *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->loop = loop;
	o->fd = -1;
	if (output_configure(o, name, log_file, max_size, keep) < 0) {
		output_destroy(o);
		errno = ENOMEM;
		return NULL;
	}
	return o;
}

/* Start reading FD; on failure FD is closed all the same. */
int output_attach(struct output *o, int fd)
{
	struct output_stream *s = calloc(1, sizeof(*s));
	int r;

	if (s == NULL) {
		close(fd);
		return UV_ENOMEM;
	}
	s->o = o;
	o->reopen_at = 0; /* a new process: try a file that failed at once */
	uv_pipe_init(o->loop, &s->pipe, 0);
	uv_timer_init(o->loop, &s->timer);
	s->pipe.data = s;
	s->timer.data = s;
	s->next = o->streams;
	o->streams = s;
	r = uv_pipe_open(&s->pipe, fd);
	if (r < 0)
		close(fd);
	else
		r = uv_read_start((uv_stream_t *)&s->pipe, output_alloc_cb,
				  output_read_cb);
	if (r < 0)
		output_stream_close(s);
	return r;
}

/* Streams still open (not at EOF). */
int output_active(const struct output *o)
{
	const struct output_stream *s;
	int n = 0;

	for (s = o->streams; s != NULL; s = s->next)
		if (!s->eof)
			n++;
	return n;
}

/* Flush and close everything; the sink is freed by the last close
 * callback (or now, if nothing is attached). */
void output_free(struct output *o)
{
	struct output_stream *s;

	if (o == NULL)
		return;
	o->freeing = true;
	for (s = o->streams; s != NULL; s = s->next)
		output_stream_close(s);
	if (o->streams == NULL)
		output_destroy(o);
}
