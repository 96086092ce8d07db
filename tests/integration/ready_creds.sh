#!/bin/bash
# Credentials in nats_url are the daemon's: listeners get NATS_URL without
# them, so a listener's own NATS_USER/NATS_PASSWORD (from `environment`)
# are the ones it connects with.  Here the daemon's user may not subscribe
# to the data subject: a listener connected as that user would never be
# ready.
. "$(dirname "$0")/lib.sh"
nv_setup

cat >"$NV_DIR/server.conf" <<EOT
authorization {
  users = [
    {user: sup, password: "s3cret", permissions: {subscribe: {deny: ["cr.>"]}}}
    {user: lsn, password: "lp"}
  ]
}
EOT
nats_start nats -c "$NV_DIR/server.conf"
plain=$NATS_URL
NATS_URL=nats://sup:s3cret@127.0.0.1:$NATS_PORT nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:a]
command     = $NV_LISTEN --inbox $NV_DIR/inbox/a
subjects    = cr.>
environment = NATS_USER=lsn NATS_PASSWORD=lp
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
pid=$(listener_pid a)
assert_eq "NATS_URL=$plain" \
	"$(tr '\0' '\n' <"/proc/$pid/environ" | grep '^NATS_URL=')" "the listener's NATS_URL"
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 5)s" cr.x hello
grep -q 's3cret' "$NV_DIR/natsvisord.log" && fail "the daemon's password is in the log"
nv_daemon_stop || fail "exit status $?"
pass
