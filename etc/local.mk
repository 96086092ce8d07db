# etc/: sample configurations.

# `make demo`: run etc/demo.sh (on etc/demo.ini) with the binaries just
# built.  tests/integration/demo.sh runs the same script in `make check`.
EXTRA_DIST += etc/demo.ini etc/demo.sh
demo: all
	@top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
	NATS_SERVER='$(NATS_SERVER)' NV_SANITIZERS='$(SAN_CFLAGS)' \
	bash '$(abs_top_srcdir)/etc/demo.sh'
.PHONY: demo
# natsvisor.ini: the annotated sample (every key, with its default).
dist_sysconf_DATA = etc/natsvisor.ini
# natsvisord.service: the systemd unit, with this build's paths.  Installed
# into systemdunitdir, under the prefix by default (so that `make install
# DESTDIR=...` and distcheck stay inside their trees); a package sets it
# on make's command line, e.g. systemdunitdir=/lib/systemd/system.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = etc/natsvisord.service
EXTRA_DIST += etc/natsvisord.service.in
CLEANFILES += etc/natsvisord.service
etc/natsvisord.service: $(srcdir)/etc/natsvisord.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/etc/natsvisord.service.in >$@.tmp && mv $@.tmp $@
