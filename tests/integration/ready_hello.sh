#!/bin/bash
# The hello of natsvisor-ping(7): a listener built on the C helper
# (natsvisor-listen) says hello on $NATSVISOR_HELLO_SUBJECT once its ping
# subscription exists, and natsvisord (-v) logs "NAME: hello" and pings
# it at once; every incarnation gets its own subject, so a restarted
# listener says hello again and the old subject means nothing.  Only a
# starting listener's first hello counts: one forged to a running
# listener is ignored.  A listener that never says hello (ready-probe)
# is found by the ping schedule alone.
. "$(dirname "$0")/lib.sh"
PROBE=$top_builddir/tests/integration/ready-probe
[[ -x $PROBE ]] || fail "ready-probe not built (make check builds it)"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[defaults]
backoff_initial = 0
[listener:hi]
command  = $NV_LISTEN --subject h.hi --inbox $NV_DIR/inbox/hi
subjects = h.hi
[listener:mute]
command  = sh -c 'exec "\$0" "\$NATS_URL" listen h.mute "\$1"' $PROBE $NV_DIR/mute.t
subjects = h.mute
EOT
nv_daemon_start "$NV_DIR/nv.ini" -v
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
log=$NV_DIR/natsvisord.log
hellos() { grep -c "^natsvisord: debug: $1: hello$" "$log" || true; }
heard() { (($(hellos hi) >= $1)); }
wait_until 2 heard 1 || fail "no hello from hi"
assert_eq 0 "$(hellos mute)" "hellos from the listener that says none"

pid=$(listener_pid hi)
subj=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^NATSVISOR_HELLO_SUBJECT=//p')
[[ $subj == _INBOX.*.h[0-9]* ]] || fail "no NATSVISOR_HELLO_SUBJECT in hi's environment: '$subj'"

kill -KILL "$pid"
new_ready() {
	local p
	p=$(listener_pid hi) && [[ $p != "$pid" ]] &&
		[[ $(listener_field hi ready) == true ]]
}
wait_until 10 new_ready || fail "hi not ready again after kill -9"
npid=$(listener_pid hi)
nsubj=$(tr '\0' '\n' <"/proc/$npid/environ" | sed -n 's/^NATSVISOR_HELLO_SUBJECT=//p')
[[ -n $nsubj && $nsubj != "$subj" ]] ||
	fail "the new incarnation has the old hello subject: '$nsubj'"
wait_until 2 heard 2 || fail "no hello from the new incarnation"
assert_eq 0 "$(hellos mute)" "hellos from mute after the restart"

# A hello forged to a running listener, and one to the old incarnation's
# subject: neither is taken (the first is logged as ignored, the second
# matches nothing), so pings keep to health_interval.
ignored() { grep -c "^natsvisord: debug: hi: hello ignored (running)\$" "$log" || true; }
"$PROBE" "$NATS_URL" pub "$nsubj" || fail "could not publish the forged hello"
"$PROBE" "$NATS_URL" pub "$subj" || fail "could not publish the stale hello"
was_ignored() { (($(ignored) >= 1)); }
wait_until 5 was_ignored || fail "the forged hello was not ignored"
assert_eq 2 "$(hellos hi)" "hellos taken from hi"
nv_daemon_stop
pass "hello: said, logged and per incarnation; a mute listener is ready too"
