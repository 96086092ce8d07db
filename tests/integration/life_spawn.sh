#!/bin/bash
# Case R08 (issue 4): a program that cannot be started is a spawn error,
# never an exit 127.
#  - missing program (absolute path and a name not in PATH), a file that is
#    not executable, a bad directory, an exec format error: one log line per
#    attempt "NAME: spawn error: STAGE PATH: errno text", status shows it
#    (INFO column and JSON spawn_error, last_exit_code null), backoff
#    applies, fatal after max_restarts; nothing reaches the log_file;
#  - `natsvisorctl start missing` exits 1 and prints the error;
#  - an unknown user is caught by --check (exit 78, path:line: message);
#  - 100 failed spawns leave the daemon's descriptor count unchanged and no
#    zombie.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
printf '#!/bin/sh\nexit 0\n' >"$T/not-executable.sh"
chmod 0644 "$T/not-executable.sh"
printf '\177ELF-not-really\001\002\003' >"$T/garbage"
chmod 0755 "$T/garbage"

nv_write_config "$T/bad.ini" - <<EOT
[listener:baduser]
command  = $NV_LISTEN --subject u.in --stdout
subjects = u.in
user     = no-such-user
EOT
assert_exit 78 "$NV_DAEMON" --check -c "$T/bad.ini"
[[ $NV_OUT == *"$T/bad.ini:"[0-9]*": unknown user 'no-such-user'"* ]] ||
	fail "--check did not name the unknown user with path:line"

nv_write_config "$T/nv.ini" - <<EOT
[defaults]
backoff_initial = 100ms
backoff_factor  = 2
backoff_jitter  = 0
max_restarts    = 3

[listener:missing]
command  = /opt/does-not-exist --subject m.in
subjects = m.in
log_file = $T/missing.log

[listener:nopath]
command  = no-such-program-natsvisor --subject n.in
subjects = n.in
# (a PATH entry this user may not search would make it EACCES, as execvp)
environment = PATH=/usr/bin:/bin
log_file = $T/nopath.log

[listener:noexec]
command  = $T/not-executable.sh
subjects = x.in

[listener:baddir]
command   = $NV_LISTEN --subject d.in --stdout
subjects  = d.in
directory = /nonexistent

[listener:badformat]
command  = $T/garbage
subjects = g.in

[listener:loop100]
command         = /opt/does-not-exist
subjects        = l.in
autostart       = no
backoff_initial = 0
backoff_max     = 1ms
max_restarts    = 0
EOT
nv_daemon_start "$T/nv.ini"

check_error() {
	local name=$1 text=$2 line
	wait_until 10 state_is "$name" fatal || fail "$name never fatal"
	assert_eq 4 "$(listener_field "$name" spawns)" "spawns of $name"
	assert_eq null "$(listener_field "$name" last_exit_code)" \
		"$name last_exit_code"
	assert_eq "$text" "$(listener_field "$name" spawn_error)" \
		"spawn_error of $name"
	line=$(nvctl status "$name" | awk -v n="$name" '$1 == n')
	[[ $line == *"spawn error: $text"* ]] ||
		fail "status $name does not show the spawn error: $line"
	assert_eq 4 "$(grep -c "^natsvisord: warning: $name: spawn error: $text\$" \
		"$T/natsvisord.log")" "spawn error log lines of $name"
	# Counted with backoff: 100, 200, 400 ms, then fatal.
	for delay in 100ms 200ms 400ms; do
		daemon_log_has "$name: .*spawn error: .*; restarting in $delay\$" ||
			fail "$name: no backoff of $delay"
	done
}
check_error missing "exec /opt/does-not-exist: No such file or directory"
check_error nopath "exec no-such-program-natsvisor: No such file or directory"
check_error noexec "exec $T/not-executable.sh: Permission denied"
check_error baddir "chdir /nonexistent: No such file or directory"
check_error badformat "exec $T/garbage: Exec format error"
if grep -E 'status 127|exited with status' "$T/natsvisord.log"; then
	fail "a spawn error was reported as an exit"
fi
[[ ! -s $T/missing.log ]] || fail "the failed child wrote to missing.log"
[[ ! -s $T/nopath.log ]] || fail "the failed child wrote to nopath.log"
assert_exit 5 nvctl wait-ready --timeout 10s missing

# start: exit 1 with the error, for both kinds of missing program.
assert_exit 1 nvctl start missing
[[ $NV_OUT == *"missing: spawn error: exec /opt/does-not-exist: No such file or directory"* ]] ||
	fail "start missing did not print the error"
assert_exit 1 nvctl start nopath
[[ $NV_OUT == *"nopath: spawn error: exec no-such-program-natsvisor: No such file"* ]] ||
	fail "start nopath did not print the error"

# 100 failed spawns: no descriptor and no zombie left behind.
wait_until 10 state_is missing fatal || fail "missing not fatal again"
wait_until 10 state_is nopath fatal || fail "nopath not fatal again"
fds0=$(fd_count "$NV_DAEMON_PID")
assert_exit 1 nvctl start loop100
hundred() { (($(listener_field loop100 spawns) >= 100)); }
wait_until 30 hundred || fail "loop100 did not fail 100 spawns"
assert_exit 0 nvctl stop loop100
fds1=$(fd_count "$NV_DAEMON_PID")
spawns=$(listener_field loop100 spawns)
nv_log "daemon descriptors: $fds0 before, $fds1 after $spawns failed spawns"
assert_eq "$fds0" "$fds1" "daemon descriptors after $spawns failed spawns"
assert_eq 0 "$(zombies_of "$NV_DAEMON_PID")" "zombie children of the daemon"

nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
