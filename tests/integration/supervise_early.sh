#!/bin/bash
# Listeners started before the nats-server exists become ready once it is
# up, without a restart; a gated publish issued while they are still
# starting waits for them and lands.
. "$(dirname "$0")/lib.sh"
nv_setup
port=$(free_port)
NATS_URL=nats://127.0.0.1:$port

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:a]
command = $NV_LISTEN --inbox $NV_DIR/inbox/a
subjects = early.a.>
ready_timeout = 2s
EOT
nv_daemon_start "$NV_DIR/nv.ini"
a_starting() { [[ $(listener_state a) == starting ]]; }
wait_until 5 a_starting || fail "a not starting"
pid=$(listener_pid a)
assert_exit 1 nvctl is-ready a

# A publisher before the listener: held by the gate, then delivered.
nvctl publish --timeout "$(nv_scale 20)s" early.a.task "held message" \
	>"$NV_DIR/pub.out" 2>&1 &
pub=$!
nv_track "$pub" publisher
assert_exit 1 nvctl wait-ready --timeout 1s a

nats_start_port "$port"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
assert_eq "$pid" "$(listener_pid a)" "a kept its pid"
wait "$pub" || fail "held publish failed: $(cat "$NV_DIR/pub.out")"
wait_until 5 grep -rlx "held message" "$NV_DIR/inbox/a/new" ||
	fail "held message not delivered"
nv_daemon_stop 20 || fail "exit status $?"
pass
