#!/bin/bash
# R14, "no responders" is not a timeout.  A deaf listener (alive, never
# subscribed) misses every ping at once with reason "no responders", and
# is killed when ready_timeout passes (and restarted); a frozen listener
# (SIGSTOP) misses with reason "timeout" and is killed after
# health_failures misses, then restarted; status shows both reasons.  With
# the nats-server down health is "unknown" and nobody is killed.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:deaf]
command        = sh -c 'exec sleep 3600'
subjects       = deaf.in
health_timeout = 2s
ready_timeout  = 10s
[listener:frozen]
command         = $NV_LISTEN --subject f.in --stdout
subjects        = f.in
health_interval = 1s
health_timeout  = 1s
health_failures = 3
EOT
t_start=$(_nv_now_us)
nv_daemon_start "$NV_DIR/nv.ini"
since() { echo $((($(_nv_now_us) - $1) / 1000)); }

# deaf: the server answers "no responders" at once; health_timeout (2 s)
# never comes into it.
reason_is() { [[ $(listener_field "$1" reason) == "$2" ]]; }
wait_until 0.5 reason_is deaf "pending: no responders" ||
	fail "deaf's miss not seen within 0.5 s: $(listener_field deaf reason)"
nv_log "deaf: 'no responders' recorded $(since "$t_start") ms after start"
deaf1=$(listener_pid deaf)
assert_eq starting "$(listener_state deaf)" "deaf's state"
assert_eq pending "$(listener_health deaf)" "deaf's health"

assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" frozen
frozen1=$(listener_pid frozen)
kill -STOP "$frozen1"
t_stop=$(_nv_now_us)

# Both reasons, distinctly, in one status.
frozen_missed() { [[ $(listener_health frozen) == unhealthy ]]; }
wait_until 3 frozen_missed || fail "frozen never missed a ping"
ms=$(since "$t_stop")
nvctl status >"$NV_DIR/status.txt" || fail "status"
cat "$NV_DIR/status.txt"
nv_log "frozen: first miss $ms ms after SIGSTOP"
grep -E '^deaf .*starting .*pending .*no responders' "$NV_DIR/status.txt" ||
	fail "status does not show deaf's 'no responders'"
grep -E '^frozen .*running .*unhealthy .*missed [0-9] pings? \(timeout\)' \
	"$NV_DIR/status.txt" || fail "status does not show frozen's timeout"
grep -E '^frozen .*no responders' "$NV_DIR/status.txt" &&
	fail "frozen's miss reported as no responders"
assert_exit 1 nvctl is-ready frozen
grep -q 'frozen: running, unhealthy: missed .*(timeout)' <<<"$NV_OUT" ||
	fail "is-ready does not give frozen's reason"

# frozen: killed after 3 consecutive misses (about 3-4 s), restarted.
frozen_back() {
	local p
	p=$(listener_pid frozen) && [[ $p != "$frozen1" ]] &&
		nvctl is-ready frozen >/dev/null 2>&1
}
wait_until 8 frozen_back || fail "frozen not restarted and ready"
ms=$(since "$t_stop")
nv_log "frozen: replaced and ready again $ms ms after SIGSTOP"
printf 'frozen: killed and restarted %s ms after SIGSTOP (3 misses of 1 s)\n' "$ms"
((ms >= 2500 && ms <= 4500 + $(nv_scale 1500))) ||
	fail "frozen was replaced after $ms ms, expected about 3-4 s"
pid_alive "$frozen1" && fail "the frozen process $frozen1 survived"
assert_eq 1 "$(listener_field frozen restarts)" "frozen's restarts"
grep -q 'frozen: running -> stopping: stopping: 3 consecutive missed pings (timeout)' \
	"$NV_DIR/natsvisord.log" || fail "no log of frozen's 3 misses"

# deaf: killed when ready_timeout (10 s from its spawn) passes, restarted.
deaf_back() {
	local p
	p=$(listener_pid deaf) && [[ $p != "$deaf1" ]]
}
wait_until 12 deaf_back || fail "deaf not restarted after ready_timeout"
ms=$(since "$t_start")
nv_log "deaf: replaced $ms ms after the daemon started (ready_timeout 10 s)"
printf 'deaf: killed and restarted %s ms after start (ready_timeout 10 s)\n' "$ms"
((ms >= 9900 && ms <= 10500 + $(nv_scale 1500))) ||
	fail "deaf replaced after $ms ms, expected about 10 s"
grep -q 'deaf: starting -> stopping: stopping: no reply within ready_timeout (10s)' \
	"$NV_DIR/natsvisord.log" || fail "no log of deaf's ready_timeout"
wait_until 1 reason_is deaf "pending: no responders" ||
	fail "deaf's new incarnation: $(listener_field deaf reason)"

# The server goes away: health unknown, nobody is killed, no restart.
deaf2=$(listener_pid deaf)
frozen2=$(listener_pid frozen)
nats_stop
unknown() {
	[[ $(listener_health deaf) == unknown &&
		$(listener_health frozen) == unknown ]]
}
wait_until 2 unknown || fail "health not unknown while NATS is down"
replaced() {
	[[ $(listener_pid deaf) != "$deaf2" ||
		$(listener_pid frozen) != "$frozen2" ]]
}
# Longer than frozen's 3 misses; deaf's ready_timeout is suspended.
if wait_until 4 replaced 2>/dev/null; then
	fail "a listener was replaced while NATS was down"
fi
assert_eq 1 "$(listener_field frozen restarts)" "frozen's restarts"
assert_eq 1 "$(listener_field deaf restarts)" "deaf's restarts"
nv_daemon_stop 20 || fail "exit status $?"
pass
