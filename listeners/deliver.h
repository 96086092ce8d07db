/*
 * deliver.h - how natsvisor-listen commits a message: maildir inbox,
 * JSON lines on stdout, or a command per message.
 *
 * The module knows nothing of nats.c: natsvisor-listen turns a natsMsg
 * into a struct deliver_msg, so core and JetStream (durable) deliveries
 * share one path, and a message counts as committed only when
 * deliver_commit() returns 0.
 */
#ifndef DELIVER_H
#define DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum deliver_mode {
	DELIVER_INBOX,
	DELIVER_STDOUT,
	DELIVER_EXEC,
};

struct deliver_hdr {
	const char	*key;
	const char	*value;
};

struct deliver_msg {
	const char		*subject;
	const char		*reply;		/* NULL or "" when none */
	const char		*data;
	size_t			 len;
	const struct deliver_hdr *hdrs;
	size_t			 nhdrs;
	const char		*stream;	/* durable mode, else NULL */
	uint64_t		 seq;		/* stream sequence when stream set */
	uint64_t		 delivered;	/* delivery count when stream set */
	/* exec: called every progress_ms while the command runs (or NULL) */
	void			(*progress)(void *);
	void			*progress_arg;
	int64_t			 progress_ms;
};

/*
 * Prepare delivery.  arg is the inbox directory (created with tmp/, new/
 * and cur/ when missing) or the command; envelope puts a header block
 * before the body in inbox files.  Returns -1 with *cause set (to free).
 */
int	 deliver_init(enum deliver_mode mode, const char *arg, bool envelope,
	    char **cause);

/*
 * Durable inbox mode: the stream bound was created at created (ns since
 * the epoch).  Looks it up in the inbox's record of the stream's
 * incarnations, records it when it is new, and files its messages
 * accordingly; *gen is its number (1: the first the inbox saw, plain
 * names).  Other modes: *gen = 1.  Returns -1 with *cause set (to free).
 */
int	 deliver_js_incarnation(const char *stream, int64_t created,
	    unsigned *gen, char **cause);

/* Release what deliver_init allocated. */
void	 deliver_fini(void);

/*
 * Commit one message.  Thread-safe: inbox and stdout deliveries are
 * serialised, commands run concurrently.  Returns 0 once the message is
 * durable (inbox: renamed into new/ and new/ synced; stdout: written and
 * flushed; exec: the command exited 0), 1 in durable inbox mode when the
 * inbox already held it, in new/ or in cur/ (also with a maildir
 * ":2,FLAGS" suffix): a redelivery, of which no second copy is made.
 * Else -1 with a reason in err.
 */
int	 deliver_commit(const struct deliver_msg *m, char *err, size_t errlen);

/* Copy src (n bytes) into dst as printable, escaped, bounded text. */
void	 deliver_escape(char *dst, size_t dstlen, const char *src, size_t n);

#endif /* DELIVER_H */
