/*
 * buf.c: growable buffer with printf, JSON and log escaping.
 */
#include "buf.h"
#include "parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for N more bytes plus a NUL. */
static bool buf_grow(struct buf *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	if (!buf_grow(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	if (!buf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_json_str(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_add(b, "null", 4);
	else
		buf_json_strn(b, s, strlen(s));
}

void buf_json_strn(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f) {
				buf_printf(b, "\\u%04x", p[i]);
			} else if (p[i] >= 0x80) {
				/* JSON is UTF-8: a byte that is not part of
				 * a valid character becomes U+FFFD */
				size_t u = utf8_seq(s + i, n - i);
				if (u == 0) {
					buf_add(b, "\\ufffd", 6);
				} else {
					buf_add(b, p + i, u);
					i += u - 1;
				}
			} else {
				buf_add(b, p + i, 1);
			}
		}
	}
	buf_add(b, "\"", 1);
}

void buf_escape(struct buf *b, const char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\')
			buf_add(b, "\\\\", 2);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\x%02x", c);
		else
			buf_add(b, &s[i], 1);
	}
	if (len > max)
		buf_add(b, "...", 3);
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
