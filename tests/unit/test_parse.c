/*
 * test_parse.c: durations, sizes, booleans, signals, umasks, word
 * splitting and duration formatting.
 */
#include "buf.h"
#include "parse.h"
#include "t.h"

#include <signal.h>
#include <stdlib.h>

/* Duration of S in ms, or -1 on error. */
static long long dur(const char *s)
{
	uint64_t ms;
	const char *err;

	return parse_duration(s, &ms, &err) < 0 ? -1 : (long long)ms;
}

/* Size of S in bytes, or -1 on error. */
static long long size(const char *s)
{
	uint64_t b;
	const char *err;

	return parse_size(s, &b, &err) < 0 ? -1 : (long long)b;
}

/* Signal number of S, or -1 on error. */
static int sig(const char *s)
{
	int n;
	const char *err;

	return parse_signal(s, &n, &err) < 0 ? -1 : n;
}

/* Split S and join the words with '|' (or "ERR:message"). */
static const char *split(const char *s, bool list)
{
	static char buf[512];
	char **v;
	const char *err;
	size_t n = 0;

	if ((list ? list_split(s, &v, &err) : argv_split(s, &v, &err)) < 0) {
		snprintf(buf, sizeof buf, "ERR:%s", err);
		return buf;
	}
	buf[0] = '\0';
	for (char **p = v; *p; p++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s[%s]",
				      p == v ? "" : "|", *p);
	argv_free(v);
	return buf;
}

static const char *redact(const char *url)
{
	static char buf[64];
	return url_redact(url, buf, sizeof buf);
}

