# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the tests
#
# tests/integration/lib.sh: sourced by every integration test (bash).
#
# A test runs real binaries against a real nats-server in a private
# temporary directory, synchronises on observable states with bounded
# polling (never a bare `sleep N`), and ends everything it started by pid.
#
#	. "$(dirname "$0")/lib.sh"
#	nv_setup
#	nats_start
#	nv_write_config "$NV_DIR/nv.ini" - <<-EOF
#	[listener:a]
#	command = $NV_LISTEN --inbox $NV_DIR/inbox/a
#	subjects = a.>
#	EOF
#	nv_daemon_start "$NV_DIR/nv.ini"
#	nvctl wait-ready --timeout "$(nv_scale 10)s" a || fail "a never ready"
#	pass
#
# Timeouts given to the helpers are in seconds (fractions allowed) and are
# multiplied by the time scale: NV_TIME_SCALE if set, else 4 under
# sanitizers (NV_SANITIZERS non-empty, set by the Makefile) or valgrind
# (NV_VALGRIND non-empty), else 1.  Exit codes follow automake: 0 pass,
# 77 skip, 99 hard error, anything else fail.  KEEP=1 keeps the work dir.

# Paths to the programs under test; the Makefile exports top_builddir.
: "${top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
NV_DAEMON=${NV_DAEMON:-$top_builddir/supervisor/natsvisord}
NV_CTL=${NV_CTL:-$top_builddir/supervisor/natsvisorctl}
NV_LISTEN=${NV_LISTEN:-$top_builddir/listeners/natsvisor-listen}
if [[ -z ${NATS_SERVER:-} ]]; then
	NATS_SERVER=$(command -v nats-server ||
		{ [[ -x /usr/sbin/nats-server ]] && echo /usr/sbin/nats-server; } ||
		true)
fi

# The time scale (a number, may be fractional).
if [[ -n ${NV_TIME_SCALE:-} ]]; then
	NV_SCALE=$NV_TIME_SCALE
elif [[ -n ${NV_SANITIZERS:-} || -n ${NV_VALGRIND:-} ]]; then
	NV_SCALE=4
else
	NV_SCALE=1
fi

NV_DIR=
NV_SOCK=
NV_PIDS=()		# every pid the test started, in start order
declare -A NV_PID_NAME=()	# pid -> name, for messages
NV_LOGS=()		# log files printed when the test fails
declare -A NV_NATS_PID=() NV_NATS_PORT=() NV_NATS_MPORT=() NV_NATS_DIR=()
NV_DAEMON_PID=
NV_LAST_PID=
NV_OUT=
_NV_CLEANED=

# nv_log MSG...: a line of the test's own narration, on stderr.
nv_log() {
	printf '# %s\n' "$*" >&2
}

# fail MSG: the test failed; the EXIT trap cleans up and prints logs.
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# skip MSG: the test cannot run here (automake SKIP).
skip() {
	printf 'SKIP: %s\n' "$*" >&2
	exit 77
}

# pass [MSG]: the test passed.
pass() {
	printf 'PASS%s\n' "${1:+: $*}"
	exit 0
}

# nv_scale SECONDS: SECONDS multiplied by the time scale (prints a number).
nv_scale() {
	awk -v s="$1" -v f="$NV_SCALE" 'BEGIN { v = s * f;
		if (v == int(v)) printf "%d\n", v; else printf "%.3f\n", v }'
}

# _nv_now_us: monotonic-enough wall time in microseconds (no fork).
_nv_now_us() {
	local t=${EPOCHREALTIME/[.,]/}
	printf '%s' "$((10#$t))"
}

# _nv_deadline SECONDS: the deadline (microseconds) SECONDS*scale from now.
_nv_deadline() {
	local us
	us=$(awk -v s="$1" -v f="$NV_SCALE" 'BEGIN { printf "%d", s * f * 1000000 }')
	printf '%s' "$(($(_nv_now_us) + us))"
}

# wait_until TIMEOUT CMD...: run CMD every 20 ms (100 ms after the first
# second) until it succeeds (return 0) or TIMEOUT*scale seconds pass
# (return 1, with a message on stderr).
wait_until() {
	local timeout=$1 deadline n=0
	shift
	deadline=$(_nv_deadline "$timeout")
	while :; do
		if "$@"; then
			return 0
		fi
		if (($(_nv_now_us) >= deadline)); then
			printf 'wait_until: timed out after %ss: %s\n' \
				"$(nv_scale "$timeout")" "$*" >&2
			return 1
		fi
		if ((n++ < 50)); then
			sleep 0.02
		else
			sleep 0.1
		fi
	done
}

