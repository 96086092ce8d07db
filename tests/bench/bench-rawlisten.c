/*
 * bench-rawlisten.c: bench-listen without nats.c.
 *
 * The same files as bench-listen (./starts, ./pid, ./phases) and the same
 * behaviour as natsvisord sees it, but it speaks the NATS client protocol
 * itself over one TCP socket and is linked statically like bench-child:
 * exec to main() loads nothing, and main() to subscribed costs only what
 * the protocol needs.  It shows what a restart to ready costs when the
 * listener wastes no time of its own.
 *
 * The sequence of natsvisor-ping(7): connect, read INFO, send CONNECT,
 * the data SUBs and a PING; the PONG proves that the server has processed
 * them (a -ERR before it is a refused subscription: exit 1).  Then SUB the
 * ping subject, the hello (one empty message to NATSVISOR_HELLO_SUBJECT,
 * if set, so that natsvisord pings at once) and PING again, in one write:
 * that PONG is "subscribed".  A ping (a message on the ping subscription
 * with a reply subject) is answered at once with {"pid":N}: ready, since
 * no "ready" member says otherwise, and the pid lets nvbench's observer
 * tell whose pong it saw.  Data messages are skipped unread, whatever
 * their size.
 *
 * ./phases: "PID MAIN CONNECTED SUBSCRIBED" (ns).  CONNECTED is when INFO
 * was read and CONNECT is written, in one write with the data SUBs;
 * bench-listen's nats.c connect also waits for a PONG there, a round trip
 * that this one shares with its data subscriptions.
 *
 * No reconnect: when the server closes the connection it exits 1 and its
 * supervisor restarts it; any -ERR also ends it (exit 1).  SIGTERM or
 * SIGINT: exit 0.  NATS_URL: the first of its comma-separated URLs,
 * nats://ADDRESS[:PORT], an IPv4 address, without credentials or TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stamp.h"

#define RL_LINE_MAX 65536 /* the longest line accepted from the server */
#define RL_PING_SID "1" /* the data subscriptions are 2, 3, ... */

static int sock = -1;
static char in[RL_LINE_MAX]; /* received, not yet parsed */
static size_t in_len;
static uint64_t skip; /* payload bytes still to discard */
static char out[RL_LINE_MAX + 64]; /* to send */
static size_t out_len;
static unsigned pongs; /* PONGs received */
static bool info_seen;
static char pong_body[32]; /* {"pid":N} */

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "bench-rawlisten: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Nothing to finish: the server drops our subscriptions. */
static void on_term(int sig)
{
	_exit(0);
}

/* Queue protocol text; out_flush() sends it. */
static void __attribute__((format(printf, 1, 2))) out_add(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + out_len, sizeof out - out_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof out - out_len)
		die("request too long (too many subjects?)");
	out_len += (size_t)n;
}

/* Send what out_add() queued (a closed connection: exit 1, no SIGPIPE). */
static void out_flush(void)
{
	size_t off = 0;
	while (off < out_len) {
		ssize_t n = send(sock, out + off, out_len - off, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR)
			die("send: %s", strerror(errno));
		off += n > 0 ? (size_t)n : 0;
	}
	out_len = 0;
}

