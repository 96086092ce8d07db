/*
 * natsvisor-listen - the reference natsvisor listener.
 *
 * Subscribes to its subjects, commits every message (maildir inbox,
 * JSON lines on stdout, or a command), confirms committed messages that
 * ask for it, and answers natsvisord's pings through nvping.
 *
 * Threads: main blocks SIGTERM/SIGINT before any other thread exists and
 * waits for them with sigwait(), so no nats.c call ever runs in a signal
 * handler.  A session thread makes the connection (which, with
 * retry-on-failed-connect and unlimited reconnects, blocks until a server
 * answers: a listener started before its server simply waits) and then
 * subscribes: data subjects first, a flush, the refused-subscription
 * check, the ping subject last.  Messages are committed on nats.c's
 * delivery threads (deliver.c serialises inbox and stdout commits) or,
 * with --jobs N, handed to N worker threads.  On a signal main drains the
 * data subscriptions (every message received is still committed and
 * acknowledged), waits for the workers, then drains the connection, which
 * flushes the last acknowledgements and confirmations, and waits for it
 * to close.  A message never committed is never acknowledged: JetStream
 * redelivers it to the next incarnation.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "deliver.h"
#include "nvping.h"
#include "parse.h"

#define LISTEN_DEFAULT_URL	"nats://127.0.0.1:4222"
#define LISTEN_RECONNECT_WAIT	100	/* ms, plus up to LISTEN_JITTER */
#define LISTEN_JITTER		150	/* ms */
#define LISTEN_DRAIN_MS		30000
#define LISTEN_LOG_MAX		200	/* bytes of untrusted text per item */
#define LISTEN_MAX_SUBJECTS	256
#define LISTEN_MAX_JOBS		1024
#define LISTEN_MAX_PENDING	65536	/* messages per subscription */
#define LISTEN_NAK_DELAY	1000	/* ms, doubled per delivery */
#define LISTEN_NAK_DELAY_MAX	60000	/* ms */

struct listen_opts {
	const char	*subjects[LISTEN_MAX_SUBJECTS];
	int		 nsubjects;
	char		*subjects_env;		/* copy of $NATSVISOR_SUBJECTS */
	const char	*queue;
	enum deliver_mode mode;
	const char	*target;		/* inbox dir or command */
	bool		 envelope;
	const char	*server;
	const char	*durable;
	const char	*stream;
	bool		 create;
	int		 jobs;			/* concurrent commands */
	int64_t		 ack_wait;		/* ms; 0: the server's */
	int64_t		 nak_delay;		/* ms */
	int		 max_pending;		/* 0: unbounded */
	int64_t		 max_backlog;		/* 0: no bound */
};

static struct listen_opts	 listen_opts;
static nvping			*listen_ping;
static natsOptions		*listen_nopts;
static natsSubscription		*listen_subs[LISTEN_MAX_SUBJECTS];
static int			 listen_nsubs;
static jsCtx			*listen_js;
static int64_t			 listen_ack_wait;	/* ms, the consumer's */
/* Durable mode: the stream and consumer bound, by creation time (ns). */
static int64_t			 listen_stream_created;
static int64_t			 listen_consumer_created;
static pthread_t		 listen_watcher;
static bool			 listen_watching;

/* How often durable mode checks that its consumer is still the one bound. */
#define LISTEN_WATCH_MS		2000

/* Shared between main and the session/nats threads. */
static pthread_mutex_t		 listen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 listen_cond = PTHREAD_COND_INITIALIZER;
static natsConnection		*listen_nc;	/* set once connected */
static bool			 listen_stopping;
static bool			 listen_closed;
static bool			 listen_session_done;
static int			 listen_session_rc;
static unsigned long		 listen_handed_back;	/* nak'ed when stopping */
static bool			 listen_lost;	/* consumer gone: exit 1 */
static bool			 listen_reconnects;	/* wake the watcher */
static pthread_cond_t		 listen_watch_cond = PTHREAD_COND_INITIALIZER;

/* One "natsvisor-listen: ..." line on stderr, written at once. */
static void __attribute__((format(printf, 1, 2)))
listen_log(const char *fmt, ...)
{
	char	line[1024];
	va_list	ap;
	int	n;

	n = snprintf(line, sizeof line, "natsvisor-listen: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

/* Escape untrusted text for the log (bounded). */
static const char *
listen_esc(char *buf, size_t len, const char *s)
{
	if (s == NULL)
		s = "";
	deliver_escape(buf, len, s, strlen(s));
	return buf;
}

/* Print the usage line to f. */
static void
listen_usage(FILE *f)
{
	fprintf(f,
	    "usage: natsvisor-listen [--subject SUBJ ...] [--queue GROUP]\n"
	    "           [--inbox DIR [--envelope] | --exec CMD [--jobs N] | "
	    "--stdout]\n"
	    "           [--durable NAME --stream STREAM [--create "
	    "[--ack-wait DUR]]\n"
	    "            [--nak-delay DUR]]\n"
	    "           [--max-pending N] [--max-backlog N] [--server URL]\n"
	    "           [-h|--help] [--version]\n");
}

/* Split the whitespace-separated $NATSVISOR_SUBJECTS into the list. */
static int
listen_subjects_from_env(void)
{
	const char	*v = getenv("NATSVISOR_SUBJECTS");
	char		*p, *save = NULL, *tok;

	if (v == NULL)
		return 0;
	if ((listen_opts.subjects_env = strdup(v)) == NULL)
		return -1;
	p = listen_opts.subjects_env;
	while ((tok = strtok_r(p, " \t\n", &save)) != NULL) {
		p = NULL;
		if (listen_opts.nsubjects == LISTEN_MAX_SUBJECTS)
			return -1;
		listen_opts.subjects[listen_opts.nsubjects++] = tok;
	}
	return 0;
}

/*
 * A duration in milliseconds: a number with ms, s, m or h (a bare number
 * is seconds); -1 when invalid.
 */
static int64_t
listen_duration(const char *s)
{
	char		*end;
	double		 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0 || *s == '-' || *s == '+')
		return -1;
	if (strcmp(end, "ms") == 0)
		;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "h") == 0)
		v *= 3600000;
	else
		return -1;
	if (v > 86400000.0 * 365)
		return -1;
	return (int64_t)v;
}

