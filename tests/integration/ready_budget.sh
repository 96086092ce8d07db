#!/bin/bash
# R16 (b): the server stays away longer than a client's reconnect budget.
# A listener never stays alive but deaf: natsvisor-listen reconnects for
# ever (same pid, ready again once the server is back); a client with a
# small budget (ready-probe with READY_PROBE_MAX_RECONNECT=3, 100 ms
# apart) exits non-zero when its connection closes for good and is
# restarted; once the server is back both are ready and receive.
. "$(dirname "$0")/lib.sh"
PROBE=$top_builddir/tests/integration/ready-probe
[[ -x $PROBE ]] || fail "ready-probe not built (make check builds it)"
nv_setup
nats_start
port=$NATS_PORT

nv_write_config "$NV_DIR/nv.ini" - <<EOT
[defaults]
health_interval = 1s
[listener:forever]
command  = $NV_LISTEN --subject b.forever --inbox $NV_DIR/inbox/forever
subjects = b.forever
[listener:budget]
command     = sh -c 'exec "\$0" "\$NATS_URL" listen b.budget "\$1"' $PROBE $NV_DIR/budget.t
subjects    = b.budget
environment = READY_PROBE_MAX_RECONNECT=3
backoff_max = 500ms
EOT
nv_daemon_start "$NV_DIR/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"
forever=$(listener_pid forever)
budget=$(listener_pid budget)

nats_stop
t_down=$(_nv_now_us)
# The budget client gives up (3 tries, 100 ms apart) and exits 3.
wait_until 5 _nv_pid_gone "$budget" || fail "the budget client stayed alive"
ms=$((($(_nv_now_us) - t_down) / 1000))
nv_log "budget client exited $ms ms into the outage"
# (Its later incarnations cannot connect at all and exit 2.)
wait_until 2 grep -q '^natsvisord: budget: running -> .*exited with status 3' \
	"$NV_DIR/natsvisord.log" || fail "budget did not exit 3 when its budget ran out"
# Its later incarnations cannot connect and exit too; nothing stays deaf,
# nothing goes fatal, the forever listener keeps its pid.
outage_over() {
	[[ $(listener_pid forever) == "$forever" ]] ||
		fail "forever was replaced during the outage"
	[[ $(listener_state budget) != fatal ]] || fail "budget went fatal"
	(($(_nv_now_us) - t_down >= 4000000))
}
wait_until 6 outage_over || fail "outage window"
spawns=$(listener_field budget spawns)
nv_log "budget: $spawns spawns during the 4 s outage"
((spawns >= 2)) || fail "budget was not restarted ($spawns spawns)"

nats_start_port "$port"
t_up=$(_nv_now_us)
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 5)s" forever budget
ms=$((($(_nv_now_us) - t_up) / 1000))
printf 'after a 4 s outage: both ready %s ms after the server was back; budget spawned %s times\n' \
	"$ms" "$(listener_field budget spawns)"
assert_eq "$forever" "$(listener_pid forever)" "forever's pid"
assert_eq 0 "$(listener_field forever restarts)" "forever's restarts"
assert_exit 0 nvctl publish b.forever "to forever"
assert_exit 0 nvctl publish b.budget "to budget"
wait_until 5 grep -rqx "to forever" "$NV_DIR/inbox/forever/new" ||
	fail "forever did not receive"
wait_until 5 grep -q "budget: b.budget to budget" "$NV_DIR/natsvisord.log" ||
	fail "budget did not receive"
nv_daemon_stop 20 || fail "exit status $?"
pass
