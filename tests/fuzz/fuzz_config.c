/*
 * fuzz_config.c: libFuzzer harness for the configuration loader.
 *
 * Feeds arbitrary bytes to config_load_buffer() (includes disabled, so the
 * fuzzer never wanders the file system) and checks the loader's promises:
 * either a configuration or at least one error, every error naming the
 * file, and nothing leaked (ASan/LSan).  The same bytes also go through
 * the value parsers.  Built by tests/fuzz/run.sh with
 * -fsanitize=fuzzer,address,undefined.
 */
#include "config.h"
#include "parse.h"
#include "subject.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run the value parsers on S (NUL-terminated). */
static void fuzz_values(const char *s)
{
	uint64_t u;
	int i;
	bool b;
	const char *err;
	char **v;

	(void)parse_duration(s, &u, &err);
	if (parse_duration(s, &u, &err) == 0 &&
	    parse_duration(format_duration(u), &u, &err) != 0)
		abort(); /* format_duration must parse back */
	(void)parse_size(s, &u, &err);
	(void)parse_bool(s, &b, &err);
	(void)parse_signal(s, &i, &err);
	(void)parse_umask(s, &i, &err);
	if (argv_split(s, &v, &err) == 0)
		argv_free(v);
	if (list_split(s, &v, &err) == 0) {
		for (char **p = v; *p; p++)
			if (subject_valid(*p, true) && !subject_covers(*p, *p))
				abort(); /* every subject covers itself */
		argv_free(v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nv_errors errs = {0};
	struct nv_config *cfg;
	char *s;

	cfg = config_load_buffer("fuzz.ini", (const char *)data, size,
				 NV_LOAD_NO_INCLUDE, &errs);
	if ((cfg == NULL) == (errs.n == 0))
		abort(); /* exactly one of: a config, or errors */
	for (size_t i = 0; i < errs.n; i++)
		if (strncmp(errs.msgs[i], "fuzz.ini", 8) != 0)
			abort(); /* every error names the file */
	for (size_t i = 0; cfg && i < cfg->nlisteners; i++)
		if (cfg->listeners[i].argv == NULL ||
		    cfg->listeners[i].argv[0] == NULL ||
		    (cfg->listeners[i].nsubjects == 0) !=
			    (cfg->listeners[i].subjects == NULL ||
			     cfg->listeners[i].subjects[0] == NULL))
			abort(); /* a valid listener can run */
	config_free(cfg);
	errors_clear(&errs);

	if (size < 4096 && (s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		fuzz_values(s);
		free(s);
	}
	return 0;
}
