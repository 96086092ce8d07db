#!/bin/bash
# Server restart under a running listener: it logs the disconnect, keeps
# its pid, reconnects, answers ready again, and receives new messages.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start
inbox=$NV_DIR/inbox
listen_start rs "a.> b.>" --inbox "$inbox"
wait_ready 10
pid=$LISTEN_PID

nats_stop
wait_until 10 log_has rs "natsvisor-listen: disconnected" || fail "no disconnect seen"
pid_alive "$pid" || fail "listener exited while the server was down"
nats_start_port "$NATS_PORT"
wait_until 15 log_has rs "natsvisor-listen: reconnected to" || fail "no reconnect seen"
wait_ready 15
jq -e --arg pid "$pid" '(.pid | tostring) == $pid and .subjects == ["a.>","b.>"]' \
	<<<"$LISTEN_REPLY" >/dev/null || fail "bad reply after restart: $LISTEN_REPLY"
probe publish b.after "after restart" || fail "publish"
probe publish a.after "after restart 2" || fail "publish"
wait_until 10 files_are "$inbox/new" 2 || fail "messages after restart not delivered"

# A second restart, to show the state machine comes back each time.
nats_stop
nats_start_port "$NATS_PORT"
wait_ready 15
pid_alive "$pid" || fail "listener restarted?"
listen_finish
pass
