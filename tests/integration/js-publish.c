/*
 * js-publish.c - publish numbered messages to a JetStream stream, each
 * stored exactly once, for the durable-delivery tests.
 *
 *	js-publish URL SUBJECT COUNT [-p PREFIX] [-r RATE] [-s START]
 *	    [-t SECONDS]
 *
 * Message i (START <= i < START+COUNT) has the body and the message id
 * PREFIX-i.  Each is published with js_Publish, which waits for the
 * stream's acknowledgement; a timeout, "no responders" or a broken
 * connection is retried with the same id, so the stream's duplicate
 * window keeps a retried message stored once.  -r paces the publisher to
 * RATE messages a second (so that it keeps running while a test kills the
 * consumer).  Prints
 * "sent N retries R duplicates D" and exits 0 when all are stored, 1 when
 * the deadline (-t, default 120 s) passed first, 2 on misuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

/* Print the usage and exit 2. */
static void __attribute__((noreturn))
jp_usage(void)
{
	fprintf(stderr, "usage: js-publish URL SUBJECT COUNT [-p PREFIX] "
	    "[-r RATE] [-s START] [-t SECONDS]\n");
	exit(2);
}

/* Seconds on the monotonic clock. */
static double
jp_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* True for the failures worth retrying with the same message id. */
static bool
jp_retryable(natsStatus s)
{
	return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ||
	    s == NATS_CONNECTION_CLOSED || s == NATS_CONNECTION_DISCONNECTED ||
	    s == NATS_IO_ERROR || s == NATS_STALE_CONNECTION;
}

int
main(int argc, char **argv)
{
	natsConnection	*nc = NULL;
	natsOptions	*o = NULL;
	jsCtx		*js = NULL;
	jsPubOptions	 po;
	jsPubAck	*pa;
	jsErrCode	 jerr;
	natsStatus	 s;
	const char	*url, *subj, *prefix = "m";
	char		 body[256];
	long long	 count, start = 0, i, sent = 0, retries = 0, dups = 0;
	double		 deadline, limit = 120, rate = 0, t0, wait;
	int		 c, rc = 1;

	if (argc < 4)
		jp_usage();
	url = argv[1];
	subj = argv[2];
	count = atoll(argv[3]);
	optind = 4;
	while ((c = getopt(argc, argv, "p:r:s:t:")) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 's':
			start = atoll(optarg);
			break;
		case 't':
			limit = atof(optarg);
			break;
		default:
			jp_usage();
		}
	}
	if (optind != argc || count < 0)
		jp_usage();
	t0 = jp_now();
	deadline = t0 + limit;

	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, url) != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 100) != NATS_OK ||
	    natsConnection_Connect(&nc, o) != NATS_OK ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
		fprintf(stderr, "js-publish: connect: %s\n",
		    nats_GetLastError(NULL));
		goto out;
	}
	for (i = start; i < start + count; i++) {
		if (rate > 0 && (wait = t0 + (double)(i - start) / rate -
		    jp_now()) > 0)
			usleep((useconds_t)(wait * 1e6));
		snprintf(body, sizeof body, "%s-%lld", prefix, i);
		jsPubOptions_Init(&po);
		po.MsgId = body;
		po.MaxWait = 2000;
		for (;;) {
			pa = NULL;
			jerr = 0;
			s = js_Publish(&pa, js, subj, body, (int)strlen(body),
			    &po, &jerr);
			if (s == NATS_OK) {
				if (pa->Duplicate)
					dups++;
				jsPubAck_Destroy(pa);
				break;
			}
			if (!jp_retryable(s) || jp_now() > deadline) {
				fprintf(stderr, "js-publish: %s: %s (JetStream "
				    "error %d)\n", body, natsStatus_GetText(s),
				    (int)jerr);
				goto done;
			}
			retries++;
			/* "No responders" comes back at once: pace it. */
			if (s != NATS_TIMEOUT)
				usleep(50000);
		}
		sent++;
	}
	rc = 0;
done:
	printf("sent %lld retries %lld duplicates %lld\n", sent, retries,
	    dups);
out:
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	nats_Close();
	return rc;
}