# pid_alive PID: true if PID exists and is not a zombie.
pid_alive() {
	local stat rest
	[[ -n $1 ]] || return 1
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	[[ ${rest:0:1} != Z && ${rest:0:1} != X ]]
}

# _nv_pid_gone PID: negation of pid_alive, for wait_until.
_nv_pid_gone() {
	! pid_alive "$1"
}

# wait_pid_gone PID TIMEOUT: wait until PID has exited (a zombie counts as
# gone); return 1 if it is still alive after TIMEOUT*scale seconds.
wait_pid_gone() {
	wait_until "$2" _nv_pid_gone "$1"
}

# tree_pids PID: print every live descendant of PID (not PID itself), one
# per line, found by walking the ppid field of /proc/*/stat.
tree_pids() {
	local -A kids=()
	local f stat rest pid ppid
	local -a st queue
	for f in /proc/[0-9]*/stat; do
		{ read -r stat <"$f"; } 2>/dev/null || continue
		pid=${f#/proc/}
		pid=${pid%/stat}
		rest=${stat##*) }
		read -r -a st <<<"$rest"
		[[ ${st[0]} == Z ]] && continue
		ppid=${st[1]}
		kids[$ppid]+="$pid "
	done 2>/dev/null
	queue=("$1")
	while ((${#queue[@]})); do
		pid=${queue[0]}
		queue=("${queue[@]:1}")
		for f in ${kids[$pid]:-}; do
			printf '%s\n' "$f"
			queue+=("$f")
		done
	done
	return 0
}

# nv_leftovers: print pids of live processes that carry this test's marker
# (NV_TEST_ID in their environment), other than the test shell itself.
# Everything a test starts inherits the marker unless it clears its
# environment, so this finds processes that escaped with setsid too.
nv_leftovers() {
	local d pid kv
	[[ -n ${NV_TEST_ID:-} ]] || return 0
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		while IFS= read -r -d '' kv; do
			if [[ $kv == "NV_TEST_ID=$NV_TEST_ID" ]]; then
				pid_alive "$pid" && printf '%s\n' "$pid"
				break
			fi
		done 2>/dev/null <"$d/environ"
	done 2>/dev/null
	return 0
}

# nv_track PID [NAME [LOG]]: clean PID up at exit; print LOG on failure.
nv_track() {
	NV_PIDS+=("$1")
	local log
	NV_PID_NAME[$1]=${2:-pid $1}
	if [[ -n ${3:-} ]]; then
		for log in "${NV_LOGS[@]}"; do
			[[ $log == "$3" ]] && return 0
		done
		NV_LOGS+=("$3")
	fi
}

# nv_spawn NAME CMD...: start CMD in the background in its own session
# (so its process group can be killed), stdin from /dev/null, output to
# $NV_DIR/NAME.log; track it; the pid is in NV_LAST_PID.
nv_spawn() {
	local name=$1 log
	shift
	log=$NV_DIR/$name.log
	setsid "$@" </dev/null >>"$log" 2>&1 &
	NV_LAST_PID=$!
	nv_track "$NV_LAST_PID" "$name" "$log"
}

# _nv_kill PID: SIGTERM PID (and its group if it leads one), wait a
# bounded time, then SIGKILL it, its group and every descendant seen.
_nv_kill() {
	local pid=$1 pgid desc stat rest
	local -a st
	pid_alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	desc=$(tree_pids "$pid")
	pgid=
	if { read -r stat <"/proc/$pid/stat"; } 2>/dev/null; then
		rest=${stat##*) }
		read -r -a st <<<"$rest"
		pgid=${st[2]}
	fi
	kill -TERM "$pid" 2>/dev/null || true
	if [[ $pgid == "$pid" ]]; then
		kill -TERM -- "-$pgid" 2>/dev/null || true
	fi
	if ! wait_until "${NV_KILL_WAIT:-5}" _nv_pid_gone "$pid" 2>/dev/null; then
		nv_log "cleanup: ${NV_PID_NAME[$pid]:-pid $pid} ignored SIGTERM; SIGKILL"
	fi
	desc+=$'\n'$(tree_pids "$pid")
	if [[ $pgid == "$pid" ]]; then
		kill -KILL -- "-$pgid" 2>/dev/null || true
	fi
	kill -KILL "$pid" 2>/dev/null || true
	# shellcheck disable=SC2086 # word splitting of the pid list is wanted
	[[ -z ${desc//[[:space:]]/} ]] || kill -KILL $desc 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# nv_kill_all: end everything the test started (newest first), then any
# process still carrying the test's marker.
nv_kill_all() {
	local i pid left
	for ((i = ${#NV_PIDS[@]} - 1; i >= 0; i--)); do
		_nv_kill "${NV_PIDS[$i]}"
	done
	left=$(nv_leftovers)
	if [[ -n $left ]]; then
		nv_log "cleanup: killing leftover processes: ${left//$'\n'/ }"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null || true
		for pid in $left; do
			wait_pid_gone "$pid" 2 2>/dev/null || true
		done
	fi
	return 0
}

# _nv_print_logs: show every registered log (bounded) on stderr.
_nv_print_logs() {
	local log
	for log in "${NV_LOGS[@]}"; do
		[[ -f $log ]] || continue
		printf '\n----- %s (last 200 lines) -----\n' "$log" >&2
		tail -n 200 "$log" >&2
	done
	[[ ${#NV_LOGS[@]} -eq 0 ]] || printf -- '----- end of logs -----\n' >&2
}

# _nv_on_exit STATUS: the EXIT trap.
_nv_on_exit() {
	local status=$1
	set +e
	[[ -n $_NV_CLEANED ]] && return
	_NV_CLEANED=1
	trap - INT TERM HUP
	nv_kill_all
	if [[ $status -ne 0 && $status -ne 77 ]]; then
		_nv_print_logs
	fi
	if [[ -n $NV_DIR && -d $NV_DIR ]]; then
		if [[ ${KEEP:-0} == 1 ]]; then
			nv_log "KEEP=1: work directory kept: $NV_DIR"
		else
			rm -rf -- "$NV_DIR"
		fi
	fi
}

# nv_setup: create the work dir NV_DIR, mark the test's processes, and set
# the traps that end them whatever happens.
nv_setup() {
	local base=${TMPDIR:-/tmp}
	NV_DIR=$(mktemp -d "$base/nv-test.XXXXXX") || exit 99
	# A Unix socket path must stay well under 108 bytes.
	if ((${#NV_DIR} > 80)); then
		rmdir "$NV_DIR"
		NV_DIR=$(mktemp -d /tmp/nv-test.XXXXXX) || exit 99
	fi
	NV_SOCK=$NV_DIR/ctl.sock
	NV_TEST_ID=$NV_DIR
	export NV_TEST_ID
	trap '_nv_on_exit $?' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# _nv_nats_read_ports DIR: set _nv_port and _nv_mport from the ports file.
_nv_nats_read_ports() {
	local f text
	_nv_port='' _nv_mport=''
	for f in "$1"/*.ports; do
		[[ -f $f ]] || return 1
		text=$(<"$f")
		[[ $text =~ nats://[^\"]*:([0-9]+) ]] || return 1
		_nv_port=${BASH_REMATCH[1]}
		[[ $text =~ http://[^\"]*:([0-9]+) ]] || return 1
		_nv_mport=${BASH_REMATCH[1]}
		return 0
	done
	return 1
}

# _nv_nats_up PID DIR: true once the ports file is complete; fails the
# test at once if the server has exited (e.g. its port was taken).
_nv_nats_up() {
	_nv_nats_read_ports "$2" && return 0
	pid_alive "$1" || fail "nats-server (pid $1) exited at start"
	return 1
}

# _nv_healthz MPORT: true when the server's /healthz answers 200.
_nv_healthz() {
	curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz"
}

# _nv_nats_launch NAME PORT [ARGS...]: start a server; PORT -1 = any.
_nv_nats_launch() {
	local name=$1 port=$2 pdir pid
	shift 2
	[[ -n $NV_DIR ]] || fail "nats_start: call nv_setup first"
	[[ -n $NATS_SERVER && -x $NATS_SERVER ]] ||
		fail "nats-server not found (install the Debian package nats-server)"
	command -v curl >/dev/null ||
		fail "curl not found (install the Debian package curl)"
	pdir=$NV_DIR/$name.ports.d
	rm -rf "$pdir"
	mkdir -p "$pdir"
	nv_spawn "$name" "$NATS_SERVER" -a 127.0.0.1 -p "$port" -m -1 \
		--ports_file_dir "$pdir" "$@"
	pid=$NV_LAST_PID
	wait_until 10 _nv_nats_up "$pid" "$pdir" ||
		fail "nats-server $name wrote no ports file"
	wait_until 10 _nv_healthz "$_nv_mport" ||
		fail "nats-server $name: /healthz never answered 200"
	NV_NATS_PID[$name]=$pid
	NV_NATS_PORT[$name]=$_nv_port
	NV_NATS_MPORT[$name]=$_nv_mport
	NV_NATS_DIR[$name]=$pdir
	NATS_PID=$pid
	NATS_PORT=$_nv_port
	NATS_MPORT=$_nv_mport
	NATS_URL=nats://127.0.0.1:$_nv_port
	export NATS_URL NATS_PORT NATS_PID NATS_MPORT
}

# nats_start [NAME [ARGS...]]: start nats-server NAME (default "nats") on
# a free loopback port chosen by the server itself, wait for /healthz, and
# export NATS_URL, NATS_PORT, NATS_MPORT (monitoring) and NATS_PID.
nats_start() {
	local name=${1:-nats}
	shift || true
	_nv_nats_launch "$name" -1 "$@"
}

# nats_start_port PORT [NAME [ARGS...]]: the same on a fixed port (to
# restart a server where its clients expect it).
nats_start_port() {
	local port=$1 name=${2:-nats}
	shift 2 || shift $#
	_nv_nats_launch "$name" "$port" "$@"
}

# nats_stop [NAME]: SIGTERM server NAME (default "nats") and wait for it
# to exit (SIGKILL after a bounded wait).
nats_stop() {
	local name=${1:-nats} pid
	pid=${NV_NATS_PID[$name]:-}
	[[ -n $pid ]] || fail "nats_stop: no server named $name"
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait_pid_gone "$pid" 10; then
		nv_log "nats_stop: $name ignored SIGTERM; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_pid_gone "$pid" 5 || fail "nats_stop: $name (pid $pid) survives SIGKILL"
	fi
	wait "$pid" 2>/dev/null || true
	unset 'NV_NATS_PID[$name]'
	return 0
}

# nats_restart [NAME]: stop server NAME and start it on the same port.
nats_restart() {
	local name=${1:-nats} port
	port=${NV_NATS_PORT[$name]:-}
	[[ -n $port ]] || fail "nats_restart: no server named $name"
	nats_stop "$name"
	nats_start_port "$port" "$name"
}

# nats_users_conf SUP_PASSWORD [SUP_PERMISSIONS]: write $NV_DIR/server.conf
# (for nats_start nats -c) with two users: sup, the daemon's, with
# SUP_PASSWORD and the permissions block body SUP_PERMISSIONS, and lsn
# (password lp) for listeners.
nats_users_conf() {
	local perm=
	[[ -z ${2:-} ]] || perm=", permissions: {$2}"
	cat >"$NV_DIR/server.conf" <<-EOT
	authorization {
	  users = [
	    {user: sup, password: "$1"$perm}
	    {user: lsn, password: "lp"}
	  ]
	}
	EOT
}

# nats_reload: server "nats" reads its configuration again (SIGHUP); wait
# until its log says so.
nats_reload() {
	local n
	_nv_reloads() { grep -c 'Reloaded server configuration' "$NV_DIR/nats.log"; }
	n=$(_nv_reloads)
	kill -HUP "${NV_NATS_PID[nats]}"
	wait_until 5 eval '(($(_nv_reloads) > n))' || fail "the server did not reload"
}

# free_port: print a loopback TCP port that no socket uses now, chosen
# below the kernel's ephemeral range (so outgoing connections never take
# it).  It may still be taken before it is bound: prefer `-p -1`.
free_port() {
	local used=' ' f sl local_addr rest lo=32768 port i
	if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
		read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	fi
	((lo > 12000)) || lo=32768
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r sl local_addr rest; do
			[[ $sl == sl ]] && continue
			used+="$((16#${local_addr##*:})) "
		done <"$f"
	done
	for ((i = 0; i < 500; i++)); do
		port=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
		if [[ $used != *" $port "* ]]; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	return 1
}

# nv_write_config FILE [TEXT|-]: write a natsvisord configuration with a
# [natsvisor] section holding nats_url (when NATS_URL is set) and
# control_socket = $NV_SOCK, followed by TEXT (stdin when TEXT is "-").
# Lines of TEXT before its first section header belong to [natsvisor].
nv_write_config() {
	local file=$1
	{
		printf '[natsvisor]\n'
		if [[ -n ${NATS_URL:-} ]]; then
			printf 'nats_url = %s\n' "$NATS_URL"
		fi
		printf 'control_socket = %s\n' "$NV_SOCK"
		if [[ ${2:-} == - ]]; then
			cat
		elif [[ -n ${2:-} ]]; then
			printf '%s\n' "$2"
		fi
	} >"$file"
}

# nvctl ARGS...: natsvisorctl talking to this test's daemon.
nvctl() {
	"$NV_CTL" -s "$NV_SOCK" "$@"
}

# _nv_daemon_answers: true once natsvisorctl reaches the daemon; fails the
# test at once if the daemon has exited.
_nv_daemon_answers() {
	local rc=0
	nvctl status >/dev/null 2>&1 || rc=$?
	if [[ $rc -eq 0 || $rc -eq 1 ]]; then
		return 0
	fi
	if ! pid_alive "$NV_DAEMON_PID"; then
		rc=0
		wait "$NV_DAEMON_PID" 2>/dev/null || rc=$?
		fail "natsvisord exited during start-up (status $rc)"
	fi
	return 1
}

# nv_daemon_start CONFIG [ARGS...]: start natsvisord -c CONFIG ARGS in the
# foreground (as a background job of the test), output to
# $NV_DIR/natsvisord.log, and wait until natsvisorctl gets an answer on the
# config's control_socket (NV_SOCK).  The pid is in NV_DAEMON_PID.
nv_daemon_start() {
	local config=$1 sock
	shift
	[[ -x $NV_DAEMON ]] || fail "natsvisord not built: $NV_DAEMON"
	sock=$(sed -n 's/^[[:space:]]*control_socket[[:space:]]*=[[:space:]]*//p' \
		"$config" | tail -n 1)
	sock=${sock%"${sock##*[![:space:]]}"}
	[[ -n $sock ]] && NV_SOCK=$sock
	nv_spawn natsvisord "$NV_DAEMON" -c "$config" "$@"
	NV_DAEMON_PID=$NV_LAST_PID
	wait_until 15 _nv_daemon_answers ||
		fail "natsvisord never answered on $NV_SOCK"
}

# nv_daemon_stop [TIMEOUT]: SIGTERM the daemon, wait up to TIMEOUT*scale
# seconds (default 15) for it to exit, and return its exit status (fails
# the test if it does not exit).
nv_daemon_stop() {
	local rc=0
	[[ -n $NV_DAEMON_PID ]] || fail "nv_daemon_stop: no daemon"
	kill -TERM "$NV_DAEMON_PID" 2>/dev/null || true
	wait_pid_gone "$NV_DAEMON_PID" "${1:-15}" ||
		fail "natsvisord did not exit after SIGTERM"
	wait "$NV_DAEMON_PID" 2>/dev/null || rc=$?
	NV_DAEMON_PID=
	return "$rc"
}

# listener_field NAME FIELD: one field of NAME's entry in
# `natsvisorctl status --json NAME` (pid, state, health, restarts, ...).
listener_field() {
	nvctl status --json "$1" 2>/dev/null |
		jq -er --arg n "$1" --arg f "$2" \
			'.listeners[] | select(.name == $n) | .[$f] | tostring'
}
listener_pid() {
	local p
	p=$(listener_field "$1" pid) && [[ $p != 0 ]] || return 1
	printf '%s\n' "$p"
}
listener_state() { listener_field "$1" state; }
listener_health() { listener_field "$1" health; }

# assert_eq EXPECTED ACTUAL [MSG]: fail unless the strings are equal.
assert_eq() {
	[[ $1 == "$2" ]] ||
		fail "${3:-assert_eq}: expected '$1', got '$2'"
}

# assert_exit CODE CMD...: run CMD, fail unless it exits with CODE.  Its
# stdout and stderr are echoed to the test log and kept in NV_OUT.
assert_exit() {
	local want=$1 rc=0
	shift
	NV_OUT=$("$@" 2>&1) || rc=$?
	[[ -z $NV_OUT ]] || printf '%s\n' "$NV_OUT"
	[[ $rc -eq $want ]] ||
		fail "expected exit $want, got $rc: $*"
}
