/* SPDX-License-Identifier: MIT */
/* parse.c: sizes as users type them on the command line. */
#include <errno.h>

#include "suites.h"

static uint64_t ok(const char *s)
{
	uint64_t v = 0xdeadbeef;
	int r = sv_parse_size(s, &v);

	ck_assert_msg(r == 0, "sv_parse_size(\"%s\") = %d", s, r);
	return v;
}

static void bad(const char *s, int e1, int e2)
{
	uint64_t v = 0xdeadbeef;
	int r = sv_parse_size(s, &v);

	ck_assert_msg(r == e1 || r == e2, "sv_parse_size(\"%s\") = %d", s, r);
	ck_assert_msg(v == 0xdeadbeef, "sv_parse_size(\"%s\") wrote %llu on failure", s,
		      (unsigned long long)v);
}

START_TEST(accepted)
{
	ck_assert_uint_eq(ok("256M"), MIB(256));
	ck_assert_uint_eq(ok("256m"), MIB(256));
	ck_assert_uint_eq(ok("1G"), GIB(1));
	ck_assert_uint_eq(ok("1g"), GIB(1));
	ck_assert_uint_eq(ok("512MiB"), MIB(512));
	ck_assert_uint_eq(ok("512MB"), MIB(512));
	ck_assert_uint_eq(ok("2GiB"), GIB(2));
	ck_assert_uint_eq(ok("64"), MIB(64));		/* bare number = MiB */
	ck_assert_uint_eq(ok("1048576K"), GIB(1));
	ck_assert_uint_eq(ok("4k"), KIB(4));
	ck_assert_uint_eq(ok("0"), 0);
	ck_assert_uint_eq(ok("064"), MIB(64));		/* decimal, not octal */
	/* The largest representable value in G: 2^34 - 1 G. */
	ck_assert_uint_eq(ok("17179869183G"), (17179869183ULL << 30));
}
END_TEST

START_TEST(rejected)
{
	bad(NULL, -EINVAL, -EINVAL);
	bad("", -EINVAL, -EINVAL);
	bad("abc", -EINVAL, -EINVAL);
	bad("12Q", -EINVAL, -EINVAL);
	bad("100T", -EINVAL, -EINVAL);
	bad("-1", -EINVAL, -EINVAL);
	bad("+1", -EINVAL, -EINVAL);
	bad(" 1", -EINVAL, -EINVAL);
	bad("1 G", -EINVAL, -EINVAL);
	bad("1.5G", -EINVAL, -EINVAL);
	bad("1G ", -EINVAL, -EINVAL);
	bad("1GiBx", -EINVAL, -EINVAL);
	bad("1iB", -EINVAL, -EINVAL);
	bad("1Gi B", -EINVAL, -EINVAL);
	bad("0x10", -EINVAL, -EINVAL);
	bad("M", -EINVAL, -EINVAL);
}
END_TEST

START_TEST(overflow)
{
	bad("99999999999999999999G", -ERANGE, -EINVAL);
	bad("99999999999999999999", -ERANGE, -EINVAL);
	bad("17179869184G", -ERANGE, -EINVAL);		/* exactly 2^64 */
	bad("18446744073709551615K", -ERANGE, -EINVAL);
	bad("17592186044416M", -ERANGE, -EINVAL);	/* 2^44 M = 2^64 */
}
END_TEST

Suite *parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("size");

	tcase_add_test(tc, accepted);
	tcase_add_test(tc, rejected);
	tcase_add_test(tc, overflow);
	suite_add_tcase(s, tc);
	return s;
}
