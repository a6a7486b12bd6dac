/* SPDX-License-Identifier: MIT */
/*
 * The unit-test binary: every .c file in tests/unit is linked into one program.
 * Each test file exports one Suite constructor; main.c runs them all.
 * Helpers shared between files (hand-built kernel images, guest memory) are
 * declared here too, so -Wmissing-prototypes stays happy.
 */
#ifndef SV_TEST_SUITES_H
#define SV_TEST_SUITES_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "boot.h"
#include "guest_mem.h"

Suite *boot_parse_suite(void);
Suite *boot_layout_suite(void);
Suite *guest_mem_suite(void);
Suite *x86_suite(void);
Suite *mptable_suite(void);
Suite *iobus_suite(void);
Suite *uart8250_suite(void);
Suite *parse_suite(void);
Suite *virtio_blk_suite(void);
Suite *virtio_console_suite(void);
Suite *proto_suite(void);

/* ---- helpers (helpers.c) ---- */

/* The hand-built bzImage: setup_sects 4 (+ boot sector) then a patterned payload. */
#define TB_SETUP_SECTS 4u
#define TB_SETUP_LEN ((TB_SETUP_SECTS + 1u) * 512u)
#define TB_PAYLOAD_LEN 0x10000u		/* 64 KiB, a multiple of 16 */
#define TB_INIT_SIZE 0x100000u		/* 1 MiB of decompression room */
#define TB_PREF_ADDR 0x1000000ULL	/* 16 MiB, like LOAD_PHYSICAL_ADDR */
#define TB_KERNEL_ALIGN 0x200000u

/* Returns a malloc'd valid bzImage of *len bytes (TB_SETUP_LEN + TB_PAYLOAD_LEN). */
uint8_t *tb_make_bzimage(size_t *len);
/* The setup header inside an image built above (unaligned: access members directly). */
struct setup_header *tb_hdr(uint8_t *img);

/* The hand-built ELF vmlinux: ehdr, 2 phdrs (PT_NOTE + PT_LOAD), then one segment. */
#define TE_SEG_OFFSET 0x1000u
#define TE_SEG_FILESZ 0x2000u
#define TE_SEG_MEMSZ 0x5000u		/* 0x3000 bytes of bss */
#define TE_SEG_PADDR 0x1000000ULL
#define TE_ENTRY (TE_SEG_PADDR + 0x100)
#define TE_LEN (TE_SEG_OFFSET + TE_SEG_FILESZ)

/* Returns a malloc'd valid ELF64 x86-64 vmlinux of TE_LEN bytes. */
uint8_t *te_make_elf(void);

/* Byte pattern used for payloads, so copies can be checked at any offset. */
uint8_t tb_pattern(size_t i);

/* guest_mem__init that fails the test on error. */
void tm_init(struct guest_mem *m, uint64_t size);

/* Asserts that s contains needle, with a readable failure message. */
#define ck_assert_has(s, needle) \
	ck_assert_msg(strstr((s), (needle)) != NULL, "'%s' does not mention '%s'", (s), (needle))

#endif
