# listeners rules: natsvisor-listen, the nvping helper library, the
# example listener, and the listener integration tests.

# Own CPPFLAGS: the global ones put supervisor/ first, whose spawn.h
# would shadow <spawn.h>.
LISTEN_CPPFLAGS = -I$(top_srcdir)/listeners -iquote $(top_srcdir)/supervisor

lib_LIBRARIES += listeners/libnatsvisor-ping.a
listeners_libnatsvisor_ping_a_CPPFLAGS = $(LISTEN_CPPFLAGS)
listeners_libnatsvisor_ping_a_SOURCES = listeners/nvping.c listeners/nvping.h
listeners_libnatsvisor_ping_a_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS)
include_HEADERS += listeners/nvping.h
pkgconfig_DATA += listeners/natsvisor-ping.pc

bin_PROGRAMS += listeners/natsvisor-listen
listeners_natsvisor_listen_SOURCES = listeners/natsvisor-listen.c \
	listeners/deliver.c listeners/deliver.h supervisor/buf.c supervisor/buf.h \
	supervisor/parse.c supervisor/parse.h
listeners_natsvisor_listen_CPPFLAGS = $(LISTEN_CPPFLAGS)
listeners_natsvisor_listen_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS) -pthread
listeners_natsvisor_listen_LDADD = listeners/libnatsvisor-ping.a \
	$(NATS_LIBS) -lpthread

check_PROGRAMS += listeners/examples/echo-listener tests/integration/listen-probe
listeners_examples_echo_listener_SOURCES = listeners/examples/echo-listener.c
listeners_examples_echo_listener_CPPFLAGS = $(LISTEN_CPPFLAGS)
listeners_examples_echo_listener_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS) -pthread
listeners_examples_echo_listener_LDADD = listeners/libnatsvisor-ping.a \
	$(NATS_LIBS) -lpthread
tests_integration_listen_probe_SOURCES = tests/integration/listen-probe.c
tests_integration_listen_probe_CPPFLAGS = $(LISTEN_CPPFLAGS)
tests_integration_listen_probe_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS)
tests_integration_listen_probe_LDADD = $(NATS_LIBS)
check_PROGRAMS += tests/integration/js-publish
tests_integration_js_publish_SOURCES = tests/integration/js-publish.c
tests_integration_js_publish_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS)
tests_integration_js_publish_LDADD = $(NATS_LIBS)

LISTEN_TESTS = \
	tests/integration/listen_basic.sh \
	tests/integration/listen_early.sh \
	tests/integration/listen_restart.sh \
	tests/integration/listen_refused.sh \
	tests/integration/listen_confirm.sh \
	tests/integration/listen_modes.sh \
	tests/integration/listen_echo.sh \
	tests/integration/listen_durable.sh
# Durable delivery, handlers, back-pressure, clean stops, confirmation.
DURABLE_TESTS = \
	tests/integration/durable_redeliver.sh \
	tests/integration/durable_exec.sh \
	tests/integration/durable_backpressure.sh \
	tests/integration/durable_drain.sh \
	tests/integration/durable_confirm.sh \
	tests/integration/durable_kill.sh \
	tests/integration/durable_recreate.sh
TESTS += $(LISTEN_TESTS) $(DURABLE_TESTS)
EXTRA_DIST += $(LISTEN_TESTS) $(DURABLE_TESTS) tests/integration/listen-lib.sh \
	listeners/natsvisor-ping.pc.in

# make installcheck: the installed header, library and pkg-config file are
# enough to build the example listener.
installcheck-local: installcheck-nvping
installcheck-nvping:
	PKG_CONFIG_PATH='$(DESTDIR)$(pkgconfigdir)' \
	PKG_CONFIG_SYSROOT_DIR='$(DESTDIR)' \
	$(SHELL) -c '$(CC) $(CFLAGS) -o listeners/installcheck-echo \
	    $(srcdir)/listeners/examples/echo-listener.c \
	    `$(PKG_CONFIG) --cflags --libs natsvisor-ping` -lpthread'
	rm -f listeners/installcheck-echo
.PHONY: installcheck-nvping
