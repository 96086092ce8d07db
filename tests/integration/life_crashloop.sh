#!/bin/bash
# Issue 4, done-when: a listener that crash-loops 1000 times leaves the
# daemon's descriptor count and RSS where they started.  The listener
# prints to stdout and stderr (captured, prefixed on the daemon's stderr)
# and exits 3 at once; backoff_initial = 0 keeps the loop fast.  The
# figures are printed: "daemon fds: B before, A after; RSS: B KiB before,
# A KiB after".  A warm-up of 50 crashes comes first, so that one-time
# allocations (log buffers, the ping slot table) are in "before".
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
nv_write_config "$T/nv.ini" - <<EOT
[listener:crash]
command         = sh -c 'echo crashing; echo oops >&2; exit 3'
subjects        = crash.in
autostart       = no
backoff_initial = 0
backoff_max     = 0
max_restarts    = 0

[listener:steady]
command  = $NV_LISTEN --stdout
subjects = steady.in
EOT
nv_daemon_start "$T/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" steady
dpid=$NV_DAEMON_PID

# crash_until N: start crash, let it fail until N spawns, stop it.
crash_until() {
	crash_want=$1	# (global: wait_until has a local n of its own)
	spawned() { (($(listener_field crash spawns) >= crash_want)); }
	nvctl start crash >/dev/null 2>&1 || true
	wait_until 120 spawned || fail "crash reached only $(listener_field crash spawns) spawns"
	assert_exit 0 nvctl stop crash
	wait_until 5 state_is crash stopped || fail "crash not stopped"
}

crash_until 50
fds0=$(fd_count "$dpid") rss0=$(rss_kb "$dpid") spawns0=$(listener_field crash spawns)
t0=$(now_ms)
crash_until $((spawns0 + 1000))
took=$(($(now_ms) - t0))
fds1=$(fd_count "$dpid") rss1=$(rss_kb "$dpid") spawns1=$(listener_field crash spawns)
n=$((spawns1 - spawns0))
echo "crash loop: $n crashes in $took ms (spawns $spawns0 -> $spawns1)"
echo "daemon fds: $fds0 before, $fds1 after; RSS: $rss0 KiB before, $rss1 KiB after"
((n >= 1000)) || fail "only $n crashes"
assert_eq "$fds0" "$fds1" "daemon descriptors after $n crashes"
# A leak of even 100 bytes per crash would show as 100 KiB.  (Under
# AddressSanitizer freed memory sits in its quarantine and RSS grows
# anyway; LeakSanitizer checks for leaks at exit instead.)
if [[ -z ${NV_SANITIZERS:-} ]]; then
	((rss1 - rss0 <= 64)) ||
		fail "the daemon's RSS grew by $((rss1 - rss0)) KiB over $n crashes"
fi
assert_eq 0 "$(zombies_of "$dpid")" "zombie children of the daemon"
# Every crash's output was captured (but the two stopped in flight).
(($(grep -c '^crash: oops$' "$T/natsvisord.log") >= spawns1 - 2)) ||
	fail "stderr lines of crash missing"
assert_exit 0 nvctl is-ready steady
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
