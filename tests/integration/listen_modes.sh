#!/bin/bash
# Delivery modes: --stdout JSON lines, --exec with the environment, and
# --inbox --envelope.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start

listen_start so "s.>" --stdout
wait_ready 10
probe publish s.1 'say "hi"' || fail "publish"
wait_until 10 grep -q '^{"subject":"s.1"' "$NV_DIR/so.log" || fail "no JSON line"
line=$(grep '^{"subject":"s.1"' "$NV_DIR/so.log")
jq -e '.subject == "s.1" and .reply == null and .data == "say \"hi\"" and .headers == {}' \
	<<<"$line" >/dev/null || fail "bad JSON line: $line"

out=$NV_DIR/exec-out
listen_start ex "e.>" --exec "{ echo \"\$NATS_SUBJECT|\$NATS_HEADER_X_TRACE_ID|\$(cat)\"; } >>'$out'"
wait_ready 10
probe request e.one -H X-Trace-Id:abc -H Natsvisor-Confirm:1 -t 5000 "body-e" >/dev/null ||
	fail "exec not confirmed"
[[ $(<"$out") == "e.one|abc|body-e" ]] || fail "exec saw: $(<"$out")"

inbox=$NV_DIR/env-inbox
listen_start en "n.>" --inbox "$inbox" --envelope
wait_ready 10
probe request n.1 -H K:v -H Natsvisor-Confirm:1 -t 5000 "the body" >/dev/null || fail "not confirmed"
f=$(echo "$inbox"/new/*)
grep -qx 'NATS-Subject: n.1' "$f" || fail "no subject line: $(<"$f")"
grep -qx 'K: v' "$f" || fail "no header line: $(<"$f")"
[[ $(tail -n 1 "$f") == "the body" ]] || fail "no body: $(<"$f")"

# Usage errors exit 2.
rc=0; "$NV_LISTEN" --subject x >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no delivery: exit $rc"
rc=0; env -u NATSVISOR_SUBJECTS "$NV_LISTEN" --stdout >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no subjects: exit $rc"
"$NV_LISTEN" --help | grep -q '^usage: natsvisor-listen' || fail "--help"
"$NV_LISTEN" --version | grep -q '^natsvisor-listen ' || fail "--version"
listen_finish
pass
