/* SPDX-License-Identifier: MIT */
/* iobus.c: range registration and dispatch of port I/O / MMIO accesses. */
#include <errno.h>
#include <string.h>

#include "iobus.h"
#include "suites.h"

struct rec {
	int reads, writes;
	uint64_t off;
	uint32_t len;
	uint8_t data[8];
};

static void rec_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct rec *r = opaque;
	uint32_t i;

	r->reads++;
	r->off = off;
	r->len = len;
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(0xa0 + off + i);
}

static void rec_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct rec *r = opaque;

	r->writes++;
	r->off = off;
	r->len = len;
	memcpy(r->data, data, len);
}

static const struct io_ops rec_ops = { .read = rec_read, .write = rec_write };
static const struct io_ops no_ops = { 0 };

START_TEST(register_and_overlap)
{
	struct iobus bus = { 0 };
	struct rec a = { 0 };
	struct sv_error err = { 0 };
	unsigned int i;

	ck_assert_int_eq(iobus__register(&bus, 0x3f8, 8, &rec_ops, &a, &err), 0);
	/* Overlaps at either end or inside are refused. */
	ck_assert_int_eq(iobus__register(&bus, 0x3f0, 9, &rec_ops, &a, &err), -EBUSY);
	ck_assert_has(err.msg, "overlaps");
	ck_assert_int_eq(iobus__register(&bus, 0x3ff, 1, &rec_ops, &a, &err), -EBUSY);
	ck_assert_int_eq(iobus__register(&bus, 0x3fa, 1, &rec_ops, &a, &err), -EBUSY);
	ck_assert_int_eq(iobus__register(&bus, 0x300, 0x200, &rec_ops, &a, &err), -EBUSY);
	/* Neighbours touching it are fine. */
	ck_assert_int_eq(iobus__register(&bus, 0x3f0, 8, &rec_ops, &a, &err), 0);
	ck_assert_int_eq(iobus__register(&bus, 0x400, 8, &rec_ops, &a, &err), 0);
	ck_assert_uint_eq(bus.n, 3);
	/* Empty and wrapping ranges are refused. */
	ck_assert_int_eq(iobus__register(&bus, 0x1000, 0, &rec_ops, &a, &err), -EINVAL);
	ck_assert_int_eq(iobus__register(&bus, UINT64_MAX - 1, 4, &rec_ops, &a, &err), -EINVAL);
	/* The table has a fixed size. */
	for (i = bus.n; i < IOBUS_MAX_RANGES; i++)
		ck_assert_int_eq(iobus__register(&bus, 0x10000 + i * 16, 16, &rec_ops, &a, &err), 0);
	ck_assert_int_eq(iobus__register(&bus, 0x90000, 16, &rec_ops, &a, &err), -ENOSPC);
	ck_assert_uint_eq(bus.n, IOBUS_MAX_RANGES);
}
END_TEST

START_TEST(dispatch_with_offset)
{
	struct iobus bus = { 0 };
	struct rec a = { 0 }, b = { 0 };
	uint8_t d[8] = { 1, 2, 3, 4 };

	ck_assert_int_eq(iobus__register(&bus, 0x3f8, 8, &rec_ops, &a, NULL), 0);
	ck_assert_int_eq(iobus__register(&bus, 0xd0000000ULL, 0x200, &rec_ops, &b, NULL), 0);

	ck_assert_int_eq(iobus__access(&bus, 0x3fa, d, 2, 1), 1);
	ck_assert_int_eq(a.writes, 1);
	ck_assert_uint_eq(a.off, 2);
	ck_assert_uint_eq(a.len, 2);
	ck_assert_mem_eq(a.data, "\x01\x02", 2);
	ck_assert_int_eq(b.writes, 0);

	ck_assert_int_eq(iobus__access(&bus, 0xd0000100ULL, d, 4, 0), 1);
	ck_assert_int_eq(b.reads, 1);
	ck_assert_uint_eq(b.off, 0x100);
	ck_assert_mem_eq(d, "\xa0\xa1\xa2\xa3", 4);	/* 0xa0 + (0x100 & 0xff) ... */

	/* The last byte of a range is its device's. */
	ck_assert_int_eq(iobus__access(&bus, 0x3ff, d, 1, 0), 1);
	ck_assert_uint_eq(a.off, 7);
	ck_assert_uint_eq(d[0], 0xa7);
}
END_TEST

START_TEST(straddling_not_dispatched)
{
	struct iobus bus = { 0 };
	struct rec a = { 0 };
	uint8_t d[8];

	ck_assert_int_eq(iobus__register(&bus, 0x100, 8, &rec_ops, &a, NULL), 0);
	memset(d, 0, sizeof(d));
	ck_assert_int_eq(iobus__access(&bus, 0x106, d, 4, 0), 0);	/* 0x106..0x109 */
	ck_assert_mem_eq(d, "\xff\xff\xff\xff", 4);
	ck_assert_int_eq(iobus__access(&bus, 0x106, d, 4, 1), 0);
	ck_assert_int_eq(iobus__access(&bus, 0xfe, d, 4, 0), 0);	/* starts before */
	ck_assert_int_eq(a.reads + a.writes, 0);
	/* Exactly up to the end is fine. */
	ck_assert_int_eq(iobus__access(&bus, 0x104, d, 4, 0), 1);
	ck_assert_int_eq(a.reads, 1);
}
END_TEST

START_TEST(unmapped)
{
	struct iobus bus = { 0 };
	struct rec a = { 0 };
	uint8_t d[8];

	ck_assert_int_eq(iobus__register(&bus, 0x100, 8, &rec_ops, &a, NULL), 0);
	memset(d, 0x12, sizeof(d));
	ck_assert_int_eq(iobus__access(&bus, 0x80, d, 8, 0), 0);
	ck_assert_mem_eq(d, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
	memset(d, 0x12, sizeof(d));
	ck_assert_int_eq(iobus__access(&bus, 0x80, d, 2, 1), 0);
	ck_assert_uint_eq(d[0], 0x12);		/* a write's data is left alone */
	ck_assert_int_eq(iobus__access(&bus, UINT64_MAX, d, 1, 0), 0);
	ck_assert_int_eq(a.reads + a.writes, 0);
}
END_TEST

START_TEST(device_without_ops)
{
	struct iobus bus = { 0 };
	uint8_t d[4];

	ck_assert_int_eq(iobus__register(&bus, 0x100, 8, &no_ops, NULL, NULL), 0);
	memset(d, 0x12, sizeof(d));
	/* Claimed (no 0xff) but the device has nothing to say: zeros, not stack garbage. */
	ck_assert_int_eq(iobus__access(&bus, 0x100, d, 4, 0), 1);
	ck_assert_mem_eq(d, "\0\0\0\0", 4);
	ck_assert_int_eq(iobus__access(&bus, 0x100, d, 4, 1), 1);
}
END_TEST

Suite *iobus_suite(void)
{
	Suite *s = suite_create("iobus");
	TCase *tc = tcase_create("bus");

	tcase_add_test(tc, register_and_overlap);
	tcase_add_test(tc, dispatch_with_offset);
	tcase_add_test(tc, straddling_not_dispatched);
	tcase_add_test(tc, unmapped);
	tcase_add_test(tc, device_without_ops);
	suite_add_tcase(s, tc);
	return s;
}
