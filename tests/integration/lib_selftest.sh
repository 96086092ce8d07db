#!/usr/bin/env bash
# Self-test of lib.sh: servers start and stop on the ports they report,
# polling is bounded, and cleanup ends every process a test started, even
# one that escaped with setsid, whether the test passes, fails or is killed.
# Needs nats-server and curl, not the natsvisor binaries.
# shellcheck disable=SC2317,SC2119 # functions called through wait_until; no args
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
nv_setup

# tcp_open PORT: true if something accepts connections on 127.0.0.1:PORT.
tcp_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
tcp_closed() {
	! tcp_open "$1"
}

nv_log "scale factor: $NV_SCALE"
assert_eq 4 "$(NV_SCALE=2 nv_scale 2)" "nv_scale"
assert_eq 0.500 "$(NV_SCALE=0.25 nv_scale 2)" "nv_scale fraction"

# free_port gives a port nobody listens on.
port=$(free_port)
[[ $port =~ ^[0-9]+$ ]] || fail "free_port printed '$port'"
tcp_closed "$port" || fail "free_port: $port is in use"

# nats_start: a server on a port of its choosing, ready, answering INFO.
nats_start a
[[ $NATS_URL == "nats://127.0.0.1:$NATS_PORT" ]] || fail "NATS_URL=$NATS_URL"
pid_alive "$NATS_PID" || fail "nats pid $NATS_PID not alive"
curl -sf "http://127.0.0.1:$NATS_MPORT/healthz" >/dev/null || fail "healthz"
exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT"
read -r -t 5 info <&3 || fail "no INFO from nats-server"
exec 3<&-
[[ $info == INFO* ]] || fail "unexpected greeting: $info"
a_pid=$NATS_PID a_port=$NATS_PORT

# A second server on a fixed port, stopped and restarted on that port.
nats_start_port "$port" b
assert_eq "$port" "$NATS_PORT" "fixed port"
b_pid=$NATS_PID
nats_stop b
pid_alive "$b_pid" && fail "nats_stop left pid $b_pid"
wait_until 5 tcp_closed "$port" || fail "port $port still open after stop"
nats_restart a
assert_eq "$a_port" "$NATS_PORT" "restart keeps the port"
[[ $NATS_PID != "$a_pid" ]] || fail "restart kept the old pid"
pid_alive "$a_pid" && fail "old server $a_pid still alive"
tcp_open "$a_port" || fail "restarted server not listening"

# wait_until: a false condition times out within its bound; a true one
# returns at once.
t0=$SECONDS
if NV_SCALE=1 wait_until 0.3 false 2>/dev/null; then
	fail "wait_until false succeeded"
fi
((SECONDS - t0 <= 2)) || fail "wait_until overran its bound"
wait_until 1 true || fail "wait_until true failed"
# A condition that becomes true while we wait.
# shellcheck disable=SC2016
nv_spawn toucher bash -c ': >"$1/touched"' _ "$NV_DIR"
wait_until 5 test -e "$NV_DIR/touched" || fail "file never appeared"

# tree_pids sees grandchildren.
nv_spawn tree bash -c 'sleep 300 & sleep 300 & wait'
tree_pid=$NV_LAST_PID
count_tree() { [[ $(tree_pids "$tree_pid" | wc -l) -eq 2 ]]; }
wait_until 5 count_tree || fail "tree_pids: $(tree_pids "$tree_pid" | tr '\n' ' ')"

# assert_exit and listener_pid (against a stand-in natsvisorctl).
assert_exit 3 bash -c 'exit 3'
cat >"$NV_DIR/fakectl" <<'EOF'
#!/bin/sh
echo '{"version":1,"listeners":[{"name":"core-x","state":"running","health":"ready","pid":4242},{"name":"bridge","state":"backoff","health":"pending","pid":0}]}'
EOF
chmod +x "$NV_DIR/fakectl"
assert_eq 4242 "$(NV_CTL=$NV_DIR/fakectl listener_pid core-x)" "listener_pid"
assert_eq running "$(NV_CTL=$NV_DIR/fakectl listener_state core-x)" "listener_state"
if NV_CTL=$NV_DIR/fakectl listener_pid bridge >/dev/null; then
	fail "listener_pid found a pid for a listener without one"
