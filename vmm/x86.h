/* SPDX-License-Identifier: MIT */
/*
 * x86 vCPU state for a 64-bit direct boot: identity page tables, a flat
 * GDT, long-mode segment registers, CPUID and the local APIC's LINT pins.
 */
#ifndef SV_X86_H
#define SV_X86_H

#include <stdint.h>

#include <linux/kvm.h>

#include "guest_mem.h"

#define X86_CR0_PE 0x1ULL
#define X86_CR0_ET 0x10ULL
#define X86_CR0_NE 0x20ULL
#define X86_CR0_PG 0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define X86_EFER_LME 0x100ULL
#define X86_EFER_LMA 0x400ULL

#define BOOT_CS_SELECTOR 0x10
#define BOOT_DS_SELECTOR 0x18
#define BOOT_TSS_SELECTOR 0x20

/* Identity-maps the first 4 GiB with 2 MiB pages at BOOT_PML4_ADDR. */
int x86__setup_page_tables(struct guest_mem *m, struct sv_error *err);
/* Writes the flat GDT the boot protocol asks for (CS 0x10, DS 0x18). */
int x86__setup_gdt(struct guest_mem *m, struct sv_error *err);

/* Fills sregs for long mode with paging on, as the 64-bit boot protocol wants. */
void x86__long_mode_sregs(struct kvm_sregs *s);

/*
 * Adjusts KVM's supported CPUID for one vCPU: APIC IDs, the hypervisor bit,
 * topology leaves. Pure function over the entry array, unit-tested.
 */
void x86__cpuid_for_vcpu(struct kvm_cpuid_entry2 *e, unsigned int n, unsigned int cpu,
			 unsigned int ncpus);

/* vCPU setup that needs the fds: CPUID, MSRs, FPU, LAPIC pins; boot regs on the BSP. */
int x86__setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int cpu,
		    unsigned int ncpus, uint64_t entry, uint64_t boot_params,
		    struct sv_error *err);

#endif
