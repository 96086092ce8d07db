# man rules
dist_man_MANS += man/natsvisor-listen.1 man/natsvisor-ping.7
dist_man_MANS += man/natsvisor.ini.5
dist_man_MANS += man/natsvisorctl.1
dist_man_MANS += man/natsvisord.8
# tests/docs.sh: every option, command, exit status and key is documented
# (man page and --help), and every page formats without a warning.
TESTS += tests/docs.sh
EXTRA_DIST += tests/docs.sh