/* A whole number between min and max for option name; exits 2 if not. */
static long long
listen_number(const char *name, const char *s, long long min, long long max)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		listen_log("--%s: not a number from %lld to %lld: %s", name,
		    min, max, s);
		exit(2);
	}
	return v;
}

/* Parse the command line; exits 0 for --help/--version, 2 on misuse. */
static void
listen_parse(int argc, char **argv)
{
	enum { O_STDOUT = 256, O_ENVELOPE, O_SERVER, O_VERSION, O_DURABLE,
	    O_STREAM, O_CREATE, O_ACK_WAIT, O_NAK_DELAY, O_MAX_PENDING,
	    O_MAX_BACKLOG };
	static const struct option longopts[] = {
		{ "subject",	required_argument,	NULL, 's' },
		{ "queue",	required_argument,	NULL, 'q' },
		{ "inbox",	required_argument,	NULL, 'i' },
		{ "exec",	required_argument,	NULL, 'e' },
		{ "stdout",	no_argument,		NULL, O_STDOUT },
		{ "envelope",	no_argument,		NULL, O_ENVELOPE },
		{ "server",	required_argument,	NULL, O_SERVER },
		{ "durable",	required_argument,	NULL, O_DURABLE },
		{ "stream",	required_argument,	NULL, O_STREAM },
		{ "create",	no_argument,		NULL, O_CREATE },
		{ "jobs",	required_argument,	NULL, 'j' },
		{ "ack-wait",	required_argument,	NULL, O_ACK_WAIT },
		{ "nak-delay",	required_argument,	NULL, O_NAK_DELAY },
		{ "max-pending", required_argument,	NULL, O_MAX_PENDING },
		{ "max-backlog", required_argument,	NULL, O_MAX_BACKLOG },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, O_VERSION },
		{ NULL,		0,			NULL, 0 }
	};
	int	c, ndeliver = 0;
	bool	jobs = false, ack_wait = false, nak_delay = false;

	listen_opts.mode = DELIVER_INBOX;
	listen_opts.jobs = 1;
	listen_opts.nak_delay = LISTEN_NAK_DELAY;
	listen_opts.max_pending = LISTEN_MAX_PENDING;
	while ((c = getopt_long(argc, argv, "s:q:i:e:j:h", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 's':
			if (listen_opts.nsubjects == LISTEN_MAX_SUBJECTS) {
				listen_log("too many subjects (at most %d)",
				    LISTEN_MAX_SUBJECTS);
				exit(2);
			}
			listen_opts.subjects[listen_opts.nsubjects++] = optarg;
			break;
		case 'q':
			listen_opts.queue = optarg;
			break;
		case 'i':
			listen_opts.mode = DELIVER_INBOX;
			listen_opts.target = optarg;
			ndeliver++;
			break;
		case 'e':
			listen_opts.mode = DELIVER_EXEC;
			listen_opts.target = optarg;
			ndeliver++;
			break;
		case O_STDOUT:
			listen_opts.mode = DELIVER_STDOUT;
			listen_opts.target = NULL;
			ndeliver++;
			break;
		case O_ENVELOPE:
			listen_opts.envelope = true;
			break;
		case O_SERVER:
			listen_opts.server = optarg;
			break;
		case O_DURABLE:
			listen_opts.durable = optarg;
			break;
		case O_STREAM:
			listen_opts.stream = optarg;
			break;
		case O_CREATE:
			listen_opts.create = true;
			break;
		case 'j':
			listen_opts.jobs = (int)listen_number("jobs", optarg, 1,
			    LISTEN_MAX_JOBS);
			jobs = true;
			break;
		case O_ACK_WAIT:
		case O_NAK_DELAY: {
			int64_t ms = listen_duration(optarg);

			if (ms <= 0) {
				listen_log("--%s: not a positive duration "
				    "(500ms, 30s, 2m): %s", c == O_ACK_WAIT ?
				    "ack-wait" : "nak-delay", optarg);
				exit(2);
			}
			if (c == O_ACK_WAIT) {
				listen_opts.ack_wait = ms;
				ack_wait = true;
			} else {
				listen_opts.nak_delay = ms;
				nak_delay = true;
			}
			break;
		}
		case O_MAX_PENDING:
			listen_opts.max_pending = (int)listen_number(
			    "max-pending", optarg, 0, INT32_MAX);
			break;
		case O_MAX_BACKLOG:
			listen_opts.max_backlog = listen_number("max-backlog",
			    optarg, 0, INT64_MAX);
			break;
		case 'h':
			listen_usage(stdout);
			exit(0);
		case O_VERSION:
			printf("natsvisor-listen %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			listen_usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		listen_log("unexpected argument: %s", argv[optind]);
		listen_usage(stderr);
		exit(2);
	}
	if (ndeliver > 1) {
		listen_log("--inbox, --exec and --stdout are exclusive");
		exit(2);
	}
	if (ndeliver == 0) {
		listen_opts.target = getenv("NATSVISOR_INBOX");
		if (listen_opts.target == NULL || *listen_opts.target == '\0') {
			listen_log("no delivery: give --inbox DIR, --exec CMD "
			    "or --stdout (or set NATSVISOR_INBOX)");
			listen_usage(stderr);
			exit(2);
		}
	}
	if (listen_opts.envelope && listen_opts.mode != DELIVER_INBOX) {
		listen_log("--envelope applies to --inbox only");
		exit(2);
	}
	if (jobs && listen_opts.mode != DELIVER_EXEC) {
		listen_log("--jobs applies to --exec only");
		exit(2);
	}
	if (ack_wait && !listen_opts.create) {
		listen_log("--ack-wait applies to --create only");
		exit(2);
	}
	if (nak_delay && listen_opts.durable == NULL) {
		listen_log("--nak-delay applies to --durable only");
		exit(2);
	}
	if ((listen_opts.durable != NULL) != (listen_opts.stream != NULL) ||
	    (listen_opts.create && listen_opts.durable == NULL)) {
		listen_log("--durable and --stream go together (--create "
		    "needs both)");
		exit(2);
	}
	if (listen_opts.queue == NULL) {
		/* the listener's queue_group, from natsvisord */
		const char *q = getenv("NATSVISOR_QUEUE_GROUP");
		if (q != NULL && *q != '\0')
			listen_opts.queue = q;
	}
	if (listen_opts.nsubjects == 0 && listen_subjects_from_env() == -1) {
		listen_log("NATSVISOR_SUBJECTS: too many subjects");
		exit(2);
	}
	if (listen_opts.durable != NULL && listen_opts.nsubjects > 1) {
		/* nats.c 3.4.1 consumers have one FilterSubject only. */
		listen_log("--durable takes at most one subject");
		exit(2);
	}
	if (listen_opts.nsubjects == 0 && listen_opts.durable == NULL) {
		listen_log("no subjects: give --subject or set "
		    "NATSVISOR_SUBJECTS");
		listen_usage(stderr);
		exit(2);
	}
}

/* Log a nats.c failure with the library's detailed error text. */
static void
listen_log_nats(const char *what, natsStatus s)
{
	const char	*txt = nats_GetLastError(NULL);
	char		 e[LISTEN_LOG_MAX];

	listen_log("%s: %s%s%s", what, natsStatus_GetText(s),
	    txt != NULL && *txt != '\0' ? ": " : "",
	    txt != NULL ? listen_esc(e, sizeof e, txt) : "");
}

/* Set servers from --server, else $NATS_URL (comma-separated), else the
 * default; credentials from the environment. */
static natsStatus
listen_setup_servers(natsOptions *o)
{
	const char	*url = listen_opts.server, *v, *v2;
	const char	*list[64];
	char		*copy, *p, *save = NULL, *tok;
	natsStatus	 s;
	int		 n = 0;

	if (url == NULL)
		url = getenv("NATS_URL");
	if (url == NULL || *url == '\0')
		url = LISTEN_DEFAULT_URL;
	if ((copy = strdup(url)) == NULL)
		return NATS_NO_MEMORY;
	for (p = copy; n < 64 && (tok = strtok_r(p, ", \t", &save)) != NULL;
	    p = NULL)
		list[n++] = tok;
	s = n > 0 ? natsOptions_SetServers(o, list, n) : NATS_INVALID_ARG;
	free(copy);
	if (s != NATS_OK)
		return s;

	if ((v = getenv("NATS_CREDS")) != NULL && *v != '\0')
		s = natsOptions_SetUserCredentialsFromFiles(o, v, NULL);
	else if ((v = getenv("NATS_NKEY_SEED")) != NULL && *v != '\0') {
		/* nats.c 3.4.1 needs the public key beside the seed file. */
		v2 = getenv("NATS_NKEY");
		if (v2 == NULL || *v2 == '\0') {
			listen_log("NATS_NKEY_SEED needs NATS_NKEY (the "
			    "user's public key)");
			return NATS_INVALID_ARG;
		}
		s = natsOptions_SetNKeyFromSeed(o, v2, v);
	}
	if (s == NATS_OK && (v = getenv("NATS_USER")) != NULL && *v != '\0')
		s = natsOptions_SetUserInfo(o, v, getenv("NATS_PASSWORD"));
	if (s == NATS_OK && (v = getenv("NATS_TOKEN")) != NULL && *v != '\0')
		s = natsOptions_SetToken(o, v);
	return s;
}

/* Disconnected: log (nvping has already marked us not ready). */
static void
listen_disconnected_cb(natsConnection *nc, void *closure)
{
	pthread_mutex_lock(&listen_lock);
	if (!listen_stopping)
		listen_log("disconnected");
	pthread_mutex_unlock(&listen_lock);
}

/* Reconnected: log where to. */
static void
listen_reconnected_cb(natsConnection *nc, void *closure)
{
	char	url[256] = "", u[256], e[LISTEN_LOG_MAX];

	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	listen_log("reconnected to %s", listen_esc(e, sizeof e,
	    url_redact(url, u, sizeof u)));
	/* The server may have lost the consumer (a memory stream): look. */
	pthread_mutex_lock(&listen_lock);
	listen_reconnects = true;
	pthread_cond_broadcast(&listen_watch_cond);
	pthread_mutex_unlock(&listen_lock);
}

/* Asynchronous errors: permission violations, slow consumer. */
static void
listen_error_cb(natsConnection *nc, natsSubscription *sub, natsStatus err,
    void *closure)
{
	const char	*txt = NULL;
	char		 e[LISTEN_LOG_MAX], subj[LISTEN_LOG_MAX];

	natsConnection_GetLastError(nc, &txt);
	listen_log("error%s%s: %s%s%s", sub != NULL ? " on " : "",
	    sub != NULL ? listen_esc(subj, sizeof subj,
	    natsSubscription_GetSubject(sub)) : "",
	    natsStatus_GetText(err), txt != NULL && *txt != '\0' ? ": " : "",
	    txt != NULL ? listen_esc(e, sizeof e, txt) : "");
}

/* Closed (end of drain, or given up): wake main. */
static void
listen_closed_cb(natsConnection *nc, void *closure)
{
	pthread_mutex_lock(&listen_lock);
	listen_closed = true;
	pthread_cond_broadcast(&listen_cond);
	pthread_mutex_unlock(&listen_lock);
}

/* Build the connection options. */
static natsStatus
listen_setup_options(natsOptions **op)
{
	const char	*name = getenv("NATSVISOR_NAME");
	natsOptions	*o;
	natsStatus	 s;

	if ((s = natsOptions_Create(&o)) != NATS_OK)
		return s;
	*op = o;
	s = listen_setup_servers(o);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, name != NULL && *name != '\0' ?
		    name : "natsvisor-listen");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	/* Pongs and confirmations go out at once, not after nats.c's 1 ms
	 * flusher delay: they are what readiness and --confirm wait for. */
	if (s == NATS_OK)
		s = natsOptions_SetSendAsap(o, true);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, LISTEN_RECONNECT_WAIT);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectJitter(o, LISTEN_JITTER,
		    LISTEN_JITTER);
	/* The ping subscription's bound; data ones get --max-pending. */
	if (s == NATS_OK)
		s = natsOptions_SetMaxPendingMsgs(o, 65536);
	if (s == NATS_OK)
		s = nvping_options(listen_ping, o);
	if (s == NATS_OK) {
		nvping_chain(listen_ping, listen_disconnected_cb,
		    listen_reconnected_cb, listen_error_cb, NULL);
		nvping_chain_closed(listen_ping, listen_closed_cb);
	}
	return s;
}

