#!/usr/bin/env bash
# smoke.sh: `make check`'s smoke run of the benchmark (bench.sh --quick):
# N = 10, a few kills, a 2 s idle window.  It checks that every program
# and every section works and that the table and the raw figures come
# out; it asserts no timing.  Peers that are not installed are left out
# (it never installs anything).
set -euo pipefail
: "${top_builddir:?}" "${top_srcdir:?}"
work=$(mktemp -d "${TMPDIR:-/tmp}/nv-bench-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
rc=0
bash "$top_srcdir/tests/bench/bench.sh" --quick --no-install \
	--out "$work/results.txt" >"$work/table" || rc=$?
cat "$work/table"
[[ $rc -eq 0 ]] || { echo "FAIL: bench.sh exited $rc"; exit 1; }
# figure KEY SYSTEM: the raw figure, or fail.
figure() {
	local v
	v=$(awk -F'\t' -v k="$1" -v s="$2" '$1 == k && $2 == s { v = $3 } END { print v }' \
		"$work/results.txt")
	[[ -n $v && $v != - ]] || { echo "FAIL: no figure $1 for $2"; exit 1; }
	printf '%s\n' "$v"
}
for k in restart.run.b0 restart.runl.b0 restart.ready.b0 restart.ready.def \
	restart.runr.b0 restart.readyr.b0 \
	floor.restart floor.reaped floor.execve floor.bound \
	control.pong_to_wait scale.spawned.10 scale.ready.10 scale.rss.10 \
	scale.floor.10 scale.floor_cpu.10 \
	idle.cpu.10s idle.cpu.1s pub.lat.plain pub.lat.ctl pub.lat.natsvisorctl \
	pub.lat.nats-side pub.rate.ctl-x32 chaos.lost.plain chaos.lost.gate \
	chaos.lost.confirm chaos.lost.durable; do
	figure "$k" natsvisor >/dev/null
done
# Of each floor restart, the death and the exec are parts: never more
# than the whole (a check of the stamps, not of any timing).
awk -v b="$(figure floor.bound.med natsvisor)" -v r="$(figure floor.restart.med natsvisor)" \
	'BEGIN { exit !(b > 0 && b <= r) }' ||
	{ echo "FAIL: floor parts ($(figure floor.bound natsvisor)) exceed the restart ($(figure floor.restart natsvisor))"; exit 1; }
[[ -s $work/results.json ]] || { echo "FAIL: no JSON results"; exit 1; }
grep -q '^metric' "$work/table" || { echo "FAIL: no table"; exit 1; }
echo "PASS: bench smoke"
