/*
 * ctlnats.c: natsvisorctl --nats, the control protocol carried by NATS.
 *
 * nats.c is loaded with dlopen() only when --nats is given: its header
 * gives the types (__typeof__ of each function), dlsym() the addresses,
 * and natsvisorctl's link line keeps no dependency on it.  One connection
 * without reconnects, one request, the reply frame decoded with the same
 * code as a socket reply.  A static natsvisorctl cannot dlopen and
 * execs its dynamic twin instead (ctlnats_exec).  See ctlnats.h.
 */
#include "ctlnats.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "ctlproto.h"

/* The nats.c functions used, resolved at run time. */
static struct {
	void *h;
	__typeof__(natsOptions_Create) *opts_create;
	__typeof__(natsOptions_SetURL) *opts_url;
	__typeof__(natsOptions_SetName) *opts_name;
	__typeof__(natsOptions_SetTimeout) *opts_timeout;
	__typeof__(natsOptions_SetAllowReconnect) *opts_reconnect;
	__typeof__(natsOptions_SetUserCredentialsFromFiles) *opts_creds;
	__typeof__(natsOptions_SetUserInfo) *opts_user;
	__typeof__(natsOptions_SetToken) *opts_token;
	__typeof__(natsOptions_Destroy) *opts_destroy;
	__typeof__(natsConnection_Connect) *connect;
	__typeof__(natsConnection_Request) *request;
	__typeof__(natsConnection_Destroy) *conn_destroy;
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
		SYM(opts_url, natsOptions_SetURL),
		SYM(opts_name, natsOptions_SetName),
		SYM(opts_timeout, natsOptions_SetTimeout),
		SYM(opts_reconnect, natsOptions_SetAllowReconnect),
		SYM(opts_creds, natsOptions_SetUserCredentialsFromFiles),
		SYM(opts_user, natsOptions_SetUserInfo),
		SYM(opts_token, natsOptions_SetToken),
		SYM(opts_destroy, natsOptions_Destroy),
		SYM(connect, natsConnection_Connect),
		SYM(request, natsConnection_Request),
		SYM(conn_destroy, natsConnection_Destroy),
		SYM(msg_data, natsMsg_GetData),
		SYM(msg_len, natsMsg_GetDataLength),
		SYM(msg_destroy, natsMsg_Destroy),
		SYM(status_text, natsStatus_GetText),
		SYM(close_wait, nats_CloseAndWait),
#undef SYM
	};

#ifdef NV_STATIC_CTL
	/* Not reached: main() hands --nats to natsvisorctl-nats. */
	fprintf(stderr, "natsvisorctl: a static program cannot load %s\n",
		CTLNATS_SONAME);
	(void)syms;
	return -1;
#else
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
#endif
}

#ifdef NV_STATIC_CTL
int ctlnats_exec(char **argv)
{
	char self[PATH_MAX], near[PATH_MAX + 32];
	const char *first = "/proc/self/exe";
	ssize_t n = readlink(first, self, sizeof self - 1);
	int first_err = errno;

	/* Next to this program first, so that a build tree runs its own. */
	if (n > 0 && self[0] == '/') {
		self[n] = '\0';
		snprintf(near, sizeof near, "%.*s/natsvisorctl-nats",
			 (int)(strrchr(self, '/') - self), self);
		execv(near, argv);
		first = near;
		first_err = errno;
	}
	execv(CTLNATS_HELPER, argv);
	fprintf(stderr,
		"natsvisorctl: --nats: cannot run natsvisorctl-nats: "
		"%s: %s; %s: %s\n",
		first, strerror(first_err), CTLNATS_HELPER, strerror(errno));
	return CTL_NO;
}
#endif

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

/* Options from URL and the credentials in the environment. */
static natsStatus ctlnats_options(natsOptions **o, const char *url)
{
	const char *creds = getenv("NATS_CREDS"), *user = getenv("NATS_USER");
	const char *token = getenv("NATS_TOKEN");
	natsStatus s = lib.opts_create(o);

	if (s == NATS_OK)
		s = lib.opts_url(*o, url);
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

int ctlnats_roundtrip(const char *url, const char *instance, bool control,
		      const char *req, size_t reqlen, uint64_t timeout_ms)
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
	s = ctlnats_options(&o, url);
	if (s == NATS_OK)
		s = lib.connect(&nc, o);
	if (s != NATS_OK) {
		fprintf(stderr, "natsvisorctl: cannot connect to NATS at %s: "
				"%s\n", url, lib.status_text(s));
		goto out;
	}
	if (timeout_ms > INT64_MAX / 2)
		timeout_ms = INT64_MAX / 2;
	s = lib.request(&reply, nc, subject, req, (int)reqlen,
			(int64_t)timeout_ms);
	if (s == NATS_NO_RESPONDERS) {
		fprintf(stderr, "natsvisorctl: no natsvisord answers on %s%s\n",
			subject,
			control ? " (control over NATS needs nats_control = "
				  "yes in its configuration)"
				: " (wrong --instance, or not connected?)");
		goto out;
	}
	if (s == NATS_MAX_PAYLOAD) {
		fprintf(stderr, "natsvisorctl: request larger than the NATS "
				"server's max_payload\n");
		code = CTL_USAGE;
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
