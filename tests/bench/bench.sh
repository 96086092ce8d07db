#!/usr/bin/env bash
# bench.sh: natsvisor against its peers, side by side in one run.
#
#   bench.sh [--quick] [--no-install] [--idle SECONDS] [--kills N]
#            [--peer-kills N] [--out FILE] [--ctl-alt PATH]
#
# Measures natsvisor (natsvisord, natsvisorctl, natsvisor-listen) and the
# supervisors users would otherwise pick -- supervisord, runit, s6 (with
# and without a readiness fd) and daemontools -- on this machine in this
# run, and prints one table: metric, natsvisor, each peer, and natsvisor's
# ratio to the best peer of that row (every row with a ratio is lower-is-
# better).  The raw figures go to FILE (default
# $top_builddir/bench-results.txt) and FILE's .json sibling.  `make bench`
# runs it; `make check` runs --quick through smoke.sh.
#
# Method, as in the peers' note: every supervisor runs bench-child (static;
# it stamps CLOCK_MONOTONIC at main()); a restart is timed from just
# before kill(SIGKILL) to the new child's own stamp.  The peers and the
# default-backoff natsvisor are killed once their child is 1.2 s old (all
# their 1 s guards past), round robin; natsvisor's zero-backoff series 20
# ms after each start.  Where configure found musl, the restarts are
# timed again with the same child built on musl (glibc's start-up, whose
# cpuid calls trap to the hypervisor, is most of a restart here, and the
# same for every system).  Readiness uses bench-listen (nats.c + nvping)
# and bench-rawlisten (the NATS protocol by hand, static: what readiness
# costs when the listener itself costs next to nothing).
# Scale: start -> the latest first start, trees 2 s old, median of 3, and
# the same with no supervisor (the floor row: its ratio is the least any
# system could reach against the best peer in that run);
# natsvisor also start -> all ready, with each listener; and the CPU the
# tree had used by then (schedstat), supervisors and children apart.
# Status: also natsvisor's share alone (nvbench ctlrt: the round trip
# from a running process, no process start).
# RSS/PSS: summed over the supervisor processes.  Idle CPU: utime+stime
# over one window shared by all systems at N=1000.  Status queries:
# hyperfine medians, interleaved over three rounds.  "floor" rows: what a
# bare fork/exec/waitpid loop achieves on the same machine; of its
# restart, the death (kill → waitpid returns) and execve → main are what
# no supervisor can do ahead of the kill, and their sum's ratio is the
# least any design (even one with a process forked in advance) could
# reach against the best peer.
#
# As root, missing peers are installed from Debian with apt-get (never
# started as services: each runs by hand in a scratch directory and is
# stopped by pid).  Options:
#   --quick        N = 10 instead of 100/1000, 3 kills, a 2 s idle window,
#                  one repetition: checks that everything works (no
#                  figure of it means anything)
#   --no-install   never run apt-get; a missing peer's column is empty
#   --idle S       the idle-CPU window (default 60 s; all systems idle in
#                  the same window)
#   --kills N      kills per natsvisor restart series (default 60)
#   --peer-kills N kill rounds over the peers (default 20)
#   --out FILE     where the raw figures go
#   --ctl-alt PATH also time the status query with another natsvisorctl
#                  (e.g. one built with ./configure --disable-static-ctl)
set -euo pipefail

: "${top_builddir:?set top_builddir}"
: "${top_srcdir:?set top_srcdir}"
bench_src=$top_srcdir/tests/bench

QUICK=0 INSTALL=1 IDLE=60 KILLS=60 PEER_KILLS=20 OUT= CTL_ALT=
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--no-install) INSTALL=0 ;;
	--idle) IDLE=$2; shift ;;
	--kills) KILLS=$2; shift ;;
	--peer-kills) PEER_KILLS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--ctl-alt) CTL_ALT=$(realpath "$2"); shift ;;
	-h | --help) sed -n '2,/^set /p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if ((QUICK)); then
	SIZES=(10) IDLE=2 KILLS=3 PEER_KILLS=2 REPS=1 CHAOS_KILLS=3 PUBN=20
	BIG=10
else
	SIZES=(100 1000) REPS=3 CHAOS_KILLS=20 PUBN=300 BIG=1000
fi
OUT=${OUT:-$top_builddir/bench-results.txt}
T_BEGIN=$SECONDS
# Under the sanitizers (make check in a sanitized build) the programs here
# are measured, not leak-checked.
[[ -z ${NV_SANITIZERS:-} ]] ||
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# shellcheck source=../integration/lib.sh
source "$top_srcdir/tests/integration/lib.sh"
# shellcheck source=peers.sh
source "$bench_src/peers.sh"

BENCH_CHILD=$(realpath "$top_builddir/tests/bench/bench-child")
BENCH_CHILD_MUSL=$top_builddir/tests/bench/bench-child-musl
[[ -x $BENCH_CHILD_MUSL ]] && BENCH_CHILD_MUSL=$(realpath "$BENCH_CHILD_MUSL") ||
	BENCH_CHILD_MUSL=
BENCH_LISTEN=$(realpath "$top_builddir/tests/bench/bench-listen")
BENCH_RAW=$(realpath "$top_builddir/tests/bench/bench-rawlisten")
NVBENCH=$(realpath "$top_builddir/tests/bench/nvbench")
NV_DAEMON=$(realpath "$NV_DAEMON")
NV_CTL=$(realpath "$NV_CTL")
NV_LISTEN=$(realpath "$NV_LISTEN")

say() { printf 'bench: %s\n' "$*" >&2; }

