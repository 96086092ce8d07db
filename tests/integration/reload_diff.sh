#!/bin/bash
# Issue 3, reload by difference: a reload that changes one listener's
# command restarts that listener only; an added listener starts; a removed
# one stops (its whole group) and disappears from status; a listener the
# operator stopped stays stopped, whether its definition changed or not;
# a daemon setting that cannot change at run time is named in the reply.
# The same file through SIGHUP does the same.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

conf=$NV_DIR/nv.ini
nv_write_config "$conf" - <<EOT
instance_id = first
[listener:a]
command = $NV_LISTEN --stdout
subjects = a.in
[listener:b]
command = $NV_LISTEN --stdout
subjects = b.in
[listener:c]
command = sh -c 'sleep 600 & exec $NV_LISTEN --stdout'
subjects = c.in
[listener:d]
command = $NV_LISTEN --stdout
subjects = d.in
[listener:e]
command = $NV_LISTEN --stdout
subjects = e.in
EOT
nv_daemon_start "$conf"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
pid_a=$(listener_pid a) || fail "no pid for a"
pid_b=$(listener_pid b) || fail "no pid for b"
pid_c=$(listener_pid c) || fail "no pid for c"
c_group=$(tree_pids "$pid_c")
[[ -n $c_group ]] || fail "c's sleep not found"

# The operator stops d and e; d's definition will change, e's will not.
assert_exit 0 nvctl stop d e
assert_eq stopped "$(listener_state d)" "state of d after stop"

# a: new command; b: unchanged; c: removed; d, e: stopped by the
# operator; f: added.  instance_id cannot change at run time.
nv_write_config "$conf" - <<EOT
instance_id = second
[listener:a]
command = $NV_LISTEN --stdout --subject a.in
subjects = a.in
[listener:b]
command = $NV_LISTEN --stdout
subjects = b.in
[listener:d]
command = $NV_LISTEN --stdout --subject d.in
subjects = d.in
[listener:e]
command = $NV_LISTEN --stdout
subjects = e.in
[listener:f]
command = $NV_LISTEN --stdout
subjects = f.in
EOT
assert_exit 0 nvctl reload
grep -qxF "reloaded $conf: 1 added, 1 removed, 1 restarted, 3 kept" \
	<<<"$NV_OUT" || fail "unexpected reload report"
grep -qxF "not applied until natsvisord restarts: instance_id" <<<"$NV_OUT" ||
	fail "the reply does not name instance_id"
grep -qxF "natsvisord: warning: not applied until natsvisord restarts: instance_id" \
	"$NV_DIR/natsvisord.log" || fail "the log does not warn about instance_id"

assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a b f
new_a=$(listener_pid a) || fail "no pid for a"
[[ $new_a != "$pid_a" ]] || fail "a kept its pid although its command changed"
assert_eq 2 "$(listener_field a spawns)" "spawns of a"
assert_eq '["'"$NV_LISTEN"'","--stdout","--subject","a.in"]' \
	"$(listener_field a argv | jq -c .)" "argv of a"
assert_eq "$pid_b" "$(listener_pid b)" "pid of b (unchanged)"
assert_eq 1 "$(listener_field b spawns)" "spawns of b"

c_gone() { ! nvctl status c >/dev/null 2>&1; }
wait_until 10 c_gone || fail "c still in status after its removal"
assert_exit 2 nvctl status c
for p in $pid_c $c_group; do
	wait_pid_gone "$p" 10 || fail "process $p of removed c survived"
done
nvctl status | grep -q '^c ' && fail "c listed in status"

for n in d e; do
	assert_eq stopped "$(listener_state $n)" "state of $n after the reload"
	assert_eq 0 "$(listener_field $n pid)" "pid of $n after the reload"
done
assert_eq '["'"$NV_LISTEN"'","--stdout","--subject","d.in"]' \
	"$(listener_field d argv | jq -c .)" "argv of d (changed while stopped)"
grep -qxF "natsvisord: d: changed by reload: stopped, applies at its next start" \
	"$NV_DIR/natsvisord.log" || fail "the log does not say that d's change waits"
grep -qF "natsvisord: e: changed by reload" "$NV_DIR/natsvisord.log" &&
	fail "the log says that e (unchanged) changed"
assert_eq first "$(nvctl status --json | jq -r .instance_id)" \
	"instance_id kept until restart"

