/*
 * ctlnats.c: natsvisorctl --nats, the control protocol carried by NATS.
 *
 * nats.c is loaded with dlopen() only when --nats is given: its header
 * gives the types (__typeof__ of each function), dlsym() the addresses,
 * and natsvisorctl's link line keeps no dependency on it.  One connection
 * without reconnects, one request, the reply frame decoded with the same
 * code as a socket reply.  A static natsvisorctl cannot dlopen and
 * execs its dynamic twin instead (ctlnats_exec).  See ctlnats.h.
 *
 * A URL may carry a password or a token: messages show the servers only
 * through ctlnats_print_urls(), which hides them.
 */
#include "ctlnats.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctlproto.h"
#include "parse.h"

#ifndef NV_STATIC_CTL
/* (A static natsvisorctl, perhaps built on another C library, needs
 * neither the header nor the loader: it execs natsvisorctl-nats.) */
#include <dlfcn.h>
#include <nats/nats.h>

/* The nats.c functions used, resolved at run time. */
static struct {
	void *h;
	__typeof__(natsOptions_Create) *opts_create;
	__typeof__(natsOptions_SetServers) *opts_servers;
	__typeof__(natsOptions_SetNoRandomize) *opts_norandom;
	__typeof__(natsOptions_SetName) *opts_name;
	__typeof__(natsOptions_SetTimeout) *opts_timeout;
	__typeof__(natsOptions_SetAllowReconnect) *opts_reconnect;
	__typeof__(natsOptions_SetUserCredentialsFromFiles) *opts_creds;
	__typeof__(natsOptions_SetUserInfo) *opts_user;
	__typeof__(natsOptions_SetToken) *opts_token;
	__typeof__(natsOptions_Destroy) *opts_destroy;
	__typeof__(natsConnection_Connect) *connect;
	__typeof__(natsInbox_Create) *inbox_create;
	__typeof__(natsInbox_Destroy) *inbox_destroy;
	__typeof__(natsConnection_SubscribeSync) *subscribe_sync;
	__typeof__(natsConnection_PublishRequest) *publish_request;
	__typeof__(natsConnection_FlushTimeout) *flush;
	__typeof__(natsConnection_GetLastError) *last_error;
	__typeof__(natsSubscription_NextMsg) *next_msg;
	__typeof__(natsSubscription_Destroy) *sub_destroy;
	__typeof__(natsConnection_Destroy) *conn_destroy;
	__typeof__(natsConnection_GetMaxPayload) *max_payload;
	__typeof__(natsMsg_GetData) *msg_data;
	__typeof__(natsMsg_GetDataLength) *msg_len;
	__typeof__(natsMsg_Destroy) *msg_destroy;
	__typeof__(natsStatus_GetText) *status_text;
	__typeof__(nats_CloseAndWait) *close_wait;
} lib;

/* Resolve every symbol; 0, or -1 with a message printed. */
static int ctlnats_load(void)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define SYM(field, fn) { #fn, offsetof(__typeof__(lib), field) }
		SYM(opts_create, natsOptions_Create),
		SYM(opts_servers, natsOptions_SetServers),
		SYM(opts_norandom, natsOptions_SetNoRandomize),
		SYM(opts_name, natsOptions_SetName),
		SYM(opts_timeout, natsOptions_SetTimeout),
		SYM(opts_reconnect, natsOptions_SetAllowReconnect),
		SYM(opts_creds, natsOptions_SetUserCredentialsFromFiles),
		SYM(opts_user, natsOptions_SetUserInfo),
		SYM(opts_token, natsOptions_SetToken),
		SYM(opts_destroy, natsOptions_Destroy),
		SYM(connect, natsConnection_Connect),
		SYM(inbox_create, natsInbox_Create),
		SYM(inbox_destroy, natsInbox_Destroy),
		SYM(subscribe_sync, natsConnection_SubscribeSync),
		SYM(publish_request, natsConnection_PublishRequest),
		SYM(flush, natsConnection_FlushTimeout),
		SYM(last_error, natsConnection_GetLastError),
		SYM(next_msg, natsSubscription_NextMsg),
		SYM(sub_destroy, natsSubscription_Destroy),
		SYM(conn_destroy, natsConnection_Destroy),
		SYM(max_payload, natsConnection_GetMaxPayload),
		SYM(msg_data, natsMsg_GetData),
		SYM(msg_len, natsMsg_GetDataLength),
		SYM(msg_destroy, natsMsg_Destroy),
		SYM(status_text, natsStatus_GetText),
		SYM(close_wait, nats_CloseAndWait),
#undef SYM
	};

	lib.h = dlopen(CTLNATS_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib.h == NULL) {
		fprintf(stderr, "natsvisorctl: --nats needs the NATS C client "
				"library (%s; Debian package libnats3.4): %s\n",
			CTLNATS_SONAME, dlerror());
		return -1;
	}
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		void *p = dlsym(lib.h, syms[i].name);
		if (p == NULL) {
			fprintf(stderr, "natsvisorctl: %s: no symbol %s\n",
				CTLNATS_SONAME, syms[i].name);
			dlclose(lib.h);
			lib.h = NULL;
			return -1;
		}
		memcpy((char *)&lib + syms[i].off, &p, sizeof p);
	}
	return 0;
}
#endif /* !NV_STATIC_CTL */