int main(void)
{
	bool b = false;
	int m;
	const char *err;

	CHECK_STR(redact("nats://h:4222"), "nats://h:4222");
	CHECK_STR(redact("nats://u:secret@h:4222"), "nats://u:***@h:4222");
	CHECK_STR(redact("nats://tok@h"), "nats://***@h");
	CHECK_STR(redact("u:secret@h:4222"), "u:***@h:4222");
	CHECK_STR(redact("nats//u:secret@h:4222"), "nats//u:***@h:4222");
	CHECK_STR(redact("nats:u:secret@h"), "nats:***@h");
	CHECK_STR(redact("nats://u:a/b@h:4222"), "nats://u:***@h:4222");
	CHECK_STR(redact("nats://u:a@b@h"), "nats://u:***@h");
	CHECK_STR(redact("nats://a:1@h,tls://h2,nats://t@h3"),
		  "nats://a:***@h,tls://h2,nats://***@h3");
	CHECK_STR(redact(""), "");
	{
		char u[64];
		CHECK_STR(url_strip_userinfo("nats://u:p@h:1,tls://h2,"
					     "nats://t@h3", u, sizeof u),
			  "nats://h:1,tls://h2,nats://h3");
	}
	{
		char u[12];
		CHECK_STR(url_redact("nats://u:secret@host", u, sizeof u),
			  "nats://u:**");
	}

	/* command-line words as status and --check -v show them */
	{
		char u[64];
		CHECK_STR(arg_redact(NULL, "--pass", u, sizeof u), "--pass");
		CHECK_STR(arg_redact("--pass", "s3cret", u, sizeof u), "***");
		CHECK_STR(arg_redact("--auth", "tok", u, sizeof u), "***");
		CHECK_STR(arg_redact("-PASSWORD", "x", u, sizeof u), "***");
		CHECK_STR(arg_redact(NULL, "--db-token=t0k", u, sizeof u),
			  "--db-token=***");
		CHECK_STR(arg_redact("--pass=x", "next", u, sizeof u), "next");
		CHECK_STR(arg_redact("--user", "alice", u, sizeof u), "alice");
		CHECK_STR(arg_redact("pass", "word", u, sizeof u), "word");
		CHECK_STR(arg_redact("-s", "nats://u:pw@h:1", u, sizeof u),
			  "nats://u:***@h:1");
		CHECK_STR(arg_redact(NULL, "a=b@c", u, sizeof u), "a=b@c");
		/* a shell command line: word by word */
		CHECK_STR(arg_redact("-c", "exec ./l.sh --pass Pw nats://u:p@h:1",
				     u, sizeof u),
			  "exec ./l.sh --pass *** nats://u:***@h:1");
		CHECK_STR(arg_redact("-c", "echo  a\tb", u, sizeof u),
			  "echo  a\tb");
		/* ... split as sh splits: quotes and backslashes */
		{
			char v[256];
			CHECK_STR(arg_redact("-c",
					     "exec x \"--token=t3\" "
					     "'--password=p4' --api-token 'a b' "
					     "MY_PASSWORD=p5 'keep me'",
					     v, sizeof v),
				  "exec x --token=*** --password=*** "
				  "--api-token *** MY_PASSWORD=*** 'keep me'");
			CHECK_STR(arg_redact("-c", "a \"--password\" p9 "
					     "--password=a\\ b \"x\\\"y\"",
					     v, sizeof v),
				  "a \"--password\" *** --password=*** "
				  "\"x\\\"y\"");
		}
		/* ... with $(...), ${...}, `...` inside a word, and the
		 * operators that end one kept */
		{
			char v[256];
			CHECK_STR(arg_redact("-c",
					     "API_TOKEN=$(echo p1 p2) "
					     "DB_PASSWORD=${PW:-d s2} exec prog",
					     v, sizeof v),
				  "API_TOKEN=*** DB_PASSWORD=*** exec prog");
			CHECK_STR(arg_redact("-c", "SECRET=`echo a b` x", v,
					     sizeof v),
				  "SECRET=*** x");
			CHECK_STR(arg_redact("-c",
					     "export DB_PASSWORD=pw1; prog "
					     "--password=pw3|logger",
					     v, sizeof v),
				  "export DB_PASSWORD=***; prog "
				  "--password=***|logger");
			CHECK_STR(arg_redact("-c", "DB_PASSWORD=pw2&&exec prog",
					     v, sizeof v),
				  "DB_PASSWORD=***&&exec prog");
			CHECK_STR(arg_redact("-c", "AUTH=c>out prog4", v,
					     sizeof v),
				  "AUTH=***>out prog4");
			/* an operator starts a new command: no option before */
			CHECK_STR(arg_redact("-c", "a --pass; b c", v, sizeof v),
				  "a --pass; b c");
		}
		/* the word after a secret option's name is another option */
		CHECK_STR(arg_redact("--no-auth", "--verbose", u, sizeof u),
			  "--verbose");
		/* a variable assignment (env NAME=VALUE prog) */
		CHECK_STR(arg_redact("env", "DB_TOKEN=t0k", u, sizeof u),
			  "DB_TOKEN=***");
		CHECK_STR(arg_redact(NULL, "x.TOKEN=t", u, sizeof u), "x.TOKEN=t");
		CHECK(name_is_secret("NATS_Secret_x", 13));
		CHECK(!name_is_secret("PAS", 3));
	}

	/* UTF-8: valid sequences and the ones a strict reader refuses */
	CHECK_INT(utf8_seq("a", 1), 1);
	CHECK_INT(utf8_seq("\xc3\xa9", 2), 2);
	CHECK_INT(utf8_seq("\xe2\x82\xac", 3), 3);
	CHECK_INT(utf8_seq("\xf0\x9f\x98\x80", 4), 4);
	CHECK_INT(utf8_seq("\xc3", 1), 0);             /* cut */
	CHECK_INT(utf8_seq("\xc0\xaf", 2), 0);         /* overlong */
	CHECK_INT(utf8_seq("\xe0\x80\xaf", 3), 0);     /* overlong */
	CHECK_INT(utf8_seq("\xed\xa0\x80", 3), 0);     /* surrogate */
	CHECK_INT(utf8_seq("\xf4\x90\x80\x80", 4), 0); /* > U+10FFFF */
	CHECK_INT(utf8_seq("\xff", 1), 0);
	CHECK_INT(utf8_seq("\x80", 1), 0);

	/* JSON strings stay valid UTF-8 whatever the bytes */
	{
		struct buf jb = { 0 };
		buf_json_strn(&jb, "a\xff\xc3\xa9\xc3\"\n", 7);
		buf_add(&jb, "", 1);
		CHECK_STR(jb.p, "\"a\\ufffd\xc3\xa9\\ufffd\\\"\\n\"");
		buf_free(&jb);
	}

	CHECK_INT(dur("250ms"), 250);
	CHECK_INT(dur("1.5s"), 1500);
	/* whole milliseconds: finer is an error, never rounded */
	CHECK_INT(dur("1.0005s"), -1);
	CHECK_INT(dur("0.0000001ms"), -1);
	CHECK_INT(dur("0.0000000001s"), -1);
	CHECK_INT(dur("1.0000000000s"), 1000);
	CHECK_INT(dur("2m"), 120000);
	CHECK_INT(dur("1h"), 3600000);
	CHECK_INT(dur("30"), 30000);
	CHECK_INT(dur("0.25"), 250);
	CHECK_INT(dur("0"), 0);
	CHECK_INT(dur("1h30m"), 5400000);
	CHECK_INT(dur("2m3.5s"), 123500);
	CHECK_INT(dur(".5s"), 500);
	CHECK_INT(dur(""), -1);
	CHECK_INT(dur("5x"), -1);
	CHECK_INT(dur("-1s"), -1);
	CHECK_INT(dur("1.2.3s"), -1);
	CHECK_INT(dur("s"), -1);
	CHECK_INT(dur("1 s"), -1);
	CHECK_INT(dur("10 20"), -1);
	CHECK_INT(dur("1m30"), -1);
	CHECK_INT(dur("99999999999999999999h"), -1);

	CHECK_INT(size("512"), 512);
	CHECK_INT(size("64K"), 65536);
	CHECK_INT(size("10M"), 10485760);
	CHECK_INT(size("1G"), 1073741824);
	CHECK_INT(size("1.5k"), 1536);
	/* whole bytes: 0.5 is no 0 (no rotation); nine decimals of a T */
	CHECK_INT(size("0.5"), -1);
	CHECK_INT(size("0.1K"), -1);
	CHECK_INT(size("0.5T"), 549755813888LL);
	CHECK_INT(size("0.000000001T"), -1);
	CHECK_INT(size("2MiB"), 2097152);
	CHECK_INT(size("3KB"), 3072);
	CHECK_INT(size("10Q"), -1);
	CHECK_INT(size("M"), -1);
	CHECK_INT(size(""), -1);

	CHECK(parse_bool("Yes", &b, &err) == 0 && b);
	CHECK(parse_bool("off", &b, &err) == 0 && !b);
	CHECK(parse_bool("TRUE", &b, &err) == 0 && b);
	CHECK(parse_bool("0", &b, &err) == 0 && !b);
	CHECK(parse_bool("1", &b, &err) == 0 && b);
	CHECK(parse_bool("maybe", &b, &err) < 0);
	CHECK(parse_bool("", &b, &err) < 0);

	CHECK_INT(sig("TERM"), SIGTERM);
	CHECK_INT(sig("SIGTERM"), SIGTERM);
	CHECK_INT(sig("term"), SIGTERM);
	CHECK_INT(sig("sigkill"), SIGKILL);
	CHECK_INT(sig("9"), 9);
	CHECK_INT(sig("USR1"), SIGUSR1);
	CHECK_INT(sig("0"), -1);
	CHECK_INT(sig("65"), -1);
	CHECK_INT(sig("SIGFOO"), -1);
	CHECK_INT(sig("SIG"), -1);
	CHECK_STR(signal_name(SIGTERM), "TERM");
	CHECK_STR(signal_name(SIGHUP), "HUP");
	CHECK_STR(signal_name(40), "SIG40");

	CHECK(parse_umask("022", &m, &err) == 0 && m == 022);
	CHECK(parse_umask("0077", &m, &err) == 0 && m == 077);
	CHECK(parse_umask("7", &m, &err) == 0 && m == 7);
	CHECK(parse_umask("0999", &m, &err) < 0);
	CHECK(parse_umask("01000", &m, &err) < 0);
	CHECK(parse_umask("", &m, &err) < 0);

	CHECK_STR(split("a b  c", false), "[a]|[b]|[c]");
	CHECK_STR(split("sh -c 'echo start ; exec x'", false),
		  "[sh]|[-c]|[echo start ; exec x]");
	CHECK_STR(split("a\\ b \"c \\\"d\\\" $e\" 'f\\g'", false),
		  "[a b]|[c \"d\" $e]|[f\\g]");
	CHECK_STR(split("x'y'\"z\"", false), "[xyz]");
	CHECK_STR(split("'' \"\"", false), "[]|[]");
	CHECK_STR(split("", false), "");
	CHECK_STR(split("   ", false), "");
	CHECK_STR(split("a,b", false), "[a,b]");
	CHECK_STR(split("'open", false), "ERR:unterminated quote");
	CHECK_STR(split("\"open", false), "ERR:unterminated quote");
	CHECK_STR(split("x\\", false), "ERR:trailing backslash");
	CHECK_STR(split("\"a\\nb\"", false), "[a\\nb]");

	CHECK_STR(split("a, b,c  d", true), "[a]|[b]|[c]|[d]");
	CHECK_STR(split("A=1,,B=\"x, y\"", true), "[A=1]|[B=x, y]");
	CHECK_STR(split("DSN=host=db;port=5432", true), "[DSN=host=db;port=5432]");
	CHECK_STR(split(", ,", true), "");

	CHECK_STR(format_duration(0), "0ms");
	CHECK_STR(format_duration(250), "250ms");
	CHECK_STR(format_duration(1000), "1s");
	CHECK_STR(format_duration(1500), "1.5s");
	CHECK_STR(format_duration(123000), "2m3s");
	CHECK_STR(format_duration(123500), "2m3.5s");
	CHECK_STR(format_duration(3600000), "1h");
	CHECK_STR(format_duration(5400000), "1h30m");
	CHECK_STR(format_duration(1001), "1.001s");
	/* format and parse round-trip */
	for (uint64_t v = 0; v < 10000000; v = v * 3 + 7)
		CHECK_INT(dur(format_duration(v)), (long long)v);

	return t_done("test_parse");
}
