#!/bin/bash
# Durable mode: messages published while no listener runs are delivered
# once it binds to its explicitly created consumer, each exactly once,
# named after stream and sequence; a restart does not repeat them.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
probe stream AGENT "agent.>" || fail "cannot create stream"
probe publish agent.l1.a "before-1" || fail "publish"
probe publish agent.l1.b "before-2" || fail "publish"
probe publish agent.other "not mine" || fail "publish"
inbox=$NV_DIR/inbox
listen_start d1 "agent.l1.>" --inbox "$inbox" --durable l1 --stream AGENT --create
wait_ready 15
jq -e '.subjects == ["agent.l1.>"]' <<<"$LISTEN_REPLY" >/dev/null ||
	fail "subjects: $LISTEN_REPLY"
wait_until 10 files_are "$inbox/new" 2 || fail "stored messages not delivered"
[[ $(<"$inbox/new/js.AGENT.1") == before-1 ]] || fail "js.AGENT.1"
[[ $(<"$inbox/new/js.AGENT.2") == before-2 ]] || fail "js.AGENT.2"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "exit $LISTEN_STATUS"

probe publish agent.l1.c "while-down" || fail "publish"
# A reader moved one message to cur/ meanwhile: it must not come back.
mv "$inbox/new/js.AGENT.1" "$inbox/cur/js.AGENT.1:2,S"
listen_start d2 "agent.l1.>" --inbox "$inbox" --durable l1 --stream AGENT
wait_ready 15
wait_until 10 test -f "$inbox/new/js.AGENT.4" || fail "message sent while down not delivered"
[[ $(<"$inbox/new/js.AGENT.4") == while-down ]] || fail "js.AGENT.4"
probe publish agent.l1.d "live" || fail "publish"
wait_until 10 test -f "$inbox/new/js.AGENT.5" || fail "live message"
files_are "$inbox/new" 3 || fail "duplicates in new/: $(ls "$inbox/new")"
files_are "$inbox/cur" 1 || fail "cur/ changed"
rc=0; "$NV_LISTEN" --durable x --stdout -s a >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "--durable without --stream: exit $rc"
listen_finish
pass
