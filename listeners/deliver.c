/*
 * deliver.c - commit a message to a maildir inbox, stdout or a command.
 *
 * Inbox: the classic maildir dance.  The body is written to tmp/NAME and
 * fsync'd, renamed with renameat2(RENAME_NOREPLACE) to new/NAME (never
 * replacing a file), and new/ is fsync'd so the rename itself survives a
 * crash.  Only then is the message "committed" (confirmed, or acked in
 * durable mode).  Names are unique per host, process and message; in
 * durable mode the final name is derived from stream and sequence, so a
 * redelivered message finds its earlier copy (in new/, or in cur/ where a
 * reader may have moved it), and the rename, which never replaces, is the
 * last guard against a second copy.  Temporary names stay unique, so a
 * file left in tmp/ by a killed process is never in the way; such files
 * are removed after 36 hours, as maildir prescribes.
 *
 * Commands are started with posix_spawn (the process has nats.c threads:
 * no fork-and-allocate) and get every descriptor above 2 closed, because
 * nats.c sockets are not close-on-exec.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "deliver.h"

extern char **environ;

static pthread_mutex_t	 deliver_lock = PTHREAD_MUTEX_INITIALIZER;
static enum deliver_mode deliver_mode;
static char		*deliver_arg;		/* inbox dir or command */
static bool		 deliver_envelope;
static int		 deliver_tmpfd = -1;	/* DIR/tmp */
static int		 deliver_newfd = -1;	/* DIR/new */
static int		 deliver_curfd = -1;	/* DIR/cur */
static char		 deliver_host[128];	/* sanitised host name */
static unsigned long long deliver_counter;

/*
 * Durable names carry the stream's incarnation: a stream deleted and made
 * again under the same name (or a memory stream lost with its server)
 * numbers its messages from 1 again, and its message 1 is not the one
 * filed as js.S.1.  DIR/.natsvisor-stream.S records the creation time of
 * the stream the inbox last saw and how many it has seen; the first keeps
 * the plain names, the next ones file under "js.S.gN.SEQ" (a stream name
 * has no '.', so neither can collide).
 */
static void	 deliver_unique_name(char *, size_t);
static int	 deliver_write_all(int, const char *, size_t);

static char		*deliver_js_stream;	/* the stream bound */
static char		*deliver_js_key;	/* "S" or "S.gN" */

#define DELIVER_TMP_MAX_AGE	(36 * 3600)	/* seconds, as maildir says */
#define DELIVER_CUR_SETTLE	2		/* seconds: see deliver_cur_has */

/*
 * The stream sequences found in cur/ at the last scan, sorted.  A reader
 * renames "js.S.N" to "js.S.N:2,FLAGS" with flags we cannot guess, so a
 * lookup needs the directory listing; it is kept while cur/ is unchanged.
 */
static struct {
	char		*stream;
	uint64_t	*seqs;
	size_t		 n;
	size_t		 cap;
	struct timespec	 mtime;		/* of cur/ when scanned */
	time_t		 scanned;	/* wall clock at the scan */
	bool		 valid;
} deliver_cur;

/* Append n bytes of s in base64 (RFC 4648, padded), quoted. */
static void
deliver_buf_base64(struct buf *b, const char *s, size_t n)
{
	static const char	 tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char	*u = (const unsigned char *)s;
	char			 q[4];
	size_t			 i;
	uint32_t		 v;

	buf_add(b, "\"", 1);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)u[i] << 16 | (uint32_t)u[i + 1] << 8 | u[i + 2];
		q[0] = tab[v >> 18 & 63];
		q[1] = tab[v >> 12 & 63];
		q[2] = tab[v >> 6 & 63];
		q[3] = tab[v & 63];
		buf_add(b, q, 4);
	}
	if (i < n) {
		v = (uint32_t)u[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)u[i + 1] << 8;
		q[0] = tab[v >> 18 & 63];
		q[1] = tab[v >> 12 & 63];
		q[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		q[3] = '=';
		buf_add(b, q, 4);
	}
	buf_add(b, "\"", 1);
}

