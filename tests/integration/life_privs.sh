#!/bin/bash
# Case R20 and the privilege/environment part of issue 4.  The parts that
# run listeners as the system's `nobody`/`nogroup` (and another user's
# supplementary groups) need root and are skipped otherwise.
#  - with a control socket, a pidfile, a log_file, the NATS connection and
#    --ready-fd 5 open in the daemon, /proc/PID/fd of a listener holds
#    exactly 0 (/dev/null), 1 and 2 (pipes);
#  - natsvisorctl run as the listener's user cannot use the control socket
#    (exit 3);
#  - user, group, supplementary groups, directory, umask, limit_nofile,
#    limit_core, environment, clear_environment; HOME, USER and LOGNAME
#    follow user (also a uid without an entry: HOME=/); PWD follows
#    directory; NOTIFY_SOCKET never reaches a child;
#  - the daemon raises its own soft open-files limit to the hard one and
#    gives children the original soft limit back;
#  - 100 restarts of a listener leave the daemon's descriptor count as it
#    was.
. "$(dirname "$0")/life-lib.sh"
as_root=
if (($(id -u) == 0)) && getent passwd nobody >/dev/null &&
	getent group nogroup >/dev/null && command -v setpriv >/dev/null; then
	as_root=1
fi
nv_setup
nats_start

