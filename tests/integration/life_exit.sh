#!/bin/bash
# Case R07 (issue 4): restart policies and success_exit_codes; exit code
# and terminating signal are shown separately.
#  - on-failure: exit 2 -> backoff -> restarted; exit 0 -> exited (even
#    though it never answered a ping); exit 3 with success_exit_codes = 0 3
#    -> exited; SIGSEGV and SIGKILL from outside -> restarted; a kill by
#    the daemon for missed pings -> restarted;
#  - never: exit 2 and SIGKILL -> exited;
#  - status: LAST-EXIT "status N" / "signal NAME"; JSON last_exit_code and
#    last_signal, one of them null.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
nv_write_config "$T/nv.ini" - <<EOT
[defaults]
restart         = on-failure
backoff_initial = 100ms
backoff_jitter  = 0
limit_core      = 0

[listener:oops]
command  = sh -c 'echo x >>$T/oops.spawns; sleep 0.5; exit 2'
subjects = oops.in

[listener:ok0]
command  = sh -c 'echo x >>$T/ok0.spawns; sleep 0.5; exit 0'
subjects = ok0.in

[listener:ok3]
command  = sh -c 'echo x >>$T/ok3.spawns; sleep 0.5; exit 3'
subjects = ok3.in
success_exit_codes = 0 3

[listener:segv]
# (not natsvisor-listen: built with AddressSanitizer it catches SIGSEGV)
command  = sleep 3600
subjects = segv.in

[listener:killed]
command  = $NV_LISTEN --stdout
subjects = killed.in

[listener:deaf]
command  = $NV_LISTEN --stdout
subjects = deaf.in
health_interval = 200ms
health_timeout  = 200ms
health_failures = 2
stop_timeout    = 5s

[listener:never2]
command  = sh -c 'echo x >>$T/never2.spawns; sleep 0.5; exit 2'
subjects = never2.in
restart  = never

[listener:neverk]
command  = $NV_LISTEN --stdout
subjects = neverk.in
restart  = never
EOT
nv_daemon_start "$T/nv.ini"

# last_exit NAME: "CODE/SIGNAL" from the JSON status.
last_exit() {
	printf '%s/%s\n' "$(listener_field "$1" last_exit_code)" \
		"$(listener_field "$1" last_signal)"
}
# text_exit NAME: the LAST-EXIT column of `status NAME`.
text_exit() {
	nvctl status "$1" | awk -v n="$1" '$1 == n { print $7, $8 }'
}
spawns_of() { wc -l <"$T/$1.spawns"; }
at_least() { [[ -f $T/$1.spawns ]] && (($(spawns_of "$1") >= $2)); }

# --- exit codes under on-failure ---------------------------------------------
wait_until 10 at_least oops 2 || fail "oops (exit 2) not restarted"
assert_eq 2/null "$(last_exit oops)" "oops exit"
daemon_log_has 'oops: starting -> backoff: exited with status 2; restarting in' ||
	fail "oops: no backoff after exit 2"
wait_until 10 state_is ok0 exited || fail "ok0 (exit 0) not exited"
wait_until 10 state_is ok3 exited || fail "ok3 (exit 3, a success code) not exited"
wait_until 10 state_is never2 exited || fail "never2 (restart = never) not exited"
assert_eq 0/null "$(last_exit ok0)" "ok0 exit"
assert_eq 3/null "$(last_exit ok3)" "ok3 exit"
assert_eq 2/null "$(last_exit never2)" "never2 exit"
assert_eq "status 3" "$(text_exit ok3)" "LAST-EXIT of ok3"
assert_eq 0 "$(listener_field ok3 restarts)" "restarts of ok3"
assert_exit 5 nvctl wait-ready --timeout 5s ok0

# --- signals -----------------------------------------------------------------
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" killed deaf neverk
newpid() { local p; p=$(listener_pid "$1") && [[ $p != "$2" ]]; }
for n in segv killed; do
	pid=$(listener_pid $n)
	if [[ $n == segv ]]; then kill -SEGV "$pid"; else kill -KILL "$pid"; fi
	wait_until 10 newpid $n "$pid" || fail "$n not restarted after a signal"
	assert_eq 1 "$(listener_field $n restarts)" "restarts of $n"
done
wait_until 10 ready_is killed || fail "killed not ready again"
assert_eq null/SEGV "$(last_exit segv)" "segv exit"
assert_eq null/KILL "$(last_exit killed)" "killed exit"
assert_eq "signal SEGV" "$(text_exit segv)" "LAST-EXIT of segv"
daemon_log_has 'segv: starting -> backoff: killed by signal SEGV' ||
	fail "segv: no 'killed by signal SEGV' in the log"

pid=$(listener_pid neverk)
kill -KILL "$pid"
wait_until 10 state_is neverk exited || fail "neverk not exited after SIGKILL"
assert_eq null/KILL "$(last_exit neverk)" "neverk exit"

# --- missed pings: the daemon stops it, a failure -> restarted --------------
pid=$(listener_pid deaf)
kill -STOP "$pid"
wait_until 10 newpid deaf "$pid" || fail "deaf not restarted after missed pings"
daemon_log_has 'deaf: running -> stopping: stopping: 2 consecutive missed pings' ||
	fail "deaf: no stop for missed pings in the log"
daemon_log_has 'deaf: stopping -> backoff: ' || fail "deaf: no backoff"
# natsvisor-listen drains and exits 0 on SIGTERM: still a failure, since
# the daemon stopped it for missed pings.
assert_eq 0/null "$(last_exit deaf)" "deaf exit"
wait_until 10 ready_is deaf || fail "deaf not ready again"

# Nothing restarted that should not have been.
assert_eq 1 "$(spawns_of ok0)" "spawns of ok0"
assert_eq 1 "$(spawns_of ok3)" "spawns of ok3"
assert_eq 1 "$(spawns_of never2)" "spawns of never2"
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
