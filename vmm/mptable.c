/* SPDX-License-Identifier: MIT */
#include "mptable.h"

#include <errno.h>
#include <string.h>

#include "boot.h"

struct __attribute__((packed)) mpf {
	char sig[4];
	uint32_t physptr;
	uint8_t length, spec, checksum, feature1, feature2, feature3[3];
};

struct __attribute__((packed)) mpc_header {
	char sig[4];
	uint16_t length;
	uint8_t spec, checksum;
	char oem[8], product[12];
	uint32_t oemptr;
	uint16_t oemsize, count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum, reserved;
};

struct __attribute__((packed)) mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t signature, featureflag, reserved[2];
};

struct __attribute__((packed)) mpc_bus {
	uint8_t type, busid;
	char bustype[6];
};

struct __attribute__((packed)) mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t addr;
};

struct __attribute__((packed)) mpc_intsrc {
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
};

enum { MP_PROCESSOR = 0, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
/* irqflag: polarity in bits 1:0 (1 = active high), trigger in bits 3:2 (3 = level). */
#define MP_IRQ_LEVEL_HIGH 0x0d

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *b++);
	return (uint8_t)(0 - sum);
}

int mptable__write(struct guest_mem *m, unsigned int ncpus, uint32_t level_pins,
		   struct sv_error *err)
{
	const size_t size = sizeof(struct mpf) + sizeof(struct mpc_header) +
			    ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
			    sizeof(struct mpc_ioapic) +
			    MPTABLE_IOAPIC_PINS * sizeof(struct mpc_intsrc) +
			    2 * sizeof(struct mpc_intsrc);
	uint8_t *base = guest_mem__ptr(m, BOOT_MPTABLE_ADDR, size);
	struct mpf *mpf = (struct mpf *)base;
	struct mpc_header *hdr;
	uint8_t *p;
	uint16_t count = 0;
	uint8_t ioapic_id = (uint8_t)ncpus;
	unsigned int i;

	if (!base || size > BOOT_EBDA_END - BOOT_MPTABLE_ADDR)
		return sv_err(err, -ENOSPC, "no room for the MP table (%u CPUs)", ncpus);
	memset(base, 0, size);

	hdr = (struct mpc_header *)(base + sizeof(*mpf));
	p = (uint8_t *)(hdr + 1);
	for (i = 0; i < ncpus; i++) {
		struct mpc_cpu c = {
			.type = MP_PROCESSOR, .apicid = (uint8_t)i, .apicver = 0x14,
			.cpuflag = (uint8_t)(1 | (i == 0 ? 2 : 0)),	/* enabled, BSP */
			.signature = 0x600, .featureflag = 0x201,	/* FPU, APIC */
		};
		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
		count++;
	}
	{
		struct mpc_bus b = { .type = MP_BUS, .busid = 0 };

		memcpy(b.bustype, "ISA   ", 6);
		memcpy(p, &b, sizeof(b));
		p += sizeof(b);
		count++;
	}
	{
		struct mpc_ioapic io = {
			.type = MP_IOAPIC, .apicid = ioapic_id, .apicver = 0x11, .flags = 1,
			.addr = MPTABLE_IOAPIC_ADDR,
		};
		memcpy(p, &io, sizeof(io));
		p += sizeof(io);
		count++;
	}
	/*
	 * ISA IRQ n arrives at IO-APIC pin n: KVM's default GSI routing is 1:1.
	 * Pins in level_pins are level-triggered, active high; the rest conform
	 * to the bus (ISA: edge).
	 */
	for (i = 0; i < MPTABLE_IOAPIC_PINS; i++) {
		struct mpc_intsrc s = {
			.type = MP_INTSRC, .irqtype = i == 0 ? MP_EXTINT : MP_INT,
			.irqflag = (level_pins >> i) & 1 ? MP_IRQ_LEVEL_HIGH : 0,
			.srcbus = 0, .srcbusirq = (uint8_t)i, .dstapic = ioapic_id,
			.dstirq = (uint8_t)i,
		};
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
		count++;
	}
	{
		struct mpc_intsrc l0 = { .type = MP_LINTSRC, .irqtype = MP_EXTINT,
					 .dstapic = 0xff, .dstirq = 0 };
		struct mpc_intsrc l1 = { .type = MP_LINTSRC, .irqtype = MP_NMI,
					 .dstapic = 0xff, .dstirq = 1 };
		memcpy(p, &l0, sizeof(l0));
		p += sizeof(l0);
		memcpy(p, &l1, sizeof(l1));
		p += sizeof(l1);
		count += 2;
	}

	memcpy(hdr->sig, "PCMP", 4);
	hdr->length = (uint16_t)(p - (uint8_t *)hdr);
	hdr->spec = 4;
	memcpy(hdr->oem, "SANDVSR ", 8);
	memcpy(hdr->product, "sandvisor   ", 12);
	hdr->count = count;
	hdr->lapic = MPTABLE_LAPIC_ADDR;
	hdr->checksum = checksum(hdr, hdr->length);

	memcpy(mpf->sig, "_MP_", 4);
	mpf->physptr = (uint32_t)(BOOT_MPTABLE_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
