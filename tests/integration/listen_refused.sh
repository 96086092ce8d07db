#!/bin/bash
# A data subscription refused by server permissions: the listener keeps
# running but never answers ready, and says why.  Credentials given in
# the URL are logged as ***.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
cat >"$NV_DIR/perm.conf" <<'C'
authorization {
	users = [
		{ user: lis, password: pw, permissions: { subscribe: { deny: ["secret.>"] } } }
		{ user: pub, password: pw }
	]
}
C
nats_start nats -c "$NV_DIR/perm.conf"
plain=$NATS_URL
NATS_URL=nats://pub:pw@127.0.0.1:$NATS_PORT
NATS_USER=lis NATS_PASSWORD=pw listen_start ref "ok.> secret.x" \
	--inbox "$NV_DIR/inbox" --server "$plain"
wait_until 10 ping_reply || fail "no ping reply at all"
for _ in 1 2 3 4 5; do
	ping_not_ready || fail "refused listener answered: $LISTEN_REPLY"
	jq -e '.reason | test("subscription refused"; "i")' <<<"$LISTEN_REPLY" \
		>/dev/null || fail "no reason: $LISTEN_REPLY"
done
jq -e '.reason | test("secret"; "")' <<<"$LISTEN_REPLY" >/dev/null ||
	fail "reason does not name the subject: $LISTEN_REPLY"
log_has ref "refused" || log_has ref "Permissions" || fail "refusal not logged"

# The same listener with only permitted subjects is ready.
NATS_USER=lis NATS_PASSWORD=pw listen_start ok "ok.>" \
	--inbox "$NV_DIR/inbox2" --server "$plain"
wait_ready 10
# Credentials in the URL work and stay out of the log.
listen_start cred "ok.>" --stdout --server "nats://lis:pw@127.0.0.1:$NATS_PORT"
wait_ready 10
log_has cred "connecting to nats://lis:***@127.0.0.1:$NATS_PORT" ||
	fail "the URL is not logged with its password hidden"
log_has cred "connected to " || fail "no 'connected to' line"
! grep -q 'lis:pw' "$NV_DIR/cred.log" || fail "the password is in the log"
# Bad credentials are not retried: the listener says so and exits 1.
NATS_USER=lis NATS_PASSWORD=wrong listen_start bad "ok.>" --stdout --server "$plain"
wait_exit "$LISTEN_PID" 10
[[ $LISTEN_STATUS -eq 1 ]] || fail "bad credentials: exit $LISTEN_STATUS"
log_has bad "Authorization Violation" || fail "rejection not logged"

listen_finish
pass
