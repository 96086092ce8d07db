#!/bin/bash
# Credentials in nats_url: a listener whose `environment` sets its own
# (NATS_USER/NATS_PASSWORD) gets NATS_URL without the URL's, so that its
# own are the ones it connects with; here the daemon's user may not
# subscribe to a's data subject, and a connected as that user would never
# be ready.  A listener without credentials of its own gets the URL as
# configured (b, on a subject the daemon's user may subscribe to).
. "$(dirname "$0")/lib.sh"
nv_setup

nats_users_conf s3cret 'subscribe: {deny: ["cr.>"]}'
nats_start nats -c "$NV_DIR/server.conf"
plain=$NATS_URL
NATS_URL=nats://sup:s3cret@127.0.0.1:$NATS_PORT nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:a]
command     = $NV_LISTEN --inbox $NV_DIR/inbox/a
subjects    = cr.>
environment = NATS_USER=lsn NATS_PASSWORD=lp
[listener:b]
command     = $NV_LISTEN --inbox $NV_DIR/inbox/b
subjects    = other.>
[listener:c]
command     = $NV_LISTEN --inbox $NV_DIR/inbox/c --server nats://lsn:lp@127.0.0.1:$NATS_PORT
subjects    = third.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a b c
# A password in a command line is not shown by status (the NATS status
# answers read-only users with the same document).
js=$(nvctl status --json c) || fail "status --json: $js"
[[ $js == *'nats://lsn:***@127.0.0.1'* ]] || fail "c's URL not shown redacted: $js"
[[ $js == *':lp@'* ]] && fail "c's password in status --json: $js"
url_of() { tr '\0' '\n' <"/proc/$(listener_pid "$1")/environ" | grep '^NATS_URL='; }
assert_eq "NATS_URL=$plain" "$(url_of a)" "a's NATS_URL"
assert_eq "NATS_URL=nats://sup:s3cret@127.0.0.1:$NATS_PORT" "$(url_of b)" "b's NATS_URL"
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 5)s" cr.x hello
grep -q 's3cret' "$NV_DIR/natsvisord.log" && fail "the daemon's password is in the log"
nv_daemon_stop || fail "exit status $?"
pass
