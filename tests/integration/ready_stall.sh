#!/bin/bash
# A NATS server that stalls (SIGSTOP: the daemon's connection stays up,
# nothing is answered) must not get healthy listeners killed: a ping
# timeout is counted only once the server has answered the daemon's own
# probe.  While the server is stopped the daemon says it does not answer
# and counts nothing; after SIGCONT the listener is ready again, same
# pid, no restart.  The other side, a listener that is stuck while the
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
health_failures = 2
EOT
nv_daemon_start "$NV_DIR/nv.ini" -v
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
pid=$(listener_pid calm)
log=$NV_DIR/natsvisord.log
# Three probes unanswered: far more missed pings than health_failures.
verdicts() { (($(grep -c "^natsvisord: debug: probe unanswered" "$log") >= 3)); }

kill -STOP "$NATS_PID"
wait_until 20 verdicts || { kill -CONT "$NATS_PID"; fail "no probe verdict while the server was stopped"; }
nvctl status >"$NV_DIR/status.stalled" 2>&1
kill -CONT "$NATS_PID"
grep -qx 'NATS: connected, but the server does not answer (misses are not counted)' \
	"$NV_DIR/status.stalled" || fail "status did not say the server does not answer"
assert_eq 1 "$(grep -c 'warning: the NATS server does not answer' "$log")" "warnings of the stall"
assert_eq "$pid" "$(listener_pid calm)" "calm's pid across the stall"
assert_eq 0 "$(listener_field calm restarts)" "restarts of calm"
! grep -q "consecutive missed pings" "$log" || fail "misses were counted during the stall"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" calm
assert_eq "$pid" "$(listener_pid calm)" "calm's pid after the stall"
again() { grep -q "^natsvisord: the NATS server answers again" "$log"; }
wait_until 10 again || fail "no word of the server answering again"
nvctl status | grep -q 'does not answer' && fail "status still says the server does not answer"
nv_daemon_stop
pass "a stalled server: misses not counted, no restart, ready again"
