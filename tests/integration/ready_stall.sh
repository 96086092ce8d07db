#!/bin/bash
# A NATS server that stalls (SIGSTOP: the daemon's connection stays up,
# nothing is answered) must not get healthy listeners killed: a ping
# timeout is counted only once the server has answered the daemon's own
# probe.  While the server is stopped the daemon says it does not answer
# and counts nothing; after SIGCONT the listener is ready again, same
# pid, no restart, and none of the pings sent during the stall counts
# (with health_failures = 1, one would restart it).  Short stalls (150 ms,
# longer than health_timeout, shorter than the probe's 100 ms budget plus
# a ping) restart nothing either, nor does ready_timeout passing while the
# server is stopped.  While it is stopped, is-ready and wait-ready say
# no.  The other side, a listener that is stuck while the
# server answers, is still killed (ready_health.sh, R14).
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:calm]
command  = $NV_LISTEN --subject st.calm --inbox $NV_DIR/inbox/calm
subjects = st.calm
health_interval = 300ms
health_timeout = 200ms
health_failures = 1
[listener:quick]
command  = $NV_LISTEN --subject st.quick --stdout
subjects = st.quick
health_interval = 200ms
health_timeout = 100ms
health_failures = 1
[listener:late]
command   = $NV_LISTEN --subject st.late --stdout
subjects  = st.late
autostart = no
ready_timeout = 1s
EOT
nv_daemon_start "$NV_DIR/nv.ini" -v
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
pid=$(listener_pid calm)
log=$NV_DIR/natsvisord.log
# Three probes unanswered: far more missed pings than health_failures.
verdicts() { (($(grep -c "^natsvisord: debug: probe unanswered" "$log") >= 3)); }

# A probe on its way when the server resumes (sent after the last verdict).
in_flight() {
	(($(grep -c "^natsvisord: debug: probe sent" "$log") >
	  $(grep -c "^natsvisord: debug: probe unanswered" "$log")))
}

kill -STOP "$NATS_PID"
wait_until 20 verdicts || { kill -CONT "$NATS_PID"; fail "no probe verdict while the server was stopped"; }
nvctl status >"$NV_DIR/status.stalled" 2>&1
nvctl status --json >"$NV_DIR/status.stalled.json" 2>&1
# is-ready and wait-ready say no while the server is known to be stalled.
rc=0; nvctl is-ready calm >"$NV_DIR/isready.stalled" 2>&1 || rc=$?
wait_until 5 in_flight || { kill -CONT "$NATS_PID"; fail "no probe after the last verdict"; }
kill -CONT "$NATS_PID"
grep -qx 'NATS: connected, but the server does not answer (misses are not counted)' \
	"$NV_DIR/status.stalled" || fail "status did not say the server does not answer"
assert_eq true "$(jq .server_silent "$NV_DIR/status.stalled.json")" "status --json server_silent"
assert_eq false "$(jq '.listeners[] | select(.name == "calm") | .ready' "$NV_DIR/status.stalled.json")" \
	"calm's ready flag while the server was stalled"
assert_eq 1 "$rc" "is-ready calm while the server was stalled"
grep -q '^calm: running, ready.*but the NATS server does not answer' "$NV_DIR/isready.stalled" ||
	fail "is-ready did not say why: $(cat "$NV_DIR/isready.stalled")"
assert_eq 1 "$(grep -c 'warning: the NATS server does not answer' "$log")" "warnings of the stall"
assert_eq "$pid" "$(listener_pid calm)" "calm's pid across the stall"
assert_eq 0 "$(listener_field calm restarts)" "restarts of calm"
! grep -q "consecutive missed pings" "$log" || fail "misses were counted during the stall"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" calm
assert_eq "$pid" "$(listener_pid calm)" "calm's pid after the stall"
again() { grep -q "^natsvisord: the NATS server answers again" "$log"; }
wait_until 10 again || fail "no word of the server answering again"
nvctl status | grep -q 'does not answer' && fail "status still says the server does not answer"
# The pings sent during the stall are resolved once a ping sent since has
# been answered: none of them may count (with health_failures = 1, one
# counted miss would restart calm).
t_again=$(_nv_now_us)
pong_since() {
	local ago
	ago=$(listener_field calm last_pong_ms_ago) && [[ $ago != null ]] &&
		((ago * 1000 < $(_nv_now_us) - t_again))
}
wait_until 10 pong_since || fail "no pong since the server answers again"
counted='missed [0-9]+ pings? \(|consecutive missed'
! grep -Eq "$counted" "$log" ||
	fail "a ping sent during the stall was counted: $(grep -E "$counted" "$log")"
assert_eq "$pid" "$(listener_pid calm)" "calm's pid once the server is back"
assert_eq 0 "$(listener_field calm restarts)" "restarts of calm once the server is back"

# Short stalls, each followed by a pong of quick's sent after it.
qpid=$(listener_pid quick)
quick_pong_since() {
	local ago
	ago=$(listener_field quick last_pong_ms_ago) && [[ $ago != null ]] &&
		((ago * 1000 < $(_nv_now_us) - t_cont))
}
for _ in 1 2 3 4 5 6 7 8; do
	kill -STOP "$NATS_PID"
	sleep 0.15 # the stall itself, not a wait for anything
	kill -CONT "$NATS_PID"
	t_cont=$(_nv_now_us)
	wait_until 10 quick_pong_since || fail "no pong of quick after a short stall"
done
assert_eq "$qpid" "$(listener_pid quick)" "quick's pid after short stalls"
assert_eq 0 "$(listener_field quick restarts)" "restarts of quick after short stalls"
assert_eq 0 "$(listener_field calm restarts)" "restarts of calm after short stalls"

# ready_timeout (1 s) passes twice while the server is stopped: late is
# not restarted, and is ready once the server is back.
kill -STOP "$NATS_PID"
nvctl start late >/dev/null 2>&1 &
nv_track "$!" "start late"
deferred() { (($(grep -c 'late: ready_timeout deferred' "$log") >= 2)); }
wait_until 10 deferred || { kill -CONT "$NATS_PID"; fail "ready_timeout of late not deferred"; }
kill -CONT "$NATS_PID"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" late
assert_eq 0 "$(listener_field late restarts)" "restarts of late"
nv_daemon_stop
pass "a stalled server: misses not counted, no restart, ready again"
