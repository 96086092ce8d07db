#!/bin/bash
# The daemon's NATS connection keeps retrying after authentication
# failures (nats.c 3.4.1 closes a connection for good on the second one):
# (1) started with a password the server refuses, it retries, logs one
# warning naming the cause, says "disconnected (retrying)", and connects
# once a reload of the server accepts the password; (2) connected, then
# refused by a reload that changes the password, it keeps retrying and is
# back once another reload restores it.
. "$(dirname "$0")/lib.sh"
nv_setup

# server_reload PASSWORD: the server takes sup's new PASSWORD.
server_reload() {
	nats_users_conf "$1"
	nats_reload
}
auth_errors() { grep -c 'authentication error' "$NV_DIR/nats.log"; }
warnings() { grep -c 'NATS: authentication failed' "$NV_DIR/natsvisord.log"; }
status_down() { nvctl status 2>/dev/null | grep -q '^NATS: disconnected (retrying)'; }
status_up() { nvctl status >/dev/null 2>&1 && ! status_down; }

nats_users_conf s3cret
nats_start nats -c "$NV_DIR/server.conf"
nv_write_config "$NV_DIR/nv.ini" - <<EOT
nats_user = sup
nats_password = wrong
[listener:a]
command  = /usr/bin/env NATS_USER=lsn NATS_PASSWORD=lp $NV_LISTEN --inbox $NV_DIR/inbox/a
subjects = a.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"

# (1) Refused from the start: more attempts than nats.c's two, one warning.
wait_until 10 eval '(($(auth_errors) >= 4))' ||
	fail "the daemon stopped retrying: $(auth_errors) authentication errors"
status_down || fail "status does not say disconnected (retrying)"
assert_eq 1 "$(warnings)" "authentication warnings in the daemon's log"
grep -q 'NATS: authentication failed: Authorization Violation; retrying' \
	"$NV_DIR/natsvisord.log" || fail "the warning does not name the cause"
server_reload wrong
wait_until 5 status_up || fail "not connected after the server accepted the password"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
assert_exit 0 nvctl publish a.x "after the first outage"

# (2) Connected, then refused by a reload, then accepted again.
server_reload changed
wait_until 5 status_down || fail "status does not say disconnected after the password changed"
n=$(auth_errors)
wait_until 10 eval '(($(auth_errors) >= n + 3))' ||
	fail "the daemon stopped retrying after the password changed"
status_down || fail "status no longer says disconnected (retrying)"
assert_eq 2 "$(warnings)" "authentication warnings after the second outage"
# One outage, one warning: no "disconnected" line besides the cause.
assert_eq 0 "$(grep -c 'disconnected from NATS' "$NV_DIR/natsvisord.log")" \
	"'disconnected' warnings besides the authentication warnings"
server_reload wrong
wait_until 5 status_up || fail "not connected after the password was restored"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
assert_exit 0 nvctl publish a.x "after the second outage"
wait_until 5 grep -rqx "after the second outage" "$NV_DIR/inbox/a/new" ||
	fail "the publish after the outage did not land"
nv_daemon_stop || fail "exit status $?"
pass