/* Server text for stderr: bounded by the caller, control bytes masked. */
static const char *tame(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

/* Act on one line from the server (without its CRLF). */
static void on_line(char *line)
{
	char *w[6], *save = NULL, *p = line;
	int n = 0;

	if (strncmp(line, "MSG ", 4) == 0 || strncmp(line, "HMSG ", 5) == 0) {
		/* MSG subj sid [reply] size, HMSG subj sid [reply] hlen size */
		int args = line[0] == 'H' ? 4 : 3;
		strtok_r(p, " \t", &save);
		while (n < 6 && (w[n] = strtok_r(NULL, " \t", &save)) != NULL)
			n++;
		char *end = line;
		unsigned long long size =
			n > 0 ? strtoull(w[n - 1], &end, 10) : 0;
		if ((n != args && n != args + 1) || end == w[n - 1] || *end)
			die("bad message line: %.80s", tame(line));
		skip = size + 2; /* the payload and its CRLF */
		if (n == args + 1 && strcmp(w[1], RL_PING_SID) == 0) {
			out_add("PUB %s %zu\r\n%s\r\n", w[2], strlen(pong_body),
				pong_body);
			out_flush();
		}
	} else if (strcmp(line, "PING") == 0) {
		out_add("PONG\r\n");
		out_flush();
	} else if (strcmp(line, "PONG") == 0) {
		pongs++;
	} else if (strncmp(line, "-ERR", 4) == 0) {
		die("server: -ERR%.200s", tame(line + 4));
	} else if (strncmp(line, "INFO ", 5) == 0) {
		info_seen = true;
	} else if (strcmp(line, "+OK") != 0) {
		die("unexpected from the server: %.80s", tame(line));
	}
}

/* Read what the server sent and act on every complete line. */
static void pump(void)
{
	size_t off = 0;
	ssize_t n = read(sock, in + in_len, sizeof in - in_len);

	if (n == 0)
		die("connection closed by the server");
	if (n < 0) {
		if (errno == EINTR)
			return;
		die("read: %s", strerror(errno));
	}
	in_len += (size_t)n;
	while (off < in_len) {
		if (skip > 0) {
			size_t k = in_len - off < skip ? in_len - off : skip;
			off += k;
			skip -= k;
			continue;
		}
		char *nl = memchr(in + off, '\n', in_len - off);
		if (nl == NULL)
			break;
		*nl = '\0';
		if (nl > in + off && nl[-1] == '\r')
			nl[-1] = '\0';
		on_line(in + off);
		off = (size_t)(nl + 1 - in);
	}
	memmove(in, in + off, in_len - off);
	in_len -= off;
	if (in_len == sizeof in)
		die("a line from the server is over %d bytes", RL_LINE_MAX);
}

/* Connect to the first server of URLS (NATS_URL): an IPv4 literal and a
 * port, so that a static program needs no resolver (NSS) at run time. */
static void dial(const char *urls)
{
	const char *u = urls ? urls : "nats://127.0.0.1:4222";
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(4222)};
	char host[256], *c;
	int one = 1;

	if (strncmp(u, "nats://", 7) == 0)
		u += 7;
	snprintf(host, sizeof host, "%.*s", (int)strcspn(u, ",/"), u);
	if (strchr(host, '@'))
		die("credentials in NATS_URL are not supported");
	if ((c = strrchr(host, ':')) != NULL) {
		long port = strtol(c + 1, NULL, 10);
		if (port <= 0 || port > 65535)
			die("bad port in NATS_URL: %s", c + 1);
		sa.sin_port = htons((uint16_t)port);
		*c = '\0';
	}
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("NATS_URL: %s is not an IPv4 address", host);
	sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect to %s: %s", u, strerror(errno));
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_term};
	const char *ping = getenv("NATSVISOR_PING_SUBJECT");
	const char *hello = getenv("NATSVISOR_HELLO_SUBJECT");
	const char *subjects = getenv("NATSVISOR_SUBJECTS");
	char *list, *tok, *save = NULL;
	int64_t t_main = mono_ns(), t_conn, t_sub;
	int sid = 2;

	stamp_start(t_main);

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (ping == NULL || *ping == '\0')
		die("NATSVISOR_PING_SUBJECT is not set");
	if ((list = strdup(subjects ? subjects : "")) == NULL)
		die("out of memory");
	snprintf(pong_body, sizeof pong_body, "{\"pid\":%ld}", (long)getpid());

	dial(getenv("NATS_URL"));
	while (!info_seen)
		pump();
	/* Connected: CONNECT leaves in the same write as the data SUBs. */
	t_conn = mono_ns();
	out_add("CONNECT {\"verbose\":false,\"pedantic\":false,"
		"\"headers\":true,\"no_responders\":true,\"protocol\":1,"
		"\"name\":\"bench-rawlisten\"}\r\n");
	for (char *p = list; (tok = strtok_r(p, " \t", &save)) != NULL;
	     p = NULL)
		out_add("SUB %s %d\r\n", tok, sid++);
	out_add("PING\r\n");
	out_flush();
	while (pongs < 1)
		pump();
	/* The hello goes right behind the SUB, as the C helper sends it:
	 * the server routes it only after registering the subscription. */
	out_add("SUB %s " RL_PING_SID "\r\n", ping);
	if (hello && *hello)
		out_add("PUB %s 0\r\n\r\n", hello);
	out_add("PING\r\n");
	out_flush();
	while (pongs < 2)
		pump();
	t_sub = mono_ns();

	stamp_phases(t_main, t_conn, t_sub);
	for (;;)
		pump();
}
