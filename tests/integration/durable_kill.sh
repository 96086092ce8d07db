#!/bin/bash
# The issue's acceptance test.  natsvisord supervises a durable
# natsvisor-listen; a publisher stores COUNT messages in the stream
# (JetStream publish with acknowledgements and a message id, retried until
# stored once) while the listener is killed with SIGKILL three times at
# random moments; afterwards the inbox holds every message exactly once:
# prints sent/received/duplicates.  Then in core mode, natsvisorctl
# publish --confirm runs in a loop while the listener is killed three
# times: every message for which it exited 0 is in the inbox.
#
# DURABLE_KILL_COUNT (default 2000; the issue says 10000) and
# DURABLE_KILL_CORE (default 200) set the sizes; the publisher is paced to
# DURABLE_KILL_RATE messages a second (default 300, below what the
# listener commits on a slow disk), so that the kills fall while it runs.
. "$(dirname "$0")/listen-lib.sh"
[[ -x $JS_PUBLISH ]] || skip "js-publish not built (make check)"
N=${DURABLE_KILL_COUNT:-2000}
CORE_N=${DURABLE_KILL_CORE:-200}
RATE=${DURABLE_KILL_RATE:-300}
nv_setup
nats_start nats -js -sd "$NV_DIR/js"
probe stream KILL "kill.>" || fail "cannot create stream"
inbox=$NV_DIR/inbox
core=$NV_DIR/core
nv_write_config "$NV_DIR/nv.ini" - <<EOT
[listener:dur]
command = $NV_LISTEN --inbox $inbox --durable dur --stream KILL --create --ack-wait 5s
subjects = kill.>
backoff_initial = 50ms

[listener:core]
command = $NV_LISTEN --inbox $core
subjects = core.>
backoff_initial = 50ms
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 15)s"

# kill_listener NAME: SIGKILL NAME's process; wait for its successor.
kill_listener() {
	local old p
	old=$(listener_pid "$1") || fail "no pid for $1"
	kill -KILL "$old"
	_new() { p=$(listener_pid "$1") && [[ $p != "$old" ]]; }
	wait_until 10 _new "$1" || fail "$1 not restarted after SIGKILL"
}

# Three kill points, at random fractions of the work done.
points=$((RANDOM % (N / 5) + 1))
points+=" $((N / 4 + RANDOM % (N / 5)))"
points+=" $((N / 2 + RANDOM % (N / 3)))"
"$JS_PUBLISH" "$NATS_URL" kill.x "$N" -p d -s 1 -r "$RATE" \
	-t "$(nv_scale $((120 + N / RATE)))" \
	>"$NV_DIR/pub.out" 2>"$NV_DIR/pub.err" &
pubpid=$!
nv_track "$pubpid" js-publish "$NV_DIR/pub.err"
start=$EPOCHREALTIME
for at in $points; do
	wait_until $((60 + N / RATE)) files_at_least "$inbox/new" "$at" ||
		fail "inbox stuck below $at: $(count_files "$inbox/new")"
	running=done
	pid_alive "$pubpid" && running=running
	kill_listener dur
	nv_log "SIGKILL at $(count_files "$inbox/new") files (publisher $running)"
done
wait_pid_gone "$pubpid" $((120 + N / RATE)) || fail "publisher did not finish"
rc=0
wait "$pubpid" || rc=$?
[[ $rc -eq 0 ]] || fail "js-publish: exit $rc: $(<"$NV_DIR/pub.err")"
read -r _ sent _ retries _ <"$NV_DIR/pub.out"
wait_until "$((60 + N / 100))" consumer_is KILL dur \
	".ack_floor == $N and .ack_pending == 0" ||
	fail "not everything acknowledged: $CONSUMER"
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# bodies DIR: the body of every file in DIR, one a line.
bodies() {
	find "$1" -type f -exec sh -c 'for f; do cat "$f"; echo; done' sh {} +
}
files=$(count_files "$inbox/new")
bodies "$inbox/new" >"$NV_DIR/bodies"
distinct=$(sort -u "$NV_DIR/bodies" | wc -l)
duplicates=$(($(wc -l <"$NV_DIR/bodies") - distinct))
seq 1 "$N" | sed 's/^/d-/' | sort >"$NV_DIR/expected"
sort -u "$NV_DIR/bodies" | cmp -s - "$NV_DIR/expected" ||
	fail "the inbox does not hold d-1 .. d-$N"
echo "durable: sent/received/duplicates = $sent/$distinct/$duplicates" \
	"($files files, $retries publish retries, 3 SIGKILLs," \
	"$(listener_field dur restarts) restarts, ${secs}s)"
[[ $sent == "$N" && $distinct == "$N" && $duplicates == 0 && $files == "$N" ]] ||
	fail "durable: expected $N/$N/0"
files_are "$inbox/cur" 0 || fail "cur/ is not empty"

# Core mode: confirmed publishes in a loop, three kills on the way.
results_at_least() {
	[[ -f $1 ]] && (($(wc -l <"$1") >= $2))
}
(
	for ((i = 1; i <= CORE_N; i++)); do
		rc=0
		"$NV_CTL" -s "$NV_SOCK" publish --confirm --timeout 5s core.x \
			"c-$i" >/dev/null 2>&1 || rc=$?
		echo "$i $rc"
	done >"$NV_DIR/core.results"
) &
loop=$!
nv_track "$loop" core-loop
for at in $((RANDOM % (CORE_N / 4) + 1)) $((CORE_N / 4 + RANDOM % (CORE_N / 4))) \
	$((CORE_N / 2 + RANDOM % (CORE_N / 3))); do
	wait_until 60 results_at_least "$NV_DIR/core.results" "$at" ||
		fail "core: stuck below $at publishes"
	kill_listener core
	nv_log "core: SIGKILL after $(wc -l <"$NV_DIR/core.results") publishes"
done
wait_pid_gone "$loop" 300 || fail "core publish loop did not finish"
wait "$loop" 2>/dev/null || true
confirmed=$(awk '$2 == 0' "$NV_DIR/core.results" | wc -l)
missing=0
declare -A have=()
while read -r b; do
	have[$b]=1
done < <(bodies "$core/new")
while read -r i rc; do
	[[ $rc == 0 ]] || continue
	[[ -n ${have[c-$i]:-} ]] || { missing=$((missing + 1)); nv_log "confirmed c-$i missing"; }
done <"$NV_DIR/core.results"
codes=$(sort -k2n "$NV_DIR/core.results" | awk '{ n[$2]++ } END {
	for (c in n) printf "%sexit %s: %d", (k++ ? ", " : ""), c, n[c] }')
echo "core: published/confirmed/in-inbox/missing = $CORE_N/$confirmed/$((confirmed - missing))/$missing" \
	"($(count_files "$core/new") files; $codes)"
((missing == 0)) || fail "core: $missing confirmed messages are not in the inbox"
((confirmed > 0)) || fail "core: nothing confirmed"
nv_daemon_stop 20 || fail "natsvisord exit status $? after SIGTERM"
pass
