/*
 * bench-listen.c: the small listener of the readiness benchmarks.
 *
 * Like bench-child it appends "PID NS\n" (CLOCK_MONOTONIC at main()) to
 * ./starts and writes ./pid; then it connects to $NATS_URL, subscribes to
 * $NATSVISOR_SUBJECTS (messages are dropped), and answers natsvisord's
 * pings through the nvping helper: data subscriptions, flush, check, ping
 * subscription last.  ./phases gets "PID MAIN CONNECTED SUBSCRIBED" (ns),
 * to show where the time to readiness goes.  SIGTERM or SIGINT ends it.
 *
 * It uses nats.c's global message delivery, so a thousand of them do not
 * need a thousand times four threads, and SendAsap, so that a pong is
 * written at once (nats.c's flusher thread otherwise sleeps 1 ms before
 * it writes: a listener with default options adds that to every pong).
 */
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "nvping.h"
#include "stamp.h"

#define BL_MAX_SUBS 16

/* Data messages are not the point here: drop them. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
		   void *closure)
{
	nvping_confirm(nc, msg, true, NULL);
	natsMsg_Destroy(msg);
}

int main(void)
{
	natsSubscription *subs[BL_MAX_SUBS];
	natsConnection *nc = NULL;
	natsOptions *opts = NULL;
	sigset_t set;
	const char *url = getenv("NATS_URL");
	const char *subjects = getenv("NATSVISOR_SUBJECTS");
	char *list, *tok, *save = NULL, *p;
	int n = 0, sig;
	int64_t t_main, t_conn, t_sub;
	nvping *np;

	t_main = mono_ns();
	stamp_start(t_main);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if ((np = nvping_new()) == NULL ||
	    (list = strdup(subjects ? subjects : "bench.none")) == NULL) {
		fprintf(stderr, "bench-listen: out of memory\n");
		return 1;
	}
	if (natsOptions_Create(&opts) != NATS_OK ||
	    natsOptions_SetURL(opts, url ? url : NATS_DEFAULT_URL) != NATS_OK ||
	    natsOptions_SetMaxReconnect(opts, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(opts, 100) != NATS_OK ||
	    natsOptions_UseGlobalMessageDelivery(opts, true) != NATS_OK ||
	    natsOptions_SetSendAsap(opts, true) != NATS_OK ||
	    nvping_options(np, opts) != NATS_OK ||
	    natsConnection_Connect(&nc, opts) != NATS_OK) {
		fprintf(stderr, "bench-listen: cannot connect: %s\n",
			nats_GetLastError(NULL));
		return 1;
	}
	t_conn = mono_ns();
	for (p = list; n < BL_MAX_SUBS &&
	     (tok = strtok_r(p, " ", &save)) != NULL; p = NULL) {
		if (natsConnection_Subscribe(&subs[n], nc, tok, on_msg, NULL) !=
		    NATS_OK) {
			fprintf(stderr, "bench-listen: %s: %s\n", tok,
				nats_GetLastError(NULL));
			return 1;
		}
		n++;
	}
	if (nvping_start(np, nc, subs, n) != NATS_OK) {
		fprintf(stderr, "bench-listen: %s\n", nats_GetLastError(NULL));
		return 1;
	}
	t_sub = mono_ns();
	stamp_phases(t_main, t_conn, t_sub);
	sigwait(&set, &sig);
	natsConnection_Close(nc);
	nvping_free(np);
	for (int i = 0; i < n; i++)
		natsSubscription_Destroy(subs[i]);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	free(list);
	nats_CloseAndWait(2000);
	return 0;
}
