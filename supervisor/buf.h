/*
 * buf.h: a growable byte buffer for building replies and JSON.  Pure.
 * Allocation failure is fatal to the caller's request only: the buffer
 * remembers it (oom) and keeps its content truncated but valid.
 */
#ifndef NV_BUF_H
#define NV_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_add(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
/* Append S as a JSON string literal, quotes included (NULL: null). */
void buf_json_str(struct buf *b, const char *s);
/* The same for N bytes of S, which may hold NUL bytes (as \u0000). */
void buf_json_strn(struct buf *b, const char *s, size_t n);
/* Append S with control bytes and non-UTF-8-safe bytes escaped (\xNN), for
 * logs and terminals. At most MAX bytes of S are used. */
void buf_escape(struct buf *b, const char *s, size_t len, size_t max);
void buf_free(struct buf *b);

#endif
