#!/bin/bash
# The Node.js examples of natsvisor-ping(7) under natsvisord, with the
# official NATS client (npm package nats, v2, installed by this test into
# $top_builddir/tests/node_modules): listeners/examples/ping-listener.mjs
# becomes ready, receives gated publishes and confirms them, is never
# ready when the server refuses its subscription, and is ready again after
# the server restarts; listeners/examples/srv-listener.mjs, a service of
# the client's service framework, is checked through $SRV.PING.echo.  The
# shell one-off of the page runs too, and the page shows the same code as
# the files.  Skipped only when node or npm is absent.
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node not found (Debian package nodejs)"
command -v npm >/dev/null || skip "npm not found (Debian package npm)"
EX=$top_srcdir/listeners/examples
MAN=$top_srcdir/man/natsvisor-ping.7

# The page shows the files as they are.
for f in ping-listener.mjs srv-listener.mjs; do
	sed -n "/^\.\\\\\" BEGIN listeners\/examples\/$f\$/,/^\.\\\\\" END\$/p" "$MAN" |
		sed '1,2d;$d' | sed '$d' | sed 's/\\e/\\/g; s/^\\&//' >"${TMPDIR:-/tmp}/man.$$.$f"
	if ! diff -u "$EX/$f" "${TMPDIR:-/tmp}/man.$$.$f"; then
		rm -f "${TMPDIR:-/tmp}/man.$$.$f"
		fail "natsvisor-ping(7) does not show $f as it is"
	fi
	rm -f "${TMPDIR:-/tmp}/man.$$.$f"
done

# The client, once per build tree (npm's own cache makes it cheap).
NODE_DIR=$top_builddir/tests
mkdir -p "$NODE_DIR"
(
	flock 9
	if [[ ! -f $NODE_DIR/node_modules/nats/package.json ]]; then
		npm install --prefix "$NODE_DIR" --no-save --no-package-lock \
			--no-audit --no-fund nats@2 >&2
	fi
) 9>"$NODE_DIR/.npm-install.lock" || fail "npm install nats@2 failed"
version=$(node -p "require('$NODE_DIR/node_modules/nats/package.json').version") ||
	fail "nats not installed"
[[ $version == 2.* ]] || fail "nats $version installed, 2.x wanted"
nv_log "nats.js $version, node $(node --version)"

nv_setup
# Scripts next to node_modules, so that `import "nats"` finds it.
RUN=$NODE_DIR/node-examples.$$
mkdir -p "$RUN"
cp "$EX/ping-listener.mjs" "$EX/srv-listener.mjs" "$RUN/"
trap '_nv_on_exit $?; rm -rf "$RUN"' EXIT

cat >"$NV_DIR/server.conf" <<EOT
authorization {
  users = [
    {user: natsvisord, password: dpw}
    {user: lsn, password: lpw, permissions: {
      subscribe: {allow: [">"], deny: ["secret.>"]}
      publish: {allow: ["_INBOX.>"]}
      allow_responses: true }}
  ]
}
EOT
nats_start nats -c "$NV_DIR/server.conf"
port=$NATS_PORT
ALERTS=$NV_DIR/alerts.log
nv_write_config "$NV_DIR/nv.ini" - <<EOT
nats_user     = natsvisord
nats_password = dpw
[defaults]
environment = NATS_USER=lsn NATS_PASSWORD=lpw
[listener:js]
command  = node $RUN/ping-listener.mjs
subjects = js.a js.b
[listener:svc]
command      = node $RUN/srv-listener.mjs
subjects     = svc.echo
ping_subject = \$SRV.PING.echo
[listener:jsrefused]
command  = node $RUN/ping-listener.mjs
subjects = js.c secret.x
[listener:alerts]
command  = $NV_LISTEN --exec 'echo "\$NATS_SUBJECT: \$(cat)" >>$ALERTS'
subjects = alerts.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
t0=$(_nv_now_us)
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 20)s" js svc alerts
nv_log "node listeners ready $((($(_nv_now_us) - t0) / 1000)) ms after the daemon answered"

# ping-listener.mjs: gated, confirmed publishes on both subjects.
assert_exit 0 nvctl publish --confirm js.a "hello node"
assert_exit 0 nvctl publish --confirm js.b "hello again"
grep -q '^js: js.a hello node$' "$NV_DIR/natsvisord.log" ||
	fail "js did not print the message before confirming it"
wait_until 5 grep -q '^js: js.b hello again$' "$NV_DIR/natsvisord.log" ||
	fail "js did not receive js.b"
js=$(nvctl status --json js) || fail "status"
assert_eq '["js.a","js.b"]' "$(jq -c '.listeners[0].subjects' <<<"$js")" "js subjects"

# srv-listener.mjs through $SRV.PING.echo.
assert_eq '$SRV.PING.echo' "$(listener_field svc ping_subject)" "svc's ping subject"
assert_exit 0 nvctl publish svc.echo "hello service"
wait_until 5 grep -q '^svc: svc.echo hello service$' "$NV_DIR/natsvisord.log" ||
	fail "the service did not receive"

# The same listener, refused by the server: never ready, and says why.
refused_nr() { [[ $(listener_health jsrefused) == not-ready ]]; }
wait_until 10 refused_nr || fail "jsrefused: $(listener_health jsrefused)"
reason=$(listener_field jsrefused reason)
nv_log "jsrefused: $reason"
[[ $reason == *"subscription refused"*"secret.x"* ]] ||
	fail "jsrefused's reason: $reason"
assert_exit 1 nvctl wait-ready --timeout 2s jsrefused
assert_eq 0 "$(listener_field jsrefused restarts)" "jsrefused's restarts"

# The shell one-off.
assert_exit 0 nvctl publish --confirm alerts.disk 'disk full'
assert_eq "alerts.disk: disk full" "$(cat "$ALERTS")" "the alerts file"

# The server restarts: same processes, ready again, still receiving.
jspid=$(listener_pid js)
svcpid=$(listener_pid svc)
nats_stop
down() { [[ $(listener_health js) == unknown ]]; }
wait_until 3 down || fail "js's health while the server is down"
nats_start_port "$port" nats -c "$NV_DIR/server.conf"
t_up=$(_nv_now_us)
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" js svc
printf 'node listeners ready %s ms after the server was back\n' \
	"$((($(_nv_now_us) - t_up) / 1000))"
assert_eq "$jspid" "$(listener_pid js)" "js's pid over the restart"
assert_eq "$svcpid" "$(listener_pid svc)" "svc's pid over the restart"
assert_exit 0 nvctl publish --confirm js.a "after the restart"
assert_exit 0 nvctl publish svc.echo "service after the restart"
wait_until 5 grep -q '^svc: svc.echo service after the restart$' \
	"$NV_DIR/natsvisord.log" || fail "the service did not receive after the restart"

# SIGTERM: the listeners drain and exit.
nv_daemon_stop 20 || fail "exit status $?"
grep -q 'js: .*-> stopped' "$NV_DIR/natsvisord.log" || fail "js did not stop"
pass
