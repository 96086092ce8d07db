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