/* Turn msg's headers into deliver_hdr pairs; *out is freed by caller. */
static size_t
listen_headers(natsMsg *msg, struct deliver_hdr **out)
{
	const char		**keys = NULL, **vals;
	struct deliver_hdr	 *h = NULL, *nh;
	size_t			  n = 0;
	int			  nkeys = 0, nvals, i, j;

	*out = NULL;
	if (natsMsgHeader_Keys(msg, &keys, &nkeys) != NATS_OK)
		return 0;
	for (i = 0; i < nkeys; i++) {
		vals = NULL;
		if (natsMsgHeader_Values(msg, keys[i], &vals, &nvals) !=
		    NATS_OK)
			continue;
		nh = reallocarray(h, n + (size_t)nvals, sizeof *h);
		if (nh == NULL) {
			free(vals);
			break;
		}
		h = nh;
		for (j = 0; j < nvals; j++) {
			h[n].key = keys[i];
			h[n].value = vals[j];
			n++;
		}
		free(vals);
	}
	free(keys);
	*out = h;
	return n;
}

/* True once main has asked everything to stop. */
static bool
listen_is_stopping(void)
{
	bool	r;

	pthread_mutex_lock(&listen_lock);
	r = listen_stopping;
	pthread_mutex_unlock(&listen_lock);
	return r;
}

