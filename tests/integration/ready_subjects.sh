#!/bin/bash
# A listener whose pong lists "subjects" that do not cover its configured
# subjects is reported not ready, with the subject it lacks as the reason;
# coverage follows NATS wildcards (w.* covers w.one, not w.>).
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:partial]
command  = $NV_LISTEN --subject s.a --stdout
subjects = s.a, s.b
[listener:wild]
command  = $NV_LISTEN --subject 'w.*' --stdout
subjects = w.one, w.two
[listener:narrow]
command  = $NV_LISTEN --subject 'n.*' --stdout
subjects = n.>
[listener:full]
command  = $NV_LISTEN --stdout
subjects = f.a, f.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" wild full
health_is() { [[ $(listener_health "$1") == "$2" ]]; }
wait_until 5 health_is partial not-ready || fail "partial: $(listener_health partial)"
wait_until 5 health_is narrow not-ready || fail "narrow: $(listener_health narrow)"
assert_eq "not ready: does not hold subject s.b" "$(listener_field partial reason)" \
	"partial's reason"
assert_eq "not ready: does not hold subject n.>" "$(listener_field narrow reason)" \
	"narrow's reason"
assert_eq running "$(listener_state partial)" "partial's state"

assert_exit 1 nvctl wait-ready --timeout 1s partial narrow wild
grep -qx 'partial: running, not-ready: does not hold subject s.b' <<<"$NV_OUT" ||
	fail "wait-ready does not give partial's reason"
grep -qx 'narrow: running, not-ready: does not hold subject n.>' <<<"$NV_OUT" ||
	fail "wait-ready does not give narrow's reason"
grep -q '^wild' <<<"$NV_OUT" && fail "wait-ready names wild"
assert_exit 0 nvctl status partial
grep -q 'does not hold subject s.b' <<<"$NV_OUT" || fail "status does not show the reason"

# A gated publish waits for a not-ready listener: it times out, saying why.
assert_exit 1 nvctl publish --timeout 1s s.a "to partial"
grep -q 'partial: running, not-ready: does not hold subject s.b' <<<"$NV_OUT" ||
	fail "publish does not say why"
assert_exit 0 nvctl publish w.two "to wild"
wait_until 5 grep -q '^wild: .*to wild' "$NV_DIR/natsvisord.log" ||
	fail "wild did not receive"
# Not-ready replies never kill.
assert_eq 0 "$(listener_field partial restarts)" "partial's restarts"
nv_daemon_stop 20 || fail "exit status $?"
pass
