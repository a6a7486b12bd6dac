/* SPDX-License-Identifier: MIT */
/* boot.c: loading the kernel, placing the initrd, e820, command line, zero page. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

#define E820_RAM 1
#define E820_RESERVED 2

static void parse_ok(const uint8_t *img, size_t len, struct kernel_info *ki)
{
	struct sv_error err = { 0 };
	int r = boot__parse_kernel(img, len, ki, &err);

	ck_assert_msg(r == 0, "parse failed: %s", err.msg);
}

/* ---------------------------------------------------------------- loading */

START_TEST(load_bzimage)
{
	struct guest_mem m;
	size_t len, i;
	uint8_t *img = tb_make_bzimage(&len);
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };
	const uint8_t *dst;

	tm_init(&m, MIB(64));
	parse_ok(img, len, &ki);
	ck_assert_int_eq(boot__load_kernel(&m, img, len, &ki, &bl, &err), 0);
	ck_assert_uint_eq(bl.kernel_start, TB_PREF_ADDR);
	ck_assert_uint_eq(bl.kernel_end, TB_PREF_ADDR + TB_INIT_SIZE);
	ck_assert_uint_eq(bl.entry, TB_PREF_ADDR + 0x200);	/* startup_64 */
	dst = m.host + TB_PREF_ADDR;
	for (i = 0; i < TB_PAYLOAD_LEN; i++)
		ck_assert_msg(dst[i] == tb_pattern(i), "payload byte %zu wrong", i);
	/* Only the protected-mode part is loaded: the byte before it is untouched. */
	ck_assert_uint_eq(m.host[TB_PREF_ADDR - 1], 0);
	ck_assert_uint_eq(m.host[TB_PREF_ADDR + TB_PAYLOAD_LEN], 0);
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_bzimage_guest_too_small)
{
	struct guest_mem m;
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };

	/* init_size 32 MiB at 16 MiB needs 48 MiB; 47 MiB is one short. */
	tb_hdr(img)->init_size = 32u << 20;
	parse_ok(img, len, &ki);
	tm_init(&m, MIB(47));
	ck_assert_int_eq(boot__load_kernel(&m, img, len, &ki, &bl, &err), -ENOSPC);
	ck_assert_has(err.msg, "too small");
	ck_assert_has(err.msg, "48 MiB");
	ck_assert_has(err.msg, "--mem");
	guest_mem__exit(&m);

	tm_init(&m, MIB(48));
	ck_assert_int_eq(boot__load_kernel(&m, img, len, &ki, &bl, &err), 0);
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_bzimage_misaligned)
{
	struct guest_mem m;
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };

	tb_hdr(img)->pref_address = TB_PREF_ADDR + 0x1000;
	parse_ok(img, len, &ki);
	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__load_kernel(&m, img, len, &ki, &bl, &err), -ENOEXEC);
	ck_assert_has(err.msg, "aligned");
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_bzimage_huge_pref_address)
{
	/* A hostile pref_address near 2^64 must not wrap past the size check. */
	struct guest_mem m;
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };

	tb_hdr(img)->kernel_alignment = 0;
	tb_hdr(img)->pref_address = UINT64_MAX - 0x1000;
	parse_ok(img, len, &ki);
	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__load_kernel(&m, img, len, &ki, &bl, &err), -ENOSPC);
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_elf)
{
	struct guest_mem m;
	uint8_t *img = te_make_elf();
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };
	const uint8_t *dst;
	size_t i;

	parse_ok(img, TE_LEN, &ki);
	tm_init(&m, MIB(64));
	/* Dirty the bss area first: the loader must clear it. */
	memset(m.host + TE_SEG_PADDR, 0xAA, TE_SEG_MEMSZ + 16);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), 0);
	ck_assert_uint_eq(bl.entry, TE_ENTRY);
	ck_assert_uint_eq(bl.kernel_start, TE_SEG_PADDR);
	ck_assert_uint_eq(bl.kernel_end, TE_SEG_PADDR + TE_SEG_MEMSZ);
	dst = m.host + TE_SEG_PADDR;
	for (i = 0; i < TE_SEG_FILESZ; i++)
		ck_assert_msg(dst[i] == tb_pattern(i), "segment byte %zu wrong", i);
	for (i = TE_SEG_FILESZ; i < TE_SEG_MEMSZ; i++)
		ck_assert_msg(dst[i] == 0, "bss byte %zu not zeroed", i);
	ck_assert_uint_eq(dst[TE_SEG_MEMSZ], 0xAA);	/* nothing past memsz */
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_elf_entry_outside)
{
	struct guest_mem m;
	uint8_t *img = te_make_elf();
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };

	tm_init(&m, MIB(64));
	/* Before the segment, in its bss, and past it: all refused. */
	((Elf64_Ehdr *)img)->e_entry = TE_SEG_PADDR - 1;
	parse_ok(img, TE_LEN, &ki);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), -ENOEXEC);
	ck_assert_has(err.msg, "entry point");
	((Elf64_Ehdr *)img)->e_entry = TE_SEG_PADDR + TE_SEG_FILESZ;
	parse_ok(img, TE_LEN, &ki);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), -ENOEXEC);
	((Elf64_Ehdr *)img)->e_entry = 0xffffffff81000100ULL;	/* virtual, not physical */
	parse_ok(img, TE_LEN, &ki);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), -ENOEXEC);
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_elf_below_1m)
{
	struct guest_mem m;
	uint8_t *img = te_make_elf();
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + 1;

	ph->p_paddr = 0x8000;	/* over the page tables and zero page */
	((Elf64_Ehdr *)img)->e_entry = 0x8000;
	parse_ok(img, TE_LEN, &ki);
	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), -ENOEXEC);
	ck_assert_has(err.msg, "below 1 MiB");
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(load_elf_too_small)
{
	struct guest_mem m;
	uint8_t *img = te_make_elf();
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };

	parse_ok(img, TE_LEN, &ki);
	tm_init(&m, TE_SEG_PADDR + TE_SEG_MEMSZ - 1);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), -ENOSPC);
	ck_assert_has(err.msg, "too small");
	guest_mem__exit(&m);
	tm_init(&m, TE_SEG_PADDR + TE_SEG_MEMSZ);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), 0);
	guest_mem__exit(&m);
	free(img);
}
END_TEST

