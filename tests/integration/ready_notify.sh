#!/bin/bash
# sd_notify without libsystemd: with NOTIFY_SOCKET set, natsvisord sends
# STATUS= lines, READY=1 once every autostart listener is ready (and not
# before), RELOADING=1 (with MONOTONIC_USEC) then READY=1 on each reload,
# STOPPING=1 at shutdown, and WATCHDOG=1 every half WATCHDOG_USEC.  No
# listener inherits NOTIFY_SOCKET or the watchdog variables.  The
# abstract namespace (@name) works too.  The systemd unit has what the
# design asks for.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip "python3 not found"
nv_setup
nats_start

# The receiver: one line per datagram, "MS TEXT" (MS: milliseconds since
# it started, when the kernel queued the datagram (SO_TIMESTAMPNS), so
# that a receiver slow to be scheduled under load does not make gaps of
# its own; newlines inside a datagram become '|').
cat >"$NV_DIR/notify-recv.py" <<'PY'
import socket, struct, sys, time
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
addr, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
t0 = time.time()
with open(out, "a", buffering=1) as f:
    print("bound", file=sys.stderr, flush=True)
    while True:
        data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16))
        ts = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                ts = sec + nsec / 1e9
        ms = int((ts - t0) * 1000)
        text = data.decode("utf-8", "replace")
        f.write("%d %s\n" % (ms, text.replace("\n", "|")))
PY
SOCK=$NV_DIR/notify.sock
GOT=$NV_DIR/notify.txt
nv_spawn notify-recv python3 "$NV_DIR/notify-recv.py" "$SOCK" "$GOT"
wait_until 5 grep -q bound "$NV_DIR/notify-recv.log" || fail "receiver not bound"

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = n.quick
[listener:slow]
command  = sh -c 'sleep 1; exec "\$0" --stdout' $NV_LISTEN
subjects = n.slow
[listener:manual]
command   = $NV_LISTEN --stdout
subjects  = n.manual
autostart = no
EOT
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=200000 nv_daemon_start "$NV_DIR/nv.ini"
msgs() { grep -v ' WATCHDOG=1$' "$GOT" | cut -d' ' -f2-; }
wait_until 10 grep -qx '[0-9]* READY=1' "$GOT" || fail "no READY=1"
assert_exit 0 nvctl is-ready quick slow
assert_exit 1 nvctl is-ready manual

# Exactly: STATUS lines counting up, READY=1 once both autostart
# listeners are ready (manual is not autostart).
cat "$GOT"
first_ready=$(msgs | grep -nx 'READY=1' | head -n 1 | cut -d: -f1)
all_status=$(msgs | grep -nx 'STATUS=2/2 ready' | head -n 1 | cut -d: -f1)
[[ -n $all_status && $first_ready -gt $all_status ]] ||
	fail "READY=1 (line $first_ready) before STATUS=2/2 ready (line $all_status)"
msgs | head -n "$first_ready" | grep -vx 'READY=1' |
	grep -vE '^STATUS=[0-2]/2 ready(, NATS disconnected)?$' &&
	fail "unexpected message before READY=1"
msgs | grep -qx 'STATUS=1/2 ready' || fail "no STATUS=1/2 ready"
assert_eq 1 "$(msgs | grep -cx 'READY=1')" "READY=1 messages before any reload"

