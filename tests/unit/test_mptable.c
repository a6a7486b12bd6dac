/* SPDX-License-Identifier: MIT */
/* mptable.c: the MP floating pointer and configuration table Linux reads without ACPI. */
#include <errno.h>
#include <string.h>

#include "mptable.h"
#include "suites.h"

/* Entry sizes from the MP spec 1.4, independent of mptable.c's structs. */
#define MPF_LEN 16
#define LEVEL_PINS 0x0fe0u	/* pins 5..11, as the VM asks for */
#define MPC_HDR_LEN 44
#define ENT_CPU_LEN 20
#define ENT_OTHER_LEN 8

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_table(unsigned int ncpus)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	const uint8_t *mpf, *hdr, *p, *end;
	unsigned int cpus = 0, bsp = 0, buses = 0, ioapics = 0, intsrc = 0, lint = 0, count;
	unsigned int ioapic_id = 0xffff;
	uint32_t apic_seen = 0;
	int extint_pin0 = 0;

	tm_init(&m, MIB(64));
	memset(m.host + BOOT_MPTABLE_ADDR, 0xee, BOOT_EBDA_END - BOOT_MPTABLE_ADDR);
	ck_assert_int_eq(mptable__write(&m, ncpus, LEVEL_PINS, &err), 0);

	/* Floating pointer: 16-byte aligned in the last KiB of base memory, where Linux scans. */
	mpf = m.host + BOOT_MPTABLE_ADDR;
	ck_assert_uint_eq(BOOT_MPTABLE_ADDR % 16, 0);
	ck_assert_mem_eq(mpf, "_MP_", 4);
	ck_assert_uint_eq(mpf[8], 1);		/* length in 16-byte units */
	ck_assert_uint_eq(mpf[9], 4);		/* spec 1.4 */
	ck_assert_uint_eq(sum(mpf, MPF_LEN), 0);
	ck_assert_uint_eq(mpf[11], 0);		/* no default configuration: use the table */

	/* Configuration table. */
	ck_assert_uint_ge(le32(mpf + 4), BOOT_MPTABLE_ADDR);
	hdr = guest_mem__ptr(&m, le32(mpf + 4), MPC_HDR_LEN);
	ck_assert_ptr_nonnull(hdr);
	ck_assert_mem_eq(hdr, "PCMP", 4);
	ck_assert_uint_eq(hdr[6], 4);
	ck_assert_uint_le(le32(mpf + 4) + le16(hdr + 4), BOOT_EBDA_END);
	ck_assert_uint_eq(sum(hdr, le16(hdr + 4)), 0);
	ck_assert_uint_eq(le32(hdr + 36), MPTABLE_LAPIC_ADDR);
	count = le16(hdr + 34);
	ck_assert_uint_eq(count, ncpus + 1 + 1 + MPTABLE_IOAPIC_PINS + 2);

	/* Walk the entries: the count and the length must agree. */
	p = hdr + MPC_HDR_LEN;
	end = hdr + le16(hdr + 4);
	while (p < end) {
		switch (p[0]) {
		case 0:
			ck_assert_uint_lt(p[1], 32);
			ck_assert_msg(!(apic_seen & (1u << p[1])), "APIC id %u twice", p[1]);
			apic_seen |= 1u << p[1];
			ck_assert_uint_eq(p[3] & 1, 1);		/* enabled */
			if (p[3] & 2)
				bsp++;
			cpus++;
			p += ENT_CPU_LEN;
			break;
		case 1:
			ck_assert_mem_eq(p + 2, "ISA", 3);
			buses++;
			p += ENT_OTHER_LEN;
			break;
		case 2:
			ioapic_id = p[1];
			ck_assert_uint_eq(p[3] & 1, 1);
			ck_assert_uint_eq(le32(p + 4), MPTABLE_IOAPIC_ADDR);
			ioapics++;
			p += ENT_OTHER_LEN;
			break;
		case 3:
			ck_assert_uint_eq(p[6], ioapic_id);	/* after the IO-APIC entry */
			ck_assert_uint_eq(p[7], p[5]);		/* ISA IRQ n -> pin n */
			/* irqflag: level + active high on the chosen pins, bus default elsewhere */
			ck_assert_uint_eq(le16(p + 2), (LEVEL_PINS >> p[7]) & 1 ? 0x0d : 0);
			if (p[5] == 0 && p[1] == 3)
				extint_pin0 = 1;
			intsrc++;
			p += ENT_OTHER_LEN;
			break;
		case 4:
			lint++;
			p += ENT_OTHER_LEN;
			break;
		default:
			ck_abort_msg("unknown MP entry type %u", p[0]);
		}
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_uint_eq(cpus, ncpus);
	ck_assert_uint_eq(bsp, 1);
	ck_assert_uint_eq(apic_seen, (uint32_t)((1ULL << ncpus) - 1));
	ck_assert_uint_eq(buses, 1);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_msg(!(apic_seen & (1u << ioapic_id)), "IO-APIC id %u clashes with a CPU",
		      ioapic_id);
	ck_assert_uint_eq(intsrc, MPTABLE_IOAPIC_PINS);
	ck_assert_uint_eq(lint, 2);
	ck_assert_int_eq(extint_pin0, 1);
	ck_assert_uint_eq(cpus + buses + ioapics + intsrc + lint, count);
	guest_mem__exit(&m);
}

START_TEST(one_cpu)
{
	check_table(1);
}
END_TEST

START_TEST(sixteen_cpus)
{
	check_table(16);
}
END_TEST

START_TEST(memory_too_small)
{
	struct guest_mem m;
	struct sv_error err = { 0 };

	tm_init(&m, BOOT_MPTABLE_ADDR + 64);
	ck_assert_int_eq(mptable__write(&m, 1, LEVEL_PINS, &err), -ENOSPC);
	ck_assert_has(err.msg, "MP table");
	guest_mem__exit(&m);
}
END_TEST

START_TEST(too_many_cpus_for_the_kib)
{
	struct guest_mem m;
	struct sv_error err = { 0 };

	tm_init(&m, MIB(64));
	/* 64 processor entries do not fit below 0xa0000: refused, not spilled. */
	memset(m.host + BOOT_EBDA_END, 0x11, 4096);
	ck_assert_int_eq(mptable__write(&m, 64, LEVEL_PINS, &err), -ENOSPC);
	ck_assert_uint_eq(m.host[BOOT_EBDA_END], 0x11);
	guest_mem__exit(&m);
}
END_TEST

Suite *mptable_suite(void)
{
	Suite *s = suite_create("mptable");
	TCase *tc = tcase_create("write");

	tcase_add_test(tc, one_cpu);
	tcase_add_test(tc, sixteen_cpus);
	tcase_add_test(tc, memory_too_small);
	tcase_add_test(tc, too_many_cpus_for_the_kib);
	suite_add_tcase(s, tc);
	return s;
}