fi

# nv_write_config.
NV_SOCK=$NV_DIR/ctl.sock nv_write_config "$NV_DIR/c.ini" "[listener:x]"
grep -qx "nats_url = $NATS_URL" "$NV_DIR/c.ini" || fail "config: nats_url"
grep -qx "control_socket = $NV_DIR/ctl.sock" "$NV_DIR/c.ini" || fail "config: socket"
grep -qx "\[listener:x\]" "$NV_DIR/c.ini" || fail "config: text"
nv_write_config "$NV_DIR/d.ini" - <<EOF
startup_timeout = 5s
[listener:y]
EOF
grep -qx "startup_timeout = 5s" "$NV_DIR/d.ini" || fail "config: stdin"
grep -qx "\[listener:y\]" "$NV_DIR/d.ini" || fail "config: stdin section"

# Cleanup: a nested test starts a server, a process tree and a process that
# escapes with setsid, records their pids, and ends in three ways.
cat >"$NV_DIR/inner.sh" <<'EOF'
set -euo pipefail
. "$1"
nv_setup
out=$2 how=$3
nats_start
nv_spawn tree bash -c 'sleep 300 & sleep 300 & wait'
has_kids() { [[ -n $(tree_pids "$1") ]]; }
wait_until 5 has_kids "$NV_LAST_PID"
# An escaped process: its parent exits, it has its own session.
bash -c 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! >"$1"' _ "$NV_DIR/escaped"
wait_until 5 test -s "$NV_DIR/escaped"
{ echo "$NATS_PID" "$NV_LAST_PID"; tree_pids "$NV_LAST_PID"; cat "$NV_DIR/escaped"; } | tr '\n' ' ' >"$out.pids"
echo "$NV_DIR" >"$out.dir"
echo "inner server log marker" >>"$NV_DIR/nats.log"
case $how in
fail) fail "deliberate failure" ;;
term) kill -TERM $$; wait_until 10 false ;;
pass) pass ;;
esac
EOF

for how in fail term pass; do
	rc=0
	KEEP=0 bash "$NV_DIR/inner.sh" "$here/lib.sh" "$NV_DIR/$how" "$how" \
		>"$NV_DIR/$how.out" 2>&1 || rc=$?
	case $how in
	fail) want=1 ;;
	term) want=143 ;;
	pass) want=0 ;;
	esac
	[[ $rc -eq $want ]] || { cat "$NV_DIR/$how.out"; fail "inner $how: exit $rc, want $want"; }
	read -r -a pids <"$NV_DIR/$how.pids" || true
	((${#pids[@]} >= 5)) || fail "inner $how recorded only: ${pids[*]}"
	for p in "${pids[@]}"; do
		wait_pid_gone "$p" 2 || fail "inner $how left pid $p alive"
	done
	inner_dir=$(<"$NV_DIR/$how.dir")
	[[ ! -e $inner_dir ]] || fail "inner $how left $inner_dir"
	if [[ $how == pass ]]; then
		grep -q "inner server log marker" "$NV_DIR/$how.out" &&
			fail "inner pass printed logs"
	else
		grep -q "inner server log marker" "$NV_DIR/$how.out" ||
			{ cat "$NV_DIR/$how.out"; fail "inner $how did not print the logs"; }
	fi
	nv_log "cleanup after '$how': ok (${pids[*]})"
done

# KEEP=1 keeps the work directory.
KEEP=1 bash "$NV_DIR/inner.sh" "$here/lib.sh" "$NV_DIR/keep" pass >/dev/null 2>&1
inner_dir=$(<"$NV_DIR/keep.dir")
[[ -d $inner_dir ]] || fail "KEEP=1 removed $inner_dir"
rm -rf "$inner_dir"

# nv_kill_all ends what this test started; nothing carrying its marker
# is left.
nv_kill_all
left=$(nv_leftovers)
[[ -z $left ]] || fail "left after nv_kill_all: $left"
pass
