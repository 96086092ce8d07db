/*
 * config.h: the parsed configuration of natsvisord.
 *
 * config_load() reads an INI file (and its includes) into a fresh
 * struct nv_config, or collects every problem as "path:line: message".
 * The daemon swaps configurations only when a load succeeded, so nothing
 * here touches running state.  Pure: no libuv, no nats.c.
 */
#ifndef NV_CONFIG_H
#define NV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Listener names: letters, digits, '-', '_', '.'; inih keeps 49 bytes of a
 * section name and "listener:" takes 9, so a name has at most 40 bytes. */
#define NV_NAME_MAX 40
#define NV_INSTANCES_MAX 1000
#define NV_UNIX_PATH_MAX 108 /* sizeof(sun_path): a path must be shorter */
/* Longest configuration line accepted (bytes, without the line end);
 * longer lines are an error naming the line, never cut. */
#define NV_CONFIG_LINE_MAX 65535
/* Largest configuration file read (bytes). */
#define NV_CONFIG_FILE_MAX (16 * 1024 * 1024)
/* limit_nofile / limit_core value for "unlimited". */
#define NV_LIMIT_INFINITY INT64_MAX

enum nv_restart { NV_RESTART_ALWAYS, NV_RESTART_ON_FAILURE, NV_RESTART_NEVER };

/* Where a value came from, for messages like "path:line: ...". */
struct nv_where {
	const char *file; /* points into nv_config.files */
	int line;
};

struct nv_listener_conf {
	char *name;     /* full name: NAME, or NAME.i for instances */
	char *base;     /* the section's NAME */
	int instance;   /* i for NAME.i, -1 without instances */
	int ninstances; /* the section's instances (1 without) */
	struct nv_where where; /* the [listener:NAME] line */

	char *command;  /* as written (after quoting rules) */
	char **argv;    /* NULL-terminated; with shell = yes: sh -c command */
	char **subjects; /* NULL-terminated, validated NATS subjects */
	size_t nsubjects;
	char *queue_group;  /* NULL: none */
	char *ping_subject; /* NULL: generated per incarnation */

	uint64_t ready_timeout_ms;
	uint64_t health_interval_ms;
	uint64_t health_timeout_ms;
	unsigned health_failures;

	int stop_signal;
	uint64_t stop_timeout_ms;
	bool autostart;
	bool essential;
	bool shell;
	char **requires; /* NULL-terminated listener names (bases or full) */
	size_t nrequires;

	enum nv_restart restart;
	uint8_t success_exit[32]; /* bitmap of exit codes 0..255 counted as success */
	uint64_t backoff_initial_ms;
	double backoff_factor;
	uint64_t backoff_max_ms;
	double backoff_jitter; /* 0..1 */
	uint64_t backoff_reset_ms;
	unsigned max_restarts; /* 0: never give up */
	uint64_t restart_window_ms;

	char *user;  /* NULL: the daemon's */
	char *group; /* NULL: the user's primary group, or the daemon's */
	bool set_ids;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups resolved at load time */
	int ngroups;
	char *home; /* HOME of user, when user is set ("/" without an entry) */
	char *user_name; /* USER, LOGNAME: its name (its number without one) */

	char *directory; /* NULL: the daemon's */
	int umask;       /* -1: the daemon's */
	int64_t limit_nofile; /* -1: inherit the daemon's original soft limit */
	int64_t limit_core;   /* -1: inherit */
	char **environment;   /* NULL-terminated "KEY=VALUE" */
	size_t nenvironment;
	bool clear_environment;

	char *log_file; /* NULL: daemon's stderr with a "name: " prefix */
	uint64_t log_max_size;
	unsigned log_keep;
};

struct nv_name_index;

struct nv_config {
	char *path;   /* the main file as given */
	char **files; /* every file read (main first), owned; for nv_where */
	size_t nfiles;

	char **nats_urls; /* NULL-terminated; default nats://127.0.0.1:4222 */
	size_t nnats_urls;
	char *nats_creds, *nats_user, *nats_password, *nats_token;
	char *nats_nkey_seed;
	char *tls_ca, *tls_cert, *tls_key;
	char *nats_server;       /* NULL: none embedded */
	char **nats_server_argv; /* NULL-terminated */
	struct nv_where nats_server_where;

	char *control_socket; /* NULL: built-in default */
	char *control_group;
	gid_t control_gid;
	bool has_control_gid;
	char *pidfile;
	char *instance_id; /* NULL: hostname */
	uint64_t startup_timeout_ms;
	bool nats_control; /* allow control commands over NATS */

	struct nv_listener_conf *listeners; /* expanded instances, file order */
	size_t nlisteners;
	struct nv_name_index *byname; /* config_find's index (config.c) */
};

/* An error list: every problem found, each "path:line: message". */
struct nv_errors {
	char **msgs;
	size_t n;
	size_t cap;
};

/* Load PATH into a new configuration.  Returns NULL and fills ERRS (at
 * least one message) when anything is wrong.  Never prints. */
struct nv_config *config_load(const char *path, struct nv_errors *errs);
void config_free(struct nv_config *cfg);

/* Load from memory: NAME is used in messages and as the base for relative
 * includes.  With NV_LOAD_NO_INCLUDE an include line is an error (for the
 * fuzzer, which must not wander the file system). */
#define NV_LOAD_NO_INCLUDE 1u
struct nv_config *config_load_buffer(const char *name, const char *data,
				     size_t len, unsigned flags,
				     struct nv_errors *errs);

/* natsvisord --check: load PATH; on failure print each error line to
 * stderr and return 78; on success print (with VERBOSE > 0) each
 * listener's effective argv, subjects and environment, shell-quoted, then
 * "configuration OK" to stdout and return 0. */
int config_check_main(const char *path, int verbose);

/* True when KEY (daemon or listener) can change by reload without a
 * restart of the listener's process or of the daemon. */
bool config_key_reloadable(const char *key);

/* Find a listener by full name; NULL if absent. */
const struct nv_listener_conf *config_find(const struct nv_config *cfg,
					   const char *name);

/* True when two listener definitions differ in anything that requires a
 * restart of the running process (reload by difference). */
bool config_listener_changed(const struct nv_listener_conf *a,
			     const struct nv_listener_conf *b);

/* Names (comma-separated, in a static buffer) of daemon settings that
 * differ between A and B and cannot change at run time; "" if none. */
const char *config_daemon_unchangeable(const struct nv_config *a,
				       const struct nv_config *b);

void errors_add(struct nv_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void errors_clear(struct nv_errors *e);

/* Print every key with its type, default and description, one per line,
 * as used by the documentation check and etc/natsvisor.ini generation. */
void config_dump_keys(void *stdio_file);

#endif
