#!/bin/bash
# Durable mode keeps the inbox exactly-once across redeliveries: a message
# whose file a reader already moved to cur/ (with or without maildir
# flags) is acknowledged without a second copy; a listener stopped past
# the acknowledgement wait gets its messages twice and keeps one copy; a
# second consumer that delivers the whole stream again into the same inbox
# adds nothing, even after everything was moved to cur/.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
inbox=$NV_DIR/inbox
probe stream RD "rd.>" || fail "cannot create stream"
for i in 1 2 3; do
	probe publish rd.x "m$i" || fail "publish m$i"
done

# As after a crash between commit and acknowledgement, with a reader that
# has moved the files meanwhile: 1 with flags, 2 without.
mkdir -p "$inbox/tmp" "$inbox/new" "$inbox/cur"
echo reader-1 >"$inbox/cur/js.RD.1:2,S"
echo reader-2 >"$inbox/cur/js.RD.2"
listen_start r1 "rd.>" --inbox "$inbox" --durable c1 --stream RD --create \
	--ack-wait 1s
wait_ready 15
wait_until 10 consumer_is RD c1 '.ack_floor == 3 and .ack_pending == 0' ||
	fail "not all acknowledged: $CONSUMER"
[[ $(ls "$inbox/new") == js.RD.3 ]] || fail "new/: $(ls "$inbox/new")"
[[ $(<"$inbox/new/js.RD.3") == m3 ]] || fail "js.RD.3"
[[ $(<"$inbox/cur/js.RD.1:2,S") == reader-1 ]] || fail "cur/js.RD.1:2,S changed"
[[ $(<"$inbox/cur/js.RD.2") == reader-2 ]] || fail "cur/js.RD.2 changed"
log_has r1 "RD sequence 1 (delivery 1) is already in the inbox" ||
	fail "no log line for sequence 1"

# Stopped, the listener misses the 1 s acknowledgement wait: the server
# delivers every message again, and both copies reach the listener.
kill -STOP "$LISTEN_PID"
for i in 4 5 6 7 8; do
	probe publish rd.x "m$i" || fail "publish m$i"
done
wait_until 20 consumer_is RD c1 '.redelivered >= 5' || {
	kill -CONT "$LISTEN_PID"
	fail "no redelivery while stopped: $CONSUMER"
}
kill -CONT "$LISTEN_PID"
wait_until 15 consumer_is RD c1 '.ack_floor == 8 and .ack_pending == 0' ||
	fail "not all acknowledged after SIGCONT: $CONSUMER"
for i in 3 4 5 6 7 8; do
	[[ $(<"$inbox/new/js.RD.$i") == "m$i" ]] || fail "js.RD.$i"
done
files_are "$inbox/new" 6 || fail "new/: $(ls "$inbox/new")"
files_are "$inbox/tmp" 0 || fail "tmp/: $(ls "$inbox/tmp")"
log_has r1 "(delivery 2) is already in the inbox" || fail "no redelivery seen"

# A reader takes everything; a new consumer delivers the stream again.
for f in "$inbox"/new/*; do
	n=${f##*/}
	case $n in
	js.RD.[357]) mv "$f" "$inbox/cur/$n:2,RS" ;;
	*) mv "$f" "$inbox/cur/$n" ;;
	esac
done
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "r1: exit $LISTEN_STATUS"
listen_start r2 "rd.>" --inbox "$inbox" --durable c2 --stream RD --create
wait_ready 15
wait_until 10 consumer_is RD c2 '.ack_floor == 8 and .ack_pending == 0' ||
	fail "c2: not all acknowledged: $CONSUMER"
files_are "$inbox/new" 0 || fail "second copies in new/: $(ls "$inbox/new")"
files_are "$inbox/cur" 8 || fail "cur/: $(ls "$inbox/cur")"
[[ $(<"$inbox/cur/js.RD.5:2,RS") == m5 ]] || fail "cur/js.RD.5:2,RS"
probe publish rd.x m9 || fail "publish m9"
wait_until 10 test -f "$inbox/new/js.RD.9" || fail "live message after redeliveries"
files_are "$inbox/new" 1 || fail "new/: $(ls "$inbox/new")"
listen_finish
pass
