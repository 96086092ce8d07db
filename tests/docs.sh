#!/bin/bash
# tests/docs.sh: the documentation check.  Every option, command and exit
# status of the programs, read from the tables in the source, appears both
# in the program's man page and in its --help; every configuration key is
# documented in the right section of natsvisor.ini(5) with the default and
# the reload rule of the key table; every man page is installed and
# formats without a warning (groff -ww, and mandoc -Tlint when mandoc is
# installed).  tests/conf/keys.sh checks the key names against
# natsvisor.ini(5) and etc/natsvisor.ini; this test does not repeat that.
#
# Prints one "FAIL ..." line per problem and a summary; exit 0 or 1 (99
# when something it needs is missing).
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-$srcdir}
man=$srcdir/man
sup=$srcdir/supervisor
fails=0 checks=0

fail() {
	printf 'FAIL %s\n' "$*"
	fails=$((fails + 1))
}

# ok COND-STATUS: count a check.
check() {
	checks=$((checks + 1))
}

# section PAGE NAME: the lines of section NAME (".Sh NAME") of PAGE.
section() {
	awk -v s=".Sh $2" '$0 == s { on = 1; next } /^\.Sh / { on = 0 } on' "$1"
}

# has_re TEXT ERE: does TEXT contain a match of ERE?
has_re() {
	grep -Eq -- "$2" <<<"$1"
}

# man_long PAGE NAME: does PAGE show the long option --NAME?  As
# ".Fl -NAME", or after a short one: ".Fl h , -help", ".Fl h | -help".
man_long() {
	grep -Eq "Fl ([^ ]+ [,|] )?-$2( |$)" "$1"
}

# ere STRING: STRING with the ERE metacharacters escaped.
ere() {
	sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"
}

for f in "$builddir/supervisor/natsvisord" "$builddir/supervisor/natsvisorctl" \
	"$builddir/listeners/natsvisor-listen" "$builddir/tests/conf/nvcheck"; do
	[[ -x $f ]] || { echo "docs.sh: $f is not built"; exit 99; }
done
command -v groff >/dev/null ||
	{ echo "docs.sh: groff not found (install the Debian package groff)"; exit 99; }

# ---- natsvisord ---------------------------------------------------------

page=$man/natsvisord.8
help=$("$builddir/supervisor/natsvisord" --help) ||
	{ echo "docs.sh: natsvisord --help failed"; exit 99; }

# Long options from the getopt_long table, short ones from its optstring.
longs=$(awk '/static const struct option opts\[\]/ { on = 1; next }
	on && /};/ { on = 0 } on' "$sup/natsvisord.c" |
	sed -n 's/^[[:space:]]*{ *"\([a-z-]*\)".*/\1/p')
shorts=$(sed -n 's/.*getopt_long([^"]*"\([^"]*\)".*/\1/p' "$sup/natsvisord.c" |
	tr -d ':' | fold -w1)
[[ -n $longs && -n $shorts ]] || { echo "docs.sh: no options found in natsvisord.c"; exit 99; }
for o in $longs; do
	check
	man_long "$page" "$o" || fail "natsvisord --$o is not in natsvisord(8)"
	has_re "$help" "(^|[ ,|[])--$o([] ,=|]|$)" || fail "natsvisord --$o is not in --help"
done
for o in $shorts; do
	check
	grep -Eq "Fl $o( |$)" "$page" || fail "natsvisord -$o is not in natsvisord(8)"
	has_re "$help" "(^|[ ,|[])-$o([] ,|]|$)" || fail "natsvisord -$o is not in --help"
done

# Exit statuses: every "return N" of main() and EXIT_CONFIG.
codes=$( { sed -n 's/.*return \([0-9][0-9]*\);.*/\1/p' "$sup/natsvisord.c"
	sed -n 's/^#define EXIT_CONFIG \([0-9]*\).*/\1/p' "$sup/natsvisord.c"; } |
	sort -un)
exitsec=$(section "$page" "EXIT STATUS")
helpexit=$(grep -i '^exit status' <<<"$help")
for c in $codes; do
	check
	has_re "$exitsec" "^\.It $c\$" || fail "natsvisord exit status $c is not in natsvisord(8) EXIT STATUS"
	has_re "$helpexit" "(^|[ :,])$c " || fail "natsvisord exit status $c is not in --help"
