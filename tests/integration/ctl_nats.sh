#!/bin/bash
# natsvisorctl --nats URL against a server with users and a small
# max_payload: a comma-separated list of servers is tried in the order
# given; no message shows a password or a token of a URL; a request over
# max_payload is refused before it is sent with exit 1 and the socket's
# "not published" wording, and the limit is on the whole request frame
# (a message of exactly max_payload bytes goes out over the socket, not
# over --nats); a request the server refuses by permissions exits 3 at
# once, naming the reason; an empty list is a usage error.
. "$(dirname "$0")/lib.sh"
nv_setup
# A server without the daemon, to show which server of a list is used.
nats_start other
OTHER_URL=$NATS_URL
cat >"$NV_DIR/server.conf" <<EOT
max_payload: 4096
authorization { users = [
  {user: u, password: pw}
  {user: ro, password: pw, permissions: {publish: {deny: ["natsvisor.>"]}}}
] }
EOT
nats_start nats -c "$NV_DIR/server.conf"
hostport=${NATS_URL#nats://}
NATS_URL=nats://u:pw@$hostport
ID=cn$$
nv_write_config "$NV_DIR/nv.ini" - <<EOT
instance_id = $ID
nats_control = yes
[listener:a]
command = $NV_LISTEN --inbox $NV_DIR/inbox/a
subjects = cn.a.>
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
nctl() { # URL-LIST ARGS...
	local url=$1
	shift
	"$NV_CTL" --nats "$url" --instance "$ID" "$@"
}

# Options that do not go together are usage errors, before anything is
# contacted.
assert_exit 2 "$NV_CTL" --instance "$ID" is-ready a
assert_exit 2 "$NV_CTL" -s "$NV_SOCK" --nats "$NATS_URL" is-ready a
assert_exit 2 "$NV_CTL" --version extra
# natsvisord too: an argument beside --version is a usage error (exit 1).
assert_exit 1 "$NV_DAEMON" --version extra
grep -q "unexpected argument 'extra'" <<<"$NV_OUT" || fail "natsvisord --version extra: $NV_OUT"
assert_exit 0 "$NV_DAEMON" --version
# A credentials file that cannot be read is named (nats.c says "Error").
NATS_CREDS=$NV_DIR/no.creds assert_exit 3 nctl "$NATS_URL" is-ready a
[[ $NV_OUT == *"NATS_CREDS '$NV_DIR/no.creds': No such file"* ]] ||
	fail "unreadable NATS_CREDS: $NV_OUT"

# A list, with or without spaces after the commas; a server that is down
# is skipped.
dead=nats://127.0.0.1:$(free_port)
assert_exit 0 nctl "$NATS_URL,$NATS_URL" is-ready a
assert_exit 0 nctl "$dead, $NATS_URL" is-ready a
assert_exit 0 nctl " $dead ,$NATS_URL , " status a
grep -q '^a .*running .*ready' <<<"$NV_OUT" || fail "status over a list: $NV_OUT"
# The order given, never shuffled: the first server that accepts the
# connection is the one used, even when the daemon is on another.
for _ in 1 2 3 4 5 6; do
	assert_exit 0 nctl "$NATS_URL,$OTHER_URL" is-ready a
	assert_exit 3 nctl "$OTHER_URL,$NATS_URL" is-ready a
done
assert_exit 2 nctl " , " is-ready a
[[ $NV_OUT == *"no server URL"* ]] || fail "empty list: $NV_OUT"

# Credentials stay out of messages: a password becomes ***, so does a
# token (the whole user information).
assert_exit 3 nctl "nats://u:s3cret@$hostport" is-ready a
[[ $NV_OUT == *"nats://u:***@$hostport: Authentication Violation"* ]] ||
	fail "wrong password: $NV_OUT"
assert_exit 3 nctl "nats://t0ken@$hostport, nats://u:pa55@${dead#nats://}" is-ready a
[[ $NV_OUT == *"nats://***@$hostport, nats://u:***@${dead#nats://}:"* ]] ||
	fail "token and list: $NV_OUT"
[[ $NV_OUT != *s3cret* && $NV_OUT != *t0ken* && $NV_OUT != *pa55* ]] ||
	fail "a message shows credentials: $NV_OUT"

# A user the server does not let publish the request: exit 3 at once,
# with the server's reason, not after the whole --timeout.
t0=$(_nv_now_us)
assert_exit 3 nctl "nats://ro:pw@$hostport" wait-ready --timeout 20s a
(($(_nv_now_us) - t0 < 5000000)) || fail "the refused request waited"
[[ $NV_OUT == *"natsvisor.$ID.request: permission denied by the NATS server: "*"Permissions Violation for Publish to \"natsvisor.$ID.request\""* ]] ||
	fail "refused request: $NV_OUT"

# max_payload: exactly 4096 bytes of message go out over the socket, but
# not over --nats (the request frame adds the command and the subject);
# both refuse with exit 1 at once and say "not published".
head -c 4096 /dev/zero | tr '\0' x >"$NV_DIR/max"
assert_exit 0 nvctl publish cn.a.max <"$NV_DIR/max"
wait_until 5 grep -rqx "$(cat "$NV_DIR/max")" "$NV_DIR/inbox/a/new" ||
	fail "the 4096-byte message did not arrive"
head -c 4097 /dev/zero | tr '\0' x >"$NV_DIR/over"
assert_exit 1 nvctl publish cn.a.over <"$NV_DIR/over"
[[ $NV_OUT == "publish cn.a.over: not published: Maximum Payload Exceeded"* ]] ||
	fail "socket wording changed: $NV_OUT"
t0=$(_nv_now_us)
assert_exit 1 nctl "$NATS_URL" publish --timeout 20s cn.a.max <"$NV_DIR/max"
(($(_nv_now_us) - t0 < 5000000)) || fail "the refused publish waited"
[[ $NV_OUT == "publish cn.a.max: not published: Maximum Payload Exceeded"*"max_payload is 4096"* ]] ||
	fail "--nats publish over max_payload: $NV_OUT"
assert_exit 0 nctl "$NATS_URL" publish cn.a.small <<<"small"
wait_until 5 grep -rqx small "$NV_DIR/inbox/a/new" ||
	fail "the small message over --nats did not arrive"
# Any other request too large for the server: exit 1, not sent.
mapfile -t names < <(seq -f 'n%059g' 100)
assert_exit 1 nctl "$NATS_URL" is-ready "${names[@]}"
[[ $NV_OUT == *"request not sent: Maximum Payload Exceeded"* ]] ||
	fail "oversized is-ready: $NV_OUT"
nv_daemon_stop 20 || fail "exit status $?"
pass
