/* SPDX-License-Identifier: MIT */
/* x86.c: boot page tables, GDT, long-mode segment state, CPUID fix-ups. */
#include <errno.h>
#include <string.h>

#include "suites.h"
#include "x86.h"

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL
#define PTE_ADDR 0x000ffffffffff000ULL

static uint64_t rd64(const struct guest_mem *m, uint64_t gpa)
{
	uint64_t v;
	const void *p = guest_mem__ptr(m, gpa, 8);

	ck_assert_ptr_nonnull(p);
	memcpy(&v, p, 8);
	return v;
}

/* Walks the tables like the MMU does (4-level, 2 MiB leaves); returns the physical address. */
static uint64_t walk(const struct guest_mem *m, uint64_t cr3, uint64_t va)
{
	uint64_t e;

	e = rd64(m, (cr3 & PTE_ADDR) + ((va >> 39) & 511) * 8);
	ck_assert_msg(e & PTE_P, "PML4E for %#llx not present", (unsigned long long)va);
	e = rd64(m, (e & PTE_ADDR) + ((va >> 30) & 511) * 8);
	ck_assert_msg(e & PTE_P, "PDPTE for %#llx not present", (unsigned long long)va);
	ck_assert_msg(!(e & PTE_PS), "unexpected 1 GiB page");
	e = rd64(m, (e & PTE_ADDR) + ((va >> 21) & 511) * 8);
	ck_assert_msg(e & PTE_P, "PDE for %#llx not present", (unsigned long long)va);
	ck_assert_msg(e & PTE_PS, "PDE for %#llx is not a 2 MiB page", (unsigned long long)va);
	ck_assert_msg(e & PTE_RW, "PDE for %#llx is read-only", (unsigned long long)va);
	return (e & 0x000fffffffe00000ULL) | (va & 0x1fffff);
}

START_TEST(page_tables)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	unsigned int i;
	static const uint64_t probes[] = {
		0, 0x1000, 0x1000200, 0x3fffffff, 0x40000000, 0x7fffffff, 0xbfe00000,
		0xfee00000, 0xffffffff,
	};

	tm_init(&m, MIB(64));
	memset(m.host + BOOT_PML4_ADDR, 0xff, 4096 * 6);	/* stale garbage */
	ck_assert_int_eq(x86__setup_page_tables(&m, &err), 0);
	ck_assert_uint_eq(rd64(&m, BOOT_PML4_ADDR), BOOT_PDPT_ADDR | PTE_P | PTE_RW);
	for (i = 1; i < 512; i++)
		ck_assert_uint_eq(rd64(&m, BOOT_PML4_ADDR + i * 8), 0);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(rd64(&m, BOOT_PDPT_ADDR + i * 8),
				  (BOOT_PD_ADDR + i * 4096) | PTE_P | PTE_RW);
	for (i = 4; i < 512; i++)
		ck_assert_uint_eq(rd64(&m, BOOT_PDPT_ADDR + i * 8), 0);
	/* The PD entry for 1 GiB: first entry of the second PD, maps to itself. */
	ck_assert_uint_eq(rd64(&m, BOOT_PD_ADDR + 4096), 0x40000000ULL | PTE_P | PTE_RW | PTE_PS);
	ck_assert_uint_eq(rd64(&m, BOOT_PD_ADDR + 4 * 4096 - 8),
			  0xffe00000ULL | PTE_P | PTE_RW | PTE_PS);
	for (i = 0; i < ARRAY_SIZE(probes); i++)
		ck_assert_uint_eq(walk(&m, BOOT_PML4_ADDR, probes[i]), probes[i]);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(page_tables_no_room)
{
	struct guest_mem m;
	struct sv_error err = { 0 };

	tm_init(&m, BOOT_PD_ADDR + 4096);	/* room for one PD page of four */
	ck_assert_int_eq(x86__setup_page_tables(&m, &err), -ENOSPC);
	ck_assert_has(err.msg, "page tables");
	guest_mem__exit(&m);
}
END_TEST

struct desc {
	uint32_t base, limit;
	uint8_t access, type, s, dpl, p, avl, l, db, g;
};

static struct desc decode(uint64_t d)
{
	struct desc r;

	r.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	r.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
	r.access = (uint8_t)(d >> 40);
	r.type = r.access & 0xf;
	r.s = (r.access >> 4) & 1;
	r.dpl = (r.access >> 5) & 3;
	r.p = (r.access >> 7) & 1;
	r.avl = (uint8_t)((d >> 52) & 1);
	r.l = (uint8_t)((d >> 53) & 1);
	r.db = (uint8_t)((d >> 54) & 1);
	r.g = (uint8_t)((d >> 55) & 1);
	return r;
}

