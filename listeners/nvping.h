/*
 * nvping.h - answer natsvisor pings from any nats.c program.
 *
 * natsvisord health-checks a listener with a request on the listener's
 * ping subject ($NATSVISOR_PING_SUBJECT).  The reply must come from the
 * connection that holds the data subscriptions, and only once the server
 * has registered them.  This helper does the protocol described in
 * natsvisor-ping(7):
 *
 *	nvping *np = nvping_new();             // reads the environment
 *	nvping_options(np, opts);              // before natsConnection_Connect
 *	natsConnection_Connect(&nc, opts);
 *	natsConnection_Subscribe(&sub, nc, "work.>", on_msg, NULL);
 *	nvping_start(np, nc, &sub, 1);         // flush, check, ping sub last
 *	...
 *	nvping_confirm(nc, msg, true, NULL);   // after a message is committed
 *	...
 *	natsConnection_Close(nc);
 *	nvping_free(np);                       // before destroying subs and nc
 *
 * Everything here is thread-safe: nats.c calls the handlers on its own
 * threads.
 */
#ifndef NVPING_H
#define NVPING_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

/*
 * Header a gated "natsvisorctl publish --confirm" puts on data messages;
 * its value is the subject to confirm on (or "1": the reply subject).
 */
#define NVPING_CONFIRM_HEADER "Natsvisor-Confirm"

typedef struct nvping nvping;

/*
 * Create the helper state.  Reads NATSVISOR_PING_SUBJECT and
 * NATSVISOR_NAME; without a ping subject the helper does nothing (not
 * run under natsvisord).  Returns NULL only when out of memory.
 */
nvping		*nvping_new(void);

/*
 * Free the state; unsubscribes the ping subject.  NULL is accepted.  Call
 * it after closing the connection and before destroying the
 * subscriptions and the connection: it waits (up to 5 s each) until the
 * ping handler and, with nvping_options(), the connection handlers have
 * run for the last time.
 */
void		 nvping_free(nvping *np);

/* The ping subject from the environment, or NULL when there is none. */
const char	*nvping_subject(const nvping *np);

/*
 * Install disconnected, reconnected, error and closed handlers on opts.
 * They track the connection state and refused subscriptions, then call
 * the handlers given with nvping_chain() and nvping_chain_closed().  Call
 * before natsConnection_Connect, and set no closed handler of your own.
 * Optional: pings are answered correctly without it (a reconnect is also
 * detected from the connection's statistics), but an asynchronous
 * permission error is seen sooner with it.
 */
natsStatus	 nvping_options(nvping *np, natsOptions *opts);

/* The application's own handlers, called after the helper's.  Any NULL. */
void		 nvping_chain(nvping *np, natsConnectionHandler disconnected,
		    natsConnectionHandler reconnected, natsErrHandler error,
		    void *closure);

/* The application's closed handler, called by the helper's.  May be NULL. */
void		 nvping_chain_closed(nvping *np, natsConnectionHandler closed);

/* For applications that keep their own handlers: call from them. */
void		 nvping_on_disconnected(nvping *np);
void		 nvping_on_reconnected(nvping *np);
void		 nvping_on_error(nvping *np, natsConnection *nc, natsStatus err);

/*
 * Call once every data subscription exists: flushes nc, checks that no
 * subscription was refused, then subscribes to the ping subject (last)
 * and says hello on NATSVISOR_HELLO_SUBJECT, if set.
 * subs are reported in the reply ("subjects") and their pending and
 * dropped counts become "backlog" and "dropped"; they must outlive
 * the helper (free the helper first).  A refused subscription is not an
 * error here: the listener keeps running and answers "not ready".
 * Returns NATS_OK when there is no ping subject.
 */
natsStatus	 nvping_start(nvping *np, natsConnection *nc,
		    natsSubscription **subs, int nsubs);

/*
 * Report these subjects instead of those of the subscriptions given to
 * nvping_start (e.g. a JetStream subscription, whose own subject is a
 * delivery subject).  Call before nvping_start.
 */
natsStatus	 nvping_set_subjects(nvping *np, const char *const *subjects,
		    int n);

/* The application's readiness (default: ready).  reason may be NULL. */
void		 nvping_set_ready(nvping *np, bool ready, const char *reason);

/*
 * Counters reported in the reply; a negative value means "compute" (the
 * default): backlog from the subscriptions given to nvping_start plus
 * nvping_backlog_add(), slow_consumer from the slow-consumer errors seen
 * by the error handler.
 */
void		 nvping_set_stats(nvping *np, int64_t backlog,
		    int64_t slow_consumer);

/*
 * Messages the application has taken off its subscriptions but not yet
 * committed (e.g. queued for worker threads): +1 when taken, -1 when
 * done.  They count in "backlog".
 */
void		 nvping_backlog_add(nvping *np, int64_t delta);

/*
 * Answer "not ready" while the backlog is above max, until it has
 * drained to max/2 or below (0: no bound, the default).
 */
void		 nvping_set_max_backlog(nvping *np, int64_t max);

/* True while a subscription of this connection has been refused. */
bool		 nvping_refused(nvping *np);

/*
 * After msg is committed (or failed for good), answer a confirm request:
 * publishes {"committed":true} or {"committed":false,"reason":"..."} to
 * nvping_confirm_subject(msg).  Does nothing (returns NATS_OK) for other
 * messages.  Also right for JetStream deliveries, including
 * redeliveries of a message already committed.
 */
natsStatus	 nvping_confirm(natsConnection *nc, natsMsg *msg, bool ok,
		    const char *reason);

/*
 * Where to confirm msg: the value of its Natsvisor-Confirm header when
 * that is a subject (two tokens or more, no wildcard), else its reply
 * subject unless that is a JetStream acknowledgement subject; NULL when
 * msg asks for no confirmation.
 */
const char	*nvping_confirm_subject(natsMsg *msg);

/* True when nvping_confirm_subject(msg) is not NULL. */
bool		 nvping_wants_confirm(natsMsg *msg);

#endif /* NVPING_H */
