#!/bin/bash
# R12, "wait for services" that does not wait: a process that merely runs
# is never ready; wait-ready times out with exit 1 naming the listener,
# its state and health; a late listener is reported within milliseconds
# of its first pong (the daemon answers on the state change); an unknown
# name exits 2, a stopped daemon 3; `natsvisord --daemon` exits 1 when an
# autostart listener cannot become ready in time.  Prints the wait-ready
# latency.
. "$(dirname "$0")/lib.sh"
PROBE=$top_builddir/tests/integration/ready-probe
[[ -x $PROBE ]] || fail "ready-probe not built (make check builds it)"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
startup_timeout = 2s
[listener:never]
command       = sh -c 'exec sleep 3600'
subjects      = never.in
ready_timeout = 30s
[listener:late]
command  = sh -c 'sleep 1.5; date +%s%N >"\$0"; exec "\$1" --subject late.in --stdout' $NV_DIR/late.exec $NV_LISTEN
subjects = late.in
[listener:stamp]
command  = sh -c 'sleep 2; exec "\$0" "\$NATS_URL" listen stamp.in "\$1"' $PROBE $NV_DIR/stamp.t
subjects = stamp.in
EOT
nv_daemon_start "$NV_DIR/nv.ini"

# late: exit 0 as soon as it answers; held by the daemon, not polled.
t0=$(_nv_now_us)
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s" late
t1=$(_nv_now_us)
# The first pong was last_pong_ms_ago before the daemon answered the
# status query that returned at t3.  Subtracting all of t3 - t1 leaves
# out the start-up of that natsvisorctl (a machine's speed, not the
# daemon's); what remains is the latency plus wait-ready's own return to
# this shell, less the status query's (the same few steps), so the bound
# can stay tight on a loaded machine.
status_json=$(nvctl status --json late)
t3=$(_nv_now_us)
pong_ago=$(jq -r '.listeners[0].last_pong_ms_ago' <<<"$status_json")
[[ $pong_ago =~ ^[0-9]+$ ]] || fail "no last pong for late: $pong_ago"
latency=$((pong_ago - (t3 - t1) / 1000))
((latency >= 0)) || latency=0
exec_ns=$(<"$NV_DIR/late.exec")
since_exec=$((t1 / 1000 - exec_ns / 1000000))
nv_log "wait-ready late: returned after $(((t1 - t0) / 1000)) ms," \
	"$since_exec ms after late's exec"
printf 'wait-ready latency: about %s ms after the first pong; %s ms after the listener exec (connect, subscribe, ping schedule)\n' \
	"$latency" "$since_exec"
(((t1 - t0) / 1000 >= 1400)) || fail "late ready before its 1.5 s sleep ended"
((latency <= $(nv_scale 50))) ||
	fail "wait-ready returned $latency ms after the first pong"
((since_exec <= $(nv_scale 1000))) ||
	fail "late ready only $since_exec ms after its exec"

# stamp (tests/integration/ready-probe) writes the time right before it
# subscribes to its ping subject: from there to wait-ready's return is
# the ping schedule plus one round trip.
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s" stamp
t1=$(_nv_now_us)
stamp_ns=$(<"$NV_DIR/stamp.t")
latency=$((t1 / 1000 - stamp_ns / 1000000))
printf 'wait-ready latency: %s ms from the ping subscription to the return of wait-ready\n' \
	"$latency"
((latency <= $(nv_scale 100))) ||
	fail "wait-ready returned $latency ms after the ping subscription"

# never: alive, never subscribes, never ready.  Exit 1 after 2 s.
assert_exit 1 nvctl is-ready never
t0=$(_nv_now_us)
assert_exit 1 nvctl wait-ready --timeout 2s never
ms=$((($(_nv_now_us) - t0) / 1000))
nv_log "wait-ready --timeout 2s never: exit 1 after $ms ms"
((ms >= 1950 && ms <= 2000 + $(nv_scale 500))) ||
	fail "wait-ready --timeout 2s took $ms ms"
grep -qx 'never: starting, pending: no responders' <<<"$NV_OUT" ||
	fail "wait-ready does not name never's state and health: $NV_OUT"
grep -q late <<<"$NV_OUT" && fail "wait-ready names a ready listener"
# Both at once: the one that is not ready is named, with its reason.
assert_exit 1 nvctl wait-ready --timeout 0.3s late never
assert_eq 1 "$(grep -c . <<<"$NV_OUT")" "lines naming not-ready listeners"
assert_eq starting "$(listener_state never)" "never's state"
assert_eq pending "$(listener_health never)" "never's health"
assert_eq false "$(listener_field never ready)" "never's ready flag"

assert_exit 2 nvctl wait-ready nosuch
grep -q 'unknown listener: nosuch' <<<"$NV_OUT" || fail "nosuch not named"
assert_exit 2 nvctl wait-ready --timeout soon late

nv_daemon_stop 20 || fail "exit status $?"
t0=$(_nv_now_us)
assert_exit 3 nvctl wait-ready late
ms=$((($(_nv_now_us) - t0) / 1000))
((ms < $(nv_scale 1000))) || fail "wait-ready with no daemon took $ms ms"

# --daemon with `never` on autostart: the original process exits 1 once
# startup_timeout (2 s) passes; the daemon keeps running.
t0=$(_nv_now_us)
rc=0
"$NV_DAEMON" -c "$NV_DIR/nv.ini" --daemon --pidfile "$NV_DIR/nv.pid" \
	>>"$NV_DIR/daemon-bg.log" 2>&1 </dev/null || rc=$?
ms=$((($(_nv_now_us) - t0) / 1000))
NV_LOGS+=("$NV_DIR/daemon-bg.log")
wait_until 5 test -s "$NV_DIR/nv.pid" || fail "no pidfile from --daemon"
bg=$(<"$NV_DIR/nv.pid")
nv_track "$bg" "natsvisord --daemon"
nv_log "natsvisord --daemon with never: exit $rc after $ms ms"
assert_eq 1 "$rc" "natsvisord --daemon exit status"
((ms >= 1900 && ms <= 2000 + $(nv_scale 1500))) ||
	fail "--daemon returned after $ms ms, startup_timeout is 2 s"
grep -q 'not ready after startup_timeout' "$NV_DIR/daemon-bg.log" ||
	fail "--daemon did not say why"
pid_alive "$bg" || fail "the daemon did not keep running"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s" late stamp
assert_exit 1 nvctl is-ready never
kill -TERM "$bg"
wait_pid_gone "$bg" 20 || fail "the detached daemon did not stop"
pass
