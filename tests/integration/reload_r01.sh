#!/bin/bash
# Case R01 on a running daemon: a file that the loader rejects (a line
# longer than 65535 bytes, even inside a running listener's own section,
# or a listener name longer than 40 bytes) never replaces the running
# configuration, through `natsvisorctl reload` (exit 1, path:line) or
# SIGHUP: no fragment of it is applied, nothing restarts.  A file with
# long but supported lines (60 subjects on one line, a 4000-byte
# environment value) is applied whole: every subject is held, a gated
# publish to the 60th lands, and the listener's BIG has 4000 bytes.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

conf=$NV_DIR/nv.ini
base="[listener:a]
command = $NV_LISTEN --stdout
subjects = a.in"
nv_write_config "$conf" "$base"
nv_daemon_start "$conf"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
pa=$(listener_pid a) || fail "no pid for a"

# environ_value PID KEY: the value of KEY in /proc/PID/environ.
environ_value() {
	tr '\0' '\n' <"/proc/$1/environ" | sed -n "s/^$2=//p"
}

# A rejected reload leaves a as it was and status names FILE:LINE.
expect_rejected() { # LINE MESSAGE
	local want="$conf:$1: $2"
	assert_exit 1 nvctl reload
	grep -qxF "$want" <<<"$NV_OUT" || fail "reload did not print '$want'"
	assert_eq "$want" "$(nvctl status --json | jq -r .last_reload.error)" \
		"last_reload.error"
	assert_eq "$pa" "$(listener_pid a)" "pid of a after a rejected reload"
	assert_eq 1 "$(listener_field a spawns)" "spawns of a"
	assert_eq 1 "$(nvctl status --json | jq '.listeners | length')" \
		"listeners in status after a rejected reload"
	[[ -z $(environ_value "$pa" BIG) ]] || fail "a got BIG from a rejected file"
}

# 1. Lines 4-6 are a; line 7 is a's environment, 70000 bytes long; then
# a new listener z, which must not appear.
long=$(head -c 70000 /dev/zero | tr '\0' x)
nv_write_config "$conf" "$base
environment = BIG=$long
[listener:z]
command = $NV_LISTEN --stdout
subjects = z.in"
expect_rejected 7 "line longer than 65535 bytes"

# 2. The same through SIGHUP: logged, nothing applied.
kill -HUP "$NV_DAEMON_PID"
hup_logged() {
	[[ $(grep -cF "reload: $conf:7: line longer than 65535 bytes" \
		"$NV_DIR/natsvisord.log") -ge 2 ]]
}
wait_until 5 hup_logged || fail "SIGHUP did not log the rejected line"
assert_eq "$pa" "$(listener_pid a)" "pid of a after SIGHUP"
assert_exit 0 nvctl is-ready a
assert_exit 2 nvctl status z

# 3. A listener name of 45 bytes (the limit is 40): rejected at its line,
# never cut to a shorter name.
name45=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
nv_write_config "$conf" "$base
[listener:$name45]
command = $NV_LISTEN --stdout
subjects = long.in"
expect_rejected 7 "listener name '$name45' is longer than 40 bytes"

# 4. Long lines within the limit are applied whole.
subjects=$(seq -f 's%03g.in' 1 60 | paste -sd, | sed 's/,/, /g')
big=$(head -c 4000 /dev/zero | tr '\0' x)
nv_write_config "$conf" "$base
[listener:wide]
command  = $NV_LISTEN --inbox $NV_DIR/inbox/wide
; 60 subjects, about 600 bytes on one line
subjects = $subjects
environment = BIG=$big
; a comment line of 300 characters $(head -c 265 /dev/zero | tr '\0' .)"
(( $(awk '{ if (length > m) m = length } END { print m }' "$conf") > 4000 )) ||
	fail "the test file has no long line"
assert_exit 0 "$NV_DAEMON" --check -c "$conf"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 1 added, 0 removed, 0 restarted, 1 kept" \
	"$NV_OUT" "reload report"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" wide a
assert_eq "$pa" "$(listener_pid a)" "pid of a after the valid reload"
assert_eq 60 "$(nvctl status --json wide | jq '.listeners[0].subjects | length')" \
	"subjects of wide in status"
assert_eq s060.in "$(nvctl status --json wide | jq -r '.listeners[0].subjects[59]')" \
	"last subject of wide"
assert_exit 0 nvctl publish s060.in hi
in_inbox() { grep -rlx hi "$NV_DIR/inbox/wide/new" >/dev/null 2>&1; }
wait_until 5 in_inbox || fail "the message to s060.in is not in wide's inbox"
pw=$(listener_pid wide) || fail "no pid for wide"
assert_eq 4000 "$(environ_value "$pw" BIG | tr -d '\n' | wc -c)" \
	"length of BIG in wide's environment"
assert_exit 0 nvctl is-ready a wide
nvctl status | grep -q "last reload failed" &&
	fail "status still shows a failed reload"

nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
