#!/bin/bash
# natsvisorctl publish --confirm is acknowledged only after the listener
# has committed the message, in core and in durable mode (a stream
# captures the subject, a durable listener consumes it): the daemon puts
# its confirmation subject in the Natsvisor-Confirm header, since a
# JetStream delivery's reply subject is its acknowledgement subject, and
# it ignores JetStream's own acknowledgement of the publish.  A durable
# message whose listener is killed before committing it is confirmed after
# the redelivery; one whose command fails first is confirmed once a retry
# succeeds.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
probe stream CF "cf.d.>" || fail "cannot create stream CF"
probe stream CB "cf.b.>" || fail "cannot create stream CB"
mkdir -p "$NV_DIR/out"
# The handler commits slowly (and atomically); "fail-once" fails its first
# delivery; "slow" marks its start and takes long.
cat >"$NV_DIR/commit.sh" <<'H'
body=$(cat)
case $body in
fail-once) [ "${NATS_DELIVERED:-1}" = 1 ] && exit 4 ;;
fail) exit 5 ;;
slow) touch "$NV_DIR/out/slow.started.${NATS_DELIVERED:-0}"; sleep 3 ;;
esac
sleep 0.3
printf '%s' "$body" >"$NV_DIR/out/.$1.$NATS_SUBJECT"
mv "$NV_DIR/out/.$1.$NATS_SUBJECT" "$NV_DIR/out/$1.$NATS_SUBJECT"
H
export NV_DIR
nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:core]
command = $NV_LISTEN --exec "sh $NV_DIR/commit.sh core"
subjects = cf.c.>

[listener:dur]
command = $NV_LISTEN --exec "sh $NV_DIR/commit.sh dur" --durable dur --stream CF --create --ack-wait 1s --nak-delay 200ms
subjects = cf.d.>
backoff_initial = 50ms

[listener:box]
command = $NV_LISTEN --inbox $NV_DIR/box --durable box --stream CB --create
subjects = cf.b.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s"
T="--timeout $(nv_scale 20)s"

# committed FILE BODY: FILE exists now and holds BODY.
committed() {
	[[ -f $NV_DIR/out/$1 && $(<"$NV_DIR/out/$1") == "$2" ]] ||
		fail "confirmed, but $1 is not committed"
}
# shellcheck disable=SC2086 # $T is two words
assert_exit 0 nvctl publish --confirm $T cf.c.one core-one
committed core.cf.c.one core-one
# shellcheck disable=SC2086
assert_exit 0 nvctl publish --confirm $T cf.d.one dur-one
committed dur.cf.d.one dur-one
# shellcheck disable=SC2086
assert_exit 0 nvctl publish --confirm $T -H X-Kind:box cf.b.one box-one
[[ $(<"$NV_DIR/box/new/js.CB.1") == box-one ]] || fail "inbox: js.CB.1 not committed"

# Core: a failed command is a refusal.  Durable: retried, then confirmed.
# shellcheck disable=SC2086
assert_exit 1 nvctl publish --confirm $T cf.c.bad fail
[[ $NV_OUT == *'"committed":false'*'exited 5'* ]] || fail "refusal: $NV_OUT"
# shellcheck disable=SC2086
assert_exit 0 nvctl publish --confirm $T cf.d.retry fail-once
committed dur.cf.d.retry fail-once

# Durable: the listener dies while handling; the next one confirms.
old=$(listener_pid dur) || fail "no pid for dur"
# shellcheck disable=SC2086
nvctl publish --confirm $T cf.d.kill slow >"$NV_DIR/kill.out" 2>&1 &
pubpid=$!
wait_until 10 test -f "$NV_DIR/out/slow.started.1" || fail "slow command never started"
kill -KILL "$old"
newpid() { local p; p=$(listener_pid dur) && [[ $p != "$old" ]]; }
wait_until 10 newpid || fail "dur not restarted"
rc=0
wait_pid_gone "$pubpid" 30 || fail "publish --confirm never returned"
wait "$pubpid" || rc=$?
[[ $rc -eq 0 ]] || fail "publish --confirm across a kill: exit $rc: $(<"$NV_DIR/kill.out")"
committed dur.cf.d.kill slow
[[ -f $NV_DIR/out/slow.started.2 ]] || fail "not redelivered"
nv_log "confirmed after the kill and a redelivery"
assert_eq 1 "$(listener_field dur restarts)" "restarts of dur"
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
