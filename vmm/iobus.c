/* SPDX-License-Identifier: MIT */
#include "iobus.h"

#include <errno.h>
#include <string.h>

int iobus__register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *opaque, struct sv_error *err)
{
	unsigned int i;

	if (len == 0 || base + len < base)
		return sv_err(err, -EINVAL, "bad I/O range %#llx+%#llx",
			      (unsigned long long)base, (unsigned long long)len);
	for (i = 0; i < bus->n; i++) {
		const struct io_range *r = &bus->r[i];

		if (base < r->base + r->len && r->base < base + len)
			return sv_err(err, -EBUSY, "I/O range %#llx+%#llx overlaps %#llx+%#llx",
				      (unsigned long long)base, (unsigned long long)len,
				      (unsigned long long)r->base, (unsigned long long)r->len);
	}
	if (bus->n == IOBUS_MAX_RANGES)
		return sv_err(err, -ENOSPC, "too many I/O ranges");
	bus->r[bus->n++] = (struct io_range){ base, len, ops, opaque };
	return 0;
}

int iobus__access(const struct iobus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		  int is_write)
{
	unsigned int i;

	for (i = 0; i < bus->n; i++) {
		const struct io_range *r = &bus->r[i];

		/* The whole access must fall inside the range, or it is not this device's. */
		if (addr < r->base || addr - r->base >= r->len || len > r->len - (addr - r->base))
			continue;
		if (is_write) {
			if (r->ops->write)
				r->ops->write(r->opaque, addr - r->base, data, len);
		} else {
			memset(data, 0, len);
			if (r->ops->read)
				r->ops->read(r->opaque, addr - r->base, data, len);
		}
		return 1;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return 0;
}
