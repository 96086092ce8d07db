#!/bin/bash
# Issue 4: natsvisord as PID 1 of a PID namespace (as in a container),
# started with `unshare --pid --fork --mount-proc` (root only; skipped
# where that is not permitted).
#  - status --json reports pid 1; listeners run and become ready;
#  - a listener that leaves 50 orphans behind: all reaped and logged, no
#    zombie; an escaped grandchild is stopped at shutdown;
#  - SIGHUP reloads; SIGTERM and SIGINT each stop everything and exit 0.
. "$(dirname "$0")/life-lib.sh"
command -v unshare >/dev/null || skip "unshare not found (util-linux)"
unshare --pid --fork --mount-proc true 2>/dev/null ||
	skip "unshare --pid --fork --mount-proc not permitted here"
nv_setup
nats_start

T=$NV_DIR
cat >"$T/orphans.sh" <<EOT
#!/bin/bash
# 50 short-lived orphans (their parent, a subshell, is gone at once) and
# one escaped grandchild that lives on.
for i in \$(seq 50); do ( sleep 0.0\$((i % 10)) & ); done
( setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo \$! >$T/escaped )
exec $NV_LISTEN --stdout
EOT
chmod +x "$T/orphans.sh"
nv_write_config "$T/nv.ini" - <<EOT
[listener:orphans]
command  = $T/orphans.sh
subjects = o.in

[listener:plain]
command  = $NV_LISTEN --stdout
subjects = p.in
EOT

# pid1_start: natsvisord as PID 1 of a new namespace; NV_DAEMON_PID is
# unshare's pid, PID1 the daemon's pid as seen from here.
pid1_start() {
	: >"$T/natsvisord.log"
	nv_spawn natsvisord unshare --pid --fork --mount-proc \
		"$NV_DAEMON" -c "$T/nv.ini"
	NV_DAEMON_PID=$NV_LAST_PID
	child_of_unshare() {
		PID1=$(cat "/proc/$NV_DAEMON_PID/task/$NV_DAEMON_PID/children" 2>/dev/null)
		PID1=${PID1%% *}
		[[ -n $PID1 ]]
	}
	wait_until 5 child_of_unshare || fail "unshare started no daemon"
	wait_until 15 _nv_daemon_answers || fail "natsvisord never answered"
	assert_eq 1 "$(nvctl status --json | jq -r .pid)" "the daemon's own pid"
	assert_eq "NSpid:	$PID1	1" "$(grep NSpid "/proc/$PID1/status")" \
		"pid of the daemon inside the namespace"
}

# pid1_stop SIG: send SIG to the daemon, expect exit 0 and nothing left.
pid1_stop() {
	local rc=0
	kill "-$1" "$PID1"
	wait_pid_gone "$NV_DAEMON_PID" 20 || fail "natsvisord (PID 1) ignored SIG$1"
	wait "$NV_DAEMON_PID" 2>/dev/null || rc=$?
	NV_DAEMON_PID=
	assert_eq 0 "$rc" "exit status after SIG$1"
	daemon_log_has "shutting down: SIG$1" || fail "SIG$1 not logged"
}

pid1_start
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
reaped() { (($(grep -c 'reaped orphan pid' "$T/natsvisord.log") >= 50)); }
wait_until 10 reaped || fail "the 50 orphans were not all reaped: $(grep -c 'reaped orphan' "$T/natsvisord.log")"
assert_eq 0 "$(zombies_of "$PID1")" "zombies of PID 1"
escaped=$(<"$T/escaped")   # a pid inside the namespace
daemon_log_has 'connected to NATS' || fail "no NATS connection"

# SIGHUP reloads (and does not stop anything).
kill -HUP "$PID1"
wait_until 5 daemon_log_has 'SIGHUP: reloading' || fail "SIGHUP not handled"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s"
pid_alive "$PID1" || fail "PID 1 died on SIGHUP"

pid1_stop TERM
daemon_log_has "stopping orphan pid $escaped with SIGTERM" ||
	fail "the escaped grandchild was not stopped at shutdown"

pid1_start
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
pid1_stop INT
pass
