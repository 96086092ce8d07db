/*
 * ctlnats.h: natsvisorctl's transport over NATS (--nats URL).
 *
 * natsvisorctl links no NATS library, so that a status over the control
 * socket stays a handful of system calls.  For --nats it loads nats.c at
 * run time (dlopen of its shared object), sends the same control-protocol
 * frame it would write to the socket as a NATS request to
 * natsvisor.<instance>.request (commands that change nothing) or
 * natsvisor.<instance>.control (the others; natsvisord subscribes to it
 * only with nats_control = yes), and prints the reply frame.
 *
 * A static natsvisorctl (configure's default) cannot dlopen: it hands
 * --nats to natsvisorctl-nats, the same client linked dynamically.
 */
#ifndef NV_CTLNATS_H
#define NV_CTLNATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The soname natsvisorctl loads for --nats. */
#define CTLNATS_SONAME "libnats.so.3.4"

/* Split the --nats argument LIST at its commas into *URLS (NULL-
 * terminated, for argv_free()), white space trimmed, empty items left
 * out.  Returns the number of URLs (0: none), or -1 (ENOMEM). */
int ctlnats_urls(const char *list, char ***urls);

/* Print URLS to F, joined by ", ", each with the password or token of
 * its user information replaced by "***" ("nats://u:***@host:4222", a
 * token as "***@host:4222"): messages must not show credentials. */
void ctlnats_print_urls(FILE *f, char **urls);

#ifndef NV_STATIC_CTL
/* Send the request frame REQ to natsvisord INSTANCE through the NATS
 * servers URLS, tried in this order (credentials in a URL, or
 * $NATS_CREDS, $NATS_USER and $NATS_PASSWORD, $NATS_TOKEN), on the
 * control subject when CONTROL, and wait at most TIMEOUT_MS for the
 * reply.  PUBLISH is the subject of a publish, for messages; else NULL.
 * Prints the reply's out and err and returns its code; 3 when no daemon
 * answers (or NATS cannot be reached), 1 when the request exceeds the
 * server's max_payload or nats.c cannot be loaded. */
int ctlnats_roundtrip(char **urls, const char *instance, bool control,
		      const char *publish, const char *req, size_t reqlen,
		      uint64_t timeout_ms);
#else
/* Run natsvisorctl-nats with ARGV: the one in this program's directory,
 * else DIR/../libexec/natsvisor/natsvisorctl-nats, else CTLNATS_HELPER.
 * Returns only on failure, with the exit status 1, after naming every
 * path it tried. */
int ctlnats_exec(char **argv);
#endif

/* natsvisord's default instance_id: the host name, with '.', ' ', '*'
 * and '>' replaced by '_'. */
void ctlnats_default_instance(char *buf, size_t len);

#endif
