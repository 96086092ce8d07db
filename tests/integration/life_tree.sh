#!/bin/bash
# Issue 4, process trees: natsvisord is a child subreaper.
#  - grandchildren that escape their listener's group with setsid and lose
#    their parent are adopted by the daemon, reaped and logged when they
#    die, and stopped when the daemon shuts down (SIGTERM, then SIGKILL for
#    one that ignores it); no zombie is left at any point;
#  - kill -9 of the daemon: PR_SET_PDEATHSIG ends every listener;
#  - an essential listener turning fatal stops everything; exit 1.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
cat >"$T/escaper.sh" <<EOT
#!/bin/bash
# Two escapees in their own sessions, orphaned at once (the subshell that
# started them exits): one ends on SIGTERM, one ignores it.
( setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo \$! >$T/esc1 )
( setsid sh -c 'trap "" TERM; exec sleep 1001' </dev/null >/dev/null 2>&1 &
  echo \$! >$T/esc2 )
( setsid sleep 1002 </dev/null >/dev/null 2>&1 & echo \$! >$T/esc3 )
exec $NV_LISTEN --stdout
EOT
chmod +x "$T/escaper.sh"

nv_write_config "$T/nv.ini" - <<EOT
[listener:escaper]
command  = $T/escaper.sh
subjects = esc.in
restart  = never

[listener:plain]
command  = $NV_LISTEN --stdout
subjects = plain.in
EOT
nv_daemon_start "$T/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"

ppid_of() { awk '{ print $4 }' "/proc/$1/stat" 2>/dev/null; }
esc_ready() { [[ -s $T/esc1 && -s $T/esc2 && -s $T/esc3 ]]; }
wait_until 5 esc_ready || fail "escapees not started"
e1=$(<"$T/esc1") e2=$(<"$T/esc2") e3=$(<"$T/esc3")
adopted() { [[ $(ppid_of "$1") == "$NV_DAEMON_PID" ]]; }
for e in "$e1" "$e2" "$e3"; do
	wait_until 5 adopted "$e" || fail "escapee $e not adopted by the daemon (ppid $(ppid_of "$e"))"
	[[ $(ps -o sid= -p "$e" | tr -d ' ') == "$e" ]] || fail "escapee $e did not escape"
done

# One dies: reaped and logged, no zombie.
kill -TERM "$e3"
wait_until 5 daemon_log_has "reaped orphan pid $e3 \\(signal TERM\\)" ||
	fail "the death of orphan $e3 was not logged"
assert_eq 0 "$(zombies_of "$NV_DAEMON_PID")" "zombies after an orphan died"

# The listener that started them goes away; they stay adopted.
escpid=$(listener_pid escaper)
assert_exit 0 nvctl stop escaper
pid_alive "$escpid" && fail "escaper survived its stop"
pid_alive "$e1" || fail "escapee $e1 died with its listener's group"

# Shutdown: the orphans are stopped too (SIGKILL for the one ignoring TERM).
tree=$(tree_pids "$NV_DAEMON_PID")
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
for p in $tree "$e1" "$e2"; do
	pid_alive "$p" && fail "process $p survived the daemon's shutdown"
done
daemon_log_has "stopping orphan pid $e1 with SIGTERM" || fail "orphan $e1 not stopped"
daemon_log_has "stopping orphan pid $e2 with SIGKILL" ||
	fail "orphan $e2 (ignores SIGTERM) not killed"

# --- kill -9 of the daemon: the listeners go with it -------------------------
: >"$T/natsvisord.log"
nv_daemon_start "$T/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" plain
p1=$(listener_pid plain)
kill -KILL "$NV_DAEMON_PID"
wait_pid_gone "$p1" 5 || fail "listener $p1 outlived the daemon (PR_SET_PDEATHSIG)"
wait "$NV_DAEMON_PID" 2>/dev/null || true
NV_DAEMON_PID=
# (escaper's own escapees, started again above, are the test's to clean up)
for f in esc1 esc2 esc3; do kill -KILL "$(<"$T/$f")" 2>/dev/null || true; done

# --- essential: fatal -> everything stops, exit 1 ----------------------------
nv_write_config "$T/ess.ini" - <<EOT
[listener:core]
command         = sh -c 'exit 1'
subjects        = core.in
essential       = yes
max_restarts    = 1
backoff_initial = 50ms

[listener:other]
command  = $NV_LISTEN --stdout
subjects = other.in
EOT
: >"$T/natsvisord.log"
nv_spawn natsvisord "$NV_DAEMON" -c "$T/ess.ini"
NV_DAEMON_PID=$NV_LAST_PID
wait_pid_gone "$NV_DAEMON_PID" 15 || fail "the daemon did not exit after an essential listener turned fatal"
rc=0
wait "$NV_DAEMON_PID" || rc=$?
assert_eq 1 "$rc" "exit status after an essential listener turned fatal"
daemon_log_has 'core: .*-> fatal: ' || fail "core never fatal"
daemon_log_has 'fatal: shutting down: an essential listener is fatal \(core\)' ||
	fail "no shutdown reason in the log"
daemon_log_has 'other: .*-> stopped' || daemon_log_has 'other: .*-> stopping' ||
	! daemon_log_has 'other: .*spawned' || fail "other was not stopped"
left=$(nv_leftovers)
# shellcheck disable=SC2086 # split the pid list
left=$(printf '%s\n' $left | grep -vx "$NATS_PID" || true)
[[ -z $left ]] || fail "processes left: $left"
pass