# --- the peers ---------------------------------------------------------------
if ((INSTALL)) && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	missing=()
	for p in supervisor runit s6 daemontools hyperfine; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
			missing+=("$p")
	done
	if ((${#missing[@]})); then
		say "installing from Debian: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${missing[@]}" >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -q --no-install-recommends \
				"${missing[@]}" >&2; } || say "apt-get failed; going on"
	fi
fi
PEERS=()
for p in "${PEERS_ALL[@]}"; do
	if peer_have "$p"; then PEERS+=("$p"); else say "$p: not installed, column left empty"; fi
done
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null && HAVE_HYPERFINE=1

# --- scratch, server, results ------------------------------------------------
# tmpfs when there is one: the listeners' fsyncs must not measure the disk.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then
	export TMPDIR=/dev/shm
fi
nv_setup
W=$NV_DIR
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nats_start nats -js -sd "$W/js"
: >"$OUT"

# rec KEY SYSTEM VALUE: one raw figure.
rec() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$OUT"
}

# dist: numbers on stdin -> "min med p90 max n".
dist() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - - - 0"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		p = v[int(NR * 0.9 + 0.999999)]; if (p == "") p = v[NR]
		printf "%.2f %.2f %.2f %.2f %d\n", v[1], m, p, v[NR], NR }'
}

# rec_dist KEY SYSTEM: numbers on stdin; records KEY (min/med/p90/max) and
# KEY.med.
rec_dist() {
	local mn md p9 mx n
	read -r mn md p9 mx n < <(dist)
	rec "$1" "$2" "$mn/$md/$p9/$mx"
	rec "$1.med" "$2" "$md"
	rec "$1.n" "$2" "$n"
}

# mem_of PID...: "RSS_MiB PSS_MiB" summed over the pids.
mem_of() {
	local p rss=0 pss=0 k v
	for p in "$@"; do
		while read -r k v _; do
			[[ $k == VmRSS: ]] && rss=$((rss + v))
		done <"/proc/$p/status" 2>/dev/null || true
		while read -r k v _; do
			[[ $k == Pss: ]] && pss=$((pss + v))
		done <"/proc/$p/smaps_rollup" 2>/dev/null || true
	done
	awk -v r="$rss" -v p="$pss" 'BEGIN { printf "%.1f %.1f\n", r / 1024, p / 1024 }'
}

# cpu_of PID...: utime+stime in clock ticks, summed.
cpu_of() {
	local p line rest t=0
	local -a f
	for p in "$@"; do
		{ read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		t=$((t + f[11] + f[12]))
	done
	printf '%s\n' "$t"
}

# nv_conf FILE SOCK [TEXT]: a natsvisord configuration (stdin appended).
nv_conf() {
	{
		printf '[natsvisor]\nnats_url = %s\ncontrol_socket = %s\ninstance_id = bench\n' \
			"$NATS_URL" "$2"
		cat
	} >"$1"
}

# nv_listeners BASE N COMMAND [KEY=VALUE...]: N [listener:sNNNN] sections
# running COMMAND in BASE/sNNNN.
nv_listeners() {
	local base=$1 n=$2 cmd=$3 i s kv
	shift 3
	for ((i = 0; i < n; i++)); do
		printf -v s 's%04d' "$i"
		mkdir -p "$base/$s"
		printf '[listener:%s]\ncommand = %s\ndirectory = %s\nsubjects = bench.%s\n' \
			"$s" "$cmd" "$base/$s" "$s"
		for kv in "$@"; do printf '%s\n' "$kv"; done
	done
}

# launch NAME BASE N SOCK -- CMD...: start a supervisor through nvbench
# scale (SOCK may be ""); sets LPID and LOUT (nvbench's lines).
launch() {
	local name=$1 base=$2 n=$3 sock=$4
	shift 5
	local args=(-n "$n" -d "$base" -p "$W/$name.pid" -l "$W/$name.log" -t 180000)
	[[ -n $sock ]] && args+=(-s "$sock")
	"$NVBENCH" scale "${args[@]}" -- "$@" >"$W/$name.out"
	LPID=$(<"$W/$name.pid")
	nv_track "$LPID" "$name" "$W/$name.log"
	LOUT=$(<"$W/$name.out")
}

# nv_stop PID: SIGTERM natsvisord (it stops its listeners) and wait.
nv_stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait_pid_gone "$1" 60 || { kill -KILL "$1" 2>/dev/null || true; }
	return 0
}