/*
 * Durable mode: the consumer bound is gone, or was made anew (the stream
 * too, perhaps): nothing more reaches this process, which must not go on
 * answering pings ready.  Say why once and stop with exit status 1, so
 * that the supervisor starts a new incarnation, which binds again (with
 * --create, to a consumer it makes again).
 */
static void __attribute__((format(printf, 1, 2)))
listen_lose(const char *fmt, ...)
{
	char	why[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&listen_lock);
	if (!listen_lost && !listen_stopping) {
		listen_lost = true;
		listen_log("%s", why);
		kill(getpid(), SIGTERM);
	}
	pthread_mutex_unlock(&listen_lock);
}

/*
 * Is the stream now another than the one bound (made anew since, or
 * gone)?  1 yes, 0 no, -1 when the server does not say.
 */
static int
listen_stream_changed(void)
{
	jsStreamInfo	*si = NULL;
	jsOptions	 o;
	jsErrCode	 jerr = 0;
	natsStatus	 s;
	int		 r;

	jsOptions_Init(&o);
	o.Wait = 2000;
	s = js_GetStreamInfo(&si, listen_js, listen_opts.stream, &o, &jerr);
	if (s != NATS_OK)
		r = jerr == JSStreamNotFoundErr ? 1 : -1;
	else
		r = si->Created != listen_stream_created;
	jsStreamInfo_Destroy(si);
	return r;
}

/* Core message: commit, then confirm if asked to. */
static void
listen_handle_core(natsConnection *nc, natsMsg *msg)
{
	struct deliver_msg	 m = { 0 };
	struct deliver_hdr	*hdrs;
	char			 err[512], e1[LISTEN_LOG_MAX], e2[LISTEN_LOG_MAX];
	natsStatus		 s;
	int			 rc;

	m.subject = natsMsg_GetSubject(msg);
	m.reply = natsMsg_GetReply(msg);
	m.data = natsMsg_GetData(msg);
	m.len = (size_t)natsMsg_GetDataLength(msg);
	if (m.data == NULL)
		m.data = "";
	m.nhdrs = listen_headers(msg, &hdrs);
	m.hdrs = hdrs;
	rc = deliver_commit(&m, err, sizeof err);
	if (rc == -1)
		listen_log("message on %s not committed: %s",
		    listen_esc(e1, sizeof e1, m.subject),
		    listen_esc(e2, sizeof e2, err));
	s = nvping_confirm(nc, msg, rc >= 0, rc >= 0 ? NULL : err);
	if (s != NATS_OK)
		listen_log_nats("confirm", s);
	free(hdrs);
}

/* The delay before a failed delivery number n comes back (doubling). */
static int64_t
listen_nak_delay(uint64_t n)
{
	int64_t	d = listen_opts.nak_delay;

	while (n-- > 1 && d < LISTEN_NAK_DELAY_MAX)
		d *= 2;
	return d < LISTEN_NAK_DELAY_MAX ? d : LISTEN_NAK_DELAY_MAX;
}

/* A command still runs: keep JetStream from redelivering its message. */
static void
listen_in_progress(void *arg)
{
	natsStatus	s;

	if ((s = natsMsg_InProgress(arg, NULL)) != NATS_OK)
		listen_log_nats("in progress", s);
}

/*
 * JetStream message: commit (deliver.c finds an earlier copy of this
 * stream sequence and makes no second one), then acknowledge and confirm.
 * A failed commit is negatively acknowledged with a growing delay, so the
 * server redelivers it; it is not confirmed (it is not lost either).
 */
