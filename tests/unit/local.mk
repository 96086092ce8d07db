# tests/unit/: C unit tests of the pure modules (and spawn/output).
UNIT_LDADD = supervisor/libnvpure.a $(INIH_LIBS) $(BSD_LIBS)
UNIT_SYS_LDADD = supervisor/libnvsys.a supervisor/libnvpure.a $(UV_LIBS) $(INIH_LIBS) $(BSD_LIBS)

check_PROGRAMS += tests/unit/test_parse tests/unit/test_subject \
	tests/unit/test_config tests/unit/test_listener tests/unit/test_ctlproto \
	tests/unit/test_spawn tests/unit/test_output
TESTS += tests/unit/test_parse tests/unit/test_subject \
	tests/unit/test_config tests/unit/test_listener tests/unit/test_ctlproto \
	tests/unit/test_spawn tests/unit/test_output
EXTRA_DIST += tests/unit/t.h

tests_unit_test_parse_SOURCES = tests/unit/test_parse.c
tests_unit_test_parse_LDADD = $(UNIT_LDADD)
tests_unit_test_subject_SOURCES = tests/unit/test_subject.c
tests_unit_test_subject_LDADD = $(UNIT_LDADD)
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_LDADD = $(UNIT_LDADD)
tests_unit_test_listener_SOURCES = tests/unit/test_listener.c
tests_unit_test_listener_LDADD = $(UNIT_LDADD)
tests_unit_test_ctlproto_SOURCES = tests/unit/test_ctlproto.c
tests_unit_test_ctlproto_LDADD = $(UNIT_LDADD)
tests_unit_test_spawn_SOURCES = tests/unit/test_spawn.c
tests_unit_test_spawn_LDADD = $(UNIT_SYS_LDADD)
tests_unit_test_spawn_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
tests_unit_test_output_SOURCES = tests/unit/test_output.c
tests_unit_test_output_LDADD = $(UNIT_SYS_LDADD)
tests_unit_test_output_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
check_PROGRAMS += tests/unit/test_control
TESTS += tests/unit/test_control
tests_unit_test_control_SOURCES = tests/unit/test_control.c
tests_unit_test_control_LDADD = $(UNIT_SYS_LDADD)
tests_unit_test_control_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS)
