/*
 * ready-probe.c - a NATS subscriber for the readiness tests.
 *
 *	ready-probe URL SUBJECT
 *
 * Subscribes to SUBJECT, flushes, prints "subscribed" on stderr, then
 * prints every message as one line "SUBJECT PAYLOAD" on stdout (flushed
 * at once) until SIGTERM or SIGINT.  The tests read natsvisord's events
 * (natsvisor.<id>.event.>) with it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <nats/nats.h>

/* Print one message as a line; newlines in the payload become spaces. */
static void probe_on_msg(natsConnection *nc, natsSubscription *sub,
			 natsMsg *msg, void *closure)
{
	const char *d = natsMsg_GetData(msg);
	int n = natsMsg_GetDataLength(msg);

	flockfile(stdout);
	fputs(natsMsg_GetSubject(msg), stdout);
	putchar(' ');
	for (int i = 0; i < n; i++)
		putchar(d[i] == '\n' ? ' ' : d[i]);
	putchar('\n');
	fflush(stdout);
	funlockfile(stdout);
	natsMsg_Destroy(msg);
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	natsSubscription *sub = NULL;
	sigset_t set;
	int sig, rc = 2;

	if (argc != 3) {
		fprintf(stderr, "usage: ready-probe URL SUBJECT\n");
		return 2;
	}
	/* Blocked before nats.c starts its threads: only sigwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, argv[1]) != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 100) != NATS_OK ||
	    natsConnection_Connect(&nc, o) != NATS_OK ||
	    natsConnection_Subscribe(&sub, nc, argv[2], probe_on_msg, NULL) !=
		    NATS_OK ||
	    natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
	    natsConnection_Flush(nc) != NATS_OK) {
		fprintf(stderr, "ready-probe: %s\n", nats_GetLastError(NULL));
		goto out;
	}
	fprintf(stderr, "subscribed\n");
	sigwait(&set, &sig);
	rc = 0;
out:
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	nats_Close();
	return rc;
}
