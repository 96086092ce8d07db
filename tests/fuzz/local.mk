# tests/fuzz rules: libFuzzer harnesses for the configuration loader and
# the control protocol.  tests/fuzz/run.sh compiles them itself with clang
# -fsanitize=fuzzer,address,undefined (automake's objects have other
# flags) and skips (77) without clang; FUZZ_TIME=seconds bounds each run
# (default 30).
if HAVE_CLANG
TESTS += tests/fuzz/run.sh
endif
FUZZ_CONFIG_CORPUS = \
	tests/fuzz/corpus/config/10-extra.ini \
	tests/fuzz/corpus/config/20-more.ini \
	tests/fuzz/corpus/config/after-header.ini \
	tests/fuzz/corpus/config/backoff-order.ini \
	tests/fuzz/corpus/config/bad-bool.ini \
	tests/fuzz/corpus/config/bad-duration.ini \
	tests/fuzz/corpus/config/bad-env.ini \
	tests/fuzz/corpus/config/bad-exit-codes.ini \
	tests/fuzz/corpus/config/bad-factor.ini \
	tests/fuzz/corpus/config/bad-instances.ini \
	tests/fuzz/corpus/config/bad-name-chars.ini \
	tests/fuzz/corpus/config/bad-nofile.ini \
	tests/fuzz/corpus/config/bad-ping-subject.ini \
	tests/fuzz/corpus/config/bad-queue.ini \
	tests/fuzz/corpus/config/bad-restart.ini \
	tests/fuzz/corpus/config/bad-signal.ini \
	tests/fuzz/corpus/config/bad-size.ini \
	tests/fuzz/corpus/config/bad-subject.ini \
	tests/fuzz/corpus/config/bad-token.ini \
	tests/fuzz/corpus/config/bad-umask.ini \
	tests/fuzz/corpus/config/bad-url.ini \
	tests/fuzz/corpus/config/bad-wildcard.ini \
	tests/fuzz/corpus/config/comment-hash-subject.ini \
	tests/fuzz/corpus/config/control-char.ini \
	tests/fuzz/corpus/config/control-socket-long.ini \
	tests/fuzz/corpus/config/crlf-garbage.ini \
	tests/fuzz/corpus/config/defaults-error.ini \
	tests/fuzz/corpus/config/duplicate-key.ini \
	tests/fuzz/corpus/config/duplicate-listener.ini \
	tests/fuzz/corpus/config/duration-range.ini \
	tests/fuzz/corpus/config/empty-command.ini \
	tests/fuzz/corpus/config/empty-listener.ini \
	tests/fuzz/corpus/config/empty-name.ini \
	tests/fuzz/corpus/config/empty.ini \
	tests/fuzz/corpus/config/env-no-equals.ini \
	tests/fuzz/corpus/config/env-twice.ini \
	tests/fuzz/corpus/config/errors.ini \
	tests/fuzz/corpus/config/full.ini \
	tests/fuzz/corpus/config/include-errors.ini \
	tests/fuzz/corpus/config/include-missing.ini \
	tests/fuzz/corpus/config/include-self.ini \
	tests/fuzz/corpus/config/instance-clash.ini \
	tests/fuzz/corpus/config/instances-range.ini \
	tests/fuzz/corpus/config/key-outside.ini \
	tests/fuzz/corpus/config/key-wrong-section.ini \
	tests/fuzz/corpus/config/minimal.ini \
	tests/fuzz/corpus/config/missing-bracket.ini \
	tests/fuzz/corpus/config/missing-command.ini \
	tests/fuzz/corpus/config/missing-key.ini \
	tests/fuzz/corpus/config/missing-subjects.ini \
	tests/fuzz/corpus/config/nats-server-name.ini \
	tests/fuzz/corpus/config/natsvisor.ini \
	tests/fuzz/corpus/config/one-value.ini \
	tests/fuzz/corpus/config/r01-name45.ini \
	tests/fuzz/corpus/config/r01-wide.ini \
	tests/fuzz/corpus/config/r02-semi-unterminated.ini \
	tests/fuzz/corpus/config/r02-semi.ini \
	tests/fuzz/corpus/config/r03-indented.ini \
	tests/fuzz/corpus/config/r03-noindent.ini \
	tests/fuzz/corpus/config/r04-bom-inside.ini \
	tests/fuzz/corpus/config/r04-utf16.ini \
	tests/fuzz/corpus/config/r04-win.ini \
	tests/fuzz/corpus/config/r05-garbage.ini \
	tests/fuzz/corpus/config/r08-baduser.ini \
	tests/fuzz/corpus/config/requires-cycle.ini \
	tests/fuzz/corpus/config/requires-missing.ini \
	tests/fuzz/corpus/config/requires-self.ini \
	tests/fuzz/corpus/config/signal-range.ini \
	tests/fuzz/corpus/config/three-errors.ini \
	tests/fuzz/corpus/config/unknown-control-group.ini \
	tests/fuzz/corpus/config/unknown-group.ini \
	tests/fuzz/corpus/config/unknown-key-typo.ini \
	tests/fuzz/corpus/config/unknown-key.ini \
	tests/fuzz/corpus/config/unknown-section.ini
FUZZ_CTLPROTO_CORPUS = \
	tests/fuzz/corpus/ctlproto/publish \
	tests/fuzz/corpus/ctlproto/reply \
	tests/fuzz/corpus/ctlproto/signal \
	tests/fuzz/corpus/ctlproto/start-all \
	tests/fuzz/corpus/ctlproto/status \
	tests/fuzz/corpus/ctlproto/status-json \
	tests/fuzz/corpus/ctlproto/too-long \
	tests/fuzz/corpus/ctlproto/version \
	tests/fuzz/corpus/ctlproto/wait-ready
EXTRA_DIST += tests/fuzz/run.sh tests/fuzz/fuzz_config.c \
	tests/fuzz/fuzz_ctlproto.c $(FUZZ_CONFIG_CORPUS) $(FUZZ_CTLPROTO_CORPUS)