/* ----------------------------------------------------------------- initrd */

START_TEST(initrd_at_top)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	uint64_t addr = 0, size = MIB(1) + 123;

	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), 0, size, &addr, &err), 0);
	ck_assert_uint_eq(addr % 4096, 0);
	ck_assert_uint_le(addr + size, MIB(64));
	ck_assert_uint_ge(addr, MIB(17));
	/* As high as possible: one more page up would not fit. */
	ck_assert_uint_gt(addr + 4096 + size, MIB(64));
	ck_assert_uint_eq(addr, (MIB(64) - size) & ~0xfffULL);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(initrd_addr_max)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	uint64_t addr = 0, size = 0x3000;

	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), MIB(32) - 1, size, &addr, &err), 0);
	ck_assert_uint_eq(addr, MIB(32) - size);
	/* A limit above RAM changes nothing. */
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), 0x7fffffff, size, &addr, &err), 0);
	ck_assert_uint_eq(addr, MIB(64) - size);
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), UINT64_MAX, size, &addr, &err), 0);
	ck_assert_uint_eq(addr, MIB(64) - size);
	/* A limit below the kernel's end leaves no room. */
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), MIB(16), size, &addr, &err), -ENOSPC);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(initrd_overlaps_kernel)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	uint64_t addr = 0xdead;

	tm_init(&m, MIB(64));
	/* Exactly fills the space above the kernel: fine. */
	ck_assert_int_eq(boot__place_initrd(&m, MIB(32), 0, MIB(32), &addr, &err), 0);
	ck_assert_uint_eq(addr, MIB(32));
	/* One byte more would overlap the kernel. */
	addr = 0xdead;
	ck_assert_int_eq(boot__place_initrd(&m, MIB(32), 0, MIB(32) + 1, &addr, &err), -ENOSPC);
	ck_assert_uint_eq(addr, 0xdead);
	ck_assert_has(err.msg, "raise --mem");
	/* Fits by size, but page-aligning it down would overlap the kernel's last page. */
	ck_assert_int_eq(boot__place_initrd(&m, MIB(32) + 0x800, 0, MIB(32) - 0x800, &addr, &err),
			 -ENOSPC);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(initrd_bigger_than_memory)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	uint64_t addr = 0;

	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), 0, MIB(200), &addr, &err), -ENOSPC);
	ck_assert_has(err.msg, "does not fit");
	ck_assert_has(err.msg, "200 MiB");
	ck_assert_int_eq(boot__place_initrd(&m, 0, 0, UINT64_MAX, &addr, &err), -ENOSPC);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(initrd_large_guest_stays_low)
{
	struct guest_mem m;
	struct sv_error err = { 0 };
	uint64_t addr = 0, size = MIB(10);

	tm_init(&m, GIB(5));
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), UINT64_MAX, size, &addr, &err), 0);
	ck_assert_uint_le(addr + size, GUEST_MMIO_HOLE_START);
	ck_assert_uint_eq(addr, GUEST_MMIO_HOLE_START - size);
	ck_assert_int_eq(boot__place_initrd(&m, MIB(17), 0x7fffffff, size, &addr, &err), 0);
	ck_assert_uint_eq(addr, 0x80000000ULL - size);
	guest_mem__exit(&m);
}
END_TEST

