/*
 * listen-probe.c - a tiny NATS client for the listener tests.
 *
 *	listen-probe URL request SUBJECT [-H KEY:VALUE] [-t MS] [DATA]
 *	listen-probe URL publish SUBJECT [-n COUNT] DATA
 *	listen-probe URL stream NAME SUBJECT
 *	listen-probe URL consumer STREAM NAME
 *
 * request prints the reply body and exits 0; 3 on no responders, 1 on a
 * timeout, 2 on any other failure.  publish flushes before exiting 0;
 * with -n it publishes COUNT messages DATA-1 ... DATA-COUNT at once.
 * stream creates a JetStream file stream NAME on SUBJECT.  consumer prints
 * {"ack_floor":N,"ack_pending":N,"pending":N,"delivered":N,
 * "redelivered":N} for the durable consumer NAME (stream sequences).
 * Connects once without retrying, so a test can poll with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

/* Print the usage and exit 2. */
static void __attribute__((noreturn))
probe_usage(void)
{
	fprintf(stderr, "usage: listen-probe URL request SUBJECT "
	    "[-H K:V] [-t MS] [DATA]\n"
	    "       listen-probe URL publish SUBJECT [-n COUNT] DATA\n"
	    "       listen-probe URL stream NAME SUBJECT\n"
	    "       listen-probe URL consumer STREAM NAME\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	natsConnection	*nc = NULL;
	natsOptions	*o = NULL;
	natsMsg		*req = NULL, *rep = NULL;
	const char	*url, *cmd, *subj, *data = "", *hdr[8];
	char		*k, *v;
	int64_t		 timeout = 2000;
	long		 count = 0, n;
	char		 numbered[512];
	natsStatus	 s;
	int		 nhdr = 0, c, i, rc = 2;

	if (argc < 4)
		probe_usage();
	url = argv[1];
	cmd = argv[2];
	subj = argv[3];
	optind = 4;
	while ((c = getopt(argc, argv, "H:n:t:")) != -1) {
		switch (c) {
		case 'H':
			if (nhdr < 8)
				hdr[nhdr++] = optarg;
			break;
		case 't':
			timeout = atoll(optarg);
			break;
		case 'n':
			count = atol(optarg);
			break;
		default:
			probe_usage();
		}
	}
	if (optind < argc)
		data = argv[optind];

	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, url) != NATS_OK ||
	    natsOptions_SetAllowReconnect(o, false) != NATS_OK ||
	    natsConnection_Connect(&nc, o) != NATS_OK) {
		fprintf(stderr, "listen-probe: connect: %s\n",
		    nats_GetLastError(NULL));
		goto out;
	}
	if (strcmp(cmd, "publish") == 0) {
		s = NATS_OK;
		if (count == 0)
			s = natsConnection_PublishString(nc, subj, data);
		for (n = 1; n <= count && s == NATS_OK; n++) {
			snprintf(numbered, sizeof numbered, "%s-%ld", data, n);
			s = natsConnection_PublishString(nc, subj, numbered);
		}
		if (s == NATS_OK)
			s = natsConnection_FlushTimeout(nc, timeout);
		rc = s == NATS_OK ? 0 : 2;
		goto out;
	}
	if (strcmp(cmd, "stream") == 0) {
		jsStreamConfig	 sc;
		jsCtx		*js = NULL;
		const char	*subs[1] = { data };

		jsStreamConfig_Init(&sc);
		sc.Name = subj;
		sc.Subjects = subs;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		s = natsConnection_JetStream(&js, nc, NULL);
		if (s == NATS_OK)
			s = js_AddStream(NULL, js, &sc, NULL, NULL);
		if (s != NATS_OK)
			fprintf(stderr, "listen-probe: stream: %s\n",
			    natsStatus_GetText(s));
		jsCtx_Destroy(js);
		rc = s == NATS_OK ? 0 : 2;
		goto out;
	}
	if (strcmp(cmd, "consumer") == 0) {
		jsConsumerInfo	*ci = NULL;
		jsCtx		*js = NULL;

		s = natsConnection_JetStream(&js, nc, NULL);
		if (s == NATS_OK)
			s = js_GetConsumerInfo(&ci, js, subj, data, NULL, NULL);
		if (s == NATS_OK)
			printf("{\"ack_floor\":%llu,\"ack_pending\":%lld,"
			    "\"pending\":%llu,\"delivered\":%llu,"
			    "\"redelivered\":%lld}\n",
			    (unsigned long long)ci->AckFloor.Stream,
			    (long long)ci->NumAckPending,
			    (unsigned long long)ci->NumPending,
			    (unsigned long long)ci->Delivered.Stream,
			    (long long)ci->NumRedelivered);
		else
			fprintf(stderr, "listen-probe: consumer: %s\n",
			    natsStatus_GetText(s));
		jsConsumerInfo_Destroy(ci);
		jsCtx_Destroy(js);
		rc = s == NATS_OK ? 0 : 2;
		goto out;
	}
	if (strcmp(cmd, "request") != 0)
		probe_usage();
	if (natsMsg_Create(&req, subj, NULL, data, (int)strlen(data)) !=
	    NATS_OK)
		goto out;
	for (i = 0; i < nhdr; i++) {
		k = strdup(hdr[i]);
		if (k == NULL || (v = strchr(k, ':')) == NULL) {
			free(k);
			probe_usage();
		}
		*v++ = '\0';
		natsMsgHeader_Add(req, k, v);
		free(k);
	}
	s = natsConnection_RequestMsg(&rep, nc, req, timeout);
	if (s == NATS_OK && rep != NULL) {
		printf("%.*s\n", natsMsg_GetDataLength(rep),
		    natsMsg_GetData(rep));
		rc = 0;
	} else if (s == NATS_NO_RESPONDERS)
		rc = 3;
	else if (s == NATS_TIMEOUT)
		rc = 1;
	else
		fprintf(stderr, "listen-probe: request: %s\n",
		    natsStatus_GetText(s));
out:
	natsMsg_Destroy(rep);
	natsMsg_Destroy(req);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	nats_Close();
	return rc;
}
