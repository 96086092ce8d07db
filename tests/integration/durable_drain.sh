#!/bin/bash
# Clean stops: SIGTERM in the middle of a stream drains the listener.  No
# acknowledged message is missing from the inbox (or from the commands'
# output), none that was not committed is lost: the next incarnation gets
# the rest, and the inbox ends with every message exactly once.  In core
# mode every message that reached the listener before the signal is
# committed.
. "$(dirname "$0")/listen-lib.sh"
[[ -x $JS_PUBLISH ]] || skip "js-publish not built (make check)"
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
N=3000	# more than a consumer lets out unacknowledged (1000)
probe stream DR "dr.>" || fail "cannot create stream"
"$JS_PUBLISH" "$NATS_URL" dr.x "$N" -p d -s 1 -t "$(nv_scale 60)" ||
	fail "js-publish"
inbox=$NV_DIR/inbox

# have_seqs DIR FIRST LAST: DIR holds js.DR.FIRST .. js.DR.LAST.
have_seqs() {
	local i
	for ((i = $2; i <= $3; i++)); do
		[[ -f $1/js.DR.$i ]] || { nv_log "missing js.DR.$i"; return 1; }
	done
}

listen_start d1 "dr.>" --inbox "$inbox" --durable cd --stream DR --create \
	--ack-wait 2s
wait_until 20 files_at_least "$inbox/new" 100 || fail "too slow"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "exit $LISTEN_STATUS after SIGTERM"
files=$(count_files "$inbox/new")
consumer_is DR cd . || fail "no consumer info"
floor=$(jq .ack_floor <<<"$CONSUMER")
nv_log "stopped with $files of $N in the inbox; consumer: $CONSUMER"
((files < N)) || fail "the test stopped the listener too late ($files files)"
# Acknowledged in order: the floor is the number acknowledged.  Those
# received but not started were handed back (negatively acknowledged).
have_seqs "$inbox/new" 1 "$floor" || fail "an acknowledged message is missing"
((floor == files)) || fail "$files files, but $floor acknowledged"
log_has d1 "messages not started handed back to the stream" ||
	fail "nothing handed back"

listen_start d2 "dr.>" --inbox "$inbox" --durable cd --stream DR
wait_until 30 consumer_is DR cd ".ack_floor == $N and .ack_pending == 0" ||
	fail "the rest never came: $CONSUMER"
files_are "$inbox/new" "$N" || fail "$(count_files "$inbox/new") files, not $N"
have_seqs "$inbox/new" 1 "$N" || fail "a message is missing"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "d2: exit $LISTEN_STATUS"

# Commands: SIGTERM waits for the running ones, and each acknowledged
# message has its output.
out=$NV_DIR/out
mkdir -p "$out"
cat >"$NV_DIR/job.sh" <<H
sleep 0.2
cat >"$out/\$NATS_SEQUENCE"
H
listen_start d3 "dr.>" --exec "sh '$NV_DIR/job.sh'" --jobs 4 --durable ce \
	--stream DR --create --ack-wait 2s
wait_until 20 files_at_least "$out" 8 || fail "commands too slow"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "d3: exit $LISTEN_STATUS after SIGTERM"
consumer_is DR ce . || fail "no consumer info"
floor=$(jq .ack_floor <<<"$CONSUMER")
nv_log "commands: stopped with $(count_files "$out") done; consumer: $CONSUMER"
for ((i = 1; i <= floor; i++)); do
	[[ $(<"$out/$i") == "d-$i" ]] || fail "acknowledged $i has no output"
done
# The commands that were running finished: no output is cut short.
for f in "$out"/*; do
	[[ $(<"$f") == "d-${f##*/}" ]] || fail "output ${f##*/}: $(<"$f")"
done

# Core mode: everything that reached the listener before SIGTERM.
listen_start c1 "core.>" --inbox "$NV_DIR/core"
wait_ready 10
probe publish core.x -n 300 c || fail "publish"
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID" 15
[[ $LISTEN_STATUS -eq 0 ]] || fail "c1: exit $LISTEN_STATUS"
files_are "$NV_DIR/core/new" 300 ||
	fail "core: $(count_files "$NV_DIR/core/new") of 300 committed"
listen_finish
pass
