/* SPDX-License-Identifier: MIT */
/*
 * Address-range dispatch for port I/O and MMIO exits. Ranges are registered
 * while the VM is built and never change once vCPUs run, so lookups need no
 * lock; each device locks its own state.
 */
#ifndef SV_IOBUS_H
#define SV_IOBUS_H

#include <stdint.h>

#include "util.h"

struct io_ops {
	/* offset is relative to the range's base; len is 1..8. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

#define IOBUS_MAX_RANGES 32

struct io_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *opaque;
};

struct iobus {
	unsigned int n;
	struct io_range r[IOBUS_MAX_RANGES];
};

int iobus__register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *opaque, struct sv_error *err);

/*
 * Returns 1 when a device took the access, 0 when nothing is mapped there
 * (reads then see all-ones, as on a real bus with nothing attached).
 */
int iobus__access(const struct iobus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		  int is_write);

#endif
