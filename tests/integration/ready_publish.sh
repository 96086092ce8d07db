#!/bin/bash
# Gated publish (issue 5 item 6): listener subjects may use wildcards, a
# published subject may not (exit 2); nobody covering it exits 4; every
# covering listener must be ready on a pong to a ping sent after the
# request (even with a health_interval of an hour); for a queue group one
# ready member is enough but every running member must answer; headers,
# the body from stdin, --timeout and --confirm; exit 6 when the server
# never acknowledges the message.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[defaults]
health_interval = 1h
[listener:star]
command  = $NV_LISTEN --stdout
subjects = p.*.x
[listener:all]
command  = $NV_LISTEN --stdout
subjects = p.>
[listener:q]
command     = $NV_LISTEN --queue workers --stdout
subjects    = w.job
queue_group = workers
instances   = 2
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
received() { # NAME TEXT: NAME printed a message whose data is TEXT
	grep -q "^$1: .*\"data\":\"$2\"" "$NV_DIR/natsvisord.log"
}

# Wildcards: p.a.x is covered by both; each gets it, fresh.
# With health_interval = 1h, only the publish itself makes them answer.
pong_older() { (($(listener_field star last_pong_ms_ago) > 1500)); }
wait_until 3 pong_older || fail "star's last pong"
before=$(listener_field star last_pong_ms_ago)
assert_exit 0 nvctl publish p.a.x "to both"
ago=$(listener_field star last_pong_ms_ago)
nv_log "star's last pong: $before ms ago before the publish, $ago ms after"
((ago < 1000)) || fail "no fresh pong for the publish (last $ago ms ago)"
wait_until 5 received star "to both" || fail "star did not receive"
wait_until 5 received all "to both" || fail "all did not receive"
assert_exit 0 nvctl publish p.b "only all"
wait_until 5 received all "only all" || fail "all did not receive p.b"
assert_exit 2 nvctl publish 'p.*.x' "wildcard"
assert_exit 2 nvctl publish 'p.>' "wildcard"
assert_exit 4 nvctl publish nobody.here "lost"
grep -q 'no listener covers' <<<"$NV_OUT" || fail "exit 4 without a reason"

# Headers and a body from stdin; --confirm counts both receivers.
printf 'from stdin' | nvctl publish -H Trace-Id:t-42 -H 'X-Two: 2' p.c.x ||
	fail "publish from stdin"
wait_until 5 grep -q '^star: .*"data":"from stdin".*"Trace-Id":\["t-42"\]' \
	"$NV_DIR/natsvisord.log" || fail "headers or stdin body lost"
grep -q '^star: .*"X-Two":\["2"\]' "$NV_DIR/natsvisord.log" ||
	fail "second header lost"
assert_exit 0 nvctl publish --confirm p.d.x "confirmed twice"

# One covering listener not ready: the publish waits, then says why.
kill -STOP "$(listener_pid star)"
t0=$(_nv_now_us)
assert_exit 1 nvctl publish --timeout 0.5s p.e.x "star is frozen"
ms=$((($(_nv_now_us) - t0) / 1000))
((ms >= 480)) || fail "publish gave up after $ms ms, before --timeout"
grep -qx 'star: running, ready: no answer yet to a ping sent after the publish request' \
	<<<"$NV_OUT" || fail "the stale listener is not named"
# ... and p.b, which only "all" covers, is not held up by it.
assert_exit 0 nvctl publish p.b "despite star"
kill -CONT "$(listener_pid star)"
assert_exit 0 nvctl publish p.e.x "star is back"
wait_until 5 received star "star is back" || fail "star did not receive"

# A queue group: one ready member suffices...
assert_exit 0 nvctl stop q.1
assert_exit 0 nvctl publish --confirm w.job "one member"
wait_until 5 received q.0 "one member" || fail "q.0 did not receive"
# ... but every running member must answer a fresh ping.
assert_exit 0 nvctl start q.1
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" q.1
kill -STOP "$(listener_pid q.1)"
assert_exit 1 nvctl publish --timeout 0.5s w.job "q.1 is frozen"
grep -qx 'q.1: running, ready: no answer yet to a ping sent after the publish request' \
	<<<"$NV_OUT" || fail "the frozen member is not named"
kill -CONT "$(listener_pid q.1)"
assert_exit 0 nvctl publish w.job "both members"
nv_daemon_stop 20 || fail "exit status $?"
nats_stop

# The server accepts the message but the daemon's acknowledgement marker
# (a publish to its own inbox) is refused: the outcome is unknown, exit 6.
cat >"$NV_DIR/server.conf" <<EOT
authorization {
  users = [
    {user: natsvisord, password: dpw, permissions: {
      publish: ["p.>", "_NATSVISOR.>"] }}
    {user: lsn, password: lpw}
  ]
}
EOT
nats_start nats2 -c "$NV_DIR/server.conf"
nv_write_config "$NV_DIR/nv2.ini" - <<EOT
nats_user     = natsvisord
nats_password = dpw
[listener:all]
command     = $NV_LISTEN --stdout
subjects    = p.>
environment = NATS_USER=lsn NATS_PASSWORD=lpw
EOT
nv_daemon_start "$NV_DIR/nv2.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
assert_exit 6 nvctl publish --timeout 1s p.unknown "maybe delivered"
grep -q 'outcome unknown' <<<"$NV_OUT" || fail "exit 6 without a reason"
wait_until 5 received all "maybe delivered" ||
	fail "the message was not delivered after all"

# A body over natsvisor's 8 MiB is refused before it is sent: exit 1.
head -c 8388609 /dev/zero >"$NV_DIR/big"
big_publish() { nvctl publish p.b <"$NV_DIR/big"; }
assert_exit 1 big_publish
grep -q 'message body too large (at most 8388608 bytes)' <<<"$NV_OUT" ||
	fail "an oversized body without its reason"
nv_daemon_stop 20 || fail "exit status $?"
pass
