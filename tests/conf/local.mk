# tests/conf rules: golden configuration tests (bad/*.ini with the exact
# expected stderr in bad/*.err, good/*.ini, etc/*.ini) and the key
# documentation check.  nvcheck prints exactly what natsvisord --check does.
check_PROGRAMS += tests/conf/nvcheck
tests_conf_nvcheck_SOURCES = tests/conf/nvcheck.c
tests_conf_nvcheck_LDADD = supervisor/libnvpure.a $(INIH_LIBS) $(BSD_LIBS)
TESTS += tests/conf/run.sh tests/conf/keys.sh
EXTRA_DIST += tests/conf/run.sh tests/conf/keys.sh \
	$(wildcard $(srcdir)/tests/conf/bad/*.ini) \
	$(wildcard $(srcdir)/tests/conf/bad/*.err) \
	$(wildcard $(srcdir)/tests/conf/bad/inc/*.ini) \
	$(wildcard $(srcdir)/tests/conf/good/*.ini) \
	$(wildcard $(srcdir)/tests/conf/good/conf.d/*.ini)
