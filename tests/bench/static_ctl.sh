#!/usr/bin/env bash
# static_ctl.sh: natsvisorctl as configured.  By default it must be static
# (no dynamic loader to pay at each command) and answer over the control
# socket, and --nats must work through natsvisorctl-nats, found next to
# it, else in ../libexec/natsvisor (a tree installed with another prefix),
# which gets the arguments unchanged and stdin unread; a copy without the
# helper must fail with status 1 naming every path it tried, and still
# exit 2 for a usage error (checked before the helper runs).  Built with
# --disable-static-ctl (or the sanitizers) natsvisorctl is dynamic instead.
# Whichever program does --nats must load no library but libc (nats.c only
# through dlopen).  Where configure found musl, the static one is built on
# musl, with nothing of glibc's in it.
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
	if [[ -n ${NV_MUSL_SPECS:-} ]]; then
		# configure found musl: nothing of glibc's is linked in (a
		# glibc program carries its ABI note).
		readelf -S "$NV_CTL" | grep -q '\.note\.ABI-tag' &&
			fail "natsvisorctl was to be built on musl: it has glibc's ABI note"
		nv_log "natsvisorctl is built on musl"
	fi
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

	# The arguments reach the helper next to it unchanged (a publish's
	# DATA included), and so does stdin, unread.
	mkdir "$NV_DIR/bin"
	cp "$NV_CTL" "$NV_DIR/bin/natsvisorctl"
	printf '#!/bin/sh\nprintf "%%s|" "$@"\ncat\n' >"$NV_DIR/bin/natsvisorctl-nats"
	chmod +x "$NV_DIR/bin/natsvisorctl-nats"
	out=$("$NV_DIR/bin/natsvisorctl" --nats u -c "$NV_DIR/nv.ini" status \
		--json a </dev/null) || fail "the helper did not run"
	assert_eq "--nats|u|-c|$NV_DIR/nv.ini|status|--json|a|" "$out" "helper arguments"
	out=$(printf body | "$NV_DIR/bin/natsvisorctl" --nats u publish -Hk:v \
		a.b) || fail "the helper did not run (publish)"
	assert_eq "--nats|u|publish|-Hk:v|a.b|body" "$out" "helper stdin"
	out=$("$NV_DIR/bin/natsvisorctl" --nats u publish a.b -- '-x y' \
		</dev/null) || fail "the helper did not run (publish DATA)"
	assert_eq "--nats|u|publish|a.b|--|-x y|" "$out" "helper DATA"
	# A usage error exits 2 before the helper runs.
	assert_exit 2 "$NV_DIR/bin/natsvisorctl" --nats u bogus
	assert_exit 2 "$NV_DIR/bin/natsvisorctl" --nats u -s x status
	[[ $NV_OUT != *"|"* ]] || fail "the helper ran for a usage error"

	# A tree installed with another prefix, or moved: the real helper in
	# its ../libexec/natsvisor answers.
	mkdir -p "$NV_DIR/tree/bin" "$NV_DIR/tree/libexec/natsvisor"
	cp "$NV_CTL" "$NV_DIR/tree/bin/natsvisorctl"
	cp "$nats_dynamic" "$NV_DIR/tree/libexec/natsvisor/"
	assert_exit 0 "$NV_DIR/tree/bin/natsvisorctl" --nats "$NATS_URL" \
		--instance "$ID" is-ready a

	# No helper: status 1 naming every path tried, next to it, in
	# ../libexec/natsvisor and pkglibexecdir (unless one is installed
	# there, which then answers).
	rm "$NV_DIR/bin/natsvisorctl-nats"
	rc=0
	out=$("$NV_DIR/bin/natsvisorctl" --nats nats://127.0.0.1:1 status 2>&1) ||
		rc=$?
	if [[ $out == *"cannot run natsvisorctl-nats"* ]]; then
		assert_eq 1 "$rc" "--nats without natsvisorctl-nats"
		[[ $out == *"$NV_DIR/bin/natsvisorctl-nats: "*"; $NV_DIR/libexec/natsvisor/natsvisorctl-nats: "*"; /"*"/natsvisorctl-nats: "* ]] ||
			fail "the error does not name the paths tried: $out"
	else
		nv_log "an installed natsvisorctl-nats ran: $out"
	fi
	# Usage errors are still 2, helper or not.
	assert_exit 2 "$NV_DIR/bin/natsvisorctl" --nats "$NATS_URL" bogus
	assert_exit 2 "$NV_DIR/bin/natsvisorctl" --nats "$NATS_URL" publish 'a.*' x
	assert_exit 2 "$NV_DIR/bin/natsvisorctl" --nats "$NATS_URL" --instance a.b status
	assert_exit 2 "$NV_DIR/bin/natsvisorctl" --nats " , " status
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
