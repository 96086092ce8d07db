/*
 * control.h: the daemon's control socket.
 *
 * A Unix stream socket, mode 0600 (0660 with a control group), created
 * under a tight umask after checking that no other daemon answers on the
 * path.  Every connection's peer credentials are checked (root, the
 * daemon's uid, members of the control group).  Each connection carries
 * one request (ctlproto.h) bounded in size and time; a malformed or
 * oversized request, or one that arrives with bytes after it, gets an
 * error reply and is closed (bytes that arrive after the request was
 * handed to the loop are read and dropped: the request is running).  Complete requests
 * are handed to the loop; the loop answers later with control_reply(),
 * possibly much later (wait-ready, publish are held until a state change).
 *
 * A client has CONTROL_IDLE_MS between reads to send its request, and as
 * long to read its reply; a parked client (request handed, no reply yet)
 * has no time limit.  The daemon must ignore SIGPIPE (a client may vanish
 * while its reply is written).  All descriptors are close-on-exec.
 */
#ifndef NV_CONTROL_H
#define NV_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "ctlproto.h"

#define CONTROL_IDLE_MS 10000
#define CONTROL_BACKLOG 1024
#define CONTROL_CLIENTS_MAX 8192 /* beyond: reply 1 "too many clients" */

struct ctl_client;

/* Called on the loop thread with a complete request; REQ stays valid until
 * control_reply() for this client.  The handler must eventually call
 * control_reply() exactly once (unless the client went away: see below). */
typedef void (*control_request_cb)(struct ctl_client *c,
				   const struct ctl_request *req, void *arg);
/* Called when a client disconnects before its reply was sent: the loop
 * must drop every reference to C; C is freed after this returns. */
typedef void (*control_gone_cb)(struct ctl_client *c, void *arg);

/* Create and listen.  Returns 0, or -1 with *ERR (static/strerror text):
 * path too long, another daemon answers ("another natsvisord answers on
 * PATH"), PATH exists and is not a socket, bind/listen error.  A socket
 * file nobody answers on is stale and replaced.  Peers allowed: uid 0,
 * the daemon's euid, and (with HAS_GROUP) members of GROUP, whose socket
 * is then mode 0660 and group GROUP.  One control socket per process. */
int control_open(uv_loop_t *loop, const char *path, gid_t group, int has_group,
		 control_request_cb on_request, control_gone_cb on_gone,
		 void *arg, const char **err);

/* Send the reply, close the connection, free the client.  Only for a
 * client whose request was handed and that is still known: never after
 * on_gone() for it, nor after control_close() has returned to the loop
 * (within the same callback it is a harmless no-op). */
void control_reply(struct ctl_client *c, int code, const char *out,
		   size_t outlen, const char *err, size_t errlen);

/* Peer credentials of a client (pid as at connect time). */
uid_t control_client_uid(const struct ctl_client *c);
pid_t control_client_pid(const struct ctl_client *c);

/* Connected clients in any state (reading, parked, being answered). */
size_t control_client_count(void);

/* Change the idle limit (tests); the default is CONTROL_IDLE_MS. */
void control_set_idle_timeout(uint64_t ms);

/* Per-client pointer for the loop's own bookkeeping. */
void control_client_set_data(struct ctl_client *c, void *data);
void *control_client_get_data(const struct ctl_client *c);

/* Stop listening, unlink the socket path (only if it is still our
 * socket), drop pending clients (without calling on_gone).  Idempotent.
 * The handles close on the next loop turn: run the loop before exiting
 * or before calling control_open() again. */
void control_close(void);

/* The built-in default socket path for this user (contract in DESIGN.md:
 * root /run/natsvisor/natsvisord.sock (RUNSTATEDIR); others
 * $XDG_RUNTIME_DIR/natsvisor/natsvisord.sock, else /tmp/natsvisor-UID/
 * natsvisord.sock in a 0700 directory whose owner is checked).  Writes into
 * BUF; creates the directory only when CREATE.  Returns 0 or -1 with *ERR. */
int control_default_path(char *buf, size_t len, int create, const char **err);

#endif
