/* SPDX-License-Identifier: MIT */
/* boot.c: recognising and checking bzImage and ELF vmlinux images. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "suites.h"

/* Parses img as a bzImage and expects -ENOEXEC with a message naming `why`. */
static void expect_bz_fail(const uint8_t *img, size_t len, const char *why)
{
	struct bzimage_info bz;
	struct sv_error err = { 0 };
	int r = boot__parse_bzimage(img, len, &bz, &err);

	ck_assert_int_eq(r, -ENOEXEC);
	ck_assert_int_eq(err.code, -ENOEXEC);
	ck_assert_has(err.msg, why);
}

static void expect_elf_fail(const uint8_t *img, size_t len, const char *why)
{
	struct elf_info elf;
	struct sv_error err = { 0 };
	int r = boot__parse_elf(img, len, &elf, &err);

	ck_assert_int_eq(r, -ENOEXEC);
	ck_assert_int_eq(err.code, -ENOEXEC);
	ck_assert_has(err.msg, "ELF");
	ck_assert_has(err.msg, why);
}

/* ---------------------------------------------------------------- bzImage */

START_TEST(bz_valid)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct bzimage_info bz;
	struct sv_error err = { 0 };

	ck_assert_int_eq(boot__parse_bzimage(img, len, &bz, &err), 0);
	ck_assert_uint_eq(bz.setup_len, TB_SETUP_LEN);
	ck_assert_uint_eq(bz.payload_len, TB_PAYLOAD_LEN);
	ck_assert_uint_eq(bz.hdr_len, sizeof(struct setup_header));
	ck_assert_uint_eq(bz.hdr.version, 0x020f);
	ck_assert_uint_eq(bz.hdr.init_size, TB_INIT_SIZE);
	ck_assert_uint_eq(bz.hdr.pref_address, TB_PREF_ADDR);
	ck_assert_uint_eq(bz.hdr.header, 0x53726448);
	free(img);
}
END_TEST

START_TEST(bz_setup_sects_zero_means_four)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);
	struct bzimage_info bz;

	tb_hdr(img)->setup_sects = 0;
	ck_assert_int_eq(boot__parse_bzimage(img, len, &bz, NULL), 0);
	ck_assert_uint_eq(bz.setup_len, 5 * 512);
	free(img);
}
END_TEST

START_TEST(bz_short_header_fields_read_as_zero)
{
	/* A header that ends right after boot_flag (jump offset 0) has no version at all. */
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	img[0x201] = 0;
	expect_bz_fail(img, len, "too old");
	free(img);
}
END_TEST

START_TEST(bz_too_short)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	expect_bz_fail(img, 0x100, "too short");
	expect_bz_fail(img, 0x24f, "too short");
	expect_bz_fail(img, 0, "too short");
	free(img);
}
END_TEST

START_TEST(bz_no_hdrs)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	memcpy(img + 0x202, "HdrX", 4);
	expect_bz_fail(img, len, "HdrS");
	free(img);
}
END_TEST

START_TEST(bz_bad_boot_flag)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	tb_hdr(img)->boot_flag = 0x55AA;
	expect_bz_fail(img, len, "boot_flag");
	free(img);
}
END_TEST

START_TEST(bz_old_version)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	tb_hdr(img)->version = 0x020b;
	expect_bz_fail(img, len, "2.11 is too old");
	/* 2.12 is the oldest protocol with a 64-bit entry point: accepted. */
	tb_hdr(img)->version = 0x020c;
	ck_assert_int_eq(boot__parse_bzimage(img, len, &(struct bzimage_info){ 0 }, NULL), 0);
	free(img);
}
END_TEST

START_TEST(bz_no_64bit_entry)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	tb_hdr(img)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	expect_bz_fail(img, len, "64-bit");
	free(img);
}
END_TEST

START_TEST(bz_not_loaded_high)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	tb_hdr(img)->loadflags = 0;
	expect_bz_fail(img, len, "loadable high");
	free(img);
}
END_TEST

START_TEST(bz_truncated_payload)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	/* The header promises one paragraph more than the file holds. */
	tb_hdr(img)->syssize = TB_PAYLOAD_LEN / 16 + 1;
	expect_bz_fail(img, len, "truncated");
	/* Same header, file cut short by one byte. */
	tb_hdr(img)->syssize = TB_PAYLOAD_LEN / 16;
	expect_bz_fail(img, len - 1, "shorter than its header");
	free(img);
}
END_TEST