#ifdef NV_STATIC_CTL
int ctlnats_exec(char **argv)
{
	char self[PATH_MAX], near[PATH_MAX + 32], up[PATH_MAX + 64];
	const char *path[4];
	int err[4], n = 0;
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);

	/* Next to this program first, so that a build tree runs its own;
	 * then where an installed tree keeps it relative to bin/, wherever
	 * that tree was moved; then where configure put it. */
	if (len > 0 && self[0] == '/') {
		char *slash;

		self[len] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(near, sizeof near, "%s/natsvisorctl-nats", self);
		slash = strrchr(self, '/');
		snprintf(up, sizeof up,
			 "%.*s/libexec/natsvisor/natsvisorctl-nats",
			 slash ? (int)(slash - self) : 0, self);
		path[n] = near;
		execv(near, argv);
		err[n++] = errno;
		if (strcmp(up, CTLNATS_HELPER) != 0) {
			path[n] = up;
			execv(up, argv);
			err[n++] = errno;
		}
	} else {
		path[n] = "/proc/self/exe";
		err[n++] = len < 0 ? errno : ENOENT;
	}
	path[n] = CTLNATS_HELPER;
	execv(CTLNATS_HELPER, argv);
	err[n++] = errno;
	fprintf(stderr, "natsvisorctl: --nats: cannot run natsvisorctl-nats:");
	for (int i = 0; i < n; i++)
		fprintf(stderr, "%s %s: %s", i ? ";" : "", path[i],
			strerror(err[i]));
	fputc('\n', stderr);
	return CTL_NO;
}
#endif

int ctlnats_urls(const char *list, char ***urls)
{
	size_t max = 2, len;
	const char *p, *s, *e;
	char **v;
	int n = 0;

	for (p = list; *p; p++)
		max += *p == ',';
	if ((v = calloc(max, sizeof *v)) == NULL)
		return -1;
	for (p = list;; p += len + 1) {
		len = strcspn(p, ",");
		for (s = p, e = p + len; s < e && (*s == ' ' || *s == '\t');)
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s && (v[n++] = strndup(s, (size_t)(e - s))) == NULL) {
			argv_free(v);
			return -1;
		}
		if (p[len] == '\0')
			break;
	}
	*urls = v;
	return n;
}

void ctlnats_print_urls(FILE *f, char **urls)
{
	char shown[512];

	for (int i = 0; urls[i]; i++)
		fprintf(f, "%s%s", i ? ", " : "",
			url_redact(urls[i], shown, sizeof shown));
}

void ctlnats_default_instance(char *buf, size_t len)
{
	char host[64] = "localhost";

	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '.' || *p == ' ' || *p == '*' || *p == '>')
			*p = '_';
	snprintf(buf, len, "%s", host);
}

