/*
 * nvcheck.c: a stand-in for `natsvisord --check` while testing the
 * configuration loader alone: `nvcheck [-v] -c FILE` prints exactly what
 * natsvisord --check prints (both call config_check_main); `nvcheck --keys`
 * prints the key table (config_dump_keys) for the documentation check.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *path = NULL;
	int verbose = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--keys") == 0) {
			config_dump_keys(stdout);
			return 0;
		} else if (strcmp(argv[i], "-v") == 0) {
			verbose++;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0 ||
			   strcmp(argv[i], "-n") == 0) {
			continue;
		} else {
			path = argv[i];
		}
	}
	if (path == NULL) {
		fprintf(stderr, "usage: nvcheck [-v] [--keys] [-c] FILE\n");
		return 2;
	}
	return config_check_main(path, verbose);
}
