#!/bin/bash
# Issue 4: `instances = N` runs N copies NAME.0 ... NAME.N-1, each
# supervised on its own, addressable by full name or by NAME for all.
#  - status lists w.0 w.1 w.2, each with NATSVISOR_NAME set to its name;
#  - kill -9 of w.1 restarts only w.1;
#  - stop w.1 stops only it; is-ready w then says no; start w starts it
#    and leaves the others alone; `signal TERM w` reaches all three;
#  - `requires = w` waits for every instance;
#  - stop w stops all three; an unknown instance name is a usage error;
#  - queue_group reaches each instance as NATSVISOR_QUEUE_GROUP and
#    natsvisor-listen subscribes with it: a message goes to one of them.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
nv_write_config "$T/nv.ini" - <<EOT
[listener:w]
command     = $NV_LISTEN --stdout
subjects    = w.in
queue_group = wq
instances   = 3

[listener:after]
command  = $NV_LISTEN --stdout
subjects = after.in
requires = w

[listener:q]
command     = $NV_LISTEN --inbox $T/qin
subjects    = q.in
queue_group = qq
instances   = 3
EOT
nv_daemon_start "$T/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s"
assert_exit 0 nvctl wait-ready --timeout 1s w
assert_eq "w.0 w.1 w.2" "$(nvctl status --json w | jq -r '[.listeners[].name] | join(" ")')" \
	"status w"
assert_eq "w.0 w.1 w.2 after q.0 q.1 q.2" \
	"$(nvctl status --json | jq -r '[.listeners[].name] | join(" ")')" "status"
for i in 0 1 2; do
	p=$(listener_pid w.$i)
	tr '\0' '\n' <"/proc/$p/environ" | grep -qx "NATSVISOR_NAME=w.$i" ||
		fail "w.$i has no NATSVISOR_NAME=w.$i"
done

# queue_group: every instance subscribes in the group, so each of five
# messages lands in the shared inbox once, not three times.
for i in 0 1 2; do
	p=$(listener_pid q.$i)
	tr '\0' '\n' <"/proc/$p/environ" | grep -qx "NATSVISOR_QUEUE_GROUP=qq" ||
		fail "q.$i has no NATSVISOR_QUEUE_GROUP=qq"
done
assert_eq 3 "$(grep -c 'subscribed to q.in (queue qq)' "$NV_DIR/natsvisord.log")" \
	"instances subscribed in queue qq"
for i in 1 2 3 4 5; do
	assert_exit 0 nvctl publish --confirm --timeout 10s q.in "m$i"
done
qcount() { find "$T/qin/new" -type f | wc -l; }
qhas() { (($(qcount) >= $1)); }
wait_until 10 qhas 5 || fail "the inbox never held 5 messages"
# The confirms are in, and a second copy would have come with the first;
# one more message, then count again.
assert_exit 0 nvctl publish --timeout 10s q.in m6
wait_until 10 qhas 6 || fail "m6 never arrived"
assert_eq 6 "$(qcount)" "messages in the shared inbox (one copy each)"

# requires = w: after was spawned only once every instance was ready.
last_w=0
for i in 0 1 2; do
	l=$(grep -n -m1 "^natsvisord: w.$i: starting -> running: ready" "$T/natsvisord.log" | cut -d: -f1)
	((l > last_w)) && last_w=$l
done
a=$(grep -n -m1 '^natsvisord: after: .*-> starting: spawned' "$T/natsvisord.log" | cut -d: -f1)
((a > last_w)) || fail "after was spawned before every instance of w was ready"

# One instance dies: only it restarts.
p0=$(listener_pid w.0) p1=$(listener_pid w.1) p2=$(listener_pid w.2)
kill -KILL "$p1"
newp1() { local p; p=$(listener_pid w.1) && [[ $p != "$p1" ]]; }
wait_until 10 newp1 || fail "w.1 not restarted"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" w
assert_eq "$p0 $p2" "$(listener_pid w.0) $(listener_pid w.2)" "pids of w.0 and w.2"
assert_eq "0 1 0" "$(listener_field w.0 restarts) $(listener_field w.1 restarts) $(listener_field w.2 restarts)" \
	"restarts of the instances"

# By full name: only that instance.
p1=$(listener_pid w.1)
assert_exit 0 nvctl stop w.1
assert_eq stopped "$(listener_state w.1)" "state of w.1"
assert_eq "running running" "$(listener_state w.0) $(listener_state w.2)" "the others"
assert_exit 1 nvctl is-ready w
[[ $NV_OUT == *"w.1: stopped"* ]] || fail "is-ready w did not name w.1"
assert_exit 0 nvctl start w
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" w
assert_eq "$p0 $p2" "$(listener_pid w.0) $(listener_pid w.2)" "pids after start w"

# A signal by base name reaches every instance.
p1=$(listener_pid w.1)
assert_exit 0 nvctl signal TERM w
allnew() {
	local a b c
	a=$(listener_pid w.0) && b=$(listener_pid w.1) && c=$(listener_pid w.2) &&
		[[ $a != "$p0" && $b != "$p1" && $c != "$p2" ]]
}
wait_until 10 allnew || fail "signal TERM w did not reach every instance"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" w

# By base name: all of them.
assert_exit 0 nvctl stop w
assert_eq "stopped stopped stopped" \
	"$(listener_state w.0) $(listener_state w.1) $(listener_state w.2)" "after stop w"
assert_exit 0 nvctl is-ready after
assert_exit 2 nvctl stop w.3
assert_exit 2 nvctl status w.x
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
