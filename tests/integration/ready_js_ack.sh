#!/bin/bash
# A JetStream stream that captures a listener's ping subject acknowledges
# every ping.  Any reply used to count as a pong, so a listener that never
# answers (here: sleep) looked ready.  natsvisord must not take the acks
# for pongs (nor the refusals of a full stream), must say so once in its
# log, and must still take the real reply of a listener that answers on a
# captured subject.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
probe stream CAP "cap.>" || fail "cannot create stream CAP"
# A stream that is full at once refuses every ping: its refusals carry
# "stream" and "seq" too, and are no pongs either.
probe request "\$JS.API.STREAM.CREATE.FULL" \
	'{"name":"FULL","subjects":["full.>"],"max_msgs":1,"discard":"new"}' >/dev/null ||
	fail "cannot create stream FULL"

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:deaf]
command       = sleep 600
subjects      = deaf.in
ping_subject  = cap.deaf
ready_timeout = 1h

[listener:deaf2]
command       = sleep 601
subjects      = deaf2.in
ping_subject  = full.deaf2
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
warned2() { grep -q 'deaf2: ping subject full.deaf2 is captured by a JetStream stream' "$NV_DIR/natsvisord.log"; }
wait_until 10 warned2 || fail "no warning about the full stream for deaf2"
assert_exit 1 nvctl is-ready deaf2
assert_eq pending "$(listener_health deaf2)" "deaf2's health"
n=$(grep -c 'captured by a JetStream stream' "$NV_DIR/natsvisord.log")
assert_eq 3 "$n" "warnings (one per listener)"
grep 'captured by a JetStream stream' "$NV_DIR/natsvisord.log" | grep -vq 'are not taken for pongs$' &&
	fail "the warning ends with more (a stray errno?)"

nv_daemon_stop 20 || fail "exit status $?"
pass
