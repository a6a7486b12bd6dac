/* SPDX-License-Identifier: MIT */
#include "boot.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define SETUP_HDR_OFFSET	0x1f1
#define BZ_MIN_VERSION		0x020c	/* 2.12: xloadflags, 64-bit entry */
#define BZ_ENTRY64_OFFSET	0x200	/* startup_64 = load address + 0x200 */
#define ELF_DEFAULT_ALIGN	0x1000000
#define E820_TYPE_RAM		1
#define E820_TYPE_RESERVED	2

static int bz_err(struct sv_error *err, const char *why)
{
	return sv_err(err, -ENOEXEC, "not a usable bzImage: %s", why);
}

int boot__parse_bzimage(const uint8_t *buf, size_t len, struct bzimage_info *bz,
			struct sv_error *err)
{
	size_t hdr_end;
	unsigned int sects;

	memset(bz, 0, sizeof(*bz));
	if (len < 0x250)
		return bz_err(err, "file too short for a boot sector and setup header");
	if (memcmp(buf + 0x202, "HdrS", 4) != 0)
		return bz_err(err, "no 'HdrS' boot protocol signature at 0x202");
	/* The header's own length: byte 0x201 is the jump offset past it. */
	hdr_end = 0x202 + (size_t)buf[0x201];
	bz->hdr_len = hdr_end - SETUP_HDR_OFFSET;
	if (bz->hdr_len > sizeof(bz->hdr))
		bz->hdr_len = sizeof(bz->hdr);
	if (len < SETUP_HDR_OFFSET + bz->hdr_len)
		return bz_err(err, "file too short for its own setup header (truncated?)");
	memcpy(&bz->hdr, buf + SETUP_HDR_OFFSET, bz->hdr_len);
	if (bz->hdr.boot_flag != 0xAA55)
		return bz_err(err, "boot_flag is not 0xAA55");
	if (bz->hdr.version < BZ_MIN_VERSION)
		return sv_err(err, -ENOEXEC,
			      "bzImage boot protocol %u.%02u is too old: 2.12 or newer is needed for 64-bit entry",
			      bz->hdr.version >> 8, bz->hdr.version & 0xff);
	if (!(bz->hdr.xloadflags & XLF_KERNEL_64))
		return bz_err(err, "the kernel has no 64-bit entry point (XLF_KERNEL_64 not set)");
	if (!(bz->hdr.loadflags & LOADED_HIGH))
		return bz_err(err, "kernel is not loadable high (zImage?)");
	sects = bz->hdr.setup_sects ? bz->hdr.setup_sects : 4;
	bz->setup_len = ((size_t)sects + 1) * 512;
	if (bz->setup_len >= len)
		return bz_err(err, "setup sectors run past the end of the file (truncated?)");
	bz->payload_len = len - bz->setup_len;
	/* syssize counts 16-byte paragraphs of the protected-mode part. */
	if ((uint64_t)bz->hdr.syssize * 16 > bz->payload_len)
		return bz_err(err, "file is shorter than its header says (truncated?)");
	if (bz->hdr.init_size == 0 || bz->hdr.init_size < bz->payload_len)
		return bz_err(err, "init_size is smaller than the kernel itself");
	return 0;
}

static int elf_err(struct sv_error *err, const char *why)
{
	return sv_err(err, -ENOEXEC, "not a usable ELF vmlinux: %s", why);
}

