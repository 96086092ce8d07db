#!/bin/bash
# The daemon's NATS user may not subscribe to _INBOX.>: no pong can reach
# the daemon.  It says so (a warning naming the cause and the fix, and the
# status footer), not that the server does not answer; no listener becomes
# ready and none is killed for it; once the server allows the
# subscription (restarted with the permission) the listener is ready.
. "$(dirname "$0")/lib.sh"
nv_setup

nats_users_conf s3cret 'subscribe: {deny: ["_INBOX.>"]}'
nats_start nats -c "$NV_DIR/server.conf"
nv_write_config "$NV_DIR/nv.ini" - <<EOT
nats_user = sup
nats_password = s3cret
[listener:a]
command  = /usr/bin/env NATS_USER=lsn NATS_PASSWORD=lp $NV_LISTEN --stdout
subjects = a.in
ready_timeout = 1h
health_timeout = 200ms
EOT
nv_daemon_start "$NV_DIR/nv.ini"
said() { grep -q 'may not subscribe to its inbox.*_INBOX\.>' "$NV_DIR/natsvisord.log"; }
wait_until 10 said || fail "no warning that the daemon may not subscribe to its inbox"
footer() { nvctl status 2>/dev/null | grep -q '^NATS: connected, but the daemon may not subscribe to its inbox'; }
wait_until 5 footer || fail "status does not say so: $(nvctl status 2>&1)"
assert_exit 1 nvctl is-ready a
assert_eq true "$(nvctl status --json | jq .inbox_denied)" "status --json inbox_denied"
pid=$(listener_pid a) || fail "a has no process"

# Allowed again (the server restarted with the permission): the daemon
# subscribes again and hears the pongs.
nats_users_conf s3cret
port=$NATS_PORT
nats_stop
nats_start_port "$port" nats -c "$NV_DIR/server.conf"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" a
assert_eq "$pid" "$(listener_pid a)" "a's pid (never killed)"
nvctl status | grep -q 'may not subscribe' && fail "the footer stayed"
assert_eq false "$(nvctl status --json | jq .inbox_denied)" "inbox_denied after the fix"
nv_daemon_stop || fail "exit status $?"
pass
