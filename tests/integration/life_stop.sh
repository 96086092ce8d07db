#!/bin/bash
# Case R10 (issue 4): stopping.
#  - stubborn ignores SIGTERM (its whole group does): `stop` exits 0 within
#    stop_timeout + 0.5 s, the log says SIGKILL was sent after 2 s, the
#    group is gone, state stopped;
#  - polite (stop_timeout 30 s) exits on SIGTERM: `stop` returns within
#    ~100 ms of the process exiting;
#  - a stop issued while a listener is still starting ends within
#    stop_timeout;
#  - leaver's main process exits leaving a member of its group that
#    ignores SIGTERM: the group is stopped (SIGKILL after stop_timeout)
#    before the next incarnation starts, never overlapping it;
#  - the same when the leftover's parent left the group (setsid) and lives
#    on, so that its death sends the daemon no SIGCHLD (orphan2);
#  - `natsvisorctl signal SIG NAME...` reaches every process of the group;
#  - brute (stop_timeout 0) gets SIGKILL at once, logged once (a zero
#    period of SIGKILLs used to spin the daemon);
#  - SIGTERM to natsvisord with stubborn and polite running: exit 0 within
#    ~2.5 s, nothing left; leaver, caught stopping its leftover, ends
#    stopped, with no restart announced.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
cat >"$T/polite.sh" <<EOT
#!/bin/bash
$NV_LISTEN --stdout & p=\$!
trap 'wait \$p; echo \$EPOCHREALTIME >$T/polite.exit; exit 0' TERM
wait \$p
EOT
cat >"$T/leaver.sh" <<EOT
#!/bin/sh
# A leftover of the previous incarnation still alive means an overlap.
if [ -f $T/leaver.child ] && kill -0 "\$(cat $T/leaver.child)" 2>/dev/null; then
	echo overlap >>$T/leaver.overlap
fi
echo x >>$T/leaver.spawns
sh -c 'trap "" TERM; echo \$\$ >$T/leaver.child; exec sleep 1000' &
sleep 0.3
exit 1
EOT
cat >"$T/orphan2.sh" <<EOT
#!/bin/sh
# A child (perl) forks a grandchild that stays in the group and ignores
# SIGTERM, then leaves the group itself with setsid and waits for it.
echo x >>$T/orphan2.spawns
perl -MPOSIX -e '
	my \$pid = fork();
	if (\$pid == 0) { \$SIG{TERM} = "IGNORE"; exec "sleep", "1000"; }
	POSIX::setsid();
	waitpid(\$pid, 0);
	sleep 1000;
