#!/bin/sh
# run.sh: build each fuzz harness (the configuration loader, and the
# control protocol when tests/fuzz/fuzz_ctlproto.c is present) with clang's
# libFuzzer and run it for a bounded time (FUZZ_TIME seconds each, default
# 30) on a copy of tests/fuzz/corpus/NAME.  Skipped (exit 77) without
# clang/libFuzzer.
# The harness is compiled here, not through automake objects, because it
# needs -fsanitize=fuzzer,address,undefined on every file.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=
for c in ${CLANG:-} clang clang-14; do
	command -v "$c" >/dev/null 2>&1 && { cc=$c; break; }
done
[ -n "$cc" ] || { echo "fuzz: clang not found, skipped"; exit 77; }
work=$(mktemp -d) || exit 99
trap 'rm -rf "$work"' EXIT INT TERM
s="$srcdir/supervisor"

# fuzz_one NAME LIBS SOURCES...: build fuzz_NAME, run it; 77 if unbuildable.
fuzz_one() {
	name=$1 libs=$2
	shift 2
	w="$work/$name"
	mkdir -p "$w/corpus" || return 99
	if ! "$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$s" "$srcdir/tests/fuzz/fuzz_$name.c" "$@" $libs \
		-o "$w/fuzz_$name" 2>"$w/cc.log"; then
		echo "fuzz $name: cannot build with $cc -fsanitize=fuzzer, skipped"
		cat "$w/cc.log"
		return 77
	fi
	cp "$srcdir/tests/fuzz/corpus/$name"/* "$w/corpus/" 2>/dev/null
	(cd "$w" && ./"fuzz_$name" -max_total_time="${FUZZ_TIME:-30}" -timeout=10 \
		-rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 \
		-artifact_prefix="$w/" corpus >"$w/fuzz.log" 2>&1)
	rc=$?
	grep -E '^(Done|stat::)' "$w/fuzz.log"
	if [ $rc -ne 0 ]; then
		tail -40 "$w/fuzz.log"
		echo "fuzz $name: FAILED (exit $rc); inputs:"
		for a in "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-*; do
			[ -f "$a" ] && { echo "$a"; od -c "$a" | head -20; }
		done
		return 1
	fi
	echo "fuzz $name: ok"
	return 0
}

fuzz_one config "" "$s/config.c" "$s/parse.c" "$s/subject.c"
rc=$?
[ $rc -eq 0 ] || exit $rc
if [ -f "$srcdir/tests/fuzz/fuzz_ctlproto.c" ] && [ -f "$s/ctlproto.c" ]; then
	fuzz_one ctlproto -lbsd "$s/ctlproto.c" "$s/parse.c" "$s/subject.c" || exit $?
fi
exit 0
