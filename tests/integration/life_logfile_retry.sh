#!/bin/bash
# A log_file that cannot be opened (its directory is missing): natsvisord
# warns, writes the lines to its stderr, and tries the file again at the
# next reload and the next start of the listener, not only on its 10 s
# timer.
#  - ticker prints a line every 0.1 s into logs/t.log: once logs/ exists,
#    a reload puts its lines into the file within a second or so;
#  - once prints one line when it starts, into once/o.log: once once/
#    exists, a restart puts that line into the file.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
nv_write_config "$T/nv.ini" - <<EOT
[listener:ticker]
command  = sh -c 'while :; do echo tick; sleep 0.1; done'
log_file = $T/logs/t.log

[listener:once]
command  = sh -c 'echo "once \$\$"; exec sleep 600'
log_file = $T/once/o.log
EOT
nv_daemon_start "$T/nv.ini"
warned() {
	daemon_log_has "^natsvisord: warning: ticker: cannot open log file $T/logs/t.log" &&
		daemon_log_has "^natsvisord: warning: once: cannot open log file $T/once/o.log"
}
wait_until 10 warned || fail "no warning about the missing log directories"
daemon_log_has '^ticker: tick' || fail "ticker's lines are not on the daemon's stderr"

mkdir "$T/logs" "$T/once"
assert_exit 0 nvctl reload
has_ticks() { grep -q '^tick$' "$T/logs/t.log" 2>/dev/null; }
wait_until 2 has_ticks || fail "ticker's log file was not opened after the reload"

assert_exit 0 nvctl restart once
pid=$(listener_pid once)
has_once() { grep -qx "once $pid" "$T/once/o.log" 2>/dev/null; }
wait_until 2 has_once || fail "once's log file was not opened after its restart"

nv_daemon_stop 20 || fail "exit status $?"
pass