static void
listen_handle_js(natsConnection *nc, natsMsg *msg)
{
	struct deliver_msg	 m = { 0 };
	struct deliver_hdr	*hdrs = NULL;
	jsMsgMetaData		*meta = NULL;
	char			 err[512], e1[LISTEN_LOG_MAX], e2[LISTEN_LOG_MAX];
	natsStatus		 s;
	int64_t			 delay;
	int			 rc, chg;

	if ((s = natsMsg_GetMetaData(&meta, msg)) != NATS_OK) {
		listen_log_nats("message without JetStream metadata", s);
		return;
	}
	m.subject = natsMsg_GetSubject(msg);
	m.reply = NULL;		/* the reply subject is the ack subject */
	m.data = natsMsg_GetData(msg);
	m.len = (size_t)natsMsg_GetDataLength(msg);
	if (m.data == NULL)
		m.data = "";
	m.stream = meta->Stream;
	m.seq = meta->Sequence.Stream;
	m.delivered = meta->NumDelivered;
	if (listen_opts.mode == DELIVER_EXEC && listen_ack_wait > 0) {
		m.progress = listen_in_progress;
		m.progress_arg = msg;
		m.progress_ms = listen_ack_wait / 2 > 0 ? listen_ack_wait / 2 : 1;
	}
	m.nhdrs = listen_headers(msg, &hdrs);
	m.hdrs = hdrs;
	rc = deliver_commit(&m, err, sizeof err);
	/*
	 * A first delivery of a sequence the inbox holds: the consumer was
	 * made again (it delivers everything anew: no copy), or the stream
	 * was, and this is another message under an old number.  Ask.
	 */
	if (rc == 1 && m.delivered == 1 && (chg = listen_stream_changed()) != 0) {
		if (chg > 0)
			listen_lose("stream %s was made anew since it was "
			    "bound: its messages are filed apart by the next "
			    "start", listen_esc(e1, sizeof e1, m.stream));
		listen_log("%s sequence %llu (delivery 1) is in the inbox, but "
		    "the stream %s: not acknowledged", listen_esc(e1,
		    sizeof e1, m.stream), (unsigned long long)m.seq,
		    chg > 0 ? "is another" : "cannot be checked");
		if ((s = natsMsg_NakWithDelay(msg, listen_nak_delay(2),
		    NULL)) != NATS_OK)
			listen_log_nats("nak", s);
		free(hdrs);
		jsMsgMetaData_Destroy(meta);
		return;
	}
	if (rc == 1)
		listen_log("%s sequence %llu (delivery %llu) is already in the "
		    "inbox: acknowledged, not copied",
		    listen_esc(e1, sizeof e1, m.stream),
		    (unsigned long long)m.seq,
		    (unsigned long long)m.delivered);
	if (rc >= 0) {
		if ((s = natsMsg_Ack(msg, NULL)) != NATS_OK)
			listen_log_nats("ack", s);
		if ((s = nvping_confirm(nc, msg, true, NULL)) != NATS_OK)
			listen_log_nats("confirm", s);
	} else {
		delay = listen_nak_delay(m.delivered);
		listen_log("%s sequence %llu (delivery %llu) not committed: "
		    "%s; redelivery in %lld ms",
		    listen_esc(e1, sizeof e1, m.stream),
		    (unsigned long long)m.seq,
		    (unsigned long long)m.delivered,
		    listen_esc(e2, sizeof e2, err), (long long)delay);
		if ((s = natsMsg_NakWithDelay(msg, delay, NULL)) != NATS_OK)
			listen_log_nats("nak", s);
	}
	free(hdrs);
	jsMsgMetaData_Destroy(meta);
}

/*
 * Handle one message on the calling thread, then free it.  Once stopping,
 * a JetStream message not yet started is handed back at once (negative
 * acknowledgement): the stream keeps it for the next incarnation, and the
 * drain does not wait for a backlog of slow commands.  Core messages have
 * no second chance and are all committed.
 */
static void
listen_handle(natsConnection *nc, natsMsg *msg, bool js)
{
	natsStatus	s;

	if (js && listen_is_stopping()) {
		if ((s = natsMsg_Nak(msg, NULL)) != NATS_OK)
			listen_log_nats("nak", s);
		pthread_mutex_lock(&listen_lock);
		listen_handed_back++;
		pthread_mutex_unlock(&listen_lock);
	} else if (js)
		listen_handle_js(nc, msg);
	else
		listen_handle_core(nc, msg);
	natsMsg_Destroy(msg);
}

/*
 * The worker pool (--jobs N > 1): one hand-over slot.  The delivery
 * thread waits while the slot is taken, so at most N messages run and
 * one waits; the rest stay in the subscription's queue, where they count
 * as backlog and are subject to --max-pending.
 */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	pthread_t	*threads;
	int		 nthreads;
	natsMsg		*slot;
	natsConnection	*slot_nc;
	bool		 slot_js;
	int		 active;	/* in the slot or running */
	bool		 quit;
} listen_pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* A worker: take the slot's message, handle it, repeat. */
static void *
listen_worker(void *arg)
{
	natsConnection	*nc;
	natsMsg		*msg;
	bool		 js;

	pthread_mutex_lock(&listen_pool.lock);
	for (;;) {
		while (listen_pool.slot == NULL && !listen_pool.quit)
			pthread_cond_wait(&listen_pool.cond, &listen_pool.lock);
		if (listen_pool.slot == NULL)
			break;
		msg = listen_pool.slot;
		nc = listen_pool.slot_nc;
		js = listen_pool.slot_js;
		listen_pool.slot = NULL;
		pthread_cond_broadcast(&listen_pool.cond);
		pthread_mutex_unlock(&listen_pool.lock);

		listen_handle(nc, msg, js);
		nvping_backlog_add(listen_ping, -1);

		pthread_mutex_lock(&listen_pool.lock);
		if (--listen_pool.active == 0)
			pthread_cond_broadcast(&listen_pool.cond);
	}
	pthread_mutex_unlock(&listen_pool.lock);
	return NULL;
}

/* Start the workers; -1 on failure. */
static int
listen_pool_start(int n)
{
	listen_pool.threads = calloc((size_t)n, sizeof *listen_pool.threads);
	if (listen_pool.threads == NULL)
		return -1;
	for (; listen_pool.nthreads < n; listen_pool.nthreads++) {
		if (pthread_create(&listen_pool.threads[listen_pool.nthreads],
		    NULL, listen_worker, NULL) != 0)
			return -1;
	}
	return 0;
}

/* Wait until no message is in the pool; false after timeout_ms. */
static bool
listen_pool_idle(int64_t timeout_ms)
{
	struct timespec	deadline;
	bool		idle = true;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(timeout_ms / 1000);
	pthread_mutex_lock(&listen_pool.lock);
	while (listen_pool.active > 0) {
		if (pthread_cond_timedwait(&listen_pool.cond, &listen_pool.lock,
		    &deadline) == ETIMEDOUT) {
			idle = listen_pool.active == 0;
			break;
		}
	}
	pthread_mutex_unlock(&listen_pool.lock);
	return idle;
}

/* Stop and join the workers (the pool must be idle). */
static void
listen_pool_stop(void)
{
	int	i;

	pthread_mutex_lock(&listen_pool.lock);
	listen_pool.quit = true;
	pthread_cond_broadcast(&listen_pool.cond);
	pthread_mutex_unlock(&listen_pool.lock);
	for (i = 0; i < listen_pool.nthreads; i++)
		pthread_join(listen_pool.threads[i], NULL);
	free(listen_pool.threads);
	listen_pool.threads = NULL;
	listen_pool.nthreads = 0;
}

