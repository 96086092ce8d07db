#!/bin/bash
# natsvisor-listen basics: ping reply JSON, inbox delivery of exact bytes,
# log lines, SIGTERM -> exit 0.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start
inbox=$NV_DIR/inbox
listen_start l1 "a.> b.c" --inbox "$inbox"
wait_ready 10

jq -e --arg pid "$LISTEN_PID" '.ready == true and .name == "l1" and
	(.pid | tostring) == $pid and .subjects == ["a.>", "b.c"] and
	.backlog == 0 and .slow_consumer == 0 and (has("reason") | not)' \
	<<<"$LISTEN_REPLY" >/dev/null || fail "bad ping reply: $LISTEN_REPLY"
[[ -d $inbox/tmp && -d $inbox/new && -d $inbox/cur ]] || fail "maildir not created"

probe publish a.one "first message" || fail "publish"
probe publish b.c "second" || fail "publish"
probe publish b.d "not subscribed" || fail "publish"
probe publish a.x.y "third" || fail "publish"
wait_until 10 files_are "$inbox/new" 3 || fail "expected 3 files in new/"
# Each file holds exactly the body: no newline added.
[[ $(cat "$inbox"/new/* | wc -c) -eq 24 ]] || fail "wrong total size"
for f in "first message" second third; do
	found=0
	for g in "$inbox"/new/*; do [[ $(<"$g") == "$f" ]] && found=1; done
	[[ $found == 1 ]] || fail "no file holds exactly '$f'"
done
files_are "$inbox/tmp" 0 || fail "tmp/ not empty"
# Names: <sec>.M<usec>P<pid>Q<n>.<host>
for g in "$inbox"/new/*; do
	[[ ${g##*/} =~ ^[0-9]+\.M[0-9]{6}P${LISTEN_PID}Q[0-9]+\. ]] ||
		fail "bad file name ${g##*/}"
done

log_has l1 "natsvisor-listen: connected to nats://127.0.0.1:$NATS_PORT" || fail "no connected line"
log_has l1 "natsvisor-listen: subscribed to a.>" || fail "no subscribed line"
log_has l1 "natsvisor-listen: answering pings on $LISTEN_PING" || fail "no ping line"

kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 10
[[ $LISTEN_STATUS -eq 0 ]] || fail "exit status $LISTEN_STATUS after SIGTERM"
log_has l1 "stopped" || fail "no stopped line"
listen_finish
pass
