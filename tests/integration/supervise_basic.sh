#!/bin/bash
# Issue 2, end to end against an external nats-server on a free port:
# wait-ready; kill -9 of a listener -> a direct child again with a new pid,
# is-ready within 2 s, one restart in status; a gated publish lands in the
# inbox; a publish nobody covers exits 4; SIGTERM leaves nothing behind.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:core]
command = $NV_LISTEN --inbox $NV_DIR/inbox/core
subjects = agents.core.>

[listener:bridge]
command = $NV_LISTEN --inbox $NV_DIR/inbox/bridge
subjects = agents.bridge.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"

assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
assert_exit 0 nvctl is-ready core bridge
old=$(listener_pid core)
[[ $old =~ ^[0-9]+$ ]] || fail "no pid for core: $old"
assert_eq 0 "$(listener_field core restarts)" "restarts before the kill"

kill -9 "$old"
newpid() { local p; p=$(listener_pid core) && [[ $p != 0 && $p != "$old" ]]; }
wait_until 2 newpid || fail "core did not come back with a new pid"
wait_until 2 nvctl is-ready core || fail "core not ready within 2 s of kill -9"
new=$(listener_pid core)
ppid=$(awk '{print $4}' "/proc/$new/stat")
assert_eq "$NV_DAEMON_PID" "$ppid" "parent of the new core"
assert_eq 1 "$(listener_field core restarts)" "restarts after the kill"
assert_eq "signal KILL" "$(nvctl status core | awk 'NR==2 {print $7, $8}')" \
	"last exit shown in status"

assert_exit 0 nvctl publish agents.core.task "gated hello"
# Without --confirm the publish returns once the server has the message;
# the listener stores it a moment later.
wait_until 5 grep -rqx "gated hello" "$NV_DIR/inbox/core/new" ||
	fail "gated publish not in core's inbox"
# Larger than the server's max_payload (1 MiB by default): refused before
# sending, so exit 1 at once with the reason, never 6 after the timeout.
head -c 1100000 /dev/zero | tr '\0' x >"$NV_DIR/big"
t0=$(date +%s%N)
assert_exit 1 nvctl publish --timeout 20s agents.core.big <"$NV_DIR/big"
[[ $NV_OUT == *"not published"*"Maximum Payload"* ]] ||
	fail "refused publish gave no reason: $NV_OUT"
(($(date +%s%N) - t0 < 5000000000)) || fail "refused publish waited"
assert_exit 4 nvctl publish agents.nobody.task "lost"
assert_exit 2 nvctl publish 'agents.core.*' "wildcard"
assert_exit 2 nvctl is-ready nosuch
# natsvisorctl -c finds the socket in a file written the ways the daemon
# reads: a spaced section header, an inline comment, quotes.
printf '[listener:x]\ncontrol_socket = /nonexistent\n[ natsvisor ] ; main\ncontrol_socket = "%s" ; here\n' \
	"$NV_SOCK" >"$NV_DIR/ctl.ini"
assert_exit 0 "$NV_CTL" -c "$NV_DIR/ctl.ini" is-ready core

tree=$(tree_pids "$NV_DAEMON_PID")
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
for p in $tree; do
	pid_alive "$p" && fail "process $p of the daemon's tree survived"
done
pass
