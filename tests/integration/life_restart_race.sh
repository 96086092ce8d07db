#!/bin/bash
# Control commands that overlap on the same listeners.  slow ignores
# SIGTERM, so its stop takes stop_timeout (1 s) and leaves room for a
# second command in the middle.
#  - restart a slow, and a start slow during the stop: both return, and a
#    and slow run (the restart used to wait for ever for the slow it had
#    stopped, which the start had begun again, and never started a);
#  - two restarts of a at once: both return, a runs;
#  - restart slow, and a stop slow during the stop: the later stop wins:
#    slow stays stopped, and the restart says so;
#  - restart slow, then stop slow and start slow during it: the start wins;
#  - restart a slow, and a reload that removes slow meanwhile: the restart
#    goes on with a (it used to give up with 5, leaving a stopped).
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:a]
command  = $NV_LISTEN --stdout
subjects = r.a

[listener:slow]
command      = sh -c 'trap "" TERM; $NV_LISTEN --stdout & while :; do wait; done'
subjects     = r.slow
stop_timeout = 1s
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"

# bg_ctl NAME ARGS...: natsvisorctl ARGS in the background, its output in
# $NV_DIR/NAME.out; BG_PID is its pid.
bg_ctl() {
	local name=$1
	shift
	nvctl "$@" >"$NV_DIR/$name.out" 2>&1 &
	BG_PID=$!
	nv_track "$BG_PID" "natsvisorctl $*"
}
# bg_done PID NAME: PID returned (bounded) and exited 0.
bg_done() {
	wait_pid_gone "$1" 10 || fail "natsvisorctl $2 did not return: $(cat "$NV_DIR/$2.out")"
	wait "$1" || fail "natsvisorctl $2 exited $?: $(cat "$NV_DIR/$2.out")"
}

# 1. A start in the middle of a restart.
pa=$(listener_pid a)
bg_ctl restart1 restart a slow
r1=$BG_PID
wait_until 5 state_is slow stopping || fail "slow never stopping"
assert_exit 0 nvctl start slow
bg_done "$r1" restart1
[[ $(listener_pid a) != "$pa" ]] || fail "a was not restarted"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a slow

# 2. Two restarts of a at once.
pa=$(listener_pid a)
bg_ctl restart2 restart a
r2=$BG_PID
bg_ctl restart3 restart a
r3=$BG_PID
bg_done "$r2" restart2
bg_done "$r3" restart3
[[ $(listener_pid a) != "$pa" ]] || fail "a was not restarted"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a

# 3. A stop in the middle of a restart: the stop wins.
bg_ctl restart4 restart slow
r4=$BG_PID
wait_until 5 state_is slow stopping || fail "slow never stopping"
assert_exit 0 nvctl stop slow
bg_done "$r4" restart4
grep -q '^slow: stopped, and not started again: a later request stopped it' "$NV_DIR/restart4.out" ||
	fail "restart did not say that slow stays stopped: $(cat "$NV_DIR/restart4.out")"
assert_eq stopped "$(listener_state slow)" "slow's state after the stop"
assert_exit 1 nvctl is-ready slow

# 4. A stop, then a start, in the middle of a restart: the start is the
# latest and wins; the restart does not claim slow stays stopped.
assert_exit 0 nvctl start slow
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" slow
bg_ctl restart5 restart slow
r5=$BG_PID
wait_until 5 state_is slow stopping || fail "slow never stopping"
n=$(grep -cx 'natsvisord: slow: stop requested' "$NV_DIR/natsvisord.log")
bg_ctl stop5 stop slow
s5=$BG_PID
# the start must come after the stop, not overtake it
stop_in() { (($(grep -cx 'natsvisord: slow: stop requested' "$NV_DIR/natsvisord.log") > n)); }
wait_until 5 stop_in || fail "the stop did not reach the daemon"
assert_exit 0 nvctl start slow
bg_done "$s5" stop5
bg_done "$r5" restart5
grep -q 'not started again' "$NV_DIR/restart5.out" &&
	fail "restart says slow stays stopped after a later start: $(cat "$NV_DIR/restart5.out")"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" slow

# 5. A reload that removes one of a restart's targets: the restart goes
# on with the others and says so.
pa=$(listener_pid a)
bg_ctl restart6 restart a slow
r6=$BG_PID
wait_until 5 state_is slow stopping || fail "slow never stopping"
nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:a]
command  = $NV_LISTEN --stdout
subjects = r.a
EOT
assert_exit 0 nvctl reload
bg_done "$r6" restart6
grep -q '^slow: removed by a reload' "$NV_DIR/restart6.out" ||
	fail "restart did not say slow was removed: $(cat "$NV_DIR/restart6.out")"
[[ $(listener_pid a) != "$pa" ]] || fail "a was not restarted"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a

nv_daemon_stop 20 || fail "exit status $?"
pass
