#!/bin/bash
# Case R05: a broken configuration on reload.  With a and b ready, line 12
# of the file becomes garbage: `natsvisord --check` exits 78 naming
# FILE:12, `natsvisorctl reload` exits 1 with the same message, SIGHUP
# logs it and keeps a and b running (same pids, still ready) while status
# says the last reload failed and why.  Then the file is fixed with only
# b's backoff_max changed (a key marked "reload" in the key table): reload
# exits 0 and neither a nor b restarts.  Last, `start nosuch` exits 2 and a
# start whose spawn fails exits 1 with the error.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

conf=$NV_DIR/nv.ini
# Lines 1-3 come from nv_write_config; the text below is lines 4-11.
body="[listener:a]
command = $NV_LISTEN --stdout
subjects = a.in
[listener:b]
command = $NV_LISTEN --stdout
subjects = b.in
backoff_max = 10s
; line 12 follows"
nv_write_config "$conf" "$body"
assert_eq 11 "$(wc -l <"$conf")" "lines in the file before the garbage"
nv_daemon_start "$conf"
log=$NV_DIR/natsvisord.log

assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a b
pa=$(listener_pid a) && pb=$(listener_pid b) || fail "no pids for a and b"

printf 'garbage without equals\n' >>"$conf"
want="$conf:12: expected 'key = value', a [section] header or a comment"

# (1) --check: exit 78, the message on stderr, nothing on stdout.
rc=0
"$NV_DAEMON" --check -c "$conf" >"$NV_DIR/check.out" 2>"$NV_DIR/check.err" ||
	rc=$?
assert_eq 78 "$rc" "natsvisord --check exit status"
assert_eq "$want" "$(cat "$NV_DIR/check.err")" "--check stderr"
[[ ! -s $NV_DIR/check.out ]] || fail "--check printed on stdout: $(cat "$NV_DIR/check.out")"

# (2) reload: exit 1, the same message on stderr.
rc=0
nvctl reload >"$NV_DIR/reload.out" 2>"$NV_DIR/reload.err" || rc=$?
cat "$NV_DIR/reload.err" >&2
assert_eq 1 "$rc" "natsvisorctl reload exit status"
grep -qxF "$want" "$NV_DIR/reload.err" ||
	fail "reload did not print '$want'"
[[ ! -s $NV_DIR/reload.out ]] || fail "a failed reload printed on stdout"
grep -qF "reload: $want" "$log" || fail "the daemon did not log the error"

# (3) SIGHUP: logged once more, nothing restarted, status tells.
logged() { [[ $(grep -cF "reload: $want" "$log") -ge $1 ]]; }
kill -HUP "$NV_DAEMON_PID"
wait_until 5 logged 2 || fail "SIGHUP did not log the error"
pid_alive "$NV_DAEMON_PID" || fail "natsvisord died on SIGHUP"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s" a b
assert_eq "$pa" "$(listener_pid a)" "pid of a after the failed reloads"
assert_eq "$pb" "$(listener_pid b)" "pid of b after the failed reloads"
assert_eq 1 "$(listener_field a spawns)" "spawns of a"
assert_eq 1 "$(listener_field b spawns)" "spawns of b"
nvctl status | grep -qxF "last reload failed: $want" ||
	fail "status does not show the failed reload: $(nvctl status)"
js=$(nvctl status --json) || fail "status --json failed"
assert_eq false "$(jq -r .last_reload.ok <<<"$js")" "last_reload.ok"
assert_eq "$want" "$(jq -r .last_reload.error <<<"$js")" "last_reload.error"
assert_eq "$want" "$(jq -r '.last_reload.errors | join("|")' <<<"$js")" "last_reload.errors"

# Two errors: status --json lists both ("error" has the first).
nv_write_config "$conf" "$body
[listener:x1]
bogus = 1
[listener:x2]
command = y
stop_signal = NOPE"
assert_exit 1 nvctl reload
js=$(nvctl status --json) || fail "status --json failed"
assert_eq "$(grep -c "^$conf:[0-9]*: " <<<"$NV_OUT")" "$(jq '.last_reload.errors | length' <<<"$js")" \
	"errors in status --json against those reload printed"
assert_eq 2 "$(jq '.last_reload.errors | length' <<<"$js")" "errors of a reload with two"
while read -r e; do
	grep -qxF -- "$e" <<<"$NV_OUT" || fail "'$e' is not what reload printed"
done < <(jq -r '.last_reload.errors[]' <<<"$js")
jq -r .last_reload.error <<<"$js" | grep -q ' (and more)$' || fail "last_reload.error: $(jq -r .last_reload.error <<<"$js")"

# (4) Fixed, with only b's backoff_max changed: nothing restarts.
nv_write_config "$conf" "${body/backoff_max = 10s/backoff_max = 20s}"
assert_exit 0 "$NV_DAEMON" --check -c "$conf"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 0 added, 0 removed, 0 restarted, 2 kept" \
	"$NV_OUT" "reload report"
assert_eq "$pa" "$(listener_pid a)" "pid of a after the reload"
assert_eq "$pb" "$(listener_pid b)" "pid of b after changing backoff_max"
assert_eq 1 "$(listener_field b spawns)" "spawns of b after the reload"
assert_exit 0 nvctl is-ready a b
nvctl status | grep -q "last reload failed" &&
	fail "status still shows the failed reload"
js=$(nvctl status --json) || fail "status --json failed"
assert_eq true "$(jq -r .last_reload.ok <<<"$js")" "last_reload.ok after the fix"
assert_eq null "$(jq -r .last_reload.error <<<"$js")" "last_reload.error after the fix"

# (5) Exit codes of start: unknown listener 2; spawn errors 1, both when
# the program cannot be found (seen before fork) and when the child fails
# (chdir, reported through the exec-error pipe).
assert_exit 2 nvctl start nosuch
grep -q "nosuch" <<<"$NV_OUT" || fail "start nosuch does not name it"
nv_write_config "$conf" "${body/backoff_max = 10s/backoff_max = 20s}
[listener:nofile]
command = $NV_DIR/does-not-exist --stdout
subjects = nofile.in
autostart = no
[listener:nodir]
command = $NV_LISTEN --stdout
subjects = nodir.in
directory = $NV_DIR/no-such-dir
autostart = no"
assert_exit 0 nvctl reload
assert_exit 1 nvctl start nofile
grep -qF "nofile: spawn error: exec $NV_DIR/does-not-exist: No such file or directory" \
	<<<"$NV_OUT" || fail "start nofile does not print the spawn error"
assert_exit 1 nvctl start nodir
grep -qF "nodir: spawn error: chdir $NV_DIR/no-such-dir: No such file or directory" \
	<<<"$NV_OUT" || fail "start nodir does not print the spawn error"
assert_eq "$pa" "$(listener_pid a)" "pid of a at the end"
assert_eq "$pb" "$(listener_pid b)" "pid of b at the end"

nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
