/* SPDX-License-Identifier: MIT */
#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14; older kernels return EINVAL: harmless */
#endif

int guest_mem__init(struct guest_mem *m, uint64_t size, struct sv_error *err)
{
	void *p;

	memset(m, 0, sizeof(*m));
	/*
	 * MAP_NORESERVE: the guest touches what it uses; untouched RAM costs the
	 * host nothing, which is what makes many small sandboxes cheap.
	 */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		return sv_err(err, -e, "cannot map %llu MiB of guest memory: %s",
			      (unsigned long long)(size >> 20), strerror(e));
	}
	m->host = p;
	m->size = size;
	m->low_size = size < GUEST_MMIO_HOLE_START ? size : GUEST_MMIO_HOLE_START;
	return 0;
}

void guest_mem__exit(struct guest_mem *m)
{
	if (m->host)
		munmap(m->host, m->size);
	m->host = NULL;
}

void guest_mem__prefault(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem__ptr(m, gpa, len);
	uintptr_t start, end;

	if (!p || !len)
		return;
	/* One call faults the whole range in: far cheaper than a fault per page. */
	start = (uintptr_t)p & ~(uintptr_t)4095;
	end = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
	(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

void *guest_mem__ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t high = guest_mem__high_size(m);

	if (gpa < m->low_size) {
		if (len > m->low_size - gpa)
			return NULL;
		return m->host + gpa;
	}
	if (gpa >= GUEST_HIGH_START && gpa - GUEST_HIGH_START < high) {
		uint64_t off = gpa - GUEST_HIGH_START;

		if (len > high - off)
			return NULL;
		return m->host + m->low_size + off;
	}
	return NULL;
}