done
for c in $(sed -n 's/^\.It \([0-9][0-9]*\)$/\1/p' <<<"$exitsec"); do
	check
	grep -qx "$c" <<<"$codes" || fail "natsvisord(8) documents exit status $c, which natsvisord.c never returns"
done

# Signals the loop handles.
signals=$(sed -n 's/.*uv_signal_start(.*, *\(SIG[A-Z]*\));.*/\1/p' "$sup/loop.c" | sort -u)
[[ -n $signals ]] || { echo "docs.sh: no signals found in loop.c"; exit 99; }
sigsec=$(section "$page" SIGNALS)
for s in $signals; do
	check
	has_re "$sigsec" "(Dv |, )$s( |,|$)" || fail "natsvisord: $s is not in natsvisord(8) SIGNALS"
	[[ $s == SIGCHLD ]] && continue
	has_re "$help" "${s}([ /,:]|$)" || fail "natsvisord: $s is not in --help"
done

# ---- natsvisorctl -------------------------------------------------------

page=$man/natsvisorctl.1
help=$("$builddir/supervisor/natsvisorctl" --help) ||
	{ echo "docs.sh: natsvisorctl --help failed"; exit 99; }

verbs=$(awk '/static const struct ctl_verb_info verbs\[\]/ { on = 1; next }
	on && /^};/ { on = 0 } on' "$sup/ctlproto.c" |
	sed -n 's/^[[:space:]]*{ *"\([a-z-]*\)", *CTL_.*/\1/p')
[[ -n $verbs ]] || { echo "docs.sh: no commands found in ctlproto.c"; exit 99; }
for v in $verbs; do
	check
	grep -Eq "^\.It Cm $v( |$)" "$page" || fail "natsvisorctl $v is not in natsvisorctl(1)"
	has_re "$help" "^  $v( |$)" || fail "natsvisorctl $v is not in --help"
done

# Command options: long name and optional short letter.
cmdopts=$(awk '/^} opts\[\] = {/ { on = 1; next } on && /^};/ { on = 0 } on' \
	"$sup/ctlproto.c" | sed -n "s/^[[:space:]]*{ *\"\(--[a-z-]*\)\", *\('.'\|0\),.*/\1 \2/p")