/* ------------------------------------------------------------------- e820 */

static void check_e820_sane(const struct boot_e820_entry *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		ck_assert_uint_gt(t[i].size, 0);
		if (i)
			ck_assert_uint_ge(t[i].addr, t[i - 1].addr + t[i - 1].size);
		/* No RAM in the MMIO hole. */
		if (t[i].type == E820_RAM)
			ck_assert_msg(t[i].addr + t[i].size <= GUEST_MMIO_HOLE_START ||
				      t[i].addr >= GUEST_HIGH_START, "RAM entry %u in the hole", i);
	}
}

START_TEST(e820_small)
{
	struct guest_mem m;
	struct boot_e820_entry t[8];
	unsigned int n;

	tm_init(&m, MIB(64));
	n = boot__e820(&m, t, 8);
	ck_assert_uint_eq(n, 3);
	check_e820_sane(t, n);
	ck_assert_uint_eq(t[0].addr, 0);
	ck_assert_uint_eq(t[0].size, BOOT_MPTABLE_ADDR);
	ck_assert_uint_eq(t[0].type, E820_RAM);
	/* The MP table's page must be reserved, or Linux may reuse it before reading it. */
	ck_assert_uint_eq(t[1].addr, BOOT_MPTABLE_ADDR);
	ck_assert_uint_eq(t[1].type, E820_RESERVED);
	ck_assert_uint_eq(t[2].addr, MIB(1));
	ck_assert_uint_eq(t[2].addr + t[2].size, MIB(64));
	ck_assert_uint_eq(t[2].type, E820_RAM);
	/* Truncated to the caller's table. */
	ck_assert_uint_eq(boot__e820(&m, t, 2), 2);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(e820_above_hole)
{
	struct guest_mem m;
	struct boot_e820_entry t[8];
	unsigned int n, i;
	uint64_t ram = 0;

	tm_init(&m, GIB(5));
	n = boot__e820(&m, t, 8);
	ck_assert_uint_eq(n, 4);
	check_e820_sane(t, n);
	ck_assert_uint_eq(t[2].addr, MIB(1));
	ck_assert_uint_eq(t[2].addr + t[2].size, 0xC0000000ULL);
	ck_assert_uint_eq(t[3].addr, GIB(4));
	ck_assert_uint_eq(t[3].size, GIB(2));
	ck_assert_uint_eq(t[3].type, E820_RAM);
	for (i = 0; i < n; i++)
		if (t[i].type == E820_RAM)
			ram += t[i].size;
	/* All RAM but the legacy hole [0x9fc00, 1 MiB) is visible. */
	ck_assert_uint_eq(ram, GIB(5) - (MIB(1) - BOOT_MPTABLE_ADDR));
	guest_mem__exit(&m);
}
END_TEST

START_TEST(e820_exactly_hole)
{
	struct guest_mem m;
	struct boot_e820_entry t[8];

	tm_init(&m, 0xC0000000ULL);
	ck_assert_uint_eq(boot__e820(&m, t, 8), 3);
	ck_assert_uint_eq(t[2].addr + t[2].size, 0xC0000000ULL);
	guest_mem__exit(&m);
}
END_TEST

/* ---------------------------------------------------------------- cmdline */

static char *line_of(size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, 'x', n);
	s[n] = '\0';
	return s;
}

START_TEST(cmdline_limit_elf)
{
	struct kernel_info ki = { .kind = KERNEL_ELF };
	struct sv_error err = { 0 };
	char *ok = line_of(SV_CMDLINE_MAX - 1), *over = line_of(SV_CMDLINE_MAX);

	ck_assert_int_eq(boot__check_cmdline(ok, &ki, &err), 0);
	ck_assert_int_eq(boot__check_cmdline(over, &ki, &err), -E2BIG);
	ck_assert_int_eq(err.code, -E2BIG);
	ck_assert_has(err.msg, "2048 bytes");
	ck_assert_has(err.msg, "at most 2047");
	ck_assert_int_eq(boot__check_cmdline("", &ki, &err), 0);
	free(ok);
	free(over);
}
END_TEST