/* Subscription handler: handle here, or hand over to a worker. */
static void
listen_msg_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
    void *closure)
{
	bool	js = closure != NULL;

	if (listen_pool.nthreads == 0) {
		listen_handle(nc, msg, js);
		return;
	}
	nvping_backlog_add(listen_ping, 1);
	pthread_mutex_lock(&listen_pool.lock);
	while (listen_pool.slot != NULL)
		pthread_cond_wait(&listen_pool.cond, &listen_pool.lock);
	listen_pool.slot = msg;
	listen_pool.slot_nc = nc;
	listen_pool.slot_js = js;
	listen_pool.active++;
	pthread_cond_broadcast(&listen_pool.cond);
	pthread_mutex_unlock(&listen_pool.lock);
}

/*
 * Bound the messages waiting in a subscription's queue (--max-pending):
 * beyond it nats.c drops them and reports a slow consumer.
 */
static void
listen_set_limits(natsSubscription *sub)
{
	if (listen_opts.max_pending > 0)
		natsSubscription_SetPendingLimits(sub,
		    listen_opts.max_pending, -1);
	else
		natsSubscription_SetPendingLimits(sub, -1, -1);
}

/*
 * Durable mode: note the creation time of the stream bound, and tell the
 * inbox, which files the messages of a stream made anew apart.
 */
static natsStatus
listen_bind_stream(void)
{
	jsStreamInfo	*si = NULL;
	jsErrCode	 jerr = 0;
	natsStatus	 s;
	unsigned	 gen;
	char		*cause = NULL;

	s = js_GetStreamInfo(&si, listen_js, listen_opts.stream, NULL, &jerr);
	if (s != NATS_OK) {
		listen_log("stream %s: %s (JetStream error %d)",
		    listen_opts.stream, natsStatus_GetText(s), (int)jerr);
		return s;
	}
	listen_stream_created = si->Created;
	jsStreamInfo_Destroy(si);
	if (deliver_js_incarnation(listen_opts.stream, listen_stream_created,
	    &gen, &cause) == -1) {
		listen_log("%s", cause != NULL ? cause : "out of memory");
		free(cause);
		return NATS_ERR;
	}
	if (gen > 1)
		listen_log("stream %s is the inbox's incarnation %u of it: its "
		    "messages are filed as js.%s.g%u.SEQUENCE",
		    listen_opts.stream, gen, listen_opts.stream, gen);
	return NATS_OK;
}

/*
 * Durable mode, a thread: every LISTEN_WATCH_MS, and at once after a
 * reconnect, check that the consumer bound still exists and is the same
 * (its creation time); else listen_lose().  A server that does not answer
 * proves nothing: the next round asks again.
 */
static void *
listen_watch(void *arg)
{
	struct timespec	 t;
	jsConsumerInfo	*ci;
	jsOptions	 o;
	jsErrCode	 jerr;
	natsStatus	 s;
	char		 e[LISTEN_LOG_MAX];

	(void)arg;
	jsOptions_Init(&o);
	o.Wait = LISTEN_WATCH_MS;
	pthread_mutex_lock(&listen_lock);
	while (!listen_stopping && !listen_lost) {
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += LISTEN_WATCH_MS / 1000;
		t.tv_nsec += (long)(LISTEN_WATCH_MS % 1000) * 1000000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		while (!listen_stopping && !listen_reconnects &&
		    pthread_cond_timedwait(&listen_watch_cond, &listen_lock,
		    &t) != ETIMEDOUT)
			;
		listen_reconnects = false;
		if (listen_stopping)
			break;
		pthread_mutex_unlock(&listen_lock);
		ci = NULL;
		jerr = 0;
		s = js_GetConsumerInfo(&ci, listen_js, listen_opts.stream,
		    listen_opts.durable, &o, &jerr);
		listen_esc(e, sizeof e, listen_opts.durable);
		if (s != NATS_OK && (jerr == JSConsumerNotFoundErr ||
		    jerr == JSStreamNotFoundErr))
			listen_lose("consumer %s is gone: exiting, to bind "
			    "again", e);
		else if (s == NATS_OK && ci->Created != listen_consumer_created)
			listen_lose("consumer %s was made anew since it was "
			    "bound: exiting, to bind again", e);
		jsConsumerInfo_Destroy(ci);
		pthread_mutex_lock(&listen_lock);
	}
	pthread_mutex_unlock(&listen_lock);
	return NULL;
}

/*
 * Durable mode: create the consumer explicitly (--create) or check that
 * it exists, then bind to it with manual acks.  A consumer created by
 * js_Subscribe itself would be deleted by the drain at exit.
 */
