#!/bin/bash
# The annotated sample etc/natsvisor.ini runs as shipped: with only its
# inbox path, the server's URL and a control socket put in, its listener
# becomes ready and a gated publish lands in the inbox.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

sed -e "s|/var/lib/natsvisor/inbox|$NV_DIR/inbox|" \
	-e "s|^command = natsvisor-listen |command = $NV_LISTEN |" \
	-e "/^\[natsvisor\]\$/a nats_url = $NATS_URL\ncontrol_socket = $NV_SOCK" \
	"$top_srcdir/etc/natsvisor.ini" >"$NV_DIR/sample.ini"
grep -q "^command = $NV_LISTEN " "$NV_DIR/sample.ini" ||
	fail "the sample's command is not natsvisor-listen as expected"
assert_exit 0 "$NV_DAEMON" --check -c "$NV_DIR/sample.ini"
nv_daemon_start "$NV_DIR/sample.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
assert_exit 0 nvctl publish --confirm --timeout 10s agents.inbox.hello hi
assert_eq hi "$(cat "$NV_DIR"/inbox/new/*)" "the message in the sample's inbox"
assert_eq 0 "$(listener_field inbox restarts)" "restarts of the sample's listener"
# A second daemon on the same control socket gives up, and says it is fatal.
assert_exit 1 "$NV_DAEMON" -c "$NV_DIR/sample.ini"
grep -q "^natsvisord: fatal: control socket $NV_SOCK: another natsvisord answers" \
	<<<"$NV_OUT" || fail "no fatal line for the second daemon"
nv_daemon_stop 20 || fail "exit status $?"
pass
