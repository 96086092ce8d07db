# supervisor/: natsvisord and natsvisorctl.

# Pure modules: no libuv, no nats.c; unit tests link them alone.
noinst_LIBRARIES += supervisor/libnvpure.a
supervisor_libnvpure_a_SOURCES = \
	supervisor/parse.c supervisor/parse.h \
	supervisor/subject.c supervisor/subject.h \
	supervisor/config.c supervisor/config.h \
	supervisor/listener.c supervisor/listener.h \
	supervisor/ctlproto.c supervisor/ctlproto.h \
	supervisor/buf.c supervisor/buf.h
supervisor_libnvpure_a_CFLAGS = $(AM_CFLAGS) $(INIH_CFLAGS) $(BSD_CFLAGS)

# System modules without nats.c: spawning, output capture, logging.
noinst_LIBRARIES += supervisor/libnvsys.a
supervisor_libnvsys_a_SOURCES = \
	supervisor/log.c supervisor/log.h \
	supervisor/spawn.c supervisor/spawn.h \
	supervisor/output.c supervisor/output.h \
	supervisor/control.c supervisor/control.h
supervisor_libnvsys_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(BSD_CFLAGS)

sbin_PROGRAMS += supervisor/natsvisord
supervisor_natsvisord_SOURCES = \
	supervisor/natsvisord.c \
	supervisor/loop.c \
	supervisor/bus.c supervisor/bus.h \
	supervisor/notify.c \
	supervisor/daemon.h supervisor/cmd.c supervisor/reload.c
supervisor_natsvisord_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(NATS_CFLAGS) $(BSD_CFLAGS)
supervisor_natsvisord_LDADD = supervisor/libnvsys.a supervisor/libnvpure.a \
	$(UV_LIBS) $(NATS_LIBS) $(INIH_LIBS) $(BSD_LIBS) -lpthread

# The control client links neither libuv nor nats.c: a status query pays
# only for the socket round trip.  --nats loads nats.c with dlopen()
# (ctlnats.c; the header gives the types, -ldl the loader).
CTL_SOURCES = supervisor/natsvisorctl.c \
	supervisor/ctlnats.c supervisor/ctlnats.h
CTL_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS)
CTL_LDADD = supervisor/libnvpure.a $(INIH_LIBS) $(BSD_LIBS) -ldl
bin_PROGRAMS += supervisor/natsvisorctl
if MUSL_CTL
# On musl (configure says when): the pure modules it uses are compiled
# into it again with musl's headers, and nothing built on glibc is linked.
supervisor_natsvisorctl_SOURCES = $(CTL_SOURCES) \
	supervisor/ctlproto.c supervisor/parse.c supervisor/buf.c \
	supervisor/subject.c
# (-specs is in CFLAGS, which the link line has too)
supervisor_natsvisorctl_CFLAGS = $(AM_CFLAGS) -specs=$(MUSL_SPECS)
supervisor_natsvisorctl_LDADD =
else
supervisor_natsvisorctl_SOURCES = $(CTL_SOURCES)
supervisor_natsvisorctl_CFLAGS = $(CTL_CFLAGS)
supervisor_natsvisorctl_LDADD = $(CTL_LDADD)
endif
if STATIC_CTL
# Static (configure's default): no dynamic loader at start-up.  A static
# program cannot dlopen nats.c: for --nats it runs natsvisorctl-nats, the
# same client linked dynamically, found next to it (the build tree), else
# in ../libexec/natsvisor beside it (a moved tree), else in pkglibexecdir.
supervisor_natsvisorctl_CPPFLAGS = $(AM_CPPFLAGS) -DNV_STATIC_CTL \
	-DCTLNATS_HELPER='"$(pkglibexecdir)/natsvisorctl-nats"'
supervisor_natsvisorctl_LDFLAGS = -static
pkglibexec_PROGRAMS += supervisor/natsvisorctl-nats
supervisor_natsvisorctl_nats_SOURCES = $(CTL_SOURCES)
supervisor_natsvisorctl_nats_CFLAGS = $(CTL_CFLAGS)
supervisor_natsvisorctl_nats_LDADD = $(CTL_LDADD)
endif
