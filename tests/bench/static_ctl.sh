#!/usr/bin/env bash
# static_ctl.sh: natsvisorctl as configured.  By default it must be static
# (no dynamic loader to pay at each command) and answer over the control
# socket, and --nats must work through natsvisorctl-nats, found next to
# it, which gets the arguments unchanged; a copy without the helper must
# fail with status 1 naming the path it tried.  Built with
# --disable-static-ctl (or the sanitizers) natsvisorctl is dynamic instead.
# Whichever program does --nats must load no library but libc (nats.c only
# through dlopen).
. "$top_srcdir/tests/integration/lib.sh"

# needs FILE: the shared libraries FILE needs, each followed by a space.
needs() {
	readelf -d "$1" 2>/dev/null |
		sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' '
}

nv_setup
nats_dynamic=$NV_CTL
if ! readelf -l "$NV_CTL" 2>/dev/null | grep -q 'program interpreter'; then
	nv_log "natsvisorctl is static"
	nats_dynamic=$top_builddir/supervisor/natsvisorctl-nats
	[[ -x $nats_dynamic ]] || fail "natsvisorctl-nats is not built"
	nats_start
	ID=static$$
	nv_write_config "$NV_DIR/nv.ini" "instance_id = $ID
[listener:a]
command = $NV_LISTEN --stdout
subjects = static.a.>"
	nv_daemon_start "$NV_DIR/nv.ini"
	assert_exit 0 nvctl wait-ready --timeout "$(nv_scale 10)s" a
	assert_exit 0 "$NV_CTL" --nats "$NATS_URL" --instance "$ID" status a
	grep -q '^a .*running .*ready' <<<"$NV_OUT" || fail "--nats status: $NV_OUT"
	assert_exit 0 "$NV_CTL" --nats="$NATS_URL" -c "$NV_DIR/nv.ini" is-ready a

	# The arguments reach the helper next to it unchanged.
	mkdir "$NV_DIR/bin"
	cp "$NV_CTL" "$NV_DIR/bin/natsvisorctl"
	printf '#!/bin/sh\nprintf "%%s|" "$@"\n' >"$NV_DIR/bin/natsvisorctl-nats"
	chmod +x "$NV_DIR/bin/natsvisorctl-nats"
	out=$("$NV_DIR/bin/natsvisorctl" --nats u -s x status --json 'a b') ||
		fail "the helper did not run"
	assert_eq "--nats|u|-s|x|status|--json|a b|" "$out" "helper arguments"

	# No helper next to it: status 1 naming the path (unless one is
	# installed in pkglibexecdir, which then answers).
	rm "$NV_DIR/bin/natsvisorctl-nats"
	rc=0
	out=$("$NV_DIR/bin/natsvisorctl" --nats nats://127.0.0.1:1 status 2>&1) ||
		rc=$?
	if [[ $out == *"cannot run natsvisorctl-nats"* ]]; then
		assert_eq 1 "$rc" "--nats without natsvisorctl-nats"
		[[ $out == *"$NV_DIR/bin/natsvisorctl-nats: "* ]] ||
			fail "the error does not name the path tried: $out"
	else
		nv_log "an installed natsvisorctl-nats ran: $out"
	fi
	nv_daemon_stop 20 || fail "exit status $?"
else
	nv_log "natsvisorctl is dynamic"
fi
needed=$(needs "$nats_dynamic")
nv_log "${nats_dynamic##*/} needs: $needed"
if [[ -n ${NV_SANITIZERS:-} ]]; then
	# A sanitizer build links the sanitizer runtimes and more (libinih,
	# libbsd are kept there): only the absence of nats.c is checked.
	[[ $needed != *libnats* ]] || fail "natsvisorctl links nats.c: $needed"
	pass "sanitizer build: natsvisorctl does not link nats.c"
fi
[[ $needed == "libc.so.6 " ]] || fail "${nats_dynamic##*/} links more than libc: $needed"
pass "${nats_dynamic##*/} links libc only"
