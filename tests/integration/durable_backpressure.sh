#!/bin/bash
# Back-pressure under natsvisord: a flood larger than --max-pending makes
# the client library drop messages; the slow-consumer events and the drops
# are counted in the listener's pings and shown by natsvisorctl status.
# While the backlog is above --max-backlog the listener is not ready (a
# gated publish waits), and it is ready again once it has drained.  The
# handler holds until the test creates $NV_DIR/go, so the backlog cannot
# drain while the test looks at it, however slow the machine.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start
cat >"$NV_DIR/slow.sh" <<'H'
i=0
while [ ! -e "$NV_DIR/go" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
cat >>"$NV_DIR/handled"
echo >>"$NV_DIR/handled"
H
export NV_DIR
nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:bp]
command = $NV_LISTEN --exec "sh $NV_DIR/slow.sh" --max-pending 20 --max-backlog 10
subjects = bp.>
health_interval = 200ms
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" bp
assert_eq 0 "$(listener_field bp backlog)" "backlog at rest"
assert_eq 0 "$(listener_field bp slow_consumer)" "slow_consumer at rest"

probe publish bp.flood -n 300 m || fail "flood"
backlogged() {
	[[ $(listener_field bp health) == not-ready ]] &&
		(($(listener_field bp backlog) > 10))
}
wait_until 10 backlogged ||
	fail "not reported backlogged: $(nvctl status --json bp)"
reason=$(listener_field bp reason)
[[ $reason == *"backlog "*"(bound 10, ready again at 5)"* ]] || fail "reason: $reason"
# The counters reach the daemon with the pings (200 ms apart) while the
# flood arrives: the text and the JSON agree once they are the same.
counted() {
	local json
	json=$(nvctl status --json bp)
	sc=$(jq -r '.listeners[0].slow_consumer' <<<"$json")
	dropped=$(jq -r '.listeners[0].dropped' <<<"$json")
	((sc >= 1 && dropped >= 200)) &&
		nvctl status bp | grep -q "\[backlog [0-9]*, slow consumer $sc, dropped $dropped\]"
}
wait_until 10 counted ||
	fail "slow_consumer $sc, dropped $dropped; status text: $(nvctl status bp)"
nv_log "backlogged: $reason; slow_consumer $sc, dropped $dropped"
# The gate holds publishes back meanwhile (the handler is held).
assert_exit 1 nvctl publish --timeout 300ms bp.gated "held"
assert_eq not-ready "$(listener_health bp)" "health while held"
touch "$NV_DIR/go"

drained() {
	[[ $(listener_field bp health) == ready ]] &&
		(($(listener_field bp backlog) <= 5))
}
wait_until 20 drained || fail "never ready again: $(nvctl status --json bp)"
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 10)s" bp.after "after"
grep -qx after "$NV_DIR/handled" || fail "confirmed message not handled"
handled=$(grep -c '^m-' "$NV_DIR/handled")
((handled + dropped >= 300)) || fail "handled $handled + dropped $dropped < 300"
nv_log "handled $handled of 300, dropped $dropped"
assert_eq "$sc" "$(listener_field bp slow_consumer)" "slow_consumer after draining"
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
