# peers.sh: service trees for natsvisor's peers, sourced by bench.sh.
#
# Every peer supervises bench-child, run by hand as an ordinary process in
# a scratch directory (never as a system service), and is stopped by pid:
#   s6           s6-svscan -c 2000 DIR, one s6-supervise per service
#   s6-fd        the same with a notification-fd (readiness at once)
#   runit        runsvdir DIR, one runsv per service
#   daemontools  svscan DIR, one supervise per service
#   supervisord  supervisord -n -c FILE, one [program:sNNNN] per service
# A service is named sNNNN (s0000 ...) and its working directory, where
# bench-child writes ./starts and ./pid, is BASE/sNNNN.  For s6, runit and
# daemontools ./run is a symbolic link to bench-child (no shell between).

PEERS_ALL=(s6 s6-fd runit daemontools supervisord)

# peer_have PEER: the peer's programs are installed.
peer_have() {
	case $1 in
	s6 | s6-fd) command -v s6-svscan >/dev/null && command -v s6-svstat >/dev/null ;;
	runit) command -v runsvdir >/dev/null && command -v sv >/dev/null ;;
	daemontools) command -v svscan >/dev/null && command -v svstat >/dev/null ;;
	supervisord) command -v supervisord >/dev/null && command -v supervisorctl >/dev/null ;;
	*) return 1 ;;
	esac
}

# peer_tree PEER BASE N: create BASE with services s0000 ... for N.
peer_tree() {
	local peer=$1 base=$2 n=$3 i s conf
	mkdir -p "$base"
	if [[ $peer == supervisord ]]; then
		conf=$base/supervisord.conf
		{
			printf '[supervisord]\nnodaemon=true\nlogfile=%s\n' "$base/supervisord.log"
			printf 'pidfile=%s\nchildlogdir=%s\nminfds=%d\n' "$base/supervisord.pid" "$base" 1024
			printf '[unix_http_server]\nfile=%s\n' "$base/sv.sock"
			printf '[rpcinterface:supervisor]\n'
			printf 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n'
			printf '[supervisorctl]\nserverurl=unix://%s\n' "$base/sv.sock"
			for ((i = 0; i < n; i++)); do
				printf -v s 's%04d' "$i"
				mkdir -p "$base/$s"
				printf '[program:%s]\ncommand=%s\ndirectory=%s\n' "$s" "$BENCH_CHILD" "$base/$s"
				printf 'autorestart=true\nstdout_logfile=%s\nredirect_stderr=true\n' "$base/$s/out.log"
			done
		} >"$conf"
		return 0
	fi
	for ((i = 0; i < n; i++)); do
		printf -v s 's%04d' "$i"
		mkdir -p "$base/$s"
		ln -s "$BENCH_CHILD" "$base/$s/run"
		[[ $peer == s6-fd ]] && echo 3 >"$base/$s/notification-fd"
	done
	return 0
}

# peer_cmd PEER BASE: print the command line that runs the peer (one word
# a line).
peer_cmd() {
	case $1 in
	s6 | s6-fd) printf '%s\n' s6-svscan -c 2000 "$2" ;;
	runit) printf '%s\n' runsvdir "$2" ;;
	daemontools) printf '%s\n' svscan "$2" ;;
	supervisord) printf '%s\n' supervisord -n -c "$2/supervisord.conf" ;;
	esac
}

# peer_status_cmd PEER BASE NAME: the status query of one service.
peer_status_cmd() {
	case $1 in
	s6 | s6-fd) printf '%s\n' s6-svstat "$2/$3" ;;
	runit) printf '%s\n' sv status "$2/$3" ;;
	daemontools) printf '%s\n' svstat "$2/$3" ;;
	supervisord) printf '%s\n' supervisorctl -c "$2/supervisord.conf" status "$3" ;;
	esac
}

# peer_sup_pids PID: the supervisor processes of a peer launched as PID:
# PID and its descendants that are not bench-child (the children).
peer_sup_pids() {
	local p exe
	printf '%s\n' "$1"
	for p in $(tree_pids "$1"); do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		[[ $exe == "$BENCH_CHILD" ]] && continue
		printf '%s\n' "$p"
	done
}

# peer_stop PID BASE: SIGKILL the peer launched as PID, its supervisors
# and their children (every pid collected first, the scanner killed
# first so that nothing new is started), then any child left in BASE.
peer_stop() {
	local pid=$1 base=$2 all f cpid rest
	all=$(tree_pids "$pid")
	kill -KILL "$pid" 2>/dev/null || true
	# shellcheck disable=SC2086
	[[ -z $all ]] || kill -KILL $all 2>/dev/null || true
	for f in "$base"/s[0-9]*/pid; do
		[[ -f $f ]] || continue
		read -r cpid rest <"$f" || continue
		kill -KILL "$cpid" 2>/dev/null || true
	done
	wait_pid_gone "$pid" 10 || true
	wait "$pid" 2>/dev/null || true
	return 0
}
