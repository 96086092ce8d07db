#!/bin/sh
# run.sh: build the configuration fuzzer with clang's libFuzzer and run it
# for a bounded time (FUZZ_TIME seconds, default 30) on a copy of
# tests/fuzz/corpus/config.  Skipped (exit 77) without clang/libFuzzer.
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
if ! "$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I"$s" \
	"$srcdir/tests/fuzz/fuzz_config.c" "$s/config.c" "$s/parse.c" "$s/subject.c" \
	-o "$work/fuzz_config" 2>"$work/cc.log"; then
	echo "fuzz: cannot build with $cc -fsanitize=fuzzer, skipped"
	cat "$work/cc.log"
	exit 77
fi
mkdir "$work/corpus" && cp "$srcdir"/tests/fuzz/corpus/config/* "$work/corpus/" 2>/dev/null
cd "$work" || exit 99
./fuzz_config -max_total_time="${FUZZ_TIME:-30}" -timeout=10 -rss_limit_mb=2048 \
	-max_len=70000 -print_final_stats=1 -artifact_prefix="$work/" corpus \
	>"$work/fuzz.log" 2>&1
rc=$?
tail -15 "$work/fuzz.log"
if [ $rc -ne 0 ]; then
	echo "fuzz: FAILED (exit $rc); crashing inputs:"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -f "$a" ] && { echo "$a"; od -c "$a" | head -20; }
	done
	exit 1
fi
echo "fuzz: ok"