/* What the CPU would load from the GDT must match what we hand KVM in sregs. */
static void assert_matches(const struct desc *d, const struct kvm_segment *s)
{
	ck_assert_uint_eq(d->base, s->base);
	ck_assert_uint_eq(d->type, s->type);
	ck_assert_uint_eq(d->s, s->s);
	ck_assert_uint_eq(d->dpl, s->dpl);
	ck_assert_uint_eq(d->p, s->present);
	ck_assert_uint_eq(d->l, s->l);
	ck_assert_uint_eq(d->db, s->db);
	ck_assert_uint_eq(d->g, s->g);
	/* kvm_segment.limit is the byte limit (scaled by G). */
	ck_assert_uint_eq(d->g ? ((uint64_t)d->limit << 12) | 0xfff : d->limit, s->limit);
}

START_TEST(gdt)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	struct kvm_sregs sr;
	struct desc code, data, tss;

	tm_init(&m, MIB(64));
	memset(m.host + BOOT_GDT_ADDR, 0xff, 40);
	ck_assert_int_eq(x86__setup_gdt(&m, &err), 0);
	ck_assert_uint_eq(rd64(&m, BOOT_GDT_ADDR), 0);		/* null descriptor */
	code = decode(rd64(&m, BOOT_GDT_ADDR + BOOT_CS_SELECTOR));
	data = decode(rd64(&m, BOOT_GDT_ADDR + BOOT_DS_SELECTOR));
	tss = decode(rd64(&m, BOOT_GDT_ADDR + BOOT_TSS_SELECTOR));

	ck_assert_uint_eq(code.p, 1);
	ck_assert_uint_eq(code.s, 1);
	ck_assert_uint_eq(code.type & 0x8, 0x8);	/* executable */
	ck_assert_uint_eq(code.l, 1);			/* 64-bit code */
	ck_assert_uint_eq(code.db, 0);			/* L=1 requires D=0 */
	ck_assert_uint_eq(code.dpl, 0);
	ck_assert_uint_eq(code.base, 0);
	ck_assert_uint_eq(code.limit, 0xfffff);
	ck_assert_uint_eq(code.g, 1);

	ck_assert_uint_eq(data.p, 1);
	ck_assert_uint_eq(data.s, 1);
	ck_assert_uint_eq(data.type & 0xa, 0x2);	/* data, writable */
	ck_assert_uint_eq(data.l, 0);
	ck_assert_uint_eq(data.db, 1);
	ck_assert_uint_eq(data.base, 0);
	ck_assert_uint_eq(data.limit, 0xfffff);
	ck_assert_uint_eq(data.g, 1);

	ck_assert_uint_eq(tss.p, 1);
	ck_assert_uint_eq(tss.s, 0);
	ck_assert_uint_eq(tss.type, 0xb);		/* busy 64-bit TSS */

	memset(&sr, 0, sizeof(sr));
	x86__long_mode_sregs(&sr);
	assert_matches(&code, &sr.cs);
	assert_matches(&data, &sr.ds);
	assert_matches(&data, &sr.ss);
	/* TR: only what a task switch would check (the granularity differs harmlessly). */
	ck_assert_uint_eq(tss.type, sr.tr.type);
	ck_assert_uint_eq(tss.s, sr.tr.s);
	ck_assert_uint_eq(tss.p, sr.tr.present);
	ck_assert_uint_eq(tss.base, sr.tr.base);
	ck_assert_uint_eq(sr.gdt.base, BOOT_GDT_ADDR);
	ck_assert_uint_ge(sr.gdt.limit + 1u, BOOT_TSS_SELECTOR + 8u);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(long_mode_sregs)
{
	struct kvm_sregs sr;

	memset(&sr, 0xff, sizeof(sr));
	x86__long_mode_sregs(&sr);
	ck_assert_uint_eq(sr.cr0 & (X86_CR0_PE | X86_CR0_PG), X86_CR0_PE | X86_CR0_PG);
	ck_assert_uint_eq(sr.cr4 & X86_CR4_PAE, X86_CR4_PAE);
	ck_assert_uint_eq(sr.efer & (X86_EFER_LME | X86_EFER_LMA), X86_EFER_LME | X86_EFER_LMA);
	ck_assert_uint_eq(sr.cr3, BOOT_PML4_ADDR);
	ck_assert_uint_eq(sr.cs.selector, BOOT_CS_SELECTOR);
	ck_assert_uint_eq(sr.cs.l, 1);
	ck_assert_uint_eq(sr.cs.db, 0);
	ck_assert_uint_eq(sr.cs.present, 1);
	ck_assert_uint_eq(sr.ds.selector, BOOT_DS_SELECTOR);
	ck_assert_uint_eq(sr.es.selector, BOOT_DS_SELECTOR);
	ck_assert_uint_eq(sr.ss.selector, BOOT_DS_SELECTOR);
	ck_assert_uint_eq(sr.fs.selector, BOOT_DS_SELECTOR);
	ck_assert_uint_eq(sr.gs.selector, BOOT_DS_SELECTOR);
	ck_assert_uint_eq(sr.ss.unusable, 0);
	ck_assert_uint_eq(sr.tr.selector, BOOT_TSS_SELECTOR);
	ck_assert_uint_eq(sr.tr.unusable, 0);
	ck_assert_uint_eq(sr.ldt.unusable, 1);
	ck_assert_uint_eq(sr.gdt.base, BOOT_GDT_ADDR);
}
END_TEST

