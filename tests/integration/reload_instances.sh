#!/bin/bash
# Reload by difference with instances: raising `instances` from 2 to 3
# starts w.2 and keeps w.0 and w.1 running (same pids); lowering it back
# to 2 stops w.2 only.  Changing a key marked "reload" in [defaults]
# (health_interval) restarts nobody; changing one marked "restart" there
# (environment) restarts every listener that inherits it.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

conf=$NV_DIR/nv.ini
# write_conf INSTANCES DEFAULTS...: w with INSTANCES copies, plus lone.
write_conf() {
	local n=$1
	shift
	nv_write_config "$conf" "[defaults]
$(printf '%s\n' "$@")
[listener:w]
command = $NV_LISTEN --stdout
subjects = w.in
queue_group = workers
instances = $n
[listener:lone]
command = $NV_LISTEN --stdout
subjects = lone.in"
}

write_conf 2 "health_interval = 5s"
nv_daemon_start "$conf"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" w lone
w0=$(listener_pid w.0) && w1=$(listener_pid w.1) && lone=$(listener_pid lone) ||
	fail "missing pids"

write_conf 3 "health_interval = 5s"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 1 added, 0 removed, 0 restarted, 3 kept" "$NV_OUT" \
	"report for instances 2 -> 3"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" w.2
assert_eq "$w0" "$(listener_pid w.0)" "pid of w.0"
assert_eq "$w1" "$(listener_pid w.1)" "pid of w.1"
w2=$(listener_pid w.2) || fail "no pid for w.2"

write_conf 2 "health_interval = 5s"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 0 added, 1 removed, 0 restarted, 3 kept" "$NV_OUT" \
	"report for instances 3 -> 2"
wait_pid_gone "$w2" 10 || fail "w.2 still runs"
assert_exit 2 nvctl status w.2
assert_eq 2 "$(nvctl status --json w | jq '.listeners | length')" "instances of w"

# A reloadable default: nobody restarts.
write_conf 2 "health_interval = 2s"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 0 added, 0 removed, 0 restarted, 3 kept" "$NV_OUT" \
	"report for a changed health_interval default"
# A default that needs a restart: every listener restarts.
write_conf 2 "health_interval = 2s" "environment = MODE=blue"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 0 added, 0 removed, 3 restarted, 0 kept" "$NV_OUT" \
	"report for a new environment default"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" w lone
for n in w.0 w.1 lone; do
	p=$(listener_pid $n) || fail "no pid for $n"
	grep -zqx MODE=blue "/proc/$p/environ" || fail "$n has no MODE=blue"
done
[[ $(listener_pid lone) != "$lone" ]] || fail "lone was not restarted"

nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
