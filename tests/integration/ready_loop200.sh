#!/bin/bash
# Issue 5 Done-when: 200 iterations of start -> wait-ready -> gated
# publish -> stop deliver 200 of 200 messages (each to a fresh incarnation
# of the listener).  Prints the count and the time per iteration.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:x]
command   = $NV_LISTEN --subject loop.x --inbox $NV_DIR/inbox/x
subjects  = loop.x
autostart = no
EOT
nv_daemon_start "$NV_DIR/nv.ini"
N=${READY_LOOP_N:-200}
deadline=$(_nv_deadline 180)
t0=$(_nv_now_us)
for ((i = 1; i <= N; i++)); do
	(($(_nv_now_us) < deadline)) || fail "iteration $i: out of time"
	nvctl start x || fail "iteration $i: start"
	nvctl wait-ready --timeout "$(nv_scale 10)s" x || fail "iteration $i: wait-ready"
	nvctl publish --timeout "$(nv_scale 10)s" loop.x "message $i" ||
		fail "iteration $i: publish"
	nvctl stop x || fail "iteration $i: stop"
done
ms=$((($(_nv_now_us) - t0) / 1000))
n=$(find "$NV_DIR/inbox/x/new" -type f | wc -l)
printf 'start -> wait-ready -> publish -> stop: delivered %s/%s (%s ms per iteration)\n' \
	"$n" "$N" "$((ms / N))"
assert_eq "$N" "$n" "messages delivered"
dups=$(cat "$NV_DIR"/inbox/x/new/* | sort | uniq -d | wc -l)
assert_eq 0 "$dups" "duplicate messages"
for ((i = 1; i <= N; i++)); do
	grep -qrx "message $i" "$NV_DIR/inbox/x/new" || fail "message $i missing"
done
assert_eq "$N" "$(listener_field x spawns)" "incarnations"
nv_daemon_stop 20 || fail "exit status $?"
pass
