/*
 * test_subject.c: NATS subject validation, matching and covering.
 */
#include "subject.h"
#include "t.h"

int main(void)
{
	CHECK(subject_valid("a", false));
	CHECK(subject_valid("a.b.c", false));
	CHECK(subject_valid("$SRV.PING.x", false));
	CHECK(subject_valid("a-b_c.é", false));
	CHECK(!subject_valid("", false));
	CHECK(!subject_valid(".a", false));
	CHECK(!subject_valid("a.", false));
	CHECK(!subject_valid("a..b", false));
	CHECK(!subject_valid("a b", false));
	CHECK(!subject_valid("a\tb", false));
	CHECK(!subject_valid("a.*", false));
	CHECK(!subject_valid("a.>", false));
	CHECK(subject_valid("a.*", true));
	CHECK(subject_valid("a.>", true));
	CHECK(subject_valid(">", true));
	CHECK(subject_valid("*.*.b", true));
	CHECK(!subject_valid("a.>.b", true));
	CHECK(!subject_valid("a*.b", true));
	CHECK(!subject_valid("a.b>", true));
	CHECK(!subject_valid(NULL, true));

	CHECK(subject_matches("a.b", "a.b"));
	CHECK(!subject_matches("a.b", "a.c"));
	CHECK(!subject_matches("a.b", "a.b.c"));
	CHECK(!subject_matches("a.b.c", "a.b"));
	CHECK(subject_matches("a.*", "a.b"));
	CHECK(!subject_matches("a.*", "a.b.c"));
	CHECK(!subject_matches("a.*", "a"));
	CHECK(subject_matches("a.>", "a.b"));
	CHECK(subject_matches("a.>", "a.b.c"));
	CHECK(!subject_matches("a.>", "a"));
	CHECK(subject_matches(">", "x"));
	CHECK(subject_matches("*.b.>", "x.b.y.z"));
	CHECK(!subject_matches("*.b.>", "x.c.y"));
	CHECK(!subject_matches("ab", "a"));

	CHECK(subject_covers("a.b", "a.b"));
	CHECK(subject_covers("a.*", "a.b"));
	CHECK(subject_covers("a.*", "a.*"));
	CHECK(!subject_covers("a.b", "a.*"));
	CHECK(subject_covers("a.>", "a.*"));
	CHECK(subject_covers("a.>", "a.b.>"));
	CHECK(subject_covers("a.>", "a.>"));
	CHECK(!subject_covers("a.*", "a.>"));
	CHECK(!subject_covers("a.*.c", "a.>"));
	CHECK(subject_covers(">", "x.y.z"));
	CHECK(!subject_covers("a.>", "a"));
	CHECK(!subject_covers("a.*", "b.c"));
	CHECK(subject_covers("*.*", "a.*"));
	CHECK(!subject_covers("*.*", "a.*.c"));

	return t_done("test_subject");
}