static natsStatus
listen_durable_subscribe(natsConnection *nc)
{
	jsConsumerConfig	 cc;
	jsConsumerInfo		*ci = NULL;
	jsSubOptions		 so;
	jsErrCode		 jerr = 0;
	const char		*filter = NULL, *subject;
	char			*deliver = NULL, e[LISTEN_LOG_MAX];
	natsStatus		 s;

	if ((s = natsConnection_JetStream(&listen_js, nc, NULL)) != NATS_OK)
		return s;
	if (listen_opts.nsubjects == 1)
		filter = listen_opts.subjects[0];
	if (listen_opts.create) {
		if (asprintf(&deliver, "natsvisor.deliver.%s.%s",
		    listen_opts.stream, listen_opts.durable) == -1)
			return NATS_NO_MEMORY;
		jsConsumerConfig_Init(&cc);
		cc.Durable = listen_opts.durable;
		cc.DeliverSubject = deliver;
		cc.DeliverGroup = listen_opts.queue;
		cc.AckPolicy = js_AckExplicit;
		cc.DeliverPolicy = js_DeliverAll;
		cc.FilterSubject = filter;
		cc.AckWait = listen_opts.ack_wait * 1000000;	/* ns */
		s = js_AddConsumer(&ci, listen_js, listen_opts.stream, &cc,
		    NULL, &jerr);
	} else
		s = js_GetConsumerInfo(&ci, listen_js, listen_opts.stream,
		    listen_opts.durable, NULL, &jerr);
	free(deliver);
	if (s != NATS_OK) {
		listen_log("consumer %s on stream %s: %s (JetStream error %d)",
		    listen_esc(e, sizeof e, listen_opts.durable),
		    listen_opts.stream, natsStatus_GetText(s), (int)jerr);
		return s;
	}
	listen_consumer_created = ci->Created;
	if ((s = listen_bind_stream()) != NATS_OK) {
		jsConsumerInfo_Destroy(ci);
		return s;
	}
	subject = ci->Config != NULL && ci->Config->FilterSubject != NULL ?
	    ci->Config->FilterSubject : filter;
	if (ci->Config != NULL)
		listen_ack_wait = ci->Config->AckWait / 1000000;
	s = nvping_set_subjects(listen_ping, &subject, subject != NULL);
	if (s == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = listen_opts.stream;
		so.Consumer = listen_opts.durable;
		so.Queue = listen_opts.queue;
		so.ManualAck = true;
		/* A non-NULL closure marks JetStream deliveries. */
		s = js_Subscribe(&listen_subs[0], listen_js, subject,
		    listen_msg_cb, listen_js, NULL, &so, &jerr);
	}
	if (s == NATS_OK) {
		listen_nsubs = 1;
		listen_set_limits(listen_subs[0]);
		listen_log("bound to consumer %s on stream %s%s%s",
		    listen_esc(e, sizeof e, listen_opts.durable),
		    listen_opts.stream, subject != NULL ? " for " : "",
		    subject != NULL ? subject : "");
	} else
		listen_log("bind to consumer: %s (JetStream error %d)",
		    natsStatus_GetText(s), (int)jerr);
	jsConsumerInfo_Destroy(ci);
	return s;
}

/*
 * The session: connect (blocks until a server answers), subscribe the
 * data subjects, wait for a flush, then let nvping check for refusals and
 * subscribe the ping subject last.
 */
static void *
listen_session(void *arg)
{
	natsConnection	*nc = NULL;
	natsStatus	 s;
	char		 url[256] = "", e[LISTEN_LOG_MAX], q[LISTEN_LOG_MAX];
	int		 i, rc = 1;

	/* The log shows no password or token (url_redact). */
	listen_log("connecting to %s", listen_esc(e, sizeof e,
	    url_redact(listen_opts.server != NULL ? listen_opts.server :
	    getenv("NATS_URL") != NULL && *getenv("NATS_URL") != '\0' ?
	    getenv("NATS_URL") : LISTEN_DEFAULT_URL, q, sizeof q)));
	/*
	 * One plain attempt first, so that a rejection (credentials, TLS)
	 * is reported and ends the process; "no server" switches to
	 * retrying for ever, and a server that accepts the connection but
	 * does not answer (stalled, overloaded) is tried again and again,
	 * each attempt bounded by the connect timeout.
	 */
	s = natsOptions_SetRetryOnFailedConnect(listen_nopts, false, NULL,
	    NULL);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, listen_nopts);
	for (i = 0; s == NATS_TIMEOUT && !listen_is_stopping(); i++) {
		if (i == 0)
			listen_log("the server does not answer yet: waiting");
		s = natsConnection_Connect(&nc, listen_nopts);
	}
	if (s == NATS_NO_SERVER && !listen_is_stopping()) {
		listen_log("no server answers yet: waiting for one");
		s = natsOptions_SetRetryOnFailedConnect(listen_nopts, true,
		    NULL, NULL);
		if (s == NATS_OK)
			s = natsConnection_Connect(&nc, listen_nopts);
	}
	if (s != NATS_OK) {
		listen_log_nats("connect", s);
		goto out;
	}
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	listen_log("connected to %s", listen_esc(e, sizeof e,
	    url_redact(url, q, sizeof q)));
	pthread_mutex_lock(&listen_lock);
	listen_nc = nc;
	pthread_mutex_unlock(&listen_lock);

	if (listen_opts.durable != NULL &&
	    listen_durable_subscribe(nc) != NATS_OK)
		goto out;
	for (i = 0; listen_opts.durable == NULL &&
	    i < listen_opts.nsubjects; i++) {
		const char *subj = listen_opts.subjects[i];

		if (listen_opts.queue != NULL)
			s = natsConnection_QueueSubscribe(&listen_subs[i], nc,
			    subj, listen_opts.queue, listen_msg_cb, NULL);
		else
			s = natsConnection_Subscribe(&listen_subs[i], nc, subj,
			    listen_msg_cb, NULL);
		if (s != NATS_OK) {
			if (!listen_is_stopping())
				listen_log_nats(listen_esc(e, sizeof e, subj),
				    s);
			goto out;
		}
		listen_nsubs = i + 1;
		listen_set_limits(listen_subs[i]);
		if (listen_opts.queue != NULL)
			listen_log("subscribed to %s (queue %s)",
			    listen_esc(e, sizeof e, subj),
			    listen_esc(q, sizeof q, listen_opts.queue));
		else
			listen_log("subscribed to %s",
			    listen_esc(e, sizeof e, subj));
	}
	/* A reconnect may intervene: wait until one flush gets through. */
	while ((s = natsConnection_FlushTimeout(nc, 5000)) != NATS_OK) {
		if (listen_is_stopping())
			goto out;
		listen_log_nats("flush", s);
		if (natsConnection_IsClosed(nc))
			goto out;
	}
	nvping_set_max_backlog(listen_ping, listen_opts.max_backlog);
	s = nvping_start(listen_ping, nc, listen_subs, listen_nsubs);
	if (s != NATS_OK) {
		if (!listen_is_stopping())
			listen_log_nats("ping subscription", s);
		goto out;
	}
	if (nvping_refused(listen_ping))
		listen_log("a subscription was refused: never ready");
	if (nvping_subject(listen_ping) != NULL)
		listen_log("answering pings on %s",
		    listen_esc(e, sizeof e, nvping_subject(listen_ping)));
	else
		listen_log("NATSVISOR_PING_SUBJECT not set: no pings");
	if (listen_opts.durable != NULL) {
		pthread_mutex_lock(&listen_lock);
		listen_watching = pthread_create(&listen_watcher, NULL,
		    listen_watch, NULL) == 0;
		pthread_mutex_unlock(&listen_lock);
		if (!listen_watching)
			listen_log("cannot watch the consumer: %s",
			    strerror(errno));
	}
	rc = 0;