enum { L0, L1, L7, LB0, LB1, L1F, N_LEAVES };

static void cpuid_fixture(struct kvm_cpuid_entry2 *e)
{
	memset(e, 0, N_LEAVES * sizeof(*e));
	e[L0].function = 0;
	e[L0].eax = 0x1f;
	e[L0].ebx = 0x756e6547;
	e[L1].function = 1;
	e[L1].eax = 0x806f8;
	e[L1].ebx = 0xaabb0800;		/* host's APIC id and count, CLFLUSH size 8 */
	e[L1].ecx = 0x1;
	e[L1].edx = 0x1;
	e[L7].function = 7;
	e[L7].ebx = 0x1234;
	e[LB0].function = 0xb;
	e[LB0].index = 0;
	e[LB0].edx = 0x77;
	e[LB1].function = 0xb;
	e[LB1].index = 1;
	e[LB1].edx = 0x77;
	e[L1F].function = 0x1f;
	e[L1F].edx = 0x77;
}

START_TEST(cpuid_cpu3)
{
	struct kvm_cpuid_entry2 e[N_LEAVES], orig[N_LEAVES];

	cpuid_fixture(e);
	cpuid_fixture(orig);
	x86__cpuid_for_vcpu(e, N_LEAVES, 3, 4);
	ck_assert_uint_eq(e[L1].ebx >> 24, 3);			/* initial APIC id */
	ck_assert_uint_eq((e[L1].ebx >> 16) & 0xff, 4);		/* logical CPU count */
	ck_assert_uint_eq(e[L1].ebx & 0xffff, 0x0800);		/* the rest kept */
	ck_assert_uint_eq(e[L1].ecx & (1u << 31), 1u << 31);	/* hypervisor */
	ck_assert_uint_eq(e[L1].ecx & (1u << 24), 1u << 24);	/* TSC deadline */
	ck_assert_uint_eq(e[L1].ecx & 1, 1);			/* host bits kept */
	ck_assert_uint_eq(e[L1].edx & (1u << 28), 1u << 28);	/* HTT */
	ck_assert_uint_eq(e[L1].edx & 1, 1);
	ck_assert_uint_eq(e[L1].eax, orig[L1].eax);
	ck_assert_uint_eq(e[LB0].edx, 3);
	ck_assert_uint_eq(e[LB1].edx, 3);
	ck_assert_uint_eq(e[L1F].edx, 3);
	ck_assert_mem_eq(&e[L0], &orig[L0], sizeof(e[L0]));
	ck_assert_mem_eq(&e[L7], &orig[L7], sizeof(e[L7]));
}
END_TEST

START_TEST(cpuid_single_cpu)
{
	struct kvm_cpuid_entry2 e[N_LEAVES];

	cpuid_fixture(e);
	x86__cpuid_for_vcpu(e, N_LEAVES, 0, 1);
	ck_assert_uint_eq(e[L1].ebx >> 24, 0);
	ck_assert_uint_eq(e[L1].edx & (1u << 28), 0);	/* no HTT with one CPU */
	ck_assert_uint_eq(e[LB0].edx, 0);
	/* n bounds the walk: entries beyond it are untouched. */
	cpuid_fixture(e);
	x86__cpuid_for_vcpu(e, L1, 5, 8);
	ck_assert_uint_eq(e[L1].ebx, 0xaabb0800);
}
END_TEST

Suite *x86_suite(void)
{
	Suite *s = suite_create("x86");
	TCase *tc = tcase_create("boot_state");

	tcase_add_test(tc, page_tables);
	tcase_add_test(tc, page_tables_no_room);
	tcase_add_test(tc, gdt);
	tcase_add_test(tc, long_mode_sregs);
	tcase_add_test(tc, cpuid_cpu3);
	tcase_add_test(tc, cpuid_single_cpu);
	suite_add_tcase(s, tc);
	return s;
}
