# shellcheck shell=bash
#
# tests/integration/life-lib.sh: helpers for the lifecycle tests
# (life_*.sh, issue 4), on top of lib.sh (sourced here).

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v jq >/dev/null || skip "jq not found (Debian package jq)"

# state_is NAME STATE: true when NAME's state is STATE (for wait_until).
state_is() {
	[[ $(listener_state "$1" 2>/dev/null) == "$2" ]]
}

# ready_is NAME: true when `is-ready NAME` says yes.
ready_is() {
	nvctl is-ready "$1" >/dev/null 2>&1
}

# daemon_log_has REGEX: the daemon's log has a line matching REGEX (ERE).
daemon_log_has() {
	grep -Eq -- "$1" "$NV_DIR/natsvisord.log"
}

# fd_count PID: number of open descriptors of PID.
fd_count() {
	local -a fds=("/proc/$1/fd/"*)
	printf '%s\n' "${#fds[@]}"
}

# rss_kb PID: resident set size of PID in KiB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# zombies_of PID: number of zombie children of PID.
zombies_of() {
	local f stat rest n=0
	local -a st
	for f in /proc/[0-9]*/stat; do
		{ read -r stat <"$f"; } 2>/dev/null || continue
		rest=${stat##*) }
		read -r -a st <<<"$rest"
		[[ ${st[0]} == Z && ${st[1]} == "$1" ]] && n=$((n + 1))
	done
	printf '%s\n' "$n"
}

# now_ms: wall time in milliseconds (no fork).
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	printf '%s\n' "$((10#$t / 1000))"
}

# spawn_gaps FILE: the gaps in ms between consecutive $EPOCHREALTIME
# stamps (one a line) in FILE, space-separated.
spawn_gaps() {
	awk 'NR > 1 { printf "%s%d", (NR > 2 ? " " : ""), ($1 - p) * 1000 }
	     { p = $1 } END { print "" }' "$1"
}

# within LO HI VALUE: LO <= VALUE <= HI (integers).
within() {
	(($1 <= $3 && $3 <= $2))
}