' &
sleep 0.3
exit 1
EOT
cat >"$T/sig.sh" <<EOT
#!/bin/sh
sh -c 'trap "echo child >>$T/sig.got" USR1; while :; do sleep 0.05; done' &
trap 'echo main >>$T/sig.got' USR1
while :; do sleep 0.05; done
EOT
chmod +x "$T"/*.sh

nv_write_config "$T/nv.ini" - <<EOT
[listener:stubborn]
command      = sh -c 'trap "" TERM; while :; do sleep 1; done'
subjects     = s.in
stop_signal  = TERM
stop_timeout = 2s

[listener:polite]
command      = $T/polite.sh
subjects     = p.in
stop_timeout = 30s

[listener:early]
command      = sh -c 'sleep 1; exec $NV_LISTEN --stdout'
subjects     = e.in
autostart    = no
stop_timeout = 2s

[listener:leaver]
command         = $T/leaver.sh
subjects        = l.in
stop_timeout    = 1s
backoff_initial = 10ms

[listener:orphan2]
command         = $T/orphan2.sh
subjects        = o2.in
stop_timeout    = 1s
backoff_initial = 10ms

[listener:sig]
command  = $T/sig.sh
subjects = sig.in

[listener:brute]
command      = sh -c 'trap "" TERM; while :; do sleep 1; done'
subjects     = b.in
autostart    = no
stop_timeout = 0
EOT
nv_daemon_start "$T/nv.ini"

# timed_stop NAME: `natsvisorctl stop NAME` exits 0; how long it took, in
# ms, goes to $took and the test's log.
timed_stop() {
	local t0
	t0=$(now_ms)
	assert_exit 0 nvctl stop "$1"
	took=$(($(now_ms) - t0))
	nv_log "stop $1 took $took ms"
}

# --- leftovers of an incarnation are stopped before the next starts --------
leaver_twice() { [[ -f $T/leaver.spawns ]] && (($(wc -l <"$T/leaver.spawns") >= 3)); }
wait_until 15 leaver_twice || fail "leaver did not start three times"
assert_exit 0 nvctl stop leaver
[[ ! -e $T/leaver.overlap ]] || fail "two incarnations of leaver overlapped"
daemon_log_has 'leaver: starting -> stopping: exited with status 1' ||
	fail "leaver: the group was not stopped after its main process exited"
daemon_log_has 'leaver: sending SIGKILL to process group' ||
	fail "leaver: no SIGKILL for the group member that ignores SIGTERM"
child=$(<"$T/leaver.child")
pid_alive "$child" && fail "leaver's leftover $child survived the stop"

# The last member of the group is not our child: found all the same.
twice() { [[ -f $T/orphan2.spawns ]] && (($(wc -l <"$T/orphan2.spawns") >= 2)); }
wait_until 5 twice || fail "orphan2's group never ended (no second incarnation)"
assert_exit 0 nvctl stop orphan2

# --- signal reaches the group ------------------------------------------------
wait_until 10 state_is sig starting || fail "sig not starting"
have_both() { [[ -f $T/sig.got ]] && grep -qx main "$T/sig.got" && grep -qx child "$T/sig.got"; }
sig_sent() {
	nvctl signal USR1 sig >/dev/null 2>&1 || return 1
	wait_until 1 have_both 2>/dev/null
}
# (retried: the child sets its trap a moment after the spawn)
wait_until 10 sig_sent || fail "signal USR1 did not reach the group of sig"
daemon_log_has 'sig: sent SIGUSR1 to process group' || fail "signal not logged"
assert_exit 2 nvctl signal USR1 no-such-listener
assert_exit 1 nvctl signal USR1 early
[[ $NV_OUT == *"early: not running"* ]] || fail "signal to a stopped listener"

# --- stubborn: SIGKILL after stop_timeout ------------------------------------
wait_until 10 state_is stubborn starting || fail "stubborn not starting"
pgid=$(listener_field stubborn pgid)
two_members() { (($(pgrep -g "$pgid" | wc -l) >= 2)); }
wait_until 5 two_members || fail "stubborn's group never had two members"
timed_stop stubborn
within 1900 $((2500 + 500 * (${NV_SCALE%.*} - 1))) "$took" ||
	fail "stop stubborn took $took ms (stop_timeout 2 s)"
daemon_log_has 'stubborn: .*sent SIGKILL after stop_timeout \(2s\)' ||
	fail "the log does not say SIGKILL was sent after 2 s"
pgrep -g "$pgid" >/dev/null && fail "stubborn's group survived"
assert_eq stopped "$(listener_state stubborn)" "state of stubborn"
assert_eq 0 "$(listener_field stubborn pid)" "status --json pid of stopped stubborn"
assert_eq 0 "$(listener_field stubborn pgid)" "status --json pgid of stopped stubborn"

# --- stop_timeout = 0: SIGKILL at once, said once ----------------------------
assert_exit 0 nvctl start brute
wait_until 10 state_is brute starting || fail "brute not starting"
timed_stop brute
((took < 1000 * ${NV_SCALE%.*})) || fail "stop brute took $took ms"
assert_eq stopped "$(listener_state brute)" "state of brute"
assert_eq 1 "$(grep -c 'brute: sending SIGKILL' "$NV_DIR/natsvisord.log")" \
	"SIGKILL lines for brute"

# --- polite: stop returns as soon as it has exited ---------------------------
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" polite
assert_exit 0 nvctl stop polite
t1=$(now_ms)
exit_ms=$(awk '{ printf "%.0f", $1 * 1000 }' "$T/polite.exit")
nv_log "stop polite returned $((t1 - exit_ms)) ms after the process exited"
((t1 - exit_ms <= 100 + 100 * ${NV_SCALE%.*})) ||
	fail "stop polite returned $((t1 - exit_ms)) ms after the exit"
assert_eq stopped "$(listener_state polite)" "state of polite"

# --- a stop right after a start ----------------------------------------------
nvctl start early >/dev/null 2>&1 &
startpid=$!
nv_track "$startpid" "start early"
wait_until 5 state_is early starting || fail "early not starting"
timed_stop early
((took < 2500 * ${NV_SCALE%.*})) || fail "stop early took $took ms"
wait "$startpid" || true
assert_eq stopped "$(listener_state early)" "state of early"

# --- daemon shutdown with a stubborn listener --------------------------------
assert_exit 0 nvctl start stubborn polite leaver
wait_until 10 ready_is polite || fail "polite not ready again"
# leaver is stopping its leftover (which ignores SIGTERM) when the
# shutdown comes: it ends stopped, with no restart announced.
wait_until 10 state_is leaver stopping || fail "leaver never stopping"
tree=$(tree_pids "$NV_DAEMON_PID")
t0=$(now_ms)
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
took=$(($(now_ms) - t0))
nv_log "daemon shutdown took $took ms"
((took <= 2500 + 500 * ${NV_SCALE%.*})) || fail "shutdown took $took ms"
for p in $tree; do
	pid_alive "$p" && fail "process $p of the daemon's tree survived"
done
after=$(sed -n '/shutting down/,$p' "$NV_DIR/natsvisord.log")
grep -q 'leaver: stopping -> stopped' <<<"$after" ||
	fail "leaver did not end stopped at shutdown"
! grep -q 'restarting in' <<<"$after" ||
	fail "a restart was announced during shutdown: $(grep 'restarting in' <<<"$after")"
left=$(nv_leftovers)
# shellcheck disable=SC2086 # split the pid list
left=$(printf '%s\n' $left | grep -vx "$NATS_PID" || true)
[[ -z $left ]] || fail "processes left after shutdown: $(ps -o pid,ppid,pgid,args -p "${left//$'\n'/,}")"
pass