START_TEST(cmdline_limit_bzimage)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct kernel_info ki;
	struct sv_error err = { 0 };
	char *ok = line_of(255), *over = line_of(256), *big = line_of(SV_CMDLINE_MAX);

	tb_hdr(img)->cmdline_size = 255;	/* an old kernel's limit */
	parse_ok(img, len, &ki);
	ck_assert_int_eq(boot__check_cmdline(ok, &ki, &err), 0);
	ck_assert_int_eq(boot__check_cmdline(over, &ki, &err), -E2BIG);
	ck_assert_has(err.msg, "at most 255");
	/* A kernel claiming more than we support is held to our limit. */
	tb_hdr(img)->cmdline_size = 65535;
	parse_ok(img, len, &ki);
	ck_assert_int_eq(boot__check_cmdline(big, &ki, &err), -E2BIG);
	/* cmdline_size 0 (not filled in) means the default. */
	tb_hdr(img)->cmdline_size = 0;
	parse_ok(img, len, &ki);
	ck_assert_int_eq(boot__check_cmdline(over, &ki, &err), 0);
	ck_assert_int_eq(boot__check_cmdline(big, &ki, &err), -E2BIG);
	free(ok);
	free(over);
	free(big);
	free(img);
}
END_TEST

/* -------------------------------------------------------------- zero page */

START_TEST(params_bzimage)
{
	struct guest_mem m;
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };
	const struct boot_params *bp;
	const char *cl = "console=ttyS0 quiet";
	struct boot_e820_entry want[8], got;
	unsigned int n, i;

	tm_init(&m, MIB(64));
	parse_ok(img, len, &ki);
	ck_assert_int_eq(boot__load_kernel(&m, img, len, &ki, &bl, &err), 0);
	bl.initrd_addr = 0x3000000;
	bl.initrd_size = 0x123456;
	memset(m.host + BOOT_PARAMS_ADDR, 0x5a, sizeof(struct boot_params));
	ck_assert_int_eq(boot__write_params(&m, &ki, &bl, cl, &err), 0);
	bp = (const struct boot_params *)(m.host + BOOT_PARAMS_ADDR);

	/* The image's header comes through... */
	ck_assert_uint_eq(bp->hdr.header, 0x53726448);
	ck_assert_uint_eq(bp->hdr.version, 0x020f);
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xAA55);
	ck_assert_uint_eq(bp->hdr.init_size, TB_INIT_SIZE);
	ck_assert_uint_eq(bp->hdr.pref_address, TB_PREF_ADDR);
	ck_assert_uint_eq(bp->hdr.kernel_alignment, TB_KERNEL_ALIGN);
	ck_assert_uint_eq(bp->hdr.xloadflags, XLF_KERNEL_64);
	ck_assert_uint_eq(bp->hdr.setup_sects, TB_SETUP_SECTS);
	/* ...with the loader's fields filled in. */
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp->hdr.loadflags & LOADED_HIGH, LOADED_HIGH);
	ck_assert_uint_eq(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(bp->ext_cmd_line_ptr, 0);
	ck_assert_str_eq((const char *)m.host + BOOT_CMDLINE_ADDR, cl);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0x3000000);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0x123456);
	ck_assert_uint_eq(bp->ext_ramdisk_image, 0);
	ck_assert_uint_eq(bp->ext_ramdisk_size, 0);
	/* The rest of the page was cleared. */
	ck_assert_uint_eq(bp->acpi_rsdp_addr, 0);
	ck_assert_uint_eq(bp->hdr.setup_data, 0);
	ck_assert_uint_eq(bp->eddbuf_entries, 0);
	/* e820 as boot__e820 builds it. */
	n = boot__e820(&m, want, 8);
	ck_assert_uint_eq(bp->e820_entries, n);
	for (i = 0; i < n; i++) {
		memcpy(&got, (const uint8_t *)bp + 0x2d0 + i * sizeof(got), sizeof(got));
		ck_assert_uint_eq(got.addr, want[i].addr);
		ck_assert_uint_eq(got.size, want[i].size);
		ck_assert_uint_eq(got.type, want[i].type);
	}
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(params_elf_no_initrd)
{
	struct guest_mem m;
	uint8_t *img = te_make_elf();
	struct kernel_info ki;
	struct boot_layout bl;
	struct sv_error err = { 0 };
	const struct boot_params *bp;

	tm_init(&m, MIB(64));
	parse_ok(img, TE_LEN, &ki);
	ck_assert_int_eq(boot__load_kernel(&m, img, TE_LEN, &ki, &bl, &err), 0);
	ck_assert_int_eq(boot__write_params(&m, &ki, &bl, "", &err), 0);
	bp = (const struct boot_params *)(m.host + BOOT_PARAMS_ADDR);
	/* An ELF kernel has no header: the loader makes one up. */
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xAA55);
	ck_assert_uint_eq(bp->hdr.header, 0x53726448);
	ck_assert_uint_ge(bp->hdr.version, 0x020c);
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(m.host[BOOT_CMDLINE_ADDR], 0);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0);
	ck_assert_uint_eq(bp->e820_entries, 3);
	guest_mem__exit(&m);
	free(img);
}
END_TEST

