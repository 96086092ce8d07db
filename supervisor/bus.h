/*
 * bus.h: the daemon's NATS connection, owned by one thread.
 *
 * The loop thread never calls nats.c (in 3.4.1 even a publish can block
 * while a reconnect holds the connection lock).  It queues commands with
 * bus_*(); the bus thread performs them.  Everything nats.c reports
 * (replies, connection changes, messages on subscribed subjects) comes
 * back as struct bus_event through one queue and a uv_async_t, and is
 * handed to the loop's callback on the loop thread.
 *
 * All replies arrive on one wildcard subscription <inbox>.*: a ping is a
 * request whose reply subject is <inbox>.p<id>, a confirmed publish uses
 * <inbox>.c<id>, and a publish is "flushed" without blocking by a marker
 * message to <inbox>.f<id> sent right after it on the same connection:
 * when the marker comes back, the server has processed the publish.  A
 * listener says hello on <inbox>.h<id> once its ping subscription exists
 * (NATSVISOR_HELLO_SUBJECT), so that it is pinged at once.
 */
#ifndef NV_BUS_H
#define NV_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

enum bus_evtype {
	BUS_CONNECTED,    /* first connect or reconnect: data = server URL */
	BUS_DISCONNECTED, /* lost; nats.c keeps retrying.  tag 1: the
			   * outage's cause was reported already (BUS_ERROR) */
	BUS_REPLY,        /* reply to a ping: id, no_responders, data */
	BUS_CONFIRM,      /* a listener's confirmation of publish id */
	BUS_FLUSHED,      /* the marker of publish id came back; error = the
			   * connection's last permissions violation, if any */
	BUS_MSG,          /* message on a bus_subscribe() subject: tag */
	BUS_ERROR,        /* asynchronous error: data = text */
	BUS_PUBLISH_FAILED, /* publish id was refused before sending: data */
	BUS_HELLO,        /* a listener's hello on <inbox>.h<id> */
	BUS_DENIED,       /* the server refused a publish to subject: data =
			   * its text (a -ERR, reported after the fact) */
	BUS_INBOX_DENIED, /* the server refused the daemon's subscription to
			   * its own inbox: no reply can reach it; data =
			   * the server's text */
};

struct bus_event {
	enum bus_evtype type;
	uint64_t id;
	int tag;
	bool no_responders;
	char *subject;
	char *reply;
	char *data;
	size_t len;
	char *error;
	struct bus_event *next;
};

typedef void (*bus_event_cb)(struct bus_event *ev, void *arg);

struct bus_header {
	const char *key;
	const char *value;
};

/* Start the bus thread and begin connecting to CFG's servers (retrying for
 * ever, 100-250 ms apart; 250 ms doubling to 2 s while the server refuses
 * the credentials).  Events go to CB on LOOP's thread. */
int bus_start(uv_loop_t *loop, const struct nv_config *cfg, bus_event_cb cb,
	      void *arg);

/* Send a ping request to SUBJECT; the reply comes as BUS_REPLY with ID. */
void bus_ping(const char *subject, uint64_t id);

/* Publish; then BUS_FLUSHED(id) once the server has it.  With CONFIRM, the
 * message carries the reply subject <inbox>.c<id> and the same subject as
 * the value of its Natsvisor-Confirm header.
 * HEADERS may be NULL. */
void bus_publish(uint64_t id, const char *subject, const void *data,
		 size_t len, const struct bus_header *headers, int nheaders,
		 bool confirm);

/* Publish a plain message (events, replies to NATS-side requests). */
void bus_send(const char *subject, const void *data, size_t len);

/* Subscribe SUBJECT; its messages come as BUS_MSG with TAG. */
void bus_subscribe(const char *subject, int tag);

/* The inbox prefix (valid after bus_start). */
const char *bus_inbox(void);

void bus_event_free(struct bus_event *ev);

/* Close the connection, stop the thread, release everything. */
void bus_stop(void);

#endif
