/* SPDX-License-Identifier: MIT */
#include "x86.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot.h"

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

int x86__setup_page_tables(struct guest_mem *m, struct sv_error *err)
{
	uint64_t *pml4 = guest_mem__ptr(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem__ptr(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem__ptr(m, BOOT_PD_ADDR, 4 * 4096);
	unsigned int i;

	if (!pml4 || !pdpt || !pd)
		return sv_err(err, -ENOSPC, "guest memory too small for boot page tables");
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096ULL) | PTE_P | PTE_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

/* Descriptor = base/limit/flags packed the way the CPU reads a GDT entry. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int x86__setup_gdt(struct guest_mem *m, struct sv_error *err)
{
	uint64_t *gdt = guest_mem__ptr(m, BOOT_GDT_ADDR, 5 * 8);

	if (!gdt)
		return sv_err(err, -ENOSPC, "guest memory too small for the GDT");
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = gdt_entry(0xa09b, 0, 0xfffff);	/* 64-bit code, present, DPL 0 */
	gdt[3] = gdt_entry(0xc093, 0, 0xfffff);	/* flat data, read/write */
	gdt[4] = gdt_entry(0x008b, 0, 0xfffff);	/* busy TSS: VM entry wants a usable TR */
	return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t l, uint8_t db,
		uint8_t sflag)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = db;
	s->s = sflag;
	s->l = l;
	s->g = 1;
}

void x86__long_mode_sregs(struct kvm_sregs *s)
{
	seg(&s->cs, BOOT_CS_SELECTOR, 0xb, 1, 0, 1);
	seg(&s->ds, BOOT_DS_SELECTOR, 0x3, 0, 1, 1);
	s->es = s->fs = s->gs = s->ss = s->ds;
	seg(&s->tr, BOOT_TSS_SELECTOR, 0xb, 0, 0, 0);
	s->tr.g = 0;
	s->tr.limit = 0xfffff;
	memset(&s->ldt, 0, sizeof(s->ldt));
	s->ldt.unusable = 1;
	s->gdt.base = BOOT_GDT_ADDR;
	s->gdt.limit = 5 * 8 - 1;
	s->idt.base = BOOT_IDT_ADDR;
	s->idt.limit = 0;
	s->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	s->cr3 = BOOT_PML4_ADDR;
	s->cr4 = X86_CR4_PAE;
	s->efer = X86_EFER_LME | X86_EFER_LMA;
}

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

void x86__cpuid_for_vcpu(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int cpu,
			 unsigned int ncpus)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		switch (e[i].function) {
		case 1:
			/* Initial APIC ID and logical processor count; say we are a guest. */
			e[i].ebx = (e[i].ebx & 0x0000ffffu) | (cpu << 24) | ((ncpus & 0xffu) << 16);
			/*
			 * KVM emulates the TSC-deadline timer but leaves the bit out of
			 * GET_SUPPORTED_CPUID (we checked KVM_CAP_TSC_DEADLINE_TIMER). With
			 * it the guest's LAPIC timer needs no PIT to calibrate against.
			 */
			e[i].ecx |= CPUID_1_ECX_HYPERVISOR | CPUID_1_ECX_TSC_DEADLINE;
			if (ncpus > 1)
				e[i].edx |= 1u << 28;	/* HTT: the count field is valid */
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC ID of this vCPU in every topology sub-leaf. */
			e[i].edx = cpu;
			break;
		default:
			break;
		}
	}
}

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1ULL

static int set_msrs(int fd, struct sv_error *err)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} msrs;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.e[0].index = MSR_IA32_MISC_ENABLE;
	msrs.e[0].data = MISC_ENABLE_FAST_STRING;
	if (ioctl(fd, KVM_SET_MSRS, &msrs) != 1)
		return sv_err(err, -EIO, "KVM_SET_MSRS failed");
	return 0;
}

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lvt_set_mode(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&l->regs[reg], &v, 4);
}

int x86__setup_vcpu(int fd, const struct kvm_cpuid2 *supported, unsigned int cpu,
		    unsigned int ncpus, uint64_t entry, uint64_t boot_params,
		    struct sv_error *err)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	struct kvm_lapic_state lapic;
	struct kvm_fpu fpu;
	int r;

	if (!c)
		return sv_err(err, -ENOMEM, "out of memory");
	memcpy(c, supported, sz);
	x86__cpuid_for_vcpu(c->entries, c->nent, cpu, ncpus);
	r = ioctl(fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0)
		return sv_err(err, -errno, "KVM_SET_CPUID2 failed on vCPU %u", cpu);
	r = set_msrs(fd, err);
	if (r)
		return r;

	/* Legacy PIC interrupts reach the BSP through LINT0; NMIs through LINT1. */
	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return sv_err(err, -errno, "KVM_GET_LAPIC failed");
	lvt_set_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	lvt_set_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
		return sv_err(err, -errno, "KVM_SET_LAPIC failed");

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
		return sv_err(err, -errno, "KVM_SET_FPU failed");

	/* Application processors wait for INIT/SIPI from the guest, in KVM's irqchip. */
	if (cpu == 0) {
		struct kvm_sregs sregs;
		struct kvm_regs regs;

		if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
			return sv_err(err, -errno, "KVM_GET_SREGS failed");
		x86__long_mode_sregs(&sregs);
		if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
			return sv_err(err, -errno, "KVM_SET_SREGS failed");
		memset(&regs, 0, sizeof(regs));
		regs.rip = entry;
		regs.rsi = boot_params;
		regs.rsp = BOOT_STACK_TOP;
		regs.rflags = 0x2;
		if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
			return sv_err(err, -errno, "KVM_SET_REGS failed");
	}
	return 0;
}
