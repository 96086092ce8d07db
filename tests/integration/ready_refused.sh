#!/bin/bash
# A listener whose data subscription the server refuses (permissions in
# the server's configuration file) is never reported ready: it answers
# "not ready" with the server's reason, wait-ready names it, a gated
# publish to its subject times out.  Runs every party with the NATS
# permissions natsvisorctl(1) documents (daemon, listeners, a read-only
# publisher using --nats and the event subjects).
. "$(dirname "$0")/lib.sh"
PROBE=$top_builddir/tests/integration/ready-probe
[[ -x $PROBE ]] || fail "ready-probe not built (make check builds it)"
nv_setup
ID=perm$$
cat >"$NV_DIR/server.conf" <<EOT
authorization {
  users = [
    {user: natsvisord, password: dpw, permissions: {
      subscribe: ["natsvisor.$ID.>", "_INBOX.>"]
      publish: ["natsvisor.$ID.event.>", "_NATSVISOR.>", "ok.>",
                "secret.>", "_INBOX.>"]
      allow_responses: true }}
    {user: lsn, password: lpw, permissions: {
      subscribe: {allow: [">"], deny: ["secret.>"]}
      publish: {deny: [">"]}
      allow_responses: true }}
    {user: publisher, password: ppw, permissions: {
      publish: ["natsvisor.$ID.status", "natsvisor.$ID.wait-ready",
                "natsvisor.$ID.request", "ok.>"]
      subscribe: ["_INBOX.>", "natsvisor.$ID.event.>"] }}
  ]
}
EOT
nats_start nats -c "$NV_DIR/server.conf"
hostport=${NATS_URL#nats://}
NATS_URL=nats://$hostport

nv_write_config "$NV_DIR/nv.ini" - <<EOT
instance_id   = $ID
nats_user     = natsvisord
nats_password = dpw
[defaults]
environment = NATS_USER=lsn NATS_PASSWORD=lpw
[listener:good]
command  = $NV_LISTEN --subject ok.good --inbox $NV_DIR/inbox/good
subjects = ok.good
[listener:refused]
command  = $NV_LISTEN --subject secret.x --inbox $NV_DIR/inbox/refused
subjects = secret.x
EOT
pubnats=nats://publisher:ppw@$hostport
nv_spawn events "$PROBE" "$pubnats" sub "natsvisor.$ID.event.>"
EVENTS=$NV_DIR/events.log
wait_until 5 grep -q subscribed "$EVENTS" || fail "publisher cannot subscribe to events"

nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" good
not_ready_refused() {
	[[ $(listener_health refused) == not-ready ]]
}
wait_until 5 not_ready_refused || fail "refused: $(listener_field refused reason)"
reason=$(listener_field refused reason)
nv_log "refused: $reason"
[[ $reason == *"subscription refused"*"Permissions Violation for Subscription to"*secret.x* ]] ||
	fail "refused's reason does not give the server's refusal: $reason"
assert_eq running "$(listener_state refused)" "refused is alive (not restarted)"

# Never ready, however long we look; wait-ready names it with the reason.
assert_exit 1 nvctl wait-ready --timeout 3s refused
grep -q '^refused: running, not-ready: subscription refused: ' <<<"$NV_OUT" ||
	fail "wait-ready does not name refused's reason"
assert_exit 1 nvctl is-ready refused
assert_eq 0 "$(listener_field refused restarts)" "refused's restarts"
assert_exit 1 nvctl publish --timeout 1s secret.x "must not be sent"
grep -q 'refused: running, not-ready' <<<"$NV_OUT" || fail "publish does not say why"
sed -n "s/^natsvisor\.$ID\.event\.refused //p" "$EVENTS" |
	jq -se 'all(.[]; .ready == false)' >/dev/null ||
	fail "an event reported refused ready"

# The read-only publisher, with the documented permissions (natsvisorctl
# --nats).
assert_exit 0 "$NV_CTL" --nats "$pubnats" --instance "$ID" wait-ready --timeout 5s good
assert_exit 1 "$NV_CTL" --nats "$pubnats" --instance "$ID" is-ready refused
js=$("$NV_CTL" --nats "$pubnats" --instance "$ID" status --json) ||
	fail "--nats status"
assert_eq "$ID" "$(jq -r .instance_id <<<"$js")" "instance_id"
wait_until 5 grep -q "^natsvisor\.$ID\.event\.good .*\"ready\":true" "$EVENTS" ||
	fail "the publisher saw no event"
# The daemon's gated publish and the listener's ping replies work too.
assert_exit 0 nvctl publish ok.good "allowed"
wait_until 5 grep -rqx allowed "$NV_DIR/inbox/good/new" || fail "good did not receive"
nv_daemon_stop 20 || fail "exit status $?"
pass
