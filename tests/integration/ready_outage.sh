#!/bin/bash
# Issue 5 Done-when and R16 (a): three running listeners, the nats-server
# stopped for 5 s and started again on the same port.  During the outage
# health is "unknown", is-ready is false, wait-ready does not return 0 and
# nobody is killed or restarted; after it no pid has changed, is-ready is
# true again within 1 s, a gated publish issued during the outage lands,
# and 100 messages published after wait-ready are all in the inbox.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start
port=$NATS_PORT

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[defaults]
health_interval = 1s
[listener:r1]
command  = $NV_LISTEN --subject r.1 --inbox $NV_DIR/inbox/r1
subjects = r.1
[listener:r2]
command  = $NV_LISTEN --subject r.2 --inbox $NV_DIR/inbox/r2
subjects = r.2
[listener:r3]
command  = $NV_LISTEN --subject r.3 --inbox $NV_DIR/inbox/r3
subjects = r.3
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
declare -A pid
for n in r1 r2 r3; do
	pid[$n]=$(listener_pid "$n") || fail "no pid for $n"
done
same_pids() {
	local n
	for n in r1 r2 r3; do
		[[ $(listener_pid "$n") == "${pid[$n]}" ]] || return 1
	done
}
inbox_count() { # NAME: messages delivered to NAME's inbox
	find "$NV_DIR/inbox/$1/new" -type f 2>/dev/null | wc -l
}

nats_stop
t_down=$(_nv_now_us)
all_unknown() {
	local n
	for n in r1 r2 r3; do
		[[ $(listener_health "$n") == unknown ]] || return 1
	done
}
wait_until 2 all_unknown || fail "health not unknown after the server stopped"

# A publisher during the outage: held by the gate, delivered afterwards.
nvctl publish --timeout "$(nv_scale 30)s" r.1 "published during the outage" \
	>"$NV_DIR/pub.out" 2>&1 &
pub=$!
nv_track "$pub" "publish during the outage"
nvctl wait-ready --timeout "$(nv_scale 30)s" r1 r2 r3 >"$NV_DIR/wr.out" 2>&1 &
wr=$!
nv_track "$wr" "wait-ready during the outage"

# Five seconds of outage, checked all along: not ready, nobody replaced,
# the publish and the wait-ready still held.
checks=0
outage_over() {
	local rc=0
	nvctl is-ready r1 r2 r3 >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 1 ]] || fail "is-ready exit $rc during the outage"
	same_pids || fail "a listener was replaced during the outage"
	all_unknown || fail "health not unknown during the outage"
	pid_alive "$pub" || fail "the held publish returned during the outage"
	pid_alive "$wr" || fail "wait-ready returned during the outage"
	checks=$((checks + 1))
	(($(_nv_now_us) - t_down >= 5000000))
}
wait_until 7 outage_over || fail "outage window"
nv_log "outage: $checks checks over 5 s, all not ready, same pids"
assert_exit 0 nvctl status
grep -q 'NATS: disconnected' <<<"$NV_OUT" || fail "status does not say NATS is down"
[[ $(inbox_count r1) == 0 ]] || fail "the held publish landed during the outage"

nats_start_port "$port"
t_up=$(_nv_now_us)
wait_until 1 nvctl is-ready r1 r2 r3 ||
	fail "not ready within 1 s of the server's return"
ms=$((($(_nv_now_us) - t_up) / 1000))
printf 'ready again %s ms after the nats-server was back (5 s outage)\n' "$ms"
same_pids || fail "pids changed over the outage"
for n in r1 r2 r3; do
	assert_eq 0 "$(listener_field "$n" restarts)" "restarts of $n"
done

wait "$wr" || fail "wait-ready held over the outage failed: $(cat "$NV_DIR/wr.out")"
wait "$pub" || fail "publish held over the outage failed: $(cat "$NV_DIR/pub.out")"
wait_until 5 grep -rqx "published during the outage" "$NV_DIR/inbox/r1/new" ||
	fail "the publish held over the outage did not land"

# R16 (a): 100 messages after wait-ready, all in the inbox.
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s" r2
for ((i = 0; i < 100; i++)); do
	nvctl publish r.2 "after $i" || fail "publish $i failed"
done
delivered() { [[ $(inbox_count r2) -ge 100 ]]; }
wait_until 10 delivered || true
n=$(inbox_count r2)
printf 'after the outage: %s/100 messages in the inbox\n' "$n"
assert_eq 100 "$n" "messages delivered after the outage"
nv_daemon_stop 20 || fail "exit status $?"
pass