[[ -n $cmdopts ]] || { echo "docs.sh: no command options found in ctlproto.c"; exit 99; }
while read -r long short; do
	check
	man_long "$page" "${long#--}" || fail "natsvisorctl $long is not in natsvisorctl(1)"
	has_re "$help" "(^|[ ,[])$long([] ,=]|$)" || fail "natsvisorctl $long is not in --help"
	[[ $short == 0 ]] && continue
	short=${short//\'/}
	grep -Eq "Fl $short( |$)" "$page" || fail "natsvisorctl -$short is not in natsvisorctl(1)"
	has_re "$help" "(^|[ ,[])-$short([] ,]|$)" || fail "natsvisorctl -$short is not in --help"
done <<<"$cmdopts"

# Global options, as main() recognises them.
globals=$( { sed -n 's/.*strcmp(a, "\(-[a-z-]*\)").*/\1/p' "$srcdir/supervisor/natsvisorctl.c"
	sed -n "s/.*a\[1\] == '\(.\)'.*/-\1/p" "$srcdir/supervisor/natsvisorctl.c"; } |
	grep -vx -- '--' | sort -u)
[[ -n $globals ]] || { echo "docs.sh: no global options found in natsvisorctl.c"; exit 99; }
for o in $globals; do
	check
	{ [[ $o == --* ]] && man_long "$page" "${o#--}" ||
		grep -Eq "Fl ${o#-}( |$)" "$page"; } || fail "natsvisorctl $o is not in natsvisorctl(1)"
	has_re "$help" "(^|[ ,|])$o( |,|$)" || fail "natsvisorctl $o is not in --help"
done

# Exit statuses: the exit_codes table of natsvisorctl.c, both ways.
codes=$(awk '/exit_codes\[\] = {/ { on = 1; next } on && /^};/ { on = 0 } on' \
	"$sup/natsvisorctl.c" | sed -n 's/^[[:space:]]*"\([0-9][0-9]*\) .*/\1/p')
[[ -n $codes ]] || { echo "docs.sh: no exit codes found in natsvisorctl.c"; exit 99; }
exitsec=$(section "$page" "EXIT STATUS")
helpexit=$(awk '/^Exit codes:/ { on = 1; next } on' <<<"$help")
for c in $codes; do
	check
	has_re "$exitsec" "^\.It $c\$" || fail "natsvisorctl exit status $c is not in natsvisorctl(1) EXIT STATUS"
	has_re "$helpexit" "^ *$c " || fail "natsvisorctl exit status $c is not in --help"
done
for c in $(sed -n 's/^\.It \([0-9][0-9]*\)$/\1/p' <<<"$exitsec"); do
	check
	grep -qx "$c" <<<"$codes" || fail "natsvisorctl(1) documents exit status $c, which is not in the exit_codes table"
done

# ---- natsvisor-listen ---------------------------------------------------

page=$man/natsvisor-listen.1
help=$("$builddir/listeners/natsvisor-listen" --help 2>&1) ||
	{ echo "docs.sh: natsvisor-listen --help failed"; exit 99; }
longs=$(awk '/struct option[^;]*\[\] *= *{/ { on = 1; next } on && /};/ { on = 0 } on' \
	"$srcdir/listeners/natsvisor-listen.c" |
	sed -n 's/^[[:space:]]*{ *"\([a-z-]*\)".*/\1/p')
[[ -n $longs ]] || { echo "docs.sh: no options found in natsvisor-listen.c"; exit 99; }
for o in $longs; do
	check
	man_long "$page" "$o" || fail "natsvisor-listen --$o is not in natsvisor-listen(1)"
	has_re "$help" "(^|[ ,|[])--$o([] ,=|]|$)" || fail "natsvisor-listen --$o is not in --help"
done

# ---- configuration keys -------------------------------------------------

page=$man/natsvisor.ini.5
keys=$("$builddir/tests/conf/nvcheck" --keys) || { echo "docs.sh: nvcheck --keys failed"; exit 99; }
daemonsec=$(section "$page" "DAEMON KEYS")
listenersec=$(section "$page" "LISTENER KEYS")
tab=$(printf '\t')
while IFS=$tab read -r sect key _ dflt _ reload _; do
	check
	if [[ $sect == natsvisor ]]; then
		text=$daemonsec where="DAEMON KEYS" restart="needs a restart of natsvisord"
	else
		text=$listenersec where="LISTENER KEYS" restart="restarts the listener"
	fi
	# The key's entry: from its ".It Cm KEY" to the next ".It" or ".El".
	entry=$(awk -v k="$key" '$1 == ".It" && $2 == "Cm" && $3 == k { on = 1; next }
		on && /^\.(It|El)( |$)/ { exit } on' <<<"$text")
	if [[ -z $entry ]]; then
		fail "$key is not documented under $where in natsvisor.ini(5)"
		continue
	fi
	if [[ $reload == reload ]]; then
		want="applies without a restart"
	else
		want=$restart
	fi
	has_re "$entry" "Reload: $(ere "$want")\." ||
		fail "natsvisor.ini(5): $key should say 'Reload: $want.' (key table: $reload)"
	has_re "$entry" "Default: $(ere "$dflt")\." ||
		fail "natsvisor.ini(5): $key should say 'Default: $dflt.' (key table)"
done <<<"$keys"

# ---- the pages themselves -----------------------------------------------

installed=$(sed -n 's/^dist_man_MANS *+\{0,1\}= *//p' "$man/local.mk" | tr ' ' '\n')
for prog in natsvisord:8 natsvisorctl:1 natsvisor-listen:1; do
	check
	[[ -f $man/${prog%:*}.${prog#*:} ]] || fail "no man page man/${prog%:*}.${prog#*:}"
done
have_mandoc=
command -v mandoc >/dev/null && have_mandoc=1
for f in "$man"/*.[1-8]; do
	name=man/${f##*/}
	check
	grep -qxF "$name" <<<"$installed" || fail "$name is not in dist_man_MANS (man/local.mk)"
	out=$(groff -mandoc -Tutf8 -ww -z "$f" 2>&1)
	[[ -z $out ]] || fail "$name: groff -ww: $out"
	if [[ -n $have_mandoc ]]; then
		out=$(mandoc -Tlint -W warning "$f" 2>&1)
		[[ -z $out ]] || fail "$name: mandoc -Tlint: $out"
	fi
done
[[ -n $have_mandoc ]] || echo "docs.sh: mandoc not installed; mandoc -Tlint skipped"

echo "docs: $checks checks, $fails failed"
[[ $fails -eq 0 ]]
