#!/bin/sh
# keys.sh: every key of the configuration key table (nvcheck --keys, which
# prints config_dump_keys) is documented in man/natsvisor.ini.5 (as
# ".It Cm KEY") and appears in the sample etc/natsvisor.ini (as "KEY =" or
# "#KEY ="), with the sample's stated default equal to the table's.  And
# every key the man page documents exists in the table.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
man="$srcdir/man/natsvisor.ini.5"
ini="$srcdir/etc/natsvisor.ini"
tmp=$(mktemp) || exit 99
trap 'rm -f "$tmp"' EXIT INT TERM

"$builddir/tests/conf/nvcheck" --keys >"$tmp" || exit 99
[ -s "$tmp" ] || { echo "keys.sh: empty key table"; exit 1; }
fail=0 n=0
tab=$(printf '\t')
while IFS="$tab" read -r sect key type dflt bounds reload desc; do
	n=$((n + 1))
	grep -q "^\.It Cm $key\( \|$\)" "$man" ||
		{ echo "FAIL $key ($sect) is not documented in man/natsvisor.ini.5"; fail=$((fail + 1)); }
	grep -q "^#\{0,1\}$key =" "$ini" ||
		{ echo "FAIL $key ($sect) is missing from etc/natsvisor.ini"; fail=$((fail + 1)); }
	grep -q "^# $key ($type, $reload" "$ini" ||
		{ echo "FAIL etc/natsvisor.ini: $key is not described as ($type, $reload"; fail=$((fail + 1)); }
	case $dflt in
	none|required|generated|hostname|built-in|"daemon's"|"user's"|"daemon's stderr") ;;
	*) grep -q "^#\{0,1\}$key = $dflt\$" "$ini" || [ "$key" = include ] ||
		{ echo "FAIL etc/natsvisor.ini: default of $key is not $dflt"; fail=$((fail + 1)); } ;;
	esac
done <"$tmp"
for key in $(sed -n 's/^\.It Cm \([a-z_]*\).*/\1/p' "$man" | sort -u); do
	cut -f2 "$tmp" | grep -qxF "$key" ||
		{ echo "FAIL man/natsvisor.ini.5 documents unknown key $key"; fail=$((fail + 1)); }
done
echo "keys: $n keys, $fail failed"
[ $fail -eq 0 ]