out:
	pthread_mutex_lock(&listen_lock);
	listen_session_done = true;
	listen_session_rc = rc;
	pthread_cond_broadcast(&listen_cond);
	pthread_mutex_unlock(&listen_lock);
	if (rc != 0 && !listen_is_stopping()) {
		/* Wake main so it exits 1. */
		kill(getpid(), SIGTERM);
	}
	return NULL;
}

/* Free everything; the connection must be closed or never made. */
static void
listen_cleanup(void)
{
	int	i;

	nvping_free(listen_ping);
	for (i = 0; i < listen_nsubs; i++)
		natsSubscription_Destroy(listen_subs[i]);
	jsCtx_Destroy(listen_js);
	if (listen_nc != NULL)
		natsConnection_Destroy(listen_nc);
	natsOptions_Destroy(listen_nopts);
	deliver_fini();
	free(listen_opts.subjects_env);
	nats_CloseAndWait(2000);
}

/* Milliseconds left of the drain that began at start (at least 0). */
static int64_t
listen_left(const struct timespec *start)
{
	struct timespec	now;
	int64_t		used;

	clock_gettime(CLOCK_MONOTONIC, &now);
	used = (int64_t)(now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
	return used < LISTEN_DRAIN_MS ? LISTEN_DRAIN_MS - used : 0;
}

/*
 * Drain the data subscriptions: the server stops sending, and every
 * message already received goes through the handler (committed, then
 * acknowledged or confirmed).  Failures (not connected) are logged; what
 * was not committed is not acknowledged, so JetStream redelivers it.
 */
static void
listen_drain_subs(const struct timespec *start)
{
	natsStatus	s;
	int		i;

	for (i = 0; i < listen_nsubs; i++) {
		s = natsSubscription_DrainTimeout(listen_subs[i],
		    listen_left(start) + 1);
		if (s != NATS_OK)
			listen_log_nats("drain", s);
	}
	for (i = 0; i < listen_nsubs; i++) {
		s = natsSubscription_WaitForDrainCompletion(listen_subs[i],
		    listen_left(start) + 1);
		if (s != NATS_OK && s != NATS_ILLEGAL_STATE)
			listen_log_nats("drain", s);
	}
}

int
main(int argc, char **argv)
{
	pthread_t	 session;
	struct timespec	 deadline, start;
	sigset_t	 set;
	natsStatus	 s;
	char		*cause = NULL;
	int		 sig, rc;

	listen_parse(argc, argv);

	/* Before any thread: every thread inherits the blocked set. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (deliver_init(listen_opts.mode, listen_opts.target,
	    listen_opts.envelope, &cause) == -1) {
		listen_log("%s", cause != NULL ? cause : "out of memory");
		free(cause);
		return 1;
	}
	if ((listen_ping = nvping_new()) == NULL) {
		listen_log("out of memory");
		return 1;
	}
	if ((s = nats_Open(-1)) != NATS_OK) {
		listen_log_nats("nats_Open", s);
		return 1;
	}
	if ((s = listen_setup_options(&listen_nopts)) != NATS_OK) {
		listen_log_nats("options", s);
		return 1;
	}
	if (listen_opts.jobs > 1 && listen_pool_start(listen_opts.jobs) == -1) {
		listen_log("cannot start %d workers", listen_opts.jobs);
		return 1;
	}
	if (pthread_create(&session, NULL, listen_session, NULL) != 0) {
		listen_log("pthread_create: %s", strerror(errno));
		return 1;
	}

	sigwait(&set, &sig);
	pthread_mutex_lock(&listen_lock);
	listen_stopping = true;
	pthread_cond_broadcast(&listen_watch_cond);
	if (listen_session_done && listen_session_rc != 0) {
		pthread_mutex_unlock(&listen_lock);
		pthread_join(session, NULL);
		if (listen_nc != NULL) {
			natsConnection_Close(listen_nc);
		}
		listen_cleanup();
		return 1;
	}
	if (listen_nc == NULL) {
		/* Still waiting for a server: nothing to drain. */
		pthread_mutex_unlock(&listen_lock);
		listen_log("signal %d before connecting: exiting", sig);
		_exit(0);
	}
	pthread_mutex_unlock(&listen_lock);
	listen_log("signal %d: draining", sig);

	/* The session sees listen_stopping within one bounded flush. */
	pthread_join(session, NULL);
	if (listen_watching)	/* (set by the session, joined above) */
		pthread_join(listen_watcher, NULL);
	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = 0;
	if (natsConnection_Status(listen_nc) != NATS_CONN_STATUS_CONNECTED) {
		/* No server to drain from: what was committed stays, what was
		 * not acknowledged stays in the stream.  Do not wait for a
		 * server that may not come back before the stop timeout. */
		listen_log("signal %d: not connected; closing without a drain",
		    sig);
		start.tv_sec -= LISTEN_DRAIN_MS / 1000;
	} else {
		listen_drain_subs(&start);
	}
	if (!listen_pool_idle(listen_left(&start))) {
		/* Workers still busy: their messages stay unacknowledged. */
		listen_log("drain did not finish in time: %d commands still "
		    "running", listen_pool.active);
		natsConnection_Close(listen_nc);
		_exit(1);
	}
	listen_pool_stop();
	if (listen_handed_back > 0)
		listen_log("%lu messages not started handed back to the stream",
		    listen_handed_back);
	s = natsConnection_DrainTimeout(listen_nc, listen_left(&start) + 1);
	if (s != NATS_OK) {
		/* Not connected: drain is refused; close instead. */
		natsConnection_Close(listen_nc);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += listen_left(&start) / 1000 + 5;
	pthread_mutex_lock(&listen_lock);
	while (!listen_closed) {
		if (pthread_cond_timedwait(&listen_cond, &listen_lock,
		    &deadline) == ETIMEDOUT) {
			listen_log("drain did not finish in time");
			rc = 1;
			break;
		}
	}
	pthread_mutex_unlock(&listen_lock);
	if (rc != 0)
		natsConnection_Close(listen_nc);
	listen_cleanup();
	listen_log("stopped");
	return listen_lost ? 1 : rc;
}
