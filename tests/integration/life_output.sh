#!/bin/bash
# Case R19 (issue 4): output capture keeps lines whole.
#  - chatty prints 20 000 lines "line-N-" + 300 x to stdout, then 1 MiB of
#    y to stderr without a newline, then "partial" without a newline, and
#    sleeps; log_file with log_max_size 1M, log_keep 3:
#      every line of chatty.log* is a whole original line, a marked piece
#      of exactly 4096 y ("yyy... [...]") or the last piece of the y run;
#      the y pieces add up to 1 MiB; line numbers run without a gap to
#      19999; at most 3 rotated files, each at most 1 MiB, each ending in a
#      newline; "partial" is in the log within 1 s of being written; the
#      child was never blocked; the daemon's RSS stays within a small bound;
#  - short prints 20 000 short lines at the same time to its own log: all
#    there, in order;
#  - mixa and mixb print long lines at the same time to the daemon's
#    stderr: every "mixa: " / "mixb: " line is exactly one original line;
#  - tail prints "last words" without a newline and exits: flushed at exit.
. "$(dirname "$0")/life-lib.sh"
nv_setup
nats_start

T=$NV_DIR
cat >"$T/chatty.sh" <<EOT
#!/bin/bash
echo \$EPOCHREALTIME >$T/chatty.begin
x=\$(printf 'x%.0s' {1..300})
for ((i = 0; i < 20000; i++)); do echo "line-\$i-\$x"; done
head -c 1048576 /dev/zero | tr '\\0' y >&2
echo \$EPOCHREALTIME >$T/chatty.partial
printf partial
exec sleep 3600
EOT
cat >"$T/short.sh" <<EOT
#!/bin/bash
for ((i = 1; i <= 20000; i++)); do echo "short-\$i"; done
exec sleep 3600
EOT
cat >"$T/mix.sh" <<EOT
#!/bin/bash
# mix.sh TAG LETTER LENGTH
pad=\$(printf "\$2%.0s" \$(seq \$3))
for ((i = 1; i <= 3000; i++)); do echo "\$1-\$i-\$pad"; done
exec sleep 3600
EOT
chmod +x "$T"/*.sh

nv_write_config "$T/nv.ini" - <<EOT
[defaults]
autostart = no

[listener:chatty]
command      = $T/chatty.sh
subjects     = chatty.in
log_file     = $T/chatty.log
log_max_size = 1M
log_keep     = 3

[listener:short]
command  = $T/short.sh
subjects = short.in
log_file = $T/short.log

[listener:mixa]
command  = $T/mix.sh A a 3000
subjects = mixa.in

[listener:mixb]
command  = $T/mix.sh B b 1500
subjects = mixb.in

[listener:tail]
command  = sh -c 'printf "last words"; exit 0'
subjects = tail.in
log_file = $T/tail.log
restart  = never
EOT
# Under AddressSanitizer the daemon runs with no quarantine (which would
# hold freed memory back), so that its RSS still shows what it keeps.
if [[ -n ${NV_SANITIZERS:-} ]]; then
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0 \
		nv_daemon_start "$T/nv.ini"
else
	nv_daemon_start "$T/nv.ini"
fi
rss0=$(rss_kb "$NV_DAEMON_PID")
assert_exit 0 nvctl start chatty short mixa mixb tail

# --- the partial line: within 1 s, and the child was never held up ----------
has_partial() { [[ -f $T/chatty.log ]] && grep -qx partial "$T/chatty.log"; }
wait_until 60 has_partial || fail "'partial' never reached chatty.log"
seen=$(now_ms)
begin=$(awk '{ printf "%.0f", $1 * 1000 }' "$T/chatty.begin")
wrote=$(awk '{ printf "%.0f", $1 * 1000 }' "$T/chatty.partial")
nv_log "chatty wrote 7 MiB in $((wrote - begin)) ms; 'partial' seen $((seen - wrote)) ms after it was written"
((seen - wrote <= 1000 * ${NV_SCALE%.*})) || fail "'partial' took $((seen - wrote)) ms"
((wrote - begin <= 20000 * ${NV_SCALE%.*})) || fail "chatty was held up"
rss1=$(rss_kb "$NV_DAEMON_PID")
nv_log "daemon RSS: $rss0 KiB before, $rss1 KiB after 7 MiB of output"
((rss1 - rss0 < 4096)) || fail "the daemon's RSS grew by $((rss1 - rss0)) KiB"

# --- chatty.log*: whole lines, bounded files ---------------------------------
[[ ! -e $T/chatty.log.4 ]] || fail "more than log_keep = 3 rotated files"
files=()
for f in "$T/chatty.log.3" "$T/chatty.log.2" "$T/chatty.log.1" "$T/chatty.log"; do
	[[ -f $f ]] || fail "missing $f"
	files+=("$f")
	size=$(stat -c %s "$f")
	((size <= 1048576)) || fail "$f has $size bytes (log_max_size 1M)"
	[[ $(tail -c 1 "$f" | od -An -c | tr -d ' ') == '\n' ]] ||
		fail "$f does not end with a newline"
done
# (awk, not grep: grep -E with y{4096} takes minutes)
awk '
	/^line-[0-9]+-x+$/ && length($0) - index($0, "x") == 299 { next }
	/^y+ \[\.\.\.\]$/ && length($0) == 4096 + 6 { pieces++; y += 4096; next }
	/^y+$/ && length($0) <= 4096 { last++; y += length($0); next }
	$0 == "partial" { next }
	{ bad++ }
	END { print bad + 0, pieces + 0, last + 0, y + 0 }' "${files[@]}" >"$T/census"
read -r bad pieces last ybytes <"$T/census"
nv_log "1 MiB without newline: $pieces marked pieces, $last last piece, $ybytes bytes of y"
assert_eq 0 "$bad" "lines of chatty.log* that are not whole"
assert_eq 1 "$last" "unmarked last pieces of the y run"
assert_eq 1048576 "$ybytes" "bytes of y in the log"
cat "${files[@]}" | sed -n 's/^line-\([0-9]*\)-.*/\1/p' >"$T/numbers"
gaps=$(awk 'NR > 1 && $1 != p + 1 { n++ } { p = $1 } END { print n + 0 }' "$T/numbers")
assert_eq 0 "$gaps" "gaps in the line numbers of chatty.log*"
assert_eq 19999 "$(tail -n 1 "$T/numbers")" "last line number"
nv_log "kept lines $(head -n 1 "$T/numbers")..19999 in ${#files[@]} files"

