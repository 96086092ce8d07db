#!/bin/bash
# Relative paths in the configuration (control_socket, pidfile, a
# listener's directory and log_file) are taken from the directory of the
# file that sets them, not from the daemon's working directory: the
# daemon runs from / here, and natsvisorctl -c FILE, run from yet another
# directory, finds the same socket; with no daemon, it says where the
# socket's path came from.
. "$(dirname "$0")/lib.sh"
nv_setup
nats_start

C=$NV_DIR/conf
mkdir -p "$C/run" "$C/work" "$NV_DIR/elsewhere"
cat >"$C/nv.ini" <<EOT
[natsvisor]
nats_url       = $NATS_URL
control_socket = run/ctl.sock
pidfile        = run/nv.pid
[listener:w]
command   = sh -c 'echo hello; exec sleep 600'
directory = work
log_file  = work/w.log
EOT
assert_exit 0 "$NV_DAEMON" --check -c "$C/nv.ini"
NV_SOCK=$C/run/ctl.sock
nv_spawn natsvisord env -C / "$NV_DAEMON" -c "$C/nv.ini"
NV_DAEMON_PID=$NV_LAST_PID
wait_until 15 _nv_daemon_answers || fail "no daemon on $NV_SOCK"
[[ -S $C/run/ctl.sock ]] || fail "the socket is not under the file's directory"
assert_eq "$NV_DAEMON_PID" "$(cat "$C/run/nv.pid")" "pidfile"
pid_of_w() { listener_pid w >/dev/null; }
wait_until 10 pid_of_w || fail "w never started"
assert_eq "$C/work" "$(readlink "/proc/$(listener_pid w)/cwd")" "w's directory"
has_hello() { grep -q hello "$C/work/w.log" 2>/dev/null; }
wait_until 10 has_hello || fail "w's output is not in work/w.log"
# natsvisorctl -c, from another directory
(cd "$NV_DIR/elsewhere" && "$NV_CTL" -c ../conf/nv.ini status w) >"$NV_DIR/st.out" 2>&1 ||
	fail "natsvisorctl -c ../conf/nv.ini: $(cat "$NV_DIR/st.out")"
grep -q '^w ' "$NV_DIR/st.out" || fail "status of w: $(cat "$NV_DIR/st.out")"
nv_daemon_stop || fail "exit status $?"
# Nothing answers now: the message says where the path came from.
(cd "$NV_DIR/elsewhere" && "$NV_CTL" -c ../conf/nv.ini status w) >"$NV_DIR/st.out" 2>&1
assert_eq 3 "$?" "natsvisorctl -c with no daemon"
grep -qF "no daemon answers on $C/run/ctl.sock, control_socket in ../conf/nv.ini" "$NV_DIR/st.out" ||
	fail "the message does not name control_socket: $(cat "$NV_DIR/st.out")"
(cd "$NV_DIR/elsewhere" && NATSVISOR_SOCKET=$C/run/ctl.sock "$NV_CTL" status w) >"$NV_DIR/st.out" 2>&1
grep -qF "from NATSVISOR_SOCKET" "$NV_DIR/st.out" ||
	fail "the message does not name NATSVISOR_SOCKET: $(cat "$NV_DIR/st.out")"
pass
