#!/bin/bash
# Issue 5 item 5, readiness over NATS for publishers that run elsewhere:
# natsvisord answers natsvisor.<id>.status (with its instance_id) and
# natsvisor.<id>.wait-ready, publishes natsvisor.<id>.event.<name> on every
# change of state or health, and `natsvisorctl --nats URL` reaches it
# without the control socket (a static natsvisorctl through
# natsvisorctl-nats).  The NATS side is read-only unless
# nats_control = yes.  natsvisorctl itself does not link libnats.
. "$(dirname "$0")/lib.sh"
PROBE=$top_builddir/tests/integration/ready-probe
LPROBE=$top_builddir/tests/integration/listen-probe
[[ -x $PROBE && -x $LPROBE ]] || fail "probes not built (make check builds them)"
nv_setup
nats_start

# natsvisorctl keeps a socket status fast: no libnats among its needs.
if readelf -d "$NV_CTL" | grep -q 'NEEDED.*libnats'; then
	fail "natsvisorctl links libnats"
fi

ID=rdy$$
write_config() { # NATS_CONTROL
	nv_write_config "$NV_DIR/nv.ini" - <<EOT
instance_id = $ID
nats_control = $1
[listener:a]
command = $NV_LISTEN --stdout
subjects = ready.a.>
[listener:slow]
command = sh -c 'sleep 1; exec "\$0" --stdout' $NV_LISTEN
subjects = ready.slow.>
EOT
}
nctl() { "$NV_CTL" --nats "$NATS_URL" --instance "$ID" "$@"; }

# Events from the start: the probe subscribes before the daemon exists.
nv_spawn events "$PROBE" "$NATS_URL" sub "natsvisor.$ID.event.>"
EVENTS=$NV_DIR/events.log
wait_until 5 grep -q subscribed "$EVENTS" || fail "event probe not subscribed"

write_config no
nv_daemon_start "$NV_DIR/nv.ini"

# wait-ready over NATS, held by the daemon and answered on the change.
t0=$(_nv_now_us)
assert_exit 0 nctl wait-ready --timeout "$(nv_scale 10)s" a slow
t1=$(_nv_now_us)
nv_log "--nats wait-ready a slow: $(((t1 - t0) / 1000)) ms (slow sleeps 1 s)"
assert_exit 0 nvctl is-ready a slow

# status over NATS, the same text and JSON as over the socket.
assert_exit 0 nctl status
grep -q '^slow .*running .*ready' <<<"$NV_OUT" || fail "--nats status text"
js=$(nctl status --json) || fail "--nats status --json"
assert_eq "$ID" "$(jq -r .instance_id <<<"$js")" "instance_id over NATS"
assert_eq "$NV_DAEMON_PID" "$(jq -r .pid <<<"$js")" "daemon pid over NATS"
assert_eq 2 "$(jq -r .ready <<<"$js")" "ready count over NATS"
assert_exit 0 nctl is-ready a
assert_exit 2 nctl wait-ready nosuch
assert_exit 0 nctl version
grep -q '^natsvisord ' <<<"$NV_OUT" || fail "--nats version: no daemon line"
# -c FILE gives the instance_id.
assert_exit 0 "$NV_CTL" --nats "$NATS_URL" -c "$NV_DIR/nv.ini" is-ready a
# Another instance id: nobody answers.
assert_exit 3 "$NV_CTL" --nats "$NATS_URL" --instance nosuch status
assert_exit 2 "$NV_CTL" --nats "$NATS_URL" --instance a.b status
assert_exit 2 "$NV_CTL" --nats
# Read-only: control commands are refused (nobody subscribes to .control).
assert_exit 3 nctl stop a
grep -q nats_control <<<"$NV_OUT" || fail "refusal does not name nats_control"
assert_exit 3 nctl publish ready.a.x hello
assert_eq running "$(listener_state a)" "a after a refused stop"

# The plain subjects, for any NATS client.
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.status" -t 5000 "a") ||
	fail "status request"
assert_eq "$ID" "$(jq -r .instance_id <<<"$out")" "status subject: instance_id"
assert_eq a "$(jq -r '.listeners[0].name' <<<"$out")" "status subject: name"
assert_eq 1 "$(jq -r '.listeners | length' <<<"$out")" "status subject: one"
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.wait-ready" -t 5000 \
	"timeout=2s a slow") || fail "wait-ready request"
