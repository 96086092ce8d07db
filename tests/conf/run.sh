#!/bin/sh
# run.sh: golden tests of the configuration loader.
#
# Every tests/conf/bad/NAME.ini must be rejected with exit 78, nothing on
# stdout, and stderr exactly tests/conf/bad/NAME.err; every
# tests/conf/good/*.ini and every shipped etc/*.ini must pass with exit 0
# and "configuration OK".  Files are named relative to their directory so
# the messages are stable.  The checker is tests/conf/nvcheck (the same
# config_check_main() as natsvisord --check); natsvisord --check is run
# too once it supports --check.
#
# NV_REGEN=1 rewrites the .err files from the current output (review the
# diff before committing).
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM

checkers="$builddir/tests/conf/nvcheck"
[ -x "$builddir/tests/conf/nvcheck" ] || { echo "run.sh: build tests/conf/nvcheck first" >&2; exit 99; }
d="$builddir/supervisor/natsvisord"
if [ -x "$d" ] && (cd "$srcdir/tests/conf/good" &&
	"$d" --check -c r02-semi.ini 2>/dev/null | grep -q '^configuration OK$'); then
	checkers="$checkers $d"
fi

fail=0 n=0
for c in $checkers; do
	# bad: exact stderr, exit 78, no stdout
	cd "$srcdir/tests/conf/bad" || exit 99
	for f in *.ini; do
		n=$((n + 1))
		name=${f%.ini}
		if [ "$c" = "${c%natsvisord}" ]; then
			"$c" -c "$f" >"$tmp/out" 2>"$tmp/err"
		else
			"$c" --check -c "$f" >"$tmp/out" 2>"$tmp/err"
		fi
		rc=$?
		if [ "${NV_REGEN:-0}" = 1 ] && [ "$c" = "${c%natsvisord}" ]; then
			cp "$tmp/err" "$name.err"
		fi
		if [ $rc -ne 78 ]; then
			echo "FAIL bad/$f: exit $rc, expected 78 ($c)"; fail=$((fail + 1))
		elif [ -s "$tmp/out" ]; then
			echo "FAIL bad/$f: unexpected stdout ($c)"; cat "$tmp/out"; fail=$((fail + 1))
		elif ! cmp -s "$tmp/err" "$name.err"; then
			echo "FAIL bad/$f: stderr differs from $name.err ($c)"
			diff "$name.err" "$tmp/err" | head -20
			fail=$((fail + 1))
		fi
	done
	# good (and shipped samples): exit 0, "configuration OK"
	for f in "$srcdir"/tests/conf/good/*.ini "$srcdir"/etc/*.ini; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		cd "$(dirname "$f")" || exit 99
		b=$(basename "$f")
		if [ "$c" = "${c%natsvisord}" ]; then
			"$c" -c "$b" >"$tmp/out" 2>"$tmp/err"
		else
			"$c" --check -c "$b" >"$tmp/out" 2>"$tmp/err"
		fi
		rc=$?
		if [ $rc -ne 0 ] || [ "$(cat "$tmp/out")" != "configuration OK" ]; then
			echo "FAIL $f: exit $rc ($c)"; cat "$tmp/out" "$tmp/err" | head -20
			fail=$((fail + 1))
		fi
		# good/NAME.out: the exact output of --check -v
		[ -f "${f%.ini}.out" ] && [ "$c" != "${c%natsvisord}" ] || continue
		n=$((n + 1))
		"$c" --check -v -c "$b" >"$tmp/out" 2>&1
		if ! cmp -s "$tmp/out" "${f%.ini}.out"; then
			echo "FAIL $f: --check -v differs from ${f%.ini}.out"
			diff "${f%.ini}.out" "$tmp/out" | head -20
			fail=$((fail + 1))
		fi
	done
done

# every bad file has its expected errors, and no .err is orphaned
for e in "$srcdir"/tests/conf/bad/*.err; do
	[ -f "${e%.err}.ini" ] || { echo "FAIL orphan $e"; fail=$((fail + 1)); }
done

# every data file is distributed (listed in tests/conf/local.mk)
cd "$srcdir" || exit 99
for f in tests/conf/bad/*.ini tests/conf/bad/*.err tests/conf/bad/inc/*.ini \
	tests/conf/good/*.ini tests/conf/good/*.out tests/conf/good/conf.d/*.ini; do
	[ -f "$f" ] || continue
	sed 's/[ \\]*$//; s/^[[:space:]]*//' tests/conf/local.mk | grep -qxF "$f" ||
		{ echo "FAIL $f is not listed in tests/conf/local.mk"; fail=$((fail + 1)); }
done

echo "conf: $n checks, $fail failed"
[ $fail -eq 0 ]