# The same through SIGHUP: b's command changes, f goes, g comes.
nv_write_config "$conf" - <<EOT
instance_id = second
[listener:a]
command = $NV_LISTEN --stdout --subject a.in
subjects = a.in
[listener:b]
command = $NV_LISTEN --stdout --subject b.in
subjects = b.in
[listener:d]
command = $NV_LISTEN --stdout --subject d.in
subjects = d.in
[listener:e]
command = $NV_LISTEN --stdout
subjects = e.in
[listener:g]
command = $NV_LISTEN --stdout
subjects = g.in
EOT
pid_f=$(listener_pid f) || fail "no pid for f"
kill -HUP "$NV_DAEMON_PID"
f_gone() { ! nvctl status f >/dev/null 2>&1; }
wait_until 10 f_gone || fail "SIGHUP: f still in status"
wait_pid_gone "$pid_f" 10 || fail "SIGHUP: f's process survived"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a b g
assert_eq "$new_a" "$(listener_pid a)" "SIGHUP: pid of a (unchanged)"
[[ $(listener_pid b) != "$pid_b" ]] || fail "SIGHUP: b not restarted"
assert_eq stopped "$(listener_state d)" "SIGHUP: state of d"
assert_eq stopped "$(listener_state e)" "SIGHUP: state of e"
grep -qF "reloaded $conf: 1 added, 1 removed, 1 restarted, 3 kept" \
	"$NV_DIR/natsvisord.log" || fail "SIGHUP: no reload report in the log"

# A stopped listener starts with its new definition.
assert_exit 0 nvctl start d
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" d
pd=$(listener_pid d) || fail "no pid for d"
tr '\0' ' ' <"/proc/$pd/cmdline" | grep -q -- '--subject d.in' ||
	fail "d did not start with its new command"

# Removed, then added again while its old process still stops (it
# ignores SIGTERM): one listener s, whose next process starts only once
# the old one is gone.
stubborn="[listener:s]
command = sh -c 'trap \"\" TERM; exec sleep 600'
subjects = s.in
stop_timeout = 2s"
nv_write_config "$conf" "[listener:a]
command = $NV_LISTEN --stdout --subject a.in
subjects = a.in
$stubborn"
assert_exit 0 nvctl reload
wait_until 10 listener_pid s >/dev/null || fail "s never started"
ps_old=$(listener_pid s)
nv_write_config "$conf" "[listener:a]
command = $NV_LISTEN --stdout --subject a.in
subjects = a.in"
assert_exit 0 nvctl reload
assert_exit 2 nvctl status s
pid_alive "$ps_old" || fail "s ($ps_old) did not ignore SIGTERM"
nv_write_config "$conf" "[listener:a]
command = $NV_LISTEN --stdout --subject a.in
subjects = a.in
$stubborn"
assert_exit 0 nvctl reload
grep -qxF "reloaded $conf: 1 added, 0 removed, 0 restarted, 1 kept" <<<"$NV_OUT" ||
	fail "unexpected report when s comes back"
assert_eq 1 "$(nvctl status --json | jq '[.listeners[] | select(.name == "s")] | length')" \
	"entries for s in status"
s_new() { local p; p=$(listener_pid s) && [[ $p != "$ps_old" ]]; }
wait_until 10 s_new || fail "s did not start again"
pid_alive "$ps_old" && fail "the old s ($ps_old) still runs beside the new one"
grep -qF "s: added again by reload" "$NV_DIR/natsvisord.log" ||
	fail "the log does not say s came back"

# instance_id put back as it runs (the file has none since the reloads
# above): nothing is pending any more.
sed -i '/^\[natsvisor\]$/a instance_id = first' "$conf"
assert_exit 0 nvctl reload
grep -q "not applied until" <<<"$NV_OUT" &&
	fail "a setting reported pending after it was put back"
sed -i 's/^instance_id = first$/instance_id = third/' "$conf"
assert_exit 0 nvctl reload
grep -qxF "not applied until natsvisord restarts: instance_id" <<<"$NV_OUT" ||
	fail "instance_id changed again, not reported"

tree=$(tree_pids "$NV_DAEMON_PID")
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
for p in $tree; do
	pid_alive "$p" && fail "process $p of the daemon's tree survived"
done
pass
