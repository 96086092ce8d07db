/*
 * ready-probe.c - a NATS subscriber and a minimal listener for the
 * readiness tests.
 *
 *	ready-probe URL sub SUBJECT
 *	ready-probe URL listen SUBJECT STAMPFILE
 *	ready-probe URL pub SUBJECT
 *
 * sub subscribes to SUBJECT, flushes, prints "subscribed" on stderr, then
 * prints every message as one line "SUBJECT PAYLOAD" on stdout (flushed
 * at once) until SIGTERM or SIGINT.  The tests read natsvisord's events
 * (natsvisor.<id>.event.>) with it.
 *
 * listen is the smallest correct listener: it subscribes to SUBJECT,
 * flushes, writes the wall-clock time in nanoseconds to STAMPFILE, and
 * then subscribes to $NATSVISOR_PING_SUBJECT, answering every ping with
 * an empty reply.  The stamp is the moment the listener could become
 * ready, for latency measurements; messages are printed as with sub.
 *
 * pub publishes one empty message to SUBJECT, flushes and exits 0 (the
 * tests forge a listener's hello with it).
 *
 * sub and listen reconnect for ever, 100 ms apart, unless READY_PROBE_MAX_RECONNECT
 * gives a budget: then, as a client with a finite budget does, the probe
 * gives up once the connection is closed for good, and exits 3.  A
 * server that cannot be reached at start is an exit 2.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static volatile sig_atomic_t probe_closed;

/* The connection is closed for good (reconnect budget spent): leave. */
static void probe_on_closed(natsConnection *nc, void *closure)
{
	probe_closed = 1;
	kill(getpid(), SIGTERM);
}

/* Answer a ping: an empty reply means alive and ready. */
static void probe_on_ping(natsConnection *nc, natsSubscription *sub,
			  natsMsg *msg, void *closure)
{
	const char *reply = natsMsg_GetReply(msg);

	if (reply != NULL)
		natsConnection_Publish(nc, reply, NULL, 0);
	natsMsg_Destroy(msg);
}

/* Write the wall-clock time in nanoseconds to PATH; 0 or -1. */
static int probe_stamp(const char *path)
{
	struct timespec ts;
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f, "%lld%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
	return fclose(f);
}

int main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	natsSubscription *sub = NULL, *ping = NULL;
	const char *ping_subject = getenv("NATSVISOR_PING_SUBJECT");
	const char *budget = getenv("READY_PROBE_MAX_RECONNECT");
	sigset_t set;
	int sig, rc = 2;
	int listen = argc == 5 && strcmp(argv[2], "listen") == 0;
	int pub = argc == 4 && strcmp(argv[2], "pub") == 0;

	if (!(argc == 4 && strcmp(argv[2], "sub") == 0) && !listen && !pub) {
		fprintf(stderr, "usage: ready-probe URL sub SUBJECT\n"
				"       ready-probe URL listen SUBJECT STAMPFILE\n"
				"       ready-probe URL pub SUBJECT\n");
		return 2;
	}
	if (listen && (ping_subject == NULL || *ping_subject == '\0')) {
		fprintf(stderr, "ready-probe: no NATSVISOR_PING_SUBJECT\n");
		return 2;
	}
	/* Blocked before nats.c starts its threads: only sigwait sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, argv[1]) != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, budget ? atoi(budget) : -1) !=
		    NATS_OK ||
	    natsOptions_SetClosedCB(o, probe_on_closed, NULL) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 100) != NATS_OK ||
	    natsConnection_Connect(&nc, o) != NATS_OK) {
		fprintf(stderr, "ready-probe: %s\n", nats_GetLastError(NULL));
		goto out;
	}
	if (pub) {
		if (natsConnection_Publish(nc, argv[3], NULL, 0) == NATS_OK &&
		    natsConnection_Flush(nc) == NATS_OK)
			rc = 0;
		else
			fprintf(stderr, "ready-probe: %s\n",
				nats_GetLastError(NULL));
		goto out;
	}
	if (natsConnection_Subscribe(&sub, nc, argv[3], probe_on_msg, NULL) !=
		    NATS_OK ||
	    natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
	    natsConnection_Flush(nc) != NATS_OK) {
		fprintf(stderr, "ready-probe: %s\n", nats_GetLastError(NULL));
		goto out;
	}
	if (listen && (probe_stamp(argv[4]) < 0 ||
		       natsConnection_Subscribe(&ping, nc, ping_subject,
						probe_on_ping, NULL) != NATS_OK)) {
		fprintf(stderr, "ready-probe: cannot listen\n");
		goto out;
	}
	fprintf(stderr, "subscribed\n");
	sigwait(&set, &sig);
	rc = probe_closed ? 3 : 0;
	if (probe_closed)
		fprintf(stderr, "ready-probe: connection closed for good\n");
out:
	natsSubscription_Destroy(ping);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	nats_Close();
	return rc;
}