/* True when s[0..n) is well-formed UTF-8 without NUL bytes. */
static bool
deliver_utf8_valid(const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, k, need;
	uint32_t		 cp, min;

	while (i < n) {
		if (u[i] == 0)
			return false;
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if ((u[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = u[i] & 0x1f;
			min = 0x80;
		} else if ((u[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = u[i] & 0x0f;
			min = 0x800;
		} else if ((u[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = u[i] & 0x07;
			min = 0x10000;
		} else
			return false;
		if (i + need >= n)
			return false;
		for (k = 1; k <= need; k++) {
			if ((u[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (u[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

void
deliver_escape(char *dst, size_t dstlen, const char *src, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 c;
	size_t			 i, o = 0;

	if (dstlen == 0)
		return;
	for (i = 0; i < n; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (i < n && o + 3 < dstlen) {
		dst[o++] = '.';
		dst[o++] = '.';
		dst[o++] = '.';
	}
	dst[o] = '\0';
}

/* mkdir -p: create PATH and missing parents; an existing one is fine. */
static int
deliver_mkdir(const char *path)
{
	char	 buf[PATH_MAX];
	size_t	 len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* Open DIR/sub as a directory descriptor, creating it if needed. */
static int
deliver_open_sub(const char *dir, const char *sub, char **cause)
{
	char	*path;
	int	 fd;

	if (asprintf(&path, "%s/%s", dir, sub) == -1) {
		*cause = strdup("out of memory");
		return -1;
	}
	if (deliver_mkdir(path) == -1 ||
	    (fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

/* Keep the host name usable in a maildir name ('/' and ':' escaped). */
static void
deliver_init_host(void)
{
	char	h[64] = "localhost";
	size_t	i, o = 0;

	if (gethostname(h, sizeof h - 1) == -1)
		snprintf(h, sizeof h, "localhost");
	h[sizeof h - 1] = '\0';
	for (i = 0; h[i] != '\0' && o + 5 < sizeof deliver_host; i++) {
		if (h[i] == '/')
			o += (size_t)snprintf(deliver_host + o, 5, "\\057");
		else if (h[i] == ':')
			o += (size_t)snprintf(deliver_host + o, 5, "\\072");
		else
			deliver_host[o++] = h[i];
	}
	deliver_host[o] = '\0';
}

/* Remove files left in tmp/ (by killed writers) for 36 hours. */
static void
deliver_clean_tmp(void)
{
	struct dirent	*de;
	struct stat	 sb;
	time_t		 now = time(NULL);
	DIR		*d;
	int		 fd;

	if ((fd = dup(deliver_tmpfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    fstatat(deliver_tmpfd, de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(sb.st_mode))
			continue;
		if (sb.st_mtime + DELIVER_TMP_MAX_AGE < now)
			unlinkat(deliver_tmpfd, de->d_name, 0);
	}
	closedir(d);
}

int
deliver_init(enum deliver_mode mode, const char *arg, bool envelope,
    char **cause)
{
	*cause = NULL;
	deliver_mode = mode;
	deliver_envelope = envelope;
	if (arg != NULL && (deliver_arg = strdup(arg)) == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	if (mode != DELIVER_INBOX)
		return 0;
	deliver_init_host();
	if (deliver_mkdir(arg) == -1) {
		if (asprintf(cause, "%s: %s", arg, strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	}
	if ((deliver_tmpfd = deliver_open_sub(arg, "tmp", cause)) == -1 ||
	    (deliver_newfd = deliver_open_sub(arg, "new", cause)) == -1 ||
	    (deliver_curfd = deliver_open_sub(arg, "cur", cause)) == -1)
		return -1;
	deliver_clean_tmp();
	return 0;
}

void
deliver_fini(void)
{
	if (deliver_tmpfd != -1)
		close(deliver_tmpfd);
	if (deliver_newfd != -1)
		close(deliver_newfd);
	if (deliver_curfd != -1)
		close(deliver_curfd);
	deliver_tmpfd = deliver_newfd = deliver_curfd = -1;
	free(deliver_arg);
	deliver_arg = NULL;
	free(deliver_cur.stream);
	free(deliver_cur.seqs);
	memset(&deliver_cur, 0, sizeof deliver_cur);
	free(deliver_js_stream);
	free(deliver_js_key);
	deliver_js_stream = deliver_js_key = NULL;
}

/* The name under which stream's messages are filed (see above). */
static const char *
deliver_key(const char *stream)
{
	if (deliver_js_key != NULL && strcmp(stream, deliver_js_stream) == 0)
		return deliver_js_key;
	return stream;
}

int
deliver_js_incarnation(const char *stream, int64_t created, unsigned *gen,
    char **cause)
{
	char		 rec[256], tmp[256], buf[128], *key = NULL, *st = NULL;
	long long	 rc_created = 0;
	unsigned	 rc_gen = 0;
	ssize_t		 n;
	int		 fd, dfd = -1, e = 0;
	bool		 write_it = true;

	*gen = 1;
	*cause = NULL;
	if (deliver_mode != DELIVER_INBOX)
		return 0;
	snprintf(rec, sizeof rec, ".natsvisor-stream.%s", stream);
	pthread_mutex_lock(&deliver_lock);
	if ((dfd = open(deliver_arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		e = errno;
		goto out;
	}
	if ((fd = openat(dfd, rec, O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (sscanf(buf, "created %lld generation %u", &rc_created,
		    &rc_gen) == 2 && rc_gen > 0) {
			*gen = rc_created == created ? rc_gen : rc_gen + 1;
			write_it = rc_created != created;
		}
	} else if (errno != ENOENT) {
		e = errno;
		goto out;
	}
	if (write_it) {
		/* tmp/ then a rename over the record: never half written */
		deliver_unique_name(tmp, sizeof tmp);
		n = snprintf(buf, sizeof buf, "created %lld generation %u\n",
		    (long long)created, *gen);
		fd = openat(deliver_tmpfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1) {
			e = errno;
			goto out;
		}
		if (deliver_write_all(fd, buf, (size_t)n) == -1 ||
		    fsync(fd) == -1)
			e = errno;
		if (close(fd) == -1 && e == 0)
			e = errno;
		if (e == 0 && renameat(deliver_tmpfd, tmp, dfd, rec) == -1)
			e = errno;
		if (e != 0) {
			unlinkat(deliver_tmpfd, tmp, 0);
			goto out;
		}
		if (fsync(dfd) == -1) {
			e = errno;
			goto out;
		}
	}
	if (*gen == 1)
		key = strdup(stream);
	else if (asprintf(&key, "%s.g%u", stream, *gen) == -1)
		key = NULL;
	st = strdup(stream);
	if (key == NULL || st == NULL) {
		e = ENOMEM;
		goto out;
	}
	free(deliver_js_stream);
	free(deliver_js_key);
	deliver_js_stream = st;
	deliver_js_key = key;
	key = st = NULL;
	deliver_cur.valid = false;	/* listed under the old key */
out:
	pthread_mutex_unlock(&deliver_lock);
	if (dfd != -1)
		close(dfd);
	free(key);
	free(st);
	if (e != 0 && asprintf(cause, "%s/%s: %s", deliver_arg, rec,
	    strerror(e)) == -1)
		*cause = NULL;
	return e != 0 ? -1 : 0;
}

/* A unique maildir name (time, pid, counter, host). */
static void
deliver_unique_name(char *name, size_t len)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	snprintf(name, len, "%lld.M%06ldP%ldQ%llu.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), ++deliver_counter,
	    deliver_host);
}

/* The durable inbox name of stream's message seq. */
static void
deliver_js_name(const char *stream, uint64_t seq, char *name, size_t len)
{
	/* Stream names contain no '.', so this cannot collide. */
	snprintf(name, len, "js.%s.%llu", stream, (unsigned long long)seq);
}

/* Write all of buf to fd. */
static int
deliver_write_all(int fd, const char *buf, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, buf, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The envelope: subject, reply and headers as "Key: value" lines. */
static void
deliver_envelope_text(const struct deliver_msg *m, struct buf *b)
{
	size_t	i;

	buf_puts(b, "NATS-Subject: ");
	buf_puts(b, m->subject);
	buf_puts(b, "\n");
	if (m->reply != NULL && *m->reply != '\0') {
		buf_puts(b, "NATS-Reply: ");
		buf_puts(b, m->reply);
		buf_puts(b, "\n");
	}
	for (i = 0; i < m->nhdrs; i++) {
		buf_puts(b, m->hdrs[i].key);
		buf_puts(b, ": ");
		buf_puts(b, m->hdrs[i].value);
		buf_puts(b, "\n");
	}
	buf_puts(b, "\n");
}

/* fsync new/, so that a rename into it survives a crash. */
static int
deliver_sync_new(char *err, size_t errlen)
{
	if (fsync(deliver_newfd) == -1) {
		snprintf(err, errlen, "new/: fsync: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * tmp/NAME, fsync, rename into new/ without replacing, fsync new/.  In
 * durable mode the final name is the stream's, and finding it taken means
 * an earlier delivery committed the message: 1, no second copy.
 */
static int
deliver_inbox(const struct deliver_msg *m, char *err, size_t errlen)
{
	struct buf	 env = { 0 };
	char			 name[256], final[256];
	int			 fd, e;

	deliver_unique_name(name, sizeof name);
	if (m->stream != NULL)
		deliver_js_name(deliver_key(m->stream), m->seq, final,
		    sizeof final);
	else
		memcpy(final, name, sizeof final);
	if (deliver_envelope) {
		deliver_envelope_text(m, &env);
		if (env.oom) {
			free(env.p);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	fd = openat(deliver_tmpfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "tmp/%s: %s", name, strerror(errno));
		free(env.p);
		return -1;
	}
	if ((env.len > 0 && deliver_write_all(fd, env.p, env.len) == -1) ||
	    deliver_write_all(fd, m->data, m->len) == -1 || fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlinkat(deliver_tmpfd, name, 0);
		free(env.p);
		snprintf(err, errlen, "tmp/%s: %s", name, strerror(e));
		return -1;
	}
	free(env.p);
	if (close(fd) == -1) {
		e = errno;
		unlinkat(deliver_tmpfd, name, 0);
		snprintf(err, errlen, "tmp/%s: %s", name, strerror(e));
		return -1;
	}
	if (renameat2(deliver_tmpfd, name, deliver_newfd, final,
	    RENAME_NOREPLACE) == -1) {
		e = errno;
		unlinkat(deliver_tmpfd, name, 0);
		if (e == EEXIST && m->stream != NULL)
			return deliver_sync_new(err, errlen) == 0 ? 1 : -1;
		snprintf(err, errlen, "new/%s: %s", final, strerror(e));
		return -1;
	}
	return deliver_sync_new(err, errlen);
}

/* One JSON line on stdout, flushed. */
static int
deliver_stdout(const struct deliver_msg *m, char *err, size_t errlen)
{
	struct buf	 b = { 0 };
	size_t			 i, j;
	bool			 first;
	int			 rc = 0;

	buf_puts(&b, "{\"subject\":");
	buf_json_strn(&b, m->subject, strlen(m->subject));
	buf_puts(&b, ",\"reply\":");
	if (m->reply != NULL && *m->reply != '\0')
		buf_json_strn(&b, m->reply, strlen(m->reply));
	else
		buf_puts(&b, "null");
	if (deliver_utf8_valid(m->data, m->len)) {
		buf_puts(&b, ",\"data\":");
		buf_json_strn(&b, m->data, m->len);
	} else {
		buf_puts(&b, ",\"data_base64\":");
		deliver_buf_base64(&b, m->data, m->len);
	}
	buf_puts(&b, ",\"headers\":{");
	/* Group repeated keys: {"K":["v1","v2"]}. */
	first = true;
	for (i = 0; i < m->nhdrs; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(m->hdrs[j].key, m->hdrs[i].key) == 0)
				break;
		if (j < i)
			continue;
		if (!first)
			buf_puts(&b, ",");
		first = false;
		buf_json_strn(&b, m->hdrs[i].key, strlen(m->hdrs[i].key));
		buf_puts(&b, ":[");
		for (j = i; j < m->nhdrs; j++) {
			if (strcmp(m->hdrs[j].key, m->hdrs[i].key) != 0)
				continue;
			if (j > i)
				buf_puts(&b, ",");
			buf_json_strn(&b, m->hdrs[j].value,
			    strlen(m->hdrs[j].value));
		}
		buf_puts(&b, "]");
	}
	buf_puts(&b, "}");
	if (m->stream != NULL) {
		buf_puts(&b, ",\"stream\":");
		buf_json_strn(&b, m->stream, strlen(m->stream));
		{
			char num[32];

			snprintf(num, sizeof num, ",\"seq\":%llu",
			    (unsigned long long)m->seq);
			buf_puts(&b, num);
		}
	}
	buf_puts(&b, "}\n");
	if (b.oom) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	} else if (fwrite(b.p, 1, b.len, stdout) != b.len ||
	    fflush(stdout) == EOF) {
		snprintf(err, errlen, "stdout: %s", strerror(errno));
		rc = -1;
	}
	free(b.p);
	return rc;
}

/* Environment variable name for a header key: NATS_HEADER_<KEY>. */
static char *
deliver_header_env(const struct deliver_hdr *h)
{
	char	*s, *p;

	if (asprintf(&s, "NATS_HEADER_%s=%s", h->key, h->value) == -1)
		return NULL;
	for (p = s + strlen("NATS_HEADER_"); *p != '='; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
		else if (!((*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')))
			*p = '_';
	}
	return s;
}

/*
 * Build environ + NATS_SUBJECT, NATS_REPLY, NATS_HEADER_*, and in durable
 * mode NATS_STREAM, NATS_SEQUENCE and NATS_DELIVERED.
 */
static char **
deliver_exec_env(const struct deliver_msg *m, size_t *nadded)
{
	char	**envp;
	size_t	  n = 0, i, k = 0;

	while (environ[n] != NULL)
		n++;
	if ((envp = calloc(n + m->nhdrs + 6, sizeof *envp)) == NULL)
		return NULL;
	/* Our own variables first: getenv() finds the first match. */
	if (asprintf(&envp[k], "NATS_SUBJECT=%s", m->subject) == -1)
		goto fail;
	k++;
	if (asprintf(&envp[k], "NATS_REPLY=%s",
	    m->reply != NULL ? m->reply : "") == -1)
		goto fail;
	k++;
	if (m->stream != NULL) {
		if (asprintf(&envp[k], "NATS_STREAM=%s", m->stream) == -1)
			goto fail;
		k++;
		if (asprintf(&envp[k], "NATS_SEQUENCE=%llu",
		    (unsigned long long)m->seq) == -1)
			goto fail;
		k++;
		if (asprintf(&envp[k], "NATS_DELIVERED=%llu",
		    (unsigned long long)m->delivered) == -1)
			goto fail;
		k++;
	}
	for (i = 0; i < m->nhdrs; i++) {
		if ((envp[k] = deliver_header_env(&m->hdrs[i])) == NULL)
			goto fail;
		k++;
	}
	*nadded = k;
	for (i = 0; i < n; i++)
		envp[k + i] = environ[i];
	envp[k + n] = NULL;
	return envp;
fail:
	for (i = 0; i < k; i++)
		free(envp[i]);
	free(envp);
	return NULL;
}

/*
 * Wait for pid; while it runs, call m->progress every m->progress_ms
 * (a process descriptor makes the wait interruptible by a timeout).
 */
static int
deliver_wait(const struct deliver_msg *m, pid_t pid, int *st)
{
	struct pollfd	pfd;
	int		fd = -1, n;

	if (m->progress != NULL && m->progress_ms > 0)
		fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd != -1) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		while ((n = poll(&pfd, 1, (int)m->progress_ms)) != 1) {
			if (n == 0)
				m->progress(m->progress_arg);
			else if (errno != EINTR)
				break;
		}
		close(fd);
	}
	while (waitpid(pid, st, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/* Run the command with the body on stdin; committed when it exits 0. */
static int
deliver_exec(const struct deliver_msg *m, char *err, size_t errlen)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, dfl;
	char				*argv[] = { "sh", "-c", deliver_arg, NULL };
	char				**envp;
	size_t				 nadded = 0, i;
	pid_t				 pid;
	int				 p[2], rc, st;

	if ((envp = deliver_exec_env(m, &nadded)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/*
	 * Our threads block SIGTERM/SIGINT and we ignore SIGPIPE; the
	 * command gets the usual mask and dispositions, so that a stop
	 * signal sent to the process group reaches it.
	 */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	if (rc != 0) {
		close(p[1]);
		snprintf(err, errlen, "/bin/sh: %s", strerror(rc));
		rc = -1;
		goto out;
	}
	/* A command that ignores its stdin gets EPIPE here: not an error. */
	(void)deliver_write_all(p[1], m->data, m->len);
	close(p[1]);
	if (deliver_wait(m, pid, &st) == -1) {
		snprintf(err, errlen, "waitpid: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		rc = 0;
	else {
		if (WIFEXITED(st))
			snprintf(err, errlen, "command exited %d",
			    WEXITSTATUS(st));
		else
			snprintf(err, errlen, "command killed by signal %d",
			    WTERMSIG(st));
		rc = -1;
	}
out:
	for (i = 0; i < nadded; i++)
		free(envp[i]);
	free(envp);
	return rc;
}

/* Parse "js.<stream>.<digits>" optionally followed by ':' into *seq. */
static bool
deliver_parse_js_name(const char *name, const char *stream, uint64_t *seq)
{
	size_t			 len = strlen(stream);
	unsigned long long	 v = 0;
	const char		*p;

	if (strncmp(name, "js.", 3) != 0 || strncmp(name + 3, stream, len) ||
	    name[3 + len] != '.')
		return false;
	p = name + 4 + len;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (ULLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (unsigned long long)(*p - '0');
	}
	if (*p != '\0' && *p != ':')
		return false;
	*seq = v;
	return true;
}

/* qsort/bsearch order of stream sequences. */
static int
deliver_seq_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* List cur/ into deliver_cur for stream; false when it cannot be read. */
static bool
deliver_cur_scan(const char *stream, const struct stat *sb)
{
	struct dirent	*de;
	uint64_t	*nseqs, seq;
	DIR		*d;
	int		 fd;

	deliver_cur.valid = false;
	deliver_cur.n = 0;
	free(deliver_cur.stream);
	if ((deliver_cur.stream = strdup(stream)) == NULL)
		return false;
	deliver_cur.mtime = sb->st_mtim;
	deliver_cur.scanned = time(NULL);
	if ((fd = dup(deliver_curfd)) == -1)
		return false;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return false;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!deliver_parse_js_name(de->d_name, stream, &seq))
			continue;
		if (deliver_cur.n == deliver_cur.cap) {
			size_t ncap = deliver_cur.cap ? deliver_cur.cap * 2 :
			    256;

			nseqs = reallocarray(deliver_cur.seqs, ncap,
			    sizeof *nseqs);
			if (nseqs == NULL) {
				closedir(d);
				return false;
			}
			deliver_cur.seqs = nseqs;
			deliver_cur.cap = ncap;
		}
		deliver_cur.seqs[deliver_cur.n++] = seq;
	}
	closedir(d);
	if (deliver_cur.n > 0)
		qsort(deliver_cur.seqs, deliver_cur.n, sizeof *deliver_cur.seqs,
		    deliver_seq_cmp);
	deliver_cur.valid = true;
	return true;
}

/*
 * Is stream's seq in cur/ under any suffix?  The listing is reused while
 * cur/ keeps the modification time it had at the scan and that time was
 * DELIVER_CUR_SETTLE seconds older than the scan: a rename made after the
 * scan changes it (a coarse clock may round the new time down, but not
 * by seconds).  Otherwise the directory is listed again.
 */
static bool
deliver_cur_has(const char *stream, uint64_t seq)
{
	struct stat	sb;
	bool		fresh;

	if (fstat(deliver_curfd, &sb) == -1)
		return false;
	fresh = deliver_cur.valid && strcmp(deliver_cur.stream, stream) == 0 &&
	    sb.st_mtim.tv_sec == deliver_cur.mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == deliver_cur.mtime.tv_nsec &&
	    deliver_cur.mtime.tv_sec + DELIVER_CUR_SETTLE < deliver_cur.scanned;
	if (!fresh && !deliver_cur_scan(stream, &sb))
		return false;
	return deliver_cur.n > 0 && bsearch(&seq, deliver_cur.seqs,
	    deliver_cur.n, sizeof seq, deliver_seq_cmp) != NULL;
}

/* Is stream's seq in the inbox already?  deliver_lock held. */
static bool
deliver_exists_locked(const char *stream, uint64_t seq)
{
	struct stat	sb;
	char		name[256];

	if (deliver_mode != DELIVER_INBOX)
		return false;
	deliver_js_name(stream, seq, name, sizeof name);
	if (fstatat(deliver_newfd, name, &sb, 0) == 0 ||
	    fstatat(deliver_curfd, name, &sb, 0) == 0)
		return true;
	return deliver_cur_has(stream, seq);
}

int
deliver_commit(const struct deliver_msg *m, char *err, size_t errlen)
{
	int	rc;

	/* Commands are independent: run them outside the lock. */
	if (deliver_mode == DELIVER_EXEC)
		return deliver_exec(m, err, errlen);
	pthread_mutex_lock(&deliver_lock);
	switch (deliver_mode) {
	case DELIVER_INBOX:
		if (m->stream != NULL &&
		    deliver_exists_locked(deliver_key(m->stream), m->seq))
			rc = deliver_sync_new(err, errlen) == 0 ? 1 : -1;
		else
			rc = deliver_inbox(m, err, errlen);
		break;
	case DELIVER_STDOUT:
		rc = deliver_stdout(m, err, errlen);
		break;
	default:
		snprintf(err, errlen, "no delivery");
		rc = -1;
		break;
	}
	pthread_mutex_unlock(&deliver_lock);
	return rc;
}
