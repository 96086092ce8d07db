# tests/bench rules: `make bench` measures natsvisor and its peers
# (supervisord, runit, s6, daemontools) side by side and prints one table
# (see tests/bench/bench.sh); `make check` runs a smoke version of it.

BENCH_PROGS = tests/bench/bench-child tests/bench/bench-listen \
	tests/bench/bench-rawlisten tests/bench/nvbench
check_PROGRAMS += $(BENCH_PROGS)

# The child every supervisor runs: static (exec to main() loads nothing)
# and never sanitized (a sanitizer runtime cannot be linked statically).
tests_bench_bench_child_SOURCES = tests/bench/bench-child.c tests/bench/stamp.h
tests_bench_bench_child_CFLAGS = $(WARN_CFLAGS)
tests_bench_bench_child_LDFLAGS = -static

# The same child on musl, where configure found it (a second restart
# series: without glibc's start-up, whose cpuid calls trap to the
# hypervisor, the supervisors' own share of a restart shows).
if MUSL_CTL
BENCH_PROGS += tests/bench/bench-child-musl
tests_bench_bench_child_musl_SOURCES = tests/bench/bench-child.c tests/bench/stamp.h
tests_bench_bench_child_musl_CFLAGS = $(WARN_CFLAGS) -specs=$(MUSL_SPECS)
tests_bench_bench_child_musl_LDFLAGS = -static
endif

# bench-listen's twin without nats.c: it speaks the NATS protocol itself,
# static and unsanitized like bench-child, so that exec to subscribed
# costs only what the protocol needs.
tests_bench_bench_rawlisten_SOURCES = tests/bench/bench-rawlisten.c tests/bench/stamp.h
tests_bench_bench_rawlisten_CFLAGS = $(WARN_CFLAGS)
tests_bench_bench_rawlisten_LDFLAGS = -static

tests_bench_bench_listen_SOURCES = tests/bench/bench-listen.c tests/bench/stamp.h
tests_bench_bench_listen_CPPFLAGS = $(LISTEN_CPPFLAGS)
tests_bench_bench_listen_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS) -pthread
tests_bench_bench_listen_LDADD = listeners/libnatsvisor-ping.a \
	$(NATS_LIBS) -lpthread

tests_bench_nvbench_SOURCES = tests/bench/nvbench.c
tests_bench_nvbench_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS) -pthread
tests_bench_nvbench_LDADD = supervisor/libnvpure.a $(NATS_LIBS) \
	$(INIH_LIBS) $(BSD_LIBS) -lpthread

BENCH_SH = tests/bench/bench.sh tests/bench/peers.sh
TESTS += tests/bench/smoke.sh tests/bench/static_ctl.sh
EXTRA_DIST += $(BENCH_SH) tests/bench/smoke.sh tests/bench/static_ctl.sh

# BENCH_FLAGS: e.g. BENCH_FLAGS="--quick" (see bench.sh --help).
bench: $(BENCH_PROGS) supervisor/natsvisord supervisor/natsvisorctl \
		listeners/natsvisor-listen
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
	NATS_SERVER='$(NATS_SERVER)' \
	bash $(srcdir)/tests/bench/bench.sh $(BENCH_FLAGS)
.PHONY: bench