# The watchdog: WATCHDOG_USEC=200000 -> WATCHDOG=1 every 100 ms.
wd_count() { grep -c ' WATCHDOG=1$' "$GOT"; }
enough_wd() { (($(wd_count) >= 10)); }
wait_until 3 enough_wd || fail "WATCHDOG=1 sent $(wd_count) times"
gaps=$(grep ' WATCHDOG=1$' "$GOT" | awk 'NR > 1 && $1 - p > m { m = $1 - p }
	{ p = $1 } END { print m + 0 }')
nv_log "watchdog: $(wd_count) pings, longest gap $gaps ms (every 100 ms asked)"
((gaps <= $(nv_scale 150))) || fail "a watchdog gap of $gaps ms"

# No listener inherits the notify socket or the watchdog.
for n in quick slow; do
	p=$(listener_pid "$n")
	tr '\0' '\n' <"/proc/$p/environ" >"$NV_DIR/env.$n"
	grep -qE '^(NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID)=' "$NV_DIR/env.$n" &&
		fail "$n inherited: $(grep -E '^(NOTIFY|WATCHDOG)' "$NV_DIR/env.$n")"
	grep -q '^NATSVISOR_NAME=' "$NV_DIR/env.$n" || fail "$n's environment unread"
done

# Reloads: RELOADING=1 with MONOTONIC_USEC, then READY=1.
assert_exit 0 nvctl reload
kill -HUP "$NV_DAEMON_PID"
two_reloads() { (($(msgs | grep -c '^RELOADING=1') >= 2)); }
wait_until 5 two_reloads || fail "RELOADING=1 not sent for both reloads"
three_ready() { (($(msgs | grep -cx 'READY=1') >= 3)); }
wait_until 2 three_ready || fail "READY=1 not sent after the reloads"
msgs | grep '^RELOADING=1' | grep -vqE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$' &&
	fail "RELOADING=1 without MONOTONIC_USEC: $(msgs | grep RELOADING)"

# The server goes away: STATUS says so.
nats_stop
wait_until 3 grep -q 'STATUS=0/2 ready, NATS disconnected' "$GOT" ||
	fail "no STATUS for the outage"

nv_daemon_stop 20 || fail "exit status $?"
wait_until 2 grep -qx '[0-9]* STOPPING=1' "$GOT" || fail "no STOPPING=1"
# The whole sequence, without STATUS and WATCHDOG lines.
seq=$(msgs | grep -v '^STATUS=' | sed 's/|MONOTONIC_USEC=[0-9]*$//' | tr '\n' ' ')
assert_eq "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1 " "$seq" \
	"notification sequence"
after_stop=$(awk '/ STOPPING=1$/ { s = 1; next } s && !/ WATCHDOG=1$/' "$GOT")
[[ -z $after_stop ]] || fail "sent after STOPPING=1: $after_stop"

# The abstract namespace.
ASOCK=@nv-notify-$$-$RANDOM
AGOT=$NV_DIR/notify-abstract.txt
nv_spawn notify-recv2 python3 "$NV_DIR/notify-recv.py" "$ASOCK" "$AGOT"
wait_until 5 grep -q bound "$NV_DIR/notify-recv2.log" || fail "receiver not bound"
nats_start
nv_write_config "$NV_DIR/nv2.ini" - <<EOT
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = n.quick
EOT
NOTIFY_SOCKET=$ASOCK nv_daemon_start "$NV_DIR/nv2.ini"
wait_until 10 grep -qx '[0-9]* READY=1' "$AGOT" || fail "no READY=1 on $ASOCK"
grep -q WATCHDOG "$AGOT" && fail "WATCHDOG=1 without WATCHDOG_USEC"
# A title shorter than the command line: padded, no '.' left at its end
# (what ps shows: the whole area, NULs as spaces).
title=$(tr '\0' ' ' <"/proc/$NV_DAEMON_PID/cmdline")
[[ $title =~ ^natsvisord:\ 1/1\ ready\ *$ ]] || fail "process title: '$title'"
nv_daemon_stop 20 || fail "exit status $?"

# startup_timeout passes with a listener that never becomes ready: the
# daemon logs it and STATUS says so; no READY=1, and it keeps running.
: >"$GOT"
nv_write_config "$NV_DIR/nv3.ini" - <<EOT
startup_timeout = 1s
[listener:quick]
command  = $NV_LISTEN --stdout
subjects = n.quick
[listener:deaf]
command  = sleep 3600
subjects = n.deaf
EOT
NOTIFY_SOCKET=$SOCK nv_daemon_start "$NV_DIR/nv3.ini"
wait_until 5 grep -q 'STATUS=1/2 ready, start-up failed: not ready after startup_timeout' \
	"$GOT" || fail "no STATUS after startup_timeout"
grep -q 'warning: not ready after startup_timeout (1s): 1 of 2 listeners ready' \
	"$NV_DIR/natsvisord.log" || fail "no log line after startup_timeout"
grep -q 'READY=1' "$GOT" && fail "READY=1 although deaf is not ready"
pid_alive "$NV_DAEMON_PID" || fail "the daemon did not keep running"
# The process title says it too, padded, without libbsd's '.' marker.
title=$(tr '\0' ' ' <"/proc/$NV_DAEMON_PID/cmdline")
[[ $title =~ ^natsvisord:\ 1/2\ ready,\ start-up\ failed:\ not\ ready\ after\ startup_timeout\ *$ ]] ||
	fail "process title: '$title'"
nv_daemon_stop 20 || fail "exit status $?"

# The unit natsvisord runs under.
UNIT=$top_builddir/etc/natsvisord.service
[[ -f $UNIT ]] || fail "etc/natsvisord.service not built"
for line in Type=notify TimeoutStartSec=infinity KillMode=mixed \
	'ExecReload=/bin/kill -HUP $MAINPID' NotifyAccess=main; do
	grep -qxF "$line" "$UNIT" || fail "the unit lacks $line"
done
grep -q '^ExecStart=/.*/natsvisord ' "$UNIT" || fail "the unit's ExecStart"
grep -q '@[a-z]*@' "$UNIT" && fail "unsubstituted variables in the unit"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$UNIT" 2>&1 | grep -v 'not executable\|No such file' |
		grep -i 'error\|unknown' && fail "systemd-analyze verify"
fi
pass
