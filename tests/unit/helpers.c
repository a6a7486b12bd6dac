/* SPDX-License-Identifier: MIT */
/* Hand-built kernel images and small conveniences shared by the unit tests. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

uint8_t tb_pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) + 1);
}

struct setup_header *tb_hdr(uint8_t *img)
{
	return (struct setup_header *)(img + 0x1f1);
}

uint8_t *tb_make_bzimage(size_t *len)
{
	size_t n = TB_SETUP_LEN + TB_PAYLOAD_LEN, i;
	uint8_t *img = calloc(1, n);
	struct setup_header *h;

	ck_assert_ptr_nonnull(img);
	h = tb_hdr(img);
	h->setup_sects = TB_SETUP_SECTS;
	h->syssize = TB_PAYLOAD_LEN / 16;
	h->boot_flag = 0xAA55;
	/* "jmp short" over the header: byte 0x201 is the offset, header ends at 0x26c. */
	h->jump = (uint16_t)(0xEB | (0x6a << 8));
	memcpy(img + 0x202, "HdrS", 4);
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = TB_KERNEL_ALIGN;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 2047;
	h->pref_address = TB_PREF_ADDR;
	h->init_size = TB_INIT_SIZE;
	for (i = 0; i < TB_PAYLOAD_LEN; i++)
		img[TB_SETUP_LEN + i] = tb_pattern(i);
	*len = n;
	return img;
}

uint8_t *te_make_elf(void)
{
	uint8_t *img = calloc(1, TE_LEN);
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	size_t i;

	ck_assert_ptr_nonnull(img);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = TE_ENTRY;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	memset(ph, 0, sizeof(ph));
	/* A non-loadable header first: the parser must skip it. */
	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = 0x200;
	ph[0].p_filesz = 0x10;
	ph[0].p_memsz = 0x10;
	ph[1].p_type = PT_LOAD;
	ph[1].p_flags = PF_R | PF_X;
	ph[1].p_offset = TE_SEG_OFFSET;
	ph[1].p_vaddr = 0xffffffff81000000ULL;
	ph[1].p_paddr = TE_SEG_PADDR;
	ph[1].p_filesz = TE_SEG_FILESZ;
	ph[1].p_memsz = TE_SEG_MEMSZ;
	ph[1].p_align = 0x200000;
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	for (i = 0; i < TE_SEG_FILESZ; i++)
		img[TE_SEG_OFFSET + i] = tb_pattern(i);
	return img;
}

void tm_init(struct guest_mem *m, uint64_t size)
{
	struct sv_error err = { 0 };
	int r = guest_mem__init(m, size, &err);

	ck_assert_msg(r == 0, "guest_mem__init(%llu): %d %s", (unsigned long long)size, r, err.msg);
	ck_assert_ptr_nonnull(m->host);
}
