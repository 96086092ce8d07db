#!/bin/bash
# Issue 4, orphans at shutdown (natsvisord(8), PROCESSES): every process
# the daemon is responsible for when it stops is stopped, also those it
# adopts only after its SIGTERM or SIGKILL round killed their parent.
#  - four setsid'd shells ignoring SIGTERM, each with a child in its group
#    that ignores it too (the reported case): the shell is killed with its
#    group, child included;
#  - a shell ignoring SIGTERM whose child has its own session: the child
#    is adopted after the SIGKILL round and killed at once;
#  - a shell that dies on SIGTERM whose child (own session) ignores it:
#    adopted during the grace period, it gets SIGTERM, then SIGKILL;
#  - a chain of four such shells, each the child of the one above in a
#    session of its own: each level is adopted only once the one above is
#    killed, after the SIGKILL round;
#  - nothing survives, no "orphans survive SIGKILL" warning, and the
#    daemon exits in bounded time (before the 5 s give-up, not at it).
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
# inner.sh TERM CHILD FILE [DEPTH]: TERM is ign (ignore SIGTERM) or die;
# the child (ignoring SIGTERM) stays in the shell's group (grp) or has its
# own session (sess); with chain, it is inner.sh again in its own session
# (writing FILE.DEPTH) down to DEPTH 1; "shell-pid child-pid" is written
# to FILE.
cat >"$T/inner.sh" <<'EOT'
#!/bin/sh
[ "$1" = ign ] && trap '' TERM
if [ "$2" = chain ] && [ "$4" -gt 1 ]; then
	setsid "$0" ign chain "$3.$4" $(($4 - 1)) &
elif [ "$2" = grp ]; then
	sh -c "trap '' TERM; exec sleep 1000" &
else
	setsid sh -c "trap '' TERM; exec sleep 1000" &
fi
echo "$$ $!" >"$3.tmp" && mv "$3.tmp" "$3"
wait
EOT
cat >"$T/tree.sh" <<EOT
#!/bin/sh
for i in 1 2 3 4; do
	setsid $T/inner.sh ign grp $T/grp\$i </dev/null >/dev/null 2>&1 &
done
setsid $T/inner.sh ign sess $T/late </dev/null >/dev/null 2>&1 &
setsid $T/inner.sh die sess $T/grace </dev/null >/dev/null 2>&1 &
setsid $T/inner.sh ign chain $T/chain 4 </dev/null >/dev/null 2>&1 &
exec $NV_LISTEN --stdout
EOT
chmod +x "$T/inner.sh" "$T/tree.sh"

nv_write_config "$T/nv.ini" - <<EOT
[listener:dbl]
command  = $T/tree.sh
subjects = dbl.in
EOT
nv_daemon_start "$T/nv.ini"
assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s"

files="grp1 grp2 grp3 grp4 late grace chain chain.4 chain.4.3 chain.4.3.2"
all_written() {
	local f
	for f in $files; do [[ -s $T/$f ]] || return 1; done
}
wait_until 5 all_written || fail "the inner shells did not write their pids"
pids=
for f in $files; do
	read -r sh child <"$T/$f"
	eval "sh_$f=$sh child_$f=$child"
	nv_track "$sh" "inner shell $f"
	nv_track "$child" "child of $f"
	pids+=" $sh $child"
done
for p in $pids; do
	pid_alive "$p" || fail "process $p died before the shutdown"
done
# shellcheck disable=SC2154 # set by eval
[[ $(ps -o sid= -p "$child_late" | tr -d ' ') == "$child_late" ]] ||
	fail "the child of late has no session of its own"

t0=$(now_ms)
nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
elapsed=$(($(now_ms) - t0))
nv_log "shutdown took $elapsed ms"
for p in $pids; do
	pid_alive "$p" && fail "process $p survived the daemon's shutdown"
done
# SIGKILL comes 2 s after SIGTERM; the give-up is at 5 s.
((elapsed < 4500)) || fail "shutdown took $elapsed ms"
! daemon_log_has 'orphans survive SIGKILL|still exiting' ||
	fail "the daemon gave up on orphans"
for f in grp1 grp2 grp3 grp4 late; do
	s=sh_$f
	daemon_log_has "stopping orphan pid ${!s} with SIGTERM \\(its process group\\)" &&
		daemon_log_has "stopping orphan pid ${!s} with SIGKILL \\(its process group\\)" ||
		fail "shell $f (${!s}) not stopped as a group"
done
# shellcheck disable=SC2154
daemon_log_has "stopping orphan pid $child_late with SIGKILL" ||
	fail "the child of late ($child_late), adopted after SIGKILL, not killed"
daemon_log_has "stopping orphan pid $child_late with SIGTERM" &&
	fail "the child of late ($child_late) got SIGTERM after the grace period"
# shellcheck disable=SC2154
daemon_log_has "stopping orphan pid $child_grace with SIGTERM" &&
	daemon_log_has "stopping orphan pid $child_grace with SIGKILL" ||
	fail "the child of grace ($child_grace), adopted during the grace period, not stopped"
pass
