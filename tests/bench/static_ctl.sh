#!/usr/bin/env bash
# static_ctl.sh: natsvisorctl as configured.  Built with
# --enable-static-ctl it must be static (no dynamic loader to pay at each
# command), answer over the control socket, and refuse --nats with status 1
# and a message naming the option; otherwise it must be dynamic and load
# no library but libc (nats.c only through dlopen, for --nats).
. "$top_srcdir/tests/integration/lib.sh"
nv_setup
interp=$(readelf -l "$NV_CTL" 2>/dev/null | grep -c 'program interpreter' || true)
needed=$(readelf -d "$NV_CTL" 2>/dev/null | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
if [[ $interp == 0 ]]; then
	nv_log "natsvisorctl is static"
	rc=0
	out=$("$NV_CTL" --nats nats://127.0.0.1:1 status 2>&1) || rc=$?
	assert_eq 1 "$rc" "--nats in a static natsvisorctl"
	[[ $out == *--enable-static-ctl* ]] || fail "no word of --enable-static-ctl: $out"
	nv_write_config "$NV_DIR/nv.ini" ''
	nv_daemon_start "$NV_DIR/nv.ini"
	assert_exit 0 nvctl status
	pass "static natsvisorctl: socket commands work, --nats refused"
fi
nv_log "natsvisorctl is dynamic, needs: $needed"
if [[ -n ${NV_SANITIZERS:-} ]]; then
	# A sanitizer build links the sanitizer runtimes and more (libinih,
	# libbsd are kept there): only the absence of nats.c is checked.
	[[ $needed != *libnats* ]] || fail "natsvisorctl links nats.c: $needed"
	pass "sanitizer build: natsvisorctl does not link nats.c"
fi
[[ $needed == "libc.so.6 " ]] || fail "natsvisorctl links more than libc: $needed"
pass "dynamic natsvisorctl links libc only"
