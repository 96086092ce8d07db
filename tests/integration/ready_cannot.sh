#!/bin/bash
# wait-ready (and a gated publish) exit 5 at once when a listener cannot
# become ready: fatal, exited, stopped, or a spawn error, naming each
# listener that is not ready with its state, health and reason.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:ok]
command  = $NV_LISTEN --stdout
subjects = c.ok
[listener:fatal]
command         = sh -c 'exit 3'
subjects        = c.fatal
max_restarts    = 1
backoff_initial = 10ms
[listener:exited]
command  = sh -c 'exit 0'
subjects = c.exited
restart  = never
[listener:stopped]
command   = $NV_LISTEN --stdout
subjects  = c.stopped
autostart = no
[listener:spawnerr]
command  = /nonexistent/listener --flag
subjects = c.spawnerr
[listener:dying]
command  = sh -c 'sleep 1; exit 1'
subjects = c.dying
restart  = never
EOT
nv_daemon_start "$NV_DIR/nv.ini"

# A wait issued while dying still runs: answered at its exit, not later.
t0=$(_nv_now_us)
assert_exit 5 nvctl wait-ready --timeout "$(nv_scale 30)s" dying
ms=$((($(_nv_now_us) - t0) / 1000))
printf 'wait-ready dying: exit 5 %s ms after it was asked (the listener exits after 1 s)\n' "$ms"
((ms >= 800 && ms <= 1000 + $(nv_scale 1000))) || fail "exit 5 after $ms ms"
grep -qx 'dying: exited, pending: exited with status 1; not restarted (restart = never)' \
	<<<"$NV_OUT" || fail "dying not named with its state, health and reason"

state_is() { [[ $(listener_state "$1") == "$2" ]]; }
wait_until 5 state_is fatal fatal || fail "fatal: $(listener_state fatal)"
wait_until 5 state_is exited exited || fail "exited: $(listener_state exited)"
spawn_failed() { [[ $(listener_field spawnerr spawn_error) == *"No such file"* ]]; }
wait_until 5 spawn_failed || fail "spawnerr: $(listener_field spawnerr spawn_error)"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" ok

t0=$(_nv_now_us)
assert_exit 5 nvctl wait-ready --timeout "$(nv_scale 30)s" ok fatal exited stopped spawnerr
ms=$((($(_nv_now_us) - t0) / 1000))
printf 'wait-ready on 4 listeners that cannot become ready: exit 5 after %s ms\n' "$ms"
((ms <= $(nv_scale 500))) || fail "exit 5 took $ms ms"
grep -qx 'fatal: fatal, pending: exited with status 3; gave up after 1 restart within [0-9a-z.]*' \
	<<<"$NV_OUT" || fail "fatal not named with state, health, reason"
grep -qx 'exited: exited, pending: exited with status 0; not restarted (restart = never)' \
	<<<"$NV_OUT" || fail "exited not named with state, health, reason"
grep -qx 'stopped: stopped, pending: not started' <<<"$NV_OUT" ||
	fail "stopped not named with state, health, reason"
grep -q '^spawnerr: backoff, pending: spawn error: .*/nonexistent/listener.*No such file or directory' \
	<<<"$NV_OUT" || fail "spawnerr not named with state, health, reason"
grep -q '^ok' <<<"$NV_OUT" && fail "a ready listener is named"
assert_eq 4 "$(grep -c . <<<"$NV_OUT")" "lines of the answer"

for n in fatal exited stopped spawnerr; do
	assert_exit 5 nvctl wait-ready --timeout "$(nv_scale 30)s" "$n"
done
# The default set (autostart listeners) has fatal ones: 5 as well.
assert_exit 5 nvctl wait-ready --timeout "$(nv_scale 30)s"
# A gated publish to a subject only they cover: 5 at once, too.
assert_exit 5 nvctl publish --timeout "$(nv_scale 30)s" c.fatal "never"
grep -q '^fatal: fatal' <<<"$NV_OUT" || fail "publish does not name fatal"
assert_exit 5 nvctl publish --timeout "$(nv_scale 30)s" c.stopped "never"

# The operator's start revives stopped: then wait-ready succeeds.
assert_exit 0 nvctl start stopped
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" stopped ok
nv_daemon_stop 20 || fail "exit status $?"
pass