START_TEST(params_initrd_above_4g)
{
	struct guest_mem m;
	struct kernel_info ki = { .kind = KERNEL_ELF };
	struct boot_layout bl = { .initrd_addr = 0x123456000ULL, .initrd_size = 0x100001000ULL };
	struct sv_error err = { 0 };
	const struct boot_params *bp;

	tm_init(&m, MIB(64));
	ck_assert_int_eq(boot__write_params(&m, &ki, &bl, "x", &err), 0);
	bp = (const struct boot_params *)(m.host + BOOT_PARAMS_ADDR);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0x23456000);
	ck_assert_uint_eq(bp->ext_ramdisk_image, 1);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0x1000);
	ck_assert_uint_eq(bp->ext_ramdisk_size, 1);
	guest_mem__exit(&m);
}
END_TEST

START_TEST(params_cmdline_too_long)
{
	struct guest_mem m;
	struct kernel_info ki = { .kind = KERNEL_ELF };
	struct boot_layout bl = { 0 };
	struct sv_error err = { 0 };
	char *over = line_of(SV_CMDLINE_MAX);

	tm_init(&m, MIB(64));
	memset(m.host + BOOT_PARAMS_ADDR, 0x5a, 16);
	ck_assert_int_eq(boot__write_params(&m, &ki, &bl, over, &err), -E2BIG);
	/* Nothing was written. */
	ck_assert_uint_eq(m.host[BOOT_PARAMS_ADDR], 0x5a);
	ck_assert_uint_eq(m.host[BOOT_CMDLINE_ADDR], 0);
	guest_mem__exit(&m);
	free(over);
}
END_TEST

Suite *boot_layout_suite(void)
{
	Suite *s = suite_create("boot_layout");
	TCase *load = tcase_create("load");
	TCase *initrd = tcase_create("initrd");
	TCase *e820 = tcase_create("e820");
	TCase *cmd = tcase_create("cmdline");
	TCase *params = tcase_create("params");

	tcase_add_test(load, load_bzimage);
	tcase_add_test(load, load_bzimage_guest_too_small);
	tcase_add_test(load, load_bzimage_misaligned);
	tcase_add_test(load, load_bzimage_huge_pref_address);
	tcase_add_test(load, load_elf);
	tcase_add_test(load, load_elf_entry_outside);
	tcase_add_test(load, load_elf_below_1m);
	tcase_add_test(load, load_elf_too_small);
	suite_add_tcase(s, load);

	tcase_add_test(initrd, initrd_at_top);
	tcase_add_test(initrd, initrd_addr_max);
	tcase_add_test(initrd, initrd_overlaps_kernel);
	tcase_add_test(initrd, initrd_bigger_than_memory);
	tcase_add_test(initrd, initrd_large_guest_stays_low);
	suite_add_tcase(s, initrd);

	tcase_add_test(e820, e820_small);
	tcase_add_test(e820, e820_above_hole);
	tcase_add_test(e820, e820_exactly_hole);
	suite_add_tcase(s, e820);

	tcase_add_test(cmd, cmdline_limit_elf);
	tcase_add_test(cmd, cmdline_limit_bzimage);
	suite_add_tcase(s, cmd);

	tcase_add_test(params, params_bzimage);
	tcase_add_test(params, params_elf_no_initrd);
	tcase_add_test(params, params_initrd_above_4g);
	tcase_add_test(params, params_cmdline_too_long);
	suite_add_tcase(s, params);
	return s;
}
