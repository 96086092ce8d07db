#!/bin/bash
# A gated publish that waits for a paused listener re-pings it every
# 100 ms; those lost replies must not count toward health_failures more
# than once per health_interval (natsvisord(8): health_failures misses
# take about that many intervals).  The listener here would be killed
# after 3 misses of 2 s; a publish held for 3 s must leave it alone, and
# the message goes out once it is resumed.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:slow]
command         = $NV_LISTEN --inbox $NV_DIR/in
subjects        = slow.in
health_interval = 2s
health_timeout  = 300ms
health_failures = 3
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" slow
p=$(listener_pid slow)
kill -STOP "$p"
t0=$(_nv_now_us)
assert_exit 1 nvctl publish --timeout 3s slow.in held
ms=$((($(_nv_now_us) - t0) / 1000))
nv_log "publish held $ms ms while slow was paused: $NV_OUT"
assert_eq "$p" "$(listener_pid slow)" "slow's pid after the held publish"
assert_eq 0 "$(listener_field slow restarts)" "slow's restarts"
missed=$(grep -c 'slow: .*missed [0-9]* pings\? (timeout)' "$NV_DIR/natsvisord.log" || true)
((missed <= 2)) || fail "$missed misses counted within 3 s (health_interval 2s)"
kill -CONT "$p"
assert_exit 0 nvctl publish --timeout "$(nv_scale 10)s" slow.in after
arrived() { [[ -n $(ls "$NV_DIR/in/new" 2>/dev/null) ]]; }
wait_until 5 arrived || fail "the message never arrived"
assert_eq "$p" "$(listener_pid slow)" "slow's pid after resuming"
nv_daemon_stop 20 || fail "exit status $?"
pass
