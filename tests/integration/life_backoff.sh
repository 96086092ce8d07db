#!/bin/bash
# Case R06 (issue 4): a crash loop gives up, and the backoff has a ceiling.
#  - flap (exit 1, max_restarts 3): exactly 4 spawns, gaps ~100/200/400 ms,
#    then fatal with the last exit status 1; wait-ready exits 5 at once;
#    `start` revives it with a fresh count (4 more spawns, fatal again);
#  - zero (exit 0 at once, restart = always) is counted the same way;
#  - jitter (factor 1, jitter 0.5): every delay within +-50 %, not all equal;
#  - late (max_restarts 0) fails until a file appears: no delay above
#    backoff_max + jitter, no give-up, ready soon after the file appears;
#  - reset: the delay grows 200, 400, 800 ms while the listener never stays
#    ready for backoff_reset, and is 200 ms again after it has;
#  - wait30 (a 30 s backoff): status counts the time left down.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
stamp='echo $EPOCHREALTIME >>'
nv_write_config "$T/nv.ini" - <<EOT
[defaults]
backoff_jitter  = 0

[listener:flap]
command         = bash -c '$stamp $T/flap.spawns; exit 1'
subjects        = flap.in
restart         = always
backoff_initial = 100ms
backoff_factor  = 2
backoff_max     = 400ms
max_restarts    = 3
restart_window  = 60s

[listener:zero]
command         = bash -c '$stamp $T/zero.spawns; exit 0'
subjects        = zero.in
restart         = always
backoff_initial = 100ms
backoff_max     = 400ms
max_restarts    = 3

[listener:jitter]
command         = bash -c '$stamp $T/jitter.spawns; exit 1'
subjects        = jitter.in
backoff_initial = 200ms
backoff_factor  = 1
backoff_jitter  = 0.5
max_restarts    = 8
restart_window  = 60s

[listener:late]
command         = bash -c '$stamp $T/late.spawns; test -e $T/fixed || exit 1; exec $NV_LISTEN --stdout'
subjects        = late.in
backoff_initial = 100ms
backoff_max     = 400ms
backoff_jitter  = 0.1
max_restarts    = 0

[listener:wait30]
command         = bash -c 'exit 1'
subjects        = wait30.in
backoff_initial = 30s
max_restarts    = 0

[listener:reset]
command         = $NV_LISTEN --stdout
subjects        = reset.in
backoff_initial = 200ms
backoff_factor  = 2
backoff_max     = 10s
backoff_reset   = 1s
health_interval = 100ms
EOT
nv_daemon_start "$T/nv.ini"
slack=$(nv_scale 150)
slack=${slack%.*}

# --- flap: 4 spawns, growing gaps, fatal -----------------------------------
wait_until 10 state_is flap fatal || fail "flap never fatal"
assert_eq 4 "$(wc -l <"$T/flap.spawns")" "spawns of flap"
read -r -a gaps <<<"$(spawn_gaps "$T/flap.spawns")"
nv_log "flap gaps (ms): ${gaps[*]}"
expected=(100 200 400)
for i in 0 1 2; do
	within "${expected[$i]}" $((expected[i] + slack)) "${gaps[$i]}" ||
		fail "flap gap $((i + 1)): ${gaps[$i]} ms, expected ${expected[$i]} ms"
done
assert_eq 1 "$(listener_field flap last_exit_code)" "flap last_exit_code"
assert_eq null "$(listener_field flap last_signal)" "flap last_signal"
line=$(nvctl status flap | awk '$1 == "flap"')
[[ $line =~ fatal.*\ status\ 1\ .*gave\ up\ after\ 3\ restarts ]] ||
	fail "status flap: $line"
t0=$(now_ms)
assert_exit 5 nvctl wait-ready --timeout 10s flap
(($(now_ms) - t0 < 1000)) || fail "wait-ready on a fatal listener waited"
[[ $NV_OUT == *"flap: fatal"* ]] || fail "wait-ready gave no reason"

# natsvisorctl start: a fresh restart count.
assert_exit 0 nvctl start flap
wait_until 10 state_is flap fatal || fail "flap not fatal again"
assert_eq 8 "$(wc -l <"$T/flap.spawns")" "spawns of flap after start"

