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

/* The soname natsvisorctl loads for --nats. */
#define CTLNATS_SONAME "libnats.so.3.4"

/* Send the request frame REQ to natsvisord INSTANCE through the NATS
 * servers URL (comma-separated; credentials in the URL, or $NATS_CREDS,
 * $NATS_USER and $NATS_PASSWORD, $NATS_TOKEN), on the control subject
 * when CONTROL, and wait at most TIMEOUT_MS for the reply.  Prints the
 * reply's out and err and returns its code; 3 when no daemon answers (or
 * NATS cannot be reached), 1 when nats.c cannot be loaded. */
int ctlnats_roundtrip(const char *url, const char *instance, bool control,
		      const char *req, size_t reqlen, uint64_t timeout_ms);

#ifdef NV_STATIC_CTL
/* Run natsvisorctl-nats with ARGV: the one in this program's directory,
 * else CTLNATS_HELPER.  Returns only on failure, with the exit status 1,
 * after saying which paths it tried. */
int ctlnats_exec(char **argv);
#endif

/* natsvisord's default instance_id: the host name, with '.', ' ', '*'
 * and '>' replaced by '_'. */
void ctlnats_default_instance(char *buf, size_t len);

#endif