T=$NV_DIR
mkdir -m 0755 "$T/work"
sup_user='' sup_gid='' ghost=''
if [[ -n $as_root ]]; then
	# A uid without an entry in the user database, as in containers.
	for ghost in 54321 54322 54323 ''; do
		getent passwd "$ghost" >/dev/null || break
	done
	chmod 0755 "$T"	# nobody may look in; the socket itself stays 0600
	nobody_home=$(getent passwd nobody | cut -d: -f6)
	# A user with a supplementary group, if this system has one.
	while IFS=: read -r _ _ gid members; do
		for u in ${members//,/ }; do
			if getent passwd "$u" >/dev/null; then
				sup_user=$u sup_gid=$gid
				break 2
			fi
		done
	done </etc/group
else
	nv_log "not root (or no nobody/nogroup/setpriv): user and group parts skipped"
fi

nv_write_config "$T/nv.ini" - <<EOT
pidfile = $T/nv.pid

[defaults]
backoff_initial = 0
backoff_max     = 0

[listener:peek]
command  = sh -c 'echo peek started; exec sleep 3600'
subjects = peek.in
${as_root:+user     = nobody}
log_file = $T/peek.log

[listener:who]
command     = sleep 3601
subjects    = who.in
${as_root:+user        = nobody}
${as_root:+group       = nogroup}
directory   = $T/work
umask       = 027
limit_nofile = 123
limit_core  = 1M
environment = FOO=bar "SPACED=a b"

[listener:clean]
command           = /bin/sleep 3602
subjects          = clean.in
clear_environment = yes
environment       = ONLY=this

[listener:inherit]
command  = sleep 3603
subjects = inherit.in
${ghost:+
[listener:ghost]
command  = sleep 3605
subjects = ghost.in
user     = $ghost}
${sup_user:+
[listener:sup]
command  = sleep 3604
subjects = sup.in
user     = $sup_user}
EOT

# The daemon starts with a soft open-files limit below the hard one, a
# notify socket in its environment and descriptor 5 for --ready-fd.
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
soft=$((hard > 2048 ? 1024 : hard / 2))
ulimit -Sn "$soft"
exec 5>"$T/ready"
NOTIFY_SOCKET=$T/notify.sock nv_daemon_start "$T/nv.ini" --ready-fd 5
exec 5>&-

pid_of() { listener_pid "$1" 2>/dev/null; }
have_pids() {
	local n
	for n in peek who clean inherit ${sup_user:+sup} ${ghost:+ghost}; do
		pid_of $n >/dev/null || return 1
	done
	[[ -s $T/peek.log ]]
}
wait_until 10 have_pids || fail "listeners not all started"
dpid=$NV_DAEMON_PID

# The daemon does hold all of these.
dfds=$(ls -l "/proc/$dpid/fd" | awk '{ print $NF }')
for want in "$T/nv.pid" "$T/peek.log" "$T/ready" 'socket:'; do
	grep -qF -- "$want" <<<"$dfds" || fail "the daemon holds no $want"
done
grep -q "127.0.0.1:$NATS_PORT" <(ss -tnp 2>/dev/null | grep "pid=$dpid,") ||
	nv_log "(ss could not show the daemon's NATS connection)"

# --- R20: only 0, 1, 2 in every listener -------------------------------------
for n in peek who clean inherit; do
	p=$(pid_of $n)
	fdlist=$(cd "/proc/$p/fd" && printf '%s ' *)
	assert_eq "0 1 2 " "$fdlist" "descriptors of $n (pid $p)"
	assert_eq /dev/null "$(readlink "/proc/$p/fd/0")" "stdin of $n"
	[[ $(readlink "/proc/$p/fd/1") == pipe:* &&
		$(readlink "/proc/$p/fd/2") == pipe:* ]] ||
		fail "stdout/stderr of $n are not pipes"
done
if [[ -n $as_root ]]; then
	assert_exit 3 setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$NV_CTL" -s "$NV_SOCK" status
fi

# --- user, group, directory, umask, limits -----------------------------------
status_of() { awk -v k="$2:" '$1 == k { $1 = ""; print substr($0, 2) }' "/proc/$1/status"; }
limit_of() { awk -v k="$2" 'index($0, k) == 1 { print $(NF - 2) }' "/proc/$1/limits"; }
env_of() { tr '\0' '\n' <"/proc/$1/environ"; }
p=$(pid_of who)
if [[ -n $as_root ]]; then
	assert_eq "65534 65534 65534 65534" "$(status_of "$p" Uid)" "uids of who"
	assert_eq "65534 65534 65534 65534" "$(status_of "$p" Gid)" "gids of who"
	assert_eq "65534" "$(status_of "$p" Groups | tr -d ' ')" "groups of who"
	assert_eq "$(status_of "$(pid_of peek)" Uid)" "$(status_of "$p" Uid)" \
		"uids of peek"
fi
assert_eq "$T/work" "$(readlink "/proc/$p/cwd")" "directory of who"
assert_eq 0027 "$(status_of "$p" Umask)" "umask of who"
assert_eq 123 "$(limit_of "$p" 'Max open files')" "limit_nofile of who"
assert_eq 1048576 "$(limit_of "$p" 'Max core file size')" "limit_core of who"
env=$(env_of "$p")
for kv in FOO=bar "SPACED=a b" NATSVISOR_NAME=who "NATSVISOR_SUBJECTS=who.in" "PWD=$T/work" \
	"NATS_URL=$NATS_URL" ${as_root:+USER=nobody LOGNAME=nobody "HOME=$nobody_home"}; do
	grep -qxF -- "$kv" <<<"$env" || fail "who's environment lacks $kv"
done
grep -q '^NATSVISOR_PING_SUBJECT=_NATSVISOR\.' <<<"$env" ||
	fail "who's environment lacks NATSVISOR_PING_SUBJECT"

# A uid without an entry: its own number as group, HOME=/, USER and
# LOGNAME the number (not the daemon's HOME).
if [[ -n $ghost ]]; then
	p=$(pid_of ghost)
	assert_eq "$ghost $ghost $ghost $ghost" "$(status_of "$p" Uid)" "uids of ghost"
	assert_eq "$ghost $ghost $ghost $ghost" "$(status_of "$p" Gid)" "gids of ghost"
	env=$(env_of "$p")
	for kv in HOME=/ "USER=$ghost" "LOGNAME=$ghost"; do
		grep -qxF -- "$kv" <<<"$env" || fail "ghost's environment lacks $kv"
	done
fi

# clear_environment: only natsvisor's variables and its own.
p=$(pid_of clean)
names=$(env_of "$p" | cut -d= -f1 | sort | tr '\n' ' ')
assert_eq "NATSVISOR_HELLO_SUBJECT NATSVISOR_NAME NATSVISOR_PING_SUBJECT NATSVISOR_SUBJECTS NATS_URL ONLY " \
	"$names" "environment of clean"

# inherit: the daemon's environment minus NOTIFY_SOCKET; the daemon's own
# soft limit raised, the child's the original.
p=$(pid_of inherit)
env=$(env_of "$p")
grep -qx "NV_TEST_ID=$NV_TEST_ID" <<<"$env" || fail "inherit lost the daemon's environment"
for n in peek who clean inherit; do
	env_of "$(pid_of $n)" | grep -q '^NOTIFY_SOCKET=' &&
		fail "NOTIFY_SOCKET reached $n"
done
assert_eq "$(id -u)" "$(status_of "$p" Uid | cut -d" " -f1)" "uid of inherit"
assert_eq "$soft" "$(limit_of "$p" 'Max open files')" "soft open-files limit of inherit"
dsoft=$(limit_of "$dpid" 'Max open files')
nv_log "open files: daemon started with $soft (hard $hard), runs with $dsoft; children get $soft"
assert_eq "$(ulimit -Hn)" "$dsoft" "the daemon's own soft open-files limit"

if [[ -n $sup_user ]]; then
	p=$(pid_of sup)
	grep -qw "$sup_gid" <<<"$(status_of "$p" Groups)" ||
		fail "sup ($sup_user) lacks its supplementary group $sup_gid"
	nv_log "user $sup_user: groups $(status_of "$p" Groups)"
else
	nv_log "no user with a supplementary group here: that check skipped"
fi

# --- 100 restarts of peek: the daemon's descriptor count stays -------------
fds0=$(fd_count "$dpid")
for ((i = 0; i < 100; i++)); do
	p=$(pid_of peek) || fail "peek has no pid (restart $i)"
	kill -KILL "$p"
	newpeek() { local q; q=$(pid_of peek) && [[ $q != "$p" ]]; }
	wait_until 5 newpeek || fail "peek not restarted ($i)"
done
fds1=$(fd_count "$dpid")
nv_log "daemon descriptors: $fds0 before, $fds1 after 100 restarts of peek"
assert_eq "$fds0" "$fds1" "daemon descriptors after 100 restarts"
assert_eq 101 "$(grep -c 'peek started' "$T/peek.log")" "peek's lines in its log"

nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
