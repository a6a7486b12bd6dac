/* SPDX-License-Identifier: MIT */
/*
 * An interrupt line as a device sees it: a level it raises and lowers. The
 * VMM backs it with KVM_IRQ_LINE; unit tests back it with a recorder.
 */
#ifndef SV_IRQ_H
#define SV_IRQ_H

#include <stdint.h>

struct irq_line {
	void (*set)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line__set(const struct irq_line *l, int level)
{
	if (l->set)
		l->set(l->ctx, l->gsi, level);
}

#endif