START_TEST(bz_setup_sects_past_end)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	tb_hdr(img)->setup_sects = 200;		/* 100 KiB of setup in a 66 KiB file */
	expect_bz_fail(img, len, "setup sectors run past the end");
	/* Setup exactly filling the file leaves no kernel: refused too. */
	tb_hdr(img)->setup_sects = TB_SETUP_SECTS;
	expect_bz_fail(img, TB_SETUP_LEN, "setup sectors run past the end");
	free(img);
}
END_TEST

START_TEST(bz_init_size_too_small)
{
	size_t len;
	uint8_t *img = tb_make_bzimage(&len);

	tb_hdr(img)->init_size = TB_PAYLOAD_LEN - 1;
	expect_bz_fail(img, len, "init_size");
	tb_hdr(img)->init_size = 0;
	expect_bz_fail(img, len, "init_size");
	tb_hdr(img)->init_size = TB_PAYLOAD_LEN;
	ck_assert_int_eq(boot__parse_bzimage(img, len, &(struct bzimage_info){ 0 }, NULL), 0);
	free(img);
}
END_TEST

/*
 * A file just long enough to pass the length check (0x250 bytes) whose jump
 * offset claims the longest possible header (ending at 0x26c). The parser
 * must not read the header past the end of the buffer. The buffer sits right
 * before an inaccessible page, so an over-read faults (the forked test then
 * errors); under CK_FORK=no (valgrind) a heap buffer is used instead, and
 * valgrind reports the over-read.
 */
START_TEST(bz_header_past_end_of_short_file)
{
	const size_t n = 0x250;
	const char *fork_env = getenv("CK_FORK");
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *area = NULL, *img;
	struct bzimage_info bz;
	struct sv_error err = { 0 };
	int r;

	if (fork_env && !strcmp(fork_env, "no")) {
		img = malloc(n);
		ck_assert_ptr_nonnull(img);
	} else {
		area = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ck_assert_ptr_ne(area, MAP_FAILED);
		ck_assert_int_eq(mprotect(area + pg, (size_t)pg, PROT_NONE), 0);
		img = area + pg - n;
	}
	memset(img, 0, n);
	memcpy(img + 0x202, "HdrS", 4);
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xAA;
	img[0x200] = 0xEB;
	img[0x201] = 0xff;
	img[0x206] = 0x0f;
	img[0x207] = 0x02;
	r = boot__parse_bzimage(img, n, &bz, &err);
	/* Reaching here without a fault is the point; the image is unusable either way. */
	ck_assert_int_eq(r, -ENOEXEC);
	if (area)
		munmap(area, (size_t)pg * 2);
	else
		free(img);
}
END_TEST

/* -------------------------------------------------------------------- ELF */

static Elf64_Ehdr *te_ehdr(uint8_t *img)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *te_load_phdr(uint8_t *img)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + 1;
}

START_TEST(elf_valid)
{
	uint8_t *img = te_make_elf();
	struct elf_info elf;
	struct sv_error err = { 0 };

	ck_assert_int_eq(boot__parse_elf(img, TE_LEN, &elf, &err), 0);
	ck_assert_uint_eq(elf.nseg, 1);		/* the PT_NOTE is skipped */
	ck_assert_uint_eq(elf.entry, TE_ENTRY);
	ck_assert_uint_eq(elf.seg[0].paddr, TE_SEG_PADDR);	/* physical, not virtual */
	ck_assert_uint_eq(elf.seg[0].offset, TE_SEG_OFFSET);
	ck_assert_uint_eq(elf.seg[0].filesz, TE_SEG_FILESZ);
	ck_assert_uint_eq(elf.seg[0].memsz, TE_SEG_MEMSZ);
	free(img);
}
END_TEST

START_TEST(elf_too_short)
{
	uint8_t *img = te_make_elf();

	expect_elf_fail(img, sizeof(Elf64_Ehdr) - 1, "too short");
	free(img);
}
END_TEST

START_TEST(elf_bad_magic)
{
	uint8_t *img = te_make_elf();

	img[1] = 'e';
	expect_elf_fail(img, TE_LEN, "magic");
	free(img);
}
END_TEST

