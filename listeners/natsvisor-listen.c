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
 * delivery threads; deliver.c serialises them.  On a signal main drains
 * the connection (pending messages are still committed) and waits for it
 * to close.
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

#define LISTEN_DEFAULT_URL	"nats://127.0.0.1:4222"
#define LISTEN_RECONNECT_WAIT	100	/* ms, plus up to LISTEN_JITTER */
#define LISTEN_JITTER		150	/* ms */
#define LISTEN_DRAIN_MS		30000
#define LISTEN_LOG_MAX		200	/* bytes of untrusted text per item */
#define LISTEN_MAX_SUBJECTS	256

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
};

static struct listen_opts	 listen_opts;
static nvping			*listen_ping;
static natsOptions		*listen_nopts;
static natsSubscription		*listen_subs[LISTEN_MAX_SUBJECTS];
static int			 listen_nsubs;
static jsCtx			*listen_js;

/* Shared between main and the session/nats threads. */
static pthread_mutex_t		 listen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 listen_cond = PTHREAD_COND_INITIALIZER;
static natsConnection		*listen_nc;	/* set once connected */
static bool			 listen_stopping;
static bool			 listen_closed;
static bool			 listen_session_done;
static int			 listen_session_rc;

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
	    "           [--inbox DIR [--envelope] | --exec CMD | --stdout]\n"
	    "           [--durable NAME --stream STREAM [--create]]\n"
	    "           [--server URL] [-h|--help] [--version]\n");
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

/* Parse the command line; exits 0 for --help/--version, 2 on misuse. */
static void
listen_parse(int argc, char **argv)
{
	enum { O_STDOUT = 256, O_ENVELOPE, O_SERVER, O_VERSION, O_DURABLE,
	    O_STREAM, O_CREATE };
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
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, O_VERSION },
		{ NULL,		0,			NULL, 0 }
	};
	int	c, ndeliver = 0;

	listen_opts.mode = DELIVER_INBOX;
	while ((c = getopt_long(argc, argv, "s:q:i:e:h", longopts, NULL)) !=
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
	if ((listen_opts.durable != NULL) != (listen_opts.stream != NULL) ||
	    (listen_opts.create && listen_opts.durable == NULL)) {
		listen_log("--durable and --stream go together (--create "
		    "needs both)");
		exit(2);
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
	char	url[256] = "", e[LISTEN_LOG_MAX];

	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	listen_log("reconnected to %s", listen_esc(e, sizeof e, url));
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
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, LISTEN_RECONNECT_WAIT);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectJitter(o, LISTEN_JITTER,
		    LISTEN_JITTER);
	/* Messages are committed before they are taken off the queue. */
	if (s == NATS_OK)
		s = natsOptions_SetMaxPendingMsgs(o, 65536);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(o, listen_closed_cb, NULL);
	if (s == NATS_OK)
		s = nvping_options(listen_ping, o);
	if (s == NATS_OK)
		nvping_chain(listen_ping, listen_disconnected_cb,
		    listen_reconnected_cb, listen_error_cb, NULL);
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

/* Data message handler: commit, then confirm if asked to. */
static void
listen_msg_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
    void *closure)
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
	s = nvping_confirm(nc, msg, rc == 0, rc == 0 ? NULL : err);
	if (s != NATS_OK)
		listen_log_nats("confirm", s);
	free(hdrs);
	natsMsg_Destroy(msg);
}

/*
 * JetStream message handler: commit unless the inbox already holds this
 * stream sequence (a redelivery after a crash between commit and ack),
 * then acknowledge.  A failed commit is negatively acknowledged, so the
 * server redelivers it.
 */
static void
listen_js_msg_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
    void *closure)
{
	struct deliver_msg	 m = { 0 };
	struct deliver_hdr	*hdrs = NULL;
	jsMsgMetaData		*meta = NULL;
	char			 err[512], e1[LISTEN_LOG_MAX], e2[LISTEN_LOG_MAX];
	natsStatus		 s;
	int			 rc;

	if ((s = natsMsg_GetMetaData(&meta, msg)) != NATS_OK) {
		listen_log_nats("message without JetStream metadata", s);
		natsMsg_Destroy(msg);
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
	if (deliver_exists(m.stream, m.seq))
		rc = 0;
	else {
		m.nhdrs = listen_headers(msg, &hdrs);
		m.hdrs = hdrs;
		rc = deliver_commit(&m, err, sizeof err);
	}
	if (rc == 0)
		s = natsMsg_Ack(msg, NULL);
	else {
		listen_log("%s sequence %llu not committed: %s",
		    listen_esc(e1, sizeof e1, m.stream),
		    (unsigned long long)m.seq,
		    listen_esc(e2, sizeof e2, err));
		s = natsMsg_Nak(msg, NULL);
	}
	if (s != NATS_OK)
		listen_log_nats("ack", s);
	free(hdrs);
	jsMsgMetaData_Destroy(meta);
	natsMsg_Destroy(msg);
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
	subject = ci->Config != NULL && ci->Config->FilterSubject != NULL ?
	    ci->Config->FilterSubject : filter;
	s = nvping_set_subjects(listen_ping, &subject, subject != NULL);
	if (s == NATS_OK) {
		jsSubOptions_Init(&so);
		so.Stream = listen_opts.stream;
		so.Consumer = listen_opts.durable;
		so.Queue = listen_opts.queue;
		so.ManualAck = true;
		s = js_Subscribe(&listen_subs[0], listen_js, subject,
		    listen_js_msg_cb, NULL, NULL, &so, &jerr);
	}
	if (s == NATS_OK) {
		listen_nsubs = 1;
		natsSubscription_SetPendingLimits(listen_subs[0], -1, -1);
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

	listen_log("connecting to %s", listen_esc(e, sizeof e,
	    listen_opts.server != NULL ? listen_opts.server :
	    getenv("NATS_URL") != NULL && *getenv("NATS_URL") != '\0' ?
	    getenv("NATS_URL") : LISTEN_DEFAULT_URL));
	/*
	 * One plain attempt first, so that a rejection (credentials, TLS)
	 * is reported and ends the process; only "no server" switches to
	 * retrying for ever.
	 */
	s = natsOptions_SetRetryOnFailedConnect(listen_nopts, false, NULL,
	    NULL);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, listen_nopts);
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
	listen_log("connected to %s", listen_esc(e, sizeof e, url));
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
		natsSubscription_SetPendingLimits(listen_subs[i], -1, -1);
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

int
main(int argc, char **argv)
{
	pthread_t	 session;
	struct timespec	 deadline;
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
	if (pthread_create(&session, NULL, listen_session, NULL) != 0) {
		listen_log("pthread_create: %s", strerror(errno));
		return 1;
	}

	sigwait(&set, &sig);
	pthread_mutex_lock(&listen_lock);
	listen_stopping = true;
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

	rc = 0;
	s = natsConnection_DrainTimeout(listen_nc, LISTEN_DRAIN_MS);
	if (s != NATS_OK) {
		/* Not connected: drain is refused; close instead. */
		natsConnection_Close(listen_nc);
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += LISTEN_DRAIN_MS / 1000 + 5;
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
	pthread_join(session, NULL);
	listen_cleanup();
	listen_log("stopped");
	return rc;
}