int boot__parse_elf(const uint8_t *buf, size_t len, struct elf_info *elf, struct sv_error *err)
{
	Elf64_Ehdr eh;
	unsigned int i;

	memset(elf, 0, sizeof(*elf));
	if (len < sizeof(eh))
		return elf_err(err, "file too short for an ELF header");
	memcpy(&eh, buf, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return elf_err(err, "bad ELF magic");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return elf_err(err, "not a 64-bit little-endian ELF");
	if (eh.e_machine != EM_X86_64)
		return elf_err(err, "not an x86-64 ELF");
	if (eh.e_type != ET_EXEC)
		return elf_err(err, "not an executable ELF");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0)
		return elf_err(err, "no program headers");
	if (eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return elf_err(err, "program headers run past the end of the file (truncated?)");
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		struct elf_segment *s;

		memcpy(&ph, buf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (elf->nseg == ELF_MAX_SEGMENTS)
			return elf_err(err, "too many loadable segments");
		if (ph.p_filesz > ph.p_memsz)
			return elf_err(err, "segment file size exceeds its memory size");
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return elf_err(err, "segment runs past the end of the file (truncated?)");
		if (ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return elf_err(err, "segment address wraps around");
		s = &elf->seg[elf->nseg++];
		s->paddr = ph.p_paddr;
		s->offset = ph.p_offset;
		s->filesz = ph.p_filesz;
		s->memsz = ph.p_memsz;
	}
	if (elf->nseg == 0)
		return elf_err(err, "no loadable segments");
	/* vmlinux's entry is phys_startup_64, a physical address. */
	elf->entry = eh.e_entry;
	return 0;
}

int boot__parse_kernel(const uint8_t *buf, size_t len, struct kernel_info *ki,
		       struct sv_error *err)
{
	memset(ki, 0, sizeof(*ki));
	if (len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0) {
		ki->kind = KERNEL_ELF;
		return boot__parse_elf(buf, len, &ki->elf, err);
	}
	if (len >= 0x206 && memcmp(buf + 0x202, "HdrS", 4) == 0) {
		ki->kind = KERNEL_BZIMAGE;
		return boot__parse_bzimage(buf, len, &ki->bz, err);
	}
	return sv_err(err, -ENOEXEC,
		      "kernel image is neither a bzImage (no 'HdrS' at 0x202) nor an ELF vmlinux");
}

static int too_small(struct sv_error *err, const struct guest_mem *m, uint64_t need)
{
	return sv_err(err, -ENOSPC,
		      "guest memory (%llu MiB) is too small for this kernel: it needs at least %llu MiB; raise --mem",
		      (unsigned long long)(m->size >> 20),
		      (unsigned long long)((need + MIB(1) - 1) >> 20));
}

int boot__load_kernel(struct guest_mem *m, const uint8_t *buf, size_t len,
		      const struct kernel_info *ki, struct boot_layout *bl,
		      struct sv_error *err)
{
	memset(bl, 0, sizeof(*bl));
	if (ki->kind == KERNEL_BZIMAGE) {
		const struct bzimage_info *bz = &ki->bz;
		uint64_t load = bz->hdr.pref_address;
		uint8_t *dst;

		/* A non-relocatable kernel must sit at its compiled-in address, which is pref_address. */
		if (load < BOOT_HIMEM_START)
			load = BOOT_HIMEM_START;
		if (bz->hdr.kernel_alignment && (load % bz->hdr.kernel_alignment))
			return bz_err(err, "pref_address is not aligned to kernel_alignment");
		if (load + bz->hdr.init_size > m->low_size)
			return too_small(err, m, load + bz->hdr.init_size);
		dst = guest_mem__ptr(m, load, bz->payload_len);
		if (!dst)
			return too_small(err, m, load + bz->payload_len);
		guest_mem__prefault(m, load, bz->payload_len);
		memcpy(dst, buf + bz->setup_len, bz->payload_len);
		bl->entry = load + BZ_ENTRY64_OFFSET;
		bl->kernel_start = load;
		bl->kernel_end = load + bz->hdr.init_size;
		(void)len;
		return 0;
	}
	if (ki->kind == KERNEL_ELF) {
		const struct elf_info *elf = &ki->elf;
		unsigned int i;
		int entry_ok = 0;

		bl->kernel_start = UINT64_MAX;
		for (i = 0; i < elf->nseg; i++) {
			const struct elf_segment *s = &elf->seg[i];
			uint8_t *dst;

			if (s->paddr < BOOT_HIMEM_START)
				return elf_err(err, "segment loads below 1 MiB, over the VMM's boot data");
			if (s->paddr + s->memsz > m->low_size)
				return too_small(err, m, s->paddr + s->memsz);
			dst = guest_mem__ptr(m, s->paddr, s->memsz);
			if (!dst)
				return too_small(err, m, s->paddr + s->memsz);
			guest_mem__prefault(m, s->paddr, s->filesz);
			memcpy(dst, buf + s->offset, s->filesz);
			memset(dst + s->filesz, 0, s->memsz - s->filesz);
			if (s->paddr < bl->kernel_start)
				bl->kernel_start = s->paddr;
			if (s->paddr + s->memsz > bl->kernel_end)
				bl->kernel_end = s->paddr + s->memsz;
			if (elf->entry >= s->paddr && elf->entry < s->paddr + s->filesz)
				entry_ok = 1;
		}
		if (!entry_ok)
			return elf_err(err, "entry point is not inside a loaded segment");
		bl->entry = elf->entry;
		return 0;
	}
	return sv_err(err, -EINVAL, "unknown kernel kind");
}

int boot__place_initrd(const struct guest_mem *m, uint64_t kernel_end, uint64_t addr_max,
		       uint64_t size, uint64_t *addr, struct sv_error *err)
{
	uint64_t top = m->low_size, a;

	/* initrd_addr_max is the highest address the initrd's last byte may occupy. */
	if (addr_max && addr_max < UINT64_MAX && addr_max + 1 < top)
		top = addr_max + 1;
	if (size > top || top - size < kernel_end) {
		return sv_err(err, -ENOSPC,
			      "initrd (%llu MiB) does not fit in guest memory (%llu MiB, kernel uses the first %llu MiB); raise --mem",
			      (unsigned long long)((size + MIB(1) - 1) >> 20),
			      (unsigned long long)(m->size >> 20),
			      (unsigned long long)((kernel_end + MIB(1) - 1) >> 20));
	}
	a = (top - size) & ~0xfffULL;
	if (a < kernel_end)
		return sv_err(err, -ENOSPC, "initrd does not fit above the kernel; raise --mem");
	*addr = a;
	return 0;
}

unsigned int boot__e820(const struct guest_mem *m, struct boot_e820_entry *tab, unsigned int max)
{
	unsigned int n = 0;

#define ADD(a, s, t) do { if (n < max) { tab[n].addr = (a); tab[n].size = (s); tab[n].type = (t); n++; } } while (0)
	ADD(0, BOOT_MPTABLE_ADDR, E820_TYPE_RAM);
	ADD(BOOT_MPTABLE_ADDR, BOOT_EBDA_END - BOOT_MPTABLE_ADDR, E820_TYPE_RESERVED);
	ADD(BOOT_HIMEM_START, m->low_size - BOOT_HIMEM_START, E820_TYPE_RAM);
	if (guest_mem__high_size(m))
		ADD(GUEST_HIGH_START, guest_mem__high_size(m), E820_TYPE_RAM);
#undef ADD
	return n;
}

static uint32_t cmdline_limit(const struct kernel_info *ki)
{
	/* cmdline_size excludes the NUL; ELF kernels carry no header, assume 6.x's 2048. */
	uint32_t lim = SV_CMDLINE_MAX - 1;

	if (ki->kind == KERNEL_BZIMAGE && ki->bz.hdr.cmdline_size &&
	    ki->bz.hdr.cmdline_size < lim)
		lim = ki->bz.hdr.cmdline_size;
	return lim;
}

int boot__check_cmdline(const char *cmdline, const struct kernel_info *ki, struct sv_error *err)
{
	size_t len = strlen(cmdline);
	uint32_t lim = cmdline_limit(ki);

	if (len > lim)
		return sv_err(err, -E2BIG,
			      "kernel command line is %zu bytes; this kernel accepts at most %u",
			      len, lim);
	return 0;
}

int boot__write_params(struct guest_mem *m, const struct kernel_info *ki,
		       const struct boot_layout *bl, const char *cmdline,
		       struct sv_error *err)
{
	struct boot_params *bp;
	char *cl;
	size_t len = strlen(cmdline);
	int r;

	r = boot__check_cmdline(cmdline, ki, err);
	if (r)
		return r;
	bp = guest_mem__ptr(m, BOOT_PARAMS_ADDR, sizeof(*bp));
	cl = guest_mem__ptr(m, BOOT_CMDLINE_ADDR, len + 1);
	if (!bp || !cl)
		return sv_err(err, -ENOSPC, "guest memory too small for boot parameters");
	memset(bp, 0, sizeof(*bp));
	memcpy(cl, cmdline, len + 1);

	if (ki->kind == KERNEL_BZIMAGE) {
		memcpy(&bp->hdr, &ki->bz.hdr, ki->bz.hdr_len);
	} else {
		bp->hdr.boot_flag = 0xAA55;
		bp->hdr.header = 0x53726448;	/* "HdrS" */
		bp->hdr.version = BZ_MIN_VERSION;
		bp->hdr.kernel_alignment = ELF_DEFAULT_ALIGN;
		bp->hdr.loadflags = LOADED_HIGH;
	}
	bp->hdr.type_of_loader = 0xff;		/* "undefined" boot loader */
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.vid_mode = 0xffff;
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	if (bl->initrd_size) {
		bp->hdr.ramdisk_image = (uint32_t)bl->initrd_addr;
		bp->hdr.ramdisk_size = (uint32_t)bl->initrd_size;
		bp->ext_ramdisk_image = (uint32_t)(bl->initrd_addr >> 32);
		bp->ext_ramdisk_size = (uint32_t)(bl->initrd_size >> 32);
	}
	bp->e820_entries = (uint8_t)boot__e820(m, bp->e820_table, ARRAY_SIZE(bp->e820_table));
	return 0;
}
