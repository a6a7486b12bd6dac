/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables. With no ACPI in the guest,
 * this is how Linux learns how many CPUs there are and where the IO-APIC is.
 */
#ifndef SV_MPTABLE_H
#define SV_MPTABLE_H

#include <stdint.h>

#include "guest_mem.h"

#define MPTABLE_IOAPIC_ADDR 0xfec00000u
#define MPTABLE_LAPIC_ADDR 0xfee00000u
#define MPTABLE_IOAPIC_PINS 24

/*
 * Writes the floating pointer and configuration table at BOOT_MPTABLE_ADDR.
 * Bit n of level_pins makes IO-APIC pin n level-triggered, active high.
 */
int mptable__write(struct guest_mem *m, unsigned int ncpus, uint32_t level_pins,
		   struct sv_error *err);

#endif
