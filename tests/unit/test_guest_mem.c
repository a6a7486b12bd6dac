/* SPDX-License-Identifier: MIT */
/* guest_mem.c: the one place guest-physical ranges become host pointers. */
#include <errno.h>
#include <string.h>

#include "suites.h"

START_TEST(small_bounds)
{
	struct guest_mem m;
	const uint64_t sz = MIB(64);

	tm_init(&m, sz);
	ck_assert_uint_eq(m.size, sz);
	ck_assert_uint_eq(m.low_size, sz);
	ck_assert_uint_eq(guest_mem__high_size(&m), 0);
	ck_assert_ptr_eq(guest_mem__ptr(&m, 0, sz), m.host);
	ck_assert_ptr_eq(guest_mem__ptr(&m, sz - 1, 1), m.host + sz - 1);	/* last byte */
	ck_assert_ptr_eq(guest_mem__ptr(&m, 0x1234, 16), m.host + 0x1234);
	ck_assert_ptr_null(guest_mem__ptr(&m, sz, 1));		/* one past */
	ck_assert_ptr_null(guest_mem__ptr(&m, sz - 1, 2));	/* straddles the end */
	ck_assert_ptr_null(guest_mem__ptr(&m, 0, sz + 1));
	ck_assert_ptr_null(guest_mem__ptr(&m, 1, UINT64_MAX));	/* gpa + len wraps */
	ck_assert_ptr_null(guest_mem__ptr(&m, sz - 1, UINT64_MAX));
	ck_assert_ptr_null(guest_mem__ptr(&m, UINT64_MAX, 1));
	ck_assert_ptr_null(guest_mem__ptr(&m, UINT64_MAX, 0));
	/* Nothing is RAM at 4 GiB in a small guest. */
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START, 1));
	guest_mem__exit(&m);
	ck_assert_ptr_null(m.host);
	guest_mem__exit(&m);	/* twice is harmless */
}
END_TEST

START_TEST(large_hole_and_high)
{
	struct guest_mem m;
	const uint64_t sz = GIB(5), high = GIB(2);
	uint8_t *p;

	tm_init(&m, sz);
	ck_assert_uint_eq(m.low_size, GUEST_MMIO_HOLE_START);
	ck_assert_uint_eq(guest_mem__high_size(&m), high);
	/* Low range up to the hole. */
	ck_assert_ptr_eq(guest_mem__ptr(&m, GUEST_MMIO_HOLE_START - 1, 1),
			 m.host + GUEST_MMIO_HOLE_START - 1);
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_MMIO_HOLE_START - 1, 2));	/* into the hole */
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_MMIO_HOLE_START, 1));
	ck_assert_ptr_null(guest_mem__ptr(&m, 0xfec00000ULL, 4));		/* IO-APIC */
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START - 1, 1));
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START - 1, 2));	/* hole into high */
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_MMIO_HOLE_START - 4096, MIB(1024) + 8192));
	/* High range: RAM that did not fit below the hole, right after the low part. */
	p = guest_mem__ptr(&m, GUEST_HIGH_START, 1);
	ck_assert_ptr_eq(p, m.host + GUEST_MMIO_HOLE_START);
	ck_assert_ptr_eq(guest_mem__ptr(&m, GUEST_HIGH_START, high), p);
	ck_assert_ptr_eq(guest_mem__ptr(&m, GUEST_HIGH_START + high - 1, 1), p + high - 1);
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START + high, 1));
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START + high - 1, 2));
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START, high + 1));
	ck_assert_ptr_null(guest_mem__ptr(&m, GUEST_HIGH_START + 1, UINT64_MAX));
	/* It is really memory. */
	*p = 0x42;
	ck_assert_uint_eq(m.host[GUEST_MMIO_HOLE_START], 0x42);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(init_failure_reported)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	int r;

	/* More than any x86-64 user address space. */
	r = guest_mem__init(&m, 1ULL << 62, &err);
	ck_assert_int_lt(r, 0);
	ck_assert_int_eq(err.code, r);
	ck_assert_has(err.msg, "cannot map");
	ck_assert_ptr_null(m.host);
	guest_mem__exit(&m);
}
END_TEST

Suite *guest_mem_suite(void)
{
	Suite *s = suite_create("guest_mem");
	TCase *tc = tcase_create("ptr");

	tcase_add_test(tc, small_bounds);
	tcase_add_test(tc, large_hole_and_high);
	tcase_add_test(tc, init_failure_reported);
	suite_add_tcase(s, tc);
	return s;
}
