/*
 * parse.h: value syntax shared by the configuration, the control client
 * and the daemon.  Pure: no libuv, no nats.c, no allocation unless noted.
 * Every function returns 0 on success and -1 with *ERR set to a static
 * message on failure.
 */
#ifndef NV_PARSE_H
#define NV_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "250ms", "1.5s", "2m", "1h"; a bare number is seconds. */
int parse_duration(const char *s, uint64_t *ms, const char **err);
/* "512", "64K", "10M", "1G" (powers of 1024). */
int parse_size(const char *s, uint64_t *bytes, const char **err);
/* yes/no/true/false/on/off/1/0, any case. */
int parse_bool(const char *s, bool *v, const char **err);
/* Signal by name ("TERM", "SIGTERM", "term") or number. */
int parse_signal(const char *s, int *sig, const char **err);
/* "TERM" for SIGTERM; "SIG%d" for unknown (static buffer). */
const char *signal_name(int sig);
/* Octal umask "022", "0077". */
int parse_umask(const char *s, int *mask, const char **err);

/* Split S into a NULL-terminated argv with shell-style quoting ('...',
 * "...", backslash escapes), no expansion.  Allocates; free with
 * argv_free().  *ERR e.g. "unterminated quote". */
int argv_split(const char *s, char ***argv, const char **err);
void argv_free(char **argv);

/* Split a list separated by commas and/or white space, honouring quotes
 * as argv_split does.  Allocates. */
/* The length of the UTF-8 character at S (N bytes left): 1 to 4, or 0
 * when the bytes there are not valid UTF-8 (an overlong form, a
 * surrogate, a code point above U+10FFFF, a cut sequence). */
size_t utf8_seq(const char *s, size_t n);

/* Cut an inline comment off the configuration value V, in place: ';' or
 * '#' at its start or after white space that is not escaped, outside
 * quotes.  -1 when a quote is left open. */
int ini_strip_comment(char *v);
int list_split(const char *s, char ***items, const char **err);

/* S, one NATS URL or a comma-separated list of them, in BUF with each
 * URL's password or token shown as "***" (its user name kept): the user
 * information ends at the URL's last '@' and starts after its first "//",
 * or at its start when the URL has no "//" (a malformed scheme), so a
 * secret holding '/' or '@' is hidden whole.  Returns BUF, truncated to
 * SIZE. */
const char *url_redact(const char *s, char *buf, size_t size);
/* The same without any user information at all ("nats://u:p@h" becomes
 * "nats://h"). */
const char *url_strip_userinfo(const char *s, char *buf, size_t size);

/* PATH taken from the directory of FILE (which exists) when relative:
 * a new string, or NULL (errno) when FILE cannot be resolved or memory
 * is short.  How a path in the configuration is read. */
char *path_beside(const char *file, const char *path);

/* Does NAME (N bytes: a variable or an option) hold PASS, TOKEN, SECRET
 * or AUTH, in any case?  Its value is then shown as "***". */
bool name_is_secret(const char *name, size_t n);

/* fs.nr_open: the most descriptors the kernel lets a process have (the
 * ceiling of RLIMIT_NOFILE, also for root); -1 when it cannot be read. */
long nr_open(void);
/* W, a word of a command line after PREV (NULL for the first), as status
 * and --check -v show it: "***" after an option whose name is secret
 * (name_is_secret), "--opt=***" for such an option with its value, a
 * URL's password hidden (url_redact); else W itself. */
const char *arg_redact(const char *prev, const char *w, char *buf,
		       size_t size);

/* Format a duration for humans ("250ms", "1.5s", "2m3s"); static buffer. */
const char *format_duration(uint64_t ms);

#endif
