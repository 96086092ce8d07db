#!/bin/bash
# A publish the server refuses (a publish permissions violation) exits 1
# naming the subject and the server's reason, with and without --confirm,
# and the daemon's warning names the subject; publishes to allowed
# subjects, before and after, and many in flight at once, keep their own
# outcome; once a reload allows the subject, the old violation does not
# stick to it.
. "$(dirname "$0")/lib.sh"
nv_setup

nats_users_conf s3cret 'publish: {deny: ["denied.>"]}'
nats_start nats -c "$NV_DIR/server.conf"
nv_write_config "$NV_DIR/nv.ini" - <<EOT
nats_user = sup
nats_password = s3cret
[defaults]
health_interval = 1h
[listener:a]
command  = /usr/bin/env NATS_USER=lsn NATS_PASSWORD=lp $NV_LISTEN --inbox $NV_DIR/inbox/a
subjects = denied.>, ok.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
landed() { grep -rqx "$1" "$NV_DIR/inbox/a/new" 2>/dev/null; }
reason='refused by the server: Permissions Violation for Publish to "denied.x"'

assert_exit 0 nvctl publish ok.y "before"
assert_exit 1 nvctl publish --timeout "$(nv_scale 3)s" denied.x hi
grep -qF "publish denied.x: $reason" <<<"$NV_OUT" ||
	fail "exit 1 without the subject and the server's reason"
grep -q 'NATS: publish denied.x refused: Permissions Violation' \
	"$NV_DIR/natsvisord.log" || fail "the daemon's warning does not name the subject"
assert_exit 1 nvctl publish --confirm --timeout "$(nv_scale 3)s" denied.x hi
grep -qF "publish denied.x: $reason" <<<"$NV_OUT" || fail "--confirm: no reason"
# The violation stays the connection's last error: ok.y is not refused
# by it, and is confirmed.
assert_exit 0 nvctl publish ok.y "after"
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 5)s" ok.y "confirmed"
wait_until 5 landed "after" || fail "ok.y after the violation did not land"

# burst N TIMEOUT D O: N refused publishes (D1..DN) and N allowed ones
# (O1..ON), all at once in the background.
burst() {
	local i
	pids=()
	for i in $(seq 1 "$1"); do
		nvctl publish --timeout "$2" denied.x "$3$i" >/dev/null 2>&1 &
		pids+=("$!:1:$3$i")
		nvctl publish --timeout "$2" ok.y "$4$i" >/dev/null 2>&1 &
		pids+=("$!:0:$4$i")
	done
}
burst_done() {
	local p
	for p in "${pids[@]}"; do
		pid_alive "${p%%:*}" && return 1
	done
	return 0
}
# burst_check: every publish of the burst exited as it should.
burst_check() {
	local p pid want what rc
	for p in "${pids[@]}"; do
		IFS=: read -r pid want what <<<"$p"
		rc=0
		wait "$pid" || rc=$?
		[[ $rc == "$want" ]] || fail "concurrent publish $what: exit $rc, want $want"
	done
}

# Several in flight: each gets its own answer.
burst 6 "$(nv_scale 5)s" d o
burst_check
for i in 1 2 3 4 5 6; do
	wait_until 5 landed "o$i" || fail "o$i did not land"
done

# Many in flight at once, allowed and refused mixed: each is answered
# within the half-second refusal grace of its own flush, not at the end
# of its --timeout (an allowed publish used to wait that out, then exit 0).
burst 30 60s m n
wait_until 15 burst_done ||
	fail "mixed publishes still waiting long after their refusal grace"
burst_check

# A reload allows denied.>: the earlier violation is stale, not a refusal.
nats_users_conf s3cret 'publish: {allow: [">"]}'
nats_reload
assert_exit 0 nvctl publish --timeout "$(nv_scale 3)s" denied.x "allowed now"
wait_until 5 landed "allowed now" || fail "denied.x did not land once allowed"
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 5)s" denied.x "confirmed now"
for d in d1 d2 d3 d4 d5 d6 $(seq -f 'm%g' 1 30) hi; do
	landed "$d" && fail "refused message $d landed"
done
nv_daemon_stop || fail "exit status $?"
pass
