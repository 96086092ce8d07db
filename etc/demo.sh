#!/usr/bin/env bash
# etc/demo.sh: what `make demo` runs, and the integration test
# tests/integration/demo.sh.  It shows, step by step and checking each step,
# that a message published through natsvisor's gate reaches its agent even
# when the agent was killed an instant before.
#
# Everything runs in a temporary directory with a free port, from the
# binaries in the build tree ($top_builddir, set by make).  KEEP=1 keeps
# the directory.  Exits non-zero as soon as a step fails, after showing the
# logs and ending every process it started.
# shellcheck disable=SC2317,SC2119 # functions called through wait_until; no args
set -euo pipefail
demo_dir=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$demo_dir/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
# shellcheck source=../tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

n=0
# step TEXT: announce the next step in plain words.
step() {
	n=$((n + 1))
	printf '\n==> step %d: %s\n' "$n" "$*"
}
# say TEXT: a line of explanation.
say() {
	printf '    %s\n' "$*"
}
# show CMD...: print a command, then run it.
show() {
	local a line='    $'
	for a in "$@"; do
		if [[ $a == *[[:space:]\"\'\$\>]* ]]; then
			line+=" '${a//\'/\'\\\'\'}'"
		else
			line+=" $a"
		fi
	done
	printf '%s\n' "$line"
	"$@"
}
# inbox_has NAME TEXT: true when a message containing TEXT is in NAME's new/.
inbox_has() {
	grep -rqF -- "$2" "$NV_DIR/inbox/$1/new" 2>/dev/null
}
# show_inbox NAME: list NAME's new/ and print each message (bounded).
show_inbox() {
	local f
	printf '    %s:\n' "inbox/$1/new"
	for f in "$NV_DIR/inbox/$1/new"/*; do
		[[ -f $f ]] || continue
		printf '      %s: %s\n' "${f##*/}" "$(head -c 200 "$f" | tr '\n' ' ')"
	done
}
# now_ms: wall time in milliseconds.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	printf '%s' "$((10#$t / 1000))"
}

t_start=$(now_ms)
for bin in "$NV_DAEMON" "$NV_CTL" "$NV_LISTEN"; do
	[[ -x $bin ]] || fail "$bin is not built (run make first)"
done
nv_setup
ready_timeout="$(nv_scale 20)s"

step "write a configuration for this run"
port=$(free_port) || fail "no free port"
mkdir -p "$NV_DIR"/inbox/{core,bridge}/{tmp,new,cur}
config=$NV_DIR/demo.ini
sed -e "s|^nats_server = nats-server |nats_server = $NATS_SERVER |" \
	-e "s|^command = natsvisor-listen |command = $NV_LISTEN |" \
	-e "s|14222|$port|g" \
	-e "s|/tmp/natsvisor-demo|$NV_DIR|g" \
	"$top_srcdir/etc/demo.ini" >"$config"
say "from etc/demo.ini: an embedded nats-server on 127.0.0.1:$port and two"
say "listeners, core (agents.core.>) and bridge (agents.bridge.>), each"
say "storing its messages in a maildir inbox under $NV_DIR/inbox."
grep -E '^(\[|nats_server|nats_url|control_socket|backoff_initial|command|subjects)' \
	"$config" | sed 's/^/      /'

step "start natsvisord in the foreground (as a background job of this script)"
say "it starts nats-server, then both listeners, and pings each one through"
say "NATS until it answers on the connection that holds its subscriptions."
nv_daemon_start "$config"
say "natsvisord pid $NV_DAEMON_PID answers on $NV_SOCK"

step "wait until every listener is ready"
show "$NV_CTL" -s "$NV_SOCK" wait-ready --timeout "$ready_timeout" ||
	fail "the listeners did not become ready"
show "$NV_CTL" -s "$NV_SOCK" status || fail "status failed"

step "publish one message to each agent through the gate"
say "natsvisorctl publish waits until every listener covering the subject"
say "is ready, publishes, and confirms that the server received it."
show "$NV_CTL" -s "$NV_SOCK" publish --timeout "$ready_timeout" \
	agents.core.task "hello core" || fail "publish to core failed"
show "$NV_CTL" -s "$NV_SOCK" publish --timeout "$ready_timeout" \
	agents.bridge.task "hello bridge" || fail "publish to bridge failed"

step "show what landed in each inbox"
wait_until 10 inbox_has core "hello core" ||
	fail "core's inbox has no 'hello core'"
wait_until 10 inbox_has bridge "hello bridge" ||
	fail "bridge's inbox has no 'hello bridge'"
show_inbox core
show_inbox bridge

step "kill core with SIGKILL"
core_pid=$(listener_pid core) || fail "no pid for core in status"
show kill -KILL "$core_pid"
core_gone() { [[ ! -e /proc/$core_pid ]]; }
wait_until 5 core_gone || fail "core (pid $core_pid) was not reaped"
say "core (pid $core_pid) is dead and reaped by natsvisord; nothing is"
say "subscribed to agents.core.> now, so a plain publish would be lost."

step "publish to core again at once, through the gate"
say "the gate holds the message until a new core is subscribed and has"
say "answered a ping, then publishes it."
t0=$(now_ms)
show "$NV_CTL" -s "$NV_SOCK" publish --timeout "$ready_timeout" \
	agents.core.task "hello again core" ||
	fail "the gated publish to core failed"
say "held for $(($(now_ms) - t0)) ms"
wait_until 10 inbox_has core "hello again core" ||
	fail "the message published while core was down never arrived"
show_inbox core
new_pid=$(listener_pid core) || fail "no pid for core after the restart"
[[ $new_pid != "$core_pid" ]] || fail "core still has the killed pid"
say "it landed: core is now pid $new_pid"

step "show the status"
show "$NV_CTL" -s "$NV_SOCK" status || fail "status failed"

step "stop natsvisord with SIGTERM and check that nothing is left"
children=$(tree_pids "$NV_DAEMON_PID")
rc=0
nv_daemon_stop || rc=$?
[[ $rc -eq 0 ]] || fail "natsvisord exited with status $rc after SIGTERM"
say "natsvisord exited 0"
for pid in $children; do
	wait_pid_gone "$pid" 5 || fail "pid $pid outlived natsvisord"
done
left=$(nv_leftovers)
[[ -z $left ]] || fail "processes left behind: $left"
say "its processes ($(echo "$children" | wc -w)) are all gone"

printf '\n==> demo finished in %d ms: every step passed\n' \
	"$(($(now_ms) - t_start))"
pass
