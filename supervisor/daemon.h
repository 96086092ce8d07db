/*
 * daemon.h: the state owned by natsvisord's loop thread, shared by loop.c
 * (supervision: spawn, reap, health, bus events), cmd.c (control commands:
 * status, wait-ready, start/stop, gated publish) and notify.c.
 *
 * Only the loop thread touches anything declared here.
 */
#ifndef NV_DAEMON_H
#define NV_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <uv.h>

#include "config.h"
#include "listener.h"

struct output;
struct ctl_client;
struct ctl_request;

/* One supervised process: a listener, or the embedded nats-server. */
struct lsn {
	struct lst m;                /* the state machine */
	struct nv_listener_conf *conf; /* owned by d.cfg (or d.server_conf) */
	bool is_server;
	bool removed;                /* dropped by a reload: free once stopped */
	bool waiting;                /* wants to start; requirements not ready */
	unsigned slot;               /* index in d.slots, for ping ids */
	uint32_t logged;             /* hash of the last state and reason logged */
	uv_timer_t deadline_timer;   /* the state machine's deadline */
	uv_timer_t ping_timer;       /* next ping, or the outstanding one's timeout */
	struct errwatch *errwatch;   /* watches the exec-error pipe, or NULL */
	int errpipe;                 /* -1 when closed */
	bool exec_confirmed;         /* exec of the current incarnation succeeded */
	bool exec_failed;            /* ... or reported a spawn error */
	uint64_t exec_seq;           /* exec confirmations so far */
	uint64_t spawnerr_seq;       /* spawn errors so far */
	uint64_t reqs;               /* start and stop commands so far */
	bool last_req_stop;          /* ... the latest was a stop */
	char spawn_err[160];         /* text of the last spawn error */
	uint64_t ping_id;            /* outstanding ping, 0 when none */
	uint64_t ping_sent;          /* when it was sent (ms) */
	uint64_t miss_counted;       /* ping_sent of the last miss counted, 0 */
	uint64_t ping_sent_ns;       /* ... in ns (uv_hrtime) */
	uint64_t pong_ping_ns;       /* send time of the last ping answered */
	unsigned fast_step;          /* position in the starting ping schedule */
	uint64_t hello_id;           /* this incarnation's <inbox>.h<id> */
	bool hello_seen;             /* hello came while a ping was out: re-ping */
	bool hello_heard;            /* this incarnation's one hello came */
	bool js_ack_warned;          /* a stream acked its pings: said once */
	bool miss_pending;           /* a ping timed out: counted once the
					server is known to answer (probe) */
	bool miss_confirming;        /* ... and the ping sent then is out:
					the miss counts if it times out too */
	bool deadline_pending;       /* ready_timeout passed: acted on once
					the server is known to answer */
	char ping_subject[256];
	char reply_reason[128];      /* "subjects" mismatch or not-ready reason */
	/* Counters of the latest pong, -1 when it had none: */
	int64_t backlog;             /* received, not yet committed */
	int64_t slow_consumer;       /* slow-consumer events */
	int64_t dropped;             /* messages dropped by the client */
	struct output *out;
	int handles_open;            /* uv handles not yet closed (for free) */
};

struct daemon {
	uv_loop_t *loop;
	struct nv_config *cfg;
	char *config_path;
	struct lsn **ls;             /* listeners in configuration order */
	size_t nls;
	unsigned nstarting;          /* listeners in LST_STARTING */
	struct lsn *server;          /* embedded nats-server, or NULL */
	struct nv_listener_conf server_conf;
	struct lsn **slots;          /* slot -> lsn, for ping replies */
	size_t nslots;
	bool connected;              /* the daemon's NATS connection */
	bool server_silent;          /* ... is up, but the server's last probe
					went unanswered */
	bool inbox_denied;           /* ... is up, but may not subscribe to its
					inbox: no reply reaches it */
	bool ever_connected;
	bool listeners_started;      /* autostart done (after the server) */
	bool shutting_down;
	int exit_code;
	char instance_id[128];
	char nonce[17];
	uint64_t next_id;
	struct rlimit orig_nofile;
	char **base_env;             /* the daemon's environment, cleaned */
	char *nats_url_env;          /* "NATS_URL=..." */
	char *nats_url_env_bare;     /* ... without user information */
	uint64_t started_at;
	bool all_ready_reported;
	bool startup_failed;         /* startup_timeout passed first */
	char last_reload[512];       /* "" or the failure of the last reload */
	char *last_reload_all;       /* ... every error of it, one a line */
	uint64_t last_reload_at;
	bool last_reload_ok;
	int ready_fd;
	int daemon_fd;               /* --daemon hand-shake pipe, or -1 */
	bool dirty;                  /* readiness may have changed */
	uv_idle_t idle;              /* runs the readiness evaluation */
};

extern struct daemon d;

/* Monotonic milliseconds. */
uint64_t now_ms(void);

/* loop.c */
int loop_run(struct nv_config *cfg, const char *config_path, int ready_fd,
	     int daemon_fd);
void lsn_event(struct lsn *l, enum lst_event ev,
	       const struct lst_event_data *data);
void lsn_ping_now(struct lsn *l);
void lsn_ping_soon(struct lsn *l);
bool lsn_fresh(const struct lsn *l, uint64_t since_ns);
void daemon_mark_dirty(void);
void daemon_reserve_fds(size_t nlisteners);
void daemon_shutdown(int code, const char *why);
int daemon_reload(char **report);
struct lsn *lsn_find(const char *name);
size_t lsn_match(const char *name, struct lsn **out, size_t max);
int lsn_signal(struct lsn *l, int sig);
unsigned daemon_ready_count(unsigned *total);

/* reload.c (and the listener constructor it uses) */
struct lsn *lsn_create(struct nv_listener_conf *conf);
void reload_gc(void);
void reload_close(void);

/* cmd.c */
void cmd_init(void);
void cmd_on_request(struct ctl_client *c, const struct ctl_request *req,
		    void *arg);
void cmd_on_gone(struct ctl_client *c, void *arg);
void cmd_evaluate(void);
void cmd_on_flushed(uint64_t id, const char *denied);
bool cmd_on_denied(const char *subject, const char *text);
void cmd_on_publish_failed(uint64_t id, const char *why);
void cmd_on_confirm(uint64_t id, const char *data, size_t len);
void cmd_on_nats_request(int tag, const char *subject, const char *reply,
			 const char *data, size_t len);
void cmd_forget(struct lsn *l);
void cmd_close(void);
bool cmd_wants_pongs(void);
void cmd_status_json(struct lsn *const *ls, size_t n, char **out, size_t *len);
void cmd_event(const struct lsn *l);
const struct lsn *lsn_blocker(const struct lsn *l);
/* Does X require L (by its name, or its base for every instance)?
 * _deep: directly or through other listeners. */
bool lsn_requires(const struct lsn *x, const struct lsn *l);
bool lsn_ready(const struct lsn *l);
bool lsn_requires_deep(const struct lsn *x, const struct lsn *l);

/* notify.c */
void notify_init(void);
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_ready(void);
void notify_status(void);
void notify_title_init(int argc, char **argv);
void notify_watchdog_start(uv_loop_t *loop);
void notify_close(void);

#endif