assert_eq 0 "$(jq -r .code <<<"$out")" "wait-ready subject: code"
assert_eq true "$(jq -r .ready <<<"$out")" "wait-ready subject: ready"
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.wait-ready" -t 5000 \
	"nosuch") || fail "wait-ready request (nosuch)"
assert_eq 2 "$(jq -r .code <<<"$out")" "wait-ready subject: unknown name"
# A state-changing frame sent to the read-only request subject.
frame=$'NV1 2 0\n4 stop\n1 a\n'
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.request" -t 5000 "$frame") ||
	fail "request subject"
[[ $out == "NV1 3 "* && $out == *"permission denied"* ]] ||
	fail "stop on the request subject not refused: $out"
# Garbage: a usage error that says "malformed request" once.
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.request" -t 5000 "hello there") ||
	fail "request subject (garbage)"
[[ $out == "NV1 2 "* && $out == *"malformed request: not a natsvisor"* &&
	$out != *"malformed request: malformed"* ]] || fail "garbage request: $out"

# Events: a's whole start-up, and a kill -9 and its restart.
ev() { # NAME STATE HEALTH: an event with these fields has arrived
	sed -n "s/^natsvisor\.$ID\.event\.$1 //p" "$EVENTS" |
		jq -se --arg s "$2" --arg h "$3" \
			'any(.[]; .state == $s and .health == $h)' >/dev/null
}
wait_until 5 ev a starting pending || fail "no 'starting' event for a"
wait_until 5 ev a running ready || fail "no 'running ready' event for a"
wait_until 5 ev slow running ready || fail "no 'running ready' event for slow"
sed -n "s/^natsvisor\.$ID\.event\.a //p" "$EVENTS" | head -n 1 |
	jq -e --arg id "$ID" '.instance_id == $id and .name == "a" and
		(.pid | type) == "number" and (.reason | type) == "string"' \
	>/dev/null || fail "event fields: $(head -n 3 "$EVENTS")"
pid=$(listener_pid a)
kill -KILL "$pid"
wait_until 5 ev a backoff pending || fail "no 'backoff' event after kill -9"
# No process in backoff: pid 0 (documented in natsvisorctl(1)).
sed -n "s/^natsvisor\.$ID\.event\.a //p" "$EVENTS" |
	jq -se 'any(.[]; .state == "backoff" and .pid == 0)' >/dev/null ||
	fail "the backoff event does not carry pid 0"
wait_until 5 nvctl is-ready a || fail "a not ready again"
n=$(grep -c "^natsvisor\.$ID\.event\.a " "$EVENTS")
nv_log "events for a so far: $n"
((n >= 5)) || fail "expected at least 5 events for a, got $n"
nv_daemon_stop 20 || fail "exit status $?"
assert_exit 3 nctl status

# nats_control = yes: every command over NATS, including control.
write_config yes
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nctl wait-ready --timeout "$(nv_scale 10)s"
assert_exit 0 nctl stop a
assert_eq stopped "$(listener_state a)" "a after stop over NATS"
assert_exit 5 nctl wait-ready a
grep -q 'a: stopped' <<<"$NV_OUT" || fail "wait-ready 5 does not name a"
assert_exit 0 nctl start a
assert_exit 0 nctl wait-ready --timeout "$(nv_scale 10)s" a
old=$(listener_pid slow)
assert_exit 0 nctl restart slow
assert_exit 0 nctl wait-ready --timeout "$(nv_scale 10)s" slow
[[ $(listener_pid slow) != "$old" ]] || fail "slow kept its pid over restart"
assert_exit 0 nctl publish --confirm ready.a.x "over nats"
wait_until 5 grep -q 'over nats' "$NV_DIR/natsvisord.log" ||
	fail "message published over NATS not received"
assert_exit 0 nctl reload
assert_exit 2 nctl publish 'ready.a.*' wildcard
nv_daemon_stop 20 || fail "exit status $?"

# No server at that URL: unreachable.
port=$(free_port)
assert_exit 3 "$NV_CTL" --nats "nats://127.0.0.1:$port" --instance "$ID" status
pass
