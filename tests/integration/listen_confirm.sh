#!/bin/bash
# Confirmation: a message with header Natsvisor-Confirm and a reply
# subject is answered {"committed":true} once its file is in new/; one
# without the header gets no answer; a failed --exec answers false.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start
inbox=$NV_DIR/inbox
listen_start cf "job.>" --inbox "$inbox"
wait_ready 10
reply=$(probe request job.1 -H Natsvisor-Confirm:1 -t 5000 "payload-1") ||
	fail "no confirmation"
jq -e '. == {"committed": true}' <<<"$reply" >/dev/null || fail "confirm reply: $reply"
# Committed means the file was already there when the reply left.
files_are "$inbox/new" 1 || fail "confirmed before the file existed"
[[ $(cat "$inbox"/new/*) == payload-1 ]] || fail "wrong body"

rc=0
probe request job.2 -t 300 "no header" >/dev/null || rc=$?
[[ $rc -eq 1 ]] || fail "a message without the header was answered (rc $rc)"
wait_until 10 files_are "$inbox/new" 2 || fail "second message lost"

listen_start cf2 "fail.>" --exec 'cat >/dev/null; exit 3'
wait_ready 10
reply=$(probe request fail.1 -H Natsvisor-Confirm:1 -t 5000 "x") || fail "no answer"
jq -e '.committed == false and (.reason | test("exited 3"))' <<<"$reply" >/dev/null ||
	fail "failed exec reply: $reply"
listen_finish
pass
