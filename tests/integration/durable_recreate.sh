#!/bin/bash
# Durable mode when the consumer or the stream is made anew under the
# listener.
#  - the consumer is deleted: the listener says so and exits 1 within
#    seconds (it must not go on answering ready while nothing reaches it);
#    natsvisord starts it again, the new incarnation makes the consumer
#    again (--create), which delivers everything anew: no second copy;
#  - the stream is deleted and made again under the same name, so its
#    sequences start at 1 again: the new message 1 is not the one filed as
#    js.RC.1.  It used to be acknowledged as a redelivery and confirmed,
#    and lost.  Now it is filed as js.RC.g2.1, and js.RC.1 is untouched.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
probe stream RC "rc.>" || fail "cannot create stream RC"
inbox=$NV_DIR/inbox

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:rc]
command  = $NV_LISTEN --inbox $inbox --durable rc --stream RC --create --ack-wait 2s
subjects = rc.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" rc
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 10)s" rc.x first
assert_eq first "$(cat "$inbox/new/js.RC.1")" "js.RC.1"

pid_changed() { local p; p=$(listener_pid rc 2>/dev/null) && [[ $p != "$1" ]]; }
log=$NV_DIR/natsvisord.log

# The consumer goes.
pid=$(listener_pid rc)
probe request "\$JS.API.CONSUMER.DELETE.RC.rc" >/dev/null || fail "cannot delete the consumer"
wait_until 10 pid_changed "$pid" || fail "the listener did not exit after its consumer was deleted"
grep -q '^rc: natsvisor-listen: consumer rc is gone: exiting' "$log" ||
	fail "the listener did not say why it exited"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" rc
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 10)s" rc.x second
assert_eq second "$(cat "$inbox/new/js.RC.2")" "js.RC.2"
assert_eq "js.RC.1 js.RC.2" "$(cd "$inbox/new" && echo *)" "new/ after the consumer came back"

# The stream goes and comes back: sequences start at 1 again.
pid=$(listener_pid rc)
probe request "\$JS.API.STREAM.DELETE.RC" >/dev/null || fail "cannot delete the stream"
probe stream RC "rc.>" || fail "cannot create stream RC again"
wait_until 10 pid_changed "$pid" || fail "the listener did not exit after its stream was made anew"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" rc
assert_exit 0 nvctl publish --confirm --timeout "$(nv_scale 10)s" rc.x third
assert_eq third "$(cat "$inbox/new/js.RC.g2.1" 2>/dev/null)" "js.RC.g2.1 (the new stream's message 1)"
assert_eq first "$(cat "$inbox/new/js.RC.1")" "js.RC.1 after the stream was made anew"
grep -q 'stream RC is the inbox.s incarnation 2' "$log" || fail "the listener did not say the stream is new"
grep -q '^created [0-9]* generation 2$' "$inbox/.natsvisor-stream.RC" ||
	fail "record: $(cat "$inbox/.natsvisor-stream.RC")"

nv_daemon_stop 20 || fail "exit status $?"
pass
