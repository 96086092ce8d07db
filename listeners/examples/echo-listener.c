/*
 * echo-listener.c - the smallest complete natsvisor listener in C.
 *
 * Subscribes to $NATSVISOR_SUBJECTS on $NATS_URL, prints each message as
 * "subject: body" on stdout, confirms it when asked, and answers pings
 * through the nvping helper.  SIGTERM or SIGINT ends it (exit 0).
 *
 *	cc echo-listener.c $(pkg-config --cflags --libs natsvisor-ping)
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "nvping.h"

#define ECHO_MAX_SUBS	64

static pthread_mutex_t	echo_lock = PTHREAD_MUTEX_INITIALIZER;

/* Print one message, then confirm it (a no-op unless asked). */
static void
echo_msg_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
    void *closure)
{
	pthread_mutex_lock(&echo_lock);
	printf("%s: %.*s\n", natsMsg_GetSubject(msg),
	    natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
	fflush(stdout);
	pthread_mutex_unlock(&echo_lock);
	nvping_confirm(nc, msg, true, NULL);
	natsMsg_Destroy(msg);
}

int
main(void)
{
	natsSubscription	*subs[ECHO_MAX_SUBS];
	natsConnection		*nc = NULL;
	natsOptions		*opts = NULL;
	nvping			*np;
	sigset_t		 set;
	const char		*url = getenv("NATS_URL");
	char			*list, *tok, *save = NULL, *p;
	int			 n = 0, sig, i;

	/* Block the stop signals before nats.c starts its threads. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if ((np = nvping_new()) == NULL ||
	    getenv("NATSVISOR_SUBJECTS") == NULL ||
	    (list = strdup(getenv("NATSVISOR_SUBJECTS"))) == NULL) {
		fprintf(stderr, "echo-listener: NATSVISOR_SUBJECTS not set\n");
		return 1;
	}
	if (natsOptions_Create(&opts) != NATS_OK ||
	    natsOptions_SetURL(opts, url ? url : NATS_DEFAULT_URL) != NATS_OK ||
	    natsOptions_SetMaxReconnect(opts, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(opts, 100) != NATS_OK ||
	    natsOptions_SetRetryOnFailedConnect(opts, true, NULL, NULL) !=
	    NATS_OK ||
	    nvping_options(np, opts) != NATS_OK ||
	    natsConnection_Connect(&nc, opts) != NATS_OK) {
		fprintf(stderr, "echo-listener: cannot connect: %s\n",
		    nats_GetLastError(NULL));
		return 1;
	}
	/* Data subjects first ... */
	for (p = list; n < ECHO_MAX_SUBS &&
	    (tok = strtok_r(p, " ", &save)) != NULL; p = NULL) {
		if (natsConnection_Subscribe(&subs[n], nc, tok, echo_msg_cb,
		    NULL) != NATS_OK) {
			fprintf(stderr, "echo-listener: %s: %s\n", tok,
			    nats_GetLastError(NULL));
			return 1;
		}
		n++;
	}
	/* ... then flush, check refusals, and subscribe the ping subject. */
	if (nvping_start(np, nc, subs, n) != NATS_OK) {
		fprintf(stderr, "echo-listener: %s\n", nats_GetLastError(NULL));
		return 1;
	}
	fprintf(stderr, "echo-listener: listening\n");

	sigwait(&set, &sig);
	natsConnection_Close(nc);
	nvping_free(np);
	for (i = 0; i < n; i++)
		natsSubscription_Destroy(subs[i]);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	free(list);
	nats_CloseAndWait(2000);
	return 0;
}
