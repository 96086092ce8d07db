/*
 * fuzz_ctlproto.c: libFuzzer harness for the control protocol.
 *
 * The input is offered to ctl_decode_request() whole and in two pieces
 * (the daemon decodes after every read, so a prefix must never be
 * accepted differently from the whole); a decoded request goes through
 * ctl_parse_cmd() as the daemon would, and is re-encoded and decoded again
 * to check the round trip.  The same bytes are also tried as a reply.
 *
 * Build (clang): see tests/fuzz/local.mk, or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Isupervisor tests/fuzz/fuzz_ctlproto.c supervisor/ctlproto.c \
 *     supervisor/parse.c supervisor/subject.c -lbsd -o fuzz_ctlproto
 *   ./fuzz_ctlproto tests/fuzz/corpus/ctlproto
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message when an invariant breaks. */
static void require(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *err, *out, *rerr;
	struct ctl_request req, again;
	struct ctl_cmd cmd;
	size_t outlen, errlen, len;
	char msg[256], *enc;
	int rc, code;

	rc = ctl_decode_request(buf, size, &req, &err);
	require(rc >= -1 && rc <= 1);
	/* A split at any point: a prefix of something valid asks for
	 * more; a prefix of something malformed is never accepted. */
	if (size > 1) {
		struct ctl_request p;
		size_t cut = data[0] % size;
		int prc = ctl_decode_request(buf, cut, &p, &err);
		if (prc == 1) {
			require(rc == 1 && p.consumed <= cut);
			ctl_request_free(&p);
		}
		if (rc == 0)
			require(prc == 0);
	}
	if (rc == 1) {
		require(req.argc >= 1 && req.argc <= CTL_ARGS_MAX);
		require(req.argv[req.argc] == NULL);
		require(req.consumed <= size);
		require(req.bodylen <= CTL_BODY_MAX);
		for (int i = 0; i < req.argc; i++)
			require(strlen(req.argv[i]) <= CTL_ARG_MAX);
		if (ctl_parse_cmd(req.argc, req.argv, &cmd, msg, sizeof msg) ==
		    0)
			free(cmd.names);
		else
			require(memchr(msg, '\0', sizeof msg) != NULL);
		/* Round trip: the same frame again. */
		require(ctl_encode_request(req.argc, req.argv, req.body,
					   req.bodylen, &enc, &len) == 0);
		require(len == req.consumed);
		require(memcmp(enc, buf, len) == 0);
		require(ctl_decode_request(enc, len, &again, &err) == 1);
		ctl_request_free(&again);
		free(enc);
		ctl_request_free(&req);
	}
	rc = ctl_decode_reply(buf, size, &code, &out, &outlen, &rerr, &errlen);
	if (rc == 1) {
		require(code >= 0 && code <= 255);
		require(out >= buf && out + outlen <= buf + size);
		require(rerr == out + outlen && rerr + errlen <= buf + size);
	}
	return 0;
}
