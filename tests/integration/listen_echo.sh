#!/bin/bash
# The example listener built on the nvping helper answers pings with the
# same JSON and prints the messages it gets.
. "$(dirname "$0")/listen-lib.sh"
[[ -x $LISTEN_ECHO ]] || skip "echo-listener not built"
nv_setup
nats_start
LISTEN_PING=natsvisor.test.echo.ping.$$
nv_spawn echo env NATSVISOR_NAME=echo NATSVISOR_PING_SUBJECT="$LISTEN_PING" \
	NATSVISOR_SUBJECTS="x.> y" "$LISTEN_ECHO"
LISTEN_PID=$NV_LAST_PID
LISTEN_ALL+=("$LISTEN_PID echo")
wait_ready 10
jq -e '.name == "echo" and .subjects == ["x.>","y"]' <<<"$LISTEN_REPLY" >/dev/null ||
	fail "bad reply: $LISTEN_REPLY"
reply=$(probe request x.1 -H Natsvisor-Confirm:1 -t 5000 "hello echo") || fail "no confirm"
[[ $reply == '{"committed":true}' ]] || fail "confirm: $reply"
grep -qx 'x.1: hello echo' "$NV_DIR/echo.log" || fail "message not printed"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 10
[[ $LISTEN_STATUS -eq 0 ]] || fail "exit $LISTEN_STATUS"
listen_finish
pass
