/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory. RAM is one host mapping split into two guest
 * ranges: [0, low) and, when the guest has more RAM than fits below the
 * 32-bit MMIO hole, [4 GiB, 4 GiB + high). Every guest-physical access goes
 * through guest_mem__ptr(), which checks the whole range.
 */
#ifndef SV_GUEST_MEM_H
#define SV_GUEST_MEM_H

#include <stdint.h>

#include "util.h"

/* Devices (virtio-mmio, IO-APIC, LAPIC) live in [MMIO_HOLE_START, 4 GiB). */
#define GUEST_MMIO_HOLE_START 0xC0000000ULL
#define GUEST_HIGH_START 0x100000000ULL

struct guest_mem {
	uint8_t *host;		/* start of the host mapping */
	uint64_t size;		/* total RAM */
	uint64_t low_size;	/* RAM mapped at guest-physical 0 */
};

int guest_mem__init(struct guest_mem *m, uint64_t size, struct sv_error *err);
void guest_mem__exit(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len) or NULL unless it lies inside one RAM range. */
void *guest_mem__ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Populates [gpa, gpa+len) before a bulk copy into it (a hint: failures are ignored). */
void guest_mem__prefault(const struct guest_mem *m, uint64_t gpa, uint64_t len);

static inline uint64_t guest_mem__high_size(const struct guest_mem *m)
{
	return m->size - m->low_size;
}

#endif