#ifndef NV_STATIC_CTL
/* Write all of BUF to FD, ignoring errors (a closed pipe). */
static void ctlnats_write(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

/* Options from URLS and the credentials in the environment.  The
 * servers are tried in the order given. */
static natsStatus ctlnats_options(natsOptions **o, char **urls)
{
	const char *creds = getenv("NATS_CREDS"), *user = getenv("NATS_USER");
	const char *token = getenv("NATS_TOKEN");
	natsStatus s = lib.opts_create(o);
	int n = 0;

	while (urls[n])
		n++;
	if (s == NATS_OK)
		s = lib.opts_servers(*o, (const char **)urls, n);
	if (s == NATS_OK)
		s = lib.opts_norandom(*o, true);
	if (s == NATS_OK)
		s = lib.opts_name(*o, "natsvisorctl");
	if (s == NATS_OK)
		s = lib.opts_timeout(*o, 5000);
	if (s == NATS_OK)
		s = lib.opts_reconnect(*o, false);
	if (s == NATS_OK && creds && *creds)
		s = lib.opts_creds(*o, creds, NULL);
	if (s == NATS_OK && user && *user)
		s = lib.opts_user(*o, user, getenv("NATS_PASSWORD"));
	if (s == NATS_OK && token && *token)
		s = lib.opts_token(*o, token);
	return s;
}

static int64_t ctlnats_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A request on SUBJECT, its reply in *REPLY.  The request is flushed
 * first: the server has processed it when the flush returns, and a
 * refusal (permissions on SUBJECT or on the reply inbox) has been read
 * by then, so it ends the wait at once (NATS_NOT_PERMITTED) instead of
 * after the whole timeout. */
static natsStatus ctlnats_request(natsConnection *nc, const char *subject,
				  const char *req, size_t reqlen,
				  int64_t timeout_ms, natsMsg **reply)
{
	natsInbox *inbox = NULL;
	natsSubscription *sub = NULL;
	const char *why = NULL;
	int64_t t0 = ctlnats_now_ms(), left;
	natsStatus s = lib.inbox_create(&inbox);

	if (s == NATS_OK)
		s = lib.subscribe_sync(&sub, nc, inbox);
	if (s == NATS_OK)
		s = lib.publish_request(nc, subject, inbox, req, (int)reqlen);
	if (s == NATS_OK)
		s = lib.flush(nc, timeout_ms > 0 ? timeout_ms : 1);
	if (s == NATS_OK && lib.last_error(nc, &why) == NATS_NOT_PERMITTED)
		s = NATS_NOT_PERMITTED;
	if (s == NATS_OK) {
		left = timeout_ms - (ctlnats_now_ms() - t0);
		s = lib.next_msg(reply, sub, left > 0 ? left : 1);
	}
	if (sub)
		lib.sub_destroy(sub);
	if (inbox)
		lib.inbox_destroy(inbox);
	return s;
}

int ctlnats_roundtrip(char **urls, const char *instance, bool control,
		      const char *publish, const char *req, size_t reqlen,
		      uint64_t timeout_ms)
{
	natsOptions *o = NULL;
	natsConnection *nc = NULL;
	natsMsg *reply = NULL;
	natsStatus s;
	char subject[256];
	const char *out, *err;
	size_t outlen, errlen;
	int code = CTL_UNREACHABLE, rc;

	if (ctlnats_load() < 0)
		return CTL_NO;
	snprintf(subject, sizeof subject, "natsvisor.%s.%s", instance,
		 control ? "control" : "request");
	const char *creds = getenv("NATS_CREDS");
	if (creds && *creds && access(creds, R_OK) != 0) {
		/* nats.c would only say "Error" */
		fprintf(stderr, "natsvisorctl: cannot connect to NATS: "
				"NATS_CREDS '%s': %s\n", creds, strerror(errno));
		goto out;
	}
	s = ctlnats_options(&o, urls);
	if (s == NATS_OK)
		s = lib.connect(&nc, o);
	if (s != NATS_OK) {
		fputs("natsvisorctl: cannot connect to NATS at ", stderr);
		ctlnats_print_urls(stderr, urls);
		fprintf(stderr, ": %s\n", lib.status_text(s));
		goto out;
	}
	if (timeout_ms > INT64_MAX / 2)
		timeout_ms = INT64_MAX / 2;
	s = ctlnats_request(nc, subject, req, reqlen, (int64_t)timeout_ms,
			    &reply);
	if (s == NATS_NOT_PERMITTED) {
		const char *why = NULL;
		lib.last_error(nc, &why);
		fprintf(stderr, "natsvisorctl: %s: permission denied by the "
				"NATS server: %s\n",
			subject, why && *why ? why : lib.status_text(s));
		goto out;
	}
	if (s == NATS_NO_RESPONDERS) {
		fprintf(stderr, "natsvisorctl: no natsvisord answers on %s%s\n",
			subject,
			control ? " (control over NATS needs nats_control = "
				  "yes in its configuration)"
				: " (wrong --instance, or not connected?)");
		goto out;
	}
	if (s == NATS_MAX_PAYLOAD) {
		/* Refused by nats.c before sending, as the daemon's own
		 * connection refuses a message over the socket: exit 1.  The
		 * limit is on the whole frame, not the message alone. */
		if (publish)
			fprintf(stderr, "publish %s: not published: ", publish);
		else
			fputs("natsvisorctl: request not sent: ", stderr);
		fprintf(stderr, "%s (a request of %zu bytes; the NATS "
				"server's max_payload is %lld)\n",
			lib.status_text(s), reqlen,
			(long long)lib.max_payload(nc));
		code = CTL_NO;
		goto out;
	}
	if (s != NATS_OK) {
		fprintf(stderr, "natsvisorctl: %s: no answer: %s\n", subject,
			lib.status_text(s));
		goto out;
	}
	rc = ctl_decode_reply(lib.msg_data(reply),
			      (size_t)lib.msg_len(reply), &code, &out, &outlen,
			      &err, &errlen);
	if (rc != 1) {
		fprintf(stderr, "natsvisorctl: malformed reply on %s\n",
			subject);
		code = CTL_UNREACHABLE;
		goto out;
	}
	ctlnats_write(1, out, outlen);
	ctlnats_write(2, err, errlen);
out:
	if (reply)
		lib.msg_destroy(reply);
	if (nc)
		lib.conn_destroy(nc);
	if (o)
		lib.opts_destroy(o);
	lib.close_wait(2000);
	return code;
}
#endif /* !NV_STATIC_CTL */
