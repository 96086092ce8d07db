#!/bin/bash
# R16 (c): natsvisord and its listeners start before any nats-server
# exists.  For 5 s nothing goes fatal, nobody is restarted (ready_timeout
# waits for the daemon's connection), nothing is ready, the log says once
# that no server answers, and a wait-ready
# and a gated publish issued meanwhile stay held.  Once the server starts
# on the configured port every listener is ready soon after, with the
# same pid, and the held publish lands.
. "$(dirname "$0")/lib.sh"
nv_setup
port=$(free_port) || fail "no free port"
NATS_URL=nats://127.0.0.1:$port

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[defaults]
ready_timeout = 2s
[listener:e1]
command  = $NV_LISTEN --subject e.1 --inbox $NV_DIR/inbox/e1
subjects = e.1
[listener:e2]
command  = $NV_LISTEN --subject e.2 --inbox $NV_DIR/inbox/e2
subjects = e.2
[listener:e3]
command  = $NV_LISTEN --subject e.3 --inbox $NV_DIR/inbox/e3
subjects = e.3
EOT
t_start=$(_nv_now_us)
nv_daemon_start "$NV_DIR/nv.ini"
declare -A pid
have_pids() {
	local n
	for n in e1 e2 e3; do
		pid[$n]=$(listener_pid "$n") || return 1
	done
}
wait_until 5 have_pids || fail "listeners not spawned without a server"

nvctl wait-ready --timeout "$(nv_scale 30)s" >"$NV_DIR/wr.out" 2>&1 &
wr=$!
nv_track "$wr" "wait-ready before the server"
nvctl publish --timeout "$(nv_scale 30)s" e.2 "published before the server" \
	>"$NV_DIR/pub.out" 2>&1 &
pub=$!
nv_track "$pub" "publish before the server"

checks=0
waited_5s() {
	local n js
	js=$(nvctl status --json) || fail "status"
	[[ $(jq -r .connected <<<"$js") == false ]] || fail "connected without a server"
	for n in e1 e2 e3; do
		jq -e --arg n "$n" --arg p "${pid[$n]}" '.listeners[] |
			select(.name == $n) | .state == "starting" and
			.health == "unknown" and .ready == false and
			(.pid | tostring) == $p and .spawns == 1' <<<"$js" \
			>/dev/null || fail "$n changed while no server exists: $js"
	done
	pid_alive "$wr" || fail "wait-ready returned without a server"
	pid_alive "$pub" || fail "the publish returned without a server"
	checks=$((checks + 1))
	(($(_nv_now_us) - t_start >= 5000000))
}
wait_until 7 waited_5s || fail "5 s without a server"
nv_log "no server for 5 s: $checks checks, all starting, unknown, same pids"
grep -q fatal "$NV_DIR/natsvisord.log" && fail "something went fatal"
# The daemon said so, once, though it retries all along.
assert_eq 1 "$(grep -c 'warning: NATS: no server answers: .*; retrying' "$NV_DIR/natsvisord.log")" \
	"warnings that no NATS server answers"

# The events of the start-up, from before any connection, are published
# once the daemon connects: the daemon is held (SIGSTOP) while the server
# starts and a subscriber gets ready, so that the subscriber hears the
# first connection.
kill -STOP "$NV_DAEMON_PID"
nats_start_port "$port"
nv_spawn events "$top_builddir/tests/integration/ready-probe" "$NATS_URL" sub "natsvisor.*.event.>"
wait_until 5 grep -q subscribed "$NV_DIR/events.log" || {
	kill -CONT "$NV_DAEMON_PID"
	fail "event probe not subscribed"
}
kill -CONT "$NV_DAEMON_PID"
t_up=$(_nv_now_us)
wait "$wr" || fail "wait-ready held from before the server: $(cat "$NV_DIR/wr.out")"
ms=$((($(_nv_now_us) - t_up) / 1000))
printf 'all 3 ready %s ms after the nats-server appeared\n' "$ms"
((ms <= $(nv_scale 1500))) || fail "ready only $ms ms after the server appeared"
for n in e1 e2 e3; do
	assert_eq "${pid[$n]}" "$(listener_pid "$n")" "pid of $n"
	assert_eq 0 "$(listener_field "$n" restarts)" "restarts of $n"
done
wait "$pub" || fail "publish held from before the server: $(cat "$NV_DIR/pub.out")"
wait_until 5 grep -rqx "published before the server" "$NV_DIR/inbox/e2/new" ||
	fail "the publish held from before the server did not land"
grep -q "connected to NATS at nats://127.0.0.1:$port" "$NV_DIR/natsvisord.log" ||
	fail "the daemon did not log its connection"
early_events() {
	local n
	for n in e1 e2 e3; do
		grep -q "event\.$n .*\"state\":\"starting\".*\"connected\":false" \
			"$NV_DIR/events.log" || return 1
	done
}
wait_until 5 early_events ||
	fail "the events from before the connection were not published: $(head -n 5 "$NV_DIR/events.log")"
nv_daemon_stop 20 || fail "exit status $?"
pass
