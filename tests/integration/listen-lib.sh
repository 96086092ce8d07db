# shellcheck shell=bash
#
# tests/integration/listen-lib.sh: helpers for the natsvisor-listen tests,
# on top of lib.sh (sourced here).  A listener is started the way
# natsvisord would start it (NATSVISOR_NAME, NATSVISOR_PING_SUBJECT,
# NATSVISOR_SUBJECTS, NATS_URL) and pinged with listen-probe, a small
# nats.c client built by `make check`.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LISTEN_PROBE=${LISTEN_PROBE:-$top_builddir/tests/integration/listen-probe}
LISTEN_ECHO=${LISTEN_ECHO:-$top_builddir/listeners/examples/echo-listener}
JS_PUBLISH=${JS_PUBLISH:-$top_builddir/tests/integration/js-publish}
[[ -x $NV_LISTEN ]] || skip "natsvisor-listen not built"
[[ -x $LISTEN_PROBE ]] || skip "listen-probe not built (make check)"
command -v jq >/dev/null || skip "jq not found (Debian package jq)"

LISTEN_PID=
LISTEN_PING=
LISTEN_REPLY=
LISTEN_ALL=()		# "pid name" of every listener started

# listen_start NAME SUBJECTS [ARGS...]: start natsvisor-listen as listener
# NAME with the space-separated SUBJECTS in NATSVISOR_SUBJECTS; sets
# LISTEN_PID and LISTEN_PING (its ping subject).  NATS_URL must be set.
listen_start() {
	local name=$1 subjects=$2
	shift 2
	LISTEN_PING=natsvisor.test.$name.ping.$$
	nv_spawn "$name" env NATSVISOR_NAME="$name" \
		NATSVISOR_PING_SUBJECT="$LISTEN_PING" \
		NATSVISOR_SUBJECTS="$subjects" NATS_URL="$NATS_URL" \
		"$NV_LISTEN" "$@"
	LISTEN_PID=$NV_LAST_PID
	LISTEN_ALL+=("$LISTEN_PID $name")
}

# probe ARGS...: listen-probe against $NATS_URL.
probe() {
	"$LISTEN_PROBE" "$NATS_URL" "$@"
}

# ping_reply [SUBJECT]: ping once; on any reply set LISTEN_REPLY and
# succeed.  Fails the test at once if the listener has died.
ping_reply() {
	local subj=${1:-$LISTEN_PING}
	if [[ -n $LISTEN_PID ]] && ! pid_alive "$LISTEN_PID"; then
		fail "listener (pid $LISTEN_PID) died"
	fi
	LISTEN_REPLY=$(probe request "$subj" -t 500 2>/dev/null) || return 1
}

# ping_ready [SUBJECT]: true when the listener answers {"ready":true}.
ping_ready() {
	ping_reply "$@" || return 1
	jq -e '.ready == true' <<<"$LISTEN_REPLY" >/dev/null
}

# ping_not_ready [SUBJECT]: true when the listener answers "ready":false.
ping_not_ready() {
	ping_reply "$@" || return 1
	jq -e '.ready == false' <<<"$LISTEN_REPLY" >/dev/null
}

# wait_ready [TIMEOUT]: wait until the listener answers ready.
wait_ready() {
	wait_until "${1:-10}" ping_ready ||
		fail "listener never ready (last reply: ${LISTEN_REPLY:-none})"
}

# log_has NAME TEXT: true when NAME's log contains TEXT.
log_has() {
	grep -qF -- "$2" "$NV_DIR/$1.log" 2>/dev/null
}

# count_files DIR: print the number of regular files in DIR.
count_files() {
	find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# files_are DIR N: true when DIR holds exactly N files.
files_are() {
	[[ $(count_files "$1") -eq $2 ]]
}

# consumer_is STREAM NAME JQ: true when the durable consumer's counters
# (listen-probe consumer: ack_floor, ack_pending, pending, delivered,
# redelivered) satisfy the jq expression JQ; they are kept in CONSUMER.
consumer_is() {
	CONSUMER=$(probe consumer "$1" "$2" 2>/dev/null) || return 1
	jq -e "$3" <<<"$CONSUMER" >/dev/null
}

# files_at_least DIR N: true when DIR holds N regular files or more.
files_at_least() {
	[[ $(count_files "$1") -ge $2 ]]
}

# lines_are FILE PATTERN N: true when N lines of FILE match grep PATTERN.
lines_are() {
	[[ $(grep -c -- "$2" "$1" 2>/dev/null) -eq $3 ]]
}

# wait_exit PID TIMEOUT: wait for PID (a child of this shell) to exit and
# put its exit status in LISTEN_STATUS.
wait_exit() {
	wait_pid_gone "$1" "$2" || fail "pid $1 did not exit"
	LISTEN_STATUS=0
	wait "$1" 2>/dev/null || LISTEN_STATUS=$?
}

# listen_finish: SIGTERM every listener still running; each must exit 0,
# and no log may carry a sanitizer report.  Call before pass.
listen_finish() {
	local entry pid name
	for entry in "${LISTEN_ALL[@]}"; do
		read -r pid name <<<"$entry"
		if pid_alive "$pid"; then
			kill -TERM "$pid"
			wait_exit "$pid" 15
			[[ $LISTEN_STATUS -eq 0 ]] ||
				fail "$name: exit status $LISTEN_STATUS after SIGTERM"
		fi
		if grep -qE 'Sanitizer|runtime error:' "$NV_DIR/$name.log"; then
			fail "$name: sanitizer report in its log"
		fi
	done
}
