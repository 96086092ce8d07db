#!/bin/bash
# Reporting readiness to scripts that start natsvisord: --ready-fd N gets
# one newline once every autostart listener is ready, then is closed (and
# no listener inherits it); --daemon returns 0 only once ready, 1 at once
# when an autostart listener cannot become ready or waits for a requirement
# that cannot, 1 after startup_timeout
# (the daemon keeps running in both cases), and 78 for an invalid file.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = d.quick
[listener:slow]
command  = sh -c 'sleep 1; exec "\$0" --stdout' $NV_LISTEN
subjects = d.slow
EOT

# --ready-fd: read through a FIFO, whose end tells that it was closed.
mkfifo "$NV_DIR/ready.fifo"
cat "$NV_DIR/ready.fifo" >"$NV_DIR/ready.out" &
reader=$!
nv_track "$reader" "ready-fd reader"
t0=$(_nv_now_us)
nv_spawn natsvisord bash -c 'exec "$0" -c "$1" --ready-fd 7 7>"$2"' \
	"$NV_DAEMON" "$NV_DIR/nv.ini" "$NV_DIR/ready.fifo"
NV_DAEMON_PID=$NV_LAST_PID
wait_until 15 _nv_daemon_answers || fail "natsvisord never answered"
# Before slow is ready nothing has been written.
assert_exit 1 nvctl is-ready slow
[[ ! -s $NV_DIR/ready.out ]] || fail "ready-fd written before ready"
p=$(listener_pid quick) || fail "no pid for quick"
ls -l "/proc/$p/fd" >"$NV_DIR/fds.quick"
grep -q 'ready.fifo' "$NV_DIR/fds.quick" && fail "quick inherited the ready fd"
wait_until 10 _nv_pid_gone "$reader" || fail "the ready fd was never closed"
ms=$((($(_nv_now_us) - t0) / 1000))
assert_exit 0 nvctl is-ready quick slow
assert_eq 1 "$(wc -c <"$NV_DIR/ready.out")" "bytes written to the ready fd"
assert_eq "" "$(tr -d '\n' <"$NV_DIR/ready.out")" "the ready fd's byte"
nv_log "--ready-fd: newline and close $ms ms after start (slow sleeps 1 s)"
((ms >= 1000)) || fail "ready-fd closed after $ms ms, before slow could be ready"
p=$(listener_pid slow)
ls -l "/proc/$p/fd" | grep -q 'ready.fifo' && fail "slow inherited the ready fd"
nv_daemon_stop 20 || fail "exit status $?"
assert_exit 1 "$NV_DAEMON" -c "$NV_DIR/nv.ini" --ready-fd 99
grep -q 'not an open descriptor' <<<"$NV_OUT" || fail "--ready-fd 99 not refused"
assert_exit 1 "$NV_DAEMON" -c "$NV_DIR/nv.ini" --ready-fd seven

# --daemon: a background run that returns with the verdict.
daemon_run() { # CONFIG: run natsvisord --daemon; sets rc, ms, bg
	local t0
	rm -f "$NV_DIR/nv.pid"
	t0=$(_nv_now_us)
	rc=0
	"$NV_DAEMON" -c "$1" --daemon --pidfile "$NV_DIR/nv.pid" \
		>>"$NV_DIR/daemon-bg.log" 2>&1 </dev/null || rc=$?
	ms=$((($(_nv_now_us) - t0) / 1000))
	bg=
	if [[ $rc -ne 78 ]]; then
		wait_until 5 test -s "$NV_DIR/nv.pid" || fail "no pidfile"
		bg=$(<"$NV_DIR/nv.pid")
		nv_track "$bg" "natsvisord --daemon" "$NV_DIR/daemon-bg.log"
	fi
}
daemon_stop() {
	kill -TERM "$bg"
	wait_pid_gone "$bg" 20 || fail "the detached daemon did not stop"
}

