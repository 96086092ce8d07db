#!/bin/bash
# Issue 4: `requires` orders start and shutdown.
#  - a requires b, b requires c, d is independent: c starts first, b only
#    once c is ready, a only once b is ready;
#  - a restart of c does not restart b or a;
#  - natsvisorctl stop --all, restart NAMES...: the same order as below,
#    also through a listener not named (stop a c: c once a is gone);
#  - a start while a stop is under way: the stop returns once the
#    incarnation it stopped is gone, and says it runs again;
#  - SIGTERM: a and d are stopped at once (in parallel), b only once a is
#    gone, c only once b is gone; exit 0, nothing left running.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
cat >"$T/wrap.sh" <<EOT
#!/bin/bash
echo "start \$NATSVISOR_NAME \$EPOCHREALTIME" >>$T/order
$NV_LISTEN --stdout & p=\$!
trap 'echo "stop \$NATSVISOR_NAME \$EPOCHREALTIME" >>$T/order
	kill \$p; wait \$p; sleep 0.3
	echo "gone \$NATSVISOR_NAME \$EPOCHREALTIME" >>$T/order; exit 0' TERM
wait \$p
EOT
chmod +x "$T/wrap.sh"

nv_write_config "$T/nv.ini" - <<EOT
[listener:a]
command  = $T/wrap.sh
subjects = a.in
requires = b

[listener:b]
command  = $T/wrap.sh
subjects = b.in
requires = c

[listener:c]
command  = $T/wrap.sh
subjects = c.in

[listener:d]
command  = $T/wrap.sh
subjects = d.in
EOT
nv_daemon_start "$T/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s"

# line_of REGEX: number of the first line of the daemon's log matching it.
line_of() {
	grep -nE -m1 -- "$1" "$T/natsvisord.log" | cut -d: -f1
}
c_ready=$(line_of '^natsvisord: c: starting -> running: ready')
b_spawn=$(line_of '^natsvisord: b: .*-> starting: spawned')
b_ready=$(line_of '^natsvisord: b: starting -> running: ready')
a_spawn=$(line_of '^natsvisord: a: .*-> starting: spawned')
nv_log "log lines: c ready $c_ready, b spawned $b_spawn, b ready $b_ready, a spawned $a_spawn"
((c_ready < b_spawn)) || fail "b was spawned before c was ready"
((b_ready < a_spawn)) || fail "a was spawned before b was ready"
daemon_log_has '^natsvisord: a: waiting for b to be ready' ||
	fail "a did not say what it waits for"

# A restart of a required listener leaves its dependents alone.
pa=$(listener_pid a) pb=$(listener_pid b) pc=$(listener_pid c)
assert_exit 0 nvctl restart c
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" c
[[ $(listener_pid c) != "$pc" ]] || fail "c kept its pid through a restart"
assert_eq "$pa" "$(listener_pid a)" "pid of a after restarting c"
assert_eq "$pb" "$(listener_pid b)" "pid of b after restarting c"

# at WHAT NAME: the time (ms) of the last WHAT event of NAME.
at() {
	awk -v w="$1" -v n="$2" '$1 == w && $2 == n { t = $3 } END { if (t) printf "%.0f\n", t * 1000 }' \
		"$T/order"
}
# in_order WHO: every listener was stopped, dependents first: b only once
# a was gone, c only once b was.
in_order() {
	for n in a b c d; do
		[[ -n $(at stop $n) && -n $(at gone $n) ]] || fail "$1: $n was not stopped"
	done
	(($(at stop b) >= $(at gone a))) || fail "$1: b was stopped before a was gone"
	(($(at stop c) >= $(at gone b))) || fail "$1: c was stopped before b was gone"
}

# natsvisorctl stop --all and restart --all keep the same order.
: >"$T/order"
assert_exit 0 nvctl stop --all
in_order "stop --all"
: >"$T/order"
assert_exit 0 nvctl start --all
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s"
: >"$T/order"
assert_exit 0 nvctl restart a b c d
in_order "restart a b c d"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" a b c d

# The order holds through a listener not named: a requires c through b.
pb=$(listener_pid b)
: >"$T/order"
assert_exit 0 nvctl stop a c
[[ -n $(at gone a) && -n $(at gone c) ]] || fail "stop a c: a or c was not stopped"
(($(at stop c) >= $(at gone a))) || fail "stop a c: c was stopped before a was gone"
assert_eq "$pb" "$(listener_pid b)" "pid of b after stop a c"
assert_exit 0 nvctl start a c
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" a b c

# A start while a stop is under way: the stop still returns once the
# incarnation it stopped is gone (it used to wait for ever).
nvctl stop d >"$T/stop-d.out" 2>&1 &
stopper=$!
nv_track "$stopper" "stop d"
wait_until 5 state_is d stopping || fail "d never stopping"
assert_exit 0 nvctl start d
wait_pid_gone "$stopper" 5 || fail "stop d did not return after d was started again"
wait "$stopper" || fail "stop d exited $?: $(cat "$T/stop-d.out")"
grep -q 'started again by a later request' "$T/stop-d.out" ||
	fail "stop d did not say that d runs again: $(cat "$T/stop-d.out")"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" d

tree=$(tree_pids "$NV_DAEMON_PID")
: >"$T/order"
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
cat "$T/order" >&2
in_order SIGTERM
apart=$(($(at stop d) - $(at stop a)))
apart=${apart#-}
nv_log "a and d were stopped $apart ms apart"
((apart < 250 * ${NV_SCALE%.*})) || fail "a and d were not stopped in parallel"
for p in $tree; do
	pid_alive "$p" && fail "process $p of the daemon's tree survived"
done
pass