START_TEST(elf_32bit)
{
	uint8_t *img = te_make_elf();

	img[EI_CLASS] = ELFCLASS32;
	expect_elf_fail(img, TE_LEN, "64-bit");
	free(img);
}
END_TEST

START_TEST(elf_big_endian)
{
	uint8_t *img = te_make_elf();

	img[EI_DATA] = ELFDATA2MSB;
	expect_elf_fail(img, TE_LEN, "little-endian");
	free(img);
}
END_TEST

START_TEST(elf_wrong_machine)
{
	uint8_t *img = te_make_elf();

	te_ehdr(img)->e_machine = EM_AARCH64;
	expect_elf_fail(img, TE_LEN, "x86-64");
	free(img);
}
END_TEST

START_TEST(elf_not_executable)
{
	uint8_t *img = te_make_elf();

	te_ehdr(img)->e_type = ET_DYN;
	expect_elf_fail(img, TE_LEN, "executable");
	free(img);
}
END_TEST

START_TEST(elf_no_phdrs)
{
	uint8_t *img = te_make_elf();

	te_ehdr(img)->e_phnum = 0;
	expect_elf_fail(img, TE_LEN, "no program headers");
	te_ehdr(img)->e_phnum = 2;
	te_ehdr(img)->e_phentsize = 32;
	expect_elf_fail(img, TE_LEN, "no program headers");
	free(img);
}
END_TEST

START_TEST(elf_phdrs_past_end)
{
	uint8_t *img = te_make_elf();

	te_ehdr(img)->e_phoff = TE_LEN - sizeof(Elf64_Phdr);	/* second one runs off */
	expect_elf_fail(img, TE_LEN, "program headers run past the end");
	te_ehdr(img)->e_phoff = UINT64_MAX - 8;
	expect_elf_fail(img, TE_LEN, "program headers run past the end");
	te_ehdr(img)->e_phoff = sizeof(Elf64_Ehdr);
	te_ehdr(img)->e_phnum = 0xffff;
	expect_elf_fail(img, TE_LEN, "program headers run past the end");
	free(img);
}
END_TEST

START_TEST(elf_segment_past_end)
{
	uint8_t *img = te_make_elf();

	/* The file is cut one byte short of the segment. */
	expect_elf_fail(img, TE_LEN - 1, "segment runs past the end");
	/* An offset near 2^64 must not wrap around the check. */
	te_load_phdr(img)->p_offset = UINT64_MAX - 0x10;
	expect_elf_fail(img, TE_LEN, "segment runs past the end");
	free(img);
}
END_TEST

START_TEST(elf_filesz_gt_memsz)
{
	uint8_t *img = te_make_elf();

	te_load_phdr(img)->p_memsz = TE_SEG_FILESZ - 1;
	expect_elf_fail(img, TE_LEN, "file size exceeds its memory size");
	free(img);
}
END_TEST

START_TEST(elf_no_load_segments)
{
	uint8_t *img = te_make_elf();

	te_load_phdr(img)->p_type = PT_GNU_STACK;
	expect_elf_fail(img, TE_LEN, "no loadable segments");
	/* A PT_LOAD of zero size loads nothing either. */
	te_load_phdr(img)->p_type = PT_LOAD;
	te_load_phdr(img)->p_memsz = 0;
	te_load_phdr(img)->p_filesz = 0;
	expect_elf_fail(img, TE_LEN, "no loadable segments");
	free(img);
}
END_TEST

START_TEST(elf_address_wraps)
{
	uint8_t *img = te_make_elf();

	te_load_phdr(img)->p_paddr = UINT64_MAX - 0x100;
	expect_elf_fail(img, TE_LEN, "wraps");
	free(img);
}
END_TEST

START_TEST(elf_too_many_segments)
{
	const unsigned int n = ELF_MAX_SEGMENTS + 1;
	size_t len = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr) + 0x1000;
	uint8_t *img = calloc(1, len);
	uint8_t *base = te_make_elf();
	unsigned int i;

	ck_assert_ptr_nonnull(img);
	memcpy(img, base, sizeof(Elf64_Ehdr));
	te_ehdr(img)->e_phnum = (uint16_t)n;
	for (i = 0; i < n; i++) {
		Elf64_Phdr ph = { .p_type = PT_LOAD, .p_offset = 0, .p_filesz = 0x10,
				  .p_memsz = 0x10, .p_paddr = TE_SEG_PADDR + i * 0x1000ULL };

		memcpy(img + sizeof(Elf64_Ehdr) + i * sizeof(ph), &ph, sizeof(ph));
	}
	expect_elf_fail(img, len, "too many");
	/* One fewer is fine. */
	te_ehdr(img)->e_phnum = ELF_MAX_SEGMENTS;
	ck_assert_int_eq(boot__parse_elf(img, len, &(struct elf_info){ 0 }, NULL), 0);
	free(base);
	free(img);
}
END_TEST