daemon_run "$NV_DIR/nv.ini"
nv_log "--daemon: exit $rc after $ms ms"
assert_eq 0 "$rc" "--daemon with listeners that become ready"
((ms >= 1000)) || fail "--daemon returned after $ms ms, before slow was ready"
assert_exit 0 nvctl is-ready quick slow
pid_alive "$bg" || fail "the daemon is not running"
ppid=$(awk '{print $4}' "/proc/$bg/stat")
[[ $ppid != "$$" ]] || fail "the daemon did not detach"
sid=$(awk '{print $6}' "/proc/$bg/stat")
assert_eq "$bg" "$sid" "the daemon leads its own session"
# The pidfile holds the pid alone (BSD format, no newline), and a second
# daemon on it refuses to start, naming the first.
assert_eq "$bg" "$(od -An -c "$NV_DIR/nv.pid" | tr -d ' \n')" "pidfile contents"
assert_exit 1 timeout 10 "$NV_DAEMON" -c "$NV_DIR/nv.ini" --pidfile "$NV_DIR/nv.pid"
[[ $NV_OUT == *"natsvisord: fatal: already running (pid $bg, pidfile $NV_DIR/nv.pid)"* ]] ||
	fail "a second daemon on the pidfile: $NV_OUT"
pid_alive "$bg" || fail "the second daemon disturbed the first"
daemon_stop

# An autostart listener that cannot become ready: 1 at once.
nv_write_config "$NV_DIR/bad.ini" - <<EOT
startup_timeout = 60s
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = d.quick
[listener:missing]
command  = /nonexistent/listener
subjects = d.missing
EOT
daemon_run "$NV_DIR/bad.ini"
nv_log "--daemon with a spawn error: exit $rc after $ms ms"
assert_eq 1 "$rc" "--daemon with a listener that cannot start"
((ms <= $(nv_scale 3000))) || fail "--daemon took $ms ms to give up"
grep -q 'start-up failed' "$NV_DIR/daemon-bg.log" || fail "--daemon did not say why"
grep -q 'missing cannot become ready' "$NV_DIR/daemon-bg.log" ||
	fail "the log does not name missing"
pid_alive "$bg" || fail "the daemon did not keep running"
daemon_stop

# An autostart listener that waits for a requirement that cannot become
# ready (here one that is not started): 1 at once, naming the blocker.
nv_write_config "$NV_DIR/blocked.ini" - <<EOT
startup_timeout = 60s
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = d.quick
[listener:manual]
command   = $NV_LISTEN --stdout
subjects  = d.manual
autostart = no
[listener:needsmanual]
command  = $NV_LISTEN --stdout
subjects = d.needsmanual
requires = manual
EOT
daemon_run "$NV_DIR/blocked.ini"
nv_log "--daemon blocked behind a stopped requirement: exit $rc after $ms ms"
assert_eq 1 "$rc" "--daemon with a listener blocked by its requirement"
((ms <= $(nv_scale 3000))) || fail "--daemon took $ms ms to give up"
grep -q 'needsmanual cannot become ready: blocked by manual' \
	"$NV_DIR/daemon-bg.log" || fail "the log does not name the blocker"
pid_alive "$bg" || fail "the daemon did not keep running"
daemon_stop

# No nats-server (a broker down at boot): 1 after startup_timeout (1 s).
nats_stop
nv_write_config "$NV_DIR/down.ini" - <<EOT
startup_timeout = 1s
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = d.quick
EOT
daemon_run "$NV_DIR/down.ini"
nv_log "--daemon without a server: exit $rc after $ms ms"
assert_eq 1 "$rc" "--daemon without a server"
((ms >= 950 && ms <= 1000 + $(nv_scale 1500))) || fail "--daemon took $ms ms"
grep -q 'not ready after startup_timeout' "$NV_DIR/daemon-bg.log" ||
	fail "--daemon did not say why"
pid_alive "$bg" || fail "the daemon did not keep running"
daemon_stop

# An invalid file: 78 from the original process, nothing left running.
printf '[listener:x]\ncommand = true\nrestart = sometimes\n' >"$NV_DIR/invalid.ini"
daemon_run "$NV_DIR/invalid.ini"
assert_eq 78 "$rc" "--daemon with an invalid file"
pass