# --- zero: exit 0 under restart = always is a failed start ------------------
wait_until 10 state_is zero fatal || fail "zero never fatal"
assert_eq 4 "$(wc -l <"$T/zero.spawns")" "spawns of zero"
assert_eq 0 "$(listener_field zero last_exit_code)" "zero last_exit_code"

# --- jitter: delays spread +-50 % around 200 ms ------------------------------
wait_until 15 state_is jitter fatal || fail "jitter never fatal"
mapfile -t delays < <(sed -n 's/.*jitter: [a-z]* -> backoff: .*restarting in \([0-9]*\)ms$/\1/p' \
	"$T/natsvisord.log")
nv_log "jitter delays (ms): ${delays[*]}"
((${#delays[@]} == 8)) || fail "expected 8 jittered delays, got ${#delays[@]}"
distinct=$(printf '%s\n' "${delays[@]}" | sort -u | wc -l)
for x in "${delays[@]}"; do
	within 100 300 "$x" || fail "jittered delay $x ms outside 100..300"
done
((distinct >= 3)) || fail "jitter: only $distinct distinct delays"

# --- late: never gives up, delays capped, ready once fixed ------------------
wait_until 10 test -s "$T/late.spawns" || fail "late never spawned"
late_until() { (($(wc -l <"$T/late.spawns") >= 8)); }
wait_until 10 late_until || fail "late did not keep restarting"
touch "$T/fixed"
t0=$(now_ms)
wait_until 5 ready_is late || fail "late not ready after the fix"
fixed_ms=$(($(now_ms) - t0))
nv_log "late: ready ${fixed_ms} ms after the file appeared"
((fixed_ms < 440 + 1000 * NV_SCALE)) || fail "late took ${fixed_ms} ms"
read -r -a gaps <<<"$(spawn_gaps "$T/late.spawns")"
nv_log "late gaps (ms): ${gaps[*]}"
for g in "${gaps[@]}"; do
	((g <= 440 + slack)) || fail "late: a gap of $g ms passes backoff_max"
done
while read -r x; do
	((x <= 440)) || fail "late: delay of $x ms passes backoff_max + jitter"
done < <(sed -n 's/.*late: .*restarting in \([0-9]*\)ms$/\1/p' \
	"$T/natsvisord.log")
daemon_log_has 'late: .*restarting in (3[6-9][0-9]|4[0-4][0-9])ms$' ||
	fail "late never reached backoff_max"

# --- reset: the count starts again after backoff_reset of readiness ---------
wait_until 10 ready_is reset || fail "reset never ready"
expect_delay() {
	local want=$1 pid
	pid=$(listener_pid reset) || fail "reset has no pid"
	kill -KILL "$pid"
	wait_until 5 daemon_log_has "reset: running -> backoff: killed by signal KILL; restarting in $want\$" ||
		fail "reset: no restart delay of $want"
	wait_until 10 ready_is reset || fail "reset not ready again"
}
expect_delay 200ms
expect_delay 400ms
expect_delay 800ms
# Ready for backoff_reset (1 s) and a bit: the next delay is the first one.
ready_at=$(now_ms)
long_ready() { (($(now_ms) - ready_at > 1300)) && ready_is reset; }
wait_until 5 long_ready || fail "reset did not stay ready"
n=$(grep -c 'reset: .*restarting in 200ms$' "$T/natsvisord.log")
expect_delay 200ms
assert_eq $((n + 1)) "$(grep -c 'reset: .*restarting in 200ms$' "$T/natsvisord.log")" \
	"a second 200 ms delay after backoff_reset"

# --- wait30: status counts the backoff down ---------------------------------
wait_until 10 state_is wait30 backoff || fail "wait30 never in backoff"
daemon_log_has 'wait30: .*-> backoff: exited with status 1; restarting in 30s$' ||
	fail "no backoff of 30s in the log"
# seconds_left: what status --json says is left of wait30's backoff.
seconds_left() {
	listener_field wait30 reason | sed -n 's/.*; restarting in \([0-9.]*\)s$/\1/p'
}
counted_down() { local v; v=$(seconds_left); [[ -n $v ]] && awk -v v="$v" 'BEGIN { exit !(v < 29.5) }'; }
wait_until 5 counted_down || fail "the backoff does not count down: $(listener_field wait30 reason)"
nvctl status wait30 | grep -q 'restarting in 2[0-9]\.\?[0-9]*s' ||
	fail "status text does not count down: $(nvctl status wait30)"

nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
