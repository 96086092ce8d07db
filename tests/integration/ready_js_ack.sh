#!/bin/bash
# A JetStream stream that captures a listener's ping subject acknowledges
# every ping.  Any reply used to count as a pong, so a listener that never
# answers (here: sleep) looked ready.  natsvisord must not take the acks
# for pongs, must say so once in its log, and must still take the real
# reply of a listener that answers on a captured subject.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
probe stream CAP "cap.>" || fail "cannot create stream CAP"

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:deaf]
command       = sleep 600
subjects      = deaf.in
ping_subject  = cap.deaf
ready_timeout = 1h

[listener:real]
command      = $NV_LISTEN --stdout
subjects     = real.in
ping_subject = cap.real
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" real

# deaf has had many pings acknowledged by now (a few ms apart while
# starting), and the warning is out.
warned() { grep -q 'deaf: ping subject cap.deaf is captured by a JetStream stream' "$NV_DIR/natsvisord.log"; }
wait_until 10 warned || fail "no warning about the stream for deaf"
assert_exit 1 nvctl is-ready deaf
assert_eq starting "$(listener_state deaf)" "deaf's state"
assert_eq pending "$(listener_health deaf)" "deaf's health"
assert_exit 1 nvctl wait-ready --timeout 0.5s deaf
n=$(grep -c 'captured by a JetStream stream' "$NV_DIR/natsvisord.log")
assert_eq 2 "$n" "warnings (one per listener)"

nv_daemon_stop 20 || fail "exit status $?"
pass
