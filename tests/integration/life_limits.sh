#!/bin/bash
# limit_nofile at the kernel's edge: fs.nr_open is the most descriptors a
# process may have, also for root.
#  - a number above fs.nr_open is a configuration error that names it;
#  - unlimited means fs.nr_open: where this test may raise its own hard
#    limit that far, the listener gets it; where it may not (no
#    CAP_SYS_RESOURCE), the start is a spawn error that names
#    limit_nofile and says why.
. "$(dirname "$0")/life-lib.sh"
nr_open=$(cat /proc/sys/fs/nr_open 2>/dev/null) || skip "no /proc/sys/fs/nr_open"
((nr_open < 1073741824)) || skip "fs.nr_open is at the configuration's maximum"
nv_setup
nats_start

T=$NV_DIR
nv_write_config "$T/big.ini" - <<EOT
[listener:big]
command      = sleep 600
limit_nofile = $((nr_open + 1))
EOT
assert_exit 78 "$NV_DAEMON" --check -c "$T/big.ini"
grep -qE "big\.ini:6: limit_nofile '$((nr_open + 1))': above fs\.nr_open \($nr_open\)" <<<"$NV_OUT" ||
	fail "the error does not name fs.nr_open: $NV_OUT"

nv_write_config "$T/nv.ini" - <<EOT
[listener:unl]
command      = sleep 600
limit_nofile = unlimited
EOT
nv_daemon_start "$T/nv.ini"
if (ulimit -Hn "$nr_open") 2>/dev/null; then
	nv_log "this test may raise its hard limit to $nr_open"
	started() { listener_pid unl >/dev/null; }
	wait_until 10 started || fail "unl did not start"
	got=$(awk '/^Max open files/ { print $4 }' "/proc/$(listener_pid unl)/limits")
	assert_eq "$nr_open" "$got" "open-files limit of unl"
else
	nv_log "this test may not raise its hard limit to $nr_open"
	spawn_failed() { nvctl status unl | grep -q 'spawn error'; }
	wait_until 10 spawn_failed || fail "no spawn error for unl"
	nvctl status unl | grep -qF "spawn error: setrlimit (limit_nofile): Operation not permitted (above natsvisord's hard limit" ||
		fail "the spawn error does not say why: $(nvctl status unl)"
fi
nv_daemon_stop 20 || fail "exit status $?"
pass