# --- short: complete, in order ----------------------------------------------
done_short() { [[ $(tail -n 1 "$T/short.log" 2>/dev/null) == short-20000 ]]; }
wait_until 30 done_short || fail "short.log incomplete"
seq -f 'short-%g' 1 20000 | cmp -s - "$T/short.log" || fail "short.log differs"

# --- mixa/mixb on the daemon's stderr: never interleaved ---------------------
mixdone() {
	(($(grep -c '^mixa: ' "$T/natsvisord.log") == 3000 &&
		$(grep -c '^mixb: ' "$T/natsvisord.log") == 3000))
}
wait_until 30 mixdone || fail "mixa/mixb lines missing"
bad=$(awk '
	/^mixa: / { if (!($0 ~ /^mixa: A-[0-9]+-a+$/ && length($0) - index($0, "-a") == 3000)) n++; next }
	/^mixb: / { if (!($0 ~ /^mixb: B-[0-9]+-b+$/ && length($0) - index($0, "-b") == 1500)) n++; next }
	/aaaaaaaaaa|bbbbbbbbbb/ { n++ }
	END { print n + 0 }' "$T/natsvisord.log")
assert_eq 0 "$bad" "mixed or split lines on the daemon's stderr"

# --- tail: the partial last line is flushed at exit --------------------------
wait_until 10 state_is tail exited || fail "tail did not exit"
wait_until 5 grep -qx 'last words' "$T/tail.log" || fail "'last words' lost"

nv_daemon_stop 20 || fail "exit status $? after SIGTERM"
pass