/* --------------------------------------------------------------- dispatch */

START_TEST(dispatch)
{
	size_t bzlen;
	uint8_t *bz = tb_make_bzimage(&bzlen);
	uint8_t *elf = te_make_elf();
	uint8_t junk[4096];
	struct kernel_info ki;
	struct sv_error err = { 0 };
	size_t i;

	ck_assert_int_eq(boot__parse_kernel(bz, bzlen, &ki, &err), 0);
	ck_assert_int_eq(ki.kind, KERNEL_BZIMAGE);
	ck_assert_uint_eq(ki.bz.payload_len, TB_PAYLOAD_LEN);

	ck_assert_int_eq(boot__parse_kernel(elf, TE_LEN, &ki, &err), 0);
	ck_assert_int_eq(ki.kind, KERNEL_ELF);
	ck_assert_uint_eq(ki.elf.entry, TE_ENTRY);

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = tb_pattern(i * 13);
	ck_assert_int_eq(boot__parse_kernel(junk, sizeof(junk), &ki, &err), -ENOEXEC);
	ck_assert_has(err.msg, "neither a bzImage");
	ck_assert_int_eq(boot__parse_kernel(junk, 0, &ki, &err), -ENOEXEC);
	ck_assert_has(err.msg, "neither");

	/* The dispatcher passes the parser's own verdict through. */
	elf[EI_CLASS] = ELFCLASS32;
	ck_assert_int_eq(boot__parse_kernel(elf, TE_LEN, &ki, &err), -ENOEXEC);
	ck_assert_has(err.msg, "ELF");
	tb_hdr(bz)->version = 0x0200;
	ck_assert_int_eq(boot__parse_kernel(bz, bzlen, &ki, &err), -ENOEXEC);
	ck_assert_has(err.msg, "too old");
	free(bz);
	free(elf);
}
END_TEST

Suite *boot_parse_suite(void)
{
	Suite *s = suite_create("boot_parse");
	TCase *bz = tcase_create("bzimage");
	TCase *elf = tcase_create("elf");
	TCase *d = tcase_create("dispatch");

	tcase_add_test(bz, bz_valid);
	tcase_add_test(bz, bz_setup_sects_zero_means_four);
	tcase_add_test(bz, bz_short_header_fields_read_as_zero);
	tcase_add_test(bz, bz_too_short);
	tcase_add_test(bz, bz_no_hdrs);
	tcase_add_test(bz, bz_bad_boot_flag);
	tcase_add_test(bz, bz_old_version);
	tcase_add_test(bz, bz_no_64bit_entry);
	tcase_add_test(bz, bz_not_loaded_high);
	tcase_add_test(bz, bz_truncated_payload);
	tcase_add_test(bz, bz_setup_sects_past_end);
	tcase_add_test(bz, bz_init_size_too_small);
	tcase_add_test(bz, bz_header_past_end_of_short_file);
	suite_add_tcase(s, bz);

	tcase_add_test(elf, elf_valid);
	tcase_add_test(elf, elf_too_short);
	tcase_add_test(elf, elf_bad_magic);
	tcase_add_test(elf, elf_32bit);
	tcase_add_test(elf, elf_big_endian);
	tcase_add_test(elf, elf_wrong_machine);
	tcase_add_test(elf, elf_not_executable);
	tcase_add_test(elf, elf_no_phdrs);
	tcase_add_test(elf, elf_phdrs_past_end);
	tcase_add_test(elf, elf_segment_past_end);
	tcase_add_test(elf, elf_filesz_gt_memsz);
	tcase_add_test(elf, elf_no_load_segments);
	tcase_add_test(elf, elf_address_wraps);
	tcase_add_test(elf, elf_too_many_segments);
	suite_add_tcase(s, elf);

	tcase_add_test(d, dispatch);
	suite_add_tcase(s, d);
	return s;
}
