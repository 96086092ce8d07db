#!/bin/bash
# Listener before server: natsvisor-listen started while nothing listens
# on its port keeps trying and becomes ready once the server is up, with
# no restart; the same when the server accepts the connection but is
# stalled (SIGSTOP).
. "$(dirname "$0")/listen-lib.sh"
nv_setup
port=$(free_port)
NATS_URL=nats://127.0.0.1:$port
inbox=$NV_DIR/inbox
listen_start early "work.>" --inbox "$inbox"
pid=$LISTEN_PID
# It must be up and waiting.
wait_until 10 log_has early "natsvisor-listen: connecting to" || fail "listener did not start"
pid_alive "$pid" || fail "listener exited without a server"
log_has early "connected to" && fail "connected without a server?"

nats_start_port "$port"
wait_ready 15
jq -e --arg pid "$pid" '(.pid | tostring) == $pid' <<<"$LISTEN_REPLY" >/dev/null ||
	fail "reply from another pid: $LISTEN_REPLY"
probe publish work.1 "late hello" || fail "publish"
wait_until 10 files_are "$inbox/new" 1 || fail "message not delivered"
[[ $(cat "$inbox"/new/*) == "late hello" ]] || fail "wrong body"

# A server that accepts connections but does not answer (stopped): the
# listener waits for it instead of exiting, and is ready once it resumes.
NATS_URL=nats://127.0.0.1:$port
kill -STOP "$NATS_PID"
listen_start stalled "st.>" --stdout
wait_until 15 log_has stalled "the server does not answer yet: waiting" ||
	{ kill -CONT "$NATS_PID"; fail "no word of the stalled server"; }
kill -CONT "$NATS_PID"
wait_ready 15
pid_alive "$LISTEN_PID" || fail "the listener exited on a stalled server"

# SIGTERM before any server at all also exits 0: a second listener.
NATS_URL=nats://127.0.0.1:$(free_port)
listen_start early2 "x" --stdout
wait_until 10 log_has early2 "natsvisor-listen: connecting to" || fail "early2 did not start"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 10
[[ $LISTEN_STATUS -eq 0 ]] || fail "exit status $LISTEN_STATUS"
listen_finish
pass
