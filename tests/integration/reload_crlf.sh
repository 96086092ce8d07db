#!/bin/bash
# Cases R02 and R04 at run time, through a reload and through a fresh
# start.  A file saved with a UTF-8 BOM and CRLF line ends behaves exactly
# like the plain one: reloading the CRLF copy of the running file restarts
# nothing, the last argv element in /proc/PID/cmdline is "--stdout" (not
# "--stdout\r"), and stop_timeout = 3s\r is 3 s.  A value holding ';' and
# '=' reaches the listener's environment byte for byte
# (DSN=host=db;port=5432), a quoted ';' stays in the command, and
# "# agent inbox" after a subject is a comment, not three more subjects.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

win="[listener:win]
command = $NV_LISTEN --subject win.in --stdout
subjects = win.in
stop_timeout = 3s
max_restarts = 5"
more="[listener:semi]
command     = sh -c 'echo start ; exec $NV_LISTEN --subject semi.in --stdout'
subjects    = semi.in   # agent inbox
environment = DSN=host=db;port=5432
[listener:stub]
command      = sh -c 'trap \"\" TERM; exec sleep 600'
subjects     = stub.in
stop_timeout = 3s
autostart    = no"

# crlf FILE: rewrite FILE with a BOM and CRLF line ends.
crlf() {
	{ printf '\357\273\277'; sed 's/$/\r/' "$1"; } >"$1.tmp" && mv "$1.tmp" "$1"
}

# last_arg PID: the last element of /proc/PID/cmdline, bytes shown by od.
last_arg() {
	tr '\0' '\n' <"/proc/$1/cmdline" | tail -n 1 | od -An -c | tr -s ' '
}

# check_runtime: what R02 and R04 expect of the running listeners.
check_runtime() {
	local pw ps
	assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" win semi
	pw=$(listener_pid win) || fail "no pid for win"
	assert_eq " - - s t d o u t \n" "$(last_arg "$pw")" "last argv element of win"
	ps=$(listener_pid semi) || fail "no pid for semi"
	grep -zqxF 'DSN=host=db;port=5432' "/proc/$ps/environ" ||
		fail "DSN=host=db;port=5432 not in semi's environment: $(tr '\0' '\n' <"/proc/$ps/environ" | grep DSN)"
	assert_eq '["semi.in"]' "$(listener_field semi subjects | jq -c .)" \
		"subjects of semi"
	assert_eq "exec $NV_LISTEN --subject semi.in --stdout" \
		"$(listener_field semi argv | jq -r '.[2]' | sed 's/^echo start ; //')" \
		"command of semi after the quoted ';'"
	grep -q "^semi: start$" "$NV_DIR/natsvisord.log" ||
		fail "semi's 'echo start' not in the log"
}

# stop_takes_3s: stub ignores SIGTERM, so its stop takes stop_timeout.
stop_takes_3s() {
	local t0 t1 ms
	assert_exit 0 nvctl start stub
	t0=$(_nv_now_us)
	assert_exit 0 nvctl stop stub
	t1=$(_nv_now_us)
	ms=$(((t1 - t0) / 1000))
	nv_log "stop stub took $ms ms"
	((ms >= 2500 && ms < 9000)) ||
		fail "stop of stub took $ms ms; stop_timeout = 3s was not applied"
	grep -qF "stub: sending SIGKILL to process group" "$NV_DIR/natsvisord.log" ||
		fail "no SIGKILL logged for stub"
	grep -qF "sent SIGKILL after stop_timeout (3s)" "$NV_DIR/natsvisord.log" ||
		fail "the log does not give stop_timeout as 3s"
}

# 1. Start from the plain file; reload the BOM+CRLF copy of the same
# file: nothing changes, nothing restarts.
conf=$NV_DIR/win.ini
nv_write_config "$conf" "$win"
nv_daemon_start "$conf"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" win
pw=$(listener_pid win) || fail "no pid for win"
crlf "$conf"
assert_eq "ef bb bf" "$(head -c 3 "$conf" | od -An -tx1 | tr -s ' ' | sed 's/^ //')" \
	"the file starts with a BOM"
grep -q $'\r$' "$conf" || fail "the file has no CRLF line ends"
assert_exit 0 "$NV_DAEMON" --check -c "$conf"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 0 added, 0 removed, 0 restarted, 1 kept" "$NV_OUT" \
	"reload of the CRLF copy"
assert_eq "$pw" "$(listener_pid win)" "pid of win after reloading the CRLF copy"

# 2. Add semi and stub, still BOM+CRLF, by reload.
nv_write_config "$conf" "$win
$more"
crlf "$conf"
assert_exit 0 "$NV_DAEMON" --check -c "$conf"
assert_exit 0 nvctl reload
assert_eq "reloaded $conf: 2 added, 0 removed, 0 restarted, 1 kept" "$NV_OUT" \
	"reload adding semi and stub"
assert_eq "$pw" "$(listener_pid win)" "pid of win after the second reload"
check_runtime
stop_takes_3s
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"

# 3. A fresh daemon on the BOM+CRLF file does the same.
: >"$NV_DIR/natsvisord.log"
nv_daemon_start "$conf"
check_runtime
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
