# tests/integration/: shell tests running the real binaries against a real
# nats-server on a free loopback port (see lib.sh).  Each test is a bash
# script ending in .sh, run through SH_LOG_COMPILER.
INTEGRATION_TESTS = \
	tests/integration/lib_selftest.sh \
	tests/integration/demo.sh \
	tests/integration/sample_conf.sh \
	tests/integration/supervise_basic.sh \
	tests/integration/supervise_early.sh \
	tests/integration/conf_paths.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += tests/integration/lib.sh $(INTEGRATION_TESTS)
# Reload by difference (issue 3, R01/R02/R04/R05 runtime parts).
INTEGRATION_TESTS += tests/integration/reload_r05.sh \
	tests/integration/reload_diff.sh \
	tests/integration/reload_r01.sh \
	tests/integration/reload_crlf.sh \
	tests/integration/reload_instances.sh
# Lifecycle engine (issue 4): restart policies, backoff, stopping, process
# trees, PID 1, privileges, output capture.
INTEGRATION_TESTS += \
	tests/integration/life_backoff.sh \
	tests/integration/life_exit.sh \
	tests/integration/life_spawn.sh \
	tests/integration/life_stop.sh \
	tests/integration/life_requires.sh \
	tests/integration/life_restart_race.sh \
	tests/integration/life_tree.sh \
	tests/integration/life_orphans.sh \
	tests/integration/life_pid1.sh \
	tests/integration/life_privs.sh \
	tests/integration/life_output.sh \
	tests/integration/life_instances.sh \
	tests/integration/life_limits.sh \
	tests/integration/life_logfile_retry.sh \
	tests/integration/life_crashloop.sh
EXTRA_DIST += tests/integration/life-lib.sh
# Health, readiness and gated publishing (issue 5; R12, R14, R16).
INTEGRATION_TESTS += \
	tests/integration/ready_nats.sh \
	tests/integration/ready_wait.sh \
	tests/integration/ready_health.sh \
	tests/integration/ready_gate_health.sh \
	tests/integration/ready_outage.sh \
	tests/integration/ready_early.sh \
	tests/integration/ready_hello.sh \
	tests/integration/ready_stall.sh \
	tests/integration/ready_inbox_denied.sh \
	tests/integration/ready_js_ack.sh \
	tests/integration/ready_budget.sh \
	tests/integration/ready_loop200.sh \
	tests/integration/ready_refused.sh \
	tests/integration/ready_subjects.sh \
	tests/integration/ready_cannot.sh \
	tests/integration/ready_notify.sh \
	tests/integration/ready_daemon.sh \
	tests/integration/ready_node.sh \
	tests/integration/ready_publish.sh \
	tests/integration/ready_auth.sh \
	tests/integration/ready_creds.sh \
	tests/integration/ready_denied.sh
# The Node.js examples of natsvisor-ping(7), run by ready_node.sh, which
# installs the nats package into tests/node_modules of the build tree.
EXTRA_DIST += listeners/examples/ping-listener.mjs \
	listeners/examples/srv-listener.mjs
clean-local: clean-node-examples
clean-node-examples:
	-rm -rf tests/node_modules tests/.npm-install.lock tests/node-examples.*
.PHONY: clean-node-examples
check_PROGRAMS += tests/integration/ready-probe
tests_integration_ready_probe_SOURCES = tests/integration/ready-probe.c
tests_integration_ready_probe_CFLAGS = $(AM_CFLAGS) $(NATS_CFLAGS) -pthread
tests_integration_ready_probe_LDADD = $(NATS_LIBS) -lpthread
# wait-ready and the gate behind a requirement that cannot become ready;
# the NATS-side wait-ready timeout= checked like --timeout.
INTEGRATION_TESTS += tests/integration/ready_blocked.sh
# natsvisorctl --nats: server lists, hidden credentials, max_payload.
INTEGRATION_TESTS += tests/integration/ctl_nats.sh
