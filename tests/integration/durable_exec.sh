#!/bin/bash
# --exec: the body on stdin; subject, reply, headers, and in durable mode
# stream, sequence and delivery count in the environment.  In durable mode
# exit 0 acknowledges; any other status negatively acknowledges with a
# delay (--nak-delay, doubling) and the message comes back; a long command
# keeps its message from being redelivered.  --jobs N runs
# up to N commands at once and never more, in core and durable mode.
# --stdout lines carry stream and seq in durable mode.  Usage errors.
. "$(dirname "$0")/listen-lib.sh"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
export OUT=$NV_DIR/out
mkdir -p "$OUT"
probe stream EX "ex.>" || fail "cannot create stream"

# Records what it got; fails the first delivery of sequence 2.
cat >"$NV_DIR/record.sh" <<'H'
body=$(cat)
printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$NATS_SUBJECT" "$NATS_REPLY" \
	"$NATS_STREAM" "$NATS_SEQUENCE" "$NATS_DELIVERED" \
	"$NATS_HEADER_X_TRACE" "$body" "$(date +%s%N)" >>"$OUT/runs"
[ "$NATS_SEQUENCE" = 2 ] && [ "$NATS_DELIVERED" = 1 ] && exit 3
exit 0
H
# A request to a stream subject is answered by JetStream; the stored
# message keeps its headers.
probe request ex.a -H X-Trace:abc -t 5000 body-1 >/dev/null || fail "publish 1"
probe publish ex.b body-2 || fail "publish 2"
listen_start dx "ex.>" --exec "sh '$NV_DIR/record.sh'" --durable cx \
	--stream EX --create --nak-delay 500ms
wait_ready 15
wait_until 15 consumer_is EX cx '.ack_floor == 2 and .ack_pending == 0' ||
	fail "not acknowledged: $CONSUMER"
runs=$(cut -d'|' -f1-7 "$OUT/runs")
[[ $runs == "ex.a||EX|1|1|abc|body-1
ex.b||EX|2|1||body-2
ex.b||EX|2|2||body-2" ]] || fail "runs: $runs"
t1=$(sed -n 2p "$OUT/runs" | cut -d'|' -f8)
t2=$(sed -n 3p "$OUT/runs" | cut -d'|' -f8)
((t2 - t1 >= 450000000)) || fail "redelivered after $(((t2 - t1) / 1000000)) ms, not 500"
log_has dx "EX sequence 2 (delivery 1) not committed: command exited 3; redelivery in 500 ms" ||
	fail "no nak logged"

# More messages, one at a time; then a new consumer with --jobs 4: every
# message acknowledged by the workers.
for i in $(seq 3 22); do
	probe publish ex.n "n$i" || fail "publish n$i"
done
wait_until 15 consumer_is EX cx '.ack_floor == 22 and .ack_pending == 0' ||
	fail "sequential: not acknowledged: $CONSUMER"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "dx: exit $LISTEN_STATUS"
: >"$OUT/runs"
listen_start dj "ex.>" --exec "sh '$NV_DIR/record.sh'" --durable cj \
	--stream EX --create --jobs 4
wait_ready 15
wait_until 20 consumer_is EX cj '.ack_floor == 22 and .ack_pending == 0' ||
	fail "--jobs 4: not acknowledged: $CONSUMER"
# Sequence 2 fails its first delivery again (new consumer): 23 runs.
[[ $(wc -l <"$OUT/runs") -eq 23 ]] || fail "--jobs 4: $(wc -l <"$OUT/runs") runs, not 23"
[[ $(cut -d'|' -f4 "$OUT/runs" | sort -n | uniq | wc -l) -eq 22 ]] ||
	fail "--jobs 4: not every sequence ran"

# A command that runs longer than the acknowledgement wait is reported in
# progress, so the message is not delivered to anybody a second time.
cat >"$NV_DIR/long.sh" <<'H'
echo "$NATS_SEQUENCE $NATS_DELIVERED" >>"$OUT/long"
sleep 2.5
H
probe stream LG "lg.>" || fail "cannot create stream LG"
probe publish lg.x long || fail "publish long"
listen_start lg "lg.>" --exec "sh '$NV_DIR/long.sh'" --durable cl --stream LG \
	--create --ack-wait 1s
wait_ready 15
wait_until 15 consumer_is LG cl '.ack_floor == 1 and .ack_pending == 0' ||
	fail "long command: not acknowledged: $CONSUMER"
[[ $(<"$OUT/long") == "1 1" ]] || fail "long command ran: $(<"$OUT/long")"

# --jobs 3 in core mode: at most 3 at once, and 3 are reached.
cat >"$NV_DIR/slow.sh" <<H
echo + >>"\$OUT/conc"
sleep $(nv_scale 0.5)
echo - >>"\$OUT/conc"
H
listen_start cj3 "jb.>" --exec "sh '$NV_DIR/slow.sh'" --jobs 3
wait_ready 10
for i in 1 2 3 4 5 6 7 8; do
	probe publish "jb.$i" x || fail "publish jb.$i"
done
reply=$(probe request jb.9 -H Natsvisor-Confirm:1 -t "$(nv_scale 20)000" x) ||
	fail "--jobs: no confirmation"
[[ $reply == '{"committed":true}' ]] || fail "--jobs confirm: $reply"
wait_until 20 lines_are "$OUT/conc" - 9 ||
	fail "--jobs 3: $(grep -c -- - "$OUT/conc") of 9 commands finished"
max=$(awk '$1 == "+" { n++; if (n > m) m = n } $1 == "-" { n-- } END { print m }' "$OUT/conc")
[[ $max -eq 3 ]] || fail "--jobs 3: $max commands ran at once"
nv_log "--jobs 3: at most $max commands at once"

# --stdout in durable mode.
listen_start so "ex.>" --stdout --durable cs --stream EX --create
wait_ready 15
wait_until 10 grep -q '"seq":22' "$NV_DIR/so.log" || fail "no JSON line for seq 22"
line=$(grep '^{"subject":"ex.a"' "$NV_DIR/so.log")
jq -e '.stream == "EX" and .seq == 1 and .data == "body-1" and .headers["X-Trace"] == ["abc"]' \
	<<<"$line" >/dev/null || fail "bad JSON line: $line"

for bad in "--stdout --jobs 2" "--exec true --jobs 0" "--exec true --jobs x" \
	"--stdout --ack-wait 1s" "--stdout --durable d --stream S --ack-wait 1s" \
	"--stdout --durable d --stream S --create --ack-wait 0" \
	"--stdout --durable d --stream S --create --ack-wait 3x" \
	"--stdout --nak-delay 1s" "--stdout --max-pending -1" \
	"--stdout --max-backlog x"; do
	rc=0
	# shellcheck disable=SC2086 # the options are split on purpose
	"$NV_LISTEN" -s a $bad >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 2 ]] || fail "natsvisor-listen $bad: exit $rc, not 2"
done
listen_finish
pass
