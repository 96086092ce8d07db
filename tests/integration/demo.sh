#!/usr/bin/env bash
# The demo of `make demo` (etc/demo.sh) as a test: it checks every step,
# so the quick start shown in README.md cannot silently break.
set -euo pipefail
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec bash "$top_srcdir/etc/demo.sh"
