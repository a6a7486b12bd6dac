/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 boot: parsing the kernel image (bzImage or ELF vmlinux), laying
 * it, the initrd, the command line and boot_params ("zero page") out in
 * guest memory, and the e820 map. The guest enters the kernel directly in
 * 64-bit mode (boot protocol 2.12+ "64-bit boot"), never in real mode.
 */
#ifndef SV_BOOT_H
#define SV_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "guest_mem.h"

/* Guest-physical layout of what the VMM writes below 1 MiB. */
#define BOOT_GDT_ADDR		0x500ULL
#define BOOT_IDT_ADDR		0x520ULL
#define BOOT_STACK_TOP		0x8ff0ULL
#define BOOT_PARAMS_ADDR	0x7000ULL
#define BOOT_PML4_ADDR		0x9000ULL
#define BOOT_PDPT_ADDR		0xa000ULL
#define BOOT_PD_ADDR		0xb000ULL	/* 4 pages: identity map of 4 GiB */
#define BOOT_CMDLINE_ADDR	0x20000ULL
#define BOOT_MPTABLE_ADDR	0x9fc00ULL	/* last KiB of base memory: Linux scans it */
#define BOOT_EBDA_END		0xa0000ULL
#define BOOT_HIMEM_START	0x100000ULL

/* Written by the guest kernel at 0x472 before an i8042 reset: 0x1234 = warm. */
#define BOOT_RESET_MODE_ADDR	0x472ULL
#define BOOT_RESET_MODE_WARM	0x1234

/* Limits on the host side, so a bogus file cannot make us allocate without bound. */
#define BOOT_KERNEL_MAX_BYTES	(512ULL << 20)
#define BOOT_INITRD_MAX_BYTES	(4ULL << 30)

enum kernel_kind { KERNEL_BZIMAGE = 1, KERNEL_ELF };

struct bzimage_info {
	struct setup_header hdr;	/* as read from the image */
	size_t hdr_len;			/* bytes of setup_header present in the image */
	size_t setup_len;		/* real-mode part, skipped for 64-bit entry */
	size_t payload_len;		/* protected-mode part, loaded at load_addr */
};

#define ELF_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t paddr, offset, filesz, memsz;
};

struct elf_info {
	uint64_t entry;			/* physical address of startup_64 */
	unsigned int nseg;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
};

struct kernel_info {
	enum kernel_kind kind;
	union {
		struct bzimage_info bz;
		struct elf_info elf;
	};
};

/* Where things landed, for boot_params and the vCPU registers. */
struct boot_layout {
	uint64_t entry;			/* RIP for the boot CPU */
	uint64_t kernel_start, kernel_end;	/* includes the decompressor's working space */
	uint64_t initrd_addr, initrd_size;
};

/* Recognises and checks a kernel image; msg gets a reason on failure. */
int boot__parse_kernel(const uint8_t *buf, size_t len, struct kernel_info *ki,
		       struct sv_error *err);
int boot__parse_bzimage(const uint8_t *buf, size_t len, struct bzimage_info *bz,
			struct sv_error *err);
int boot__parse_elf(const uint8_t *buf, size_t len, struct elf_info *elf,
		    struct sv_error *err);

/* Copies the kernel into guest memory. */
int boot__load_kernel(struct guest_mem *m, const uint8_t *buf, size_t len,
		      const struct kernel_info *ki, struct boot_layout *bl,
		      struct sv_error *err);

/*
 * Chooses the initrd's address: as high as possible in low RAM, below
 * addr_max, above the kernel. Pure function, unit-tested.
 */
int boot__place_initrd(const struct guest_mem *m, uint64_t kernel_end, uint64_t addr_max,
		       uint64_t size, uint64_t *addr, struct sv_error *err);

/* Builds the e820 map for m; returns the number of entries (<= max). */
unsigned int boot__e820(const struct guest_mem *m, struct boot_e820_entry *tab,
			unsigned int max);

/* Checks the command line against the kernel's limit (and ours). */
int boot__check_cmdline(const char *cmdline, const struct kernel_info *ki,
			struct sv_error *err);

/* Writes the command line and the zero page. */
int boot__write_params(struct guest_mem *m, const struct kernel_info *ki,
		       const struct boot_layout *bl, const char *cmdline,
		       struct sv_error *err);

#endif