# hf KEY SYSTEM RUNS CMD...: queue a hyperfine measurement of CMD; hf_run
# runs the queue in HF_ROUNDS rounds, every command once per round (so a
# burst of load on this shared machine hits them all alike), and records
# each command's median over all its runs, in ms.
HF_Q=()
HF_ROUNDS=3
hf() {
	local key=$1 sys=$2 runs=$3
	shift 3
	((HAVE_HYPERFINE)) || return 0
	HF_Q+=("$key|$sys|$runs|$(printf '%q ' "$@")")
}
hf_run() {
	local r i key sys runs cmd per phase
	for ((i = 0; i < ${#HF_Q[@]}; i++)); do : >"$W/hf.$i.times"; done
	# supervisord goes last, on its own: it keeps working after each
	# supervisorctl query and would slow whatever ran next.
	for phase in others supervisord; do
	for ((r = 0; r < HF_ROUNDS; r++)); do
		for ((i = 0; i < ${#HF_Q[@]}; i++)); do
			IFS='|' read -r key sys runs cmd <<<"${HF_Q[$i]}"
			if [[ $sys == supervisord ]]; then
				[[ $phase == supervisord ]] || continue
			else
				[[ $phase == others ]] || continue
			fi
			per=$(((runs + HF_ROUNDS - 1) / HF_ROUNDS))
			if hyperfine -N --warmup 2 --runs "$per" --export-json "$W/hf.json" \
				"$cmd" >/dev/null 2>&1; then
				jq -r '.results[0].times[]' "$W/hf.json" >>"$W/hf.$i.times"
			else
				say "hyperfine failed: $cmd"
			fi
		done
	done
	done
	for ((i = 0; i < ${#HF_Q[@]}; i++)); do
		IFS='|' read -r key sys runs cmd <<<"${HF_Q[$i]}"
		[[ -s $W/hf.$i.times ]] || continue
		rec "$key" "$sys" "$(awk '{ print $1 * 1000 }' "$W/hf.$i.times" | dist |
			awk '{ printf "%.3f", $2 }')"
	done
	HF_Q=()
}

say "results: $OUT (work directory $W)"

# === 0. what this machine allows at best ======================================
# floor_restart FILE SUFFIX: a floor's restarts (kill → main), and of
# each the part no supervisor can do ahead of the kill: the death, up to
# waitpid's return, plus execve → main.
floor_restart() {
	awk '{ print $NF }' "$1" | rec_dist "floor.restart$2" natsvisor
	awk '{ for (i = 1; i < NF; i++) if ($i == "reaped") print $(i + 1) }' "$1" |
		rec_dist "floor.reaped$2" natsvisor
	awk '{ for (i = 1; i < NF; i++) if ($i == "execve") print $(i + 1) }' "$1" |
		rec_dist "floor.execve$2" natsvisor
	awk '{ r = e = ""; for (i = 1; i < NF; i++) { if ($i == "reaped") r = $(i + 1)
		if ($i == "execve") e = $(i + 1) }; if (r != "" && e != "") printf "%.3f\n", r + e }' "$1" |
		rec_dist "floor.bound$2" natsvisor
}

say "floor: a bare fork/exec/waitpid loop"
mkdir -p "$W/floor-child" "$W/floor-listen" "$W/floor-raw"
"$NVBENCH" floor -r "$((KILLS / 2 + 1))" -d "$W/floor-child" -- "$BENCH_CHILD" >"$W/floor-child.txt"
awk '{ print $3 }' "$W/floor-child.txt" | rec_dist floor.exec natsvisor
floor_restart "$W/floor-child.txt" ""
NATSVISOR_PING_SUBJECT=bench.floor.ping NATSVISOR_SUBJECTS=bench.floor \
	"$NVBENCH" floor -r "$((KILLS / 2 + 1))" -d "$W/floor-listen" -- "$BENCH_LISTEN" >"$W/floor-listen.txt"
awk '{ print $3 }' "$W/floor-listen.txt" | rec_dist floor.lexec natsvisor
awk '$4 == "conn" { print $5 }' "$W/floor-listen.txt" | rec_dist floor.lconn natsvisor
awk '$6 == "sub" { print $7 }' "$W/floor-listen.txt" | rec_dist floor.lsub natsvisor
floor_restart "$W/floor-listen.txt" _l
NATSVISOR_PING_SUBJECT=bench.floor.ping NATSVISOR_SUBJECTS=bench.floor \
	"$NVBENCH" floor -r "$((KILLS / 2 + 1))" -d "$W/floor-raw" -- "$BENCH_RAW" >"$W/floor-raw.txt"
awk '{ print $3 }' "$W/floor-raw.txt" | rec_dist floor.rexec natsvisor
awk '$4 == "conn" { print $5 }' "$W/floor-raw.txt" | rec_dist floor.rconn natsvisor
awk '$6 == "sub" { print $7 }' "$W/floor-raw.txt" | rec_dist floor.rsub natsvisor
floor_restart "$W/floor-raw.txt" _r

# === 1. restart ===============================================================
say "restart: natsvisor, static child, backoff_initial = 0"
nv_conf "$W/nvA.ini" "$W/nvA.sock" < <(nv_listeners "$W/nvA" 1 "$BENCH_CHILD" \
	'backoff_initial = 0' 'ready_timeout = 1h')
launch nvA "$W/nvA" 1 "" -- "$NV_DAEMON" -c "$W/nvA.ini"
nvA=$LPID
"$NVBENCH" kills -r "$KILLS" -a 20 "nv:$W/nvA/s0000" >"$W/kills-nvA.txt"
awk '$1 == "nv" && $2 != "timeout" { print $2 }' "$W/kills-nvA.txt" |
	rec_dist restart.run.b0 natsvisor
nv_stop "$nvA"

# ready_series NAME LABEL PROGRAM RUN READY PONG PHASE: natsvisord with one
# listener running PROGRAM at zero backoff, killed KILLS times: kill ->
# running, -> ready and last pong -> wait-ready go to keys RUN, READY and
# PONG, and where the time to readiness goes (the listener's ./phases, the
# observer) to PHASE.conn, .sub, .pong.  The daemon stays up (pid in LPID).
ready_series() {
	local name=$1 label=$2 prog=$3 run=$4 ready=$5 pong=$6 phase=$7 f
	local k=$W/kills-$1.txt
	nv_conf "$W/$name.ini" "$W/$name.sock" < <(nv_listeners "$W/$name" 1 "$prog" \
		'backoff_initial = 0')
	launch "$name" "$W/$name" 1 "$W/$name.sock" -- "$NV_DAEMON" -c "$W/$name.ini"
	"$NVBENCH" kills -r "$KILLS" -a 20 -u "$NATS_URL" \
		"$label:$W/$name/s0000:$W/$name.sock:s0000" >"$k"
	for f in 2:"$run" 3:"$ready" 4:"$pong" 6:"$phase.conn" 7:"$phase.sub" \
		8:"$phase.pong"; do
		awk -v l="$label" -v c="${f%%:*}" \
			'$1 == l && $2 != "timeout" && $c >= 0 { print $c }' "$k" |
			rec_dist "${f#*:}" natsvisor
	done
}

say "restart: natsvisor, bench-listen, backoff_initial = 0 (running and ready)"
ready_series nvB nvl "$BENCH_LISTEN" restart.runl.b0 restart.ready.b0 \
	control.pong_to_wait restart.phase
nvB=$LPID

say "restart: natsvisor, bench-rawlisten, backoff_initial = 0 (running and ready)"
ready_series nvR nvr "$BENCH_RAW" restart.runr.b0 restart.readyr.b0 \
	control.pong_to_wait_r restart.phaser
nv_stop "$LPID"

say "restart: peers and natsvisor with default backoff, kill after 1.2 s up"
nv_conf "$W/nvC.ini" "$W/nvC.sock" < <(nv_listeners "$W/nvC" 1 "$BENCH_LISTEN" \
	'backoff_reset = 1s')
launch nvC "$W/nvC" 1 "$W/nvC.sock" -- "$NV_DAEMON" -c "$W/nvC.ini"
nvC=$LPID
targets=("nvd:$W/nvC/s0000:$W/nvC.sock:s0000")
declare -A R1PID=()
for p in "${PEERS[@]}"; do
	peer_tree "$p" "$W/r1-$p" 1
done
sleep 2 # the trees are 2 s old at launch, as in the peers' note
for p in "${PEERS[@]}"; do
	mapfile -t cmd < <(peer_cmd "$p" "$W/r1-$p")
	launch "r1-$p" "$W/r1-$p" 1 "" -- "${cmd[@]}"
	R1PID[$p]=$LPID
	targets+=("$p:$W/r1-$p/s0000")
done
"$NVBENCH" kills -r "$PEER_KILLS" -a 1200 -u "$NATS_URL" "${targets[@]}" \
	>"$W/kills-peers.txt"
awk '$1 == "nvd" && $2 != "timeout" { print $2 }' "$W/kills-peers.txt" |
	rec_dist restart.runl.def natsvisor
awk '$1 == "nvd" && $2 != "timeout" { print $3 }' "$W/kills-peers.txt" |
	rec_dist restart.ready.def natsvisor
for p in "${PEERS[@]}"; do
	awk -v p="$p" '$1 == p && $2 != "timeout" { print $2 }' "$W/kills-peers.txt" |
		rec_dist restart.run.b0 "$p"
	n=$(awk -v p="$p" '$1 == p && $2 == "timeout"' "$W/kills-peers.txt" | wc -l)
	((n == 0)) || rec restart.timeouts "$p" "$n"
done

# The same restarts of a child on musl (built where configure found
# musl): glibc's start-up in the child, the same for every system, is
# most of a restart here; without it, what the supervisors add shows.
if [[ -n $BENCH_CHILD_MUSL ]]; then
	say "restart: the child on musl: floor, natsvisor, peers"
	mkdir -p "$W/floor-musl"
	"$NVBENCH" floor -r "$((KILLS / 2 + 1))" -d "$W/floor-musl" -- "$BENCH_CHILD_MUSL" >"$W/floor-musl.txt"
	floor_restart "$W/floor-musl.txt" _m
	nv_conf "$W/nvM.ini" "$W/nvM.sock" < <(nv_listeners "$W/nvM" 1 "$BENCH_CHILD_MUSL" \
		'backoff_initial = 0' 'ready_timeout = 1h')
	launch nvM "$W/nvM" 1 "" -- "$NV_DAEMON" -c "$W/nvM.ini"
	"$NVBENCH" kills -r "$KILLS" -a 20 "nv:$W/nvM/s0000" >"$W/kills-nvM.txt"
	awk '$1 == "nv" && $2 != "timeout" { print $2 }' "$W/kills-nvM.txt" |
		rec_dist restart.run_m natsvisor
	nv_stop "$LPID"
	glibc_child=$BENCH_CHILD BENCH_CHILD=$BENCH_CHILD_MUSL
	declare -A RMPID=()
	targets=()
	for p in "${PEERS[@]}"; do
		peer_tree "$p" "$W/rm-$p" 1
	done
	sleep 2 # the trees are 2 s old at launch, as above
	for p in "${PEERS[@]}"; do
		mapfile -t cmd < <(peer_cmd "$p" "$W/rm-$p")
		launch "rm-$p" "$W/rm-$p" 1 "" -- "${cmd[@]}"
		RMPID[$p]=$LPID
		targets+=("$p:$W/rm-$p/s0000")
	done
	"$NVBENCH" kills -r "$PEER_KILLS" -a 1200 "${targets[@]}" >"$W/kills-peers-m.txt"
	for p in "${PEERS[@]}"; do
		awk -v p="$p" '$1 == p && $2 != "timeout" { print $2 }' "$W/kills-peers-m.txt" |
			rec_dist restart.run_m "$p"
		peer_stop "${RMPID[$p]}" "$W/rm-$p"
	done
	BENCH_CHILD=$glibc_child
fi

say "control at N=1"
RUNS=60
((QUICK)) && RUNS=3 HF_ROUNDS=1
hf control.true natsvisor "$RUNS" /bin/true
hf control.ctlstart natsvisor "$RUNS" "$NV_CTL" --version
hf control.status.1 natsvisor "$RUNS" "$NV_CTL" -s "$W/nvB.sock" status s0000
hf control.isready.1 natsvisor "$RUNS" "$NV_CTL" -s "$W/nvB.sock" is-ready s0000
hf control.wait.1 natsvisor "$RUNS" "$NV_CTL" -s "$W/nvB.sock" wait-ready s0000
[[ -z $CTL_ALT ]] ||
	hf control.status_alt.1 natsvisor "$RUNS" "$CTL_ALT" -s "$W/nvB.sock" status s0000
for p in "${PEERS[@]}"; do
	mapfile -t cmd < <(peer_status_cmd "$p" "$W/r1-$p" s0000)
	runs=$RUNS
	[[ $p == supervisord ]] && runs=$((RUNS > 12 ? 12 : RUNS))
	hf control.status.1 "$p" "$runs" "${cmd[@]}"
done
[[ " ${PEERS[*]} " == *" s6-fd "* ]] &&
	hf control.wait.1 s6-fd "$RUNS" s6-svwait -U "$W/r1-s6-fd/s0000"
hf_run
# The daemon's share of a status query: the round trip alone, from a
# process already running.
read -r _ _ v _ _ < <("$NVBENCH" ctlrt -s "$W/nvB.sock" -N s0000 -r "$((RUNS * 5))")
rec control.rt.1 natsvisor "$v"
for p in "${PEERS[@]}"; do
	peer_stop "${R1PID[$p]}" "$W/r1-$p"
done
nv_stop "$nvC"

# === 4. gated publish (on nvB: one ready bench-listen) ========================
say "gated publish"
"$NVBENCH" pub -u "$NATS_URL" -s "$W/nvB.sock" -S bench.s0000 -i bench \
	-N s0000 -c "$NV_CTL" -n "$PUBN" >"$W/pub.txt"
plain=$(awk '$2 == "plain" { print $3 }' "$W/pub.txt")
while read -r _ mode med p90 rate; do
	[[ $med == - ]] || rec "pub.lat.$mode" natsvisor "$med"
	[[ $med == - || $mode == plain ]] ||
		rec "pub.added.$mode" natsvisor "$(awk -v a="$med" -v b="$plain" 'BEGIN { printf "%.3f", a - b }')"
	rec "pub.rate.$mode" natsvisor "$rate"
done <"$W/pub.txt"
nv_stop "$nvB"

# === 2. scale ================================================================
# scale_cpu SYSTEM N: the CPU used so far by the tree just launched (LPID),
# split into its supervisor processes and its bench-child children: on a
# machine with few CPUs a start of N services is bound by their sum.
scale_cpu() {
	local f
	read -r -a f < <("$NVBENCH" cpu -p "$LPID" -x "$BENCH_CHILD") || return 0
	rec "scale.cpu_sup.$2.r" "$1" "${f[1]}"
	rec "scale.cpu_kids.$2.r" "$1" "${f[2]}"
}

# scale_peers N REP KEEP: every peer at N services; KEEP leaves them running.
declare -A BIGPID=()
scale_peers() {
	local n=$1 rep=$2 keep=$3 p base line mem
	for p in "${PEERS[@]}"; do
		[[ $p == s6-fd ]] && continue
		peer_tree "$p" "$W/sc$n-$rep-$p" "$n"
	done
	sleep 2
	for p in "${PEERS[@]}"; do
		[[ $p == s6-fd ]] && continue
		base=$W/sc$n-$rep-$p
		mapfile -t cmd < <(peer_cmd "$p" "$base")
		launch "sc$n-$rep-$p" "$base" "$n" "" -- "${cmd[@]}"
		line=$LOUT
		say "  $p N=$n: $line"
		[[ $line == spawned\ [0-9]* ]] && rec "scale.spawned.$n.r" "$p" "${line#spawned }"
		scale_cpu "$p" "$n"
		if ((rep == 0)); then
			# supervisord needs a moment after its last start
			[[ $p == supervisord ]] && sleep 1
			read -r -a mem < <(mem_of $(peer_sup_pids "$LPID"))
			rec "scale.rss.$n" "$p" "${mem[0]}"
			rec "scale.pss.$n" "$p" "${mem[1]}"
		fi
		if ((keep)); then
			BIGPID[$p]=$LPID
		else
			peer_stop "$LPID" "$base"
		fi
	done
}

# scale_nv N REP KEEP HI: natsvisor at N: static child, bench-rawlisten,
# then bench-listen (the one KEEP leaves running).
NVBIG=
scale_nv() {
	local n=$1 rep=$2 keep=$3 hi=$4 base line mem
	base=$W/sc$n-$rep-nvs
	nv_conf "$base.ini" "$base.sock" < <(nv_listeners "$base" "$n" "$BENCH_CHILD" \
		'ready_timeout = 1h')
	sleep 0.5
	launch "sc$n-$rep-nvs" "$base" "$n" "" -- "$NV_DAEMON" -c "$base.ini"
	line=$LOUT
	say "  natsvisor N=$n static: $line"
	rec "scale.spawned.$n.r" natsvisor "${line#spawned }"
	scale_cpu natsvisor "$n"
	((rep == 0)) && {
		read -r -a mem < <(mem_of "$LPID")
		rec "scale.rss_static.$n" natsvisor "${mem[0]}"
	}
	nv_stop "$LPID"
	base=$W/sc$n-$rep-nvr
	nv_conf "$base.ini" "$base.sock" < <(nv_listeners "$base" "$n" "$BENCH_RAW" \
		"health_interval = $hi")
	launch "sc$n-$rep-nvr" "$base" "$n" "$base.sock" -- "$NV_DAEMON" -c "$base.ini"
	line=$LOUT
	say "  natsvisor N=$n bench-rawlisten: ${line//$'\n'/, }"
	rec "scale.ready_r.$n.r" natsvisor "$(sed -n 's/^ready \([0-9.]*\).*/\1/p' <<<"$line")"
	nv_stop "$LPID"
	base=$W/sc$n-$rep-nvl
	nv_conf "$base.ini" "$base.sock" < <(nv_listeners "$base" "$n" "$BENCH_LISTEN" \
		"health_interval = $hi")
	launch "sc$n-$rep-nvl" "$base" "$n" "$base.sock" -- "$NV_DAEMON" -c "$base.ini"
	line=$LOUT
	say "  natsvisor N=$n bench-listen: ${line//$'\n'/, }"
	rec "scale.spawned_l.$n.r" natsvisor "$(sed -n 's/^spawned //p' <<<"$line")"
	rec "scale.ready.$n.r" natsvisor "$(sed -n 's/^ready \([0-9.]*\).*/\1/p' <<<"$line")"
	if ((rep == 0)); then
		read -r -a mem < <(mem_of "$LPID")
		rec "scale.rss.$n" natsvisor "${mem[0]}"
		rec "scale.pss.$n" natsvisor "${mem[1]}"
	fi
	if ((keep)); then
		NVBIG=$LPID
	else
		nv_stop "$LPID"
	fi
}

# scale_floor N REP: the same start with no supervisor at all (nvbench
# spawnfloor: vfork, chdir, execve from one thread per CPU), the least
# any system can take here.
scale_floor() {
	local n=$1 rep=$2 base=$W/sc$1-$2-floor line i s
	for ((i = 0; i < n; i++)); do
		printf -v s 's%04d' "$i"
		mkdir -p "$base/$s"
	done
	line=$("$NVBENCH" spawnfloor -n "$n" -d "$base" -- "$BENCH_CHILD")
	say "  floor N=$n: ${line//$'\n'/, }"
	rec "scale.floor.$n.r" natsvisor "$(sed -n 's/^spawned //p' <<<"$line")"
	rec "scale.floor_cpu.$n.r" natsvisor "$(sed -n 's/^cpu //p' <<<"$line")"
}

for n in "${SIZES[@]}"; do
	reps=$REPS
	for ((r = 0; r < reps; r++)); do
		keep=0
		((n == BIG && r == reps - 1)) && keep=1 BIGREP=$r
		say "scale: N=$n, repetition $((r + 1))/$reps"
		# The peers first: the thousand nats.c listeners that natsvisor
		# keeps for the idle window are the busiest neighbours.
		scale_peers "$n" "$r" "$keep"
		scale_nv "$n" "$r" "$keep" 10s
		scale_floor "$n" "$r"
	done
	for k in scale.spawned scale.spawned_l scale.ready scale.ready_r \
		scale.cpu_sup scale.cpu_kids scale.floor scale.floor_cpu; do
		for s in natsvisor "${PEERS[@]}"; do
			v=$(awk -F'\t' -v k="$k.$n.r" -v s="$s" '$1 == k && $2 == s { print $3 }' "$OUT" | dist)
			read -r _ md _ _ cnt <<<"$v"
			((cnt > 0)) && rec "$k.$n" "$s" "$(awk -v m="$md" 'BEGIN { printf "%.3f", m / 1000 }')"
		done
	done
done

# === idle CPU: every system at N=BIG in the same window =======================
say "idle: a second natsvisord at health_interval = 1s"
base=$W/idle-nv1
nv_conf "$base.ini" "$base.sock" < <(nv_listeners "$base" "$BIG" "$BENCH_LISTEN" \
	'health_interval = 1s')
launch idle-nv1 "$base" "$BIG" "$base.sock" -- "$NV_DAEMON" -c "$base.ini"
NV1=$LPID
sleep 3
declare -A IDLEPIDS=()
IDLEPIDS[natsvisor]=$NVBIG
IDLEPIDS[nv1]=$NV1
for p in "${!BIGPID[@]}"; do
	IDLEPIDS[$p]=$(peer_sup_pids "${BIGPID[$p]}" | tr '\n' ' ')
done
declare -A C0=()
for s in "${!IDLEPIDS[@]}"; do
	# shellcheck disable=SC2086
	C0[$s]=$(cpu_of ${IDLEPIDS[$s]})
done
say "idle: ${IDLE} s window, ${#IDLEPIDS[@]} systems at once"
sleep "$IDLE"
hz=$(getconf CLK_TCK)
for s in "${!IDLEPIDS[@]}"; do
	# shellcheck disable=SC2086
	c1=$(cpu_of ${IDLEPIDS[$s]})
	v=$(awk -v d="$((c1 - C0[$s]))" -v hz="$hz" -v w="$IDLE" 'BEGIN { printf "%.3f", d / hz * 60 / w }')
	case $s in
	natsvisor)
		rec idle.cpu.10s natsvisor "$v"
		rec idle.ping_us.10s natsvisor "$(awk -v d="$((c1 - C0[$s]))" -v hz="$hz" -v w="$IDLE" -v n="$BIG" \
			'BEGIN { printf "%.1f", d / hz / (n * w / 10) * 1e6 }')"
		;;
	nv1)
		rec idle.cpu.1s natsvisor "$v"
		rec idle.ping_us.1s natsvisor "$(awk -v d="$((c1 - C0[$s]))" -v hz="$hz" -v w="$IDLE" -v n="$BIG" \
			'BEGIN { printf "%.1f", d / hz / (n * w) * 1e6 }')"
		;;
	*) rec idle.cpu "$s" "$v"; rec idle.cpu.10s "$s" "$v"; rec idle.cpu.1s "$s" "$v" ;;
	esac
done
nv_stop "$NV1"

say "control at N=$BIG"
mid=$(printf 's%04d' $((BIG / 2)))
nvsock=$W/sc$BIG-$BIGREP-nvl.sock
hf control.status.big natsvisor "$RUNS" "$NV_CTL" -s "$nvsock" status "$mid"
hf control.isready.big natsvisor "$RUNS" "$NV_CTL" -s "$nvsock" is-ready "$mid"
hf control.wait.big natsvisor "$RUNS" "$NV_CTL" -s "$nvsock" wait-ready "$mid"
[[ -z $CTL_ALT ]] ||
	hf control.status_alt.big natsvisor "$RUNS" "$CTL_ALT" -s "$nvsock" status "$mid"
for p in "${!BIGPID[@]}"; do
	mapfile -t cmd < <(peer_status_cmd "$p" "$W/sc$BIG-$BIGREP-$p" "$mid")
	runs=$RUNS
	[[ $p == supervisord ]] && runs=$((RUNS > 3 ? 3 : RUNS))
	hf control.status.big "$p" "$runs" "${cmd[@]}"
done
hf_run
read -r _ _ v _ _ < <("$NVBENCH" ctlrt -s "$nvsock" -N "$mid" -r "$((RUNS * 5))")
rec control.rt.big natsvisor "$v"
for p in "${!BIGPID[@]}"; do
	peer_stop "${BIGPID[$p]}" "$W/sc$BIG-$BIGREP-$p"
done
nv_stop "$NVBIG"

# === 5. loss under chaos ======================================================
say "chaos: 1000 msg/s, the listener killed $CHAOS_KILLS times"
# A short AckWait (where natsvisor-listen has --ack-wait) lets JetStream
# redeliver what a killed listener had not acknowledged sooner than 30 s.
ackwait=
"$NV_LISTEN" --help 2>&1 | grep -q -- --ack-wait && ackwait=' --ack-wait 1s'
"$NVBENCH" mkstream -u "$NATS_URL" -n CHAOS -S chaos.durable
{
	for m in plain gate confirm durable; do
		mkdir -p "$W/chaos/$m"
		printf '[listener:c-%s]\nsubjects = chaos.%s\nbackoff_initial = 0\n' "$m" "$m"
		printf 'directory = %s\n' "$W/chaos/$m"
		if [[ $m == durable ]]; then
			printf 'command = %s --inbox %s --durable bench --stream CHAOS --create%s\n' \
				"$NV_LISTEN" "$W/chaos/$m/inbox" "$ackwait"
		else
			printf 'command = %s --inbox %s\n' "$NV_LISTEN" "$W/chaos/$m/inbox"
		fi
	done
} | nv_conf "$W/nvX.ini" "$W/nvX.sock"
nv_daemon_start "$W/nvX.ini"
nvX=$NV_DAEMON_PID
nvctl wait-ready --timeout 60s >/dev/null || fail "chaos listeners never ready"
for m in plain gate confirm durable; do
	line=$("$NVBENCH" chaos -u "$NATS_URL" -s "$W/nvX.sock" -S "chaos.$m" \
		-N "c-$m" -m "$m" -b "$W/chaos/$m/inbox" -r 1000 -k "$CHAOS_KILLS" -i 250)
	say "  $line"
	read -r -a f <<<"$line"
	rec "chaos.lost.$m" natsvisor "${f[7]}"
	rec "chaos.sent.$m" natsvisor "${f[3]}"
	rec "chaos.dup.$m" natsvisor "${f[9]}"
	rec "chaos.errors.$m" natsvisor "${f[11]}"
done
nv_stop "$nvX"

# === the table ================================================================
rec meta.seconds - "$((SECONDS - T_BEGIN))"
rec meta.peers - "${PEERS[*]}"
jq -R -s 'split("\n") | map(select(length > 0) | split("\t") |
	{metric: .[0], system: .[1], value: .[2]})' "$OUT" >"${OUT%.txt}.json"

N1=${SIZES[0]}
ROWS=(
	"kill -9 → running, ms (min/med/p90/max)|restart.run.b0|restart.run.b0"
	"  (floor: kill, waitpid, fork+exec → main)|floor.restart|restart.run.b0"
	"  (floor: fork+exec → main, static child)|floor.exec|-"
	"  (floor: kill → reaped, the death alone)|floor.reaped|-"
	"  (floor: execve → main alone)|floor.execve|-"
	"  (floor: the two, what nothing can do ahead)|floor.bound|restart.run.b0"
	"  the child on musl (no glibc start-up)|restart.run_m|restart.run_m"
	"  (floor: the same, child on musl)|floor.restart_m|restart.run_m"
	"  (floor: execve → main alone, musl)|floor.execve_m|-"
	"  (floor: death + execve, musl)|floor.bound_m|restart.run_m"
	"  natsvisor: bench-listen, backoff 0|restart.runl.b0|restart.run.b0"
	"  (floor: the same, bench-listen)|floor.restart_l|-"
	"  (floor: its death alone, nats.c threads and all)|floor.reaped_l|-"
	"  natsvisor: bench-rawlisten, backoff 0|restart.runr.b0|restart.run.b0"
	"  (floor: the same, bench-rawlisten)|floor.restart_r|-"
	"  natsvisor: bench-listen, default backoff|restart.runl.def|restart.run.b0"
	"kill -9 → ready (pong), backoff 0, ms|restart.ready.b0|-"
	"  (floor: bench-listen fork → main)|floor.lexec|-"
	"  (floor: bench-listen fork → connected)|floor.lconn|-"
	"  (floor: bench-listen fork → subscribed)|floor.lsub|-"
	"  kill -9 → listener connected to NATS|restart.phase.conn|-"
	"  kill -9 → listener subscribed (ping sub)|restart.phase.sub|-"
	"  kill -9 → its first pong seen on the server|restart.phase.pong|-"
	"kill -9 → ready (pong), backoff 0, raw-protocol listener, ms|restart.readyr.b0|-"
	"  (floor: bench-rawlisten fork → main)|floor.rexec|-"
	"  (floor: bench-rawlisten fork → connected)|floor.rconn|-"
	"  (floor: bench-rawlisten fork → subscribed)|floor.rsub|-"
	"  kill -9 → raw listener connected to NATS|restart.phaser.conn|-"
	"  kill -9 → raw listener subscribed (ping sub)|restart.phaser.sub|-"
	"  kill -9 → its first pong seen on the server|restart.phaser.pong|-"
	"  last pong → wait-ready returns, ms|control.pong_to_wait_r|-"
	"kill -9 → ready (pong), default backoff, ms|restart.ready.def|-"
	"start → all spawned, N=$N1, s|scale.spawned.$N1|scale.spawned.$N1"
	"  (floor: no supervisor, vfork+exec, a thread per CPU)|scale.floor.$N1|scale.spawned.$N1"
	"start → all spawned, N=$BIG, s|scale.spawned.$BIG|scale.spawned.$BIG"
	"  (floor: no supervisor, vfork+exec, a thread per CPU)|scale.floor.$BIG|scale.spawned.$BIG"
	"  CPU used by then: supervisor processes, s|scale.cpu_sup.$BIG|scale.cpu_sup.$BIG"
	"  CPU used by then: the children (fork → main), s|scale.cpu_kids.$BIG|-"
	"  (floor: its children's CPU by then, s)|scale.floor_cpu.$BIG|-"
	"start → all spawned (bench-listen), N=$BIG, s|scale.spawned_l.$BIG|scale.spawned.$BIG"
	"start → all ready, N=$N1, s|scale.ready.$N1|-"
	"start → all ready, N=$BIG, s|scale.ready.$BIG|-"
	"start → all ready (raw listener), N=$BIG, s|scale.ready_r.$BIG|-"
	"RSS, N=$BIG, MiB (peers: sum)|scale.rss.$BIG|scale.rss.$BIG"
	"PSS, N=$BIG, MiB (peers: sum)|scale.pss.$BIG|scale.pss.$BIG"
	"idle CPU, N=$BIG, s/min, health 10s|idle.cpu.10s|idle.cpu"
	"idle CPU, N=$BIG, s/min, health 1s|idle.cpu.1s|idle.cpu"
	"CPU per ping, µs (health 10s)|idle.ping_us.10s|-"
	"CPU per ping, µs (health 1s)|idle.ping_us.1s|-"
	"status NAME, N=1, ms|control.status.1|control.status.1"
	"status NAME, N=$BIG, ms|control.status.big|control.status.big"
	"  natsvisor's share: the round trip alone, N=1, ms|control.rt.1|-"
	"  natsvisor's share: the round trip alone, N=$BIG, ms|control.rt.big|-"
	"  natsvisorctl --ctl-alt, N=1, ms|control.status_alt.1|control.status.1"
	"  natsvisorctl --ctl-alt, N=$BIG, ms|control.status_alt.big|control.status.big"
	"is-ready NAME, N=1, ms|control.isready.1|control.status.1"
	"is-ready NAME, N=$BIG, ms|control.isready.big|control.status.big"
	"wait-ready (ready), N=1, ms|control.wait.1|control.wait.1"
	"wait-ready (ready), N=$BIG, ms|control.wait.big|control.status.big"
	"last pong → wait-ready returns, ms|control.pong_to_wait|-"
	"(reference: /bin/true, exec floor), ms|control.true|-"
	"(reference: natsvisorctl --version, its start alone), ms|control.ctlstart|-"
	"publish+flush, plain nats.c, ms|pub.lat.plain|-"
	"gated publish, natsvisorctl, ms|pub.lat.natsvisorctl|-"
	"gated publish, control socket, ms|pub.lat.ctl|-"
	"gated publish --confirm, socket, ms|pub.lat.ctl-confirm|-"
	"NATS-side wait-ready + publish, ms|pub.lat.nats-side|-"
	"added latency, natsvisorctl, ms|pub.added.natsvisorctl|-"
	"added latency, NATS-side, ms|pub.added.nats-side|-"
	"gated publish, msgs/s (natsvisorctl)|pub.rate.natsvisorctl|-"
	"gated publish, msgs/s (socket, 1 in flight)|pub.rate.ctl|-"
	"gated publish, msgs/s (socket, 32 in flight)|pub.rate.ctl-x32|-"
	"NATS-side gated publish, msgs/s|pub.rate.nats-side|-"
	"lost of ~$(awk -F'\t' '$1 == "chaos.sent.plain" { print $3 }' "$OUT"), no gate|chaos.lost.plain|-"
	"lost, gated|chaos.lost.gate|-"
	"lost, gated --confirm (+retry)|chaos.lost.confirm|-"
	"lost, durable (JetStream)|chaos.lost.durable|-"
)
COLS=(natsvisor "${PEERS_ALL[@]}")
printf '\n'
{
	printf 'metric'
	for c in "${COLS[@]}"; do printf '\t%s' "$c"; done
	printf '\tratio\n'
	for row in "${ROWS[@]}"; do
		IFS='|' read -r label key base <<<"$row"
		# a row without a single figure (e.g. no --ctl-alt) is left out
		awk -F'\t' -v k="$key" '$1 == k { f = 1 } END { exit !f }' "$OUT" || continue
		printf '%s' "$label"
		for c in "${COLS[@]}"; do
			v=$(awk -F'\t' -v k="$key" -v s="$c" '$1 == k && $2 == s { v = $3 } END { print v }' "$OUT")
			printf '\t%s' "${v:--}"
		done
		ratio=-
		if [[ $base != - ]]; then
			nvv=$(awk -F'\t' -v k="$key" '($1 == k ".med" || $1 == k) && $2 == "natsvisor" { v = $3 } END { print v }' "$OUT")
			best=$(awk -F'\t' -v k="$base" '($1 == k ".med" || ($1 == k && $3 !~ /\//)) &&
				$2 != "natsvisor" && $2 != "-" && $3 != "" {
					if (b == "" || $3 + 0 < b + 0) { b = $3 }
				} END { print b }' "$OUT")
			if [[ -n $nvv && -n $best ]]; then
				ratio=$(awk -v a="$nvv" -v b="$best" 'BEGIN {
					if (b + 0 == 0) print (a + 0 == 0 ? "1.00" : "inf");
					else printf "%.2f", a / b }')
			fi
		fi
		printf '\t%s\n' "$ratio"
	done
} | column -t -s $'\t' -o '  '
printf '\nratio: natsvisor / the best peer of the row (median where a cell has four figures).\n'
printf 'raw figures: %s and %s; %s s in all.\n' "$OUT" "${OUT%.txt}.json" "$((SECONDS - T_BEGIN))"
