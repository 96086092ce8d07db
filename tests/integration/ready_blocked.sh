#!/bin/bash
# A listener that waits for a requirement that cannot become ready cannot
# become ready either: wait-ready (over the socket and over NATS) and a
# gated publish exit 5 at once, far below their timeout, naming the
# listener at the end of the requires chain.  A requirement that is merely
# starting or backing off blocks nothing.  And the NATS-side wait-ready
# refuses an invalid timeout= with the usage code 2, naming the value.
. "$(dirname "$0")/lib.sh"
LPROBE=$top_builddir/tests/integration/listen-probe
[[ -x $LPROBE ]] || fail "listen-probe not built (make check builds it)"
nv_setup
nats_start

ID=blk$$
nv_write_config "$NV_DIR/nv.ini" - <<EOT
instance_id = $ID
[listener:ok]
command  = $NV_LISTEN --stdout
subjects = chain.ok
[listener:missing]
command         = $NV_DIR/no-such-program
subjects        = chain.missing
max_restarts    = 1
backoff_initial = 10ms
[listener:req2]
command  = $NV_LISTEN --stdout
subjects = chain.req2
requires = missing
[listener:req3]
command  = $NV_LISTEN --stdout
subjects = chain.req3
requires = req2
[listener:manual]
command   = $NV_LISTEN --stdout
subjects  = chain.manual
autostart = no
[listener:needsmanual]
command  = $NV_LISTEN --stdout
subjects = chain.needsmanual
requires = manual
[listener:flaky]
command         = sh -c 'if [ -e "\$0.flag" ]; then exec "\$0" --stdout; fi; touch "\$0.flag"; exit 1' $NV_DIR/listen
subjects        = chain.flaky
backoff_initial = 1500ms
backoff_jitter  = 0
[listener:afterflaky]
command  = $NV_LISTEN --stdout
subjects = chain.afterflaky
requires = flaky
EOT
ln -s "$NV_LISTEN" "$NV_DIR/listen"
nv_daemon_start "$NV_DIR/nv.ini"
nctl() { "$NV_CTL" --nats "$NATS_URL" --instance "$ID" "$@"; }
state_is() { [[ $(listener_state "$1") == "$2" ]]; }

# A requirement that backs off after a failure can still become ready:
# its dependent is waited for, not given up on.
wait_until 5 state_is flaky backoff || fail "flaky: $(listener_state flaky)"
t0=$(_nv_now_us)
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s" afterflaky
nv_log "afterflaky ready $((($(_nv_now_us) - t0) / 1000)) ms after flaky backed off"

wait_until 5 state_is missing fatal || fail "missing: $(listener_state missing)"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" ok
grep -q 'waiting for missing to be ready' <<<"$(listener_field req2 reason)" ||
	fail "req2 does not wait for missing: $(listener_field req2 reason)"

# quick CMD...: CMD exits 5 well before the 30 s timeout it was given.
quick() {
	local t0 ms
	t0=$(_nv_now_us)
	assert_exit 5 "$@"
	ms=$((($(_nv_now_us) - t0) / 1000))
	nv_log "exit 5 after $ms ms: $*"
	((ms <= $(nv_scale 1000))) || fail "exit 5 took $ms ms: $*"
}
blocked='blocked by missing (fatal, pending: spawn error: .*no-such-program'

# The direct dependent and one further down the chain, over the socket.
quick nvctl wait-ready --timeout "$(nv_scale 30)s" req2
grep -q "^req2: stopped, pending: waiting for missing to be ready; $blocked" \
	<<<"$NV_OUT" || fail "req2 not named with what blocks it"
quick nvctl wait-ready --timeout "$(nv_scale 30)s" ok req3
grep -q "^req3: stopped, pending: waiting for req2 to be ready; $blocked" \
	<<<"$NV_OUT" || fail "req3 not named with what blocks it"
assert_eq 1 "$(grep -c . <<<"$NV_OUT")" "lines of the answer"
# The default set (every autostart listener) includes them.
quick nvctl wait-ready --timeout "$(nv_scale 30)s"
# A gated publish covered only by a blocked listener: the same rule.
quick nvctl publish --timeout "$(nv_scale 30)s" chain.req3 never
grep -q "^req3: .*; $blocked" <<<"$NV_OUT" || fail "publish does not name missing"
# Over NATS: natsvisorctl --nats and the plain wait-ready subject.
quick nctl wait-ready --timeout "$(nv_scale 30)s" req3
grep -q "$blocked" <<<"$NV_OUT" || fail "--nats wait-ready does not name missing"
t0=$(_nv_now_us)
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.wait-ready" -t 40000 \
	"timeout=$(nv_scale 30)s req3") || fail "wait-ready request"
ms=$((($(_nv_now_us) - t0) / 1000))
nv_log "wait-ready subject, req3: $out ($ms ms)"
((ms <= $(nv_scale 1000))) || fail "wait-ready subject took $ms ms"
assert_eq 5 "$(jq -r .code <<<"$out")" "wait-ready subject: code"
assert_eq false "$(jq -r .ready <<<"$out")" "wait-ready subject: ready"
jq -r .error <<<"$out" | grep -q "^req3: .*; $blocked" ||
	fail "wait-ready subject does not name missing"

# A requirement stopped by choice blocks its dependent until it is started.
quick nvctl wait-ready --timeout "$(nv_scale 30)s" needsmanual
grep -q '^needsmanual: stopped, pending: waiting for manual to be ready; blocked by manual (stopped, pending: not started)$' \
	<<<"$NV_OUT" || fail "needsmanual not named with what blocks it"
# start of the dependent alone: exit 1, naming what blocks it.
assert_exit 1 nvctl start needsmanual
grep -q '^needsmanual: .*blocked by manual' <<<"$NV_OUT" ||
	fail "start needsmanual does not name manual"
assert_exit 0 nvctl start manual
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" needsmanual

# An invalid timeout on the wait-ready subject is a usage error naming the
# value, never the default; a valid one still works.
# A zero timeout too (it used to mean waiting for ever).
for body in "timeout=bogus ok" "timeout=-1s ok" "timeout= ok" "timeout=0 ok" \
	"timeout=0ms ok"; do
	out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.wait-ready" -t 5000 \
		"$body") || fail "wait-ready request '$body'"
	nv_log "wait-ready subject, '$body': $out"
	assert_eq 2 "$(jq -r .code <<<"$out")" "'$body': code"
	assert_eq false "$(jq -r .ready <<<"$out")" "'$body': ready"
	v=${body%% *}
	v=${v#timeout=}
	jq -r .error <<<"$out" | grep -qF "timeout '$v'" ||
		fail "'$body': the error does not name the value"
	assert_eq false "$(jq '.error | endswith("\n")' <<<"$out")" "'$body': no line end in error"
done
out=$("$LPROBE" "$NATS_URL" request "natsvisor.$ID.wait-ready" -t 5000 \
	"timeout=$(nv_scale 5)s ok") || fail "wait-ready request (valid)"
assert_eq 0 "$(jq -r .code <<<"$out")" "valid timeout: code"
# The socket path refuses the same values with the same code.
assert_exit 2 nvctl wait-ready --timeout bogus ok
assert_exit 2 nctl wait-ready --timeout -1s ok
assert_exit 2 nvctl wait-ready --timeout 0 ok
assert_exit 2 nctl wait-ready --timeout 0ms ok
assert_exit 2 nvctl publish --timeout 0 x.y hi

nv_daemon_stop 20 || fail "exit status $?"
pass
